//! [`Document`]: a W3C DID Core document, generated from a DID or parsed strictly, in canonical
//! JSON and deterministic CBOR.
//!
//! **Generation.** [`Document::resolve_with`] expands a `did:key` exactly as the did:key method
//! specifies, with the X25519 key-agreement key derived from the Ed25519 key (id `#z6LS…`, the
//! X25519 key's multibase), in one of three [`Style`]s: `Multikey` (the current spec; the
//! default), `Ed25519VerificationKey2018` (`publicKeyBase58`) or `JsonWebKey2020`
//! (`publicKeyJwk`) — the latter two as in the W3C CCG test vectors. A `did:peer:0` expands
//! the same way under its own id; a `did:peer:2` expands as its spec says (`#key-N` Multikey
//! methods, services `#service`, `#service-1`, …). Talos services are added with
//! [`Document::with_talos_agent`] and [`Document::with_mcp_tools`].
//!
//! **Encodings.** The JSON form is RFC 8785 canonical JSON. The CBOR form is the same JSON
//! value in deterministic CBOR (RFC 8949 §4.2.1): text strings, unsigned and negative
//! integers, `null`/`true`/`false`, definite-length arrays and maps with keys sorted by their
//! encoding (shorter first, then bytewise). Numbers are integers within ±(2^53 − 1) (the
//! Talos signing profile); floating-point numbers are refused in both forms.
//!
//! **Parsing** is strict where the shape is ours to define and faithful everywhere else: every
//! accepted document re-encodes to the canonical form of its input. Required: `@context`
//! (first `https://www.w3.org/ns/did/v1`) and a syntactically valid `id`. Verification
//! methods have exactly `id`, `type`, `controller` and the one key member their type uses;
//! their keys are Ed25519 or X25519 and checked like `did:key`s. Ids of methods and services
//! are `#fragment` or `<document id>#fragment`, and unique. Relationships hold references to
//! methods of this document (or embedded methods); `keyAgreement` keys are X25519, the other
//! relationships' keys Ed25519. Lists are non-empty (omit the member instead). Other top-level
//! members (DID Core's `controller`, `alsoKnownAs`, and extensions) are kept as JSON values.
//! Bounds: [`MAX_METHODS`], [`MAX_SERVICES`], [`MAX_DOCUMENT_LEN`].
//!
//! ```
//! use talos_crypto::SigningKey;
//! use talos_did::{Did, Document, Style};
//!
//! let key = SigningKey::from_seed(&[1; 32]).verifying_key();
//! let did = Did::from(key);
//! let doc = Document::resolve_with(&did, Style::Multikey)
//!     .with_talos_agent(["/ip4/203.0.113.7/tcp/4001"])
//!     .unwrap()
//!     .with_mcp_tools(["read_file", "search"])
//!     .unwrap();
//! assert_eq!(doc.signing_key(), Some(key));
//! assert_eq!(doc.key_agreement_key(), Some(key.to_x25519()));
//! assert_eq!(Document::from_json(&doc.to_json()).unwrap(), doc);
//! assert_eq!(Document::from_cbor(&doc.to_cbor()).unwrap(), doc);
//! doc.check_did(&did).unwrap();
//! ```

use std::collections::BTreeSet;

use talos_crypto::json::{self, JsonError, Map, Number, Value};
use talos_crypto::{CborError, VerifyingKey, base64url, cbor, x25519};

use crate::did::{Did, is_did_syntax};
use crate::peer::{Element, PeerDid};
use crate::{DidError, DidKey};

/// The most verification methods a document may hold, embedded ones included.
pub const MAX_METHODS: usize = 64;
/// The most services a document may hold.
pub const MAX_SERVICES: usize = 64;
/// The largest document, in bytes of its canonical JSON (and of any input form).
pub const MAX_DOCUMENT_LEN: usize = 64 * 1024;
/// The deepest nesting of arrays and objects inside one service.
pub const MAX_SERVICE_DEPTH: usize = 16;
/// The most addresses of a `TalosAgent` service and tools of a `TalosMcp` service.
pub const MAX_SERVICE_ITEMS: usize = 256;

/// The DID Core context, first in every document's `@context`.
pub const DID_CONTEXT: &str = "https://www.w3.org/ns/did/v1";
/// The Multikey context (VC Data Integrity).
pub const MULTIKEY_CONTEXT: &str = "https://w3id.org/security/multikey/v1";
/// The Ed25519VerificationKey2018 suite context.
pub const ED25519_2018_CONTEXT: &str = "https://w3id.org/security/suites/ed25519-2018/v1";
/// The X25519KeyAgreementKey2019 suite context.
pub const X25519_2019_CONTEXT: &str = "https://w3id.org/security/suites/x25519-2019/v1";
/// The JsonWebKey2020 suite context.
pub const JWS_2020_CONTEXT: &str = "https://w3id.org/security/suites/jws-2020/v1";

/// Service type of a Talos agent endpoint; `serviceEndpoint` is a list of libp2p multiaddrs.
pub const TALOS_AGENT: &str = "TalosAgent";
/// Service type of the MCP tools an agent serves; `serviceEndpoint` is `{"tools": [names]}`.
pub const TALOS_MCP: &str = "TalosMcp";

/// How [`Document::resolve_with`] writes the keys of a `did:key` (or `did:peer:0`) document.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Style {
    /// `Multikey` methods with `publicKeyMultibase` and the Multikey context: the current
    /// did:key spec.
    #[default]
    Multikey,
    /// `Ed25519VerificationKey2018` / `X25519KeyAgreementKey2019` with `publicKeyBase58` and
    /// their suite contexts (the W3C CCG vectors for seeds 00…00 to 00…03).
    Ed25519VerificationKey2018,
    /// `JsonWebKey2020` with an OKP `publicKeyJwk` and the jws-2020 context (the vector for
    /// seed 00…05).
    JsonWebKey2020,
}

impl Style {
    /// Every style.
    pub const ALL: [Self; 3] = [
        Self::Multikey,
        Self::Ed25519VerificationKey2018,
        Self::JsonWebKey2020,
    ];

    /// The style's name, as in the golden vectors: its Ed25519 method type.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Multikey => "Multikey",
            Self::Ed25519VerificationKey2018 => "Ed25519VerificationKey2018",
            Self::JsonWebKey2020 => "JsonWebKey2020",
        }
    }

    /// The style named `name` (see [`Style::as_str`]).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    fn method_type(self, key: &DidKey) -> MethodType {
        match (self, key) {
            (Self::Multikey, _) => MethodType::Multikey,
            (Self::Ed25519VerificationKey2018, DidKey::X25519(_)) => {
                MethodType::X25519KeyAgreementKey2019
            }
            (Self::Ed25519VerificationKey2018, _) => MethodType::Ed25519VerificationKey2018,
            (Self::JsonWebKey2020, _) => MethodType::JsonWebKey2020,
        }
    }

    fn contexts(self, has_ed25519: bool) -> Vec<&'static str> {
        match self {
            Self::Multikey => vec![DID_CONTEXT, MULTIKEY_CONTEXT],
            Self::Ed25519VerificationKey2018 if has_ed25519 => {
                vec![DID_CONTEXT, ED25519_2018_CONTEXT, X25519_2019_CONTEXT]
            }
            Self::Ed25519VerificationKey2018 => vec![DID_CONTEXT, X25519_2019_CONTEXT],
            Self::JsonWebKey2020 => vec![DID_CONTEXT, JWS_2020_CONTEXT],
        }
    }
}

/// A verification relationship (DID Core §5.3), with its did:peer:2 purpose code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Purpose {
    /// `authentication` (did:peer `V`).
    Authentication,
    /// `assertionMethod` (did:peer `A`).
    AssertionMethod,
    /// `keyAgreement` (did:peer `E`); X25519 keys.
    KeyAgreement,
    /// `capabilityInvocation` (did:peer `I`).
    CapabilityInvocation,
    /// `capabilityDelegation` (did:peer `D`).
    CapabilityDelegation,
}

impl Purpose {
    /// Every relationship, in the order [`Document`] stores them.
    pub const ALL: [Self; 5] = [
        Self::Authentication,
        Self::AssertionMethod,
        Self::KeyAgreement,
        Self::CapabilityInvocation,
        Self::CapabilityDelegation,
    ];

    /// The document member, e.g. `"keyAgreement"`.
    #[must_use]
    pub const fn member(self) -> &'static str {
        match self {
            Self::Authentication => "authentication",
            Self::AssertionMethod => "assertionMethod",
            Self::KeyAgreement => "keyAgreement",
            Self::CapabilityInvocation => "capabilityInvocation",
            Self::CapabilityDelegation => "capabilityDelegation",
        }
    }

    /// The did:peer:2 purpose code, e.g. `'E'`.
    #[must_use]
    pub const fn peer_code(self) -> char {
        match self {
            Self::Authentication => 'V',
            Self::AssertionMethod => 'A',
            Self::KeyAgreement => 'E',
            Self::CapabilityInvocation => 'I',
            Self::CapabilityDelegation => 'D',
        }
    }

    /// The relationship of a did:peer:2 purpose code (`S`, a service, is none).
    #[must_use]
    pub fn from_peer_code(code: char) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.peer_code() == code)
    }

    /// Whether `key` may serve this relationship: X25519 for key agreement, Ed25519 otherwise.
    #[must_use]
    pub fn fits(self, key: &DidKey) -> bool {
        match key {
            DidKey::X25519(_) => self == Self::KeyAgreement,
            _ => self != Self::KeyAgreement,
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// The `type` of a verification method, which fixes the member its key is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MethodType {
    /// `Multikey` + `publicKeyMultibase` (Ed25519 or X25519).
    Multikey,
    /// `Ed25519VerificationKey2018` + `publicKeyBase58`.
    Ed25519VerificationKey2018,
    /// `X25519KeyAgreementKey2019` + `publicKeyBase58`.
    X25519KeyAgreementKey2019,
    /// `Ed25519VerificationKey2020` + `publicKeyMultibase`.
    Ed25519VerificationKey2020,
    /// `X25519KeyAgreementKey2020` + `publicKeyMultibase`.
    X25519KeyAgreementKey2020,
    /// `JsonWebKey2020` + `publicKeyJwk` (OKP, Ed25519 or X25519).
    JsonWebKey2020,
}

impl MethodType {
    const ALL: [Self; 6] = [
        Self::Multikey,
        Self::Ed25519VerificationKey2018,
        Self::X25519KeyAgreementKey2019,
        Self::Ed25519VerificationKey2020,
        Self::X25519KeyAgreementKey2020,
        Self::JsonWebKey2020,
    ];

    /// The `type` value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Multikey => "Multikey",
            Self::Ed25519VerificationKey2018 => "Ed25519VerificationKey2018",
            Self::X25519KeyAgreementKey2019 => "X25519KeyAgreementKey2019",
            Self::Ed25519VerificationKey2020 => "Ed25519VerificationKey2020",
            Self::X25519KeyAgreementKey2020 => "X25519KeyAgreementKey2020",
            Self::JsonWebKey2020 => "JsonWebKey2020",
        }
    }

    /// The member that holds the key.
    #[must_use]
    pub const fn key_member(self) -> &'static str {
        match self {
            Self::Multikey | Self::Ed25519VerificationKey2020 | Self::X25519KeyAgreementKey2020 => {
                "publicKeyMultibase"
            }
            Self::Ed25519VerificationKey2018 | Self::X25519KeyAgreementKey2019 => "publicKeyBase58",
            Self::JsonWebKey2020 => "publicKeyJwk",
        }
    }

    /// Whether this type can hold `key`.
    #[must_use]
    pub fn fits(self, key: &DidKey) -> bool {
        match self {
            Self::Multikey | Self::JsonWebKey2020 => true,
            Self::Ed25519VerificationKey2018 | Self::Ed25519VerificationKey2020 => {
                key.ed25519().is_some()
            }
            Self::X25519KeyAgreementKey2019 | Self::X25519KeyAgreementKey2020 => {
                matches!(key, DidKey::X25519(_))
            }
        }
    }
}

/// A verification method: a public key, its id, type and controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerificationMethod {
    id: String,
    method_type: MethodType,
    controller: String,
    key: DidKey,
}

impl VerificationMethod {
    /// A method; `id` is `#fragment` or `<document id>#fragment`, `controller` a DID.
    ///
    /// # Errors
    /// [`DocumentError::Malformed`] if `method_type` cannot hold `key` or `controller` is not a
    /// DID; [`DocumentError::ForeignId`] if `id` has no fragment.
    pub fn new(
        id: impl Into<String>,
        method_type: MethodType,
        controller: impl Into<String>,
        key: DidKey,
    ) -> Result<Self, DocumentError> {
        let method = Self {
            id: id.into(),
            method_type,
            controller: controller.into(),
            key,
        };
        if !method_type.fits(&key) {
            return Err(malformed("verificationMethod", "key does not fit the type"));
        }
        if !is_did_syntax(&method.controller) {
            return Err(malformed("verificationMethod", "controller is not a DID"));
        }
        if fragment(&method.id).is_none() {
            return Err(DocumentError::ForeignId(cut(&method.id)));
        }
        Ok(method)
    }

    /// The id, as written (relative `#…` or absolute).
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The type.
    #[must_use]
    pub fn method_type(&self) -> MethodType {
        self.method_type
    }

    /// The controller DID.
    #[must_use]
    pub fn controller(&self) -> &str {
        &self.controller
    }

    /// The public key.
    #[must_use]
    pub fn key(&self) -> &DidKey {
        &self.key
    }

    /// The JSON object.
    #[must_use]
    pub fn to_json_value(&self) -> Value {
        let key = match self.method_type {
            MethodType::Multikey
            | MethodType::Ed25519VerificationKey2020
            | MethodType::X25519KeyAgreementKey2020 => Value::String(self.key.multibase()),
            MethodType::Ed25519VerificationKey2018 | MethodType::X25519KeyAgreementKey2019 => {
                Value::String(bs58::encode(raw_key(&self.key)).into_string())
            }
            MethodType::JsonWebKey2020 => {
                let crv = match self.key {
                    DidKey::X25519(_) => "X25519",
                    _ => "Ed25519",
                };
                object([
                    ("crv", Value::from(crv)),
                    ("kty", Value::from("OKP")),
                    ("x", Value::String(base64url::encode(&raw_key(&self.key)))),
                ])
            }
        };
        object([
            ("controller", Value::String(self.controller.clone())),
            ("id", Value::String(self.id.clone())),
            ("type", Value::from(self.method_type.as_str())),
            (self.method_type.key_member(), key),
        ])
    }

    fn from_json_value(value: &Value) -> Result<Self, DocumentError> {
        const WHAT: &str = "verificationMethod";
        let map = value
            .as_object()
            .ok_or_else(|| malformed(WHAT, "not an object"))?;
        let text = |name: &'static str| -> Result<&str, DocumentError> {
            map.get(name)
                .ok_or(DocumentError::Missing(name))?
                .as_str()
                .ok_or_else(|| malformed(WHAT, "id, type and controller must be strings"))
        };
        let id = text("id")?;
        let type_name = text("type")?;
        let controller = text("controller")?;
        let method_type = MethodType::ALL
            .into_iter()
            .find(|t| t.as_str() == type_name)
            .ok_or_else(|| DocumentError::UnsupportedMethodType(cut(type_name)))?;
        let member = method_type.key_member();
        if map.len() != 4 {
            return Err(malformed(
                WHAT,
                "expected exactly id, type, controller and the key member of its type",
            ));
        }
        let material = map.get(member).ok_or(DocumentError::Missing(member))?;
        let key = match method_type {
            MethodType::Multikey
            | MethodType::Ed25519VerificationKey2020
            | MethodType::X25519KeyAgreementKey2020 => {
                let text = material
                    .as_str()
                    .ok_or_else(|| malformed(WHAT, "publicKeyMultibase must be a string"))?;
                DidKey::from_multibase(text).map_err(DocumentError::Key)?
            }
            MethodType::Ed25519VerificationKey2018 | MethodType::X25519KeyAgreementKey2019 => {
                let text = material
                    .as_str()
                    .ok_or_else(|| malformed(WHAT, "publicKeyBase58 must be a string"))?;
                let bytes = bs58::decode(text)
                    .into_vec()
                    .map_err(|_| DocumentError::Key(DidError::BadMultibase))?;
                if bs58::encode(&bytes).into_string() != text {
                    return Err(DocumentError::Key(DidError::NonCanonical));
                }
                raw_to_key(
                    &bytes,
                    method_type == MethodType::Ed25519VerificationKey2018,
                )?
            }
            MethodType::JsonWebKey2020 => jwk_key(material)?,
        };
        Self::new(id, method_type, controller, key)
    }
}

fn raw_key(key: &DidKey) -> [u8; 32] {
    match key {
        DidKey::X25519(k) => k.to_bytes(),
        DidKey::Ed25519(k) => k.to_bytes(),
    }
}

fn raw_to_key(bytes: &[u8], ed25519: bool) -> Result<DidKey, DocumentError> {
    if bytes.len() != 32 {
        return Err(DocumentError::Key(DidError::WrongKeyLength {
            expected: 32,
            got: bytes.len(),
        }));
    }
    if ed25519 {
        VerifyingKey::from_slice(bytes)
            .map(DidKey::Ed25519)
            .map_err(|e| DocumentError::Key(DidError::InvalidKey(e)))
    } else {
        x25519::PublicKey::from_slice(bytes)
            .map(DidKey::X25519)
            .map_err(|e| DocumentError::Key(DidError::InvalidKey(e)))
    }
}

fn jwk_key(value: &Value) -> Result<DidKey, DocumentError> {
    const WHAT: &str = "publicKeyJwk";
    let map = value
        .as_object()
        .ok_or_else(|| malformed(WHAT, "not an object"))?;
    if map.len() != 3 || map.get("kty").and_then(Value::as_str) != Some("OKP") {
        return Err(malformed(WHAT, "expected exactly kty \"OKP\", crv and x"));
    }
    let ed25519 = match map.get("crv").and_then(Value::as_str) {
        Some("Ed25519") => true,
        Some("X25519") => false,
        _ => return Err(malformed(WHAT, "crv must be Ed25519 or X25519")),
    };
    let x = map
        .get("x")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(WHAT, "x must be a string"))?;
    let bytes = base64url::decode(x).map_err(|_| malformed(WHAT, "x is not strict base64url"))?;
    raw_to_key(&bytes, ed25519)
}

/// An entry of a verification relationship.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Relationship {
    /// The id of a method of this document (`#frag` or `<did>#frag`).
    Reference(String),
    /// A method defined in place.
    Embedded(Box<VerificationMethod>),
}

impl Relationship {
    fn to_json_value(&self) -> Value {
        match self {
            Self::Reference(id) => Value::String(id.clone()),
            Self::Embedded(method) => method.to_json_value(),
        }
    }
}

/// A service (DID Core §5.4).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Service {
    /// A Talos agent endpoint: type `TalosAgent`, `serviceEndpoint` = libp2p multiaddrs.
    TalosAgent {
        /// The service id.
        id: String,
        /// Multiaddrs, e.g. `/ip4/203.0.113.7/tcp/4001`.
        addrs: Vec<String>,
    },
    /// The MCP tools an agent serves: type `TalosMcp`, `serviceEndpoint` = `{"tools": [..]}`.
    TalosMcp {
        /// The service id.
        id: String,
        /// Tool names.
        tools: Vec<String>,
    },
    /// Any other service, kept as its JSON object (it has `id`, `type` and `serviceEndpoint`).
    Other(Map),
}

impl Service {
    /// A `TalosAgent` service.
    ///
    /// # Errors
    /// [`DocumentError::Malformed`] for no addresses, too many, duplicates, or an address that
    /// is not a multiaddr (`/…`, at most 256 bytes, no whitespace or control characters).
    pub fn talos_agent<S: Into<String>>(
        id: impl Into<String>,
        addrs: impl IntoIterator<Item = S>,
    ) -> Result<Self, DocumentError> {
        let service = Self::TalosAgent {
            id: id.into(),
            addrs: addrs.into_iter().map(Into::into).collect(),
        };
        Self::from_json_value(&service.to_json_value())
    }

    /// A `TalosMcp` service.
    ///
    /// # Errors
    /// [`DocumentError::Malformed`] for no tools, too many, duplicates, or a name that is
    /// empty, longer than 128 bytes or holds whitespace or control characters.
    pub fn talos_mcp<S: Into<String>>(
        id: impl Into<String>,
        tools: impl IntoIterator<Item = S>,
    ) -> Result<Self, DocumentError> {
        let service = Self::TalosMcp {
            id: id.into(),
            tools: tools.into_iter().map(Into::into).collect(),
        };
        Self::from_json_value(&service.to_json_value())
    }

    /// The id, as written.
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            Self::TalosAgent { id, .. } | Self::TalosMcp { id, .. } => id,
            Self::Other(map) => map.get("id").and_then(Value::as_str).unwrap_or_default(),
        }
    }

    /// The type, or the first of several.
    #[must_use]
    pub fn service_type(&self) -> &str {
        match self {
            Self::TalosAgent { .. } => TALOS_AGENT,
            Self::TalosMcp { .. } => TALOS_MCP,
            Self::Other(map) => match map.get("type") {
                Some(Value::String(t)) => t,
                Some(Value::Array(items)) => {
                    items.first().and_then(Value::as_str).unwrap_or_default()
                }
                _ => "",
            },
        }
    }

    /// The JSON object.
    #[must_use]
    pub fn to_json_value(&self) -> Value {
        let strings =
            |items: &[String]| Value::Array(items.iter().cloned().map(Value::String).collect());
        match self {
            Self::TalosAgent { id, addrs } => object([
                ("id", Value::String(id.clone())),
                ("serviceEndpoint", strings(addrs)),
                ("type", Value::from(TALOS_AGENT)),
            ]),
            Self::TalosMcp { id, tools } => object([
                ("id", Value::String(id.clone())),
                ("serviceEndpoint", object([("tools", strings(tools))])),
                ("type", Value::from(TALOS_MCP)),
            ]),
            Self::Other(map) => Value::Object(map.clone()),
        }
    }

    /// Parses a service object strictly: `id` a non-empty string; `type` a string or a
    /// non-empty list of strings; `serviceEndpoint` a string, an object or a non-empty list;
    /// `TalosAgent` and `TalosMcp` services have exactly these members and their endpoint
    /// shapes; integers only; nested at most [`MAX_SERVICE_DEPTH`] deep.
    ///
    /// # Errors
    /// [`DocumentError::Missing`], [`DocumentError::Malformed`] or [`DocumentError::Json`].
    pub fn from_json_value(value: &Value) -> Result<Self, DocumentError> {
        const WHAT: &str = "service";
        let map = value
            .as_object()
            .ok_or_else(|| malformed(WHAT, "not an object"))?;
        json::check_signing_profile(value)?;
        if depth(value) > MAX_SERVICE_DEPTH {
            return Err(malformed(WHAT, "nested too deep"));
        }
        let id = map
            .get("id")
            .ok_or(DocumentError::Missing("service id"))?
            .as_str()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| malformed(WHAT, "id must be a non-empty string"))?;
        let endpoint = map
            .get("serviceEndpoint")
            .ok_or(DocumentError::Missing("serviceEndpoint"))?;
        let service_type = match map
            .get("type")
            .ok_or(DocumentError::Missing("service type"))?
        {
            Value::String(t) => t.as_str(),
            Value::Array(items)
                if !items.is_empty() && items.iter().all(|t| matches!(t, Value::String(_))) =>
            {
                ""
            }
            _ => {
                return Err(malformed(
                    WHAT,
                    "type must be a string or a list of strings",
                ));
            }
        };
        match service_type {
            TALOS_AGENT | TALOS_MCP if map.len() != 3 => Err(malformed(
                WHAT,
                "Talos services have exactly id, type and serviceEndpoint",
            )),
            TALOS_AGENT => Ok(Self::TalosAgent {
                id: id.to_owned(),
                addrs: string_list(endpoint, "TalosAgent serviceEndpoint", is_multiaddr)?,
            }),
            TALOS_MCP => {
                let tools = endpoint
                    .as_object()
                    .filter(|m| m.len() == 1)
                    .and_then(|m| m.get("tools"))
                    .ok_or_else(|| {
                        malformed(
                            "TalosMcp serviceEndpoint",
                            "expected exactly {\"tools\": [..]}",
                        )
                    })?;
                Ok(Self::TalosMcp {
                    id: id.to_owned(),
                    tools: string_list(tools, "TalosMcp tools", is_tool_name)?,
                })
            }
            _ => {
                let ok = match endpoint {
                    Value::String(s) => !s.is_empty(),
                    Value::Object(_) => true,
                    Value::Array(items) => {
                        !items.is_empty()
                            && items
                                .iter()
                                .all(|i| matches!(i, Value::String(_) | Value::Object(_)))
                    }
                    _ => false,
                };
                if !ok {
                    return Err(malformed(
                        "serviceEndpoint",
                        "expected a string, an object or a non-empty list of them",
                    ));
                }
                Ok(Self::Other(map.clone()))
            }
        }
    }
}

fn string_list(
    value: &Value,
    what: &'static str,
    valid: fn(&str) -> bool,
) -> Result<Vec<String>, DocumentError> {
    let Value::Array(items) = value else {
        return Err(malformed(what, "not a list"));
    };
    if items.is_empty() || items.len() > MAX_SERVICE_ITEMS {
        return Err(malformed(what, "expected 1 to 256 entries"));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let text = item
            .as_str()
            .filter(|s| valid(s))
            .ok_or_else(|| malformed(what, "invalid entry"))?;
        if !seen.insert(text) {
            return Err(malformed(what, "duplicate entry"));
        }
        out.push(text.to_owned());
    }
    Ok(out)
}

fn is_multiaddr(s: &str) -> bool {
    s.len() > 1
        && s.len() <= 256
        && s.starts_with('/')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_tool_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A DID document. Build one with [`Document::resolve`] (and the `with_*` builders), or parse
/// one with [`Document::from_json`] / [`Document::from_cbor`]; every `Document` satisfies the
/// rules in the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    context: Value,
    id: String,
    methods: Vec<VerificationMethod>,
    relationships: [Vec<Relationship>; 5],
    services: Vec<Service>,
    extra: Map,
}

impl Document {
    /// The document of a DID in the default [`Style`] (Multikey).
    #[must_use]
    pub fn resolve(did: &Did) -> Self {
        Self::resolve_with(did, Style::default())
    }

    /// The document of a DID: a `did:key` as the did:key method specifies (an Ed25519 key also
    /// gets its derived X25519 key-agreement key), a `did:peer:0` likewise under its own id,
    /// and a `did:peer:2` as its spec says (always Multikey: `style` does not apply).
    #[must_use]
    pub fn resolve_with(did: &Did, style: Style) -> Self {
        match did {
            Did::Key(key) => Self::for_key(&did.to_string(), key, style),
            Did::Peer(peer) => match peer.inception_key() {
                Some(key) => Self::for_key(peer.as_str(), key, style),
                None => Self::resolve_peer(peer),
            },
        }
    }

    fn for_key(id: &str, key: &DidKey, style: Style) -> Self {
        let method = |key: DidKey| VerificationMethod {
            id: format!("{id}#{}", key.multibase()),
            method_type: style.method_type(&key),
            controller: id.to_owned(),
            key,
        };
        let mut relationships: [Vec<Relationship>; 5] = Default::default();
        let mut methods = Vec::with_capacity(2);
        if let DidKey::Ed25519(ed) = key {
            let signing = method(*key);
            for purpose in Purpose::ALL {
                if purpose != Purpose::KeyAgreement {
                    relationships[purpose.index()] =
                        vec![Relationship::Reference(signing.id.clone())];
                }
            }
            methods.push(signing);
            methods.push(method(DidKey::X25519(ed.to_x25519())));
        } else {
            methods.push(method(*key));
        }
        if let Some(agreement) = methods.last() {
            relationships[Purpose::KeyAgreement.index()] =
                vec![Relationship::Reference(agreement.id.clone())];
        }
        Self {
            context: Value::Array(
                style
                    .contexts(key.ed25519().is_some())
                    .into_iter()
                    .map(Value::from)
                    .collect(),
            ),
            id: id.to_owned(),
            methods,
            relationships,
            services: Vec::new(),
            extra: Map::new(),
        }
    }

    /// did:peer:2 resolution (`spec/core.md`, "Resolving a did:peer:2").
    pub(crate) fn resolve_peer(peer: &PeerDid) -> Self {
        let id = peer.as_str();
        let mut relationships: [Vec<Relationship>; 5] = Default::default();
        let mut methods = Vec::new();
        let mut services = Vec::new();
        for element in peer.elements() {
            match element {
                Element::Key { purpose, key } => {
                    let method = VerificationMethod {
                        id: format!("#key-{}", methods.len() + 1),
                        method_type: MethodType::Multikey,
                        controller: id.to_owned(),
                        key: *key,
                    };
                    relationships[purpose.index()].push(Relationship::Reference(method.id.clone()));
                    methods.push(method);
                }
                Element::Service(service) => services.push(service.clone()),
            }
        }
        Self {
            context: Value::Array(vec![
                Value::from(DID_CONTEXT),
                Value::from(MULTIKEY_CONTEXT),
            ]),
            id: id.to_owned(),
            methods,
            relationships,
            services,
            extra: Map::new(),
        }
    }

    /// Adds a service.
    ///
    /// # Errors
    /// [`DocumentError::DuplicateId`], [`DocumentError::ForeignId`],
    /// [`DocumentError::TooManyServices`], [`DocumentError::TooLarge`], or what
    /// [`Service::from_json_value`] refuses.
    pub fn with_service(mut self, service: Service) -> Result<Self, DocumentError> {
        self.services.push(service);
        self.validated()
    }

    /// Adds the Talos agent endpoint service, id `<document id>#talos-agent`.
    ///
    /// # Errors
    /// As [`Service::talos_agent`] and [`Document::with_service`].
    pub fn with_talos_agent<S: Into<String>>(
        self,
        addrs: impl IntoIterator<Item = S>,
    ) -> Result<Self, DocumentError> {
        let service = Service::talos_agent(format!("{}#talos-agent", self.id), addrs)?;
        self.with_service(service)
    }

    /// Adds the service listing the MCP tools the agent serves, id `<document id>#talos-mcp`.
    ///
    /// # Errors
    /// As [`Service::talos_mcp`] and [`Document::with_service`].
    pub fn with_mcp_tools<S: Into<String>>(
        self,
        tools: impl IntoIterator<Item = S>,
    ) -> Result<Self, DocumentError> {
        let service = Service::talos_mcp(format!("{}#talos-mcp", self.id), tools)?;
        self.with_service(service)
    }

    /// The document's DID, as written.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The document's DID, parsed.
    ///
    /// # Errors
    /// [`DidError`] for a DID of a method this crate does not implement.
    pub fn did(&self) -> Result<Did, DidError> {
        self.id.parse()
    }

    /// The `@context` value (a string or a list).
    #[must_use]
    pub fn context(&self) -> &Value {
        &self.context
    }

    /// The `verificationMethod` list.
    #[must_use]
    pub fn verification_methods(&self) -> &[VerificationMethod] {
        &self.methods
    }

    /// One verification relationship, as written.
    #[must_use]
    pub fn relationship(&self, purpose: Purpose) -> &[Relationship] {
        self.relationships
            .get(purpose.index())
            .map_or(&[], Vec::as_slice)
    }

    /// The services.
    #[must_use]
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// Top-level members other than those this type models (e.g. `controller`, `alsoKnownAs`).
    #[must_use]
    pub fn extra(&self) -> &Map {
        &self.extra
    }

    /// The method a reference (`#frag` or `<did>#frag`) names, in `verificationMethod` or
    /// embedded in a relationship.
    #[must_use]
    pub fn method(&self, reference: &str) -> Option<&VerificationMethod> {
        let want = self.absolute(reference);
        self.all_methods().find(|m| self.absolute(&m.id) == want)
    }

    /// The methods of a relationship, references resolved, in order.
    pub fn methods_for(&self, purpose: Purpose) -> impl Iterator<Item = &VerificationMethod> {
        self.relationship(purpose).iter().filter_map(|r| match r {
            Relationship::Reference(id) => self.method(id),
            Relationship::Embedded(method) => Some(&**method),
        })
    }

    /// The first Ed25519 authentication key: the key that authenticates as this document's DID.
    #[must_use]
    pub fn signing_key(&self) -> Option<VerifyingKey> {
        self.methods_for(Purpose::Authentication)
            .find_map(|m| m.key.ed25519().copied())
    }

    /// The first key-agreement key.
    #[must_use]
    pub fn key_agreement_key(&self) -> Option<x25519::PublicKey> {
        self.methods_for(Purpose::KeyAgreement)
            .find_map(|m| match m.key {
                DidKey::X25519(k) => Some(k),
                DidKey::Ed25519(_) => None,
            })
    }

    /// The multiaddrs of the first `TalosAgent` service.
    #[must_use]
    pub fn talos_agent_addrs(&self) -> Option<&[String]> {
        self.services.iter().find_map(|s| match s {
            Service::TalosAgent { addrs, .. } => Some(addrs.as_slice()),
            _ => None,
        })
    }

    /// The tools of the first `TalosMcp` service.
    #[must_use]
    pub fn mcp_tools(&self) -> Option<&[String]> {
        self.services.iter().find_map(|s| match s {
            Service::TalosMcp { tools, .. } => Some(tools.as_slice()),
            _ => None,
        })
    }

    /// Checks that this is a document of `did`: its id is `did`, and, since `did:key` and
    /// `did:peer` documents follow from the DID, its verification methods and relationships
    /// are those [`Document::resolve_with`] gives in one of the styles. Services and other
    /// members are the publisher's.
    ///
    /// # Errors
    /// [`DocumentError::IdMismatch`] or [`DocumentError::KeysMismatch`].
    pub fn check_did(&self, did: &Did) -> Result<(), DocumentError> {
        let expected = did.to_string();
        if self.id != expected {
            return Err(DocumentError::IdMismatch {
                expected: cut(&expected),
                got: cut(&self.id),
            });
        }
        let matches = Style::ALL.into_iter().any(|style| {
            let derived = Self::resolve_with(did, style);
            derived.methods == self.methods && derived.relationships == self.relationships
        });
        if matches {
            Ok(())
        } else {
            Err(DocumentError::KeysMismatch)
        }
    }

    /// The JSON value.
    #[must_use]
    pub fn to_json_value(&self) -> Value {
        let mut map = self.extra.clone();
        map.insert("@context".into(), self.context.clone());
        map.insert("id".into(), Value::String(self.id.clone()));
        if !self.methods.is_empty() {
            map.insert(
                "verificationMethod".into(),
                Value::Array(
                    self.methods
                        .iter()
                        .map(VerificationMethod::to_json_value)
                        .collect(),
                ),
            );
        }
        for purpose in Purpose::ALL {
            let entries = self.relationship(purpose);
            if !entries.is_empty() {
                map.insert(
                    purpose.member().into(),
                    Value::Array(entries.iter().map(Relationship::to_json_value).collect()),
                );
            }
        }
        if !self.services.is_empty() {
            map.insert(
                "service".into(),
                Value::Array(self.services.iter().map(Service::to_json_value).collect()),
            );
        }
        Value::Object(map)
    }

    /// The canonical JSON form (RFC 8785).
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        self.to_json_value().to_canonical_vec()
    }

    /// The deterministic CBOR form (see the [module docs](self)).
    #[must_use]
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::new();
        write_cbor(&self.to_json_value(), &mut out);
        out
    }

    /// Parses the JSON form strictly (any formatting; see the [module docs](self)).
    ///
    /// # Errors
    /// [`DocumentError::TooLarge`] above [`MAX_DOCUMENT_LEN`] bytes, [`DocumentError::Json`]
    /// for invalid JSON or floating-point numbers, and the other variants for a document that
    /// breaks a rule.
    pub fn from_json(input: &[u8]) -> Result<Self, DocumentError> {
        check_size(input.len())?;
        Self::from_json_value(&json::parse(input)?)
    }

    /// Parses the CBOR form, accepting only its deterministic encoding.
    ///
    /// # Errors
    /// [`DocumentError::Cbor`] for malformed or non-deterministic CBOR (including floats,
    /// byte strings, tags and non-text map keys), and as [`Document::from_json`].
    pub fn from_cbor(input: &[u8]) -> Result<Self, DocumentError> {
        check_size(input.len())?;
        let CborValue(value) = cbor::decode(input)?;
        // The CBOR form is the JSON form's value: hold it to the JSON parser's limits too.
        let doc = Self::from_json(&value.to_canonical_vec())?;
        if doc.to_cbor() != input {
            return Err(CborError::NonCanonical.into());
        }
        Ok(doc)
    }

    /// Parses a JSON value (see the [module docs](self)).
    ///
    /// # Errors
    /// As [`Document::from_json`].
    pub fn from_json_value(value: &Value) -> Result<Self, DocumentError> {
        check_size(value.to_canonical_vec().len())?;
        // What the JSON parser would refuse is refused here too, so both forms round-trip.
        if depth(value) > json::MAX_DEPTH {
            return Err(malformed("document", "nested too deep"));
        }
        json::check_signing_profile(value)?;
        let Value::Object(map) = value else {
            return Err(malformed("document", "not a JSON object"));
        };
        let mut extra = map.clone();
        let id = match extra.remove("id") {
            Some(Value::String(id)) if is_did_syntax(&id) => id,
            Some(_) => return Err(malformed("id", "not a DID")),
            None => return Err(DocumentError::Missing("id")),
        };
        let context = extra
            .remove("@context")
            .ok_or(DocumentError::Missing("@context"))?;
        check_context(&context)?;
        let methods = match extra.remove("verificationMethod") {
            Some(v) => list(&v, "verificationMethod", MAX_METHODS)?
                .iter()
                .map(VerificationMethod::from_json_value)
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let mut relationships: [Vec<Relationship>; 5] = Default::default();
        for purpose in Purpose::ALL {
            if let Some(v) = extra.remove(purpose.member()) {
                relationships[purpose.index()] = list(&v, purpose.member(), MAX_METHODS)?
                    .iter()
                    .map(|entry| match entry {
                        Value::String(id) => Ok(Relationship::Reference(id.clone())),
                        other => VerificationMethod::from_json_value(other)
                            .map(|m| Relationship::Embedded(Box::new(m))),
                    })
                    .collect::<Result<_, _>>()?;
            }
        }
        let services = match extra.remove("service") {
            Some(v) => list(&v, "service", MAX_SERVICES)?
                .iter()
                .map(Service::from_json_value)
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        check_core_members(&extra)?;
        let doc = Self {
            context,
            id,
            methods,
            relationships,
            services,
            extra,
        };
        doc.check()?;
        Ok(doc)
    }

    /// Checks the cross-member rules and bounds (used after building and after parsing).
    fn check(&self) -> Result<(), DocumentError> {
        let total = self.all_methods().count();
        if total > MAX_METHODS {
            return Err(DocumentError::TooManyMethods {
                got: total,
                max: MAX_METHODS,
            });
        }
        if self.services.len() > MAX_SERVICES {
            return Err(DocumentError::TooManyServices {
                got: self.services.len(),
                max: MAX_SERVICES,
            });
        }
        let mut ids = BTreeSet::new();
        let all_ids = self
            .all_methods()
            .map(|m| m.id.as_str())
            .chain(self.services.iter().map(Service::id));
        for id in all_ids {
            if !self.is_own(id) {
                return Err(DocumentError::ForeignId(cut(id)));
            }
            if !ids.insert(self.absolute(id)) {
                return Err(DocumentError::DuplicateId(cut(id)));
            }
        }
        for purpose in Purpose::ALL {
            let mut seen = BTreeSet::new();
            for entry in self.relationship(purpose) {
                let method = match entry {
                    Relationship::Reference(id) => {
                        if !seen.insert(self.absolute(id)) {
                            return Err(DocumentError::DuplicateReference(cut(id)));
                        }
                        self.method(id)
                            .ok_or_else(|| DocumentError::DanglingReference(cut(id)))?
                    }
                    Relationship::Embedded(method) => &**method,
                };
                if !purpose.fits(&method.key) {
                    return Err(DocumentError::KeyPurposeMismatch(purpose.member()));
                }
            }
        }
        Ok(())
    }

    /// Re-parses the document's JSON value: every rule holds afterwards.
    pub(crate) fn validated(self) -> Result<Self, DocumentError> {
        let doc = Self::from_json_value(&self.to_json_value())?;
        if doc != self {
            return Err(malformed("document", "does not survive its own encoding"));
        }
        Ok(doc)
    }

    fn all_methods(&self) -> impl Iterator<Item = &VerificationMethod> {
        self.methods
            .iter()
            .chain(self.relationships.iter().flatten().filter_map(|r| match r {
                Relationship::Embedded(m) => Some(&**m),
                Relationship::Reference(_) => None,
            }))
    }

    /// `#frag` → `<id>#frag`; anything else unchanged.
    fn absolute(&self, id: &str) -> String {
        if id.starts_with('#') {
            format!("{}{id}", self.id)
        } else {
            id.to_owned()
        }
    }

    /// Whether `id` is `#frag` or `<document id>#frag` with a valid fragment.
    fn is_own(&self, id: &str) -> bool {
        let frag = id.strip_prefix(self.id.as_str()).unwrap_or(id);
        frag.starts_with('#') && fragment(frag).is_some()
    }
}

/// The fragment of `id` (after its first `#`), if it is non-empty, at most 256 bytes and made
/// of RFC 3986 fragment characters.
fn fragment(id: &str) -> Option<&str> {
    let (_, frag) = id.split_once('#')?;
    let ok = !frag.is_empty()
        && frag.len() <= 256
        && frag.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b':'
                        | b'@'
                        | b'/'
                        | b'?'
                        | b'%'
                )
        });
    ok.then_some(frag)
}

fn check_size(len: usize) -> Result<(), DocumentError> {
    if len > MAX_DOCUMENT_LEN {
        return Err(DocumentError::TooLarge {
            len,
            max: MAX_DOCUMENT_LEN,
        });
    }
    Ok(())
}

fn check_context(context: &Value) -> Result<(), DocumentError> {
    const WHAT: &str = "@context";
    match context {
        Value::String(s) if s == DID_CONTEXT => Ok(()),
        Value::Array(items) => {
            if items.first().and_then(Value::as_str) != Some(DID_CONTEXT) {
                return Err(malformed(
                    WHAT,
                    "must start with https://www.w3.org/ns/did/v1",
                ));
            }
            if items.len() > 16
                || !items
                    .iter()
                    .all(|i| matches!(i, Value::String(_) | Value::Object(_)))
            {
                return Err(malformed(WHAT, "expected at most 16 strings or objects"));
            }
            Ok(())
        }
        _ => Err(malformed(
            WHAT,
            "must start with https://www.w3.org/ns/did/v1",
        )),
    }
}

/// DID Core's `controller` (a DID or a non-empty list of DIDs) and `alsoKnownAs` (a list of
/// strings), which this type keeps among the extra members.
fn check_core_members(extra: &Map) -> Result<(), DocumentError> {
    let did = |v: &Value| v.as_str().is_some_and(is_did_syntax);
    match extra.get("controller") {
        None => {}
        Some(v) if did(v) => {}
        Some(Value::Array(items)) if !items.is_empty() && items.iter().all(did) => {}
        Some(_) => return Err(malformed("controller", "expected a DID or a list of DIDs")),
    }
    match extra.get("alsoKnownAs") {
        None => {}
        Some(Value::Array(items)) if items.iter().all(|i| matches!(i, Value::String(_))) => {}
        Some(_) => return Err(malformed("alsoKnownAs", "expected a list of strings")),
    }
    Ok(())
}

fn list<'a>(
    value: &'a Value,
    what: &'static str,
    max: usize,
) -> Result<&'a [Value], DocumentError> {
    let Value::Array(items) = value else {
        return Err(malformed(what, "not a list"));
    };
    if items.is_empty() {
        return Err(DocumentError::Empty(what));
    }
    if items.len() > max {
        return Err(if what == "service" {
            DocumentError::TooManyServices {
                got: items.len(),
                max,
            }
        } else {
            DocumentError::TooManyMethods {
                got: items.len(),
                max,
            }
        });
    }
    Ok(items)
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn malformed(member: &'static str, reason: &'static str) -> DocumentError {
    DocumentError::Malformed { member, reason }
}

/// Untrusted text in an error message, cut to 128 characters.
fn cut(s: &str) -> String {
    s.chars().take(128).collect()
}

/// Deterministic CBOR of a JSON value (RFC 8949 §4.2.1, see the [module docs](self)).
fn write_cbor(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(0xf6),
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        Value::Number(n) => match n.as_i64() {
            Some(i) if i >= 0 => cbor::write_uint(out, i.unsigned_abs()),
            Some(i) => cbor::write_head(out, 1, (i + 1).unsigned_abs()),
            // Unreachable for a `Document` (integers only); a double keeps this total.
            None => {
                out.push(0xfb);
                out.extend_from_slice(&n.as_f64().to_be_bytes());
            }
        },
        Value::String(s) => cbor::write_text(out, s),
        Value::Array(items) => {
            cbor::write_array_header(out, items.len());
            for item in items {
                write_cbor(item, out);
            }
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // Text keys: the encoded key's head grows with its length, so the bytewise order
            // of encoded keys is by length, then by bytes.
            entries.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(b.0)));
            cbor::write_map_header(out, entries.len());
            for (key, item) in entries {
                cbor::write_text(out, key);
                write_cbor(item, out);
            }
        }
    }
}

/// A JSON value read from CBOR: text, integers, simple values, arrays and maps with text keys;
/// no floats, byte strings or duplicate keys. (Tags and non-shortest forms are caught by the
/// re-encoding check.)
struct CborValue(Value);

impl<'de> serde::Deserialize<'de> for CborValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CborVisitor).map(CborValue)
    }
}

struct CborVisitor;

impl<'de> serde::de::Visitor<'de> for CborVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a JSON value (text, integer, null, boolean, array or map with text keys)")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        Number::try_from(v).map(Value::Number).map_err(E::custom)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        Number::try_from(v).map(Value::Number).map_err(E::custom)
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Value, E> {
        Err(E::custom("floating-point numbers are not allowed"))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(CborValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let CborValue(item) = access.next_value()?;
            if map.insert(key, item).is_some() {
                return Err(serde::de::Error::custom("duplicate map key"));
            }
        }
        Ok(Value::Object(map))
    }
}

/// Why a DID document was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// Not strict JSON, or a number outside the integer profile. Fix the producer.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// Malformed CBOR, or not its deterministic encoding. Re-encode with [`Document::to_cbor`].
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// Larger than [`MAX_DOCUMENT_LEN`]. Refuse the document.
    #[error("DID document too large: {len} bytes, limit {max}")]
    TooLarge {
        /// The size found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_METHODS`] verification methods (or relationship entries).
    #[error("too many verification methods: {got}, limit {max}")]
    TooManyMethods {
        /// The number found.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_SERVICES`] services.
    #[error("too many services: {got}, limit {max}")]
    TooManyServices {
        /// The number found.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// A required member is absent.
    #[error("missing member {0}")]
    Missing(&'static str),
    /// A member has the wrong shape.
    #[error("malformed {member}: {reason}")]
    Malformed {
        /// Which member.
        member: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// An empty list; omit the member instead, so each document has one form.
    #[error("empty {0}: omit the member instead")]
    Empty(&'static str),
    /// A verification method type this crate does not read (it reads Ed25519 and X25519 keys
    /// as Multikey, Ed25519VerificationKey2018/2020, X25519KeyAgreementKey2019/2020 and
    /// JsonWebKey2020).
    #[error("unsupported verification method type {0:?}")]
    UnsupportedMethodType(String),
    /// A verification method's key is invalid (as a `did:key` would be).
    #[error("invalid key in verification method: {0}")]
    Key(DidError),
    /// Two methods or services share an id.
    #[error("duplicate id {0:?}")]
    DuplicateId(String),
    /// A relationship lists the same method twice.
    #[error("duplicate reference {0:?}")]
    DuplicateReference(String),
    /// A relationship refers to a method this document does not define.
    #[error("reference to unknown verification method {0:?}")]
    DanglingReference(String),
    /// A method or service id that is not a fragment of this document's DID.
    #[error("id {0:?} is not a fragment of the document's DID")]
    ForeignId(String),
    /// A relationship holds a key of the wrong kind: `keyAgreement` takes X25519 keys, the
    /// others Ed25519 keys.
    #[error("key type does not fit {0}")]
    KeyPurposeMismatch(&'static str),
    /// The document is not about the DID it was fetched for. Refuse it.
    #[error("document id does not match: expected {expected}, got {got}")]
    IdMismatch {
        /// The DID asked for.
        expected: String,
        /// The document's id.
        got: String,
    },
    /// The document's keys are not the ones its DID determines. Refuse it.
    #[error("document keys do not match its DID")]
    KeysMismatch,
}

impl From<&DocumentError> for talos_crypto::ErrorCode {
    fn from(_: &DocumentError) -> Self {
        Self::InvalidInput
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbor_heads_and_key_order() {
        let value = json::parse(br#"{"bb":-1,"a":[null,true,false,"x"],"c":24}"#).unwrap();
        let mut out = Vec::new();
        write_cbor(&value, &mut out);
        assert_eq!(
            out,
            [
                0xa3, 0x61, b'a', 0x84, 0xf6, 0xf5, 0xf4, 0x61, b'x', 0x61, b'c', 0x18, 24, 0x62,
                b'b', b'b', 0x20
            ]
        );
        let CborValue(back) = cbor::decode(&out).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn cbor_rejects_floats_bytes_and_duplicates() {
        // {"a": 1.5}
        assert!(cbor::decode::<CborValue>(&[0xa1, 0x61, b'a', 0xf9, 0x3e, 0x00]).is_err());
        // {"a": h'00'}
        assert!(cbor::decode::<CborValue>(&[0xa1, 0x61, b'a', 0x41, 0x00]).is_err());
        // {"a": 1, "a": 2}
        assert!(cbor::decode::<CborValue>(&[0xa2, 0x61, b'a', 1, 0x61, b'a', 2]).is_err());
        // {1: 1}
        assert!(cbor::decode::<CborValue>(&[0xa1, 0x01, 0x01]).is_err());
    }
}
