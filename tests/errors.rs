//! Every `LoopError` variant, raised on purpose: its fields, `at()`, and its `Display`
//! sentence.

use std::cell::{Cell, RefCell};
use std::future::pending;
use std::rc::Rc;
use std::time::Duration;

use futures::channel::oneshot;
use futures::FutureExt;
use simloop::{
    now, sleep, yield_now, EventLoop, Instant, JoinError, JoinHandle, LoopError, StallDetail,
    TaskInfo, Waiter,
};

type Log = Rc<RefCell<Vec<String>>>;

#[path = "support/sites.rs"]
mod sites;
use sites::{later_at, soon_at, task_who};

fn new_log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

/// Pushes `what` stamped with the current loop's clock.
fn push(log: &Log, what: &str) {
    log.borrow_mut().push(format!("{what} @{}", now()));
}

fn snapshot(log: &Log) -> Vec<String> {
    log.borrow().clone()
}

fn secs(s: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(s)
}

fn millis(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

const STALL: &str = "nothing is ready, no timer is pending, and the run cannot end \
                     (a real event loop would hang here forever)";

fn spawned_at(info: &TaskInfo) -> String {
    format!(
        "{}:{}:{}",
        info.spawned_at.file(),
        info.spawned_at.line(),
        info.spawned_at.column()
    )
}

// ---------------------------------------------------------------------------------------
// Stalled
// ---------------------------------------------------------------------------------------

#[test]
fn stalled_run_until_complete_lists_pending_tasks_instead_of_hanging() {
    let mut lp = EventLoop::new();
    let (tx, rx) = oneshot::channel::<u32>();
    let line_waiter = line!() + 1;
    let mut waiter = lp.spawn_named("waiter", async move { rx.await.unwrap() * 2 });
    let line_forever = line!() + 1;
    let forever = lp.spawn(pending::<()>());
    // A task that finishes before the stall is not listed.
    let done = lp.spawn_named("done", sleep(Duration::from_secs(1)));

    let err = lp
        .run_until_complete(async {
            sleep(Duration::from_secs(3)).await;
            (&mut waiter).await
        })
        .unwrap_err();

    let LoopError::Stalled {
        at,
        pending,
        detail,
    } = &err
    else {
        panic!("expected Stalled, got {err:?}");
    };
    let StallDetail {
        never_due,
        held_outside,
        awaits_other_loop,
    } = &**detail;
    assert_eq!(*at, secs(3));
    assert_eq!(*never_due, 0);
    // The channel holds the waiter's waker (its sender is out here); the main future waits
    // for the waiter, and `forever` dropped its waker: neither is held outside the loop.
    assert_eq!(*held_outside, [Waiter::Task(pending[0].clone())]);
    assert_eq!(*awaits_other_loop, []);
    assert_eq!(err.at(), secs(3));
    assert_eq!(lp.time(), secs(3));
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].id, waiter.id());
    assert_eq!(pending[0].id.as_u64(), 1);
    assert_eq!(pending[0].name.as_deref(), Some("waiter"));
    assert_eq!(pending[0].spawned_at.file(), file!());
    assert_eq!(pending[0].spawned_at.line(), line_waiter);
    assert_eq!(pending[1].id, forever.id());
    assert_eq!(pending[1].id.as_u64(), 2);
    assert_eq!(pending[1].name, None);
    assert_eq!(pending[1].spawned_at.file(), file!());
    assert_eq!(pending[1].spawned_at.line(), line_forever);
    assert_eq!(done.id().as_u64(), 3);
    assert!(done.is_finished());
    assert_eq!(*pending, lp.pending_tasks());

    // TaskInfo's Display, then the whole sentence, built from the test's own file:line.
    let waiter_at = format!(
        "{}:{}:{}",
        file!(),
        line_waiter,
        pending[0].spawned_at.column()
    );
    let forever_at = format!(
        "{}:{}:{}",
        file!(),
        line_forever,
        pending[1].spawned_at.column()
    );
    assert_eq!(spawned_at(&pending[0]), waiter_at);
    assert_eq!(
        pending[0].to_string(),
        format!("task #1 'waiter' (spawned at {waiter_at})")
    );
    assert_eq!(
        pending[1].to_string(),
        format!("task #2 (spawned at {forever_at})")
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the loop stalled at 3s: {STALL}; 2 tasks still pending: \
             task #1 'waiter' (spawned at {waiter_at}), task #2 (spawned at {forever_at}); \
             something outside the loop holds the waker of task #1 'waiter' (a channel or \
             lock, another thread, another loop), and nothing left in this loop will wake it"
        )
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the loop stalled at 3s: {STALL}; 2 tasks still pending: {}, {}; {}",
            pending[0],
            pending[1],
            "something outside the loop holds the waker of task #1 'waiter' (a channel or \
             lock, another thread, another loop), and nothing left in this loop will wake it"
        )
    );

    // A stall is not fatal: once the channel is fed, the task can be awaited again.
    tx.send(21).unwrap();
    assert_eq!(lp.run_until_complete(&mut waiter), Ok(Ok(42)));
    assert_eq!(lp.time(), secs(3));
    let left: Vec<_> = lp.pending_tasks().into_iter().map(|t| t.id).collect();
    assert_eq!(left, vec![forever.id()]);
}

#[test]
fn run_forever_without_stop_stalls_after_the_last_timer() {
    let log = new_log();
    let mut lp = EventLoop::new();
    let line_sleeper = line!() + 1;
    let _sleeper = lp.spawn_named("sleeper", async {
        sleep(Duration::from_secs(2)).await;
        pending::<()>().await
    });
    let l = log.clone();
    lp.call_later(Duration::from_secs(5), move || push(&l, "timer"));

    let err = lp.run_forever().unwrap_err();

    assert_eq!(snapshot(&log), ["timer @5s"]);
    let LoopError::Stalled {
        at,
        pending,
        detail,
    } = &err
    else {
        panic!("expected Stalled, got {err:?}");
    };
    assert_eq!(detail.never_due, 0);
    let held_outside = &detail.held_outside;
    assert_eq!(*at, secs(5));
    // `pending()` drops its waker: nothing holds it, outside the loop or in.
    assert_eq!(*held_outside, []);
    assert_eq!(err.at(), secs(5));
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id.as_u64(), 1);
    assert_eq!(pending[0].name.as_deref(), Some("sleeper"));
    assert_eq!(pending[0].spawned_at.file(), file!());
    assert_eq!(pending[0].spawned_at.line(), line_sleeper);
    let site = format!(
        "{}:{}:{}",
        file!(),
        line_sleeper,
        pending[0].spawned_at.column()
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the loop stalled at 5s: {STALL}; 1 task still pending: \
             task #1 'sleeper' (spawned at {site})"
        )
    );

    // `run` (until quiescent) on the same state is not a stall.
    assert_eq!(lp.run(), Ok(()));
    assert_eq!(lp.time(), secs(5));
}

#[test]
fn stalled_loop_with_no_tasks() {
    let mut lp = EventLoop::new();
    let err = lp.run_forever().unwrap_err();
    assert_eq!(
        err,
        LoopError::Stalled {
            at: Instant::ZERO,
            pending: vec![],
            detail: Box::new(StallDetail {
                never_due: 0,
                held_outside: vec![],
                awaits_other_loop: vec![],
            }),
        }
    );
    assert_eq!(
        err.to_string(),
        format!("the loop stalled at 0s: {STALL}; no spawned task is pending")
    );

    // Neither a cancelled timer nor a timer at Instant::MAX keeps a run alive or moves the
    // clock.
    let mut lp = EventLoop::new();
    lp.advance(Duration::from_millis(1500)).unwrap();
    let cancelled = lp.call_later(Duration::from_secs(5), || unreachable!());
    assert!(cancelled.cancel());
    let never = lp.call_at(Instant::MAX, || unreachable!());
    assert_eq!(never.when(), Instant::MAX);
    let err = lp.run_until_complete(pending::<u8>()).unwrap_err();
    assert_eq!(
        err,
        LoopError::Stalled {
            at: millis(1500),
            pending: vec![],
            detail: Box::new(StallDetail {
                never_due: 1,
                held_outside: vec![],
                awaits_other_loop: vec![],
            }),
        }
    );
    assert_eq!(err.at(), millis(1500));
    assert_eq!(
        err.to_string(),
        "the loop stalled at 1.5s: nothing is ready, no timer can fire: the pending deadlines \
         are at Instant::MAX (1 timer), and the run cannot end (a real event loop would hang \
         here forever); no spawned task is pending"
    );
    assert_eq!(lp.time(), millis(1500));
}

// ---------------------------------------------------------------------------------------
// StoppedBeforeComplete
// ---------------------------------------------------------------------------------------

#[test]
fn stopped_before_complete_then_resumed() {
    let mut lp = EventLoop::new();
    lp.call_later(Duration::from_secs(1), simloop::stop);
    let mut job = lp.spawn(async {
        sleep(Duration::from_secs(2)).await;
        7
    });

    let err = lp.run_until_complete(&mut job).unwrap_err();
    assert_eq!(err, LoopError::StoppedBeforeComplete { at: secs(1) });
    assert_eq!(err.at(), secs(1));
    assert_eq!(
        err.to_string(),
        "the loop was stopped at 1s before the main future completed; run it again to resume \
         (pass `&mut join_handle` to keep waiting for a task)"
    );
    assert_eq!(lp.time(), secs(1));
    assert!(!job.is_finished());

    assert_eq!(lp.run_until_complete(&mut job), Ok(Ok(7)));
    assert_eq!(lp.time(), secs(2));
}

#[test]
fn stop_before_the_run_call_allows_one_iteration_only() {
    let mut lp = EventLoop::new();
    lp.call_later(Duration::from_secs(1), || {
        unreachable!("the clock must not move")
    });
    let polls = Rc::new(Cell::new(0));
    let p = polls.clone();
    let iterations_before = lp.stats().iterations;
    lp.stop();
    let err = lp
        .run_until_complete(async move {
            p.set(p.get() + 1);
            yield_now().await;
            p.set(p.get() + 1);
        })
        .unwrap_err();
    assert_eq!(err, LoopError::StoppedBeforeComplete { at: Instant::ZERO });
    assert_eq!(
        err.to_string(),
        "the loop was stopped at 0s before the main future completed; run it again to resume \
         (pass `&mut join_handle` to keep waiting for a task)"
    );
    assert_eq!(polls.get(), 1);
    assert_eq!(lp.stats().iterations - iterations_before, 1);
    assert_eq!(lp.time(), Instant::ZERO);
}

#[test]
fn stop_called_by_the_main_future_itself() {
    let mut lp = EventLoop::new();
    let err = lp
        .run_until_complete(async {
            sleep(Duration::from_millis(250)).await;
            simloop::stop();
            sleep(Duration::from_secs(1)).await;
            "never"
        })
        .unwrap_err();
    assert_eq!(err, LoopError::StoppedBeforeComplete { at: millis(250) });
    assert_eq!(
        err.to_string(),
        "the loop was stopped at 0.25s before the main future completed; run it again to \
         resume (pass `&mut join_handle` to keep waiting for a task)"
    );
}

// ---------------------------------------------------------------------------------------
// Panicked (default PanicPolicy::Fail)
// ---------------------------------------------------------------------------------------

#[test]
fn panicking_callback_fails_the_run_and_leaves_the_rest_of_the_iteration_queued() {
    let log = new_log();
    let mut lp = EventLoop::new();
    let l = log.clone();
    lp.call_later(Duration::from_secs(2), move || {
        push(&l, "a");
        let l2 = l.clone();
        simloop::call_soon(move || push(&l2, "a-soon"));
    });
    let line = line!() + 1;
    let (bad, loc) = later_at(&lp, Duration::from_secs(2), || panic!("callback boom"));
    let l = log.clone();
    lp.call_later(Duration::from_secs(2), move || push(&l, "b"));
    let l = log.clone();
    lp.call_later(Duration::from_secs(3), move || push(&l, "c"));

    let err = lp.run().unwrap_err();

    assert_eq!(loc.file(), file!());
    assert_eq!(loc.line(), line);
    let who = format!("callback #{} (scheduled at {loc})", bad.id());
    assert_eq!(
        err,
        LoopError::Panicked {
            at: secs(2),
            who: who.clone(),
            message: "callback boom".to_string(),
        }
    );
    assert_eq!(err.at(), secs(2));
    assert_eq!(
        err.to_string(),
        format!(
            "callback #{} (scheduled at {}:{}:{}) panicked at 2s: callback boom",
            bad.id(),
            file!(),
            line,
            loc.column()
        )
    );
    assert_eq!(snapshot(&log), ["a @2s"]);
    assert_eq!(lp.time(), secs(2));

    // The next run call picks up where the panic left off: the rest of the 2s iteration,
    // then what it scheduled, then the later timer.
    assert_eq!(lp.run(), Ok(()));
    assert_eq!(snapshot(&log), ["a @2s", "b @2s", "a-soon @2s", "c @3s"]);
}

#[test]
fn panicking_call_soon_callback_is_named_with_its_scheduling_site() {
    let mut lp = EventLoop::new();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    lp.call_soon(move || r.set(true));
    let line = line!() + 1;
    let (h, loc) = soon_at(&lp, || panic!("{} + {} is not {}", 2, 2, 5));
    let err = lp.run_once().unwrap_err();
    assert!(ran.get());
    assert_eq!(loc.file(), file!());
    assert_eq!(loc.line(), line);
    assert_eq!(h.id(), 2);
    assert_eq!(
        err,
        LoopError::Panicked {
            at: Instant::ZERO,
            who: format!("callback #2 (scheduled at {loc})"),
            message: "2 + 2 is not 5".to_string(),
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "callback #2 (scheduled at {}:{line}:{}) panicked at 0s: 2 + 2 is not 5",
            file!(),
            loc.column()
        )
    );
    // It ran (and panicked): it cannot be cancelled any more.
    assert!(!h.cancel());
}

#[test]
fn panicking_task_fails_the_run_and_its_join_handle_yields_the_panic() {
    let log = new_log();
    let mut lp = EventLoop::new();
    let l = log.clone();
    lp.call_later(Duration::from_secs(1), move || push(&l, "timer"));
    let mut bad: JoinHandle<u32> = lp.spawn_named("bad", async {
        sleep(Duration::from_secs(1)).await;
        panic!("task {}", "boom")
    });
    let l = log.clone();
    let good = lp.spawn_named("good", async move {
        sleep(Duration::from_secs(1)).await;
        push(&l, "good");
    });
    let infos = lp.pending_tasks();
    assert_eq!(infos.len(), 2);
    assert_eq!(infos[0].id, bad.id());

    let err = lp.run().unwrap_err();

    let who = task_who(&infos[0]);
    assert_eq!(
        err,
        LoopError::Panicked {
            at: secs(1),
            who: who.clone(),
            message: "task boom".to_string(),
        }
    );
    assert_eq!(err.at(), secs(1));
    assert_eq!(
        err.to_string(),
        format!(
            "task #1 'bad' (spawned at {}) panicked at 1s: task boom",
            spawned_at(&infos[0])
        )
    );
    // `good` was woken in the same iteration as `bad`; its step stays queued.
    assert_eq!(snapshot(&log), ["timer @1s"]);
    let left: Vec<_> = lp.pending_tasks().into_iter().map(|t| t.id).collect();
    assert_eq!(left, vec![good.id()]);
    assert!(bad.is_finished());
    assert_eq!(
        (&mut bad).now_or_never(),
        Some(Err(JoinError::Panicked("task boom".to_string())))
    );

    assert_eq!(lp.run(), Ok(()));
    assert_eq!(snapshot(&log), ["timer @1s", "good @1s"]);
    assert!(good.is_finished());
}

#[test]
fn panicking_main_future_fails_the_run_and_leaves_the_rest_of_the_iteration_queued() {
    let log = new_log();
    let mut lp = EventLoop::new();
    let l = log.clone();
    let err = lp
        .run_until_complete(async move {
            // The task registers its 2s timer after the main future's: both wake in the same
            // iteration, the main future first.
            simloop::spawn(async move {
                sleep(Duration::from_secs(2)).await;
                push(&l, "task");
            });
            sleep(Duration::from_secs(2)).await;
            panic!("main boom");
        })
        .unwrap_err();
    assert_eq!(
        err,
        LoopError::Panicked {
            at: secs(2),
            who: "the main future".to_string(),
            message: "main boom".to_string(),
        }
    );
    assert_eq!(err.at(), secs(2));
    assert_eq!(err.to_string(), "the main future panicked at 2s: main boom");
    assert_eq!(snapshot(&log), Vec::<String>::new());
    assert_eq!(lp.pending_tasks().len(), 1);

    assert_eq!(lp.run(), Ok(()));
    assert_eq!(snapshot(&log), ["task @2s"]);
    assert_eq!(lp.time(), secs(2));
}

// ---------------------------------------------------------------------------------------
// StepLimit, TimeLimit
// ---------------------------------------------------------------------------------------

fn reschedule_soon(count: Rc<Cell<u32>>) {
    count.set(count.get() + 1);
    simloop::call_soon(move || reschedule_soon(count));
}

/// Where `reschedule_soon` schedules itself.
const RESCHEDULE_SOON: u32 = line!() - 4;

#[test]
fn self_rescheduling_call_soon_hits_the_step_limit() {
    let count = Rc::new(Cell::new(0));
    let mut lp = EventLoop::builder().step_limit(5).build();
    let c = count.clone();
    lp.call_soon(move || reschedule_soon(c));

    let err = lp.run().unwrap_err();

    // The first callback was scheduled here; the other four by `reschedule_soon`.
    let site = format!("{}:{RESCHEDULE_SOON}:5", file!());
    assert_eq!(
        err,
        LoopError::StepLimit {
            at: Instant::ZERO,
            limit: 5,
            culprit: Some(format!("the callback scheduled at {site}")),
        }
    );
    assert_eq!(err.at(), Instant::ZERO);
    assert_eq!(count.get(), 5);
    assert_eq!(lp.stats().callbacks_run, 5);
    assert_eq!(
        err.to_string(),
        format!(
            "the loop ran its step limit of 5 callbacks and task steps at 0s: the callback \
             scheduled at {site} keeps rescheduling itself (raise Builder::step_limit if this \
             is expected)"
        )
    );

    // The limit is for the loop's lifetime: the next run call runs nothing more.
    assert_eq!(lp.run(), Err(err));
    assert_eq!(count.get(), 5);
}

#[test]
fn step_limit_counts_callbacks_and_task_steps_together() {
    let polls = Rc::new(Cell::new(0));
    let mut lp = EventLoop::builder().step_limit(4).build();
    let p = polls.clone();
    let spawn_line = line!() + 2;
    lp.call_later(Duration::from_secs(1), move || {
        simloop::spawn(async move {
            loop {
                p.set(p.get() + 1);
                yield_now().await;
            }
        });
    });
    let err = lp.run().unwrap_err();
    // One timer callback, then three polls of the spinning task: the task is named.
    let spinner = lp.pending_tasks()[0].to_string();
    assert_eq!(
        spinner,
        format!("task #1 (spawned at {}:{}:9)", file!(), spawn_line)
    );
    assert_eq!(
        err,
        LoopError::StepLimit {
            at: secs(1),
            limit: 4,
            culprit: Some(spinner.clone()),
        }
    );
    assert_eq!(polls.get(), 3);
    assert_eq!(
        err.to_string(),
        format!(
            "the loop ran its step limit of 4 callbacks and task steps at 1s: {spinner} keeps \
             rescheduling itself (raise Builder::step_limit if this is expected)"
        )
    );
}

fn reschedule_later(count: Rc<Cell<u32>>, log: Log) {
    count.set(count.get() + 1);
    push(&log, "tick");
    simloop::call_later(Duration::from_secs(1), move || reschedule_later(count, log));
}

/// Where `reschedule_later` schedules itself.
const RESCHEDULE_LATER: u32 = line!() - 4;

#[test]
fn self_rescheduling_call_later_hits_the_time_limit_at_the_last_allowed_instant() {
    let count = Rc::new(Cell::new(0));
    let log = new_log();
    let mut lp = EventLoop::builder()
        .time_limit(Duration::from_secs(10))
        .build();
    let (c, l) = (count.clone(), log.clone());
    lp.call_later(Duration::from_secs(1), move || reschedule_later(c, l));

    let err = lp.run().unwrap_err();

    // The 11s timer, which would pass the limit, was set by `reschedule_later`.
    let culprit = format!("the callback scheduled at {}:{RESCHEDULE_LATER}:5", file!());
    assert_eq!(
        err,
        LoopError::TimeLimit {
            at: secs(10),
            limit: Duration::from_secs(10),
            culprit: Some(culprit.clone()),
        }
    );
    assert_eq!(err.at(), secs(10));
    assert_eq!(lp.time(), secs(10));
    assert_eq!(count.get(), 10);
    let expected: Vec<String> = (1..=10).map(|s| format!("tick @{s}s")).collect();
    assert_eq!(snapshot(&log), expected);
    assert_eq!(
        err.to_string(),
        format!(
            "the loop reached its time limit of 10s at 10s: {culprit} keeps scheduling timers \
             (raise Builder::time_limit if this is expected)"
        )
    );

    // The 11s timer is still pending: every further run call reports the limit again.
    assert_eq!(lp.run_forever(), Err(err));
    assert_eq!(count.get(), 10);
}

#[test]
fn run_until_past_the_time_limit() {
    let log = new_log();
    let limit = Duration::from_millis(2500);
    let mut lp = EventLoop::builder().time_limit(limit).build();
    let mut sites = Vec::new();
    for s in 1..=3 {
        let l = log.clone();
        let (_, site) = later_at(&lp, Duration::from_secs(s), move || push(&l, "timer"));
        sites.push(site);
    }

    assert_eq!(lp.run_until(secs(2)), Ok(()));
    assert_eq!(lp.time(), secs(2));
    assert_eq!(snapshot(&log), ["timer @1s", "timer @2s"]);

    // Exactly at the limit is allowed.
    assert_eq!(lp.run_until(millis(2500)), Ok(()));
    assert_eq!(lp.time(), millis(2500));

    // Past it: the 3s timer does not run and the clock does not move.
    let err = lp.run_until(secs(5)).unwrap_err();
    let culprit = format!("the callback scheduled at {}", sites[2]);
    assert_eq!(
        err,
        LoopError::TimeLimit {
            at: millis(2500),
            limit,
            culprit: Some(culprit.clone()),
        }
    );
    assert_eq!(err.at(), millis(2500));
    assert_eq!(
        err.to_string(),
        format!(
            "the loop reached its time limit of 2.5s at 2.5s: {culprit} keeps scheduling timers \
             (raise Builder::time_limit if this is expected)"
        )
    );
    assert_eq!(lp.time(), millis(2500));
    assert_eq!(snapshot(&log), ["timer @1s", "timer @2s"]);

    // Also when nothing is due before the target.
    let err = lp.advance(Duration::from_nanos(1)).unwrap_err();
    assert_eq!(
        err,
        LoopError::TimeLimit {
            at: millis(2500),
            limit,
            culprit: None,
        }
    );
    // The run call's own target lies past the limit: nothing to name.
    assert_eq!(
        err.to_string(),
        "the loop reached its time limit of 2.5s at 2.5s: something keeps scheduling timers \
         (raise Builder::time_limit if this is expected)"
    );
    assert_eq!(lp.time(), millis(2500));
}

// ---------------------------------------------------------------------------------------
// NestedRun
// ---------------------------------------------------------------------------------------

#[test]
fn run_call_inside_a_running_loop_is_a_nested_run() {
    let log = new_log();
    let results: Rc<RefCell<Vec<LoopError>>> = Rc::new(RefCell::new(Vec::new()));
    let parked: Rc<RefCell<Option<EventLoop>>> = Rc::new(RefCell::new(None));

    let mut inner = EventLoop::new();
    inner.advance(Duration::from_secs(3)).unwrap();
    let l = log.clone();
    inner.call_soon(move || push(&l, "inner callback"));

    let mut outer = EventLoop::new();
    let (l, r, p) = (log.clone(), results.clone(), parked.clone());
    outer.call_later(Duration::from_secs(7), move || {
        let mut inner = inner;
        let mut r = r.borrow_mut();
        r.push(inner.run().unwrap_err());
        r.push(inner.run_forever().unwrap_err());
        r.push(inner.run_once().unwrap_err());
        r.push(inner.run_until(secs(4)).unwrap_err());
        r.push(inner.advance(Duration::from_secs(1)).unwrap_err());
        r.push(inner.run_until_complete(async { 1 }).unwrap_err());
        // The outer loop is still the current one.
        push(&l, "outer callback");
        *p.borrow_mut() = Some(inner);
    });
    let r = results.clone();
    outer.spawn(async move {
        sleep(Duration::from_secs(8)).await;
        let mut fresh = EventLoop::new();
        let err = fresh
            .run_until_complete(async { sleep(Duration::from_secs(1)).await })
            .unwrap_err();
        r.borrow_mut().push(err);
    });

    assert_eq!(outer.run(), Ok(()));

    let nested_inner = LoopError::NestedRun { at: secs(3) };
    let nested_fresh = LoopError::NestedRun { at: Instant::ZERO };
    assert_eq!(
        *results.borrow(),
        vec![
            nested_inner.clone(),
            nested_inner.clone(),
            nested_inner.clone(),
            nested_inner.clone(),
            nested_inner.clone(),
            nested_inner.clone(),
            nested_fresh,
        ]
    );
    assert_eq!(nested_inner.at(), secs(3));
    assert_eq!(
        nested_inner.to_string(),
        "a run call was made at 3s while a simloop loop is already running on this thread; \
         spawn the work or await it instead of running a loop inside the loop"
    );
    assert_eq!(snapshot(&log), ["outer callback @7s"]);
    assert_eq!(outer.time(), secs(8));

    // The refused calls ran nothing and left the inner loop usable.
    let mut inner = parked.borrow_mut().take().unwrap();
    assert_eq!(inner.time(), secs(3));
    assert_eq!(inner.run(), Ok(()));
    assert_eq!(snapshot(&log), ["outer callback @7s", "inner callback @3s"]);
}

// ---------------------------------------------------------------------------------------
// Closed
// ---------------------------------------------------------------------------------------

#[test]
fn every_run_call_after_close_returns_closed() {
    let mut lp = EventLoop::new();
    lp.advance(Duration::from_secs(4)).unwrap();
    lp.call_later(Duration::from_secs(1), || unreachable!());
    lp.close();
    assert!(lp.is_closed());

    let closed = LoopError::Closed { at: secs(4) };
    assert_eq!(lp.run(), Err(closed.clone()));
    assert_eq!(lp.run_forever(), Err(closed.clone()));
    assert_eq!(lp.run_once(), Err(closed.clone()));
    assert_eq!(lp.run_until(secs(10)), Err(closed.clone()));
    assert_eq!(lp.advance(Duration::from_secs(1)), Err(closed.clone()));
    let polled = Rc::new(Cell::new(false));
    let p = polled.clone();
    assert_eq!(
        lp.run_until_complete(async move {
            p.set(true);
            5
        }),
        Err(closed.clone())
    );
    assert!(!polled.get());
    assert_eq!(lp.time(), secs(4));
    assert_eq!(closed.at(), secs(4));
    assert_eq!(
        closed.to_string(),
        "the loop was closed at 4s and cannot run again"
    );
}

// ---------------------------------------------------------------------------------------
// Errors that say what to do
// ---------------------------------------------------------------------------------------

#[test]
fn a_stall_names_who_waits_for_a_waker_held_outside_the_loop() {
    let mut lp = EventLoop::new();
    // Task #1 waits on a channel whose sender stays out here; task #2 waits for task #1
    // (its waker is in task #1's join slot, inside the loop); the main future waits on a
    // channel too.
    let (_tx1, rx1) = oneshot::channel::<()>();
    let first = lp.spawn_named("reader", rx1);
    let second = lp.spawn(first);
    let (_tx2, rx2) = oneshot::channel::<()>();

    let err = lp.run_until_complete(rx2).unwrap_err();

    let pending = lp.pending_tasks();
    assert_eq!(pending.len(), 2);
    assert_eq!(
        err,
        LoopError::Stalled {
            at: Instant::ZERO,
            pending: pending.clone(),
            detail: Box::new(StallDetail {
                never_due: 0,
                held_outside: vec![Waiter::Task(pending[0].clone()), Waiter::Main],
                awaits_other_loop: vec![],
            }),
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the loop stalled at 0s: {STALL}; 2 tasks still pending: {}, {}; something outside \
             the loop holds the wakers of task #1 'reader' and the main future (a channel or \
             lock, another thread, another loop), and nothing left in this loop will wake them",
            pending[0], pending[1]
        )
    );
    drop(second);
}

#[test]
fn a_stall_whose_timers_are_all_at_instant_max_says_no_timer_can_fire() {
    let mut lp = EventLoop::new();
    // A task's sleep and the main future's sleep, both saturated at Instant::MAX.
    let sleeper = lp.spawn_named("sleeper", sleep(Duration::MAX));
    let err = lp
        .run_until_complete(simloop::sleep_until(Instant::MAX))
        .unwrap_err();
    let pending = lp.pending_tasks();
    assert_eq!(pending[0].id, sleeper.id());
    assert_eq!(
        err,
        LoopError::Stalled {
            at: Instant::ZERO,
            pending: pending.clone(),
            detail: Box::new(StallDetail {
                never_due: 2,
                held_outside: vec![],
                awaits_other_loop: vec![],
            }),
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the loop stalled at 0s: nothing is ready, no timer can fire: the pending deadlines \
             are at Instant::MAX (2 timers), and the run cannot end (a real event loop would \
             hang here forever); 1 task still pending: {}",
            pending[0]
        )
    );
}

#[test]
fn a_join_handle_awaited_on_another_loop_stalls_and_says_so() {
    const OTHER_LOOP: &str = "awaits the JoinHandle of task #1 of another loop, which only \
                              that loop runs: run that loop until the task finishes, or spawn \
                              the task on this one";
    let mut a = EventLoop::new();
    let mut b = EventLoop::new();
    let mut job = a.spawn(async {
        sleep(Duration::from_secs(1)).await;
        7
    });

    // As the main future of the other loop: not a stall with nothing pending, but one that
    // says where the task runs.
    let err = b.run_until_complete(&mut job).unwrap_err();
    assert_eq!(
        err,
        LoopError::Stalled {
            at: Instant::ZERO,
            pending: vec![],
            detail: Box::new(StallDetail {
                never_due: 0,
                held_outside: vec![Waiter::Main],
                awaits_other_loop: vec![(Waiter::Main, job.id())],
            }),
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the loop stalled at 0s: {STALL}; no spawned task is pending; something outside the \
             loop holds the waker of the main future (a channel or lock, another thread, \
             another loop), and nothing left in this loop will wake it; the main future \
             {OTHER_LOOP}"
        )
    );

    // In a task of the other loop.
    let job_id = job.id();
    let waiter = b.spawn_named("waiter", job);
    let err = b.run_forever().unwrap_err();
    let pending = b.pending_tasks();
    assert_eq!(
        err,
        LoopError::Stalled {
            at: Instant::ZERO,
            pending: pending.clone(),
            detail: Box::new(StallDetail {
                never_due: 0,
                held_outside: vec![Waiter::Task(pending[0].clone())],
                awaits_other_loop: vec![(Waiter::Task(pending[0].clone()), job_id)],
            }),
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the loop stalled at 0s: {STALL}; 1 task still pending: {}; something outside the \
             loop holds the waker of task #1 'waiter' (a channel or lock, another thread, \
             another loop), and nothing left in this loop will wake it; task #1 'waiter' \
             {OTHER_LOOP}",
            pending[0]
        )
    );

    // Once the task's own loop has run it, the other loop takes the result.
    a.run().unwrap();
    assert_eq!(a.time(), secs(1));
    assert_eq!(b.run_until_complete(waiter), Ok(Ok(Ok(7))));
    assert_eq!(b.time(), Instant::ZERO);
}

#[test]
fn the_time_limit_names_the_task_that_keeps_sleeping_or_the_blocking_call() {
    let mut lp = EventLoop::builder()
        .time_limit(Duration::from_secs(5))
        .build();
    lp.spawn_named("poller", async {
        loop {
            sleep(Duration::from_secs(2)).await;
        }
    });
    let err = lp.run().unwrap_err();
    let poller = lp.pending_tasks()[0].to_string();
    assert_eq!(
        err,
        LoopError::TimeLimit {
            at: secs(4),
            limit: Duration::from_secs(5),
            culprit: Some(poller.clone()),
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the loop reached its time limit of 5s at 4s: {poller} keeps scheduling timers \
             (raise Builder::time_limit if this is expected)"
        )
    );

    let mut lp = EventLoop::builder()
        .time_limit(Duration::from_secs(5))
        .build();
    let line = line!() + 1;
    lp.call_soon(|| simloop::block_for(Duration::from_secs(6)));
    let err = lp.run().unwrap_err();
    let culprit = format!("block_for(6s) at {}:{line}:21", file!());
    // The error is raised where the block began.
    assert_eq!(
        err,
        LoopError::TimeLimit {
            at: Instant::ZERO,
            limit: Duration::from_secs(5),
            culprit: Some(culprit.clone()),
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the loop reached its time limit of 5s at 0s: {culprit} would move the clock past \
             it (raise Builder::time_limit if this is expected)"
        )
    );
}

#[test]
fn the_step_limit_names_who_took_the_most_of_the_last_steps() {
    // 200 one-shot callbacks from one place, then a task that spins: over the last 128
    // steps, the spinner took the most, although the callbacks took more in all.
    let mut lp = EventLoop::builder().step_limit(300).build();
    for _ in 0..200 {
        lp.call_soon(|| {});
    }
    lp.call_soon(|| {
        simloop::spawn_named("spinner", async {
            loop {
                yield_now().await;
            }
        });
    });
    let err = lp.run().unwrap_err();
    let spinner = lp.pending_tasks()[0].to_string();
    assert!(spinner.starts_with("task #1 'spinner' (spawned at "));
    assert_eq!(
        err,
        LoopError::StepLimit {
            at: Instant::ZERO,
            limit: 300,
            culprit: Some(spinner.clone()),
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the loop ran its step limit of 300 callbacks and task steps at 0s: {spinner} keeps \
             rescheduling itself (raise Builder::step_limit if this is expected)"
        )
    );

    // A limit of 0 refuses the first step: nobody to name.
    let mut lp = EventLoop::builder().step_limit(0).build();
    lp.call_soon(|| {});
    assert_eq!(
        lp.run().unwrap_err().to_string(),
        "the loop ran its step limit of 0 callbacks and task steps at 0s: something keeps \
         rescheduling itself (raise Builder::step_limit if this is expected)"
    );
}

/// What `tokio::time::sleep` does on a thread without a tokio runtime: panics with tokio
/// 1.x's message, verbatim (simloop does not depend on tokio, so the test stands in for it).
async fn tokio_sleep_outside_a_runtime() {
    panic!("there is no reactor running, must be called from the context of a Tokio 1.x runtime");
}

#[test]
fn tokios_no_reactor_panic_gets_a_hint() {
    const TOKIO: &str =
        "there is no reactor running, must be called from the context of a Tokio 1.x runtime";
    const HINT: &str = " (hint: a tokio API that needs tokio's own runtime ran on a simloop \
                        loop. Use simloop's sleep and timeout, or run tokio code through the \
                        simloop-tokio drop-in built with --cfg simloop; there, the one such \
                        method left is tokio's mpsc::Sender::send_timeout: write \
                        tokio::time::timeout(d, tx.send(v)) instead)";
    let mut lp = EventLoop::new();
    let err = lp
        .run_until_complete(async {
            tokio_sleep_outside_a_runtime().await;
        })
        .unwrap_err();
    let LoopError::Panicked { message, .. } = &err else {
        panic!("expected a panic, got {err:?}");
    };
    assert_eq!(message, TOKIO);
    assert_eq!(
        err.to_string(),
        format!("the main future panicked at 0s: {TOKIO}{HINT}")
    );
    // A task's JoinError says the same.
    let mut lp = EventLoop::builder()
        .panic_policy(simloop::PanicPolicy::Report)
        .build();
    let job = lp.spawn(async {
        tokio_sleep_outside_a_runtime().await;
    });
    let err = lp.run_until_complete(job).unwrap().unwrap_err();
    assert_eq!(err, JoinError::Panicked(TOKIO.to_string()));
    assert_eq!(err.to_string(), format!("the task panicked: {TOKIO}{HINT}"));
    // Other panics get no hint.
    assert_eq!(
        JoinError::Panicked("boom".to_string()).to_string(),
        "the task panicked: boom"
    );
}
