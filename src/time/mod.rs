//! Virtual time: the `Instant`, the timer queue, the timer futures (sleep, timeout,
//! interval), and the `Clock` glue for components that take their clock as a parameter.

pub(crate) mod clock;
pub(crate) mod instant;
pub(crate) mod interval;
pub(crate) mod sleep;
pub(crate) mod timeout;
pub(crate) mod timers;
