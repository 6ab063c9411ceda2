//! The three programs of the asyncio guide, ported to simloop. Every line is printed with the
//! virtual instant it happened at; the whole run takes microseconds of real time.
//!
//! Run it with `cargo run --example guide`. `tests/guide.rs` asserts this output exactly.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use simloop::{sleep, EventLoop};

/// Collects `[instant] message` lines.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    /// Records `msg` at the current loop's time.
    pub fn say(&self, msg: &str) {
        self.say_at(simloop::now(), msg);
    }

    /// Records `msg` at `at` (for lines printed outside the loop).
    pub fn say_at(&self, at: simloop::Instant, msg: &str) {
        self.0.borrow_mut().push(format!("[{at}] {msg}"));
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// Program 1: `call_soon`/`call_later` and `run_forever` until a scheduled `stop`.
pub fn scheduling() -> Vec<String> {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let hello = {
        let log = log.clone();
        move || log.say("hello")
    };
    lp.enter(&hello);
    lp.call_later(Duration::from_secs(1), hello.clone());
    lp.call_later(Duration::from_secs(2), hello);
    lp.call_later(Duration::from_millis(2500), simloop::stop);
    log.say_at(lp.time(), "starting event loop");
    lp.run_forever().expect("the loop stops at 2.5s");
    log.say_at(lp.time(), "loop stopped");
    log.lines()
}

/// Program 2: a long non-blocking task, awaited by the main future, while a timer fires.
pub fn waiting() -> Vec<String> {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let long_task = {
        let log = log.clone();
        async move {
            log.say("starting long non blocking task");
            sleep(Duration::from_secs(3)).await;
            log.say("done with non blocking task");
            42
        }
    };
    let main = {
        let log = log.clone();
        async move {
            log.say("need to compute something");
            let task = simloop::spawn(long_task);
            let l = log.clone();
            simloop::call_later(Duration::from_secs(2), move || {
                l.say("See, I'm not blocked")
            });
            let result = task.await.expect("the task completes");
            log.say(&format!("result is {result}"));
        }
    };
    lp.run_until_complete(main).expect("main completes");
    log.say_at(lp.time(), "all done");
    log.lines()
}

/// Program 3: a future cannot be handed to `call_soon` (it takes a plain closure; see the
/// `compile_fail` example in the crate docs). The way is a closure that spawns the future.
pub fn coroutines_in_the_future() -> Vec<String> {
    let log = Log::default();
    let mut lp = EventLoop::new();
    let greet = |log: Log, who: &'static str| async move {
        log.say(&format!("{who}: coroutine starts"));
        sleep(Duration::from_secs(1)).await;
        log.say(&format!("{who}: coroutine ends"));
    };
    let (l, g) = (log.clone(), greet);
    lp.call_soon(move || {
        l.say("call_soon callback spawns 'soon'");
        simloop::spawn(g(l.clone(), "soon"));
    });
    let l = log.clone();
    lp.call_later(Duration::from_millis(500), move || {
        l.say("call_later callback spawns 'later'");
        simloop::spawn(greet(l.clone(), "later"));
    });
    log.say_at(lp.time(), "starting event loop");
    lp.run().expect("everything finishes");
    log.say_at(lp.time(), "loop is idle");
    log.lines()
}

fn main() {
    type Program = fn() -> Vec<String>;
    let sections: [(&str, Program); 3] = [
        ("scheduling", scheduling),
        ("waiting", waiting),
        ("coroutines in the future", coroutines_in_the_future),
    ];
    for (title, program) in sections {
        println!("== {title} ==");
        for line in program() {
            println!("{line}");
        }
    }
}
