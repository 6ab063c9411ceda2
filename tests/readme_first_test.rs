//! The README's "A first test", verbatim (`tests/readme.rs` checks that the README shows
//! exactly this file).

use simloop::{sleep, timeout, Instant};
use std::time::Duration;

// A client retries with backoff against a server that never answers.
#[simloop::test]
async fn backs_off_against_a_silent_server() {
    let mut attempts = Vec::new();
    for backoff in [1, 2, 4] {
        attempts.push(simloop::now());
        // each attempt times out after 1s, then the client backs off
        let _ = timeout(Duration::from_secs(1), futures::future::pending::<()>()).await;
        sleep(Duration::from_secs(backoff)).await;
    }
    let secs = Instant::from_secs;
    assert_eq!(attempts, [secs(0), secs(2), secs(5)]);
    assert_eq!(simloop::now(), secs(10)); // ten virtual seconds, in microseconds
}
