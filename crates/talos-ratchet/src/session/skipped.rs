//! The store of skipped message keys: O(1) insert, lookup and removal, bounded, FIFO eviction.

use core::hash::BuildHasherDefault;
use std::collections::{HashMap, VecDeque};
use std::hash::DefaultHasher;

use crate::kdf::MessageKey;

/// A skipped key's name: the sender's ratchet public key and the message number.
pub(crate) type SkipId = ([u8; 32], u32);

/// Skipped message keys, at most `cap` of them; inserting beyond the cap evicts the oldest
/// stored key (first in, first out).
///
/// The map is keyed with a fixed-key SipHash (no OS randomness, Sans-IO); entries only ever
/// come from messages that authenticated, and their number is bounded by `cap`. `order`
/// remembers insertion order; entries removed by use stay there as tombstones (their sequence
/// number no longer matches the map) until a compaction, which runs when tombstones outnumber
/// live entries, so every operation is amortised O(1).
pub(crate) struct SkippedKeys {
    map: HashMap<SkipId, (u64, MessageKey), BuildHasherDefault<DefaultHasher>>,
    order: VecDeque<(SkipId, u64)>,
    next_seq: u64,
    cap: usize,
}

impl SkippedKeys {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            map: HashMap::default(),
            order: VecDeque::new(),
            next_seq: 0,
            cap,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    pub(crate) fn get(&self, id: &SkipId) -> Option<&MessageKey> {
        if self.map.is_empty() {
            return None; // the common case: no hashing
        }
        self.map.get(id).map(|(_, key)| key)
    }

    pub(crate) fn remove(&mut self, id: &SkipId) {
        self.map.remove(id);
        self.compact_if_sparse();
    }

    /// Stores `key`, then evicts the oldest keys while more than `cap` are stored.
    pub(crate) fn insert(&mut self, id: SkipId, key: MessageKey) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.map.insert(id, (seq, key));
        self.order.push_back((id, seq));
        self.evict_to_cap();
    }

    pub(crate) fn set_cap(&mut self, cap: usize) {
        self.cap = cap;
        self.evict_to_cap();
    }

    fn is_live(&self, id: &SkipId, seq: u64) -> bool {
        self.map.get(id).is_some_and(|(s, _)| *s == seq)
    }

    fn evict_to_cap(&mut self) {
        while self.map.len() > self.cap {
            let Some((id, seq)) = self.order.pop_front() else {
                break;
            };
            if self.is_live(&id, seq) {
                self.map.remove(&id);
            }
        }
        self.compact_if_sparse();
    }

    fn compact_if_sparse(&mut self) {
        if self.order.len() > 2 * self.map.len() + 32 {
            let map = &self.map;
            self.order
                .retain(|(id, seq)| map.get(id).is_some_and(|(s, _)| s == seq));
        }
    }

    /// The stored keys, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&SkipId, &MessageKey)> {
        self.order.iter().filter_map(|(id, seq)| {
            self.map
                .get(id)
                .filter(|(s, _)| s == seq)
                .map(|(_, key)| (id, key))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> MessageKey {
        MessageKey::from_bytes([b; 32])
    }

    #[test]
    fn fifo_eviction_and_use() {
        let mut s = SkippedKeys::new(3);
        for n in 0..5 {
            s.insert(([1; 32], n), key(n as u8));
        }
        let ids: Vec<u32> = s.iter().map(|(id, _)| id.1).collect();
        assert_eq!(ids, [2, 3, 4]);
        s.remove(&([1; 32], 3));
        assert!(s.get(&([1; 32], 3)).is_none());
        assert_eq!(s.get(&([1; 32], 4)).unwrap().as_bytes(), &[4; 32]);
        s.insert(([2; 32], 0), key(9));
        s.insert(([2; 32], 1), key(10));
        let ids: Vec<(u8, u32)> = s.iter().map(|(id, _)| (id.0[0], id.1)).collect();
        assert_eq!(ids, [(1, 4), (2, 0), (2, 1)]);
        s.set_cap(1);
        assert_eq!(s.len(), 1);
        assert!(s.get(&([2; 32], 1)).is_some());
    }

    #[test]
    fn tombstones_stay_bounded() {
        let mut s = SkippedKeys::new(10);
        for n in 0..10_000u32 {
            s.insert(([0; 32], n), key(0));
            s.remove(&([0; 32], n));
            assert!(s.order.len() <= 2 * s.map.len() + 33);
        }
        assert_eq!(s.len(), 0);
    }
}
