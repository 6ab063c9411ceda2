//! Tasks: their ids, their storage slot, and the [`JoinHandle`] that awaits them. A task's
//! allocation and its waker are in `cell.rs`.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::{self, Rc};
use std::task::{Context, Poll, Waker};

use crate::cell::{JoinRef, TaskRef};
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

/// The state a task shares with its [`JoinHandle`]: the outcome, and who waits for it.
pub(crate) struct JoinState<T> {
    /// `Some` from completion until the handle takes it. Errors are boxed to keep small
    /// outputs small.
    result: Cell<Option<Result<T, Box<JoinError>>>>,
    done: Cell<bool>,
    pub(crate) detached: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl<T> JoinState<T> {
    pub(crate) fn new() -> Self {
        JoinState {
            result: Cell::new(None),
            done: Cell::new(false),
            detached: Cell::new(false),
            waker: Cell::new(None),
        }
    }

    pub(crate) fn complete(&self, result: Result<T, Box<JoinError>>) {
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
    pub(crate) cell: TaskRef,
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
    pub(crate) cell: JoinRef<T>,
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
