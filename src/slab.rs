//! A generational slab: stable keys that go stale, instead of dangling, when their slot is
//! reused. Callbacks, timers and tasks all live in one of these.

/// A slot's index and the generation it had when the key was made, in one word (the index
/// in the high half, so keys order by index, then generation): one register, which lets a
/// pair of a key and a word come back from a call in registers.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key(u64);

/// The top bit of a key's index: free for the user of a slab to say which slab a key is of.
const TAG: u32 = 1 << 31;
/// Indexes stay below this, so the two bits under the tag are free too (the ready queue packs
/// its item kinds there).
const INDEX_LIMIT: u32 = 1 << 29;

impl Key {
    fn new(index: u32, generation: u32) -> Key {
        Key((u64::from(index) << 32) | u64::from(generation))
    }

    /// The slot index (the main future's generation, when a waker's target is the main one).
    pub(crate) fn index(self) -> u32 {
        (self.0 >> 32) as u32
    }

    fn generation(self) -> u32 {
        self.0 as u32
    }

    /// The key as one word: the index in the high half.
    pub(crate) fn to_bits(self) -> u64 {
        self.0
    }

    pub(crate) fn from_bits(bits: u64) -> Key {
        Key(bits)
    }

    /// The key with its tag bit set.
    pub(crate) fn tagged(self) -> Key {
        Key(self.0 | u64::from(TAG) << 32)
    }

    pub(crate) fn is_tagged(self) -> bool {
        self.index() & TAG != 0
    }

    /// The key with its tag bit cleared: the key its slab knows.
    pub(crate) fn untagged(self) -> Key {
        Key(self.0 & !(u64::from(TAG) << 32))
    }

    pub(crate) fn from_index(index: u32) -> Key {
        Key::new(index, 0)
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("index", &self.index())
            .field("generation", &self.generation())
            .finish()
    }
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

#[derive(Debug)]
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Slab<T> {
    pub(crate) fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Inserts the value built from its own key (a task's waker needs the key).
    pub(crate) fn insert_with(&mut self, make: impl FnOnce(Key) -> T) -> Key {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|i| *i < INDEX_LIMIT)
                    .expect("more than 2^29 live entries");
                self.slots.push(Slot {
                    generation: 0,
                    value: None,
                });
                i
            }
        };
        let slot = &mut self.slots[index as usize];
        let key = Key::new(index, slot.generation);
        slot.value = Some(make(key));
        self.len += 1;
        key
    }

    pub(crate) fn insert(&mut self, value: T) -> Key {
        self.insert_with(|_| value)
    }

    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        let slot = self.slots.get(key.index() as usize)?;
        (slot.generation == key.generation())
            .then_some(slot.value.as_ref())
            .flatten()
    }

    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let slot = self.slots.get_mut(key.index() as usize)?;
        if slot.generation == key.generation() {
            slot.value.as_mut()
        } else {
            None
        }
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let slot = self.slots.get_mut(key.index() as usize)?;
        if slot.generation != key.generation() {
            return None;
        }
        let value = slot.value.take()?;
        self.free_slot(key.index(), 1);
        self.len -= 1;
        Some(value)
    }

    /// Moves the emptied slot `index` on by `reuses` generations and frees it for reuse,
    /// unless its generation wrapped: then it is retired for good, so that a key from 2^32
    /// reuses ago can never name a later value (a slot lost per 2^32 reuses is nothing).
    fn free_slot(&mut self, index: u32, reuses: u32) {
        let slot = &mut self.slots[index as usize];
        let (generation, wrapped) = slot.generation.overflowing_add(reuses);
        slot.generation = generation;
        if !wrapped {
            self.free.push(index);
        }
    }

    /// Test-only: ages the empty slot `key` named by `reuses` more insert/remove cycles, as
    /// that many would (a wrap of the generation included) without running them.
    #[cfg(test)]
    pub(crate) fn age(&mut self, key: Key, reuses: u32) {
        let index = key.index();
        assert!(
            self.slots[index as usize].value.is_none(),
            "age an empty slot"
        );
        let at = self
            .free
            .iter()
            .position(|&i| i == index)
            .expect("a free slot");
        self.free.remove(at);
        self.free_slot(index, reuses);
    }

    /// Starts loading `key`'s slot into the cache, for a lookup coming soon.
    #[inline]
    pub(crate) fn prefetch(&self, key: Key) {
        let slot = self.slots.as_ptr().wrapping_add(key.index() as usize);
        crate::prefetch::prefetch(slot);
        // A slot need not sit in one cache line (a task's is 48 bytes): load its last byte's
        // line too, or a lookup of the generation can still wait for memory.
        crate::prefetch::prefetch(slot.cast::<u8>().wrapping_add(size_of::<Slot<T>>() - 1));
    }

    /// Removes every value, in slot order.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len);
        for index in 0..self.slots.len() {
            if let Some(v) = self.slots[index].value.take() {
                self.free_slot(index as u32, 1);
                out.push(v);
            }
        }
        self.len = 0;
        out
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().filter_map(|s| s.value.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn a_slot_whose_generation_wraps_is_retired_so_old_keys_never_resolve_again() {
        let mut slab = Slab::new();
        let old = slab.insert("old");
        assert_eq!(slab.remove(old), Some("old"));
        // 2^32 reuses in all: the generation is back where `old` was made.
        slab.age(old, u32::MAX);
        let new = slab.insert("new");
        assert_ne!(
            new.index(),
            old.index(),
            "the wrapped slot must not be reused"
        );
        assert_eq!(slab.get(old), None);
        assert_eq!(slab.remove(old), None);
        assert_eq!(slab.get(new), Some(&"new"));
        // Short of a wrap, the slot is reused under a new generation.
        let a = slab.insert("a");
        slab.remove(a);
        slab.age(a, 1000);
        let b = slab.insert("b");
        assert_eq!(b.index(), a.index());
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
    }
}
