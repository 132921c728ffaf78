//! Per-peer policy parser: any UTF-8 text either parses or yields an error that names a line;
//! a policy that parses evaluates a few requests for each of its peers (and for a stranger)
//! without panicking, and deny patterns always win.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_acl::policy::{PatternList, Policy, PolicyReason, PolicyRequest};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let policy = match Policy::from_toml(text) {
        Ok(policy) => policy,
        Err(e) => {
            assert!(e.line().is_some() || text.len() > talos_acl::policy::MAX_POLICY_BYTES);
            let _ = e.to_string();
            return;
        }
    };
    // Request subjects drawn from the input itself, plus a few fixed ones.
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
        .filter(|w| !w.is_empty())
        .take(16)
        .chain(["read_file", "file:///repo/src/lib.rs", ""])
        .collect();
    let mut peers: Vec<&str> = text
        .split('"')
        .filter(|s| s.starts_with("did:"))
        .take(8)
        .collect();
    peers.push("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK");
    for peer in peers {
        let _ = policy.rate_limit(peer);
        for w in &words {
            for request in [
                PolicyRequest::ToolCall { tool: w },
                PolicyRequest::ResourceRead { uri: w },
                PolicyRequest::Other { method: w },
            ] {
                let decision = policy.evaluate(peer, &request);
                let _ = decision.to_string();
                if let PolicyReason::Pattern { list, pattern } = decision.reason() {
                    assert!(pattern.matches(w));
                    let allowing =
                        matches!(list, PatternList::AllowTools | PatternList::AllowResources);
                    assert_eq!(decision.is_allowed(), allowing);
                }
                // Deny wins: if any deny pattern matches, the request is refused.
                if let Some(entry) = policy.peer(peer) {
                    let deny = match request {
                        PolicyRequest::ToolCall { .. } => Some(PatternList::DenyTools),
                        PolicyRequest::ResourceRead { .. } => Some(PatternList::DenyResources),
                        _ => None,
                    };
                    if let Some(list) = deny
                        && entry.patterns(list).iter().any(|g| g.matches(w))
                    {
                        assert!(!decision.is_allowed());
                    }
                }
            }
        }
    }
});
