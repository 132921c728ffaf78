//! Upstream talos-acl vectors: `sdk/capability_verify.json` (semantics with our token).
//!
//! The vector describes a contract-format (A) token without bytes (REFERENCE §5.1, §11), so
//! we issue our compact token (format C) from its inputs and check each expected outcome:
//!
//! - issuer: `did:key` of the Ed25519 key from `issuer_seed_hex`; subject: `subject_did`;
//! - scope: each `{tool, actions}` entry becomes one item per action,
//!   `tool:<tool>/method:<action>` (so `filesystem` + `[read, write]` →
//!   `tool:filesystem/method:read tool:filesystem/method:write`); matching is then exact, as
//!   the contract model requires;
//! - `exp` as given, `iat` = `exp` − 1 day, `now` = `exp` − 1 hour; `nonce` has no place in
//!   format C (the signature over `iat` and the content plays its part) and is not used;
//! - `authorize_fast_*` runs the session cache after one full verification.

use talos_acl::cache::SessionCache;
use talos_acl::revocation::RevocationSet;
use talos_acl::scope::Request;
use talos_acl::token::{CapabilityToken, TokenFields};
use talos_acl::verify::{Denial, Verifier};
use talos_crypto::json::Value;
use talos_crypto::{SigningKey, Timestamp};
use talos_did::Did;

use crate::report::{Cases, Outcome};
use crate::util::{array_field, expect_error, field, hex_array, same, str_field, u64_field};

/// Inputs shared by every case of the file.
struct Inputs {
    key: SigningKey,
    subject: String,
    scope: String,
    exp: u64,
}

fn inputs(doc: &Value) -> Result<Inputs, String> {
    let vector = array_field(doc, "vectors")?
        .first()
        .ok_or("no positive vector")?;
    let inputs = field(vector, "inputs")?;
    let mut items = Vec::new();
    for entry in array_field(inputs, "scope")? {
        let tool = str_field(entry, "tool")?;
        for action in array_field(entry, "actions")? {
            let action = action.as_str().ok_or("action is not a string")?;
            items.push(format!("tool:{tool}/method:{action}"));
        }
    }
    Ok(Inputs {
        key: SigningKey::from_seed(&hex_array::<32>(inputs, "issuer_seed_hex")?),
        subject: str_field(inputs, "subject_did")?.to_owned(),
        scope: items.join(" "),
        exp: u64_field(inputs, "exp")?,
    })
}

fn secs(s: u64) -> Result<Timestamp, String> {
    Timestamp::from_secs(s).ok_or_else(|| format!("time {s} out of range"))
}

fn issue(inputs: &Inputs, exp: u64) -> Result<CapabilityToken, String> {
    let iss = Did::from(inputs.key.verifying_key()).to_string();
    let fields = TokenFields::new(
        iss,
        inputs.subject.as_str(),
        inputs.scope.as_str(),
        secs(inputs.exp.saturating_sub(86_400).min(exp))?,
        secs(exp)?,
    );
    CapabilityToken::issue(&inputs.key, &fields).map_err(|e| e.to_string())
}

fn now(inputs: &Inputs) -> Result<Timestamp, String> {
    secs(inputs.exp.saturating_sub(3600))
}

fn verify(
    token: &CapabilityToken,
    inputs: &Inputs,
    key: Option<&talos_crypto::VerifyingKey>,
) -> Result<talos_acl::VerifiedChain, Denial> {
    let now = now(inputs).map_err(|e| Denial::new(talos_acl::DenyReason::Invalid, e))?;
    Verifier::default().verify(
        core::slice::from_ref(token),
        key,
        now,
        &RevocationSet::default(),
    )
}

/// `sdk/capability_verify.json`.
pub(super) fn capability_verify(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    let shared = match inputs(doc) {
        Ok(i) => i,
        Err(e) => {
            cases.check("inputs", Err(e));
            return cases.finish();
        }
    };
    cases.each(doc, "vectors", "test_id", |vector| {
        let expected = field(vector, "expected")?;
        let token = issue(&shared, shared.exp)?;
        // Round-trip the bytes, as a receiver would see them.
        let token = CapabilityToken::from_json(&token.to_json()).map_err(|e| e.to_string())?;
        let verified = verify(&token, &shared, None);
        same(
            "verify",
            field(expected, "verify")? == &Value::Bool(true),
            verified.is_ok(),
        )?;
        let verified = verified.map_err(|e| e.to_string())?;
        let mut cache = SessionCache::new(4);
        let session = [1; 16];
        if !cache.admit(session, verified) {
            return Err("token not admitted to the session cache".into());
        }
        let now = now(&shared)?;
        let revoked = RevocationSet::default();
        for (key, action) in [
            ("authorize_fast_filesystem_read", "read"),
            ("authorize_fast_filesystem_delete", "delete"),
        ] {
            let want = field(expected, key)? == &Value::Bool(true);
            let request = Request::new("filesystem").with_method(action);
            let got = cache
                .authorize_fast(session, token.capability_hash(), &request, now, &revoked)
                .map_err(|e| e.to_string())?
                .is_allow();
            same(key, want, got)?;
        }
        Ok(())
    });
    cases.each(doc, "negative_cases", "test_id", |vector| {
        let inputs = field(vector, "inputs")?;
        let (token, key) = if let Some(exp) = inputs.get("token_with_exp") {
            let exp = match exp {
                Value::Number(n) => n.as_u64().ok_or("token_with_exp is not an integer")?,
                _ => return Err("token_with_exp is not a number".into()),
            };
            (issue(&shared, exp)?, None)
        } else if inputs.get("tampered_token") == Some(&Value::Bool(true)) {
            let good = issue(&shared, shared.exp)?;
            let json = String::from_utf8(good.to_json()).map_err(|e| e.to_string())?;
            // Widen the scope after signing.
            let tampered = json.replacen("method:read", "method:admin", 1);
            if tampered == json {
                return Err("could not tamper with the token".into());
            }
            let token =
                CapabilityToken::from_json(tampered.as_bytes()).map_err(|e| e.to_string())?;
            (token, None)
        } else if inputs.get("verify_with_wrong_issuer") == Some(&Value::Bool(true)) {
            let wrong = SigningKey::from_seed(&[0x42; 32]).verifying_key();
            (issue(&shared, shared.exp)?, Some(wrong))
        } else {
            return Err("unknown negative case".into());
        };
        let result = verify(&token, &shared, key.as_ref());
        if let Some(expected_error) = vector.get("expected_error") {
            let denial = result.err().ok_or("token verified")?;
            return expect_error(
                expected_error,
                denial.error_code().as_str(),
                &denial.to_string(),
            );
        }
        let want = field(field(vector, "expected")?, "verify")? == &Value::Bool(true);
        same("verify", want, result.is_ok())
    });
    cases.finish()
}
