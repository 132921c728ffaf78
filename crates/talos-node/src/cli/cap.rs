//! `talos cap`: issue, delegate, revoke and inspect capability tokens (talos-acl).
//!
//! - `issue` signs a root token with the node's key: `iss` is our DID, `sub` the `--to` DID,
//!   the scope is built from `--allow-tool` (item `tool:NAME`) and `--allow-resource` (item
//!   `tool:@resources/resource:GLOB`, the form the talos-mcp tunnel checks `resources/read`
//!   against), `iat` is now and `exp` now + `--ttl`.
//! - `delegate` takes a token or chain issued **to** us and appends a narrower child signed by
//!   us; the result is a chain, a JSON array of tokens root first
//!   (`contracts/acl/chain.schema.json`). talos-acl's verifier refuses a wider scope, looser
//!   constraints, a later expiry, or a chain deeper than it allows.
//! - `revoke` records a revocation, signed by us, under the capability hash in the store; this
//!   node then refuses the capability and everything delegated from it.
//! - `show` parses a token or chain, refuses it unless it is authentic (well formed, every
//!   signature and the delegation links check), and prints its claims and whether it is valid
//!   now (not expired, not revoked per the store, not issued in the future).
//!
//! Nothing here reads a clock or the network: the time is [`Ctx::now`], the key [`Ctx::key`].

use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};

use talos_acl::glob::Glob;
use talos_acl::revocation::{Revocation, RevocationSet};
use talos_acl::scope::{CompiledScope, Constraints};
use talos_acl::token::{CapabilityHash, CapabilityToken, MAX_TOKEN_BYTES, TokenFields};
use talos_acl::verify::{DEFAULT_MAX_DEPTH, DenyReason, DidResolver, KeyResolver, Verifier};
use talos_crypto::hash::{from_hex, to_hex};
use talos_crypto::json::{self, Map, Number, Value};
use talos_crypto::{ChaCha20Rng, SeedableRng as _, SigningKey, Timestamp};
use talos_did::Did;
use talos_ledger::entry::{Body, CapabilityIssued, CapabilityRevoked};
use talos_node::store::Store;
use talos_wire::MessageId;

use crate::cli::CliError;

/// The longest `--ttl` accepted: 366 days. A capability is a short-lived grant; issue a new
/// one rather than a token that outlives its purpose.
pub(crate) const MAX_TTL_SECS: u64 = 366 * 24 * 3600;

/// The scope item prefix of resource access (talos-mcp's `@resources` pseudo-tool).
const RESOURCE_ITEM: &str = "tool:@resources/resource:";

/// The largest token or chain file read: a chain of `1 + DEFAULT_MAX_DEPTH` tokens, with room
/// for white space.
const MAX_FILE_BYTES: u64 = 2 * (MAX_TOKEN_BYTES as u64) * (DEFAULT_MAX_DEPTH as u64 + 1);

/// What a `cap` or `ledger` command runs with: the node's key and store, the output mode and
/// the current time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx<'a> {
    /// The node's identity key: it signs tokens, revocations and checkpoints.
    pub key: &'a SigningKey,
    /// The node's store (revocations, the ledger).
    pub store: &'a Store,
    /// `--json`: one JSON document on the output instead of text.
    pub json: bool,
    /// The current time.
    pub now: Timestamp,
}

impl Ctx<'_> {
    /// Our DID (`did:key` of [`Ctx::key`]).
    #[must_use]
    pub(crate) fn did(&self) -> String {
        Did::from(self.key.verifying_key()).to_string()
    }
}

/// What a capability allows: the flags shared by `issue` and `delegate`.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct Grant {
    /// A tool the holder may call (scope item `tool:NAME`; `*` for every tool). Repeatable.
    #[arg(long = "allow-tool", value_name = "NAME", num_args = 1..)]
    pub allow_tool: Vec<String>,
    /// Resources the holder may read, as a glob over their URIs (scope item
    /// `tool:@resources/resource:GLOB`, e.g. `file:///repo/**`). Repeatable.
    #[arg(long = "allow-resource", value_name = "GLOB")]
    pub allow_resource: Vec<String>,
    /// Constraint: a tool call's `path` argument must match one of these globs. Repeatable.
    #[arg(long = "allow-path", value_name = "GLOB")]
    pub allow_path: Vec<String>,
    /// Constraint: a tool call's arguments may be at most this many bytes.
    #[arg(long = "max-arg-bytes", value_name = "BYTES")]
    pub max_arg_bytes: Option<u64>,
}

impl Grant {
    fn is_empty_scope(&self) -> bool {
        self.allow_tool.is_empty() && self.allow_resource.is_empty()
    }

    fn has_constraints(&self) -> bool {
        !self.allow_path.is_empty() || self.max_arg_bytes.is_some()
    }
}

/// `talos cap …`.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum CapCommand {
    /// Issue a capability token from this node to a DID.
    Issue {
        /// The subject: the DID that may use the capability.
        #[arg(long, value_name = "DID")]
        to: String,
        /// What it allows.
        #[command(flatten)]
        grant: Grant,
        /// Lifetime in seconds (at most 366 days).
        #[arg(long, value_name = "SECONDS")]
        ttl: u64,
        /// Write the token to FILE instead of the output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Delegate a narrower capability from a token or chain issued to this node.
    Delegate {
        /// The token or chain (JSON) issued to this node.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// The subject of the new link.
        #[arg(long, value_name = "DID")]
        to: String,
        /// What the new link allows (by default, the parent's scope).
        #[command(flatten)]
        grant: Grant,
        /// Lifetime in seconds; the new link may not expire after its parent.
        #[arg(long, value_name = "SECONDS")]
        ttl: u64,
        /// Write the chain to FILE instead of the output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Revoke a capability (and everything delegated from it) by its hash.
    Revoke {
        /// The capability hash: 64 lowercase hex digits (`cap show` prints it).
        hash: String,
        /// Why (recorded in the signed revocation).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Verify a token or chain and print what it allows and whether it is valid now.
    Show {
        /// The token or chain (JSON).
        file: PathBuf,
    },
}

/// Runs a `cap` command, writing its result to `out`.
///
/// # Errors
/// A [`CliError`] saying what was refused or failed: bad arguments, a token that is not
/// authentic, a store or output failure.
pub(crate) fn run(cmd: CapCommand, ctx: &Ctx<'_>, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        CapCommand::Issue {
            to,
            grant,
            ttl,
            out: file,
        } => issue(ctx, &to, &grant, ttl, file.as_deref(), out),
        CapCommand::Delegate {
            from,
            to,
            grant,
            ttl,
            out: file,
        } => delegate(ctx, &from, &to, &grant, ttl, file.as_deref(), out),
        CapCommand::Revoke { hash, reason } => revoke(ctx, &hash, reason.as_deref(), out),
        CapCommand::Show { file } => show(ctx, &file, out),
    }
}

// --- issue and delegate ---

fn issue(
    ctx: &Ctx<'_>,
    to: &str,
    grant: &Grant,
    ttl: u64,
    file: Option<&Path>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let subject = parse_did(to)?;
    if grant.is_empty_scope() {
        return Err(CliError::new(
            "empty scope: give at least one --allow-tool or --allow-resource",
        ));
    }
    let scope = build_scope(grant)?;
    let constraints = build_constraints(grant)?;
    let exp = expiry(ctx.now, ttl)?;
    let mut fields = TokenFields::new(ctx.did(), subject, scope, ctx.now, exp);
    if let Some(c) = constraints {
        fields = fields.with_constraints(c);
    }
    let token = CapabilityToken::issue(ctx.key, &fields)
        .map_err(|e| CliError::new(format!("cannot issue the capability: {e}")))?;
    record(ctx, issued(&token))?;
    let mut bytes = token.to_json();
    bytes.push(b'\n');
    deliver(ctx, &bytes, file, &token, 1, out)
}

/// The ledger entry of a capability this node issued.
fn issued(token: &CapabilityToken) -> Body {
    Body::CapabilityIssued(CapabilityIssued {
        capability_hash: *token.capability_hash(),
        issuer: token.issuer().to_owned(),
        subject: token.subject().to_owned(),
        exp: token.expires_at(),
    })
}

/// Appends `body` to the node's audit ledger, recorded by this node now; committed when it
/// returns.
fn record(ctx: &Ctx<'_>, body: Body) -> Result<(), CliError> {
    let failed = |e: &dyn core::fmt::Display| CliError::new(format!("ledger: {e}"));
    let mut seed = [0_u8; 32];
    getrandom::fill(&mut seed).map_err(|e| failed(&e))?;
    let id = MessageId::generate(ctx.now, &mut ChaCha20Rng::from_seed(seed));
    let mut ledger = ctx.store.ledger().map_err(|e| failed(&e))?;
    ledger
        .record(id, &ctx.did(), ctx.now, body)
        .map_err(|e| failed(&e))?;
    Ok(())
}

fn delegate(
    ctx: &Ctx<'_>,
    from: &Path,
    to: &str,
    grant: &Grant,
    ttl: u64,
    file: Option<&Path>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let subject = parse_did(to)?;
    let mut chain = read_chain(from)?;
    let me = ctx.did();
    let revoked = revocation_set(ctx.store)?;
    let verifier = Verifier::default();
    verifier
        .verify(&chain, None, ctx.now, &revoked)
        .map_err(|d| {
            CliError::new(format!(
                "cannot delegate from {}: {} ({})",
                from.display(),
                d.reason().code(),
                d.message()
            ))
        })?;
    let Some(parent) = chain.last() else {
        return Err(CliError::new(format!("{}: empty chain", from.display())));
    };
    if parent.subject() != me {
        return Err(CliError::new(format!(
            "cannot delegate from {}: it was issued to {}, not to this node ({me})",
            from.display(),
            parent.subject()
        )));
    }
    if chain.len() > DEFAULT_MAX_DEPTH {
        return Err(CliError::new(format!(
            "cannot delegate from {}: the chain already has {} delegations, the most allowed",
            from.display(),
            DEFAULT_MAX_DEPTH
        )));
    }
    let scope = if grant.is_empty_scope() {
        parent.scope().to_owned()
    } else {
        build_scope(grant)?
    };
    let constraints = build_constraints(grant)?;
    let exp = expiry(ctx.now, ttl)?;
    if exp.as_secs() > parent.expires_at_secs() {
        return Err(CliError::new(format!(
            "--ttl {ttl} would outlive the parent capability, which expires at {}: \
             a delegation may not expire after its parent",
            parent.expires_at()
        )));
    }
    let mut fields = TokenFields::new(me, subject, scope, ctx.now, exp).with_parent(parent);
    if let Some(c) = constraints {
        fields = fields.with_constraints(c);
    }
    let child = CapabilityToken::issue(ctx.key, &fields)
        .map_err(|e| CliError::new(format!("cannot issue the delegation: {e}")))?;
    chain.push(child);
    // talos-acl decides what "narrower" means: the whole new chain must verify.
    verifier
        .verify(&chain, None, ctx.now, &revoked)
        .map_err(|d| CliError::new(format!("refused: {} ({})", d.message(), d.reason().code())))?;
    let bytes = chain_json(&chain);
    let Some(leaf) = chain.last() else {
        return Err(CliError::new("empty chain"));
    };
    record(ctx, issued(leaf))?;
    deliver(ctx, &bytes, file, leaf, chain.len(), out)
}

/// Writes a token or chain to `file` (then a summary to `out`) or to `out`.
fn deliver(
    ctx: &Ctx<'_>,
    bytes: &[u8],
    file: Option<&Path>,
    leaf: &CapabilityToken,
    links: usize,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let Some(path) = file else {
        return write_out(out, bytes);
    };
    std::fs::write(path, bytes)
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
    if ctx.json {
        let mut doc = Map::new();
        doc.insert(
            "capability_hash".into(),
            Value::from(leaf.capability_hash_hex()),
        );
        doc.insert("file".into(), Value::from(path.display().to_string()));
        doc.insert("links".into(), num(links as u64));
        doc.insert("subject".into(), Value::from(leaf.subject()));
        doc.insert("expires_at".into(), num(leaf.expires_at_secs()));
        write_json(out, &Value::Object(doc))
    } else {
        let what = if links > 1 {
            "delegation chain"
        } else {
            "capability"
        };
        write_out(
            out,
            format!(
                "{what} {} for {} (expires {}) written to {}\n",
                leaf.capability_hash_hex(),
                leaf.subject(),
                leaf.expires_at(),
                path.display()
            )
            .as_bytes(),
        )
    }
}

fn parse_did(text: &str) -> Result<String, CliError> {
    let did: Did = text
        .parse()
        .map_err(|e| CliError::new(format!("invalid DID {:?}: {e}", cut(text))))?;
    Ok(did.to_string())
}

fn expiry(now: Timestamp, ttl: u64) -> Result<Timestamp, CliError> {
    if ttl == 0 {
        return Err(CliError::new("--ttl must be at least 1 second"));
    }
    if ttl > MAX_TTL_SECS {
        return Err(CliError::new(format!(
            "--ttl {ttl} is too long: at most {MAX_TTL_SECS} seconds (366 days)"
        )));
    }
    now.checked_add(core::time::Duration::from_secs(ttl))
        .filter(|t| t.as_secs() <= json::MAX_SAFE_INTEGER)
        .ok_or_else(|| CliError::new("--ttl: the expiry time is out of range"))
}

/// The scope string of `grant`: one item per tool, then one per resource glob, without
/// duplicates, checked by talos-acl's scope compiler.
fn build_scope(grant: &Grant) -> Result<String, CliError> {
    let mut items: Vec<String> = Vec::new();
    for tool in &grant.allow_tool {
        if tool.is_empty()
            || tool.contains('/')
            || tool.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(CliError::new(format!(
                "invalid tool name {:?}: it must be non-empty, without '/', spaces or control \
                 characters",
                cut(tool)
            )));
        }
        items.push(format!("tool:{tool}"));
    }
    for glob in &grant.allow_resource {
        check_glob("--allow-resource", glob)?;
        items.push(format!("{RESOURCE_ITEM}{glob}"));
    }
    let mut seen = std::collections::BTreeSet::new();
    items.retain(|i| seen.insert(i.clone()));
    let scope = items.join(" ");
    CompiledScope::parse(&scope, None).map_err(|e| CliError::new(format!("invalid scope: {e}")))?;
    Ok(scope)
}

fn check_glob(flag: &str, glob: &str) -> Result<(), CliError> {
    if glob.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CliError::new(format!(
            "invalid {flag} {:?}: spaces and control characters are not allowed",
            cut(glob)
        )));
    }
    Glob::new(glob).map_err(|e| CliError::new(format!("invalid {flag} {:?}: {e}", cut(glob))))?;
    Ok(())
}

fn build_constraints(grant: &Grant) -> Result<Option<Map>, CliError> {
    if !grant.has_constraints() {
        return Ok(None);
    }
    let mut map = Map::new();
    if !grant.allow_path.is_empty() {
        for glob in &grant.allow_path {
            check_glob("--allow-path", glob)?;
        }
        map.insert(
            "paths".into(),
            Value::Array(
                grant
                    .allow_path
                    .iter()
                    .map(|p| Value::from(p.as_str()))
                    .collect(),
            ),
        );
    }
    if let Some(max) = grant.max_arg_bytes {
        let n = Number::try_from(max)
            .ok()
            .filter(|_| max <= json::MAX_SAFE_INTEGER)
            .ok_or_else(|| CliError::new("--max-arg-bytes is out of range"))?;
        map.insert("max_arg_bytes".into(), Value::Number(n));
    }
    Constraints::parse(Some(&map))
        .map_err(|e| CliError::new(format!("invalid constraints: {e}")))?;
    Ok(Some(map))
}

// --- revoke ---

fn revoke(
    ctx: &Ctx<'_>,
    hash_text: &str,
    reason: Option<&str>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let hash: CapabilityHash = from_hex(hash_text).ok_or_else(|| {
        CliError::new(format!(
            "invalid capability hash {:?}: expected 64 lowercase hex digits",
            cut(hash_text)
        ))
    })?;
    let existing = ctx
        .store
        .revocation(&hash)
        .map_err(|e| CliError::new(format!("store: {e}")))?;
    let (revocation_json, already) = if let Some(bytes) = existing {
        (bytes, true)
    } else {
        let rev = Revocation::issue(ctx.key, hash, &ctx.did(), ctx.now, reason)
            .map_err(|e| CliError::new(format!("cannot sign the revocation: {e}")))?;
        let bytes = rev.to_json();
        // Committed (durably) before we say it is revoked, then recorded in the ledger.
        ctx.store
            .put_revocation(&hash, &bytes)
            .map_err(|e| CliError::new(format!("store: {e}")))?;
        record(
            ctx,
            Body::CapabilityRevoked(CapabilityRevoked {
                revocation: bytes.clone(),
            }),
        )
        .map_err(|e| CliError::new(format!("revoked, but not recorded: {e}")))?;
        (bytes, false)
    };
    let parsed = Revocation::from_json(&revocation_json).ok();
    if ctx.json {
        let mut doc = Map::new();
        doc.insert("capability_hash".into(), Value::from(to_hex(&hash)));
        doc.insert("already_revoked".into(), Value::Bool(already));
        if let Some(rev) = &parsed {
            doc.insert("issuer".into(), Value::from(rev.issuer()));
            doc.insert("revoked_at".into(), num(rev.revoked_at_secs()));
            if let Some(r) = rev.reason() {
                doc.insert("reason".into(), Value::from(r));
            }
        }
        if let Ok(v) = json::parse(&revocation_json) {
            doc.insert("revocation".into(), v);
        }
        write_json(out, &Value::Object(doc))
    } else {
        let when = parsed
            .as_ref()
            .and_then(|r| Timestamp::from_secs(r.revoked_at_secs()))
            .map_or_else(|| "an unknown time".to_owned(), |t| t.to_string());
        let text = if already {
            format!(
                "capability {} was already revoked (at {when})\n",
                to_hex(&hash)
            )
        } else {
            let why = reason.map_or_else(String::new, |r| format!(" ({r})"));
            format!(
                "revoked capability {} at {when}{why}: this node refuses it and every \
                 capability delegated from it\n",
                to_hex(&hash)
            )
        };
        write_out(out, text.as_bytes())
    }
}

// --- show ---

/// Whether a chain is valid at a time, and if not, why.
struct Status {
    reason: Option<DenyReason>,
    message: String,
}

fn show(ctx: &Ctx<'_>, path: &Path, out: &mut dyn Write) -> Result<(), CliError> {
    let chain = read_chain(path)?;
    check_authentic(&chain).map_err(|why| {
        CliError::new(format!(
            "refused: {} is not an authentic capability: {why}",
            path.display()
        ))
    })?;
    let revoked = revocation_set(ctx.store)?;
    let status = match Verifier::default().verify(&chain, None, ctx.now, &revoked) {
        Ok(verified) => match verified.policy() {
            Ok(_) => Status {
                reason: None,
                message: "valid".to_owned(),
            },
            Err(d) => Status {
                reason: Some(d.reason()),
                message: d.message().to_owned(),
            },
        },
        Err(d) => Status {
            reason: Some(d.reason()),
            message: d.message().to_owned(),
        },
    };
    let revoked_links: Vec<String> = chain
        .iter()
        .filter(|t| revoked.contains(t.capability_hash()))
        .map(CapabilityToken::capability_hash_hex)
        .collect();
    let me = ctx.did();
    if ctx.json {
        show_json(ctx, &chain, &status, &revoked_links, &me, out)
    } else {
        show_text(ctx, &chain, &status, &revoked_links, &me, out)
    }
}

/// Checks that a chain is well formed and authentically signed, independently of the time:
/// talos-acl's verifier at a moment inside every link's validity (the latest `iat`), without
/// revocations; if no such moment exists, each link's signature alone.
fn check_authentic(chain: &[CapabilityToken]) -> Result<(), String> {
    let latest_iat = chain
        .iter()
        .map(CapabilityToken::issued_at)
        .max()
        .ok_or("empty chain")?;
    match Verifier::default().verify(chain, None, latest_iat, &RevocationSet::default()) {
        Ok(_) => Ok(()),
        Err(d) if d.reason() == DenyReason::Expired => {
            // Some link expired before another was issued: never valid, but say whether it
            // is authentic.
            for token in chain {
                let key = DidResolver
                    .resolve(token.issuer())
                    .ok_or("issuer is not a DID with an Ed25519 key")?;
                token
                    .verify_signature(&key)
                    .map_err(|_| "invalid capability signature".to_owned())?;
            }
            Ok(())
        }
        Err(d) => Err(format!("{} ({})", d.message(), d.reason().code())),
    }
}

fn show_text(
    ctx: &Ctx<'_>,
    chain: &[CapabilityToken],
    status: &Status,
    revoked_links: &[String],
    me: &str,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    use core::fmt::Write as _;
    let mut s = String::new();
    let n = chain.len();
    for (i, token) in chain.iter().enumerate() {
        if n > 1 {
            let role = if i == 0 {
                " (root)"
            } else if i + 1 == n {
                " (leaf)"
            } else {
                ""
            };
            let _ = writeln!(s, "link {} of {n}{role}", i + 1);
        }
        let ours = |did: &str| if did == me { " (this node)" } else { "" };
        let _ = writeln!(s, "capability  {}", token.capability_hash_hex());
        let _ = writeln!(
            s,
            "  issuer      {}{}",
            token.issuer(),
            ours(token.issuer())
        );
        let _ = writeln!(
            s,
            "  subject     {}{}",
            token.subject(),
            ours(token.subject())
        );
        let _ = writeln!(s, "  scope       {}", token.scope());
        let constraints = token.constraints().map_or_else(
            || "none".to_owned(),
            |c| Value::Object(c.clone()).to_canonical_string(),
        );
        let _ = writeln!(s, "  constraints {constraints}");
        let _ = writeln!(s, "  issued at   {}", token.issued_at());
        let _ = writeln!(s, "  expires at  {}", token.expires_at());
        if let Some(p) = token.parent() {
            let _ = writeln!(s, "  parent      {}", to_hex(p));
        }
    }
    match status.reason {
        None => {
            let left = chain
                .iter()
                .map(CapabilityToken::expires_at)
                .min()
                .and_then(|exp| exp.duration_since(ctx.now))
                .map_or(0, |d| d.as_secs());
            let _ = writeln!(s, "status      valid now (expires in {left} s)");
        }
        Some(reason) => {
            let _ = writeln!(
                s,
                "status      NOT valid now: {} ({})",
                status_word(reason),
                status.message
            );
            for h in revoked_links {
                let _ = writeln!(s, "  revoked     {h}");
            }
        }
    }
    write_out(out, s.as_bytes())
}

fn show_json(
    ctx: &Ctx<'_>,
    chain: &[CapabilityToken],
    status: &Status,
    revoked_links: &[String],
    me: &str,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let links: Vec<Value> = chain
        .iter()
        .map(|t| {
            let mut m = Map::new();
            m.insert(
                "capability_hash".into(),
                Value::from(t.capability_hash_hex()),
            );
            m.insert("issuer".into(), Value::from(t.issuer()));
            m.insert("subject".into(), Value::from(t.subject()));
            m.insert("scope".into(), Value::from(t.scope()));
            m.insert(
                "constraints".into(),
                t.constraints()
                    .map_or(Value::Null, |c| Value::Object(c.clone())),
            );
            m.insert("iat".into(), num(t.issued_at_secs()));
            m.insert("exp".into(), num(t.expires_at_secs()));
            m.insert(
                "parent".into(),
                t.parent().map_or(Value::Null, |p| Value::from(to_hex(p))),
            );
            m.insert("issued_by_us".into(), Value::Bool(t.issuer() == me));
            m.insert("issued_to_us".into(), Value::Bool(t.subject() == me));
            Value::Object(m)
        })
        .collect();
    let mut doc = Map::new();
    if let Some(leaf) = chain.last() {
        doc.insert(
            "capability_hash".into(),
            Value::from(leaf.capability_hash_hex()),
        );
    }
    doc.insert("links".into(), Value::Array(links));
    doc.insert("now".into(), num(ctx.now.as_secs()));
    doc.insert("valid".into(), Value::Bool(status.reason.is_none()));
    doc.insert(
        "status".into(),
        Value::from(status.reason.map_or("VALID", DenyReason::code)),
    );
    doc.insert("message".into(), Value::from(status.message.as_str()));
    doc.insert(
        "revoked".into(),
        Value::Array(
            revoked_links
                .iter()
                .map(|h| Value::from(h.as_str()))
                .collect(),
        ),
    );
    write_json(out, &Value::Object(doc))
}

fn status_word(reason: DenyReason) -> &'static str {
    match reason {
        DenyReason::Expired => "expired",
        DenyReason::Revoked => "revoked",
        DenyReason::Invalid => "not yet valid",
        DenyReason::Malformed => "unreadable scope or constraints",
        _ => "refused",
    }
}

// --- shared helpers ---

/// Reads a token (a JSON object) or a chain (a JSON array of tokens, root first).
fn read_chain(path: &Path) -> Result<Vec<CapabilityToken>, CliError> {
    let bad = |e: &dyn core::fmt::Display| CliError::new(format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| bad(&e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(&e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(bad(&format_args!(
            "too large for a capability (more than {MAX_FILE_BYTES} bytes)"
        )));
    }
    let value = json::parse(&bytes).map_err(|e| bad(&format_args!("not a capability: {e}")))?;
    match value {
        Value::Object(_) => {
            let token = CapabilityToken::from_json(&bytes).map_err(|e| bad(&e))?;
            Ok(vec![token])
        }
        Value::Array(links) => {
            if links.is_empty() {
                return Err(bad(&"empty capability chain"));
            }
            if links.len() > DEFAULT_MAX_DEPTH + 1 {
                return Err(bad(&format_args!(
                    "chain of {} links: at most {} are accepted",
                    links.len(),
                    DEFAULT_MAX_DEPTH + 1
                )));
            }
            links
                .iter()
                .enumerate()
                .map(|(i, link)| {
                    CapabilityToken::from_json(&link.to_canonical_vec())
                        .map_err(|e| bad(&format_args!("link {}: {e}", i + 1)))
                })
                .collect()
        }
        _ => Err(bad(
            &"not a capability: expected a token object or an array of tokens",
        )),
    }
}

/// The chain as a JSON array of canonical tokens, root first, with a final newline.
fn chain_json(chain: &[CapabilityToken]) -> Vec<u8> {
    let mut bytes = vec![b'['];
    for (i, t) in chain.iter().enumerate() {
        if i > 0 {
            bytes.push(b',');
        }
        bytes.extend_from_slice(&t.to_json());
    }
    bytes.extend_from_slice(b"]\n");
    bytes
}

/// Every revoked capability hash in the store.
pub(crate) fn revocation_set(store: &Store) -> Result<RevocationSet, CliError> {
    let rows = store
        .revocations()
        .map_err(|e| CliError::new(format!("store: {e}")))?;
    let mut set = RevocationSet::new(rows.len().max(1));
    for (hash, _) in rows {
        set.insert_hash(hash)
            .map_err(|e| CliError::new(format!("revocations: {e}")))?;
    }
    Ok(set)
}

/// A JSON number, or the decimal string for a value beyond 2^53 − 1.
pub(crate) fn num(n: u64) -> Value {
    Number::try_from(n)
        .ok()
        .filter(|_| n <= json::MAX_SAFE_INTEGER)
        .map_or_else(|| Value::from(n.to_string()), Value::Number)
}

/// Writes one JSON document and a newline.
pub(crate) fn write_json(out: &mut dyn Write, value: &Value) -> Result<(), CliError> {
    let mut bytes = value.to_canonical_vec();
    bytes.push(b'\n');
    write_out(out, &bytes)
}

/// Writes bytes to the output.
pub(crate) fn write_out(out: &mut dyn Write, bytes: &[u8]) -> Result<(), CliError> {
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::new(format!("cannot write the output: {e}")))
}

/// At most 64 characters of user input, for messages.
pub(crate) fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use talos_acl::token::{CapabilityToken, TokenFields};
    use talos_crypto::json::{self, Value};
    use talos_crypto::{SigningKey, Timestamp};
    use talos_did::Did;
    use talos_node::store::Store;

    use super::{CapCommand, Ctx, run};

    const NOW: u64 = 1_767_225_600;

    #[derive(Parser)]
    struct TestCli {
        #[command(subcommand)]
        cmd: CapCommand,
    }

    struct Env {
        dir: tempfile::TempDir,
        store: Store,
        key: SigningKey,
    }

    impl Env {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&dir.path().join("data")).unwrap();
            Self {
                dir,
                store,
                key: SigningKey::from_seed(&[1; 32]),
            }
        }

        fn did(&self) -> String {
            Did::from(self.key.verifying_key()).to_string()
        }

        fn path(&self, name: &str) -> String {
            self.dir.path().join(name).display().to_string()
        }

        /// Runs `talos [--json] cap ARGS…` at `now` (Unix seconds).
        fn run_at(&self, now: u64, json: bool, args: &[&str]) -> Result<String, String> {
            let cli = TestCli::try_parse_from(core::iter::once("cap").chain(args.iter().copied()))
                .map_err(|e| format!("usage: {e}"))?;
            let ctx = Ctx {
                key: &self.key,
                store: &self.store,
                json,
                now: Timestamp::from_secs(now).unwrap(),
            };
            let mut out = Vec::new();
            run(cli.cmd, &ctx, &mut out).map_err(|e| e.to_string())?;
            Ok(String::from_utf8(out).unwrap())
        }

        fn run(&self, args: &[&str]) -> Result<String, String> {
            self.run_at(NOW, false, args)
        }

        fn show_json(&self, now: u64, file: &str) -> Value {
            let text = self.run_at(now, true, &["show", file]).unwrap();
            json::parse(text.as_bytes()).unwrap()
        }
    }

    fn other(seed: u8) -> (SigningKey, String) {
        let key = SigningKey::from_seed(&[seed; 32]);
        let did = Did::from(key.verifying_key()).to_string();
        (key, did)
    }

    fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
        v.get(key).and_then(Value::as_str).unwrap()
    }

    #[test]
    fn issue_then_show_is_valid() {
        let env = Env::new();
        let (_, bob) = other(2);
        let file = env.path("bob.json");
        let said = env
            .run(&[
                "issue",
                "--to",
                &bob,
                "--allow-tool",
                "search",
                "read_file",
                "--allow-resource",
                "file:///repo/**",
                "--ttl",
                "3600",
                "--out",
                &file,
            ])
            .unwrap();
        assert!(said.contains("written to"), "{said}");
        let token = CapabilityToken::from_json(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(token.issuer(), env.did());
        assert_eq!(token.subject(), bob);
        assert_eq!(
            token.scope(),
            "tool:search tool:read_file tool:@resources/resource:file:///repo/**"
        );
        assert_eq!(token.issued_at_secs(), NOW);
        assert_eq!(token.expires_at_secs(), NOW + 3600);

        let text = env.run(&["show", &file]).unwrap();
        assert!(text.contains("valid now"), "{text}");
        assert!(text.contains(&token.capability_hash_hex()), "{text}");
        let doc = env.show_json(NOW + 10, &file);
        assert_eq!(doc.get("valid"), Some(&Value::Bool(true)));
        assert_eq!(str_of(&doc, "status"), "VALID");
        assert_eq!(str_of(&doc, "capability_hash"), token.capability_hash_hex());

        // Without --out the token itself is the output, with constraints when asked.
        let printed = env
            .run(&[
                "issue",
                "--to",
                &bob,
                "--allow-tool",
                "read_file",
                "--allow-path",
                "repo/**",
                "--max-arg-bytes",
                "4096",
                "--ttl",
                "60",
            ])
            .unwrap();
        let token = CapabilityToken::from_json(printed.trim_end().as_bytes()).unwrap();
        let constraints = Value::Object(token.constraints().unwrap().clone());
        assert_eq!(
            constraints.to_canonical_string(),
            r#"{"max_arg_bytes":4096,"paths":["repo/**"]}"#
        );
    }

    #[test]
    fn issue_refuses_bad_input() {
        let env = Env::new();
        let (_, bob) = other(2);
        let cases: [(&[&str], &str); 7] = [
            (
                &[
                    "issue",
                    "--to",
                    "did:example:bob",
                    "--allow-tool",
                    "x",
                    "--ttl",
                    "60",
                ],
                "invalid DID",
            ),
            (
                &["issue", "--to", "bob", "--allow-tool", "x", "--ttl", "60"],
                "invalid DID",
            ),
            (&["issue", "--to", &bob, "--ttl", "60"], "empty scope"),
            (
                &["issue", "--to", &bob, "--allow-tool", "x", "--ttl", "0"],
                "--ttl",
            ),
            (
                &[
                    "issue",
                    "--to",
                    &bob,
                    "--allow-tool",
                    "x",
                    "--ttl",
                    "999999999",
                ],
                "too long",
            ),
            (
                &[
                    "issue",
                    "--to",
                    &bob,
                    "--allow-tool",
                    "fs/method:x",
                    "--ttl",
                    "60",
                ],
                "invalid tool",
            ),
            (
                &[
                    "issue",
                    "--to",
                    &bob,
                    "--allow-resource",
                    "a b",
                    "--ttl",
                    "60",
                ],
                "allow-resource",
            ),
        ];
        for (args, expected) in cases {
            let err = env.run(args).unwrap_err();
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }

    #[test]
    fn tampered_token_is_refused() {
        let env = Env::new();
        let (_, bob) = other(2);
        let file = env.path("t.json");
        env.run(&[
            "issue",
            "--to",
            &bob,
            "--allow-tool",
            "search",
            "--ttl",
            "3600",
            "--out",
            &file,
        ])
        .unwrap();
        let good = std::fs::read(&file).unwrap();
        let tampered = env.path("tampered.json");
        // Every single-byte change of the token is refused, never shown as a capability.
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            std::fs::write(&tampered, &bad).unwrap();
            let err = env.run(&["show", &tampered]).unwrap_err();
            assert!(
                err.contains("not an authentic capability") || err.contains("tampered.json"),
                "byte {i}: {err}"
            );
        }
        let mut bad = good.clone();
        let at = bad.windows(6).position(|w| w == b"search").unwrap();
        bad[at] = b'S';
        std::fs::write(&tampered, &bad).unwrap();
        let err = env.run(&["show", &tampered]).unwrap_err();
        assert!(
            err.contains("refused") && err.contains("signature"),
            "{err}"
        );
    }

    #[test]
    fn expired_token_is_shown_as_expired() {
        let env = Env::new();
        let (_, bob) = other(2);
        let file = env.path("t.json");
        env.run(&[
            "issue",
            "--to",
            &bob,
            "--allow-tool",
            "search",
            "--ttl",
            "60",
            "--out",
            &file,
        ])
        .unwrap();
        let text = env.run_at(NOW + 61, false, &["show", &file]).unwrap();
        assert!(text.contains("NOT valid now: expired"), "{text}");
        let doc = env.show_json(NOW + 61, &file);
        assert_eq!(doc.get("valid"), Some(&Value::Bool(false)));
        assert_eq!(str_of(&doc, "status"), "EXPIRED");
        // Still valid at its last second.
        assert_eq!(
            env.show_json(NOW + 60, &file).get("valid"),
            Some(&Value::Bool(true))
        );
    }

    #[test]
    fn revoke_then_show_says_revoked() {
        let env = Env::new();
        let (_, bob) = other(2);
        let file = env.path("t.json");
        env.run(&[
            "issue",
            "--to",
            &bob,
            "--allow-tool",
            "search",
            "--ttl",
            "600",
            "--out",
            &file,
        ])
        .unwrap();
        let hash = str_of(&env.show_json(NOW, &file), "capability_hash").to_owned();

        let said = env.run(&["revoke", &hash, "--reason", "leaked"]).unwrap();
        assert!(
            said.contains("revoked capability") && said.contains(&hash),
            "{said}"
        );
        let stored = env
            .store
            .revocation(&talos_crypto::hash::from_hex(&hash).unwrap());
        let rev = talos_acl::Revocation::from_json(&stored.unwrap().unwrap()).unwrap();
        assert_eq!(rev.issuer(), env.did());
        assert_eq!(rev.reason(), Some("leaked"));
        rev.verify(&env.key.verifying_key()).unwrap();

        let text = env.run(&["show", &file]).unwrap();
        assert!(text.contains("NOT valid now: revoked"), "{text}");
        let doc = env.show_json(NOW, &file);
        assert_eq!(str_of(&doc, "status"), "REVOKED");

        // Revoking again changes nothing and says so.
        let again = env.run_at(NOW + 5, true, &["revoke", &hash]).unwrap();
        let again = json::parse(again.as_bytes()).unwrap();
        assert_eq!(again.get("already_revoked"), Some(&Value::Bool(true)));
        assert_eq!(env.store.revocations().unwrap().len(), 1);

        for bad in [
            "",
            "abc",
            &hash[..63],
            &hash.to_uppercase(),
            &format!("{hash}00"),
        ] {
            let err = env.run(&["revoke", bad]).unwrap_err();
            assert!(err.contains("invalid capability hash"), "{bad:?}: {err}");
        }
    }

    /// Alice (another node) grants us `search` and `read_file`; we delegate to Bob.
    fn granted(env: &Env) -> String {
        let (alice, alice_did) = other(3);
        let iat = Timestamp::from_secs(NOW - 10).unwrap();
        let exp = Timestamp::from_secs(NOW + 3600).unwrap();
        let fields = TokenFields::new(alice_did, env.did(), "tool:search tool:read_file", iat, exp);
        let token = CapabilityToken::issue(&alice, &fields).unwrap();
        let file = env.path("from-alice.json");
        std::fs::write(&file, token.to_json()).unwrap();
        file
    }

    #[test]
    fn delegate_narrower_works_wider_is_refused() {
        let env = Env::new();
        let (_, bob) = other(2);
        let from = granted(&env);
        let chain_file = env.path("chain.json");
        env.run(&[
            "delegate",
            "--from",
            &from,
            "--to",
            &bob,
            "--allow-tool",
            "search",
            "--ttl",
            "600",
            "--out",
            &chain_file,
        ])
        .unwrap();
        let chain = json::parse(&std::fs::read(&chain_file).unwrap()).unwrap();
        let Value::Array(links) = &chain else {
            panic!("not a chain: {chain:?}")
        };
        assert_eq!(links.len(), 2);
        assert_eq!(str_of(&links[1], "iss"), env.did());
        assert_eq!(str_of(&links[1], "sub"), bob);
        assert_eq!(str_of(&links[1], "scope"), "tool:search");

        let doc = env.show_json(NOW, &chain_file);
        assert_eq!(doc.get("valid"), Some(&Value::Bool(true)), "{doc:?}");
        let text = env.run(&["show", &chain_file]).unwrap();
        assert!(text.contains("link 2 of 2 (leaf)"), "{text}");

        // A tampered link, or a link cut from its parent, makes the chain refused.
        let good = std::fs::read_to_string(&chain_file).unwrap();
        let tampered = env.path("tampered-chain.json");
        let widened = good.replacen(r#""scope":"tool:search","#, r#""scope":"tool:searcH","#, 1);
        assert_ne!(widened, good);
        std::fs::write(&tampered, widened).unwrap();
        let err = env.run(&["show", &tampered]).unwrap_err();
        assert!(err.contains("not an authentic capability"), "{err}");
        let Value::Array(mut cut) = chain.clone() else {
            panic!()
        };
        cut.remove(0);
        let orphan = Value::Array(cut).to_canonical_vec();
        std::fs::write(&tampered, orphan).unwrap();
        let err = env.run(&["show", &tampered]).unwrap_err();
        assert!(err.contains("DELEGATION_INVALID"), "{err}");

        // Without scope flags the delegation keeps the parent's scope.
        let same = env
            .run(&["delegate", "--from", &from, "--to", &bob, "--ttl", "60"])
            .unwrap();
        let same = json::parse(same.as_bytes()).unwrap();
        let Value::Array(same) = same else { panic!() };
        assert_eq!(str_of(&same[1], "scope"), "tool:search tool:read_file");

        // Wider scope, a later expiry, or a token not issued to us: refused.
        let err = env
            .run(&[
                "delegate",
                "--from",
                &from,
                "--to",
                &bob,
                "--allow-tool",
                "write_file",
                "--ttl",
                "60",
            ])
            .unwrap_err();
        assert!(err.contains("broader"), "{err}");
        let err = env
            .run(&[
                "delegate",
                "--from",
                &from,
                "--to",
                &bob,
                "--allow-tool",
                "*",
                "--ttl",
                "60",
            ])
            .unwrap_err();
        assert!(err.contains("broader"), "{err}");
        let err = env
            .run(&["delegate", "--from", &from, "--to", &bob, "--ttl", "7200"])
            .unwrap_err();
        assert!(err.contains("outlive"), "{err}");
        let err = env
            .run(&[
                "delegate",
                "--from",
                &chain_file,
                "--to",
                &bob,
                "--ttl",
                "60",
            ])
            .unwrap_err();
        assert!(err.contains("not to this node"), "{err}");

        // Revoking the root revokes the delegation.
        let root_hash = str_of(&env.show_json(NOW, &from), "capability_hash").to_owned();
        env.run(&["revoke", &root_hash]).unwrap();
        let doc = env.show_json(NOW, &chain_file);
        assert_eq!(str_of(&doc, "status"), "REVOKED");
        let err = env
            .run(&["delegate", "--from", &from, "--to", &bob, "--ttl", "60"])
            .unwrap_err();
        assert!(err.contains("REVOKED"), "{err}");
    }

    #[test]
    fn show_refuses_what_is_not_a_capability() {
        let env = Env::new();
        let file = env.path("x.json");
        for content in [&b""[..], b"{}", b"[]", b"42", b"not json", &[b'['; 70_000]] {
            std::fs::write(&file, content).unwrap();
            assert!(env.run(&["show", &file]).is_err());
        }
        assert!(env.run(&["show", &env.path("missing.json")]).is_err());
    }
}
