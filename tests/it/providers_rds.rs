//! `db_instance` (RDS for PostgreSQL) against moto with the real SDK clients.
//!
//! Here: a Multi-AZ primary on gp3 storage with KMS encryption, a subnet
//! group and an RDS-managed password, read back clean; in-place updates;
//! out-of-band drift; find_created; import; a same-region read replica;
//! final snapshots (named, default, skipped); deletion protection; no
//! password anywhere; API calls per read.
//!
//! Not here (moto reports `available` at once, keeps no pending modified
//! values, and breaks cross-region replicas): cross-region replica requests,
//! waits through transitional statuses and until DBInstanceNotFound, held
//! changes and `apply_immediately`, and AWS's deletion-protection refusal are
//! tested with aws-smithy-mocks in src/provider/aws/db_instance.rs.

use aws_sdk_rds::types::Tag;
use pgstack::addr::ResourceAddr;
use pgstack::provider::aws::db_instance::DbInstance;
use pgstack::provider::{Ctx, ReadScope, ResourceType};
use pgstack::value::{Attrs, Value};

use crate::support::moto::{MotoGuard, REGION, moto};
use crate::support::provider::{DbNetwork, assert_clean, changes, db_network, desired, read_one, strs, update};

const STACK: &str = "rds-test";
const AZS: [&str; 2] = ["us-east-1a", "us-east-1b"];

fn config(net: &DbNetwork, addr: &ResourceAddr, set: &[(&str, Value)]) -> Attrs {
    let mut all = vec![
        ("identifier", Value::str("PG-Main")),
        ("engine_version", Value::str("16.4")),
        ("instance_class", Value::str("db.m6g.large")),
        ("allocated_storage", Value::Int(100)),
        ("max_allocated_storage", Value::Int(500)),
        ("db_name", Value::str("app")),
        ("db_subnet_group_name", Value::str(&net.subnet_group)),
        ("vpc_security_group_ids", strs(&[&net.security_group])),
        ("parameter_group_name", Value::str("pg16-tuned")),
        ("kms_key_id", Value::str(&net.key_arn)),
        ("master_user_secret_kms_key_id", Value::str(&net.key_arn)),
        ("enabled_cloudwatch_logs_exports", strs(&["upgrade", "postgresql"])),
        ("tags", Value::Map([("Team".to_owned(), Value::str("data"))].into())),
    ];
    all.extend(set.iter().cloned());
    desired(&DbInstance, STACK, addr, &all)
}

fn calls(m: &MotoGuard) -> u64 {
    m.factory().calls().total()
}

/// Manual snapshots of instance `id`.
async fn manual_snapshots(m: &MotoGuard, id: &str) -> Vec<String> {
    let out = m
        .factory()
        .rds(REGION)
        .await
        .describe_db_snapshots()
        .db_instance_identifier(id)
        .snapshot_type("manual")
        .send()
        .await
        .expect("DescribeDBSnapshots");
    out.db_snapshots().iter().filter_map(|s| s.db_snapshot_identifier().map(str::to_owned)).collect()
}

/// The RDS-managed secret's value: it must appear in no attribute.
async fn secret_value(m: &MotoGuard, arn: &str) -> String {
    let sm = m.factory().secretsmanager(REGION).await;
    sm.get_secret_value().secret_id(arn).send().await.unwrap().secret_string().unwrap().to_owned()
}

fn assert_no_password(attrs: &Attrs, secret: &str) {
    let keys: Vec<&String> = attrs.keys().filter(|k| k.contains("password")).collect();
    assert_eq!(keys, vec!["manage_master_user_password"], "no password attribute is ever read");
    let text = serde_json::to_string(&attrs.iter().map(|(k, v)| (k.clone(), v.to_json())).collect::<Vec<_>>());
    assert!(!text.unwrap().contains(secret), "the secret's value leaked into {attrs:?}");
}

async fn create_parameter_group(m: &MotoGuard) {
    m.factory()
        .rds(REGION)
        .await
        .create_db_parameter_group()
        .db_parameter_group_name("pg16-tuned")
        .db_parameter_group_family("postgres16")
        .description("tuned")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn rds_primary_and_replica_lifecycle() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let raw = m.factory().rds(REGION).await;
    let net = db_network(&m, &ctx, "pg-rds", "10.40", &AZS).await;
    create_parameter_group(&m).await;
    let addr = ResourceAddr::new("db_instance", "primary");
    let want = config(&net, &addr, &[]);

    // Create: Multi-AZ, gp3, encrypted with our key, managed password, seeds' defaults.
    let created = DbInstance.create(&ctx, &want).await.expect("create primary");
    assert_eq!(created["id"], Value::str("pg-main"), "AWS lowercases the identifier; so does normalize");
    assert!(created["arn"].as_str().is_some_and(|a| a.ends_with(":db:pg-main")), "{created:?}");
    let address = created["address"].as_str().expect("address").to_owned();
    assert_eq!(created["endpoint"], Value::str(format!("{address}:5432")));
    assert_eq!(created["multi_az"], Value::Bool(true));
    assert_eq!(created["storage_type"], Value::str("gp3"));
    assert_eq!(created["storage_encrypted"], Value::Bool(true));
    assert_eq!(created["kms_key_id"], Value::str(&net.key_arn));
    assert_eq!(created["backup_retention_period"], Value::Int(35));
    assert_eq!(created["deletion_protection"], Value::Bool(true));
    assert_eq!(created["parameter_apply_status"], Value::str("in-sync"));
    let secret_arn = created["master_user_secret_arn"].as_str().expect("master_user_secret_arn").to_owned();
    assert!(secret_arn.starts_with("arn:aws:secretsmanager:"), "{secret_arn}");
    let secret = secret_value(&m, &secret_arn).await;
    assert_no_password(&created, &secret);
    assert_clean(&DbInstance, &created, &want);
    assert!(DbInstance.notes(&created).is_empty(), "{:?}", DbInstance.notes(&created));

    let before = calls(&m);
    let read = read_one(&DbInstance, &ctx, "pg-main").await;
    assert_eq!(calls(&m) - before, 1, "one DescribeDBInstances per read");
    assert_eq!(read, created, "a read right after create gives the same attributes");

    // Engine "16" accepts AWS's 16.4; a smaller storage floor is no change; a new major is.
    assert_clean(&DbInstance, &read, &config(&net, &addr, &[("engine_version", Value::str("16"))]));
    assert_clean(&DbInstance, &read, &config(&net, &addr, &[("allocated_storage", Value::Int(50))]));
    let major = config(&net, &addr, &[("engine_version", Value::str("17"))]);
    assert_eq!(changes(&DbInstance, &read, &major), vec!["engine_version"]);

    // find_created by ownership tags, per address and stack.
    assert_eq!(DbInstance.find_created(&ctx, &addr).await.unwrap().as_deref(), Some("pg-main"));
    assert_eq!(DbInstance.find_created(&ctx, &ResourceAddr::new("db_instance", "other")).await.unwrap(), None);
    assert_eq!(DbInstance.find_created(&m.ctx(REGION, "other-stack"), &addr).await.unwrap(), None);

    // In place: retention, class, autoscaling ceiling and tags, applied immediately.
    let want2 = config(
        &net,
        &addr,
        &[
            ("backup_retention_period", Value::Int(14)),
            ("instance_class", Value::str("db.m6g.xlarge")),
            ("max_allocated_storage", Value::Int(1000)),
            ("apply_immediately", Value::Bool(true)),
            ("tags", Value::Map([("Team".to_owned(), Value::str("dba"))].into())),
        ],
    );
    let mut planned = changes(&DbInstance, &read, &want2);
    planned.sort();
    assert_eq!(planned, ["backup_retention_period", "instance_class", "max_allocated_storage", "tags"]);
    let updated = update(&DbInstance, &ctx, "pg-main", &read, &want2).await.expect("update");
    assert_clean(&DbInstance, &updated, &want2);
    let read2 = read_one(&DbInstance, &ctx, "pg-main").await;
    assert_eq!(read2, updated);
    let aws = raw.describe_db_instances().db_instance_identifier("pg-main").send().await.unwrap();
    let aws = &aws.db_instances()[0];
    assert_eq!(
        (aws.db_instance_class(), aws.backup_retention_period(), aws.max_allocated_storage()),
        (Some("db.m6g.xlarge"), Some(14), Some(1000))
    );

    // `parameter_apply_status = "in-sync"`: a pending reboot (moto never has one, so the prior
    // says so) is carried out with RebootDBInstance alone, and reads back in sync.
    let mut in_sync = want2.clone();
    in_sync.insert("parameter_apply_status".into(), Value::str("in-sync"));
    assert_clean(&DbInstance, &read2, &in_sync);
    let mut pending = read2.clone();
    pending.insert("parameter_apply_status".into(), Value::str("pending-reboot"));
    assert_eq!(changes(&DbInstance, &pending, &in_sync), vec!["parameter_apply_status"]);
    let counts = || {
        let s = m.factory().calls().snapshot();
        (s.get("rds:RebootDBInstance").copied().unwrap_or(0), s.get("rds:ModifyDBInstance").copied().unwrap_or(0))
    };
    let (reboots, modifies) = counts();
    let rebooted = update(&DbInstance, &ctx, "pg-main", &pending, &in_sync).await.expect("reboot");
    assert_clean(&DbInstance, &rebooted, &in_sync);
    assert_eq!(counts(), (reboots + 1, modifies), "one RebootDBInstance and nothing else");

    // Out-of-band changes show in a read and in the diff.
    raw.modify_db_instance()
        .db_instance_identifier("pg-main")
        .backup_retention_period(7)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let arn = created["arn"].as_str().unwrap();
    raw.add_tags_to_resource()
        .resource_name(arn)
        .tags(Tag::builder().key("Team").value("ops").build())
        .send()
        .await
        .unwrap();
    let drifted = read_one(&DbInstance, &ctx, "pg-main").await;
    assert_eq!(drifted["backup_retention_period"], Value::Int(7));
    let mut drift = changes(&DbInstance, &drifted, &want2);
    drift.sort();
    assert_eq!(drift, vec!["backup_retention_period", "tags"]);

    // A same-region replica named by the primary's ARN (as `${db_instance.primary.arn}` gives it).
    let replica_addr = ResourceAddr::new("db_instance", "replica");
    let replica_want = desired(
        &DbInstance,
        STACK,
        &replica_addr,
        &[
            ("identifier", Value::str("pg-main-replica")),
            ("replicate_source_db", Value::str(arn)),
            ("instance_class", Value::str("db.m6g.large")),
            ("multi_az", Value::Bool(false)),
            ("vpc_security_group_ids", strs(&[&net.security_group])),
            ("deletion_protection", Value::Bool(false)),
        ],
    );
    let replica = DbInstance.create(&ctx, &replica_want).await.expect("create replica");
    assert_eq!(replica["replicate_source_db"], Value::str("pg-main"), "AWS names a same-region source by id");
    assert_clean(&DbInstance, &replica, &replica_want);
    let both = DbInstance
        .read_many(&ctx, &["pg-main".to_owned(), "pg-main-replica".to_owned(), "gone".to_owned()], &ReadScope::All)
        .await
        .unwrap();
    assert_eq!(both.keys().collect::<Vec<_>>(), vec!["pg-main", "pg-main-replica"]);
    assert_eq!(both["pg-main-replica"]["replicate_source_db"], Value::str("pg-main"));
    assert_eq!(DbInstance.find_created(&ctx, &replica_addr).await.unwrap().as_deref(), Some("pg-main-replica"));

    // Deletion protection (on by default) refuses the primary's delete.
    let err = DbInstance.delete(&ctx, "pg-main", &drifted).await.unwrap_err();
    assert!(err.to_string().contains("deletion_protection is on"), "{err}");
    assert!(
        DbInstance.read_many(&ctx, &["pg-main".to_owned()], &ReadScope::All).await.unwrap().contains_key("pg-main")
    );

    // The replica goes first, without a final snapshot (AWS refuses one for replicas).
    let mut replica_prior = replica.clone();
    replica_prior.insert("skip_final_snapshot".into(), Value::Bool(false));
    DbInstance.delete(&ctx, "pg-main-replica", &replica_prior).await.expect("delete replica");
    assert!(manual_snapshots(&m, "pg-main-replica").await.is_empty());
    assert!(DbInstance.read_many(&ctx, &["pg-main-replica".to_owned()], &ReadScope::All).await.unwrap().is_empty());

    // Protection off, then delete with a named final snapshot.
    let off = config(
        &net,
        &addr,
        &[("deletion_protection", Value::Bool(false)), ("instance_class", Value::str("db.m6g.xlarge"))],
    );
    let unprotected = update(&DbInstance, &ctx, "pg-main", &drifted, &off).await.expect("protection off");
    assert_eq!(unprotected["deletion_protection"], Value::Bool(false));
    let mut prior = unprotected.clone();
    prior.insert("final_snapshot_identifier".into(), Value::str("pg-main-last"));
    DbInstance.delete(&ctx, "pg-main", &prior).await.expect("delete primary");
    assert!(DbInstance.read_many(&ctx, &["pg-main".to_owned()], &ReadScope::All).await.unwrap().is_empty());
    assert_eq!(manual_snapshots(&m, "pg-main").await, vec!["pg-main-last"]);
    DbInstance.delete(&ctx, "pg-main", &prior).await.expect("deleting a missing instance succeeds");
}

/// An instance made by hand is read in canonical form (missing ids omitted)
/// and a config describing it diffs clean; the default final snapshot is
/// taken, and `skip_final_snapshot` takes none.
#[tokio::test]
async fn import_and_final_snapshot_choices() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let raw = m.factory().rds(REGION).await;
    for id in ["hand-made", "throwaway"] {
        raw.create_db_instance()
            .db_instance_identifier(id)
            .engine("postgres")
            .engine_version("16.6")
            .db_instance_class("db.t4g.medium")
            .allocated_storage(20)
            .storage_type("gp3")
            .master_username("admin")
            .manage_master_user_password(true)
            .storage_encrypted(true)
            .kms_key_id("arn:aws:kms:us-east-1:123456789012:key/0b5c1e6a-1111-4222-8333-944455556666")
            .backup_retention_period(7)
            .tags(Tag::builder().key("Owner").value("dba").build())
            .send()
            .await
            .unwrap();
    }

    let got = DbInstance
        .read_many(&ctx, &["hand-made".to_owned(), "missing".to_owned()], &ReadScope::All)
        .await
        .expect("read_many");
    assert_eq!(got.keys().collect::<Vec<_>>(), vec!["hand-made"], "the missing instance is omitted, not an error");
    let imported = &got["hand-made"];
    assert_eq!(imported["username"], Value::str("admin"));
    assert!(imported.get("skip_final_snapshot").is_none(), "config-only values are never read");
    let secret = secret_value(&m, imported["master_user_secret_arn"].as_str().unwrap()).await;
    assert_no_password(imported, &secret);

    // A config describing it by hand (its own username, retention and flags) diffs clean.
    let addr = ResourceAddr::new("db_instance", "imported");
    let mut described = desired(
        &DbInstance,
        STACK,
        &addr,
        &[
            ("identifier", Value::str("hand-made")),
            ("engine_version", Value::str("16")),
            ("instance_class", Value::str("db.t4g.medium")),
            ("allocated_storage", Value::Int(20)),
            ("username", Value::str("admin")),
            ("kms_key_id", Value::str("0b5c1e6a-1111-4222-8333-944455556666")),
            ("backup_retention_period", Value::Int(7)),
            ("multi_az", Value::Bool(false)),
            ("iam_database_authentication_enabled", Value::Bool(false)),
            ("copy_tags_to_snapshot", Value::Bool(false)),
            ("deletion_protection", Value::Bool(false)),
        ],
    );
    described.insert("tags".into(), Value::Map([("Owner".to_owned(), Value::str("dba"))].into()));
    assert_clean(&DbInstance, imported, &described);
    // A different username would replace the database: the plan marks it so.
    let mut other_user = described.clone();
    other_user.insert("username".into(), Value::str("postgres"));
    assert_eq!(changes(&DbInstance, imported, &other_user), vec!["username"]);

    // Default final snapshot name; skip_final_snapshot takes none.
    let mut prior = imported.clone();
    prior.insert("skip_final_snapshot".into(), Value::Bool(false));
    DbInstance.delete(&ctx, "hand-made", &prior).await.expect("delete with final snapshot");
    let names = manual_snapshots(&m, "hand-made").await;
    assert!(names.len() == 1 && names[0].starts_with("hand-made-final-"), "{names:?}");

    let mut prior = DbInstance.read_many(&ctx, &["throwaway".to_owned()], &ReadScope::All).await.unwrap();
    let mut prior = prior.remove("throwaway").expect("throwaway");
    prior.insert("skip_final_snapshot".into(), Value::Bool(true));
    DbInstance.delete(&ctx, "throwaway", &prior).await.expect("delete without final snapshot");
    assert!(manual_snapshots(&m, "throwaway").await.is_empty());
}

/// Configurations AWS would refuse fail before any call, with the reason.
#[tokio::test]
async fn invalid_configurations_fail_clearly() {
    let m = moto();
    let ctx: Ctx = m.ctx(REGION, STACK);
    let addr = ResourceAddr::new("db_instance", "bad");
    let base = [("identifier", Value::str("bad")), ("instance_class", Value::str("db.m6g.large"))];
    let cases: Vec<(Vec<(&str, Value)>, &str)> = vec![
        (vec![], "needs allocated_storage"),
        (vec![("allocated_storage", Value::Int(100)), ("iops", Value::Int(6000))], "fixed baseline"),
        (
            vec![("allocated_storage", Value::Int(100)), ("manage_master_user_password", Value::Bool(false))],
            "never handles master passwords",
        ),
        (vec![("allocated_storage", Value::Int(100)), ("identifier", Value::str("1-bad"))], "start with a letter"),
    ];
    for (extra, want) in cases {
        let mut set = base.to_vec();
        set.extend(extra);
        let err = DbInstance.create(&ctx, &desired(&DbInstance, STACK, &addr, &set)).await.expect_err(want);
        assert!(err.to_string().contains(want), "{want}: {err}");
    }
    assert_eq!(calls(&m), 0, "no call for a configuration that cannot work");
}
