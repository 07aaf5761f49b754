//! `db_subnet_group`: an RDS DB subnet group.
//!
//! - Id: the group name, which AWS stores in lowercase (so `normalize` lowercases it).
//! - Read: one paged DescribeDBSubnetGroups for the region (it filters by one
//!   name at most), keeping the requested groups; Describe carries no tags, so
//!   each kept group costs one ListTagsForResource, [`PER_RESOURCE_CONCURRENCY`]
//!   at a time.
//! - find_created: the Resource Groups Tagging API does not cover subnet groups
//!   (not in moto either), so the region's groups are listed and the one whose
//!   ownership tags match is picked.
//! - Tested where: create, read, tag changes, delete, import and find_created
//!   against moto; description and subnet changes (ModifyDBSubnetGroup, in
//!   [`update_with`]) with aws-smithy-mocks in this file's tests, because
//!   moto 5.2.5 drops the group on ModifyDBSubnetGroup.
//! - Orphan scan (`list_owned`): DescribeDBSubnetGroups, then ListTagsForResource
//!   for each group state does not hold.
//! - Delete: sent again while RDS says a database just deleted still uses
//!   the group (`InvalidDBSubnetGroupStateFault`), as parameter groups are
//!   ([`super::rds::delete_group`]).
//! - Plan-time check (`check_planned`): a group must span two availability
//!   zones; what the plan can know is checked ([`zone_refusal`]).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::DbSubnetGroup as Group;
use futures::{StreamExt, TryStreamExt, stream};

use super::owned;
use super::rds::{self, rds_tags, read_tags, sync_tags};
use super::{DEFAULT_DESCRIPTION, PER_RESOURCE_CONCURRENCY, api_error, factory, get_str, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, NameRule, Ownership, Pricing, Schema};
use crate::provider::waiter::Backoff;
use crate::provider::{
    Ctx, Finding, Owned, PlannedChange, PlannedUpdate, ProviderError, ReadScope, Refusal, ResourceType, Result,
};
use crate::value::{Attrs, Value};

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::computed("vpc_id", AttrType::Str),
        Attr::optional("name", AttrType::Str)
            .force_new()
            .pattern(Kind::DbSubnetGroupName)
            .default_name(NameRule::new(255, true, "._")),
        Attr::optional("description", AttrType::Str).default(Default::Str(DEFAULT_DESCRIPTION)),
        Attr::required("subnet_ids", AttrType::Set(&AttrType::Str)),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: false,
    taggable: true,
    ownership: Ownership::Listed,
    pricing: Pricing::Free,
};

/// The `db_subnet_group` resource type.
pub struct DbSubnetGroup;

/// AWS's rule for subnet group names (checked after lowercasing).
fn validate_name(name: &str) -> Result<()> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || " ._-".contains(c));
    if name.is_empty() || name.len() > 255 || !ok_chars || name == "default" {
        return Err(ProviderError::Invalid(format!(
            "db_subnet_group name {name:?} must be 1 to 255 letters, digits, spaces, '.', '_' or '-', and not \"default\""
        )));
    }
    Ok(())
}

/// The desired subnet ids, sorted and deduplicated.
fn subnet_ids(attrs: &Attrs) -> Vec<String> {
    let mut ids = attrs.get("subnet_ids").map(Value::string_list).unwrap_or_default();
    ids.sort();
    ids.dedup();
    ids
}

/// Attributes of a group as AWS describes it, without tags; `None` when AWS
/// sent no name.
fn group_attrs(g: &Group) -> Option<Attrs> {
    let name = g.db_subnet_group_name()?.to_owned();
    let mut subnets: Vec<String> =
        g.subnets().iter().filter_map(|s| s.subnet_identifier().map(str::to_owned)).collect();
    subnets.sort();
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(&name));
    a.insert("name".into(), Value::Str(name));
    a.insert("arn".into(), g.db_subnet_group_arn().into());
    a.insert("vpc_id".into(), g.vpc_id().into());
    a.insert("description".into(), Value::str(g.db_subnet_group_description().unwrap_or_default()));
    a.insert("subnet_ids".into(), Value::from(subnets));
    Some(a)
}

fn arn_of(attrs: &Attrs) -> Result<&str> {
    get_str(attrs, "arn").ok_or_else(|| ProviderError::Invalid("db_subnet_group has no arn in state".into()))
}

/// Every subnet group of the region (one paged call).
async fn list_groups(client: &Client) -> Result<Vec<Group>> {
    client
        .describe_db_subnet_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("DescribeDBSubnetGroups", e))
}

/// `attrs` of one group with its tags added.
async fn add_tags(client: &Client, mut attrs: Attrs) -> Result<Attrs> {
    if let Some(arn) = get_str(&attrs, "arn") {
        let tags = read_tags(client, arn).await?;
        attrs.insert("tags".into(), Value::from(tags));
    }
    Ok(attrs)
}

/// Full attributes (with tags) of each group, `PER_RESOURCE_CONCURRENCY` tag reads at a time.
async fn with_tags<'a>(client: &Client, groups: impl IntoIterator<Item = &'a Group>) -> Result<Vec<Attrs>> {
    let reads: Vec<_> = groups.into_iter().filter_map(group_attrs).map(|a| add_tags(client, a)).collect();
    stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await
}

/// Applies a change of description, subnets and tags with `client`; returns
/// the new attributes. Tested with aws-smithy-mocks (moto loses the group).
async fn update_with(client: &Client, name: &str, update: &PlannedUpdate) -> Result<Attrs> {
    let (prior, desired) = (&update.before, &update.after);
    let mut attrs = prior.clone();
    if update.changes_any(&["description", "subnet_ids"]) {
        // ModifyDBSubnetGroup takes the whole group: the unchanged field is sent as it is.
        let description = get_str(desired, "description").unwrap_or(DEFAULT_DESCRIPTION);
        let subnets = subnet_ids(desired);
        let out = client
            .modify_db_subnet_group()
            .db_subnet_group_name(name)
            .db_subnet_group_description(description)
            .set_subnet_ids(Some(subnets.clone()))
            .send()
            .await
            .map_err(|e| api_error("ModifyDBSubnetGroup", e))?;
        match out.db_subnet_group().and_then(group_attrs) {
            Some(now) => attrs.extend(now),
            None => {
                attrs.insert("description".into(), Value::str(description));
                attrs.insert("subnet_ids".into(), Value::from(subnets));
            }
        }
    }
    let tags = tags_of(desired);
    if update.changes("tags") {
        sync_tags(client, arn_of(&attrs)?, &tags_of(prior), &tags).await?;
    }
    attrs.insert("tags".into(), Value::from(tags));
    Ok(attrs)
}

/// Why a new or changed group cannot be created as planned: RDS wants a DB
/// subnet group to span at least two availability zones. What the plan can
/// know: the number of subnets (fewer than two refused, their ids known or
/// not), and the zones of the subnets that exist (one DescribeSubnets);
/// when the known ones span one zone and others are unknown (created in the
/// same plan) or missing, the group is left to AWS.
async fn zone_refusal(ec2: &aws_sdk_ec2::Client, change: &PlannedChange<'_>) -> Result<Option<Refusal>> {
    let subnets = change.desired.get("subnet_ids");
    if !change.creates && change.current.and_then(|c| c.get("subnet_ids")) == subnets {
        return Ok(None);
    }
    let Some(Value::List(items)) = subnets else { return Ok(None) };
    let mut known: Vec<String> = items.iter().filter_map(Value::as_str).map(str::to_owned).collect();
    known.sort();
    known.dedup();
    let unknown = items.iter().filter(|v| v.is_unknown()).count();
    let refusal = |reason: String| {
        Refusal::new(reason)
            .on("subnet_ids")
            .hint("RDS needs a DB subnet group to span at least two availability zones")
            .hint("add a subnet of another availability zone of the VPC to subnet_ids")
    };
    match known.len() + unknown {
        0 => return Ok(Some(refusal("has no subnets".to_owned()))),
        1 => return Ok(Some(refusal("has a single subnet, so a single availability zone".to_owned()))),
        _ => {}
    }
    if known.is_empty() {
        return Ok(None);
    }
    let found: Vec<aws_sdk_ec2::types::Subnet> = ec2
        .describe_subnets()
        .filters(aws_sdk_ec2::types::Filter::builder().name("subnet-id").set_values(Some(known.clone())).build())
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("DescribeSubnets", e))?;
    let zones: BTreeSet<&str> = found.iter().filter_map(|s| s.availability_zone()).collect();
    if zones.len() >= 2 || unknown > 0 || found.len() < known.len() {
        return Ok(None);
    }
    let zone = zones.into_iter().next().unwrap_or("one zone");
    Ok(Some(refusal(format!("has its {} subnets in one availability zone ({zone})", known.len()))))
}

/// DeleteDBSubnetGroup of `name` with `client`, sent again while RDS says a
/// database still uses it.
async fn delete_with(client: &Client, ctx: &Ctx, name: &str, backoff: Backoff) -> Result<()> {
    rds::delete_group(ctx, "DeleteDBSubnetGroup", rds::SUBNET_GROUP_IN_USE, backoff, || {
        client.delete_db_subnet_group().db_subnet_group_name(name).send()
    })
    .await
}

#[async_trait]
impl ResourceType for DbSubnetGroup {
    fn type_name(&self) -> &'static str {
        "db_subnet_group"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// Lowercase name (as AWS stores it) and sorted, deduplicated subnet ids.
    fn normalize(&self, desired: &mut Attrs) {
        if let Some(Value::Str(name)) = desired.get_mut("name") {
            *name = name.to_lowercase();
        }
        if desired.contains_key("subnet_ids") {
            let ids = subnet_ids(desired);
            desired.insert("subnet_ids".into(), Value::from(ids));
        }
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], _scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = factory(ctx)?.rds(&ctx.region).await;
        let groups = list_groups(&client).await?;
        let wanted =
            |g: &&Group| g.db_subnet_group_name().is_some_and(|n| ids.iter().any(|id| id.eq_ignore_ascii_case(n)));
        let found = with_tags(&client, groups.iter().filter(wanted)).await?;
        Ok(ids
            .iter()
            .filter_map(|id| {
                let attrs = found.iter().find(|a| get_str(a, "name").is_some_and(|n| id.eq_ignore_ascii_case(n)))?;
                Some((id.clone(), attrs.clone()))
            })
            .collect())
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let name = get_str(desired, "name").unwrap_or_default().to_lowercase();
        validate_name(&name)?;
        let subnets = subnet_ids(desired);
        if subnets.is_empty() {
            return Err(ProviderError::Invalid("db_subnet_group needs at least one subnet in subnet_ids".into()));
        }
        let tags = tags_of(desired);
        let client = factory(ctx)?.rds(&ctx.region).await;
        let out = client
            .create_db_subnet_group()
            .db_subnet_group_name(&name)
            .db_subnet_group_description(get_str(desired, "description").unwrap_or(DEFAULT_DESCRIPTION))
            .set_subnet_ids(Some(subnets))
            .set_tags(Some(rds_tags(&tags)))
            .send()
            .await
            .map_err(|e| api_error("CreateDBSubnetGroup", e))?;
        let mut attrs = out
            .db_subnet_group()
            .and_then(group_attrs)
            .ok_or_else(|| ProviderError::Invalid(format!("CreateDBSubnetGroup returned no group for {name}")))?;
        attrs.insert("tags".into(), Value::from(tags));
        Ok(attrs)
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        update_with(&factory(ctx)?.rds(&ctx.region).await, id, update).await
    }

    /// Sent again while a database just deleted still holds the group
    /// ([`rds::delete_group`]); a group that is already gone counts as deleted.
    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        delete_with(&factory(ctx)?.rds(&ctx.region).await, ctx, id, Backoff::default()).await
    }

    /// Lists the region's groups and returns the one carrying this stack's and
    /// this address's ownership tags (one ListTagsForResource per group).
    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        let client = factory(ctx)?.rds(&ctx.region).await;
        let groups = list_groups(&client).await?;
        let all = with_tags(&client, &groups).await?;
        Ok(all.iter().find(|a| rds::owns(&tags_of(a), ctx, addr)).and_then(|a| get_str(a, "id")).map(str::to_owned))
    }

    /// DescribeDBSubnetGroups, then the tags of each group not `known`.
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        let client = factory(ctx)?.rds(&ctx.region).await;
        let groups = list_groups(&client).await?;
        let unknown = groups.iter().filter(|g| g.db_subnet_group_name().is_some_and(|n| !known.contains(n)));
        let all = with_tags(&client, unknown).await?;
        Ok(owned::from_attrs(&all, &ctx.stack, known))
    }

    /// A new or changed group spans at least two availability zones, as far
    /// as the plan can tell ([`zone_refusal`]).
    async fn check_planned(&self, ctx: &Ctx, planned: &[PlannedChange<'_>]) -> Result<Vec<Finding>> {
        let ec2 = factory(ctx)?.ec2(&ctx.region).await;
        let mut found = Vec::new();
        for change in planned {
            if let Some(refusal) = zone_refusal(&ec2, change).await? {
                found.push(Finding { addr: change.addr.clone(), refusal, warning: false });
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_rds::operation::add_tags_to_resource::AddTagsToResourceOutput;
    use aws_sdk_rds::operation::modify_db_subnet_group::ModifyDbSubnetGroupOutput;
    use aws_sdk_rds::operation::remove_tags_from_resource::RemoveTagsFromResourceOutput;
    use aws_sdk_rds::types::Subnet;
    use aws_smithy_mocks::{Rule, mock};

    use super::*;
    use crate::provider::aws::rds::mock_rds;

    const ARN: &str = "arn:aws:rds:us-east-1:123456789012:subgrp:db";

    fn attrs(description: &str, subnets: &[&str], tags: &[(&str, &str)]) -> Attrs {
        let mut a = Attrs::new();
        a.insert("id".into(), Value::str("db"));
        a.insert("name".into(), Value::str("db"));
        a.insert("arn".into(), Value::str(ARN));
        a.insert("vpc_id".into(), Value::str("vpc-1"));
        a.insert("description".into(), Value::str(description));
        a.insert("subnet_ids".into(), Value::List(subnets.iter().map(|s| Value::str(*s)).collect()));
        let tags: BTreeMap<String, String> = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        a.insert("tags".into(), Value::from(tags));
        a
    }

    /// ModifyDBSubnetGroup answering with the group as the request describes it.
    fn modify_rule() -> Rule {
        mock!(Client::modify_db_subnet_group).then_compute_output(|req| {
            let subnets = req.subnet_ids().iter().map(|s| Subnet::builder().subnet_identifier(s).build());
            ModifyDbSubnetGroupOutput::builder()
                .db_subnet_group(
                    Group::builder()
                        .db_subnet_group_name(req.db_subnet_group_name().unwrap_or_default())
                        .db_subnet_group_description(req.db_subnet_group_description().unwrap_or_default())
                        .db_subnet_group_arn(ARN)
                        .vpc_id("vpc-1")
                        .set_subnets(Some(subnets.collect()))
                        .build(),
                )
                .build()
        })
    }

    #[tokio::test]
    async fn update_changes_description_and_subnets_in_place() {
        let modify = modify_rule();
        let client = mock_rds(&[&modify]);
        let prior = attrs("old", &["subnet-a", "subnet-b"], &[]);
        let mut desired = attrs("new", &["subnet-c", "subnet-a"], &[]);
        DbSubnetGroup.normalize(&mut desired);
        let got = update_with(&client, "db", &DbSubnetGroup.planned_update(&prior, &desired, &[])).await.unwrap();
        assert_eq!(modify.num_calls(), 1);
        assert_eq!(got, desired, "the result is what the desired attributes say, in canonical form");
    }

    #[tokio::test]
    async fn modify_request_carries_sorted_subnets_and_description() {
        let modify = mock!(Client::modify_db_subnet_group)
            .match_requests(|r| {
                r.db_subnet_group_name() == Some("db")
                    && r.db_subnet_group_description() == Some("new")
                    && r.subnet_ids() == ["subnet-a", "subnet-c"]
            })
            .then_output(|| ModifyDbSubnetGroupOutput::builder().build());
        let client = mock_rds(&[&modify]);
        let prior = attrs("old", &["subnet-a"], &[]);
        let mut desired = attrs("new", &["subnet-c", "subnet-a", "subnet-c"], &[]);
        DbSubnetGroup.normalize(&mut desired);
        let got = update_with(&client, "db", &DbSubnetGroup.planned_update(&prior, &desired, &[])).await;
        let got = got.expect("a request that does not match the rule fails the call");
        assert_eq!(got["subnet_ids"].string_list(), vec!["subnet-a", "subnet-c"]);
        assert_eq!(get_str(&got, "description"), Some("new"));
    }

    #[tokio::test]
    async fn tag_only_change_does_not_modify_the_group() {
        let modify = modify_rule();
        let add = mock!(Client::add_tags_to_resource)
            .match_requests(|r| {
                r.resource_name() == Some(ARN)
                    && r.tags().iter().map(|t| (t.key(), t.value())).eq([(Some("team"), Some("db"))])
            })
            .then_output(|| AddTagsToResourceOutput::builder().build());
        let remove = mock!(Client::remove_tags_from_resource)
            .match_requests(|r| r.resource_name() == Some(ARN) && r.tag_keys() == ["old"])
            .then_output(|| RemoveTagsFromResourceOutput::builder().build());
        let client = mock_rds(&[&modify, &add, &remove]);
        let prior = attrs("d", &["subnet-a"], &[("old", "x"), ("keep", "1")]);
        let desired = attrs("d", &["subnet-a"], &[("team", "db"), ("keep", "1")]);
        let got = update_with(&client, "db", &DbSubnetGroup.planned_update(&prior, &desired, &[])).await.unwrap();
        assert_eq!((modify.num_calls(), add.num_calls(), remove.num_calls()), (0, 1, 1));
        assert_eq!(got, desired);
    }

    #[test]
    fn normalize_lowercases_name_and_sorts_subnets() {
        let mut a = attrs("d", &["subnet-b", "subnet-a", "subnet-b"], &[]);
        a.insert("name".into(), Value::str("Prod-DB"));
        DbSubnetGroup.normalize(&mut a);
        assert_eq!(get_str(&a, "name"), Some("prod-db"));
        assert_eq!(a["subnet_ids"].string_list(), vec!["subnet-a", "subnet-b"]);
    }

    #[test]
    fn names_follow_aws_rules() {
        assert!(validate_name("prod-db_1.a b").is_ok());
        for bad in ["", "default", "db/1", &"x".repeat(256)] {
            assert!(matches!(validate_name(bad), Err(ProviderError::Invalid(_))), "{bad:?}");
        }
    }

    /// A group whose database was deleted moments ago is deleted again while
    /// RDS says it is still in use (each retry reported), and a group
    /// already gone counts as deleted.
    #[tokio::test]
    async fn delete_is_sent_again_while_a_database_still_uses_the_group() {
        use crate::provider::aws::rds::{SUBNET_GROUP_IN_USE, TEST_BACKOFF, rds_fault, test_ctx};
        use aws_sdk_rds::operation::delete_db_subnet_group::DeleteDbSubnetGroupOutput;
        let in_use = rds_fault(
            SUBNET_GROUP_IN_USE,
            "Cannot delete the subnet group 'db' because at least one database instance: main is still using it.",
        );
        let delete = mock!(Client::delete_db_subnet_group)
            .match_requests(|r| r.db_subnet_group_name() == Some("db"))
            .sequence()
            .http_status(400, Some(in_use))
            .times(2)
            .output(|| DeleteDbSubnetGroupOutput::builder().build())
            .http_status(404, Some(rds_fault("DBSubnetGroupNotFoundFault", "DBSubnetGroup db not found.")))
            .build();
        let client = mock_rds(&[&delete]);
        let (ctx, reports) = test_ctx();
        delete_with(&client, &ctx, "db", TEST_BACKOFF).await.expect("deleted once released");
        assert_eq!(delete.num_calls(), 3);
        assert_eq!(*reports.lock().unwrap(), ["retrying DeleteDBSubnetGroup after a database still uses the group"; 2]);
        delete_with(&client, &ctx, "db", TEST_BACKOFF).await.expect("a group already gone is deleted");
        assert_eq!(delete.num_calls(), 4);
    }

    /// What the plan can know of a group's zones is checked: fewer than two
    /// subnets (ids known or not), existing subnets all in one zone; a group
    /// whose other subnets are created in the same plan is left to AWS, and
    /// an update that keeps the subnets is not looked at.
    #[tokio::test]
    async fn groups_spanning_one_zone_are_refused_at_plan() {
        use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
        use aws_sdk_ec2::types::Subnet as Ec2Subnet;

        let zones = mock!(aws_sdk_ec2::Client::describe_subnets).then_compute_output(|req| {
            let ids = req.filters().iter().flat_map(|f| f.values()).cloned();
            let subnets = ids.filter(|id| id != "subnet-gone").map(|id| {
                let zone = if id.ends_with('b') { "us-east-1b" } else { "us-east-1a" };
                Ec2Subnet::builder().subnet_id(id).availability_zone(zone).build()
            });
            DescribeSubnetsOutput::builder().set_subnets(Some(subnets.collect())).build()
        });
        let ec2 = crate::provider::aws::mocked_client!(aws_sdk_ec2, &[&zones]);
        let addr: ResourceAddr = "db_subnet_group.db".parse().unwrap();
        let group = |ids: Vec<Value>| -> Attrs { [("subnet_ids".to_owned(), Value::List(ids))].into() };
        let refused = async |ids: Vec<Value>| {
            let desired = group(ids);
            let change = PlannedChange { addr: &addr, creates: true, desired: &desired, current: None };
            zone_refusal(&ec2, &change).await.unwrap().map(|r| (r.reason, r.attr))
        };
        let id = |s: &str| Value::str(s);

        let one = refused(vec![Value::Unknown]).await;
        assert_eq!(one, Some(("has a single subnet, so a single availability zone".to_owned(), Some("subnet_ids"))));
        assert_eq!(zones.num_calls(), 0, "no call needed");
        let same = refused(vec![id("subnet-1a"), id("subnet-2a")]).await;
        assert_eq!(
            same,
            Some(("has its 2 subnets in one availability zone (us-east-1a)".to_owned(), Some("subnet_ids")))
        );
        assert_eq!(refused(vec![id("subnet-1a"), id("subnet-2b")]).await, None);
        assert_eq!(refused(vec![id("subnet-1a"), Value::Unknown]).await, None, "the new subnet may be elsewhere");
        assert_eq!(refused(vec![id("subnet-1a"), id("subnet-gone")]).await, None, "left to AWS");
        assert_eq!(zones.num_calls(), 4);

        let current = group(vec![id("subnet-1a"), id("subnet-2a")]);
        let mut desired = current.clone();
        desired.insert("description".into(), Value::str("new"));
        let update = PlannedChange { addr: &addr, creates: false, desired: &desired, current: Some(&current) };
        assert_eq!(zone_refusal(&ec2, &update).await.unwrap(), None, "the subnets do not change");
        assert_eq!(zones.num_calls(), 4);
    }
}
