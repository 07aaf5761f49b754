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
//! - KMS's key policy lockout safety check, as a pure function over the
//!   policy document and the caller STS names ([`lockout`]): `kms_key`
//!   refuses at plan a policy KMS would refuse, unless
//!   `bypass_policy_lockout_safety_check = true`, which is then sent with
//!   CreateKey and PutKeyPolicy.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use aws_sdk_kms::Client;
use aws_sdk_kms::types::{KeyMetadata, KeyState, Tag};
use futures::{StreamExt, TryStreamExt, stream};

use super::{DEFAULT_DESCRIPTION, PER_RESOURCE_CONCURRENCY, api_error, error_code, factory, get_i64, get_str, policy};
use super::{IAM_PROPAGATION_WAIT, Settling, send_settling, tag_changes, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, TAG_ADDRESS, TAG_STACK};
use crate::provider::waiter::Backoff;
use crate::provider::{Ctx, PlannedUpdate, ProviderError, ReadScope, Result};
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

/// From this many keys read in one region, their tags come from the
/// region's tagging index (one paged GetResources for every key of the
/// stack) instead of one ListResourceTags each: a refresh then costs 2
/// calls a key (DescribeKey, GetKeyRotationStatus), not 3. The index is
/// eventually consistent: a key it does not list yet (just made) is read
/// directly, but a tag changed in the last minutes may read as before until
/// the index catches up, so stacks with few keys, where the saving is
/// small, keep the exact read.
pub const INDEXED_TAGS_FROM: usize = 10;

/// Reads the keys `ids` of `ctx.region` with `read_one` (given a client,
/// the id asked for and the scope to read; `None` when gone),
/// [`PER_RESOURCE_CONCURRENCY`] at a time, and fills in each one's `alias`
/// from one ListAliases when `scope` wants it, and its `tags` from the
/// tagging index when there are [`INDEXED_TAGS_FROM`] keys or more. Keyed
/// by the ids asked for.
pub async fn read_keys<'a, F, Fut>(
    ctx: &Ctx,
    ids: &'a [String],
    scope: &ReadScope,
    read_one: F,
) -> Result<BTreeMap<String, Attrs>>
where
    F: Fn(Client, &'a str, ReadScope) -> Fut,
    Fut: Future<Output = Result<Option<(String, Attrs)>>>,
{
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let client = factory(ctx)?.kms(&ctx.region).await;
    // Key id → tags, for the keys the index lists.
    let indexed: BTreeMap<String, BTreeMap<String, String>> = if scope.wants("tags") && ids.len() >= INDEXED_TAGS_FROM {
        super::owned::tagged(ctx, None, &["kms:key"])
            .await?
            .into_iter()
            .map(|(arn, tags)| (key_id_in(&arn).to_owned(), tags))
            .collect()
    } else {
        BTreeMap::new()
    };
    let without_tags = match scope {
        ReadScope::All => ReadScope::All,
        ReadScope::Only(set) => ReadScope::Only(set.iter().filter(|a| *a != "tags").cloned().collect()),
    };
    let reads: Vec<_> = ids
        .iter()
        .map(|id| {
            let from_index = indexed.contains_key(key_id_in(id)) && !matches!(scope, ReadScope::All);
            read_one(client.clone(), id, if from_index { without_tags.clone() } else { scope.clone() })
        })
        .collect();
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
            if let Some(tags) = indexed.get(key_id_in(&id)).filter(|_| !matches!(scope, ReadScope::All)) {
                attrs.insert("tags".into(), Value::from(tags.clone()));
            }
            (id, attrs)
        })
        .collect())
}

/// The key id in a key id or key ARN (`arn:...:key/ID`).
fn key_id_in(id: &str) -> &str {
    id.rsplit_once(":key/").map_or(id, |(_, key)| key)
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
pub async fn update_common(ctx: &Ctx, client: &Client, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
    let (prior, desired) = (&update.before, &update.after);
    let window = deletion_window(desired)?;
    let mut attrs = prior.clone();

    if let Some(description) = update.to("description") {
        let description = description.as_str().unwrap_or(DEFAULT_DESCRIPTION);
        client
            .update_key_description()
            .key_id(id)
            .description(description)
            .send()
            .await
            .map_err(|e| api_error("UpdateKeyDescription", e))?;
        attrs.insert("description".into(), Value::str(description));
    }

    if update.changes("policy")
        && let Some((doc, text)) = policy::desired(desired, "policy")?
    {
        let bypass = super::get_bool(desired, BYPASS_LOCKOUT) == Some(true);
        put_policy_bypassing(ctx, client, id, text, bypass).await?;
        attrs.insert("policy".into(), doc);
    }

    let tags = tags_of(desired);
    if update.changes("alias")
        && let Some(alias) = get_str(desired, "alias").map(alias_name)
    {
        let old = get_str(prior, "alias");
        claim_alias(client, &alias, id, &tags).await?;
        if let Some(old) = old.filter(|old| *old != alias) {
            release_alias(client, old, id).await?;
        }
        attrs.insert("alias".into(), Value::Str(alias));
    }

    if update.changes("tags") {
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
    }
    attrs.insert("deletion_window_in_days".into(), Value::Int(window.into()));
    Ok(attrs)
}

/// PutKeyPolicy with the policy's JSON text, under KMS's lockout safety check.
pub async fn put_policy(ctx: &Ctx, client: &Client, id: &str, text: String) -> Result<()> {
    put_policy_bypassing(ctx, client, id, text, false).await
}

/// PutKeyPolicy with the policy's JSON text; `bypass` sends
/// `BypassPolicyLockoutSafetyCheck` (the config's
/// `bypass_policy_lockout_safety_check = true`).
pub async fn put_policy_bypassing(ctx: &Ctx, client: &Client, id: &str, text: String, bypass: bool) -> Result<()> {
    let req = client
        .put_key_policy()
        .key_id(id)
        .policy_name(POLICY_NAME)
        .policy(text)
        .set_bypass_policy_lockout_safety_check(bypass.then_some(true));
    send_settling(ctx, "PutKeyPolicy", &[PRINCIPAL_NOT_READY], Backoff::RETRY, || req.clone().send())
        .await
        .map_err(|e| api_error("PutKeyPolicy", e))?;
    Ok(())
}

/// The attribute that skips KMS's key policy lockout safety check.
pub const BYPASS_LOCKOUT: &str = "bypass_policy_lockout_safety_check";

/// The principal AWS requests are made as (STS GetCallerIdentity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    /// `arn:aws:iam::ACCOUNT:user/NAME`, `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`, ...
    pub arn: String,
}

/// The run's caller: one STS GetCallerIdentity per pass, kept in `ctx.shared`.
pub async fn caller(ctx: &Ctx) -> Result<Arc<Caller>> {
    ctx.shared
        .get_or_try_init("aws:caller-identity", || async {
            let sts = factory(ctx)?.sts(&ctx.region).await;
            let out = sts.get_caller_identity().send().await.map_err(|e| api_error("GetCallerIdentity", e))?;
            Ok(Caller {
                account: out.account().unwrap_or_default().to_owned(),
                arn: out.arn().unwrap_or_default().to_owned(),
            })
        })
        .await
}

/// Why KMS's key policy lockout safety check would refuse `policy` for a
/// key `caller` creates or whose policy `caller` puts: KMS requires the
/// policy to let the principal making the request make a later
/// PutKeyPolicy. `None` when it does: an `Allow` statement whose `Action`
/// (or `NotAction`) covers `kms:PutKeyPolicy` (patterns with `*` and `?`,
/// any case) and whose `Principal` (or `NotPrincipal`) covers the caller:
/// `*`, the caller's account (its id or its `root` ARN, which lets IAM
/// policies grant it), the caller's own ARN, or, for an assumed role, that
/// role's ARN (any path); and no `Deny` statement covering both. Conditions
/// are not evaluated: an `Allow` with a condition counts, a `Deny` with one
/// does not, so only policies that lock the caller out whatever the
/// request are refused. Pure.
pub fn lockout(policy: &serde_json::Value, caller: &Caller) -> Option<String> {
    use serde_json::Value as J;
    let statements: Vec<&serde_json::Map<String, J>> = match policy.get("Statement") {
        Some(J::Array(items)) => items.iter().filter_map(J::as_object).collect(),
        Some(J::Object(one)) => vec![one],
        _ => Vec::new(),
    };
    let effect = |s: &serde_json::Map<String, J>| s.get("Effect").and_then(J::as_str).unwrap_or_default().to_owned();
    let applies = |s: &serde_json::Map<String, J>| covers_action(s, "kms:PutKeyPolicy") && covers_caller(s, caller);
    let who = format!("the caller {} (account {})", caller.arn, caller.account);
    if let Some(deny) = statements.iter().find(|s| effect(s) == "Deny" && !s.contains_key("Condition") && applies(s)) {
        let sid = deny.get("Sid").and_then(J::as_str).map(|s| format!(" `{s}`")).unwrap_or_default();
        return Some(format!("its statement{sid} denies kms:PutKeyPolicy to {who}"));
    }
    if statements.iter().any(|s| effect(s) == "Allow" && applies(s)) {
        return None;
    }
    Some(format!("no statement allows {who}, or its account, to call kms:PutKeyPolicy"))
}

/// The strings of a string-or-list policy field.
fn strings(v: Option<&serde_json::Value>) -> Vec<&str> {
    match v {
        Some(serde_json::Value::String(s)) => vec![s.as_str()],
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(serde_json::Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether the statement's `Action` (or `NotAction`) covers `action`.
fn covers_action(s: &serde_json::Map<String, serde_json::Value>, action: &str) -> bool {
    let matches =
        |patterns: Vec<&str>| patterns.iter().any(|p| glob(&p.to_ascii_lowercase(), &action.to_ascii_lowercase()));
    match (s.get("Action"), s.get("NotAction")) {
        (Some(a), _) => matches(strings(Some(a))),
        (None, Some(n)) => !matches(strings(Some(n))),
        (None, None) => false,
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` one (callers
/// lower-case both sides for actions, which IAM compares in any case).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // matched[j]: the pattern so far matches the first j characters of the text.
    let mut matched = vec![false; t.len() + 1];
    matched[0] = true;
    for c in p {
        let mut next = vec![false; t.len() + 1];
        for j in 0..=t.len() {
            next[j] = match c {
                '*' => matched[j] || (j > 0 && next[j - 1]),
                '?' => j > 0 && matched[j - 1],
                c => j > 0 && matched[j - 1] && t[j - 1] == c,
            };
        }
        matched = next;
    }
    matched[t.len()]
}

/// Whether the statement's `Principal` (or `NotPrincipal`) covers `caller`.
fn covers_caller(s: &serde_json::Map<String, serde_json::Value>, caller: &Caller) -> bool {
    fn names(v: &serde_json::Value) -> Vec<&str> {
        match v {
            serde_json::Value::String(s) => vec![s.as_str()],
            serde_json::Value::Object(m) => strings(m.get("AWS")),
            _ => Vec::new(),
        }
    }
    match (s.get("Principal"), s.get("NotPrincipal")) {
        (Some(p), _) => names(p).into_iter().any(|n| names_caller(n, caller)),
        (None, Some(n)) => !names(n).into_iter().any(|n| names_caller(n, caller)),
        (None, None) => false,
    }
}

/// Whether the principal `name` of a key policy is `caller`: `*`, its
/// account (id or `root` ARN), its ARN, or the role it assumed.
fn names_caller(name: &str, caller: &Caller) -> bool {
    let arn = |s: &str| -> Option<(String, String, String)> {
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        (parts.len() == 6 && parts[0] == "arn").then(|| (parts[2].to_owned(), parts[4].to_owned(), parts[5].to_owned()))
    };
    if name == "*" || name == caller.account || name == caller.arn {
        return true;
    }
    let Some((service, account, resource)) = arn(name) else { return false };
    if service != "iam" || account != caller.account {
        return false;
    }
    if resource == "root" {
        return true;
    }
    // `arn:P:sts::A:assumed-role/ROLE/SESSION` is the role `arn:P:iam::A:role/PATH/ROLE`.
    let assumed = arn(&caller.arn)
        .filter(|(service, _, _)| service == "sts")
        .and_then(|(_, _, r)| r.strip_prefix("assumed-role/").and_then(|r| r.split('/').next()).map(str::to_owned));
    match (assumed, resource.strip_prefix("role/")) {
        (Some(role), Some(path)) => path.rsplit('/').next() == Some(role.as_str()),
        _ => false,
    }
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
/// ownership tags, as its metadata (DescribeKey skips keys pending
/// deletion). The Resource Groups Tagging API answers first; it can lag
/// behind a create by minutes, so when it knows no such key, every key of
/// the region is asked for its own tags (ListKeys, ListResourceTags): a
/// create whose reply was lost is found however far the index lags. Only
/// interrupted creates are looked up this way, never a refresh.
pub async fn find_by_tags(ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<KeyMetadata>> {
    let found = super::owned::tagged(ctx, Some(addr), &["kms:key"]).await?;
    let client = factory(ctx)?.kms(&ctx.region).await;
    for (arn, _) in &found {
        if let Some(meta) = describe(&client, arn).await? {
            return Ok(Some(meta));
        }
    }
    let keys: Vec<_> =
        client.list_keys().into_paginator().items().send().try_collect().await.map_err(|e| api_error("ListKeys", e))?;
    let (stack, address) = (ctx.stack.as_str(), addr.to_string());
    for key in keys.iter().filter_map(|k| k.key_id()) {
        let tags = match read_tags(&client, key).await {
            Ok(tags) => tags,
            // Keys of other accounts' grants or AWS-managed keys may refuse their tags: not ours.
            Err(ProviderError::Api { code, .. }) if code == "AccessDeniedException" => continue,
            Err(e) => return Err(e),
        };
        if tags.get(TAG_STACK).map(String::as_str) == Some(stack)
            && tags.get(TAG_ADDRESS) == Some(&address)
            && let Some(meta) = describe(&client, key).await?
        {
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

    fn caller(arn: &str) -> Caller {
        Caller { account: "111122223333".into(), arn: arn.into() }
    }

    fn lockout_of(statements: serde_json::Value, who: &str) -> Option<String> {
        lockout(&serde_json::json!({ "Version": "2012-10-17", "Statement": statements }), &caller(who))
    }

    const DEPLOYER: &str = "arn:aws:sts::111122223333:assumed-role/deployer/ci-run-7";
    const ALICE: &str = "arn:aws:iam::111122223333:user/ops/alice";

    #[test]
    fn a_policy_that_lets_the_caller_or_its_account_put_the_policy_passes() {
        let allow = |principal: serde_json::Value, action: serde_json::Value| serde_json::json!([{ "Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*" }]);
        let root = serde_json::json!({ "AWS": "arn:aws:iam::111122223333:root" });
        // KMS's default key policy.
        assert_eq!(lockout_of(allow(root.clone(), serde_json::json!("kms:*")), DEPLOYER), None);
        assert_eq!(lockout_of(allow(serde_json::json!({ "AWS": "111122223333" }), "kms:*".into()), ALICE), None);
        assert_eq!(lockout_of(allow(serde_json::json!("*"), "*".into()), ALICE), None);
        assert_eq!(lockout_of(allow(serde_json::json!({ "AWS": ["x", ALICE] }), "kms:Put*".into()), ALICE), None);
        assert_eq!(lockout_of(allow(serde_json::json!({ "AWS": ALICE }), "KMS:putkeypolicy".into()), ALICE), None);
        let role = serde_json::json!({ "AWS": "arn:aws:iam::111122223333:role/teams/db/deployer" });
        assert_eq!(lockout_of(allow(role, "kms:PutKey?olicy".into()), DEPLOYER), None, "the assumed role, any path");
        let not_action = serde_json::json!([{ "Effect": "Allow", "Principal": root, "NotAction": ["kms:Decrypt"], "Resource": "*" }]);
        assert_eq!(lockout_of(not_action, ALICE), None);
        // A lone statement object, and an Allow under a condition (not evaluated: it may hold).
        let lone = serde_json::json!({ "Effect": "Allow", "Principal": { "AWS": ALICE }, "Action": "kms:*",
                                       "Condition": { "Bool": { "aws:MultiFactorAuthPresent": "true" } } });
        assert_eq!(lockout(&serde_json::json!({ "Statement": lone }), &caller(ALICE)), None);
        // A Deny under a condition may not apply.
        let conditional_deny = serde_json::json!([
            { "Effect": "Allow", "Principal": { "AWS": ALICE }, "Action": "kms:*" },
            { "Effect": "Deny", "Principal": "*", "Action": "kms:PutKeyPolicy",
              "Condition": { "StringNotEquals": { "aws:PrincipalTag/team": "db" } } },
        ]);
        assert_eq!(lockout_of(conditional_deny, ALICE), None);
    }

    #[test]
    fn a_policy_that_locks_the_caller_out_is_named() {
        let only = |principal: &str, action: &str| serde_json::json!([{ "Effect": "Allow", "Principal": { "AWS": principal }, "Action": action, "Resource": "*" }]);
        let why = lockout_of(only("arn:aws:iam::111122223333:role/admin", "kms:*"), DEPLOYER).expect("locked out");
        assert_eq!(
            why,
            format!(
                "no statement allows the caller {DEPLOYER} (account 111122223333), or its account, to call kms:PutKeyPolicy"
            )
        );
        assert!(lockout_of(only(ALICE, "kms:Encrypt"), ALICE).is_some(), "other actions only");
        assert!(lockout_of(only("arn:aws:iam::444455556666:root", "kms:*"), ALICE).is_some(), "another account");
        assert!(lockout_of(only("arn:aws:iam::111122223333:user/bob", "kms:*"), ALICE).is_some(), "another user");
        assert!(lockout_of(only("arn:aws:iam::111122223333:role/deployer-2", "kms:*"), DEPLOYER).is_some());
        let service = serde_json::json!([{ "Effect": "Allow", "Principal": { "Service": "rds.amazonaws.com" }, "Action": "kms:*" }]);
        assert!(lockout_of(service, ALICE).is_some());
        let denied = serde_json::json!([
            { "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::111122223333:root" }, "Action": "kms:*" },
            { "Sid": "Freeze", "Effect": "Deny", "Principal": "*", "Action": ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"] },
        ]);
        assert_eq!(
            lockout_of(denied, ALICE).as_deref(),
            Some(
                format!("its statement `Freeze` denies kms:PutKeyPolicy to the caller {ALICE} (account 111122223333)")
                    .as_str()
            )
        );
        let not_principal =
            serde_json::json!([{ "Effect": "Allow", "NotPrincipal": { "AWS": ALICE }, "Action": "kms:*" }]);
        assert!(lockout_of(not_principal, ALICE).is_some(), "everyone but the caller");
        assert!(lockout(&serde_json::json!({}), &caller(ALICE)).is_some(), "no statement at all");
    }

    #[test]
    fn iam_wildcards_match_as_iam_does() {
        assert!(glob("kms:*", "kms:putkeypolicy") && glob("*", "") && glob("kms:put?eypolicy", "kms:putkeypolicy"));
        assert!(glob("k*s:*policy", "kms:putkeypolicy"));
        assert!(!glob("kms:get*", "kms:putkeypolicy") && !glob("kms:put", "kms:putkeypolicy") && !glob("?", ""));
    }

    /// The bypass is sent only when asked for.
    #[tokio::test]
    async fn the_lockout_bypass_is_sent_with_put_key_policy_only_when_set() {
        use aws_sdk_kms::operation::put_key_policy::PutKeyPolicyOutput;
        use aws_smithy_mocks::mock;

        use crate::provider::aws::mocked_client;
        use crate::provider::aws::rds::test_ctx;

        let bypassing = mock!(Client::put_key_policy)
            .match_requests(|r| r.bypass_policy_lockout_safety_check() == Some(true))
            .then_output(|| PutKeyPolicyOutput::builder().build());
        let checked = mock!(Client::put_key_policy)
            .match_requests(|r| r.bypass_policy_lockout_safety_check().is_none())
            .then_output(|| PutKeyPolicyOutput::builder().build());
        let client = mocked_client!(aws_sdk_kms, &[&bypassing, &checked]);
        let ctx = test_ctx().0;
        put_policy_bypassing(&ctx, &client, "k1", "{}".into(), true).await.unwrap();
        assert_eq!((bypassing.num_calls(), checked.num_calls()), (1, 0));
        put_policy(&ctx, &client, "k1", "{}".into()).await.unwrap();
        assert_eq!((bypassing.num_calls(), checked.num_calls()), (1, 1));
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
