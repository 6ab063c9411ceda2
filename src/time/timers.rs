//! The timer queue: a radix heap keyed on deadlines, with registration order among equal
//! deadlines.
//!
//! Timers nearly always come due in the order the clock moves, so a monotone priority queue
//! fits: a timer sits in the bucket named by the highest 8-bit digit in which its deadline
//! differs from the last minimum taken (and that digit's value), and only the lowest
//! non-empty bucket is ever scanned, then spread over the buckets below it. Pushing is O(1);
//! a timer moves down at most 8 times in its life (one per digit; with single-bit buckets it
//! was up to 64 moves, the cost that dominated, and with 4-bit digits up to 16), through
//! contiguous vectors, which is what makes this beat a binary heap of a million timers (whose
//! every pop walks a cache-missing path). A two-level bitmap finds the lowest non-empty bucket
//! among the 2048.
//!
//! `due` holds the timers whose deadline is exactly the last minimum, in registration order,
//! with no sorting: timers of one deadline always share a bucket, which they reach in
//! registration order (pushed in that order, or moved together by a spread that keeps their
//! order), and a timer pushed later for that same deadline is a later registration, so it
//! goes to the back. A bucket whose timers share one deadline becomes `due` whole, by a
//! swap. Keying the buckets on the deadline alone (not on deadline and registration number)
//! keeps ties from travelling down 64 more buckets, and lets a record be 16 bytes: its
//! deadline and its key.
//!
//! A deadline below the last minimum (possible after the loop peeked at a timer it then did
//! not jump to, e.g. at the end of `run_until`) goes to a small ordinary heap, `early`, which
//! is drained first.
//!
//! A queue that never holds more than `SMALL_MAX` timers (a test case's loop, mostly) needs
//! none of this: until it does, `due` holds every timer, sorted by (deadline, registration),
//! and the 2048 buckets are not even allocated, so that building and dropping a loop costs
//! a few allocations, not 48 KiB of empty vectors. The first timer past `SMALL_MAX` spreads
//! them into the buckets; an empty queue goes back to the sorted list.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::slab::Key;
use crate::Instant;

/// A registered timer as the queue holds it: its deadline and its entry, 16 bytes, a pair
/// of words that travels in registers. Ties go by registration order, which the queue keeps
/// by position (and `early` by number), so the record carries no registration number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerRef {
    pub(crate) deadline: Instant,
    pub(crate) key: Key,
}

/// The `due` bucket: a vector read from the front by a cursor, so that a bucket whose timers
/// all share one deadline can become `due` by a swap of vectors instead of a copy.
#[derive(Debug, Default)]
struct Due {
    items: Vec<TimerRef>,
    /// The first item not yet popped.
    next: usize,
}

impl Due {
    #[inline]
    fn front(&self) -> Option<&TimerRef> {
        self.items.get(self.next)
    }

    fn len(&self) -> usize {
        self.items.len() - self.next
    }

    fn is_empty(&self) -> bool {
        self.next == self.items.len()
    }

    #[inline]
    fn pop_front(&mut self) -> Option<TimerRef> {
        let t = *self.items.get(self.next)?;
        self.next += 1;
        Some(t)
    }

    fn push_back(&mut self, timer: TimerRef) {
        if self.is_empty() {
            self.items.clear();
            self.next = 0;
            keep_spare(&mut self.items, SPARE_DUE);
        }
        self.items.push(timer);
    }

    /// Inserts `timer` behind every timer of its deadline or earlier (small mode: `due` holds
    /// every timer, sorted by deadline, then registration).
    #[inline]
    fn insert_sorted(&mut self, timer: TimerRef) {
        if self.is_empty() {
            self.items.clear();
            self.next = 0;
        }
        let after = self.items[self.next..].partition_point(|t| t.deadline <= timer.deadline);
        self.items.insert(self.next + after, timer);
    }

    /// Takes `bucket`'s timers as the due ones (`due` is empty); `bucket` keeps the old vector,
    /// emptied, with its capacity up to `spare`.
    fn take(&mut self, bucket: &mut Vec<TimerRef>, spare: usize) {
        debug_assert!(self.is_empty());
        self.items.clear();
        self.next = 0;
        std::mem::swap(&mut self.items, bucket);
        keep_spare(bucket, spare);
    }

    fn retain(&mut self, keep: impl FnMut(&TimerRef) -> bool) {
        self.items.drain(..self.next);
        self.next = 0;
        self.items.retain(keep);
    }
}

/// The width of a digit. Wider digits mean fewer moves per timer and more buckets to keep.
const DIGIT_BITS: u32 = 8;
const RADIX: usize = 1 << DIGIT_BITS;
const DIGIT_MASK: u64 = RADIX as u64 - 1;
/// Bucket `RADIX * p + v` holds the timers whose deadline differs from `last` first in digit
/// `p` (from the least significant), where their digit is `v`. Lower buckets hold earlier
/// deadlines.
const BUCKETS: usize = 64 / DIGIT_BITS as usize * RADIX;
/// The buckets of the third digit are warmed (each holds deadlines within 2^16 ns of each
/// other, less than 2^24 ns after the last minimum): near enough to fire soon, and the timers
/// that reach the buckets below nearly all pass through them (warming those as well only
/// repeated the loads). Those of at most `WARM_MAX` timers.
const WARM_BUCKETS: std::ops::Range<usize> = 2 * RADIX..3 * RADIX;
const WARM_MAX: usize = 4096;
/// Words of the occupancy bitmap (a bit per bucket), at most 64: `summary` has a bit per word.
const WORDS: usize = BUCKETS / 64;
/// How many records of capacity an emptied vector keeps (`due`, and each bucket): a burst's
/// capacity is given back once it has gone by, so a long run's memory stays flat (kept whole,
/// every emptied bucket the clock moved through held a little more for good), and what all
/// of them keep is bounded (about 1 MiB).
const SPARE_DUE: usize = 1024;
const SPARE: usize = 32;
/// The most timers the queue keeps as one sorted list (small mode), before it spreads them
/// into the buckets: inserting into a list this short moves at most 512 bytes.
const SMALL_MAX: usize = 32;

/// Frees the (empty) vector's buffer if it holds more than `spare` records.
#[inline]
fn keep_spare(v: &mut Vec<TimerRef>, spare: usize) {
    debug_assert!(v.is_empty());
    if v.capacity() > spare {
        *v = Vec::new();
    }
}

#[derive(Debug)]
pub(crate) struct TimerQueue {
    /// Small mode: `due` holds every timer, sorted, and nothing else holds any (see the
    /// module docs); `last` means nothing then.
    small: bool,
    /// The deadline of the last minimum; every timer in `due` and `buckets` is at or after it.
    last: u64,
    /// The timers due exactly at `last`, in registration order.
    due: Due,
    /// `BUCKETS` vectors, allocated when the queue first leaves small mode.
    buckets: Vec<Vec<TimerRef>>,
    /// Bit `b` set when bucket `b` is non-empty.
    occupied: [u64; WORDS],
    /// Bit `i` set when `occupied[i]` is not zero.
    summary: u64,
    /// Deadlines below `last`, with their registration numbers: a plain heap, rarely used.
    early: BinaryHeap<Reverse<(Instant, u64, Key)>>,
    len: usize,
}

impl Default for TimerQueue {
    fn default() -> Self {
        TimerQueue {
            small: true,
            last: 0,
            due: Due::default(),
            buckets: Vec::new(),
            occupied: [0; WORDS],
            summary: 0,
            early: BinaryHeap::new(),
            len: 0,
        }
    }
}

/// The bucket of a deadline after `last` (`None` if it is `last`).
#[inline]
fn bucket_of(deadline: u64, last: u64) -> Option<usize> {
    let diff = deadline ^ last;
    if diff == 0 {
        return None;
    }
    let digit = (63 - diff.leading_zeros()) / DIGIT_BITS;
    let value = (deadline >> (DIGIT_BITS * digit)) & DIGIT_MASK;
    Some(RADIX * digit as usize + value as usize)
}

impl TimerQueue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Queues `timer`, registered as number `seq`: numbers only grow, and only `early` needs
    /// them (anywhere else, a later timer goes behind the earlier ones of its deadline).
    // Inline always, with the rare paths out of line: the record then stays in registers.
    // Passed through the stack, it was read back 16 bytes at a time over two 8-byte stores,
    // which cannot forward: the read waited for every store before it to reach the cache.
    #[inline(always)]
    pub(crate) fn push(&mut self, timer: TimerRef, seq: u64) {
        self.len += 1;
        if self.small {
            return self.push_small(timer, seq);
        }
        let d = timer.deadline.as_nanos();
        match bucket_of(d, self.last) {
            Some(b) if d > self.last => self.put(b, timer),
            _ => self.push_rare(timer, seq),
        }
    }

    /// `push` in small mode: into the sorted list while it is short, else into the buckets.
    /// Out of line, so that the radix path of `push` stays as small as it was.
    #[inline(never)]
    fn push_small(&mut self, timer: TimerRef, seq: u64) {
        if self.due.len() < SMALL_MAX {
            return self.due.insert_sorted(timer);
        }
        self.leave_small();
        self.len -= 1;
        self.push(timer, seq);
    }

    /// Spreads the sorted list into the buckets, its minimum as the last minimum: the timers of
    /// one deadline reach their bucket in registration order, as `peek_slow` needs.
    #[cold]
    #[inline(never)]
    fn leave_small(&mut self) {
        self.small = false;
        if self.buckets.is_empty() {
            self.buckets = (0..BUCKETS).map(|_| Vec::new()).collect();
        }
        let items: Vec<TimerRef> = self.due.items.drain(self.due.next..).collect();
        self.due.items.clear();
        self.due.next = 0;
        let Some(first) = items.first() else {
            return;
        };
        // The last minimum the buckets took (0 at first), which no later than the clock,
        // unless a timer lies before it: later timers nearly all come at or after it, so
        // none of them needs `early`.
        self.last = self.last.min(first.deadline.as_nanos());
        for t in items {
            match bucket_of(t.deadline.as_nanos(), self.last) {
                None => self.due.push_back(t),
                Some(b) => self.put(b, t),
            }
        }
    }

    /// `push` for a deadline at or before the last minimum.
    #[inline(never)]
    fn push_rare(&mut self, timer: TimerRef, seq: u64) {
        if timer.deadline.as_nanos() < self.last {
            self.early.push(Reverse((timer.deadline, seq, timer.key)));
        } else {
            // The newest registration: it goes after every timer already due then.
            self.due.push_back(timer);
        }
    }

    #[inline(always)]
    fn put(&mut self, b: usize, timer: TimerRef) {
        self.buckets[b].push(timer);
        self.occupied[b / 64] |= 1 << (b % 64);
        self.summary |= 1 << (b / 64);
    }

    fn clear(&mut self, b: usize) {
        self.occupied[b / 64] &= !(1 << (b % 64));
        if self.occupied[b / 64] == 0 {
            self.summary &= !(1 << (b / 64));
        }
    }

    fn lowest_occupied(&self) -> Option<usize> {
        if self.summary == 0 {
            return None;
        }
        let word = self.summary.trailing_zeros() as usize;
        Some(word * 64 + self.occupied[word].trailing_zeros() as usize)
    }

    /// The minimum timer, live or not. Refills `due` first if it is empty.
    #[inline]
    pub(crate) fn peek(&mut self) -> Option<TimerRef> {
        self.peek_warm(|_| {})
    }

    /// `peek`, which also hands `warm` each timer of a bucket it opens when those timers
    /// are the next to fire and few enough to stay in the cache until they do, so that the
    /// caller can start loading what their firings will read.
    #[inline]
    pub(crate) fn peek_warm(&mut self, warm: impl FnMut(&TimerRef)) -> Option<TimerRef> {
        if self.len == 0 {
            self.shrink_if_empty();
            return None;
        }
        if let Some(t) = self.due.front() {
            if self.early.is_empty() {
                return Some(*t);
            }
        }
        self.peek_slow(warm)
    }

    fn peek_slow(&mut self, mut warm: impl FnMut(&TimerRef)) -> Option<TimerRef> {
        if let Some(&Reverse((deadline, _, key))) = self.early.peek() {
            return Some(TimerRef { deadline, key });
        }
        if self.due.is_empty() {
            let b = self.lowest_occupied()?;
            self.clear(b);
            let (mut last, mut max) = (u64::MAX, 0);
            for t in &self.buckets[b] {
                let d = t.deadline.as_nanos();
                last = last.min(d);
                max = max.max(d);
            }
            self.last = last;
            if last == max {
                // One deadline (common low down, often a lone timer): the bucket is `due`
                // as it is, in registration order.
                self.due.take(&mut self.buckets[b], SPARE);
                return self.due.front().copied();
            }
            let mut items = std::mem::take(&mut self.buckets[b]);
            // The lowest bucket's timers fire before any other's. One by one, each firing's
            // loads would wait for memory (with a million timers, their tasks are anywhere);
            // started together now, they overlap.
            if WARM_BUCKETS.contains(&b) && items.len() <= WARM_MAX {
                items.iter().for_each(&mut warm);
            }
            // Each timer lands below `b`: they all agree with `last` from the digit of `b` up.
            for &t in &items {
                match bucket_of(t.deadline.as_nanos(), last) {
                    None => self.due.push_back(t),
                    Some(nb) => self.put(nb, t),
                }
            }
            // Timers of one deadline always share a bucket (each bucket is a function of the
            // deadline and `last`), which they reached in registration order: pushed in that
            // order, or moved together by a spread, which keeps their order. So `due` needs
            // no sort (the unit test below checks the order against a sorted list).
            // Keep the vector's capacity for the next timers of that bucket, up to its spare.
            debug_assert!(self.buckets[b].is_empty());
            items.clear();
            keep_spare(&mut items, SPARE);
            self.buckets[b] = items;
        }
        self.due.front().copied()
    }

    /// A timer due soon after the minimum's deadline, for prefetching (the lowest bucket's
    /// first, not always the next to fire; the minimum's own deadline is `upcoming`). Call
    /// after `peek`.
    #[inline]
    pub(crate) fn after_next(&self) -> Option<&TimerRef> {
        if self.small {
            let front = self.due.front()?;
            let rest = &self.due.items[self.due.next..];
            return rest.iter().find(|t| t.deadline != front.deadline);
        }
        self.buckets[self.lowest_occupied()?].first()
    }

    /// The other timers of the minimum's deadline, in the order they pop, for prefetching:
    /// after a `peek`, the rest of what the promotion at that deadline takes.
    #[inline]
    pub(crate) fn upcoming(&self) -> &[TimerRef] {
        if !self.early.is_empty() {
            return &[];
        }
        let rest = self.due.items.get(self.due.next + 1..).unwrap_or(&[]);
        match self.due.front() {
            Some(front) if self.small => {
                &rest[..rest.partition_point(|t| t.deadline == front.deadline)]
            }
            _ => rest,
        }
    }

    /// Removes the minimum timer.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<TimerRef> {
        // After a `peek`, the minimum is at the front of `due`, unless `early` has one.
        if self.early.is_empty() {
            if let Some(t) = self.due.pop_front() {
                self.len -= 1;
                return Some(t);
            }
        }
        self.peek()?;
        self.len -= 1;
        if let Some(Reverse((deadline, _, key))) = self.early.pop() {
            return Some(TimerRef { deadline, key });
        }
        self.due.pop_front()
    }

    /// Keeps only the timers `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&TimerRef) -> bool) {
        self.early
            .retain(|&Reverse((deadline, _, key))| keep(&TimerRef { deadline, key }));
        self.due.retain(&mut keep);
        let mut len = self.early.len() + self.due.len();
        // Only the occupied buckets: most of the 2048 are empty.
        for word in 0..WORDS {
            let mut bits = self.occupied[word];
            while bits != 0 {
                let b = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                self.buckets[b].retain(&mut keep);
                if self.buckets[b].is_empty() {
                    self.clear(b);
                    keep_spare(&mut self.buckets[b], SPARE);
                }
                len += self.buckets[b].len();
            }
        }
        self.len = len;
    }

    /// Gives back `due`'s buffer if it held a burst, once the queue is empty (while timers
    /// are left, the next refill hands it to a bucket, which keeps at most its spare).
    #[cold]
    fn shrink_if_empty(&mut self) {
        // Nothing is left anywhere: the sorted list holds the next timers again.
        self.small = true;
        if self.due.items.capacity() > SPARE_DUE {
            self.due.items = Vec::new();
            self.due.next = 0;
        }
    }

    /// The records of capacity held by vectors that are empty.
    #[cfg(test)]
    fn spare_records(&self) -> usize {
        let due = if self.due.is_empty() {
            self.due.items.capacity()
        } else {
            0
        };
        due + self
            .buckets
            .iter()
            .filter(|b| b.is_empty())
            .map(Vec::capacity)
            .sum::<usize>()
    }

    /// Every timer, in (deadline, registration) order, leaving the queue empty.
    pub(crate) fn take_all(&mut self) -> Vec<TimerRef> {
        let mut all = Vec::with_capacity(self.len);
        while let Some(t) = self.pop() {
            all.push(t);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slab::Slab;

    /// The most capacity the empty vectors may keep, whatever came before.
    const SPARE_MAX: usize = SPARE_DUE + BUCKETS * SPARE;

    #[test]
    fn emptied_buckets_give_back_what_a_burst_grew() {
        let mut slab = Slab::new();
        let mut q = TimerQueue::default();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut seq = 0;
        // Pushes 100,000 timers at the deadlines `deadline` draws, then drains them all.
        let mut burst = |q: &mut TimerQueue, mut deadline: Box<dyn FnMut() -> Instant + '_>| {
            for _ in 0..100_000 {
                seq += 1;
                let t = TimerRef {
                    deadline: deadline(),
                    key: slab.insert(()),
                };
                q.push(t, seq);
            }
            while q.pop().is_some() {}
            q.peek();
        };
        // Bursts over ever later stretches of time (so the clock moves into new high-digit
        // buckets), each drained before the next; some share deadlines.
        for round in 0..8u64 {
            let base = round << 40;
            let x = &mut x;
            burst(
                &mut q,
                Box::new(move || {
                    let r = xorshift(x);
                    Instant::from_nanos(base + (r % (1 << (20 + 2 * round))) / 3 * 3)
                }),
            );
            assert!(
                q.spare_records() <= SPARE_MAX,
                "round {round}: {}",
                q.spare_records()
            );
        }
        // A burst that all shares one deadline leaves at most `due`'s spare.
        burst(&mut q, Box::new(|| Instant::from_nanos(9 << 40)));
        assert!(q.spare_records() <= SPARE_MAX);
        let due = q.due.items.capacity();
        assert!(due <= SPARE_DUE, "due keeps {due}");
    }

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// Against a sorted list: interleaved pushes (also below the last minimum), pops, retains,
    /// with deadlines up to `spread` after the clock (small spreads make many ties, large
    /// ones move timers through many digits).
    fn check_against_a_sorted_list(spread: u64) {
        check_against_a_sorted_list_with(spread, 6, 0);
    }

    /// The same, with `pushes` tenths of the operations pushes (the rest but a tenth pops)
    /// and, every 500 operations, a burst of `burst` pushes: few pushes keep the queue short
    /// and often empty (small mode), the bursts spread it into the buckets and back.
    fn check_against_a_sorted_list_with(spread: u64, pushes: u64, burst: u64) {
        let mut slab = Slab::new();
        let mut q = TimerQueue::default();
        // The model: (deadline, registration number, timer), sorted before each pop.
        let mut model: Vec<(Instant, u64, TimerRef)> = Vec::new();
        // Registration numbers by key index (the slab never frees one here).
        let mut numbers = Vec::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut now = 0u64;
        let mut seq = 0u64;
        let (mut switches, mut was_small) = (0, true);
        for op in 0..20_000u64 {
            seq += 1;
            let r = xorshift(&mut x);
            let kind = if op % 500 < burst { 0 } else { r % 10 };
            match kind {
                k if k < pushes => {
                    // Mostly at or after the clock; sometimes before it.
                    let base = if r % 7 == 0 {
                        now.saturating_sub(spread / 2)
                    } else {
                        now
                    };
                    let deadline = Instant::from_nanos(base + (r >> 8) % spread);
                    let t = TimerRef {
                        deadline,
                        key: slab.insert(()),
                    };
                    assert_eq!(t.key.index() as usize, numbers.len());
                    numbers.push(seq);
                    q.push(t, seq);
                    model.push((deadline, seq, t));
                }
                k if k < 9 => {
                    model.sort_by_key(|&(deadline, seq, _)| (deadline, seq));
                    let expected = (!model.is_empty()).then(|| model.remove(0).2);
                    let got = q.pop();
                    assert_eq!(got, expected);
                    if let Some(t) = got {
                        now = now.max(t.deadline.as_nanos());
                    }
                }
                _ => {
                    q.retain(|t| numbers[t.key.index() as usize] % 5 != 0);
                    model.retain(|&(_, seq, _)| seq % 5 != 0);
                }
            }
            assert_eq!(q.len(), model.len());
            if q.small != was_small {
                switches += 1;
                was_small = q.small;
            }
        }
        if burst > 0 {
            assert!(
                switches >= 20,
                "{switches} switches between list and buckets"
            );
        }
        model.sort_by_key(|&(deadline, seq, _)| (deadline, seq));
        let model: Vec<TimerRef> = model.into_iter().map(|(_, _, t)| t).collect();
        assert_eq!(q.take_all(), model);
        assert_eq!(q.len(), 0);
    }

    /// The timers handed to `warm` are the next ones to pop, all of them, before any other.
    #[test]
    fn warms_the_timers_that_fire_next() {
        let mut slab = Slab::new();
        let mut q = TimerQueue::default();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for seq in 0..20_000u64 {
            let deadline = Instant::from_nanos(xorshift(&mut x) % (1 << 30));
            q.push(
                TimerRef {
                    deadline,
                    key: slab.insert(()),
                },
                seq,
            );
        }
        let (mut batches, mut warmed) = (0, 0);
        // The keys of the last batch warmed that have not popped yet.
        let mut pending: Vec<Key> = Vec::new();
        loop {
            let mut batch = Vec::new();
            let Some(top) = q.peek_warm(|t| batch.push(t.key)) else {
                break;
            };
            if !batch.is_empty() {
                assert!(
                    pending.is_empty(),
                    "a batch warmed before the last one fired"
                );
                batches += 1;
                warmed += batch.len();
                pending = batch;
            }
            assert_eq!(q.pop(), Some(top));
            match pending.iter().position(|&k| k == top.key) {
                Some(i) => {
                    pending.swap_remove(i);
                }
                None => assert!(
                    pending.is_empty(),
                    "a timer popped before the batch warmed last had all fired"
                ),
            }
        }
        assert!(pending.is_empty());
        // Most timers (70% here) pass through a warmed bucket on their way down.
        assert!(
            batches > 1_000 && warmed > 10_000,
            "{batches} batches, {warmed} timers"
        );
    }

    /// After a `peek`, `upcoming` lists the other timers of the minimum's deadline, in the
    /// order they pop.
    #[test]
    fn upcoming_is_the_rest_of_the_minimum_deadline() {
        let mut slab = Slab::new();
        let mut q = TimerQueue::default();
        let mut model = Vec::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for seq in 0..5_000u64 {
            let deadline = Instant::from_nanos(xorshift(&mut x) % 300 * 1000);
            let t = TimerRef {
                deadline,
                key: slab.insert(()),
            };
            q.push(t, seq);
            model.push((deadline, seq, t));
        }
        model.sort_by_key(|&(deadline, seq, _)| (deadline, seq));
        let mut popped = 0;
        let mut longest = 0;
        while let Some(top) = q.peek() {
            let same: Vec<TimerRef> = model[popped..]
                .iter()
                .take_while(|&&(deadline, _, _)| deadline == top.deadline)
                .map(|&(_, _, t)| t)
                .collect();
            assert_eq!(same[0], top);
            assert_eq!(q.upcoming(), &same[1..]);
            longest = longest.max(same.len());
            assert_eq!(q.pop(), Some(top));
            popped += 1;
        }
        assert_eq!(popped, model.len());
        assert!(longest > 10, "deadlines shared by up to {longest} timers");
    }

    #[test]
    fn pops_in_deadline_then_registration_order() {
        for spread in [1, 3, 100, 4096, 1_000_003, 1 << 40] {
            check_against_a_sorted_list(spread);
        }
    }

    /// Short queues (the sorted list of small mode), bursts past `SMALL_MAX` into the buckets,
    /// and back once empty: the same order as a sorted list throughout.
    #[test]
    fn short_queues_and_bursts_pop_in_the_same_order() {
        for spread in [1, 100, 1_000_003, 1 << 40] {
            check_against_a_sorted_list_with(spread, 4, 0);
            check_against_a_sorted_list_with(spread, 4, 2 * SMALL_MAX as u64);
        }
    }

    #[test]
    fn a_short_queue_allocates_no_buckets_and_an_emptied_one_goes_back_to_the_list() {
        let mut q = TimerQueue::default();
        let at = |ns| TimerRef {
            deadline: Instant::from_nanos(ns),
            key: Key::from_bits(ns),
        };
        for i in 0..SMALL_MAX as u64 {
            q.push(at(1000 - i), i);
        }
        assert!(q.small && q.buckets.is_empty());
        q.push(at(5000), 99);
        assert!(!q.small && q.buckets.len() == BUCKETS);
        while q.pop().is_some() {}
        assert_eq!(q.peek(), None);
        assert!(q.small);
    }
}
