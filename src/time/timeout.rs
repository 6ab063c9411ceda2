//! [`timeout`] and [`timeout_at`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::time::sleep::{sleep, sleep_until, Sleep};
use crate::Instant;

/// The error of a [`timeout`] whose deadline passed first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed {
    deadline: Instant,
}

impl Elapsed {
    /// The deadline that passed.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the deadline of {} passed first", self.deadline)
    }
}

impl std::error::Error for Elapsed {}

pin_project! {
    /// The future of [`timeout`] and [`timeout_at`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

/// Runs `future` for at most `duration` (the deadline is fixed at the first poll).
///
/// The inner future is polled first, so a future ready exactly at the deadline wins. When the
/// deadline passes first it resolves to `Err(Elapsed)`; the inner future is dropped with it.
///
/// ```
/// use simloop::{sleep, timeout, EventLoop};
/// use std::time::Duration;
///
/// let mut lp = EventLoop::new();
/// let out = lp
///     .run_until_complete(async {
///         let slow = timeout(Duration::from_secs(1), sleep(Duration::from_secs(5))).await;
///         let fast = timeout(Duration::from_secs(1), async { 42 }).await;
///         (slow.is_err(), fast, simloop::now())
///     })
///     .unwrap();
/// assert_eq!(out, (true, Ok(42), simloop::Instant::from_nanos(1_000_000_000)));
/// ```
///
/// # Panics
/// When polled outside a simloop loop.
#[track_caller]
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(duration),
    }
}

/// Runs `future` until the clock reads `deadline` at the latest; see [`timeout`].
///
/// # Panics
/// When polled outside a simloop loop.
#[track_caller]
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep_until(deadline),
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut *this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed {
                deadline: this
                    .sleep
                    .deadline()
                    .expect("a finished sleep knows its deadline"),
            })),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("sleep", &self.sleep)
            .finish()
    }
}
