//! What `kms_key` and `kms_replica_key` share: reading a key's parts, the
//! alias a key owns, the in-place updates both types make (description,
//! policy, alias, tags), scheduled deletion and the lookup by ownership tags.
//!
//! - A key pending deletion (or a primary waiting for its replicas' deletion)
//!   is gone as far as a stack is concerned.
//! - Policies are in the canonical form of [`policy::canonical`].
//! - `alias`: when a key has several aliases, read reports the first by name.
//!   Aliases belong to one region; one paged ListAliases serves every key of it.
//! - `deletion_window_in_days` is config-only: AWS never reports it, so read
//!   omits it; delete schedules deletion after that many days.

use std::collections::BTreeMap;
use std::future::Future;

use aws_sdk_kms::Client;
use aws_sdk_kms::types::{KeyMetadata, KeyState, Tag};
use futures::{StreamExt, TryStreamExt, stream};

use super::{DEFAULT_DESCRIPTION, PER_RESOURCE_CONCURRENCY, api_error, error_code, factory, get_i64, get_str, policy};
use super::{IAM_PROPAGATION_WAIT, Settling, send_settling, tag_changes, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, TAG_ADDRESS, TAG_STACK};
use crate::provider::waiter::Backoff;
use crate::provider::{Ctx, ProviderError, ReadScope, Result};
use crate::value::{Attrs, Value};

/// KMS refusing a key policy over an IAM principal it cannot see yet
/// (`MalformedPolicyDocumentException` ... "invalid principals"): passes once
/// IAM has propagated a role this run just made.
pub const PRINCIPAL_NOT_READY: Settling = Settling::new(
    "MalformedPolicyDocumentException",
    "KMS did not accept a principal of the key policy yet (IAM propagation)",
    IAM_PROPAGATION_WAIT,
)
.with_message("invalid principals");

/// The only key policy name KMS has.
pub const POLICY_NAME: &str = "default";
const ALIAS_PREFIX: &str = "alias/";
/// Aliases KMS keeps for AWS-managed keys; never a customer key's.
const AWS_ALIAS_PREFIX: &str = "alias/aws/";
/// Allowed range of `deletion_window_in_days`.
const DELETION_WINDOW: std::ops::RangeInclusive<i64> = 7..=30;
const DEFAULT_DELETION_WINDOW: i64 = 30;

/// The schema attributes both key types declare alike.
pub const DESCRIPTION_ATTR: Attr =
    Attr::optional("description", AttrType::Str).default(Default::Str(DEFAULT_DESCRIPTION)).max_len(8192);
pub const POLICY_ATTR: Attr = Attr::optional("policy", AttrType::Policy);
pub const ALIAS_ATTR: Attr = Attr::optional("alias", AttrType::Str).pattern(Kind::KmsAlias);
pub const DELETION_WINDOW_ATTR: Attr = Attr::optional("deletion_window_in_days", AttrType::Int)
    .default(Default::Int(DEFAULT_DELETION_WINDOW))
    .config_only()
    .range(*DELETION_WINDOW.start(), *DELETION_WINDOW.end());

/// `name` with the `alias/` prefix KMS requires.
pub fn alias_name(name: &str) -> String {
    if name.starts_with(ALIAS_PREFIX) { name.to_owned() } else { format!("{ALIAS_PREFIX}{name}") }
}

/// Canonical `policy` and `alias/`-prefixed `alias`, as both key types store them.
pub fn normalize(desired: &mut Attrs) {
    if let Some(p) = desired.get_mut("policy") {
        policy::normalize(p);
    }
    if let Some(Value::Str(a)) = desired.get_mut("alias") {
        *a = alias_name(a);
    }
}

/// A pending-deletion key no longer exists for a stack.
fn is_gone(meta: &KeyMetadata) -> bool {
    matches!(meta.key_state(), Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion))
}

/// `deletion_window_in_days` of `attrs`, range-checked.
pub fn deletion_window(attrs: &Attrs) -> Result<i32> {
    let days = get_i64(attrs, "deletion_window_in_days").unwrap_or(DEFAULT_DELETION_WINDOW);
    if !DELETION_WINDOW.contains(&days) {
        return Err(ProviderError::Invalid(format!("deletion_window_in_days must be between 7 and 30, not {days}")));
    }
    Ok(days as i32)
}

pub fn kms_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| Tag::builder().tag_key(k).tag_value(v).build().map_err(|e| ProviderError::Invalid(e.to_string())))
        .collect()
}

/// Tags as KMS lists them, as a map.
pub fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned())).collect()
}

/// The key's policy (GetKeyPolicy), canonical.
pub async fn read_policy(client: &Client, key_id: &str) -> Result<Value> {
    let out = client
        .get_key_policy()
        .key_id(key_id)
        .policy_name(POLICY_NAME)
        .send()
        .await
        .map_err(|e| api_error("GetKeyPolicy", e))?;
    Ok(policy::from_aws(out.policy().unwrap_or("{}")))
}

/// The key's tags (ListResourceTags, paged).
pub async fn read_tags(client: &Client, key_id: &str) -> Result<BTreeMap<String, String>> {
    let tags: Vec<Tag> = client
        .list_resource_tags()
        .key_id(key_id)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("ListResourceTags", e))?;
    Ok(tag_map(&tags))
}

/// Policy and tags of a key, concurrently, each only when `scope` wants it
/// (`Null` and no tags otherwise).
pub async fn read_policy_and_tags(
    client: &Client,
    key_id: &str,
    scope: &ReadScope,
) -> Result<(Value, BTreeMap<String, String>)> {
    let policy = async { if scope.wants("policy") { read_policy(client, key_id).await } else { Ok(Value::Null) } };
    let tags = async { if scope.wants("tags") { read_tags(client, key_id).await } else { Ok(BTreeMap::new()) } };
    tokio::try_join!(policy, tags)
}

/// DescribeKey; `None` when the key does not exist or is pending deletion.
pub async fn describe(client: &Client, key: &str) -> Result<Option<KeyMetadata>> {
    match client.describe_key().key_id(key).send().await {
        Ok(out) => Ok(out.key_metadata.filter(|m| !is_gone(m))),
        Err(e) if error_code(&e) == Some("NotFoundException") => Ok(None),
        Err(e) => Err(api_error("DescribeKey", e)),
    }
}

/// The attributes every key type reports: ids, ARN, description, policy, tags.
pub fn common_attrs(meta: &KeyMetadata, id: String, policy: Value, tags: BTreeMap<String, String>) -> Attrs {
    let mut a = Attrs::new();
    a.insert("id".into(), Value::Str(id));
    a.insert("key_id".into(), Value::str(meta.key_id()));
    a.insert("arn".into(), meta.arn().into());
    a.insert("description".into(), Value::str(meta.description().unwrap_or_default()));
    a.insert("policy".into(), policy);
    a.insert("tags".into(), Value::from(tags));
    a
}

/// Reads the keys `ids` of `ctx.region` with `read_one` (given a client and
/// the id asked for; `None` when gone), [`PER_RESOURCE_CONCURRENCY`] at a
/// time, and fills in each one's `alias` from one ListAliases when `scope`
/// wants it. Keyed by the ids asked for.
pub async fn read_keys<'a, F, Fut>(
    ctx: &Ctx,
    ids: &'a [String],
    scope: &ReadScope,
    read_one: F,
) -> Result<BTreeMap<String, Attrs>>
where
    F: Fn(Client, &'a str) -> Fut,
    Fut: Future<Output = Result<Option<(String, Attrs)>>>,
{
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let client = factory(ctx)?.kms(&ctx.region).await;
    let reads: Vec<_> = ids.iter().map(|id| read_one(client.clone(), id)).collect();
    let keys = stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect::<Vec<_>>();
    let aliases = async { if scope.wants("alias") { list_aliases(&client, None).await } else { Ok(Vec::new()) } };
    let (keys, aliases) = tokio::try_join!(keys, aliases)?;
    let mut first_alias: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, target) in &aliases {
        first_alias.entry(target.as_str()).or_insert(name.as_str());
    }
    Ok(keys
        .into_iter()
        .flatten()
        .map(|(id, mut attrs)| {
            if let Some(alias) = get_str(&attrs, "key_id").and_then(|k| first_alias.get(k)) {
                attrs.insert("alias".into(), Value::str(*alias));
            }
            (id, attrs)
        })
        .collect())
}

/// Every customer alias of the region: (alias name, target key id), sorted by name.
async fn list_aliases(client: &Client, key_id: Option<&str>) -> Result<Vec<(String, String)>> {
    let entries = client
        .list_aliases()
        .set_key_id(key_id.map(str::to_owned))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("ListAliases", e))?;
    let mut out: Vec<(String, String)> = entries
        .iter()
        .filter_map(|e| Some((e.alias_name()?.to_owned(), e.target_key_id()?.to_owned())))
        .filter(|(name, _)| !name.starts_with(AWS_ALIAS_PREFIX))
        .collect();
    out.sort();
    Ok(out)
}

/// Points `alias` at `key_id`. An alias that already exists is taken over only
/// from a key that is pending deletion or that this stack created for the same
/// address (the key being replaced); any other owner is an error.
pub async fn claim_alias(client: &Client, alias: &str, key_id: &str, tags: &BTreeMap<String, String>) -> Result<()> {
    let err = match client.create_alias().alias_name(alias).target_key_id(key_id).send().await {
        Ok(_) => return Ok(()),
        Err(e) if error_code(&e) == Some("AlreadyExistsException") => e,
        Err(e) => return Err(api_error("CreateAlias", e)),
    };
    let aliases = list_aliases(client, None).await?;
    let Some((_, target)) = aliases.iter().find(|(name, _)| name == alias) else {
        return Err(api_error("CreateAlias", err));
    };
    if target == key_id {
        return Ok(());
    }
    let ours = match describe(client, target).await? {
        None => true,
        Some(_) => {
            let owner = read_tags(client, target).await?;
            [TAG_STACK, TAG_ADDRESS].iter().all(|k| owner.get(*k).is_some_and(|v| tags.get(*k) == Some(v)))
        }
    };
    if !ours {
        return Err(ProviderError::Invalid(format!(
            "alias {alias} already belongs to KMS key {target}, which this stack did not create for this address"
        )));
    }
    client
        .update_alias()
        .alias_name(alias)
        .target_key_id(key_id)
        .send()
        .await
        .map_err(|e| api_error("UpdateAlias", e))?;
    Ok(())
}

/// Deletes `alias` if it still points at `key_id` (after a replacement it may
/// already belong to the new key).
async fn release_alias(client: &Client, alias: &str, key_id: &str) -> Result<()> {
    let aliases = match list_aliases(client, Some(key_id)).await {
        Ok(a) => a,
        Err(ProviderError::Api { code, .. }) if code == "NotFoundException" => return Ok(()),
        Err(e) => return Err(e),
    };
    if aliases.iter().any(|(name, target)| name == alias && target == key_id) {
        match client.delete_alias().alias_name(alias).send().await {
            Ok(_) => {}
            Err(e) if error_code(&e) == Some("NotFoundException") => {}
            Err(e) => return Err(api_error("DeleteAlias", e)),
        }
    }
    Ok(())
}

/// The in-place changes both key types make, from `prior` to `desired`:
/// UpdateKeyDescription, PutKeyPolicy (when the config sets a policy),
/// CreateAlias/UpdateAlias then DeleteAlias of the old one (when it sets an
/// alias), UntagResource/TagResource. Each call only when its value changed.
/// Returns `prior` with the new values and the deletion window.
pub async fn update_common(ctx: &Ctx, client: &Client, id: &str, prior: &Attrs, desired: &Attrs) -> Result<Attrs> {
    let window = deletion_window(desired)?;
    let mut attrs = prior.clone();

    let description = get_str(desired, "description").unwrap_or(DEFAULT_DESCRIPTION);
    if get_str(prior, "description") != Some(description) {
        client
            .update_key_description()
            .key_id(id)
            .description(description)
            .send()
            .await
            .map_err(|e| api_error("UpdateKeyDescription", e))?;
    }
    attrs.insert("description".into(), Value::str(description));

    if let Some((doc, text)) = policy::desired(desired, "policy")? {
        if prior.get("policy") != Some(&doc) {
            put_policy(ctx, client, id, text).await?;
        }
        attrs.insert("policy".into(), doc);
    }

    let tags = tags_of(desired);
    if let Some(alias) = get_str(desired, "alias").map(alias_name) {
        let old = get_str(prior, "alias");
        if old != Some(alias.as_str()) {
            claim_alias(client, &alias, id, &tags).await?;
            if let Some(old) = old {
                release_alias(client, old, id).await?;
            }
        }
        attrs.insert("alias".into(), Value::Str(alias));
    }

    let (set, remove) = tag_changes(&tags_of(prior), &tags);
    if !remove.is_empty() {
        client
            .untag_resource()
            .key_id(id)
            .set_tag_keys(Some(remove))
            .send()
            .await
            .map_err(|e| api_error("UntagResource", e))?;
    }
    if !set.is_empty() {
        tag(client, id, &set).await?;
    }
    attrs.insert("tags".into(), Value::from(tags));
    attrs.insert("deletion_window_in_days".into(), Value::Int(window.into()));
    Ok(attrs)
}

/// PutKeyPolicy with the policy's JSON text.
pub async fn put_policy(ctx: &Ctx, client: &Client, id: &str, text: String) -> Result<()> {
    let req = client.put_key_policy().key_id(id).policy_name(POLICY_NAME).policy(text);
    send_settling(ctx, "PutKeyPolicy", &[PRINCIPAL_NOT_READY], Backoff::RETRY, || req.clone().send())
        .await
        .map_err(|e| api_error("PutKeyPolicy", e))?;
    Ok(())
}

/// TagResource: sets `tags` (new or changed values), keeping the others.
pub async fn tag(client: &Client, id: &str, tags: &BTreeMap<String, String>) -> Result<()> {
    client
        .tag_resource()
        .key_id(id)
        .set_tags(Some(kms_tags(tags)?))
        .send()
        .await
        .map_err(|e| api_error("TagResource", e))?;
    Ok(())
}

/// Removes the key's alias (if it still points there), then schedules the
/// key's deletion after `deletion_window_in_days`, in `ctx.region`. A key
/// already gone or already pending deletion counts as deleted.
pub async fn schedule_deletion(ctx: &Ctx, id: &str, prior: &Attrs) -> Result<()> {
    let window = deletion_window(prior)?;
    let client = factory(ctx)?.kms(&ctx.region).await;
    if let Some(alias) = get_str(prior, "alias") {
        release_alias(&client, &alias_name(alias), id).await?;
    }
    match client.schedule_key_deletion().key_id(id).pending_window_in_days(window).send().await {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e) == Some("NotFoundException") => Ok(()),
        Err(e) if error_code(&e) == Some("KMSInvalidStateException") && describe(&client, id).await?.is_none() => {
            Ok(())
        }
        Err(e) => Err(api_error("ScheduleKeyDeletion", e)),
    }
}

/// The first live key of `ctx.region` carrying this stack's and `addr`'s
/// ownership tags (Resource Groups Tagging API, then DescribeKey to skip keys
/// pending deletion), as its ARN and metadata.
pub async fn find_by_tags(ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<KeyMetadata>> {
    let found = super::owned::tagged(ctx, Some(addr), &["kms:key"]).await?;
    let client = factory(ctx)?.kms(&ctx.region).await;
    for (arn, _) in &found {
        if let Some(meta) = describe(&client, arn).await? {
            return Ok(Some(meta));
        }
    }
    Ok(None)
}

/// Whether `named` (a key id, key ARN, alias name or alias ARN, as a
/// backend or an encryption setting names a key) names the key `attrs`
/// describes (its `id`, `key_id`, `arn` and `alias`).
pub fn names_key(attrs: &Attrs, named: &str) -> bool {
    let alias = named.rsplit_once(':').map_or(named, |(_, tail)| tail);
    ["id", "key_id", "arn"].iter().any(|k| get_str(attrs, k) == Some(named))
        || (alias.starts_with("alias/") && get_str(attrs, "alias") == Some(alias))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key policy naming a role IAM has not propagated yet is put again
    /// (reported); another malformed policy fails at once.
    #[tokio::test]
    async fn a_policy_over_a_new_principal_is_put_again_until_kms_accepts_it() {
        use aws_sdk_kms::operation::put_key_policy::{PutKeyPolicyError, PutKeyPolicyOutput};
        use aws_smithy_mocks::mock;
        use aws_smithy_types::error::ErrorMetadata;

        use crate::provider::aws::mocked_client;
        use crate::provider::aws::rds::test_ctx;

        let malformed = |message: &'static str| {
            move || {
                let meta = ErrorMetadata::builder().code("MalformedPolicyDocumentException").message(message).build();
                PutKeyPolicyError::generic(meta)
            }
        };
        let put = mock!(Client::put_key_policy)
            .match_requests(|r| r.key_id() == Some("k1") && r.policy_name() == Some(POLICY_NAME))
            .sequence()
            .error(malformed("Policy contains a statement with one or more invalid principals."))
            .output(|| PutKeyPolicyOutput::builder().build())
            .build();
        let client = mocked_client!(aws_sdk_kms, &[&put]);
        let (ctx, reports) = test_ctx();
        put_policy(&ctx, &client, "k1", "{}".into()).await.expect("put once IAM caught up");
        assert_eq!(put.num_calls(), 2);
        let reports = reports.lock().unwrap().clone();
        assert!(reports.len() == 1 && reports[0].contains("retrying PutKeyPolicy"), "{reports:?}");

        let put =
            mock!(Client::put_key_policy).then_error(malformed("The new key policy will not allow you to update"));
        let client = mocked_client!(aws_sdk_kms, &[&put]);
        let err = put_policy(&test_ctx().0, &client, "k1", "{}".into()).await.unwrap_err();
        assert!(err.to_string().contains("will not allow you to update"), "{err}");
        assert_eq!(put.num_calls(), 1);
    }

    #[test]
    fn alias_gets_prefix_once() {
        assert_eq!(alias_name("db"), "alias/db");
        assert_eq!(alias_name("alias/db"), "alias/db");
        let mut a = Attrs::new();
        a.insert("alias".into(), Value::str("prod/db"));
        normalize(&mut a);
        normalize(&mut a);
        assert_eq!(get_str(&a, "alias"), Some("alias/prod/db"));
    }

    #[test]
    fn normalize_makes_json_and_table_policies_equal() {
        let text = r#"{"Version":"2012-10-17","Statement":[{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}]}"#;
        let table = Value::from_json(&serde_json::json!({
            "Statement": { "Resource": "*", "Action": ["kms:*"], "Effect": "Allow", "Sid": "root",
                           "Principal": { "AWS": "arn:aws:iam::123456789012:root" } },
            "Version": "2012-10-17",
        }));
        let mut a = Attrs::from([("policy".to_owned(), Value::str(text))]);
        let mut b = Attrs::from([("policy".to_owned(), table)]);
        normalize(&mut a);
        normalize(&mut b);
        assert!(matches!(a["policy"], Value::Map(_)));
        assert_eq!(a, b);
    }

    #[test]
    fn deletion_window_is_range_checked() {
        let with = |d: i64| Attrs::from([("deletion_window_in_days".to_owned(), Value::Int(d))]);
        assert_eq!(deletion_window(&with(7)).unwrap(), 7);
        assert_eq!(deletion_window(&Attrs::new()).unwrap(), 30);
        assert!(matches!(deletion_window(&with(6)), Err(ProviderError::Invalid(_))));
        assert!(matches!(deletion_window(&with(31)), Err(ProviderError::Invalid(_))));
    }

    #[test]
    fn pending_deletion_is_gone_other_states_are_not() {
        let meta = |s: KeyState| KeyMetadata::builder().key_id("k").key_state(s).build().unwrap();
        assert!(is_gone(&meta(KeyState::PendingDeletion)));
        assert!(is_gone(&meta(KeyState::PendingReplicaDeletion)));
        assert!(!is_gone(&meta(KeyState::Disabled)));
        assert!(!is_gone(&meta(KeyState::Creating)));
    }
}
