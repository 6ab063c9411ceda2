//! tokio's macros as tests use them: `#[tokio::test]` with its arguments and return types,
//! `join!`, `try_join!`, `pin!`, `select!` in a loop. Both modes.

extern crate simloop_tokio as tokio;

use std::time::Duration;

use tokio::time::{sleep, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn a_test_can_return_a_result() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let n: u32 = "42".parse()?;
    tokio::time::timeout(ms(10), sleep(ms(5))).await?;
    assert_eq!((n, start.elapsed()), (42, ms(5)));
    Ok(())
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "the body's own panic")]
async fn a_panicking_test_fails_with_its_own_message() {
    sleep(ms(1)).await;
    panic!("the body's own panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_multi_thread_flavor_is_accepted() {
    let handle = tokio::runtime::Handle::current();
    let out = handle.spawn(async { 7 }).await.unwrap();
    assert_eq!(out, 7);
}

#[tokio::test(flavor = "current_thread")]
async fn the_current_thread_flavor_is_accepted() {
    assert_eq!(tokio::spawn(async { 8 }).await.unwrap(), 8);
}

#[tokio::test(start_paused = true)]
async fn join_waits_for_all_concurrently() {
    let start = Instant::now();
    let (a, b, c) = tokio::join!(
        async {
            sleep(ms(30)).await;
            "a"
        },
        async {
            sleep(ms(10)).await;
            "b"
        },
        async { "c" },
    );
    assert_eq!((a, b, c), ("a", "b", "c"));
    assert_eq!(start.elapsed(), ms(30));
}

#[tokio::test(start_paused = true)]
async fn try_join_stops_at_the_first_error() {
    let start = Instant::now();
    let out: Result<((), ()), &str> = tokio::try_join!(
        async {
            sleep(ms(100)).await;
            Ok(())
        },
        async {
            sleep(ms(20)).await;
            Err("failed")
        },
    );
    assert_eq!(out, Err("failed"));
    assert_eq!(start.elapsed(), ms(20));
}

#[tokio::test(start_paused = true)]
async fn select_in_a_loop_over_a_pinned_sleep() {
    let start = Instant::now();
    let deadline = sleep(ms(35));
    tokio::pin!(deadline);
    let mut ticks = tokio::time::interval(ms(10));
    let mut seen = 0;
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            _ = ticks.tick() => seen += 1,
        }
    }
    // Ticks at 0, 10, 20, 30; the deadline at 35.
    assert_eq!((seen, start.elapsed()), (4, ms(35)));
}

#[tokio::test(start_paused = true)]
async fn select_without_branches_left_runs_else_or_panics() {
    let none: Option<u32> = None;
    let out = tokio::select! {
        Some(v) = async { none } => v,
        else => 0,
    };
    assert_eq!(out, 0);
    let caught = tokio::spawn(async {
        tokio::select! {
            Some(v) = async { None::<u32> } => v,
        }
    })
    .await
    .unwrap_err();
    let msg = caught.into_panic();
    assert_eq!(
        *msg.downcast::<&str>().unwrap(),
        "all branches are disabled and there is no else branch"
    );
}
