//! Leader election with a lease, and the interleaving that gives you two leaders.
//!
//! Two nodes compete for one leadership lease kept in a shared [`LeaseStore`] (think etcd or
//! a database row: a holder, an expiry instant measured by the store, and a version bumped on
//! every write). Every request to the store is a network round trip: `latency` there, the
//! store applies it at the instant it arrives, `latency` back. A [`Node`] that does not lead
//! reads the lease and, if it is free, claims it; a leader renews it every `renew_every`.
//! Each node records its terms: the stretches of time during which it believes it leads. The
//! invariant is that no two nodes' terms overlap ([`LeadershipLog::first_overlap`]).
//!
//! [`NodeConfig::buggy`] has two classic mistakes: it claims the lease with a blind write
//! after reading it free (check, await, act), and it believes its lease lasts `ttl` from the
//! moment the reply arrives, while the store counts from the moment the request arrived.
//! [`NodeConfig::fixed`] claims and renews with compare-and-set on the version it read, and
//! believes its lease only until `sent + ttl - margin`, where `sent` is when it sent the
//! request (never later than the store's instant of receipt) and the margin covers clock
//! drift between node and store.
//!
//! Under the plain FIFO schedule the buggy version behaves: node a gets the lease and node b,
//! starting a little later, finds it held. Timer jitter ([`simloop::Explore::timer_jitter`])
//! delays messages, as a busy network does: delay a's claim by a few milliseconds and b reads
//! the lease free too, and both claim it. `main` shows `explore` finding that, then the fixed
//! version surviving a sweep of 500 schedules. (The second mistake alone, with
//! compare-and-set, needs a reply delayed by more than two one-way latencies right at a
//! handover: with 40 ms of jitter exploration finds it only about once in 4500 schedules,
//! and with this example's 20 ms never.)
//!
//! The component ([`LeaseStore`], [`Node`], [`LeadershipLog`]) has no simloop types in its
//! API: it takes time through the [`Clock`] trait; [`SimClock`] is the simloop adapter.
//!
//! Run it with `cargo run --example leader_lease`. `tests/leader_lease.rs` checks that FIFO
//! passes the buggy version, that `explore` finds the bug and its replay token reproduces
//! it, and that the fixed version survives a sweep.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

pub use simloop::{Clock, SimClock};

/// What the store holds, as a reply to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    /// The node holding an unexpired lease, if any.
    pub holder: Option<&'static str>,
    /// Bumped by every successful write.
    pub version: u64,
}

/// The shared lease: a holder, an expiry instant on the store's clock, and a version.
pub struct LeaseStore {
    clock: Rc<dyn Clock>,
    holder: Cell<Option<(&'static str, Duration)>>,
    version: Cell<u64>,
}

impl LeaseStore {
    /// A store with a free lease at version 0.
    pub fn new(clock: Rc<dyn Clock>) -> Self {
        LeaseStore {
            clock,
            holder: Cell::new(None),
            version: Cell::new(0),
        }
    }

    /// The lease as it stands: an expired lease reads as free.
    pub fn read(&self) -> LeaseRecord {
        let now = self.clock.now();
        LeaseRecord {
            holder: self
                .holder
                .get()
                .filter(|&(_, expires)| now < expires)
                .map(|(node, _)| node),
            version: self.version.get(),
        }
    }

    /// Gives the lease to `node` until `ttl` from now, whoever holds it.
    pub fn write(&self, node: &'static str, ttl: Duration) -> LeaseRecord {
        self.holder.set(Some((node, self.clock.now() + ttl)));
        self.version.set(self.version.get() + 1);
        self.read()
    }

    /// Gives the lease to `node` until `ttl` from now if the version is still `expected`
    /// (nobody wrote since the caller read it); otherwise changes nothing and returns the
    /// current record as the error.
    pub fn compare_and_set(
        &self,
        expected: u64,
        node: &'static str,
        ttl: Duration,
    ) -> Result<LeaseRecord, LeaseRecord> {
        if self.version.get() == expected {
            Ok(self.write(node, ttl))
        } else {
            Err(self.read())
        }
    }
}

/// `free (v0)`, `held by a (v1)`.
impl std::fmt::Display for LeaseRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.holder {
            None => write!(f, "free (v{})", self.version),
            Some(node) => write!(f, "held by {node} (v{})", self.version),
        }
    }
}

impl std::fmt::Debug for LeaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseStore")
            .field("holder", &self.holder.get())
            .field("version", &self.version.get())
            .finish_non_exhaustive()
    }
}

/// One stretch of time `[from, until)` during which `node` believed it was the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Term {
    /// The node.
    pub node: &'static str,
    /// When it started to believe it leads.
    pub from: Duration,
    /// When it stopped (exclusive).
    pub until: Duration,
}

/// Called with the earlier and the later of two overlapping terms.
type Alarm = Box<dyn Fn(&Term, &Term)>;

/// Every node's terms, and an alarm for the moment two of them overlap.
pub struct LeadershipLog {
    terms: RefCell<Vec<Term>>,
    alarm: Alarm,
    notes: Box<dyn Fn(&str)>,
}

impl LeadershipLog {
    /// A log that calls `alarm(earlier, later)` as soon as a node's term is found to overlap
    /// another node's (a test stops its simulation there).
    pub fn new(alarm: impl Fn(&Term, &Term) + 'static) -> Self {
        LeadershipLog {
            terms: RefCell::new(Vec::new()),
            alarm: Box::new(alarm),
            notes: Box::new(|_| {}),
        }
    }

    /// Also passes every node's narration (`"a: reads the lease: free (v0)"`) to `notes`.
    pub fn with_notes(mut self, notes: impl Fn(&str) + 'static) -> Self {
        self.notes = Box::new(notes);
        self
    }

    /// Narrates one step of a node.
    fn note(&self, text: &str) {
        (self.notes)(text);
    }

    /// Every term so far, in the order they began.
    pub fn terms(&self) -> Vec<Term> {
        self.terms.borrow().clone()
    }

    /// The first pair of terms of different nodes that overlap (the earlier-starting first).
    pub fn first_overlap(&self) -> Option<(Term, Term)> {
        let terms = self.terms.borrow();
        terms.iter().enumerate().find_map(|(i, later)| {
            terms[..i]
                .iter()
                .find(|t| t.node != later.node && t.from < later.until && later.from < t.until)
                .map(|earlier| (*earlier, *later))
        })
    }

    /// `node` believes it leads until `until`, from `now`: extends its current term or opens
    /// a new one.
    fn lead(&self, node: &'static str, now: Duration, until: Duration) {
        let mut terms = self.terms.borrow_mut();
        match terms.iter_mut().rev().find(|t| t.node == node) {
            Some(t) if now < t.until => t.until = t.until.max(until),
            _ => terms.push(Term {
                node,
                from: now,
                until,
            }),
        }
        drop(terms);
        if let Some((a, b)) = self.first_overlap() {
            (self.alarm)(&a, &b);
        }
    }

    /// `node` learns at `now` that it does not lead: its current term ends there.
    fn step_down(&self, node: &'static str, now: Duration) {
        let mut terms = self.terms.borrow_mut();
        if let Some(t) = terms.iter_mut().rev().find(|t| t.node == node) {
            t.until = t.until.min(now).max(t.from);
        }
    }
}

impl std::fmt::Debug for LeadershipLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeadershipLog")
            .field("terms", &self.terms.borrow())
            .finish_non_exhaustive()
    }
}

/// How a node claims and renews the lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// A blind write: whatever happened since the node read the lease, it takes it.
    Blind,
    /// Compare-and-set on the version the node last saw.
    CompareAndSet,
}

/// How long a node believes a granted lease lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// `ttl` from the moment the reply arrived: later than the store's expiry.
    FromReply,
    /// `ttl - margin` from the moment the request was sent: never later than the store's.
    FromRequest {
        /// The safety margin (for clock drift between node and store).
        margin: Duration,
    },
}

/// A node's timing and policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// How long the store grants the lease for.
    pub ttl: Duration,
    /// How often a leader renews.
    pub renew_every: Duration,
    /// How often a follower checks whether the lease is free.
    pub retry_every: Duration,
    /// One-way network latency to the store.
    pub latency: Duration,
    /// How the node writes the lease.
    pub write: Write,
    /// How long the node believes a lease lasts.
    pub validity: Validity,
}

impl NodeConfig {
    /// TTL 1 s, renew every 300 ms, retry every 100 ms, 10 ms latency.
    fn timing(write: Write, validity: Validity) -> NodeConfig {
        NodeConfig {
            ttl: Duration::from_secs(1),
            renew_every: Duration::from_millis(300),
            retry_every: Duration::from_millis(100),
            latency: Duration::from_millis(10),
            write,
            validity,
        }
    }

    /// The planted bugs: blind writes, validity counted from the reply.
    pub fn buggy() -> NodeConfig {
        NodeConfig::timing(Write::Blind, Validity::FromReply)
    }

    /// Compare-and-set, validity counted from the request minus a 50 ms margin.
    pub fn fixed() -> NodeConfig {
        NodeConfig::timing(
            Write::CompareAndSet,
            Validity::FromRequest {
                margin: Duration::from_millis(50),
            },
        )
    }
}

/// A node competing for the lease.
pub struct Node {
    name: &'static str,
    config: NodeConfig,
    clock: Rc<dyn Clock>,
    store: Rc<LeaseStore>,
    log: Rc<LeadershipLog>,
    /// While it believes it leads: until when, and the version of its lease.
    lease: Cell<Option<(Duration, u64)>>,
}

impl Node {
    /// A node called `name` (shown in terms and messages).
    pub fn new(
        name: &'static str,
        config: NodeConfig,
        clock: Rc<dyn Clock>,
        store: Rc<LeaseStore>,
        log: Rc<LeadershipLog>,
    ) -> Self {
        Node {
            name,
            config,
            clock,
            store,
            log,
            lease: Cell::new(None),
        }
    }

    /// True while the node believes it leads (its lease is valid by its own reckoning).
    pub fn is_leader(&self) -> bool {
        let now = self.clock.now();
        self.lease.get().is_some_and(|(until, _)| now < until)
    }

    /// One round trip to the store: `f` runs there, at the instant the request arrives.
    async fn request<R>(&self, f: impl FnOnce(&LeaseStore) -> R) -> R {
        self.clock.sleep(self.config.latency).await;
        let reply = f(&self.store);
        self.clock.sleep(self.config.latency).await;
        reply
    }

    /// The store granted the lease (`record`) to a request sent at `sent`.
    fn granted(&self, sent: Duration, record: LeaseRecord) {
        let now = self.clock.now();
        let until = match self.config.validity {
            Validity::FromReply => now + self.config.ttl,
            Validity::FromRequest { margin } => (sent + self.config.ttl).saturating_sub(margin),
        };
        if now < until {
            self.log.note(&format!(
                "{}: leads until {until:?} (v{})",
                self.name, record.version
            ));
            self.lease.set(Some((until, record.version)));
            self.log.lead(self.name, now, until);
        }
    }

    fn lost(&self, record: LeaseRecord) {
        self.log
            .note(&format!("{}: lost the lease, now {record}", self.name));
        self.lease.set(None);
        self.log.step_down(self.name, self.clock.now());
    }

    /// Follower: read the lease, and claim it if it is free.
    async fn try_acquire(&self) {
        let seen = self.request(LeaseStore::read).await;
        self.log
            .note(&format!("{}: the lease is {seen}", self.name));
        if seen.holder.is_some() {
            return;
        }
        let (name, ttl) = (self.name, self.config.ttl);
        let sent = self.clock.now();
        let reply = match self.config.write {
            Write::Blind => self.request(|s| Ok(s.write(name, ttl))).await,
            Write::CompareAndSet => {
                self.request(|s| s.compare_and_set(seen.version, name, ttl))
                    .await
            }
        };
        match reply {
            Ok(record) => self.granted(sent, record),
            Err(record) => {
                let text = format!("{}: claim refused, the lease is {record}", self.name);
                self.log.note(&text);
            }
        }
    }

    /// Leader: extend the lease.
    async fn renew(&self, version: u64) {
        let (name, ttl) = (self.name, self.config.ttl);
        let sent = self.clock.now();
        let reply = match self.config.write {
            Write::Blind => self.request(|s| Ok(s.write(name, ttl))).await,
            Write::CompareAndSet => {
                self.request(|s| s.compare_and_set(version, name, ttl))
                    .await
            }
        };
        match reply {
            Ok(record) => self.granted(sent, record),
            Err(record) => self.lost(record),
        }
    }

    /// Competes for the lease until `stop_at` on the node's clock, then falls silent (as if
    /// cut off from the store: it sends nothing more, but still believes its lease lasts).
    pub async fn run(&self, stop_at: Duration) {
        while self.clock.now() < stop_at {
            match self.lease.get() {
                Some((_, version)) if self.is_leader() => {
                    self.renew(version).await;
                    self.clock.sleep(self.config.renew_every).await;
                }
                _ => {
                    self.try_acquire().await;
                    let pause = if self.is_leader() {
                        self.config.renew_every
                    } else {
                        self.config.retry_every
                    };
                    self.clock.sleep(pause).await;
                }
            }
        }
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("lease", &self.lease.get())
            .finish_non_exhaustive()
    }
}

/// The most a timer fires late in [`explorer`]'s schedules.
pub const JITTER: Duration = Duration::from_millis(20);

/// The scenario for `explore`: see [`cluster`].
pub fn scenario(config: NodeConfig, lp: &mut simloop::EventLoop) -> Result<(), String> {
    cluster(config, lp).map(drop)
}

/// Node a starts at once and is cut off from the store at 700 ms; node b starts 25 ms
/// later and runs until 2 s, so it takes over once a's lease runs out. Every node narrates
/// its steps with `simloop::mark` (they show in a failure's trace). Returns every term, or
/// the first two overlapping terms as the error; the run stops at the first overlap.
pub fn cluster(config: NodeConfig, lp: &mut simloop::EventLoop) -> Result<Vec<Term>, String> {
    let clock: Rc<dyn Clock> = Rc::new(SimClock);
    let store = Rc::new(LeaseStore::new(clock.clone()));
    let log =
        Rc::new(LeadershipLog::new(|_, _| simloop::stop()).with_notes(|n: &str| simloop::mark(n)));
    let node = |name| {
        Rc::new(Node::new(
            name,
            config,
            clock.clone(),
            store.clone(),
            log.clone(),
        ))
    };
    let (a, b) = (node("a"), node("b"));
    lp.spawn_named("node a", async move {
        a.run(Duration::from_millis(700)).await;
    });
    let c = clock.clone();
    lp.spawn_named("node b", async move {
        c.sleep(Duration::from_millis(25)).await;
        b.run(Duration::from_secs(2)).await;
    });
    lp.run().map_err(|e| format!("the loop failed: {e}"))?;
    match log.first_overlap() {
        None => Ok(log.terms()),
        Some((x, y)) => Err(format!(
            "two leaders at once: {} leads [{:?}, {:?}) and {} leads [{:?}, {:?})",
            x.node, x.from, x.until, y.node, y.from, y.until
        )),
    }
}

/// The exploration settings: 500 schedules, timers up to [`JITTER`] late.
pub fn explorer() -> simloop::Explore {
    simloop::Explore::new().runs(500).timer_jitter(JITTER)
}

fn main() {
    let fifo = scenario(NodeConfig::buggy(), &mut simloop::EventLoop::new());
    println!("buggy version under FIFO: {fifo:?}");
    match simloop::explore(&explorer(), |lp| scenario(NodeConfig::buggy(), lp)) {
        Ok(explored) => println!("buggy version: no failure in {} runs", explored.runs),
        Err(failure) => println!("buggy version under exploration:\n{failure}"),
    }
    match simloop::explore(&explorer(), |lp| scenario(NodeConfig::fixed(), lp)) {
        Ok(explored) => println!(
            "fixed version: no double leader in {} schedules (timer jitter up to {JITTER:?})",
            explored.runs
        ),
        Err(failure) => println!("fixed version FAILED:\n{failure}"),
    }
}
