//! A cache whose entries expire after a time to live (TTL), tested on simloop's virtual clock.
//!
//! The component, [`TtlCache`], knows nothing about simloop's loop: it reads time and sleeps
//! through simloop's small [`Clock`] trait, so the same code runs on a real runtime with a
//! wall-clock implementation (`simloop::TokioClock`, feature `tokio`). [`SimClock`] is the
//! simloop adapter: `now()` is the loop's virtual instant and `sleep` is
//! [`simloop::sleep`], so a test that waits two hours for an entry to expire takes
//! microseconds, and prints the same instants on every run.
//!
//! Expiry is exact: an entry inserted at instant `t` with TTL `d` is visible at every instant
//! `< t + d` and gone at every instant `>= t + d` (a TTL of zero stores nothing visible).
//! Expired entries stay in memory until [`TtlCache::purge_expired`] (or the background
//! [`TtlCache::run_sweeper`]), an overwriting insert, or a remove drops them; until then a
//! [`TtlCache::lookup`] reports them as [`Lookup::Expired`]. Keys live in a `BTreeMap`, so
//! every list the cache returns is in key order and nothing depends on hash order.
//!
//! Run it with `cargo run --example ttl_cache`. `tests/ttl_cache.rs` asserts this output
//! exactly, checks the cache against an independent reference model with proptest
//! (`tests/support/ttl_cache_scenario.rs`, shared with the cargo-fuzz target
//! `fuzz/fuzz_targets/ttl_cache.rs`), and replays the seed corpus `fuzz/corpus/ttl_cache/`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

pub use simloop::{Clock, SimClock};

/// The result of [`TtlCache::lookup`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup<V> {
    /// The key has a live entry with this value.
    Hit(V),
    /// The key's entry has expired but has not been purged yet.
    Expired,
    /// The key has no entry.
    Missing,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    /// `None`: the TTL is so long that the expiry instant is not representable; never expires.
    expires_at: Option<Duration>,
}

impl<V> Entry<V> {
    fn is_live(&self, now: Duration) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// A key-value cache whose entries expire a fixed time after they were inserted.
///
/// Single-threaded: share it as `Rc<TtlCache<K, V>>`; every method takes `&self`.
pub struct TtlCache<K, V> {
    clock: Rc<dyn Clock>,
    ttl: Duration,
    entries: RefCell<BTreeMap<K, Entry<V>>>,
}

impl<K: Ord + Clone, V: Clone> TtlCache<K, V> {
    /// An empty cache whose entries live for `ttl` unless inserted with their own TTL.
    pub fn new(clock: Rc<dyn Clock>, ttl: Duration) -> Self {
        TtlCache {
            clock,
            ttl,
            entries: RefCell::new(BTreeMap::new()),
        }
    }

    /// The default TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Inserts `value` for `key` with the default TTL; returns the previous live value.
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        self.insert_with_ttl(key, value, self.ttl)
    }

    /// Inserts `value` for `key`, visible until `ttl` from now (exclusive); returns the
    /// previous value if it was still live.
    pub fn insert_with_ttl(&self, key: K, value: V, ttl: Duration) -> Option<V> {
        let now = self.clock.now();
        let entry = Entry {
            value,
            expires_at: now.checked_add(ttl),
        };
        let previous = self.entries.borrow_mut().insert(key, entry);
        previous.filter(|e| e.is_live(now)).map(|e| e.value)
    }

    /// The live value of `key`, if any.
    pub fn get(&self, key: &K) -> Option<V> {
        match self.lookup(key) {
            Lookup::Hit(v) => Some(v),
            Lookup::Expired | Lookup::Missing => None,
        }
    }

    /// What the cache holds for `key`, telling an expired entry from a missing one.
    pub fn lookup(&self, key: &K) -> Lookup<V> {
        let now = self.clock.now();
        match self.entries.borrow().get(key) {
            Some(e) if e.is_live(now) => Lookup::Hit(e.value.clone()),
            Some(_) => Lookup::Expired,
            None => Lookup::Missing,
        }
    }

    /// Removes `key`'s entry, live or expired; returns its value if it was live.
    pub fn remove(&self, key: &K) -> Option<V> {
        let now = self.clock.now();
        let removed = self.entries.borrow_mut().remove(key);
        removed.filter(|e| e.is_live(now)).map(|e| e.value)
    }

    /// The keys with a live entry, in key order.
    pub fn live_keys(&self) -> Vec<K> {
        let now = self.clock.now();
        let entries = self.entries.borrow();
        entries
            .iter()
            .filter(|(_, e)| e.is_live(now))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// How many entries are stored, expired ones included (the memory the cache holds).
    pub fn stored_len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// Drops every expired entry; returns their keys in key order.
    pub fn purge_expired(&self) -> Vec<K> {
        let now = self.clock.now();
        let mut entries = self.entries.borrow_mut();
        let expired: Vec<K> = entries
            .iter()
            .filter(|(_, e)| !e.is_live(now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &expired {
            entries.remove(k);
        }
        expired
    }

    /// The live value of `key`, or else the value `load()` produces, inserted with the
    /// default TTL counted from the moment the load completes.
    ///
    /// The cache is not borrowed while the loader runs, so other tasks use it meanwhile.
    /// Concurrent misses on one key each run their loader; the last to finish wins.
    pub async fn get_or_load<F, Fut>(&self, key: K, load: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        if let Some(v) = self.get(&key) {
            return v;
        }
        let value = load().await;
        self.insert(key, value.clone());
        value
    }

    /// Runs forever: every `every`, purges the expired entries and, if there were any,
    /// passes their keys to `evicted`. Spawn it as a background task; drop or cancel it to
    /// stop.
    pub async fn run_sweeper(&self, every: Duration, mut evicted: impl FnMut(Vec<K>)) {
        loop {
            self.clock.sleep(every).await;
            let keys = self.purge_expired();
            if !keys.is_empty() {
                evicted(keys);
            }
        }
    }
}

impl<K: std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for TtlCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtlCache")
            .field("ttl", &self.ttl)
            .field("entries", &self.entries.borrow())
            .finish_non_exhaustive()
    }
}

/// The demonstration `main` prints: one `[instant] event` line per step, on a fresh loop.
pub fn demo() -> Vec<String> {
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    let say = {
        let log = log.clone();
        move |msg: String| log.borrow_mut().push(format!("[{}] {msg}", simloop::now()))
    };
    let show = |l: Lookup<&str>| match l {
        Lookup::Hit(v) => format!("hit {v}"),
        Lookup::Expired => "miss (expired)".to_string(),
        Lookup::Missing => "miss (absent)".to_string(),
    };
    let secs = Duration::from_secs;
    let cache: Rc<TtlCache<&str, &str>> = Rc::new(TtlCache::new(Rc::new(SimClock), secs(2)));

    let mut lp = simloop::EventLoop::new();
    lp.run_until_complete(async move {
        let sweeper = {
            let (cache, say) = (cache.clone(), say.clone());
            simloop::spawn(async move {
                cache
                    .run_sweeper(secs(3), |keys| say(format!("sweeper evicts {keys:?}")))
                    .await;
            })
        };
        cache.insert("k1", "v1");
        say("insert k1 = v1 (ttl 2s)".to_string());
        cache.insert_with_ttl("k2", "v2", secs(7));
        say("insert k2 = v2 (ttl 7s)".to_string());
        simloop::sleep(Duration::from_millis(1999)).await;
        say(format!("get k1 -> {}", show(cache.lookup(&"k1"))));
        simloop::sleep(Duration::from_millis(1)).await;
        say(format!("get k1 -> {}", show(cache.lookup(&"k1"))));
        say(format!("get k3 -> {}", show(cache.lookup(&"k3"))));
        let loaded = {
            let say = say.clone();
            cache
                .get_or_load("k3", || async move {
                    say("load k3: fetching (takes 500ms)".to_string());
                    simloop::sleep(Duration::from_millis(500)).await;
                    "v3"
                })
                .await
        };
        say(format!("get_or_load k3 -> {loaded} (expires at 4.5s)"));
        simloop::sleep(secs(1)).await;
        let cached = cache
            .get_or_load("k3", || async { unreachable!("k3 is cached") })
            .await;
        say(format!("get_or_load k3 -> {cached} (cached, no load)"));
        simloop::sleep(secs(3)).await;
        say(format!("live keys {:?}", cache.live_keys()));
        simloop::sleep(Duration::from_millis(500)).await;
        say(format!("get k2 -> {}", show(cache.lookup(&"k2"))));
        say(format!("stored entries {}", cache.stored_len()));
        simloop::sleep(Duration::from_millis(2500)).await;
        say(format!("stored entries {}", cache.stored_len()));
        sweeper.cancel();
    })
    .expect("the demo completes");
    let lines = log.borrow().clone();
    lines
}

fn main() {
    for line in demo() {
        println!("{line}");
    }
}
