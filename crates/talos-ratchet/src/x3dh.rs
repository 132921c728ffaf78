//! The talos-v2 session start: X3DH as Signal specifies it (Rev 1, 2016-11-04), with
//! Ed25519 identity keys used in their X25519 form (see [`crate::prekeys`]).
//!
//! # The agreement
//!
//! Alice fetches Bob's [`PrekeyBundle`], checks the signed prekey's signature with his
//! Ed25519 identity key, and draws an ephemeral X25519 key `EK_A`. With `IK` the X25519 forms
//! of the identity keys:
//!
//! ```text
//! DH1 = DH(IK_A, SPK_B)   DH2 = DH(EK_A, IK_B)   DH3 = DH(EK_A, SPK_B)   DH4 = DH(EK_A, OPK_B)
//! SK  = HKDF-SHA256(salt = 0x00 × 32, IKM = 0xFF × 32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4], info, L = 32)
//! AD  = IK_A ‖ IK_B    (the two Ed25519 public keys, 64 bytes: the two did:keys)
//! ```
//!
//! `DH4` is present when the bundle had a one-time prekey. `info` is [`X3DH_INFO`],
//! `"Talos_v2_X3DH_X25519_SHA-256"` (Signal's "ASCII string identifying the application",
//! spelled after libsignal's PQXDH string); PQXDH uses [`PQXDH_INFO`], so an X3DH and a
//! PQXDH secret can never coincide. `F = 0xFF × 32` is the full 32-byte prefix, not the
//! two-byte `[0xFF, 32]` some code writes. Every DH output is checked to be contributory
//! (a small-order key is refused), and `EK_A`'s secret and the DH outputs are zeroized as soon
//! as `SK` exists.
//!
//! `AD` uses the Ed25519 keys rather than the X25519 ones because those are the identities
//! the agents know each other by (their DIDs); the X25519 forms follow from them.
//!
//! # Into the Double Ratchet
//!
//! As in Signal's "Integration with X3DH": `SK` is the first root key, Bob's signed prekey is
//! his first ratchet key, and every message's AEAD associated data is `AD ‖ canon(header)`.
//! Alice's [`Session`] starts with a fresh ratchet key of its own (not `EK_A`). Until the
//! session has received a message from Bob ([`Session::has_received`]) Alice sends each
//! message as an [`InitialMessage`]: the [`InitialHeader`] (her identity key, `EK_A`, the
//! prekey ids) with the ratchet message. Bob's [`respond`] finds the prekeys, computes the
//! same `SK` and decrypts the first message; only then does it delete the one-time prekey.
//! Later initial messages of the same session (same identity key and ephemeral key, e.g. a
//! second message that overtook the first) belong to the session `respond` already made:
//! decrypt their `message` there instead of calling `respond` again.
//!
//! Randomness, in order: Alice's [`initiate`] draws 32 bytes for `EK_A`, then (PQXDH) 32
//! bytes for the ML-KEM encapsulation, then 32 bytes for her first ratchet key. [`respond`]
//! draws none.
//!
//! Without a one-time prekey, X3DH cannot stop a replayed initial message from starting a
//! second session at Bob's (the Signal specification, §4.2): keep one-time prekeys stocked.
//!
//! ```
//! # use rand_chacha::rand_core::SeedableRng as _;
//! use talos_crypto::SigningKey;
//! use talos_ratchet::prekeys::PrekeyStore;
//! use talos_ratchet::x3dh::{self, InitialMessage};
//!
//! # let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
//! let alice = SigningKey::from_seed(&[1; 32]);
//! let mut bob = PrekeyStore::new(SigningKey::from_seed(&[2; 32]), &mut rng);
//! let opk = bob.generate_one_time_prekeys(1, &mut rng).unwrap()[0].id;
//! let bundle = bob.bundle(Some(opk)).unwrap(); // what Bob publishes (e.g. in his DID record)
//!
//! // Alice: verify the bundle, agree, encrypt the first message.
//! let (mut alice_session, header) = x3dh::initiate(&alice, &bundle, &mut rng).unwrap();
//! let first = header.wrap(alice_session.encrypt(b"hello bob", &mut rng).unwrap());
//! let wire = first.to_cbor();
//!
//! // Bob: decode, agree, decrypt; the one-time prekey is consumed.
//! let received = InitialMessage::from_cbor(&wire).unwrap();
//! let (mut bob_session, plaintext) = x3dh::respond(&mut bob, &received).unwrap();
//! assert_eq!(&plaintext[..], b"hello bob");
//! assert_eq!(bob.one_time_prekey_count(), 0);
//!
//! // Bob answers; from now on Alice sends plain ratchet messages.
//! let reply = bob_session.encrypt(b"hi alice", &mut rng).unwrap();
//! assert_eq!(&alice_session.decrypt(&reply).unwrap()[..], b"hi alice");
//! assert!(alice_session.has_received());
//!
//! // The agreement alone, for callers that drive their own ratchet:
//! let (agreed, header) = x3dh::agree_initiator(&alice, &bob.bundle(None).unwrap(), &mut rng).unwrap();
//! assert_eq!(agreed.secret_key(), x3dh::agree_responder(&bob, &header).unwrap().secret_key());
//! assert_eq!(&agreed.associated_data()[..32], alice.verifying_key().as_bytes());
//! ```

use core::fmt;

use serde::Deserialize;
use talos_crypto::hash::{HkdfLengthError, hkdf_sha256};
use talos_crypto::json::{self, JsonError};
use talos_crypto::record::{Field, Record};
use talos_crypto::{
    CborError, CryptoRng, ErrorCode, SigningKey, VerifyingKey, Zeroizing, cbor, x25519,
};

use crate::ProtocolVersion;
use crate::message::{self, Message, MessageError};
use crate::prekeys::{ML_KEM_768_CIPHERTEXT_LEN, OneTimeLookup, PrekeyBundle, PrekeyStore};
use crate::session::{DecryptError, Session};

/// The HKDF `info` of the talos-v2 X3DH secret.
pub const X3DH_INFO: &[u8] = b"Talos_v2_X3DH_X25519_SHA-256";

/// The HKDF `info` of the talos-v2 PQXDH secret.
pub const PQXDH_INFO: &[u8] = b"Talos_v2_PQXDH_X25519_SHA-256_ML-KEM-768";

/// Length of the associated data `AD = IK_A ‖ IK_B`.
pub const ASSOCIATED_DATA_LEN: usize = 64;

/// X3DH's `F` for X25519: 32 bytes of `0xFF`, prefixed to the key material so that it can
/// never be confused with an XEdDSA/Ed25519 scalar derivation input.
const F: [u8; 32] = [0xFF; 32];

/// X3DH's KDF: HKDF-SHA256 with a salt of 32 zero bytes over `0xFF × 32 ‖ key_material`,
/// with `info`, into `okm`. talos-v2 uses it with [`X3DH_INFO`] or [`PQXDH_INFO`] and 32
/// bytes; other parameters reproduce other X3DH deployments (Signal: `"WhisperText"`, 64).
///
/// # Errors
/// [`HkdfLengthError`] if `okm` is longer than 8160 bytes.
pub fn kdf(info: &[u8], key_material: &[u8], okm: &mut [u8]) -> Result<(), HkdfLengthError> {
    let mut ikm = Zeroizing::new(Vec::with_capacity(F.len() + key_material.len()));
    ikm.extend_from_slice(&F);
    ikm.extend_from_slice(key_material);
    hkdf_sha256(Some(&[0u8; 32]), &ikm, info, okm)
}

/// The result of the key agreement: the shared secret `SK` and the associated data `AD`.
/// `SK` is zeroized on drop and never printed.
pub struct Agreement {
    secret_key: Zeroizing<[u8; 32]>,
    associated_data: [u8; ASSOCIATED_DATA_LEN],
    version: ProtocolVersion,
}

impl Agreement {
    /// `SK`, the first root key.
    #[must_use]
    pub fn secret_key(&self) -> &[u8; 32] {
        &self.secret_key
    }

    /// `AD = IK_A ‖ IK_B` (Ed25519 public keys).
    #[must_use]
    pub fn associated_data(&self) -> &[u8; ASSOCIATED_DATA_LEN] {
        &self.associated_data
    }

    /// [`ProtocolVersion::V2`] for X3DH, [`ProtocolVersion::V2Pq`] for PQXDH.
    #[must_use]
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    pub(crate) fn into_parts(self) -> (Zeroizing<[u8; 32]>, Vec<u8>) {
        (self.secret_key, self.associated_data.to_vec())
    }
}

/// `SK` is a `Zeroizing` array.
impl zeroize::ZeroizeOnDrop for Agreement {}

impl fmt::Debug for Agreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agreement")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// The PQXDH part of an initial header: which ML-KEM prekey Alice encapsulated to, and the
/// ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct PqHeader {
    /// The id of Bob's ML-KEM-768 prekey.
    pub prekey_id: u32,
    /// The ML-KEM-768 ciphertext (1088 bytes).
    pub ciphertext: Box<[u8; ML_KEM_768_CIPHERTEXT_LEN]>,
}

impl fmt::Debug for PqHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PqHeader")
            .field("prekey_id", &self.prekey_id)
            .finish_non_exhaustive()
    }
}

/// What Alice attaches to her messages until Bob answers: who she is and which of Bob's
/// prekeys she used. Part of [`InitialMessage`] (contract
/// `contracts/ratchet/initial_message.schema.json`).
///
/// `version` is [`ProtocolVersion::V2`] with `pq: None`, or [`ProtocolVersion::V2Pq`] with
/// `pq: Some(..)`; any other combination is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialHeader {
    /// The protocol: `talos-v2` (X3DH) or `talos-v2-pq` (PQXDH).
    pub version: ProtocolVersion,
    /// Alice's Ed25519 identity key (her `did:key`).
    pub identity_key: VerifyingKey,
    /// Alice's ephemeral X25519 key `EK_A`.
    pub ephemeral_key: x25519::PublicKey,
    /// The id of the signed prekey she used.
    pub signed_prekey_id: u32,
    /// The id of the one-time prekey she used, if any.
    pub one_time_prekey_id: Option<u32>,
    /// The ML-KEM prekey id and ciphertext, for PQXDH.
    pub pq: Option<PqHeader>,
}

impl InitialHeader {
    /// Checks that `version` and `pq` agree.
    ///
    /// # Errors
    /// [`HandshakeError::VersionMismatch`] or [`HandshakeError::UnsupportedVersion`].
    pub fn check_version(&self) -> Result<(), HandshakeError> {
        match (self.version, &self.pq) {
            (ProtocolVersion::V2, None) | (ProtocolVersion::V2Pq, Some(_)) => Ok(()),
            (ProtocolVersion::V2, Some(_)) => Err(HandshakeError::VersionMismatch(
                "a talos-v2 header carries a kem ciphertext",
            )),
            (ProtocolVersion::V2Pq, None) => Err(HandshakeError::VersionMismatch(
                "a talos-v2-pq header lacks its kem ciphertext",
            )),
            (other, _) => Err(HandshakeError::UnsupportedVersion(other.as_str())),
        }
    }

    pub(crate) fn record(&self) -> Record<'_> {
        Record::new()
            .with("protocol", Field::text(self.version.as_str()))
            .with(
                "identity_key",
                Field::bytes(&self.identity_key.as_bytes()[..]),
            )
            .with(
                "ephemeral_key",
                Field::bytes(&self.ephemeral_key.as_bytes()[..]),
            )
            .with("signed_prekey_id", Field::uint(self.signed_prekey_id))
            .with_opt(
                "one_time_prekey_id",
                self.one_time_prekey_id.map(Field::uint),
            )
            .with_opt(
                "pq_prekey_id",
                self.pq.as_ref().map(|pq| Field::uint(pq.prekey_id)),
            )
            .with_opt(
                "kem_ciphertext",
                self.pq.as_ref().map(|pq| Field::bytes(&pq.ciphertext[..])),
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

    pub(crate) fn from_repr(repr: HeaderRepr) -> Result<Self, HandshakeDecodeError> {
        let version = ProtocolVersion::from_name(&repr.protocol)
            .ok_or_else(|| HandshakeDecodeError::UnknownProtocol(cut(&repr.protocol)))?;
        let pq = match (repr.pq_prekey_id, repr.kem_ciphertext) {
            (None, None) => None,
            (Some(prekey_id), Some(ct)) => Some(PqHeader {
                prekey_id,
                ciphertext: ct
                    .into_boxed_slice()
                    .try_into()
                    .map_err(|ct: Box<[u8]>| HandshakeDecodeError::CiphertextLength(ct.len()))?,
            }),
            _ => {
                return Err(HandshakeDecodeError::Malformed(
                    "pq_prekey_id and kem_ciphertext go together",
                ));
            }
        };
        let header = Self {
            version,
            identity_key: repr.identity_key,
            ephemeral_key: repr.ephemeral_key,
            signed_prekey_id: repr.signed_prekey_id,
            one_time_prekey_id: repr.one_time_prekey_id,
            pq,
        };
        header.check_version().map_err(|e| match e {
            HandshakeError::UnsupportedVersion(v) => HandshakeDecodeError::UnsupportedProtocol(v),
            _ => HandshakeDecodeError::VersionMismatch,
        })?;
        Ok(header)
    }

    /// Parses the JSON form strictly.
    ///
    /// # Errors
    /// [`HandshakeDecodeError`] naming what is wrong.
    pub fn from_json(input: &[u8]) -> Result<Self, HandshakeDecodeError> {
        check_len(input.len(), MAX_HEADER_LEN)?;
        let value = json::parse(input)?;
        let header = Self::from_repr(json::from_value(&value)?)?;
        if value.to_canonical_vec() != header.to_json() {
            return Err(HandshakeDecodeError::Malformed(
                "not in canonical form: absent members are omitted, never null",
            ));
        }
        Ok(header)
    }

    /// Parses the CBOR form, accepting only its deterministic encoding.
    ///
    /// # Errors
    /// [`HandshakeDecodeError`] naming what is wrong.
    pub fn from_cbor(input: &[u8]) -> Result<Self, HandshakeDecodeError> {
        check_len(input.len(), MAX_HEADER_LEN)?;
        let header = Self::from_repr(cbor::decode(input)?)?;
        if header.to_cbor() != input {
            return Err(CborError::NonCanonical.into());
        }
        Ok(header)
    }
}

/// The decoding side of [`InitialHeader::record`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HeaderRepr {
    protocol: String,
    identity_key: VerifyingKey,
    ephemeral_key: x25519::PublicKey,
    signed_prekey_id: u32,
    #[serde(default)]
    one_time_prekey_id: Option<u32>,
    #[serde(default)]
    pq_prekey_id: Option<u32>,
    #[serde(default, with = "opt_bytes")]
    kem_ciphertext: Option<Vec<u8>>,
}

mod opt_bytes {
    use serde::Deserializer;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        talos_crypto::base64url::serde::deserialize(d).map(Some)
    }
}

/// Longest initial header a decoder parses (the largest, with a KEM ciphertext, is about
/// 1.7 KiB of JSON).
pub const MAX_HEADER_LEN: usize = 4096;

/// Longest JSON initial message a decoder parses: the longest JSON ratchet message and a
/// header.
pub const MAX_INITIAL_MESSAGE_JSON_LEN: usize = message::MAX_JSON_LEN + MAX_HEADER_LEN;

/// Longest CBOR initial message a decoder parses: the longest CBOR ratchet message and a
/// header.
pub const MAX_INITIAL_MESSAGE_CBOR_LEN: usize = message::MAX_CBOR_LEN + MAX_HEADER_LEN;

fn check_len(len: usize, max: usize) -> Result<(), HandshakeDecodeError> {
    if len > max {
        return Err(HandshakeDecodeError::TooLarge { len, max });
    }
    Ok(())
}

/// At most 32 characters of untrusted text, for an error message.
fn cut(text: &str) -> String {
    text.chars().take(32).collect()
}

/// A message Alice sends before Bob has answered: the [`InitialHeader`] and a ratchet
/// [`Message`]. Contract `contracts/ratchet/initial_message.schema.json`.
///
/// - **JSON**: `{"header": {…}, "message": {"ciphertext", "header", "nonce"}}`, RFC 8785
///   canonical, bytes as unpadded base64url; `message` is exactly the ratchet message's JSON
///   ([`Message::to_json`]). Header members: `protocol` (`"talos-v2"` or `"talos-v2-pq"`),
///   `identity_key` (Ed25519, 32 B), `ephemeral_key` (X25519, 32 B), `signed_prekey_id`,
///   optional `one_time_prekey_id`, and for `talos-v2-pq` both `pq_prekey_id` and
///   `kem_ciphertext` (1088 B).
/// - **CBOR**: the deterministic encoding of the map `{"header": {…}, "message": [dh, n, pn,
///   nonce, ciphertext]}`, the header with byte strings and the message in its compact array
///   form ([`Message::to_cbor`]).
///
/// Decoders are strict: unknown, duplicate, missing or `null` members, a version that
/// disagrees with the KEM fields, and any CBOR but the deterministic encoding are refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialMessage {
    /// Who Alice is and which of Bob's prekeys she used.
    pub header: InitialHeader,
    /// The ratchet message.
    pub message: Message,
}

impl InitialMessage {
    /// The canonical JSON form.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        // {"header":…,"message":…}: the two members are already in canonical order.
        let message = self.message.to_json();
        let header = self.header.to_json();
        let mut out = Vec::with_capacity(message.len() + header.len() + 24);
        out.extend_from_slice(br#"{"header":"#);
        out.extend_from_slice(&header);
        out.extend_from_slice(br#","message":"#);
        out.extend_from_slice(&message);
        out.push(b'}');
        out
    }

    /// The deterministic CBOR form.
    #[must_use]
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.message.ciphertext.len() + 1400);
        self.encode_cbor(&mut out);
        out
    }

    /// Appends the deterministic CBOR form to `out`.
    pub fn encode_cbor(&self, out: &mut Vec<u8>) {
        // Keys "header" (6 bytes) and "message" (7): shorter first.
        cbor::write_map_header(out, 2);
        cbor::write_text(out, "header");
        self.header.record().write_cbor(out);
        cbor::write_text(out, "message");
        self.message.encode_cbor(out);
    }

    /// Parses the JSON form strictly.
    ///
    /// # Errors
    /// [`HandshakeDecodeError`] naming what is wrong.
    pub fn from_json(input: &[u8]) -> Result<Self, HandshakeDecodeError> {
        check_len(input.len(), MAX_INITIAL_MESSAGE_JSON_LEN)?;
        let value = json::parse(input)?;
        let map = value
            .as_object()
            .ok_or(HandshakeDecodeError::Malformed("not a JSON object"))?;
        if map.len() != 2 {
            return Err(HandshakeDecodeError::Malformed(
                "an initial message has exactly the members header and message",
            ));
        }
        let header = map
            .get("header")
            .ok_or(HandshakeDecodeError::Malformed("missing member header"))?;
        let message = map
            .get("message")
            .ok_or(HandshakeDecodeError::Malformed("missing member message"))?;
        let header = InitialHeader::from_repr(json::from_value(header)?)?;
        let message = Message::from_json(&message.to_canonical_vec())?;
        let decoded = Self { header, message };
        if value.to_canonical_vec() != decoded.to_json() {
            return Err(HandshakeDecodeError::Malformed(
                "not in canonical form: absent members are omitted, never null",
            ));
        }
        Ok(decoded)
    }

    /// Parses the CBOR form, accepting only its deterministic encoding.
    ///
    /// # Errors
    /// [`HandshakeDecodeError`] naming what is wrong.
    pub fn from_cbor(input: &[u8]) -> Result<Self, HandshakeDecodeError> {
        check_len(input.len(), MAX_INITIAL_MESSAGE_CBOR_LEN)?;
        let repr: InitialRepr = cbor::decode(input)?;
        let header = InitialHeader::from_repr(repr.header)?;
        let MessageRepr(dh, n, pn, nonce, ciphertext) = repr.message;
        // Let the message decoder check lengths and counters on the compact form.
        let mut compact = Vec::with_capacity(ciphertext.len() + 64);
        cbor::write_array_header(&mut compact, 5);
        cbor::write_bytes(&mut compact, &dh);
        cbor::write_uint(&mut compact, n);
        cbor::write_uint(&mut compact, pn);
        cbor::write_bytes(&mut compact, &nonce);
        cbor::write_bytes(&mut compact, &ciphertext);
        let message = Message::from_cbor(&compact)?;
        let decoded = Self { header, message };
        if decoded.to_cbor() != input {
            return Err(CborError::NonCanonical.into());
        }
        Ok(decoded)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InitialRepr {
    header: HeaderRepr,
    message: MessageRepr,
}

/// The compact message array `[dh, n, pn, nonce, ciphertext]`.
#[derive(Deserialize)]
struct MessageRepr(
    #[serde(with = "talos_crypto::base64url::serde")] Vec<u8>,
    u64,
    u64,
    #[serde(with = "talos_crypto::base64url::serde")] Vec<u8>,
    #[serde(with = "talos_crypto::base64url::serde")] Vec<u8>,
);

/// Starts a talos-v2 session as Alice with X3DH: [`agree_initiator`], then a [`Session`]
/// with `SK` as root key, `AD`, a fresh ratchet key (32 more bytes from `rng`) and Bob's
/// signed prekey as his first ratchet key. Wrap each message the session encrypts in an
/// [`InitialMessage`] with the returned header ([`InitialHeader::wrap`]) until
/// [`Session::has_received`] is true. Any ML-KEM prekey in the bundle is ignored; use
/// `pqxdh::initiate` (feature `pq`) for PQXDH.
///
/// # Errors
/// As [`agree_initiator`].
pub fn initiate(
    identity: &SigningKey,
    bundle: &PrekeyBundle,
    rng: &mut impl CryptoRng,
) -> Result<(Session, InitialHeader), HandshakeError> {
    initiate_as(ProtocolVersion::V2, identity, bundle, rng)
}

pub(crate) fn initiate_as(
    version: ProtocolVersion,
    identity: &SigningKey,
    bundle: &PrekeyBundle,
    rng: &mut impl CryptoRng,
) -> Result<(Session, InitialHeader), HandshakeError> {
    let (agreement, header) = agree_initiator_as(version, identity, bundle, rng)?;
    let ratchet = x25519::StaticSecret::generate(rng);
    let (secret_key, associated_data) = agreement.into_parts();
    let session = Session::initiator(
        version,
        secret_key,
        associated_data,
        ratchet,
        &bundle.signed_prekey.key,
    )
    .map_err(|_| HandshakeError::NonContributory)?;
    Ok((session, header))
}

impl InitialHeader {
    /// `InitialMessage { header: self.clone(), message }`.
    #[must_use]
    pub fn wrap(&self, message: Message) -> InitialMessage {
        InitialMessage {
            header: self.clone(),
            message,
        }
    }
}

/// Accepts a session start as Bob: [`agree_responder`], a [`Session`] with `SK` as root key,
/// `AD` and the signed prekey as ratchet key, and the decryption of the first message. The
/// step is transactional: only when the message decrypts is the one-time prekey deleted from
/// `store` (persist it then) and the session returned with the plaintext; on any error the
/// store is unchanged.
///
/// Call it for the first initial message of a session only; later ones carrying the same
/// header belong to the session it returned (see the [module docs](self)).
///
/// # Errors
/// As [`agree_responder`], or [`HandshakeError::FirstMessage`] if the message does not
/// decrypt.
pub fn respond(
    store: &mut PrekeyStore,
    initial: &InitialMessage,
) -> Result<(Session, Zeroizing<Vec<u8>>), HandshakeError> {
    let header = &initial.header;
    let agreement = agree_responder(store, header)?;
    let ratchet = store
        .signed_secret(header.signed_prekey_id)
        .ok_or(HandshakeError::UnknownSignedPrekey(header.signed_prekey_id))?
        .clone();
    let (secret_key, associated_data) = agreement.into_parts();
    let mut session = Session::responder(header.version, secret_key, associated_data, ratchet);
    let plaintext = session.decrypt(&initial.message)?;
    if let Some(id) = header.one_time_prekey_id {
        store.consume_one_time(id);
    }
    Ok((session, plaintext))
}

/// X3DH as Alice: verifies the bundle, draws `EK_A` (32 bytes from `rng`) and computes `SK`
/// and `AD` with [`X3DH_INFO`], ignoring any ML-KEM prekey in the bundle. The header is what
/// Bob needs to do the same ([`agree_responder`]).
///
/// Most callers want [`initiate`], which also starts the [`Session`].
///
/// # Errors
/// [`HandshakeError::BadSignature`] if the signed prekey's signature does not verify;
/// [`HandshakeError::NonContributory`] if a key in the bundle has small order.
pub fn agree_initiator(
    identity: &SigningKey,
    bundle: &PrekeyBundle,
    rng: &mut impl CryptoRng,
) -> Result<(Agreement, InitialHeader), HandshakeError> {
    agree_initiator_as(ProtocolVersion::V2, identity, bundle, rng)
}

/// [`agree_initiator`] for `version` ([`ProtocolVersion::V2`] or, with feature `pq`,
/// [`ProtocolVersion::V2Pq`]).
pub(crate) fn agree_initiator_as(
    version: ProtocolVersion,
    identity: &SigningKey,
    bundle: &PrekeyBundle,
    rng: &mut impl CryptoRng,
) -> Result<(Agreement, InitialHeader), HandshakeError> {
    let bob = &bundle.identity_key;
    bundle
        .signed_prekey
        .verify(bob)
        .map_err(|_| HandshakeError::BadSignature)?;
    let pq_prekey = match version {
        ProtocolVersion::V2 => None,
        ProtocolVersion::V2Pq => {
            let pq = bundle
                .pq_prekey
                .as_ref()
                .ok_or(HandshakeError::MissingPqPrekey)?;
            pq.verify(bob).map_err(|_| HandshakeError::BadPqSignature)?;
            Some(pq)
        }
        other => return Err(HandshakeError::UnsupportedVersion(other.as_str())),
    };
    let ephemeral = x25519::StaticSecret::generate(rng);
    let spk = &bundle.signed_prekey.key;
    let mut km = KeyMaterial::new();
    km.push(identity.to_x25519().diffie_hellman(spk)?.as_bytes());
    km.push(ephemeral.diffie_hellman(&bob.to_x25519())?.as_bytes());
    km.push(ephemeral.diffie_hellman(spk)?.as_bytes());
    if let Some(opk) = &bundle.one_time_prekey {
        km.push(ephemeral.diffie_hellman(&opk.key)?.as_bytes());
    }
    let pq = match pq_prekey {
        None => None,
        Some(pq) => Some(encapsulate(pq, &mut km, rng)?),
    };
    let header = InitialHeader {
        version,
        identity_key: identity.verifying_key(),
        ephemeral_key: ephemeral.public_key(),
        signed_prekey_id: bundle.signed_prekey.id,
        one_time_prekey_id: bundle.one_time_prekey.map(|k| k.id),
        pq,
    };
    drop(ephemeral);
    let agreement = km.finish(version, &header.identity_key, bob)?;
    Ok((agreement, header))
}

#[cfg(feature = "pq")]
fn encapsulate(
    pq: &crate::prekeys::PqPrekey,
    km: &mut KeyMaterial,
    rng: &mut impl CryptoRng,
) -> Result<PqHeader, HandshakeError> {
    let (ciphertext, shared) = crate::pqxdh::encapsulate(&pq.key, rng)?;
    km.push(&shared[..]);
    Ok(PqHeader {
        prekey_id: pq.id,
        ciphertext,
    })
}

#[cfg(not(feature = "pq"))]
fn encapsulate(
    _: &crate::prekeys::PqPrekey,
    _: &mut KeyMaterial,
    _: &mut impl CryptoRng,
) -> Result<PqHeader, HandshakeError> {
    Err(HandshakeError::UnsupportedVersion(
        ProtocolVersion::V2Pq.as_str(),
    ))
}

/// X3DH (or PQXDH, by the header's version) as Bob: finds the prekeys the header names and
/// computes `SK` and `AD`. Nothing in the store changes; [`respond`] deletes the one-time
/// prekey once the first message decrypts.
///
/// # Errors
/// [`HandshakeError::UnknownSignedPrekey`], [`HandshakeError::OneTimePrekeyUsed`],
/// [`HandshakeError::UnknownOneTimePrekey`], [`HandshakeError::UnknownPqPrekey`],
/// [`HandshakeError::NonContributory`], [`HandshakeError::VersionMismatch`] or
/// [`HandshakeError::UnsupportedVersion`].
pub fn agree_responder(
    store: &PrekeyStore,
    header: &InitialHeader,
) -> Result<Agreement, HandshakeError> {
    header.check_version()?;
    #[cfg(not(feature = "pq"))]
    if header.pq.is_some() {
        return Err(HandshakeError::UnsupportedVersion(
            ProtocolVersion::V2Pq.as_str(),
        ));
    }
    let spk = store
        .signed_secret(header.signed_prekey_id)
        .ok_or(HandshakeError::UnknownSignedPrekey(header.signed_prekey_id))?;
    let opk = header
        .one_time_prekey_id
        .map(|id| {
            store.one_time_secret(id).map_err(|e| match e {
                OneTimeLookup::Used => HandshakeError::OneTimePrekeyUsed(id),
                OneTimeLookup::Unknown => HandshakeError::UnknownOneTimePrekey(id),
            })
        })
        .transpose()?;
    #[cfg(feature = "pq")]
    let pq_seed = header
        .pq
        .as_ref()
        .map(|pq| {
            store
                .pq_entry(pq.prekey_id)
                .map(|e| (&e.seed, &pq.ciphertext))
                .ok_or(HandshakeError::UnknownPqPrekey(pq.prekey_id))
        })
        .transpose()?;
    let alice_dh = header.identity_key.to_x25519();
    let ek = &header.ephemeral_key;
    let mut km = KeyMaterial::new();
    km.push(spk.diffie_hellman(&alice_dh)?.as_bytes());
    km.push(store.identity_dh().diffie_hellman(ek)?.as_bytes());
    km.push(spk.diffie_hellman(ek)?.as_bytes());
    if let Some(opk) = opk {
        km.push(opk.diffie_hellman(ek)?.as_bytes());
    }
    #[cfg(feature = "pq")]
    if let Some((seed, ciphertext)) = pq_seed {
        let shared = crate::pqxdh::decapsulate(seed, ciphertext);
        km.push(&shared[..]);
    }
    km.finish(header.version, &header.identity_key, &store.identity_key())
}

/// `DH1 ‖ DH2 ‖ DH3 [‖ DH4] [‖ SS]`, zeroized on drop.
struct KeyMaterial(Zeroizing<Vec<u8>>);

impl KeyMaterial {
    fn new() -> Self {
        Self(Zeroizing::new(Vec::with_capacity(5 * 32)))
    }

    fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn finish(
        self,
        version: ProtocolVersion,
        alice: &VerifyingKey,
        bob: &VerifyingKey,
    ) -> Result<Agreement, HandshakeError> {
        let info = if version == ProtocolVersion::V2Pq {
            PQXDH_INFO
        } else {
            X3DH_INFO
        };
        let mut secret_key = Zeroizing::new([0u8; 32]);
        kdf(info, &self.0, secret_key.as_mut()).map_err(|_| HandshakeError::NonContributory)?;
        let mut associated_data = [0u8; ASSOCIATED_DATA_LEN];
        associated_data[..32].copy_from_slice(alice.as_bytes());
        associated_data[32..].copy_from_slice(bob.as_bytes());
        Ok(Agreement {
            secret_key,
            associated_data,
            version,
        })
    }
}

/// Why a session start failed. Bob's prekey store is unchanged in every case.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The bundle's signed prekey signature does not verify under its identity key: the
    /// bundle is forged or corrupt. Do not contact the peer with it.
    #[error("invalid signed prekey signature")]
    BadSignature,
    /// The bundle's ML-KEM prekey signature does not verify under its identity key.
    #[error("invalid pq prekey signature")]
    BadPqSignature,
    /// PQXDH needs a bundle with an ML-KEM-768 prekey; this one has none.
    #[error("the prekey bundle has no pq prekey")]
    MissingPqPrekey,
    /// The bundle's ML-KEM-768 key is not a valid encapsulation key.
    #[error("invalid ml-kem-768 encapsulation key")]
    InvalidPqKey,
    /// A Diffie-Hellman output was all zeros: a key of small order. Drop the input.
    #[error("key agreement failed: non-contributory diffie-hellman")]
    NonContributory,
    /// The initial message names a signed prekey this store does not hold (never issued, or
    /// expired after rotation). The sender needs a fresh bundle.
    #[error("unknown signed prekey id {0}")]
    UnknownSignedPrekey(u32),
    /// The initial message names a one-time prekey that was already consumed: a replay, or
    /// a second session start with the same prekey. Drop it.
    #[error("one-time prekey {0} already used")]
    OneTimePrekeyUsed(u32),
    /// The initial message names a one-time prekey this store never issued.
    #[error("unknown one-time prekey id {0}")]
    UnknownOneTimePrekey(u32),
    /// The initial message names an ML-KEM prekey this store does not hold.
    #[error("unknown pq prekey id {0}")]
    UnknownPqPrekey(u32),
    /// The header's protocol version and its contents disagree (e.g. `talos-v2` with a KEM
    /// ciphertext), or a message of one version met a session of another.
    #[error("protocol version mismatch: {0}")]
    VersionMismatch(&'static str),
    /// A protocol version this operation or build does not support (`talos-v1.1` never
    /// starts with X3DH; `talos-v2-pq` needs the `pq` feature).
    #[error("unsupported protocol version {0} for this session start")]
    UnsupportedVersion(&'static str),
    /// The first message was rejected by the new session ([`DecryptError::DecryptionFailed`]
    /// when it did not authenticate under the agreed keys: forged, corrupted, or not for this
    /// identity). Nothing was stored; drop it.
    #[error("first message rejected: {0}")]
    FirstMessage(#[from] DecryptError),
}

impl From<talos_crypto::KeyAgreementError> for HandshakeError {
    fn from(_: talos_crypto::KeyAgreementError) -> Self {
        Self::NonContributory
    }
}

impl From<&HandshakeError> for ErrorCode {
    fn from(err: &HandshakeError) -> Self {
        match err {
            HandshakeError::BadSignature
            | HandshakeError::BadPqSignature
            | HandshakeError::NonContributory => Self::CryptoError,
            HandshakeError::FirstMessage(e) => Self::from(e),
            HandshakeError::VersionMismatch(_) | HandshakeError::UnsupportedVersion(_) => {
                Self::ProtocolMismatch
            }
            _ => Self::InvalidInput,
        }
    }
}

/// Why an initial header or message could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeDecodeError {
    /// The CBOR form is malformed or not deterministic.
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// The JSON form is not strict JSON of the right shape.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// Longer than its limit ([`MAX_HEADER_LEN`], [`MAX_INITIAL_MESSAGE_JSON_LEN`] or
    /// [`MAX_INITIAL_MESSAGE_CBOR_LEN`]); refused unparsed.
    #[error("initial message too large: {len} bytes, maximum {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The `protocol` member names no protocol this crate knows (shown cut to 32
    /// characters).
    #[error("unknown protocol {0:?}")]
    UnknownProtocol(String),
    /// A protocol that does not start with an initial message (`talos-v1.1`).
    #[error("unsupported protocol version {0} for this session start")]
    UnsupportedProtocol(&'static str),
    /// `protocol` and the presence of the KEM ciphertext disagree.
    #[error("protocol version mismatch between protocol and kem ciphertext")]
    VersionMismatch,
    /// The KEM ciphertext is not 1088 bytes.
    #[error("wrong ml-kem-768 ciphertext length: expected 1088 bytes, got {0}")]
    CiphertextLength(usize),
    /// Well-formed, but inconsistent or not canonical.
    #[error("malformed initial message: {0}")]
    Malformed(&'static str),
    /// The ratchet message inside is malformed.
    #[error("invalid ratchet message: {0}")]
    Message(#[from] MessageError),
}

impl From<&HandshakeDecodeError> for ErrorCode {
    fn from(err: &HandshakeDecodeError) -> Self {
        match err {
            HandshakeDecodeError::UnknownProtocol(_)
            | HandshakeDecodeError::UnsupportedProtocol(_)
            | HandshakeDecodeError::VersionMismatch => Self::ProtocolMismatch,
            _ => Self::InvalidInput,
        }
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng as _;

    use super::*;

    /// AD binding: a responder session with the right `SK` and ratchet key but another `AD`
    /// cannot read Alice's first message, and one with the right `AD` can.
    #[test]
    fn associated_data_is_bound_into_every_message() {
        let mut rng = ChaCha20Rng::from_seed([21; 32]);
        let alice = SigningKey::from_seed(&[1; 32]);
        let store = PrekeyStore::new(SigningKey::from_seed(&[2; 32]), &mut rng);
        let bundle = store.bundle(None).unwrap();
        let (mut session, header) = initiate(&alice, &bundle, &mut rng).unwrap();
        let message = session.encrypt(b"bound", &mut rng).unwrap();
        let spk = store
            .signed_secret(header.signed_prekey_id)
            .unwrap()
            .clone();

        let agreement = agree_responder(&store, &header).unwrap();
        let (sk, ad) = agreement.into_parts();
        let mut other_ad = ad.clone();
        other_ad[63] ^= 1;
        for wrong in [
            other_ad,
            ad[32..].iter().chain(&ad[..32]).copied().collect(),
            vec![],
        ] {
            let mut bob = Session::responder(ProtocolVersion::V2, sk.clone(), wrong, spk.clone());
            assert_eq!(
                bob.decrypt(&message).unwrap_err(),
                DecryptError::DecryptionFailed
            );
        }
        // Same keys, another version (and so another AAD rule or session kind): refused.
        let mut v1 = Session::responder(ProtocolVersion::V1_1, sk.clone(), ad.clone(), spk.clone());
        assert!(v1.decrypt(&message).is_err());
        let mut bob = Session::responder(ProtocolVersion::V2, sk, ad, spk);
        assert_eq!(&bob.decrypt(&message).unwrap()[..], b"bound");
    }

    #[test]
    fn secret_holders_zeroize_on_drop() {
        fn zeroized_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        zeroized_on_drop::<Agreement>();
        zeroized_on_drop::<PrekeyStore>();
        zeroized_on_drop::<Session>();
    }

    #[test]
    fn kdf_prefix_is_thirty_two_ff_bytes() {
        let mut with_prefix = [0u8; 32];
        kdf(b"info", b"km", &mut with_prefix).unwrap();
        let mut ikm = vec![0xff; 32];
        ikm.extend_from_slice(b"km");
        let mut direct = [0u8; 32];
        hkdf_sha256(None, &ikm, b"info", &mut direct).unwrap();
        assert_eq!(with_prefix, direct, "a zero salt equals no salt");
    }
}
