//! Trusting what `explore` says (SPEC §5): a failure that does not reproduce under its own
//! schedule is reported as such, without a token; shrinking keeps only failures of the same
//! kind and replays the shrunk token once more; tokens that do not fit the scenario are
//! flagged; an empty `SIMLOOP_SEEDS` is an error; `Search` lives beside proptest's
//! `Strategy`; inputs and schedules shrink together with `explore_schedules`; scenarios are
//! `FnMut`.
//!
//! Scenarios that are not deterministic on purpose count their own calls (the scenario is
//! `FnMut`) or read a process-global counter that only their test touches.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
#[cfg(feature = "proptest")]
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng};
use simloop::{
    explore, yield_now, EventLoop, Explore, Explored, NotReproduced, OutOfRange, ReplayMismatch,
    Schedule, Search,
};

/// The tasks named in `names` append their name to a log on their first poll; the log.
fn first_polls(lp: &mut EventLoop, names: &[char]) -> Result<String, String> {
    let log = Rc::new(RefCell::new(String::new()));
    for &name in names {
        let log = log.clone();
        lp.spawn(async move { log.borrow_mut().push(name) });
    }
    lp.run().map_err(|e| e.to_string())?;
    let log = log.borrow().clone();
    Ok(log)
}

/// Two tasks; fails when 'b' runs first.
fn a_before_b(lp: &mut EventLoop) -> Result<(), String> {
    match first_polls(lp, &['a', 'b'])?.as_str() {
        "ab" => Ok(()),
        _ => Err("b ran first".to_string()),
    }
}

fn random(seeds: std::ops::Range<u64>) -> Explore {
    Explore::new().seeds(seeds).strategy(Search::Random)
}

// ---------------------------------------------------------------------------------------
// A failure that does not reproduce
// ---------------------------------------------------------------------------------------

const NO_TOKEN: &str = "no replay token: this scenario does not repeat itself under a \
                        schedule; make it deterministic (check_determinism finds where two \
                        runs differ), then explore again\n";

#[test]
fn a_failure_that_does_not_reproduce_is_reported_without_a_token() {
    // The scenario: a process-global counter makes the third run fail, and only it.
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let failure = explore(&random(0..10), |lp| {
        lp.spawn(async { yield_now().await });
        lp.spawn(async {});
        lp.run().map_err(|e| e.to_string())?;
        match RUNS.fetch_add(1, Ordering::SeqCst) {
            2 => Err("flaky".to_string()),
            _ => Ok(()),
        }
    })
    .unwrap_err();

    assert_eq!(failure.seed, Some(2));
    assert_eq!(failure.runs, 3);
    assert_eq!(failure.message, "flaky");
    assert_eq!(failure.shrink_runs, 0);
    assert_eq!(failure.replay_mismatch, None);
    // Three runs of the search, then four replays of the failing schedule; no shrinking.
    assert_eq!(RUNS.load(Ordering::SeqCst), 7);
    assert_eq!(
        failure.not_reproduced,
        Some(NotReproduced {
            after_shrinking: false,
            expected: "flaky".to_string(),
            replays: vec![None, None, None, None],
            divergence: None,
        })
    );
    assert_eq!(
        failure.to_string(),
        format!(
            "simloop::explore: the scenario failed under the schedule of seed 2 (run 3): flaky\n\
             the failure did not reproduce under its own schedule: the scenario is not \
             deterministic\n\
             replays of that schedule: #1 passed, #2 passed, #3 passed, #4 passed\n\
             the 4 replays recorded the same events: what decides the outcome happens outside \
             the loop's events (e.g. a check that reads a global after the run)\n\
             {NO_TOKEN}"
        )
    );
    assert!(!failure
        .to_string()
        .lines()
        .any(|l| l.starts_with("replay token:")));
}

#[test]
fn a_failing_run_and_a_passing_replay_show_their_first_divergence() {
    // Odd calls mark "odd" and fail; even calls mark "even" and pass.
    let mut calls = 0;
    let failure = explore(&random(0..10), |lp| {
        calls += 1;
        let odd = calls % 2 == 1;
        lp.call_soon(move || simloop::mark(if odd { "odd" } else { "even" }));
        lp.run().map_err(|e| e.to_string())?;
        if odd {
            Err("an odd run".to_string())
        } else {
            Ok(())
        }
    })
    .unwrap_err();

    // Seed 0 failed (call 1); replay #1 (call 2) passed, replay #2 (call 3) failed again.
    assert_eq!(calls, 3);
    assert_eq!(failure.seed, Some(0));
    let not = failure.not_reproduced.as_ref().expect("not reproduced");
    assert_eq!(not.replays, [None, Some("an odd run".to_string())]);
    let (failing, passing, divergence) = not.divergence.as_ref().expect("the runs differ");
    assert_eq!((*failing, *passing), (1, 0));
    assert_eq!(divergence.index, 1);
    assert_eq!(
        failure.to_string(),
        format!(
            "simloop::explore: the scenario failed under the schedule of seed 0 (run 1): an odd \
             run\n\
             the failure did not reproduce under its own schedule: the scenario is not \
             deterministic\n\
             replays of that schedule: #1 passed, #2 failed the same way\n\
             replay #2 against replay #1: two runs of the same scenario diverge at event #1 \
             (0s): the first run has mark odd at 0s in iteration 1, the second mark even at 0s \
             in iteration 1; something outside the loop (a global, the wall clock, OS \
             randomness, HashMap order) decides what happens\n\
             both runs, up to there (last 1 events):\n\
             {}\n\
             {NO_TOKEN}",
            divergence.before.to_string().trim_end()
        )
    );
    assert_eq!(
        divergence.before.to_string().trim_end(),
        "0s  it 1  callback #1  run callback #1"
    );
}

#[test]
fn shrinking_keeps_only_failures_of_the_same_kind() {
    // Three tasks: 'c' first is the failure under study; 'b' first is another failure.
    fn scenario(lp: &mut EventLoop) -> Result<(), String> {
        match first_polls(lp, &['a', 'b', 'c'])?.chars().next() {
            Some('c') => Err("c ran first".to_string()),
            Some('b') => Err("b overtook a".to_string()),
            _ => Ok(()),
        }
    }
    // The first seed whose random schedule runs 'c' first.
    let seed = (0..)
        .find(|&seed| {
            let mut lp = EventLoop::builder()
                .schedule(Schedule::random(seed))
                .build();
            scenario(&mut lp) == Err("c ran first".to_string())
        })
        .unwrap();
    // A smaller schedule fails otherwise: shrinking must not drift to it.
    let mut lp = EventLoop::builder()
        .schedule("S1:1".parse().unwrap())
        .build();
    assert_eq!(scenario(&mut lp), Err("b overtook a".to_string()));

    let failure = explore(&random(seed..seed + 1), scenario).unwrap_err();

    assert_eq!(failure.seed, Some(seed));
    assert_eq!(failure.message, "c ran first");
    assert_eq!(failure.schedule.to_string(), "S1:2");
    assert_eq!(failure.not_reproduced, None);
    let report = failure.to_string();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(
        lines[..2],
        [
            format!(
                "simloop::explore: the scenario failed under the schedule of seed {seed} (run \
                 1): c ran first"
            ),
            format!(
                "replay token: S1:2   (shrunk from {} choices to 1 in {} runs; replay with \
                 Builder::schedule(\"S1:2\".parse().unwrap()))",
                failure.original.choices().unwrap().len(),
                failure.shrink_runs
            ),
        ]
    );
}

#[test]
fn the_shrunk_token_is_replayed_once_more_before_it_is_reported() {
    // Fails when 'b' runs first, but only the first time a schedule is taken (and in the
    // first two runs): the search's run and its replay fail, every smaller schedule fails
    // once while shrinking, and the shrunk one no longer fails when replayed.
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let mut calls = 0u32;
    let failure = explore(&random(0..10), |lp| {
        calls += 1;
        let log = first_polls(lp, &['a', 'b'])?;
        let times = seen.entry(lp.schedule_taken().to_string()).or_insert(0);
        *times += 1;
        if log == "ba" && (calls <= 2 || *times == 1) {
            Err("b ran first".to_string())
        } else {
            Ok(())
        }
    })
    .unwrap_err();

    let not = failure.not_reproduced.as_ref().expect("not reproduced");
    assert!(not.after_shrinking);
    assert_eq!(not.expected, "b ran first");
    assert_eq!(not.replays, [None, None, None, None]);
    assert_eq!(failure.schedule.to_string(), "S1:1");
    // The search, one replay, shrinking (its last run included), three more replays.
    assert_eq!(
        u64::from(calls),
        failure.runs + 1 + u64::from(failure.shrink_runs) + 3
    );
    assert_eq!(
        failure.to_string(),
        format!(
            "simloop::explore: the scenario failed under the schedule of seed {} (run {}): b \
             ran first\n\
             the failure did not reproduce under its own schedule: the scenario is not \
             deterministic\n\
             (shrinking saw smaller schedules fail; the smallest, replayed once more for this \
             report, did not fail the same way)\n\
             replays of that schedule: #1 passed, #2 passed, #3 passed, #4 passed\n\
             the 4 replays recorded the same events: what decides the outcome happens outside \
             the loop's events (e.g. a check that reads a global after the run)\n\
             {NO_TOKEN}",
            failure.seed.unwrap(),
            failure.runs
        )
    );
}

#[test]
fn explore_takes_a_scenario_that_counts_its_runs() {
    let mut calls = 0u64;
    let explored = explore(&random(0..25), |lp| {
        calls += 1;
        lp.spawn(async { yield_now().await });
        lp.spawn(async {});
        lp.run()
    })
    .unwrap();
    assert_eq!(
        explored,
        Explored {
            runs: 25,
            replay_mismatch: None
        }
    );
    assert_eq!(calls, 25);

    // A failure: the search, the replay, then shrinking with its final replay.
    let mut calls = 0u64;
    let failure = explore(&random(0..25), |lp| {
        calls += 1;
        a_before_b(lp)
    })
    .unwrap_err();
    assert_eq!(failure.schedule.to_string(), "S1:1");
    assert_eq!(calls, failure.runs + 1 + u64::from(failure.shrink_runs));
}

// ---------------------------------------------------------------------------------------
// Tokens that do not fit the scenario
// ---------------------------------------------------------------------------------------

fn replayed(token: &str, tasks: usize) -> EventLoop {
    let mut lp = EventLoop::builder()
        .schedule(token.parse().unwrap())
        .build();
    for _ in 0..tasks {
        lp.spawn(async {});
    }
    lp.run().unwrap();
    lp
}

#[test]
fn a_token_longer_than_the_run_or_out_of_range_is_flagged() {
    // The case: eight choices of 3 on two tasks, which make one decision of two.
    let lp = replayed("S1:3.3.3.3.3.3.3.3", 2);
    assert_eq!(lp.schedule_taken().to_string(), "S1:1");
    let mismatch = lp.replay_mismatch().expect("the token does not fit");
    assert_eq!(
        mismatch,
        ReplayMismatch {
            schedule: "S1:3.3.3.3.3.3.3.3".parse().unwrap(),
            decisions: 1,
            unused: 7,
            out_of_range: vec![OutOfRange {
                index: 0,
                choice: 3,
                options: 2
            }],
        }
    );
    assert_eq!(
        mismatch.to_string(),
        "the replayed schedule S1:3.3.3.3.3.3.3.3 does not fit this scenario: choice #1 is 3, \
         but its decision had 2 options (it counted as 1); the run made 1 decision and left 7 \
         choices unused (a token taken from another version of the scenario replays another \
         run: explore again for a fresh one)"
    );

    // Out of range only: three tasks make two decisions (of 3, then of 2).
    let mismatch = replayed("S1:2.5", 3).replay_mismatch().unwrap();
    assert_eq!(
        mismatch.to_string(),
        "the replayed schedule S1:2.5 does not fit this scenario: choice #2 is 5, but its \
         decision had 2 options (it counted as 1) (a token taken from another version of the \
         scenario replays another run: explore again for a fresh one)"
    );
    let mismatch = replayed("S1:7.5", 3).replay_mismatch().unwrap();
    assert_eq!(
        mismatch.to_string(),
        "the replayed schedule S1:7.5 does not fit this scenario: choice #1 is 7, but its \
         decision had 3 options (it counted as 1), and 1 more choice was out of range (a \
         token taken from another version of the scenario replays another run: explore \
         again for a fresh one)"
    );

    // Leftover only: the unused tail counts up to its last non-zero choice.
    let mismatch = replayed("S1:1.z4.1", 2).replay_mismatch().unwrap();
    assert_eq!((mismatch.decisions, mismatch.unused), (1, 5));
    assert_eq!(
        mismatch.to_string(),
        "the replayed schedule S1:1.z4.1 does not fit this scenario: the run made 1 decision \
         and left 5 choices unused (a token taken from another version of the scenario \
         replays another run: explore again for a fresh one)"
    );

    // Tokens that fit, trailing zeros, and schedules that are no replay: nothing to flag.
    for (token, tasks) in [("S1:1", 2), ("S1:2.1", 3), ("S1", 2), ("S1:1", 1)] {
        let lp = replayed(token, tasks);
        if tasks == 1 {
            // One task makes no decision: the choice is left over.
            assert_eq!(lp.replay_mismatch().unwrap().unused, 1);
        } else {
            assert_eq!(lp.replay_mismatch(), None, "{token}");
        }
    }
    let mut lp = EventLoop::builder()
        .schedule(Schedule::from_choices(vec![1, 0, 0]))
        .build();
    lp.spawn(async {});
    lp.spawn(async {});
    lp.run().unwrap();
    assert_eq!(lp.replay_mismatch(), None);
    for token in ["fifo", "random:3", "pct:3:2", "bytes:ffffffff"] {
        assert_eq!(replayed(token, 2).replay_mismatch(), None, "{token}");
    }
}

#[test]
fn a_replayed_token_that_does_not_fit_puts_a_warning_line_in_the_report() {
    let config = Explore::new().replay("S1:3.3.3".parse().unwrap());
    let failure = explore(&config, a_before_b).unwrap_err();
    assert_eq!(failure.seed, None);
    assert_eq!(failure.runs, 1);
    assert_eq!(failure.shrink_runs, 0);
    assert_eq!(failure.schedule.to_string(), "S1:1");
    assert_eq!(failure.original.to_string(), "S1:3.3.3");
    let report = failure.to_string();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "simloop::explore: the scenario failed under the replayed schedule S1:3.3.3: b ran \
             first",
            "warning: the replayed schedule S1:3.3.3 does not fit this scenario: choice #1 is \
             3, but its decision had 2 options (it counted as 1); the run made 1 decision and \
             left 2 choices unused (a token taken from another version of the scenario replays \
             another run: explore again for a fresh one)",
            "replay token: S1:1   (the choices the run took; replay with \
             Builder::schedule(\"S1:1\".parse().unwrap()))",
            "trace of the replayed run:",
        ]
    );
    assert_eq!(
        report,
        format!("{}\n{}", lines[..4].join("\n"), failure.trace)
    );

    // A token that fits: no warning line.
    let config = Explore::new().replay("S1:1".parse().unwrap());
    let failure = explore(&config, a_before_b).unwrap_err();
    assert_eq!(failure.replay_mismatch, None);
    assert!(!failure.to_string().contains("warning"));

    // A passing replay returns the mismatch.
    let config = Explore::new().replay("S1:0.4".parse().unwrap());
    let explored = explore(&config, a_before_b).unwrap();
    assert_eq!(explored.runs, 1);
    assert_eq!(
        explored.replay_mismatch.unwrap().to_string(),
        "the replayed schedule S1:0.4 does not fit this scenario: the run made 1 decision and \
         left 1 choice unused (a token taken from another version of the scenario replays \
         another run: explore again for a fresh one)"
    );
}

/// Run in a child process by the test below, with `SIMLOOP_SEEDS=5..5`.
#[test]
#[ignore = "run by an_empty_seed_range_in_the_environment_is_an_error, in a child process"]
fn child_explores_with_the_seeds_of_the_environment() {
    let _ = explore(&Explore::new(), a_before_b);
}

#[test]
fn an_empty_seed_range_in_the_environment_is_an_error() {
    // A child process, so that no other test of this binary sees the variable.
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_explores_with_the_seeds_of_the_environment",
            "--ignored",
            "--test-threads=1",
        ])
        .env("SIMLOOP_SEEDS", "5..5")
        .output()
        .unwrap();
    assert!(!output.status.success());
    // libtest prints a failed test's panic with its captured output, on stdout.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "SIMLOOP_SEEDS='5..5' is an empty range, which would run no schedule and pass: the \
             end must be past the start (e.g. 5..6)"
        ),
        "{stdout}"
    );
}

// ---------------------------------------------------------------------------------------
// The same, as #[simloop::test]s
// ---------------------------------------------------------------------------------------

#[cfg(feature = "macros")]
/// The exploration of `a_before_b`, as a test: its report is the one `explore` gives, plus
/// the line that pins the failure (see `tests/test_attr.rs`).
#[simloop::test(seeds = 10, strategy = random)]
#[should_panic(expected = "pin it as a regression test:\n    #[simloop::test(replay = \"S1:1\")]")]
fn a_before_b_explored(lp: &mut EventLoop) -> Result<(), String> {
    a_before_b(lp)
}

#[cfg(feature = "macros")]
/// That line, pasted: the failing schedule, every time.
#[simloop::test(replay = "S1:1")]
#[should_panic(
    expected = "failed under the replayed schedule S1:1 (from the `replay` argument): Error: \"b ran first\""
)]
fn a_before_b_pinned(lp: &mut EventLoop) -> Result<(), String> {
    a_before_b(lp)
}

#[cfg(feature = "macros")]
/// Tasks that only append to their own log commute: every schedule passes.
#[simloop::test(seeds = 50, strategy = pct(2))]
fn tasks_that_commute_pass_under_every_schedule(lp: &mut EventLoop) -> Result<(), String> {
    let polls = first_polls(lp, &['a', 'b', 'c'])?;
    let mut sorted: Vec<char> = polls.chars().collect();
    sorted.sort_unstable();
    assert_eq!(sorted, ['a', 'b', 'c']);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Beside proptest
// ---------------------------------------------------------------------------------------

#[test]
fn search_and_proptests_strategy_trait_live_together() {
    // `use proptest::prelude::*` above brings proptest's `Strategy` trait: `prop_map` and
    // `Search` both resolve (with the old enum name imported, E0599).
    let evens = (0..5u32).prop_map(|x| x * 2);
    let mut runner = TestRunner::deterministic();
    let value = evens.new_tree(&mut runner).unwrap().current();
    assert_eq!(value % 2, 0);
    let config = Explore::new().runs(20).strategy(Search::Pct { depth: 2 });
    assert_eq!(
        explore(&config, a_before_b).unwrap_err().message,
        "b ran first"
    );
}

/// `callers` tasks each take a ticket after the same work; the planted bug: the test expects the
/// tickets in spawn order, which FIFO happens to keep and other schedules do not.
#[cfg(feature = "proptest")]
fn tickets(lp: &mut EventLoop, callers: usize) -> Result<(), String> {
    let served = Rc::new(RefCell::new(Vec::new()));
    for i in 0..callers {
        let served = served.clone();
        lp.spawn(async move {
            yield_now().await;
            yield_now().await;
            served.borrow_mut().push(i);
        });
    }
    lp.run().map_err(|e| e.to_string())?;
    let served = served.borrow();
    match served.windows(2).find(|w| w[0] > w[1]) {
        Some(w) => Err(format!("caller {} was served before caller {}", w[0], w[1])),
        None => Ok(()),
    }
}

#[test]
#[cfg(feature = "proptest")] // simloop::proptest::explore_schedules
fn inputs_and_schedules_shrink_together() {
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 32,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let config = random(0..64);
    let result = runner.run(&(1..12usize), |callers| {
        simloop::proptest::explore_schedules(&config, |lp| tickets(lp, callers)).map(|_| ())
    });
    let Err(TestError::Fail(reason, callers)) = result else {
        panic!("expected a failure, got {result:?}");
    };
    assert_eq!(callers, 2);
    let report = reason.message().to_string();
    let token_line = report
        .lines()
        .find(|l| l.starts_with("replay token: "))
        .unwrap_or_else(|| panic!("no token in {report}"));
    let token = token_line["replay token: ".len()..]
        .split(' ')
        .next()
        .unwrap();
    let schedule: Schedule = token.parse().unwrap();
    let nonzero = schedule
        .choices()
        .unwrap()
        .iter()
        .filter(|&&c| c != 0)
        .count();
    assert!(nonzero <= 2, "{token}");
    assert_eq!(token, "S1:1");
    assert!(
        report.starts_with("simloop::explore: the scenario failed under the schedule of seed "),
        "{report}"
    );
    assert!(
        report
            .lines()
            .next()
            .unwrap()
            .ends_with(": caller 1 was served before caller 0"),
        "{report}"
    );
    // The token replays the failure on the minimal input.
    let mut lp = EventLoop::builder().schedule(schedule).build();
    assert_eq!(
        tickets(&mut lp, 2),
        Err("caller 1 was served before caller 0".to_string())
    );
}
