//! Helpers shared by the EC2 resource types (`vpc`, `subnet`,
//! `security_group`, `vpc_endpoint`): tag conversion and sync, id-filtered
//! reads in chunks, ownership-tag lookups, ARNs, requests that wait out
//! EC2's eventual consistency for objects this run created ([`send_naming`]),
//! and deletes that wait out dependency violations ([`delete_retrying`]).
//!
//! Reads use Filters (`vpc-id`, `subnet-id`, `group-id`) rather than id
//! lists: a filter value that matches nothing is simply absent from the
//! answer, while an unknown id in an id list fails the whole call.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, NetworkInterface, ResourceType as Ec2ResourceType, Tag, TagSpecification};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{RawResponse, Settling, api_error, error_code, send_settling, tag_changes, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{TAG_ADDRESS, TAG_STACK};
use crate::provider::waiter::Backoff;
use crate::provider::{Ctx, Owned, PlannedUpdate, Progress, ProviderError, Result};
use crate::value::{Attrs, Value};

/// Most values EC2 accepts in one filter.
const FILTER_CHUNK: usize = 200;

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

/// When the update changes `tags`, brings those of resource `id` from `before` to `after`
/// (CreateTags for new or changed values, DeleteTags for removed keys).
pub async fn sync_tags(client: &Client, id: &str, update: &PlannedUpdate) -> Result<()> {
    if !update.changes("tags") {
        return Ok(());
    }
    let (set, remove) = tag_changes(&tags_of(&update.before), &tags_of(&update.after));
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

/// One EC2 error code that means "not there (yet)", for every kind of object.
fn is_not_found(code: &str) -> bool {
    code.ends_with(".NotFound")
}

/// The kinds of EC2 object a request names that AWS may not show yet for a
/// while after their create: EC2 is eventually consistent, and a call
/// naming an id just made can be refused as if the object did not exist
/// (AWS's guide on EC2 eventual consistency: back off from seconds up to a
/// few minutes). Such a refusal made nothing, so sending the request again
/// is safe, creates included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    Vpc,
    Subnet,
    Group,
}

impl Named {
    /// The refusals that say EC2 does not show an object of this kind yet.
    fn settling(self) -> &'static [Settling] {
        match self {
            Named::Vpc => &[NEW_VPC],
            Named::Subnet => &[NEW_SUBNET],
            Named::Group => &[NEW_GROUP, NEW_GROUP_ID],
        }
    }
}

/// How long a refusal about an EC2 object this run created is waited out
/// when the resource sets no timeout for the operation: the windows seen
/// are seconds, rarely a minute or two.
pub const NEW_OBJECT_WAIT: Duration = Duration::from_secs(120);

/// EC2 does not show a VPC this run created yet.
pub const NEW_VPC: Settling = Settling::new(
    "InvalidVpcID.NotFound",
    "EC2 does not show the new VPC yet (InvalidVpcID.NotFound)",
    NEW_OBJECT_WAIT,
);
/// EC2 does not show a subnet this run created yet.
pub const NEW_SUBNET: Settling = Settling::new(
    "InvalidSubnetID.NotFound",
    "EC2 does not show the new subnet yet (InvalidSubnetID.NotFound)",
    NEW_OBJECT_WAIT,
);
/// EC2 does not show a security group this run created yet, in the words
/// of the guide's example (CreateSecurityGroup, then a call with its id).
pub const NEW_GROUP: Settling = Settling::new(
    "InvalidGroup.NotFound",
    "EC2 does not show the new security group yet (InvalidGroup.NotFound)",
    NEW_OBJECT_WAIT,
);
/// The same, in the code EC2 answers some calls with.
pub const NEW_GROUP_ID: Settling = Settling::new(
    "InvalidSecurityGroupID.NotFound",
    "EC2 does not show the new security group yet (InvalidSecurityGroupID.NotFound)",
    NEW_OBJECT_WAIT,
);

/// The id an EC2 refusal is about: the first quoted word of its message
/// ("The vpc ID 'vpc-0a1b2c3d' does not exist"), when it has the form of
/// an id (lowercase prefix, `-`, 8 to 17 hexadecimal digits).
fn named_id(message: &str) -> Option<&str> {
    let quoted = message.split('\'').nth(1)?;
    let (prefix, hex) = quoted.rsplit_once('-')?;
    let prefix_ok = !prefix.is_empty() && prefix.chars().all(|c| c.is_ascii_lowercase() || c == '-');
    let hex_ok = (8..=17).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit());
    (prefix_ok && hex_ok).then_some(quoted)
}

/// Sends `call`, an EC2 request that names the objects `named` (each with
/// its kind), and sends it again while EC2 refuses it as naming an object
/// it does not show yet, only for a kind of which the request names an
/// object this run created ([`Ctx::created_this_run`]), for up to the
/// resource's own timeout for the operation, else [`NEW_OBJECT_WAIT`].
/// A refusal whose message names an id this run did not create (an object
/// of an earlier run, a typo) is final at once, whatever else the request
/// names; so is every other answer.
pub async fn send_naming<O, E, R, F, Fut>(
    ctx: &Ctx,
    operation: &'static str,
    named: &[(Named, &str)],
    mut call: F,
) -> Result<O>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<O, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: RawResponse,
{
    let within = ctx.timeout.unwrap_or(NEW_OBJECT_WAIT);
    let mut settling: Vec<Settling> = Vec::new();
    for (kind, _) in named.iter().filter(|(_, id)| ctx.created_this_run(id)) {
        for row in kind.settling() {
            if !settling.iter().any(|s| s.code == row.code) {
                settling.push(Settling { within, ..*row });
            }
        }
    }
    // A refusal about an id this run did not make comes back as the outer
    // call's success, so `send_settling` hands it over without a retry.
    let about_another = |e: &SdkError<E, R>| match e {
        SdkError::ServiceError(se) => se.err().message().and_then(named_id).is_some_and(|id| !ctx.created_this_run(id)),
        _ => false,
    };
    let answer = send_settling(ctx, operation, &settling, RETRY_BACKOFF, || {
        let sent = call();
        async move {
            match sent.await {
                Err(e) if about_another(&e) => Ok(Err(e)),
                other => other.map(Ok),
            }
        }
    })
    .await;
    answer.and_then(|inner| inner).map_err(|e| api_error(operation, e))
}

/// How long a delete is sent again while AWS answers `DependencyViolation`
/// when the resource sets no delete timeout: the network interfaces of an
/// RDS database or of an interface endpoint hold its subnets and security
/// groups for minutes after the database or endpoint is gone.
pub const DEPENDENCY_WAIT: Duration = Duration::from_secs(600);

/// Pauses between deletes refused with `DependencyViolation`.
const DEPENDENCY_BACKOFF: Backoff =
    Backoff { first: Duration::from_secs(1), factor: 2.0, cap: Duration::from_secs(30) };

/// AWS refusing a delete because something still uses the object: a
/// network interface, a subnet or group of a VPC, a rule of another group.
pub const IN_USE: Settling =
    Settling::new("DependencyViolation", "something still uses it (DependencyViolation)", DEPENDENCY_WAIT);

/// Most network interfaces named in one progress line.
const HOLDERS_SHOWN: usize = 3;

/// "held by network interface eni-1 (RDSNetworkInterface)", or several
/// (the first [`HOLDERS_SHOWN`]), for the interfaces found holding an
/// object: each by its description, else its type; `None` for none.
fn holders_text(interfaces: &[NetworkInterface]) -> Option<String> {
    let named: Vec<String> = interfaces
        .iter()
        .filter_map(|i| {
            let id = i.network_interface_id()?;
            let what = i
                .description()
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .or_else(|| i.interface_type().map(|t| t.as_str().to_owned()));
            Some(what.map_or_else(|| id.to_owned(), |w| format!("{id} ({w})")))
        })
        .collect();
    let (first, rest) = named.split_at(named.len().min(HOLDERS_SHOWN));
    let more = if rest.is_empty() { String::new() } else { format!(" and {} more", rest.len()) };
    match first.len() {
        0 => None,
        1 => Some(format!("held by network interface {}{more}", first[0])),
        _ => Some(format!("held by network interfaces {}{more}", first.join(", "))),
    }
}

/// What holds the object `filter = id` names (`group-id`, `subnet-id`,
/// `vpc-id`), as far as its network interfaces tell; `None` when none is
/// found or the listing fails (it only serves the progress line).
async fn holders(client: &Client, filter_name: &str, id: &str) -> Option<String> {
    let request = client.describe_network_interfaces().filters(filter(filter_name, [id.to_owned()]));
    let interfaces = request.send().await.ok()?;
    holders_text(interfaces.network_interfaces())
}

/// Runs a delete call for the object `id`, whose network interfaces a
/// DescribeNetworkInterfaces filtered on `filter_name` lists. A `*.NotFound`
/// error code counts as success (already gone). `DependencyViolation` is
/// sent again ([`IN_USE`]) for up to the resource's delete timeout, else
/// [`DEPENDENCY_WAIT`], each progress line naming the network interfaces
/// that still hold the object when there are any; a refusal that outlasts
/// the wait names them too. Any other error fails at once.
pub async fn delete_retrying<O, E, R, F, Fut>(
    ctx: &Ctx,
    client: &Client,
    operation: &'static str,
    (filter_name, id): (&str, &str),
    mut call: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<O, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: RawResponse,
{
    let held: Arc<Mutex<Option<String>>> = Arc::default();
    let shown = held.clone();
    let outer = ctx.progress.clone();
    let progress =
        Progress::new(move |what, elapsed| match shown.lock().unwrap_or_else(|p| p.into_inner()).as_deref() {
            Some(by) => outer.report(&format!("{what}: {by}"), elapsed),
            None => outer.report(what, elapsed),
        });
    let waiting = ctx.clone().with_progress(progress);
    let row = Settling { within: ctx.timeout.unwrap_or(DEPENDENCY_WAIT), ..IN_USE };
    let held_ref = &held;
    let answer = send_settling(&waiting, operation, &[row], DEPENDENCY_BACKOFF, || {
        let sent = call();
        async move {
            let answer = sent.await;
            if answer.as_ref().is_err_and(|e| IN_USE.matches(e)) {
                let found = holders(client, filter_name, id).await;
                *held_ref.lock().unwrap_or_else(|p| p.into_inner()) = found;
            }
            answer
        }
    })
    .await;
    match answer {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e).is_some_and(is_not_found) => Ok(()),
        Err(e) => match (api_error(operation, e), held.lock().unwrap_or_else(|p| p.into_inner()).take()) {
            (ProviderError::Api { operation, code, message, retryable }, Some(by)) if code == IN_USE.code => {
                Err(ProviderError::Api { operation, code, message: format!("{message} ({by})"), retryable })
            }
            (err, _) => Err(err),
        },
    }
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

    /// A call that answers `script[n]` the n-th time ("ok", or an AWS error
    /// as "CODE" or "CODE: MESSAGE"; the last answer repeats) and counts its
    /// calls in `calls`.
    fn scripted<'a>(script: &'a [&'a str], calls: &'a AtomicUsize) -> impl Fn() -> std::future::Ready<Answer> + 'a {
        move || {
            let n = calls.fetch_add(1, Ordering::SeqCst).min(script.len() - 1);
            std::future::ready(match script[n] {
                "ok" => Ok(()),
                answer => {
                    let (code, message) = answer.split_once(": ").unwrap_or((answer, "test"));
                    let err = DeleteVpcError::generic(ErrorMetadata::builder().code(code).message(message).build());
                    let response = Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty());
                    Err(SdkError::service_error(err, response))
                }
            })
        }
    }

    fn api_error_of(r: &Result<()>) -> Option<(&str, &str)> {
        match r {
            Err(ProviderError::Api { code, message, .. }) => Some((code, message)),
            _ => None,
        }
    }

    /// A context whose pauses are a thousandth of the real ones, its
    /// progress lines collected.
    fn fast_ctx() -> (Ctx, Arc<Mutex<Vec<String>>>) {
        let reports: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = reports.clone();
        let aws =
            super::super::AwsFactory::new(super::super::AwsOptions { pause_scale: Some(0.001), ..Default::default() });
        let ctx = Ctx::new(Arc::new(aws), "us-east-1", "t")
            .with_progress(Progress::new(move |what, _| sink.lock().unwrap().push(what.to_owned())));
        (ctx, reports)
    }

    /// An EC2 client whose DescribeNetworkInterfaces answers `interfaces`.
    fn listing(interfaces: Vec<NetworkInterface>) -> (Client, aws_smithy_mocks::Rule) {
        use aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput;
        let rule = aws_smithy_mocks::mock!(Client::describe_network_interfaces).then_output(move || {
            DescribeNetworkInterfacesOutput::builder().set_network_interfaces(Some(interfaces.clone())).build()
        });
        (super::super::mocked_client!(aws_sdk_ec2, &[&rule]), rule)
    }

    fn interface(id: &str, description: &str) -> NetworkInterface {
        NetworkInterface::builder().network_interface_id(id).description(description).build()
    }

    #[tokio::test]
    async fn a_delete_waits_out_dependency_violations_naming_what_holds_the_object() {
        let (client, listed) = listing(vec![interface("eni-0a1b2c3d", "RDSNetworkInterface")]);
        let (ctx, reports) = fast_ctx();
        let calls = AtomicUsize::new(0);
        let script = ["DependencyViolation: resource sg-0a1b2c3d has a dependent object", "DependencyViolation", "ok"];
        let r = delete_retrying(
            &ctx,
            &client,
            "DeleteSecurityGroup",
            ("group-id", "sg-0a1b2c3d"),
            scripted(&script, &calls),
        )
        .await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(listed.num_calls(), 2, "the holders are listed after each refusal");
        let reports = reports.lock().unwrap().clone();
        assert_eq!(
            reports,
            vec![
                "retrying DeleteSecurityGroup after something still uses it (DependencyViolation): \
                 held by network interface eni-0a1b2c3d (RDSNetworkInterface)";
                2
            ]
        );

        let (ctx, _) = fast_ctx();
        let calls = AtomicUsize::new(0);
        let r = delete_retrying(
            &ctx,
            &client,
            "DeleteVpc",
            ("vpc-id", "vpc-1"),
            scripted(&["InvalidVpcID.NotFound"], &calls),
        )
        .await;
        assert!(r.is_ok(), "already gone counts as deleted: {r:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicUsize::new(0);
        let refused = scripted(&["UnauthorizedOperation", "ok"], &calls);
        let r = delete_retrying(&ctx, &client, "DeleteVpc", ("vpc-id", "vpc-1"), refused).await;
        assert_eq!(api_error_of(&r).map(|e| e.0), Some("UnauthorizedOperation"));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "other errors are not retried");
    }

    #[tokio::test]
    async fn a_dependency_that_outlasts_the_wait_fails_naming_its_holders() {
        let (client, _listed) = listing(vec![interface("eni-0a1b2c3d", "VPC Endpoint Interface vpce-0a1b2c3d")]);
        let (ctx, _) = fast_ctx();
        let ctx = ctx.with_timeout(Some(Duration::from_millis(30)));
        let calls = AtomicUsize::new(0);
        let always = scripted(&["DependencyViolation: The subnet 'subnet-0a1b2c3d' has dependencies"], &calls);
        let r = delete_retrying(&ctx, &client, "DeleteSubnet", ("subnet-id", "subnet-0a1b2c3d"), always).await;
        let (code, message) = api_error_of(&r).expect("fails after the delete timeout");
        assert_eq!(code, "DependencyViolation");
        assert_eq!(
            message,
            "The subnet 'subnet-0a1b2c3d' has dependencies \
             (held by network interface eni-0a1b2c3d (VPC Endpoint Interface vpce-0a1b2c3d))"
        );
        assert!(calls.load(Ordering::SeqCst) >= 2, "retried within the resource's delete timeout");
    }

    #[tokio::test]
    async fn only_objects_this_run_created_are_waited_for() {
        const SCRIPT: &[&str] = &["InvalidVpcID.NotFound: The vpc ID 'vpc-0123456789abcdef0' does not exist", "ok"];
        let send = |ctx: Ctx| async move {
            let calls = AtomicUsize::new(0);
            let named = [(Named::Vpc, "vpc-0123456789abcdef0")];
            let r = send_naming(&ctx, "CreateSubnet", &named, scripted(SCRIPT, &calls)).await;
            (r, calls.load(Ordering::SeqCst))
        };

        let (ctx, reports) = fast_ctx();
        ctx.record_created("vpc-0123456789abcdef0");
        let (r, calls) = send(ctx).await;
        assert!(r.is_ok() && calls == 2, "{r:?} after {calls} calls");
        assert_eq!(
            *reports.lock().unwrap(),
            ["retrying CreateSubnet after EC2 does not show the new VPC yet (InvalidVpcID.NotFound)"]
        );

        // A VPC of an earlier run (or a typo): the refusal is final.
        let (ctx, reports) = fast_ctx();
        let (r, calls) = send(ctx).await;
        assert_eq!(api_error_of(&r).map(|e| e.0), Some("InvalidVpcID.NotFound"));
        assert_eq!(calls, 1);
        assert!(reports.lock().unwrap().is_empty());

        // The refusal names another VPC than the new one the request names.
        let (ctx, _) = fast_ctx();
        ctx.record_created("vpc-0aaaaaaaaaaaaaaaa");
        let calls = AtomicUsize::new(0);
        let named = [(Named::Vpc, "vpc-0aaaaaaaaaaaaaaaa"), (Named::Vpc, "vpc-0123456789abcdef0")];
        let r = send_naming(&ctx, "CreateVpcEndpoint", &named, scripted(SCRIPT, &calls)).await;
        assert_eq!(api_error_of(&r).map(|e| e.0), Some("InvalidVpcID.NotFound"));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "an id this run did not create fails at once");

        // A new subnet does not make a missing VPC worth waiting for.
        let (ctx, _) = fast_ctx();
        ctx.record_created("subnet-0aaaaaaaaaaaaaaaa");
        let calls = AtomicUsize::new(0);
        let named = [(Named::Subnet, "subnet-0aaaaaaaaaaaaaaaa"), (Named::Vpc, "vpc-0123456789abcdef0")];
        let r = send_naming(&ctx, "CreateVpcEndpoint", &named, scripted(&["InvalidVpcID.NotFound"], &calls)).await;
        assert_eq!(api_error_of(&r).map(|e| e.0), Some("InvalidVpcID.NotFound"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // A new group: both codes EC2 uses for groups are waited out, and
        // a message without an id relies on what the request names.
        let (ctx, _) = fast_ctx();
        ctx.record_created("sg-0aaaaaaaaaaaaaaaa");
        let calls = AtomicUsize::new(0);
        let script = [
            "InvalidGroup.NotFound: The security group 'sg-...' does not exist",
            "InvalidSecurityGroupID.NotFound",
            "ok",
        ];
        let r = send_naming(
            &ctx,
            "AuthorizeSecurityGroupIngress",
            &[(Named::Group, "sg-0aaaaaaaaaaaaaaaa")],
            scripted(&script, &calls),
        )
        .await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_refusal_of_a_new_object_that_never_passes_fails_after_the_resource_timeout() {
        let (ctx, _) = fast_ctx();
        let ctx = ctx.with_timeout(Some(Duration::from_millis(20)));
        ctx.record_created("subnet-0aaaaaaaaaaaaaaaa");
        let calls = AtomicUsize::new(0);
        let r = send_naming(
            &ctx,
            "ModifySubnetAttribute",
            &[(Named::Subnet, "subnet-0aaaaaaaaaaaaaaaa")],
            scripted(&["InvalidSubnetID.NotFound"], &calls),
        )
        .await;
        assert_eq!(api_error_of(&r).map(|e| e.0), Some("InvalidSubnetID.NotFound"));
        assert!(calls.load(Ordering::SeqCst) >= 2);
    }

    #[test]
    fn a_refusal_names_the_id_it_is_about_when_it_quotes_one() {
        assert_eq!(named_id("The vpc ID 'vpc-0123456789abcdef0' does not exist"), Some("vpc-0123456789abcdef0"));
        assert_eq!(
            named_id("The security group 'sg-0a1b2c3d' does not exist in VPC 'vpc-0123456789abcdef0'"),
            Some("sg-0a1b2c3d")
        );
        assert_eq!(named_id("The vpc ID 'vpc-...' does not exist"), None, "not an id");
        assert_eq!(named_id("The security group 'quickstart-db' does not exist"), None, "a name");
        assert_eq!(named_id("The subnet ID does not exist"), None);
    }

    #[test]
    fn holders_are_named_a_few_at_a_time() {
        assert_eq!(holders_text(&[]), None);
        let typed = NetworkInterface::builder()
            .network_interface_id("eni-3")
            .interface_type(aws_sdk_ec2::types::NetworkInterfaceType::VpcEndpoint)
            .build();
        let many = [interface("eni-1", "RDSNetworkInterface"), interface("eni-2", ""), typed, interface("eni-4", "x")];
        assert_eq!(
            holders_text(&many).unwrap(),
            "held by network interfaces eni-1 (RDSNetworkInterface), eni-2, eni-3 (vpc_endpoint) and 1 more"
        );
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
