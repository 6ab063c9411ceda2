//! The thread-local glue between tokio's `Send` types and the simloop loop of this thread.
//!
//! simloop's own handles are `Rc`s (not `Send`); tokio's types are `Send + Sync`. So the
//! drop-in types hold only `Send` things (ids, `Arc`s, wakers) and reach the loop through
//! this thread's state when they are polled or dropped:
//! - the current loop: simloop's (a run call or `EventLoop::enter`), else the innermost
//!   `Runtime::enter`/`Handle::enter` guard;
//! - the timer table: the `TimerHandle` of every pending drop-in timer, by id, so that a
//!   `Sleep` dropped or reset cancels its timer (a cancelled timer never attracts the clock).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

thread_local! {
    static TIMERS: RefCell<BTreeMap<u64, simloop::TimerHandle>> = const { RefCell::new(BTreeMap::new()) };
    static NEXT_TIMER: Cell<u64> = const { Cell::new(1) };
    static ENTERED: RefCell<Vec<simloop::Handle>> = const { RefCell::new(Vec::new()) };
}

/// The loop tokio's API acts on here: simloop's current loop, else an entered runtime's.
pub(crate) fn try_handle() -> Option<simloop::Handle> {
    simloop::try_current().or_else(|| {
        ENTERED
            .try_with(|e| e.borrow().last().cloned())
            .ok()
            .flatten()
    })
}

/// The loop tokio's API acts on here, or a panic that says what is missing.
#[track_caller]
pub(crate) fn handle(what: &str) -> simloop::Handle {
    try_handle().unwrap_or_else(|| panic!("{}", outside(what)))
}

/// The message for a call outside any loop.
pub(crate) fn outside(what: &str) -> String {
    format!(
        "{what} was called outside a simloop loop: this build has `--cfg simloop`, where \
         simloop-tokio runs tokio's API on the simloop loop of the current thread; call it \
         from a #[tokio::test] or #[tokio::main] function, inside Runtime::block_on or \
         Runtime::enter, or inside a simloop run call"
    )
}

/// Makes `handle` the loop of this thread (for code outside any run call) until dropped.
pub(crate) struct Entered {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Entered {
    pub(crate) fn new(handle: simloop::Handle) -> Entered {
        ENTERED.with(|e| e.borrow_mut().push(handle));
        Entered {
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let popped = ENTERED.try_with(|e| e.borrow_mut().pop()).ok().flatten();
        drop(popped);
    }
}

/// What a drop-in timer and its owner share: whether it fired, and whom to wake.
#[derive(Debug, Default)]
pub(crate) struct Fired {
    done: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Fired {
    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    pub(crate) fn set_waker(&self, waker: &Waker) {
        let mut slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    pub(crate) fn take_waker(&self) -> Option<Waker> {
        self.waker.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn fire(&self) {
        self.done.store(true, Ordering::Release);
        if let Some(w) = self.take_waker() {
            w.wake();
        }
    }
}

/// The callback of a drop-in timer: fires its `Fired`. Dropped unrun (cancelled, or the loop
/// closed), it takes its entry out of the table.
struct TimerCallback {
    id: u64,
    fired: Arc<Fired>,
}

impl TimerCallback {
    fn run(self) {
        forget(self.id);
        self.fired.fire();
    }
}

impl Drop for TimerCallback {
    fn drop(&mut self) {
        forget(self.id);
    }
}

/// Takes timer `id` out of the table (the handle is dropped after the borrow ends).
fn forget(id: u64) -> Option<simloop::TimerHandle> {
    TIMERS
        .try_with(|t| t.try_borrow_mut().ok().and_then(|mut t| t.remove(&id)))
        .ok()
        .flatten()
}

/// Registers a timer on `handle`'s loop at `when` that fires `fired`; returns its id.
pub(crate) fn add_timer(
    handle: &simloop::Handle,
    when: simloop::Instant,
    fired: Arc<Fired>,
) -> u64 {
    let id = NEXT_TIMER.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    });
    let callback = TimerCallback { id, fired };
    let timer = handle.call_at(when, move || callback.run());
    // On a closed loop the callback is already gone: nothing to keep.
    if !timer.is_cancelled() {
        TIMERS.with(|t| t.borrow_mut().insert(id, timer));
    }
    id
}

/// Cancels timer `id` if it is still pending (a no-op on another thread, where it cannot be
/// pending: the loop and its table live on one thread).
pub(crate) fn cancel_timer(id: u64) {
    if let Some(timer) = forget(id) {
        timer.cancel();
    }
}
