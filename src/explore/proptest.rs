//! proptest integration (feature `proptest`, on by default): schedules as generated inputs,
//! and schedules explored inside a property.
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
//!
//! ## Inputs and schedules together
//!
//! When a property has inputs of its own (how many callers, which requests), do not draw the
//! schedule as one more input: its choices are positional, so when proptest shrinks the input
//! the run makes other decisions, the choices it holds land on other decisions, the failure
//! vanishes, and shrinking stops early (a bug that needs two callers stopped at six, with a
//! token like `S1:z9.1`). Draw only the inputs, and explore the schedules inside the
//! property with [`explore_schedules`]: every case tries the same seeds, so the schedules
//! stay put while proptest shrinks the input, and `explore` then shrinks the schedule of the
//! smallest failing input. The failure names that input, and the report gives its token.
//!
//! ```
//! use proptest::prelude::*;
//! use simloop::{yield_now, EventLoop, Explore};
//! use std::cell::RefCell;
//! use std::rc::Rc;
//!
//! /// `callers` tasks take a ticket each; the planted bug: tickets assume spawn order.
//! fn scenario(lp: &mut EventLoop, callers: usize) -> Result<(), String> {
//!     let served = Rc::new(RefCell::new(Vec::new()));
//!     for i in 0..callers {
//!         let served = served.clone();
//!         lp.spawn(async move {
//!             yield_now().await;
//!             served.borrow_mut().push(i);
//!         });
//!     }
//!     lp.run().map_err(|e| e.to_string())?;
//!     let served = served.borrow();
//!     match served.windows(2).find(|w| w[0] > w[1]) {
//!         Some(w) => Err(format!("caller {} was served before caller {}", w[0], w[1])),
//!         None => Ok(()),
//!     }
//! }
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]
//!     // in a test file, put #[test] here
//!     fn callers_are_served_in_order(callers in 1..10usize) {
//!         let config = Explore::new().runs(50);
//!         simloop::proptest::explore_schedules(&config, |lp| scenario(lp, callers))?;
//!     }
//! }
//! let failure = std::panic::catch_unwind(callers_are_served_in_order).unwrap_err();
//! let message = failure.downcast_ref::<String>().unwrap();
//! assert!(message.contains("minimal failing input: callers = 2"), "{message}");
//! assert!(message.contains("replay token: S1:1 "), "{message}");
//! ```

use ::proptest::arbitrary::Arbitrary;
use ::proptest::collection::vec;
use ::proptest::strategy::{BoxedStrategy, Strategy};
use ::proptest::test_runner::TestCaseError;

use crate::{EventLoop, Explore, Explored, Schedule};

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

/// Explores `scenario` under the schedules of `config` ([`explore`](crate::explore)), as a
/// proptest property: `Ok` if every schedule passes; else a failed test case whose reason is
/// `explore`'s report (the shrunk token and the trace).
///
/// Call it in a property that draws only its own inputs (see the [module](self) docs): every
/// case tries the same seeds, so proptest shrinks the input while the schedules stay put,
/// and the final report holds the schedule of the smallest failing input, shrunk.
///
/// # Errors
/// [`TestCaseError::Fail`] with the report, if a schedule failed.
pub fn explore_schedules<E: std::fmt::Display>(
    config: &Explore,
    scenario: impl FnMut(&mut EventLoop) -> Result<(), E>,
) -> Result<Explored, TestCaseError> {
    crate::explore(config, scenario).map_err(|failure| TestCaseError::fail(failure.to_string()))
}
