//! `s3_bucket` and `s3_bucket_replication` against moto: create and read
//! back, in-place updates, out-of-band changes seen on refresh, the
//! ownership lookup, taking over an existing bucket, the calls a refresh
//! makes, delete (with and without `force_destroy`), and reads of missing
//! objects; through the CLI: drift (versioning suspended, public access
//! block loosened, a replication rule removed) repaired by apply, import,
//! the data-loss guard on a bucket holding objects, and destroy.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, PublicAccessBlockConfiguration, VersioningConfiguration};
use pgstack::addr::ResourceAddr;
use pgstack::provider::aws::s3_bucket::S3Bucket;
use pgstack::provider::aws::s3_bucket_replication::S3BucketReplication;
use pgstack::provider::{ReadScope, ResourceType};
use pgstack::value::{Attrs, Value};

use crate::support::cli::Workdir;
use crate::support::moto::{MotoGuard, REGION, moto};
use crate::support::provider::{assert_clean, changes, desired, read_one, update};

const STACK: &str = "backups";

fn json(text: &str) -> Value {
    Value::from_json(&serde_json::from_str(text).unwrap())
}

/// The lifecycle rules of PRODUCT.md's example bucket.
fn archive_rules() -> Value {
    json(
        r#"[{"id":"archive","enabled":true,"transition":[{"days":30,"storage_class":"GLACIER"}],
            "expiration":{"days":400},"noncurrent_version_expiration":{"days":30}}]"#,
    )
}

async fn kms_key(m: &MotoGuard, region: &str) -> String {
    let key = m.factory().kms(region).await.create_key().send().await.unwrap();
    key.key_metadata().and_then(|k| k.arn()).unwrap().to_owned()
}

/// The API calls `f` makes, by operation ("s3:GetBucketPolicy").
async fn calls_of<F: std::future::Future>(m: &MotoGuard, f: F) -> (F::Output, BTreeMap<String, u64>) {
    let before = m.factory().calls().snapshot();
    let out = f.await;
    let after = m.factory().calls().snapshot();
    let made = after
        .into_iter()
        .map(|(k, n)| {
            let n = n - before.get(&k).copied().unwrap_or(0);
            (k, n)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    (out, made)
}

/// Out of band: versioning suspended.
async fn suspend_versioning(s3: &aws_sdk_s3::Client, name: &str) {
    let suspended = VersioningConfiguration::builder().status(BucketVersioningStatus::Suspended).build();
    s3.put_bucket_versioning().bucket(name).versioning_configuration(suspended).send().await.unwrap();
}

/// Out of band: two of the four public-access-block flags turned off.
async fn loosen_public_access_block(s3: &aws_sdk_s3::Client, name: &str) {
    let loose = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(false)
        .restrict_public_buckets(false)
        .build();
    s3.put_public_access_block().bucket(name).public_access_block_configuration(loose).send().await.unwrap();
}

fn scope(names: &[&str]) -> ReadScope {
    ReadScope::Only(names.iter().map(|s| s.to_string()).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_bucket_lifecycle() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let s3 = m.factory().s3(REGION).await;
    let t = S3Bucket;
    let addr: ResourceAddr = "s3_bucket.backups".parse().unwrap();
    let key = kms_key(&m, REGION).await;
    let name = "acme-pg-backups-use1";
    let full = [
        ("bucket", Value::str(name)),
        ("versioning", Value::Bool(true)),
        ("kms_key_id", Value::str(&key)),
        ("tls_only", Value::Bool(true)),
        ("lifecycle_rule", archive_rules()),
    ];
    let want = desired(&t, STACK, &addr, &full);
    let created = t.create(&ctx, &want).await.unwrap();
    assert_eq!(created["id"], Value::str(name));
    assert_eq!(created["arn"], Value::str(format!("arn:aws:s3:::{name}")));
    assert_clean(&t, &created, &want);
    let read = read_one(&t, &ctx, name).await;
    assert_clean(&t, &read, &want);
    assert_eq!(read["holds_objects"], Value::Bool(false));
    assert_eq!(read["bucket_key_enabled"], Value::Bool(true), "the default with a KMS key");
    assert_eq!(t.find_created(&ctx, &addr).await.unwrap().as_deref(), Some(name));
    assert_eq!(t.find_created(&ctx, &"s3_bucket.other".parse().unwrap()).await.unwrap(), None);

    // A refresh reads only what the config manages: 8 calls for this bucket
    // (ListBuckets, shared by the region's buckets, and 7 per bucket) ...
    let managed = [
        "bucket",
        "versioning",
        "kms_key_id",
        "block_public_access",
        "tls_only",
        "lifecycle_rule",
        "force_destroy",
        "tags",
    ];
    let (refreshed, made) = calls_of(&m, t.read_many(&ctx, &[name.to_owned()], &scope(&managed))).await;
    assert_clean(&t, &refreshed.unwrap()[name], &want);
    assert_eq!(made.values().sum::<u64>(), 8, "{made:?}");
    // ... 4 for a bare one, without lifecycle, policy, encryption or versioning reads.
    let bare_addr: ResourceAddr = "s3_bucket.bare".parse().unwrap();
    let bare = desired(&t, STACK, &bare_addr, &[("bucket", Value::str("acme-bare"))]);
    let (created_bare, made) = calls_of(&m, t.create(&ctx, &bare)).await;
    created_bare.unwrap();
    // 4 in us-east-1, and PutBucketTagging because moto drops the tags CreateBucket carries.
    let ops: BTreeSet<&str> = made.keys().map(String::as_str).collect();
    let want_ops =
        ["s3:CreateBucket", "s3:GetBucketTagging", "s3:HeadBucket", "s3:PutBucketTagging", "s3:PutPublicAccessBlock"];
    assert_eq!(ops, want_ops.into(), "{made:?}");
    assert_eq!(made.values().sum::<u64>(), 5);
    let bare_scope = scope(&["bucket", "block_public_access", "force_destroy", "tags"]);
    let (read, made) = calls_of(&m, t.read_many(&ctx, &["acme-bare".to_owned()], &bare_scope)).await;
    assert_clean(&t, &read.unwrap()["acme-bare"], &bare);
    let ops: BTreeSet<&str> = made.keys().map(String::as_str).collect();
    assert_eq!(
        ops,
        ["s3:GetBucketTagging", "s3:GetPublicAccessBlock", "s3:ListBuckets", "s3:ListObjectVersions"].into(),
        "{made:?}"
    );
    assert_eq!(made.values().sum::<u64>(), 4);

    // In place: another lifecycle, no TLS-only policy, bucket keys off, a tag.
    let mut next_attrs = full.to_vec();
    next_attrs[3] = ("tls_only", Value::Bool(false));
    next_attrs[4] = (
        "lifecycle_rule",
        json(r#"[{"id":"archive","enabled":true,"transition":[{"days":60,"storage_class":"DEEP_ARCHIVE"}]}]"#),
    );
    next_attrs.push(("bucket_key_enabled", Value::Bool(false)));
    next_attrs.push(("tags", json(r#"{"Team":"db"}"#)));
    let next = desired(&t, STACK, &addr, &next_attrs);
    assert_eq!(changes(&t, &created, &next), vec!["bucket_key_enabled", "lifecycle_rule", "tags", "tls_only"]);
    let updated = update(&t, &ctx, name, &created, &next).await.unwrap();
    assert_clean(&t, &updated, &next);
    assert_clean(&t, &read_one(&t, &ctx, name).await, &next);
    assert!(s3.get_bucket_policy().bucket(name).send().await.is_err(), "the policy went with its last statement");

    // Out of band: versioning suspended, the public access block loosened.
    suspend_versioning(&s3, name).await;
    loosen_public_access_block(&s3, name).await;
    let seen = read_one(&t, &ctx, name).await;
    assert_eq!(changes(&t, &seen, &next), vec!["block_public_access", "versioning"]);
    let repaired = update(&t, &ctx, name, &seen, &next).await.unwrap();
    assert_clean(&t, &read_one(&t, &ctx, name).await, &next);

    // An object makes the bucket hold data; without force_destroy it is not deleted.
    s3.put_object().bucket(name).key("base/1").body(ByteStream::from_static(b"wal")).send().await.unwrap();
    let holding = read_one(&t, &ctx, name).await;
    assert_eq!(holding["holds_objects"], Value::Bool(true));
    assert!(t.holds_data(&holding));
    let err = t.delete(&ctx, name, &repaired).await.unwrap_err();
    assert!(err.to_string().contains("force_destroy"), "{err}");
    assert!(s3.head_bucket().bucket(name).send().await.is_ok());

    // With it: every version and delete marker goes, then the bucket; twice is fine.
    s3.put_object().bucket(name).key("base/1").body(ByteStream::from_static(b"wal2")).send().await.unwrap();
    s3.delete_object().bucket(name).key("base/1").send().await.unwrap();
    let mut forced: Attrs = repaired.clone();
    forced.insert("force_destroy".into(), Value::Bool(true));
    t.delete(&ctx, name, &forced).await.unwrap();
    t.delete(&ctx, name, &forced).await.unwrap();
    assert!(
        t.read_many(&ctx, &[name.to_owned(), "acme-bare".to_owned()], &ReadScope::All)
            .await
            .unwrap()
            .keys()
            .eq(["acme-bare"])
    );
}

/// A bucket that already exists is taken over only when it carries this
/// resource's ownership tags: through HeadBucket in us-east-1, through
/// `BucketAlreadyOwnedByYou` elsewhere.
#[tokio::test(flavor = "multi_thread")]
async fn an_existing_bucket_is_taken_over_only_with_its_ownership_tags() {
    let m = moto();
    let t = S3Bucket;
    for (region, name) in [(REGION, "acme-existing-use1"), ("us-west-2", "acme-existing-usw2")] {
        let ctx = m.ctx(region, STACK);
        let s3 = m.factory().s3(region).await;
        let mut create = s3.create_bucket().bucket(name);
        if region != REGION {
            create = create.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        create.send().await.unwrap();
        let addr: ResourceAddr = format!("s3_bucket.{}", name.replace('-', "_")).parse().unwrap();
        let want = desired(&t, STACK, &addr, &[("bucket", Value::str(name)), ("versioning", Value::Bool(true))]);
        let err = t.create(&ctx, &want).await.unwrap_err().to_string();
        assert!(err.contains("already exists") && err.contains("pgstack import"), "{err}");
        let untouched = s3.get_bucket_versioning().bucket(name).send().await.unwrap();
        assert_eq!(untouched.status(), None, "{region}: nothing was changed");

        // Tagged for this address (a create whose state write was lost): taken over.
        let tags = want["tags"].as_map().unwrap();
        let tag = |k: &str| aws_sdk_s3::types::Tag::builder().key(k).value(tags[k].as_str().unwrap()).build().unwrap();
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .tag_set(tag("pgstack:stack"))
            .tag_set(tag("pgstack:address"))
            .build()
            .unwrap();
        s3.put_bucket_tagging().bucket(name).tagging(tagging).send().await.unwrap();
        let adopted = t.create(&ctx, &want).await.unwrap();
        assert_clean(&t, &read_one(&t, &ctx, name).await, &want);
        assert!(!adopted.contains_key("holds_objects"), "guarded until read");
    }
}

/// A versioned bucket made with the provider in `region`.
async fn versioned_bucket(m: &MotoGuard, region: &str, name: &str) {
    let t = S3Bucket;
    let addr: ResourceAddr = format!("s3_bucket.{}", name.replace('-', "_")).parse().unwrap();
    let want = desired(&t, STACK, &addr, &[("bucket", Value::str(name)), ("versioning", Value::Bool(true))]);
    t.create(&m.ctx(region, STACK), &want).await.unwrap();
}

fn rule(id: &str, dest: &str, class: &str, extra: &str) -> String {
    format!(
        r#"{{"id":"{id}","status":"Enabled","destination":{{"bucket":"arn:aws:s3:::{dest}","storage_class":"{class}"{extra}}}}}"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_bucket_replication_lifecycle() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let (source, dest) = ("acme-pg-src", "acme-pg-dst");
    versioned_bucket(&m, REGION, source).await;
    versioned_bucket(&m, "us-west-2", dest).await;
    let dr_key = kms_key(&m, "us-west-2").await;
    let t = S3BucketReplication;
    let addr: ResourceAddr = "s3_bucket_replication.backups".parse().unwrap();
    let role = Value::str("arn:aws:iam::123456789012:role/replication");
    let to_dr = rule("to-dr", dest, "STANDARD_IA", &format!(r#","replica_kms_key_id":"{dr_key}""#));
    let want = desired(
        &t,
        STACK,
        &addr,
        &[("bucket", Value::str(source)), ("role", role.clone()), ("rule", json(&format!("[{to_dr}]")))],
    );
    assert!(!want.contains_key("tags"), "a replication configuration has no tags");
    let created = t.create(&ctx, &want).await.unwrap();
    assert_eq!(created["id"], Value::str(source));
    assert_clean(&t, &created, &want);
    assert_clean(&t, &read_one(&t, &ctx, source).await, &want);
    assert_eq!(t.find_created(&ctx, &addr).await.unwrap(), None, "nothing to find: a repeated create replaces");

    // In place: a second rule.
    let archive = rule("archive", dest, "GLACIER", "");
    let both = desired(
        &t,
        STACK,
        &addr,
        &[("bucket", Value::str(source)), ("role", role.clone()), ("rule", json(&format!("[{to_dr},{archive}]")))],
    );
    assert_eq!(changes(&t, &created, &both), vec!["rule"]);
    let updated = update(&t, &ctx, source, &created, &both).await.unwrap();
    assert_clean(&t, &updated, &both);
    assert_clean(&t, &read_one(&t, &ctx, source).await, &both);

    // Out of band: a rule removed.
    let s3 = m.factory().s3(REGION).await;
    let mut config =
        s3.get_bucket_replication().bucket(source).send().await.unwrap().replication_configuration.unwrap();
    config.rules.retain(|r| r.id() == Some("archive"));
    s3.put_bucket_replication().bucket(source).replication_configuration(config).send().await.unwrap();
    assert_eq!(changes(&t, &read_one(&t, &ctx, source).await, &both), vec!["rule"]);

    t.delete(&ctx, source, &updated).await.unwrap();
    t.delete(&ctx, source, &updated).await.unwrap();
    let left = t.read_many(&ctx, &[source.to_owned(), "acme-pg-gone".to_owned()], &ReadScope::All).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
}

/// The stack of PRODUCT.md's example: a KMS key, a bucket with every inline
/// setting, a DR bucket in a named region (named after the stack and its
/// address), replication between them.
const STACK_TOML: &str = r#"
[stack]
name = "s3"
region = "us-east-1"

[regions]
dr = "us-west-2"

[kms_key.backup]
description = "backups"

[s3_bucket.backups]
bucket = "acme-pg-backups-use1"
versioning = true
kms_key_id = "${kms_key.backup.arn}"
block_public_access = true
tls_only = true
lifecycle_rule = [
  { id = "archive", enabled = true, transition = [{ days = 30, storage_class = "GLACIER" }],
    expiration = { days = 400 }, noncurrent_version_expiration = { days = 30 } },
]

[s3_bucket.backups_dr]
region = "dr"
versioning = true

[s3_bucket_replication.backups]
bucket = "${s3_bucket.backups.id}"
role = "arn:aws:iam::123456789012:role/replication"
rule = [
  { id = "to-dr", status = "Enabled",
    destination = { bucket = "${s3_bucket.backups_dr.arn}", storage_class = "STANDARD_IA" } },
  { id = "archive", status = "Enabled", priority = 1,
    destination = { bucket = "${s3_bucket.backups_dr.arn}", storage_class = "GLACIER" } },
]
"#;

/// `drift` exits 2 naming `attr` on `addr`; `apply` repairs it; `drift` exits 0.
fn drift_is_seen_and_repaired(w: &Workdir, env: &[(String, String)], addr: &str, attr: &str) {
    let drift = w.run(&["drift", "s3.toml"], env).expect(2);
    assert!(drift.stdout.contains(addr) && drift.stdout.contains(attr), "{}", drift.stdout);
    w.run(&["apply", "s3.toml", "--skip-checks", "--auto-approve"], env).expect(0);
    w.run(&["drift", "s3.toml"], env).expect(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn buckets_and_replication_drift_repair_import_and_destroy() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.write("s3.toml", STACK_TOML);
    w.run(&["apply", "s3.toml", "--skip-checks", "--auto-approve"], &env).expect(0);
    w.run(&["plan", "s3.toml", "--detailed-exitcode"], &env).expect(0);
    let s3 = m.factory().s3(REGION).await;
    let dr = m.factory().s3("us-west-2").await;
    let source = "acme-pg-backups-use1";
    let location = dr.get_bucket_location().bucket("s3-backups-dr").send().await.unwrap();
    assert_eq!(location.location_constraint().map(|l| l.as_str()), Some("us-west-2"));

    suspend_versioning(&s3, source).await;
    drift_is_seen_and_repaired(&w, &env, "s3_bucket.backups", "versioning");
    loosen_public_access_block(&s3, source).await;
    drift_is_seen_and_repaired(&w, &env, "s3_bucket.backups", "block_public_access");
    // A replication rule removed.
    let mut config =
        s3.get_bucket_replication().bucket(source).send().await.unwrap().replication_configuration.unwrap();
    config.rules.retain(|r| r.id() == Some("to-dr"));
    s3.put_bucket_replication().bucket(source).replication_configuration(config).send().await.unwrap();
    drift_is_seen_and_repaired(&w, &env, "s3_bucket_replication.backups", "rule");
    let rules = s3.get_bucket_replication().bucket(source).send().await.unwrap();
    assert_eq!(rules.replication_configuration().map(|c| c.rules().len()), Some(2), "the rule is back");

    // Let go and import again.
    for (addr, id) in [("s3_bucket.backups", source), ("s3_bucket_replication.backups", source)] {
        w.run(&["state", "rm", "s3.toml", addr], &env).expect(0);
        w.run(&["import", "s3.toml", addr, id], &env).expect(0);
    }
    w.run(&["apply", "s3.toml", "--skip-checks", "--auto-approve"], &env).expect(0);
    w.run(&["plan", "s3.toml", "--detailed-exitcode"], &env).expect(0);
    w.run(&["drift", "s3.toml"], &env).expect(0);

    w.run(&["destroy", "s3.toml", "--auto-approve", "--allow-destroy", "kms_key.backup"], &env).expect(0);
    let left = s3.list_buckets().send().await.unwrap();
    assert!(left.buckets().is_empty(), "{:?}", left.buckets());
}

/// A bucket is guarded while it holds objects: destroy is refused at plan
/// without `force_destroy`, then by the guard without `--allow-destroy`;
/// with both the bucket goes with every object. An empty bucket (named by
/// default from the stack and its address) needs neither.
#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_holding_objects_is_destroyed_only_when_allowed_and_forced() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    let stack = |force: bool| {
        format!(
            "[stack]\nname = \"wal\"\nregion = \"us-east-1\"\n\n[s3_bucket.wal]\nbucket = \"acme-pg-wal\"\n\
             force_destroy = {force}\n\n[s3_bucket.empty]\n"
        )
    };
    w.write("wal.toml", &stack(false));
    w.run(&["apply", "wal.toml", "--skip-checks", "--auto-approve"], &env).expect(0);
    let s3 = m.factory().s3(REGION).await;
    s3.put_object().bucket("acme-pg-wal").key("wal/0001").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let still_there = || async {
        let objects = s3.list_objects_v2().bucket("acme-pg-wal").send().await.unwrap();
        assert_eq!(objects.contents().len(), 1, "nothing was deleted");
        assert!(s3.head_bucket().bucket("wal-empty").send().await.is_ok(), "named from stack and address");
    };

    for allow in [&[][..], &["--allow-destroy", "s3_bucket.wal"][..]] {
        let args = [&["destroy", "wal.toml", "--auto-approve"][..], allow].concat();
        let run = w.run(&args, &env).expect(1);
        assert!(run.stderr.contains("s3_bucket.wal") && run.stderr.contains("force_destroy"), "{}", run.stderr);
        still_there().await;
    }
    w.write("wal.toml", &stack(true));
    w.run(&["apply", "wal.toml", "--skip-checks", "--auto-approve"], &env).expect(0);
    let run = w.run(&["destroy", "wal.toml", "--auto-approve"], &env).expect(1);
    assert!(
        run.stderr.contains("refusing to delete") && run.stderr.contains("--allow-destroy 's3_bucket.wal'"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("s3_bucket.empty"), "an empty bucket is not guarded: {}", run.stderr);
    still_there().await;

    w.run(&["destroy", "wal.toml", "--auto-approve", "--allow-destroy", "s3_bucket.wal"], &env).expect(0);
    assert!(s3.list_buckets().send().await.unwrap().buckets().is_empty());
}
