//! The TTL cache of `examples/ttl_cache.rs`: the example's output line by line, one scenario
//! with every result and instant written out by hand, and a property test against the
//! reference model of `support/ttl_cache_scenario.rs` (which the `ttl_cache` fuzz target
//! shares; `tests/fuzz_corpus.rs` replays its corpus).

#[path = "../examples/ttl_cache.rs"]
#[allow(dead_code)]
mod ttl_cache;

#[path = "support/ttl_cache_scenario.rs"]
mod ttl_cache_scenario;

use proptest::collection::vec;
use proptest::prelude::*;
use ttl_cache_scenario::{check, run_model, run_real, Op};

#[test]
fn the_demo_prints_every_event_at_its_virtual_instant() {
    // k1 (ttl 2s) is live at 1.999s and expired at exactly 2s; the load of k3 starts at 2s
    // and takes 500ms, so k3 expires at 4.5s; the sweeper runs at 3s, 6s and 9s and evicts
    // what has expired by then; k2 (ttl 7s) reads as expired at 7s until the 9s sweep.
    assert_eq!(
        ttl_cache::demo(),
        [
            "[0s] insert k1 = v1 (ttl 2s)",
            "[0s] insert k2 = v2 (ttl 7s)",
            "[1.999s] get k1 -> hit v1",
            "[2s] get k1 -> miss (expired)",
            "[2s] get k3 -> miss (absent)",
            "[2s] load k3: fetching (takes 500ms)",
            "[2.5s] get_or_load k3 -> v3 (expires at 4.5s)",
            "[3s] sweeper evicts [\"k1\"]",
            "[3.5s] get_or_load k3 -> v3 (cached, no load)",
            "[6s] sweeper evicts [\"k3\"]",
            "[6.5s] live keys [\"k2\"]",
            "[7s] get k2 -> miss (expired)",
            "[7s] stored entries 1",
            "[9s] sweeper evicts [\"k2\"]",
            "[9.5s] stored entries 0",
        ]
    );
}

#[test]
fn a_scenario_on_the_boundaries_gives_exactly_these_results() {
    use Op::*;
    let ops = [
        Insert {
            key: 1,
            value: 10,
            ttl: None, // the default 10ms: live until 10ms, exclusive
        },
        Insert {
            key: 2,
            value: 20,
            ttl: Some(0), // a zero TTL stores an entry that is expired at once
        },
        Get(2),
        Sleep(9),
        Get(1),
        Sleep(1),
        Get(1),
        Insert {
            key: 1,
            value: 11,
            ttl: Some(5),
        },
        Load {
            key: 1,
            value: 12,
            latency: 4,
        },
        Load {
            key: 3,
            value: 30,
            latency: 15,
        },
        List,
        Purge,
        Remove(3),
        Remove(3),
        Get(5), // keys are taken modulo 4: k1
    ];
    let expected = [
        "[0ns] insert k1=10 -> previous None",
        "[0ns] insert k2=20 ttl 0ns -> previous None",
        "[0ns] get k2 -> expired",
        "[9ms] sleep 9ms -> ok",
        "[9ms] get k1 -> hit 10",
        "[10ms] sleep 1ms -> ok",
        "[10ms] get k1 -> expired",
        // The old k1 expired at 10ms, so there is no live previous value.
        "[10ms] insert k1=11 ttl 5ms -> previous None",
        "[10ms] load k1 (loader: 12 after 4ms) -> 11 (cached)",
        // The load runs 10ms..25ms; k1 expired at 15ms meanwhile; k3 lives until 35ms.
        "[25ms] load k3 (loader: 30 after 15ms) -> 30 (loaded)",
        "[25ms] list -> live [k3] stored 3",
        "[25ms] purge -> purged [k1, k2]",
        "[25ms] remove k3 -> removed Some(30)",
        "[25ms] remove k3 -> removed None",
        "[25ms] get k1 -> missing",
    ];
    assert_eq!(run_real(&ops), expected);
    assert_eq!(run_model(&ops), expected);
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..16).prop_map(Op::Sleep),
        3 => (0..ttl_cache_scenario::KEYS, any::<u8>(), proptest::option::of(0u8..32))
            .prop_map(|(key, value, ttl)| Op::Insert { key, value, ttl }),
        4 => (0..ttl_cache_scenario::KEYS).prop_map(Op::Get),
        1 => (0..ttl_cache_scenario::KEYS).prop_map(Op::Remove),
        2 => (0..ttl_cache_scenario::KEYS, any::<u8>(), 0u8..16)
            .prop_map(|(key, value, latency)| Op::Load { key, value, latency }),
        1 => Just(Op::Purge),
        1 => Just(Op::List),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Every result of every op, and the instant it completed at, equals the model's.
    #[test]
    fn the_cache_matches_the_model(ops in vec(op(), 0..48)) {
        check(&ops).map_err(TestCaseError::fail)?;
    }
}
