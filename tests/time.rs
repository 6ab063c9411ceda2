//! Virtual time: `Instant`, sleeps, timeouts, intervals, `yield_now`, the run calls that move
//! the clock, `block_for`, `spawn_blocking`, the loop's RNG, and the free functions.

use std::future::{pending, poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::oneshot;
use futures::StreamExt;
use simloop::{
    block_for, interval, random_u64, sleep, sleep_until, spawn, spawn_blocking, timeout,
    timeout_at, yield_now, EventLoop, Instant, JoinError, LoopError, MissedTicks,
};

#[path = "support/log.rs"]
mod log;
use log::{at_ms, at_secs, ms, secs, Log};

// ---------------------------------------------------------------------------------------
// Instant
// ---------------------------------------------------------------------------------------

#[test]
fn instant_is_an_exact_nanosecond_count() {
    assert_eq!(Instant::ZERO.as_nanos(), 0);
    assert_eq!(Instant::MAX.as_nanos(), u64::MAX);
    assert_eq!(Instant::from_nanos(1_234_567_891).as_nanos(), 1_234_567_891);
    assert_eq!(Instant::default(), Instant::ZERO);
    assert_eq!(Instant::from_nanos(2_500_000_000).as_secs_f64(), 2.5);
    assert_eq!(Instant::ZERO.as_secs_f64(), 0.0);
    assert!(Instant::ZERO < Instant::from_nanos(1));
    assert!(Instant::from_nanos(u64::MAX - 1) < Instant::MAX);

    // Ten steps of 100 ms are exactly one second: no floating point.
    let mut t = Instant::ZERO;
    for _ in 0..10 {
        t += ms(100);
    }
    assert_eq!(t, Instant::from_nanos(1_000_000_000));
    assert_eq!(t, at_secs(1));
}

#[test]
fn instant_arithmetic_with_durations_saturates() {
    let t = Instant::from_nanos(1_500_000_000);
    assert_eq!(Instant::ZERO + ms(1500), t);
    assert_eq!(
        t + Duration::from_nanos(1),
        Instant::from_nanos(1_500_000_001)
    );
    assert_eq!(t - ms(500), at_secs(1));
    let mut u = t;
    u -= ms(1500);
    assert_eq!(u, Instant::ZERO);

    // `+` saturates at MAX, `-` at ZERO.
    assert_eq!(
        Instant::from_nanos(u64::MAX - 1) + Duration::from_nanos(2),
        Instant::MAX
    );
    assert_eq!(Instant::ZERO + Duration::MAX, Instant::MAX);
    assert_eq!(Instant::MAX + Duration::from_nanos(1), Instant::MAX);
    assert_eq!(
        Instant::from_nanos(5) - Duration::from_nanos(10),
        Instant::ZERO
    );
    assert_eq!(Instant::MAX - Duration::MAX, Instant::ZERO);

    // duration_since and Instant - Instant: zero when the other is later.
    assert_eq!(at_secs(3).duration_since(at_secs(1)), secs(2));
    assert_eq!(at_secs(1).duration_since(at_secs(3)), Duration::ZERO);
    assert_eq!(at_secs(3) - at_secs(1), secs(2));
    assert_eq!(at_secs(1) - at_secs(3), Duration::ZERO);
    assert_eq!(
        Instant::MAX.duration_since(Instant::ZERO),
        Duration::from_nanos(u64::MAX)
    );

    // checked_add: None past u64::MAX nanoseconds.
    assert_eq!(at_secs(1).checked_add(secs(1)), Some(at_secs(2)));
    assert_eq!(
        Instant::ZERO.checked_add(Duration::from_nanos(u64::MAX)),
        Some(Instant::MAX)
    );
    assert_eq!(
        Instant::from_nanos(1).checked_add(Duration::from_nanos(u64::MAX)),
        None
    );
    assert_eq!(Instant::ZERO.checked_add(Duration::MAX), None);
}

#[test]
fn instant_converts_from_units_and_to_and_from_durations() {
    assert_eq!(Instant::from_secs(2), Instant::from_nanos(2_000_000_000));
    assert_eq!(
        Instant::from_millis(2500),
        Instant::from_nanos(2_500_000_000)
    );
    assert_eq!(Instant::from_micros(7), Instant::from_nanos(7_000));
    assert_eq!(Instant::from_secs(0), Instant::ZERO);
    // Past u64::MAX nanoseconds: saturated, as a deadline is.
    assert_eq!(Instant::from_secs(u64::MAX), Instant::MAX);
    assert_eq!(Instant::from_millis(u64::MAX), Instant::MAX);
    assert_eq!(Instant::from_micros(u64::MAX), Instant::MAX);
    assert_eq!(
        Instant::from_secs(18_446_744_073),
        Instant::from_nanos(18_446_744_073_000_000_000)
    );
    assert_eq!(Instant::from_secs(18_446_744_074), Instant::MAX);

    // As a Duration since the epoch, and back.
    assert_eq!(at_ms(1500).as_duration(), ms(1500));
    assert_eq!(Duration::from(at_ms(1500)), ms(1500));
    assert_eq!(Instant::from_duration(ms(1500)), at_ms(1500));
    assert_eq!(Instant::MAX.as_duration(), Duration::from_nanos(u64::MAX));
    assert_eq!(Instant::from_duration(Duration::MAX), Instant::MAX);
    for t in [
        Instant::ZERO,
        Instant::from_nanos(1),
        at_ms(1500),
        Instant::MAX,
    ] {
        assert_eq!(Instant::from_duration(t.as_duration()), t);
        assert_eq!(t.as_duration(), t - Instant::ZERO);
    }

    // Duration + Instant, as Instant + Duration (saturating too).
    assert_eq!(secs(1) + at_ms(500), at_ms(1500));
    assert_eq!(secs(1) + at_ms(500), at_ms(500) + secs(1));
    assert_eq!(Duration::MAX + Instant::ZERO, Instant::MAX);
    // Usable in const context.
    const START: Instant = Instant::from_millis(250);
    assert_eq!(START.as_duration(), ms(250));
}

#[test]
fn instant_displays_seconds_with_the_digits_needed() {
    assert_eq!(Instant::ZERO.to_string(), "0s");
    assert_eq!(at_ms(2500).to_string(), "2.5s");
    assert_eq!(at_secs(1).to_string(), "1s");
    assert_eq!(Instant::from_nanos(1).to_string(), "0.000000001s");
    assert_eq!(at_secs(3600).to_string(), "3600s");
    assert_eq!(at_ms(250).to_string(), "0.25s");
    assert_eq!(
        Instant::from_nanos(1_000_000_001).to_string(),
        "1.000000001s"
    );
}

#[test]
fn a_deadline_past_the_end_of_time_saturates_and_never_fires() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let never = lp.call_later(Duration::MAX, log.cb("never"));
    assert_eq!(never.when(), Instant::MAX);
    lp.call_later(secs(1), log.cb("one second"));
    lp.run().unwrap();
    // The MAX timer does not attract the clock.
    assert_eq!(lp.time(), at_secs(1));
    assert_eq!(log.lines(), ["[1s] one second"]);

    // From 1 s, u64::MAX more nanoseconds saturate to MAX as well.
    let edge = lp.call_later(Duration::from_nanos(u64::MAX), log.cb("never either"));
    assert_eq!(edge.when(), Instant::MAX);

    // A sleep whose deadline saturates is never woken: the main future stalls.
    let err = lp.run_until_complete(sleep(Duration::MAX)).unwrap_err();
    assert!(
        matches!(&err, LoopError::Stalled { at, pending, .. } if *at == at_secs(1) && pending.is_empty()),
        "{err:?}"
    );
    let err = lp
        .run_until_complete(sleep(Duration::from_nanos(u64::MAX)))
        .unwrap_err();
    assert!(matches!(err, LoopError::Stalled { .. }), "{err:?}");
    let err = lp
        .run_until_complete(sleep_until(Instant::MAX))
        .unwrap_err();
    assert!(matches!(err, LoopError::Stalled { .. }), "{err:?}");
    assert_eq!(lp.time(), at_secs(1));
    assert_eq!(lp.stats().clock_jumps, 1);
    assert_eq!(log.lines(), ["[1s] one second"]);
}

// ---------------------------------------------------------------------------------------
// sleep, sleep_until, timeout, timeout_at
// ---------------------------------------------------------------------------------------

/// Polls `fut` once, inside the loop, and ignores the result.
async fn poll_once<F: Future + Unpin>(fut: &mut F) {
    poll_fn(|cx| {
        let _ = Pin::new(&mut *fut).poll(cx);
        Poll::Ready(())
    })
    .await;
}

#[test]
fn sleep_deadline_is_fixed_at_the_first_poll() {
    let mut lp = EventLoop::new();
    // Created at 0 s (even outside any loop), first polled at 5 s.
    let mut s = sleep(secs(2));
    assert_eq!(s.deadline(), None);
    assert!(!s.is_elapsed());
    lp.advance(secs(5)).unwrap();
    assert_eq!(lp.time(), at_secs(5));
    let (deadline, woke) = lp
        .run_until_complete(async move {
            poll_once(&mut s).await;
            let deadline = s.deadline();
            (&mut s).await;
            assert!(s.is_elapsed());
            // Still known once elapsed.
            assert_eq!(s.deadline(), deadline);
            (deadline, simloop::now())
        })
        .unwrap();
    assert_eq!(deadline, Some(at_secs(7)));
    assert_eq!(woke, at_secs(7));
}

#[test]
fn sleep_until_is_absolute_and_a_past_deadline_is_due_in_the_next_iteration() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let s = sleep_until(at_secs(3));
    assert_eq!(s.deadline(), Some(at_secs(3)));
    lp.advance(secs(1)).unwrap();
    assert_eq!(
        lp.run_until_complete(async {
            s.await;
            simloop::now()
        })
        .unwrap(),
        at_secs(3)
    );

    // Now at 3 s: a deadline of 2 s is a timer due now. It is promoted in the next
    // iteration, after the callbacks already queued, and the task resumes one iteration
    // after its timer fires.
    let l = log.clone();
    lp.spawn(async move {
        l.say("T sleeps until 2s");
        sleep_until(at_secs(2)).await;
        l.say("T resumes");
    });
    let l = log.clone();
    lp.call_soon(move || {
        l.say("A");
        simloop::call_soon(l.cb("B, queued by A"));
    });
    lp.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            "[3s] T sleeps until 2s",
            "[3s] A",
            "[3s] B, queued by A",
            "[3s] T resumes",
        ]
    );
    assert_eq!(lp.time(), at_secs(3));
}

#[test]
fn sleep_resumes_one_iteration_after_its_timer_at_the_same_instant() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let l = log.clone();
    lp.spawn(async move {
        sleep(secs(1)).await;
        l.say("task resumes");
    });
    let l = log.clone();
    // Registered after the sleep's timer (the task's first poll comes first), queues D.
    lp.call_soon(move || {
        let l2 = l.clone();
        simloop::call_later(secs(1), move || {
            l2.say("C, same deadline, registered later");
            simloop::call_soon(l2.cb("D, queued by C"));
        });
    });
    lp.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            "[1s] C, same deadline, registered later",
            "[1s] task resumes",
            "[1s] D, queued by C",
        ]
    );
}

#[test]
fn timeout_lets_a_future_ready_exactly_at_the_deadline_win() {
    let mut lp = EventLoop::new();
    // The inner sleep and the deadline fall due together: the inner future is polled first.
    let out = lp
        .run_until_complete(timeout(secs(1), sleep(secs(1))))
        .unwrap();
    assert_eq!(out, Ok(()));
    assert_eq!(lp.time(), at_secs(1));

    // The inner future is completed by a timer registered after the deadline's timer, in the
    // same iteration: still a win.
    let out = lp
        .run_until_complete(async {
            let (tx, rx) = oneshot::channel::<u32>();
            let mut t = timeout(secs(1), rx);
            poll_once(&mut t).await; // sets the deadline at 2 s
            simloop::call_later(secs(1), move || tx.send(9).unwrap());
            t.await
        })
        .unwrap();
    assert_eq!(out, Ok(Ok(9)));
    assert_eq!(lp.time(), at_secs(2));
}

#[cfg(feature = "macros")]
#[simloop::test]
async fn timeout_elapses_when_the_inner_future_is_ready_only_an_iteration_later() {
    let (tx, rx) = oneshot::channel::<u32>();
    let mut t = timeout(secs(1), rx);
    poll_once(&mut t).await; // sets the deadline at 1 s
                             // At 1 s, but one iteration after the deadline's timer fired.
    simloop::call_later(secs(1), move || {
        simloop::call_soon(move || {
            let _ = tx.send(9);
        });
    });
    let err = t.await.unwrap_err();
    assert_eq!(err.deadline(), at_secs(1));
    assert_eq!(err.to_string(), "the deadline of 1s passed first");
    assert_eq!(simloop::now(), at_secs(1));
}

#[test]
fn timeout_deadline_is_fixed_at_the_first_poll_and_timeout_at_is_absolute() {
    let mut lp = EventLoop::new();
    let t = timeout(secs(1), pending::<()>());
    lp.advance(secs(5)).unwrap();
    let err = lp.run_until_complete(t).unwrap().unwrap_err();
    assert_eq!(err.deadline(), at_secs(6));
    assert_eq!(lp.time(), at_secs(6));

    let err = lp
        .run_until_complete(timeout_at(at_secs(8), pending::<()>()))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.deadline(), at_secs(8));
    assert_eq!(lp.time(), at_secs(8));

    // Completing before the deadline.
    let out = lp
        .run_until_complete(timeout_at(at_secs(10), async {
            sleep(secs(1)).await;
            simloop::now()
        }))
        .unwrap();
    assert_eq!(out, Ok(at_secs(9)));
    // A past deadline with a pending inner future elapses at once (one iteration later).
    let err = lp
        .run_until_complete(timeout_at(at_secs(1), pending::<()>()))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.deadline(), at_secs(1));
    assert_eq!(lp.time(), at_secs(9));
}

// ---------------------------------------------------------------------------------------
// interval
// ---------------------------------------------------------------------------------------

#[test]
fn interval_first_tick_is_one_period_after_the_first_poll() {
    let mut lp = EventLoop::new();
    let iv = interval(ms(500));
    assert_eq!(iv.period(), ms(500));
    lp.advance(secs(10)).unwrap();
    let ticks = lp
        .run_until_complete(async move {
            iv.take(3)
                .map(|t| format!("{t} at {}", simloop::now()))
                .collect::<Vec<_>>()
                .await
        })
        .unwrap();
    assert_eq!(ticks, ["10.5s at 10.5s", "11s at 11s", "11.5s at 11.5s"]);
}

#[cfg(feature = "macros")]
#[simloop::test]
async fn interval_works_with_stream_combinators() {
    let fast = interval(secs(1));
    let slow = interval(secs(3));
    let zipped: Vec<(Instant, Instant)> = fast.zip(slow).take(2).collect().await;
    assert_eq!(
        zipped,
        [(at_secs(1), at_secs(3)), (at_secs(2), at_secs(6))],
        "zip waits for both; the fast stream's missed tick comes in a burst"
    );
    let evens: Vec<Instant> = interval(secs(1))
        .enumerate()
        .filter(|(i, _)| std::future::ready(i % 2 == 0))
        .map(|(_, t)| t)
        .take(3)
        .collect()
        .await;
    assert_eq!(evens, [at_secs(7), at_secs(9), at_secs(11)]);
}

/// Ticks an interval of 1 s with `missed`; a callback at 1.5 s blocks the loop for 3 s.
fn ticks_after_a_block(missed: MissedTicks, n: usize) -> (Vec<String>, Duration) {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let l = log.clone();
    lp.spawn(async move {
        let mut iv = interval(secs(1)).missed_ticks(missed);
        for _ in 0..n {
            let t = iv.tick().await;
            l.say(format!("tick {t}"));
        }
    });
    lp.call_later(ms(1500), || block_for(secs(3)));
    lp.run().unwrap();
    (log.lines(), lp.stats().max_lateness)
}

#[test]
fn interval_missed_ticks_burst() {
    let (lines, lateness) = ticks_after_a_block(MissedTicks::Burst, 6);
    assert_eq!(
        lines,
        [
            "[1s] tick 1s",
            "[4.5s] tick 2s",
            "[4.5s] tick 3s",
            "[4.5s] tick 4s",
            "[5s] tick 5s",
            "[6s] tick 6s",
        ]
    );
    assert_eq!(lateness, ms(2500));
    // Burst is the default.
    assert_eq!(MissedTicks::default(), MissedTicks::Burst);
}

#[test]
fn interval_missed_ticks_delay() {
    let (lines, lateness) = ticks_after_a_block(MissedTicks::Delay, 4);
    assert_eq!(
        lines,
        [
            "[1s] tick 1s",
            "[4.5s] tick 2s",
            "[5.5s] tick 5.5s",
            "[6.5s] tick 6.5s",
        ]
    );
    assert_eq!(lateness, ms(2500));
}

#[test]
fn interval_missed_ticks_skip() {
    let (lines, lateness) = ticks_after_a_block(MissedTicks::Skip, 4);
    assert_eq!(
        lines,
        [
            "[1s] tick 1s",
            "[4.5s] tick 2s",
            "[5s] tick 5s",
            "[6s] tick 6s",
        ]
    );
    assert_eq!(lateness, ms(2500));
}

// ---------------------------------------------------------------------------------------
// yield_now, run calls
// ---------------------------------------------------------------------------------------

#[test]
fn yield_now_lets_other_ready_callbacks_run_first() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let l = log.clone();
    lp.spawn(async move {
        l.say("task before yield");
        yield_now().await;
        l.say("task after yield");
    });
    let l = log.clone();
    lp.call_soon(move || {
        l.say("A");
        simloop::call_soon(l.cb("B, queued by A"));
    });
    lp.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            "[0s] task before yield",
            "[0s] A",
            "[0s] task after yield",
            "[0s] B, queued by A",
        ]
    );
    assert_eq!(lp.stats().iterations, 2);
    assert_eq!(lp.stats().polls, 2);
}

#[test]
fn run_until_and_advance_set_the_clock_to_the_target_and_never_back() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    lp.call_later(secs(1), log.cb("t1"));
    let l = log.clone();
    // Registered before the task's sleep, so it fires first at 2 s and its call_soon comes
    // before the task's step.
    lp.call_later(secs(2), move || {
        l.say("t2, at the target");
        simloop::call_soon(l.cb("queued by t2"));
    });
    lp.call_later(secs(3), log.cb("t3"));
    let l = log.clone();
    lp.spawn(async move {
        sleep(secs(2)).await;
        l.say("task wakes at the target");
    });

    lp.run_until(at_secs(2)).unwrap();
    assert_eq!(lp.time(), at_secs(2));
    assert_eq!(
        log.lines(),
        [
            "[1s] t1",
            "[2s] t2, at the target",
            "[2s] queued by t2",
            "[2s] task wakes at the target",
        ]
    );

    // Between timers: the clock still lands exactly on the target.
    lp.advance(ms(500)).unwrap();
    assert_eq!(lp.time(), at_ms(2500));
    // Never backwards.
    lp.run_until(at_secs(1)).unwrap();
    assert_eq!(lp.time(), at_ms(2500));
    lp.advance(Duration::ZERO).unwrap();
    assert_eq!(lp.time(), at_ms(2500));
    assert_eq!(log.lines().len(), 4);

    lp.advance(Duration::from_nanos(1_000_000_001)).unwrap();
    assert_eq!(lp.time(), Instant::from_nanos(3_500_000_001));
    assert_eq!(log.lines().last().unwrap(), "[3s] t3");
    assert_eq!(log.lines().len(), 5);
    // With nothing scheduled, advance still moves the clock.
    lp.run_until(at_secs(100)).unwrap();
    assert_eq!(lp.time(), at_secs(100));
}

#[test]
fn run_once_runs_exactly_one_iteration() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let l = log.clone();
    lp.call_soon(move || {
        l.say("a");
        simloop::call_soon(l.cb("b, queued by a"));
    });
    lp.call_later(secs(1), log.cb("c"));

    lp.run_once().unwrap();
    assert_eq!(log.lines(), ["[0s] a"]);
    assert_eq!(lp.stats().iterations, 1);

    lp.run_once().unwrap();
    assert_eq!(log.lines(), ["[0s] a", "[0s] b, queued by a"]);
    assert_eq!(lp.time(), Instant::ZERO);

    // Nothing ready: the iteration jumps the clock to the timer and runs it.
    lp.run_once().unwrap();
    assert_eq!(log.lines(), ["[0s] a", "[0s] b, queued by a", "[1s] c"]);
    assert_eq!(lp.time(), at_secs(1));
    assert_eq!(lp.stats().iterations, 3);

    // Nothing ready and no timer: nothing happens.
    lp.run_once().unwrap();
    assert_eq!(lp.stats().iterations, 3);
    assert_eq!(lp.time(), at_secs(1));
}

#[test]
fn run_goes_until_quiescent_and_chained_delays_are_exact() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    fn chain(log: Log, left: u32) {
        if left == 0 {
            log.say("chain done");
            return;
        }
        simloop::call_later(ms(100), move || chain(log, left - 1));
    }
    let l = log.clone();
    lp.call_soon(move || chain(l, 10));
    // A task that waits on nothing live does not keep `run` going.
    let (_tx, rx) = oneshot::channel::<()>();
    lp.spawn(rx);
    lp.run().unwrap();
    assert_eq!(log.lines(), ["[1s] chain done"]);
    assert_eq!(lp.time(), at_secs(1));
    assert_eq!(lp.stats().timers_fired, 10);
    assert_eq!(lp.stats().callbacks_run, 12);
    assert_eq!(lp.pending_tasks().len(), 1);
}

// ---------------------------------------------------------------------------------------
// block_for, spawn_blocking
// ---------------------------------------------------------------------------------------

#[test]
fn block_for_moves_the_clock_at_once_and_timers_fire_late() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    lp.call_later(secs(1), log.cb("t1"));
    lp.call_later(secs(2), log.cb("t2"));
    let l = log.clone();
    lp.call_soon(move || {
        l.say("block starts");
        block_for(secs(3));
        l.say("block ends");
        simloop::call_later(secs(1), l.cb("set after the block"));
    });
    lp.call_soon(log.cb("queued behind the blocker"));
    lp.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            "[0s] block starts",
            "[3s] block ends",
            "[3s] queued behind the blocker",
            "[3s] t1",
            "[3s] t2",
            "[4s] set after the block",
        ]
    );
    let s = lp.stats();
    assert_eq!(s.max_lateness, secs(2));
    assert_eq!(s.clock_jumps, 1); // only to 4 s: block_for is not a jump
    assert_eq!(lp.time(), at_secs(4));

    // In a task too.
    let t = lp
        .run_until_complete(async {
            block_for(ms(250));
            simloop::now()
        })
        .unwrap();
    assert_eq!(t, at_ms(4250));
}

#[test]
fn spawn_blocking_runs_on_a_bounded_pool_while_timers_stay_on_time() {
    let log = Log::default();
    let mut lp = EventLoop::builder().blocking_workers(2).build();
    let l = log.clone();
    let ends = lp
        .run_until_complete(async move {
            let tl = l.clone();
            let ticker = spawn(async move {
                let mut iv = interval(ms(500));
                loop {
                    let t = iv.tick().await;
                    tl.say(format!("tick {t}"));
                }
            });
            let jobs: Vec<_> = (0..5)
                .map(|i| {
                    let jl = l.clone();
                    spawn_blocking(secs(1), move || {
                        jl.say(format!("job {i}"));
                        simloop::now()
                    })
                })
                .collect();
            let mut ends = Vec::new();
            for job in jobs {
                ends.push(job.await.unwrap());
            }
            assert!(ticker.cancel());
            l.say("all done");
            ends
        })
        .unwrap();
    assert_eq!(
        ends,
        [at_secs(1), at_secs(1), at_secs(2), at_secs(2), at_secs(3)]
    );
    assert_eq!(
        log.lines(),
        [
            "[0.5s] tick 0.5s",
            "[1s] job 0",
            "[1s] job 1",
            "[1s] tick 1s",
            "[1.5s] tick 1.5s",
            "[2s] job 2",
            "[2s] job 3",
            "[2s] tick 2s",
            "[2.5s] tick 2.5s",
            "[3s] job 4",
            "[3s] tick 3s",
            "[3s] all done",
        ]
    );
    assert_eq!(lp.stats().max_lateness, Duration::ZERO);
}

#[test]
fn cancelling_a_queued_blocking_job_means_it_never_runs() {
    struct Guard(Log);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.say("b's closure dropped");
        }
    }
    let log = Log::default();
    let mut lp = EventLoop::builder().blocking_workers(1).build();
    let l = log.clone();
    let out = lp
        .run_until_complete(async move {
            let (la, lb, lc) = (l.clone(), l.clone(), l.clone());
            let a = spawn_blocking(secs(1), move || la.say("a runs"));
            let guard = Guard(l.clone());
            let b = spawn_blocking(secs(1), move || {
                let _guard = guard;
                lb.say("b runs");
            });
            let c = spawn_blocking(secs(1), move || lc.say("c runs"));
            sleep(ms(500)).await;
            l.say("cancel b");
            assert!(b.cancel());
            (a.await, b.await, c.await)
        })
        .unwrap();
    assert_eq!(out, (Ok(()), Err(JoinError::Cancelled), Ok(())));
    // b's place in the queue goes to c, which runs right after a.
    assert_eq!(
        log.lines(),
        [
            "[0.5s] cancel b",
            "[0.5s] b's closure dropped",
            "[1s] a runs",
            "[2s] c runs",
        ]
    );
    assert_eq!(lp.time(), at_secs(2));
}

// ---------------------------------------------------------------------------------------
// random_u64, enter, free functions
// ---------------------------------------------------------------------------------------

fn draws(seed: u64) -> Vec<u64> {
    let mut lp = EventLoop::builder().seed(seed).build();
    let first = lp.enter(random_u64);
    let mut v = lp
        .run_until_complete(async {
            let mut v = Vec::new();
            for _ in 0..4 {
                v.push(random_u64());
                yield_now().await;
            }
            v
        })
        .unwrap();
    v.insert(0, first);
    v
}

#[test]
fn random_u64_is_deterministic_per_seed() {
    let a = draws(1);
    assert_eq!(a, draws(1));
    assert_eq!(a.len(), 5);
    let b = draws(2);
    assert_eq!(b, draws(2));
    assert_ne!(a, b);
    assert_ne!(draws(0), a);
    // The sequence itself does not repeat a value.
    let mut sorted = a.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 5);
    // The default seed is 0.
    assert_eq!(
        draws(0)[0],
        EventLoop::new().enter(random_u64),
        "default seed is 0"
    );
}

#[test]
fn enter_makes_free_functions_work_before_run() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    assert!(simloop::try_current().is_none());
    let l = log.clone();
    let (t, job) = lp.enter(move || {
        assert!(simloop::try_current().is_some());
        simloop::call_later(secs(1), l.cb("call_later from enter"));
        simloop::call_soon(l.cb("call_soon from enter"));
        let l2 = l.clone();
        let job = spawn(async move {
            sleep(secs(2)).await;
            l2.say("task from enter");
            5
        });
        (simloop::now(), job)
    });
    assert_eq!(t, Instant::ZERO);
    // Entering ended with the closure.
    assert!(simloop::try_current().is_none());
    assert_eq!(lp.run_until_complete(job).unwrap(), Ok(5));
    assert_eq!(
        log.lines(),
        [
            "[0s] call_soon from enter",
            "[1s] call_later from enter",
            "[2s] task from enter",
        ]
    );
    // After a run call the loop is not current either.
    assert!(simloop::try_current().is_none());
}

#[test]
#[should_panic(expected = "outside a simloop loop")]
fn now_panics_outside_a_loop() {
    let _ = simloop::now();
}

#[test]
#[should_panic(expected = "outside a simloop loop")]
fn spawn_panics_outside_a_loop() {
    drop(spawn(async {}));
}

#[test]
#[should_panic(
    expected = "simloop::call_soon() was called outside a simloop loop: call it from a callback \
                or task the loop runs, or wrap the call in EventLoop::enter(|| ...)"
)]
fn call_soon_panics_outside_a_loop_and_names_call_soon() {
    let _ = simloop::call_soon(|| {});
}

#[test]
#[should_panic(
    expected = "simloop::call_later() was called outside a simloop loop: call it from a \
                callback or task the loop runs, or wrap the call in EventLoop::enter(|| ...)"
)]
fn call_later_panics_outside_a_loop_and_names_call_later() {
    let _ = simloop::call_later(secs(1), || {});
}

#[test]
#[should_panic(
    expected = "simloop::call_at() was called outside a simloop loop: call it from a callback \
                or task the loop runs, or wrap the call in EventLoop::enter(|| ...)"
)]
fn call_at_panics_outside_a_loop_and_names_call_at() {
    let _ = simloop::call_at(Instant::ZERO, || {});
}

#[test]
#[should_panic(expected = "outside a simloop loop")]
fn block_for_panics_outside_a_loop() {
    block_for(secs(1));
}

#[test]
#[should_panic(expected = "outside a simloop loop")]
fn random_u64_panics_outside_a_loop() {
    let _ = random_u64();
}

#[test]
#[should_panic(expected = "outside a simloop loop")]
fn current_panics_outside_a_loop() {
    let _ = simloop::current();
}

#[test]
#[should_panic(expected = "outside a simloop loop")]
fn sleep_polled_outside_a_loop_panics() {
    let mut s = pin!(sleep(secs(1)));
    let _ = s
        .as_mut()
        .poll(&mut Context::from_waker(futures::task::noop_waker_ref()));
}

#[test]
#[should_panic(expected = "outside a simloop loop")]
fn free_functions_panic_again_after_the_loop_ran() {
    let mut lp = EventLoop::new();
    lp.run_until_complete(async { simloop::now() }).unwrap();
    let _ = simloop::now();
}
