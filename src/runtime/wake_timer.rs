//! Wake timers: a task's own `sleep` timer, kept in the task's slot, so that firing it reads
//! one slot and needs neither a callback nor a waker clone; and the fast path that takes such a
//! timer's step during promotion (`promote_wake`, `end_promotion`) while the batch holds nothing
//! else. The ordering is the contract's all the same: see `WakeTimer` and `promote_wake`.

use std::cell::RefMut;
use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::panic::Location;
use std::task::Waker;
use std::time::Duration;

use crate::error::LoopError;
use crate::runtime::core::Core;
use crate::runtime::ready::Ready;
use crate::runtime::state::{Action, Entry, IdFlags, State, Who, DROPPED, LIVE, REDIRECT};
use crate::slab::{Key, Slab};
use crate::task::join::TaskEntry;
use crate::time::timers::TimerRef;
use crate::trace::Event;
use crate::Instant;

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
    pub(super) id: IdFlags,
}

impl WakeTimer {
    #[inline]
    pub(super) fn id(self) -> u64 {
        self.id.id()
    }

    #[inline]
    pub(super) fn in_heap(self) -> bool {
        self.id.has(LIVE)
    }

    #[inline]
    pub(super) fn is_dropped(self) -> bool {
        self.id.has(DROPPED)
    }

    #[inline]
    pub(super) fn has_redirect(self) -> bool {
        self.id.has(REDIRECT)
    }
}

/// A timer as the sleep or interval that waits on it holds it: its key, and its id, which
/// tells it from a later wake timer of the same task.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimerKey {
    pub(super) key: Key,
    pub(super) id: NonZeroU64,
}

/// The wake timer with this (tagged) key, in its task's slot or orphaned (`State::wake_timer`
/// for shared borrows).
#[inline]
pub(super) fn find_wake(
    tasks: &Slab<TaskEntry>,
    orphans: &BTreeMap<Key, WakeTimer>,
    key: Key,
) -> Option<WakeTimer> {
    match tasks.get(key.untagged()) {
        Some(task) => task.wake,
        None => orphans.get(&key).copied(),
    }
}

/// The call site named for a wake timer's step (no user code runs in it).
pub(super) fn wake_site() -> &'static Location<'static> {
    Location::caller()
}

impl State {
    /// A record that left the queue without firing: a cancelled timer's. A wake timer's
    /// place, kept while its record waited (`DROPPED`), is free from now on.
    #[cold]
    pub(super) fn discard(&mut self, t: TimerRef) {
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

    /// Registers `task`'s own wake timer in its slot, if the slot is free (else `None`: the
    /// timer needs an `Entry`). No `Action` is built: this is every sleep's path, where a
    /// value moved through the stack cost a stall.
    #[inline(always)]
    pub(super) fn add_task_wake(&mut self, deadline: Instant, task: Key) -> Option<TimerKey> {
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

    /// The wake timer with this (tagged) key, in its task's slot or orphaned; with `id`, only
    /// if it is that timer.
    #[inline]
    pub(super) fn wake_timer(&mut self, key: Key, id: Option<u64>) -> Option<&mut WakeTimer> {
        let timer = match self.tasks.get_mut(key.untagged()) {
            Some(task) => task.wake.as_mut(),
            None => self.orphans.get_mut(&key),
        }?;
        id.is_none_or(|id| timer.id() == id).then_some(timer)
    }

    /// Frees the wake timer's place (the one `wake_timer` finds).
    #[inline]
    pub(super) fn clear_wake(&mut self, key: Key) {
        match self.tasks.get_mut(key.untagged()) {
            Some(task) => task.wake = None,
            None => {
                self.orphans.remove(&key);
            }
        }
    }

    /// The step of a task's wake timer that fell due (no redirect), from the ready queue:
    /// frees its place and queues the task (unless it is queued already, or gone).
    #[inline]
    pub(super) fn fire_wake(&mut self, key: Key) {
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
    pub(super) fn promote_wake(&mut self, top: TimerRef) -> Option<u64> {
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
    #[inline]
    pub(super) fn end_promotion(&mut self, batch: usize) {
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
}

impl Core {
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
    pub(super) fn rewake_timer(
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

    #[inline]
    pub(super) fn run_wake_timer(
        &self,
        mut st: RefMut<'_, State>,
        key: Key,
    ) -> Result<(), LoopError> {
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
}
