//! Ed25519 identity keys (RFC 8032) with one acceptance rule for single and batch verification.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{BatchVerifyError, KeyError, VerifyError};
use crate::hash::sha256;
use crate::x25519;

/// Length of an Ed25519 seed (the RFC 8032 private key).
pub const SEED_LEN: usize = 32;
/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// An Ed25519 signing key (a Talos identity key), made from a 32-byte seed.
///
/// The secret is zeroized on drop; `Debug` shows only the public key.
///
/// ```
/// use talos_crypto::SigningKey;
///
/// let key = SigningKey::from_seed(&[7; 32]);
/// let sig = key.sign(b"hello");
/// key.verifying_key().verify(b"hello", &sig).unwrap();
/// assert!(key.verifying_key().verify(b"hellO", &sig).is_err());
/// ```
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// The key for an RFC 8032 seed.
    #[must_use]
    pub fn from_seed(seed: &[u8; SEED_LEN]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The key for a seed of unchecked length.
    ///
    /// # Errors
    /// [`KeyError::InvalidSeedLength`] unless `seed` is exactly 32 bytes (never truncated or padded).
    pub fn from_seed_slice(seed: &[u8]) -> Result<Self, KeyError> {
        let seed: &[u8; SEED_LEN] = seed
            .try_into()
            .map_err(|_| KeyError::InvalidSeedLength { got: seed.len() })?;
        Ok(Self::from_seed(seed))
    }

    /// A fresh key from `rng`.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// The seed, for storage (see [`KeyFile`](crate::KeyFile)); zeroized when dropped.
    #[must_use]
    pub fn to_seed(&self) -> Zeroizing<[u8; SEED_LEN]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public half.
    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.0.verifying_key())
    }

    /// Signs `message` (pure Ed25519, deterministic).
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> Signature {
        use ed25519_dalek::Signer as _;
        Signature(self.0.sign(message))
    }

    /// The X25519 secret that belongs to this identity, as did:key derives it:
    /// the clamped first half of SHA-512(seed).
    #[must_use]
    pub fn to_x25519(&self) -> x25519::StaticSecret {
        let scalar = Zeroizing::new(self.0.to_scalar_bytes());
        x25519::StaticSecret::from_bytes(curve25519_dalek::scalar::clamp_integer(*scalar))
    }
}

/// The inner dalek key wipes itself on drop.
impl zeroize::ZeroizeOnDrop for SigningKey {}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("verifying_key", &self.verifying_key())
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key that passed the strict checks: a canonical encoding of a point on
/// the curve that is not of small order.
///
/// `Debug` prints the key in hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

impl VerifyingKey {
    /// Parses a public key.
    ///
    /// # Errors
    /// [`KeyError::NonCanonical`] for a y coordinate ≥ p, [`KeyError::NotOnCurve`] for bytes
    /// that are no point, [`KeyError::WeakKey`] for the eight small-order points.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<Self, KeyError> {
        if !is_canonical_y(bytes) {
            return Err(KeyError::NonCanonical);
        }
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotOnCurve)?;
        if key.is_weak() {
            return Err(KeyError::WeakKey);
        }
        Ok(Self(key))
    }

    /// Parses a public key of unchecked length.
    ///
    /// # Errors
    /// [`KeyError::InvalidLength`], or as [`VerifyingKey::from_bytes`].
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let bytes: &[u8; PUBLIC_KEY_LEN] =
            bytes.try_into().map_err(|_| KeyError::InvalidLength {
                expected: PUBLIC_KEY_LEN,
                got: bytes.len(),
            })?;
        Self::from_bytes(bytes)
    }

    /// The 32-byte encoding.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        self.0.as_bytes()
    }

    /// The 32-byte encoding, by value.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.0.to_bytes()
    }

    /// Strict verification (ed25519-dalek `verify_strict`): rejects non-canonical `s`,
    /// non-canonical or small-order `R`, and never accepts a signature that fails the
    /// cofactorless equation `[s]B = R + [k]A`.
    ///
    /// # Errors
    /// [`VerifyError`] if the signature is not valid for `message` under this key.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), VerifyError> {
        self.0
            .verify_strict(message, &signature.0)
            .map_err(|_| VerifyError)
    }

    /// The X25519 (Montgomery) form of this key, as did:key's key agreement derives it.
    #[must_use]
    pub fn to_x25519(&self) -> x25519::PublicKey {
        x25519::PublicKey::from_bytes(self.0.to_montgomery().to_bytes())
    }

    /// The upstream Talos address: lowercase hex of SHA-256 of the public key.
    #[must_use]
    pub fn address(&self) -> String {
        crate::hash::to_hex(&sha256(self.as_bytes()))
    }
}

impl TryFrom<&[u8]> for VerifyingKey {
    type Error = KeyError;
    fn try_from(bytes: &[u8]) -> Result<Self, KeyError> {
        Self::from_slice(bytes)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({})", crate::hash::to_hex(self.as_bytes()))
    }
}

/// An Ed25519 signature (`R ‖ s`, 64 bytes). Parsing checks only the length; every other
/// check happens in verification.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(ed25519_dalek::Signature);

impl Signature {
    /// A signature from its 64 bytes.
    #[must_use]
    pub fn from_bytes(bytes: &[u8; SIGNATURE_LEN]) -> Self {
        Self(ed25519_dalek::Signature::from_bytes(bytes))
    }

    /// A signature from a slice.
    ///
    /// # Errors
    /// [`VerifyError`] unless `bytes` is 64 bytes long: such a signature can never verify.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, VerifyError> {
        let bytes: &[u8; SIGNATURE_LEN] = bytes.try_into().map_err(|_| VerifyError)?;
        Ok(Self::from_bytes(bytes))
    }

    /// The 64-byte encoding.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        self.0.to_bytes()
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", crate::hash::to_hex(&self.to_bytes()))
    }
}

/// Verifies many signatures at once, about twice as fast per signature as one by one.
///
/// The acceptance rule is [`VerifyingKey::verify`]'s: the signatures that the strict single
/// check rejects outright — non-canonical or small-order `R`, non-canonical `s` — are refused
/// here before the batch equation runs, and when the batch equation fails every signature is
/// checked singly, so the error names the first bad one.
///
/// One residual difference is inherent to batching: a signer can deliberately put a
/// small-order component into `R` (no RFC 8032 signer does). The single check always rejects
/// such a signature; the batch equation, with its coefficients derived deterministically from
/// the whole batch, rejects it with probability at least 1/2. Only the holder of the signing
/// key can produce one, and the verdict is a deterministic function of the batch, so nodes that
/// must agree on a verdict must verify the same batch.
///
/// # Errors
/// [`BatchVerifyError::LengthMismatch`] if the slices differ in length;
/// [`BatchVerifyError::Invalid`] with the index of the first signature that fails.
pub fn verify_batch(
    messages: &[&[u8]],
    signatures: &[Signature],
    keys: &[VerifyingKey],
) -> Result<(), BatchVerifyError> {
    if messages.len() != signatures.len() || messages.len() != keys.len() {
        return Err(BatchVerifyError::LengthMismatch {
            messages: messages.len(),
            signatures: signatures.len(),
            keys: keys.len(),
        });
    }
    let mut sigs = Vec::with_capacity(signatures.len());
    for (index, sig) in signatures.iter().enumerate() {
        if !r_is_acceptable(sig.0.r_bytes()) {
            return Err(BatchVerifyError::Invalid { index });
        }
        sigs.push(sig.0);
    }
    let dalek_keys: Vec<ed25519_dalek::VerifyingKey> = keys.iter().map(|k| k.0).collect();
    if ed25519_dalek::verify_batch(messages, &sigs, &dalek_keys).is_ok() {
        return Ok(());
    }
    let index = (0..messages.len())
        .find(|&i| keys[i].verify(messages[i], &signatures[i]).is_err())
        .unwrap_or(0);
    Err(BatchVerifyError::Invalid { index })
}

/// Whether the y coordinate encoded in `bytes` (sign bit ignored) is below p = 2^255 − 19.
fn is_canonical_y(bytes: &[u8; 32]) -> bool {
    let top_is_max = bytes[31] & 0x7f == 0x7f;
    let middle_all_ones = bytes[1..31].iter().all(|&b| b == 0xff);
    !(top_is_max && middle_all_ones && bytes[0] >= 0xed)
}

/// Every encoding of a small-order point that has a canonical y: the eight canonical ones
/// and the two with x = 0 but the sign bit set.
const SMALL_ORDER_ENCODINGS: [[u8; 32]; 10] = {
    const fn h(s: &[u8; 64]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            out[i] = (nibble(s[2 * i]) << 4) | nibble(s[2 * i + 1]);
            i += 1;
        }
        out
    }
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            _ => c - b'a' + 10,
        }
    }
    [
        h(b"0100000000000000000000000000000000000000000000000000000000000000"),
        h(b"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        h(b"0000000000000000000000000000000000000000000000000000000000000000"),
        h(b"0000000000000000000000000000000000000000000000000000000000000080"),
        h(b"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
        h(b"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
        h(b"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
        h(b"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
        h(b"0100000000000000000000000000000000000000000000000000000000000080"),
        h(b"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
    ]
};

/// The cheap part of the strict check on `R`: canonical y and not of small order.
fn r_is_acceptable(r: &[u8; 32]) -> bool {
    is_canonical_y(r) && !SMALL_ORDER_ENCODINGS.contains(r)
}

/// JSON: base64url string; CBOR: 32-byte string. Deserializing applies the strict checks.
impl serde::Serialize for VerifyingKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::base64url::serde::serialize(self.as_bytes(), serializer)
    }
}

impl<'de> serde::Deserialize<'de> for VerifyingKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes: [u8; PUBLIC_KEY_LEN] =
            crate::base64url::serde::array::deserialize(deserializer)?;
        Self::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

/// JSON: base64url string; CBOR: 64-byte string.
impl serde::Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::base64url::serde::serialize(self.to_bytes(), serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes: [u8; SIGNATURE_LEN] = crate::base64url::serde::array::deserialize(deserializer)?;
        Ok(Self::from_bytes(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::edwards::CompressedEdwardsY;

    #[test]
    fn small_order_list_is_exactly_the_eight_torsion_points() {
        let mut points = Vec::new();
        for enc in &SMALL_ORDER_ENCODINGS {
            let p = CompressedEdwardsY(*enc).decompress().expect("decompresses");
            assert!(p.is_small_order(), "{enc:02x?}");
            assert!(is_canonical_y(enc));
            if !points.contains(&p) {
                points.push(p);
            }
        }
        assert_eq!(
            points.len(),
            8,
            "all eight small-order points, each at least once"
        );
        // The last two are the non-canonical (sign bit on x = 0) twins of the first two.
        for p in &points[..2] {
            let twin = SMALL_ORDER_ENCODINGS
                .iter()
                .filter(|e| CompressedEdwardsY(**e).decompress() == Some(*p));
            assert_eq!(twin.count(), 2);
        }
    }

    #[test]
    fn canonical_y_boundary() {
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!is_canonical_y(&p), "p itself");
        p[0] = 0xec;
        assert!(is_canonical_y(&p), "p - 1");
        p[0] = 0xee;
        p[31] = 0xff;
        assert!(!is_canonical_y(&p), "p + 1 with the sign bit");
        assert_eq!(VerifyingKey::from_bytes(&p), Err(KeyError::NonCanonical));
    }

    #[test]
    fn weak_and_invalid_keys_are_rejected() {
        for enc in &SMALL_ORDER_ENCODINGS {
            assert_eq!(VerifyingKey::from_bytes(enc), Err(KeyError::WeakKey));
        }
        // y = 2 is not on the curve.
        let mut not_on_curve = [0u8; 32];
        not_on_curve[0] = 2;
        assert_eq!(
            VerifyingKey::from_bytes(&not_on_curve),
            Err(KeyError::NotOnCurve)
        );
        assert_eq!(
            VerifyingKey::from_slice(&[1; 31]),
            Err(KeyError::InvalidLength {
                expected: 32,
                got: 31
            })
        );
    }

    #[test]
    fn seed_length_is_checked() {
        let err = SigningKey::from_seed_slice(&[0; 5]).unwrap_err();
        assert_eq!(err, KeyError::InvalidSeedLength { got: 5 });
        assert!(err.to_string().contains("seed"));
        assert!(SigningKey::from_seed_slice(&[0; 33]).is_err());
    }

    #[test]
    fn debug_never_shows_the_seed() {
        let seed = [0xab; 32];
        let key = SigningKey::from_seed(&seed);
        let shown = format!("{key:?}");
        assert!(!shown.contains("abab"), "{shown}");
        assert!(
            shown.starts_with("SigningKey { verifying_key: VerifyingKey("),
            "{shown}"
        );
    }

    #[test]
    fn batch_matches_single_on_small_order_r() {
        let key = SigningKey::from_seed(&[1; 32]);
        let good = key.sign(b"m");
        let mut bad = good.to_bytes();
        bad[..32].copy_from_slice(&SMALL_ORDER_ENCODINGS[4]);
        let bad = Signature::from_bytes(&bad);
        let vk = key.verifying_key();
        assert!(vk.verify(b"m", &bad).is_err());
        let err = verify_batch(&[b"m", b"m"], &[good, bad], &[vk, vk]).unwrap_err();
        assert_eq!(err, BatchVerifyError::Invalid { index: 1 });
        assert!(verify_batch(&[b"m"], &[good], &[vk]).is_ok());
        assert!(verify_batch(&[], &[], &[]).is_ok());
        assert!(matches!(
            verify_batch(&[b"m"], &[], &[vk]),
            Err(BatchVerifyError::LengthMismatch { .. })
        ));
    }
}
