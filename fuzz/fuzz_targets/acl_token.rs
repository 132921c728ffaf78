//! `CapabilityToken::from_json` and `Revocation::from_json` take any bytes and never panic;
//! what parses re-encodes to canonical JSON that parses to the same value, with the same
//! capability hash, and re-encodes to itself byte for byte. The parsed token then goes
//! through verification and authorization at a fixed `now` (with the seed key, so the seed
//! corpus's signed tokens reach the scope and constraint code), which must not panic and
//! must give the same decision twice, also through the session cache.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_acl::cache::SessionCache;
use talos_acl::revocation::{Revocation, RevocationSet};
use talos_acl::scope::Request;
use talos_acl::token::CapabilityToken;
use talos_acl::verify::Verifier;
use talos_crypto::{SigningKey, Timestamp};

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = CapabilityToken::from_json(data) {
        let json = token.to_json();
        assert_eq!(json.len(), token.encoded_len());
        let again = CapabilityToken::from_json(&json).expect("canonical output parses");
        assert_eq!(again, token);
        assert_eq!(again.capability_hash(), token.capability_hash());
        assert_eq!(again.to_json(), json);
        check(&token);
    }
    if let Ok(rev) = Revocation::from_json(data) {
        let json = rev.to_json();
        let again = Revocation::from_json(&json).expect("canonical output parses");
        assert_eq!(again, rev);
        assert_eq!(again.to_ledger_entry(), json);
    }
});

fn check(token: &CapabilityToken) {
    let key = SigningKey::from_seed(&[0; 32]).verifying_key();
    let now = Timestamp::from_millis(1_700_000_100_000);
    let revoked = RevocationSet::default();
    let chain = core::slice::from_ref(token);
    let requests = [
        Request::new("weather").with_method("get"),
        Request::new("fs")
            .with_method("read")
            .with_path("repo/src/lib.rs"),
        Request::new("fs")
            .with_resource("repo/a/b")
            .with_arg_bytes(100),
        Request::new(""),
    ];
    for root_key in [Some(&key), None] {
        let verified = Verifier::default().verify(chain, root_key, now, &revoked);
        let Ok(verified) = verified else { continue };
        let mut cache = SessionCache::new(2);
        let admitted = cache.admit([1; 16], verified.clone());
        for r in &requests {
            let full = Verifier::default().authorize(chain, root_key, r, now, &revoked);
            assert_eq!(verified.authorize(r), full);
            if admitted {
                let fast = cache
                    .authorize_fast([1; 16], token.capability_hash(), r, now, &revoked)
                    .expect("admitted");
                assert_eq!(fast.deny_reason(), full.deny_reason());
            }
        }
    }
}
