//! Running a scenario under many schedules: [`check_determinism`] and [`explore`].

mod determinism;
pub(crate) mod exhaustive;
#[cfg(feature = "proptest")]
pub mod proptest;
mod report;

use std::fmt;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use self::determinism::divergence;
pub use self::determinism::{check_determinism, Divergence};
pub use self::exhaustive::{exhaust, Coverage};
use self::report::REPLAYS;
pub use self::report::{Explored, Failure, NotReproduced};
use crate::task::panic::panic_message;
use crate::{Builder, EventLoop, Schedule};

/// Which schedules [`explore`] tries.
///
/// (It was called `Strategy`, which clashed with the `Strategy` trait that
/// `use proptest::prelude::*` brings into scope; the old name is a deprecated alias for one
/// release.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// [`Schedule::random`] for every seed.
    Random,
    /// [`Schedule::pct`] with this bug depth for every seed.
    Pct {
        /// The number of ordering constraints a bug needs to show.
        depth: u32,
    },
    /// Random for even seeds, PCT with this depth for odd ones. The default, with depth 3.
    Mixed {
        /// The PCT depth.
        depth: u32,
    },
}

impl Search {
    /// The schedule of `seed`; PCT places its change points among `steps` decisions.
    fn schedule(self, seed: u64, steps: u64) -> Schedule {
        match self {
            Search::Random => Schedule::random(seed),
            Search::Pct { depth } => Schedule::pct_steps(seed, depth, steps),
            Search::Mixed { depth } if seed % 2 == 1 => Schedule::pct_steps(seed, depth, steps),
            Search::Mixed { .. } => Schedule::random(seed),
        }
    }

    fn uses_pct(self) -> bool {
        !matches!(self, Search::Random)
    }
}

/// Settings for [`explore`].
///
/// ```
/// use simloop::{Explore, Search};
///
/// let config = Explore::new().runs(500).strategy(Search::Pct { depth: 2 });
/// # drop(config);
/// ```
#[derive(Clone, Debug)]
pub struct Explore {
    runs: u64,
    search: Search,
    seeds: Option<Range<u64>>,
    builder: Builder,
    jitter: Option<Duration>,
    shrink_runs: u32,
    chunk: Option<(u64, u64)>,
    replay: Option<Schedule>,
    jitter_steps: Option<u32>,
    /// Set by [`Explore::exhaustive`]: the systematic search.
    exhaustive: Option<exhaustive::Settings>,
    /// Whether `SIMLOOP_SEEDS` overrides the seeds (always, but for `#[simloop::test]`'s
    /// runner, which reads the variable itself: `testing::check` takes it as a value).
    seeds_env: bool,
}

impl Explore {
    /// 1000 runs, [`Search::Mixed`] with depth 3, default loop settings.
    pub fn new() -> Explore {
        Explore {
            runs: 1000,
            search: Search::Mixed { depth: 3 },
            seeds: None,
            builder: Builder::default(),
            jitter: None,
            shrink_runs: 1000,
            chunk: None,
            replay: None,
            jitter_steps: None,
            exhaustive: None,
            seeds_env: true,
        }
    }

    /// The systematic search, run by [`exhaust`] (or [`explore`]): every schedule of the
    /// scenario's choice tree with at most [`max_delays`](Self::max_delays) delays (2 unless
    /// told), by iterative deepening on the delays, each schedule once, fewest delays
    /// first; no run budget unless [`runs`](Self::runs) sets one. Every choice counts: the
    /// order of task steps, of timers due at the same instant, timer jitter (quantised into
    /// [`jitter_steps`](Self::jitter_steps)), and [`choose`](crate::choose) (simloop-tokio's
    /// `select!`).
    ///
    /// A schedule's *delays* are the sum of its choices: taking option `c` of a decision (0
    /// being FIFO) skips the `c` candidates before it. `n` tasks of one step each have `n!`
    /// schedules, `n(n-1)/2` delays at most. See [`Coverage`] for what the result says.
    ///
    /// ```
    /// use simloop::{exhaust, Explore};
    ///
    /// let config = Explore::exhaustive().max_delays(2);
    /// let coverage = exhaust(&config, |lp| {
    ///     for _ in 0..4 {
    ///         lp.spawn(async { simloop::yield_now().await });
    ///     }
    ///     lp.run()
    /// })
    /// .unwrap();
    /// assert!(coverage.to_string().starts_with("every schedule with at most 2 delays: "));
    /// ```
    pub fn exhaustive() -> Explore {
        Explore {
            runs: u64::MAX,
            exhaustive: Some(exhaustive::Settings::default()),
            ..Explore::new()
        }
    }

    /// The delay bound of the systematic search ([`exhaustive`](Self::exhaustive)): schedules
    /// with at most `k` delays. Turns the systematic search on.
    pub fn max_delays(self, k: u32) -> Explore {
        self.systematic(|s| s.max_delays = Some(k))
    }

    /// No delay bound: the systematic search runs the whole choice tree (or until the run
    /// budget). Turns the systematic search on.
    pub fn unbounded(self) -> Explore {
        self.systematic(|s| s.max_delays = None)
    }

    /// Partial-order reduction for the systematic search: schedules that only reorder steps
    /// that commute run once. The scenario promises to declare, with
    /// [`access`](crate::access) and [`access_read`](crate::access_read), every access a
    /// step makes to state another step touches (a step that declares nothing touches
    /// nothing shared); what the loop sees itself (wakes, spawns, timers, callbacks, choices,
    /// task completion) it counts without being told. Sleep sets; see
    /// [`Coverage::reduced`]. Turns the systematic search on.
    ///
    /// The reduced search finds every failure the plain one finds when both run the whole
    /// tree; under a delay bound it runs the representatives with at most that many delays.
    pub fn reduce(self) -> Explore {
        self.systematic(|s| s.reduce = true)
    }

    /// Turns the systematic search on (with no run budget, unless one is set later) and
    /// changes one of its settings.
    fn systematic(mut self, set: impl FnOnce(&mut exhaustive::Settings)) -> Explore {
        if self.exhaustive.is_none() {
            self.runs = u64::MAX;
        }
        let settings = self.exhaustive.get_or_insert_with(Default::default);
        set(settings);
        self
    }

    /// How many steps timer jitter is quantised into (see [`Schedule::with_jitter_steps`]);
    /// default 10. With [`timer_jitter`](Self::timer_jitter).
    ///
    /// # Panics
    /// If `steps` is 0.
    pub fn jitter_steps(mut self, steps: u32) -> Explore {
        assert!(steps > 0, "timer jitter needs at least one step");
        self.jitter_steps = Some(steps);
        self
    }

    /// The systematic search's run budget, if any.
    fn budget(&self) -> Option<u64> {
        (self.runs != u64::MAX).then_some(self.runs)
    }

    /// `schedule` with this exploration's timer jitter.
    fn with_jitter(&self, schedule: Schedule) -> Schedule {
        match self.jitter {
            Some(j) => {
                let schedule = schedule.with_timer_jitter(j);
                match self.jitter_steps {
                    Some(steps) => schedule.with_jitter_steps(steps),
                    None => schedule,
                }
            }
            None => schedule,
        }
    }

    /// How many schedules to try (seeds `0..runs`, unless [`seeds`](Self::seeds) or the
    /// `SIMLOOP_SEEDS` environment variable say otherwise). For the systematic search
    /// ([`exhaustive`](Self::exhaustive)), the run budget: it stops there and says how far
    /// it got.
    pub fn runs(mut self, runs: u64) -> Explore {
        self.runs = runs;
        self
    }

    /// The seeds to try. `SIMLOOP_SEEDS=start..end` in the environment overrides this, so a
    /// sweep can be split over processes and machines.
    pub fn seeds(mut self, seeds: Range<u64>) -> Explore {
        self.seeds = Some(seeds);
        self
    }

    /// Which schedules to try.
    pub fn strategy(mut self, search: Search) -> Explore {
        self.search = search;
        self
    }

    /// The settings of every loop (its schedule and tracing are set by `explore`).
    pub fn builder(mut self, builder: Builder) -> Explore {
        self.builder = builder;
        self
    }

    /// Lets timers fire up to `max` late, chosen by the schedule.
    pub fn timer_jitter(mut self, max: Duration) -> Explore {
        self.jitter = Some(max);
        self
    }

    /// Runs only `schedule` (e.g. the token of an earlier report, to pin a regression test),
    /// instead of searching: no seeds, no shrinking. A failure is replayed once more to check
    /// that it reproduces, and reported with the token and the trace. A token that does not
    /// fit the scenario (see [`ReplayMismatch`](crate::ReplayMismatch)) puts a warning line in the report; when the
    /// run passes, [`Explored::replay_mismatch`] has it (and it is printed to stderr).
    ///
    /// ```
    /// use simloop::{explore, Explore};
    ///
    /// let config = Explore::new().replay("S1:1".parse().unwrap());
    /// let explored = explore(&config, |lp| {
    ///     lp.spawn(async {});
    ///     lp.spawn(async {});
    ///     lp.run()
    /// })
    /// .unwrap();
    /// assert_eq!((explored.runs, explored.replay_mismatch), (1, None));
    /// ```
    pub fn replay(mut self, schedule: Schedule) -> Explore {
        self.replay = Some(schedule);
        self
    }

    /// Covers only chunk `index` of `count` of the seed range (see [`seed_chunk`]), applied
    /// after `SIMLOOP_SEEDS`: a sweep written as `count` tests, one per chunk, is spread over
    /// machines by `cargo nextest run --partition hash:k/n` and covers the range exactly once.
    /// For the systematic search ([`exhaustive`](Self::exhaustive)), chunk `index` of a
    /// partition of the choice tree by prefix: the chunks check exactly the schedules of the
    /// whole search, each once (see [`exhaust`]).
    ///
    /// ```
    /// use simloop::Explore;
    ///
    /// let third = Explore::new().seeds(0..10).chunk(2, 3);
    /// assert_eq!(third.seed_range(), 7..10);
    /// ```
    ///
    /// # Panics
    /// If `index >= count`.
    pub fn chunk(mut self, index: u64, count: u64) -> Explore {
        assert!(
            index < count,
            "Explore::chunk: chunk {index} of {count} does not exist (index must be < count)"
        );
        self.chunk = Some((index, count));
        self
    }

    /// How many runs shrinking may take. Default 1000.
    pub fn shrink_runs(mut self, runs: u32) -> Explore {
        self.shrink_runs = runs;
        self
    }

    /// The seeds this exploration covers: `SIMLOOP_SEEDS` if set, else the configured ones;
    /// then this exploration's [`chunk`](Self::chunk) of them.
    ///
    /// # Panics
    /// If `SIMLOOP_SEEDS` is set but is not `start..end` with `end > start`.
    pub fn seed_range(&self) -> Range<u64> {
        let from_env = if self.seeds_env {
            seeds_from_env()
        } else {
            None
        };
        let range = match from_env {
            Some(range) => range,
            None => self.seeds.clone().unwrap_or(0..self.runs),
        };
        match self.chunk {
            Some((index, count)) => seed_chunk(range, index, count),
            None => range,
        }
    }

    /// Takes the seeds as configured, ignoring `SIMLOOP_SEEDS` (whose value the caller has
    /// already applied).
    pub(crate) fn ignoring_seeds_env(mut self) -> Explore {
        self.seeds_env = false;
        self
    }

    fn schedule_for(&self, seed: u64, steps: u64) -> Schedule {
        self.with_jitter(self.search.schedule(seed, steps))
    }

    /// The replay of `choices`, with this exploration's timer jitter.
    fn replay_of(&self, choices: Vec<u32>) -> Schedule {
        self.with_jitter(Schedule::from_choices(choices))
    }

    /// Runs the scenario once under `schedule`: the failure message, if it failed, and the
    /// loop. Only runs whose trace may be shown are traced.
    fn run_once<E: fmt::Display>(
        &self,
        schedule: Schedule,
        traced: bool,
        scenario: &mut impl FnMut(&mut EventLoop) -> Result<(), E>,
    ) -> (Option<String>, EventLoop) {
        let mut lp = self
            .builder
            .clone()
            .schedule(schedule)
            .trace(traced)
            .build();
        let outcome = catch_unwind(AssertUnwindSafe(|| scenario(&mut lp)));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(payload) => Some(format!("panicked: {}", panic_message(&*payload))),
        };
        (failure, lp)
    }
}

impl Default for Explore {
    fn default() -> Self {
        Explore::new()
    }
}

/// `SIMLOOP_SEEDS=start..end`, if set.
///
/// # Panics
/// If the variable is set but is not of that form, or is an empty range (`5..5`): a sweep
/// over it would run nothing and pass.
pub fn seeds_from_env() -> Option<Range<u64>> {
    let value = std::env::var("SIMLOOP_SEEDS").ok()?;
    match parse_seeds(&value) {
        Ok(range) => Some(range),
        Err(message) => panic!("{message}"),
    }
}

pub(crate) fn parse_seeds(value: &str) -> Result<Range<u64>, String> {
    let malformed =
        || format!("SIMLOOP_SEEDS must look like 'start..end' (e.g. 0..1000), not '{value}'");
    let (start, end) = value.split_once("..").ok_or_else(malformed)?;
    let start: u64 = start.trim().parse().map_err(|_| malformed())?;
    let end: u64 = end.trim().parse().map_err(|_| malformed())?;
    if end <= start {
        return Err(format!(
            "SIMLOOP_SEEDS='{value}' is an empty range, which would run no schedule and pass: \
             the end must be past the start (e.g. {start}..{})",
            start.saturating_add(1)
        ));
    }
    Ok(start..end)
}

/// The `index`-th of `count` contiguous, disjoint chunks that together cover `range` exactly,
/// in order; their sizes differ by at most one (the first `len % count` chunks take one more
/// seed).
///
/// A sweep split into `count` tests gives test `index` this chunk of the range, so a test
/// partitioner (`cargo nextest run --partition hash:k/n`) spreads the seeds over machines:
///
/// ```
/// use simloop::seed_chunk;
///
/// assert_eq!(seed_chunk(0..10, 0, 3), 0..4);
/// assert_eq!(seed_chunk(0..10, 1, 3), 4..7);
/// assert_eq!(seed_chunk(0..10, 2, 3), 7..10);
/// // 100,000 seeds over 64 tests: 32 chunks of 1563 seeds, then 32 of 1562.
/// assert_eq!(seed_chunk(0..100_000, 0, 64), 0..1563);
/// assert_eq!(seed_chunk(0..100_000, 63, 64), 98_438..100_000);
/// // More chunks than seeds: the surplus chunks are empty.
/// assert!(seed_chunk(5..7, 3, 4).is_empty());
///
/// // In a sweep test: the range from `SIMLOOP_SEEDS`, or a small default.
/// let seeds = seed_chunk(simloop::seeds_from_env().unwrap_or(0..640), 5, 64);
/// # drop(seeds);
/// ```
///
/// # Panics
/// If `count` is 0 or `index >= count`.
#[must_use]
pub fn seed_chunk(range: Range<u64>, index: u64, count: u64) -> Range<u64> {
    assert!(
        index < count,
        "seed_chunk: chunk {index} of {count} does not exist (index must be < count)"
    );
    let len = range.end.saturating_sub(range.start);
    let (base, extra) = (len / count, len % count);
    // Chunks before `index`: `index` of size `base`, and `min(index, extra)` of them one more.
    let start = range.start + index * base + index.min(extra);
    let size = base + u64::from(index < extra);
    start..start + size
}

/// Runs `scenario` under many schedules and stops at the first failure: an `Err`, or a
/// panic. The failure is replayed, to check that it reproduces; then the failing choice list
/// is shrunk (choices dropped, lowered toward 0, the tail cut) while it still fails the same
/// way (the same message, numbers aside), replayed once more, and returned as a [`Failure`]
/// with its replay token and trace.
///
/// The scenario builds its world on the loop it is given, runs it, and checks its
/// invariants. It must be deterministic: a failure that does not repeat under its own
/// schedule is reported as such ([`Failure::not_reproduced`]), without a token. It may keep
/// state across calls (`FnMut`), e.g. to count runs, as long as that state does not change
/// what a run does.
///
/// ```
/// use simloop::{explore, Explore};
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// // Two tasks append to a log; the scenario insists that 'a' comes first.
/// let mut runs = 0;
/// let failure = explore(&Explore::new().runs(200), |lp| {
///     runs += 1;
///     let log = Rc::new(Cell::new(0u32));
///     let l = log.clone();
///     lp.spawn(async move { if l.get() == 0 { l.set(1) } });
///     let l = log.clone();
///     lp.spawn(async move { if l.get() == 0 { l.set(2) } });
///     lp.run().map_err(|e| e.to_string())?;
///     if log.get() == 1 { Ok(()) } else { Err("b ran first".to_string()) }
/// })
/// .unwrap_err();
/// assert_eq!(failure.message, "b ran first");
/// assert_eq!(failure.schedule.to_string(), "S1:1");
/// assert!(runs > failure.runs); // the search, the replay, shrinking and the last replay
/// ```
///
/// # Errors
/// The shrunk [`Failure`], if a schedule failed.
///
/// # Panics
/// If `SIMLOOP_SEEDS` is set but malformed or empty (see [`seeds_from_env`]).
pub fn explore<E: fmt::Display>(
    config: &Explore,
    mut scenario: impl FnMut(&mut EventLoop) -> Result<(), E>,
) -> Result<Explored, Box<Failure>> {
    if let Some(schedule) = &config.replay {
        return replay_pinned(config, schedule.clone(), &mut scenario);
    }
    if config.exhaustive.is_some() {
        return exhaust(config, scenario).map(|coverage| Explored {
            runs: coverage.runs,
            replay_mismatch: None,
        });
    }
    // PCT needs the length of a run to place its change points: measure it once, the same
    // way for every seed range, so a seed always means the same schedule.
    let steps = if config.search.uses_pct() {
        let (_, lp) = config.run_once(Schedule::random(u64::MAX), false, &mut scenario);
        lp.schedule_taken().choices().map_or(0, <[u32]>::len).max(1) as u64
    } else {
        1
    };
    let mut runs = 0;
    for seed in config.seed_range() {
        runs += 1;
        let (failure, lp) = config.run_once(config.schedule_for(seed, steps), false, &mut scenario);
        let Some(message) = failure else {
            continue;
        };
        let original = lp.schedule_taken();
        drop(lp);
        let found = Found {
            seed: Some(seed),
            runs,
            message,
            original,
        };
        return Err(Box::new(investigate(config, &mut scenario, found)));
    }
    Ok(Explored {
        runs,
        replay_mismatch: None,
    })
}

/// `explore` under [`Explore::replay`]: one run of the given schedule.
fn replay_pinned<E: fmt::Display>(
    config: &Explore,
    schedule: Schedule,
    scenario: &mut impl FnMut(&mut EventLoop) -> Result<(), E>,
) -> Result<Explored, Box<Failure>> {
    let (failure, lp) = config.run_once(schedule.clone(), false, scenario);
    let replay_mismatch = lp.replay_mismatch();
    drop(lp);
    let Some(message) = failure else {
        if let Some(mismatch) = &replay_mismatch {
            eprintln!("simloop::explore: warning: {mismatch}");
        }
        return Ok(Explored {
            runs: 1,
            replay_mismatch,
        });
    };
    let found = Found {
        seed: None,
        runs: 1,
        message,
        original: schedule,
    };
    Err(Box::new(investigate(config, scenario, found)))
}

/// A failing run, as the search found it.
struct Found {
    /// `None` for a pinned replay, which is not shrunk.
    seed: Option<u64>,
    runs: u64,
    message: String,
    /// Its schedule: the choices it took, or the pinned replay.
    original: Schedule,
}

/// From a failing run to the report: replay it, shrink it (unless pinned), replay the shrunk
/// schedule for the report.
fn investigate<E: fmt::Display>(
    config: &Explore,
    scenario: &mut impl FnMut(&mut EventLoop) -> Result<(), E>,
    found: Found,
) -> Failure {
    let not_reproduced = |lp: &EventLoop, not: NotReproduced, schedule: Schedule, spent| Failure {
        seed: found.seed,
        runs: found.runs,
        message: found.message.clone(),
        schedule,
        original: found.original.clone(),
        shrink_runs: spent,
        trace: lp.trace().to_string(),
        not_reproduced: Some(not),
        replay_mismatch: lp.replay_mismatch(),
        coverage: None,
    };
    // A deterministic scenario fails again under the same schedule, word for word.
    let (replay, lp) = config.run_once(found.original.clone(), true, scenario);
    if replay.as_deref() != Some(found.message.as_str()) {
        let not = diagnose(
            config,
            scenario,
            &found.original,
            &found.message,
            replay,
            &lp,
        );
        return not_reproduced(&lp, not, found.original.clone(), 0);
    }
    if found.seed.is_none() {
        // A pinned replay is not shrunk: this run is the report's.
        return Failure {
            seed: None,
            runs: 1,
            message: found.message.clone(),
            schedule: lp.schedule_taken(),
            original: found.original.clone(),
            shrink_runs: 0,
            trace: lp.trace().to_string(),
            not_reproduced: None,
            replay_mismatch: lp.replay_mismatch(),
            coverage: None,
        };
    }
    drop(lp);
    let (best, best_message, spent) = shrink(config, scenario, &found.original, &found.message);
    // The report's run, traced: the shrunk schedule, which shrinking saw fail, once more.
    let shrunk = config.replay_of(best);
    let (last, lp) = config.run_once(shrunk.clone(), true, scenario);
    let spent = spent + 1;
    if last.as_deref() != Some(best_message.as_str()) {
        let mut not = diagnose(config, scenario, &shrunk, &best_message, last, &lp);
        not.after_shrinking = true;
        return not_reproduced(&lp, not, shrunk, spent);
    }
    Failure {
        seed: found.seed,
        runs: found.runs,
        message: best_message,
        schedule: shrunk,
        original: found.original.clone(),
        shrink_runs: spent,
        trace: lp.trace().to_string(),
        not_reproduced: None,
        replay_mismatch: lp.replay_mismatch(),
        coverage: None,
    }
}

/// A schedule's failure did not repeat in the replay `first` (of the traced loop `lp`):
/// replays it (traced) until one repeats the failure or [`REPLAYS`] have run, and finds where
/// a failing run and a passing one differ, else two replays that differ.
fn diagnose<E: fmt::Display>(
    config: &Explore,
    scenario: &mut impl FnMut(&mut EventLoop) -> Result<(), E>,
    schedule: &Schedule,
    expected: &str,
    first: Option<String>,
    lp: &EventLoop,
) -> NotReproduced {
    let repeats = |m: &Option<String>| m.as_deref() == Some(expected);
    let mut runs = vec![(first, lp.trace().events().to_vec())];
    while runs.len() < REPLAYS && !runs.iter().any(|(m, _)| repeats(m)) {
        let (m, lp) = config.run_once(schedule.clone(), true, scenario);
        runs.push((m, lp.trace().events().to_vec()));
    }
    let pair = match runs.iter().position(|(m, _)| repeats(m)) {
        Some(failing) => Some((failing, 0)),
        None => runs
            .iter()
            .position(|(_, t)| *t != runs[0].1)
            .map(|i| (0, i)),
    };
    let divergence =
        pair.and_then(|(a, b)| divergence(&runs[a].1, &runs[b].1).map(|d| (a, b, Box::new(d))));
    NotReproduced {
        after_shrinking: false,
        expected: expected.to_string(),
        replays: runs.into_iter().map(|(m, _)| m).collect(),
        divergence,
    }
}

/// A failure message with every number blanked out (`#`): two failures of the same kind,
/// e.g. "counter is 1, not 2" and "counter is 3, not 4", have the same class.
fn message_class(message: &str) -> String {
    let bytes = message.as_bytes();
    let mut out = String::with_capacity(message.len());
    let mut in_number = false;
    for (i, c) in message.char_indices() {
        let digit = c.is_ascii_digit();
        // A decimal point inside a number belongs to it ("2.5s").
        let point = c == '.' && in_number && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if digit || point {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// Shrinks a failing replay schedule: the smallest schedule found that fails the same way
/// (a message of the same class), with its message, and the number of runs spent.
fn shrink<E: fmt::Display>(
    config: &Explore,
    scenario: &mut impl FnMut(&mut EventLoop) -> Result<(), E>,
    failing: &Schedule,
    message: &str,
) -> (Vec<u32>, String, u32) {
    let class = message_class(message);
    let size = |c: &[u32]| (c.len(), c.iter().map(|&x| u64::from(x)).sum::<u64>());
    let mut best: Vec<u32> = failing.choices().unwrap_or_default().to_vec();
    let mut best_message = message.to_string();
    let mut spent = 0;
    'improve: while spent < config.shrink_runs {
        for candidate in candidates(&best) {
            if spent >= config.shrink_runs {
                break 'improve;
            }
            spent += 1;
            let (failure, lp) = config.run_once(config.replay_of(candidate), false, scenario);
            // A smaller schedule that fails otherwise shows another failure, not this one.
            let Some(m) = failure.filter(|m| message_class(m) == class) else {
                continue;
            };
            let taken = lp.schedule_taken().choices().unwrap_or_default().to_vec();
            if size(&taken) < size(&best) {
                best = taken;
                best_message = m;
                continue 'improve;
            }
        }
        break;
    }
    (best, best_message, spent)
}

/// Smaller variants of a choice list, most promising first: shorter prefixes, runs of
/// choices removed (halves, quarters, ... down to single choices, at every position, since
/// removing one choice shifts the later ones onto other decisions), then each choice set to
/// every smaller value.
fn candidates(best: &[u32]) -> Vec<Vec<u32>> {
    let n = best.len();
    let mut out = Vec::new();
    let mut len = n / 2;
    while len < n {
        out.push(best[..len].to_vec());
        len += (n - len).div_ceil(2).max(1);
    }
    let mut width = n.div_ceil(2);
    while width >= 1 {
        for start in (0..=n - width).rev() {
            let mut v = best[..start].to_vec();
            v.extend_from_slice(&best[start + width..]);
            out.push(v);
        }
        if width == 1 {
            break;
        }
        width /= 2;
    }
    for i in 0..n {
        for smaller in 0..best[i] {
            let mut v = best.to_vec();
            v[i] = smaller;
            out.push(v);
        }
    }
    out
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_parse_as_start_dot_dot_end() {
        assert_eq!(parse_seeds("0..1000"), Ok(0..1000));
        assert_eq!(parse_seeds(" 5 .. 7 "), Ok(5..7));
        assert_eq!(parse_seeds("7..8"), Ok(7..8));
        for bad in ["0-1000", "a..b", "..5", "5.."] {
            assert_eq!(
                parse_seeds(bad),
                Err(format!(
                    "SIMLOOP_SEEDS must look like 'start..end' (e.g. 0..1000), not '{bad}'"
                ))
            );
        }
    }

    #[test]
    fn an_empty_seed_range_is_an_error() {
        assert_eq!(
            parse_seeds("5..5"),
            Err(
                "SIMLOOP_SEEDS='5..5' is an empty range, which would run no schedule and \
                 pass: the end must be past the start (e.g. 5..6)"
                    .to_string()
            )
        );
        assert_eq!(
            parse_seeds("9..3"),
            Err(
                "SIMLOOP_SEEDS='9..3' is an empty range, which would run no schedule and \
                 pass: the end must be past the start (e.g. 9..10)"
                    .to_string()
            )
        );
    }

    #[test]
    fn message_classes_blank_out_numbers() {
        assert_eq!(message_class("counter is 1, not 2"), "counter is #, not #");
        assert_eq!(
            message_class("the loop stalled at 2.5s: task #12 waits"),
            "the loop stalled at #s: task ## waits"
        );
        assert_eq!(message_class("v1.x. 3."), "v#.x. #.");
        assert_eq!(
            message_class("panicked: b ran first"),
            "panicked: b ran first"
        );
        assert_ne!(message_class("panicked: x"), message_class("x"));
    }

    #[test]
    fn shrink_candidates_are_all_smaller() {
        let best = vec![0, 3, 0, 1];
        let size = |c: &[u32]| (c.len(), c.iter().sum::<u32>());
        let all = candidates(&best);
        assert!(all.iter().all(|c| size(c) < size(&best)));
        assert!(all.contains(&vec![0, 3]));
        assert!(all.contains(&vec![0, 1]));
        assert!(all.contains(&vec![0, 0, 0, 1]));
        assert!(all.contains(&vec![0, 1, 0, 1]));
        assert!(all.contains(&vec![0, 2, 0, 1]));
    }
}
