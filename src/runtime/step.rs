//! One step of a batch: a callback, a task poll (or its cancellation), or the main future's
//! poll; each takes what it runs out of the state, releases the borrow, runs it under
//! `catch_unwind`, and then applies the panic policy and the slow-callback warning.

use std::cell::RefMut;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::error::LoopError;
use crate::runtime::core::Core;
use crate::runtime::event_loop::PanicPolicy;
use crate::runtime::iteration::MainPoll;
use crate::runtime::ready::Ready;
use crate::runtime::state::{Action, State, Who};
use crate::slab::Key;
use crate::task::join::JoinError;
use crate::task::join::{Target, TaskEntry};
use crate::task::panic::panic_message;
use crate::trace::Event;

impl Core {
    /// Counts one more step against the step limit; puts `item` back if the limit is reached.
    /// `who` is `Some` whenever the loop is tracing.
    #[inline(always)]
    pub(super) fn take_step(
        &self,
        st: &mut State,
        item: Ready,
        who: Option<&Who>,
    ) -> Result<(), LoopError> {
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

    #[inline]
    pub(super) fn run_entry(&self, mut st: RefMut<'_, State>, key: Key) -> Result<(), LoopError> {
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

    /// The step of callback `id`, counted already: queues a task, or runs user code with the
    /// state released.
    #[inline]
    pub(super) fn run_action(&self, mut st: RefMut<'_, State>, id: u64, action: Action, who: &Who) {
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

    #[inline]
    pub(super) fn run_task(&self, mut st: RefMut<'_, State>, key: Key) -> Result<(), LoopError> {
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

    #[inline]
    pub(super) fn run_main(
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
    pub(super) fn after_step(
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
    pub(super) fn after_step_slow(
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
}
