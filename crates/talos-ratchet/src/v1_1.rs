//! The upstream talos-v1.1 session start: **interop only, weaker than talos-v2**.
//!
//! Upstream Talos v1.1 starts a Double Ratchet session with a single Diffie-Hellman between
//! the initiator's ephemeral key and the responder's signed prekey (REFERENCE.md §2.2). **No
//! identity key enters the key agreement**: the only authentication is the Ed25519 signature
//! on the signed prekey, which says the prekey is Bob's, but nothing proves to Bob who Alice
//! is, and a session does not bind either party's identity. Use it only to talk to upstream
//! implementations; talos-v2 ([`crate::x3dh`]) is the default. Calling this module is the
//! explicit opt-in; sessions it makes record [`ProtocolVersion::V1_1`].
//!
//! Initiator (Alice), from Bob's [`PrekeyBundle`]:
//! 1. verify `prekey_signature` = Ed25519(identity, raw 32 bytes of the signed prekey);
//! 2. generate `EKa` (32 bytes of randomness); it is also Alice's first ratchet key;
//! 3. `dh = X25519(EKa, SPKb)`, `RK0 = HKDF(dh, "x3dh-init", 32)`;
//! 4. `(RK, CKs) = KDF_RK(RK0, dh)`; `DHs = EKa`, `DHr = SPKb`.
//!
//! Responder (Bob), from the first message he receives: `dh = X25519(SPKb, header.dh)`,
//! `RK0 = HKDF(dh, "x3dh-init", 32)`, and the first decrypt does `(RK, CKr) = KDF_RK(RK0, dh)`.
//!
//! ```
//! use talos_crypto::{SigningKey, x25519::StaticSecret};
//! use talos_ratchet::v1_1;
//! # use rand_chacha::rand_core::SeedableRng as _;
//! # let mut rng = rand_chacha::ChaCha20Rng::from_seed([1; 32]);
//!
//! let bob_identity = SigningKey::from_seed(&[2; 32]);
//! let bob_spk = StaticSecret::generate(&mut rng);
//! let bundle = v1_1::PrekeyBundle::new(&bob_identity, &bob_spk.public_key());
//! let bundle = v1_1::PrekeyBundle::from_json(&bundle.to_json()).unwrap(); // as published
//!
//! let mut alice = v1_1::initiate(&bundle, &mut rng).unwrap();
//! let wire = alice.encrypt(b"Hello Bob", &mut rng).unwrap().to_wire_b64u();
//!
//! let first = talos_ratchet::message::Message::from_wire_b64u(&wire).unwrap();
//! let (mut bob, plaintext) = v1_1::accept(&bob_spk, &first).unwrap();
//! assert_eq!(&plaintext[..], b"Hello Bob");
//! let reply = bob.encrypt(b"Hi Alice", &mut rng).unwrap();
//! assert_eq!(&alice.decrypt(&reply).unwrap()[..], b"Hi Alice");
//! ```

use talos_crypto::json::{self, JsonError, Value};
use talos_crypto::x25519::{PublicKey, StaticSecret};
use talos_crypto::{
    CryptoRng, ErrorCode, Signature, SigningKey, VerifyingKey, Zeroizing, base64url,
};

use crate::ProtocolVersion;
use crate::kdf::start_v1_1;
use crate::message::{Header, Message};
use crate::session::{DecryptError, Session};

/// Bob's talos-v1.1 prekey bundle (`schemas/crypto/x3dh_prekey_bundle.schema.json`): his
/// Ed25519 identity key, his X25519 signed prekey, and the identity key's Ed25519 signature
/// over the raw 32 bytes of that prekey. (The schema says "XEdDSA"; upstream signs with plain
/// Ed25519.) One-time prekeys are not used by talos-v1.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrekeyBundle {
    identity_key: VerifyingKey,
    signed_prekey: PublicKey,
    prekey_signature: Signature,
}

impl PrekeyBundle {
    /// Signs `signed_prekey` with `identity`.
    #[must_use]
    pub fn new(identity: &SigningKey, signed_prekey: &PublicKey) -> Self {
        Self {
            identity_key: identity.verifying_key(),
            signed_prekey: *signed_prekey,
            prekey_signature: identity.sign(signed_prekey.as_bytes()),
        }
    }

    /// A bundle from its parts; nothing is checked until [`PrekeyBundle::verify`].
    #[must_use]
    pub fn from_parts(
        identity_key: VerifyingKey,
        signed_prekey: PublicKey,
        prekey_signature: Signature,
    ) -> Self {
        Self {
            identity_key,
            signed_prekey,
            prekey_signature,
        }
    }

    /// Bob's Ed25519 identity key.
    #[must_use]
    pub fn identity_key(&self) -> &VerifyingKey {
        &self.identity_key
    }

    /// Bob's X25519 signed prekey.
    #[must_use]
    pub fn signed_prekey(&self) -> &PublicKey {
        &self.signed_prekey
    }

    /// The identity key's signature over the signed prekey's 32 bytes.
    #[must_use]
    pub fn prekey_signature(&self) -> &Signature {
        &self.prekey_signature
    }

    /// Checks the prekey signature.
    ///
    /// # Errors
    /// [`StartError::InvalidSignature`] if it does not verify.
    pub fn verify(&self) -> Result<(), StartError> {
        self.identity_key
            .verify(self.signed_prekey.as_bytes(), &self.prekey_signature)
            .map_err(|_| StartError::InvalidSignature)
    }

    /// Canonical JSON `{"identity_key","prekey_signature","signed_prekey"}`, base64url.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        let mut map = json::Map::new();
        for (name, bytes) in [
            ("identity_key", &self.identity_key.as_bytes()[..]),
            ("prekey_signature", &self.prekey_signature.to_bytes()[..]),
            ("signed_prekey", &self.signed_prekey.as_bytes()[..]),
        ] {
            map.insert(name.to_owned(), Value::String(base64url::encode(bytes)));
        }
        Value::Object(map).to_canonical_vec()
    }

    /// Parses the upstream JSON bundle strictly: the three members, plus an optional
    /// `one_time_prekey` that must be `null` (upstream never uses one). Nothing is verified.
    ///
    /// # Errors
    /// [`BundleError`] naming what is wrong.
    pub fn from_json(input: &[u8]) -> Result<Self, BundleError> {
        if input.len() > 4096 {
            return Err(BundleError::Malformed("bundle too large"));
        }
        Self::from_value(&json::parse(input)?)
    }

    /// As [`PrekeyBundle::from_json`], from a parsed JSON value.
    ///
    /// # Errors
    /// [`BundleError`] naming what is wrong.
    pub fn from_value(value: &Value) -> Result<Self, BundleError> {
        let map = value
            .as_object()
            .ok_or(BundleError::Malformed("not a JSON object"))?;
        for (key, member) in map {
            match key.as_str() {
                "identity_key" | "signed_prekey" | "prekey_signature" => {}
                "one_time_prekey" if *member == Value::Null => {}
                "one_time_prekey" => return Err(BundleError::OneTimePrekeyUnsupported),
                other => {
                    return Err(BundleError::UnexpectedField(
                        other.chars().take(64).collect(),
                    ));
                }
            }
        }
        let bytes = |name: &'static str| -> Result<Vec<u8>, BundleError> {
            let text = map
                .get(name)
                .ok_or(BundleError::MissingField(name))?
                .as_str()
                .ok_or(BundleError::Malformed("members must be base64url strings"))?;
            base64url::decode(text).map_err(|_| BundleError::InvalidBase64(name))
        };
        let identity_key = VerifyingKey::from_slice(&bytes("identity_key")?)
            .map_err(|_| BundleError::InvalidKey("identity_key"))?;
        let signed_prekey = PublicKey::from_slice(&bytes("signed_prekey")?)
            .map_err(|_| BundleError::InvalidKey("signed_prekey"))?;
        let prekey_signature = Signature::from_slice(&bytes("prekey_signature")?)
            .map_err(|_| BundleError::InvalidKey("prekey_signature"))?;
        Ok(Self {
            identity_key,
            signed_prekey,
            prekey_signature,
        })
    }
}

/// Alice's side: verifies the bundle, generates `EKa` from `rng` (exactly 32 bytes), and
/// returns her session, ready to [`encrypt`](Session::encrypt).
///
/// # Errors
/// [`StartError::InvalidSignature`] for a bad prekey signature (upstream
/// `X3DH_INVALID_SIGNATURE`); [`StartError::InvalidDhKey`] for a small-order signed prekey.
pub fn initiate(bundle: &PrekeyBundle, rng: &mut impl CryptoRng) -> Result<Session, StartError> {
    bundle.verify()?;
    let eka = StaticSecret::generate(rng);
    let dh = eka
        .diffie_hellman(&bundle.signed_prekey)
        .map_err(|_| StartError::InvalidDhKey)?;
    let rk0 = start_v1_1(dh.as_bytes());
    Session::initiator(
        ProtocolVersion::V1_1,
        Zeroizing::new(*rk0.as_bytes()),
        Vec::new(),
        eka,
        &bundle.signed_prekey,
    )
    .map_err(|_| StartError::InvalidDhKey)
}

/// Bob's side, step one: the session for a conversation whose first message has header
/// `first_header`, before anything is decrypted. Prefer [`accept`], which also decrypts the
/// message and so only returns a session for a message that authenticates.
///
/// # Errors
/// [`StartError::InvalidDhKey`] for a small-order ephemeral key.
pub fn respond(signed_prekey: &StaticSecret, first_header: &Header) -> Result<Session, StartError> {
    let dh = signed_prekey
        .diffie_hellman(&first_header.dh)
        .map_err(|_| StartError::InvalidDhKey)?;
    let rk0 = start_v1_1(dh.as_bytes());
    Ok(Session::responder(
        ProtocolVersion::V1_1,
        Zeroizing::new(*rk0.as_bytes()),
        Vec::new(),
        signed_prekey.clone(),
    ))
}

/// Bob's side: the session started by `first_message` (any message of Alice's first chain),
/// with the message's plaintext.
///
/// # Errors
/// [`StartError::InvalidDhKey`], or [`StartError::Decrypt`] if the message does not decrypt
/// (no session is returned then).
pub fn accept(
    signed_prekey: &StaticSecret,
    first_message: &Message,
) -> Result<(Session, Zeroizing<Vec<u8>>), StartError> {
    let mut session = respond(signed_prekey, &first_message.header)?;
    let plaintext = session.decrypt(first_message)?;
    Ok((session, plaintext))
}

/// A talos-v1.1 session could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The bundle's prekey signature does not verify (upstream `X3DH_INVALID_SIGNATURE`).
    /// Do not talk to this bundle.
    #[error("invalid prekey signature")]
    InvalidSignature,
    /// A key has small order, so the DH output would be all zeros. Reject the peer.
    #[error("invalid dh key: small-order key")]
    InvalidDhKey,
    /// The first message did not decrypt.
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
}

impl From<&StartError> for ErrorCode {
    fn from(err: &StartError) -> Self {
        match err {
            StartError::Decrypt(e) => e.into(),
            _ => Self::CryptoError,
        }
    }
}

/// A talos-v1.1 prekey bundle could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Not JSON, or JSON the strict parser refuses.
    #[error("invalid bundle: {0}")]
    Json(#[from] JsonError),
    /// Not a bundle object, or a member of the wrong type.
    #[error("invalid bundle: {0}")]
    Malformed(&'static str),
    /// A required member is missing.
    #[error("invalid bundle: missing field {0}")]
    MissingField(&'static str),
    /// A member the bundle does not have.
    #[error("invalid bundle: unexpected field {0:?}")]
    UnexpectedField(String),
    /// A member is not strict base64url.
    #[error("invalid bundle: invalid base64url in {0}")]
    InvalidBase64(&'static str),
    /// A key or the signature has the wrong length, or the identity key is not a valid
    /// Ed25519 point.
    #[error("invalid bundle: invalid {0}")]
    InvalidKey(&'static str),
    /// A non-null `one_time_prekey`: talos-v1.1 does not use one-time prekeys.
    #[error("invalid bundle: one-time prekeys are not used by talos-v1.1")]
    OneTimePrekeyUnsupported,
}
