//! Helpers shared by the EC2 resource types (`vpc`, `subnet`,
//! `security_group`): tag conversion and sync, id-filtered reads in chunks,
//! ownership-tag lookups, ARNs, and deletes that wait out dependency
//! violations.
//!
//! Reads use Filters (`vpc-id`, `subnet-id`, `group-id`) rather than id
//! lists: a filter value that matches nothing is simply absent from the
//! answer, while an unknown id in an id list fails the whole call.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, ResourceType as Ec2ResourceType, Tag, TagSpecification};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{api_error, error_code, tag_changes, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{TAG_ADDRESS, TAG_STACK};
use crate::provider::waiter::{Backoff, Budget, retry};
use crate::provider::{Ctx, Owned, Progress, Result};
use crate::value::{Attrs, Value};

/// Most values EC2 accepts in one filter.
const FILTER_CHUNK: usize = 200;

/// How long a delete keeps retrying `DependencyViolation` (dependents that
/// were just deleted can take a while to let go).
const DEPENDENCY_WAIT: Duration = Duration::from_secs(60);

/// How long calls right after a create wait for the new resource to be
/// visible to them.
const NEW_RESOURCE_WAIT: Duration = Duration::from_secs(15);

/// Pauses between attempts while waiting out an eventual-consistency error.
const RETRY_BACKOFF: Backoff = Backoff { first: Duration::from_millis(500), factor: 2.0, cap: Duration::from_secs(8) };

/// EC2 tags from a tag map.
pub fn ec2_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// A tag map from EC2 tags; tags without a key are skipped.
pub fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect()
}

/// The tag specification that tags a new resource with `desired["tags"]` in
/// its create call; `None` when there are no tags.
pub fn tag_specification(kind: Ec2ResourceType, desired: &Attrs) -> Option<TagSpecification> {
    let tags = tags_of(desired);
    (!tags.is_empty()).then(|| TagSpecification::builder().resource_type(kind).set_tags(Some(ec2_tags(&tags))).build())
}

/// Brings the tags of resource `id` from `prior["tags"]` to `desired["tags"]`
/// (CreateTags for new or changed values, DeleteTags for removed keys).
pub async fn sync_tags(client: &Client, id: &str, prior: &Attrs, desired: &Attrs) -> Result<()> {
    let (set, remove) = tag_changes(&tags_of(prior), &tags_of(desired));
    if !set.is_empty() {
        client
            .create_tags()
            .resources(id)
            .set_tags(Some(ec2_tags(&set)))
            .send()
            .await
            .map_err(|e| api_error("CreateTags", e))?;
    }
    if !remove.is_empty() {
        let keys = remove.into_iter().map(|k| Tag::builder().key(k).build()).collect();
        client.delete_tags().resources(id).set_tags(Some(keys)).send().await.map_err(|e| api_error("DeleteTags", e))?;
    }
    Ok(())
}

/// One filter: `name` matching any of `values`.
pub fn filter(name: &str, values: impl IntoIterator<Item = String>) -> Filter {
    Filter::builder().name(name).set_values(Some(values.into_iter().collect())).build()
}

/// A paged EC2 Describe call with `filters`, every item collected:
/// `describe_all!(client.describe_vpcs(), filters, "DescribeVpcs")`.
macro_rules! describe_all {
    ($request:expr, $filters:expr, $operation:literal) => {
        $request
            .set_filters(Some($filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| $crate::provider::aws::api_error($operation, e))
    };
}
pub(crate) use describe_all;

/// Runs `describe` once per chunk of at most [`FILTER_CHUNK`] distinct ids
/// (none for an empty list) and concatenates the answers.
pub async fn describe_in_chunks<T, F, Fut>(ids: &[String], mut describe: F) -> Result<Vec<T>>
where
    F: FnMut(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Vec<T>>>,
{
    let mut distinct: Vec<String> = ids.to_vec();
    distinct.sort();
    distinct.dedup();
    let mut out = Vec::new();
    for chunk in distinct.chunks(FILTER_CHUNK) {
        out.extend(describe(chunk.to_vec()).await?);
    }
    Ok(out)
}

/// Filters matching resources of this stack. The address is compared by
/// [`first_owned`], not filtered on: filter values are patterns (`*` and `?`
/// in AWS; moto also reads the `[` of `subnet.db["a"]` as one), so an exact
/// comparison is only possible on the client.
pub fn stack_filters(ctx: &Ctx) -> Vec<Filter> {
    vec![filter(&format!("tag:{TAG_STACK}"), [ctx.stack.clone()])]
}

/// The id of the first `(id, tags)` item (by id) whose tags are exactly the
/// ownership tags of `addr` in this stack. Several can only exist when a
/// create was retried outside pgstack; the others are left alone.
pub fn first_owned<'a>(
    items: impl Iterator<Item = (Option<&'a str>, &'a [Tag])>,
    ctx: &Ctx,
    addr: &ResourceAddr,
) -> Option<String> {
    all_owned(items, ctx, addr).into_iter().next()
}

/// The ids of every `(id, tags)` item owned by `addr` in this stack, sorted.
pub fn all_owned<'a>(
    items: impl Iterator<Item = (Option<&'a str>, &'a [Tag])>,
    ctx: &Ctx,
    addr: &ResourceAddr,
) -> Vec<String> {
    let address = addr.to_string();
    let mut ids: Vec<String> = items
        .filter(|(_, tags)| {
            let tags = tag_map(tags);
            tags.get(TAG_STACK) == Some(&ctx.stack) && tags.get(TAG_ADDRESS) == Some(&address)
        })
        .filter_map(|(id, _)| id.map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// The `(id, tags)` items that carry this stack's tag and whose id is not
/// `known`, for `list_owned` (the tag filter of [`stack_filters`] is a
/// pattern, so the value is compared here).
pub fn owned<'a>(
    items: impl Iterator<Item = (Option<&'a str>, &'a [Tag])>,
    ctx: &Ctx,
    known: &BTreeSet<String>,
) -> Vec<Owned> {
    super::owned::from_tags(items.filter_map(|(id, tags)| Some((id?, tag_map(tags)))), &ctx.stack, known)
}

/// The AWS partition of a region (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// `arn:PARTITION:ec2:REGION:OWNER:KIND/ID`, for EC2 objects whose Describe
/// answer carries no ARN.
pub fn arn(region: &str, owner: &str, kind: &str, id: &str) -> String {
    format!("arn:{}:ec2:{region}:{owner}:{kind}/{id}", partition(region))
}

/// `desired["tags"]` (what a create or update leaves on the resource), or no tags.
pub fn desired_tags(desired: &Attrs) -> Value {
    desired.get("tags").cloned().unwrap_or_else(|| Value::Map(BTreeMap::new()))
}

/// Inserts `tags` as the `tags` attribute.
pub fn insert_tags(attrs: &mut Attrs, tags: &[Tag]) {
    attrs.insert("tags".into(), Value::from(tag_map(tags)));
}

/// Retries `call` with [`retry`] for up to `limit` while its error code
/// satisfies `retry_code`; no progress reports (these waits are short).
async fn retrying<O, E, R, F, Fut>(
    operation: &str,
    limit: Duration,
    retry_code: impl Fn(&str) -> bool,
    call: F,
) -> std::result::Result<O, SdkError<E, R>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<O, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    let quiet = Progress::default();
    let budget = Budget { limit, backoff: RETRY_BACKOFF, progress: &quiet };
    let reason = |e: &SdkError<E, R>| error_code(e).filter(|c| retry_code(c)).map(str::to_owned);
    retry(budget, operation, reason, call).await
}

fn is_not_found(code: &str) -> bool {
    code.ends_with(".NotFound")
}

/// Runs a delete call. A `*.NotFound` error code counts as success (already
/// gone); `DependencyViolation` is retried for up to [`DEPENDENCY_WAIT`]; any
/// other error fails at once.
pub async fn delete_retrying<O, E, R, F, Fut>(operation: &'static str, call: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<O, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: super::RawResponse,
{
    match retrying(operation, DEPENDENCY_WAIT, |code| code == "DependencyViolation", call).await {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e).is_some_and(is_not_found) => Ok(()),
        Err(e) => Err(api_error(operation, e)),
    }
}

/// Runs a call on a resource this run just created, retrying `*.NotFound`
/// for up to [`NEW_RESOURCE_WAIT`] (EC2 reads and writes are eventually
/// consistent right after a create). With `just_created` false, one attempt.
pub async fn on_new_resource<O, E, R, F, Fut>(operation: &'static str, just_created: bool, call: F) -> Result<O>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<O, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: super::RawResponse,
{
    let budget = if just_created { NEW_RESOURCE_WAIT } else { Duration::ZERO };
    retrying(operation, budget, is_not_found, call).await.map_err(|e| api_error(operation, e))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_sdk_ec2::operation::delete_vpc::DeleteVpcError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;
    use crate::provider::ProviderError;

    type Answer = std::result::Result<(), SdkError<DeleteVpcError, Response>>;

    /// A call that answers `script[n]` the n-th time ("ok" or an AWS error
    /// code; the last answer repeats) and counts its calls in `calls`.
    fn scripted<'a>(script: &'a [&'a str], calls: &'a AtomicUsize) -> impl Fn() -> std::future::Ready<Answer> + 'a {
        move || {
            let n = calls.fetch_add(1, Ordering::SeqCst).min(script.len() - 1);
            std::future::ready(match script[n] {
                "ok" => Ok(()),
                code => {
                    let err = DeleteVpcError::generic(ErrorMetadata::builder().code(code).message("test").build());
                    let response = Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty());
                    Err(SdkError::service_error(err, response))
                }
            })
        }
    }

    fn api_code(r: &Result<()>) -> Option<&str> {
        match r {
            Err(ProviderError::Api { code, .. }) => Some(code),
            _ => None,
        }
    }

    #[tokio::test]
    async fn delete_waits_out_dependency_violations_and_accepts_not_found() {
        let calls = AtomicUsize::new(0);
        let r = delete_retrying("DeleteVpc", scripted(&["DependencyViolation", "ok"], &calls)).await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        let calls = AtomicUsize::new(0);
        let r = delete_retrying("DeleteVpc", scripted(&["InvalidVpcID.NotFound"], &calls)).await;
        assert!(r.is_ok(), "already gone counts as deleted: {r:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicUsize::new(0);
        let r = delete_retrying("DeleteVpc", scripted(&["UnauthorizedOperation", "ok"], &calls)).await;
        assert_eq!(api_code(&r), Some("UnauthorizedOperation"));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "other errors are not retried");
    }

    #[tokio::test]
    async fn only_a_new_resource_waits_to_become_visible() {
        let calls = AtomicUsize::new(0);
        let r = on_new_resource("ModifyVpcAttribute", true, scripted(&["InvalidVpcID.NotFound", "ok"], &calls)).await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        let calls = AtomicUsize::new(0);
        let r = on_new_resource("ModifyVpcAttribute", false, scripted(&["InvalidVpcID.NotFound", "ok"], &calls)).await;
        assert_eq!(api_code(&r), Some("InvalidVpcID.NotFound"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn arn_uses_the_region_partition() {
        assert_eq!(arn("us-east-1", "123", "vpc", "vpc-1"), "arn:aws:ec2:us-east-1:123:vpc/vpc-1");
        assert_eq!(arn("cn-north-1", "123", "vpc", "vpc-1"), "arn:aws-cn:ec2:cn-north-1:123:vpc/vpc-1");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
    }

    #[tokio::test]
    async fn describe_in_chunks_dedups_and_splits() {
        let ids: Vec<String> = (0..450).map(|i| format!("id-{i:03}")).chain(["id-000".to_owned()]).collect();
        let mut sizes = Vec::new();
        let got = describe_in_chunks(&ids, |chunk| {
            sizes.push(chunk.len());
            async move { Ok(chunk) }
        })
        .await
        .unwrap();
        assert_eq!(sizes, vec![200, 200, 50]);
        assert_eq!(got.len(), 450);
        let none: Vec<String> = describe_in_chunks(&[], |c| async move { Ok(c) }).await.unwrap();
        assert!(none.is_empty());
    }
}
