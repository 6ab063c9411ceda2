//! Decodes a program of loop operations from the input (`arbitrary`), runs it on a real
//! `EventLoop` and checks it against the reference model and the contract's invariants.
//! The body is shared with `tests/fuzz_corpus.rs`, which replays `fuzz/corpus/ops/` on
//! stable.
#![no_main]

#[path = "../../tests/support/contract.rs"]
mod contract;

libfuzzer_sys::fuzz_target!(|data: &[u8]| contract::fuzz_ops(data));
