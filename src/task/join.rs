//! Tasks: their ids, their storage slot, and the [`JoinHandle`] that awaits them. A task's
//! allocation and its waker are in `cell.rs`.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::{self, Rc};
use std::task::{Context, Poll};

use crate::runtime::core::Core;
use crate::runtime::wake_timer::WakeTimer;
use crate::slab::Key;
use crate::task::cell::{JoinRef, TaskRef};
use crate::task::panic::hint;

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
/// to know (a flag in the task's entry, not an atomic).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    Task(Key),
    Main(u32),
}

/// A spawned task as the loop stores it: the shared cell, and what only the loop needs.
pub(crate) struct TaskEntry {
    pub(crate) cell: TaskRef,
    /// The task's id, with `QUEUED` in its top bit (ids never get there): whether a step sits
    /// in the ready queue is read at every wake, and here it costs no bytes and no visit to
    /// the cell's header.
    id: u64,
    pub(crate) spawned_at: &'static Location<'static>,
    /// A thin pointer keeps the entry small. (Whether a cancel was asked for is a flag in the
    /// cell's header.)
    pub(crate) name: Option<Rc<String>>,
    /// The task's own wake timer, if one is pending (see `WakeTimer`).
    pub(crate) wake: Option<WakeTimer>,
}

const QUEUED: u64 = 1 << 63;

impl TaskEntry {
    /// A task's entry, with its first step queued.
    pub(crate) fn new(
        cell: TaskRef,
        id: TaskId,
        spawned_at: &'static Location<'static>,
        name: Option<Rc<String>>,
    ) -> TaskEntry {
        assert!(id.0 < QUEUED, "task ids ran out");
        TaskEntry {
            cell,
            id: id.0 | QUEUED,
            spawned_at,
            name,
            wake: None,
        }
    }

    pub(crate) fn id(&self) -> TaskId {
        TaskId(self.id & !QUEUED)
    }

    /// True while a step of the task sits in the ready queue.
    pub(crate) fn is_queued(&self) -> bool {
        self.id & QUEUED != 0
    }

    /// The slot's part of its wake timer's step: frees the timer's place and marks the task
    /// queued. True if the caller must queue it (it was not queued yet).
    #[inline]
    pub(crate) fn fire_wake(&mut self) -> bool {
        self.wake = None;
        let queue = !self.is_queued();
        self.set_queued(true);
        queue
    }

    pub(crate) fn set_queued(&mut self, queued: bool) {
        self.id = if queued {
            self.id | QUEUED
        } else {
            self.id & !QUEUED
        };
    }

    /// The task, as errors, warnings and traces name it.
    pub(crate) fn who(&self) -> crate::runtime::state::Who {
        crate::runtime::state::Who::Task(self.id(), self.name.clone(), self.spawned_at)
    }
}

/// Awaits a spawned task: resolves to its output, or to a [`JoinError`] if it was cancelled
/// or panicked.
///
/// Dropping the handle detaches the task: it keeps running. `JoinHandle` is `Unpin` (for every
/// `T`), so `&mut handle` is a future too, which lets a run call that stopped early resume
/// waiting:
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
        if self.cell.is_done() {
            return false;
        }
        match (self.core.upgrade(), self.key) {
            (Some(core), Some(key)) => core.cancel_task(key),
            _ => false,
        }
    }

    /// True once the task has finished: completed, cancelled or panicked.
    pub fn is_finished(&self) -> bool {
        if self.cell.observed() {
            crate::runtime::footprint::joined(&self.core, self.id.0);
        }
        self.cell.is_done()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }
}

// Nothing in a `JoinHandle` is pinned: the task's output lives in the task's allocation, and
// `T` appears only in a `PhantomData`. So it is `Unpin` for every `T` (SPEC §3.3).
impl<T> Unpin for JoinHandle<T> {}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Reads the task's completion, for the systematic search's reduction (only a
        // reducing search's tasks are marked; elsewhere this is one flag test).
        if self.cell.observed() {
            crate::runtime::footprint::joined(&self.core, self.id.0);
        }
        if let Some(result) = self.cell.take_result() {
            return Poll::Ready(result.map_err(|e| *e));
        }
        assert!(
            !self.cell.is_done(),
            "JoinHandle for task {} polled after it returned its result; await it only once",
            self.id()
        );
        let current = crate::runtime::context::current_ptr();
        if !current.is_null() && !std::ptr::eq(current, self.core.as_ptr()) {
            // Awaited on a loop that never runs the task: should that loop stall, it says so.
            crate::runtime::context::note_other_loop_join(cx.waker(), self.id());
        }
        self.cell.set_joiner(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.cell.detach();
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

/// Why a task's [`JoinHandle`](crate::JoinHandle) did not yield its output.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// The task was cancelled with `JoinHandle::cancel`, or its loop was closed first.
    Cancelled,
    /// The task panicked; the message. (Under [`PanicPolicy::Fail`](crate::PanicPolicy) the
    /// run call also returns [`LoopError::Panicked`](crate::LoopError::Panicked).)
    Panicked(String),
}

impl JoinError {
    /// True for [`JoinError::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }

    /// True for [`JoinError::Panicked`].
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("the task was cancelled"),
            JoinError::Panicked(msg) => write!(f, "the task panicked: {msg}{}", hint(msg)),
        }
    }
}

impl std::error::Error for JoinError {}
