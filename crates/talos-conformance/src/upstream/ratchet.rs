//! Upstream talos-ratchet vectors (`sdk/ratchet/`).
//!
//! Traces are replayed through the library: the randomness a trace records (Alice's
//! `ephemeral_private`, a `ratchet_priv`, each `nonce`) is injected with a [`ScriptedRng`],
//! and every output is compared byte for byte.
//!
//! Upstream generates a new ratchet key inside decrypt (an eager DH-ratchet step); we
//! generate it at the next send. Both derive the same keys as long as the secret upstream
//! generated at that decrypt is the one we use at the next send, so a `ratchet_priv` recorded
//! on any step is injected at that actor's next encrypt.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng as _;
use talos_crypto::json::Value;
use talos_crypto::x25519::StaticSecret;
use talos_crypto::{base64url, json};
use talos_ratchet::kdf::{self, ChainKey, RootKey};
use talos_ratchet::message::{Header, Message, MessageError};
use talos_ratchet::session::Session;
use talos_ratchet::v1_1;

use crate::report::{Cases, Outcome};
use crate::scripted_rng::ScriptedRng;
use crate::util::{array_field, field, same, str_field, u64_field};

fn b64(value: &Value, key: &str) -> Result<Vec<u8>, String> {
    base64url::decode(str_field(value, key)?).map_err(|e| format!("field {key:?}: {e}"))
}

fn b64_array<const N: usize>(value: &Value, key: &str) -> Result<[u8; N], String> {
    b64(value, key)?
        .try_into()
        .map_err(|_| format!("field {key:?} is not {N} bytes"))
}

/// `sdk/ratchet/kdf_rk_step.json`: one KDF_RK step.
pub(super) fn kdf_rk_step(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    let id = str_field(doc, "test_id").unwrap_or("kdf_rk_step");
    cases.check(
        id,
        (|| {
            let inputs = field(doc, "inputs")?;
            let expected = field(doc, "expected")?;
            same(
                "info",
                str_field(inputs, "info")?.as_bytes(),
                kdf::INFO_ROOT,
            )?;
            same("out_len", u64_field(inputs, "out_len")?, 64)?;
            let (rk, ck) = kdf::kdf_rk(
                &RootKey::from_bytes(b64_array(inputs, "rk")?),
                &b64_array(inputs, "dh_out")?,
            );
            same(
                "new_rk",
                str_field(expected, "new_rk")?,
                base64url::encode(rk.as_bytes()).as_str(),
            )?;
            same(
                "new_ck",
                str_field(expected, "new_ck")?,
                base64url::encode(ck.as_bytes()).as_str(),
            )
        })(),
    );
    cases.finish()
}

/// `sdk/ratchet/kdf_ck_step.json`: one KDF_CK step.
pub(super) fn kdf_ck_step(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    let id = str_field(doc, "test_id").unwrap_or("kdf_ck_step");
    cases.check(
        id,
        (|| {
            let inputs = field(doc, "inputs")?;
            let expected = field(doc, "expected")?;
            same(
                "info_chain",
                str_field(inputs, "info_chain")?.as_bytes(),
                kdf::INFO_CHAIN,
            )?;
            same(
                "info_message",
                str_field(inputs, "info_message")?.as_bytes(),
                kdf::INFO_MESSAGE,
            )?;
            let (mk, next) = kdf::kdf_ck(&ChainKey::from_bytes(b64_array(inputs, "ck")?));
            same(
                "next_ck",
                str_field(expected, "next_ck")?,
                base64url::encode(next.as_bytes()).as_str(),
            )?;
            same(
                "mk",
                str_field(expected, "mk")?,
                base64url::encode(mk.as_bytes()).as_str(),
            )
        })(),
    );
    cases.finish()
}

/// `sdk/ratchet/header_canonical_bytes.json`: the AAD bytes of headers.
pub(super) fn header_canonical_bytes(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    cases.each(doc, "test_cases", "id", |case| {
        let input = field(case, "input_header")?.to_canonical_vec();
        let header = Header::from_json(&input).map_err(|e| e.to_string())?;
        let canonical = header.to_canonical_json();
        same(
            "canonical json",
            str_field(case, "expected_canonical_json")?.as_bytes(),
            &canonical[..],
        )?;
        same(
            "canonical b64u",
            str_field(case, "expected_canonical_b64u")?,
            base64url::encode(&canonical).as_str(),
        )
    });
    cases.finish()
}

/// `sdk/ratchet/wire_message_canonical.json`: canonical JSON and wire form of messages.
///
/// The vectors' nonces are 10 and 11 bytes long, which a real message never has; our
/// [`Message`] refuses them (checked here), so the canonical form and the wire string are
/// checked with the canonical JSON writer, and the header with ours.
pub(super) fn wire_message_canonical(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    let mut skipped = Vec::new();
    cases.each(doc, "test_cases", "id", |case| {
        let id = str_field(case, "id")?;
        let input = field(case, "input_message")?;
        let canonical = input.to_canonical_vec();
        same(
            "canonical json",
            str_field(case, "expected_canonical_json")?.as_bytes(),
            &canonical[..],
        )?;
        let header = Header::from_json(&field(input, "header")?.to_canonical_vec())
            .map_err(|e| e.to_string())?;
        let header_json = header.to_canonical_json();
        if !canonical
            .windows(header_json.len())
            .any(|w| w == header_json)
        {
            return Err("our canonical header is not the one in the message".into());
        }
        let wire = base64url::encode(&canonical);
        match Message::from_json(&canonical) {
            Ok(message) => same("our wire", wire.as_str(), message.to_wire_b64u().as_str())?,
            Err(MessageError::InvalidNonce { .. }) => {}
            Err(e) => return Err(format!("unexpected decode error: {e}")),
        }
        let what = format!("{id}.expected_wire_message_b64u");
        match super::skipped(&format!("sdk/ratchet/wire_message_canonical.json#{what}")) {
            Some(reason) => skipped.push((what, reason)),
            None => same(
                "wire",
                str_field(case, "expected_wire_message_b64u")?,
                wire.as_str(),
            )?,
        }
        Ok(())
    });
    for (what, reason) in skipped {
        cases.skip(&what, reason);
    }
    cases.finish()
}

/// `sdk/ratchet/v1_1_0_roundtrip.json`: the talos-v1.1 trace, byte for byte.
pub(super) fn v1_1_0_roundtrip(doc: &Value) -> Outcome {
    replay(doc, Aad::Canonical)
}

/// `sdk/ratchet/{roundtrip_basic,out_of_order,max_skip}.json`: legacy v1.0 traces, whose AAD
/// (insertion-ordered JSON) is taken from the file.
pub(super) fn legacy_trace(doc: &Value) -> Outcome {
    replay(doc, Aad::FromTrace)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aad {
    /// AAD = canon(header), messages as `wire_message_b64u`.
    Canonical,
    /// AAD = the step's `aad`.
    FromTrace,
}

#[derive(Default)]
struct Party {
    session: Option<Session>,
    /// A `ratchet_priv` to inject at the next encrypt.
    ratchet_priv: Option<Vec<u8>>,
    /// The header of our last message: (dh, n).
    last_sent: Option<([u8; 32], u32)>,
}

struct Replay<'a> {
    doc: &'a Value,
    mode: Aad,
    alice: Party,
    bob: Party,
    expected_error: Option<&'a Value>,
    error_seen: bool,
}

fn replay(doc: &Value, mode: Aad) -> Outcome {
    let mut cases = Cases::default();
    let mut replay = Replay {
        doc,
        mode,
        alice: Party::default(),
        bob: Party::default(),
        expected_error: doc.get("expected_error"),
        error_seen: false,
    };
    match array_field(doc, "steps") {
        Ok(steps) => {
            for (i, step) in steps.iter().enumerate() {
                let n = u64_field(step, "step").unwrap_or(i as u64 + 1);
                cases.check(&format!("step {n}"), replay.step(step));
            }
        }
        Err(e) => cases.check("steps", Err(e)),
    }
    if replay.expected_error.is_some() {
        cases.check(
            "expected_error",
            if replay.error_seen {
                Ok(())
            } else {
                Err("the trace should have failed".into())
            },
        );
    }
    cases.finish()
}

impl Replay<'_> {
    fn party(&mut self, actor: &str) -> Result<&mut Party, String> {
        match actor {
            "alice" => Ok(&mut self.alice),
            "bob" => Ok(&mut self.bob),
            other => Err(format!("unknown actor {other:?}")),
        }
    }

    fn step(&mut self, step: &Value) -> Result<(), String> {
        let actor = str_field(step, "actor")?;
        if step.get("ratchet_priv").is_some() {
            let key = b64(step, "ratchet_priv")?;
            self.party(actor)?.ratchet_priv = Some(key);
        }
        match str_field(step, "action")? {
            "encrypt" => self.encrypt(actor, step),
            "decrypt" => self.decrypt(actor, step),
            other => Err(format!("unknown action {other:?}")),
        }
    }

    fn message(&self, step: &Value) -> Result<Message, String> {
        if self.mode == Aad::Canonical {
            return Message::from_wire_b64u(str_field(step, "wire_message_b64u")?)
                .map_err(|e| e.to_string());
        }
        let header = Header::from_json(&field(step, "header")?.to_canonical_vec())
            .map_err(|e| e.to_string())?;
        Ok(Message {
            header,
            nonce: b64_array(step, "nonce")?,
            ciphertext: b64(step, "ciphertext")?,
        })
    }

    fn encrypt(&mut self, actor: &str, step: &Value) -> Result<(), String> {
        let plaintext = b64(step, "plaintext")?;
        let want = self.message_fields(step)?;
        let aad = match self.mode {
            Aad::Canonical => None,
            Aad::FromTrace => Some(b64(step, "aad")?),
        };
        if actor == "alice" && self.alice.session.is_none() {
            let bundle =
                v1_1::PrekeyBundle::from_value(field(field(self.doc, "bob")?, "prekey_bundle")?)
                    .map_err(|e| e.to_string())?;
            let mut rng =
                ScriptedRng::new(&[&b64(field(self.doc, "alice")?, "ephemeral_private")?]);
            let session = v1_1::initiate(&bundle, &mut rng).map_err(|e| e.to_string())?;
            rng.check_drained("initiate")?;
            self.alice.session = Some(session);
        }
        let party = self.party(actor)?;
        let session = party
            .session
            .as_mut()
            .ok_or("this party has no session yet")?;
        // Upstream may advance a chain off-trace (max_skip.json): catch up with throwaway
        // messages until our next message number is the trace's.
        let next_n = match party.last_sent {
            Some((dh, n)) if dh == want.header.dh.to_bytes() => n.saturating_add(1),
            _ => 0,
        };
        if want.header.n.saturating_sub(next_n) > 100_000 {
            return Err(format!(
                "the trace jumps from n = {next_n} to {}: too far to catch up",
                want.header.n
            ));
        }
        let mut filler = ChaCha20Rng::from_seed([0; 32]);
        for _ in next_n..want.header.n {
            session
                .encrypt(b"off-trace", &mut filler)
                .map_err(|e| e.to_string())?;
        }
        let mut rng = ScriptedRng::new(&[]);
        if let Some(key) = party.ratchet_priv.take() {
            rng.push(&key);
        }
        rng.push(&want.nonce);
        let got = match &aad {
            None => session.encrypt(&plaintext, &mut rng),
            Some(aad) => session.encrypt_with_aad(&plaintext, aad, &mut rng),
        }
        .map_err(|e| e.to_string())?;
        rng.check_drained("encrypt")?;
        party.last_sent = Some((got.header.dh.to_bytes(), got.header.n));
        same("header", want.header, got.header)?;
        same("nonce", want.nonce, got.nonce)?;
        same(
            "ciphertext",
            base64url::encode(&want.ciphertext),
            base64url::encode(&got.ciphertext),
        )?;
        match &aad {
            None => {
                same(
                    "aad",
                    str_field(step, "aad")?,
                    base64url::encode(&got.header.to_canonical_json()).as_str(),
                )?;
                same(
                    "wire_message_b64u",
                    str_field(step, "wire_message_b64u")?,
                    got.to_wire_b64u().as_str(),
                )?;
            }
            Some(aad) => {
                // The legacy AAD is the header in another member order.
                same(
                    "aad as canonical json",
                    json::canonicalize(aad).map_err(|e| e.to_string())?,
                    got.header.to_canonical_json(),
                )?;
                if let Some(Value::String(wire)) = step.get("wire_message") {
                    // Legacy wire: u16_be(len(header)) ‖ header ‖ nonce ‖ ciphertext.
                    let len = u16::try_from(aad.len()).map_err(|e| e.to_string())?;
                    let mut legacy = len.to_be_bytes().to_vec();
                    legacy.extend_from_slice(aad);
                    legacy.extend_from_slice(&got.nonce);
                    legacy.extend_from_slice(&got.ciphertext);
                    same(
                        "wire_message",
                        wire.as_str(),
                        base64url::encode(&legacy).as_str(),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// The header, nonce and ciphertext an encrypt step expects.
    fn message_fields(&self, step: &Value) -> Result<Message, String> {
        let header = Header::from_json(&field(step, "header")?.to_canonical_vec())
            .map_err(|e| e.to_string())?;
        Ok(Message {
            header,
            nonce: b64_array(step, "nonce")?,
            ciphertext: b64(step, "ciphertext")?,
        })
    }

    fn decrypt(&mut self, actor: &str, step: &Value) -> Result<(), String> {
        let message = self.message(step)?;
        let aad = match self.mode {
            Aad::Canonical => None,
            Aad::FromTrace => Some(b64(step, "aad")?),
        };
        let spk = StaticSecret::from_bytes(b64_array(
            field(field(self.doc, "bob")?, "bundle_secrets")?,
            "signed_prekey_private",
        )?);
        let expected_error = self.expected_error;
        let party = self.party(actor)?;
        if party.session.is_none() {
            if actor != "bob" {
                return Err("alice decrypts before she has a session".into());
            }
            party.session = Some(v1_1::respond(&spk, &message.header).map_err(|e| e.to_string())?);
        }
        let session = party.session.as_mut().ok_or("no session")?;
        let before = session.snapshot().to_bytes();
        let result = match &aad {
            None => session.decrypt(&message),
            Some(aad) => session.decrypt_with_aad(&message, aad),
        };
        match (result, expected_error) {
            (Ok(plaintext), _) => same(
                "plaintext",
                base64url::encode(&b64(step, "expected_plaintext")?),
                base64url::encode(&plaintext),
            ),
            (Err(e), Some(expected)) => {
                let want = str_field(expected, "message_contains")?;
                if !e.to_string().to_lowercase().contains(&want.to_lowercase()) {
                    return Err(format!("error {e:?} does not contain {want:?}"));
                }
                if *session.snapshot().to_bytes() != *before {
                    return Err("the failed decrypt changed the session".into());
                }
                self.error_seen = true;
                Ok(())
            }
            (Err(e), None) => Err(format!("decrypt failed: {e}")),
        }
    }
}
