//! The event trace: what ran, when, in which iteration and on whose behalf, and its three
//! renderings: the text timeline (`Display`), the per-task lane view ([`Trace::lanes`]) and
//! Chrome's trace-event JSON ([`Trace::to_chrome_json`], [`chrome_json`]).

pub(crate) mod stats;

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use crate::task::join::TaskId;
use crate::time::instant::{nanos, secs_string};
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
    /// The loop was closed; the cancellations that follow are its own.
    Close,
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
            Event::Close => f.write_str("close"),
            Event::Mark(label) => write!(f, "mark {label}"),
            Event::Blocked { who, duration } => write!(f, "{who} blocks for {}", dur(*duration)),
            // asyncio's debug-mode wording, as on stderr.
            Event::SlowCallback { who, took } => {
                write!(f, "Executing {who} took {:.3}s", took.as_secs_f64())
            }
        }
    }
}

/// Every event a loop built with `trace(true)` recorded, in order.
///
/// Events are recorded as they happen; who caused each one is derived when rendering: an
/// event belongs to the step (callback run, task poll, task cancel) that precedes it in the
/// same iteration, and events before the iteration's first step (clock jumps, timers falling
/// due) belong to the loop itself.
///
/// `Display` renders the aligned text timeline that failure reports use: one line per event
/// with its instant, iteration, who and what.
///
/// ```
/// use simloop::{sleep, EventLoop};
/// use std::time::Duration;
///
/// let mut lp = EventLoop::builder().trace(true).build();
/// lp.spawn_named("ticker", async {
///     sleep(Duration::from_millis(1500)).await;
///     simloop::mark("tick");
/// });
/// lp.run().unwrap();
/// let text = lp.trace().to_string();
/// assert_eq!(
///     text.lines().collect::<Vec<_>>(),
///     [
///         "  0s  it 0  loop              spawn task #1 'ticker'",
///         "  0s  it 1  task #1 'ticker'  poll task #1",
///         "  0s  it 1  task #1 'ticker'  set timer #1 for 1.5s",
///         "1.5s  it 2  loop              clock 0s -> 1.5s",
///         "1.5s  it 2  loop              fire timer #1",
///         "1.5s  it 2  callback #1       run callback #1",
///         "1.5s  it 3  task #1 'ticker'  poll task #1",
///         "1.5s  it 3  task #1 'ticker'  mark tick",
///         "1.5s  it 3  task #1 'ticker'  finish task #1",
///     ]
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    pub(crate) events: Vec<TraceEvent>,
}

/// Whose step an event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    /// The loop itself: clock jumps, timers falling due, `close`.
    Loop,
    /// The main future of `run_until_complete`.
    Main,
    /// A spawned task.
    Task(TaskId),
    /// A callback (or a timer's callback), by id.
    Callback(u64),
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

    /// The names given to tasks at spawn.
    fn names(&self) -> BTreeMap<TaskId, &str> {
        self.events
            .iter()
            .filter_map(|e| match &e.event {
                Event::TaskSpawn {
                    task,
                    name: Some(n),
                } => Some((*task, n.as_str())),
                _ => None,
            })
            .collect()
    }

    /// Each event with the step it belongs to.
    fn owned(&self) -> Vec<(Owner, &TraceEvent)> {
        let mut step = (0, Owner::Loop);
        let mut closed = false;
        self.events
            .iter()
            .map(|e| {
                if closed {
                    return (Owner::Loop, e);
                }
                if e.iteration != step.0 {
                    step = (e.iteration, Owner::Loop);
                }
                match e.event {
                    Event::CallbackRun { id } => step.1 = Owner::Callback(id),
                    Event::TaskPoll { task: None } => step.1 = Owner::Main,
                    Event::TaskPoll { task: Some(t) } | Event::TaskCancel { task: t } => {
                        step.1 = Owner::Task(t)
                    }
                    Event::Close => {
                        closed = true;
                        step.1 = Owner::Loop;
                    }
                    _ => {}
                }
                (step.1, e)
            })
            .collect()
    }

    /// The per-task lane view: one column per task (and one for the main future and one for
    /// callbacks), one row per iteration in which something ran. A cell says what the task
    /// did in that iteration and what it waits for next: `run -> 2s` (ran and set a timer due
    /// at 2s, a sleep's usually), `run -> ?` (waits for some other wake), `run, blocks 3s`
    /// (held the loop with `block_for`), `run, done`, `cancelled`, `run, panicked`; `|` marks a
    /// task that exists but did not run. The callbacks column lists the callbacks (and timers)
    /// that ran, with how late a timer fired when it did.
    ///
    /// ```
    /// use simloop::{sleep, EventLoop};
    /// use std::time::Duration;
    ///
    /// let mut lp = EventLoop::builder().trace(true).build();
    /// for (name, secs) in [("fast", 1), ("slow", 2)] {
    ///     lp.spawn_named(name, async move {
    ///         sleep(Duration::from_secs(secs)).await;
    ///     });
    /// }
    /// lp.run().unwrap();
    /// let lanes = lp.trace().lanes().to_string();
    /// assert_eq!(
    ///     lanes.lines().collect::<Vec<_>>(),
    ///     [
    ///         "instant  it  #1 fast    #2 slow    callbacks",
    ///         "     0s   1  run -> 1s  run -> 2s",
    ///         "     1s   2  |          |          #1",
    ///         "     1s   3  run, done  |",
    ///         "     2s   4             |          #2",
    ///         "     2s   5             run, done",
    ///     ]
    /// );
    /// ```
    pub fn lanes(&self) -> Lanes<'_> {
        Lanes { trace: self }
    }

    /// The trace in Chrome's trace-event JSON format, which Perfetto (ui.perfetto.dev) and
    /// `chrome://tracing` open: one thread per task, a slice per step (as long as it blocked
    /// the loop), a `wait` slice from each step to the task's next one, and instant events for
    /// timers, clock jumps, marks, stops, panics and slow-callback warnings. Timestamps are
    /// virtual microseconds. See [`chrome_json`] to put several runs in one file.
    ///
    /// ```
    /// use simloop::EventLoop;
    /// use std::time::Duration;
    ///
    /// let mut lp = EventLoop::builder().trace(true).build();
    /// lp.call_later(Duration::from_millis(1500), || simloop::mark("tick"));
    /// lp.run().unwrap();
    /// let json = lp.trace().to_chrome_json();
    /// assert!(json.starts_with(r#"{"traceEvents":["#));
    /// assert!(json.contains(r#""name":"mark tick""#));
    /// // std::fs::write("run.trace.json", json) and open it in ui.perfetto.dev
    /// ```
    pub fn to_chrome_json(&self) -> String {
        chrome_json([("simloop", self)])
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.names();
        let owned = self.owned();
        let rows: Vec<(String, String, String)> = owned
            .iter()
            .map(|(owner, e)| {
                (
                    e.at.to_string(),
                    e.iteration.to_string(),
                    describe(*owner, &names),
                )
            })
            .collect();
        let w_at = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let w_it = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
        let w_who = rows.iter().map(|r| r.2.chars().count()).max().unwrap_or(0);
        for ((at, it, who), (_, e)) in rows.iter().zip(&owned) {
            writeln!(f, "{at:>w_at$}  it {it:<w_it$}  {who:<w_who$}  {}", e.event)?;
        }
        Ok(())
    }
}

fn describe(owner: Owner, names: &BTreeMap<TaskId, &str>) -> String {
    match owner {
        Owner::Loop => "loop".to_string(),
        Owner::Main => "main".to_string(),
        Owner::Task(t) => match names.get(&t) {
            Some(n) => format!("task {t} '{n}'"),
            None => format!("task {t}"),
        },
        Owner::Callback(id) => format!("callback #{id}"),
    }
}

/// The per-task lane view of a [`Trace`], from [`Trace::lanes`]; render it with `Display`.
#[derive(Clone, Copy, Debug)]
pub struct Lanes<'a> {
    trace: &'a Trace,
}

/// One row of the lane view: instant, iteration, each lane's cell, the callbacks that ran.
type Row = (Instant, u64, BTreeMap<Owner, Cell>, Vec<String>);

/// What one lane shows in one row.
#[derive(Clone, Debug, Default)]
struct Cell {
    ran: bool,
    wait: Option<Instant>,
    blocked: Duration,
    end: Option<&'static str>,
}

impl Cell {
    fn text(&self) -> String {
        let mut s = String::new();
        if self.ran {
            s.push_str("run");
        }
        if !self.blocked.is_zero() {
            let _ = write!(s, ", blocks {}", dur(self.blocked));
        }
        match (self.end, self.wait) {
            (Some(end), _) if s.is_empty() => s.push_str(end),
            (Some(end), _) => {
                let _ = write!(s, ", {end}");
            }
            (None, Some(t)) => {
                let _ = write!(s, " -> {t}");
            }
            (None, None) => s.push_str(" -> ?"),
        }
        s
    }
}

impl fmt::Display for Lanes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.trace.names();
        // The lanes: main first if it ran, then the tasks by id (sorted below).
        let mut lanes: Vec<Owner> = Vec::new();
        // Rows: (instant, iteration) -> per-lane cells and the callbacks that ran.
        let mut rows: Vec<Row> = Vec::new();
        // Timers that fired late, until their callback runs.
        let mut late: BTreeMap<u64, Duration> = BTreeMap::new();
        for (owner, e) in self.trace.owned() {
            if let Event::TimerFire { id, lateness } = e.event {
                if !lateness.is_zero() {
                    late.insert(id, lateness);
                }
            }
            // Only steps and what shapes a task's cell make rows.
            let lane = match (&e.event, owner) {
                (Event::CallbackRun { .. }, _) => None,
                (
                    Event::TaskPoll { .. }
                    | Event::TimerSet { .. }
                    | Event::Blocked { .. }
                    | Event::TaskFinish { .. }
                    | Event::TaskCancel { .. }
                    | Event::Panic { .. },
                    Owner::Main | Owner::Task(_),
                ) => Some(owner),
                _ => continue,
            };
            if rows.last().is_none_or(|r| r.1 != e.iteration) {
                rows.push((e.at, e.iteration, BTreeMap::new(), Vec::new()));
            }
            let row = rows.last_mut().expect("just pushed");
            let Some(lane) = lane else {
                if let Event::CallbackRun { id } = e.event {
                    row.3.push(match late.remove(&id) {
                        Some(l) => format!("#{id} ({} late)", dur(l)),
                        None => format!("#{id}"),
                    });
                }
                continue;
            };
            if !lanes.contains(&lane) {
                lanes.push(lane);
            }
            let cell = row.2.entry(lane).or_default();
            match &e.event {
                Event::TaskPoll { .. } => cell.ran = true,
                Event::TimerSet { when, .. } => cell.wait = Some(*when),
                Event::Blocked { duration, .. } => cell.blocked += *duration,
                Event::TaskFinish { .. } => cell.end = Some("done"),
                Event::TaskCancel { .. } => cell.end = Some("cancelled"),
                Event::Panic { .. } => cell.end = Some("panicked"),
                _ => {}
            }
        }
        lanes.sort();
        let header: Vec<String> = lanes
            .iter()
            .map(|l| match *l {
                Owner::Task(t) => match names.get(&t) {
                    Some(n) => format!("{t} {n}"),
                    None => t.to_string(),
                },
                _ => "main".to_string(),
            })
            .collect();
        // Each lane is `|` from its first row to its end, blank outside.
        let mut alive: BTreeMap<Owner, bool> = BTreeMap::new();
        let mut table: Vec<(String, String, Vec<String>, String)> = Vec::new();
        for (at, it, cells, callbacks) in &rows {
            let mut texts = Vec::new();
            for lane in &lanes {
                let text = match cells.get(lane) {
                    Some(cell) => {
                        alive.insert(*lane, cell.end.is_none());
                        cell.text()
                    }
                    None if alive.get(lane) == Some(&true) => "|".to_string(),
                    None => String::new(),
                };
                texts.push(text);
            }
            let cbs = callbacks.join(" ");
            table.push((at.to_string(), it.to_string(), texts, cbs));
        }
        let w_at = table.iter().map(|r| r.0.len()).max().unwrap_or(0).max(7);
        let w_it = table.iter().map(|r| r.1.len()).max().unwrap_or(0).max(2);
        let widths: Vec<usize> = (0..lanes.len())
            .map(|i| {
                table
                    .iter()
                    .map(|r| r.2[i].chars().count())
                    .chain([header[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut line = format!("{:<w_at$}  {:<w_it$}", "instant", "it");
        for (h, w) in header.iter().zip(&widths) {
            let _ = write!(line, "  {h:<w$}");
        }
        line.push_str("  callbacks");
        writeln!(f, "{}", line.trim_end())?;
        for (at, it, texts, cbs) in &table {
            let mut line = format!("{at:>w_at$}  {it:>w_it$}");
            for (t, w) in texts.iter().zip(&widths) {
                let _ = write!(line, "  {t:<w$}");
            }
            let _ = write!(line, "  {cbs}");
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// Several traces (one per run, each named) in one Chrome trace-event JSON document: each run
/// is a process, each of its tasks a thread. See [`Trace::to_chrome_json`].
///
/// ```
/// use simloop::{chrome_json, EventLoop};
/// use std::time::Duration;
///
/// let run = |d| {
///     let mut lp = EventLoop::builder().trace(true).build();
///     lp.call_later(d, || simloop::mark("tick"));
///     lp.run().unwrap();
///     lp.trace()
/// };
/// let (a, b) = (run(Duration::from_secs(1)), run(Duration::from_secs(2)));
/// let json = chrome_json([("first", &a), ("second", &b)]);
/// assert!(json.contains(r#""name":"process_name","ph":"M","pid":2"#));
/// ```
pub fn chrome_json<'a>(runs: impl IntoIterator<Item = (&'a str, &'a Trace)>) -> String {
    let mut out = String::from("{\"traceEvents\":[");
    let mut first = true;
    for (pid, (name, trace)) in runs.into_iter().enumerate() {
        write_run(&mut out, &mut first, pid + 1, name, trace);
    }
    out.push_str("],\"displayTimeUnit\":\"ms\",\"otherData\":{\"clock\":\"virtual\"}}");
    out
}

/// Virtual nanoseconds as trace-event microseconds, exactly.
fn micros(nanos: u64) -> String {
    let (whole, frac) = (nanos / 1000, nanos % 1000);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:03}")
    }
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn tid(owner: Owner) -> u64 {
    match owner {
        Owner::Loop | Owner::Callback(_) => 0,
        Owner::Main => 1,
        Owner::Task(t) => t.0 + 1,
    }
}

fn write_run(out: &mut String, first: &mut bool, pid: usize, name: &str, trace: &Trace) {
    let mut push = |out: &mut String, body: String| {
        if !std::mem::take(first) {
            out.push(',');
        }
        out.push('{');
        out.push_str(&body);
        out.push('}');
    };
    let names = trace.names();
    push(
        out,
        format!(
            "\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":0,\"args\":{{\"name\":{}}}",
            json_str(name)
        ),
    );
    let owned = trace.owned();
    let mut threads: Vec<Owner> = vec![Owner::Loop];
    for (owner, _) in &owned {
        let lane = match owner {
            Owner::Callback(_) => Owner::Loop,
            o => *o,
        };
        if !threads.contains(&lane) {
            threads.push(lane);
        }
    }
    threads.sort();
    for owner in &threads {
        let thread = match owner {
            Owner::Loop | Owner::Callback(_) => "loop and callbacks".to_string(),
            o => describe(*o, &names),
        };
        push(
            out,
            format!(
                "\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":{},\"args\":{{\"name\":{}}}",
                tid(*owner),
                json_str(&thread)
            ),
        );
    }
    // A step is a slice as long as it blocked the loop; a task's wait runs from the end of
    // one of its steps to the start of its next.
    let mut wait_from: BTreeMap<Owner, (u64, Option<Instant>)> = BTreeMap::new();
    let mut i = 0;
    while i < owned.len() {
        let (owner, e) = owned[i];
        let at = e.at.as_nanos();
        let slice = match &e.event {
            Event::CallbackRun { id } => Some(format!("callback #{id}")),
            Event::TaskPoll { .. } => Some("poll".to_string()),
            _ => None,
        };
        if let Some(slice) = slice {
            // The step's extent: its own events up to the next step or iteration.
            let mut blocked = 0u64;
            let mut j = i + 1;
            while j < owned.len() && owned[j].0 == owner && owned[j].1.iteration == e.iteration {
                if !matches!(
                    owned[j].1.event,
                    Event::CallbackRun { .. } | Event::TaskPoll { .. }
                ) {
                    if let Event::Blocked { duration, .. } = owned[j].1.event {
                        blocked += nanos(duration);
                    }
                    j += 1;
                } else {
                    break;
                }
            }
            if let Some((from, until)) = wait_from.remove(&owner) {
                let label = until.map_or_else(|| "wait".to_string(), |t| format!("wait until {t}"));
                push(
                    out,
                    format!(
                        "\"name\":{},\"cat\":\"wait\",\"ph\":\"X\",\"ts\":{},\"dur\":{},\"pid\":{pid},\"tid\":{}",
                        json_str(&label),
                        micros(from),
                        micros(at - from),
                        tid(owner)
                    ),
                );
            }
            push(
                out,
                format!(
                    "\"name\":{},\"cat\":\"step\",\"ph\":\"X\",\"ts\":{},\"dur\":{},\"pid\":{pid},\"tid\":{},\"args\":{{\"iteration\":{}}}",
                    json_str(&slice),
                    micros(at),
                    micros(blocked),
                    tid(owner),
                    e.iteration
                ),
            );
            if matches!(owner, Owner::Main | Owner::Task(_)) {
                let until = owned[i + 1..j]
                    .iter()
                    .rev()
                    .find_map(|(_, e)| match e.event {
                        Event::TimerSet { when, .. } => Some(when),
                        _ => None,
                    });
                let finished = owned[i + 1..j].iter().any(|(_, e)| {
                    matches!(e.event, Event::TaskFinish { .. } | Event::Panic { .. })
                });
                if !finished {
                    wait_from.insert(owner, (at + blocked, until));
                }
            }
        }
        let instant = match &e.event {
            Event::TimerFire { id, lateness } => Some((
                format!("fire timer #{id}"),
                format!(",\"args\":{{\"lateness_us\":{}}}", micros(nanos(*lateness))),
            )),
            Event::ClockJump { .. }
            | Event::Stop
            | Event::Close
            | Event::Mark(_)
            | Event::Panic { .. }
            | Event::SlowCallback { .. }
            | Event::TaskSpawn { .. }
            | Event::TaskFinish { .. }
            | Event::TaskCancel { .. } => Some((e.event.to_string(), String::new())),
            _ => None,
        };
        if let Some((label, args)) = instant {
            push(
                out,
                format!(
                    "\"name\":{},\"cat\":\"event\",\"ph\":\"i\",\"s\":\"t\",\"ts\":{},\"pid\":{pid},\"tid\":{}{args}",
                    json_str(&label),
                    micros(at),
                    tid(owner)
                ),
            );
        }
        i += 1;
    }
}
