//! Helpers for provider tests against moto: desired attributes as the engine
//! builds them, the plan's diff, reads of one object, and the network an RDS
//! database needs.

use std::collections::BTreeMap;

use pgstack::addr::ResourceAddr;
use pgstack::plan::diff::diff_with;
use pgstack::provider::aws::db_subnet_group::DbSubnetGroup;
use pgstack::provider::schema::{TAG_ADDRESS, TAG_STACK};
use pgstack::provider::{Ctx, ReadScope, ResourceType};
use pgstack::value::{Attrs, Value};

use super::moto::{MotoGuard, REGION};

/// What the engine hands to `create`: schema defaults, `set`, the ownership
/// tags of `addr` in `stack` merged into `tags` (for taggable types), normalized.
pub fn desired(rt: &dyn ResourceType, stack: &str, addr: &ResourceAddr, set: &[(&str, Value)]) -> Attrs {
    let mut a: Attrs =
        rt.schema().attrs.iter().filter_map(|at| Some((at.name.to_owned(), at.default?.value()))).collect();
    a.extend(set.iter().map(|(k, v)| (k.to_string(), v.clone())));
    if !rt.schema().taggable {
        rt.normalize(&mut a);
        return a;
    }
    let mut tags = a.get("tags").and_then(Value::as_map).cloned().unwrap_or_default();
    tags.insert(TAG_STACK.into(), Value::str(stack));
    tags.insert(TAG_ADDRESS.into(), Value::str(addr.to_string()));
    a.insert("tags".into(), Value::Map(tags));
    rt.normalize(&mut a);
    a
}

/// The names of the attributes a plan would change, as the plan computes them:
/// config-only values come from state (here: `desired`), the provider's
/// `suppress_diff` applies.
pub fn changes(rt: &dyn ResourceType, current: &Attrs, desired: &Attrs) -> Vec<String> {
    let mut current = current.clone();
    for a in rt.schema().attrs.iter().filter(|a| a.config_only) {
        if let Some(v) = desired.get(a.name) {
            current.insert(a.name.to_owned(), v.clone());
        }
    }
    let suppress = |n: &str, c: &Value, d: &Value| rt.suppress_diff(n, c, d);
    diff_with(rt.schema(), &current, desired, &[], &suppress).into_iter().map(|c| c.name).collect()
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
