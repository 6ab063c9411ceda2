//! The systematic search's schedule ([`Guide`], taken by a [`Guided`] chooser) and its
//! partial-order reduction: declared accesses ([`access`], [`access_read`]), the footprint of
//! each step, and sleep sets.
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
//! and complete. The test `reduced_search_finds_every_bug_the_plain_one_finds` in
//! `tests/explore.rs` compares both on generated programs.

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::explore::schedule::Candidate;
use crate::runtime::context::core;
use crate::runtime::core::{Core, Ready};
use crate::Instant;

/// Declares that the running step reads and writes the shared resource `key`, for the
/// systematic search's reduction ([`Explore::reduce`](crate::Explore::reduce)): two steps
/// that declare no conflicting accesses (and do nothing else the loop sees as shared, see
/// the module docs) are explored in one order only.
///
/// Outside an exploring schedule this does nothing (one test of a flag). Keys are hashed;
/// two keys with the same hash only make the reduction more cautious.
///
/// ```
/// use simloop::EventLoop;
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// let mut lp = EventLoop::new();
/// let counter = Rc::new(Cell::new(0));
/// let c = counter.clone();
/// lp.spawn(async move {
///     simloop::access(&"counter");
///     c.set(c.get() + 1);
/// });
/// lp.run().unwrap();
/// assert_eq!(counter.get(), 1);
/// ```
///
/// # Panics
/// Outside a loop.
#[track_caller]
pub fn access<K: Hash + ?Sized>(key: &K) {
    declare(key, true);
}

/// Declares that the running step only reads the shared resource `key`: reads of the same
/// key by two steps commute, a read and a write do not. See [`access`].
///
/// # Panics
/// Outside a loop.
#[track_caller]
pub fn access_read<K: Hash + ?Sized>(key: &K) {
    declare(key, false);
}

#[track_caller]
fn declare<K: Hash + ?Sized>(key: &K, write: bool) {
    let core = core("access()");
    let mut st = core.st.borrow_mut();
    if !st.chooser.observes() {
        return;
    }
    // `DefaultHasher::new()` has fixed keys: the same hash on every run.
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    let hash = hasher.finish();
    if let Some(g) = st.chooser.guided() {
        g.declare(hash, write);
    }
}

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
fn task_key(id: u64) -> u64 {
    let mut hasher = DefaultHasher::new();
    ("simloop: the completion of task", id).hash(&mut hasher);
    hasher.finish()
}

/// A `JoinHandle` of task `id` (of the loop `core`) looked at the task's completion.
pub(crate) fn joined(core: &std::rc::Weak<Core>, id: u64) {
    let Some(core) = core.upgrade() else {
        return;
    };
    let Ok(mut st) = core.st.try_borrow_mut() else {
        return;
    };
    if st.chooser.observes() {
        if let Some(g) = st.chooser.guided() {
            g.declare(task_key(id), false);
        }
    }
}

/// The loop's side: what it observes of each step, under a reducing search.
impl crate::runtime::core::State {
    fn snapshot(&self, remaining: usize) -> Snapshot {
        Snapshot {
            iteration: self.iteration,
            now: self.now,
            beyond: self.ready.len().saturating_sub(remaining),
            timers: self.stats.timers_set + self.stats.timers_cancelled,
            spawned: self.stats.tasks_spawned,
        }
    }

    /// Before the batch's next item is chosen (`remaining` items left): the step that ran
    /// since the last item was taken has ended; was it local?
    pub(crate) fn step_ends(&mut self, remaining: usize) {
        let now = self.snapshot(remaining);
        let Some(g) = self.chooser.guided() else {
            return;
        };
        let Some((task, at)) = g.running_task() else {
            g.end_step(true, now.iteration);
            return;
        };
        // `at.beyond` was taken after the step's item left the queue.
        let local = task.is_some()
            && now.iteration == at.iteration
            && now.now == at.now
            && now.timers == at.timers
            && now.spawned == at.spawned
            && now.beyond >= at.beyond
            && {
                let pushed = now.beyond - at.beyond;
                let len = self.ready.len();
                // Only its own next step.
                let own = |item: Ready| match (item, task) {
                    (Ready::Main(_), Some(0)) => true,
                    (Ready::Task(key), Some(id)) => {
                        self.tasks.get(key).is_some_and(|t| t.id().0 == id)
                    }
                    _ => false,
                };
                self.ready.iter().skip(len - pushed).all(own)
            };
        // A task that finished wrote its completion, which its handle reads (`joined`).
        let finished = task.filter(|&id| id != 0 && !self.tasks.values().any(|t| t.id().0 == id));
        let iteration = now.iteration;
        if let Some(g) = self.chooser.guided() {
            if let Some(id) = finished {
                g.declare(task_key(id), true);
            }
            g.end_step(!local, iteration);
        }
    }

    /// The batch's next item was taken: its step begins.
    pub(crate) fn step_begins(&mut self, item: Option<Ready>, remaining: usize) {
        use Ready;
        let Some(item) = item else {
            return;
        };
        let who = match item {
            Ready::Task(key) => Candidate::Task(self.tasks.get(key).map_or(u64::MAX, |t| t.id().0)),
            Ready::Main(_) => Candidate::Task(0),
            Ready::Entry(_) | Ready::StopMain(_) => Candidate::Callback,
        };
        let at = self.snapshot(remaining - 1);
        if let Some(g) = self.chooser.guided() {
            g.begin_step(who, at);
        }
    }
}
