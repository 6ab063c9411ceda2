//! # simloop
//!
//! A deterministic, single-threaded async executor with a virtual clock, for testing async
//! code. Time never passes by itself: when nothing is ready, the clock jumps straight to the
//! next timer. Programs written in the style of Python's asyncio (`call_soon`, `call_later`,
//! `sleep`, `run_until_complete`) run in microseconds and produce the same events, at the
//! same virtual instants, on every run.
//!
//! ## Getting started
//!
//! Add simloop to the tests' dependencies (the `macros` feature, on by default, brings the
//! `#[simloop::test]` attribute):
//!
//! ```toml
//! [dev-dependencies]
//! simloop = "0.1"
//! ```
//!
//! A component that takes its clock as a parameter ([`Clock`]) also needs simloop in
//! production; there it runs on tokio's clock (`TokioClock`, feature `tokio`):
//!
//! ```toml
//! [dependencies]
//! simloop = { version = "0.1", default-features = false, features = ["tokio"] }
//! ```
//!
//! `#[simloop::test]` turns an `async fn` into a `#[test]` that runs it on a fresh loop: the
//! clock starts at zero and jumps from timer to timer, so the hour below takes microseconds.
//! A [`LoopError`] (here, a stall would be one), an `Err` or a panic fails the test, with the
//! error and the last lines of the loop's trace. The component gets [`SimClock`], the
//! running loop's clock:
//!
//! ```
//! use simloop::{Clock, Instant, SimClock};
//! use std::time::Duration;
//!
//! /// A session that expires after an hour without activity.
//! struct Session<C: Clock> {
//!     clock: C,
//!     last_seen: Duration,
//! }
//!
//! impl<C: Clock> Session<C> {
//!     fn new(clock: C) -> Self {
//!         let last_seen = clock.now();
//!         Session { clock, last_seen }
//!     }
//!     fn touch(&mut self) {
//!         self.last_seen = self.clock.now();
//!     }
//!     fn expired(&self) -> bool {
//!         self.clock.now() - self.last_seen >= Duration::from_secs(3600)
//!     }
//! }
//!
//! #[simloop::test]
//! async fn a_session_expires_an_hour_after_its_last_touch() {
//!     let mut session = Session::new(SimClock);
//!     simloop::sleep(Duration::from_secs(1800)).await;
//!     session.touch();
//!     simloop::sleep(Duration::from_secs(3599)).await;
//!     assert!(!session.expired());
//!     simloop::sleep(Duration::from_secs(1)).await;
//!     assert!(session.expired());
//!     assert_eq!(simloop::now(), Instant::from_secs(5400));
//! }
//! # fn main() {}
//! ```
//!
//! On a `fn` that takes the loop, the test drives it itself, asyncio style:
//!
//! ```
//! use simloop::EventLoop;
//! use std::time::Duration;
//!
//! #[simloop::test]
//! fn callbacks_run_in_deadline_order(lp: &mut EventLoop) {
//!     let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
//!     for (name, ms) in [("b", 20), ("a", 10)] {
//!         let order = order.clone();
//!         lp.call_later(Duration::from_millis(ms), move || order.borrow_mut().push(name));
//!     }
//!     lp.run().unwrap();
//!     assert_eq!(*order.borrow(), ["a", "b"]);
//! }
//! # fn main() {}
//! ```
//!
//! One FIFO run shows one interleaving. `seeds = N` explores `N` schedules (see "Exploring
//! schedules" below); a failure comes back shrunk, with the line to paste to pin it, e.g.
//! `#[simloop::test(replay = "S1:1")]`:
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//!
//! #[simloop::test(seeds = 100)]
//! async fn two_increments_make_two() {
//!     let counter = Rc::new(Cell::new(0));
//!     let tasks: Vec<_> = (0..2)
//!         .map(|_| {
//!             let c = counter.clone();
//!             simloop::spawn(async move {
//!                 let seen = c.get();
//!                 c.set(seen + 1); // no await in between: no other task can interleave
//!             })
//!         })
//!         .collect();
//!     for task in tasks {
//!         task.await.unwrap();
//!     }
//!     assert_eq!(counter.get(), 2);
//! }
//! # fn main() {}
//! ```
//!
//! The attribute's arguments (`seeds`, `strategy`, `jitter`, `replay`, `time_limit`,
//! `step_limit`, `trace`, `panic_policy`) and the `SIMLOOP_SEEDS`/`SIMLOOP_REPLAY` variables
//! are described in [`testing`], the module the attribute calls.
//!
//! ## A first test, by hand
//!
//! Without the attribute, a test builds a loop and runs a future to completion:
//!
//! ```
//! use simloop::{sleep, EventLoop};
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! let log = Rc::new(RefCell::new(Vec::new()));
//! let mut lp = EventLoop::new();
//! let l = log.clone();
//! lp.call_later(Duration::from_secs(1), move || l.borrow_mut().push(format!("[{}] timer", simloop::now())));
//! let l = log.clone();
//! let out = lp
//!     .run_until_complete(async move {
//!         l.borrow_mut().push(format!("[{}] start", simloop::now()));
//!         sleep(Duration::from_secs(2)).await;
//!         l.borrow_mut().push(format!("[{}] done", simloop::now()));
//!         42
//!     })
//!     .unwrap();
//! assert_eq!(out, 42);
//! assert_eq!(*log.borrow(), ["[0s] start", "[1s] timer", "[2s] done"]);
//! ```
//!
//! ## The ordering contract
//!
//! There is one FIFO ready queue of callbacks; a task step is a callback too. One iteration:
//!
//! 1. If the ready queue is empty and no stop is pending, the clock jumps to the earliest live
//!    timer deadline. Cancelled timers never attract the clock.
//! 2. Every timer with deadline <= now moves to the back of the ready queue, in (deadline,
//!    registration) order: equal deadlines fire first-registered first.
//! 3. Exactly the callbacks in the queue at this point run, in order. Whatever they schedule
//!    (`call_soon`, a wake, a zero or past `call_later`) runs in a later iteration.
//!
//! `spawn` queues a task's first poll with `call_soon`; a wake queues one poll (never two).
//! `sleep(d)` is a timer whose callback wakes the task, so the task resumes one iteration
//! after its timer fires, at the same instant, after that iteration's other callbacks,
//! exactly as in CPython's asyncio:
//!
//! ```
//! use simloop::{sleep, EventLoop};
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! let log = Rc::new(RefCell::new(Vec::new()));
//! let mut lp = EventLoop::new();
//! let l = log.clone();
//! lp.spawn(async move {
//!     sleep(Duration::from_secs(1)).await;
//!     l.borrow_mut().push("task resumes");
//! });
//! let l = log.clone();
//! lp.call_later(Duration::from_secs(1), move || l.borrow_mut().push("timer registered second"));
//! lp.run().unwrap();
//! // Both timers fire at 1s in registration order; the task's step comes one iteration later.
//! assert_eq!(*log.borrow(), ["timer registered second", "task resumes"]);
//! ```
//!
//! ## Coroutines in the future
//!
//! As in asyncio, `call_soon` and `call_later` take a plain function, not a future: handing
//! them a future does not compile.
//!
//! ```compile_fail
//! let lp = simloop::EventLoop::new();
//! lp.call_soon(async { println!("never runs") });
//! ```
//!
//! To run a future later, schedule a closure that spawns it:
//!
//! ```
//! use simloop::{sleep, EventLoop};
//! use std::time::Duration;
//!
//! let mut lp = EventLoop::new();
//! lp.call_later(Duration::from_secs(1), || {
//!     simloop::spawn(async {
//!         sleep(Duration::from_secs(1)).await;
//!         assert_eq!(simloop::now().to_string(), "2s");
//!     });
//! });
//! lp.run().unwrap();
//! assert_eq!(lp.time().to_string(), "2s");
//! ```
//!
//! ## Tasks, timeouts and cancellation
//!
//! [`spawn`] (no `Send` bound) returns a [`JoinHandle`]: await it for the task's output, or
//! [`cancel`](JoinHandle::cancel) it, which drops the task's future in a step of its own.
//! [`timeout`] bounds any future by virtual time:
//!
//! ```
//! use simloop::{sleep, spawn, timeout, EventLoop, JoinError};
//! use std::time::Duration;
//!
//! let mut lp = EventLoop::new();
//! let (fast, slow, cancelled) = lp
//!     .run_until_complete(async {
//!         let fast = spawn(async {
//!             sleep(Duration::from_secs(1)).await;
//!             "fast"
//!         });
//!         let slow = timeout(Duration::from_secs(2), sleep(Duration::from_secs(5)));
//!         let doomed = spawn(sleep(Duration::from_secs(60)));
//!         doomed.cancel();
//!         (fast.await, slow.await.is_err(), doomed.await)
//!     })
//!     .unwrap();
//! assert_eq!(fast, Ok("fast"));
//! assert!(slow); // the timeout starts at its first poll (1s) and fires at 3s
//! assert_eq!(cancelled, Err(JoinError::Cancelled));
//! assert_eq!(lp.time().to_string(), "3s");
//! ```
//!
//! The examples (`cargo run --example retry`, `rate_limiter`, `ttl_cache`, `leader_lease`)
//! show how to structure real components so they run on simloop in tests: they take a
//! [`Clock`] (or a sleep function) instead of calling a runtime directly.
//!
//! ## Errors instead of hangs
//!
//! A run call that can never end returns [`LoopError::Stalled`] naming the pending tasks, who
//! waits for a waker that something outside the loop holds (a channel, another thread,
//! another loop), and timers that can never fire (at [`Instant::MAX`]); panics are caught
//! ([`PanicPolicy`]); [`Builder::time_limit`] and [`Builder::step_limit`] stop runaway loops
//! and name the task or callback that kept rescheduling.
//!
//! ```
//! use simloop::{EventLoop, LoopError};
//!
//! let mut lp = EventLoop::new();
//! let (_tx, rx) = futures::channel::oneshot::channel::<u32>();
//! lp.spawn_named("waiter", async move { rx.await });
//! let err = lp.run_forever().unwrap_err();
//! assert!(matches!(&err, LoopError::Stalled { pending, .. } if pending[0].name.as_deref() == Some("waiter")));
//! ```
//!
//! ## Exploring schedules
//!
//! FIFO is one interleaving among many that real systems produce. A [`Schedule`] other than
//! [`Schedule::Fifo`] reorders what the contract leaves open (task steps within an
//! iteration, timers with equal deadlines, optionally timer jitter), [`explore`] runs a
//! scenario under many of them, and a failure comes back shrunk, as a replay token:
//!
//! ```
//! use simloop::{explore, EventLoop, Explore};
//! use std::cell::Cell;
//! use std::rc::Rc;
//!
//! // A lost update: one task increments a counter at once, the other reads it, awaits,
//! // then writes back what it read plus one.
//! fn scenario(lp: &mut EventLoop) -> Result<(), String> {
//!     let counter = Rc::new(Cell::new(0));
//!     let c = counter.clone();
//!     lp.spawn(async move { c.set(c.get() + 1) });
//!     let c = counter.clone();
//!     lp.spawn(async move {
//!         let seen = c.get();
//!         simloop::yield_now().await;
//!         c.set(seen + 1);
//!     });
//!     lp.run().map_err(|e| e.to_string())?;
//!     match counter.get() {
//!         2 => Ok(()),
//!         n => Err(format!("counter is {n}, not 2")),
//!     }
//! }
//!
//! // Under FIFO the first task runs first and the bug hides.
//! assert!(scenario(&mut EventLoop::new()).is_ok());
//! // Exploration finds the other order, and shrinks it to one deviation from FIFO.
//! let failure = explore(&Explore::new(), scenario).unwrap_err();
//! assert_eq!(failure.message, "counter is 1, not 2");
//! assert_eq!(failure.schedule.to_string(), "S1:1");
//! // The token replays the failing run exactly.
//! let mut lp = EventLoop::builder().schedule("S1:1".parse().unwrap()).build();
//! assert_eq!(scenario(&mut lp), Err("counter is 1, not 2".to_string()));
//! ```
//!
//! The scenario must be deterministic: `explore` replays a failure before it trusts it, and
//! reports one that does not repeat under its own schedule as such, without a token
//! ([`Failure::not_reproduced`]). [`Search`] picks the schedules. [`check_determinism`] runs
//! a scenario twice and reports the first event where the runs differ. A replayed token that
//! does not fit the scenario is flagged ([`EventLoop::replay_mismatch`]). With the
//! `proptest` feature, [`proptest::schedule`] makes schedules a generated input that shrinks
//! toward FIFO, and [`proptest::explore_schedules`] explores the schedules inside a property
//! that has inputs of its own, so that both shrink well.
//!
//! ## Seeing what happened: traces, lanes, blocking
//!
//! A loop built with [`Builder::trace`] records every event (callbacks, task steps, timers,
//! clock jumps, marks, blocking) with its instant and iteration. The [`Trace`] renders as a
//! text timeline (one line per event, with who caused it; failure reports use it), as a lane
//! view with a column per task ([`Trace::lanes`]), and as Chrome trace-event JSON for
//! Perfetto ([`Trace::to_chrome_json`]). [`block_for`] models a blocking call: the clock
//! moves while nothing else runs, so timers fire late, and [`Builder::slow_callback`] prints
//! asyncio's debug-mode warning for it. [`spawn_blocking`] moves the work to a simulated
//! worker instead:
//!
//! ```
//! use simloop::{block_for, sleep, EventLoop};
//! use std::time::Duration;
//!
//! let mut lp = EventLoop::builder()
//!     .trace(true)
//!     .slow_callback(Duration::from_millis(100))
//!     .build();
//! lp.spawn_named("tick", async {
//!     sleep(Duration::from_secs(1)).await; // due at 1s, fires at 2s: the loop is held
//! });
//! lp.spawn_named("crunch", async {
//!     block_for(Duration::from_secs(2)); // stderr: Executing task #2 'crunch' (...) took 2.000s
//! });
//! lp.run().unwrap();
//! assert_eq!(lp.stats().max_lateness, Duration::from_secs(1));
//! let lanes = lp.trace().lanes().to_string();
//! assert_eq!(
//!     lanes.lines().collect::<Vec<_>>(),
//!     [
//!         "instant  it  #1 tick    #2 crunch             callbacks",
//!         "     0s   1  run -> 1s  run, blocks 2s, done",
//!         "     2s   2  |                                #1 (1s late)",
//!         "     2s   3  run, done",
//!     ]
//! );
//! // std::fs::write("run.trace.json", lp.trace().to_chrome_json()) opens in ui.perfetto.dev
//! ```
//!
//! `cargo run --example blocking` tells the whole story: a heartbeat starved by an inline
//! blocking call, then kept on time once the call moves to `spawn_blocking`.
//!
//! ## Threads
//!
//! A loop and its [`Handle`]s stay on one thread, and nothing in simloop starts a thread.
//! Wakers are `Send + Sync`: a wake from another thread is taken in at the start of the
//! loop's next iteration. The loop never waits for real time, so a loop that runs out of work
//! while another thread still holds a waker reports [`LoopError::Stalled`].
//!
//! Use `futures::select_biased!` rather than `futures::select!`: the latter picks among ready
//! branches with a thread-local random generator seeded from a process-wide counter, state
//! outside the loop that no seed or replay token captures, so it breaks determinism.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]
#![deny(unsafe_code)]

mod blocking;
mod error;
mod explore;
mod prefetch;
mod runtime;
mod schedule;
mod slab;
mod task;
pub mod testing;
mod time;
mod trace;

/// `#[simloop::test]`: a `#[test]` that runs its body on a fresh loop; see
/// [`testing`] for what it does, and the crate docs' "Getting started".
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use simloop_macros::test;

pub use crate::blocking::{block_for, blocking_cost, set_blocking_cost, spawn_blocking};
#[cfg(feature = "proptest")]
pub use crate::explore::proptest;

/// The README's examples, compiled as doctests (`tests/readme.rs` runs them as tests).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The examples of `docs/`, compiled and run as doctests.
#[cfg(doctest)]
pub mod docs {
    #[doc = include_str!("../docs/migration.md")]
    pub struct Migration;
    #[doc = include_str!("../docs/proptest-and-fuzz.md")]
    pub struct ProptestAndFuzz;
    #[doc = include_str!("../docs/exploration.md")]
    pub struct Exploration;
    #[doc = include_str!("../docs/traces.md")]
    pub struct Traces;
}
pub use crate::error::{LoopError, StallDetail, TaskInfo, Waiter};
pub use crate::explore::{
    check_determinism, exhaust, explore, seed_chunk, seeds_from_env, Coverage, Divergence, Explore,
    Explored, Failure, NotReproduced, Search,
};
pub use crate::runtime::context::{
    call_at, call_later, call_soon, choose, current, mark, now, random_u64, spawn, spawn_named,
    stop, try_current,
};
pub use crate::runtime::event_loop::{Builder, EventLoop, PanicPolicy};
pub use crate::runtime::footprint::{access, access_read};

/// The old name of [`Search`], kept for one release. It clashed with the `Strategy` trait that
/// `use proptest::prelude::*` brings into scope (error E0599, "no method named `prop_map`").
#[deprecated(
    since = "0.1.0",
    note = "renamed to `simloop::Search`: `Strategy` clashed with proptest's `Strategy` trait"
)]
pub type Strategy = Search;
pub use crate::runtime::handle::{CallbackHandle, Handle, TimerHandle};
pub use crate::schedule::{OutOfRange, ParseScheduleError, ReplayMismatch, Schedule};
pub use crate::task::join::{JoinError, JoinHandle, TaskId};
#[cfg(feature = "tokio")]
pub use crate::time::clock::TokioClock;
pub use crate::time::clock::{Clock, ClockSleep, SimClock};
pub use crate::time::instant::Instant;
pub use crate::time::interval::{interval, Interval, MissedTicks};
pub use crate::time::sleep::{sleep, sleep_until, yield_now, Sleep, YieldNow};
pub use crate::time::timeout::{timeout, timeout_at, Elapsed, Timeout};
pub use crate::trace::stats::Stats;
pub use crate::trace::{chrome_json, Event, Lanes, Trace, TraceEvent};
