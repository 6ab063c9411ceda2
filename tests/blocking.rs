//! `examples/blocking.rs`, the guide's conclusion, asserted exactly: the inline `block_for`
//! starves the heartbeat and draws the slow-callback warning; `spawn_blocking` keeps it on
//! time; the Chrome trace of both runs parses back.

#[allow(dead_code)]
#[path = "../examples/blocking.rs"]
mod blocking;
#[path = "support/chrome.rs"]
mod chrome;

use blocking::{run, Mode};
use simloop::Event;
use std::time::Duration;

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

fn warnings(trace: &simloop::Trace) -> Vec<String> {
    trace
        .events()
        .iter()
        .filter(|e| matches!(e.event, Event::SlowCallback { .. }))
        .map(|e| format!("[{}] {}", e.at, e.event))
        .collect()
}

#[test]
fn inline_blocking_starves_the_heartbeat_and_is_reported() {
    let r = run(Mode::Inline);
    assert_eq!(
        r.log,
        [
            "[1s] heartbeat",
            "[1.5s] report: start 3s of work",
            "[4.5s] report: done (42)",
            "[4.5s] heartbeat due at 2s, 2.5s late",
            "[5s] heartbeat",
            "[6s] heartbeat",
            "[7s] heartbeat",
        ]
    );
    assert_eq!(
        lines(&r.trace.lanes().to_string()),
        [
            "instant  it  #1 heartbeat  #2 report             callbacks",
            "     0s   1  run -> 1s     run -> 1.5s",
            "     1s   2  |             |                     #1",
            "     1s   3  run -> 2s     |",
            "   1.5s   4  |             |                     #2",
            "   1.5s   5  |             run, blocks 3s, done",
            "   4.5s   6  |                                   #3 (2.5s late)",
            "   4.5s   7  run -> 5s",
            "     5s   8  |                                   #4",
            "     5s   9  run -> 6s",
            "     6s  10  |                                   #5",
            "     6s  11  run -> 7s",
            "     7s  12  |                                   #6",
            "     7s  13  run, done",
        ]
    );
    assert_eq!(
        warnings(&r.trace),
        // The site is the example's file as this test includes it.
        ["[4.5s] Executing task #2 'report' (spawned at tests/../examples/blocking.rs:69:8) took 3.000s"]
    );
    assert_eq!(r.stats.max_lateness, Duration::from_millis(2500));
}

#[test]
fn spawn_blocking_keeps_the_heartbeat_on_time() {
    let r = run(Mode::Worker);
    assert_eq!(
        r.log,
        [
            "[1s] heartbeat",
            "[1.5s] report: start 3s of work",
            "[2s] heartbeat",
            "[3s] heartbeat",
            "[4s] heartbeat",
            "[4.5s] report: done (42)",
            "[5s] heartbeat",
        ]
    );
    assert_eq!(
        lines(&r.trace.lanes().to_string()),
        [
            "instant  it  #1 heartbeat  #2 report    #3 spawn_blocking  callbacks",
            "     0s   1  run -> 1s     run -> 1.5s",
            "     1s   2  |             |                               #1",
            "     1s   3  run -> 2s     |",
            "   1.5s   4  |             |                               #2",
            "   1.5s   5  |             run -> ?",
            "   1.5s   6  |             |            run -> 4.5s",
            "     2s   7  |             |            |                  #3",
            "     2s   8  run -> 3s     |            |",
            "     3s   9  |             |            |                  #5",
            "     3s  10  run -> 4s     |            |",
            "     4s  11  |             |            |                  #6",
            "     4s  12  run -> 5s     |            |",
            "   4.5s  13  |             |            |                  #4",
            "   4.5s  14  |             |            run, done",
            "   4.5s  15  |             run, done",
            "     5s  16  |                                             #7",
            "     5s  17  run, done",
        ]
    );
    assert_eq!(warnings(&r.trace), Vec::<String>::new());
    assert_eq!(r.stats.max_lateness, Duration::ZERO);
}

#[test]
fn both_runs_export_to_one_chrome_trace() {
    let (inline, worker) = (run(Mode::Inline), run(Mode::Worker));
    let json = simloop::chrome_json([
        ("inline block_for", &inline.trace),
        ("spawn_blocking", &worker.trace),
    ]);
    let events = chrome::checked_events(&json);
    let names = |ph: &str, name: &str| -> Vec<(u64, u64, String)> {
        events
            .iter()
            .filter(|e| e["ph"] == ph && e["name"] == name)
            .map(|e| {
                (
                    e["pid"].as_u64().unwrap(),
                    e["tid"].as_u64().unwrap(),
                    e["args"]["name"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let s = |t: &str| t.to_string();
    assert_eq!(
        names("M", "process_name"),
        [(1, 0, s("inline block_for")), (2, 0, s("spawn_blocking"))]
    );
    assert_eq!(
        names("M", "thread_name"),
        [
            (1, 0, s("loop and callbacks")),
            (1, 2, s("task #1 'heartbeat'")),
            (1, 3, s("task #2 'report'")),
            (2, 0, s("loop and callbacks")),
            (2, 2, s("task #1 'heartbeat'")),
            (2, 3, s("task #2 'report'")),
            (2, 4, s("task #3 'spawn_blocking'")),
        ]
    );
    // The inline run's report step is a 3 s slice on the report's thread.
    let report_polls: Vec<(f64, f64)> = events
        .iter()
        .filter(|e| e["ph"] == "X" && e["pid"] == 1 && e["tid"] == 3 && e["name"] == "poll")
        .map(|e| (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap()))
        .collect();
    assert_eq!(report_polls, [(0.0, 0.0), (1_500_000.0, 3_000_000.0)]);
}
