//! tokio's `sync` primitives (tokio's own, in both modes) driven by timers: channels,
//! `Notify`, `Semaphore`, `Mutex`, `watch`, and `select!` between a timer and a channel.

extern crate simloop_tokio as tokio;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch, Notify, Semaphore};
use tokio::time::{sleep, timeout, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn select_between_a_timer_and_a_channel() {
    let start = Instant::now();
    let (tx, mut rx) = mpsc::channel::<u32>(8);
    tokio::spawn(async move {
        sleep(ms(30)).await;
        tx.send(1).await.unwrap();
        sleep(ms(30)).await;
        tx.send(2).await.unwrap();
        sleep(ms(140)).await; // closes the channel at 200ms
    });
    let mut events = Vec::new();
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(v) => events.push(format!("msg {v} at {}", start.elapsed().as_millis())),
                None => {
                    events.push(format!("closed at {}", start.elapsed().as_millis()));
                    break;
                }
            },
            _ = sleep(ms(50)) => events.push(format!("idle at {}", start.elapsed().as_millis())),
        }
    }
    assert_eq!(
        events,
        [
            "msg 1 at 30",
            "msg 2 at 60",
            "idle at 110",
            "idle at 160",
            "closed at 200"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn select_with_preconditions_patterns_and_else() {
    let (tx, mut rx) = mpsc::channel::<Option<u32>>(4);
    tx.send(None).await.unwrap();
    tx.send(Some(4)).await.unwrap();
    let mut armed = false;
    let got = tokio::select! {
        biased;
        _ = sleep(ms(1)), if armed => 0,
        Some(Some(v)) = rx.recv() => v,
        else => 99,
    };
    // `None` does not match the pattern: the branch is disabled, and since the other is
    // too, `else` runs.
    assert_eq!(got, 99);
    armed = true;
    let got = tokio::select! {
        _ = sleep(ms(1)), if armed => 0,
        Some(Some(v)) = rx.recv() => v,
    };
    assert_eq!(got, 4);
}

#[tokio::test(start_paused = true)]
async fn bounded_channel_backpressure_with_a_slow_consumer() {
    let start = Instant::now();
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    let producer = tokio::spawn(async move {
        let mut sent = Vec::new();
        for i in 0..3 {
            tx.send(i).await.unwrap();
            sent.push(start.elapsed());
        }
        sent
    });
    let mut received = Vec::new();
    for _ in 0..3 {
        sleep(ms(100)).await;
        let v = rx.recv().await.unwrap();
        received.push((v, start.elapsed()));
    }
    assert_eq!(producer.await.unwrap(), [ms(0), ms(100), ms(200)]);
    assert_eq!(received, [(0, ms(100)), (1, ms(200)), (2, ms(300))]);
}

#[tokio::test(start_paused = true)]
async fn notify_wakes_a_waiter_at_the_notifiers_instant() {
    let start = Instant::now();
    let notify = Arc::new(Notify::new());
    let n = notify.clone();
    let waiter = tokio::spawn(async move {
        n.notified().await;
        start.elapsed()
    });
    sleep(ms(40)).await;
    notify.notify_one();
    assert_eq!(waiter.await.unwrap(), ms(40));
}

#[tokio::test(start_paused = true)]
async fn a_semaphore_limits_concurrency() {
    let start = Instant::now();
    let permits = Arc::new(Semaphore::new(2));
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for _ in 0..5 {
        let permits = permits.clone();
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            let _permit = permits.acquire().await.unwrap();
            let began = start.elapsed();
            sleep(ms(100)).await;
            log.lock().unwrap().push((began, start.elapsed()));
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    // Which task gets a permit first is the scheduler's business; how many run at once
    // is the semaphore's: two, then two, then one.
    let mut log = log.lock().unwrap().clone();
    log.sort();
    assert_eq!(
        log,
        [
            (ms(0), ms(100)),
            (ms(0), ms(100)),
            (ms(100), ms(200)),
            (ms(100), ms(200)),
            (ms(200), ms(300)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_async_mutex_held_across_a_sleep() {
    let start = Instant::now();
    let state = Arc::new(tokio::sync::Mutex::new(0u32));
    let s = state.clone();
    let holder = tokio::spawn(async move {
        let mut guard = s.lock().await;
        sleep(ms(25)).await;
        *guard += 1;
    });
    sleep(ms(1)).await;
    let guard = state.lock().await;
    assert_eq!((*guard, start.elapsed()), (1, ms(25)));
    drop(guard);
    holder.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn oneshot_under_a_timeout() {
    let start = Instant::now();
    let (tx, rx) = oneshot::channel::<u32>();
    tokio::spawn(async move {
        sleep(ms(80)).await;
        let _ = tx.send(1);
    });
    assert!(timeout(ms(50), rx).await.is_err());
    assert_eq!(start.elapsed(), ms(50));

    let (tx, rx) = oneshot::channel::<u32>();
    tokio::spawn(async move {
        sleep(ms(20)).await;
        let _ = tx.send(2);
    });
    assert_eq!(timeout(ms(50), rx).await.unwrap().unwrap(), 2);
    assert_eq!(start.elapsed(), ms(70));
}

#[tokio::test(start_paused = true)]
async fn watch_observers_see_updates_at_their_instants() {
    let start = Instant::now();
    let (tx, mut rx) = watch::channel("v0");
    let observer = tokio::spawn(async move {
        let mut seen = Vec::new();
        while rx.changed().await.is_ok() {
            seen.push((*rx.borrow_and_update(), start.elapsed()));
        }
        seen
    });
    for (d, v) in [(10, "v1"), (20, "v2")] {
        sleep(ms(d)).await;
        tx.send(v).unwrap();
    }
    sleep(ms(5)).await;
    drop(tx);
    assert_eq!(observer.await.unwrap(), [("v1", ms(10)), ("v2", ms(30))]);
}
