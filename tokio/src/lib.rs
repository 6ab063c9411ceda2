//! tokio code, unchanged, on simloop's virtual clock.
//!
//! (Crate docs: see below; filled in later.)

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
