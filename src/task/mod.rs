//! Tasks: a task's one allocation and its waker (`cell`), its id, its entry in the loop and
//! its `JoinHandle` (`join`).

pub(crate) mod cell;
pub(crate) mod join;
pub(crate) mod panic;
