//! tokio code, unchanged, on simloop's virtual clock.
//!
//! Rename the dependency and change no source line:
//!
//! ```toml
//! [dependencies]
//! tokio = { package = "simloop-tokio", version = "0.1", features = ["full"] }
//! ```
//!
//! - **Built normally** this crate is `pub use tokio::*` (the same features, forwarded):
//!   production builds run real tokio, at no cost, and compile neither simloop nor its macros.
//! - **Built with `RUSTFLAGS="--cfg simloop"`** (tests: `RUSTFLAGS="--cfg simloop" cargo
//!   test`, best with its own `CARGO_TARGET_DIR` so that the two builds do not evict each
//!   other), `tokio::time`, `tokio::task`, `tokio::runtime` and tokio's macros run on the
//!   simloop loop of the current thread: time is virtual and exact to the nanosecond, jumps to
//!   the next timer when nothing is ready, and every run is the same. `#[tokio::test]` builds a
//!   fresh loop per test; with `SIMLOOP_SEEDS=0..500` it explores that many schedules
//!   (`simloop::explore`), and `SIMLOOP_REPLAY=<token>` replays the one a failure printed.
//!
//! ```
//! # use simloop_tokio as tokio;
//! use std::time::Duration;
//! use tokio::time::{sleep, timeout, Instant};
//!
//! // Runs against real tokio (its paused clock) and on simloop alike.
//! let rt = tokio::runtime::Builder::new_current_thread()
//!     .enable_all()
//!     .start_paused(true)
//!     .build()
//!     .unwrap();
//! rt.block_on(async {
//!     let start = Instant::now();
//!     let slow = tokio::spawn(async { sleep(Duration::from_secs(3600)).await });
//!     assert!(timeout(Duration::from_secs(60), slow).await.is_err());
//!     assert_eq!(start.elapsed(), Duration::from_secs(60));
//! });
//! ```
//!
//! # What runs on simloop under `--cfg simloop`
//!
//! - `time` (feature `time`): `sleep`, `sleep_until`,
//!   `timeout`, `timeout_at`,
//!   `interval`, `interval_at`,
//!   `Instant` (`now`, `elapsed`, `duration_since` and the checked and
//!   saturating forms, `Duration` arithmetic, `from_std`/`into_std`),
//!   `Sleep` (`deadline`, `is_elapsed`, `reset`), `Timeout`,
//!   `Interval` (`tick`, `poll_tick`, `reset` and its `_immediately`,
//!   `_after`, `_at` forms, `period`, `missed_tick_behavior`), `MissedTickBehavior`
//!   (`Burst`, `Delay`, `Skip`, with tokio's 5 ms tolerance), `error::{Elapsed, Error}`,
//!   `pause`, `resume`, `advance`.
//! - `task` (feature `rt`): `spawn` (keeps its `Send` bound), `spawn_local`,
//!   `spawn_blocking` (a simulated worker: simloop's `spawn_blocking`, zero virtual cost
//!   unless `simloop::set_blocking_cost` says otherwise), `block_in_place`, `yield_now`,
//!   `JoinHandle` (`abort`, `is_finished`, `abort_handle`, `id`; output `Result<T,
//!   JoinError>`), `JoinError` (`is_cancelled`, `is_panic`, `into_panic` with the original
//!   payload, `try_into_panic`, `id`), `AbortHandle`, `JoinSet` (completion order, `spawn*`,
//!   `join_next*`, `try_join_next*`, `join_all`, `abort_all`, `detach_all`, `shutdown`),
//!   `LocalSet` (`spawn_local`, `run_until`, `block_on`, `enter`, awaiting it), `Id`, `id`,
//!   `try_id`, and tokio's own `task_local!`/`LocalKey`, `unconstrained`, `consume_budget`
//!   (they need no runtime).
//! - `runtime` (feature `rt`): `Builder` (`new_current_thread`, `new_multi_thread`: both one
//!   simulated thread; `enable_all`, `enable_time`, `enable_io`, `start_paused`,
//!   `worker_threads`, thread names and hooks accepted; `max_blocking_threads` sets the
//!   simulated blocking workers), `Runtime` (`new`, `block_on`, `spawn`, `spawn_blocking`,
//!   `handle`, `enter`, `shutdown_timeout`, `shutdown_background`; dropping it drops its
//!   tasks), `Handle` (`current`, `try_current`, `spawn`, `spawn_blocking`, `block_on` from
//!   outside the runtime, `enter`, `runtime_flavor`), `EnterGuard`, `TryCurrentError`,
//!   `RuntimeFlavor`. Only here: `Runtime::from_simloop(EventLoop)` runs tokio code on a loop
//!   built with any simloop settings (schedule, trace, limits), `Runtime::with_simloop`
//!   reads it back (trace, stats, schedule taken).
//! - Macros (feature `macros`): `#[tokio::main]`, `#[tokio::test]` (any `flavor`,
//!   `worker_threads`, `start_paused`, `crate`), `select!` (tokio's syntax: `biased;`,
//!   preconditions, patterns, `else`; the branch tokio picks at random is a choice of the
//!   loop's schedule, so FIFO starts at the first branch, exploration varies it and a replay
//!   token repeats it), and tokio's own `join!`, `try_join!`, `pin!`.
//! - `sync` (feature `sync`): tokio's own, re-exported: it needs no runtime, and its waits
//!   follow the virtual clock of the tasks around them. The one timed method,
//!   `mpsc::Sender::send_timeout`, sleeps on tokio's own timer and panics with tokio's "there
//!   is no reactor running" and a hint (never real time): write `time::timeout(d,
//!   tx.send(v))`. (Wrapping `Sender` to move that one method onto the virtual clock would
//!   break code that hands the sender to crates built on tokio's types, such as
//!   `tokio_util::sync::PollSender`.)
//! - `io`: tokio's traits and in-memory utilities (`duplex`, `split`, `copy`, buffered
//!   readers and writers) run on the virtual clock.
//!
//! # What is not simulated, and why
//!
//! Real I/O inside a simulation would hang on a driver that is not there or do real I/O on
//! the real clock in the middle of virtual time, so it fails, never silently:
//! `net` (`TcpListener::bind`, `TcpStream::connect`, `UdpSocket::bind`, Unix sockets,
//! `lookup_host`), `fs` (every function taking a path, `File::open`/`create`) and
//! `process` (`Command::new`) are **compile errors** that name the module and say what to do;
//! `signal::ctrl_c`, `signal::unix::signal` and `io::stdin`/`stdout`/`stderr` panic with
//! that message. Their types exist (no value of them can), so code that passes them around
//! compiles; gate real I/O with `#[cfg(not(simloop))]`, or hand the component an in-memory
//! transport in tests. tokio's I/O driver types (`io::unix::AsyncFd`, `io::Interest`) are
//! tokio's and panic with tokio's message outside a tokio runtime. Not provided at all:
//! runtime metrics, `Handle::id`/`name`, task dumps and the other `tokio_unstable` APIs.
//!
//! # Where the simulation differs from tokio
//!
//! Everything above follows tokio's documented behaviour (a sleep's deadline is fixed when it
//! is created and a past one completes at the first poll; `is_elapsed` turns true when the
//! timer fires; the first interval tick is immediate; a panicking task does not stop the
//! runtime; dropping a `JoinHandle` detaches). Where tokio leaves things open, simloop
//! decides, the same way on every run: time is exact to the nanosecond (tokio's paused
//! clock rounds sleeps up to whole milliseconds); timers with equal deadlines fire in
//! registration order; ready tasks run in FIFO order unless a schedule is being explored.
//! `advance(d)` moves the clock at once (timers that fell due fire late, at the new instant,
//! as in tokio), then lets the tasks they woke run before it returns. `pause` and `resume`
//! do nothing: the clock is always virtual. A `LocalSet`'s tasks start when the set first
//! runs, then are ordinary tasks of the loop (tokio pauses them while the set is not
//! polled). `Handle::block_on` cannot run inside the simulation (there is no other thread
//! to block). A test that waits for something that can never happen fails with simloop's
//! "the loop stalled" report, naming the pending tasks, where tokio would hang. The types
//! keep tokio's auto traits (`Sleep`, `Interval`, `JoinHandle`, `Runtime`, ... are `Send +
//! Sync`): they hold ids and `Arc`s, and reach the loop through the thread they are used on.
//!
//! # Compared with madsim-tokio
//!
//! madsim's tokio shim simulates a whole cluster (network, nodes, file system) with its own
//! executor, lacks `runtime::Handle`, and floors time at 1 ms. simloop-tokio simulates one
//! process: time, tasks and runtimes, exact to the nanosecond, with `Handle`, `LocalSet`,
//! `JoinSet` and `spawn_blocking`, on simloop's loop, whose trace, exploration and replay
//! tokens stay reachable from the same test (`simloop` is re-exported as `tokio::simloop`
//! in `--cfg simloop` builds). It does not simulate the network: tests give components
//! in-memory transports.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![deny(unsafe_code)]

#[cfg(not(simloop))]
pub use tokio::*;

#[cfg(simloop)]
mod sim;

#[cfg(all(simloop, feature = "time"))]
pub use sim::time;

#[cfg(all(simloop, feature = "rt"))]
pub use sim::runtime;

#[cfg(all(simloop, feature = "rt"))]
pub use sim::task;

#[cfg(all(simloop, feature = "rt"))]
pub use sim::task::spawn;

#[cfg(all(simloop, feature = "sync"))]
pub use tokio::sync;

#[cfg(simloop)]
pub use sim::unsimulated::io;

#[cfg(all(simloop, feature = "net"))]
pub use sim::unsimulated::net;

#[cfg(all(simloop, feature = "fs"))]
pub use sim::unsimulated::fs;

#[cfg(all(simloop, feature = "process"))]
pub use sim::unsimulated::process;

#[cfg(all(simloop, feature = "signal"))]
pub use sim::unsimulated::signal;

#[cfg(all(simloop, feature = "macros"))]
pub use tokio::{join, try_join};

#[cfg(simloop)]
pub use tokio::pin;

#[cfg(all(simloop, feature = "rt"))]
pub use tokio::task_local;

#[cfg(all(simloop, feature = "macros"))]
pub use simloop_macros::{tokio_main as main, tokio_test as test};

/// simloop itself, for the simulator's own API inside tokio tests (`explore`, traces,
/// replay tokens). Only in `--cfg simloop` builds.
#[cfg(simloop)]
pub use simloop;

/// Waits on several futures at once and runs the branch of the first to complete; tokio's
/// syntax (`biased;`, `pattern = future, if condition => handler`, `else => ...`). The
/// starting branch, which tokio draws at random, is a choice of the loop's schedule: the
/// first branch under FIFO, varied by exploration, repeated by a replay token. With
/// `biased;` it is always the first.
#[cfg(all(simloop, feature = "macros"))]
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__simloop::tokio_select! { $crate; $($tokens)* }
    };
}

#[cfg(simloop)]
#[doc(hidden)]
pub use sim::support as __simloop;
