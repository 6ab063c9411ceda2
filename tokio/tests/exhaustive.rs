//! The systematic search (SPEC §12) over tokio code, unchanged: `select!`'s random branch
//! pick is one more choice of the tree, so "every schedule" includes every branch order.
//! Built only with `--cfg simloop`.
#![cfg(simloop)]

extern crate simloop_tokio as tokio;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use simloop::{exhaust, EventLoop, Explore};

/// A cache refresh races a reader: the reader takes whichever of "cache" and "refresh"
/// `select!` polls first when both are ready at once. The planted bug: the refresh path
/// forgets to record the version it served.
async fn serve(version: Arc<Mutex<Vec<&'static str>>>) {
    let v = version.clone();
    let refresher = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        v.lock().unwrap().push("refreshed");
    });
    let served = tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(5)) => "cache",
        _ = tokio::time::sleep(Duration::from_millis(5)) => "refresh",
    };
    if served == "cache" {
        version.lock().unwrap().push("served");
    }
    refresher.await.unwrap();
}

fn scenario(lp: &mut EventLoop) -> Result<(), String> {
    let version = Arc::new(Mutex::new(Vec::new()));
    lp.run_until_complete(serve(version.clone()))
        .map_err(|e| e.to_string())?;
    let log = version.lock().unwrap().clone();
    if log.contains(&"served") {
        Ok(())
    } else {
        Err(format!("nothing recorded what was served: {log:?}"))
    }
}

#[test]
fn exhaustive_search_covers_select_branch_order() {
    // FIFO polls the first branch first.
    assert_eq!(scenario(&mut EventLoop::new()), Ok(()));
    let failure = exhaust(&Explore::exhaustive().max_delays(2), scenario).unwrap_err();
    let coverage = failure.coverage.clone().unwrap();
    // One delay: the select! pick of the second branch.
    assert_eq!(coverage.failing_delays, Some(1));
    assert_eq!(
        failure.message,
        "nothing recorded what was served: [\"refreshed\"]"
    );
    // The token replays it.
    let token = failure.schedule.to_string();
    let mut lp = EventLoop::builder()
        .schedule(token.parse().unwrap())
        .build();
    assert_eq!(scenario(&mut lp), Err(failure.message.clone()));
}

#[test]
fn exhaustive_search_of_a_correct_select_is_complete() {
    // Both branches record: every schedule passes, and the search says how complete it was.
    let coverage = exhaust(&Explore::exhaustive().unbounded(), |lp| {
        let out = lp
            .run_until_complete(async {
                let a = tokio::spawn(async { tokio::task::yield_now().await });
                let v = tokio::select! {
                    v = async { 1 } => v,
                    v = async { 2 } => v,
                };
                a.await.unwrap();
                v
            })
            .map_err(|e| e.to_string())?;
        if out == 1 || out == 2 {
            Ok(())
        } else {
            Err(format!("{out}"))
        }
    })
    .unwrap();
    // The select! pick is the only decision (the task's steps never share a batch with the
    // main future's): two schedules.
    assert!(coverage.exhausted);
    assert_eq!(
        coverage.to_string(),
        "every schedule (the whole tree, at most 1 delay): 2 runs, complete"
    );
}
