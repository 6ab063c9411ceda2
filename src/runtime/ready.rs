//! The ready queue: a ring buffer of items packed in one word each.
//!
//! `VecDeque` would do, but its push is not always inlined into the wake path, and there a
//! call that takes the item by reference costs a store-forwarding stall per wake (measured:
//! 10% of a ping-pong between two tasks). This queue's hot operations are small and inline.

use crate::slab::Key;

/// An item the queue stores as one word (a tagged enum of keys would take a word and a half).
pub(crate) trait Word: Copy {
    fn to_word(self) -> u64;
    fn from_word(word: u64) -> Self;
}

/// One entry of the ready queue. A task step is a callback like any other.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ready {
    /// A `call_soon` callback, or a timer that fell due.
    Entry(Key),
    /// One poll of a spawned task.
    Task(Key),
    /// One poll of the main future of the `run_until_complete` with this generation.
    Main(u32),
    /// The stop that the main future's completion queues (CPython's done callback).
    StopMain(u32),
}

/// The kind of a packed `Ready`, in the two bits under a key's tag bit (slab indexes leave
/// them zero).
const KIND_SHIFT: u32 = 61;

impl Word for Ready {
    #[inline]
    fn to_word(self) -> u64 {
        match self {
            Ready::Entry(key) => key.to_bits(),
            Ready::Task(key) => key.to_bits() | 1 << KIND_SHIFT,
            Ready::Main(gen) => u64::from(gen) | 2 << KIND_SHIFT,
            Ready::StopMain(gen) => u64::from(gen) | 3 << KIND_SHIFT,
        }
    }

    #[inline]
    fn from_word(word: u64) -> Ready {
        let key = Key::from_bits(word & !(3 << KIND_SHIFT));
        match (word >> KIND_SHIFT) & 3 {
            0 => Ready::Entry(key),
            1 => Ready::Task(key),
            2 => Ready::Main(word as u32),
            _ => Ready::StopMain(word as u32),
        }
    }
}

/// The most slots an empty queue keeps (512 KiB): a batch larger than this costs a regrowth
/// whenever the queue runs dry, which is small beside running it.
const KEEP: usize = 1 << 16;

/// A FIFO of `T`, with a power-of-two capacity.
#[derive(Debug)]
pub(crate) struct ReadyQueue<T> {
    slots: Vec<u64>,
    head: usize,
    len: usize,
    _item: std::marker::PhantomData<T>,
}

impl<T: Word> ReadyQueue<T> {
    pub(crate) fn new() -> Self {
        ReadyQueue {
            slots: Vec::new(),
            head: 0,
            len: 0,
            _item: std::marker::PhantomData,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    fn index(&self, i: usize) -> usize {
        (self.head + i) & (self.slots.len() - 1)
    }

    // `always`: in the middle of the run loop, the compiler left it out of line.
    #[inline(always)]
    pub(crate) fn push_back(&mut self, item: T) {
        if self.len == self.slots.len() {
            self.grow();
        }
        let i = self.index(self.len);
        self.slots[i] = item.to_word();
        self.len += 1;
    }

    pub(crate) fn push_front(&mut self, item: T) {
        if self.len == self.slots.len() {
            self.grow();
        }
        self.head = (self.head + self.slots.len() - 1) & (self.slots.len() - 1);
        self.slots[self.head] = item.to_word();
        self.len += 1;
    }

    #[inline(always)]
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let item = T::from_word(self.slots[self.head]);
        self.head = self.index(1);
        self.len -= 1;
        Some(item)
    }

    /// The items from front to back.
    pub(crate) fn iter(&self) -> impl Iterator<Item = T> + '_ {
        (0..self.len).map(move |i| T::from_word(self.slots[self.index(i)]))
    }

    /// Removes the item at position `at` (0 is the front); the items behind it move up.
    pub(crate) fn remove(&mut self, at: usize) -> Option<T> {
        if at >= self.len {
            return None;
        }
        let item = T::from_word(self.slots[self.index(at)]);
        for i in at..self.len - 1 {
            let (to, from) = (self.index(i), self.index(i + 1));
            self.slots[to] = self.slots[from];
        }
        self.len -= 1;
        Some(item)
    }

    /// Every item, front to back, leaving the queue empty.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        let items = self.iter().collect();
        self.head = 0;
        self.len = 0;
        items
    }

    /// Gives back the memory of a burst: an empty queue whose buffer grew past `KEEP` slots
    /// frees it (a long-running loop must not keep the peak of one burst for good).
    #[inline]
    pub(crate) fn shrink_if_empty(&mut self) {
        if self.len == 0 && self.slots.len() > KEEP {
            self.release();
        }
    }

    #[cold]
    fn release(&mut self) {
        self.slots = Vec::new();
        self.head = 0;
    }

    /// The buffer's size in slots.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    #[cold]
    fn grow(&mut self) {
        // In place: a full buffer rotated to start at 0, then grown (a large buffer grows by
        // remapping, without a second copy alive at the peak).
        let capacity = (self.slots.len() * 2).max(16);
        self.slots.rotate_left(self.head);
        self.slots.resize(capacity, 0);
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::{ReadyQueue, Word, KEEP};
    use std::collections::VecDeque;

    impl Word for u32 {
        fn to_word(self) -> u64 {
            u64::from(self)
        }
        fn from_word(word: u64) -> u32 {
            word as u32
        }
    }

    /// Against `VecDeque`, through growth and wrap-around.
    #[test]
    fn behaves_like_a_vecdeque() {
        let mut q = ReadyQueue::new();
        let mut model = VecDeque::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for n in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 8 {
                0..=2 => {
                    q.push_back(n);
                    model.push_back(n);
                }
                3 => {
                    q.push_front(n);
                    model.push_front(n);
                }
                4 | 5 => assert_eq!(q.pop_front(), model.pop_front()),
                6 => {
                    let at = (x >> 8) as usize % (model.len() + 1);
                    assert_eq!(q.remove(at), model.remove(at));
                }
                _ if x % 64 == 7 => {
                    assert_eq!(q.drain(), model.drain(..).collect::<Vec<_>>());
                }
                _ => {}
            }
            assert_eq!(q.len(), model.len());
            assert_eq!(q.is_empty(), model.is_empty());
            assert!(q.iter().eq(model.iter().copied()));
        }
    }

    #[test]
    fn an_emptied_queue_gives_back_the_memory_of_a_burst() {
        let mut q = ReadyQueue::new();
        for n in 0..KEEP as u32 {
            q.push_back(n);
        }
        assert_eq!(q.capacity(), KEEP);
        while q.pop_front().is_some() {}
        q.shrink_if_empty();
        assert_eq!(q.capacity(), KEEP, "up to KEEP slots are kept");
        for n in 0..=KEEP as u32 {
            q.push_back(n);
        }
        assert_eq!(q.capacity(), 2 * KEEP);
        q.shrink_if_empty();
        assert_eq!(q.capacity(), 2 * KEEP, "a queue in use keeps its buffer");
        while q.pop_front().is_some() {}
        q.shrink_if_empty();
        assert_eq!(q.capacity(), 0);
        q.push_back(7);
        assert_eq!(q.pop_front(), Some(7));
    }

    mod packed {
        use super::super::{Ready, Word};
        use crate::slab::Key;

        #[test]
        fn ready_items_round_trip_through_one_word() {
            let keys = [
                Key::from_bits(0),
                Key::from_bits(u64::from(u32::MAX)),
                Key::from_bits(((1 << 29) - 1) << 32 | 7),
                Key::from_bits(((1 << 29) - 1) << 32 | 7).tagged(),
                Key::from_bits(5 << 32 | u64::from(u32::MAX)).tagged(),
            ];
            for key in keys {
                for item in [Ready::Entry(key), Ready::Task(key)] {
                    let back = Ready::from_word(item.to_word());
                    assert_eq!(format!("{back:?}"), format!("{item:?}"));
                }
            }
            for gen in [0, 1, u32::MAX] {
                for item in [Ready::Main(gen), Ready::StopMain(gen)] {
                    let back = Ready::from_word(item.to_word());
                    assert_eq!(format!("{back:?}"), format!("{item:?}"));
                }
            }
        }
    }
}
