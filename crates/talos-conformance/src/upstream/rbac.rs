//! Upstream RBAC vectors (`rbac/`): scope matching with specificity, and deny by default.

use talos_acl::rbac::{self, Binding, Identity, PrincipalStatus, Scope};
use talos_crypto::json::Value;

use crate::report::{Cases, Outcome};
use crate::util::{field, same, str_field, u64_field};

/// A `{scope_type, attributes}` object as a [`Scope`].
fn scope(value: &Value) -> Result<Scope, String> {
    let scope_type = str_field(value, "scope_type")?;
    let attributes = match value.get("attributes") {
        None => Vec::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|v| (k.as_str(), v))
                    .ok_or_else(|| format!("attribute {k:?} is not a string"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err("\"attributes\" is not an object".into()),
    };
    Scope::new(scope_type, attributes).map_err(|e| e.to_string())
}

/// `rbac/scope_match_vectors.json`: binding scope against required scope, and specificity.
pub(super) fn scope_match(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    cases.each(doc, "vectors", "id", |vector| {
        let required = scope(field(vector, "required_scope")?)?;
        let binding = scope(field(vector, "binding_scope")?)?;
        let should_match = match field(vector, "should_match")? {
            Value::Bool(b) => *b,
            _ => return Err("\"should_match\" is not a boolean".into()),
        };
        let specificity = u64_field(vector, "specificity")?;
        let got = binding.match_required(&required);
        same("match", should_match, got.is_some())?;
        same(
            "specificity",
            specificity,
            got.map_or(0, |s| u64::from(s.as_u8())),
        )
    });
    cases.finish()
}

/// An upstream identity object (`{principal_id, status?, scopes?}`) as an [`Identity`]; each
/// `scopes` item is `{scope_type, attributes, actions?}` (no actions: none granted).
fn identity(value: &Value) -> Result<Option<Identity>, String> {
    if *value == Value::Null {
        return Ok(None);
    }
    let principal = str_field(value, "principal_id")?;
    let status = match value
        .get("status")
        .map(|s| s.as_str().ok_or("status is not a string"))
    {
        None | Some(Ok("active")) => PrincipalStatus::Active,
        Some(Ok("revoked")) => PrincipalStatus::Revoked,
        Some(Ok("suspended")) => PrincipalStatus::Suspended,
        Some(Ok(other)) => return Err(format!("unknown status {other:?}")),
        Some(Err(e)) => return Err(e.into()),
    };
    let mut bindings = Vec::new();
    if let Some(scopes) = value.get("scopes") {
        let Value::Array(items) = scopes else {
            return Err("\"scopes\" is not an array".into());
        };
        for item in items {
            let actions: Vec<&str> = match item.get("actions") {
                None => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| x.as_str().ok_or("action is not a string"))
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err("\"actions\" is not an array".into()),
            };
            bindings.push(Binding::new(&actions, scope(item)?).map_err(|e| e.to_string())?);
        }
    }
    Identity::new(principal, bindings)
        .map(|id| Some(id.with_status(status)))
        .map_err(|e| e.to_string())
}

/// `rbac/deny_by_default.json`: no identity, no scopes, a revoked key → deny. The action is
/// required in the `global` scope (the vectors name no scope).
pub(super) fn deny_by_default(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    cases.each(doc, "tests", "name", |test| {
        let identity = identity(field(test, "identity")?)?;
        let action = str_field(test, "action")?;
        let decision = rbac::authorize(identity.as_ref(), action, &Scope::global());
        let got = if decision.is_allow() { "allow" } else { "deny" };
        same("decision", str_field(test, "expected")?, got)
    });
    cases.finish()
}
