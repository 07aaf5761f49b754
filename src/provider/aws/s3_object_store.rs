//! The S3 state backend's object store: one bucket, through the client
//! factory's S3 client for the backend's region.
//!
//! Calls: `get` GetObject; `head` HeadObject; `put` PutObject with
//! `If-None-Match: *` or `If-Match: ETAG` (and SSE-KMS with the configured
//! key); `delete` DeleteObject with `If-Match: ETAG`; `versioning_enabled`
//! GetBucketVersioning. A 412 and a missing object under an `If-Match` are
//! a failed precondition; a 409 `ConditionalRequestConflict` is a
//! [`StoreError::Conflict`] (S3 made nothing; the backend sends it again); a
//! 301 (the bucket is in another region) names the bucket's region from
//! `x-amz-bucket-region` (a HEAD's answer has no body to read it from); a
//! 403 is [`StoreError::Denied`].

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, ServerSideEncryption};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{AwsFactory, api_error, error_code};
use crate::state::s3::{Object, ObjectStore, Put, S3Location, StoreError};

/// One bucket of the state backend.
pub struct AwsObjectStore {
    factory: Arc<AwsFactory>,
    bucket: String,
    region: String,
    kms_key_id: Option<String>,
    client: tokio::sync::OnceCell<aws_sdk_s3::Client>,
}

impl AwsObjectStore {
    pub fn new(factory: Arc<AwsFactory>, location: &S3Location) -> Self {
        AwsObjectStore {
            factory,
            bucket: location.bucket.clone(),
            region: location.region.clone(),
            kms_key_id: location.kms_key_id.clone(),
            client: tokio::sync::OnceCell::new(),
        }
    }

    async fn client(&self) -> &aws_sdk_s3::Client {
        self.client.get_or_init(|| self.factory.s3(&self.region)).await
    }
}

/// How an S3 call failed.
enum Failure {
    /// No such object (not a missing bucket).
    Missing,
    Precondition,
    Other(StoreError),
}

fn failure<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    match (status, error_code(&err)) {
        (_, Some("PreconditionFailed")) | (Some(412), _) => Failure::Precondition,
        (_, Some("ConditionalRequestConflict")) => Failure::Other(StoreError::Conflict),
        // HeadObject answers a bare 404 (no body, so no code).
        (_, Some("NoSuchKey" | "NotFound")) | (Some(404), None) => Failure::Missing,
        _ => Failure::Other(other(operation, err)),
    }
}

/// Any other failure: a bucket in another region (301, named from
/// `x-amz-bucket-region`), a denied call (403), or AWS's error as it came.
fn other<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    match (status, error_code(&err)) {
        (Some(301), _) | (_, Some("PermanentRedirect")) => {
            let region = err.raw_response().and_then(|r| r.headers().get("x-amz-bucket-region")).map(str::to_owned);
            StoreError::WrongRegion { region }
        }
        (Some(403), _) => StoreError::Denied(api_error(operation, err).to_string()),
        _ => StoreError::Other(api_error(operation, err).to_string()),
    }
}

/// For reads: a missing object is `None`.
fn absent<T>(f: Failure) -> Result<Option<T>, StoreError> {
    match f {
        Failure::Missing => Ok(None),
        Failure::Precondition => Err(StoreError::PreconditionFailed),
        Failure::Other(e) => Err(e),
    }
}

/// For conditional writes: a missing object fails the condition.
fn conditional(f: Failure) -> StoreError {
    match f {
        Failure::Missing | Failure::Precondition => StoreError::PreconditionFailed,
        Failure::Other(e) => e,
    }
}

fn no_etag(operation: &str) -> StoreError {
    StoreError::Other(format!("{operation}: the answer has no ETag"))
}

#[async_trait]
impl ObjectStore for AwsObjectStore {
    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        let out = match self.client().await.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => out,
            Err(e) => return absent(failure("GetObject", e)),
        };
        let etag = out.e_tag().ok_or_else(|| no_etag("GetObject"))?.to_owned();
        let body =
            out.body.collect().await.map_err(|e| StoreError::Other(format!("GetObject: reading the body: {e}")))?;
        Ok(Some(Object { body: body.into_bytes().to_vec(), etag }))
    }

    async fn head(&self, key: &str) -> Result<Option<String>, StoreError> {
        match self.client().await.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some(out.e_tag().ok_or_else(|| no_etag("HeadObject"))?.to_owned())),
            Err(e) => absent(failure("HeadObject", e)),
        }
    }

    async fn put(&self, key: &str, body: Vec<u8>, condition: Put) -> Result<String, StoreError> {
        let mut req = self
            .client()
            .await
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        req = match condition {
            Put::IfAbsent => req.if_none_match("*"),
            Put::IfMatch(etag) => req.if_match(etag),
        };
        if let Some(k) = &self.kms_key_id {
            req = req.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(k);
        }
        let out = req.send().await.map_err(|e| conditional(failure("PutObject", e)))?;
        Ok(out.e_tag().ok_or_else(|| no_etag("PutObject"))?.to_owned())
    }

    async fn delete(&self, key: &str, etag: &str) -> Result<(), StoreError> {
        let req = self.client().await.delete_object().bucket(&self.bucket).key(key).if_match(etag);
        req.send().await.map_err(|e| conditional(failure("DeleteObject", e)))?;
        Ok(())
    }

    async fn versioning_enabled(&self) -> Result<bool, StoreError> {
        let out = self
            .client()
            .await
            .get_bucket_versioning()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| other("GetBucketVersioning", e))?;
        Ok(out.status() == Some(&BucketVersioningStatus::Enabled))
    }
}
