//! [`EventLoop`] and its [`Builder`].

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use crate::runtime::core::Core;
use crate::runtime::iteration::Mode;
use crate::{
    CallbackHandle, Handle, Instant, JoinHandle, LoopError, ReplayMismatch, Schedule, Stats,
    TaskInfo, TimerHandle, Trace,
};

/// What happens when a callback or task panics. Panics are always caught.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PanicPolicy {
    /// The loop stops at once and the run call returns [`LoopError::Panicked`]. The rest of
    /// the iteration stays queued. A panicking task's `JoinHandle` also yields
    /// [`JoinError::Panicked`](crate::JoinError::Panicked).
    #[default]
    Fail,
    /// As asyncio does: a callback's panic goes to the exception handler (by default printed
    /// to stderr and recorded in the trace) and the iteration goes on; a task's panic is kept
    /// for its `JoinHandle` as [`JoinError::Panicked`](crate::JoinError::Panicked), and
    /// reported if the handle was dropped.
    Report,
}

type ExceptionHandler = Rc<dyn Fn(&LoopError)>;

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) seed: u64,
    pub(crate) schedule: Schedule,
    pub(crate) trace: bool,
    pub(crate) panic_policy: PanicPolicy,
    pub(crate) time_limit: Option<Duration>,
    pub(crate) step_limit: Option<u64>,
    pub(crate) slow_callback: Option<Duration>,
    pub(crate) blocking_workers: Option<usize>,
    pub(crate) exception_handler: Option<ExceptionHandler>,
}

/// Settings for a new [`EventLoop`]. Clone it to build identical loops.
///
/// ```
/// use simloop::{EventLoop, LoopError};
/// use std::time::Duration;
///
/// fn tick() {
///     simloop::call_later(Duration::from_secs(1), tick);
/// }
/// let mut lp = EventLoop::builder()
///     .time_limit(Duration::from_secs(60))
///     .build();
/// lp.call_soon(tick);
/// // A timer that reschedules itself forever is stopped by the limit, not by a hang.
/// let err = lp.run().unwrap_err();
/// assert!(matches!(err, LoopError::TimeLimit { .. }));
/// assert_eq!(lp.time().to_string(), "60s");
/// ```
#[derive(Clone)]
pub struct Builder {
    cfg: Config,
}

impl Builder {
    /// Seeds the loop's deterministic random generator ([`random_u64`](crate::random_u64)).
    /// Default 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.cfg.seed = seed;
        self
    }

    /// Sets the schedule that orders what the contract leaves open. Default
    /// [`Schedule::Fifo`].
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.cfg.schedule = schedule;
        self
    }

    /// Records every event in a [`Trace`]. Default off.
    pub fn trace(mut self, on: bool) -> Self {
        self.cfg.trace = on;
        self
    }

    /// What a panic in a callback or task does. Default [`PanicPolicy::Fail`].
    pub fn panic_policy(mut self, policy: PanicPolicy) -> Self {
        self.cfg.panic_policy = policy;
        self
    }

    /// Where the loop's virtual clock may not go past (measured from the epoch): a run call
    /// that would move it further returns [`LoopError::TimeLimit`]. Default none.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.cfg.time_limit = Some(limit);
        self
    }

    /// How many callbacks and task steps the loop may run in its lifetime: one more returns
    /// [`LoopError::StepLimit`]. Default none.
    pub fn step_limit(mut self, steps: u64) -> Self {
        self.cfg.step_limit = Some(steps);
        self
    }

    /// Reports each callback or task step that blocks (see [`block_for`](crate::block_for))
    /// at least `threshold`, as asyncio's debug mode does. Default off.
    pub fn slow_callback(mut self, threshold: Duration) -> Self {
        self.cfg.slow_callback = Some(threshold);
        self
    }

    /// How many simulated workers [`spawn_blocking`](crate::spawn_blocking) has. Default
    /// unbounded.
    ///
    /// # Panics
    /// If `workers` is 0: no job could ever run.
    pub fn blocking_workers(mut self, workers: usize) -> Self {
        assert!(workers > 0, "blocking_workers must be at least 1");
        self.cfg.blocking_workers = Some(workers);
        self
    }

    /// Receives the panics that [`PanicPolicy::Report`] reports, instead of stderr.
    pub fn exception_handler(mut self, handler: impl Fn(&LoopError) + 'static) -> Self {
        self.cfg.exception_handler = Some(Rc::new(handler));
        self
    }

    /// Builds the loop.
    pub fn build(self) -> EventLoop {
        EventLoop {
            core: Core::new(self.cfg),
        }
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            cfg: Config {
                seed: 0,
                schedule: Schedule::Fifo,
                trace: false,
                panic_policy: PanicPolicy::Fail,
                time_limit: None,
                step_limit: None,
                slow_callback: None,
                blocking_workers: None,
                exception_handler: None,
            },
        }
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.cfg;
        f.debug_struct("Builder")
            .field("seed", &c.seed)
            .field("schedule", &c.schedule)
            .field("trace", &c.trace)
            .field("panic_policy", &c.panic_policy)
            .field("time_limit", &c.time_limit)
            .field("step_limit", &c.step_limit)
            .field("slow_callback", &c.slow_callback)
            .field("blocking_workers", &c.blocking_workers)
            .field("exception_handler", &c.exception_handler.is_some())
            .finish()
    }
}

/// A deterministic single-threaded event loop with a virtual clock.
///
/// Time never passes by itself: when nothing is ready, the clock jumps to the next timer.
/// See the crate docs for the ordering contract.
///
/// ```
/// use simloop::{sleep, EventLoop};
/// use std::time::Duration;
///
/// let mut lp = EventLoop::new();
/// let out = lp
///     .run_until_complete(async {
///         sleep(Duration::from_secs(3600)).await;
///         simloop::now()
///     })
///     .unwrap();
/// assert_eq!(out.to_string(), "3600s"); // in microseconds of real time
/// ```
///
/// Dropping the loop closes it (see [`close`](Self::close)).
pub struct EventLoop {
    pub(crate) core: Rc<Core>,
}

impl EventLoop {
    /// A loop with default settings.
    pub fn new() -> EventLoop {
        Builder::default().build()
    }

    /// Settings for a loop.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A [`Handle`] for scheduling on this loop from callbacks and tasks.
    pub fn handle(&self) -> Handle {
        Handle {
            core: self.core.clone(),
        }
    }

    /// Runs `f` with this loop as the current one, so free functions such as
    /// [`spawn`](crate::spawn) and [`call_later`](crate::call_later) reach it before it
    /// runs.
    ///
    /// ```
    /// use simloop::EventLoop;
    /// use std::time::Duration;
    ///
    /// fn start_heartbeat() {
    ///     simloop::call_later(Duration::from_secs(1), || println!("beat"));
    /// }
    /// let mut lp = EventLoop::new();
    /// lp.enter(start_heartbeat);
    /// lp.run().unwrap();
    /// assert_eq!(lp.time().to_string(), "1s");
    /// ```
    pub fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = crate::runtime::context::EnterGuard::new(&self.core);
        f()
    }

    /// The loop's virtual time.
    pub fn time(&self) -> Instant {
        self.core.now()
    }

    /// Schedules `f` to run in a later iteration, after everything already queued (FIFO).
    #[track_caller]
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> CallbackHandle {
        self.handle().call_soon(f)
    }

    /// Schedules `f` to run `delay` from now; see [`Handle::call_later`].
    #[track_caller]
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> TimerHandle {
        self.handle().call_later(delay, f)
    }

    /// Schedules `f` to run at `when`; see [`Handle::call_at`].
    #[track_caller]
    pub fn call_at(&self, when: Instant, f: impl FnOnce() + 'static) -> TimerHandle {
        self.handle().call_at(when, f)
    }

    /// Spawns `future` as a task; see [`Handle::spawn`].
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.handle().spawn(future)
    }

    /// Spawns a named task; see [`Handle::spawn_named`].
    #[track_caller]
    pub fn spawn_named<F>(&self, name: &str, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.handle().spawn_named(name, future)
    }

    /// Runs the loop until `future` completes, and returns its output.
    ///
    /// `future` becomes the main task: its first poll is queued behind what is already
    /// ready, and it need not be `'static`. Its completion stops the loop as if `stop()` were
    /// queued with `call_soon` at that moment: the next iteration still runs, then the call
    /// returns. Other tasks stay pending for the next run call.
    ///
    /// A spawned task's `JoinHandle` (or `&mut` one) can be passed to wait for the task. It is
    /// a main future like any other: it completes when polled after the task finished, one
    /// iteration after the task (or, for a task already finished, at its first poll), and
    /// its completion queues the stop. CPython's `run_until_complete(task)` has the task's own
    /// completion queue the stop, so it returns one iteration earlier: what the task's last
    /// iteration scheduled with `call_soon` runs before this call returns, and after
    /// CPython's. (On stable Rust simloop cannot tell a `JoinHandle` from other futures, and
    /// `run_until_complete(async { handle.await })` must, and does, behave as in CPython.)
    ///
    /// # Errors
    /// [`LoopError::Stalled`] if nothing can wake the future any more,
    /// [`LoopError::StoppedBeforeComplete`] if `stop()` came first, and the other variants.
    pub fn run_until_complete<F: Future>(&mut self, future: F) -> Result<F::Output, LoopError> {
        let mut future = pin!(future);
        let mut output = None;
        let mut poll = |cx: &mut std::task::Context<'_>| match future.as_mut().poll(cx) {
            Poll::Ready(v) => {
                output = Some(v);
                true
            }
            Poll::Pending => false,
        };
        self.core.run(Mode::UntilStopped, Some(&mut poll))?;
        output.ok_or(LoopError::StoppedBeforeComplete { at: self.time() })
    }

    /// Runs the loop until [`stop`](Self::stop).
    ///
    /// # Errors
    /// [`LoopError::Stalled`] if the loop runs out of work with no stop coming, and the other
    /// variants.
    pub fn run_forever(&mut self) -> Result<(), LoopError> {
        self.core.run(Mode::UntilStopped, None)
    }

    /// Runs the loop until it is quiescent: nothing ready and no timer live (or `stop()`).
    pub fn run(&mut self) -> Result<(), LoopError> {
        self.core.run(Mode::Quiescent, None)
    }

    /// Runs everything due at or before `target`, then sets the clock to `target` (it never
    /// goes backwards). Returns early on `stop()`.
    pub fn run_until(&mut self, target: Instant) -> Result<(), LoopError> {
        self.core.run(Mode::Until(target), None)
    }

    /// [`run_until`](Self::run_until) `time() + d`.
    pub fn advance(&mut self, d: Duration) -> Result<(), LoopError> {
        let target = self.time() + d;
        self.run_until(target)
    }

    /// Runs exactly one iteration (nothing, if nothing is ready and no timer is live).
    pub fn run_once(&mut self) -> Result<(), LoopError> {
        self.core.run(Mode::Once, None)
    }

    /// Stops the loop once the current iteration has finished; what that iteration scheduled
    /// stays queued for the next run call. Called before a run call, that call runs exactly
    /// one iteration without moving the clock. Calling it twice is harmless.
    pub fn stop(&self) {
        self.core.stop();
    }

    /// Drops every pending callback, timer and task future, in a defined order (ready
    /// callbacks in queue order, then timers by deadline, then tasks by id), so their
    /// destructors run. Afterwards run calls return [`LoopError::Closed`] and [`Handle`]
    /// operations are inert. Closing twice is harmless.
    pub fn close(&mut self) {
        self.core.close();
    }

    /// True while a run call of this loop is in progress.
    pub fn is_running(&self) -> bool {
        crate::runtime::context::try_core().is_some_and(|c| Rc::ptr_eq(&c, &self.core))
            && crate::runtime::context::is_running()
    }

    /// True once the loop was closed.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Counters of the loop's work so far.
    pub fn stats(&self) -> Stats {
        self.core.st.borrow().stats
    }

    /// Every event recorded so far (empty unless built with `trace(true)`).
    pub fn trace(&self) -> Trace {
        self.core.trace()
    }

    /// The choices this loop's schedule has taken so far, as a replay schedule: a loop built
    /// with the same settings and this schedule repeats the run exactly. Its `Display` is the
    /// short replay token.
    ///
    /// When the loop itself replayed a schedule that did not fit the run (see
    /// [`replay_mismatch`](Self::replay_mismatch)), this is what the run really took, not the
    /// schedule it was given.
    pub fn schedule_taken(&self) -> Schedule {
        self.core.st.borrow().chooser.taken()
    }

    /// How the replayed schedule (built with [`Schedule::from_choices`] or a parsed `S1`
    /// token) did not fit this run, so far: `None` if it fit, or if the schedule is no
    /// replay. Ask after the run: choices are counted as unused until a decision takes
    /// them. A mismatched token replays another run than the one it was taken from.
    ///
    /// ```
    /// use simloop::EventLoop;
    ///
    /// let mut lp = EventLoop::builder().schedule("S1:1".parse().unwrap()).build();
    /// lp.spawn(async {});
    /// lp.spawn(async {});
    /// lp.run().unwrap();
    /// assert_eq!(lp.replay_mismatch(), None);
    /// ```
    pub fn replay_mismatch(&self) -> Option<ReplayMismatch> {
        self.core.st.borrow().chooser.mismatch()
    }

    /// The spawned tasks that have not finished, in spawn order.
    pub fn pending_tasks(&self) -> Vec<TaskInfo> {
        self.core.pending_tasks()
    }
}

impl Default for EventLoop {
    fn default() -> Self {
        EventLoop::new()
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        self.core.close();
    }
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.core.st.borrow();
        f.debug_struct("EventLoop")
            .field("time", &st.now)
            .field("iteration", &st.iteration)
            .field("ready", &st.ready.len())
            .field("tasks", &st.tasks.len())
            .field("closed", &st.closed)
            .finish()
    }
}
