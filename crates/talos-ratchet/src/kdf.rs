//! The key derivations of the Double Ratchet, with the upstream talos-v1.1 parameters
//! (`sdk/ratchet_kdf_schedule.json`, REFERENCE.md §2.1). talos-v2 uses the same ones.
//!
//! ```text
//! KDF_RK(rk, dh_out) = HKDF-SHA256(ikm = rk ‖ dh_out, salt = ∅, info = "talos-double-ratchet-root", L = 64)
//!                      → (RK' = okm[0..32], CK = okm[32..64])
//! KDF_CK(ck):   mk  = HKDF-SHA256(ikm = ck, salt = ∅, info = "talos-double-ratchet-message", L = 32)
//!               ck' = HKDF-SHA256(ikm = ck, salt = ∅, info = "talos-double-ratchet-chain",   L = 32)
//! start (v1.1): RK0 = HKDF-SHA256(ikm = dh, salt = ∅, info = "x3dh-init", L = 32)
//! ```
//!
//! These differ from Signal's recommendation (HKDF with salt = rk for KDF_RK, HMAC with
//! constants 0x01/0x02 for KDF_CK); they are what upstream Talos specifies, and both are
//! sound PRF constructions. `salt = ∅` equals 32 zero bytes (RFC 5869 §2.2).
//!
//! Every key is a distinct type that zeroizes itself on drop and whose `Debug` prints nothing
//! of it. Message keys cannot be cloned: each is used for one message.
//!
//! ```
//! use talos_ratchet::kdf::{ChainKey, RootKey, kdf_ck, kdf_rk};
//!
//! // sdk/ratchet/kdf_rk_step.json and kdf_ck_step.json
//! let (rk, ck) = kdf_rk(&RootKey::from_bytes([1; 32]), &[2; 32]);
//! assert_eq!(talos_crypto::base64url::encode(rk.as_bytes()), "e6usrE-CG-dbby9etOvEm01Dt13wWmlpNW5r8fsfkNs");
//! assert_eq!(talos_crypto::base64url::encode(ck.as_bytes()), "7piJzJxsZOShFtazYC3K-GbfcV5I-AFOlJlsCGDKyvc");
//! let (mk, next) = kdf_ck(&ChainKey::from_bytes([3; 32]));
//! assert_eq!(talos_crypto::base64url::encode(mk.as_bytes()), "RYUNB7C-U5hf_tn-nt5ZTj9LN7cmrBSsszPEocJinCc");
//! assert_eq!(talos_crypto::base64url::encode(next.as_bytes()), "A6Hk3IixOvn25wz3Njlpsbohmd3Z9uqt1BA4xhYAwNI");
//! ```

use core::fmt;

use talos_crypto::Zeroizing;
use talos_crypto::hash::{hkdf_sha256, hkdf_sha256_many};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of root, chain and message keys.
pub const KEY_LEN: usize = 32;

/// HKDF info of the talos-v1.1 session start (`RK0`, L = 32).
pub const INFO_START: &[u8] = b"x3dh-init";
/// HKDF info of KDF_RK (L = 64).
pub const INFO_ROOT: &[u8] = b"talos-double-ratchet-root";
/// HKDF info of the chain step of KDF_CK (L = 32).
pub const INFO_CHAIN: &[u8] = b"talos-double-ratchet-chain";
/// HKDF info of the message key of KDF_CK (L = 32).
pub const INFO_MESSAGE: &[u8] = b"talos-double-ratchet-message";

macro_rules! secret_key {
    ($(#[$doc:meta])* $name:ident $(, $derive:ident)?) => {
        $(#[$doc])*
        ///
        /// Kept in a box so moving it leaves no copy behind; zeroized on drop; `Debug` shows
        /// nothing of it.
        #[derive($($derive,)? Zeroize, ZeroizeOnDrop)]
        pub struct $name(Box<[u8; KEY_LEN]>);

        impl $name {
            /// A key from its 32 bytes.
            #[must_use]
            pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
                let bytes = Zeroizing::new(bytes);
                Self(Box::new(*bytes))
            }

            /// The 32 bytes. Handle with care: they are secret.
            #[must_use]
            pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
                &self.0
            }

            fn zeroed() -> Self {
                Self(Box::new([0; KEY_LEN]))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

secret_key!(
    /// A root key `RK`.
    RootKey,
    Clone
);
secret_key!(
    /// A sending or receiving chain key `CK`.
    ChainKey,
    Clone
);
secret_key!(
    /// A message key `mk`: the ChaCha20-Poly1305 key of exactly one message. Not `Clone`.
    MessageKey
);

/// `KDF_RK(rk, dh_out)`: the new root key and a new chain key.
#[must_use]
pub fn kdf_rk(rk: &RootKey, dh_out: &[u8; KEY_LEN]) -> (RootKey, ChainKey) {
    let mut ikm = Zeroizing::new([0u8; 2 * KEY_LEN]);
    ikm[..KEY_LEN].copy_from_slice(rk.as_bytes());
    ikm[KEY_LEN..].copy_from_slice(dh_out);
    let mut okm = Zeroizing::new([0u8; 2 * KEY_LEN]);
    hkdf(&ikm[..], INFO_ROOT, &mut okm[..]);
    let mut root = RootKey::zeroed();
    let mut chain = ChainKey::zeroed();
    root.0.copy_from_slice(&okm[..KEY_LEN]);
    chain.0.copy_from_slice(&okm[KEY_LEN..]);
    (root, chain)
}

/// `KDF_CK(ck)`: the message key and the next chain key (two independent HKDF calls).
#[must_use]
pub fn kdf_ck(ck: &ChainKey) -> (MessageKey, ChainKey) {
    let mut mk = MessageKey::zeroed();
    let mut next = ChainKey::zeroed();
    // Two HKDF calls on the same input share their extract step; the outputs are those of
    // two separate calls. The only error is an output longer than 255 × 32 bytes.
    let _ = hkdf_sha256_many(
        None,
        ck.as_bytes(),
        &mut [(INFO_MESSAGE, &mut mk.0[..]), (INFO_CHAIN, &mut next.0[..])],
    );
    (mk, next)
}

/// The talos-v1.1 start: `RK0 = HKDF(ikm = dh, salt = ∅, info = "x3dh-init", L = 32)`.
#[must_use]
pub fn start_v1_1(dh: &[u8; KEY_LEN]) -> RootKey {
    let mut rk = RootKey::zeroed();
    hkdf(dh, INFO_START, &mut rk.0[..]);
    rk
}

/// HKDF-SHA256 without salt into at most 64 bytes, which never exceeds HKDF's limit.
fn hkdf(ikm: &[u8], info: &[u8], okm: &mut [u8]) {
    // The only error is an output longer than 255 × 32 bytes; ours are 32 or 64.
    let _ = hkdf_sha256(None, ikm, info, okm);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_opaque() {
        let rk = RootKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{rk:?}"), "RootKey { .. }");
        let (mk, ck) = kdf_ck(&ChainKey::from_bytes([0xab; 32]));
        assert!(!format!("{mk:?}{ck:?}").contains("ab"));
    }

    #[test]
    fn message_and_chain_keys_differ() {
        let (mk, ck) = kdf_ck(&ChainKey::from_bytes([3; 32]));
        assert_ne!(mk.as_bytes(), ck.as_bytes());
        let (rk, ck2) = kdf_rk(&RootKey::from_bytes([1; 32]), &[2; 32]);
        assert_ne!(rk.as_bytes(), ck2.as_bytes());
    }
}
