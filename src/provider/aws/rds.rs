//! Helpers the RDS resource types share (subnet groups, parameter groups,
//! clusters, cluster instances, DB instances): tags, not-found codes, status
//! classification and waits, final snapshot names, and the diff suppressions
//! for values AWS changes on its own (engine minor versions, KMS key forms).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_rds::Client;
use aws_sdk_rds::types::{Filter, PendingModifiedValues, Tag};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{
    IAM_PROPAGATION_WAIT, Settling, api_error, error_code, get_bool, get_i64, get_str, send_settling, tag_changes,
};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, TAG_ADDRESS, TAG_STACK};
use crate::provider::waiter::{Backoff, Poll, wait_for};
use crate::provider::{Ctx, Intent, ProviderError, Refusal, Result};
use crate::value::{Attrs, Value};

/// How many ids one Describe `Filters` value list carries (RDS accepts up to 100).
pub const FILTER_CHUNK: usize = 100;

/// RDS tags from a string map.
pub fn rds_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// A string map from RDS tags (a tag without a key is skipped; a missing value is "").
pub fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect()
}

/// The tags of one RDS resource (ListTagsForResource).
pub async fn read_tags(client: &Client, arn: &str) -> Result<BTreeMap<String, String>> {
    let out = client
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| api_error("ListTagsForResource", e))?;
    Ok(tag_map(out.tag_list()))
}

/// Brings the tags of `arn` from `prior` to `desired`: RemoveTagsFromResource
/// for dropped keys, AddTagsToResource for new or changed ones; no call when
/// nothing changes.
pub async fn sync_tags(
    client: &Client,
    arn: &str,
    prior: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> Result<()> {
    let (set, remove) = tag_changes(prior, desired);
    if !remove.is_empty() {
        client
            .remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(remove))
            .send()
            .await
            .map_err(|e| api_error("RemoveTagsFromResource", e))?;
    }
    if !set.is_empty() {
        client
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(rds_tags(&set)))
            .send()
            .await
            .map_err(|e| api_error("AddTagsToResource", e))?;
    }
    Ok(())
}

/// True when `tags` are this stack's ownership tags for `addr` (RDS Describe
/// calls carry `TagList`, so ownership is checked without extra calls).
pub fn is_owned(tags: &[Tag], ctx: &Ctx, addr: &ResourceAddr) -> bool {
    owns(&tag_map(tags), ctx, addr)
}

/// True when the tag map holds this stack's ownership tags for `addr`.
pub fn owns(tags: &BTreeMap<String, String>, ctx: &Ctx, addr: &ResourceAddr) -> bool {
    tags.get(TAG_STACK) == Some(&ctx.stack) && tags.get(TAG_ADDRESS) == Some(&addr.to_string())
}

/// The DB instances with these identifiers (one paged call per 100 ids);
/// absent ones are left out. Serves `db_instance` and `db_cluster_instance`.
pub async fn describe_instances(client: &Client, ids: &[String]) -> Result<Vec<aws_sdk_rds::types::DbInstance>> {
    let mut out = Vec::new();
    for chunk in id_chunks(ids) {
        let page = client
            .describe_db_instances()
            .filters(filter("db-instance-id", &chunk))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await;
        match page {
            Ok(found) => out.extend(found),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(api_error("DescribeDBInstances", e)),
        }
    }
    Ok(out)
}

/// The identifier of the DB instance this stack created for `addr`: one paged
/// DescribeDBInstances of the region, matched on ownership tags. Serves
/// `db_instance` and `db_cluster_instance`, which are both DB instances to RDS.
pub async fn find_owned_instance(client: &Client, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
    let instances: Vec<aws_sdk_rds::types::DbInstance> = client
        .describe_db_instances()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("DescribeDBInstances", e))?;
    Ok(instances
        .iter()
        .filter(|i| is_owned(i.tag_list(), ctx, addr))
        .filter_map(|i| i.db_instance_identifier().map(str::to_owned))
        .min())
}

/// The objects of `found` by the id of `ids` that names them (AWS ids
/// compare without case); ids not found are left out.
pub fn by_id(ids: &[String], found: Vec<Attrs>) -> BTreeMap<String, Attrs> {
    ids.iter()
        .filter_map(|id| {
            let a = found.iter().find(|a| get_str(a, "id").is_some_and(|f| f.eq_ignore_ascii_case(id)))?;
            Some((id.clone(), a.clone()))
        })
        .collect()
}

/// AWS's rule for cluster, instance and snapshot identifiers: 1 to `max_len`
/// letters, digits or hyphens, starting with a letter, without `--` or a
/// trailing hyphen. `what` names the attribute in the error.
pub fn validate_identifier(what: &str, id: &str, max_len: usize) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= max_len
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !id.contains("--")
        && !id.ends_with('-');
    if ok {
        return Ok(());
    }
    Err(ProviderError::Invalid(format!(
        "{what} {id:?} must be 1 to {max_len} letters, digits or hyphens, start with a letter, \
         and neither end with a hyphen nor contain two in a row"
    )))
}

/// An integer attribute as the `i32` RDS takes; an error when out of range.
pub fn get_i32(attrs: &Attrs, name: &str) -> Result<Option<i32>> {
    to_i32(name, get_i64(attrs, name))
}

/// `value` of attribute `name` as an `i32`; an error when out of range.
pub fn to_i32(name: &str, value: Option<i64>) -> Result<Option<i32>> {
    value
        .map(|v| i32::try_from(v).map_err(|_| ProviderError::Invalid(format!("{name} = {v} is out of range"))))
        .transpose()
}

/// A string attribute, owned, for SDK builders' `set_*`.
pub fn get_string(attrs: &Attrs, name: &str) -> Option<String> {
    get_str(attrs, name).map(str::to_owned)
}

/// A set attribute as a sorted, deduplicated list; `None` when unset.
pub fn get_set(attrs: &Attrs, name: &str) -> Option<Vec<String>> {
    attrs.get(name).filter(|v| !v.is_null()).map(|v| sorted(v.string_list()))
}

/// `items` sorted and deduplicated: the canonical form of a set.
pub fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items.dedup();
    items
}

/// Canonical desired values for RDS: the named string attributes lowercased
/// (AWS stores identifiers, group names and windows in lowercase) and the
/// named sets sorted.
pub fn normalize(desired: &mut Attrs, lowercase: &[&str], sets: &[&str]) {
    for name in lowercase {
        if let Some(Value::Str(s)) = desired.get_mut(*name) {
            *s = s.to_lowercase();
        }
    }
    for name in sets {
        if let Some(items) = get_set(desired, name) {
            desired.insert((*name).to_owned(), Value::from(items));
        }
    }
}

/// A DB instance's pending modified values (Describe's `PendingModifiedValues`)
/// by Terraform attribute name, for the computed `pending_changes` map; a
/// pending password shows as "(changing)", never a value.
pub fn instance_pending_changes(p: Option<&PendingModifiedValues>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(p) = p else { return out };
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            out.insert(k.to_owned(), v);
        }
    };
    put("instance_class", p.db_instance_class().map(str::to_owned));
    put("allocated_storage", p.allocated_storage().map(|v| v.to_string()));
    put("port", p.port().map(|v| v.to_string()));
    put("backup_retention_period", p.backup_retention_period().map(|v| v.to_string()));
    put("multi_az", p.multi_az().map(|v| v.to_string()));
    put("engine_version", p.engine_version().map(str::to_owned));
    put("iops", p.iops().map(|v| v.to_string()));
    put("storage_throughput", p.storage_throughput().map(|v| v.to_string()));
    put("storage_type", p.storage_type().map(str::to_owned));
    put("ca_cert_identifier", p.ca_certificate_identifier().map(str::to_owned));
    put("db_subnet_group_name", p.db_subnet_group_name().map(str::to_owned));
    put("iam_database_authentication_enabled", p.iam_database_authentication_enabled().map(|v| v.to_string()));
    put("password", p.master_user_password().map(|_| "(changing)".to_owned()));
    if let Some(logs) = p.pending_cloudwatch_logs_exports() {
        let (on, off) = (logs.log_types_to_enable(), logs.log_types_to_disable());
        put(
            "enabled_cloudwatch_logs_exports",
            (!on.is_empty() || !off.is_empty()).then(|| format!("+{on:?} -{off:?}")),
        );
    }
    out
}

/// Plan notes for the computed `pending_changes` map (modifications AWS holds
/// for the next maintenance window, e.g. because `apply_immediately = false`).
pub fn pending_notes(current: &Attrs) -> Vec<String> {
    let Some(pending) = current.get("pending_changes").and_then(Value::as_map).filter(|m| !m.is_empty()) else {
        return Vec::new();
    };
    let list: Vec<String> = pending.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    vec![format!(
        "AWS holds changes for the next maintenance window: {}; set apply_immediately = true and apply to make them now",
        list.join(", ")
    )]
}

/// True when an RDS error says the object does not exist (any RDS object kind).
pub fn is_not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(
        error_code(err),
        Some(
            "DBClusterNotFoundFault"
                | "DBInstanceNotFound"
                | "DBSubnetGroupNotFoundFault"
                | "DBClusterParameterGroupNotFound"
                | "DBParameterGroupNotFound"
                | "DBClusterSnapshotNotFoundFault"
                | "DBSnapshotNotFound"
                | "DBProxyNotFoundFault"
                | "DBProxyTargetNotFoundFault"
                | "DBProxyTargetGroupNotFoundFault"
        )
    )
}

/// RDS refusing a monitoring role it cannot assume yet (IAM propagation).
/// RDS gives the same answer for a role without the monitoring policy,
/// which then fails after the wait.
pub const MONITORING_ROLE_NOT_READY: Settling = Settling::new(
    "InvalidParameterValue",
    "RDS could not assume the monitoring role yet (IAM propagation)",
    IAM_PROPAGATION_WAIT,
)
.with_message("ENHANCED_MONITORING");

/// RDS refusing a change because the cluster is busy with another one: a
/// modification, a backup, or an instance being added at the same moment
/// ("The database cluster has been modified by a concurrent operation",
/// terraform-provider-aws #50115: parallel CreateDBInstance into one
/// cluster). The refusal made nothing.
pub const CLUSTER_BUSY: &str = "InvalidDBClusterStateFault";
/// RDS refusing a change because the instance is busy with another one
/// ("Instance cannot currently reboot due to an in-progress management
/// operation"; a read replica's source not available yet). The refusal made nothing.
pub const INSTANCE_BUSY: &str = "InvalidDBInstanceState";

/// The refusals that pass for an RDS create or change ([`send_settling`]):
/// the monitoring role not usable yet ([`MONITORING_ROLE_NOT_READY`], up to
/// [`IAM_PROPAGATION_WAIT`]) and, with `busy_within` (the resource's
/// timeout), the cluster or the instance busy ([`CLUSTER_BUSY`],
/// [`INSTANCE_BUSY`]). A busy refusal that outlasts it (a state only the
/// user can change) fails with AWS's message.
pub fn passing(busy_within: Option<Duration>) -> Vec<Settling> {
    let mut out = vec![MONITORING_ROLE_NOT_READY];
    if let Some(within) = busy_within {
        out.push(Settling::new(CLUSTER_BUSY, "RDS said the cluster is busy with another change", within));
        out.push(Settling::new(INSTANCE_BUSY, "RDS said the instance is busy with another change", within));
    }
    out
}

/// RDS refusing to delete a DB (cluster) parameter group that a database
/// still uses: the database was deleted, or moved to another group,
/// moments ago and RDS has not let go yet. The refusal made nothing.
pub const PARAMETER_GROUP_IN_USE: &str = "InvalidDBParameterGroupState";
/// RDS refusing to delete a DB subnet group that a database still uses,
/// right after that database was deleted. The refusal made nothing.
pub const SUBNET_GROUP_IN_USE: &str = "InvalidDBSubnetGroupStateFault";
/// How long a group's delete is sent again while RDS says a database still
/// uses it: the database's own delete has been waited out, so what remains
/// is RDS letting go (seconds, rarely minutes).
pub const IN_USE_WAIT: Duration = Duration::from_secs(5 * 60);

/// Deletes a subnet or parameter group with `call`, sending it again while
/// RDS refuses with `in_use` ([`PARAMETER_GROUP_IN_USE`],
/// [`SUBNET_GROUP_IN_USE`]) for up to the resource's delete timeout, else
/// [`IN_USE_WAIT`], reported as "retrying OPERATION after a database still
/// uses the group"; a group already gone counts as deleted.
pub async fn delete_group<O, E, R, F, Fut>(
    ctx: &Ctx,
    operation: &'static str,
    in_use: &'static str,
    backoff: Backoff,
    call: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<O, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: super::RawResponse,
{
    let still_used = Settling::new(in_use, "a database still uses the group", ctx.timeout.unwrap_or(IN_USE_WAIT));
    match send_settling(ctx, operation, &[still_used], backoff, call).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(api_error(operation, e)),
    }
}

/// `parameter_apply_status` as a stack may declare it: `in-sync` asks apply
/// to reboot the instance when changes of its parameter group wait for a
/// reboot (the plan shows `"pending-reboot" -> "in-sync"`); unset, pending
/// reboots are only noted, as AWS leaves them.
pub const PARAMETER_APPLY_STATUS: Attr =
    Attr::optional("parameter_apply_status", AttrType::Str).one_of(&[IN_SYNC]).status();
const IN_SYNC: &str = "in-sync";

/// Only a pending reboot differs from `in-sync`: dynamic parameters being
/// applied (`applying`) reach it without one.
pub fn suppress_parameter_status(current: &Value, desired: &Value) -> bool {
    desired.as_str() == Some(IN_SYNC) && current.as_str() != Some("pending-reboot")
}

/// RebootDBInstance of `id` once it is available (sent again while RDS says
/// it is busy, up to the resource's timeout), then a wait (with `observe`,
/// the type's one look at the instance) until it is available with its
/// parameter group applied; returns what it read then. `what` names the
/// instance in progress lines. A cluster member's caller waits for its
/// cluster first.
pub async fn reboot_until_parameters_applied<F, Fut>(
    client: &Client,
    ctx: &Ctx,
    what: &str,
    id: &str,
    timeout: Duration,
    backoff: Backoff,
    mut observe: F,
) -> Result<Attrs>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<Observed<Attrs>>>>,
{
    wait_available(ctx, &format!("{what} to become available"), timeout, backoff, &mut observe).await?;
    send_settling(ctx, "RebootDBInstance", &passing(Some(ctx.timeout.unwrap_or(timeout))), backoff, || {
        client.reboot_db_instance().db_instance_identifier(id).send()
    })
    .await
    .map_err(|e| api_error("RebootDBInstance", e))?;
    let what = format!("{what} to reboot and apply its parameter group");
    wait_available(ctx, &what, timeout, backoff, || {
        let seen = observe();
        async move {
            Ok(seen.await?.map(|mut o| {
                if o.unsettled.is_none() && get_str(&o.value, "parameter_apply_status") == Some("pending-reboot") {
                    o.unsettled = Some("reboot pending".to_owned());
                }
                o
            }))
        }
    })
    .await
}

/// A Describe filter on `name` (e.g. `db-cluster-id`) with these values.
pub fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder().name(name).set_values(Some(values.to_vec())).build()
}

/// The distinct `ids` in chunks of at most [`FILTER_CHUNK`], one Describe call each.
pub fn id_chunks(ids: &[String]) -> Vec<Vec<String>> {
    let mut distinct = ids.to_vec();
    distinct.sort();
    distinct.dedup();
    distinct.chunks(FILTER_CHUNK).map(<[String]>::to_vec).collect()
}

/// What a DB cluster or instance status means for a wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Usable and not changing: `available`, and `storage-optimization`
    /// (the database is usable; AWS may optimize storage for hours after a
    /// storage change, so waiting for it would time out — Terraform also
    /// stops waiting there).
    Ready,
    /// AWS is working on it (`creating`, `modifying`, `backing-up`, ...).
    /// Unknown statuses count as transitional: AWS adds new ones.
    Transitional,
    /// It will not become available without the user's help.
    Failed,
}

/// Classifies an RDS cluster or instance status.
pub fn classify(status: &str) -> Status {
    match status {
        "available" | "storage-optimization" => Status::Ready,
        "failed" | "stopped" | "storage-full" | "restore-error" => Status::Failed,
        // incompatible-*, inaccessible-encryption-credentials(-recoverable): only the user can fix them.
        s if s.starts_with("incompatible-") || s.starts_with("inaccessible-encryption-credentials") => Status::Failed,
        // creating, modifying, backing-up, configuring-enhanced-monitoring,
        // configuring-iam-database-auth, configuring-log-exports, upgrading,
        // rebooting, resetting-master-credentials, renaming, maintenance,
        // starting, stopping, deleting, ...
        _ => Status::Transitional,
    }
}

/// One look at an object during a wait: `None` when it does not exist,
/// otherwise its status, what keeps it from being done although the status
/// may read `available` (`unsettled`: changes AWS is still applying, a
/// change just sent that it does not report yet), and what was read.
pub struct Observed<T> {
    pub status: String,
    pub unsettled: Option<String>,
    pub value: T,
}

/// "changes pending" when `settle` asks for nothing in flight and the
/// computed `pending_changes` map (values AWS holds) of `value` is not empty.
pub fn unsettled_by_pending(value: &Attrs, settle: bool) -> Option<String> {
    let pending = value.get("pending_changes").and_then(Value::as_map).is_some_and(|m| !m.is_empty());
    (settle && pending).then(|| "changes pending".to_owned())
}

/// One look at DB instance `id` for a wait, its attributes read with
/// `attrs`; with `settle`, pending modified values mean the change is still
/// being applied. Serves `db_instance` and `db_cluster_instance`.
pub async fn observe_instance(
    client: &Client,
    id: &str,
    settle: bool,
    attrs: fn(&aws_sdk_rds::types::DbInstance) -> Option<Attrs>,
) -> Result<Option<Observed<Attrs>>> {
    let found = describe_instances(client, &[id.to_owned()]).await?;
    let Some(db) = found.iter().find(|d| d.db_instance_identifier().is_some_and(|i| i.eq_ignore_ascii_case(id))) else {
        return Ok(None);
    };
    let Some(value) = attrs(db) else { return Ok(None) };
    let unsettled = unsettled_by_pending(&value, settle);
    Ok(Some(Observed { status: db.db_instance_status().unwrap_or("unknown").to_owned(), unsettled, value }))
}

/// Waits until `describe` sees the object `Ready` with nothing unsettled,
/// and returns what it read then. Fails at once on a `Failed` status or when
/// the object disappears; times out after `ctx.timeout` or `default_timeout`.
/// Progress lines read "waiting for {what} (status: STATUS)", with what is
/// unsettled after the status.
pub async fn wait_available<T, F, Fut>(
    ctx: &Ctx,
    what: &str,
    default_timeout: Duration,
    backoff: Backoff,
    mut describe: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<Observed<T>>>>,
{
    wait_for(ctx, what, default_timeout, backoff, || {
        let seen = describe();
        async move {
            let Some(o) = seen.await? else {
                return Err(ProviderError::NotFound(format!("{what}: the object disappeared while waiting")));
            };
            match (classify(&o.status), o.unsettled) {
                (Status::Ready, None) => Ok(Poll::Ready(o.value)),
                (Status::Ready, Some(why)) => Ok(Poll::Pending(format!("{}, {why}", o.status))),
                (Status::Transitional, _) => Ok(Poll::Pending(o.status)),
                (Status::Failed, _) => Err(ProviderError::Invalid(format!(
                    "{what}: AWS reports status {:?}; it needs attention",
                    o.status
                ))),
            }
        }
    })
    .await
}

/// How long an object may read `available`, with nothing pending, without
/// showing the change just sent, before pgstack stops waiting for it: AWS's
/// status lags a Modify call by seconds, and a change it will make shows
/// as made or as pending; one that shows neither after this long was not taken.
pub const CHANGE_SHOWS_WITHIN: Duration = Duration::from_secs(5 * 60);

/// After a Modify call: waits ([`wait_available`]) until `describe` shows
/// the change (`missing` answers which sent attributes it does not report
/// yet, as made or as pending) and the object is available and settled,
/// instead of trusting an `available` read right after the call. An object
/// that reads available and settled without the change for `shows_within`
/// ([`CHANGE_SHOWS_WITHIN`]) is an error naming what is missing.
pub async fn wait_change_shows<F, Fut, M>(
    ctx: &Ctx,
    what: &str,
    default_timeout: Duration,
    shows_within: Duration,
    backoff: Backoff,
    mut describe: F,
    missing: M,
) -> Result<Attrs>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<Observed<Attrs>>>>,
    M: Fn(&Attrs) -> Vec<String>,
{
    let sent = std::time::Instant::now();
    let missing = &missing;
    wait_available(ctx, what, default_timeout, backoff, || {
        let seen = describe();
        async move {
            let Some(mut o) = seen.await? else { return Ok(None) };
            let absent = missing(&o.value);
            if absent.is_empty() {
                return Ok(Some(o));
            }
            let names = absent.join(", ");
            if classify(&o.status) == Status::Ready && o.unsettled.is_none() && sent.elapsed() >= shows_within {
                return Err(ProviderError::Invalid(format!(
                    "gave up waiting for {what}: AWS took the change, but after {} it reads {} without the new \
                     {names} (neither made nor pending)",
                    humantime::format_duration(shows_within),
                    o.status
                )));
            }
            let why = format!("new {names} not reported yet");
            o.unsettled = Some(match o.unsettled {
                Some(other) => format!("{other}, {why}"),
                None => why,
            });
            Ok(Some(o))
        }
    })
    .await
}

/// Waits until `describe` no longer finds the object (it answers `None`);
/// `Some(status)` means it still exists.
pub async fn wait_gone<F, Fut>(
    ctx: &Ctx,
    what: &str,
    default_timeout: Duration,
    backoff: Backoff,
    mut describe: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<String>>>,
{
    wait_for(ctx, what, default_timeout, backoff, || {
        let seen = describe();
        async move { Ok(seen.await?.map_or(Poll::Ready(()), Poll::Pending)) }
    })
    .await
}

/// `<identifier>-final-<unix seconds>`: a final snapshot name that does not
/// collide with an earlier destroy of a database of the same name.
pub fn default_final_snapshot_identifier(identifier: &str, now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    format!("{identifier}-final-{secs}")
}

/// The final snapshot a delete of `identifier` must take: `None` when
/// `skip_final_snapshot = true`, else `final_snapshot_identifier` or the default name.
pub fn final_snapshot(prior: &Attrs, identifier: &str) -> Option<String> {
    if get_bool(prior, "skip_final_snapshot") == Some(true) {
        return None;
    }
    Some(
        get_str(prior, "final_snapshot_identifier")
            .map_or_else(|| default_final_snapshot_identifier(identifier, SystemTime::now()), str::to_owned),
    )
}

/// The numeric parts of a PostgreSQL engine version ("16.4" → [16, 4];
/// "11.22-rds.20240418" → [11, 22]); `None` when it does not start with a number.
pub fn version_parts(v: &str) -> Option<Vec<u64>> {
    let numeric = v.split(['-', '_']).next()?;
    let parts: Option<Vec<u64>> = numeric.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty())
}

/// True when AWS's `current` engine version satisfies the configured `desired` one,
/// so the difference is not a change to make:
/// - a major-only version ("16"; "9.6" before PostgreSQL 10) accepts any
///   minor of that major ("16.4", "16.6");
/// - a full version ("16.4") accepts a higher minor of the same major
///   ("16.6"), which is what AWS's automatic minor upgrades do; a lower
///   minor or another major is a real difference (and a major downgrade is
///   impossible anyway).
pub fn engine_version_satisfied(current: &str, desired: &str) -> bool {
    if current == desired {
        return true;
    }
    let (Some(cur), Some(want)) = (version_parts(current), version_parts(desired)) else {
        return false;
    };
    let major_len = if want[0] < 10 { 2 } else { 1 };
    if cur.len() < major_len || want.len() < major_len || cur[..major_len] != want[..major_len] {
        return false;
    }
    want.len() == major_len || cur > want
}

/// True when going from engine version `current` to `desired` is a
/// downgrade RDS refuses: `desired` sorts below `current` ("16.4" → "15.8",
/// "16.4" → "15") and does not satisfy it (a lower minor of the same major,
/// "16.6" → "16.4", is no change at all: see [`engine_version_satisfied`]).
/// Unparsable versions are left to AWS.
pub fn is_downgrade(current: &str, desired: &str) -> bool {
    match (version_parts(current), version_parts(desired)) {
        (Some(cur), Some(want)) => want < cur && !engine_version_satisfied(current, desired),
        _ => false,
    }
}

/// The refusal of a delete or replacement of a database (`what`: "instance",
/// "cluster") whose deletion protection is on in AWS: the delete would fail
/// after the plan's other changes were made.
pub fn deletion_protected(what: &str, current: &Attrs, intent: Intent<'_>) -> Option<Refusal> {
    if get_bool(current, "deletion_protection") != Some(true) {
        return None;
    }
    let refusal = match intent {
        Intent::Keep { .. } => return None,
        Intent::Delete { destroy: true } => Refusal::new("cannot be deleted: deletion_protection is on in AWS")
            .hint("set `deletion_protection = false` on it in the stack and apply first, then destroy"),
        Intent::Delete { destroy: false } => {
            Refusal::new("is no longer in the stack, but cannot be deleted: deletion_protection is on in AWS")
                .hint("to delete it: put it back with `deletion_protection = false`, apply, then remove it")
                .hint(format!("to keep the {what} but stop managing it: `pgstack state rm STACK ADDR`"))
        }
        Intent::Replace { .. } => Refusal::new(format!(
            "must be replaced (a new {what} created after this one is deleted), but deletion_protection is on in AWS"
        ))
        .hint("apply `deletion_protection = false` alone first, then the change that forces replacement")
        .hint("or undo the change marked `# forces replacement`"),
    };
    Some(refusal)
}

/// The refusal of an in-place engine version downgrade ([`is_downgrade`]);
/// a replacement creates a new database and may take any version.
pub fn downgrade(what: &str, current: &Attrs, intent: Intent<'_>) -> Option<Refusal> {
    let Intent::Keep { desired } = intent else { return None };
    let (cur, want) = (get_str(current, "engine_version")?, get_str(desired, "engine_version")?);
    is_downgrade(cur, want).then(|| {
        Refusal::new(format!(
            "asks for engine_version {want}, but the {what} runs {cur}, and RDS cannot downgrade an engine"
        ))
        .on("engine_version")
        .hint(format!("set `engine_version` to {cur} or later"))
        .hint(format!("to run an older version, restore a snapshot into a new {what}"))
    })
}

/// [`engine_version_satisfied`] over attribute values.
pub fn suppress_engine_version(current: &Value, desired: &Value) -> bool {
    match (current.as_str(), desired.as_str()) {
        (Some(c), Some(d)) => engine_version_satisfied(c, d),
        _ => false,
    }
}

/// True when going from engine version `current` to `desired` changes the
/// major version ("15.8" → "16.4", "9.6.20" → "10.1"), which RDS does only
/// with `AllowMajorVersionUpgrade`. An unknown or unparsable version counts
/// as a major change (the flag is harmless for a minor one).
pub fn is_major_upgrade(current: Option<&str>, desired: &str) -> bool {
    let major = |v: &str| {
        let parts = version_parts(v)?;
        let len = if parts[0] < 10 { 2 } else { 1 };
        Some(parts.into_iter().take(len).collect::<Vec<_>>())
    };
    match (current.and_then(major), major(desired)) {
        (Some(c), Some(d)) => c != d,
        _ => true,
    }
}

/// True when AWS's `current` KMS key (RDS always answers with the key ARN)
/// is the key `desired` names by id or ARN. Aliases cannot be resolved without
/// a call, so they are never taken as equal: configure the key's ARN.
pub fn same_kms_key(current: &Value, desired: &Value) -> bool {
    let key_id = |s: &str| s.rsplit_once(":key/").map_or(s, |(_, id)| id).to_owned();
    match (current.as_str(), desired.as_str()) {
        (Some(c), Some(d)) => c == d || (!d.contains("alias/") && key_id(c) == key_id(d)),
        _ => false,
    }
}

/// An RDS client answered by aws-smithy-mocks `rules`, for unit tests.
#[cfg(test)]
pub fn mock_rds(rules: &[&aws_smithy_mocks::Rule]) -> Client {
    super::mocked_client!(aws_sdk_rds, rules)
}

/// A context for unit tests whose progress reports are collected in the
/// returned list.
#[cfg(test)]
pub fn test_ctx() -> (Ctx, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::sync::{Arc, Mutex};
    let reports: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = reports.clone();
    let aws = Arc::new(super::AwsFactory::new(super::AwsOptions::default()));
    let ctx = Ctx::new(aws, "us-east-1", "t")
        .with_progress(crate::provider::Progress::new(move |what, _| sink.lock().unwrap().push(what.to_owned())));
    (ctx, reports)
}

/// A backoff fast enough for unit tests of waits.
#[cfg(test)]
pub const TEST_BACKOFF: Backoff =
    Backoff { first: Duration::from_millis(1), factor: 2.0, cap: Duration::from_millis(4) };

/// The operations a mocked client sent, in order (one entry per call, a
/// call sent again included), for tests that check what was sent when.
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub struct CallLog(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

#[cfg(test)]
impl CallLog {
    /// The operation names so far.
    pub fn calls(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[cfg(test)]
impl aws_smithy_runtime_api::client::interceptors::Intercept for CallLog {
    fn name(&self) -> &'static str {
        "test-call-log"
    }

    fn read_before_serialization(
        &self,
        _ctx: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        _rc: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> std::result::Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let name = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>().map(|m| m.name().to_owned());
        self.0.lock().unwrap().push(name.unwrap_or_default());
        Ok(())
    }
}

/// An RDS client answered by `rules` that logs the operations it sends.
#[cfg(test)]
pub fn mock_rds_logged(rules: &[&aws_smithy_mocks::Rule]) -> (Client, CallLog) {
    let log = CallLog::default();
    let conf = mock_rds(rules).config().to_builder().interceptor(log.clone());
    (Client::from_conf(conf.build()), log)
}

/// RDS's query-protocol error body for `code`, as AWS sends it, for mocked
/// answers that go through the SDK's own error parsing.
#[cfg(test)]
pub fn rds_fault(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
         <RequestId>r</RequestId></ErrorResponse>"
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn major_upgrades_are_told_apart_from_minor_ones() {
        assert!(is_major_upgrade(Some("16.4"), "17.2"));
        assert!(is_major_upgrade(Some("9.6.20"), "10.1"));
        assert!(is_major_upgrade(None, "16"), "unknown current version: allow it");
        assert!(!is_major_upgrade(Some("16.4"), "16.6"));
        assert!(!is_major_upgrade(Some("9.6.1"), "9.6.20"));
    }

    #[test]
    fn engine_versions() {
        for (cur, want) in [("16.4", "16"), ("16.6", "16.4"), ("16.4", "16.4"), ("9.6.20", "9.6"), ("9.6.22", "9.6.20")]
        {
            assert!(engine_version_satisfied(cur, want), "{cur} satisfies {want}");
        }
        for (cur, want) in
            [("16.2", "16.4"), ("17.1", "16"), ("15.8", "16"), ("9.5.1", "9.6"), ("16.4", "bad"), ("16", "16.4")]
        {
            assert!(!engine_version_satisfied(cur, want), "{cur} does not satisfy {want}");
        }
        assert!(engine_version_satisfied("11.22-rds.20240418", "11.21"));
        assert!(suppress_engine_version(&Value::str("16.4"), &Value::str("16")));
        assert!(!suppress_engine_version(&Value::Null, &Value::str("16")));
    }

    #[test]
    fn statuses() {
        assert_eq!(classify("available"), Status::Ready);
        for s in [
            "creating",
            "modifying",
            "backing-up",
            "configuring-enhanced-monitoring",
            "upgrading",
            "rebooting",
            "resetting-master-credentials",
            "renaming",
            "deleting",
            "something-new",
        ] {
            assert_eq!(classify(s), Status::Transitional, "{s}");
        }
        for s in [
            "failed",
            "incompatible-parameters",
            "incompatible-network",
            "inaccessible-encryption-credentials",
            "inaccessible-encryption-credentials-recoverable",
        ] {
            assert_eq!(classify(s), Status::Failed, "{s}");
        }
    }

    #[test]
    fn final_snapshot_names() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(default_final_snapshot_identifier("main", at), "main-final-1700000000");
        let mut a = Attrs::new();
        assert!(final_snapshot(&a, "main").is_some_and(|s| s.starts_with("main-final-")));
        a.insert("final_snapshot_identifier".into(), Value::str("keep-me"));
        assert_eq!(final_snapshot(&a, "main").as_deref(), Some("keep-me"));
        a.insert("skip_final_snapshot".into(), Value::Bool(true));
        assert_eq!(final_snapshot(&a, "main"), None);
    }

    #[test]
    fn kms_keys_compare_by_key_id() {
        let arn = Value::str("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab");
        assert!(same_kms_key(&arn, &Value::str("1234abcd-12ab")));
        assert!(same_kms_key(&arn, &arn.clone()));
        assert!(!same_kms_key(&arn, &Value::str("arn:aws:kms:us-east-1:123456789012:key/other")));
        assert!(!same_kms_key(&arn, &Value::str("alias/1234abcd-12ab")));
    }

    #[test]
    fn identifiers_follow_aws_rules() {
        assert!(validate_identifier("cluster_identifier", "main-db-1", 63).is_ok());
        for bad in ["", "1main", "main-", "ma--in", "main_db", &"a".repeat(64)] {
            assert!(validate_identifier("cluster_identifier", bad, 63).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn normalize_lowercases_and_sorts() {
        let mut a = Attrs::new();
        a.insert("id".into(), Value::str("Main"));
        a.insert("zones".into(), Value::from(vec!["b".to_string(), "a".into(), "b".into()]));
        a.insert("n".into(), Value::Int(1));
        normalize(&mut a, &["id", "n", "absent"], &["zones", "absent2"]);
        assert_eq!(a["id"], Value::str("main"));
        assert_eq!(a["zones"].string_list(), vec!["a", "b"]);
        assert_eq!(a["n"], Value::Int(1));
        assert!(!a.contains_key("absent2"));
    }

    #[test]
    fn integers_out_of_i32_range_are_errors() {
        let mut a = Attrs::new();
        a.insert("port".into(), Value::Int(5432));
        a.insert("big".into(), Value::Int(1 << 40));
        assert_eq!(get_i32(&a, "port").unwrap(), Some(5432));
        assert_eq!(get_i32(&a, "none").unwrap(), None);
        assert!(get_i32(&a, "big").is_err());
    }

    #[test]
    fn pending_changes_make_one_note() {
        let mut a = Attrs::new();
        assert!(pending_notes(&a).is_empty());
        let pending: BTreeMap<String, String> = [("instance_class".to_string(), "db.r6g.2xlarge".to_string())].into();
        a.insert("pending_changes".into(), Value::from(pending));
        let notes = pending_notes(&a);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("instance_class = \"db.r6g.2xlarge\""), "{notes:?}");
    }

    #[test]
    fn instance_pending_values_never_show_a_password() {
        assert!(instance_pending_changes(None).is_empty());
        let p =
            PendingModifiedValues::builder().db_instance_class("db.r6g.2xlarge").master_user_password("secret").build();
        let got = instance_pending_changes(Some(&p));
        assert_eq!(got.get("instance_class").map(String::as_str), Some("db.r6g.2xlarge"));
        assert_eq!(got.get("password").map(String::as_str), Some("(changing)"));
        assert!(!got.values().any(|v| v.contains("secret")));
    }

    #[test]
    fn ids_are_chunked_distinct() {
        let ids: Vec<String> = (0..250).chain(0..10).map(|i| format!("db{i:03}")).collect();
        let chunks = id_chunks(&ids);
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), vec![100, 100, 50]);
        assert!(id_chunks(&[]).is_empty());
    }

    #[test]
    fn tag_maps_round_trip() {
        let m: BTreeMap<String, String> = [("a".to_string(), "1".to_string()), ("b".into(), "".into())].into();
        assert_eq!(tag_map(&rds_tags(&m)), m);
    }

    #[tokio::test]
    async fn wait_available_reports_transitions_and_pending_changes() {
        let (ctx, reports) = test_ctx();
        let seen = Mutex::new(vec![("available", false), ("available", true), ("modifying", false)]);
        let v = wait_available(&ctx, "cluster c", Duration::from_secs(5), TEST_BACKOFF, || {
            let next = seen.lock().unwrap().pop();
            async move {
                Ok(next.map(|(s, settling)| Observed {
                    status: s.to_owned(),
                    unsettled: settling.then(|| "changes pending".to_owned()),
                    value: 42,
                }))
            }
        })
        .await
        .unwrap();
        assert_eq!(v, 42);
        let r = reports.lock().unwrap();
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r[0].contains("modifying") && r[1].contains("changes pending"), "{r:?}");
    }

    #[tokio::test]
    async fn wait_available_fails_on_failed_status_and_on_disappearance() {
        let (c, _) = test_ctx();
        let err = wait_available(&c, "x", Duration::from_secs(5), TEST_BACKOFF, || async {
            Ok(Some(Observed { status: "incompatible-parameters".into(), unsettled: None, value: () }))
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("incompatible-parameters"), "{err}");
        let err = wait_available::<(), _, _>(&c, "x", Duration::from_secs(5), TEST_BACKOFF, || async { Ok(None) })
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::NotFound(_)), "{err}");
    }

    fn seen(status: &str, port: i64) -> Option<Observed<Attrs>> {
        let value: Attrs = [("port".to_owned(), Value::Int(port))].into();
        Some(Observed { status: status.to_owned(), unsettled: None, value })
    }

    /// An `available` read right after a change is not trusted: the wait
    /// goes on until the new value shows, through whatever status follows.
    #[tokio::test]
    async fn a_change_is_waited_for_until_it_shows() {
        let (ctx, reports) = test_ctx();
        let looks = Mutex::new(vec![seen("available", 5433), seen("modifying", 5432), seen("available", 5432)]);
        let got = wait_change_shows(
            &ctx,
            "db_cluster c to become available",
            Duration::from_secs(5),
            Duration::from_secs(5),
            TEST_BACKOFF,
            || {
                let next = looks.lock().unwrap().pop().flatten();
                async move { Ok(next) }
            },
            |v: &Attrs| if v["port"] == Value::Int(5433) { Vec::new() } else { vec!["port".to_owned()] },
        )
        .await
        .unwrap();
        assert_eq!(got["port"], Value::Int(5433));
        assert_eq!(
            *reports.lock().unwrap(),
            [
                "waiting for db_cluster c to become available (status: available, new port not reported yet)",
                "waiting for db_cluster c to become available (status: modifying)",
            ]
        );
    }

    /// A change that neither shows nor is pending while the object reads
    /// available is an error once `shows_within` has passed, not a wait
    /// until the resource's timeout.
    #[tokio::test]
    async fn a_change_that_never_shows_is_an_error_naming_it() {
        let (ctx, _) = test_ctx();
        let err = wait_change_shows(
            &ctx,
            "db_instance i to become available",
            Duration::from_secs(60),
            Duration::from_millis(20),
            TEST_BACKOFF,
            || async { Ok(seen("available", 5432)) },
            |_: &Attrs| vec!["port".to_owned()],
        )
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("without the new port (neither made nor pending)"), "{text}");
        assert!(matches!(err, ProviderError::Invalid(_)), "{err:?}");
    }

    #[test]
    fn busy_refusals_pass_only_within_the_resource_s_timeout() {
        let codes = |p: Vec<Settling>| p.iter().map(|s| (s.code, s.within)).collect::<Vec<_>>();
        assert_eq!(codes(passing(None)), [("InvalidParameterValue", IAM_PROPAGATION_WAIT)]);
        let t = Duration::from_secs(42);
        assert_eq!(
            codes(passing(Some(t))),
            [
                ("InvalidParameterValue", IAM_PROPAGATION_WAIT),
                ("InvalidDBClusterStateFault", t),
                ("InvalidDBInstanceState", t)
            ]
        );
    }

    #[tokio::test]
    async fn wait_gone_polls_until_not_found() {
        let (ctx, reports) = test_ctx();
        let calls = Mutex::new(0);
        wait_gone(&ctx, "cluster c to be deleted", Duration::from_secs(5), TEST_BACKOFF, || {
            let n = {
                let mut c = calls.lock().unwrap();
                *c += 1;
                *c
            };
            async move { Ok((n < 3).then(|| "deleting".to_owned())) }
        })
        .await
        .unwrap();
        assert_eq!(*calls.lock().unwrap(), 3);
        assert_eq!(reports.lock().unwrap().len(), 2);
    }
}
