//! AWS resource types, the client factory, and helpers they share.

pub mod client;
pub mod db_cluster;
pub mod db_cluster_instance;
pub mod db_cluster_parameter_group;
pub mod db_instance;
pub mod db_parameter_group;
pub mod db_subnet_group;
pub mod ec2;
pub mod kms_key;
pub mod parameter_group;
pub mod policy;
pub mod rds;
pub mod security_group;
pub mod subnet;
pub mod vpc;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub use client::{AwsFactory, AwsOptions, CallCounter};

use super::{ProviderError, ResourceType};
use crate::value::{Attrs, Value};

/// Every AWS resource type, for the registry.
pub fn all_types() -> Vec<Arc<dyn ResourceType>> {
    vec![
        Arc::new(kms_key::KmsKey),
        Arc::new(db_subnet_group::DbSubnetGroup),
        Arc::new(db_cluster::DbCluster),
        Arc::new(db_cluster_instance::DbClusterInstance),
        Arc::new(db_instance::DbInstance),
        Arc::new(db_parameter_group::DbParameterGroup),
        Arc::new(db_cluster_parameter_group::DbClusterParameterGroup),
        Arc::new(vpc::Vpc),
        Arc::new(subnet::Subnet),
        Arc::new(security_group::SecurityGroup),
    ]
}

/// Default `description` of resources that have one.
pub const DEFAULT_DESCRIPTION: &str = "Managed by pgstack";

/// How many per-resource read calls (tags, policies) a `read_many` runs at once:
/// fast refresh without tripping API rate limits.
pub const PER_RESOURCE_CONCURRENCY: usize = 8;

/// Maps an SDK error to a [`ProviderError`], keeping AWS's error code.
pub fn api_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown").to_owned();
            let retryable = code.contains("Throttl") || code == "RequestLimitExceeded";
            ProviderError::Api { operation, code, message: e.message().unwrap_or_default().to_owned(), retryable }
        }
        _ => ProviderError::Transport { operation, message: DisplayErrorContext(&err).to_string() },
    }
}

/// The error code of an SDK error, if AWS sent one.
pub fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
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
