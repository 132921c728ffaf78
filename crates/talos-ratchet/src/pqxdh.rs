//! PQXDH (Signal, Rev 3, 2024-01-23) with ML-KEM-768: the talos-v2 session start made
//! hybrid, [`ProtocolVersion::V2Pq`](crate::ProtocolVersion) (`talos-v2-pq`). Feature `pq`.
//!
//! Bob publishes, besides the X3DH prekeys, a **last-resort ML-KEM-768 prekey** signed by his
//! identity key over `"talos-v2 pq prekey" ‖ be32(id) ‖ ek1184`
//! ([`PQ_PREKEY_CONTEXT`](crate::prekeys::PQ_PREKEY_CONTEXT); the signed prekey's context is
//! different, which gives the domain separation between EC and KEM keys that PQXDH
//! revisions 2 and 3 added). One-time PQ prekeys are not implemented: the last-resort key is
//! rotated like the signed prekey ([`PrekeyStore::rotate_pq_prekey`](crate::prekeys::PrekeyStore::rotate_pq_prekey)).
//!
//! Alice verifies both signatures, computes the X3DH Diffie-Hellmans, encapsulates to the
//! ML-KEM prekey, `(CT, SS) = ML-KEM-768.Encaps(PQPK_B)`, and derives
//!
//! ```text
//! SK = HKDF-SHA256(salt = 0x00 × 32, IKM = 0xFF × 32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS,
//!                  info = "Talos_v2_PQXDH_X25519_SHA-256_ML-KEM-768", L = 32)
//! AD = IK_A ‖ IK_B
//! ```
//!
//! The initial header carries `CT` and the PQ prekey's id and says `talos-v2-pq`; Bob
//! decapsulates with the secret of that id ([`x3dh::respond`](crate::x3dh::respond) handles
//! both versions). ML-KEM decapsulation never fails (implicit rejection): a wrong ciphertext
//! yields a different `SS`, so the first message does not decrypt and nothing is stored.
//! Randomness at Alice's: 32 bytes for `EK_A`, 32 for the encapsulation, 32 for her first
//! ratchet key. Bob's ML-KEM key is stored as its 64-byte FIPS 203 seed `d ‖ z`.
//!
//! # Which ML-KEM
//!
//! RustCrypto's [`ml-kem`](https://crates.io/crates/ml-kem) 0.3.4: pure Rust, FIPS 203, on
//! the same RustCrypto / rand_core 0.10 stack as every other primitive here (the project
//! takes its primitives from RustCrypto and dalek), no C, no OS randomness, and checked
//! against the Wycheproof vectors. On the reference 2-core x86-64 machine ML-KEM-768 costs
//! 60 / 54 / 77 µs for keygen / encaps / decaps with it, against 13.1 / 13.9 / 14.5 µs for
//! Cryspen's `libcrux-ml-kem` 0.0.11: libcrux is about 4× faster and formally verified
//! (hax/F*), and libsignal uses it, but it is pre-1.0 with a churning API and had 2026
//! advisories (RUSTSEC-2026-0074, -0207/-0208, -0212). At one encapsulation per session
//! start, `ml-kem`'s 54 µs is about 1.4 X25519 operations, a fraction of an X3DH start
//! (≈ 250 µs); a switch to libcrux later changes no byte on the wire (same FIPS 203 keys,
//! ciphertexts and shared secrets). `ml-kem` has not been independently audited, as its
//! README says.
//!
//! ```
//! # use rand_chacha::rand_core::SeedableRng as _;
//! use talos_crypto::{SigningKey, Timestamp};
//! use talos_ratchet::prekeys::PrekeyStore;
//! use talos_ratchet::{ProtocolVersion, pqxdh, x3dh};
//!
//! # let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
//! let alice = SigningKey::from_seed(&[1; 32]);
//! let mut bob = PrekeyStore::new(SigningKey::from_seed(&[2; 32]), &mut rng);
//! bob.rotate_pq_prekey(Timestamp::from_millis(0), &mut rng).unwrap();
//! let bundle = bob.bundle(None).unwrap();
//!
//! let (agreement, header) = pqxdh::agree_initiator(&alice, &bundle, &mut rng).unwrap();
//! assert_eq!(header.version, ProtocolVersion::V2Pq);
//! let bobs = x3dh::agree_responder(&bob, &header).unwrap();
//! assert_eq!(agreement.secret_key(), bobs.secret_key());
//! ```

use ml_kem::{Decapsulate as _, Encapsulate as _, KeyExport as _, MlKem768};
use talos_crypto::{CryptoRng, SigningKey, Zeroizing};
use zeroize::Zeroize as _;

use crate::ProtocolVersion;
use crate::prekeys::{
    ML_KEM_768_CIPHERTEXT_LEN, ML_KEM_768_KEY_LEN, ML_KEM_SEED_LEN, PrekeyBundle,
};
use crate::x3dh::{Agreement, HandshakeError, InitialHeader};

/// PQXDH as Alice: verifies both prekey signatures, draws `EK_A` and encapsulates to the
/// ML-KEM prekey, and computes `SK` and `AD` (see the [module docs](self)).
///
/// Most callers want [`initiate`], which also starts the session.
///
/// # Errors
/// [`HandshakeError::BadSignature`], [`HandshakeError::MissingPqPrekey`],
/// [`HandshakeError::BadPqSignature`], [`HandshakeError::InvalidPqKey`] or
/// [`HandshakeError::NonContributory`].
pub fn agree_initiator(
    identity: &SigningKey,
    bundle: &PrekeyBundle,
    rng: &mut impl CryptoRng,
) -> Result<(Agreement, InitialHeader), HandshakeError> {
    crate::x3dh::agree_initiator_as(ProtocolVersion::V2Pq, identity, bundle, rng)
}

type EncapsulationKey = ml_kem::EncapsulationKey<MlKem768>;
type DecapsulationKey = ml_kem::DecapsulationKey<MlKem768>;

/// A fresh ML-KEM-768 key pair from 64 bytes of `rng`: the seed and the encapsulation key.
pub(crate) fn generate(
    rng: &mut impl CryptoRng,
) -> (
    Zeroizing<[u8; ML_KEM_SEED_LEN]>,
    Box<[u8; ML_KEM_768_KEY_LEN]>,
) {
    let mut seed = Zeroizing::new([0u8; ML_KEM_SEED_LEN]);
    rng.fill_bytes(seed.as_mut());
    let dk = DecapsulationKey::from_seed((*seed).into());
    let mut key = Box::new([0u8; ML_KEM_768_KEY_LEN]);
    key.copy_from_slice(&dk.encapsulation_key().to_bytes());
    (seed, key)
}

/// An ML-KEM ciphertext and the shared secret it carries.
type Encapsulated = (Box<[u8; ML_KEM_768_CIPHERTEXT_LEN]>, Zeroizing<[u8; 32]>);

/// `(CT, SS) = Encaps(key)`, drawing 32 bytes from `rng`.
pub(crate) fn encapsulate(
    key: &[u8; ML_KEM_768_KEY_LEN],
    rng: &mut impl CryptoRng,
) -> Result<Encapsulated, HandshakeError> {
    let ek = EncapsulationKey::new(&(*key).into()).map_err(|_| HandshakeError::InvalidPqKey)?;
    let (ct, mut shared) = ek.encapsulate_with_rng(rng);
    let mut ciphertext = Box::new([0u8; ML_KEM_768_CIPHERTEXT_LEN]);
    ciphertext.copy_from_slice(&ct);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&shared);
    shared.zeroize();
    Ok((ciphertext, out))
}

/// `SS = Decaps(dk(seed), ct)`; never fails (FIPS 203 implicit rejection).
pub(crate) fn decapsulate(
    seed: &[u8; ML_KEM_SEED_LEN],
    ciphertext: &[u8; ML_KEM_768_CIPHERTEXT_LEN],
) -> Zeroizing<[u8; 32]> {
    let dk = DecapsulationKey::from_seed((*seed).into());
    let mut shared = dk.decapsulate(&(*ciphertext).into());
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&shared);
    shared.zeroize();
    out
}

/// Starts a talos-v2-pq session as Alice with PQXDH: [`agree_initiator`], then a session as
/// [`x3dh::initiate`](crate::x3dh::initiate) makes one, of version
/// [`ProtocolVersion::V2Pq`]. Bob answers with [`x3dh::respond`](crate::x3dh::respond).
///
/// # Errors
/// As [`agree_initiator`].
pub fn initiate(
    identity: &SigningKey,
    bundle: &PrekeyBundle,
    rng: &mut impl CryptoRng,
) -> Result<(crate::session::Session, InitialHeader), HandshakeError> {
    crate::x3dh::initiate_as(ProtocolVersion::V2Pq, identity, bundle, rng)
}
