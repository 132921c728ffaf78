//! [`SignedMessage`]: any JSON value signed with an Ed25519 identity key, by the upstream
//! Talos rule (the signature covers the canonical JSON of every field but `sig`).

use crate::ed25519::{Signature, SigningKey, VerifyingKey};
use crate::error::{KeyError, VerifyError};
use crate::json::{self, JsonError, Map, Value};

/// The JSON form:
///
/// ```json
/// {"payload": <any JSON>, "sig": "<base64url Ed25519 signature>", "signer": "<base64url key>", "v": 1}
/// ```
///
/// `sig` is the signature over `canonical({"payload", "signer", "v"})`, RFC 8785. A
/// `SignedMessage` value always carries a valid signature: [`SignedMessage::from_json`]
/// verifies before it returns. Whether the signer is one you trust is for the caller to decide.
///
/// ```
/// use talos_crypto::{SignedMessage, SigningKey, json};
///
/// let key = SigningKey::from_seed(&[1; 32]);
/// let msg = SignedMessage::sign(&key, json::parse(br#"{"hello":"world"}"#).unwrap()).unwrap();
/// let bytes = msg.to_json();
/// let back = SignedMessage::from_json(&bytes).unwrap();
/// assert_eq!(back.signer(), &key.verifying_key());
/// assert_eq!(back.payload().get("hello").and_then(|v| v.as_str()), Some("world"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SignedMessage {
    signer: VerifyingKey,
    payload: Value,
    signature: Signature,
}

impl SignedMessage {
    /// The format version this crate writes and reads.
    pub const VERSION: u32 = 1;

    /// Signs `payload`, which must fit the signing profile: integers within ±(2^53 − 1) and
    /// no floats (see [`json`]).
    ///
    /// # Errors
    /// [`JsonError::Unsupported`] if `payload` holds a non-integral or out-of-range number.
    pub fn sign(key: &SigningKey, payload: Value) -> Result<Self, JsonError> {
        json::check_signing_profile(&payload)?;
        let signer = key.verifying_key();
        let signature = key.sign(&signing_input(&signer, &payload));
        Ok(Self {
            signer,
            payload,
            signature,
        })
    }

    /// Signs any serializable value (see [`json::to_value`]).
    ///
    /// # Errors
    /// As [`json::to_value`].
    pub fn sign_serialize<T: serde::Serialize + ?Sized>(
        key: &SigningKey,
        payload: &T,
    ) -> Result<Self, JsonError> {
        Self::sign(key, json::to_value(payload)?)
    }

    /// Who signed.
    #[must_use]
    pub fn signer(&self) -> &VerifyingKey {
        &self.signer
    }

    /// What was signed.
    #[must_use]
    pub fn payload(&self) -> &Value {
        &self.payload
    }

    /// The signature.
    #[must_use]
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The canonical JSON form.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        let mut map = unsigned_fields(&self.signer, &self.payload);
        map.insert(
            "sig".into(),
            Value::String(crate::base64url::encode(&self.signature.to_bytes())),
        );
        Value::Object(map).to_canonical_vec()
    }

    /// Parses (strictly, see [`json::parse`]) and verifies a signed message. Any formatting of
    /// the JSON is accepted; the signature is checked over the canonical form.
    ///
    /// # Errors
    /// [`SignedMessageError`]: malformed JSON, missing or unknown fields, an unsupported
    /// version, an invalid key, or a signature that does not verify.
    pub fn from_json(input: &[u8]) -> Result<Self, SignedMessageError> {
        let Value::Object(mut map) = json::parse(input)? else {
            return Err(SignedMessageError::Malformed("not a JSON object"));
        };
        if map.len() != 4 {
            return Err(SignedMessageError::Malformed(
                "expected exactly the fields payload, sig, signer, v",
            ));
        }
        let version = match map.get("v") {
            Some(Value::Number(n)) => n.as_u64(),
            _ => None,
        }
        .ok_or(SignedMessageError::Malformed("v must be an integer"))?;
        if version != u64::from(Self::VERSION) {
            return Err(SignedMessageError::UnsupportedVersion(version));
        }
        let signer = b64u_field::<32>(&map, "signer")?;
        let signer =
            VerifyingKey::from_bytes(&signer).map_err(SignedMessageError::InvalidSigner)?;
        let signature = Signature::from_bytes(&b64u_field::<64>(&map, "sig")?);
        let payload = map
            .remove("payload")
            .ok_or(SignedMessageError::Malformed("missing field payload"))?;
        signer
            .verify(&signing_input(&signer, &payload), &signature)
            .map_err(|VerifyError| SignedMessageError::BadSignature)?;
        Ok(Self {
            signer,
            payload,
            signature,
        })
    }
}

fn b64u_field<const N: usize>(
    map: &Map,
    name: &'static str,
) -> Result<[u8; N], SignedMessageError> {
    let text = map
        .get(name)
        .and_then(Value::as_str)
        .ok_or(SignedMessageError::Malformed(
            "signer and sig must be base64url strings",
        ))?;
    crate::base64url::decode_array::<N>(text).map_err(|_| {
        SignedMessageError::Malformed("signer and sig must be base64url of 32 and 64 bytes")
    })
}

fn unsigned_fields(signer: &VerifyingKey, payload: &Value) -> Map {
    let mut map = Map::new();
    map.insert("payload".into(), payload.clone());
    map.insert(
        "signer".into(),
        Value::String(crate::base64url::encode(signer.as_bytes())),
    );
    map.insert("v".into(), Value::Number(SignedMessage::VERSION.into()));
    map
}

fn signing_input(signer: &VerifyingKey, payload: &Value) -> Vec<u8> {
    Value::Object(unsigned_fields(signer, payload)).to_canonical_vec()
}

/// Why a signed message was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignedMessageError {
    /// Not strict JSON.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// JSON, but not a signed message.
    #[error("malformed signed message: {0}")]
    Malformed(&'static str),
    /// A version this crate does not read.
    #[error("unsupported signed message version {0}")]
    UnsupportedVersion(u64),
    /// The signer field is not a valid Ed25519 key.
    #[error("invalid signer key: {0}")]
    InvalidSigner(KeyError),
    /// The signature does not verify; treat the message as forged.
    #[error("invalid signature on signed message")]
    BadSignature,
}
