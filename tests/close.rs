//! `close()` and `Drop` of `EventLoop`: every pending callback, timer and task future is
//! dropped exactly once, in the defined order (ready callbacks in queue order, then timers by
//! (deadline, registration), then tasks by id); afterwards `Handle` operations are inert.

use std::cell::RefCell;
use std::future::pending;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::oneshot;
use futures::task::{LocalSpawn, LocalSpawnExt, Spawn, SpawnExt};
use futures::FutureExt;
use simloop::{now, sleep, EventLoop, Handle, Instant, JoinError, JoinHandle, LoopError};

/// Where destructors write their labels (`Send`, so it also fits `SpawnExt::spawn`).
type Drops = Arc<Mutex<Vec<String>>>;

fn new_drops() -> Drops {
    Arc::new(Mutex::new(Vec::new()))
}

fn dropped(drops: &Drops) -> Vec<String> {
    drops.lock().unwrap().clone()
}

/// Pushes its label into the log when dropped.
struct Noisy {
    label: String,
    drops: Drops,
}

impl Drop for Noisy {
    fn drop(&mut self) {
        self.drops.lock().unwrap().push(self.label.clone());
    }
}

fn noisy(drops: &Drops, label: &str) -> Noisy {
    Noisy {
        label: label.to_string(),
        drops: drops.clone(),
    }
}

/// A callback holding `n` that must never run.
fn unrun(n: Noisy) -> impl FnOnce() + 'static {
    move || {
        let label = n.label.clone();
        drop(n);
        panic!("callback holding {label} ran");
    }
}

fn secs(s: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(s)
}

/// Tasks of a loop filled by `populate`.
struct Fixture {
    sleeping: JoinHandle<()>,
    on_channel: JoinHandle<()>,
    done: JoinHandle<u32>,
    unstarted: JoinHandle<()>,
    _tx: oneshot::Sender<()>,
}

/// Fills `lp` with pending work of every kind. Returns with the clock at 1s and the ready
/// queue holding, in order: a timer promoted at 1s, task #4's first step, two callbacks.
fn populate(lp: &mut EventLoop, drops: &Drops) -> Fixture {
    let n = noisy(drops, "task #1 sleeping");
    let sleeping = lp.spawn(async move {
        let _n = n;
        sleep(Duration::from_secs(10)).await;
    });
    let (tx, rx) = oneshot::channel::<()>();
    let n = noisy(drops, "task #2 on a channel");
    let on_channel = lp.spawn(async move {
        let _n = n;
        let _ = rx.await;
    });
    let done = lp.spawn(async { 99 });
    // A panic interrupts the 1s iteration right after its timers were promoted, leaving the
    // second timer in the ready queue.
    lp.call_later(Duration::from_secs(1), || {
        panic!("interrupts the iteration")
    });
    lp.call_later(
        Duration::from_secs(1),
        unrun(noisy(drops, "timer promoted at 1s")),
    );
    let err = lp.run().unwrap_err();
    assert!(matches!(err, LoopError::Panicked { at, .. } if at == secs(1)));
    assert!(dropped(drops).is_empty());

    let n = noisy(drops, "task #4 unstarted");
    let unstarted = lp.spawn(async move {
        let _n = n;
        pending::<()>().await;
    });
    lp.call_soon(unrun(noisy(drops, "callback 1")));
    let cancelled_cb = lp.call_soon(unrun(noisy(drops, "cancelled callback")));
    lp.call_soon(unrun(noisy(drops, "callback 2")));
    lp.call_at(secs(6), unrun(noisy(drops, "timer 6s")));
    lp.call_at(secs(2), unrun(noisy(drops, "timer 2s first")));
    lp.call_at(Instant::MAX, unrun(noisy(drops, "timer at Instant::MAX")));
    lp.call_at(secs(4), unrun(noisy(drops, "timer 4s")));
    lp.call_at(secs(2), unrun(noisy(drops, "timer 2s second")));
    lp.call_later(Duration::ZERO, unrun(noisy(drops, "timer due now (1s)")));
    lp.call_at(Instant::ZERO, unrun(noisy(drops, "timer in the past (0s)")));
    let cancelled_timer = lp.call_at(secs(3), unrun(noisy(drops, "cancelled timer")));

    // Cancelling drops at once, not at close.
    assert!(cancelled_cb.cancel());
    assert!(cancelled_timer.cancel());
    assert_eq!(dropped(drops), ["cancelled callback", "cancelled timer"]);
    assert_eq!(lp.time(), secs(1));
    let ids: Vec<u64> = lp.pending_tasks().iter().map(|t| t.id.as_u64()).collect();
    assert_eq!(ids, [1, 2, 4]);

    Fixture {
        sleeping,
        on_channel,
        done,
        unstarted,
        _tx: tx,
    }
}

const EXPECTED_DROP_ORDER: [&str; 15] = [
    // dropped by cancel()
    "cancelled callback",
    "cancelled timer",
    // ready callbacks, in queue order (task #4's step in between is a task, not a callback)
    "timer promoted at 1s",
    "callback 1",
    "callback 2",
    // timers, by (deadline, registration)
    "timer in the past (0s)",
    "timer due now (1s)",
    "timer 2s first",
    "timer 2s second",
    "timer 4s",
    "timer 6s",
    "timer at Instant::MAX",
    // tasks, by id
    "task #1 sleeping",
    "task #2 on a channel",
    "task #4 unstarted",
];

fn check_join_handles(fx: Fixture) {
    let Fixture {
        mut sleeping,
        mut on_channel,
        mut done,
        mut unstarted,
        ..
    } = fx;
    for jh in [&sleeping, &on_channel, &unstarted] {
        assert!(jh.is_finished());
        assert!(!jh.cancel());
    }
    assert_eq!(
        (&mut sleeping).now_or_never(),
        Some(Err(JoinError::Cancelled))
    );
    assert_eq!(
        (&mut on_channel).now_or_never(),
        Some(Err(JoinError::Cancelled))
    );
    assert_eq!(
        (&mut unstarted).now_or_never(),
        Some(Err(JoinError::Cancelled))
    );
    // A task that finished before the close keeps its output.
    assert_eq!((&mut done).now_or_never(), Some(Ok(99)));
}

#[test]
fn close_drops_everything_pending_once_in_the_defined_order() {
    let drops = new_drops();
    let mut lp = EventLoop::new();
    let fx = populate(&mut lp, &drops);

    lp.close();
    assert!(lp.is_closed());
    assert_eq!(dropped(&drops), EXPECTED_DROP_ORDER);
    assert!(lp.pending_tasks().is_empty());
    check_join_handles(fx);

    // Closing again, running, and dropping the loop drop nothing more.
    lp.close();
    assert_eq!(lp.run(), Err(LoopError::Closed { at: secs(1) }));
    drop(lp);
    assert_eq!(dropped(&drops), EXPECTED_DROP_ORDER);
}

#[test]
fn dropping_the_loop_closes_it_in_the_same_order() {
    let drops = new_drops();
    let mut lp = EventLoop::new();
    let handle = lp.handle();
    let fx = populate(&mut lp, &drops);

    drop(lp);
    assert!(handle.is_closed());
    assert_eq!(dropped(&drops), EXPECTED_DROP_ORDER);
    check_join_handles(fx);
}

#[test]
fn timers_at_instant_max_are_dropped_in_registration_order() {
    let drops = new_drops();
    let mut lp = EventLoop::new();
    // Free two slots, so the later timers reuse storage in some order of the loop's own.
    let x = lp.call_later(Duration::from_secs(1), unrun(noisy(&drops, "x")));
    let y = lp.call_later(Duration::from_secs(1), unrun(noisy(&drops, "y")));
    assert!(x.cancel());
    assert!(y.cancel());
    lp.call_at(Instant::MAX, unrun(noisy(&drops, "MAX first")));
    lp.call_later(Duration::MAX, unrun(noisy(&drops, "MAX second")));
    lp.call_at(Instant::MAX, unrun(noisy(&drops, "MAX third")));
    lp.call_later(Duration::from_secs(1), unrun(noisy(&drops, "1s")));
    lp.close();
    assert_eq!(
        dropped(&drops),
        ["x", "y", "1s", "MAX first", "MAX second", "MAX third"]
    );
}

#[test]
fn handle_operations_after_close_are_inert() {
    let drops = new_drops();
    let mut lp = EventLoop::new();
    lp.advance(Duration::from_secs(2)).unwrap();
    let h = lp.handle();
    lp.close();
    assert!(h.is_closed());
    assert_eq!(h.time(), secs(2));

    let cb = h.call_soon(unrun(noisy(&drops, "call_soon")));
    assert_eq!(dropped(&drops), ["call_soon"]);
    assert!(cb.is_cancelled());
    assert!(!cb.cancel());

    let t = h.call_later(Duration::from_secs(1), unrun(noisy(&drops, "call_later")));
    assert_eq!(dropped(&drops), ["call_soon", "call_later"]);
    assert!(t.is_cancelled());
    assert!(!t.cancel());
    assert_eq!(t.when(), secs(3));

    let t = h.call_at(secs(5), unrun(noisy(&drops, "call_at")));
    assert!(t.is_cancelled());
    assert_eq!(dropped(&drops), ["call_soon", "call_later", "call_at"]);

    let n = noisy(&drops, "spawn");
    let mut jh = h.spawn(async move {
        let _n = n;
        1
    });
    assert_eq!(
        dropped(&drops),
        ["call_soon", "call_later", "call_at", "spawn"]
    );
    assert!(jh.is_finished());
    assert!(!jh.cancel());
    assert_eq!((&mut jh).now_or_never(), Some(Err(JoinError::Cancelled)));

    let n = noisy(&drops, "spawn_named");
    let named = h.spawn_named("late", async move {
        let _n = n;
    });
    assert_eq!(named.now_or_never(), Some(Err(JoinError::Cancelled)));

    // The same through the loop itself and through the free functions inside `enter`.
    let cb = lp.call_soon(unrun(noisy(&drops, "lp.call_soon")));
    assert!(cb.is_cancelled());
    let n = noisy(&drops, "lp.spawn");
    let jh = lp.spawn(async move {
        let _n = n;
    });
    assert_eq!(jh.now_or_never(), Some(Err(JoinError::Cancelled)));
    let d = drops.clone();
    let (cb, jh) = lp.enter(move || {
        let cb = simloop::call_soon(unrun(noisy(&d, "free call_soon")));
        let n = noisy(&d, "free spawn");
        let jh = simloop::spawn(async move {
            let _n = n;
        });
        (cb, jh)
    });
    assert!(cb.is_cancelled());
    assert_eq!(jh.now_or_never(), Some(Err(JoinError::Cancelled)));

    // futures' spawner traits report the shutdown, and drop the future.
    assert!(Spawn::status(&h).unwrap_err().is_shutdown());
    assert!(LocalSpawn::status_local(&h).unwrap_err().is_shutdown());
    let n = noisy(&drops, "SpawnExt::spawn");
    let err = SpawnExt::spawn(&h, async move {
        let _n = n;
    })
    .unwrap_err();
    assert!(err.is_shutdown());
    let n = noisy(&drops, "spawn_local_with_handle");
    let err = LocalSpawnExt::spawn_local_with_handle(&h, async move {
        let _n = n;
    })
    .unwrap_err();
    assert!(err.is_shutdown());

    assert_eq!(
        dropped(&drops),
        [
            "call_soon",
            "call_later",
            "call_at",
            "spawn",
            "spawn_named",
            "lp.call_soon",
            "lp.spawn",
            "free call_soon",
            "free spawn",
            "SpawnExt::spawn",
            "spawn_local_with_handle",
        ]
    );
    // stop() on a closed loop is harmless too.
    h.stop();
    lp.stop();
    assert_eq!(lp.run(), Err(LoopError::Closed { at: secs(2) }));
}

#[test]
fn handle_is_a_futures_spawner_and_local_spawner() {
    let mut lp = EventLoop::new();
    let h = lp.handle();
    assert!(Spawn::status(&h).is_ok());
    assert!(LocalSpawn::status_local(&h).is_ok());

    let sent: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let local: Rc<RefCell<Vec<String>>> = Rc::new(RefCell::new(Vec::new()));

    let s = sent.clone();
    SpawnExt::spawn(&h, async move {
        s.lock().unwrap().push(format!("spawn @{}", now()));
    })
    .unwrap();
    let l = local.clone();
    LocalSpawnExt::spawn_local(&h, async move {
        sleep(Duration::from_secs(1)).await;
        l.borrow_mut().push(format!("spawn_local @{}", now()));
    })
    .unwrap();
    let remote = SpawnExt::spawn_with_handle(&h, async { 5 }).unwrap();
    let l = local.clone();
    let local_remote = LocalSpawnExt::spawn_local_with_handle(&h, async move {
        sleep(Duration::from_secs(2)).await;
        // Not Send: only a local spawner can take this.
        let rc = Rc::new(6 * 7);
        l.borrow_mut()
            .push(format!("spawn_local_with_handle @{}", now()));
        rc
    })
    .unwrap();
    assert_eq!(lp.pending_tasks().len(), 4);

    assert_eq!(lp.run_until_complete(remote), Ok(5));
    let out = lp.run_until_complete(local_remote).unwrap();
    assert_eq!(*out, 42);
    assert_eq!(*sent.lock().unwrap(), ["spawn @0s"]);
    assert_eq!(
        *local.borrow(),
        ["spawn_local @1s", "spawn_local_with_handle @2s"]
    );
    assert_eq!(lp.time(), secs(2));
}

/// Schedules more work on its loop from its destructor.
struct Rescheduler {
    label: &'static str,
    handle: Handle,
    drops: Drops,
}

impl Drop for Rescheduler {
    fn drop(&mut self) {
        let log = |s: String| self.drops.lock().unwrap().push(s);
        log(format!("{} dropped", self.label));
        let cb = self.handle.call_soon(unrun(noisy(
            &self.drops,
            &format!("{} call_soon", self.label),
        )));
        log(format!("call_soon cancelled: {}", cb.is_cancelled()));
        let t = self.handle.call_later(
            Duration::from_secs(1),
            unrun(noisy(&self.drops, &format!("{} call_later", self.label))),
        );
        log(format!("call_later cancelled: {}", t.is_cancelled()));
        let n = noisy(&self.drops, &format!("{} spawn", self.label));
        let jh = self.handle.spawn(async move {
            let _n = n;
        });
        log(format!("spawn: {:?}", jh.now_or_never()));
        log(format!(
            "status shutdown: {}",
            Spawn::status(&self.handle).is_err_and(|e| e.is_shutdown())
        ));
    }
}

#[test]
fn destructors_that_schedule_on_the_closed_loop_do_not_panic() {
    let drops = new_drops();
    let mut lp = EventLoop::new();
    let make = |label| Rescheduler {
        label,
        handle: lp.handle(),
        drops: drops.clone(),
    };
    let r = make("task");
    let jh = lp.spawn(async move {
        let _r = r;
        pending::<()>().await;
    });
    let r = make("timer");
    lp.call_later(Duration::from_secs(1), move || drop(r));
    let r = make("callback");
    lp.call_soon(move || drop(r));

    lp.close();

    let mut expected = Vec::new();
    for label in ["callback", "timer", "task"] {
        expected.extend([
            format!("{label} dropped"),
            format!("{label} call_soon"),
            "call_soon cancelled: true".to_string(),
            format!("{label} call_later"),
            "call_later cancelled: true".to_string(),
            format!("{label} spawn"),
            "spawn: Some(Err(Cancelled))".to_string(),
            "status shutdown: true".to_string(),
        ]);
    }
    assert_eq!(dropped(&drops), expected);
    assert_eq!(jh.now_or_never(), Some(Err(JoinError::Cancelled)));
}

/// Pushes its label, then panics, when dropped.
struct Bomb(Noisy);

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("{} exploded", self.0.label);
    }
}

#[test]
fn a_panicking_destructor_does_not_stop_the_close() {
    let drops = new_drops();
    let mut lp = EventLoop::new();
    let b = Bomb(noisy(&drops, "task bomb"));
    let bomb_task = lp.spawn(async move {
        let _b = b;
        pending::<()>().await;
    });
    let n = noisy(&drops, "task after");
    let after_task = lp.spawn(async move {
        let _n = n;
        pending::<()>().await;
    });
    lp.call_soon(unrun(noisy(&drops, "callback before")));
    let b = Bomb(noisy(&drops, "callback bomb"));
    lp.call_soon(move || drop(b));
    lp.call_soon(unrun(noisy(&drops, "callback after")));

    lp.close();

    assert_eq!(
        dropped(&drops),
        [
            "callback before",
            "callback bomb",
            "callback after",
            "task bomb",
            "task after"
        ]
    );
    assert_eq!(bomb_task.now_or_never(), Some(Err(JoinError::Cancelled)));
    assert_eq!(after_task.now_or_never(), Some(Err(JoinError::Cancelled)));
}

#[test]
fn join_handles_of_closed_tasks_yield_cancelled_to_other_loops() {
    let log: Rc<RefCell<Vec<String>>> = Rc::new(RefCell::new(Vec::new()));
    let mut lp1 = EventLoop::new();
    let unstarted = lp1.spawn(pending::<u32>());
    let sleeping = lp1.spawn(async {
        sleep(Duration::from_secs(5)).await;
        1_u32
    });
    lp1.call_soon(|| {});
    lp1.run_once().unwrap();
    assert_eq!(lp1.pending_tasks().len(), 2);

    // A task on another loop waits for lp1's sleeping task.
    let mut lp2 = EventLoop::new();
    lp2.advance(Duration::from_secs(7)).unwrap();
    let l = log.clone();
    let waiter = lp2.spawn(async move {
        let out = sleeping.await;
        l.borrow_mut()
            .push(format!("waiter got {out:?} @{}", now()));
        out
    });
    assert_eq!(lp2.run(), Ok(()));
    assert!(log.borrow().is_empty());
    assert!(!waiter.is_finished());

    // Closing lp1 wakes it.
    lp1.close();
    assert_eq!(lp2.run(), Ok(()));
    assert_eq!(*log.borrow(), ["waiter got Err(Cancelled) @7s"]);
    assert_eq!(
        lp2.run_until_complete(waiter),
        Ok(Ok(Err(JoinError::Cancelled)))
    );

    // Awaited from a brand-new loop.
    let mut lp3 = EventLoop::new();
    assert_eq!(
        lp3.run_until_complete(unstarted),
        Ok(Err(JoinError::Cancelled))
    );
}
