//! `subnet`: a VPC subnet.
//!
//! - Create: CreateSubnet with the tags in the same call; then
//!   ModifySubnetAttribute when `map_public_ip_on_launch` is on (AWS starts a
//!   new subnet with it off). Either is sent again while EC2 does not show
//!   the VPC (or subnet) this run just created ([`ec2::send_naming`]).
//! - Delete: DeleteSubnet, sent again while AWS answers `DependencyViolation`
//!   (network interfaces of a database or endpoint just deleted linger for
//!   minutes; [`ec2::delete_retrying`] names them).
//! - `availability_zone` is optional: when unset AWS picks one, reads report
//!   it, and the plan does not diff an unset optional attribute.
//! - Read: one paged DescribeSubnets filtered by `subnet-id` (200 ids per
//!   call); it carries everything, ARN included.
//! - Orphan scan (`list_owned`): the region's shared GetResources ([`super::owned`]).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType as Ec2ResourceType, Subnet as AwsSubnet};

use super::ec2::{
    self, Named, arn, delete_retrying, describe_all, describe_in_chunks, desired_tags, filter, insert_tags,
    send_naming, sync_tags, tag_specification,
};
use super::owned;
use super::{factory, get_bool, get_str};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, Ownership, Pricing, Schema};
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::required("vpc_id", AttrType::Str).force_new(),
        Attr::required("cidr_block", AttrType::Str).force_new().pattern(Kind::VpcCidr),
        Attr::optional("availability_zone", AttrType::Str).force_new(),
        Attr::optional("map_public_ip_on_launch", AttrType::Bool).default(Default::Bool(false)),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: false,
    taggable: true,
    ownership: Ownership::indexed("ec2:subnet", "subnet/"),
    pricing: Pricing::Free,
};

/// The `subnet` resource type.
pub struct Subnet;

/// Attributes of a subnet as AWS describes it; `None` without an id.
fn subnet_attrs(s: &AwsSubnet, region: &str) -> Option<(String, Attrs)> {
    let id = s.subnet_id()?.to_owned();
    let arn = s.subnet_arn().map(str::to_owned).or_else(|| s.owner_id().map(|o| arn(region, o, "subnet", &id)));
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(&id));
    a.insert("arn".into(), arn.into());
    a.insert("vpc_id".into(), s.vpc_id().into());
    a.insert("cidr_block".into(), s.cidr_block().into());
    a.insert("availability_zone".into(), s.availability_zone().into());
    a.insert("map_public_ip_on_launch".into(), Value::Bool(s.map_public_ip_on_launch().unwrap_or(false)));
    insert_tags(&mut a, s.tags());
    Some((id, a))
}

/// Sets `map_public_ip_on_launch`, waiting for a subnet this run created
/// that EC2 does not show yet ([`send_naming`]).
async fn set_map_public_ip(ctx: &Ctx, client: &aws_sdk_ec2::Client, id: &str, on: bool) -> Result<()> {
    let call = client
        .modify_subnet_attribute()
        .subnet_id(id)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(on).build());
    send_naming(ctx, "ModifySubnetAttribute", &[(Named::Subnet, id)], || call.clone().send()).await?;
    Ok(())
}

#[async_trait]
impl ResourceType for Subnet {
    fn type_name(&self) -> &'static str {
        "subnet"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], _scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        let client = &client;
        let subnets = describe_in_chunks(ids, |chunk| async move {
            describe_all!(client.describe_subnets(), vec![filter("subnet-id", chunk)], "DescribeSubnets")
        })
        .await?;
        Ok(subnets.iter().filter_map(|s| subnet_attrs(s, &ctx.region)).collect())
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        let required =
            |name: &str| get_str(desired, name).ok_or_else(|| ProviderError::Invalid(format!("subnet needs {name}")));
        let vpc_id = required("vpc_id")?;
        let request = client
            .create_subnet()
            .vpc_id(vpc_id)
            .cidr_block(required("cidr_block")?)
            .set_availability_zone(get_str(desired, "availability_zone").map(str::to_owned))
            .set_tag_specifications(tag_specification(Ec2ResourceType::Subnet, desired).map(|t| vec![t]));
        let out = send_naming(ctx, "CreateSubnet", &[(Named::Vpc, vpc_id)], || request.clone().send()).await?;
        let (id, mut attrs) = out
            .subnet()
            .and_then(|s| subnet_attrs(s, &ctx.region))
            .ok_or_else(|| ProviderError::Invalid("CreateSubnet answered without a subnet id".into()))?;
        ctx.record_created(&id);
        let map_public = get_bool(desired, "map_public_ip_on_launch").unwrap_or(false);
        if get_bool(&attrs, "map_public_ip_on_launch") != Some(map_public) {
            set_map_public_ip(ctx, &client, &id, map_public).await?;
            attrs.insert("map_public_ip_on_launch".into(), Value::Bool(map_public));
        }
        // The tags went in with CreateSubnet; its answer may not echo them.
        attrs.insert("tags".into(), desired_tags(desired));
        Ok(attrs)
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        let mut attrs = update.before.clone();
        if let Some(on) = update.to("map_public_ip_on_launch").and_then(Value::as_bool) {
            set_map_public_ip(ctx, &client, id, on).await?;
            attrs.insert("map_public_ip_on_launch".into(), Value::Bool(on));
        }
        sync_tags(&client, id, update).await?;
        attrs.insert("tags".into(), desired_tags(&update.after));
        Ok(attrs)
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        delete_retrying(ctx, &client, "DeleteSubnet", ("subnet-id", id), || client.delete_subnet().subnet_id(id).send())
            .await
    }

    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        let subnets: Vec<AwsSubnet> =
            describe_all!(client.describe_subnets(), ec2::stack_filters(ctx), "DescribeSubnets")?;
        Ok(ec2::first_owned(subnets.iter().map(|s| (s.subnet_id(), s.tags())), ctx, addr))
    }

    /// From the region's shared tagging index ([`owned::indexed`]).
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        owned::indexed(ctx, self.type_name(), known).await
    }
}
