//! Signed discovery records: what a node publishes under its DID in the DHT.
//!
//! A [`DiscoveryRecord`] says, for one Ed25519 `did:key`: where the node listens (libp2p
//! multiaddrs), which MCP tools it serves, its current X3DH prekey bundle, and for how long
//! all that holds. It is a BEP44-style mutable item: the record is signed by the DID's own
//! key, carries a sequence number, and among valid records for one DID the highest `seq` wins
//! ([`Resolver`](crate::resolver::Resolver)). The record is stored under
//! [`DidKey::kademlia_key`] (SHA-256 of the public key), and its bytes
//! are the same whatever DHT carries them.
//!
//! # Format (contract `contracts/did/record.schema.json`)
//!
//! ```json
//! {
//!   "v": 1,
//!   "did": "did:key:z6Mk…",
//!   "seq": 7,                              // 0 ..= 2^53 − 1; a new record needs a higher one
//!   "issued_at": 1768178601000,            // ms since the Unix epoch
//!   "expires_at": 1768182201000,           // ms, after issued_at
//!   "addresses": ["/ip4/203.0.113.7/tcp/4001", …],   // ≤ 16, each ≤ 256 bytes
//!   "tools": ["search", …],                // optional: ≤ 128 MCP tool names
//!   "prekeys": {
//!     "signed": {"id": 1, "key": "<X25519, 32 B>", "sig": "<Ed25519, 64 B>"},
//!     "one_time": [{"id": 100, "key": "<X25519, 32 B>"}, …],   // ≤ 100
//!     "pq": {"id": 2, "key": "<ML-KEM-768 key, 1184 B>", "sig": "<64 B>"}   // optional
//!   },
//!   "puzzle_nonce": "<8 B: the u64 nonce, little-endian>",   // optional, see crate::puzzle
//!   "sig": "<Ed25519, 64 B>"
//! }
//! ```
//!
//! Bytes are unpadded base64url in JSON and byte strings in CBOR. Absent optional members are
//! omitted: never `null`, never an empty `tools` list. The **record signature** `sig` is
//! Ed25519 by the DID's key over the RFC 8785 canonical JSON of every member but `sig`
//! ([`DiscoveryRecord::signed_bytes`]). The **prekey signatures** are Ed25519 by the same key
//! over
//!
//! ```text
//! "talos-v2 signed prekey" ‖ be32(id) ‖ key      (22 + 4 + 32 bytes)    SIGNED_PREKEY_CONTEXT
//! "talos-v2 pq prekey"     ‖ be32(id) ‖ key      (18 + 4 + 1184 bytes)  PQ_PREKEY_CONTEXT
//! ```
//!
//! so an X3DH/PQXDH initiator can check a bundle on its own, away from the record
//! ([`Prekeys::verify`]). One-time prekeys are covered by the record signature only, as in
//! Signal. The ML-KEM key is carried as opaque bytes of the right length; the handshake that
//! uses it checks it.
//!
//! The canonical JSON is the one signed form; the deterministic CBOR (RFC 8949 §4.2.1) of the
//! same map is the compact form for the DHT. Decoders are strict: unknown, duplicate, missing
//! or `null` members, values out of range and any CBOR but the deterministic encoding are
//! refused ([`RecordError`]).
//!
//! # Validation
//!
//! Decoding checks the format; [`DiscoveryRecord::validate`] checks a record against a
//! [`Policy`] at `now`: size and counts, expiry, clock skew, lifetime, the Sybil puzzle when
//! the policy requires one, then the record signature ([`ValidationError`]).
//! [`validate_batch`] gives the same verdicts for many records with batch verification of
//! their signatures.
//!
//! Validation checks **one** signature, the record's. It covers every byte of the record,
//! the prekey signatures included, so a valid record proves that the DID's holder published
//! exactly this bundle; nobody else can attach a bad prekey signature to it. The prekey
//! signatures are the handshake's to check, as X3DH and PQXDH prescribe, when the initiator
//! uses the bundle ([`Prekeys::verify`]); checking them here too would double the cost of
//! validation (Ed25519 verification is nearly all of it) to catch only a holder's mistake
//! with its own keys.
//!
//! ```
//! use talos_crypto::{SigningKey, Timestamp, x25519};
//! use talos_did::record::{DiscoveryRecord, Policy, Prekeys, RecordFields, SignedPrekey};
//!
//! let identity = SigningKey::from_seed(&[1; 32]);
//! let spk = x25519::StaticSecret::from_bytes([2; 32]).public_key();
//! let now = Timestamp::from_millis(1_768_178_601_000);
//! let fields = RecordFields {
//!     seq: 1,
//!     issued_at: now,
//!     expires_at: Timestamp::from_millis(now.as_millis() + 3_600_000),
//!     addresses: vec!["/ip4/203.0.113.7/tcp/4001".into()],
//!     tools: vec!["search".into()],
//!     prekeys: Prekeys {
//!         signed: SignedPrekey::sign(&identity, 1, spk),
//!         one_time: vec![],
//!         pq: None,
//!     },
//!     puzzle_nonce: None,
//! };
//! let record = DiscoveryRecord::sign(fields, &identity).unwrap();
//! let wire = record.to_cbor();
//! let received = DiscoveryRecord::from_cbor(&wire).unwrap();
//! let valid = received.validate(now, &Policy::default()).unwrap();
//! assert_eq!(valid.record().seq(), 1);
//! ```

use core::time::Duration;

use serde::{Deserialize, Deserializer};
use talos_crypto::json::{self, JsonError, MAX_SAFE_INTEGER};
use talos_crypto::record::{Field, Record, SafeUint};
use talos_crypto::{
    CborError, ErrorCode, SIGNATURE_LEN, Signature, SigningKey, Timestamp, VerifyError,
    VerifyingKey, cbor, verify_batch, x25519,
};

use crate::{DidError, DidKey, puzzle};

/// The record format version this crate writes and reads.
pub const VERSION: u32 = 1;

/// Domain separation for the signed prekey's signature: `context ‖ be32(id) ‖ key`.
pub const SIGNED_PREKEY_CONTEXT: &[u8] = b"talos-v2 signed prekey";

/// Domain separation for the ML-KEM-768 prekey's signature: `context ‖ be32(id) ‖ key`.
pub const PQ_PREKEY_CONTEXT: &[u8] = b"talos-v2 pq prekey";

/// Length of an ML-KEM-768 encapsulation key (FIPS 203).
pub const ML_KEM_768_KEY_LEN: usize = 1184;

/// Most addresses a record may list.
pub const MAX_ADDRESSES: usize = 16;

/// Longest address, in bytes.
pub const MAX_ADDRESS_LEN: usize = 256;

/// Most MCP tool names a record may list.
pub const MAX_TOOLS: usize = 128;

/// Longest MCP tool name (the MCP specification's bound), in bytes.
pub const MAX_TOOL_NAME_LEN: usize = 128;

/// Most one-time prekeys a record may carry.
pub const MAX_ONE_TIME_PREKEYS: usize = 100;

/// Decoders refuse longer input before parsing it. The largest record the format allows is
/// about 30 000 bytes of canonical JSON, so this never refuses a well-formed one.
pub const MAX_DECODE_LEN: usize = 64 * 1024;

/// Signatures per call of [`verify_batch`] in [`validate_batch`]. Measured on the reference
/// machine, per signature: 20 µs in batches of 64, 16 µs at 128, 14–15 µs at 224 to 320, 18 µs
/// at 512 (against 37 µs alone). One bad signature sends its whole batch to the slow path.
const BATCH_CHUNK: usize = 256;

/// The X3DH signed prekey (`SPK`), with the identity key's signature over
/// `SIGNED_PREKEY_CONTEXT ‖ be32(id) ‖ key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedPrekey {
    /// The prekey's id, which the initiator echoes so the responder finds the secret.
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

    /// `SIGNED_PREKEY_CONTEXT ‖ be32(id) ‖ key`: what [`SignedPrekey::signature`] covers.
    #[must_use]
    pub fn signed_message(&self) -> [u8; 58] {
        signed_prekey_message(self.id, &self.key)
    }

    /// Checks the signature against the identity key.
    ///
    /// # Errors
    /// [`VerifyError`] if it does not verify.
    pub fn verify(&self, identity: &VerifyingKey) -> Result<(), VerifyError> {
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

/// A one-time prekey (`OPK`): covered by the record signature only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OneTimePrekey {
    /// The prekey's id; unique within a record.
    pub id: u32,
    /// The X25519 public key.
    pub key: x25519::PublicKey,
}

/// The ML-KEM-768 prekey of PQXDH, with the identity key's signature over
/// `PQ_PREKEY_CONTEXT ‖ be32(id) ‖ key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PqPrekey {
    /// The prekey's id.
    pub id: u32,
    /// The encapsulation key, opaque here.
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

    /// `PQ_PREKEY_CONTEXT ‖ be32(id) ‖ key`: what [`PqPrekey::signature`] covers.
    #[must_use]
    pub fn signed_message(&self) -> Vec<u8> {
        pq_prekey_message(self.id, &self.key)
    }

    /// Checks the signature against the identity key.
    ///
    /// # Errors
    /// [`VerifyError`] if it does not verify.
    pub fn verify(&self, identity: &VerifyingKey) -> Result<(), VerifyError> {
        identity.verify(&self.signed_message(), &self.signature)
    }
}

fn pq_prekey_message(id: u32, key: &[u8; ML_KEM_768_KEY_LEN]) -> Vec<u8> {
    let mut message = Vec::with_capacity(PQ_PREKEY_CONTEXT.len() + 4 + ML_KEM_768_KEY_LEN);
    message.extend_from_slice(PQ_PREKEY_CONTEXT);
    message.extend_from_slice(&id.to_be_bytes());
    message.extend_from_slice(key);
    message
}

/// The prekey bundle an X3DH (or PQXDH) initiator needs, besides the identity key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prekeys {
    /// The current signed prekey.
    pub signed: SignedPrekey,
    /// One-time prekeys, at most [`MAX_ONE_TIME_PREKEYS`], ids unique; may be empty.
    pub one_time: Vec<OneTimePrekey>,
    /// The ML-KEM-768 prekey, for PQXDH.
    pub pq: Option<PqPrekey>,
}

impl Prekeys {
    /// Checks the signed prekey's signature, then the ML-KEM prekey's, against the identity
    /// key: what an X3DH or PQXDH initiator does before it uses the bundle.
    ///
    /// # Errors
    /// [`VerifyError`] for the first signature that does not verify.
    pub fn verify(&self, identity: &VerifyingKey) -> Result<(), VerifyError> {
        self.signed.verify(identity)?;
        self.pq.as_ref().map_or(Ok(()), |pq| pq.verify(identity))
    }
}

/// A record's content: everything but the DID (the signing key's) and the signature.
///
/// [`DiscoveryRecord::sign`] and the decoders check the format limits below; a [`Policy`]
/// may be stricter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordFields {
    /// Sequence number, at most 2^53 − 1: a newer record must have a higher one. Never reuse
    /// or lower it; the issue time in ms is a simple choice that needs no stored counter.
    pub seq: u64,
    /// When the record was made (at most 2^53 − 1 ms).
    pub issued_at: Timestamp,
    /// When it stops being valid (exclusive); after `issued_at`, at most 2^53 − 1 ms.
    pub expires_at: Timestamp,
    /// libp2p multiaddrs, most preferred first: at most [`MAX_ADDRESSES`], no duplicates, each
    /// `/` followed by printable ASCII (no spaces), 2 to [`MAX_ADDRESS_LEN`] bytes in all. (The
    /// multiaddr itself is parsed by whoever dials it.)
    pub addresses: Vec<String>,
    /// MCP tool names served, at most [`MAX_TOOLS`], no duplicates, each 1 to
    /// [`MAX_TOOL_NAME_LEN`] of `A-Z a-z 0-9 _ - .`; empty if none.
    pub tools: Vec<String>,
    /// The X3DH prekey bundle.
    pub prekeys: Prekeys,
    /// A solution of the identity key's Sybil puzzle ([`crate::puzzle`]).
    pub puzzle_nonce: Option<u64>,
}

/// A signed discovery record (see the [module docs](self)). Decoded records are well-formed
/// but unauthenticated until [`DiscoveryRecord::validate`] (or [`validate_batch`]) accepts
/// them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryRecord {
    identity: VerifyingKey,
    did: String,
    fields: RecordFields,
    signature: Signature,
    /// The canonical JSON of every member but `sig`, kept because validation needs it.
    signed: Vec<u8>,
}

/// Length of `,"sig":"<86 base64url characters>"` in the canonical JSON (`addresses` always
/// sorts before `sig`, so there is always a comma).
const SIG_MEMBER_LEN: usize = r#","sig":""#.len() + (SIGNATURE_LEN * 4).div_ceil(3) + 1;

impl DiscoveryRecord {
    /// Checks `fields` against the format limits and signs them with `key`; the record's DID
    /// is `key`'s `did:key`.
    ///
    /// The prekey signatures are taken as given (build them with [`SignedPrekey::sign`] and
    /// [`PqPrekey::sign`] with the same key); [`Prekeys::verify`] checks them.
    ///
    /// # Errors
    /// [`RecordError`] for a field outside the format.
    pub fn sign(fields: RecordFields, key: &SigningKey) -> Result<Self, RecordError> {
        check_fields(&fields)?;
        let identity = key.verifying_key();
        let did = DidKey::Ed25519(identity).to_string();
        let signed = unsigned_record(&did, &fields).to_json();
        let signature = key.sign(&signed);
        Ok(Self {
            identity,
            did,
            fields,
            signature,
            signed,
        })
    }

    /// The DID the record is for.
    #[must_use]
    pub fn did(&self) -> DidKey {
        DidKey::Ed25519(self.identity)
    }

    /// The DID's key, which signs the record and its prekeys.
    #[must_use]
    pub fn identity_key(&self) -> &VerifyingKey {
        &self.identity
    }

    /// The content.
    #[must_use]
    pub fn fields(&self) -> &RecordFields {
        &self.fields
    }

    /// The sequence number.
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.fields.seq
    }

    /// The record signature.
    #[must_use]
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// What the record signature covers: the canonical JSON of every member but `sig`.
    #[must_use]
    pub fn signed_bytes(&self) -> &[u8] {
        &self.signed
    }

    /// Length of the canonical JSON form ([`DiscoveryRecord::to_json`]), the size that
    /// [`Policy::set_max_record_len`] bounds. The CBOR form is always shorter.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        self.signed.len() + SIG_MEMBER_LEN
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

    /// Appends the deterministic CBOR form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.record().write_cbor(out);
    }

    /// Parses the JSON form strictly (any formatting; no unknown, duplicate, missing or `null`
    /// members) and checks the format. Nothing is authenticated yet.
    ///
    /// # Errors
    /// [`RecordError`] naming what is wrong.
    pub fn from_json(input: &[u8]) -> Result<Self, RecordError> {
        check_decode_len(input)?;
        let value = json::parse(input)?;
        let record = Self::from_repr(json::from_value(&value)?)?;
        if value.to_canonical_vec() != record.to_json() {
            return Err(RecordError::Malformed(
                "not in canonical form: absent members are omitted, never null or empty",
            ));
        }
        Ok(record)
    }

    /// Parses the CBOR form, accepting only its deterministic encoding, and checks the format.
    /// Nothing is authenticated yet.
    ///
    /// # Errors
    /// [`RecordError`] naming what is wrong.
    pub fn from_cbor(input: &[u8]) -> Result<Self, RecordError> {
        check_decode_len(input)?;
        let record = Self::from_repr(cbor::decode(input)?)?;
        if record.to_cbor() != input {
            return Err(CborError::NonCanonical.into());
        }
        Ok(record)
    }

    /// Checks the record against `policy` at `now`, then its signature. (The prekey
    /// signatures are the handshake's to check: see the [module docs](self#validation).)
    ///
    /// # Errors
    /// [`ValidationError`]: the first check that fails.
    pub fn validate(
        &self,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<ValidRecord<'_>, ValidationError> {
        self.check_policy(now, policy)?;
        self.verify_signature()?;
        Ok(ValidRecord(self))
    }

    fn verify_signature(&self) -> Result<(), ValidationError> {
        self.identity
            .verify(&self.signed, &self.signature)
            .map_err(|_| ValidationError::BadSignature)
    }

    /// Everything but the signatures.
    fn check_policy(&self, now: Timestamp, policy: &Policy) -> Result<(), ValidationError> {
        let len = self.encoded_len();
        if len > policy.max_record_len {
            return Err(ValidationError::TooLarge {
                len,
                max: policy.max_record_len,
            });
        }
        let f = &self.fields;
        if f.addresses.len() > policy.max_addresses {
            return Err(ValidationError::TooManyAddresses {
                count: f.addresses.len(),
                max: policy.max_addresses,
            });
        }
        if f.prekeys.one_time.len() > policy.max_one_time_prekeys {
            return Err(ValidationError::TooManyOneTimePrekeys {
                count: f.prekeys.one_time.len(),
                max: policy.max_one_time_prekeys,
            });
        }
        if now >= f.expires_at {
            return Err(ValidationError::Expired {
                expires_at_ms: f.expires_at.as_millis(),
                now_ms: now.as_millis(),
            });
        }
        if let Some(ahead) = f.issued_at.duration_since(now)
            && ahead > policy.max_skew
        {
            return Err(ValidationError::FutureDated {
                ahead_ms: millis(ahead),
                max_skew_ms: millis(policy.max_skew),
            });
        }
        let lifetime = f.expires_at.duration_since(f.issued_at).unwrap_or_default();
        if lifetime > policy.max_lifetime {
            return Err(ValidationError::LifetimeTooLong {
                lifetime_ms: millis(lifetime),
                max_ms: millis(policy.max_lifetime),
            });
        }
        if let Some(difficulty) = policy.puzzle_difficulty {
            let Some(nonce) = f.puzzle_nonce else {
                return Err(ValidationError::MissingPuzzle { difficulty });
            };
            let bits = puzzle::leading_zero_bits(&puzzle::hash(&self.identity, nonce));
            if bits < difficulty {
                return Err(ValidationError::WeakPuzzle { bits, difficulty });
            }
        }
        Ok(())
    }

    fn record(&self) -> Record<'_> {
        unsigned_record(&self.did, &self.fields)
            .with("sig", Field::bytes(self.signature.to_bytes().to_vec()))
    }

    fn from_repr(repr: Repr) -> Result<Self, RecordError> {
        if repr.v != VERSION {
            return Err(RecordError::UnsupportedVersion(repr.v));
        }
        let identity = match repr
            .did
            .parse::<DidKey>()
            .map_err(RecordError::InvalidDid)?
        {
            DidKey::Ed25519(key) => key,
            DidKey::X25519(_) => return Err(RecordError::NotEd25519),
        };
        let pq = repr
            .prekeys
            .pq
            .map(|pq| -> Result<PqPrekey, RecordError> {
                let key = pq
                    .key
                    .into_boxed_slice()
                    .try_into()
                    .map_err(|key: Box<[u8]>| RecordError::PqKeyLength(key.len()))?;
                Ok(PqPrekey {
                    id: pq.id,
                    key,
                    signature: pq.sig,
                })
            })
            .transpose()?;
        let fields = RecordFields {
            seq: repr.seq,
            issued_at: Timestamp::from_millis(repr.issued_at),
            expires_at: Timestamp::from_millis(repr.expires_at),
            addresses: repr.addresses,
            tools: repr.tools,
            prekeys: Prekeys {
                signed: SignedPrekey {
                    id: repr.prekeys.signed.id,
                    key: repr.prekeys.signed.key,
                    signature: repr.prekeys.signed.sig,
                },
                one_time: repr
                    .prekeys
                    .one_time
                    .into_iter()
                    .map(|k| OneTimePrekey {
                        id: k.id,
                        key: k.key,
                    })
                    .collect(),
                pq,
            },
            puzzle_nonce: repr.puzzle_nonce.map(u64::from_le_bytes),
        };
        check_fields(&fields)?;
        let signed = unsigned_record(&repr.did, &fields).to_json();
        Ok(Self {
            identity,
            did: repr.did,
            fields,
            signature: repr.sig,
            signed,
        })
    }
}

/// A record that passed [`DiscoveryRecord::validate`] or [`validate_batch`]; what
/// [`Resolver::insert`](crate::resolver::Resolver::insert) takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidRecord<'a>(&'a DiscoveryRecord);

impl<'a> ValidRecord<'a> {
    /// The record.
    #[must_use]
    pub fn record(&self) -> &'a DiscoveryRecord {
        self.0
    }
}

/// Validates many records at once: exactly the verdicts of [`DiscoveryRecord::validate`] on
/// each, in order, with the signatures of the records that pass the other checks verified in
/// batches of up to 256 (about 2.5 times as fast per signature as one by one). When a batch
/// fails, its signatures are checked one by one, so a bad record costs only its own batch the
/// speed-up.
///
/// Batch and single verification share one acceptance rule except for one case only a
/// record's own signer can produce (see [`talos_crypto::verify_batch`]): a signature with a
/// small-order component, which the batch rejects with probability at least 1/2 and the
/// single check always.
#[must_use]
pub fn validate_batch<'a>(
    records: &'a [DiscoveryRecord],
    now: Timestamp,
    policy: &Policy,
) -> Vec<Result<ValidRecord<'a>, ValidationError>> {
    let mut verdicts: Vec<Result<ValidRecord<'a>, ValidationError>> = records
        .iter()
        .map(|r| r.check_policy(now, policy).map(|()| ValidRecord(r)))
        .collect();
    let passed: Vec<usize> = (0..records.len())
        .filter(|&i| verdicts[i].is_ok())
        .collect();
    for chunk in passed.chunks(BATCH_CHUNK) {
        let messages: Vec<&[u8]> = chunk.iter().map(|&i| &records[i].signed[..]).collect();
        let signatures: Vec<Signature> = chunk.iter().map(|&i| records[i].signature).collect();
        let keys: Vec<VerifyingKey> = chunk.iter().map(|&i| records[i].identity).collect();
        if verify_batch(&messages, &signatures, &keys).is_err() {
            for &i in chunk {
                if let Err(e) = records[i].verify_signature() {
                    verdicts[i] = Err(e);
                }
            }
        }
    }
    verdicts
}

/// What a receiver accepts, beyond the format: sizes, times and the Sybil puzzle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    max_record_len: usize,
    max_addresses: usize,
    max_one_time_prekeys: usize,
    max_skew: Duration,
    max_lifetime: Duration,
    puzzle_difficulty: Option<u32>,
}

impl Default for Policy {
    /// Records up to 16 KiB of canonical JSON, the format's counts ([`MAX_ADDRESSES`],
    /// [`MAX_ONE_TIME_PREKEYS`]), `issued_at` at most 300 s ahead of `now`, lifetimes up to
    /// 7 days, and no puzzle required.
    fn default() -> Self {
        Self {
            max_record_len: 16 * 1024,
            max_addresses: MAX_ADDRESSES,
            max_one_time_prekeys: MAX_ONE_TIME_PREKEYS,
            max_skew: Duration::from_secs(300),
            max_lifetime: Duration::from_secs(7 * 24 * 3600),
            puzzle_difficulty: None,
        }
    }
}

impl Policy {
    /// Largest record accepted, as the length of its canonical JSON
    /// ([`DiscoveryRecord::encoded_len`]).
    pub fn set_max_record_len(&mut self, bytes: usize) -> &mut Self {
        self.max_record_len = bytes;
        self
    }

    /// Most addresses accepted (the format allows [`MAX_ADDRESSES`]).
    pub fn set_max_addresses(&mut self, count: usize) -> &mut Self {
        self.max_addresses = count;
        self
    }

    /// Most one-time prekeys accepted (the format allows [`MAX_ONE_TIME_PREKEYS`]).
    pub fn set_max_one_time_prekeys(&mut self, count: usize) -> &mut Self {
        self.max_one_time_prekeys = count;
        self
    }

    /// How far `issued_at` may be ahead of `now`.
    pub fn set_max_skew(&mut self, skew: Duration) -> &mut Self {
        self.max_skew = skew;
        self
    }

    /// Longest `expires_at - issued_at` accepted.
    pub fn set_max_lifetime(&mut self, lifetime: Duration) -> &mut Self {
        self.max_lifetime = lifetime;
        self
    }

    /// Requires a Sybil puzzle solution of at least `difficulty` leading zero bits
    /// ([`puzzle::DEFAULT_DIFFICULTY`] is about one second of work), or none with `None`.
    pub fn set_puzzle_difficulty(&mut self, difficulty: Option<u32>) -> &mut Self {
        self.puzzle_difficulty = difficulty;
        self
    }

    /// The puzzle difficulty required, if any.
    #[must_use]
    pub fn puzzle_difficulty(&self) -> Option<u32> {
        self.puzzle_difficulty
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn safe(value: u64) -> Field<'static> {
    // `check_fields` admits only values JSON carries exactly.
    Field::Uint(SafeUint::new(value).unwrap_or(SafeUint::MAX))
}

fn unsigned_record<'a>(did: &'a str, f: &'a RecordFields) -> Record<'a> {
    let spk = &f.prekeys.signed;
    let one_time = f
        .prekeys
        .one_time
        .iter()
        .map(|k| {
            Field::Record(
                Record::new()
                    .with("id", Field::uint(k.id))
                    .with("key", Field::bytes(&k.key.as_bytes()[..])),
            )
        })
        .collect();
    let pq = f.prekeys.pq.as_ref().map(|pq| {
        Field::Record(
            Record::new()
                .with("id", Field::uint(pq.id))
                .with("key", Field::bytes(&pq.key[..]))
                .with("sig", Field::bytes(pq.signature.to_bytes().to_vec())),
        )
    });
    let prekeys = Record::new()
        .with(
            "signed",
            Field::Record(
                Record::new()
                    .with("id", Field::uint(spk.id))
                    .with("key", Field::bytes(&spk.key.as_bytes()[..]))
                    .with("sig", Field::bytes(spk.signature.to_bytes().to_vec())),
            ),
        )
        .with("one_time", Field::List(one_time))
        .with_opt("pq", pq);
    let texts =
        |items: &'a [String]| Field::List(items.iter().map(|t| Field::text(t.as_str())).collect());
    Record::new()
        .with("v", Field::uint(VERSION))
        .with("did", Field::text(did))
        .with("seq", safe(f.seq))
        .with("issued_at", safe(f.issued_at.as_millis()))
        .with("expires_at", safe(f.expires_at.as_millis()))
        .with("addresses", texts(&f.addresses))
        .with_opt("tools", (!f.tools.is_empty()).then(|| texts(&f.tools)))
        .with("prekeys", Field::Record(prekeys))
        .with_opt(
            "puzzle_nonce",
            f.puzzle_nonce
                .map(|n| Field::bytes(n.to_le_bytes().to_vec())),
        )
}

fn check_decode_len(input: &[u8]) -> Result<(), RecordError> {
    if input.len() > MAX_DECODE_LEN {
        return Err(RecordError::TooLarge {
            len: input.len(),
            max: MAX_DECODE_LEN,
        });
    }
    Ok(())
}

/// The format limits, shared by signing and decoding.
fn check_fields(f: &RecordFields) -> Result<(), RecordError> {
    if f.seq > MAX_SAFE_INTEGER {
        return Err(RecordError::Malformed("seq beyond 2^53 - 1"));
    }
    if f.issued_at.as_millis() > MAX_SAFE_INTEGER || f.expires_at.as_millis() > MAX_SAFE_INTEGER {
        return Err(RecordError::Malformed("timestamp beyond 2^53 - 1 ms"));
    }
    if f.expires_at <= f.issued_at {
        return Err(RecordError::Malformed("expires_at must be after issued_at"));
    }
    if f.addresses.len() > MAX_ADDRESSES {
        return Err(RecordError::TooManyAddresses {
            count: f.addresses.len(),
            max: MAX_ADDRESSES,
        });
    }
    if let Some(bad) = f.addresses.iter().find(|a| !is_address(a)) {
        return Err(RecordError::InvalidAddress(cut(bad)));
    }
    if has_duplicates(f.addresses.iter()) {
        return Err(RecordError::Malformed("duplicate address"));
    }
    if f.tools.len() > MAX_TOOLS {
        return Err(RecordError::TooManyTools {
            count: f.tools.len(),
            max: MAX_TOOLS,
        });
    }
    if let Some(bad) = f.tools.iter().find(|t| !is_tool_name(t)) {
        return Err(RecordError::InvalidToolName(cut(bad)));
    }
    if has_duplicates(f.tools.iter()) {
        return Err(RecordError::Malformed("duplicate tool name"));
    }
    if f.prekeys.one_time.len() > MAX_ONE_TIME_PREKEYS {
        return Err(RecordError::TooManyOneTimePrekeys {
            count: f.prekeys.one_time.len(),
            max: MAX_ONE_TIME_PREKEYS,
        });
    }
    if has_duplicates(f.prekeys.one_time.iter().map(|k| k.id)) {
        return Err(RecordError::Malformed("duplicate one-time prekey id"));
    }
    Ok(())
}

/// `/` then at least one printable ASCII character (no spaces), at most [`MAX_ADDRESS_LEN`]
/// bytes: stricter than what a DID document's `TalosAgent` service accepts, so the document
/// built from a record is always valid.
fn is_address(a: &str) -> bool {
    (2..=MAX_ADDRESS_LEN).contains(&a.len())
        && a.starts_with('/')
        && a.bytes().all(|b| b.is_ascii_graphic())
}

/// 1 to [`MAX_TOOL_NAME_LEN`] of `A-Z a-z 0-9 _ - .` (MCP's tool-name rule).
fn is_tool_name(t: &str) -> bool {
    (1..=MAX_TOOL_NAME_LEN).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn has_duplicates<T: Ord>(items: impl Iterator<Item = T>) -> bool {
    let mut items: Vec<T> = items.collect();
    items.sort_unstable();
    items.windows(2).any(|w| w[0] == w[1])
}

/// At most 64 characters of untrusted text, for an error message.
fn cut(text: &str) -> String {
    text.chars().take(64).collect()
}

/// The decoding side of [`DiscoveryRecord::record`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Repr {
    v: u32,
    did: String,
    seq: u64,
    issued_at: u64,
    expires_at: u64,
    addresses: Vec<String>,
    #[serde(default)]
    tools: Vec<String>,
    prekeys: PrekeysRepr,
    #[serde(default, deserialize_with = "nonce")]
    puzzle_nonce: Option<[u8; puzzle::NONCE_LEN]>,
    sig: Signature,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrekeysRepr {
    signed: SignedRepr,
    one_time: Vec<OneTimeRepr>,
    #[serde(default)]
    pq: Option<PqRepr>,
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

fn nonce<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; puzzle::NONCE_LEN]>, D::Error> {
    talos_crypto::base64url::serde::array::deserialize(d).map(Some)
}

/// Why a record could not be made or decoded: it is outside the format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The CBOR form is malformed or not deterministic. Drop the record.
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// The JSON form is not strict JSON of the right shape. Drop the record.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// The input is longer than any record ([`MAX_DECODE_LEN`]). Drop it unparsed.
    #[error("record too large: {len} bytes, maximum {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A format version this crate does not read; a newer peer may publish it.
    #[error("unsupported record version {0}")]
    UnsupportedVersion(u32),
    /// The `did` member is not a canonical `did:key`.
    #[error("invalid record did: {0}")]
    InvalidDid(DidError),
    /// The `did` member is an X25519 `did:key`, which cannot sign.
    #[error("record did must be an ed25519 did:key")]
    NotEd25519,
    /// More addresses than the format allows.
    #[error("too many addresses: {count}, maximum {max}")]
    TooManyAddresses {
        /// Addresses listed.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An address that is not `/` and printable ASCII within [`MAX_ADDRESS_LEN`] bytes
    /// (shown cut to 64 characters).
    #[error("invalid address {0:?}")]
    InvalidAddress(String),
    /// More tool names than the format allows.
    #[error("too many tools: {count}, maximum {max}")]
    TooManyTools {
        /// Tool names listed.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A tool name outside MCP's rule (shown cut to 64 characters).
    #[error("invalid tool name {0:?}")]
    InvalidToolName(String),
    /// More one-time prekeys than the format allows.
    #[error("too many one-time prekeys: {count}, maximum {max}")]
    TooManyOneTimePrekeys {
        /// Prekeys listed.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The ML-KEM prekey is not 1184 bytes.
    #[error("wrong ml-kem-768 key length: expected 1184 bytes, got {0}")]
    PqKeyLength(usize),
    /// Well-formed, but inconsistent or not canonical.
    #[error("malformed record: {0}")]
    Malformed(&'static str),
}

impl From<&RecordError> for ErrorCode {
    fn from(err: &RecordError) -> Self {
        match err {
            RecordError::UnsupportedVersion(_) => Self::ProtocolMismatch,
            _ => Self::InvalidInput,
        }
    }
}

/// Why a well-formed record was not accepted. Drop it, whichever the reason; only `Expired`
/// and `FutureDated` depend on `now`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The canonical JSON is longer than the policy allows.
    #[error("record too large: {len} bytes, maximum {max}")]
    TooLarge {
        /// [`DiscoveryRecord::encoded_len`].
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More addresses than the policy allows.
    #[error("too many addresses: {count}, maximum {max}")]
    TooManyAddresses {
        /// Addresses listed.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More one-time prekeys than the policy allows.
    #[error("too many one-time prekeys: {count}, maximum {max}")]
    TooManyOneTimePrekeys {
        /// Prekeys listed.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// `now` is at or past `expires_at`. Look the DID up again.
    #[error("record expired: expires_at {expires_at_ms} ms, now {now_ms} ms")]
    Expired {
        /// The record's expiry.
        expires_at_ms: u64,
        /// `now`.
        now_ms: u64,
    },
    /// `issued_at` is further ahead of `now` than the allowed skew.
    #[error("record issued in the future: {ahead_ms} ms ahead, maximum skew {max_skew_ms} ms")]
    FutureDated {
        /// How far ahead.
        ahead_ms: u64,
        /// The limit.
        max_skew_ms: u64,
    },
    /// `expires_at - issued_at` exceeds the policy's maximum lifetime.
    #[error("record lifetime too long: {lifetime_ms} ms, maximum {max_ms} ms")]
    LifetimeTooLong {
        /// The record's lifetime.
        lifetime_ms: u64,
        /// The limit.
        max_ms: u64,
    },
    /// The policy requires a Sybil puzzle solution and the record has none.
    #[error("puzzle solution missing: difficulty {difficulty} required")]
    MissingPuzzle {
        /// The difficulty required.
        difficulty: u32,
    },
    /// The puzzle solution has fewer leading zero bits than the policy requires.
    #[error("puzzle solution too weak: {bits} leading zero bits, {difficulty} required")]
    WeakPuzzle {
        /// Leading zero bits of the solution's hash.
        bits: u32,
        /// The difficulty required.
        difficulty: u32,
    },
    /// The record signature does not verify under the DID's key: forged or altered.
    #[error("invalid record signature")]
    BadSignature,
}

impl From<&ValidationError> for ErrorCode {
    fn from(err: &ValidationError) -> Self {
        match err {
            ValidationError::BadSignature => Self::CryptoError,
            _ => Self::InvalidInput,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_prekey_message_layout() {
        let key = x25519::PublicKey::from_bytes([0xab; 32]);
        let m = signed_prekey_message(0x0102_0304, &key);
        assert_eq!(&m[..22], b"talos-v2 signed prekey");
        assert_eq!(m[22..26], [1, 2, 3, 4]);
        assert_eq!(m[26..], [0xab; 32]);
        let pq = pq_prekey_message(5, &[7; ML_KEM_768_KEY_LEN]);
        assert_eq!(pq.len(), 18 + 4 + 1184);
        assert_eq!(&pq[..22], b"talos-v2 pq prekey\0\0\0\x05");
    }

    #[test]
    fn syntax_rules() {
        assert!(is_address("/ip4/1.2.3.4/tcp/4001/p2p/12D3KooW"));
        assert!(is_address(&format!("/{}", "a".repeat(255))));
        assert!(!is_address(&format!("/{}", "a".repeat(256))));
        for bad in [
            "",
            "/",
            "ip4/1.2.3.4",
            "/ip4/1.2.3.4 ",
            "/dns/é.com",
            "/a\n",
        ] {
            assert!(!is_address(bad), "{bad:?}");
        }
        assert!(is_tool_name("get_weather.v2-beta"));
        assert!(is_tool_name(&"x".repeat(128)));
        for bad in ["", "a b", "a/b", "é", &"x".repeat(129)] {
            assert!(!is_tool_name(bad), "{bad:?}");
        }
        assert!(has_duplicates([1, 2, 1].into_iter()));
        assert!(!has_duplicates([1, 2, 3].into_iter()));
    }
}
