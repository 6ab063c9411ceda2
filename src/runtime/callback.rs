//! Scheduled closures, stored inline: a closure of up to three words (most closures capture
//! one or two `Rc`s) lives inside its timer entry, so scheduling and running it allocates
//! nothing. Larger closures are boxed, and the box is stored inline instead.

#![allow(unsafe_code)] // the one module that type-erases closures; see each SAFETY note

use std::marker::PhantomData;
use std::mem::{align_of, size_of, ManuallyDrop, MaybeUninit};
use std::ptr;

type Storage = [usize; 3];

/// A type-erased `FnOnce()` that runs at most once and is dropped exactly once. `!Send` and
/// `!Sync`: the closure it holds need be neither (the storage alone would let it be both).
pub(crate) struct Callback {
    data: MaybeUninit<Storage>,
    vtable: &'static VTable,
    _not_send: PhantomData<*const ()>,
}

struct VTable {
    /// Moves the closure out of the storage and calls it.
    call: unsafe fn(*mut u8),
    /// Drops the closure in the storage.
    drop: unsafe fn(*mut u8),
}

struct VTableOf<F>(PhantomData<F>);

impl<F: FnOnce()> VTableOf<F> {
    const VTABLE: VTable = VTable {
        call: call::<F>,
        drop: drop_in_place::<F>,
    };
}

/// # Safety
/// `p` points to a live `F` that nothing will use or drop afterwards.
unsafe fn call<F: FnOnce()>(p: *mut u8) {
    // SAFETY: per this function's contract, the `F` is live and ours to move out.
    let f = unsafe { ptr::read(p.cast::<F>()) };
    f();
}

/// # Safety
/// `p` points to a live `F` that nothing will use afterwards.
unsafe fn drop_in_place<F>(p: *mut u8) {
    // SAFETY: per this function's contract, the `F` is live and dropped only here.
    unsafe { ptr::drop_in_place(p.cast::<F>()) };
}

const fn fits<F>() -> bool {
    size_of::<F>() <= size_of::<Storage>() && align_of::<F>() <= align_of::<Storage>()
}

impl Callback {
    pub(crate) fn new<F: FnOnce() + 'static>(f: F) -> Callback {
        if fits::<F>() {
            Callback::inline(f)
        } else {
            Callback::inline(Box::new(f) as Box<dyn FnOnce()>)
        }
    }

    fn inline<F: FnOnce() + 'static>(f: F) -> Callback {
        assert!(
            fits::<F>(),
            "Callback::inline called with a closure that does not fit"
        );
        let mut data = MaybeUninit::<Storage>::uninit();
        // SAFETY: `F` fits the storage in size and alignment (asserted above), and the storage
        // is ours and uninitialised, so writing moves `f` in without dropping anything.
        unsafe { ptr::write(data.as_mut_ptr().cast::<F>(), f) };
        Callback {
            data,
            vtable: &VTableOf::<F>::VTABLE,
            _not_send: PhantomData,
        }
    }

    /// Runs the closure, consuming it.
    pub(crate) fn call(self) {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: the storage holds the live closure written by `inline`, matching the vtable.
        // `ManuallyDrop` keeps `Drop` from running afterwards, so the closure is moved out
        // exactly once and never dropped twice (also when it panics: the moved-out closure
        // owns its captures then).
        unsafe { (this.vtable.call)(this.data.as_mut_ptr().cast()) };
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        // SAFETY: a `Callback` that was not called still holds its live closure; this is the
        // only place it is dropped.
        unsafe { (self.vtable.drop)(self.data.as_mut_ptr().cast()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    struct Guard(Rc<RefCell<Vec<&'static str>>>, &'static str);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.borrow_mut().push(self.1);
        }
    }

    #[test]
    fn inline_and_boxed_closures_run_once_and_drop_once() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let small = Guard(log.clone(), "small dropped");
        let l = log.clone();
        let cb = Callback::new(move || {
            let _keep = &small;
            l.borrow_mut().push("small ran");
        });
        cb.call();
        let big = [
            Guard(log.clone(), "big dropped"),
            Guard(log.clone(), "big2 dropped"),
        ];
        let l = log.clone();
        let cb = Callback::new(move || {
            let _keep = &big;
            l.borrow_mut().push("big ran");
        });
        cb.call();
        let unrun = Guard(log.clone(), "unrun dropped");
        drop(Callback::new(move || drop(unrun)));
        let panicking = Guard(log.clone(), "panicking dropped");
        let cb = Callback::new(move || {
            let _keep = &panicking;
            panic!("boom");
        });
        assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb.call())).is_err());
        assert_eq!(
            *log.borrow(),
            [
                "small ran",
                "small dropped",
                "big ran",
                "big dropped",
                "big2 dropped",
                "unrun dropped",
                "panicking dropped"
            ]
        );
    }

    /// Autoref-free trait detection: the inherent constant applies only where the bound
    /// holds, else the trait's default does.
    trait Fallback {
        const SEND: bool = false;
        const SYNC: bool = false;
    }
    impl<T> Fallback for T {}
    struct Probe<T>(PhantomData<T>);
    impl<T: Send> Probe<(T, ())> {
        const SEND: bool = true;
    }
    impl<T: Sync> Probe<((), T)> {
        const SYNC: bool = true;
    }

    #[test]
    fn callbacks_are_neither_send_nor_sync() {
        // Checked at compile time: with a `Send` callback, this test does not build.
        const { assert!(!Probe::<(Rc<u8>, ())>::SEND && Probe::<(u8, ())>::SEND) };
        const { assert!(!Probe::<(Callback, ())>::SEND) };
        const { assert!(!Probe::<((), std::cell::Cell<u8>)>::SYNC && Probe::<((), u8)>::SYNC) };
        const { assert!(!Probe::<((), Callback)>::SYNC) };
    }

    #[test]
    fn over_aligned_closures_are_boxed() {
        #[repr(align(32))]
        struct Aligned(u8);
        let a = Aligned(7);
        let out = Rc::new(RefCell::new(0));
        let o = out.clone();
        Callback::new(move || *o.borrow_mut() = a.0).call();
        assert_eq!(*out.borrow(), 7);
    }
}
