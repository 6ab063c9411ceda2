//! Evidence for the systematic search (issue 23): `cargo bench -p simloop-bench --bench
//! exhaustive`. Prints the tables of bench/README.md ("Systematic exploration"): the bug
//! zoo (plain and reduced, the fixed versions proved), the state space against scenario
//! size beside shuttle's `check_dfs`, the yield-only bugs under shuttle, the leader lease
//! example under quantised jitter, and schedules per second.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Instant as WallClock;

use simloop::{exhaust, explore, yield_now, Coverage, EventLoop, Explore, Search};

#[path = "../../tests/bugs.rs"]
#[allow(dead_code, unused_imports)]
mod bugs;

#[path = "../../examples/leader_lease.rs"]
#[allow(dead_code)]
mod leader_lease;

/// The run budget of every whole-tree search here, simloop's and shuttle's.
const BUDGET: u64 = 200_000;

/// `tasks` tasks of `steps` steps (a yield after each); step `s` of task `t` writes
/// register 0 on even steps when `shared` (else its own register `t`), declaring it.
fn scenario(lp: &mut EventLoop, tasks: usize, steps: usize, shared: bool) -> Result<(), String> {
    let regs = Rc::new(RefCell::new(vec![0u64; tasks]));
    for t in 0..tasks {
        let regs = regs.clone();
        lp.spawn(async move {
            for s in 0..steps {
                let k = if shared && s % 2 == 0 { 0 } else { t };
                simloop::access(&k);
                {
                    let mut r = regs.borrow_mut();
                    r[k] = r[k].wrapping_mul(31).wrapping_add((t * 10 + s) as u64);
                }
                yield_now().await;
            }
        });
    }
    lp.run().map_err(|e| e.to_string())
}

/// "1,234" or "> 200,000 (budget)".
fn runs(c: &Coverage) -> String {
    if c.budget_hit {
        format!("> {} (budget)", c.runs)
    } else {
        c.runs.to_string()
    }
}

/// `a / b` as "12.3x", or "≥ 12.3x" when `a` hit the budget.
fn ratio(a: &Coverage, b: &Coverage) -> String {
    let r = a.runs as f64 / b.runs.max(1) as f64;
    match (a.budget_hit, b.budget_hit) {
        (false, false) => format!("{r:.1}x"),
        (true, false) => format!("> {r:.1}x"),
        _ => "-".to_string(),
    }
}

/// Runs to find the bug: "2 (1 delay)", or "not found in N".
fn found(config: &Explore, scenario: bugs::Scenario) -> String {
    match exhaust(config, scenario) {
        Err(f) => {
            let c = f.coverage.clone().unwrap();
            format!(
                "{} ({} delay, `{}`)",
                c.runs,
                c.failing_delays.unwrap(),
                f.schedule
            )
        }
        Ok(c) => format!("not found: {c}"),
    }
}

// ---------------------------------------------------------------------------------------
// shuttle
// ---------------------------------------------------------------------------------------

/// Executions started by the current shuttle search.
static SHUTTLE_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` under shuttle's DFS scheduler (what `shuttle::check_dfs` runs, with the failure
/// printing off) with the budget: the executions run, and whether one failed.
fn shuttle_dfs(f: impl Fn() + Send + Sync + 'static) -> (u64, bool) {
    SHUTTLE_RUNS.store(0, Ordering::SeqCst);
    let mut config = shuttle::Config::new();
    config.failure_persistence = shuttle::FailurePersistence::None;
    let scheduler = shuttle::scheduler::DfsScheduler::new(Some(BUDGET as usize), false);
    let runner = shuttle::Runner::new(scheduler, config);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(|| {
        runner.run(move || {
            SHUTTLE_RUNS.fetch_add(1, Ordering::SeqCst);
            f();
        })
    }));
    std::panic::set_hook(hook);
    (SHUTTLE_RUNS.load(Ordering::SeqCst) as u64, result.is_err())
}

/// The n x n scenario under shuttle: `tasks` tasks of `steps` steps, a yield after each.
fn shuttle_scenario(tasks: usize, steps: usize) {
    shuttle::future::block_on(async move {
        let regs = Arc::new(Mutex::new(vec![0u64; tasks]));
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let regs = regs.clone();
                shuttle::future::spawn(async move {
                    for s in 0..steps {
                        {
                            let mut r = regs.lock().unwrap();
                            let k = if s % 2 == 0 { 0 } else { t };
                            r[k] = r[k].wrapping_mul(31).wrapping_add((t * 10 + s) as u64);
                        }
                        shuttle::future::yield_now().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
}

/// The zoo's yield-only bugs, written for shuttle's executor (same steps, same yields).
fn shuttle_lost_update() {
    shuttle::future::block_on(async {
        let hits = Arc::new(AtomicU32::new(0));
        let handler = |hits: Arc<AtomicU32>| async move {
            shuttle::future::yield_now().await;
            let n = hits.load(Ordering::SeqCst);
            shuttle::future::yield_now().await;
            hits.store(n + 1, Ordering::SeqCst);
        };
        let a = shuttle::future::spawn(handler(hits.clone()));
        let h = hits.clone();
        let b = shuttle::future::spawn(async move {
            shuttle::future::yield_now().await;
            handler(h).await;
        });
        a.await.unwrap();
        b.await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 2, "an update was lost");
    });
}

fn shuttle_check_then_act() {
    shuttle::future::block_on(async {
        let slot = Arc::new(Mutex::new(None::<char>));
        let granted = Arc::new(Mutex::new(Vec::new()));
        let client = |me: char, slot: Arc<Mutex<Option<char>>>, granted: Arc<Mutex<Vec<char>>>| async move {
            shuttle::future::yield_now().await;
            let free = slot.lock().unwrap().is_none();
            if free {
                shuttle::future::yield_now().await;
                *slot.lock().unwrap() = Some(me);
                granted.lock().unwrap().push(me);
            }
        };
        let a = shuttle::future::spawn(client('a', slot.clone(), granted.clone()));
        let b = shuttle::future::spawn(client('b', slot.clone(), granted.clone()));
        a.await.unwrap();
        b.await.unwrap();
        assert!(
            granted.lock().unwrap().len() <= 1,
            "the slot was granted twice"
        );
    });
}

fn shuttle_lost_wakeup() {
    shuttle::future::block_on(async {
        let flag = Arc::new(AtomicBool::new(false));
        let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
        let (f, w) = (flag.clone(), waker.clone());
        let waiter = shuttle::future::spawn(async move {
            shuttle::future::yield_now().await;
            if f.load(Ordering::SeqCst) {
                return;
            }
            shuttle::future::yield_now().await;
            let mut parked = false;
            std::future::poll_fn(|cx| {
                if parked && f.load(Ordering::SeqCst) {
                    return Poll::Ready(());
                }
                parked = true;
                *w.lock().unwrap() = Some(cx.waker().clone());
                Poll::Pending
            })
            .await;
        });
        let notifier = shuttle::future::spawn(async move {
            shuttle::future::yield_now().await;
            shuttle::future::yield_now().await;
            flag.store(true, Ordering::SeqCst);
            let parked = waker.lock().unwrap().take();
            if let Some(parked) = parked {
                parked.wake();
            }
        });
        notifier.await.unwrap();
        waiter.await.unwrap(); // a lost notification: a deadlock, which shuttle reports
    });
}

fn shuttle_stale_cache() {
    shuttle::future::block_on(async {
        let db = Arc::new(AtomicU32::new(1));
        let cache = Arc::new(Mutex::new(None::<u32>));
        let (d, c) = (db.clone(), cache.clone());
        let reader = shuttle::future::spawn(async move {
            let miss = c.lock().unwrap().is_none();
            if miss {
                let v = d.load(Ordering::SeqCst);
                shuttle::future::yield_now().await;
                *c.lock().unwrap() = Some(v);
            }
        });
        let (d, c) = (db.clone(), cache.clone());
        let writer = shuttle::future::spawn(async move {
            d.store(2, Ordering::SeqCst);
            shuttle::future::yield_now().await;
            *c.lock().unwrap() = None;
        });
        reader.await.unwrap();
        writer.await.unwrap();
        let cached = *cache.lock().unwrap();
        assert!(
            cached.is_none_or(|v| v == db.load(Ordering::SeqCst)),
            "stale cache"
        );
    });
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let bounded = |k: u32| Explore::exhaustive().max_delays(k).runs(BUDGET);
    let whole = || Explore::exhaustive().unbounded().runs(BUDGET);

    println!("### The bug zoo (tests/bugs.rs): runs to find each bug, plain and reduced\n");
    println!(
        "| bug | plain: runs to find (delays, token) | reduced: runs to find (delays, token) |"
    );
    println!("|---|---|---|");
    for bug in bugs::BUGS {
        println!(
            "| {} | {} | {} |",
            bug.name,
            found(&bounded(8), bug.scenario),
            found(&bounded(8).reduce(), bug.scenario)
        );
    }

    println!("\n### The zoo's fixed versions: schedules, plain and reduced\n");
    println!("| fixed bug | plain, <= 2 delays | reduced, <= 2 delays | ratio | plain, whole tree | reduced, whole tree | ratio | reduced, <= 2 delays, says |");
    println!("|---|---|---|---|---|---|---|---|");
    for bug in bugs::BUGS {
        let run = |config: Explore| {
            exhaust(&config, bug.fixed)
                .unwrap_or_else(|f| panic!("{}: the fixed version failed\n{f}", bug.name))
        };
        let (p2, r2) = (run(bounded(2)), run(bounded(2).reduce()));
        let (pw, rw) = (run(whole()), run(whole().reduce()));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            bug.name,
            runs(&p2),
            runs(&r2),
            ratio(&p2, &r2),
            runs(&pw),
            runs(&rw),
            ratio(&pw, &rw),
            r2
        );
    }

    println!(
        "\n### State space: tasks x steps (yield after each step), simloop and shuttle's check_dfs\n"
    );
    println!("| tasks x steps | accesses | plain, <= 2 delays | reduced, <= 2 delays | plain, whole tree | reduced, whole tree | shuttle check_dfs, whole tree |");
    println!("|---|---|---|---|---|---|---|");
    for n in 2..=5 {
        let (shuttle_runs, shuttle_failed) = shuttle_dfs(move || shuttle_scenario(n, n));
        assert!(!shuttle_failed);
        let shuttle_cell = if shuttle_runs >= BUDGET {
            format!("> {shuttle_runs} (budget)")
        } else {
            shuttle_runs.to_string()
        };
        for shared in [false, true] {
            let row =
                |config: Explore| runs(&exhaust(&config, |lp| scenario(lp, n, n, shared)).unwrap());
            println!(
                "| {n}x{n} | {} | {} | {} | {} | {} | {} |",
                if shared {
                    "register 0 on even steps"
                } else {
                    "own register"
                },
                row(bounded(2)),
                row(bounded(2).reduce()),
                row(whole()),
                row(whole().reduce()),
                if shared {
                    "same as above"
                } else {
                    shuttle_cell.as_str()
                },
            );
        }
    }

    println!("\n### The zoo's yield-only bugs under shuttle's check_dfs (same budget)\n");
    println!("| bug | shuttle check_dfs: runs to find | simloop plain | simloop reduced |");
    println!("|---|---|---|---|");
    let ports: [(&str, fn()); 4] = [
        ("lost update", shuttle_lost_update),
        ("check-then-act", shuttle_check_then_act),
        ("lost wakeup", shuttle_lost_wakeup),
        ("stale cache", shuttle_stale_cache),
    ];
    for (name, port) in ports {
        let bug = bugs::BUGS.iter().find(|b| b.name == name).unwrap();
        let (n, failed) = shuttle_dfs(port);
        let cell = if failed {
            format!("found in run {n}")
        } else {
            format!("not found in {n}")
        };
        println!(
            "| {name} | {cell} | {} | {} |",
            found(&bounded(8), bug.scenario),
            found(&bounded(8).reduce(), bug.scenario)
        );
    }

    println!("\n### examples/leader_lease.rs: quantised jitter (20 ms in 2 steps: 0, 10, 20 ms)\n");
    println!("| version | search | result |");
    println!("|---|---|---|");
    let jittered = |k: u32| {
        Explore::exhaustive()
            .max_delays(k)
            .runs(BUDGET)
            .timer_jitter(leader_lease::JITTER)
            .jitter_steps(2)
    };
    for (name, config, searches) in [
        (
            "buggy",
            leader_lease::NodeConfig::buggy(),
            &[(2, false), (2, true)][..],
        ),
        (
            "fixed",
            leader_lease::NodeConfig::fixed(),
            &[(1, false), (2, false), (2, true), (3, false)][..],
        ),
    ] {
        for &(k, reduce) in searches {
            {
                let c = if reduce {
                    jittered(k).reduce()
                } else {
                    jittered(k)
                };
                let result = match exhaust(&c, |lp| leader_lease::scenario(config, lp)) {
                    Ok(coverage) => coverage.to_string(),
                    Err(f) => {
                        let c = f.coverage.clone().unwrap();
                        format!(
                            "found: {} delay{}, run {}, `{}`: {}",
                            c.failing_delays.unwrap(),
                            if c.failing_delays == Some(1) { "" } else { "s" },
                            c.runs,
                            f.schedule,
                            f.message
                        )
                    }
                };
                let search = format!(
                    "<= {k} delay{}{}",
                    if k == 1 { "" } else { "s" },
                    if reduce { ", reduced" } else { "" }
                );
                println!("| {name} | {search} | {result} |");
            }
        }
    }

    println!("\n### Schedules per second, 3x3 scenario (release build)\n");
    println!("| search | runs | schedules/s |");
    println!("|---|---|---|");
    let measure = |name: &str, f: &dyn Fn() -> u64| {
        let start = WallClock::now();
        let runs = f();
        let secs = start.elapsed().as_secs_f64();
        println!("| {name} | {runs} | {:.0} |", runs as f64 / secs);
    };
    measure("exhaustive, whole tree", &|| {
        exhaust(&Explore::exhaustive().unbounded(), |lp| {
            scenario(lp, 3, 3, true)
        })
        .unwrap()
        .runs
    });
    measure("random", &|| {
        explore(&Explore::new().runs(1296).strategy(Search::Random), |lp| {
            scenario(lp, 3, 3, true)
        })
        .unwrap()
        .runs
    });
    measure("shuttle check_dfs, same scenario (3x3)", &|| {
        shuttle_dfs(|| shuttle_scenario(3, 3)).0
    });
}
