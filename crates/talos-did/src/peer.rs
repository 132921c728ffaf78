//! `did:peer` ([DIF peer DID method], `spec/core.md`), numalgo 0 and 2.
//!
//! - **numalgo 0**: `did:peer:0` + the multibase key of a `did:key` (`did:peer:0z6Mk…` names
//!   the same key as `did:key:z6Mk…`).
//! - **numalgo 2**: `did:peer:2` followed by elements: `.` + purpose code + multibase key
//!   (`A` assertion, `E` key agreement, `V` authentication, `I` capability invocation, `D`
//!   capability delegation), and `.S` + base64url (no padding) of one service's JSON, with
//!   `type`→`t`, `serviceEndpoint`→`s`, `routingKeys`→`r`, `accept`→`a` and
//!   `DIDCommMessaging`→`dm` abbreviated. Each service is its own element.
//!
//! Parsing is strict: unknown purpose codes, keys that do not fit their purpose (`E` must be
//! X25519, the others Ed25519), non-canonical keys, services that are not strict base64url of
//! a valid service object, more than [`MAX_ELEMENTS`] elements and DIDs longer than
//! [`MAX_DID_LEN`](crate::did::MAX_DID_LEN) are errors. A parsed DID keeps its exact text
//! (a service's JSON member order is part of the identifier), so it displays as its input.
//! Numalgo 1, 3 and 4 are refused with [`DidError::UnsupportedNumalgo`].
//!
//! ```
//! use talos_crypto::SigningKey;
//! use talos_did::{DidKey, Document, Element, PeerDid, Purpose, Service};
//!
//! let key = SigningKey::from_seed(&[1; 32]).verifying_key();
//! let peer = PeerDid::numalgo2(&[
//!     Element::key(Purpose::Authentication, DidKey::Ed25519(key)),
//!     Element::key(Purpose::KeyAgreement, DidKey::X25519(key.to_x25519())),
//!     Element::Service(Service::talos_agent("#agent", ["/ip4/127.0.0.1/tcp/4001"]).unwrap()),
//! ])
//! .unwrap();
//! assert!(peer.to_string().starts_with("did:peer:2.Vz6Mk"));
//! assert_eq!(peer.to_string().parse::<PeerDid>().unwrap(), peer);
//! assert_eq!(peer.signing_key(), Some(key));
//!
//! let doc = Document::resolve(&peer.clone().into());
//! assert_eq!(doc.verification_methods()[0].id(), "#key-1");
//! ```
//!
//! [DIF peer DID method]: https://identity.foundation/peer-did-method-spec/

use core::fmt;
use core::hash::{Hash, Hasher};
use core::str::FromStr;

use talos_crypto::json::{self, Map, Value};
use talos_crypto::{VerifyingKey, base64url};

use crate::document::{Document, Purpose, Service};
use crate::{DidError, DidKey};

/// The most elements (keys and services) a `did:peer:2` may have. With
/// [`MAX_DID_LEN`](crate::did::MAX_DID_LEN) this keeps every resolved document well inside
/// [`MAX_DOCUMENT_LEN`](crate::document::MAX_DOCUMENT_LEN).
pub const MAX_ELEMENTS: usize = 16;

/// A `did:peer` of numalgo 0 or 2. Compares, hashes and displays as its exact text.
#[derive(Clone, Debug)]
pub struct PeerDid {
    text: String,
    form: Form,
}

#[derive(Clone, Debug)]
enum Form {
    Zero(DidKey),
    Two(Vec<Element>),
}

/// One element of a `did:peer:2`, in DID order.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Element {
    /// A key with its verification relationship (purpose code `A`, `E`, `V`, `I` or `D`).
    Key {
        /// What the key is for.
        purpose: Purpose,
        /// The key.
        key: DidKey,
    },
    /// A service (purpose code `S`), as it appears in the resolved document: abbreviations
    /// expanded and, if it had none, its assigned id (`#service`, `#service-1`, …).
    Service(Service),
}

impl Element {
    /// A key element.
    #[must_use]
    pub const fn key(purpose: Purpose, key: DidKey) -> Self {
        Self::Key { purpose, key }
    }
}

impl PeerDid {
    /// `did:peer:0` + the multibase of `key`: the peer form of `did:key`.
    #[must_use]
    pub fn numalgo0(key: DidKey) -> Self {
        Self {
            text: format!("did:peer:0{}", key.multibase()),
            form: Form::Zero(key),
        }
    }

    /// Encodes a `did:peer:2` from its elements, in the given order. Services are written as
    /// the canonical JSON (RFC 8785) of their abbreviated form, and must have relative ids
    /// (`#…`).
    ///
    /// # Errors
    /// [`DidError::MalformedPeer`] for no elements; [`DidError::TooManyElements`];
    /// [`DidError::KeyPurposeMismatch`]; [`DidError::BadService`] for a service with an
    /// absolute id or members that clash with the abbreviations; [`DidError::TooLong`].
    pub fn numalgo2(elements: &[Element]) -> Result<Self, DidError> {
        if elements.is_empty() {
            return Err(DidError::MalformedPeer(
                "did:peer:2 needs at least one element",
            ));
        }
        if elements.len() > MAX_ELEMENTS {
            return Err(DidError::TooManyElements {
                got: elements.len(),
                max: MAX_ELEMENTS,
            });
        }
        let mut text = String::from("did:peer:2");
        for element in elements {
            text.push('.');
            match element {
                Element::Key { purpose, key } => {
                    check_purpose(*purpose, key)?;
                    text.push(purpose.peer_code());
                    text.push_str(&key.multibase());
                }
                Element::Service(service) => {
                    if !service.id().starts_with('#') {
                        return Err(DidError::BadService(
                            "service id must be relative (#…)".into(),
                        ));
                    }
                    let abbreviated = abbreviate(&service.to_json_value())?;
                    text.push('S');
                    text.push_str(&base64url::encode(&abbreviated.to_canonical_vec()));
                }
            }
        }
        let parsed: Self = text.parse()?;
        // Expanding what was abbreviated gives back the services as given.
        if parsed.elements() != elements {
            return Err(DidError::BadService(
                "service does not survive abbreviation".into(),
            ));
        }
        Ok(parsed)
    }

    /// The numalgo: 0 or 2.
    #[must_use]
    pub fn numalgo(&self) -> u8 {
        match self.form {
            Form::Zero(_) => 0,
            Form::Two(_) => 2,
        }
    }

    /// The inception key of a numalgo-0 DID.
    #[must_use]
    pub fn inception_key(&self) -> Option<&DidKey> {
        match &self.form {
            Form::Zero(key) => Some(key),
            Form::Two(_) => None,
        }
    }

    /// The elements of a numalgo-2 DID, in DID order; empty for numalgo 0.
    #[must_use]
    pub fn elements(&self) -> &[Element] {
        match &self.form {
            Form::Zero(_) => &[],
            Form::Two(elements) => elements,
        }
    }

    /// The keys of a numalgo-2 DID with their purposes, in DID order.
    pub fn keys(&self) -> impl Iterator<Item = (Purpose, &DidKey)> {
        self.elements().iter().filter_map(|e| match e {
            Element::Key { purpose, key } => Some((*purpose, key)),
            Element::Service(_) => None,
        })
    }

    /// The services of a numalgo-2 DID, in DID order.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.elements().iter().filter_map(|e| match e {
            Element::Service(service) => Some(service),
            Element::Key { .. } => None,
        })
    }

    /// The Ed25519 key that authenticates as this DID: the numalgo-0 key if it is Ed25519, or
    /// the first authentication (`V`) key of a numalgo-2 DID.
    #[must_use]
    pub fn signing_key(&self) -> Option<VerifyingKey> {
        match &self.form {
            Form::Zero(key) => key.ed25519().copied(),
            Form::Two(_) => self
                .keys()
                .find(|(purpose, _)| *purpose == Purpose::Authentication)
                .and_then(|(_, key)| key.ed25519().copied()),
        }
    }

    /// The DID as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for PeerDid {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for PeerDid {}

impl Hash for PeerDid {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl fmt::Display for PeerDid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for PeerDid {
    type Err = DidError;

    fn from_str(s: &str) -> Result<Self, DidError> {
        crate::did::check_len(s)?;
        let rest = s.strip_prefix("did:").ok_or(DidError::NotADid)?;
        let body = rest
            .strip_prefix("peer:")
            .ok_or_else(|| DidError::WrongMethod(crate::method_of(rest)))?;
        let mut chars = body.chars();
        let numalgo = chars
            .next()
            .ok_or(DidError::MalformedPeer("missing numalgo"))?;
        let tail = chars.as_str();
        let form = match numalgo {
            '0' => Form::Zero(DidKey::from_multibase(tail)?),
            '2' => Form::Two(parse_elements(tail)?),
            other => return Err(DidError::UnsupportedNumalgo(other)),
        };
        let peer = Self {
            text: s.to_owned(),
            form,
        };
        if peer.numalgo() == 2 {
            // Ids must be unique across keys and services and the document bounded: check the
            // resolved document once, here, so resolution itself cannot fail.
            Document::resolve_peer(&peer)
                .validated()
                .map_err(|e| DidError::BadService(e.to_string()))?;
        }
        Ok(peer)
    }
}

fn parse_elements(tail: &str) -> Result<Vec<Element>, DidError> {
    let body = tail.strip_prefix('.').ok_or(DidError::MalformedPeer(
        "did:peer:2 elements must start with '.'",
    ))?;
    let count = body.split('.').count();
    if count > MAX_ELEMENTS {
        return Err(DidError::TooManyElements {
            got: count,
            max: MAX_ELEMENTS,
        });
    }
    let mut elements = Vec::with_capacity(count);
    let mut unnamed = 0usize;
    for part in body.split('.') {
        let mut chars = part.chars();
        let code = chars
            .next()
            .ok_or(DidError::MalformedPeer("empty did:peer:2 element"))?;
        let value = chars.as_str();
        if code == 'S' {
            elements.push(Element::Service(decode_service(value, &mut unnamed)?));
        } else {
            let purpose = Purpose::from_peer_code(code).ok_or(DidError::UnknownPurpose(code))?;
            let key = DidKey::from_multibase(value)?;
            check_purpose(purpose, &key)?;
            elements.push(Element::Key { purpose, key });
        }
    }
    Ok(elements)
}

fn check_purpose(purpose: Purpose, key: &DidKey) -> Result<(), DidError> {
    if purpose.fits(key) {
        Ok(())
    } else {
        Err(DidError::KeyPurposeMismatch(purpose.peer_code()))
    }
}

/// Long names and their did:peer:2 abbreviations (`spec/core.md`, "Common String
/// Abbreviations"); the type value `DIDCommMessaging` ↔ `dm` is handled separately.
const ABBREVIATIONS: [(&str, &str); 4] = [
    ("type", "t"),
    ("serviceEndpoint", "s"),
    ("routingKeys", "r"),
    ("accept", "a"),
];

const DIDCOMM: (&str, &str) = ("DIDCommMessaging", "dm");

fn decode_service(value: &str, unnamed: &mut usize) -> Result<Service, DidError> {
    let bytes = base64url::decode(value)
        .map_err(|_| DidError::BadService("not strict unpadded base64url".into()))?;
    let json = json::parse(&bytes).map_err(|e| DidError::BadService(e.to_string()))?;
    let Value::Object(map) = json else {
        return Err(DidError::BadService("not a JSON object".into()));
    };
    let Value::Object(mut map) = rename_keys(Value::Object(map), Direction::Expand)? else {
        return Err(DidError::BadService("not a JSON object".into()));
    };
    if let Some(Value::String(t)) = map.get_mut("type")
        && t == DIDCOMM.1
    {
        DIDCOMM.0.clone_into(t);
    }
    match map.get("id") {
        Some(Value::String(id)) if id.starts_with('#') => {}
        Some(_) => {
            return Err(DidError::BadService(
                "service id must be a relative string (#…)".into(),
            ));
        }
        None => {
            let id = match *unnamed {
                0 => "#service".to_owned(),
                n => format!("#service-{n}"),
            };
            *unnamed += 1;
            map.insert("id".into(), Value::String(id));
        }
    }
    Service::from_json_value(&Value::Object(map)).map_err(|e| DidError::BadService(e.to_string()))
}

/// The abbreviated JSON of a service, for encoding.
fn abbreviate(service: &Value) -> Result<Value, DidError> {
    let mut value = rename_keys(service.clone(), Direction::Abbreviate)?;
    if let Value::Object(map) = &mut value
        && let Some(Value::String(t)) = map.get_mut("t")
    {
        if t == DIDCOMM.1 {
            return Err(DidError::BadService(
                "service type \"dm\" clashes with its abbreviation".into(),
            ));
        }
        if t == DIDCOMM.0 {
            DIDCOMM.1.clone_into(t);
        }
    }
    Ok(value)
}

#[derive(Clone, Copy)]
enum Direction {
    Expand,
    Abbreviate,
}

/// Renames object keys at every depth, refusing renames that would merge two members (and,
/// when abbreviating, keys that already look abbreviated: they would not decode back).
fn rename_keys(value: Value, direction: Direction) -> Result<Value, DidError> {
    Ok(match value {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| rename_keys(v, direction))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, v) in map {
                let renamed = ABBREVIATIONS
                    .iter()
                    .find_map(|&(long, short)| match direction {
                        Direction::Expand => (key == short).then_some(long),
                        Direction::Abbreviate => (key == long).then_some(short),
                    });
                if let Direction::Abbreviate = direction
                    && ABBREVIATIONS.iter().any(|&(_, short)| key == short)
                {
                    return Err(DidError::BadService(format!(
                        "member {:?} clashes with an abbreviation",
                        key.chars().take(8).collect::<String>()
                    )));
                }
                let key = renamed.map_or(key, str::to_owned);
                if out.contains_key(&key) {
                    return Err(DidError::BadService(
                        "a member is given both abbreviated and in full".into(),
                    ));
                }
                out.insert(key, rename_keys(v, direction)?);
            }
            Value::Object(out)
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG";

    #[test]
    fn numalgo0_is_did_key() {
        let peer: PeerDid = format!("did:peer:0{ED}").parse().unwrap();
        assert_eq!(peer.numalgo(), 0);
        assert_eq!(
            peer.inception_key(),
            Some(&DidKey::from_multibase(ED).unwrap())
        );
        assert_eq!(PeerDid::numalgo0(DidKey::from_multibase(ED).unwrap()), peer);
    }

    #[test]
    fn unsupported_numalgos() {
        for n in ['1', '3', '4'] {
            let did = format!("did:peer:{n}zQmS19jtYDvGtKVrJhQnRFpBQAx3pJ9omx2HpNrcXFuRCz9");
            assert_eq!(did.parse::<PeerDid>(), Err(DidError::UnsupportedNumalgo(n)));
        }
        assert_eq!(
            "did:peer:".parse::<PeerDid>(),
            Err(DidError::MalformedPeer("missing numalgo"))
        );
    }

    #[test]
    fn abbreviation_clash_is_refused() {
        let value = json::parse(br##"{"id":"#x","type":"X","serviceEndpoint":{"t":1}}"##).unwrap();
        assert!(matches!(abbreviate(&value), Err(DidError::BadService(_))));
    }
}
