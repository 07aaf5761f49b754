//! The pure attribute diff: which managed attributes differ between what
//! exists and what is desired, compared by meaning under the schema. No I/O.
//! The plan decides actions from it; providers use it to find what to send.

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
