//! How the loop decides what its ordering contract leaves open, and how those decisions are
//! recorded and replayed.
//!
//! Every decision is a choice `choose(n) -> 0..n` where 0 is the FIFO choice. A schedule is
//! the list of choices; a missing choice is 0. The loop asks for a choice only where the
//! contract leaves room (see [`Schedule`]), and records every choice it took.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::instant::nanos;
use crate::rng::Rng;

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
}

#[derive(Clone, PartialEq, Eq, Debug)]
enum Source {
    Fifo,
    Random { seed: u64 },
    Pct { seed: u64, depth: u32, steps: u64 },
    Choices(Vec<u32>),
    Bytes(Vec<u8>),
}

/// How many steps a PCT schedule assumes a run takes, unless told (`pct_steps`).
const PCT_STEPS: u64 = 64;

/// How many jitter levels a timer chooses from: 0, max/10, ..., max.
const JITTER_LEVELS: usize = 11;

impl Schedule {
    /// Everything in FIFO order: the ordering contract, as CPython's asyncio runs it.
    #[allow(non_upper_case_globals)]
    pub const Fifo: Schedule = Schedule {
        source: Source::Fifo,
        jitter: None,
    };

    /// Uniformly random choices from a generator seeded with `seed`.
    pub fn random(seed: u64) -> Schedule {
        Schedule {
            source: Source::Random { seed },
            jitter: None,
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
        }
    }

    /// Replays a list of choices: the `i`-th decision takes `choices[i]` (modulo the number
    /// of options); past the end of the list every choice is 0.
    pub fn from_choices(choices: Vec<u32>) -> Schedule {
        Schedule {
            source: Source::Choices(choices),
            jitter: None,
        }
    }

    /// Choices read from fuzzer bytes, with the mapping of
    /// `arbitrary::Unstructured::choose_index`; once the bytes run out every choice is 0.
    pub fn from_bytes(bytes: &[u8]) -> Schedule {
        Schedule {
            source: Source::Bytes(bytes.to_vec()),
            jitter: None,
        }
    }

    /// Lets every timer fire up to `max` late (in tenths of `max`, one choice per timer).
    pub fn with_timer_jitter(mut self, max: Duration) -> Schedule {
        // Clamped to what an `Instant` can express, so the token round-trips.
        let max = Duration::from_nanos(nanos(max));
        self.jitter = (!max.is_zero()).then_some(max);
        self
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
        Chooser {
            fifo: self.is_fifo(),
            source,
            taken: Vec::new(),
            jitter: self.jitter,
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
        }
        Ok(())
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({self})")
    }
}

/// Why a replay token did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseScheduleError {
    token: String,
}

impl fmt::Display for ParseScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a schedule token (expected e.g. 'S1:z3.1.2', 'fifo', 'random:7', \
             'pct:7:3' or 'bytes:0a1b', optionally followed by '~<jitter nanos>')",
            self.token
        )
    }
}

impl std::error::Error for ParseScheduleError {}

impl FromStr for Schedule {
    type Err = ParseScheduleError;

    fn from_str(s: &str) -> Result<Schedule, ParseScheduleError> {
        let err = || ParseScheduleError {
            token: s.to_string(),
        };
        let s = s.trim();
        let (body, jitter) = match s.split_once('~') {
            Some((body, j)) => (body, Some(number::<u64>(j).ok_or_else(err)?)),
            None => (s, None),
        };
        let source = if body == "fifo" {
            Source::Fifo
        } else if let Some(seed) = body.strip_prefix("random:") {
            Source::Random {
                seed: number(seed).ok_or_else(err)?,
            }
        } else if let Some(rest) = body.strip_prefix("pct:") {
            let mut parts = rest.split(':');
            let seed = parts.next().and_then(number).ok_or_else(err)?;
            let depth: u32 = parts.next().and_then(number).ok_or_else(err)?;
            let steps: u64 = match parts.next() {
                Some(p) => number(p).ok_or_else(err)?,
                None => PCT_STEPS,
            };
            if depth == 0 || steps == 0 || parts.next().is_some() {
                return Err(err());
            }
            Source::Pct { seed, depth, steps }
        } else if let Some(hex) = body.strip_prefix("bytes:") {
            if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| err())?;
            Source::Bytes(bytes)
        } else if let Some(rest) = body.strip_prefix("S1") {
            let mut choices = Vec::new();
            let items = rest.strip_prefix(':').unwrap_or(rest);
            if !rest.is_empty() && !rest.starts_with(':') {
                return Err(err());
            }
            for item in items.split('.').filter(|i| !i.is_empty()) {
                if let Some(n) = item.strip_prefix('z') {
                    let n: usize = number(n).ok_or_else(err)?;
                    if choices.len() + n > MAX_TOKEN_CHOICES {
                        return Err(err());
                    }
                    choices.extend(std::iter::repeat_n(0, n));
                } else {
                    choices.push(number(item).ok_or_else(err)?);
                }
            }
            Source::Choices(choices)
        } else {
            return Err(err());
        };
        Ok(Schedule {
            source,
            jitter: jitter.map(Duration::from_nanos),
        })
    }
}

/// The most choices a token may expand to (a guard against `z4000000000`).
const MAX_TOKEN_CHOICES: usize = 1 << 24;

/// A plain decimal number: digits only (`str::parse` would accept a leading `+`).
fn number<T: FromStr>(s: &str) -> Option<T> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
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
}

#[derive(Debug)]
enum Live {
    Fifo,
    Random(Rng),
    Pct(Pct),
    Choices(Vec<u32>, usize),
    Bytes(Vec<u8>, usize),
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
                let c = list.get(*i).map_or(0, |&c| c as usize % n);
                *i += 1;
                c
            }
            Live::Bytes(bytes, pos) => choose_index(bytes, pos, n),
        };
        self.taken.push(c as u32);
        c
    }

    /// Which ready item runs next, among `candidates` (the FIFO one first). Recorded like
    /// any choice.
    pub(crate) fn choose_item(&mut self, candidates: &[Candidate]) -> usize {
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
                let level = self.choose(JITTER_LEVELS) as u128;
                let extra = u128::from(nanos(max)) * level / (JITTER_LEVELS as u128 - 1);
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
        }
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
