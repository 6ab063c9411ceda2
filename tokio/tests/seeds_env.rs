//! `#[tokio::test]` under `--cfg simloop` explores schedules when `SIMLOOP_SEEDS` is set and
//! replays one when `SIMLOOP_REPLAY` is. The environment is the process's, so this file holds
//! one driver test, which sets the variables and calls the `#[tokio::test]` function itself.
#![cfg(simloop)]

extern crate simloop_tokio as tokio;

use std::panic::catch_unwind;
use std::sync::{Arc, Mutex};

/// The planted lost update of `simulated.rs`, as an ordinary tokio test: it passes under
/// FIFO, and fails when the audit reads the balance before the deposit lands.
#[tokio::test]
#[ignore = "run by `tokio_test_explores_under_simloop_seeds_and_replays_a_token`"]
async fn lost_update() {
    let balance = Arc::new(Mutex::new(100u64));
    let b = balance.clone();
    let deposit = tokio::spawn(async move {
        *b.lock().unwrap() += 50;
    });
    let b = balance.clone();
    let audit = tokio::spawn(async move {
        let seen = *b.lock().unwrap();
        tokio::task::yield_now().await;
        *b.lock().unwrap() = seen + 1;
    });
    deposit.await.unwrap();
    audit.await.unwrap();
    assert_eq!(*balance.lock().unwrap(), 151, "lost update");
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().unwrap_or(&"?").to_string(),
    }
}

#[test]
fn tokio_test_explores_under_simloop_seeds_and_replays_a_token() {
    std::env::remove_var("SIMLOOP_SEEDS");
    std::env::remove_var("SIMLOOP_REPLAY");
    // One FIFO run: the bug hides.
    lost_update();

    std::env::set_var("SIMLOOP_SEEDS", "0..200");
    let report = panic_message(catch_unwind(lost_update).unwrap_err());
    assert!(
        report.starts_with("lost_update: simloop::explore: the scenario failed"),
        "{report}"
    );
    assert!(report.contains("lost update"), "{report}");
    assert!(report.contains("replay token: S1:1 "), "{report}");
    assert!(
        report.contains("pin it: SIMLOOP_REPLAY='S1:1' cargo test -- lost_update --exact"),
        "{report}"
    );
    std::env::remove_var("SIMLOOP_SEEDS");

    // The token replays the failure, with the test's own panic.
    std::env::set_var("SIMLOOP_REPLAY", "S1:1");
    let replayed = panic_message(catch_unwind(lost_update).unwrap_err());
    assert!(replayed.contains("lost update"), "{replayed}");
    assert!(replayed.contains("left: 101"), "{replayed}");
    std::env::set_var("SIMLOOP_REPLAY", "fifo");
    lost_update();
    std::env::remove_var("SIMLOOP_REPLAY");
}
