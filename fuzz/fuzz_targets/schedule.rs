//! Timers crowded onto three deadlines and tasks that wake each other, checked against the
//! reference model. Until schedule exploration lands this runs the FIFO schedule; then the
//! input's tail becomes the schedule. The body is shared with `tests/fuzz_corpus.rs`, which
//! replays `fuzz/corpus/schedule/` on stable.
#![no_main]

#[path = "../../tests/support/contract.rs"]
mod contract;

libfuzzer_sys::fuzz_target!(|data: &[u8]| contract::fuzz_schedule(data));
