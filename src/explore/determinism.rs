//! Two traced runs of the same scenario, and where they first differ: [`check_determinism`].

use std::fmt;

use crate::{Builder, EventLoop, Instant, Trace, TraceEvent};

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
    mut scenario: impl FnMut(&mut EventLoop) -> R,
) -> Result<(), Box<Divergence>> {
    let mut run = || {
        let mut lp = settings.clone().trace(true).build();
        let _ = scenario(&mut lp);
        lp.trace().events().to_vec()
    };
    let (a, b) = (run(), run());
    match divergence(&a, &b) {
        None => Ok(()),
        Some(d) => Err(Box::new(d)),
    }
}

/// Where two traces first differ, if they do.
pub(super) fn divergence(a: &[TraceEvent], b: &[TraceEvent]) -> Option<Divergence> {
    let index = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or((a.len() != b.len()).then(|| a.len().min(b.len())))?;
    Some(Divergence {
        index,
        first: a.get(index).cloned(),
        second: b.get(index).cloned(),
        before: Trace {
            events: a[..index].to_vec(),
        },
    })
}
