//! `db_proxy`: an RDS Proxy for PostgreSQL — the managed connection pooler
//! in front of a cluster — with its default target group's pool settings.
//! Its targets are `db_proxy_target` objects.
//!
//! - Id: the proxy name (1 to 63 letters, digits or hyphens, starting with
//!   a letter).
//! - Create: CreateDBProxy (engine family POSTGRESQL, the users' secrets
//!   with one IAM and password setting for all, the role that reads them, subnets, security groups, TLS, idle timeout,
//!   tags), a wait until the proxy is available (minutes on AWS), then
//!   ModifyDBProxyTargetGroup with the pool settings.
//! - Read: DescribeDBProxies (paged, the region's proxies), then per proxy
//!   DescribeDBProxyTargetGroups (the default group's pool settings) and,
//!   when the config manages them, ListTagsForResource.
//! - Update: ModifyDBProxy with the changed settings (users, role, security
//!   groups, TLS, idle timeout, debug logging), ModifyDBProxyTargetGroup
//!   with the whole pool configuration when any of it changes, tags with
//!   Add/RemoveTagsFromResource; each after a wait until the proxy is
//!   available. The subnets and the engine family force a new proxy.
//! - Delete: DeleteDBProxy, then a wait until it is gone (its network
//!   interfaces hold the subnets and security groups until then).
//! - Orphan scan and an interrupted create: DescribeDBProxies, then each
//!   proxy's tags.
//! - moto 5.2.5 has no ModifyDBProxy: changes of the proxy's own settings
//!   are tested with aws-smithy-mocks (below); everything else against moto.
//! - Cost: none of its own; AWS bills the vCPUs behind each target, priced
//!   on the `db_proxy_target` (docs/cost.md).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::operation::create_db_proxy::builders::CreateDBProxyFluentBuilder as C;
use aws_sdk_rds::operation::modify_db_proxy::builders::ModifyDBProxyFluentBuilder as M;
use aws_sdk_rds::types::{
    AuthScheme, ClientPasswordAuthType, ConnectionPoolConfiguration, DbProxy as AwsProxy, EngineFamily, IamAuthMode,
    UserAuthConfig, UserAuthConfigInfo,
};
use futures::{StreamExt, TryStreamExt, stream};

use super::owned;
use super::rds::{self, Observed, is_not_found, rds_tags, read_tags, sorted, sync_tags, to_i32, wait_available};
use super::rds_fields::{self, Field, field};
use super::{PER_RESOURCE_CONCURRENCY, Settling, api_error, factory, get_str, send_settling, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, NameRule, Ownership, Pricing, Schema};
use crate::provider::waiter::{Backoff, Poll, wait_for};
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

const IAM_DISABLED: &str = "DISABLED";
const SCRAM: &str = "POSTGRES_SCRAM_SHA_256";

/// The users' settings, sent together as ModifyDBProxy's `Auth`.
const AUTH: &[&str] = &["secret_arns", "iam_auth", "client_password_auth_type"];

/// The default target group's connection pool settings.
const POOL: &[&str] = &[
    "max_connections_percent",
    "max_idle_connections_percent",
    "connection_borrow_timeout",
    "session_pinning_filters",
];

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::computed("endpoint", AttrType::Str),
        Attr::computed("vpc_id", AttrType::Str),
        Attr::optional("name", AttrType::Str)
            .force_new()
            .pattern(Kind::RdsIdentifier)
            .default_name(NameRule::new(63, true, "-")),
        Attr::optional("engine_family", AttrType::Str)
            .force_new()
            .one_of(&["POSTGRESQL"])
            .default(Default::Str("POSTGRESQL")),
        Attr::required("role_arn", AttrType::Str).pattern(Kind::Arn),
        Attr::required("subnet_ids", AttrType::Set(&AttrType::Str)).force_new(),
        Attr::optional("security_group_ids", AttrType::Set(&AttrType::Str)),
        Attr::required("secret_arns", AttrType::Set(&AttrType::Str)).pattern(Kind::Arn),
        Attr::optional("iam_auth", AttrType::Str)
            .one_of(&[IAM_DISABLED, "REQUIRED"])
            .default(Default::Str(IAM_DISABLED)),
        Attr::optional("client_password_auth_type", AttrType::Str)
            .one_of(&[SCRAM, "POSTGRES_MD5"])
            .default(Default::Str(SCRAM)),
        Attr::optional("require_tls", AttrType::Bool).default(Default::Bool(true)),
        Attr::optional("idle_client_timeout", AttrType::Int).range(1, 28_800).default(Default::Int(1800)),
        Attr::optional("debug_logging", AttrType::Bool).default(Default::Bool(false)),
        Attr::optional("max_connections_percent", AttrType::Int).range(1, 100).default(Default::Int(100)),
        Attr::optional("max_idle_connections_percent", AttrType::Int).range(0, 100).default(Default::Int(50)),
        Attr::optional("connection_borrow_timeout", AttrType::Int).range(0, 3600).default(Default::Int(120)),
        Attr::optional("session_pinning_filters", AttrType::Set(&AttrType::Str)).one_of(&["EXCLUDE_VARIABLE_SETS"]),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: false,
    taggable: true,
    ownership: Ownership::Listed,
    pricing: Pricing::Free,
};

/// The `db_proxy` resource type.
pub struct DbProxy;

/// How long a proxy may take to become available or to go (AWS takes minutes).
const TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// RDS refusing a change while the proxy is busy with another one.
const PROXY_BUSY: &str = "InvalidDBProxyStateFault";

/// How DescribeDBProxies reads each attribute, and the CreateDBProxy and
/// ModifyDBProxy setters that take it ([`rds_fields`]).
#[rustfmt::skip]
static FIELDS: &[Field<AwsProxy, C, M>] = &[
    field!("id", |p| p.db_proxy_name().into()),
    field!("name", |p| p.db_proxy_name().into()),
    field!("arn", |p| p.db_proxy_arn().into()),
    field!("endpoint", |p| p.endpoint().into()),
    field!("vpc_id", |p| p.vpc_id().into()),
    field!("engine_family", |p| p.engine_family().into()),
    field!("role_arn", |p| p.role_arn().into(), Str, set_role_arn),
    field!("subnet_ids", |p| Value::from(sorted(p.vpc_subnet_ids().to_vec())), Strs, set_vpc_subnet_ids, _),
    field!("security_group_ids", |p| Value::from(sorted(p.vpc_security_group_ids().to_vec())), Strs, set_vpc_security_group_ids, set_security_groups),
    field!("secret_arns", |p| Value::from(sorted(p.auth().iter().filter_map(|a| a.secret_arn().map(str::to_owned)).collect()))),
    field!("iam_auth", |p| common(p.auth(), |a| a.iam_auth().map_or(IAM_DISABLED, |m| m.as_str()))),
    field!("client_password_auth_type", |p| common(p.auth(), |a| a.client_password_auth_type().map_or(SCRAM, |t| t.as_str()))),
    field!("require_tls", |p| Value::Bool(p.require_tls().unwrap_or(false)), Bool, set_require_tls),
    field!("idle_client_timeout", |p| p.idle_client_timeout().into(), Int, set_idle_client_timeout),
    field!("debug_logging", |p| Value::Bool(p.debug_logging().unwrap_or(false)), Bool, set_debug_logging),
];

/// The authentication setting every user of the proxy shares (how clients
/// authenticate, how the proxy checks passwords): `mixed` when the users
/// differ (set outside pgstack), which the plan shows as drift to put right.
fn common(auth: &[UserAuthConfigInfo], setting: fn(&UserAuthConfigInfo) -> &str) -> Value {
    let mut values = auth.iter().map(setting);
    match values.next() {
        None => Value::Null,
        Some(first) if values.all(|v| v == first) => Value::str(first),
        Some(_) => Value::str("mixed"),
    }
}

/// The users of `attrs` as the calls take them: one per secret, each with
/// the stack's IAM and password settings.
fn auth_configs(attrs: &Attrs) -> Vec<UserAuthConfig> {
    let iam = get_str(attrs, "iam_auth").unwrap_or(IAM_DISABLED);
    let password = get_str(attrs, "client_password_auth_type").unwrap_or(SCRAM);
    let secrets = attrs.get("secret_arns").map(Value::string_list).unwrap_or_default();
    secrets
        .into_iter()
        .map(|secret| {
            UserAuthConfig::builder()
                .auth_scheme(AuthScheme::Secrets)
                .secret_arn(secret)
                .iam_auth(IamAuthMode::from(iam))
                .client_password_auth_type(ClientPasswordAuthType::from(password))
                .build()
        })
        .collect()
}

/// The pool settings of `attrs` as ModifyDBProxyTargetGroup takes them.
fn pool_config(attrs: &Attrs) -> Result<ConnectionPoolConfiguration> {
    let int = |name: &str| to_i32(name, attrs.get(name).and_then(Value::as_i64));
    Ok(ConnectionPoolConfiguration::builder()
        .set_max_connections_percent(int(POOL[0])?)
        .set_max_idle_connections_percent(int(POOL[1])?)
        .set_connection_borrow_timeout(int(POOL[2])?)
        .set_session_pinning_filters(Some(attrs.get(POOL[3]).map(Value::string_list).unwrap_or_default()))
        .build())
}

/// Every proxy of the region (one paged call).
async fn list_proxies(client: &Client) -> Result<Vec<AwsProxy>> {
    client
        .describe_db_proxies()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("DescribeDBProxies", e))
}

/// One look at proxy `name`: `None` when it does not exist.
async fn describe(client: &Client, name: &str) -> Result<Option<AwsProxy>> {
    match client.describe_db_proxies().db_proxy_name(name).send().await {
        Ok(out) => Ok(out.db_proxies().first().cloned()),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(api_error("DescribeDBProxies", e)),
    }
}

/// The pool settings of the proxy's default target group; `None` when the
/// proxy is gone.
async fn read_pool(client: &Client, name: &str) -> Result<Option<Attrs>> {
    let out = match client.describe_db_proxy_target_groups().db_proxy_name(name).send().await {
        Ok(out) => out,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(api_error("DescribeDBProxyTargetGroups", e)),
    };
    let group = out.target_groups().iter().find(|g| g.is_default() == Some(true)).or(out.target_groups().first());
    let Some(pool) = group.and_then(|g| g.connection_pool_config()) else { return Ok(Some(Attrs::new())) };
    let mut a = Attrs::new();
    a.insert(POOL[0].into(), pool.max_connections_percent().into());
    a.insert(POOL[1].into(), pool.max_idle_connections_percent().into());
    a.insert(POOL[2].into(), pool.connection_borrow_timeout().into());
    a.insert(POOL[3].into(), Value::from(sorted(pool.session_pinning_filters().to_vec())));
    Ok(Some(a))
}

/// Everything of `proxy` the schema holds (tags when `scope` wants them);
/// `None` when it went meanwhile.
async fn full_attrs(client: &Client, proxy: &AwsProxy, scope: &ReadScope) -> Result<Option<Attrs>> {
    let (mut attrs, _) = rds_fields::read(FIELDS, &[], proxy);
    let Some(name) = proxy.db_proxy_name() else { return Ok(None) };
    let Some(pool) = read_pool(client, name).await? else { return Ok(None) };
    attrs.extend(pool);
    if scope.wants("tags")
        && let Some(arn) = proxy.db_proxy_arn()
    {
        attrs.insert("tags".into(), Value::from(read_tags(client, arn).await?));
    }
    Ok(Some(attrs))
}

/// One look at proxy `name` for a wait.
async fn observe(client: &Client, name: &str) -> Result<Option<Observed<AwsProxy>>> {
    Ok(describe(client, name).await?.map(|p| Observed {
        status: p.status().map_or("unknown", |s| s.as_str()).to_owned(),
        unsettled: None,
        value: p,
    }))
}

/// Waits until proxy `name` is available; returns what it read then.
async fn wait_ready(client: &Client, ctx: &Ctx, name: &str, backoff: Backoff) -> Result<AwsProxy> {
    let what = format!("db_proxy {name} to become available");
    wait_available(ctx, &what, TIMEOUT, backoff, || observe(client, name)).await
}

/// ModifyDBProxyTargetGroup of the default group with the pool settings of
/// `attrs`, sent again while the proxy is busy.
async fn set_pool(client: &Client, ctx: &Ctx, name: &str, attrs: &Attrs, backoff: Backoff) -> Result<()> {
    let config = pool_config(attrs)?;
    let busy = Settling::new(PROXY_BUSY, "RDS said the proxy is busy", ctx.timeout.unwrap_or(TIMEOUT));
    send_settling(ctx, "ModifyDBProxyTargetGroup", &[busy], backoff, || {
        client
            .modify_db_proxy_target_group()
            .db_proxy_name(name)
            .target_group_name("default")
            .connection_pool_config(config.clone())
            .send()
    })
    .await
    .map_err(|e| api_error("ModifyDBProxyTargetGroup", e))?;
    Ok(())
}

/// Reads proxy `name` in full, or fails when it is gone.
async fn read_one(client: &Client, name: &str) -> Result<Attrs> {
    let proxy = describe(client, name).await?.ok_or_else(|| ProviderError::NotFound(name.into()))?;
    full_attrs(client, &proxy, &ReadScope::All).await?.ok_or_else(|| ProviderError::NotFound(name.into()))
}

async fn create_with(client: &Client, ctx: &Ctx, desired: &Attrs, backoff: Backoff) -> Result<Attrs> {
    let name = get_str(desired, "name").unwrap_or_default().to_lowercase();
    rds::validate_identifier("name", &name, 63)?;
    let req = client
        .create_db_proxy()
        .db_proxy_name(&name)
        .engine_family(EngineFamily::Postgresql)
        .set_auth(Some(auth_configs(desired)));
    rds_fields::create(FIELDS, req, desired)?
        .set_tags(Some(rds_tags(&tags_of(desired))))
        .send()
        .await
        .map_err(|e| api_error("CreateDBProxy", e))?;
    wait_ready(client, ctx, &name, backoff).await?;
    set_pool(client, ctx, &name, desired, backoff).await?;
    read_one(client, &name).await
}

/// Carries out the plan's `update`: tags, then one ModifyDBProxy with the
/// proxy settings it changes, then the pool settings; each once the proxy
/// is available.
async fn update_with(
    client: &Client,
    ctx: &Ctx,
    name: &str,
    update: &PlannedUpdate,
    backoff: Backoff,
) -> Result<Attrs> {
    if update.changes("tags") {
        let arn = get_str(&update.before, "arn")
            .ok_or_else(|| ProviderError::Invalid(format!("db_proxy {name} has no arn in state")))?;
        sync_tags(client, arn, &tags_of(&update.before), &tags_of(&update.after)).await?;
    }
    let (mut req, mut sent) = rds_fields::modify(FIELDS, client.modify_db_proxy().db_proxy_name(name), update)?;
    if rds_fields::special(update, &mut sent, AUTH) {
        req = req.set_auth(Some(auth_configs(&update.after)));
    }
    if !sent.is_empty() {
        wait_ready(client, ctx, name, backoff).await?;
        let busy = Settling::new(PROXY_BUSY, "RDS said the proxy is busy", ctx.timeout.unwrap_or(TIMEOUT));
        send_settling(ctx, "ModifyDBProxy", &[busy], backoff, || req.clone().send())
            .await
            .map_err(|e| api_error("ModifyDBProxy", e))?;
    }
    if update.changes_any(POOL) {
        wait_ready(client, ctx, name, backoff).await?;
        set_pool(client, ctx, name, &update.after, backoff).await?;
    }
    wait_ready(client, ctx, name, backoff).await?;
    read_one(client, name).await
}

/// DeleteDBProxy, then a wait until the proxy is gone; one already gone counts as deleted.
async fn delete_with(client: &Client, ctx: &Ctx, name: &str, backoff: Backoff) -> Result<()> {
    match client.delete_db_proxy().db_proxy_name(name).send().await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => return Err(api_error("DeleteDBProxy", e)),
    }
    let what = format!("db_proxy {name} to be deleted");
    wait_for(ctx, &what, TIMEOUT, backoff, || async {
        Ok(match describe(client, name).await? {
            None => Poll::Ready(()),
            Some(p) => Poll::Pending(p.status().map_or("unknown", |s| s.as_str()).to_owned()),
        })
    })
    .await
}

/// The region's proxies not in `skip`, with their tags
/// ([`PER_RESOURCE_CONCURRENCY`] tag reads at a time).
async fn proxy_tags(
    client: &Client,
    skip: &BTreeSet<String>,
) -> Result<Vec<Option<(String, BTreeMap<String, String>)>>> {
    let proxies = list_proxies(client).await?;
    let named: Vec<(String, String)> = proxies
        .iter()
        .filter_map(|p| Some((p.db_proxy_name()?.to_owned(), p.db_proxy_arn()?.to_owned())))
        .filter(|(name, _)| !skip.contains(name))
        .collect();
    let reads = named.into_iter().map(|(name, arn)| async move { Ok(Some((name, read_tags(client, &arn).await?))) });
    stream::iter(reads.collect::<Vec<_>>()).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await
}

#[async_trait]
impl ResourceType for DbProxy {
    fn type_name(&self) -> &'static str {
        "db_proxy"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// Lowercase name (as AWS stores it) and sorted sets.
    fn normalize(&self, desired: &mut Attrs) {
        rds::normalize(
            desired,
            &["name"],
            &["subnet_ids", "security_group_ids", "secret_arns", "session_pinning_filters"],
        );
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.rds(&ctx.region).await;
        let proxies = list_proxies(client).await?;
        let wanted = proxies
            .iter()
            .filter(|p| p.db_proxy_name().is_some_and(|n| ids.iter().any(|id| id.eq_ignore_ascii_case(n))));
        let reads: Vec<_> = wanted.map(|p| full_attrs(client, p, scope)).collect();
        let found: Vec<Option<Attrs>> =
            stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await?;
        Ok(rds::by_id(ids, found.into_iter().flatten().collect()))
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

    /// Lists the region's proxies and returns the one carrying this stack's
    /// and this address's ownership tags (one ListTagsForResource per proxy).
    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        let client = factory(ctx)?.rds(&ctx.region).await;
        let all = proxy_tags(&client, &BTreeSet::new()).await?;
        Ok(all.into_iter().flatten().find(|(_, tags)| rds::owns(tags, ctx, addr)).map(|(name, _)| name))
    }

    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        let client = factory(ctx)?.rds(&ctx.region).await;
        let all = proxy_tags(&client, known).await?;
        Ok(owned::from_tag_reads(&all, &ctx.stack, known))
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_rds::operation::describe_db_proxies::DescribeDbProxiesOutput;
    use aws_sdk_rds::operation::describe_db_proxy_target_groups::DescribeDbProxyTargetGroupsOutput;
    use aws_sdk_rds::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_rds::operation::modify_db_proxy::ModifyDbProxyOutput;
    use aws_sdk_rds::types::{ConnectionPoolConfigurationInfo, DbProxyStatus, DbProxyTargetGroup};
    use aws_smithy_mocks::{Rule, mock};

    use super::*;
    use crate::provider::aws::rds::{TEST_BACKOFF, mock_rds, test_ctx};

    const SECRET_A: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf";
    const SECRET_B: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:readonly-AbCdEf";

    fn described(tls: bool, users: &[(&str, &str)]) -> DescribeDbProxiesOutput {
        let auth = users.iter().map(|(secret, iam)| {
            UserAuthConfigInfo::builder()
                .secret_arn(*secret)
                .auth_scheme(AuthScheme::Secrets)
                .iam_auth(IamAuthMode::from(*iam))
                .client_password_auth_type(ClientPasswordAuthType::PostgresScramSha256)
                .build()
        });
        let proxy = AwsProxy::builder()
            .db_proxy_name("shop-pool")
            .db_proxy_arn("arn:aws:rds:us-east-1:123456789012:db-proxy:prx-0123456789abcdef0")
            .status(DbProxyStatus::Available)
            .engine_family("POSTGRESQL")
            .require_tls(tls)
            .idle_client_timeout(300)
            .set_auth(Some(auth.collect()))
            .build();
        DescribeDbProxiesOutput::builder().db_proxies(proxy).build()
    }

    fn pool_group() -> Rule {
        mock!(Client::describe_db_proxy_target_groups).then_output(|| {
            let pool = ConnectionPoolConfigurationInfo::builder().max_connections_percent(80).build();
            let group = DbProxyTargetGroup::builder().is_default(true).connection_pool_config(pool).build();
            DescribeDbProxyTargetGroupsOutput::builder().target_groups(group).build()
        })
    }

    /// moto has no ModifyDBProxy: TLS and a second user change in place in
    /// one call that sends exactly what the plan changes (not the idle
    /// timeout it leaves alone), and the answer is read back.
    #[tokio::test]
    async fn proxy_settings_change_in_one_modify_call() {
        let before: Attrs = [
            ("require_tls".to_owned(), Value::Bool(false)),
            ("idle_client_timeout".to_owned(), Value::Int(300)),
            ("secret_arns".to_owned(), Value::from(vec![SECRET_A.to_owned()])),
            ("iam_auth".to_owned(), Value::str("DISABLED")),
            ("client_password_auth_type".to_owned(), Value::str(SCRAM)),
        ]
        .into();
        let mut after = before.clone();
        after.insert("require_tls".into(), Value::Bool(true));
        after.insert("secret_arns".into(), Value::from(vec![SECRET_A.to_owned(), SECRET_B.to_owned()]));
        after.insert("iam_auth".into(), Value::str("REQUIRED"));
        let update = PlannedUpdate {
            before,
            after,
            changed: vec!["iam_auth".into(), "require_tls".into(), "secret_arns".into()],
        };

        let modify = mock!(Client::modify_db_proxy)
            .match_requests(|r| {
                r.db_proxy_name() == Some("shop-pool")
                    && r.require_tls() == Some(true)
                    && r.idle_client_timeout().is_none()
                    && r.auth().len() == 2
                    && r.auth().iter().all(|a| a.iam_auth() == Some(&IamAuthMode::Required))
                    && r.auth()[1].secret_arn() == Some(SECRET_B)
            })
            .then_output(|| ModifyDbProxyOutput::builder().build());
        // Available before the change; then with it, for the wait and the read back.
        let both = [(SECRET_A, "REQUIRED"), (SECRET_B, "REQUIRED")];
        let reads = mock!(Client::describe_db_proxies)
            .sequence()
            .output(|| described(false, &[(SECRET_A, "DISABLED")]))
            .output(move || described(true, &both))
            .output(move || described(true, &both))
            .build();
        let tags = mock!(Client::list_tags_for_resource).then_output(|| ListTagsForResourceOutput::builder().build());
        let pool = pool_group();
        let client = mock_rds(&[&reads, &modify, &pool, &tags]);
        let (ctx, _) = test_ctx();
        let got = update_with(&client, &ctx, "shop-pool", &update, TEST_BACKOFF).await.unwrap();
        assert_eq!(modify.num_calls(), 1);
        assert_eq!(got["require_tls"], Value::Bool(true));
        assert_eq!(got["secret_arns"], Value::from(vec![SECRET_A.to_owned(), SECRET_B.to_owned()]));
        assert_eq!(got["iam_auth"], Value::str("REQUIRED"));
        assert_eq!(got["max_connections_percent"], Value::Int(80));
    }

    /// Users sharing one setting read as it; users set apart outside pgstack
    /// read as `mixed`, which differs from any setting a stack can ask for.
    #[test]
    fn user_settings_read_as_the_one_they_share() {
        let user = |iam: IamAuthMode| UserAuthConfigInfo::builder().iam_auth(iam).build();
        fn iam(a: &UserAuthConfigInfo) -> &str {
            a.iam_auth().map_or(IAM_DISABLED, |m| m.as_str())
        }
        assert_eq!(common(&[user(IamAuthMode::Required), user(IamAuthMode::Required)], iam), Value::str("REQUIRED"));
        assert_eq!(common(&[user(IamAuthMode::Required), user(IamAuthMode::Disabled)], iam), Value::str("mixed"));
        assert_eq!(common(&[], iam), Value::Null);
        let desired: Attrs = [
            ("secret_arns".to_owned(), Value::from(vec![SECRET_A.to_owned(), SECRET_B.to_owned()])),
            ("iam_auth".to_owned(), Value::str("REQUIRED")),
        ]
        .into();
        let sent = auth_configs(&desired);
        assert_eq!(sent.len(), 2);
        assert!(sent.iter().all(|a| a.auth_scheme() == Some(&AuthScheme::Secrets)
            && a.iam_auth() == Some(&IamAuthMode::Required)
            && a.client_password_auth_type() == Some(&ClientPasswordAuthType::PostgresScramSha256)));
    }

    /// Every setting that can change in place is sent by an update.
    #[test]
    fn every_changeable_attribute_is_sent() {
        let mut special = vec!["tags"];
        special.extend(AUTH);
        special.extend(POOL);
        assert_eq!(rds_fields::unsent(&SCHEMA, FIELDS, &special), Vec::<&str>::new());
    }
}
