//! The ordering contract (SPEC §3.1, §3.2) as an executable check, shared by
//! `tests/properties.rs` (proptest), `tests/fuzz_corpus.rs` (the checked-in fuzz corpus on
//! stable) and the cargo-fuzz targets in `fuzz/` (included there by `#[path]`).
//!
//! Four parts:
//! - [`Op`]: one operation of a test program: schedule a callback or a timer, spawn a task
//!   that sleeps, yields, waits and signals, cancel a handle, stop, or one of the run calls.
//!   Callbacks carry a [`Then`], one more thing they do when they run.
//! - [`Model`]: the reference. Plain code written from the SPEC, with no executor in it: a
//!   list of timers kept sorted by (deadline, registration), a FIFO queue, and a loop over
//!   a snapshot. It predicts the exact event log: what ran, at which instant, in which
//!   iteration.
//! - [`run_real`]: runs the same program on a real `simloop::EventLoop`. Every callback and
//!   every task step calls `simloop::mark(label)`; the log is the list of marks in the
//!   loop's trace, each with the instant and the iteration the loop recorded for it.
//! - the checks: [`check_model`], [`check_time`], [`check_timers`], [`check_cancel`],
//!   [`check_determinism`], [`check_close`], and [`check_all`] for the fuzz targets;
//!   [`check_any_schedule`] for what holds under every [`Schedule`] (the `schedule` target).
//!
//! Labels in the log: `c7` callback or timer of handle 7 ran; `c7 x2=true` callback 7
//! cancelled handle 2 and `cancel` returned true; `t3#2` second poll of the task of handle 3;
//! `t3 done` it completed; `x2=false` the test driver cancelled handle 2; `=run ok` a run
//! call returned (the instant is the clock after it).

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use futures::future::select;
use simloop::{
    CallbackHandle, Event, EventLoop, Instant, JoinHandle, LoopError, Schedule, TimerHandle, Trace,
};

/// One millisecond in nanoseconds: every delay in these programs is a whole number of ms.
pub const MS: u64 = 1_000_000;
/// How many [`Notify`] channels the tasks share.
pub const CHANS: usize = 2;
/// Longest program the fuzz targets decode.
pub const MAX_OPS: usize = 48;
/// Most steps in one task.
pub const MAX_STEPS: usize = 4;

// ---------------------------------------------------------------------------------------
// The operations
// ---------------------------------------------------------------------------------------

/// A delay of 0..=4 ms: few values, so deadlines collide often.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ms(pub u8);

/// An absolute instant, 0..=11 ms: may lie in the past when used.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct At(pub u8);

/// A [`Notify`] channel, 0..CHANS.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Chan(pub u8);

/// The steps of a task, at most [`MAX_STEPS`].
#[derive(Clone, PartialEq, Eq)]
pub struct Steps(pub Vec<Step>);

impl Ms {
    fn nanos(self) -> u64 {
        u64::from(self.0) * MS
    }
}

impl At {
    fn nanos(self) -> u64 {
        u64::from(self.0) * MS
    }
}

impl Chan {
    fn index(self) -> usize {
        usize::from(self.0) % CHANS
    }
}

impl<'a> Arbitrary<'a> for Ms {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Ms(u.int_in_range(0..=4)?))
    }
    fn size_hint(_: usize) -> (usize, Option<usize>) {
        (1, Some(1))
    }
}

impl<'a> Arbitrary<'a> for At {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(At(u.int_in_range(0..=11)?))
    }
    fn size_hint(_: usize) -> (usize, Option<usize>) {
        (1, Some(1))
    }
}

impl<'a> Arbitrary<'a> for Chan {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Chan(u.int_in_range(0..=(CHANS as u8 - 1))?))
    }
    fn size_hint(_: usize) -> (usize, Option<usize>) {
        (1, Some(1))
    }
}

impl<'a> Arbitrary<'a> for Steps {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let n = u.int_in_range(0..=MAX_STEPS)?;
        let mut steps = Vec::with_capacity(n);
        for _ in 0..n {
            steps.push(u.arbitrary()?);
        }
        Ok(Steps(steps))
    }
}

impl fmt::Debug for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

impl fmt::Debug for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}ms", self.0)
    }
}

impl fmt::Debug for Chan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ch{}", self.index())
    }
}

impl fmt::Debug for Steps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

/// One step of a spawned task.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Arbitrary)]
pub enum Step {
    /// `simloop::sleep(d).await`.
    Sleep(Ms),
    /// `simloop::yield_now().await`.
    Yield,
    /// Wait for a permit of the channel (FIFO among waiters).
    Wait(Chan),
    /// Give one permit to the channel: wakes its first waiter, if any (a cross-task wake).
    Signal(Chan),
    /// `futures::future::select(sleep(d), wait(ch))`: a timeout. Both sides can wake the
    /// task in the same iteration; it must still be queued once.
    Race(Ms, Chan),
}

/// What a callback does when it runs, after logging itself.
#[derive(Clone, PartialEq, Eq, Debug, Arbitrary)]
pub enum Then {
    /// Nothing more.
    Nothing,
    /// `simloop::stop()`.
    Stop,
    /// `simloop::call_soon` of a callback that does nothing more.
    CallSoon,
    /// `simloop::call_later` of a callback that does nothing more.
    CallLater(Ms),
    /// `simloop::spawn` of a task.
    Spawn(Steps),
    /// Cancel the handle with this index (modulo the number of handles so far).
    Cancel(u8),
    /// Signal a channel.
    Signal(Chan),
}

/// One operation of the test driver, between run calls.
#[derive(Clone, PartialEq, Eq, Debug, Arbitrary)]
pub enum Op {
    /// `EventLoop::call_soon`.
    CallSoon(Then),
    /// `EventLoop::call_later`.
    CallLater(Ms, Then),
    /// `EventLoop::call_at` (possibly in the past).
    CallAt(At, Then),
    /// `EventLoop::spawn` of a task.
    Spawn(Steps),
    /// Cancel the handle with this index (modulo the number of handles so far; nothing if
    /// there is none yet). Callback, timer or task.
    Cancel(u8),
    /// `EventLoop::stop` (a stop pending before the next run call).
    Stop,
    /// `EventLoop::run_once`.
    RunOnce,
    /// `EventLoop::run_until`.
    RunUntil(At),
    /// `EventLoop::advance`.
    Advance(Ms),
    /// `EventLoop::run`.
    Run,
}

/// Decodes a program from fuzzer bytes (at most [`MAX_OPS`] operations).
pub fn ops_from_bytes(data: &[u8]) -> Vec<Op> {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    if let Ok(iter) = u.arbitrary_iter::<Op>() {
        for op in iter.take(MAX_OPS) {
            match op {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
    }
    ops
}

/// The `schedule` fuzz target's input: timers crowded onto three deadlines (0, 1 and 2 ms)
/// and tasks that wake each other through the channels.
#[derive(Clone, Debug, Arbitrary)]
pub enum SchedOp {
    /// `call_at` at 0, 1 or 2 ms.
    Timer(Tick, SchedThen),
    /// A task of waits, signals, short sleeps and yields.
    Task(Steps),
    /// `run_until` 0, 1 or 2 ms.
    RunUntil(Tick),
    /// `run_once`.
    RunOnce,
}

/// 0, 1 or 2 ms.
#[derive(Clone, Copy, Debug)]
pub struct Tick(pub u8);

impl<'a> Arbitrary<'a> for Tick {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Tick(u.int_in_range(0..=2)?))
    }
    fn size_hint(_: usize) -> (usize, Option<usize>) {
        (1, Some(1))
    }
}

/// What a `schedule` timer does.
#[derive(Clone, Debug, Arbitrary)]
pub enum SchedThen {
    /// Wake the first waiter of a channel.
    Signal(Chan),
    /// Cancel a handle.
    Cancel(u8),
    /// A timer due at the same instant or one tick later.
    CallLater(Tick),
    /// Spawn a task.
    Spawn(Steps),
    /// Stop the run call.
    Stop,
}

/// Decodes a `schedule` program: the [`SchedOp`]s, then `run()` until quiescent.
pub fn schedule_ops_from_bytes(data: &[u8]) -> Vec<Op> {
    split_schedule_input(data).0
}

/// Splits a `schedule` input: the program is decoded from the front (as by
/// [`schedule_ops_from_bytes`]; `arbitrary_iter` ends at a byte with the low bit clear), and
/// whatever the decoding left over becomes the bytes of the schedule
/// (`Schedule::from_bytes`).
pub fn split_schedule_input(data: &[u8]) -> (Vec<Op>, &[u8]) {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    if let Ok(iter) = u.arbitrary_iter::<SchedOp>() {
        for op in iter.take(MAX_OPS) {
            let Ok(op) = op else { break };
            ops.push(match op {
                SchedOp::Timer(t, then) => Op::CallAt(
                    At(t.0),
                    match then {
                        SchedThen::Signal(c) => Then::Signal(c),
                        SchedThen::Cancel(i) => Then::Cancel(i),
                        SchedThen::CallLater(t) => Then::CallLater(Ms(t.0 % 2)),
                        SchedThen::Spawn(s) => Then::Spawn(s),
                        SchedThen::Stop => Then::Stop,
                    },
                ),
                SchedOp::Task(s) => Op::Spawn(s),
                SchedOp::RunUntil(t) => Op::RunUntil(At(t.0)),
                SchedOp::RunOnce => Op::RunOnce,
            });
        }
    }
    ops.push(Op::Run);
    let rest = u.take_rest();
    (ops, rest)
}

/// The body of the `ops` fuzz target: panics on any contract violation.
pub fn fuzz_ops(data: &[u8]) {
    let ops = ops_from_bytes(data);
    if let Err(e) = check_all(&ops) {
        panic!("{e}");
    }
}

/// The body of the `schedule` fuzz target: panics on any contract violation.
///
/// The front of the input is the program, the rest drives the loop's choices
/// (`Schedule::from_bytes`, see [`split_schedule_input`]). The run is held to what the
/// contract promises under every schedule ([`check_any_schedule`]); a run that took only
/// FIFO choices is held to the model exactly.
pub fn fuzz_schedule(data: &[u8]) {
    let (ops, schedule_bytes) = split_schedule_input(data);
    if let Err(e) = check_any_schedule(&ops, &Schedule::from_bytes(schedule_bytes)) {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------------------
// The event log
// ---------------------------------------------------------------------------------------

/// One logged event: what, when (ns), in which iteration.
#[derive(Clone, PartialEq, Eq)]
pub struct Rec {
    pub label: String,
    pub at: u64,
    pub iteration: u64,
}

impl fmt::Debug for Rec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.checked_rem(MS) == Some(0) {
            write!(
                f,
                "[{}ms it{}] {}",
                self.at / MS,
                self.iteration,
                self.label
            )
        } else {
            write!(f, "[{}ns it{}] {}", self.at, self.iteration, self.label)
        }
    }
}

fn marks(trace: &Trace) -> Vec<Rec> {
    trace
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::Mark(label) => Some(Rec {
                label: label.clone(),
                at: e.at.as_nanos(),
                iteration: e.iteration,
            }),
            _ => None,
        })
        .collect()
}

/// What kind of thing a handle index names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Callback,
    Timer,
    Task,
}

/// What the driver learnt about one handle during a real run.
#[derive(Clone, Debug)]
pub struct HandleInfo {
    pub kind: Kind,
    /// The clock when it was created.
    pub registered_at: u64,
    /// A timer's deadline.
    pub deadline: Option<u64>,
    /// Some `cancel()` of it returned true.
    pub cancelled: bool,
    /// How often the destructor of its closure or future ran.
    pub drops: u32,
    /// Whether that happened inside `close()`.
    pub dropped_in_close: bool,
}

// ---------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Item {
    Entry(usize),
    Task(usize),
}

#[derive(Clone, Debug)]
enum Action {
    /// A user callback or timer: logs `c{h}`, then does `then`.
    User { h: usize, then: Then },
    /// The timer of a task's sleep: wakes the task.
    Wake { task: usize },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum EntryState {
    /// In the ready queue.
    Queued,
    /// In the timer list.
    Timer,
    /// It ran.
    Ran,
    Cancelled,
}

#[derive(Clone, Debug)]
struct MEntry {
    action: Action,
    state: EntryState,
}

#[derive(Clone, Debug)]
struct MTimer {
    deadline: u64,
    entry: usize,
}

#[derive(Clone, Debug)]
struct MTask {
    h: usize,
    steps: Vec<Step>,
    pc: usize,
    polls: u32,
    /// A step of it sits in the ready queue (then a wake queues nothing).
    queued: bool,
    finished: bool,
    cancel_requested: bool,
    /// The entry of the current sleep's timer.
    sleep: Option<usize>,
    /// The current yield has woken the task already.
    yielded: bool,
    /// Waiting on a channel: `Some(granted)`.
    wait: Option<bool>,
}

#[derive(Clone, Copy, Debug)]
enum MHandle {
    Entry(usize),
    Task(usize),
}

/// Which run call: when it ends.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RunMode {
    Run,
    Once,
    Until(u64),
}

/// The reference model of SPEC §3.1/§3.2. Obviously correct, slow, no executor.
#[derive(Clone, Debug, Default)]
pub struct Model {
    now: u64,
    iteration: u64,
    stopping: bool,
    /// The FIFO ready queue.
    ready: VecDeque<Item>,
    /// Live timers, kept sorted by (deadline, registration): a new timer goes after every
    /// timer with a deadline <= its own.
    timers: Vec<MTimer>,
    entries: Vec<MEntry>,
    tasks: Vec<MTask>,
    handles: Vec<MHandle>,
    permits: [u32; CHANS],
    waiters: [VecDeque<usize>; CHANS],
    /// The predicted event log.
    pub log: Vec<Rec>,
}

impl Model {
    /// Runs `ops` through the model.
    pub fn run(ops: &[Op]) -> Model {
        let mut m = Model::default();
        for op in ops {
            m.op(op);
        }
        m
    }

    fn log(&mut self, label: String) {
        self.log.push(Rec {
            label,
            at: self.now,
            iteration: self.iteration,
        });
    }

    fn op(&mut self, op: &Op) {
        match op {
            Op::CallSoon(then) => self.call_soon(then.clone()),
            Op::CallLater(d, then) => self.add_timer(self.now + d.nanos(), then.clone()),
            Op::CallAt(at, then) => self.add_timer(at.nanos(), then.clone()),
            Op::Spawn(steps) => self.spawn(steps),
            Op::Cancel(i) => {
                if !self.handles.is_empty() {
                    let j = usize::from(*i) % self.handles.len();
                    let r = self.cancel(j);
                    self.log(format!("x{j}={r}"));
                }
            }
            Op::Stop => self.stopping = true,
            Op::RunOnce => self.run_call(RunMode::Once, "run_once"),
            Op::RunUntil(at) => self.run_call(RunMode::Until(at.nanos()), "run_until"),
            Op::Advance(d) => self.run_call(RunMode::Until(self.now + d.nanos()), "advance"),
            Op::Run => self.run_call(RunMode::Run, "run"),
        }
    }

    /// SPEC §3.2: a run call runs iterations until its end condition holds before an
    /// iteration, or until an iteration ends with a stop pending.
    fn run_call(&mut self, mode: RunMode, name: &str) {
        loop {
            // Idle: nothing ready and no stop pending (a pending stop always gets one
            // iteration, without moving the clock).
            if self.ready.is_empty() && !self.stopping {
                let next = self.timers.first().map(|t| t.deadline);
                match mode {
                    RunMode::Run | RunMode::Once if next.is_none() => break,
                    RunMode::Until(t) if next.is_none_or(|d| d > t) => {
                        // Everything due at or before t has run: the clock goes to t, never
                        // backwards.
                        self.now = self.now.max(t);
                        break;
                    }
                    _ => {}
                }
            }
            self.iteration();
            if mode == RunMode::Once || self.stopping {
                break;
            }
        }
        self.stopping = false;
        self.log(format!("={name} ok"));
    }

    /// SPEC §3.1, one iteration.
    fn iteration(&mut self) {
        self.iteration += 1;
        // 1. The clock jumps to the earliest live deadline, only when idle and not stopping.
        if self.ready.is_empty() && !self.stopping {
            if let Some(first) = self.timers.first() {
                if first.deadline > self.now {
                    self.now = first.deadline;
                }
            }
        }
        // 2. Due timers go to the back of the queue in (deadline, registration) order.
        while self.timers.first().is_some_and(|t| t.deadline <= self.now) {
            let t = self.timers.remove(0);
            self.entries[t.entry].state = EntryState::Queued;
            self.ready.push_back(Item::Entry(t.entry));
        }
        // 3. Exactly what is queued now runs; what it queues waits for a later iteration.
        let batch = self.ready.len();
        for _ in 0..batch {
            let item = self.ready.pop_front().expect("batch counted");
            match item {
                Item::Entry(e) => self.run_entry(e),
                Item::Task(t) => self.run_task(t),
            }
        }
    }

    fn new_handle(&mut self, handle: MHandle) -> usize {
        self.handles.push(handle);
        self.handles.len() - 1
    }

    fn call_soon(&mut self, then: Then) {
        let e = self.entries.len();
        let h = self.new_handle(MHandle::Entry(e));
        self.entries.push(MEntry {
            action: Action::User { h, then },
            state: EntryState::Queued,
        });
        self.ready.push_back(Item::Entry(e));
    }

    fn add_timer(&mut self, deadline: u64, then: Then) {
        let e = self.entries.len();
        let h = self.new_handle(MHandle::Entry(e));
        self.entries.push(MEntry {
            action: Action::User { h, then },
            state: EntryState::Timer,
        });
        self.insert_timer(deadline, e);
    }

    fn insert_timer(&mut self, deadline: u64, entry: usize) {
        let pos = self.timers.partition_point(|t| t.deadline <= deadline);
        self.timers.insert(pos, MTimer { deadline, entry });
    }

    fn spawn(&mut self, steps: &Steps) {
        let t = self.tasks.len();
        let h = self.new_handle(MHandle::Task(t));
        self.tasks.push(MTask {
            h,
            steps: steps.0.iter().copied().take(MAX_STEPS).collect(),
            pc: 0,
            polls: 0,
            queued: true,
            finished: false,
            cancel_requested: false,
            sleep: None,
            yielded: false,
            wait: None,
        });
        // The first poll is queued like call_soon.
        self.ready.push_back(Item::Task(t));
    }

    /// `cancel()` of handle `j`: true if it was pending and now will not run (a task: if it
    /// has not finished).
    fn cancel(&mut self, j: usize) -> bool {
        match self.handles[j] {
            MHandle::Entry(e) => self.cancel_entry(e),
            MHandle::Task(t) => {
                let task = &mut self.tasks[t];
                if task.finished {
                    return false;
                }
                task.cancel_requested = true;
                if !task.queued {
                    task.queued = true;
                    self.ready.push_back(Item::Task(t));
                }
                true
            }
        }
    }

    fn cancel_entry(&mut self, e: usize) -> bool {
        match self.entries[e].state {
            EntryState::Queued => {}
            EntryState::Timer => self.timers.retain(|t| t.entry != e),
            EntryState::Ran | EntryState::Cancelled => return false,
        }
        self.entries[e].state = EntryState::Cancelled;
        true
    }

    fn run_entry(&mut self, e: usize) {
        if self.entries[e].state != EntryState::Queued {
            return; // cancelled while queued
        }
        self.entries[e].state = EntryState::Ran;
        match self.entries[e].action.clone() {
            Action::User { h, then } => {
                self.log(format!("c{h}"));
                self.then(h, then);
            }
            Action::Wake { task } => self.wake(task),
        }
    }

    fn then(&mut self, h: usize, then: Then) {
        match then {
            Then::Nothing => {}
            Then::Stop => self.stopping = true,
            Then::CallSoon => self.call_soon(Then::Nothing),
            Then::CallLater(d) => self.add_timer(self.now + d.nanos(), Then::Nothing),
            Then::Spawn(steps) => self.spawn(&steps),
            Then::Cancel(i) => {
                let j = usize::from(i) % self.handles.len();
                let r = self.cancel(j);
                self.log(format!("c{h} x{j}={r}"));
            }
            Then::Signal(c) => self.signal(c.index()),
        }
    }

    /// A wake queues one step of the task, unless one is queued already or it finished.
    fn wake(&mut self, t: usize) {
        let task = &mut self.tasks[t];
        if !task.finished && !task.queued {
            task.queued = true;
            self.ready.push_back(Item::Task(t));
        }
    }

    fn signal(&mut self, c: usize) {
        match self.waiters[c].pop_front() {
            Some(t) => {
                self.tasks[t].wait = Some(true);
                self.wake(t);
            }
            None => self.permits[c] += 1,
        }
    }

    fn run_task(&mut self, t: usize) {
        if self.tasks[t].finished {
            return;
        }
        if self.tasks[t].cancel_requested {
            // The future is dropped: its sleep's timer is cancelled, its wait leaves the
            // channel (a permit granted but not yet taken is lost with it).
            let task = &mut self.tasks[t];
            task.finished = true;
            let sleep = task.sleep.take();
            let waiting = task.wait.take() == Some(false);
            if let Some(e) = sleep {
                self.cancel_entry(e);
            }
            if waiting {
                for w in &mut self.waiters {
                    w.retain(|&x| x != t);
                }
            }
            return;
        }
        let task = &mut self.tasks[t];
        task.queued = false;
        task.polls += 1;
        let label = format!("t{}#{}", task.h, task.polls);
        self.log(label);
        loop {
            let task = &self.tasks[t];
            let Some(&step) = task.steps.get(task.pc) else {
                let h = task.h;
                self.tasks[t].finished = true;
                self.log(format!("t{h} done"));
                return;
            };
            match step {
                Step::Sleep(d) => match self.tasks[t].sleep {
                    None => {
                        // The deadline is fixed at the first poll.
                        let e = self.entries.len();
                        self.entries.push(MEntry {
                            action: Action::Wake { task: t },
                            state: EntryState::Timer,
                        });
                        self.insert_timer(self.now + d.nanos(), e);
                        self.tasks[t].sleep = Some(e);
                        return;
                    }
                    Some(e) if self.entries[e].state == EntryState::Ran => {
                        self.tasks[t].sleep = None;
                    }
                    Some(_) => return,
                },
                Step::Yield => {
                    if !self.tasks[t].yielded {
                        self.tasks[t].yielded = true;
                        self.wake(t);
                        return;
                    }
                    self.tasks[t].yielded = false;
                }
                Step::Wait(c) => match self.tasks[t].wait {
                    None if self.permits[c.index()] > 0 => self.permits[c.index()] -= 1,
                    None => {
                        self.waiters[c.index()].push_back(t);
                        self.tasks[t].wait = Some(false);
                        return;
                    }
                    Some(true) => self.tasks[t].wait = None,
                    Some(false) => return,
                },
                Step::Signal(c) => self.signal(c.index()),
                Step::Race(d, c) => {
                    let c = c.index();
                    let task = &self.tasks[t];
                    if task.sleep.is_none() && task.wait.is_none() {
                        // First poll: the sleep is polled first and sets its timer, then
                        // the wait takes a permit or queues.
                        let e = self.entries.len();
                        self.entries.push(MEntry {
                            action: Action::Wake { task: t },
                            state: EntryState::Timer,
                        });
                        self.insert_timer(self.now + d.nanos(), e);
                        if self.permits[c] > 0 {
                            self.permits[c] -= 1;
                            self.cancel_entry(e); // the losing sleep is dropped
                        } else {
                            self.waiters[c].push_back(t);
                            self.tasks[t].sleep = Some(e);
                            self.tasks[t].wait = Some(false);
                            return;
                        }
                    } else {
                        let e = task.sleep.expect("racing sleep");
                        let granted = task.wait == Some(true);
                        if self.entries[e].state == EntryState::Ran {
                            // The sleep won (it is polled first); the wait is dropped: it
                            // leaves the queue, or its granted permit is lost.
                            if !granted {
                                self.waiters[c].retain(|&x| x != t);
                            }
                        } else if granted {
                            self.cancel_entry(e);
                        } else {
                            return;
                        }
                        self.tasks[t].sleep = None;
                        self.tasks[t].wait = None;
                    }
                }
            }
            self.tasks[t].pc += 1;
        }
    }

    /// True if nothing is ready and no timer is live: `run()` would do nothing.
    pub fn is_quiescent(&self) -> bool {
        self.ready.is_empty() && self.timers.is_empty()
    }

    /// The handles whose closure or future is still pending: what `close()` must drop.
    pub fn pending(&self) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        for e in &self.entries {
            if let Action::User { h, .. } = e.action {
                if matches!(e.state, EntryState::Queued | EntryState::Timer) {
                    out.insert(h);
                }
            }
        }
        for t in &self.tasks {
            if !t.finished {
                out.insert(t.h);
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// The real loop
// ---------------------------------------------------------------------------------------

/// A channel: `signal` gives one permit, to the first waiter if there is one; `wait` takes
/// one. A waiter dropped before it was granted leaves the queue; a permit granted to a
/// waiter that is dropped before it sees it is lost.
#[derive(Debug, Default)]
pub struct Notify {
    st: RefCell<NotifyState>,
}

#[derive(Debug, Default)]
struct NotifyState {
    permits: u32,
    waiters: VecDeque<(Rc<Cell<bool>>, Waker)>,
}

impl Notify {
    pub fn signal(&self) {
        let waker = {
            let mut st = self.st.borrow_mut();
            match st.waiters.pop_front() {
                Some((granted, waker)) => {
                    granted.set(true);
                    Some(waker)
                }
                None => {
                    st.permits += 1;
                    None
                }
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    pub fn wait(&self) -> Wait<'_> {
        Wait {
            notify: self,
            granted: None,
        }
    }
}

/// The future of [`Notify::wait`].
#[derive(Debug)]
pub struct Wait<'a> {
    notify: &'a Notify,
    granted: Option<Rc<Cell<bool>>>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &self.granted {
            Some(g) if g.get() => {
                self.granted = None;
                Poll::Ready(())
            }
            Some(_) => Poll::Pending,
            None => {
                let mut st = self.notify.st.borrow_mut();
                if st.permits > 0 {
                    st.permits -= 1;
                    return Poll::Ready(());
                }
                let g = Rc::new(Cell::new(false));
                st.waiters.push_back((g.clone(), cx.waker().clone()));
                drop(st);
                self.granted = Some(g);
                Poll::Pending
            }
        }
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(g) = &self.granted {
            if !g.get() {
                self.notify
                    .st
                    .borrow_mut()
                    .waiters
                    .retain(|(x, _)| !Rc::ptr_eq(x, g));
            }
        }
    }
}

enum RealHandle {
    Callback(CallbackHandle),
    Timer(TimerHandle),
    Task(JoinHandle<()>),
}

/// The state the driver, the callbacks and the tasks share.
struct World {
    handles: RefCell<Vec<RealHandle>>,
    infos: RefCell<Vec<HandleInfo>>,
    closing: Cell<bool>,
    notify: [Notify; CHANS],
}

/// Counts the destructor runs of one closure or task future.
struct Probe {
    world: Rc<World>,
    h: usize,
}

impl Drop for Probe {
    fn drop(&mut self) {
        let mut infos = self.world.infos.borrow_mut();
        let info = &mut infos[self.h];
        info.drops += 1;
        if self.world.closing.get() {
            info.dropped_in_close = true;
        }
    }
}

/// Where scheduling goes: the `EventLoop` (driver) or the free functions (callbacks).
#[derive(Clone, Copy)]
enum Via<'a> {
    Loop(&'a EventLoop),
    Current,
}

impl Via<'_> {
    fn now(self) -> u64 {
        match self {
            Via::Loop(lp) => lp.time().as_nanos(),
            Via::Current => simloop::now().as_nanos(),
        }
    }
}

impl World {
    /// Reserves the next handle index.
    fn reserve(&self, kind: Kind, registered_at: u64, deadline: Option<u64>) -> usize {
        let mut infos = self.infos.borrow_mut();
        infos.push(HandleInfo {
            kind,
            registered_at,
            deadline,
            cancelled: false,
            drops: 0,
            dropped_in_close: false,
        });
        infos.len() - 1
    }

    fn push(&self, h: usize, handle: RealHandle) {
        let mut handles = self.handles.borrow_mut();
        assert_eq!(handles.len(), h, "handles are pushed in reservation order");
        handles.push(handle);
    }

    fn callback(w: &Rc<World>, h: usize, then: Then) -> impl FnOnce() + 'static {
        let probe = Probe {
            world: w.clone(),
            h,
        };
        let w = w.clone();
        move || {
            let _probe = probe;
            simloop::mark(format!("c{h}"));
            World::then(&w, h, then);
        }
    }

    fn call_soon(w: &Rc<World>, via: Via<'_>, then: Then) {
        let h = w.reserve(Kind::Callback, via.now(), None);
        let f = World::callback(w, h, then);
        let handle = match via {
            Via::Loop(lp) => lp.call_soon(f),
            Via::Current => simloop::call_soon(f),
        };
        w.push(h, RealHandle::Callback(handle));
    }

    fn call_later(w: &Rc<World>, via: Via<'_>, d: Ms, then: Then) {
        let now = via.now();
        let h = w.reserve(Kind::Timer, now, Some(now + d.nanos()));
        let f = World::callback(w, h, then);
        let d = Duration::from_nanos(d.nanos());
        let handle = match via {
            Via::Loop(lp) => lp.call_later(d, f),
            Via::Current => simloop::call_later(d, f),
        };
        w.push(h, RealHandle::Timer(handle));
    }

    fn call_at(w: &Rc<World>, via: Via<'_>, at: At, then: Then) {
        let h = w.reserve(Kind::Timer, via.now(), Some(at.nanos()));
        let f = World::callback(w, h, then);
        let at = Instant::from_nanos(at.nanos());
        let handle = match via {
            Via::Loop(lp) => lp.call_at(at, f),
            Via::Current => simloop::call_at(at, f),
        };
        w.push(h, RealHandle::Timer(handle));
    }

    fn spawn(w: &Rc<World>, via: Via<'_>, steps: &Steps) {
        let h = w.reserve(Kind::Task, via.now(), None);
        let probe = Probe {
            world: w.clone(),
            h,
        };
        let world = w.clone();
        let steps: Vec<Step> = steps.0.iter().copied().take(MAX_STEPS).collect();
        let body = async move {
            let _probe = probe;
            for step in steps {
                match step {
                    Step::Sleep(d) => simloop::sleep(Duration::from_nanos(d.nanos())).await,
                    Step::Yield => simloop::yield_now().await,
                    Step::Wait(c) => world.notify[c.index()].wait().await,
                    Step::Signal(c) => world.notify[c.index()].signal(),
                    Step::Race(d, c) => {
                        let sleep = pin!(simloop::sleep(Duration::from_nanos(d.nanos())));
                        let wait = pin!(world.notify[c.index()].wait());
                        select(sleep, wait).await;
                    }
                }
            }
        };
        let fut = Logged {
            h,
            polls: 0,
            inner: Box::pin(body),
        };
        let handle = match via {
            Via::Loop(lp) => lp.spawn(fut),
            Via::Current => simloop::spawn(fut),
        };
        w.push(h, RealHandle::Task(handle));
    }

    /// `cancel()` of handle `j`, remembering a success.
    fn cancel(&self, j: usize) -> bool {
        let r = match &self.handles.borrow()[j] {
            RealHandle::Callback(c) => c.cancel(),
            RealHandle::Timer(t) => t.cancel(),
            RealHandle::Task(t) => t.cancel(),
        };
        if r {
            self.infos.borrow_mut()[j].cancelled = true;
        }
        r
    }

    fn then(w: &Rc<World>, h: usize, then: Then) {
        match then {
            Then::Nothing => {}
            Then::Stop => simloop::stop(),
            Then::CallSoon => World::call_soon(w, Via::Current, Then::Nothing),
            Then::CallLater(d) => World::call_later(w, Via::Current, d, Then::Nothing),
            Then::Spawn(steps) => World::spawn(w, Via::Current, &steps),
            Then::Cancel(i) => {
                let n = w.handles.borrow().len();
                let j = usize::from(i) % n;
                let r = w.cancel(j);
                simloop::mark(format!("c{h} x{j}={r}"));
            }
            Then::Signal(c) => w.notify[c.index()].signal(),
        }
    }
}

/// Logs every poll of a task (`t{h}#{n}`) and its completion (`t{h} done`).
struct Logged {
    h: usize,
    polls: u32,
    inner: Pin<Box<dyn Future<Output = ()>>>,
}

impl Future for Logged {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls += 1;
        simloop::mark(format!("t{}#{}", self.h, self.polls));
        let out = self.inner.as_mut().poll(cx);
        if out.is_ready() {
            simloop::mark(format!("t{} done", self.h));
        }
        out
    }
}

/// What a real run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The marks, with the instant and iteration the loop recorded.
    pub log: Vec<Rec>,
    /// The whole trace, for the determinism check.
    pub trace: Trace,
    /// One entry per handle index.
    pub infos: Vec<HandleInfo>,
    /// What went wrong after `close()`, if anything.
    pub after_close: Vec<String>,
    /// `schedule_taken()` before `close()`.
    pub taken: Schedule,
}

/// Runs `ops` on a real `EventLoop` (built with `trace(true)`), then closes it.
pub fn run_real(ops: &[Op]) -> Outcome {
    run_real_with(ops, &Schedule::Fifo)
}

/// [`run_real`] on a loop built with `schedule`.
pub fn run_real_with(ops: &[Op], schedule: &Schedule) -> Outcome {
    let w = Rc::new(World {
        handles: RefCell::new(Vec::new()),
        infos: RefCell::new(Vec::new()),
        closing: Cell::new(false),
        notify: Default::default(),
    });
    let mut lp = EventLoop::builder()
        .trace(true)
        .schedule(schedule.clone())
        .build();
    for op in ops {
        let via = Via::Loop(&lp);
        let result = match op {
            Op::CallSoon(then) => {
                World::call_soon(&w, via, then.clone());
                None
            }
            Op::CallLater(d, then) => {
                World::call_later(&w, via, *d, then.clone());
                None
            }
            Op::CallAt(at, then) => {
                World::call_at(&w, via, *at, then.clone());
                None
            }
            Op::Spawn(steps) => {
                World::spawn(&w, via, steps);
                None
            }
            Op::Cancel(i) => {
                let n = w.handles.borrow().len();
                if n > 0 {
                    let j = usize::from(*i) % n;
                    let r = w.cancel(j);
                    lp.enter(|| simloop::mark(format!("x{j}={r}")));
                }
                None
            }
            Op::Stop => {
                lp.stop();
                None
            }
            Op::RunOnce => Some(("run_once", lp.run_once())),
            Op::RunUntil(at) => Some(("run_until", lp.run_until(Instant::from_nanos(at.nanos())))),
            Op::Advance(d) => Some(("advance", lp.advance(Duration::from_nanos(d.nanos())))),
            Op::Run => Some(("run", lp.run())),
        };
        if let Some((name, r)) = result {
            let label = match r {
                Ok(()) => format!("={name} ok"),
                Err(e) => format!("={name} err: {e}"),
            };
            lp.enter(|| simloop::mark(label));
        }
    }
    let trace = lp.trace();
    let log = marks(&trace);
    let taken = lp.schedule_taken();

    // close(): every pending closure and future is dropped, once.
    let handle = lp.handle();
    w.closing.set(true);
    lp.close();
    w.closing.set(false);
    let mut after_close = Vec::new();
    if !lp.is_closed() {
        after_close.push("is_closed() is false after close()".to_string());
    }
    for (j, h) in w.handles.borrow().iter().enumerate() {
        if let RealHandle::Task(t) = h {
            if !t.is_finished() {
                after_close.push(format!(
                    "the JoinHandle of t{j} is not finished after close()"
                ));
            }
        }
    }
    let ran = Rc::new(Cell::new(false));
    let dropped = Rc::new(Cell::new(false));
    struct SetOnDrop(Rc<Cell<bool>>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let guard = SetOnDrop(dropped.clone());
    let r2 = ran.clone();
    let late = handle.call_soon(move || {
        let _guard = guard;
        r2.set(true);
    });
    if !late.is_cancelled() || !dropped.get() {
        after_close.push("call_soon on a closed loop kept its callback".to_string());
    }
    match lp.run() {
        Err(LoopError::Closed { .. }) => {}
        other => after_close.push(format!("run() on a closed loop returned {other:?}")),
    }
    if ran.get() {
        after_close.push("a callback scheduled after close() ran".to_string());
    }
    drop(lp);
    let infos = w.infos.borrow().clone();
    Outcome {
        log,
        trace,
        infos,
        after_close,
        taken,
    }
}

// ---------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------

/// A program followed by enough `run()`s to reach quiescence: each `Then::Stop` can end one
/// run call early, and a stop may be pending from the program.
pub fn drained(ops: &[Op]) -> Vec<Op> {
    fn stops(then: &Then) -> usize {
        usize::from(matches!(then, Then::Stop))
    }
    let k = ops
        .iter()
        .map(|op| match op {
            Op::CallSoon(t) | Op::CallLater(_, t) | Op::CallAt(_, t) => stops(t),
            _ => 0,
        })
        .sum::<usize>()
        + 2;
    let mut out = ops.to_vec();
    out.extend(std::iter::repeat_n(Op::Run, k));
    out
}

fn fail(ops: &[Op], what: &str, detail: String) -> Result<(), String> {
    Err(format!("{what}\nprogram: {ops:?}\n{detail}"))
}

fn show(log: &[Rec]) -> String {
    log.iter().map(|r| format!("  {r:?}\n")).collect()
}

fn compare(ops: &[Op], real: &[Rec], model: &[Rec]) -> Result<(), String> {
    if real == model {
        return Ok(());
    }
    let i = real
        .iter()
        .zip(model)
        .position(|(a, b)| a != b)
        .unwrap_or(real.len().min(model.len()));
    fail(
        ops,
        "the loop's event log differs from the model's",
        format!(
            "first difference at event {i}: loop {:?}, model {:?}\nloop:\n{}model:\n{}",
            real.get(i),
            model.get(i),
            show(real),
            show(model)
        ),
    )
}

/// One program, run as given (then closed) and drained (then closed), on the loop and on
/// the model: what every check looks at.
pub struct Runs {
    /// The schedule of both real runs.
    pub schedule: Schedule,
    /// The program as given.
    pub ops: Vec<Op>,
    /// The program followed by enough `run()`s to reach quiescence.
    pub drained_ops: Vec<Op>,
    pub plain: Outcome,
    pub drained: Outcome,
    pub model_plain: Model,
    pub model_drained: Model,
}

impl Runs {
    pub fn new(ops: &[Op]) -> Runs {
        Runs::with_schedule(ops, &Schedule::Fifo)
    }

    /// The real runs under `schedule` (the model is FIFO regardless).
    pub fn with_schedule(ops: &[Op], schedule: &Schedule) -> Runs {
        let drained_ops = drained(ops);
        Runs {
            schedule: schedule.clone(),
            ops: ops.to_vec(),
            plain: run_real_with(ops, schedule),
            drained: run_real_with(&drained_ops, schedule),
            model_plain: Model::run(ops),
            model_drained: Model::run(&drained_ops),
            drained_ops,
        }
    }

    fn fail(&self, what: &str, detail: String) -> Result<(), String> {
        fail(
            &self.ops,
            what,
            format!(
                "schedule: {} (took {})\n{detail}",
                self.schedule, self.drained.taken
            ),
        )
    }
}

/// The loop's event log equals the model's, for the program as given and drained.
pub fn check_model(ops: &[Op]) -> Result<(), String> {
    model_agrees(&Runs::new(ops))
}

fn model_agrees(r: &Runs) -> Result<(), String> {
    compare(&r.ops, &r.plain.log, &r.model_plain.log)?;
    if !r.model_drained.is_quiescent() {
        return r.fail("model bug: not quiescent after draining", String::new());
    }
    compare(&r.drained_ops, &r.drained.log, &r.model_drained.log)
}

/// Virtual time never goes backwards, and neither do iterations.
pub fn check_time(ops: &[Op]) -> Result<(), String> {
    time_forward(&Runs::new(ops))
}

fn time_forward(r: &Runs) -> Result<(), String> {
    let out = &r.drained;
    for pair in out.log.windows(2) {
        if pair[1].at < pair[0].at || pair[1].iteration < pair[0].iteration {
            return r.fail(
                "time or iteration went backwards",
                format!("{:?} then {:?}\n{}", pair[0], pair[1], show(&out.log)),
            );
        }
    }
    for e in out.trace.events() {
        if let Event::ClockJump { from, to } = e.event {
            if to <= from {
                return r.fail("a clock jump that does not go forward", format!("{e:?}"));
            }
        }
    }
    Ok(())
}

fn runs_of(log: &[Rec], h: usize) -> Vec<&Rec> {
    let label = format!("c{h}");
    log.iter().filter(|r| r.label == label).collect()
}

/// Once drained: every timer that was not cancelled fired exactly once, at exactly its
/// deadline (or, if the deadline had passed when it was set, at the instant it was set); every
/// callback ran exactly once.
pub fn check_timers(ops: &[Op]) -> Result<(), String> {
    timers_fire_once(&Runs::new(ops))
}

fn timers_fire_once(r: &Runs) -> Result<(), String> {
    let out = &r.drained;
    for (h, info) in out.infos.iter().enumerate() {
        if info.kind == Kind::Task || info.cancelled {
            continue;
        }
        let runs = runs_of(&out.log, h);
        if runs.len() != 1 {
            return r.fail(
                &format!("c{h} ({:?}) ran {} times, not once", info.kind, runs.len()),
                show(&out.log),
            );
        }
        if let Some(deadline) = info.deadline {
            let due = deadline.max(info.registered_at);
            if runs[0].at != due {
                return r.fail(
                    &format!("timer c{h} fired at {}ns, not at {due}ns", runs[0].at),
                    show(&out.log),
                );
            }
        }
    }
    Ok(())
}

/// A callback or timer whose `cancel()` returned true never runs, and a cancelled task is
/// never polled again.
pub fn check_cancel(ops: &[Op]) -> Result<(), String> {
    cancelled_never_run(&Runs::new(ops))
}

fn cancelled_never_run(r: &Runs) -> Result<(), String> {
    for out in [&r.plain, &r.drained] {
        for (h, info) in out.infos.iter().enumerate() {
            if !info.cancelled {
                continue;
            }
            // The cancel's own log line: `x{h}=true` or `c{k} x{h}=true`.
            let tag = format!("x{h}=true");
            let Some(at) = out
                .log
                .iter()
                .position(|r| r.label == tag || r.label.ends_with(&format!(" {tag}")))
            else {
                return r.fail(&format!("no log of the cancel of {h}"), show(&out.log));
            };
            let bad = match info.kind {
                Kind::Task => {
                    let poll = format!("t{h}#");
                    out.log[at..].iter().any(|r| r.label.starts_with(&poll))
                }
                _ => !runs_of(&out.log, h).is_empty(),
            };
            if bad {
                return r.fail(
                    &format!("handle {h} ran after its cancel() returned true"),
                    show(&out.log),
                );
            }
        }
    }
    Ok(())
}

/// Two runs of the same program give identical traces.
pub fn check_determinism(ops: &[Op]) -> Result<(), String> {
    deterministic(&Runs::new(ops))
}

fn deterministic(r: &Runs) -> Result<(), String> {
    same_trace(r, "two runs of the same program differ", &r.schedule)
}

/// Replaying the schedule the drained run took (`schedule_taken()`) repeats it exactly.
fn replay_repeats(r: &Runs) -> Result<(), String> {
    let taken = &r.drained.taken;
    let parsed: Schedule = match taken.to_string().parse() {
        Ok(s) => s,
        Err(e) => return r.fail("the replay token does not parse", e.to_string()),
    };
    if parsed != *taken {
        return r.fail(
            "the replay token does not parse back to the schedule taken",
            format!("{parsed:?} vs {taken:?}"),
        );
    }
    same_trace(r, "replaying schedule_taken() gives another run", &parsed)
}

/// The drained program run again under `schedule` gives the drained run's trace, and takes
/// the same choices.
fn same_trace(r: &Runs, what: &str, schedule: &Schedule) -> Result<(), String> {
    let a = &r.drained.trace;
    let again = run_real_with(&r.drained_ops, schedule);
    if again.taken != r.drained.taken {
        return r.fail(
            what,
            format!("choices taken: {} vs {}", r.drained.taken, again.taken),
        );
    }
    let b = again.trace;
    if *a != b {
        let i = a
            .events()
            .iter()
            .zip(b.events())
            .position(|(x, y)| x != y)
            .unwrap_or(a.events().len().min(b.events().len()));
        return r.fail(
            what,
            format!(
                "first divergence at event {i}: {:?} vs {:?}",
                a.events().get(i),
                b.events().get(i)
            ),
        );
    }
    Ok(())
}

/// Every closure and task future is dropped exactly once; `close()` drops exactly what is
/// pending (plus, at most, what was cancelled and not yet dropped); after it, the loop is
/// inert.
pub fn check_close(ops: &[Op]) -> Result<(), String> {
    close_drops_once(&Runs::new(ops))
}

fn close_drops_once(r: &Runs) -> Result<(), String> {
    for (out, model) in [(&r.plain, &r.model_plain), (&r.drained, &r.model_drained)] {
        let pending = model.pending();
        if !out.after_close.is_empty() {
            return r.fail(
                "the loop is not inert after close()",
                out.after_close.join("\n"),
            );
        }
        for (h, info) in out.infos.iter().enumerate() {
            if info.drops != 1 {
                return r.fail(
                    &format!(
                        "the destructor of {h} ({:?}) ran {} times",
                        info.kind, info.drops
                    ),
                    show(&out.log),
                );
            }
            let expected = pending.contains(&h);
            if info.dropped_in_close != expected && !(info.dropped_in_close && info.cancelled) {
                return r.fail(
                    &format!(
                        "handle {h} ({:?}) was {}dropped by close(), but it was {}pending",
                        info.kind,
                        if info.dropped_in_close { "" } else { "not " },
                        if expected { "" } else { "not " }
                    ),
                    show(&out.log),
                );
            }
        }
    }
    Ok(())
}

/// Every check, sharing the runs; what the fuzz targets run.
pub fn check_all(ops: &[Op]) -> Result<(), String> {
    let r = Runs::new(ops);
    model_agrees(&r)?;
    time_forward(&r)?;
    timers_fire_once(&r)?;
    cancelled_never_run(&r)?;
    deterministic(&r)?;
    close_drops_once(&r)
}

// ---------------------------------------------------------------------------------------
// Under any schedule
// ---------------------------------------------------------------------------------------

/// What the contract promises under every schedule, for `ops` run under `schedule`:
/// time never goes backwards; live timers fire exactly once, at their deadline; cancelled
/// callbacks, timers and tasks never run again; callbacks keep their relative order (the
/// `call_soon` ones in the order they were scheduled, ahead of the timers that fall due in
/// their iteration; timers in the order they fell due), and timers due in one iteration
/// fall due in deadline order; every closure and future is dropped once; the same schedule
/// and the replay of the schedule taken give identical traces. A run whose choices were
/// all FIFO is held to the model exactly.
pub fn check_any_schedule(ops: &[Op], schedule: &Schedule) -> Result<(), String> {
    let r = Runs::with_schedule(ops, schedule);
    let fifo = |o: &Outcome| o.taken.choices().is_some_and(<[u32]>::is_empty);
    if fifo(&r.plain) {
        compare(&r.ops, &r.plain.log, &r.model_plain.log)?;
    }
    if fifo(&r.drained) {
        compare(&r.drained_ops, &r.drained.log, &r.model_drained.log)?;
        close_drops_once(&r)?;
    }
    time_forward(&r)?;
    timers_fire_once(&r)?;
    cancelled_never_run(&r)?;
    for out in [&r.plain, &r.drained] {
        trace_keeps_order(&r, out)?;
    }
    close_drops_each_once(&r)?;
    deterministic(&r)?;
    replay_repeats(&r)
}

/// From the trace alone: every timer falls due once, at `max(deadline, instant set)`, with
/// that lateness, and never after its cancel; every callback runs at most once, never after
/// its cancel; `call_soon` callbacks run in the order they were scheduled (their ids grow),
/// timers run in the order they fell due, and within one iteration the `call_soon`
/// callbacks run before the timers that fell due in it, which fell due in deadline order.
fn trace_keeps_order(r: &Runs, out: &Outcome) -> Result<(), String> {
    let trace = &out.trace;
    let bad =
        |what: String, e: &simloop::TraceEvent| r.fail(&what, format!("at {e:?}\ntrace:\n{trace}"));
    // id -> (deadline, instant set)
    let mut timers: BTreeMap<u64, (Instant, Instant)> = BTreeMap::new();
    let mut cancelled = BTreeSet::new();
    let mut fired = Vec::new();
    let mut ran = BTreeSet::new();
    let mut timer_runs = Vec::new();
    let mut last_soon = 0;
    // The iteration, and the deadline of the last timer that fell due in it.
    let mut last_fire: Option<(u64, Instant)> = None;
    // The iteration of the last timer callback that ran.
    let mut last_timer_run: Option<u64> = None;
    for e in trace.events() {
        match e.event {
            Event::TimerSet { id, when } => {
                timers.insert(id, (when, e.at));
            }
            Event::Cancel { id } => {
                cancelled.insert(id);
            }
            Event::TimerFire { id, lateness } => {
                let Some(&(when, set_at)) = timers.get(&id) else {
                    return bad(format!("timer #{id} fired but was never set"), e);
                };
                if cancelled.contains(&id) || fired.contains(&id) {
                    return bad(format!("timer #{id} fired after a cancel or twice"), e);
                }
                if e.at != when.max(set_at) || lateness != e.at.duration_since(when) {
                    return bad(
                        format!(
                            "timer #{id} (due {when}, set at {set_at}) fired at the wrong time"
                        ),
                        e,
                    );
                }
                if let Some((it, d)) = last_fire {
                    if it == e.iteration && when < d {
                        return bad(
                            format!("timer #{id} due {when} fell due after one due {d}"),
                            e,
                        );
                    }
                }
                last_fire = Some((e.iteration, when));
                fired.push(id);
            }
            Event::CallbackRun { id } => {
                if cancelled.contains(&id) || !ran.insert(id) {
                    return bad(format!("callback #{id} ran after a cancel or twice"), e);
                }
                if timers.contains_key(&id) {
                    timer_runs.push(id);
                    last_timer_run = Some(e.iteration);
                } else {
                    if id <= last_soon {
                        return bad(
                            format!("call_soon callback #{id} ran after #{last_soon}"),
                            e,
                        );
                    }
                    if last_timer_run == Some(e.iteration) {
                        return bad(
                            format!(
                                "call_soon callback #{id} ran after a timer that fell due in \
                                 its iteration"
                            ),
                            e,
                        );
                    }
                    last_soon = id;
                }
            }
            _ => {}
        }
    }
    let fired_then_ran: Vec<u64> = fired.into_iter().filter(|id| ran.contains(id)).collect();
    if fired_then_ran != timer_runs {
        return r.fail(
            "timer callbacks did not run in the order their timers fell due",
            format!("fell due: {fired_then_ran:?}\nran: {timer_runs:?}\ntrace:\n{trace}"),
        );
    }
    Ok(())
}

/// [`close_drops_once`] without the model: every closure and future is dropped once, the
/// loop is inert after `close()`, and `close()` dropped exactly the callbacks and timers that
/// neither ran nor were cancelled, and the tasks that neither finished nor were cancelled
/// (a cancelled task may be dropped by its cancel step or by `close()`).
fn close_drops_each_once(r: &Runs) -> Result<(), String> {
    for out in [&r.plain, &r.drained] {
        if !out.after_close.is_empty() {
            return r.fail(
                "the loop is not inert after close()",
                out.after_close.join("\n"),
            );
        }
        for (h, info) in out.infos.iter().enumerate() {
            if info.drops != 1 {
                return r.fail(
                    &format!(
                        "the destructor of {h} ({:?}) ran {} times",
                        info.kind, info.drops
                    ),
                    show(&out.log),
                );
            }
            let finished = match info.kind {
                Kind::Task => {
                    let done = format!("t{h} done");
                    out.log.iter().any(|r| r.label == done)
                }
                _ => !runs_of(&out.log, h).is_empty(),
            };
            let in_close_expected = !finished && !info.cancelled;
            let ok = info.dropped_in_close == in_close_expected
                || (info.kind == Kind::Task && info.cancelled && !finished);
            if !ok {
                return r.fail(
                    &format!(
                        "handle {h} ({:?}, finished {finished}, cancelled {}) was {}dropped by \
                         close()",
                        info.kind,
                        info.cancelled,
                        if info.dropped_in_close { "" } else { "not " },
                    ),
                    show(&out.log),
                );
            }
        }
    }
    Ok(())
}
