//! A seed sweep split into [`CHUNKS`] tests, so that `cargo nextest run --partition hash:k/n`
//! spreads it over machines (SPEC §8). Each test `chunk_NN` runs its share,
//! [`seed_chunk`]`(range, NN, CHUNKS)`, of the seed range `SIMLOOP_SEEDS=start..end` (by
//! default [`DEFAULT_SEEDS`], which keeps `cargo test` fast):
//!
//! ```text
//! SIMLOOP_SEEDS=0..100000 cargo nextest run --test sweep --partition hash:1/4   # machine 1
//! SIMLOOP_SEEDS=0..100000 cargo nextest run --test sweep --partition hash:4/4   # machine 4
//! ```
//!
//! Each chunk is an ordinary [`explore`] call with [`Explore::chunk`], so a failure comes
//! shrunk, with its replay token and trace.

use std::cell::Cell;
use std::ops::Range;
use std::rc::Rc;

use futures::lock::Mutex;
use simloop::{explore, seed_chunk, sleep, yield_now, EventLoop, Explore, Search};

#[path = "support/log.rs"]
mod log;
use log::ms;

/// How many tests the sweep is split into.
const CHUNKS: u64 = 64;

/// The seeds swept when `SIMLOOP_SEEDS` is unset: 10 per chunk.
const DEFAULT_SEEDS: Range<u64> = 0..640;

/// Three workers each add 1 to a shared counter three times, holding an async mutex across
/// a yield and a sleep between reading the counter and writing it back. The scenario checks
/// that at most one worker was ever inside the critical section and that no update was
/// lost. With `locked` false the workers skip the mutex.
fn counter_scenario(lp: &mut EventLoop, locked: bool) -> Result<(), String> {
    let lock = Rc::new(Mutex::new(()));
    let counter = Rc::new(Cell::new(0u32));
    let inside = Rc::new(Cell::new(0u32));
    let most_inside = Rc::new(Cell::new(0u32));
    for worker in 0..3u64 {
        let (lock, counter) = (lock.clone(), counter.clone());
        let (inside, most_inside) = (inside.clone(), most_inside.clone());
        lp.spawn_named(&format!("worker {worker}"), async move {
            for _ in 0..3 {
                let guard = if locked {
                    Some(lock.lock().await)
                } else {
                    None
                };
                inside.set(inside.get() + 1);
                most_inside.set(most_inside.get().max(inside.get()));
                let seen = counter.get();
                yield_now().await;
                sleep(ms(1 + worker)).await;
                counter.set(seen + 1);
                inside.set(inside.get() - 1);
                drop(guard);
            }
        });
    }
    lp.run().map_err(|e| e.to_string())?;
    match (most_inside.get(), counter.get()) {
        (1, 9) => Ok(()),
        (n, total) => Err(format!(
            "{n} workers were inside the critical section at once; the counter is {total}, not 9"
        )),
    }
}

/// The exploration of chunk `index`: random schedules for even seeds, PCT with depth 3 for
/// odd ones, timers up to 1 ms late.
fn chunk(index: u64) -> Explore {
    Explore::new()
        .seeds(DEFAULT_SEEDS)
        .chunk(index, CHUNKS)
        .strategy(Search::Mixed { depth: 3 })
        .timer_jitter(ms(1))
}

/// The test body of chunk `index`.
fn run_chunk(index: u64) {
    let config = chunk(index);
    let seeds = config.seed_range();
    match explore(&config, |lp| counter_scenario(lp, true)) {
        Ok(explored) => assert_eq!(explored.runs, seeds.end - seeds.start),
        Err(failure) => panic!("chunk {index} of {CHUNKS}: {failure}"),
    }
}

/// One test per chunk: `chunk_NN` sweeps chunk `NN` of the seed range.
macro_rules! chunk_tests {
    ($($name:ident = $index:literal),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_chunk($index);
            }
        )*
        /// The number of generated chunk tests, checked against `CHUNKS`.
        const GENERATED: u64 = [$($index),*].len() as u64;
    };
}

chunk_tests! {
    chunk_00 = 0, chunk_01 = 1, chunk_02 = 2, chunk_03 = 3,
    chunk_04 = 4, chunk_05 = 5, chunk_06 = 6, chunk_07 = 7,
    chunk_08 = 8, chunk_09 = 9, chunk_10 = 10, chunk_11 = 11,
    chunk_12 = 12, chunk_13 = 13, chunk_14 = 14, chunk_15 = 15,
    chunk_16 = 16, chunk_17 = 17, chunk_18 = 18, chunk_19 = 19,
    chunk_20 = 20, chunk_21 = 21, chunk_22 = 22, chunk_23 = 23,
    chunk_24 = 24, chunk_25 = 25, chunk_26 = 26, chunk_27 = 27,
    chunk_28 = 28, chunk_29 = 29, chunk_30 = 30, chunk_31 = 31,
    chunk_32 = 32, chunk_33 = 33, chunk_34 = 34, chunk_35 = 35,
    chunk_36 = 36, chunk_37 = 37, chunk_38 = 38, chunk_39 = 39,
    chunk_40 = 40, chunk_41 = 41, chunk_42 = 42, chunk_43 = 43,
    chunk_44 = 44, chunk_45 = 45, chunk_46 = 46, chunk_47 = 47,
    chunk_48 = 48, chunk_49 = 49, chunk_50 = 50, chunk_51 = 51,
    chunk_52 = 52, chunk_53 = 53, chunk_54 = 54, chunk_55 = 55,
    chunk_56 = 56, chunk_57 = 57, chunk_58 = 58, chunk_59 = 59,
    chunk_60 = 60, chunk_61 = 61, chunk_62 = 62, chunk_63 = 63,
}

const _: () = assert!(GENERATED == CHUNKS, "one chunk test per chunk");

/// The chunks of `range`, in order.
fn chunks(range: Range<u64>, count: u64) -> Vec<Range<u64>> {
    (0..count)
        .map(|i| seed_chunk(range.clone(), i, count))
        .collect()
}

#[test]
fn seed_chunks_tile_the_range_exactly_once() {
    let starts = [0, 1, 7, 1_000, u64::MAX - 200_000];
    let lens = [0, 1, 2, 9, 63, 64, 65, 100, 640, 1_000, 100_000];
    let counts = [1, 2, 3, 4, 7, 63, 64, 65, 100, 1_000];
    for start in starts {
        for len in lens {
            let range = start..start + len;
            for count in counts {
                let all = chunks(range.clone(), count);
                let ctx = format!("{range:?} in {count} chunks");
                // Contiguous and in order: the union is the range, with no overlap.
                assert_eq!(all[0].start, range.start, "{ctx}");
                assert_eq!(all[all.len() - 1].end, range.end, "{ctx}");
                for pair in all.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start, "{ctx}");
                }
                // Sizes differ by at most one, the larger chunks first.
                let sizes: Vec<u64> = all.iter().map(|c| c.end - c.start).collect();
                let (lo, hi) = (len / count, len.div_ceil(count));
                assert!(
                    sizes.iter().all(|&s| s == lo || s == hi),
                    "{ctx}: {sizes:?}"
                );
                assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{ctx}: {sizes:?}");
                assert_eq!(sizes.iter().sum::<u64>(), len, "{ctx}");
            }
        }
    }
    // Seed by seed, on small ranges: every seed lies in exactly one chunk.
    for len in 0..40 {
        for count in 1..12 {
            let all = chunks(3..3 + len, count);
            for seed in 0..len + 6 {
                let owners = all.iter().filter(|c| c.contains(&seed)).count();
                assert_eq!(owners, usize::from((3..3 + len).contains(&seed)));
            }
        }
    }
}

#[test]
fn seed_chunks_of_a_hundred_thousand_seeds_over_64_tests() {
    let all = chunks(0..100_000, 64);
    let sizes: Vec<u64> = all.iter().map(|c| c.end - c.start).collect();
    let mut expected = vec![1563; 32];
    expected.extend([1562; 32]);
    assert_eq!(sizes, expected);
    assert_eq!(all[0], 0..1563);
    assert_eq!(all[31], 48_453..50_016);
    assert_eq!(all[32], 50_016..51_578);
    assert_eq!(all[63], 98_438..100_000);
    // And the default range: 10 seeds per chunk.
    assert_eq!(
        chunks(DEFAULT_SEEDS, CHUNKS),
        (0..64).map(|i| i * 10..i * 10 + 10).collect::<Vec<_>>()
    );
}

#[test]
#[should_panic(expected = "seed_chunk: chunk 64 of 64 does not exist (index must be < count)")]
fn seed_chunk_rejects_an_index_past_the_count() {
    let _ = seed_chunk(0..100, 64, 64);
}

#[test]
fn the_sweep_reports_a_failing_seed_with_a_token_that_replays_it() {
    // Without the mutex the workers lose updates, and the chunk says where.
    let failure = explore(&chunk(0), |lp| counter_scenario(lp, false)).unwrap_err();
    let message = "3 workers were inside the critical section at once; the counter is 3, not 9";
    assert_eq!((failure.seed, failure.message.as_str()), (Some(0), message));
    let mut lp = EventLoop::builder()
        .schedule(failure.schedule.clone())
        .build();
    assert_eq!(counter_scenario(&mut lp, false), Err(message.to_string()));
}

#[test]
fn explore_chunks_cover_the_configured_range_exactly_once() {
    let ranges: Vec<_> = (0..CHUNKS).map(|i| chunk(i).seed_range()).collect();
    if simloop::seeds_from_env().is_none() {
        assert_eq!(ranges[0], 0..10);
        assert_eq!(ranges[63], 630..640);
    }
    for pair in ranges.windows(2) {
        assert_eq!(pair[0].end, pair[1].start);
    }
}
