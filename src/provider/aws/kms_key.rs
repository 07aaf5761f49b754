//! `kms_key`: a customer-managed KMS key with its policy, rotation, alias and tags.
//!
//! - Read: KMS has no batch describe, so each key costs a DescribeKey, then (for
//!   live keys only) GetKeyPolicy, ListResourceTags and — for symmetric keys with
//!   AWS-made material, the only ones that can rotate — GetKeyRotationStatus,
//!   those three concurrently. Keys are read [`PER_RESOURCE_CONCURRENCY`] at a
//!   time, while one paged ListAliases serves every key of the region. A key
//!   pending deletion is gone as far as a stack is concerned.
//! - `policy` is returned in the canonical form of [`policy::canonical`]; when it
//!   is unset in config AWS's default policy is simply not managed.
//! - `alias`: when a key has several aliases, read reports the first by name.
//! - `deletion_window_in_days` is config-only: AWS never reports it, so read
//!   omits it; delete schedules deletion after that many days.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::types::{KeyMetadata, KeySpec, KeyState, KeyUsageType, OriginType, Tag};
use aws_sdk_resourcegroupstagging::types::TagFilter;
use futures::{StreamExt, TryStreamExt, stream};

use super::{
    DEFAULT_DESCRIPTION, PER_RESOURCE_CONCURRENCY, api_error, error_code, factory, get_bool, get_i64, get_str, policy,
    tag_changes, tags_of,
};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, Schema, TAG_ADDRESS, TAG_STACK};
use crate::provider::{Ctx, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

/// The only key policy name KMS has.
const POLICY_NAME: &str = "default";
const ALIAS_PREFIX: &str = "alias/";
/// Aliases KMS keeps for AWS-managed keys; never a customer key's.
const AWS_ALIAS_PREFIX: &str = "alias/aws/";
/// Allowed range of `deletion_window_in_days`.
const DELETION_WINDOW: std::ops::RangeInclusive<i64> = 7..=30;
const DEFAULT_DELETION_WINDOW: i64 = 30;

/// The key specs CreateKey accepts.
const KEY_SPECS: &[&str] = &[
    "SYMMETRIC_DEFAULT",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "ECC_NIST_EDWARDS25519",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
    "SM2",
    "ML_DSA_44",
    "ML_DSA_65",
    "ML_DSA_87",
];

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::computed("key_id", AttrType::Str),
        Attr::optional("description", AttrType::Str).default(Default::Str(DEFAULT_DESCRIPTION)).max_len(8192),
        Attr::optional("policy", AttrType::Policy),
        Attr::optional("enable_key_rotation", AttrType::Bool).default(Default::Bool(true)),
        Attr::optional("alias", AttrType::Str).pattern(Kind::KmsAlias),
        Attr::optional("deletion_window_in_days", AttrType::Int)
            .default(Default::Int(DEFAULT_DELETION_WINDOW))
            .config_only()
            .range(*DELETION_WINDOW.start(), *DELETION_WINDOW.end()),
        Attr::optional("key_usage", AttrType::Str).default(Default::Str("ENCRYPT_DECRYPT")).force_new().one_of(&[
            "ENCRYPT_DECRYPT",
            "SIGN_VERIFY",
            "GENERATE_VERIFY_MAC",
            "KEY_AGREEMENT",
        ]),
        Attr::optional("customer_master_key_spec", AttrType::Str)
            .default(Default::Str("SYMMETRIC_DEFAULT"))
            .force_new()
            .one_of(KEY_SPECS),
        Attr::optional("multi_region", AttrType::Bool).default(Default::Bool(false)).force_new(),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: true,
    taggable: true,
};

/// The `kms_key` resource type.
pub struct KmsKey;

/// `name` with the `alias/` prefix KMS requires.
pub fn alias_name(name: &str) -> String {
    if name.starts_with(ALIAS_PREFIX) { name.to_owned() } else { format!("{ALIAS_PREFIX}{name}") }
}

/// A pending-deletion key no longer exists for a stack.
fn is_gone(meta: &KeyMetadata) -> bool {
    matches!(meta.key_state(), Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion))
}

/// Only symmetric keys with KMS-made material support automatic rotation.
fn rotation_supported(spec: &str, origin: Option<&OriginType>) -> bool {
    spec == KeySpec::SymmetricDefault.as_str() && origin.is_none_or(|o| *o == OriginType::AwsKms)
}

fn spec_of(meta: &KeyMetadata) -> Option<&str> {
    meta.key_spec().map(KeySpec::as_str)
}

fn deletion_window(attrs: &Attrs) -> Result<i32> {
    let days = get_i64(attrs, "deletion_window_in_days").unwrap_or(DEFAULT_DELETION_WINDOW);
    if !DELETION_WINDOW.contains(&days) {
        return Err(ProviderError::Invalid(format!("deletion_window_in_days must be between 7 and 30, not {days}")));
    }
    Ok(days as i32)
}

/// The desired policy as canonical value and JSON text, when one is set.
fn desired_policy(desired: &Attrs) -> Result<Option<(Value, String)>> {
    match desired.get("policy") {
        None | Some(Value::Null) => Ok(None),
        Some(p) => {
            let doc = policy::canonical(p).map_err(|e| ProviderError::Invalid(format!("policy: {e}")))?;
            let text = policy::to_json(&doc);
            Ok(Some((doc, text)))
        }
    }
}

fn kms_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| Tag::builder().tag_key(k).tag_value(v).build().map_err(|e| ProviderError::Invalid(e.to_string())))
        .collect()
}

/// Attributes of a key from its metadata and the parts read or written beside it.
fn key_attrs(
    meta: &KeyMetadata,
    policy: Value,
    rotation: bool,
    alias: Option<String>,
    tags: BTreeMap<String, String>,
) -> Attrs {
    let mut a = Attrs::new();
    let id = meta.key_id().to_owned();
    a.insert("id".into(), Value::str(&id));
    a.insert("key_id".into(), Value::Str(id));
    a.insert("arn".into(), meta.arn().into());
    a.insert("description".into(), Value::str(meta.description().unwrap_or_default()));
    a.insert("policy".into(), policy);
    a.insert("enable_key_rotation".into(), Value::Bool(rotation));
    if let Some(alias) = alias {
        a.insert("alias".into(), Value::Str(alias));
    }
    a.insert("key_usage".into(), meta.key_usage().map(|u| u.as_str()).into());
    a.insert("customer_master_key_spec".into(), spec_of(meta).into());
    a.insert("multi_region".into(), Value::Bool(meta.multi_region().unwrap_or(false)));
    a.insert("tags".into(), Value::from(tags));
    a
}

/// The key's policy, canonical. A policy AWS sends that is not a JSON object
/// is kept as text, so it shows up as a difference instead of failing the read.
async fn read_policy(client: &Client, key_id: &str) -> Result<Value> {
    let out = client
        .get_key_policy()
        .key_id(key_id)
        .policy_name(POLICY_NAME)
        .send()
        .await
        .map_err(|e| api_error("GetKeyPolicy", e))?;
    let text = Value::str(out.policy().unwrap_or("{}"));
    Ok(policy::canonical(&text).unwrap_or(text))
}

async fn read_rotation(client: &Client, key_id: &str) -> Result<bool> {
    let out = client
        .get_key_rotation_status()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| api_error("GetKeyRotationStatus", e))?;
    Ok(out.key_rotation_enabled())
}

async fn read_tags(client: &Client, key_id: &str) -> Result<BTreeMap<String, String>> {
    let tags = client
        .list_resource_tags()
        .key_id(key_id)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("ListResourceTags", e))?;
    Ok(tags.into_iter().map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned())).collect())
}

/// DescribeKey; `None` when the key does not exist or is pending deletion.
async fn describe(client: &Client, key: &str) -> Result<Option<KeyMetadata>> {
    match client.describe_key().key_id(key).send().await {
        Ok(out) => Ok(out.key_metadata.filter(|m| !is_gone(m))),
        Err(e) if error_code(&e) == Some("NotFoundException") => Ok(None),
        Err(e) => Err(api_error("DescribeKey", e)),
    }
}

/// Reads one key (id, ARN or alias), keyed by `key`; `None` when it is gone.
/// `alias` is filled in by the caller.
/// Reads one key; policy, rotation and tags cost a call each and are read only
/// when `scope` wants them.
async fn read_key(client: &Client, key: &str, scope: &ReadScope) -> Result<Option<(String, Attrs)>> {
    let Some(meta) = describe(client, key).await? else { return Ok(None) };
    let id = meta.key_id();
    let rotates = rotation_supported(spec_of(&meta).unwrap_or_default(), meta.origin());
    let rotation = async {
        if rotates && scope.wants("enable_key_rotation") { read_rotation(client, id).await } else { Ok(false) }
    };
    let policy = async { if scope.wants("policy") { read_policy(client, id).await } else { Ok(Value::Null) } };
    let tags = async { if scope.wants("tags") { read_tags(client, id).await } else { Ok(BTreeMap::new()) } };
    let (policy, rotation, tags) = tokio::try_join!(policy, rotation, tags)?;
    Ok(Some((key.to_owned(), key_attrs(&meta, policy, rotation, None, tags))))
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
async fn claim_alias(client: &Client, alias: &str, key_id: &str, tags: &BTreeMap<String, String>) -> Result<()> {
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

async fn set_rotation(client: &Client, key_id: &str, enabled: bool) -> Result<()> {
    if enabled {
        client.enable_key_rotation().key_id(key_id).send().await.map_err(|e| api_error("EnableKeyRotation", e))?;
    } else {
        client.disable_key_rotation().key_id(key_id).send().await.map_err(|e| api_error("DisableKeyRotation", e))?;
    }
    Ok(())
}

#[async_trait]
impl ResourceType for KmsKey {
    fn type_name(&self) -> &'static str {
        "kms_key"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// Canonical policy (left as given when it does not parse: create reports
    /// that) and `alias/`-prefixed alias.
    fn normalize(&self, desired: &mut Attrs) {
        if let Some(p) = desired.get_mut("policy") {
            if let Ok(doc) = policy::canonical(p) {
                *p = doc;
            }
        }
        if let Some(Value::Str(a)) = desired.get_mut("alias") {
            *a = alias_name(a);
        }
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.kms(&ctx.region).await;
        let reads: Vec<_> = ids.iter().map(|id| read_key(client, id, scope)).collect();
        let keys = stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect::<Vec<_>>();
        let aliases = async { if scope.wants("alias") { list_aliases(client, None).await } else { Ok(Vec::new()) } };
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

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let window = deletion_window(desired)?;
        let policy = desired_policy(desired)?;
        let spec = get_str(desired, "customer_master_key_spec").unwrap_or("SYMMETRIC_DEFAULT");
        let rotation = get_bool(desired, "enable_key_rotation").unwrap_or(true);
        if rotation && !rotation_supported(spec, None) {
            return Err(ProviderError::Invalid(format!(
                "enable_key_rotation needs a SYMMETRIC_DEFAULT key, not {spec}; set enable_key_rotation = false"
            )));
        }
        let tags = tags_of(desired);
        let alias = get_str(desired, "alias").map(alias_name);
        let client = factory(ctx)?.kms(&ctx.region).await;
        let out = client
            .create_key()
            .description(get_str(desired, "description").unwrap_or(DEFAULT_DESCRIPTION))
            .key_usage(KeyUsageType::from(get_str(desired, "key_usage").unwrap_or("ENCRYPT_DECRYPT")))
            .key_spec(KeySpec::from(spec))
            .multi_region(get_bool(desired, "multi_region").unwrap_or(false))
            .set_policy(policy.as_ref().map(|(_, text)| text.clone()))
            .set_tags(Some(kms_tags(&tags)?))
            .send()
            .await
            .map_err(|e| api_error("CreateKey", e))?;
        let meta =
            out.key_metadata.ok_or_else(|| ProviderError::Invalid("CreateKey returned no key metadata".into()))?;
        let id = meta.key_id().to_owned();
        if rotation {
            set_rotation(&client, &id, true).await?;
        }
        if let Some(alias) = &alias {
            claim_alias(&client, alias, &id, &tags).await?;
        }
        let policy = match policy {
            Some((doc, _)) => doc,
            None => read_policy(&client, &id).await?,
        };
        let mut attrs = key_attrs(&meta, policy, rotation, alias, tags);
        attrs.insert("deletion_window_in_days".into(), Value::Int(window.into()));
        Ok(attrs)
    }

    async fn update(&self, ctx: &Ctx, id: &str, prior: &Attrs, desired: &Attrs) -> Result<Attrs> {
        let window = deletion_window(desired)?;
        let client = factory(ctx)?.kms(&ctx.region).await;
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

        if let Some((doc, text)) = desired_policy(desired)? {
            if prior.get("policy") != Some(&doc) {
                client
                    .put_key_policy()
                    .key_id(id)
                    .policy_name(POLICY_NAME)
                    .policy(text)
                    .send()
                    .await
                    .map_err(|e| api_error("PutKeyPolicy", e))?;
            }
            attrs.insert("policy".into(), doc);
        }

        let rotation = get_bool(desired, "enable_key_rotation").unwrap_or(true);
        if get_bool(prior, "enable_key_rotation") != Some(rotation) {
            set_rotation(&client, id, rotation).await?;
        }
        attrs.insert("enable_key_rotation".into(), Value::Bool(rotation));

        let tags = tags_of(desired);
        if let Some(alias) = get_str(desired, "alias").map(alias_name) {
            let old = get_str(prior, "alias");
            if old != Some(alias.as_str()) {
                claim_alias(&client, &alias, id, &tags).await?;
                if let Some(old) = old {
                    release_alias(&client, old, id).await?;
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
            client
                .tag_resource()
                .key_id(id)
                .set_tags(Some(kms_tags(&set)?))
                .send()
                .await
                .map_err(|e| api_error("TagResource", e))?;
        }
        attrs.insert("tags".into(), Value::from(tags));
        attrs.insert("deletion_window_in_days".into(), Value::Int(window.into()));
        Ok(attrs)
    }

    /// Removes the key's alias (if it still points here), then schedules deletion.
    /// A key already gone or already pending deletion counts as deleted.
    async fn delete(&self, ctx: &Ctx, id: &str, prior: &Attrs) -> Result<()> {
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

    /// Looks the key up by its ownership tags (Resource Groups Tagging API),
    /// skipping keys pending deletion.
    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        let tagging = factory(ctx)?.tagging(&ctx.region).await;
        let filter = |k: &str, v: String| TagFilter::builder().key(k).values(v).build();
        let found = tagging
            .get_resources()
            .tag_filters(filter(TAG_STACK, ctx.stack.clone()))
            .tag_filters(filter(TAG_ADDRESS, addr.to_string()))
            .resource_type_filters("kms:key")
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| api_error("GetResources", e))?;
        let client = factory(ctx)?.kms(&ctx.region).await;
        for arn in found.iter().filter_map(|r| r.resource_arn()) {
            if let Some(meta) = describe(&client, arn).await? {
                return Ok(Some(meta.key_id().to_owned()));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_gets_prefix_once() {
        assert_eq!(alias_name("db"), "alias/db");
        assert_eq!(alias_name("alias/db"), "alias/db");
        let mut a = Attrs::new();
        a.insert("alias".into(), Value::str("prod/db"));
        KmsKey.normalize(&mut a);
        KmsKey.normalize(&mut a);
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
        KmsKey.normalize(&mut a);
        KmsKey.normalize(&mut b);
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
    fn only_symmetric_kms_material_rotates() {
        assert!(rotation_supported("SYMMETRIC_DEFAULT", None));
        assert!(rotation_supported("SYMMETRIC_DEFAULT", Some(&OriginType::AwsKms)));
        assert!(!rotation_supported("SYMMETRIC_DEFAULT", Some(&OriginType::External)));
        assert!(!rotation_supported("RSA_2048", None));
    }
}
