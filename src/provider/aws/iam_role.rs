//! `iam_role`: an IAM role with its trust policy, inline policies, attached
//! managed policies and tags.
//!
//! IAM is global: a role belongs to the account, not to a region. The client
//! is built for the resource's region (`ctx.region`) only so the SDK picks
//! that partition's IAM endpoint and signing region (`iam.amazonaws.com`
//! and us-east-1 for every commercial region); every region's client sees
//! the same roles. A role is one object at one address, created once
//! whatever region the stack or the resource names, and read by name, so a
//! stack with resources in two regions neither duplicates nor misses it;
//! the lookup by ownership tags lists the account's roles, not a region's.
//!
//! - Create: CreateRole (path, trust policy, description, session duration
//!   and tags in one call), then PutRolePolicy per inline policy and
//!   AttachRolePolicy per managed policy ARN.
//! - Read: GetRole per role, which carries the tags (no ListRoleTags),
//!   [`PER_RESOURCE_CONCURRENCY`] roles at a time; ListRolePolicies then
//!   GetRolePolicy per policy only when the config manages `inline_policy`;
//!   ListAttachedRolePolicies only when it manages `managed_policy_arns`.
//!   A role that no longer exists is omitted.
//! - Update: UpdateAssumeRolePolicy; UpdateRole (description and maximum
//!   session duration, always sent together: moto 5.2.5 resets what UpdateRole
//!   is not given); PutRolePolicy / DeleteRolePolicy per
//!   inline policy that changed; AttachRolePolicy / DetachRolePolicy;
//!   TagRole / UntagRole.
//! - Delete: DetachRolePolicy for every attached policy, DeleteRolePolicy for
//!   every inline policy (IAM refuses to delete a role that has either), then
//!   DeleteRole. A role already gone counts as deleted.
//! - `inline_policy` and `managed_policy_arns`, when set, are exclusive:
//!   policies the config does not list are removed (`[]` removes all). Unset,
//!   they are not managed and not read.
//! - Policy documents are canonical ([`policy::canonical`]); IAM returns them
//!   URL-encoded ([`policy::from_aws`]).
//! - The id is the role name. The ownership tag values are escaped into IAM's
//!   tag value characters ([`iam_tag_value`]): `iam_role.r["a"]` would be
//!   refused as it is.
//! - Orphan scan (`list_owned`): ListRoles, then GetRole for each role state does
//!   not hold, once per scan for every region.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_iam::Client;
use aws_sdk_iam::types::{Role, Tag};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use futures::{StreamExt, TryStreamExt, future, stream};

use super::owned;
use super::{PER_RESOURCE_CONCURRENCY, RawResponse, api_error, error_code, factory, get_i64, get_str, policy};
use super::{tag_changes, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{
    Attr, AttrType, Default, Kind, NameRule, Ownership, Pricing, Schema, TAG_ADDRESS, TAG_STACK,
};
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

static INLINE_POLICY: [Attr; 2] =
    [Attr::required("name", AttrType::Str).pattern(Kind::IamPolicyName), Attr::required("policy", AttrType::Policy)];

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::computed("unique_id", AttrType::Str),
        Attr::optional("name", AttrType::Str)
            .force_new()
            .pattern(Kind::IamRoleName)
            .default_name(NameRule::new(64, false, "_+=,.@")),
        Attr::optional("path", AttrType::Str).default(Default::Str("/")).force_new().pattern(Kind::IamPath),
        Attr::optional("description", AttrType::Str).max_len(1000),
        Attr::required("assume_role_policy", AttrType::Policy),
        Attr::optional("inline_policy", AttrType::Set(&AttrType::Object(&INLINE_POLICY))),
        Attr::optional("managed_policy_arns", AttrType::Set(&AttrType::Str)).pattern(Kind::Arn),
        Attr::optional("max_session_duration", AttrType::Int).default(Default::Int(3600)).range(3600, 43200),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: false,
    taggable: true,
    ownership: Ownership::Listed,
    pricing: Pricing::Free,
};

/// The `iam_role` resource type.
pub struct IamRole;

/// What IAM answers for a role, policy or attachment that does not exist.
pub(super) const NOT_FOUND: &str = "NoSuchEntity";

/// Escapes `s` into IAM's tag value characters (letters, digits, spaces and
/// `_.:/=+-@`): every other character, and `=` itself, becomes `=HH` per
/// UTF-8 byte. Values needing no escape are unchanged.
pub fn iam_tag_value(s: &str) -> String {
    let plain = |c: char| c.is_alphanumeric() || c == ' ' || "_.:/+-@".contains(c);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if plain(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("={b:02X}"));
            }
        }
    }
    out
}

/// The inverse of [`iam_tag_value`]; a `=` not followed by two hex digits is kept.
pub fn from_iam_tag_value(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether pgstack escapes this tag's value (the ownership tags, which it alone writes).
fn escaped(key: &str) -> bool {
    key == TAG_STACK || key == TAG_ADDRESS
}

pub(super) fn iam_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| {
            let v = if escaped(k) { iam_tag_value(v) } else { v.clone() };
            Tag::builder().key(k).value(v).build().map_err(|e| ProviderError::Invalid(e.to_string()))
        })
        .collect()
}

pub(super) fn tags_from_iam(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| {
            let v = if escaped(t.key()) { from_iam_tag_value(t.value()) } else { t.value().to_owned() };
            (t.key().to_owned(), v)
        })
        .collect()
}

/// One inline policy in canonical form: `{ name, policy }`.
fn inline_entry(name: &str, doc: Value) -> Value {
    Value::Map(BTreeMap::from([("name".to_owned(), Value::str(name)), ("policy".to_owned(), doc)]))
}

/// Inline policies sorted by name, each policy canonical (unparsable ones
/// left as given); managed policy ARNs sorted and deduplicated.
fn normalize_role(desired: &mut Attrs) {
    if let Some(p) = desired.get_mut("assume_role_policy") {
        policy::normalize(p);
    }
    if let Some(Value::List(items)) = desired.get_mut("inline_policy") {
        for item in items.iter_mut() {
            if let Value::Map(m) = item
                && let Some(p) = m.get_mut("policy")
            {
                policy::normalize(p);
            }
        }
        items.sort_by(|a, b| name_of(a).cmp(&name_of(b)));
    }
    if let Some(Value::List(arns)) = desired.get_mut("managed_policy_arns")
        && arns.iter().all(|a| matches!(a, Value::Str(_)))
    {
        arns.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        arns.dedup();
    }
}

fn name_of(item: &Value) -> Option<&str> {
    item.as_map().and_then(|m| m.get("name")).and_then(Value::as_str)
}

/// The configured inline policies by name, each as canonical document and
/// JSON text; `None` when the config does not manage them.
fn desired_inline(desired: &Attrs) -> Result<Option<BTreeMap<String, (Value, String)>>> {
    let Some(items) = desired.get("inline_policy").filter(|v| !v.is_null()) else { return Ok(None) };
    let mut out = BTreeMap::new();
    for (i, item) in items.as_list().unwrap_or_default().iter().enumerate() {
        let name = name_of(item).ok_or_else(|| ProviderError::Invalid(format!("inline_policy[{i}] has no name")))?;
        let doc = item.as_map().and_then(|m| m.get("policy")).unwrap_or(&Value::Null);
        let what = format!("inline_policy `{name}`");
        if out.insert(name.to_owned(), policy::document(doc, &what)?).is_some() {
            return Err(ProviderError::Invalid(format!("inline_policy names `{name}` twice")));
        }
    }
    Ok(Some(out))
}

/// Inline policies as recorded in `attrs`, by name.
fn recorded_inline(attrs: &Attrs) -> BTreeMap<String, Value> {
    let items = attrs.get("inline_policy").and_then(Value::as_list).unwrap_or_default();
    items
        .iter()
        .filter_map(|i| Some((name_of(i)?.to_owned(), i.as_map()?.get("policy").cloned().unwrap_or(Value::Null))))
        .collect()
}

/// The canonical `inline_policy` value of a by-name map.
fn inline_value(policies: impl IntoIterator<Item = (String, Value)>) -> Value {
    Value::List(policies.into_iter().map(|(name, doc)| inline_entry(&name, doc)).collect())
}

/// Managed policy ARNs of `attrs`; `None` when not set.
fn arns_of(attrs: &Attrs) -> Option<BTreeSet<String>> {
    attrs.get("managed_policy_arns").filter(|v| !v.is_null()).map(|v| v.string_list().into_iter().collect())
}

/// The attributes GetRole and CreateRole tell.
fn role_attrs(role: &Role) -> Attrs {
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(role.role_name()));
    a.insert("name".into(), Value::str(role.role_name()));
    a.insert("arn".into(), Value::str(role.arn()));
    a.insert("unique_id".into(), Value::str(role.role_id()));
    a.insert("path".into(), Value::str(role.path()));
    if let Some(d) = role.description() {
        a.insert("description".into(), Value::str(d));
    }
    if let Some(doc) = role.assume_role_policy_document() {
        a.insert("assume_role_policy".into(), policy::from_aws(doc));
    }
    if let Some(m) = role.max_session_duration() {
        a.insert("max_session_duration".into(), Value::Int(m.into()));
    }
    a.insert("tags".into(), Value::from(tags_from_iam(role.tags())));
    a
}

/// GetRole; `None` when the role does not exist.
async fn get_role(client: &Client, name: &str) -> Result<Option<Role>> {
    match client.get_role().role_name(name).send().await {
        Ok(out) => Ok(out.role),
        Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(None),
        Err(e) => Err(api_error("GetRole", e)),
    }
}

/// Names of the role's inline policies (ListRolePolicies, paged).
async fn inline_names(client: &Client, name: &str) -> Result<Vec<String>> {
    client
        .list_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("ListRolePolicies", e))
}

/// ARNs of the role's attached managed policies (ListAttachedRolePolicies, paged).
async fn attached_arns(client: &Client, name: &str) -> Result<Vec<String>> {
    let attached: Vec<_> = client
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("ListAttachedRolePolicies", e))?;
    Ok(attached.iter().filter_map(|p| p.policy_arn().map(str::to_owned)).collect())
}

/// One inline policy's document, canonical; `None` when it was deleted meanwhile.
async fn inline_document(client: &Client, role: &str, policy_name: &str) -> Result<Option<(String, Value)>> {
    match client.get_role_policy().role_name(role).policy_name(policy_name).send().await {
        Ok(out) => Ok(Some((policy_name.to_owned(), policy::from_aws(out.policy_document())))),
        Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(None),
        Err(e) => Err(api_error("GetRolePolicy", e)),
    }
}

/// True for an error saying the role (or what was asked of it) does not exist.
fn is_not_found(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Api { code, .. } if code == NOT_FOUND)
}

/// Reads one role by name; `None` when it does not exist. Inline and
/// managed policies only when `scope` wants them.
async fn read_role(client: &Client, name: &str, scope: &ReadScope) -> Result<Option<(String, Attrs)>> {
    let Some(role) = get_role(client, name).await? else { return Ok(None) };
    let mut a = role_attrs(&role);
    let inline = async {
        if !scope.wants("inline_policy") {
            return Ok(None);
        }
        let names = inline_names(client, name).await?;
        let docs = future::try_join_all(names.iter().map(|p| inline_document(client, name, p))).await?;
        Ok(Some(inline_value(docs.into_iter().flatten().collect::<BTreeMap<_, _>>())))
    };
    let managed = async {
        if !scope.wants("managed_policy_arns") {
            return Ok(None);
        }
        let arns: BTreeSet<String> = attached_arns(client, name).await?.into_iter().collect();
        Ok(Some(Value::from(arns.into_iter().collect::<Vec<_>>())))
    };
    match tokio::try_join!(inline, managed) {
        Ok((inline, managed)) => {
            a.extend(inline.map(|v| ("inline_policy".to_owned(), v)));
            a.extend(managed.map(|v| ("managed_policy_arns".to_owned(), v)));
            Ok(Some((name.to_owned(), a)))
        }
        // Deleted between GetRole and the listings.
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn put_inline(client: &Client, role: &str, name: &str, text: &str) -> Result<()> {
    client
        .put_role_policy()
        .role_name(role)
        .policy_name(name)
        .policy_document(text)
        .send()
        .await
        .map_err(|e| api_error("PutRolePolicy", e))?;
    Ok(())
}

/// The outcome of a removal: done, also when IAM says it was already gone.
pub(super) fn unless_gone<T, E, R>(
    operation: &'static str,
    outcome: std::result::Result<T, SdkError<E, R>>,
) -> Result<()>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: RawResponse,
{
    match outcome {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(()),
        Err(e) => Err(api_error(operation, e)),
    }
}

/// DeleteRolePolicy; a policy already gone is fine.
async fn delete_inline(client: &Client, role: &str, name: &str) -> Result<()> {
    unless_gone("DeleteRolePolicy", client.delete_role_policy().role_name(role).policy_name(name).send().await)
}

pub(super) async fn attach(client: &Client, role: &str, arn: &str) -> Result<()> {
    client
        .attach_role_policy()
        .role_name(role)
        .policy_arn(arn)
        .send()
        .await
        .map_err(|e| api_error("AttachRolePolicy", e))?;
    Ok(())
}

/// DetachRolePolicy; a policy no longer attached is fine.
pub(super) async fn detach(client: &Client, role: &str, arn: &str) -> Result<()> {
    unless_gone("DetachRolePolicy", client.detach_role_policy().role_name(role).policy_arn(arn).send().await)
}

#[async_trait]
impl ResourceType for IamRole {
    fn type_name(&self) -> &'static str {
        "iam_role"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn normalize(&self, desired: &mut Attrs) {
        normalize_role(desired);
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.iam(&ctx.region).await;
        let reads: Vec<_> = ids.iter().map(|id| read_role(client, id, scope)).collect();
        let found: Vec<_> = stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let name = get_str(desired, "name").ok_or_else(|| ProviderError::Invalid("name is required".into()))?;
        let (trust, trust_text) = policy::desired(desired, "assume_role_policy")?
            .ok_or_else(|| ProviderError::Invalid("assume_role_policy is required".into()))?;
        let inline = desired_inline(desired)?;
        let managed = arns_of(desired);
        let tags = tags_of(desired);
        let client = factory(ctx)?.iam(&ctx.region).await;
        let out = client
            .create_role()
            .role_name(name)
            .path(get_str(desired, "path").unwrap_or("/"))
            .assume_role_policy_document(trust_text)
            .set_description(get_str(desired, "description").map(str::to_owned))
            .set_max_session_duration(get_i64(desired, "max_session_duration").map(|m| m as i32))
            .set_tags(Some(iam_tags(&tags)?))
            .send()
            .await
            .map_err(|e| api_error("CreateRole", e))?;
        let role = out.role.ok_or_else(|| ProviderError::Invalid("CreateRole returned no role".into()))?;
        for (policy_name, (_, text)) in inline.iter().flatten() {
            put_inline(&client, name, policy_name, text).await?;
        }
        for arn in managed.iter().flatten() {
            attach(&client, name, arn).await?;
        }
        let mut attrs = role_attrs(&role);
        attrs.insert("assume_role_policy".into(), trust);
        attrs.insert("tags".into(), Value::from(tags));
        let inline = inline.unwrap_or_default().into_iter().map(|(n, (doc, _))| (n, doc));
        attrs.insert("inline_policy".into(), inline_value(inline));
        attrs.insert(
            "managed_policy_arns".into(),
            Value::from(managed.unwrap_or_default().into_iter().collect::<Vec<_>>()),
        );
        Ok(attrs)
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        let (prior, desired) = (&update.before, &update.after);
        let client = factory(ctx)?.iam(&ctx.region).await;
        let mut attrs = prior.clone();

        if update.changes("assume_role_policy")
            && let Some((doc, text)) = policy::desired(desired, "assume_role_policy")?
        {
            client
                .update_assume_role_policy()
                .role_name(id)
                .policy_document(text)
                .send()
                .await
                .map_err(|e| api_error("UpdateAssumeRolePolicy", e))?;
            attrs.insert("assume_role_policy".into(), doc);
        }

        // UpdateRole sets both: the one the plan does not change is sent as it is.
        let description = get_str(desired, "description");
        let duration = get_i64(desired, "max_session_duration");
        if update.changes_any(&["description", "max_session_duration"]) {
            client
                .update_role()
                .role_name(id)
                .set_description(description.map(str::to_owned))
                .set_max_session_duration(duration.map(|d| d as i32))
                .send()
                .await
                .map_err(|e| api_error("UpdateRole", e))?;
        }
        attrs.extend(description.map(|d| ("description".to_owned(), Value::str(d))));
        attrs.extend(duration.map(|d| ("max_session_duration".to_owned(), Value::Int(d))));

        if update.changes("inline_policy")
            && let Some(want) = desired_inline(desired)?
        {
            let have = recorded_inline(prior);
            for (name, (doc, text)) in &want {
                if have.get(name) != Some(doc) {
                    put_inline(&client, id, name, text).await?;
                }
            }
            for name in have.keys().filter(|n| !want.contains_key(*n)) {
                delete_inline(&client, id, name).await?;
            }
            attrs.insert("inline_policy".into(), inline_value(want.into_iter().map(|(n, (doc, _))| (n, doc))));
        }

        if update.changes("managed_policy_arns")
            && let Some(want) = arns_of(desired)
        {
            let have = arns_of(prior).unwrap_or_default();
            for arn in want.difference(&have) {
                attach(&client, id, arn).await?;
            }
            for arn in have.difference(&want) {
                detach(&client, id, arn).await?;
            }
            attrs.insert("managed_policy_arns".into(), Value::from(want.into_iter().collect::<Vec<_>>()));
        }

        if update.changes("tags") {
            let tags = tags_of(desired);
            let (set, remove) = tag_changes(&tags_of(prior), &tags);
            if !remove.is_empty() {
                client
                    .untag_role()
                    .role_name(id)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(|e| api_error("UntagRole", e))?;
            }
            if !set.is_empty() {
                client
                    .tag_role()
                    .role_name(id)
                    .set_tags(Some(iam_tags(&set)?))
                    .send()
                    .await
                    .map_err(|e| api_error("TagRole", e))?;
            }
            attrs.insert("tags".into(), Value::from(tags));
        }
        Ok(attrs)
    }

    /// Detaches managed policies and deletes inline ones as IAM lists them
    /// now (not as recorded: a policy added out of band would block
    /// DeleteRole), then deletes the role.
    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        let client = factory(ctx)?.iam(&ctx.region).await;
        let listed = tokio::try_join!(attached_arns(&client, id), inline_names(&client, id));
        let (attached, inline) = match listed {
            Ok(lists) => lists,
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        for arn in &attached {
            detach(&client, id, arn).await?;
        }
        for name in &inline {
            delete_inline(&client, id, name).await?;
        }
        unless_gone("DeleteRole", client.delete_role().role_name(id).send().await)
    }

    /// Lists the account's roles and reads each one's tags ([`role_tags`])
    /// until one carries this stack's and address's ownership tags: IAM
    /// cannot filter roles by tag, and the tagging API does not cover IAM roles.
    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        let client = factory(ctx)?.iam(&ctx.region).await;
        owned::first_tagged_for(role_tags(&client, |_| true).await?, ctx, addr).await
    }

    /// The roles not `known` with their tags ([`role_tags`]); listed once
    /// per pass for every region (`ctx.shared`), roles being global.
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        let key = format!("aws:iam-roles:{}", ctx.stack);
        let all = ctx
            .shared
            .get_or_try_init(&key, || async {
                let client = factory(ctx)?.iam(&ctx.region).await;
                role_tags(&client, |name| !known.contains(name)).await?.try_collect::<Vec<_>>().await
            })
            .await?;
        Ok(owned::from_tag_reads(&all, &ctx.stack, known))
    }
}

/// The account's roles (ListRoles, paged) whose name `wanted` accepts, with
/// their tags (GetRole, [`PER_RESOURCE_CONCURRENCY`] at a time), in the
/// order the reads finish; `None` for a role deleted meanwhile.
async fn role_tags<'a>(
    client: &'a Client,
    wanted: impl Fn(&str) -> bool,
) -> Result<impl futures::Stream<Item = Result<Option<(String, BTreeMap<String, String>)>>> + 'a> {
    let roles: Vec<Role> = client
        .list_roles()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("ListRoles", e))?;
    let tags_only = ReadScope::Only(BTreeSet::from(["tags".to_owned()]));
    let reads = roles.into_iter().filter(|r| wanted(r.role_name())).map(move |r| {
        let tags_only = tags_only.clone();
        async move {
            let read = read_role(client, r.role_name(), &tags_only).await?;
            Ok(read.map(|(name, attrs)| (name, tags_of(&attrs))))
        }
    });
    Ok(stream::iter(reads.collect::<Vec<_>>()).buffer_unordered(PER_RESOURCE_CONCURRENCY))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(json: serde_json::Value) -> Value {
        Value::from_json(&json)
    }

    #[test]
    fn ownership_tag_values_are_escaped_into_iams_characters_and_back() {
        for plain in ["iam_role.replication", "module.backup.iam_role.r", "greenlang-prod", "a b:c/d+e-f@g"] {
            assert_eq!(iam_tag_value(plain), plain, "nothing to escape in {plain}");
        }
        let addr = r#"iam_role.r["dr=1"]"#;
        let escaped = iam_tag_value(addr);
        assert_eq!(escaped, "iam_role.r=5B=22dr=3D1=22=5D");
        assert!(escaped.chars().all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c)), "{escaped}");
        assert_eq!(from_iam_tag_value(&escaped), addr);
        assert_eq!(from_iam_tag_value(&iam_tag_value("é[0]")), "é[0]");
        assert_eq!(from_iam_tag_value("a=zz="), "a=zz=", "not an escape: kept");
        let tags = BTreeMap::from([(TAG_ADDRESS.to_owned(), addr.to_owned()), ("Team".to_owned(), "a=b".to_owned())]);
        let sent = iam_tags(&tags).unwrap();
        assert_eq!(sent.iter().map(|t| t.value()).collect::<Vec<_>>(), vec!["a=b", escaped.as_str()]);
        assert_eq!(tags_from_iam(&sent), tags, "user tags are sent as written");
    }

    #[test]
    fn normalize_sorts_inline_policies_and_canonicalizes_documents() {
        let doc_text = r#"{ "Version": "2012-10-17",
            "Statement": { "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"] } }"#;
        let doc_table = table(serde_json::json!({
            "Statement": [{ "Resource": "arn:aws:s3:::b/*", "Action": "s3:GetObject", "Effect": "Allow" }],
            "Version": "2012-10-17",
        }));
        let trust = table(serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{ "Effect": "Allow", "Action": "sts:AssumeRole",
                            "Principal": { "Service": ["s3.amazonaws.com"] } }],
        }));
        let mut a = Attrs::from([
            ("assume_role_policy".to_owned(), trust),
            (
                "inline_policy".to_owned(),
                Value::List(vec![inline_entry("z", Value::str(doc_text)), inline_entry("a", doc_table.clone())]),
            ),
            (
                "managed_policy_arns".to_owned(),
                Value::from(vec!["arn:b".to_owned(), "arn:a".to_owned(), "arn:b".to_owned()]),
            ),
        ]);
        normalize_role(&mut a);
        let once = a.clone();
        normalize_role(&mut a);
        assert_eq!(a, once, "idempotent");
        let inline = recorded_inline(&a);
        assert_eq!(inline.keys().collect::<Vec<_>>(), vec!["a", "z"]);
        assert_eq!(inline["a"], inline["z"], "the JSON string and the table mean the same");
        assert_eq!(a["inline_policy"].as_list().map(|l| name_of(&l[0])), Some(Some("a")));
        assert_eq!(a["managed_policy_arns"].string_list(), vec!["arn:a", "arn:b"]);
        let principal = &a["assume_role_policy"].as_map().unwrap()["Statement"].as_list().unwrap()[0];
        assert_eq!(
            principal.as_map().unwrap()["Principal"].as_map().unwrap()["Service"],
            Value::str("s3.amazonaws.com")
        );
    }

    #[test]
    fn desired_inline_policies_carry_text_and_refuse_bad_ones() {
        let mut a = Attrs::from([(
            "inline_policy".to_owned(),
            Value::List(vec![inline_entry("p", Value::str(r#"{"Statement":[]}"#))]),
        )]);
        let got = desired_inline(&a).unwrap().unwrap();
        assert_eq!(got["p"].1, r#"{"Statement":[]}"#);
        assert!(desired_inline(&Attrs::new()).unwrap().is_none(), "unset: not managed");
        a.insert(
            "inline_policy".into(),
            Value::List(vec![inline_entry("p", Value::str("{")), inline_entry("q", Value::Null)]),
        );
        assert!(desired_inline(&a).unwrap_err().to_string().contains("inline_policy `p`"));
        a.insert(
            "inline_policy".into(),
            Value::List(vec![inline_entry("p", Value::str("{}")), inline_entry("p", Value::str("{}"))]),
        );
        assert!(desired_inline(&a).unwrap_err().to_string().contains("names `p` twice"));
    }

    #[test]
    fn role_attrs_decode_iams_answer() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"Service":"s3.amazonaws.com"}}]}"#;
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22sts%3AAssumeRole%22%2C%22Principal%22%3A%7B%22Service%22%3A%22s3.amazonaws.com%22%7D%7D%5D%7D";
        let role = Role::builder()
            .path("/")
            .role_name("r")
            .role_id("AROA1")
            .arn("arn:aws:iam::123456789012:role/r")
            .create_date(aws_smithy_types::DateTime::from_secs(0))
            .assume_role_policy_document(encoded)
            .max_session_duration(3600)
            .tags(Tag::builder().key(TAG_ADDRESS).value("iam_role.r=5B0=5D").build().unwrap())
            .build()
            .unwrap();
        let a = role_attrs(&role);
        assert_eq!(a["assume_role_policy"], policy::canonical(&Value::str(doc)).unwrap());
        assert_eq!((a["id"].as_str(), a["unique_id"].as_str()), (Some("r"), Some("AROA1")));
        assert_eq!(tags_of(&a)[TAG_ADDRESS], "iam_role.r[0]");
        assert!(!a.contains_key("description"), "a role without one reports none");
    }
}
