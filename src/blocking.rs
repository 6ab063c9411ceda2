//! Simulated blocking: [`block_for`] holds the whole loop, [`spawn_blocking`] runs work on a
//! simulated pool of workers while the loop goes on.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::panic::Location;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::runtime::context::core;
use crate::JoinHandle;

/// Models a blocking call (a synchronous read, a heavy computation) inside a callback or
/// task: the clock moves forward by `d` at once while nothing else runs. Timers that fell due
/// meanwhile fire late; the lateness is in the trace and in `stats().max_lateness`.
///
/// ```
/// use simloop::{block_for, EventLoop};
/// use std::time::Duration;
///
/// let mut lp = EventLoop::new();
/// let timer = lp.call_later(Duration::from_secs(1), || {});
/// lp.call_soon(|| block_for(Duration::from_secs(3)));
/// lp.run().unwrap();
/// assert_eq!(lp.time().to_string(), "3s");
/// assert_eq!(lp.stats().max_lateness, Duration::from_secs(2));
/// # drop(timer);
/// ```
///
/// # Panics
/// Outside a simloop loop.
#[track_caller]
pub fn block_for(d: Duration) {
    core("block_for()").block_for(d);
}

/// Runs `f` on a simulated worker of the loop's blocking pool (asyncio's `run_in_executor`):
/// `f` completes `cost` of virtual time after a worker takes it, without blocking the loop.
/// The pool has [`Builder::blocking_workers`](crate::Builder::blocking_workers) workers
/// (default unbounded); jobs wait for a worker in FIFO order. Cancelling the handle before a
/// worker takes the job means `f` never runs.
///
/// ```
/// use simloop::{spawn_blocking, EventLoop};
/// use std::time::Duration;
///
/// let mut lp = EventLoop::builder().blocking_workers(2).build();
/// let ends = lp
///     .run_until_complete(async {
///         let jobs: Vec<_> = (0..5)
///             .map(|_| spawn_blocking(Duration::from_secs(1), simloop::now))
///             .collect();
///         let mut ends = Vec::new();
///         for job in jobs {
///             ends.push(job.await.unwrap().to_string());
///         }
///         ends
///     })
///     .unwrap();
/// assert_eq!(ends, ["1s", "1s", "2s", "2s", "3s"]);
/// ```
///
/// # Panics
/// Outside a simloop loop.
#[track_caller]
pub fn spawn_blocking<T: 'static>(
    cost: Duration,
    f: impl FnOnce() -> T + 'static,
) -> JoinHandle<T> {
    let core = core("spawn_blocking()");
    let location = Location::caller();
    let pool = core.clone();
    let job = async move {
        let _worker = acquire(&pool).await;
        crate::time::sleep::sleep(cost).await;
        f()
    };
    core.spawn(job, Some("spawn_blocking"), location)
}

/// Sets the current loop's default blocking cost: the virtual time a job on the simulated
/// pool takes when its caller states none. simloop's own [`spawn_blocking`] always takes a
/// cost; adapters whose API has no cost argument use this one (simloop-tokio's
/// `tokio::task::spawn_blocking`). Zero until set.
///
/// ```
/// use simloop::{blocking_cost, set_blocking_cost, EventLoop};
/// use std::time::Duration;
///
/// let lp = EventLoop::new();
/// lp.enter(|| {
///     assert_eq!(blocking_cost(), Duration::ZERO);
///     set_blocking_cost(Duration::from_millis(5));
///     assert_eq!(blocking_cost(), Duration::from_millis(5));
/// });
/// ```
///
/// # Panics
/// Outside a simloop loop.
#[track_caller]
pub fn set_blocking_cost(cost: Duration) {
    core("set_blocking_cost()").pool.borrow_mut().default_cost = cost;
}

/// The current loop's default blocking cost; see [`set_blocking_cost`].
///
/// # Panics
/// Outside a simloop loop.
#[track_caller]
pub fn blocking_cost() -> Duration {
    core("blocking_cost()").pool.borrow().default_cost
}

/// The simulated pool: how many workers are busy and who waits for one.
pub(crate) struct Pool {
    limit: Option<usize>,
    busy: usize,
    waiters: VecDeque<Rc<Waiter>>,
    /// What a job costs when its caller states no cost ([`blocking_cost`]).
    default_cost: Duration,
}

#[derive(Default)]
struct Waiter {
    granted: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Pool {
    pub(crate) fn new(limit: Option<usize>) -> Pool {
        Pool {
            limit,
            busy: 0,
            waiters: VecDeque::new(),
            default_cost: Duration::ZERO,
        }
    }
}

/// A busy worker; dropping it hands the worker to the next waiting job.
struct Worker(Rc<crate::runtime::core::Core>);

impl Drop for Worker {
    fn drop(&mut self) {
        release(&self.0);
    }
}

fn release(core: &crate::runtime::core::Core) {
    let next = {
        let mut pool = core.pool.borrow_mut();
        let next = pool.waiters.pop_front();
        if next.is_none() {
            pool.busy -= 1;
        }
        next
    };
    if let Some(w) = next {
        w.granted.set(true);
        if let Some(waker) = w.waker.take() {
            waker.wake();
        }
    }
}

fn acquire(core: &Rc<crate::runtime::core::Core>) -> impl Future<Output = Worker> + '_ {
    let mut guard = WaitGuard { core, waiter: None };
    poll_fn(move |cx| {
        if let Some(w) = &guard.waiter {
            if !w.granted.get() {
                w.waker.set(Some(cx.waker().clone()));
                return Poll::Pending;
            }
            guard.waiter = None;
            return Poll::Ready(Worker(core.clone()));
        }
        let mut pool = core.pool.borrow_mut();
        if pool.limit.is_none_or(|limit| pool.busy < limit) {
            pool.busy += 1;
            return Poll::Ready(Worker(core.clone()));
        }
        let w = Rc::new(Waiter::default());
        w.waker.set(Some(cx.waker().clone()));
        pool.waiters.push_back(w.clone());
        guard.waiter = Some(w);
        Poll::Pending
    })
}

/// Leaves the queue if a waiting job is dropped, passing on a worker it was already granted.
struct WaitGuard<'a> {
    core: &'a Rc<crate::runtime::core::Core>,
    waiter: Option<Rc<Waiter>>,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        let Some(w) = self.waiter.take() else { return };
        if w.granted.get() {
            release(self.core);
        } else {
            self.core
                .pool
                .borrow_mut()
                .waiters
                .retain(|x| !Rc::ptr_eq(x, &w));
        }
    }
}
