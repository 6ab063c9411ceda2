use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
struct Count;
static CUR: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static N: AtomicUsize = AtomicUsize::new(0);
unsafe impl GlobalAlloc for Count {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 { let c = CUR.fetch_add(l.size(), Relaxed) + l.size(); PEAK.fetch_max(c, Relaxed); N.fetch_add(1, Relaxed); System.alloc(l) }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) { CUR.fetch_sub(l.size(), Relaxed); System.dealloc(p, l) }
}
#[global_allocator]
static A: Count = Count;
fn main() {
    let n = 100_000;
    let base = CUR.load(Relaxed); PEAK.store(base, Relaxed); let n0 = N.load(Relaxed);
    let mut lp = simloop::EventLoop::new();
    lp.enter(|| for _ in 0..n { drop(simloop::spawn(simloop::sleep(std::time::Duration::from_secs(3600)))); });
    lp.run_until(simloop::Instant::from_nanos(1)).unwrap();
    println!("live {} B/task, peak {} B/task, allocs/task {}", (CUR.load(Relaxed)-base)/n, (PEAK.load(Relaxed)-base)/n, (N.load(Relaxed)-n0) as f64 / n as f64);
}
