//! Evidence for the systematic search (issue 23): `cargo bench -p simloop-bench --bench
//! exhaustive`. Prints the tables of bench/README.md ("Systematic exploration").

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant as WallClock;

use simloop::{exhaust, explore, yield_now, EventLoop, Explore, Search};

#[path = "../../tests/bugs.rs"]
#[allow(dead_code, unused_imports)]
mod bugs;

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

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("### The bug zoo (tests/bugs.rs): the systematic search, plain, unbounded delays\n");
    println!("| bug | delays of the first failing schedule | runs to find it | token |");
    println!("|---|---|---|---|");
    for bug in bugs::BUGS {
        match exhaust(
            &Explore::exhaustive().max_delays(8).runs(100_000),
            bug.scenario,
        ) {
            Err(f) => {
                let c = f.coverage.clone().unwrap();
                println!(
                    "| {} | {} | {} | `{}` |",
                    bug.name,
                    c.failing_delays.unwrap(),
                    c.runs,
                    f.schedule
                );
            }
            Ok(c) => println!("| {} | not found | {} | {c} |", bug.name, c.runs),
        }
    }

    println!(
        "\n### State space: tasks x steps (yield after each step), max 2 delays and whole tree\n"
    );
    println!("| tasks x steps | accesses | plain, <= 2 delays | reduced, <= 2 delays | plain, whole tree (budget 200k) | reduced, whole tree (budget 200k) |");
    println!("|---|---|---|---|---|---|");
    for n in 2..=5 {
        for shared in [false, true] {
            let row = |config: Explore| {
                let c = exhaust(&config, |lp| scenario(lp, n, n, shared)).unwrap();
                if c.budget_hit {
                    format!("> {} (budget)", c.runs)
                } else {
                    c.runs.to_string()
                }
            };
            println!(
                "| {n}x{n} | {} | {} | {} | {} | {} |",
                if shared {
                    "register 0 on even steps"
                } else {
                    "own register"
                },
                row(Explore::exhaustive().max_delays(2)),
                row(Explore::exhaustive().max_delays(2).reduce()),
                row(Explore::exhaustive().unbounded().runs(200_000)),
                row(Explore::exhaustive().unbounded().reduce().runs(200_000)),
            );
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
}
