//! `tokio::runtime`: building runtimes by hand, `block_on`, handles, and shutdown. Both
//! modes, exact instants.

extern crate simloop_tokio as tokio;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::{Builder, Handle, Runtime, RuntimeFlavor};
use tokio::time::{sleep, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn paused_runtime() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn block_on_runs_a_future_to_completion() {
    let rt = paused_runtime();
    let elapsed = rt.block_on(async {
        let start = Instant::now();
        sleep(Duration::from_secs(5)).await;
        start.elapsed()
    });
    assert_eq!(elapsed, Duration::from_secs(5));
    assert_eq!(rt.handle().runtime_flavor(), RuntimeFlavor::CurrentThread);
}

#[test]
fn tasks_spawned_before_block_on_run_inside_it() {
    let rt = paused_runtime();
    let start = rt.block_on(async { Instant::now() });
    let worker = rt.spawn(async move {
        sleep(ms(70)).await;
        start.elapsed()
    });
    let out = rt.block_on(worker).unwrap();
    assert_eq!(out, ms(70));
}

#[test]
fn dropping_the_runtime_cancels_its_tasks() {
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let rt = paused_runtime();
    let guard = SetOnDrop(dropped.clone());
    let task = rt.spawn(async move {
        let _guard = guard;
        sleep(Duration::from_secs(3600)).await;
    });
    rt.block_on(async { sleep(ms(10)).await });
    assert!(!dropped.load(Ordering::SeqCst));
    drop(rt);
    assert!(
        dropped.load(Ordering::SeqCst),
        "the task's future was dropped"
    );
    let err = futures::executor::block_on(task).unwrap_err();
    assert!(err.is_cancelled());
}

#[test]
fn handle_current_spawns_on_the_running_runtime() {
    let rt = paused_runtime();
    let out = rt.block_on(async {
        let handle = Handle::current();
        let task = handle.spawn(async {
            sleep(ms(3)).await;
            3
        });
        task.await.unwrap()
    });
    assert_eq!(out, 3);
    assert!(
        Handle::try_current().is_err(),
        "no runtime outside block_on"
    );
}

#[test]
fn enter_makes_the_runtime_current_outside_block_on() {
    let rt = paused_runtime();
    let (a, b) = {
        let _guard = rt.enter();
        let handle = Handle::current();
        (tokio::spawn(async { 5 }), handle.spawn(async { 6 }))
    };
    assert_eq!(
        rt.block_on(async { a.await.unwrap() + b.await.unwrap() }),
        11
    );
}

#[test]
fn runtime_handle_spawns_from_outside() {
    let rt = paused_runtime();
    let handle = rt.handle().clone();
    let task = handle.spawn(async {
        sleep(ms(8)).await;
        "from outside"
    });
    assert_eq!(rt.block_on(task).unwrap(), "from outside");
    assert_eq!(handle.block_on(async { 1 + 1 }), 2);
}

#[test]
fn a_multi_thread_runtime_runs_tasks_too() {
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .thread_name("worker")
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.handle().runtime_flavor(), RuntimeFlavor::MultiThread);
    let out = rt.block_on(async {
        let a = tokio::spawn(async { 20 });
        let b = tokio::task::spawn_blocking(|| 22);
        a.await.unwrap() + b.await.unwrap()
    });
    assert_eq!(out, 42);
    rt.shutdown_timeout(ms(100));
}

#[test]
fn a_panic_in_block_on_reaches_the_caller() {
    let rt = paused_runtime();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            sleep(ms(1)).await;
            std::panic::panic_any(7u8);
        })
    }));
    assert_eq!(*caught.unwrap_err().downcast::<u8>().unwrap(), 7);
    // The runtime is still usable.
    assert_eq!(rt.block_on(async { 1 }), 1);
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main_attribute_function(x: u64) -> u64 {
    sleep(ms(x)).await;
    x * 2
}

#[test]
fn the_main_attribute_builds_a_runtime() {
    assert_eq!(main_attribute_function(21), 42);
}
