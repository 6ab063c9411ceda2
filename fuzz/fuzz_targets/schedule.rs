//! Timers crowded onto three deadlines and tasks that wake each other; the input's tail is
//! the schedule (`Schedule::from_bytes`), and the run is checked for what holds under every
//! schedule (and against the reference model when every choice was FIFO). The body is shared
//! with `tests/fuzz_corpus.rs`, which replays `fuzz/corpus/schedule/` on stable.
#![no_main]

#[path = "../../tests/support/contract.rs"]
mod contract;

libfuzzer_sys::fuzz_target!(|data: &[u8]| contract::fuzz_schedule(data));
