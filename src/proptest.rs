//! proptest integration (feature `proptest`, on by default): schedules as generated inputs.
//!
//! ```
//! use proptest::prelude::*;
//! use simloop::{EventLoop, Schedule};
//!
//! proptest! {
//!     // in a test file, put #[test] here
//!     fn any_order_of_two_tasks_finishes(schedule in simloop::proptest::schedule()) {
//!         let mut lp = EventLoop::builder().schedule(schedule).build();
//!         let a = lp.spawn(async { 1 });
//!         let b = lp.spawn(async { 2 });
//!         let sum = lp.run_until_complete(async { a.await.unwrap() + b.await.unwrap() }).unwrap();
//!         prop_assert_eq!(sum, 3);
//!     }
//! }
//! # any_order_of_two_tasks_finishes();
//! ```

use ::proptest::arbitrary::Arbitrary;
use ::proptest::collection::vec;
use ::proptest::strategy::{BoxedStrategy, Strategy};

use crate::Schedule;

/// Replay schedules of up to 64 choices, each below 4. Shrinks toward fewer and smaller
/// choices, that is toward the FIFO schedule plus the fewest deviations.
pub fn schedule() -> impl Strategy<Value = Schedule> {
    schedule_with(64, 4)
}

/// Replay schedules of up to `max_len` choices, each below `max_choice`.
pub fn schedule_with(max_len: usize, max_choice: u32) -> impl Strategy<Value = Schedule> {
    vec(0..max_choice.max(1), 0..=max_len).prop_map(Schedule::from_choices)
}

impl Arbitrary for Schedule {
    type Parameters = ();
    type Strategy = BoxedStrategy<Schedule>;

    fn arbitrary_with(_: ()) -> Self::Strategy {
        schedule().boxed()
    }
}
