//! The three programs of `examples/guide.rs`, asserted line by line: every event at its
//! virtual instant, in the order the ordering contract (SPEC §3.1, §3.2) fixes.

#[allow(dead_code)]
#[path = "../examples/guide.rs"]
mod guide;

#[test]
fn scheduling_prints_hello_at_0_1_and_2s_then_stops_at_2_5s() {
    // `enter(&hello)` runs the first hello before the loop starts; the scheduled stop at
    // 2.5 s ends `run_forever`, and the clock reads the stop's instant afterwards.
    assert_eq!(
        guide::scheduling(),
        [
            "[0s] hello",
            "[0s] starting event loop",
            "[1s] hello",
            "[2s] hello",
            "[2.5s] loop stopped",
        ]
    );
}

#[test]
fn waiting_runs_the_timer_while_the_main_future_awaits_the_task() {
    assert_eq!(
        guide::waiting(),
        [
            "[0s] need to compute something",
            "[0s] starting long non blocking task",
            "[2s] See, I'm not blocked",
            "[3s] done with non blocking task",
            "[3s] result is 42",
            "[3s] all done",
        ]
    );
}

#[test]
fn coroutines_in_the_future_start_when_their_spawning_callback_runs() {
    // 0s: the call_soon callback spawns 'soon', whose first step runs in the next iteration
    // at 0s and sleeps until 1s. 0.5s: the timer's callback spawns 'later', which starts at
    // 0.5s and sleeps until 1.5s. The loop is idle, and the clock stays, at 1.5s.
    assert_eq!(
        guide::coroutines_in_the_future(),
        [
            "[0s] starting event loop",
            "[0s] call_soon callback spawns 'soon'",
            "[0s] soon: coroutine starts",
            "[0.5s] call_later callback spawns 'later'",
            "[0.5s] later: coroutine starts",
            "[1s] soon: coroutine ends",
            "[1.5s] later: coroutine ends",
            "[1.5s] loop is idle",
        ]
    );
}
