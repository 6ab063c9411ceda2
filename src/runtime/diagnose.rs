//! Reports that need to look around: who stalls, who runs away, whose timer lies past the time
//! limit. Off the hot path: each is built only once the error is certain.

use std::panic::Location;
use std::time::Duration;

use crate::error::{LoopError, StallDetail, Waiter};
use crate::runtime::core::Core;
use crate::runtime::ready::Ready;
use crate::runtime::state::{Action, Entry, State, Who};
use crate::task::cell::TaskRef;
use crate::task::join::{TaskEntry, TaskId};

/// Whose step it was, for the step limit's report.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Stepper {
    Task(TaskId),
    /// Callbacks, by the place they were scheduled from (a callback that reschedules itself
    /// has a new id each time, but the same place).
    Callback(&'static Location<'static>),
    Main,
}

/// The last `RECENT` steppers, a ring; kept only under a step limit.
#[derive(Default)]
pub(super) struct RecentSteps {
    ring: Vec<Stepper>,
    next: usize,
}

pub(super) const RECENT: usize = 128;

impl State {
    /// How many pending tasks keep the waker with this data pointer to wake them when they
    /// finish (their `JoinHandle` is awaited with it).
    pub(super) fn joiners(&self, data: *const ()) -> u32 {
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
    pub(super) fn time_limit(&mut self, limit: Duration) -> LoopError {
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
    pub(super) fn stepper(&self, item: Ready, who: Option<&Who>) -> Option<Stepper> {
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

    pub(super) fn describe_stepper(&self, stepper: Stepper) -> String {
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
    pub(super) fn stalled(&self, st: &State) -> LoopError {
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
    pub(super) fn other_loop_join(&self, data: *const ()) -> Option<TaskId> {
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
    pub(super) fn main_stalled(
        &self,
        st: &State,
        mut error: LoopError,
        main: &TaskRef,
    ) -> LoopError {
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
    pub(super) fn limited_step(
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
    pub(super) fn step_limit(&self, st: &State, limit: u64) -> LoopError {
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
