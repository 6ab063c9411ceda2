//! What `#[simloop::test]` runs: [`run`] with a [`TestConfig`] (which the attribute builds
//! from its arguments) and the test's body.
//!
//! The attribute expands to a plain `#[test]` that calls [`run`] once, so everything a
//! simloop test does lives here, in ordinary functions you may also call yourself:
//!
//! - **One run** (no `seeds`, no `replay`): the body on a fresh loop, in FIFO order, without
//!   a trace. If it fails (an error, a [`LoopError`], a panic), it runs once more with the
//!   trace on, and the test fails with the error and the last [`TRACE_TAIL`] lines of that
//!   trace. So a passing test never pays for tracing.
//! - **Exploration** (`seeds = N`): [`explore`] over the seeds `0..N` (or `SIMLOOP_SEEDS`,
//!   which overrides them) with the test's [`Search`] and timer jitter. A failure is shrunk
//!   and reported with its seed, its replay token, the attribute line that pins it as a
//!   regression test, and the trace tail of the shrunk run.
//! - **Systematic** (`exhaustive`, `max_delays = K`): [`exhaust`] runs every schedule with at
//!   most K delays (2 if not told), each once, fewest delays first. A pass prints the
//!   coverage sentence ("every schedule with at most 2 delays: 25 runs, complete" for three tasks that yield
//!   twice each); a failure
//!   is the failing schedule with the fewest delays, reported like an exploration's.
//!   `SIMLOOP_SEEDS` does not change it.
//! - **Replay** (`replay = "S1:..."`, or `SIMLOOP_REPLAY=<token>` for every simloop test):
//!   the body once under that schedule ([`Explore::replay`]); a failure is reported with the
//!   trace tail. `SIMLOOP_REPLAY` wins over the attribute's `replay` and `seeds`; the
//!   attribute's `replay` wins over `SIMLOOP_SEEDS`.
//!
//! `SIMLOOP_SEEDS` changes only tests that explore: a test without `seeds` pins the FIFO
//! order of the contract, which exploration would rightly reorder. (simloop-tokio's
//! `#[tokio::test]`, which has no `seeds`, explores under `SIMLOOP_SEEDS`.)
//!
//! [`run`] reads the two variables; [`check`] takes their values as a [`TestEnv`] and returns
//! the report instead of panicking, so a test can show what a variable does without setting
//! it for the whole process:
//!
//! ```
//! use simloop::testing::{check, TestConfig, TestEnv};
//! use std::cell::Cell;
//! use std::rc::Rc;
//!
//! // A lost update that the FIFO order hides (see `explore`).
//! let body = |lp: &mut simloop::EventLoop| {
//!     lp.run_until_complete(async {
//!         let counter = Rc::new(Cell::new(0));
//!         let c = counter.clone();
//!         let a = simloop::spawn(async move { c.set(c.get() + 1) });
//!         let c = counter.clone();
//!         let b = simloop::spawn(async move {
//!             let seen = c.get();
//!             simloop::yield_now().await;
//!             c.set(seen + 1);
//!         });
//!         let _ = (a.await, b.await);
//!         assert_eq!(counter.get(), 2, "lost update");
//!     })
//! };
//! let config = TestConfig::new("demo::lost_update");
//! // One FIFO run: passes.
//! assert_eq!(check(&config, &TestEnv::default(), body), Ok(()));
//! // As if run with SIMLOOP_REPLAY=S1:1: the schedule of the bug.
//! let env = TestEnv { replay: Some("S1:1".into()), ..TestEnv::default() };
//! let report = check(&config, &env, body).unwrap_err();
//! assert!(report.contains("lost update"));
//! // Exploring 20 seeds (`seeds = 20`) finds it and says how to pin it.
//! let report = check(&config.clone().seeds(20), &TestEnv::default(), body).unwrap_err();
//! assert!(report.contains("#[simloop::test(replay = \"S1:1\")]"), "{report}");
//! ```

//!
//! ## Misuse does not compile
//!
//! The attribute checks its arguments and the function at compile time, with the error on
//! the offending tokens (`simloop-macros`' unit tests pin each message and where it points).
//! An unknown argument:
//!
//! ```compile_fail
//! #[simloop::test(seed = 3)] // error: unknown argument `seed`; the arguments are ...
//! async fn t() {}
//! # fn main() {}
//! ```
//!
//! A duration that does not parse:
//!
//! ```compile_fail
//! #[simloop::test(time_limit = "1 hour")] // error: `hour` in `1 hour` is not a unit of time
//! async fn t() {}
//! # fn main() {}
//! ```
//!
//! A function that is neither `async` nor takes the loop:
//!
//! ```compile_fail
//! #[simloop::test] // error: ... add `async`, or take the loop as the parameter
//! fn t() {}
//! # fn main() {}
//! ```
//!
//! A generic function:
//!
//! ```compile_fail
//! #[simloop::test] // error: a #[simloop::test] cannot be generic
//! async fn t<T: Default>() {}
//! # fn main() {}
//! ```
//!
//! And, for contrast, what compiles:
//!
//! ```
//! #[simloop::test(seeds = 20, strategy = pct(2), jitter = "1ms", time_limit = "1h")]
//! async fn explored() {}
//!
//! #[simloop::test(replay = "S1:z2.1", step_limit = 10_000, panic_policy = report, trace)]
//! fn pinned(lp: &mut simloop::EventLoop) -> Result<(), simloop::LoopError> {
//!     lp.run()
//! }
//! # fn main() {}
//! ```

use std::fmt;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::explore::parse_seeds;
use crate::task::panic::panic_message;
use crate::{
    exhaust, explore, Builder, EventLoop, Explore, Failure, LoopError, PanicPolicy, Schedule,
    Search,
};

/// How many lines of the trace a failure report shows (the last ones): the events that led
/// to the failure. The `trace` argument shows all of them.
pub const TRACE_TAIL: usize = 40;

/// The settings of one simloop test: what `#[simloop::test(...)]`'s arguments say. Built
/// with [`TestConfig::new`] and its setters, which the attribute calls.
#[derive(Clone, Debug)]
pub struct TestConfig {
    name: String,
    seeds: Option<u64>,
    search: Option<Search>,
    jitter: Option<Duration>,
    replay: Option<String>,
    time_limit: Option<Duration>,
    step_limit: Option<u64>,
    trace: bool,
    panic_policy: PanicPolicy,
    pin_args: String,
    /// `exhaustive` (with `max_delays = K`, or 2): the systematic search.
    exhaustive: Option<Option<u32>>,
}

impl TestConfig {
    /// A test named `path`, its module path and function name as `module_path!()` gives
    /// them (`my_crate::tests::retries`; the crate's name is dropped in reports, as libtest
    /// drops it). One FIFO run, default loop settings.
    pub fn new(path: &str) -> TestConfig {
        let name = path.split_once("::").map_or(path, |(_, rest)| rest);
        TestConfig {
            name: name.to_string(),
            seeds: None,
            search: None,
            jitter: None,
            replay: None,
            time_limit: None,
            step_limit: None,
            trace: false,
            panic_policy: PanicPolicy::Fail,
            pin_args: String::new(),
            exhaustive: None,
        }
    }

    /// `exhaustive`: every schedule with at most 2 delays ([`Explore::exhaustive`]), or
    /// [`max_delays`](Self::max_delays) of them; a pass prints the coverage sentence.
    pub fn exhaustive(mut self) -> TestConfig {
        self.exhaustive = Some(self.exhaustive.flatten());
        self
    }

    /// `max_delays = K`: the delay bound of the systematic search (turns it on).
    pub fn max_delays(mut self, k: u32) -> TestConfig {
        self.exhaustive = Some(Some(k));
        self
    }

    /// `seeds = N`: explore the schedules of seeds `0..n` (`SIMLOOP_SEEDS` overrides the
    /// range).
    pub fn seeds(mut self, n: u64) -> TestConfig {
        self.seeds = Some(n);
        self
    }

    /// `strategy = ...`: which schedules an exploration tries (default [`Search::Mixed`]
    /// with depth 3, as [`Explore::new`]).
    pub fn search(mut self, search: Search) -> TestConfig {
        self.search = Some(search);
        self
    }

    /// `jitter = "1ms"`: an exploration lets timers fire up to `max` late
    /// ([`Explore::timer_jitter`]).
    pub fn jitter(mut self, max: Duration) -> TestConfig {
        self.jitter = Some(max);
        self
    }

    /// `replay = "S1:..."`: run only the schedule of this replay token (checked when the test
    /// runs: a token that does not parse fails the test).
    pub fn replay(mut self, token: &str) -> TestConfig {
        self.replay = Some(token.to_string());
        self
    }

    /// `time_limit = "1h"`: [`Builder::time_limit`].
    pub fn time_limit(mut self, limit: Duration) -> TestConfig {
        self.time_limit = Some(limit);
        self
    }

    /// `step_limit = N`: [`Builder::step_limit`].
    pub fn step_limit(mut self, steps: u64) -> TestConfig {
        self.step_limit = Some(steps);
        self
    }

    /// `trace`: record every run's trace; print it after a passing run (libtest shows it with
    /// `--nocapture`), and put all of it, not only its tail, in a failure report.
    pub fn trace(mut self, on: bool) -> TestConfig {
        self.trace = on;
        self
    }

    /// `panic_policy = fail|report`: [`Builder::panic_policy`].
    pub fn panic_policy(mut self, policy: PanicPolicy) -> TestConfig {
        self.panic_policy = policy;
        self
    }

    /// The attribute's arguments that a pinned replay keeps (the loop settings, e.g.
    /// `time_limit = "1h"`), as source text: the report's line to paste puts them after
    /// `replay = "..."`.
    pub fn pin_args(mut self, args: &str) -> TestConfig {
        self.pin_args = args.to_string();
        self
    }

    /// The test's name, as reports print it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The loop settings of every run (the schedule and tracing are set per run).
    pub fn builder(&self) -> Builder {
        let mut builder = EventLoop::builder().panic_policy(self.panic_policy);
        if let Some(limit) = self.time_limit {
            builder = builder.time_limit(limit);
        }
        if let Some(steps) = self.step_limit {
            builder = builder.step_limit(steps);
        }
        builder
    }

    /// The attribute line that pins `token`.
    fn pin_line(&self, token: &str) -> String {
        if self.pin_args.is_empty() {
            format!("#[simloop::test(replay = \"{token}\")]")
        } else {
            format!("#[simloop::test(replay = \"{token}\", {})]", self.pin_args)
        }
    }
}

/// The environment variables a simloop test reads, as values: [`TestEnv::from_process`]
/// reads them; a test of the variables builds one by hand and passes it to [`check`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestEnv {
    /// `SIMLOOP_SEEDS=start..end`: the seed range of tests that explore.
    pub seeds: Option<String>,
    /// `SIMLOOP_REPLAY=<token>`: the one schedule every simloop test runs.
    pub replay: Option<String>,
}

impl TestEnv {
    /// `SIMLOOP_SEEDS` and `SIMLOOP_REPLAY` from the process environment.
    pub fn from_process() -> TestEnv {
        TestEnv {
            seeds: std::env::var("SIMLOOP_SEEDS").ok(),
            replay: std::env::var("SIMLOOP_REPLAY").ok(),
        }
    }
}

/// What a test body returns: `()`, or a `Result<(), E>` whose `Err` fails the test (printed
/// with `Debug`, as `#[test]` prints it).
#[diagnostic::on_unimplemented(
    message = "a #[simloop::test] returns `()` or `Result<(), E>` with `E: Debug`, not `{Self}`",
    label = "the test function returns `{Self}`"
)]
pub trait TestOutput {
    /// `Err` with the failure's text if the output is a failure.
    fn into_result(self) -> Result<(), String>;
}

impl TestOutput for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: fmt::Debug> TestOutput for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| format!("Error: {e:?}"))
    }
}

/// Runs a simloop test: [`check`] with the process's `SIMLOOP_SEEDS` and `SIMLOOP_REPLAY`,
/// panicking with the report if the test fails. `#[simloop::test]` expands to a `#[test]`
/// that calls this, with `body` running the test function on the loop it is given (an
/// `async fn` through [`EventLoop::run_until_complete`]; a `fn(&mut EventLoop)` directly,
/// its result wrapped in `Ok`).
///
/// # Panics
/// With the failure report, if the test fails.
#[track_caller]
pub fn run<T: TestOutput>(
    config: &TestConfig,
    body: impl FnMut(&mut EventLoop) -> Result<T, LoopError>,
) {
    if let Err(report) = check(config, &TestEnv::from_process(), body) {
        panic!("{report}");
    }
}

/// Runs a simloop test under the environment `env` (see the [module docs](self) for the
/// three modes) and returns its failure report, if it failed.
///
/// `body` must run the same way every time it is called (it runs several times when
/// exploring, and again to record the trace of a failure); it builds what it needs on the
/// loop it is given.
///
/// # Errors
/// The failure report: the test's name, its error (an `Err` of the test, a [`LoopError`], or
/// a panic), the schedule and how to replay or pin it, and the tail of the trace.
pub fn check<T: TestOutput>(
    config: &TestConfig,
    env: &TestEnv,
    mut body: impl FnMut(&mut EventLoop) -> Result<T, LoopError>,
) -> Result<(), String> {
    let mut scenario = |lp: &mut EventLoop| -> Result<(), String> {
        match body(lp) {
            Ok(out) => out.into_result(),
            Err(e) => Err(e.to_string()),
        }
    };
    let name = config.name();
    if let Some(token) = &env.replay {
        return replay(config, token, "SIMLOOP_REPLAY", &mut scenario);
    }
    if let Some(token) = &config.replay {
        return replay(config, token, "the `replay` argument", &mut scenario);
    }
    if let Some(max_delays) = config.exhaustive {
        return exhaustive_search(config, max_delays, &mut scenario);
    }
    if let Some(n) = config.seeds {
        let (seeds, from) = match &env.seeds {
            Some(value) => (
                parse_seeds(value).map_err(|e| format!("simloop test `{name}`: {e}"))?,
                " (SIMLOOP_SEEDS)",
            ),
            None => (0..n, ""),
        };
        return explore_seeds(config, seeds, from, &mut scenario);
    }
    if config.trace {
        return traced_run(config, Schedule::Fifo, None, &mut scenario);
    }
    let fifo = Explore::new()
        .builder(config.builder())
        .replay(Schedule::Fifo);
    match explore(&fifo, &mut scenario) {
        Ok(_) => Ok(()),
        Err(failure) => {
            let mut report = format!("simloop test `{name}` failed: {}\n", failure.message);
            describe_replayed(
                config,
                &failure,
                "failing run, replayed with tracing",
                &mut report,
            );
            Err(report)
        }
    }
}

/// A run of `schedule` that is traced from the start (the `trace` argument): the trace is
/// printed if it passes, reported whole if it fails.
fn traced_run(
    config: &TestConfig,
    schedule: Schedule,
    replayed: Option<&str>,
    scenario: &mut impl FnMut(&mut EventLoop) -> Result<(), String>,
) -> Result<(), String> {
    let name = config.name();
    let mut lp = config.builder().schedule(schedule).trace(true).build();
    let outcome = catch_unwind(AssertUnwindSafe(|| scenario(&mut lp)));
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(payload) => Some(format!("panicked: {}", panic_message(&*payload))),
    };
    let trace = lp.trace().to_string();
    let Some(message) = failure else {
        println!("simloop test `{name}`: trace of the run:\n{trace}");
        return Ok(());
    };
    let mut report = match replayed {
        Some(token) => {
            format!("simloop test `{name}` failed under the replayed schedule {token}: {message}\n")
        }
        None => format!("simloop test `{name}` failed: {message}\n"),
    };
    if let Some(mismatch) = lp.replay_mismatch() {
        report.push_str(&format!("warning: {mismatch}\n"));
    }
    push_trace(&mut report, "run", &trace, true);
    Err(report)
}

/// The replay mode: `token` (from `source`) once.
fn replay(
    config: &TestConfig,
    token: &str,
    source: &str,
    scenario: &mut impl FnMut(&mut EventLoop) -> Result<(), String>,
) -> Result<(), String> {
    let name = config.name();
    let schedule: Schedule = token
        .parse()
        .map_err(|e| format!("simloop test `{name}`: {source}: {e}"))?;
    if config.trace {
        return traced_run(config, schedule, Some(token), scenario);
    }
    let pinned = Explore::new().builder(config.builder()).replay(schedule);
    match explore(&pinned, scenario) {
        Ok(_) => Ok(()),
        Err(failure) => {
            let mut report = format!(
                "simloop test `{name}` failed under the replayed schedule {token} (from \
                 {source}): {}\n",
                failure.message
            );
            if source == "SIMLOOP_REPLAY" && failure.not_reproduced.is_none() {
                report.push_str(&format!(
                    "pin it as a regression test:\n    {}\n",
                    config.pin_line(token)
                ));
            }
            describe_replayed(config, &failure, "replayed run", &mut report);
            Err(report)
        }
    }
}

/// The systematic mode: every schedule up to the delay bound; a pass prints how complete it
/// was, a failure (the one with the fewest delays) reports its token like an exploration's.
fn exhaustive_search(
    config: &TestConfig,
    max_delays: Option<u32>,
    scenario: &mut impl FnMut(&mut EventLoop) -> Result<(), String>,
) -> Result<(), String> {
    let name = config.name();
    let mut search = Explore::exhaustive().builder(config.builder());
    if let Some(k) = max_delays {
        search = search.max_delays(k);
    }
    if let Some(j) = config.jitter {
        search = search.timer_jitter(j);
    }
    let failure = match exhaust(&search, scenario) {
        Ok(coverage) => {
            println!("simloop test `{name}`: {coverage}");
            return Ok(());
        }
        Err(failure) => failure,
    };
    let mut report = format!(
        "simloop test `{name}` failed under the systematic search (run {}): {}\n",
        failure.runs, failure.message
    );
    if let Some(coverage) = &failure.coverage {
        report.push_str(&format!("searched: {coverage}\n"));
    }
    Err(found(
        config,
        &failure,
        report,
        "the fewest delays of any failing schedule",
        "failing run",
    ))
}

/// The exploration mode.
fn explore_seeds(
    config: &TestConfig,
    seeds: Range<u64>,
    from: &str,
    scenario: &mut impl FnMut(&mut EventLoop) -> Result<(), String>,
) -> Result<(), String> {
    let name = config.name();
    let mut search = Explore::new()
        .builder(config.builder())
        .seeds(seeds.clone())
        .ignoring_seeds_env();
    if let Some(s) = config.search {
        search = search.strategy(s);
    }
    if let Some(j) = config.jitter {
        search = search.timer_jitter(j);
    }
    let failure = match explore(&search, scenario) {
        Ok(_) => return Ok(()),
        Err(failure) => failure,
    };
    let seed = failure.seed.map_or("?".to_string(), |s| s.to_string());
    let report = format!(
        "simloop test `{name}` failed under the schedule of seed {seed} (run {} of seeds \
         {seeds:?}{from}): {}\n",
        failure.runs, failure.message
    );
    let choices = |s: &Schedule| match s.choices().map_or(0, <[u32]>::len) {
        1 => "1 choice".to_string(),
        n => format!("{n} choices"),
    };
    let shrunk = format!(
        "shrunk from {} to {} in {} runs",
        choices(&failure.original),
        choices(&failure.schedule),
        failure.shrink_runs,
    );
    Err(found(config, &failure, report, &shrunk, "shrunk run"))
}

/// The rest of the report of a failure a search found (`report` holds its first lines): the
/// token (`about` it, in parentheses), the line that pins it, the command that replays it,
/// and the trace of the `what` run; or, if it did not reproduce, why it is not trusted.
fn found(
    config: &TestConfig,
    failure: &Failure,
    mut report: String,
    about: &str,
    what: &str,
) -> String {
    if failure.not_reproduced.is_some() {
        describe_replayed(config, failure, "", &mut report);
        return report;
    }
    let (name, token) = (config.name(), failure.schedule.to_string());
    report.push_str(&format!(
        "replay token: {token}   ({about})\n\
         pin it as a regression test:\n    {}\n\
         or replay it once: SIMLOOP_REPLAY='{token}' cargo test -- {name} --exact\n",
        config.pin_line(&token),
    ));
    describe_replayed(config, failure, what, &mut report);
    report
}

/// The rest of a report from `explore`'s failure: a warning if the replayed token did not
/// fit, why the failure is not trusted if it did not reproduce, and the trace (`what` run's).
fn describe_replayed(config: &TestConfig, failure: &Failure, what: &str, report: &mut String) {
    if let Some(mismatch) = &failure.replay_mismatch {
        report.push_str(&format!("warning: {mismatch}\n"));
    }
    if let Some(not) = &failure.not_reproduced {
        report.push_str(&not.to_string());
        push_trace(report, "first replay", &failure.trace, config.trace);
        return;
    }
    push_trace(report, what, &failure.trace, config.trace);
}

/// Appends the trace of the `what` run: whole, or its last [`TRACE_TAIL`] lines.
fn push_trace(report: &mut String, what: &str, trace: &str, whole: bool) {
    let lines: Vec<&str> = trace.lines().collect();
    if whole || lines.len() <= TRACE_TAIL {
        report.push_str(&format!("trace of the {what}:\n"));
        for line in &lines {
            report.push_str(line);
            report.push('\n');
        }
        return;
    }
    report.push_str(&format!(
        "trace of the {what} (the last {TRACE_TAIL} of {} lines; the `trace` argument shows \
         all of them):\n",
        lines.len()
    ));
    for line in &lines[lines.len() - TRACE_TAIL..] {
        report.push_str(line);
        report.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_drop_the_crate() {
        assert_eq!(TestConfig::new("my_crate::a::b").name(), "a::b");
        assert_eq!(TestConfig::new("lonely").name(), "lonely");
    }

    #[test]
    fn pin_lines_keep_the_loop_settings() {
        let config = TestConfig::new("c::t");
        assert_eq!(
            config.pin_line("S1:1"),
            "#[simloop::test(replay = \"S1:1\")]"
        );
        let config = config.pin_args("time_limit = \"1h\", trace");
        assert_eq!(
            config.pin_line("S1:z2.1"),
            "#[simloop::test(replay = \"S1:z2.1\", time_limit = \"1h\", trace)]"
        );
    }

    #[test]
    fn trace_tails_keep_the_last_lines() {
        let trace: String = (1..=50).map(|i| format!("line {i}\n")).collect();
        let mut report = String::new();
        push_trace(&mut report, "run", &trace, false);
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(lines.len(), TRACE_TAIL + 1);
        assert_eq!(
            lines[0],
            "trace of the run (the last 40 of 50 lines; the `trace` argument shows all of them):"
        );
        assert_eq!(lines[1], "line 11");
        assert_eq!(lines[TRACE_TAIL], "line 50");
        let mut whole = String::new();
        push_trace(&mut whole, "run", &trace, true);
        assert_eq!(whole.lines().count(), 51);
    }
}
