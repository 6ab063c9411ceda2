//! Virtual time: the `Instant`, the timer queue, and the timer futures (sleep, timeout,
//! interval).

pub(crate) mod instant;
pub(crate) mod interval;
pub(crate) mod sleep;
pub(crate) mod timeout;
pub(crate) mod timers;
