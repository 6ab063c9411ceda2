//! The systematic search ([`exhaust`], configured by [`Explore::exhaustive`]): every schedule
//! of the choice tree up to a delay bound, by iterative deepening on the bound, each schedule
//! run once.
//!
//! # The choice tree, and what a delay costs
//!
//! A run is a sequence of decisions; decision `i` has `n_i >= 2` options (a decision with one
//! option is no decision), option 0 being FIFO. A schedule is the run that takes a given
//! prefix of choices and then option 0 at every later decision. Its *delays* are the sum of
//! its choices: taking option `c` delays the `c` candidates before it, as in delay-bounded
//! scheduling (Emmi, Qadeer, Rakamarić), so `n` tasks of one step each, which make one batch,
//! have exactly `n!` schedules, and the number with `k` delays is the number of permutations
//! of `n` with `k` inversions. Under reduction, a candidate asleep is skipped for free: a
//! choice costs its rank among the candidates awake.
//!
//! # The search
//!
//! Level `K` runs exactly the schedules with `K` delays: the children of the schedules run
//! before (a child deviates from its parent at one decision after the parent's own
//! deviation, by `K - cost(parent)`). Each run's decisions (how many options each had) are
//! kept while they can still have children at a later level, so no schedule is run twice,
//! across levels included, and the first failure found has the fewest delays. Within a level,
//! parents are taken in the order they ran, decisions in order. Everything is deterministic.
//!
//! # Chunks
//!
//! [`Explore::chunk`]`(i, n)` splits the tree by prefix: a schedule with at least two
//! deviations belongs to the chunk its prefix through the second deviation hashes to
//! (FNV-1a, modulo `n`); one with fewer deviations (the FIFO run, and runs with one) to the
//! chunk its own prefix hashes to. Every chunk runs the schedules with fewer than two
//! deviations (it needs their decisions to find its own), but checks only its own; each
//! chunk runs the subtrees of its own two-deviation prefixes alone. The chunks' checked
//! schedules are exactly the whole search's, each once.

use std::collections::BTreeMap;
use std::fmt;

use super::{diagnose, Explore, Failure};
use crate::schedule::guided::{Footprint, Guide, Point, Sleeper};
use crate::{EventLoop, Schedule};

/// How far the systematic search got; `Display` is one sentence for a review, e.g. "every
/// schedule with at most 2 delays: 1,284 runs, complete".
///
/// ```
/// use simloop::{exhaust, Explore};
///
/// // Three tasks of one step: 3! = 6 orders, with 0, 1, 1, 2, 2 and 3 delays.
/// let coverage = exhaust(&Explore::exhaustive().max_delays(1), |lp| {
///     for _ in 0..3 {
///         lp.spawn(async {});
///     }
///     lp.run()
/// })
/// .unwrap();
/// assert_eq!(coverage.runs, 3);
/// assert_eq!(coverage.to_string(), "every schedule with at most 1 delay: 3 runs, complete");
/// let all = exhaust(&Explore::exhaustive().unbounded(), |lp| {
///     for _ in 0..3 {
///         lp.spawn(async {});
///     }
///     lp.run()
/// })
/// .unwrap();
/// assert_eq!(all.to_string(), "every schedule (the whole tree, at most 3 delays): 6 runs, complete");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// The schedules run and checked (in a chunk: this chunk's own).
    pub runs: u64,
    /// In a chunk, the runs of other chunks' schedules it made to find its own (they are
    /// checked by their own chunk). 0 without chunks.
    pub shared_runs: u64,
    /// The delay bound asked for (`None`: no bound).
    pub max_delays: Option<u32>,
    /// The largest `K` such that every schedule with at most `K` delays ran (`None`: not
    /// even the FIFO schedule, e.g. a budget of 0).
    pub covered: Option<u32>,
    /// Every schedule of the tree ran, whatever its delays: the scenario has no other
    /// schedule. The most delays any schedule had is then `covered`.
    pub exhausted: bool,
    /// The run budget ([`Explore::runs`]) stopped the search before the bound was covered.
    pub budget_hit: bool,
    /// The search was reduced ([`Explore::reduce`]): schedules that only reorder commuting
    /// steps ran once.
    pub reduced: bool,
    /// This search was chunk `.0` of `.1` ([`Explore::chunk`]).
    pub chunk: Option<(u64, u64)>,
    /// On failure, the delays of the failing schedule (the fewest any failing schedule has).
    pub failing_delays: Option<u32>,
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn delays(k: u32) -> String {
    format!("{k} delay{}", if k == 1 { "" } else { "s" })
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((i, n)) = self.chunk {
            write!(f, "chunk {i} of {n}: ")?;
        }
        let runs = format!(
            "{} run{}",
            grouped(self.runs),
            if self.runs == 1 { "" } else { "s" }
        );
        let reduced = if self.reduced {
            ", up to the order of commuting steps"
        } else {
            ""
        };
        if let Some(k) = self.failing_delays {
            return write!(f, "a schedule with {} fails {}", delays(k), self.found_in());
        }
        match (self.exhausted, self.covered) {
            (true, Some(c)) => write!(
                f,
                "every schedule (the whole tree, at most {}){reduced}: {runs}, complete",
                delays(c)
            )?,
            (false, _) if !self.budget_hit => write!(
                f,
                "every schedule with at most {}{reduced}: {runs}, complete",
                delays(self.max_delays.or(self.covered).unwrap_or(0))
            )?,
            (_, covered) => {
                let target = match self.max_delays {
                    Some(k) => format!("at most {}", delays(k)),
                    None => "any number of delays".to_string(),
                };
                write!(
                    f,
                    "schedules with {target}{reduced}: {runs}, incomplete (the run budget ran out"
                )?;
                match covered {
                    Some(c) => write!(f, "; complete up to {})", delays(c))?,
                    None => f.write_str(" before the FIFO schedule)")?,
                }
            }
        }
        if self.shared_runs > 0 {
            write!(
                f,
                " (and {} of other chunks' schedules)",
                grouped(self.shared_runs)
            )?;
        }
        Ok(())
    }
}

impl Coverage {
    /// "(found in run 6; every schedule with at most 1 delay passed)", for a failure.
    pub(crate) fn found_in(&self) -> String {
        let passed = match self.covered {
            None => String::new(),
            Some(0) => "; the FIFO schedule passed".to_string(),
            Some(c) => format!("; every schedule with at most {} passed", delays(c)),
        };
        format!("(found in run {}{passed})", grouped(self.runs))
    }
}

/// Splits a tree by prefix: schedules with this many deviations start a chunk's own subtree.
const SPLIT: u32 = 2;

/// A schedule run, kept while it can have children at a later level.
struct Node {
    /// Its run's choices.
    taken: Vec<u32>,
    /// Where its own decisions start: past its deviation.
    start: usize,
    cost: u32,
    deviations: u32,
    /// The chunk of its subtree, once it has `SPLIT` deviations.
    owner: Option<u64>,
    points: Vec<Point>,
    /// Decisions from here on have no children: the run was blocked (reduction).
    end: usize,
    /// The most a child can add to its cost.
    reach: u32,
    /// The footprints of its children's first steps, by (decision, option).
    firsts: BTreeMap<(usize, u32), Footprint>,
}

impl Node {
    /// The option a child takes at decision `j` for `extra` delays, and its sleep set.
    fn child(&self, j: usize, extra: u32, reduce: bool) -> Option<(u32, Vec<Sleeper>)> {
        let p = &self.points[j];
        match (&p.items, reduce) {
            (Some(items), true) => {
                let option = *items.awake.get(extra as usize)?;
                let mut sleep = p.sleep.clone();
                for (rank, &o) in items.awake[..extra as usize].iter().enumerate() {
                    let Some(task) = items.tasks[o as usize] else {
                        continue;
                    };
                    let footprint = if rank == 0 {
                        items.taken.as_ref()
                    } else {
                        self.firsts.get(&(j, o))
                    };
                    // A step that touched everything would wake at once; one not seen to end
                    // is not known: neither sleeps.
                    if let Some(fp) = footprint.filter(|fp| !fp.global) {
                        if !sleep.iter().any(|s| s.task == task) {
                            sleep.push(Sleeper {
                                task,
                                footprint: fp.clone(),
                            });
                        }
                    }
                }
                Some((option, sleep))
            }
            _ => (extra < p.arity).then(|| (extra, p.sleep.clone())),
        }
    }
}

/// How many options a decision offers a child: awake candidates under reduction.
fn width(p: &Point, reduce: bool) -> u32 {
    match (&p.items, reduce) {
        (Some(items), true) => items.awake.len() as u32,
        _ => p.arity,
    }
}

/// FNV-1a of a choice list.
fn fnv(choices: &[u32]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in choices {
        for b in c.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Runs every schedule of the scenario's choice tree with at most
/// [`max_delays`](Explore::max_delays) delays (see [`Explore::exhaustive`]), fewest delays
/// first, each once, and says how complete that was. Stops at the first failure: an `Err`,
/// or a panic; it is replayed (traced) to check that it reproduces, and reported with its
/// token and trace, unshrunk (no schedule with fewer delays fails).
///
/// ```
/// use simloop::{exhaust, yield_now, Explore};
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// // A lost update: read, yield, write back.
/// let failure = exhaust(&Explore::exhaustive().max_delays(2), |lp| {
///     let n = Rc::new(Cell::new(0));
///     for late in [false, true] {
///         let n = n.clone();
///         lp.spawn(async move {
///             if late {
///                 yield_now().await; // arrives one step later: FIFO hides the bug
///             }
///             let read = n.get();
///             yield_now().await;
///             n.set(read + 1);
///         });
///     }
///     lp.run().map_err(|e| e.to_string())?;
///     if n.get() == 2 { Ok(()) } else { Err(format!("n is {}", n.get())) }
/// })
/// .unwrap_err();
/// let coverage = failure.coverage.as_ref().unwrap();
/// assert_eq!(coverage.failing_delays, Some(1));
/// assert_eq!(failure.schedule.to_string(), "S1:1");
/// ```
///
/// # Errors
/// The [`Failure`] of the first failing schedule, with [`Failure::coverage`] set.
pub fn exhaust<E: fmt::Display>(
    config: &Explore,
    mut scenario: impl FnMut(&mut EventLoop) -> Result<(), E>,
) -> Result<Coverage, Box<Failure>> {
    let settings = config.exhaustive.unwrap_or_default();
    let reduce = settings.reduce;
    let budget = config.budget();
    let mut coverage = Coverage {
        runs: 0,
        shared_runs: 0,
        max_delays: settings.max_delays,
        covered: None,
        exhausted: false,
        budget_hit: false,
        reduced: reduce,
        chunk: config.chunk,
        failing_delays: None,
    };
    let mine = |owner: u64| match config.chunk {
        Some((i, n)) => owner % n == i,
        None => true,
    };
    let mut nodes: Vec<Node> = Vec::new();
    let mut live: Vec<usize> = Vec::new();
    let mut level: u32 = 0;
    loop {
        // The schedules of this level: the FIFO one, or the children of the schedules run
        // before, parent by parent (in the order they ran), decision by decision.
        let mut complete = true;
        let parents: Vec<usize> = live.clone();
        // The next (parent, decision) to look at.
        let (mut pi, mut j) = (0, None::<usize>);
        let mut root = level == 0;
        'level: loop {
            let (parent, prefix, sleep) = if root {
                root = false;
                (None, Vec::new(), Vec::new())
            } else {
                let mut found = None;
                while found.is_none() {
                    let Some(&n) = parents.get(pi) else {
                        break 'level;
                    };
                    let node = &nodes[n];
                    let at = j.map_or(node.start, |j| j + 1);
                    if at >= node.end || node.cost >= level {
                        (pi, j) = (pi + 1, None);
                        continue;
                    }
                    j = Some(at);
                    if let Some((option, sleep)) = node.child(at, level - node.cost, reduce) {
                        let mut prefix = node.taken[..at].to_vec();
                        prefix.push(option);
                        found = Some((Some(n), prefix, sleep));
                    }
                }
                found.expect("found")
            };
            let deviations = parent.map_or(0, |p| nodes[p].deviations + 1);
            let owner = match parent.and_then(|p| nodes[p].owner) {
                Some(owner) => Some(owner),
                None if deviations >= SPLIT => Some(fnv(&prefix)),
                None => None,
            };
            if owner.is_some_and(|o| !mine(o)) {
                continue;
            }
            let checked = mine(owner.unwrap_or_else(|| fnv(&prefix)));
            if budget.is_some_and(|max| coverage.runs + coverage.shared_runs >= max) {
                complete = false;
                break;
            }
            let guide = Guide {
                prefix: prefix.clone(),
                reduce,
                sleep,
            };
            let schedule = config.with_jitter(Schedule::guided(guide));
            let (failure, lp) = config.run_once(schedule, false, &mut scenario);
            if checked {
                coverage.runs += 1;
            } else {
                coverage.shared_runs += 1;
            }
            if let Some(message) = failure.filter(|_| checked) {
                coverage.failing_delays = Some(level);
                coverage.covered = level.checked_sub(1);
                let taken = lp.schedule_taken();
                drop(lp);
                return Err(Box::new(report(
                    config,
                    &mut scenario,
                    taken,
                    message,
                    coverage,
                )));
            }
            let taken = lp.schedule_taken();
            let (points, blocked) = {
                let mut st = lp.core.st.borrow_mut();
                let g = st.chooser.guided().expect("a guided schedule");
                (std::mem::take(&mut g.points), g.blocked)
            };
            drop(lp);
            let mut taken = taken.choices().unwrap_or_default().to_vec();
            taken.resize(points.len(), 0);
            let start = prefix.len();
            if let Some(p) = parent {
                if let Some(fp) = points
                    .get(start - 1)
                    .and_then(|pt| pt.items.as_ref())
                    .and_then(|i| i.taken.clone())
                {
                    nodes[p].firsts.insert((start - 1, prefix[start - 1]), fp);
                }
            }
            let end = blocked.unwrap_or(points.len()).min(points.len());
            let reach = points[start.min(end)..end]
                .iter()
                .map(|p| width(p, reduce).saturating_sub(1))
                .max()
                .unwrap_or(0);
            nodes.push(Node {
                taken,
                start,
                cost: level,
                deviations,
                owner,
                points,
                end,
                reach,
                firsts: BTreeMap::new(),
            });
            if reach > 0 {
                live.push(nodes.len() - 1);
            }
        }
        if !complete {
            coverage.budget_hit = true;
            return Ok(coverage);
        }
        coverage.covered = Some(level);
        // A node can have children at a later level while its cost plus its reach exceeds it.
        live.retain(|&n| nodes[n].cost + nodes[n].reach > level);
        for node in &mut nodes {
            if node.cost + node.reach <= level && !node.points.is_empty() {
                // Its children are all born; its decisions are no longer needed.
                node.points = Vec::new();
                node.firsts = BTreeMap::new();
                node.taken = Vec::new();
            }
        }
        if live.is_empty() {
            coverage.exhausted = true;
            return Ok(coverage);
        }
        if settings.max_delays.is_some_and(|k| level >= k) {
            return Ok(coverage);
        }
        level += 1;
    }
}

/// The report of a failing schedule: replayed (traced), to check it reproduces.
fn report<E: fmt::Display>(
    config: &Explore,
    scenario: &mut impl FnMut(&mut EventLoop) -> Result<(), E>,
    schedule: Schedule,
    message: String,
    coverage: Coverage,
) -> Failure {
    let (replay, lp) = config.run_once(schedule.clone(), true, scenario);
    let not_reproduced = (replay.as_deref() != Some(message.as_str()))
        .then(|| diagnose(config, scenario, &schedule, &message, replay, &lp));
    Failure {
        seed: None,
        runs: coverage.runs,
        message,
        schedule: schedule.clone(),
        original: schedule,
        shrink_runs: 0,
        trace: lp.trace().to_string(),
        not_reproduced,
        replay_mismatch: lp.replay_mismatch(),
        coverage: Some(coverage),
    }
}

/// What [`Explore::exhaustive`] set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) max_delays: Option<u32>,
    pub(crate) reduce: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_delays: Some(2),
            reduce: false,
        }
    }
}
