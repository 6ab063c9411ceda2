//! Counters a loop keeps about its own work.

use std::time::Duration;

/// What a loop has done so far, from [`EventLoop::stats`](crate::EventLoop::stats).
///
/// ```
/// use simloop::EventLoop;
/// use std::time::Duration;
///
/// let mut lp = EventLoop::new();
/// lp.call_later(Duration::from_secs(1), || {});
/// lp.call_soon(|| {});
/// lp.run().unwrap();
/// let s = lp.stats();
/// assert_eq!((s.callbacks_run, s.timers_set, s.timers_fired, s.clock_jumps), (2, 1, 1, 1));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Iterations of the loop (see the ordering contract in the crate docs).
    pub iterations: u64,
    /// Callbacks run, counting each task step and each timer that wakes a task.
    pub callbacks_run: u64,
    /// Task steps: polls of spawned tasks and of main futures.
    pub polls: u64,
    /// Tasks spawned.
    pub tasks_spawned: u64,
    /// Timers registered (`call_later`, `call_at`, and each `sleep`).
    pub timers_set: u64,
    /// Timers that fell due and were moved to the ready queue.
    pub timers_fired: u64,
    /// Timers cancelled before they fell due, including dropped `sleep`s. (A timer cancelled
    /// after it fell due but before its callback ran counts as fired: it is skipped.)
    pub timers_cancelled: u64,
    /// Times the clock jumped forward to the next timer.
    pub clock_jumps: u64,
    /// The longest the ready queue has been at the start of an iteration's batch.
    pub max_ready: usize,
    /// The most timers live at once.
    pub max_timers: usize,
    /// The latest any timer fired after its deadline (only `block_for` makes timers late).
    pub max_lateness: Duration,
}
