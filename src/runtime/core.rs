//! The loop's state and its iteration: the ordering contract lives here.
//!
//! All mutable state sits in one `RefCell<State>`. It is borrowed only for bookkeeping and
//! never while user code runs: a callback or task future is taken out of the state, the
//! borrow is released, the user code runs, and the result is put back. So user code may
//! call back into the loop (schedule, spawn, cancel, wake) at any point.

use std::cell::{RefCell, RefMut};
use std::collections::BTreeMap;
use std::future::Future;
use std::num::NonZeroU64;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};

use std::rc::Rc;
use std::sync::{Arc, Weak};

use std::task::{Context, Poll, RawWakerVTable, Waker};
use std::time::Duration;

use crate::error::{panic_message, JoinError, LoopError, StallDetail, TaskInfo, Waiter};
use crate::explore::rng::Rng;
use crate::explore::schedule::{Candidate, Chooser};
use crate::runtime::callback::Callback;
use crate::runtime::event_loop::{Config, PanicPolicy};
use crate::runtime::ready::{ReadyQueue, Word};
use crate::slab::{Key, Slab};
use crate::task::cell::{Remote, TaskRef};
use crate::task::join::{JoinHandle, Target, TaskEntry, TaskId};
use crate::time::timers::{TimerQueue, TimerRef};
use crate::trace::stats::Stats;
use crate::trace::{Event, Trace, TraceEvent};
use crate::Instant;

/// One entry of the ready queue. A task step is a callback like any other.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ready {
    /// A `call_soon` callback, or a timer that fell due.
    Entry(Key),
    /// One poll of a spawned task.
    Task(Key),
    /// One poll of the main future of the `run_until_complete` with this generation.
    Main(u32),
    /// The stop that the main future's completion queues (CPython's done callback).
    StopMain(u32),
}

/// The kind of a packed `Ready`, in the two bits under a key's tag bit (slab indexes leave
/// them zero).
const KIND_SHIFT: u32 = 61;

impl Word for Ready {
    #[inline]
    fn to_word(self) -> u64 {
        match self {
            Ready::Entry(key) => key.to_bits(),
            Ready::Task(key) => key.to_bits() | 1 << KIND_SHIFT,
            Ready::Main(gen) => u64::from(gen) | 2 << KIND_SHIFT,
            Ready::StopMain(gen) => u64::from(gen) | 3 << KIND_SHIFT,
        }
    }

    #[inline]
    fn from_word(word: u64) -> Ready {
        let key = Key::from_bits(word & !(3 << KIND_SHIFT));
        match (word >> KIND_SHIFT) & 3 {
            0 => Ready::Entry(key),
            1 => Ready::Task(key),
            2 => Ready::Main(word as u32),
            _ => Ready::StopMain(word as u32),
        }
    }
}

/// A callback's or timer's id, with flags in its top bits: packed, so an entry's slab slot is
/// 56 bytes, not 64, and a wake timer's 24. Never zero (ids start at 1), which gives
/// `Option` a niche.
#[derive(Clone, Copy)]
struct IdFlags(NonZeroU64);

/// The timer waits in the queue (is live).
const LIVE: u64 = 1 << 63;
/// A wake timer has a redirect entry.
const REDIRECT: u64 = 1 << 62;
/// A wake timer was cancelled after it fell due.
const DROPPED: u64 = 1 << 61;

impl IdFlags {
    fn new(id: u64, live: bool) -> IdFlags {
        debug_assert!(id > 0 && id < DROPPED);
        let flags = if live { LIVE } else { 0 };
        IdFlags(NonZeroU64::new(id | flags).expect("ids start at 1"))
    }

    fn id(self) -> u64 {
        self.0.get() & !(LIVE | REDIRECT | DROPPED)
    }

    fn has(self, flag: u64) -> bool {
        self.0.get() & flag != 0
    }

    fn set(&mut self, flag: u64, on: bool) {
        let bits = if on {
            self.0.get() | flag
        } else {
            self.0.get() & !flag
        };
        self.0 = NonZeroU64::new(bits).expect("the id is never zero");
    }
}

/// A pending callback or timer. A `sleep`'s timer is an entry too (unless it is a
/// `WakeTimer`), whose callback wakes the sleeping task; the sleep knows it fired when the
/// entry is gone.
pub(crate) struct Entry {
    pub(crate) action: Action,
    pub(crate) location: &'static Location<'static>,
    id: IdFlags,
}

impl Entry {
    fn new(id: u64, action: Action, location: &'static Location<'static>, live: bool) -> Entry {
        Entry {
            action,
            location,
            id: IdFlags::new(id, live),
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id.id()
    }

    /// True while the timer waits in the queue.
    fn in_heap(&self) -> bool {
        self.id.has(LIVE)
    }

    fn leave_heap(&mut self) {
        self.id.set(LIVE, false);
    }
}

/// A task's own wake timer: the timer of a `sleep` (or `interval`) awaited in the task,
/// kept in the task's slot (`TaskEntry::wake`), so that firing it reads one slot, the one
/// the task's step needs next anyway, and needs neither a callback nor a call site. Its key is
/// the task's key, tagged, which tells it from an `Entry`'s key. A task has at most one; a
/// second concurrent sleep gets an `Entry` with `Action::Wake`. Nothing queued (a record in
/// the timer queue, a ready item) carries the timer's id, so the place is never reused while
/// something queued still points at it: at most one thing does, and it is this timer's.
///
/// Its states: `LIVE` (its record waits in the queue); neither flag (fell due, its ready item
/// queued); `DROPPED` (cancelled, its record or ready item still queued: the place stays
/// taken until that has gone by, `State::discard` for a record). The id tells the sleep
/// holding the `TimerKey` its timer from a later one. If the sleep is polled under another
/// waker, that waker goes
/// into a redirect (`REDIRECT`, the entry's key in `State::redirects`): an `Entry` (not in
/// the heap, same id) that runs in the timer's place. A timer whose task finished before it
/// (the sleep outlived its task) moves to `State::orphans`.
#[derive(Clone, Copy)]
pub(crate) struct WakeTimer {
    id: IdFlags,
}

impl WakeTimer {
    fn id(self) -> u64 {
        self.id.id()
    }

    fn in_heap(self) -> bool {
        self.id.has(LIVE)
    }

    fn is_dropped(self) -> bool {
        self.id.has(DROPPED)
    }

    fn has_redirect(self) -> bool {
        self.id.has(REDIRECT)
    }
}

/// A timer as the sleep or interval that waits on it holds it: its key, and its id, which
/// tells it from a later wake timer of the same task.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimerKey {
    key: Key,
    id: NonZeroU64,
}

/// The wake timer with this (tagged) key, in its task's slot or orphaned (`State::wake_timer`
/// for shared borrows).
#[inline]
fn find_wake(
    tasks: &Slab<TaskEntry>,
    orphans: &BTreeMap<Key, WakeTimer>,
    key: Key,
) -> Option<WakeTimer> {
    match tasks.get(key.untagged()) {
        Some(task) => task.wake,
        None => orphans.get(&key).copied(),
    }
}

/// Starts loading the slot a timer's firing will look up first.
#[inline]
fn prefetch_slot(entries: &Slab<Entry>, tasks: &Slab<TaskEntry>, t: &TimerRef) {
    if t.key.is_tagged() {
        tasks.prefetch(t.key.untagged());
    } else {
        entries.prefetch(t.key);
    }
}

/// True while the timer `t` refers to waits in the queue.
#[inline]
fn timer_live(
    entries: &Slab<Entry>,
    tasks: &Slab<TaskEntry>,
    orphans: &BTreeMap<Key, WakeTimer>,
    t: &TimerRef,
) -> bool {
    if t.key.is_tagged() {
        find_wake(tasks, orphans, t.key).is_some_and(WakeTimer::in_heap)
    } else {
        entries.get(t.key).is_some_and(Entry::in_heap)
    }
}

/// The call site named for a wake timer's step (no user code runs in it).
fn wake_site() -> &'static Location<'static> {
    Location::caller()
}

/// What an entry does when it runs.
pub(crate) enum Action {
    /// User code, or a wake through a waker the loop does not know.
    Call(Callback),
    /// Queues a step of this task: the wake timer of a task's own `sleep`, which needs neither
    /// a waker clone nor user code.
    Wake(Key),
}

/// Which run call is in progress, i.e. when it ends.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// `run_until_complete` and `run_forever`: until stopped; idle is a stall.
    UntilStopped,
    /// `run`: until nothing is ready and no timer is live.
    Quiescent,
    /// `run_until`/`advance`: until nothing is due at or before the target.
    Until(Instant),
    /// `run_once`: one iteration.
    Once,
}

/// Who is running right now, for panic reports and slow-callback warnings.
#[derive(Clone)]
pub(crate) enum Who {
    Callback(u64, &'static Location<'static>),
    Task(TaskId, Option<Rc<String>>, &'static Location<'static>),
    Main,
}

impl Who {
    pub(crate) fn describe(&self) -> String {
        match self {
            Who::Callback(id, loc) => format!("callback #{id} (scheduled at {loc})"),
            Who::Task(id, name, spawned_at) => TaskInfo {
                id: *id,
                name: name.as_deref().cloned(),
                spawned_at,
            }
            .to_string(),
            Who::Main => "the main future".to_string(),
        }
    }
}

pub(crate) struct State {
    pub(crate) now: Instant,
    pub(crate) iteration: u64,
    pub(crate) ready: ReadyQueue<Ready>,
    pub(crate) entries: Slab<Entry>,
    /// Wake timers whose task finished first, by key (see `WakeTimer`).
    orphans: BTreeMap<Key, WakeTimer>,
    /// The redirect entries of wake timers, by the timer's key.
    redirects: BTreeMap<Key, Key>,
    heap: TimerQueue,
    live_timers: usize,
    /// While the iteration's promotion runs: true as long as its batch is nothing but the
    /// wake timers of tasks, without redirects, which `promote` then fires at once.
    wakes_only: bool,
    /// How many tasks those wake timers queued: the front of the ready queue during
    /// promotion, moved behind the batch when it ends.
    woken: usize,
    /// Their timers' ids, while tracing: their steps are recorded when promotion ends.
    fired_ids: Vec<u64>,
    next_entry_id: u64,
    pub(crate) tasks: Slab<TaskEntry>,
    next_task_id: u64,
    pub(crate) stopping: bool,
    pub(crate) closed: bool,
    /// Generation of the main future being run, 0 when none.
    main_gen: u32,
    /// Set while a step of the main future sits in the ready queue.
    main_queued: bool,
    /// The task polled last, and its waker's data and vtable: a wake timer registered with
    /// that waker becomes `Action::Wake`. Names a live task only (`remove_task` and `close`
    /// clear it): once its entry goes, its allocation may be freed and the address reused
    /// by another waker (the next run call's main waker), which must not pass for it.
    polling: Option<(Key, *const (), *const RawWakerVTable)>,
    main_counter: u32,
    pub(crate) rng: Rng,
    pub(crate) stats: Stats,
    pub(crate) trace: Option<Vec<TraceEvent>>,
    /// A failure that ends the run call at once (panic under `Fail`, time limit in `block_for`).
    pub(crate) failure: Option<LoopError>,
    pub(crate) current: Option<Who>,
    /// The schedule being taken.
    pub(crate) chooser: Chooser,
    /// Virtual time `block_for` spent inside the current callback.
    pub(crate) blocked: Duration,
}

impl State {
    /// Records `event` if tracing is on. Off, this is one test of a field: the recording
    /// itself is out of line, so it does not weigh on the code around each call.
    #[inline(always)]
    pub(crate) fn record(&mut self, event: impl FnOnce() -> Event) {
        if self.trace.is_some() {
            self.push_event(event());
        }
    }

    #[cold]
    #[inline(never)]
    fn push_event(&mut self, event: Event) {
        if let Some(trace) = &mut self.trace {
            trace.push(TraceEvent {
                at: self.now,
                iteration: self.iteration,
                event,
            });
        }
    }

    fn next_entry_id(&mut self) -> u64 {
        self.next_entry_id += 1;
        self.next_entry_id
    }

    /// The earliest live deadline; dead heap entries met on the way are dropped.
    #[inline]
    fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(top) = self
            .heap
            .peek_warm(|t| prefetch_slot(&self.entries, &self.tasks, t))
        {
            if timer_live(&self.entries, &self.tasks, &self.orphans, &top) {
                return Some(top.deadline);
            }
            self.heap.pop();
            self.discard(top);
        }
        None
    }

    /// A record that left the queue without firing: a cancelled timer's. A wake timer's
    /// place, kept while its record waited (`DROPPED`), is free from now on.
    #[cold]
    fn discard(&mut self, t: TimerRef) {
        if !t.key.is_tagged() {
            return;
        }
        match self.wake_timer(t.key, None) {
            Some(timer) if timer.is_dropped() => self.clear_wake(t.key),
            // Else the place is empty (or its task gone): a timer still in it would be the
            // one this record stands for, and it was not live.
            timer => debug_assert!(timer.is_none(), "a wake timer outlived its record"),
        }
    }

    /// The polled task, when `waker` is its own (compared by data and vtable pointer).
    #[inline]
    fn own_task(&self, waker: &Waker) -> Option<Key> {
        match self.polling {
            Some((key, data, vtable))
                if std::ptr::eq(waker.data(), data) && std::ptr::eq(waker.vtable(), vtable) =>
            {
                Some(key)
            }
            _ => None,
        }
    }

    /// What waking `waker` takes: a plain `Action::Wake` when it is the polled task's own.
    fn wake_action(&self, waker: &Waker) -> Action {
        match self.own_task(waker) {
            Some(key) => Action::Wake(key),
            None => {
                let waker = waker.clone();
                Action::Call(Callback::new(move || waker.wake()))
            }
        }
    }

    /// A timer's deadline as the schedule moves it (timer jitter), for `add_timer`.
    #[inline]
    fn timer_deadline(&mut self, when: Instant) -> Instant {
        if when != Instant::MAX && !self.chooser.is_fifo() {
            when + self.chooser.jitter()
        } else {
            when
        }
    }

    /// Registers a timer at `deadline`, which `timer_deadline` gave.
    fn add_timer(
        &mut self,
        deadline: Instant,
        action: Action,
        location: &'static Location<'static>,
    ) -> TimerKey {
        if let Action::Wake(task) = action {
            if let Some(timer) = self.add_task_wake(deadline, task) {
                return timer;
            }
        }
        let id = self.next_entry_id();
        let live = deadline != Instant::MAX;
        let key = self.entries.insert(Entry::new(id, action, location, live));
        self.queue_timer(deadline, id, key)
    }

    /// Registers `task`'s own wake timer in its slot, if the slot is free (else `None`: the
    /// timer needs an `Entry`). No `Action` is built: this is every sleep's path, where a
    /// value moved through the stack cost a stall.
    #[inline(always)]
    fn add_task_wake(&mut self, deadline: Instant, task: Key) -> Option<TimerKey> {
        if deadline == Instant::MAX {
            return None;
        }
        // The next id (`next_entry_id`), drawn only once the slot takes the timer.
        let id = self.next_entry_id + 1;
        let entry = self.tasks.get_mut(task).filter(|e| e.wake.is_none())?;
        entry.wake = Some(WakeTimer {
            id: IdFlags::new(id, true),
        });
        self.next_entry_id = id;
        Some(self.queue_timer(deadline, id, task.tagged()))
    }

    /// The rest of registering timer `id` (its entry or slot is filled): queues it unless it
    /// is never due, counts it, traces it.
    #[inline(always)]
    fn queue_timer(&mut self, deadline: Instant, id: u64, key: Key) -> TimerKey {
        if deadline != Instant::MAX {
            // The id is the registration number: ids only grow, and a timer's is drawn here.
            self.heap.push(TimerRef { deadline, key }, id);
            self.live_timers += 1;
            self.stats.max_timers = self.stats.max_timers.max(self.live_timers);
        }
        self.stats.timers_set += 1;
        self.record(|| Event::TimerSet { id, when: deadline });
        let id = NonZeroU64::new(id).expect("ids start at 1");
        TimerKey { key, id }
    }

    /// The wake timer with this (tagged) key, in its task's slot or orphaned; with `id`, only
    /// if it is that timer.
    fn wake_timer(&mut self, key: Key, id: Option<u64>) -> Option<&mut WakeTimer> {
        let timer = match self.tasks.get_mut(key.untagged()) {
            Some(task) => task.wake.as_mut(),
            None => self.orphans.get_mut(&key),
        }?;
        id.is_none_or(|id| timer.id() == id).then_some(timer)
    }

    /// Frees the wake timer's place (the one `wake_timer` finds).
    fn clear_wake(&mut self, key: Key) {
        match self.tasks.get_mut(key.untagged()) {
            Some(task) => task.wake = None,
            None => {
                self.orphans.remove(&key);
            }
        }
    }

    /// Removes a task's slot; its wake timer, if any, lives on as an orphan.
    fn remove_task(&mut self, key: Key) -> Option<TaskEntry> {
        let entry = self.tasks.remove(key)?;
        // Its allocation may be freed from now on, and its address reused by another waker.
        if self.polling.is_some_and(|(polled, _, _)| polled == key) {
            self.polling = None;
        }
        if let Some(timer) = entry.wake {
            self.orphans.insert(key.tagged(), timer);
        }
        Some(entry)
    }

    /// Takes a pending callback or timer out of the state, without counting it as cancelled:
    /// its id, whether it waited in the heap, and the entry to drop once the borrow is
    /// released (a wake timer's redirect, if any). `id` picks the wake timer, when known.
    fn take_entry(&mut self, key: Key, id: Option<u64>) -> Option<(u64, bool, Option<Entry>)> {
        if key.is_tagged() {
            let timer = self.wake_timer(key, id)?;
            let taken = *timer;
            if taken.is_dropped() {
                return None;
            }
            // Its record (in the heap) or ready item (fell due) is still queued and knows no
            // id: the place stays taken until that goes by, so that nothing queued can ever
            // point at a later timer of the task.
            timer.id.set(LIVE, false);
            timer.id.set(DROPPED, true);
            let redirect = if taken.has_redirect() {
                self.redirects
                    .remove(&key)
                    .and_then(|r| self.entries.remove(r))
            } else {
                None
            };
            Some((taken.id(), taken.in_heap(), redirect))
        } else {
            // The id too, not only the key: a slot's generation wraps after 2^32 reuses, and a
            // stale handle must never take a later entry of the same slot.
            let entry = self.entries.get(key)?;
            if id.is_some_and(|id| entry.id() != id) {
                return None;
            }
            let entry = self.entries.remove(key)?;
            Some((entry.id(), entry.in_heap(), Some(entry)))
        }
    }

    /// Removes a pending entry; the caller drops what it returns once the borrow is released.
    pub(crate) fn remove_entry(&mut self, key: Key, id: u64) -> Option<Option<Entry>> {
        let (id, in_heap, garbage) = self.take_entry(key, Some(id))?;
        if in_heap {
            self.live_timers -= 1;
            self.stats.timers_cancelled += 1;
            // Cancelled timers stay in the heap until they surface; rebuild it when they
            // outnumber the live ones, so churn (e.g. timeouts that never fire) stays bounded.
            if self.heap.len() > 64 && self.heap.len() > 2 * self.live_timers {
                let (entries, tasks, orphans) = (&self.entries, &self.tasks, &self.orphans);
                let mut dropped = Vec::new();
                self.heap.retain(|t| {
                    let live = timer_live(entries, tasks, orphans, t);
                    if !live && t.key.is_tagged() {
                        dropped.push(*t);
                    }
                    live
                });
                for t in dropped {
                    self.discard(t);
                }
            }
        }
        self.record(|| Event::Cancel { id });
        Some(garbage)
    }

    /// Step 2 of an iteration: every timer due by now goes to the back of the ready queue, in
    /// (deadline, registration) order.
    /// Returns the size of the iteration's batch.
    fn promote_due(&mut self) -> usize {
        if self.heap.len() == 0 {
            let batch = self.ready.len();
            self.stats.max_ready = self.stats.max_ready.max(batch);
            return batch;
        }
        let steps = self.stats.callbacks_run;
        if self.chooser.is_fifo() {
            while let Some(top) = self
                .heap
                .peek_warm(|t| prefetch_slot(&self.entries, &self.tasks, t))
            {
                if top.deadline > self.now {
                    self.prefetch_ahead(top);
                    break;
                }
                self.heap.pop();
                self.promote(top);
            }
        } else {
            self.promote_due_chosen();
        }
        let batch = self.ready.len() - self.woken;
        // The steps promotion took (`promote_wake`) were the batch's first items.
        let fired = (self.stats.callbacks_run - steps) as usize;
        self.stats.max_ready = self.stats.max_ready.max(batch + fired);
        if fired != 0 {
            self.end_promotion(batch);
        }
        batch
    }

    /// Starts loading what the next promotion will read, while the batch runs: the task header
    /// (or the entry's slot) of `next`, the timer to fire next, and of the other timers of its
    /// deadline (at most 32); when `next` is alone there, the slot of the timer after it. One
    /// by one, each firing's load would wait for memory in turn; started here, they overlap.
    #[inline]
    fn prefetch_ahead(&self, next: TimerRef) {
        self.prefetch_firing(next);
        let same_deadline = self.heap.upcoming();
        for &t in same_deadline.iter().take(32) {
            self.prefetch_firing(t);
        }
        if same_deadline.is_empty() {
            if let Some(after) = self.heap.after_next() {
                prefetch_slot(&self.entries, &self.tasks, after);
            }
        }
    }

    /// Starts loading what the firing of `t` reads first: its task's header, or its entry.
    #[inline(always)]
    fn prefetch_firing(&self, t: TimerRef) {
        if t.key.is_tagged() {
            if let Some(task) = self.tasks.get(t.key.untagged()) {
                task.cell.prefetch();
            }
        } else {
            self.entries.prefetch(t.key);
        }
    }

    /// `promote_due` under an exploring schedule: timers with equal deadlines go to the ready
    /// queue in an order the schedule chooses.
    fn promote_due_chosen(&mut self) {
        let mut due = Vec::new();
        while let Some(top) = self.heap.peek() {
            if top.deadline > self.now {
                break;
            }
            self.heap.pop();
            if timer_live(&self.entries, &self.tasks, &self.orphans, &top) {
                due.push(top);
            } else {
                self.discard(top);
            }
        }
        let mut start = 0;
        while start < due.len() {
            let end = start
                + due[start..]
                    .iter()
                    .take_while(|t| t.deadline == due[start].deadline)
                    .count();
            for i in start..end {
                if end - i >= 2 {
                    let pick = i + self.chooser.choose(end - i);
                    due[i..=pick].rotate_right(1);
                }
                self.promote(due[i]);
            }
            start = end;
        }
    }

    /// Moves one due timer to the back of the ready queue, or, while the batch is nothing but
    /// task wake timers (`wakes_only`), takes its step at once (see `promote_wake`).
    #[inline(always)]
    fn promote(&mut self, top: TimerRef) {
        let id = if top.key.is_tagged() {
            match self.promote_wake(top) {
                Some(id) => id,
                None => return self.discard(top),
            }
        } else {
            match self.entries.get_mut(top.key) {
                Some(entry) if entry.in_heap() => {
                    entry.leave_heap();
                    self.wakes_only = false;
                    self.ready.push_back(Ready::Entry(top.key));
                    entry.id()
                }
                _ => return,
            }
        };
        self.live_timers -= 1;
        self.stats.timers_fired += 1;
        // Nearly always zero (only `block_for` makes timers late): nanoseconds until it is not.
        let late = self.now.as_nanos().saturating_sub(top.deadline.as_nanos());
        if late != 0 {
            let lateness = Duration::from_nanos(late);
            self.stats.max_lateness = self.stats.max_lateness.max(lateness);
        }
        self.record(|| Event::TimerFire {
            id,
            lateness: Duration::from_nanos(late),
        });
    }

    /// The step of a task's wake timer that fell due (no redirect), from the ready queue:
    /// frees its place and queues the task (unless it is queued already, or gone).
    #[inline]
    fn fire_wake(&mut self, key: Key) {
        match self.tasks.get_mut(key.untagged()) {
            Some(task) => {
                if task.fire_wake() {
                    self.ready.push_back(Ready::Task(key.untagged()));
                }
            }
            None => {
                self.orphans.remove(&key);
            }
        }
    }

    /// `promote` for a task's wake timer (tagged key): its id, or `None` if it was cancelled.
    ///
    /// While the batch is nothing but such timers, without redirects (`wakes_only`), the
    /// timer's step is taken here: it frees the timer's place and queues the task, as
    /// `run_wake_timer` would at the front of the batch, where nothing runs before it but
    /// other such steps. The task is queued at once (counted in `woken`): should the batch
    /// go on with other items, `end_promotion` moves it behind them, for the next iteration as
    /// always. The step is counted here, and recorded there (after every `TimerFire` of the
    /// promotion, where the batch would have recorded it).
    #[inline(always)]
    fn promote_wake(&mut self, top: TimerRef) -> Option<u64> {
        let key = top.key;
        let (id, fire_now);
        if let Some(task) = self.tasks.get_mut(key.untagged()) {
            // Its step will need the task's header: start loading it now (again, in case
            // `prefetch_ahead` could not reach it a firing ago).
            task.cell.prefetch();
            let timer = task.wake.as_mut().filter(|t| t.in_heap())?;
            id = timer.id();
            fire_now = self.wakes_only && !timer.has_redirect();
            if fire_now {
                if task.fire_wake() {
                    // The queue held nothing else yet (`wakes_only`): `end_promotion` moves
                    // these behind what follows.
                    self.ready.push_back(Ready::Task(key.untagged()));
                    self.woken += 1;
                }
            } else {
                timer.id.set(LIVE, false);
            }
        } else {
            let timer = self.orphans.get_mut(&key).filter(|t| t.in_heap())?;
            id = timer.id();
            fire_now = self.wakes_only && !timer.has_redirect();
            if fire_now {
                self.orphans.remove(&key);
            } else {
                timer.id.set(LIVE, false);
            }
        }
        if fire_now {
            self.stats.callbacks_run += 1;
            if self.trace.is_some() {
                self.fired_ids.push(id);
            }
        } else {
            self.wakes_only = false;
            self.ready.push_back(Ready::Entry(key));
        }
        Some(id)
    }

    /// After promotion: records the steps `promote_wake` took (while tracing) and moves the
    /// tasks they queued behind the `batch` items that followed them, if any.
    fn end_promotion(&mut self, batch: usize) {
        for i in 0..self.fired_ids.len() {
            let id = self.fired_ids[i];
            self.current = Some(Who::Callback(id, wake_site()));
            self.record(|| Event::CallbackRun { id });
        }
        self.fired_ids.clear();
        if batch != 0 {
            for _ in 0..self.woken {
                let task = self.ready.pop_front().expect("queued by promote_wake");
                self.ready.push_back(task);
            }
        }
        self.woken = 0;
        self.blocked = Duration::ZERO;
    }

    /// The next item of the batch, of which `remaining` items are left at the front of the
    /// ready queue. FIFO takes the front; an exploring schedule may take any task step, or
    /// the first callback (callbacks keep their order).
    #[inline]
    fn next_item(&mut self, remaining: usize) -> Option<Ready> {
        if self.chooser.is_fifo() {
            return self.ready.pop_front();
        }
        self.next_item_chosen(remaining)
    }

    /// `next_item` under an exploring schedule. Apart, so that the FIFO test comes first:
    /// inlined, the compiler tested `remaining` first, a branch that goes either way.
    #[inline(never)]
    fn next_item_chosen(&mut self, remaining: usize) -> Option<Ready> {
        if self.chooser.observes() {
            // The systematic search's reduction sees each step end and begin (issue 23).
            self.step_ends(remaining);
            let item = self.pick_item(remaining);
            self.step_begins(item, remaining);
            return item;
        }
        self.pick_item(remaining)
    }

    /// `next_item_chosen`'s choice.
    fn pick_item(&mut self, remaining: usize) -> Option<Ready> {
        if remaining < 2 {
            return self.ready.pop_front();
        }
        let mut positions = Vec::new();
        let mut candidates = Vec::new();
        let mut callback_seen = false;
        for (i, item) in self.ready.iter().take(remaining).enumerate() {
            let candidate = match item {
                Ready::Entry(_) | Ready::StopMain(_) => {
                    if callback_seen {
                        continue;
                    }
                    callback_seen = true;
                    Candidate::Callback
                }
                Ready::Task(key) => {
                    Candidate::Task(self.tasks.get(key).map_or(u64::MAX, |t| t.id().0))
                }
                Ready::Main(_) => Candidate::Task(0),
            };
            positions.push(i);
            candidates.push(candidate);
        }
        if positions.len() < 2 {
            return self.ready.pop_front();
        }
        let pick = self.chooser.choose_item(&candidates);
        self.ready.remove(positions[pick])
    }

    fn pending_tasks(&self) -> Vec<TaskInfo> {
        let mut v: Vec<TaskInfo> = self.tasks.values().map(TaskEntry::info).collect();
        v.sort_by_key(|t| t.id);
        v
    }

    /// Queues a step of the woken task, unless one is queued already or it has finished.
    #[inline]
    fn push_target(&mut self, target: Target) {
        match target {
            Target::Task(key) => {
                if let Some(task) = self.tasks.get_mut(key) {
                    if !task.is_queued() {
                        task.set_queued(true);
                        self.ready.push_back(Ready::Task(key));
                    }
                }
            }
            Target::Main(gen) => {
                if gen == self.main_gen && !self.main_queued {
                    self.main_queued = true;
                    self.ready.push_back(Ready::Main(gen));
                }
            }
        }
    }
}

/// The loop proper, shared by `EventLoop`, every `Handle`, and the thread-local context.
pub(crate) struct Core {
    pub(crate) st: RefCell<State>,
    pub(crate) remote: Arc<Remote>,
    /// `remote` again, as the tasks' headers hold it: a wake compares the two to tell its own
    /// loop.
    pub(crate) remote_weak: Weak<Remote>,
    pub(crate) cfg: Config,
    pub(crate) pool: RefCell<crate::blocking::Pool>,
    /// Who took the last steps, under a step limit (see `note_step`).
    recent: RefCell<RecentSteps>,
    /// The JoinHandles of other loops' tasks awaited here, by the awaiting waker's data
    /// pointer, for the stall report; cleared by each run call.
    other_loop_joins: RefCell<Vec<(*const (), TaskId)>>,
}

/// The main future, as the run loop sees it: poll it, true when it has completed.
pub(crate) type MainPoll<'a> = &'a mut dyn FnMut(&mut Context<'_>) -> bool;

impl Core {
    pub(crate) fn new(cfg: Config) -> Rc<Core> {
        let remote = Arc::new(Remote::default());
        Rc::new(Core {
            st: RefCell::new(State {
                now: Instant::ZERO,
                iteration: 0,
                ready: ReadyQueue::new(),
                entries: Slab::new(),
                orphans: BTreeMap::new(),
                redirects: BTreeMap::new(),
                heap: TimerQueue::default(),
                live_timers: 0,
                wakes_only: false,
                woken: 0,
                fired_ids: Vec::new(),
                next_entry_id: 0,
                tasks: Slab::new(),
                next_task_id: 0,
                stopping: false,
                closed: false,
                main_gen: 0,
                main_queued: false,
                polling: None,
                main_counter: 0,
                rng: Rng::new(cfg.seed),
                stats: Stats::default(),
                trace: cfg.trace.then(Vec::new),
                failure: None,
                current: None,
                chooser: cfg.schedule.chooser(),
                blocked: Duration::ZERO,
            }),
            remote_weak: Arc::downgrade(&remote),
            remote,
            pool: RefCell::new(crate::blocking::Pool::new(cfg.blocking_workers)),
            recent: RefCell::default(),
            other_loop_joins: RefCell::default(),
            cfg,
        })
    }

    pub(crate) fn now(&self) -> Instant {
        self.st.borrow().now
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.st.borrow().closed
    }

    /// Queues `f` now (`when` is `None`) or registers it as a timer; returns its entry key
    /// and id, or `None` (and drops `f`) once closed.
    pub(crate) fn schedule(
        &self,
        when: Option<Instant>,
        f: Callback,
        location: &'static Location<'static>,
    ) -> Option<(Key, u64, Instant)> {
        let mut st = self.st.borrow_mut();
        if st.closed {
            drop(st);
            drop(f);
            return None;
        }
        if let Some(when) = when {
            let deadline = st.timer_deadline(when);
            let timer = st.add_timer(deadline, Action::Call(f), location);
            return Some((timer.key, timer.id.get(), deadline));
        }
        let id = st.next_entry_id();
        let key = st
            .entries
            .insert(Entry::new(id, Action::Call(f), location, false));
        st.ready.push_back(Ready::Entry(key));
        Some((key, id, st.now))
    }

    /// Registers a timer that wakes `waker`, for `sleep` and friends.
    pub(crate) fn add_wake_timer(
        &self,
        when: Instant,
        waker: &Waker,
        location: &'static Location<'static>,
    ) -> Option<TimerKey> {
        let mut st = self.st.borrow_mut();
        if st.closed {
            return None;
        }
        let deadline = st.timer_deadline(when);
        if let Some(task) = st.own_task(waker) {
            if let Some(timer) = st.add_task_wake(deadline, task) {
                return Some(timer);
            }
        }
        let action = st.wake_action(waker);
        Some(st.add_timer(deadline, action, location))
    }

    /// True once the wake timer has run; otherwise it will wake `waker`. (A closed loop
    /// dropped every timer: its sleeps never complete.) `location` names the timer's site,
    /// should `waker` be one the loop must call.
    #[inline]
    pub(crate) fn poll_wake_timer(
        &self,
        timer: TimerKey,
        waker: &Waker,
        location: &'static Location<'static>,
    ) -> bool {
        // The common case, a timer that has run, without the weight of the rest.
        let mut st = self.st.borrow_mut();
        if st.closed {
            return false;
        }
        let gone = if timer.key.is_tagged() {
            st.wake_timer(timer.key, Some(timer.id.get())).is_none()
        } else {
            st.entries.get(timer.key).is_none()
        };
        gone || self.rewake_timer(st, timer, waker, location)
    }

    /// The rest of `poll_wake_timer`, for a timer it found pending: makes it wake `waker`.
    /// Always false.
    #[inline(never)]
    fn rewake_timer(
        &self,
        mut st: RefMut<'_, State>,
        timer: TimerKey,
        waker: &Waker,
        location: &'static Location<'static>,
    ) -> bool {
        let key = timer.key;
        let old = if key.is_tagged() {
            let found = st
                .wake_timer(key, Some(timer.id.get()))
                .expect("found pending by poll_wake_timer");
            let (id, redirect) = (found.id(), found.has_redirect());
            match st.wake_action(waker) {
                // The task the timer wakes by itself: no redirect needed.
                Action::Wake(task) if task == key.untagged() => {
                    if !redirect {
                        return false;
                    }
                    let found = st.wake_timer(key, Some(id)).expect("timer just seen");
                    found.id.set(REDIRECT, false);
                    st.redirects
                        .remove(&key)
                        .and_then(|r| st.entries.remove(r))
                        .map(|e| e.action)
                }
                action if redirect => {
                    let r = st.redirects[&key];
                    let entry = st
                        .entries
                        .get_mut(r)
                        .expect("a redirect lives with its timer");
                    Some(std::mem::replace(&mut entry.action, action))
                }
                action => {
                    let r = st.entries.insert(Entry::new(id, action, location, false));
                    st.redirects.insert(key, r);
                    let found = st.wake_timer(key, Some(id)).expect("timer just seen");
                    found.id.set(REDIRECT, true);
                    None
                }
            }
        } else {
            let action = st.wake_action(waker);
            let entry = st
                .entries
                .get_mut(key)
                .expect("found pending by poll_wake_timer");
            Some(std::mem::replace(&mut entry.action, action))
        };
        drop(st);
        drop(old);
        false
    }

    /// Cancels a pending callback or timer; true if it was pending and now will not run.
    pub(crate) fn cancel_entry(&self, key: Key, id: u64) -> bool {
        let removed = self.st.borrow_mut().remove_entry(key, id);
        let was_pending = removed.is_some();
        drop(removed);
        was_pending
    }

    /// Cancels a sleep's or interval's timer.
    pub(crate) fn cancel_timer(&self, timer: TimerKey) {
        self.cancel_entry(timer.key, timer.id.get());
    }

    pub(crate) fn spawn<F>(
        self: &Rc<Self>,
        future: F,
        name: Option<&str>,
        spawned_at: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let mut st = self.st.borrow_mut();
        st.next_task_id += 1;
        let id = TaskId(st.next_task_id);
        if st.closed {
            // The future is dropped unpolled; the handle yields `Cancelled`.
            drop(st);
            let (task, join) = TaskRef::new::<F>(Target::Main(0), &self.remote, None);
            drop(future);
            task.fail(JoinError::Cancelled);
            return JoinHandle {
                cell: join,
                core: Rc::downgrade(self),
                key: None,
                id,
            };
        }
        let name = name.map(|n| Rc::new(n.to_string()));
        let traced_name = st
            .trace
            .is_some()
            .then(|| name.as_deref().cloned())
            .flatten();
        let mut join = None;
        let key = st.tasks.insert_with(|key| {
            let (task, join_ref) = TaskRef::new(Target::Task(key), &self.remote, Some(future));
            join = Some(join_ref);
            // Its first step, queued below.
            TaskEntry::new(task, id, spawned_at, name)
        });
        let cell = join.expect("inserted");
        st.ready.push_back(Ready::Task(key));
        st.stats.tasks_spawned += 1;
        st.record(|| Event::TaskSpawn {
            task: id,
            name: traced_name,
        });
        drop(st);
        JoinHandle {
            cell,
            core: Rc::downgrade(self),
            key: Some(key),
            id,
        }
    }

    pub(crate) fn cancel_task(&self, key: Key) -> bool {
        let mut st = self.st.borrow_mut();
        let Some(task) = st.tasks.get_mut(key) else {
            return false;
        };
        task.cell.request_cancel();
        st.push_target(Target::Task(key));
        true
    }

    /// A wake on the loop's own thread: straight into the ready queue. False if the state is
    /// busy (the caller then goes through the remote queue, taken in next iteration).
    pub(crate) fn wake(&self, target: Target) -> bool {
        let Ok(mut st) = self.st.try_borrow_mut() else {
            return false;
        };
        if !st.closed {
            st.push_target(target);
        }
        true
    }

    pub(crate) fn stop(&self) {
        let mut st = self.st.borrow_mut();
        st.stopping = true;
        st.record(|| Event::Stop);
    }

    pub(crate) fn pending_tasks(&self) -> Vec<TaskInfo> {
        self.st.borrow().pending_tasks()
    }

    /// Runs iterations until `mode` says the call is over.
    pub(crate) fn run(
        self: &Rc<Self>,
        mode: Mode,
        mut main: Option<MainPoll<'_>>,
    ) -> Result<(), LoopError> {
        let at = self.now();
        if self.is_closed() {
            return Err(LoopError::Closed { at });
        }
        let Some(_guard) = crate::runtime::context::RunGuard::enter(self) else {
            return Err(LoopError::NestedRun { at });
        };
        self.other_loop_joins.borrow_mut().clear();
        // The main future's waker has an allocation of its own, with no future in it.
        let main_task = main.is_some().then(|| {
            let mut st = self.st.borrow_mut();
            st.main_counter = st.main_counter.checked_add(1).expect(
                "more than 4 billion run_until_complete calls on one loop; build a new loop",
            );
            st.main_gen = st.main_counter;
            let gen = st.main_gen;
            st.ready.push_back(Ready::Main(gen));
            st.main_queued = true;
            TaskRef::new::<std::future::Pending<()>>(Target::Main(gen), &self.remote, None).0
        });
        let main_waker = main_task.as_ref().map(TaskRef::waker);
        let mut after_batch = false;
        let result = loop {
            let batch = match self.begin_iteration(mode, after_batch) {
                Ok(Some(batch)) => batch,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            };
            if let Err(e) = self.run_batch(batch, &mut main, main_waker.as_deref()) {
                break Err(e);
            }
            after_batch = true;
        };
        let mut st = self.st.borrow_mut();
        st.stopping = false;
        st.main_gen = 0;
        st.current = None;
        match (result, &main_task) {
            (Err(e), Some(main_task)) if main.is_some() => {
                Err(self.main_stalled(&st, e, main_task))
            }
            (result, _) => result,
        }
    }

    /// The time limit, if `t` lies past it.
    pub(crate) fn over_limit(&self, t: Instant) -> Option<Duration> {
        self.cfg
            .time_limit
            .filter(|limit| t > Instant::ZERO + *limit)
    }

    /// Steps 1 and 2 of an iteration, under one borrow: after a batch (`after_batch`), end
    /// the run call if that batch failed, stopped the loop, or was `run_once`'s; take in
    /// remote wakes; if nothing is ready, end the run call (`Ok(None)`: over; `Err`: stalled
    /// or past the time limit) or jump the clock to the next deadline; promote due timers.
    /// Returns the batch's size.
    fn begin_iteration(&self, mode: Mode, after_batch: bool) -> Result<Option<usize>, LoopError> {
        let mut st = self.st.borrow_mut();
        if after_batch {
            if st.failure.is_some() {
                return Err(st.failure.take().expect("just tested"));
            }
            if st.stopping || mode == Mode::Once {
                return Ok(None);
            }
        }
        if self.remote.is_pending() {
            drop(st);
            self.take_remote();
            st = self.st.borrow_mut();
        }
        let idle = st.ready.is_empty() && !st.stopping;
        if idle {
            // What a burst grew goes back once it has gone by.
            st.ready.shrink_if_empty();
        }
        let next = if idle { st.next_deadline() } else { None };
        if idle {
            match mode {
                Mode::UntilStopped if next.is_none() => return Err(self.stalled(&st)),
                Mode::Quiescent | Mode::Once if next.is_none() => return Ok(None),
                Mode::Until(target) if next.is_none_or(|d| d > target) => {
                    if target > st.now {
                        if let Some(limit) = self.over_limit(target) {
                            return Err(LoopError::TimeLimit {
                                at: st.now,
                                limit,
                                culprit: None,
                            });
                        }
                        st.now = target;
                    }
                    return Ok(None);
                }
                _ => {}
            }
        }
        st.iteration += 1;
        st.stats.iterations += 1;
        if let Some(next) = next {
            if next > st.now {
                if let Some(limit) = self.over_limit(next) {
                    return Err(st.time_limit(limit));
                }
                let from = st.now;
                st.now = next;
                st.stats.clock_jumps += 1;
                st.record(|| Event::ClockJump { from, to: next });
            }
        }
        // Not under a step limit, which may stop a batch midway.
        st.wakes_only = st.ready.is_empty() && self.cfg.step_limit.is_none();
        let batch = st.promote_due();
        if st.wakes_only {
            // The whole batch ran during promotion: no user code, no time. No timer fell due
            // since, and no wake came but from another thread (the remote queue). So the next
            // iteration would begin by taking in nothing and promoting nothing: begin it
            // here, unless the run call ends after this iteration or remote wakes wait.
            if mode == Mode::Once || st.stopping || self.remote.is_pending() {
                return Ok(Some(0));
            }
            st.iteration += 1;
            st.stats.iterations += 1;
            st.wakes_only = false;
            st.stats.max_ready = st.stats.max_ready.max(st.ready.len());
            return Ok(Some(st.ready.len()));
        }
        Ok(Some(batch))
    }

    /// Queues the wakes that came through the remote queue (rare: wakes from other threads,
    /// or from inside a borrow of the state). Out of line, so the common case costs one load.
    #[cold]
    fn take_remote(&self) {
        // Taken before the borrow: dropping the queued wakers may free their tasks.
        let remote = self.remote.take();
        let mut st = self.st.borrow_mut();
        for target in remote {
            st.push_target(target);
        }
    }

    /// Step 3 of an iteration: runs the `batch` items that were ready when it began.
    fn run_batch(
        self: &Rc<Self>,
        batch: usize,
        main: &mut Option<MainPoll<'_>>,
        main_waker: Option<&Waker>,
    ) -> Result<(), LoopError> {
        // A half-open range: an inclusive one costs a few more instructions per step.
        for remaining in (1..batch + 1).rev() {
            // A failure of the previous step ends the run before the next one is taken.
            let mut st = self.st.borrow_mut();
            // Tested before taken: taking moves the whole (large) error even when none.
            if st.failure.is_some() {
                return Err(st.failure.take().expect("just tested"));
            }
            let Some(item) = st.next_item(remaining) else {
                break;
            };
            // Each step goes on under the same borrow, and releases it to run user code.
            match item {
                Ready::Entry(key) => self.run_entry(st, key)?,
                Ready::Task(key) => self.run_task(st, key)?,
                Ready::Main(gen) => {
                    drop(st);
                    self.run_main(gen, main, main_waker)?;
                }
                Ready::StopMain(gen) => {
                    if st.main_gen == gen {
                        st.stats.callbacks_run += 1;
                        st.stopping = true;
                    }
                }
            }
        }
        // A failure of the last step, and a stop, are for `begin_iteration` to see: it
        // borrows the state next anyway.
        Ok(())
    }

    /// Counts one more step against the step limit; puts `item` back if the limit is reached.
    /// `who` is `Some` whenever the loop is tracing.
    #[inline(always)]
    fn take_step(&self, st: &mut State, item: Ready, who: Option<&Who>) -> Result<(), LoopError> {
        if self.cfg.step_limit.is_some() {
            self.limited_step(st, item, who)?;
        }
        st.stats.callbacks_run += 1;
        st.blocked = Duration::ZERO;
        if st.trace.is_some() {
            // Only a traced `block_for` needs to name who blocks.
            st.current = who.cloned();
        }
        Ok(())
    }

    fn run_entry(&self, mut st: RefMut<'_, State>, key: Key) -> Result<(), LoopError> {
        if key.is_tagged() {
            return self.run_wake_timer(st, key);
        }
        let Some(entry) = st.entries.get(key) else {
            return Ok(());
        };
        let who = Who::Callback(entry.id(), entry.location);
        self.take_step(&mut st, Ready::Entry(key), Some(&who))?;
        let entry = st.entries.remove(key).expect("entry just seen");
        self.run_action(st, entry.id(), entry.action, &who);
        Ok(())
    }

    #[inline]
    fn run_wake_timer(&self, mut st: RefMut<'_, State>, key: Key) -> Result<(), LoopError> {
        // The timer this item was queued for: the only one of its key not in the heap.
        let Some(timer) = st.wake_timer(key, None).copied() else {
            return Ok(());
        };
        if timer.in_heap() {
            return Ok(());
        }
        if timer.is_dropped() {
            st.clear_wake(key);
            return Ok(());
        }
        let id = timer.id();
        let redirect = timer
            .has_redirect()
            .then(|| st.redirects.get(&key).copied())
            .flatten();
        let location = redirect
            .and_then(|r| st.entries.get(r))
            .map_or_else(wake_site, |e| e.location);
        let who = Who::Callback(id, location);
        self.take_step(&mut st, Ready::Entry(key), Some(&who))?;
        if let Some(r) = redirect {
            st.redirects.remove(&key);
            st.clear_wake(key);
            let entry = st
                .entries
                .remove(r)
                .expect("a redirect lives with its timer");
            self.run_action(st, id, entry.action, &who);
            return Ok(());
        }
        st.record(|| Event::CallbackRun { id });
        st.fire_wake(key);
        Ok(())
    }

    /// The step of callback `id`, counted already: queues a task, or runs user code with the
    /// state released.
    fn run_action(&self, mut st: RefMut<'_, State>, id: u64, action: Action, who: &Who) {
        st.record(|| Event::CallbackRun { id });
        let callback = match action {
            Action::Call(callback) => callback,
            Action::Wake(task) => {
                st.push_target(Target::Task(task));
                return;
            }
        };
        drop(st);
        let outcome = catch_unwind(AssertUnwindSafe(|| callback.call()));
        self.after_step(Some(who), outcome.err(), false);
    }

    fn run_task(&self, mut st: RefMut<'_, State>, key: Key) -> Result<(), LoopError> {
        // A task's step is named (its name is an `Rc` to clone) only when something may read
        // it: a trace, a slow-step warning, a cancel; a panic names it from the entry.
        let named = st.trace.is_some() || self.cfg.slow_callback.is_some();
        let Some(entry) = st.tasks.get_mut(key) else {
            return Ok(());
        };
        let (task, id) = (entry.cell.clone(), entry.id());
        let who = named.then(|| entry.who());
        // Cleared before the poll, so a wake during the poll queues the next step; set again
        // below if the step limit stops this one.
        entry.set_queued(false);
        if entry.cell.cancel_requested() {
            let who = who.unwrap_or_else(|| entry.who());
            st.remove_task(key);
            st.record(|| Event::TaskCancel { task: id });
            st.blocked = Duration::ZERO;
            drop(st);
            // The future's destructors are user code too: a panic there is the task's.
            let outcome = catch_unwind(AssertUnwindSafe(|| task.drop_future()));
            task.fail(JoinError::Cancelled);
            self.after_step(Some(&who), outcome.err(), false);
            return Ok(());
        }
        if let Err(e) = self.take_step(&mut st, Ready::Task(key), who.as_ref()) {
            if let Some(entry) = st.tasks.get_mut(key) {
                entry.set_queued(true);
            }
            return Err(e);
        }
        let waker = task.waker();
        // Left set after the poll while the task lives: its waker's address is its own until
        // then, and a wake by key is exactly what that waker does.
        st.polling = Some((key, waker.data(), waker.vtable()));
        st.stats.polls += 1;
        st.record(|| Event::TaskPoll { task: Some(id) });
        drop(st);

        let outcome = catch_unwind(AssertUnwindSafe(|| {
            task.poll(&mut Context::from_waker(&waker))
        }));
        match outcome {
            Ok(Poll::Pending) => self.after_step(who.as_ref(), None, false),
            Ok(Poll::Ready(())) => {
                let mut st = self.st.borrow_mut();
                let entry = st.remove_task(key);
                st.record(|| Event::TaskFinish { task: Some(id) });
                drop(st);
                // Nobody will take a detached task's output: its destructor is user code of
                // this step, and a panic there is the task's.
                let panic = if task.is_detached() {
                    catch_unwind(AssertUnwindSafe(|| task.drop_output())).err()
                } else {
                    None
                };
                let who = match panic {
                    Some(_) => who.or_else(|| entry.as_ref().map(TaskEntry::who)),
                    None => who,
                };
                drop(entry);
                self.after_step(who.as_ref(), panic, false);
            }
            Err(payload) => {
                let entry = self.st.borrow_mut().remove_task(key);
                // The entry stays for the whole step (only `close` removes others' entries,
                // and it cannot run during a step).
                let who = who.or_else(|| entry.as_ref().map(TaskEntry::who));
                drop(entry);
                let _ = catch_unwind(AssertUnwindSafe(|| task.drop_future()));
                task.fail(JoinError::Panicked(panic_message(&*payload)));
                let joined = !task.is_detached();
                self.after_step(who.as_ref(), Some(payload), joined);
            }
        }
        Ok(())
    }

    fn run_main(
        &self,
        gen: u32,
        main: &mut Option<MainPoll<'_>>,
        main_waker: Option<&Waker>,
    ) -> Result<(), LoopError> {
        let (Some(poll), Some(waker)) = (main.as_mut(), main_waker) else {
            return Ok(());
        };
        let mut st = self.st.borrow_mut();
        if st.main_gen != gen {
            return Ok(());
        }
        self.take_step(&mut st, Ready::Main(gen), Some(&Who::Main))?;
        st.main_queued = false;
        st.stats.polls += 1;
        st.record(|| Event::TaskPoll { task: None });
        drop(st);
        let outcome = catch_unwind(AssertUnwindSafe(|| poll(&mut Context::from_waker(waker))));
        match outcome {
            Ok(true) => {
                *main = None;
                let mut st = self.st.borrow_mut();
                st.main_queued = true; // later wakes of a finished main future do nothing
                st.record(|| Event::TaskFinish { task: None });
                st.ready.push_back(Ready::StopMain(gen));
                drop(st);
                self.after_step(Some(&Who::Main), None, false);
            }
            Ok(false) => self.after_step(Some(&Who::Main), None, false),
            Err(payload) => {
                *main = None;
                let mut st = self.st.borrow_mut();
                let message = panic_message(&*payload);
                st.record(|| Event::Panic {
                    who: Who::Main.describe(),
                    message: message.clone(),
                });
                return Err(LoopError::Panicked {
                    at: st.now,
                    who: Who::Main.describe(),
                    message,
                });
            }
        }
        Ok(())
    }

    /// After a callback or task step: slow-callback warning, then the panic policy.
    /// `joined` says a task's panic has a `JoinHandle` waiting to receive it. `who` is `Some`
    /// whenever there is a panic or a slow-step threshold.
    #[inline]
    fn after_step(
        &self,
        who: Option<&Who>,
        panic: Option<Box<dyn std::any::Any + Send>>,
        joined: bool,
    ) {
        if panic.is_some() || self.cfg.slow_callback.is_some() {
            let who = who.expect("a step is named when it panics or may be slow");
            self.after_step_slow(who, panic, joined);
        }
    }

    #[cold]
    fn after_step_slow(
        &self,
        who: &Who,
        panic: Option<Box<dyn std::any::Any + Send>>,
        joined: bool,
    ) {
        let mut st = self.st.borrow_mut();
        let blocked = std::mem::take(&mut st.blocked);
        if let Some(threshold) = self.cfg.slow_callback {
            if blocked >= threshold && !blocked.is_zero() {
                let warning = Event::SlowCallback {
                    who: who.describe(),
                    took: blocked,
                };
                eprintln!("{warning}");
                st.record(|| warning);
            }
        }
        let Some(payload) = panic else {
            return;
        };
        let who = who.describe();
        let message = panic_message(&*payload);
        st.record(|| Event::Panic {
            who: who.clone(),
            message: message.clone(),
        });
        let error = LoopError::Panicked {
            at: st.now,
            who,
            message,
        };
        match self.cfg.panic_policy {
            PanicPolicy::Fail => st.failure = Some(error),
            PanicPolicy::Report if joined => {}
            PanicPolicy::Report => {
                drop(st);
                match &self.cfg.exception_handler {
                    Some(handler) => handler(&error),
                    None => eprintln!("simloop: {error}"),
                }
            }
        }
        drop(payload);
    }

    /// Moves the clock forward by `d` at once, as a blocking call inside a callback would.
    #[track_caller]
    pub(crate) fn block_for(&self, d: Duration) {
        let mut st = self.st.borrow_mut();
        let target = st.now + d;
        if let Some(limit) = self.over_limit(target) {
            st.failure = Some(LoopError::TimeLimit {
                at: st.now,
                limit,
                culprit: Some(format!(
                    "block_for({}) at {}",
                    crate::time::instant::secs_string(crate::time::instant::nanos(d)),
                    Location::caller()
                )),
            });
        }
        st.now = target;
        st.blocked += d;
        if st.trace.is_some() {
            let who = st
                .current
                .as_ref()
                .map_or_else(|| "the caller".to_string(), Who::describe);
            st.record(|| Event::Blocked { who, duration: d });
        }
    }

    pub(crate) fn trace(&self) -> Trace {
        Trace {
            events: self.st.borrow().trace.clone().unwrap_or_default(),
        }
    }

    /// Drops every pending callback, timer and task, in that order (callbacks in queue order,
    /// timers by deadline, tasks by id), with the state released so destructors may call back.
    pub(crate) fn close(&self) {
        let (callbacks, timers, tasks) = {
            let mut st = self.st.borrow_mut();
            if st.closed {
                return;
            }
            st.closed = true;
            st.record(|| Event::Close);
            let ready = st.ready.drain();
            let mut callbacks = Vec::new();
            for item in ready {
                if let Ready::Entry(key) = item {
                    if let Some((_, _, Some(e))) = st.take_entry(key, None) {
                        callbacks.push(e);
                    }
                }
            }
            // In (deadline, registration) order. A wake timer's place has at most one record
            // queued (a cancelled one is `DROPPED`, which `take_entry` skips).
            let timers = st.heap.take_all();
            let mut pending: Vec<Entry> = timers
                .into_iter()
                .filter_map(|t| st.take_entry(t.key, None).and_then(|(_, _, e)| e))
                .collect();
            // Timers at Instant::MAX are not in the heap: last, in registration order. (A
            // wake timer's redirect has the timer's id.)
            st.orphans.clear();
            st.redirects.clear();
            let mut never = st.entries.drain();
            never.sort_by_key(Entry::id);
            pending.extend(never);
            st.live_timers = 0;
            let mut tasks = st.tasks.drain();
            st.polling = None;
            tasks.sort_by_key(TaskEntry::id);
            for t in &tasks {
                let task = t.id();
                st.record(|| Event::TaskCancel { task });
            }
            (callbacks, pending, tasks)
        };
        for entry in callbacks.into_iter().chain(timers) {
            let _ = catch_unwind(AssertUnwindSafe(|| drop(entry)));
        }
        for task in tasks {
            let _ = catch_unwind(AssertUnwindSafe(|| task.cell.drop_future()));
            task.cell.fail(JoinError::Cancelled);
        }
    }
}

/// Whose step it was, for the step limit's report.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stepper {
    Task(TaskId),
    /// Callbacks, by the place they were scheduled from (a callback that reschedules itself
    /// has a new id each time, but the same place).
    Callback(&'static Location<'static>),
    Main,
}

/// The last `RECENT` steppers, a ring; kept only under a step limit.
#[derive(Default)]
struct RecentSteps {
    ring: Vec<Stepper>,
    next: usize,
}

const RECENT: usize = 128;

/// Reports that need to look around: who stalls, who runs away. Off the hot path.
impl State {
    /// How many pending tasks keep the waker with this data pointer to wake them when they
    /// finish (their `JoinHandle` is awaited with it).
    fn joiners(&self, data: *const ()) -> u32 {
        let joined = self
            .tasks
            .values()
            .filter(|t| t.cell.joiner_data() == Some(data))
            .count();
        joined as u32
    }

    /// The time limit error, when the next timer (the queue's first) lies past `limit`: it
    /// names who set that timer.
    #[cold]
    fn time_limit(&mut self, limit: Duration) -> LoopError {
        let culprit = self.heap.peek().map(|t| {
            if t.key.is_tagged() {
                return match self.tasks.get(t.key.untagged()) {
                    Some(task) => task.info().to_string(),
                    None => "a sleep that outlived its task".to_string(),
                };
            }
            match self.entries.get(t.key) {
                Some(Entry {
                    action: Action::Wake(task),
                    ..
                }) if self.tasks.get(*task).is_some() => {
                    self.tasks.get(*task).expect("just seen").info().to_string()
                }
                Some(entry) => format!("the callback scheduled at {}", entry.location),
                None => "a timer".to_string(),
            }
        });
        LoopError::TimeLimit {
            at: self.now,
            limit,
            culprit,
        }
    }

    /// Who takes the step of `item` (named `who` when it is a callback).
    fn stepper(&self, item: Ready, who: Option<&Who>) -> Option<Stepper> {
        match item {
            // A task's wake timer: its task.
            Ready::Entry(key) if key.is_tagged() => self
                .tasks
                .get(key.untagged())
                .map(|t| Stepper::Task(t.id())),
            Ready::Entry(_) => match who {
                Some(Who::Callback(_, location)) => Some(Stepper::Callback(location)),
                _ => None,
            },
            Ready::Task(key) => self.tasks.get(key).map(|t| Stepper::Task(t.id())),
            Ready::Main(_) | Ready::StopMain(_) => Some(Stepper::Main),
        }
    }

    fn describe_stepper(&self, stepper: Stepper) -> String {
        match stepper {
            Stepper::Task(id) => match self.tasks.values().find(|t| t.id() == id) {
                Some(task) => task.info().to_string(),
                None => format!("task {id}"),
            },
            Stepper::Callback(location) => format!("the callback scheduled at {location}"),
            Stepper::Main => "the main future".to_string(),
        }
    }
}

impl Core {
    /// The error of a run that cannot end: the pending tasks, the timers that can never
    /// fire, and who waits for a waker that something outside the loop holds.
    #[cold]
    fn stalled(&self, st: &State) -> LoopError {
        // Nothing is ready and no timer is live: every entry left is a timer at MAX.
        let never_due = st.entries.len();
        let (mut held_outside, mut awaits_other_loop) = (Vec::new(), Vec::new());
        if never_due == 0 {
            let mut tasks: Vec<&TaskEntry> = st.tasks.values().collect();
            tasks.sort_by_key(|t| t.id());
            for task in tasks {
                let data = task.cell.waker().data();
                if task.cell.wakers_held() > st.joiners(data) {
                    let waiter = Waiter::Task(task.info());
                    if let Some(other) = self.other_loop_join(data) {
                        awaits_other_loop.push((waiter.clone(), other));
                    }
                    held_outside.push(waiter);
                }
            }
        }
        LoopError::Stalled {
            at: st.now,
            pending: st.pending_tasks(),
            detail: Box::new(StallDetail {
                never_due,
                held_outside,
                awaits_other_loop,
            }),
        }
    }

    /// The task of another loop whose `JoinHandle` the waker with this data pointer awaits.
    fn other_loop_join(&self, data: *const ()) -> Option<TaskId> {
        let joins = self.other_loop_joins.borrow();
        joins
            .iter()
            .rev()
            .find(|(d, _)| *d == data)
            .map(|(_, t)| *t)
    }

    /// A `JoinHandle` of another loop's task is awaited here with the waker of `data`.
    pub(crate) fn note_other_loop_join(&self, data: *const (), task: TaskId) {
        let mut joins = self.other_loop_joins.borrow_mut();
        joins.retain(|(d, _)| *d != data);
        joins.push((data, task));
    }

    /// A stall of `run_until_complete`, with the main future still waiting on `main`'s
    /// waker: lists the main future too if something outside the loop holds that waker.
    #[cold]
    fn main_stalled(&self, st: &State, mut error: LoopError, main: &TaskRef) -> LoopError {
        if let LoopError::Stalled { detail, .. } = &mut error {
            let data = main.waker().data();
            if detail.never_due == 0 && main.wakers_held() > st.joiners(data) {
                detail.held_outside.push(Waiter::Main);
                if let Some(other) = self.other_loop_join(data) {
                    detail.awaits_other_loop.push((Waiter::Main, other));
                }
            }
        }
        error
    }

    /// `take_step`'s part under a step limit, out of line: refuses the step of `item` (and
    /// puts it back) if the limit is reached, else records who takes it.
    #[inline(never)]
    fn limited_step(
        &self,
        st: &mut State,
        item: Ready,
        who: Option<&Who>,
    ) -> Result<(), LoopError> {
        let limit = self.cfg.step_limit.expect("called under a step limit");
        if st.stats.callbacks_run >= limit {
            st.ready.push_front(item);
            return Err(self.step_limit(st, limit));
        }
        let Some(stepper) = st.stepper(item, who) else {
            return Ok(());
        };
        let mut recent = self.recent.borrow_mut();
        let at = recent.next;
        if recent.ring.len() < RECENT {
            recent.ring.push(stepper);
        } else {
            recent.ring[at] = stepper;
        }
        recent.next = (at + 1) % RECENT;
        Ok(())
    }

    /// The step limit error: names who took the most of the last steps (on a tie, the
    /// latest of them).
    #[cold]
    fn step_limit(&self, st: &State, limit: u64) -> LoopError {
        let recent = self.recent.borrow();
        let n = recent.ring.len();
        // Oldest first, so that the latest of equal counts wins.
        let order = (0..n).map(|i| recent.ring[(recent.next + i) % n.max(1)]);
        let mut counts: Vec<(Stepper, usize)> = Vec::new();
        for stepper in order {
            match counts.iter().position(|(s, _)| *s == stepper) {
                Some(i) => {
                    let (s, c) = counts.remove(i);
                    counts.push((s, c + 1));
                }
                None => counts.push((stepper, 1)),
            }
        }
        let top = counts.iter().map(|(_, c)| *c).max();
        let culprit = counts
            .iter()
            .rev()
            .find(|(_, c)| Some(*c) == top)
            .map(|(s, _)| st.describe_stepper(*s));
        LoopError::StepLimit {
            at: st.now,
            limit,
            culprit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Ready, Word};
    use crate::slab::Key;

    #[test]
    fn ready_items_round_trip_through_one_word() {
        let keys = [
            Key::from_bits(0),
            Key::from_bits(u64::from(u32::MAX)),
            Key::from_bits(((1 << 29) - 1) << 32 | 7),
            Key::from_bits(((1 << 29) - 1) << 32 | 7).tagged(),
            Key::from_bits(5 << 32 | u64::from(u32::MAX)).tagged(),
        ];
        for key in keys {
            for item in [Ready::Entry(key), Ready::Task(key)] {
                let back = Ready::from_word(item.to_word());
                assert_eq!(format!("{back:?}"), format!("{item:?}"));
            }
        }
        for gen in [0, 1, u32::MAX] {
            for item in [Ready::Main(gen), Ready::StopMain(gen)] {
                let back = Ready::from_word(item.to_word());
                assert_eq!(format!("{back:?}"), format!("{item:?}"));
            }
        }
    }
}
