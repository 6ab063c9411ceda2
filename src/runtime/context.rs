//! The loop current on this thread, and the free functions that act on it.
//!
//! This is the crate's only thread-local state: which loop is running (or entered) on this
//! thread. It is set for the length of a run call or `EventLoop::enter` and restored after,
//! so it never outlives the loop that set it.
#![allow(unsafe_code)] // the wake path's read of the current core; see the SAFETY note

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::Weak;
use std::time::Duration;

use crate::runtime::core::Core;
use crate::task::cell::Remote;
use crate::task::join::Target;
use crate::{CallbackHandle, Handle, Instant, JoinHandle, TimerHandle};

thread_local! {
    static CURRENT: RefCell<Current> = const { RefCell::new(Current(None)) };
    /// `CURRENT`'s core as a bare pointer (null when none), for the wake path: a wake reads
    /// it with one load, where `CURRENT` costs a registration check, a `RefCell` borrow and
    /// an `Option` (about an eighth of the wake's instructions in W3's ping-pong). Set and cleared
    /// with `CURRENT`, so it points to the core `CURRENT` keeps alive.
    static CURRENT_PTR: Cell<*const Core> = const { Cell::new(std::ptr::null()) };
    static RUNNING: Cell<bool> = const { Cell::new(false) };
}

/// The current loop. Whenever it changes or goes, `CURRENT_PTR` follows.
struct Current(Option<Rc<Core>>);

impl Drop for Current {
    fn drop(&mut self) {
        // The thread is exiting with a loop still current: the pointer must not outlive it.
        CURRENT_PTR.with(|p| p.set(std::ptr::null()));
    }
}

/// Makes `core` (or no loop) current in both thread-locals, returning what was current.
fn set_current(core: Option<Rc<Core>>) -> Option<Rc<Core>> {
    let ptr = core.as_ref().map_or(std::ptr::null(), Rc::as_ptr);
    CURRENT.with(|c| {
        let previous = std::mem::replace(&mut c.borrow_mut().0, core);
        CURRENT_PTR.with(|p| p.set(ptr));
        previous
    })
}

/// Makes `core` current until dropped, restoring what was current before.
pub(crate) struct EnterGuard {
    previous: Option<Rc<Core>>,
}

impl EnterGuard {
    pub(crate) fn new(core: &Rc<Core>) -> EnterGuard {
        EnterGuard {
            previous: set_current(Some(core.clone())),
        }
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // At thread exit `CURRENT` may be gone already; then so is every loop it held.
        if CURRENT.try_with(|_| ()).is_ok() {
            set_current(previous);
        }
    }
}

/// Marks a run call in progress on this thread; `None` if one already is.
pub(crate) struct RunGuard {
    _enter: EnterGuard,
}

impl RunGuard {
    pub(crate) fn enter(core: &Rc<Core>) -> Option<RunGuard> {
        if RUNNING.with(|r| r.replace(true)) {
            return None;
        }
        Some(RunGuard {
            _enter: EnterGuard::new(core),
        })
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        let _ = RUNNING.try_with(|r| r.set(false));
    }
}

/// Queues `target` directly if its loop is current on this thread.
#[inline]
pub(crate) fn wake_local(remote: &Weak<Remote>, target: Target) -> bool {
    let core = CURRENT_PTR.with(Cell::get);
    if core.is_null() {
        return false;
    }
    // SAFETY: a non-null `CURRENT_PTR` is the core that `CURRENT`, on this thread, holds an
    // `Rc` of (`set_current` sets both at once, and `Current::drop` clears the pointer
    // before that `Rc` goes at thread exit), so it is alive; `Core` is only ever shared.
    let core = unsafe { &*core };
    Weak::ptr_eq(&core.remote_weak, remote) && core.wake(target)
}

/// The core of the loop current on this thread (null when none): for comparing, not for
/// reading.
pub(crate) fn current_ptr() -> *const Core {
    CURRENT_PTR.try_with(Cell::get).unwrap_or(std::ptr::null())
}

/// A `JoinHandle` of another loop's task #`task` is awaited, with `waker`, on the current
/// loop: noted for the stall report.
#[cold]
pub(crate) fn note_other_loop_join(waker: &std::task::Waker, task: crate::TaskId) {
    if let Some(core) = try_core() {
        core.note_other_loop_join(waker.data(), task);
    }
}

pub(crate) fn try_core() -> Option<Rc<Core>> {
    CURRENT.try_with(|c| c.borrow().0.clone()).ok().flatten()
}

#[track_caller]
pub(crate) fn core(what: &str) -> Rc<Core> {
    try_core().unwrap_or_else(|| {
        panic!(
            "simloop::{what} was called outside a simloop loop: call it from a callback or task \
             the loop runs, or wrap the call in EventLoop::enter(|| ...)"
        )
    })
}

/// A handle to the current loop, for the free function `what`, which the panic outside a
/// loop names.
#[track_caller]
fn handle(what: &str) -> Handle {
    Handle { core: core(what) }
}

/// A [`Handle`] to the loop running (or entered) on this thread.
///
/// # Panics
/// Outside a loop. [`try_current`] returns `None` instead.
#[track_caller]
pub fn current() -> Handle {
    handle("current()")
}

/// A [`Handle`] to the loop running (or entered) on this thread, if any.
pub fn try_current() -> Option<Handle> {
    try_core().map(|core| Handle { core })
}

/// The current loop's virtual time.
///
/// # Panics
/// Outside a loop.
#[track_caller]
pub fn now() -> Instant {
    core("now()").now()
}

/// Spawns a task on the current loop; see [`EventLoop::spawn`](crate::EventLoop::spawn).
///
/// # Panics
/// Outside a loop.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    core("spawn()").spawn(future, None, std::panic::Location::caller())
}

/// Spawns a named task on the current loop; the name appears in errors, traces and
/// `pending_tasks()`.
///
/// # Panics
/// Outside a loop.
#[track_caller]
pub fn spawn_named<F>(name: &str, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    core("spawn_named()").spawn(future, Some(name), std::panic::Location::caller())
}

/// Schedules `f` on the current loop; see [`EventLoop::call_soon`](crate::EventLoop::call_soon).
///
/// # Panics
/// Outside a loop.
#[track_caller]
pub fn call_soon(f: impl FnOnce() + 'static) -> CallbackHandle {
    handle("call_soon()").call_soon(f)
}

/// Schedules `f` after `delay` on the current loop; see
/// [`EventLoop::call_later`](crate::EventLoop::call_later).
///
/// # Panics
/// Outside a loop.
#[track_caller]
pub fn call_later(delay: Duration, f: impl FnOnce() + 'static) -> TimerHandle {
    handle("call_later()").call_later(delay, f)
}

/// Schedules `f` at `when` on the current loop; see
/// [`EventLoop::call_at`](crate::EventLoop::call_at).
///
/// # Panics
/// Outside a loop.
#[track_caller]
pub fn call_at(when: Instant, f: impl FnOnce() + 'static) -> TimerHandle {
    handle("call_at()").call_at(when, f)
}

/// Stops the current loop once the current iteration has finished; see
/// [`EventLoop::stop`](crate::EventLoop::stop).
///
/// # Panics
/// Outside a loop.
#[track_caller]
pub fn stop() {
    core("stop()").stop();
}

/// Records a user event in the current loop's trace (when tracing is on).
///
/// # Panics
/// Outside a loop.
#[track_caller]
pub fn mark(label: impl Into<String>) {
    let label = label.into();
    core("mark()")
        .st
        .borrow_mut()
        .record(|| crate::trace::Event::Mark(label));
}

/// The next number from the current loop's deterministic random generator (seeded with
/// [`Builder::seed`](crate::Builder::seed)).
///
/// # Panics
/// Outside a loop.
#[track_caller]
pub fn random_u64() -> u64 {
    core("random_u64()").st.borrow_mut().rng.next_u64()
}

/// A choice among `n` options (`0..n`) drawn from the current loop's [`Schedule`]: for
/// adapters that leave an order open to exploration, such as simloop-tokio's `select!`,
/// which polls its branches starting at `choose(branches)`.
///
/// 0 is the FIFO choice: under [`Schedule::Fifo`] (the default) this is always 0 and no
/// choice is recorded. Under any other schedule the choice is recorded like the loop's own,
/// so exploration varies it, the replay token of the run repeats it, and shrinking moves it
/// toward 0. `n` of 0 or 1 leaves nothing to choose: 0, unrecorded.
///
/// ```
/// use simloop::{EventLoop, Schedule};
///
/// let picks = |schedule: Schedule| {
///     let mut lp = EventLoop::builder().schedule(schedule).build();
///     let picks = lp.run_until_complete(async { (0..8).map(|_| simloop::choose(3)).collect::<Vec<_>>() });
///     (picks.unwrap(), lp.schedule_taken())
/// };
/// assert_eq!(picks(Schedule::Fifo).0, [0; 8]);
/// let (random, taken) = picks(Schedule::random(7));
/// assert!(random.iter().all(|&c| c < 3));
/// // The taken schedule replays the same picks.
/// assert_eq!(picks(taken).0, random);
/// ```
///
/// [`Schedule`]: crate::Schedule
/// [`Schedule::Fifo`]: crate::Schedule::Fifo
///
/// # Panics
/// Outside a loop.
#[track_caller]
pub fn choose(n: usize) -> usize {
    let core = core("choose()");
    if n < 2 {
        return 0;
    }
    let mut st = core.st.borrow_mut();
    if st.chooser.is_fifo() {
        0
    } else {
        st.chooser.choose(n)
    }
}

pub(crate) fn is_running() -> bool {
    RUNNING.try_with(Cell::get).unwrap_or(false)
}
