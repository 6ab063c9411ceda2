//! The loop itself: its state, the iteration (the ordering contract), task and callback steps,
//! close, and the public `EventLoop`, `Handle` and free functions that reach it.

pub(crate) mod callback;
pub(crate) mod context;
pub(crate) mod core;
pub(crate) mod event_loop;
pub(crate) mod handle;
pub(crate) mod ready;
