//! What can go wrong: [`LoopError`] for run calls, [`JoinError`] for tasks.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use crate::instant::secs_string;
use crate::task::TaskId;
use crate::Instant;

/// A spawned task that has not finished, as listed by [`EventLoop::pending_tasks`] and
/// [`LoopError::Stalled`].
///
/// [`EventLoop::pending_tasks`]: crate::EventLoop::pending_tasks
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task's id, unique within its loop, in spawn order.
    pub id: TaskId,
    /// The name given with `spawn_named`, if any.
    pub name: Option<String>,
    /// Where `spawn` was called.
    pub spawned_at: &'static Location<'static>,
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " '{name}'")?;
        }
        write!(f, " (spawned at {})", self.spawned_at)
    }
}

/// Why a run call (`run_until_complete`, `run_forever`, `run`, `run_until`, `advance`,
/// `run_once`) returned early. Each variant carries the virtual instant it happened at, and
/// `Display` reads as a sentence.
///
/// ```
/// use simloop::{EventLoop, LoopError};
///
/// let mut lp = EventLoop::new();
/// // A future that nothing will ever wake: CPython would hang here, simloop says so.
/// let err = lp.run_until_complete(futures::future::pending::<()>()).unwrap_err();
/// assert!(matches!(err, LoopError::Stalled { .. }));
/// assert!(err.to_string().starts_with("the loop stalled at 0s"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoopError {
    /// Nothing is ready, no timer is live, and the run cannot end: the main future of
    /// `run_until_complete` is still waiting, or `run_forever` has no `stop()` coming.
    Stalled {
        /// When the loop ran out of work.
        at: Instant,
        /// Every task that has not finished, in spawn order.
        pending: Vec<TaskInfo>,
    },
    /// `stop()` was called before the main future of `run_until_complete` completed.
    StoppedBeforeComplete {
        /// When the loop stopped.
        at: Instant,
    },
    /// A callback or task panicked (under [`PanicPolicy::Fail`](crate::PanicPolicy)), or the
    /// main future panicked.
    Panicked {
        /// When it panicked.
        at: Instant,
        /// What panicked: a task with its id, name and spawn site, a callback with the place
        /// it was scheduled from, or the main future.
        who: String,
        /// The panic message.
        message: String,
    },
    /// The clock would have passed the builder's `time_limit`.
    TimeLimit {
        /// The clock when the limit stopped it.
        at: Instant,
        /// The limit, as set on the builder.
        limit: Duration,
    },
    /// The loop ran as many callbacks and task steps as the builder's `step_limit` allows.
    StepLimit {
        /// The clock when the limit stopped it.
        at: Instant,
        /// The limit, as set on the builder.
        limit: u64,
    },
    /// A run call was made while a simloop loop was already running on this thread.
    NestedRun {
        /// The clock of the loop the call was made on.
        at: Instant,
    },
    /// The loop was closed.
    Closed {
        /// The clock when it was closed.
        at: Instant,
    },
}

impl LoopError {
    /// The virtual instant the error happened at.
    pub fn at(&self) -> Instant {
        match self {
            LoopError::Stalled { at, .. }
            | LoopError::StoppedBeforeComplete { at }
            | LoopError::Panicked { at, .. }
            | LoopError::TimeLimit { at, .. }
            | LoopError::StepLimit { at, .. }
            | LoopError::NestedRun { at }
            | LoopError::Closed { at } => *at,
        }
    }
}

impl fmt::Display for LoopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoopError::Stalled { at, pending } => {
                write!(
                    f,
                    "the loop stalled at {at}: nothing is ready, no timer is pending, and the \
                     run cannot end (a real event loop would hang here forever)"
                )?;
                match pending.len() {
                    0 => write!(f, "; no spawned task is pending"),
                    n => {
                        let s = if n == 1 { "" } else { "s" };
                        write!(f, "; {n} task{s} still pending: ")?;
                        for (i, t) in pending.iter().enumerate() {
                            if i > 0 {
                                f.write_str(", ")?;
                            }
                            write!(f, "{t}")?;
                        }
                        Ok(())
                    }
                }
            }
            LoopError::StoppedBeforeComplete { at } => write!(
                f,
                "the loop was stopped at {at} before the main future completed; run it again \
                 to resume (pass `&mut join_handle` to keep waiting for a task)"
            ),
            LoopError::Panicked { at, who, message } => {
                write!(f, "{who} panicked at {at}: {message}")
            }
            LoopError::TimeLimit { at, limit } => write!(
                f,
                "the loop reached its time limit of {} at {at}: something keeps scheduling \
                 timers (raise Builder::time_limit if this is expected)",
                secs_string(crate::instant::nanos(*limit))
            ),
            LoopError::StepLimit { at, limit } => write!(
                f,
                "the loop ran its step limit of {limit} callbacks and task steps at {at}: \
                 something keeps rescheduling itself (raise Builder::step_limit if this is \
                 expected)"
            ),
            LoopError::NestedRun { at } => write!(
                f,
                "a run call was made at {at} while a simloop loop is already running on this \
                 thread; spawn the work or await it instead of running a loop inside the loop"
            ),
            LoopError::Closed { at } => {
                write!(f, "the loop was closed at {at} and cannot run again")
            }
        }
    }
}

impl std::error::Error for LoopError {}

/// Why a task's [`JoinHandle`](crate::JoinHandle) did not yield its output.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// The task was cancelled with `JoinHandle::cancel`, or its loop was closed first.
    Cancelled,
    /// The task panicked; the message. (Under [`PanicPolicy::Fail`](crate::PanicPolicy) the
    /// run call also returns [`LoopError::Panicked`].)
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
            JoinError::Panicked(msg) => write!(f, "the task panicked: {msg}"),
        }
    }
}

impl std::error::Error for JoinError {}

/// The text of a caught panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_string()
    }
}
