//! Application code as people write it with tokio: retry with backoff and a timeout,
//! debounce with `Sleep::reset`, a TTL cache, graceful shutdown, a heartbeat with a lease.
//! Both modes, exact instants.

extern crate simloop_tokio as tokio;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---- retry with exponential backoff and a per-attempt timeout ----

/// A flaky service: attempt 1 fails after 30ms, attempt 2 hangs, attempt 3 fails after
/// 30ms, attempt 4 succeeds after 30ms.
async fn flaky_call(attempts: &AtomicU32) -> Result<&'static str, &'static str> {
    match attempts.fetch_add(1, Ordering::SeqCst) + 1 {
        2 => {
            sleep(Duration::from_secs(3600)).await;
            Ok("too late")
        }
        4 => {
            sleep(ms(30)).await;
            Ok("answer")
        }
        _ => {
            sleep(ms(30)).await;
            Err("unavailable")
        }
    }
}

async fn call_with_retry(
    attempts: &AtomicU32,
    log: &mut Vec<String>,
    start: Instant,
) -> Result<&'static str, String> {
    let mut backoff = ms(100);
    for attempt in 1..=5 {
        match timeout(ms(50), flaky_call(attempts)).await {
            Ok(Ok(v)) => {
                log.push(format!("{attempt}: ok at {:?}", start.elapsed()));
                return Ok(v);
            }
            Ok(Err(e)) => log.push(format!("{attempt}: {e} at {:?}", start.elapsed())),
            Err(_) => log.push(format!("{attempt}: timed out at {:?}", start.elapsed())),
        }
        sleep(backoff).await;
        backoff *= 2;
    }
    Err("gave up".into())
}

#[tokio::test(start_paused = true)]
async fn retry_with_backoff_and_timeout() {
    let start = Instant::now();
    let attempts = AtomicU32::new(0);
    let mut log = Vec::new();
    let out = call_with_retry(&attempts, &mut log, start).await;
    assert_eq!(out, Ok("answer"));
    assert_eq!(
        log,
        [
            "1: unavailable at 30ms",
            "2: timed out at 180ms",
            "3: unavailable at 410ms",
            "4: ok at 840ms",
        ]
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
}

// ---- debounce with Sleep::reset ----

/// Emits the events it received, in batches, once no event came for `quiet`.
async fn debounce(
    mut rx: mpsc::Receiver<u32>,
    quiet: Duration,
    start: Instant,
) -> Vec<(Vec<u32>, Duration)> {
    let mut out = Vec::new();
    let mut batch = Vec::new();
    let timer = sleep(Duration::from_secs(86400));
    tokio::pin!(timer);
    loop {
        tokio::select! {
            _ = &mut timer, if !batch.is_empty() => {
                out.push((std::mem::take(&mut batch), start.elapsed()));
            }
            event = rx.recv() => match event {
                Some(e) => {
                    batch.push(e);
                    timer.as_mut().reset(Instant::now() + quiet);
                }
                None => break,
            },
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn debounce_waits_for_quiet() {
    let start = Instant::now();
    let (tx, rx) = mpsc::channel(16);
    let source = tokio::spawn(async move {
        for (at, e) in [(0, 1), (30, 2), (60, 3), (200, 4), (220, 5)] {
            tokio::time::sleep_until(start + ms(at)).await;
            tx.send(e).await.unwrap();
        }
        tokio::time::sleep_until(start + ms(400)).await;
    });
    let batches = debounce(rx, ms(50), start).await;
    assert_eq!(batches, [(vec![1, 2, 3], ms(110)), (vec![4, 5], ms(270))]);
    source.await.unwrap();
    assert_eq!(start.elapsed(), ms(400));
}

// ---- a cache with a time-to-live ----

struct TtlCache {
    ttl: Duration,
    entries: HashMap<String, (u32, Instant)>,
}

impl TtlCache {
    fn get(&self, key: &str) -> Option<u32> {
        let (v, at) = self.entries.get(key)?;
        (at.elapsed() < self.ttl).then_some(*v)
    }

    fn put(&mut self, key: &str, v: u32) {
        self.entries.insert(key.to_string(), (v, Instant::now()));
    }
}

#[tokio::test(start_paused = true)]
async fn ttl_cache_entries_expire_on_time() {
    let mut cache = TtlCache {
        ttl: ms(100),
        entries: HashMap::new(),
    };
    cache.put("a", 1);
    sleep(ms(60)).await;
    cache.put("b", 2);
    assert_eq!((cache.get("a"), cache.get("b")), (Some(1), Some(2)));
    sleep(ms(39)).await; // 99ms
    assert_eq!(cache.get("a"), Some(1));
    sleep(ms(1)).await; // 100ms: "a" expires
    assert_eq!((cache.get("a"), cache.get("b")), (None, Some(2)));
    sleep(ms(60)).await; // 160ms: "b" expires
    assert_eq!(cache.get("b"), None);
}

// ---- graceful shutdown ----

#[tokio::test(start_paused = true)]
async fn workers_stop_at_the_shutdown_signal() {
    let start = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut workers = JoinSet::new();
    for (id, period) in [(0u32, 70u64), (1, 100)] {
        let mut stop = stop_rx.clone();
        workers.spawn(async move {
            let mut rounds = 0;
            loop {
                tokio::select! {
                    _ = sleep(ms(period)) => rounds += 1,
                    _ = stop.changed() => break,
                }
            }
            (id, rounds, start.elapsed())
        });
    }
    sleep(ms(250)).await;
    stop_tx.send(true).unwrap();
    let mut done = Vec::new();
    while let Some(r) = workers.join_next().await {
        done.push(r.unwrap());
    }
    done.sort();
    assert_eq!(done, [(0, 3, ms(250)), (1, 2, ms(250))]);
}

// ---- a heartbeat that keeps a lease alive ----

#[tokio::test(start_paused = true)]
async fn a_lease_expires_once_heartbeats_stop() {
    let start = Instant::now();
    let lease_until = Arc::new(Mutex::new(start + ms(150)));
    let l = lease_until.clone();
    let heartbeat = tokio::spawn(async move {
        let mut beats = tokio::time::interval(ms(100));
        for _ in 0..4 {
            beats.tick().await;
            *l.lock().unwrap() = Instant::now() + ms(150);
        }
    });
    let mut checks = Vec::new();
    let mut monitor = tokio::time::interval_at(start + ms(25), ms(50));
    loop {
        monitor.tick().await;
        let alive = Instant::now() < *lease_until.lock().unwrap();
        checks.push((start.elapsed().as_millis() as u64, alive));
        if !alive {
            break;
        }
    }
    heartbeat.await.unwrap();
    // Beats at 0, 100, 200, 300: the lease runs to 450.
    assert_eq!(checks.last(), Some(&(475, false)));
    assert_eq!(checks.iter().filter(|(_, alive)| *alive).count(), 9);
}
