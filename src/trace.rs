//! The event trace: what ran, when, and in which iteration.

use std::fmt;
use std::time::Duration;

use crate::instant::{nanos, secs_string};
use crate::task::TaskId;
use crate::Instant;

/// One recorded event, with the virtual instant and the loop iteration it happened in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// When it happened.
    pub at: Instant,
    /// The iteration it happened in (0 before the first run).
    pub iteration: u64,
    /// What happened.
    pub event: Event,
}

/// What a [`TraceEvent`] records.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A callback ran. `id` is the id of its `CallbackHandle` or `TimerHandle`.
    CallbackRun {
        /// The callback's id.
        id: u64,
    },
    /// A task was spawned.
    TaskSpawn {
        /// The task.
        task: TaskId,
        /// Its name, if it has one.
        name: Option<String>,
    },
    /// A task (or the main future, with `task` `None`) was polled.
    TaskPoll {
        /// The task, or `None` for the main future.
        task: Option<TaskId>,
    },
    /// A task completed.
    TaskFinish {
        /// The task, or `None` for the main future.
        task: Option<TaskId>,
    },
    /// A task's future was dropped by `cancel()` or by `close()`.
    TaskCancel {
        /// The task.
        task: TaskId,
    },
    /// A callback or task panicked.
    Panic {
        /// What panicked.
        who: String,
        /// The panic message.
        message: String,
    },
    /// A timer was registered.
    TimerSet {
        /// The timer's id.
        id: u64,
        /// Its deadline.
        when: Instant,
    },
    /// A timer fell due and moved to the ready queue.
    TimerFire {
        /// The timer's id.
        id: u64,
        /// How long after its deadline (non-zero only after `block_for`).
        lateness: Duration,
    },
    /// A pending timer or callback was cancelled.
    Cancel {
        /// Its id.
        id: u64,
    },
    /// The clock jumped forward to the next timer.
    ClockJump {
        /// The clock before.
        from: Instant,
        /// The clock after.
        to: Instant,
    },
    /// `stop()` was called.
    Stop,
    /// A user mark, from [`mark`](crate::mark).
    Mark(String),
    /// `block_for` held the loop for a while.
    Blocked {
        /// What blocked.
        who: String,
        /// For how long.
        duration: Duration,
    },
    /// A callback or task step blocked at least the builder's `slow_callback` threshold.
    SlowCallback {
        /// What was slow.
        who: String,
        /// How long it blocked.
        took: Duration,
    },
}

fn dur(d: Duration) -> String {
    secs_string(nanos(d))
}

fn task_name(task: &Option<TaskId>) -> String {
    task.map_or_else(|| "main".to_string(), |t| format!("task {t}"))
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::CallbackRun { id } => write!(f, "run callback #{id}"),
            Event::TaskSpawn {
                task,
                name: Some(n),
            } => write!(f, "spawn task {task} '{n}'"),
            Event::TaskSpawn { task, name: None } => write!(f, "spawn task {task}"),
            Event::TaskPoll { task } => write!(f, "poll {}", task_name(task)),
            Event::TaskFinish { task } => write!(f, "finish {}", task_name(task)),
            Event::TaskCancel { task } => write!(f, "cancel task {task}"),
            Event::Panic { who, message } => write!(f, "panic in {who}: {message}"),
            Event::TimerSet { id, when } => write!(f, "set timer #{id} for {when}"),
            Event::TimerFire { id, lateness } if lateness.is_zero() => {
                write!(f, "fire timer #{id}")
            }
            Event::TimerFire { id, lateness } => {
                write!(f, "fire timer #{id} ({} late)", dur(*lateness))
            }
            Event::Cancel { id } => write!(f, "cancel #{id}"),
            Event::ClockJump { from, to } => write!(f, "clock {from} -> {to}"),
            Event::Stop => f.write_str("stop"),
            Event::Mark(label) => write!(f, "mark {label}"),
            Event::Blocked { who, duration } => write!(f, "{who} blocks for {}", dur(*duration)),
            Event::SlowCallback { who, took } => write!(f, "Executing {who} took {}", dur(*took)),
        }
    }
}

/// Every event a loop built with `trace(true)` recorded, in order.
///
/// `Display` renders an aligned text timeline, one event per line:
///
/// ```
/// use simloop::EventLoop;
/// use std::time::Duration;
///
/// let mut lp = EventLoop::builder().trace(true).build();
/// lp.call_later(Duration::from_millis(1500), || simloop::mark("tick"));
/// lp.run().unwrap();
/// let text = lp.trace().to_string();
/// assert!(text.contains("1.5s"));
/// assert!(text.contains("mark tick"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    pub(crate) events: Vec<TraceEvent>,
}

impl Trace {
    /// The recorded events, oldest first.
    pub fn events(&self) -> &[TraceEvent] {
        &self.events
    }

    /// True if nothing was recorded (tracing off, or nothing happened).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .events
            .iter()
            .map(|e| e.at.to_string().len())
            .max()
            .unwrap_or(2);
        for e in &self.events {
            writeln!(
                f,
                "{:>width$}  it {:<5} {}",
                e.at.to_string(),
                e.iteration,
                e.event
            )?;
        }
        Ok(())
    }
}
