//! What RDS offers in a region, read at plan time so that a database or
//! parameter group AWS would refuse fails the plan at its attribute, before
//! anything is created ([`crate::provider::ResourceType::check_planned`]).
//!
//! - Engine versions and their parameter group families: one paged
//!   DescribeDBEngineVersions per region and engine (versions AWS offers for
//!   new databases). A configured version must be listed; a major-only one
//!   ("16") stands for the newest listed minor of that major, as
//!   [`super::rds::engine_version_satisfied`] reads it.
//! - Instance classes: one paged DescribeOrderableDBInstanceOptions per
//!   region, engine and version. When the version is not known at plan (a
//!   cluster member whose cluster is created in the same plan, a replica, an
//!   unset version), one call filtered on the class tells whether any version
//!   of the engine offers it.
//! - Families of existing parameter groups a database names: the region's
//!   groups, listed once ([`ParameterGroupApi::list_groups`]); the engine
//!   version of an existing cluster its member joins: DescribeDBClusters.
//!
//! Every answer is kept in `ctx.shared` for the plan, so `db_cluster`, its
//! instances and the parameter groups share them. Only values known at plan
//! are checked (`Unknown` ones are skipped), and only on creates and on the
//! attributes an update changes: a database keeps running a version AWS no
//! longer offers for new ones.
//!
//! A catalog that cannot be read never refuses a plan: an empty answer, or an
//! answer that is not AWS's (no error code: an endpoint that does not
//! implement DescribeDBEngineVersions, as moto 5.2.5 answers 500), skips the
//! checks silently; a refused read (AccessDenied) skips them with one warning
//! per plan. Such an answer is not retried by the SDK ([`NotAnAwsAnswer`]),
//! so an endpoint without a catalog costs a plan one request; everything
//! else (throttling, AWS's own 5xx, a lost connection) is retried as every
//! call is.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_rds::Client;
use aws_sdk_rds::operation::describe_db_engine_versions::DescribeDBEngineVersionsError;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction, RetryClassifierPriority};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::db_cluster_parameter_group::DbClusterParameterGroup;
use super::db_parameter_group::DbParameterGroup;
use super::parameter_group::{GroupInfo, ParameterGroupApi};
use super::rds::{self, version_parts};
use super::{api_error, error_code};
use crate::diag::did_you_mean;
use crate::provider::{Ctx, Finding, PlannedChange, Refusal, Result};
use crate::value::{Attrs, Value};

/// One engine version RDS offers, with the parameter group family it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineVersion {
    pub version: String,
    pub family: String,
}

/// What DescribeDBEngineVersions lists for one engine in one region.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Sorted by version, oldest first; empty when the catalog is unknown.
    versions: Vec<EngineVersion>,
    /// Why the catalog could not be read, when AWS refused the read.
    unreadable: Option<String>,
    /// Whether the plan was already warned about `unreadable`.
    warned: AtomicBool,
}

/// The AWS error codes of a read the caller is not allowed to make.
const DENIED: &[&str] = &["AccessDenied", "AccessDeniedException", "UnauthorizedOperation"];

/// Forbids the SDK to retry an answer to the catalog read that is not
/// AWS's: a 5xx without an AWS error code, from an endpoint that does not
/// implement DescribeDBEngineVersions (moto 5.2.5). AWS's own 5xx carry a
/// code and stay retried.
#[derive(Debug)]
struct NotAnAwsAnswer;

impl ClassifyRetry for NotAnAwsAnswer {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let codeless = match ctx.output_or_error() {
            Some(Err(e)) => e
                .as_operation_error()
                .and_then(|e| e.downcast_ref::<DescribeDBEngineVersionsError>())
                .is_some_and(|e| e.code().is_none()),
            _ => false,
        };
        if codeless && ctx.response().is_some_and(|r| r.status().is_server_error()) {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "pgstack-catalog-not-an-aws-answer"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

impl Catalog {
    /// A catalog of these versions (any order).
    pub fn of(mut versions: Vec<EngineVersion>) -> Catalog {
        versions.sort_by_key(|a| version_parts(&a.version));
        versions.dedup_by(|a, b| a.version == b.version);
        Catalog { versions, ..Catalog::default() }
    }

    fn unknown(unreadable: Option<String>) -> Catalog {
        Catalog { unreadable, ..Catalog::default() }
    }

    /// Whether there is anything to check against.
    pub fn known(&self) -> bool {
        !self.versions.is_empty()
    }

    /// The offered version a configured one names: itself, or for a
    /// major-only version the newest minor of that major.
    pub fn find(&self, version: &str) -> Option<&EngineVersion> {
        if let Some(v) = self.versions.iter().find(|v| v.version == version) {
            return Some(v);
        }
        let want = version_parts(version)?;
        (want.len() == major_len(&want)).then_some(())?;
        self.versions.iter().rev().find(|v| version_parts(&v.version).is_some_and(|p| p.starts_with(&want)))
    }

    /// The newest version on offer.
    pub fn newest(&self) -> Option<&EngineVersion> {
        self.versions.last()
    }

    /// Every family the listed versions take.
    pub fn families(&self) -> BTreeSet<&str> {
        self.versions.iter().map(|v| v.family.as_str()).collect()
    }

    /// The refusal of `version`, which [`Catalog::find`] does not know.
    pub fn version_refusal(&self, engine: &str, version: &str, region: &str) -> Refusal {
        let newest_first: Vec<&str> = self.versions.iter().rev().map(|v| v.version.as_str()).collect();
        let mut r = Refusal::new(format!(
            "asks for engine_version {version}, which RDS does not offer for {engine} in {region}"
        ))
        .on("engine_version");
        if let Some(near) = did_you_mean(version, newest_first.iter().copied()) {
            r = r.hint(format!("did you mean {near}?"));
        }
        let major = version_parts(version).map(|p| p[..major_len(&p).min(p.len())].to_vec());
        let same_major: Vec<&str> = self
            .versions
            .iter()
            .filter(|v| major.as_ref().is_some_and(|m| version_parts(&v.version).is_some_and(|p| p.starts_with(m))))
            .map(|v| v.version.as_str())
            .collect();
        if same_major.is_empty() {
            let majors: BTreeSet<String> = self.versions.iter().filter_map(|v| major_of(&v.version)).collect();
            let mut majors: Vec<String> = majors.into_iter().collect();
            majors.sort_by_key(|m| version_parts(m));
            r.hint(format!("major versions on offer: {}", majors.join(", ")))
        } else {
            r.hint(format!("versions of that major on offer: {}", same_major.join(", ")))
        }
    }
}

/// How many leading parts make a PostgreSQL major version: two before 10 ("9.6"), one since.
fn major_len(parts: &[u64]) -> usize {
    if parts.first().is_some_and(|m| *m < 10) { 2 } else { 1 }
}

/// The major version of `version` as written ("16", "9.6").
fn major_of(version: &str) -> Option<String> {
    let parts = version_parts(version)?;
    let n = major_len(&parts).min(parts.len());
    Some(parts[..n].iter().map(u64::to_string).collect::<Vec<_>>().join("."))
}

/// The value of `attr` when it is a string known at plan.
fn known_str<'a>(attrs: &'a Attrs, attr: &str) -> Option<&'a str> {
    match attrs.get(attr) {
        Some(Value::Str(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// Whether `change` sets `attr` to something new: a create, or an update
/// whose value differs from the current one.
fn sets(change: &PlannedChange<'_>, attr: &str) -> bool {
    let Some(current) = change.current.filter(|_| !change.creates) else { return true };
    match (known_str(current, attr), known_str(change.desired, attr)) {
        (Some(c), Some(d)) if attr == "engine_version" => !rds::engine_version_satisfied(c, d),
        (c, d) => c != d,
    }
}

/// The engine's catalog in `ctx.region`, read once per plan.
pub async fn catalog(ctx: &Ctx, client: &Client, engine: &str) -> Result<std::sync::Arc<Catalog>> {
    let key = format!("aws:rds:engine-versions:{}:{engine}", ctx.region);
    ctx.shared.get_or_try_init(&key, || read_catalog(client, engine)).await
}

/// DescribeDBEngineVersions of `engine`, all pages; an answer that is not
/// AWS's is not retried ([`NotAnAwsAnswer`]).
async fn read_catalog(client: &Client, engine: &str) -> Result<Catalog> {
    let mut versions = Vec::new();
    let mut marker = None;
    loop {
        let answer = client
            .describe_db_engine_versions()
            .engine(engine)
            .set_marker(marker.take())
            .customize()
            .config_override(aws_sdk_rds::config::Builder::default().retry_classifier(NotAnAwsAnswer))
            .send()
            .await;
        let page = match answer {
            Ok(page) => page,
            Err(e) => {
                let service = e.as_service_error().is_some();
                return match error_code(&e) {
                    None if service => Ok(Catalog::unknown(None)),
                    Some(code) if DENIED.contains(&code) => {
                        let message = e.as_service_error().and_then(|s| s.message()).unwrap_or_default();
                        Ok(Catalog::unknown(Some(format!("DescribeDBEngineVersions: {code}: {message}"))))
                    }
                    _ => Err(api_error("DescribeDBEngineVersions", e)),
                };
            }
        };
        versions.extend(page.db_engine_versions().iter().filter_map(|v| {
            Some(EngineVersion {
                version: v.engine_version()?.to_owned(),
                family: v.db_parameter_group_family()?.to_owned(),
            })
        }));
        match page.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => return Ok(Catalog::of(versions)),
        }
    }
}

/// The instance classes RDS offers for `engine` at exactly `version` in
/// `ctx.region`, read once per plan; empty when AWS lists none.
async fn classes(ctx: &Ctx, client: &Client, engine: &str, version: &str) -> Result<std::sync::Arc<BTreeSet<String>>> {
    let key = format!("aws:rds:orderable:{}:{engine}:{version}", ctx.region);
    ctx.shared
        .get_or_try_init(&key, || async {
            let options: Vec<aws_sdk_rds::types::OrderableDbInstanceOption> = client
                .describe_orderable_db_instance_options()
                .engine(engine)
                .engine_version(version)
                .max_records(1000)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| api_error("DescribeOrderableDBInstanceOptions", e))?;
            Ok(options.iter().filter_map(|o| o.db_instance_class().map(str::to_owned)).collect())
        })
        .await
}

/// Whether any version of `engine` offers `class` in `ctx.region` (one
/// filtered page), read once per plan.
async fn offered_anywhere(ctx: &Ctx, client: &Client, engine: &str, class: &str) -> Result<bool> {
    let key = format!("aws:rds:orderable-class:{}:{engine}:{class}", ctx.region);
    let offered = ctx
        .shared
        .get_or_try_init(&key, || async {
            let page = client
                .describe_orderable_db_instance_options()
                .engine(engine)
                .db_instance_class(class)
                .max_records(20)
                .send()
                .await
                .map_err(|e| api_error("DescribeOrderableDBInstanceOptions", e))?;
            Ok(!page.orderable_db_instance_options().is_empty())
        })
        .await?;
    Ok(*offered)
}

/// Which kind of parameter group a database names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    Db,
    Cluster,
}

/// The families of the region's groups of `kind`, by lowercase name, listed once per plan.
async fn group_families(
    ctx: &Ctx,
    client: &Client,
    kind: GroupKind,
) -> Result<std::sync::Arc<BTreeMap<String, String>>> {
    let key = format!("aws:rds:group-families:{}:{kind:?}", ctx.region);
    ctx.shared
        .get_or_try_init(&key, || async {
            let groups: Vec<GroupInfo> = match kind {
                GroupKind::Db => DbParameterGroup.list_groups(client).await?,
                GroupKind::Cluster => DbClusterParameterGroup.list_groups(client).await?,
            };
            Ok(groups.into_iter().filter_map(|g| Some((g.name.to_lowercase(), g.family?))).collect())
        })
        .await
}

/// The engine version an existing cluster runs; `None` when it does not
/// exist (yet). Read once per plan and cluster.
async fn cluster_version(ctx: &Ctx, client: &Client, cluster: &str) -> Result<std::sync::Arc<Option<String>>> {
    let id = cluster.to_lowercase();
    let key = format!("aws:rds:cluster-version:{}:{id}", ctx.region);
    ctx.shared
        .get_or_try_init(&key, || async {
            let found = super::db_cluster::describe(client, std::slice::from_ref(&id)).await?;
            Ok(found
                .iter()
                .find(|c| c.db_cluster_identifier().is_some_and(|i| i.eq_ignore_ascii_case(&id)))
                .and_then(|c| c.engine_version().map(str::to_owned)))
        })
        .await
}

/// Where a database type finds what the checks need.
#[derive(Debug, Clone, Copy)]
pub struct Database {
    /// The engine when the config leaves `engine` to its default.
    pub engine: &'static str,
    /// The attribute naming the instance class, for types that have one.
    pub class: Option<&'static str>,
    /// The attribute naming a parameter group, and its kind.
    pub group: (&'static str, GroupKind),
    /// The engine version is the cluster's (`cluster_identifier`), not an attribute.
    pub version_of_cluster: bool,
}

/// The refusal of an instance class the engine (at `version`, when known) does not offer.
fn class_refusal(
    attr: &'static str,
    class: &str,
    engine: &str,
    version: Option<&str>,
    offered: &BTreeSet<String>,
    region: &str,
) -> Refusal {
    let at = version.map_or_else(|| format!("{engine} (any version)"), |v| format!("{engine} {v}"));
    let mut r =
        Refusal::new(format!("asks for {attr} {class}, which RDS does not offer for {at} in {region}")).on(attr);
    if let Some(near) = did_you_mean(class, offered.iter().map(String::as_str)) {
        r = r.hint(format!("did you mean {near}?"));
    }
    if !offered.is_empty() {
        let list: Vec<&str> = offered.iter().map(String::as_str).collect();
        let of = version.map_or_else(|| format!("{engine} (newest version)"), |v| format!("{engine} {v}"));
        r = r.hint(format!("classes on offer for {of}: {}", list.join(", ")));
    }
    r
}

/// What AWS says about planned databases of one type ([`Database`]): the
/// engine version is offered, the instance class is offered for it, and an
/// existing parameter group named is of the version's family.
pub async fn check_databases(
    ctx: &Ctx,
    client: &Client,
    planned: &[PlannedChange<'_>],
    spec: &Database,
) -> Result<Vec<Finding>> {
    let mut found = Vec::new();
    for change in planned {
        let checked = [Some("engine_version"), spec.class, Some(spec.group.0)];
        if !checked.into_iter().flatten().any(|attr| sets(change, attr)) {
            continue;
        }
        let desired = change.desired;
        let engine = known_str(desired, "engine").unwrap_or(spec.engine);
        let own_version = if spec.version_of_cluster { None } else { known_str(desired, "engine_version") };
        let catalog = catalog(ctx, client, engine).await?;
        if !catalog.known() {
            if let Some(why) = &catalog.unreadable
                && !catalog.warned.swap(true, Ordering::SeqCst)
            {
                found.push(unreadable_warning(change, why, &ctx.region));
            }
            continue;
        }
        let refuse = |refusal: Refusal| Finding { addr: change.addr.clone(), refusal, warning: false };
        if let Some(v) = own_version.filter(|_| sets(change, "engine_version"))
            && catalog.find(v).is_none()
        {
            found.push(refuse(catalog.version_refusal(engine, v, &ctx.region)));
            continue;
        }
        // The version the database runs after the change, as AWS lists it.
        let version: Option<String> = if spec.version_of_cluster {
            match known_str(desired, "cluster_identifier") {
                Some(cluster) => (*cluster_version(ctx, client, cluster).await?).clone(),
                None => None,
            }
        } else {
            own_version.or_else(|| change.current.and_then(|c| known_str(c, "engine_version"))).map(str::to_owned)
        };
        let offered = version.as_deref().and_then(|v| catalog.find(v)).cloned();
        let version_moves = !spec.version_of_cluster && sets(change, "engine_version");
        if let Some(attr) = spec.class
            && let Some(class) = known_str(desired, attr)
            && (sets(change, attr) || version_moves)
        {
            match &offered {
                Some(v) => {
                    let on_offer = classes(ctx, client, engine, &v.version).await?;
                    if !on_offer.is_empty() && !on_offer.contains(class) {
                        found.push(refuse(class_refusal(
                            attr,
                            class,
                            engine,
                            Some(&v.version),
                            &on_offer,
                            &ctx.region,
                        )));
                    }
                }
                None if !offered_anywhere(ctx, client, engine, class).await? => {
                    let newest = match catalog.newest() {
                        Some(v) => (*classes(ctx, client, engine, &v.version).await?).clone(),
                        None => BTreeSet::new(),
                    };
                    found.push(refuse(class_refusal(attr, class, engine, None, &newest, &ctx.region)));
                }
                None => {}
            }
        }
        let (group_attr, kind) = spec.group;
        if let (Some(v), Some(group)) = (&offered, known_str(desired, group_attr))
            && (sets(change, group_attr) || version_moves)
            && let Some(family) = group_families(ctx, client, kind).await?.get(&group.to_lowercase())
            && *family != v.family
        {
            let what = match kind {
                GroupKind::Db => "a DB parameter group",
                GroupKind::Cluster => "a DB cluster parameter group",
            };
            let on = if sets(change, group_attr) { group_attr } else { "engine_version" };
            found.push(refuse(
                Refusal::new(format!(
                    "names {group_attr} {group}, a group of family {family}, but {engine} {} takes family {}",
                    v.version, v.family
                ))
                .on(on)
                .hint(format!("name {what} of family {} (a new group: a group's family cannot change)", v.family)),
            ));
        }
    }
    Ok(found)
}

/// The one warning of a plan whose RDS catalog AWS refused to read.
fn unreadable_warning(change: &PlannedChange<'_>, why: &str, region: &str) -> Finding {
    let refusal = Refusal::new(format!(
        "and the other RDS changes of this plan were not checked against what RDS offers in {region} ({why})"
    ))
    .hint(
        "allow rds:DescribeDBEngineVersions and rds:DescribeOrderableDBInstanceOptions to have plans check engine \
         versions, instance classes and parameter group families",
    );
    Finding { addr: change.addr.clone(), refusal, warning: true }
}

/// The engines whose families a parameter group family may be: by its prefix.
fn engines_of(family: &str) -> &'static [&'static str] {
    if family.starts_with("aurora-postgresql") {
        &["aurora-postgresql"]
    } else if family.starts_with("postgres") {
        &["postgres"]
    } else {
        &["postgres", "aurora-postgresql"]
    }
}

/// What AWS says about planned parameter groups: `family` is one RDS offers
/// for PostgreSQL or Aurora PostgreSQL. A family of another engine
/// ("mysql8.0") is left to AWS unless it is a near miss of one.
pub async fn check_families(ctx: &Ctx, client: &Client, planned: &[PlannedChange<'_>]) -> Result<Vec<Finding>> {
    let mut found = Vec::new();
    for change in planned.iter().filter(|c| c.creates) {
        let Some(family) = known_str(change.desired, "family") else { continue };
        let mut families: BTreeSet<String> = BTreeSet::new();
        let mut unreadable = None;
        for engine in engines_of(family) {
            let catalog = catalog(ctx, client, engine).await?;
            families.extend(catalog.families().into_iter().map(str::to_owned));
            if let Some(why) = &catalog.unreadable
                && !catalog.warned.swap(true, Ordering::SeqCst)
            {
                unreadable = Some(unreadable_warning(change, why, &ctx.region));
            }
        }
        found.extend(unreadable);
        if families.is_empty() || families.contains(family) {
            continue;
        }
        let near = did_you_mean(family, families.iter().map(String::as_str));
        let ours = family.starts_with("postgres") || family.starts_with("aurora-postgresql");
        if !ours && near.is_none() {
            continue;
        }
        let mut r =
            Refusal::new(format!("asks for family {family}, which RDS does not offer in {}", ctx.region)).on("family");
        if let Some(near) = near {
            r = r.hint(format!("did you mean {near}?"));
        }
        let list: Vec<&str> = families.iter().map(String::as_str).collect();
        found.push(Finding {
            addr: change.addr.clone(),
            refusal: r.hint(format!("families on offer: {}", list.join(", "))),
            warning: false,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use aws_sdk_rds::operation::describe_db_cluster_parameter_groups::DescribeDbClusterParameterGroupsOutput;
    use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
    use aws_sdk_rds::operation::describe_db_engine_versions::DescribeDbEngineVersionsOutput;
    use aws_sdk_rds::operation::describe_orderable_db_instance_options::DescribeOrderableDbInstanceOptionsOutput;
    use aws_sdk_rds::types::{
        DbCluster, DbClusterParameterGroup as AwsClusterGroup, DbEngineVersion, OrderableDbInstanceOption,
    };
    use aws_smithy_mocks::{Rule, mock};

    use super::*;
    use crate::addr::ResourceAddr;
    use crate::provider::Shared;
    use crate::provider::aws::rds::{mock_rds_logged, rds_fault, test_ctx};

    const AURORA: &[(&str, &str)] = &[
        ("15.8", "aurora-postgresql15"),
        ("16.2", "aurora-postgresql16"),
        ("16.4", "aurora-postgresql16"),
        ("16.6", "aurora-postgresql16"),
        ("17.2", "aurora-postgresql17"),
    ];
    const POSTGRES: &[(&str, &str)] = &[("16.4", "postgres16"), ("16.6", "postgres16"), ("17.2", "postgres17")];

    /// DescribeDBEngineVersions of `engine` listing `versions`, in two pages.
    fn versions(engine: &'static str, versions: &'static [(&str, &str)]) -> Rule {
        let page = move |items: &[(&str, &str)], marker: Option<&str>| {
            let listed = items.iter().map(|(v, f)| {
                DbEngineVersion::builder().engine(engine).engine_version(*v).db_parameter_group_family(*f).build()
            });
            DescribeDbEngineVersionsOutput::builder()
                .set_db_engine_versions(Some(listed.collect()))
                .set_marker(marker.map(str::to_owned))
                .build()
        };
        let (first, rest) = versions.split_at(versions.len() / 2);
        mock!(Client::describe_db_engine_versions)
            .match_requests(move |r| r.engine() == Some(engine))
            .sequence()
            .output(move || page(first, Some("page-2")))
            .output(move || page(rest, None))
            .build()
    }

    /// DescribeOrderableDBInstanceOptions of `engine` at `version` offering `classes`.
    fn orderable(engine: &'static str, version: &'static str, classes: &'static [&'static str]) -> Rule {
        mock!(Client::describe_orderable_db_instance_options)
            .match_requests(move |r| r.engine() == Some(engine) && r.engine_version() == Some(version))
            .then_output(move || {
                let options =
                    classes.iter().map(|c| OrderableDbInstanceOption::builder().db_instance_class(*c).build());
                DescribeOrderableDbInstanceOptionsOutput::builder()
                    .set_orderable_db_instance_options(Some(options.collect()))
                    .build()
            })
    }

    const CLASSES: &[&str] = &["db.r6g.2xlarge", "db.r6g.large", "db.r6g.xlarge", "db.t4g.medium"];

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn addr(s: &str) -> ResourceAddr {
        s.parse().unwrap()
    }

    fn create<'a>(addr: &'a ResourceAddr, desired: &'a Attrs) -> PlannedChange<'a> {
        PlannedChange { addr, creates: true, desired, current: None }
    }

    fn reasons(found: &[Finding]) -> Vec<(String, Option<&'static str>, Vec<String>)> {
        found.iter().map(|f| (f.refusal.reason.clone(), f.refusal.attr, f.refusal.hints.clone())).collect()
    }

    fn shared_ctx() -> Ctx {
        test_ctx().0.with_shared(Shared::new())
    }

    /// A version RDS does not offer is refused at `engine_version` with the
    /// nearest one and the versions of its major; a major-only version
    /// stands for the newest minor, whose classes are then checked.
    #[tokio::test]
    async fn engine_versions_must_be_on_offer() {
        let (client, log) =
            mock_rds_logged(&[&versions("postgres", POSTGRES), &orderable("postgres", "16.6", CLASSES)]);
        let ctx = shared_ctx();
        let (a, b) = (addr("db_instance.a"), addr("db_instance.b"));
        let typo = attrs(&[("engine_version", Value::str("16.9")), ("instance_class", Value::str("db.r6g.large"))]);
        let major = attrs(&[("engine_version", Value::str("16")), ("instance_class", Value::str("db.r6g.large"))]);
        let found = check_databases(
            &ctx,
            &client,
            &[create(&a, &typo), create(&b, &major)],
            &super::super::db_instance::CATALOG,
        )
        .await
        .unwrap();
        assert_eq!(
            reasons(&found),
            [(
                "asks for engine_version 16.9, which RDS does not offer for postgres in us-east-1".to_owned(),
                Some("engine_version"),
                vec!["did you mean 16.6?".to_owned(), "versions of that major on offer: 16.4, 16.6".to_owned()]
            )]
        );
        assert_eq!(found[0].addr, a);
        let (v, o) = ("DescribeDBEngineVersions", "DescribeOrderableDBInstanceOptions");
        assert_eq!(log.calls(), [v, v, o], "two pages of versions, read once for both; classes of 16.6 for `16`");

        let unknown_major = attrs(&[("engine_version", Value::str("61.4"))]);
        let found = check_databases(&ctx, &client, &[create(&a, &unknown_major)], &super::super::db_instance::CATALOG)
            .await
            .unwrap();
        assert_eq!(found[0].refusal.hints, ["did you mean 16.4?", "major versions on offer: 16, 17"]);
    }

    /// A class the version does not offer is refused at `instance_class`
    /// with the nearest class and the list; a class of a version the plan
    /// does not change is not checked again.
    #[tokio::test]
    async fn instance_classes_must_be_offered_for_the_version() {
        let (client, log) =
            mock_rds_logged(&[&versions("postgres", POSTGRES), &orderable("postgres", "16.4", CLASSES)]);
        let ctx = shared_ctx();
        let a = addr("db_instance.main");
        let typo = attrs(&[("engine_version", Value::str("16.4")), ("instance_class", Value::str("db.r6g.larg"))]);
        let found =
            check_databases(&ctx, &client, &[create(&a, &typo)], &super::super::db_instance::CATALOG).await.unwrap();
        assert_eq!(
            reasons(&found),
            [(
                "asks for instance_class db.r6g.larg, which RDS does not offer for postgres 16.4 in us-east-1"
                    .to_owned(),
                Some("instance_class"),
                vec![
                    "did you mean db.r6g.large?".to_owned(),
                    format!("classes on offer for postgres 16.4: {}", CLASSES.join(", ")),
                ]
            )]
        );
        // An update that changes only the backups of an instance on a class
        // AWS no longer offers for new instances: nothing to refuse.
        let current = attrs(&[("engine_version", Value::str("16.4")), ("instance_class", Value::str("db.m1.small"))]);
        let mut desired = current.clone();
        desired.insert("backup_retention_period".into(), Value::Int(7));
        let update = PlannedChange { addr: &a, creates: false, desired: &desired, current: Some(&current) };
        let calls = log.calls().len();
        let found = check_databases(&shared_ctx(), &client, &[update], &super::super::db_instance::CATALOG).await;
        assert!(found.unwrap().is_empty());
        assert_eq!(log.calls().len(), calls, "nothing checked changes: no call");
    }

    /// A member's class is checked against its existing cluster's version;
    /// while the cluster is planned too (its id unknown), against any
    /// version of the engine, with the newest version's classes as choices.
    #[tokio::test]
    async fn a_cluster_member_s_class_follows_its_cluster() {
        let cluster = mock!(Client::describe_db_clusters).then_output(|| {
            let c = DbCluster::builder().db_cluster_identifier("main").engine_version("16.2").build();
            DescribeDbClustersOutput::builder().db_clusters(c).build()
        });
        let anywhere = mock!(Client::describe_orderable_db_instance_options)
            .match_requests(|r| r.db_instance_class() == Some("db.r6g.huge") && r.engine_version().is_none())
            .then_output(|| DescribeOrderableDbInstanceOptionsOutput::builder().build());
        let (client, log) = mock_rds_logged(&[
            &versions("aurora-postgresql", AURORA),
            &cluster,
            &orderable("aurora-postgresql", "16.2", &["db.r6g.large"]),
            &orderable("aurora-postgresql", "17.2", CLASSES),
            &anywhere,
        ]);
        let ctx = shared_ctx();
        let spec = &super::super::db_cluster_instance::CATALOG;
        let a = addr("db_cluster_instance.reader");
        let joining =
            attrs(&[("cluster_identifier", Value::str("main")), ("instance_class", Value::str("db.r6g.xlarge"))]);
        let found = check_databases(&ctx, &client, &[create(&a, &joining)], spec).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].refusal.reason,
            "asks for instance_class db.r6g.xlarge, which RDS does not offer for aurora-postgresql 16.2 in us-east-1"
        );
        let fresh = attrs(&[("cluster_identifier", Value::Unknown), ("instance_class", Value::str("db.r6g.huge"))]);
        let found = check_databases(&ctx, &client, &[create(&a, &fresh)], spec).await.unwrap();
        assert_eq!(
            found[0].refusal.reason,
            "asks for instance_class db.r6g.huge, which RDS does not offer for aurora-postgresql (any version) in us-east-1"
        );
        assert!(found[0].refusal.hints[1].starts_with("classes on offer for aurora-postgresql (newest version): "));
        assert_eq!(anywhere.num_calls(), 1);
        assert!(log.calls().iter().filter(|c| *c == "DescribeDBClusters").count() == 1);
    }

    /// A major upgrade that keeps a cluster parameter group of the old
    /// family is refused at `engine_version`; a new cluster naming a group
    /// of another family, at the group.
    #[tokio::test]
    async fn an_existing_group_must_be_of_the_version_s_family() {
        let groups = mock!(Client::describe_db_cluster_parameter_groups).then_output(|| {
            let g = AwsClusterGroup::builder()
                .db_cluster_parameter_group_name("main-cluster")
                .db_parameter_group_family("aurora-postgresql16")
                .build();
            DescribeDbClusterParameterGroupsOutput::builder().db_cluster_parameter_groups(g).build()
        });
        let (client, _) = mock_rds_logged(&[&versions("aurora-postgresql", AURORA), &groups]);
        let ctx = shared_ctx();
        let spec = &super::super::db_cluster::CATALOG;
        let a = addr("db_cluster.main");
        let current = attrs(&[
            ("engine_version", Value::str("16.4")),
            ("db_cluster_parameter_group_name", Value::str("main-cluster")),
        ]);
        let mut upgraded = current.clone();
        upgraded.insert("engine_version".into(), Value::str("17.2"));
        let update = PlannedChange { addr: &a, creates: false, desired: &upgraded, current: Some(&current) };
        let found = check_databases(&ctx, &client, &[update], spec).await.unwrap();
        assert_eq!(
            reasons(&found),
            [(
                "names db_cluster_parameter_group_name main-cluster, a group of family aurora-postgresql16, but \
                 aurora-postgresql 17.2 takes family aurora-postgresql17"
                    .to_owned(),
                Some("engine_version"),
                vec![
                    "name a DB cluster parameter group of family aurora-postgresql17 (a new group: a group's family \
                     cannot change)"
                        .to_owned()
                ]
            )]
        );
        let fine = attrs(&[
            ("engine_version", Value::str("16")),
            ("db_cluster_parameter_group_name", Value::str("MAIN-CLUSTER")),
        ]);
        assert!(check_databases(&ctx, &client, &[create(&a, &fine)], spec).await.unwrap().is_empty());
        let new_group =
            attrs(&[("engine_version", Value::str("17.2")), ("db_cluster_parameter_group_name", Value::Unknown)]);
        assert!(
            check_databases(&ctx, &client, &[create(&a, &new_group)], spec).await.unwrap().is_empty(),
            "a group created in the same plan is not known yet"
        );
    }

    /// A family RDS does not offer is refused with the nearest one; a
    /// family of another engine is left to AWS.
    #[tokio::test]
    async fn parameter_group_families_must_be_on_offer() {
        let (client, log) = mock_rds_logged(&[&versions("aurora-postgresql", AURORA), &versions("postgres", POSTGRES)]);
        let ctx = shared_ctx();
        let (a, b, c) = (addr("db_parameter_group.a"), addr("db_parameter_group.b"), addr("db_parameter_group.c"));
        let typo = attrs(&[("family", Value::str("aurora-postgresql17.2"))]);
        let fine = attrs(&[("family", Value::str("postgres17"))]);
        let other = attrs(&[("family", Value::str("mysql8.0"))]);
        let found =
            check_families(&ctx, &client, &[create(&a, &typo), create(&b, &fine), create(&c, &other)]).await.unwrap();
        assert_eq!(
            reasons(&found),
            [(
                "asks for family aurora-postgresql17.2, which RDS does not offer in us-east-1".to_owned(),
                Some("family"),
                vec![
                    "did you mean aurora-postgresql17?".to_owned(),
                    "families on offer: aurora-postgresql15, aurora-postgresql16, aurora-postgresql17".to_owned()
                ]
            )]
        );
        assert_eq!(log.calls().len(), 4, "two pages per engine, each read once: {:?}", log.calls());
    }

    /// An endpoint without the catalog (moto answers DescribeDBEngineVersions
    /// with a 500 and no AWS error code) and an empty catalog refuse nothing
    /// and say nothing; a read AWS refuses says so once per plan.
    #[tokio::test]
    async fn a_catalog_that_cannot_be_read_refuses_nothing() {
        let a = addr("db_instance.main");
        let desired = attrs(&[("engine_version", Value::str("99.9")), ("instance_class", Value::str("db.nope"))]);
        let spec = &super::super::db_instance::CATALOG;

        let unimplemented = mock!(Client::describe_db_engine_versions).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(500).unwrap(),
                aws_smithy_types::body::SdkBody::from("<!doctype html><title>500 Internal Server Error</title>"),
            )
        });
        let (client, log) = mock_rds_logged(&[&unimplemented]);
        let found = check_databases(&shared_ctx(), &client, &[create(&a, &desired)], spec).await.unwrap();
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(log.calls(), ["DescribeDBEngineVersions"], "no other catalog call");

        let empty = mock!(Client::describe_db_engine_versions)
            .then_output(|| DescribeDbEngineVersionsOutput::builder().build());
        let (client, _) = mock_rds_logged(&[&empty]);
        assert!(check_databases(&shared_ctx(), &client, &[create(&a, &desired)], spec).await.unwrap().is_empty());

        let denied = mock!(Client::describe_db_engine_versions).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
                aws_smithy_types::body::SdkBody::from(rds_fault("AccessDenied", "not authorized")),
            )
        });
        let (client, _) = mock_rds_logged(&[&denied]);
        let ctx = shared_ctx();
        let b = addr("db_instance.replica");
        let found = check_databases(&ctx, &client, &[create(&a, &desired), create(&b, &desired)], spec).await.unwrap();
        assert_eq!(found.len(), 1, "one warning for the plan: {found:?}");
        assert!(found[0].warning);
        assert!(
            found[0].refusal.reason.contains("(DescribeDBEngineVersions: AccessDenied: not authorized)"),
            "{found:?}"
        );
        let family = attrs(&[("family", Value::str("postgres99"))]);
        let groups = check_families(&ctx, &client, &[create(&a, &family)]).await.unwrap();
        assert!(groups.is_empty(), "the plan was warned already: {groups:?}");
    }

    /// Values known only at apply are not checked, and make no call.
    #[tokio::test]
    async fn unknown_values_are_skipped() {
        let (client, log) = mock_rds_logged(&[&versions("postgres", POSTGRES)]);
        let a = addr("db_instance.main");
        let desired = attrs(&[("engine_version", Value::Unknown), ("instance_class", Value::Unknown)]);
        let found =
            check_databases(&shared_ctx(), &client, &[create(&a, &desired)], &super::super::db_instance::CATALOG)
                .await
                .unwrap();
        assert!(found.is_empty());
        assert!(log.calls().iter().all(|c| c == "DescribeDBEngineVersions"), "{:?}", log.calls());
    }

    #[test]
    fn major_only_versions_stand_for_the_newest_minor() {
        let catalog = Catalog::of(
            [("9.6.22", "postgres9.6"), ("9.6.20", "postgres9.6"), ("16.4", "postgres16")]
                .iter()
                .map(|(v, f)| EngineVersion { version: (*v).into(), family: (*f).into() })
                .collect(),
        );
        assert_eq!(catalog.find("9.6").map(|v| v.version.as_str()), Some("9.6.22"));
        assert_eq!(catalog.find("16").map(|v| v.family.as_str()), Some("postgres16"));
        assert_eq!(catalog.find("16.5"), None);
        assert_eq!(catalog.find("9"), None, "9 is not a major before 10");
        assert_eq!(catalog.newest().map(|v| v.version.as_str()), Some("16.4"));
    }
}
