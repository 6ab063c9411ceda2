//! The clock the example components take: the only way they observe or spend time. Real
//! code would implement it over its runtime's timers; tests use [`SimClock`], simloop's
//! virtual clock. Shared by the examples through `#[path]`, so each reads as one file.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A source of time.
pub trait Clock {
    /// Time elapsed since some fixed epoch. Never goes backwards.
    fn now(&self) -> Duration;
    /// A future that completes `d` from now.
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()>>>;
}

/// The simloop adapter: the running loop's virtual clock, as a [`Clock`]. Use it inside a
/// running loop (`now` and `sleep` panic outside one).
#[derive(Clone, Copy, Debug, Default)]
pub struct SimClock;

impl Clock for SimClock {
    fn now(&self) -> Duration {
        simloop::now() - simloop::Instant::ZERO
    }

    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(simloop::sleep(d))
    }
}
