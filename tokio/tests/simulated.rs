//! What only the simulator can do with tokio code: exact nanoseconds, a defined order for
//! equal deadlines, hours of virtual time in milliseconds, a stalled test reported instead of
//! hanging, schedules explored and replayed, traces. Built only with `--cfg simloop`.
#![cfg(simloop)]

extern crate simloop_tokio as tokio;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use simloop::{explore, EventLoop, Explore, Schedule};
use tokio::runtime::Runtime;
use tokio::time::{sleep, sleep_until, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn tokio_code_runs_on_the_simloop_loop() {
    assert!(simloop::try_current().is_some());
    sleep(ms(1)).await;
    assert_eq!(Instant::now().to_simloop(), simloop::now());
    assert_eq!(simloop::now(), simloop::Instant::from_nanos(1_000_000));
    assert_eq!(format!("{:?}", Instant::now()), "Instant(1ms)");
    assert_eq!(
        format!("{:?}", Instant::now() - Duration::from_secs(60)),
        "Instant(-59.999s)"
    );
}

#[tokio::test]
async fn sub_millisecond_sleeps_are_exact() {
    let start = Instant::now();
    let mut seen = Vec::new();
    for d in [
        Duration::from_nanos(250),
        Duration::from_micros(1),
        Duration::from_micros(1500),
        Duration::from_nanos(333_333),
    ] {
        sleep(d).await;
        seen.push(start.elapsed().as_nanos());
    }
    // tokio's paused clock rounds every one of these up to a whole millisecond.
    assert_eq!(seen, [250, 1_250, 1_501_250, 1_834_583]);
    let mut iv = tokio::time::interval(Duration::from_nanos(100));
    let mut ticks = Vec::new();
    for _ in 0..3 {
        ticks.push((iv.tick().await - start).as_nanos());
    }
    assert_eq!(ticks, [1_834_583, 1_834_683, 1_834_783]);
}

/// Equal deadlines fire in registration order (tokio leaves it undefined).
#[test]
fn equal_deadlines_fire_in_registration_order() {
    let run = |reverse: bool| {
        let mut lp = EventLoop::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        let o = order.clone();
        lp.run_until_complete(async move {
            let deadline = Instant::now() + ms(10);
            let mut handles = Vec::new();
            for i in 0..5u64 {
                let o = o.clone();
                handles.push(tokio::spawn(async move {
                    // Registering late (after a delay) puts a timer behind earlier ones.
                    let delay = if reverse { 5 - i } else { i };
                    sleep(Duration::from_micros(delay)).await;
                    sleep_until(deadline).await;
                    o.lock().unwrap().push(i);
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
        })
        .unwrap();
        assert_eq!(lp.time(), simloop::Instant::from_nanos(10_000_000));
        let order = order.lock().unwrap().clone();
        order
    };
    assert_eq!(run(false), [0, 1, 2, 3, 4]);
    assert_eq!(run(true), [4, 3, 2, 1, 0]);
}

#[test]
fn ten_virtual_hours_in_well_under_a_second() {
    let rt = Runtime::from_simloop(EventLoop::new());
    let (ticks, beats) = rt.block_on(async {
        let start = Instant::now();
        let beats = Arc::new(AtomicU64::new(0));
        let b = beats.clone();
        // A heartbeat every 10s next to a once-a-second interval, for ten hours.
        let heartbeat = tokio::spawn(async move {
            loop {
                sleep(Duration::from_secs(10)).await;
                b.fetch_add(1, Ordering::Relaxed);
            }
        });
        let mut iv = tokio::time::interval(Duration::from_secs(1));
        let mut ticks = 0u64;
        while start.elapsed() < Duration::from_secs(10 * 3600) {
            iv.tick().await;
            ticks += 1;
        }
        heartbeat.abort();
        assert_eq!(start.elapsed(), Duration::from_secs(36_000));
        (ticks, beats.load(Ordering::Relaxed))
    });
    // The first tick is immediate: ticks at 0s, 1s, ..., 36000s.
    assert_eq!(ticks, 36_001);
    // The beat due at 36000s, the instant of the last tick, comes before it: its timer was
    // registered first (at 35990s, the tick's at 35999s), and equal deadlines fire in
    // registration order.
    assert_eq!(beats, 3_600);
    let stats = rt.with_simloop(|lp| {
        assert_eq!(lp.time().to_string(), "36000s");
        lp.stats()
    });
    // One timer per tick but the first (immediate), one per beat; one clock jump a second.
    assert_eq!(stats.timers_fired, ticks - 1 + beats, "{stats:?}");
    assert_eq!(stats.clock_jumps, 36_000, "{stats:?}");
}

/// A test waiting for something that can never happen fails with the loop's report
/// (which names the pending task and where it was spawned) instead of hanging.
#[tokio::test]
#[should_panic(expected = "the loop stalled at 5s")]
async fn a_stalled_test_is_reported_instead_of_hanging() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let _keep_sender = tx;
    let _waiter = tokio::spawn(rx);
    sleep(Duration::from_secs(5)).await;
    std::future::pending::<()>().await;
}

#[test]
fn a_stalled_block_on_names_the_pending_tasks() {
    let rt = Runtime::new().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async move {
            tokio::spawn(async move { rx.await.ok() }).await.ok();
        })
    }));
    let msg = *caught.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.starts_with("the loop stalled at 0s"), "{msg}");
    assert!(
        msg.contains("1 task still pending: task #1 (spawned at"),
        "{msg}"
    );
    drop(tx);
}

// ---- a planted lost update in tokio-style code, found by exploration ----

/// Two request handlers update a shared balance. `deposit` does it in one step; `audit`
/// reads, awaits (a call to another service), then writes what it read back, plus a fee.
/// Under FIFO the deposit lands first and the bug hides.
async fn bank() -> u64 {
    let balance = Arc::new(Mutex::new(100u64));
    let b = balance.clone();
    let deposit = tokio::spawn(async move {
        *b.lock().unwrap() += 50;
    });
    let b = balance.clone();
    let audit = tokio::spawn(async move {
        let seen = *b.lock().unwrap();
        tokio::task::yield_now().await; // the other service's reply
        *b.lock().unwrap() = seen + 1; // BUG: overwrites a concurrent deposit
    });
    deposit.await.unwrap();
    audit.await.unwrap();
    let total = *balance.lock().unwrap();
    total
}

fn bank_scenario(lp: &mut EventLoop) -> Result<(), String> {
    let total = lp.run_until_complete(bank()).map_err(|e| e.to_string())?;
    if total == 151 {
        Ok(())
    } else {
        Err(format!("lost update: balance {total}, expected 151"))
    }
}

#[test]
fn exploration_finds_a_lost_update_and_its_token_replays_it() {
    assert_eq!(bank_scenario(&mut EventLoop::new()), Ok(()));
    let failure = explore(&Explore::new().seeds(0..500), bank_scenario).unwrap_err();
    assert_eq!(failure.message, "lost update: balance 101, expected 151");
    let token = failure.schedule.to_string();
    assert_eq!(token, "S1:1");
    // The token replays the failure exactly, on a loop or through a tokio Runtime.
    let mut lp = EventLoop::builder()
        .schedule(token.parse().unwrap())
        .build();
    assert_eq!(bank_scenario(&mut lp), Err(failure.message.clone()));
    let rt = Runtime::from_simloop(
        EventLoop::builder()
            .schedule(token.parse().unwrap())
            .build(),
    );
    assert_eq!(rt.block_on(bank()), 101);
}

// ---- select!'s branch order is a schedule choice ----

async fn first_ready(biased: bool) -> u32 {
    if biased {
        tokio::select! {
            biased;
            v = async { 1 } => v,
            v = async { 2 } => v,
        }
    } else {
        tokio::select! {
            v = async { 1 } => v,
            v = async { 2 } => v,
        }
    }
}

fn pick(schedule: Schedule, biased: bool) -> (u32, Schedule) {
    let mut lp = EventLoop::builder().schedule(schedule).build();
    let v = lp.run_until_complete(first_ready(biased)).unwrap();
    (v, lp.schedule_taken())
}

#[test]
fn select_branch_order_is_explored_and_replayed() {
    // FIFO starts at the first branch.
    assert_eq!(pick(Schedule::Fifo, false).0, 1);
    // Exploration finds the other order, as one choice; its token replays it.
    let failure = explore(&Explore::new().seeds(0..100), |lp| {
        match lp.run_until_complete(first_ready(false)).unwrap() {
            1 => Ok(()),
            v => Err(format!("branch {v} won")),
        }
    })
    .unwrap_err();
    assert_eq!(failure.message, "branch 2 won");
    assert_eq!(failure.schedule.to_string(), "S1:1");
    assert_eq!(pick(failure.schedule.clone(), false).0, 2);
    // `biased;` makes no choice: every schedule starts at the first branch.
    for seed in 0..50 {
        let (v, taken) = pick(Schedule::random(seed), true);
        assert_eq!(v, 1);
        assert_eq!(taken.to_string(), "S1");
    }
}

#[test]
fn a_traced_runtime_records_tokio_code() {
    let rt = Runtime::from_simloop(EventLoop::builder().trace(true).build());
    rt.block_on(async {
        let worker = tokio::spawn(async {
            sleep(ms(30)).await;
            simloop::mark("worker done");
        });
        tokio::time::timeout(ms(100), worker)
            .await
            .unwrap()
            .unwrap();
    });
    let trace = rt.with_simloop(|lp| lp.trace().to_string());
    let mark = trace
        .lines()
        .find(|l| l.contains("worker done"))
        .expect("the mark is in the trace");
    assert!(mark.trim_start().starts_with("0.03s"), "{mark}");
}

#[test]
fn scenarios_of_tokio_code_are_deterministic() {
    let result = simloop::check_determinism(&EventLoop::builder().seed(3), |lp| {
        lp.run_until_complete(async {
            let mut set = tokio::task::JoinSet::new();
            for i in 0..4u64 {
                set.spawn(async move {
                    sleep(ms(10 * (i % 2))).await;
                    tokio::task::yield_now().await;
                    i
                });
            }
            let mut order = Vec::new();
            while let Some(r) = set.join_next().await {
                order.push(r.unwrap());
            }
            order
        })
        .unwrap()
    });
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn spawn_blocking_takes_the_configured_cost_on_the_configured_workers() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let ends = rt.block_on(async {
        simloop::set_blocking_cost(ms(5));
        let start = Instant::now();
        let jobs: Vec<_> = (0..3)
            .map(|i| tokio::task::spawn_blocking(move || i))
            .collect();
        let mut ends = Vec::new();
        for job in jobs {
            let i = job.await.unwrap();
            ends.push((i, start.elapsed()));
        }
        ends
    });
    assert_eq!(ends, [(0, ms(5)), (1, ms(10)), (2, ms(15))]);
}

#[test]
fn dropped_timers_do_not_hold_the_clock() {
    let mut lp = EventLoop::new();
    lp.run_until_complete(async {
        tokio::time::timeout(Duration::from_secs(3600), async {})
            .await
            .unwrap();
        let s = sleep(Duration::from_secs(7200));
        tokio::pin!(s);
        assert!(futures::poll!(s.as_mut()).is_pending());
    })
    .unwrap();
    // Nothing is left: running the loop to quiescence does not move the clock.
    lp.run().unwrap();
    assert_eq!(lp.time(), simloop::Instant::ZERO);
}

#[tokio::test]
async fn pause_and_resume_change_nothing() {
    let start = Instant::now();
    tokio::time::pause();
    tokio::time::pause();
    sleep(ms(3)).await;
    tokio::time::resume();
    sleep(ms(4)).await;
    assert_eq!(start.elapsed(), ms(7));
}

#[tokio::test]
async fn ids_are_the_simloop_task_ids() {
    let first = tokio::spawn(async { tokio::task::id() });
    let second = tokio::spawn(async {});
    assert_eq!(first.id().to_string(), "1");
    assert_eq!(second.id().to_string(), "2");
    assert_eq!(first.await.unwrap().to_string(), "1");
}
