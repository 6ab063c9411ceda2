//! The ordering contract (SPEC §3.1 and §3.2), one test per behaviour.
//!
//! Every test records `[instant] label` lines through a shared log and asserts the whole
//! log, so an event that runs early, late, twice, at the wrong instant or not at all fails
//! the test. Where the iteration an event ran in matters, the same labels are recorded as
//! trace marks and asserted with their iteration numbers.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use simloop::{sleep, sleep_until, yield_now, Event, EventLoop, Instant, LoopError};

/// `[instant] label` lines, shared by the callbacks and tasks of one test.
#[derive(Clone, Default)]
struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    /// Records `label` at the running loop's time, in the log and as a trace mark.
    fn say(&self, label: &str) {
        let line = format!("[{}] {label}", simloop::now());
        simloop::mark(line.clone());
        self.0.borrow_mut().push(line);
    }

    /// A callback that records `label`.
    fn cb(&self, label: &'static str) -> impl FnOnce() + 'static {
        let log = self.clone();
        move || log.say(label)
    }

    fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// The trace marks (every `Log::say` of a traced loop) with the iteration each ran in.
fn marks(lp: &EventLoop) -> Vec<(u64, String)> {
    lp.trace()
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::Mark(label) => Some((e.iteration, label.clone())),
            _ => None,
        })
        .collect()
}

/// The clock jumps of a traced loop, as (from, to).
fn clock_jumps(lp: &EventLoop) -> Vec<(Instant, Instant)> {
    lp.trace()
        .events()
        .iter()
        .filter_map(|e| match e.event {
            Event::ClockJump { from, to } => Some((from, to)),
            _ => None,
        })
        .collect()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn at_ms(n: u64) -> Instant {
    Instant::from_nanos(n * 1_000_000)
}

fn traced() -> EventLoop {
    EventLoop::builder().trace(true).build()
}

#[test]
fn equal_deadlines_fire_in_registration_order_mixing_call_later_and_call_at() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    lp.call_later(ms(1000), log.cb("a: call_later(1s)"));
    lp.call_at(at_ms(1000), log.cb("b: call_at(1s)"));
    lp.call_later(ms(1000), log.cb("c: call_later(1s)"));
    let l = log.clone();
    lp.call_later(ms(500), move || {
        l.say("early: call_later(0.5s), registered fourth");
        // Registered later than a..d, for the same deadline: they fire after them.
        simloop::call_later(ms(500), l.cb("e: call_later(0.5s) at 0.5s"));
        simloop::call_at(at_ms(1000), l.cb("f: call_at(1s) at 0.5s"));
    });
    lp.call_at(at_ms(1000), log.cb("d: call_at(1s)"));
    lp.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            "[0.5s] early: call_later(0.5s), registered fourth",
            "[1s] a: call_later(1s)",
            "[1s] b: call_at(1s)",
            "[1s] c: call_later(1s)",
            "[1s] d: call_at(1s)",
            "[1s] e: call_later(0.5s) at 0.5s",
            "[1s] f: call_at(1s) at 0.5s",
        ]
    );
    assert_eq!(lp.time(), at_ms(1000));
}

#[test]
fn equal_deadline_sleeps_in_several_tasks_resume_in_timer_registration_order() {
    // A is spawned first but registers its sleep last (it yields once first), so it resumes
    // last: the order is that of the timers, not of the tasks.
    let log = Log::default();
    let mut lp = EventLoop::new();
    let l = log.clone();
    lp.spawn(async move {
        l.say("A starts, yields");
        yield_now().await;
        l.say("A sleeps 1s");
        sleep(ms(1000)).await;
        l.say("A resumes");
    });
    let l = log.clone();
    lp.spawn(async move {
        l.say("B sleeps 1s");
        sleep(ms(1000)).await;
        l.say("B resumes");
    });
    let l = log.clone();
    lp.spawn(async move {
        l.say("C sleeps until 1s");
        sleep_until(at_ms(1000)).await;
        l.say("C resumes");
    });
    lp.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            "[0s] A starts, yields",
            "[0s] B sleeps 1s",
            "[0s] C sleeps until 1s",
            "[0s] A sleeps 1s",
            "[1s] B resumes",
            "[1s] C resumes",
            "[1s] A resumes",
        ]
    );
}

#[test]
fn call_soon_is_fifo() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let order = Rc::new(RefCell::new(Vec::new()));
    // Through the loop, a Handle and the free function: one queue.
    let h = lp.handle();
    for i in 0..12 {
        let o = order.clone();
        let f = move || o.borrow_mut().push(i);
        let _handle = match i % 3 {
            0 => lp.call_soon(f),
            1 => h.call_soon(f),
            _ => lp.enter(|| simloop::call_soon(f)),
        };
    }
    let l = log.clone();
    lp.call_soon(move || {
        l.say("X schedules 1, 2, 3");
        simloop::call_soon(l.cb("1"));
        simloop::call_soon(l.cb("2"));
        simloop::call_soon(l.cb("3"));
    });
    lp.run().unwrap();
    assert_eq!(*order.borrow(), (0..12).collect::<Vec<_>>());
    assert_eq!(
        log.lines(),
        ["[0s] X schedules 1, 2, 3", "[0s] 1", "[0s] 2", "[0s] 3"]
    );
}

#[test]
fn what_a_batch_schedules_runs_in_the_next_batch_after_everything_queued_before() {
    let log = Log::default();
    let mut lp = traced();
    let l = log.clone();
    lp.call_soon(move || {
        l.say("A");
        let l2 = l.clone();
        simloop::call_soon(move || {
            l2.say("A2, scheduled by A");
            simloop::call_soon(l2.cb("A3, scheduled by A2"));
        });
    });
    let l = log.clone();
    lp.call_soon(move || {
        l.say("B");
        simloop::call_soon(l.cb("B2, scheduled by B"));
    });
    lp.call_soon(log.cb("C"));

    lp.run_once().unwrap();
    assert_eq!(log.lines(), ["[0s] A", "[0s] B", "[0s] C"]);
    assert_eq!(lp.stats().iterations, 1);

    lp.run_once().unwrap();
    assert_eq!(
        log.lines(),
        [
            "[0s] A",
            "[0s] B",
            "[0s] C",
            "[0s] A2, scheduled by A",
            "[0s] B2, scheduled by B",
        ]
    );
    assert_eq!(lp.stats().iterations, 2);

    lp.run().unwrap();
    assert_eq!(lp.stats().iterations, 3);
    assert_eq!(
        marks(&lp),
        [
            (1, "[0s] A".to_string()),
            (1, "[0s] B".to_string()),
            (1, "[0s] C".to_string()),
            (2, "[0s] A2, scheduled by A".to_string()),
            (2, "[0s] B2, scheduled by B".to_string()),
            (3, "[0s] A3, scheduled by A2".to_string()),
        ]
    );
}

#[test]
fn zero_and_past_deadlines_set_in_a_callback_run_in_the_next_iteration_after_queued_callbacks() {
    let log = Log::default();
    let mut lp = traced();
    lp.advance(ms(1000)).unwrap();
    assert_eq!(lp.time(), at_ms(1000));
    let l = log.clone();
    lp.call_soon(move || {
        l.say("A sets a zero timer, a past timer, then a call_soon");
        let zero = simloop::call_later(Duration::ZERO, l.cb("call_later(0)"));
        let past = simloop::call_at(at_ms(500), l.cb("call_at(0.5s), in the past"));
        assert_eq!((zero.when(), past.when()), (at_ms(1000), at_ms(500)));
        simloop::call_soon(l.cb("call_soon, set after the timers"));
    });
    lp.call_soon(log.cb("B, queued before A ran"));

    lp.run_once().unwrap();
    assert_eq!(
        log.lines(),
        [
            "[1s] A sets a zero timer, a past timer, then a call_soon",
            "[1s] B, queued before A ran",
        ]
    );
    lp.run_once().unwrap();
    // The timers go to the back of the queue, in (deadline, registration) order.
    let all = [
        "[1s] A sets a zero timer, a past timer, then a call_soon",
        "[1s] B, queued before A ran",
        "[1s] call_soon, set after the timers",
        "[1s] call_at(0.5s), in the past",
        "[1s] call_later(0)",
    ];
    assert_eq!(log.lines(), all);
    assert_eq!(lp.time(), at_ms(1000));
    lp.run().unwrap();
    assert_eq!(log.lines(), all);
    let its: Vec<u64> = marks(&lp).into_iter().map(|(it, _)| it).collect();
    assert_eq!(its, [1, 1, 2, 2, 2]);
    assert_eq!(clock_jumps(&lp), []);
}

#[test]
fn zero_delay_timer_set_before_a_run_fires_after_callbacks_queued_before_the_run() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    lp.call_soon(log.cb("soon 1"));
    lp.call_later(Duration::ZERO, log.cb("call_later(0)"));
    lp.call_at(Instant::ZERO, log.cb("call_at(0)"));
    lp.call_soon(log.cb("soon 2, queued after the timers"));
    lp.run_once().unwrap();
    assert_eq!(
        log.lines(),
        [
            "[0s] soon 1",
            "[0s] soon 2, queued after the timers",
            "[0s] call_later(0)",
            "[0s] call_at(0)",
        ]
    );
    assert_eq!(lp.stats().iterations, 1);
}

#[test]
fn cancelled_timers_never_run_and_never_move_the_clock() {
    let log = Log::default();
    let mut lp = traced();
    let early = lp.call_later(ms(500), log.cb("cancelled before the run (0.5s)"));
    let late = lp.call_later(ms(2000), log.cb("cancelled by the live timer (2s)"));
    let l = log.clone();
    let live = lp.call_later(ms(1000), move || {
        l.say("live timer cancels the 2s one");
        assert!(late.cancel());
        assert!(late.is_cancelled());
        assert!(!late.cancel(), "cancelling twice reports false");
    });
    let later = lp.call_at(at_ms(3000), log.cb("cancelled before the run (3s)"));
    let l = log.clone();
    lp.spawn(async move {
        // A sleep polled once, then dropped: its timer is cancelled.
        let mut s = sleep(ms(5000));
        assert!(futures::poll!(&mut s).is_pending());
        drop(s);
        l.say("task dropped a 5s sleep");
    });
    assert!(early.cancel());
    assert!(later.cancel());
    lp.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            "[0s] task dropped a 5s sleep",
            "[1s] live timer cancels the 2s one",
        ]
    );
    assert_eq!(lp.time(), at_ms(1000));
    assert_eq!(clock_jumps(&lp), [(Instant::ZERO, at_ms(1000))]);
    let s = lp.stats();
    assert_eq!(
        (
            s.timers_set,
            s.timers_fired,
            s.timers_cancelled,
            s.clock_jumps
        ),
        (5, 1, 4, 1)
    );
    assert!(!live.cancel(), "a timer that ran cannot be cancelled");
    assert!(!live.is_cancelled());
}

#[test]
fn stop_inside_a_callback_finishes_the_batch_and_leaves_what_it_scheduled_for_the_next_run() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let l = log.clone();
    lp.call_soon(move || {
        l.say("A stops the loop");
        simloop::call_soon(l.cb("A2, scheduled by A"));
        simloop::stop();
    });
    let l = log.clone();
    lp.call_soon(move || {
        l.say("B, after the stop");
        simloop::call_soon(l.cb("B2, scheduled by B"));
    });
    lp.call_later(Duration::ZERO, log.cb("C, a timer due now"));
    lp.call_later(ms(1000), log.cb("T at 1s"));

    lp.run_forever().unwrap();
    let first = [
        "[0s] A stops the loop",
        "[0s] B, after the stop",
        "[0s] C, a timer due now",
    ];
    assert_eq!(log.lines(), first);
    assert_eq!(lp.stats().iterations, 1);
    assert_eq!(lp.time(), Instant::ZERO);

    lp.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            first.as_slice(),
            &[
                "[0s] A2, scheduled by A",
                "[0s] B2, scheduled by B",
                "[1s] T at 1s",
            ],
        ]
        .concat()
    );
}

#[test]
fn stop_before_a_run_gives_one_iteration_that_runs_what_is_ready_and_due_now() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let l = log.clone();
    lp.call_soon(move || {
        l.say("S");
        simloop::call_soon(l.cb("S2, scheduled by S"));
    });
    lp.call_later(Duration::ZERO, log.cb("timer due now"));
    lp.call_later(ms(1000), log.cb("timer at 1s"));
    lp.stop();
    lp.stop(); // twice is harmless
    lp.run_forever().unwrap();
    assert_eq!(log.lines(), ["[0s] S", "[0s] timer due now"]);
    assert_eq!(lp.stats().iterations, 1);
    assert_eq!(lp.time(), Instant::ZERO);

    lp.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            "[0s] S",
            "[0s] timer due now",
            "[0s] S2, scheduled by S",
            "[1s] timer at 1s",
        ]
    );
}

#[test]
fn stop_before_a_run_does_not_move_the_clock_to_a_later_timer() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    lp.call_later(ms(1000), log.cb("timer at 1s"));
    lp.stop();
    lp.run_forever().unwrap();
    assert_eq!(log.lines(), Vec::<String>::new());
    assert_eq!(lp.time(), Instant::ZERO);
    let s = lp.stats();
    assert_eq!((s.iterations, s.clock_jumps, s.timers_fired), (1, 0, 0));

    lp.run().unwrap();
    assert_eq!(log.lines(), ["[1s] timer at 1s"]);
}

#[test]
fn run_until_complete_resumes_a_join_handle_after_stopped_before_complete() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let l = log.clone();
    let mut jh = lp.spawn(async move {
        l.say("job starts");
        sleep(ms(2000)).await;
        l.say("job ends");
        7
    });
    let l = log.clone();
    lp.call_later(ms(1000), move || {
        l.say("stop");
        simloop::stop();
    });

    let err = lp.run_until_complete(&mut jh).unwrap_err();
    assert_eq!(err, LoopError::StoppedBeforeComplete { at: at_ms(1000) });
    assert!(!jh.is_finished());
    assert_eq!(log.lines(), ["[0s] job starts", "[1s] stop"]);

    assert_eq!(lp.run_until_complete(&mut jh).unwrap(), Ok(7));
    assert!(jh.is_finished());
    assert_eq!(
        log.lines(),
        ["[0s] job starts", "[1s] stop", "[2s] job ends"]
    );
    assert_eq!(lp.time(), at_ms(2000));
}

#[test]
fn ten_chained_call_later_100ms_end_at_exactly_one_second() {
    fn step(fired: Rc<RefCell<Vec<Instant>>>, left: u32) {
        fired.borrow_mut().push(simloop::now());
        if left > 0 {
            simloop::call_later(ms(100), move || step(fired, left - 1));
        }
    }
    let fired = Rc::new(RefCell::new(Vec::new()));
    let mut lp = EventLoop::new();
    let f = fired.clone();
    lp.call_later(ms(100), move || step(f, 9));
    lp.run().unwrap();
    let expected: Vec<Instant> = (1..=10)
        .map(|i| Instant::from_nanos(i * 100_000_000))
        .collect();
    assert_eq!(*fired.borrow(), expected);
    assert_eq!(lp.time(), Instant::from_nanos(1_000_000_000));
    assert_eq!(lp.time().to_string(), "1s");
}

#[test]
fn a_task_resumes_from_sleep_one_iteration_after_its_timer_fires_after_that_iterations_callbacks() {
    let log = Log::default();
    let mut lp = traced();
    let l = log.clone();
    lp.spawn(async move {
        l.say("task sleeps 1s");
        sleep(ms(1000)).await;
        l.say("task resumes");
    });
    lp.run_once().unwrap(); // the task's timer is registered first
    let l = log.clone();
    lp.call_later(ms(1000), move || {
        l.say("Y, a timer registered after the sleep's");
        simloop::call_soon(l.cb("Z, scheduled by Y"));
    });
    lp.run().unwrap();
    // At 1s both timers fire in one iteration: the sleep's wakes the task (queued behind
    // that iteration), then Y runs and schedules Z. The task's step comes before Z.
    assert_eq!(
        log.lines(),
        [
            "[0s] task sleeps 1s",
            "[1s] Y, a timer registered after the sleep's",
            "[1s] task resumes",
            "[1s] Z, scheduled by Y",
        ]
    );
    assert_eq!(
        marks(&lp),
        [
            (1, "[0s] task sleeps 1s".to_string()),
            (
                2,
                "[1s] Y, a timer registered after the sleep's".to_string()
            ),
            (3, "[1s] task resumes".to_string()),
            (3, "[1s] Z, scheduled by Y".to_string()),
        ]
    );
}

#[test]
fn spawn_queues_the_first_poll_behind_already_queued_callbacks() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    lp.call_soon(log.cb("A, queued before the spawn"));
    let l = log.clone();
    lp.spawn(async move { l.say("T first poll") });
    lp.call_soon(log.cb("B, queued after the spawn"));
    let l = log.clone();
    lp.call_soon(move || {
        l.say("C spawns U, then schedules D");
        let l2 = l.clone();
        simloop::spawn(async move { l2.say("U first poll") });
        simloop::call_soon(l.cb("D"));
    });
    lp.call_soon(log.cb("E, same batch as C"));
    lp.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            "[0s] A, queued before the spawn",
            "[0s] T first poll",
            "[0s] B, queued after the spawn",
            "[0s] C spawns U, then schedules D",
            "[0s] E, same batch as C",
            "[0s] U first poll",
            "[0s] D",
        ]
    );
}

/// A future that logs each poll and completes once `open` is set.
struct Gate {
    log: Log,
    open: Rc<Cell<bool>>,
    waker: Rc<RefCell<Option<Waker>>>,
}

impl Future for Gate {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.log.say("task polled");
        if self.open.get() {
            return Poll::Ready(());
        }
        *self.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[test]
fn a_task_woken_twice_in_one_iteration_is_polled_once() {
    let log = Log::default();
    let mut lp = traced();
    let open = Rc::new(Cell::new(false));
    let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
    let gate = Gate {
        log: log.clone(),
        open: open.clone(),
        waker: waker.clone(),
    };
    let jh = lp.spawn(gate);
    let (l, w) = (log.clone(), waker.clone());
    lp.call_soon(move || {
        l.say("first wake");
        w.borrow().as_ref().unwrap().wake_by_ref();
    });
    let (l, w) = (log.clone(), waker.clone());
    lp.call_soon(move || {
        l.say("second and third wake");
        w.borrow().as_ref().unwrap().wake_by_ref();
        w.borrow().as_ref().unwrap().wake_by_ref();
    });
    // The gate stays shut in the next iteration, so a second step queued there would show.
    let (l, w) = (log.clone(), waker.clone());
    lp.call_later(ms(1000), move || {
        l.say("gate opens");
        open.set(true);
        w.borrow().as_ref().unwrap().wake_by_ref();
    });
    lp.run().unwrap();
    assert!(jh.is_finished());
    assert_eq!(
        log.lines(),
        [
            "[0s] task polled",
            "[0s] first wake",
            "[0s] second and third wake",
            "[0s] task polled",
            "[1s] gate opens",
            "[1s] task polled",
        ]
    );
    let polls = lp
        .trace()
        .events()
        .iter()
        .filter(|e| {
            e.event
                == Event::TaskPoll {
                    task: Some(jh.id()),
                }
        })
        .count();
    assert_eq!(polls, 3);
    assert_eq!(lp.stats().polls, 3);
}

#[test]
fn run_until_complete_returns_after_the_next_iteration_and_leaves_other_tasks_pending() {
    let log = Log::default();
    let mut lp = traced();
    let l = log.clone();
    lp.spawn(async move {
        l.say("sleeper starts");
        sleep(ms(1000)).await;
        l.say("sleeper ends");
    });
    lp.call_soon(log.cb("queued before the main future"));
    let l = log.clone();
    let out = lp
        .run_until_complete(async move {
            l.say("main runs, spawns child, schedules X, completes");
            let l2 = l.clone();
            simloop::spawn(async move {
                l2.say("child step 1");
                yield_now().await;
                l2.say("child step 2");
            });
            simloop::call_soon(l.cb("X, scheduled by main"));
            5
        })
        .unwrap();
    assert_eq!(out, 5);
    let first = [
        "[0s] sleeper starts",
        "[0s] queued before the main future",
        "[0s] main runs, spawns child, schedules X, completes",
        "[0s] child step 1",
        "[0s] X, scheduled by main",
    ];
    assert_eq!(log.lines(), first);
    let its: Vec<u64> = marks(&lp).into_iter().map(|(it, _)| it).collect();
    assert_eq!(its, [1, 1, 1, 2, 2]);
    assert_eq!(lp.stats().iterations, 2);
    assert_eq!(lp.time(), Instant::ZERO);
    let pending: Vec<u64> = lp.pending_tasks().iter().map(|t| t.id.as_u64()).collect();
    assert_eq!(pending, [1, 2]);

    lp.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            first.as_slice(),
            &["[0s] child step 2", "[1s] sleeper ends"],
        ]
        .concat()
    );
    assert!(lp.pending_tasks().is_empty());
}

#[test]
fn run_until_and_advance_run_everything_due_by_the_target_then_set_the_clock_to_it() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    lp.call_later(ms(1000), log.cb("a at 1s"));
    let l = log.clone();
    lp.call_later(ms(2000), move || {
        l.say("b at 2s sets a zero timer and a call_soon");
        simloop::call_later(Duration::ZERO, l.cb("zero timer from b"));
        simloop::call_soon(l.cb("call_soon from b"));
    });
    lp.call_at(Instant::from_nanos(2_000_000_001), log.cb("c at 2s + 1ns"));
    lp.call_later(ms(3000), log.cb("d at 3s"));
    lp.call_later(ms(4000), log.cb("e at 4s"));
    let l = log.clone();
    lp.spawn(async move {
        sleep_until(at_ms(3500)).await;
        l.say("task wakes at 3.5s");
    });

    lp.run_until(at_ms(2000)).unwrap();
    let mut expected = vec![
        "[1s] a at 1s",
        "[2s] b at 2s sets a zero timer and a call_soon",
        "[2s] call_soon from b",
        "[2s] zero timer from b",
    ];
    assert_eq!(log.lines(), expected);
    assert_eq!(lp.time(), at_ms(2000));

    lp.advance(ms(500)).unwrap();
    expected.push("[2.000000001s] c at 2s + 1ns");
    assert_eq!(log.lines(), expected);
    assert_eq!(lp.time(), at_ms(2500));

    lp.advance(ms(250)).unwrap(); // nothing due: only the clock moves
    assert_eq!(log.lines(), expected);
    assert_eq!(lp.time(), at_ms(2750));

    lp.advance(ms(750)).unwrap(); // to 3.5s: the task's step after its timer still runs
    expected.extend(["[3s] d at 3s", "[3.5s] task wakes at 3.5s"]);
    assert_eq!(log.lines(), expected);
    assert_eq!(lp.time(), at_ms(3500));

    lp.run_until(at_ms(1000)).unwrap(); // the clock never goes backwards
    assert_eq!(log.lines(), expected);
    assert_eq!(lp.time(), at_ms(3500));

    lp.run().unwrap();
    expected.push("[4s] e at 4s");
    assert_eq!(log.lines(), expected);
    assert_eq!(lp.time(), at_ms(4000));
}

#[test]
fn yield_now_lets_other_ready_callbacks_run_first() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let l = log.clone();
    lp.spawn(async move {
        l.say("T before yield");
        yield_now().await;
        l.say("T after yield");
    });
    lp.call_soon(log.cb("A"));
    let l = log.clone();
    lp.call_soon(move || {
        l.say("B schedules C");
        simloop::call_soon(l.cb("C"));
    });
    lp.run().unwrap();
    assert_eq!(
        log.lines(),
        [
            "[0s] T before yield",
            "[0s] A",
            "[0s] B schedules C",
            "[0s] T after yield",
            "[0s] C",
        ]
    );
}

#[test]
fn tasks_that_yield_now_take_turns() {
    let log = Log::default();
    let mut lp = EventLoop::new();
    for name in ["P", "Q"] {
        let l = log.clone();
        lp.spawn(async move {
            for i in 1..=3 {
                l.say(&format!("{name}{i}"));
                yield_now().await;
            }
        });
    }
    lp.run().unwrap();
    assert_eq!(
        log.lines(),
        ["[0s] P1", "[0s] Q1", "[0s] P2", "[0s] Q2", "[0s] P3", "[0s] Q3"]
    );
    assert_eq!(lp.stats().iterations, 4);
}

/// A callback that records `label`, then queues `next` with `call_soon`.
fn hop(log: &Log, label: &'static str, next: impl FnOnce() + 'static) -> impl FnOnce() + 'static {
    let log = log.clone();
    move || {
        log.say(label);
        simloop::call_soon(next);
    }
}

// `run_until_complete(&mut handle)` with a spawned task's handle. In CPython the task's own
// completion queues the stop (its done callback), so the run returns one iteration earlier
// than here: simloop cannot tell a `JoinHandle` from any other future handed to
// `run_until_complete` (stable Rust has no specialization, and `async { handle.await }` must
// keep the contract of a main future), so the handle is a main future like any other, and
// its completion, one iteration after the task's, queues the stop. The two tests below pin
// simloop's order; CPython's, observed, is in each comment.

#[test]
fn run_until_complete_of_a_finished_tasks_handle_stops_one_iteration_after_cpython() {
    let log = Log::default();
    let mut lp = traced();
    let mut job = lp.spawn(async { 7 });
    lp.run().unwrap();
    assert!(job.is_finished());
    let its = lp.stats().iterations;

    lp.call_soon(hop(&log, "hop1", log.cb("hop2")));
    let out = lp.run_until_complete(&mut job).unwrap();
    log.0
        .borrow_mut()
        .push(format!("[{}] ruc -> {}", lp.time(), out.unwrap()));
    lp.run().unwrap();

    // CPython: hop1, ruc -> 7, hop2 (the stop is queued behind hop1 at the call).
    assert_eq!(log.lines(), ["[0s] hop1", "[0s] hop2", "[0s] ruc -> 7"]);
    let marks: Vec<(u64, String)> = marks(&lp)
        .into_iter()
        .map(|(it, label)| (it - its, label))
        .collect();
    assert_eq!(
        marks,
        [(1, "[0s] hop1".to_string()), (2, "[0s] hop2".to_string())]
    );
    // The run call took two iterations: hop1 and the main future's poll, then hop2 and the
    // stop.
    assert_eq!(lp.stats().iterations - its, 2);
}

#[test]
fn run_until_complete_of_a_tasks_handle_stops_one_iteration_after_cpython() {
    let log = Log::default();
    let mut lp = traced();
    let l = log.clone();
    let mut job = lp.spawn(async move {
        l.say("job yields");
        yield_now().await;
        l.say("job ends");
        7
    });
    // Queues `kick` in iteration 1, so that it runs right after the job ends, in iteration 2.
    let kick = hop(&log, "kick", hop(&log, "hop1", log.cb("hop2")));
    lp.call_soon(move || {
        simloop::call_soon(kick);
    });

    let out = lp.run_until_complete(&mut job).unwrap();
    log.0
        .borrow_mut()
        .push(format!("[{}] ruc -> {}", lp.time(), out.unwrap()));
    lp.run().unwrap();

    // CPython: job yields, job ends, kick, hop1, ruc -> 7, hop2 (the job's completion in
    // iteration 2 queues the stop ahead of hop1).
    assert_eq!(
        log.lines(),
        [
            "[0s] job yields",
            "[0s] job ends",
            "[0s] kick",
            "[0s] hop1",
            "[0s] hop2",
            "[0s] ruc -> 7",
        ]
    );
    assert_eq!(
        marks(&lp),
        [
            (1, "[0s] job yields".to_string()),
            (2, "[0s] job ends".to_string()),
            (2, "[0s] kick".to_string()),
            (3, "[0s] hop1".to_string()),
            (4, "[0s] hop2".to_string()),
        ]
    );
    // Iteration 3 polls the main future (the handle, ready), which queues the stop; it runs
    // in iteration 4, after hop2.
    assert_eq!(lp.stats().iterations, 4);
}
