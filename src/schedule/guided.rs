//! The systematic search's schedule: a [`Guide`] (a prefix of choices, then the first
//! candidate not asleep) taken by a [`Guided`] chooser, which records each decision's options
//! for the search to enumerate siblings, and the sleep sets of its partial-order reduction.
//! What a step touched (its footprint) is observed by the loop (`runtime/footprint.rs`).
//!
//!
//! # The reduction (sleep sets), and why it is sound
//!
//! Two steps *commute* when running them in either order leaves the same world: their
//! declared accesses do not conflict (a write against any access of the same key), and the
//! loop saw neither do anything else another step could observe. What the loop sees on its
//! own, and counts as touching everything (the step is then *global*): a callback (timers'
//! and `call_soon`'s run arbitrary code), a step that queued anything but its own next step
//! (a wake of another task, a spawn, a `call_soon`, the main future's completion), set or
//! cancelled a timer, moved the clock (`block_for`), made a choice (`select!`, jitter), or
//! finished (its joiners may read that). A task's yield, which queues only the task itself,
//! stays local: reordering two yields reorders the next batch's queue, but every order of a
//! batch's task steps is a schedule of its own, so the same step sequences stay reachable.
//!
//! Sleep sets (Godefroid): at a decision, the search explores the candidates in index order.
//! When it explores candidate `b`, every candidate `a` explored before it there (a smaller
//! index) whose step commutes with `b`'s goes to sleep: any run from here that runs `a`'s
//! step before anything that conflicts with it is equivalent (the same steps, commuting ones
//! swapped) to a run in `a`'s subtree. A sleeping task wakes when a step that conflicts with
//! it runs; a run that would have to take a sleeping step (every candidate asleep, or a
//! sleeping task as the batch's last item) is *blocked*: its remainder is covered, and the
//! search does not branch below that point. Sleep sets never span batches (a new iteration
//! clears them), and the footprint of a sleeping step is the one it had where it was
//! explored (commuting steps cannot change what it touches).
//!
//! Without [`Explore::reduce`](crate::Explore::reduce), nothing sleeps: the search is plain
//! and complete. The tests `reduced_search_finds_every_bug_the_plain_one_finds` and
//! `every_order_of_conflicting_accesses_is_explored` in `tests/exhaustive.rs` compare both:
//! the reduced search must reach every trace (order of conflicting accesses) the plain one
//! does.

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::schedule::Candidate;
use crate::Instant;

/// What one step touched, as far as the reduction knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Footprint {
    /// Touches everything: see the module docs.
    pub(crate) global: bool,
    reads: Vec<u64>,
    writes: Vec<u64>,
}

impl Footprint {
    fn add(&mut self, key: u64, write: bool) {
        let set = if write {
            &mut self.writes
        } else {
            &mut self.reads
        };
        if let Err(i) = set.binary_search(&key) {
            set.insert(i, key);
        }
    }

    /// True if the two steps may not commute.
    pub(crate) fn conflicts(&self, other: &Footprint) -> bool {
        let meet = |a: &[u64], b: &[u64]| a.iter().any(|k| b.binary_search(k).is_ok());
        self.global
            || other.global
            || meet(&self.writes, &other.writes)
            || meet(&self.writes, &other.reads)
            || meet(&self.reads, &other.writes)
    }
}

/// A task whose next step is asleep: its subtree was explored elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sleeper {
    /// The task's id (0: the main future).
    pub(crate) task: u64,
    /// What its step touched where it was explored.
    pub(crate) footprint: Footprint,
}

/// The schedule of one run of the systematic search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Guide {
    /// The choices to take first; after them, the first candidate not asleep (FIFO, without
    /// reduction).
    pub(crate) prefix: Vec<u32>,
    /// Whether to track footprints and sleep sets.
    pub(crate) reduce: bool,
    /// The sleep set from the last choice of the prefix on (the run's deviation).
    pub(crate) sleep: Vec<Sleeper>,
}

/// One decision of a guided run, as the search needs it to enumerate siblings.
#[derive(Debug)]
pub(crate) struct Point {
    /// How many options it had (at least 2).
    pub(crate) arity: u32,
    /// Under reduction: the sleep set when it was made.
    pub(crate) sleep: Vec<Sleeper>,
    /// For a decision among ready items (not a jitter or `choose` decision), under
    /// reduction: its candidates.
    pub(crate) items: Option<Items>,
}

/// The candidates of a decision among ready items, under reduction.
#[derive(Debug)]
pub(crate) struct Items {
    /// Each candidate's task id (`None`: the next callback).
    pub(crate) tasks: Vec<Option<u64>>,
    /// The indexes of the candidates awake at the decision, in order.
    pub(crate) awake: Vec<u32>,
    /// The footprint of the step the run took here, once it ended.
    pub(crate) taken: Option<Footprint>,
}

/// The loop's view of the ready queue at the start of a step, to tell what the step before
/// it queued (see `State::observe_step`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) iteration: u64,
    pub(crate) now: Instant,
    /// Items queued behind the current batch.
    pub(crate) beyond: usize,
    /// Timers set plus timers cancelled.
    pub(crate) timers: u64,
    pub(crate) spawned: u64,
}

#[derive(Debug)]
struct Running {
    task: Option<u64>,
    point: Option<usize>,
    footprint: Footprint,
    at: Snapshot,
}

/// A guided run's chooser state.
#[derive(Debug)]
pub(crate) struct Guided {
    pub(crate) guide: Guide,
    /// Every decision, in order.
    pub(crate) points: Vec<Point>,
    /// The decision count at which the run was blocked (every remaining step asleep).
    pub(crate) blocked: Option<usize>,
    sleep: Vec<Sleeper>,
    /// Sleep sets are tracked from the deviation on.
    tracking: bool,
    running: Option<Running>,
    /// The decision just made among ready items, for the step it starts.
    pending: Option<usize>,
    /// The iteration of the last step that began.
    last_iteration: Option<u64>,
}

impl Guided {
    pub(crate) fn new(guide: Guide) -> Guided {
        let tracking = guide.reduce && guide.prefix.is_empty();
        Guided {
            guide,
            points: Vec::new(),
            blocked: None,
            sleep: Vec::new(),
            tracking,
            running: None,
            pending: None,
            last_iteration: None,
        }
    }

    /// At decision `pos`: the deviation installs its sleep set.
    fn arrive(&mut self, pos: usize) {
        if self.guide.reduce && pos + 1 == self.guide.prefix.len() {
            self.sleep = self.guide.sleep.clone();
            self.tracking = true;
        }
    }

    fn sleep_record(&self) -> Vec<Sleeper> {
        if self.tracking {
            self.sleep.clone()
        } else {
            Vec::new()
        }
    }

    /// A decision that is not among ready items (jitter, `choose`, equal deadlines).
    pub(crate) fn choose_data(&mut self, pos: usize, n: usize) -> usize {
        self.arrive(pos);
        let c = self.guide.prefix.get(pos).map_or(0, |&c| c as usize % n);
        // Made inside a step (or between batches): whatever ran is not local.
        if let Some(r) = &mut self.running {
            r.footprint.global = true;
        }
        self.points.push(Point {
            arity: n as u32,
            sleep: self.sleep_record(),
            items: None,
        });
        c
    }

    /// Which ready item runs next, among `candidates`.
    pub(crate) fn choose_item(&mut self, pos: usize, candidates: &[Candidate]) -> usize {
        self.arrive(pos);
        let n = candidates.len();
        let task = |c: &Candidate| match c {
            Candidate::Task(id) => Some(*id),
            Candidate::Callback => None,
        };
        let asleep = |c: &Candidate| {
            task(c).is_some_and(|id| self.tracking && self.sleep.iter().any(|s| s.task == id))
        };
        let awake: Vec<u32> = (0..n as u32)
            .filter(|&i| !asleep(&candidates[i as usize]))
            .collect();
        let c = match self.guide.prefix.get(pos) {
            Some(&c) => c as usize % n,
            None => match awake.first() {
                Some(&first) if self.blocked.is_none() => first as usize,
                Some(_) => 0,
                None => {
                    self.blocked.get_or_insert(pos);
                    0
                }
            },
        };
        let items = self.guide.reduce.then(|| Items {
            tasks: candidates.iter().map(task).collect(),
            awake,
            taken: None,
        });
        self.points.push(Point {
            arity: n as u32,
            sleep: self.sleep_record(),
            items,
        });
        self.pending = Some(pos);
        c
    }

    /// The task of the step that ran since `begin`, if it was a task's.
    pub(crate) fn running_task(&self) -> Option<(Option<u64>, Snapshot)> {
        self.running.as_ref().map(|r| (r.task, r.at))
    }

    /// The running step ended (`global` if the loop saw it touch shared state), and the next
    /// one is about to be chosen in `iteration`.
    pub(crate) fn end_step(&mut self, global: bool, iteration: u64) {
        if self.last_iteration.is_some_and(|i| i != iteration) {
            // Sleep sets do not span batches.
            self.sleep.clear();
        }
        let Some(r) = self.running.take() else {
            return;
        };
        let mut footprint = r.footprint;
        footprint.global |= global;
        self.sleep.retain(|s| !s.footprint.conflicts(&footprint));
        if let Some(p) = r.point {
            if let Some(items) = &mut self.points[p].items {
                items.taken = Some(footprint);
            }
        }
    }

    /// A step of `who` begins (chosen at the decision just made, if any).
    pub(crate) fn begin_step(&mut self, who: Candidate, at: Snapshot) {
        let point = self.pending.take();
        let task = match who {
            Candidate::Task(id) => Some(id),
            Candidate::Callback => None,
        };
        if self.tracking
            && self.blocked.is_none()
            && task.is_some_and(|id| self.sleep.iter().any(|s| s.task == id))
        {
            self.blocked = Some(self.points.len());
        }
        self.last_iteration = Some(at.iteration);
        self.running = Some(Running {
            task,
            point,
            footprint: Footprint {
                global: task.is_none(),
                ..Footprint::default()
            },
            at,
        });
    }

    pub(crate) fn declare(&mut self, key: u64, write: bool) {
        if let Some(r) = &mut self.running {
            r.footprint.add(key, write);
        }
    }
}

/// The key of task `id`'s completion, which its last step writes and its handle reads.
pub(crate) fn task_key(id: u64) -> u64 {
    let mut hasher = DefaultHasher::new();
    ("simloop: the completion of task", id).hash(&mut hasher);
    hasher.finish()
}
