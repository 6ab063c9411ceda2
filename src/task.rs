//! Tasks: their storage slot, their `Send + Sync` waker, and the [`JoinHandle`] that awaits
//! them.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use pin_project_lite::pin_project;

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

/// What a wake queues: a spawned task's next step, or the main future's.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    Task(Key),
    Main(u64),
}

/// Wakes that arrived from other threads, taken in at the start of the next iteration.
#[derive(Debug, Default)]
pub(crate) struct Remote {
    queue: Mutex<Vec<Target>>,
    pending: AtomicBool,
}

impl Remote {
    fn push(&self, target: Target) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.push(target);
        self.pending.store(true, Ordering::Release);
    }

    /// The wakes received since the last call, in arrival order.
    pub(crate) fn take(&self) -> Vec<Target> {
        if !self.pending.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        self.pending.store(false, Ordering::Relaxed);
        std::mem::take(&mut *q)
    }
}

/// The waker of one task. `queued` is set while a step of the task sits in the ready queue,
/// so a task is never queued twice, and stays set once the task has finished, so waking a
/// finished task does nothing.
#[derive(Debug)]
pub(crate) struct TaskWaker {
    pub(crate) target: Target,
    pub(crate) queued: AtomicBool,
    pub(crate) remote: Arc<Remote>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        if !crate::context::wake_local(&self.remote, self.target) {
            self.remote.push(self.target);
        }
    }
}

/// Where a finished task's outcome goes, type-erased for the loop.
pub(crate) trait JoinSink {
    fn fail(&self, err: JoinError);
    fn is_detached(&self) -> bool;
}

pub(crate) struct JoinState<T> {
    result: RefCell<Option<Result<T, JoinError>>>,
    done: Cell<bool>,
    waker: Cell<Option<Waker>>,
    detached: Cell<bool>,
}

impl<T> JoinState<T> {
    pub(crate) fn new() -> Self {
        JoinState {
            result: RefCell::new(None),
            done: Cell::new(false),
            waker: Cell::new(None),
            detached: Cell::new(false),
        }
    }

    pub(crate) fn complete(&self, result: Result<T, JoinError>) {
        if self.done.replace(true) {
            return;
        }
        *self.result.borrow_mut() = Some(result);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

impl<T> JoinSink for JoinState<T> {
    fn fail(&self, err: JoinError) {
        self.complete(Err(err));
    }

    fn is_detached(&self) -> bool {
        self.detached.get()
    }
}

pin_project! {
    /// A spawned future that hands its output to its join state.
    pub(crate) struct TaskFuture<F: Future> {
        #[pin]
        pub(crate) future: F,
        pub(crate) join: Rc<JoinState<F::Output>>,
    }
}

impl<F: Future> Future for TaskFuture<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        match this.future.poll(cx) {
            Poll::Ready(v) => {
                this.join.complete(Ok(v));
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A spawned task as the loop stores it.
pub(crate) struct TaskSlot {
    pub(crate) id: TaskId,
    pub(crate) name: Option<Rc<str>>,
    pub(crate) spawned_at: &'static Location<'static>,
    /// `None` while the task is being polled.
    pub(crate) future: Option<Pin<Box<dyn Future<Output = ()>>>>,
    pub(crate) flag: Arc<TaskWaker>,
    pub(crate) waker: Waker,
    pub(crate) cancel_requested: bool,
    pub(crate) join: Rc<dyn JoinSink>,
}

impl TaskSlot {
    pub(crate) fn info(&self) -> TaskInfo {
        TaskInfo {
            id: self.id,
            name: self.name.as_deref().map(str::to_string),
            spawned_at: self.spawned_at,
        }
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
    pub(crate) state: Rc<JoinState<T>>,
    pub(crate) core: Weak<Core>,
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
        if self.state.done.get() {
            return false;
        }
        match (self.core.upgrade(), self.key) {
            (Some(core), Some(key)) => core.cancel_task(key),
            _ => false,
        }
    }

    /// True once the task has finished: completed, cancelled or panicked.
    pub fn is_finished(&self) -> bool {
        self.state.done.get()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(result) = self.state.result.borrow_mut().take() {
            return Poll::Ready(result);
        }
        assert!(
            !self.state.done.get(),
            "JoinHandle for task {} polled after it returned its result; await it only once",
            self.id
        );
        self.state.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.state.detached.set(true);
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}
