//! `db_instance`: an RDS for PostgreSQL instance (Multi-AZ primary or read
//! replica, in the same region as its source or another one).
//!
//! - Id: `identifier`, which AWS stores in lowercase (`normalize` lowercases it).
//! - Passwords: a primary's master password is always managed by RDS in
//!   Secrets Manager (`manage_master_user_password = true`, the only mode);
//!   only the secret's ARN (`master_user_secret_arn`) is read or stored.
//! - Read: one paged DescribeDBInstances per 100 ids (filter `db-instance-id`).
//!   Its answer carries the tags (`TagList`), the parameter group's apply
//!   status and the pending modified values, so a read costs no other call
//!   whatever the scope.
//! - Pending modifications (`apply_immediately = false`): AWS holds them for
//!   the maintenance window. Read reports the pending value as the attribute's
//!   value (so a second plan after apply is empty) and lists it in the computed
//!   `pending_changes`, which the plan shows as a note; setting
//!   `apply_immediately = true` then applies them at once.
//! - Parameter changes waiting for a reboot are a plan note, or, with
//!   `parameter_apply_status = "in-sync"` in config, a planned change that
//!   apply carries out with RebootDBInstance (docs/cli.md).
//! - Storage: `allocated_storage` is a floor. Storage autoscaling
//!   (`max_allocated_storage`) grows it and RDS can never shrink storage, so a
//!   larger size in AWS is no difference; raising the configured size grows the
//!   storage. `max_allocated_storage = 0` means autoscaling off; then a
//!   configured size below AWS's is refused at plan (`refuse`), as are
//!   in-place engine downgrades and deletes while deletion protection is on. gp3 below
//!   400 GiB has a fixed 3000 IOPS / 125 MiBps baseline: `iops` and
//!   `storage_throughput` may then only be left unset (not managed) or set to
//!   the baseline, which is not sent.
//! - Read replicas (`replicate_source_db`): CreateDBInstanceReadReplica, then
//!   one ModifyDBInstance (applied immediately) for what that call cannot set
//!   (backup retention and windows). A source in the same region is named by
//!   identifier (or ARN, sent as identifier); a source in another region by
//!   its ARN, with `kms_key_id` a key of the replica's region. aws-sdk-rust has
//!   no `SourceRegion` input and never generates `PreSignedUrl`; AWS ignores
//!   that parameter outside GovCloud and China (see its API reference), where
//!   pgstack refuses cross-region replicas with a clear error instead. A
//!   replica's credentials, database name and encryption come from its source:
//!   `normalize` drops the schema defaults of `username`,
//!   `manage_master_user_password` and `storage_encrypted` for replicas, and
//!   create refuses those (and `db_name`, `master_user_secret_kms_key_id`) when
//!   configured otherwise.
//! - Waits (adaptive backoff, progress lines; Terraform's defaults: create
//!   40 min, update 80 min, delete 60 min, overridden by the resource's
//!   timeouts) until the instance is `available` — with `apply_immediately`,
//!   also until AWS holds no pending values — or, on delete, gone.
//!   ModifyDBInstance and RebootDBInstance are sent only to an `available`
//!   instance (waited for first) and again while RDS refuses them as busy
//!   (`InvalidDBInstanceState`, for the resource's timeout), as is
//!   CreateDBInstanceReadReplica while the source is busy; after a modify the
//!   wait lasts until the change shows (made, or held as a pending value),
//!   not just until `available` (AWS's status lags the call).
//! - Delete takes a final snapshot (`final_snapshot_identifier`, else
//!   `<id>-final-<unix seconds>`) unless `skip_final_snapshot = true` or the
//!   instance is a read replica (AWS refuses one there), keeps automated
//!   backups, and refuses clearly while `deletion_protection` is on.
//! - In place: everything but identifier, engine, username, db_name, subnet
//!   group, storage_encrypted, kms_key_id and replicate_source_db. Turning off
//!   the managed password and changing the key of a managed secret are refused
//!   (AWS cannot do either without a password pgstack never handles).
//! - find_created: one paged DescribeDBInstances of the region, matched on
//!   `TagList` ownership tags (the tagging API's index lags behind fresh tags).
//! - Tested where: lifecycle, drift, import, find_created, same-region replicas,
//!   final snapshots and deletion protection against moto
//!   (tests/it/providers_rds.rs); cross-region replica requests, wait
//!   sequences, deletion waits and pending modifications with aws-smithy-mocks
//!   below (moto answers `available` at once, keeps no pending values, and its
//!   cross-region replicas are broken).
//! - Orphan scan (`list_owned`): the region's shared GetResources ([`super::owned`]);
//!   an instance is told from a cluster instance by its `pgstack:address` tag.
//! - Plan-time checks (`check_planned`, [`super::rds_catalog`]): the engine
//!   version is offered, the class is offered for it, an existing parameter
//!   group named is of its family.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::operation::create_db_instance::builders::CreateDBInstanceFluentBuilder as C;
use aws_sdk_rds::operation::create_db_instance_read_replica::builders::CreateDBInstanceReadReplicaFluentBuilder as RC;
use aws_sdk_rds::operation::modify_db_instance::builders::ModifyDBInstanceFluentBuilder as M;
use aws_sdk_rds::types::DbInstance as AwsInstance;

use super::owned;
use super::rds::{
    self, CHANGE_SHOWS_WITHIN, Observed, final_snapshot, get_i32, get_string, is_major_upgrade, is_not_found, rds_tags,
    same_kms_key, suppress_engine_version, sync_tags, tag_map, validate_identifier, wait_available, wait_change_shows,
    wait_gone,
};
use super::rds_catalog::{self, Database, GroupKind};
use super::rds_fields::{self, Field, Held, Set, field, held, held_logs, note_text, special};
use super::{api_error, factory, get_bool, get_i64, get_str, send_settling, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, NameRule, Ownership, Pricing, Schema};
use crate::provider::waiter::Backoff;
use crate::provider::{
    Ctx, Finding, Intent, Owned, PlannedChange, PlannedUpdate, ProviderError, ReadScope, Refusal, ResourceType, Result,
};
use crate::value::{Attrs, Value};

const CREATE_TIMEOUT: Duration = Duration::from_secs(40 * 60);
const UPDATE_TIMEOUT: Duration = Duration::from_secs(80 * 60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// gp3 volumes below this size (GiB) have a fixed performance baseline.
const GP3_BASELINE_BELOW_GIB: i64 = 400;
const GP3_BASELINE_IOPS: i64 = 3000;
const GP3_BASELINE_THROUGHPUT: i64 = 125;

/// Log types RDS and Aurora PostgreSQL export to CloudWatch.
pub const LOG_EXPORTS: &[&str] = &["iam-db-auth-error", "instance", "postgresql", "upgrade"];
/// Enhanced Monitoring intervals in seconds (0 turns it off).
pub const MONITORING_INTERVALS: &[i64] = &[0, 1, 5, 10, 15, 30, 60];

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        // `address:port`, as Terraform's `endpoint`.
        Attr::computed("endpoint", AttrType::Str),
        Attr::computed("address", AttrType::Str),
        Attr::computed("dbi_resource_id", AttrType::Str),
        Attr::computed("master_user_secret_arn", AttrType::Str),
        // `in-sync`, `applying` or `pending-reboot` (shown as a plan note).
        rds::PARAMETER_APPLY_STATUS,
        // Modifications AWS holds for the maintenance window (shown as plan notes).
        Attr::computed("pending_changes", AttrType::Map(&AttrType::Str)),
        Attr::optional("identifier", AttrType::Str)
            .force_new()
            .pattern(Kind::RdsIdentifier)
            .default_name(NameRule::new(63, true, "")),
        Attr::optional("engine", AttrType::Str).force_new().default(Default::Str("postgres")).one_of(&["postgres"]),
        Attr::optional("engine_version", AttrType::Str),
        Attr::required("instance_class", AttrType::Str).pattern(Kind::InstanceClass),
        Attr::optional("allocated_storage", AttrType::Int).range(5, 65536),
        Attr::optional("max_allocated_storage", AttrType::Int).range(5, 65536),
        Attr::optional("storage_type", AttrType::Str)
            .default(Default::Str("gp3"))
            .one_of(&["gp2", "gp3", "io1", "io2", "standard"]),
        Attr::optional("iops", AttrType::Int).range(1000, 256000),
        Attr::optional("storage_throughput", AttrType::Int).range(125, 4000),
        Attr::optional("multi_az", AttrType::Bool).default(Default::Bool(true)),
        Attr::optional("username", AttrType::Str).force_new().default(Default::Str("postgres")).pattern(Kind::PgName),
        Attr::optional("manage_master_user_password", AttrType::Bool).default(Default::Bool(true)),
        Attr::optional("master_user_secret_kms_key_id", AttrType::Str),
        Attr::optional("db_name", AttrType::Str).force_new().pattern(Kind::PgName),
        Attr::optional("port", AttrType::Int).default(Default::Int(5432)).range(1150, 65535),
        Attr::optional("db_subnet_group_name", AttrType::Str).force_new().pattern(Kind::DbSubnetGroupRef),
        Attr::optional("vpc_security_group_ids", AttrType::Set(&AttrType::Str)),
        Attr::optional("parameter_group_name", AttrType::Str).pattern(Kind::ParameterGroupRef),
        // The certificate authority of the server certificate (AWS's default when unset).
        Attr::optional("ca_cert_identifier", AttrType::Str),
        Attr::optional("storage_encrypted", AttrType::Bool).force_new().default(Default::Bool(true)),
        Attr::optional("kms_key_id", AttrType::Str).force_new(),
        Attr::optional("backup_retention_period", AttrType::Int).default(Default::Int(35)).range(0, 35),
        Attr::optional("backup_window", AttrType::Str).pattern(Kind::BackupWindow).apart_from("maintenance_window"),
        Attr::optional("maintenance_window", AttrType::Str).pattern(Kind::MaintenanceWindow),
        Attr::optional("iam_database_authentication_enabled", AttrType::Bool).default(Default::Bool(true)),
        Attr::optional("enabled_cloudwatch_logs_exports", AttrType::Set(&AttrType::Str)).one_of(LOG_EXPORTS),
        Attr::optional("performance_insights_enabled", AttrType::Bool),
        Attr::optional("performance_insights_kms_key_id", AttrType::Str),
        Attr::optional("performance_insights_retention_period", AttrType::Int)
            .pattern(Kind::PerformanceInsightsRetention),
        Attr::optional("monitoring_interval", AttrType::Int).int_one_of(MONITORING_INTERVALS),
        Attr::optional("monitoring_role_arn", AttrType::Str).pattern(Kind::Arn),
        Attr::optional("auto_minor_version_upgrade", AttrType::Bool).default(Default::Bool(true)),
        Attr::optional("publicly_accessible", AttrType::Bool).default(Default::Bool(false)),
        Attr::optional("copy_tags_to_snapshot", AttrType::Bool).default(Default::Bool(true)),
        Attr::optional("deletion_protection", AttrType::Bool).default(Default::Bool(true)),
        Attr::optional("skip_final_snapshot", AttrType::Bool).default(Default::Bool(false)).config_only(),
        Attr::optional("final_snapshot_identifier", AttrType::Str).config_only().pattern(Kind::RdsName),
        Attr::optional("apply_immediately", AttrType::Bool).default(Default::Bool(false)).config_only(),
        Attr::optional("replicate_source_db", AttrType::Str).force_new(),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: true,
    taggable: true,
    ownership: Ownership::indexed("rds:db", "db:"),
    pricing: Pricing::RdsInstance,
};

/// String attributes AWS stores in lowercase.
const LOWERCASE: &[&str] = &[
    "identifier",
    "engine",
    "storage_type",
    "db_subnet_group_name",
    "parameter_group_name",
    "maintenance_window",
    "final_snapshot_identifier",
    "replicate_source_db",
];
const SETS: &[&str] = &["vpc_security_group_ids", "enabled_cloudwatch_logs_exports"];

/// Attributes a read replica takes from its source; their schema defaults do
/// not apply to replicas.
const INHERITED_BY_REPLICAS: &[&str] = &["username", "manage_master_user_password", "storage_encrypted"];
/// Attributes a read replica cannot have (beyond [`INHERITED_BY_REPLICAS`]).
const NOT_FOR_REPLICAS: &[&str] = &["db_name", "master_user_secret_kms_key_id"];
/// KMS key attributes: keys are regional, so an ARN must name the instance's region.
const KMS_KEYS: &[&str] = &["kms_key_id", "master_user_secret_kms_key_id", "performance_insights_kms_key_id"];

/// The `db_instance` resource type.
pub struct DbInstance;

/// The refusal of a configured `allocated_storage` below what the instance
/// has: RDS never shrinks storage. Storage autoscaling explains a larger
/// size (the configured one is then a floor, and `suppress_diff` shows no
/// change) only while it is on in AWS (`max_allocated_storage` > 0) and
/// stays on; with autoscaling off, or turned off by this change, nothing
/// grew it but a change outside pgstack or a lowered config, and the plan
/// says so instead of silently showing no change. A replacement creates a
/// new volume of any size.
fn storage_shrink(current: &Attrs, intent: Intent<'_>) -> Option<Refusal> {
    let Intent::Keep { desired } = intent else { return None };
    let (have, want) = (get_i64(current, "allocated_storage")?, get_i64(desired, "allocated_storage")?);
    if have <= want {
        return None;
    }
    let autoscaling_now = get_i64(current, "max_allocated_storage").is_some_and(|m| m > 0);
    let autoscaling_after = match desired.get("max_allocated_storage") {
        None => autoscaling_now,
        Some(v) if v.contains_unknown() => return None,
        Some(v) => v.as_i64().is_some_and(|m| m > 0),
    };
    if autoscaling_now && autoscaling_after {
        return None;
    }
    Some(
        Refusal::new(format!(
            "asks for allocated_storage = {want} GiB, but the instance has {have} GiB, and RDS cannot shrink storage"
        ))
        .on("allocated_storage")
        .hint(format!("set `allocated_storage = {have}` (or more)")),
    )
}

fn is_replica(attrs: &Attrs) -> bool {
    get_str(attrs, "replicate_source_db").is_some_and(|s| !s.is_empty())
}

/// Where a read replica's source lives, seen from the replica's region.
#[derive(Debug, PartialEq)]
enum Source {
    /// Same region: the source's identifier.
    Local(String),
    /// Another region: the source's ARN.
    Remote(String),
}

/// The parts of an ARN: (partition, service, region, resource).
fn arn_parts(arn: &str) -> Option<(&str, &str, &str, &str)> {
    let mut p = arn.splitn(6, ':');
    (p.next()? == "arn").then_some(())?;
    let (partition, service, region, _account, resource) = (p.next()?, p.next()?, p.next()?, p.next()?, p.next()?);
    Some((partition, service, region, resource))
}

/// Reads `replicate_source_db` for a replica in `region`.
fn replica_source(value: &str, region: &str) -> Result<Source> {
    if !value.starts_with("arn:") {
        return Ok(Source::Local(value.to_owned()));
    }
    let parsed = arn_parts(value).and_then(|(partition, service, source_region, resource)| {
        let id = resource.strip_prefix("db:").filter(|id| !id.is_empty() && service == "rds")?;
        Some((partition, source_region, id))
    });
    let Some((partition, source_region, id)) = parsed else {
        return Err(ProviderError::Invalid(format!(
            "replicate_source_db {value:?} is neither an instance identifier nor a DB instance ARN \
             (arn:aws:rds:REGION:ACCOUNT:db:IDENTIFIER)"
        )));
    };
    if source_region == region {
        return Ok(Source::Local(id.to_owned()));
    }
    if partition != "aws" {
        return Err(ProviderError::Invalid(format!(
            "replicate_source_db {value:?}: cross-region replicas in the {partition} partition need a presigned \
             request, which pgstack does not generate; create the replica in {source_region}"
        )));
    }
    Ok(Source::Remote(value.to_owned()))
}

/// The identifier a `replicate_source_db` value names (the last part of an ARN).
fn source_identifier(value: &str) -> &str {
    value.rsplit_once(":db:").map_or(value, |(_, id)| id)
}

/// Key ARNs must be keys of `region` (KMS keys do not cross regions).
fn check_key_regions(desired: &Attrs, region: &str) -> Result<()> {
    for name in KMS_KEYS {
        if let Some(key) = get_str(desired, name)
            && let Some((_, _, key_region, _)) = arn_parts(key)
            && key_region != region
        {
            return Err(ProviderError::Invalid(format!(
                "{name} {key:?} is a key of {key_region}, but this instance is in {region}: \
                 KMS keys do not cross regions; use a key (or replica key) of {region}"
            )));
        }
    }
    Ok(())
}

/// A replica's configuration may not set what comes from its source.
fn check_replica(desired: &Attrs, region: &str) -> Result<Source> {
    let value = get_str(desired, "replicate_source_db").unwrap_or_default();
    for name in INHERITED_BY_REPLICAS.iter().chain(NOT_FOR_REPLICAS) {
        if desired.get(*name).is_some_and(|v| !v.is_null()) {
            return Err(ProviderError::Invalid(format!(
                "{name} cannot be set on a read replica: it comes from the source instance {value:?}"
            )));
        }
    }
    let source = replica_source(value, region)?;
    if matches!(source, Source::Remote(_)) && get_str(desired, "kms_key_id").is_none() {
        return Err(ProviderError::Invalid(format!(
            "a cross-region read replica needs kms_key_id: a KMS key of {region} to encrypt the replica with"
        )));
    }
    Ok(source)
}

/// pgstack never handles master passwords: RDS must manage a primary's secret.
fn require_managed_password(desired: &Attrs) -> Result<()> {
    if is_replica(desired) { Ok(()) } else { rds_fields::require_managed_password(desired) }
}

/// Whether `storage_type` takes a provisioned `iops` or `storage_throughput` (gp3 below the
/// baseline size takes only the baseline).
fn takes(storage_type: &str, setting: &str) -> bool {
    match storage_type {
        "gp3" => true,
        "io1" | "io2" => setting == "iops",
        _ => false,
    }
}

/// The `iops` and `storage_throughput` to send for the configured storage,
/// after checking they fit the storage type; gp3 baseline values are not sent.
fn provisioned_performance(desired: &Attrs) -> Result<(Option<i32>, Option<i32>)> {
    let (iops, throughput) = (get_i32(desired, "iops")?, get_i32(desired, "storage_throughput")?);
    let size = get_i64(desired, "allocated_storage");
    match get_str(desired, "storage_type").unwrap_or("gp3") {
        "gp3" if size.is_some_and(|s| s < GP3_BASELINE_BELOW_GIB) => {
            let off_baseline = iops.is_some_and(|v| i64::from(v) != GP3_BASELINE_IOPS)
                || throughput.is_some_and(|v| i64::from(v) != GP3_BASELINE_THROUGHPUT);
            if off_baseline {
                return Err(ProviderError::Invalid(format!(
                    "gp3 storage below {GP3_BASELINE_BELOW_GIB} GiB has a fixed baseline of {GP3_BASELINE_IOPS} IOPS \
                     and {GP3_BASELINE_THROUGHPUT} MiBps: leave iops and storage_throughput unset, or allocate at \
                     least {GP3_BASELINE_BELOW_GIB} GiB"
                )));
            }
            Ok((None, None))
        }
        "gp3" => Ok((iops, throughput)),
        "io1" | "io2" if throughput.is_some() => {
            Err(ProviderError::Invalid("storage_throughput applies to gp3 storage only".into()))
        }
        "io1" | "io2" => Ok((iops, None)),
        other if iops.is_some() || throughput.is_some() => Err(ProviderError::Invalid(format!(
            "iops and storage_throughput cannot be set for {other} storage (only gp3, io1 and io2)"
        ))),
        _ => Ok((None, None)),
    }
}

/// How DescribeDBInstances reads each attribute, and the CreateDBInstance
/// and ModifyDBInstance setters that take it ([`rds_fields`]).
#[rustfmt::skip]
static FIELDS: &[Field<AwsInstance, C, M>] = &[
    field!("id", |d| d.db_instance_identifier().into()),
    field!("identifier", |d| d.db_instance_identifier().into()),
    field!("arn", |d| d.db_instance_arn().into()),
    field!("address", |d| d.endpoint().and_then(|e| e.address()).into()),
    field!("endpoint", |d| d.endpoint().and_then(|e| e.address()).zip(port(d)).map(|(a, p)| format!("{a}:{p}")).into()),
    field!("dbi_resource_id", |d| d.dbi_resource_id().into()),
    field!("master_user_secret_arn", |d| d.master_user_secret().and_then(|s| s.secret_arn()).into()),
    field!("master_user_secret_kms_key_id", |d| d.master_user_secret().and_then(|s| s.kms_key_id()).into(), Str, set_master_user_secret_kms_key_id, _),
    field!("manage_master_user_password", |d| Value::Bool(d.master_user_secret().is_some())),
    field!("parameter_group_name", |d| d.db_parameter_groups().first().and_then(|g| g.db_parameter_group_name()).into(), Str, set_db_parameter_group_name),
    field!("ca_cert_identifier", |d| d.ca_certificate_identifier().into(), Str, set_ca_certificate_identifier),
    field!("parameter_apply_status", |d| d.db_parameter_groups().first().and_then(|g| g.parameter_apply_status()).into()),
    field!("engine", |d| d.engine().into(), Str, set_engine, _),
    field!("engine_version", |d| d.engine_version().into(), Str, set_engine_version),
    field!("instance_class", |d| d.db_instance_class().into(), Str, set_db_instance_class),
    field!("allocated_storage", |d| d.allocated_storage().into(), Int, set_allocated_storage),
    field!("max_allocated_storage", |d| Value::from(d.max_allocated_storage().unwrap_or(0))),
    field!("storage_type", |d| d.storage_type().into(), Str, set_storage_type, _),
    field!("iops", |d| d.iops().into()),
    field!("storage_throughput", |d| d.storage_throughput().into()),
    field!("multi_az", |d| Value::Bool(d.multi_az().unwrap_or(false)), Bool, set_multi_az),
    field!("username", |d| d.master_username().into(), Str, set_master_username, _),
    field!("db_name", |d| d.db_name().into(), Str, set_db_name, _),
    field!("port", |d| port(d).into(), Int, set_port, set_db_port_number),
    field!("db_subnet_group_name", |d| d.db_subnet_group().and_then(|g| g.db_subnet_group_name()).into(), Str, set_db_subnet_group_name, _),
    field!("vpc_security_group_ids", |d| rds_fields::sg_ids(d.vpc_security_groups()), Strs, set_vpc_security_group_ids),
    field!("storage_encrypted", |d| Value::Bool(d.storage_encrypted().unwrap_or(false)), Bool, set_storage_encrypted, _),
    field!("kms_key_id", |d| d.kms_key_id().into(), Str, set_kms_key_id, _),
    field!("backup_retention_period", |d| d.backup_retention_period().into(), Int, set_backup_retention_period),
    field!("backup_window", |d| d.preferred_backup_window().into(), Str, set_preferred_backup_window),
    field!("maintenance_window", |d| d.preferred_maintenance_window().map(str::to_lowercase).into(), Str, set_preferred_maintenance_window),
    field!("iam_database_authentication_enabled", |d| Value::Bool(d.iam_database_authentication_enabled().unwrap_or(false)), Bool, set_enable_iam_database_authentication),
    field!("enabled_cloudwatch_logs_exports", |d| Value::from(rds::sorted(d.enabled_cloudwatch_logs_exports().to_vec())), Strs, set_enable_cloudwatch_logs_exports, _),
    field!("performance_insights_enabled", |d| Value::Bool(d.performance_insights_enabled().unwrap_or(false)), Bool, set_enable_performance_insights, _),
    field!("performance_insights_kms_key_id", |d| d.performance_insights_kms_key_id().into(), Str, set_performance_insights_kms_key_id, _),
    field!("performance_insights_retention_period", |d| d.performance_insights_retention_period().into(), Int, set_performance_insights_retention_period, _),
    field!("monitoring_interval", |d| Value::from(d.monitoring_interval().unwrap_or(0)), Int, set_monitoring_interval, _),
    field!("monitoring_role_arn", |d| d.monitoring_role_arn().into(), Str, set_monitoring_role_arn, _),
    field!("auto_minor_version_upgrade", |d| Value::Bool(d.auto_minor_version_upgrade().unwrap_or(false)), Bool, set_auto_minor_version_upgrade),
    field!("publicly_accessible", |d| Value::Bool(d.publicly_accessible().unwrap_or(false)), Bool, set_publicly_accessible),
    field!("copy_tags_to_snapshot", |d| Value::Bool(d.copy_tags_to_snapshot().unwrap_or(false)), Bool, set_copy_tags_to_snapshot),
    field!("deletion_protection", |d| Value::Bool(d.deletion_protection().unwrap_or(false)), Bool, set_deletion_protection),
    field!("replicate_source_db", |d| d.read_replica_source_db_instance_identifier().into()),
    field!("tags", |d| Value::from(tag_map(d.tag_list()))),
];

/// What CreateDBInstanceReadReplica takes as it is (the rest comes from the
/// source, or from the ModifyDBInstance that follows).
#[rustfmt::skip]
static REPLICA: &[(&str, Set<RC>)] = &[
    ("instance_class", Set::Str(RC::set_db_instance_class)),
    ("allocated_storage", Set::Int(RC::set_allocated_storage)),
    ("storage_type", Set::Str(RC::set_storage_type)),
    ("multi_az", Set::Bool(RC::set_multi_az)),
    ("port", Set::Int(RC::set_port)),
    ("db_subnet_group_name", Set::Str(RC::set_db_subnet_group_name)),
    ("vpc_security_group_ids", Set::Strs(RC::set_vpc_security_group_ids)),
    ("parameter_group_name", Set::Str(RC::set_db_parameter_group_name)),
    ("ca_cert_identifier", Set::Str(RC::set_ca_certificate_identifier)),
    ("kms_key_id", Set::Str(RC::set_kms_key_id)),
    ("iam_database_authentication_enabled", Set::Bool(RC::set_enable_iam_database_authentication)),
    ("enabled_cloudwatch_logs_exports", Set::Strs(RC::set_enable_cloudwatch_logs_exports)),
    ("performance_insights_enabled", Set::Bool(RC::set_enable_performance_insights)),
    ("performance_insights_kms_key_id", Set::Str(RC::set_performance_insights_kms_key_id)),
    ("performance_insights_retention_period", Set::Int(RC::set_performance_insights_retention_period)),
    ("monitoring_interval", Set::Int(RC::set_monitoring_interval)),
    ("monitoring_role_arn", Set::Str(RC::set_monitoring_role_arn)),
    ("auto_minor_version_upgrade", Set::Bool(RC::set_auto_minor_version_upgrade)),
    ("publicly_accessible", Set::Bool(RC::set_publicly_accessible)),
    ("copy_tags_to_snapshot", Set::Bool(RC::set_copy_tags_to_snapshot)),
    ("deletion_protection", Set::Bool(RC::set_deletion_protection)),
];

/// The values AWS holds for the maintenance window.
static HELD: &[Held<AwsInstance>] = &[
    held!("instance_class", db_instance_class),
    held!("ca_cert_identifier", ca_certificate_identifier),
    held!("allocated_storage", allocated_storage),
    held!("port", port),
    held!("backup_retention_period", backup_retention_period),
    held!("multi_az", multi_az),
    held!("engine_version", engine_version),
    held!("iops", iops),
    held!("storage_throughput", storage_throughput),
    held!("storage_type", storage_type),
    held!("db_subnet_group_name", db_subnet_group_name),
    held!("iam_database_authentication_enabled", iam_database_authentication_enabled),
    ("enabled_cloudwatch_logs_exports", |d| {
        let held = d.pending_modified_values().and_then(|p| p.pending_cloudwatch_logs_exports());
        held_logs(d.enabled_cloudwatch_logs_exports(), held)
    }),
];

/// The port clients connect to: the endpoint's, else the instance's.
fn port(d: &AwsInstance) -> Option<i32> {
    d.endpoint().and_then(|e| e.port()).or(d.db_instance_port().filter(|p| *p > 0))
}

/// Canonical attributes of an instance as AWS describes it ([`FIELDS`]),
/// held changes read as made and listed in `pending_changes`; `None`
/// without an identifier.
fn instance_attrs(db: &AwsInstance) -> Option<Attrs> {
    let (mut a, mut pending) = rds_fields::read(FIELDS, HELD, db);
    if db.pending_modified_values().and_then(|p| p.master_user_password()).is_some() {
        pending.insert("master_user_password".into(), "(rotating)".into());
    }
    a.insert("pending_changes".into(), Value::from(pending));
    a.contains_key("id").then_some(a)
}

/// One look at instance `id` for a wait. With `settle`, pending modified
/// values mean the change is still being applied.
async fn observe(client: &Client, id: &str, settle: bool) -> Result<Option<Observed<Attrs>>> {
    rds::observe_instance(client, id, settle, instance_attrs).await
}

/// Waits until instance `id` is available (and settled, with `settle`); returns its attributes.
async fn wait_ready(
    client: &Client,
    ctx: &Ctx,
    id: &str,
    settle: bool,
    timeout: Duration,
    backoff: Backoff,
) -> Result<Attrs> {
    wait_available(ctx, &available(id), timeout, backoff, || observe(client, id, settle)).await
}

/// What a wait for instance `id` to become available says it waits for.
fn available(id: &str) -> String {
    format!("db_instance {id} to become available")
}

/// The validated, lowercase identifier in `desired`.
fn identifier(desired: &Attrs) -> Result<String> {
    let id = get_str(desired, "identifier").unwrap_or_default().to_lowercase();
    validate_identifier("identifier", &id, 63)?;
    Ok(id)
}

async fn create_primary(client: &Client, ctx: &Ctx, id: &str, desired: &Attrs, backoff: Backoff) -> Result<()> {
    require_managed_password(desired)?;
    if get_i64(desired, "allocated_storage").is_none() {
        return Err(ProviderError::Invalid(format!("db_instance {id} needs allocated_storage (GiB)")));
    }
    let (iops, throughput) = provisioned_performance(desired)?;
    let req = rds_fields::create(FIELDS, client.create_db_instance().db_instance_identifier(id), desired)?
        .manage_master_user_password(true)
        .set_max_allocated_storage(get_i32(desired, "max_allocated_storage")?.filter(|m| *m > 0))
        .set_iops(iops)
        .set_storage_throughput(throughput)
        .set_tags(Some(rds_tags(&tags_of(desired))));
    send_settling(ctx, "CreateDBInstance", &rds::passing(None), backoff, || req.clone().send())
        .await
        .map_err(|e| api_error("CreateDBInstance", e))?;
    Ok(())
}

/// CreateDBInstanceReadReplica in the replica's region (`client`'s), with the
/// source as identifier (same region) or ARN (another region); sent again
/// while RDS says the source is busy (`InvalidDBInstanceState`: not
/// available yet, e.g. backing up after its own create).
async fn create_replica(
    client: &Client,
    ctx: &Ctx,
    id: &str,
    source: Source,
    desired: &Attrs,
    backoff: Backoff,
) -> Result<()> {
    let (iops, throughput) = provisioned_performance(desired)?;
    let (Source::Local(source) | Source::Remote(source)) = source;
    let req = client.create_db_instance_read_replica().db_instance_identifier(id).source_db_instance_identifier(source);
    let req = rds_fields::set_all(req, desired, REPLICA.iter().map(|(name, set)| (*name, set)))?
        .set_max_allocated_storage(get_i32(desired, "max_allocated_storage")?.filter(|m| *m > 0))
        .set_iops(iops)
        .set_storage_throughput(throughput)
        .set_tags(Some(rds_tags(&tags_of(desired))));
    let busy_within = Some(ctx.timeout.unwrap_or(CREATE_TIMEOUT));
    send_settling(ctx, "CreateDBInstanceReadReplica", &rds::passing(busy_within), backoff, || req.clone().send())
        .await
        .map_err(|e| api_error("CreateDBInstanceReadReplica", e))?;
    Ok(())
}

/// Creates the instance (or replica) in `ctx.region` with `client`, waits
/// until it is available, and for a replica applies at once what
/// CreateDBInstanceReadReplica cannot set: the update that brings what was
/// created to the config.
async fn create_with(client: &Client, ctx: &Ctx, desired: &Attrs, backoff: Backoff) -> Result<Attrs> {
    let id = identifier(desired)?;
    check_key_regions(desired, &ctx.region)?;
    if !is_replica(desired) {
        create_primary(client, ctx, &id, desired, backoff).await?;
        return wait_ready(client, ctx, &id, false, CREATE_TIMEOUT, backoff).await;
    }
    let source = check_replica(desired, &ctx.region)?;
    create_replica(client, ctx, &id, source, desired, backoff).await?;
    let created = wait_ready(client, ctx, &id, false, CREATE_TIMEOUT, backoff).await?;
    let mut now_desired = desired.clone();
    now_desired.insert("apply_immediately".into(), Value::Bool(true));
    modify(client, ctx, &id, &DbInstance.planned_update(&created, &now_desired, &[]), CREATE_TIMEOUT, backoff).await
}

/// The storage settings to send when the plan changes any of them, checked
/// as AWS checks them together against the size the volume has (the plan's
/// `after`, AWS's size unless it grows it): an `iops` or
/// `storage_throughput` the plan does not change is AWS's current value,
/// kept only where the new storage type takes it.
fn storage_to_send(update: &PlannedUpdate) -> Result<(Option<String>, Option<i32>, Option<i32>)> {
    let mut storage = update.after.clone();
    let storage_type = get_string(&storage, "storage_type");
    for name in ["iops", "storage_throughput"] {
        if !update.changes(name) && !takes(storage_type.as_deref().unwrap_or("gp3"), name) {
            storage.remove(name);
        }
    }
    let (iops, throughput) = provisioned_performance(&storage)?;
    Ok((storage_type, iops, throughput))
}

/// Carries out the plan's `update`: tags first, then one ModifyDBInstance
/// with the settings it changes — or, when only `apply_immediately` turned
/// on while AWS holds changes, none but the flag, which makes AWS apply them
/// — sent once the instance is available and again while RDS says it is
/// busy, then a wait until the instance shows the change and is available;
/// last, when the plan changes `parameter_apply_status` to `in-sync`, a
/// reboot (once available) and a wait until the parameter group is applied.
async fn modify(
    client: &Client,
    ctx: &Ctx,
    id: &str,
    update: &PlannedUpdate,
    timeout: Duration,
    backoff: Backoff,
) -> Result<Attrs> {
    let (before, after) = (&update.before, &update.after);
    require_managed_password(after)?;
    let tags = tags_of(after);
    if update.changes("tags") {
        let arn =
            get_str(before, "arn").ok_or_else(|| ProviderError::Invalid(format!("db_instance {id} has no arn")))?;
        sync_tags(client, arn, &tags_of(before), &tags).await?;
    }
    if update.changes("master_user_secret_kms_key_id") && !update.changes("manage_master_user_password") {
        return Err(ProviderError::Invalid(format!(
            "db_instance {id}: RDS cannot change the KMS key of a master secret it already manages; keep \
             master_user_secret_kms_key_id = {}",
            before.get("master_user_secret_kms_key_id").map_or_else(|| "(unset)".to_owned(), note_text)
        )));
    }

    let apply_immediately = get_bool(after, "apply_immediately") == Some(true);
    let req = client.modify_db_instance().db_instance_identifier(id).apply_immediately(apply_immediately);
    let (mut req, mut sent) = rds_fields::modify(FIELDS, req, update)?;
    if let Some(v) = update.to("engine_version").and_then(Value::as_str) {
        req =
            req.set_allow_major_version_upgrade(is_major_upgrade(get_str(before, "engine_version"), v).then_some(true));
    }
    if special(update, &mut sent, &["max_allocated_storage"]) {
        // AWS turns autoscaling off when the maximum equals the size the volume has.
        let max = match get_i32(after, "max_allocated_storage")? {
            Some(0) => get_i32(after, "allocated_storage")?,
            other => other,
        };
        req = req.set_max_allocated_storage(max);
    }
    if special(update, &mut sent, &["storage_type", "iops", "storage_throughput"]) {
        let (storage_type, iops, throughput) = storage_to_send(update)?;
        req = req.set_storage_type(storage_type).set_iops(iops).set_storage_throughput(throughput);
    }
    if special(update, &mut sent, &["manage_master_user_password"]) {
        req = req
            .manage_master_user_password(true)
            .set_master_user_secret_kms_key_id(get_string(after, "master_user_secret_kms_key_id"));
    }
    if special(update, &mut sent, &["enabled_cloudwatch_logs_exports"]) {
        req = req.cloudwatch_logs_export_configuration(rds_fields::log_export_change(update));
    }
    let req = rds_fields::instance_insights_and_monitoring(req, update, &mut sent)?;
    let held = before.get("pending_changes").and_then(Value::as_map).is_some_and(|m| !m.is_empty());
    // Nothing to send, unless held changes are to be applied now.
    let mut attrs = if !sent.is_empty() || apply_immediately && held {
        wait_ready(client, ctx, id, false, timeout, backoff).await?;
        let busy_within = Some(ctx.timeout.unwrap_or(timeout));
        send_settling(ctx, "ModifyDBInstance", &rds::passing(busy_within), backoff, || req.clone().send())
            .await
            .map_err(|e| api_error("ModifyDBInstance", e))?;
        let missing = |seen: &Attrs| rds_fields::not_shown(update, &sent, seen);
        let observe = || observe(client, id, apply_immediately);
        wait_change_shows(ctx, &available(id), timeout, CHANGE_SHOWS_WITHIN, backoff, observe, missing).await?
    } else {
        before.clone()
    };
    if update.changes("parameter_apply_status") {
        let what = format!("db_instance {id}");
        attrs = rds::reboot_until_parameters_applied(client, ctx, &what, id, timeout, backoff, || {
            observe(client, id, false)
        })
        .await?;
    }
    attrs.insert("tags".into(), Value::from(tags));
    Ok(attrs)
}

/// The error a delete gives while deletion protection is on.
fn deletion_protected(id: &str) -> ProviderError {
    ProviderError::Invalid(format!(
        "db_instance {id}: deletion_protection is on; set deletion_protection = false and apply first"
    ))
}

/// Deletes instance `id` (final snapshot unless skipped or a replica; automated
/// backups kept) and waits until it is gone. An instance already gone is deleted.
async fn delete_with(client: &Client, ctx: &Ctx, id: &str, prior: &Attrs, backoff: Backoff) -> Result<()> {
    if get_bool(prior, "deletion_protection") == Some(true) {
        return Err(deletion_protected(id));
    }
    let snapshot = if is_replica(prior) { None } else { final_snapshot(prior, id) };
    if let Some(name) = &snapshot {
        validate_identifier("final_snapshot_identifier", name, 255)?;
    }
    let req = client.delete_db_instance().db_instance_identifier(id).delete_automated_backups(false);
    let req = match &snapshot {
        Some(name) => req.skip_final_snapshot(false).final_db_snapshot_identifier(name),
        None => req.skip_final_snapshot(true),
    };
    match req.send().await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => {
            return Err(match api_error("DeleteDBInstance", e) {
                ProviderError::Api { message, .. } if message.to_lowercase().contains("deletion protection") => {
                    deletion_protected(id)
                }
                other => other,
            });
        }
    }
    let what = match &snapshot {
        Some(name) => format!("db_instance {id} to be deleted (final snapshot {name})"),
        None => format!("db_instance {id} to be deleted (no final snapshot)"),
    };
    wait_gone(ctx, &what, DELETE_TIMEOUT, backoff, || async { Ok(observe(client, id, false).await?.map(|o| o.status)) })
        .await
}

#[async_trait]
impl ResourceType for DbInstance {
    fn type_name(&self) -> &'static str {
        "db_instance"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// Lowercase identifiers, names, storage type and maintenance window (as
    /// AWS stores them); sorted sets; for replicas, no defaults for what the
    /// source decides.
    fn normalize(&self, desired: &mut Attrs) {
        rds::normalize(desired, LOWERCASE, SETS);
        if is_replica(desired) {
            for name in INHERITED_BY_REPLICAS {
                let default = SCHEMA.attr(name).and_then(|a| a.default).map(|d| d.value());
                if default.is_some() && desired.get(*name) == default.as_ref() {
                    desired.remove(*name);
                }
            }
        }
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], _scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        let client = factory(ctx)?.rds(&ctx.region).await;
        let found: Vec<Attrs> =
            rds::describe_instances(&client, ids).await?.iter().filter_map(instance_attrs).collect();
        Ok(rds::by_id(ids, found))
    }

    /// No change: engine versions AWS moved to within the configured one, KMS
    /// key ids vs ARNs, storage AWS grew beyond the configured size, and a
    /// same-region source named by ARN vs the identifier AWS reports.
    fn suppress_diff(&self, attr: &str, current: &Value, desired: &Value) -> bool {
        match attr {
            "engine_version" => suppress_engine_version(current, desired),
            "kms_key_id" | "master_user_secret_kms_key_id" | "performance_insights_kms_key_id" => {
                same_kms_key(current, desired)
            }
            "allocated_storage" => matches!((current.as_i64(), desired.as_i64()), (Some(c), Some(d)) if c > d),
            "parameter_apply_status" => rds::suppress_parameter_status(current, desired),
            "replicate_source_db" => match (current.as_str(), desired.as_str()) {
                (Some(c), Some(d)) => {
                    c.starts_with("arn:") != d.starts_with("arn:")
                        && source_identifier(c).eq_ignore_ascii_case(source_identifier(d))
                }
                _ => false,
            },
            _ => false,
        }
    }

    fn notes(&self, current: &Attrs) -> Vec<String> {
        let mut notes = rds::pending_notes(current);
        if get_str(current, "parameter_apply_status") == Some("pending-reboot") {
            let group = get_str(current, "parameter_group_name").unwrap_or("the parameter group");
            let id = get_str(current, "id").unwrap_or("the instance");
            notes.push(format!(
                "changes to {group} wait for a reboot of {id}: set `parameter_apply_status = \"in-sync\"` to have \
                 apply reboot it, or reboot it yourself (aws rds reboot-db-instance)"
            ));
        }
        notes
    }

    /// Refused: deleting or replacing while deletion protection is on,
    /// shrinking storage ([`storage_shrink`]) and downgrading the engine.
    fn refuse(&self, current: &Attrs, intent: Intent<'_>) -> Vec<Refusal> {
        [
            rds::deletion_protected("instance", current, intent),
            rds::downgrade("instance", current, intent),
            storage_shrink(current, intent),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        create_with(&factory(ctx)?.rds(&ctx.region).await, ctx, desired, Backoff::default()).await
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        check_key_regions(&update.after, &ctx.region)?;
        let client = factory(ctx)?.rds(&ctx.region).await;
        modify(&client, ctx, id, update, UPDATE_TIMEOUT, Backoff::default()).await
    }

    async fn delete(&self, ctx: &Ctx, id: &str, prior: &Attrs) -> Result<()> {
        delete_with(&factory(ctx)?.rds(&ctx.region).await, ctx, id, prior, Backoff::default()).await
    }

    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        rds::find_owned_instance(&factory(ctx)?.rds(&ctx.region).await, ctx, addr).await
    }

    /// From the region's shared tagging index ([`owned::indexed`]).
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        owned::indexed(ctx, self.type_name(), known).await
    }

    /// The engine version is one RDS offers, the instance class is offered
    /// for it (for any version when none is known: a replica, an unset
    /// version), and an existing parameter group named is of its family
    /// ([`rds_catalog`]).
    async fn check_planned(&self, ctx: &Ctx, planned: &[PlannedChange<'_>]) -> Result<Vec<Finding>> {
        rds_catalog::check_databases(ctx, &factory(ctx)?.rds(&ctx.region).await, planned, &CATALOG).await
    }
}

/// Where the plan-time checks find an instance's engine, class and parameter group.
pub(super) const CATALOG: Database = Database {
    engine: "postgres",
    class: Some("instance_class"),
    group: ("parameter_group_name", GroupKind::Db),
    version_of_cluster: false,
};

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_rds::config::Region;
    use aws_sdk_rds::operation::create_db_instance::CreateDbInstanceOutput;
    use aws_sdk_rds::operation::create_db_instance_read_replica::CreateDbInstanceReadReplicaOutput;
    use aws_sdk_rds::operation::delete_db_instance::{DeleteDBInstanceError, DeleteDbInstanceOutput};
    use aws_sdk_rds::operation::describe_db_instances::{DescribeDBInstancesError, DescribeDbInstancesOutput};
    use aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput;
    use aws_sdk_rds::types::error::{DbInstanceNotFoundFault, InvalidDbInstanceStateFault};
    use aws_sdk_rds::types::{DbParameterGroupStatus, Endpoint, MasterUserSecret, PendingModifiedValues, Tag};
    use aws_smithy_mocks::{Rule, mock};
    use aws_smithy_runtime_api::box_error::BoxError;
    use aws_smithy_runtime_api::client::interceptors::Intercept;
    use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_types::config_bag::ConfigBag;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;
    use crate::provider::Progress;
    use crate::provider::aws::rds::{TEST_BACKOFF, mock_rds};
    use crate::provider::aws::{AwsFactory, AwsOptions};
    use crate::provider::diff::diff_with;

    const EAST_SOURCE: &str = "arn:aws:rds:us-east-1:123456789012:db:main";
    const WEST_KEY: &str = "arn:aws:kms:us-west-2:123456789012:key/west-1";
    const EAST_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/east-1";

    /// A context in `region` whose progress reports land in `reports`.
    fn ctx(region: &str, reports: &Arc<Mutex<Vec<String>>>) -> Ctx {
        let reports = reports.clone();
        Ctx::new(Arc::new(AwsFactory::new(AwsOptions::default())), region, "t")
            .with_progress(Progress::new(move |what, _| reports.lock().unwrap().push(what.to_owned())))
    }

    /// Records the URI of every request the client sends.
    #[derive(Debug, Clone, Default)]
    struct Uris(Arc<Mutex<Vec<String>>>);

    impl Intercept for Uris {
        fn name(&self) -> &'static str {
            "record-uris"
        }

        fn read_before_transmit(
            &self,
            context: &BeforeTransmitInterceptorContextRef<'_>,
            _rc: &RuntimeComponents,
            _cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            self.0.lock().unwrap().push(context.request().uri().to_owned());
            Ok(())
        }
    }

    /// A mock RDS client of `region`, recording request URIs.
    fn mock_in(region: &str, rules: &[&Rule]) -> (Client, Uris) {
        let uris = Uris::default();
        let conf =
            mock_rds(rules).config().to_builder().region(Region::new(region.to_owned())).interceptor(uris.clone());
        (Client::from_conf(conf.build()), uris)
    }

    /// An instance as AWS describes it.
    fn aws(id: &str, status: &str, retention: i32) -> AwsInstance {
        AwsInstance::builder()
            .db_instance_identifier(id)
            .db_instance_arn(format!("arn:aws:rds:us-west-2:123456789012:db:{id}"))
            .db_instance_status(status)
            .engine("postgres")
            .engine_version("16.4")
            .db_instance_class("db.r6g.large")
            .allocated_storage(100)
            .storage_type("gp3")
            .iops(3000)
            .storage_throughput(125)
            .storage_encrypted(true)
            .kms_key_id(WEST_KEY)
            .master_username("postgres")
            .backup_retention_period(retention)
            .multi_az(false)
            .iam_database_authentication_enabled(true)
            .auto_minor_version_upgrade(true)
            .copy_tags_to_snapshot(true)
            .deletion_protection(true)
            .publicly_accessible(false)
            .master_user_secret(MasterUserSecret::builder().secret_arn(format!("arn:secret:{id}")).build())
            .tag_list(Tag::builder().key("pgstack:address").value(format!("db_instance.{id}")).build())
            .endpoint(Endpoint::builder().address(format!("{id}.x.us-west-2.rds.amazonaws.com")).port(5432).build())
            .build()
    }

    fn describing(instances: Vec<AwsInstance>) -> DescribeDbInstancesOutput {
        DescribeDbInstancesOutput::builder().set_db_instances(Some(instances)).build()
    }

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    /// What the engine hands `create`: schema defaults, then `set`, normalized.
    fn desired(set: &[(&str, Value)]) -> Attrs {
        let mut a: Attrs =
            SCHEMA.attrs.iter().filter_map(|at| Some((at.name.to_owned(), at.default?.value()))).collect();
        a.extend(attrs(set));
        DbInstance.normalize(&mut a);
        a
    }

    fn not_found() -> DescribeDBInstancesError {
        DescribeDBInstancesError::DbInstanceNotFoundFault(
            DbInstanceNotFoundFault::builder()
                .message("DBInstance dr not found.")
                .meta(ErrorMetadata::builder().code("DBInstanceNotFound").build())
                .build(),
        )
    }

    /// The cross-region path moto cannot serve: the request goes to the
    /// replica region's endpoint, names the source by ARN, encrypts with the
    /// replica region's key and carries no presigned URL; then the wait, and
    /// the follow-up ModifyDBInstance for the backup retention the create
    /// call cannot set.
    #[tokio::test]
    async fn cross_region_replica_request_and_follow_up() {
        let create = mock!(Client::create_db_instance_read_replica)
            .match_requests(|r| {
                r.db_instance_identifier() == Some("dr")
                    && r.source_db_instance_identifier() == Some(EAST_SOURCE)
                    && r.kms_key_id() == Some(WEST_KEY)
                    && r.pre_signed_url().is_none()
                    && r.multi_az() == Some(false)
                    && r.db_instance_class() == Some("db.r6g.large")
                    && r.tags().iter().any(|t| t.key() == Some("pgstack:address"))
            })
            .then_output(|| CreateDbInstanceReadReplicaOutput::builder().db_instance(aws("dr", "creating", 0)).build());
        let with_source = |status: &str, retention: i32| {
            let mut db = aws("dr", status, retention);
            db.read_replica_source_db_instance_identifier = Some(EAST_SOURCE.to_owned());
            db
        };
        let looks = [("creating", 0), ("available", 0), ("available", 0), ("modifying", 35), ("available", 35)];
        let mut describe = mock!(Client::describe_db_instances)
            .match_requests(|r| r.filters().iter().any(|f| f.values() == ["dr"]))
            .sequence();
        for (status, retention) in looks {
            let db = with_source(status, retention);
            describe = describe.output(move || describing(vec![db.clone()]));
        }
        let describe = describe.build();
        let modify = mock!(Client::modify_db_instance)
            .match_requests(|r| {
                r.db_instance_identifier() == Some("dr")
                    && r.backup_retention_period() == Some(35)
                    && r.apply_immediately() == Some(true)
                    && r.db_instance_class().is_none()
                    && r.enable_iam_database_authentication().is_none()
                    && r.multi_az().is_none()
                    && r.db_port_number().is_none()
            })
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let (client, uris) = mock_in("us-west-2", &[&create, &describe, &modify]);
        let reports = Arc::default();
        let want = desired(&[
            ("identifier", Value::str("DR")),
            ("instance_class", Value::str("db.r6g.large")),
            ("replicate_source_db", Value::str(EAST_SOURCE)),
            ("kms_key_id", Value::str(WEST_KEY)),
            ("multi_az", Value::Bool(false)),
            ("tags", Value::Map([("pgstack:address".to_owned(), Value::str("db_instance.dr"))].into())),
        ]);
        let got = create_with(&client, &ctx("us-west-2", &reports), &want, TEST_BACKOFF).await.expect("create");

        assert_eq!((create.num_calls(), modify.num_calls(), describe.num_calls()), (1, 1, 5));
        let uris = uris.0.lock().unwrap();
        assert_eq!(uris.len(), 7, "{uris:?}");
        assert!(uris.iter().all(|u| u.contains("rds.us-west-2.amazonaws.com")), "{uris:?}");
        assert_eq!(got["replicate_source_db"], Value::str(EAST_SOURCE));
        assert_eq!(got["backup_retention_period"], Value::Int(35));
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 2, "{reports:?}");
        assert!(reports[0].contains("creating") && reports[1].contains("modifying"), "{reports:?}");
        let suppress = |n: &str, c: &Value, d: &Value| DbInstance.suppress_diff(n, c, d);
        let left = diff_with(&SCHEMA, &got, &want, &[], &suppress);
        assert!(left.iter().all(|c| SCHEMA.attr(&c.name).is_some_and(|a| a.config_only)), "{left:?}");
    }

    #[tokio::test]
    async fn replica_configurations_aws_refuses_are_errors_without_a_call() {
        let create = mock!(Client::create_db_instance_read_replica)
            .then_output(|| CreateDbInstanceReadReplicaOutput::builder().build());
        let (client, _) = mock_in("us-west-2", &[&create]);
        let reports = Arc::default();
        let base = [
            ("identifier", Value::str("dr")),
            ("instance_class", Value::str("db.r6g.large")),
            ("replicate_source_db", Value::str(EAST_SOURCE)),
        ];
        let cases: Vec<(Vec<(&str, Value)>, &str)> = vec![
            (vec![], "needs kms_key_id"),
            (vec![("kms_key_id", Value::str(EAST_KEY))], "KMS keys do not cross regions"),
            (vec![("kms_key_id", Value::str(WEST_KEY)), ("db_name", Value::str("app"))], "db_name cannot be set"),
            (vec![("kms_key_id", Value::str(WEST_KEY)), ("username", Value::str("admin"))], "username cannot be set"),
            (
                vec![("kms_key_id", Value::str(WEST_KEY)), ("storage_encrypted", Value::Bool(false))],
                "storage_encrypted cannot be set",
            ),
            (vec![("replicate_source_db", Value::str("arn:aws-cn:rds:cn-north-1:123456789012:db:main"))], "presigned"),
            (vec![("replicate_source_db", Value::str("arn:aws:s3:::bucket"))], "DB instance ARN"),
        ];
        for (extra, want) in cases {
            let mut set = base.to_vec();
            set.extend(extra);
            let err =
                create_with(&client, &ctx("us-west-2", &reports), &desired(&set), TEST_BACKOFF).await.expect_err(want);
            assert!(matches!(&err, ProviderError::Invalid(m) if m.contains(want)), "{want}: {err}");
        }
        assert_eq!(create.num_calls(), 0);
    }

    #[test]
    fn replica_sources_in_the_same_region_are_sent_as_identifiers() {
        assert_eq!(replica_source("main", "us-east-1").unwrap(), Source::Local("main".into()));
        assert_eq!(replica_source(EAST_SOURCE, "us-east-1").unwrap(), Source::Local("main".into()));
        assert_eq!(replica_source(EAST_SOURCE, "us-west-2").unwrap(), Source::Remote(EAST_SOURCE.into()));
    }

    /// The wait after a create: one Describe per look, a progress line for
    /// each look that is not yet available, and the request as configured.
    #[tokio::test]
    async fn create_waits_through_creating_and_modifying() {
        let create = mock!(Client::create_db_instance)
            .match_requests(|r| {
                r.db_instance_identifier() == Some("main")
                    && r.manage_master_user_password() == Some(true)
                    && r.master_user_password().is_none()
                    && r.storage_type() == Some("gp3")
                    && r.iops().is_none()
                    && r.storage_throughput().is_none()
                    && r.allocated_storage() == Some(100)
                    && r.max_allocated_storage() == Some(500)
                    && r.multi_az() == Some(true)
                    && r.storage_encrypted() == Some(true)
                    && r.backup_retention_period() == Some(35)
                    && r.deletion_protection() == Some(true)
                    && r.vpc_security_group_ids() == ["sg-a", "sg-b"]
            })
            .then_output(|| CreateDbInstanceOutput::builder().db_instance(aws("main", "creating", 35)).build());
        let describe = mock!(Client::describe_db_instances)
            .sequence()
            .output(|| describing(vec![aws("main", "creating", 35)]))
            .output(|| describing(vec![aws("main", "modifying", 35)]))
            .output(|| describing(vec![aws("main", "available", 35)]))
            .build();
        let (client, _) = mock_in("us-west-2", &[&create, &describe]);
        let reports = Arc::default();
        let want = desired(&[
            ("identifier", Value::str("main")),
            ("instance_class", Value::str("db.r6g.large")),
            ("allocated_storage", Value::Int(100)),
            ("max_allocated_storage", Value::Int(500)),
            ("iops", Value::Int(3000)),
            ("vpc_security_group_ids", Value::List(vec![Value::str("sg-b"), Value::str("sg-a"), Value::str("sg-b")])),
        ]);
        let got = create_with(&client, &ctx("us-west-2", &reports), &want, TEST_BACKOFF).await.expect("create");
        assert_eq!((create.num_calls(), describe.num_calls()), (1, 3));
        assert_eq!(got["id"], Value::str("main"));
        assert_eq!(got["endpoint"], Value::str("main.x.us-west-2.rds.amazonaws.com:5432"));
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 2, "{reports:?}");
        assert!(reports[0].contains("main to become available (status: creating)"), "{reports:?}");
        assert!(reports[1].contains("(status: modifying)"), "{reports:?}");
    }

    #[tokio::test]
    async fn delete_takes_a_final_snapshot_and_waits_until_not_found() {
        let delete = mock!(Client::delete_db_instance)
            .match_requests(|r| {
                r.db_instance_identifier() == Some("main")
                    && r.skip_final_snapshot() == Some(false)
                    && r.final_db_snapshot_identifier() == Some("main-last")
                    && r.delete_automated_backups() == Some(false)
            })
            .then_output(|| DeleteDbInstanceOutput::builder().build());
        let describe = mock!(Client::describe_db_instances)
            .sequence()
            .output(|| describing(vec![aws("main", "deleting", 35)]))
            .output(|| describing(vec![aws("main", "deleting", 35)]))
            .error(not_found)
            .build();
        let (client, _) = mock_in("us-east-1", &[&delete, &describe]);
        let reports = Arc::default();
        let prior = attrs(&[
            ("deletion_protection", Value::Bool(false)),
            ("final_snapshot_identifier", Value::str("main-last")),
        ]);
        delete_with(&client, &ctx("us-east-1", &reports), "main", &prior, TEST_BACKOFF).await.expect("delete");
        assert_eq!((delete.num_calls(), describe.num_calls()), (1, 3));
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 2, "{reports:?}");
        assert!(reports[0].contains("main to be deleted (final snapshot main-last) (status: deleting)"), "{reports:?}");
    }

    #[tokio::test]
    async fn replica_delete_skips_the_final_snapshot_aws_would_refuse() {
        let delete = mock!(Client::delete_db_instance)
            .match_requests(|r| r.skip_final_snapshot() == Some(true) && r.final_db_snapshot_identifier().is_none())
            .then_output(|| DeleteDbInstanceOutput::builder().build());
        let describe = mock!(Client::describe_db_instances).then_output(|| describing(vec![]));
        let (client, _) = mock_in("us-east-1", &[&delete, &describe]);
        let prior = attrs(&[("replicate_source_db", Value::str("main")), ("skip_final_snapshot", Value::Bool(false))]);
        delete_with(&client, &ctx("us-east-1", &Arc::default()), "reader", &prior, TEST_BACKOFF).await.expect("delete");
        assert_eq!((delete.num_calls(), describe.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn deletion_protection_is_a_clear_error() {
        let delete = mock!(Client::delete_db_instance).then_error(|| {
            DeleteDBInstanceError::InvalidDbInstanceStateFault(
                InvalidDbInstanceStateFault::builder()
                    .meta(
                        ErrorMetadata::builder()
                            .code("InvalidParameterCombination")
                            .message(
                                "Cannot delete protected DB Instance, please disable deletion protection and try again.",
                            )
                            .build(),
                    )
                    .build(),
            )
        });
        let (client, _) = mock_in("us-east-1", &[&delete]);
        let c = ctx("us-east-1", &Arc::default());
        let on = attrs(&[("deletion_protection", Value::Bool(true))]);
        let err = delete_with(&client, &c, "main", &on, TEST_BACKOFF).await.unwrap_err();
        assert!(err.to_string().contains("deletion_protection is on"), "{err}");
        assert_eq!(delete.num_calls(), 0, "refused from the state, without a call");
        // Turned on outside pgstack since the last read: AWS's refusal reads the same.
        let off = attrs(&[("deletion_protection", Value::Bool(false))]);
        let err = delete_with(&client, &c, "main", &off, TEST_BACKOFF).await.unwrap_err();
        assert!(err.to_string().contains("set deletion_protection = false and apply first"), "{err}");
        assert_eq!(delete.num_calls(), 1);
    }

    /// Changes AWS holds for the maintenance window read as made (no second
    /// diff), are listed in `pending_changes` and noted, as is a parameter
    /// group waiting for a reboot.
    #[test]
    fn held_changes_read_as_pending_and_show_as_notes() {
        let mut db = aws("main", "available", 35);
        db.pending_modified_values =
            Some(PendingModifiedValues::builder().db_instance_class("db.r6g.xlarge").allocated_storage(200).build());
        db.db_parameter_groups = Some(vec![
            DbParameterGroupStatus::builder()
                .db_parameter_group_name("pg16-tuned")
                .parameter_apply_status("pending-reboot")
                .build(),
        ]);
        let a = instance_attrs(&db).unwrap();
        assert_eq!(a["instance_class"], Value::str("db.r6g.xlarge"));
        assert_eq!(a["allocated_storage"], Value::Int(200));
        let pending = a["pending_changes"].as_map().unwrap();
        assert_eq!(pending.get("instance_class"), Some(&Value::str("db.r6g.xlarge")));
        let notes = DbInstance.notes(&a);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains(r#"instance_class = "db.r6g.xlarge""#), "{notes:?}");
        assert!(
            notes[1].contains("pg16-tuned")
                && notes[1].contains("reboot of main")
                && notes[1].contains("parameter_apply_status"),
            "{notes:?}"
        );
        assert!(DbInstance.notes(&instance_attrs(&aws("main", "available", 35)).unwrap()).is_empty());
    }

    /// Turning `apply_immediately` on while AWS holds changes sends the flag
    /// alone, then waits until AWS holds nothing.
    #[tokio::test]
    async fn apply_immediately_releases_held_changes_and_waits_for_them() {
        let modify = mock!(Client::modify_db_instance)
            .match_requests(|r| {
                r.apply_immediately() == Some(true)
                    && r.db_instance_class().is_none()
                    && r.allocated_storage().is_none()
            })
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let mut held = aws("main", "available", 35);
        held.pending_modified_values =
            Some(PendingModifiedValues::builder().db_instance_class("db.r6g.xlarge").build());
        let mut done = aws("main", "available", 35);
        done.db_instance_class = Some("db.r6g.xlarge".into());
        let prior = instance_attrs(&held).unwrap();
        let still_held = held.clone();
        let describe = mock!(Client::describe_db_instances)
            .sequence()
            .output(move || describing(vec![held.clone()]))
            .output(move || describing(vec![still_held.clone()]))
            .output(move || describing(vec![done.clone()]))
            .build();
        let (client, _) = mock_in("us-east-1", &[&modify, &describe]);
        let reports = Arc::default();
        let mut want = prior.clone();
        want.insert("apply_immediately".into(), Value::Bool(true));
        let got = modify_with_defaults(&client, &ctx("us-east-1", &reports), &prior, &want).await.expect("update");
        assert_eq!((modify.num_calls(), describe.num_calls()), (1, 3));
        assert_eq!(got["pending_changes"], Value::Map(BTreeMap::new()));
        let reports = reports.lock().unwrap();
        assert!(reports.len() == 1 && reports[0].contains("changes pending"), "{reports:?}");
    }

    /// A reboot that applies parameters waits until the instance is
    /// available, is sent again while RDS says the instance is busy, and
    /// waits until the parameter group is in sync.
    #[tokio::test]
    async fn a_reboot_waits_for_the_instance_and_retries_while_it_is_busy() {
        use crate::provider::aws::rds::{INSTANCE_BUSY, mock_rds_logged, rds_fault};
        use aws_sdk_rds::operation::reboot_db_instance::RebootDbInstanceOutput;
        let with_group = |status: &str, group: &str| {
            let mut db = aws("main", status, 35);
            db.db_parameter_groups = Some(vec![
                DbParameterGroupStatus::builder().db_parameter_group_name("pg16").parameter_apply_status(group).build(),
            ]);
            db
        };
        let reboot = mock!(Client::reboot_db_instance)
            .match_requests(|r| r.db_instance_identifier() == Some("main"))
            .sequence()
            .http_status(400, Some(rds_fault(INSTANCE_BUSY, "Instance cannot currently reboot")))
            .output(|| RebootDbInstanceOutput::builder().build())
            .build();
        let mut describe = mock!(Client::describe_db_instances).sequence();
        for (status, group) in
            [("modifying", "pending-reboot"), ("available", "pending-reboot"), ("rebooting", "pending-reboot")]
                .into_iter()
                .chain([("available", "in-sync")])
        {
            let db = with_group(status, group);
            describe = describe.output(move || describing(vec![db.clone()]));
        }
        let describe = describe.build();
        let (client, log) = mock_rds_logged(&[&reboot, &describe]);
        let reports = Arc::default();
        let prior = instance_attrs(&with_group("available", "pending-reboot")).unwrap();
        let mut want = prior.clone();
        want.insert("parameter_apply_status".into(), Value::str("in-sync"));
        let got = modify_with_defaults(&client, &ctx("us-east-1", &reports), &prior, &want).await.expect("reboot");
        assert_eq!(got["parameter_apply_status"], Value::str("in-sync"));
        let (i, r) = ("DescribeDBInstances", "RebootDBInstance");
        assert_eq!(log.calls(), [i, i, r, r, i, i]);
        assert_eq!(
            *reports.lock().unwrap(),
            [
                "waiting for db_instance main to become available (status: modifying)",
                "retrying RebootDBInstance after RDS said the instance is busy with another change",
                "waiting for db_instance main to reboot and apply its parameter group (status: rebooting)",
            ]
        );
    }

    /// The update a plan makes from `prior` to `desired`, carried out.
    async fn modify_with_defaults(client: &Client, ctx: &Ctx, prior: &Attrs, desired: &Attrs) -> Result<Attrs> {
        modify(client, ctx, "main", &DbInstance.planned_update(prior, desired, &[]), UPDATE_TIMEOUT, TEST_BACKOFF).await
    }

    /// Every attribute the plan may change in place is sent: by the table,
    /// or by `modify` itself.
    #[test]
    fn every_in_place_change_is_sent() {
        let special = [
            "tags",
            "parameter_apply_status",
            "max_allocated_storage",
            "storage_type",
            "iops",
            "storage_throughput",
            "manage_master_user_password",
            "master_user_secret_kms_key_id",
            "enabled_cloudwatch_logs_exports",
        ];
        let special = [&special[..], rds_fields::INSIGHTS_AND_MONITORING].concat();
        assert_eq!(rds_fields::unsent(&SCHEMA, FIELDS, &special), Vec::<&str>::new());
    }

    /// One ModifyDBInstance with only what changed: storage AWS grew is not
    /// shrunk back, autoscaling off sends the size AWS has, a new major
    /// version allows the major upgrade.
    #[tokio::test]
    async fn update_sends_only_changed_settings() {
        let modify = mock!(Client::modify_db_instance)
            .match_requests(|r| {
                r.db_instance_class() == Some("db.r6g.xlarge")
                    && r.backup_retention_period() == Some(14)
                    && r.max_allocated_storage() == Some(150)
                    && r.engine_version() == Some("17.2")
                    && r.allow_major_version_upgrade() == Some(true)
                    && r.allocated_storage().is_none()
                    && r.multi_az().is_none()
                    && r.storage_type().is_none()
                    && r.apply_immediately() == Some(false)
            })
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let mut grown = aws("main", "available", 35);
        grown.allocated_storage = Some(150);
        grown.max_allocated_storage = Some(500);
        let prior = instance_attrs(&grown).unwrap();
        let mut changed = aws("main", "available", 14);
        changed.allocated_storage = Some(150);
        changed.db_instance_class = Some("db.r6g.xlarge".into());
        changed.engine_version = Some("17.2".into());
        let describe = mock!(Client::describe_db_instances)
            .sequence()
            .output(move || describing(vec![grown.clone()]))
            .output(move || describing(vec![changed.clone()]))
            .build();
        let (client, _) = mock_in("us-east-1", &[&modify, &describe]);
        let want = desired(&[
            ("identifier", Value::str("main")),
            ("engine_version", Value::str("17.2")),
            ("instance_class", Value::str("db.r6g.xlarge")),
            ("allocated_storage", Value::Int(100)),
            ("max_allocated_storage", Value::Int(0)),
            ("backup_retention_period", Value::Int(14)),
            ("multi_az", Value::Bool(false)),
            ("kms_key_id", Value::str("west-1")),
        ]);
        let got =
            modify_with_defaults(&client, &ctx("us-east-1", &Arc::default()), &prior, &want).await.expect("update");
        assert_eq!((modify.num_calls(), describe.num_calls()), (1, 2));
        assert_eq!(got["max_allocated_storage"], Value::Int(0), "autoscaling off reads as 0");
    }

    /// Storage changes are checked against the size the volume has: gp3 that
    /// AWS grew past 400 GiB takes provisioned IOPS; the baseline IOPS AWS
    /// reports for small gp3 do not follow a move to gp2.
    #[tokio::test]
    async fn storage_changes_are_checked_against_the_actual_size() {
        let provisioned = mock!(Client::modify_db_instance)
            .match_requests(|r| {
                r.storage_type() == Some("gp3") && r.iops() == Some(12000) && r.storage_throughput() == Some(500)
            })
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let to_gp2 = mock!(Client::modify_db_instance)
            .match_requests(|r| {
                r.storage_type() == Some("gp2") && r.iops().is_none() && r.storage_throughput().is_none()
            })
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let mut grown = aws("main", "available", 35);
        grown.allocated_storage = Some(450);
        let prior = instance_attrs(&grown).unwrap();
        let mut fast = grown.clone();
        (fast.iops, fast.storage_throughput) = (Some(12000), Some(500));
        let small = aws("main", "available", 35);
        let mut gp2 = small.clone();
        (gp2.storage_type, gp2.iops, gp2.storage_throughput) = (Some("gp2".into()), None, None);
        let mut describe = mock!(Client::describe_db_instances).sequence();
        for db in [grown, fast, small, gp2] {
            describe = describe.output(move || describing(vec![db.clone()]));
        }
        let describe = describe.build();
        let (client, _) = mock_in("us-east-1", &[&provisioned, &to_gp2, &describe]);
        let c = ctx("us-east-1", &Arc::default());
        let config = |set: &[(&str, Value)]| {
            let mut all = vec![
                ("identifier", Value::str("main")),
                ("instance_class", Value::str("db.r6g.large")),
                ("allocated_storage", Value::Int(100)),
                ("multi_az", Value::Bool(false)),
            ];
            all.extend(set.iter().cloned());
            let mut d = desired(&all);
            d.insert("tags".into(), prior["tags"].clone());
            d
        };
        let fast = config(&[("iops", Value::Int(12000)), ("storage_throughput", Value::Int(500))]);
        modify_with_defaults(&client, &c, &prior, &fast).await.expect("provisioned gp3");
        let small = instance_attrs(&aws("main", "available", 35)).unwrap();
        modify_with_defaults(&client, &c, &small, &config(&[("storage_type", Value::str("gp2"))])).await.expect("gp2");
        assert_eq!((provisioned.num_calls(), to_gp2.num_calls(), describe.num_calls()), (1, 1, 4));
    }

    #[tokio::test]
    async fn managed_password_changes_aws_cannot_make_are_refused() {
        let modify = mock!(Client::modify_db_instance).then_output(|| ModifyDbInstanceOutput::builder().build());
        let (client, _) = mock_in("us-east-1", &[&modify]);
        let c = ctx("us-east-1", &Arc::default());
        let mut db = aws("main", "available", 35);
        db.master_user_secret = Some(MasterUserSecret::builder().secret_arn("arn:secret").kms_key_id(EAST_KEY).build());
        let prior = instance_attrs(&db).unwrap();
        let mut want = prior.clone();
        want.insert("master_user_secret_kms_key_id".into(), Value::str("other-key"));
        let err = modify_with_defaults(&client, &c, &prior, &want).await.unwrap_err();
        assert!(err.to_string().contains("cannot change the KMS key of a master secret"), "{err}");
        let mut want = prior.clone();
        want.insert("manage_master_user_password".into(), Value::Bool(false));
        let err = modify_with_defaults(&client, &c, &prior, &want).await.unwrap_err();
        assert!(err.to_string().contains("never handles master passwords"), "{err}");
        assert_eq!(modify.num_calls(), 0);
    }

    #[test]
    fn gp3_baseline_and_storage_types() {
        let storage = |ty: &str, size: i64, iops: Option<i64>, tp: Option<i64>| {
            let mut a = attrs(&[("storage_type", Value::str(ty)), ("allocated_storage", Value::Int(size))]);
            if let Some(v) = iops {
                a.insert("iops".into(), Value::Int(v));
            }
            if let Some(v) = tp {
                a.insert("storage_throughput".into(), Value::Int(v));
            }
            provisioned_performance(&a)
        };
        assert_eq!(storage("gp3", 100, Some(3000), Some(125)).unwrap(), (None, None), "baseline is not sent");
        assert!(storage("gp3", 100, Some(6000), None).is_err());
        assert_eq!(storage("gp3", 400, Some(12000), Some(500)).unwrap(), (Some(12000), Some(500)));
        assert_eq!(storage("io1", 100, Some(5000), None).unwrap(), (Some(5000), None));
        assert!(storage("io1", 100, Some(5000), Some(200)).is_err());
        assert!(storage("gp2", 100, Some(3000), None).is_err());
        assert_eq!(storage("gp2", 100, None, None).unwrap(), (None, None));
    }

    #[test]
    fn replicas_drop_inherited_defaults_only() {
        let replica = desired(&[("replicate_source_db", Value::str("Main")), ("identifier", Value::str("Reader"))]);
        for name in INHERITED_BY_REPLICAS {
            assert!(!replica.contains_key(*name), "{name}: {replica:?}");
        }
        assert_eq!(replica["identifier"], Value::str("reader"));
        assert_eq!(replica["replicate_source_db"], Value::str("main"));
        assert_eq!(replica["backup_retention_period"], Value::Int(35), "backups stay on for replicas");
        let explicit = desired(&[("replicate_source_db", Value::str("main")), ("username", Value::str("admin"))]);
        assert_eq!(explicit["username"], Value::str("admin"), "kept, so that create refuses it");
        let primary = desired(&[("identifier", Value::str("main"))]);
        assert_eq!(primary["username"], Value::str("postgres"));
        assert_eq!(primary["storage_encrypted"], Value::Bool(true));
    }

    #[test]
    fn differences_aws_makes_on_its_own_are_suppressed() {
        let s = |attr: &str, cur: Value, want: Value| DbInstance.suppress_diff(attr, &cur, &want);
        assert!(s("allocated_storage", Value::Int(150), Value::Int(100)), "autoscaling grew it");
        assert!(!s("allocated_storage", Value::Int(100), Value::Int(150)), "growing is a change");
        assert!(s("replicate_source_db", Value::str("main"), Value::str(EAST_SOURCE)));
        assert!(!s("replicate_source_db", Value::str("other"), Value::str(EAST_SOURCE)));
        assert!(!s("replicate_source_db", Value::str(EAST_SOURCE), Value::str("arn:aws:rds:us-west-2:1:db:main")));
        assert!(s("engine_version", Value::str("16.6"), Value::str("16")));
        assert!(s("kms_key_id", Value::str(EAST_KEY), Value::str("east-1")));
        assert!(s("performance_insights_kms_key_id", Value::str(EAST_KEY), Value::str("east-1")));
    }

    fn reasons(current: &[(&str, Value)], intent: Intent<'_>) -> Vec<String> {
        DbInstance.refuse(&attrs(current), intent).into_iter().map(|r| r.reason).collect()
    }

    #[test]
    fn deleting_or_replacing_a_protected_instance_is_refused() {
        let on = [("deletion_protection", Value::Bool(true)), ("engine_version", Value::str("16.4"))];
        let off = [("deletion_protection", Value::Bool(false))];
        let want = attrs(&[("deletion_protection", Value::Bool(false))]);
        for intent in [
            Intent::Delete { destroy: true },
            Intent::Delete { destroy: false },
            Intent::Replace { desired: &want, create_first: false },
        ] {
            let got = reasons(&on, intent);
            assert_eq!(got.len(), 1, "{intent:?}: {got:?}");
            assert!(got[0].contains("deletion_protection is on in AWS"), "{got:?}");
            assert!(reasons(&off, intent).is_empty(), "{intent:?}");
        }
        // Turning protection off in place is what the hint asks for.
        assert!(reasons(&on, Intent::Keep { desired: &want }).is_empty());
        let destroy = DbInstance.refuse(&attrs(&on), Intent::Delete { destroy: true });
        assert_eq!(
            destroy[0].hints,
            ["set `deletion_protection = false` on it in the stack and apply first, then destroy"]
        );
    }

    #[test]
    fn shrinking_storage_is_refused_unless_autoscaling_grew_it() {
        let keep = |set: &[(&str, Value)], current: &[(&str, Value)]| {
            let desired = attrs(set);
            reasons(current, Intent::Keep { desired: &desired })
        };
        let grown = |max: i64| [("allocated_storage", Value::Int(150)), ("max_allocated_storage", Value::Int(max))];
        let ask = |gib: i64| ("allocated_storage", Value::Int(gib));
        assert_eq!(
            keep(&[ask(100)], &grown(0)),
            ["asks for allocated_storage = 100 GiB, but the instance has 150 GiB, and RDS cannot shrink storage"]
        );
        assert!(keep(&[ask(100)], &grown(500)).is_empty(), "autoscaling on: the config is a floor");
        assert!(keep(&[ask(150)], &grown(0)).is_empty());
        assert!(keep(&[ask(200)], &grown(0)).is_empty(), "growing is allowed");
        assert!(keep(&[], &grown(0)).is_empty(), "storage not managed");
        assert_eq!(keep(&[ask(100), ("max_allocated_storage", Value::Int(0))], &grown(500)).len(), 1, "turned off now");
        assert_eq!(keep(&[ask(100), ("max_allocated_storage", Value::Int(600))], &grown(0)).len(), 1, "was off");
        assert!(keep(&[ask(100), ("max_allocated_storage", Value::Unknown)], &grown(0)).is_empty());
        let replacement = attrs(&[ask(100)]);
        assert!(
            reasons(&grown(0), Intent::Replace { desired: &replacement, create_first: false }).is_empty(),
            "a new volume"
        );
    }

    #[test]
    fn engine_downgrades_in_place_are_refused() {
        let downgrade = |cur: &str, want: &str| {
            let desired = attrs(&[("engine_version", Value::str(want))]);
            let got = reasons(&[("engine_version", Value::str(cur))], Intent::Keep { desired: &desired });
            assert!(got.len() <= 1);
            !got.is_empty()
        };
        assert!(downgrade("16.4", "15.8"));
        assert!(downgrade("16.4", "15"));
        assert!(downgrade("10.1", "9.6.20"));
        assert!(!downgrade("16.4", "16.2"), "a lower minor of the same major is no change (AWS upgrades minors)");
        assert!(!downgrade("16.4", "16"));
        assert!(!downgrade("15.8", "16.4"));
        assert!(!downgrade("16.4", "16.6"));
        assert!(!downgrade("16.4", "banana"), "left to AWS");
        let desired = attrs(&[("engine_version", Value::str("15.8"))]);
        let got = reasons(
            &[("engine_version", Value::str("16.4"))],
            Intent::Replace { desired: &desired, create_first: false },
        );
        assert!(got.is_empty(), "a replacement is a new instance");
    }
}
