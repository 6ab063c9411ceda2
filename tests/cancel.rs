//! Cancellation: `JoinHandle::cancel`, detaching, `CallbackHandle`/`TimerHandle::cancel`,
//! and the timer of a finished `timeout`.

use std::cell::{Cell, RefCell};
use std::future::{pending, poll_fn, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use simloop::{
    sleep, spawn, timeout, CallbackHandle, Event, EventLoop, Instant, JoinError, TimerHandle,
};

#[path = "support/log.rs"]
mod log;
use log::{at_secs, secs, Log};

/// Logs `[instant] msg` when dropped (inside a loop), so we see when a future is dropped.
struct DropGuard(Log, &'static str);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.say(self.1);
    }
}

#[test]
fn cancel_returns_false_once_the_task_has_finished() {
    let mut lp = EventLoop::new();
    let done = lp.spawn(async { 1 });
    lp.run().unwrap();
    assert!(done.is_finished());
    assert!(!done.cancel());
    assert_eq!(lp.run_until_complete(done).unwrap(), Ok(1));

    // A cancelled task has finished too, once its cancel step ran.
    let cancelled = lp.spawn(pending::<()>());
    assert!(cancelled.cancel());
    lp.run().unwrap();
    assert!(cancelled.is_finished());
    assert!(!cancelled.cancel());
    assert_eq!(
        lp.run_until_complete(cancelled).unwrap(),
        Err(JoinError::Cancelled)
    );
}

#[test]
fn task_cancelled_before_its_first_poll_never_runs_its_body() {
    let log = Log::default();
    let mut lp = EventLoop::builder().trace(true).build();
    lp.call_soon(log.cb("A"));
    let (l, guard) = (log.clone(), DropGuard(log.clone(), "task future dropped"));
    let job = lp.spawn(async move {
        let _guard = guard;
        l.say("body runs");
        3
    });
    lp.call_soon(log.cb("B"));

    assert!(job.cancel());
    // The future is dropped in the task's step, not by cancel() itself.
    assert!(!job.is_finished());
    assert!(log.lines().is_empty());

    lp.run().unwrap();
    assert_eq!(
        log.lines(),
        ["[0s] A", "[0s] task future dropped", "[0s] B"]
    );
    assert!(job.is_finished());
    assert_eq!(lp.stats().polls, 0);
    assert!(lp.pending_tasks().is_empty());
    let cancels: Vec<_> = lp
        .trace()
        .events()
        .iter()
        .filter(|e| matches!(e.event, Event::TaskCancel { .. }))
        .map(|e| (e.at, e.iteration, e.event.clone()))
        .collect();
    assert_eq!(
        cancels,
        [(Instant::ZERO, 1, Event::TaskCancel { task: job.id() })]
    );
    assert_eq!(
        lp.run_until_complete(job).unwrap(),
        Err(JoinError::Cancelled)
    );
}

#[test]
fn a_task_awaiting_a_cancelled_task_gets_cancelled() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let l = log.clone();
    let waiter = lp.spawn(async move {
        let (vl, guard) = (l.clone(), DropGuard(l.clone(), "victim dropped"));
        let victim = spawn(async move {
            let _guard = guard;
            vl.say("victim starts");
            sleep(secs(10)).await;
            vl.say("victim never ends");
            "never"
        });
        sleep(secs(1)).await;
        l.say("waiter cancels");
        assert!(victim.cancel());
        let result = victim.await;
        l.say(format!("waiter got {result:?}"));
        result
    });
    assert_eq!(
        lp.run_until_complete(waiter).unwrap(),
        Ok(Err(JoinError::Cancelled))
    );
    assert_eq!(
        log.lines(),
        [
            "[0s] victim starts",
            "[1s] waiter cancels",
            "[1s] victim dropped",
            "[1s] waiter got Err(Cancelled)",
        ]
    );
    lp.run().unwrap();
    // The victim's 10 s timer went with its future.
    assert_eq!(lp.time(), at_secs(1));
    assert_eq!(lp.stats().timers_cancelled, 1);
}

#[test]
fn the_main_future_joining_a_cancelled_task_is_woken_with_cancelled() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let victim = Rc::new(RefCell::new(lp.spawn(async {
        sleep(secs(10)).await;
        1
    })));
    let v = victim.clone();
    let l = log.clone();
    lp.call_later(secs(1), move || {
        l.say("cancel");
        assert!(v.borrow().cancel());
    });
    let v = victim.clone();
    let l = log.clone();
    let result = lp
        .run_until_complete(async move {
            let r = poll_fn(|cx| Pin::new(&mut *v.borrow_mut()).poll(cx)).await;
            l.say(format!("main got {r:?}"));
            r
        })
        .unwrap();
    assert_eq!(result, Err(JoinError::Cancelled));
    assert_eq!(log.lines(), ["[1s] cancel", "[1s] main got Err(Cancelled)"]);
    assert!(victim.borrow().is_finished());
    assert_eq!(lp.time(), at_secs(1));
}

#[test]
fn cancelling_a_sleeping_task_drops_its_future_in_a_queued_step() {
    let log = Log::default();
    let mut lp = EventLoop::builder().trace(true).build();
    let (l, guard) = (log.clone(), DropGuard(log.clone(), "victim dropped"));
    let victim = lp.spawn(async move {
        let _guard = guard;
        l.say("victim sleeps");
        sleep(secs(10)).await;
        l.say("victim wakes");
    });
    let victim_id = victim.id();
    let b_id = Rc::new(Cell::new(0));
    let (l, bi) = (log.clone(), b_id.clone());
    let a = lp.call_later(secs(1), move || {
        l.say("A cancels");
        assert!(victim.cancel());
        // Not dropped yet: the step is queued behind what is already queued (C).
        l.say("A queues B");
        bi.set(simloop::call_soon(l.cb("B")).id());
    });
    let c = lp.call_later(secs(1), log.cb("C"));
    lp.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            "[0s] victim sleeps",
            "[1s] A cancels",
            "[1s] A queues B",
            "[1s] C",
            "[1s] victim dropped",
            "[1s] B",
        ]
    );
    // The cancelled sleep never attracts the clock.
    assert_eq!(lp.time(), at_secs(1));
    let s = lp.stats();
    assert_eq!(s.clock_jumps, 1);
    assert_eq!(s.timers_cancelled, 1);
    assert_eq!(s.timers_set, 3);
    assert_eq!(s.timers_fired, 2);
    assert!(!a.cancel() && !c.cancel());

    // The cancel step is in the iteration after A's, like B, and takes the sleep's timer
    // with it.
    let trace = lp.trace();
    let sleep_timer = trace
        .events()
        .iter()
        .find_map(|e| match e.event {
            Event::TimerSet { id, when } if when == at_secs(10) => Some(id),
            _ => None,
        })
        .expect("the victim's sleep set a timer");
    let steps: Vec<_> = trace
        .events()
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                Event::TaskCancel { .. } | Event::CallbackRun { .. } | Event::Cancel { .. }
            )
        })
        .map(|e| (e.at, e.iteration, e.event.clone()))
        .collect();
    let t1 = at_secs(1);
    assert_eq!(
        steps,
        [
            (t1, 2, Event::CallbackRun { id: a.id() }),
            (t1, 2, Event::CallbackRun { id: c.id() }),
            (t1, 3, Event::TaskCancel { task: victim_id }),
            (t1, 3, Event::Cancel { id: sleep_timer }),
            (t1, 3, Event::CallbackRun { id: b_id.get() }),
        ]
    );
}

#[test]
fn dropping_a_join_handle_detaches_the_task() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let l = log.clone();
    drop(lp.spawn(async move {
        sleep(secs(1)).await;
        l.say("detached task still runs");
    }));
    assert_eq!(lp.pending_tasks().len(), 1);
    lp.run().unwrap();
    assert_eq!(log.lines(), ["[1s] detached task still runs"]);
    assert!(lp.pending_tasks().is_empty());
    assert_eq!(lp.time(), at_secs(1));
}

#[test]
fn join_handle_id_and_is_finished() {
    let mut lp = EventLoop::new();
    let a = lp.spawn(async { sleep(secs(1)).await });
    let b = lp.spawn_named("b", async {});
    assert_eq!(a.id().as_u64(), 1);
    assert_eq!(b.id().as_u64(), 2);
    assert_eq!(a.id().to_string(), "#1");
    assert_ne!(a.id(), b.id());
    assert!(!a.is_finished() && !b.is_finished());
    let ids: Vec<_> = lp.pending_tasks().iter().map(|t| t.id).collect();
    assert_eq!(ids, [a.id(), b.id()]);

    lp.run_once().unwrap();
    assert!(!a.is_finished());
    assert!(b.is_finished());
    let ids: Vec<_> = lp.pending_tasks().iter().map(|t| t.id).collect();
    assert_eq!(ids, [a.id()]);

    lp.run().unwrap();
    assert!(a.is_finished());
    // Ids keep counting; they are not reused.
    let c = lp.spawn(async {});
    assert_eq!(c.id().as_u64(), 3);
}

#[test]
fn callback_handle_cancel() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let a = lp.call_soon(log.cb("a"));
    let b = lp.call_soon(log.cb("b"));
    assert!(!a.is_cancelled() && !b.is_cancelled());
    assert!(b.cancel());
    assert!(b.is_cancelled());
    assert!(!b.cancel(), "a second cancel does nothing");
    assert!(b.is_cancelled());
    lp.run().unwrap();
    assert_eq!(log.lines(), ["[0s] a"]);
    assert!(!a.cancel(), "a callback that ran cannot be cancelled");
    assert!(!a.is_cancelled());
    assert_eq!(lp.stats().callbacks_run, 1);
}

#[test]
fn callback_cancelled_by_an_earlier_callback_of_the_same_iteration_does_not_run() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let zeroth: Rc<RefCell<Option<CallbackHandle>>> = Rc::default();
    let later: Rc<RefCell<Option<CallbackHandle>>> = Rc::default();
    *zeroth.borrow_mut() = Some(lp.call_soon(log.cb("zeroth")));
    let (l, z, lt) = (log.clone(), zeroth.clone(), later.clone());
    lp.call_soon(move || {
        l.say("first");
        // Already ran in this iteration.
        assert!(!z.borrow().as_ref().unwrap().cancel());
        // In this iteration's snapshot, not run yet.
        assert!(lt.borrow().as_ref().unwrap().cancel());
    });
    *later.borrow_mut() = Some(lp.call_soon(log.cb("later")));
    lp.run().unwrap();
    assert_eq!(log.lines(), ["[0s] zeroth", "[0s] first"]);
    assert!(later.borrow().as_ref().unwrap().is_cancelled());
    assert!(!zeroth.borrow().as_ref().unwrap().is_cancelled());
    assert_eq!(lp.stats().callbacks_run, 2);
    assert_eq!(lp.stats().iterations, 1);
}

#[test]
fn timer_handle_cancel_and_when() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let t1 = lp.call_later(secs(2), log.cb("t1"));
    let t2 = lp.call_at(Instant::from_nanos(5), log.cb("t2"));
    assert_eq!(t1.when(), at_secs(2));
    assert_eq!(t2.when(), Instant::from_nanos(5));
    assert!(t1.cancel());
    assert!(t1.is_cancelled());
    assert!(!t1.cancel());
    lp.run().unwrap();
    // The cancelled timer never attracted the clock.
    assert_eq!(lp.time(), Instant::from_nanos(5));
    assert_eq!(log.lines(), ["[0.000000005s] t2"]);
    assert!(!t2.cancel());
    assert!(!t2.is_cancelled());
    assert_eq!(t2.when(), Instant::from_nanos(5));
    let s = lp.stats();
    assert_eq!(
        (s.timers_set, s.timers_fired, s.timers_cancelled),
        (2, 1, 1)
    );

    // `when` is relative to the clock at call time.
    lp.advance(secs(1)).unwrap();
    let t3 = lp.call_later(secs(2), || {});
    assert_eq!(t3.when(), Instant::from_nanos(3_000_000_005));
    // A past `call_at` keeps the instant it was given.
    let t4 = lp.call_at(Instant::ZERO, || {});
    assert_eq!(t4.when(), Instant::ZERO);
    lp.run().unwrap();
    assert_eq!(lp.time(), Instant::from_nanos(3_000_000_005));
}

#[test]
fn timer_cancelled_after_promotion_in_the_same_iteration_does_not_run() {
    // asyncio: Handle.cancel() on a handle already moved to the ready queue prevents it
    // from running. Here A and B both fall due at 1 s and are promoted into the same
    // snapshot; A (first) cancels B, and B (after A) cannot cancel... A, which already ran.
    let log = Log::default();
    let mut lp = EventLoop::builder().trace(true).build();
    let b_handle: Rc<RefCell<Option<TimerHandle>>> = Rc::default();
    let a_handle: Rc<RefCell<Option<TimerHandle>>> = Rc::default();
    let (l, bh) = (log.clone(), b_handle.clone());
    let a = lp.call_later(secs(1), move || {
        l.say("A");
        let b = bh.borrow();
        let b = b.as_ref().unwrap();
        assert!(b.cancel(), "B is pending in the ready queue");
        assert!(b.is_cancelled());
        assert!(!b.cancel());
    });
    let b = lp.call_later(secs(1), log.cb("B"));
    let (l, ah) = (log.clone(), a_handle.clone());
    let c = lp.call_later(secs(1), move || {
        l.say("C");
        let a = ah.borrow();
        assert!(!a.as_ref().unwrap().cancel(), "A already ran");
    });
    let (a_id, b_id, c_id) = (a.id(), b.id(), c.id());
    *a_handle.borrow_mut() = Some(a);
    *b_handle.borrow_mut() = Some(b);
    lp.run().unwrap();
    assert_eq!(log.lines(), ["[1s] A", "[1s] C"]);
    assert!(b_handle.borrow().as_ref().unwrap().is_cancelled());
    assert!(!a_handle.borrow().as_ref().unwrap().is_cancelled());
    assert_eq!(lp.stats().callbacks_run, 2);
    let steps: Vec<_> = lp
        .trace()
        .events()
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                Event::TimerFire { .. } | Event::CallbackRun { .. } | Event::Cancel { .. }
            )
        })
        .map(|e| (e.iteration, e.event.clone()))
        .collect();
    let fire = |id| Event::TimerFire {
        id,
        lateness: Duration::ZERO,
    };
    assert_eq!(
        steps,
        [
            (1, fire(a_id)),
            (1, fire(b_id)),
            (1, fire(c_id)),
            (1, Event::CallbackRun { id: a_id }),
            (1, Event::Cancel { id: b_id }),
            (1, Event::CallbackRun { id: c_id }),
        ]
    );
}

#[test]
fn timeout_whose_inner_future_finished_cancels_its_timer() {
    let mut lp = EventLoop::new();
    let out = lp
        .run_until_complete(async { timeout(secs(10), sleep(secs(1))).await })
        .unwrap();
    assert_eq!(out, Ok(()));
    assert_eq!(lp.time(), at_secs(1));
    let s = lp.stats();
    assert_eq!(s.timers_set, 2); // the inner sleep and the timeout's deadline
    assert_eq!(s.timers_fired, 1);
    assert_eq!(s.timers_cancelled, 1);
    // The cancelled deadline at 10 s does not attract the clock.
    lp.run().unwrap();
    assert_eq!(lp.time(), at_secs(1));
    assert_eq!(lp.stats().clock_jumps, 1);
}

#[test]
fn timeout_dropped_while_pending_cancels_its_timer() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let l = log.clone();
    lp.run_until_complete(async move {
        let mut t = pin!(timeout(secs(10), pending::<()>()));
        // One poll registers the deadline; then the timeout is dropped unfinished.
        poll_fn(|cx| {
            assert!(t.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        l.say("timeout polled once");
    })
    .unwrap();
    assert_eq!(log.lines(), ["[0s] timeout polled once"]);
    let s = lp.stats();
    assert_eq!((s.timers_set, s.timers_cancelled), (1, 1));
    lp.run().unwrap();
    assert_eq!(lp.time(), Instant::ZERO);
}

#[test]
fn timeout_whose_inner_future_is_ready_at_once_sets_no_timer() {
    let mut lp = EventLoop::new();
    let out = lp
        .run_until_complete(async { timeout(secs(10), async { 4 }).await })
        .unwrap();
    assert_eq!(out, Ok(4));
    let s = lp.stats();
    assert_eq!((s.timers_set, s.timers_cancelled), (0, 0));
    assert_eq!(lp.time(), Instant::ZERO);
}

#[test]
fn cancelling_a_task_whose_step_is_already_queued_drops_it_at_that_step() {
    // asyncio: cancelling a task whose step is already scheduled cancels it in that step;
    // no second step is queued.
    let log = Log::default();
    let mut lp = EventLoop::new();
    let (l, guard) = (log.clone(), DropGuard(log.clone(), "victim dropped"));
    let victim = lp.spawn(async move {
        let _guard = guard;
        sleep(secs(1)).await;
        l.say("victim resumes");
    });
    // Set in iteration 1 after the victim's sleep: both fire at 1 s, the sleep's wake first,
    // so the victim's step is queued when the canceller runs.
    let l = log.clone();
    lp.call_soon(move || {
        simloop::call_later(secs(1), move || {
            l.say("canceller queues `after`, then cancels");
            simloop::call_soon(l.cb("after"));
            assert!(victim.cancel());
        });
    });
    lp.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            "[1s] canceller queues `after`, then cancels",
            "[1s] victim dropped",
            "[1s] after",
        ]
    );
    assert_eq!(lp.stats().polls, 1);
}
