//! The leader lease of `examples/leader_lease.rs`: under FIFO even the buggy version elects
//! one leader at a time (so a plain test passes); `explore` with timer jitter finds its double
//! leader, and the replay token reproduces it; the fixed version survives the sweep.

#[path = "../examples/leader_lease.rs"]
#[allow(dead_code)]
mod leader_lease;

use std::time::Duration;

use leader_lease::{cluster, explorer, scenario, NodeConfig, Term};
use simloop::{check_determinism, explore, EventLoop, Explored};

fn term(node: &'static str, from_ms: u64, until_ms: u64) -> Term {
    Term {
        node,
        from: Duration::from_millis(from_ms),
        until: Duration::from_millis(until_ms),
    }
}

#[test]
fn under_fifo_the_buggy_version_hands_over_cleanly() {
    // a reads the lease free (reply at 20ms), writes it (stored at 30ms), and believes it
    // from the reply at 40ms for 1s; its last renewal is stored at 670ms (expiry 1.67s) and
    // answered at 680ms (belief until 1.68s). b, polling every 120ms, reads it free at
    // 1.715s, writes at 1.735s and leads from 1.745s: after a, so the bug stays hidden.
    assert_eq!(
        cluster(NodeConfig::buggy(), &mut EventLoop::new()),
        Ok(vec![term("a", 40, 1680), term("b", 1745, 2745)])
    );
}

#[test]
fn under_fifo_the_fixed_version_believes_less_than_the_store_grants() {
    // The same run, but each term ends at send time + 1s - 50ms: a's last renewal was sent
    // at 660ms, b's claim at 1.725s.
    assert_eq!(
        cluster(NodeConfig::fixed(), &mut EventLoop::new()),
        Ok(vec![term("a", 40, 1610), term("b", 1745, 2675)])
    );
}

const MESSAGE: &str = "two leaders at once: a leads [46ms, 1.046s) and b leads [65ms, 1.065s)";
const TOKEN: &str = "S1:0.3~20000000";

#[test]
fn explore_finds_the_double_leader_and_the_token_replays_it() {
    let failure = explore(&explorer(), |lp| scenario(NodeConfig::buggy(), lp))
        .expect_err("the buggy version has a double leader");
    assert_eq!(failure.message, MESSAGE, "{failure}");
    // The second timer (a's read request reaching the store) is 3/10 of 20ms = 6ms late, so
    // a's claim lands at 36ms, after b's read at 35ms found the lease free.
    assert_eq!(failure.schedule.to_string(), TOKEN, "{failure}");
    let marks: Vec<&str> = failure
        .trace
        .lines()
        .filter(|l| l.contains(" mark "))
        .map(|l| l.split(" mark ").nth(1).unwrap())
        .collect();
    assert_eq!(
        marks,
        [
            "a: the lease is free (v0)",
            "b: the lease is free (v0)",
            "a: leads until 1.046s (v1)",
            "b: leads until 1.065s (v2)",
        ]
    );

    // The token, pasted into a test, replays the failure exactly.
    let mut lp = EventLoop::builder()
        .schedule(TOKEN.parse().unwrap())
        .build();
    assert_eq!(
        scenario(NodeConfig::buggy(), &mut lp),
        Err(MESSAGE.to_string())
    );
    let settings = EventLoop::builder().schedule(TOKEN.parse().unwrap());
    check_determinism(&settings, |lp| scenario(NodeConfig::buggy(), lp))
        .expect("the replay is deterministic");
    // The same token on the fixed version: the late claim only delays a.
    let mut lp = EventLoop::builder()
        .schedule(TOKEN.parse().unwrap())
        .build();
    assert_eq!(scenario(NodeConfig::fixed(), &mut lp), Ok(()));
}

#[test]
fn the_fixed_version_survives_the_sweep() {
    // 15000 schedules (about 2s in a debug build); SIMLOOP_SEEDS=start..end replaces them.
    let config = explorer().runs(15_000);
    let expected = config.seed_range().end - config.seed_range().start;
    assert_eq!(
        explore(&config, |lp| scenario(NodeConfig::fixed(), lp)),
        Ok(Explored {
            runs: expected,
            replay_mismatch: None
        })
    );
}
