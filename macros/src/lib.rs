//! The procedural macros behind simloop's test attribute. Use them through the `simloop`
//! crate (`#[simloop::test]`, feature `macros`), which this crate's expansions refer to.
//!
//! This crate is a skeleton for now: the attribute arrives with the next release.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
