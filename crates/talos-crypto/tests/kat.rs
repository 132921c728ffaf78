//! Known-answer tests: published vectors for every primitive talos-crypto exposes.
//!
//! Each test names the document its numbers come from. Hex is decoded with the `hex` crate so
//! the constants can be compared with the source text by eye.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::PathBuf;

use talos_crypto::aead::{ChaCha20Poly1305, XChaCha20Poly1305};
use talos_crypto::hash::{
    HkdfLengthError, blake3, hkdf_sha256, hkdf_sha256_array, hmac_sha256, hmac_sha256_verify,
    sha256,
};
use talos_crypto::json::{self, Value};
use talos_crypto::x25519::{PublicKey, StaticSecret};
use talos_crypto::{
    BatchVerifyError, Signature, SigningKey, VerifyingKey, base64url, verify_batch,
};

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex in test vector {s:?}: {e}"))
}

fn unhex32(s: &str) -> [u8; 32] {
    unhex(s).try_into().expect("32-byte hex constant")
}

fn unhex64(s: &str) -> [u8; 64] {
    unhex(s).try_into().expect("64-byte hex constant")
}

// ---------------------------------------------------------------------------------------------
// RFC 8032 §7.1: Ed25519
// ---------------------------------------------------------------------------------------------

/// One RFC 8032 §7.1 test: SECRET KEY (seed), PUBLIC KEY, MESSAGE, SIGNATURE.
struct Rfc8032 {
    name: &'static str,
    seed: &'static str,
    public: &'static str,
    message: &'static str,
    signature: &'static str,
}

/// RFC 8032 §7.1 "-----TEST 1", empty message.
const TEST_1: Rfc8032 = Rfc8032 {
    name: "TEST 1",
    seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    message: "",
    signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
};

/// RFC 8032 §7.1 "-----TEST 2", one-byte message.
const TEST_2: Rfc8032 = Rfc8032 {
    name: "TEST 2",
    seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    public: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    message: "72",
    signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
};

/// RFC 8032 §7.1 "-----TEST 3", two-byte message.
const TEST_3: Rfc8032 = Rfc8032 {
    name: "TEST 3",
    seed: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    public: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    message: "af82",
    signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
};

/// RFC 8032 §7.1 "-----TEST 1024", a 1023-byte message (the same bytes are Wycheproof
/// `ed25519_test.json` tcId 83, "draft-josefsson-eddsa-ed25519-02: Test 1024").
const TEST_1024: Rfc8032 = Rfc8032 {
    name: "TEST 1024",
    seed: "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
    public: "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
    message: concat!(
        "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1",
        "e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d",
        "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a",
        "7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e",
        "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10",
        "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1",
        "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d",
        "502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270",
        "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089b",
        "eccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba",
        "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969b",
        "e3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7",
        "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988d",
        "cda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df",
        "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7",
        "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4",
        "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09",
        "43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f",
        "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f161",
        "0e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d",
        "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8ca",
        "c60c905c15fc910840b94c00a0b9d0",
    ),
    signature: "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
};

/// RFC 8032 §7.1 "-----TEST SHA(abc)": the message is SHA-512("abc").
const TEST_SHA_ABC: Rfc8032 = Rfc8032 {
    name: "TEST SHA(abc)",
    seed: "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
    public: "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
    message: concat!(
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a",
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    ),
    signature: "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
};

const RFC8032_ALL: [&Rfc8032; 5] = [&TEST_1, &TEST_2, &TEST_3, &TEST_1024, &TEST_SHA_ABC];

/// Derives the key from the seed, signs, and verifies one RFC 8032 §7.1 vector.
fn check_rfc8032(v: &Rfc8032) {
    let key = SigningKey::from_seed(&unhex32(v.seed));
    let message = unhex(v.message);
    let public = key.verifying_key();
    assert_eq!(
        hex::encode(public.as_bytes()),
        v.public,
        "{}: public key",
        v.name
    );

    let signature = key.sign(&message);
    assert_eq!(
        hex::encode(signature.to_bytes()),
        v.signature,
        "{}: signature",
        v.name
    );

    let published = Signature::from_bytes(&unhex64(v.signature));
    let parsed_key = VerifyingKey::from_bytes(&unhex32(v.public)).expect("RFC 8032 key parses");
    assert_eq!(parsed_key, public);
    parsed_key
        .verify(&message, &published)
        .unwrap_or_else(|e| panic!("{}: published signature must verify: {e}", v.name));

    // The same signature does not verify for another message.
    let mut other = message.clone();
    other.push(0);
    assert!(parsed_key.verify(&other, &published).is_err(), "{}", v.name);
}

#[test]
fn rfc8032_test_1_empty_message() {
    check_rfc8032(&TEST_1);
}

#[test]
fn rfc8032_test_2_one_byte() {
    check_rfc8032(&TEST_2);
}

#[test]
fn rfc8032_test_3_two_bytes() {
    check_rfc8032(&TEST_3);
}

#[test]
fn rfc8032_test_1024() {
    assert_eq!(unhex(TEST_1024.message).len(), 1023);
    check_rfc8032(&TEST_1024);
}

#[test]
fn rfc8032_test_sha_abc() {
    check_rfc8032(&TEST_SHA_ABC);
}

/// All five RFC 8032 §7.1 vectors as one batch: accepted; with any one message altered,
/// rejected with that message's index.
#[test]
fn rfc8032_batch_accepts_all_and_names_the_altered_one() {
    let messages: Vec<Vec<u8>> = RFC8032_ALL.iter().map(|v| unhex(v.message)).collect();
    let signatures: Vec<Signature> = RFC8032_ALL
        .iter()
        .map(|v| Signature::from_bytes(&unhex64(v.signature)))
        .collect();
    let keys: Vec<VerifyingKey> = RFC8032_ALL
        .iter()
        .map(|v| VerifyingKey::from_bytes(&unhex32(v.public)).expect("RFC 8032 key parses"))
        .collect();

    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    assert_eq!(verify_batch(&refs, &signatures, &keys), Ok(()));

    for altered in 0..messages.len() {
        let mut messages = messages.clone();
        match messages[altered].first_mut() {
            Some(byte) => *byte ^= 0x01,
            None => messages[altered].push(0x00), // TEST 1's message is empty
        }
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        assert_eq!(
            verify_batch(&refs, &signatures, &keys),
            Err(BatchVerifyError::Invalid { index: altered }),
            "message {altered} altered"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 7748: X25519
// ---------------------------------------------------------------------------------------------

fn x25519(scalar: [u8; 32], u: [u8; 32]) -> [u8; 32] {
    *StaticSecret::from_bytes(scalar)
        .diffie_hellman(&PublicKey::from_bytes(u))
        .expect("non-zero output")
        .as_bytes()
}

/// RFC 7748 §5.2, first X25519 test vector.
#[test]
fn rfc7748_x25519_vector_1() {
    let out = x25519(
        unhex32("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
        unhex32("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
    );
    assert_eq!(
        hex::encode(out),
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
    );
}

/// RFC 7748 §5.2, second X25519 test vector (its u-coordinate has the top bit set, which
/// must be ignored).
#[test]
fn rfc7748_x25519_vector_2() {
    let out = x25519(
        unhex32("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"),
        unhex32("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493"),
    );
    assert_eq!(
        hex::encode(out),
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"
    );
}

/// RFC 7748 §5.2, the iterated test: k = u = 9, then `k, u = X25519(k, u), k`.
/// The 1 000 000-iteration value (7c3911e0…) is not checked: it takes minutes unoptimised.
#[test]
fn rfc7748_x25519_iterated_1_and_1000() {
    let mut base = [0u8; 32];
    base[0] = 9;
    let (mut k, mut u) = (base, base);
    let mut step = || {
        let next = x25519(k, u);
        u = k;
        k = next;
        k
    };
    assert_eq!(
        hex::encode(step()),
        "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
        "after 1 iteration"
    );
    let mut last = [0u8; 32];
    for _ in 1..1000 {
        last = step();
    }
    assert_eq!(
        hex::encode(last),
        "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51",
        "after 1000 iterations"
    );
}

/// RFC 7748 §6.1: Alice's and Bob's key pairs and their shared secret.
#[test]
fn rfc7748_diffie_hellman_alice_bob() {
    let alice = StaticSecret::from_bytes(unhex32(
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    ));
    let bob = StaticSecret::from_bytes(unhex32(
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    ));
    assert_eq!(
        hex::encode(alice.public_key().as_bytes()),
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    );
    assert_eq!(
        hex::encode(bob.public_key().as_bytes()),
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    );
    let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    let alice_side = alice
        .diffie_hellman(&bob.public_key())
        .expect("contributory");
    let bob_side = bob
        .diffie_hellman(&alice.public_key())
        .expect("contributory");
    assert_eq!(hex::encode(alice_side.as_bytes()), shared);
    assert_eq!(hex::encode(bob_side.as_bytes()), shared);
}

// ---------------------------------------------------------------------------------------------
// RFC 8439 §2.8.2 and draft-irtf-cfrg-xchacha-03 §A.3.1: AEAD
// ---------------------------------------------------------------------------------------------

/// The plaintext shared by RFC 8439 §2.8.2 and draft-irtf-cfrg-xchacha-03 §A.3.1.
const SUNSCREEN: &[u8] = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
/// Key of both AEAD vectors: 80 81 … 9f.
const AEAD_KEY: &str = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
/// AAD of both AEAD vectors.
const AEAD_AAD: &str = "50515253c0c1c2c3c4c5c6c7";

/// RFC 8439 §2.8.2, "Example and Test Vector for AEAD_CHACHA20_POLY1305".
#[test]
fn rfc8439_chacha20_poly1305_aead() {
    let cipher = ChaCha20Poly1305::new(&unhex32(AEAD_KEY));
    let nonce: [u8; 12] = unhex("070000004041424344454647")
        .try_into()
        .expect("12 bytes");
    let aad = unhex(AEAD_AAD);
    let expected = unhex(concat!(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6",
        "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36",
        "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc",
        "3ff4def08e4b7a9de576d26586cec64b6116",
        // tag
        "1ae10b594f09e26a7e902ecbd0600691",
    ));
    assert_eq!(SUNSCREEN.len(), 114);

    let sealed = cipher.seal(&nonce, &aad, SUNSCREEN).expect("seal");
    assert_eq!(hex::encode(&sealed), hex::encode(&expected));
    assert_eq!(
        cipher.open(&nonce, &aad, &expected).expect("open"),
        SUNSCREEN
    );

    let mut in_place = SUNSCREEN.to_vec();
    cipher
        .seal_in_place(&nonce, &aad, &mut in_place)
        .expect("seal in place");
    assert_eq!(in_place, expected);
    cipher
        .open_in_place(&nonce, &aad, &mut in_place)
        .expect("open in place");
    assert_eq!(in_place, SUNSCREEN);

    let mut bad_tag = expected.clone();
    *bad_tag.last_mut().expect("non-empty") ^= 0x80;
    assert!(cipher.open(&nonce, &aad, &bad_tag).is_err());
}

/// draft-irtf-cfrg-xchacha-03 §A.3.1, "Example and Test Vector for AEAD_XChaCha20_Poly1305".
#[test]
fn xchacha20_poly1305_draft_a31() {
    let cipher = XChaCha20Poly1305::new(&unhex32(AEAD_KEY));
    let nonce: [u8; 24] = unhex("404142434445464748494a4b4c4d4e4f5051525354555657")
        .try_into()
        .expect("24 bytes");
    let aad = unhex(AEAD_AAD);
    let expected = unhex(concat!(
        "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb",
        "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452",
        "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9",
        "21f9664c97637da9768812f615c68b13b52e",
        // tag
        "c0875924c1c7987947deafd8780acf49",
    ));

    let sealed = cipher.seal(&nonce, &aad, SUNSCREEN).expect("seal");
    assert_eq!(hex::encode(&sealed), hex::encode(&expected));
    assert_eq!(
        cipher.open(&nonce, &aad, &expected).expect("open"),
        SUNSCREEN
    );

    let mut bad_aad = aad.clone();
    bad_aad[0] ^= 0x01;
    assert!(cipher.open(&nonce, &bad_aad, &expected).is_err());
}

// ---------------------------------------------------------------------------------------------
// RFC 5869 Appendix A: HKDF-SHA256
// ---------------------------------------------------------------------------------------------

fn hkdf_vec(salt: Option<&[u8]>, ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut okm = vec![0u8; len];
    hkdf_sha256(salt, ikm, info, &mut okm).expect("length within limit");
    okm
}

/// RFC 5869 A.1, "Test Case 1: Basic test case with SHA-256" (L = 42).
#[test]
fn rfc5869_test_case_1() {
    let ikm = [0x0b; 22];
    let salt = unhex("000102030405060708090a0b0c");
    let info = unhex("f0f1f2f3f4f5f6f7f8f9");
    let expected =
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865";
    assert_eq!(
        hex::encode(hkdf_vec(Some(&salt), &ikm, &info, 42)),
        expected
    );
    let array = hkdf_sha256_array::<42>(Some(&salt), &ikm, &info).expect("42 bytes");
    assert_eq!(hex::encode(*array), expected);
}

/// RFC 5869 A.2, "Test Case 2: Test with SHA-256 and longer inputs/outputs" (L = 82).
#[test]
fn rfc5869_test_case_2() {
    let ikm: Vec<u8> = (0x00..=0x4f).collect();
    let salt: Vec<u8> = (0x60..=0xaf).collect();
    let info: Vec<u8> = (0xb0..=0xff).collect();
    assert_eq!(
        hex::encode(hkdf_vec(Some(&salt), &ikm, &info, 82)),
        concat!(
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c",
            "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71",
            "cc30c58179ec3e87c14c01d5c1f3434f1d87",
        )
    );
}

/// RFC 5869 A.3, "Test Case 3: Test with SHA-256 and zero-length salt/info" (L = 42).
/// A zero-length salt and an absent salt (`None`) must agree, as RFC 5869 §2.2 says.
#[test]
fn rfc5869_test_case_3() {
    let ikm = [0x0b; 22];
    let expected =
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8";
    assert_eq!(hex::encode(hkdf_vec(Some(&[]), &ikm, &[], 42)), expected);
    assert_eq!(hex::encode(hkdf_vec(None, &ikm, &[], 42)), expected);
}

/// RFC 5869 §2.3: L ≤ 255 × HashLen = 8160.
#[test]
fn rfc5869_output_length_limit() {
    let mut okm = vec![0u8; 8161];
    assert_eq!(
        hkdf_sha256(None, b"ikm", b"", &mut okm),
        Err(HkdfLengthError { requested: 8161 })
    );
    assert!(hkdf_sha256(None, b"ikm", b"", &mut okm[..8160]).is_ok());
}

// ---------------------------------------------------------------------------------------------
// RFC 4231 §4: HMAC-SHA256
// ---------------------------------------------------------------------------------------------

/// RFC 4231 §4.2–§4.8 (test cases 1–4, 6, 7): key, data, HMAC-SHA-256.
fn rfc4231_cases() -> Vec<(&'static str, Vec<u8>, Vec<u8>, &'static str)> {
    vec![
        (
            "4.2 test case 1",
            vec![0x0b; 20],
            b"Hi There".to_vec(),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            "4.3 test case 2",
            b"Jefe".to_vec(),
            b"what do ya want for nothing?".to_vec(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            "4.4 test case 3",
            vec![0xaa; 20],
            vec![0xdd; 50],
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
        ),
        (
            "4.5 test case 4",
            (0x01..=0x19).collect(),
            vec![0xcd; 50],
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
        ),
        (
            "4.7 test case 6",
            vec![0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
        (
            "4.8 test case 7",
            vec![0xaa; 131],
            b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        ),
    ]
}

/// RFC 4231 test cases 1–4, 6 and 7: exact tags, accepted by `hmac_sha256_verify`, and a
/// one-bit change of the tag rejected.
#[test]
fn rfc4231_hmac_sha256() {
    for (name, key, data, expected) in rfc4231_cases() {
        let tag = hmac_sha256(&key, &data);
        assert_eq!(hex::encode(tag), expected, "{name}");
        let published = unhex(expected);
        assert_eq!(
            hmac_sha256_verify(&key, &data, &published),
            Ok(()),
            "{name}"
        );
        let mut bad = published.clone();
        bad[31] ^= 0x01;
        assert!(hmac_sha256_verify(&key, &data, &bad).is_err(), "{name}");
    }
}

/// RFC 4231 §4.6, test case 5: the published output is truncated to 128 bits; our full
/// output starts with it. `hmac_sha256_verify` takes only full 32-byte tags (documented), so
/// the truncated tag itself is refused.
#[test]
fn rfc4231_hmac_sha256_case_5_truncated() {
    let key = [0x0c; 20];
    let data = b"Test With Truncation";
    let tag = hmac_sha256(&key, data);
    assert_eq!(hex::encode(&tag[..16]), "a3b6167473100ee06e0c796c2955552b");
    assert!(hmac_sha256_verify(&key, data, &tag[..16]).is_err());
    assert_eq!(hmac_sha256_verify(&key, data, &tag), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// FIPS 180-4 examples (SHA-256) and the BLAKE3 reference vector
// ---------------------------------------------------------------------------------------------

/// SHA-256 of "" and of the FIPS 180-4 examples "abc" (one block) and
/// "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq" (two blocks), as published in
/// NIST's "Examples with Intermediate Values" for FIPS 180-4.
#[test]
fn fips180_4_sha256() {
    assert_eq!(
        hex::encode(sha256(b"")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        hex::encode(sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex::encode(sha256(
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        )),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
    // The incremental hasher agrees with the one-shot function.
    let mut h = talos_crypto::hash::Sha256::new();
    h.update(b"ab");
    h.update(b"c");
    assert_eq!(h.finalize(), sha256(b"abc"));
}

/// BLAKE3 of the empty input (BLAKE3 reference implementation, `test_vectors.json`, input_len 0).
#[test]
fn blake3_empty() {
    assert_eq!(
        hex::encode(blake3(b"")),
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    );
}

// ---------------------------------------------------------------------------------------------
// W3C CCG did:key: Ed25519 → X25519
// ---------------------------------------------------------------------------------------------

/// Where the shared vectors live: `$TALOS_SHARED_VECTORS`, else `../../../shared/vectors`
/// from this crate (the project layout puts `shared/` beside `main/`).
fn shared_vectors_dir() -> PathBuf {
    match std::env::var_os("TALOS_SHARED_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
    }
}

/// A key as the did:key file writes it: base58btc in `base58_field` (`publicKeyBase58`,
/// `privateKeyBase58`), or, in the last entry, base64url in a JWK member (`jwk.0`.`jwk.1`).
fn did_key_bytes(pair: &Value, base58_field: &str, jwk: (&str, &str), what: &str) -> [u8; 32] {
    let bytes = if let Some(b58) = pair.get(base58_field).and_then(Value::as_str) {
        bs58::decode(b58)
            .into_vec()
            .unwrap_or_else(|e| panic!("{what}: bad base58btc {b58:?}: {e}"))
    } else if let Some(b64) = pair
        .get(jwk.0)
        .and_then(|object| object.get(jwk.1))
        .and_then(Value::as_str)
    {
        base64url::decode(b64).unwrap_or_else(|e| panic!("{what}: bad base64url {b64:?}: {e}"))
    } else {
        panic!(
            "{what}: neither {base58_field} nor {}.{} present",
            jwk.0, jwk.1
        );
    };
    bytes
        .try_into()
        .unwrap_or_else(|b: Vec<u8>| panic!("{what}: expected 32 bytes, got {}", b.len()))
}

/// w3c-ccg/did-method-key `test-vectors/ed25519-x25519.json` (five identities, seeds 0…3
/// and 5): the Ed25519 public key from the seed, its did:key identifier, and the X25519 key
/// agreement pair derived from it.
#[test]
fn did_key_ed25519_to_x25519() {
    let path = shared_vectors_dir().join("did-key/ed25519-x25519.json");
    let text = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the did:key vectors at {}: {e}. Set TALOS_SHARED_VECTORS to the \
             shared `vectors` directory.",
            path.display()
        )
    });
    let doc = json::parse(&text).expect("the did:key vector file is strict JSON");
    let entries = doc
        .as_object()
        .expect("top level is an object keyed by DID");
    assert_eq!(entries.len(), 5, "the file has five identities");

    for (did, entry) in entries {
        let seed = unhex32(entry.get("seed").and_then(Value::as_str).expect("seed"));
        let key = SigningKey::from_seed(&seed);
        let verification = entry
            .get("verificationKeyPair")
            .expect("verificationKeyPair");
        let agreement = entry
            .get("keyAgreementKeyPair")
            .expect("keyAgreementKeyPair");

        let ed_public = did_key_bytes(verification, "publicKeyBase58", ("publicKeyJwk", "x"), did);
        assert_eq!(
            key.verifying_key().to_bytes(),
            ed_public,
            "{did}: Ed25519 public key"
        );

        // did:key = "did:key:z" + base58btc(multicodec ed25519-pub 0xed 0x01 ‖ key).
        let mut multikey = vec![0xed, 0x01];
        multikey.extend_from_slice(&ed_public);
        assert_eq!(
            did,
            &format!("did:key:z{}", bs58::encode(&multikey).into_string()),
            "DID identifier"
        );

        let x_public = did_key_bytes(agreement, "publicKeyBase58", ("publicKeyJwk", "x"), did);
        let x_private = did_key_bytes(agreement, "privateKeyBase58", ("privateKeyJwk", "d"), did);
        assert_eq!(
            key.verifying_key().to_x25519().to_bytes(),
            x_public,
            "{did}: X25519 public key from the Ed25519 public key"
        );
        let x_secret = key.to_x25519();
        assert_eq!(*x_secret.to_bytes(), x_private, "{did}: X25519 private key");
        assert_eq!(
            x_secret.public_key().to_bytes(),
            x_public,
            "{did}: both derivations land on the same X25519 key pair"
        );
    }
}
