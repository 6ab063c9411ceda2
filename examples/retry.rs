//! A retrying client, tested on simloop's virtual clock.
//!
//! The component ([`Retry`]) retries an async operation with exponential backoff and
//! jitter, under an overall deadline. It is ordinary library code: its API holds no simloop
//! types. It reads time through simloop's small [`Clock`] trait and draws jitter from a
//! plain `FnMut() -> u64` (here a seeded [`XorShift64`]), so production code passes a clock
//! over its runtime's timers (`simloop::TokioClock`, feature `tokio`) while tests pass
//! [`SimClock`], the simloop implementation, and run years of backoff in microseconds, with
//! the same instants on every run.
//!
//! `main` runs [`demo`]: two clients against flaky servers, one that recovers before the
//! deadline and one that does not, printing every event at its virtual instant.
//!
//! Run it with `cargo run --example retry`. Its tests live in `tests/retry.rs`: they check
//! the attempt instants against an independent model of the backoff schedule, for
//! arbitrary policies, failure counts and seeds.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use futures::future::{select, Either};

pub use simloop::{Clock, SimClock};

/// The retry policy.
///
/// After the `n`th failure (`n` counting from 1) the nominal delay is
/// `min(base_delay * 2^(n-1), max_delay)`; with `j = floor(nominal * jitter_percent / 100)`
/// (in nanoseconds) the actual delay is `nominal - j + draw % (j + 1)`, uniform in
/// `[nominal - j, nominal]`, where `draw` is one fresh value from the jitter source: exactly
/// one draw per computed delay, even when `jitter_percent` is 0.
///
/// The client stops after `max_attempts` attempts. `deadline` is measured from the call to
/// [`Retry::run`]: an attempt starts only strictly before it, an attempt still running when
/// it comes is abandoned (dropped), and the client never sleeps towards it: when the next
/// attempt would start at or after the deadline, it gives up at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The delay after the first failure.
    pub base_delay: Duration,
    /// The cap on the nominal delay, applied before jitter.
    pub max_delay: Duration,
    /// How much of the nominal delay jitter may take away, in percent (0 to 100).
    pub jitter_percent: u32,
    /// The most attempts to start.
    pub max_attempts: u32,
    /// The overall time budget, from the start of [`Retry::run`].
    pub deadline: Duration,
}

/// Why [`Retry::run`] gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The deadline came, or the next attempt would have started at or after it.
    DeadlineExceeded,
    /// `max_attempts` attempts failed.
    AttemptsExhausted,
}

/// The error of [`Retry::run`]: no attempt succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GaveUp<E> {
    /// Why the client stopped.
    pub reason: Reason,
    /// How many attempts were started, including one abandoned at the deadline.
    pub attempts: u32,
    /// The error of the last attempt that completed, if any completed.
    pub last_error: Option<E>,
}

impl<E: fmt::Display> fmt::Display for GaveUp<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self.reason {
            Reason::DeadlineExceeded => "deadline exceeded",
            Reason::AttemptsExhausted => "attempts exhausted",
        };
        write!(f, "{reason} after {} attempt(s)", self.attempts)?;
        if let Some(e) = &self.last_error {
            write!(f, ", last error: {e}")?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for GaveUp<E> {}

/// A retrying client: a [`Policy`], a [`Clock`] and a jitter source.
pub struct Retry<C, R> {
    clock: C,
    policy: Policy,
    rng: R,
}

impl<C: Clock, R: FnMut() -> u64> Retry<C, R> {
    /// A client following `policy`, reading time from `clock` and jitter from `rng`.
    ///
    /// # Panics
    ///
    /// If `policy.jitter_percent` is above 100.
    pub fn new(clock: C, policy: Policy, rng: R) -> Self {
        assert!(
            policy.jitter_percent <= 100,
            "jitter_percent is at most 100"
        );
        Retry { clock, policy, rng }
    }

    /// Runs `op(1)`, `op(2)`, ... until one returns `Ok`, backing off between attempts, or
    /// gives up (see [`Policy`]). The argument is the attempt number.
    pub async fn run<T, E, F, Fut>(&mut self, mut op: F) -> Result<T, GaveUp<E>>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let deadline = self.clock.now().saturating_add(self.policy.deadline);
        let mut nominal = self.policy.base_delay.min(self.policy.max_delay);
        let mut attempts = 0;
        let mut last_error = None;
        let gave_up = |reason, attempts, last_error| {
            Err(GaveUp {
                reason,
                attempts,
                last_error,
            })
        };
        loop {
            if attempts == self.policy.max_attempts {
                return gave_up(Reason::AttemptsExhausted, attempts, last_error);
            }
            if attempts > 0 {
                let delay = self.jittered(nominal);
                nominal = nominal.saturating_mul(2).min(self.policy.max_delay);
                if self.clock.now().saturating_add(delay) >= deadline {
                    return gave_up(Reason::DeadlineExceeded, attempts, last_error);
                }
                self.clock.sleep(delay).await;
            }
            let now = self.clock.now();
            if now >= deadline {
                return gave_up(Reason::DeadlineExceeded, attempts, last_error);
            }
            attempts += 1;
            // The attempt is polled first, so one that completes exactly at the deadline
            // counts.
            let attempt = pin!(op(attempts));
            match select(attempt, self.clock.sleep_until(deadline)).await {
                Either::Left((Ok(value), _)) => return Ok(value),
                Either::Left((Err(e), _)) => last_error = Some(e),
                Either::Right(((), _abandoned)) => {
                    return gave_up(Reason::DeadlineExceeded, attempts, last_error)
                }
            }
        }
    }

    /// `nominal` minus a jitter in `[0, jitter_percent% of nominal]`, from one draw.
    fn jittered(&mut self, nominal: Duration) -> Duration {
        let draw = u128::from((self.rng)());
        let nanos = nominal.as_nanos();
        let spread = nanos * u128::from(self.policy.jitter_percent) / 100;
        from_nanos_u128(nanos - spread + draw % (spread + 1))
    }
}

fn from_nanos_u128(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    Duration::new(secs, (nanos % NANOS_PER_SEC) as u32)
}

/// Marsaglia's xorshift64: a tiny seeded generator, enough for jitter.
#[derive(Clone, Debug)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator seeded with `seed` (0 is replaced by 1: xorshift never leaves 0).
    pub fn new(seed: u64) -> Self {
        XorShift64(seed.max(1))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// A server that fails its first `failures` requests, then succeeds; each request takes
/// `latency`. It logs every request and its answer at the running loop's time.
#[derive(Clone, Debug)]
pub struct FlakyServer {
    failures: u32,
    latency: Duration,
    served: Rc<Cell<u32>>,
    log: Rc<RefCell<Vec<String>>>,
}

impl FlakyServer {
    /// A server that fails `failures` times, answering each request after `latency`.
    pub fn new(failures: u32, latency: Duration) -> Self {
        FlakyServer {
            failures,
            latency,
            served: Rc::default(),
            log: Rc::default(),
        }
    }

    /// One request: `Err("503 unavailable")` for the first `failures` requests, then
    /// `Ok("200 ok")`.
    pub async fn request(&self, attempt: u32) -> Result<&'static str, &'static str> {
        self.say(format!("attempt {attempt} sent"));
        simloop::sleep(self.latency).await;
        let n = self.served.get() + 1;
        self.served.set(n);
        let answer = if n <= self.failures {
            Err("503 unavailable")
        } else {
            Ok("200 ok")
        };
        match answer {
            Ok(a) | Err(a) => self.say(format!("attempt {attempt} answered {a}")),
        }
        answer
    }

    /// Records `msg` as `[instant] msg`.
    pub fn say(&self, msg: impl fmt::Display) {
        self.log
            .borrow_mut()
            .push(format!("[{}] {msg}", simloop::now()));
    }

    /// The log so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.borrow().clone()
    }
}

/// One demonstration: a client with `policy` and jitter seed `seed` against a server that
/// fails `failures` times with 50 ms latency. Returns the log lines.
pub fn scenario(policy: Policy, failures: u32, seed: u64) -> Vec<String> {
    let server = FlakyServer::new(failures, Duration::from_millis(50));
    let mut lp = simloop::EventLoop::new();
    let s = server.clone();
    lp.run_until_complete(async move {
        let mut rng = XorShift64::new(seed);
        let mut client = Retry::new(SimClock, policy, move || rng.next_u64());
        match client.run(|attempt| s.request(attempt)).await {
            Ok(answer) => s.say(format!("success: {answer}")),
            Err(e) => s.say(format!("gave up: {e}")),
        }
    })
    .expect("the scenario runs to completion");
    server.lines()
}

/// The policy of the demonstration: 500 ms doubling up to 4 s, 20 % jitter, at most 8
/// attempts, 10 s deadline.
pub fn demo_policy() -> Policy {
    Policy {
        base_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(4),
        jitter_percent: 20,
        max_attempts: 8,
        deadline: Duration::from_secs(10),
    }
}

/// Both demonstrations, with headers: the server recovers after 4 failures, then it never
/// does.
pub fn demo() -> Vec<String> {
    let mut lines = vec!["== server fails 4 times ==".to_string()];
    lines.extend(scenario(demo_policy(), 4, 7));
    lines.push("== server keeps failing ==".to_string());
    lines.extend(scenario(demo_policy(), u32::MAX, 7));
    lines
}

fn main() {
    for line in demo() {
        println!("{line}");
    }
}
