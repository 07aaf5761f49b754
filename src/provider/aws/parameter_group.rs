//! What `db_parameter_group` and `db_cluster_parameter_group` share: schema,
//! normalizing, reading parameters, choosing apply methods, chunked Modify and
//! Reset calls, delete retries and adoption. The two type files only hold their
//! own API calls ([`ParameterGroupApi`]); every type implementing it is a
//! [`ResourceType`].
//!
//! - Id: the group name, which AWS stores in lowercase (`normalize` lowercases it).
//! - `parameters` (name → value, strings) holds only the parameters the user set:
//!   reads ask for `Source=user`, so AWS's defaults never show up as a diff.
//!   Values are compared as exact strings (AWS returns them as written). TOML
//!   numbers and booleans become strings; a boolean becomes `1`/`0`, the values
//!   RDS accepts for PostgreSQL booleans (`true` is rejected by AWS).
//! - Apply methods are chosen per parameter at apply time and never stored or
//!   diffed (no perpetual `apply_method` diff): `immediate` when AWS says the
//!   parameter's ApplyType is `dynamic`, `pending-reboot` when `static`. AWS is
//!   asked with one DescribeDBParameters / DescribeDBClusterParameters filtered
//!   on the changed names. When it gives no ApplyType (moto 5.2.5 never does),
//!   [`STATIC_PARAMETERS`] decides.
//! - Parameters removed from config are reset to the engine default
//!   (ResetDBParameterGroup / ResetDBClusterParameterGroup); at most
//!   [`MAX_PARAMETERS_PER_CALL`] parameters go in one Modify or Reset call.
//! - Read: one paged Describe of the region's groups, then per kept group
//!   DescribeDB(Cluster)Parameters (`Source=user`, only when `parameters` is in
//!   scope) and ListTagsForResource (only when `tags` is), [`PER_RESOURCE_CONCURRENCY`]
//!   groups at a time.
//! - Delete: a group already gone is deleted; a group still used by a database
//!   (`InvalidDBParameterGroupState`) is deleted again with backoff for
//!   [`super::rds::IN_USE_WAIT`] ([`super::rds::delete_group`], shared with `db_subnet_group`).
//! - Tested where: create, read, value changes and additions, drift, tags,
//!   find_created, delete and import against moto (tests/it/providers_params.rs);
//!   resets, chunking, AWS-given apply types and delete retries with
//!   aws-smithy-mocks here and in the type files, because moto 5.2.5 implements
//!   neither the Reset calls nor ApplyType.
//! - Orphan scan (`list_owned`): the Describe of the groups, then ListTagsForResource
//!   for each group state does not hold.
//! - Plan-time check (`check_planned`): a new group's family is one RDS
//!   offers ([`super::rds_catalog::check_families`]).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::{ApplyMethod, Parameter, Tag};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use futures::{StreamExt, TryStreamExt, stream};

use super::owned;
use super::rds::{FILTER_CHUNK, is_not_found, rds_tags, read_tags, sync_tags};
use super::{DEFAULT_DESCRIPTION, PER_RESOURCE_CONCURRENCY, api_error, factory, get_str, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{
    Attr, AttrType, Default, Kind, NameRule, Ownership, Pricing, Schema, TAG_ADDRESS, TAG_STACK,
};
use crate::provider::waiter::Backoff;
use crate::provider::{
    Ctx, Finding, Intent, Owned, PlannedChange, PlannedUpdate, ProviderError, ReadScope, Refusal, ResourceType, Result,
    same_name_refusal,
};
use crate::value::{Attrs, Value};

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::optional("name", AttrType::Str)
            .force_new()
            .pattern(Kind::RdsName)
            .default_name(NameRule::new(255, true, "")),
        Attr::required("family", AttrType::Str).force_new(),
        Attr::optional("description", AttrType::Str).default(Default::Str(DEFAULT_DESCRIPTION)).force_new(),
        Attr::optional("parameters", AttrType::Map(&AttrType::Str)),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: false,
    taggable: true,
    ownership: Ownership::Listed,
    pricing: Pricing::Free,
};

/// AWS accepts at most this many parameters in one Modify or Reset call.
pub const MAX_PARAMETERS_PER_CALL: usize = 20;

/// PostgreSQL parameters that only take effect after a restart (context
/// `postmaster`), plus RDS's static `rds.*` ones. Used only when AWS gives no
/// ApplyType for a parameter; any other parameter is then taken as dynamic.
pub const STATIC_PARAMETERS: &[&str] = &[
    "archive_mode",
    "autovacuum_freeze_max_age",
    "autovacuum_max_workers",
    "autovacuum_multixact_freeze_max_age",
    "huge_pages",
    "max_connections",
    "max_files_per_process",
    "max_locks_per_transaction",
    "max_logical_replication_workers",
    "max_pred_locks_per_transaction",
    "max_prepared_transactions",
    "max_replication_slots",
    "max_wal_senders",
    "max_worker_processes",
    "old_snapshot_threshold",
    "pg_stat_statements.max",
    "rds.logical_replication",
    "shared_buffers",
    "shared_preload_libraries",
    "superuser_reserved_connections",
    "track_activity_query_size",
    "track_commit_timestamp",
    "wal_buffers",
    "wal_level",
    "wal_log_hints",
];

/// A parameter group as AWS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: String,
    pub family: Option<String>,
    pub description: Option<String>,
    pub arn: Option<String>,
}

/// Which parameters of a group to describe.
#[derive(Debug, Clone, Copy)]
pub enum Query<'a> {
    /// Only those the user set (`Source=user`).
    User,
    /// Only these names (the `parameter-name` filter), whatever their source.
    Named(&'a [String]),
}

/// The calls that differ between DB and DB cluster parameter groups.
/// Errors go through [`rds_error`], so a missing group is [`ProviderError::NotFound`].
#[async_trait]
pub trait ParameterGroupApi: Send + Sync {
    /// The resource type's name.
    const TYPE_NAME: &'static str;

    /// Every group of the region (one paged Describe).
    async fn list_groups(&self, client: &Client) -> Result<Vec<GroupInfo>>;

    /// Creates a group with its tags; returns it as AWS describes it.
    async fn create_group(
        &self,
        client: &Client,
        name: &str,
        family: &str,
        description: &str,
        tags: Vec<Tag>,
    ) -> Result<GroupInfo>;

    /// The group's parameters that `query` selects (all pages).
    async fn parameters(&self, client: &Client, group: &str, query: Query<'_>) -> Result<Vec<Parameter>>;

    /// One ModifyDB(Cluster)ParameterGroup call (at most [`MAX_PARAMETERS_PER_CALL`]).
    async fn modify(&self, client: &Client, group: &str, parameters: Vec<Parameter>) -> Result<()>;

    /// One ResetDB(Cluster)ParameterGroup call for these parameters (never all).
    async fn reset(&self, client: &Client, group: &str, parameters: Vec<Parameter>) -> Result<()>;

    /// DeleteDB(Cluster)ParameterGroup, sent again while a database still
    /// uses the group ([`super::rds::delete_group`]); a group already gone is deleted.
    async fn delete_group(&self, ctx: &Ctx, client: &Client, group: &str, backoff: Backoff) -> Result<()>;
}

/// Maps an RDS SDK error: a missing group (or other RDS object) becomes
/// [`ProviderError::NotFound`], anything else keeps AWS's code ([`api_error`]).
pub fn rds_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: super::RawResponse,
{
    if is_not_found(&err) {
        ProviderError::NotFound(format!(
            "{operation}: {}",
            err.as_service_error().and_then(|e| e.message()).unwrap_or("")
        ))
    } else {
        api_error(operation, err)
    }
}

/// The apply method for parameter `name` given AWS's ApplyType for it.
pub fn apply_method(name: &str, apply_type: Option<&str>) -> ApplyMethod {
    match apply_type {
        Some("dynamic") => ApplyMethod::Immediate,
        Some("static") => ApplyMethod::PendingReboot,
        _ if STATIC_PARAMETERS.contains(&name) => ApplyMethod::PendingReboot,
        _ => ApplyMethod::Immediate,
    }
}

/// A parameter value in canonical form: numbers as written, booleans as `1`/`0`.
fn canonical_value(v: &Value) -> Value {
    match v {
        Value::Bool(b) => Value::str(if *b { "1" } else { "0" }),
        Value::Str(s) if s == "true" => Value::str("1"),
        Value::Str(s) if s == "false" => Value::str("0"),
        Value::Int(_) | Value::Float(_) => Value::Str(v.to_string()),
        other => other.clone(),
    }
}

/// The `parameters` attribute as a string map; `None` when it is not set.
fn parameters_of(attrs: &Attrs, what: &str) -> Result<Option<BTreeMap<String, String>>> {
    let Some(v) = attrs.get("parameters") else { return Ok(None) };
    let map = v.as_map().ok_or_else(|| ProviderError::Invalid(format!("{what}: parameters must be a table")))?;
    map.iter()
        .map(|(k, v)| match canonical_value(v) {
            Value::Str(s) => Ok((k.clone(), s)),
            other => Err(ProviderError::Invalid(format!(
                "{what}: parameter {k} must be a string, number or bool, not a {}",
                other.type_name()
            ))),
        })
        .collect::<Result<_>>()
        .map(Some)
}

/// AWS's rule for parameter group names (checked after lowercasing).
fn validate_name(type_name: &str, name: &str) -> Result<()> {
    let ok = name.len() <= 255
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !ok {
        return Err(ProviderError::Invalid(format!(
            "{type_name} name {name:?} must be 1 to 255 letters, digits or hyphens, start with a letter, \
             and neither end with a hyphen nor contain two in a row"
        )));
    }
    Ok(())
}

/// Attributes of a group without parameters and tags.
fn group_attrs(g: &GroupInfo) -> Attrs {
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(&g.name));
    a.insert("name".into(), Value::str(&g.name));
    a.insert("arn".into(), g.arn.clone().into());
    a.insert("family".into(), g.family.clone().into());
    a.insert("description".into(), g.description.clone().into());
    a
}

/// The user-set parameters of a group as name → value; `None` when the group is gone.
async fn user_parameters<A: ParameterGroupApi>(
    api: &A,
    client: &Client,
    group: &str,
) -> Result<Option<BTreeMap<String, String>>> {
    match api.parameters(client, group, Query::User).await {
        // Keeps user-set ones even if the filter were ignored; moto sends no Source.
        Ok(params) => Ok(Some(
            params
                .iter()
                .filter(|p| p.source().is_none_or(|s| s == "user"))
                .filter_map(|p| {
                    Some((p.parameter_name()?.to_owned(), p.parameter_value().unwrap_or_default().to_owned()))
                })
                .collect(),
        )),
        Err(ProviderError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Full attributes of one group, reading only what `scope` wants; `None` when
/// the group vanished meanwhile.
async fn read_group<A: ParameterGroupApi>(
    api: &A,
    client: &Client,
    g: &GroupInfo,
    scope: &ReadScope,
) -> Result<Option<Attrs>> {
    let mut attrs = group_attrs(g);
    let params = async {
        if scope.wants("parameters") { user_parameters(api, client, &g.name).await.map(Some) } else { Ok(None) }
    };
    let tags = async {
        match &g.arn {
            Some(arn) if scope.wants("tags") => read_tags(client, arn).await.map(Some),
            _ => Ok(None),
        }
    };
    let (params, tags) = futures::try_join!(params, tags)?;
    match params {
        Some(None) => return Ok(None),
        Some(Some(p)) => {
            attrs.insert("parameters".into(), Value::from(p));
        }
        None => {}
    }
    if let Some(t) = tags {
        attrs.insert("tags".into(), Value::from(t));
    }
    Ok(Some(attrs))
}

/// Reads `groups`, [`PER_RESOURCE_CONCURRENCY`] at a time.
async fn read_groups<A: ParameterGroupApi>(
    api: &A,
    client: &Client,
    groups: &[GroupInfo],
    scope: &ReadScope,
) -> Result<Vec<Attrs>> {
    let reads: Vec<_> = groups.iter().map(|g| read_group(api, client, g, scope)).collect();
    let found: Vec<Option<Attrs>> =
        stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await?;
    Ok(found.into_iter().flatten().collect())
}

/// The groups of `ctx.region` with their tags (one ListTagsForResource
/// each), leaving out those whose name `skip` accepts.
async fn groups_with_tags<A: ParameterGroupApi>(api: &A, ctx: &Ctx, skip: impl Fn(&str) -> bool) -> Result<Vec<Attrs>> {
    let client = factory(ctx)?.rds(&ctx.region).await;
    let mut groups = api.list_groups(&client).await?;
    groups.retain(|g| !skip(&g.name));
    read_groups(api, &client, &groups, &ReadScope::Only(["tags".to_owned()].into())).await
}

/// Sets `set` and resets `reset` on `group`, each parameter with the apply
/// method its ApplyType calls for; one Describe for the apply types, then
/// Reset and Modify calls of at most [`MAX_PARAMETERS_PER_CALL`] parameters.
async fn apply_parameters<A: ParameterGroupApi>(
    api: &A,
    client: &Client,
    group: &str,
    set: &BTreeMap<String, String>,
    reset: &[String],
) -> Result<()> {
    let names: Vec<String> = set.keys().chain(reset).cloned().collect();
    if names.is_empty() {
        return Ok(());
    }
    let mut known: BTreeMap<String, Parameter> = BTreeMap::new();
    for chunk in names.chunks(FILTER_CHUNK) {
        for p in api.parameters(client, group, Query::Named(chunk)).await? {
            if let Some(n) = p.parameter_name().filter(|n| chunk.iter().any(|c| c == n)) {
                known.insert(n.to_owned(), p.clone());
            }
        }
    }
    let fixed: Vec<&str> = set
        .keys()
        .filter(|n| known.get(*n).and_then(Parameter::is_modifiable) == Some(false))
        .map(String::as_str)
        .collect();
    if !fixed.is_empty() {
        return Err(ProviderError::Invalid(format!(
            "{} {group}: AWS does not allow changing {}",
            A::TYPE_NAME,
            fixed.join(", ")
        )));
    }
    let method = |n: &str| apply_method(n, known.get(n).and_then(Parameter::apply_type));
    let resets: Vec<Parameter> =
        reset.iter().map(|n| Parameter::builder().parameter_name(n).apply_method(method(n)).build()).collect();
    for chunk in resets.chunks(MAX_PARAMETERS_PER_CALL) {
        api.reset(client, group, chunk.to_vec()).await?;
    }
    let sets: Vec<Parameter> = set
        .iter()
        .map(|(n, v)| Parameter::builder().parameter_name(n).parameter_value(v).apply_method(method(n)).build())
        .collect();
    for chunk in sets.chunks(MAX_PARAMETERS_PER_CALL) {
        api.modify(client, group, chunk.to_vec()).await?;
    }
    Ok(())
}

/// Creates the group with `client`, then sets its parameters.
async fn create_with<A: ParameterGroupApi>(api: &A, client: &Client, desired: &Attrs) -> Result<Attrs> {
    let name = get_str(desired, "name").unwrap_or_default().to_lowercase();
    validate_name(A::TYPE_NAME, &name)?;
    let family = get_str(desired, "family")
        .filter(|f| !f.is_empty())
        .ok_or_else(|| ProviderError::Invalid(format!("{} {name} needs a family", A::TYPE_NAME)))?;
    let description = get_str(desired, "description").unwrap_or(DEFAULT_DESCRIPTION);
    let params = parameters_of(desired, A::TYPE_NAME)?.unwrap_or_default();
    let tags = tags_of(desired);
    let info = api.create_group(client, &name, family, description, rds_tags(&tags)).await?;
    apply_parameters(api, client, &info.name, &params, &[]).await?;
    let mut attrs = group_attrs(&info);
    attrs.insert("parameters".into(), Value::from(params));
    attrs.insert("tags".into(), Value::from(tags));
    Ok(attrs)
}

/// Changes parameters (set changed and new ones, reset removed ones) and tags
/// of `group` with `client`; family and description never change in place.
async fn update_with<A: ParameterGroupApi>(
    api: &A,
    client: &Client,
    group: &str,
    update: &PlannedUpdate,
) -> Result<Attrs> {
    let (prior, desired) = (&update.before, &update.after);
    let mut attrs = prior.clone();
    if update.changes("parameters")
        && let Some(want) = parameters_of(desired, A::TYPE_NAME)?
    {
        let had = parameters_of(prior, A::TYPE_NAME)?.unwrap_or_default();
        let set: BTreeMap<String, String> =
            want.iter().filter(|(k, v)| had.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
        let reset: Vec<String> = had.keys().filter(|k| !want.contains_key(*k)).cloned().collect();
        apply_parameters(api, client, group, &set, &reset).await?;
        attrs.insert("parameters".into(), Value::from(want));
    }
    if update.changes("tags") {
        let tags = tags_of(desired);
        let arn = get_str(prior, "arn")
            .ok_or_else(|| ProviderError::Invalid(format!("{} {group} has no arn in state", A::TYPE_NAME)))?;
        sync_tags(client, arn, &tags_of(prior), &tags).await?;
        attrs.insert("tags".into(), Value::from(tags));
    }
    Ok(attrs)
}

#[async_trait]
impl<A: ParameterGroupApi> ResourceType for A {
    fn type_name(&self) -> &'static str {
        A::TYPE_NAME
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// A group in use by a database cannot be deleted before its replacement takes over.
    fn create_before_destroy(&self) -> bool {
        true
    }

    /// A group created first cannot keep the old one's name.
    fn refuse(&self, current: &Attrs, intent: Intent<'_>) -> Vec<Refusal> {
        match intent {
            Intent::Replace { desired, create_first: true }
                if desired.get("name").is_some_and(|n| Some(n) == current.get("name")) =>
            {
                vec![same_name_refusal("name")]
            }
            _ => Vec::new(),
        }
    }

    /// Lowercase name (as AWS stores it); parameter values as canonical strings.
    fn normalize(&self, desired: &mut Attrs) {
        if let Some(Value::Str(name)) = desired.get_mut("name") {
            *name = name.to_lowercase();
        }
        if let Some(Value::Map(params)) = desired.get_mut("parameters") {
            for v in params.values_mut() {
                *v = canonical_value(v);
            }
        }
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = factory(ctx)?.rds(&ctx.region).await;
        let mut groups = self.list_groups(&client).await?;
        groups.retain(|g| ids.iter().any(|id| id.eq_ignore_ascii_case(&g.name)));
        let found = read_groups(self, &client, &groups, scope).await?;
        Ok(ids
            .iter()
            .filter_map(|id| {
                let attrs = found.iter().find(|a| get_str(a, "name").is_some_and(|n| id.eq_ignore_ascii_case(n)))?;
                Some((id.clone(), attrs.clone()))
            })
            .collect())
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        create_with(self, &factory(ctx)?.rds(&ctx.region).await, desired).await
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        update_with(self, &factory(ctx)?.rds(&ctx.region).await, id, update).await
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        self.delete_group(ctx, &factory(ctx)?.rds(&ctx.region).await, id, Backoff::default()).await
    }

    /// Lists the region's groups and returns the one carrying this stack's and
    /// this address's ownership tags (one ListTagsForResource per group).
    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        Ok(self.find_all_created(ctx, addr).await?.into_iter().next())
    }

    async fn find_all_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Vec<String>> {
        let all = groups_with_tags(self, ctx, |_| false).await?;
        let address = addr.to_string();
        let owned = |a: &&Attrs| {
            let tags = tags_of(a);
            tags.get(TAG_STACK) == Some(&ctx.stack) && tags.get(TAG_ADDRESS) == Some(&address)
        };
        Ok(all.iter().filter(owned).filter_map(|a| get_str(a, "id")).map(str::to_owned).collect())
    }

    /// The region's groups and the tags of each one not `known`.
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        let all = groups_with_tags(self, ctx, |name| known.iter().any(|k| k.eq_ignore_ascii_case(name))).await?;
        Ok(owned::from_attrs(&all, &ctx.stack, known))
    }

    /// A new group's family is one RDS offers ([`super::rds_catalog::check_families`]).
    async fn check_planned(&self, ctx: &Ctx, planned: &[PlannedChange<'_>]) -> Result<Vec<Finding>> {
        super::rds_catalog::check_families(ctx, &factory(ctx)?.rds(&ctx.region).await, planned).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_sdk_rds::operation::create_db_parameter_group::CreateDbParameterGroupOutput;
    use aws_sdk_rds::operation::delete_db_parameter_group::DeleteDbParameterGroupOutput;
    use aws_sdk_rds::operation::describe_db_parameters::DescribeDbParametersOutput;
    use aws_sdk_rds::operation::modify_db_parameter_group::ModifyDbParameterGroupOutput;
    use aws_sdk_rds::operation::reset_db_parameter_group::ResetDbParameterGroupOutput;
    use aws_sdk_rds::types::DbParameterGroup as AwsGroup;
    use aws_smithy_mocks::{Rule, mock};

    use super::*;
    use crate::provider::aws::db_cluster_parameter_group::DbClusterParameterGroup;
    use crate::provider::aws::db_parameter_group::DbParameterGroup;
    use crate::provider::aws::rds::{PARAMETER_GROUP_IN_USE, TEST_BACKOFF, mock_rds, rds_fault, test_ctx};
    use crate::provider::aws::{AwsFactory, AwsOptions};

    const ARN: &str = "arn:aws:rds:us-east-1:123456789012:pg:app";

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn attrs(parameters: &[(&str, &str)]) -> Attrs {
        let mut a = Attrs::new();
        for (k, v) in [("id", "app"), ("name", "app"), ("arn", ARN), ("family", "postgres16"), ("description", "d")] {
            a.insert(k.into(), Value::str(v));
        }
        a.insert("parameters".into(), Value::from(params(parameters)));
        a.insert("tags".into(), Value::from(params(&[("pgstack:stack", "s")])));
        a
    }

    /// (name, value, apply method) of each parameter of a request.
    fn sent(ps: &[Parameter]) -> Vec<(String, String, String)> {
        ps.iter()
            .map(|p| {
                let s = |o: Option<&str>| o.unwrap_or_default().to_owned();
                (s(p.parameter_name()), s(p.parameter_value()), s(p.apply_method().map(ApplyMethod::as_str)))
            })
            .collect()
    }

    fn triples(items: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
        items.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect()
    }

    /// DescribeDBParameters answering for the requested `parameter-name`s
    /// with the ApplyType (and modifiability) AWS documents for them.
    fn describe_rule(known: &'static [(&'static str, &'static str, bool)]) -> Rule {
        mock!(Client::describe_db_parameters).then_compute_output(move |req| {
            let asked: Vec<&String> = req.filters().iter().flat_map(|f| f.values()).collect();
            let ps = known.iter().filter(|(n, _, _)| asked.iter().any(|a| a == n)).map(|(n, t, m)| {
                Parameter::builder()
                    .parameter_name(*n)
                    .apply_type(*t)
                    .is_modifiable(*m)
                    .source("engine-default")
                    .build()
            });
            DescribeDbParametersOutput::builder().set_parameters(Some(ps.collect())).build()
        })
    }

    const AWS_APPLY_TYPES: &[(&str, &str, bool)] = &[
        ("cron.database_name", "static", true),
        ("log_min_duration_statement", "dynamic", true),
        ("max_connections", "static", true),
        ("work_mem", "dynamic", true),
        ("rds.extensions", "static", false),
    ];

    #[test]
    fn apply_methods_follow_aws_then_the_builtin_list() {
        assert_eq!(apply_method("work_mem", Some("dynamic")), ApplyMethod::Immediate);
        assert_eq!(apply_method("cron.database_name", Some("static")), ApplyMethod::PendingReboot);
        // AWS's answer wins over the built-in list.
        assert_eq!(apply_method("max_connections", Some("dynamic")), ApplyMethod::Immediate);
        // Without an ApplyType (moto): static parameters wait for a reboot, others apply at once.
        for name in ["shared_buffers", "max_connections", "wal_buffers", "max_wal_senders", "shared_preload_libraries"]
        {
            assert_eq!(apply_method(name, None), ApplyMethod::PendingReboot, "{name}");
        }
        for name in ["work_mem", "rds.force_ssl", "log_min_duration_statement", "autovacuum_naptime"] {
            assert_eq!(apply_method(name, None), ApplyMethod::Immediate, "{name}");
        }
    }

    #[test]
    fn a_group_created_first_must_not_keep_its_name() {
        let named = |n: &str| -> Attrs { [("name".to_owned(), Value::str(n))].into() };
        let current = named("app-pg");
        for rt in [&DbParameterGroup as &dyn ResourceType, &DbClusterParameterGroup] {
            assert!(rt.create_before_destroy(), "{}", rt.type_name());
            let refused =
                |desired: &Attrs, create_first| rt.refuse(&current, Intent::Replace { desired, create_first });
            assert_eq!(refused(&named("app-pg"), true), [same_name_refusal("name")]);
            assert!(refused(&named("app-pg"), false).is_empty());
            assert!(refused(&named("app-pg-2"), true).is_empty());
        }
    }

    #[test]
    fn normalize_lowercases_name_and_makes_values_strings() {
        let mut a = attrs(&[]);
        a.insert("name".into(), Value::str("App-PG"));
        let raw: BTreeMap<String, Value> = [
            ("max_connections", Value::Int(250)),
            ("random_page_cost", Value::Float(1.1)),
            ("rds.force_ssl", Value::Bool(true)),
            ("log_connections", Value::str("false")),
            ("shared_buffers", Value::str("{DBInstanceClassMemory/32768}")),
            ("pending", Value::Unknown),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        a.insert("parameters".into(), Value::Map(raw));
        DbParameterGroup.normalize(&mut a);
        assert_eq!(get_str(&a, "name"), Some("app-pg"));
        let p = a["parameters"].as_map().unwrap();
        let get = |k: &str| p[k].clone();
        assert_eq!(get("max_connections"), Value::str("250"));
        assert_eq!(get("random_page_cost"), Value::str("1.1"));
        assert_eq!(get("rds.force_ssl"), Value::str("1"));
        assert_eq!(get("log_connections"), Value::str("0"));
        assert_eq!(get("shared_buffers"), Value::str("{DBInstanceClassMemory/32768}"));
        assert_eq!(get("pending"), Value::Unknown, "unknown values stay unknown until the plan knows them");
    }

    #[test]
    fn names_follow_aws_rules() {
        for ok in ["app", "app-pg-16", "a1"] {
            assert!(validate_name("db_parameter_group", ok).is_ok(), "{ok}");
        }
        for bad in ["", "1app", "app-", "app--pg", "app_pg", "app.pg", &"a".repeat(256)] {
            assert!(matches!(validate_name("db_parameter_group", bad), Err(ProviderError::Invalid(_))), "{bad:?}");
        }
    }

    /// Changed and new parameters are set, removed ones reset, unchanged ones
    /// left alone, each with the apply method AWS's ApplyType calls for.
    #[tokio::test]
    async fn update_sets_changes_and_resets_removals_with_aws_apply_types() {
        let describe = describe_rule(AWS_APPLY_TYPES);
        let modify = mock!(Client::modify_db_parameter_group)
            .match_requests(|r| {
                r.db_parameter_group_name() == Some("app")
                    && sent(r.parameters())
                        == triples(&[("max_connections", "250", "pending-reboot"), ("work_mem", "4096", "immediate")])
            })
            .then_output(|| ModifyDbParameterGroupOutput::builder().build());
        let reset = mock!(Client::reset_db_parameter_group)
            .match_requests(|r| {
                r.db_parameter_group_name() == Some("app")
                    && r.reset_all_parameters() == Some(false)
                    && sent(r.parameters())
                        == triples(&[
                            ("cron.database_name", "", "pending-reboot"),
                            ("log_min_duration_statement", "", "immediate"),
                        ])
            })
            .then_output(|| ResetDbParameterGroupOutput::builder().build());
        let client = mock_rds(&[&describe, &modify, &reset]);
        let prior = attrs(&[
            ("cron.database_name", "app"),
            ("log_min_duration_statement", "500"),
            ("max_connections", "100"),
            ("timezone", "UTC"),
        ]);
        let desired = attrs(&[("max_connections", "250"), ("timezone", "UTC"), ("work_mem", "4096")]);
        let got =
            update_with(&DbParameterGroup, &client, "app", &DbParameterGroup.planned_update(&prior, &desired, &[]))
                .await
                .expect("update");
        assert_eq!((describe.num_calls(), modify.num_calls(), reset.num_calls()), (1, 1, 1));
        assert_eq!(got, desired);
    }

    #[tokio::test]
    async fn update_without_parameter_changes_makes_no_calls() {
        let describe = describe_rule(AWS_APPLY_TYPES);
        let client = mock_rds(&[&describe]);
        let prior = attrs(&[("max_connections", "100")]);
        let got = update_with(&DbParameterGroup, &client, "app", &DbParameterGroup.planned_update(&prior, &prior, &[]))
            .await
            .expect("update");
        assert_eq!(describe.num_calls(), 0);
        assert_eq!(got, prior);
    }

    /// 45 parameters: one Describe for their apply types, three Modify calls
    /// of at most 20 that together carry every parameter once.
    #[tokio::test]
    async fn create_sends_parameters_in_chunks_of_twenty() {
        let create = mock!(Client::create_db_parameter_group)
            .match_requests(|r| {
                r.db_parameter_group_family() == Some("postgres16")
                    && r.tags().iter().any(|t| t.key() == Some("pgstack:stack"))
            })
            .then_compute_output(|r| {
                let g = AwsGroup::builder()
                    .db_parameter_group_name(r.db_parameter_group_name().unwrap_or_default())
                    .db_parameter_group_family(r.db_parameter_group_family().unwrap_or_default())
                    .description(r.description().unwrap_or_default())
                    .db_parameter_group_arn(ARN)
                    .build();
                CreateDbParameterGroupOutput::builder().db_parameter_group(g).build()
            });
        let describe = describe_rule(AWS_APPLY_TYPES);
        let carried = Arc::new(AtomicUsize::new(0));
        let seen = carried.clone();
        let modify = mock!(Client::modify_db_parameter_group)
            .match_requests(move |r| {
                seen.fetch_add(r.parameters().len(), Ordering::SeqCst);
                r.parameters().len() <= MAX_PARAMETERS_PER_CALL
            })
            .then_output(|| ModifyDbParameterGroupOutput::builder().build());
        let client = mock_rds(&[&create, &describe, &modify]);
        let many: Vec<(String, String)> = (0..45).map(|i| (format!("p{i:02}"), i.to_string())).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let desired = attrs(&many);
        let got = create_with(&DbParameterGroup, &client, &desired).await.expect("create");
        assert_eq!((create.num_calls(), describe.num_calls(), modify.num_calls()), (1, 1, 3));
        assert_eq!(carried.load(Ordering::SeqCst), 45);
        assert_eq!(got, desired);
    }

    #[tokio::test]
    async fn parameters_aws_forbids_changing_are_refused_before_any_change() {
        let describe = describe_rule(AWS_APPLY_TYPES);
        let modify =
            mock!(Client::modify_db_parameter_group).then_output(|| ModifyDbParameterGroupOutput::builder().build());
        let client = mock_rds(&[&describe, &modify]);
        let desired = attrs(&[("rds.extensions", "pg_cron"), ("work_mem", "1")]);
        let err = update_with(
            &DbParameterGroup,
            &client,
            "app",
            &DbParameterGroup.planned_update(&attrs(&[]), &desired, &[]),
        )
        .await
        .unwrap_err();
        assert!(matches!(&err, ProviderError::Invalid(m) if m.contains("rds.extensions")), "{err}");
        assert_eq!(modify.num_calls(), 0);
    }

    fn ctx() -> Ctx {
        Ctx::new(Arc::new(AwsFactory::new(AwsOptions::default())), "us-east-1", "t")
    }

    /// A group a database let go of moments ago is deleted again until RDS
    /// stops answering "in use", with a progress line per retry.
    #[tokio::test]
    async fn delete_retries_while_in_use() {
        let delete = mock!(Client::delete_db_parameter_group)
            .match_requests(|r| r.db_parameter_group_name() == Some("app"))
            .sequence()
            .http_status(400, Some(rds_fault(PARAMETER_GROUP_IN_USE, "m")))
            .times(2)
            .output(|| DeleteDbParameterGroupOutput::builder().build())
            .build();
        let client = mock_rds(&[&delete]);
        let (c, reports) = test_ctx();
        DbParameterGroup.delete_group(&c, &client, "app", TEST_BACKOFF).await.expect("delete");
        assert_eq!(delete.num_calls(), 3);
        assert_eq!(
            *reports.lock().unwrap(),
            ["retrying DeleteDBParameterGroup after a database still uses the group"; 2]
        );
    }

    #[tokio::test]
    async fn delete_of_a_missing_group_succeeds_and_other_errors_fail() {
        let gone = mock!(Client::delete_db_parameter_group)
            .sequence()
            .http_status(404, Some(rds_fault("DBParameterGroupNotFound", "m")))
            .http_status(400, Some(rds_fault("InvalidParameterValue", "m")))
            .build();
        let client = mock_rds(&[&gone]);
        DbParameterGroup.delete_group(&ctx(), &client, "app", TEST_BACKOFF).await.expect("missing is deleted");
        let err = DbParameterGroup.delete_group(&ctx(), &client, "app", TEST_BACKOFF).await.unwrap_err();
        assert!(matches!(&err, ProviderError::Api { code, .. } if code == "InvalidParameterValue"), "{err}");
    }

    #[tokio::test]
    async fn delete_gives_up_after_the_timeout() {
        let delete = mock!(Client::delete_db_parameter_group)
            .sequence()
            .http_status(400, Some(rds_fault(PARAMETER_GROUP_IN_USE, "m")))
            .repeatedly()
            .build();
        let client = mock_rds(&[&delete]);
        let c = ctx().with_timeout(Some(std::time::Duration::from_millis(20)));
        let err = DbParameterGroup.delete_group(&c, &client, "app", TEST_BACKOFF).await.unwrap_err();
        assert!(matches!(&err, ProviderError::Api { code, .. } if code == PARAMETER_GROUP_IN_USE), "{err}");
        assert!(delete.num_calls() >= 2, "retried until the resource's timeout: {}", delete.num_calls());
    }
}
