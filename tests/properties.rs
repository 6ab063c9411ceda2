//! Property tests: for arbitrary programs of `call_soon`/`call_later`/`call_at`, cancels,
//! tasks that sleep, yield, wait and signal, `stop` and the run calls, the loop does exactly
//! what the reference model in `support/contract.rs` (written from SPEC §3.1/§3.2) predicts,
//! and keeps its invariants.
//!
//! `PROPTEST_CASES=10000 cargo test --test properties` for a longer run. A failure prints
//! the shrunk program, the loop's log and the model's log, and is saved in
//! `tests/properties.proptest-regressions` so that it is replayed first next time.

#[path = "support/contract.rs"]
mod contract;

use contract::{At, Chan, Model, Ms, Op, Step, Steps, Then, CHANS, MAX_STEPS, MS};
use proptest::collection::vec;
use proptest::prelude::*;

fn ms() -> impl Strategy<Value = Ms> {
    (0u8..5).prop_map(Ms)
}

fn at() -> impl Strategy<Value = At> {
    (0u8..12).prop_map(At)
}

fn chan() -> impl Strategy<Value = Chan> {
    (0..CHANS as u8).prop_map(Chan)
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        ms().prop_map(Step::Sleep),
        Just(Step::Yield),
        chan().prop_map(Step::Wait),
        chan().prop_map(Step::Signal),
        (ms(), chan()).prop_map(|(d, c)| Step::Race(d, c)),
    ]
}

fn steps() -> impl Strategy<Value = Steps> {
    vec(step(), 0..=MAX_STEPS).prop_map(Steps)
}

/// Alternatives are listed simplest first: proptest shrinks toward the first.
fn then() -> impl Strategy<Value = Then> {
    prop_oneof![
        3 => Just(Then::Nothing),
        1 => Just(Then::CallSoon),
        1 => ms().prop_map(Then::CallLater),
        1 => (0u8..16).prop_map(Then::Cancel),
        1 => Just(Then::Stop),
        1 => chan().prop_map(Then::Signal),
        1 => steps().prop_map(Then::Spawn),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => then().prop_map(Op::CallSoon),
        3 => (ms(), then()).prop_map(|(d, t)| Op::CallLater(d, t)),
        2 => (at(), then()).prop_map(|(a, t)| Op::CallAt(a, t)),
        2 => steps().prop_map(Op::Spawn),
        2 => (0u8..16).prop_map(Op::Cancel),
        2 => Just(Op::RunOnce),
        1 => Just(Op::Run),
        1 => at().prop_map(Op::RunUntil),
        1 => ms().prop_map(Op::Advance),
        1 => Just(Op::Stop),
    ]
}

fn program() -> impl Strategy<Value = Vec<Op>> {
    vec(op(), 0..32)
}

proptest! {

    /// The loop's event log (what ran, at which instant, in which iteration) equals the
    /// model's.
    #[test]
    fn loop_matches_model(ops in program()) {
        contract::check_model(&ops).map_err(TestCaseError::fail)?;
    }

    /// Virtual time and iterations never go backwards.
    #[test]
    fn time_never_goes_backwards(ops in program()) {
        contract::check_time(&ops).map_err(TestCaseError::fail)?;
    }

    /// Every live timer fires exactly once, at exactly its deadline.
    #[test]
    fn live_timers_fire_once_at_their_deadline(ops in program()) {
        contract::check_timers(&ops).map_err(TestCaseError::fail)?;
    }

    /// A cancelled callback or timer never runs; a cancelled task is never polled again.
    #[test]
    fn cancelled_never_runs(ops in program()) {
        contract::check_cancel(&ops).map_err(TestCaseError::fail)?;
    }

    /// Two runs of one program give identical traces.
    #[test]
    fn runs_are_deterministic(ops in program()) {
        contract::check_determinism(&ops).map_err(TestCaseError::fail)?;
    }

    /// `close()` runs every pending destructor exactly once, and leaves the loop inert.
    #[test]
    fn close_drops_everything_once(ops in program()) {
        contract::check_close(&ops).map_err(TestCaseError::fail)?;
    }
}

// Pinned programs: the model itself against logs worked out by hand from the SPEC, so that
// a wrong model cannot agree with a wrong loop unnoticed; each also goes through every check.

fn labels(model: &Model) -> Vec<String> {
    model
        .log
        .iter()
        .map(|r| format!("{}ms it{} {}", r.at / MS, r.iteration, r.label))
        .collect()
}

fn pinned(ops: &[Op], expected: &[&str]) {
    assert_eq!(labels(&Model::run(ops)), expected, "model, for {ops:?}");
    contract::check_all(ops).unwrap();
}

#[test]
fn sleep_resumes_one_iteration_after_its_timer() {
    // The crate docs' example: both timers fire at 1 ms in registration order, the task's
    // step comes one iteration later.
    pinned(
        &[
            Op::Spawn(Steps(vec![Step::Sleep(Ms(1))])),
            Op::CallLater(Ms(1), Then::Nothing),
            Op::Run,
        ],
        &[
            "0ms it1 t0#1",
            "1ms it2 c1",
            "1ms it3 t0#2",
            "1ms it3 t0 done",
            "1ms it3 =run ok",
        ],
    );
}

#[test]
fn equal_deadlines_fire_in_registration_order_behind_the_queue() {
    pinned(
        &[
            Op::CallAt(At(2), Then::Nothing),
            Op::CallLater(Ms(2), Then::CallSoon),
            Op::CallLater(Ms(0), Then::Nothing),
            Op::CallSoon(Then::Nothing),
            Op::Run,
        ],
        &[
            // A zero delay is a timer due now: promoted behind the queued callback.
            "0ms it1 c3",
            "0ms it1 c2",
            "2ms it2 c0",
            "2ms it2 c1",
            "2ms it3 c4",
            "2ms it3 =run ok",
        ],
    );
}

#[test]
fn stop_before_a_run_gives_one_iteration_without_moving_the_clock() {
    pinned(
        &[
            Op::CallLater(Ms(3), Then::Nothing),
            Op::Stop,
            Op::Run,
            Op::Stop,
            Op::RunUntil(At(5)),
            Op::Run,
        ],
        &[
            "0ms it1 =run ok",
            "0ms it2 =run_until ok",
            "3ms it3 c0",
            "3ms it3 =run ok",
        ],
    );
}

#[test]
fn stop_in_a_callback_ends_the_run_after_its_iteration() {
    pinned(
        &[
            Op::CallSoon(Then::Stop),
            Op::CallSoon(Then::CallSoon),
            Op::CallLater(Ms(1), Then::Nothing),
            Op::Run,
            Op::Advance(Ms(4)),
        ],
        &[
            "0ms it1 c0",
            "0ms it1 c1",
            "0ms it1 =run ok",
            "0ms it2 c3",
            "1ms it3 c2",
            // Nothing left at or before 4 ms: the clock is set to the target.
            "4ms it3 =advance ok",
        ],
    );
}

#[test]
fn run_until_runs_what_is_due_then_sets_the_clock() {
    pinned(
        &[
            Op::CallAt(At(3), Then::Nothing),
            Op::CallAt(At(6), Then::Nothing),
            Op::RunUntil(At(4)),
            Op::RunOnce,
            Op::RunOnce,
            Op::RunUntil(At(2)),
        ],
        &[
            "3ms it1 c0",
            "4ms it1 =run_until ok",
            "6ms it2 c1",
            "6ms it2 =run_once ok",
            // Idle: run_once does nothing, not even an iteration.
            "6ms it2 =run_once ok",
            // Never backwards.
            "6ms it2 =run_until ok",
        ],
    );
}

#[test]
fn cancel_prevents_running_and_never_attracts_the_clock() {
    pinned(
        &[
            Op::CallLater(Ms(4), Then::Nothing),
            Op::CallSoon(Then::Cancel(0)),
            Op::CallSoon(Then::Nothing),
            Op::Cancel(2),
            Op::Run,
            Op::Cancel(0),
        ],
        &[
            "0ms it0 x2=true",
            "0ms it1 c1",
            "0ms it1 c1 x0=true",
            "0ms it1 =run ok",
            "0ms it1 x0=false",
        ],
    );
}

#[test]
fn yield_and_cross_task_wakes() {
    pinned(
        &[
            Op::Spawn(Steps(vec![Step::Wait(Chan(0)), Step::Yield])),
            Op::Spawn(Steps(vec![Step::Yield, Step::Signal(Chan(0))])),
            Op::Run,
        ],
        &[
            "0ms it1 t0#1",
            "0ms it1 t1#1",
            "0ms it2 t1#2",
            "0ms it2 t1 done",
            "0ms it3 t0#2",
            "0ms it4 t0#3",
            "0ms it4 t0 done",
            "0ms it4 =run ok",
        ],
    );
}

#[test]
fn a_task_cancelled_before_its_first_poll_never_runs() {
    pinned(
        &[
            Op::Spawn(Steps(vec![Step::Sleep(Ms(2))])),
            Op::Spawn(Steps(vec![Step::Sleep(Ms(1))])),
            Op::Cancel(0),
            Op::RunOnce,
            Op::Cancel(1),
            Op::Run,
        ],
        &[
            "0ms it0 x0=true",
            "0ms it1 t1#1",
            "0ms it1 =run_once ok",
            "0ms it1 x1=true",
            // The cancelled sleep's timer does not attract the clock.
            "0ms it2 =run ok",
        ],
    );
}

#[test]
fn a_task_woken_twice_in_one_iteration_is_polled_once() {
    // The sleep's timer and the signal both wake the racing task at 1 ms: one poll, and the
    // sleep wins because `select` polls it first.
    pinned(
        &[
            Op::Spawn(Steps(vec![Step::Race(Ms(1), Chan(0))])),
            Op::CallLater(Ms(1), Then::Signal(Chan(0))),
            Op::Run,
        ],
        &[
            "0ms it1 t0#1",
            "1ms it2 c1",
            "1ms it3 t0#2",
            "1ms it3 t0 done",
            "1ms it3 =run ok",
        ],
    );
}
