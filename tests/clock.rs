//! The clock glue: `Clock` over simloop's virtual clock (`SimClock`) and, with feature
//! `tokio`, over tokio's (`TokioClock`); the same component code on both.

use std::rc::Rc;
use std::time::Duration;

use simloop::{Clock, ClockSleep, Instant, SimClock};

/// A component that only knows `Clock`: waits `period` at a time until `ready()`, and says
/// how long it waited and at which instants (on its clock) it looked.
async fn poll_until(
    clock: &dyn Clock,
    period: Duration,
    ready: impl Fn(Duration) -> bool,
) -> Vec<Duration> {
    let mut looks = vec![clock.now()];
    while !ready(clock.now()) {
        clock.sleep(period).await;
        looks.push(clock.now());
    }
    looks
}

#[simloop::test]
async fn sim_clock_is_the_loop_clock_as_a_duration() {
    let clock = SimClock;
    assert_eq!(clock.now(), Duration::ZERO);
    simloop::sleep(Duration::from_millis(1500)).await;
    assert_eq!(clock.now(), Duration::from_millis(1500));
    assert_eq!(clock.now(), simloop::now().as_duration());
}

#[simloop::test]
async fn sim_clock_sleeps_are_simloop_sleeps() {
    let clock = SimClock;
    clock.sleep(Duration::from_secs(2)).await;
    assert_eq!(simloop::now(), Instant::from_secs(2));
    // sleep_until is absolute on the clock's timeline (the loop's epoch)...
    clock.sleep_until(Duration::from_secs(5)).await;
    assert_eq!(simloop::now(), Instant::from_secs(5));
    // ... and a past deadline is due at once.
    clock.sleep_until(Duration::from_secs(1)).await;
    assert_eq!(simloop::now(), Instant::from_secs(5));
}

#[simloop::test]
async fn sim_clock_sleeps_fix_their_deadline_at_the_first_poll() {
    let clock = SimClock;
    let late = clock.sleep(Duration::from_secs(1));
    simloop::sleep(Duration::from_secs(3)).await;
    late.await;
    assert_eq!(simloop::now(), Instant::from_secs(4));
}

#[simloop::test]
async fn a_component_takes_the_clock_as_a_trait_object() {
    let clock: Rc<dyn Clock> = Rc::new(SimClock);
    let looks = poll_until(&*clock, Duration::from_millis(250), |now| {
        now >= Duration::from_millis(700)
    })
    .await;
    let ms = Duration::from_millis;
    assert_eq!(looks, [ms(0), ms(250), ms(500), ms(750)]);
}

#[simloop::test]
async fn references_boxes_and_shared_pointers_of_a_clock_are_clocks() {
    fn now_of(clock: impl Clock) -> Duration {
        clock.now()
    }
    simloop::sleep(Duration::from_secs(1)).await;
    let one = Duration::from_secs(1);
    assert_eq!(now_of(SimClock), one);
    let by_ref = |clock: &SimClock| now_of(clock);
    assert_eq!(by_ref(&SimClock), one);
    assert_eq!(now_of(Box::new(SimClock)), one);
    assert_eq!(now_of(Rc::new(SimClock)), one);
    assert_eq!(now_of(std::sync::Arc::new(SimClock)), one);
    let boxed: Box<dyn Clock> = Box::new(SimClock);
    assert_eq!(now_of(boxed), one);
}

/// A clock of one's own: the loop's clock, running `skew` ahead (as a node whose clock
/// drifted would).
struct Skewed {
    skew: Duration,
}

impl Clock for Skewed {
    fn now(&self) -> Duration {
        SimClock.now() + self.skew
    }
    fn sleep(&self, d: Duration) -> ClockSleep {
        SimClock.sleep(d)
    }
    fn sleep_until(&self, deadline: Duration) -> ClockSleep {
        SimClock.sleep_until(deadline.saturating_sub(self.skew))
    }
}

#[simloop::test]
async fn users_implement_clock_for_their_own_clocks() {
    let clock = Skewed {
        skew: Duration::from_secs(10),
    };
    assert_eq!(clock.now(), Duration::from_secs(10));
    clock.sleep_until(Duration::from_secs(12)).await;
    assert_eq!(simloop::now(), Instant::from_secs(2));
    let looks = poll_until(&clock, Duration::from_secs(1), |now| {
        now >= Duration::from_secs(14)
    })
    .await;
    let s = Duration::from_secs;
    assert_eq!(looks, [s(12), s(13), s(14)]);
}

#[test]
#[should_panic(expected = "outside")]
fn sim_clock_needs_a_running_loop() {
    let _ = SimClock.now();
}

#[cfg(feature = "tokio")]
mod tokio_clock {
    use super::*;
    use simloop::TokioClock;

    fn paused_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn the_same_component_runs_on_tokio() {
        paused_runtime().block_on(async {
            let clock = TokioClock::new();
            let start = tokio::time::Instant::now();
            assert_eq!(clock.epoch(), start);
            let looks = poll_until(&clock, Duration::from_millis(250), |now| {
                now >= Duration::from_millis(700)
            })
            .await;
            // tokio's paused clock moves exactly as far as the sleeps ask.
            let ms = Duration::from_millis;
            assert_eq!(looks, [ms(0), ms(250), ms(500), ms(750)]);
            assert_eq!(start.elapsed(), ms(750));
        });
    }

    #[test]
    fn sleep_until_is_on_the_clock_timeline() {
        paused_runtime().block_on(async {
            let epoch = tokio::time::Instant::now();
            tokio::time::sleep(Duration::from_secs(3)).await;
            // A clock whose epoch was 3 s ago: its deadline 5 s is 2 s from now.
            let clock = TokioClock::with_epoch(epoch);
            assert_eq!(clock.now(), Duration::from_secs(3));
            clock.sleep_until(Duration::from_secs(5)).await;
            assert_eq!(epoch.elapsed(), Duration::from_secs(5));
            clock.sleep_until(Duration::from_secs(1)).await;
            assert_eq!(epoch.elapsed(), Duration::from_secs(5));
        });
    }
}
