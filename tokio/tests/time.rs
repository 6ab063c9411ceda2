//! `tokio::time`, as an application's tests use it. Each test passes against real tokio
//! (paused clock) and, built with `--cfg simloop`, on simloop's virtual clock, with the same
//! exact instants.

// The dependency rename a user writes in Cargo.toml
// (`tokio = { package = "simloop-tokio", ... }`), for this crate's own tests.
extern crate simloop_tokio as tokio;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{sleep, sleep_until, timeout, timeout_at, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn sleeps_end_at_exact_instants() {
    let start = Instant::now();
    let mut seen = Vec::new();
    for d in [250, 1000, 3000] {
        sleep(ms(d)).await;
        seen.push(start.elapsed());
    }
    assert_eq!(seen, [ms(250), ms(1250), ms(4250)]);
}

#[tokio::test(start_paused = true)]
async fn sleep_until_a_past_deadline_completes_without_moving_the_clock() {
    let start = Instant::now();
    // Room before the start of the test, as in tokio.
    let a_minute_ago = start - Duration::from_secs(60);
    assert_eq!(start - a_minute_ago, Duration::from_secs(60));
    sleep_until(a_minute_ago).await;
    sleep(Duration::ZERO).await;
    assert_eq!(Instant::now(), start);
}

#[tokio::test(start_paused = true)]
async fn concurrent_sleepers_wake_in_deadline_order() {
    let start = Instant::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for (name, d) in [("a", 30), ("b", 10), ("c", 20)] {
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            sleep(ms(d)).await;
            log.lock().unwrap().push((name, start.elapsed()));
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(
        *log.lock().unwrap(),
        [("b", ms(10)), ("c", ms(20)), ("a", ms(30))]
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_elapses_at_its_deadline() {
    let start = Instant::now();
    let out = timeout(ms(100), sleep(Duration::from_secs(1))).await;
    assert!(out.is_err());
    assert_eq!(out.unwrap_err().to_string(), "deadline has elapsed");
    assert_eq!(start.elapsed(), ms(100));
}

#[tokio::test(start_paused = true)]
async fn timeout_returns_the_output_of_a_future_that_wins() {
    let start = Instant::now();
    let out = timeout(ms(1000), async {
        sleep(ms(300)).await;
        7
    })
    .await;
    assert_eq!(out, Ok(7));
    assert_eq!(start.elapsed(), ms(300));
    // The dropped timeout's timer does not hold the clock: the next sleep is exact.
    sleep(ms(5)).await;
    assert_eq!(start.elapsed(), ms(305));
}

#[tokio::test(start_paused = true)]
async fn timeout_at_uses_an_absolute_deadline() {
    let start = Instant::now();
    let deadline = start + ms(40);
    sleep(ms(10)).await;
    let out = timeout_at(deadline, std::future::pending::<()>()).await;
    assert!(out.is_err());
    assert_eq!(start.elapsed(), ms(40));
}

#[tokio::test(start_paused = true)]
async fn a_sleep_is_elapsed_once_its_timer_fired_not_before() {
    let start = Instant::now();
    let s = sleep(ms(50));
    tokio::pin!(s);
    assert_eq!(s.deadline(), start + ms(50));
    assert!(!s.is_elapsed());
    // Polling it once registers the timer.
    assert!(futures::poll!(s.as_mut()).is_pending());
    sleep(ms(40)).await;
    assert!(!s.is_elapsed());
    sleep(ms(20)).await;
    assert!(s.is_elapsed(), "the timer fired at 50ms");
    s.await;
    assert_eq!(start.elapsed(), ms(60));
}

#[tokio::test(start_paused = true)]
async fn reset_moves_a_pending_sleep() {
    let start = Instant::now();
    let s = sleep(ms(100));
    tokio::pin!(s);
    assert!(futures::poll!(s.as_mut()).is_pending());
    sleep(ms(50)).await;
    s.as_mut().reset(Instant::now() + ms(100));
    assert_eq!(s.deadline(), start + ms(150));
    s.as_mut().await;
    assert_eq!(start.elapsed(), ms(150));
    assert!(s.is_elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_sleep_reset_to_a_past_instant_is_ready_at_the_next_poll() {
    let start = Instant::now();
    let s = sleep(Duration::from_secs(3600));
    tokio::pin!(s);
    assert!(futures::poll!(s.as_mut()).is_pending());
    sleep(ms(20)).await;
    s.as_mut().reset(start);
    assert!(futures::poll!(s.as_mut()).is_ready());
    assert_eq!(start.elapsed(), ms(20));
    // A completed sleep reset to the future is pending again.
    s.as_mut().reset(Instant::now() + ms(30));
    assert!(!s.is_elapsed());
    s.as_mut().await;
    assert_eq!(start.elapsed(), ms(50));
}

#[tokio::test(start_paused = true)]
async fn instant_arithmetic_is_exact() {
    let start = Instant::now();
    let later = start + ms(1500);
    assert_eq!(later - start, ms(1500));
    assert_eq!(later.duration_since(start), ms(1500));
    assert_eq!(start.duration_since(later), Duration::ZERO);
    assert_eq!(start.checked_duration_since(later), None);
    assert_eq!(start.saturating_duration_since(later), Duration::ZERO);
    assert_eq!(later.checked_sub(ms(1500)), Some(start));
    assert_eq!(start.checked_add(ms(1)).unwrap() - start, ms(1));
    let mut t = start;
    t += ms(10);
    t -= ms(4);
    assert_eq!(t - start, ms(6));
    assert!(start < later);
    sleep(ms(1500)).await;
    assert_eq!(Instant::now(), later);
    assert_eq!(start.elapsed(), ms(1500));
}

#[tokio::test(start_paused = true)]
async fn advance_moves_the_clock_and_fires_what_fell_due() {
    let start = Instant::now();
    let (registered_tx, registered_rx) = tokio::sync::oneshot::channel();
    let sleeper = tokio::spawn(async move {
        let due = sleep(ms(10));
        registered_tx.send(()).unwrap();
        due.await;
        start.elapsed()
    });
    registered_rx.await.unwrap();
    tokio::time::advance(ms(15)).await;
    assert_eq!(start.elapsed(), ms(15));
    // Its timer fell due while the clock jumped: it woke at the new instant, as in tokio.
    assert_eq!(sleeper.await.unwrap(), ms(15));
}

/// A waker woken by one timer may drop another timer, even one due at the same instant.
#[tokio::test(start_paused = true)]
async fn a_timers_wake_may_drop_other_timers() {
    use futures::task::{waker, ArcWake};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::Context;

    struct DropOnWake {
        other: Mutex<Option<Pin<Box<tokio::time::Sleep>>>>,
        woken: AtomicBool,
    }
    impl ArcWake for DropOnWake {
        fn wake_by_ref(this: &Arc<Self>) {
            this.woken.store(true, Ordering::SeqCst);
            drop(this.other.lock().unwrap().take());
        }
    }

    let start = Instant::now();
    let mut other = Box::pin(sleep(ms(10)));
    let noop = futures::task::noop_waker();
    assert!(other
        .as_mut()
        .poll(&mut Context::from_waker(&noop))
        .is_pending());
    let state = Arc::new(DropOnWake {
        other: Mutex::new(Some(other)),
        woken: AtomicBool::new(false),
    });
    let w = waker(state.clone());
    let mut first = Box::pin(sleep(ms(10)));
    assert!(first
        .as_mut()
        .poll(&mut Context::from_waker(&w))
        .is_pending());
    sleep(ms(20)).await;
    assert!(state.woken.load(Ordering::SeqCst));
    assert!(state.other.lock().unwrap().is_none(), "dropped by the wake");
    assert!(first.is_elapsed());
    assert!(first.as_mut().poll(&mut Context::from_waker(&w)).is_ready());
    assert_eq!(start.elapsed(), ms(20));
}
