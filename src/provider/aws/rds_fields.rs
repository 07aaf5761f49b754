//! Field tables of the RDS database types (`db_instance`, `db_cluster`,
//! `db_cluster_instance`): each type declares, per attribute, how its
//! Describe answer reads it, which create-call setter takes it and which
//! Modify-call setter changes it ([`Field`], written with [`field!`]). Reads,
//! creates and updates walk the table; what a table cannot say (a value that
//! depends on another, a call of its own) each type sends itself, for the
//! attributes it lists as special.
//!
//! An update walks the plan's `changed` and nothing else: an attribute the
//! plan does not change is never sent, and nothing is compared again here.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_rds::operation::modify_db_instance::builders::ModifyDBInstanceFluentBuilder;
use aws_sdk_rds::types::{CloudwatchLogsExportConfiguration, PendingCloudwatchLogsExports, VpcSecurityGroupMembership};

use super::rds::{get_set, sorted, to_i32};
use super::{get_bool, get_i64, get_str};
#[cfg(test)]
use crate::provider::schema::{Mode, Schema};
use crate::provider::{PlannedUpdate, ProviderError, Result};
use crate::value::{Attrs, Value};

/// An SDK request builder's `set_*` method for one attribute, by the value it takes.
pub enum Set<B> {
    Str(fn(B, Option<String>) -> B),
    Int(fn(B, Option<i32>) -> B),
    Bool(fn(B, Option<bool>) -> B),
    /// A set attribute, sent sorted.
    Strs(fn(B, Option<Vec<String>>) -> B),
}

impl<B> Set<B> {
    /// `b` with attribute `name` set to `value`; an integer outside `i32` is an error.
    fn apply(&self, name: &str, b: B, value: &Value) -> Result<B> {
        Ok(match self {
            Set::Str(f) => f(b, value.as_str().map(str::to_owned)),
            Set::Int(f) => f(b, to_i32(name, value.as_i64())?),
            Set::Bool(f) => f(b, value.as_bool()),
            Set::Strs(f) => f(b, Some(sorted(value.string_list()))),
        })
    }
}

/// One attribute of an RDS type: its value in a Describe answer `R` (null
/// when AWS reports none) and the setter of the create builder `C` and of
/// the Modify builder `M` that take it as it is. `None` where the call does
/// not: a computed or config-only attribute, one that forces replacement, or
/// one the type sends itself (its special list).
pub struct Field<R, C, M> {
    pub name: &'static str,
    pub read: fn(&R) -> Value,
    pub create: Option<Set<C>>,
    pub modify: Option<Set<M>>,
}

/// A [`Field`] row, in a module with type aliases `C` (create builder) and
/// `M` (Modify builder): `field!(NAME, READ)` is read only;
/// `field!(NAME, READ, KIND, SETTER)` takes the same [`Set`] `KIND` setter on
/// both builders; `field!(NAME, READ, KIND, CREATE, MODIFY)` names each, `_`
/// for none.
macro_rules! field {
    ($name:literal, $read:expr) => {
        $crate::provider::aws::rds_fields::Field { name: $name, read: $read, create: None, modify: None }
    };
    ($name:literal, $read:expr, $kind:ident, $setter:ident) => {
        field!($name, $read, $kind, $setter, $setter)
    };
    ($name:literal, $read:expr, $kind:ident, $create:tt, $modify:tt) => {
        $crate::provider::aws::rds_fields::Field {
            name: $name,
            read: $read,
            create: field!(@set $kind C $create),
            modify: field!(@set $kind M $modify),
        }
    };
    (@set $kind:ident $builder:ident _) => {
        None
    };
    (@set $kind:ident $builder:ident $setter:ident) => {
        Some($crate::provider::aws::rds_fields::Set::$kind($builder::$setter))
    };
}
pub(super) use field;

/// A value AWS holds for the maintenance window: the attribute and how the
/// Describe answer `R` reads the held value (null: none held).
pub type Held<R> = (&'static str, fn(&R) -> Value);

/// A [`Held`] row: `held!(NAME, GETTER)` reads `GETTER` of the answer's
/// pending modified values.
macro_rules! held {
    ($name:literal, $getter:ident) => {
        ($name, |r| r.pending_modified_values().and_then(|p| p.$getter()).into())
    };
}
pub(super) use held;

/// The attributes `fields` read from `r` (null ones left out), with the
/// values AWS holds for the maintenance window (`held`) read as made, so the
/// plan after an apply without `apply_immediately` is empty; the second part
/// lists those held values as plan notes show them, for `pending_changes`.
pub fn read<R, C, M>(fields: &[Field<R, C, M>], held: &[Held<R>], r: &R) -> (Attrs, BTreeMap<String, String>) {
    let mut attrs: Attrs =
        fields.iter().map(|f| (f.name.to_owned(), (f.read)(r))).filter(|(_, v)| !v.is_null()).collect();
    let mut pending = BTreeMap::new();
    for (name, read) in held {
        let value = read(r);
        if !value.is_null() {
            pending.insert((*name).to_owned(), note_text(&value));
            attrs.insert((*name).to_owned(), value);
        }
    }
    (attrs, pending)
}

/// `b` with every non-null attribute of `desired` that `fields` create with.
pub fn create<R, C, M>(fields: &[Field<R, C, M>], b: C, desired: &Attrs) -> Result<C> {
    set_all(b, desired, fields.iter().filter_map(|f| Some((f.name, f.create.as_ref()?))))
}

/// `b` with `setters` applied to the non-null values of `attrs`.
pub fn set_all<'a, B: 'a>(
    mut b: B,
    attrs: &Attrs,
    setters: impl IntoIterator<Item = (&'static str, &'a Set<B>)>,
) -> Result<B> {
    for (name, set) in setters {
        if let Some(v) = attrs.get(name).filter(|v| !v.is_null()) {
            b = set.apply(name, b, v)?;
        }
    }
    Ok(b)
}

/// `b` with the planned value of every attribute `update` changes that
/// `fields` modify as it is, and the names of those attributes (the
/// change's part a wait looks for, [`not_shown`]).
pub fn modify<R, C, M>(fields: &[Field<R, C, M>], b: M, update: &PlannedUpdate) -> Result<(M, BTreeSet<String>)> {
    let plain =
        update.changed.iter().filter_map(|n| fields.iter().find(|f| f.name == n)?.modify.as_ref().map(|s| (n, s)));
    let mut sent = BTreeSet::new();
    let mut b = b;
    for (name, set) in plain {
        b = set.apply(name, b, update.after.get(name).unwrap_or(&Value::Null))?;
        sent.insert(name.clone());
    }
    Ok((b, sent))
}

/// Marks the special attributes `names` that `update` changes as sent, and
/// says whether any is: the type then sends them (together, as AWS checks
/// them) from `update.after`.
pub fn special(update: &PlannedUpdate, sent: &mut BTreeSet<String>, names: &[&str]) -> bool {
    let hit: Vec<String> = names.iter().filter(|n| update.changes(n)).map(|n| (*n).to_owned()).collect();
    let any = !hit.is_empty();
    sent.extend(hit);
    any
}

/// The attributes of `sent` that `seen` (AWS's answer, held values read as
/// made) still reports as the plan saw them (`update.before`): the change
/// does not show yet.
pub fn not_shown(update: &PlannedUpdate, sent: &BTreeSet<String>, seen: &Attrs) -> Vec<String> {
    let value = |a: &Attrs, n: &str| a.get(n).cloned().unwrap_or_default();
    sent.iter().filter(|n| value(seen, n) == value(&update.before, n)).cloned().collect()
}

/// The schema attributes a type can change in place (neither computed,
/// config-only nor forcing replacement) that neither its `fields` modify nor
/// its `special` list names: none may be left, or an update would not send
/// a change the plan makes.
#[cfg(test)]
pub fn unsent<R, C, M>(schema: &Schema, fields: &[Field<R, C, M>], special: &[&str]) -> Vec<&'static str> {
    let plain = |n: &str| fields.iter().any(|f| f.name == n && f.modify.is_some());
    schema
        .attrs
        .iter()
        .filter(|a| a.mode != Mode::Computed && !a.config_only && !a.force_new)
        .map(|a| a.name)
        .filter(|n| !plain(n) && !special.contains(n))
        .collect()
}

/// The ids of `groups`, sorted.
pub fn sg_ids(groups: &[VpcSecurityGroupMembership]) -> Value {
    Value::from(sorted(groups.iter().filter_map(|g| g.vpc_security_group_id().map(str::to_owned)).collect()))
}

/// A value as plan notes show it (strings without quotes, lists comma-separated).
pub fn note_text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::List(items) => items.iter().map(note_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// The log exports that `now` (exported today) becomes once AWS applies the
/// held `change`; null when nothing is held.
pub fn held_logs(now: &[String], change: Option<&PendingCloudwatchLogsExports>) -> Value {
    let Some((on, off)) = change.map(|c| (c.log_types_to_enable(), c.log_types_to_disable())) else {
        return Value::Null;
    };
    if on.is_empty() && off.is_empty() {
        return Value::Null;
    }
    let logs = now.iter().chain(on).filter(|t| !off.contains(t)).cloned().collect();
    Value::from(sorted(logs))
}

/// Log types to enable and to disable going from the plan's `before` to its `after`.
pub fn log_export_change(update: &PlannedUpdate) -> CloudwatchLogsExportConfiguration {
    let set = |a: &Attrs| -> BTreeSet<String> {
        get_set(a, "enabled_cloudwatch_logs_exports").unwrap_or_default().into_iter().collect()
    };
    let (old, new) = (set(&update.before), set(&update.after));
    CloudwatchLogsExportConfiguration::builder()
        .set_enable_log_types(Some(new.difference(&old).cloned().collect()))
        .set_disable_log_types(Some(old.difference(&new).cloned().collect()))
        .build()
}

/// pgstack never handles master passwords: RDS must manage the secret.
pub fn require_managed_password(desired: &Attrs) -> Result<()> {
    if get_bool(desired, "manage_master_user_password") == Some(false) {
        return Err(ProviderError::Invalid(
            "manage_master_user_password must be true: pgstack never handles master passwords; \
             RDS keeps the password in Secrets Manager (see master_user_secret_arn)"
                .into(),
        ));
    }
    Ok(())
}

/// The Performance Insights and Enhanced Monitoring settings of a DB
/// instance (`db_instance`, `db_cluster_instance`), each sent as the set AWS
/// checks together when the plan changes any of it, from `update.after`:
/// the key and retention only with Performance Insights on, the role only
/// with an interval above 0.
pub fn instance_insights_and_monitoring(
    mut req: ModifyDBInstanceFluentBuilder,
    update: &PlannedUpdate,
    sent: &mut BTreeSet<String>,
) -> Result<ModifyDBInstanceFluentBuilder> {
    let after = &update.after;
    let (insights, monitoring) = INSIGHTS_AND_MONITORING.split_at(3);
    if special(update, sent, insights) {
        let enabled = get_bool(after, insights[0]);
        req = req.set_enable_performance_insights(enabled);
        if enabled == Some(true) {
            req = req
                .set_performance_insights_kms_key_id(get_str(after, insights[1]).map(str::to_owned))
                .set_performance_insights_retention_period(to_i32(insights[2], get_i64(after, insights[2]))?);
        }
    }
    if special(update, sent, monitoring) {
        let interval = get_i64(after, monitoring[0]).unwrap_or(0);
        req = req.set_monitoring_interval(to_i32(monitoring[0], Some(interval))?);
        if interval > 0 {
            req = req.set_monitoring_role_arn(get_str(after, monitoring[1]).map(str::to_owned));
        }
    }
    Ok(req)
}

/// The instance settings [`instance_insights_and_monitoring`] sends: Performance Insights, then monitoring.
pub const INSIGHTS_AND_MONITORING: &[&str] = &[
    "performance_insights_enabled",
    "performance_insights_kms_key_id",
    "performance_insights_retention_period",
    "monitoring_interval",
    "monitoring_role_arn",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    /// A change shows once AWS reports the attribute other than the plan saw
    /// it: "17.2" for a planned "17", a held value read as made.
    #[test]
    fn a_change_shows_once_aws_no_longer_reports_the_value_before_it() {
        let before = attrs(&[("engine_version", Value::str("16.4")), ("port", Value::Int(5432))]);
        let update = PlannedUpdate {
            after: attrs(&[("engine_version", Value::str("17")), ("port", Value::Int(5433))]),
            before,
            changed: vec!["engine_version".into(), "port".into()],
        };
        let sent: BTreeSet<String> = ["engine_version".to_owned()].into();
        let seen = |v: &str| attrs(&[("engine_version", Value::str(v)), ("port", Value::Int(5432))]);
        assert!(not_shown(&update, &sent, &seen("17.2")).is_empty(), "17.2 is the change");
        assert_eq!(not_shown(&update, &sent, &seen("16.4")), ["engine_version"]);
    }

    /// Held log exports read as the set they make; note texts read as plan notes show values.
    #[test]
    fn held_logs_and_note_texts() {
        let now = ["postgresql".to_owned(), "upgrade".to_owned()];
        let change = PendingCloudwatchLogsExports::builder()
            .log_types_to_enable("iam-db-auth-error")
            .log_types_to_disable("upgrade")
            .build();
        assert_eq!(held_logs(&now, Some(&change)).string_list(), ["iam-db-auth-error", "postgresql"]);
        assert!(held_logs(&now, None).is_null());
        assert!(held_logs(&now, Some(&PendingCloudwatchLogsExports::builder().build())).is_null());
        assert_eq!(note_text(&Value::from(vec!["a".to_owned(), "b".to_owned()])), "a, b");
        assert_eq!(note_text(&Value::str("db.r6g.large")), "db.r6g.large");
        assert_eq!(note_text(&Value::Int(35)), "35");
    }
}
