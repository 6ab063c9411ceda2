//! A cache prefetch hint, for the run loop's few loads that are known ahead and likely to miss
//! (the slots of the timers about to fire and a due task's header, with a million tasks
//! alive).
#![allow(unsafe_code)] // one hint that cannot fault; see the SAFETY note

/// Starts loading the cache line at `p` (any address: a prefetch never faults). A no-op off
/// x86_64.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults, whatever the address, and changes nothing
    // the program can observe. (Safe to call from Rust 1.87 on; the block keeps the MSRV.)
    #[allow(unused_unsafe)]
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
