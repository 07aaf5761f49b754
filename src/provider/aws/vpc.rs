//! `vpc`: an Amazon VPC.
//!
//! - Create: CreateVpc with the tags in the same call; then ModifyVpcAttribute
//!   for each DNS setting that differs from AWS's defaults for a new VPC
//!   (support on, hostnames off). pgstack defaults both to on: RDS endpoints
//!   need DNS hostnames. A ModifyVpcAttribute EC2 refuses because it does
//!   not show the new VPC yet is sent again ([`ec2::send_naming`]), and the
//!   main route table is polled until DescribeRouteTables lists it.
//! - Delete: DeleteVpc, sent again while AWS answers `DependencyViolation`
//!   ([`ec2::delete_retrying`], naming the network interfaces left in it).
//! - Read: one paged DescribeVpcs filtered by `vpc-id` (200 ids per call);
//!   DescribeVpcs does not carry the DNS settings, so each VPC also costs two
//!   DescribeVpcAttribute calls, [`PER_RESOURCE_CONCURRENCY`] at a time.
//!   `main_route_table_id` (for S3 gateway endpoints) costs one paged
//!   DescribeRouteTables for all the VPCs read, made only when the scope
//!   asks for it (a reference reads it, see `plan::managed_attrs`).
//! - The ARN is built (`arn:PARTITION:ec2:REGION:OWNER:vpc/ID`): Describe has none.
//! - Not exposed: the default security group id, which would cost extra calls
//!   on every read.
//! - Orphan scan (`list_owned`): the region's shared GetResources ([`super::owned`]).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, ResourceType as Ec2ResourceType, Tenancy, Vpc as AwsVpc, VpcAttributeName,
};
use futures::{StreamExt, TryStreamExt, stream};

use super::ec2::{
    self, Named, arn, delete_retrying, describe_all, describe_in_chunks, desired_tags, filter, insert_tags,
    send_naming, sync_tags, tag_specification,
};
use super::owned;
use super::{PER_RESOURCE_CONCURRENCY, api_error, error_code, factory, get_bool, get_str};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, Ownership, Pricing, Schema};
use crate::provider::waiter::{Backoff, Poll, wait_for};
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::computed("owner_id", AttrType::Str),
        Attr::computed("main_route_table_id", AttrType::Str),
        Attr::required("cidr_block", AttrType::Str).force_new().pattern(Kind::VpcCidr),
        Attr::optional("instance_tenancy", AttrType::Str)
            .default(Default::Str("default"))
            .force_new()
            .one_of(&["default", "dedicated"]),
        Attr::optional("enable_dns_support", AttrType::Bool),
        Attr::optional("enable_dns_hostnames", AttrType::Bool),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: false,
    taggable: true,
    ownership: Ownership::indexed("ec2:vpc", "vpc/"),
    pricing: Pricing::Free,
};

/// The DNS settings `(support, hostnames)` AWS gives a new VPC.
const AWS_DEFAULTS: (bool, bool) = (true, false);

/// The `vpc` resource type.
pub struct Vpc;

/// Attributes of a VPC as DescribeVpcs/CreateVpc give them (no DNS settings);
/// `None` without an id.
fn vpc_attrs(v: &AwsVpc, region: &str) -> Option<(String, Attrs)> {
    let id = v.vpc_id()?.to_owned();
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(&id));
    a.insert("arn".into(), v.owner_id().map(|owner| arn(region, owner, "vpc", &id)).into());
    a.insert("owner_id".into(), v.owner_id().into());
    a.insert("cidr_block".into(), v.cidr_block().into());
    a.insert("instance_tenancy".into(), v.instance_tenancy().map(|t| t.as_str()).into());
    insert_tags(&mut a, v.tags());
    Some((id, a))
}

/// The main route table of each of the VPCs `ids`, by VPC id.
async fn main_route_tables(client: &Client, ids: &[String]) -> Result<BTreeMap<String, String>> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let tables = describe_in_chunks(ids, |chunk| async move {
        describe_all!(
            client.describe_route_tables(),
            vec![filter("vpc-id", chunk), filter("association.main", ["true".to_owned()])],
            "DescribeRouteTables"
        )
    })
    .await?;
    Ok(tables.iter().filter_map(|t| Some((t.vpc_id()?.to_owned(), t.route_table_id()?.to_owned()))).collect())
}

/// The main route table of a VPC just created, which EC2 may list only
/// after a moment (eventual consistency): polled for up to the resource's
/// create timeout, else [`ec2::NEW_OBJECT_WAIT`].
async fn new_vpc_main_route_table(ctx: &Ctx, client: &Client, id: &str) -> Result<String> {
    let ids = [id.to_owned()];
    let what = format!("EC2 to list the main route table of {id}");
    wait_for(ctx, &what, ec2::NEW_OBJECT_WAIT, Backoff::RETRY, || async {
        Ok(match main_route_tables(client, &ids).await?.remove(id) {
            Some(table) => Poll::Ready(table),
            None => Poll::Pending("not listed yet".to_owned()),
        })
    })
    .await
}

/// One DNS setting of a VPC; `None` when the VPC is gone.
async fn read_dns(client: &Client, id: &str, attribute: VpcAttributeName) -> Result<Option<bool>> {
    let out = match client.describe_vpc_attribute().vpc_id(id).attribute(attribute.clone()).send().await {
        Ok(out) => out,
        Err(e) if error_code(&e).is_some_and(|c| c.ends_with(".NotFound")) => return Ok(None),
        Err(e) => return Err(api_error("DescribeVpcAttribute", e)),
    };
    let value = match attribute {
        VpcAttributeName::EnableDnsHostnames => out.enable_dns_hostnames(),
        _ => out.enable_dns_support(),
    };
    Ok(Some(value.and_then(AttributeBooleanValue::value).unwrap_or(false)))
}

/// Sets the DNS attributes that differ between `from` and `to` (each
/// `(support, hostnames)`), in an order AWS accepts: hostnames need support,
/// so hostnames go off first and on last. One call per attribute (AWS allows
/// only one per ModifyVpcAttribute); a VPC this run created that EC2 does
/// not show yet is waited for ([`send_naming`]).
async fn set_dns(ctx: &Ctx, client: &Client, id: &str, from: (bool, bool), to: (bool, bool)) -> Result<()> {
    let value = |b: bool| AttributeBooleanValue::builder().value(b).build();
    let mut steps = Vec::new();
    if from.1 && !to.1 {
        steps.push(client.modify_vpc_attribute().vpc_id(id).enable_dns_hostnames(value(false)));
    }
    if from.0 != to.0 {
        steps.push(client.modify_vpc_attribute().vpc_id(id).enable_dns_support(value(to.0)));
    }
    if !from.1 && to.1 {
        steps.push(client.modify_vpc_attribute().vpc_id(id).enable_dns_hostnames(value(true)));
    }
    for step in steps {
        send_naming(ctx, "ModifyVpcAttribute", &[(Named::Vpc, id)], || step.clone().send()).await?;
    }
    Ok(())
}

/// `(enable_dns_support, enable_dns_hostnames)` of `attrs`, each falling back
/// to `fallback` when unset.
fn dns_of(attrs: &Attrs, fallback: (bool, bool)) -> (bool, bool) {
    (
        get_bool(attrs, "enable_dns_support").unwrap_or(fallback.0),
        get_bool(attrs, "enable_dns_hostnames").unwrap_or(fallback.1),
    )
}

fn with_dns(mut attrs: Attrs, (support, hostnames): (bool, bool)) -> Attrs {
    attrs.insert("enable_dns_support".into(), Value::Bool(support));
    attrs.insert("enable_dns_hostnames".into(), Value::Bool(hostnames));
    attrs
}

#[async_trait]
impl ResourceType for Vpc {
    fn type_name(&self) -> &'static str {
        "vpc"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        let vpcs = describe_in_chunks(ids, |chunk| {
            let client = &client;
            async move { describe_all!(client.describe_vpcs(), vec![filter("vpc-id", chunk)], "DescribeVpcs") }
        })
        .await?;
        let mut found: Vec<(String, Attrs)> = vpcs.iter().filter_map(|v| vpc_attrs(v, &ctx.region)).collect();
        if scope.wants("main_route_table_id") {
            let ids: Vec<String> = found.iter().map(|(id, _)| id.clone()).collect();
            let mains = main_route_tables(&client, &ids).await?;
            for (id, attrs) in &mut found {
                attrs.insert("main_route_table_id".into(), mains.get(id).map(String::as_str).into());
            }
        }
        let client = &client;
        stream::iter(found)
            .map(|(id, mut attrs)| async move {
                // Each DNS setting costs a call; read it only when managed.
                for (name, attr) in [
                    ("enable_dns_support", VpcAttributeName::EnableDnsSupport),
                    ("enable_dns_hostnames", VpcAttributeName::EnableDnsHostnames),
                ] {
                    if !scope.wants(name) {
                        continue;
                    }
                    match read_dns(client, &id, attr).await? {
                        Some(v) => attrs.insert(name.into(), Value::Bool(v)),
                        None => return Ok(None),
                    };
                }
                Ok(Some((id, attrs)))
            })
            .buffer_unordered(PER_RESOURCE_CONCURRENCY)
            .try_filter_map(|found| async move { Ok(found) })
            .try_collect()
            .await
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        let cidr =
            get_str(desired, "cidr_block").ok_or_else(|| ProviderError::Invalid("vpc needs cidr_block".into()))?;
        let tenancy = get_str(desired, "instance_tenancy").unwrap_or("default");
        let out = client
            .create_vpc()
            .cidr_block(cidr)
            .instance_tenancy(Tenancy::from(tenancy))
            .set_tag_specifications(tag_specification(Ec2ResourceType::Vpc, desired).map(|t| vec![t]))
            .send()
            .await
            .map_err(|e| api_error("CreateVpc", e))?;
        let (id, mut attrs) = out
            .vpc()
            .and_then(|v| vpc_attrs(v, &ctx.region))
            .ok_or_else(|| ProviderError::Invalid("CreateVpc answered without a VPC id".into()))?;
        ctx.record_created(&id);
        let dns = dns_of(desired, AWS_DEFAULTS);
        set_dns(ctx, &client, &id, AWS_DEFAULTS, dns).await?;
        let main = new_vpc_main_route_table(ctx, &client, &id).await?;
        attrs.insert("main_route_table_id".into(), Value::str(main));
        // The tags went in with CreateVpc; its answer may not echo them.
        attrs.insert("tags".into(), desired_tags(desired));
        Ok(with_dns(attrs, dns))
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        let from = dns_of(&update.before, AWS_DEFAULTS);
        let to = (
            update.to("enable_dns_support").and_then(Value::as_bool).unwrap_or(from.0),
            update.to("enable_dns_hostnames").and_then(Value::as_bool).unwrap_or(from.1),
        );
        set_dns(ctx, &client, id, from, to).await?;
        sync_tags(&client, id, update).await?;
        let mut attrs = with_dns(update.before.clone(), to);
        attrs.insert("tags".into(), desired_tags(&update.after));
        Ok(attrs)
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        delete_retrying(ctx, &client, "DeleteVpc", ("vpc-id", id), || client.delete_vpc().vpc_id(id).send()).await
    }

    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        let vpcs: Vec<AwsVpc> = describe_all!(client.describe_vpcs(), ec2::stack_filters(ctx), "DescribeVpcs")?;
        Ok(ec2::first_owned(vpcs.iter().map(|v| (v.vpc_id(), v.tags())), ctx, addr))
    }

    /// From the region's shared tagging index ([`owned::indexed`]).
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        owned::indexed(ctx, self.type_name(), known).await
    }
}
