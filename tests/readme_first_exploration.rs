//! The README's "A first exploration", verbatim (`tests/readme.rs` checks that the README
//! shows exactly this file).

use simloop::{explore, EventLoop, Explore};
use std::cell::Cell;
use std::rc::Rc;

// One task increments a counter; the other reads it, yields, and writes back what it read + 1.
fn scenario(lp: &mut EventLoop) -> Result<(), String> {
    let counter = Rc::new(Cell::new(0));
    let c = counter.clone();
    lp.spawn(async move { c.set(c.get() + 1) });
    let c = counter.clone();
    lp.spawn(async move {
        let seen = c.get();
        simloop::yield_now().await;
        c.set(seen + 1);
    });
    lp.run().map_err(|e| e.to_string())?;
    match counter.get() {
        2 => Ok(()),
        n => Err(format!("counter is {n}, not 2")),
    }
}

#[test]
fn finds_the_lost_update() {
    assert!(scenario(&mut EventLoop::new()).is_ok()); // FIFO hides the bug
    let failure = explore(&Explore::new(), scenario).unwrap_err();
    assert_eq!(failure.schedule.to_string(), "S1:1"); // one deviation from FIFO
                                                      // The token replays the failing run exactly:
    let mut lp = EventLoop::builder()
        .schedule("S1:1".parse().unwrap())
        .build();
    assert!(scenario(&mut lp).is_err());
}
