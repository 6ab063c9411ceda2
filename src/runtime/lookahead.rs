//! Loads started ahead: the run loop knows which slots and task headers the next firings will
//! read, and starts loading them (a prefetch hint) while the batch runs, so that their cache
//! misses overlap instead of waiting one by one. Hints only: nothing here changes what runs.

use crate::runtime::state::{Entry, State};
use crate::slab::Slab;
use crate::task::join::TaskEntry;
use crate::time::timers::TimerRef;

/// Starts loading the slot a timer's firing will look up first.
#[inline]
pub(super) fn prefetch_slot(entries: &Slab<Entry>, tasks: &Slab<TaskEntry>, t: &TimerRef) {
    if t.key.is_tagged() {
        tasks.prefetch(t.key.untagged());
    } else {
        entries.prefetch(t.key);
    }
}

impl State {
    /// Starts loading what the next promotion will read, while the batch runs: the task header
    /// (or the entry's slot) of `next`, the timer to fire next, and of the other timers of its
    /// deadline (at most 32); when `next` is alone there, the slot of the timer after it. One
    /// by one, each firing's load would wait for memory in turn; started here, they overlap.
    #[inline]
    pub(super) fn prefetch_ahead(&self, next: TimerRef) {
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
    pub(super) fn prefetch_firing(&self, t: TimerRef) {
        if t.key.is_tagged() {
            if let Some(task) = self.tasks.get(t.key.untagged()) {
                task.cell.prefetch();
            }
        } else {
            self.entries.prefetch(t.key);
        }
    }
}
