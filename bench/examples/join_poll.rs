//! A JoinHandle-heavy loop, for instruction counts under callgrind (the cost of a
//! `JoinHandle` poll and of `is_finished` when no search observes them):
//!
//! ```text
//! cargo build --release -p simloop-bench --example join_poll
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/join.out target/release/examples/join_poll
//! ```
//!
//! 200 rounds: 100 tasks of 3 yields each, awaited by a supervisor that checks every
//! handle's `is_finished` after each of its yields, then awaits them all (it prints the
//! number of `is_finished` calls and of joins).

use simloop::{yield_now, EventLoop};

fn main() {
    let mut lp = EventLoop::new();
    let total = lp
        .run_until_complete(async {
            let (mut total, mut checks, mut joins) = (0u64, 0u64, 0u64);
            for round in 0..200u64 {
                let mut handles: Vec<_> = (0..100u64)
                    .map(|i| {
                        simloop::spawn(async move {
                            for _ in 0..3 {
                                yield_now().await;
                            }
                            i + round
                        })
                    })
                    .collect();
                loop {
                    checks += handles.len() as u64;
                    let done = handles.iter().filter(|h| h.is_finished()).count();
                    if done == handles.len() {
                        break;
                    }
                    yield_now().await;
                }
                for h in handles.drain(..) {
                    total += h.await.unwrap();
                    joins += 1;
                }
            }
            (total, checks, joins)
        })
        .unwrap();
    println!(
        "sum {}, {} is_finished calls, {} joins",
        total.0, total.1, total.2
    );
}
