//! The token bucket of `examples/rate_limiter.rs`, run on simloop's virtual clock.
//!
//! The property drives the component with arbitrary arrivals of `acquire` and
//! `try_acquire` requests, capacities and intervals, and checks the permit instants against
//! [`model`], an independent event-by-event simulation of a token bucket with a FIFO queue,
//! and against the rate bound itself: in every window of `k` intervals, at most
//! `capacity + k` permits. The example tests pin whole schedules.

#[allow(dead_code)]
#[path = "../examples/rate_limiter.rs"]
mod rate_limiter;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use simloop::{EventLoop, Instant};

use rate_limiter::{SimClock, TokenBucket};

/// How a request asks for a permit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `acquire().await`: waits its turn.
    Wait,
    /// `try_acquire()`: a permit now or nothing.
    Try,
}

/// Runs the component on simloop: request `i` arrives at `requests[i].0` nanoseconds (a task
/// spawned at that instant), asks for a permit as `requests[i].1` says, and records
/// `(i, now)` when permitted. Returns the records in the order they were made.
fn simulate(capacity: u32, interval: Duration, requests: &[(u64, Kind)]) -> Vec<(usize, u64)> {
    let grants = Rc::new(RefCell::new(Vec::new()));
    let mut lp = EventLoop::new();
    let bucket = Rc::new(lp.enter(|| TokenBucket::new(SimClock, capacity, interval)));
    for (i, &(arrival, kind)) in requests.iter().enumerate() {
        let (grants, bucket) = (grants.clone(), bucket.clone());
        lp.call_at(Instant::from_nanos(arrival), move || {
            simloop::spawn(async move {
                let permitted = match kind {
                    Kind::Wait => {
                        bucket.acquire().await;
                        true
                    }
                    Kind::Try => bucket.try_acquire(),
                };
                if permitted {
                    grants.borrow_mut().push((i, simloop::now().as_nanos()));
                }
            });
        });
    }
    lp.run().expect("every request is served");
    let grants = grants.borrow().clone();
    grants
}

/// The permit instant of each request (`None`: a rejected `try_acquire`), simulated event by
/// event: the bucket starts with `capacity` tokens at 0 and gains one at each multiple of
/// `interval` (lost when full). At each instant the token of that instant is added first,
/// then the queue of waiting requests is served in order, then the requests arriving at
/// that instant are handled in order: a waiting one joins the queue (and is served if a
/// token is left), a trying one takes a token if there is one.
fn model(capacity: u32, interval: Duration, requests: &[(u64, Kind)]) -> Vec<Option<u64>> {
    let interval = u64::try_from(interval.as_nanos()).unwrap();
    let mut permits = vec![None; requests.len()];
    let mut tokens = capacity;
    let mut queue: VecDeque<usize> = VecDeque::new();
    let mut next_tick = interval;
    let mut next = 0; // the next request to arrive
    loop {
        let ticks_matter = !queue.is_empty() || tokens < capacity;
        let t = match (requests.get(next), ticks_matter) {
            (None, false) => break,
            (None, true) => next_tick,
            (Some(&(arrival, _)), false) => {
                // The bucket stays full until then: skip the ticks in between.
                next_tick = next_tick.max(arrival.div_ceil(interval) * interval);
                arrival
            }
            (Some(&(arrival, _)), true) => arrival.min(next_tick),
        };
        if t == next_tick {
            tokens = (tokens + 1).min(capacity);
            next_tick += interval;
        }
        while tokens > 0 && !queue.is_empty() {
            permits[queue.pop_front().unwrap()] = Some(t);
            tokens -= 1;
        }
        while let Some(&(arrival, kind)) = requests.get(next) {
            if arrival != t {
                break;
            }
            match kind {
                Kind::Wait if tokens > 0 && queue.is_empty() => {
                    permits[next] = Some(t);
                    tokens -= 1;
                }
                Kind::Wait => queue.push_back(next),
                Kind::Try if tokens > 0 => {
                    permits[next] = Some(t);
                    tokens -= 1;
                }
                Kind::Try => {}
            }
            next += 1;
        }
    }
    permits
}

fn secs(s: u64) -> u64 {
    s * 1_000_000_000
}

fn ms(m: u64) -> u64 {
    m * 1_000_000
}

#[test]
fn a_burst_takes_the_stored_tokens_then_one_permit_per_interval() {
    // Capacity 2, one token a second. At 0 s four requests: two permitted at once, two at
    // the next ticks; one at 1.5 s queues behind them; by 6 s the bucket is full again.
    let requests = [
        (0, Kind::Wait),
        (0, Kind::Wait),
        (0, Kind::Wait),
        (0, Kind::Wait),
        (ms(1500), Kind::Wait),
        (secs(6), Kind::Wait),
        (secs(6), Kind::Wait),
    ];
    let grants = simulate(2, Duration::from_secs(1), &requests);
    assert_eq!(
        grants,
        [
            (0, 0),
            (1, 0),
            (2, secs(1)),
            (3, secs(2)),
            (4, secs(3)),
            (5, secs(6)),
            (6, secs(6)),
        ]
    );
}

/// Tries around a waiter: capacity 1, one token a second.
fn try_example() -> [(u64, Kind); 6] {
    [
        (0, Kind::Try),
        (0, Kind::Wait),
        (ms(500), Kind::Try),
        (secs(1), Kind::Try),
        (secs(2), Kind::Try),
        (secs(2), Kind::Try),
    ]
}

#[test]
fn try_acquire_takes_only_free_tokens_and_never_one_reserved_by_a_waiter() {
    // Capacity 1, one token a second. The waiter arriving at 0 s reserves the 1 s token, so
    // the try at 1 s fails; the 2 s token is free.
    let requests = try_example();
    let grants = simulate(1, Duration::from_secs(1), &requests);
    assert_eq!(grants, [(0, 0), (1, secs(1)), (4, secs(2))]);
}

#[test]
fn a_dropped_waiter_forfeits_its_reserved_token() {
    // Capacity 1, one token a second: the second request reserves the 1 s token, gives up at
    // 0.5 s, and the token is lost: the third request, at 0.6 s, waits for the 2 s token.
    let grants = Rc::new(RefCell::new(Vec::new()));
    let mut lp = EventLoop::new();
    let bucket = Rc::new(lp.enter(|| TokenBucket::new(SimClock, 1, Duration::from_secs(1))));
    for (name, arrival, patience) in [("a", 0, 10_000), ("b", 0, 500), ("c", 600, 10_000)] {
        let (grants, bucket) = (grants.clone(), bucket.clone());
        lp.call_at(Instant::from_nanos(ms(arrival)), move || {
            simloop::spawn(async move {
                let patience = Duration::from_millis(patience);
                let outcome = match simloop::timeout(patience, bucket.acquire()).await {
                    Ok(()) => "permitted",
                    Err(_) => "gave up",
                };
                grants
                    .borrow_mut()
                    .push(format!("[{}] {name} {outcome}", simloop::now()));
            });
        });
    }
    lp.run().unwrap();
    assert_eq!(
        *grants.borrow(),
        ["[0s] a permitted", "[0.5s] b gave up", "[2s] c permitted"]
    );
}

#[test]
fn available_counts_free_tokens_net_of_waiters_and_refills_up_to_capacity() {
    let mut lp = EventLoop::new();
    let bucket = Rc::new(lp.enter(|| TokenBucket::new(SimClock, 2, Duration::from_secs(1))));
    let mut seen = vec![lp.enter(|| bucket.available())];
    for _ in 0..3 {
        let bucket = bucket.clone();
        lp.spawn(async move { bucket.acquire().await });
    }
    lp.run_until(Instant::from_nanos(ms(500))).unwrap();
    seen.push(lp.enter(|| bucket.available())); // 0.5 s: one waiter, for the 1 s token
    lp.run_until(Instant::from_nanos(secs(1))).unwrap();
    seen.push(lp.enter(|| bucket.available())); // 1 s: the waiter took it
    lp.run_until(Instant::from_nanos(secs(2))).unwrap();
    seen.push(lp.enter(|| bucket.available()));
    lp.run_until(Instant::from_nanos(secs(10))).unwrap();
    seen.push(lp.enter(|| bucket.available())); // full again, not 9
    assert_eq!(seen, [2, 0, 0, 1, 2]);
}

#[test]
fn the_model_agrees_with_the_example_schedules() {
    let requests = try_example();
    assert_eq!(
        model(1, Duration::from_secs(1), &requests),
        [Some(0), Some(secs(1)), None, None, Some(secs(2)), None]
    );
}

#[test]
fn the_demo_prints_every_request_and_permit_at_its_virtual_instant() {
    assert_eq!(
        rate_limiter::demo(),
        [
            "[0s] r1 requested",
            "[0s] r1 permitted (requested at 0s)",
            "[0s] r2 requested",
            "[0s] r2 permitted (requested at 0s)",
            "[0s] r3 requested",
            "[0s] r3 permitted (requested at 0s)",
            "[0s] r4 requested",
            "[0s] r5 requested",
            "[0.5s] r4 permitted (requested at 0s)",
            "[1s] r5 permitted (requested at 0s)",
            "[1.2s] health check: try_acquire rejected",
            "[2.2s] health check: try_acquire permitted",
            "[4s] r6 requested",
            "[4s] r6 permitted (requested at 4s)",
            "[4s] r7 requested",
            "[4s] r7 permitted (requested at 4s)",
            "[4s] r8 requested",
            "[4s] r8 permitted (requested at 4s)",
            "[4s] r9 requested",
            "[4.5s] r9 permitted (requested at 4s)",
        ]
    );
}

/// Intervals from a nanosecond to two seconds, round ones favoured so that arrivals often
/// coincide with refills.
fn intervals() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (1u64..=20).prop_map(|k| Duration::from_millis(k * 100)),
        (1u64..=2000).prop_map(Duration::from_millis),
        (1u64..=2_000_000_000).prop_map(Duration::from_nanos),
    ]
}

/// Requests as (gap since the previous arrival, kind): bursts (zero gaps) are common.
fn requests() -> impl Strategy<Value = Vec<(u64, Kind)>> {
    let gap = prop_oneof![
        3 => Just(0u64),
        2 => (0u64..=30).prop_map(|k| k * 100_000_000),
        1 => 0u64..=3_000_000_000,
    ];
    let kind = prop_oneof![4 => Just(Kind::Wait), 1 => Just(Kind::Try)];
    vec((gap, kind), 0..40).prop_map(|reqs| {
        let mut at = 0;
        reqs.into_iter()
            .map(|(gap, kind)| {
                at += gap;
                (at, kind)
            })
            .collect()
    })
}

proptest! {

    #[test]
    fn permits_match_the_model_respect_the_rate_and_serve_waiters_in_order(
        capacity in 1u32..=5,
        interval in intervals(),
        requests in requests(),
    ) {
        let grants = simulate(capacity, interval, &requests);

        // Exactly the modelled permit instants.
        let mut permits = vec![None; requests.len()];
        for &(i, at) in &grants {
            prop_assert_eq!(permits[i], None, "request {} permitted twice", i);
            permits[i] = Some(at);
        }
        prop_assert_eq!(&permits, &model(capacity, interval, &requests));

        // Every waiting request is permitted, no earlier than it arrived, and in arrival
        // order: the records of waiting requests come in request order.
        let waiting: Vec<usize> = (0..requests.len()).filter(|&i| requests[i].1 == Kind::Wait).collect();
        let served: Vec<usize> = grants.iter().map(|&(i, _)| i).filter(|&i| requests[i].1 == Kind::Wait).collect();
        prop_assert_eq!(&served, &waiting);
        for &(i, at) in &grants {
            prop_assert!(at >= requests[i].0, "request {} permitted before it arrived", i);
            if requests[i].1 == Kind::Try {
                prop_assert_eq!(at, requests[i].0, "a try is answered at once");
            }
        }

        // The rate bound: a window [s, s + k * interval] starting at any permit holds at
        // most capacity + k permits.
        let mut instants: Vec<u128> = grants.iter().map(|&(_, at)| u128::from(at)).collect();
        instants.sort_unstable();
        let interval = interval.as_nanos();
        for (first, &start) in instants.iter().enumerate() {
            if first > 0 && instants[first - 1] == start {
                continue; // the window starting at the first permit of this instant covers it
            }
            for k in 1..=instants.len() as u128 {
                let end = start + k * interval;
                let count = instants.partition_point(|&t| t <= end) - first;
                prop_assert!(
                    count as u128 <= u128::from(capacity) + k,
                    "{} permits in [{}, {}] ns: more than {} + {}", count, start, end, capacity, k
                );
            }
        }
    }
}
