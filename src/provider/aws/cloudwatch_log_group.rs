//! `cloudwatch_log_group`: a CloudWatch Logs group with its retention and
//! KMS key — where RDS exports PostgreSQL's logs (the audit trail pgaudit
//! writes included). Declared as `/aws/rds/cluster/NAME/postgresql` before
//! the database, it is the group RDS writes to, with the stack's retention and
//! key instead of the never-expiring, unencrypted group RDS would make.
//!
//! - Create: CreateLogGroup (name, KMS key and tags in one call), then
//!   PutRetentionPolicy when a retention is set.
//! - Read: DescribeLogGroups by name prefix (the name, ARN, retention and
//!   key), ListTagsForResource only when the config manages `tags`. A group
//!   that no longer exists is omitted.
//! - Update: PutRetentionPolicy / DeleteRetentionPolicy (unset: kept
//!   forever); AssociateKmsKey / DisassociateKmsKey; TagResource /
//!   UntagResource.
//! - Delete: DeleteLogGroup, which deletes its logs: the data-loss guard
//!   asks for `--allow-destroy`. A group already gone counts as deleted.
//! - The id is the group name. Orphan scan (`list_owned`) and the lookup of
//!   an interrupted create: DescribeLogGroups of the region, then each
//!   group's tags (the tagging API's index is not used: moto's has no logs).
//! - moto 5.2.5 has no AssociateKmsKey or DisassociateKmsKey: a key changed
//!   in place is tested with aws-smithy-mocks (below).
//! - Cost: ingestion of `[cost] log_gb` a month and its storage over the
//!   retention (docs/cost.md).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::LogGroup;
use futures::{StreamExt, TryStreamExt, stream};

use super::owned;
use super::{PER_RESOURCE_CONCURRENCY, api_error, error_code, factory, get_i64, get_str, tag_changes, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Kind, Ownership, Pricing, Schema};
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

/// The retention periods CloudWatch Logs accepts, in days.
const RETENTION_DAYS: &[i64] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::required("name", AttrType::Str).force_new().max_len(512),
        Attr::optional("retention_in_days", AttrType::Int).int_one_of(RETENTION_DAYS),
        Attr::optional("kms_key_id", AttrType::Str).pattern(Kind::Arn),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: true,
    taggable: true,
    ownership: Ownership::Listed,
    pricing: Pricing::LogGroup,
};

/// The `cloudwatch_log_group` resource type.
pub struct CloudwatchLogGroup;

/// What CloudWatch Logs answers for a group that does not exist.
const NOT_FOUND: &str = "ResourceNotFoundException";

/// The group's ARN without the `:*` DescribeLogGroups appends (the form tag calls take).
fn plain_arn(group: &LogGroup) -> Option<String> {
    group.arn().map(|a| a.strip_suffix(":*").unwrap_or(a).to_owned())
}

/// The groups whose names start with `prefix` (DescribeLogGroups, paged).
async fn describe(client: &Client, prefix: Option<&str>) -> Result<Vec<LogGroup>> {
    client
        .describe_log_groups()
        .set_log_group_name_prefix(prefix.map(str::to_owned))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("DescribeLogGroups", e))
}

async fn tags(client: &Client, arn: &str) -> Result<Option<BTreeMap<String, String>>> {
    match client.list_tags_for_resource().resource_arn(arn).send().await {
        Ok(out) => Ok(Some(out.tags().cloned().unwrap_or_default().into_iter().collect())),
        Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(None),
        Err(e) => Err(api_error("ListTagsForResource", e)),
    }
}

/// Reads one group by name; `None` when it does not exist.
async fn read_group(client: &Client, name: &str, scope: &ReadScope) -> Result<Option<(String, Attrs)>> {
    let groups = describe(client, Some(name)).await?;
    let Some(group) = groups.iter().find(|g| g.log_group_name() == Some(name)) else { return Ok(None) };
    let arn = plain_arn(group).unwrap_or_default();
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(name));
    a.insert("name".into(), Value::str(name));
    a.insert("arn".into(), Value::str(&arn));
    a.insert("retention_in_days".into(), group.retention_in_days().map(i64::from).into());
    a.insert("kms_key_id".into(), group.kms_key_id().into());
    if scope.wants("tags") {
        let Some(tags) = tags(client, &arn).await? else { return Ok(None) };
        a.insert("tags".into(), Value::from(tags));
    }
    Ok(Some((name.to_owned(), a)))
}

async fn read_all(client: &Client, name: &str) -> Result<Attrs> {
    read_group(client, name, &ReadScope::All).await?.map(|(_, a)| a).ok_or_else(|| ProviderError::NotFound(name.into()))
}

/// Sets the retention, or removes it (logs kept forever) when unset.
async fn set_retention(client: &Client, name: &str, days: Option<i64>) -> Result<()> {
    match days {
        Some(days) => {
            let days = i32::try_from(days).map_err(|_| ProviderError::Invalid(format!("retention {days}")))?;
            let out = client.put_retention_policy().log_group_name(name).retention_in_days(days).send().await;
            out.map_err(|e| api_error("PutRetentionPolicy", e))?;
        }
        None => {
            let out = client.delete_retention_policy().log_group_name(name).send().await;
            out.map_err(|e| api_error("DeleteRetentionPolicy", e))?;
        }
    }
    Ok(())
}

/// Carries out the plan's `update`.
async fn update_with(client: &Client, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
    if update.changes("retention_in_days") {
        set_retention(client, id, get_i64(&update.after, "retention_in_days")).await?;
    }
    if update.changes("kms_key_id") {
        match get_str(&update.after, "kms_key_id") {
            Some(key) => {
                let out = client.associate_kms_key().log_group_name(id).kms_key_id(key).send().await;
                out.map_err(|e| api_error("AssociateKmsKey", e))?;
            }
            None => {
                let out = client.disassociate_kms_key().log_group_name(id).send().await;
                out.map_err(|e| api_error("DisassociateKmsKey", e))?;
            }
        }
    }
    if update.changes("tags") {
        let arn = get_str(&update.before, "arn")
            .ok_or_else(|| ProviderError::Invalid(format!("log group {id} has no arn")))?;
        let (set, remove) = tag_changes(&tags_of(&update.before), &tags_of(&update.after));
        if !remove.is_empty() {
            let out = client.untag_resource().resource_arn(arn).set_tag_keys(Some(remove)).send().await;
            out.map_err(|e| api_error("UntagResource", e))?;
        }
        if !set.is_empty() {
            let out = client.tag_resource().resource_arn(arn).set_tags(Some(set.into_iter().collect())).send().await;
            out.map_err(|e| api_error("TagResource", e))?;
        }
    }
    read_all(client, id).await
}

/// The region's groups whose name `wanted` accepts, with their tags
/// ([`PER_RESOURCE_CONCURRENCY`] at a time); `None` for a group deleted meanwhile.
async fn group_tags<'a>(
    client: &'a Client,
    wanted: impl Fn(&str) -> bool,
) -> Result<impl futures::Stream<Item = Result<Option<(String, BTreeMap<String, String>)>>> + 'a> {
    let groups = describe(client, None).await?;
    let named: Vec<(String, String)> = groups
        .iter()
        .filter_map(|g| Some((g.log_group_name()?.to_owned(), plain_arn(g)?)))
        .filter(|(name, _)| wanted(name))
        .collect();
    let reads =
        named.into_iter().map(move |(name, arn)| async move { Ok(tags(client, &arn).await?.map(|t| (name, t))) });
    Ok(stream::iter(reads.collect::<Vec<_>>()).buffer_unordered(PER_RESOURCE_CONCURRENCY))
}

#[async_trait]
impl ResourceType for CloudwatchLogGroup {
    fn type_name(&self) -> &'static str {
        "cloudwatch_log_group"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.logs(&ctx.region).await;
        let reads: Vec<_> = ids.iter().map(|id| read_group(client, id, scope)).collect();
        let found: Vec<_> = stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let name = get_str(desired, "name").ok_or_else(|| ProviderError::Invalid("name is required".into()))?;
        let client = factory(ctx)?.logs(&ctx.region).await;
        client
            .create_log_group()
            .log_group_name(name)
            .set_kms_key_id(get_str(desired, "kms_key_id").map(str::to_owned))
            .set_tags(Some(tags_of(desired).into_iter().collect()))
            .send()
            .await
            .map_err(|e| api_error("CreateLogGroup", e))?;
        if let Some(days) = get_i64(desired, "retention_in_days") {
            set_retention(&client, name, Some(days)).await?;
        }
        read_all(&client, name).await
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        update_with(&factory(ctx)?.logs(&ctx.region).await, id, update).await
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        let client = factory(ctx)?.logs(&ctx.region).await;
        match client.delete_log_group().log_group_name(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(()),
            Err(e) => Err(api_error("DeleteLogGroup", e)),
        }
    }

    /// Lists the region's groups and reads each one's tags until one
    /// carries this stack's and address's ownership tags.
    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        let client = factory(ctx)?.logs(&ctx.region).await;
        owned::first_tagged_for(group_tags(&client, |_| true).await?, ctx, addr).await
    }

    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        let client = factory(ctx)?.logs(&ctx.region).await;
        let all: Vec<_> = group_tags(&client, |name| !known.contains(name)).await?.try_collect().await?;
        Ok(owned::from_tag_reads(&all, &ctx.stack, known))
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudwatchlogs::operation::associate_kms_key::AssociateKmsKeyOutput;
    use aws_sdk_cloudwatchlogs::operation::describe_log_groups::DescribeLogGroupsOutput;
    use aws_sdk_cloudwatchlogs::operation::disassociate_kms_key::DisassociateKmsKeyOutput;
    use aws_sdk_cloudwatchlogs::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_smithy_mocks::mock;

    use super::*;

    const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn described(key: Option<&str>) -> DescribeLogGroupsOutput {
        let group = LogGroup::builder()
            .log_group_name("/aws/rds/cluster/db/postgresql")
            .arn("arn:aws:logs:us-east-1:123456789012:log-group:/aws/rds/cluster/db/postgresql:*")
            .retention_in_days(365)
            .set_kms_key_id(key.map(str::to_owned))
            .build();
        DescribeLogGroupsOutput::builder().log_groups(group).build()
    }

    fn planned(before: Option<&str>, after: Option<&str>) -> PlannedUpdate {
        let attrs = |key: Option<&str>| -> Attrs {
            [
                (
                    "arn".to_owned(),
                    Value::str("arn:aws:logs:us-east-1:123456789012:log-group:/aws/rds/cluster/db/postgresql"),
                ),
                ("retention_in_days".to_owned(), Value::Int(365)),
                ("kms_key_id".to_owned(), key.into()),
            ]
            .into()
        };
        PlannedUpdate { before: attrs(before), after: attrs(after), changed: vec!["kms_key_id".to_owned()] }
    }

    /// moto has no AssociateKmsKey / DisassociateKmsKey: a key set, then
    /// removed, in place, each with the one call it needs and nothing else.
    #[tokio::test]
    async fn a_key_is_associated_and_disassociated_in_place() {
        let associate = mock!(Client::associate_kms_key)
            .match_requests(|r| {
                r.kms_key_id() == Some(KEY) && r.log_group_name() == Some("/aws/rds/cluster/db/postgresql")
            })
            .then_output(|| AssociateKmsKeyOutput::builder().build());
        let read_keyed = mock!(Client::describe_log_groups).then_output(|| described(Some(KEY)));
        let tags = mock!(Client::list_tags_for_resource).then_output(|| ListTagsForResourceOutput::builder().build());
        let client = crate::provider::aws::mocked_client!(aws_sdk_cloudwatchlogs, &[&associate, &read_keyed, &tags]);
        let after = update_with(&client, "/aws/rds/cluster/db/postgresql", &planned(None, Some(KEY))).await.unwrap();
        assert_eq!(after["kms_key_id"], Value::str(KEY));
        assert_eq!((associate.num_calls(), read_keyed.num_calls()), (1, 1));

        let disassociate = mock!(Client::disassociate_kms_key)
            .match_requests(|r| r.log_group_name() == Some("/aws/rds/cluster/db/postgresql"))
            .then_output(|| DisassociateKmsKeyOutput::builder().build());
        let read_plain = mock!(Client::describe_log_groups).then_output(|| described(None));
        let client = crate::provider::aws::mocked_client!(aws_sdk_cloudwatchlogs, &[&disassociate, &read_plain, &tags]);
        let after = update_with(&client, "/aws/rds/cluster/db/postgresql", &planned(Some(KEY), None)).await.unwrap();
        assert_eq!(after["kms_key_id"], Value::Null);
        assert_eq!(disassociate.num_calls(), 1);
    }
}
