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
