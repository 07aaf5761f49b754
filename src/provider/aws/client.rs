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
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;
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
}

/// Counts API calls per service and operation: one per operation, retries not counted.
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
            *out.entry(service).or_insert(0) += v;
        }
        out
    }

    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
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
            *c.entry(key).or_insert(0) += 1;
        }
        Ok(())
    }
}

/// Stops the SDK from retrying a create whose reply never arrived (timeout,
/// dropped connection, unreadable response): AWS may have created the object,
/// and most creates are not idempotent (CreateVpc, CreateKey), so a blind
/// retry makes a second one. The error becomes a plain, non-retryable one and
/// the engine recovers by finding the object by its ownership tags.
/// Throttling and 5xx answers mean the request was refused and are retried.
#[derive(Debug)]
struct NoBlindCreateRetry;

/// The reply to a create never arrived.
#[derive(Debug, thiserror::Error)]
#[error("the reply to {operation} was lost: {cause}")]
struct LostReply {
    operation: String,
    cause: String,
}

/// True for operations that make something new and are not idempotent.
pub fn is_create(operation: &str) -> bool {
    ["Create", "Run", "Allocate", "Copy", "Generate", "Import", "Restore"].iter().any(|p| operation.starts_with(p))
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
        if let Some(Err(e)) = ctx.output_or_error_mut()
            && (e.is_timeout_error() || e.is_connector_error() || e.is_response_error())
        {
            let cause = DisplayErrorContext(&*e).to_string();
            *e = OrchestratorError::other(LostReply { operation, cause });
        }
        Ok(())
    }
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
                .interceptor(CountingInterceptor(self.calls.clone()))
                .interceptor(NoBlindCreateRetry)
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
        // throttling and 5xx harder than the SDK's default of 3 attempts.
        if std::env::var_os("AWS_MAX_ATTEMPTS").is_none() && std::env::var_os("AWS_RETRY_MODE").is_none() {
            loader = loader.retry_config(
                RetryConfig::standard().with_max_attempts(6).with_initial_backoff(Duration::from_millis(200)),
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
    client!(tagging, aws_sdk_resourcegroupstagging);

    /// An S3 client; path-style addressing when an endpoint is overridden
    /// (local emulators do not serve virtual-hosted buckets).
    pub async fn s3(&self, region: &str) -> aws_sdk_s3::Client {
        let sdk = self.sdk_config(region).await;
        let overridden = sdk.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(overridden)
            .interceptor(CountingInterceptor(self.calls.clone()))
            .interceptor(NoBlindCreateRetry)
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
        assert!(!is_create("DescribeVpcs") && !is_create("ModifyDBCluster") && !is_create("DeleteVpc"));
    }
}
