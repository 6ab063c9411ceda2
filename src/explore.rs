//! Running a scenario under many schedules: [`check_determinism`] and [`explore`].

use std::fmt;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::error::panic_message;
use crate::{Builder, EventLoop, Instant, Schedule, Trace, TraceEvent};

/// Where two runs of the same scenario first differed; see [`check_determinism`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The index of the first differing event in the traces.
    pub index: usize,
    /// The first run's event there (`None` if its trace ended first).
    pub first: Option<TraceEvent>,
    /// The second run's event there (`None` if its trace ended first).
    pub second: Option<TraceEvent>,
    /// What both runs did before they diverged; the report shows its last lines.
    pub before: Trace,
}

impl Divergence {
    /// The virtual instant of the first difference.
    pub fn at(&self) -> Instant {
        self.first
            .as_ref()
            .or(self.second.as_ref())
            .map_or(Instant::ZERO, |e| e.at)
    }
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |e: &Option<TraceEvent>| {
            e.as_ref().map_or_else(
                || "(the trace ends)".to_string(),
                |e| format!("{} at {} in iteration {}", e.event, e.at, e.iteration),
            )
        };
        write!(
            f,
            "two runs of the same scenario diverge at event #{} ({}): the first run has {}, \
             the second {}; something outside the loop (a global, the wall clock, OS \
             randomness, HashMap order) decides what happens",
            self.index,
            self.at(),
            show(&self.first),
            show(&self.second)
        )?;
        let timeline = self.before.to_string();
        let lines: Vec<&str> = timeline.lines().collect();
        if !lines.is_empty() {
            writeln!(
                f,
                "\nboth runs, up to there (last {} events):",
                lines.len().min(12)
            )?;
            for line in &lines[lines.len().saturating_sub(12)..] {
                writeln!(f, "{line}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Divergence {}

/// Runs `scenario` twice on loops built from `settings` (with tracing on) and compares the
/// traces, event by event.
///
/// ```
/// use simloop::{check_determinism, EventLoop};
/// use std::time::Duration;
///
/// let result = check_determinism(&EventLoop::builder(), |lp| {
///     lp.call_later(Duration::from_secs(1), || simloop::mark("tick"));
///     lp.run().unwrap();
/// });
/// assert!(result.is_ok());
/// ```
///
/// # Errors
/// The first [`Divergence`] between the two runs.
pub fn check_determinism<R>(
    settings: &Builder,
    scenario: impl Fn(&mut EventLoop) -> R,
) -> Result<(), Box<Divergence>> {
    let run = || {
        let mut lp = settings.clone().trace(true).build();
        let _ = scenario(&mut lp);
        lp.trace().events().to_vec()
    };
    let (a, b) = (run(), run());
    let index = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .or((a.len() != b.len()).then(|| a.len().min(b.len())));
    match index {
        None => Ok(()),
        Some(index) => Err(Box::new(Divergence {
            index,
            first: a.get(index).cloned(),
            second: b.get(index).cloned(),
            before: Trace {
                events: a[..index].to_vec(),
            },
        })),
    }
}

/// Which schedules [`explore`] tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
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

impl Strategy {
    /// The schedule of `seed`; PCT places its change points among `steps` decisions.
    fn schedule(self, seed: u64, steps: u64) -> Schedule {
        match self {
            Strategy::Random => Schedule::random(seed),
            Strategy::Pct { depth } => Schedule::pct_steps(seed, depth, steps),
            Strategy::Mixed { depth } if seed % 2 == 1 => Schedule::pct_steps(seed, depth, steps),
            Strategy::Mixed { .. } => Schedule::random(seed),
        }
    }

    fn uses_pct(self) -> bool {
        !matches!(self, Strategy::Random)
    }
}

/// Settings for [`explore`].
///
/// ```
/// use simloop::{Explore, Strategy};
///
/// let config = Explore::new().runs(500).strategy(Strategy::Pct { depth: 2 });
/// # drop(config);
/// ```
#[derive(Clone, Debug)]
pub struct Explore {
    runs: u64,
    strategy: Strategy,
    seeds: Option<Range<u64>>,
    builder: Builder,
    jitter: Option<Duration>,
    shrink_runs: u32,
    chunk: Option<(u64, u64)>,
}

impl Explore {
    /// 1000 runs, [`Strategy::Mixed`] with depth 3, default loop settings.
    pub fn new() -> Explore {
        Explore {
            runs: 1000,
            strategy: Strategy::Mixed { depth: 3 },
            seeds: None,
            builder: Builder::default(),
            jitter: None,
            shrink_runs: 1000,
            chunk: None,
        }
    }

    /// How many schedules to try (seeds `0..runs`, unless [`seeds`](Self::seeds) or the
    /// `SIMLOOP_SEEDS` environment variable say otherwise).
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
    pub fn strategy(mut self, strategy: Strategy) -> Explore {
        self.strategy = strategy;
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

    /// Covers only chunk `index` of `count` of the seed range (see [`seed_chunk`]), applied
    /// after `SIMLOOP_SEEDS`: a sweep written as `count` tests, one per chunk, is spread over
    /// machines by `cargo nextest run --partition hash:k/n` and covers the range exactly once.
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
    /// If `SIMLOOP_SEEDS` is set but is not `start..end`.
    pub fn seed_range(&self) -> Range<u64> {
        let range = match seeds_from_env() {
            Some(range) => range,
            None => self.seeds.clone().unwrap_or(0..self.runs),
        };
        match self.chunk {
            Some((index, count)) => seed_chunk(range, index, count),
            None => range,
        }
    }

    fn schedule_for(&self, seed: u64, steps: u64) -> Schedule {
        let schedule = self.strategy.schedule(seed, steps);
        match self.jitter {
            Some(j) => schedule.with_timer_jitter(j),
            None => schedule,
        }
    }

    /// Runs the scenario once under `schedule`: the failure message, if it failed, and the
    /// loop. Only the run that goes into the report is traced.
    fn run_once<E: fmt::Display>(
        &self,
        schedule: Schedule,
        traced: bool,
        scenario: &impl Fn(&mut EventLoop) -> Result<(), E>,
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
/// If the variable is set but is not of that form.
pub fn seeds_from_env() -> Option<Range<u64>> {
    let value = std::env::var("SIMLOOP_SEEDS").ok()?;
    match parse_seeds(&value) {
        Some(range) => Some(range),
        None => panic!("SIMLOOP_SEEDS must look like 'start..end' (e.g. 0..1000), not '{value}'"),
    }
}

fn parse_seeds(value: &str) -> Option<Range<u64>> {
    let (start, end) = value.split_once("..")?;
    let (start, end) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    (start <= end).then_some(start..end)
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

/// What [`explore`] did when every schedule passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explored {
    /// How many schedules ran.
    pub runs: u64,
}

/// A failing schedule found by [`explore`], shrunk. `Display` is the report.
#[derive(Clone, PartialEq, Eq)]
pub struct Failure {
    /// The seed whose schedule failed first.
    pub seed: u64,
    /// How many runs it took to find it (the failing one included).
    pub runs: u64,
    /// The failure of the shrunk run: the scenario's error, or its panic.
    pub message: String,
    /// The shrunk failing schedule; replay it with [`Builder::schedule`].
    pub schedule: Schedule,
    /// The schedule of the first failing run, before shrinking.
    pub original: Schedule,
    /// How many runs shrinking took.
    pub shrink_runs: u32,
    /// The text timeline of the shrunk failing run.
    pub trace: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |s: &Schedule| s.choices().map_or(0, <[u32]>::len);
        writeln!(
            f,
            "simloop::explore: the scenario failed under the schedule of seed {} (run {}): {}",
            self.seed, self.runs, self.message
        )?;
        writeln!(
            f,
            "replay token: {}   (shrunk from {} choices to {} in {} runs; replay with \
             Builder::schedule(\"{}\".parse().unwrap()))",
            self.schedule,
            count(&self.original),
            count(&self.schedule),
            self.shrink_runs,
            self.schedule
        )?;
        writeln!(f, "trace of the shrunk run:")?;
        f.write_str(&self.trace)
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Failure {}

/// Runs `scenario` under many schedules and stops at the first failure: an `Err`, or a
/// panic. The failing choice list is then shrunk (choices dropped, lowered toward 0, the tail
/// cut) while it still fails, and returned as a [`Failure`] with its replay token and trace.
///
/// The scenario builds its world on the loop it is given, runs it, and checks its
/// invariants. Every run is deterministic, so a failure replays exactly.
///
/// ```
/// use simloop::{explore, Explore};
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// // Two tasks append to a log; the scenario insists that 'a' comes first.
/// let failure = explore(&Explore::new().runs(200), |lp| {
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
/// ```
///
/// # Errors
/// The shrunk [`Failure`], if a schedule failed.
pub fn explore<E: fmt::Display>(
    config: &Explore,
    scenario: impl Fn(&mut EventLoop) -> Result<(), E>,
) -> Result<Explored, Box<Failure>> {
    // PCT needs the length of a run to place its change points: measure it once, the same
    // way for every seed range, so a seed always means the same schedule.
    let steps = if config.strategy.uses_pct() {
        let (_, lp) = config.run_once(Schedule::random(u64::MAX), false, &scenario);
        lp.schedule_taken().choices().map_or(0, <[u32]>::len).max(1) as u64
    } else {
        1
    };
    let mut runs = 0;
    for seed in config.seed_range() {
        runs += 1;
        let (failure, lp) = config.run_once(config.schedule_for(seed, steps), false, &scenario);
        let Some(message) = failure else {
            continue;
        };
        let original = lp.schedule_taken();
        drop(lp);
        let (schedule, message, trace, shrink_runs) =
            shrink(config, &scenario, original.clone(), message);
        return Err(Box::new(Failure {
            seed,
            runs,
            message,
            schedule,
            original,
            shrink_runs,
            trace,
        }));
    }
    Ok(Explored { runs })
}

/// Shrinks a failing replay schedule: returns the smallest failing schedule found, with its
/// message, trace, and the number of runs spent.
fn shrink<E: fmt::Display>(
    config: &Explore,
    scenario: &impl Fn(&mut EventLoop) -> Result<(), E>,
    failing: Schedule,
    message: String,
) -> (Schedule, String, String, u32) {
    let jitter = config.jitter;
    let with_jitter = |choices: Vec<u32>| {
        let s = Schedule::from_choices(choices);
        match jitter {
            Some(j) => s.with_timer_jitter(j),
            None => s,
        }
    };
    let size = |c: &[u32]| (c.len(), c.iter().map(|&x| u64::from(x)).sum::<u64>());
    let mut best: Vec<u32> = failing.choices().unwrap_or_default().to_vec();
    let mut best_message = message;
    let mut spent = 0;
    'improve: while spent < config.shrink_runs {
        for candidate in candidates(&best) {
            if spent >= config.shrink_runs {
                break 'improve;
            }
            spent += 1;
            let (failure, lp) = config.run_once(with_jitter(candidate), false, scenario);
            let Some(m) = failure else {
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
    // The report's run, traced. Runs are deterministic, so it fails the same way.
    let (failure, lp) = config.run_once(with_jitter(best.clone()), true, scenario);
    spent += 1;
    let message = failure.unwrap_or(best_message);
    (with_jitter(best), message, lp.trace().to_string(), spent)
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
        assert_eq!(parse_seeds("0..1000"), Some(0..1000));
        assert_eq!(parse_seeds(" 5 .. 7 "), Some(5..7));
        assert_eq!(parse_seeds("7..7"), Some(7..7));
        assert_eq!(parse_seeds("9..3"), None);
        assert_eq!(parse_seeds("0-1000"), None);
        assert_eq!(parse_seeds("a..b"), None);
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
