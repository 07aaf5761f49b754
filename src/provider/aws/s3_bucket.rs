//! `s3_bucket`: a bucket with the settings Terraform spreads over separate
//! resources kept inline (versioning, SSE-KMS, public access block, a TLS-only
//! bucket policy, lifecycle rules, object lock, tags).
//!
//! - Create: in us-east-1 first HeadBucket (CreateBucket there answers success
//!   for a bucket the account already owns); CreateBucket with the location
//!   constraint, object lock and the tags in `CreateBucketConfiguration`;
//!   GetBucketTagging, and PutBucketTagging when the endpoint dropped the
//!   create-time tags (moto 5.2.5 does; AWS keeps them); then one call per
//!   configured setting: PutBucketVersioning, PutBucketEncryption,
//!   PutPublicAccessBlock, PutBucketPolicy (after GetBucketPolicy: statements
//!   pgstack does not manage are kept), PutBucketLifecycleConfiguration.
//!   PRODUCT.md's example bucket takes 9 calls in us-east-1 (8 elsewhere), a
//!   bare one 4 (3). S3 may answer the calls after CreateBucket with
//!   `NoSuchBucket` for a moment: for a bucket this run created, they are
//!   sent again ([`NEW_BUCKET`]); for any other bucket the answer is final.
//! - Adoption: the name is unique, so a bucket that already exists (HeadBucket
//!   in us-east-1, `BucketAlreadyOwnedByYou` elsewhere) is taken over only when
//!   it carries this stack's and address's ownership tags, and refused
//!   otherwise with a hint to `import` it. A CreateBucket whose reply was lost
//!   is sent once more (by name it cannot make a second bucket), and
//!   `BucketAlreadyOwnedByYou` then means it was done. Where create-time tags
//!   are honoured (AWS) the bucket is never untagged; where they are dropped,
//!   a crash between CreateBucket and PutBucketTagging leaves an untagged
//!   bucket that the next run refuses to take over (the import hint applies).
//! - Read: one paged ListBuckets for the region tells which buckets exist (one
//!   it does not list yet is confirmed with HeadBucket); then, per bucket,
//!   [`PER_RESOURCE_CONCURRENCY`] buckets at a time and the calls of one bucket
//!   concurrently, only the calls for settings the config manages
//!   ([`ReadScope`]): GetBucketVersioning, GetBucketEncryption,
//!   GetPublicAccessBlock, GetBucketPolicy, GetBucketLifecycleConfiguration,
//!   GetObjectLockConfiguration, GetBucketTagging; and always ListObjectVersions
//!   with max-keys 1 for `holds_objects`, which the data-loss guard reads.
//!   Refreshing the bucket of PRODUCT.md's example (versioning, KMS key,
//!   public access block, TLS-only, lifecycle, tags) costs 8 calls, a bare
//!   bucket (`bucket` and the defaults) 4; the ListBuckets of those is shared
//!   by every bucket of the region. (Terraform's `aws_s3_bucket` makes about 15
//!   per bucket.)
//! - Update: the Put (or Delete) call of each changed setting; PutBucketTagging
//!   with the whole tag set.
//! - Delete: with `force_destroy` (config-only, from state), ListObjectVersions
//!   and DeleteObjects in batches of 1000 until no version or delete marker is
//!   left; then DeleteBucket (a bucket that is gone is deleted).
//! - Find (adoption after a crash): one paged GetResources of the Resource
//!   Groups Tagging API for the buckets tagged with the stack; the address
//!   tag is compared exactly here (moto reads tag filter values as patterns).
//!   The API's index may lag behind a fresh bucket; the create's takeover
//!   above covers that window.
//! - Data-loss guard: guarded while `holds_objects` is true (or unknown); the
//!   plan refuses to delete or replace such a bucket without `force_destroy`.
//! - The id is the bucket name; the ARN is `arn:PARTITION:s3:::NAME`. Without
//!   `bucket` in the config the name is built from the stack name and the
//!   address (the schema's default name); bucket names are global, so one taken
//!   by another account fails the create (`BucketAlreadyExists`): set `bucket`.
//! - Orphan scan (`list_owned`): the region's shared GetResources ([`super::owned`]),
//!   and, only when it holds a bucket state does not, the region's ListBuckets.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus,
    CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
    NoncurrentVersionExpiration, NoncurrentVersionTransition, ObjectIdentifier, ObjectLockEnabled,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging, Transition, TransitionStorageClass,
    VersioningConfiguration,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use futures::future::{BoxFuture, try_join_all};
use futures::{FutureExt, StreamExt, TryStreamExt, stream};

use super::owned;
use super::{
    PER_RESOURCE_CONCURRENCY, RawResponse, Settling, api_error, ec2, error_code, factory, get_bool, get_str, policy,
    send_settling, tags_of,
};
use crate::addr::ResourceAddr;
use crate::provider::schema::{
    Attr, AttrType, Default, Kind, NameRule, Ownership, Pricing, Schema, TAG_ADDRESS, TAG_STACK,
};
use crate::provider::waiter::Backoff;
use crate::provider::{
    Ctx, Intent, Owned, PlannedUpdate, ProviderError, ReadScope, Refusal, ResourceType, Result, StateHome,
};
use crate::value::{Attrs, Value};

/// Largest day count S3 takes.
const MAX_DAYS: i64 = i32::MAX as i64;

/// Storage classes objects may move to.
const TRANSITION_CLASSES: &[&str] =
    &["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"];

static TRANSITION: [Attr; 2] = [
    Attr::required("days", AttrType::Int).range(0, MAX_DAYS),
    Attr::required("storage_class", AttrType::Str).one_of(TRANSITION_CLASSES),
];
static TRANSITION_OBJECT: AttrType = AttrType::Object(&TRANSITION);
static DAYS: [Attr; 1] = [Attr::required("days", AttrType::Int).range(1, MAX_DAYS)];
static LIFECYCLE_RULE: [Attr; 8] = [
    Attr::required("id", AttrType::Str).max_len(255),
    Attr::required("enabled", AttrType::Bool),
    Attr::optional("prefix", AttrType::Str),
    Attr::optional("transition", AttrType::List(&TRANSITION_OBJECT)),
    Attr::optional("expiration", AttrType::Object(&DAYS)),
    Attr::optional("noncurrent_version_expiration", AttrType::Object(&DAYS)),
    Attr::optional("noncurrent_version_transition", AttrType::List(&TRANSITION_OBJECT)),
    Attr::optional("abort_incomplete_multipart_upload_days", AttrType::Int).range(1, MAX_DAYS),
];
static LIFECYCLE_RULE_OBJECT: AttrType = AttrType::Object(&LIFECYCLE_RULE);

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::computed("holds_objects", AttrType::Bool),
        Attr::optional("bucket", AttrType::Str)
            .force_new()
            .pattern(Kind::S3BucketName)
            .default_name(NameRule::new(63, true, "")),
        Attr::optional("versioning", AttrType::Bool),
        Attr::optional("kms_key_id", AttrType::Str),
        Attr::optional("bucket_key_enabled", AttrType::Bool),
        Attr::optional("block_public_access", AttrType::Bool).default(Default::Bool(true)),
        Attr::optional("tls_only", AttrType::Bool),
        Attr::optional("lifecycle_rule", AttrType::List(&LIFECYCLE_RULE_OBJECT)),
        Attr::optional("object_lock_enabled", AttrType::Bool).force_new(),
        Attr::optional("force_destroy", AttrType::Bool).default(Default::Bool(false)).config_only(),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: true,
    taggable: true,
    ownership: Ownership::indexed("s3:bucket", ""),
    pricing: Pricing::Bucket,
};

/// The id of lifecycle `rule` when it is enabled, covers `key` (no prefix,
/// or one `key` starts with) and expires current objects.
fn expires_key(rule: &Value, key: &str) -> Option<String> {
    let Value::Map(r) = rule else { return None };
    let enabled = r.get("enabled") != Some(&Value::Bool(false));
    let covers = match r.get("prefix") {
        Some(Value::Str(prefix)) => key.starts_with(prefix.as_str()),
        _ => true,
    };
    let expires = matches!(r.get("expiration"), Some(v) if *v != Value::Null);
    (enabled && covers && expires).then(|| match r.get("id") {
        Some(Value::Str(id)) => id.clone(),
        _ => "(no id)".to_owned(),
    })
}

/// The `s3_bucket` resource type.
pub struct S3Bucket;

/// The region whose CreateBucket takes no location constraint and answers
/// success for a bucket the account already owns.
const US_EAST_1: &str = "us-east-1";
/// Sid of the statement `tls_only` adds to the bucket policy.
const TLS_SID: &str = "DenyInsecureTransport";
/// DeleteObjects takes at most this many keys.
const DELETE_BATCH: i32 = 1000;

/// `arn:PARTITION:s3:::NAME`.
pub fn bucket_arn(region: &str, name: &str) -> String {
    format!("arn:{}:s3:::{name}", ec2::partition(region))
}

/// The bucket name of an `arn:...:s3:::NAME` ARN.
pub fn name_of_arn(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// How long calls about a bucket this run created wait out `NoSuchBucket`
/// when the resource sets no timeout for the operation: S3 may answer the
/// calls that configure a new bucket as if it did not exist for a moment
/// after CreateBucket.
pub const NEW_BUCKET_WAIT: Duration = Duration::from_secs(120);

/// S3 does not show a bucket this run created yet.
pub const NEW_BUCKET: Settling =
    Settling::new("NoSuchBucket", "S3 does not show the new bucket yet (NoSuchBucket)", NEW_BUCKET_WAIT);

/// [`NEW_BUCKET`] for bucket `name` when this run created it (within the
/// resource's own timeout, if it sets one); `None` for any other bucket,
/// whose `NoSuchBucket` is final.
pub fn new_bucket(ctx: &Ctx, name: &str) -> Option<Settling> {
    ctx.created_this_run(name).then(|| Settling { within: ctx.timeout.unwrap_or(NEW_BUCKET_WAIT), ..NEW_BUCKET })
}

/// Sends `call`, a request about bucket `name`, again while S3 does not
/// show a bucket this run created yet ([`new_bucket`]); once otherwise.
async fn on_bucket<O, E, R, F, Fut>(
    ctx: &Ctx,
    name: &str,
    operation: &'static str,
    call: F,
) -> std::result::Result<O, SdkError<E, R>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<O, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    let settling: Vec<Settling> = new_bucket(ctx, name).into_iter().collect();
    send_settling(ctx, operation, &settling, Backoff::RETRY, call).await
}

/// [`on_bucket`] for a write, its error mapped.
async fn send_to_bucket<O, E, R, F, Fut>(ctx: &Ctx, name: &str, operation: &'static str, call: F) -> Result<O>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<O, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: RawResponse,
{
    on_bucket(ctx, name, operation, call).await.map_err(|e| api_error(operation, e))
}

/// An S3 error that says the bucket does not exist.
pub fn is_no_such_bucket<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    matches!(error_code(e), Some("NoSuchBucket" | "NotFound"))
}

/// What one sub-read of a bucket found.
enum Part<T> {
    Found(T),
    /// The setting is not configured.
    Absent,
    /// The bucket itself is gone.
    Gone,
}

/// Sorts out a sub-read's answer: `absent` is the error code S3 gives when
/// the setting is not configured, if it has one.
fn part<T, E, R>(
    operation: &'static str,
    absent: Option<&str>,
    r: std::result::Result<T, SdkError<E, R>>,
) -> Result<Part<T>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: RawResponse,
{
    match r {
        Ok(v) => Ok(Part::Found(v)),
        Err(e) if is_no_such_bucket(&e) => Ok(Part::Gone),
        Err(e) if absent.is_some() && error_code(&e) == absent => Ok(Part::Absent),
        Err(e) => Err(api_error(operation, e)),
    }
}

/// Attributes one sub-read fills in; `None` when the bucket is gone.
type Filled = Option<Vec<(&'static str, Value)>>;

fn s3_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ProviderError::Invalid(e.to_string())))
        .collect()
}

fn invalid(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Invalid(e.to_string())
}

/// The tags S3 returns for `name`; empty when it has none.
async fn read_tags(ctx: &Ctx, client: &Client, name: &str) -> Result<Part<BTreeMap<String, String>>> {
    let out = on_bucket(ctx, name, "GetBucketTagging", || client.get_bucket_tagging().bucket(name).send()).await;
    let out = part("GetBucketTagging", Some("NoSuchTagSet"), out)?;
    Ok(match out {
        Part::Found(o) => Part::Found(o.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()),
        Part::Absent => Part::Found(BTreeMap::new()),
        Part::Gone => Part::Gone,
    })
}

/// Replaces the bucket's tag set with `tags` (PutBucketTagging, or
/// DeleteBucketTagging for none).
async fn put_tags(ctx: &Ctx, client: &Client, name: &str, tags: &BTreeMap<String, String>) -> Result<()> {
    if tags.is_empty() {
        send_to_bucket(ctx, name, "DeleteBucketTagging", || client.delete_bucket_tagging().bucket(name).send()).await?;
        return Ok(());
    }
    let tagging = Tagging::builder().set_tag_set(Some(s3_tags(tags)?)).build().map_err(invalid)?;
    let request = client.put_bucket_tagging().bucket(name).tagging(tagging);
    send_to_bucket(ctx, name, "PutBucketTagging", || request.clone().send()).await?;
    Ok(())
}

// ---- lifecycle rules: one canonical form for config and AWS ----

/// The canonical `lifecycle_rule` list: rules sorted by id; in each rule,
/// unset fields, an empty `prefix` (the whole bucket) and empty lists left
/// out, transitions sorted by days. S3 keeps rules and transitions as sets,
/// and answers an unfiltered rule with `Filter { Prefix: "" }`. Pure.
pub fn canonical_lifecycle(rules: &Value) -> Value {
    let Value::List(rules) = rules else { return rules.clone() };
    let mut out: Vec<Value> = rules.iter().map(canonical_rule).collect();
    out.sort_by(|a, b| rule_id(a).cmp(rule_id(b)));
    Value::List(out)
}

fn rule_id(rule: &Value) -> &str {
    rule.as_map().and_then(|m| m.get("id")).and_then(Value::as_str).unwrap_or_default()
}

fn canonical_rule(rule: &Value) -> Value {
    let Value::Map(m) = rule else { return rule.clone() };
    let mut out = BTreeMap::new();
    for (k, v) in m {
        let v = match (k.as_str(), v) {
            (_, Value::Null) => continue,
            ("prefix", Value::Str(p)) if p.is_empty() => continue,
            (_, Value::List(l)) if l.is_empty() => continue,
            ("transition" | "noncurrent_version_transition", Value::List(l)) => {
                let mut l = l.clone();
                l.sort_by_key(|t| {
                    let t = t.as_map();
                    let field = |f: &str| t.and_then(|t| t.get(f)).cloned();
                    (
                        field("days").and_then(|d| d.as_i64()),
                        field("storage_class").and_then(|s| s.as_str().map(str::to_owned)),
                    )
                });
                Value::List(l)
            }
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Map(out)
}

fn days_of(v: Option<&Value>) -> Option<i32> {
    v.and_then(Value::as_map).and_then(|m| m.get("days")).and_then(Value::as_i64).and_then(|d| i32::try_from(d).ok())
}

fn int_of(m: &BTreeMap<String, Value>, key: &str) -> Option<i32> {
    m.get(key).and_then(Value::as_i64).and_then(|d| i32::try_from(d).ok())
}

/// (days, storage class) of each item of a transition list.
fn transitions_of(v: Option<&Value>) -> Vec<(Option<i32>, String)> {
    v.and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_map)
        .map(|t| (int_of(t, "days"), t.get("storage_class").and_then(Value::as_str).unwrap_or_default().to_owned()))
        .collect()
}

/// One configured rule as S3 takes it (always with a `Filter`).
fn lifecycle_rule_of(rule: &Value) -> Result<LifecycleRule> {
    let m = rule.as_map().ok_or_else(|| invalid("a lifecycle_rule must be a table"))?;
    let enabled = m.get("enabled").and_then(Value::as_bool).unwrap_or(true);
    let prefix = m.get("prefix").and_then(Value::as_str).unwrap_or_default();
    let mut b = LifecycleRule::builder()
        .set_id(m.get("id").and_then(Value::as_str).map(str::to_owned))
        .status(if enabled { ExpirationStatus::Enabled } else { ExpirationStatus::Disabled })
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build());
    for (days, class) in transitions_of(m.get("transition")) {
        let class = TransitionStorageClass::from(class.as_str());
        b = b.transitions(Transition::builder().set_days(days).storage_class(class).build());
    }
    for (days, class) in transitions_of(m.get("noncurrent_version_transition")) {
        let class = TransitionStorageClass::from(class.as_str());
        b = b.noncurrent_version_transitions(
            NoncurrentVersionTransition::builder().set_noncurrent_days(days).storage_class(class).build(),
        );
    }
    if let Some(days) = days_of(m.get("expiration")) {
        b = b.expiration(LifecycleExpiration::builder().days(days).build());
    }
    if let Some(days) = days_of(m.get("noncurrent_version_expiration")) {
        b = b.noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(days).build());
    }
    if let Some(days) = int_of(m, "abort_incomplete_multipart_upload_days") {
        b = b.abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder().days_after_initiation(days).build(),
        );
    }
    b.build().map_err(invalid)
}

fn days_value(days: i32) -> Value {
    Value::Map([("days".to_owned(), Value::Int(i64::from(days)))].into())
}

fn transition_value(days: Option<i32>, class: Option<&str>) -> Value {
    Value::Map([("days".to_owned(), days.map(i64::from).into()), ("storage_class".to_owned(), class.into())].into())
}

/// One rule as S3 answers it, before [`canonical_lifecycle`]: the prefix
/// from the filter (alone or in an `And`) or the legacy top-level prefix
/// (deprecated, but rules made with it still come back with it).
#[allow(deprecated)]
fn lifecycle_rule_value(r: &LifecycleRule) -> Value {
    let filter = r.filter();
    let prefix = filter.and_then(|f| f.prefix().or_else(|| f.and().and_then(|a| a.prefix()))).or(r.prefix());
    let transitions =
        r.transitions().iter().map(|t| transition_value(t.days(), t.storage_class().map(|s| s.as_str()))).collect();
    let noncurrent = r
        .noncurrent_version_transitions()
        .iter()
        .map(|t| transition_value(t.noncurrent_days(), t.storage_class().map(|s| s.as_str())))
        .collect();
    let m: BTreeMap<String, Value> = [
        ("id", r.id().into()),
        ("enabled", Value::Bool(*r.status() == ExpirationStatus::Enabled)),
        ("prefix", prefix.into()),
        ("transition", Value::List(transitions)),
        ("expiration", r.expiration().and_then(|e| e.days()).map(days_value).into()),
        (
            "noncurrent_version_expiration",
            r.noncurrent_version_expiration().and_then(|e| e.noncurrent_days()).map(days_value).into(),
        ),
        ("noncurrent_version_transition", Value::List(noncurrent)),
        (
            "abort_incomplete_multipart_upload_days",
            r.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()).map(i64::from).into(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Value::Map(m)
}

// ---- the TLS-only bucket policy statement ----

/// The statement `tls_only` keeps in the bucket policy: deny every request
/// to the bucket and its objects that does not come over TLS.
fn tls_statement(arn: &str) -> Value {
    Value::from_json(&serde_json::json!({
        "Sid": TLS_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, format!("{arn}/*")],
        "Condition": { "Bool": { "aws:SecureTransport": "false" } },
    }))
}

/// A statement in canonical policy form, without its `Sid`, `{"AWS": "*"}`
/// read as `"*"` (the same principal).
fn statement_meaning(st: &Value) -> Option<Value> {
    let doc = Value::Map([("Statement".to_owned(), st.clone())].into());
    let Ok(Value::Map(mut doc)) = policy::canonical(&doc) else { return None };
    let Some(Value::List(mut list)) = doc.remove("Statement") else { return None };
    let Some(Value::Map(mut st)) = list.pop() else { return None };
    st.remove("Sid");
    if st.get("Principal") == Some(&Value::Map([("AWS".to_owned(), Value::str("*"))].into())) {
        st.insert("Principal".to_owned(), Value::str("*"));
    }
    Some(Value::Map(st))
}

/// The statements of a policy document (in canonical form).
fn statements(doc: &Value) -> Vec<Value> {
    doc.as_map().and_then(|d| d.get("Statement")).and_then(Value::as_list).map(<[Value]>::to_vec).unwrap_or_default()
}

/// Whether the bucket policy `text` holds the TLS-only statement for `arn`.
fn has_tls_statement(text: &str, arn: &str) -> bool {
    let want = statement_meaning(&tls_statement(arn));
    policy::canonical(&Value::str(text))
        .map(|doc| statements(&doc).iter().any(|st| statement_meaning(st) == want))
        .unwrap_or(false)
}

/// The bucket policy with the TLS-only statement for `arn` added (`on`) or
/// removed, other statements kept; `None` when no statement is left. Pure.
fn with_tls(text: Option<&str>, arn: &str, on: bool) -> Result<Option<String>> {
    let mut doc = match text {
        Some(t) => match policy::canonical(&Value::str(t)).map_err(|e| invalid(format!("bucket policy: {e}")))? {
            Value::Map(m) => m,
            _ => BTreeMap::new(),
        },
        None => BTreeMap::new(),
    };
    let want = statement_meaning(&tls_statement(arn));
    let mut kept: Vec<Value> =
        statements(&Value::Map(doc.clone())).into_iter().filter(|st| statement_meaning(st) != want).collect();
    if on {
        kept.push(tls_statement(arn));
    }
    if kept.is_empty() {
        return Ok(None);
    }
    doc.entry("Version".to_owned()).or_insert_with(|| Value::str("2012-10-17"));
    doc.insert("Statement".to_owned(), Value::List(kept));
    Ok(Some(policy::to_json(&Value::Map(doc))))
}

// ---- reads ----

/// Reads the settings of bucket `name` that `scope` asks for; `None` when it
/// no longer exists.
async fn read_bucket(ctx: &Ctx, client: &Client, name: &str, scope: &ReadScope) -> Result<Option<Attrs>> {
    let arn = bucket_arn(&ctx.region, name);
    let mut parts: Vec<BoxFuture<'_, Result<Filled>>> = vec![read_holds_objects(client, name).boxed()];
    if scope.wants("versioning") {
        parts.push(read_versioning(client, name).boxed());
    }
    if scope.wants("kms_key_id") || scope.wants("bucket_key_enabled") {
        parts.push(read_encryption(client, name).boxed());
    }
    if scope.wants("block_public_access") {
        parts.push(read_public_access_block(client, name).boxed());
    }
    if scope.wants("tls_only") {
        parts.push(read_tls_only(ctx, client, name, arn.clone()).boxed());
    }
    if scope.wants("lifecycle_rule") {
        parts.push(read_lifecycle(client, name).boxed());
    }
    if scope.wants("object_lock_enabled") {
        parts.push(read_object_lock(client, name).boxed());
    }
    if scope.wants("tags") {
        parts.push(
            async move {
                Ok(match read_tags(ctx, client, name).await? {
                    Part::Found(t) => Some(vec![("tags", Value::from(t))]),
                    _ => None,
                })
            }
            .boxed(),
        );
    }
    let filled = try_join_all(parts).await?;
    let mut a = Attrs::new();
    for f in filled {
        let Some(values) = f else { return Ok(None) };
        a.extend(values.into_iter().map(|(k, v)| (k.to_owned(), v)));
    }
    a.insert("id".into(), Value::str(name));
    a.insert("bucket".into(), Value::str(name));
    a.insert("arn".into(), Value::str(arn));
    Ok(Some(a))
}

/// Whether any object version or delete marker is left: one ListObjectVersions of one key.
async fn read_holds_objects(client: &Client, name: &str) -> Result<Filled> {
    let out = client.list_object_versions().bucket(name).max_keys(1).send().await;
    Ok(match part("ListObjectVersions", None, out)? {
        Part::Found(o) => {
            Some(vec![("holds_objects", Value::Bool(!o.versions().is_empty() || !o.delete_markers().is_empty()))])
        }
        _ => None,
    })
}

async fn read_versioning(client: &Client, name: &str) -> Result<Filled> {
    let out = client.get_bucket_versioning().bucket(name).send().await;
    Ok(match part("GetBucketVersioning", None, out)? {
        Part::Found(o) => Some(vec![("versioning", Value::Bool(o.status() == Some(&BucketVersioningStatus::Enabled)))]),
        _ => None,
    })
}

/// `kms_key_id` from the first rule when it uses SSE-KMS, and `bucket_key_enabled`.
async fn read_encryption(client: &Client, name: &str) -> Result<Filled> {
    let out = client.get_bucket_encryption().bucket(name).send().await;
    let rule = match part("GetBucketEncryption", Some("ServerSideEncryptionConfigurationNotFoundError"), out)? {
        Part::Found(o) => o.server_side_encryption_configuration().and_then(|c| c.rules().first().cloned()),
        Part::Absent => None,
        Part::Gone => return Ok(None),
    };
    let default = rule.as_ref().and_then(|r| r.apply_server_side_encryption_by_default());
    let key = default
        .filter(|d| *d.sse_algorithm() == ServerSideEncryption::AwsKms)
        .and_then(|d| d.kms_master_key_id())
        .filter(|k| !k.is_empty());
    let bucket_key = rule.as_ref().and_then(|r| r.bucket_key_enabled()).unwrap_or(false);
    Ok(Some(vec![("kms_key_id", key.into()), ("bucket_key_enabled", Value::Bool(bucket_key))]))
}

/// True only when all four public-access-block flags are on.
async fn read_public_access_block(client: &Client, name: &str) -> Result<Filled> {
    let out = client.get_public_access_block().bucket(name).send().await;
    let all_on = match part("GetPublicAccessBlock", Some("NoSuchPublicAccessBlockConfiguration"), out)? {
        Part::Found(o) => o.public_access_block_configuration().is_some_and(|c| {
            [c.block_public_acls(), c.ignore_public_acls(), c.block_public_policy(), c.restrict_public_buckets()]
                .iter()
                .all(|f| *f == Some(true))
        }),
        Part::Absent => false,
        Part::Gone => return Ok(None),
    };
    Ok(Some(vec![("block_public_access", Value::Bool(all_on))]))
}

/// The bucket policy's text, if it has one.
async fn read_policy(ctx: &Ctx, client: &Client, name: &str) -> Result<Part<Option<String>>> {
    let out = on_bucket(ctx, name, "GetBucketPolicy", || client.get_bucket_policy().bucket(name).send()).await;
    Ok(match part("GetBucketPolicy", Some("NoSuchBucketPolicy"), out)? {
        Part::Found(o) => Part::Found(o.policy().map(str::to_owned)),
        Part::Absent => Part::Found(None),
        Part::Gone => Part::Gone,
    })
}

async fn read_tls_only(ctx: &Ctx, client: &Client, name: &str, arn: String) -> Result<Filled> {
    Ok(match read_policy(ctx, client, name).await? {
        Part::Found(text) => Some(vec![("tls_only", Value::Bool(text.is_some_and(|t| has_tls_statement(&t, &arn))))]),
        _ => None,
    })
}

async fn read_lifecycle(client: &Client, name: &str) -> Result<Filled> {
    let out = client.get_bucket_lifecycle_configuration().bucket(name).send().await;
    let rules = match part("GetBucketLifecycleConfiguration", Some("NoSuchLifecycleConfiguration"), out)? {
        Part::Found(o) => o.rules().iter().map(lifecycle_rule_value).collect(),
        Part::Absent => Vec::new(),
        Part::Gone => return Ok(None),
    };
    Ok(Some(vec![("lifecycle_rule", canonical_lifecycle(&Value::List(rules)))]))
}

async fn read_object_lock(client: &Client, name: &str) -> Result<Filled> {
    let out = client.get_object_lock_configuration().bucket(name).send().await;
    let on = match part("GetObjectLockConfiguration", Some("ObjectLockConfigurationNotFoundError"), out)? {
        Part::Found(o) => o
            .object_lock_configuration()
            .and_then(|c| c.object_lock_enabled())
            .is_some_and(|e| *e == ObjectLockEnabled::Enabled),
        Part::Absent => false,
        Part::Gone => return Ok(None),
    };
    Ok(Some(vec![("object_lock_enabled", Value::Bool(on))]))
}

/// Names of the buckets ListBuckets reports in `region`.
async fn listed_buckets(client: &Client, region: &str) -> Result<BTreeSet<String>> {
    let buckets: Vec<_> = client
        .list_buckets()
        .bucket_region(region)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("ListBuckets", e))?;
    Ok(buckets.iter().filter_map(|b| b.name().map(str::to_owned)).collect())
}

/// HeadBucket answered 403: the bucket exists, in another account.
fn is_forbidden<E, R: RawResponse>(e: &SdkError<E, R>) -> bool {
    matches!(e, SdkError::ServiceError(se) if se.raw().status() == 403)
}

/// Whether bucket `name`, which ListBuckets did not report (yet: it lags
/// behind creates), exists in `region` in this account (one another account
/// holds is not this stack's any more); one in another region is an error.
async fn exists_in(client: &Client, region: &str, name: &str) -> Result<bool> {
    match client.head_bucket().bucket(name).send().await {
        Ok(out) => match out.bucket_region() {
            Some(r) if r != region => {
                Err(invalid(format!("bucket `{name}` is in {r}, not {region}: set the resource's `region` to {r}")))
            }
            _ => Ok(true),
        },
        Err(e) if is_no_such_bucket(&e) || is_forbidden(&e) => Ok(false),
        Err(e) => Err(api_error("HeadBucket", e)),
    }
}

/// Reads bucket `name` if it exists: `listed` by ListBuckets, or confirmed by HeadBucket.
async fn read_existing(
    ctx: &Ctx,
    client: &Client,
    name: &str,
    listed: bool,
    scope: &ReadScope,
) -> Result<Option<(String, Attrs)>> {
    if !listed && !exists_in(client, &ctx.region, name).await? {
        return Ok(None);
    }
    Ok(read_bucket(ctx, client, name, scope).await?.map(|a| (name.to_owned(), a)))
}

// ---- writes ----

/// Why `desired` cannot be: object lock keeps versioning on.
fn object_lock_conflict(current: &Attrs, desired: &Attrs) -> Option<Refusal> {
    let locked = get_bool(desired, "object_lock_enabled").or_else(|| get_bool(current, "object_lock_enabled"));
    (locked == Some(true) && get_bool(desired, "versioning") != Some(true)).then(|| {
        Refusal::new("needs `versioning = true`: S3 turns versioning on with object lock and never suspends it")
            .on("versioning")
            .hint("set `versioning = true`")
    })
}

/// Sends the Put (or Delete) call of every setting `desired` changes from `prior`.
/// Calls about a bucket this run created wait for S3 to show it ([`on_bucket`]).
/// Sends the settings `update` changes (each its own S3 call).
async fn configure(ctx: &Ctx, client: &Client, name: &str, update: &PlannedUpdate) -> Result<()> {
    let (prior, desired) = (&update.before, &update.after);
    let changed = |name: &str| update.to(name).filter(|v| !v.is_null());
    if let Some(on) = changed("versioning").and_then(Value::as_bool) {
        let status = if on { BucketVersioningStatus::Enabled } else { BucketVersioningStatus::Suspended };
        let request = client
            .put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build());
        send_to_bucket(ctx, name, "PutBucketVersioning", || request.clone().send()).await?;
    }
    if changed("kms_key_id").is_some() || changed("bucket_key_enabled").is_some() {
        // An unmanaged key (unset in config) is left as AWS has it.
        let key = get_str(desired, "kms_key_id").or_else(|| get_str(prior, "kms_key_id"));
        let algorithm = if key.is_some() { ServerSideEncryption::AwsKms } else { ServerSideEncryption::Aes256 };
        let default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(algorithm)
            .set_kms_master_key_id(key.map(str::to_owned))
            .build()
            .map_err(invalid)?;
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(default)
            .set_bucket_key_enabled(get_bool(desired, "bucket_key_enabled"))
            .build();
        let config = ServerSideEncryptionConfiguration::builder().rules(rule).build().map_err(invalid)?;
        let request = client.put_bucket_encryption().bucket(name).server_side_encryption_configuration(config);
        send_to_bucket(ctx, name, "PutBucketEncryption", || request.clone().send()).await?;
    }
    if let Some(on) = changed("block_public_access").and_then(Value::as_bool) {
        let config = PublicAccessBlockConfiguration::builder()
            .block_public_acls(on)
            .ignore_public_acls(on)
            .block_public_policy(on)
            .restrict_public_buckets(on)
            .build();
        let request = client.put_public_access_block().bucket(name).public_access_block_configuration(config);
        send_to_bucket(ctx, name, "PutPublicAccessBlock", || request.clone().send()).await?;
    }
    if let Some(on) = changed("tls_only").and_then(Value::as_bool) {
        set_tls_only(ctx, client, name, on).await?;
    }
    if let Some(rules) = changed("lifecycle_rule") {
        let rules: Vec<LifecycleRule> =
            rules.as_list().unwrap_or_default().iter().map(lifecycle_rule_of).collect::<Result<_>>()?;
        if rules.is_empty() {
            let request = client.delete_bucket_lifecycle().bucket(name);
            send_to_bucket(ctx, name, "DeleteBucketLifecycle", || request.clone().send()).await?;
        } else {
            let config = BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().map_err(invalid)?;
            let request = client.put_bucket_lifecycle_configuration().bucket(name).lifecycle_configuration(config);
            send_to_bucket(ctx, name, "PutBucketLifecycleConfiguration", || request.clone().send()).await?;
        }
    }
    Ok(())
}

/// Adds or removes the TLS-only statement, keeping the policy's other statements.
async fn set_tls_only(ctx: &Ctx, client: &Client, name: &str, on: bool) -> Result<()> {
    let text = match read_policy(ctx, client, name).await? {
        Part::Found(t) => t,
        _ => return Err(ProviderError::NotFound(name.to_owned())),
    };
    match with_tls(text.as_deref(), &bucket_arn(&ctx.region, name), on)? {
        Some(policy) => {
            let request = client.put_bucket_policy().bucket(name).policy(policy);
            send_to_bucket(ctx, name, "PutBucketPolicy", || request.clone().send()).await?;
        }
        None if text.is_some() => {
            send_to_bucket(ctx, name, "DeleteBucketPolicy", || client.delete_bucket_policy().bucket(name).send())
                .await?;
        }
        None => {}
    }
    Ok(())
}

/// Whether `tags` carry the ownership tags of `want`.
fn same_owner(tags: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> bool {
    [TAG_STACK, TAG_ADDRESS].iter().all(|k| tags.get(*k).is_some_and(|v| want.get(*k) == Some(v)))
}

/// Takes over the existing bucket `name` when it carries the ownership tags
/// in `desired`; refuses it otherwise. Returns its tags.
async fn claim(ctx: &Ctx, client: &Client, name: &str, desired: &Attrs) -> Result<BTreeMap<String, String>> {
    let tags = match read_tags(ctx, client, name).await? {
        Part::Found(t) => t,
        _ => BTreeMap::new(),
    };
    if same_owner(&tags, &tags_of(desired)) {
        return Ok(tags);
    }
    Err(ProviderError::Invalid(format!(
        "bucket `{name}` already exists in this account and does not carry this resource's ownership tags; \
         to manage it, import it (`pgstack import STACK ADDR {name}`), or choose another `bucket` name"
    )))
}

/// CreateBucket; a lost reply is answered by sending it again (by name it
/// cannot make a second bucket). Returns the tags of a bucket it took over
/// (`claim`), `None` when it made a new one, which it records as created
/// by this run ([`Ctx::record_created`]).
async fn create_bucket(
    ctx: &Ctx,
    client: &Client,
    name: &str,
    desired: &Attrs,
) -> Result<Option<BTreeMap<String, String>>> {
    let region = ctx.region.as_str();
    let mut config = CreateBucketConfiguration::builder().set_tags(Some(s3_tags(&tags_of(desired))?));
    if region != US_EAST_1 {
        config = config.location_constraint(BucketLocationConstraint::from(region));
    }
    let config = config.build();
    let lock = get_bool(desired, "object_lock_enabled").filter(|on| *on);
    let send = || {
        client
            .create_bucket()
            .bucket(name)
            .create_bucket_configuration(config.clone())
            .set_object_lock_enabled_for_bucket(lock)
            .send()
    };
    let owned_already = |e: &SdkError<_, _>| error_code(e) == Some("BucketAlreadyOwnedByYou");
    let made = match send().await {
        Ok(_) => None,
        Err(e) if owned_already(&e) => Some(claim(ctx, client, name, desired).await?),
        Err(e) => match api_error("CreateBucket", e) {
            ProviderError::Transport { .. } => match send().await {
                Ok(_) => None,
                Err(e) if owned_already(&e) => None,
                Err(e) => return Err(api_error("CreateBucket", e)),
            },
            other => return Err(other),
        },
    };
    if made.is_none() {
        ctx.record_created(name);
    }
    Ok(made)
}

/// Deletes every object version and delete marker, 1000 at a time.
async fn empty_bucket(client: &Client, name: &str, bypass_governance: bool) -> Result<()> {
    loop {
        let out = client.list_object_versions().bucket(name).max_keys(DELETE_BATCH).send().await;
        let listed = match part("ListObjectVersions", None, out)? {
            Part::Found(o) => o,
            _ => return Ok(()),
        };
        let versions = listed.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = listed.delete_markers().iter().map(|m| (m.key(), m.version_id()));
        let objects: Vec<ObjectIdentifier> = versions
            .chain(markers)
            .filter_map(|(key, version)| {
                ObjectIdentifier::builder().key(key?).set_version_id(version.map(str::to_owned)).build().ok()
            })
            .collect();
        if objects.is_empty() {
            return Ok(());
        }
        let delete = Delete::builder().set_objects(Some(objects)).quiet(true).build().map_err(invalid)?;
        let out = client
            .delete_objects()
            .bucket(name)
            .delete(delete)
            .set_bypass_governance_retention(bypass_governance.then_some(true))
            .send()
            .await
            .map_err(|e| api_error("DeleteObjects", e))?;
        if let Some(e) = out.errors().first() {
            return Err(ProviderError::Api {
                operation: "DeleteObjects",
                code: e.code().unwrap_or_default().to_owned(),
                message: format!("{} ({} objects not deleted)", e.message().unwrap_or_default(), out.errors().len()),
                retryable: false,
            });
        }
    }
}

#[async_trait]
impl ResourceType for S3Bucket {
    fn type_name(&self) -> &'static str {
        "s3_bucket"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// Lifecycle rules in canonical form; `bucket_key_enabled` defaults to
    /// true with a KMS key.
    fn normalize(&self, desired: &mut Attrs) {
        if let Some(rules) = desired.get_mut("lifecycle_rule") {
            *rules = canonical_lifecycle(rules);
        }
        if get_str(desired, "kms_key_id").is_some() && !desired.contains_key("bucket_key_enabled") {
            desired.insert("bucket_key_enabled".into(), Value::Bool(true));
        }
    }

    /// Holds data unless the last read found no object version or delete marker.
    fn holds_data(&self, current: &Attrs) -> bool {
        get_bool(current, "holds_objects") != Some(false)
    }

    /// A bucket holding objects is deleted only with `force_destroy` (from
    /// state); object lock needs versioning.
    fn refuse(&self, current: &Attrs, intent: Intent<'_>) -> Vec<Refusal> {
        let mut out = Vec::new();
        let deletes = !matches!(intent, Intent::Keep { .. });
        if deletes
            && get_bool(current, "holds_objects") == Some(true)
            && get_bool(current, "force_destroy") != Some(true)
        {
            out.push(
                Refusal::new("cannot be deleted: it holds objects or object versions, and `force_destroy` is not set")
                    .hint(
                        "set `force_destroy = true` on it and apply first: the delete then removes every object \
                         version (and still needs `--allow-destroy`)",
                    )
                    .hint("or empty the bucket first"),
            );
        }
        if let Intent::Keep { desired } | Intent::Replace { desired, .. } = intent {
            out.extend(object_lock_conflict(current, desired));
        }
        out
    }

    /// The bucket holding the stack's state is never deleted or replaced,
    /// never stops versioning, and takes no rule expiring the state object.
    fn refuse_for_state(&self, current: &Attrs, intent: Intent<'_>, home: &StateHome) -> Vec<Refusal> {
        if get_str(current, "bucket") != Some(home.bucket.as_str()) {
            return Vec::new();
        }
        let url = home.url();
        let move_first = "move the state first: `pgstack state pull STACK -o state-copy.json`, point `[backend] s3` \
                          at another bucket (or take it out), then `pgstack state push STACK state-copy.json`";
        match intent {
            Intent::Delete { .. } | Intent::Replace { .. } => vec![
                Refusal::new(format!(
                    "holds this stack's own state ({url}) and its lock: deleting it would delete every version of the state"
                ))
                .hint(move_first)
                .hint("or stop managing the bucket without deleting it: `pgstack state rm STACK ADDR` (then remove its block)"),
            ],
            Intent::Keep { desired } => {
                let mut out = Vec::new();
                if get_bool(current, "versioning") == Some(true) && get_bool(desired, "versioning") == Some(false) {
                    out.push(
                        Refusal::new(format!(
                            "holds this stack's own state ({url}): suspending versioning would drop the earlier state \
                             versions that undo a bad write"
                        ))
                        .on("versioning")
                        .hint("keep `versioning = true` on the bucket that holds the state")
                        .hint(move_first),
                    );
                }
                let expiring = |rules: Option<&Value>| -> Vec<String> {
                    let Some(Value::List(rules)) = rules else { return Vec::new() };
                    rules.iter().filter_map(|r| expires_key(r, &home.key)).collect()
                };
                let now = expiring(current.get("lifecycle_rule"));
                let new: Vec<String> =
                    expiring(desired.get("lifecycle_rule")).into_iter().filter(|id| !now.contains(id)).collect();
                if !new.is_empty() {
                    out.push(
                        Refusal::new(format!(
                            "holds this stack's own state ({url}): lifecycle rule {} would expire the state object",
                            new.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(", ")
                        ))
                        .on("lifecycle_rule")
                        .hint(format!(
                            "give the rule a `prefix` that `{}` does not start with, or drop its `expiration` \
                             (`noncurrent_version_expiration` is fine: it keeps the current state)",
                            home.key
                        ))
                        .hint(move_first),
                    );
                }
                out
            }
        }
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.s3(&ctx.region).await;
        let listed = listed_buckets(client, &ctx.region).await?;
        let reads: Vec<_> = ids.iter().map(|id| read_existing(ctx, client, id, listed.contains(id), scope)).collect();
        let found: Vec<_> = stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let name = get_str(desired, "bucket").ok_or_else(|| invalid("s3_bucket has no `bucket` name"))?;
        if let Some(r) = object_lock_conflict(&Attrs::new(), desired) {
            return Err(invalid(format!("`{}` {}", r.attr.unwrap_or_default(), r.reason)));
        }
        let region = ctx.region.as_str();
        let client = factory(ctx)?.s3(region).await;
        let existing = if region == US_EAST_1 {
            match client.head_bucket().bucket(name).send().await {
                Ok(_) => Some(claim(ctx, &client, name, desired).await?),
                // Another account's: CreateBucket says so (`BucketAlreadyExists`).
                Err(e) if is_no_such_bucket(&e) || is_forbidden(&e) => {
                    create_bucket(ctx, &client, name, desired).await?
                }
                Err(e) => return Err(api_error("HeadBucket", e)),
            }
        } else {
            create_bucket(ctx, &client, name, desired).await?
        };
        // A new bucket starts unversioned, without policy or lifecycle rules;
        // one taken over is set to everything configured.
        let prior: Attrs = match &existing {
            Some(_) => Attrs::new(),
            None => [("versioning", false), ("tls_only", false)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::Bool(v)))
                .chain([("lifecycle_rule".to_owned(), Value::List(Vec::new()))])
                .collect(),
        };
        configure(ctx, &client, name, &self.planned_update(&prior, desired, &[])).await?;
        let taken_over = existing.is_some();
        let tags = tags_of(desired);
        let have = match existing {
            Some(t) => t,
            None => match read_tags(ctx, &client, name).await? {
                Part::Found(t) => t,
                _ => return Err(ProviderError::NotFound(name.to_owned())),
            },
        };
        if have != tags {
            put_tags(ctx, &client, name, &tags).await?;
        }
        let mut attrs = desired.clone();
        attrs.insert("id".into(), Value::str(name));
        attrs.insert("arn".into(), Value::str(bucket_arn(region, name)));
        // Just made: empty. One taken over stays guarded until a read says otherwise.
        if !taken_over {
            attrs.insert("holds_objects".into(), Value::Bool(false));
        }
        attrs.remove("force_destroy");
        Ok(attrs)
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        let (prior, desired) = (&update.before, &update.after);
        if let Some(r) = object_lock_conflict(prior, desired) {
            return Err(invalid(format!("`{}` {}", r.attr.unwrap_or_default(), r.reason)));
        }
        let client = factory(ctx)?.s3(&ctx.region).await;
        configure(ctx, &client, id, update).await?;
        if update.changes("tags") {
            put_tags(ctx, &client, id, &tags_of(desired)).await?;
        }
        let mut attrs = prior.clone();
        attrs.extend(desired.iter().map(|(k, v)| (k.clone(), v.clone())));
        attrs.remove("force_destroy");
        Ok(attrs)
    }

    async fn delete(&self, ctx: &Ctx, id: &str, prior: &Attrs) -> Result<()> {
        let client = factory(ctx)?.s3(&ctx.region).await;
        if get_bool(prior, "force_destroy") == Some(true) {
            empty_bucket(&client, id, get_bool(prior, "object_lock_enabled") == Some(true)).await?;
        }
        match client.delete_bucket().bucket(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_no_such_bucket(&e) => Ok(()),
            Err(e) if error_code(&e) == Some("BucketNotEmpty") => Err(ProviderError::Invalid(format!(
                "bucket `{id}` holds objects or object versions: set `force_destroy = true` on it and apply, \
                 then delete it (it needs `--allow-destroy`)"
            ))),
            Err(e) => Err(api_error("DeleteBucket", e)),
        }
    }

    /// See the module doc.
    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        let found = owned::tagged(ctx, None, &["s3:bucket"]).await?;
        let want: BTreeMap<String, String> =
            [(TAG_STACK.to_owned(), ctx.stack.clone()), (TAG_ADDRESS.to_owned(), addr.to_string())].into();
        let mine = found.iter().find(|(_, tags)| same_owner(tags, &want));
        Ok(mine.map(|(arn, _)| name_of_arn(arn).to_owned()))
    }

    /// From the region's shared tagging index ([`owned::indexed`]), kept to
    /// the buckets ListBuckets reports in the region (a bucket ARN names no
    /// region, and moto's index holds every region's buckets); that
    /// ListBuckets is sent only when the index holds a bucket not `known`.
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        let found = owned::indexed(ctx, self.type_name(), known).await?;
        if found.is_empty() {
            return Ok(found);
        }
        let here = listed_buckets(&factory(ctx)?.s3(&ctx.region).await, &ctx.region).await?;
        Ok(found.into_iter().filter(|o| here.contains(&o.id)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Value {
        Value::from_json(&serde_json::from_str(text).unwrap())
    }

    #[test]
    fn lifecycle_rules_have_one_canonical_form() {
        let config = json(
            r#"[{"id":"b","enabled":true,"prefix":"","transition":[{"days":90,"storage_class":"DEEP_ARCHIVE"},
                {"days":30,"storage_class":"GLACIER"}],"expiration":{"days":400},"noncurrent_version_transition":[]},
               {"id":"a","enabled":false,"prefix":"logs/"}]"#,
        );
        let c = canonical_lifecycle(&config);
        assert_eq!(
            c,
            json(
                r#"[{"id":"a","enabled":false,"prefix":"logs/"},
                   {"id":"b","enabled":true,"transition":[{"days":30,"storage_class":"GLACIER"},
                    {"days":90,"storage_class":"DEEP_ARCHIVE"}],"expiration":{"days":400}}]"#
            )
        );
        assert_eq!(canonical_lifecycle(&c), c, "idempotent");
    }

    #[test]
    fn lifecycle_rules_round_trip_through_the_sdk_shape() {
        let config = canonical_lifecycle(&json(
            r#"[{"id":"archive","enabled":true,"transition":[{"days":30,"storage_class":"GLACIER"}],
                "expiration":{"days":400},"noncurrent_version_expiration":{"days":30},
                "noncurrent_version_transition":[{"days":7,"storage_class":"STANDARD_IA"}],
                "abort_incomplete_multipart_upload_days":3},
               {"id":"logs","enabled":false,"prefix":"logs/"}]"#,
        ));
        let sent: Vec<LifecycleRule> =
            config.as_list().unwrap().iter().map(|r| lifecycle_rule_of(r).unwrap()).collect();
        assert_eq!(sent[0].filter().and_then(|f| f.prefix()), Some(""), "an unfiltered rule is sent with a filter");
        let read = canonical_lifecycle(&Value::List(sent.iter().map(lifecycle_rule_value).collect()));
        assert_eq!(read, config);
    }

    #[test]
    #[allow(deprecated)]
    fn a_legacy_or_and_prefix_is_read_as_the_prefix() {
        let legacy = LifecycleRule::builder().id("x").prefix("old/").status(ExpirationStatus::Enabled).build().unwrap();
        let and = LifecycleRule::builder()
            .id("y")
            .status(ExpirationStatus::Enabled)
            .filter(
                LifecycleRuleFilter::builder()
                    .and(aws_sdk_s3::types::LifecycleRuleAndOperator::builder().prefix("new/").build())
                    .build(),
            )
            .build()
            .unwrap();
        let read = canonical_lifecycle(&Value::List(vec![lifecycle_rule_value(&legacy), lifecycle_rule_value(&and)]));
        assert_eq!(
            read,
            json(r#"[{"id":"x","enabled":true,"prefix":"old/"},{"id":"y","enabled":true,"prefix":"new/"}]"#)
        );
    }

    #[test]
    fn the_tls_statement_is_added_found_and_removed_keeping_others() {
        let arn = "arn:aws:s3:::b";
        let on = with_tls(None, arn, true).unwrap().unwrap();
        assert!(has_tls_statement(&on, arn));
        assert!(!has_tls_statement(&on, "arn:aws:s3:::other"));
        assert_eq!(with_tls(Some(&on), arn, true).unwrap().as_deref(), Some(on.as_str()), "added once");
        assert_eq!(with_tls(Some(&on), arn, false).unwrap(), None, "the policy goes with its last statement");
        // Written by hand with another Sid, {"AWS": "*"} and list forms: the same statement.
        let theirs = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Read","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
            {"Sid":"tls","Effect":"Deny","Principal":{"AWS":["*"]},"Action":["s3:*"],
             "Resource":["arn:aws:s3:::b/*","arn:aws:s3:::b"],"Condition":{"Bool":{"aws:SecureTransport":["false"]}}}]}"#;
        assert!(has_tls_statement(theirs, arn));
        let off = with_tls(Some(theirs), arn, false).unwrap().unwrap();
        assert!(!has_tls_statement(&off, arn));
        assert!(off.contains("s3:GetObject"), "other statements are kept: {off}");
        assert!(!has_tls_statement(
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}"#,
            arn
        ));
    }

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn a_bucket_holds_data_unless_read_empty() {
        let t = S3Bucket;
        assert!(t.holds_data(&Attrs::new()), "unknown: guarded");
        assert!(t.holds_data(&attrs(&[("holds_objects", Value::Bool(true))])));
        assert!(!t.holds_data(&attrs(&[("holds_objects", Value::Bool(false))])));
    }

    #[test]
    fn deleting_a_bucket_with_objects_needs_force_destroy() {
        let t = S3Bucket;
        let full = attrs(&[("holds_objects", Value::Bool(true))]);
        let desired = attrs(&[("bucket", Value::str("b"))]);
        for intent in [Intent::Delete { destroy: true }, Intent::Replace { desired: &desired, create_first: false }] {
            assert_eq!(t.refuse(&full, intent).len(), 1);
            let mut forced = full.clone();
            forced.insert("force_destroy".into(), Value::Bool(true));
            assert!(t.refuse(&forced, intent).is_empty());
            assert!(t.refuse(&attrs(&[("holds_objects", Value::Bool(false))]), intent).is_empty());
        }
        assert!(t.refuse(&full, Intent::Keep { desired: &desired }).is_empty());
    }

    #[test]
    fn object_lock_needs_versioning() {
        let t = S3Bucket;
        let locked = attrs(&[("object_lock_enabled", Value::Bool(true))]);
        let off = attrs(&[("versioning", Value::Bool(false))]);
        let refused = t.refuse(&locked, Intent::Keep { desired: &off });
        assert_eq!(refused.iter().map(|r| r.attr).collect::<Vec<_>>(), vec![Some("versioning")]);
        assert!(object_lock_conflict(&Attrs::new(), &locked).is_some(), "unset versioning on a new locked bucket");
        let on = attrs(&[("object_lock_enabled", Value::Bool(true)), ("versioning", Value::Bool(true))]);
        assert!(object_lock_conflict(&Attrs::new(), &on).is_none());
        assert!(object_lock_conflict(&Attrs::new(), &off).is_none());
    }

    #[test]
    fn normalize_defaults_bucket_keys_with_a_kms_key() {
        let mut d = attrs(&[("kms_key_id", Value::str("arn:aws:kms:us-east-1:1:key/x"))]);
        S3Bucket.normalize(&mut d);
        assert_eq!(d["bucket_key_enabled"], Value::Bool(true));
        let mut off = attrs(&[("kms_key_id", Value::str("k")), ("bucket_key_enabled", Value::Bool(false))]);
        S3Bucket.normalize(&mut off);
        assert_eq!(off["bucket_key_enabled"], Value::Bool(false));
        let mut none = Attrs::new();
        S3Bucket.normalize(&mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn arns_and_ownership() {
        assert_eq!(bucket_arn("us-east-1", "b"), "arn:aws:s3:::b");
        assert_eq!(bucket_arn("cn-north-1", "b"), "arn:aws-cn:s3:::b");
        assert_eq!(name_of_arn("arn:aws:s3:::acme-backups"), "acme-backups");
        let want: BTreeMap<String, String> =
            [(TAG_STACK.to_owned(), "s".to_owned()), (TAG_ADDRESS.to_owned(), "s3_bucket.a".to_owned())].into();
        let mut tags = want.clone();
        tags.insert("Team".into(), "db".into());
        assert!(same_owner(&tags, &want));
        tags.insert(TAG_ADDRESS.into(), "s3_bucket.b".into());
        assert!(!same_owner(&tags, &want));
        assert!(!same_owner(&BTreeMap::new(), &want));
    }

    #[test]
    fn head_bucket_answers_are_told_apart() {
        use aws_sdk_s3::operation::head_bucket::HeadBucketError;
        use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        let answer = |status: u16, code: &str| {
            let err = HeadBucketError::generic(ErrorMetadata::builder().code(code).build());
            SdkError::service_error(err, HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty()))
        };
        assert!(is_no_such_bucket(&answer(404, "NotFound")) && !is_forbidden(&answer(404, "NotFound")));
        assert!(is_forbidden(&answer(403, "Forbidden")) && !is_no_such_bucket(&answer(403, "Forbidden")));
        assert!(!is_forbidden(&answer(301, "PermanentRedirect")));
    }

    #[test]
    fn only_changed_settings_are_sent() {
        let prior = attrs(&[("versioning", Value::Bool(true)), ("lifecycle_rule", Value::List(vec![]))]);
        let desired = attrs(&[("versioning", Value::Bool(true)), ("lifecycle_rule", Value::List(vec![]))]);
        let same = S3Bucket.planned_update(&prior, &desired, &[]);
        assert!(same.to("versioning").is_none() && same.to("lifecycle_rule").is_none());
        assert!(same.to("tls_only").is_none(), "unmanaged");
        let off = attrs(&[("versioning", Value::Bool(false))]);
        assert_eq!(S3Bucket.planned_update(&prior, &off, &[]).to("versioning"), Some(&Value::Bool(false)));
    }

    #[test]
    fn the_bucket_holding_the_state_is_never_deleted_unversioned_or_expired() {
        let t = S3Bucket;
        let home = StateHome {
            bucket: "tf-state".into(),
            key: "prod/state.json".into(),
            region: "us-east-1".into(),
            kms_key_id: None,
        };
        let holding = attrs(&[("bucket", Value::str("tf-state")), ("versioning", Value::Bool(true))]);
        let other = attrs(&[("bucket", Value::str("data")), ("versioning", Value::Bool(true))]);
        let keep = attrs(&[("bucket", Value::str("tf-state"))]);
        for intent in [
            Intent::Delete { destroy: true },
            Intent::Delete { destroy: false },
            Intent::Replace { desired: &keep, create_first: false },
        ] {
            let refused = t.refuse_for_state(&holding, intent, &home);
            assert_eq!(refused.len(), 1, "{intent:?}");
            assert!(refused[0].reason.contains("s3://tf-state/prod/state.json"), "{}", refused[0].reason);
            assert!(refused[0].hints.iter().any(|h| h.contains("state pull") && h.contains("state push")));
            assert!(t.refuse_for_state(&other, intent, &home).is_empty(), "another bucket");
        }
        assert!(t.refuse_for_state(&holding, Intent::Keep { desired: &keep }, &home).is_empty());
        let suspended = attrs(&[("versioning", Value::Bool(false))]);
        let refused = t.refuse_for_state(&holding, Intent::Keep { desired: &suspended }, &home);
        assert_eq!(refused.iter().map(|r| r.attr).collect::<Vec<_>>(), [Some("versioning")]);
        // Rules that expire the state object; ones that cannot touch it pass.
        let rules = |text: &str| attrs(&[("lifecycle_rule", json(text))]);
        let expiring = rules(r#"[{"id":"tidy","enabled":true,"expiration":{"days":30}}]"#);
        let refused = t.refuse_for_state(&holding, Intent::Keep { desired: &expiring }, &home);
        assert_eq!(refused.len(), 1);
        assert!(refused[0].reason.contains("`tidy`"), "{}", refused[0].reason);
        for harmless in [
            r#"[{"id":"logs","enabled":true,"prefix":"logs/","expiration":{"days":30}}]"#,
            r#"[{"id":"off","enabled":false,"expiration":{"days":30}}]"#,
            r#"[{"id":"old","enabled":true,"noncurrent_version_expiration":{"days":90}}]"#,
        ] {
            assert!(
                t.refuse_for_state(&holding, Intent::Keep { desired: &rules(harmless) }, &home).is_empty(),
                "{harmless}"
            );
        }
        let with_prefix = rules(r#"[{"id":"p","enabled":true,"prefix":"prod/","expiration":{"days":30}}]"#);
        assert_eq!(t.refuse_for_state(&holding, Intent::Keep { desired: &with_prefix }, &home).len(), 1);
        // A rule already there is not a change this plan makes.
        let mut already = holding.clone();
        already.extend(expiring.clone());
        assert!(t.refuse_for_state(&already, Intent::Keep { desired: &expiring }, &home).is_empty());
    }
}
