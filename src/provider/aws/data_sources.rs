//! Data sources (`[data.TYPE.NAME]`): existing objects read at plan time by
//! their filters, never changed. Each type is a schema (its filters, and
//! the computed attributes references read) and one read. Zero or several
//! matches fail the plan with the filter and what was found. Reads go
//! through the client factory, so `-v` counts them.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::Filter;

use super::{api_error, factory, get_str, tags_of};
use crate::provider::schema::{Attr, AttrType, Kind, Ownership, Pricing, Schema};
use crate::provider::{Ctx, DataSource, ProviderError, Result};
use crate::value::{Attrs, Value};

/// Every data source type pgstack ships.
pub fn all() -> Vec<Arc<dyn DataSource>> {
    vec![
        Arc::new(Vpc),
        Arc::new(Subnets),
        Arc::new(SecurityGroup),
        Arc::new(AvailabilityZones),
        Arc::new(CallerIdentity),
        Arc::new(KmsKey),
        Arc::new(IamRole),
        Arc::new(DbCluster),
        Arc::new(DbInstance),
        Arc::new(Secret),
    ]
}

/// A data source's schema: no tags of its own, nothing to own or price.
const fn data_schema(attrs: &'static [Attr]) -> Schema {
    Schema { attrs, guarded: false, taggable: false, ownership: Ownership::Untagged, pricing: Pricing::Free }
}

/// The filter `args` describe, as the error of a read shows it.
fn shown(args: &Attrs) -> String {
    let parts: Vec<String> = args.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| format!("{k} = {v}")).collect();
    if parts.is_empty() { "no filter".to_owned() } else { parts.join(", ") }
}

/// The error of a filter that matches nothing.
fn nothing_matches(what: &str, args: &Attrs) -> ProviderError {
    ProviderError::Invalid(format!("data {what}: nothing matches {}", shown(args)))
}

/// The one item of `found` (their ids in `ids`), or why there is not one.
fn exactly_one<T>(what: &str, args: &Attrs, mut found: Vec<T>, ids: Vec<String>) -> Result<T> {
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(nothing_matches(what, args)),
        n => Err(ProviderError::Invalid(format!(
            "data {what}: {n} objects match {} ({}); narrow the filter to one",
            shown(args),
            ids.join(", ")
        ))),
    }
}

/// EC2 filters for `id_filter` (from `id`) and each `tags` entry.
fn ec2_filters(args: &Attrs, id_filter: &str, extra: &[(&str, &str)]) -> Vec<Filter> {
    let mut out = Vec::new();
    let one = |name: &str, value: &str| Filter::builder().name(name).values(value).build();
    if let Some(id) = get_str(args, "id") {
        out.push(one(id_filter, id));
    }
    for (attr, filter) in extra {
        if let Some(v) = get_str(args, attr) {
            out.push(one(filter, v));
        }
    }
    for (k, v) in tags_of(args) {
        out.push(one(&format!("tag:{k}"), &v));
    }
    out
}

const TAGS: Attr = Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags);

static VPC: Schema = data_schema(&[
    Attr::optional("id", AttrType::Str),
    Attr::optional("cidr_block", AttrType::Str),
    TAGS,
    Attr::computed("arn", AttrType::Str),
    Attr::computed("owner_id", AttrType::Str),
]);

/// `data.vpc`: one VPC by id, CIDR block and tags.
pub struct Vpc;

#[async_trait]
impl DataSource for Vpc {
    fn type_name(&self) -> &'static str {
        "vpc"
    }
    fn schema(&self) -> &'static Schema {
        &VPC
    }
    async fn read(&self, ctx: &Ctx, args: &Attrs) -> Result<Attrs> {
        let ec2 = factory(ctx)?.ec2(&ctx.region).await;
        let filters = ec2_filters(args, "vpc-id", &[("cidr_block", "cidr-block")]);
        let found: Vec<_> = ec2
            .describe_vpcs()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| api_error("DescribeVpcs", e))?;
        let ids = found.iter().filter_map(|v| v.vpc_id().map(str::to_owned)).collect();
        let vpc = exactly_one("vpc", args, found, ids)?;
        let id = vpc.vpc_id().unwrap_or_default();
        let owner = vpc.owner_id().unwrap_or_default();
        let partition = super::ec2::partition(&ctx.region);
        Ok(Attrs::from([
            ("id".to_owned(), Value::str(id)),
            ("cidr_block".to_owned(), vpc.cidr_block().into()),
            ("owner_id".to_owned(), Value::str(owner)),
            ("arn".to_owned(), Value::str(format!("arn:{partition}:ec2:{}:{owner}:vpc/{id}", ctx.region))),
        ]))
    }
}

static SUBNETS: Schema = data_schema(&[
    Attr::optional("vpc_id", AttrType::Str),
    TAGS,
    Attr::computed("ids", AttrType::List(&AttrType::Str)),
    Attr::computed("availability_zones", AttrType::List(&AttrType::Str)),
    Attr::computed("cidr_blocks", AttrType::List(&AttrType::Str)),
]);

/// `data.subnets`: the subnets of a VPC with the given tags, as lists in
/// one order (by availability zone, then id); none is an error.
pub struct Subnets;

#[async_trait]
impl DataSource for Subnets {
    fn type_name(&self) -> &'static str {
        "subnets"
    }
    fn schema(&self) -> &'static Schema {
        &SUBNETS
    }
    async fn read(&self, ctx: &Ctx, args: &Attrs) -> Result<Attrs> {
        let ec2 = factory(ctx)?.ec2(&ctx.region).await;
        let filters = ec2_filters(args, "subnet-id", &[("vpc_id", "vpc-id")]);
        let mut found: Vec<_> = ec2
            .describe_subnets()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| api_error("DescribeSubnets", e))?;
        if found.is_empty() {
            return Err(nothing_matches("subnets", args));
        }
        found.sort_by(|a, b| (a.availability_zone(), a.subnet_id()).cmp(&(b.availability_zone(), b.subnet_id())));
        let list = |f: fn(&aws_sdk_ec2::types::Subnet) -> Option<&str>| {
            Value::List(found.iter().map(|s| Value::str(f(s).unwrap_or_default())).collect())
        };
        Ok(Attrs::from([
            ("ids".to_owned(), list(|s| s.subnet_id())),
            ("availability_zones".to_owned(), list(|s| s.availability_zone())),
            ("cidr_blocks".to_owned(), list(|s| s.cidr_block())),
        ]))
    }
}

static SECURITY_GROUP: Schema = data_schema(&[
    Attr::optional("id", AttrType::Str),
    Attr::optional("name", AttrType::Str),
    Attr::optional("vpc_id", AttrType::Str),
    TAGS,
]);

/// `data.security_group`: one security group by id, name, VPC and tags.
pub struct SecurityGroup;

#[async_trait]
impl DataSource for SecurityGroup {
    fn type_name(&self) -> &'static str {
        "security_group"
    }
    fn schema(&self) -> &'static Schema {
        &SECURITY_GROUP
    }
    async fn read(&self, ctx: &Ctx, args: &Attrs) -> Result<Attrs> {
        let ec2 = factory(ctx)?.ec2(&ctx.region).await;
        let filters = ec2_filters(args, "group-id", &[("name", "group-name"), ("vpc_id", "vpc-id")]);
        let found: Vec<_> = ec2
            .describe_security_groups()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| api_error("DescribeSecurityGroups", e))?;
        let ids = found.iter().filter_map(|g| g.group_id().map(str::to_owned)).collect();
        let g = exactly_one("security_group", args, found, ids)?;
        Ok(Attrs::from([
            ("id".to_owned(), g.group_id().into()),
            ("name".to_owned(), g.group_name().into()),
            ("vpc_id".to_owned(), g.vpc_id().into()),
        ]))
    }
}

static AVAILABILITY_ZONES: Schema = data_schema(&[Attr::computed("names", AttrType::List(&AttrType::Str))]);

/// `data.availability_zones`: the region's zones that are available, sorted.
pub struct AvailabilityZones;

#[async_trait]
impl DataSource for AvailabilityZones {
    fn type_name(&self) -> &'static str {
        "availability_zones"
    }
    fn schema(&self) -> &'static Schema {
        &AVAILABILITY_ZONES
    }
    async fn read(&self, ctx: &Ctx, _args: &Attrs) -> Result<Attrs> {
        let ec2 = factory(ctx)?.ec2(&ctx.region).await;
        let out = ec2
            .describe_availability_zones()
            .filters(Filter::builder().name("state").values("available").build())
            .send()
            .await
            .map_err(|e| api_error("DescribeAvailabilityZones", e))?;
        let mut names: Vec<String> =
            out.availability_zones().iter().filter_map(|z| z.zone_name().map(str::to_owned)).collect();
        names.sort();
        Ok(Attrs::from([("names".to_owned(), Value::from(names))]))
    }
}

static CALLER_IDENTITY: Schema = data_schema(&[
    Attr::computed("account_id", AttrType::Str),
    Attr::computed("arn", AttrType::Str),
    Attr::computed("partition", AttrType::Str),
]);

/// `data.caller_identity`: the account, principal and partition pgstack runs as.
pub struct CallerIdentity;

#[async_trait]
impl DataSource for CallerIdentity {
    fn type_name(&self) -> &'static str {
        "caller_identity"
    }
    fn schema(&self) -> &'static Schema {
        &CALLER_IDENTITY
    }
    async fn read(&self, ctx: &Ctx, _args: &Attrs) -> Result<Attrs> {
        let sts = factory(ctx)?.sts(&ctx.region).await;
        let out = sts.get_caller_identity().send().await.map_err(|e| api_error("GetCallerIdentity", e))?;
        let arn = out.arn().unwrap_or_default();
        let partition = arn.split(':').nth(1).unwrap_or("aws");
        Ok(Attrs::from([
            ("account_id".to_owned(), out.account().into()),
            ("arn".to_owned(), Value::str(arn)),
            ("partition".to_owned(), Value::str(partition)),
        ]))
    }
}

static KMS_KEY: Schema = data_schema(&[Attr::required("id", AttrType::Str), Attr::computed("arn", AttrType::Str)]);

/// `data.kms_key`: a key by id, ARN or alias (`alias/NAME`); `id` reads as the key id.
pub struct KmsKey;

#[async_trait]
impl DataSource for KmsKey {
    fn type_name(&self) -> &'static str {
        "kms_key"
    }
    fn schema(&self) -> &'static Schema {
        &KMS_KEY
    }
    async fn read(&self, ctx: &Ctx, args: &Attrs) -> Result<Attrs> {
        let kms = factory(ctx)?.kms(&ctx.region).await;
        let id = get_str(args, "id").unwrap_or_default();
        let out = kms.describe_key().key_id(id).send().await.map_err(|e| match super::error_code(&e) {
            Some("NotFoundException") => nothing_matches("kms_key", args),
            _ => api_error("DescribeKey", e),
        })?;
        let meta = out.key_metadata().ok_or_else(|| ProviderError::Invalid("DescribeKey returned no key".into()))?;
        Ok(Attrs::from([("id".to_owned(), Value::str(meta.key_id())), ("arn".to_owned(), meta.arn().into())]))
    }
}

static IAM_ROLE: Schema = data_schema(&[
    Attr::required("name", AttrType::Str),
    Attr::computed("arn", AttrType::Str),
    Attr::computed("id", AttrType::Str),
]);

/// `data.iam_role`: a role by name.
pub struct IamRole;

#[async_trait]
impl DataSource for IamRole {
    fn type_name(&self) -> &'static str {
        "iam_role"
    }
    fn schema(&self) -> &'static Schema {
        &IAM_ROLE
    }
    async fn read(&self, ctx: &Ctx, args: &Attrs) -> Result<Attrs> {
        let iam = factory(ctx)?.iam(&ctx.region).await;
        let name = get_str(args, "name").unwrap_or_default();
        let out = iam.get_role().role_name(name).send().await.map_err(|e| match super::error_code(&e) {
            Some("NoSuchEntity") => nothing_matches("iam_role", args),
            _ => api_error("GetRole", e),
        })?;
        let role = out.role().ok_or_else(|| ProviderError::Invalid("GetRole returned no role".into()))?;
        Ok(Attrs::from([
            ("id".to_owned(), Value::str(role.role_name())),
            ("name".to_owned(), Value::str(role.role_name())),
            ("arn".to_owned(), Value::str(role.arn())),
        ]))
    }
}

static DB_CLUSTER: Schema = data_schema(&[
    Attr::required("cluster_identifier", AttrType::Str),
    Attr::computed("id", AttrType::Str),
    Attr::computed("arn", AttrType::Str),
    Attr::computed("endpoint", AttrType::Str),
    Attr::computed("reader_endpoint", AttrType::Str),
    Attr::computed("port", AttrType::Int),
    Attr::computed("cluster_resource_id", AttrType::Str),
]);

/// `data.db_cluster`: an Aurora cluster another stack owns, by identifier.
pub struct DbCluster;

#[async_trait]
impl DataSource for DbCluster {
    fn type_name(&self) -> &'static str {
        "db_cluster"
    }
    fn schema(&self) -> &'static Schema {
        &DB_CLUSTER
    }
    async fn read(&self, ctx: &Ctx, args: &Attrs) -> Result<Attrs> {
        let rds = factory(ctx)?.rds(&ctx.region).await;
        let id = get_str(args, "cluster_identifier").unwrap_or_default();
        let out = rds.describe_db_clusters().db_cluster_identifier(id).send().await.map_err(|e| {
            if super::rds::is_not_found(&e) {
                nothing_matches("db_cluster", args)
            } else {
                api_error("DescribeDBClusters", e)
            }
        })?;
        let found = out.db_clusters().to_vec();
        let ids = found.iter().filter_map(|c| c.db_cluster_identifier().map(str::to_owned)).collect();
        let c = exactly_one("db_cluster", args, found, ids)?;
        Ok(Attrs::from([
            ("id".to_owned(), c.db_cluster_identifier().into()),
            ("arn".to_owned(), c.db_cluster_arn().into()),
            ("endpoint".to_owned(), c.endpoint().into()),
            ("reader_endpoint".to_owned(), c.reader_endpoint().into()),
            ("port".to_owned(), c.port().into()),
            ("cluster_resource_id".to_owned(), c.db_cluster_resource_id().into()),
        ]))
    }
}

static DB_INSTANCE: Schema = data_schema(&[
    Attr::required("identifier", AttrType::Str),
    Attr::computed("id", AttrType::Str),
    Attr::computed("arn", AttrType::Str),
    Attr::computed("address", AttrType::Str),
    Attr::computed("port", AttrType::Int),
]);

/// `data.db_instance`: an RDS instance another stack owns (the source of a
/// cross-stack replica), by identifier.
pub struct DbInstance;

#[async_trait]
impl DataSource for DbInstance {
    fn type_name(&self) -> &'static str {
        "db_instance"
    }
    fn schema(&self) -> &'static Schema {
        &DB_INSTANCE
    }
    async fn read(&self, ctx: &Ctx, args: &Attrs) -> Result<Attrs> {
        let rds = factory(ctx)?.rds(&ctx.region).await;
        let id = get_str(args, "identifier").unwrap_or_default().to_owned();
        let found = super::rds::describe_instances(&rds, &[id]).await?;
        let ids = found.iter().filter_map(|d| d.db_instance_identifier().map(str::to_owned)).collect();
        let d = exactly_one("db_instance", args, found, ids)?;
        Ok(Attrs::from([
            ("id".to_owned(), d.db_instance_identifier().into()),
            ("arn".to_owned(), d.db_instance_arn().into()),
            ("address".to_owned(), d.endpoint().and_then(|e| e.address()).into()),
            ("port".to_owned(), d.endpoint().and_then(|e| e.port()).into()),
        ]))
    }
}

static SECRET: Schema = data_schema(&[
    Attr::required("name", AttrType::Str),
    Attr::computed("arn", AttrType::Str),
    Attr::computed("kms_key_id", AttrType::Str),
]);

/// `data.secret`: a secret's metadata by name or ARN; never its value.
pub struct Secret;

#[async_trait]
impl DataSource for Secret {
    fn type_name(&self) -> &'static str {
        "secret"
    }
    fn schema(&self) -> &'static Schema {
        &SECRET
    }
    async fn read(&self, ctx: &Ctx, args: &Attrs) -> Result<Attrs> {
        let sm = factory(ctx)?.secretsmanager(&ctx.region).await;
        let name = get_str(args, "name").unwrap_or_default();
        let out = sm.describe_secret().secret_id(name).send().await.map_err(|e| match super::error_code(&e) {
            Some("ResourceNotFoundException") => nothing_matches("secret", args),
            _ => api_error("DescribeSecret", e),
        })?;
        Ok(Attrs::from([
            ("name".to_owned(), out.name().into()),
            ("arn".to_owned(), out.arn().into()),
            ("kms_key_id".to_owned(), out.kms_key_id().into()),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_or_several_matches_name_the_filter_and_what_was_found() {
        let args: Attrs = [
            (
                "tags".to_owned(),
                Value::from(std::collections::BTreeMap::from([("Name".to_owned(), "shared".to_owned())])),
            ),
            ("id".to_owned(), Value::Null),
        ]
        .into();
        let none = exactly_one::<u8>("vpc", &args, vec![], vec![]).unwrap_err().to_string();
        assert!(none.contains("nothing matches tags = {"), "{none}");
        let two = exactly_one("vpc", &args, vec![1, 2], vec!["vpc-1".into(), "vpc-2".into()]).unwrap_err().to_string();
        assert!(two.contains("2 objects match") && two.contains("vpc-1, vpc-2"), "{two}");
        assert_eq!(exactly_one("vpc", &args, vec![7], vec!["vpc-7".into()]).unwrap(), 7);
    }

    #[test]
    fn every_data_source_has_a_documented_schema() {
        for d in all() {
            assert!(d.schema().attrs.iter().all(|a| a.name != "tags" || a.mode != crate::schema::Mode::Computed));
        }
    }
}
