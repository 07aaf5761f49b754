//! `sns_topic_subscription`: an endpoint (an email address, an HTTPS URL, a
//! queue, a function) that an SNS topic delivers to — how alarms reach the
//! people and pagers behind them.
//!
//! - Create: Subscribe with `ReturnSubscriptionArn`, so even a subscription
//!   waiting for its endpoint to confirm (email, HTTP) has its ARN. Subscribe
//!   is idempotent: the same topic, protocol and endpoint give the same
//!   subscription, so a create whose reply was lost is simply made again
//!   (`find_created` has nothing to look for).
//! - Read: GetSubscriptionAttributes per subscription,
//!   [`PER_RESOURCE_CONCURRENCY`] at a time; a subscription that no longer
//!   exists is omitted. `pending_confirmation` says whether the endpoint has
//!   confirmed yet.
//! - Update: none; every setting replaces the subscription.
//! - Delete: Unsubscribe (gone already succeeds).
//! - The id is the subscription ARN. SNS subscriptions carry no tags: the
//!   orphan scan cannot see them (`Ownership::Untagged`); they go with their
//!   topic.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_sns::Client;
use futures::{StreamExt, TryStreamExt, stream};

use super::{PER_RESOURCE_CONCURRENCY, api_error, error_code, factory, get_str};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Ownership, Pricing, Schema};
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

/// The protocols SNS delivers over.
const PROTOCOLS: &[&str] = &["http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose"];

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::computed("pending_confirmation", AttrType::Bool),
        Attr::required("topic_arn", AttrType::Str).force_new(),
        Attr::required("protocol", AttrType::Str).force_new().one_of(PROTOCOLS),
        Attr::required("endpoint", AttrType::Str).force_new(),
    ],
    guarded: false,
    taggable: false,
    ownership: Ownership::Untagged,
    pricing: Pricing::Free,
};

/// The `sns_topic_subscription` resource type.
pub struct SnsTopicSubscription;

/// One subscription's attributes; `None` when it does not exist.
async fn read_subscription(client: &Client, arn: &str) -> Result<Option<(String, Attrs)>> {
    let out = match client.get_subscription_attributes().subscription_arn(arn).send().await {
        Ok(out) => out,
        Err(e) if error_code(&e) == Some("NotFound") => return Ok(None),
        Err(e) => return Err(api_error("GetSubscriptionAttributes", e)),
    };
    let attributes = out.attributes().cloned().unwrap_or_default();
    let get = |k: &str| attributes.get(k).map(String::as_str);
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(arn));
    a.insert("arn".into(), Value::str(arn));
    a.insert("topic_arn".into(), get("TopicArn").into());
    a.insert("protocol".into(), get("Protocol").into());
    a.insert("endpoint".into(), get("Endpoint").into());
    a.insert("pending_confirmation".into(), Value::Bool(get("PendingConfirmation") == Some("true")));
    Ok(Some((arn.to_owned(), a)))
}

#[async_trait]
impl ResourceType for SnsTopicSubscription {
    fn type_name(&self) -> &'static str {
        "sns_topic_subscription"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], _scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.sns(&ctx.region).await;
        let reads: Vec<_> = ids.iter().map(|id| read_subscription(client, id)).collect();
        let found: Vec<_> = stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let required =
            |name: &str| get_str(desired, name).ok_or_else(|| ProviderError::Invalid(format!("{name} is required")));
        let client = factory(ctx)?.sns(&ctx.region).await;
        let out = client
            .subscribe()
            .topic_arn(required("topic_arn")?)
            .protocol(required("protocol")?)
            .endpoint(required("endpoint")?)
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| api_error("Subscribe", e))?;
        let arn = out.subscription_arn().ok_or_else(|| ProviderError::Invalid("Subscribe returned no ARN".into()))?;
        read_subscription(&client, arn).await?.map(|(_, a)| a).ok_or_else(|| ProviderError::NotFound(arn.into()))
    }

    /// Never called with a change: every setting replaces the subscription.
    async fn update(&self, ctx: &Ctx, id: &str, _update: &PlannedUpdate) -> Result<Attrs> {
        let client = factory(ctx)?.sns(&ctx.region).await;
        read_subscription(&client, id).await?.map(|(_, a)| a).ok_or_else(|| ProviderError::NotFound(id.into()))
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        let client = factory(ctx)?.sns(&ctx.region).await;
        match client.unsubscribe().subscription_arn(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some("NotFound") => Ok(()),
            Err(e) => Err(api_error("Unsubscribe", e)),
        }
    }

    /// Nothing to look for: creating again gives the same subscription.
    async fn find_created(&self, _ctx: &Ctx, _addr: &ResourceAddr) -> Result<Option<String>> {
        Ok(None)
    }

    /// Nothing: subscriptions carry no tags.
    async fn list_owned(&self, _ctx: &Ctx, _known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        Ok(Vec::new())
    }
}
