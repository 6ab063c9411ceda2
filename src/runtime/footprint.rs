//! What the loop observes of each step for the systematic search's reduction (sleep sets,
//! `schedule/guided.rs`): the accesses a step declares ([`access`], [`access_read`]), and
//! whether it did anything else another step could see (a callback, a wake of another task,
//! a spawn, a timer set or cancelled, the clock moved, a choice, its task's completion).
//! Nothing here runs unless the loop's schedule is a reducing search (one flag test).

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::runtime::context::core;
use crate::runtime::core::Core;
use crate::runtime::ready::Ready;
use crate::runtime::state::State;
use crate::schedule::guided::{task_key, Snapshot};
use crate::schedule::Candidate;

/// Declares that the running step reads and writes the shared resource `key`, for the
/// systematic search's reduction ([`Explore::reduce`](crate::Explore::reduce)): two steps
/// that declare no conflicting accesses (and do nothing else the loop sees as shared, see
/// the module docs) are explored in one order only.
///
/// Outside an exploring schedule this does nothing (one test of a flag). Keys are hashed;
/// two keys with the same hash only make the reduction more cautious.
///
/// ```
/// use simloop::EventLoop;
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// let mut lp = EventLoop::new();
/// let counter = Rc::new(Cell::new(0));
/// let c = counter.clone();
/// lp.spawn(async move {
///     simloop::access(&"counter");
///     c.set(c.get() + 1);
/// });
/// lp.run().unwrap();
/// assert_eq!(counter.get(), 1);
/// ```
///
/// # Panics
/// Outside a loop.
#[track_caller]
pub fn access<K: Hash + ?Sized>(key: &K) {
    declare(key, true);
}

/// Declares that the running step only reads the shared resource `key`: reads of the same
/// key by two steps commute, a read and a write do not. See [`access`].
///
/// # Panics
/// Outside a loop.
#[track_caller]
pub fn access_read<K: Hash + ?Sized>(key: &K) {
    declare(key, false);
}

#[track_caller]
fn declare<K: Hash + ?Sized>(key: &K, write: bool) {
    let core = core("access()");
    let mut st = core.st.borrow_mut();
    if !st.chooser.observes() {
        return;
    }
    // `DefaultHasher::new()` has fixed keys: the same hash on every run.
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    let hash = hasher.finish();
    if let Some(g) = st.chooser.guided() {
        g.declare(hash, write);
    }
}

/// A `JoinHandle` of task `id` (of the loop `core`) looked at the task's completion. Called
/// only for tasks spawned under a reducing search (the task's `OBSERVED` flag), so the
/// common path of a `JoinHandle` poll pays one flag test, not the upgrade and the borrow.
pub(crate) fn joined(core: &std::rc::Weak<Core>, id: u64) {
    let Some(core) = core.upgrade() else {
        return;
    };
    let Ok(mut st) = core.st.try_borrow_mut() else {
        return;
    };
    if st.chooser.observes() {
        if let Some(g) = st.chooser.guided() {
            g.declare(task_key(id), false);
        }
    }
}

/// The loop's side: what it observes of each step, under a reducing search.
impl State {
    fn snapshot(&self, remaining: usize) -> Snapshot {
        Snapshot {
            iteration: self.iteration,
            now: self.now,
            beyond: self.ready.len().saturating_sub(remaining),
            timers: self.stats.timers_set + self.stats.timers_cancelled,
            spawned: self.stats.tasks_spawned,
        }
    }

    /// Before the batch's next item is chosen (`remaining` items left): the step that ran
    /// since the last item was taken has ended; was it local?
    pub(crate) fn step_ends(&mut self, remaining: usize) {
        let now = self.snapshot(remaining);
        let Some(g) = self.chooser.guided() else {
            return;
        };
        let Some((task, at)) = g.running_task() else {
            g.end_step(true, now.iteration);
            return;
        };
        // `at.beyond` was taken after the step's item left the queue.
        let local = task.is_some()
            && now.iteration == at.iteration
            && now.now == at.now
            && now.timers == at.timers
            && now.spawned == at.spawned
            && now.beyond >= at.beyond
            && {
                let pushed = now.beyond - at.beyond;
                let len = self.ready.len();
                // Only its own next step.
                let own = |item: Ready| match (item, task) {
                    (Ready::Main(_), Some(0)) => true,
                    (Ready::Task(key), Some(id)) => {
                        self.tasks.get(key).is_some_and(|t| t.id().0 == id)
                    }
                    _ => false,
                };
                self.ready.iter().skip(len - pushed).all(own)
            };
        // A task that finished wrote its completion, which its handle reads (`joined`).
        let finished = task.filter(|&id| id != 0 && !self.tasks.values().any(|t| t.id().0 == id));
        let iteration = now.iteration;
        if let Some(g) = self.chooser.guided() {
            if let Some(id) = finished {
                g.declare(task_key(id), true);
            }
            g.end_step(!local, iteration);
        }
    }

    /// The batch's next item was taken: its step begins.
    pub(crate) fn step_begins(&mut self, item: Option<Ready>, remaining: usize) {
        let Some(item) = item else {
            return;
        };
        let who = match item {
            Ready::Task(key) => Candidate::Task(self.tasks.get(key).map_or(u64::MAX, |t| t.id().0)),
            Ready::Main(_) => Candidate::Task(0),
            Ready::Entry(_) | Ready::StopMain(_) => Candidate::Callback,
        };
        let at = self.snapshot(remaining - 1);
        if let Some(g) = self.chooser.guided() {
            g.begin_step(who, at);
        }
    }
}
