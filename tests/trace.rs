//! The trace and its renderings: who each event belongs to in the text timeline, the per-task
//! lane view, the Chrome trace-event JSON (parsed back with serde_json), and the slow-callback
//! warning.

use std::time::Duration;

use serde_json::Value;
use simloop::{block_for, chrome_json, sleep, Event, EventLoop};

#[path = "support/chrome.rs"]
mod chrome;
#[path = "support/log.rs"]
mod log;
use chrome::checked_events;
use log::{ms, secs};

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn timeline_lines_are_aligned_and_attribute_steps_and_close() {
    let mut lp = EventLoop::builder().trace(true).build();
    lp.call_soon(|| simloop::mark("from a callback"));
    lp.spawn_named("worker", async {
        sleep(secs(1)).await;
        simloop::mark("worker woke");
    });
    lp.spawn(async {
        sleep(secs(5)).await;
    });
    lp.run_until_complete(async {
        sleep(ms(1500)).await;
        simloop::mark("main woke");
    })
    .unwrap();
    lp.close();
    assert_eq!(
        lines(&lp.trace().to_string()),
        [
            "  0s  it 0  loop              spawn task #1 'worker'",
            "  0s  it 0  loop              spawn task #2",
            "  0s  it 1  callback #1       run callback #1",
            "  0s  it 1  callback #1       mark from a callback",
            "  0s  it 1  task #1 'worker'  poll task #1",
            "  0s  it 1  task #1 'worker'  set timer #2 for 1s",
            "  0s  it 1  task #2           poll task #2",
            "  0s  it 1  task #2           set timer #3 for 5s",
            "  0s  it 1  main              poll main",
            "  0s  it 1  main              set timer #4 for 1.5s",
            "  1s  it 2  loop              clock 0s -> 1s",
            "  1s  it 2  loop              fire timer #2",
            "  1s  it 2  callback #2       run callback #2",
            "  1s  it 3  task #1 'worker'  poll task #1",
            "  1s  it 3  task #1 'worker'  mark worker woke",
            "  1s  it 3  task #1 'worker'  finish task #1",
            "1.5s  it 4  loop              clock 1s -> 1.5s",
            "1.5s  it 4  loop              fire timer #4",
            "1.5s  it 4  callback #4       run callback #4",
            "1.5s  it 5  main              poll main",
            "1.5s  it 5  main              mark main woke",
            "1.5s  it 5  main              finish main",
            "1.5s  it 6  loop              close",
            "1.5s  it 6  loop              cancel task #2",
        ]
    );
    // `close` drops pending timers wholesale (its `close` line stands for them) and cancels
    // the tasks left, by id.
}

#[test]
fn lanes_show_cancelled_and_panicked_tasks_and_late_timers() {
    let mut lp = EventLoop::builder()
        .trace(true)
        .panic_policy(simloop::PanicPolicy::Report)
        .exception_handler(|_| {})
        .build();
    let victim = lp.spawn_named("victim", async {
        sleep(secs(10)).await;
    });
    lp.spawn_named("crasher", async {
        sleep(secs(1)).await;
        panic!("boom");
    });
    lp.spawn_named("blocker", async {
        sleep(secs(2)).await;
        block_for(secs(3));
        sleep(secs(1)).await;
    });
    lp.call_later(secs(3), move || {
        victim.cancel();
    });
    lp.run().unwrap();
    assert_eq!(
        lines(&lp.trace().lanes().to_string()),
        [
            "instant  it  #1 victim   #2 crasher     #3 blocker            callbacks",
            "     0s   1  run -> 10s  run -> 1s      run -> 2s",
            "     1s   2  |           |              |                     #3",
            "     1s   3  |           run, panicked  |",
            "     2s   4  |                          |                     #4",
            "     2s   5  |                          run, blocks 3s -> 6s",
            "     5s   6  |                          |                     #1 (2s late)",
            "     5s   7  cancelled                  |",
            "     6s   8                             |                     #5",
            "     6s   9                             run, done",
        ]
    );
    // Timer #1 is the `call_later` (registered first, before the run); it fell due at 3s while
    // the blocker held the loop, so it ran at 5s.
    assert_eq!(lp.stats().max_lateness, secs(2));
}

/// The `X` slices of one thread as (name, ts, dur) in microseconds.
fn slices(events: &[Value], pid: u64, tid: u64) -> Vec<(String, f64, f64)> {
    events
        .iter()
        .filter(|e| e["ph"] == "X" && e["pid"] == pid && e["tid"] == tid)
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["ts"].as_f64().unwrap(),
                e["dur"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn chrome_json_parses_back_with_a_thread_per_task_and_exact_slices() {
    let mut lp = EventLoop::builder().trace(true).build();
    lp.spawn_named("sleeper", async {
        sleep(ms(1500)).await;
        block_for(Duration::from_micros(250));
        sleep(Duration::from_nanos(1)).await;
    });
    lp.call_later(secs(1), || simloop::mark("tick"));
    lp.run().unwrap();
    let events = checked_events(&lp.trace().to_chrome_json());
    // Task #1 is thread 2 (0 is the loop and its callbacks, 1 the main future).
    let thread = events
        .iter()
        .find(|e| e["name"] == "thread_name" && e["tid"] == 2)
        .expect("the task's thread");
    assert_eq!(thread["args"]["name"], "task #1 'sleeper'");
    assert_eq!(
        slices(&events, 1, 2),
        [
            ("poll", 0.0, 0.0),
            ("wait until 1.5s", 0.0, 1_500_000.0),
            ("poll", 1_500_000.0, 250.0),
            ("wait until 1.500250001s", 1_500_250.0, 0.001),
            ("poll", 1_500_250.001, 0.0),
        ]
        .map(|(n, t, d)| (n.to_string(), t, d))
    );
}

#[test]
fn chrome_json_escapes_what_users_write() {
    let label = "quote \" backslash \\ newline \n tab \t bell \u{7} é";
    let mut lp = EventLoop::builder().trace(true).build();
    lp.spawn_named("na\"me", async move { simloop::mark(label) });
    lp.run().unwrap();
    let trace = lp.trace();
    let events = checked_events(&chrome_json([("run \"one\"", &trace)]));
    let marks: Vec<&str> = events
        .iter()
        .filter_map(|e| e["name"].as_str())
        .filter(|n| n.starts_with("mark "))
        .collect();
    assert_eq!(marks, [format!("mark {label}")]);
    let process = events.iter().find(|e| e["name"] == "process_name").unwrap();
    assert_eq!(process["args"]["name"], "run \"one\"");
    let thread = events
        .iter()
        .find(|e| e["name"] == "thread_name" && e["tid"] == 2)
        .unwrap();
    assert_eq!(thread["args"]["name"], "task #1 'na\"me'");
}

#[test]
fn slow_callback_warning_names_the_culprit_with_its_virtual_duration() {
    let mut lp = EventLoop::builder()
        .trace(true)
        .slow_callback(ms(500))
        .build();
    let cb_line = line!() + 1;
    let cb = lp.call_soon(|| block_for(ms(500)));
    lp.call_soon(|| block_for(ms(499))); // below the threshold: no warning
    let task_line = line!() + 1;
    lp.spawn_named("cruncher", async {
        block_for(ms(300));
        block_for(ms(300)); // two blocks in one step add up
    });
    lp.run().unwrap();
    let warnings: Vec<String> = lp
        .trace()
        .events()
        .iter()
        .filter(|e| matches!(e.event, Event::SlowCallback { .. }))
        .map(|e| format!("[{}] {}", e.at, e.event))
        .collect();
    let cb_site = format!("{}:{cb_line}", file!());
    let task_site = format!("{}:{task_line}", file!());
    assert_eq!(
        warnings,
        [
            format!(
                "[0.5s] Executing callback #{} (scheduled at {cb_site}:17) took 0.500s",
                cb.id()
            ),
            format!("[1.599s] Executing task #1 'cruncher' (spawned at {task_site}:8) took 0.600s"),
        ]
    );
}
