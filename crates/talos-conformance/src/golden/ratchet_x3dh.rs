//! `ratchet/x3dh.json`: talos-v2 session starts (X3DH, and PQXDH with ML-KEM-768), and
//! initial messages a responder must refuse.

use talos_crypto::json::{self, Value};
use talos_crypto::{SigningKey, Timestamp};
use talos_ratchet::prekeys::{PqPrekey, PrekeyBundle, PrekeyStore, SignedPrekey};
use talos_ratchet::x3dh::{self, InitialMessage};
use talos_ratchet::{ProtocolVersion, pqxdh};

use super::{Derived, Family, Spec, apply_changes, flip_b64u_byte, rng};
use crate::util::{hex_array, object, s, str_field, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "ratchet/x3dh.json",
    contract: "ratchet/initial_message.schema.json",
    description: "talos-v2 session starts. Bob's prekey store: identity = Ed25519 seed bob_seed_hex; from a \
                  ChaCha20Rng seeded with bob_rng_seed_hex it draws 32 bytes for signed prekey 1 (an X25519 \
                  secret), then 32 bytes for each of one_time_prekeys one-time prekeys (ids 1, 2, ...), then \
                  for pq 64 bytes for ML-KEM-768 prekey 1 (the FIPS 203 seed d ‖ z). Prekey signatures are \
                  Ed25519 by the identity over \"talos-v2 signed prekey\" ‖ be32(id) ‖ key and \"talos-v2 pq \
                  prekey\" ‖ be32(id) ‖ ek1184. The bundle (expected.bundle, contract \
                  ratchet/prekey_bundle.schema.json) carries one_time_prekey_id when given. With \
                  rotate_after_bundle Bob rotates his signed prekey (32 more bytes) after publishing it. \
                  Alice (identity alice_seed_hex) draws from a ChaCha20Rng seeded with alice_rng_seed_hex: 32 \
                  bytes for EK_A, for pq 32 bytes m for ML-KEM-768 encapsulation, 32 bytes for her first \
                  ratchet key, then 12 bytes of nonce for her first message, whose plaintext is `plaintext` \
                  (UTF-8). With IK the X25519 forms of the Ed25519 identity keys (as did:key derives them): \
                  DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B), DH4 = DH(EK_A, OPK_B) \
                  when a one-time prekey is used; SK = HKDF-SHA256(salt = 32 zero bytes, IKM = 0xFF × 32 ‖ \
                  DH1 ‖ DH2 ‖ DH3 [‖ DH4] [‖ SS], info, 32) with info \"Talos_v2_X3DH_X25519_SHA-256\", or \
                  for pq (SS the ML-KEM shared secret) \"Talos_v2_PQXDH_X25519_SHA-256_ML-KEM-768\"; AD = \
                  IK_A ‖ IK_B (Ed25519, 64 bytes). The Double Ratchet starts with SK as root key and SPK_B \
                  as Bob's ratchet key, and the AEAD associated data of each message is AD ‖ canon(header). \
                  `object` is the initial message (JSON form); expected.cbor_hex its deterministic CBOR, \
                  expected.sk_hex and expected.ad_hex the agreement, expected.plaintext what Bob decrypts. \
                  Negative cases: signer_seed_hex / pq_signer_seed_hex re-sign a prekey with another key \
                  (Alice refuses the bundle); tamper.header / tamper.message replace members of the object's \
                  header / ratchet message (null removes one); flip.header / flip.message flip the lowest bit \
                  of a byte of a base64url member; respond_twice delivers the message to Bob twice.",
    producer: || format!("talos-ratchet {}", talos_ratchet::VERSION),
    specs,
    derive,
};

const ALICE: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const BOB: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
const MALLORY: &str = "3333333333333333333333333333333333333333333333333333333333333333";
const ALICE_RNG: &str = "0101010101010101010101010101010101010101010101010101010101010101";
const BOB_RNG: &str = "0202020202020202020202020202020202020202020202020202020202020202";

fn base(pq: bool, opk: Option<u32>) -> Vec<(&'static str, Value)> {
    let mut pairs = vec![
        ("alice_seed_hex", s(ALICE)),
        ("bob_seed_hex", s(BOB)),
        ("alice_rng_seed_hex", s(ALICE_RNG)),
        ("bob_rng_seed_hex", s(BOB_RNG)),
        ("one_time_prekeys", crate::util::n(3)),
        ("pq", Value::Bool(pq)),
        ("plaintext", s("hello bob")),
    ];
    if let Some(id) = opk {
        pairs.push(("one_time_prekey_id", crate::util::n(id)));
    }
    pairs
}

fn case(pq: bool, opk: Option<u32>, extra: &[(&'static str, Value)]) -> Value {
    let mut pairs = base(pq, opk);
    pairs.extend(extra.iter().cloned());
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn tamper(part: &str, changes: Value) -> (&'static str, Value) {
    (
        "tamper",
        Value::Object([(part.to_owned(), changes)].into_iter().collect()),
    )
}

fn flip(part: &str, member: &str, index: u32) -> (&'static str, Value) {
    (
        "flip",
        Value::Object(
            [(
                part.to_owned(),
                object([("member", s(member)), ("index", crate::util::n(index))]),
            )]
            .into_iter()
            .collect(),
        ),
    )
}

#[allow(clippy::too_many_lines)] // one list of cases
fn specs() -> Vec<Spec> {
    vec![
        Spec::ok(
            "x3dh-with-one-time-prekey",
            "X3DH with DH4: the bundle carries one-time prekey 2",
            case(false, Some(2), &[]),
        ),
        Spec::ok(
            "x3dh-without-one-time-prekey",
            "X3DH without a one-time prekey: DH1 ‖ DH2 ‖ DH3 only",
            case(false, None, &[]),
        ),
        Spec::ok(
            "x3dh-after-rotation",
            "Bob rotated his signed prekey after Alice fetched the bundle; the previous one is still held",
            case(
                false,
                Some(1),
                &[("rotate_after_bundle", Value::Bool(true))],
            ),
        ),
        Spec::ok(
            "pqxdh-with-one-time-prekey",
            "PQXDH: X3DH with DH4 and an ML-KEM-768 encapsulation to prekey 1",
            case(true, Some(3), &[("plaintext", s("post-quantum hello"))]),
        ),
        Spec::ok(
            "pqxdh-without-one-time-prekey",
            "PQXDH without a one-time prekey",
            case(true, None, &[]),
        ),
        Spec::err(
            "bad-signed-prekey-signature",
            "the bundle's signed prekey is signed by Mallory: Alice refuses it",
            case(false, Some(1), &[("signer_seed_hex", s(MALLORY))]),
            "signature",
        ),
        Spec::err(
            "bad-pq-prekey-signature",
            "the bundle's ML-KEM prekey is signed by Mallory: Alice refuses it",
            case(true, None, &[("pq_signer_seed_hex", s(MALLORY))]),
            "signature",
        ),
        Spec::err(
            "one-time-prekey-reused",
            "the same initial message delivered twice: the one-time prekey is already consumed",
            case(false, Some(2), &[("respond_twice", Value::Bool(true))]),
            "already used",
        ),
        Spec::err(
            "unknown-signed-prekey",
            "the header names signed prekey 99, which Bob never had",
            case(
                false,
                None,
                &[tamper(
                    "header",
                    object([("signed_prekey_id", crate::util::n(99))]),
                )],
            ),
            "unknown signed prekey",
        ),
        Spec::err(
            "unknown-one-time-prekey",
            "the header names one-time prekey 50, which Bob never issued",
            case(
                false,
                Some(1),
                &[tamper(
                    "header",
                    object([("one_time_prekey_id", crate::util::n(50))]),
                )],
            ),
            "unknown one-time prekey",
        ),
        Spec::err(
            "tampered-ciphertext",
            "one bit of the first message's ciphertext flipped: nothing is stored",
            case(false, Some(1), &[flip("message", "ciphertext", 0)]),
            "decryption failed",
        ),
        Spec::err(
            "other-sender",
            "the identity key replaced by Mallory's: the secret and AD differ, the message does not decrypt",
            case(
                false,
                Some(1),
                &[tamper(
                    "header",
                    object([(
                        "identity_key",
                        s(talos_crypto::base64url::encode(
                            SigningKey::from_seed(&[0x33; 32])
                                .verifying_key()
                                .as_bytes(),
                        )),
                    )]),
                )],
            ),
            "decryption failed",
        ),
        Spec::err(
            "wrong-kem-ciphertext",
            "one bit of the ML-KEM ciphertext flipped: implicit rejection, the message does not decrypt",
            case(true, Some(1), &[flip("header", "kem_ciphertext", 7)]),
            "decryption failed",
        ),
        Spec::err(
            "pq-downgrade",
            "a PQXDH message relabelled talos-v2 with the KEM members removed: Bob derives an X3DH secret \
             that is not Alice's",
            case(
                true,
                None,
                &[tamper(
                    "header",
                    object([
                        ("protocol", s("talos-v2")),
                        ("pq_prekey_id", Value::Null),
                        ("kem_ciphertext", Value::Null),
                    ]),
                )],
            ),
            "decryption failed",
        ),
        Spec::err(
            "version-mismatch",
            "an X3DH message labelled talos-v2-pq without a KEM ciphertext",
            case(
                false,
                None,
                &[tamper("header", object([("protocol", s("talos-v2-pq"))]))],
            ),
            "version mismatch",
        )
        .schema_invalid(),
        Spec::err(
            "talos-v1-1-protocol",
            "talos-v1.1 sessions do not start with X3DH",
            case(
                false,
                None,
                &[tamper("header", object([("protocol", s("talos-v1.1"))]))],
            ),
            "unsupported protocol version",
        )
        .schema_invalid(),
        Spec::err(
            "unknown-header-member",
            "a header member the format does not have",
            case(
                false,
                None,
                &[tamper("header", object([("ttl", crate::util::n(60))]))],
            ),
            "unknown field",
        )
        .schema_invalid(),
    ]
}

fn seed_key(inputs: &Value, name: &str) -> Result<SigningKey, String> {
    Ok(SigningKey::from_seed(&hex_array::<32>(inputs, name)?))
}

fn flag(inputs: &Value, name: &str) -> bool {
    inputs.get(name) == Some(&Value::Bool(true))
}

fn opt_u32(inputs: &Value, name: &str) -> Result<Option<u32>, String> {
    inputs
        .get(name)
        .map(|_| u32::try_from(u64_field(inputs, name)?).map_err(|e| e.to_string()))
        .transpose()
}

/// Bob's store and the bundle Alice fetches.
fn bob(inputs: &Value, pq: bool) -> Result<(PrekeyStore, PrekeyBundle), String> {
    let mut r = rng(hex_array::<32>(inputs, "bob_rng_seed_hex")?);
    let mut store = PrekeyStore::new(seed_key(inputs, "bob_seed_hex")?, &mut r);
    let count =
        usize::try_from(u64_field(inputs, "one_time_prekeys")?).map_err(|e| e.to_string())?;
    store
        .generate_one_time_prekeys(count, &mut r)
        .map_err(|e| e.to_string())?;
    if pq {
        store
            .rotate_pq_prekey(Timestamp::from_millis(0), &mut r)
            .map_err(|e| e.to_string())?;
    }
    let mut bundle = store
        .bundle(opt_u32(inputs, "one_time_prekey_id")?)
        .map_err(|e| e.to_string())?;
    same_signatures_as_talos_did(store.identity(), &bundle)?;
    if inputs.get("signer_seed_hex").is_some() {
        let spk = bundle.signed_prekey;
        bundle.signed_prekey =
            SignedPrekey::sign(&seed_key(inputs, "signer_seed_hex")?, spk.id, spk.key);
    }
    if inputs.get("pq_signer_seed_hex").is_some()
        && let Some(pq) = bundle.pq_prekey.take()
    {
        bundle.pq_prekey = Some(PqPrekey::sign(
            &seed_key(inputs, "pq_signer_seed_hex")?,
            pq.id,
            pq.key,
        ));
    }
    if flag(inputs, "rotate_after_bundle") {
        store
            .rotate_signed_prekey(Timestamp::from_millis(0), &mut r)
            .map_err(|e| e.to_string())?;
    }
    Ok((store, bundle))
}

/// talos-did signs discovery-record prekeys over the same messages: a bundle taken from a
/// record must verify here, so both crates must produce the same (deterministic) signatures.
fn same_signatures_as_talos_did(
    identity: &SigningKey,
    bundle: &PrekeyBundle,
) -> Result<(), String> {
    let spk = &bundle.signed_prekey;
    let did_spk = talos_did::record::SignedPrekey::sign(identity, spk.id, spk.key);
    let pq_same = bundle.pq_prekey.as_ref().is_none_or(|pq| {
        talos_did::record::PqPrekey::sign(identity, pq.id, pq.key.clone()).signature == pq.signature
    });
    if did_spk.signature != spk.signature || !pq_same {
        return Err("prekey signatures differ from talos-did's".into());
    }
    Ok(())
}

fn apply_to(
    object: &mut Value,
    part: &str,
    f: impl FnOnce(&mut Value) -> Result<(), String>,
) -> Result<(), String> {
    match object {
        Value::Object(map) => f(map
            .get_mut(part)
            .ok_or_else(|| format!("object has no {part}"))?),
        _ => Err("object is not an object".into()),
    }
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let pq = flag(inputs, "pq");
    let (mut store, bundle) = bob(inputs, pq)?;
    let alice = seed_key(inputs, "alice_seed_hex")?;
    let alice_seed = hex_array::<32>(inputs, "alice_rng_seed_hex")?;
    // The agreement alone, then the session, from the same randomness.
    let agreed = if pq {
        pqxdh::agree_initiator(&alice, &bundle, &mut rng(alice_seed))
    } else {
        x3dh::agree_initiator(&alice, &bundle, &mut rng(alice_seed))
    };
    let (agreement, _) = match agreed {
        Ok(a) => a,
        Err(e) => return Ok(Derived::failed(None, &e)),
    };
    let mut r = rng(alice_seed);
    let started = if pq {
        pqxdh::initiate(&alice, &bundle, &mut r)
    } else {
        x3dh::initiate(&alice, &bundle, &mut r)
    };
    let (mut session, header) = started.map_err(|e| e.to_string())?;
    let want = if pq {
        ProtocolVersion::V2Pq
    } else {
        ProtocolVersion::V2
    };
    if session.version() != want || session.associated_data() != agreement.associated_data() {
        return Err("the session does not match the agreement".into());
    }
    let plaintext = str_field(inputs, "plaintext")?;
    let message = session
        .encrypt(plaintext.as_bytes(), &mut r)
        .map_err(|e| e.to_string())?;
    let initial = header.wrap(message);
    let cbor = initial.to_cbor();
    if InitialMessage::from_cbor(&cbor).map_err(|e| e.to_string())? != initial {
        return Err("the CBOR form does not decode to itself".into());
    }

    let mut object = json::parse(&initial.to_json()).map_err(|e| e.to_string())?;
    if let Some(tamper) = inputs.get("tamper") {
        for part in ["header", "message"] {
            if let Some(changes) = tamper.get(part) {
                apply_to(&mut object, part, |v| {
                    apply_changes(v, changes);
                    Ok(())
                })?;
            }
        }
    }
    if let Some(flips) = inputs.get("flip") {
        for part in ["header", "message"] {
            if let Some(f) = flips.get(part) {
                let member = str_field(f, "member")?.to_owned();
                let index = usize::try_from(u64_field(f, "index")?).map_err(|e| e.to_string())?;
                apply_to(&mut object, part, |v| flip_b64u_byte(v, &member, index))?;
            }
        }
    }

    let received = match InitialMessage::from_json(&object.to_canonical_vec()) {
        Ok(m) => m,
        Err(e) => return Ok(Derived::failed(Some(object), &e)),
    };
    let bob_agreement = x3dh::agree_responder(&store, &received.header);
    let (_, bob_plaintext) = match x3dh::respond(&mut store, &received) {
        Ok(done) => done,
        Err(e) => return Ok(Derived::failed(Some(object), &e)),
    };
    if flag(inputs, "respond_twice")
        && let Err(e) = x3dh::respond(&mut store, &received)
    {
        return Ok(Derived::failed(Some(object), &e));
    }
    let bob_agreement = bob_agreement.map_err(|e| e.to_string())?;
    if bob_agreement.secret_key() != agreement.secret_key()
        || bob_agreement.associated_data() != agreement.associated_data()
    {
        return Err("Alice and Bob disagree on SK or AD".into());
    }
    let bob_plaintext = String::from_utf8(bob_plaintext.to_vec()).map_err(|e| e.to_string())?;
    Ok(Derived::Ok {
        object,
        expected: object_expected(&bundle, &agreement, &cbor, bob_plaintext)?,
    })
}

fn object_expected(
    bundle: &PrekeyBundle,
    agreement: &x3dh::Agreement,
    cbor: &[u8],
    plaintext: String,
) -> Result<Value, String> {
    Ok(object([
        (
            "bundle",
            json::parse(&bundle.to_json()).map_err(|e| e.to_string())?,
        ),
        ("sk_hex", s(hex::encode(agreement.secret_key()))),
        ("ad_hex", s(hex::encode(agreement.associated_data()))),
        ("cbor_hex", s(hex::encode(cbor))),
        ("plaintext", s(plaintext)),
    ]))
}
