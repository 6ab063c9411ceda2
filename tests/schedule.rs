//! Schedules (SPEC §5): FIFO-equivalent schedules change nothing, `from_bytes` reads its
//! choices like `arbitrary::Unstructured`, replay tokens round-trip and replay runs exactly,
//! exploring schedules reorder only what the contract leaves open, timer jitter stays in its
//! bound, `check_determinism` finds a global, the proptest strategy shrinks toward FIFO, and
//! `explore` sweeps the seeds it is given.
//!
//! Every run here is virtual: no wall clock. The proptest case counts are small so that the
//! file runs in a few seconds in debug; `PROPTEST_CASES` raises them.

#[path = "support/contract.rs"]
mod contract;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arbitrary::Unstructured;
use contract::{At, Chan, Ms, Op, Step, Steps, Then, CHANS, MAX_STEPS};
use futures::channel::mpsc;
use futures::StreamExt;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};
use simloop::{
    check_determinism, explore, mark, seeds_from_env, sleep, yield_now, Event, EventLoop, Explore,
    Instant, LoopError, Schedule, Search, TraceEvent,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn at_ms(n: u64) -> Instant {
    Instant::ZERO + ms(n)
}

fn traced(schedule: Schedule) -> EventLoop {
    EventLoop::builder().trace(true).schedule(schedule).build()
}

fn events(lp: &EventLoop) -> Vec<TraceEvent> {
    lp.trace().events().to_vec()
}

/// The labels of the trace marks, in order.
fn marks(lp: &EventLoop) -> Vec<String> {
    lp.trace()
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::Mark(label) => Some(label.clone()),
            _ => None,
        })
        .collect()
}

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Three tasks whose sleeps collide at 1 ms and 2 ms and that send on a channel, `call_soon`
/// callbacks (some scheduled by the tasks), timers with equal deadlines, and a receiver task
/// awaited by the main future. Returns the main future's output, which depends on the order
/// the messages arrived in.
fn mixed(lp: &mut EventLoop) -> Result<u64, LoopError> {
    let (tx, mut rx) = mpsc::unbounded::<u64>();
    for i in 0..3u64 {
        let tx = tx.clone();
        lp.spawn(async move {
            mark(format!("t{i} start"));
            sleep(ms(1 + i % 2)).await;
            tx.unbounded_send(i).unwrap();
            simloop::call_soon(move || mark(format!("t{i} cb")));
            yield_now().await;
            sleep(ms(1)).await;
            tx.unbounded_send(10 + i).unwrap();
            mark(format!("t{i} end"));
        });
    }
    drop(tx);
    for i in 0..3 {
        lp.call_soon(move || mark(format!("cb{i}")));
    }
    for i in 0..3 {
        lp.call_later(ms(1), move || mark(format!("timer{i} at 1ms")));
    }
    lp.call_later(ms(2), || mark("timer at 2ms"));
    let receiver = lp.spawn(async move {
        let mut acc = 0u64;
        while let Some(v) = rx.next().await {
            mark(format!("recv {v}"));
            acc = acc * 31 + v;
        }
        acc
    });
    lp.run_until_complete(async move { receiver.await.unwrap() })
}

/// A run of [`mixed`] under `schedule`: output, trace events, schedule taken.
fn run_mixed(schedule: Schedule) -> (u64, Vec<TraceEvent>, Schedule) {
    let mut lp = traced(schedule);
    let out = mixed(&mut lp).expect("the mixed scenario completes under any schedule");
    (out, events(&lp), lp.schedule_taken())
}

/// Schedules that take only FIFO choices.
fn fifo_equivalents() -> Vec<Schedule> {
    vec![
        Schedule::from_choices(vec![]),
        Schedule::from_choices(vec![0; 300]),
        Schedule::from_bytes(&[]),
        Schedule::from_bytes(&[0; 300]),
        // Jitter whose every choice is 0 adds nothing.
        Schedule::Fifo.with_timer_jitter(ms(5)),
        Schedule::from_choices(vec![0; 8]).with_timer_jitter(ms(5)),
    ]
}

// ---------------------------------------------------------------------------------------
// Generated programs (the operations of `support/contract.rs`)
// ---------------------------------------------------------------------------------------

/// Delays of 0..=2 ms and instants of 0..=3 ms: deadlines collide often.
fn step() -> impl Strategy<Value = Step> {
    let ms = (0u8..3).prop_map(Ms);
    let chan = (0..CHANS as u8).prop_map(Chan);
    prop_oneof![
        ms.clone().prop_map(Step::Sleep),
        Just(Step::Yield),
        chan.clone().prop_map(Step::Wait),
        chan.clone().prop_map(Step::Signal),
        (ms, chan).prop_map(|(d, c)| Step::Race(d, c)),
    ]
}

fn steps() -> impl Strategy<Value = Steps> {
    vec(step(), 0..=MAX_STEPS).prop_map(Steps)
}

fn then() -> impl Strategy<Value = Then> {
    prop_oneof![
        3 => Just(Then::Nothing),
        1 => Just(Then::CallSoon),
        1 => (0u8..3).prop_map(|d| Then::CallLater(Ms(d))),
        1 => (0u8..16).prop_map(Then::Cancel),
        1 => Just(Then::Stop),
        1 => (0..CHANS as u8).prop_map(|c| Then::Signal(Chan(c))),
        1 => steps().prop_map(Then::Spawn),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => then().prop_map(Op::CallSoon),
        3 => (0u8..3, then()).prop_map(|(d, t)| Op::CallLater(Ms(d), t)),
        3 => (0u8..4, then()).prop_map(|(a, t)| Op::CallAt(At(a), t)),
        4 => steps().prop_map(Op::Spawn),
        1 => (0u8..16).prop_map(Op::Cancel),
        1 => Just(Op::RunOnce),
        1 => Just(Op::Run),
        1 => (0u8..4).prop_map(|a| Op::RunUntil(At(a))),
        1 => Just(Op::Stop),
    ]
}

fn program() -> impl Strategy<Value = Vec<Op>> {
    vec(op(), 0..24)
}

// ---------------------------------------------------------------------------------------
// FIFO-equivalent schedules
// ---------------------------------------------------------------------------------------

#[test]
fn fifo_equivalent_schedules_give_the_fifo_trace() {
    let (out, fifo, taken) = run_mixed(Schedule::Fifo);
    assert_eq!(taken, Schedule::from_choices(vec![]));
    assert!(fifo.len() > 40, "the scenario does something: {fifo:?}");
    for schedule in fifo_equivalents() {
        let (o, trace, taken) = run_mixed(schedule.clone());
        assert_eq!(trace, fifo, "{schedule}");
        assert_eq!(o, out, "{schedule}");
        assert_eq!(taken.choices(), Some(&[][..]), "{schedule} took {taken}");
    }
    // The scenario leaves choices open: a schedule that deviates changes the trace.
    let (_, other, taken) = run_mixed(Schedule::from_choices(vec![1; 300]));
    assert_ne!(other, fifo);
    assert!(!taken.choices().unwrap().is_empty());
}

proptest! {
    #![proptest_config(cases(48))]

    /// For generated programs (timers crowded onto few deadlines, tasks that sleep, yield,
    /// wait and signal, cancels, stops, run calls), every FIFO-equivalent schedule gives the
    /// trace of `Schedule::Fifo`.
    #[test]
    fn fifo_equivalents_on_generated_programs(program in program()) {
        let ops = contract::drained(&program);
        let fifo = contract::run_real_with(&ops, &Schedule::Fifo);
        for schedule in fifo_equivalents() {
            let out = contract::run_real_with(&ops, &schedule);
            prop_assert_eq!(&out.trace, &fifo.trace, "{}", schedule);
            prop_assert_eq!(out.taken.choices(), Some(&[][..]));
        }
    }
}

// ---------------------------------------------------------------------------------------
// from_bytes reads choices like arbitrary::Unstructured::choose_index
// ---------------------------------------------------------------------------------------

/// `k` ready items of one kind. Timers due together are promoted with choices among
/// `k, k-1, ..., 2` (the k-th timer is then forced); `k` task steps ready together are picked
/// with the same choices. Nothing else is open (the timer callbacks, being callbacks, keep
/// their order once queued; each task finishes in its first step).
fn k_ready(lp: &mut EventLoop, k: usize, tasks: bool) {
    for i in 0..k {
        if tasks {
            lp.spawn(async move { mark(i.to_string()) });
        } else {
            lp.call_later(ms(1), move || mark(i.to_string()));
        }
    }
    lp.run().unwrap();
}

/// The order `choices` (among `k, k-1, ..., 2`) pick `k` items in: each takes the item with
/// that index among those not yet picked.
fn picked(k: usize, choices: &[usize]) -> Vec<String> {
    let mut left: Vec<usize> = (0..k).collect();
    let mut order: Vec<String> = choices
        .iter()
        .map(|&c| left.remove(c).to_string())
        .collect();
    order.extend(left.iter().map(usize::to_string));
    order
}

fn trimmed(mut choices: Vec<u32>) -> Vec<u32> {
    while choices.last() == Some(&0) {
        choices.pop();
    }
    choices
}

fn check_bytes_like_unstructured(k: usize, tasks: bool, bytes: &[u8]) {
    let mut u = Unstructured::new(bytes);
    let expected: Vec<usize> = (2..=k).rev().map(|n| u.choose_index(n).unwrap()).collect();
    let mut lp = traced(Schedule::from_bytes(bytes));
    k_ready(&mut lp, k, tasks);
    assert_eq!(marks(&lp), picked(k, &expected), "k = {k}, bytes {bytes:?}");
    let as_u32: Vec<u32> = expected.iter().map(|&c| c as u32).collect();
    let taken = lp.schedule_taken();
    assert_eq!(taken.choices(), Some(&trimmed(as_u32.clone())[..]));
    // The same choices given as a list give the same run.
    let mut replay = traced(Schedule::from_choices(as_u32));
    k_ready(&mut replay, k, tasks);
    assert_eq!(events(&replay), events(&lp));
}

proptest! {
    #![proptest_config(cases(64))]

    /// Choices among up to 300 options read one or two bytes each, exactly as
    /// `Unstructured::choose_index` does, and 0 once the bytes run out.
    #[test]
    fn from_bytes_chooses_like_unstructured(
        k in prop_oneof![2usize..12, 250usize..300],
        tasks: bool,
        bytes in vec(any::<u8>(), 0..96),
    ) {
        check_bytes_like_unstructured(k, tasks, &bytes);
    }
}

#[test]
fn from_bytes_multi_byte_choices() {
    // 300 options take two bytes, big-endian: 0x0102 = 258 -> 258 % 300 = 258.
    let mut lp = traced(Schedule::from_bytes(&[0x01, 0x02]));
    k_ready(&mut lp, 300, false);
    assert_eq!(marks(&lp)[0], "258");
    assert_eq!(lp.schedule_taken().choices(), Some(&[258][..]));
    // One byte left for a two-byte choice: the number ends early (0xff = 255).
    let mut lp = traced(Schedule::from_bytes(&[0xff]));
    k_ready(&mut lp, 300, false);
    assert_eq!(marks(&lp)[0], "255");
    check_bytes_like_unstructured(300, true, &[0xff, 0xff, 7, 0, 1, 2]);
}

// ---------------------------------------------------------------------------------------
// Replay tokens
// ---------------------------------------------------------------------------------------

#[test]
fn tokens_look_like_the_docs_say() {
    let cases: Vec<(Schedule, &str)> = vec![
        (Schedule::Fifo, "fifo"),
        (Schedule::from_choices(vec![]), "S1"),
        (Schedule::from_choices(vec![0, 0]), "S1"),
        (Schedule::from_choices(vec![1]), "S1:1"),
        (Schedule::from_choices(vec![0, 1]), "S1:0.1"),
        (Schedule::from_choices(vec![0, 0, 0, 1]), "S1:z3.1"),
        (Schedule::from_choices(vec![2, 0, 0, 3, 0, 0]), "S1:2.z2.3"),
        (Schedule::random(7), "random:7"),
        (Schedule::pct(7, 3), "pct:7:3"),
        (Schedule::from_bytes(&[0x0a, 0x1b]), "bytes:0a1b"),
        (Schedule::from_bytes(&[]), "bytes:"),
        (
            Schedule::from_choices(vec![1]).with_timer_jitter(Duration::from_nanos(1500)),
            "S1:1~1500",
        ),
        (
            Schedule::random(1).with_timer_jitter(ms(1)),
            "random:1~1000000",
        ),
        (
            Schedule::random(1).with_timer_jitter(Duration::ZERO),
            "random:1",
        ),
    ];
    for (schedule, token) in cases {
        assert_eq!(schedule.to_string(), token);
        assert_eq!(format!("{schedule:?}"), format!("Schedule({token})"));
    }
    let parsed: Schedule = "S1:z3.1".parse().unwrap();
    assert_eq!(parsed.choices(), Some(&[0, 0, 0, 1][..]));
    let parsed: Schedule = " pct:9:2~10 ".parse().unwrap();
    assert_eq!(
        parsed,
        Schedule::pct(9, 2).with_timer_jitter(Duration::from_nanos(10))
    );
    assert!(Schedule::Fifo.is_fifo());
    assert!(!Schedule::Fifo.with_timer_jitter(ms(1)).is_fifo());
    assert!(!Schedule::from_choices(vec![]).is_fifo());
    assert_eq!(Schedule::default(), Schedule::Fifo);
}

#[test]
fn bad_tokens_are_named_in_the_error() {
    for token in [
        "",
        "FIFO",
        "S2:1",
        "S11",
        "S1:x",
        "S1:1.-2",
        "S1:z",
        "S1:zz3",
        "S1:4294967296",
        "random:",
        "random:-1",
        "random:1:2",
        "pct:1",
        "pct:1:0",
        "pct:x:2",
        "bytes:abc",
        "bytes:zz",
        "fifo~",
        "fifo~x",
        "S1:1~1~2",
        "random:7 trailing",
    ] {
        let err = token.parse::<Schedule>().unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!("'{token}'")),
            "the error for {token:?} does not name it: {message}"
        );
        assert!(message.contains("schedule token"), "{message}");
        let _: &dyn std::error::Error = &err;
    }
}

#[test]
fn malformed_tokens_say_which_part_is_wrong() {
    let expected = " (expected e.g. 'S1:z3.1.2', 'fifo', 'random:7', 'pct:7:3' or 'bytes:0a1b', \
                    optionally followed by '~<jitter nanos>')";
    for (token, reason) in [
        ("S1:x", "'x' is not a number"),
        ("", "it is empty"),
        (
            "FIFO",
            "'FIFO' begins with none of 'S1', 'fifo', 'random:', 'pct:' and 'bytes:'",
        ),
        ("S11", "'S1' is followed by ':' and the choices, not by '1'"),
        ("S1:1.-2", "'-2' is not a number"),
        ("S1:z", "'z' needs a count of zeros after it (e.g. 'z3')"),
        ("S1:zz3", "'z3' is not a number"),
        ("S1:4294967296", "'4294967296' is too large"),
        (
            "S1:z4000000000",
            "'z4000000000' makes the token longer than 16777216 choices",
        ),
        ("random:", "a number is missing"),
        ("random:+7", "'+7' is not a number"),
        (
            "pct:1",
            "a PCT token is 'pct:<seed>:<depth>' or 'pct:<seed>:<depth>:<steps>', and 'pct:1' \
             has 1 number",
        ),
        ("pct:1:0", "a PCT depth is at least 1, not 0"),
        ("pct:1:2:0", "a PCT step count is at least 1, not 0"),
        (
            "bytes:abc",
            "'abc' has an odd number of hex digits (two per byte)",
        ),
        ("bytes:zz", "'zz' is not hexadecimal"),
        ("fifo~x", "'x' is not a number"),
    ] {
        let err = token.parse::<Schedule>().unwrap_err();
        assert_eq!(err.reason(), reason, "{token:?}");
        assert_eq!(
            err.to_string(),
            format!("'{token}' is not a schedule token: {reason}{expected}")
        );
    }
}

/// Any schedule the public constructors make, and the one equal to it after a round trip
/// through its token (Display drops trailing zero choices).
fn schedule_and_normal_form() -> impl Strategy<Value = (Schedule, Schedule)> {
    let source = prop_oneof![
        Just((Schedule::Fifo, Schedule::Fifo)),
        vec(
            prop_oneof![3 => Just(0u32), 2 => 0u32..4, 1 => any::<u32>()],
            0..40
        )
        .prop_map(|c| (
            Schedule::from_choices(c.clone()),
            Schedule::from_choices(trimmed(c))
        )),
        any::<u64>().prop_map(|s| (Schedule::random(s), Schedule::random(s))),
        (any::<u64>(), 1u32..=u32::MAX)
            .prop_map(|(s, d)| (Schedule::pct(s, d), Schedule::pct(s, d))),
        vec(any::<u8>(), 0..40).prop_map(|b| (Schedule::from_bytes(&b), Schedule::from_bytes(&b))),
    ];
    let jitter = prop_oneof![
        Just(None),
        (0u64..=u64::MAX).prop_map(|n| Some(Duration::from_nanos(n))),
        (0u64..10_000_000).prop_map(|n| Some(Duration::from_nanos(n))),
    ];
    (source, jitter).prop_map(|((s, normal), j)| match j {
        Some(j) => (s.with_timer_jitter(j), normal.with_timer_jitter(j)),
        None => (s, normal),
    })
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn tokens_round_trip((schedule, normal) in schedule_and_normal_form()) {
        let token = schedule.to_string();
        prop_assert!(!token.chars().any(char::is_whitespace), "{}", token);
        let parsed: Schedule = token.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(&parsed, &normal, "token {}", token);
        prop_assert_eq!(parsed.to_string(), token);
    }
}

// ---------------------------------------------------------------------------------------
// Replaying a run
// ---------------------------------------------------------------------------------------

/// An exploring schedule: random or PCT, with or without jitter.
fn exploring() -> impl Strategy<Value = Schedule> {
    let base = prop_oneof![
        any::<u64>().prop_map(Schedule::random),
        (any::<u64>(), 1u32..5).prop_map(|(s, d)| Schedule::pct(s, d)),
    ];
    (base, prop_oneof![Just(0u64), 1u64..4]).prop_map(|(s, j)| s.with_timer_jitter(ms(j)))
}

proptest! {
    #![proptest_config(cases(64))]

    /// A run's `schedule_taken()`, printed and parsed back, replays the run exactly; so does
    /// the original schedule.
    #[test]
    fn replaying_the_token_repeats_the_run(schedule in exploring()) {
        let (out, trace, taken) = run_mixed(schedule.clone());
        let token = taken.to_string();
        let replay: Schedule = token.parse().unwrap();
        prop_assert_eq!(&replay, &taken);
        let (out2, trace2, taken2) = run_mixed(replay);
        prop_assert_eq!(out2, out);
        prop_assert_eq!(&trace2, &trace, "token {}", token);
        prop_assert_eq!(&taken2, &taken);
        let (out3, trace3, taken3) = run_mixed(schedule);
        prop_assert_eq!(out3, out);
        prop_assert_eq!(trace3, trace);
        prop_assert_eq!(taken3, taken);
    }

    /// Generated programs under random, PCT and byte schedules keep every promise the
    /// contract makes under any schedule (`contract::check_any_schedule`: time, timers fire
    /// once at their deadline, cancels, callback order, deadline order, drops, determinism,
    /// replay; the model itself when every choice was FIFO).
    #[test]
    fn generated_programs_keep_the_contract_under_any_schedule(
        program in program(),
        schedule in prop_oneof![
            any::<u64>().prop_map(Schedule::random),
            (any::<u64>(), 1u32..5).prop_map(|(s, d)| Schedule::pct(s, d)),
            vec(any::<u8>(), 0..64).prop_map(|b| Schedule::from_bytes(&b)),
        ],
    ) {
        contract::check_any_schedule(&program, &schedule).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn the_schedule_target_decodes_the_tail_as_the_schedule() {
    // A first byte with the low bit clear ends the program at once: the rest is the schedule.
    let (ops, rest) = contract::split_schedule_input(&[0, 9, 8, 7]);
    assert_eq!(ops, [Op::Run]);
    assert_eq!(rest, [9, 8, 7]);
    // Whatever the program leaves over is a suffix of the input.
    let data: Vec<u8> = (0u8..=255).map(|b| b.wrapping_mul(37)).collect();
    for end in 0..data.len() {
        let (ops, rest) = contract::split_schedule_input(&data[..end]);
        assert!(data[..end].ends_with(rest));
        assert_eq!(ops.last(), Some(&Op::Run));
    }
    contract::fuzz_schedule(&data);
}

// ---------------------------------------------------------------------------------------
// What exploring schedules may and may not reorder
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Order {
    next: Cell<u32>,
    /// The sequence numbers of `call_soon` callbacks, in the order they ran.
    soon_runs: RefCell<Vec<u32>>,
    /// The timers, in the order they ran.
    timer_runs: RefCell<Vec<TimerRun>>,
}

#[derive(Clone, Copy, Debug)]
struct TimerRun {
    seq: u32,
    deadline: Instant,
    registered_at: Instant,
    ran: Instant,
}

impl Order {
    fn seq(&self) -> u32 {
        let n = self.next.get();
        self.next.set(n + 1);
        n
    }

    fn soon(self: &Rc<Self>) {
        let seq = self.seq();
        let me = self.clone();
        simloop::call_soon(move || me.soon_runs.borrow_mut().push(seq));
    }

    /// A timer at `deadline`, which may lie in the past. Its callback marks `timer{seq}`.
    fn timer_at(self: &Rc<Self>, deadline: Instant) {
        let seq = self.seq();
        let registered_at = simloop::now();
        let me = self.clone();
        simloop::call_at(deadline, move || {
            mark(format!("timer{seq}"));
            me.timer_runs.borrow_mut().push(TimerRun {
                seq,
                deadline,
                registered_at,
                ran: simloop::now(),
            });
        });
    }

    fn timer(self: &Rc<Self>, delay: Duration) {
        self.timer_at(simloop::now() + delay);
    }
}

/// Tasks and callbacks that schedule `call_soon` callbacks and timers from everywhere, with
/// colliding deadlines, some of them already past (those fall due together in the next
/// iteration, where their deadlines still order them).
fn order_scenario(lp: &mut EventLoop) -> Rc<Order> {
    let order = Rc::new(Order::default());
    lp.enter(|| {
        for d in [3, 1, 2, 1, 3, 2, 0, 1] {
            order.timer(ms(d));
        }
        order.soon();
    });
    for t in 0..4u64 {
        let o = order.clone();
        lp.spawn(async move {
            o.soon();
            o.timer(ms(t % 3));
            yield_now().await;
            o.soon();
            sleep(ms(2)).await;
            o.soon();
            o.timer(ms(1));
            o.timer(ms(t % 2));
            o.timer_at(at_ms(1 - t % 2));
            o.timer_at(at_ms(t % 2));
            yield_now().await;
            o.soon();
        });
        let o = order.clone();
        lp.call_soon(move || {
            o.soon();
            o.timer(ms(1));
        });
    }
    lp.enter(|| order.soon());
    lp.run().unwrap();
    order
}

proptest! {
    #![proptest_config(cases(64))]

    /// Under every schedule: `call_soon` callbacks run in the order they were scheduled;
    /// timers run at their deadline (or, if it had passed, at the instant they were set), and
    /// those that fall due in one iteration run in deadline order.
    #[test]
    fn callbacks_keep_their_order_and_timers_their_deadlines(schedule in exploring_without_jitter()) {
        let mut lp = traced(schedule);
        let order = order_scenario(&mut lp);
        let soon = order.soon_runs.borrow().clone();
        let timers = order.timer_runs.borrow().clone();
        prop_assert_eq!(soon.len(), 4 * 5 + 2);
        prop_assert_eq!(timers.len(), 8 + 4 * 6);
        prop_assert!(soon.windows(2).all(|w| w[0] < w[1]), "call_soon order: {:?}", soon);
        for t in &timers {
            prop_assert_eq!(t.ran, t.deadline.max(t.registered_at), "{:?}", t);
        }
        // The iteration each timer ran in, from its mark.
        let iteration = |seq: u32| {
            let label = format!("timer{seq}");
            lp.trace()
                .events()
                .iter()
                .find(|e| e.event == Event::Mark(label.clone()))
                .map(|e| e.iteration)
                .unwrap()
        };
        let mut past_due_together = false;
        for w in timers.windows(2) {
            prop_assert!(w[0].ran <= w[1].ran, "{:?}", w);
            if iteration(w[0].seq) == iteration(w[1].seq) {
                prop_assert!(w[0].deadline <= w[1].deadline, "deadline order: {:?}", w);
                past_due_together |= w[0].deadline < w[1].deadline;
            }
        }
        prop_assert!(past_due_together, "no iteration had timers with different deadlines");
    }
}

fn exploring_without_jitter() -> impl Strategy<Value = Schedule> {
    prop_oneof![
        Just(Schedule::Fifo),
        any::<u64>().prop_map(Schedule::random),
        (any::<u64>(), 1u32..5).prop_map(|(s, d)| Schedule::pct(s, d)),
        vec(0u32..4, 0..64).prop_map(Schedule::from_choices),
    ]
}

/// Four timers due at 1 ms, two tasks, and two `call_soon` callbacks: the labels in the order
/// they ran.
fn open_choices(schedule: Schedule) -> Vec<String> {
    let mut lp = traced(schedule);
    for i in 0..4 {
        lp.call_later(ms(1), move || mark(format!("timer{i}")));
    }
    lp.spawn(async { mark("task a") });
    lp.call_soon(|| mark("cb 1"));
    lp.spawn(async { mark("task b") });
    lp.call_soon(|| mark("cb 2"));
    lp.run().unwrap();
    marks(&lp)
}

#[test]
fn exploring_schedules_permute_what_the_contract_leaves_open() {
    let fifo = open_choices(Schedule::Fifo);
    assert_eq!(
        fifo,
        ["task a", "cb 1", "task b", "cb 2", "timer0", "timer1", "timer2", "timer3"]
    );
    let timers = |m: &[String]| -> Vec<String> {
        m.iter()
            .filter(|l| l.starts_with("timer"))
            .cloned()
            .collect()
    };
    let pos = |m: &[String], l: &str| m.iter().position(|x| x == l).unwrap();
    let (mut timers_permuted, mut b_first, mut task_before_callback) = (false, false, false);
    for seed in 0..64 {
        let m = open_choices(Schedule::random(seed));
        let mut sorted = m.clone();
        sorted.sort();
        let mut expected = fifo.clone();
        expected.sort();
        assert_eq!(
            sorted, expected,
            "seed {seed}: a permutation of the FIFO run"
        );
        assert!(pos(&m, "cb 1") < pos(&m, "cb 2"), "seed {seed}: {m:?}");
        // Timers fall due one iteration later, at 1 ms: after everything else.
        assert_eq!(&m[4..], &timers(&m)[..], "seed {seed}");
        timers_permuted |= timers(&m) != timers(&fifo);
        b_first |= pos(&m, "task b") < pos(&m, "task a");
        task_before_callback |= pos(&m, "task b") < pos(&m, "cb 1");
    }
    assert!(
        timers_permuted,
        "no seed permuted the equal-deadline timers"
    );
    assert!(b_first, "no seed ran task b before task a");
    assert!(
        task_before_callback,
        "no seed ran a task step before an earlier callback"
    );
}

// ---------------------------------------------------------------------------------------
// Timer jitter
// ---------------------------------------------------------------------------------------

/// Timers and sleeps of various lengths; returns (label, deadline, instant it ran).
fn jittered(lp: &mut EventLoop) -> Vec<(String, Instant, Instant)> {
    let log = Rc::new(RefCell::new(Vec::new()));
    for (i, d) in [5, 1, 1, 3, 0].into_iter().enumerate() {
        let l = log.clone();
        let deadline = lp.time() + ms(d);
        lp.call_later(ms(d), move || {
            l.borrow_mut()
                .push((format!("timer{i}"), deadline, simloop::now()));
        });
    }
    for t in 0..3u64 {
        let l = log.clone();
        lp.spawn(async move {
            for d in [t, 2, 1] {
                let deadline = simloop::now() + ms(d);
                sleep(ms(d)).await;
                l.borrow_mut()
                    .push((format!("task{t} sleep {d}"), deadline, simloop::now()));
            }
        });
    }
    lp.run().unwrap();
    let out = log.borrow().clone();
    out
}

proptest! {
    #![proptest_config(cases(64))]

    /// With jitter up to `max`, every timer and sleep ends within [deadline, deadline + max],
    /// late by a whole number of tenths of `max`; the token replays it exactly.
    #[test]
    fn jitter_stays_within_its_bound_and_replays(
        seed: u64,
        pct: bool,
        max_ns in prop_oneof![Just(10_000_000u64), 1u64..5_000_000],
    ) {
        let max = Duration::from_nanos(max_ns);
        let base = if pct { Schedule::pct(seed, 2) } else { Schedule::random(seed) };
        let mut lp = traced(base.with_timer_jitter(max));
        let runs = jittered(&mut lp);
        prop_assert_eq!(runs.len(), 5 + 3 * 3);
        for (label, deadline, ran) in &runs {
            prop_assert!(ran >= deadline, "{} ran at {} before its deadline {}", label, ran, deadline);
            let late = ran.duration_since(*deadline);
            prop_assert!(late <= max, "{} late by {:?} > {:?}", label, late, max);
            prop_assert!(
                (0..=10u32).any(|k| late == max * k / 10),
                "{} late by {:?}, not a tenth of {:?}",
                label,
                late,
                max
            );
        }
        let taken = lp.schedule_taken();
        let token = taken.to_string();
        prop_assert!(token.ends_with(&format!("~{max_ns}")), "{}", token);
        let mut replay = traced(token.parse().unwrap());
        prop_assert_eq!(jittered(&mut replay), runs);
        prop_assert_eq!(events(&replay), events(&lp));
    }
}

#[test]
fn jitter_makes_timers_late_and_without_it_none_are() {
    let late = |schedule: Schedule| -> Vec<Duration> {
        let mut lp = traced(schedule);
        jittered(&mut lp)
            .iter()
            .map(|(_, deadline, ran)| ran.duration_since(*deadline))
            .collect()
    };
    for seed in 0..16 {
        assert!(late(Schedule::random(seed)).iter().all(Duration::is_zero));
        assert!(late(Schedule::Fifo.with_timer_jitter(ms(10)))
            .iter()
            .all(Duration::is_zero));
    }
    let some_late = (0..16).any(|seed| {
        late(Schedule::random(seed).with_timer_jitter(ms(10)))
            .iter()
            .any(|d| !d.is_zero())
    });
    assert!(some_late, "jitter never made a timer late");
    // A choice list picks the jitter level: 10 of 10 tenths for the first timer set.
    let mut lp = traced(Schedule::from_choices(vec![10]).with_timer_jitter(ms(10)));
    let fired = Rc::new(Cell::new(Instant::ZERO));
    let f = fired.clone();
    lp.call_later(ms(5), move || f.set(simloop::now()));
    lp.run().unwrap();
    assert_eq!(fired.get(), at_ms(15));
}

// ---------------------------------------------------------------------------------------
// check_determinism
// ---------------------------------------------------------------------------------------

static LABEL_COUNTER: AtomicU64 = AtomicU64::new(0);
static DELAY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Something at 1.5 s, after a few deterministic events.
fn prelude(lp: &mut EventLoop) {
    lp.spawn(async {
        sleep(ms(500)).await;
        mark("half a second");
    });
    lp.call_later(ms(1000), || mark("one second"));
}

#[test]
fn check_determinism_passes_a_deterministic_scenario() {
    let scenario = |lp: &mut EventLoop| {
        prelude(lp);
        mixed(lp).unwrap();
    };
    assert_eq!(check_determinism(&EventLoop::builder(), scenario), Ok(()));
    let exploring = EventLoop::builder().schedule(Schedule::random(3).with_timer_jitter(ms(1)));
    assert_eq!(check_determinism(&exploring, scenario), Ok(()));
}

#[test]
fn check_determinism_finds_a_global_that_picks_a_label() {
    let scenario = |lp: &mut EventLoop| {
        prelude(lp);
        lp.call_later(ms(1500), || {
            mark(format!(
                "n{}",
                LABEL_COUNTER.fetch_add(1, Ordering::Relaxed)
            ))
        });
        lp.run().unwrap();
    };
    let d = check_determinism(&EventLoop::builder(), scenario).unwrap_err();
    // The first divergence is the mark, at 1.5 s, after the events both runs share.
    let mut lp = traced(Schedule::Fifo);
    scenario(&mut lp);
    let index = lp
        .trace()
        .events()
        .iter()
        .position(|e| matches!(&e.event, Event::Mark(l) if l.starts_with('n')))
        .unwrap();
    assert_eq!(d.index, index);
    assert_eq!(d.at(), at_ms(1500));
    let (first, second) = (d.first.clone().unwrap(), d.second.clone().unwrap());
    assert_eq!((first.at, second.at), (at_ms(1500), at_ms(1500)));
    match (&first.event, &second.event) {
        (Event::Mark(a), Event::Mark(b)) => {
            assert!(a.starts_with('n') && b.starts_with('n'));
            assert_ne!(a, b);
        }
        other => panic!("expected two marks, got {other:?}"),
    }
    let message = d.to_string();
    assert!(message.contains("1.5s"), "{message}");
    assert!(message.contains(&format!("#{index}")), "{message}");
    // The report ends with the timeline both runs share, up to the divergence.
    assert_eq!(d.before.events(), &lp.trace().events()[..index]);
    let shared = d.before.to_string();
    let tail: Vec<&str> = shared.lines().rev().take(12).collect();
    let report_tail: Vec<&str> = message.lines().rev().take(tail.len()).collect();
    assert_eq!(report_tail, tail);
}

#[test]
fn check_determinism_finds_a_global_that_picks_a_delay() {
    let scenario = |lp: &mut EventLoop| {
        prelude(lp);
        lp.call_later(ms(2000), || {
            let n = DELAY_COUNTER.fetch_add(1, Ordering::Relaxed);
            simloop::call_later(ms(1 + n), || mark("late"));
        });
        lp.run().unwrap();
    };
    let d = check_determinism(&EventLoop::builder(), scenario).unwrap_err();
    assert_eq!(d.at(), at_ms(2000));
    match (
        d.first.as_ref().map(|e| &e.event),
        d.second.as_ref().map(|e| &e.event),
    ) {
        (Some(Event::TimerSet { when: a, .. }), Some(Event::TimerSet { when: b, .. })) => {
            assert_ne!(a, b);
        }
        other => panic!("expected two timer registrations, got {other:?}"),
    }
    assert!(d.to_string().contains("2s"), "{d}");
}

// ---------------------------------------------------------------------------------------
// The proptest strategy
// ---------------------------------------------------------------------------------------

#[test]
fn the_strategy_shrinks_toward_fifo_and_few_small_choices() {
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        },
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let result = runner.run(&simloop::proptest::schedule(), |s| {
        if s.choices().unwrap().iter().any(|&c| c >= 2) {
            Err(TestCaseError::fail("a choice >= 2"))
        } else {
            Ok(())
        }
    });
    match result {
        Err(TestError::Fail(_, minimal)) => {
            assert_eq!(minimal, Schedule::from_choices(vec![2]));
            assert_eq!(minimal.to_string(), "S1:2");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    // What the strategy generates: replay schedules of at most 64 choices below 4.
    let mut runner = TestRunner::deterministic();
    runner
        .run(&any::<Schedule>(), |s| {
            let c = s.choices().expect("a replay schedule");
            prop_assert!(c.len() <= 64 && c.iter().all(|&x| x < 4), "{:?}", s);
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// explore
// ---------------------------------------------------------------------------------------

/// Two tasks append to a log; the scenario insists that 'a' comes first.
fn a_before_b(lp: &mut EventLoop) -> Result<(), String> {
    let log = Rc::new(RefCell::new(String::new()));
    let l = log.clone();
    lp.spawn(async move { l.borrow_mut().push('a') });
    let l = log.clone();
    lp.spawn(async move { l.borrow_mut().push('b') });
    lp.run().map_err(|e| e.to_string())?;
    let log = log.borrow();
    if log.as_str() == "ab" {
        Ok(())
    } else {
        Err(format!("ran {log}"))
    }
}

#[test]
fn explore_runs_the_seeds_it_is_given() {
    let expected = seeds_from_env().unwrap_or(10..20);
    let config = Explore::new().seeds(10..20).runs(3);
    assert_eq!(config.seed_range(), expected);
    for strategy in [
        Search::Random,
        Search::Pct { depth: 2 },
        Search::Mixed { depth: 3 },
    ] {
        let count = Cell::new(0u64);
        let explored = explore(&config.clone().strategy(strategy), |lp| {
            count.set(count.get() + 1);
            lp.spawn(async { yield_now().await });
            lp.spawn(async {});
            lp.run()
        })
        .unwrap();
        assert_eq!(explored.runs, expected.end - expected.start, "{strategy:?}");
        // One run per seed (PCT may take one more run to measure the scenario).
        assert!(count.get() >= explored.runs, "{strategy:?}");
        if strategy == Search::Random {
            assert_eq!(count.get(), explored.runs);
        }
    }
}

#[test]
fn explore_reports_a_failing_seed_in_range_with_a_replayable_schedule() {
    let range = seeds_from_env().unwrap_or(10..20);
    for strategy in [
        Search::Random,
        Search::Pct { depth: 2 },
        Search::Mixed { depth: 3 },
    ] {
        let config = Explore::new().seeds(10..20).strategy(strategy);
        let failure = match explore(&config, a_before_b) {
            Err(f) => f,
            // A sweep narrowed by SIMLOOP_SEEDS may miss the failing order.
            Ok(_) if seeds_from_env().is_some() => continue,
            Ok(e) => panic!("{strategy:?}: no seed in 10..20 ran b first ({e:?})"),
        };
        let seed = failure.seed.expect("a seed failed");
        assert!(range.contains(&seed), "{strategy:?}: seed {seed}");
        assert_eq!(failure.runs, seed - range.start + 1);
        assert_eq!(failure.message, "ran ba");
        assert_eq!(failure.schedule.to_string(), "S1:1");
        let mut lp = EventLoop::builder()
            .schedule(failure.schedule.clone())
            .build();
        assert_eq!(a_before_b(&mut lp), Err("ran ba".to_string()));
        let report = failure.to_string();
        assert!(report.contains("S1:1") && report.contains(&format!("seed {seed}")));
    }
    // A scenario that always fails fails at the first seed.
    let failure = explore(&Explore::new().seeds(10..20), |_| Err("always")).unwrap_err();
    assert_eq!(failure.seed, Some(range.start));
    assert_eq!(failure.runs, 1);
}

#[test]
fn malformed_or_oversized_tokens_are_errors_not_panics() {
    for bad in [
        "bytes:aéa",
        "S1:z18446744073709551615",
        "S1:z4000000000",
        "bytes:+1",
        "random:+7",
        "S1:+1",
        "pct:1:+2",
        "fifo~+5",
    ] {
        let err = bad.parse::<Schedule>().unwrap_err();
        assert!(err.to_string().contains(bad), "{bad}: {err}");
    }
}

#[test]
fn huge_jitter_saturates_and_round_trips() {
    let schedule = Schedule::from_choices(vec![5]).with_timer_jitter(Duration::MAX);
    let token = schedule.to_string();
    assert_eq!(token.parse::<Schedule>().unwrap(), schedule);
    let lp = EventLoop::builder().schedule(schedule).build();
    let t = lp.call_later(ms(1), || {});
    // Half of the largest jitter an Instant can express, on top of the 1 ms.
    assert_eq!(t.when(), at_ms(1) + Duration::from_nanos(u64::MAX / 2));
}

#[test]
fn timer_handle_when_includes_jitter() {
    let mut lp = EventLoop::builder()
        .schedule(Schedule::from_choices(vec![10]).with_timer_jitter(ms(10)))
        .build();
    let t = lp.call_later(ms(5), || simloop::mark("fired"));
    assert_eq!(t.when(), at_ms(15));
    lp.run().unwrap();
    assert_eq!(lp.time(), at_ms(15));
}

#[test]
fn pct_with_a_huge_depth_builds_at_once() {
    let mut lp = EventLoop::builder()
        .schedule(Schedule::pct_steps(1, u32::MAX, 8))
        .build();
    lp.spawn(async {});
    lp.spawn(async {});
    lp.run().unwrap();
    assert_eq!(lp.stats().polls, 2);
}
