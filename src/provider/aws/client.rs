//! The AWS client factory: the only place that builds SDK config.
//!
//! Region, profile, endpoint overrides (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_<SERVICE>`), retries and timeouts are decided here, once.
//! Every client carries the call counter so benchmarks and `-v` can report
//! API calls per service.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_ec2::config::retry::{RetryPartition, TokenBucket};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextMut, InterceptorContext,
};
use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction, RetryClassifierPriority};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;

/// Settings from the command line that shape SDK config.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// Named profile (`--profile`); otherwise the standard chain decides.
    pub profile: Option<String>,
    /// Endpoint for every service, overriding `AWS_ENDPOINT_URL` (tests use it).
    pub endpoint_url: Option<String>,
    /// Static access key and secret, overriding the credential chain (tests use it).
    pub static_credentials: Option<(String, String)>,
    /// What pauses between retries and polls are multiplied by (`None`: 1).
    /// Tests of waits and retries make them shorter; see [`crate::provider::Clients::pace`].
    pub pause_scale: Option<f64>,
}

impl AwsOptions {
    /// `PGSTACK_PAUSE_SCALE`, a test knob: a number from 0 to 1 that shortens
    /// every pause between retries and polls (never a limit). Anything else
    /// is ignored.
    pub fn pause_scale_from_env() -> Option<f64> {
        std::env::var("PGSTACK_PAUSE_SCALE").ok()?.parse::<f64>().ok().filter(|s| (0.0..=1.0).contains(s))
    }
}

/// Counts API calls per service and operation: one per operation, retries
/// not counted. Counts saturate at `u64::MAX` rather than wrap or panic.
#[derive(Debug, Default)]
pub struct CallCounter {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl CallCounter {
    /// Calls so far, by "service:operation".
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Calls so far, by service.
    pub fn by_service(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (k, v) in self.snapshot() {
            let service = k.split(':').next().unwrap_or_default().to_owned();
            let n = out.entry(service).or_insert(0u64);
            *n = n.saturating_add(v);
        }
        out
    }

    pub fn total(&self) -> u64 {
        self.snapshot().values().fold(0, |a, b| a.saturating_add(*b))
    }
}

#[derive(Debug, Clone)]
struct CountingInterceptor(Arc<CallCounter>);

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "pgstack-call-counter"
    }

    // Not `read_before_execution`: the operation's metadata is not in the bag yet there.
    fn read_before_serialization(
        &self,
        _ctx: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = cfg
            .load::<Metadata>()
            .map(|m| format!("{}:{}", m.service().to_lowercase(), m.name()))
            .unwrap_or_else(|| "unknown:unknown".to_owned());
        if let Ok(mut c) = self.0.counts.lock() {
            let n = c.entry(key).or_insert(0);
            *n = n.saturating_add(1);
        }
        Ok(())
    }
}

/// Stops the SDK from retrying a create that may have been carried out: its
/// reply never arrived (timeout, dropped connection, unreadable response) or
/// was a 5xx other than 503 (AWS's `InternalError`/`InternalFailure` can come
/// after the work was done; 502 and 504 come from a gateway the request may
/// have passed). Most creates are not idempotent (CreateVpc, CreateKey), so a
/// blind retry makes a second object or fails with a conflict. The error
/// becomes a plain, non-retryable one and the engine recovers by finding the
/// object by its ownership tags. Throttling (4xx) and 503 (ServiceUnavailable,
/// SlowDown: load shed before any work) mean the request was refused and stay
/// retried.
#[derive(Debug)]
struct NoBlindCreateRetry;

/// The reply to a create never arrived, or cannot tell whether it was done.
#[derive(Debug, thiserror::Error)]
#[error("the reply to {operation} was lost: {cause}")]
pub struct LostReply {
    operation: String,
    cause: String,
}

/// True for operations that make something new and are not idempotent.
/// `CreateTags` only sets values and is safe to repeat; a repeated
/// `CreateAlias` fails with `AlreadyExistsException`, which the KMS provider
/// resolves by the alias's target.
pub fn is_create(operation: &str) -> bool {
    !matches!(operation, "CreateTags" | "CreateAlias")
        && ["Create", "Run", "Allocate", "Copy", "Generate", "Import", "Replicate", "Restore"]
            .iter()
            .any(|p| operation.starts_with(p))
}

/// True when the connection was never made (refused, no route, name not
/// resolved): the request did not leave, so retrying it is safe.
fn never_sent(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut e = Some(err);
    while let Some(cur) = e {
        let refused = cur.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable
            )
        });
        // hyper-util's marker for a failure while connecting (DNS, TCP, TLS).
        if refused || cur.to_string().starts_with("client error (Connect)") {
            return true;
        }
        e = cur.source();
    }
    false
}

/// True for an HTTP status that leaves open whether the request was carried out.
fn is_ambiguous_status(status: u16) -> bool {
    status >= 500 && status != 503
}

impl Intercept for NoBlindCreateRetry {
    fn name(&self) -> &'static str {
        "pgstack-no-blind-create-retry"
    }

    fn modify_before_attempt_completion(
        &self,
        ctx: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(operation) = cfg.load::<Metadata>().map(|m| m.name().to_owned()).filter(|n| is_create(n)) else {
            return Ok(());
        };
        let status = ctx.response().map(|r| r.status().as_u16());
        if let Some(Err(e)) = ctx.output_or_error_mut() {
            let cause = if never_sent(&*e) {
                return Ok(());
            } else if e.is_timeout_error() || e.is_connector_error() || e.is_response_error() {
                plain_cause(&*e)
            } else if e.is_operation_error()
                && let Some(status) = status.filter(|s| is_ambiguous_status(*s))
            {
                format!("answered HTTP {status}, which leaves open whether it was done")
            } else {
                return Ok(());
            };
            *e = OrchestratorError::other(LostReply { operation, cause });
        }
        Ok(())
    }
}

/// Attempts at a request whose connection could not be made (refused, no
/// route, name not resolved) before it fails: a blip of a second passes, an
/// endpoint that is down fails in about a second instead of after every
/// attempt throttling gets (10, about 40 s).
pub const CONNECT_ATTEMPTS: u32 = 3;

/// Ends the retries of a request that could not connect [`CONNECT_ATTEMPTS`]
/// times: its error becomes [`Unreachable`], which [`FinalErrors`] does not retry.
#[derive(Debug)]
struct FewConnectRetries;

impl Intercept for FewConnectRetries {
    fn name(&self) -> &'static str {
        "pgstack-few-connect-retries"
    }

    fn modify_before_attempt_completion(
        &self,
        ctx: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<RequestAttempts>().map_or(1, RequestAttempts::attempts) < CONNECT_ATTEMPTS {
            return Ok(());
        }
        let endpoint = cfg.load::<AttemptEndpoint>().map_or_else(|| "AWS".to_owned(), |e| e.0.clone());
        if let Some(Err(e)) = ctx.output_or_error_mut()
            && e.is_connector_error()
            && never_sent(&*e)
        {
            let cause = plain_cause(&*e);
            *e = OrchestratorError::other(Unreachable { endpoint, cause });
        }
        Ok(())
    }
}

/// Forbids retrying a [`LostReply`] or a final [`Unreachable`]. Needed
/// besides replacing the error: the SDK's status-code classifier looks at
/// the response (a 500) on its own.
#[derive(Debug)]
struct FinalErrors;

impl ClassifyRetry for FinalErrors {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.output_or_error() {
            Some(Err(e))
                if std::error::Error::source(e).is_some_and(|s| s.is::<LostReply>() || s.is::<Unreachable>()) =>
            {
                RetryAction::RetryForbidden
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "pgstack-final-errors"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// A request that could not reach AWS or got no answer in time, in one line.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach {endpoint}: {cause}")]
pub struct Unreachable {
    endpoint: String,
    cause: String,
}

/// Replaces connection failures and timeouts, once the SDK has given up on
/// them, with [`Unreachable`]: the endpoint and the innermost cause, instead
/// of the SDK's nested error structures.
#[derive(Debug)]
struct PlainNetworkErrors;

/// The endpoint of the operation's last attempt, kept for [`PlainNetworkErrors`]:
/// the request is gone by the time a connection failure is reported.
#[derive(Debug, Clone)]
struct AttemptEndpoint(String);

impl Storable for AttemptEndpoint {
    type Storer = StoreReplace<Self>;
}

impl Intercept for PlainNetworkErrors {
    fn name(&self) -> &'static str {
        "pgstack-plain-network-errors"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(AttemptEndpoint(endpoint_of(ctx.request().uri())));
        Ok(())
    }

    fn modify_before_completion(
        &self,
        ctx: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let endpoint = cfg.load::<AttemptEndpoint>().map_or_else(|| "AWS".to_owned(), |e| e.0.clone());
        if let Some(Err(e)) = ctx.output_or_error_mut()
            && (e.is_connector_error() || e.is_timeout_error())
        {
            let cause = plain_cause(&*e);
            *e = OrchestratorError::other(Unreachable { endpoint, cause });
        }
        Ok(())
    }
}

/// `scheme://host[:port]` of a request URI (no path or query).
fn endpoint_of(uri: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let host_len = rest.find(['/', '?']).unwrap_or(rest.len());
    format!("{}{}", &uri[..uri.len() - rest.len()], &rest[..host_len])
}

/// The innermost cause of an error, its first letter in lower case
/// ("connection refused (os error 111)"): what went wrong, without the layers
/// that carried it.
pub fn plain_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = err;
    while let Some(next) = innermost.source() {
        innermost = next;
    }
    let text = innermost.to_string();
    let mut chars = text.chars();
    match (chars.next(), chars.clone().next()) {
        // "Connection refused" reads better mid-sentence; "TLS ..." keeps its case.
        (Some(first), Some(second)) if !second.is_uppercase() => first.to_lowercase().chain(chars).collect(),
        _ => text,
    }
}

/// A retry partition of its own for `service` in `region` whose token bucket
/// never runs dry. The SDK's default quota (500 tokens per service and
/// region, shared process-wide; 5 per retry, 10 per retried timeout, back
/// only when a retry succeeds or 1 per first-try success, no refill over
/// time) empties under sustained throttling, after which every call fails at
/// its first throttle without any retry. pgstack makes few calls and bounds
/// its retries by attempts and deadlines, so it needs no such breaker.
fn unlimited_retry_quota(service: &str, region: &str) -> RetryPartition {
    RetryPartition::custom(format!("pgstack-{service}-{region}")).token_bucket(TokenBucket::unlimited()).build()
}

/// Builds per-region SDK config and clients. Cheap to clone via `Arc`.
pub struct AwsFactory {
    opts: AwsOptions,
    configs: tokio::sync::Mutex<HashMap<String, SdkConfig>>,
    calls: Arc<CallCounter>,
}

macro_rules! client {
    ($fn:ident, $krate:ident) => {
        #[doc = concat!("A `", stringify!($krate), "` client for `region`.")]
        pub async fn $fn(&self, region: &str) -> $krate::Client {
            let sdk = self.sdk_config(region).await;
            let conf = $krate::config::Builder::from(&sdk)
                .retry_partition(unlimited_retry_quota(stringify!($fn), region))
                .interceptor(CountingInterceptor(self.calls.clone()))
                .interceptor(NoBlindCreateRetry)
                .interceptor(FewConnectRetries)
                .retry_classifier(FinalErrors)
                .interceptor(PlainNetworkErrors)
                .build();
            $krate::Client::from_conf(conf)
        }
    };
}

impl AwsFactory {
    pub fn new(opts: AwsOptions) -> Self {
        AwsFactory { opts, configs: tokio::sync::Mutex::new(HashMap::new()), calls: Arc::default() }
    }

    pub fn calls(&self) -> &Arc<CallCounter> {
        &self.calls
    }

    /// The factor on every pause of this run ([`AwsOptions::pause_scale`]).
    pub fn pace(&self) -> f64 {
        self.opts.pause_scale.unwrap_or(1.0)
    }

    /// SDK config for one region, loaded once from the standard chain.
    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        let mut configs = self.configs.lock().await;
        if let Some(c) = configs.get(region) {
            return c.clone();
        }
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_owned())).timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .operation_timeout(Duration::from_secs(300))
                    .build(),
            );
        // AWS_MAX_ATTEMPTS / AWS_RETRY_MODE win when set; otherwise retry
        // throttling and 5xx harder than the SDK's default of 3 attempts
        // (at 30% failed attempts, 10 attempts fail about once in 170,000
        // calls; the engine's own retries cover the rest, see docs/design.md).
        if std::env::var_os("AWS_MAX_ATTEMPTS").is_none() && std::env::var_os("AWS_RETRY_MODE").is_none() {
            loader = loader.retry_config(
                RetryConfig::standard()
                    .with_max_attempts(10)
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(20)),
            );
        }
        if let Some(p) = &self.opts.profile {
            loader = loader.profile_name(p);
        }
        if let Some(url) = &self.opts.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some((key, secret)) = &self.opts.static_credentials {
            loader = loader.credentials_provider(aws_sdk_sts::config::Credentials::new(
                key,
                secret,
                None,
                None,
                "pgstack-static",
            ));
        }
        let sdk = loader.load().await;
        configs.insert(region.to_owned(), sdk.clone());
        sdk
    }

    client!(ec2, aws_sdk_ec2);
    client!(rds, aws_sdk_rds);
    client!(kms, aws_sdk_kms);
    client!(secretsmanager, aws_sdk_secretsmanager);
    client!(iam, aws_sdk_iam);
    client!(sts, aws_sdk_sts);
    client!(sns, aws_sdk_sns);
    client!(cloudwatch, aws_sdk_cloudwatch);
    client!(logs, aws_sdk_cloudwatchlogs);
    client!(backup, aws_sdk_backup);
    client!(tagging, aws_sdk_resourcegroupstagging);
    client!(lambda, aws_sdk_lambda);

    /// An S3 client; path-style addressing when an endpoint is overridden
    /// (local emulators do not serve virtual-hosted buckets).
    pub async fn s3(&self, region: &str) -> aws_sdk_s3::Client {
        let sdk = self.sdk_config(region).await;
        let overridden = sdk.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(overridden)
            .retry_partition(unlimited_retry_quota("s3", region))
            .interceptor(CountingInterceptor(self.calls.clone()))
            .interceptor(NoBlindCreateRetry)
            .interceptor(FewConnectRetries)
            .retry_classifier(FinalErrors)
            .interceptor(PlainNetworkErrors)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_are_told_from_other_operations() {
        assert!(is_create("CreateVpc") && is_create("CreateKey") && is_create("CreateDBCluster"));
        assert!(is_create("ReplicateKey") && is_create("CreateRole"));
        assert!(!is_create("DescribeVpcs") && !is_create("ModifyDBCluster") && !is_create("DeleteVpc"));
        assert!(!is_create("CreateTags") && !is_create("CreateAlias"), "safe to repeat");
    }

    #[test]
    fn only_503_among_5xx_says_nothing_was_done() {
        assert!(is_ambiguous_status(500) && is_ambiguous_status(502) && is_ambiguous_status(504));
        assert!(!is_ambiguous_status(503) && !is_ambiguous_status(400) && !is_ambiguous_status(200));
    }

    #[test]
    fn endpoints_lose_path_and_query() {
        assert_eq!(endpoint_of("http://127.0.0.1:1/?Action=DescribeVpcs"), "http://127.0.0.1:1");
        assert_eq!(endpoint_of("https://ec2.us-east-1.amazonaws.com/"), "https://ec2.us-east-1.amazonaws.com");
        assert_eq!(endpoint_of("https://kms.eu-west-1.amazonaws.com"), "https://kms.eu-west-1.amazonaws.com");
    }

    /// Counts the attempts of every request of the client it is added to.
    #[derive(Debug, Default, Clone)]
    struct Attempts(Arc<std::sync::atomic::AtomicU32>);

    impl Intercept for Attempts {
        fn name(&self) -> &'static str {
            "test-attempts"
        }

        fn read_before_attempt(
            &self,
            _ctx: &BeforeTransmitInterceptorContextRef<'_>,
            _rc: &RuntimeComponents,
            _cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    /// An endpoint nothing listens on fails after [`CONNECT_ATTEMPTS`]
    /// attempts (not the 10 throttling gets), naming the endpoint.
    #[tokio::test]
    async fn an_endpoint_nothing_listens_on_fails_after_a_few_attempts() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let factory = AwsFactory::new(AwsOptions {
            endpoint_url: Some(format!("http://127.0.0.1:{port}")),
            static_credentials: Some(("k".into(), "s".into())),
            ..AwsOptions::default()
        });
        let attempts = Attempts::default();
        let sts = factory.sts("us-east-1").await;
        let sts = aws_sdk_sts::Client::from_conf(sts.config().to_builder().interceptor(attempts.clone()).build());
        let err = sts.get_caller_identity().send().await.unwrap_err();
        assert_eq!(attempts.0.load(std::sync::atomic::Ordering::SeqCst), CONNECT_ATTEMPTS);
        let text = plain_cause(&err);
        assert!(text.contains(&format!("cannot reach http://127.0.0.1:{port}")), "{text}");
    }

    #[test]
    fn plain_cause_is_the_innermost_error() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        let outer = LostReply { operation: "CreateVpc".into(), cause: "x".into() };
        assert_eq!(plain_cause(&io), "connection refused (os error 111)");
        assert_eq!(plain_cause(&outer), "the reply to CreateVpc was lost: x");
        let tls = std::io::Error::other("TLS handshake failed");
        assert_eq!(plain_cause(&tls), "TLS handshake failed");
    }
}
