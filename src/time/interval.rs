//! [`interval`]: a stream of periodic ticks.

use std::fmt;
use std::future::poll_fn;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;

use crate::runtime::core::Core;
use crate::runtime::wake_timer::TimerKey;
use crate::Instant;

/// What an [`Interval`] does with ticks it could not deliver on time (the task was busy, or
/// a `block_for` held the loop).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissedTicks {
    /// Deliver every missed tick at once, then keep the original cadence. The default.
    #[default]
    Burst,
    /// Deliver one tick now and restart the cadence from now.
    Delay,
    /// Deliver one tick now and skip to the next tick of the original cadence.
    Skip,
}

/// A `futures::Stream` of [`Instant`]s at `start + period`, `start + 2 * period`, ... where
/// `start` is the first poll; see [`interval`].
pub struct Interval {
    period: Duration,
    missed: MissedTicks,
    location: &'static Location<'static>,
    /// The next tick, fixed at the first poll.
    next: Option<Instant>,
    timer: Option<(Rc<Core>, TimerKey)>,
}

/// Ticks every `period` of virtual time; the first tick is one period after the first poll.
/// Missed ticks come in a burst unless [`Interval::missed_ticks`] says otherwise.
///
/// ```
/// use futures::StreamExt;
/// use simloop::{interval, EventLoop};
/// use std::time::Duration;
///
/// let mut lp = EventLoop::new();
/// let ticks = lp
///     .run_until_complete(async {
///         interval(Duration::from_millis(500)).take(3).map(|t| t.to_string()).collect::<Vec<_>>().await
///     })
///     .unwrap();
/// assert_eq!(ticks, ["0.5s", "1s", "1.5s"]);
/// ```
///
/// # Panics
/// If `period` is zero; when polled outside a simloop loop.
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "simloop::interval needs a non-zero period"
    );
    Interval {
        period,
        missed: MissedTicks::Burst,
        location: Location::caller(),
        next: None,
        timer: None,
    }
}

impl Interval {
    /// Sets what happens to missed ticks.
    pub fn missed_ticks(mut self, missed: MissedTicks) -> Self {
        self.missed = missed;
        self
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Waits for the next tick and returns its instant.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        let core = match &self.timer {
            Some((core, _)) => core.clone(),
            None => crate::runtime::context::core("interval()"),
        };
        let now = core.now();
        let due = *self.next.get_or_insert(now + self.period);
        if let Some((_, key)) = self.timer {
            if !core.poll_wake_timer(key, cx.waker(), self.location) {
                return Poll::Pending;
            }
            self.timer = None;
        } else if due > now {
            // On a closed loop there is no timer, and the interval never ticks again.
            if let Some(key) = core.add_wake_timer(due, cx.waker(), self.location) {
                self.timer = Some((core, key));
            }
            return Poll::Pending;
        }
        let period = crate::time::instant::nanos(self.period);
        self.next = Some(match self.missed {
            MissedTicks::Burst => due + self.period,
            MissedTicks::Delay => now + self.period,
            MissedTicks::Skip => {
                let behind = (now - due).as_nanos() as u64 / period;
                due + Duration::from_nanos(period.saturating_mul(behind + 1))
            }
        });
        Poll::Ready(due)
    }
}

impl Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

impl Drop for Interval {
    fn drop(&mut self) {
        if let Some((core, key)) = self.timer.take() {
            core.cancel_timer(key);
        }
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("period", &self.period)
            .field("missed", &self.missed)
            .field("next", &self.next)
            .finish()
    }
}
