//! The action decision over the pure attribute diff ([`crate::provider::diff`],
//! re-exported here). No I/O.

pub use crate::provider::diff::{AttrChange, diff, diff_with};
use crate::value::Attrs;

use super::Action;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::fake::FAKE_SCHEMA;
    use crate::value::Value;

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
}
