//! Long runs give their memory back: a loop that schedules, cancels and spawns for tens of
//! millions of iterations, with bursts in between, holds no more memory at the end than after
//! its first burst.
//!
//! What the process holds is counted by a counting allocator (exact, and the allocator's own
//! habits do not blur it); the resident set is printed beside it. Opt-in (about 20 s in
//! release; the resident set is read from Linux's `/proc`):
//! `cargo test --release --test resources -- --ignored --nocapture`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use simloop::{sleep, EventLoop};

/// Counts the bytes allocated and not yet freed.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to `System` unchanged; the counter is only arithmetic on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(new_size, Ordering::Relaxed);
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn held_kib() -> u64 {
    HELD.load(Ordering::Relaxed) as u64 / 1024
}

/// The resident set of this process, in KiB (Linux).
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// One stretch of churn: `n` operations, each one of schedule, schedule and cancel, queue and
/// cancel, spawn a sleeper; the loop runs every 1,000 operations, so that about as many
/// timers and tasks stay live throughout.
fn churn(lp: &mut EventLoop, n: u64, x: &mut u64, fired: &Rc<Cell<u64>>) {
    for i in 0..n {
        let r = xorshift(x);
        let delay = Duration::from_nanos(1 + (r >> 8) % 50_000_000);
        match r % 4 {
            0 => {
                let f = fired.clone();
                lp.call_later(delay, move || f.set(f.get() + 1));
            }
            1 => {
                lp.call_later(delay, || {}).cancel();
            }
            2 => {
                lp.call_soon(|| {}).cancel();
            }
            _ => {
                let f = fired.clone();
                drop(lp.spawn(async move {
                    sleep(delay).await;
                    f.set(f.get() + 1);
                }));
            }
        }
        if i % 1000 == 999 {
            lp.advance(Duration::from_millis(10)).unwrap();
        }
    }
}

/// A burst: a million callbacks queued and cancelled, and a million timers that all fire.
fn burst(lp: &mut EventLoop, x: &mut u64) {
    for _ in 0..1_000_000 {
        lp.call_soon(|| {}).cancel();
    }
    for _ in 0..1_000_000 {
        let r = xorshift(x);
        lp.call_later(Duration::from_nanos(r % 1_000_000_000), || {});
    }
    lp.run().unwrap();
}

#[test]
#[ignore = "a long run: cargo test --release --test resources -- --ignored --nocapture"]
fn fifty_million_mixed_iterations_keep_a_flat_resident_set() {
    const STRETCH: u64 = 5_000_000;
    let mut lp = EventLoop::new();
    let fired = Rc::new(Cell::new(0));
    let mut x = 0x9E37_79B9_7F4A_7C15;
    let mut samples = Vec::new();
    for stretch in 0..10 {
        churn(&mut lp, STRETCH, &mut x, &fired);
        if stretch % 3 == 1 {
            burst(&mut lp, &mut x);
            churn(&mut lp, 10_000, &mut x, &fired);
        }
        samples.push(held_kib());
        println!(
            "after {:>2}M iterations: held {:>6} KiB, RSS {:>6} KiB, {} fired, virtual time {}",
            (stretch + 1) * STRETCH / 1_000_000,
            samples.last().unwrap(),
            rss_kib(),
            fired.get(),
            lp.time()
        );
    }
    lp.run().unwrap();
    samples.push(held_kib());
    println!(
        "drained: held {} KiB, RSS {} KiB",
        samples.last().unwrap(),
        rss_kib()
    );
    // After the first stretch and burst (the slabs keep the slots of the most callbacks and
    // tasks ever live at once), nothing grows.
    let settled = samples[1];
    let peak = *samples[2..].iter().max().unwrap();
    assert!(
        peak <= settled + 256,
        "held memory grew from {settled} KiB to {peak} KiB: {samples:?}"
    );
}
