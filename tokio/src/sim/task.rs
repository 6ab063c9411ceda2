//! `tokio::task` on simloop tasks.
//!
//! Every task is a simloop task (one simulated thread: `spawn` keeps tokio's `Send` bound
//! for source compatibility only). What tokio promises holds: a panicking task does not stop
//! the loop, its [`JoinHandle`] yields a [`JoinError`] whose
//! [`into_panic`](JoinError::into_panic) is the original payload; [`JoinHandle::abort`]
//! drops the task's future at its next step (a task aborted before its first poll never
//! runs); dropping a `JoinHandle` detaches the task; closing the loop (dropping the
//! `Runtime`) drops every task, and their handles yield a cancelled `JoinError`.
//!
//! The handles hold no simloop `Rc`: a task and its handles share an `Arc`, so they are
//! `Send + Sync` where tokio's are.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::context;

#[cfg(feature = "rt")]
pub use tokio::task::{consume_budget, unconstrained, LocalKey, Unconstrained};

/// Futures of this module.
#[cfg(feature = "rt")]
pub mod futures {
    pub use tokio::task::futures::TaskLocalFuture;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A task's id: the id of the simloop task that runs it (`#3` in a simloop trace is
/// `Id` 3), unique within its loop and the same on every run.
#[derive(Clone, Copy, Debug, Hash, Eq, PartialEq, Ord, PartialOrd)]
pub struct Id(u64);

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

thread_local! {
    static CURRENT_TASK: Cell<Option<Id>> = const { Cell::new(None) };
    static CURRENT_LOCAL: RefCell<Option<Rc<LocalShared>>> = const { RefCell::new(None) };
}

/// The id of the task being polled.
///
/// # Panics
/// Outside a task spawned through this crate.
#[track_caller]
pub fn id() -> Id {
    try_id().expect("Can't get a task id when not inside a task")
}

/// The id of the task being polled, if any.
pub fn try_id() -> Option<Id> {
    CURRENT_TASK.try_with(Cell::get).ok().flatten()
}

/// The part of a task every handle shares, whatever its output type.
#[derive(Debug)]
struct Control {
    id: AtomicU64,
    state: Mutex<ControlState>,
}

#[derive(Debug, Default)]
struct ControlState {
    finished: bool,
    abort: bool,
    /// Wakes the task (for an abort).
    task: Option<Waker>,
    /// Wakes whoever awaits the `JoinHandle`.
    joiner: Option<Waker>,
    /// The `JoinSet` the task is in, and its key there.
    set: Option<(Arc<SetQueue>, u64)>,
}

impl Control {
    fn new() -> Arc<Control> {
        Arc::new(Control {
            id: AtomicU64::new(0),
            state: Mutex::new(ControlState::default()),
        })
    }

    fn id(&self) -> Id {
        Id(self.id.load(Ordering::Relaxed))
    }

    fn abort(&self) {
        let waker = {
            let mut st = lock(&self.state);
            if st.finished {
                return;
            }
            st.abort = true;
            st.task.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn is_finished(&self) -> bool {
        lock(&self.state).finished
    }

    /// Marks the task finished (its output is stored already) and wakes its joiner and set.
    fn finish(&self) {
        let (joiner, set) = {
            let mut st = lock(&self.state);
            st.finished = true;
            st.task = None;
            (st.joiner.take(), st.set.take())
        };
        if let Some(w) = joiner {
            w.wake();
        }
        if let Some((queue, key)) = set {
            queue.push(key);
        }
    }

    fn join_set(&self, queue: Arc<SetQueue>, key: u64) {
        let finished = {
            let mut st = lock(&self.state);
            if !st.finished {
                st.set = Some((queue.clone(), key));
            }
            st.finished
        };
        if finished {
            queue.push(key);
        }
    }
}

type Output<T> = Arc<Mutex<Option<Result<T, JoinError>>>>;

/// The future simloop runs for a tokio task: polls the user's future, catching its panics,
/// and stores its result for the handle.
struct Task<F: Future> {
    future: Option<Pin<Box<F>>>,
    control: Arc<Control>,
    output: Output<F::Output>,
    local: Option<Rc<LocalShared>>,
}

impl<F: Future> Task<F> {
    fn complete(&mut self, result: Result<F::Output, JoinError>) {
        *lock(&self.output) = Some(result);
        self.control.finish();
        if let Some(local) = &self.local {
            local.task_finished();
        }
    }

    /// Drops the user's future (its destructor may panic: that is swallowed, the task is
    /// over anyway) and completes with `result`.
    fn end(&mut self, result: Result<F::Output, JoinError>) {
        if let Some(future) = self.future.take() {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(future)));
        }
        self.complete(result);
    }
}

impl<F: Future> Future for Task<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(future) = this.future.as_mut() else {
            return Poll::Ready(());
        };
        let id = this.control.id();
        {
            let mut st = lock(&this.control.state);
            if st.abort {
                drop(st);
                this.end(Err(JoinError::cancelled(id)));
                return Poll::Ready(());
            }
            match &st.task {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.task = Some(cx.waker().clone()),
            }
        }
        let _task = TaskGuard::enter(id, this.local.clone());
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => {
                this.end(Ok(value));
                Poll::Ready(())
            }
            Err(payload) => {
                this.end(Err(JoinError::panic(id, payload)));
                Poll::Ready(())
            }
        }
    }
}

impl<F: Future> Drop for Task<F> {
    fn drop(&mut self) {
        if self.future.is_some() {
            // The loop dropped the task before it finished: it was closed (the runtime
            // dropped), or this is a LocalSet's task and the set went away.
            let id = self.control.id();
            self.end(Err(JoinError::cancelled(id)));
        }
    }
}

/// Sets the current task id (and `LocalSet`) while a task is polled.
struct TaskGuard {
    task: Option<Id>,
    local: Option<Option<Rc<LocalShared>>>,
}

impl TaskGuard {
    fn enter(id: Id, local: Option<Rc<LocalShared>>) -> TaskGuard {
        let task = CURRENT_TASK.with(|c| c.replace(Some(id)));
        let local = local.map(|l| CURRENT_LOCAL.with(|c| c.replace(Some(l))));
        TaskGuard { task, local }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let _ = CURRENT_TASK.try_with(|c| c.set(self.task));
        if let Some(previous) = self.local.take() {
            let _ = CURRENT_LOCAL.try_with(|c| c.replace(previous));
        }
    }
}

/// A task not spawned yet, and its handle.
fn make_task<F: Future>(
    future: F,
    local: Option<Rc<LocalShared>>,
) -> (Task<F>, JoinHandle<F::Output>) {
    let control = Control::new();
    let output: Output<F::Output> = Arc::new(Mutex::new(None));
    let task = Task {
        future: Some(Box::pin(future)),
        control: control.clone(),
        output: output.clone(),
        local,
    };
    (task, JoinHandle { control, output })
}

/// Spawns `task` on `handle`'s loop.
#[track_caller]
fn launch<F>(handle: &simloop::Handle, task: Task<F>)
where
    F: Future + 'static,
    F::Output: 'static,
{
    let control = task.control.clone();
    let inner = handle.spawn(task);
    control.id.store(inner.id().as_u64(), Ordering::Relaxed);
}

/// Spawns `future` on `handle`'s loop.
#[track_caller]
pub(crate) fn spawn_on<F>(handle: &simloop::Handle, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let (task, join) = make_task(future, None);
    launch(handle, task);
    join
}

/// A handle to a task that was cancelled before it could start (its runtime is gone).
pub(crate) fn cancelled<T>() -> JoinHandle<T> {
    let control = Control::new();
    control.finish();
    JoinHandle {
        control,
        output: Arc::new(Mutex::new(Some(Err(JoinError::cancelled(Id(0)))))),
    }
}

/// Spawns a task on the current simloop loop: it starts in the loop's next iteration.
///
/// The `Send` bounds are tokio's, kept so that code checked here compiles against tokio too;
/// the task runs on the loop's thread.
///
/// # Panics
/// Outside a simloop loop.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_on(&context::handle("tokio::spawn"), future)
}

/// Spawns a `!Send` task on the current [`LocalSet`].
///
/// # Panics
/// Outside a `LocalSet` (as tokio does).
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let local = CURRENT_LOCAL.with(|c| c.borrow().clone());
    match local {
        Some(local) => local.spawn(future),
        None => panic!(
            "`spawn_local` called from outside of a `task::LocalSet` (simloop-tokio follows \
             tokio here: run the code inside `LocalSet::run_until`, or use `tokio::spawn`)"
        ),
    }
}

/// Runs `f` on a simulated worker of the loop's blocking pool (simloop's
/// [`spawn_blocking`](simloop::spawn_blocking)), without blocking the loop.
///
/// A job takes the loop's default blocking cost in virtual time, zero unless set with
/// [`simloop::set_blocking_cost`]; the pool has as many workers as
/// `Builder::max_blocking_threads` says (default unbounded). A panic in `f` comes back as the
/// handle's [`JoinError`].
///
/// # Panics
/// Outside a simloop loop.
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    spawn_blocking_on(&context::handle("tokio::task::spawn_blocking"), f)
}

#[track_caller]
pub(crate) fn spawn_blocking_on<F, R>(handle: &simloop::Handle, f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + 'static,
    R: 'static,
{
    spawn_on(handle, async move {
        let job = simloop::spawn_blocking(simloop::blocking_cost(), move || {
            catch_unwind(AssertUnwindSafe(f))
        });
        match job.await {
            Ok(Ok(value)) => value,
            Ok(Err(payload)) => resume_unwind(payload),
            Err(e) => panic!("the simulated blocking job did not run: {e}"),
        }
    })
}

/// Runs `f` in place: in the simulation the loop's thread is the only one, so this is a
/// plain call (taking no virtual time; see [`simloop::block_for`] to model its cost).
pub fn block_in_place<F, R>(f: F) -> R
where
    F: FnOnce() -> R,
{
    f()
}

/// Lets the other ready tasks run: the task resumes in the loop's next iteration.
pub async fn yield_now() {
    simloop::yield_now().await;
}

/// Awaits a task's output: `Ok(output)`, or a [`JoinError`] if the task panicked or was
/// aborted. `Send + Sync` when `T: Send`; dropping it detaches the task.
pub struct JoinHandle<T> {
    control: Arc<Control>,
    output: Output<T>,
}

impl<T> JoinHandle<T> {
    /// Aborts the task: its future is dropped at its next step (before its first poll, it
    /// never runs), and the handle yields a cancelled [`JoinError`]. A finished task is left
    /// as it is.
    pub fn abort(&self) {
        self.control.abort();
    }

    /// True once the task has finished (completed, panicked or aborted).
    pub fn is_finished(&self) -> bool {
        self.control.is_finished()
    }

    /// A handle that can abort the task, without its output.
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle {
            control: self.control.clone(),
        }
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        self.control.id()
    }

    fn take_output(&self) -> Option<Result<T, JoinError>> {
        lock(&self.output).take()
    }
}

impl<T> Unpin for JoinHandle<T> {}

impl<T> std::panic::UnwindSafe for JoinHandle<T> {}
impl<T> std::panic::RefUnwindSafe for JoinHandle<T> {}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        {
            let mut st = lock(&self.control.state);
            if !st.finished {
                st.joiner = Some(cx.waker().clone());
                return Poll::Pending;
            }
        }
        match self.take_output() {
            Some(result) => Poll::Ready(result),
            None => panic!("JoinHandle polled after completion"),
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .finish()
    }
}

/// Aborts a task without awaiting it. `Send + Sync`, `Clone`.
#[derive(Clone)]
pub struct AbortHandle {
    control: Arc<Control>,
}

impl AbortHandle {
    /// Aborts the task; see [`JoinHandle::abort`].
    pub fn abort(&self) {
        self.control.abort();
    }

    /// True once the task has finished.
    pub fn is_finished(&self) -> bool {
        self.control.is_finished()
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        self.control.id()
    }
}

impl std::panic::UnwindSafe for AbortHandle {}
impl std::panic::RefUnwindSafe for AbortHandle {}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("id", &self.id())
            .finish()
    }
}

/// Why a task did not produce its output: it was cancelled (aborted, or its runtime shut
/// down), or it panicked.
pub struct JoinError {
    repr: Repr,
    id: Id,
}

enum Repr {
    Cancelled,
    Panic(Mutex<Box<dyn Any + Send + 'static>>),
}

impl JoinError {
    fn cancelled(id: Id) -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
            id,
        }
    }

    fn panic(id: Id, payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            repr: Repr::Panic(Mutex::new(payload)),
            id,
        }
    }

    /// True if the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic's payload, as the task's `panic!` gave it (resume it with
    /// `std::panic::resume_unwind`).
    ///
    /// # Panics
    /// If the task did not panic.
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("`JoinError` reason is not a panic.")
    }

    /// The panic's payload, or the error itself if the task did not panic.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(p) => Ok(p.into_inner().unwrap_or_else(|e| e.into_inner())),
            _ => Err(self),
        }
    }

    /// The id of the task.
    pub fn id(&self) -> Id {
        self.id
    }

    fn message(&self) -> Option<String> {
        match &self.repr {
            Repr::Cancelled => None,
            Repr::Panic(p) => {
                let p = lock(p);
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            }
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.message()) {
            (Repr::Cancelled, _) => write!(f, "task {} was cancelled", self.id),
            (Repr::Panic(_), Some(msg)) => {
                write!(f, "task {} panicked with message {:?}", self.id, msg)
            }
            (Repr::Panic(_), None) => write!(f, "task {} panicked", self.id),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.message()) {
            (Repr::Cancelled, _) => write!(f, "JoinError::Cancelled({:?})", self.id),
            (Repr::Panic(_), Some(msg)) => {
                write!(f, "JoinError::Panic({:?}, {:?}, ...)", self.id, msg)
            }
            (Repr::Panic(_), None) => write!(f, "JoinError::Panic({:?}, ...)", self.id),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(src: JoinError) -> std::io::Error {
        std::io::Error::other(match src.repr {
            Repr::Cancelled => "task was cancelled",
            Repr::Panic(_) => "task panicked",
        })
    }
}

/// The tasks of a [`JoinSet`] that finished, in the order they finished.
#[derive(Debug, Default)]
struct SetQueue {
    inner: Mutex<(VecDeque<u64>, Option<Waker>)>,
}

impl SetQueue {
    fn push(&self, key: u64) {
        let waker = {
            let mut q = lock(&self.inner);
            q.0.push_back(key);
            q.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn pop(&self) -> Option<u64> {
        lock(&self.inner).0.pop_front()
    }
}

/// A set of tasks whose outputs come back in the order the tasks finish. Dropping it aborts
/// every task still in it.
pub struct JoinSet<T> {
    tasks: BTreeMap<u64, JoinHandle<T>>,
    queue: Arc<SetQueue>,
    next: u64,
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet {
            tasks: BTreeMap::new(),
            queue: Arc::new(SetQueue::default()),
            next: 0,
        }
    }

    /// How many tasks are in the set (finished ones count until joined).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True if the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    fn insert(&mut self, handle: JoinHandle<T>) -> AbortHandle {
        let key = self.next;
        self.next += 1;
        handle.control.join_set(self.queue.clone(), key);
        let abort = handle.abort_handle();
        self.tasks.insert(key, handle);
        abort
    }

    /// Aborts every task in the set; they stay in it until joined.
    pub fn abort_all(&mut self) {
        for handle in self.tasks.values() {
            handle.abort();
        }
    }

    /// Removes every task from the set without aborting them.
    pub fn detach_all(&mut self) {
        for (_, handle) in std::mem::take(&mut self.tasks) {
            lock(&handle.control.state).set = None;
        }
        lock(&self.queue.inner).0.clear();
    }

    fn next_finished(&mut self) -> Option<(Id, Result<T, JoinError>)> {
        while let Some(key) = self.queue.pop() {
            if let Some(handle) = self.tasks.remove(&key) {
                if let Some(result) = handle.take_output() {
                    return Some((handle.id(), result));
                }
            }
        }
        None
    }

    /// Polls for the next task to finish: `None` once the set is empty.
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        self.poll_join_next_with_id(cx)
            .map(|r| r.map(|r| r.map(|(_, v)| v)))
    }

    /// Polls for the next task to finish, with its id.
    pub fn poll_join_next_with_id(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<(Id, T), JoinError>>> {
        if let Some((id, result)) = self.next_finished() {
            return Poll::Ready(Some(result.map(|v| (id, v))));
        }
        if self.tasks.is_empty() {
            return Poll::Ready(None);
        }
        lock(&self.queue.inner).1 = Some(cx.waker().clone());
        match self.next_finished() {
            Some((id, result)) => Poll::Ready(Some(result.map(|v| (id, v)))),
            None => Poll::Pending,
        }
    }

    /// Waits for the next task to finish: its output, or `None` once the set is empty.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        std::future::poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Waits for the next task to finish, with its id.
    pub async fn join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        std::future::poll_fn(|cx| self.poll_join_next_with_id(cx)).await
    }

    /// The output of a task that has finished, without waiting.
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        self.next_finished().map(|(_, r)| r)
    }

    /// The output of a task that has finished, with its id, without waiting.
    pub fn try_join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        self.next_finished().map(|(id, r)| r.map(|v| (id, v)))
    }

    /// Aborts every task and waits until all have finished.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Waits for every task, returning their outputs in the order they finished.
    ///
    /// # Panics
    /// If a task panicked (with its payload; the rest are aborted), or was cancelled.
    pub async fn join_all(mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len());
        while let Some(result) = self.join_next().await {
            match result {
                Ok(v) => out.push(v),
                Err(e) if e.is_panic() => resume_unwind(e.into_panic()),
                Err(e) => panic!("{e}"),
            }
        }
        out
    }
}

impl<T: 'static> JoinSet<T> {
    /// Spawns a task into the set; see [`spawn`].
    #[track_caller]
    pub fn spawn<F>(&mut self, task: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        self.insert(spawn(task))
    }

    /// Spawns a task into the set on the runtime of `handle`.
    #[track_caller]
    pub fn spawn_on<F>(&mut self, task: F, handle: &super::runtime::Handle) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        self.insert(handle.spawn(task))
    }

    /// Spawns a `!Send` task into the set on the current [`LocalSet`].
    #[track_caller]
    pub fn spawn_local<F>(&mut self, task: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        self.insert(spawn_local(task))
    }

    /// Spawns a `!Send` task into the set on `local_set`.
    #[track_caller]
    pub fn spawn_local_on<F>(&mut self, task: F, local_set: &LocalSet) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        self.insert(local_set.spawn_local(task))
    }

    /// Runs `f` on a simulated blocking worker, into the set; see [`spawn_blocking`].
    #[track_caller]
    pub fn spawn_blocking<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send,
    {
        self.insert(spawn_blocking(f))
    }

    /// Runs `f` on a simulated blocking worker of `handle`'s runtime, into the set.
    #[track_caller]
    pub fn spawn_blocking_on<F>(&mut self, f: F, handle: &super::runtime::Handle) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send,
    {
        self.insert(handle.spawn_blocking(f))
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.abort_all();
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet::new()
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len()).finish()
    }
}

impl<T, F> std::iter::FromIterator<F> for JoinSet<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> Self {
        let mut set = JoinSet::new();
        set.extend(iter);
        set
    }
}

impl<T, F> std::iter::Extend<F> for JoinSet<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    fn extend<I: IntoIterator<Item = F>>(&mut self, iter: I) {
        for task in iter {
            self.spawn(task);
        }
    }
}

/// A set of `!Send` tasks ([`spawn_local`]) on the loop's thread.
///
/// Tasks spawned on a set that is not running wait until it is first run ([`run_until`],
/// awaiting the set, [`block_on`]); from then on they are ordinary tasks of the loop (tokio
/// would pause them again while the set is not polled). Awaiting the set completes once
/// every task spawned on it has finished; dropping it aborts them.
///
/// [`run_until`]: LocalSet::run_until
/// [`block_on`]: LocalSet::block_on
pub struct LocalSet {
    shared: Rc<LocalShared>,
}

type Deferred = Box<dyn FnOnce(&simloop::Handle)>;

#[derive(Default)]
struct LocalShared {
    /// True once the set has run: its tasks spawn at once from then on.
    started: Cell<bool>,
    /// Tasks spawned before the set ran, waiting for its first poll.
    deferred: RefCell<Vec<Deferred>>,
    tasks: RefCell<Vec<AbortHandle>>,
    /// Whoever awaits the set itself.
    waiter: RefCell<Option<Waker>>,
}

impl LocalShared {
    #[track_caller]
    fn spawn<F>(self: &Rc<Self>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (task, join) = make_task(future, Some(self.clone()));
        self.tasks.borrow_mut().push(join.abort_handle());
        match simloop::try_current().filter(|_| self.started.get()) {
            Some(handle) => launch(&handle, task),
            None => self
                .deferred
                .borrow_mut()
                .push(Box::new(move |handle| launch(handle, task))),
        }
        join
    }

    /// Spawns the deferred tasks on `handle`'s loop.
    fn launch_deferred(&self, handle: &simloop::Handle) {
        self.started.set(true);
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        for spawn in deferred {
            spawn(handle);
        }
    }

    fn task_finished(&self) {
        let waiter = self.waiter.borrow_mut().take();
        if let Some(w) = waiter {
            w.wake();
        }
    }

    fn all_finished(&self) -> bool {
        self.deferred.borrow().is_empty()
            && self.tasks.borrow().iter().all(AbortHandle::is_finished)
    }
}

/// Makes a `LocalSet` current while something runs.
struct LocalGuard(Option<Rc<LocalShared>>);

impl LocalGuard {
    fn enter(shared: &Rc<LocalShared>) -> LocalGuard {
        LocalGuard(CURRENT_LOCAL.with(|c| c.replace(Some(shared.clone()))))
    }
}

impl Drop for LocalGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        let _ = CURRENT_LOCAL.try_with(|c| c.replace(previous));
    }
}

/// Keeps a [`LocalSet`] current until dropped; see [`LocalSet::enter`].
pub struct LocalEnterGuard {
    _guard: LocalGuard,
}

impl fmt::Debug for LocalEnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalEnterGuard").finish()
    }
}

impl LocalSet {
    /// An empty set.
    pub fn new() -> LocalSet {
        LocalSet {
            shared: Rc::new(LocalShared::default()),
        }
    }

    /// Makes the set current (so [`spawn_local`] spawns onto it) until the guard drops.
    pub fn enter(&self) -> LocalEnterGuard {
        LocalEnterGuard {
            _guard: LocalGuard::enter(&self.shared),
        }
    }

    /// Spawns a `!Send` task on the set.
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.shared.spawn(future)
    }

    /// Runs `future` to completion on `rt`, with the set current.
    #[track_caller]
    pub fn block_on<F: Future>(&self, rt: &super::runtime::Runtime, future: F) -> F::Output {
        rt.block_on(self.run_until(future))
    }

    /// Runs `future` with the set current (its tasks start now, if they had not).
    pub async fn run_until<F: Future>(&self, future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|cx| {
            self.shared
                .launch_deferred(&context::handle("LocalSet::run_until"));
            let _local = LocalGuard::enter(&self.shared);
            future.as_mut().poll(cx)
        })
        .await
    }
}

impl Future for LocalSet {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.shared
            .launch_deferred(&context::handle("polling a LocalSet"));
        if self.shared.all_finished() {
            return Poll::Ready(());
        }
        *self.shared.waiter.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Default for LocalSet {
    fn default() -> Self {
        LocalSet::new()
    }
}

impl fmt::Debug for LocalSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSet").finish()
    }
}

impl Drop for LocalSet {
    fn drop(&mut self) {
        // Tasks that never started are dropped here (their handles yield a cancelled
        // error); the others are aborted.
        let deferred = std::mem::take(&mut *self.shared.deferred.borrow_mut());
        drop(deferred);
        let tasks = self.shared.tasks.borrow().clone();
        for task in tasks {
            task.abort();
        }
    }
}
