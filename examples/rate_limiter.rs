//! A token-bucket rate limiter, tested on simloop's virtual clock.
//!
//! The component ([`TokenBucket`]) is ordinary library code: its API holds no simloop
//! types. It reads time through simloop's small [`Clock`] trait, so production code passes a
//! clock over its runtime's timers (`simloop::TokioClock`, feature `tokio`) while tests pass
//! [`SimClock`], the simloop implementation, and check exact permit instants in
//! microseconds of real time.
//!
//! `main` runs [`demo`]: bursts of requests against a bucket of 3 permits refilled every
//! 500 ms, printing when each request arrives and when it is permitted, at its virtual
//! instant.
//!
//! Run it with `cargo run --example rate_limiter`. Its tests live in
//! `tests/rate_limiter.rs`: they compare the permit instants with an independent
//! simulation of the bucket and check the rate bound over every window, for arbitrary
//! arrivals, capacities and intervals.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

pub use simloop::{Clock, SimClock};

/// A token bucket: holds at most `capacity` tokens, starts full, and gains one token every
/// `interval` (on a fixed grid counted from its creation; a token that arrives when the
/// bucket is full is lost). Each permit takes one token.
///
/// Requests are served first come, first served: [`TokenBucket::acquire`] reserves the next
/// token when first polled, and waits until that token arrives, so a later request is
/// never permitted before an earlier one, and [`TokenBucket::try_acquire`] never takes a
/// token reserved by a waiting request. A waiting `acquire` that is dropped forfeits its
/// reserved token.
pub struct TokenBucket<C> {
    clock: C,
    capacity: u32,
    interval: Duration,
    state: RefCell<State>,
}

struct State {
    /// Tokens in the bucket minus tokens reserved by waiting requests.
    tokens: i64,
    /// The grid point up to which tokens have been added.
    refilled_to: Duration,
}

impl<C: Clock> TokenBucket<C> {
    /// A full bucket of `capacity` tokens, gaining one every `interval` from now.
    ///
    /// # Panics
    ///
    /// If `capacity` or `interval` is zero.
    pub fn new(clock: C, capacity: u32, interval: Duration) -> Self {
        assert!(capacity > 0, "a bucket holds at least one token");
        assert!(!interval.is_zero(), "the refill interval is not zero");
        let refilled_to = clock.now();
        TokenBucket {
            clock,
            capacity,
            interval,
            state: RefCell::new(State {
                tokens: i64::from(capacity),
                refilled_to,
            }),
        }
    }

    /// Waits for a permit: returns at once if a token is free and nobody is waiting,
    /// otherwise when the token reserved for this request arrives.
    pub async fn acquire(&self) {
        let ready_at = {
            let mut state = self.refilled();
            state.tokens -= 1;
            if state.tokens >= 0 {
                return;
            }
            // The deficit is paid by the next `-tokens` grid points.
            let ticks = u32::try_from(-state.tokens).expect("fewer than 2^32 waiters");
            state.refilled_to + self.interval * ticks
        };
        self.clock.sleep_until(ready_at).await;
    }

    /// Takes a permit if a token is free now and nobody is waiting for one.
    pub fn try_acquire(&self) -> bool {
        let mut state = self.refilled();
        if state.tokens > 0 {
            state.tokens -= 1;
            true
        } else {
            false
        }
    }

    /// Free tokens now (0 while requests are waiting).
    pub fn available(&self) -> u32 {
        u32::try_from(self.refilled().tokens.max(0)).expect("at most capacity")
    }

    /// The state with every token due by now added.
    fn refilled(&self) -> std::cell::RefMut<'_, State> {
        let mut state = self.state.borrow_mut();
        let now = self.clock.now();
        let elapsed = now.saturating_sub(state.refilled_to).as_nanos();
        let ticks = elapsed / self.interval.as_nanos();
        if ticks > 0 {
            state.refilled_to += from_nanos_u128(ticks * self.interval.as_nanos());
            let added = i64::try_from(ticks).unwrap_or(i64::MAX);
            state.tokens = state
                .tokens
                .saturating_add(added)
                .min(i64::from(self.capacity));
        }
        state
    }
}

impl<C> fmt::Debug for TokenBucket<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("TokenBucket")
            .field("capacity", &self.capacity)
            .field("interval", &self.interval)
            .field("tokens", &state.tokens)
            .field("refilled_to", &state.refilled_to)
            .finish()
    }
}

fn from_nanos_u128(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    Duration::new(secs, (nanos % NANOS_PER_SEC) as u32)
}

/// `[instant] message` lines, stamped with the running loop's clock.
#[derive(Clone, Debug, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    /// Records `msg` at the running loop's time.
    pub fn say(&self, msg: impl fmt::Display) {
        self.0
            .borrow_mut()
            .push(format!("[{}] {msg}", simloop::now()));
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// The demonstration: a bucket of 3 tokens refilled every 500 ms; a burst of five requests
/// at 0 s, best-effort `try_acquire`s at 1.2 s and 2.2 s, a burst of four at 4 s. Returns the
/// log.
pub fn demo() -> Vec<String> {
    let log = Log::default();
    let mut lp = simloop::EventLoop::new();
    let bucket = Rc::new(lp.enter(|| TokenBucket::new(SimClock, 3, Duration::from_millis(500))));
    let at_ms = simloop::Instant::from_millis;
    let bursts: [(u64, &[&str]); 2] = [
        (0, &["r1", "r2", "r3", "r4", "r5"]),
        (4000, &["r6", "r7", "r8", "r9"]),
    ];
    for (arrival, names) in bursts {
        for &name in names {
            let (log, bucket) = (log.clone(), bucket.clone());
            lp.call_at(at_ms(arrival), move || {
                simloop::spawn(async move {
                    let requested = simloop::now();
                    log.say(format!("{name} requested"));
                    bucket.acquire().await;
                    log.say(format!("{name} permitted (requested at {requested})"));
                });
            });
        }
    }
    for check_ms in [1200, 2200] {
        let (log, bucket) = (log.clone(), bucket.clone());
        lp.call_at(at_ms(check_ms), move || {
            let outcome = if bucket.try_acquire() {
                "permitted"
            } else {
                "rejected"
            };
            log.say(format!("health check: try_acquire {outcome}"));
        });
    }
    lp.run().expect("every request is permitted");
    log.lines()
}

fn main() {
    for line in demo() {
        println!("{line}");
    }
}
