//! [`Handle`], the scheduling half of a loop, and the handles of scheduled callbacks.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::rc::{Rc, Weak};
use std::time::Duration;

use futures::task::{FutureObj, LocalFutureObj, LocalSpawn, Spawn, SpawnError};

use crate::runtime::callback::Callback;
use crate::runtime::core::Core;
use crate::slab::Key;
use crate::{Instant, JoinHandle};

/// The scheduling half of an [`EventLoop`](crate::EventLoop): cheap to clone, not `Send`.
///
/// Callbacks and tasks hold handles to schedule more work; [`current`](crate::current)
/// returns one for the loop running on this thread. After the loop is closed every
/// operation is inert: callbacks are dropped unrun, spawned futures are dropped and their
/// [`JoinHandle`] yields [`JoinError::Cancelled`](crate::JoinError::Cancelled).
///
/// It implements `futures`' [`Spawn`] and [`LocalSpawn`], so code written against those
/// traits runs on simloop. `Spawn` takes only `Send` futures, and simloop's timer futures
/// (`Sleep`, `Interval`, `Timeout`) are not `Send` (they hold the loop), so code that sleeps
/// wants `LocalSpawn`:
///
/// ```
/// use futures::task::LocalSpawnExt;
/// use simloop::EventLoop;
///
/// let mut lp = EventLoop::new();
/// let handle = lp.handle();
/// let answer = handle.spawn_local_with_handle(async { 6 * 7 }).unwrap();
/// assert_eq!(lp.run_until_complete(answer).unwrap(), 42);
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) core: Rc<Core>,
}

impl Handle {
    /// The loop's virtual time.
    pub fn time(&self) -> Instant {
        self.core.now()
    }

    /// Schedules `f` to run in a later iteration, after everything already queued (FIFO).
    #[track_caller]
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> CallbackHandle {
        let made = self
            .core
            .schedule(None, Callback::new(f), Location::caller())
            .map(|m| (m.0, m.1));
        CallbackHandle::new(&self.core, made)
    }

    /// Schedules `f` to run `delay` from now. A zero delay is a timer due now: it runs in the
    /// next iteration, after the callbacks already queued.
    #[track_caller]
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> TimerHandle {
        let when = self.core.now() + delay;
        self.call_at_inner(when, Callback::new(f), Location::caller())
    }

    /// Schedules `f` to run at `when`. A past instant is a timer due now.
    #[track_caller]
    pub fn call_at(&self, when: Instant, f: impl FnOnce() + 'static) -> TimerHandle {
        self.call_at_inner(when, Callback::new(f), Location::caller())
    }

    fn call_at_inner(
        &self,
        when: Instant,
        f: Callback,
        location: &'static Location<'static>,
    ) -> TimerHandle {
        let made = self.core.schedule(Some(when), f, location);
        TimerHandle {
            // The deadline as registered: with timer jitter, possibly later than asked.
            when: made.map_or(when, |m| m.2),
            inner: CallbackHandle::new(&self.core, made.map(|m| (m.0, m.1))),
        }
    }

    /// Spawns `future` as a task; its first poll is queued with `call_soon`. No `Send` bound.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future, None, Location::caller())
    }

    /// Spawns a named task: the name appears in errors, traces and `pending_tasks()`.
    #[track_caller]
    pub fn spawn_named<F>(&self, name: &str, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future, Some(name), Location::caller())
    }

    /// Stops the loop once the current iteration has finished.
    pub fn stop(&self) {
        self.core.stop();
    }

    /// True once the loop was closed.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("time", &self.time())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Spawn for Handle {
    #[track_caller]
    fn spawn_obj(&self, future: FutureObj<'static, ()>) -> Result<(), SpawnError> {
        self.status()?;
        drop(self.spawn(future));
        Ok(())
    }

    fn status(&self) -> Result<(), SpawnError> {
        if self.is_closed() {
            Err(SpawnError::shutdown())
        } else {
            Ok(())
        }
    }
}

impl LocalSpawn for Handle {
    #[track_caller]
    fn spawn_local_obj(&self, future: LocalFutureObj<'static, ()>) -> Result<(), SpawnError> {
        self.status_local()?;
        drop(self.spawn(future));
        Ok(())
    }

    fn status_local(&self) -> Result<(), SpawnError> {
        Spawn::status(self)
    }
}

/// A callback scheduled with `call_soon`: lets you cancel it before it runs.
pub struct CallbackHandle {
    core: Weak<Core>,
    key: Option<Key>,
    id: u64,
    cancelled: Cell<bool>,
}

impl CallbackHandle {
    fn new(core: &Rc<Core>, made: Option<(Key, u64)>) -> CallbackHandle {
        CallbackHandle {
            core: Rc::downgrade(core),
            key: made.map(|m| m.0),
            id: made.map_or(0, |m| m.1),
            // Scheduled on a closed loop: dropped unrun, as if cancelled.
            cancelled: Cell::new(made.is_none()),
        }
    }

    /// Cancels the callback: true if it was pending and now will not run, false if it has
    /// already run or was already cancelled.
    pub fn cancel(&self) -> bool {
        let (Some(core), Some(key)) = (self.core.upgrade(), self.key) else {
            return false;
        };
        let cancelled = core.cancel_entry(key, self.id);
        if cancelled {
            self.cancelled.set(true);
        }
        cancelled
    }

    /// True if [`cancel`](Self::cancel) took effect (or the loop was closed when it was
    /// scheduled).
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.get()
    }

    /// The callback's id, as it appears in traces (`#id`).
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl fmt::Debug for CallbackHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackHandle")
            .field("id", &self.id)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// A timer scheduled with `call_later` or `call_at`: lets you cancel it before it runs.
///
/// ```
/// use simloop::EventLoop;
/// use std::time::Duration;
///
/// let mut lp = EventLoop::new();
/// let t = lp.call_later(Duration::from_secs(5), || unreachable!());
/// assert_eq!(t.when().to_string(), "5s");
/// assert!(t.cancel());
/// lp.run().unwrap();
/// // A cancelled timer never attracts the clock.
/// assert_eq!(lp.time().to_string(), "0s");
/// ```
pub struct TimerHandle {
    inner: CallbackHandle,
    when: Instant,
}

impl TimerHandle {
    /// Cancels the timer: true if it was pending and now will not run.
    pub fn cancel(&self) -> bool {
        self.inner.cancel()
    }

    /// True if [`cancel`](Self::cancel) took effect.
    pub fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    /// The instant the timer is (or was) due, including any jitter the schedule added.
    pub fn when(&self) -> Instant {
        self.when
    }

    /// The timer's id, as it appears in traces (`#id`).
    pub fn id(&self) -> u64 {
        self.inner.id
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("id", &self.inner.id)
            .field("when", &self.when)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    use crate::{now, EventLoop, Instant};

    #[test]
    fn a_fired_timers_handle_cannot_cancel_a_later_timer_once_its_slot_generation_wraps() {
        let mut lp = EventLoop::new();
        let old = lp.call_later(Duration::from_secs(1), || {});
        lp.run().unwrap();
        // The slot goes through 2^32 reuses in all: its generation is back to the handle's.
        let key = old.inner.key.expect("scheduled");
        lp.core.st.borrow_mut().entries.age(key, u32::MAX);
        let fired = Rc::new(RefCell::new(Vec::new()));
        let f = fired.clone();
        let new = lp.call_later(Duration::from_secs(2), move || f.borrow_mut().push(now()));
        assert!(!old.cancel(), "a stale handle cancelled a later timer");
        assert!(!new.is_cancelled());
        lp.run().unwrap();
        assert_eq!(*fired.borrow(), [Instant::from_nanos(3_000_000_000)]);
    }
}
