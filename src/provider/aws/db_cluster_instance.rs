//! `db_cluster_instance`: a writer or reader instance of an Aurora PostgreSQL cluster.
//!
//! - Id: `identifier`, which AWS stores in lowercase (`normalize` lowercases it).
//! - Failover order is `promotion_tier` (0 = first, Terraform's default); the
//!   writer is whichever instance AWS made it, so no `writer` attribute is kept:
//!   it would cost a DescribeDBClusters per refresh and change on every failover.
//! - Read: one paged DescribeDBInstances per 100 ids (filter `db-instance-id`),
//!   tags from its `TagList`; no other call unless the scope wants
//!   `parameter_apply_status` (a stack declares it, or import): then one
//!   DescribeDBClusters, so a cluster parameter group waiting for the
//!   instance's reboot reads `pending-reboot` too.
//! - find_created: one paged DescribeDBInstances of the region, matched on
//!   `TagList` ownership tags.
//! - Writes wait (90 min default each) until `available` (with
//!   `apply_immediately`, also until nothing is pending) or gone. Nothing is
//!   sent to a busy cluster or instance: CreateDBInstance waits for the
//!   cluster, ModifyDBInstance and RebootDBInstance for the instance and its
//!   cluster, to be `available`; a refusal as busy (`InvalidDBClusterStateFault`,
//!   `InvalidDBInstanceState`: parallel creates into one cluster) is sent
//!   again for the resource's timeout; after a modify the wait lasts until
//!   the change shows (made, or held for the maintenance window: a held
//!   instance class reads as made), not just until `available`.
//! - Delete: no final snapshot (the cluster's snapshot covers its instances).
//! - In place: instance_class, promotion_tier, parameter group, Performance
//!   Insights, monitoring, auto_minor_version_upgrade, publicly_accessible,
//!   maintenance window, tags. identifier, cluster_identifier, engine and
//!   availability_zone force replacement.
//! - Plan notes: a parameter group waiting for a reboot; changes AWS holds for
//!   the maintenance window. `parameter_apply_status = "in-sync"` in config
//!   turns a pending reboot into a planned change that apply carries out with
//!   RebootDBInstance (docs/cli.md).
//! - Tested where: lifecycle, instance_class change, find_created, import and
//!   delete against moto (tests/it/providers_aurora.rs); Performance Insights
//!   and monitoring changes (moto ignores Performance Insights), waits and
//!   pending values with aws-smithy-mocks below.
//! - Orphan scan (`list_owned`): the region's shared GetResources ([`super::owned`]).
//! - Plan-time checks (`check_planned`, [`super::rds_catalog`]): the class is
//!   offered for the cluster's engine version (for any version while the
//!   cluster is created in the same plan), an existing DB parameter group
//!   named is of its family.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::operation::create_db_instance::builders::CreateDBInstanceFluentBuilder as C;
use aws_sdk_rds::operation::modify_db_instance::builders::ModifyDBInstanceFluentBuilder as M;
use aws_sdk_rds::types::DbInstance as AwsInstance;

use super::owned;
use super::rds::{
    self, CHANGE_SHOWS_WITHIN, Observed, instance_pending_changes, is_not_found, rds_tags, same_kms_key, sync_tags,
    tag_map, validate_identifier, wait_available, wait_change_shows, wait_gone,
};
use super::rds_catalog::{self, Database, GroupKind};
use super::rds_fields::{self, Field, Held, field, held};
use super::{api_error, factory, get_bool, get_str, send_settling, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, NameRule, Ownership, Pricing, Schema};
use crate::provider::waiter::Backoff;
use crate::provider::{
    Ctx, Finding, Owned, PlannedChange, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result,
};
use crate::value::{Attrs, Value};

const ENGINE: &str = "aurora-postgresql";
/// Default wait for create, update and delete (Terraform's).
const TIMEOUT: Duration = Duration::from_secs(90 * 60);

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::computed("endpoint", AttrType::Str),
        Attr::computed("port", AttrType::Int),
        Attr::computed("dbi_resource_id", AttrType::Str),
        // ParameterApplyStatus of the instance's parameter group ("in-sync", "pending-reboot", ...).
        rds::PARAMETER_APPLY_STATUS,
        // Modifications AWS holds for the maintenance window (shown as plan notes).
        Attr::computed("pending_changes", AttrType::Map(&AttrType::Str)),
        Attr::optional("identifier", AttrType::Str)
            .force_new()
            .pattern(Kind::RdsIdentifier)
            .default_name(NameRule::new(63, true, "")),
        Attr::required("cluster_identifier", AttrType::Str).force_new().pattern(Kind::RdsIdentifier),
        Attr::required("instance_class", AttrType::Str).pattern(Kind::InstanceClass),
        Attr::optional("engine", AttrType::Str).force_new().default(Default::Str(ENGINE)).one_of(&[ENGINE]),
        Attr::optional("availability_zone", AttrType::Str).force_new(),
        Attr::optional("promotion_tier", AttrType::Int).default(Default::Int(0)).range(0, 15),
        Attr::optional("db_parameter_group_name", AttrType::Str).pattern(Kind::ParameterGroupRef),
        // The certificate authority of the server certificate (AWS's default when unset).
        Attr::optional("ca_cert_identifier", AttrType::Str),
        Attr::optional("performance_insights_enabled", AttrType::Bool),
        Attr::optional("performance_insights_kms_key_id", AttrType::Str),
        Attr::optional("performance_insights_retention_period", AttrType::Int)
            .pattern(Kind::PerformanceInsightsRetention),
        Attr::optional("monitoring_interval", AttrType::Int).int_one_of(super::db_instance::MONITORING_INTERVALS),
        Attr::optional("monitoring_role_arn", AttrType::Str).pattern(Kind::Arn),
        Attr::optional("auto_minor_version_upgrade", AttrType::Bool).default(Default::Bool(true)),
        Attr::optional("publicly_accessible", AttrType::Bool).default(Default::Bool(false)),
        Attr::optional("preferred_maintenance_window", AttrType::Str).pattern(Kind::MaintenanceWindow),
        Attr::optional("apply_immediately", AttrType::Bool).default(Default::Bool(false)).config_only(),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: true,
    taggable: true,
    ownership: Ownership::indexed("rds:db", "db:").leaving_unnamed(),
    pricing: Pricing::AuroraInstance,
};

const LOWERCASE: &[&str] =
    &["identifier", "cluster_identifier", "engine", "db_parameter_group_name", "preferred_maintenance_window"];

/// The `db_cluster_instance` resource type.
pub struct DbClusterInstance;

/// How DescribeDBInstances reads each attribute, and the CreateDBInstance
/// and ModifyDBInstance setters that take it ([`rds_fields`]).
#[rustfmt::skip]
static FIELDS: &[Field<AwsInstance, C, M>] = &[
    field!("id", |i| i.db_instance_identifier().into()),
    field!("identifier", |i| i.db_instance_identifier().into()),
    field!("arn", |i| i.db_instance_arn().into()),
    field!("endpoint", |i| i.endpoint().and_then(|e| e.address()).into()),
    field!("port", |i| i.endpoint().and_then(|e| e.port()).into()),
    field!("dbi_resource_id", |i| i.dbi_resource_id().into()),
    field!("parameter_apply_status", |i| i.db_parameter_groups().first().and_then(|g| g.parameter_apply_status()).into()),
    field!("cluster_identifier", |i| i.db_cluster_identifier().into(), Str, set_db_cluster_identifier, _),
    field!("instance_class", |i| i.db_instance_class().into(), Str, set_db_instance_class),
    field!("engine", |i| i.engine().into(), Str, set_engine, _),
    field!("availability_zone", |i| i.availability_zone().into(), Str, set_availability_zone, _),
    field!("promotion_tier", |i| i.promotion_tier().into(), Int, set_promotion_tier),
    field!("db_parameter_group_name", |i| i.db_parameter_groups().first().and_then(|g| g.db_parameter_group_name()).into(), Str, set_db_parameter_group_name),
    field!("ca_cert_identifier", |i| i.ca_certificate_identifier().into(), Str, set_ca_certificate_identifier),
    field!("performance_insights_enabled", |i| Value::Bool(i.performance_insights_enabled().unwrap_or(false)), Bool, set_enable_performance_insights, _),
    field!("performance_insights_kms_key_id", |i| i.performance_insights_kms_key_id().into(), Str, set_performance_insights_kms_key_id, _),
    field!("performance_insights_retention_period", |i| i.performance_insights_retention_period().into(), Int, set_performance_insights_retention_period, _),
    field!("monitoring_interval", |i| Value::from(i.monitoring_interval().unwrap_or(0)), Int, set_monitoring_interval, _),
    field!("monitoring_role_arn", |i| i.monitoring_role_arn().into(), Str, set_monitoring_role_arn, _),
    field!("auto_minor_version_upgrade", |i| Value::Bool(i.auto_minor_version_upgrade().unwrap_or(false)), Bool, set_auto_minor_version_upgrade),
    field!("publicly_accessible", |i| Value::Bool(i.publicly_accessible().unwrap_or(false)), Bool, set_publicly_accessible),
    field!("preferred_maintenance_window", |i| i.preferred_maintenance_window().map(str::to_lowercase).into(), Str, set_preferred_maintenance_window),
    field!("tags", |i| Value::from(tag_map(i.tag_list()))),
];

/// A class AWS holds for the maintenance window reads as made (as
/// db_instance reads its held values): the plan after such an apply is
/// empty, and the wait after a modify sees the change it asked for.
static HELD: &[Held<AwsInstance>] =
    &[held!("instance_class", db_instance_class), held!("ca_cert_identifier", ca_certificate_identifier)];

/// Canonical attributes of an instance as AWS describes it ([`FIELDS`]),
/// with every value AWS holds in `pending_changes`; `None` without an identifier.
fn instance_attrs(i: &AwsInstance) -> Option<Attrs> {
    let (mut a, _) = rds_fields::read(FIELDS, HELD, i);
    a.insert("pending_changes".into(), Value::from(instance_pending_changes(i.pending_modified_values())));
    a.contains_key("id").then_some(a)
}

/// One look at instance `id` for a wait; with `settle`, pending values mean "not yet".
async fn observe(client: &Client, id: &str, settle: bool) -> Result<Option<Observed<Attrs>>> {
    rds::observe_instance(client, id, settle, instance_attrs).await
}

async fn wait_ready(client: &Client, ctx: &Ctx, id: &str, settle: bool, backoff: Backoff) -> Result<Attrs> {
    wait_available(ctx, &available(id), TIMEOUT, backoff, || observe(client, id, settle)).await
}

/// What a wait for instance `id` to become available says it waits for.
fn available(id: &str) -> String {
    format!("db_cluster_instance {id} to become available")
}

/// The cluster `attrs` name, waited for until it is available: a member is
/// added, changed or rebooted only then (RDS refuses a busy cluster's).
async fn wait_for_cluster(client: &Client, ctx: &Ctx, attrs: &Attrs, backoff: Backoff) -> Result<()> {
    match get_str(attrs, "cluster_identifier") {
        Some(cluster) => super::db_cluster::wait_until_available(client, ctx, &cluster.to_lowercase(), backoff).await,
        None => Ok(()),
    }
}

/// CreateDBInstance into the cluster once the cluster is available, sent
/// again while RDS says it is busy (instances created in parallel, a
/// backup), then a wait until the instance is available.
async fn create_with(client: &Client, ctx: &Ctx, desired: &Attrs, backoff: Backoff) -> Result<Attrs> {
    let id = get_str(desired, "identifier").unwrap_or_default().to_lowercase();
    validate_identifier("identifier", &id, 63)?;
    wait_for_cluster(client, ctx, desired, backoff).await?;
    let req = rds_fields::create(FIELDS, client.create_db_instance().db_instance_identifier(&id), desired)?
        .set_tags(Some(rds_tags(&tags_of(desired))));
    let busy_within = ctx.timeout.unwrap_or(TIMEOUT);
    send_settling(ctx, "CreateDBInstance", &rds::passing(Some(busy_within)), backoff, || req.clone().send())
        .await
        .map_err(|e| api_error("CreateDBInstance", e))?;
    wait_ready(client, ctx, &id, false, backoff).await
}

/// Carries out the plan's `update`: tags first, then one ModifyDBInstance
/// with the settings it changes (none when only tags or config-only values
/// change), sent once the instance and its cluster are available and again
/// while RDS says either is busy, then a wait until the instance shows the
/// change and is available; last, when the plan changes
/// `parameter_apply_status` to `in-sync`, a reboot (the same waits first)
/// and a wait until the parameter group is applied. Monitoring interval and
/// role go together, as do the Performance Insights settings: AWS checks
/// them as a set ([`rds_fields::instance_insights_and_monitoring`]).
async fn update_with(client: &Client, ctx: &Ctx, id: &str, update: &PlannedUpdate, backoff: Backoff) -> Result<Attrs> {
    let (before, after) = (&update.before, &update.after);
    let tags = tags_of(after);
    if update.changes("tags") {
        let arn = get_str(before, "arn")
            .ok_or_else(|| ProviderError::Invalid(format!("db_cluster_instance {id} has no arn")))?;
        sync_tags(client, arn, &tags_of(before), &tags).await?;
    }

    let apply_immediately = get_bool(after, "apply_immediately") == Some(true);
    let req = client.modify_db_instance().db_instance_identifier(id).apply_immediately(apply_immediately);
    let (req, mut sent) = rds_fields::modify(FIELDS, req, update)?;
    let req = rds_fields::instance_insights_and_monitoring(req, update, &mut sent)?;
    let attrs = if !sent.is_empty() {
        wait_ready(client, ctx, id, false, backoff).await?;
        wait_for_cluster(client, ctx, before, backoff).await?;
        let busy_within = ctx.timeout.unwrap_or(TIMEOUT);
        send_settling(ctx, "ModifyDBInstance", &rds::passing(Some(busy_within)), backoff, || req.clone().send())
            .await
            .map_err(|e| api_error("ModifyDBInstance", e))?;
        let missing = |seen: &Attrs| rds_fields::not_shown(update, &sent, seen);
        let observe = || observe(client, id, apply_immediately);
        wait_change_shows(ctx, &available(id), TIMEOUT, CHANGE_SHOWS_WITHIN, backoff, observe, missing).await?
    } else {
        let mut attrs = before.clone();
        attrs.insert("tags".into(), Value::from(tags));
        attrs
    };
    if !update.changes("parameter_apply_status") {
        return Ok(attrs);
    }
    wait_for_cluster(client, ctx, before, backoff).await?;
    let what = format!("db_cluster_instance {id}");
    rds::reboot_until_parameters_applied(client, ctx, &what, id, TIMEOUT, backoff, || observe(client, id, false)).await
}

/// Sets `parameter_apply_status` to `pending-reboot` on the instances whose
/// cluster parameter group waits for their reboot (one DescribeDBClusters).
async fn mark_cluster_reboots(client: &Client, instances: &mut [Attrs]) -> Result<()> {
    let clusters: BTreeSet<String> =
        instances.iter().filter_map(|a| get_str(a, "cluster_identifier")).map(str::to_owned).collect();
    if clusters.is_empty() {
        return Ok(());
    }
    let clusters: Vec<String> = clusters.into_iter().collect();
    let waiting: BTreeSet<String> = super::db_cluster::describe(client, &clusters)
        .await?
        .iter()
        .flat_map(super::db_cluster::members_pending_reboot)
        .collect();
    for a in instances.iter_mut() {
        if get_str(a, "id").is_some_and(|id| waiting.contains(&id.to_lowercase())) {
            a.insert("parameter_apply_status".into(), Value::str("pending-reboot"));
        }
    }
    Ok(())
}

async fn delete_with(client: &Client, ctx: &Ctx, id: &str, backoff: Backoff) -> Result<()> {
    match client.delete_db_instance().db_instance_identifier(id).skip_final_snapshot(true).send().await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => return Err(api_error("DeleteDBInstance", e)),
    }
    let what = format!("db_cluster_instance {id} to be deleted");
    wait_gone(ctx, &what, TIMEOUT, backoff, || async { Ok(observe(client, id, false).await?.map(|o| o.status)) }).await
}

#[async_trait]
impl ResourceType for DbClusterInstance {
    fn type_name(&self) -> &'static str {
        "db_cluster_instance"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// Lowercase identifiers, group name and maintenance window (as AWS stores them).
    fn normalize(&self, desired: &mut Attrs) {
        rds::normalize(desired, LOWERCASE, &[]);
    }

    /// One DescribeDBInstances; when the scope wants `parameter_apply_status`
    /// (a stack declares it), also one DescribeDBClusters of their clusters,
    /// so a cluster parameter group waiting for a reboot counts too.
    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        let client = factory(ctx)?.rds(&ctx.region).await;
        let mut found: Vec<Attrs> =
            rds::describe_instances(&client, ids).await?.iter().filter_map(instance_attrs).collect();
        if scope.wants("parameter_apply_status") {
            mark_cluster_reboots(&client, &mut found).await?;
        }
        Ok(rds::by_id(ids, found))
    }

    /// A Performance Insights key given by id equals the ARN AWS reports;
    /// parameters being applied are as good as in sync.
    fn suppress_diff(&self, attr: &str, current: &Value, desired: &Value) -> bool {
        match attr {
            "performance_insights_kms_key_id" => same_kms_key(current, desired),
            "parameter_apply_status" => rds::suppress_parameter_status(current, desired),
            _ => false,
        }
    }

    fn notes(&self, current: &Attrs) -> Vec<String> {
        let mut notes = rds::pending_notes(current);
        if get_str(current, "parameter_apply_status") == Some("pending-reboot") {
            let id = get_str(current, "id").unwrap_or("the instance");
            notes.push(format!(
                "parameter changes wait for a reboot of {id}: set `parameter_apply_status = \"in-sync\"` to have \
                 apply reboot it, or reboot it yourself (aws rds reboot-db-instance --db-instance-identifier {id})"
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

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        delete_with(&factory(ctx)?.rds(&ctx.region).await, ctx, id, Backoff::default()).await
    }

    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        rds::find_owned_instance(&factory(ctx)?.rds(&ctx.region).await, ctx, addr).await
    }

    /// From the region's shared tagging index ([`owned::indexed`]).
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        owned::indexed(ctx, self.type_name(), known).await
    }

    /// The instance class is one RDS offers for the cluster's engine version
    /// (any version while the cluster does not exist yet), and an existing
    /// DB parameter group named is of its family ([`rds_catalog`]).
    async fn check_planned(&self, ctx: &Ctx, planned: &[PlannedChange<'_>]) -> Result<Vec<Finding>> {
        rds_catalog::check_databases(ctx, &factory(ctx)?.rds(&ctx.region).await, planned, &CATALOG).await
    }
}

/// Where the plan-time checks find a member's engine, class and parameter group.
pub(super) const CATALOG: Database = Database {
    engine: ENGINE,
    class: Some("instance_class"),
    group: ("db_parameter_group_name", GroupKind::Db),
    version_of_cluster: true,
};

#[cfg(test)]
mod tests {
    use aws_sdk_rds::operation::create_db_instance::{CreateDBInstanceError, CreateDbInstanceOutput};
    use aws_sdk_rds::operation::delete_db_instance::DeleteDbInstanceOutput;
    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput;
    use aws_sdk_rds::operation::reboot_db_instance::RebootDbInstanceOutput;
    use aws_sdk_rds::types::{DbParameterGroupStatus, PendingModifiedValues};
    use aws_smithy_mocks::{Rule, mock};
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;
    use crate::provider::aws::rds::{TEST_BACKOFF, mock_rds, mock_rds_logged, rds_fault, test_ctx};
    use crate::provider::diff::diff_with;

    const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/pi-key";
    const ROLE: &str = "arn:aws:iam::123456789012:role/monitoring";

    /// Reader `main-b` as AWS describes it in `status`.
    fn aws(status: &str, class: &str) -> AwsInstance {
        AwsInstance::builder()
            .db_instance_identifier("main-b")
            .db_instance_arn("arn:aws:rds:us-east-1:123456789012:db:main-b")
            .db_instance_status(status)
            .db_cluster_identifier("main")
            .db_instance_class(class)
            .engine(ENGINE)
            .availability_zone("us-east-1b")
            .promotion_tier(1)
            .db_parameter_groups(
                DbParameterGroupStatus::builder()
                    .db_parameter_group_name("pg16")
                    .parameter_apply_status("in-sync")
                    .build(),
            )
            .auto_minor_version_upgrade(true)
            .publicly_accessible(false)
            .build()
    }

    /// DescribeDBClusters answering `available` for cluster `main`, every time.
    fn cluster_available() -> Rule {
        use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
        mock!(Client::describe_db_clusters).then_output(|| {
            let cluster = aws_sdk_rds::types::DbCluster::builder().db_cluster_identifier("main").status("available");
            DescribeDbClustersOutput::builder().db_clusters(cluster.build()).build()
        })
    }

    fn describes(instances: Vec<Option<AwsInstance>>) -> Rule {
        let mut seq = mock!(Client::describe_db_instances).sequence();
        for i in instances {
            seq = seq.output(move || {
                DescribeDbInstancesOutput::builder().set_db_instances(Some(i.clone().into_iter().collect())).build()
            });
        }
        seq.build()
    }

    fn desired(pairs: &[(&str, Value)]) -> Attrs {
        let mut a: Attrs =
            SCHEMA.attrs.iter().filter_map(|at| Some((at.name.to_owned(), at.default?.value()))).collect();
        a.insert("identifier".into(), Value::str("main-b"));
        a.insert("cluster_identifier".into(), Value::str("main"));
        a.insert("instance_class".into(), Value::str("db.r6g.large"));
        a.insert("promotion_tier".into(), Value::Int(1));
        a.insert("tags".into(), Value::Map(BTreeMap::new()));
        a.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())));
        DbClusterInstance.normalize(&mut a);
        a
    }

    /// The update a plan makes from `prior` to `want`.
    fn planned(prior: &Attrs, want: &Attrs) -> PlannedUpdate {
        DbClusterInstance.planned_update(prior, want, &[])
    }

    /// Every attribute the plan may change in place is sent: by the table,
    /// or by `update_with` itself (tags, the reboot, the insights and
    /// monitoring sets).
    #[test]
    fn every_in_place_change_is_sent() {
        let special = [&["tags", "parameter_apply_status"], rds_fields::INSIGHTS_AND_MONITORING].concat();
        assert_eq!(rds_fields::unsent(&SCHEMA, FIELDS, &special), Vec::<&str>::new());
    }

    /// Performance Insights (moto ignores it) and Enhanced Monitoring go out in
    /// one ModifyDBInstance, each as the pair AWS checks together.
    #[tokio::test]
    async fn performance_insights_and_monitoring_change_in_place() {
        let modify = mock!(Client::modify_db_instance)
            .match_requests(|r| {
                r.db_instance_identifier() == Some("main-b")
                    && r.enable_performance_insights() == Some(true)
                    && r.performance_insights_kms_key_id() == Some("pi-key")
                    && r.performance_insights_retention_period() == Some(7)
                    && r.monitoring_interval() == Some(60)
                    && r.monitoring_role_arn() == Some(ROLE)
                    && r.db_instance_class().is_none()
                    && r.apply_immediately() == Some(false)
            })
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let mut done = aws("available", "db.r6g.large");
        done.performance_insights_enabled = Some(true);
        done.performance_insights_kms_key_id = Some(KEY.into());
        done.performance_insights_retention_period = Some(7);
        done.monitoring_interval = Some(60);
        done.monitoring_role_arn = Some(ROLE.into());
        let describe = describes(vec![
            Some(aws("available", "db.r6g.large")),
            Some(aws("configuring-enhanced-monitoring", "db.r6g.large")),
            Some(done),
        ]);
        let client = mock_rds(&[&modify, &describe, &cluster_available()]);
        let (ctx, reports) = test_ctx();
        let prior = instance_attrs(&aws("available", "db.r6g.large")).unwrap();
        let want = desired(&[
            ("performance_insights_enabled", Value::Bool(true)),
            ("performance_insights_kms_key_id", Value::str("pi-key")),
            ("performance_insights_retention_period", Value::Int(7)),
            ("monitoring_interval", Value::Int(60)),
            ("monitoring_role_arn", Value::str(ROLE)),
        ]);
        let got = update_with(&client, &ctx, "main-b", &planned(&prior, &want), TEST_BACKOFF).await.expect("update");
        assert_eq!((modify.num_calls(), describe.num_calls()), (1, 3));
        assert!(reports.lock().unwrap()[0].contains("configuring-enhanced-monitoring"));
        let config_only = ["apply_immediately".to_owned()];
        let suppress = |n: &str, c: &Value, d: &Value| DbClusterInstance.suppress_diff(n, c, d);
        let left = diff_with(&SCHEMA, &got, &want, &config_only, &suppress);
        assert!(left.is_empty(), "the key id matches the ARN AWS reports: {left:?}");
    }

    fn refused(message: &'static str) -> CreateDBInstanceError {
        CreateDBInstanceError::generic(ErrorMetadata::builder().code("InvalidParameterValue").message(message).build())
    }

    /// A monitoring role IAM has not propagated yet is refused by RDS: the
    /// create is sent again (it made nothing) and reports why; any other
    /// refusal fails at once.
    #[tokio::test]
    async fn a_new_monitoring_role_is_waited_for_and_other_refusals_are_not() {
        const NOT_YET: &str =
            "IAM role ARN value is invalid or does not include the required permissions for: ENHANCED_MONITORING";
        let create = mock!(Client::create_db_instance)
            .match_requests(|r| r.monitoring_role_arn() == Some(ROLE) && r.monitoring_interval() == Some(60))
            .sequence()
            .error(|| refused(NOT_YET))
            .times(2)
            .output(|| CreateDbInstanceOutput::builder().build())
            .build();
        let describe = describes(vec![Some(aws("available", "db.r6g.large"))]);
        let client = mock_rds(&[&create, &describe, &cluster_available()]);
        let (ctx, reports) = test_ctx();
        let want = desired(&[("monitoring_interval", Value::Int(60)), ("monitoring_role_arn", Value::str(ROLE))]);
        create_with(&client, &ctx, &want, TEST_BACKOFF).await.expect("create after the role propagated");
        assert_eq!(create.num_calls(), 3);
        let reports = reports.lock().unwrap().clone();
        assert_eq!(reports.len(), 2, "{reports:?}");
        assert!(
            reports[0].contains("retrying CreateDBInstance") && reports[0].contains("monitoring role"),
            "{reports:?}"
        );

        let create = mock!(Client::create_db_instance).then_error(|| refused("Invalid DB instance class"));
        let client = mock_rds(&[&create, &cluster_available()]);
        let err = create_with(&client, &test_ctx().0, &want, TEST_BACKOFF).await.unwrap_err();
        assert!(err.to_string().contains("Invalid DB instance class"), "{err}");
        assert_eq!(create.num_calls(), 1);
    }

    /// `aws` with its parameter group in `status`.
    fn with_parameters(mut i: AwsInstance, status: &str) -> AwsInstance {
        i.db_parameter_groups = Some(vec![
            DbParameterGroupStatus::builder().db_parameter_group_name("pg16").parameter_apply_status(status).build(),
        ]);
        i
    }

    /// A pending reboot is a change only where the config asks for `in-sync`;
    /// then apply reboots the instance (no ModifyDBInstance) and waits until
    /// the parameter group is applied.
    #[tokio::test]
    async fn a_pending_reboot_is_carried_out_when_the_config_asks_for_in_sync() {
        let suppress = |c: &str, d: &str| {
            DbClusterInstance.suppress_diff("parameter_apply_status", &Value::str(c), &Value::str(d))
        };
        assert!(!suppress("pending-reboot", "in-sync"));
        assert!(suppress("applying", "in-sync") && suppress("in-sync", "in-sync"));
        let pending = instance_attrs(&with_parameters(aws("available", "db.r6g.large"), "pending-reboot")).unwrap();
        assert!(changes_between(&pending, &desired(&[])).is_empty(), "unset, a pending reboot is only a note");
        let want = desired(&[("parameter_apply_status", Value::str("in-sync"))]);
        assert_eq!(changes_between(&pending, &want), vec!["parameter_apply_status"]);
        assert!(DbClusterInstance.notes(&pending)[0].contains("parameter_apply_status = \"in-sync\""));

        let reboot = mock!(Client::reboot_db_instance)
            .match_requests(|r| r.db_instance_identifier() == Some("main-b"))
            .then_output(|| RebootDbInstanceOutput::builder().build());
        let modify = mock!(Client::modify_db_instance).then_output(|| ModifyDbInstanceOutput::builder().build());
        let describe = describes(vec![
            Some(with_parameters(aws("available", "db.r6g.large"), "pending-reboot")),
            Some(with_parameters(aws("rebooting", "db.r6g.large"), "pending-reboot")),
            Some(with_parameters(aws("available", "db.r6g.large"), "pending-reboot")),
            Some(with_parameters(aws("available", "db.r6g.large"), "in-sync")),
        ]);
        let client = mock_rds(&[&reboot, &modify, &describe, &cluster_available()]);
        let (ctx, reports) = test_ctx();
        let got = update_with(&client, &ctx, "main-b", &planned(&pending, &want), TEST_BACKOFF).await.expect("reboot");
        assert_eq!((reboot.num_calls(), modify.num_calls(), describe.num_calls()), (1, 0, 4));
        assert_eq!(got["parameter_apply_status"], Value::str("in-sync"));
        assert!(reports.lock().unwrap().iter().any(|r| r.contains("reboot and apply its parameter group")));
    }

    /// A cluster parameter group waiting for a member's reboot makes that
    /// member read `pending-reboot` (one DescribeDBClusters for all of them).
    #[tokio::test]
    async fn a_cluster_parameter_group_waiting_for_a_reboot_counts_for_its_members() {
        use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
        use aws_sdk_rds::types::{DbCluster, DbClusterMember};

        let member = |id: &str, status: &str| {
            DbClusterMember::builder().db_instance_identifier(id).db_cluster_parameter_group_status(status).build()
        };
        let clusters = mock!(Client::describe_db_clusters).then_output(move || {
            let cluster = DbCluster::builder()
                .db_cluster_identifier("main")
                .db_cluster_members(member("MAIN-B", "pending-reboot"))
                .db_cluster_members(member("main-c", "in-sync"))
                .build();
            DescribeDbClustersOutput::builder().db_clusters(cluster).build()
        });
        let client = mock_rds(&[&clusters]);
        let b = instance_attrs(&aws("available", "db.r6g.large")).unwrap();
        let mut c = b.clone();
        c.insert("id".into(), Value::str("main-c"));
        let mut instances = vec![b, c];
        mark_cluster_reboots(&client, &mut instances).await.expect("read");
        assert_eq!(clusters.num_calls(), 1);
        assert_eq!(instances[0]["parameter_apply_status"], Value::str("pending-reboot"));
        assert_eq!(instances[1]["parameter_apply_status"], Value::str("in-sync"));
    }

    fn changes_between(current: &Attrs, desired: &Attrs) -> Vec<String> {
        let suppress = |n: &str, c: &Value, d: &Value| DbClusterInstance.suppress_diff(n, c, d);
        diff_with(&SCHEMA, current, desired, &["apply_immediately".to_owned()], &suppress)
            .into_iter()
            .map(|c| c.name)
            .collect()
    }

    /// With apply_immediately the wait lasts until AWS has applied the new class.
    #[tokio::test]
    async fn apply_immediately_waits_out_pending_values() {
        let modify = mock!(Client::modify_db_instance)
            .match_requests(|r| r.db_instance_class() == Some("db.r6g.xlarge") && r.apply_immediately() == Some(true))
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let mut pending = aws("available", "db.r6g.large");
        pending.pending_modified_values =
            Some(PendingModifiedValues::builder().db_instance_class("db.r6g.xlarge").build());
        let describe = describes(vec![
            Some(aws("available", "db.r6g.large")),
            Some(pending),
            Some(aws("available", "db.r6g.xlarge")),
        ]);
        let client = mock_rds(&[&modify, &describe, &cluster_available()]);
        let prior = instance_attrs(&aws("available", "db.r6g.large")).unwrap();
        let want =
            desired(&[("instance_class", Value::str("db.r6g.xlarge")), ("apply_immediately", Value::Bool(true))]);
        let got =
            update_with(&client, &test_ctx().0, "main-b", &planned(&prior, &want), TEST_BACKOFF).await.expect("update");
        assert_eq!(describe.num_calls(), 3);
        assert_eq!(got["instance_class"], Value::str("db.r6g.xlarge"));
        assert_eq!(got["pending_changes"], Value::Map(BTreeMap::new()));
    }

    /// RDS's life of a reader, with nothing sent while something is busy:
    /// the create waits for its cluster (still modifying), is refused once
    /// as another instance is added at the same moment (terraform-provider-aws
    /// #50115) and sent again, then waited through `creating`, `backing-up`
    /// and `configuring-enhanced-monitoring`. A new class waits for the
    /// instance and the cluster, is refused once as busy, and the `available`
    /// read right after ModifyDBInstance (AWS's status lags the call) does
    /// not end the wait: only the new class does, after `modifying`.
    #[tokio::test]
    async fn busy_states_are_waited_out_and_nothing_is_sent_meanwhile() {
        use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
        let cluster = |status: &'static str| {
            move || {
                let c = aws_sdk_rds::types::DbCluster::builder().db_cluster_identifier("main").status(status);
                DescribeDbClustersOutput::builder().db_clusters(c.build()).build()
            }
        };
        let clusters = mock!(Client::describe_db_clusters)
            .sequence()
            .output(cluster("modifying"))
            .output(cluster("available"))
            .output(cluster("available"))
            .build();
        let busy = |message: &'static str| move |code: &str| rds_fault(code, message);
        let concurrent = busy("The database cluster has been modified by a concurrent operation.");
        let create = mock!(Client::create_db_instance)
            .match_requests(|r| {
                r.db_cluster_identifier() == Some("main") && r.db_instance_identifier() == Some("main-b")
            })
            .sequence()
            .http_status(400, Some(concurrent(rds::CLUSTER_BUSY)))
            .output(|| CreateDbInstanceOutput::builder().build())
            .build();
        let in_progress = busy("Instance cannot currently be modified due to an in-progress management operation.");
        let modify = mock!(Client::modify_db_instance)
            .match_requests(|r| r.db_instance_class() == Some("db.r6g.xlarge") && r.apply_immediately() == Some(true))
            .sequence()
            .http_status(400, Some(in_progress(rds::INSTANCE_BUSY)))
            .output(|| ModifyDbInstanceOutput::builder().build())
            .build();
        let describe = describes(
            [
                ("creating", "db.r6g.large"),
                ("backing-up", "db.r6g.large"),
                ("configuring-enhanced-monitoring", "db.r6g.large"),
                ("available", "db.r6g.large"),
                ("available", "db.r6g.large"),
                ("available", "db.r6g.large"),
                ("modifying", "db.r6g.large"),
                ("available", "db.r6g.xlarge"),
            ]
            .into_iter()
            .map(|(status, class)| Some(aws(status, class)))
            .collect(),
        );
        let (client, log) = mock_rds_logged(&[&clusters, &create, &modify, &describe]);
        let (ctx, reports) = test_ctx();
        let created = create_with(&client, &ctx, &desired(&[]), TEST_BACKOFF).await.expect("create");
        let want =
            desired(&[("instance_class", Value::str("db.r6g.xlarge")), ("apply_immediately", Value::Bool(true))]);
        let got = update_with(&client, &ctx, "main-b", &planned(&created, &want), TEST_BACKOFF).await.expect("update");
        assert_eq!(got["instance_class"], Value::str("db.r6g.xlarge"));

        let (c, i) = ("DescribeDBClusters", "DescribeDBInstances");
        let (create, modify) = ("CreateDBInstance", "ModifyDBInstance");
        assert_eq!(log.calls(), [c, c, create, create, i, i, i, i, i, c, modify, modify, i, i, i]);
        let cluster_wait = "waiting for db_cluster main to become available";
        let instance_wait = "waiting for db_cluster_instance main-b to become available";
        assert_eq!(
            *reports.lock().unwrap(),
            [
                format!("{cluster_wait} (status: modifying)"),
                "retrying CreateDBInstance after RDS said the cluster is busy with another change".to_owned(),
                format!("{instance_wait} (status: creating)"),
                format!("{instance_wait} (status: backing-up)"),
                format!("{instance_wait} (status: configuring-enhanced-monitoring)"),
                "retrying ModifyDBInstance after RDS said the instance is busy with another change".to_owned(),
                format!("{instance_wait} (status: available, new instance_class not reported yet)"),
                format!("{instance_wait} (status: modifying)"),
            ]
        );
    }

    #[tokio::test]
    async fn delete_skips_the_snapshot_and_waits_until_gone() {
        let delete = mock!(Client::delete_db_instance)
            .match_requests(|r| r.skip_final_snapshot() == Some(true) && r.final_db_snapshot_identifier().is_none())
            .then_output(|| DeleteDbInstanceOutput::builder().build());
        let describe =
            describes(vec![Some(aws("deleting", "db.r6g.large")), Some(aws("deleting", "db.r6g.large")), None]);
        let client = mock_rds(&[&delete, &describe]);
        let (ctx, reports) = test_ctx();
        delete_with(&client, &ctx, "main-b", TEST_BACKOFF).await.expect("delete");
        assert_eq!((delete.num_calls(), describe.num_calls()), (1, 3));
        assert_eq!(reports.lock().unwrap().len(), 2);
    }

    #[test]
    fn notes_tell_about_reboots_and_pending_changes() {
        let mut i = aws("available", "db.r6g.large");
        assert!(DbClusterInstance.notes(&instance_attrs(&i).unwrap()).is_empty());
        i.db_parameter_groups = Some(vec![
            DbParameterGroupStatus::builder()
                .db_parameter_group_name("pg16")
                .parameter_apply_status("pending-reboot")
                .build(),
        ]);
        i.pending_modified_values = Some(PendingModifiedValues::builder().db_instance_class("db.r6g.xlarge").build());
        let notes = DbClusterInstance.notes(&instance_attrs(&i).unwrap());
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("instance_class"), "{notes:?}");
        assert!(notes[1].contains("wait for a reboot") && notes[1].contains("main-b"), "{notes:?}");
    }
}
