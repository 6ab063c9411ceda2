//! simloop against tokio's paused clock, side by side in one process, same workloads.
//!
//! `cargo bench -p simloop-bench` prints the comparison table; `-- --scaling` prints how the
//! cost per event grows with the workload's size, simloop's and tokio's side by side (about
//! ten minutes); `-- --quick` runs everything at a tenth of the size, once (a smoke run);
//! `-- --profile NAME [RUNS [SIZE]]` runs one workload five (or RUNS) times for a profiler
//! (simloop's, or tokio's with a `tokio-` prefix; SIZE timers for W1, tasks for W2);
//! `-- --gate` runs the workload of `bench/callgrind-gate`; `-- --cases` only W6 and W7 (the
//! cost of a test case, exploration throughput).

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant as WallInstant};

use futures::{SinkExt, StreamExt};

#[path = "compare/cases.rs"]
mod cases;

const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// xorshift64*, as the workloads specify.
struct XorShift(u64);

impl XorShift {
    fn new() -> Self {
        XorShift(SEED)
    }
    fn next(&mut self) -> u64 {
        let mut s = self.0;
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        self.0 = s;
        s.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// One measured run: wall time and the virtual time the workload ended at.
struct Run {
    wall: Duration,
    virtual_end: Duration,
}

fn simloop_loop(trace: bool) -> simloop::EventLoop {
    simloop::EventLoop::builder().trace(trace).build()
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("tokio runtime")
}

/// Runs `spawn_all` inside a LocalSet on a paused tokio runtime until every task is done.
fn tokio_run(spawn_all: impl FnOnce()) -> Run {
    let rt = tokio_rt();
    let local = tokio::task::LocalSet::new();
    let start = WallInstant::now();
    let t0 = rt.block_on(async { tokio::time::Instant::now() });
    {
        let _guard = local.enter();
        let _rt = rt.enter();
        spawn_all();
    }
    rt.block_on(local);
    let virtual_end = rt.block_on(async { tokio::time::Instant::now() }) - t0;
    Run {
        wall: start.elapsed(),
        virtual_end,
    }
}

fn simloop_run(trace: bool, spawn_all: impl FnOnce()) -> Run {
    let mut lp = simloop_loop(trace);
    let start = WallInstant::now();
    lp.enter(spawn_all);
    lp.run().expect("workload runs to quiescence");
    Run {
        wall: start.elapsed(),
        virtual_end: Duration::from_nanos(lp.time().as_nanos()),
    }
}

// ---- W1: one-shot timers ------------------------------------------------------------------

fn w1_delays(n: usize) -> Vec<u64> {
    let mut rng = XorShift::new();
    (0..n).map(|_| rng.next() % 1_000_000).collect()
}

fn w1_simloop_callbacks(delays: &[u64], trace: bool) -> Run {
    let count = Rc::new(Cell::new(0u64));
    let c = count.clone();
    let run = simloop_run(trace, || {
        for &d in delays {
            let c = c.clone();
            simloop::call_later(Duration::from_micros(d), move || c.set(c.get() + 1));
        }
    });
    assert_eq!(count.get(), delays.len() as u64);
    run
}

fn w1_simloop_tasks(delays: &[u64], trace: bool) -> Run {
    let count = Rc::new(Cell::new(0u64));
    let c = count.clone();
    let run = simloop_run(trace, || {
        for &d in delays {
            let c = c.clone();
            drop(simloop::spawn(async move {
                simloop::sleep(Duration::from_micros(d)).await;
                c.set(c.get() + 1);
            }));
        }
    });
    assert_eq!(count.get(), delays.len() as u64);
    run
}

fn w1_tokio(delays: &[u64]) -> Run {
    let count = Rc::new(Cell::new(0u64));
    let c = count.clone();
    let run = tokio_run(|| {
        for &d in delays {
            let c = c.clone();
            drop(tokio::task::spawn_local(async move {
                tokio::time::sleep(Duration::from_micros(d)).await;
                c.set(c.get() + 1);
            }));
        }
    });
    assert_eq!(count.get(), delays.len() as u64);
    run
}

/// The floor: a plain binary heap of (deadline, seq) popping boxed no-op closures.
fn w1_floor(delays: &[u64]) -> Run {
    struct Item(u64, u64, Box<dyn FnOnce()>);
    impl PartialEq for Item {
        fn eq(&self, o: &Self) -> bool {
            (self.0, self.1) == (o.0, o.1)
        }
    }
    impl Eq for Item {}
    impl PartialOrd for Item {
        fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for Item {
        fn cmp(&self, o: &Self) -> std::cmp::Ordering {
            (self.0, self.1).cmp(&(o.0, o.1))
        }
    }
    let start = WallInstant::now();
    let count = Rc::new(Cell::new(0u64));
    let mut heap = BinaryHeap::new();
    for (seq, &d) in delays.iter().enumerate() {
        let c = count.clone();
        heap.push(Reverse(Item(
            d * 1000,
            seq as u64,
            Box::new(move || c.set(c.get() + 1)),
        )));
    }
    let mut now = 0;
    while let Some(Reverse(Item(deadline, _, f))) = heap.pop() {
        now = deadline;
        f();
    }
    assert_eq!(count.get(), delays.len() as u64);
    Run {
        wall: start.elapsed(),
        virtual_end: Duration::from_nanos(now),
    }
}

// ---- W2: sleepers --------------------------------------------------------------------------

fn w2_plan(tasks: usize) -> Vec<Vec<u64>> {
    let mut rng = XorShift::new();
    (0..tasks)
        .map(|_| (0..100).map(|_| 1 + rng.next() % 10_000).collect())
        .collect()
}

fn w2_exact_end(plan: &[Vec<u64>]) -> Duration {
    Duration::from_micros(
        plan.iter()
            .map(|p| p.iter().sum::<u64>())
            .max()
            .unwrap_or(0),
    )
}

fn w2_simloop(plan: &[Vec<u64>], trace: bool) -> Run {
    simloop_run(trace, || {
        for delays in plan {
            let delays = delays.clone();
            drop(simloop::spawn(async move {
                for d in delays {
                    simloop::sleep(Duration::from_micros(d)).await;
                }
            }));
        }
    })
}

fn w2_tokio(plan: &[Vec<u64>]) -> Run {
    tokio_run(|| {
        for delays in plan {
            let delays = delays.clone();
            drop(tokio::task::spawn_local(async move {
                for d in delays {
                    tokio::time::sleep(Duration::from_micros(d)).await;
                }
            }));
        }
    })
}

/// W2's delays drawn inside each task as it goes, from the generator's state where the task's
/// share of the stream begins: the same delays and instants as `w2_plan`, without the
/// per-task vectors (80 MB at 100,000 tasks). `--scaling` runs it to show what reading those
/// vectors costs once they leave the caches.
fn w2_starts(tasks: usize) -> Vec<u64> {
    let mut rng = XorShift::new();
    (0..tasks)
        .map(|_| {
            let start = rng.0;
            for _ in 0..100 {
                rng.next();
            }
            start
        })
        .collect()
}

fn w2_drawn_delays(start: u64) -> impl Iterator<Item = Duration> {
    let mut rng = XorShift(start);
    (0..100).map(move |_| Duration::from_micros(1 + rng.next() % 10_000))
}

fn w2_drawn_simloop(starts: &[u64]) -> Run {
    simloop_run(false, || {
        for &start in starts {
            drop(simloop::spawn(async move {
                for d in w2_drawn_delays(start) {
                    simloop::sleep(d).await;
                }
            }));
        }
    })
}

fn w2_drawn_tokio(starts: &[u64]) -> Run {
    tokio_run(|| {
        for &start in starts {
            drop(tokio::task::spawn_local(async move {
                for d in w2_drawn_delays(start) {
                    tokio::time::sleep(d).await;
                }
            }));
        }
    })
}

// ---- W3: ping-pong -------------------------------------------------------------------------

fn w3_simloop(messages: u64, trace: bool) -> Run {
    simloop_run(trace, || {
        let (mut to_b, mut from_a) = futures::channel::mpsc::unbounded::<u64>();
        let (mut to_a, mut from_b) = futures::channel::mpsc::unbounded::<u64>();
        drop(simloop::spawn(async move {
            let mut i = 0;
            while i < messages {
                to_b.send(i).await.unwrap();
                i = from_b.next().await.unwrap() + 1;
            }
        }));
        drop(simloop::spawn(async move {
            while let Some(i) = from_a.next().await {
                if to_a.send(i + 1).await.is_err() {
                    break;
                }
            }
        }));
    })
}

/// W3 on simloop with tokio's channel, the one `w3_tokio` uses (it needs no runtime): the same
/// workload on both systems, so that the ratio compares the executors, not two channels.
fn w3_simloop_tokio_channel(messages: u64, trace: bool) -> Run {
    simloop_run(trace, || {
        let (to_b, mut from_a) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let (to_a, mut from_b) = tokio::sync::mpsc::unbounded_channel::<u64>();
        drop(simloop::spawn(async move {
            let mut i = 0;
            while i < messages {
                to_b.send(i).unwrap();
                i = from_b.recv().await.unwrap() + 1;
            }
        }));
        drop(simloop::spawn(async move {
            while let Some(i) = from_a.recv().await {
                if to_a.send(i + 1).is_err() {
                    break;
                }
            }
        }));
    })
}

fn w3_tokio(messages: u64) -> Run {
    tokio_run(|| {
        let (to_b, mut from_a) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let (to_a, mut from_b) = tokio::sync::mpsc::unbounded_channel::<u64>();
        drop(tokio::task::spawn_local(async move {
            let mut i = 0;
            while i < messages {
                to_b.send(i).unwrap();
                i = from_b.recv().await.unwrap() + 1;
            }
        }));
        drop(tokio::task::spawn_local(async move {
            while let Some(i) = from_a.recv().await {
                if to_a.send(i + 1).is_err() {
                    break;
                }
            }
        }));
    })
}

// ---- W5: timeout churn ---------------------------------------------------------------------

fn w5_simloop(n: u64, trace: bool) -> Run {
    simloop_run(trace, || {
        drop(simloop::spawn(async move {
            for _ in 0..n {
                let r = simloop::timeout(
                    Duration::from_secs(1),
                    simloop::sleep(Duration::from_micros(1)),
                )
                .await;
                assert!(r.is_ok());
            }
        }));
    })
}

fn w5_tokio(n: u64) -> Run {
    tokio_run(|| {
        drop(tokio::task::spawn_local(async move {
            for _ in 0..n {
                let r = tokio::time::timeout(
                    Duration::from_secs(1),
                    tokio::time::sleep(Duration::from_micros(1)),
                )
                .await;
                assert!(r.is_ok());
            }
        }));
    })
}

// ---- W4: idle memory (in a child process, so each peak RSS is its own) ---------------------

fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// W4 in a child process: prints its peak RSS, then what the system holds once every task
/// sleeps (bytes requested from the allocator, net, and allocations), by the counting
/// allocator: the same memory without the allocator's overhead and page granularity.
fn w4_child(system: &str, tasks: usize) {
    match system {
        "simloop" => {
            let (lp, allocations, held) = cases::held_during(|| {
                let mut lp = simloop_loop(false);
                lp.enter(|| {
                    for _ in 0..tasks {
                        drop(simloop::spawn(simloop::sleep(Duration::from_secs(3600))));
                    }
                });
                lp.run_until(simloop::Instant::from_nanos(1)).unwrap();
                lp
            });
            println!("{} {held} {allocations}", peak_rss_bytes());
            drop(lp);
        }
        _ => {
            let rt = tokio_rt();
            let local = tokio::task::LocalSet::new();
            let ((), allocations, held) = cases::held_during(|| {
                local.block_on(&rt, async {
                    for _ in 0..tasks {
                        drop(tokio::task::spawn_local(tokio::time::sleep(
                            Duration::from_secs(3600),
                        )));
                    }
                    tokio::task::yield_now().await;
                    tokio::task::yield_now().await;
                })
            });
            println!("{} {held} {allocations}", peak_rss_bytes());
        }
    }
}

/// W4 per task: peak RSS over an empty run's, and the counting allocator's net bytes and
/// allocations.
fn w4_bytes_per_task(system: &str, tasks: usize) -> (f64, f64, f64) {
    let exe = std::env::current_exe().expect("own path");
    let run = |n: usize| -> Vec<f64> {
        let out = Command::new(&exe)
            .args(["--w4-child", system, &n.to_string()])
            .output()
            .expect("child runs");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(|x| x.parse::<f64>().unwrap_or(f64::NAN))
            .collect()
    };
    let (full, empty) = (run(tasks), run(0));
    let per = |i: usize| (full[i] - empty[i]) / tasks as f64;
    (per(0), per(1), per(2))
}

// ---- table ---------------------------------------------------------------------------------

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Row {
    name: &'static str,
    events: u64,
    simloop: Duration,
    traced: Option<Duration>,
    tokio: Option<Duration>,
    target: Option<f64>,
    virtual_simloop: Duration,
    virtual_tokio: Option<Duration>,
}

fn secs(d: Duration) -> String {
    format!("{:.6}s", d.as_secs_f64())
}

fn measure(
    reps: usize,
    mut simloop: impl FnMut(bool) -> Run,
    mut tokio: Option<&mut dyn FnMut() -> Run>,
) -> (Vec<Run>, Vec<Run>, Vec<Run>) {
    let (mut s, mut t) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        s.push(simloop(false));
        if let Some(tokio) = tokio.as_mut() {
            t.push(tokio());
        }
    }
    // The traced runs after the pairs: each frees a large trace, and the run right after
    // one paid for it (it was always simloop's untraced run). Five are enough for a column
    // that only says what recording costs.
    let tr = (0..reps.min(5)).map(|_| simloop(true)).collect();
    (s, t, tr)
}

/// The table's row for one workload. Every simloop run, traced or not, must end at `exact`,
/// the virtual time the workload's delays add up to: no deadline is rounded.
fn row(
    name: &'static str,
    events: u64,
    target: Option<f64>,
    exact: Duration,
    runs: (Vec<Run>, Vec<Run>, Vec<Run>),
) -> Row {
    let (s, t, tr) = runs;
    for r in s.iter().chain(&tr) {
        assert_eq!(
            r.virtual_end, exact,
            "{name}: simloop's virtual end differs from the exact end of the workload"
        );
    }
    Row {
        name,
        events,
        virtual_simloop: s[0].virtual_end,
        virtual_tokio: t.first().map(|r| r.virtual_end),
        simloop: median(s.iter().map(|r| r.wall).collect()),
        traced: (!tr.is_empty()).then(|| median(tr.iter().map(|r| r.wall).collect())),
        tokio: (!t.is_empty()).then(|| median(t.iter().map(|r| r.wall).collect())),
        target,
    }
}

/// Repetitions (simloop/tokio pairs) per workload: more for the short ones, whose medians
/// the machine's noise moves most, so that each workload is measured for a few seconds.
struct Reps {
    w1: usize,
    w2: usize,
    w3: usize,
    w5: usize,
}

fn compare(scale: u64, reps: Reps) {
    let n1 = 1_000_000 / scale as usize;
    let delays = w1_delays(n1);
    let plan = w2_plan(10_000 / scale as usize);
    let (n3, n5) = (1_000_000 / scale, 1_000_000 / scale);

    // The exact virtual ends: the longest delay (W1), the longest sum of a task's delays
    // (W2), nothing (W3), a microsecond per timeout (W5).
    let w1_end = Duration::from_micros(delays.iter().copied().max().unwrap_or(0));
    let w2_end = w2_exact_end(&plan);
    let w5_end = Duration::from_micros(n5);

    let mut rows = Vec::new();
    let tokio_w1 = &mut || w1_tokio(&delays);
    rows.push(row(
        "W1 timers, callbacks",
        n1 as u64,
        Some(0.25),
        w1_end,
        measure(
            reps.w1,
            |t| w1_simloop_callbacks(&delays, t),
            Some(tokio_w1),
        ),
    ));
    let tokio_w1 = &mut || w1_tokio(&delays);
    rows.push(row(
        "W1 timers, tasks",
        n1 as u64,
        Some(0.25),
        w1_end,
        measure(reps.w1, |t| w1_simloop_tasks(&delays, t), Some(tokio_w1)),
    ));
    rows.push(row("W1 floor: BinaryHeap", n1 as u64, None, w1_end, {
        let s: Vec<Run> = (0..reps.w1).map(|_| w1_floor(&delays)).collect();
        (s, Vec::new(), Vec::new())
    }));
    let tokio_w2 = &mut || w2_tokio(&plan);
    rows.push(row(
        "W2 sleepers",
        plan.len() as u64 * 100,
        Some(0.3),
        w2_end,
        measure(reps.w2, |t| w2_simloop(&plan, t), Some(tokio_w2)),
    ));
    let tokio_w3 = &mut || w3_tokio(n3);
    rows.push(row(
        "W3 ping-pong, tokio's channel on both",
        n3,
        Some(0.5),
        Duration::ZERO,
        measure(reps.w3, |t| w3_simloop_tokio_channel(n3, t), Some(tokio_w3)),
    ));
    let tokio_w3 = &mut || w3_tokio(n3);
    rows.push(row(
        "W3 ping-pong, futures' channel on simloop",
        n3,
        None,
        Duration::ZERO,
        measure(reps.w3, |t| w3_simloop(n3, t), Some(tokio_w3)),
    ));
    let tokio_w5 = &mut || w5_tokio(n5);
    rows.push(row(
        "W5 timeout churn",
        n5,
        Some(0.3),
        w5_end,
        measure(reps.w5, |t| w5_simloop(n5, t), Some(tokio_w5)),
    ));

    println!("| workload | events | simloop | ns/event | tokio paused | ns/event | simloop/tokio | target | traced/untraced | virtual end simloop (checked exact) | virtual end tokio |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let floor = rows
        .iter()
        .find(|r| r.name.starts_with("W1 floor"))
        .map(|r| r.simloop);
    for r in &rows {
        let ns = |d: Duration| format!("{:.0}", d.as_nanos() as f64 / r.events as f64);
        let ratio = r.tokio.map(|t| r.simloop.as_secs_f64() / t.as_secs_f64());
        let verdict = match (ratio, r.target) {
            (Some(x), Some(t)) => format!("<= {t} {}", if x <= t { "met" } else { "MISSED" }),
            _ => "-".into(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.events,
            secs(r.simloop),
            ns(r.simloop),
            r.tokio.map_or("-".into(), secs),
            r.tokio.map_or("-".into(), ns),
            ratio.map_or("-".into(), |x| format!("{x:.3}")),
            verdict,
            r.traced.map_or("-".into(), |t| format!(
                "{:.2}",
                t.as_secs_f64() / r.simloop.as_secs_f64()
            )),
            secs(r.virtual_simloop),
            r.virtual_tokio.map_or("-".into(), secs),
        );
    }
    if let (Some(floor), Some(cb)) = (floor, rows.first()) {
        println!(
            "\nW1 callbacks / BinaryHeap floor: {:.2} (target <= 2)",
            cb.simloop.as_secs_f64() / floor.as_secs_f64()
        );
    }
    println!(
        "Virtual ends: simloop's equal the exact ends on every run (checked); tokio rounds every sleep up to a whole millisecond"
    );
    let tasks = 100_000 / scale as usize;
    let (bs, hs, as_) = w4_bytes_per_task("simloop", tasks);
    let (bt, ht, at) = w4_bytes_per_task("tokio", tasks);
    println!(
        "W4 idle memory, {tasks} tasks sleeping 3600s: simloop {bs:.0} B/task, tokio {bt:.0} B/task, ratio {:.3} (target <= 0.3 {})",
        bs / bt,
        if bs / bt <= 0.3 { "met" } else { "MISSED" }
    );
    println!(
        "W4 as the allocator sees it (bytes requested and held, per task): simloop {hs:.0} B in {as_:.2} allocations, tokio {ht:.0} B in {at:.2} allocations, ratio {:.3}",
        hs / ht
    );
}

/// Runs `measure(i)` `reps[i]` times for each size `i`, in rounds, each size's runs spread
/// evenly over them: the machine's speed moves by a quarter within seconds here, and a size
/// measured in one spell and the next size in another would show that as growth. (`measure`
/// starts with an untimed run, so that what it times finds the allocator as a run of the
/// same size leaves it, not as a bigger one did.)
fn in_rounds(reps: &[usize], mut measure: impl FnMut(usize)) {
    let rounds = reps.iter().copied().max().unwrap_or(0);
    for r in 0..rounds {
        for (i, &k) in reps.iter().enumerate() {
            if (r + 1) * k / rounds > r * k / rounds {
                measure(i);
            }
        }
    }
}

/// How each system's cost per event grows with the workload's size, side by side: per size,
/// ns per event, its growth over the smallest size, and the growth of log(n) (the issue's
/// bound). Every system and size takes a turn in each round (`in_rounds`). Medians of 21
/// runs up to a million events, of 3 above (a run of ten million tasks takes seconds on each
/// system).
fn scaling() {
    let reps_for = |events: usize| (20_000_000 / events).clamp(3, 21) | 1;
    let ns_per_event =
        |runs: &[Duration], events: usize| median(runs.to_vec()).as_nanos() as f64 / events as f64;
    println!("| workload | n | events | simloop ns/event | growth | tokio ns/event | growth | simloop/tokio | log(n) growth |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let growth = |first: &mut Option<f64>, x: f64| x / *first.get_or_insert(x);
    let cell = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.0}"));
    let ratio = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.2}"));
    // Every row's growths, for the verdicts: (workload, n, simloop's, tokio's, log(n)'s).
    let rows = std::cell::RefCell::new(Vec::<(String, usize, f64, Option<f64>, f64)>::new());
    let print = |name: &str,
                 n: usize,
                 n0: usize,
                 events: usize,
                 s: f64,
                 t: Option<f64>,
                 first: &mut (Option<f64>, Option<f64>)| {
        let gs = growth(&mut first.0, s);
        let gt = t.map(|t| growth(&mut first.1, t));
        let log = (n as f64).ln() / (n0 as f64).ln();
        rows.borrow_mut().push((name.to_string(), n, gs, gt, log));
        println!(
            "| {name} | {n} | {events} | {s:.0} | {gs:.2} | {} | {} | {} | {log:.2} |",
            cell(t),
            ratio(gt),
            ratio(t.map(|t| s / t)),
        );
    };

    let sizes = [10_000usize, 100_000, 1_000_000, 10_000_000];
    let delays: Vec<Vec<u64>> = sizes.iter().map(|&n| w1_delays(n)).collect();
    let reps: Vec<usize> = sizes.iter().map(|&n| reps_for(n)).collect();
    // Per size: simloop callbacks, simloop tasks, tokio tasks, the floor.
    let mut walls = vec![<[Vec<Duration>; 4]>::default(); sizes.len()];
    in_rounds(&reps, |i| {
        let (d, w) = (&delays[i], &mut walls[i]);
        w1_simloop_tasks(d, false);
        w[0].push(w1_simloop_callbacks(d, false).wall);
        w[1].push(w1_simloop_tasks(d, false).wall);
        w[2].push(w1_tokio(d).wall);
        w[3].push(w1_floor(d).wall);
    });
    drop(delays);
    let (mut cb, mut tasks, mut floor) = Default::default();
    for (&n, w) in sizes.iter().zip(&walls) {
        let per = |runs| ns_per_event(runs, n);
        print("W1 callbacks", n, sizes[0], n, per(&w[0]), None, &mut cb);
        let (s, t) = (per(&w[1]), per(&w[2]));
        print("W1 tasks", n, sizes[0], n, s, Some(t), &mut tasks);
        print(
            "W1 floor: BinaryHeap",
            n,
            sizes[0],
            n,
            per(&w[3]),
            None,
            &mut floor,
        );
    }

    let sizes = [1_000usize, 10_000, 100_000];
    let plans: Vec<_> = sizes.iter().map(|&n| w2_plan(n)).collect();
    let starts: Vec<_> = sizes.iter().map(|&n| w2_starts(n)).collect();
    let reps: Vec<usize> = sizes.iter().map(|&n| reps_for(n * 100)).collect();
    // Per size: simloop and tokio with the delay vectors, then with the delays drawn.
    let mut walls = vec![<[Vec<Duration>; 4]>::default(); sizes.len()];
    in_rounds(&reps, |i| {
        let (plan, starts, w) = (&plans[i], &starts[i], &mut walls[i]);
        w2_simloop(plan, false);
        w[0].push(w2_simloop(plan, false).wall);
        w[1].push(w2_tokio(plan).wall);
        let run = w2_drawn_simloop(starts);
        assert_eq!(
            run.virtual_end,
            w2_exact_end(plan),
            "drawn delays are W2's delays"
        );
        w[2].push(run.wall);
        w[3].push(w2_drawn_tokio(starts).wall);
    });
    drop(plans);
    let (mut w2, mut drawn) = Default::default();
    for (&n, w) in sizes.iter().zip(&walls) {
        let events = n * 100;
        let per = |runs| ns_per_event(runs, events);
        let (s, t) = (per(&w[0]), per(&w[1]));
        print("W2 sleepers", n, sizes[0], events, s, Some(t), &mut w2);
        let (s, t) = (per(&w[2]), per(&w[3]));
        print(
            "W2, delays drawn in the task",
            n,
            sizes[0],
            events,
            s,
            Some(t),
            &mut drawn,
        );
    }
    // The verdicts: simloop's own event path grows no faster than log(n); W1 tasks and W2 as
    // defined grow less than tokio's at every size.
    println!();
    let rows = rows.into_inner();
    let verdict = |name: &str, rule: &str, holds: &dyn Fn(f64, Option<f64>, f64) -> bool| {
        let mine: Vec<_> = rows.iter().filter(|r| r.0 == name && r.1 > 0).collect();
        let failed: Vec<String> = mine
            .iter()
            .filter(|r| !holds(r.2, r.3, r.4))
            .map(|r| format!("n = {}", r.1))
            .collect();
        let outcome = if failed.is_empty() {
            "holds at every size".to_string()
        } else {
            format!("FAILS at {}", failed.join(", "))
        };
        println!("- {name}: {rule}: {outcome}");
    };
    let within_log = |s: f64, _: Option<f64>, log: f64| s <= log;
    let below_tokio = |s: f64, t: Option<f64>, _: f64| t.is_some_and(|t| s <= t);
    verdict("W1 callbacks", "growth <= log(n) growth", &within_log);
    verdict(
        "W2, delays drawn in the task",
        "growth <= log(n) growth",
        &within_log,
    );
    verdict("W1 tasks", "growth <= tokio's growth", &below_tokio);
    verdict("W2 sleepers", "growth <= tokio's growth", &below_tokio);

    // What one of those vector reads waits for once they leave the caches: a load whose
    // address comes from the load before it, through a buffer of the vectors' size.
    println!();
    println!("| W2 tasks | their delay vectors | one dependent load through them, ns |");
    println!("|---:|---:|---:|");
    for n in sizes {
        let bytes = n * 100 * 8;
        println!(
            "| {n} | {:.1} MB | {:.0} |",
            bytes as f64 / 1e6,
            dependent_load_ns(bytes)
        );
    }
}

/// Median ns of one load whose address comes from the load before it, over a buffer of
/// `bytes` visited one cache line at a time in a random single cycle (Sattolo's shuffle).
fn dependent_load_ns(bytes: usize) -> f64 {
    let lines = (bytes / 64).max(2);
    let mut next: Vec<usize> = (0..lines).collect();
    let mut rng = XorShift::new();
    for i in (1..lines).rev() {
        let j = (rng.next() % i as u64) as usize;
        next.swap(i, j);
    }
    let mut buf = vec![[0usize; 8]; lines];
    for (line, &to) in buf.iter_mut().zip(&next) {
        line[0] = to;
    }
    drop(next);
    let steps = 2_000_000;
    let runs = (0..5)
        .map(|_| {
            let start = WallInstant::now();
            let mut at = 0;
            for _ in 0..steps {
                at = buf[at][0];
            }
            std::hint::black_box(at);
            start.elapsed()
        })
        .collect();
    median(runs).as_nanos() as f64 / steps as f64
}

/// Runs one simloop workload a few times, for a profiler to look at: at full size, or with
/// `size` timers (W1) or tasks (W2), e.g. to count instructions per event at each size.
fn profile(workload: &str, runs: usize, size: Option<usize>) {
    let delays = w1_delays(if workload.contains("w1") {
        size.unwrap_or(1_000_000)
    } else {
        0
    });
    let plan = w2_plan(if workload.ends_with("w2") {
        size.unwrap_or(10_000)
    } else {
        0
    });
    let starts = w2_starts(if workload.contains("w2-drawn") {
        size.unwrap_or(10_000)
    } else {
        0
    });
    for _ in 0..runs {
        let run = match workload {
            "w1-callbacks" => w1_simloop_callbacks(&delays, false),
            "w1-tasks" => w1_simloop_tasks(&delays, false),
            "w2" => w2_simloop(&plan, false),
            "w2-drawn" => w2_drawn_simloop(&starts),
            "w3" => w3_simloop_tokio_channel(1_000_000, false),
            "w3-futures" => w3_simloop(1_000_000, false),
            "w5" => w5_simloop(1_000_000, false),
            "tokio-w1" => w1_tokio(&delays),
            "tokio-w2" => w2_tokio(&plan),
            "tokio-w2-drawn" => w2_drawn_tokio(&starts),
            "tokio-w3" => w3_tokio(1_000_000),
            "tokio-w5" => w5_tokio(1_000_000),
            "w6" | "tokio-w6" | "new-drop" | "w7" | "shuttle-w7" => {
                let wall = cases::profile(workload, size);
                println!("{workload}: {}", secs(wall));
                continue;
            }
            other => panic!(
                "unknown workload {other}: w1-callbacks, w1-tasks, w2, w2-drawn, w3, w5, w6, \
                 new-drop, w7, tokio-w1, tokio-w2, tokio-w2-drawn, tokio-w3, tokio-w5, \
                 tokio-w6, shuttle-w7"
            ),
        };
        println!("{workload}: {}", secs(run.wall));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--w4-child") {
        w4_child(&args[i + 1], args[i + 2].parse().expect("task count"));
        return;
    }
    if args.iter().any(|a| a == "--gate") {
        // The instruction-count gate's workload: W2 at a tenth of the size, once.
        let run = w2_simloop(&w2_plan(1_000), false);
        println!("W2 1000 tasks: virtual end {}", secs(run.virtual_end));
        // And a batch of W6's small cases, so that the cost of building a loop counts too.
        let (counters, end_ms) = cases::w6_gate(2_000);
        println!("W6 2000 cases: {counters} counter bumps, {end_ms} ms of end instants");
    } else if let Some(i) = args.iter().position(|a| a == "--profile") {
        let runs = args.get(i + 2).and_then(|r| r.parse().ok()).unwrap_or(5);
        let size = args.get(i + 3).and_then(|n| n.parse().ok());
        profile(&args[i + 1], runs, size);
    } else if args.iter().any(|a| a == "--cases") {
        cases::cases_table(&cases::CasesSize {
            w6_cases: 100_000,
            w6_pairs: 3,
            new_drops: 1_000_000,
            w7_schedules: 20_000,
            w7_pairs: 3,
        });
    } else if args.iter().any(|a| a == "--scaling") {
        scaling();
    } else if args.iter().any(|a| a == "--quick") {
        let once = Reps {
            w1: 1,
            w2: 1,
            w3: 1,
            w5: 1,
        };
        compare(10, once);
    } else {
        // About 0.3 to 2.5 s per pair for W1, 0.7 s for W2 and W5, 0.15 s for W3.
        let reps = Reps {
            w1: 5,
            w2: 11,
            w3: 21,
            w5: 11,
        };
        compare(1, reps);
    }
}
