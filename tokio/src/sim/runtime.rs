//! `tokio::runtime` on simloop loops.
//!
//! A [`Runtime`] owns a simloop `EventLoop`, whatever its flavor: `current_thread` and
//! `multi_thread` both run on one simulated thread (the caller's). [`Runtime::block_on`] is
//! `run_until_complete`; dropping the runtime closes the loop, which drops its tasks (their
//! handles yield a cancelled `JoinError`).
//!
//! The loop itself is not `Send`, while tokio's `Runtime` and `Handle` are: they hold an id
//! into this thread's table of runtimes, and using them from another thread panics.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::thread::ThreadId;
use std::time::Duration;

use futures::FutureExt;
use simloop::{EventLoop, LoopError};

use super::context;
use super::task::{self, JoinHandle};

/// The flavor a runtime was built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuntimeFlavor {
    /// `Builder::new_current_thread`.
    CurrentThread,
    /// `Builder::new_multi_thread` (here one simulated thread too).
    MultiThread,
}

struct Entry {
    lp: RefCell<EventLoop>,
    handle: simloop::Handle,
    flavor: RuntimeFlavor,
}

thread_local! {
    static RUNTIMES: RefCell<BTreeMap<u64, Rc<Entry>>> = const { RefCell::new(BTreeMap::new()) };
    static NEXT_RUNTIME: std::cell::Cell<u64> = const { std::cell::Cell::new(1) };
    /// The runtimes whose `block_on` is running, innermost last.
    static RUNNING: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn entry(id: u64, thread: ThreadId) -> Option<Rc<Entry>> {
    assert_eq!(
        thread,
        std::thread::current().id(),
        "a simloop-tokio runtime was used from another thread than the one that built it: \
         the simulation runs on one thread"
    );
    RUNTIMES
        .try_with(|r| r.borrow().get(&id).cloned())
        .ok()
        .flatten()
}

const NESTED: &str = "Cannot start a runtime from within a runtime. This happens because a \
                      function (like `block_on`) attempted to block the current thread while \
                      the thread is being used to drive asynchronous tasks.";

/// Runs `future` to completion on the loop of `entry`.
fn block_on<F: Future>(id: u64, entry: &Entry, future: F) -> F::Output {
    let mut lp = entry
        .lp
        .try_borrow_mut()
        .unwrap_or_else(|_| panic!("{NESTED}"));
    RUNNING.with(|r| r.borrow_mut().push(id));
    let out = lp.run_until_complete(AssertUnwindSafe(future).catch_unwind());
    RUNNING.with(|r| r.borrow_mut().pop());
    drop(lp);
    match out {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => super::support::resume(payload),
        Err(LoopError::NestedRun { .. }) => panic!("{NESTED}"),
        Err(e) => panic!("{e}"),
    }
}

/// A runtime: a simloop loop. `Send + Sync`, as tokio's, but usable only on the thread that
/// built it.
pub struct Runtime {
    handle: Handle,
}

impl Runtime {
    /// A runtime with default settings (tokio's multi-thread flavor, here one simulated
    /// thread).
    ///
    /// # Errors
    /// Never; the `Result` is tokio's.
    pub fn new() -> std::io::Result<Runtime> {
        Builder::new_multi_thread().enable_all().build()
    }

    /// A runtime that runs on `lp`, a loop built with any simloop settings (a schedule, a
    /// trace, limits). Only in `--cfg simloop` builds.
    pub fn from_simloop(lp: EventLoop) -> Runtime {
        Runtime::register(lp, RuntimeFlavor::CurrentThread)
    }

    fn register(lp: EventLoop, flavor: RuntimeFlavor) -> Runtime {
        let id = NEXT_RUNTIME.with(|n| {
            let id = n.get();
            n.set(id + 1);
            id
        });
        let entry = Rc::new(Entry {
            handle: lp.handle(),
            lp: RefCell::new(lp),
            flavor,
        });
        RUNTIMES.with(|r| r.borrow_mut().insert(id, entry));
        Runtime {
            handle: Handle {
                inner: Inner::Runtime {
                    id,
                    thread: std::thread::current().id(),
                },
            },
        }
    }

    /// Runs `f` with the runtime's simloop loop (for its trace, stats, schedule taken...).
    /// Only in `--cfg simloop` builds.
    ///
    /// # Panics
    /// While the runtime is running (from inside `block_on`).
    pub fn with_simloop<R>(&self, f: impl FnOnce(&mut EventLoop) -> R) -> R {
        let entry = self.entry();
        let mut lp = entry
            .lp
            .try_borrow_mut()
            .expect("Runtime::with_simloop was called while the runtime is running");
        f(&mut lp)
    }

    fn entry(&self) -> Rc<Entry> {
        match self.handle.inner {
            Inner::Runtime { id, thread } => entry(id, thread).expect("the runtime is alive"),
            Inner::Current => unreachable!("a Runtime's handle names it"),
        }
    }

    /// The runtime's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Spawns a task on the runtime; it runs while the runtime runs (`block_on`).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs `func` on a simulated blocking worker; see
    /// [`spawn_blocking`](crate::task::spawn_blocking).
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, func: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(func)
    }

    /// Runs the loop until `future` completes, and returns its output. Other tasks stay
    /// pending (they run again at the next `block_on`).
    ///
    /// # Panics
    /// With `future`'s own panic; inside a running loop (as tokio); with the loop's error
    /// if the run cannot end (e.g. it stalled: nothing is ready, no timer is pending, and
    /// `future` is still waiting, where a real runtime would hang).
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Makes this runtime current (so `tokio::spawn`, `Instant::now`, `sleep` work outside
    /// `block_on`) until the guard is dropped.
    pub fn enter(&self) -> EnterGuard<'_> {
        self.handle.enter()
    }

    /// Drops the runtime: its tasks are dropped without waiting (nothing here blocks).
    pub fn shutdown_timeout(self, duration: Duration) {
        let _ = duration;
        drop(self);
    }

    /// Drops the runtime: its tasks are dropped.
    pub fn shutdown_background(self) {
        drop(self);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Inner::Runtime { id, thread } = self.handle.inner {
            if thread != std::thread::current().id() {
                return;
            }
            let entry = RUNTIMES
                .try_with(|r| r.borrow_mut().remove(&id))
                .ok()
                .flatten();
            // Closing the loop drops its tasks (outside the table's borrow: their
            // destructors may use the runtime API).
            drop(entry);
        }
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl std::panic::UnwindSafe for Runtime {}
impl std::panic::RefUnwindSafe for Runtime {}

#[derive(Clone, Copy, Debug)]
enum Inner {
    /// A runtime built here, by its id in the thread's table.
    Runtime { id: u64, thread: ThreadId },
    /// Whatever simloop loop is current when the handle is used (a loop this crate did not
    /// build: `#[tokio::test]`'s, or one `simloop::explore` hands over).
    Current,
}

/// A handle to a runtime. `Send + Sync + Clone`.
#[derive(Clone, Debug)]
pub struct Handle {
    inner: Inner,
}

impl Handle {
    /// The handle of the runtime running (or entered) here.
    ///
    /// # Panics
    /// Outside a simloop loop.
    #[track_caller]
    pub fn current() -> Handle {
        Handle::try_current().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The handle of the runtime running (or entered) here, if any.
    ///
    /// # Errors
    /// Outside a simloop loop.
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        context::try_handle().ok_or(TryCurrentError(()))?;
        let running = RUNNING
            .try_with(|r| r.borrow().last().copied())
            .ok()
            .flatten();
        let inner = match running {
            Some(id) if simloop::try_current().is_some() => Inner::Runtime {
                id,
                thread: std::thread::current().id(),
            },
            _ => Inner::Current,
        };
        Ok(Handle { inner })
    }

    /// The simloop loop this handle spawns on, if it is still there.
    fn simloop(&self) -> Option<simloop::Handle> {
        match self.inner {
            Inner::Runtime { id, thread } => entry(id, thread).map(|e| e.handle.clone()),
            Inner::Current => context::try_handle(),
        }
    }

    /// Spawns a task on the runtime. On a runtime that was dropped, the task is dropped and
    /// its handle yields a cancelled `JoinError`, as in tokio.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.simloop() {
            Some(handle) => task::spawn_on(&handle, future),
            None => task::cancelled(),
        }
    }

    /// Runs `func` on a simulated blocking worker of the runtime.
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, func: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        match self.simloop() {
            Some(handle) => task::spawn_blocking_on(&handle, func),
            None => task::cancelled(),
        }
    }

    /// Runs the runtime's loop until `future` completes, from outside the runtime (as
    /// [`Runtime::block_on`]).
    ///
    /// # Panics
    /// Inside a running loop: in the simulation every task, blocking jobs included, runs on
    /// the loop's thread, so there is no other thread to block (tokio allows this from a
    /// `spawn_blocking` thread). On a handle to a loop this crate did not build
    /// (`#[tokio::test]`'s): use `Runtime` for a loop to block on.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self.inner {
            Inner::Runtime { id, thread } => {
                let entry = entry(id, thread).expect("the runtime was dropped");
                block_on(id, &entry, future)
            }
            Inner::Current => panic!(
                "Handle::block_on cannot run the loop of a #[tokio::test] (or simloop) from \
                 inside the simulation: every task runs on the loop's thread, so there is no \
                 other thread to block; await the future instead"
            ),
        }
    }

    /// Makes this runtime current until the guard is dropped.
    pub fn enter(&self) -> EnterGuard<'_> {
        EnterGuard {
            _entered: self.simloop().map(context::Entered::new),
            _handle: PhantomData,
        }
    }

    /// `CurrentThread` or `MultiThread`, as built (both run on one simulated thread).
    pub fn runtime_flavor(&self) -> RuntimeFlavor {
        match self.inner {
            Inner::Runtime { id, thread } => {
                entry(id, thread).map_or(RuntimeFlavor::CurrentThread, |e| e.flavor)
            }
            Inner::Current => RuntimeFlavor::CurrentThread,
        }
    }
}

impl std::panic::UnwindSafe for Handle {}
impl std::panic::RefUnwindSafe for Handle {}

/// Keeps a runtime current; see [`Runtime::enter`].
#[must_use = "the runtime stays current only while the guard lives"]
pub struct EnterGuard<'a> {
    _entered: Option<context::Entered>,
    _handle: PhantomData<&'a Handle>,
}

impl fmt::Debug for EnterGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish()
    }
}

/// No runtime is running here; see [`Handle::try_current`].
#[derive(Debug)]
pub struct TryCurrentError(());

impl TryCurrentError {
    /// True: the error is always a missing runtime.
    pub fn is_missing_context(&self) -> bool {
        true
    }

    /// False: the simulation's thread-local state is never torn down under the caller.
    pub fn is_thread_local_destroyed(&self) -> bool {
        false
    }
}

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&context::outside("tokio::runtime::Handle::current()"))
    }
}

impl std::error::Error for TryCurrentError {}

/// Builds a [`Runtime`]. Every setting tokio has for real threads is accepted and has no
/// effect (one simulated thread runs everything), except `max_blocking_threads`, the number
/// of simulated blocking workers.
pub struct Builder {
    flavor: RuntimeFlavor,
    max_blocking_threads: Option<usize>,
}

impl Builder {
    /// A builder for tokio's current-thread runtime.
    pub fn new_current_thread() -> Builder {
        Builder {
            flavor: RuntimeFlavor::CurrentThread,
            max_blocking_threads: None,
        }
    }

    /// A builder for tokio's multi-thread runtime (here one simulated thread too).
    pub fn new_multi_thread() -> Builder {
        Builder {
            flavor: RuntimeFlavor::MultiThread,
            max_blocking_threads: None,
        }
    }

    /// Accepted: the simulated drivers are always on.
    pub fn enable_all(&mut self) -> &mut Self {
        self
    }

    /// Accepted: the virtual clock is always on.
    pub fn enable_time(&mut self) -> &mut Self {
        self
    }

    /// Accepted; nothing here does I/O (see the crate docs).
    pub fn enable_io(&mut self) -> &mut Self {
        self
    }

    /// Accepted: the clock is always paused in tokio's sense (virtual).
    pub fn start_paused(&mut self, start_paused: bool) -> &mut Self {
        let _ = start_paused;
        self
    }

    /// Accepted; one simulated thread runs every task.
    ///
    /// # Panics
    /// If `val` is 0, as tokio.
    #[track_caller]
    pub fn worker_threads(&mut self, val: usize) -> &mut Self {
        assert!(val > 0, "Worker threads cannot be set to 0");
        self
    }

    /// The number of simulated blocking workers (simloop's `blocking_workers`).
    ///
    /// # Panics
    /// If `val` is 0, as tokio.
    #[track_caller]
    pub fn max_blocking_threads(&mut self, val: usize) -> &mut Self {
        assert!(val > 0, "Max blocking threads cannot be set to 0");
        self.max_blocking_threads = Some(val);
        self
    }

    /// Accepted; there are no threads to name.
    pub fn thread_name(&mut self, val: impl Into<String>) -> &mut Self {
        let _ = val.into();
        self
    }

    /// Accepted; there are no threads to name.
    pub fn thread_name_fn<F>(&mut self, f: F) -> &mut Self
    where
        F: Fn() -> String + Send + Sync + 'static,
    {
        let _ = f;
        self
    }

    /// Accepted; there are no threads.
    pub fn thread_stack_size(&mut self, val: usize) -> &mut Self {
        let _ = val;
        self
    }

    /// Accepted; never called (there are no worker threads).
    pub fn on_thread_start<F>(&mut self, f: F) -> &mut Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        let _ = f;
        self
    }

    /// Accepted; never called (there are no worker threads).
    pub fn on_thread_stop<F>(&mut self, f: F) -> &mut Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        let _ = f;
        self
    }

    /// Accepted; never called (the simulated thread never parks).
    pub fn on_thread_park<F>(&mut self, f: F) -> &mut Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        let _ = f;
        self
    }

    /// Accepted; never called (the simulated thread never parks).
    pub fn on_thread_unpark<F>(&mut self, f: F) -> &mut Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        let _ = f;
        self
    }

    /// Accepted; there are no threads.
    pub fn thread_keep_alive(&mut self, duration: Duration) -> &mut Self {
        let _ = duration;
        self
    }

    /// Accepted; simloop has one ready queue.
    pub fn global_queue_interval(&mut self, val: u32) -> &mut Self {
        let _ = val;
        self
    }

    /// Accepted; simloop has no I/O driver to poll.
    pub fn event_interval(&mut self, val: u32) -> &mut Self {
        let _ = val;
        self
    }

    /// Accepted; simloop has no I/O driver.
    pub fn max_io_events_per_tick(&mut self, capacity: usize) -> &mut Self {
        let _ = capacity;
        self
    }

    /// Builds the runtime: a fresh simloop loop with default settings (FIFO schedule), and
    /// `max_blocking_threads` simulated blocking workers. For other simloop settings, build
    /// the loop yourself and use [`Runtime::from_simloop`].
    ///
    /// # Errors
    /// Never; the `Result` is tokio's.
    pub fn build(&mut self) -> std::io::Result<Runtime> {
        let mut builder = EventLoop::builder();
        if let Some(workers) = self.max_blocking_threads {
            builder = builder.blocking_workers(workers);
        }
        Ok(Runtime::register(builder.build(), self.flavor))
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("flavor", &self.flavor)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .finish()
    }
}
