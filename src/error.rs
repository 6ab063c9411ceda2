//! What can go wrong: [`LoopError`] for run calls, [`JoinError`] for tasks.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use crate::task::join::TaskId;
use crate::task::panic::hint;
use crate::time::instant::secs_string;
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
        /// Why nothing will wake the waiters: timers that can never fire, wakers held
        /// outside the loop. (Boxed, so that `LoopError`, returned all along the run loop,
        /// stays small.)
        detail: Box<StallDetail>,
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
        /// Who kept scheduling timers: who set the timer that would have moved the clock
        /// past the limit (a task, or the place a callback was scheduled from), or
        /// `block_for(<duration>) at <place>`. `None` when a run call's own target lies past
        /// the limit.
        culprit: Option<String>,
    },
    /// The loop ran as many callbacks and task steps as the builder's `step_limit` allows.
    StepLimit {
        /// The clock when the limit stopped it.
        at: Instant,
        /// The limit, as set on the builder.
        limit: u64,
        /// Who kept rescheduling itself: the task (or the place callbacks were scheduled
        /// from) that took the most of the last 128 steps (on a tie, the latest of them).
        /// `None` if the limit is 0.
        culprit: Option<String>,
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
            LoopError::Stalled {
                at,
                pending,
                detail,
            } => {
                let StallDetail {
                    never_due,
                    held_outside,
                    awaits_other_loop,
                } = &**detail;
                let timers = match never_due {
                    0 => "no timer is pending".to_string(),
                    n => format!(
                        "no timer can fire: the pending deadlines are at Instant::MAX ({n} \
                         timer{})",
                        if *n == 1 { "" } else { "s" }
                    ),
                };
                write!(
                    f,
                    "the loop stalled at {at}: nothing is ready, {timers}, and the run cannot \
                     end (a real event loop would hang here forever)"
                )?;
                match pending.len() {
                    0 => write!(f, "; no spawned task is pending")?,
                    n => {
                        let s = if n == 1 { "" } else { "s" };
                        write!(f, "; {n} task{s} still pending: ")?;
                        for (i, t) in pending.iter().enumerate() {
                            if i > 0 {
                                f.write_str(", ")?;
                            }
                            write!(f, "{t}")?;
                        }
                    }
                }
                if !held_outside.is_empty() {
                    let s = if held_outside.len() == 1 { "" } else { "s" };
                    write!(f, "; something outside the loop holds the waker{s} of ")?;
                    for (i, w) in held_outside.iter().enumerate() {
                        let sep = match i {
                            0 => "",
                            _ if i + 1 == held_outside.len() => " and ",
                            _ => ", ",
                        };
                        write!(f, "{sep}{w}")?;
                    }
                    write!(
                        f,
                        " (a channel or lock, another thread, another loop), and nothing left \
                         in this loop will wake {}",
                        if held_outside.len() == 1 {
                            "it"
                        } else {
                            "them"
                        }
                    )?;
                }
                for (waiter, task) in awaits_other_loop {
                    write!(
                        f,
                        "; {waiter} awaits the JoinHandle of task {task} of another loop, which \
                         only that loop runs: run that loop until the task finishes, or spawn \
                         the task on this one"
                    )?;
                }
                Ok(())
            }
            LoopError::StoppedBeforeComplete { at } => write!(
                f,
                "the loop was stopped at {at} before the main future completed; run it again \
                 to resume (pass `&mut join_handle` to keep waiting for a task)"
            ),
            LoopError::Panicked { at, who, message } => {
                write!(f, "{who} panicked at {at}: {message}{}", hint(message))
            }
            LoopError::TimeLimit { at, limit, culprit } => {
                write!(
                    f,
                    "the loop reached its time limit of {} at {at}: ",
                    secs_string(crate::time::instant::nanos(*limit))
                )?;
                match culprit.as_deref() {
                    Some(c) if c.starts_with("block_for(") => {
                        write!(f, "{c} would move the clock past it")?;
                    }
                    culprit => write!(
                        f,
                        "{} keeps scheduling timers",
                        culprit.unwrap_or("something")
                    )?,
                }
                f.write_str(" (raise Builder::time_limit if this is expected)")
            }
            LoopError::StepLimit { at, limit, culprit } => write!(
                f,
                "the loop ran its step limit of {limit} callbacks and task steps at {at}: {} \
                 keeps rescheduling itself (raise Builder::step_limit if this is expected)",
                culprit.as_deref().unwrap_or("something")
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

/// Why nothing will wake the waiters of a stalled loop; see [`LoopError::Stalled`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StallDetail {
    /// How many timers are pending at [`Instant::MAX`] (their deadline saturated there):
    /// they can never fire.
    pub never_due: usize,
    /// Who waits with its waker held by something outside the loop (a channel or lock,
    /// another thread, another loop), which the loop never waits for: the tasks in spawn
    /// order, then the main future. A waiter whose waker only another task of this loop holds
    /// (awaiting its `JoinHandle`) is not listed. Empty when timers at `Instant::MAX` are
    /// pending, since they may hold wakers themselves.
    pub held_outside: Vec<Waiter>,
    /// Who, among `held_outside`, awaits the `JoinHandle` of a task of another loop (that
    /// task's id, in its loop): only that loop runs the task.
    pub awaits_other_loop: Vec<(Waiter, TaskId)>,
}

/// Who waits in a stalled loop with its waker held outside it; see [`StallDetail`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Waiter {
    /// A spawned task.
    Task(TaskInfo),
    /// The main future of `run_until_complete`.
    Main,
}

impl fmt::Display for Waiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waiter::Task(t) => {
                write!(f, "task {}", t.id)?;
                match &t.name {
                    Some(name) => write!(f, " '{name}'"),
                    None => Ok(()),
                }
            }
            Waiter::Main => f.write_str("the main future"),
        }
    }
}
