//! The object a resource's config asks for, and what apply sends for a
//! planned change: one pure definition that plan, apply and the provider
//! tests share.
//!
//! The plan evaluates each attribute once ([`desired_object`]). What it
//! cannot know yet (a value that references an object still to be created)
//! and what it never shows (write-only values) stay expressions of the stack
//! the plan keeps ([`Plan::deferred`]). Apply evaluates only those
//! ([`instruction`]), checks them against the schema and against the plan,
//! and sends the plan's values for everything else.

use std::collections::BTreeSet;

use crate::addr::ResourceAddr;
use crate::config::{Expr, Ref};
use crate::provider::{PlannedUpdate, Registry, ResourceType};
use crate::schema::{Mode, Violation};
use crate::value::{Attrs, Value};

use super::{Action, AttrLookup, Plan, ResourceChange, resolve_ref};

/// The object the config asks for: the `configured` attributes (evaluated;
/// may hold `Unknown`), the schema's defaults and default names for `addr`
/// of `stack`, the default names settled against the existing object
/// (`current`; a replacement created first, `replacing_first`, takes the
/// default name the old object does not hold), normalized by the provider
/// when every value is known. Pure.
pub fn desired_object(
    provider: &dyn ResourceType,
    stack: &str,
    addr: &ResourceAddr,
    configured: Attrs,
    current: Option<&Attrs>,
    replacing_first: bool,
) -> Attrs {
    let schema = provider.schema();
    let set: BTreeSet<String> = configured.keys().cloned().collect();
    let mut desired = configured;
    schema.apply_defaults(&mut desired, stack, addr);
    schema.settle_default_names(&mut desired, &|name| set.contains(name), current, replacing_first, stack, addr);
    if !desired.values().any(Value::contains_unknown) {
        provider.normalize(&mut desired);
    }
    desired
}

/// Why apply refuses a change before any call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    #[error("`{0}`: {1}")]
    Eval(String, String),
    #[error("`{0}`: a referenced value is still unknown")]
    StillUnknown(String),
    #[error(
        "`{name}` is inconsistent with the plan: the plan showed {planned}, it now evaluates to {now}; nothing was sent for this object; plan again"
    )]
    Inconsistent { name: String, planned: Value, now: Value },
    #[error("`{}` {}{}; nothing was sent for this object", .0.path, .0.invalid.message, .0.invalid.hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Invalid(Violation),
    #[error("the plan holds no object to send")]
    Nothing,
    #[error("the plan was read from a file and holds no configuration to evaluate; plan again")]
    NoSource,
}

/// What apply sends for change `c` of `plan`: for a create the object, for
/// an update the planned update. The plan's values are sent as planned; each
/// deferred expression ([`Plan::deferred`]) is evaluated now, from what
/// `values` gives for the objects it references (the state, once they are
/// applied), and must be known, meet the schema's rules, and fit what the
/// plan showed for it (its known parts). `addresses` are the plan's desired
/// objects ([`Plan::desired_addresses`]), for references naming several. Pure.
pub fn instruction(
    plan: &Plan,
    c: &ResourceChange,
    provider: &dyn ResourceType,
    registry: &Registry,
    addresses: &[ResourceAddr],
    values: AttrLookup<'_>,
) -> Result<Instruction, Refused> {
    let schema = provider.schema();
    let mut after = c.after.clone().ok_or(Refused::Nothing)?;
    let deferred = plan.deferred(c, schema).ok_or(Refused::NoSource)?;
    let filled = fill(&deferred, registry, addresses, values)?;
    for (name, now) in &filled {
        if let Some(planned) = after.get(name)
            && !fits(planned, now)
        {
            return Err(Refused::Inconsistent { name: name.clone(), planned: planned.clone(), now: now.clone() });
        }
    }
    if let Some(v) = schema.check_values(&filled).into_iter().next() {
        return Err(Refused::Invalid(v));
    }
    let was_filled = !filled.is_empty();
    after.extend(filled.clone());
    // Computed values the plan could not know are AWS's to fill in.
    after.retain(|name, v| !(v.is_unknown() && schema.attr(name).is_none_or(|a| a.mode == Mode::Computed)));
    if was_filled {
        provider.normalize(&mut after);
    }
    Ok(match c.action {
        Action::Update => {
            let before = c.before.clone().unwrap_or_default();
            let mut next = before.clone();
            let mut changed = Vec::with_capacity(c.changes.len());
            for change in &c.changes {
                let value = if change.after.contains_unknown() {
                    after.get(&change.name).cloned().unwrap_or(Value::Null)
                } else {
                    change.after.clone()
                };
                next.insert(change.name.clone(), value);
                changed.push(change.name.clone());
            }
            crate::provider::diff::with_write_only(schema, &mut next, &filled);
            Instruction::Update(PlannedUpdate { before, after: next, changed })
        }
        _ => Instruction::Create(after),
    })
}

/// What apply sends: see [`instruction`].
#[derive(Debug, Clone, PartialEq)]
pub enum Instruction {
    Create(Attrs),
    Update(PlannedUpdate),
}

/// The deferred expressions evaluated from `values`: each must be known.
fn fill(
    deferred: &[(&str, &Expr)],
    registry: &Registry,
    addresses: &[ResourceAddr],
    values: AttrLookup<'_>,
) -> Result<Attrs, Refused> {
    let resolve = |r: &Ref| resolve_ref(addresses, registry, values, r);
    let mut out = Attrs::new();
    for &(name, expr) in deferred {
        let v = expr.eval(&resolve).map_err(|e| Refused::Eval(name.to_owned(), e.message))?;
        if v.contains_unknown() {
            return Err(Refused::StillUnknown(name.to_owned()));
        }
        out.insert(name.to_owned(), v);
    }
    Ok(out)
}

/// Whether `now` is a value the plan's `planned` (which may hold `Unknown`
/// parts) allowed: equal where the plan knew the value.
fn fits(planned: &Value, now: &Value) -> bool {
    match (planned, now) {
        (Value::Unknown, _) => true,
        (Value::List(p), Value::List(n)) => p.len() == n.len() && p.iter().zip(n).all(|(p, n)| fits(p, n)),
        (Value::Map(p), Value::Map(n)) => {
            p.len() == n.len() && p.iter().all(|(k, p)| n.get(k).is_some_and(|n| fits(p, n)))
        }
        (p, n) => p == n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_value_fits_where_the_plan_knew_it() {
        let list = |v: Vec<Value>| Value::List(v);
        assert!(fits(&Value::Unknown, &Value::str("x")));
        assert!(fits(&list(vec![Value::str("a"), Value::Unknown]), &list(vec![Value::str("a"), Value::str("b")])));
        assert!(!fits(&list(vec![Value::str("a"), Value::Unknown]), &list(vec![Value::str("z"), Value::str("b")])));
        assert!(!fits(&list(vec![Value::Unknown]), &list(vec![Value::str("a"), Value::str("b")])), "length");
        assert!(!fits(&Value::str("a"), &Value::str("b")));
    }
}
