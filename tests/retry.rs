//! The retrying client of `examples/retry.rs`, run on simloop's virtual clock.
//!
//! The property runs the component for arbitrary policies, failure counts, latencies and
//! jitter draws, and compares the instant of every attempt, the outcome and the instant of
//! the outcome with [`model`], an independent computation of the backoff schedule. The
//! example tests pin whole schedules, including the boundaries of the deadline.

#[allow(dead_code)]
#[path = "../examples/retry.rs"]
mod retry;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use simloop::EventLoop;

use retry::{GaveUp, Policy, Reason, Retry, SimClock};

/// What a run produced: attempt start instants and the outcome's instant (in nanoseconds),
/// the outcome (the successful attempt's number, or the error, whose `last_error` is the
/// number of the last attempt that failed), and how many jitter draws were taken.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Run {
    starts: Vec<u64>,
    outcome: Result<u32, GaveUp<u32>>,
    end: u64,
    draws_taken: usize,
}

/// Runs the component on simloop against an operation that takes `latency`, fails (with
/// its attempt number) `failures` times, then succeeds (with its attempt number). Jitter
/// draws cycle through `draws`.
fn simulate(policy: Policy, failures: u32, latency: Duration, draws: &[u64]) -> Run {
    let starts = Rc::new(RefCell::new(Vec::new()));
    let taken = Rc::new(Cell::new(0usize));
    let draws = draws.to_vec();
    let mut lp = EventLoop::new();
    let (s, t) = (starts.clone(), taken.clone());
    let outcome = lp
        .run_until_complete(async move {
            let rng = move || {
                let i = t.get();
                t.set(i + 1);
                draws[i % draws.len()]
            };
            let mut client = Retry::new(SimClock, policy, rng);
            client
                .run(|attempt| {
                    let s = s.clone();
                    async move {
                        s.borrow_mut().push(simloop::now().as_nanos());
                        simloop::sleep(latency).await;
                        if attempt <= failures {
                            Err(attempt)
                        } else {
                            Ok(attempt)
                        }
                    }
                })
                .await
        })
        .expect("the client finishes");
    let starts = starts.borrow().clone();
    Run {
        starts,
        outcome,
        end: lp.time().as_nanos(),
        draws_taken: taken.get(),
    }
}

/// The schedule the policy prescribes, computed directly in nanoseconds, attempt by
/// attempt: before attempt `n > 1` the nominal delay is `base * 2^(n-2)` capped at `max`,
/// and the jittered delay is the lowest allowed delay, `ceil(nominal * (100 - jitter) /
/// 100)`, plus the draw modulo the width of the allowed range. The client gives up when
/// `max_attempts` attempts failed, or as soon as the next start would not be strictly before
/// the deadline; an attempt not answered by the deadline ends the run there.
fn model(policy: Policy, failures: u32, latency: Duration, draws: &[u64]) -> Run {
    let deadline = policy.deadline.as_nanos();
    let latency = latency.as_nanos();
    let base = policy.base_delay.as_nanos();
    let max = policy.max_delay.as_nanos();
    let jitter = u128::from(policy.jitter_percent);
    let mut t: u128 = 0;
    let mut starts: Vec<u64> = Vec::new();
    let mut draws_taken = 0;
    let outcome = loop {
        let n = starts.len() as u32 + 1; // the attempt about to start
        let last_error = (n > 1).then_some(n - 1);
        if n > policy.max_attempts {
            break gave_up(Reason::AttemptsExhausted, n - 1, last_error);
        }
        if n > 1 {
            // base < 2^64 and max < 2^64, so a shift of 64 already exceeds any cap.
            let nominal = (base << (n - 2).min(64)).min(max);
            let lowest = (nominal * (100 - jitter)).div_ceil(100);
            let width = nominal - lowest + 1;
            let delay = lowest + u128::from(draws[draws_taken % draws.len()]) % width;
            draws_taken += 1;
            if t + delay >= deadline {
                break gave_up(Reason::DeadlineExceeded, n - 1, last_error);
            }
            t += delay;
        }
        if t >= deadline {
            break gave_up(Reason::DeadlineExceeded, n - 1, last_error);
        }
        starts.push(u64::try_from(t).unwrap());
        if t + latency > deadline {
            t = deadline;
            break gave_up(Reason::DeadlineExceeded, n, last_error);
        }
        t += latency;
        if n > failures {
            break Ok(n);
        }
    };
    Run {
        starts,
        outcome,
        end: u64::try_from(t).unwrap(),
        draws_taken,
    }
}

fn secs(s: u64) -> u64 {
    s * 1_000_000_000
}

fn ms(m: u64) -> u64 {
    m * 1_000_000
}

/// A policy in milliseconds, with at most 100 attempts.
fn policy(base_ms: u64, max_ms: u64, jitter_percent: u32, deadline_ms: u64) -> Policy {
    Policy {
        base_delay: Duration::from_millis(base_ms),
        max_delay: Duration::from_millis(max_ms),
        jitter_percent,
        max_attempts: 100,
        deadline: Duration::from_millis(deadline_ms),
    }
}

fn gave_up(reason: Reason, attempts: u32, last_error: Option<u32>) -> Result<u32, GaveUp<u32>> {
    Err(GaveUp {
        reason,
        attempts,
        last_error,
    })
}

fn deadline_exceeded(attempts: u32, last_error: Option<u32>) -> Result<u32, GaveUp<u32>> {
    gave_up(Reason::DeadlineExceeded, attempts, last_error)
}

const NEVER_RECOVERS: u32 = u32::MAX;

#[test]
fn without_jitter_attempts_double_their_spacing_until_success() {
    let run = simulate(policy(1000, 60_000, 0, 100_000), 3, Duration::ZERO, &[0]);
    assert_eq!(
        run,
        Run {
            starts: vec![0, secs(1), secs(3), secs(7)],
            outcome: Ok(4),
            end: secs(7),
            draws_taken: 3,
        }
    );
}

#[test]
fn the_client_gives_up_at_once_when_the_next_attempt_would_miss_the_deadline() {
    // After the failure at 7 s the next attempt would be at 15 s, past the 10 s deadline:
    // the client returns at 7 s instead of sleeping.
    let run = simulate(
        policy(1000, 60_000, 0, 10_000),
        NEVER_RECOVERS,
        Duration::ZERO,
        &[0],
    );
    assert_eq!(
        run,
        Run {
            starts: vec![0, secs(1), secs(3), secs(7)],
            outcome: deadline_exceeded(4, Some(4)),
            end: secs(7),
            draws_taken: 4,
        }
    );
}

#[test]
fn the_cap_bounds_the_delay_and_no_attempt_starts_at_the_deadline() {
    // Delays 1, 2, 2, 2 (capped), then the next attempt would start at 9 s, exactly the
    // deadline: it is not started.
    let run = simulate(
        policy(1000, 2000, 0, 9000),
        NEVER_RECOVERS,
        Duration::ZERO,
        &[0],
    );
    assert_eq!(
        run,
        Run {
            starts: vec![0, secs(1), secs(3), secs(5), secs(7)],
            outcome: deadline_exceeded(5, Some(5)),
            end: secs(7),
            draws_taken: 5,
        }
    );
}

#[test]
fn jitter_takes_the_draw_modulo_the_allowed_range_below_the_nominal_delay() {
    // 50 % jitter: nominal 1 s -> [0.5 s, 1 s], 2 s -> [1 s, 2 s], 4 s -> [2 s, 4 s].
    let draws = [0, 500_000_000, 250_000_000];
    let run = simulate(policy(1000, 8000, 50, 100_000), 3, Duration::ZERO, &draws);
    assert_eq!(
        run,
        Run {
            starts: vec![0, ms(500), ms(2000), ms(4250)],
            outcome: Ok(4),
            end: ms(4250),
            draws_taken: 3,
        }
    );
}

#[test]
fn an_attempt_running_at_the_deadline_is_abandoned_there() {
    // Attempt 1 runs 0-2 s and fails; attempt 2 starts at 3 s and would answer at 5 s, but
    // the deadline is 4.5 s.
    let run = simulate(
        policy(1000, 1000, 0, 4500),
        NEVER_RECOVERS,
        Duration::from_secs(2),
        &[0],
    );
    assert_eq!(
        run,
        Run {
            starts: vec![0, secs(3)],
            outcome: deadline_exceeded(2, Some(1)),
            end: ms(4500),
            draws_taken: 1,
        }
    );
}

#[test]
fn an_attempt_answering_exactly_at_the_deadline_counts() {
    let run = simulate(policy(1000, 1000, 0, 5000), 1, Duration::from_secs(2), &[0]);
    assert_eq!(
        run,
        Run {
            starts: vec![0, secs(3)],
            outcome: Ok(2),
            end: secs(5),
            draws_taken: 1,
        }
    );
}

#[cfg(feature = "macros")]
/// Two clients at once on one loop, the clock behind an `Rc<dyn Clock>`: their timers fall
/// due at the same instants, and under every explored interleaving each keeps the schedule
/// it has alone.
#[simloop::test(seeds = 30)]
async fn two_clients_keep_their_schedules_under_any_interleaving() {
    use retry::Clock;
    use simloop::Instant;

    let clock: Rc<dyn Clock> = Rc::new(SimClock);
    let log = Rc::new(RefCell::new(Vec::new()));
    let client = |name: &'static str, failures: u32| {
        let (clock, log) = (clock.clone(), log.clone());
        simloop::spawn(async move {
            let mut client = Retry::new(clock, policy(1000, 60_000, 0, 100_000), || 0);
            client
                .run(|attempt| {
                    log.borrow_mut().push((name, attempt, simloop::now()));
                    async move {
                        if attempt <= failures {
                            Err(attempt)
                        } else {
                            Ok(attempt)
                        }
                    }
                })
                .await
        })
    };
    let (a, b) = (client("a", 3), client("b", 2));
    assert_eq!(a.await.unwrap(), Ok(4));
    assert_eq!(b.await.unwrap(), Ok(3));
    assert_eq!(simloop::now(), Instant::from_secs(7));
    let of = |who| {
        let log = log.borrow();
        log.iter()
            .filter(|(name, _, _)| *name == who)
            .map(|&(_, attempt, at)| (attempt, at))
            .collect::<Vec<_>>()
    };
    let at = Instant::from_secs;
    assert_eq!(of("a"), [(1, at(0)), (2, at(1)), (3, at(3)), (4, at(7))]);
    assert_eq!(of("b"), [(1, at(0)), (2, at(1)), (3, at(3))]);
}

#[test]
fn the_client_stops_after_max_attempts_without_drawing_another_delay() {
    let policy = Policy {
        max_attempts: 3,
        ..policy(1000, 60_000, 0, 100_000)
    };
    let run = simulate(policy, NEVER_RECOVERS, Duration::ZERO, &[0]);
    assert_eq!(
        run,
        Run {
            starts: vec![0, secs(1), secs(3)],
            outcome: gave_up(Reason::AttemptsExhausted, 3, Some(3)),
            end: secs(3),
            draws_taken: 2,
        }
    );
}

#[test]
fn a_zero_deadline_allows_no_attempt() {
    let run = simulate(policy(1000, 1000, 0, 0), 0, Duration::ZERO, &[0]);
    assert_eq!(
        run,
        Run {
            starts: vec![],
            outcome: deadline_exceeded(0, None),
            end: 0,
            draws_taken: 0,
        }
    );
}

#[test]
fn the_model_agrees_with_the_example_schedules() {
    // The model itself, on the schedules pinned above.
    let m = model(
        policy(1000, 8000, 50, 100_000),
        3,
        Duration::ZERO,
        &[0, 500_000_000, 250_000_000],
    );
    assert_eq!(m.starts, [0, ms(500), ms(2000), ms(4250)]);
    let m = model(
        policy(1000, 1000, 0, 4500),
        NEVER_RECOVERS,
        Duration::from_secs(2),
        &[0],
    );
    assert_eq!(
        (m.starts, m.outcome, m.end),
        (vec![0, secs(3)], deadline_exceeded(2, Some(1)), ms(4500))
    );
}

#[test]
fn the_demo_prints_every_attempt_at_its_virtual_instant() {
    assert_eq!(
        retry::demo(),
        [
            "== server fails 4 times ==",
            "[0s] attempt 1 sent",
            "[0.05s] attempt 1 answered 503 unavailable",
            "[0.525888252s] attempt 2 sent",
            "[0.575888252s] attempt 2 answered 503 unavailable",
            "[1.573185667s] attempt 3 sent",
            "[1.623185667s] attempt 3 answered 503 unavailable",
            "[3.453148605s] attempt 4 sent",
            "[3.503148605s] attempt 4 answered 503 unavailable",
            "[6.706714589s] attempt 5 sent",
            "[6.756714589s] attempt 5 answered 200 ok",
            "[6.756714589s] success: 200 ok",
            "== server keeps failing ==",
            "[0s] attempt 1 sent",
            "[0.05s] attempt 1 answered 503 unavailable",
            "[0.525888252s] attempt 2 sent",
            "[0.575888252s] attempt 2 answered 503 unavailable",
            "[1.573185667s] attempt 3 sent",
            "[1.623185667s] attempt 3 answered 503 unavailable",
            "[3.453148605s] attempt 4 sent",
            "[3.503148605s] attempt 4 answered 503 unavailable",
            "[6.706714589s] attempt 5 sent",
            "[6.756714589s] attempt 5 answered 503 unavailable",
            "[6.756714589s] gave up: deadline exceeded after 5 attempt(s), last error: 503 unavailable",
        ]
    );
}

/// Policies in whole milliseconds: half of them "round" (multiples of 250 ms, no jitter),
/// so that the next attempt often falls exactly on the deadline, or an answer exactly at
/// it; the other half arbitrary.
fn policies() -> impl Strategy<Value = Policy> {
    let round = (1u64..=8, 1u64..=16, 0u32..=15, 0u64..=40).prop_map(|(b, m, a, d)| Policy {
        max_attempts: a,
        ..policy(b * 250, m * 250, 0, d * 250)
    });
    let arbitrary = (
        0u64..=2000,
        0u64..=5000,
        0u32..=100,
        0u32..=15,
        0u64..=20_000,
    )
        .prop_map(|(b, m, j, a, d)| Policy {
            max_attempts: a,
            ..policy(b, m, j, d)
        });
    prop_oneof![round, arbitrary]
}

proptest! {

    #[test]
    fn attempts_start_exactly_at_the_modelled_backoff_instants(
        policy in policies(),
        failures in prop_oneof![0u32..=15, Just(NEVER_RECOVERS)],
        latency_ms in prop_oneof![Just(0u64), (0u64..=4).prop_map(|k| k * 250), 0u64..=400],
        draws in vec(any::<u64>(), 1..6),
    ) {
        let latency = Duration::from_millis(latency_ms);
        let run = simulate(policy, failures, latency, &draws);
        prop_assert_eq!(&run, &model(policy, failures, latency, &draws));
        let deadline = policy.deadline.as_nanos() as u64;
        prop_assert!(run.starts.iter().all(|&s| s < deadline), "an attempt started at or after the deadline: {:?}", run);
        prop_assert!(run.end <= deadline, "the run outlived the deadline: {:?}", run);
        prop_assert!(run.starts.len() as u32 <= policy.max_attempts);
    }
}
