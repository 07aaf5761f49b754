//! `s3_bucket_replication`: the replication configuration of a source bucket
//! (an IAM role and rules, each to a destination bucket, e.g. in the stack's
//! DR region). It lives in the source bucket's region: a resource whose
//! bucket is in a named region sets the same `region`. Both buckets need
//! versioning.
//!
//! - Create and update: one PutBucketReplication with the whole configuration.
//!   S3 refuses it ("Destination bucket must have versioning enabled", and
//!   the like for the source) until versioning turned on is in effect, which
//!   S3 says can take up to 15 minutes: for buckets this run created or
//!   updated, it is sent again that long ([`VERSIONING_WAIT`]), and while
//!   S3 does not show a source bucket this run created yet.
//! - Read: GetBucketReplication per bucket, [`PER_RESOURCE_CONCURRENCY`] at a
//!   time; a bucket without a configuration, or gone, is left out.
//! - Delete: DeleteBucketReplication (a bucket that is gone is done).
//! - The id is the source bucket's name.
//! - Canonical form ([`canonical_rules`], applied to the config and to what S3
//!   returns): a rule without `id` gets `rule-N` and one without `priority`
//!   gets N-1 (N its place in the list), `delete_marker_replication` defaults
//!   to false, a filter without prefix or tag (S3 answers `Prefix: ""`) is no
//!   filter, rules are sorted by id. Rules are always sent in S3's current
//!   form (`Filter`, `Priority`, `DeleteMarkerReplication`); a rule with a
//!   `replica_kms_key_id` also gets the `SseKmsEncryptedObjects` source
//!   selection S3 requires for it, which is not an attribute. S3 settings the
//!   schema does not model (replication time control, metrics, existing-object
//!   replication) are not kept by an update.
//! - No ownership tags: a configuration has none. A create repeated after a
//!   crash is a PutBucketReplication that replaces the whole configuration,
//!   so it cannot leave a second one; `find_created` finds nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination, EncryptionConfiguration,
    ReplicationConfiguration, ReplicationRule, ReplicationRuleAndOperator, ReplicationRuleFilter,
    ReplicationRuleStatus, SourceSelectionCriteria, SseKmsEncryptedObjects, SseKmsEncryptedObjectsStatus, StorageClass,
    Tag,
};
use futures::{StreamExt, TryStreamExt, stream};

use super::s3_bucket::{is_no_such_bucket, name_of_arn, new_bucket};
use super::{PER_RESOURCE_CONCURRENCY, Settling, api_error, error_code, factory, get_str, send_settling};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Kind, Ownership, Pricing, Schema};
use crate::provider::waiter::Backoff;
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
];

static TAG: [Attr; 2] = [Attr::required("key", AttrType::Str), Attr::required("value", AttrType::Str)];
static FILTER: [Attr; 2] = [Attr::optional("prefix", AttrType::Str), Attr::optional("tag", AttrType::Object(&TAG))];
static DESTINATION: [Attr; 3] = [
    Attr::required("bucket", AttrType::Str).pattern(Kind::Arn),
    Attr::optional("storage_class", AttrType::Str).one_of(STORAGE_CLASSES),
    Attr::optional("replica_kms_key_id", AttrType::Str),
];
static RULE: [Attr; 6] = [
    Attr::optional("id", AttrType::Str).max_len(255),
    Attr::required("status", AttrType::Str).one_of(&["Enabled", "Disabled"]),
    Attr::optional("priority", AttrType::Int).range(0, i32::MAX as i64),
    Attr::optional("filter", AttrType::Object(&FILTER)),
    Attr::required("destination", AttrType::Object(&DESTINATION)),
    Attr::optional("delete_marker_replication", AttrType::Bool),
];
static RULE_OBJECT: AttrType = AttrType::Object(&RULE);

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::required("bucket", AttrType::Str).force_new().pattern(Kind::S3BucketName),
        Attr::required("role", AttrType::Str).pattern(Kind::Arn),
        Attr::required("rule", AttrType::List(&RULE_OBJECT)),
    ],
    guarded: false,
    taggable: false,
    ownership: Ownership::Untagged,
    pricing: Pricing::Replication,
};

/// How long PutBucketReplication is sent again while S3 refuses it for
/// versioning this run turned on, when the resource sets no timeout: S3
/// documents that versioning turned on for the first time can take up to
/// 15 minutes to be in effect everywhere (PutBucketVersioning).
pub const VERSIONING_WAIT: Duration = Duration::from_secs(15 * 60);

/// S3 not seeing yet the versioning this run turned on for a destination bucket.
pub const DESTINATION_VERSIONING: Settling = Settling::new(
    "InvalidRequest",
    "S3 does not see the destination bucket's new versioning yet (it can take up to 15 minutes)",
    VERSIONING_WAIT,
)
.with_message("Destination bucket must have versioning enabled");

/// S3 not seeing yet the versioning this run turned on for the source bucket.
pub const SOURCE_VERSIONING: Settling = Settling::new(
    "InvalidRequest",
    "S3 does not see the bucket's new versioning yet (it can take up to 15 minutes)",
    VERSIONING_WAIT,
)
.with_message("Versioning must be 'Enabled' on the bucket");

/// The `s3_bucket_replication` resource type.
pub struct S3BucketReplication;

fn invalid(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Invalid(e.to_string())
}

fn map(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    Value::Map(pairs.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.to_owned(), v)).collect())
}

fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_map().and_then(|m| m.get(name)).filter(|v| !v.is_null())
}

fn str_field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    field(v, name).and_then(Value::as_str)
}

/// The canonical `rule` list (see the module doc). Idempotent and pure.
pub fn canonical_rules(rules: &Value) -> Value {
    let Value::List(rules) = rules else { return rules.clone() };
    let mut out: Vec<Value> = rules.iter().enumerate().map(|(i, r)| canonical_rule(i, r)).collect();
    out.sort_by(|a, b| str_field(a, "id").cmp(&str_field(b, "id")));
    Value::List(out)
}

fn canonical_rule(index: usize, rule: &Value) -> Value {
    let Value::Map(m) = rule else { return rule.clone() };
    let mut out = m.clone();
    out.retain(|_, v| !v.is_null());
    out.entry("id".to_owned()).or_insert_with(|| Value::str(format!("rule-{}", index + 1)));
    out.entry("priority".to_owned()).or_insert(Value::Int(index as i64));
    out.entry("delete_marker_replication".to_owned()).or_insert(Value::Bool(false));
    match out.remove("filter").map(|f| canonical_filter(&f)) {
        Some(f) if f.as_map().is_some_and(|m| !m.is_empty()) => {
            out.insert("filter".to_owned(), f);
        }
        _ => {}
    }
    if let Some(Value::Map(d)) = out.get_mut("destination") {
        d.retain(|_, v| !v.is_null());
    }
    Value::Map(out)
}

/// A filter without an empty prefix or null fields.
fn canonical_filter(filter: &Value) -> Value {
    let Value::Map(m) = filter else { return filter.clone() };
    Value::Map(
        m.iter()
            .filter(|(k, v)| !(v.is_null() || k.as_str() == "prefix" && v.as_str() == Some("")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

fn s3_tag(tag: &Value) -> Result<Tag> {
    Tag::builder()
        .key(str_field(tag, "key").unwrap_or_default())
        .value(str_field(tag, "value").unwrap_or_default())
        .build()
        .map_err(invalid)
}

/// One canonical rule as S3 takes it.
fn rule_of(rule: &Value) -> Result<ReplicationRule> {
    let filter = field(rule, "filter");
    let prefix = filter.and_then(|f| str_field(f, "prefix"));
    let tag = filter.and_then(|f| field(f, "tag")).map(s3_tag).transpose()?;
    let filter = match (prefix, tag) {
        (Some(p), Some(t)) => {
            ReplicationRuleFilter::builder().and(ReplicationRuleAndOperator::builder().prefix(p).tags(t).build())
        }
        (None, Some(t)) => ReplicationRuleFilter::builder().tag(t),
        (p, None) => ReplicationRuleFilter::builder().prefix(p.unwrap_or_default()),
    }
    .build();
    let dest = field(rule, "destination").ok_or_else(|| invalid("a replication rule needs `destination`"))?;
    let key = str_field(dest, "replica_kms_key_id");
    let destination = Destination::builder()
        .bucket(str_field(dest, "bucket").unwrap_or_default())
        .set_storage_class(str_field(dest, "storage_class").map(StorageClass::from))
        .set_encryption_configuration(key.map(|k| EncryptionConfiguration::builder().replica_kms_key_id(k).build()))
        .build()
        .map_err(invalid)?;
    // S3 replicates SSE-KMS objects only when told to, and wants it said when a replica key is given.
    let selection = match key {
        Some(_) => Some(
            SourceSelectionCriteria::builder()
                .sse_kms_encrypted_objects(
                    SseKmsEncryptedObjects::builder()
                        .status(SseKmsEncryptedObjectsStatus::Enabled)
                        .build()
                        .map_err(invalid)?,
                )
                .build(),
        ),
        None => None,
    };
    let markers = if field(rule, "delete_marker_replication").and_then(Value::as_bool) == Some(true) {
        DeleteMarkerReplicationStatus::Enabled
    } else {
        DeleteMarkerReplicationStatus::Disabled
    };
    ReplicationRule::builder()
        .set_id(str_field(rule, "id").map(str::to_owned))
        .set_priority(field(rule, "priority").and_then(Value::as_i64).and_then(|p| i32::try_from(p).ok()))
        .status(ReplicationRuleStatus::from(str_field(rule, "status").unwrap_or("Enabled")))
        .filter(filter)
        .destination(destination)
        .delete_marker_replication(DeleteMarkerReplication::builder().status(markers).build())
        .set_source_selection_criteria(selection)
        .build()
        .map_err(invalid)
}

fn tag_value(t: &Tag) -> Value {
    map([("key", Value::str(t.key())), ("value", Value::str(t.value()))])
}

/// One rule as S3 answers it, before [`canonical_rules`]: the filter's
/// prefix and tag (alone or in an `And` with one tag), or the legacy
/// top-level prefix.
#[allow(deprecated)]
fn rule_value(r: &ReplicationRule) -> Value {
    let f = r.filter();
    let and = f.and_then(|f| f.and());
    let prefix = f.and_then(|f| f.prefix()).or_else(|| and.and_then(|a| a.prefix())).or(r.prefix());
    let tag = f.and_then(|f| f.tag()).or_else(|| and.and_then(|a| a.tags().first()));
    let filter = map([("prefix", prefix.into()), ("tag", tag.map(tag_value).into())]);
    let destination = r.destination().map(|d| {
        map([
            ("bucket", Value::str(d.bucket())),
            ("storage_class", d.storage_class().map(|s| s.as_str()).into()),
            ("replica_kms_key_id", d.encryption_configuration().and_then(|e| e.replica_kms_key_id()).into()),
        ])
    });
    map([
        ("id", r.id().into()),
        ("status", Value::str(r.status().as_str())),
        ("priority", r.priority().map(i64::from).into()),
        ("filter", filter),
        ("destination", destination.into()),
        (
            "delete_marker_replication",
            r.delete_marker_replication()
                .and_then(|d| d.status())
                .map(|s| *s == DeleteMarkerReplicationStatus::Enabled)
                .into(),
        ),
    ])
}

/// Attributes of a configuration as S3 answers it.
fn config_attrs(bucket: &str, c: &ReplicationConfiguration) -> Attrs {
    let rules = canonical_rules(&Value::List(c.rules().iter().map(rule_value).collect()));
    [("id", Value::str(bucket)), ("bucket", Value::str(bucket)), ("role", Value::str(c.role())), ("rule", rules)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// The replication configuration of `bucket`; `None` when it has none or is gone.
async fn read_config(client: &Client, bucket: &str) -> Result<Option<(String, Attrs)>> {
    match client.get_bucket_replication().bucket(bucket).send().await {
        Ok(out) => Ok(out.replication_configuration().map(|c| (bucket.to_owned(), config_attrs(bucket, c)))),
        Err(e) if is_no_such_bucket(&e) || error_code(&e) == Some("ReplicationConfigurationNotFoundError") => Ok(None),
        Err(e) => Err(api_error("GetBucketReplication", e)),
    }
}

/// The refusals of a PutBucketReplication of `bucket` to the destination
/// bucket ARNs `destinations` that pass with time, given what this run made:
/// `NoSuchBucket` for a source bucket it created, versioning not in effect
/// yet for a bucket it created or updated (the ones whose versioning it may
/// have turned on). Refusals about other buckets are final.
fn replication_settling(ctx: &Ctx, bucket: &str, destinations: &[&str]) -> Vec<Settling> {
    let within = ctx.timeout.unwrap_or(VERSIONING_WAIT);
    let changed = |arn: &str| ctx.changed_this_run(arn) || ctx.changed_this_run(name_of_arn(arn));
    let mut out: Vec<Settling> = new_bucket(ctx, bucket).into_iter().collect();
    if ctx.changed_this_run(bucket) {
        out.push(Settling { within, ..SOURCE_VERSIONING });
    }
    if destinations.iter().any(|arn| changed(arn)) {
        out.push(Settling { within, ..DESTINATION_VERSIONING });
    }
    out
}

/// PutBucketReplication with the configuration `desired` describes, sent
/// again while S3 refuses it for a reason that passes ([`replication_settling`]).
async fn put_config(ctx: &Ctx, client: &Client, bucket: &str, desired: &Attrs) -> Result<Attrs> {
    let role = get_str(desired, "role").ok_or_else(|| invalid("s3_bucket_replication needs `role`"))?;
    let rules = canonical_rules(desired.get("rule").unwrap_or(&Value::List(Vec::new())));
    let listed = rules.as_list().unwrap_or_default();
    let sent: Vec<ReplicationRule> = listed.iter().map(rule_of).collect::<Result<_>>()?;
    let destinations: Vec<&str> = listed.iter().filter_map(|r| str_field(field(r, "destination")?, "bucket")).collect();
    let config = ReplicationConfiguration::builder().role(role).set_rules(Some(sent)).build().map_err(invalid)?;
    let request = client.put_bucket_replication().bucket(bucket).replication_configuration(config);
    let settling = replication_settling(ctx, bucket, &destinations);
    send_settling(ctx, "PutBucketReplication", &settling, Backoff::RETRY, || request.clone().send())
        .await
        .map_err(|e| api_error("PutBucketReplication", e))?;
    let mut attrs = desired.clone();
    attrs.insert("id".into(), Value::str(bucket));
    attrs.insert("rule".into(), rules);
    Ok(attrs)
}

#[async_trait]
impl ResourceType for S3BucketReplication {
    fn type_name(&self) -> &'static str {
        "s3_bucket_replication"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn normalize(&self, desired: &mut Attrs) {
        if let Some(rules) = desired.get_mut("rule") {
            *rules = canonical_rules(rules);
        }
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], _scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.s3(&ctx.region).await;
        let reads: Vec<_> = ids.iter().map(|id| read_config(client, id)).collect();
        let found: Vec<_> = stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let bucket = get_str(desired, "bucket").ok_or_else(|| invalid("s3_bucket_replication needs `bucket`"))?;
        put_config(ctx, &factory(ctx)?.s3(&ctx.region).await, bucket, desired).await
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        let desired = &update.after;
        put_config(ctx, &factory(ctx)?.s3(&ctx.region).await, id, desired).await
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        let client = factory(ctx)?.s3(&ctx.region).await;
        match client.delete_bucket_replication().bucket(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_no_such_bucket(&e) => Ok(()),
            Err(e) => Err(api_error("DeleteBucketReplication", e)),
        }
    }

    /// Nothing to find: see the module doc.
    async fn find_created(&self, _ctx: &Ctx, _addr: &ResourceAddr) -> Result<Option<String>> {
        Ok(None)
    }

    /// Nothing: the configuration of a bucket carries no tags of its own.
    async fn list_owned(&self, _ctx: &Ctx, _known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Value {
        Value::from_json(&serde_json::from_str(text).unwrap())
    }

    /// A refused replication waits only for buckets this run made: a source
    /// it created (not shown yet, versioning not in effect), a destination it
    /// created or updated (versioning not in effect); within the resource's
    /// own timeout when it sets one.
    #[test]
    fn only_buckets_this_run_made_are_waited_for() {
        let ctx = || Ctx::new(std::sync::Arc::new(crate::provider::fake::NoClients), "us-east-1", "t");
        let rows = |ctx: &Ctx| -> Vec<(&str, Option<&str>)> {
            replication_settling(ctx, "src", &["arn:aws:s3:::dst"]).iter().map(|s| (s.code, s.message)).collect()
        };
        assert!(rows(&ctx()).is_empty(), "refusals about buckets of earlier runs are final");

        let made = ctx();
        made.record_created("src");
        assert_eq!(
            rows(&made),
            [("NoSuchBucket", None), ("InvalidRequest", Some("Versioning must be 'Enabled' on the bucket"))]
        );
        for record in [Ctx::record_created, Ctx::record_updated] {
            for named in ["dst", "arn:aws:s3:::dst"] {
                let made = ctx();
                record(&made, named);
                assert_eq!(
                    rows(&made),
                    [("InvalidRequest", Some("Destination bucket must have versioning enabled"))],
                    "{named}"
                );
            }
        }
        let made = ctx().with_timeout(Some(Duration::from_secs(60)));
        made.record_updated("arn:aws:s3:::dst");
        assert_eq!(replication_settling(&made, "src", &["arn:aws:s3:::dst"])[0].within, Duration::from_secs(60));
    }

    /// PRODUCT.md's rule, as written in a stack.
    fn product_rule() -> Value {
        json(
            r#"[{"id":"to-dr","status":"Enabled","destination":{"bucket":"arn:aws:s3:::acme-pg-backups-usw2",
                "storage_class":"STANDARD_IA","replica_kms_key_id":"arn:aws:kms:us-west-2:1:key/k"},
                "delete_marker_replication":true}]"#,
        )
    }

    #[test]
    fn defaults_fill_ids_priorities_and_delete_markers() {
        let rules = json(
            r#"[{"status":"Enabled","destination":{"bucket":"arn:aws:s3:::b"},"filter":{"prefix":""}},
                {"status":"Disabled","destination":{"bucket":"arn:aws:s3:::c","storage_class":null},"filter":{"prefix":"wal/"}}]"#,
        );
        let c = canonical_rules(&rules);
        assert_eq!(
            c,
            json(
                r#"[{"id":"rule-1","status":"Enabled","priority":0,"delete_marker_replication":false,
                     "destination":{"bucket":"arn:aws:s3:::b"}},
                    {"id":"rule-2","status":"Disabled","priority":1,"delete_marker_replication":false,
                     "destination":{"bucket":"arn:aws:s3:::c"},"filter":{"prefix":"wal/"}}]"#
            )
        );
        assert_eq!(canonical_rules(&c), c, "idempotent");
    }

    #[test]
    fn what_is_sent_reads_back_the_same() {
        for rules in [
            product_rule(),
            json(
                r#"[{"id":"b","status":"Enabled","priority":2,"destination":{"bucket":"arn:aws:s3:::x"},
                     "filter":{"prefix":"wal/","tag":{"key":"k","value":"v"}}},
                    {"id":"a","status":"Enabled","priority":1,"destination":{"bucket":"arn:aws:s3:::x"},
                     "filter":{"tag":{"key":"k","value":"v"}}}]"#,
            ),
        ] {
            let want = canonical_rules(&rules);
            let sent: Vec<ReplicationRule> = want.as_list().unwrap().iter().map(|r| rule_of(r).unwrap()).collect();
            let read = canonical_rules(&Value::List(sent.iter().map(rule_value).collect()));
            assert_eq!(read, want);
        }
    }

    #[test]
    fn a_replica_key_brings_the_kms_source_selection() {
        let rules = canonical_rules(&product_rule());
        let sent = rule_of(&rules.as_list().unwrap()[0]).unwrap();
        let sse = sent.source_selection_criteria().and_then(|s| s.sse_kms_encrypted_objects()).map(|s| s.status());
        assert_eq!(sse, Some(&SseKmsEncryptedObjectsStatus::Enabled));
        assert_eq!(sent.filter().and_then(|f| f.prefix()), Some(""), "always the current (filter) form");
        let plain = canonical_rules(&json(r#"[{"status":"Enabled","destination":{"bucket":"arn:aws:s3:::b"}}]"#));
        assert!(rule_of(&plain.as_list().unwrap()[0]).unwrap().source_selection_criteria().is_none());
    }

    #[test]
    #[allow(deprecated)]
    fn a_legacy_prefix_rule_reads_as_a_filter() {
        let legacy = ReplicationRule::builder()
            .id("old")
            .prefix("wal/")
            .status(ReplicationRuleStatus::Enabled)
            .destination(Destination::builder().bucket("arn:aws:s3:::b").build().unwrap())
            .build()
            .unwrap();
        let read = canonical_rules(&Value::List(vec![rule_value(&legacy)]));
        assert_eq!(
            read,
            json(
                r#"[{"id":"old","status":"Enabled","priority":0,"delete_marker_replication":false,
                     "destination":{"bucket":"arn:aws:s3:::b"},"filter":{"prefix":"wal/"}}]"#
            )
        );
    }

    /// GetBucketReplication as S3 answers it (its documented XML, with what
    /// moto 5.2.5 drops: the filter as sent, delete marker replication, the
    /// source selection): no diff against the config, and a missing
    /// configuration is no object.
    #[tokio::test]
    async fn s3s_answer_diffs_clean_against_the_config() {
        use aws_smithy_mocks::mock;
        use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Role>arn:aws:iam::123456789012:role/replication</Role>
  <Rule>
    <ID>to-dr</ID><Priority>0</Priority>
    <Filter><Prefix></Prefix></Filter>
    <Status>Enabled</Status>
    <SourceSelectionCriteria><SseKmsEncryptedObjects><Status>Enabled</Status></SseKmsEncryptedObjects></SourceSelectionCriteria>
    <Destination>
      <Bucket>arn:aws:s3:::acme-pg-backups-usw2</Bucket>
      <StorageClass>STANDARD_IA</StorageClass>
      <EncryptionConfiguration><ReplicaKmsKeyID>arn:aws:kms:us-west-2:1:key/k</ReplicaKmsKeyID></EncryptionConfiguration>
    </Destination>
    <DeleteMarkerReplication><Status>Enabled</Status></DeleteMarkerReplication>
  </Rule>
</ReplicationConfiguration>"#;
        let found = mock!(Client::get_bucket_replication)
            .match_requests(|r| r.bucket() == Some("acme-pg-backups-use1"))
            .then_http_response(move || HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::from(body)));
        let missing = mock!(Client::get_bucket_replication)
            .match_requests(|r| r.bucket() == Some("plain"))
            .then_http_response(|| {
                let err = "<Error><Code>ReplicationConfigurationNotFoundError</Code><Message>none</Message></Error>";
                HttpResponse::new(StatusCode::try_from(404).unwrap(), SdkBody::from(err))
            });
        let client = crate::provider::aws::mocked_client!(aws_sdk_s3, &[&found, &missing]);
        let (id, read) = read_config(&client, "acme-pg-backups-use1").await.unwrap().unwrap();
        assert_eq!(id, "acme-pg-backups-use1");
        assert_eq!(read["role"], Value::str("arn:aws:iam::123456789012:role/replication"));
        assert_eq!(read["rule"], canonical_rules(&product_rule()));
        assert!(read_config(&client, "plain").await.unwrap().is_none());
    }
}
