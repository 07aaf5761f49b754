//! `kms_replica_key`: a replica of a multi-Region KMS key (`kms_key` with
//! `multi_region = true`) in another region, with its own description,
//! policy, enabled state, alias and tags.
//!
//! The replica lives in the resource's region (`region = "dr"` with a
//! `[regions]` table, or the stack's); the primary's region is read from
//! `primary_key_arn`.
//! - Create: ReplicateKey, sent to the PRIMARY's region with
//!   `ReplicaRegion` = the replica's, carrying description, policy and the
//!   tags (ownership tags included). AWS answers at once with the replica
//!   `Creating`; DescribeKey in the replica's region is polled until it
//!   leaves that state. What the answer shows differing from the config is
//!   then set in the replica's region (UpdateKeyDescription, PutKeyPolicy,
//!   TagResource): on AWS nothing, on moto 5.2.5, which ignores them, all of
//!   it. Then DisableKey when `enabled = false`, CreateAlias, and GetKeyPolicy
//!   when the config sets no policy.
//! - Read, update, delete: in the replica's region, like `kms_key` ([`kms`]):
//!   DescribeKey, GetKeyPolicy and ListResourceTags per key (the last two only
//!   when managed), one ListAliases per region; [`kms::update_common`] then
//!   EnableKey/DisableKey; ScheduleKeyDeletion. A key that is not a replica
//!   (its ARN is its primary's) reads as missing.
//! - The id is the replica's ARN: every key of a multi-Region set has the
//!   same key id (`mrk-...`), the ARN tells which region's it is.
//! - Rotation, key spec and usage are the primary's (shared by the set).
//! - Orphan scan (`list_owned`): the region's shared GetResources ([`super::owned`]);
//!   a replica is told from a key by its `pgstack:address` tag.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::types::{KeyMetadata, KeyState};

use super::owned;
use super::{DEFAULT_DESCRIPTION, api_error, factory, get_bool, get_str, kms, policy, send_settling, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, Ownership, Pricing, Schema};
use crate::provider::waiter::{Backoff, Poll, wait_for};
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::computed("key_id", AttrType::Str),
        Attr::required("primary_key_arn", AttrType::Str).force_new().pattern(Kind::Arn),
        kms::DESCRIPTION_ATTR,
        kms::POLICY_ATTR,
        Attr::optional("key_enabled", AttrType::Bool).default(Default::Bool(true)),
        kms::ALIAS_ATTR,
        kms::DELETION_WINDOW_ATTR,
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: true,
    taggable: true,
    ownership: Ownership::indexed("kms:key", "key/").arn_ids().leaving_unnamed(),
    pricing: Pricing::KmsKey,
};

/// The `kms_replica_key` resource type.
pub struct KmsReplicaKey;

/// How long a new replica may stay `Creating` unless `timeouts` says otherwise.
const CREATE_TIMEOUT: Duration = Duration::from_secs(600);

/// The region and key id of a KMS key ARN (`arn:PARTITION:kms:REGION:ACCOUNT:key/ID`).
fn parse_key_arn(arn: &str) -> Result<(&str, &str)> {
    match arn.split(':').collect::<Vec<_>>()[..] {
        ["arn", _, "kms", region, _, key] if !region.is_empty() && key.len() > "key/".len() => {
            key.strip_prefix("key/").map(|id| (region, id)).ok_or_else(|| not_a_key_arn(arn))
        }
        _ => Err(not_a_key_arn(arn)),
    }
}

fn not_a_key_arn(arn: &str) -> ProviderError {
    ProviderError::Invalid(format!(
        "primary_key_arn must be a KMS key ARN like `arn:aws:kms:us-east-1:123456789012:key/mrk-...`, got `{arn}`"
    ))
}

/// The ARN of the primary key of the set `meta` belongs to, when `meta` is
/// a replica. Told by ARN, not by `MultiRegionKeyType`: moto 5.2.5 shares one
/// configuration object between a primary and its replicas and reports the
/// primary as a replica once a replica was described.
fn primary_of(meta: &KeyMetadata) -> Option<&str> {
    let primary = meta.multi_region_configuration()?.primary_key()?.arn()?;
    (Some(primary) != meta.arn()).then_some(primary)
}

/// The replica's attributes; `None` when `meta` is not a replica.
fn replica_attrs(meta: &KeyMetadata, policy: Value, tags: BTreeMap<String, String>) -> Option<Attrs> {
    let primary = primary_of(meta)?;
    let mut a = kms::common_attrs(meta, meta.arn()?.to_owned(), policy, tags);
    a.insert("primary_key_arn".into(), Value::str(primary));
    a.insert("key_enabled".into(), Value::Bool(meta.enabled()));
    Some(a)
}

/// Reads one replica, keyed by `key` (its ARN, or its key id in this region).
async fn read_replica(client: Client, key: &str, scope: &ReadScope) -> Result<Option<(String, Attrs)>> {
    let Some(meta) = kms::describe(&client, key).await? else { return Ok(None) };
    if primary_of(&meta).is_none() {
        return Ok(None);
    }
    let (policy, tags) = kms::read_policy_and_tags(&client, meta.key_id(), scope).await?;
    Ok(replica_attrs(&meta, policy, tags).map(|a| (key.to_owned(), a)))
}

/// The key id in an id that may be a key ARN. KMS calls in the replica's
/// region take it: moto 5.2.5 answers DisableKey, EnableKey and
/// ScheduleKeyDeletion with an error for an ARN (AWS takes either).
fn key_id_of(id: &str) -> &str {
    id.rsplit_once(":key/").map_or(id, |(_, key)| key)
}

async fn set_enabled(client: &Client, id: &str, enabled: bool) -> Result<()> {
    if enabled {
        client.enable_key().key_id(id).send().await.map_err(|e| api_error("EnableKey", e))?;
    } else {
        client.disable_key().key_id(id).send().await.map_err(|e| api_error("DisableKey", e))?;
    }
    Ok(())
}

/// Polls DescribeKey until the new replica `arn` has left `Creating`.
async fn wait_created(ctx: &Ctx, client: &Client, arn: &str, backoff: Backoff) -> Result<KeyMetadata> {
    let what = format!("replica key {arn} to be created");
    wait_for(ctx, &what, CREATE_TIMEOUT, backoff, || async move {
        Ok(match kms::describe(client, arn).await? {
            Some(meta) if meta.key_state() != Some(&KeyState::Creating) => Poll::Ready(meta),
            Some(_) => Poll::Pending("Creating".into()),
            None => Poll::Pending("not visible yet".into()),
        })
    })
    .await
}

/// Create with the clients of the primary's and the replica's region.
async fn create_with(ctx: &Ctx, primary: &Client, client: &Client, desired: &Attrs, backoff: Backoff) -> Result<Attrs> {
    let window = kms::deletion_window(desired)?;
    let primary_arn = get_str(desired, "primary_key_arn")
        .ok_or_else(|| ProviderError::Invalid("primary_key_arn is required".into()))?;
    let (primary_region, primary_id) = parse_key_arn(primary_arn)?;
    if primary_region == ctx.region {
        return Err(ProviderError::Invalid(format!(
            "a replica must live in another region than its primary key ({}): set `region` on the kms_replica_key",
            ctx.region
        )));
    }
    let description = get_str(desired, "description").unwrap_or(DEFAULT_DESCRIPTION);
    let policy = policy::desired(desired, "policy")?;
    let tags = tags_of(desired);
    // By key id: moto 5.2.5 does not resolve an ARN here (AWS takes either).
    let req = primary
        .replicate_key()
        .key_id(primary_id)
        .replica_region(&ctx.region)
        .description(description)
        .set_policy(policy.as_ref().map(|(_, text)| text.clone()))
        .set_tags(Some(kms::kms_tags(&tags)?));
    let out = send_settling(ctx, "ReplicateKey", &[kms::PRINCIPAL_NOT_READY], backoff, || req.clone().send())
        .await
        .map_err(|e| api_error("ReplicateKey", e))?;
    let answered = out
        .replica_key_metadata()
        .ok_or_else(|| ProviderError::Invalid("ReplicateKey returned no replica metadata".into()))?;
    let arn = answered.arn().ok_or_else(|| ProviderError::Invalid("ReplicateKey returned no ARN".into()))?.to_owned();
    let meta = match answered.key_state() {
        Some(KeyState::Creating) => wait_created(ctx, client, &arn, backoff).await?,
        _ => answered.clone(),
    };

    if meta.description() != Some(description) {
        client
            .update_key_description()
            .key_id(&arn)
            .description(description)
            .send()
            .await
            .map_err(|e| api_error("UpdateKeyDescription", e))?;
    }
    let policy = match policy {
        Some((doc, text)) => {
            if out.replica_policy().map(policy::from_aws).as_ref() != Some(&doc) {
                kms::put_policy(ctx, client, &arn, text).await?;
            }
            doc
        }
        None => kms::read_policy(client, &arn).await?,
    };
    if kms::tag_map(out.replica_tags()) != tags {
        kms::tag(client, &arn, &tags).await?;
    }
    let enabled = get_bool(desired, "key_enabled").unwrap_or(true);
    if meta.enabled() != enabled {
        set_enabled(client, meta.key_id(), enabled).await?;
    }
    let alias = get_str(desired, "alias").map(kms::alias_name);
    if let Some(alias) = &alias {
        kms::claim_alias(client, alias, meta.key_id(), &tags).await?;
    }

    let mut attrs = kms::common_attrs(&meta, arn.clone(), policy, tags);
    attrs.insert("description".into(), Value::str(description));
    attrs.insert("primary_key_arn".into(), Value::str(primary_arn));
    attrs.insert("key_enabled".into(), Value::Bool(enabled));
    if let Some(alias) = alias {
        attrs.insert("alias".into(), Value::Str(alias));
    }
    attrs.insert("deletion_window_in_days".into(), Value::Int(window.into()));
    Ok(attrs)
}

#[async_trait]
impl ResourceType for KmsReplicaKey {
    fn type_name(&self) -> &'static str {
        "kms_replica_key"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// Canonical policy and `alias/`-prefixed alias.
    fn normalize(&self, desired: &mut Attrs) {
        kms::normalize(desired);
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        kms::read_keys(ctx, ids, scope, |client, id, scope| async move { read_replica(client, id, &scope).await }).await
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let primary_arn = get_str(desired, "primary_key_arn")
            .ok_or_else(|| ProviderError::Invalid("primary_key_arn is required".into()))?;
        let f = factory(ctx)?;
        let primary = f.kms(parse_key_arn(primary_arn)?.0).await;
        let client = f.kms(&ctx.region).await;
        create_with(ctx, &primary, &client, desired, Backoff::default()).await
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        let client = factory(ctx)?.kms(&ctx.region).await;
        let id = key_id_of(id);
        let mut attrs = kms::update_common(ctx, &client, id, update).await?;
        if let Some(enabled) = update.to("key_enabled").and_then(Value::as_bool) {
            set_enabled(&client, id, enabled).await?;
            attrs.insert("key_enabled".into(), Value::Bool(enabled));
        }
        Ok(attrs)
    }

    /// Removes the replica's alias, then schedules the replica's deletion in
    /// its region (the primary and other replicas are left alone).
    async fn delete(&self, ctx: &Ctx, id: &str, prior: &Attrs) -> Result<()> {
        kms::schedule_deletion(ctx, key_id_of(id), prior).await
    }

    /// Looks the replica up by its ownership tags in its region.
    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        Ok(kms::find_by_tags(ctx, addr).await?.and_then(|meta| meta.arn().map(str::to_owned)))
    }

    /// From the region's shared tagging index ([`owned::indexed`]).
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        owned::indexed(ctx, self.type_name(), known).await
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
    use aws_sdk_kms::operation::replicate_key::ReplicateKeyOutput;
    use aws_sdk_kms::types::{MultiRegionConfiguration, MultiRegionKey, Tag};
    use aws_smithy_mocks::{Rule, mock};

    use super::*;
    use crate::provider::aws::mocked_client;
    use crate::provider::aws::rds::{TEST_BACKOFF, test_ctx};
    use crate::provider::schema::{TAG_ADDRESS, TAG_STACK};

    const PRIMARY: &str = "arn:aws:kms:us-east-1:123456789012:key/mrk-1";
    const REPLICA: &str = "arn:aws:kms:us-west-2:123456789012:key/mrk-1";

    fn meta(state: KeyState, description: &str) -> KeyMetadata {
        let config = MultiRegionConfiguration::builder()
            .primary_key(MultiRegionKey::builder().arn(PRIMARY).region("us-east-1").build())
            .build();
        KeyMetadata::builder()
            .key_id("mrk-1")
            .arn(REPLICA)
            .description(description)
            .enabled(state == KeyState::Enabled)
            .key_state(state)
            .multi_region(true)
            .multi_region_configuration(config)
            .build()
            .unwrap()
    }

    fn desired() -> Attrs {
        let tags = [(TAG_STACK, "s"), (TAG_ADDRESS, "kms_replica_key.dr")];
        let tags: BTreeMap<String, String> = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut a = Attrs::from([
            ("primary_key_arn".to_owned(), Value::str(PRIMARY)),
            ("description".to_owned(), Value::str("dr")),
            ("key_enabled".to_owned(), Value::Bool(true)),
            ("tags".to_owned(), Value::from(tags)),
        ]);
        KmsReplicaKey.normalize(&mut a);
        a
    }

    fn replica_ctx() -> Ctx {
        let (ctx, _) = test_ctx();
        Ctx { region: "us-west-2".into(), ..ctx }
    }

    /// ReplicateKey as AWS answers it: the replica `Creating`, with the
    /// description and tags it was sent.
    fn replicate_like_aws() -> Rule {
        mock!(Client::replicate_key)
            .match_requests(|r| {
                r.key_id() == Some("mrk-1") && r.replica_region() == Some("us-west-2") && r.description() == Some("dr")
            })
            .then_compute_output(|r| {
                ReplicateKeyOutput::builder()
                    .replica_key_metadata(meta(KeyState::Creating, r.description().unwrap_or_default()))
                    .set_replica_tags(Some(r.tags().to_vec()))
                    .build()
            })
    }

    #[tokio::test]
    async fn create_waits_while_the_replica_is_creating_and_sends_nothing_aws_already_has() {
        let replicate = replicate_like_aws();
        let primary = mocked_client!(aws_sdk_kms, &[&replicate]);
        let describe = mock!(Client::describe_key)
            .sequence()
            .output(|| DescribeKeyOutput::builder().key_metadata(meta(KeyState::Creating, "dr")).build())
            .output(|| DescribeKeyOutput::builder().key_metadata(meta(KeyState::Enabled, "dr")).build())
            .build();
        let policy = mock!(Client::get_key_policy).then_output(|| {
            aws_sdk_kms::operation::get_key_policy::GetKeyPolicyOutput::builder().policy(r#"{"Statement":[]}"#).build()
        });
        let replica = mocked_client!(aws_sdk_kms, &[&describe, &policy]);
        let got = create_with(&replica_ctx(), &primary, &replica, &desired(), TEST_BACKOFF).await.unwrap();
        assert_eq!((replicate.num_calls(), describe.num_calls(), policy.num_calls()), (1, 2, 1));
        assert_eq!(got["id"], Value::str(REPLICA));
        assert_eq!(got["arn"], Value::str(REPLICA));
        assert_eq!(got["key_id"], Value::str("mrk-1"));
        assert_eq!(got["primary_key_arn"], Value::str(PRIMARY));
        assert_eq!(got["key_enabled"], Value::Bool(true));
        assert_eq!(got["tags"], desired()["tags"]);
    }

    #[tokio::test]
    async fn create_sets_what_the_replicate_answer_lacks() {
        // moto 5.2.5: the replica copies the primary's description and gets no tags.
        let replicate = mock!(Client::replicate_key).then_output(|| {
            ReplicateKeyOutput::builder().replica_key_metadata(meta(KeyState::Enabled, "the primary's")).build()
        });
        let primary = mocked_client!(aws_sdk_kms, &[&replicate]);
        let describe = mock!(Client::describe_key).then_output(|| DescribeKeyOutput::builder().build());
        let update = mock!(Client::update_key_description)
            .match_requests(|r| r.key_id() == Some(REPLICA) && r.description() == Some("dr"))
            .then_output(|| {
                aws_sdk_kms::operation::update_key_description::UpdateKeyDescriptionOutput::builder().build()
            });
        let tag = mock!(Client::tag_resource)
            .match_requests(|r| {
                r.key_id() == Some(REPLICA) && r.tags().iter().any(|t: &Tag| t.tag_key() == TAG_ADDRESS)
            })
            .then_output(|| aws_sdk_kms::operation::tag_resource::TagResourceOutput::builder().build());
        let put = mock!(Client::put_key_policy)
            .match_requests(|r| r.key_id() == Some(REPLICA) && r.policy() == Some(r#"{"Statement":[]}"#))
            .then_output(|| aws_sdk_kms::operation::put_key_policy::PutKeyPolicyOutput::builder().build());
        let disable = mock!(Client::disable_key)
            .then_output(|| aws_sdk_kms::operation::disable_key::DisableKeyOutput::builder().build());
        let replica = mocked_client!(aws_sdk_kms, &[&describe, &update, &tag, &put, &disable]);
        let mut want = desired();
        want.insert("policy".into(), Value::str(r#"{ "Statement": [] }"#));
        want.insert("key_enabled".into(), Value::Bool(false));
        KmsReplicaKey.normalize(&mut want);
        let got = create_with(&replica_ctx(), &primary, &replica, &want, TEST_BACKOFF).await.unwrap();
        assert_eq!(describe.num_calls(), 0, "not Creating: no wait");
        assert_eq!((update.num_calls(), tag.num_calls(), put.num_calls(), disable.num_calls()), (1, 1, 1, 1));
        assert_eq!(got["description"], Value::str("dr"));
        assert_eq!(got["key_enabled"], Value::Bool(false));
        assert_eq!(got["policy"], want["policy"]);
    }

    #[tokio::test]
    async fn a_replica_in_its_primarys_region_is_refused_before_any_call() {
        let none: [&Rule; 0] = [];
        let client = mocked_client!(aws_sdk_kms, &none);
        let (ctx, _) = test_ctx();
        let err = create_with(&ctx, &client, &client, &desired(), TEST_BACKOFF).await.unwrap_err();
        assert!(err.to_string().contains("another region than its primary key (us-east-1)"), "{err}");
    }

    #[test]
    fn the_primary_region_and_key_id_come_from_the_arn() {
        assert_eq!(parse_key_arn(PRIMARY).unwrap(), ("us-east-1", "mrk-1"));
        assert_eq!(parse_key_arn("arn:aws-cn:kms:cn-north-1:1:key/mrk-2").unwrap(), ("cn-north-1", "mrk-2"));
        for bad in [
            "mrk-1",
            "arn:aws:kms::1:key/mrk-1",
            "arn:aws:iam::1:role/x",
            "arn:aws:kms:us-east-1:1:alias/x",
            "arn:aws:kms:us-east-1:1:key/",
        ] {
            assert!(matches!(parse_key_arn(bad), Err(ProviderError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn key_ids_are_taken_from_arns() {
        assert_eq!(key_id_of(REPLICA), "mrk-1");
        assert_eq!(key_id_of("mrk-1"), "mrk-1");
    }

    #[test]
    fn only_replicas_read_as_replicas() {
        let replica = meta(KeyState::Enabled, "dr");
        assert_eq!(primary_of(&replica), Some(PRIMARY));
        let attrs = replica_attrs(&replica, Value::Null, BTreeMap::new()).unwrap();
        assert_eq!((attrs["id"].as_str(), attrs["primary_key_arn"].as_str()), (Some(REPLICA), Some(PRIMARY)));
        let primary = KeyMetadata::builder()
            .key_id("mrk-1")
            .arn(PRIMARY)
            .multi_region_configuration(replica.multi_region_configuration().unwrap().clone())
            .build()
            .unwrap();
        assert_eq!(primary_of(&primary), None);
        let single = KeyMetadata::builder().key_id("k").arn("arn:aws:kms:us-west-2:1:key/k").build().unwrap();
        assert!(replica_attrs(&single, Value::Null, BTreeMap::new()).is_none());
    }
}
