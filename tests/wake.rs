//! Wakers: `Send + Sync`, wakes from other threads (taken in at the start of the next
//! iteration), wakes of finished tasks and of closed loops, deduplication of wakes, and
//! `futures` channels between tasks.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;

use futures::channel::{mpsc, oneshot};
use futures::{SinkExt, StreamExt};
use simloop::{mark, sleep, EventLoop, Instant, LoopError, Waiter};

#[path = "support/log.rs"]
mod log;
use log::{at_secs, secs, timeline, Log};

/// Drops log a line, so we can see when a future is dropped.
struct DropGuard(Log, &'static str);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0 .0.borrow_mut().push(self.1.to_string());
    }
}

/// A future that stays pending until `open`ed; it keeps its newest waker in an
/// `Arc<Mutex<Option<Waker>>>` so any thread can wake it.
#[derive(Clone, Default)]
struct Gate {
    open: Arc<Mutex<bool>>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Gate {
    fn wait(&self) -> impl Future<Output = ()> + 'static {
        let gate = self.clone();
        poll_fn(move |cx| {
            if *gate.open.lock().unwrap() {
                return Poll::Ready(());
            }
            *gate.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    /// Opens the gate and wakes the waiter from a freshly spawned thread, joined before this
    /// returns, so the wake happens at a deterministic point.
    fn open_from_thread(&self) {
        let gate = self.clone();
        thread::spawn(move || {
            *gate.open.lock().unwrap() = true;
            let waker = gate.waker.lock().unwrap().take();
            waker.expect("the waiter stored its waker").wake();
        })
        .join()
        .unwrap();
    }

    /// Opens the gate and wakes the waiter on this thread.
    fn open_here(&self) {
        *self.open.lock().unwrap() = true;
        let waker = self.waker.lock().unwrap().take();
        waker.expect("the waiter stored its waker").wake();
    }
}

fn assert_send_sync<T: Send + Sync + 'static>(_: &T) {}

// The static assertion: the waker type the loop hands out is `Send + Sync`.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Waker>();
};

#[test]
fn wakers_are_send_and_sync_and_cross_threads() {
    let mut lp = EventLoop::new();
    let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    let s = slot.clone();
    let task = lp.spawn(poll_fn(move |cx| {
        *s.lock().unwrap() = Some(cx.waker().clone());
        Poll::Ready(())
    }));
    let main_waker = lp
        .run_until_complete(poll_fn(|cx| Poll::Ready(cx.waker().clone())))
        .unwrap();
    assert!(task.is_finished());
    let task_waker = slot.lock().unwrap().take().unwrap();
    assert_send_sync(&main_waker);
    assert_send_sync(&task_waker);
    // Both can be moved to, cloned on, and dropped on another thread.
    thread::spawn(move || {
        let clones = (main_waker.clone(), task_waker.clone());
        drop((main_waker, task_waker));
        drop(clones);
    })
    .join()
    .unwrap();
}

#[test]
fn wake_from_thread_while_idle_is_taken_in_by_the_next_run() {
    let log = Log::default();
    let gate = Gate::default();
    let mut lp = EventLoop::new();
    let (l, g) = (log.clone(), gate.clone());
    let mut job = lp.spawn(async move {
        l.say("task waits");
        g.wait().await;
        l.say("task woken");
        sleep(secs(1)).await;
        l.say("task done");
        7
    });
    let l = log.clone();
    lp.call_later(secs(2), move || l.say("timer"));

    // Quiescent at 2 s: the task waits for a wake that no timer will bring.
    lp.run().unwrap();
    assert_eq!(lp.time(), at_secs(2));
    assert_eq!(lp.stats().polls, 1);
    assert!(!job.is_finished());
    assert_eq!(lp.pending_tasks().len(), 1);

    gate.open_from_thread();
    // The wake is only recorded; nothing runs until the next run call.
    assert_eq!(lp.stats().polls, 1);
    assert_eq!(log.lines(), ["[0s] task waits", "[2s] timer"]);

    // Queued after the wake, but on the loop's own queue: the remote wake is taken in at the
    // start of the next iteration, behind it.
    let l = log.clone();
    lp.call_soon(move || l.say("callback queued between runs"));
    assert_eq!(lp.run_until_complete(&mut job).unwrap(), Ok(7));
    assert_eq!(
        log.lines(),
        [
            "[0s] task waits",
            "[2s] timer",
            "[2s] callback queued between runs",
            "[2s] task woken",
            "[3s] task done",
        ]
    );
    assert_eq!(lp.time(), at_secs(3));
    assert!(job.is_finished());
}

#[test]
fn stalled_loop_resumes_after_a_wake_from_another_thread() {
    let log = Log::default();
    let gate = Gate::default();
    let mut lp = EventLoop::new();
    let (l, g) = (log.clone(), gate.clone());
    let mut job = lp.spawn_named("gated", async move {
        l.say("waiting");
        g.wait().await;
        l.say("through the gate");
        "ok"
    });
    let err = lp.run_forever().unwrap_err();
    match &err {
        LoopError::Stalled {
            at,
            pending,
            detail,
        } => {
            let (never_due, held_outside) = (&detail.never_due, &detail.held_outside);
            assert_eq!(*at, Instant::ZERO);
            assert_eq!(pending.len(), 1);
            assert_eq!(pending[0].id, job.id());
            assert_eq!(pending[0].name.as_deref(), Some("gated"));
            assert_eq!(*never_due, 0);
            // The gate, which a thread opens, holds the task's waker.
            assert_eq!(*held_outside, [Waiter::Task(pending[0].clone())]);
            assert_eq!(
                err.to_string(),
                format!(
                    "the loop stalled at 0s: nothing is ready, no timer is pending, and the \
                     run cannot end (a real event loop would hang here forever); 1 task still \
                     pending: {}; something outside the loop holds the waker of task #1 \
                     'gated' (a channel or lock, another thread, another loop), and nothing \
                     left in this loop will wake it",
                    pending[0]
                )
            );
        }
        other => panic!("expected a stall, got {other:?}"),
    }
    gate.open_from_thread();
    assert_eq!(lp.run_until_complete(&mut job).unwrap(), Ok("ok"));
    assert_eq!(log.lines(), ["[0s] waiting", "[0s] through the gate"]);
    assert_eq!(lp.stats().polls, 2 + 2); // two task polls, two polls of the main future
}

#[test]
fn wake_from_thread_during_a_run_is_taken_in_at_the_next_iteration() {
    let gate = Gate::default();
    let mut lp = EventLoop::builder().trace(true).build();
    let g = gate.clone();
    lp.spawn(async move {
        mark("T waits");
        g.wait().await;
        mark("T woken");
    });
    let g = gate.clone();
    lp.call_later(secs(1), move || {
        mark("A wakes T from a thread");
        g.open_from_thread();
    });
    lp.call_later(secs(1), || {
        mark("B");
        simloop::call_soon(|| mark("C, queued by B"));
    });
    lp.run().unwrap();
    // T was woken during A, in iteration 2: it is not polled in that iteration, and the
    // remote wake joins the queue at the start of iteration 3, behind what iteration 2
    // queued locally (C).
    assert_eq!(
        timeline(&lp),
        [
            "[0s] it1 poll task #1",
            "[0s] it1 T waits",
            "[1s] it2 A wakes T from a thread",
            "[1s] it2 B",
            "[1s] it3 C, queued by B",
            "[1s] it3 poll task #1",
            "[1s] it3 T woken",
        ]
    );
    assert_eq!(lp.stats().polls, 2);
    assert_eq!(lp.stats().iterations, 3);
}

#[test]
fn local_wake_during_a_run_is_queued_at_once_for_the_next_iteration() {
    // The same program as above, but A wakes T on the loop's own thread: the wake goes
    // straight to the back of the ready queue, ahead of C, still in the next iteration.
    let gate = Gate::default();
    let mut lp = EventLoop::builder().trace(true).build();
    let g = gate.clone();
    lp.spawn(async move {
        mark("T waits");
        g.wait().await;
        mark("T woken");
    });
    let g = gate.clone();
    lp.call_later(secs(1), move || {
        mark("A wakes T locally");
        g.open_here();
    });
    lp.call_later(secs(1), || {
        mark("B");
        simloop::call_soon(|| mark("C, queued by B"));
    });
    lp.run().unwrap();
    assert_eq!(
        timeline(&lp),
        [
            "[0s] it1 poll task #1",
            "[0s] it1 T waits",
            "[1s] it2 A wakes T locally",
            "[1s] it2 B",
            "[1s] it3 poll task #1",
            "[1s] it3 T woken",
            "[1s] it3 C, queued by B",
        ]
    );
}

#[test]
fn waking_a_finished_task_does_nothing() {
    let mut lp = EventLoop::new();
    let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    let s = slot.clone();
    let job = lp.spawn(async move {
        poll_fn(|cx| {
            *s.lock().unwrap() = Some(cx.waker().clone());
            Poll::Ready(())
        })
        .await;
        5
    });
    lp.run().unwrap();
    assert!(job.is_finished());
    assert_eq!(lp.stats().polls, 1);
    let waker = slot.lock().unwrap().take().unwrap();

    // Between runs, on this thread and from another thread.
    waker.wake_by_ref();
    let w = waker.clone();
    thread::spawn(move || w.wake()).join().unwrap();
    // During a run, from a callback.
    let w = waker.clone();
    lp.call_soon(move || w.wake());
    lp.run().unwrap();
    assert_eq!(lp.stats().polls, 1);
    assert_eq!(lp.stats().callbacks_run, 2); // the task's one step and the callback
    assert!(lp.pending_tasks().is_empty());
    assert_eq!(lp.run_until_complete(job).unwrap(), Ok(5));
}

#[test]
fn waking_a_task_of_a_closed_loop_does_nothing() {
    let log = Log::default();
    let gate = Gate::default();
    let mut lp = EventLoop::new();
    let (l, g) = (log.clone(), gate.clone());
    let guard = DropGuard(log.clone(), "task future dropped");
    let job = lp.spawn(async move {
        let _guard = guard;
        l.say("waiting");
        g.wait().await;
        l.say("never");
    });
    lp.run().unwrap();
    let waker = gate.waker.lock().unwrap().clone().unwrap();
    lp.close();
    assert!(lp.is_closed());
    assert_eq!(log.lines(), ["[0s] waiting", "task future dropped"]);
    assert!(job.is_finished());

    // A wake on this thread, from another thread, and while another loop runs: all inert.
    waker.wake_by_ref();
    let w = waker.clone();
    thread::spawn(move || w.wake()).join().unwrap();
    let mut other = EventLoop::new();
    let w = waker.clone();
    other.call_soon(move || w.wake());
    other.run().unwrap();
    assert_eq!(other.stats().polls, 0);
    assert!(matches!(lp.run(), Err(LoopError::Closed { .. })));
    assert_eq!(lp.stats().polls, 1);

    // Dropping the loop entirely: the waker outlives it and stays inert.
    drop(lp);
    waker.wake_by_ref();
    thread::spawn(move || waker.wake()).join().unwrap();
    assert_eq!(log.lines(), ["[0s] waiting", "task future dropped"]);
}

#[test]
fn waking_a_task_of_a_dropped_loop_does_nothing() {
    let gate = Gate::default();
    let dropped = Log::default();
    {
        let mut lp = EventLoop::new();
        let g = gate.clone();
        let guard = DropGuard(dropped.clone(), "dropped with the loop");
        lp.spawn(async move {
            let _guard = guard;
            g.wait().await;
        });
        lp.run().unwrap();
    }
    assert_eq!(dropped.lines(), ["dropped with the loop"]);
    gate.open_from_thread();
    assert_eq!(dropped.lines(), ["dropped with the loop"]);
}

/// Pending forever; counts its polls and keeps its newest waker.
fn counted_pending(
    polls: Rc<RefCell<u32>>,
    slot: Arc<Mutex<Option<Waker>>>,
) -> impl Future<Output = ()> {
    poll_fn(move |cx| {
        *polls.borrow_mut() += 1;
        mark(format!("poll {}", polls.borrow()));
        *slot.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    })
}

#[test]
fn task_woken_several_times_in_one_iteration_is_polled_once() {
    let mut lp = EventLoop::builder().trace(true).build();
    let polls = Rc::new(RefCell::new(0));
    let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    lp.spawn(counted_pending(polls.clone(), slot.clone()));
    let waker = move || slot.lock().unwrap().clone().unwrap();
    let w = waker.clone();
    lp.call_soon(move || {
        mark("wake_by_ref");
        w().wake_by_ref();
    });
    let w = waker.clone();
    lp.call_soon(move || {
        mark("wake a clone");
        w().wake();
    });
    let w = waker.clone();
    lp.call_soon(move || {
        mark("wake from a thread");
        let w = w();
        thread::spawn(move || w.wake()).join().unwrap();
    });
    let w = waker.clone();
    lp.call_soon(move || {
        mark("wake_by_ref again");
        w().wake_by_ref();
    });
    lp.run().unwrap();
    assert_eq!(
        timeline(&lp),
        [
            "[0s] it1 poll task #1",
            "[0s] it1 poll 1",
            "[0s] it1 wake_by_ref",
            "[0s] it1 wake a clone",
            "[0s] it1 wake from a thread",
            "[0s] it1 wake_by_ref again",
            "[0s] it2 poll task #1",
            "[0s] it2 poll 2",
        ]
    );
    assert_eq!(*polls.borrow(), 2);
    assert_eq!(lp.stats().polls, 2);

    // Several wakes from other threads while the loop is idle: one poll in the next run.
    for _ in 0..3 {
        let w = waker();
        thread::spawn(move || w.wake()).join().unwrap();
    }
    waker().wake_by_ref();
    lp.run().unwrap();
    assert_eq!(*polls.borrow(), 3);
    assert_eq!(lp.stats().polls, 3);
    assert_eq!(lp.stats().iterations, 3);
}

#[test]
fn oneshot_and_mpsc_channels_between_tasks() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let (mut tx, mut rx) = mpsc::channel::<u32>(0);
    let (done_tx, done_rx) = oneshot::channel::<u32>();

    let l = log.clone();
    lp.spawn(async move {
        for i in 1..=3 {
            sleep(secs(1)).await;
            l.say(format!("send {i}"));
            tx.send(i).await.unwrap();
            l.say(format!("sent {i}"));
        }
        l.say("producer done");
        // Dropping `tx` closes the channel.
    });
    let l = log.clone();
    lp.spawn(async move {
        let mut sum = 0;
        while let Some(v) = rx.next().await {
            l.say(format!("recv {v}"));
            sum += v;
        }
        l.say("channel closed");
        done_tx.send(sum).unwrap();
    });
    let l = log.clone();
    let sum = lp
        .run_until_complete(async move {
            let sum = done_rx.await.unwrap();
            l.say(format!("sum {sum}"));
            sum
        })
        .unwrap();
    assert_eq!(sum, 6);
    assert_eq!(
        log.lines(),
        [
            "[1s] send 1",
            "[1s] recv 1",
            "[1s] sent 1",
            "[2s] send 2",
            "[2s] recv 2",
            "[2s] sent 2",
            "[3s] send 3",
            "[3s] recv 3",
            "[3s] sent 3",
            "[3s] producer done",
            "[3s] channel closed",
            "[3s] sum 6",
        ]
    );
    assert!(lp.pending_tasks().is_empty());
}

#[test]
fn sleeps_under_a_foreign_waker_resume_like_sleeps_under_the_task_waker() {
    // A sleep awaited directly registers a wake of its task; one polled inside
    // `FuturesUnordered` sees that combinator's waker instead and must wake through it.
    // Both resume one iteration after their timer fires.
    let mut lp = EventLoop::builder().trace(true).build();
    lp.spawn(async {
        sleep(secs(1)).await;
        mark("direct 1s");
        sleep(secs(1)).await;
        mark("direct 2s");
    });
    lp.spawn(async {
        let mut set = futures::stream::FuturesUnordered::new();
        for (d, label) in [(2, "unordered 2s"), (1, "unordered 1s")] {
            set.push(async move {
                sleep(secs(d)).await;
                label
            });
        }
        while let Some(label) = set.next().await {
            mark(label);
        }
    });
    lp.run().unwrap();
    assert_eq!(
        timeline(&lp),
        [
            "[0s] it1 poll task #1",
            "[0s] it1 poll task #2",
            // FuturesUnordered yields (wakes its task) once it has polled all its futures.
            "[0s] it2 poll task #2",
            "[1s] it4 poll task #1",
            "[1s] it4 direct 1s",
            "[1s] it4 poll task #2",
            "[1s] it4 unordered 1s",
            // Equal deadlines: the timer registered first (at 0s, by task #2) fires first.
            "[2s] it6 poll task #2",
            "[2s] it6 unordered 2s",
            "[2s] it6 poll task #1",
            "[2s] it6 direct 2s",
        ]
    );
    assert_eq!(lp.time(), at_secs(2));
}

/// A waker that counts its wakes.
#[derive(Default)]
struct CountingWaker(std::sync::atomic::AtomicUsize);

impl futures::task::ArcWake for CountingWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl CountingWaker {
    fn wakes(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Polls `f` once under `waker`.
fn poll_under<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    std::pin::Pin::new(f).poll(&mut std::task::Context::from_waker(waker))
}

#[test]
fn a_sleep_polled_again_under_another_waker_wakes_that_one_and_keeps_its_place() {
    // A sleep first polled by its task and then under another waker must wake the other
    // one, and still fire in registration order among equal deadlines; polled by its task
    // again, it wakes the task again. Dropped or closed while it holds another waker, it
    // releases that waker without waking it.
    let counting = Arc::new(CountingWaker::default());
    let other = futures::task::waker(counting.clone());
    let mut lp = EventLoop::builder().trace(true).build();
    let o = other.clone();
    let c = counting.clone();
    lp.spawn(async move {
        let mut a = Box::pin(sleep(secs(2)));
        let mut b = Box::pin(sleep(secs(2)));
        let mut back = Box::pin(sleep(secs(1)));
        let mut dropped = Box::pin(sleep(secs(5)));
        poll_fn(|cx| {
            assert!(poll_under(&mut a, cx.waker()).is_pending());
            assert!(poll_under(&mut b, cx.waker()).is_pending());
            assert!(poll_under(&mut back, cx.waker()).is_pending());
            assert!(poll_under(&mut dropped, cx.waker()).is_pending());
            // Now under the other waker: `a`, `back` and `dropped`.
            assert!(poll_under(&mut a, &o).is_pending());
            assert!(poll_under(&mut back, &o).is_pending());
            assert!(poll_under(&mut dropped, &o).is_pending());
            // And `back` under the task's waker again.
            assert!(poll_under(&mut back, cx.waker()).is_pending());
            Poll::Ready(())
        })
        .await;
        drop(dropped);
        back.await;
        mark(format!("back; other woken {} times", c.wakes()));
        b.await;
        mark(format!("b; other woken {} times", c.wakes()));
        assert!(poll_under(&mut a, &o).is_ready());
        mark("a is elapsed");
    });
    lp.run().unwrap();
    assert_eq!(
        timeline(&lp),
        [
            "[0s] it1 poll task #1",
            "[1s] it3 poll task #1",
            "[1s] it3 back; other woken 0 times",
            "[2s] it5 poll task #1",
            "[2s] it5 b; other woken 1 times",
            "[2s] it5 a is elapsed",
        ]
    );
    // The dropped sleep did not attract the clock to 5s.
    assert_eq!(lp.time(), at_secs(2));
    assert_eq!(counting.wakes(), 1);
    // The loop keeps no copy of the other waker.
    assert_eq!(Arc::strong_count(&counting), 2); // `counting` and `other`

    // Closed while holding the other waker: released, not woken.
    let o = other.clone();
    lp.spawn(async move {
        let mut s = Box::pin(sleep(secs(1)));
        poll_fn(|cx| {
            assert!(poll_under(&mut s, cx.waker()).is_pending());
            assert!(poll_under(&mut s, &o).is_pending());
            Poll::Ready(())
        })
        .await;
        std::future::pending::<()>().await;
        drop(s);
    });
    lp.run_once().unwrap();
    // `counting`, `other`, the task's `o`, and the loop's copy for the timer.
    assert_eq!(Arc::strong_count(&counting), 4);
    lp.close();
    assert_eq!(Arc::strong_count(&counting), 2);
    assert_eq!(counting.wakes(), 1);
}

#[test]
fn a_sleep_wakes_only_the_waker_of_its_last_poll() {
    // Each poll of a pending sleep replaces the waker its timer will wake, whichever kind
    // of timer it started as: the task's own (first polled by its task) or a closure (first
    // polled under another waker).
    let (first, second) = (
        Arc::new(CountingWaker::default()),
        Arc::new(CountingWaker::default()),
    );
    let (w1, w2) = (
        futures::task::waker(first.clone()),
        futures::task::waker(second.clone()),
    );
    let mut lp = EventLoop::builder().trace(true).build();
    lp.spawn(async move {
        // Registered under the task's waker, then moved to `w1`, then to `w2`.
        let mut own_first = Box::pin(sleep(secs(1)));
        // Registered under `w1`, then moved to `w2`, then back to the task.
        let mut other_first = Box::pin(sleep(secs(2)));
        poll_fn(|cx| {
            assert!(poll_under(&mut own_first, cx.waker()).is_pending());
            assert!(poll_under(&mut other_first, &w1).is_pending());
            assert!(poll_under(&mut own_first, &w1).is_pending());
            assert!(poll_under(&mut own_first, &w2).is_pending());
            assert!(poll_under(&mut other_first, &w2).is_pending());
            assert!(poll_under(&mut other_first, cx.waker()).is_pending());
            Poll::Ready(())
        })
        .await;
        other_first.await;
        mark("other_first");
        assert!(poll_under(&mut own_first, &w1).is_ready());
    });
    lp.run().unwrap();
    assert_eq!(
        timeline(&lp),
        [
            "[0s] it1 poll task #1",
            // `own_first` fired at 1s and woke `w2` only: the task was not polled.
            "[2s] it4 poll task #1",
            "[2s] it4 other_first",
        ]
    );
    assert_eq!((first.wakes(), second.wakes()), (0, 1));
    assert_eq!(Arc::strong_count(&first), 1);
    assert_eq!(Arc::strong_count(&second), 1);
}

#[test]
fn a_cancelled_sleep_does_not_wake_a_later_sleep_of_its_task() {
    // A task's own sleep keeps its timer in the task's slot; a cancelled one leaves its
    // timer in the queue until it surfaces. That stale timer must neither wake the task's
    // next sleep early nor draw the clock to its deadline.
    let mut lp = EventLoop::builder().trace(true).build();
    lp.spawn(async {
        // Cancelled at 1s; its timer (10s) stays queued.
        assert!(simloop::timeout(secs(1), sleep(secs(10))).await.is_err());
        mark("timed out");
        sleep(secs(20)).await;
        mark("slept 20s");
        // Cancelled after one poll (deadline 121s), then a shorter sleep.
        let mut long = Box::pin(sleep(secs(100)));
        poll_fn(|cx| {
            assert!(poll_under(&mut long, cx.waker()).is_pending());
            Poll::Ready(())
        })
        .await;
        drop(long);
        sleep(secs(1)).await;
        mark("slept 1s");
    });
    lp.run().unwrap();
    assert_eq!(
        timeline(&lp),
        [
            "[0s] it1 poll task #1",
            "[1s] it3 poll task #1",
            "[1s] it3 timed out",
            "[21s] it5 poll task #1",
            "[21s] it5 slept 20s",
            "[22s] it7 poll task #1",
            "[22s] it7 slept 1s",
        ]
    );
    assert_eq!(lp.time(), at_secs(22));
}

#[test]
fn a_sleep_that_outlives_its_task_still_fires_at_its_deadline() {
    // A task returns a sleep it polled once: the timer outlives the task and completes the
    // sleep for whoever polls it next. Another such sleep, dropped, draws nothing.
    let mut lp = EventLoop::builder().trace(true).build();
    let made = lp.spawn(async {
        let mut kept = Box::pin(sleep(secs(3)));
        let mut dropped = Box::pin(sleep(secs(5)));
        poll_fn(|cx| {
            assert!(poll_under(&mut kept, cx.waker()).is_pending());
            assert!(poll_under(&mut dropped, cx.waker()).is_pending());
            Poll::Ready(())
        })
        .await;
        (kept, dropped)
    });
    let (kept, dropped) = lp.run_until_complete(made).unwrap().unwrap();
    assert_eq!(lp.time(), at_secs(0));
    drop(dropped);
    lp.run_until_complete(async {
        kept.await;
        mark("kept sleep done");
    })
    .unwrap();
    assert_eq!(
        timeline(&lp),
        ["[0s] it1 poll task #1", "[3s] it5 kept sleep done"]
    );
    lp.run().unwrap();
    assert_eq!(lp.time(), at_secs(3));
}

#[test]
fn a_sleep_cancelled_after_it_fell_due_wakes_nothing() {
    // The task is queued (by a message) before its due sleep's timer runs: polled first, it
    // drops that sleep and starts another; the dropped one's timer then runs and does
    // nothing, and the new one wakes the task as usual.
    let mut lp = EventLoop::builder().trace(true).build();
    let (tx, mut rx) = oneshot::channel::<()>();
    lp.spawn(async move {
        let mut due = Box::pin(sleep(secs(0)));
        poll_fn(|cx| {
            if std::pin::Pin::new(&mut rx).poll(cx).is_ready() {
                return Poll::Ready(());
            }
            assert!(poll_under(&mut due, cx.waker()).is_pending());
            Poll::Pending
        })
        .await;
        drop(due);
        mark("message first");
        sleep(secs(0)).await;
        mark("slept");
    });
    lp.call_soon(move || tx.send(()).unwrap());
    lp.run().unwrap();
    assert_eq!(
        timeline(&lp),
        [
            "[0s] it1 poll task #1",
            "[0s] it2 poll task #1",
            "[0s] it2 message first",
            "[0s] it4 poll task #1",
            "[0s] it4 slept",
        ]
    );
    let stats = lp.stats();
    assert_eq!((stats.timers_fired, stats.timers_cancelled), (2, 0));
}

#[test]
fn a_sleep_cancelled_while_queued_leaves_the_next_sleep_at_its_deadline_in_registration_order() {
    // Task #1 polls a sleep until 10s once, then drops it: its timer's record stays queued
    // (and keeps the task's timer place) until it surfaces at 10s. A callback for 10s is
    // registered next, then task #1 sleeps until 10s again. At 10s the dropped sleep fires
    // nothing; the callback runs first (registered first) and spawns task #2, then task #1's
    // timer queues it behind #2. Its next sleep, once the place is free again, fires as usual.
    let mut lp = EventLoop::builder().trace(true).build();
    lp.spawn(async {
        let mut first = Box::pin(simloop::sleep_until(at_secs(10)));
        poll_fn(|cx| {
            assert!(poll_under(&mut first, cx.waker()).is_pending());
            Poll::Ready(())
        })
        .await;
        drop(first);
        simloop::call_at(at_secs(10), || {
            mark("callback");
            drop(simloop::spawn(async { mark("spawned") }));
        });
        simloop::sleep_until(at_secs(10)).await;
        mark("woke");
        sleep(secs(1)).await;
        mark("slept 1s");
        simloop::timeout(secs(1), sleep(secs(5))).await.unwrap_err();
        mark("timed out");
    });
    lp.run().unwrap();
    assert_eq!(
        timeline(&lp),
        [
            "[0s] it1 poll task #1",
            "[10s] it2 callback",
            "[10s] it3 poll task #2",
            "[10s] it3 spawned",
            "[10s] it3 poll task #1",
            "[10s] it3 woke",
            "[11s] it5 poll task #1",
            "[11s] it5 slept 1s",
            "[12s] it7 poll task #1",
            "[12s] it7 timed out",
        ]
    );
    assert_eq!(lp.time(), at_secs(12));
    let stats = lp.stats();
    assert_eq!(stats.timers_fired, 4);
    assert_eq!(stats.timers_cancelled, 2);
}

/// A waker handed to a thread that keeps waking while the loop goes on polling (the thread is
/// not joined first): the wakes race with the loop's own writes to the task's state. Under
/// Miri (`.ci/run`) a data race there is reported; here, every step still runs once in order.
#[test]
fn a_thread_waking_a_task_while_the_loop_polls_it_races_with_nothing() {
    let mut lp = EventLoop::new();
    let steps = Rc::new(RefCell::new(0));
    let s = steps.clone();
    let task = lp.spawn(async move {
        let waker = poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
        let waking = thread::spawn(move || {
            for _ in 0..50 {
                waker.wake_by_ref();
                thread::yield_now();
            }
        });
        for _ in 0..50 {
            *s.borrow_mut() += 1;
            simloop::yield_now().await;
        }
        waking
    });
    let waking = lp.run_until_complete(task).unwrap().unwrap();
    waking.join().unwrap();
    assert_eq!(*steps.borrow(), 50);
    assert_eq!(lp.time(), Instant::ZERO);
    // Extra wakes from the thread may add polls (how many depends on the thread), never
    // fewer than the task's own 51.
    assert!(lp.stats().polls >= 51, "{} polls", lp.stats().polls);
    assert_eq!(lp.run(), Ok(()));
}

/// The same race on the main future's waker.
#[test]
fn a_thread_waking_the_main_future_while_the_loop_polls_it_races_with_nothing() {
    let mut lp = EventLoop::new();
    let steps = lp
        .run_until_complete(async {
            let waker = poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
            let waking = thread::spawn(move || {
                for _ in 0..50 {
                    waker.wake_by_ref();
                    thread::yield_now();
                }
            });
            let mut steps = 0;
            for _ in 0..50 {
                steps += 1;
                simloop::yield_now().await;
            }
            waking.join().unwrap();
            steps
        })
        .unwrap();
    assert_eq!(steps, 50);
    assert_eq!(lp.time(), Instant::ZERO);
}

/// A finished task's allocation is freed, and the next run call's main-future waker may be
/// allocated at its address: that waker must not pass for the dead task's (its sleep would
/// become the dead task's wake timer, and the main future would never wake).
#[test]
fn the_next_main_future_is_not_taken_for_a_finished_task_at_the_same_address() {
    let mut lp = EventLoop::new();
    drop(lp.spawn(async {}));
    assert_eq!(lp.run(), Ok(()));
    assert_eq!(lp.run_until_complete(sleep(secs(1))), Ok(()));
    assert_eq!(lp.time(), at_secs(1));
    // Again, with a task that slept (it had a wake timer of its own) and several run calls.
    for round in 2..6 {
        drop(lp.spawn(sleep(secs(1))));
        assert_eq!(lp.run(), Ok(()));
        assert_eq!(lp.run_until_complete(sleep(secs(1))), Ok(()));
        assert_eq!(lp.time(), at_secs(2 * round - 1));
    }
}
