//! The systematic search (SPEC §12, issue 23): completeness against closed forms, each
//! schedule once across the deepening levels, minimal-delay failures, the budget, chunks
//! that partition the tree exactly, timer ties and jitter as choices, and the reduction
//! against the plain search.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use simloop::{exhaust, yield_now, Coverage, EventLoop, Explore, Schedule};

/// `n` tasks of one step each.
fn one_step_tasks(lp: &mut EventLoop, n: usize) -> Result<(), String> {
    for _ in 0..n {
        lp.spawn(async {});
    }
    lp.run().map_err(|e| e.to_string())
}

/// The number of permutations of `n` with `k` inversions (Mahonian numbers).
fn mahonian(n: usize, k: usize) -> u64 {
    let mut row = vec![1u64];
    for m in 1..=n {
        let mut next = vec![0u64; row.len() + m - 1];
        for (i, &x) in row.iter().enumerate() {
            for slot in next.iter_mut().skip(i).take(m) {
                *slot += x;
            }
        }
        row = next;
    }
    row.get(k).copied().unwrap_or(0)
}

fn factorial(n: u64) -> u64 {
    (1..=n).product()
}

/// Runs the search, recording the token of every run.
fn tokens(
    config: &Explore,
    mut scenario: impl FnMut(&mut EventLoop) -> Result<(), String>,
) -> (Result<Coverage, String>, Vec<String>) {
    let mut seen = Vec::new();
    let result = exhaust(config, |lp| {
        let r = scenario(lp);
        seen.push(lp.schedule_taken().to_string());
        r
    });
    (result.map_err(|f| f.to_string()), seen)
}

#[test]
fn n_one_step_tasks_have_n_factorial_schedules_each_run_once() {
    for n in 1..=5usize {
        let (coverage, seen) = tokens(&Explore::exhaustive().unbounded(), |lp| {
            one_step_tasks(lp, n)
        });
        let coverage = coverage.unwrap();
        let all = factorial(n as u64);
        assert_eq!(coverage.runs, all, "{n} tasks");
        assert_eq!(seen.len() as u64, all, "{n} tasks");
        let distinct: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(
            distinct.len(),
            seen.len(),
            "{n} tasks: a schedule ran twice"
        );
        assert!(coverage.exhausted);
        assert_eq!(coverage.covered, Some((n * n.saturating_sub(1) / 2) as u32));
        assert!(!coverage.budget_hit);
    }
}

#[test]
fn each_level_runs_the_schedules_with_that_many_delays() {
    for n in 1..=5usize {
        let max = n * n.saturating_sub(1) / 2;
        for k in 0..=max {
            let (coverage, seen) = tokens(&Explore::exhaustive().max_delays(k as u32), |lp| {
                one_step_tasks(lp, n)
            });
            let coverage = coverage.unwrap();
            let expected: u64 = (0..=k).map(|i| mahonian(n, i)).sum();
            assert_eq!(coverage.runs, expected, "{n} tasks, at most {k} delays");
            // Fewest delays first, each once: the delays of the runs never decrease.
            let delays: Vec<u32> = seen
                .iter()
                .map(|t| {
                    let s: Schedule = t.parse().unwrap();
                    s.choices().unwrap_or_default().iter().sum()
                })
                .collect();
            assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
            for i in 0..=k {
                let at = delays.iter().filter(|&&d| d as usize == i).count() as u64;
                assert_eq!(at, mahonian(n, i), "{n} tasks, {i} delays");
            }
            assert_eq!(coverage.exhausted, k == max, "{n} tasks, k = {k}");
        }
    }
}

#[test]
fn the_sentence_says_how_complete_the_search_was() {
    let run = |config: Explore| exhaust(&config, |lp| one_step_tasks(lp, 4)).unwrap();
    assert_eq!(
        run(Explore::exhaustive().max_delays(2)).to_string(),
        "every schedule with at most 2 delays: 9 runs, complete"
    );
    assert_eq!(
        run(Explore::exhaustive().unbounded()).to_string(),
        "every schedule (the whole tree, at most 6 delays): 24 runs, complete"
    );
    let cut = run(Explore::exhaustive().max_delays(3).runs(10));
    assert!(cut.budget_hit);
    assert_eq!((cut.runs, cut.covered), (10, Some(2)));
    assert_eq!(
        cut.to_string(),
        "schedules with at most 3 delays: 10 runs, incomplete (the run budget ran out; \
         complete up to 2 delays)"
    );
    let mut big = run(Explore::exhaustive().max_delays(2));
    big.runs = 1284;
    assert_eq!(
        big.to_string(),
        "every schedule with at most 2 delays: 1,284 runs, complete"
    );
}

/// Three tasks, two steps each; fails when task 2 (the last) finishes first.
fn last_task_first(lp: &mut EventLoop) -> Result<(), String> {
    let done = Rc::new(RefCell::new(Vec::new()));
    for id in 0..3 {
        let done = done.clone();
        lp.spawn(async move {
            yield_now().await;
            done.borrow_mut().push(id);
        });
    }
    lp.run().map_err(|e| e.to_string())?;
    let first = done.borrow()[0];
    match first {
        2 => Err("task 2 finished first".to_string()),
        _ => Ok(()),
    }
}

#[test]
fn the_first_failure_has_the_fewest_delays() {
    let failure = exhaust(&Explore::exhaustive().max_delays(4), last_task_first).unwrap_err();
    let coverage = failure.coverage.clone().unwrap();
    // Task 2 must pass both others in the second batch: two delays (or in the first batch
    // and then again); no schedule with fewer fails.
    assert_eq!(coverage.failing_delays, Some(2));
    assert_eq!(coverage.covered, Some(1));
    let delays: u32 = failure.schedule.choices().unwrap().iter().sum();
    assert_eq!(delays, 2);
    assert_eq!(failure.message, "task 2 finished first");
    // Every schedule with at most one delay ran first (the FIFO one, and one delay at each
    // of the four decisions with two or more options), then the first with two failed: the
    // root's first decision, option 2.
    let passing = exhaust(&Explore::exhaustive().max_delays(1), last_task_first).unwrap();
    assert_eq!(passing.runs, 5);
    assert_eq!(failure.runs, passing.runs + 1);
    assert_eq!(failure.schedule.to_string(), "S1:2");
    // The token replays the failure.
    let mut lp = EventLoop::builder()
        .schedule(failure.schedule.clone())
        .build();
    assert_eq!(
        last_task_first(&mut lp),
        Err("task 2 finished first".to_string())
    );
    let report = failure.to_string();
    assert!(
        report.starts_with(&format!(
            "simloop::exhaust: the scenario failed under a schedule with 2 delays (found in \
             run {}; every schedule with at most 1 delay passed): task 2 finished first\n\
             replay token: {}",
            failure.runs, failure.schedule
        )),
        "{report}"
    );
}

#[test]
fn equal_deadlines_are_choices_like_any_other() {
    // Four timers due at the same instant: 4! orders.
    let orders = Rc::new(RefCell::new(BTreeSet::new()));
    let o = orders.clone();
    let coverage = exhaust(&Explore::exhaustive().unbounded(), move |lp| {
        let log = Rc::new(RefCell::new(String::new()));
        for c in ['a', 'b', 'c', 'd'] {
            let log = log.clone();
            lp.call_later(Duration::from_secs(1), move || log.borrow_mut().push(c));
        }
        lp.run().map_err(|e| e.to_string())?;
        o.borrow_mut().insert(log.borrow().clone());
        Ok::<(), String>(())
    })
    .unwrap();
    assert_eq!(coverage.runs, 24);
    assert_eq!(orders.borrow().len(), 24);
}

#[test]
fn jitter_is_quantised_into_the_declared_steps() {
    // Two timers, jitter of 1 ms in 2 steps: 3 levels each, 9 schedules, each a distinct
    // pair of firing instants; every token replays its run.
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let config = Explore::exhaustive()
        .unbounded()
        .timer_jitter(Duration::from_millis(1))
        .jitter_steps(2);
    let coverage = exhaust(&config, move |lp| {
        let fired = Rc::new(RefCell::new(Vec::new()));
        for _ in 0..2 {
            let f = fired.clone();
            lp.call_later(Duration::from_secs(1), move || {
                f.borrow_mut().push(simloop::now().as_nanos())
            });
        }
        lp.run().map_err(|e| e.to_string())?;
        let mut fired = fired.borrow().clone();
        fired.sort_unstable();
        s.borrow_mut().push((lp.schedule_taken(), fired));
        Ok::<(), String>(())
    })
    .unwrap();
    // Equal deadlines after jitter are one more choice: both on time, both 0.5 ms or both
    // 1 ms late make two orders each.
    assert_eq!(coverage.runs, 9 + 3);
    let seen = seen.borrow();
    let instants: BTreeSet<&Vec<u64>> = seen.iter().map(|(_, f)| f).collect();
    assert_eq!(instants.len(), 6);
    for (schedule, fired) in seen.iter() {
        let token = schedule.to_string();
        assert!(token.ends_with("~1000000/2"), "{token}");
        let mut lp = EventLoop::builder()
            .schedule(token.parse().unwrap())
            .build();
        let again = Rc::new(RefCell::new(Vec::new()));
        for _ in 0..2 {
            let f = again.clone();
            lp.call_later(Duration::from_secs(1), move || {
                f.borrow_mut().push(simloop::now().as_nanos())
            });
        }
        lp.run().unwrap();
        let mut again = again.borrow().clone();
        again.sort_unstable();
        assert_eq!(&again, fired, "{token}");
    }
}

#[test]
fn choose_is_a_branch_point_and_one_option_is_none() {
    let picks = Rc::new(RefCell::new(BTreeSet::new()));
    let p = picks.clone();
    let coverage = exhaust(&Explore::exhaustive().unbounded(), move |lp| {
        let got = lp
            .run_until_complete(async {
                (simloop::choose(3), simloop::choose(1), simloop::choose(2))
            })
            .map_err(|e| e.to_string())?;
        p.borrow_mut().insert(got);
        Ok::<(), String>(())
    })
    .unwrap();
    assert_eq!(coverage.runs, 6);
    assert_eq!(picks.borrow().len(), 6);
}

/// A scenario whose one failing schedule is `target` (by token); every other passes.
fn fails_only_under(target: &str) -> impl FnMut(&mut EventLoop) -> Result<(), String> + '_ {
    move |lp| {
        let log = Rc::new(Cell::new(0));
        for _ in 0..2 {
            let log = log.clone();
            lp.spawn(async move {
                yield_now().await;
                log.set(log.get() + 1);
                yield_now().await;
            });
        }
        lp.spawn(async {});
        lp.run().map_err(|e| e.to_string())?;
        if lp.schedule_taken().to_string() == target {
            Err(format!("failed under {target}"))
        } else {
            Ok(())
        }
    }
}

#[test]
fn chunks_partition_the_tree_exactly() {
    let whole_config = Explore::exhaustive().max_delays(3);
    let (whole, all) = tokens(&whole_config, fails_only_under("none"));
    let whole = whole.unwrap();
    let all_set: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(all_set.len(), all.len());
    assert_eq!(whole.runs, all.len() as u64);
    for count in [1u64, 2, 3, 5] {
        // The chunks' own runs add up to the whole search.
        let mut sum = 0;
        for index in 0..count {
            let (chunk, seen) = tokens(
                &whole_config.clone().chunk(index, count),
                fails_only_under("none"),
            );
            let chunk = chunk.unwrap();
            sum += chunk.runs;
            assert_eq!(chunk.runs + chunk.shared_runs, seen.len() as u64);
            assert!(seen.iter().all(|t| all_set.contains(t)));
            assert!(!chunk.budget_hit);
        }
        assert_eq!(sum, whole.runs, "{count} chunks");
        // Each schedule of the whole search is checked by exactly one chunk: the one that
        // reports it when it is the one failing schedule.
        for target in &all {
            let finders: Vec<u64> = (0..count)
                .filter(|&index| {
                    exhaust(
                        &whole_config.clone().chunk(index, count),
                        fails_only_under(target),
                    )
                    .is_err()
                })
                .collect();
            assert_eq!(
                finders.len(),
                1,
                "{target} with {count} chunks: {finders:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reduction.
// ---------------------------------------------------------------------------------------

/// One step of a generated task: then it yields (or sleeps).
#[derive(Clone, Copy, Debug)]
enum Op {
    Read(usize),
    Write(usize),
    Local,
    Sleep(u64),
}

/// A generated program: tasks of steps over shared registers, optionally a task that awaits
/// the last one's handle.
#[derive(Clone, Debug)]
struct Program {
    tasks: Vec<Vec<Op>>,
    joiner: bool,
}

/// Everything a run can observe: the registers, and what each task read, in order.
type Outcome = (Vec<u64>, Vec<u64>);

/// One shared access of a run, in the order it happened: (task, its step, register, write).
/// The joiner is task `tasks.len()`, step 0.
type Access = (usize, usize, usize, bool);

/// Whether two accesses may not be swapped: the same task (program order), the joiner and
/// the task it joins (the join orders them), or the same register with a write.
fn dependent(program: &Program, a: Access, b: Access) -> bool {
    let joiner = program.tasks.len();
    let joins = |x: usize, y: usize| program.joiner && x == joiner && y + 1 == joiner;
    a.0 == b.0 || joins(a.0, b.0) || joins(b.0, a.0) || (a.2 == b.2 && (a.3 || b.3))
}

/// The run's Mazurkiewicz trace (its accesses up to swapping adjacent independent ones), by
/// its lexicographic normal form: repeatedly the smallest (task, step) that no earlier
/// dependent access holds back. Computed from the ops alone, not from what the reduction
/// was told, so a search that misses an order of two conflicting accesses misses a class.
fn trace_class(program: &Program, accesses: &[Access]) -> Vec<(usize, usize)> {
    let mut rest = accesses.to_vec();
    let mut class = Vec::with_capacity(rest.len());
    while !rest.is_empty() {
        let free = (0..rest.len())
            .filter(|&i| (0..i).all(|j| !dependent(program, rest[j], rest[i])))
            .min_by_key(|&i| (rest[i].0, rest[i].1))
            .expect("the first access is free");
        let a = rest.remove(free);
        class.push((a.0, a.1));
    }
    class
}

fn run_program(
    lp: &mut EventLoop,
    program: &Program,
) -> Result<(Outcome, Vec<(usize, usize)>), String> {
    let regs = Rc::new(RefCell::new(vec![0u64; 3]));
    let logs = Rc::new(RefCell::new(vec![0u64; program.tasks.len() + 1]));
    let accesses: Rc<RefCell<Vec<Access>>> = Rc::default();
    let mut handles = Vec::new();
    for (t, ops) in program.tasks.iter().enumerate() {
        let (regs, logs, ops) = (regs.clone(), logs.clone(), ops.clone());
        let accesses = accesses.clone();
        handles.push(lp.spawn(async move {
            for (s, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Read(k) => {
                        simloop::access_read(&k);
                        accesses.borrow_mut().push((t, s, k, false));
                        let v = regs.borrow()[k];
                        let mut logs = logs.borrow_mut();
                        logs[t] = logs[t].wrapping_mul(31).wrapping_add(v);
                    }
                    Op::Write(k) => {
                        simloop::access(&k);
                        accesses.borrow_mut().push((t, s, k, true));
                        let mut regs = regs.borrow_mut();
                        regs[k] = regs[k]
                            .wrapping_mul(31)
                            .wrapping_add((t * 10 + s + 1) as u64);
                    }
                    Op::Local | Op::Sleep(_) => {}
                }
                match op {
                    Op::Sleep(ms) => simloop::sleep(Duration::from_millis(ms)).await,
                    _ => yield_now().await,
                }
            }
        }));
    }
    if program.joiner {
        let last = handles.pop().expect("a task");
        let (regs, logs) = (regs.clone(), logs.clone());
        let accesses = accesses.clone();
        let j = program.tasks.len();
        lp.spawn(async move {
            last.await.unwrap();
            simloop::access_read(&0usize);
            accesses.borrow_mut().push((j, 0, 0, false));
            let v = regs.borrow()[0];
            logs.borrow_mut()[j] = v + 1;
        });
    }
    lp.run().map_err(|e| e.to_string())?;
    let outcome = (regs.borrow().clone(), logs.borrow().clone());
    let class = trace_class(program, &accesses.borrow());
    Ok((outcome, class))
}

/// What every schedule of an (unbounded) search reached.
struct Reached {
    outcomes: BTreeSet<Outcome>,
    /// The runs' traces (`trace_class`).
    classes: BTreeSet<Vec<(usize, usize)>>,
    coverage: Coverage,
}

fn reached(program: &Program, config: Explore) -> Reached {
    let (mut outcomes, mut classes) = (BTreeSet::new(), BTreeSet::new());
    let coverage = exhaust(&config.unbounded(), |lp| {
        let (outcome, class) = run_program(lp, program)?;
        outcomes.insert(outcome);
        classes.insert(class);
        Ok::<(), String>(())
    })
    .unwrap();
    Reached {
        outcomes,
        classes,
        coverage,
    }
}

/// The outcomes of every schedule of the (unbounded) search, and its coverage.
fn outcomes(program: &Program, config: Explore) -> (BTreeSet<Outcome>, Coverage) {
    let r = reached(program, config);
    (r.outcomes, r.coverage)
}

#[test]
fn independent_steps_are_explored_in_one_order() {
    use Op::*;
    // Three tasks of three steps, each on its own register: (3!)^3 schedules, one outcome.
    let program = Program {
        tasks: vec![vec![Write(0), Read(0), Write(0)]; 1]
            .into_iter()
            .chain([
                vec![Write(1), Read(1), Write(1)],
                vec![Write(2), Read(2), Write(2)],
            ])
            .collect(),
        joiner: false,
    };
    let (plain, plain_coverage) = outcomes(&program, Explore::exhaustive());
    let (reduced, reduced_coverage) = outcomes(&program, Explore::exhaustive().reduce());
    assert_eq!(plain, reduced);
    assert_eq!(plain.len(), 1);
    // Four batches (three steps, then the completions) of three items: 3! orders each.
    assert_eq!(plain_coverage.runs, 6 * 6 * 6 * 6);
    // The FIFO run, and in each batch the three runs that begin another order and are
    // blocked (every step left asleep) once they would repeat an explored one.
    assert_eq!(reduced_coverage.runs, 1 + 4 * 3);
    assert_eq!(
        reduced_coverage.to_string(),
        "every schedule (the whole tree, at most 2 delays), up to the order of commuting \
         steps: 13 runs, complete"
    );
    // All writing one register: only the completions commute. The first three batches run
    // in all 6^3 orders; in each, the last batch as above (its FIFO order, three blocked).
    let program = Program {
        tasks: vec![vec![Write(0), Write(0), Write(0)]; 3],
        joiner: false,
    };
    let (plain, plain_coverage) = outcomes(&program, Explore::exhaustive());
    let (reduced, reduced_coverage) = outcomes(&program, Explore::exhaustive().reduce());
    assert_eq!(plain, reduced);
    assert_eq!(plain_coverage.runs, 6 * 6 * 6 * 6);
    assert_eq!(reduced_coverage.runs, 6 * 6 * 6 * (1 + 3));
    // With a task that awaits the last one's handle, that completion is read: it no longer
    // commutes with the joiner's step.
    let joined = Program {
        joiner: true,
        ..program
    };
    let (plain, _) = outcomes(&joined, Explore::exhaustive());
    let (reduced, _) = outcomes(&joined, Explore::exhaustive().reduce());
    assert_eq!(plain, reduced);
}

/// The outcomes of `program` (no sleeps, no joiner) by brute force, without simloop: batch `b`
/// runs step `b` of every task that has one, in any order.
fn reference_outcomes(program: &Program) -> BTreeSet<Outcome> {
    fn permutations(items: Vec<usize>) -> Vec<Vec<usize>> {
        if items.len() <= 1 {
            return vec![items];
        }
        let mut out = Vec::new();
        for i in 0..items.len() {
            let mut rest = items.clone();
            let first = rest.remove(i);
            for mut p in permutations(rest) {
                p.insert(0, first);
                out.push(p);
            }
        }
        out
    }
    let batches = program.tasks.iter().map(Vec::len).max().unwrap_or(0);
    let mut states: Vec<Outcome> = vec![(vec![0; 3], vec![0; program.tasks.len() + 1])];
    for b in 0..batches {
        let stepping: Vec<usize> = (0..program.tasks.len())
            .filter(|&t| program.tasks[t].len() > b)
            .collect();
        let mut next = Vec::new();
        for state in &states {
            for order in permutations(stepping.clone()) {
                let (mut regs, mut logs) = state.clone();
                for t in order {
                    match program.tasks[t][b] {
                        Op::Read(k) => logs[t] = logs[t].wrapping_mul(31).wrapping_add(regs[k]),
                        Op::Write(k) => {
                            regs[k] = regs[k]
                                .wrapping_mul(31)
                                .wrapping_add((t * 10 + b + 1) as u64)
                        }
                        Op::Local | Op::Sleep(_) => {}
                    }
                }
                next.push((regs, logs));
            }
        }
        states = next;
    }
    states.into_iter().collect()
}

fn program_strategy() -> impl proptest::strategy::Strategy<Value = Program> {
    use proptest::prelude::*;
    // Mostly accesses to two registers, so that three tasks often touch one register in a
    // batch: that is where a weakened conflict rule loses an order (with two tasks, the one
    // left asleep runs last anyway).
    let op = prop_oneof![
        3 => (0..2usize).prop_map(Op::Read),
        3 => (0..2usize).prop_map(Op::Write),
        1 => Just(Op::Read(2)),
        1 => Just(Op::Local),
        1 => (0..2u64).prop_map(Op::Sleep),
    ];
    (
        proptest::collection::vec(proptest::collection::vec(op, 1..=3), 2..=3),
        any::<bool>(),
    )
        .prop_map(|(tasks, joiner)| Program { tasks, joiner })
}

/// The reduction property: on generated programs, the reduced search reaches exactly the
/// traces of the plain one (every order of conflicting accesses, up to swapping independent
/// ones: `trace_class`, computed from the ops, not from the search), hence its outcomes (so
/// it finds a failure whenever the plain one does, whatever the failure is), and never runs
/// more schedules; where the program is plain enough for the brute-force reference (yields
/// only), both match the reference.
#[test]
fn reduced_search_finds_every_bug_the_plain_one_finds() {
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 100,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let (plain_runs, reduced_runs) = (Cell::new(0), Cell::new(0));
    runner
        .run(&program_strategy(), |program| {
            let plain = reached(&program, Explore::exhaustive());
            let reduced = reached(&program, Explore::exhaustive().reduce());
            proptest::prop_assert_eq!(&plain.classes, &reduced.classes, "{:?}", program);
            proptest::prop_assert_eq!(&plain.outcomes, &reduced.outcomes, "{:?}", program);
            proptest::prop_assert!(reduced.coverage.runs <= plain.coverage.runs);
            plain_runs.set(plain_runs.get() + plain.coverage.runs);
            reduced_runs.set(reduced_runs.get() + reduced.coverage.runs);
            let simple = !program.joiner
                && program
                    .tasks
                    .iter()
                    .flatten()
                    .all(|op| !matches!(op, Op::Sleep(_)));
            if simple {
                proptest::prop_assert_eq!(
                    &plain.outcomes,
                    &reference_outcomes(&program),
                    "{:?}",
                    program
                );
            }
            Ok(())
        })
        .unwrap();
    // The reduction does something on these programs.
    let (plain_runs, reduced_runs) = (plain_runs.get(), reduced_runs.get());
    assert!(
        reduced_runs * 2 < plain_runs,
        "{reduced_runs} vs {plain_runs}"
    );
}

/// Every program of three tasks whose steps read or write register 0 (one or two steps
/// each): the reduced search reaches every trace the plain one does. Each kind of conflict
/// (write/write, a write then a read, a read then a write) is here with a third task that
/// the step left asleep must not be allowed to pass.
#[test]
fn every_order_of_conflicting_accesses_is_explored() {
    let mut checked = 0;
    for steps in 1..=2usize {
        for bits in 0..1u32 << (3 * steps) {
            let tasks = (0..3)
                .map(|t| {
                    (0..steps)
                        .map(|s| match bits >> (t * steps + s) & 1 {
                            0 => Op::Read(0),
                            _ => Op::Write(0),
                        })
                        .collect()
                })
                .collect();
            let program = Program {
                tasks,
                joiner: false,
            };
            let plain = reached(&program, Explore::exhaustive());
            let reduced = reached(&program, Explore::exhaustive().reduce());
            assert_eq!(plain.classes, reduced.classes, "{program:?}");
            assert_eq!(plain.outcomes, reduced.outcomes, "{program:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 8 + 64);
}
