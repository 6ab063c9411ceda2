//! The "Getting started" examples of the crate docs, verbatim, run as tests. (In a doctest a
//! `#[test]` function is compiled out, so the doc examples only show that the attribute
//! expands; here they run. The README's are `tests/readme_first_*.rs`.)

mod crate_docs {
    use simloop::{Clock, EventLoop, Instant, SimClock};
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    /// A session that expires after an hour without activity.
    struct Session<C: Clock> {
        clock: C,
        last_seen: Duration,
    }

    impl<C: Clock> Session<C> {
        fn new(clock: C) -> Self {
            let last_seen = clock.now();
            Session { clock, last_seen }
        }
        fn touch(&mut self) {
            self.last_seen = self.clock.now();
        }
        fn expired(&self) -> bool {
            self.clock.now() - self.last_seen >= Duration::from_secs(3600)
        }
    }

    #[simloop::test]
    async fn a_session_expires_an_hour_after_its_last_touch() {
        let mut session = Session::new(SimClock);
        simloop::sleep(Duration::from_secs(1800)).await;
        session.touch();
        simloop::sleep(Duration::from_secs(3599)).await;
        assert!(!session.expired());
        simloop::sleep(Duration::from_secs(1)).await;
        assert!(session.expired());
        assert_eq!(simloop::now(), Instant::from_secs(5400));
    }

    #[simloop::test]
    fn callbacks_run_in_deadline_order(lp: &mut EventLoop) {
        let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        for (name, ms) in [("b", 20), ("a", 10)] {
            let order = order.clone();
            lp.call_later(Duration::from_millis(ms), move || {
                order.borrow_mut().push(name)
            });
        }
        lp.run().unwrap();
        assert_eq!(*order.borrow(), ["a", "b"]);
    }

    #[simloop::test(seeds = 100)]
    async fn two_increments_make_two() {
        let counter = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let c = counter.clone();
                simloop::spawn(async move {
                    let seen = c.get();
                    c.set(seen + 1); // no await in between: no other task can interleave
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(counter.get(), 2);
    }
}
