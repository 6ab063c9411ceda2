//! [`sleep`], [`sleep_until`] and [`yield_now`].

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::runtime::core::Core;
use crate::runtime::wake_timer::TimerKey;
use crate::time::instant::nanos;
use crate::Instant;

/// Completes `duration` after its first poll; see [`sleep`].
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    /// Nanoseconds: the delay or the deadline before the first poll (see `phase`), the
    /// deadline after.
    when: u64,
    phase: Phase,
    /// The wake timer, while waiting (`None` on a closed loop: it never completes).
    timer: Option<TimerKey>,
    core: Option<Rc<Core>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Relative,
    Absolute,
    Waiting,
    Done,
}

/// Waits for `duration` of virtual time. The deadline is fixed at the first poll.
///
/// A sleep is a timer whose callback wakes the task: the task resumes one iteration after
/// the timer fires, at the same instant, after the other callbacks of that iteration.
///
/// ```
/// use simloop::{now, sleep, EventLoop};
/// use std::time::Duration;
///
/// let mut lp = EventLoop::new();
/// let t = lp
///     .run_until_complete(async {
///         sleep(Duration::from_millis(250)).await;
///         now()
///     })
///     .unwrap();
/// assert_eq!(t.to_string(), "0.25s");
/// ```
///
/// # Panics
/// When polled outside a simloop loop.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::new(nanos(duration), Phase::Relative)
}

/// Waits until the loop's clock reads `deadline` (a past deadline is a timer due now).
///
/// # Panics
/// When polled outside a simloop loop.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(deadline.as_nanos(), Phase::Absolute)
}

impl Sleep {
    fn new(when: u64, phase: Phase) -> Sleep {
        Sleep {
            when,
            phase,
            timer: None,
            core: None,
        }
    }

    /// The deadline, once the sleep has been polled (or from the start, for `sleep_until`).
    pub fn deadline(&self) -> Option<Instant> {
        (self.phase != Phase::Relative).then_some(Instant::from_nanos(self.when))
    }

    /// True once the sleep has completed.
    pub fn is_elapsed(&self) -> bool {
        self.phase == Phase::Done
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match this.phase {
            Phase::Done => Poll::Ready(()),
            Phase::Relative | Phase::Absolute => {
                this.register(cx);
                Poll::Pending
            }
            Phase::Waiting => {
                let (Some(core), Some(key)) = (&this.core, this.timer) else {
                    return Poll::Pending;
                };
                if !core.poll_wake_timer(key, cx.waker(), timer_site()) {
                    return Poll::Pending;
                }
                this.phase = Phase::Done;
                this.timer = None;
                Poll::Ready(())
            }
        }
    }
}

impl Sleep {
    /// The first poll: fixes the deadline and registers the timer. Out of line, which keeps
    /// `poll` light for the polls after it.
    #[inline(never)]
    fn register(&mut self, cx: &mut Context<'_>) {
        let core = crate::runtime::context::core("sleep()");
        if self.phase == Phase::Relative {
            self.when = (core.now() + Duration::from_nanos(self.when)).as_nanos();
        }
        self.phase = Phase::Waiting;
        let deadline = Instant::from_nanos(self.when);
        self.timer = core.add_wake_timer(deadline, cx.waker(), timer_site());
        self.core = Some(core);
    }
}

/// The site named for a sleep's timer: its callback only wakes the sleeping task.
fn timer_site() -> &'static Location<'static> {
    Location::caller()
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let (Some(core), Some(key)) = (&self.core, self.timer) {
            core.cancel_timer(key);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline())
            .field("elapsed", &self.is_elapsed())
            .finish()
    }
}

/// Lets the other ready callbacks and tasks run, as asyncio's `sleep(0)` does: wakes the
/// task and returns pending once, so the task resumes in the next iteration.
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
