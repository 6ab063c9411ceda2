//! The asyncio guide's conclusion: a blocking call inside the loop stops everything else, and
//! handing it to a worker is the way out. simloop makes both visible, deterministically.
//!
//! A heartbeat task ticks every second; a report task starts at 1.5 s and does 3 s of blocking
//! work. Run inline with `block_for`, the work holds the loop: the heartbeat's 2 s tick comes
//! 2.5 s late, the 3 s and 4 s ticks never come, and the slow-callback warning (on stderr and in
//! the trace) names the report task. Moved to `spawn_blocking`, the work runs on a simulated
//! worker and the heartbeat stays on time.
//!
//! `cargo run --example blocking` prints both timelines (the log and the per-task lane view)
//! and writes `blocking.trace.json`, which opens in ui.perfetto.dev or `chrome://tracing`.
//! `tests/blocking.rs` asserts this output exactly.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use simloop::{block_for, interval, sleep, spawn_blocking, EventLoop, MissedTicks, Stats, Trace};

/// Where the report's blocking work runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// On the loop itself, with `block_for`: nothing else runs meanwhile.
    Inline,
    /// On a simulated worker, with `spawn_blocking`: the loop goes on.
    Worker,
}

/// What one run produced.
#[derive(Debug)]
pub struct Run {
    /// `[instant] message` lines.
    pub log: Vec<String>,
    /// Every event of the run.
    pub trace: Trace,
    /// The loop's counters.
    pub stats: Stats,
}

/// Runs the heartbeat and the report, with the report's work placed by `mode`.
pub fn run(mode: Mode) -> Run {
    let mut lp = EventLoop::builder()
        .trace(true)
        .slow_callback(Duration::from_millis(100))
        .build();
    let log = Rc::new(RefCell::new(Vec::new()));
    let say = {
        let log = log.clone();
        move |msg: String| log.borrow_mut().push(format!("[{}] {msg}", simloop::now()))
    };

    let heartbeat_say = say.clone();
    lp.spawn_named("heartbeat", async move {
        let mut ticks = interval(Duration::from_secs(1)).missed_ticks(MissedTicks::Skip);
        for _ in 0..5 {
            let due = ticks.tick().await;
            let late = simloop::now() - due;
            if late.is_zero() {
                heartbeat_say("heartbeat".to_string());
            } else {
                heartbeat_say(format!(
                    "heartbeat due at {due}, {}s late",
                    late.as_secs_f64()
                ));
            }
        }
    });

    lp.spawn_named("report", async move {
        sleep(Duration::from_millis(1500)).await;
        say("report: start 3s of work".to_string());
        let total = match mode {
            Mode::Inline => {
                block_for(Duration::from_secs(3));
                42
            }
            Mode::Worker => spawn_blocking(Duration::from_secs(3), || 42)
                .await
                .expect("the job runs to completion"),
        };
        say(format!("report: done ({total})"));
    });

    lp.run().expect("both tasks finish");
    let log = log.borrow().clone();
    Run {
        log,
        trace: lp.trace(),
        stats: lp.stats(),
    }
}

fn main() {
    let inline = run(Mode::Inline);
    let worker = run(Mode::Worker);
    for (title, run) in [
        ("inline: block_for(3s) inside the report task", &inline),
        (
            "moved: spawn_blocking(3s, ..) on a simulated worker",
            &worker,
        ),
    ] {
        println!("== {title} ==");
        for line in &run.log {
            println!("{line}");
        }
        println!();
        print!("{}", run.trace.lanes());
        println!(
            "max timer lateness: {}s",
            run.stats.max_lateness.as_secs_f64()
        );
        println!();
    }
    let json = simloop::chrome_json([
        ("inline block_for", &inline.trace),
        ("spawn_blocking", &worker.trace),
    ]);
    std::fs::write("blocking.trace.json", json).expect("write blocking.trace.json");
    println!("wrote blocking.trace.json (open it in ui.perfetto.dev)");
}
