//! `tokio::time` on simloop's virtual clock.
//!
//! The API is tokio's: [`sleep`], [`sleep_until`], [`timeout`], [`timeout_at`],
//! [`interval`], [`interval_at`], [`Instant`], [`Sleep`], [`Timeout`], [`Interval`],
//! [`MissedTickBehavior`], [`error::Elapsed`], [`pause`], [`resume`], [`advance`]. Time is
//! the current simloop loop's: it never passes by itself, jumps to the next timer when
//! nothing is ready, and is exact to the nanosecond (tokio's paused clock rounds sleeps up to
//! whole milliseconds).
//!
//! Where the semantics are tokio's: a sleep's deadline is fixed when it is created; it
//! registers its timer at its first poll, and a deadline already reached then completes at
//! once; a timer fires at its deadline and wakes its task, which runs in the loop's next
//! iteration, at the same instant. [`Sleep::is_elapsed`] turns true when the timer fires.
//! Timers with equal deadlines fire in registration order (FIFO), or in an order the
//! schedule chooses when exploring.

use std::fmt;
use std::future::{poll_fn, Future, IntoFuture};
use std::marker::PhantomPinned;
use std::ops;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

pub use std::time::Duration;

use super::context::{self, Fired};

/// The virtual epoch's distance from the zero of [`Instant`]'s representation: tokio's
/// `Instant` is opaque, and code may step back from `now()` at the start of a test
/// (`Instant::now() - Duration::from_secs(60)`), so virtual time 0 sits this far in.
const EPOCH: Duration = Duration::from_secs(1 << 32);

/// Roughly 30 years: what tokio caps a sleep at (`sleep(Duration::MAX)` is a far-future
/// deadline, not an overflow).
const FAR_FUTURE: Duration = Duration::from_secs(86400 * 365 * 30);

/// A measurement of the current simloop loop's virtual clock, as tokio's `Instant`: opaque,
/// monotonic, with `Duration` arithmetic.
///
/// Virtual time 0 (the loop's epoch) is `2^32` seconds after the zero of the representation,
/// so instants before the epoch exist (`Instant::now() - Duration::from_secs(60)` at the start
/// of a test is fine). [`from_simloop`](Self::from_simloop) and
/// [`to_simloop`](Self::to_simloop) convert to simloop's instants, which start at the epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    /// `EPOCH` + virtual time.
    since_origin: Duration,
}

impl Instant {
    /// The current loop's virtual time.
    ///
    /// # Panics
    /// Outside a simloop loop (and outside `Runtime::enter`).
    #[track_caller]
    pub fn now() -> Instant {
        Instant::from_simloop(context::handle("tokio::time::Instant::now()").time())
    }

    /// The instant of simloop's virtual time `t`.
    pub fn from_simloop(t: simloop::Instant) -> Instant {
        Instant {
            since_origin: EPOCH + Duration::from_nanos(t.as_nanos()),
        }
    }

    /// This instant on simloop's clock: instants before the epoch are its `Instant::ZERO`,
    /// instants past simloop's range its `Instant::MAX` (a deadline that never fires).
    pub fn to_simloop(self) -> simloop::Instant {
        match self.since_origin.checked_sub(EPOCH) {
            None => simloop::Instant::ZERO,
            Some(d) => u64::try_from(d.as_nanos())
                .map_or(simloop::Instant::MAX, simloop::Instant::from_nanos),
        }
    }

    /// The instant `std` corresponds to, relative to a fixed anchor taken once per process
    /// (the anchor is virtual time 0): differences are kept exactly.
    pub fn from_std(std: std::time::Instant) -> Instant {
        let anchor = anchor();
        let since_origin = if std >= anchor {
            EPOCH.saturating_add(std - anchor)
        } else {
            EPOCH.saturating_sub(anchor - std)
        };
        Instant { since_origin }
    }

    /// The `std::time::Instant` this instant corresponds to (see [`from_std`](Self::from_std)).
    ///
    /// # Panics
    /// If the instant cannot be represented by `std` on this platform.
    pub fn into_std(self) -> std::time::Instant {
        let anchor = anchor();
        if self.since_origin >= EPOCH {
            anchor + (self.since_origin - EPOCH)
        } else {
            anchor - (EPOCH - self.since_origin)
        }
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }

    /// The time from `earlier` to `self`, `None` if `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.since_origin.checked_sub(earlier.since_origin)
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.since_origin.saturating_sub(earlier.since_origin)
    }

    /// The virtual time elapsed since this instant.
    ///
    /// # Panics
    /// Outside a simloop loop.
    #[track_caller]
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(*self)
    }

    /// `self + duration`, `None` on overflow.
    pub fn checked_add(&self, duration: Duration) -> Option<Instant> {
        self.since_origin
            .checked_add(duration)
            .map(|since_origin| Instant { since_origin })
    }

    /// `self - duration`, `None` on overflow.
    pub fn checked_sub(&self, duration: Duration) -> Option<Instant> {
        self.since_origin
            .checked_sub(duration)
            .map(|since_origin| Instant { since_origin })
    }

    fn far_future() -> Instant {
        Instant::now() + FAR_FUTURE
    }
}

fn anchor() -> std::time::Instant {
    static ANCHOR: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *ANCHOR.get_or_init(std::time::Instant::now)
}

impl From<std::time::Instant> for Instant {
    fn from(time: std::time::Instant) -> Instant {
        Instant::from_std(time)
    }
}

impl From<Instant> for std::time::Instant {
    fn from(time: Instant) -> std::time::Instant {
        time.into_std()
    }
}

impl ops::Add<Duration> for Instant {
    type Output = Instant;

    fn add(self, other: Duration) -> Instant {
        self.checked_add(other)
            .expect("overflow when adding duration to instant")
    }
}

impl ops::AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl ops::Sub for Instant {
    type Output = Duration;

    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl ops::Sub<Duration> for Instant {
    type Output = Instant;

    fn sub(self, rhs: Duration) -> Instant {
        self.checked_sub(rhs)
            .expect("overflow when subtracting duration from instant")
    }
}

impl ops::SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, rhs: Duration) {
        *self = *self - rhs;
    }
}

/// Shows the virtual time: `Instant(2.5s)`, or `Instant(-60s)` before the epoch.
impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.since_origin.checked_sub(EPOCH) {
            Some(d) => write!(f, "Instant({d:?})"),
            None => write!(f, "Instant(-{:?})", EPOCH - self.since_origin),
        }
    }
}

/// A drop-in timer's registration: its id in the thread's timer table and what it shares
/// with its callback. Dropping it cancels the timer.
#[derive(Debug, Default)]
struct Registration {
    timer: Option<(u64, Arc<Fired>)>,
    /// Completed (the timer fired, or the deadline had passed when it was polled).
    elapsed: bool,
}

impl Registration {
    fn is_elapsed(&self) -> bool {
        self.elapsed || self.timer.as_ref().is_some_and(|(_, f)| f.is_done())
    }

    /// Cancels the timer, if any; returns the waker it would have woken.
    fn cancel(&mut self) -> Option<std::task::Waker> {
        self.elapsed = false;
        let (id, fired) = self.timer.take()?;
        context::cancel_timer(id);
        fired.take_waker()
    }

    /// Registers a timer for `deadline` on `handle`'s loop, to wake `waker`. A deadline
    /// already reached completes at once (unless `always_timer`: then the timer is due now
    /// and fires in the next iteration, behind everything already due).
    fn register(
        &mut self,
        handle: &simloop::Handle,
        deadline: Instant,
        waker: Option<&std::task::Waker>,
        always_timer: bool,
    ) -> Poll<()> {
        let when = deadline.to_simloop();
        if when <= handle.time() && !always_timer {
            self.elapsed = true;
            return Poll::Ready(());
        }
        let fired = Arc::new(Fired::default());
        if let Some(w) = waker {
            fired.set_waker(w);
        }
        let id = context::add_timer(handle, when, fired.clone());
        self.timer = Some((id, fired));
        Poll::Pending
    }

    fn poll(&mut self, deadline: Instant, cx: &mut Context<'_>, always_timer: bool) -> Poll<()> {
        if self.elapsed {
            return Poll::Ready(());
        }
        match &self.timer {
            Some((_, fired)) => {
                if fired.is_done() {
                    self.timer = None;
                    self.elapsed = true;
                    return Poll::Ready(());
                }
                fired.set_waker(cx.waker());
                Poll::Pending
            }
            None => {
                let handle = context::handle("polling tokio::time::Sleep");
                self.register(&handle, deadline, Some(cx.waker()), always_timer)
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some((id, _)) = self.timer.take() {
            context::cancel_timer(id);
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`sleep`] and [`sleep_until`]: completes at its deadline on the
    /// virtual clock. `Send + Sync`, and `!Unpin` as tokio's (pin it to poll it by
    /// reference: `tokio::pin!(sleep)`).
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Sleep {
        deadline: Instant,
        registration: Registration,
        always_timer: bool,
        #[pin]
        _pinned: PhantomPinned,
    }
}

/// Waits until `duration` has elapsed on the virtual clock. The deadline is fixed now (at
/// the call, as in tokio); the timer is registered at the first poll.
///
/// # Panics
/// Outside a simloop loop.
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    let deadline = Instant::now()
        .checked_add(duration.min(FAR_FUTURE))
        .unwrap_or_else(Instant::far_future);
    Sleep::new(deadline)
}

/// Waits until `deadline` on the virtual clock; a deadline already reached completes at the
/// first poll.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(deadline)
}

impl Sleep {
    fn new(deadline: Instant) -> Sleep {
        Sleep {
            deadline,
            registration: Registration::default(),
            always_timer: false,
            _pinned: PhantomPinned,
        }
    }

    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the timer has fired (or the sleep completed because its deadline had
    /// passed when it was polled); false before, also while the deadline is reached but the
    /// timer has not fired yet.
    pub fn is_elapsed(&self) -> bool {
        self.registration.is_elapsed()
    }

    /// Moves the deadline to `deadline`, whether or not the sleep has completed: it is
    /// pending again (a deadline already reached completes at the next poll). The new timer
    /// is registered at once inside a loop, as tokio does.
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.project();
        *this.deadline = deadline;
        let waker = this.registration.cancel();
        if let Some(handle) = context::try_handle() {
            let now =
                this.registration
                    .register(&handle, deadline, waker.as_ref(), *this.always_timer);
            if now.is_ready() {
                if let Some(w) = waker {
                    w.wake();
                }
            }
        }
    }

    /// Moves the deadline without registering a timer (the next poll does).
    fn reset_without_timer(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.project();
        *this.deadline = deadline;
        this.registration.cancel();
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        this.registration
            .poll(*this.deadline, cx, *this.always_timer)
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("elapsed", &self.is_elapsed())
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// The future of [`timeout`] and [`timeout_at`].
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    #[derive(Debug)]
    pub struct Timeout<T> {
        #[pin]
        value: T,
        #[pin]
        delay: Option<Sleep>,
    }
}

/// Requires `future` to complete within `duration` of virtual time from now: its output in
/// `Ok`, or `Err(Elapsed)` once the deadline passes. The future is polled before the timer,
/// so a future ready exactly at the deadline wins.
///
/// # Panics
/// Outside a simloop loop.
#[track_caller]
pub fn timeout<F>(duration: Duration, future: F) -> Timeout<F::IntoFuture>
where
    F: IntoFuture,
{
    Timeout {
        value: future.into_future(),
        delay: Instant::now().checked_add(duration).map(Sleep::new),
    }
}

/// Requires `future` to complete before `deadline`; see [`timeout`].
pub fn timeout_at<F>(deadline: Instant, future: F) -> Timeout<F::IntoFuture>
where
    F: IntoFuture,
{
    Timeout {
        value: future.into_future(),
        delay: Some(Sleep::new(deadline)),
    }
}

impl<T> Timeout<T> {
    /// The inner future.
    pub fn get_ref(&self) -> &T {
        &self.value
    }

    /// The inner future, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.value
    }

    /// The inner future, consuming the timeout.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T: Future> Future for Timeout<T> {
    type Output = Result<T::Output, error::Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.value.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match this.delay.as_pin_mut() {
            Some(delay) => delay.poll(cx).map(|()| Err(error::Elapsed::new())),
            None => Poll::Pending,
        }
    }
}

/// Time errors.
pub mod error {
    use std::fmt;

    /// The error of a [`Timeout`](super::Timeout) whose deadline passed.
    #[derive(Debug, PartialEq, Eq)]
    pub struct Elapsed(());

    impl Elapsed {
        pub(crate) fn new() -> Elapsed {
            Elapsed(())
        }
    }

    impl fmt::Display for Elapsed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("deadline has elapsed")
        }
    }

    impl std::error::Error for Elapsed {}

    impl From<Elapsed> for std::io::Error {
        fn from(_: Elapsed) -> std::io::Error {
            std::io::ErrorKind::TimedOut.into()
        }
    }

    /// tokio's timer error. The simulated timer never fails, so nothing here returns one;
    /// the type exists for code that names it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Error(Kind);

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Shutdown,
        AtCapacity,
        Invalid,
    }

    impl Error {
        /// The timer is shut down.
        pub fn shutdown() -> Error {
            Error(Kind::Shutdown)
        }

        /// True for [`Error::shutdown`].
        pub fn is_shutdown(&self) -> bool {
            self.0 == Kind::Shutdown
        }

        /// The timer is at capacity.
        pub fn at_capacity() -> Error {
            Error(Kind::AtCapacity)
        }

        /// True for [`Error::at_capacity`].
        pub fn is_at_capacity(&self) -> bool {
            self.0 == Kind::AtCapacity
        }

        /// The duration is invalid.
        pub fn invalid() -> Error {
            Error(Kind::Invalid)
        }

        /// True for [`Error::invalid`].
        pub fn is_invalid(&self) -> bool {
            self.0 == Kind::Invalid
        }
    }

    impl fmt::Display for Error {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(match self.0 {
                Kind::Shutdown => {
                    "the timer is shutdown, must be called from the context of Tokio runtime"
                }
                Kind::AtCapacity => "timer is at capacity and cannot create a new entry",
                Kind::Invalid => "timer duration exceeds maximum duration",
            })
        }
    }

    impl std::error::Error for Error {}
}

/// What an [`Interval`] does with ticks it missed (its task was busy past a tick by more
/// than 5 ms, tokio's tolerance, which is kept so that both clocks agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Ticks as fast as it can until caught up (the default): the missed ticks come at once,
    /// each with its original instant.
    #[default]
    Burst,
    /// Ticks once now, then every period from now.
    Delay,
    /// Ticks once now, then at the next instant of the original schedule.
    Skip,
}

impl MissedTickBehavior {
    fn next_timeout(self, timeout: Instant, now: Instant, period: Duration) -> Instant {
        match self {
            MissedTickBehavior::Burst => timeout + period,
            MissedTickBehavior::Delay => now + period,
            MissedTickBehavior::Skip => {
                let offset = Duration::from_nanos(
                    ((now - timeout).as_nanos() % period.as_nanos())
                        .try_into()
                        .expect(
                            "too much time has elapsed since the interval was supposed to tick",
                        ),
                );
                now + (period - offset)
            }
        }
    }
}

/// Ticks every period on the virtual clock; see [`interval`]. `Send + Sync + Unpin`.
#[derive(Debug)]
pub struct Interval {
    delay: Pin<Box<Sleep>>,
    period: Duration,
    missed_tick_behavior: MissedTickBehavior,
}

/// An interval whose first tick completes immediately, then every `period`.
///
/// # Panics
/// If `period` is zero; outside a simloop loop.
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    assert!(period > Duration::new(0, 0), "`period` must be non-zero.");
    interval_at(Instant::now(), period)
}

/// An interval whose first tick is at `start`, then every `period`.
///
/// # Panics
/// If `period` is zero.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(period > Duration::new(0, 0), "`period` must be non-zero.");
    Interval {
        delay: Box::pin(sleep_until(start)),
        period: period.min(FAR_FUTURE),
        missed_tick_behavior: MissedTickBehavior::default(),
    }
}

impl Interval {
    /// Completes at the next tick, with the instant the tick was scheduled for.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        ready!(self.delay.as_mut().poll(cx));
        let timeout = self.delay.deadline();
        let now = Instant::now();
        let next = if now > timeout + Duration::from_millis(5) {
            self.missed_tick_behavior
                .next_timeout(timeout, now, self.period)
        } else {
            timeout + self.period
        };
        self.delay.as_mut().reset_without_timer(next);
        Poll::Ready(timeout)
    }

    /// Restarts the period: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.delay.as_mut().reset(Instant::now() + self.period);
    }

    /// The next tick completes immediately.
    pub fn reset_immediately(&mut self) {
        self.delay.as_mut().reset(Instant::now());
    }

    /// The next tick is `after` from now.
    pub fn reset_after(&mut self, after: Duration) {
        self.delay
            .as_mut()
            .reset(Instant::now() + after.min(FAR_FUTURE));
    }

    /// The next tick is at `deadline`.
    pub fn reset_at(&mut self, deadline: Instant) {
        self.delay.as_mut().reset(deadline);
    }

    /// What happens to missed ticks.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed_tick_behavior
    }

    /// Sets what happens to missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed_tick_behavior = behavior;
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}

/// Does nothing: simloop's clock is always paused in tokio's sense (virtual, advancing only
/// to the next timer when nothing is ready), so `#[tokio::test(start_paused = true)]` and
/// `pause()` change nothing.
pub fn pause() {}

/// Does nothing: a simulation cannot let real time in, so the clock stays virtual.
pub fn resume() {}

/// Moves the virtual clock forward by `duration` at once, as tokio's paused clock does:
/// timers that fall due meanwhile fire at the new instant (late, as with
/// [`simloop::block_for`], which records it), then the tasks they wake run before this
/// returns.
///
/// # Panics
/// Outside a simloop loop.
pub async fn advance(duration: Duration) {
    context::handle("tokio::time::advance");
    simloop::block_for(duration);
    // A timer due now, registered after everything that fell due: it fires behind them, so
    // the tasks they woke take their steps before this task resumes.
    let mut wait = Sleep::new(Instant::now());
    wait.always_timer = true;
    wait.await;
}
