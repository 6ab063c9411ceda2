//! The `--cfg simloop` build: tokio's API on the current simloop loop.

#![cfg_attr(not(feature = "full"), allow(dead_code, unused_imports))]

pub(crate) mod context;
#[cfg(feature = "rt")]
pub mod runtime;
#[doc(hidden)]
pub mod support;
#[cfg(feature = "rt")]
pub mod task;
#[cfg(feature = "time")]
pub mod time;
pub mod unsimulated;
