//! Helpers for provider tests against moto: desired attributes and updates
//! as the plan makes them, reads of one object, and the network an RDS
//! database needs.

use std::collections::BTreeMap;

use pgstack::addr::ResourceAddr;
use pgstack::plan::desired::desired_object;
use pgstack::provider::aws::db_subnet_group::DbSubnetGroup;
use pgstack::provider::schema::{TAG_ADDRESS, TAG_STACK};
use pgstack::provider::{Ctx, PlannedUpdate, ReadScope, ResourceType};
use pgstack::value::{Attrs, Value};

use super::moto::{MotoGuard, REGION};

/// What the plan hands to `create` for `addr` in `stack` setting `set`: the
/// ownership tags of `addr` merged into `tags` (for taggable types, as the
/// config does at load), then the plan's own [`desired_object`] (schema
/// defaults, default names, normalized).
pub fn desired(rt: &dyn ResourceType, stack: &str, addr: &ResourceAddr, set: &[(&str, Value)]) -> Attrs {
    let mut a: Attrs = set.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    if rt.schema().taggable {
        let mut tags = a.get("tags").and_then(Value::as_map).cloned().unwrap_or_default();
        tags.insert(TAG_STACK.into(), Value::str(stack));
        tags.insert(TAG_ADDRESS.into(), Value::str(addr.to_string()));
        a.insert("tags".into(), Value::Map(tags));
    }
    desired_object(rt, stack, addr, a, None, false)
}

/// The update a plan from `current` (as state and a refresh hold it,
/// config-only values included) to `desired` makes.
pub fn planned(rt: &dyn ResourceType, current: &Attrs, desired: &Attrs) -> PlannedUpdate {
    rt.planned_update(current, desired, &[])
}

/// The names of the attributes a plan from `current` to `desired` would
/// change: config-only values come from state (here: `desired`), as a read
/// does not report them.
pub fn changes(rt: &dyn ResourceType, current: &Attrs, desired: &Attrs) -> Vec<String> {
    let mut current = current.clone();
    for a in rt.schema().attrs.iter().filter(|a| a.config_only) {
        if let Some(v) = desired.get(a.name) {
            current.insert(a.name.to_owned(), v.clone());
        }
    }
    planned(rt, &current, desired).changed
}

/// Makes the update a plan from `current` to `desired` would make.
pub async fn update(
    rt: &dyn ResourceType,
    ctx: &Ctx,
    id: &str,
    current: &Attrs,
    desired: &Attrs,
) -> pgstack::provider::Result<Attrs> {
    rt.update(ctx, id, &planned(rt, current, desired)).await
}

/// Asserts that a plan from `current` to `desired` is empty.
pub fn assert_clean(rt: &dyn ResourceType, current: &Attrs, desired: &Attrs) {
    let left = changes(rt, current, desired);
    assert!(left.is_empty(), "{} would change {left:?}", rt.type_name());
}

/// Reads one object by id; panics when it is missing.
pub async fn read_one(rt: &dyn ResourceType, ctx: &Ctx, id: &str) -> Attrs {
    let mut got = rt.read_many(ctx, &[id.to_owned()], &ReadScope::All).await.expect("read_many");
    got.remove(id).unwrap_or_else(|| panic!("{id} not found by read_many"))
}

/// What `f` returns, and the calls to `service` ("iam", "kms") it made, by operation.
pub async fn calls_during<F: std::future::Future>(
    m: &MotoGuard,
    service: &str,
    f: F,
) -> (F::Output, BTreeMap<String, u64>) {
    let before = m.factory().calls().snapshot();
    let out = f.await;
    let prefix = format!("{service}:");
    let made = m
        .factory()
        .calls()
        .snapshot()
        .into_iter()
        .filter_map(|(k, n)| {
            let n = n - before.get(&k).copied().unwrap_or(0);
            let op = k.strip_prefix(&prefix)?.to_owned();
            (n > 0).then_some((op, n))
        })
        .collect();
    (out, made)
}

/// Call counts by operation, to compare with [`calls_during`].
pub fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

/// A list of strings.
pub fn strs(items: &[&str]) -> Value {
    Value::from(items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

/// What an RDS database needs, made in moto.
pub struct DbNetwork {
    pub subnet_group: String,
    pub security_group: String,
    pub key_arn: String,
}

/// A VPC with one subnet per AZ of `azs`, DB subnet group `name` over them
/// (made with the provider), a security group and a KMS key.
pub async fn db_network(m: &MotoGuard, ctx: &Ctx, name: &str, cidr_prefix: &str, azs: &[&str]) -> DbNetwork {
    let ec2 = m.factory().ec2(REGION).await;
    let vpc = ec2.create_vpc().cidr_block(format!("{cidr_prefix}.0.0/16")).send().await.unwrap();
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_owned();
    let mut subnets = Vec::new();
    for (i, az) in azs.iter().enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("{cidr_prefix}.{i}.0/24"))
            .availability_zone(*az)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().and_then(|s| s.subnet_id()).unwrap().to_owned());
    }
    let sg = ec2.create_security_group().group_name(name).description("db").vpc_id(&vpc_id).send().await.unwrap();
    let group = desired(
        &DbSubnetGroup,
        &ctx.stack,
        &ResourceAddr::new("db_subnet_group", name),
        &[("name", Value::str(name)), ("subnet_ids", Value::from(subnets))],
    );
    DbSubnetGroup.create(ctx, &group).await.expect("subnet group");
    let key = m.factory().kms(REGION).await.create_key().send().await.unwrap();
    DbNetwork {
        subnet_group: name.to_owned(),
        security_group: sg.group_id().unwrap().to_owned(),
        key_arn: key.key_metadata().and_then(|k| k.arn()).unwrap().to_owned(),
    }
}
