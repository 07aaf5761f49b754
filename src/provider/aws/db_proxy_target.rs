//! `db_proxy_target`: a cluster (or instance) registered in a proxy's
//! default target group — what the proxy pools connections to.
//!
//! - Id: `PROXY/cluster/ID` or `PROXY/instance/ID`: the registration has no
//!   id of its own, and carries no tags (untagged: the orphan scan lists
//!   none; its proxy is tagged).
//! - Create: RegisterDBProxyTargets, sent again while the proxy or the
//!   database is busy (a proxy just created, a cluster still being made);
//!   a target already registered (a create whose reply was lost) is
//!   adopted.
//! - Read: DescribeDBProxyTargets of the proxy, one call per proxy; a
//!   cluster target is the entry AWS tracks the cluster with
//!   (`TRACKED_CLUSTER`). A proxy or target that is gone is omitted.
//! - Update: none; every attribute forces a new registration.
//! - Delete: DeregisterDBProxyTargets; a proxy or target already gone
//!   counts as deleted.
//! - Tested against moto: create, read, delete, drift (deregistered
//!   outside pgstack) and import.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_rds::Client;
use futures::{StreamExt, TryStreamExt, stream};

use super::rds::{self, is_not_found};
use super::{PER_RESOURCE_CONCURRENCY, Settling, api_error, error_code, factory, get_str};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Kind, Ownership, Pricing, Schema};
use crate::provider::waiter::{Backoff, DEFAULT_RETRY_BUDGET};
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("endpoint", AttrType::Str),
        Attr::computed("port", AttrType::Int),
        Attr::computed("target_type", AttrType::Str),
        Attr::required("db_proxy_name", AttrType::Str).force_new().pattern(Kind::RdsIdentifier),
        Attr::optional("db_cluster_identifier", AttrType::Str)
            .force_new()
            .pattern(Kind::RdsIdentifier)
            .conflicts_with(&["db_instance_identifier"]),
        Attr::optional("db_instance_identifier", AttrType::Str).force_new().pattern(Kind::RdsIdentifier),
    ],
    guarded: false,
    taggable: false,
    ownership: Ownership::Untagged,
    pricing: Pricing::ProxyTarget,
};

/// The `db_proxy_target` resource type.
pub struct DbProxyTarget;

/// What a registration is: its proxy, and the cluster or instance.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    proxy: String,
    kind: TargetKind,
    db: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TargetKind {
    Cluster,
    Instance,
}

impl TargetKind {
    fn word(self) -> &'static str {
        match self {
            TargetKind::Cluster => "cluster",
            TargetKind::Instance => "instance",
        }
    }
}

impl Target {
    /// The target `attrs` declare.
    fn of(attrs: &Attrs) -> Result<Target> {
        let proxy = get_str(attrs, "db_proxy_name").unwrap_or_default().to_lowercase();
        let (kind, db) = match (get_str(attrs, "db_cluster_identifier"), get_str(attrs, "db_instance_identifier")) {
            (Some(c), None) => (TargetKind::Cluster, c),
            (None, Some(i)) => (TargetKind::Instance, i),
            _ => {
                return Err(ProviderError::Invalid(
                    "db_proxy_target needs exactly one of db_cluster_identifier and db_instance_identifier".into(),
                ));
            }
        };
        Ok(Target { proxy, kind, db: db.to_lowercase() })
    }

    /// The target an id names; `None` for an id of another form.
    fn parse(id: &str) -> Option<Target> {
        let mut parts = id.splitn(3, '/');
        let (proxy, kind, db) = (parts.next()?, parts.next()?, parts.next()?);
        let kind = match kind {
            "cluster" => TargetKind::Cluster,
            "instance" => TargetKind::Instance,
            _ => return None,
        };
        (!proxy.is_empty() && !db.is_empty() && !db.contains('/')).then(|| Target {
            proxy: proxy.to_lowercase(),
            kind,
            db: db.to_lowercase(),
        })
    }

    fn id(&self) -> String {
        format!("{}/{}/{}", self.proxy, self.kind.word(), self.db)
    }
}

/// The registered targets of `proxy` as attributes by id; `None` when the proxy is gone.
async fn targets_of(client: &Client, proxy: &str) -> Result<Option<BTreeMap<String, Attrs>>> {
    let found: std::result::Result<Vec<_>, _> =
        client.describe_db_proxy_targets().db_proxy_name(proxy).into_paginator().items().send().try_collect().await;
    let found = match found {
        Ok(found) => found,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(api_error("DescribeDBProxyTargets", e)),
    };
    let mut out = BTreeMap::new();
    for t in &found {
        let type_name = t.r#type().map(|t| t.as_str().to_owned());
        let (kind, db) = match type_name.as_deref() {
            Some("TRACKED_CLUSTER") => (TargetKind::Cluster, t.tracked_cluster_id().or(t.rds_resource_id())),
            Some("RDS_INSTANCE") => (TargetKind::Instance, t.rds_resource_id()),
            _ => continue,
        };
        let Some(db) = db else { continue };
        let target = Target { proxy: proxy.to_lowercase(), kind, db: db.to_lowercase() };
        let mut a = Attrs::new();
        a.insert("id".into(), Value::str(target.id()));
        a.insert("db_proxy_name".into(), Value::str(&target.proxy));
        let (named, other) = match kind {
            TargetKind::Cluster => ("db_cluster_identifier", "db_instance_identifier"),
            TargetKind::Instance => ("db_instance_identifier", "db_cluster_identifier"),
        };
        a.insert(named.into(), Value::str(&target.db));
        a.insert(other.into(), Value::Null);
        a.insert("endpoint".into(), t.endpoint().into());
        a.insert("port".into(), t.port().into());
        a.insert("target_type".into(), type_name.as_deref().into());
        a.retain(|_, v| !v.is_null());
        out.insert(target.id(), a);
    }
    Ok(Some(out))
}

/// Reads `target`; fails when it is not registered.
async fn read_one(client: &Client, target: &Target) -> Result<Attrs> {
    let found = targets_of(client, &target.proxy).await?.unwrap_or_default();
    found.get(&target.id()).cloned().ok_or_else(|| ProviderError::NotFound(target.id()))
}

async fn register(client: &Client, ctx: &Ctx, target: &Target, backoff: Backoff) -> Result<()> {
    let within = ctx.timeout.unwrap_or(DEFAULT_RETRY_BUDGET);
    let mut passing = rds::passing(Some(within));
    passing.push(Settling::new("InvalidDBProxyStateFault", "the proxy to become available", within));
    let sent = super::send_settling(ctx, "RegisterDBProxyTargets", &passing, backoff, || {
        let req = client.register_db_proxy_targets().db_proxy_name(&target.proxy).target_group_name("default");
        match target.kind {
            TargetKind::Cluster => req.db_cluster_identifiers(&target.db),
            TargetKind::Instance => req.db_instance_identifiers(&target.db),
        }
        .send()
    })
    .await;
    match sent {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e) == Some("DBProxyTargetAlreadyRegisteredFault") => Ok(()),
        Err(e) => Err(api_error("RegisterDBProxyTargets", e)),
    }
}

#[async_trait]
impl ResourceType for DbProxyTarget {
    fn type_name(&self) -> &'static str {
        "db_proxy_target"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn normalize(&self, desired: &mut Attrs) {
        rds::normalize(desired, &["db_proxy_name", "db_cluster_identifier", "db_instance_identifier"], &[]);
    }

    /// One DescribeDBProxyTargets per proxy the ids name.
    async fn read_many(&self, ctx: &Ctx, ids: &[String], _scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        let wanted: Vec<(String, Target)> =
            ids.iter().filter_map(|id| Some((id.clone(), Target::parse(id)?))).collect();
        let proxies: BTreeSet<&str> = wanted.iter().map(|(_, t)| t.proxy.as_str()).collect();
        if proxies.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.rds(&ctx.region).await;
        let reads: Vec<_> = proxies.into_iter().map(|p| targets_of(client, p)).collect();
        let lists: Vec<Option<BTreeMap<String, Attrs>>> =
            stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await?;
        let all: BTreeMap<String, Attrs> = lists.into_iter().flatten().flatten().collect();
        Ok(wanted.into_iter().filter_map(|(id, t)| Some((id, all.get(&t.id())?.clone()))).collect())
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let target = Target::of(desired)?;
        let client = factory(ctx)?.rds(&ctx.region).await;
        register(&client, ctx, &target, Backoff::default()).await?;
        read_one(&client, &target).await
    }

    /// Never planned: every attribute forces a new registration.
    async fn update(&self, _ctx: &Ctx, id: &str, _update: &PlannedUpdate) -> Result<Attrs> {
        Err(ProviderError::Invalid(format!("db_proxy_target {id} cannot change in place")))
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        let target =
            Target::parse(id).ok_or_else(|| ProviderError::Invalid(format!("not a db_proxy_target id: {id}")))?;
        let client = factory(ctx)?.rds(&ctx.region).await;
        let req = client.deregister_db_proxy_targets().db_proxy_name(&target.proxy).target_group_name("default");
        let req = match target.kind {
            TargetKind::Cluster => req.db_cluster_identifiers(&target.db),
            TargetKind::Instance => req.db_instance_identifiers(&target.db),
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(api_error("DeregisterDBProxyTargets", e)),
        }
    }

    /// None: a registration has no tags; create adopts one already there.
    async fn find_created(&self, _ctx: &Ctx, _addr: &ResourceAddr) -> Result<Option<String>> {
        Ok(None)
    }

    /// Nothing: registrations carry no tags of their own.
    async fn list_owned(&self, _ctx: &Ctx, _known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids name the proxy, the kind and the database, in lowercase; other forms are no target.
    #[test]
    fn ids_round_trip() {
        let attrs: Attrs = [
            ("db_proxy_name".to_owned(), Value::str("Shop-Pool")),
            ("db_cluster_identifier".to_owned(), Value::str("Shop")),
        ]
        .into();
        let t = Target::of(&attrs).unwrap();
        assert_eq!(t.id(), "shop-pool/cluster/shop");
        assert_eq!(Target::parse(&t.id()), Some(t));
        assert_eq!(Target::parse("shop-pool/instance/db-1").map(|t| t.kind), Some(TargetKind::Instance));
        for bad in ["shop-pool", "shop-pool/cluster", "shop-pool/table/x", "/cluster/x", "p/cluster/a/b"] {
            assert_eq!(Target::parse(bad), None, "{bad}");
        }
        let neither: Attrs = [("db_proxy_name".to_owned(), Value::str("p"))].into();
        assert!(Target::of(&neither).is_err());
    }
}
