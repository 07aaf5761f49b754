//! `kms_key`: a customer-managed KMS key with its policy, rotation, alias and tags.
//!
//! - Create: CreateKey with description, usage, spec, `MultiRegion`, policy
//!   and tags in one call; EnableKeyRotation; CreateAlias; GetKeyPolicy when
//!   the config sets no policy. Before CreateKey, a key that already holds
//!   the configured alias and carries this stack's and this address's
//!   ownership tags (with the configured usage, spec and multi-Region
//!   setting) is adopted and brought to the config instead: it is the key of
//!   an interrupted create that `find_created`'s tagging index did not show
//!   yet (DescribeKey by alias and ListResourceTags are KMS's own calls, not
//!   the index).
//! - Plan (`check_planned`): a policy KMS's key policy lockout safety check
//!   would refuse (it must let the caller, or its account, call
//!   kms:PutKeyPolicy: [`kms::lockout`], the caller from one STS
//!   GetCallerIdentity) is refused at `policy`, unless
//!   `bypass_policy_lockout_safety_check = true`, which is then sent with
//!   CreateKey and PutKeyPolicy.
//! - Read: KMS has no batch describe, so each key costs a DescribeKey, then (for
//!   live keys only) GetKeyPolicy, ListResourceTags and — for symmetric keys with
//!   AWS-made material, the only ones that can rotate — GetKeyRotationStatus,
//!   those three concurrently and each only when the config manages its
//!   attribute. Keys are read [`PER_RESOURCE_CONCURRENCY`](super::PER_RESOURCE_CONCURRENCY)
//!   at a time, while
//!   one paged ListAliases serves every key of the region.
//! - Update: [`kms::update_common`], then Enable/DisableKeyRotation.
//! - Delete: DeleteAlias, ScheduleKeyDeletion ([`kms::schedule_deletion`]).
//! - `multi_region = true` makes a multi-Region primary key (id `mrk-...`),
//!   which `kms_replica_key` copies into other regions.
//! - `policy` is returned in the canonical form of [`policy::canonical`]; when it
//!   is unset in config AWS's default policy is simply not managed.
//! - Shared behaviour (pending deletion, aliases, deletion window): [`kms`].
//! - Orphan scan (`list_owned`): the region's shared GetResources ([`super::owned`]).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::types::{KeyMetadata, KeySpec, KeyUsageType, OriginType};

use super::kms;
use super::owned;
use super::{DEFAULT_DESCRIPTION, api_error, factory, get_bool, get_str, policy, send_settling, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, Ownership, Pricing, Schema, TAG_ADDRESS, TAG_STACK};
use crate::provider::waiter::Backoff;
use crate::provider::{
    Ctx, Finding, Intent, Owned, PlannedChange, PlannedUpdate, ProviderError, ReadScope, Refusal, ResourceType, Result,
    StateHome,
};
use crate::value::{Attrs, Value};

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
        kms::DESCRIPTION_ATTR,
        kms::POLICY_ATTR,
        Attr::optional("enable_key_rotation", AttrType::Bool).default(Default::Bool(true)),
        kms::ALIAS_ATTR,
        kms::DELETION_WINDOW_ATTR,
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
        // Unset is false; no default, so keys made before it existed plan no change.
        Attr::optional(kms::BYPASS_LOCKOUT, AttrType::Bool).config_only(),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: true,
    taggable: true,
    ownership: Ownership::indexed("kms:key", "key/"),
    pricing: Pricing::KmsKey,
};

/// The `kms_key` resource type.
pub struct KmsKey;

/// Only symmetric keys with KMS-made material support automatic rotation.
fn rotation_supported(spec: &str, origin: Option<&OriginType>) -> bool {
    spec == KeySpec::SymmetricDefault.as_str() && origin.is_none_or(|o| *o == OriginType::AwsKms)
}

fn spec_of(meta: &KeyMetadata) -> Option<&str> {
    meta.key_spec().map(KeySpec::as_str)
}

/// Attributes of a key from its metadata and the parts read or written beside it.
fn key_attrs(
    meta: &KeyMetadata,
    policy: Value,
    rotation: bool,
    alias: Option<String>,
    tags: BTreeMap<String, String>,
) -> Attrs {
    let mut a = kms::common_attrs(meta, meta.key_id().to_owned(), policy, tags);
    a.insert("enable_key_rotation".into(), Value::Bool(rotation));
    if let Some(alias) = alias {
        a.insert("alias".into(), Value::Str(alias));
    }
    a.insert("key_usage".into(), meta.key_usage().map(|u| u.as_str()).into());
    a.insert("customer_master_key_spec".into(), spec_of(meta).into());
    a.insert("multi_region".into(), Value::Bool(meta.multi_region().unwrap_or(false)));
    a
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

/// Reads one key (id, ARN or alias), keyed by `key`; `None` when it is gone.
/// Policy, rotation and tags cost a call each and are read only when `scope`
/// wants them; `alias` is filled in by [`kms::read_keys`].
async fn read_key(client: Client, key: &str, scope: &ReadScope) -> Result<Option<(String, Attrs)>> {
    let client = &client;
    let Some(meta) = kms::describe(client, key).await? else { return Ok(None) };
    let id = meta.key_id();
    let rotates = rotation_supported(spec_of(&meta).unwrap_or_default(), meta.origin());
    let rotation = async {
        if rotates && scope.wants("enable_key_rotation") { read_rotation(client, id).await } else { Ok(false) }
    };
    let ((policy, tags), rotation) = tokio::try_join!(kms::read_policy_and_tags(client, id, scope), rotation)?;
    Ok(Some((key.to_owned(), key_attrs(&meta, policy, rotation, None, tags))))
}

/// The policy of a planned change that KMS's lockout safety check will
/// judge, as JSON: a known policy sent with CreateKey, or a changed one
/// sent with PutKeyPolicy, without the bypass.
fn judged_policy(p: &PlannedChange<'_>) -> Option<serde_json::Value> {
    if get_bool(p.desired, kms::BYPASS_LOCKOUT) == Some(true) {
        return None;
    }
    let policy = p.desired.get("policy").filter(|v| !v.is_null() && !v.contains_unknown())?;
    if !p.creates && p.current.and_then(|c| c.get("policy")) == Some(policy) {
        return None;
    }
    match policy {
        Value::Str(text) => serde_json::from_str(text).ok(),
        v => Some(v.to_json()),
    }
}

/// The refusal of a policy that would lock `caller` out (`why`, from [`kms::lockout`]).
fn lockout_refusal(why: &str, caller: &kms::Caller) -> Refusal {
    Refusal::new(format!(
        "has a key policy KMS refuses: {why} (KMS's key policy lockout safety check: the policy must let whoever sets it change it again)"
    ))
    .on("policy")
    .hint(format!(
        "allow kms:PutKeyPolicy (or kms:*) to `arn:aws:iam::{}:root`, as KMS's default key policy does, or to the caller itself",
        caller.account
    ))
    .hint(format!(
        "if no one is ever to change this key's policy again, set `{} = true` on the key: KMS then skips the check, and the key may become unmanageable",
        kms::BYPASS_LOCKOUT
    ))
}

/// A live key that holds `alias` and carries `tags`' ownership tags (this
/// stack, this address), with the `desired` usage, spec and multi-Region
/// setting: the key of an interrupted create. KMS's own calls (DescribeKey
/// by alias, ListResourceTags), not the tagging index.
async fn owned_by_alias(client: &Client, alias: &str, desired: &Attrs) -> Result<Option<KeyMetadata>> {
    let Some(meta) = kms::describe(client, alias).await? else { return Ok(None) };
    let tags = tags_of(desired);
    let found = kms::read_tags(client, meta.key_id()).await?;
    let ours = [TAG_STACK, TAG_ADDRESS].iter().all(|k| tags.get(*k).is_some_and(|v| found.get(*k) == Some(v)));
    let same = |attr: &str, have: Option<&str>, default: &str| {
        get_str(desired, attr).unwrap_or(default) == have.unwrap_or_default()
    };
    let fits = same("key_usage", meta.key_usage().map(KeyUsageType::as_str), "ENCRYPT_DECRYPT")
        && same("customer_master_key_spec", spec_of(&meta), "SYMMETRIC_DEFAULT")
        && meta.multi_region().unwrap_or(false) == get_bool(desired, "multi_region").unwrap_or(false);
    Ok((ours && fits).then_some(meta))
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
        kms::normalize(desired);
    }

    /// The key the stack's state is encrypted with is never scheduled for
    /// deletion (nor replaced): every state version would become unreadable.
    fn refuse_for_state(&self, current: &Attrs, intent: Intent<'_>, home: &StateHome) -> Vec<Refusal> {
        let Some(named) = home.kms_key_id.as_deref() else { return Vec::new() };
        if matches!(intent, Intent::Keep { .. }) || !kms::names_key(current, named) {
            return Vec::new();
        }
        vec![
            Refusal::new(format!(
                "encrypts this stack's own state ({}, `kms_key_id = \"{named}\"`): deleting it would make every \
                 version of the state unreadable",
                home.url()
            ))
            .hint(
                "re-encrypt the state under another key first: set the backend's `kms_key_id` to it and run \
                 `pgstack state pull STACK -o state-copy.json`, then `pgstack state push STACK state-copy.json`",
            )
            .hint(
                "or stop managing the key without deleting it: `pgstack state rm STACK ADDR` (then remove its block)",
            ),
        ]
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        kms::read_keys(ctx, ids, scope, |client, id, scope| async move { read_key(client, id, &scope).await }).await
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let window = kms::deletion_window(desired)?;
        let policy = policy::desired(desired, "policy")?;
        let spec = get_str(desired, "customer_master_key_spec").unwrap_or("SYMMETRIC_DEFAULT");
        let rotation = get_bool(desired, "enable_key_rotation").unwrap_or(true);
        if rotation && !rotation_supported(spec, None) {
            return Err(ProviderError::Invalid(format!(
                "enable_key_rotation needs a SYMMETRIC_DEFAULT key, not {spec}; set enable_key_rotation = false"
            )));
        }
        let tags = tags_of(desired);
        let alias = get_str(desired, "alias").map(kms::alias_name);
        let client = factory(ctx)?.kms(&ctx.region).await;
        if let Some(alias) = &alias
            && let Some(meta) = owned_by_alias(&client, alias, desired).await?
        {
            // Adopted: brought from what it is to the config, as an update would.
            let id = meta.key_id().to_owned();
            let (_, mut existing) = read_key(client.clone(), &id, &ReadScope::All)
                .await?
                .ok_or_else(|| ProviderError::NotFound(id.clone()))?;
            existing.insert("alias".into(), Value::str(alias));
            return self.update(ctx, &id, &self.planned_update(&existing, desired, &[])).await;
        }
        let bypass = get_bool(desired, kms::BYPASS_LOCKOUT) == Some(true);
        let req = client
            .create_key()
            .description(get_str(desired, "description").unwrap_or(DEFAULT_DESCRIPTION))
            .key_usage(KeyUsageType::from(get_str(desired, "key_usage").unwrap_or("ENCRYPT_DECRYPT")))
            .key_spec(KeySpec::from(spec))
            .multi_region(get_bool(desired, "multi_region").unwrap_or(false))
            .set_policy(policy.as_ref().map(|(_, text)| text.clone()))
            .set_bypass_policy_lockout_safety_check(bypass.then_some(true))
            .set_tags(Some(kms::kms_tags(&tags)?));
        let out = send_settling(ctx, "CreateKey", &[kms::PRINCIPAL_NOT_READY], Backoff::RETRY, || req.clone().send())
            .await
            .map_err(|e| api_error("CreateKey", e))?;
        let meta =
            out.key_metadata.ok_or_else(|| ProviderError::Invalid("CreateKey returned no key metadata".into()))?;
        let id = meta.key_id().to_owned();
        if rotation {
            set_rotation(&client, &id, true).await?;
        }
        if let Some(alias) = &alias {
            kms::claim_alias(&client, alias, &id, &tags).await?;
        }
        let policy = match policy {
            Some((doc, _)) => doc,
            None => kms::read_policy(&client, &id).await?,
        };
        let mut attrs = key_attrs(&meta, policy, rotation, alias, tags);
        attrs.insert("deletion_window_in_days".into(), Value::Int(window.into()));
        if bypass {
            attrs.insert(kms::BYPASS_LOCKOUT.into(), Value::Bool(true));
        }
        Ok(attrs)
    }

    /// Refuses policies KMS's lockout safety check would refuse (one STS
    /// GetCallerIdentity, only when a create or a policy change is planned
    /// without the bypass).
    async fn check_planned(&self, ctx: &Ctx, planned: &[PlannedChange<'_>]) -> Result<Vec<Finding>> {
        let judged: Vec<_> = planned.iter().filter_map(|p| Some((p.addr, judged_policy(p)?))).collect();
        if judged.is_empty() {
            return Ok(Vec::new());
        }
        let caller = kms::caller(ctx).await?;
        Ok(judged
            .into_iter()
            .filter_map(|(addr, doc)| {
                let why = kms::lockout(&doc, &caller)?;
                Some(Finding { addr: addr.clone(), refusal: lockout_refusal(&why, &caller), warning: false })
            })
            .collect())
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        let client = factory(ctx)?.kms(&ctx.region).await;
        let mut attrs = kms::update_common(ctx, &client, id, update).await?;
        if let Some(rotation) = update.to("enable_key_rotation").and_then(Value::as_bool) {
            set_rotation(&client, id, rotation).await?;
            attrs.insert("enable_key_rotation".into(), Value::Bool(rotation));
        }
        Ok(attrs)
    }

    /// Removes the key's alias (if it still points here), then schedules deletion.
    /// A key already gone or already pending deletion counts as deleted.
    async fn delete(&self, ctx: &Ctx, id: &str, prior: &Attrs) -> Result<()> {
        kms::schedule_deletion(ctx, id, prior).await
    }

    /// Looks the key up by its ownership tags (Resource Groups Tagging API),
    /// skipping keys pending deletion.
    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        Ok(kms::find_by_tags(ctx, addr).await?.map(|meta| meta.key_id().to_owned()))
    }

    /// From the region's shared tagging index ([`owned::indexed`]).
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        owned::indexed(ctx, self.type_name(), known).await
    }
}

#[cfg(test)]
mod tests {
    use crate::provider::{Intent, ResourceType, StateHome};

    #[test]
    fn the_key_encrypting_the_state_is_never_deleted() {
        let key = [
            ("id", Value::str("1234abcd-0000")),
            ("key_id", Value::str("1234abcd-0000")),
            ("arn", Value::str("arn:aws:kms:us-east-1:111122223333:key/1234abcd-0000")),
            ("alias", Value::str("alias/state")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let home = |id: &str| StateHome {
            bucket: "b".into(),
            key: "k".into(),
            region: "us-east-1".into(),
            kms_key_id: Some(id.to_owned()),
        };
        let desired = crate::value::Attrs::new();
        for named in [
            "1234abcd-0000",
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-0000",
            "alias/state",
            "arn:aws:kms:us-east-1:111122223333:alias/state",
        ] {
            for intent in [Intent::Delete { destroy: true }, Intent::Replace { desired: &desired, create_first: false }]
            {
                assert_eq!(KmsKey.refuse_for_state(&key, intent, &home(named)).len(), 1, "{named}");
            }
            assert!(KmsKey.refuse_for_state(&key, Intent::Keep { desired: &desired }, &home(named)).is_empty());
        }
        for other in ["alias/other", "5678", "arn:aws:kms:us-east-1:111122223333:alias/other"] {
            assert!(
                KmsKey.refuse_for_state(&key, Intent::Delete { destroy: true }, &home(other)).is_empty(),
                "{other}"
            );
        }
        let no_key = StateHome { kms_key_id: None, ..home("x") };
        assert!(KmsKey.refuse_for_state(&key, Intent::Delete { destroy: true }, &no_key).is_empty());
    }

    use super::*;

    #[test]
    fn the_lockout_check_judges_policies_sent_without_the_bypass() {
        let addr: ResourceAddr = "kms_key.db".parse().unwrap();
        let doc = Value::from_json(&serde_json::json!({ "Statement": [{ "Effect": "Allow" }] }));
        let with =
            |pairs: &[(&str, Value)]| -> Attrs { pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect() };
        let desired = with(&[("policy", doc.clone())]);
        let change = |desired: &'static Attrs, current: Option<&'static Attrs>, creates| PlannedChange {
            addr: Box::leak(Box::new(addr.clone())),
            creates,
            desired,
            current,
        };
        let leak = |a: Attrs| -> &'static Attrs { Box::leak(Box::new(a)) };
        assert_eq!(judged_policy(&change(leak(desired.clone()), None, true)), Some(doc.to_json()));
        let text = with(&[("policy", Value::str(r#"{"Statement":[]}"#))]);
        assert_eq!(judged_policy(&change(leak(text), None, true)), Some(serde_json::json!({ "Statement": [] })));
        let same = leak(desired.clone());
        assert_eq!(judged_policy(&change(same, Some(same), false)), None, "an unchanged policy is not sent");
        let old = leak(with(&[("policy", Value::from_json(&serde_json::json!({ "Statement": [] })))]));
        assert!(judged_policy(&change(leak(desired.clone()), Some(old), false)).is_some(), "a changed one is");
        let bypass = with(&[("policy", doc), (kms::BYPASS_LOCKOUT, Value::Bool(true))]);
        assert_eq!(judged_policy(&change(leak(bypass), None, true)), None);
        assert_eq!(judged_policy(&change(leak(with(&[("policy", Value::Unknown)])), None, true)), None);
        assert_eq!(judged_policy(&change(leak(Attrs::new()), None, true)), None, "AWS's default policy");
        let caller = kms::Caller { account: "111122223333".into(), arn: "arn:aws:iam::111122223333:user/a".into() };
        let r = lockout_refusal("no statement allows X", &caller);
        assert_eq!(r.attr, Some("policy"));
        assert!(
            r.hints[0].contains("arn:aws:iam::111122223333:root")
                && r.hints[1].contains("bypass_policy_lockout_safety_check = true")
        );
    }

    #[test]
    fn only_symmetric_kms_material_rotates() {
        assert!(rotation_supported("SYMMETRIC_DEFAULT", None));
        assert!(rotation_supported("SYMMETRIC_DEFAULT", Some(&OriginType::AwsKms)));
        assert!(!rotation_supported("SYMMETRIC_DEFAULT", Some(&OriginType::External)));
        assert!(!rotation_supported("RSA_2048", None));
    }
}
