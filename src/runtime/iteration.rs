//! The iteration: the ordering contract (SPEC §3.1), top-down.
//!
//! A run call (`Core::run`) is a sequence of iterations until its `Mode` says it is over. One
//! iteration: (1) if nothing is ready and no stop is pending, the clock jumps to the earliest
//! live deadline (`begin_iteration`, `State::next_deadline`); (2) every timer due by now goes to
//! the back of the ready queue in (deadline, registration) order (`State::promote_due`);
//! (3) exactly the items queued at that point run, in order (`run_batch`, `State::next_item`);
//! a stop ends the run call after the batch.
//!
//! What makes it fast lives elsewhere, behind the functions named here: the packed ready words
//! (`ready.rs`), the loads started ahead (`lookahead.rs`), and the wake timers' fast path
//! (`wake_timer.rs`: `promote_wake`, `end_promotion`). The steps themselves are in `step.rs`.

use std::rc::Rc;
use std::task::{Context, Waker};
use std::time::Duration;

use crate::error::LoopError;
use crate::runtime::core::Core;
use crate::runtime::lookahead::prefetch_slot;
use crate::runtime::ready::Ready;
use crate::runtime::state::{timer_live, State};
use crate::schedule::Candidate;
use crate::task::cell::TaskRef;
use crate::task::join::Target;
use crate::time::timers::TimerRef;
use crate::trace::Event;
use crate::Instant;

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

/// The main future, as the run loop sees it: poll it, true when it has completed.
pub(crate) type MainPoll<'a> = &'a mut dyn FnMut(&mut Context<'_>) -> bool;

impl Core {
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

    /// Steps 1 and 2 of an iteration, under one borrow: after a batch (`after_batch`), end
    /// the run call if that batch failed, stopped the loop, or was `run_once`'s; take in
    /// remote wakes; if nothing is ready, end the run call (`Ok(None)`: over; `Err`: stalled
    /// or past the time limit) or jump the clock to the next deadline; promote due timers.
    /// Returns the batch's size.
    pub(super) fn begin_iteration(
        &self,
        mode: Mode,
        after_batch: bool,
    ) -> Result<Option<usize>, LoopError> {
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
}

/// Step 1, the jump, and step 2, the promotion of due timers.
impl State {
    /// The earliest live deadline; dead heap entries met on the way are dropped.
    #[inline]
    pub(super) fn next_deadline(&mut self) -> Option<Instant> {
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

    /// Step 2 of an iteration: every timer due by now goes to the back of the ready queue, in
    /// (deadline, registration) order.
    /// Returns the size of the iteration's batch.
    #[inline]
    pub(super) fn promote_due(&mut self) -> usize {
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

    /// `promote_due` under an exploring schedule: timers with equal deadlines go to the ready
    /// queue in an order the schedule chooses.
    #[inline(never)]
    pub(super) fn promote_due_chosen(&mut self) {
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
    pub(super) fn promote(&mut self, top: TimerRef) {
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
}

/// Step 3: the batch.
impl Core {
    /// Step 3 of an iteration: runs the `batch` items that were ready when it began.
    pub(super) fn run_batch(
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
}

impl State {
    /// The next item of the batch, of which `remaining` items are left at the front of the
    /// ready queue. FIFO takes the front; an exploring schedule may take any task step, or
    /// the first callback (callbacks keep their order).
    #[inline]
    pub(super) fn next_item(&mut self, remaining: usize) -> Option<Ready> {
        if self.chooser.is_fifo() {
            return self.ready.pop_front();
        }
        self.next_item_chosen(remaining)
    }

    /// `next_item` under an exploring schedule. Apart, so that the FIFO test comes first:
    /// inlined, the compiler tested `remaining` first, a branch that goes either way.
    #[inline(never)]
    pub(super) fn next_item_chosen(&mut self, remaining: usize) -> Option<Ready> {
        if self.chooser.observes() {
            // The systematic search's reduction sees each step end and begin.
            self.step_ends(remaining);
            let item = self.pick_item(remaining);
            self.step_begins(item, remaining);
            return item;
        }
        self.pick_item(remaining)
    }

    /// `next_item_chosen`'s choice: any task step of the batch, or its first callback.
    fn pick_item(&mut self, remaining: usize) -> Option<Ready> {
        if remaining < 2 {
            return self.ready.pop_front();
        }
        let (mut positions, mut candidates) = std::mem::take(&mut self.pick_scratch);
        positions.clear();
        candidates.clear();
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
        let item = if positions.len() < 2 {
            self.ready.pop_front()
        } else {
            let pick = self.chooser.choose_item(&candidates);
            self.ready.remove(positions[pick])
        };
        self.pick_scratch = (positions, candidates);
        item
    }
}

impl Core {
    /// The time limit, if `t` lies past it.
    pub(crate) fn over_limit(&self, t: Instant) -> Option<Duration> {
        self.cfg
            .time_limit
            .filter(|limit| t > Instant::ZERO + *limit)
    }

    /// Queues the wakes that came through the remote queue (rare: wakes from other threads,
    /// or from inside a borrow of the state). Out of line, so the common case costs one load.
    #[cold]
    pub(super) fn take_remote(&self) {
        // Taken before the borrow: dropping the queued wakers may free their tasks.
        let remote = self.remote.take();
        let mut st = self.st.borrow_mut();
        for target in remote {
            st.push_target(target);
        }
    }
}
