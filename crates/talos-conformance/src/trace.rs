//! Double Ratchet traces in the format of the upstream golden trace
//! `talos-contracts/test_vectors/sdk/ratchet/v1_1_0_roundtrip.json`: [`replay`] runs any such
//! trace through `talos-ratchet` (talos-v1.1), however long, and [`generate`] writes one
//! produced by `talos-ratchet` from a seed.
//!
//! A trace holds Alice's and Bob's keys (`alice.ephemeral_private` is Alice's first ratchet
//! key; Bob's `prekey_bundle` and `bundle_secrets.signed_prekey_private`) and `steps` in
//! execution order:
//!
//! - `encrypt`: `plaintext` and what it produced, `header {dh, n, pn}`, `nonce`, `ciphertext`,
//!   `aad` (the canonical header) and `wire_message_b64u`; plus `ratchet_priv` when the message
//!   is the first sent under a new ratchet key (the private key behind `header.dh`).
//! - `decrypt`: `wire_message_b64u` and `expected_plaintext`. A decrypt step may deliver any
//!   earlier message, so the order of the decrypt steps is the delivery order: out-of-order
//!   delivery needs no extra field.
//!
//! Replaying injects the trace's randomness: each encrypt gets an RNG that holds exactly
//! `ratchet_priv` (if given) and then `nonce`, which is what a talos-v1.1 encrypt draws, and
//! every output is compared byte for byte. A `ratchet_priv` given on a decrypt step (where the
//! Python SDK draws the key) is kept for the actor's next encrypt. `.ci/ratchet-interop/` runs
//! the same traces through the upstream Python SDK; its README describes the format in full.
//!
//! ```
//! let (trace, generated) = talos_conformance::trace::generate(7, 40).unwrap();
//! let replayed = talos_conformance::trace::replay(&trace).unwrap();
//! assert_eq!(generated, replayed);
//! assert_eq!(replayed.encrypts, 40);
//! ```

use core::convert::Infallible;
use core::fmt;
use std::collections::{HashMap, HashSet};
use std::path::Path;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng as _, SeedableRng as _, TryCryptoRng, TryRng};
use talos_crypto::json::{Map, Number, Value};
use talos_crypto::x25519::StaticSecret;
use talos_crypto::{SigningKey, base64url};
use talos_ratchet::message::{Header, Message};
use talos_ratchet::v1_1;

use crate::scripted_rng::ScriptedRng;
use crate::util::{array_field, field, s, str_field};

/// Most messages [`generate`] writes (a trace holds twice as many steps).
pub const MAX_MESSAGES: usize = 100_000;

/// Most steps [`replay`] accepts.
pub const MAX_STEPS: usize = 2 * MAX_MESSAGES;

/// Why a trace did not replay.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceError {
    /// The document is not a trace: a field is missing, has the wrong type or length, or
    /// the steps are not a possible execution (command-line exit status 2).
    Malformed(String),
    /// `talos-ratchet` disagrees with the trace (command-line exit status 1).
    Mismatch(String),
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed trace: {e}"),
            Self::Mismatch(e) => write!(f, "mismatch: {e}"),
        }
    }
}

impl core::error::Error for TraceError {}

/// What a trace holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Steps in the trace.
    pub steps: usize,
    /// Encrypt steps (each reproduced byte for byte when replayed).
    pub encrypts: usize,
    /// Decrypt steps.
    pub decrypts: usize,
    /// Encrypt steps that start a new ratchet key after the session start.
    pub new_ratchet_keys: usize,
    /// Deliveries of a message after a later one from the same sender.
    pub out_of_order: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} steps: {} encrypts, {} decrypts, {} new ratchet keys, {} out-of-order deliveries",
            self.steps, self.encrypts, self.decrypts, self.new_ratchet_keys, self.out_of_order
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Actor {
    Alice,
    Bob,
}

impl Actor {
    const fn name(self) -> &'static str {
        match self {
            Self::Alice => "alice",
            Self::Bob => "bob",
        }
    }

    const fn title(self) -> &'static str {
        match self {
            Self::Alice => "Alice",
            Self::Bob => "Bob",
        }
    }

    const fn index(self) -> usize {
        match self {
            Self::Alice => 0,
            Self::Bob => 1,
        }
    }

    const fn peer(self) -> Self {
        match self {
            Self::Alice => Self::Bob,
            Self::Bob => Self::Alice,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The calls into talos-ratchet, in one place.

mod ours {
    use talos_crypto::CryptoRng;
    use talos_crypto::x25519::StaticSecret;
    use talos_ratchet::message::Message;
    use talos_ratchet::session::Session;
    use talos_ratchet::v1_1;

    pub(super) type Ratchet = Session;

    /// Alice's session from Bob's bundle; draws her ephemeral key from `rng`.
    pub(super) fn initiator(
        bundle: &v1_1::PrekeyBundle,
        rng: &mut impl CryptoRng,
    ) -> Result<Ratchet, String> {
        v1_1::initiate(bundle, rng).map_err(|e| e.to_string())
    }

    /// Bob's session from his signed prekey and the first message he receives, and that
    /// message's plaintext.
    pub(super) fn responder(
        signed_prekey: &StaticSecret,
        first: &Message,
    ) -> Result<(Ratchet, Vec<u8>), String> {
        v1_1::accept(signed_prekey, first)
            .map(|(session, plaintext)| (session, plaintext.to_vec()))
            .map_err(|e| e.to_string())
    }

    /// Decrypts `message` in `session`, or starts Bob's session with it.
    pub(super) fn receive(
        session: &mut Option<Ratchet>,
        signed_prekey: &StaticSecret,
        message: &Message,
    ) -> Result<Vec<u8>, String> {
        match session {
            Some(session) => decrypt(session, message),
            None => {
                let (new, plaintext) = responder(signed_prekey, message)?;
                *session = Some(new);
                Ok(plaintext)
            }
        }
    }

    pub(super) fn encrypt(
        session: &mut Ratchet,
        plaintext: &[u8],
        rng: &mut impl CryptoRng,
    ) -> Result<Message, String> {
        session.encrypt(plaintext, rng).map_err(|e| e.to_string())
    }

    pub(super) fn decrypt(session: &mut Ratchet, message: &Message) -> Result<Vec<u8>, String> {
        session
            .decrypt(message)
            .map(|pt| pt.to_vec())
            .map_err(|e| e.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Randomness.

/// A ChaCha20 RNG that records what it hands out.
struct Tee<'a> {
    inner: &'a mut ChaCha20Rng,
    drawn: Vec<u8>,
}

impl<'a> Tee<'a> {
    fn new(inner: &'a mut ChaCha20Rng) -> Self {
        Self {
            inner,
            drawn: Vec::new(),
        }
    }
}

impl TryRng for Tee<'_> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.inner.fill_bytes(dst);
        self.drawn.extend_from_slice(dst);
        Ok(())
    }
}

impl TryCryptoRng for Tee<'_> {}

// ---------------------------------------------------------------------------------------------
// Reading traces.

fn malformed(e: impl Into<String>) -> TraceError {
    TraceError::Malformed(e.into())
}

fn mismatch(e: impl Into<String>) -> TraceError {
    TraceError::Mismatch(e.into())
}

fn b64(value: &Value, key: &str, at: &str) -> Result<Vec<u8>, TraceError> {
    let text = str_field(value, key).map_err(|e| malformed(format!("{at}: {e}")))?;
    base64url::decode(text).map_err(|e| malformed(format!("{at}: {key}: {e}")))
}

fn b64_array<const N: usize>(value: &Value, key: &str, at: &str) -> Result<[u8; N], TraceError> {
    b64(value, key, at)?
        .try_into()
        .map_err(|_| malformed(format!("{at}: {key} is not {N} bytes")))
}

fn sub<'a>(value: &'a Value, key: &str, at: &str) -> Result<&'a Value, TraceError> {
    field(value, key).map_err(|e| malformed(format!("{at}: {e}")))
}

/// `field == ours` (as base64url), else a mismatch naming both.
fn same_b64(at: &str, what: &str, trace: &str, ours: &[u8]) -> Result<(), TraceError> {
    let ours = base64url::encode(ours);
    if ours == trace {
        Ok(())
    } else {
        Err(mismatch(format!(
            "{at}: {what} differs: talos-ratchet {ours}, trace {trace}"
        )))
    }
}

fn header_value(header: &Header) -> Value {
    Value::Object(Map::from([
        ("dh".to_owned(), s(base64url::encode(header.dh.as_bytes()))),
        ("n".to_owned(), Value::Number(Number::from(header.n))),
        ("pn".to_owned(), Value::Number(Number::from(header.pn))),
    ]))
}

/// The keys of a trace, checked for consistency.
struct Keys {
    alice_identity: SigningKey,
    alice_ephemeral: [u8; 32],
    bob_identity: SigningKey,
    signed_prekey: [u8; 32],
}

impl Keys {
    fn read(trace: &Value) -> Result<Self, TraceError> {
        let alice = sub(trace, "alice", "trace")?;
        let bob = sub(trace, "bob", "trace")?;
        let bundle = sub(bob, "prekey_bundle", "bob")?;
        let secrets = sub(bob, "bundle_secrets", "bob")?;
        let keys = Self {
            alice_identity: SigningKey::from_seed(&b64_array(alice, "identity_private", "alice")?),
            alice_ephemeral: b64_array(alice, "ephemeral_private", "alice")?,
            bob_identity: SigningKey::from_seed(&b64_array(bob, "identity_private", "bob")?),
            signed_prekey: b64_array(secrets, "signed_prekey_private", "bob.bundle_secrets")?,
        };
        let text = |v: &Value, k: &str, at: &str| {
            str_field(v, k)
                .map(str::to_owned)
                .map_err(|e| malformed(format!("{at}: {e}")))
        };
        let bob_public = keys.bob_identity.verifying_key();
        let spk_public = keys.spk().public_key();
        same_b64(
            "alice",
            "identity_public (the Ed25519 key of identity_private)",
            &text(alice, "identity_public", "alice")?,
            keys.alice_identity.verifying_key().as_bytes(),
        )?;
        same_b64(
            "bob",
            "identity_public (the Ed25519 key of identity_private)",
            &text(bob, "identity_public", "bob")?,
            bob_public.as_bytes(),
        )?;
        same_b64(
            "bob.prekey_bundle",
            "identity_key",
            &text(bundle, "identity_key", "bob.prekey_bundle")?,
            bob_public.as_bytes(),
        )?;
        same_b64(
            "bob.prekey_bundle",
            "signed_prekey (the X25519 key of signed_prekey_private)",
            &text(bundle, "signed_prekey", "bob.prekey_bundle")?,
            spk_public.as_bytes(),
        )?;
        same_b64(
            "bob.prekey_bundle",
            "prekey_signature (Ed25519 of the identity key over the signed prekey)",
            &text(bundle, "prekey_signature", "bob.prekey_bundle")?,
            &keys.bob_identity.sign(spk_public.as_bytes()).to_bytes(),
        )?;
        match bundle.get("one_time_prekey") {
            None | Some(Value::Null) => Ok(keys),
            Some(_) => Err(malformed(
                "bob.prekey_bundle: talos-v1.1 has no one-time prekey (must be null)",
            )),
        }
    }

    fn spk(&self) -> StaticSecret {
        StaticSecret::from_bytes(self.signed_prekey)
    }
}

// ---------------------------------------------------------------------------------------------
// Replay.

/// Tracks deliveries to count out-of-order ones and refuse duplicates.
#[derive(Default)]
struct Deliveries {
    /// Wire message → (sender, index in the sender's sends).
    sent: HashMap<String, (Actor, usize)>,
    delivered: HashSet<String>,
    count: [usize; 2],
    highest: [Option<usize>; 2],
    out_of_order: usize,
}

impl Deliveries {
    fn sent(&mut self, sender: Actor, wire: &str) -> usize {
        let index = self.count[sender.index()];
        self.count[sender.index()] += 1;
        self.sent.insert(wire.to_owned(), (sender, index));
        index
    }

    /// Records a delivery; the sender of a message sent in the trace, `None` for one the
    /// trace never sent.
    fn deliver(&mut self, wire: &str, at: &str) -> Result<Option<Actor>, TraceError> {
        let Some(&(sender, index)) = self.sent.get(wire) else {
            return Ok(None);
        };
        if !self.delivered.insert(wire.to_owned()) {
            return Err(malformed(format!(
                "{at}: delivers the same message twice (a trace holds valid traffic only)"
            )));
        }
        let highest = &mut self.highest[sender.index()];
        let late = highest.is_some_and(|h| index < h);
        if late {
            self.out_of_order += 1;
        }
        *highest = Some(highest.map_or(index, |h| h.max(index)));
        Ok(Some(sender))
    }
}

/// Replays a trace through `talos-ratchet`, comparing every encrypt byte for byte (with the
/// trace's `ratchet_priv` and `nonce` injected) and every decrypt's plaintext.
///
/// # Errors
/// [`TraceError::Malformed`] if the document is not a trace, [`TraceError::Mismatch`] at the
/// first step where `talos-ratchet` disagrees with it.
pub fn replay(trace: &Value) -> Result<Summary, TraceError> {
    let keys = Keys::read(trace)?;
    let steps = array_field(trace, "steps").map_err(malformed)?;
    if steps.is_empty() || steps.len() > MAX_STEPS {
        return Err(malformed(format!(
            "steps: expected 1 to {MAX_STEPS} steps, got {}",
            steps.len()
        )));
    }
    // talos-ratchet's own decoder reads the bundle (Keys::read checked it against the keys).
    let bundle =
        v1_1::PrekeyBundle::from_value(sub(sub(trace, "bob", "trace")?, "prekey_bundle", "bob")?)
            .map_err(|e| mismatch(format!("bob.prekey_bundle: talos-ratchet refuses it: {e}")))?;
    let mut script = ScriptedRng::new(&[&keys.alice_ephemeral]);
    let alice = ours::initiator(&bundle, &mut script)
        .map_err(|e| mismatch(format!("session start: {e}")))?;
    script
        .check_drained("session start (alice.ephemeral_private)")
        .map_err(mismatch)?;
    let mut sessions = [Some(alice), None];
    let mut pending_key: [Option<[u8; 32]>; 2] = [None, None];
    let mut deliveries = Deliveries::default();
    let mut summary = Summary {
        steps: steps.len(),
        ..Summary::default()
    };

    for (i, step) in steps.iter().enumerate() {
        let at = match step.get("step").and_then(|v| match v {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }) {
            Some(n) => format!("step {n}"),
            None => format!("step #{}", i + 1),
        };
        let actor = match str_field(step, "actor").map_err(|e| malformed(format!("{at}: {e}")))? {
            "alice" => Actor::Alice,
            "bob" => Actor::Bob,
            other => return Err(malformed(format!("{at}: unknown actor {other:?}"))),
        };
        match str_field(step, "action").map_err(|e| malformed(format!("{at}: {e}")))? {
            "encrypt" => {
                summary.encrypts += 1;
                let given = match step.get("ratchet_priv") {
                    Some(_) => Some(b64_array::<32>(step, "ratchet_priv", &at)?),
                    None => None,
                };
                let key = given.or(pending_key[actor.index()].take());
                if key.is_some() {
                    summary.new_ratchet_keys += 1;
                }
                let session = sessions[actor.index()].as_mut().ok_or_else(|| {
                    mismatch(format!(
                        "{at}: Bob encrypts before receiving (talos-v1.1 starts with Alice)"
                    ))
                })?;
                replay_encrypt(step, &at, session, key)?;
                let wire = str_field(step, "wire_message_b64u").map_err(malformed)?;
                deliveries.sent(actor, wire);
            }
            "decrypt" => {
                summary.decrypts += 1;
                if step.get("ratchet_priv").is_some() {
                    pending_key[actor.index()] = Some(b64_array(step, "ratchet_priv", &at)?);
                }
                let wire = str_field(step, "wire_message_b64u")
                    .map_err(|e| malformed(format!("{at}: {e}")))?;
                if deliveries.deliver(wire, &at)? == Some(actor) {
                    return Err(malformed(format!(
                        "{at}: {} receives a message {} sent",
                        actor.name(),
                        actor.name()
                    )));
                }
                let expected = b64(step, "expected_plaintext", &at)?;
                let message = Message::from_wire_b64u(wire).map_err(|e| {
                    mismatch(format!(
                        "{at}: talos-ratchet cannot decode the message: {e}"
                    ))
                })?;
                // Only Bob starts without a session: his first message creates it.
                let plaintext = ours::receive(&mut sessions[actor.index()], &keys.spk(), &message)
                    .map_err(|e| {
                        mismatch(format!("{at}: talos-ratchet refuses the message: {e}"))
                    })?;
                same_b64(&at, "plaintext", &base64url::encode(&expected), &plaintext)?;
            }
            other => return Err(malformed(format!("{at}: unknown action {other:?}"))),
        }
    }
    summary.out_of_order = deliveries.out_of_order;
    Ok(summary)
}

fn replay_encrypt(
    step: &Value,
    at: &str,
    session: &mut ours::Ratchet,
    ratchet_key: Option<[u8; 32]>,
) -> Result<(), TraceError> {
    let plaintext = b64(step, "plaintext", at)?;
    let nonce = b64_array::<12>(step, "nonce", at)?;
    let mut script = ScriptedRng::new(&[ratchet_key.as_ref().map_or(&[][..], |k| &k[..]), &nonce]);
    let message = ours::encrypt(session, &plaintext, &mut script)
        .map_err(|e| mismatch(format!("{at}: talos-ratchet cannot encrypt: {e}")))?;
    let given = if ratchet_key.is_some() {
        "encrypt (ratchet_priv, nonce)"
    } else {
        "encrypt (nonce, no ratchet_priv)"
    };
    script
        .check_drained(&format!("{at}: {given}"))
        .map_err(mismatch)?;
    let header = sub(step, "header", at)?;
    if *header != header_value(&message.header) {
        return Err(mismatch(format!(
            "{at}: header differs: talos-ratchet {}, trace {}",
            header_value(&message.header).to_canonical_string(),
            header.to_canonical_string()
        )));
    }
    let text = |k: &str| str_field(step, k).map_err(|e| malformed(format!("{at}: {e}")));
    same_b64(at, "nonce", text("nonce")?, &message.nonce)?;
    same_b64(at, "ciphertext", text("ciphertext")?, &message.ciphertext)?;
    same_b64(at, "aad", text("aad")?, &message.header.to_canonical_json())?;
    let wire = message.to_wire_b64u();
    let trace_wire = text("wire_message_b64u")?;
    if wire != trace_wire {
        return Err(mismatch(format!(
            "{at}: wire_message_b64u differs: talos-ratchet {wire}, trace {trace_wire}"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Generation.

/// A number below `bound` (> 0), from the top bits of a 64-bit draw (bias < 2^-40 for the
/// small bounds used here).
fn below(rng: &mut ChaCha20Rng, bound: usize) -> usize {
    let wide = u128::from(rng.next_u64()) * bound as u128;
    usize::try_from(wide >> 64).unwrap_or(0)
}

struct InFlight {
    step: usize,
    sender: Actor,
    index: usize,
    wire: String,
    plaintext: Vec<u8>,
}

/// Writes a talos-v1.1 trace produced by `talos-ratchet`: keys, nonces, plaintexts and the
/// schedule all come from `ChaCha20Rng::seed_from_u64(seed)`. Alice and Bob send `messages`
/// messages between them in a random interleaving (Bob once he has received); a delivery
/// takes the oldest message in flight, or with probability 1/4 one of the next five, so
/// deliveries are often out of order while skipped-key gaps stay small; after the last send
/// everything still in flight is delivered. The result replays with [`replay`] (checked
/// before returning).
///
/// # Errors
/// [`TraceError::Malformed`] if `messages` is 0 or above [`MAX_MESSAGES`];
/// [`TraceError::Mismatch`] if `talos-ratchet` fails on its own traffic.
pub fn generate(seed: u64, messages: usize) -> Result<(Value, Summary), TraceError> {
    if messages == 0 || messages > MAX_MESSAGES {
        return Err(malformed(format!(
            "messages must be 1 to {MAX_MESSAGES}, got {messages}"
        )));
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let draw32 = |rng: &mut ChaCha20Rng| {
        let mut b = [0; 32];
        rng.fill_bytes(&mut b);
        b
    };
    let alice_seed = draw32(&mut rng);
    let bob_seed = draw32(&mut rng);
    let spk_bytes = draw32(&mut rng);
    let alice_identity = SigningKey::from_seed(&alice_seed);
    let bob_identity = SigningKey::from_seed(&bob_seed);
    let spk = StaticSecret::from_bytes(spk_bytes);
    let spk_public = spk.public_key();
    let bundle = v1_1::PrekeyBundle::new(&bob_identity, &spk_public);

    let mut tee = Tee::new(&mut rng);
    let alice =
        ours::initiator(&bundle, &mut tee).map_err(|e| mismatch(format!("session start: {e}")))?;
    let ephemeral: [u8; 32] = tee.drawn.as_slice().try_into().map_err(|_| {
        mismatch(format!(
            "session start drew {} bytes, not one 32-byte key",
            tee.drawn.len()
        ))
    })?;

    let mut sessions = [Some(alice), None];
    let mut in_flight: [Vec<InFlight>; 2] = [Vec::new(), Vec::new()];
    let mut sent = [0_usize; 2];
    let mut highest: [Option<usize>; 2] = [None, None];
    let mut steps = Vec::with_capacity(2 * messages);
    let mut total = 0;
    while total < messages || in_flight.iter().any(|q| !q.is_empty()) {
        let mut choices = Vec::with_capacity(4);
        if total < messages {
            choices.push((true, Actor::Alice));
            if sessions[Actor::Bob.index()].is_some() {
                choices.push((true, Actor::Bob));
            }
        }
        for actor in [Actor::Alice, Actor::Bob] {
            if !in_flight[actor.index()].is_empty() {
                choices.push((false, actor));
            }
        }
        let Some(&(send, actor)) = choices.get(below(&mut rng, choices.len())) else {
            break;
        };
        let step_no = steps.len() + 1;
        if send {
            let index = sent[actor.index()];
            let plaintext = plaintext(&mut rng, actor, index);
            let session = sessions[actor.index()]
                .as_mut()
                .ok_or_else(|| mismatch("no session"))?;
            let mut tee = Tee::new(&mut rng);
            let message = ours::encrypt(session, &plaintext, &mut tee)
                .map_err(|e| mismatch(format!("step {step_no}: encrypt: {e}")))?;
            let drawn = tee.drawn;
            let ratchet_priv = match drawn.len() {
                12 => None,
                44 => drawn.get(..32).map(base64url::encode),
                n => {
                    return Err(mismatch(format!(
                        "step {step_no}: encrypt drew {n} bytes (expected 12, or 32 + 12)"
                    )));
                }
            };
            if drawn.get(drawn.len() - 12..) != Some(message.nonce.as_slice()) {
                return Err(mismatch(format!(
                    "step {step_no}: the nonce is not the last 12 bytes drawn"
                )));
            }
            let wire = message.to_wire_b64u();
            let mut description = format!(
                "{} sends message {index} (n={}, pn={})",
                actor.title(),
                message.header.n,
                message.header.pn
            );
            let mut step = Map::from([
                ("step".to_owned(), count(step_no)?),
                ("action".to_owned(), s("encrypt")),
                ("actor".to_owned(), s(actor.name())),
                ("plaintext".to_owned(), s(base64url::encode(&plaintext))),
                ("header".to_owned(), header_value(&message.header)),
                ("nonce".to_owned(), s(base64url::encode(&message.nonce))),
                (
                    "ciphertext".to_owned(),
                    s(base64url::encode(&message.ciphertext)),
                ),
                ("wire_message_b64u".to_owned(), s(wire.clone())),
                (
                    "aad".to_owned(),
                    s(base64url::encode(&message.header.to_canonical_json())),
                ),
            ]);
            if let Some(key) = ratchet_priv {
                description.push_str(", new ratchet key");
                step.insert("ratchet_priv".to_owned(), s(key));
            }
            step.insert("description".to_owned(), s(description));
            steps.push(Value::Object(step));
            in_flight[actor.peer().index()].push(InFlight {
                step: step_no,
                sender: actor,
                index,
                wire,
                plaintext,
            });
            sent[actor.index()] += 1;
            total += 1;
        } else {
            let queue = &mut in_flight[actor.index()];
            let pick = if queue.len() > 1 && below(&mut rng, 4) == 0 {
                1 + below(&mut rng, queue.len().min(6) - 1)
            } else {
                0
            };
            let msg = queue.remove(pick);
            let message = Message::from_wire_b64u(&msg.wire)
                .map_err(|e| mismatch(format!("step {step_no}: decode: {e}")))?;
            let plaintext = ours::receive(&mut sessions[actor.index()], &spk, &message)
                .map_err(|e| mismatch(format!("step {step_no}: decrypt: {e}")))?;
            if plaintext != msg.plaintext {
                return Err(mismatch(format!(
                    "step {step_no}: message of step {} decrypts to another plaintext",
                    msg.step
                )));
            }
            let highest = &mut highest[msg.sender.index()];
            let late = highest.is_some_and(|h| msg.index < h);
            *highest = Some(highest.map_or(msg.index, |h| h.max(msg.index)));
            let mut description = format!(
                "{} receives message {} (step {})",
                actor.title(),
                msg.index,
                msg.step
            );
            if late {
                description.push_str(", out of order");
            }
            steps.push(Value::Object(Map::from([
                ("step".to_owned(), count(step_no)?),
                ("action".to_owned(), s("decrypt")),
                ("actor".to_owned(), s(actor.name())),
                ("description".to_owned(), s(description)),
                ("wire_message_b64u".to_owned(), s(msg.wire)),
                (
                    "expected_plaintext".to_owned(),
                    s(base64url::encode(&msg.plaintext)),
                ),
            ])));
        }
    }

    let bob_public = bob_identity.verifying_key();
    let mut trace = Map::from([
        (
            "title".to_owned(),
            s(format!(
                "Ratchet trace (talos-v1.1), generated by talos-ratchet {}",
                talos_ratchet::VERSION
            )),
        ),
        ("version".to_owned(), s("1.1.0")),
        (
            "alice".to_owned(),
            Value::Object(Map::from([
                (
                    "identity_public".to_owned(),
                    s(base64url::encode(alice_identity.verifying_key().as_bytes())),
                ),
                (
                    "identity_private".to_owned(),
                    s(base64url::encode(&alice_seed)),
                ),
                (
                    "ephemeral_private".to_owned(),
                    s(base64url::encode(&ephemeral)),
                ),
            ])),
        ),
        (
            "bob".to_owned(),
            Value::Object(Map::from([
                (
                    "identity_public".to_owned(),
                    s(base64url::encode(bob_public.as_bytes())),
                ),
                (
                    "identity_private".to_owned(),
                    s(base64url::encode(&bob_seed)),
                ),
                (
                    "prekey_bundle".to_owned(),
                    Value::Object(Map::from([
                        (
                            "identity_key".to_owned(),
                            s(base64url::encode(bob_public.as_bytes())),
                        ),
                        (
                            "signed_prekey".to_owned(),
                            s(base64url::encode(spk_public.as_bytes())),
                        ),
                        (
                            "prekey_signature".to_owned(),
                            s(base64url::encode(&bundle.prekey_signature().to_bytes())),
                        ),
                        ("one_time_prekey".to_owned(), Value::Null),
                    ])),
                ),
                (
                    "bundle_secrets".to_owned(),
                    Value::Object(Map::from([(
                        "signed_prekey_private".to_owned(),
                        s(base64url::encode(&spk_bytes)),
                    )])),
                ),
            ])),
        ),
        ("steps".to_owned(), Value::Array(steps)),
    ]);
    // Replaying is the check that every recorded value is what the step produced.
    let summary = replay(&Value::Object(trace.clone()))?;
    trace.insert(
        "description".to_owned(),
        s(format!(
            "Generated by talos-conformance ratchet-trace --generate with talos-ratchet {}, \
             seed {seed}, {messages} messages, {} new ratchet keys, {} out-of-order deliveries. \
             Format of v1_1_0_roundtrip.json; see .ci/ratchet-interop/README.md.",
            talos_ratchet::VERSION,
            summary.new_ratchet_keys,
            summary.out_of_order
        )),
    );
    Ok((Value::Object(trace), summary))
}

/// [`replay`] of a JSON file.
///
/// # Errors
/// As [`replay`]; an unreadable or unparsable file is [`TraceError::Malformed`].
pub fn replay_file(path: &Path) -> Result<Summary, TraceError> {
    let doc =
        crate::util::read_json(path).map_err(|e| malformed(format!("{}: {e}", path.display())))?;
    replay(&doc)
}

/// [`generate`], written to `out` as indented JSON.
///
/// # Errors
/// As [`generate`]; a failed write is [`TraceError::Malformed`].
pub fn generate_file(out: &Path, seed: u64, messages: usize) -> Result<Summary, TraceError> {
    let (doc, summary) = generate(seed, messages)?;
    let mut text = crate::golden::to_pretty(&doc);
    text.push('\n');
    std::fs::write(out, text)
        .map_err(|e| malformed(format!("cannot write {}: {e}", out.display())))?;
    Ok(summary)
}

fn count(n: usize) -> Result<Value, TraceError> {
    u64::try_from(n)
        .ok()
        .and_then(|n| Number::try_from(n).ok())
        .map(Value::Number)
        .ok_or_else(|| malformed("step number out of range"))
}

/// Short text plus random bytes; sometimes empty, sometimes over 1 KiB.
fn plaintext(rng: &mut ChaCha20Rng, actor: Actor, index: usize) -> Vec<u8> {
    let roll = below(rng, 20);
    if roll == 0 {
        return Vec::new();
    }
    let mut text = format!("{} message {index} ", actor.name()).into_bytes();
    let extra = if roll == 1 { 1024 } else { below(rng, 48) };
    let start = text.len();
    text.resize(start + extra, 0);
    if let Some(tail) = text.get_mut(start..) {
        rng.fill_bytes(tail);
    }
    text
}
