//! Tasks: their storage slot, their `Send + Sync` waker, and the [`JoinHandle`] that awaits
//! them.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::{self, Rc};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};

use futures::task::ArcWake;

use crate::core::Core;
use crate::error::{JoinError, TaskInfo};
use crate::slab::Key;

/// A task's id: unique within its loop, assigned in spawn order from `#1`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a wake queues: a spawned task's next step, or the main future's. A finished task's
/// key goes stale, so its wakes find nothing. Whether a step is already queued is the loop's
/// to know (`TaskEntry::queued`): a local wake touches only the loop's state.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    Task(Key),
    Main(u32),
}

/// Wakes that arrived from other threads, taken in at the start of the next iteration. The
/// queue holds its wakers weakly: a waker holds the `Remote`, so a strong reference back
/// would be a cycle that leaks when no iteration takes the queue in (a wake after `close`).
/// A waker that is gone by then belongs to a task that is gone too.
#[derive(Debug, Default)]
pub(crate) struct Remote {
    queue: Mutex<Vec<Weak<TaskWaker>>>,
    pending: AtomicBool,
}

impl Remote {
    /// The wakes received since the last call, in arrival order.
    #[inline]
    pub(crate) fn take(&self) -> Vec<Target> {
        if !self.pending.load(Ordering::Acquire) {
            return Vec::new();
        }
        self.take_slow()
    }

    #[cold]
    fn take_slow(&self) -> Vec<Target> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        self.pending.store(false, Ordering::Relaxed);
        q.drain(..)
            .filter_map(|w| {
                let w = w.upgrade()?;
                w.remote_queued.store(false, Ordering::Release);
                Some(w.target)
            })
            .collect()
    }
}

/// The waker of one task (or of the main future).
#[derive(Debug)]
pub(crate) struct TaskWaker {
    pub(crate) target: Target,
    pub(crate) remote: Arc<Remote>,
    /// Set while a wake from another thread waits in `remote`, so a thread that wakes in a
    /// loop queues it once.
    remote_queued: AtomicBool,
}

impl TaskWaker {
    pub(crate) fn new(target: Target, remote: Arc<Remote>) -> Self {
        TaskWaker {
            target,
            remote,
            remote_queued: AtomicBool::new(false),
        }
    }
}

impl ArcWake for TaskWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        if crate::context::wake_local(&arc_self.remote, arc_self.target) {
            return;
        }
        if !arc_self.remote_queued.swap(true, Ordering::AcqRel) {
            let remote = &arc_self.remote;
            let mut q = remote.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.push(Arc::downgrade(arc_self));
            remote.pending.store(true, Ordering::Release);
        }
    }
}

/// The state a task shares with its [`JoinHandle`]: the outcome, and who waits for it.
pub(crate) struct JoinState<T> {
    /// `Some` from completion until the handle takes it. Errors are boxed to keep small
    /// outputs small.
    result: Cell<Option<Result<T, Box<JoinError>>>>,
    done: Cell<bool>,
    detached: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl<T> JoinState<T> {
    fn new() -> Self {
        JoinState {
            result: Cell::new(None),
            done: Cell::new(false),
            detached: Cell::new(false),
            waker: Cell::new(None),
        }
    }

    fn complete(&self, result: Result<T, Box<JoinError>>) {
        if self.done.replace(true) {
            return;
        }
        self.result.set(Some(result));
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// A spawned task as the loop stores it: the shared cell, and what only the loop needs.
pub(crate) struct TaskEntry {
    pub(crate) cell: Rc<dyn RawTask>,
    pub(crate) id: TaskId,
    pub(crate) spawned_at: &'static Location<'static>,
    /// A thin pointer keeps the entry within a cache line.
    pub(crate) name: Option<Rc<String>>,
    pub(crate) cancel_requested: bool,
    /// Set while a step of the task sits in the ready queue, so it is never queued twice.
    pub(crate) queued: bool,
}

impl TaskEntry {
    pub(crate) fn info(&self) -> TaskInfo {
        TaskInfo {
            id: self.id,
            name: self.name.as_deref().cloned(),
            spawned_at: self.spawned_at,
        }
    }
}

/// One allocation per task, shared by the loop and the task's `JoinHandle`: the join state,
/// and the future, which stays in place (pinned) from spawn until it is dropped.
pub(crate) struct TaskCell<F: Future> {
    /// The task's waker (`None` for a task spawned on a closed loop, which never runs). It
    /// lives here, beside the future, because a poll touches this allocation anyway.
    waker: Option<Arc<TaskWaker>>,
    join: JoinState<F::Output>,
    future: RefCell<Option<F>>,
}

impl<F: Future> TaskCell<F> {
    pub(crate) fn new(waker: Option<Arc<TaskWaker>>, future: Option<F>) -> Self {
        TaskCell {
            waker,
            join: JoinState::new(),
            future: RefCell::new(future),
        }
    }
}

/// A task as the loop drives it, type-erased.
pub(crate) trait RawTask {
    /// The task's waker.
    fn waker(&self) -> &Arc<TaskWaker>;
    /// Polls the future once. On completion the output goes to the join state and the future
    /// is dropped.
    fn poll(&self, cx: &mut Context<'_>) -> Poll<()>;
    /// Drops the future in place (cancel, close, or after it panicked). Its destructors run.
    fn drop_future(&self);
    /// Finishes the task with `err` and wakes whoever awaits it.
    fn fail(&self, err: JoinError);
    /// True once the `JoinHandle` was dropped.
    fn is_detached(&self) -> bool;
}

impl<F: Future> RawTask for TaskCell<F> {
    fn waker(&self) -> &Arc<TaskWaker> {
        self.waker
            .as_ref()
            .expect("only tasks of an open loop are stored")
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut slot = self.future.borrow_mut();
        let Some(future) = slot.as_mut() else {
            return Poll::Ready(());
        };
        // SAFETY: the future lives inside this cell, which lives inside an `Rc` allocation
        // and is never moved out of it: it is only ever dropped in place (`drop_future` and
        // the completion below assign `None`). So it stays at this address until dropped,
        // which is the pinning guarantee.
        #[allow(unsafe_code)]
        let future = unsafe { Pin::new_unchecked(future) };
        match future.poll(cx) {
            Poll::Ready(output) => {
                *slot = None;
                drop(slot);
                self.join.complete(Ok(output));
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn drop_future(&self) {
        // Assigning drops the old future where it lies, as `Pin::set` does.
        *self.future.borrow_mut() = None;
    }

    fn fail(&self, err: JoinError) {
        self.join.complete(Err(Box::new(err)));
    }

    fn is_detached(&self) -> bool {
        self.join.detached.get()
    }
}

/// A task's join side, as its [`JoinHandle`] sees it.
pub(crate) trait JoinCell<T> {
    fn join(&self) -> &JoinState<T>;
}

impl<F: Future> JoinCell<F::Output> for TaskCell<F> {
    fn join(&self) -> &JoinState<F::Output> {
        &self.join
    }
}

/// Awaits a spawned task: resolves to its output, or to a [`JoinError`] if it was cancelled
/// or panicked.
///
/// Dropping the handle detaches the task: it keeps running. `JoinHandle` is `Unpin`, so
/// `&mut handle` is a future too, which lets a run call that stopped early resume waiting:
///
/// ```
/// use simloop::{sleep, EventLoop};
/// use std::time::Duration;
///
/// let mut lp = EventLoop::new();
/// let mut job = lp.spawn(async {
///     sleep(Duration::from_secs(2)).await;
///     7
/// });
/// lp.call_later(Duration::from_secs(1), simloop::stop);
/// assert!(lp.run_until_complete(&mut job).is_err()); // stopped at 1s
/// assert_eq!(lp.run_until_complete(&mut job).unwrap(), Ok(7));
/// ```
pub struct JoinHandle<T> {
    pub(crate) cell: Rc<dyn JoinCell<T>>,
    pub(crate) core: rc::Weak<Core>,
    pub(crate) key: Option<Key>,
    pub(crate) id: TaskId,
}

impl<T> JoinHandle<T> {
    /// Cancels the task: its future is dropped in a step queued like any other (a task
    /// cancelled before its first poll never runs its body), it finishes with
    /// [`JoinError::Cancelled`], and whoever awaits it is woken.
    ///
    /// Returns `false` if the task had already finished.
    pub fn cancel(&self) -> bool {
        if self.cell.join().done.get() {
            return false;
        }
        match (self.core.upgrade(), self.key) {
            (Some(core), Some(key)) => core.cancel_task(key),
            _ => false,
        }
    }

    /// True once the task has finished: completed, cancelled or panicked.
    pub fn is_finished(&self) -> bool {
        self.cell.join().done.get()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let join = self.cell.join();
        if let Some(result) = join.result.take() {
            return Poll::Ready(result.map_err(|e| *e));
        }
        assert!(
            !join.done.get(),
            "JoinHandle for task {} polled after it returned its result; await it only once",
            self.id()
        );
        join.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.cell.join().detached.set(true);
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}
