//! The TTL cache of `examples/ttl_cache.rs` against an independent reference model, shared by
//! `tests/ttl_cache.rs` (proptest), `tests/fuzz_corpus.rs` (the checked-in corpus on stable)
//! and the cargo-fuzz target `fuzz/fuzz_targets/ttl_cache.rs`.
//!
//! The including crate must also include the example as `crate::ttl_cache`:
//!
//! ```ignore
//! #[path = "../examples/ttl_cache.rs"]
//! #[allow(dead_code)]
//! mod ttl_cache;
//! #[path = "support/ttl_cache_scenario.rs"]
//! mod ttl_cache_scenario;
//! ```
//!
//! A scenario is a list of [`Op`]s run one after the other by a single task: sleeps, inserts
//! (with the default TTL or their own), lookups, removes, `get_or_load` with a loader that
//! takes some time, purges, and listings. [`run_real`] runs it on a simloop loop through
//! [`SimClock`]; [`run_model`] evaluates it with plain code: a `BTreeMap` of key ->
//! (value, expiry instant) and a time counter, where an entry inserted at `t` with TTL `d` is
//! live at instants `< t + d` and expired at instants `>= t + d`, and expired entries stay
//! stored until a purge, a remove or an overwrite. Both produce one line per op, with the
//! instant it completed at; [`check`] demands the two lists be equal, line for line.

#![allow(dead_code)]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use crate::ttl_cache::{Clock, Lookup, SimClock, TtlCache};

/// How many distinct keys a scenario uses.
pub const KEYS: u8 = 4;
/// The cache's default TTL, in milliseconds.
pub const DEFAULT_TTL_MS: u64 = 10;
/// The most ops a fuzz input decodes to.
pub const MAX_OPS: usize = 64;

/// One operation. Raw numbers are normalised when the op runs (keys modulo [`KEYS`], sleeps
/// and latencies modulo 16 ms, TTLs modulo 32 ms), so every value of every field is valid and
/// times stay short enough to hit expiry boundaries often.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Let this many milliseconds pass.
    Sleep(u8),
    /// `insert` (TTL `None`: the default) or `insert_with_ttl` (milliseconds).
    Insert {
        /// The key.
        key: u8,
        /// The value.
        value: u8,
        /// The TTL in milliseconds, or the default.
        ttl: Option<u8>,
    },
    /// `lookup` (hit, expired or missing).
    Get(u8),
    /// `remove`.
    Remove(u8),
    /// `get_or_load` with a loader that takes `latency` ms and yields `value`.
    Load {
        /// The key.
        key: u8,
        /// What the loader yields.
        value: u8,
        /// How long the loader takes, in milliseconds.
        latency: u8,
    },
    /// `purge_expired`.
    Purge,
    /// `live_keys` and `stored_len`.
    List,
}

fn key(k: u8) -> u8 {
    k % KEYS
}

fn short(ms: u8) -> Duration {
    Duration::from_millis(u64::from(ms % 16))
}

fn ttl(ms: Option<u8>) -> Duration {
    ms.map_or(Duration::from_millis(DEFAULT_TTL_MS), |t| {
        Duration::from_millis(u64::from(t % 32))
    })
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Sleep(ms) => write!(f, "sleep {:?}", short(ms)),
            Op::Insert {
                key: k,
                value,
                ttl: None,
            } => write!(f, "insert k{}={value}", key(k)),
            Op::Insert {
                key: k,
                value,
                ttl: t,
            } => write!(f, "insert k{}={value} ttl {:?}", key(k), ttl(t)),
            Op::Get(k) => write!(f, "get k{}", key(k)),
            Op::Remove(k) => write!(f, "remove k{}", key(k)),
            Op::Load {
                key: k,
                value,
                latency,
            } => write!(
                f,
                "load k{} (loader: {value} after {:?})",
                key(k),
                short(latency)
            ),
            Op::Purge => f.write_str("purge"),
            Op::List => f.write_str("list"),
        }
    }
}

/// `[instant] op -> result`: the instant is the time the op completed at.
fn line(now: Duration, op: &Op, result: &str) -> String {
    format!("[{now:?}] {op} -> {result}")
}

fn show_lookup(l: Lookup<u8>) -> String {
    match l {
        Lookup::Hit(v) => format!("hit {v}"),
        Lookup::Expired => "expired".to_string(),
        Lookup::Missing => "missing".to_string(),
    }
}

fn show_keys(keys: &[u8]) -> String {
    let keys: Vec<String> = keys.iter().map(|k| format!("k{k}")).collect();
    format!("[{}]", keys.join(", "))
}

/// Runs `ops` on a simloop loop: one task applies them to a [`TtlCache`] in order.
pub fn run_real(ops: &[Op]) -> Vec<String> {
    let clock: Rc<dyn Clock> = Rc::new(SimClock);
    let cache: TtlCache<u8, u8> =
        TtlCache::new(clock.clone(), Duration::from_millis(DEFAULT_TTL_MS));
    let mut lp = simloop::EventLoop::new();
    let lines = lp
        .run_until_complete(async {
            let mut lines = Vec::new();
            for op in ops {
                let result = match *op {
                    Op::Sleep(ms) => {
                        clock.sleep(short(ms)).await;
                        "ok".to_string()
                    }
                    Op::Insert {
                        key: k,
                        value,
                        ttl: t,
                    } => {
                        let previous = match t {
                            None => cache.insert(key(k), value),
                            Some(_) => cache.insert_with_ttl(key(k), value, ttl(t)),
                        };
                        format!("previous {previous:?}")
                    }
                    Op::Get(k) => show_lookup(cache.lookup(&key(k))),
                    Op::Remove(k) => format!("removed {:?}", cache.remove(&key(k))),
                    Op::Load {
                        key: k,
                        value,
                        latency,
                    } => {
                        let loaded = Cell::new(false);
                        let v = cache
                            .get_or_load(key(k), || async {
                                loaded.set(true);
                                clock.sleep(short(latency)).await;
                                value
                            })
                            .await;
                        let how = if loaded.get() { "loaded" } else { "cached" };
                        format!("{v} ({how})")
                    }
                    Op::Purge => format!("purged {}", show_keys(&cache.purge_expired())),
                    Op::List => format!(
                        "live {} stored {}",
                        show_keys(&cache.live_keys()),
                        cache.stored_len()
                    ),
                };
                lines.push(line(clock.now(), op, &result));
            }
            lines
        })
        .unwrap_or_else(|e| panic!("the scenario's loop failed: {e}"));
    lines
}

/// The reference: the same ops evaluated with a map and a time counter, no executor.
pub fn run_model(ops: &[Op]) -> Vec<String> {
    let mut now = Duration::ZERO;
    // key -> (value, expires at); an entry is live while `now < expires at`.
    let mut map: BTreeMap<u8, (u8, Duration)> = BTreeMap::new();
    let live = |map: &BTreeMap<u8, (u8, Duration)>, now: Duration, k: u8| {
        map.get(&k).filter(|(_, exp)| now < *exp).map(|(v, _)| *v)
    };
    let mut lines = Vec::new();
    for op in ops {
        let result = match *op {
            Op::Sleep(ms) => {
                now += short(ms);
                "ok".to_string()
            }
            Op::Insert {
                key: k,
                value,
                ttl: t,
            } => {
                let previous = live(&map, now, key(k));
                map.insert(key(k), (value, now + ttl(t)));
                format!("previous {previous:?}")
            }
            Op::Get(k) => match (map.get(&key(k)), live(&map, now, key(k))) {
                (_, Some(v)) => format!("hit {v}"),
                (Some(_), None) => "expired".to_string(),
                (None, None) => "missing".to_string(),
            },
            Op::Remove(k) => {
                let removed = live(&map, now, key(k));
                map.remove(&key(k));
                format!("removed {removed:?}")
            }
            Op::Load {
                key: k,
                value,
                latency,
            } => match live(&map, now, key(k)) {
                Some(v) => format!("{v} (cached)"),
                None => {
                    now += short(latency);
                    map.insert(key(k), (value, now + ttl(None)));
                    format!("{value} (loaded)")
                }
            },
            Op::Purge => {
                let expired: Vec<u8> = map
                    .iter()
                    .filter(|(_, (_, exp))| now >= *exp)
                    .map(|(k, _)| *k)
                    .collect();
                for k in &expired {
                    map.remove(k);
                }
                format!("purged {}", show_keys(&expired))
            }
            Op::List => {
                let keys: Vec<u8> = map
                    .iter()
                    .filter(|(_, (_, exp))| now < *exp)
                    .map(|(k, _)| *k)
                    .collect();
                format!("live {} stored {}", show_keys(&keys), map.len())
            }
        };
        lines.push(line(now, op, &result));
    }
    lines
}

/// Runs `ops` both ways; `Err` names the first line where the cache and the model differ.
pub fn check(ops: &[Op]) -> Result<(), String> {
    let (real, model) = (run_real(ops), run_model(ops));
    if real == model {
        return Ok(());
    }
    let i = real
        .iter()
        .zip(&model)
        .position(|(r, m)| r != m)
        .unwrap_or(real.len().min(model.len()));
    Err(format!(
        "the cache and the model differ at op #{i}:\n  cache: {}\n  model: {}\nwhole run (cache):\n  {}",
        real.get(i).map_or("(no line)", String::as_str),
        model.get(i).map_or("(no line)", String::as_str),
        real.join("\n  ")
    ))
}

/// Decodes a scenario from fuzzer bytes: at most [`MAX_OPS`] ops.
pub fn ops_from_bytes(data: &[u8]) -> Vec<Op> {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS && !u.is_empty() {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    ops
}

/// The body of the `ttl_cache` fuzz target: panics where the cache and the model differ.
pub fn fuzz(data: &[u8]) {
    if let Err(e) = check(&ops_from_bytes(data)) {
        panic!("{e}");
    }
}
