//! `PanicPolicy::Fail` (the default) against `PanicPolicy::Report`: where a panic goes, what
//! keeps running, and what a `JoinHandle` yields.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures::task::SpawnExt;
use futures::FutureExt;
use simloop::{
    now, sleep, Event, EventLoop, Instant, JoinError, JoinHandle, LoopError, PanicPolicy,
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

/// A loop with `policy` whose exception handler writes `handler @now: {err}` into `log` and
/// keeps the error itself in `errors`.
fn loop_with_handler(
    policy: PanicPolicy,
    log: &Log,
    errors: &Rc<RefCell<Vec<LoopError>>>,
) -> EventLoop {
    let (l, e) = (log.clone(), errors.clone());
    EventLoop::builder()
        .panic_policy(policy)
        .exception_handler(move |err| {
            l.borrow_mut().push(format!("handler @{}: {err}", now()));
            e.borrow_mut().push(err.clone());
        })
        .build()
}

fn errors_log() -> Rc<RefCell<Vec<LoopError>>> {
    Rc::new(RefCell::new(Vec::new()))
}

#[test]
fn fail_is_the_default_policy() {
    assert_eq!(PanicPolicy::default(), PanicPolicy::Fail);
    let log = new_log();
    let mut lp = EventLoop::new();
    let l = log.clone();
    lp.call_soon(move || push(&l, "a"));
    let (h, loc) = soon_at(&lp, || panic!("boom"));
    let l = log.clone();
    lp.call_soon(move || push(&l, "b"));
    let err = lp.run().unwrap_err();
    assert_eq!(
        err,
        LoopError::Panicked {
            at: Instant::ZERO,
            who: format!("callback #{} (scheduled at {loc})", h.id()),
            message: "boom".to_string(),
        }
    );
    assert_eq!(snapshot(&log), ["a @0s"]);
}

#[test]
fn fail_does_not_call_the_exception_handler() {
    let log = new_log();
    let errors = errors_log();
    let mut lp = loop_with_handler(PanicPolicy::Fail, &log, &errors);
    let l = log.clone();
    lp.call_soon(move || push(&l, "a"));
    let (h, loc) = soon_at(&lp, || panic!("boom"));
    let l = log.clone();
    lp.call_soon(move || push(&l, "b"));

    let err = lp.run().unwrap_err();
    let expected = LoopError::Panicked {
        at: Instant::ZERO,
        who: format!("callback #{} (scheduled at {loc})", h.id()),
        message: "boom".to_string(),
    };
    assert_eq!(err, expected);
    assert_eq!(snapshot(&log), ["a @0s"]);
    assert!(errors.borrow().is_empty());

    // The rest of the iteration runs on the next call.
    assert_eq!(lp.run(), Ok(()));
    assert_eq!(snapshot(&log), ["a @0s", "b @0s"]);
    assert!(errors.borrow().is_empty());
}

#[test]
fn report_sends_callback_panics_to_the_handler_and_the_iteration_goes_on() {
    let log = new_log();
    let errors = errors_log();
    let mut lp = loop_with_handler(PanicPolicy::Report, &log, &errors);
    let l = log.clone();
    lp.call_soon(move || push(&l, "a"));
    let (first, loc1) = soon_at(&lp, || panic!("first"));
    let l = log.clone();
    lp.call_soon(move || {
        push(&l, "b");
        let l2 = l.clone();
        simloop::call_soon(move || push(&l2, "b-soon"));
    });
    let l = log.clone();
    lp.call_later(Duration::from_secs(1), move || push(&l, "t1"));
    let (second, loc2) = later_at(&lp, Duration::from_secs(1), || panic!("second {}", 2));
    let l = log.clone();
    lp.call_later(Duration::from_secs(1), move || push(&l, "t2"));

    assert_eq!(lp.run(), Ok(()));

    let who1 = format!("callback #{} (scheduled at {loc1})", first.id());
    let who2 = format!("callback #{} (scheduled at {loc2})", second.id());
    assert_eq!(loc1.file(), file!());
    assert_eq!(loc2.file(), file!());
    assert_eq!(
        snapshot(&log),
        [
            "a @0s".to_string(),
            format!("handler @0s: {who1} panicked at 0s: first"),
            "b @0s".to_string(),
            "b-soon @0s".to_string(),
            "t1 @1s".to_string(),
            format!("handler @1s: {who2} panicked at 1s: second 2"),
            "t2 @1s".to_string(),
        ]
    );
    assert_eq!(
        *errors.borrow(),
        vec![
            LoopError::Panicked {
                at: Instant::ZERO,
                who: who1,
                message: "first".to_string(),
            },
            LoopError::Panicked {
                at: secs(1),
                who: who2,
                message: "second 2".to_string(),
            },
        ]
    );
    assert_eq!(lp.time(), secs(1));
}

#[test]
fn report_lets_run_until_complete_finish_despite_callback_panics() {
    let log = new_log();
    let errors = errors_log();
    let mut lp = loop_with_handler(PanicPolicy::Report, &log, &errors);
    let l = log.clone();
    let out = lp.run_until_complete(async move {
        simloop::call_soon(|| panic!("in a callback"));
        sleep(Duration::from_secs(1)).await;
        push(&l, "main done");
        5
    });
    assert_eq!(out, Ok(5));
    assert_eq!(errors.borrow().len(), 1);
    let who = match &errors.borrow()[0] {
        LoopError::Panicked { who, .. } => who.clone(),
        other => panic!("expected Panicked, got {other:?}"),
    };
    assert_eq!(
        snapshot(&log),
        [
            format!("handler @0s: {who} panicked at 0s: in a callback"),
            "main done @1s".to_string(),
        ]
    );
}

#[test]
fn report_keeps_a_task_panic_for_its_join_handle() {
    let log = new_log();
    let errors = errors_log();
    let mut lp = loop_with_handler(PanicPolicy::Report, &log, &errors);
    let bad: JoinHandle<u32> = lp.spawn_named("bad", async {
        sleep(Duration::from_secs(1)).await;
        panic!("oops")
    });
    let l = log.clone();
    lp.spawn_named("good", async move {
        sleep(Duration::from_secs(1)).await;
        push(&l, "good");
    });
    let l = log.clone();
    let watcher = lp.spawn(async move {
        let out = bad.await;
        push(&l, &format!("watcher got {out:?}"));
        out
    });

    assert_eq!(lp.run(), Ok(()));

    // `bad` panicked in the same iteration as `good` ran; the watcher ran one iteration later.
    assert_eq!(
        snapshot(&log),
        ["good @1s", "watcher got Err(Panicked(\"oops\")) @1s"]
    );
    assert!(errors.borrow().is_empty());
    assert!(lp.pending_tasks().is_empty());
    assert_eq!(
        watcher.now_or_never(),
        Some(Ok(Err(JoinError::Panicked("oops".to_string()))))
    );
}

#[test]
fn report_join_handle_polled_after_the_run() {
    let log = new_log();
    let errors = errors_log();
    let mut lp = loop_with_handler(PanicPolicy::Report, &log, &errors);
    let mut bad: JoinHandle<()> = lp.spawn(async {
        sleep(Duration::from_secs(1)).await;
        std::panic::panic_any(42_u8)
    });
    assert_eq!(lp.run(), Ok(()));
    assert!(errors.borrow().is_empty());
    assert!(bad.is_finished());
    assert!(!bad.cancel());
    let err = (&mut bad).now_or_never().unwrap().unwrap_err();
    assert_eq!(
        err,
        JoinError::Panicked("(a panic payload that is not a string)".to_string())
    );
    assert!(err.is_panic());
    assert!(!err.is_cancelled());
    assert_eq!(
        err.to_string(),
        "the task panicked: (a panic payload that is not a string)"
    );
}

#[test]
fn report_sends_a_detached_task_panic_to_the_handler() {
    let log = new_log();
    let errors = errors_log();
    let mut lp = loop_with_handler(PanicPolicy::Report, &log, &errors);
    let l = log.clone();
    lp.call_later(Duration::from_secs(2), move || push(&l, "timer before"));
    drop(lp.spawn_named("lost", async {
        sleep(Duration::from_secs(2)).await;
        panic!("nobody listens")
    }));
    let kept: JoinHandle<()> = lp.spawn_named("kept", async {
        sleep(Duration::from_secs(2)).await;
        panic!("somebody listens")
    });
    let l = log.clone();
    drop(lp.spawn(async move {
        sleep(Duration::from_secs(2)).await;
        push(&l, "task after");
        panic!("unnamed")
    }));
    let infos = lp.pending_tasks();
    assert_eq!(infos.len(), 3);
    assert_eq!(infos[0].name.as_deref(), Some("lost"));
    assert_eq!(infos[2].name, None);

    assert_eq!(lp.run(), Ok(()));

    let lost = task_who(&infos[0]);
    let unnamed = task_who(&infos[2]);
    assert_eq!(
        snapshot(&log),
        [
            "timer before @2s".to_string(),
            format!("handler @2s: {lost} panicked at 2s: nobody listens"),
            "task after @2s".to_string(),
            format!("handler @2s: {unnamed} panicked at 2s: unnamed"),
        ]
    );
    assert_eq!(
        *errors.borrow(),
        vec![
            LoopError::Panicked {
                at: secs(2),
                who: lost,
                message: "nobody listens".to_string(),
            },
            LoopError::Panicked {
                at: secs(2),
                who: unnamed,
                message: "unnamed".to_string(),
            },
        ]
    );
    assert_eq!(
        kept.now_or_never(),
        Some(Err(JoinError::Panicked("somebody listens".to_string())))
    );
}

#[test]
fn report_treats_futures_spawn_ext_tasks_as_detached() {
    let log = new_log();
    let errors = errors_log();
    let mut lp = loop_with_handler(PanicPolicy::Report, &log, &errors);
    SpawnExt::spawn(&lp.handle(), async { panic!("spawned through SpawnExt") }).unwrap();
    let infos = lp.pending_tasks();
    assert_eq!(infos.len(), 1);
    assert_eq!(lp.run(), Ok(()));
    assert_eq!(
        *errors.borrow(),
        vec![LoopError::Panicked {
            at: Instant::ZERO,
            who: task_who(&infos[0]),
            message: "spawned through SpawnExt".to_string(),
        }]
    );
    assert_eq!(
        snapshot(&log),
        [format!(
            "handler @0s: {} panicked at 0s: spawned through SpawnExt",
            task_who(&infos[0])
        )]
    );
}

#[test]
fn report_default_handler_records_the_panic_in_the_trace() {
    let mut lp = EventLoop::builder()
        .panic_policy(PanicPolicy::Report)
        .trace(true)
        .build();
    let (h, loc) = soon_at(&lp, || panic!("traced"));
    lp.call_soon(|| simloop::mark("after"));
    assert_eq!(lp.run(), Ok(()));
    let events: Vec<Event> = lp
        .trace()
        .events()
        .iter()
        .filter(|e| matches!(e.event, Event::Panic { .. } | Event::Mark(_)))
        .map(|e| e.event.clone())
        .collect();
    assert_eq!(
        events,
        vec![
            Event::Panic {
                who: format!("callback #{} (scheduled at {loc})", h.id()),
                message: "traced".to_string(),
            },
            Event::Mark("after".to_string()),
        ]
    );
}

#[test]
fn fail_gives_the_panicking_task_join_handle_the_panic_too() {
    let log = new_log();
    let errors = errors_log();
    let mut lp = loop_with_handler(PanicPolicy::Fail, &log, &errors);
    let bad: JoinHandle<String> = lp.spawn_named("bad", async {
        sleep(Duration::from_secs(3)).await;
        panic!("fail {}", "policy")
    });
    let mut direct: JoinHandle<()> = lp.spawn(async {
        sleep(Duration::from_secs(4)).await;
        panic!("second")
    });
    let infos = lp.pending_tasks();
    let l = log.clone();
    lp.spawn(async move {
        let out = bad.await;
        push(&l, &format!("watcher got {out:?}"));
    });

    let err = lp.run().unwrap_err();
    assert_eq!(
        err,
        LoopError::Panicked {
            at: secs(3),
            who: task_who(&infos[0]),
            message: "fail policy".to_string(),
        }
    );
    assert!(snapshot(&log).is_empty());

    // The watcher was woken by the panic; it runs on the next call, which then meets the
    // second panic.
    let err = lp.run().unwrap_err();
    assert_eq!(
        err,
        LoopError::Panicked {
            at: secs(4),
            who: task_who(&infos[1]),
            message: "second".to_string(),
        }
    );
    assert_eq!(
        snapshot(&log),
        ["watcher got Err(Panicked(\"fail policy\")) @3s"]
    );
    assert_eq!(
        (&mut direct).now_or_never(),
        Some(Err(JoinError::Panicked("second".to_string())))
    );
    assert!(errors.borrow().is_empty());
    assert_eq!(lp.run(), Ok(()));
}

#[test]
fn main_future_panic_returns_panicked_under_both_policies() {
    for policy in [PanicPolicy::Fail, PanicPolicy::Report] {
        let log = new_log();
        let errors = errors_log();
        let mut lp = loop_with_handler(policy, &log, &errors);
        let err = lp
            .run_until_complete(async {
                sleep(Duration::from_millis(1500)).await;
                panic!("main {policy:?}");
            })
            .unwrap_err();
        assert_eq!(
            err,
            LoopError::Panicked {
                at: Instant::ZERO + Duration::from_millis(1500),
                who: "the main future".to_string(),
                message: format!("main {policy:?}"),
            },
            "{policy:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("the main future panicked at 1.5s: main {policy:?}")
        );
        assert!(errors.borrow().is_empty(), "{policy:?}");
        assert!(snapshot(&log).is_empty(), "{policy:?}");
    }
}

/// An output whose destructor panics.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("output dropped");
    }
}

#[test]
fn a_panic_in_a_detached_tasks_output_drop_fails_the_run_naming_the_task() {
    let mut lp = EventLoop::new();
    let log = new_log();
    let handle = lp.spawn(async { PanicOnDrop });
    let info = lp.pending_tasks().remove(0);
    drop(handle);
    let l = log.clone();
    lp.call_soon(move || push(&l, "after"));
    // Caught as the task's panic, under the default policy: the run fails and names it.
    let err = lp.run().unwrap_err();
    assert_eq!(
        err,
        LoopError::Panicked {
            at: Instant::ZERO,
            who: task_who(&info),
            message: "output dropped".to_string(),
        }
    );
    assert_eq!(snapshot(&log), Vec::<String>::new());
    assert_eq!(lp.run(), Ok(()));
    assert_eq!(snapshot(&log), ["after @0s"]);
    assert!(lp.pending_tasks().is_empty());
}

#[test]
fn a_panic_in_a_detached_tasks_output_drop_goes_to_the_handler_under_report() {
    let log = new_log();
    let errors = errors_log();
    let mut lp = loop_with_handler(PanicPolicy::Report, &log, &errors);
    drop(lp.spawn_named("leaky", async {
        sleep(Duration::from_secs(1)).await;
        PanicOnDrop
    }));
    let info = lp.pending_tasks().remove(0);
    let l = log.clone();
    lp.call_later(Duration::from_secs(2), move || push(&l, "later"));
    assert_eq!(lp.run(), Ok(()));
    let who = task_who(&info);
    assert_eq!(
        snapshot(&log),
        [
            format!("handler @1s: {who} panicked at 1s: output dropped"),
            "later @2s".to_string()
        ]
    );
    assert_eq!(
        *errors.borrow(),
        [LoopError::Panicked {
            at: secs(1),
            who,
            message: "output dropped".to_string(),
        }]
    );
}
