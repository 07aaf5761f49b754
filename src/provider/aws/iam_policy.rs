//! `iam_policy`: a customer-managed IAM policy, and the roles it is attached
//! to — e.g. `rds-db:connect` for the database's users, given to the
//! application's roles (IAM database authentication).
//!
//! IAM is global, as for `iam_role`: the client is built for the resource's
//! region only to pick the partition's endpoint.
//!
//! - Create: CreatePolicy (name, path, document, description and tags in one
//!   call), then AttachRolePolicy per role in `roles`.
//! - Read: GetPolicy, then GetPolicyVersion of its default version (the
//!   document, URL-encoded by IAM: [`policy::from_aws`]); ListPolicyTags
//!   only when the config manages `tags`; ListEntitiesForPolicy (roles) only
//!   when it manages `roles`. A policy that no longer exists is omitted.
//! - Update: a new document is a new default version (CreatePolicyVersion);
//!   IAM keeps five, so the oldest one that is not the default is deleted
//!   first when five exist. TagPolicy / UntagPolicy; AttachRolePolicy /
//!   DetachRolePolicy for `roles`, which when set is exclusive (roles the
//!   config does not list are detached). The name, path and description
//!   cannot change in IAM: they replace the policy.
//! - Delete: detaches it from every role, user and group IAM lists now,
//!   deletes its versions but the default, then DeletePolicy. A policy
//!   already gone counts as deleted.
//! - The id is the policy ARN. Tags and ownership as `iam_role`
//!   ([`super::iam_role::iam_tag_value`]); the orphan scan lists the
//!   account's local policies (ListPolicies) and reads their tags.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_iam::Client;
use aws_sdk_iam::types::{EntityType, PolicyScopeType};
use futures::{StreamExt, TryStreamExt, stream};

use super::iam_role::{NOT_FOUND, attach, detach, iam_tags, tags_from_iam, unless_gone};
use super::owned;
use super::{PER_RESOURCE_CONCURRENCY, api_error, error_code, factory, get_str, policy, tag_changes, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, NameRule, Ownership, Pricing, Schema};
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::optional("name", AttrType::Str)
            .force_new()
            .pattern(Kind::IamPolicyName)
            .default_name(NameRule::new(128, false, "_+=,.@")),
        Attr::optional("path", AttrType::Str).default(Default::Str("/")).force_new().pattern(Kind::IamPath),
        Attr::optional("description", AttrType::Str).force_new().max_len(1000),
        Attr::required("policy", AttrType::Policy),
        Attr::optional("roles", AttrType::Set(&AttrType::Str)),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: false,
    taggable: true,
    ownership: Ownership::Listed,
    pricing: Pricing::Free,
};

/// The `iam_policy` resource type.
pub struct IamPolicy;

/// How many versions of a policy IAM keeps.
const MAX_VERSIONS: usize = 5;

/// The role names `roles` of `attrs` lists; `None` when not set.
fn roles_of(attrs: &Attrs) -> Option<BTreeSet<String>> {
    attrs.get("roles").filter(|v| !v.is_null()).map(|v| v.string_list().into_iter().collect())
}

/// Reads one policy by ARN; `None` when it does not exist.
async fn read_policy(client: &Client, arn: &str, scope: &ReadScope) -> Result<Option<(String, Attrs)>> {
    let got = match client.get_policy().policy_arn(arn).send().await {
        Ok(out) => out,
        Err(e) if error_code(&e) == Some(NOT_FOUND) => return Ok(None),
        Err(e) => return Err(api_error("GetPolicy", e)),
    };
    let Some(p) = got.policy() else { return Ok(None) };
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(arn));
    a.insert("arn".into(), Value::str(arn));
    a.insert("name".into(), p.policy_name().into());
    a.insert("path".into(), p.path().into());
    a.insert("description".into(), p.description().into());
    if let Some(version) = p.default_version_id() {
        let doc = match client.get_policy_version().policy_arn(arn).version_id(version).send().await {
            Ok(out) => out.policy_version().and_then(|v| v.document()).map(policy::from_aws),
            Err(e) if error_code(&e) == Some(NOT_FOUND) => return Ok(None),
            Err(e) => return Err(api_error("GetPolicyVersion", e)),
        };
        a.insert("policy".into(), doc.unwrap_or(Value::Null));
    }
    if scope.wants("tags") {
        let tags = client.list_policy_tags().policy_arn(arn).send().await;
        let tags = match tags {
            Ok(out) => tags_from_iam(out.tags()),
            Err(e) if error_code(&e) == Some(NOT_FOUND) => return Ok(None),
            Err(e) => return Err(api_error("ListPolicyTags", e)),
        };
        a.insert("tags".into(), Value::from(tags));
    }
    if scope.wants("roles") {
        let mut roles = attached_roles(client, arn).await?;
        roles.sort();
        a.insert("roles".into(), Value::from(roles));
    }
    Ok(Some((arn.to_owned(), a)))
}

/// The roles the policy is attached to (ListEntitiesForPolicy, paged).
async fn attached_roles(client: &Client, arn: &str) -> Result<Vec<String>> {
    let pages: Vec<_> = client
        .list_entities_for_policy()
        .policy_arn(arn)
        .entity_filter(EntityType::Role)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("ListEntitiesForPolicy", e))?;
    Ok(pages.iter().flat_map(|p| p.policy_roles()).filter_map(|r| r.role_name().map(str::to_owned)).collect())
}

async fn read_all(client: &Client, arn: &str) -> Result<Attrs> {
    read_policy(client, arn, &ReadScope::All).await?.map(|(_, a)| a).ok_or_else(|| ProviderError::NotFound(arn.into()))
}

/// Makes `text` the policy's default version, deleting the oldest version
/// that is not the default when IAM already keeps [`MAX_VERSIONS`].
async fn new_version(client: &Client, arn: &str, text: &str) -> Result<()> {
    let listed = client.list_policy_versions().policy_arn(arn).send().await;
    let versions = listed.map_err(|e| api_error("ListPolicyVersions", e))?;
    let mut old: Vec<_> = versions.versions().iter().filter(|v| !v.is_default_version()).collect();
    if versions.versions().len() >= MAX_VERSIONS {
        old.sort_by_key(|v| v.create_date().map(|d| d.secs()));
        if let Some(id) = old.first().and_then(|v| v.version_id()) {
            let deleted = client.delete_policy_version().policy_arn(arn).version_id(id).send().await;
            unless_gone("DeletePolicyVersion", deleted)?;
        }
    }
    client
        .create_policy_version()
        .policy_arn(arn)
        .policy_document(text)
        .set_as_default(true)
        .send()
        .await
        .map_err(|e| api_error("CreatePolicyVersion", e))?;
    Ok(())
}

/// The account's local policies (ListPolicies, paged) whose ARN `wanted`
/// accepts, with their tags (ListPolicyTags, [`PER_RESOURCE_CONCURRENCY`] at
/// a time); `None` for a policy deleted meanwhile.
async fn policy_tags<'a>(
    client: &'a Client,
    wanted: impl Fn(&str) -> bool,
) -> Result<impl futures::Stream<Item = Result<Option<(String, BTreeMap<String, String>)>>> + 'a> {
    let policies: Vec<_> = client
        .list_policies()
        .scope(PolicyScopeType::Local)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("ListPolicies", e))?;
    let arns: Vec<String> = policies.iter().filter_map(|p| p.arn()).filter(|a| wanted(a)).map(str::to_owned).collect();
    let reads = arns.into_iter().map(move |arn| async move {
        match client.list_policy_tags().policy_arn(&arn).send().await {
            Ok(out) => Ok(Some((arn, tags_from_iam(out.tags())))),
            Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(None),
            Err(e) => Err(api_error("ListPolicyTags", e)),
        }
    });
    Ok(stream::iter(reads.collect::<Vec<_>>()).buffer_unordered(PER_RESOURCE_CONCURRENCY))
}

#[async_trait]
impl ResourceType for IamPolicy {
    fn type_name(&self) -> &'static str {
        "iam_policy"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// The document canonical; roles sorted, each once.
    fn normalize(&self, desired: &mut Attrs) {
        if let Some(p) = desired.get_mut("policy") {
            policy::normalize(p);
        }
        if let Some(Value::List(roles)) = desired.get_mut("roles")
            && roles.iter().all(|r| matches!(r, Value::Str(_)))
        {
            roles.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            roles.dedup();
        }
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.iam(&ctx.region).await;
        let reads: Vec<_> = ids.iter().map(|id| read_policy(client, id, scope)).collect();
        let found: Vec<_> = stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let name = get_str(desired, "name").ok_or_else(|| ProviderError::Invalid("name is required".into()))?;
        let (_, text) =
            policy::desired(desired, "policy")?.ok_or_else(|| ProviderError::Invalid("policy is required".into()))?;
        let client = factory(ctx)?.iam(&ctx.region).await;
        let out = client
            .create_policy()
            .policy_name(name)
            .path(get_str(desired, "path").unwrap_or("/"))
            .policy_document(text)
            .set_description(get_str(desired, "description").map(str::to_owned))
            .set_tags(Some(iam_tags(&tags_of(desired))?))
            .send()
            .await
            .map_err(|e| api_error("CreatePolicy", e))?;
        let arn = out
            .policy()
            .and_then(|p| p.arn())
            .ok_or_else(|| ProviderError::Invalid("CreatePolicy returned no ARN".into()))?
            .to_owned();
        for role in roles_of(desired).unwrap_or_default() {
            attach(&client, &role, &arn).await?;
        }
        read_all(&client, &arn).await
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        let client = factory(ctx)?.iam(&ctx.region).await;
        if update.changes("policy")
            && let Some((_, text)) = policy::desired(&update.after, "policy")?
        {
            new_version(&client, id, &text).await?;
        }
        if update.changes("tags") {
            let (set, remove) = tag_changes(&tags_of(&update.before), &tags_of(&update.after));
            if !remove.is_empty() {
                let untag = client.untag_policy().policy_arn(id).set_tag_keys(Some(remove)).send().await;
                untag.map_err(|e| api_error("UntagPolicy", e))?;
            }
            if !set.is_empty() {
                let tag = client.tag_policy().policy_arn(id).set_tags(Some(iam_tags(&set)?)).send().await;
                tag.map_err(|e| api_error("TagPolicy", e))?;
            }
        }
        if update.changes("roles") {
            let (before, after) = (roles_of(&update.before).unwrap_or_default(), roles_of(&update.after));
            let after = after.unwrap_or_default();
            for role in after.difference(&before) {
                attach(&client, role, id).await?;
            }
            for role in before.difference(&after) {
                detach(&client, role, id).await?;
            }
        }
        read_all(&client, id).await
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        let client = factory(ctx)?.iam(&ctx.region).await;
        let pages: std::result::Result<Vec<_>, _> =
            client.list_entities_for_policy().policy_arn(id).into_paginator().send().try_collect().await;
        let pages = match pages {
            Ok(p) => p,
            Err(e) if error_code(&e) == Some(NOT_FOUND) => return Ok(()),
            Err(e) => return Err(api_error("ListEntitiesForPolicy", e)),
        };
        for page in &pages {
            for role in page.policy_roles().iter().filter_map(|r| r.role_name()) {
                detach(&client, role, id).await?;
            }
            for user in page.policy_users().iter().filter_map(|u| u.user_name()) {
                let out = client.detach_user_policy().user_name(user).policy_arn(id).send().await;
                unless_gone("DetachUserPolicy", out)?;
            }
            for group in page.policy_groups().iter().filter_map(|g| g.group_name()) {
                let out = client.detach_group_policy().group_name(group).policy_arn(id).send().await;
                unless_gone("DetachGroupPolicy", out)?;
            }
        }
        let versions = client.list_policy_versions().policy_arn(id).send().await;
        let versions = match versions {
            Ok(v) => v,
            Err(e) if error_code(&e) == Some(NOT_FOUND) => return Ok(()),
            Err(e) => return Err(api_error("ListPolicyVersions", e)),
        };
        for v in versions.versions().iter().filter(|v| !v.is_default_version()) {
            if let Some(version) = v.version_id() {
                let out = client.delete_policy_version().policy_arn(id).version_id(version).send().await;
                unless_gone("DeletePolicyVersion", out)?;
            }
        }
        unless_gone("DeletePolicy", client.delete_policy().policy_arn(id).send().await)
    }

    /// Lists the account's local policies and reads each one's tags until
    /// one carries this stack's and address's ownership tags.
    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        let client = factory(ctx)?.iam(&ctx.region).await;
        owned::first_tagged_for(policy_tags(&client, |_| true).await?, ctx, addr).await
    }

    /// The local policies not `known`, with their tags; listed once per pass
    /// for every region (`ctx.shared`), policies being global.
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        let key = format!("aws:iam-policies:{}", ctx.stack);
        let all = ctx
            .shared
            .get_or_try_init(&key, || async {
                let client = factory(ctx)?.iam(&ctx.region).await;
                policy_tags(&client, |arn| !known.contains(arn)).await?.try_collect::<Vec<_>>().await
            })
            .await?;
        Ok(owned::from_tag_reads(&all, &ctx.stack, known))
    }
}
