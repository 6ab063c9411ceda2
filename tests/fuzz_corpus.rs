//! Replays the checked-in cargo-fuzz corpus on stable: every file in `fuzz/corpus/ops/` and
//! `fuzz/corpus/schedule/` goes through the same function the fuzz target calls
//! (`support/contract.rs`), and every file in `fuzz/corpus/ttl_cache/` through the body of the
//! `ttl_cache` target (`support/ttl_cache_scenario.rs`). Every crash the fuzzer finds is added
//! to the corpus, so it stays fixed.

#[path = "support/contract.rs"]
mod contract;

#[path = "../examples/ttl_cache.rs"]
#[allow(dead_code)]
mod ttl_cache;

#[path = "support/ttl_cache_scenario.rs"]
mod ttl_cache_scenario;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Option<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(target);
    if !dir.is_dir() {
        // The published package leaves `fuzz/` out.
        eprintln!("skipping: {} does not exist", dir.display());
        return None;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    Some(files)
}

fn replay(target: &str, body: fn(&[u8])) {
    let Some(files) = corpus(target) else { return };
    let mut failures = Vec::new();
    for path in &files {
        let data = std::fs::read(path).expect("corpus file");
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| body(&data))) {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}:\n{message}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus inputs of `{target}` fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn ops_corpus() {
    replay("ops", contract::fuzz_ops);
}

#[test]
fn schedule_corpus() {
    replay("schedule", contract::fuzz_schedule);
}

#[test]
fn ttl_cache_corpus() {
    replay("ttl_cache", ttl_cache_scenario::fuzz);
}
