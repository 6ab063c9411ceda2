//! The clock glue: [`Clock`], a small trait for components that take their clock as a
//! parameter, with [`SimClock`] (the current simloop loop) and, behind feature `tokio`,
//! [`TokioClock`].

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::Instant;

/// The future [`Clock::sleep`] and [`Clock::sleep_until`] return: boxed, so that
/// [`Clock`] stays object-safe (`Rc<dyn Clock>`), and not `Send`, because simloop's timers
/// belong to the loop's thread.
pub type ClockSleep = Pin<Box<dyn Future<Output = ()>>>;

/// A source of time for a component that takes its clock as a parameter, so that the same
/// code runs on a real runtime in production (`TokioClock`, behind feature `tokio`) and on
/// simloop's virtual clock in tests ([`SimClock`]).
///
/// Time is a [`Duration`] since the clock's epoch, a plain `std` type: the component needs
/// no instant type of either runtime. [`SimClock`]'s epoch is the loop's (so `now()` is
/// [`simloop::now()`](crate::now)`.as_duration()`); `TokioClock`'s is the moment it was
/// made. The trait is object-safe: a component may hold an `Rc<dyn Clock>`, and `Rc`, `Arc`,
/// `Box` and references of a clock are clocks too.
///
/// The futures are not `Send` (simloop's timers live on the loop's thread), so neither is a
/// component future that holds one across an `.await`: on tokio, run it where `!Send`
/// futures run (`Runtime::block_on`, a current-thread runtime, a `LocalSet`).
///
/// ```
/// use simloop::{Clock, SimClock};
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// /// Polls `ready` every `period` until it says yes; the time it took.
/// async fn wait_for(clock: &dyn Clock, period: Duration, ready: impl Fn() -> bool) -> Duration {
///     let start = clock.now();
///     while !ready() {
///         clock.sleep(period).await;
///     }
///     clock.now() - start
/// }
///
/// #[simloop::test]
/// async fn waits_three_periods() {
///     let clock: Rc<dyn Clock> = Rc::new(SimClock);
///     let took = wait_for(&*clock, Duration::from_millis(250), || {
///         simloop::now() >= simloop::Instant::from_millis(700)
///     })
///     .await;
///     assert_eq!(took, Duration::from_millis(750));
/// }
/// # fn main() {}
/// ```
pub trait Clock {
    /// Time elapsed since the clock's epoch. Never goes backwards.
    fn now(&self) -> Duration;

    /// A future that completes `d` from now (from its first poll at the latest).
    fn sleep(&self, d: Duration) -> ClockSleep;

    /// A future that completes at `deadline` on this clock's timeline (the same epoch as
    /// [`now`](Clock::now)); at once if that is past.
    fn sleep_until(&self, deadline: Duration) -> ClockSleep;
}

macro_rules! forward {
    ($($ty:ty),*) => {$(
        impl<C: Clock + ?Sized> Clock for $ty {
            fn now(&self) -> Duration {
                (**self).now()
            }
            fn sleep(&self, d: Duration) -> ClockSleep {
                (**self).sleep(d)
            }
            fn sleep_until(&self, deadline: Duration) -> ClockSleep {
                (**self).sleep_until(deadline)
            }
        }
    )*};
}

forward!(&C, Box<C>, Rc<C>, Arc<C>);

/// The virtual clock of the simloop loop running on this thread, as a [`Clock`]: `now` is
/// [`crate::now`] as a `Duration` since the loop's epoch, `sleep` and `sleep_until` are
/// [`crate::sleep`] and [`crate::sleep_until`] (deadlines fixed at the first poll).
///
/// It holds nothing: it reads the loop that is current when it is used, so make and pass it
/// anywhere, and use it inside a running loop (or [`EventLoop::enter`](crate::EventLoop::enter)).
///
/// # Panics
/// `now` panics outside a loop, and so does a sleep polled outside one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimClock;

impl Clock for SimClock {
    fn now(&self) -> Duration {
        crate::now().as_duration()
    }

    fn sleep(&self, d: Duration) -> ClockSleep {
        Box::pin(crate::sleep(d))
    }

    fn sleep_until(&self, deadline: Duration) -> ClockSleep {
        Box::pin(crate::sleep_until(Instant::from_duration(deadline)))
    }
}

/// tokio's clock as a [`Clock`], for production: `now` is the time since the clock was made
/// (`tokio::time::Instant`, so tokio's paused test clock moves it too), `sleep` and
/// `sleep_until` are `tokio::time::sleep` and `tokio::time::sleep_until`. Its sleeps need a
/// tokio runtime with the time driver enabled.
///
/// ```
/// use simloop::{Clock, TokioClock};
/// use std::time::Duration;
///
/// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// rt.block_on(async {
///     let clock = TokioClock::new();
///     clock.sleep(Duration::from_millis(1)).await;
///     assert!(clock.now() >= Duration::from_millis(1));
/// });
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokioClock {
    epoch: tokio::time::Instant,
}

#[cfg(feature = "tokio")]
impl TokioClock {
    /// A clock whose epoch is now.
    pub fn new() -> TokioClock {
        TokioClock::with_epoch(tokio::time::Instant::now())
    }

    /// A clock whose epoch is `epoch` (e.g. to share one timeline between several clocks).
    pub fn with_epoch(epoch: tokio::time::Instant) -> TokioClock {
        TokioClock { epoch }
    }

    /// The clock's epoch.
    pub fn epoch(&self) -> tokio::time::Instant {
        self.epoch
    }
}

#[cfg(feature = "tokio")]
impl Default for TokioClock {
    /// [`TokioClock::new`].
    fn default() -> Self {
        TokioClock::new()
    }
}

#[cfg(feature = "tokio")]
impl Clock for TokioClock {
    fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.epoch)
    }

    fn sleep(&self, d: Duration) -> ClockSleep {
        Box::pin(tokio::time::sleep(d))
    }

    fn sleep_until(&self, deadline: Duration) -> ClockSleep {
        // Past tokio's range: as far as tokio goes (its own far-future handling).
        let at = self
            .epoch
            .checked_add(deadline)
            .unwrap_or_else(|| self.epoch + Duration::from_secs(86_400 * 365 * 30));
        Box::pin(tokio::time::sleep_until(at))
    }
}
