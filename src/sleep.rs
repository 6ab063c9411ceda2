//! [`sleep`], [`sleep_until`] and [`yield_now`].

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::core::Core;
use crate::slab::Key;
use crate::Instant;

/// Completes `duration` after its first poll; see [`sleep`].
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    target: Target,
    location: &'static Location<'static>,
    state: State,
}

#[derive(Clone, Copy)]
enum Target {
    After(Duration),
    At(Instant),
}

enum State {
    Unpolled,
    Waiting {
        core: Rc<Core>,
        key: Option<Key>,
        deadline: Instant,
    },
    Done {
        deadline: Instant,
    },
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
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::new(Target::After(duration), Location::caller())
}

/// Waits until the loop's clock reads `deadline` (a past deadline is a timer due now).
///
/// # Panics
/// When polled outside a simloop loop.
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(Target::At(deadline), Location::caller())
}

impl Sleep {
    fn new(target: Target, location: &'static Location<'static>) -> Sleep {
        Sleep {
            target,
            location,
            state: State::Unpolled,
        }
    }

    /// The deadline, once the sleep has been polled.
    pub fn deadline(&self) -> Option<Instant> {
        match (&self.state, self.target) {
            (State::Waiting { deadline, .. } | State::Done { deadline }, _) => Some(*deadline),
            (_, Target::At(t)) => Some(t),
            _ => None,
        }
    }

    /// True once the sleep has completed.
    pub fn is_elapsed(&self) -> bool {
        matches!(self.state, State::Done { .. })
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match &this.state {
            State::Done { .. } => return Poll::Ready(()),
            State::Unpolled => {
                let core = crate::context::core("sleep()");
                let deadline = match this.target {
                    Target::After(d) => core.now() + d,
                    Target::At(t) => t,
                };
                let key = core.add_wake_timer(deadline, cx.waker().clone(), this.location);
                this.state = State::Waiting {
                    core,
                    key,
                    deadline,
                };
                return Poll::Pending;
            }
            State::Waiting {
                core,
                key,
                deadline,
            } => {
                let Some(key) = *key else {
                    return Poll::Pending; // the loop was closed: never completes
                };
                if !core.poll_wake_timer(key, cx.waker()) {
                    return Poll::Pending;
                }
                this.state = State::Done {
                    deadline: *deadline,
                };
            }
        }
        Poll::Ready(())
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let State::Waiting {
            core,
            key: Some(key),
            ..
        } = &self.state
        {
            core.cancel_entry(*key);
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
