//! W6, the cost of one test case, and W7, exploration throughput: simloop against tokio's
//! paused clock (W6) and shuttle's random scheduler (W7), side by side, with ratios.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant as WallInstant};

use super::median;

// ---- counting allocations ------------------------------------------------------------------

/// The system allocator, counting the allocations (and reallocations) made while `COUNTING`
/// is on: one relaxed load per call otherwise, the same for every system measured.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Bytes requested and given back while counting (what the program holds, without the
/// allocator's own overhead).
static REQUESTED: AtomicU64 = AtomicU64::new(0);
static RETURNED: AtomicU64 = AtomicU64::new(0);

fn count(bytes: usize, freed: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        if bytes != 0 {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            REQUESTED.fetch_add(bytes as u64, Ordering::Relaxed);
        }
        RETURNED.fetch_add(freed as u64, Ordering::Relaxed);
    }
}

// SAFETY: every call forwards to `System` with the caller's own arguments, so `System`'s
// guarantees are this allocator's; counting touches only two atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 0);
        // SAFETY: the caller's contract for `alloc`, passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 0);
        // SAFETY: the caller's contract for `alloc_zeroed`, passed on unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size, layout.size());
        // SAFETY: `ptr` was allocated by `System` (every allocation here is), with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(0, layout.size());
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// How many allocations `f` makes.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    f();
    COUNTING.store(false, Ordering::Relaxed);
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// Runs `f` counting: its allocations, and the bytes it still holds when it returns
/// (requested minus given back).
pub fn held_during<T>(f: impl FnOnce() -> T) -> (T, u64, u64) {
    let (a, r, g) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        REQUESTED.load(Ordering::Relaxed),
        RETURNED.load(Ordering::Relaxed),
    );
    COUNTING.store(true, Ordering::Relaxed);
    let out = f();
    COUNTING.store(false, Ordering::Relaxed);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - a;
    let held = (REQUESTED.load(Ordering::Relaxed) - r)
        .saturating_sub(RETURNED.load(Ordering::Relaxed) - g);
    (out, allocations, held)
}

// ---- W6: the cost of a test case -----------------------------------------------------------

/// What W6's cases add up to; both systems must agree on it.
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
struct W6Sum {
    counters: u64,
    end_ms: u64,
}

/// Case `i`, task `t`, sleep `k` sleeps this long.
fn w6_delay(i: u64, t: u64, k: u64) -> Duration {
    Duration::from_millis((i + 3 * t + k) % 7 + 1)
}

fn w6_simloop_case(i: u64, sum: &mut W6Sum) {
    let mut lp = simloop::EventLoop::new();
    let counter = Rc::new(Cell::new(0u64));
    for t in 0..3 {
        let c = counter.clone();
        lp.spawn(async move {
            for k in 0..3 {
                simloop::sleep(w6_delay(i, t, k)).await;
                c.set(c.get() + 1);
            }
        });
    }
    lp.run().expect("a W6 case runs to its end");
    sum.counters += counter.get();
    sum.end_ms += lp.time().as_nanos() / 1_000_000;
}

fn w6_tokio_case(i: u64, sum: &mut W6Sum) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    let counter = Rc::new(Cell::new(0u64));
    for t in 0..3 {
        let c = counter.clone();
        local.spawn_local(async move {
            for k in 0..3 {
                tokio::time::sleep(w6_delay(i, t, k)).await;
                c.set(c.get() + 1);
            }
        });
    }
    let now = || {
        let _in = rt.enter();
        tokio::time::Instant::now()
    };
    let start = now();
    rt.block_on(local);
    sum.counters += counter.get();
    sum.end_ms += (now() - start).as_millis() as u64;
}

fn w6(cases: u64, case: fn(u64, &mut W6Sum)) -> (Duration, W6Sum) {
    let mut sum = W6Sum::default();
    let start = WallInstant::now();
    for i in 0..cases {
        case(i, &mut sum);
    }
    (start.elapsed(), sum)
}

/// The gate's share of W6: `cases` small cases, for `bench/callgrind-gate`.
pub fn w6_gate(cases: u64) -> (u64, u64) {
    let (_, sum) = w6(cases, w6_simloop_case);
    (sum.counters, sum.end_ms)
}

// ---- W7: exploration throughput ------------------------------------------------------------

const W7_TASKS: usize = 4;
const W7_ROUNDS: usize = 5;

/// Four tasks, five times each: read a shared counter, yield, write back max(read, current)
/// + 1. Every schedule passes.
fn w7_simloop_scenario(lp: &mut simloop::EventLoop) -> Result<(), String> {
    let counter = Rc::new(Cell::new(0u64));
    for _ in 0..W7_TASKS {
        let c = counter.clone();
        lp.spawn(async move {
            for _ in 0..W7_ROUNDS {
                let read = c.get();
                simloop::yield_now().await;
                c.set(read.max(c.get()) + 1);
            }
        });
    }
    lp.run().map_err(|e| e.to_string())
}

fn w7_simloop(schedules: u64) -> Duration {
    let config = simloop::Explore::new()
        .seeds(0..schedules)
        .strategy(simloop::Search::Random);
    let start = WallInstant::now();
    let explored = simloop::explore(&config, w7_simloop_scenario).expect("every schedule passes");
    let wall = start.elapsed();
    assert_eq!(explored.runs, schedules);
    wall
}

fn w7_shuttle(schedules: u64) -> Duration {
    let start = WallInstant::now();
    shuttle::check_random(
        || {
            let counter = shuttle::sync::Arc::new(shuttle::sync::Mutex::new(0u64));
            let tasks: Vec<_> = (0..W7_TASKS)
                .map(|_| {
                    let c = counter.clone();
                    shuttle::future::spawn(async move {
                        for _ in 0..W7_ROUNDS {
                            let read = *c.lock().unwrap();
                            shuttle::future::yield_now().await;
                            let mut current = c.lock().unwrap();
                            *current = read.max(*current) + 1;
                        }
                    })
                })
                .collect();
            shuttle::future::block_on(async move {
                for t in tasks {
                    t.await.expect("a W7 task finishes");
                }
            });
        },
        schedules as usize,
    );
    start.elapsed()
}

// ---- the table -----------------------------------------------------------------------------

/// Repetitions and sizes of W6 and W7.
pub struct CasesSize {
    pub w6_cases: u64,
    pub w6_pairs: usize,
    pub new_drops: u64,
    pub w7_schedules: u64,
    pub w7_pairs: usize,
}

pub fn cases_table(size: &CasesSize) {
    // W6, pairs alternating; both systems must add up to the same counters and instants.
    let (mut s, mut t) = (Vec::new(), Vec::new());
    let mut sums = None;
    for _ in 0..size.w6_pairs {
        let (ws, sum_s) = w6(size.w6_cases, w6_simloop_case);
        let (wt, sum_t) = w6(size.w6_cases, w6_tokio_case);
        assert_eq!(sum_s, sum_t, "W6: simloop and tokio disagree");
        sums = Some(sum_s);
        s.push(ws);
        t.push(wt);
    }
    let (s, t) = (median(s), median(t));
    let per = |d: Duration| d.as_nanos() as f64 / size.w6_cases as f64;
    let sum = sums.expect("at least one pair");
    println!("| workload | size | simloop | per case | tokio paused | per case | simloop/tokio | target |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let ratio = s.as_secs_f64() / t.as_secs_f64();
    println!(
        "| W6 test cases (3 tasks x 3 sleeps) | {} cases | {:.3}s | {:.0} ns | {:.3}s | {:.0} ns | {ratio:.3} | <= 0.15 {} |",
        size.w6_cases,
        s.as_secs_f64(),
        per(s),
        t.as_secs_f64(),
        per(t),
        if ratio <= 0.15 { "met" } else { "MISSED" },
    );
    // W7, pairs alternating.
    let (mut s7, mut h7) = (Vec::new(), Vec::new());
    for _ in 0..size.w7_pairs {
        s7.push(w7_simloop(size.w7_schedules));
        h7.push(w7_shuttle(size.w7_schedules));
    }
    let (s7, h7) = (median(s7), median(h7));
    let rate = |d: Duration| size.w7_schedules as f64 / d.as_secs_f64();
    let speedup = rate(s7) / rate(h7);
    println!(
        "| W7 exploration (4 tasks x 5 rounds), schedules/s (shuttle: check_random) | {} schedules | {:.3}s | {:.0}/s | {:.3}s | {:.0}/s | {:.1}x shuttle's rate | >= 20x {} |",
        size.w7_schedules,
        s7.as_secs_f64(),
        rate(s7),
        h7.as_secs_f64(),
        rate(h7),
        speedup,
        if speedup >= 20.0 { "met" } else { "MISSED" },
    );
    println!(
        "\nW6 sums (both systems, checked equal): {} counter bumps, {} ms of virtual end instants",
        sum.counters, sum.end_ms
    );
    // EventLoop::new() and drop, alone.
    let start = WallInstant::now();
    for _ in 0..size.new_drops {
        drop(std::hint::black_box(simloop::EventLoop::new()));
    }
    let new_drop = start.elapsed().as_nanos() as f64 / size.new_drops as f64;
    // Allocations per case, over a thousand cases.
    let mut sum = W6Sum::default();
    let simloop_allocs = allocations(|| {
        for i in 0..1000 {
            w6_simloop_case(i, &mut sum);
        }
    }) as f64
        / 1000.0;
    let tokio_allocs = allocations(|| {
        for i in 0..1000 {
            w6_tokio_case(i, &mut sum);
        }
    }) as f64
        / 1000.0;
    let new_allocs = allocations(|| drop(simloop::EventLoop::new()));
    println!(
        "EventLoop::new() + drop: {new_drop:.0} ns (target <= 150 {}), {new_allocs} allocations",
        if new_drop <= 150.0 { "met" } else { "MISSED" }
    );
    println!(
        "Allocations per W6 case: simloop {simloop_allocs:.1} (target <= 12 {}), tokio {tokio_allocs:.1}",
        if simloop_allocs <= 12.0 { "met" } else { "MISSED" }
    );
}

/// One of W6/W7 alone (with `size` cases or schedules), for a profiler.
pub fn profile(workload: &str, size: Option<usize>) -> Duration {
    let n = size.map(|n| n as u64);
    match workload {
        "w6" => w6(n.unwrap_or(100_000), w6_simloop_case).0,
        "tokio-w6" => w6(n.unwrap_or(100_000), w6_tokio_case).0,
        "new-drop" => {
            let start = WallInstant::now();
            for _ in 0..n.unwrap_or(1_000_000) {
                drop(std::hint::black_box(simloop::EventLoop::new()));
            }
            start.elapsed()
        }
        "w7" => w7_simloop(n.unwrap_or(20_000)),
        _ => w7_shuttle(n.unwrap_or(20_000)),
    }
}
