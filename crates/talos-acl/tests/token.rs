#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Token parsing, issuing and the upstream TS positive vector (REFERENCE §5.1).

use talos_acl::token::{
    CapabilityToken, MAX_SCOPE_ITEMS, MAX_TOKEN_BYTES, TokenError, TokenFields,
};
use talos_crypto::json::{self, Map};
use talos_crypto::{SigningKey, Timestamp, base64url};

const TS_PK: &str = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";
const TS_SIG: &str =
    "8rtCwK-LicFDp0CwwZKqfP8EXRetBoJah7nuL8kvT18M6AZruC_snB_SnQwrVziSgPXPVyJQx4pDd4CzhD0JCg";
const TS_HASH: &str = "836d468b513bff38de7037ca9ba731a20580a6fa74e9a8485f13e295005a9e36";

fn ts_fields() -> TokenFields {
    let constraints: Map = json::parse(br#"{"tool":"weather","method":"get"}"#)
        .unwrap()
        .as_object()
        .unwrap()
        .clone();
    TokenFields::new(
        format!("did:talos:{TS_PK}"),
        "did:talos:recipient",
        "tools/call",
        Timestamp::from_secs(1_700_000_000).unwrap(),
        Timestamp::from_secs(1_700_003_600).unwrap(),
    )
    .with_constraints(constraints)
}

fn ts_json() -> String {
    format!(
        r#"{{"constraints":{{"method":"get","tool":"weather"}},"exp":1700003600,"iat":1700000000,"iss":"did:talos:{TS_PK}","scope":"tools/call","sig":"{TS_SIG}","sub":"did:talos:recipient","v":"1"}}"#
    )
}

#[test]
fn ts_positive_vector_issue_is_byte_exact() {
    let key = SigningKey::from_seed(&[0; 32]);
    assert_eq!(hex::encode(key.verifying_key().as_bytes()), TS_PK);
    let token = CapabilityToken::issue(&key, &ts_fields()).unwrap();
    assert_eq!(base64url::encode(&token.signature().to_bytes()), TS_SIG);
    assert_eq!(token.capability_hash_hex(), TS_HASH);
    assert_eq!(String::from_utf8(token.to_json()).unwrap(), ts_json());
    assert_eq!(token.encoded_len(), token.to_json().len());
}

#[test]
fn ts_positive_vector_parses_and_verifies() {
    let token = CapabilityToken::from_json(ts_json().as_bytes()).unwrap();
    assert_eq!(token.capability_hash_hex(), TS_HASH);
    let key = SigningKey::from_seed(&[0; 32]).verifying_key();
    token.verify_signature(&key).unwrap();
    assert_eq!(token.issuer(), format!("did:talos:{TS_PK}"));
    assert_eq!(token.subject(), "did:talos:recipient");
    assert_eq!(token.scope(), "tools/call");
    assert_eq!(token.issued_at_secs(), 1_700_000_000);
    assert_eq!(
        token.expires_at(),
        Timestamp::from_secs(1_700_003_600).unwrap()
    );
    assert!(token.parent().is_none());
}

#[test]
fn whitespace_and_member_order_do_not_change_the_hash() {
    let pretty = format!(
        "{{ \"v\": \"1\", \"sub\": \"did:talos:recipient\", \"sig\": \"{TS_SIG}\", \"scope\": \"tools/call\",\n \"iss\": \"did:talos:{TS_PK}\", \"iat\": 1700000000, \"exp\": 1700003600, \"constraints\": {{\"tool\": \"weather\", \"method\": \"get\"}} }}"
    );
    let token = CapabilityToken::from_json(pretty.as_bytes()).unwrap();
    assert_eq!(token.capability_hash_hex(), TS_HASH);
    assert_eq!(String::from_utf8(token.to_json()).unwrap(), ts_json());
}

#[test]
fn issue_parse_round_trip_with_parent() {
    let key = SigningKey::from_seed(&[4; 32]);
    let root = CapabilityToken::issue(&key, &ts_fields()).unwrap();
    let child = CapabilityToken::issue(&key, &ts_fields().with_parent(&root)).unwrap();
    let parsed = CapabilityToken::from_json(&child.to_json()).unwrap();
    assert_eq!(parsed, child);
    assert_eq!(parsed.parent(), Some(root.capability_hash()));
    assert_ne!(child.capability_hash(), root.capability_hash());
    assert!(
        String::from_utf8(child.to_json())
            .unwrap()
            .contains(&format!("\"parent\":\"{}\"", root.capability_hash_hex()))
    );
    parsed.verify_signature(&key.verifying_key()).unwrap();
}

fn replace(json: &str, from: &str, to: &str) -> Vec<u8> {
    assert!(json.contains(from), "{from} not in {json}");
    json.replacen(from, to, 1).into_bytes()
}

fn parse_err(bytes: &[u8]) -> TokenError {
    CapabilityToken::from_json(bytes).unwrap_err()
}

#[test]
fn parse_rejections() {
    let good = ts_json();
    // duplicate key
    let dup = replace(&good, r#""v":"1""#, r#""v":"1","v":"1""#);
    assert!(matches!(parse_err(&dup), TokenError::DuplicateKey { .. }));
    assert!(parse_err(&dup).to_string().contains("signature"));
    // unknown member
    let unknown = replace(&good, r#""v":"1""#, r#""v":"1","nonce":"x""#);
    assert_eq!(
        parse_err(&unknown),
        TokenError::UnknownMember("nonce".into())
    );
    // missing members
    for member in ["iss", "sub", "scope", "iat", "exp", "sig", "v"] {
        let mut v = json::parse(good.as_bytes()).unwrap();
        if let json::Value::Object(m) = &mut v {
            m.remove(member);
        }
        assert_eq!(
            parse_err(&v.to_canonical_vec()),
            TokenError::Missing(member),
            "{member}"
        );
    }
    // wrong types
    for (from, to, member) in [
        (r#""iat":1700000000"#, r#""iat":"1700000000""#, "iat"),
        (r#""exp":1700003600"#, r#""exp":1700003600.5"#, "exp"),
        (r#""exp":1700003600"#, r#""exp":-1"#, "exp"),
        (r#""iat":1700000000"#, r#""iat":9007199254740992"#, "iat"),
        (r#""iss":"did"#, r#""iss":1,"x":"did"#, "iss"),
        (
            r#""scope":"tools/call""#,
            r#""scope":["tools/call"]"#,
            "scope",
        ),
        (r#""sub":"did:talos:recipient""#, r#""sub":null"#, "sub"),
        (
            r#""constraints":{"method":"get","tool":"weather"}"#,
            r#""constraints":"x""#,
            "constraints",
        ),
    ] {
        let bytes = replace(&good, from, to);
        match parse_err(&bytes) {
            TokenError::Invalid { member: m, .. } => assert_eq!(m, member),
            TokenError::UnknownMember(_) => assert_eq!(member, "iss"),
            other => panic!("{member}: {other:?}"),
        }
    }
    // float inside constraints: outside the signing profile
    let float = replace(
        &good,
        r#""method":"get""#,
        r#""method":"get","max_arg_bytes":1.5"#,
    );
    assert!(matches!(parse_err(&float), TokenError::Json(_)));
    // bad sig encodings
    for bad in [&TS_SIG[..85], "AAAA", "!!!!"] {
        let bytes = replace(&good, TS_SIG, bad);
        assert!(matches!(
            parse_err(&bytes),
            TokenError::Invalid { member: "sig", .. }
        ));
    }
    // version
    let v2 = replace(&good, r#""v":"1""#, r#""v":"2""#);
    assert_eq!(parse_err(&v2), TokenError::UnsupportedVersion("2".into()));
    let vnum = replace(&good, r#""v":"1""#, r#""v":1"#);
    assert!(matches!(
        parse_err(&vnum),
        TokenError::Invalid { member: "v", .. }
    ));
    // parent must be 64 lowercase hex
    for bad in [
        "\"836D468B513BFF38DE7037CA9BA731A20580A6FA74E9A8485F13E295005A9E36\"",
        "\"836d\"",
        "1",
    ] {
        let bytes = replace(&good, r#""v":"1""#, &format!(r#""v":"1","parent":{bad}"#));
        assert!(matches!(
            parse_err(&bytes),
            TokenError::Invalid {
                member: "parent",
                ..
            }
        ));
    }
    // not an object, not JSON
    assert_eq!(parse_err(b"[]"), TokenError::NotAnObject);
    assert!(matches!(parse_err(b"{"), TokenError::Json(_)));
    assert!(matches!(parse_err(b""), TokenError::Json(_)));
}

#[test]
fn oversize_input_and_overlong_scope_lists_are_refused() {
    let big = vec![b' '; MAX_TOKEN_BYTES + 1];
    assert!(matches!(parse_err(&big), TokenError::TooLarge { .. }));
    let scope = vec!["tool:a"; MAX_SCOPE_ITEMS + 1].join(" ");
    let key = SigningKey::from_seed(&[1; 32]);
    let t = Timestamp::from_secs(1).unwrap();
    let fields = TokenFields::new("i", "s", scope.clone(), t, t);
    assert!(matches!(
        CapabilityToken::issue(&key, &fields),
        Err(TokenError::TooManyScopeItems { .. })
    ));
    let json = ts_json().replace("tools/call", &scope);
    assert!(matches!(
        parse_err(json.as_bytes()),
        TokenError::TooManyScopeItems { .. }
    ));
    // Exactly the limit is fine.
    let ok = vec!["tool:a"; MAX_SCOPE_ITEMS].join(" ");
    CapabilityToken::issue(&key, &TokenFields::new("i", "s", ok, t, t)).unwrap();
    // Issuing something too large fails too.
    let huge = "x".repeat(MAX_TOKEN_BYTES);
    assert!(matches!(
        CapabilityToken::issue(&key, &TokenFields::new("i", "s", huge, t, t)),
        Err(TokenError::TooLarge { .. })
    ));
}

#[test]
fn long_scope_and_nul_parse_without_crashing() {
    let key = SigningKey::from_seed(&[1; 32]);
    let t = Timestamp::from_secs(1).unwrap();
    let long = format!("tool:{}", "a".repeat(10_000));
    let token = CapabilityToken::issue(&key, &TokenFields::new("i", "s", long, t, t)).unwrap();
    assert_eq!(CapabilityToken::from_json(&token.to_json()).unwrap(), token);
    let nul =
        CapabilityToken::issue(&key, &TokenFields::new("i", "s", "tool:a\u{0}b", t, t)).unwrap();
    let parsed = CapabilityToken::from_json(&nul.to_json()).unwrap();
    assert_eq!(parsed.scope(), "tool:a\u{0}b");
}
