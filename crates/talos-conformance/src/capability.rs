//! Capability-token commands for cross-checking talos-acl with other Talos implementations
//! (CI runs them against the upstream Python SDK): issue tokens from JSON-lines requests, and
//! verify tokens given as JSON lines.

use talos_acl::revocation::RevocationSet;
use talos_acl::token::{CapabilityToken, TokenFields};
use talos_acl::verify::Verifier;
use talos_crypto::json::{self, Value};
use talos_crypto::{SigningKey, Timestamp};
use talos_did::Did;

fn field<'a>(line: &'a Value, name: &str) -> Result<&'a Value, String> {
    line.get(name).ok_or_else(|| format!("missing {name:?}"))
}

fn text<'a>(line: &'a Value, name: &str) -> Result<&'a str, String> {
    field(line, name)?
        .as_str()
        .ok_or_else(|| format!("{name:?} is not a string"))
}

fn secs(line: &Value, name: &str) -> Result<Timestamp, String> {
    match field(line, name)? {
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
    .and_then(Timestamp::from_secs)
    .ok_or_else(|| format!("{name:?} is not a time in seconds"))
}

/// For each line `{"seed_hex", "sub", "scope", "iat", "exp"}`: a token issued by the Ed25519
/// key of the seed (its did:key as `iss`), as one line of canonical JSON.
///
/// # Errors
/// A malformed line, with its number.
pub fn issue(input: &str) -> Result<String, String> {
    let mut out = String::new();
    for (n, line) in input
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = |e: String| format!("line {}: {e}", n + 1);
        let line = json::parse(line.as_bytes()).map_err(|e| at(e.to_string()))?;
        let seed =
            hex::decode(text(&line, "seed_hex").map_err(at)?).map_err(|e| at(e.to_string()))?;
        let key = SigningKey::from_seed_slice(&seed).map_err(|e| at(e.to_string()))?;
        let fields = TokenFields::new(
            Did::from(key.verifying_key()).to_string(),
            text(&line, "sub").map_err(at)?,
            text(&line, "scope").map_err(at)?,
            secs(&line, "iat").map_err(at)?,
            secs(&line, "exp").map_err(at)?,
        );
        let token = CapabilityToken::issue(&key, &fields).map_err(|e| at(e.to_string()))?;
        out.push_str(&String::from_utf8_lossy(&token.to_json()));
        out.push('\n');
    }
    Ok(out)
}

/// For each line `{"token": {...}, "now": seconds}`: `valid <capability_hash hex>` if the token
/// parses and verifies at `now` (issuer key from its `iss` did:key), else `invalid <CODE>`.
///
/// # Errors
/// A line that is not `{"token", "now"}`, with its number.
pub fn verify(input: &str) -> Result<String, String> {
    let revoked = RevocationSet::default();
    let mut out = String::new();
    for (n, line) in input
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = |e: String| format!("line {}: {e}", n + 1);
        let line = json::parse(line.as_bytes()).map_err(|e| at(e.to_string()))?;
        let now = secs(&line, "now").map_err(at)?;
        let token = field(&line, "token").map_err(at)?.to_canonical_vec();
        let verdict = CapabilityToken::from_json(&token)
            .map_err(|e| talos_acl::verify::Denial::from(&e))
            .and_then(|token| {
                Verifier::default()
                    .verify(core::slice::from_ref(&token), None, now, &revoked)
                    .map(|_| token.capability_hash_hex())
            });
        match verdict {
            Ok(hash) => out.push_str(&format!("valid {hash}\n")),
            Err(denial) => out.push_str(&format!("invalid {}\n", denial.reason().code())),
        }
    }
    Ok(out)
}
