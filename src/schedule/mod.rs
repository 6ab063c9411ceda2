//! How the loop decides what its ordering contract leaves open, and how those decisions are
//! recorded and replayed.
//!
//! Every decision is a choice `choose(n) -> 0..n` where 0 is the FIFO choice. A schedule is
//! the list of choices; a missing choice is 0. The loop asks for a choice only where the
//! contract leaves room (see [`Schedule`]), and records every choice it took.

pub(crate) mod guided;
pub(crate) mod rng;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::schedule::guided::{Guide, Guided};
use crate::schedule::rng::Rng;
use crate::time::instant::nanos;

/// The policy that orders what the ordering contract leaves open.
///
/// [`Schedule::Fifo`], the default, is the contract itself: one FIFO ready queue, equal
/// deadlines in registration order. Other schedules may reorder, within one iteration, task
/// steps among each other and relative to callbacks, and timers with equal deadlines;
/// callbacks always keep their order relative to each other. With
/// [`with_timer_jitter`](Schedule::with_timer_jitter) each timer may also fire up to a bounded
/// delay late, as on a busy machine.
///
/// ```
/// use simloop::{EventLoop, Schedule};
///
/// let mut lp = EventLoop::builder().schedule(Schedule::random(7)).build();
/// lp.spawn(async { simloop::yield_now().await });
/// lp.spawn(async {});
/// lp.run().unwrap();
/// // The choices this run took, as a replay token: build a loop with the parsed token and
/// // the run repeats exactly.
/// let token = lp.schedule_taken().to_string();
/// let replay: Schedule = token.parse().unwrap();
/// assert_eq!(replay, lp.schedule_taken());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Schedule {
    source: Source,
    jitter: Option<Duration>,
    /// How many steps the jitter is quantised into: a timer chooses among `jitter_steps + 1`
    /// levels, 0, max/steps, ..., max.
    jitter_steps: u32,
}

#[derive(Clone, PartialEq, Eq, Debug)]
enum Source {
    Fifo,
    Random {
        seed: u64,
    },
    Pct {
        seed: u64,
        depth: u32,
        steps: u64,
    },
    Choices(Vec<u32>),
    Bytes(Vec<u8>),
    /// The systematic search's schedule: follow a prefix, then the first choice not put to
    /// sleep (the FIFO one without reduction), recording every decision's options.
    Guided(Guide),
}

/// How many steps a PCT schedule assumes a run takes, unless told (`pct_steps`).
const PCT_STEPS: u64 = 64;

/// How many steps the timer jitter is quantised into unless told: a timer chooses among the
/// 11 levels 0, max/10, ..., max.
pub(crate) const JITTER_STEPS: u32 = 10;

impl Schedule {
    /// Everything in FIFO order: the ordering contract, as CPython's asyncio runs it.
    #[allow(non_upper_case_globals)]
    pub const Fifo: Schedule = Schedule {
        source: Source::Fifo,
        jitter: None,
        jitter_steps: JITTER_STEPS,
    };

    /// Uniformly random choices from a generator seeded with `seed`.
    pub fn random(seed: u64) -> Schedule {
        Schedule {
            source: Source::Random { seed },
            jitter: None,
            jitter_steps: JITTER_STEPS,
        }
    }

    /// Probabilistic concurrency testing: every task gets a random priority, the ready task
    /// with the highest priority runs first, and at `depth - 1` random steps the running task
    /// drops to the lowest priority. Finds a bug that needs `depth` ordering constraints with
    /// probability at least 1/(n·k^(depth-1)) per run (n tasks, k steps), when the change
    /// points are placed among the run's real k steps: this assumes 64; [`explore`] measures
    /// k and uses [`pct_steps`](Self::pct_steps).
    ///
    /// [`explore`]: crate::explore
    ///
    /// # Panics
    /// If `depth` is 0.
    pub fn pct(seed: u64, depth: u32) -> Schedule {
        Schedule::pct_steps(seed, depth, PCT_STEPS)
    }

    /// [`pct`](Self::pct) with the change points placed among the first `steps` decisions.
    ///
    /// # Panics
    /// If `depth` or `steps` is 0.
    pub fn pct_steps(seed: u64, depth: u32, steps: u64) -> Schedule {
        assert!(depth > 0, "a PCT schedule needs a depth of at least 1");
        assert!(steps > 0, "a PCT schedule needs at least one step");
        Schedule {
            source: Source::Pct { seed, depth, steps },
            jitter: None,
            jitter_steps: JITTER_STEPS,
        }
    }

    /// Replays a list of choices: the `i`-th decision takes `choices[i]` (modulo the number
    /// of options); past the end of the list every choice is 0. A list that does not fit the
    /// run (choices left over at its end, or out of range) is reported by
    /// [`EventLoop::replay_mismatch`](crate::EventLoop::replay_mismatch).
    pub fn from_choices(choices: Vec<u32>) -> Schedule {
        Schedule {
            source: Source::Choices(choices),
            jitter: None,
            jitter_steps: JITTER_STEPS,
        }
    }

    /// Choices read from fuzzer bytes, with the mapping of
    /// `arbitrary::Unstructured::choose_index`; once the bytes run out every choice is 0.
    pub fn from_bytes(bytes: &[u8]) -> Schedule {
        Schedule {
            source: Source::Bytes(bytes.to_vec()),
            jitter: None,
            jitter_steps: JITTER_STEPS,
        }
    }

    /// Lets every timer fire up to `max` late (in tenths of `max`, one choice per timer).
    pub fn with_timer_jitter(mut self, max: Duration) -> Schedule {
        // Clamped to what an `Instant` can express, so the token round-trips.
        let max = Duration::from_nanos(nanos(max));
        self.jitter = (!max.is_zero()).then_some(max);
        self
    }

    /// Quantises the timer jitter into `steps` steps: each timer chooses one of the
    /// `steps + 1` extra delays `0, max/steps, 2·max/steps, ..., max` (default 10). Fewer
    /// steps make fewer schedules, which matters to the systematic search
    /// ([`Explore::exhaustive`](crate::Explore::exhaustive)): with 1 step a timer is either on
    /// time or `max` late. The replay token carries it (`~<nanos>/<steps>`).
    ///
    /// ```
    /// use simloop::Schedule;
    /// use std::time::Duration;
    ///
    /// let s = Schedule::from_choices(vec![1])
    ///     .with_timer_jitter(Duration::from_millis(2))
    ///     .with_jitter_steps(1);
    /// assert_eq!(s.to_string(), "S1:1~2000000/1");
    /// assert_eq!(s.to_string().parse::<Schedule>().unwrap(), s);
    /// ```
    ///
    /// # Panics
    /// If `steps` is 0.
    pub fn with_jitter_steps(mut self, steps: u32) -> Schedule {
        assert!(steps > 0, "timer jitter needs at least one step");
        self.jitter_steps = steps;
        self
    }

    /// The systematic search's schedule of one run.
    pub(crate) fn guided(guide: Guide) -> Schedule {
        Schedule {
            source: Source::Guided(guide),
            jitter: None,
            jitter_steps: JITTER_STEPS,
        }
    }

    /// True for the FIFO schedule without jitter, which makes no choices at all.
    pub fn is_fifo(&self) -> bool {
        self.source == Source::Fifo && self.jitter.is_none()
    }

    /// The choices of a replay schedule (`from_choices`, or one read back from a loop).
    pub fn choices(&self) -> Option<&[u32]> {
        match &self.source {
            Source::Choices(c) => Some(c),
            _ => None,
        }
    }

    pub(crate) fn chooser(&self) -> Chooser {
        let source = match &self.source {
            Source::Guided(guide) => Live::Guided(Box::new(Guided::new(guide.clone()))),
            Source::Fifo => Live::Fifo,
            Source::Random { seed } => Live::Random(Rng::new(*seed)),
            Source::Pct { seed, depth, steps } => {
                let mut rng = Rng::new(*seed);
                // More change points than steps could never all land.
                let count = u64::from(depth - 1).min(*steps);
                let mut change_points: Vec<u64> =
                    (0..count).map(|_| 1 + rng.next_u64() % steps).collect();
                change_points.sort_unstable();
                Live::Pct(Pct {
                    rng,
                    depth: *depth,
                    priorities: BTreeMap::new(),
                    change_points,
                    changed: 0,
                    steps: 0,
                })
            }
            Source::Choices(c) => Live::Choices(c.clone(), 0),
            Source::Bytes(b) => Live::Bytes(b.clone(), 0),
        };
        let fifo = self.is_fifo();
        Chooser {
            fifo,
            source,
            // An exploring run records a choice per decision: room for a small scenario's
            // at once, instead of a reallocation every doubling (FIFO records none).
            taken: if fifo {
                Vec::new()
            } else {
                Vec::with_capacity(64)
            },
            jitter: self.jitter,
            jitter_steps: self.jitter_steps,
            out_of_range: Vec::new(),
        }
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::Fifo
    }
}

/// The replay token: `S1` for a list of choices (`z<n>` stands for `n` zeros, `.` separates
/// items, trailing zeros are dropped), `fifo`, `random:<seed>`, `pct:<seed>:<depth>[:<steps>]`,
/// or `bytes:<hex>`; each may end with `~<nanos>` for timer jitter.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            // Never shown to users (the loop reports the choices taken), but say what it is.
            Source::Guided(guide) => {
                write!(
                    f,
                    "{}",
                    Schedule::from_choices(guide.prefix.clone()).source_token()
                )?;
            }
            Source::Fifo => f.write_str("fifo")?,
            Source::Random { seed } => write!(f, "random:{seed}")?,
            Source::Pct {
                seed,
                depth,
                steps: PCT_STEPS,
            } => write!(f, "pct:{seed}:{depth}")?,
            Source::Pct { seed, depth, steps } => write!(f, "pct:{seed}:{depth}:{steps}")?,
            Source::Bytes(b) => {
                f.write_str("bytes:")?;
                for byte in b {
                    write!(f, "{byte:02x}")?;
                }
            }
            Source::Choices(c) => {
                f.write_str("S1")?;
                let end = c.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1);
                let mut zeros = 0;
                let mut sep = ":";
                for &x in &c[..end] {
                    if x == 0 {
                        zeros += 1;
                        continue;
                    }
                    if zeros > 0 {
                        if zeros == 1 {
                            write!(f, "{sep}0")?;
                        } else {
                            write!(f, "{sep}z{zeros}")?;
                        }
                        sep = ".";
                        zeros = 0;
                    }
                    write!(f, "{sep}{x}")?;
                    sep = ".";
                }
            }
        }
        if let Some(j) = self.jitter {
            write!(f, "~{}", nanos(j))?;
            if self.jitter_steps != JITTER_STEPS {
                write!(f, "/{}", self.jitter_steps)?;
            }
        }
        Ok(())
    }
}

impl Schedule {
    /// The token without its jitter part.
    fn source_token(&self) -> String {
        Schedule {
            source: self.source.clone(),
            jitter: None,
            jitter_steps: JITTER_STEPS,
        }
        .to_string()
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({self})")
    }
}

/// Why a replay token did not parse: the token, and which part of it is wrong.
///
/// ```
/// let err = "S1:x".parse::<simloop::Schedule>().unwrap_err();
/// assert_eq!(err.reason(), "'x' is not a number");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseScheduleError {
    token: String,
    reason: String,
}

impl ParseScheduleError {
    /// Which part of the token is wrong, e.g. `'x' is not a number`.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ParseScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a schedule token: {} (expected e.g. 'S1:z3.1.2', 'fifo', 'random:7', \
             'pct:7:3' or 'bytes:0a1b', optionally followed by '~<jitter nanos>')",
            self.token, self.reason
        )
    }
}

impl std::error::Error for ParseScheduleError {}

impl FromStr for Schedule {
    type Err = ParseScheduleError;

    fn from_str(s: &str) -> Result<Schedule, ParseScheduleError> {
        parse_token(s.trim()).map_err(|reason| ParseScheduleError {
            token: s.to_string(),
            reason,
        })
    }
}

/// Parses a trimmed token; the error says which part is wrong.
fn parse_token(s: &str) -> Result<Schedule, String> {
    let (body, jitter, jitter_steps) = match s.split_once('~') {
        Some((body, j)) => match j.split_once('/') {
            Some((j, steps)) => {
                let steps: u32 = number(steps)?;
                if steps == 0 {
                    return Err("timer jitter needs at least one step, not 0".to_string());
                }
                (body, Some(number::<u64>(j)?), steps)
            }
            None => (body, Some(number::<u64>(j)?), JITTER_STEPS),
        },
        None => (s, None, JITTER_STEPS),
    };
    let source = if body == "fifo" {
        Source::Fifo
    } else if let Some(seed) = body.strip_prefix("random:") {
        Source::Random {
            seed: number(seed)?,
        }
    } else if let Some(rest) = body.strip_prefix("pct:") {
        let parts: Vec<&str> = rest.split(':').collect();
        if parts.len() < 2 || parts.len() > 3 {
            return Err(format!(
                "a PCT token is 'pct:<seed>:<depth>' or 'pct:<seed>:<depth>:<steps>', and \
                 '{body}' has {} number{}",
                parts.len(),
                if parts.len() == 1 { "" } else { "s" }
            ));
        }
        let seed = number(parts[0])?;
        let depth: u32 = number(parts[1])?;
        let steps: u64 = match parts.get(2) {
            Some(p) => number(p)?,
            None => PCT_STEPS,
        };
        if depth == 0 {
            return Err("a PCT depth is at least 1, not 0".to_string());
        }
        if steps == 0 {
            return Err("a PCT step count is at least 1, not 0".to_string());
        }
        Source::Pct { seed, depth, steps }
    } else if let Some(hex) = body.strip_prefix("bytes:") {
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("'{hex}' is not hexadecimal"));
        }
        if hex.len() % 2 != 0 {
            return Err(format!(
                "'{hex}' has an odd number of hex digits (two per byte)"
            ));
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|e| e.to_string())?;
        Source::Bytes(bytes)
    } else if let Some(rest) = body.strip_prefix("S1") {
        let mut choices = Vec::new();
        let items = match rest.strip_prefix(':') {
            Some(items) => items,
            None if rest.is_empty() => rest,
            None => {
                return Err(format!(
                    "'S1' is followed by ':' and the choices, not by '{rest}'"
                ))
            }
        };
        for item in items.split('.').filter(|i| !i.is_empty()) {
            if let Some(n) = item.strip_prefix('z') {
                if n.is_empty() {
                    return Err("'z' needs a count of zeros after it (e.g. 'z3')".to_string());
                }
                let n: usize = number(n)?;
                if choices.len().saturating_add(n) > MAX_TOKEN_CHOICES {
                    return Err(format!(
                        "'{item}' makes the token longer than {MAX_TOKEN_CHOICES} choices"
                    ));
                }
                choices.extend(std::iter::repeat_n(0, n));
            } else {
                choices.push(number(item)?);
            }
        }
        Source::Choices(choices)
    } else if body.is_empty() {
        return Err("it is empty".to_string());
    } else {
        return Err(format!(
            "'{body}' begins with none of 'S1', 'fifo', 'random:', 'pct:' and 'bytes:'"
        ));
    };
    Ok(Schedule {
        source,
        jitter: jitter.map(Duration::from_nanos),
        jitter_steps,
    })
}

/// The most choices a token may expand to (a guard against `z4000000000`).
const MAX_TOKEN_CHOICES: usize = 1 << 24;

/// A plain decimal number: digits only (`str::parse` would accept a leading `+`).
fn number<T: FromStr>(s: &str) -> Result<T, String> {
    if s.is_empty() {
        return Err("a number is missing".to_string());
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{s}' is not a number"));
    }
    s.parse().map_err(|_| format!("'{s}' is too large"))
}

/// What a ready item is, for a schedule that weighs tasks (PCT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Candidate {
    /// The next callback (callbacks keep their order, so only the first is a candidate).
    Callback,
    /// A task step, by the task's id (`0` for the main future).
    Task(u64),
}

/// A schedule being taken: makes the choices and records them.
#[derive(Debug)]
pub(crate) struct Chooser {
    /// `is_fifo`, worked out once: the run loop asks several times per timer.
    fifo: bool,
    source: Live,
    taken: Vec<u32>,
    jitter: Option<Duration>,
    jitter_steps: u32,
    /// The replayed choices that named an option their decision did not have.
    out_of_range: Vec<OutOfRange>,
}

#[derive(Debug)]
enum Live {
    Fifo,
    Random(Rng),
    Pct(Pct),
    Choices(Vec<u32>, usize),
    Bytes(Vec<u8>, usize),
    Guided(Box<Guided>),
}

#[derive(Debug)]
struct Pct {
    rng: Rng,
    depth: u32,
    priorities: BTreeMap<u64, u64>,
    change_points: Vec<u64>,
    changed: usize,
    steps: u64,
}

impl Chooser {
    #[inline]
    pub(crate) fn is_fifo(&self) -> bool {
        self.fifo
    }

    /// A choice among `n` options (`n >= 2`), 0 being FIFO. Recorded.
    pub(crate) fn choose(&mut self, n: usize) -> usize {
        debug_assert!(n >= 2);
        let c = match &mut self.source {
            Live::Fifo => 0,
            Live::Random(rng) | Live::Pct(Pct { rng, .. }) => (rng.next_u64() % n as u64) as usize,
            Live::Choices(list, i) => {
                let c = match list.get(*i) {
                    Some(&c) if c as usize >= n => {
                        self.out_of_range.push(OutOfRange {
                            index: *i,
                            choice: c,
                            options: n,
                        });
                        c as usize % n
                    }
                    Some(&c) => c as usize,
                    None => 0,
                };
                *i += 1;
                c
            }
            Live::Bytes(bytes, pos) => choose_index(bytes, pos, n),
            Live::Guided(g) => g.choose_data(self.taken.len(), n),
        };
        self.taken.push(c as u32);
        c
    }

    /// Which ready item runs next, among `candidates` (the FIFO one first). Recorded like
    /// any choice.
    pub(crate) fn choose_item(&mut self, candidates: &[Candidate]) -> usize {
        if let Live::Guided(g) = &mut self.source {
            let c = g.choose_item(self.taken.len(), candidates);
            self.taken.push(c as u32);
            return c;
        }
        let Live::Pct(pct) = &mut self.source else {
            return self.choose(candidates.len());
        };
        pct.steps += 1;
        let depth = u64::from(pct.depth);
        let mut best = 0;
        let mut best_priority = 0;
        for (i, c) in candidates.iter().enumerate() {
            let priority = match c {
                // The next callback stands in at a fresh random priority each time.
                Candidate::Callback => depth + pct.rng.next_u64() % (u64::MAX / 2),
                Candidate::Task(id) => *pct
                    .priorities
                    .entry(*id)
                    .or_insert_with(|| depth + pct.rng.next_u64() % (u64::MAX / 2)),
            };
            if i == 0 || priority > best_priority {
                best = i;
                best_priority = priority;
            }
        }
        if pct.change_points.get(pct.changed) == Some(&pct.steps) {
            pct.changed += 1;
            if let Candidate::Task(id) = candidates[best] {
                pct.priorities.insert(id, depth - pct.changed as u64);
            }
        }
        self.taken.push(best as u32);
        best
    }

    /// The extra delay of a new timer.
    pub(crate) fn jitter(&mut self) -> Duration {
        match self.jitter {
            None => Duration::ZERO,
            Some(max) => {
                let steps = self.jitter_steps as usize;
                let level = self.choose(steps + 1) as u128;
                let extra = u128::from(nanos(max)) * level / steps as u128;
                Duration::from_nanos(extra as u64)
            }
        }
    }

    /// Every choice taken so far, as a replay schedule.
    pub(crate) fn taken(&self) -> Schedule {
        let mut choices = self.taken.clone();
        while choices.last() == Some(&0) {
            choices.pop();
        }
        Schedule {
            source: Source::Choices(choices),
            jitter: self.jitter,
            jitter_steps: self.jitter_steps,
        }
    }

    /// Whether the systematic search's bookkeeping wants to see every step (reduction).
    #[inline]
    pub(crate) fn observes(&self) -> bool {
        matches!(&self.source, Live::Guided(g) if g.guide.reduce)
    }

    /// The systematic search's bookkeeping, if this is its schedule.
    pub(crate) fn guided(&mut self) -> Option<&mut Guided> {
        match &mut self.source {
            Live::Guided(g) => Some(g),
            _ => None,
        }
    }
}

impl Chooser {
    /// How the replayed choices did not fit the decisions made so far, if they did not.
    pub(crate) fn mismatch(&self) -> Option<ReplayMismatch> {
        let Live::Choices(list, used) = &self.source else {
            return None;
        };
        // Trailing zeros mean what missing choices mean.
        let len = list.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
        let unused = len.saturating_sub(*used);
        if unused == 0 && self.out_of_range.is_empty() {
            return None;
        }
        Some(ReplayMismatch {
            schedule: Schedule {
                source: Source::Choices(list.clone()),
                jitter: self.jitter,
                jitter_steps: self.jitter_steps,
            },
            decisions: *used,
            unused,
            out_of_range: self.out_of_range.clone(),
        })
    }
}

/// A replayed choice that named an option its decision did not have; it counted as
/// `choice % options`. See [`ReplayMismatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfRange {
    /// Its position in the schedule, from 0 (`Display` counts from 1: "choice #1").
    pub index: usize,
    /// The choice the schedule gave.
    pub choice: u32,
    /// How many options the decision had.
    pub options: usize,
}

/// A replayed schedule ([`Schedule::from_choices`], or a parsed `S1` token) that does not fit
/// the run that replayed it: choices were left over when the run ended, or named an option
/// their decision did not have. Such a token was usually taken from another version of the
/// scenario (or another scenario), and no longer replays the run it was taken from. See
/// [`EventLoop::replay_mismatch`](crate::EventLoop::replay_mismatch).
///
/// ```
/// use simloop::EventLoop;
///
/// // Two tasks make one decision with two options; the token has eight choices of 3.
/// let mut lp = EventLoop::builder()
///     .schedule("S1:3.3.3.3.3.3.3.3".parse().unwrap())
///     .build();
/// lp.spawn(async {});
/// lp.spawn(async {});
/// lp.run().unwrap();
/// assert_eq!(lp.schedule_taken().to_string(), "S1:1");
/// let mismatch = lp.replay_mismatch().unwrap();
/// assert_eq!(
///     mismatch.to_string(),
///     "the replayed schedule S1:3.3.3.3.3.3.3.3 does not fit this scenario: choice #1 is 3, \
///      but its decision had 2 options (it counted as 1); the run made 1 decision and left 7 \
///      choices unused (a token taken from another version of the scenario replays another \
///      run: explore again for a fresh one)"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayMismatch {
    /// The replayed schedule.
    pub schedule: Schedule,
    /// How many decisions the run made.
    pub decisions: usize,
    /// How many of the schedule's choices the run never reached (trailing zeros do not
    /// count: a missing choice is 0 anyway).
    pub unused: usize,
    /// The choices that named an option their decision did not have, in order.
    pub out_of_range: Vec<OutOfRange>,
}

impl fmt::Display for ReplayMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        write!(
            f,
            "the replayed schedule {} does not fit this scenario: ",
            self.schedule
        )?;
        if let Some(first) = self.out_of_range.first() {
            write!(
                f,
                "choice #{} is {}, but its decision had {} options (it counted as {})",
                first.index + 1,
                first.choice,
                first.options,
                first.choice as usize % first.options
            )?;
            let more = self.out_of_range.len() - 1;
            if more > 0 {
                write!(
                    f,
                    ", and {more} more choice{} {} out of range",
                    plural(more),
                    if more == 1 { "was" } else { "were" }
                )?;
            }
            if self.unused > 0 {
                f.write_str("; ")?;
            }
        }
        if self.unused > 0 {
            write!(
                f,
                "the run made {} decision{} and left {} choice{} unused",
                self.decisions,
                plural(self.decisions),
                self.unused,
                plural(self.unused)
            )?;
        }
        f.write_str(
            " (a token taken from another version of the scenario replays another run: \
             explore again for a fresh one)",
        )
    }
}

/// `arbitrary::Unstructured::choose_index(n)` on `bytes[*pos..]`: big-endian bytes, as many
/// as `n - 1` needs (at most eight), modulo `n`; missing bytes end the number early.
fn choose_index(bytes: &[u8], pos: &mut usize, n: usize) -> usize {
    let delta = (n - 1) as u64;
    let mut value: u64 = 0;
    let mut used = 0;
    while used < 8 && (delta >> (used * 8)) > 0 {
        let Some(&byte) = bytes.get(*pos + used) else {
            break;
        };
        value = (value << 8) | u64::from(byte);
        used += 1;
    }
    *pos += used;
    (value % (delta + 1)) as usize
}
