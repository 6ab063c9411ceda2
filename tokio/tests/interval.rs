//! `tokio::time::interval` and its missed-tick behaviours, with exact instants in both
//! modes (real tokio's paused clock, and `--cfg simloop`).

extern crate simloop_tokio as tokio;

use std::time::Duration;

use tokio::time::{interval, interval_at, sleep, Instant, MissedTickBehavior};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Ticks an interval of 100ms six times; after the second tick the task is busy for
/// 250ms. Returns (scheduled tick, instant the tick was seen) pairs, in ms from the start.
async fn ticks_after_a_slow_tick(behavior: Option<MissedTickBehavior>) -> Vec<(u64, u64)> {
    let start = Instant::now();
    let mut iv = interval(ms(100));
    if let Some(b) = behavior {
        iv.set_missed_tick_behavior(b);
    }
    let mut out = Vec::new();
    for i in 0..5 {
        let tick = iv.tick().await;
        out.push((
            (tick - start).as_millis() as u64,
            start.elapsed().as_millis() as u64,
        ));
        if i == 1 {
            sleep(ms(250)).await; // a slow tick: busy until 350ms
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn the_first_tick_is_immediate_then_every_period() {
    let start = Instant::now();
    let mut iv = interval(ms(100));
    assert_eq!(iv.period(), ms(100));
    assert_eq!(iv.missed_tick_behavior(), MissedTickBehavior::Burst);
    let mut seen = Vec::new();
    for _ in 0..4 {
        let tick = iv.tick().await;
        assert_eq!(tick, Instant::now());
        seen.push(tick - start);
    }
    assert_eq!(seen, [ms(0), ms(100), ms(200), ms(300)]);
}

#[tokio::test(start_paused = true)]
async fn burst_delivers_the_missed_ticks_at_once() {
    assert_eq!(
        ticks_after_a_slow_tick(None).await,
        [(0, 0), (100, 100), (200, 350), (300, 350), (400, 400)]
    );
}

#[tokio::test(start_paused = true)]
async fn delay_restarts_the_period_from_the_late_tick() {
    assert_eq!(
        ticks_after_a_slow_tick(Some(MissedTickBehavior::Delay)).await,
        [(0, 0), (100, 100), (200, 350), (450, 450), (550, 550)]
    );
}

#[tokio::test(start_paused = true)]
async fn skip_jumps_to_the_next_tick_of_the_schedule() {
    assert_eq!(
        ticks_after_a_slow_tick(Some(MissedTickBehavior::Skip)).await,
        [(0, 0), (100, 100), (200, 350), (400, 400), (500, 500)]
    );
}

#[tokio::test(start_paused = true)]
async fn reset_restarts_the_period_from_now() {
    let start = Instant::now();
    let mut iv = interval(ms(100));
    iv.tick().await;
    sleep(ms(30)).await;
    iv.reset();
    let a = iv.tick().await;
    let b = iv.tick().await;
    assert_eq!((a - start, b - start), (ms(130), ms(230)));
    iv.reset_after(ms(5));
    assert_eq!(iv.tick().await - start, ms(235));
    iv.reset_immediately();
    assert_eq!(iv.tick().await - start, ms(235));
    iv.reset_at(start + ms(300));
    assert_eq!(iv.tick().await - start, ms(300));
}

#[tokio::test(start_paused = true)]
async fn interval_at_starts_at_its_start() {
    let start = Instant::now();
    let mut iv = interval_at(start + ms(50), ms(100));
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(iv.tick().await - start);
    }
    assert_eq!(seen, [ms(50), ms(150), ms(250)]);
    assert_eq!(start.elapsed(), ms(250));
}

#[tokio::test(start_paused = true)]
async fn a_rate_limiter_spaces_requests_by_its_interval() {
    let start = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(16);
    for i in 0..5 {
        tx.send(i).await.unwrap();
    }
    drop(tx);
    let mut limiter = interval(ms(100));
    let mut served = Vec::new();
    while let Some(req) = rx.recv().await {
        limiter.tick().await;
        served.push((req, start.elapsed()));
    }
    assert_eq!(
        served,
        [
            (0, ms(0)),
            (1, ms(100)),
            (2, ms(200)),
            (3, ms(300)),
            (4, ms(400))
        ]
    );
}
