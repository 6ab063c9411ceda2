//! `tokio::task`: spawning, joining, aborting, panics, JoinSet, spawn_blocking, LocalSet,
//! task-locals. Both modes, exact instants.

extern crate simloop_tokio as tokio;

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::{JoinSet, LocalSet};
use tokio::time::{sleep, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn a_spawned_task_returns_its_output_at_the_exact_instant() {
    let start = Instant::now();
    let handle = tokio::spawn(async move {
        sleep(ms(120)).await;
        "done"
    });
    assert!(!handle.is_finished());
    assert_eq!(handle.await.unwrap(), "done");
    assert_eq!(start.elapsed(), ms(120));
}

#[tokio::test(start_paused = true)]
async fn join_set_yields_outputs_in_completion_order() {
    let start = Instant::now();
    let mut set = JoinSet::new();
    for (name, d) in [("slow", 300), ("fast", 100), ("middle", 200)] {
        set.spawn(async move {
            sleep(ms(d)).await;
            name
        });
    }
    assert_eq!(set.len(), 3);
    let mut seen = Vec::new();
    while let Some(out) = set.join_next().await {
        seen.push((out.unwrap(), start.elapsed()));
    }
    assert_eq!(
        seen,
        [("fast", ms(100)), ("middle", ms(200)), ("slow", ms(300))]
    );
    assert!(set.is_empty());
}

#[tokio::test(start_paused = true)]
async fn join_set_abort_all_cancels_every_task() {
    let start = Instant::now();
    let ran = Arc::new(AtomicU32::new(0));
    let mut set = JoinSet::new();
    for _ in 0..3 {
        let ran = ran.clone();
        set.spawn(async move {
            sleep(Duration::from_secs(10)).await;
            ran.fetch_add(1, Ordering::SeqCst);
        });
    }
    sleep(ms(5)).await;
    set.abort_all();
    let mut cancelled = 0;
    while let Some(out) = set.join_next().await {
        assert!(out.unwrap_err().is_cancelled());
        cancelled += 1;
    }
    assert_eq!(cancelled, 3);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(start.elapsed(), ms(5));
}

#[tokio::test(start_paused = true)]
async fn join_set_join_all_and_shutdown() {
    let start = Instant::now();
    let mut set: JoinSet<u64> = (1..=3u64)
        .map(|i| async move {
            sleep(ms(10 * (4 - i))).await;
            i
        })
        .collect();
    set.spawn(async { 0 });
    assert_eq!(set.join_all().await, [0, 3, 2, 1]);
    assert_eq!(start.elapsed(), ms(30));

    let mut set = JoinSet::new();
    set.spawn(std::future::pending::<()>());
    set.shutdown().await;
    assert!(set.is_empty());
    assert_eq!(start.elapsed(), ms(30));
}

#[tokio::test(start_paused = true)]
async fn abort_gives_a_cancelled_join_error() {
    let start = Instant::now();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let never_started = tokio::spawn(async move {
        s.store(true, Ordering::SeqCst);
    });
    // Aborted before its first poll: its body never runs.
    never_started.abort();
    let err = never_started.await.unwrap_err();
    assert!(err.is_cancelled() && !err.is_panic());
    assert!(!started.load(Ordering::SeqCst));

    let sleeper = tokio::spawn(sleep(Duration::from_secs(3600)));
    sleep(ms(10)).await;
    sleeper.abort();
    assert!(sleeper.await.unwrap_err().is_cancelled());
    assert_eq!(start.elapsed(), ms(10));
}

#[tokio::test(start_paused = true)]
async fn abort_handle_and_is_finished() {
    let worker = tokio::spawn(async {
        sleep(ms(50)).await;
        1
    });
    let abort = worker.abort_handle();
    assert_eq!(abort.id(), worker.id());
    assert!(!abort.is_finished());
    sleep(ms(10)).await;
    abort.abort();
    let err = worker.await.unwrap_err();
    assert!(err.is_cancelled());
    assert!(abort.is_finished());
    // Aborting a finished task changes nothing.
    let done = tokio::spawn(async { 2 });
    sleep(ms(1)).await;
    assert!(done.is_finished());
    done.abort();
    assert_eq!(done.await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_task_gives_its_payload_and_the_runtime_goes_on() {
    let start = Instant::now();
    let boom = tokio::spawn(async {
        sleep(ms(10)).await;
        panic!("boom");
    });
    let err = boom.await.unwrap_err();
    assert!(err.is_panic() && !err.is_cancelled());
    assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");

    let custom = tokio::spawn(async { std::panic::panic_any(42u32) });
    let err = custom.await.unwrap_err();
    assert_eq!(*err.into_panic().downcast::<u32>().unwrap(), 42);

    let formatted = tokio::spawn(async {
        let n = 3;
        panic!("failed after {n} tries");
    });
    let err = formatted.await.unwrap_err();
    assert!(err
        .to_string()
        .ends_with("panicked with message \"failed after 3 tries\""));
    let payload = err.into_panic();
    assert_eq!(
        payload.downcast_ref::<String>().unwrap(),
        "failed after 3 tries"
    );

    // The runtime is still running.
    sleep(ms(5)).await;
    assert_eq!(start.elapsed(), ms(15));
}

#[tokio::test(start_paused = true)]
async fn spawn_blocking_returns_its_result() {
    let start = Instant::now();
    let sum = tokio::task::spawn_blocking(|| (1..=10u64).sum::<u64>())
        .await
        .unwrap();
    assert_eq!(sum, 55);
    let err = tokio::task::spawn_blocking(|| panic!("blocking boom"))
        .await
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn yield_now_interleaves_two_tasks() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for name in ["a", "b"] {
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..3 {
                log.lock().unwrap().push(format!("{name}{i}"));
                tokio::task::yield_now().await;
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    // Each task keeps its own order, and neither runs its three steps in one go: a yield
    // lets the other task take a step. (Which of two ready tasks goes first is the
    // scheduler's business: tokio's and a FIFO one differ, so it is not asserted.)
    let log = log.lock().unwrap().clone();
    let at = |entry: &str| log.iter().position(|e| e == entry).unwrap();
    assert_eq!(log.len(), 6);
    assert!(at("a0") < at("a1") && at("a1") < at("a2"), "{log:?}");
    assert!(at("b0") < at("b1") && at("b1") < at("b2"), "{log:?}");
    assert!(at("b0") < at("a2") && at("a0") < at("b2"), "{log:?}");
}

#[tokio::test(start_paused = true)]
async fn local_set_runs_non_send_tasks() {
    let start = Instant::now();
    let local = LocalSet::new();
    let shared = Rc::new(std::cell::RefCell::new(Vec::new()));
    let s = shared.clone();
    let early = local.spawn_local(async move {
        sleep(ms(20)).await;
        s.borrow_mut().push(("early", start.elapsed()));
    });
    let out = local
        .run_until(async {
            let s = shared.clone();
            let inner = tokio::task::spawn_local(async move {
                sleep(ms(10)).await;
                s.borrow_mut().push(("inner", start.elapsed()));
                5
            });
            let v = inner.await.unwrap();
            early.await.unwrap();
            v
        })
        .await;
    assert_eq!(out, 5);
    assert_eq!(*shared.borrow(), [("inner", ms(10)), ("early", ms(20))]);
}

#[tokio::test(start_paused = true)]
async fn awaiting_a_local_set_waits_for_all_its_tasks() {
    let start = Instant::now();
    let local = LocalSet::new();
    let done = Rc::new(std::cell::Cell::new(0));
    for d in [30, 10] {
        let done = done.clone();
        local.spawn_local(async move {
            sleep(ms(d)).await;
            done.set(done.get() + 1);
        });
    }
    local.await;
    assert_eq!(done.get(), 2);
    assert_eq!(start.elapsed(), ms(30));
}

tokio::task_local! {
    static REQUEST_ID: u32;
}

#[tokio::test(start_paused = true)]
async fn task_locals_survive_awaits() {
    let start = Instant::now();
    let handles: Vec<_> = [7, 8]
        .into_iter()
        .map(|id| {
            tokio::spawn(REQUEST_ID.scope(id, async move {
                sleep(ms(u64::from(id))).await;
                (REQUEST_ID.get(), start.elapsed())
            }))
        })
        .collect();
    let mut seen = Vec::new();
    for h in handles {
        seen.push(h.await.unwrap());
    }
    assert_eq!(seen, [(7, ms(7)), (8, ms(8))]);
    assert!(REQUEST_ID.try_with(|_| ()).is_err());
}

#[tokio::test(start_paused = true)]
async fn task_ids_are_those_of_the_handles() {
    let h = tokio::spawn(async { tokio::task::id() });
    let id = h.id();
    assert_eq!(h.await.unwrap(), id);
    // The test's body is not a task (it is what `block_on` runs).
    assert_eq!(tokio::task::try_id(), None);
}

/// The drop-in's types keep tokio's auto traits: code that needs them compiles in both
/// modes.
#[test]
fn types_keep_tokios_auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    fn unpin<T: Unpin>() {}
    send_sync::<tokio::time::Sleep>();
    send_sync::<tokio::time::Interval>();
    send_sync::<tokio::time::Instant>();
    send_sync::<tokio::time::Timeout<tokio::time::Sleep>>();
    send_sync::<tokio::time::error::Elapsed>();
    send_sync::<tokio::task::JoinHandle<u32>>();
    send_sync::<tokio::task::AbortHandle>();
    send_sync::<tokio::task::JoinError>();
    send_sync::<tokio::task::JoinSet<u32>>();
    send_sync::<tokio::runtime::Runtime>();
    send_sync::<tokio::runtime::Handle>();
    send::<tokio::runtime::Builder>();
    unpin::<tokio::task::JoinHandle<Rc<u32>>>();
    unpin::<tokio::time::Interval>();
    // A spawned future that sleeps is `Send`.
    fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}
    spawnable(async {
        sleep(ms(1)).await;
        let mut iv = tokio::time::interval(ms(1));
        iv.tick().await;
        tokio::time::timeout(ms(1), async {}).await.ok();
        tokio::spawn(async {}).await.ok();
        tokio::task::yield_now().await;
    });
}
