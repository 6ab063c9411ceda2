//! Helpers shared by the behaviour tests: durations, instants, and a log of `[instant]
//! message` lines stamped with the running loop's clock.
#![allow(dead_code)] // each test file uses its own subset

use std::cell::RefCell;
use std::fmt::Display;
use std::rc::Rc;
use std::time::Duration;

use simloop::{Event, EventLoop, Instant};

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

pub fn at_secs(s: u64) -> Instant {
    Instant::from_secs(s)
}

pub fn at_ms(m: u64) -> Instant {
    Instant::from_millis(m)
}

/// `[instant] message` lines, stamped with the running loop's clock.
#[derive(Clone, Default)]
pub struct Log(pub Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn say(&self, msg: impl Display) {
        self.0
            .borrow_mut()
            .push(format!("[{}] {msg}", simloop::now()));
    }

    /// A callback that logs `msg`.
    pub fn cb(&self, msg: &'static str) -> impl FnOnce() + 'static {
        let log = self.clone();
        move || log.say(msg)
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// Marks and spawned-task polls of a traced loop, as `[instant] itN what` lines.
pub fn timeline(lp: &EventLoop) -> Vec<String> {
    lp.trace()
        .events()
        .iter()
        .filter_map(|e| {
            let what = match &e.event {
                Event::Mark(label) => label.clone(),
                Event::TaskPoll { task: Some(t) } => format!("poll task {t}"),
                _ => return None,
            };
            Some(format!("[{}] it{} {what}", e.at, e.iteration))
        })
        .collect()
}
