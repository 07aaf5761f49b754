//! `sns_topic`: an SNS topic that alarms notify.
//!
//! - Create: CreateTopic with the name, `KmsMasterKeyId` and the tags in one
//!   call. CreateTopic is idempotent by name (same attributes and tags), so a
//!   repeated create returns the same topic.
//! - Read: GetTopicAttributes and ListTagsForResource per topic,
//!   [`PER_RESOURCE_CONCURRENCY`] at a time (SNS has no batch read); tags only
//!   when the config manages them. A topic that no longer exists is omitted.
//! - Update: SetTopicAttributes for the key; TagResource / UntagResource.
//! - Delete: DeleteTopic (deleting a topic that is gone succeeds).
//! - The id is the topic ARN.
//! - Orphan scan (`list_owned`): the region's shared GetResources ([`super::owned`]).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::Tag;
use futures::{StreamExt, TryStreamExt, stream};

use super::owned;
use super::{PER_RESOURCE_CONCURRENCY, api_error, error_code, factory, get_str, sync_arn_tags, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Kind, NameRule, Ownership, Pricing, Schema, TAG_ADDRESS, TAG_STACK};
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::optional("name", AttrType::Str).force_new().max_len(256).default_name(NameRule::new(256, false, "_")),
        Attr::optional("kms_master_key_id", AttrType::Str),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: false,
    taggable: true,
    ownership: Ownership::indexed("sns:topic", "").arn_ids(),
    pricing: Pricing::Free,
};

/// The `sns_topic` resource type.
pub struct SnsTopic;

const KMS_ATTRIBUTE: &str = "KmsMasterKeyId";

fn sns_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ProviderError::Invalid(e.to_string())))
        .collect()
}

/// The topic's name: the last part of its ARN.
fn name_of(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// One topic's attributes; `None` when it does not exist.
async fn read_topic(client: &Client, arn: &str, scope: &ReadScope) -> Result<Option<(String, Attrs)>> {
    let out = match client.get_topic_attributes().topic_arn(arn).send().await {
        Ok(out) => out,
        Err(e) if error_code(&e) == Some("NotFound") => return Ok(None),
        Err(e) => return Err(api_error("GetTopicAttributes", e)),
    };
    let attributes = out.attributes().cloned().unwrap_or_default();
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(arn));
    a.insert("arn".into(), Value::str(arn));
    a.insert("name".into(), Value::str(name_of(arn)));
    let key = attributes.get(KMS_ATTRIBUTE).filter(|k| !k.is_empty());
    a.insert("kms_master_key_id".into(), key.map(String::as_str).into());
    if scope.wants("tags") {
        let tags = client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| api_error("ListTagsForResource", e))?;
        let map: BTreeMap<String, String> =
            tags.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
        a.insert("tags".into(), Value::from(map));
    }
    Ok(Some((arn.to_owned(), a)))
}

async fn read_all(client: &Client, arn: &str) -> Result<Attrs> {
    read_topic(client, arn, &ReadScope::All).await?.map(|(_, a)| a).ok_or_else(|| ProviderError::NotFound(arn.into()))
}

#[async_trait]
impl ResourceType for SnsTopic {
    fn type_name(&self) -> &'static str {
        "sns_topic"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.sns(&ctx.region).await;
        let reads: Vec<_> = ids.iter().map(|id| read_topic(client, id, scope)).collect();
        let found: Vec<_> = stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let name = get_str(desired, "name").ok_or_else(|| ProviderError::Invalid("name is required".into()))?;
        let client = factory(ctx)?.sns(&ctx.region).await;
        let mut call = client.create_topic().name(name).set_tags(Some(sns_tags(&tags_of(desired))?));
        if let Some(key) = get_str(desired, "kms_master_key_id") {
            call = call.attributes(KMS_ATTRIBUTE, key);
        }
        let out = call.send().await.map_err(|e| api_error("CreateTopic", e))?;
        let arn = out.topic_arn().ok_or_else(|| ProviderError::Invalid("CreateTopic returned no ARN".into()))?;
        read_all(&client, arn).await
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        let client = factory(ctx)?.sns(&ctx.region).await;
        if update.changes("kms_master_key_id") {
            client
                .set_topic_attributes()
                .topic_arn(id)
                .attribute_name(KMS_ATTRIBUTE)
                .attribute_value(get_str(&update.after, "kms_master_key_id").unwrap_or_default())
                .send()
                .await
                .map_err(|e| api_error("SetTopicAttributes", e))?;
        }
        if update.changes("tags") {
            sync_arn_tags!(client, id, &tags_of(&update.before), &tags_of(&update.after), sns_tags);
        }
        read_all(&client, id).await
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        let client = factory(ctx)?.sns(&ctx.region).await;
        match client.delete_topic().topic_arn(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some("NotFound") => Ok(()),
            Err(e) => Err(api_error("DeleteTopic", e)),
        }
    }

    /// Lists the region's topics and reads the tags of each until one carries
    /// this stack's and address's ownership tags (SNS cannot filter by tag).
    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        let client = factory(ctx)?.sns(&ctx.region).await;
        let topics: Vec<_> = client
            .list_topics()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| api_error("ListTopics", e))?;
        let want = addr.to_string();
        for arn in topics.iter().filter_map(|t| t.topic_arn()) {
            let Some((_, attrs)) = read_topic(&client, arn, &ReadScope::All).await? else { continue };
            let tags = tags_of(&attrs);
            if tags.get(TAG_STACK) == Some(&ctx.stack) && tags.get(TAG_ADDRESS) == Some(&want) {
                return Ok(Some(arn.to_owned()));
            }
        }
        Ok(None)
    }

    /// From the region's shared tagging index ([`owned::indexed`]).
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        owned::indexed(ctx, self.type_name(), known).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_the_last_part_of_the_arn() {
        assert_eq!(name_of("arn:aws:sns:us-east-1:123456789012:pg-alarms"), "pg-alarms");
        assert_eq!(name_of("plain"), "plain");
    }
}
