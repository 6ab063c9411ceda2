//! Compatibility with the `futures` crate: its channels, `select_biased!`, `join!`,
//! `FuturesUnordered`, stream combinators on [`simloop::interval`], and its spawn traits on a
//! simloop [`Handle`](simloop::Handle), each with the exact virtual instants of what happens.
//!
//! Covered elsewhere, and not repeated here:
//! - a oneshot delivering a result and a zero-buffer `mpsc` in lockstep between tasks:
//!   `tests/wake.rs`, `oneshot_and_mpsc_channels_between_tasks`;
//! - `FuturesUnordered` iteration by iteration (whose wakes go through the combinator's
//!   waker): `tests/wake.rs`, `sleeps_under_a_foreign_waker_resume_like_sleeps_under_the_task_waker`;
//! - `interval(..).take(3).map(..).collect()` and `.zip`/`.enumerate`/`.filter` on intervals:
//!   `tests/time.rs`, `interval_first_tick_is_one_period_after_the_first_poll` and
//!   `interval_works_with_stream_combinators`;
//! - `SpawnExt::spawn_with_handle` and `LocalSpawnExt::spawn_local_with_handle` on a `Handle`
//!   (outputs and instants), and the spawn traits on a closed loop: `tests/close.rs`,
//!   `handle_is_a_futures_spawner_and_local_spawner` and its neighbours.

use std::cell::RefCell;
use std::rc::Rc;

use futures::channel::{mpsc, oneshot};
use futures::future::FutureExt;
use futures::stream::FuturesUnordered;
use futures::task::{LocalSpawnExt, SpawnExt};
use futures::{join, select_biased, SinkExt, StreamExt};
use simloop::{interval, mark, sleep, Event, EventLoop, Instant};

#[path = "support/log.rs"]
mod log;
use log::{at_ms, at_secs, ms, secs, timeline};

fn traced() -> EventLoop {
    EventLoop::builder().trace(true).build()
}

/// The marks of a traced loop, as `[instant] itN label` lines.
fn marks(lp: &EventLoop) -> Vec<String> {
    lp.trace()
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::Mark(label) => Some(format!("[{}] it{} {label}", e.at, e.iteration)),
            _ => None,
        })
        .collect()
}

#[test]
fn oneshot_send_from_a_timer_cancellation_and_a_dropped_receiver() {
    let mut lp = traced();
    // A value sent by a timer callback at 1 s.
    let (tx, rx) = oneshot::channel::<u32>();
    lp.call_later(secs(1), move || tx.send(7).unwrap());
    lp.spawn(async move { mark(format!("rx got {:?}", rx.await)) });
    // A sender dropped at 2 s without sending: the receiver sees `Canceled`.
    let (tx, rx) = oneshot::channel::<u32>();
    lp.call_later(secs(2), move || drop(tx));
    lp.spawn(async move { mark(format!("rx got {:?}", rx.await)) });
    // A receiver dropped at 3 s: the sender's `cancellation()` resolves, and sending fails.
    let (mut tx, rx) = oneshot::channel::<u32>();
    lp.call_later(secs(3), move || drop(rx));
    lp.spawn(async move {
        tx.cancellation().await;
        mark(format!("receiver gone; send gives {:?}", tx.send(5)));
    });
    lp.run().unwrap();
    assert_eq!(
        marks(&lp),
        [
            // Each timer fires in one iteration; the woken task runs in the next.
            "[1s] it3 rx got Ok(7)",
            "[2s] it5 rx got Err(Canceled)",
            "[3s] it7 receiver gone; send gives Err(5)",
        ]
    );
    assert!(lp.pending_tasks().is_empty());
}

#[test]
fn bounded_mpsc_holds_the_sender_back_until_the_receiver_catches_up() {
    // Capacity is buffer + one slot per sender: 2 here. A producer that sends as fast as it
    // can runs two messages ahead of a consumer that takes one per second, and no further.
    let mut lp = traced();
    let (mut tx, mut rx) = mpsc::channel::<u32>(1);
    lp.spawn(async move {
        for i in 0..4 {
            tx.send(i).await.unwrap();
            mark(format!("sent {i}"));
        }
        mark("producer done");
    });
    lp.spawn(async move {
        loop {
            sleep(secs(1)).await;
            match rx.next().await {
                Some(v) => mark(format!("recv {v}")),
                None => break mark("closed"),
            }
        }
    });
    lp.run().unwrap();
    assert_eq!(
        marks(&lp),
        [
            "[0s] it1 sent 0",
            // `send(1)` queued its message at 0 s, filling the channel, and parked the
            // sender; each receive unparks it, its `send` returns, and the next `send`
            // queues one more message and parks it again.
            "[1s] it3 recv 0",
            "[1s] it4 sent 1",
            "[2s] it6 recv 1",
            "[2s] it7 sent 2",
            "[3s] it9 recv 2",
            "[3s] it10 sent 3",
            "[3s] it10 producer done",
            "[4s] it12 recv 3",
            "[5s] it14 closed",
        ]
    );
}

#[test]
fn unbounded_mpsc_never_holds_the_sender_back() {
    let mut lp = traced();
    let (tx, mut rx) = mpsc::unbounded::<u32>();
    lp.spawn(async move {
        for i in 0..3 {
            tx.unbounded_send(i).unwrap();
            mark(format!("sent {i}"));
        }
        sleep(secs(1)).await;
        tx.unbounded_send(3).unwrap();
        mark("sent 3");
        // Dropping the last sender closes the channel.
    });
    lp.spawn(async move {
        while let Some(v) = rx.next().await {
            mark(format!("recv {v}"));
        }
        mark("closed");
    });
    lp.run().unwrap();
    assert_eq!(
        marks(&lp),
        [
            "[0s] it1 sent 0",
            "[0s] it1 sent 1",
            "[0s] it1 sent 2",
            // The receiver drains everything queued in one poll.
            "[0s] it1 recv 0",
            "[0s] it1 recv 1",
            "[0s] it1 recv 2",
            "[1s] it3 sent 3",
            "[1s] it4 recv 3",
            "[1s] it4 closed",
        ]
    );
}

/// A task that loops `select_biased!` over its channel and a fresh 1 s sleep, with the
/// channel listed first if `channel_first`. Messages arrive at 0.5 s and at 1.5 s, the
/// latter exactly when the second sleep ends; the channel closes at 3 s.
fn select_biased_run(channel_first: bool) -> Vec<String> {
    let mut lp = traced();
    let (tx, mut rx) = mpsc::unbounded::<u32>();
    let t = tx.clone();
    lp.call_later(ms(500), move || t.unbounded_send(1).unwrap());
    let t = tx.clone();
    lp.call_later(ms(1500), move || t.unbounded_send(2).unwrap());
    lp.call_later(secs(3), move || drop(tx));
    lp.spawn(async move {
        loop {
            let msg = if channel_first {
                select_biased! {
                    msg = rx.next() => Some(msg),
                    () = sleep(secs(1)).fuse() => None,
                }
            } else {
                select_biased! {
                    () = sleep(secs(1)).fuse() => None,
                    msg = rx.next() => Some(msg),
                }
            };
            match msg {
                Some(Some(v)) => mark(format!("channel {v}")),
                Some(None) => break mark("closed"),
                None => mark("sleep"),
            }
        }
    });
    lp.run().unwrap();
    marks(&lp)
}

#[test]
fn select_biased_between_a_sleep_and_a_channel() {
    // At 1.5 s the message's timer (registered at 0 s) and the second sleep (registered at
    // 0.5 s, due 1.5 s) fire in the same iteration, so in the task's next poll both branches
    // are ready: the branch listed first wins.
    assert_eq!(
        select_biased_run(true),
        [
            "[0.5s] it3 channel 1",
            "[1.5s] it5 channel 2",
            "[2.5s] it7 sleep",
            "[3s] it9 closed",
        ]
    );
    assert_eq!(
        select_biased_run(false),
        [
            "[0.5s] it3 channel 1",
            "[1.5s] it5 sleep",
            // The message was not lost: the next round's fresh sleep is pending, so the
            // channel wins in the same poll.
            "[1.5s] it5 channel 2",
            "[2.5s] it7 sleep",
            "[3s] it9 closed",
        ]
    );
}

/// Runs the same `select_biased!` loop over three channels that are all ready from the
/// start, on a fresh loop.
fn drain_three_ready_channels() -> Vec<String> {
    let mut lp = traced();
    let (ta, mut a) = mpsc::unbounded::<u32>();
    let (tb, mut b) = mpsc::unbounded::<u32>();
    let (tc, mut c) = mpsc::unbounded::<u32>();
    for i in 0..2 {
        ta.unbounded_send(i).unwrap();
        tb.unbounded_send(i).unwrap();
        tc.unbounded_send(i).unwrap();
    }
    drop((ta, tb, tc));
    lp.spawn(async move {
        loop {
            select_biased! {
                v = a.next() => if let Some(v) = v { mark(format!("a{v}")) },
                v = b.next() => if let Some(v) = v { mark(format!("b{v}")) },
                v = c.next() => if let Some(v) = v { mark(format!("c{v}")) },
                complete => break,
            }
        }
    });
    lp.run().unwrap();
    marks(&lp)
}

/// `futures::select!` is not deterministic, so simloop code uses `select_biased!`.
///
/// When several branches are ready, `select!` shuffles them before polling, with a
/// xorshift generator of `futures-util` (0.3.34, `async_await/random.rs`) that lives in a
/// thread-local and is seeded from a process-global counter of the threads that used it.
/// Which branch wins therefore depends on how many `select!` calls this thread made before
/// (in earlier runs, other scenarios, other tests on a reused thread) and on which thread
/// first touched the generator: state outside the loop, which no seed or replay token
/// captures, so two runs of one scenario can take different branches and `explore`'s replay
/// tokens would not replay.
///
/// `select_biased!` polls the branches in the order written and picks the first ready one.
/// This test does not assert that `select!` varies (that would be flaky); it shows that
/// `select_biased!`, with three branches ready at every step, gives one answer on every run.
#[test]
fn select_biased_gives_the_same_answer_on_every_run() {
    let expected = [
        "[0s] it1 a0",
        "[0s] it1 a1",
        "[0s] it1 b0",
        "[0s] it1 b1",
        "[0s] it1 c0",
        "[0s] it1 c1",
    ];
    let runs: Vec<Vec<String>> = (0..20).map(|_| drain_three_ready_channels()).collect();
    assert_eq!(runs, vec![expected; 20]);
}

#[test]
fn join_polls_its_futures_together_and_in_argument_order() {
    let mut lp = traced();
    let at = |label: &'static str, d| async move {
        sleep(d).await;
        mark(label);
        (label, simloop::now())
    };
    let out = lp
        .run_until_complete(
            async move { join!(at("a", secs(2)), at("b", secs(1)), at("c", secs(1))) },
        )
        .unwrap();
    assert_eq!(
        out,
        (("a", at_secs(2)), ("b", at_secs(1)), ("c", at_secs(1)))
    );
    // b and c are due together and complete in argument order, in one poll; the whole join
    // takes as long as its longest future, not the sum.
    assert_eq!(marks(&lp), ["[1s] it3 b", "[1s] it3 c", "[2s] it5 a"]);
    assert_eq!(lp.time(), at_secs(2));
}

#[test]
fn futures_unordered_completes_in_deadline_order() {
    let mut lp = EventLoop::new();
    let done = lp
        .run_until_complete(async {
            let set = FuturesUnordered::new();
            // Pushed out of deadline order; b and d share a deadline.
            for (label, d) in [("a", 3), ("b", 1), ("c", 4), ("d", 1), ("e", 2)] {
                set.push(async move {
                    sleep(secs(d)).await;
                    (label, simloop::now())
                });
            }
            set.collect::<Vec<(&str, Instant)>>().await
        })
        .unwrap();
    assert_eq!(
        done,
        [
            // Equal deadlines: the timer registered first (pushed first) fires first.
            ("b", at_secs(1)),
            ("d", at_secs(1)),
            ("e", at_secs(2)),
            ("a", at_secs(3)),
            ("c", at_secs(4)),
        ]
    );
    assert_eq!(lp.time(), at_secs(4));
}

#[test]
fn interval_take_until_a_sleep() {
    let mut lp = EventLoop::new();
    let (before, tie) = lp
        .run_until_complete(async {
            let before: Vec<Instant> = interval(secs(1))
                .take_until(sleep(ms(3500)))
                .collect()
                .await;
            let started = simloop::now();
            // `take_until` polls its stop future before the stream: when the 3 s tick and the
            // stop come due together, the stop wins and the tick is not delivered.
            let tie: Vec<Instant> = interval(secs(1)).take_until(sleep(secs(3))).collect().await;
            (before, (started, tie))
        })
        .unwrap();
    assert_eq!(before, [at_secs(1), at_secs(2), at_secs(3)]);
    assert_eq!(tie, (at_ms(3500), vec![at_ms(4500), at_ms(5500)]));
    assert_eq!(lp.time(), at_ms(6500));
}

#[test]
fn remote_handle_dropped_cancels_its_task_and_forgotten_lets_it_run() {
    let mut lp = traced();
    let h = lp.handle();
    // `SpawnExt` wants a `Send` future, and simloop's timers are not `Send`: this task
    // waits for a channel fed by a timer at 2 s instead of sleeping.
    let (tx, rx) = oneshot::channel::<()>();
    lp.call_later(secs(2), move || {
        // Fails: by then the task was cancelled and its receiver dropped.
        let _ = tx.send(());
    });
    let dropped = SpawnExt::spawn_with_handle(&h, async {
        let _ = rx.await;
        mark("task of the dropped handle ran");
    })
    .unwrap();
    let forgotten = LocalSpawnExt::spawn_local_with_handle(&h, async {
        sleep(secs(2)).await;
        mark("task of the forgotten handle ran");
        Rc::new(1) // not Send: only a local spawner takes this
    })
    .unwrap();
    forgotten.forget();
    let kept = Rc::new(RefCell::new(None));
    let k = kept.clone();
    let awaited = LocalSpawnExt::spawn_local_with_handle(&h, async {
        sleep(secs(3)).await;
        simloop::now()
    })
    .unwrap();
    lp.spawn(async move { *k.borrow_mut() = Some(awaited.await) });
    lp.call_later(secs(1), move || {
        mark("drop the handle");
        drop(dropped);
    });
    lp.run().unwrap();
    assert_eq!(*kept.borrow(), Some(at_secs(3)));
    assert_eq!(
        timeline(&lp),
        [
            "[0s] it1 poll task #1",
            "[0s] it1 poll task #2",
            "[0s] it1 poll task #3",
            "[0s] it1 poll task #4",
            "[1s] it2 drop the handle",
            // Dropping a `RemoteHandle` wakes its task, which ends without finishing its
            // future; the mark at 2 s never comes.
            "[1s] it3 poll task #1",
            "[2s] it5 poll task #2",
            "[2s] it5 task of the forgotten handle ran",
            // The awaiting task #4 is woken by #3's completion, one iteration later.
            "[3s] it7 poll task #3",
            "[3s] it8 poll task #4",
        ]
    );
    assert!(lp.pending_tasks().is_empty());
}

/// Compiles only if `T: Unpin`.
fn assert_unpin<T: Unpin>(_: &T) {}

#[test]
fn join_handle_is_unpin_whatever_its_output() {
    // An output that is not `Unpin` (SPEC §3.3: `JoinHandle<T>` is `Unpin` for every `T`).
    struct Pinned(std::marker::PhantomPinned, u32);
    let mut lp = EventLoop::new();
    let mut job = lp.spawn(async {
        sleep(secs(1)).await;
        Pinned(std::marker::PhantomPinned, 7)
    });
    assert_unpin(&job);
    // So `poll_unpin` and `&mut handle` work without pinning it first.
    let polled = lp
        .run_until_complete(futures::future::poll_fn(|cx| job.poll_unpin(cx)))
        .unwrap();
    assert_eq!(polled.unwrap().1, 7);
    assert_eq!(lp.time(), at_secs(1));
    let mut other = lp.spawn(async { Pinned(std::marker::PhantomPinned, 8) });
    assert_unpin(&&mut other);
    assert_eq!(lp.run_until_complete(&mut other).unwrap().unwrap().1, 8);
}
