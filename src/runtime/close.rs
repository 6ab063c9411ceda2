//! Closing a loop: every pending callback, timer and task is dropped, in a defined order.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::runtime::core::Core;
use crate::runtime::ready::Ready;
use crate::runtime::state::Entry;
use crate::task::join::JoinError;
use crate::task::join::TaskEntry;
use crate::trace::Event;

impl Core {
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
            // Nothing pending (a test case's loop, run to its end): nothing to drop, in no
            // order, and no lists to build for it.
            if st.ready.is_empty()
                && st.heap.len() == 0
                && st.entries.len() == 0
                && st.tasks.len() == 0
            {
                st.orphans.clear();
                st.redirects.clear();
                st.polling = None;
                return;
            }
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
