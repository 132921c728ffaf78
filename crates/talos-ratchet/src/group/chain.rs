//! Sender chains: the key schedule, and the bounded store of skipped message keys.

use core::fmt;
use std::collections::VecDeque;

use talos_crypto::aead::{self, ChaCha20Poly1305};
use talos_crypto::hash::{hkdf_sha256, hmac_sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{AEAD_INFO, CHAIN_LABEL, MESSAGE_KEY_LABEL};

/// A 32-byte secret on the heap, so moving it copies a pointer, not the key; wiped on drop.
#[derive(Clone)]
pub(super) struct Key32(Box<[u8; 32]>);

impl Key32 {
    pub(super) fn new(bytes: [u8; 32]) -> Self {
        let mut bytes = bytes;
        let key = Self(Box::new(bytes));
        bytes.zeroize();
        key
    }

    pub(super) fn random(rng: &mut impl talos_crypto::CryptoRng) -> Self {
        let mut key = Self(Box::new([0; 32]));
        rng.fill_bytes(&mut key.0[..]);
        key
    }

    pub(super) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `HMAC-SHA256(self, label)`.
    fn hmac(&self, label: &[u8]) -> Self {
        Self::new(hmac_sha256(&self.0[..], label))
    }

    /// The message key of this chain step: `HMAC-SHA256(ck, "talos-group-v1 message key")`.
    pub(super) fn message_key(&self) -> Self {
        self.hmac(MESSAGE_KEY_LABEL)
    }

    /// The next chain key: `HMAC-SHA256(ck, "talos-group-v1 chain")`.
    pub(super) fn next_chain_key(&self) -> Self {
        self.hmac(CHAIN_LABEL)
    }
}

impl Zeroize for Key32 {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl Drop for Key32 {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for Key32 {}

impl fmt::Debug for Key32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The cipher and nonce a message key stands for:
/// `key ‖ nonce = HKDF-SHA256(salt = ∅, ikm = mk, info = "talos-group-v1 aead", L = 44)`.
pub(super) fn message_cipher(mk: &Key32) -> (ChaCha20Poly1305, [u8; aead::NONCE_LEN]) {
    let mut okm = Zeroizing::new([0u8; aead::KEY_LEN + aead::NONCE_LEN]);
    // 44 bytes is far below HKDF's 8160-byte limit: this cannot fail.
    let _ = hkdf_sha256(None, &mk.0[..], AEAD_INFO, okm.as_mut());
    let mut key = Zeroizing::new([0u8; aead::KEY_LEN]);
    key.copy_from_slice(&okm[..aead::KEY_LEN]);
    let mut nonce = [0u8; aead::NONCE_LEN];
    nonce.copy_from_slice(&okm[aead::KEY_LEN..]);
    (ChaCha20Poly1305::new(&key), nonce)
}

/// Message keys a receiving chain skipped over, by iteration.
///
/// The slots cover iterations `base .. base + slots.len()`, which ends at the chain's next
/// iteration; a slot is `None` once its message arrived. The front slot is always `Some`
/// (leading `None`s are dropped), so lookup is one subtraction and one index, O(1), and the
/// span — hence the memory — is bounded by the caller's limit.
#[derive(Default)]
pub(super) struct SkippedKeys {
    base: u64,
    slots: VecDeque<Option<Key32>>,
    stored: usize,
}

impl SkippedKeys {
    /// Keys stored.
    pub(super) fn len(&self) -> usize {
        self.stored
    }

    /// The key for `iteration`, if stored.
    pub(super) fn get(&self, iteration: u64) -> Option<&Key32> {
        let index = usize::try_from(iteration.checked_sub(self.base)?).ok()?;
        self.slots.get(index)?.as_ref()
    }

    /// Forgets the key for `iteration` (its message decrypted).
    pub(super) fn remove(&mut self, iteration: u64) {
        let Some(index) = iteration
            .checked_sub(self.base)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return;
        };
        if let Some(slot) = self.slots.get_mut(index)
            && slot.take().is_some()
        {
            self.stored -= 1;
        }
        self.trim_front();
    }

    /// Records that the chain moved from `next` past `new_keys.len()` skipped iterations and
    /// one consumed one, then drops the oldest keys until the span is at most `max_span`.
    pub(super) fn advance(&mut self, next: u64, new_keys: Vec<Key32>, max_span: usize) {
        if self.slots.is_empty() {
            if new_keys.is_empty() {
                return;
            }
            self.base = next;
        }
        for key in new_keys {
            self.slots.push_back(Some(key));
            self.stored += 1;
        }
        self.slots.push_back(None);
        while self.slots.len() > max_span {
            self.pop_front();
        }
        self.trim_front();
    }

    /// Drops the oldest stored key, if any.
    pub(super) fn evict_oldest(&mut self) -> bool {
        if self.slots.is_empty() {
            return false;
        }
        self.pop_front();
        self.trim_front();
        true
    }

    /// Stored keys with their iterations, oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, &Key32)> {
        self.slots
            .iter()
            .zip(self.base..)
            .filter_map(|(slot, i)| slot.as_ref().map(|k| (i, k)))
    }

    /// Rebuilds the store from `(iteration, key)` pairs in strictly increasing order, all
    /// below `next`. The caller checks order and bounds.
    pub(super) fn restore(keys: Vec<(u64, Key32)>, next: u64) -> Self {
        let mut store = Self::default();
        let Some(&(first, _)) = keys.first() else {
            return store;
        };
        store.base = first;
        let mut expected = first;
        for (iteration, key) in keys {
            while expected < iteration {
                store.slots.push_back(None);
                expected += 1;
            }
            store.slots.push_back(Some(key));
            store.stored += 1;
            expected += 1;
        }
        while expected < next {
            store.slots.push_back(None);
            expected += 1;
        }
        store
    }

    fn pop_front(&mut self) {
        if let Some(slot) = self.slots.pop_front() {
            if slot.is_some() {
                self.stored -= 1;
            }
            self.base += 1;
        }
    }

    fn trim_front(&mut self) {
        while matches!(self.slots.front(), Some(None)) {
            self.pop_front();
        }
    }
}

impl fmt::Debug for SkippedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkippedKeys")
            .field("stored", &self.stored)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(range: core::ops::Range<u8>) -> Vec<Key32> {
        range.map(|i| Key32::new([i; 32])).collect()
    }

    #[test]
    fn store_indexes_evicts_and_trims() {
        let mut s = SkippedKeys::default();
        // Chain at 0 receives 3: keys 0, 1, 2 skipped.
        s.advance(0, keys(0..3), 100);
        assert_eq!(s.len(), 3);
        assert_eq!(s.get(1).map(|k| k.as_bytes()[0]), Some(1));
        assert!(s.get(3).is_none());
        s.remove(0);
        assert_eq!(s.base, 1);
        s.remove(2);
        assert_eq!(s.len(), 1);
        // In-order messages after a hole extend the span, up to the limit.
        for next in 4..8 {
            s.advance(next, Vec::new(), 5);
        }
        assert!(
            s.get(1).is_none(),
            "key 1 fell out of the 5-iteration window"
        );
        assert_eq!(s.len(), 0);
        assert!(s.slots.is_empty());
        s.advance(10, keys(10..12), 100);
        assert_eq!(s.iter().map(|(i, _)| i).collect::<Vec<_>>(), [10, 11]);
        assert!(s.evict_oldest());
        assert_eq!(s.iter().map(|(i, _)| i).collect::<Vec<_>>(), [11]);
        let restored =
            SkippedKeys::restore(vec![(3, Key32::new([3; 32])), (6, Key32::new([6; 32]))], 9);
        assert_eq!(restored.len(), 2);
        assert_eq!(restored.slots.len(), 6);
        assert!(restored.get(6).is_some() && restored.get(4).is_none());
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", Key32::new([7; 32])), "<redacted>");
    }
}
