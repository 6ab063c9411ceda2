//! Scheduling helpers that also return where they were called, for asserting the sites that
//! errors and panic reports name.

use std::panic::Location;
use std::time::Duration;

use simloop::{CallbackHandle, EventLoop, TaskInfo, TimerHandle};

/// `call_soon` on `lp`, also returning where it was called.
#[track_caller]
pub fn soon_at(
    lp: &EventLoop,
    f: impl FnOnce() + 'static,
) -> (CallbackHandle, &'static Location<'static>) {
    (lp.call_soon(f), Location::caller())
}

/// `call_later` on `lp`, also returning where it was called.
#[track_caller]
pub fn later_at(
    lp: &EventLoop,
    delay: Duration,
    f: impl FnOnce() + 'static,
) -> (TimerHandle, &'static Location<'static>) {
    (lp.call_later(delay, f), Location::caller())
}

/// How `LoopError::Panicked::who` names a task: its id, name and spawn site (as documented on
/// the field), i.e. the task's `TaskInfo` as displayed.
pub fn task_who(info: &TaskInfo) -> String {
    info.to_string()
}
