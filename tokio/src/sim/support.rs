//! What the `--cfg simloop` macros expand to. Not a public API.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::{resume_unwind, AssertUnwindSafe};
use std::pin::Pin;

use futures::FutureExt;
use simloop::{EventLoop, Explore, LoopError, Schedule};

#[cfg(feature = "macros")]
pub use simloop_macros::tokio_select;

/// The branch `select!` starts polling at: a choice of the current loop's schedule (0, the
/// first branch, under FIFO), or 0 outside a loop.
pub fn select_start(branches: u32) -> u32 {
    if branches < 2 || simloop::try_current().is_none() {
        return 0;
    }
    simloop::choose(branches as usize) as u32
}

/// A test function's output: whether it reports a failure.
pub trait TestOutput {
    /// The failure, if the output is one.
    fn failure(&self) -> Option<String>;
}

impl TestOutput for () {
    fn failure(&self) -> Option<String> {
        None
    }
}

impl<T, E: fmt::Debug> TestOutput for Result<T, E> {
    fn failure(&self) -> Option<String> {
        self.as_ref().err().map(|e| format!("Error: {e:?}"))
    }
}

impl TestOutput for std::process::ExitCode {
    fn failure(&self) -> Option<String> {
        None
    }
}

/// A test body: makes a fresh future for each run.
pub type Body<'a, T> = &'a dyn Fn() -> Pin<Box<dyn Future<Output = T>>>;

enum Failed {
    Panic(Box<dyn Any + Send>),
    Loop(LoopError),
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(a panic payload that is not a string)".to_string())
}

/// tokio's "no reactor" panic: an API that needs tokio's own driver (in practice
/// `mpsc::Sender::send_timeout`, the one timed method of `tokio::sync`).
const NO_REACTOR: &str = "there is no reactor running";
const NO_REACTOR_HINT: &str = " (hint: a tokio API that needs tokio's own runtime ran on a \
                               simloop loop; under simloop-tokio the one such method left is \
                               tokio's mpsc::Sender::send_timeout: write \
                               tokio::time::timeout(d, tx.send(v)) instead)";

/// The message of a panic caught from the code under test, with the hint if it is tokio's
/// "no reactor" panic.
fn panic_report(payload: &(dyn Any + Send)) -> String {
    let text = panic_text(payload);
    if text.contains(NO_REACTOR) {
        format!("{text}{NO_REACTOR_HINT}")
    } else {
        text
    }
}

/// Goes on with a panic caught from the code under test: tokio's "no reactor" panic as a new
/// panic with the hint, so that the message printed says what to do; any other payload
/// unchanged.
pub(crate) fn resume(payload: Box<dyn Any + Send>) -> ! {
    if panic_text(&*payload).contains(NO_REACTOR) {
        panic!("{}", panic_report(&*payload));
    }
    resume_unwind(payload)
}

fn run_once<T>(lp: &mut EventLoop, body: Body<'_, T>) -> Result<T, Failed> {
    match lp.run_until_complete(AssertUnwindSafe(body()).catch_unwind()) {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(payload)) => Err(Failed::Panic(payload)),
        Err(e) => Err(Failed::Loop(e)),
    }
}

/// The name libtest gives the test (its path without the crate's name).
fn test_name(path: &str) -> &str {
    path.split_once("::").map_or(path, |(_, rest)| rest)
}

/// Runs a `#[tokio::test]` body: once on a fresh loop (FIFO); under
/// `SIMLOOP_REPLAY=<token>`, once under that schedule, traced; under
/// `SIMLOOP_SEEDS=start..end`, under every schedule of `simloop::explore` for those seeds,
/// reporting the first failure shrunk, with its replay token.
pub fn run_test<T: TestOutput>(path: &str, body: Body<'_, T>) -> T {
    let name = test_name(path);
    if let Ok(token) = std::env::var("SIMLOOP_REPLAY") {
        let schedule: Schedule = token
            .parse()
            .unwrap_or_else(|e| panic!("SIMLOOP_REPLAY: {e}"));
        let mut lp = EventLoop::builder().schedule(schedule).trace(true).build();
        let outcome = run_once(&mut lp, body);
        let failed = match &outcome {
            Ok(out) => out.failure(),
            Err(Failed::Panic(p)) => Some(format!("panicked: {}", panic_report(&**p))),
            Err(Failed::Loop(e)) => Some(e.to_string()),
        };
        if let Some(failure) = failed {
            eprintln!(
                "{name} failed under the replayed schedule {token}: {failure}\ntrace:\n{}",
                lp.trace()
            );
        }
        return finish(name, outcome);
    }
    if simloop::seeds_from_env().is_some() {
        let last = RefCell::new(None);
        let explored = simloop::explore(&Explore::new(), |lp| match run_once(lp, body) {
            Ok(out) => match out.failure() {
                None => {
                    *last.borrow_mut() = Some(out);
                    Ok(())
                }
                Some(failure) => Err(failure),
            },
            Err(Failed::Panic(p)) => Err(format!("panicked: {}", panic_report(&*p))),
            Err(Failed::Loop(e)) => Err(e.to_string()),
        });
        match explored {
            Ok(_) => {
                if let Some(out) = last.into_inner() {
                    return out;
                }
            }
            Err(failure) => panic!(
                "{name}: {failure}\npin it: SIMLOOP_REPLAY='{}' cargo test -- {name} --exact",
                failure.schedule
            ),
        }
    }
    let mut lp = EventLoop::new();
    let outcome = run_once(&mut lp, body);
    drop(lp);
    finish(name, outcome)
}

fn finish<T>(name: &str, outcome: Result<T, Failed>) -> T {
    match outcome {
        Ok(out) => out,
        Err(Failed::Panic(payload)) => resume(payload),
        Err(Failed::Loop(e)) => panic!("{name}: {e}"),
    }
}

/// Runs a `#[tokio::main]` body on a fresh runtime.
#[cfg(feature = "rt")]
pub fn run_main<F: Future>(body: F) -> F::Output {
    super::runtime::Runtime::new()
        .expect("Failed building the Runtime")
        .block_on(body)
}
