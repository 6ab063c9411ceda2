//! The timer queue: a radix heap keyed on (deadline, registration).
//!
//! Timers nearly always come due in the order the clock moves, so a monotone priority queue
//! fits: a timer sits in the bucket named by the highest bit in which its key differs from
//! the last minimum taken, and only the lowest non-empty bucket is ever scanned, then spread
//! over the buckets below it. Pushing is O(1); each timer moves down a few buckets in its
//! life, through contiguous vectors, which is what makes this beat a binary heap of a
//! million timers (whose every pop walks a cache-missing path). Keys are unique (the
//! registration number breaks ties), so equal deadlines come out in registration order.
//!
//! A key below the last minimum (possible after the loop peeked at a timer it then did not
//! jump to, e.g. at the end of `run_until`) goes to a small ordinary heap, `early`, which is
//! drained first.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::slab::Key;
use crate::Instant;

/// A registered timer: its deadline, its registration number (the tie-break), its entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerRef {
    pub(crate) deadline: Instant,
    pub(crate) seq: u64,
    pub(crate) key: Key,
}

impl TimerRef {
    #[inline]
    fn rank(&self) -> u128 {
        (u128::from(self.deadline.as_nanos()) << 64) | u128::from(self.seq)
    }
}

impl PartialOrd for TimerRef {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TimerRef {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank())
    }
}

const BUCKETS: usize = 129;

#[derive(Debug)]
pub(crate) struct TimerQueue {
    /// The rank of the last minimum; every timer in `buckets` ranks at or above it.
    last: u128,
    /// Bucket 0 holds the timer ranked exactly `last`; bucket `b` those whose rank differs
    /// from `last` first in bit `b - 1`.
    buckets: Vec<Vec<TimerRef>>,
    /// Bit `b` set when bucket `b` (1..=128) is non-empty.
    occupied: [u64; 3],
    early: BinaryHeap<Reverse<TimerRef>>,
    len: usize,
}

impl Default for TimerQueue {
    fn default() -> Self {
        TimerQueue {
            last: 0,
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            occupied: [0; 3],
            early: BinaryHeap::new(),
            len: 0,
        }
    }
}

#[inline]
fn bucket_of(rank: u128, last: u128) -> usize {
    (128 - (rank ^ last).leading_zeros()) as usize
}

impl TimerQueue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(&mut self, timer: TimerRef) {
        self.len += 1;
        let rank = timer.rank();
        if rank < self.last {
            self.early.push(Reverse(timer));
        } else {
            self.put(bucket_of(rank, self.last), timer);
        }
    }

    #[inline]
    fn put(&mut self, b: usize, timer: TimerRef) {
        self.buckets[b].push(timer);
        self.occupied[b / 64] |= 1 << (b % 64);
    }

    fn lowest_occupied(&self) -> Option<usize> {
        self.occupied
            .iter()
            .enumerate()
            .find(|(_, w)| **w != 0)
            .map(|(i, w)| i * 64 + w.trailing_zeros() as usize)
    }

    /// The minimum timer, live or not. Moves it to the front (bucket 0) first.
    pub(crate) fn peek(&mut self) -> Option<TimerRef> {
        if let Some(Reverse(t)) = self.early.peek() {
            return Some(*t);
        }
        if self.buckets[0].is_empty() {
            let b = self.lowest_occupied()?;
            let items = std::mem::take(&mut self.buckets[b]);
            self.occupied[b / 64] &= !(1 << (b % 64));
            self.last = items
                .iter()
                .map(TimerRef::rank)
                .min()
                .expect("occupied bucket");
            for t in &items {
                let nb = bucket_of(t.rank(), self.last);
                self.put(nb, *t);
            }
            // Keep the emptied vector's capacity for the next timers of that bucket.
            let mut items = items;
            items.clear();
            if self.buckets[b].is_empty() {
                self.buckets[b] = items;
            }
        }
        self.buckets[0].first().copied()
    }

    /// Removes the minimum timer.
    pub(crate) fn pop(&mut self) -> Option<TimerRef> {
        self.peek()?;
        self.len -= 1;
        if let Some(Reverse(t)) = self.early.pop() {
            return Some(t);
        }
        let t = self.buckets[0].pop();
        if self.buckets[0].is_empty() {
            self.occupied[0] &= !1;
        }
        t
    }

    /// Keeps only the timers `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&TimerRef) -> bool) {
        self.early.retain(|Reverse(t)| keep(t));
        let mut len = self.early.len();
        for (b, bucket) in self.buckets.iter_mut().enumerate() {
            bucket.retain(&mut keep);
            if bucket.is_empty() {
                self.occupied[b / 64] &= !(1 << (b % 64));
            }
            len += bucket.len();
        }
        self.len = len;
    }

    /// Every timer, in no particular order, leaving the queue empty.
    pub(crate) fn take_all(&mut self) -> Vec<TimerRef> {
        let mut all: Vec<TimerRef> = self.early.drain().map(|Reverse(t)| t).collect();
        for bucket in &mut self.buckets {
            all.append(bucket);
        }
        self.occupied = [0; 3];
        self.len = 0;
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slab::Slab;

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// Against a sorted list: interleaved pushes (also below the last minimum), pops, retains.
    #[test]
    fn pops_in_deadline_then_registration_order() {
        let mut slab = Slab::new();
        let mut q = TimerQueue::default();
        let mut model: Vec<TimerRef> = Vec::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut now = 0u64;
        for seq in 0..20_000u64 {
            let r = xorshift(&mut x);
            match r % 10 {
                0..=5 => {
                    // Mostly at or after the clock; sometimes before it.
                    let base = if r % 7 == 0 {
                        now.saturating_sub(50)
                    } else {
                        now
                    };
                    let deadline = Instant::from_nanos(base + (r >> 8) % 100);
                    let t = TimerRef {
                        deadline,
                        seq,
                        key: slab.insert(()),
                    };
                    q.push(t);
                    model.push(t);
                }
                6..=8 => {
                    model.sort();
                    let expected = (!model.is_empty()).then(|| model.remove(0));
                    let got = q.pop();
                    assert_eq!(got, expected);
                    if let Some(t) = got {
                        now = now.max(t.deadline.as_nanos());
                    }
                }
                _ => {
                    q.retain(|t| t.seq % 5 != 0);
                    model.retain(|t| t.seq % 5 != 0);
                }
            }
            assert_eq!(q.len(), model.len());
        }
        model.sort();
        let mut rest = Vec::new();
        while let Some(t) = q.pop() {
            rest.push(t);
        }
        assert_eq!(rest, model);
    }
}
