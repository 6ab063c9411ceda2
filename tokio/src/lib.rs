//! tokio code, unchanged, on simloop's virtual clock.
//!
//! A skeleton for now: the drop-in (`tokio = { package = "simloop-tokio", ... }`, and the
//! `--cfg simloop` build that runs `tokio::time`, `tokio::task` and `tokio::runtime` on the
//! current simloop loop) is being built. Until it lands, pass a clock into your components
//! (see simloop's crate docs).

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
