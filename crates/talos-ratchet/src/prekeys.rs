//! Bob's side of the talos-v2 session start: the identity key, signed prekeys, one-time
//! prekeys and (feature `pq`) ML-KEM-768 prekeys, and the bundle an initiator downloads.
//!
//! # Keys
//!
//! - **Identity key** `IK`: the node's Ed25519 [`SigningKey`], the key of its `did:key`. Its
//!   X25519 form for the X3DH Diffie-Hellmans is the one `did:key` derives
//!   ([`SigningKey::to_x25519`] / [`VerifyingKey::to_x25519`]: the clamped first half of
//!   SHA-512(seed), and the birational Edwards → Montgomery map of the public key). One key
//!   therefore names the agent (its DID), signs its prekeys and enters the key agreement, and
//!   the `AD` of a session is the two Ed25519 keys, i.e. the two DIDs. The alternative, two
//!   independent keys as Olm keeps them (an Ed25519 signing key and a Curve25519 identity key
//!   signed by it), would need a second key in every DID document and record, and a binding
//!   signature between them, for no gain in the Signal security model: using one key for both
//!   Ed25519 signatures and X25519 is what XEdDSA-based Signal deployments do as well (in the
//!   other direction), and the uses are domain-separated (signatures only ever cover
//!   context-prefixed messages, the DH outputs only ever enter the X3DH KDF).
//! - **Signed prekey** `SPK`: an X25519 key with a `u32` id, signed by the identity key over
//!   `"talos-v2 signed prekey" ‖ be32(id) ‖ key` ([`SIGNED_PREKEY_CONTEXT`]), exactly the
//!   message `talos-did` discovery records carry, so a bundle published there verifies here.
//!   [`PrekeyStore::rotate_signed_prekey`] makes a new current one; the previous ones stay
//!   usable (an initiator may hold an older bundle) until the caller removes them
//!   ([`PrekeyStore::expire_signed_prekeys`] after a grace period of its choice, or
//!   [`PrekeyStore::remove_signed_prekey`]).
//! - **One-time prekeys** `OPK`: X25519 keys with ids, generated in batches
//!   ([`PrekeyStore::generate_one_time_prekeys`]) and consumed by exactly one session start:
//!   the secret is deleted when the first message of that session decrypts, and a second use
//!   of the id fails with [`HandshakeError::OneTimePrekeyUsed`](crate::x3dh::HandshakeError).
//!   Ids are allocated in increasing order, so the store tells "used" from "never issued"
//!   without remembering used ids.
//! - **ML-KEM-768 prekey** (PQXDH, "last resort"): an encapsulation key with an id, signed
//!   over `"talos-v2 pq prekey" ‖ be32(id) ‖ ek1184` ([`PQ_PREKEY_CONTEXT`]); reusable, rotated
//!   and expired like the signed prekey. Generating one needs the `pq` feature; the store
//!   keeps and snapshots such keys in every build.
//!
//! # Persistence
//!
//! [`PrekeyStore::to_snapshot`] writes the whole state as versioned, deterministic CBOR (it
//! holds secrets: encrypt it at rest, e.g. with [`crate::snapshot`]) and
//! [`PrekeyStore::from_snapshot`] reads it back. Persist the store after every successful
//! [`respond`](crate::x3dh::respond), or a restart would resurrect a consumed one-time prekey.
//!
//! ```
//! use talos_crypto::{SigningKey, Timestamp};
//! use talos_ratchet::prekeys::PrekeyStore;
//! # let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
//! # use rand_chacha::rand_core::SeedableRng as _;
//!
//! let mut store = PrekeyStore::new(SigningKey::from_seed(&[1; 32]), &mut rng);
//! let published = store.generate_one_time_prekeys(10, &mut rng).unwrap();
//! let bundle = store.bundle(Some(published[0].id)).unwrap();
//! bundle.verify().unwrap();
//!
//! // A week later: a new signed prekey; the old one stays valid for a grace period.
//! let now = Timestamp::from_millis(1_768_178_601_000);
//! let old = store.signed_prekey().id;
//! store.rotate_signed_prekey(now, &mut rng).unwrap();
//! assert!(store.signed_prekey_ids().contains(&old));
//! let later = Timestamp::from_millis(now.as_millis() + 3 * 86_400_000);
//! store.expire_signed_prekeys(later, core::time::Duration::from_secs(2 * 86_400));
//! assert!(!store.signed_prekey_ids().contains(&old));
//!
//! let saved = store.to_snapshot();
//! let restored = PrekeyStore::from_snapshot(&saved).unwrap();
//! assert_eq!(restored.signed_prekey(), store.signed_prekey());
//! ```

use core::fmt;
use core::time::Duration;
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use talos_crypto::json::{self, JsonError};
use talos_crypto::record::{Field, Record, SafeUint};
use talos_crypto::{
    CborError, CryptoRng, ErrorCode, Signature, SigningKey, Timestamp, VerifyingKey, Zeroizing,
    cbor, x25519,
};

/// Domain separation for the signed prekey's signature: `context ‖ be32(id) ‖ key`.
pub const SIGNED_PREKEY_CONTEXT: &[u8] = b"talos-v2 signed prekey";

/// Domain separation for the ML-KEM-768 prekey's signature: `context ‖ be32(id) ‖ key`.
pub const PQ_PREKEY_CONTEXT: &[u8] = b"talos-v2 pq prekey";

/// Length of an ML-KEM-768 encapsulation key (FIPS 203).
pub const ML_KEM_768_KEY_LEN: usize = 1184;

/// Length of an ML-KEM-768 ciphertext (FIPS 203).
pub const ML_KEM_768_CIPHERTEXT_LEN: usize = 1088;

/// Length of the seed `d ‖ z` an ML-KEM decapsulation key is stored as (FIPS 203).
pub const ML_KEM_SEED_LEN: usize = 64;

/// Most signed prekeys a store holds: the current one and up to 7 previous ones.
pub const MAX_SIGNED_PREKEYS: usize = 8;

/// Most ML-KEM prekeys a store holds: the current one and up to 7 previous ones.
pub const MAX_PQ_PREKEYS: usize = 8;

/// Most unused one-time prekeys a store holds.
pub const MAX_ONE_TIME_PREKEYS: usize = 1000;

/// Most one-time prekeys generated by one call (a discovery record carries at most 100).
pub const MAX_ONE_TIME_BATCH: usize = 100;

/// The snapshot format this crate writes and reads.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// The bundle format version this crate writes and reads.
pub const BUNDLE_VERSION: u32 = 1;

/// Decoders refuse longer bundles before parsing them (the largest is about 2 KiB).
pub const MAX_BUNDLE_LEN: usize = 8 * 1024;

/// Snapshots longer than this are refused before parsing (a full store is about 50 KiB).
pub const MAX_SNAPSHOT_LEN: usize = 256 * 1024;

/// A signed prekey (`SPK`), with the identity key's signature over
/// `SIGNED_PREKEY_CONTEXT ‖ be32(id) ‖ key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedPrekey {
    /// The id, which the initiator echoes so the responder finds the secret.
    pub id: u32,
    /// The X25519 public key.
    pub key: x25519::PublicKey,
    /// Ed25519 by the identity key over [`SignedPrekey::signed_message`].
    pub signature: Signature,
}

impl SignedPrekey {
    /// Signs `key` as the signed prekey `id` of `identity`.
    #[must_use]
    pub fn sign(identity: &SigningKey, id: u32, key: x25519::PublicKey) -> Self {
        let signature = identity.sign(&signed_prekey_message(id, &key));
        Self { id, key, signature }
    }

    /// `SIGNED_PREKEY_CONTEXT ‖ be32(id) ‖ key` (58 bytes): what the signature covers.
    #[must_use]
    pub fn signed_message(&self) -> [u8; 58] {
        signed_prekey_message(self.id, &self.key)
    }

    /// Checks the signature against the identity key.
    ///
    /// # Errors
    /// [`talos_crypto::VerifyError`] if it does not verify.
    pub fn verify(&self, identity: &VerifyingKey) -> Result<(), talos_crypto::VerifyError> {
        identity.verify(&self.signed_message(), &self.signature)
    }
}

fn signed_prekey_message(id: u32, key: &x25519::PublicKey) -> [u8; 58] {
    let mut message = [0u8; 58];
    message[..22].copy_from_slice(SIGNED_PREKEY_CONTEXT);
    message[22..26].copy_from_slice(&id.to_be_bytes());
    message[26..].copy_from_slice(key.as_bytes());
    message
}

/// A one-time prekey (`OPK`). It carries no signature of its own, as in Signal; a discovery
/// record's signature covers the ones it publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OneTimePrekey {
    /// The id.
    pub id: u32,
    /// The X25519 public key.
    pub key: x25519::PublicKey,
}

/// An ML-KEM-768 prekey (PQXDH's last-resort `PQSPK`), with the identity key's signature
/// over `PQ_PREKEY_CONTEXT ‖ be32(id) ‖ key`.
#[derive(Clone, PartialEq, Eq)]
pub struct PqPrekey {
    /// The id.
    pub id: u32,
    /// The encapsulation key (1184 bytes), checked when it is used.
    pub key: Box<[u8; ML_KEM_768_KEY_LEN]>,
    /// Ed25519 by the identity key over [`PqPrekey::signed_message`].
    pub signature: Signature,
}

impl PqPrekey {
    /// Signs `key` as the ML-KEM-768 prekey `id` of `identity`.
    #[must_use]
    pub fn sign(identity: &SigningKey, id: u32, key: Box<[u8; ML_KEM_768_KEY_LEN]>) -> Self {
        let signature = identity.sign(&pq_prekey_message(id, &key));
        Self { id, key, signature }
    }

    /// `PQ_PREKEY_CONTEXT ‖ be32(id) ‖ key` (1206 bytes): what the signature covers.
    #[must_use]
    pub fn signed_message(&self) -> Vec<u8> {
        pq_prekey_message(self.id, &self.key)
    }

    /// Checks the signature against the identity key.
    ///
    /// # Errors
    /// [`talos_crypto::VerifyError`] if it does not verify.
    pub fn verify(&self, identity: &VerifyingKey) -> Result<(), talos_crypto::VerifyError> {
        identity.verify(&self.signed_message(), &self.signature)
    }
}

impl fmt::Debug for PqPrekey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PqPrekey")
            .field("id", &self.id)
            .field(
                "key_sha256",
                &talos_crypto::hash::to_hex(&talos_crypto::hash::sha256(&self.key[..])),
            )
            .finish_non_exhaustive()
    }
}

fn pq_prekey_message(id: u32, key: &[u8; ML_KEM_768_KEY_LEN]) -> Vec<u8> {
    let mut message = Vec::with_capacity(PQ_PREKEY_CONTEXT.len() + 4 + ML_KEM_768_KEY_LEN);
    message.extend_from_slice(PQ_PREKEY_CONTEXT);
    message.extend_from_slice(&id.to_be_bytes());
    message.extend_from_slice(&key[..]);
    message
}

/// What an initiator needs to start a talos-v2 session with Bob: his identity key, his
/// signed prekey, optionally one of his one-time prekeys and (for PQXDH) his ML-KEM-768
/// prekey. Contract `contracts/ratchet/prekey_bundle.schema.json`:
///
/// ```json
/// {
///   "v": 1,
///   "identity_key": "<Ed25519, 32 B>",
///   "signed_prekey": {"id": 1, "key": "<X25519, 32 B>", "sig": "<Ed25519, 64 B>"},
///   "one_time_prekey": {"id": 100, "key": "<X25519, 32 B>"},              // optional
///   "pq_prekey": {"id": 1, "key": "<ML-KEM-768, 1184 B>", "sig": "<64 B>"} // optional
/// }
/// ```
///
/// Canonical JSON (bytes as unpadded base64url) or deterministic CBOR (bytes as byte
/// strings); decoders are strict. Decoding does not verify: [`PrekeyBundle::verify`] does,
/// and the handshakes call it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrekeyBundle {
    /// Bob's Ed25519 identity key (his `did:key`).
    pub identity_key: VerifyingKey,
    /// His signed prekey.
    pub signed_prekey: SignedPrekey,
    /// One of his one-time prekeys, if he has any left.
    pub one_time_prekey: Option<OneTimePrekey>,
    /// His ML-KEM-768 prekey, for PQXDH.
    pub pq_prekey: Option<PqPrekey>,
}

impl PrekeyBundle {
    /// Checks the signed prekey's signature, then the ML-KEM prekey's, against the identity
    /// key.
    ///
    /// # Errors
    /// [`BundleError::BadSignature`] or [`BundleError::BadPqSignature`].
    pub fn verify(&self) -> Result<(), BundleError> {
        self.signed_prekey
            .verify(&self.identity_key)
            .map_err(|_| BundleError::BadSignature)?;
        if let Some(pq) = &self.pq_prekey {
            pq.verify(&self.identity_key)
                .map_err(|_| BundleError::BadPqSignature)?;
        }
        Ok(())
    }

    fn record(&self) -> Record<'_> {
        let spk = &self.signed_prekey;
        Record::new()
            .with("v", Field::uint(BUNDLE_VERSION))
            .with(
                "identity_key",
                Field::bytes(&self.identity_key.as_bytes()[..]),
            )
            .with(
                "signed_prekey",
                Field::Record(
                    Record::new()
                        .with("id", Field::uint(spk.id))
                        .with("key", Field::bytes(&spk.key.as_bytes()[..]))
                        .with("sig", Field::bytes(spk.signature.to_bytes().to_vec())),
                ),
            )
            .with_opt(
                "one_time_prekey",
                self.one_time_prekey.as_ref().map(|k| {
                    Field::Record(
                        Record::new()
                            .with("id", Field::uint(k.id))
                            .with("key", Field::bytes(&k.key.as_bytes()[..])),
                    )
                }),
            )
            .with_opt(
                "pq_prekey",
                self.pq_prekey.as_ref().map(|k| {
                    Field::Record(
                        Record::new()
                            .with("id", Field::uint(k.id))
                            .with("key", Field::bytes(&k.key[..]))
                            .with("sig", Field::bytes(k.signature.to_bytes().to_vec())),
                    )
                }),
            )
    }

    /// The canonical JSON form.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        self.record().to_json()
    }

    /// The deterministic CBOR form.
    #[must_use]
    pub fn to_cbor(&self) -> Vec<u8> {
        self.record().to_cbor()
    }

    /// Parses the JSON form strictly (no unknown, duplicate, missing or `null` members).
    /// Nothing is verified yet.
    ///
    /// # Errors
    /// [`BundleError`] naming what is wrong.
    pub fn from_json(input: &[u8]) -> Result<Self, BundleError> {
        check_len(input.len(), MAX_BUNDLE_LEN)?;
        let value = json::parse(input)?;
        let bundle = Self::from_repr(json::from_value(&value)?)?;
        if value.to_canonical_vec() != bundle.to_json() {
            return Err(BundleError::Malformed(
                "not in canonical form: absent members are omitted, never null",
            ));
        }
        Ok(bundle)
    }

    /// Parses the CBOR form, accepting only its deterministic encoding. Nothing is verified
    /// yet.
    ///
    /// # Errors
    /// [`BundleError`] naming what is wrong.
    pub fn from_cbor(input: &[u8]) -> Result<Self, BundleError> {
        check_len(input.len(), MAX_BUNDLE_LEN)?;
        let bundle = Self::from_repr(cbor::decode(input)?)?;
        if bundle.to_cbor() != input {
            return Err(CborError::NonCanonical.into());
        }
        Ok(bundle)
    }

    fn from_repr(repr: BundleRepr) -> Result<Self, BundleError> {
        if repr.v != BUNDLE_VERSION {
            return Err(BundleError::UnsupportedVersion(repr.v));
        }
        let pq_prekey = repr
            .pq_prekey
            .map(|pq| -> Result<PqPrekey, BundleError> {
                let key = pq
                    .key
                    .into_boxed_slice()
                    .try_into()
                    .map_err(|key: Box<[u8]>| BundleError::PqKeyLength(key.len()))?;
                Ok(PqPrekey {
                    id: pq.id,
                    key,
                    signature: pq.sig,
                })
            })
            .transpose()?;
        Ok(Self {
            identity_key: repr.identity_key,
            signed_prekey: SignedPrekey {
                id: repr.signed_prekey.id,
                key: repr.signed_prekey.key,
                signature: repr.signed_prekey.sig,
            },
            one_time_prekey: repr.one_time_prekey.map(|k| OneTimePrekey {
                id: k.id,
                key: k.key,
            }),
            pq_prekey,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BundleRepr {
    v: u32,
    identity_key: VerifyingKey,
    signed_prekey: SignedRepr,
    #[serde(default)]
    one_time_prekey: Option<OneTimeRepr>,
    #[serde(default)]
    pq_prekey: Option<PqRepr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedRepr {
    id: u32,
    key: x25519::PublicKey,
    sig: Signature,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OneTimeRepr {
    id: u32,
    key: x25519::PublicKey,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PqRepr {
    id: u32,
    #[serde(with = "talos_crypto::base64url::serde")]
    key: Vec<u8>,
    sig: Signature,
}

fn check_len(len: usize, max: usize) -> Result<(), BundleError> {
    if len > max {
        return Err(BundleError::TooLarge { len, max });
    }
    Ok(())
}

/// Why a prekey bundle was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The CBOR form is malformed or not deterministic.
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// The JSON form is not strict JSON of the right shape.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// Longer than any bundle ([`MAX_BUNDLE_LEN`]); refused unparsed.
    #[error("prekey bundle too large: {len} bytes, maximum {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A bundle format this crate does not read.
    #[error("unsupported prekey bundle version {0}")]
    UnsupportedVersion(u32),
    /// The ML-KEM prekey is not 1184 bytes.
    #[error("wrong ml-kem-768 key length: expected 1184 bytes, got {0}")]
    PqKeyLength(usize),
    /// Well-formed, but not in canonical form.
    #[error("malformed prekey bundle: {0}")]
    Malformed(&'static str),
    /// The signed prekey's signature does not verify under the identity key: do not use the
    /// bundle.
    #[error("invalid signed prekey signature")]
    BadSignature,
    /// The ML-KEM prekey's signature does not verify under the identity key: do not use the
    /// bundle.
    #[error("invalid pq prekey signature")]
    BadPqSignature,
}

impl From<&BundleError> for ErrorCode {
    fn from(err: &BundleError) -> Self {
        match err {
            BundleError::UnsupportedVersion(_) => Self::ProtocolMismatch,
            BundleError::BadSignature | BundleError::BadPqSignature => Self::CryptoError,
            _ => Self::InvalidInput,
        }
    }
}

/// A signed prekey with its secret. Secrets are boxed so that moving entries (a `Vec` shift,
/// a `BTreeMap` node split) moves a pointer and leaves no stale copy of key bytes behind.
#[derive(Clone)]
struct SignedEntry {
    public: SignedPrekey,
    secret: Box<x25519::StaticSecret>,
    /// When it stopped being the current one.
    retired_at: Option<Timestamp>,
}

/// An ML-KEM-768 prekey with its secret seed.
#[derive(Clone)]
pub(crate) struct PqEntry {
    pub(crate) public: PqPrekey,
    pub(crate) seed: Box<Zeroizing<[u8; ML_KEM_SEED_LEN]>>,
    retired_at: Option<Timestamp>,
}

/// Bob's prekey state: his identity key, signed prekeys (current and previous), unused
/// one-time prekeys and ML-KEM-768 prekeys, with every secret zeroized on drop. See the
/// [module docs](self).
///
/// Getters: [`identity`](Self::identity), [`identity_key`](Self::identity_key),
/// [`signed_prekey`](Self::signed_prekey), [`signed_prekey_ids`](Self::signed_prekey_ids),
/// [`one_time_prekeys`](Self::one_time_prekeys), [`pq_prekey`](Self::pq_prekey),
/// [`bundle`](Self::bundle). Commands: [`rotate_signed_prekey`](Self::rotate_signed_prekey),
/// [`expire_signed_prekeys`](Self::expire_signed_prekeys),
/// [`remove_signed_prekey`](Self::remove_signed_prekey),
/// [`generate_one_time_prekeys`](Self::generate_one_time_prekeys), and with feature `pq`
/// `rotate_pq_prekey`; [`expire_pq_prekeys`](Self::expire_pq_prekeys). Input:
/// [`x3dh::respond`](crate::x3dh::respond) consumes one-time prekeys. Persistence:
/// [`to_snapshot`](Self::to_snapshot), [`from_snapshot`](Self::from_snapshot).
pub struct PrekeyStore {
    identity: SigningKey,
    identity_dh: x25519::StaticSecret,
    /// Oldest first; the last one is current. Never empty.
    signed: Vec<SignedEntry>,
    one_time: BTreeMap<u32, Box<x25519::StaticSecret>>,
    /// Oldest first; the last one is current.
    pq: Vec<PqEntry>,
    next_signed_id: u32,
    next_one_time_id: u32,
    next_pq_id: u32,
}

/// Every secret field (identity key, prekey secrets, ML-KEM seeds) wipes itself on drop.
impl zeroize::ZeroizeOnDrop for PrekeyStore {}

impl fmt::Debug for PrekeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrekeyStore")
            .field("identity_key", &self.identity.verifying_key())
            .field("signed_prekey_ids", &self.signed_prekey_ids())
            .field("one_time_prekeys", &self.one_time.len())
            .field("pq_prekey_ids", &self.pq_prekey_ids())
            .finish_non_exhaustive()
    }
}

impl PrekeyStore {
    /// A store for `identity` with a first signed prekey (id 1), no one-time prekeys and no
    /// ML-KEM prekey. Draws 32 bytes from `rng`.
    pub fn new(identity: SigningKey, rng: &mut impl CryptoRng) -> Self {
        let secret = x25519::StaticSecret::generate(rng);
        let public = SignedPrekey::sign(&identity, 1, secret.public_key());
        let identity_dh = identity.to_x25519();
        Self {
            identity,
            identity_dh,
            signed: vec![SignedEntry {
                public,
                secret: Box::new(secret),
                retired_at: None,
            }],
            one_time: BTreeMap::new(),
            pq: Vec::new(),
            next_signed_id: 2,
            next_one_time_id: 1,
            next_pq_id: 1,
        }
    }

    /// The identity key.
    #[must_use]
    pub fn identity(&self) -> &SigningKey {
        &self.identity
    }

    /// The public identity key.
    #[must_use]
    pub fn identity_key(&self) -> VerifyingKey {
        self.identity.verifying_key()
    }

    /// The current signed prekey.
    #[must_use]
    pub fn signed_prekey(&self) -> SignedPrekey {
        self.current_signed().public
    }

    fn current_signed(&self) -> &SignedEntry {
        // `signed` is never empty: `new` and `from_snapshot` put one in, and
        // `remove_signed_prekey` / `expire_signed_prekeys` never remove the last.
        &self.signed[self.signed.len() - 1]
    }

    /// Ids of the signed prekeys a session may start with: previous ones (oldest first),
    /// then the current one.
    #[must_use]
    pub fn signed_prekey_ids(&self) -> Vec<u32> {
        self.signed.iter().map(|e| e.public.id).collect()
    }

    /// Makes a new current signed prekey (the next id) and retires the current one at `now`;
    /// it stays usable until expired or removed. Draws 32 bytes from `rng`.
    ///
    /// # Errors
    /// [`PrekeyError::TooManySignedPrekeys`] when [`MAX_SIGNED_PREKEYS`] are held (expire or
    /// remove old ones first); [`PrekeyError::IdsExhausted`] after 2^32 − 1 rotations.
    pub fn rotate_signed_prekey(
        &mut self,
        now: Timestamp,
        rng: &mut impl CryptoRng,
    ) -> Result<SignedPrekey, PrekeyError> {
        if self.signed.len() >= MAX_SIGNED_PREKEYS {
            return Err(PrekeyError::TooManySignedPrekeys {
                max: MAX_SIGNED_PREKEYS,
            });
        }
        let id = self.next_signed_id;
        let next = id.checked_add(1).ok_or(PrekeyError::IdsExhausted)?;
        let secret = x25519::StaticSecret::generate(rng);
        let public = SignedPrekey::sign(&self.identity, id, secret.public_key());
        let last = self.signed.len() - 1;
        self.signed[last].retired_at = Some(now);
        self.signed.push(SignedEntry {
            public,
            secret: Box::new(secret),
            retired_at: None,
        });
        self.next_signed_id = next;
        Ok(public)
    }

    /// Removes the previous signed prekeys retired at least `grace` before `now`; returns
    /// how many. The current one is never removed.
    pub fn expire_signed_prekeys(&mut self, now: Timestamp, grace: Duration) -> usize {
        let before = self.signed.len();
        self.signed
            .retain(|e| e.retired_at.is_none_or(|t| !expired(t, now, grace)));
        before - self.signed.len()
    }

    /// Removes the previous signed prekey `id` now.
    ///
    /// # Errors
    /// [`PrekeyError::UnknownSignedPrekey`] if the store has no such key;
    /// [`PrekeyError::CurrentSignedPrekey`] for the current one.
    pub fn remove_signed_prekey(&mut self, id: u32) -> Result<(), PrekeyError> {
        let index = self
            .signed
            .iter()
            .position(|e| e.public.id == id)
            .ok_or(PrekeyError::UnknownSignedPrekey(id))?;
        if index == self.signed.len() - 1 {
            return Err(PrekeyError::CurrentSignedPrekey(id));
        }
        self.signed.remove(index);
        Ok(())
    }

    /// Generates `count` one-time prekeys with fresh, increasing ids and returns their public
    /// halves to publish. Draws 32 bytes per key from `rng`.
    ///
    /// # Errors
    /// [`PrekeyError::BatchTooLarge`] above [`MAX_ONE_TIME_BATCH`];
    /// [`PrekeyError::TooManyOneTimePrekeys`] if the store would hold more than
    /// [`MAX_ONE_TIME_PREKEYS`] unused ones; [`PrekeyError::IdsExhausted`] when the id space
    /// is used up. Nothing changes on error.
    pub fn generate_one_time_prekeys(
        &mut self,
        count: usize,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<OneTimePrekey>, PrekeyError> {
        if count > MAX_ONE_TIME_BATCH {
            return Err(PrekeyError::BatchTooLarge {
                count,
                max: MAX_ONE_TIME_BATCH,
            });
        }
        if self.one_time.len() + count > MAX_ONE_TIME_PREKEYS {
            return Err(PrekeyError::TooManyOneTimePrekeys {
                held: self.one_time.len(),
                requested: count,
                max: MAX_ONE_TIME_PREKEYS,
            });
        }
        let first = self.next_one_time_id;
        let next = u32::try_from(count)
            .ok()
            .and_then(|c| first.checked_add(c))
            .ok_or(PrekeyError::IdsExhausted)?;
        let mut out = Vec::with_capacity(count);
        for id in first..next {
            let secret = x25519::StaticSecret::generate(rng);
            out.push(OneTimePrekey {
                id,
                key: secret.public_key(),
            });
            self.one_time.insert(id, Box::new(secret));
        }
        self.next_one_time_id = next;
        Ok(out)
    }

    /// The unused one-time prekeys, by increasing id.
    #[must_use]
    pub fn one_time_prekeys(&self) -> Vec<OneTimePrekey> {
        self.one_time
            .iter()
            .map(|(&id, secret)| OneTimePrekey {
                id,
                key: secret.public_key(),
            })
            .collect()
    }

    /// How many unused one-time prekeys the store holds.
    #[must_use]
    pub fn one_time_prekey_count(&self) -> usize {
        self.one_time.len()
    }

    /// The current ML-KEM-768 prekey, if the store has one.
    #[must_use]
    pub fn pq_prekey(&self) -> Option<PqPrekey> {
        self.pq.last().map(|e| e.public.clone())
    }

    /// Ids of the ML-KEM prekeys held, oldest first; the last is current.
    #[must_use]
    pub fn pq_prekey_ids(&self) -> Vec<u32> {
        self.pq.iter().map(|e| e.public.id).collect()
    }

    /// Makes a new current ML-KEM-768 prekey (the next id) and retires the current one at
    /// `now`. Draws 64 bytes (the seed `d ‖ z`) from `rng`.
    ///
    /// # Errors
    /// [`PrekeyError::TooManyPqPrekeys`] when [`MAX_PQ_PREKEYS`] are held;
    /// [`PrekeyError::IdsExhausted`] after 2^32 − 1 rotations.
    #[cfg(feature = "pq")]
    #[cfg_attr(docsrs, doc(cfg(feature = "pq")))]
    pub fn rotate_pq_prekey(
        &mut self,
        now: Timestamp,
        rng: &mut impl CryptoRng,
    ) -> Result<PqPrekey, PrekeyError> {
        if self.pq.len() >= MAX_PQ_PREKEYS {
            return Err(PrekeyError::TooManyPqPrekeys {
                max: MAX_PQ_PREKEYS,
            });
        }
        let id = self.next_pq_id;
        let next = id.checked_add(1).ok_or(PrekeyError::IdsExhausted)?;
        let (seed, key) = crate::pqxdh::generate(rng);
        let public = PqPrekey::sign(&self.identity, id, key);
        if let Some(last) = self.pq.last_mut() {
            last.retired_at = Some(now);
        }
        self.pq.push(PqEntry {
            public: public.clone(),
            seed: Box::new(seed),
            retired_at: None,
        });
        self.next_pq_id = next;
        Ok(public)
    }

    /// Removes the previous ML-KEM prekeys retired at least `grace` before `now`; returns how
    /// many. The current one is never removed.
    pub fn expire_pq_prekeys(&mut self, now: Timestamp, grace: Duration) -> usize {
        let before = self.pq.len();
        self.pq
            .retain(|e| e.retired_at.is_none_or(|t| !expired(t, now, grace)));
        before - self.pq.len()
    }

    /// The bundle to publish: identity key, current signed prekey, the unused one-time prekey
    /// `one_time_prekey_id` if given, and the current ML-KEM prekey if any.
    ///
    /// # Errors
    /// [`PrekeyError::UnknownOneTimePrekey`] if `one_time_prekey_id` is not an unused
    /// one-time prekey of this store.
    pub fn bundle(&self, one_time_prekey_id: Option<u32>) -> Result<PrekeyBundle, PrekeyError> {
        let one_time_prekey = one_time_prekey_id
            .map(|id| {
                self.one_time
                    .get(&id)
                    .map(|secret| OneTimePrekey {
                        id,
                        key: secret.public_key(),
                    })
                    .ok_or(PrekeyError::UnknownOneTimePrekey(id))
            })
            .transpose()?;
        Ok(PrekeyBundle {
            identity_key: self.identity_key(),
            signed_prekey: self.signed_prekey(),
            one_time_prekey,
            pq_prekey: self.pq_prekey(),
        })
    }

    /// The X25519 form of the identity key.
    pub(crate) fn identity_dh(&self) -> &x25519::StaticSecret {
        &self.identity_dh
    }

    /// The secret of signed prekey `id`, current or previous.
    pub(crate) fn signed_secret(&self, id: u32) -> Option<&x25519::StaticSecret> {
        self.signed
            .iter()
            .find(|e| e.public.id == id)
            .map(|e| &*e.secret)
    }

    /// The secret of unused one-time prekey `id`; the error tells a consumed id from one
    /// never issued.
    pub(crate) fn one_time_secret(&self, id: u32) -> Result<&x25519::StaticSecret, OneTimeLookup> {
        match self.one_time.get(&id) {
            Some(secret) => Ok(secret),
            None if id >= 1 && id < self.next_one_time_id => Err(OneTimeLookup::Used),
            None => Err(OneTimeLookup::Unknown),
        }
    }

    /// Deletes one-time prekey `id` (after its session's first message decrypted).
    pub(crate) fn consume_one_time(&mut self, id: u32) {
        self.one_time.remove(&id);
    }

    /// The ML-KEM prekey `id`, current or previous.
    #[cfg_attr(not(feature = "pq"), allow(dead_code))]
    pub(crate) fn pq_entry(&self, id: u32) -> Option<&PqEntry> {
        self.pq.iter().find(|e| e.public.id == id)
    }

    /// The whole state as deterministic CBOR, format [`SNAPSHOT_FORMAT`]. It holds every
    /// secret (the identity seed included): encrypt it before it leaves memory.
    #[must_use]
    pub fn to_snapshot(&self) -> Zeroizing<Vec<u8>> {
        let seed = self.identity.to_seed();
        let signed_secrets: Vec<Zeroizing<[u8; 32]>> =
            self.signed.iter().map(|e| e.secret.to_bytes()).collect();
        let one_time_secrets: Vec<(u32, Zeroizing<[u8; 32]>)> = self
            .one_time
            .iter()
            .map(|(&id, s)| (id, s.to_bytes()))
            .collect();
        let signed = self
            .signed
            .iter()
            .zip(&signed_secrets)
            .map(|(e, secret)| {
                Field::Record(
                    Record::new()
                        .with("id", Field::uint(e.public.id))
                        .with("secret", Field::bytes(&secret[..]))
                        .with("sig", Field::bytes(e.public.signature.to_bytes().to_vec()))
                        .with_opt("retired_at", e.retired_at.map(time_field)),
                )
            })
            .collect();
        let one_time = one_time_secrets
            .iter()
            .map(|(id, secret)| {
                Field::Record(
                    Record::new()
                        .with("id", Field::uint(*id))
                        .with("secret", Field::bytes(&secret[..])),
                )
            })
            .collect();
        let pq = self
            .pq
            .iter()
            .map(|e| {
                Field::Record(
                    Record::new()
                        .with("id", Field::uint(e.public.id))
                        .with("seed", Field::bytes(&e.seed[..]))
                        .with("key", Field::bytes(&e.public.key[..]))
                        .with("sig", Field::bytes(e.public.signature.to_bytes().to_vec()))
                        .with_opt("retired_at", e.retired_at.map(time_field)),
                )
            })
            .collect();
        let record = Record::new()
            .with("format", Field::uint(SNAPSHOT_FORMAT))
            .with("identity", Field::bytes(&seed[..]))
            .with("signed", Field::List(signed))
            .with("one_time", Field::List(one_time))
            .with("pq", Field::List(pq))
            .with("next_signed_id", Field::uint(self.next_signed_id))
            .with("next_one_time_id", Field::uint(self.next_one_time_id))
            .with("next_pq_id", Field::uint(self.next_pq_id));
        Zeroizing::new(record.to_cbor())
    }

    /// Restores a store from [`to_snapshot`](Self::to_snapshot)'s bytes. Unknown members are
    /// ignored (a newer writer may add some); the state is checked for consistency.
    ///
    /// # Errors
    /// [`PrekeyError::Snapshot`] for bytes that are not a consistent snapshot;
    /// [`PrekeyError::UnsupportedSnapshot`] for another format.
    pub fn from_snapshot(bytes: &[u8]) -> Result<Self, PrekeyError> {
        if bytes.len() > MAX_SNAPSHOT_LEN {
            return Err(PrekeyError::Snapshot("too large"));
        }
        let repr: SnapshotRepr =
            cbor::decode(bytes).map_err(|_| PrekeyError::Snapshot("malformed cbor"))?;
        if repr.format != SNAPSHOT_FORMAT {
            return Err(PrekeyError::UnsupportedSnapshot(repr.format));
        }
        let identity = SigningKey::from_seed(&repr.identity);
        if repr.signed.is_empty() || repr.signed.len() > MAX_SIGNED_PREKEYS {
            return Err(PrekeyError::Snapshot("signed prekey count"));
        }
        if repr.one_time.len() > MAX_ONE_TIME_PREKEYS || repr.pq.len() > MAX_PQ_PREKEYS {
            return Err(PrekeyError::Snapshot("prekey count"));
        }
        let mut signed = Vec::with_capacity(repr.signed.len());
        for (i, e) in repr.signed.iter().enumerate() {
            let is_current = i + 1 == repr.signed.len();
            if e.id == 0 || e.id >= repr.next_signed_id || is_current != e.retired_at.is_none() {
                return Err(PrekeyError::Snapshot("signed prekey id or retirement"));
            }
            if signed.iter().any(|s: &SignedEntry| s.public.id == e.id) {
                return Err(PrekeyError::Snapshot("duplicate signed prekey id"));
            }
            let secret = x25519::StaticSecret::from_bytes(*e.secret);
            signed.push(SignedEntry {
                public: SignedPrekey {
                    id: e.id,
                    key: secret.public_key(),
                    signature: e.sig,
                },
                secret: Box::new(secret),
                retired_at: e.retired_at.map(Timestamp::from_millis),
            });
        }
        let mut one_time = BTreeMap::new();
        for e in &repr.one_time {
            if e.id == 0 || e.id >= repr.next_one_time_id {
                return Err(PrekeyError::Snapshot("one-time prekey id"));
            }
            if one_time
                .insert(e.id, Box::new(x25519::StaticSecret::from_bytes(*e.secret)))
                .is_some()
            {
                return Err(PrekeyError::Snapshot("duplicate one-time prekey id"));
            }
        }
        let mut pq = Vec::with_capacity(repr.pq.len());
        for e in repr.pq {
            if e.id == 0 || e.id >= repr.next_pq_id {
                return Err(PrekeyError::Snapshot("pq prekey id"));
            }
            if pq.iter().any(|p: &PqEntry| p.public.id == e.id) {
                return Err(PrekeyError::Snapshot("duplicate pq prekey id"));
            }
            let key: Box<[u8; ML_KEM_768_KEY_LEN]> = e
                .key
                .into_boxed_slice()
                .try_into()
                .map_err(|_| PrekeyError::Snapshot("pq prekey length"))?;
            pq.push(PqEntry {
                public: PqPrekey {
                    id: e.id,
                    key,
                    signature: e.sig,
                },
                seed: Box::new(e.seed),
                retired_at: e.retired_at.map(Timestamp::from_millis),
            });
        }
        if pq
            .iter()
            .enumerate()
            .any(|(i, e)| (i + 1 == pq.len()) != e.retired_at.is_none())
        {
            return Err(PrekeyError::Snapshot("pq prekey retirement"));
        }
        let identity_dh = identity.to_x25519();
        Ok(Self {
            identity,
            identity_dh,
            signed,
            one_time,
            pq,
            next_signed_id: repr.next_signed_id,
            next_one_time_id: repr.next_one_time_id,
            next_pq_id: repr.next_pq_id,
        })
    }
}

/// Whether a key retired at `retired_at` has had its `grace` period by `now`.
fn expired(retired_at: Timestamp, now: Timestamp, grace: Duration) -> bool {
    now.duration_since(retired_at).is_some_and(|d| d >= grace)
}

fn time_field(t: Timestamp) -> Field<'static> {
    Field::Uint(SafeUint::new(t.as_millis()).unwrap_or(SafeUint::MAX))
}

/// How a one-time prekey lookup failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OneTimeLookup {
    /// Issued and since consumed.
    Used,
    /// Never issued by this store.
    Unknown,
}

#[derive(Deserialize)]
struct SnapshotRepr {
    format: u32,
    #[serde(deserialize_with = "secret")]
    identity: Zeroizing<[u8; 32]>,
    signed: Vec<SignedSnapshot>,
    one_time: Vec<OneTimeSnapshot>,
    #[serde(default)]
    pq: Vec<PqSnapshot>,
    next_signed_id: u32,
    next_one_time_id: u32,
    #[serde(default = "one")]
    next_pq_id: u32,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
struct SignedSnapshot {
    id: u32,
    #[serde(deserialize_with = "secret")]
    secret: Zeroizing<[u8; 32]>,
    sig: Signature,
    #[serde(default)]
    retired_at: Option<u64>,
}

#[derive(Deserialize)]
struct OneTimeSnapshot {
    id: u32,
    #[serde(deserialize_with = "secret")]
    secret: Zeroizing<[u8; 32]>,
}

#[derive(Deserialize)]
struct PqSnapshot {
    id: u32,
    #[serde(deserialize_with = "secret")]
    seed: Zeroizing<[u8; ML_KEM_SEED_LEN]>,
    #[serde(with = "talos_crypto::base64url::serde")]
    key: Vec<u8>,
    sig: Signature,
    #[serde(default)]
    retired_at: Option<u64>,
}

fn secret<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<Zeroizing<[u8; N]>, D::Error> {
    talos_crypto::base64url::serde::array::deserialize(d).map(Zeroizing::new)
}

/// Why a prekey store operation was refused. The store is unchanged in every case.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrekeyError {
    /// The store already holds the most signed prekeys it may: expire or remove previous
    /// ones, then rotate again.
    #[error("too many signed prekeys: at most {max}")]
    TooManySignedPrekeys {
        /// The limit.
        max: usize,
    },
    /// The store already holds the most ML-KEM prekeys it may: expire previous ones first.
    #[error("too many pq prekeys: at most {max}")]
    TooManyPqPrekeys {
        /// The limit.
        max: usize,
    },
    /// More one-time prekeys requested at once than [`MAX_ONE_TIME_BATCH`].
    #[error("one-time prekey batch too large: {count}, maximum {max}")]
    BatchTooLarge {
        /// Requested.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The store would hold more unused one-time prekeys than [`MAX_ONE_TIME_PREKEYS`]:
    /// publish the ones it has first.
    #[error("too many one-time prekeys: {held} held + {requested} requested, maximum {max}")]
    TooManyOneTimePrekeys {
        /// Unused keys held.
        held: usize,
        /// Keys requested.
        requested: usize,
        /// The limit.
        max: usize,
    },
    /// The 32-bit id space of a kind of prekey is used up: make a new identity.
    #[error("prekey ids exhausted")]
    IdsExhausted,
    /// The store has no signed prekey with this id.
    #[error("unknown signed prekey id {0}")]
    UnknownSignedPrekey(u32),
    /// The current signed prekey cannot be removed; rotate first.
    #[error("signed prekey {0} is the current one")]
    CurrentSignedPrekey(u32),
    /// The store has no unused one-time prekey with this id.
    #[error("unknown one-time prekey id {0}")]
    UnknownOneTimePrekey(u32),
    /// The snapshot bytes are not a consistent prekey store snapshot.
    #[error("invalid prekey snapshot: {0}")]
    Snapshot(&'static str),
    /// A snapshot format this crate does not read.
    #[error("unsupported prekey snapshot format {0}")]
    UnsupportedSnapshot(u32),
}

impl From<&PrekeyError> for ErrorCode {
    fn from(err: &PrekeyError) -> Self {
        match err {
            PrekeyError::UnsupportedSnapshot(_) => Self::ProtocolMismatch,
            _ => Self::InvalidInput,
        }
    }
}
