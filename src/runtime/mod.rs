//! The loop itself: its state, the iteration (the ordering contract, `iteration.rs`), the
//! steps, close, and the public `EventLoop`, `Handle` and free functions that reach it.

pub(crate) mod callback;
mod close;
pub(crate) mod context;
pub(crate) mod core;
mod diagnose;
pub(crate) mod event_loop;
pub(crate) mod footprint;
pub(crate) mod handle;
pub(crate) mod iteration;
mod lookahead;
pub(crate) mod ready;
pub(crate) mod state;
mod step;
pub(crate) mod wake_timer;
