//! The pure attribute diff: which managed attributes differ between what
//! exists and what is desired, compared by meaning under the schema. No I/O.
//! The plan decides actions from it; an update's instruction
//! ([`PlannedUpdate`]) is made from it, and providers change what it lists.

use serde::{Deserialize, Serialize};

use super::schema::{AttrType, Mode, Schema};
use crate::value::{Attrs, Value};

/// One attribute that differs between the current and the desired object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrChange {
    pub name: String,
    pub before: Value,
    pub after: Value,
    /// Changing this attribute means delete and create again.
    pub forces_replacement: bool,
}

/// Differences between `current` (what exists) and `desired` (config with
/// defaults), for attributes the config manages: set in `desired`, not
/// computed, and not listed in `ignore`.
pub fn diff(schema: &Schema, current: &Attrs, desired: &Attrs, ignore: &[String]) -> Vec<AttrChange> {
    diff_with(schema, current, desired, ignore, &|_, _, _| false)
}

/// [`diff`], where `suppress(name, current, desired)` may declare two
/// different values equivalent (the provider's `suppress_diff`).
pub fn diff_with(
    schema: &Schema,
    current: &Attrs,
    desired: &Attrs,
    ignore: &[String],
    suppress: &dyn Fn(&str, &Value, &Value) -> bool,
) -> Vec<AttrChange> {
    let mut out = Vec::new();
    for (name, after) in desired {
        let Some(attr) = schema.attr(name) else { continue };
        if attr.mode == Mode::Computed || attr.write_only || after.is_null() || ignore.iter().any(|i| i == name) {
            continue;
        }
        let before = current.get(name).cloned().unwrap_or(Value::Null);
        if !equal(&attr.ty, &before, after) && (after.contains_unknown() || !suppress(name, &before, after)) {
            out.push(AttrChange {
                name: name.clone(),
                before,
                after: after.clone(),
                forces_replacement: attr.force_new,
            });
        }
    }
    out
}

/// An update as planned: the object as it was seen (`before`), the
/// attributes that change (after `ignore_changes` and the provider's
/// suppress rules), and `after`: `before` with exactly those changes, plus
/// the write-only values to send (never shown in a plan). A provider's
/// `update` changes what `changed` lists and nothing else.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlannedUpdate {
    pub before: Attrs,
    pub after: Attrs,
    pub changed: Vec<String>,
}

impl PlannedUpdate {
    /// The update from `before` to `desired` for a type with `schema`, as the
    /// plan computes it ([`diff_with`]); write-only values of `desired` are
    /// sent along. Pure.
    pub fn between(
        schema: &Schema,
        before: &Attrs,
        desired: &Attrs,
        ignore: &[String],
        suppress: &dyn Fn(&str, &Value, &Value) -> bool,
    ) -> PlannedUpdate {
        let changes = diff_with(schema, before, desired, ignore, suppress);
        let mut after = before.clone();
        let mut changed = Vec::with_capacity(changes.len());
        for c in changes {
            after.insert(c.name.clone(), c.after);
            changed.push(c.name);
        }
        with_write_only(schema, &mut after, desired);
        PlannedUpdate { before: before.clone(), after, changed }
    }

    /// Whether the plan changes `name`.
    pub fn changes(&self, name: &str) -> bool {
        self.changed.iter().any(|c| c == name)
    }

    /// The planned new value of `name`, when the plan changes it.
    pub fn to(&self, name: &str) -> Option<&Value> {
        if self.changes(name) { self.after.get(name) } else { None }
    }

    /// Whether the plan changes any of `names`.
    pub fn changes_any(&self, names: &[&str]) -> bool {
        names.iter().any(|n| self.changes(n))
    }
}

/// Adds the write-only values of `desired` to `after`: never read back nor
/// shown in a plan, they go with whatever change the plan makes.
pub fn with_write_only(schema: &Schema, after: &mut Attrs, desired: &Attrs) {
    for a in schema.attrs.iter().filter(|a| a.write_only) {
        if let Some(v) = desired.get(a.name).filter(|v| !v.is_null()) {
            after.insert(a.name.to_owned(), v.clone());
        }
    }
}

/// Equality by meaning for a typed value: sets ignore order, policies compare
/// as JSON documents, numbers compare across int/float. Unknown never equals.
pub fn equal(ty: &AttrType, a: &Value, b: &Value) -> bool {
    if a.is_unknown() || b.is_unknown() {
        return false;
    }
    match (ty, a, b) {
        (AttrType::Set(inner), Value::List(x), Value::List(y)) => {
            x.len() == y.len() && {
                let mut used = vec![false; y.len()];
                x.iter().all(|xv| {
                    let hit = y.iter().enumerate().find(|(i, yv)| !used[*i] && equal(inner, xv, yv));
                    hit.map(|(i, _)| used[i] = true).is_some()
                })
            }
        }
        (AttrType::List(inner), Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(inner, p, q))
        }
        (AttrType::Map(inner), Value::Map(x), Value::Map(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(inner, v, w)))
        }
        (AttrType::Object(fields), Value::Map(x), Value::Map(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().all(|k| {
                let (p, q) = (x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null));
                match super::schema::field(fields, k) {
                    Some(f) => equal(&f.ty, p, q),
                    None => p == q,
                }
            })
        }
        (AttrType::Policy, _, _) => policy_doc(a) == policy_doc(b),
        (AttrType::Num | AttrType::Int, _, _) => match (number(a), number(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
        _ => a == b,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// A policy as a JSON document, whether written as a table or a JSON string.
pub fn policy_doc(v: &Value) -> serde_json::Value {
    match v {
        Value::Str(s) => serde_json::from_str(s).unwrap_or_else(|_| serde_json::Value::String(s.clone())),
        other => other.to_json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::fake::FAKE_SCHEMA;

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn a_provider_can_suppress_equivalent_values() {
        let current = attrs(&[("name", "a".into()), ("size", 16.into())]);
        let desired = attrs(&[("name", "a".into()), ("size", 15.into())]);
        let suppress = |name: &str, cur: &Value, want: &Value| name == "size" && cur.as_i64() >= want.as_i64();
        assert!(diff_with(&FAKE_SCHEMA, &current, &desired, &[], &suppress).is_empty());
        let bigger = attrs(&[("name", "a".into()), ("size", 17.into())]);
        assert_eq!(diff_with(&FAKE_SCHEMA, &current, &bigger, &[], &suppress).len(), 1);
    }

    #[test]
    fn sets_and_policies_compare_by_meaning() {
        static SET: AttrType = AttrType::Set(&AttrType::Str);
        let a = Value::List(vec!["x".into(), "y".into()]);
        let b = Value::List(vec!["y".into(), "x".into()]);
        assert!(equal(&SET, &a, &b));
        assert!(!equal(&AttrType::List(&AttrType::Str), &a, &b));
        let json = Value::str(r#"{"Version":"2012-10-17","Statement":[]}"#);
        let table = Value::Map(
            [("Statement".to_string(), Value::List(vec![])), ("Version".to_string(), "2012-10-17".into())].into(),
        );
        assert!(equal(&AttrType::Policy, &json, &table));
        assert!(equal(&AttrType::Int, &Value::Int(3), &Value::Float(3.0)));
    }
}
