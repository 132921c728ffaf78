//! talos-acl beside biscuit-auth and one Ed25519 verification: the tokens, chains and session
//! caches both the criterion bench (`benches/acl.rs`) and the `compare` binary time.
//!
//! The cold path is what a tool server does with a token it has not seen: parse the JSON,
//! verify the signature (or, for a chain, batch-verify every link), check time and revocation,
//! and authorize one request. biscuit's side ([`crate::acl_peer`]) does the same: parse, verify
//! the signature chain, build an authorizer with the request's facts, authorize. The cached
//! path is [`SessionCache::authorize_fast`] over 100 sessions of 20 scope items each.

use core::hint::black_box;

use criterion::Throughput;
use talos_acl::cache::{SessionCache, SessionId};
use talos_acl::revocation::RevocationSet;
use talos_acl::scope::Request;
use talos_acl::token::{CapabilityHash, CapabilityToken, TokenFields};
use talos_acl::verify::{KeyRing, Verifier};
use talos_crypto::{Signature, SigningKey, Timestamp, VerifyingKey};
use talos_did::Did;

use crate::{Pair, acl_peer};

/// Unix seconds every token is issued at.
pub const IAT: u64 = 1_767_225_600;
/// Unix seconds every token expires at.
pub const EXP: u64 = IAT + 86_400;
/// Unix seconds of every decision.
pub const NOW: u64 = IAT + 3_600;
/// Sessions in the cached-decision benchmark.
pub const SESSIONS: usize = 100;
/// Scope items per session's token.
pub const SCOPES: usize = 20;

fn secs(s: u64) -> Timestamp {
    Timestamp::from_secs(s).unwrap()
}

/// The key of seed byte `n`, and its did:key.
#[must_use]
pub fn identity(n: u8) -> (SigningKey, String) {
    let key = SigningKey::from_seed(&[n; 32]);
    let did = Did::from(key.verifying_key()).to_string();
    (key, did)
}

/// A root token from identity 1 to identity 2 for `tool:filesystem` with `read` and `write`,
/// as JSON bytes (what arrives on the wire).
#[must_use]
pub fn root_token() -> Vec<u8> {
    let (alice, a) = identity(1);
    let (_, b) = identity(2);
    let fields = TokenFields::new(
        &a,
        &b,
        "tool:filesystem/method:read tool:filesystem/method:write",
        secs(IAT),
        secs(EXP),
    );
    CapabilityToken::issue(&alice, &fields).unwrap().to_json()
}

/// A chain of `links` tokens (root first), each delegated by the previous subject and narrower
/// than its parent, as JSON bytes.
#[must_use]
pub fn chain(links: usize) -> Vec<Vec<u8>> {
    let scopes = [
        "tool:filesystem",
        "tool:filesystem/method:read tool:filesystem/method:write",
        "tool:filesystem/method:read",
        "tool:filesystem/method:read",
    ];
    let mut out: Vec<CapabilityToken> = Vec::new();
    for (i, scope) in scopes.iter().take(links).enumerate() {
        let (key, iss) = identity(1 + i as u8);
        let (_, sub) = identity(2 + i as u8);
        let mut fields = TokenFields::new(&iss, &sub, *scope, secs(IAT), secs(EXP));
        if let Some(parent) = out.last() {
            fields = fields.with_parent(parent);
        }
        out.push(CapabilityToken::issue(&key, &fields).unwrap());
    }
    out.iter().map(CapabilityToken::to_json).collect()
}

/// Cold path: parse, verify and authorize `read` on `filesystem`, the issuer key given
/// explicitly (`key`) or resolved from the did:key (`None`). `true` if allowed.
#[must_use]
pub fn cold(json: &[u8], key: Option<&VerifyingKey>, revoked: &RevocationSet) -> bool {
    let Ok(token) = CapabilityToken::from_json(json) else {
        return false;
    };
    let request = Request::new("filesystem").with_method("read");
    Verifier::default()
        .verify(core::slice::from_ref(&token), key, secs(NOW), revoked)
        .is_ok_and(|v| v.authorize(&request).is_allow())
}

/// Cold path for a chain, issuers resolved through `ring` (every DID of the chain already
/// decoded, as a node keeps them). `true` if allowed.
#[must_use]
pub fn cold_chain(links: &[Vec<u8>], ring: &KeyRing, revoked: &RevocationSet) -> bool {
    let Ok(chain) = links
        .iter()
        .map(|j| CapabilityToken::from_json(j))
        .collect::<Result<Vec<_>, _>>()
    else {
        return false;
    };
    let request = Request::new("filesystem").with_method("read");
    Verifier::default()
        .verify_with(&chain, None, ring, secs(NOW), revoked)
        .is_ok_and(|v| v.authorize(&request).is_allow())
}

/// A [`KeyRing`] holding identities 1 to 5.
#[must_use]
pub fn key_ring() -> KeyRing {
    let mut ring = KeyRing::new();
    for n in 1..=5 {
        ring.insert_did(&identity(n).1);
    }
    ring
}

/// A session cache of [`SESSIONS`] sessions, each admitted with a token of [`SCOPES`] scope
/// items (`tool:tool_NN/method:read`), and the requests that exercise them.
pub struct CachedSessions {
    /// The cache.
    pub cache: SessionCache,
    /// Session ids and their capability hashes.
    pub sessions: Vec<(SessionId, CapabilityHash)>,
    /// One request per scope item.
    pub tools: Vec<String>,
    /// The (empty) revocation set.
    pub revoked: RevocationSet,
}

impl core::fmt::Debug for CachedSessions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "CachedSessions({})", self.sessions.len())
    }
}

impl CachedSessions {
    /// Builds the cache (one full verification per session).
    #[must_use]
    pub fn new() -> Self {
        let (key, iss) = identity(1);
        let revoked = RevocationSet::default();
        let mut cache = SessionCache::default();
        let tools: Vec<String> = (0..SCOPES).map(|i| format!("tool_{i:02}")).collect();
        let scope = tools
            .iter()
            .map(|t| format!("tool:{t}/method:read"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut sessions = Vec::new();
        for s in 0..SESSIONS {
            let (_, sub) = identity(10 + (s % 200) as u8);
            let fields =
                TokenFields::new(&iss, &sub, scope.as_str(), secs(IAT), secs(EXP + s as u64));
            let token = CapabilityToken::issue(&key, &fields).unwrap();
            let verified = Verifier::default()
                .verify(core::slice::from_ref(&token), None, secs(NOW), &revoked)
                .unwrap();
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(s as u64 * 0x9e37_79b9_7f4a_7c15).to_le_bytes());
            assert!(cache.admit(id, verified));
            sessions.push((id, *token.capability_hash()));
        }
        Self {
            cache,
            sessions,
            tools,
            revoked,
        }
    }

    /// Decision `i` of a fixed round-robin over sessions and tools; `true` if allowed.
    #[inline]
    pub fn decide(&mut self, i: usize) -> bool {
        let (id, hash) = self.sessions[i % SESSIONS];
        let request = Request::new(&self.tools[(i / SESSIONS) % SCOPES]).with_method("read");
        self.cache
            .authorize_fast(id, &hash, &request, secs(NOW), &self.revoked)
            .is_ok_and(|d| d.is_allow())
    }
}

impl Default for CachedSessions {
    fn default() -> Self {
        Self::new()
    }
}

/// The pairs `compare` times: our cold path against biscuit's verify + authorize (one token,
/// and a 3-link chain against a 3-block biscuit; like biscuit's root key, our issuer keys are
/// already parsed: given, or in a [`KeyRing`]), and against one Ed25519 verification (the
/// goals are ≤ 1.2× for a token, also when its did:key is decoded, and ≤ 2× for a 3-link
/// chain).
#[must_use]
pub fn acl_pairs() -> Vec<Pair> {
    let revoked = RevocationSet::default();
    let token = root_token();
    let (alice, _) = identity(1);
    let alice_pk = alice.verifying_key();
    let links = chain(3);
    let ring = key_ring();
    assert!(cold(&token, Some(&alice_pk), &revoked));
    assert!(cold(&token, None, &revoked));
    assert!(cold_chain(&links, &ring, &revoked));

    let peer = acl_peer::token("filesystem", &["read", "write"], EXP, 1);
    let peer_chain = acl_peer::token("filesystem", &["read", "write"], EXP, 3);
    assert!(acl_peer::verify_authorize(&peer, "filesystem", "read", NOW));
    assert!(acl_peer::verify_authorize(
        &peer_chain,
        "filesystem",
        "read",
        NOW
    ));

    // One Ed25519 verification of a message as long as the token's signed bytes.
    let message = CapabilityToken::from_json(&token)
        .unwrap()
        .signing_bytes()
        .to_vec();
    let signature: Signature = alice.sign(&message);

    let one = Throughput::Elements(1);
    let mut pairs = Vec::new();
    {
        // Both sides hold the issuer's public key already parsed (biscuit's root key).
        let (token, peer, revoked) = (token.clone(), peer, revoked.clone());
        pairs.push(Pair::new(
            "acl",
            "verify+authorize token vs biscuit",
            "biscuit-auth 6.0.0 (1 block)",
            one.clone(),
            move || assert!(cold(black_box(&token), Some(&alice_pk), &revoked)),
            move || {
                assert!(acl_peer::verify_authorize(
                    black_box(&peer),
                    "filesystem",
                    "read",
                    NOW
                ));
            },
        ));
    }
    {
        let (links, ring, revoked) = (links.clone(), ring.clone(), revoked.clone());
        pairs.push(Pair::new(
            "acl",
            "verify+authorize 3-link chain vs biscuit",
            "biscuit-auth 6.0.0 (3 blocks)",
            one.clone(),
            move || assert!(cold_chain(black_box(&links), &ring, &revoked)),
            move || {
                assert!(acl_peer::verify_authorize(
                    black_box(&peer_chain),
                    "filesystem",
                    "read",
                    NOW
                ));
            },
        ));
    }
    for (name, key) in [
        ("verify+authorize token (did:key) vs 1 Ed25519 verify", None),
        (
            "verify+authorize token (key given) vs 1 Ed25519 verify",
            Some(alice_pk),
        ),
    ] {
        let (token, revoked, message) = (token.clone(), revoked.clone(), message.clone());
        pairs.push(Pair::new(
            "acl",
            name,
            "Ed25519 verify of the signed bytes (talos-crypto)",
            one.clone(),
            move || assert!(cold(black_box(&token), key.as_ref(), &revoked)),
            move || {
                alice_pk.verify(black_box(&message), &signature).unwrap();
            },
        ));
    }
    {
        let message = message.clone();
        pairs.push(Pair::new(
            "acl",
            "verify+authorize 3-link chain vs 1 Ed25519 verify",
            "Ed25519 verify of the signed bytes (talos-crypto)",
            one,
            move || assert!(cold_chain(black_box(&links), &ring, &revoked)),
            move || {
                alice_pk.verify(black_box(&message), &signature).unwrap();
            },
        ));
    }
    pairs
}
