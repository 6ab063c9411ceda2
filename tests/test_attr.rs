//! `#[simloop::test]` and `simloop::testing`: every argument of the attribute, both function
//! shapes, the failure reports, and what `SIMLOOP_SEEDS` and `SIMLOOP_REPLAY` do (through
//! `testing::check`, which takes their values, so no test changes the process environment).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use simloop::testing::{check, TestConfig, TestEnv, TRACE_TAIL};
use simloop::{sleep, spawn, yield_now, EventLoop, Instant, JoinError, LoopError, Search};

// ---- the two shapes -------------------------------------------------------------------

#[simloop::test]
async fn an_async_test_runs_on_a_fresh_loop() {
    assert_eq!(simloop::now(), Instant::ZERO);
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let task = spawn(async move {
        sleep(Duration::from_secs(2)).await;
        l.borrow_mut().push(("task", simloop::now()));
    });
    sleep(Duration::from_secs(1)).await;
    log.borrow_mut().push(("main", simloop::now()));
    task.await.unwrap();
    assert_eq!(
        *log.borrow(),
        [
            ("main", Instant::from_secs(1)),
            ("task", Instant::from_secs(2))
        ]
    );
}

#[simloop::test]
async fn an_async_test_may_return_a_result() -> Result<(), String> {
    sleep(Duration::from_millis(1)).await;
    let n: u32 = "42".parse().map_err(|e| format!("{e}"))?;
    assert_eq!(n, 42);
    Ok(())
}

#[simloop::test]
#[should_panic(expected = "Error: \"the answer is 41\"")]
async fn an_err_fails_the_test() -> Result<(), String> {
    Err("the answer is 41".to_string())
}

#[simloop::test]
fn a_loop_test_drives_the_loop(lp: &mut EventLoop) {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    lp.call_later(Duration::from_secs(1), move || {
        l.borrow_mut().push((simloop::now(), "later"))
    });
    let l = log.clone();
    lp.call_soon(move || l.borrow_mut().push((simloop::now(), "soon")));
    lp.run().unwrap();
    assert_eq!(
        *log.borrow(),
        [(Instant::ZERO, "soon"), (Instant::from_secs(1), "later")]
    );
}

#[simloop::test]
fn a_loop_test_may_return_a_result(lp: &mut simloop::EventLoop) -> Result<(), LoopError> {
    lp.call_later(Duration::from_secs(3), || {});
    lp.run()?;
    assert_eq!(lp.time(), Instant::from_secs(3));
    Ok(())
}

#[simloop::test]
#[should_panic(expected = "the loop stalled at 5s")]
async fn a_loop_error_fails_the_test() {
    sleep(Duration::from_secs(5)).await;
    futures::future::pending::<()>().await;
}

#[simloop::test]
#[should_panic(expected = "failed: the main future panicked at 1s: boom at 1s")]
async fn a_panic_fails_the_test() {
    sleep(Duration::from_secs(1)).await;
    panic!("boom at {}", simloop::now());
}

// ---- exploration: seeds, strategy, jitter, replay ------------------------------------------

/// A lost update: FIFO runs `a` first and hides it; the other order shows it.
async fn lost_update() {
    let counter = Rc::new(Cell::new(0));
    let c = counter.clone();
    let a = spawn(async move { c.set(c.get() + 1) });
    let c = counter.clone();
    let b = spawn(async move {
        let seen = c.get();
        yield_now().await;
        c.set(seen + 1);
    });
    let _ = (a.await, b.await);
    assert_eq!(counter.get(), 2, "lost update");
}

#[simloop::test]
async fn the_fifo_order_hides_the_lost_update() {
    lost_update().await;
}

#[simloop::test(seeds = 50)]
#[should_panic(expected = "#[simloop::test(replay = \"S1:1\")]")]
async fn seeds_explore_and_print_the_line_that_pins_the_failure() {
    lost_update().await;
}

#[simloop::test(replay = "S1:1")]
#[should_panic(
    expected = "failed under the replayed schedule S1:1 (from the `replay` argument): the main future panicked at 0s: assertion `left == right` failed: lost update"
)]
async fn replay_pins_the_failing_schedule() {
    lost_update().await;
}

#[simloop::test(replay = "S1:0")]
async fn replay_of_the_fifo_choices_passes() {
    lost_update().await;
}

#[simloop::test(seeds = 40, strategy = random)]
#[should_panic(expected = "replay token: S1:1")]
async fn strategy_random_finds_it() {
    lost_update().await;
}

#[simloop::test(seeds = 40, search = pct(2))]
#[should_panic(expected = "replay token: S1:1")]
async fn search_is_another_name_for_strategy() {
    lost_update().await;
}

#[simloop::test(seeds = 40, strategy = mixed(depth = 2))]
#[should_panic(expected = "replay token: S1:1")]
async fn strategy_mixed_finds_it() {
    lost_update().await;
}

/// Two timers 500us apart: only a timer fired late reorders them.
async fn timers_in_order() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    simloop::call_later(Duration::from_millis(10), move || {
        l.borrow_mut().push("first")
    });
    let l = log.clone();
    simloop::call_later(Duration::from_micros(10_500), move || {
        l.borrow_mut().push("second")
    });
    sleep(Duration::from_millis(20)).await;
    assert_eq!(*log.borrow(), ["first", "second"], "timers out of order");
}

#[simloop::test(seeds = 30)]
async fn without_jitter_timers_keep_their_order() {
    timers_in_order().await;
}

#[simloop::test(seeds = 30, jitter = "1ms")]
#[should_panic(expected = "timers out of order")]
async fn jitter_lets_timers_fire_late() {
    timers_in_order().await;
}

// ---- loop settings: time_limit, step_limit, panic_policy, trace ----------------------------

#[simloop::test(time_limit = "1h")]
#[should_panic(expected = "the loop reached its time limit of 3600s at 3600s")]
async fn time_limit_stops_a_runaway_timer_loop() {
    loop {
        sleep(Duration::from_secs(60)).await;
    }
}

#[simloop::test(time_limit = "1h30m")]
async fn time_limit_lets_the_test_run_up_to_it() {
    sleep(Duration::from_secs(5400)).await;
    assert_eq!(simloop::now(), Instant::from_secs(5400));
}

#[simloop::test(step_limit = 100)]
#[should_panic(expected = "the loop ran its step limit of 100 callbacks and task steps")]
async fn step_limit_stops_a_busy_loop() {
    loop {
        yield_now().await;
    }
}

#[simloop::test(panic_policy = report)]
async fn panic_policy_report_keeps_the_panic_for_the_join_handle() {
    let doomed = spawn(async { panic!("doomed") });
    assert_eq!(doomed.await, Err(JoinError::Panicked("doomed".to_string())));
}

#[simloop::test(panic_policy = fail)]
#[should_panic(expected = "panicked at 0s: doomed")]
async fn panic_policy_fail_stops_the_loop() {
    let doomed = spawn(async { panic!("doomed") });
    let _ = doomed.await;
}

#[simloop::test(trace)]
async fn trace_records_a_passing_run() {
    simloop::mark("traced");
    sleep(Duration::from_secs(1)).await;
}

// ---- the reports, through `testing::check` -------------------------------------------------

/// A body that marks `n` steps, then fails.
fn marks_then_fails(n: u32) -> impl Fn(&mut EventLoop) -> Result<(), LoopError> {
    move |lp| {
        lp.run_until_complete(async move {
            for i in 0..n {
                simloop::mark(format!("step {i}"));
                sleep(Duration::from_millis(1)).await;
            }
            panic!("gave up after {n} steps");
        })
    }
}

#[test]
fn a_failure_reports_the_error_and_the_trace_tail() {
    let report = check(
        &TestConfig::new("test_attr::fails"),
        &TestEnv::default(),
        marks_then_fails(30),
    )
    .unwrap_err();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(
        lines[0],
        "simloop test `fails` failed: the main future panicked at 0.03s: gave up after 30 steps"
    );
    assert!(
        lines[1].starts_with("trace of the failing run, replayed with tracing (the last 40 of ")
    );
    assert_eq!(lines.len(), 2 + TRACE_TAIL);
    assert!(
        lines.last().unwrap().contains("gave up after 30 steps"),
        "{report}"
    );
    assert!(report.contains("mark step 29"), "{report}");
    assert!(!report.contains("mark step 0\n"), "{report}");
}

#[test]
fn trace_reports_the_whole_trace() {
    let config = TestConfig::new("test_attr::fails").trace(true);
    let report = check(&config, &TestEnv::default(), marks_then_fails(30)).unwrap_err();
    assert!(report.contains("trace of the run:\n"), "{report}");
    assert!(report.contains("mark step 0\n"), "{report}");
    assert!(report.lines().count() > 2 + TRACE_TAIL);
}

#[test]
fn a_short_trace_is_reported_whole() {
    let report = check(
        &TestConfig::new("test_attr::fails"),
        &TestEnv::default(),
        marks_then_fails(2),
    )
    .unwrap_err();
    assert!(report.contains("trace of the failing run, replayed with tracing:\n"));
    assert!(report.contains("mark step 0\n"), "{report}");
}

fn lost_update_body(lp: &mut EventLoop) -> Result<(), LoopError> {
    lp.run_until_complete(lost_update())
}

#[test]
fn an_exploration_failure_gives_the_seed_the_token_and_the_line_to_paste() {
    let config = TestConfig::new("test_attr::lost")
        .seeds(50)
        .time_limit(Duration::from_secs(3600))
        .pin_args("time_limit = \"1h\"");
    let report = check(&config, &TestEnv::default(), lost_update_body).unwrap_err();
    let lines: Vec<&str> = report.lines().collect();
    assert!(
        lines[0].starts_with("simloop test `lost` failed under the schedule of seed "),
        "{report}"
    );
    assert!(
        lines[0].contains(" of seeds 0..50): the main future panicked at 0s: "),
        "{report}"
    );
    // The assertion's message takes three lines.
    assert_eq!(lines[1..3], ["  left: 1", " right: 2"]);
    assert!(
        lines[3].starts_with("replay token: S1:1   (shrunk from "),
        "{report}"
    );
    assert_eq!(lines[4], "pin it as a regression test:");
    assert_eq!(
        lines[5],
        "    #[simloop::test(replay = \"S1:1\", time_limit = \"1h\")]"
    );
    assert_eq!(
        lines[6],
        "or replay it once: SIMLOOP_REPLAY='S1:1' cargo test -- lost --exact"
    );
    assert_eq!(lines[7], "trace of the shrunk run:");
}

// ---- the systematic search: exhaustive, max_delays ----------------------------------------

/// Three tasks that each yield twice: every order of their steps keeps the sum.
#[simloop::test(exhaustive, max_delays = 2)]
async fn exhaustive_passes_when_every_schedule_passes() {
    let counter = Rc::new(Cell::new(0));
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let c = counter.clone();
            spawn(async move {
                yield_now().await;
                c.set(c.get() + 1);
                yield_now().await;
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(counter.get(), 3);
}

#[simloop::test(exhaustive)]
#[should_panic(expected = "#[simloop::test(replay = \"S1:1\")]")]
async fn exhaustive_finds_the_lost_update_and_prints_the_line_that_pins_it() {
    lost_update().await;
}

#[test]
fn an_exhaustive_failure_is_the_one_with_the_fewest_delays() {
    let config = TestConfig::new("test_attr::lost").max_delays(3);
    let report = check(&config, &TestEnv::default(), lost_update_body).unwrap_err();
    let lines: Vec<&str> = report.lines().collect();
    assert!(
        lines[0].starts_with(
            "simloop test `lost` failed under the systematic search (run 2): the main future \
             panicked at 0s: "
        ),
        "{report}"
    );
    assert_eq!(lines[1..3], ["  left: 1", " right: 2"]);
    assert!(lines[3].starts_with("searched: "), "{report}");
    assert_eq!(
        lines[4],
        "replay token: S1:1   (the fewest delays of any failing schedule)"
    );
    assert_eq!(lines[5], "pin it as a regression test:");
    assert_eq!(lines[6], "    #[simloop::test(replay = \"S1:1\")]");
    assert_eq!(
        lines[7],
        "or replay it once: SIMLOOP_REPLAY='S1:1' cargo test -- lost --exact"
    );
    assert_eq!(lines[8], "trace of the failing run:");
}

#[test]
fn exhaustive_runs_each_schedule_of_the_bound_once_and_ignores_simloop_seeds() {
    // Three one-step tasks: 3! = 6 orders, at most 3 delays; 2 delays leave out the one
    // order with 3 (the reverse).
    let runs = Cell::new(0);
    let body = |lp: &mut EventLoop| {
        runs.set(runs.get() + 1);
        for _ in 0..3 {
            lp.spawn(async {});
        }
        lp.run()
    };
    let env = TestEnv {
        seeds: Some("0..100".to_string()),
        replay: None,
    };
    check(&TestConfig::new("t::t").max_delays(2), &env, body).unwrap();
    assert_eq!(runs.get(), 5);
    runs.set(0);
    check(&TestConfig::new("t::t").max_delays(3), &env, body).unwrap();
    assert_eq!(runs.get(), 6);
}

// ---- SIMLOOP_SEEDS and SIMLOOP_REPLAY, as values -------------------------------------------

/// A body that counts its runs.
fn counting(runs: &Cell<u32>) -> impl FnMut(&mut EventLoop) -> Result<(), LoopError> + '_ {
    move |lp| {
        runs.set(runs.get() + 1);
        lp.run_until_complete(async {})
    }
}

#[test]
fn simloop_seeds_overrides_the_seeds_argument() {
    let config = TestConfig::new("t::t").seeds(3).search(Search::Random);
    let runs = Cell::new(0);
    check(&config, &TestEnv::default(), counting(&runs)).unwrap();
    assert_eq!(runs.get(), 3);
    let runs = Cell::new(0);
    let env = TestEnv {
        seeds: Some("10..20".into()),
        replay: None,
    };
    check(&config, &env, counting(&runs)).unwrap();
    assert_eq!(runs.get(), 10);
}

#[test]
fn simloop_seeds_leaves_tests_without_seeds_alone() {
    let env = TestEnv {
        seeds: Some("0..100".into()),
        replay: None,
    };
    let runs = Cell::new(0);
    check(&TestConfig::new("t::t"), &env, counting(&runs)).unwrap();
    assert_eq!(runs.get(), 1);
    // The FIFO test of the lost update stays FIFO.
    check(&TestConfig::new("t::t"), &env, lost_update_body).unwrap();
    // A pinned replay stays pinned.
    let pinned = TestConfig::new("t::t").replay("S1:0");
    check(&pinned, &env, lost_update_body).unwrap();
}

#[test]
fn simloop_seeds_finds_the_bug_in_its_range() {
    // `seeds = 1` alone might miss it; the range of the variable finds it.
    let config = TestConfig::new("t::lost").seeds(1);
    let env = TestEnv {
        seeds: Some("100..150".into()),
        replay: None,
    };
    let report = check(&config, &env, lost_update_body).unwrap_err();
    assert!(
        report.contains(" of seeds 100..150 (SIMLOOP_SEEDS)): "),
        "{report}"
    );
}

#[test]
fn a_malformed_simloop_seeds_fails_the_test() {
    let env = TestEnv {
        seeds: Some("1000".into()),
        replay: None,
    };
    let report = check(&TestConfig::new("t::t").seeds(5), &env, lost_update_body).unwrap_err();
    assert_eq!(
        report,
        "simloop test `t`: SIMLOOP_SEEDS must look like 'start..end' (e.g. 0..1000), not '1000'"
    );
}

#[test]
fn simloop_replay_replays_one_schedule_in_every_test() {
    let env = TestEnv {
        seeds: None,
        replay: Some("S1:1".into()),
    };
    // A FIFO test, an exploring one, a pinned one: all run that schedule, once.
    for config in [
        TestConfig::new("t::lost"),
        TestConfig::new("t::lost").seeds(50),
        TestConfig::new("t::lost").replay("S1:0"),
    ] {
        let runs = Cell::new(0);
        let report = check(&config, &env, |lp: &mut EventLoop| {
            runs.set(runs.get() + 1);
            lost_update_body(lp)
        })
        .unwrap_err();
        assert!(
            report.starts_with(
                "simloop test `lost` failed under the replayed schedule S1:1 (from \
                 SIMLOOP_REPLAY): the main future panicked at 0s: assertion `left == right` failed: lost update"
            ),
            "{report}"
        );
        assert!(
            report.contains(
                "pin it as a regression test:\n    #[simloop::test(replay = \"S1:1\")]\n"
            ),
            "{report}"
        );
        // The run, and its traced replay for the report.
        assert_eq!(runs.get(), 2);
    }
    // A token that does not parse fails the test and says why.
    let env = TestEnv {
        seeds: None,
        replay: Some("S2:1".into()),
    };
    let report = check(&TestConfig::new("t::t"), &env, lost_update_body).unwrap_err();
    assert!(
        report.starts_with("simloop test `t`: SIMLOOP_REPLAY: 'S2:1' is not a schedule token"),
        "{report}"
    );
}

#[test]
fn a_passing_run_is_not_traced() {
    let traced = Cell::new(None);
    check(
        &TestConfig::new("t::t"),
        &TestEnv::default(),
        |lp: &mut EventLoop| {
            let out = lp.run_until_complete(sleep(Duration::from_secs(1)));
            traced.set(Some(lp.trace().events().is_empty()));
            out
        },
    )
    .unwrap();
    assert_eq!(traced.get(), Some(true));
}

// ---- the variables themselves, in a child process --------------------------------------------

/// Runs the ignored test `name` of this binary in a child process with `var=value`; its
/// success and stdout (where libtest prints a failed test's panic).
fn child(name: &str, var: &str, value: &str) -> (bool, String) {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--ignored", "--test-threads=1"])
        .env_remove("SIMLOOP_SEEDS")
        .env_remove("SIMLOOP_REPLAY")
        .env(var, value)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success(), stdout)
}

#[simloop::test]
#[ignore = "run by simloop_replay_in_the_environment_replays_a_plain_test, in a child process"]
async fn child_lost_update() {
    lost_update().await;
}

#[test]
fn simloop_replay_in_the_environment_replays_a_plain_test() {
    let (passed, stdout) = child("child_lost_update", "SIMLOOP_REPLAY", "S1:1");
    assert!(!passed);
    assert!(
        stdout.contains(
            "simloop test `child_lost_update` failed under the replayed schedule S1:1 (from \
             SIMLOOP_REPLAY)"
        ),
        "{stdout}"
    );
    let (passed, _) = child("child_lost_update", "SIMLOOP_REPLAY", "S1:0");
    assert!(passed);
}

static CHILD_RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Fails from its 7th run on: only a range longer than its own 3 seeds gets there.
#[simloop::test(seeds = 3, strategy = random)]
#[ignore = "run by simloop_seeds_in_the_environment_widens_an_exploration, in a child process"]
async fn child_fails_late() {
    let run = CHILD_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    assert!(run < 7, "fails from its 7th run on");
}

#[test]
fn simloop_seeds_in_the_environment_widens_an_exploration() {
    let (passed, stdout) = child("child_fails_late", "SIMLOOP_SEEDS", "0..3");
    assert!(passed, "{stdout}");
    let (passed, stdout) = child("child_fails_late", "SIMLOOP_SEEDS", "40..60");
    assert!(!passed);
    assert!(
        stdout.contains("(run 7 of seeds 40..60 (SIMLOOP_SEEDS)): the main future panicked"),
        "{stdout}"
    );
}
