//! The README's "A first test", verbatim (`tests/readme.rs` checks that the README shows
//! exactly this file).

use simloop::{sleep, timeout, EventLoop, Instant};
use std::time::Duration;

async fn call_with_retries() -> Vec<Instant> {
    let mut attempts = Vec::new();
    for backoff in [1, 2, 4] {
        attempts.push(simloop::now());
        // each attempt times out after 1s, then the client backs off
        let _ = timeout(Duration::from_secs(1), futures::future::pending::<()>()).await;
        sleep(Duration::from_secs(backoff)).await;
    }
    attempts
}

#[test]
fn backs_off_exactly() {
    let mut lp = EventLoop::new();
    let attempts = lp.run_until_complete(call_with_retries()).unwrap();
    let secs = |s: u64| Instant::from_nanos(s * 1_000_000_000);
    assert_eq!(attempts, [secs(0), secs(2), secs(5)]);
    assert_eq!(lp.time(), secs(10));
}
