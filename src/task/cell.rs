//! A task's one allocation: a header that its wakers share across threads, the waker of
//! whoever awaits its [`JoinHandle`](crate::JoinHandle), and its stage: the future (pinned in
//! place from spawn until dropped), then its output, in the same bytes. The task's waker
//! points at the header, so spawning allocates once and polling clones nothing.
//!
//! Two counts keep the allocation alive. `refs` counts the owners on the loop's thread (the
//! task's entry, its `JoinHandle`, a step in progress): when the last goes, the stage and the
//! joiner's waker are dropped there, as `!Send` values must be. `wakers` counts the wakers, which
//! may live on any thread, plus one for all the loop-side owners together: whoever takes it to
//! zero frees the memory, which by then holds only `Send` data.

#![allow(unsafe_code)] // the one module that type-erases tasks and wakers; see each SAFETY note

use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::{addr_of_mut, NonNull};
use std::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use crate::slab::Key;
use crate::task::join::JoinError;
use crate::task::join::Target;

/// The part of the allocation that wakers use. A wake on another thread reads only what
/// never changes after `TaskRef::new` (`main`, `key`, `remote`, `vtable`) and the atomics
/// (`wakers`, `remote_queued`); `refs` and `flags` change, and are the loop thread's alone.
#[repr(C)]
struct Header {
    wakers: AtomicU32,
    /// Set while a wake from another thread waits in the remote queue, so it is queued once.
    remote_queued: AtomicBool,
    refs: Cell<u8>,
    flags: Cell<u8>,
    /// The waker's target is the main future (`Target::Main`), not a task. Never changes: a
    /// wake from any thread reads it (a flag in `flags` would race with the loop's writes).
    main: bool,
    /// The task's key (or, with `main`, the main future's generation as an index).
    key: Key,
    /// Weak, because the remote queue holds wakers: a strong reference back would be a cycle.
    remote: Weak<Remote>,
    vtable: &'static VTable,
}

/// The future is being polled or dropped.
const BUSY: u8 = 1;
/// The task has finished: its output (or error) is in the stage, or was taken.
const DONE: u8 = 1 << 2;
/// The `JoinHandle` was dropped.
const DETACHED: u8 = 1 << 3;
/// A cancel was asked for; the next step drops the future.
const CANCEL: u8 = 1 << 4;
/// The task's loop runs a reducing systematic search, which wants to see every look at the
/// task's completion (`runtime/footprint.rs`, `joined`). Set at spawn; the loop's schedule
/// never changes, so neither does this.
const OBSERVED: u8 = 1 << 5;

struct VTable {
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<()>,
    drop_future: unsafe fn(NonNull<Header>),
    /// Drops a finished task's output, if it is still there (nobody will take it).
    drop_output: unsafe fn(NonNull<Header>),
    fail: unsafe fn(NonNull<Header>, JoinError),
    /// Moves a finished task's result into `*out` (an `Option<Result<T, Box<JoinError>>>`).
    take_result: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops the stage (the loop-side owners are gone).
    drop_local: unsafe fn(NonNull<Header>),
    /// Frees the allocation (nothing points at it any more).
    dealloc: unsafe fn(NonNull<Header>),
}

/// What the task holds: its future, then its result. One at a time, in the same bytes.
enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, Box<JoinError>>),
    /// The future was dropped and the result not yet stored, or the result was taken.
    Consumed,
}

/// The part of the allocation that does not depend on the future's type. `repr(C)` puts the
/// header first, so a pointer to it is a pointer to the header.
#[repr(C)]
struct Prefix {
    header: Header,
    /// The waker of whoever awaits the `JoinHandle`.
    joiner: ManuallyDrop<Cell<Option<Waker>>>,
}

/// The allocation. `repr(C)` puts the prefix first.
#[repr(C)]
struct Alloc<F: Future> {
    prefix: Prefix,
    stage: ManuallyDrop<UnsafeCell<Stage<F>>>,
}

struct VTableOf<F>(PhantomData<F>);

impl<F: Future> VTableOf<F> {
    const VTABLE: VTable = VTable {
        poll: poll::<F>,
        drop_future: drop_future::<F>,
        drop_output: drop_output::<F>,
        fail: fail::<F>,
        take_result: take_result::<F>,
        drop_local: drop_local::<F>,
        dealloc: dealloc::<F>,
    };
}

// The functions below share one contract: `p` points to the header of a live `Alloc<F>` (for
// the `F` whose vtable holds them), and, except for `dealloc`, the caller is on the loop's
// thread and holds a loop-side reference.

/// # Safety
/// See above.
unsafe fn alloc<'a, F: Future>(p: NonNull<Header>) -> &'a Alloc<F> {
    // SAFETY: the header starts a live `Alloc<F>` (repr(C) twice).
    unsafe { p.cast::<Alloc<F>>().as_ref() }
}

/// Marks the stage in use for as long as it lives: the stage is never reached twice at once.
struct Busy<'a>(&'a Header);

impl<'a> Busy<'a> {
    #[inline]
    fn enter(header: &'a Header) -> Busy<'a> {
        assert!(
            !header.flag(BUSY),
            "simloop bug: a task's future was reached while it was being polled or dropped"
        );
        header.set_flag(BUSY, true);
        Busy(header)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.set_flag(BUSY, false);
    }
}

/// Stores the task's result (unless it finished already) and wakes whoever awaits it.
fn complete<F: Future>(a: &Alloc<F>, result: Result<F::Output, Box<JoinError>>) {
    let header = &a.prefix.header;
    if header.flag(DONE) {
        return;
    }
    {
        let _busy = Busy::enter(header);
        // SAFETY: `_busy` makes this the only reference to the stage while it lives.
        unsafe { *a.stage.get() = Stage::Finished(result) };
    }
    header.set_flag(DONE, true);
    if let Some(w) = a.prefix.joiner.take() {
        w.wake();
    }
}

/// # Safety
/// See above.
unsafe fn poll<F: Future>(p: NonNull<Header>, cx: &mut Context<'_>) -> Poll<()> {
    // SAFETY: per the contract.
    let a = unsafe { alloc::<F>(p) };
    let output = {
        let _busy = Busy::enter(&a.prefix.header);
        // SAFETY: `_busy` makes this the only reference to the stage while it lives.
        let stage = unsafe { &mut *a.stage.get() };
        let Stage::Running(future) = stage else {
            return Poll::Ready(());
        };
        // SAFETY: the future lives inside the allocation and is never moved out of it: it is
        // only dropped in place (below, `drop_future`, `drop_local`). So it stays at this
        // address until dropped, which is the pinning guarantee.
        let future = unsafe { Pin::new_unchecked(future) };
        match future.poll(cx) {
            Poll::Ready(output) => {
                *stage = Stage::Consumed;
                output
            }
            Poll::Pending => return Poll::Pending,
        }
    };
    complete(a, Ok(output));
    Poll::Ready(())
}

/// # Safety
/// See above.
unsafe fn drop_future<F: Future>(p: NonNull<Header>) {
    // SAFETY: per the contract.
    let a = unsafe { alloc::<F>(p) };
    let _busy = Busy::enter(&a.prefix.header);
    // SAFETY: `_busy` makes this the only reference to the stage while it lives.
    let stage = unsafe { &mut *a.stage.get() };
    if let Stage::Running(_) = stage {
        // Assigning drops the future where it lies, as `Pin::set` does.
        *stage = Stage::Consumed;
    }
}

/// # Safety
/// See above.
unsafe fn drop_output<F: Future>(p: NonNull<Header>) {
    // SAFETY: per the contract.
    let a = unsafe { alloc::<F>(p) };
    let _busy = Busy::enter(&a.prefix.header);
    // SAFETY: `_busy` makes this the only reference to the stage while it lives.
    let stage = unsafe { &mut *a.stage.get() };
    if let Stage::Finished(_) = stage {
        // Moved out first, so that the stage is `Consumed` even if the output's `Drop` panics.
        let output = std::mem::replace(stage, Stage::Consumed);
        drop(output);
    }
}

/// # Safety
/// See above.
unsafe fn fail<F: Future>(p: NonNull<Header>, err: JoinError) {
    // SAFETY: per the contract.
    complete(unsafe { alloc::<F>(p) }, Err(Box::new(err)));
}

/// # Safety
/// See above; besides, `out` points to an `Option<Result<F::Output, Box<JoinError>>>`.
unsafe fn take_result<F: Future>(p: NonNull<Header>, out: *mut ()) {
    // SAFETY: per the contract.
    let a = unsafe { alloc::<F>(p) };
    let _busy = Busy::enter(&a.prefix.header);
    // SAFETY: `_busy` makes this the only reference to the stage while it lives.
    let stage = unsafe { &mut *a.stage.get() };
    if let Stage::Finished(_) = stage {
        let Stage::Finished(result) = std::mem::replace(stage, Stage::Consumed) else {
            unreachable!("matched just above");
        };
        // SAFETY: per this function's contract, `out` has this type.
        unsafe { *out.cast::<Option<Result<F::Output, Box<JoinError>>>>() = Some(result) };
    }
}

/// # Safety
/// See above; besides, no loop-side reference is left, and this is called once.
unsafe fn drop_local<F: Future>(p: NonNull<Header>) {
    let a = p.cast::<Alloc<F>>().as_ptr();
    // The stage's destructors are user code: should one panic, the joiner's waker is still
    // dropped, and the panic goes on once it is (the caller still frees the memory).
    // SAFETY: nothing else reaches the stage or the joiner's waker any more (no loop-side
    // reference is left, and wakers use only the header), and they are dropped only here.
    let stage = catch_unwind(AssertUnwindSafe(|| unsafe {
        ManuallyDrop::drop(&mut *addr_of_mut!((*a).stage));
    }));
    // SAFETY: as above.
    unsafe { ManuallyDrop::drop(&mut *addr_of_mut!((*a).prefix.joiner)) };
    if let Err(payload) = stage {
        resume_unwind(payload);
    }
}

/// # Safety
/// `p` points to the header of an `Alloc<F>` that nothing references any more, whose stage
/// and joiner were dropped. Any thread may call this.
unsafe fn dealloc<F: Future>(p: NonNull<Header>) {
    // SAFETY: the allocation came from `Box::new` in `TaskRef::new` with this type; the
    // `ManuallyDrop` fields were dropped already and are skipped, the header's fields are
    // `Send` and dropped here.
    drop(unsafe { Box::from_raw(p.cast::<Alloc<F>>().as_ptr()) });
}

impl Header {
    fn flag(&self, flag: u8) -> bool {
        self.flags.get() & flag != 0
    }

    fn set_flag(&self, flag: u8, on: bool) {
        let flags = self.flags.get();
        self.flags
            .set(if on { flags | flag } else { flags & !flag });
    }

    fn target(&self) -> Target {
        if self.main {
            Target::Main(self.key.index())
        } else {
            Target::Task(self.key)
        }
    }

    /// Drops one waker count; frees the allocation if it was the last reference of any kind.
    ///
    /// # Safety
    /// The caller owns one count of `wakers` (a waker, or the loop side's share) and gives it
    /// up.
    unsafe fn release(p: NonNull<Header>) {
        // SAFETY: the count we own keeps the header alive until the decrement.
        let h = unsafe { p.as_ref() };
        if h.wakers.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Everything other threads did with the allocation happens before it is freed.
        fence(Ordering::Acquire);
        let dealloc = h.vtable.dealloc;
        // SAFETY: that was the last reference; the loop-side share goes only after the join
        // state and the future were dropped (`TaskRef::drop`).
        unsafe { dealloc(p) };
    }

    /// Wakes the task of the header `p` points to.
    ///
    /// # Safety
    /// As the waker functions below. `p` (not a reference made from it) is what a queued
    /// clone keeps, since that clone may be the one to free the allocation.
    unsafe fn wake(p: *const ()) {
        // SAFETY: per the contract.
        let h = unsafe { &*p.cast::<Header>() };
        if crate::runtime::context::wake_local(&h.remote, h.target()) {
            return;
        }
        // SAFETY: per the contract.
        unsafe { Header::wake_remote(p) };
    }

    /// A wake from another thread, or from inside a borrow of the loop's state: through the
    /// remote queue. Out of line, which keeps the local wake's frame small.
    ///
    /// # Safety
    /// As `wake`.
    #[cold]
    #[inline(never)]
    unsafe fn wake_remote(p: *const ()) {
        // SAFETY: per the contract.
        let h = unsafe { &*p.cast::<Header>() };
        if h.remote_queued.swap(true, Ordering::AcqRel) {
            return;
        }
        match h.remote.upgrade() {
            Some(remote) => {
                // SAFETY: per the contract; the clone owns a count of its own.
                let waker = unsafe { Waker::from_raw(clone_waker(p)) };
                let mut q = remote.queue.lock().unwrap_or_else(|e| e.into_inner());
                q.push(waker);
                remote.pending.store(true, Ordering::Release);
            }
            // The loop is gone: the wake has nothing left to do.
            None => h.remote_queued.store(false, Ordering::Release),
        }
    }
}

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone_waker, wake_waker, wake_waker_by_ref, drop_waker);

// The waker functions share one contract: `p` points to the header of a live allocation, and
// the waker they are called through owns (or, for a borrowed waker, borrows from a
// `TaskRef`) a count that keeps it alive. They may run on any thread.

unsafe fn clone_waker(p: *const ()) -> RawWaker {
    // SAFETY: per the contract.
    let h = unsafe { &*p.cast::<Header>() };
    // Relaxed, as `Arc::clone`: the new waker is made from one that keeps the header alive.
    let old = h.wakers.fetch_add(1, Ordering::Relaxed);
    if old > i32::MAX as u32 {
        // As `Arc` does: a count this high means wakers are being leaked in a loop.
        std::process::abort();
    }
    RawWaker::new(p, &WAKER_VTABLE)
}

unsafe fn wake_waker(p: *const ()) {
    // SAFETY: per the contract; the waker is consumed, so its count is ours to give up.
    unsafe {
        wake_waker_by_ref(p);
        drop_waker(p);
    }
}

unsafe fn wake_waker_by_ref(p: *const ()) {
    // SAFETY: per the contract.
    unsafe { Header::wake(p) };
}

unsafe fn drop_waker(p: *const ()) {
    // SAFETY: per the contract; the waker being dropped owned a count.
    unsafe { Header::release(NonNull::new_unchecked(p.cast_mut().cast())) };
}

/// An owner of a task's allocation on the loop's thread (`!Send`): the task's entry, its
/// `JoinHandle` (through [`JoinRef`]), a step in progress.
pub(crate) struct TaskRef {
    ptr: NonNull<Header>,
}

impl TaskRef {
    /// Allocates a task that wakes `target`, with its join state empty. Returns the loop's
    /// reference and the join side's.
    pub(crate) fn new<F: Future + 'static>(
        target: Target,
        remote: &Arc<Remote>,
        future: Option<F>,
    ) -> (TaskRef, JoinRef<F::Output>) {
        let (main, key) = match target {
            Target::Task(key) => (false, key),
            Target::Main(gen) => (true, Key::from_index(gen)),
        };
        let stage = match future {
            Some(future) => Stage::Running(future),
            None => Stage::Consumed,
        };
        let alloc = Box::new(Alloc {
            prefix: Prefix {
                header: Header {
                    wakers: AtomicU32::new(1),
                    remote_queued: AtomicBool::new(false),
                    refs: Cell::new(2),
                    flags: Cell::new(0),
                    main,
                    key,
                    remote: Arc::downgrade(remote),
                    vtable: &VTableOf::<F>::VTABLE,
                },
                joiner: ManuallyDrop::new(Cell::new(None)),
            },
            stage: ManuallyDrop::new(UnsafeCell::new(stage)),
        });
        let ptr = NonNull::from(Box::leak(alloc)).cast::<Header>();
        (
            TaskRef { ptr },
            JoinRef {
                task: TaskRef { ptr },
                _output: PhantomData,
            },
        )
    }

    fn header(&self) -> &Header {
        // SAFETY: this reference keeps the allocation alive.
        unsafe { self.ptr.as_ref() }
    }

    /// Polls the future once. On completion the output goes to the join state and the future
    /// is dropped.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the vtable's contract: a live allocation, on the loop thread, referenced.
        unsafe { (self.header().vtable.poll)(self.ptr, cx) }
    }

    /// Drops the future in place (cancel, close, or after it panicked). Its destructors run.
    pub(crate) fn drop_future(&self) {
        // SAFETY: as in `poll`.
        unsafe { (self.header().vtable.drop_future)(self.ptr) }
    }

    /// Drops the output of a finished task that nobody will take (it is detached), so that
    /// its destructor runs as part of the task's last step, where a panic is caught.
    pub(crate) fn drop_output(&self) {
        // SAFETY: as in `poll`.
        unsafe { (self.header().vtable.drop_output)(self.ptr) }
    }

    /// Finishes the task with `err` and wakes whoever awaits it.
    pub(crate) fn fail(&self, err: JoinError) {
        // SAFETY: as in `poll`.
        unsafe { (self.header().vtable.fail)(self.ptr, err) }
    }

    /// True once the `JoinHandle` was dropped.
    pub(crate) fn is_detached(&self) -> bool {
        self.header().flag(DETACHED)
    }

    /// Starts loading the allocation into the cache, for a step about to need it: the header
    /// and the two cache lines after it, where the future's state begins. (A hint: lines
    /// past a small allocation cost a wasted load at most.)
    #[inline]
    pub(crate) fn prefetch(&self) {
        let p = self.ptr.as_ptr().cast::<u8>();
        crate::prefetch::prefetch(p);
        crate::prefetch::prefetch(p.wrapping_add(64));
        crate::prefetch::prefetch(p.wrapping_add(128));
    }

    /// True once a cancel was asked for.
    pub(crate) fn cancel_requested(&self) -> bool {
        self.header().flag(CANCEL)
    }

    pub(crate) fn request_cancel(&self) {
        self.header().set_flag(CANCEL, true);
    }

    /// The task's waker, borrowed from this reference: making it counts nothing; cloning it
    /// makes an owned waker (one count).
    pub(crate) fn waker(&self) -> BorrowedWaker<'_> {
        // SAFETY: the vtable's contract holds: the header is live for as long as `self`, which
        // the borrow outlives; the `ManuallyDrop` keeps the borrowed waker from giving up a
        // count it does not own.
        let waker =
            unsafe { Waker::from_raw(RawWaker::new(self.ptr.as_ptr().cast(), &WAKER_VTABLE)) };
        BorrowedWaker {
            waker: ManuallyDrop::new(waker),
            _task: PhantomData,
        }
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> Self {
        let refs = &self.header().refs;
        refs.set(
            refs.get()
                .checked_add(1)
                .expect("a task has at most a few owners"),
        );
        TaskRef { ptr: self.ptr }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        let refs = &self.header().refs;
        refs.set(refs.get() - 1);
        if refs.get() > 0 {
            return;
        }
        // Given up even if a destructor in the stage panics: the memory is freed all the same.
        struct Release(NonNull<Header>);
        impl Drop for Release {
            fn drop(&mut self) {
                // SAFETY: the loop side's waker count, given up once, after the stage.
                unsafe { Header::release(self.0) };
            }
        }
        let release = Release(self.ptr);
        // SAFETY: the last loop-side reference, on the loop's thread: the join state and the
        // future are dropped once, here; then (`release`) the loop side's waker count is given
        // up.
        unsafe { (self.header().vtable.drop_local)(self.ptr) };
        drop(release);
    }
}

/// A task's waker that borrows its count from a [`TaskRef`]: valid while the reference is.
pub(crate) struct BorrowedWaker<'a> {
    waker: ManuallyDrop<Waker>,
    _task: PhantomData<&'a TaskRef>,
}

impl Deref for BorrowedWaker<'_> {
    type Target = Waker;

    fn deref(&self) -> &Waker {
        &self.waker
    }
}

/// The join side's reference: a [`TaskRef`] that knows the output type.
pub(crate) struct JoinRef<T> {
    task: TaskRef,
    _output: PhantomData<T>,
}

impl<T> JoinRef<T> {
    fn header(&self) -> &Header {
        self.task.header()
    }

    /// True once the task has finished: completed, cancelled or panicked.
    pub(crate) fn is_done(&self) -> bool {
        self.header().flag(DONE)
    }

    /// The task's result, if it finished and the result was not taken yet.
    pub(crate) fn take_result(&self) -> Option<Result<T, Box<JoinError>>> {
        // Not done, the stage may be the future, perhaps being polled right now (a task that
        // awaits its own handle): leave it alone.
        if !self.is_done() {
            return None;
        }
        let mut out: Option<Result<T, Box<JoinError>>> = None;
        let task = &self.task;
        // SAFETY: made by `TaskRef::new` for a future whose output is `T`, so `take_result`
        // writes an `Option<Result<T, Box<JoinError>>>`; the contract's other terms hold as in
        // `TaskRef::poll`.
        unsafe {
            (task.header().vtable.take_result)(task.ptr, (&mut out as *mut Option<_>).cast())
        };
        out
    }

    /// Keeps `waker` to wake when the task finishes (in place of any kept before).
    pub(crate) fn set_joiner(&self, waker: Waker) {
        // SAFETY: the prefix is the first part of the allocation (repr(C)), alive while this
        // reference is; its `joiner` is only used on the loop's thread.
        let prefix = unsafe { self.task.ptr.cast::<Prefix>().as_ref() };
        prefix.joiner.set(Some(waker));
    }

    /// Marks the task detached: nobody will take its result.
    pub(crate) fn detach(&self) {
        self.header().set_flag(DETACHED, true);
    }

    /// Marks the task as one whose completion a reducing search observes.
    pub(crate) fn set_observed(&self) {
        self.header().set_flag(OBSERVED, true);
    }

    /// Whether a look at the task's completion must be reported (`set_observed`).
    #[inline]
    pub(crate) fn observed(&self) -> bool {
        self.header().flag(OBSERVED)
    }
}

/// Wakes that arrived from other threads, taken in at the start of the next iteration. The
/// queue holds wakers, whose headers point back at it weakly, so a wake after `close` that
/// no iteration takes in is freed with the loop.
#[derive(Debug, Default)]
pub(crate) struct Remote {
    queue: Mutex<Vec<Waker>>,
    pending: AtomicBool,
}

impl Remote {
    /// Whether wakes have arrived since the last `take`.
    #[inline]
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// The wakes received since the last call, in arrival order.
    #[cold]
    pub(crate) fn take(&self) -> Vec<Target> {
        let wakers = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            self.pending.store(false, Ordering::Relaxed);
            std::mem::take(&mut *q)
        };
        wakers
            .into_iter()
            .map(|w| {
                // SAFETY: only `Header::wake` queues wakers, each a task waker that
                // owns a count, so the header is live.
                let h = unsafe { &*w.data().cast::<Header>() };
                h.remote_queued.store(false, Ordering::Release);
                h.target()
            })
            .collect()
    }
}

/// For stall reports: who holds a task's wakers.
impl TaskRef {
    /// How many wakers of the task are alive (owned clones; the borrowed waker of a poll
    /// counts nothing).
    pub(crate) fn wakers_held(&self) -> u32 {
        self.header().wakers.load(Ordering::Relaxed) - 1
    }

    /// The data pointer of the waker kept to wake whoever awaits the task's `JoinHandle`.
    pub(crate) fn joiner_data(&self) -> Option<*const ()> {
        // SAFETY: as in `JoinRef::set_joiner`: the prefix starts the allocation, alive while
        // this reference is, and its `joiner` is only used on the loop's thread.
        let prefix = unsafe { self.ptr.cast::<Prefix>().as_ref() };
        let joiner = prefix.joiner.take();
        let data = joiner.as_ref().map(Waker::data);
        prefix.joiner.set(joiner);
        data
    }
}
