//! `Core`, the loop proper, shared by `EventLoop`, every `Handle`, and the thread-local
//! context: its construction and the calls user code makes on it (schedule, spawn, cancel,
//! wake, stop, `block_for`). The iteration is in `iteration.rs`, the steps in `step.rs`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::Location;
use std::rc::Rc;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::error::{LoopError, TaskInfo};
use crate::runtime::callback::Callback;
use crate::runtime::diagnose::RecentSteps;
use crate::runtime::event_loop::Config;
use crate::runtime::ready::{Ready, ReadyQueue};
use crate::runtime::state::{Action, Entry, State, Who};
use crate::runtime::wake_timer::TimerKey;
use crate::schedule::rng::Rng;
use crate::slab::{Key, Slab};
use crate::task::cell::{Remote, TaskRef};
use crate::task::join::JoinError;
use crate::task::join::{JoinHandle, Target, TaskEntry, TaskId};
use crate::time::timers::TimerQueue;
use crate::trace::stats::Stats;
use crate::trace::{Event, Trace};
use crate::Instant;

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
    pub(super) recent: RefCell<RecentSteps>,
    /// The JoinHandles of other loops' tasks awaited here, by the awaiting waker's data
    /// pointer, for the stall report; cleared by each run call.
    pub(super) other_loop_joins: RefCell<Vec<(*const (), TaskId)>>,
}

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
                pick_scratch: (Vec::new(), Vec::new()),
            }),
            remote_weak: Arc::downgrade(&remote),
            remote,
            pool: RefCell::new(crate::blocking::Pool::new(cfg.blocking_workers)),
            recent: RefCell::default(),
            other_loop_joins: RefCell::default(),
            cfg,
        })
    }

    #[inline]
    pub(crate) fn now(&self) -> Instant {
        self.st.borrow().now
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.st.borrow().closed
    }

    /// Queues `f` now (`when` is `None`) or registers it as a timer; returns its entry key
    /// and id, or `None` (and drops `f`) once closed.
    #[inline]
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

    /// Cancels a pending callback or timer; true if it was pending and now will not run.
    #[inline]
    pub(crate) fn cancel_entry(&self, key: Key, id: u64) -> bool {
        let removed = self.st.borrow_mut().remove_entry(key, id);
        let was_pending = removed.is_some();
        drop(removed);
        was_pending
    }

    /// Cancels a sleep's or interval's timer.
    #[inline]
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
        if st.chooser.observes() {
            cell.set_observed();
        }
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

    #[inline]
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
    #[inline]
    pub(crate) fn wake(&self, target: Target) -> bool {
        let Ok(mut st) = self.st.try_borrow_mut() else {
            return false;
        };
        if !st.closed {
            st.push_target(target);
        }
        true
    }

    #[inline]
    pub(crate) fn stop(&self) {
        let mut st = self.st.borrow_mut();
        st.stopping = true;
        st.record(|| Event::Stop);
    }

    pub(crate) fn pending_tasks(&self) -> Vec<TaskInfo> {
        self.st.borrow().pending_tasks()
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
}
