//! The loop's state: one `RefCell<State>`, borrowed only for bookkeeping and never while user
//! code runs. A callback or task future is taken out, the borrow released, the user code run,
//! and the result put back, so user code may call back into the loop (schedule, spawn, cancel,
//! wake) at any point.
//!
//! Here: the state itself, its entries (pending callbacks and timers), and the bookkeeping every
//! other part of the loop uses: registering timers, removing entries and tasks, queueing wakes.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::panic::Location;
use std::rc::Rc;
use std::task::{RawWakerVTable, Waker};
use std::time::Duration;

use crate::error::{LoopError, TaskInfo};
use crate::runtime::callback::Callback;
use crate::runtime::ready::{Ready, ReadyQueue};
use crate::runtime::wake_timer::{find_wake, TimerKey, WakeTimer};
use crate::schedule::rng::Rng;
use crate::schedule::{Candidate, Chooser};
use crate::slab::{Key, Slab};
use crate::task::join::{Target, TaskEntry, TaskId};
use crate::time::timers::{TimerQueue, TimerRef};
use crate::trace::stats::Stats;
use crate::trace::{Event, TraceEvent};
use crate::Instant;

/// A callback's or timer's id, with flags in its top bits: packed, so an entry's slab slot is
/// 56 bytes, not 64, and a wake timer's 24. Never zero (ids start at 1), which gives
/// `Option` a niche.
#[derive(Clone, Copy)]
pub(super) struct IdFlags(NonZeroU64);

/// The timer waits in the queue (is live).
pub(super) const LIVE: u64 = 1 << 63;

/// A wake timer has a redirect entry.
pub(super) const REDIRECT: u64 = 1 << 62;

/// A wake timer was cancelled after it fell due.
pub(super) const DROPPED: u64 = 1 << 61;

impl IdFlags {
    #[inline]
    pub(super) fn new(id: u64, live: bool) -> IdFlags {
        debug_assert!(id > 0 && id < DROPPED);
        let flags = if live { LIVE } else { 0 };
        IdFlags(NonZeroU64::new(id | flags).expect("ids start at 1"))
    }

    #[inline]
    pub(super) fn id(self) -> u64 {
        self.0.get() & !(LIVE | REDIRECT | DROPPED)
    }

    #[inline]
    pub(super) fn has(self, flag: u64) -> bool {
        self.0.get() & flag != 0
    }

    #[inline]
    pub(super) fn set(&mut self, flag: u64, on: bool) {
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
    pub(super) id: IdFlags,
}

impl Entry {
    #[inline]
    pub(super) fn new(
        id: u64,
        action: Action,
        location: &'static Location<'static>,
        live: bool,
    ) -> Entry {
        Entry {
            action,
            location,
            id: IdFlags::new(id, live),
        }
    }

    #[inline]
    pub(crate) fn id(&self) -> u64 {
        self.id.id()
    }

    /// True while the timer waits in the queue.
    #[inline]
    pub(super) fn in_heap(&self) -> bool {
        self.id.has(LIVE)
    }

    #[inline]
    pub(super) fn leave_heap(&mut self) {
        self.id.set(LIVE, false);
    }
}

/// True while the timer `t` refers to waits in the queue.
#[inline]
pub(super) fn timer_live(
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

/// What an entry does when it runs.
pub(crate) enum Action {
    /// User code, or a wake through a waker the loop does not know.
    Call(Callback),
    /// Queues a step of this task: the wake timer of a task's own `sleep`, which needs neither
    /// a waker clone nor user code.
    Wake(Key),
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

/// A task as errors name it.
impl TaskEntry {
    /// Its id, name and spawn site.
    pub(crate) fn info(&self) -> TaskInfo {
        TaskInfo {
            id: self.id(),
            name: self.name.as_deref().cloned(),
            spawned_at: self.spawned_at,
        }
    }
}

pub(crate) struct State {
    pub(crate) now: Instant,
    pub(crate) iteration: u64,
    pub(crate) ready: ReadyQueue<Ready>,
    pub(crate) entries: Slab<Entry>,
    /// Wake timers whose task finished first, by key (see `WakeTimer`).
    pub(super) orphans: BTreeMap<Key, WakeTimer>,
    /// The redirect entries of wake timers, by the timer's key.
    pub(super) redirects: BTreeMap<Key, Key>,
    pub(super) heap: TimerQueue,
    pub(super) live_timers: usize,
    /// While the iteration's promotion runs: true as long as its batch is nothing but the
    /// wake timers of tasks, without redirects, which `promote` then fires at once.
    pub(super) wakes_only: bool,
    /// How many tasks those wake timers queued: the front of the ready queue during
    /// promotion, moved behind the batch when it ends.
    pub(super) woken: usize,
    /// Their timers' ids, while tracing: their steps are recorded when promotion ends.
    pub(super) fired_ids: Vec<u64>,
    pub(super) next_entry_id: u64,
    pub(crate) tasks: Slab<TaskEntry>,
    pub(super) next_task_id: u64,
    pub(crate) stopping: bool,
    pub(crate) closed: bool,
    /// Generation of the main future being run, 0 when none.
    pub(super) main_gen: u32,
    /// Set while a step of the main future sits in the ready queue.
    pub(super) main_queued: bool,
    /// The task polled last, and its waker's data and vtable: a wake timer registered with
    /// that waker becomes `Action::Wake`. Names a live task only (`remove_task` and `close`
    /// clear it): once its entry goes, its allocation may be freed and the address reused
    /// by another waker (the next run call's main waker), which must not pass for it.
    pub(super) polling: Option<(Key, *const (), *const RawWakerVTable)>,
    pub(super) main_counter: u32,
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
    /// `pick_item`'s buffers, kept from one decision to the next (an exploring run makes one
    /// per step).
    pub(crate) pick_scratch: (Vec<usize>, Vec<Candidate>),
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
    pub(super) fn push_event(&mut self, event: Event) {
        if let Some(trace) = &mut self.trace {
            trace.push(TraceEvent {
                at: self.now,
                iteration: self.iteration,
                event,
            });
        }
    }

    #[inline]
    pub(super) fn next_entry_id(&mut self) -> u64 {
        self.next_entry_id += 1;
        self.next_entry_id
    }

    /// The polled task, when `waker` is its own (compared by data and vtable pointer).
    #[inline]
    pub(super) fn own_task(&self, waker: &Waker) -> Option<Key> {
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
    #[inline]
    pub(super) fn wake_action(&self, waker: &Waker) -> Action {
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
    pub(super) fn timer_deadline(&mut self, when: Instant) -> Instant {
        if when != Instant::MAX && !self.chooser.is_fifo() {
            when + self.chooser.jitter()
        } else {
            when
        }
    }

    /// Registers a timer at `deadline`, which `timer_deadline` gave.
    #[inline]
    pub(super) fn add_timer(
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

    /// The rest of registering timer `id` (its entry or slot is filled): queues it unless it
    /// is never due, counts it, traces it.
    #[inline(always)]
    pub(super) fn queue_timer(&mut self, deadline: Instant, id: u64, key: Key) -> TimerKey {
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

    /// Removes a task's slot; its wake timer, if any, lives on as an orphan.
    #[inline]
    pub(super) fn remove_task(&mut self, key: Key) -> Option<TaskEntry> {
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
    #[inline]
    pub(super) fn take_entry(
        &mut self,
        key: Key,
        id: Option<u64>,
    ) -> Option<(u64, bool, Option<Entry>)> {
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
    #[inline]
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

    pub(super) fn pending_tasks(&self) -> Vec<TaskInfo> {
        let mut v: Vec<TaskInfo> = self.tasks.values().map(TaskEntry::info).collect();
        v.sort_by_key(|t| t.id);
        v
    }

    /// Queues a step of the woken task, unless one is queued already or it has finished.
    #[inline]
    pub(super) fn push_target(&mut self, target: Target) {
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
