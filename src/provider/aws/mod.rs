//! AWS resource types, the client factory, and helpers they share.

pub mod backup_plan;
pub mod backup_selection;
pub mod backup_vault;
pub mod client;
pub mod cloudwatch_alarm;
pub mod cloudwatch_log_group;
pub mod data_sources;
pub mod db_cluster;
pub mod db_cluster_instance;
pub mod db_cluster_parameter_group;
pub mod db_instance;
pub mod db_parameter_group;
pub mod db_proxy;
pub mod db_proxy_target;
pub mod db_subnet_group;
pub mod ec2;
pub mod iam_policy;
pub mod iam_role;
pub mod kms;
pub mod kms_key;
pub mod kms_replica_key;
pub mod owned;
pub mod parameter_group;
pub mod policy;
pub mod rds;
pub mod rds_catalog;
pub mod rds_fields;
pub mod restore_testing_plan;
pub mod restore_testing_selection;
pub mod s3_bucket;
pub mod s3_bucket_replication;
pub mod s3_object_store;
pub mod secret;
pub mod secret_rotation;
pub mod security_group;
pub mod sns_topic;
pub mod sns_topic_subscription;
pub mod subnet;
pub mod vpc;
pub mod vpc_endpoint;

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub use client::{AwsFactory, AwsOptions, CallCounter};

use super::waiter::{Backoff, Budget, retry_within};
use super::{Clients, Ctx, ProviderError, ResourceType, waiter};
use crate::value::{Attrs, Value};

/// Every AWS resource type, for the registry.
pub fn all_types() -> Vec<Arc<dyn ResourceType>> {
    vec![
        Arc::new(kms_key::KmsKey),
        Arc::new(kms_replica_key::KmsReplicaKey),
        Arc::new(iam_role::IamRole),
        Arc::new(iam_policy::IamPolicy),
        Arc::new(db_subnet_group::DbSubnetGroup),
        Arc::new(db_cluster::DbCluster),
        Arc::new(db_cluster_instance::DbClusterInstance),
        Arc::new(db_instance::DbInstance),
        Arc::new(db_parameter_group::DbParameterGroup),
        Arc::new(db_cluster_parameter_group::DbClusterParameterGroup),
        Arc::new(db_proxy::DbProxy),
        Arc::new(db_proxy_target::DbProxyTarget),
        Arc::new(vpc::Vpc),
        Arc::new(vpc_endpoint::VpcEndpoint),
        Arc::new(subnet::Subnet),
        Arc::new(security_group::SecurityGroup),
        Arc::new(sns_topic::SnsTopic),
        Arc::new(sns_topic_subscription::SnsTopicSubscription),
        Arc::new(secret::Secret),
        Arc::new(secret_rotation::SecretRotation),
        Arc::new(cloudwatch_alarm::CloudwatchAlarm),
        Arc::new(cloudwatch_log_group::CloudwatchLogGroup),
        Arc::new(backup_vault::BackupVault),
        Arc::new(backup_plan::BackupPlan),
        Arc::new(backup_selection::BackupSelection),
        Arc::new(restore_testing_plan::RestoreTestingPlan),
        Arc::new(restore_testing_selection::RestoreTestingSelection),
        Arc::new(s3_bucket::S3Bucket),
        Arc::new(s3_bucket_replication::S3BucketReplication),
    ]
}

impl Clients for AwsFactory {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn pace(&self) -> f64 {
        self.pace()
    }
}

/// The AWS client factory of the run `ctx` belongs to; every AWS resource
/// type gets its clients here and nowhere else.
pub fn factory(ctx: &Ctx) -> Result<&AwsFactory, ProviderError> {
    ctx.clients.as_any().downcast_ref().ok_or(ProviderError::WrongClients { wanted: "AWS" })
}

/// Default `description` of resources that have one.
pub const DEFAULT_DESCRIPTION: &str = "Managed by pgstack";

/// How many per-resource read calls (tags, policies) a `read_many` runs at once:
/// fast refresh without tripping API rate limits.
pub const PER_RESOURCE_CONCURRENCY: usize = 8;

/// Reads each of `ids` with its own call `read` (`None`: it no longer
/// exists), [`PER_RESOURCE_CONCURRENCY`] at a time: the `read_many` of a
/// type whose API reads one object per call.
pub async fn read_each<'a, F, Fut>(ids: &'a [String], read: F) -> Result<BTreeMap<String, Attrs>, ProviderError>
where
    F: Fn(&'a str) -> Fut,
    Fut: Future<Output = Result<Option<Attrs>, ProviderError>> + 'a,
{
    use futures::{StreamExt, TryStreamExt};
    // Collected first: a lazy iterator of futures here is not `Send` enough for `async_trait`.
    let reads: Vec<_> = ids
        .iter()
        .map(|id| {
            let read = read(id);
            async move { Ok::<_, ProviderError>(read.await?.map(|a| (id.clone(), a))) }
        })
        .collect();
    let found: Vec<Option<(String, Attrs)>> =
        futures::stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await?;
    Ok(found.into_iter().flatten().collect())
}

/// What [`api_error`] reads of a raw HTTP response.
pub trait RawResponse: std::fmt::Debug + 'static {
    fn status(&self) -> u16;
    /// The body, when it is in memory.
    fn body_bytes(&self) -> Option<&[u8]>;
}

impl RawResponse for HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
    fn body_bytes(&self) -> Option<&[u8]> {
        self.body().bytes()
    }
}

/// Most characters of a raw error body quoted in a message.
const RAW_BODY_LIMIT: usize = 300;

/// Maps an SDK error to a [`ProviderError`], keeping AWS's error code and
/// message. An answer the SDK could not parse into a code shows its HTTP
/// status and the start of its body; a request that got no answer shows one
/// plain line (the [`client`] interceptors put it there).
pub fn api_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: RawResponse,
{
    match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let status = se.raw().status();
            let (code, message) = match e.code() {
                Some(code) => (code.to_owned(), e.message().unwrap_or_default().to_owned()),
                None => (format!("HTTP {status}"), e.message().map_or_else(|| body_text(se.raw()), str::to_owned)),
            };
            let retryable = waiter::is_throttling(&code) || status >= 500;
            ProviderError::Api { operation, code, message, retryable }
        }
        _ if find::<client::Unreachable>(&err).is_some() => {
            ProviderError::Unreachable { operation, message: transport_message(&err) }
        }
        _ => ProviderError::Transport { operation, message: transport_message(&err) },
    }
}

/// The first error of type `T` in the chain of `err`.
fn find<'a, T: std::error::Error + 'static>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    let mut e = Some(err);
    while let Some(cur) = e {
        if let Some(t) = cur.downcast_ref::<T>() {
            return Some(t);
        }
        e = cur.source();
    }
    None
}

/// The text of a raw body, tags stripped and whitespace collapsed, truncated.
fn body_text(raw: &impl RawResponse) -> String {
    let bytes = raw.body_bytes().unwrap_or_default();
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if in_tag => {}
            c if c.is_whitespace() => out.push(' '),
            c => out.push(c),
        }
    }
    let text = out.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(RAW_BODY_LIMIT) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None if text.is_empty() => "(empty body)".to_owned(),
        None => text,
    }
}

/// One line for an error without an AWS answer: pgstack's own message when
/// an interceptor left one, otherwise the innermost cause.
fn transport_message(err: &(dyn std::error::Error + 'static)) -> String {
    match (find::<client::Unreachable>(err), find::<client::LostReply>(err)) {
        (Some(e), _) => e.to_string(),
        (None, Some(e)) => e.to_string(),
        (None, None) => client::plain_cause(err),
    }
}

/// Moves the tags of `arn` from `old` to `new` with TagResource and
/// UntagResource, for the SDKs whose tag calls take `Tags` and `TagKeys` and
/// name the object with `ResourceArn` (SNS, CloudWatch), or with the setter
/// given as `setter = id` (Secrets Manager: `secret_id = arn`); `to_tags`
/// makes the SDK's tag list from a map and may fail. Used inside a function
/// returning [`ProviderError`]s: a failed call returns from it.
macro_rules! sync_arn_tags {
    ($client:expr, $setter:ident = $arn:expr, $old:expr, $new:expr, $to_tags:expr) => {{
        let (set, remove) = $crate::provider::aws::tag_changes($old, $new);
        if !set.is_empty() {
            $client
                .tag_resource()
                .$setter($arn)
                .set_tags(Some($to_tags(&set)?))
                .send()
                .await
                .map_err(|e| $crate::provider::aws::api_error("TagResource", e))?;
        }
        if !remove.is_empty() {
            $client
                .untag_resource()
                .$setter($arn)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(|e| $crate::provider::aws::api_error("UntagResource", e))?;
        }
    }};
    ($client:expr, $arn:expr, $old:expr, $new:expr, $to_tags:expr) => {
        $crate::provider::aws::sync_arn_tags!($client, resource_arn = $arn, $old, $new, $to_tags)
    };
}
pub(crate) use sync_arn_tags;

/// The error code of an SDK error, if AWS sent one.
pub fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}

/// How long a request naming an IAM principal is repeated while AWS refuses
/// the principal: IAM takes seconds, rarely a minute, to make a role this run
/// just created usable by other services.
pub const IAM_PROPAGATION_WAIT: Duration = Duration::from_secs(120);

/// A refusal AWS documents as passing with time, of a request that made
/// nothing, so sending it again is safe (creates included): an object just
/// made not visible yet to another call, an IAM principal not propagated
/// yet, an RDS object busy with a change. Matched on the exact error code,
/// and on a fragment of the message where the code alone says less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settling {
    pub code: &'static str,
    pub message: Option<&'static str>,
    /// What a retry waits for, for the progress line: "retrying OPERATION
    /// after WAITING_FOR" ("the new VPC is not visible yet").
    pub waiting_for: &'static str,
    /// How long it may last at most, from the first refusal.
    pub within: Duration,
}

impl Settling {
    pub const fn new(code: &'static str, waiting_for: &'static str, within: Duration) -> Settling {
        Settling { code, message: None, waiting_for, within }
    }

    /// Only when the message also contains `fragment`.
    pub const fn with_message(self, fragment: &'static str) -> Settling {
        Settling { message: Some(fragment), ..self }
    }

    /// Whether AWS answered `err` with this refusal.
    pub fn matches<E: ProvideErrorMetadata, R>(&self, err: &SdkError<E, R>) -> bool {
        match err {
            SdkError::ServiceError(se) => {
                se.err().code() == Some(self.code)
                    && self.message.is_none_or(|m| se.err().message().is_some_and(|text| text.contains(m)))
            }
            _ => false,
        }
    }
}

/// Sends `call` (one AWS request) again while AWS answers one of
/// `settling`, each for up to its own [`Settling::within`], with `backoff`
/// and a progress line per retry; any other answer (and a settling one that
/// outlasts its limit) is returned as it came. The one retry helper for
/// refusals that pass: callers list what passes for the request they send.
pub async fn send_settling<O, E, R, F, Fut>(
    ctx: &Ctx,
    operation: &str,
    settling: &[Settling],
    backoff: Backoff,
    call: F,
) -> std::result::Result<O, SdkError<E, R>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<O, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    let budget = Budget { limit: Duration::MAX, backoff: ctx.scaled(backoff), progress: &ctx.progress };
    let reason =
        |e: &SdkError<E, R>| settling.iter().find(|s| s.matches(e)).map(|s| (s.waiting_for.to_owned(), s.within));
    retry_within(budget, operation, reason, call).await
}

/// The `tags` attribute as a string map (non-string values are skipped).
pub fn tags_of(attrs: &Attrs) -> BTreeMap<String, String> {
    attrs
        .get("tags")
        .and_then(Value::as_map)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned()))).collect())
        .unwrap_or_default()
}

/// Tags to set (new or changed) and tag keys to remove, going from `old` to `new`.
pub fn tag_changes(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let set = new.iter().filter(|(k, v)| old.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let remove = old.keys().filter(|k| !new.contains_key(*k)).cloned().collect();
    (set, remove)
}

/// A client of the SDK crate `$sdk` answered by aws-smithy-mocks `$rules`
/// (a slice of `&Rule`), for unit tests. Built by hand: the SDKs' own
/// `mock_client!` needs their `test-util` feature, which would rebuild every
/// SDK crate.
#[cfg(test)]
macro_rules! mocked_client {
    ($sdk:ident, $rules:expr) => {{
        use aws_smithy_mocks::{MockResponseInterceptor, RuleMode, create_mock_http_client};
        use $sdk::config::{BehaviorVersion, Credentials, Region};
        let rules: &[&aws_smithy_mocks::Rule] = $rules;
        let interceptor =
            rules.iter().fold(MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny), |i, r| i.with_rule(r));
        let conf = $sdk::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build();
        $sdk::Client::from_conf(conf)
    }};
}
#[cfg(test)]
pub(crate) use mocked_client;

/// Reads a string attribute.
pub fn get_str<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a str> {
    attrs.get(name).and_then(Value::as_str)
}

/// Reads a bool attribute.
pub fn get_bool(attrs: &Attrs, name: &str) -> Option<bool> {
    attrs.get(name).and_then(Value::as_bool)
}

/// Reads an integer attribute.
pub fn get_i64(attrs: &Attrs, name: &str) -> Option<i64> {
    attrs.get(name).and_then(Value::as_i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    use aws_sdk_ec2::operation::create_vpc::CreateVpcError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    #[test]
    fn factory_is_found_only_among_aws_clients() {
        let aws = Ctx::new(Arc::new(AwsFactory::new(AwsOptions::default())), "us-east-1", "t");
        assert!(factory(&aws).is_ok());
        let other = Ctx::new(Arc::new(crate::provider::fake::NoClients), "us-east-1", "t");
        let err = factory(&other).err();
        assert!(matches!(err, Some(ProviderError::WrongClients { wanted: "AWS" })), "{err:?}");
    }

    fn service_error(status: u16, meta: ErrorMetadata, body: &str) -> SdkError<CreateVpcError, HttpResponse> {
        let response = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
        SdkError::service_error(CreateVpcError::generic(meta), response)
    }

    #[test]
    fn api_errors_keep_code_and_message_and_tell_retryable_ones() {
        let meta = ErrorMetadata::builder().code("InvalidVpc.Range").message("The CIDR is invalid.").build();
        let e = api_error("CreateVpc", service_error(400, meta, ""));
        assert_eq!(e.to_string(), "CreateVpc: InvalidVpc.Range: The CIDR is invalid.");
        assert!(matches!(e, ProviderError::Api { retryable: false, .. }));
        let throttled = ErrorMetadata::builder().code("RequestLimitExceeded").build();
        assert!(matches!(
            api_error("CreateVpc", service_error(503, throttled, "")),
            ProviderError::Api { retryable: true, .. }
        ));
        let internal = ErrorMetadata::builder().code("InternalError").build();
        assert!(matches!(
            api_error("CreateVpc", service_error(500, internal, "")),
            ProviderError::Api { retryable: true, .. }
        ));
    }

    #[test]
    fn an_answer_without_a_code_shows_status_and_body_text() {
        let body = "<html><body><h1>Internal Server Error</h1>\n<p>boom</p></body></html>";
        let e = api_error("CreateVpc", service_error(500, ErrorMetadata::builder().build(), body));
        assert_eq!(e.to_string(), "CreateVpc: HTTP 500: Internal Server Error boom");
        let e = api_error("CreateVpc", service_error(404, ErrorMetadata::builder().build(), ""));
        assert_eq!(e.to_string(), "CreateVpc: HTTP 404: (empty body)");
        let long = "x".repeat(1000);
        let e = api_error("CreateVpc", service_error(502, ErrorMetadata::builder().build(), &long));
        assert!(e.to_string().ends_with("..."), "{e}");
        assert!(e.to_string().len() < 400, "{e}");
    }

    #[test]
    fn tag_changes_sets_and_removes() {
        let old: BTreeMap<_, _> =
            [("a", "1"), ("b", "2")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let new: BTreeMap<_, _> =
            [("a", "1"), ("b", "3"), ("c", "4")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (set, remove) = tag_changes(&old, &new);
        assert_eq!(set.keys().collect::<Vec<_>>(), vec!["b", "c"]);
        assert!(remove.is_empty());
        let (_, remove) = tag_changes(&new, &old);
        assert_eq!(remove, vec!["c".to_string()]);
    }
}
