//! `did:key` (W3C CCG did-method-key): a DID that is its own public key.
//!
//! Only the Ed25519 encoding exists so far: `did:key:z` + base58btc(0xed 0x01 ‖ key).
//! Parsing, X25519 keys and documents are still to come.

use talos_crypto::VerifyingKey;

/// The multicodec prefix of an Ed25519 public key (`ed25519-pub`, 0xed as an unsigned varint).
pub const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];

/// The `did:key` of an Ed25519 public key, e.g. `did:key:z6Mk…`.
///
/// ```
/// use talos_crypto::SigningKey;
/// let mut seed = [0u8; 32];
/// seed[31] = 1;
/// let key = SigningKey::from_seed(&seed).verifying_key();
/// assert_eq!(
///     talos_did::key::from_ed25519(&key),
///     "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG"
/// );
/// ```
#[must_use]
pub fn from_ed25519(key: &VerifyingKey) -> String {
    let mut bytes = Vec::with_capacity(34);
    bytes.extend_from_slice(&ED25519_MULTICODEC);
    bytes.extend_from_slice(key.as_bytes());
    format!("did:key:z{}", bs58::encode(bytes).into_string())
}
