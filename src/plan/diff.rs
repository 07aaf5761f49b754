//! The pure attribute diff and the action decision. No I/O.

use serde::{Deserialize, Serialize};

use crate::provider::schema::{AttrType, Mode, Schema};
use crate::value::{Attrs, Value};

use super::Action;

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

/// The action for one resource: the provider's schema says which attributes
/// force replacement; this decides.
pub fn decide(current: Option<&Attrs>, desired: Option<&Attrs>, changes: &[AttrChange]) -> Action {
    match (current, desired) {
        (None, None) => Action::NoOp,
        (None, Some(_)) => Action::Create,
        (Some(_), None) => Action::Delete,
        (Some(_), Some(_)) if changes.iter().any(|c| c.forces_replacement) => Action::Replace,
        (Some(_), Some(_)) if !changes.is_empty() => Action::Update,
        (Some(_), Some(_)) => Action::NoOp,
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
                match crate::provider::schema::field(fields, k) {
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
    fn unchanged_and_unmanaged_attributes_do_not_diff() {
        let current = attrs(&[("name", "a".into()), ("size", 2.into()), ("id", "x".into())]);
        let desired = attrs(&[("name", "a".into()), ("size", 2.into())]);
        assert!(diff(&FAKE_SCHEMA, &current, &desired, &[]).is_empty());
        assert_eq!(decide(Some(&current), Some(&desired), &[]), Action::NoOp);
    }

    #[test]
    fn force_new_attribute_means_replace_and_others_update() {
        let current = attrs(&[("name", "a".into()), ("size", 1.into())]);
        let resize = attrs(&[("name", "a".into()), ("size", 3.into())]);
        let c = diff(&FAKE_SCHEMA, &current, &resize, &[]);
        assert_eq!(c.len(), 1);
        assert!(!c[0].forces_replacement);
        assert_eq!(decide(Some(&current), Some(&resize), &c), Action::Update);
        let rename = attrs(&[("name", "b".into()), ("size", 1.into())]);
        let c = diff(&FAKE_SCHEMA, &current, &rename, &[]);
        assert!(c[0].forces_replacement);
        assert_eq!(decide(Some(&current), Some(&rename), &c), Action::Replace);
    }

    #[test]
    fn ignore_changes_and_unknowns() {
        let current = attrs(&[("name", "a".into()), ("size", 1.into())]);
        let desired = attrs(&[("name", "a".into()), ("size", 5.into())]);
        assert!(diff(&FAKE_SCHEMA, &current, &desired, &["size".to_string()]).is_empty());
        let unknown = attrs(&[("name", Value::Unknown)]);
        let c = diff(&FAKE_SCHEMA, &current, &unknown, &[]);
        assert_eq!(c[0].after, Value::Unknown);
        assert!(c[0].forces_replacement);
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
