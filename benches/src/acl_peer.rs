//! biscuit-auth, the peer of the talos-acl comparison: a token that grants the same rights as
//! ours, verified and authorized the way a service would do it for each request.
//!
//! biscuit-auth is on the old dalek / rand_core 0.6 line (DEPENDENCIES.md): nothing crosses
//! between it and our crates but bytes and booleans. Its keys come from fixed bytes; token
//! building draws the per-block ephemeral keys from the OS, which only the setup does.
//!
//! Every authorizer runs with explicit [`LIMITS`]: biscuit's default limit of 1 ms spuriously
//! fails under load on this 2-core machine (REFERENCE.md §9.2).

use core::time::Duration;

use biscuit_auth::builder::{Algorithm, AuthorizerBuilder, BlockBuilder};
use biscuit_auth::{AuthorizerLimits, Biscuit, KeyPair, PrivateKey, PublicKey};

/// Run limits for every authorization: generous, so that load never turns a grant into a
/// timeout; the measured runs take microseconds.
pub const LIMITS: AuthorizerLimits = AuthorizerLimits {
    max_facts: 1000,
    max_iterations: 100,
    max_time: Duration::from_secs(1),
};

/// A serialized biscuit and the root key that verifies it.
pub struct BiscuitToken {
    /// The token bytes, as a service receives them.
    pub data: Vec<u8>,
    /// The root public key.
    pub root: PublicKey,
    /// Unix seconds the authority block's expiry check allows until.
    pub exp: u64,
}

impl core::fmt::Debug for BiscuitToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "BiscuitToken({} bytes)", self.data.len())
    }
}

fn keypair(seed: [u8; 32]) -> KeyPair {
    KeyPair::from(&PrivateKey::from_bytes(&seed, Algorithm::Ed25519).unwrap())
}

/// A token granting `tool` with `methods`, valid until `exp` (Unix seconds), with `links - 1`
/// attenuation blocks appended (each restricting to the first method), so `links` signatures
/// in all.
#[must_use]
pub fn token(tool: &str, methods: &[&str], exp: u64, links: usize) -> BiscuitToken {
    let root = keypair([0x42; 32]);
    let mut builder = Biscuit::builder();
    for method in methods {
        builder = builder
            .fact(format!("right(\"{tool}\", \"{method}\")").as_str())
            .unwrap();
    }
    builder = builder
        .check(format!("check if time($t), $t <= {}", rfc3339(exp)).as_str())
        .unwrap();
    let mut token = builder.build(&root).unwrap();
    for _ in 1..links {
        let block = BlockBuilder::new()
            .check(format!("check if operation(\"{}\")", methods[0]).as_str())
            .unwrap();
        token = token.append(block).unwrap();
    }
    BiscuitToken {
        data: token.to_vec().unwrap(),
        root: root.public(),
        exp,
    }
}

/// Parses and verifies `token` and authorizes `tool`/`method` at `now` (Unix seconds):
/// what a service does per request with a token it has not seen. `false` on any failure.
#[must_use]
pub fn verify_authorize(token: &BiscuitToken, tool: &str, method: &str, now: u64) -> bool {
    let Ok(biscuit) = Biscuit::from(&token.data, token.root) else {
        return false;
    };
    let built = AuthorizerBuilder::new()
        .set_limits(LIMITS)
        .fact(format!("resource(\"{tool}\")").as_str())
        .and_then(|b| b.fact(format!("operation(\"{method}\")").as_str()))
        .and_then(|b| b.fact(format!("time({})", rfc3339(now)).as_str()))
        .and_then(|b| b.policy("allow if resource($r), operation($op), right($r, $op)"))
        .and_then(|b| b.build(&biscuit));
    match built {
        Ok(mut authorizer) => authorizer.authorize_with_limits(LIMITS).is_ok(),
        Err(_) => false,
    }
}

/// `secs` after the Unix epoch as an RFC 3339 date-time in UTC (whole seconds), the form
/// biscuit's datalog takes for dates.
fn rfc3339(secs: u64) -> String {
    talos_crypto::Timestamp::from_secs(secs)
        .unwrap()
        .to_string()
        .replace(".000Z", "Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_504_000), "2026-01-04T05:20:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn grants_and_denies() {
        let t = token("filesystem", &["read", "write"], 2_000_000_000, 1);
        assert!(verify_authorize(&t, "filesystem", "read", 1_900_000_000));
        assert!(!verify_authorize(&t, "filesystem", "delete", 1_900_000_000));
        assert!(!verify_authorize(&t, "filesystem", "read", 2_000_000_001));
        let chain = token("filesystem", &["read", "write"], 2_000_000_000, 3);
        assert!(verify_authorize(
            &chain,
            "filesystem",
            "read",
            1_900_000_000
        ));
        assert!(!verify_authorize(
            &chain,
            "filesystem",
            "write",
            1_900_000_000
        ));
    }
}
