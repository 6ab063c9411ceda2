//! Decodes a list of timed cache operations from the input (`arbitrary`), runs it on the
//! `TtlCache` of `examples/ttl_cache.rs` over simloop's virtual clock, and checks every
//! result and instant against the reference model. The body is shared with
//! `tests/ttl_cache.rs` (proptest) and `tests/fuzz_corpus.rs`, which replays
//! `fuzz/corpus/ttl_cache/` on stable.
#![no_main]

#[path = "../../examples/ttl_cache.rs"]
#[allow(dead_code)]
mod ttl_cache;

#[path = "../../tests/support/ttl_cache_scenario.rs"]
mod ttl_cache_scenario;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ttl_cache_scenario::fuzz(data));
