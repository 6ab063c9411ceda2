//! A task is one allocation shared by the loop, its `JoinHandle` and its wakers (which may
//! live on other threads). These tests pin who drops what, where and when: the future and an
//! untaken output are dropped on the loop's thread as soon as the loop and the handle are done
//! with them, however long a waker lives on; the memory goes with the last waker, on whatever
//! thread that is. They also run under AddressSanitizer (`.ci/run`), which checks the frees.

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread::{self, ThreadId};

use simloop::{sleep, EventLoop};
use std::time::Duration;

/// Records the thread it is dropped on.
struct DropSpy(Arc<Mutex<Vec<(&'static str, ThreadId)>>>, &'static str);

impl Drop for DropSpy {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap()
            .push((self.1, thread::current().id()));
    }
}

type Drops = Arc<Mutex<Vec<(&'static str, ThreadId)>>>;

fn names(drops: &Drops) -> Vec<&'static str> {
    drops.lock().unwrap().iter().map(|(n, _)| *n).collect()
}

#[test]
fn an_untaken_output_is_dropped_on_the_loop_thread_while_a_waker_lives_elsewhere() {
    let drops = Drops::default();
    let stash: Arc<Mutex<Option<Waker>>> = Arc::default();
    let mut lp = EventLoop::new();
    let (d, s) = (drops.clone(), stash.clone());
    let job = lp.spawn(async move {
        let future_part = DropSpy(d.clone(), "future");
        poll_fn(|cx| {
            *s.lock().unwrap() = Some(cx.waker().clone());
            Poll::Ready(())
        })
        .await;
        drop(future_part);
        DropSpy(d, "output")
    });
    drop(job); // detached: nobody will take the output
    lp.run().unwrap();
    // The task finished and its handle is gone: the output went with the last loop-side owner.
    assert_eq!(names(&drops), ["future", "output"]);
    let here = thread::current().id();
    assert!(drops.lock().unwrap().iter().all(|(_, t)| *t == here));

    // The waker outlives the task and the loop, and frees the allocation on another thread.
    drop(lp);
    let waker = stash.lock().unwrap().take().unwrap();
    thread::spawn(move || {
        waker.wake_by_ref();
        drop(waker.clone());
        drop(waker);
    })
    .join()
    .unwrap();
    assert_eq!(names(&drops), ["future", "output"]);
}

#[test]
fn a_taken_output_moves_out_and_the_handle_keeps_the_allocation_readable() {
    let drops = Drops::default();
    let mut lp = EventLoop::new();
    let d = drops.clone();
    let mut job = lp.spawn(async move {
        sleep(Duration::from_secs(1)).await;
        DropSpy(d, "output")
    });
    lp.run().unwrap();
    // The loop let go of the task when it finished; the handle still reads it.
    assert!(job.is_finished());
    assert!(lp.pending_tasks().is_empty());
    let output = lp.run_until_complete(&mut job).unwrap().unwrap();
    assert_eq!(names(&drops), Vec::<&str>::new());
    drop(output);
    assert_eq!(names(&drops), ["output"]);
    drop(job);
    drop(lp);
    assert_eq!(names(&drops), ["output"]);
}

/// Shows each poll's waker to `see`; pending once (waking itself), then ready.
async fn yield_once_seeing(mut see: impl FnMut(&Waker)) {
    let mut first = true;
    poll_fn(|cx| {
        see(cx.waker());
        if first {
            first = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(())
    })
    .await
}

#[test]
fn clones_of_the_polling_waker_will_wake_it() {
    // Futures that keep a waker (channels, `AtomicWaker`) compare it with `will_wake` to skip
    // re-registering; a task's waker compares equal to its clones across polls.
    let mut lp = EventLoop::new();
    let verdicts = lp
        .run_until_complete(async {
            let stored: Arc<Mutex<Option<Waker>>> = Arc::default();
            let mut verdicts = Vec::new();
            for _ in 0..3 {
                yield_once_seeing(|waker| {
                    if let Some(w) = stored.lock().unwrap().as_ref() {
                        verdicts.push(w.will_wake(waker));
                    }
                    *stored.lock().unwrap() = Some(waker.clone());
                })
                .await;
            }
            verdicts
        })
        .unwrap();
    assert_eq!(verdicts, [true, true, true, true, true]);

    // A spawned task's waker, too; and it differs from another task's.
    let wakers: Arc<Mutex<Vec<(usize, Waker)>>> = Arc::default();
    for task in 0..2 {
        let w = wakers.clone();
        lp.spawn(async move {
            for _ in 0..2 {
                yield_once_seeing(|waker| w.lock().unwrap().push((task, waker.clone()))).await;
            }
        });
    }
    lp.run().unwrap();
    let w = wakers.lock().unwrap();
    // Each task: pending, then ready and at once pending again, then ready.
    assert_eq!(w.len(), 8);
    for (a, wa) in w.iter() {
        for (b, wb) in w.iter() {
            assert_eq!(wa.will_wake(wb), a == b, "tasks {a} and {b}");
        }
    }
}

#[test]
fn wakes_from_many_threads_at_once_queue_one_step() {
    let stash: Arc<Mutex<Option<Waker>>> = Arc::default();
    let mut lp = EventLoop::new();
    let s = stash.clone();
    let polls = Arc::new(Mutex::new(0u32));
    let p = polls.clone();
    let job = lp.spawn(poll_fn(move |cx| {
        let mut n = p.lock().unwrap();
        *n += 1;
        *s.lock().unwrap() = Some(cx.waker().clone());
        if *n == 2 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }));
    lp.run().unwrap();
    let waker = stash.lock().unwrap().take().unwrap();
    thread::scope(|scope| {
        for _ in 0..4 {
            let w = waker.clone();
            scope.spawn(move || {
                for _ in 0..500 {
                    w.wake_by_ref();
                    drop(w.clone());
                }
                w.wake();
            });
        }
    });
    drop(waker);
    lp.run().unwrap();
    assert_eq!(*polls.lock().unwrap(), 2);
    assert!(job.is_finished());
}

#[test]
fn a_wake_queued_from_another_thread_is_freed_with_a_loop_that_never_takes_it() {
    // The remote queue holds a waker; its header points back at the queue weakly, so dropping
    // the loop frees both (LeakSanitizer checks this under `.ci/run`).
    let drops = Drops::default();
    let stash: Arc<Mutex<Option<Waker>>> = Arc::default();
    let mut lp = EventLoop::new();
    let (d, s) = (drops.clone(), stash.clone());
    lp.spawn(async move {
        let _spy = DropSpy(d, "future");
        poll_fn(|cx| {
            *s.lock().unwrap() = Some(cx.waker().clone());
            Poll::<()>::Pending
        })
        .await;
    });
    lp.run().unwrap();
    let waker = stash.lock().unwrap().take().unwrap();
    thread::spawn(move || waker.wake()).join().unwrap();
    drop(lp);
    assert_eq!(names(&drops), ["future"]);
}

#[test]
fn a_task_that_awaits_its_own_handle_stalls_instead_of_reaching_into_itself() {
    // The handle reads the task's allocation only once the task is done; while the task is
    // being polled, its own handle sees it unfinished.
    use simloop::{JoinHandle, LoopError};
    use std::cell::RefCell;
    use std::rc::Rc;

    let slot: Rc<RefCell<Option<JoinHandle<u32>>>> = Rc::default();
    let mut lp = EventLoop::new();
    let s = slot.clone();
    let handle = lp.spawn(async move {
        let own = s
            .borrow_mut()
            .take()
            .expect("handle stored before the first poll");
        own.await.map(|n| n + 1).unwrap_or(0)
    });
    let id = handle.id();
    *slot.borrow_mut() = Some(handle);
    let err = lp
        .run_until_complete(std::future::pending::<()>())
        .unwrap_err();
    match err {
        LoopError::Stalled { pending, .. } => {
            assert_eq!(pending.iter().map(|t| t.id).collect::<Vec<_>>(), [id]);
        }
        other => panic!("expected a stall, got {other}"),
    }
}
