//! `db_cluster`: an Aurora PostgreSQL cluster.
//!
//! - Id: `cluster_identifier`, which AWS stores in lowercase (`normalize` lowercases it).
//! - Passwords: the master password is always managed by RDS in Secrets Manager
//!   (`manage_master_user_password = true`, the only mode); only the secret's ARN
//!   (`master_user_secret_arn`) is ever read or stored.
//! - Read: one paged DescribeDBClusters per 100 ids (filter `db-cluster-id`);
//!   tags come in its `TagList`, so a read costs no other call.
//! - find_created: one paged DescribeDBClusters of the region, matched on
//!   `TagList` ownership tags. Not the Resource Groups Tagging API: its index
//!   lags behind fresh tags, and adoption runs right after a crashed create.
//! - Writes wait (adaptive backoff, progress lines, 120 min default each) until
//!   the cluster is `available` — with `apply_immediately`, also until AWS has no
//!   pending modified values — or, on delete, gone. ModifyDBCluster is sent
//!   only to an `available` cluster (waited for first), again while RDS
//!   refuses it as busy (`InvalidDBClusterStateFault`, `InvalidDBInstanceState`,
//!   for the resource's timeout), and the wait after it lasts until the
//!   change shows (made, or held as a pending value): AWS's status lags the
//!   call by seconds, so an `available` read right after it proves nothing.
//! - Delete takes a final snapshot (`final_snapshot_identifier`, else
//!   `<id>-final-<unix seconds>`) unless `skip_final_snapshot = true`, and
//!   refuses clearly while `deletion_protection` is on; the plan refuses such
//!   a delete (or replacement) and in-place engine downgrades first (`refuse`).
//! - In place: engine_version (a new major sets AllowMajorVersionUpgrade), port,
//!   security groups, parameter group, storage_type (Aurora Standard `aurora` or
//!   I/O-Optimized `aurora-iopt1`; AWS allows a switch to I/O-Optimized once in
//!   30 days), backups, windows, IAM auth, log exports,
//!   copy_tags_to_snapshot, deletion_protection, turning on the managed password,
//!   tags. Everything else forces replacement, including
//!   `master_user_secret_kms_key_id`: AWS cannot change the key of a secret it
//!   already manages.
//! - No perpetual diffs: engine minor versions AWS moved to, AZs AWS added and
//!   key ids vs key ARNs are suppressed (see [`rds`]).
//! - Tested where: lifecycle (storage type included), drift, import,
//!   find_created, final snapshots and deletion protection against moto
//!   (tests/it/providers_aurora.rs); the wait sequence, timeouts, and ModifyDBCluster of log exports and IAM auth (moto
//!   ignores both) with aws-smithy-mocks below.
//! - Orphan scan (`list_owned`): the region's shared GetResources ([`super::owned`]).
//! - Plan-time checks (`check_planned`, [`super::rds_catalog`]): the engine
//!   version is one RDS offers, and an existing cluster parameter group named
//!   is of the version's family.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::operation::create_db_cluster::builders::CreateDBClusterFluentBuilder as C;
use aws_sdk_rds::operation::modify_db_cluster::builders::ModifyDBClusterFluentBuilder as M;
use aws_sdk_rds::types::DbCluster as AwsCluster;

use super::owned;
use super::rds::{
    self, CHANGE_SHOWS_WITHIN, Observed, final_snapshot, get_string, id_chunks, is_major_upgrade, is_not_found,
    is_owned, rds_tags, same_kms_key, sorted, suppress_engine_version, sync_tags, tag_map, validate_identifier,
    wait_available, wait_change_shows, wait_gone,
};
use super::rds_catalog::{self, Database, GroupKind};
use super::rds_fields::{
    self, Field, Held, field, held, held_logs, log_export_change, require_managed_password, special,
};
use super::{api_error, factory, get_bool, get_str, send_settling, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, NameRule, Ownership, Pricing, Schema};
use crate::provider::waiter::Backoff;
use crate::provider::{
    Ctx, Finding, Intent, Owned, PlannedChange, PlannedUpdate, ProviderError, ReadScope, Refusal, ResourceType, Result,
};
use crate::value::{Attrs, Value};

/// The only engine this type is for (Aurora MySQL is out of scope).
const ENGINE: &str = "aurora-postgresql";
/// Default wait for create, update and delete (Terraform's).
const TIMEOUT: Duration = Duration::from_secs(120 * 60);
/// The error a delete gives while deletion protection is on.
pub const DELETION_PROTECTED: &str = "deletion_protection is on; set deletion_protection = false and apply first";

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::computed("endpoint", AttrType::Str),
        Attr::computed("reader_endpoint", AttrType::Str),
        Attr::computed("cluster_resource_id", AttrType::Str),
        Attr::computed("master_user_secret_arn", AttrType::Str),
        // Modifications AWS holds for the maintenance window (shown as plan notes).
        Attr::computed("pending_changes", AttrType::Map(&AttrType::Str)),
        // Member instances whose cluster parameter group waits for a reboot.
        Attr::computed("members_pending_reboot", AttrType::Set(&AttrType::Str)),
        Attr::optional("cluster_identifier", AttrType::Str)
            .force_new()
            .pattern(Kind::RdsIdentifier)
            .default_name(NameRule::new(63, true, "")),
        Attr::optional("engine", AttrType::Str).force_new().default(Default::Str(ENGINE)).one_of(&[ENGINE]),
        Attr::optional("engine_version", AttrType::Str),
        Attr::optional("master_username", AttrType::Str)
            .force_new()
            .default(Default::Str("postgres"))
            .pattern(Kind::PgName),
        Attr::optional("manage_master_user_password", AttrType::Bool).default(Default::Bool(true)),
        Attr::optional("master_user_secret_kms_key_id", AttrType::Str).force_new(),
        Attr::optional("database_name", AttrType::Str).force_new().pattern(Kind::PgName),
        Attr::optional("port", AttrType::Int).default(Default::Int(5432)).range(1150, 65535),
        Attr::optional("db_subnet_group_name", AttrType::Str).force_new().pattern(Kind::DbSubnetGroupRef),
        Attr::optional("vpc_security_group_ids", AttrType::Set(&AttrType::Str)),
        Attr::optional("db_cluster_parameter_group_name", AttrType::Str).pattern(Kind::ParameterGroupRef),
        Attr::optional("storage_type", AttrType::Str).default(Default::Str(STANDARD_STORAGE)).one_of(&STORAGE_TYPES),
        Attr::optional("storage_encrypted", AttrType::Bool).force_new().default(Default::Bool(true)),
        Attr::optional("kms_key_id", AttrType::Str).force_new(),
        Attr::optional("backup_retention_period", AttrType::Int).default(Default::Int(35)).range(1, 35),
        Attr::optional("preferred_backup_window", AttrType::Str)
            .pattern(Kind::BackupWindow)
            .apart_from("preferred_maintenance_window"),
        Attr::optional("preferred_maintenance_window", AttrType::Str).pattern(Kind::MaintenanceWindow),
        Attr::optional("iam_database_authentication_enabled", AttrType::Bool).default(Default::Bool(true)),
        Attr::optional("enabled_cloudwatch_logs_exports", AttrType::Set(&AttrType::Str))
            .one_of(super::db_instance::LOG_EXPORTS),
        Attr::optional("copy_tags_to_snapshot", AttrType::Bool).default(Default::Bool(true)),
        Attr::optional("deletion_protection", AttrType::Bool).default(Default::Bool(true)),
        Attr::optional("skip_final_snapshot", AttrType::Bool).default(Default::Bool(false)).config_only(),
        Attr::optional("final_snapshot_identifier", AttrType::Str).config_only().pattern(Kind::RdsName),
        Attr::optional("apply_immediately", AttrType::Bool).default(Default::Bool(false)).config_only(),
        Attr::optional("availability_zones", AttrType::Set(&AttrType::Str)).force_new(),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: true,
    taggable: true,
    ownership: Ownership::indexed("rds:cluster", "cluster:"),
    pricing: Pricing::AuroraCluster,
};

/// Aurora Standard (I/O billed per request) and Aurora I/O-Optimized.
const STORAGE_TYPES: [&str; 2] = [STANDARD_STORAGE, "aurora-iopt1"];
/// What AWS uses when no storage type is given (and what clusters created
/// before I/O-Optimized existed describe without a `StorageType`).
const STANDARD_STORAGE: &str = "aurora";

/// String attributes AWS stores in lowercase.
const LOWERCASE: &[&str] = &[
    "cluster_identifier",
    "engine",
    "db_subnet_group_name",
    "db_cluster_parameter_group_name",
    "preferred_maintenance_window",
    "final_snapshot_identifier",
];
const SETS: &[&str] = &["vpc_security_group_ids", "enabled_cloudwatch_logs_exports", "availability_zones"];

/// The `db_cluster` resource type.
pub struct DbCluster;

/// How DescribeDBClusters reads each attribute, and the CreateDBCluster and
/// ModifyDBCluster setters that take it ([`rds_fields`]).
#[rustfmt::skip]
static FIELDS: &[Field<AwsCluster, C, M>] = &[
    field!("id", |c| c.db_cluster_identifier().into()),
    field!("cluster_identifier", |c| c.db_cluster_identifier().into()),
    field!("arn", |c| c.db_cluster_arn().into()),
    field!("endpoint", |c| c.endpoint().into()),
    field!("reader_endpoint", |c| c.reader_endpoint().into()),
    field!("cluster_resource_id", |c| c.db_cluster_resource_id().into()),
    field!("master_user_secret_arn", |c| c.master_user_secret().and_then(|s| s.secret_arn()).into()),
    field!("master_user_secret_kms_key_id", |c| c.master_user_secret().and_then(|s| s.kms_key_id()).into(), Str, set_master_user_secret_kms_key_id, _),
    field!("manage_master_user_password", |c| Value::Bool(c.master_user_secret().is_some())),
    field!("members_pending_reboot", |c| Value::from(sorted(members_pending_reboot(c)))),
    field!("engine", |c| c.engine().into(), Str, set_engine, _),
    field!("engine_version", |c| c.engine_version().into(), Str, set_engine_version),
    field!("master_username", |c| c.master_username().into(), Str, set_master_username, _),
    field!("database_name", |c| c.database_name().into(), Str, set_database_name, _),
    field!("port", |c| c.port().into(), Int, set_port),
    field!("db_subnet_group_name", |c| c.db_subnet_group().into(), Str, set_db_subnet_group_name, _),
    field!("vpc_security_group_ids", |c| rds_fields::sg_ids(c.vpc_security_groups()), Strs, set_vpc_security_group_ids),
    field!("db_cluster_parameter_group_name", |c| c.db_cluster_parameter_group().into(), Str, set_db_cluster_parameter_group_name),
    field!("storage_type", |c| Value::str(c.storage_type().unwrap_or(STANDARD_STORAGE)), Str, set_storage_type),
    field!("storage_encrypted", |c| Value::Bool(c.storage_encrypted().unwrap_or(false)), Bool, set_storage_encrypted, _),
    field!("kms_key_id", |c| c.kms_key_id().into(), Str, set_kms_key_id, _),
    field!("backup_retention_period", |c| c.backup_retention_period().into(), Int, set_backup_retention_period),
    field!("preferred_backup_window", |c| c.preferred_backup_window().into(), Str, set_preferred_backup_window),
    field!("preferred_maintenance_window", |c| c.preferred_maintenance_window().map(str::to_lowercase).into(), Str, set_preferred_maintenance_window),
    field!("iam_database_authentication_enabled", |c| Value::Bool(c.iam_database_authentication_enabled().unwrap_or(false)), Bool, set_enable_iam_database_authentication),
    field!("enabled_cloudwatch_logs_exports", |c| Value::from(sorted(c.enabled_cloudwatch_logs_exports().to_vec())), Strs, set_enable_cloudwatch_logs_exports, _),
    field!("copy_tags_to_snapshot", |c| Value::Bool(c.copy_tags_to_snapshot().unwrap_or(false)), Bool, set_copy_tags_to_snapshot),
    field!("deletion_protection", |c| Value::Bool(c.deletion_protection().unwrap_or(false)), Bool, set_deletion_protection),
    field!("availability_zones", |c| Value::from(sorted(c.availability_zones().to_vec())), Strs, set_availability_zones, _),
    field!("tags", |c| Value::from(tag_map(c.tag_list()))),
];

/// The values AWS holds for the maintenance window.
static HELD: &[Held<AwsCluster>] = &[
    held!("engine_version", engine_version),
    held!("backup_retention_period", backup_retention_period),
    held!("iam_database_authentication_enabled", iam_database_authentication_enabled),
    held!("storage_type", storage_type),
    ("enabled_cloudwatch_logs_exports", |c| {
        let held = c.pending_modified_values().and_then(|p| p.pending_cloudwatch_logs_exports());
        held_logs(c.enabled_cloudwatch_logs_exports(), held)
    }),
];

/// The member instances (lowercase ids) whose cluster parameter group waits for a reboot.
pub(super) fn members_pending_reboot(c: &AwsCluster) -> Vec<String> {
    c.db_cluster_members()
        .iter()
        .filter(|m| m.db_cluster_parameter_group_status() == Some("pending-reboot"))
        .filter_map(|m| m.db_instance_identifier().map(str::to_lowercase))
        .collect()
}

/// Canonical attributes of a cluster as AWS describes it ([`FIELDS`]),
/// held changes read as made and listed in `pending_changes`; `None`
/// without an identifier.
fn cluster_attrs(c: &AwsCluster) -> Option<Attrs> {
    let (mut a, mut pending) = rds_fields::read(FIELDS, HELD, c);
    if c.pending_modified_values().and_then(|p| p.master_user_password()).is_some() {
        pending.insert("master_user_password".into(), "(rotating)".into());
    }
    a.insert("pending_changes".into(), Value::from(pending));
    a.contains_key("id").then_some(a)
}

/// The clusters with these identifiers (one paged call per 100 ids); absent ones are left out.
pub(super) async fn describe(client: &Client, ids: &[String]) -> Result<Vec<AwsCluster>> {
    let mut out = Vec::new();
    for chunk in id_chunks(ids) {
        let page: Vec<AwsCluster> = client
            .describe_db_clusters()
            .filters(rds::filter("db-cluster-id", &chunk))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| api_error("DescribeDBClusters", e))?;
        out.extend(page);
    }
    Ok(out)
}

/// One look at cluster `id` for a wait. With `settle`, pending modified values
/// mean the change is still being applied.
async fn observe(client: &Client, id: &str, settle: bool) -> Result<Option<Observed<Attrs>>> {
    let clusters = describe(client, &[id.to_owned()]).await?;
    let Some(c) = clusters.iter().find(|c| c.db_cluster_identifier().is_some_and(|i| i.eq_ignore_ascii_case(id)))
    else {
        return Ok(None);
    };
    let Some(value) = cluster_attrs(c) else { return Ok(None) };
    let unsettled = rds::unsettled_by_pending(&value, settle);
    Ok(Some(Observed { status: c.status().unwrap_or("unknown").to_owned(), unsettled, value }))
}

/// Waits until cluster `id` is available (and settled, with `settle`); returns its attributes.
async fn wait_ready(client: &Client, ctx: &Ctx, id: &str, settle: bool, backoff: Backoff) -> Result<Attrs> {
    wait_available(ctx, &available(id), TIMEOUT, backoff, || observe(client, id, settle)).await
}

/// What a wait for cluster `id` to become available says it waits for.
fn available(id: &str) -> String {
    format!("db_cluster {id} to become available")
}

/// Waits until cluster `id` is available, before a change to one of its
/// members is sent (the instance's own timeout, else the cluster's default).
pub(super) async fn wait_until_available(client: &Client, ctx: &Ctx, id: &str, backoff: Backoff) -> Result<()> {
    wait_ready(client, ctx, id, false, backoff).await.map(drop)
}

/// The validated, lowercase identifier in `desired`.
fn identifier(desired: &Attrs) -> Result<String> {
    let id = get_str(desired, "cluster_identifier").unwrap_or_default().to_lowercase();
    validate_identifier("cluster_identifier", &id, 63)?;
    Ok(id)
}

async fn create_with(client: &Client, ctx: &Ctx, desired: &Attrs, backoff: Backoff) -> Result<Attrs> {
    let id = identifier(desired)?;
    require_managed_password(desired)?;
    let req = client.create_db_cluster().db_cluster_identifier(&id).manage_master_user_password(true);
    rds_fields::create(FIELDS, req, desired)?
        .set_tags(Some(rds_tags(&tags_of(desired))))
        .send()
        .await
        .map_err(|e| api_error("CreateDBCluster", e))?;
    wait_ready(client, ctx, &id, false, backoff).await
}

/// Carries out the plan's `update`: tags first, then one ModifyDBCluster
/// with the settings it changes (none when only tags or config-only values
/// change), sent once the cluster is available and again while RDS says it
/// is busy, then a wait until the cluster shows the change and is available
/// again. A new major engine version comes with AllowMajorVersionUpgrade.
async fn update_with(client: &Client, ctx: &Ctx, id: &str, update: &PlannedUpdate, backoff: Backoff) -> Result<Attrs> {
    let (before, after) = (&update.before, &update.after);
    require_managed_password(after)?;
    let tags = tags_of(after);
    if update.changes("tags") {
        let arn =
            get_str(before, "arn").ok_or_else(|| ProviderError::Invalid(format!("db_cluster {id} has no arn")))?;
        sync_tags(client, arn, &tags_of(before), &tags).await?;
    }

    let apply_immediately = get_bool(after, "apply_immediately") == Some(true);
    let req = client.modify_db_cluster().db_cluster_identifier(id).apply_immediately(apply_immediately);
    let (mut req, mut sent) = rds_fields::modify(FIELDS, req, update)?;
    if let Some(v) = update.to("engine_version").and_then(Value::as_str) {
        req =
            req.set_allow_major_version_upgrade(is_major_upgrade(get_str(before, "engine_version"), v).then_some(true));
    }
    if special(update, &mut sent, &["manage_master_user_password"]) {
        req = req
            .manage_master_user_password(true)
            .set_master_user_secret_kms_key_id(get_string(after, "master_user_secret_kms_key_id"));
    }
    if special(update, &mut sent, &["enabled_cloudwatch_logs_exports"]) {
        req = req.cloudwatch_logs_export_configuration(log_export_change(update));
    }
    if sent.is_empty() {
        let mut attrs = before.clone();
        attrs.insert("tags".into(), Value::from(tags));
        return Ok(attrs);
    }
    wait_ready(client, ctx, id, false, backoff).await?;
    let busy_within = ctx.timeout.unwrap_or(TIMEOUT);
    send_settling(ctx, "ModifyDBCluster", &rds::passing(Some(busy_within)), backoff, || req.clone().send())
        .await
        .map_err(|e| api_error("ModifyDBCluster", e))?;
    let missing = |seen: &Attrs| rds_fields::not_shown(update, &sent, seen);
    let observe = || observe(client, id, apply_immediately);
    wait_change_shows(ctx, &available(id), TIMEOUT, CHANGE_SHOWS_WITHIN, backoff, observe, missing).await
}

async fn delete_with(client: &Client, ctx: &Ctx, id: &str, prior: &Attrs, backoff: Backoff) -> Result<()> {
    if get_bool(prior, "deletion_protection") == Some(true) {
        return Err(ProviderError::Invalid(DELETION_PROTECTED.into()));
    }
    let snapshot = final_snapshot(prior, id);
    if let Some(name) = &snapshot {
        validate_identifier("final_snapshot_identifier", name, 255)?;
    }
    let req = client.delete_db_cluster().db_cluster_identifier(id);
    let req = match &snapshot {
        Some(name) => req.skip_final_snapshot(false).final_db_snapshot_identifier(name),
        None => req.skip_final_snapshot(true),
    };
    match req.send().await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => {
            return Err(match api_error("DeleteDBCluster", e) {
                ProviderError::Api { message, .. } if message.to_lowercase().contains("deletion protection") => {
                    ProviderError::Invalid(DELETION_PROTECTED.into())
                }
                other => other,
            });
        }
    }
    let what = match &snapshot {
        Some(name) => format!("db_cluster {id} to be deleted (final snapshot {name})"),
        None => format!("db_cluster {id} to be deleted (no final snapshot)"),
    };
    wait_gone(ctx, &what, TIMEOUT, backoff, || async { Ok(observe(client, id, false).await?.map(|o| o.status)) }).await
}

#[async_trait]
impl ResourceType for DbCluster {
    fn type_name(&self) -> &'static str {
        "db_cluster"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// Lowercase identifiers, group names and maintenance window (as AWS
    /// stores them); sorted sets.
    fn normalize(&self, desired: &mut Attrs) {
        rds::normalize(desired, LOWERCASE, SETS);
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], _scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        let client = factory(ctx)?.rds(&ctx.region).await;
        let found: Vec<Attrs> = describe(&client, ids).await?.iter().filter_map(cluster_attrs).collect();
        Ok(rds::by_id(ids, found))
    }

    /// Engine versions AWS moved to within the configured one, AZs AWS added
    /// to the configured ones, and KMS key ids vs ARNs are no change.
    fn suppress_diff(&self, attr: &str, current: &Value, desired: &Value) -> bool {
        match attr {
            "engine_version" => suppress_engine_version(current, desired),
            "kms_key_id" | "master_user_secret_kms_key_id" => same_kms_key(current, desired),
            "availability_zones" => match (current.as_list(), desired.as_list()) {
                (Some(cur), Some(want)) => want.iter().all(|z| cur.contains(z)),
                _ => false,
            },
            _ => false,
        }
    }

    /// Refused: deleting or replacing while deletion protection is on, and
    /// downgrading the engine.
    fn refuse(&self, current: &Attrs, intent: Intent<'_>) -> Vec<Refusal> {
        [rds::deletion_protected("cluster", current, intent), rds::downgrade("cluster", current, intent)]
            .into_iter()
            .flatten()
            .collect()
    }

    fn notes(&self, current: &Attrs) -> Vec<String> {
        let mut notes = rds::pending_notes(current);
        let waiting = current.get("members_pending_reboot").map(Value::string_list).unwrap_or_default();
        if !waiting.is_empty() {
            notes.push(format!(
                "cluster parameter changes wait for a reboot of {}: reboot them (aws rds reboot-db-instance) to apply",
                waiting.join(", ")
            ));
        }
        notes
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        create_with(&factory(ctx)?.rds(&ctx.region).await, ctx, desired, Backoff::default()).await
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        update_with(&factory(ctx)?.rds(&ctx.region).await, ctx, id, update, Backoff::default()).await
    }

    async fn delete(&self, ctx: &Ctx, id: &str, prior: &Attrs) -> Result<()> {
        delete_with(&factory(ctx)?.rds(&ctx.region).await, ctx, id, prior, Backoff::default()).await
    }

    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        let client = factory(ctx)?.rds(&ctx.region).await;
        let clusters: Vec<AwsCluster> = client
            .describe_db_clusters()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| api_error("DescribeDBClusters", e))?;
        Ok(clusters
            .iter()
            .filter(|c| is_owned(c.tag_list(), ctx, addr))
            .filter_map(|c| c.db_cluster_identifier().map(str::to_owned))
            .min())
    }

    /// From the region's shared tagging index ([`owned::indexed`]).
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        owned::indexed(ctx, self.type_name(), known).await
    }

    /// The engine version is one RDS offers, and an existing cluster
    /// parameter group named is of its family ([`rds_catalog`]).
    async fn check_planned(&self, ctx: &Ctx, planned: &[PlannedChange<'_>]) -> Result<Vec<Finding>> {
        rds_catalog::check_databases(ctx, &factory(ctx)?.rds(&ctx.region).await, planned, &CATALOG).await
    }
}

/// Where the plan-time checks find a cluster's engine and parameter group.
pub(super) const CATALOG: Database = Database {
    engine: ENGINE,
    class: None,
    group: ("db_cluster_parameter_group_name", GroupKind::Cluster),
    version_of_cluster: false,
};

#[cfg(test)]
mod tests {
    use aws_sdk_rds::operation::add_tags_to_resource::AddTagsToResourceOutput;
    use aws_sdk_rds::operation::create_db_cluster::CreateDbClusterOutput;
    use aws_sdk_rds::operation::delete_db_cluster::DeleteDbClusterOutput;
    use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
    use aws_sdk_rds::operation::modify_db_cluster::ModifyDbClusterOutput;
    use aws_sdk_rds::types::{ClusterPendingModifiedValues, MasterUserSecret, Tag};
    use aws_smithy_mocks::{Rule, mock};

    use super::*;
    use crate::provider::aws::rds::{TEST_BACKOFF, mock_rds, mock_rds_logged, rds_fault, test_ctx};
    use crate::provider::diff::diff_with;

    const ARN: &str = "arn:aws:rds:us-east-1:123456789012:cluster:main";
    const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-1";

    /// Cluster `main` as AWS would describe it in `status`, with `logs` exported.
    fn aws(status: &str, iam: bool, logs: &[&str]) -> AwsCluster {
        AwsCluster::builder()
            .db_cluster_identifier("main")
            .db_cluster_arn(ARN)
            .status(status)
            .engine(ENGINE)
            .engine_version("16.4")
            .master_username("postgres")
            .master_user_secret(MasterUserSecret::builder().secret_arn(SECRET).build())
            .port(5432)
            .storage_encrypted(true)
            .backup_retention_period(35)
            .iam_database_authentication_enabled(iam)
            .set_enabled_cloudwatch_logs_exports(Some(logs.iter().map(|s| s.to_string()).collect()))
            .copy_tags_to_snapshot(true)
            .deletion_protection(true)
            .tag_list(Tag::builder().key("team").value("db").build())
            .build()
    }

    /// DescribeDBClusters answering with each of `clusters` in turn (`None`: no cluster).
    fn describes(clusters: Vec<Option<AwsCluster>>) -> Rule {
        let mut seq = mock!(Client::describe_db_clusters).sequence();
        for c in clusters {
            seq = seq.output(move || {
                DescribeDbClustersOutput::builder().set_db_clusters(Some(c.clone().into_iter().collect())).build()
            });
        }
        seq.build()
    }

    fn desired(pairs: &[(&str, Value)]) -> Attrs {
        let mut a: Attrs =
            SCHEMA.attrs.iter().filter_map(|at| Some((at.name.to_owned(), at.default?.value()))).collect();
        a.insert("cluster_identifier".into(), Value::str("Main"));
        a.insert("engine_version".into(), Value::str("16"));
        a.insert("tags".into(), Value::from(BTreeMap::from([("team".to_string(), "db".to_string())])));
        a.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())));
        DbCluster.normalize(&mut a);
        a
    }

    /// The update a plan makes from `prior` to `want`.
    fn planned(prior: &Attrs, want: &Attrs) -> PlannedUpdate {
        DbCluster.planned_update(prior, want, &[])
    }

    /// Every attribute the plan may change in place is sent: by the table,
    /// or by `update_with` itself (tags, the managed password, log exports).
    #[test]
    fn every_in_place_change_is_sent() {
        let special = ["tags", "manage_master_user_password", "enabled_cloudwatch_logs_exports"];
        assert_eq!(rds_fields::unsent(&SCHEMA, FIELDS, &special), Vec::<&str>::new());
    }

    fn strs(items: &[&str]) -> Value {
        Value::from(items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    /// Creation polls through `creating` and `backing-up` (one Describe and
    /// one progress line each) and returns the attributes of the available cluster.
    #[tokio::test]
    async fn create_waits_until_available_and_reports_progress() {
        let create = mock!(Client::create_db_cluster)
            .match_requests(|r| {
                r.db_cluster_identifier() == Some("main")
                    && r.manage_master_user_password() == Some(true)
                    && r.master_user_password().is_none()
                    && r.engine_version() == Some("16")
                    && r.backup_retention_period() == Some(35)
                    && r.storage_type() == Some("aurora")
                    && r.deletion_protection() == Some(true)
                    && r.tags().iter().any(|t| t.key() == Some("team"))
            })
            .then_output(|| CreateDbClusterOutput::builder().db_cluster(aws("creating", true, &[])).build());
        let describe = describes(vec![
            Some(aws("creating", true, &[])),
            Some(aws("backing-up", true, &[])),
            Some(aws("available", true, &[])),
        ]);
        let client = mock_rds(&[&create, &describe]);
        let (ctx, reports) = test_ctx();
        let got = create_with(&client, &ctx, &desired(&[]), TEST_BACKOFF).await.expect("create");
        assert_eq!((create.num_calls(), describe.num_calls()), (1, 3));
        let reports = reports.lock().unwrap().clone();
        assert_eq!(reports.len(), 2, "{reports:?}");
        assert!(reports[0].contains("db_cluster main") && reports[0].contains("creating"), "{reports:?}");
        assert!(reports[1].contains("backing-up"), "{reports:?}");
        assert_eq!(got["id"], Value::str("main"));
        assert_eq!(got["master_user_secret_arn"], Value::str(SECRET));
        let config_only: Vec<String> =
            SCHEMA.attrs.iter().filter(|a| a.config_only).map(|a| a.name.to_owned()).collect();
        let changes =
            diff_with(&SCHEMA, &got, &desired(&[]), &config_only, &|n, c, d| DbCluster.suppress_diff(n, c, d));
        assert!(changes.is_empty(), "a create reads back clean: {changes:?}");
    }

    #[tokio::test]
    async fn a_wait_gives_up_after_the_resource_timeout() {
        let create = mock!(Client::create_db_cluster)
            .then_output(|| CreateDbClusterOutput::builder().db_cluster(aws("creating", true, &[])).build());
        let describe = mock!(Client::describe_db_clusters)
            .then_output(|| DescribeDbClustersOutput::builder().db_clusters(aws("creating", true, &[])).build());
        let client = mock_rds(&[&create, &describe]);
        let (ctx, _) = test_ctx();
        let ctx = ctx.with_timeout(Some(Duration::from_millis(30)));
        let err = create_with(&client, &ctx, &desired(&[]), TEST_BACKOFF).await.unwrap_err();
        assert!(matches!(&err, ProviderError::Timeout { what, .. } if what.contains("creating")), "{err}");
        assert!(describe.num_calls() >= 2);
    }

    #[tokio::test]
    async fn a_failed_status_ends_the_wait_with_an_error() {
        let create = mock!(Client::create_db_cluster)
            .then_output(|| CreateDbClusterOutput::builder().db_cluster(aws("creating", true, &[])).build());
        let describe = describes(vec![Some(aws("incompatible-parameters", true, &[]))]);
        let client = mock_rds(&[&create, &describe]);
        let err = create_with(&client, &test_ctx().0, &desired(&[]), TEST_BACKOFF).await.unwrap_err();
        assert!(err.to_string().contains("incompatible-parameters"), "{err}");
    }

    /// Log exports and IAM auth (which moto ignores on ModifyDBCluster) go out
    /// as one ModifyDBCluster with only the changed settings; with
    /// `apply_immediately` the wait lasts until AWS has no pending values.
    #[tokio::test]
    async fn modify_log_exports_and_iam_auth_in_place() {
        let modify = mock!(Client::modify_db_cluster)
            .match_requests(|r| {
                let logs = r.cloudwatch_logs_export_configuration();
                r.db_cluster_identifier() == Some("main")
                    && r.apply_immediately() == Some(true)
                    && r.enable_iam_database_authentication() == Some(true)
                    && logs.is_some_and(|l| {
                        l.enable_log_types() == ["iam-db-auth-error"] && l.disable_log_types() == ["upgrade"]
                    })
                    && r.backup_retention_period().is_none()
                    && r.engine_version().is_none()
                    && r.port().is_none()
            })
            .then_output(|| {
                ModifyDbClusterOutput::builder().db_cluster(aws("available", false, &["postgresql", "upgrade"])).build()
            });
        let pending = ClusterPendingModifiedValues::builder().iam_database_authentication_enabled(true).build();
        let mut settling = aws("available", false, &["postgresql", "upgrade"]);
        settling.pending_modified_values = Some(pending);
        let describe = describes(vec![
            Some(aws("available", false, &["postgresql", "upgrade"])),
            Some(aws("modifying", false, &["postgresql", "upgrade"])),
            Some(settling),
            Some(aws("available", true, &["iam-db-auth-error", "postgresql"])),
        ]);
        let client = mock_rds(&[&modify, &describe]);
        let (ctx, reports) = test_ctx();
        let prior = cluster_attrs(&aws("available", false, &["postgresql", "upgrade"])).unwrap();
        let want = desired(&[
            ("enabled_cloudwatch_logs_exports", strs(&["postgresql", "iam-db-auth-error"])),
            ("apply_immediately", Value::Bool(true)),
        ]);
        let got = update_with(&client, &ctx, "main", &planned(&prior, &want), TEST_BACKOFF).await.expect("update");
        assert_eq!((modify.num_calls(), describe.num_calls()), (1, 4));
        assert_eq!(got["iam_database_authentication_enabled"], Value::Bool(true));
        assert_eq!(got["enabled_cloudwatch_logs_exports"], strs(&["iam-db-auth-error", "postgresql"]));
        assert!(reports.lock().unwrap()[1].contains("changes pending"), "{:?}", reports.lock().unwrap());
    }

    #[tokio::test]
    async fn tag_and_config_only_changes_make_no_modify_call() {
        let add = mock!(Client::add_tags_to_resource)
            .match_requests(|r| r.resource_name() == Some(ARN) && r.tags().iter().any(|t| t.value() == Some("data")))
            .then_output(|| AddTagsToResourceOutput::builder().build());
        let modify = mock!(Client::modify_db_cluster).then_output(|| ModifyDbClusterOutput::builder().build());
        let client = mock_rds(&[&add, &modify]);
        let prior = cluster_attrs(&aws("available", true, &[])).unwrap();
        let mut want = desired(&[("skip_final_snapshot", Value::Bool(true))]);
        want.insert("tags".into(), Value::from(BTreeMap::from([("team".to_string(), "data".to_string())])));
        let got =
            update_with(&client, &test_ctx().0, "main", &planned(&prior, &want), TEST_BACKOFF).await.expect("update");
        assert_eq!((add.num_calls(), modify.num_calls()), (1, 0));
        assert_eq!(got["tags"], want["tags"]);
    }

    #[tokio::test]
    async fn a_new_major_version_allows_the_major_upgrade() {
        let modify = mock!(Client::modify_db_cluster)
            .match_requests(|r| r.engine_version() == Some("17.2") && r.allow_major_version_upgrade() == Some(true))
            .then_output(|| ModifyDbClusterOutput::builder().build());
        let mut upgraded = aws("available", true, &[]);
        upgraded.engine_version = Some("17.2".into());
        let describe = describes(vec![Some(aws("available", true, &[])), Some(upgraded)]);
        let client = mock_rds(&[&modify, &describe]);
        let prior = cluster_attrs(&aws("available", true, &[])).unwrap();
        update_with(
            &client,
            &test_ctx().0,
            "main",
            &planned(&prior, &desired(&[("engine_version", Value::str("17.2"))])),
            TEST_BACKOFF,
        )
        .await
        .expect("update");
        assert_eq!((modify.num_calls(), describe.num_calls()), (1, 2));
    }

    /// `aws` with `backup_retention_period` days of backups.
    fn keeping(status: &str, days: i32) -> Option<AwsCluster> {
        let mut c = aws(status, true, &[]);
        c.backup_retention_period = Some(days);
        Some(c)
    }

    /// Nothing is sent to a busy cluster: the update waits while it backs up,
    /// sends ModifyDBCluster once it is available, sends it again when RDS
    /// still refuses it as busy, and does not trust the `available` AWS reads
    /// right after the call: it waits until the new value shows.
    #[tokio::test]
    async fn a_busy_cluster_is_waited_for_and_the_change_until_it_shows() {
        let modify = mock!(Client::modify_db_cluster)
            .match_requests(|r| r.backup_retention_period() == Some(7) && r.apply_immediately() == Some(true))
            .sequence()
            .http_status(400, Some(rds_fault(rds::CLUSTER_BUSY, "Db Cluster is not available for modification")))
            .output(|| ModifyDbClusterOutput::builder().build())
            .build();
        let describe = describes(vec![
            keeping("backing-up", 35),
            keeping("available", 35),
            keeping("available", 35),
            keeping("modifying", 35),
            keeping("available", 7),
        ]);
        let (client, log) = mock_rds_logged(&[&modify, &describe]);
        let (ctx, reports) = test_ctx();
        let prior = cluster_attrs(&aws("available", true, &[])).unwrap();
        let want = desired(&[("backup_retention_period", Value::Int(7)), ("apply_immediately", Value::Bool(true))]);
        let got = update_with(&client, &ctx, "main", &planned(&prior, &want), TEST_BACKOFF).await.expect("update");
        assert_eq!(got["backup_retention_period"], Value::Int(7));
        let (d, m) = ("DescribeDBClusters", "ModifyDBCluster");
        assert_eq!(log.calls(), [d, d, m, m, d, d, d]);
        assert_eq!(
            *reports.lock().unwrap(),
            [
                "waiting for db_cluster main to become available (status: backing-up)",
                "retrying ModifyDBCluster after RDS said the cluster is busy with another change",
                "waiting for db_cluster main to become available (status: available, new backup_retention_period \
                 not reported yet)",
                "waiting for db_cluster main to become available (status: modifying)",
            ]
        );
    }

    #[tokio::test]
    async fn delete_takes_a_final_snapshot_and_waits_until_gone() {
        let delete = mock!(Client::delete_db_cluster)
            .match_requests(|r| {
                r.skip_final_snapshot() == Some(false)
                    && r.final_db_snapshot_identifier().is_some_and(|s| s.starts_with("main-final-"))
            })
            .then_output(|| DeleteDbClusterOutput::builder().build());
        let describe = describes(vec![Some(aws("deleting", true, &[])), None]);
        let client = mock_rds(&[&delete, &describe]);
        let (ctx, reports) = test_ctx();
        let mut prior = cluster_attrs(&aws("available", true, &[])).unwrap();
        prior.insert("deletion_protection".into(), Value::Bool(false));
        delete_with(&client, &ctx, "main", &prior, TEST_BACKOFF).await.expect("delete");
        assert_eq!((delete.num_calls(), describe.num_calls()), (1, 2));
        assert!(reports.lock().unwrap()[0].contains("final snapshot main-final-"), "{:?}", reports.lock().unwrap());
    }

    #[tokio::test]
    async fn delete_refuses_while_deletion_protection_is_on() {
        let delete = mock!(Client::delete_db_cluster).then_output(|| DeleteDbClusterOutput::builder().build());
        let client = mock_rds(&[&delete]);
        let prior = cluster_attrs(&aws("available", true, &[])).unwrap();
        let err = delete_with(&client, &test_ctx().0, "main", &prior, TEST_BACKOFF).await.unwrap_err();
        assert_eq!(err.to_string(), DELETION_PROTECTED);
        assert_eq!(delete.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_password_mode_other_than_managed_is_refused() {
        let client = mock_rds(&[]);
        let err = create_with(
            &client,
            &test_ctx().0,
            &desired(&[("manage_master_user_password", Value::Bool(false))]),
            TEST_BACKOFF,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("manage_master_user_password must be true"), "{err}");
    }

    #[test]
    fn aws_made_differences_are_suppressed() {
        let s = |attr: &str, cur: Value, want: Value| DbCluster.suppress_diff(attr, &cur, &want);
        assert!(s(
            "availability_zones",
            strs(&["us-east-1a", "us-east-1b", "us-east-1c"]),
            strs(&["us-east-1a", "us-east-1b"])
        ));
        assert!(!s("availability_zones", strs(&["us-east-1a", "us-east-1b"]), strs(&["us-east-1a", "us-east-1d"])));
        assert!(s("engine_version", Value::str("16.6"), Value::str("16")));
        assert!(!s("engine_version", Value::str("15.8"), Value::str("16")));
        assert!(s("kms_key_id", Value::str("arn:aws:kms:us-east-1:1:key/abc"), Value::str("abc")));
        assert!(!s("port", Value::Int(5433), Value::Int(5432)));
    }

    #[test]
    fn normalize_gives_what_aws_stores() {
        let a = desired(&[
            ("preferred_maintenance_window", Value::str("Sun:05:00-Sun:06:00")),
            ("vpc_security_group_ids", strs(&["sg-b", "sg-a"])),
        ]);
        assert_eq!(a["cluster_identifier"], Value::str("main"));
        assert_eq!(a["preferred_maintenance_window"], Value::str("sun:05:00-sun:06:00"));
        assert_eq!(a["vpc_security_group_ids"], strs(&["sg-a", "sg-b"]));
    }

    #[test]
    fn held_changes_read_as_made() {
        let pending = ClusterPendingModifiedValues::builder()
            .backup_retention_period(14)
            .pending_cloudwatch_logs_exports(
                aws_sdk_rds::types::PendingCloudwatchLogsExports::builder().log_types_to_enable("postgresql").build(),
            )
            .build();
        let c = AwsCluster::builder()
            .db_cluster_identifier("main")
            .backup_retention_period(35)
            .pending_modified_values(pending)
            .build();
        let a = cluster_attrs(&c).unwrap();
        assert_eq!(a["backup_retention_period"], Value::Int(14));
        assert_eq!(a["enabled_cloudwatch_logs_exports"], Value::from(vec!["postgresql".to_owned()]));
        assert_eq!(a["pending_changes"].as_map().map(|m| m.len()), Some(2));
    }

    #[test]
    fn notes_tell_about_pending_changes_and_reboots() {
        let mut current = cluster_attrs(&aws("available", true, &[])).unwrap();
        assert!(DbCluster.notes(&current).is_empty());
        current.insert("members_pending_reboot".into(), strs(&["main-1"]));
        current.insert(
            "pending_changes".into(),
            Value::from(BTreeMap::from([("engine_version".to_string(), "16.6".to_string())])),
        );
        let notes = DbCluster.notes(&current);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[1].contains("reboot") && notes[1].contains("main-1"), "{notes:?}");
    }

    #[test]
    fn deleting_a_protected_cluster_and_downgrading_it_are_refused() {
        let current: Attrs = [("deletion_protection", Value::Bool(true)), ("engine_version", Value::str("16.4"))]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let reasons = |intent| DbCluster.refuse(&current, intent).into_iter().map(|r| r.reason).collect::<Vec<_>>();
        assert_eq!(reasons(Intent::Delete { destroy: true }), ["cannot be deleted: deletion_protection is on in AWS"]);
        let older: Attrs = [("engine_version".to_owned(), Value::str("15.8"))].into_iter().collect();
        assert_eq!(
            reasons(Intent::Keep { desired: &older }),
            ["asks for engine_version 15.8, but the cluster runs 16.4, and RDS cannot downgrade an engine"]
        );
        let got = reasons(Intent::Replace { desired: &older, create_first: false });
        assert_eq!(got.len(), 1, "only the protection: {got:?}");
        assert!(got[0].starts_with("must be replaced (a new cluster"), "{got:?}");
    }
}
