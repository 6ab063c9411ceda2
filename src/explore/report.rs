//! What a search reports: [`Explored`] when every schedule passed, the [`Failure`] it
//! found (and shrank), and why a failure is not trusted when it does not repeat
//! ([`NotReproduced`]).

use std::fmt;

use crate::explore::determinism::Divergence;
use crate::explore::exhaustive::Coverage;
use crate::{ReplayMismatch, Schedule};

/// What [`explore`](fn@crate::explore) did when every schedule passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explored {
    /// How many schedules ran.
    pub runs: u64,
    /// Under [`Explore::replay`](crate::Explore::replay), how the replayed schedule did not fit the scenario, if it
    /// did not: the run passed, but perhaps not the run the token was taken from.
    pub replay_mismatch: Option<ReplayMismatch>,
}

/// A failing schedule found by [`explore`](fn@crate::explore), shrunk. `Display` is the report.
///
/// Before it trusts a failure, `explore` replays its schedule: a deterministic scenario fails
/// again, word for word. If it does not, the report says so instead of giving a token
/// ([`not_reproduced`](Self::not_reproduced)); so does a shrunk schedule that does not fail
/// again when replayed for the report.
#[derive(Clone, PartialEq, Eq)]
pub struct Failure {
    /// The seed whose schedule failed first; `None` for the schedule of
    /// [`Explore::replay`](crate::Explore::replay).
    pub seed: Option<u64>,
    /// How many runs it took to find it (the failing one included).
    pub runs: u64,
    /// The failure of the shrunk run: the scenario's error, or its panic. (When the failure
    /// did not reproduce, the failure of the first failing run.)
    pub message: String,
    /// The shrunk failing schedule; replay it with [`Builder::schedule`](crate::Builder::schedule). (When the failure
    /// did not reproduce, the schedule that did not repeat it: no replay token.)
    pub schedule: Schedule,
    /// The schedule of the first failing run, before shrinking (or the replayed one).
    pub original: Schedule,
    /// How many runs shrinking took.
    pub shrink_runs: u32,
    /// The text timeline of the shrunk failing run (when the failure did not reproduce, of
    /// the first replay, which did not repeat it).
    pub trace: String,
    /// Set when a replay of the failing schedule did not fail the same way: the scenario is
    /// not deterministic, and no token would replay the failure.
    pub not_reproduced: Option<NotReproduced>,
    /// Set when the schedule replayed for the report did not fit the scenario: a token given
    /// to [`Explore::replay`](crate::Explore::replay) that was taken from another version of it, or a scenario that
    /// is not deterministic. The report shows it as a warning line.
    pub replay_mismatch: Option<ReplayMismatch>,
    /// Set by the systematic search ([`exhaust`](crate::exhaust)): how far it got, and the failing
    /// schedule's delays. Its schedule is not shrunk: no schedule with fewer delays fails.
    pub coverage: Option<Coverage>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |s: &Schedule| s.choices().map_or(0, <[u32]>::len);
        if let Some(coverage) = &self.coverage {
            let chunk = coverage
                .chunk
                .map_or_else(String::new, |(i, n)| format!(" (chunk {i} of {n})"));
            writeln!(
                f,
                "simloop::exhaust{chunk}: the scenario failed under a schedule with {} delay{} \
                 {}: {}",
                coverage.failing_delays.unwrap_or(0),
                if coverage.failing_delays == Some(1) {
                    ""
                } else {
                    "s"
                },
                coverage.found_in(),
                self.message
            )?;
            if let Some(mismatch) = &self.replay_mismatch {
                writeln!(f, "warning: {mismatch}")?;
            }
            if let Some(not_reproduced) = &self.not_reproduced {
                return write!(f, "{not_reproduced}");
            }
            writeln!(
                f,
                "replay token: {}   (the systematic search's first failing schedule, with \
                 the fewest delays; replay with Builder::schedule(\"{}\".parse().unwrap()))",
                self.schedule, self.schedule
            )?;
            writeln!(f, "trace of the failing run:")?;
            return f.write_str(&self.trace);
        }
        match self.seed {
            Some(seed) => writeln!(
                f,
                "simloop::explore: the scenario failed under the schedule of seed {seed} \
                 (run {}): {}",
                self.runs, self.message
            )?,
            None => writeln!(
                f,
                "simloop::explore: the scenario failed under the replayed schedule {}: {}",
                self.original, self.message
            )?,
        }
        if let Some(mismatch) = &self.replay_mismatch {
            writeln!(f, "warning: {mismatch}")?;
        }
        if let Some(not_reproduced) = &self.not_reproduced {
            return write!(f, "{not_reproduced}");
        }
        match self.seed {
            Some(_) => writeln!(
                f,
                "replay token: {}   (shrunk from {} choices to {} in {} runs; replay with \
                 Builder::schedule(\"{}\".parse().unwrap()))",
                self.schedule,
                count(&self.original),
                count(&self.schedule),
                self.shrink_runs,
                self.schedule
            )?,
            None => writeln!(
                f,
                "replay token: {}   (the choices the run took; replay with \
                 Builder::schedule(\"{}\".parse().unwrap()))",
                self.schedule, self.schedule
            )?,
        }
        let which = if self.seed.is_some() {
            "shrunk"
        } else {
            "replayed"
        };
        writeln!(f, "trace of the {which} run:")?;
        f.write_str(&self.trace)
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Failure {}

/// Why [`explore`](fn@crate::explore) does not trust a failure it found: a replay of the failing schedule did
/// not fail the same way, so the scenario is not deterministic. See
/// [`Failure::not_reproduced`]; `Display` is that part of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotReproduced {
    /// False: the failing run's own schedule, replayed before shrinking, did not fail again.
    /// True: shrinking saw smaller schedules fail, but the smallest, replayed once more for
    /// the report, did not.
    pub after_shrinking: bool,
    /// The failure the replays were to repeat, word for word.
    pub expected: String,
    /// What each traced replay of the schedule did, in order: `None` if it passed, else its
    /// failure. The first did not repeat the failure; `explore` replays up to
    /// four times in all, until one does, to find where a failing run and a passing one
    /// differ.
    pub replays: Vec<Option<String>>,
    /// Where two of those replays first differ, with their positions in `replays` (from
    /// 0): a replay that repeated the failure against the first, which did not; else the
    /// first against one that recorded other events. `None` if the two runs compared
    /// recorded the same events.
    pub divergence: Option<(usize, usize, Box<Divergence>)>,
}

/// How many traced replays `explore` makes of a schedule whose failure did not reproduce.
pub(super) const REPLAYS: usize = 4;

impl fmt::Display for NotReproduced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the failure did not reproduce under its own schedule: the scenario is not \
             deterministic"
        )?;
        if self.after_shrinking {
            writeln!(
                f,
                "(shrinking saw smaller schedules fail; the smallest, replayed once more for \
                 this report, did not fail the same way)"
            )?;
        }
        f.write_str("replays of that schedule:")?;
        for (i, replay) in self.replays.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            match replay {
                None => write!(f, "{sep}#{} passed", i + 1)?,
                Some(m) if *m == self.expected => {
                    write!(f, "{sep}#{} failed the same way", i + 1)?;
                }
                Some(m) => write!(f, "{sep}#{} failed otherwise: {m}", i + 1)?,
            }
        }
        f.write_str("\n")?;
        let repeated = self
            .replays
            .iter()
            .any(|r| r.as_ref() == Some(&self.expected));
        match &self.divergence {
            Some((a, b, divergence)) => {
                let text = divergence.to_string();
                write!(f, "replay #{} against replay #{}: {text}", a + 1, b + 1)?;
                if !text.ends_with('\n') {
                    f.write_str("\n")?;
                }
            }
            None if repeated => writeln!(
                f,
                "the replay that failed and the one that did not recorded the same events: \
                 what decides the outcome happens outside the loop's events (e.g. a check \
                 that reads a global after the run)"
            )?,
            None => writeln!(
                f,
                "the {} replays recorded the same events: what decides the outcome happens \
                 outside the loop's events (e.g. a check that reads a global after the run)",
                self.replays.len()
            )?,
        }
        writeln!(
            f,
            "no replay token: this scenario does not repeat itself under a schedule; make it \
             deterministic (check_determinism finds where two runs differ), then explore again"
        )
    }
}
