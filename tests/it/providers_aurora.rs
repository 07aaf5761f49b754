//! `db_cluster` and `db_cluster_instance` against moto with the real SDK clients.
//!
//! Here: an Aurora PostgreSQL cluster with a writer (tier 0) and two readers
//! (tier 1) in three AZs, read back clean; in-place updates; out-of-band drift;
//! find_created; import; final snapshots; deletion protection; suppression of
//! AWS-made differences (engine minor versions, AZs); API calls per read.
//!
//! Not here (moto reports `available` at once and ignores ModifyDBCluster's
//! log-export and IAM-auth changes and Performance Insights): waits through
//! transitional statuses, timeouts, failed statuses, pending modified values,
//! log exports, IAM auth, Performance Insights and monitoring changes are
//! tested with aws-smithy-mocks in src/provider/aws/db_cluster.rs and
//! src/provider/aws/db_cluster_instance.rs.

use aws_sdk_rds::types::Tag;
use pgstack::addr::ResourceAddr;
use pgstack::provider::aws::db_cluster::{DELETION_PROTECTED, DbCluster};
use pgstack::provider::aws::db_cluster_instance::DbClusterInstance;
use pgstack::provider::{ReadScope, ResourceType};
use pgstack::value::{Attrs, Value};

use crate::support::moto::{MotoGuard, REGION, moto};
use crate::support::provider::{self, assert_clean, changes, db_network, read_one, strs, update};

const STACK: &str = "aurora-test";
const AZS: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];

/// What the engine hands to `create` for `addr` in this test's stack.
fn desired(rt: &dyn ResourceType, addr: &ResourceAddr, set: &[(&str, Value)]) -> Attrs {
    provider::desired(rt, STACK, addr, set)
}

fn calls(m: &MotoGuard) -> u64 {
    m.factory().calls().total()
}

fn member(key: &str, az: &str, tier: i64) -> (ResourceAddr, Attrs) {
    let addr = ResourceAddr::new("db_cluster_instance", "member").with_key(key);
    let want = desired(
        &DbClusterInstance,
        &addr,
        &[
            ("identifier", Value::str(format!("pg-main-{key}"))),
            ("cluster_identifier", Value::str("pg-main")),
            ("instance_class", Value::str("db.r6g.large")),
            ("availability_zone", Value::str(az)),
            ("promotion_tier", Value::Int(tier)),
        ],
    );
    (addr, want)
}

#[tokio::test]
async fn aurora_cluster_with_three_members_lifecycle() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let raw = m.factory().rds(REGION).await;
    let net = db_network(&m, &ctx, "pg-aurora", "10.30", &AZS).await;
    let addr = ResourceAddr::new("db_cluster", "main");
    let config = |extra: &[(&str, Value)]| {
        let mut set = vec![
            ("cluster_identifier", Value::str("PG-Main")),
            ("engine_version", Value::str("16.4")),
            ("db_subnet_group_name", Value::str(&net.subnet_group)),
            ("vpc_security_group_ids", strs(&[&net.security_group])),
            ("kms_key_id", Value::str(&net.key_arn)),
            ("availability_zones", strs(&AZS)),
            ("database_name", Value::str("app")),
            ("enabled_cloudwatch_logs_exports", strs(&["postgresql"])),
        ];
        set.extend(extra.iter().cloned());
        desired(&DbCluster, &addr, &set)
    };
    let want = config(&[]);

    // Create: managed password (only the secret ARN), encryption with our key, seeds' defaults.
    let created = DbCluster.create(&ctx, &want).await.expect("create cluster");
    assert_eq!(created["id"], Value::str("pg-main"), "AWS lowercases the identifier; so does normalize");
    assert!(created["master_user_secret_arn"].as_str().is_some_and(|a| a.starts_with("arn:aws:secretsmanager:")));
    assert!(created["endpoint"].as_str().is_some_and(|e| e.starts_with("pg-main.cluster-")), "{created:?}");
    assert!(created["reader_endpoint"].as_str().is_some_and(|e| e.contains(".cluster-ro-")), "{created:?}");
    assert_eq!(created["backup_retention_period"], Value::Int(35));
    assert_eq!(created["storage_encrypted"], Value::Bool(true));
    assert_eq!(created["storage_type"], Value::str("aurora"), "Aurora Standard unless told");
    assert_eq!(created["iam_database_authentication_enabled"], Value::Bool(true));
    let secretish: Vec<&String> = created.keys().filter(|k| k.contains("password")).collect();
    assert_eq!(secretish, vec!["manage_master_user_password"], "no password attribute is ever read");
    assert_clean(&DbCluster, &created, &want);
    let read = read_one(&DbCluster, &ctx, "pg-main").await;
    assert_eq!(read, created, "a read right after create gives the same attributes");

    // Engine "16" accepts AWS's 16.4; AZs AWS filled in beyond the configured ones are no change.
    assert_clean(&DbCluster, &read, &config(&[("engine_version", Value::str("16"))]));
    assert_clean(&DbCluster, &read, &config(&[("availability_zones", strs(&["us-east-1a", "us-east-1b"]))]));
    assert_eq!(changes(&DbCluster, &read, &config(&[("engine_version", Value::str("17"))])), vec!["engine_version"]);

    // Three members: the writer at tier 0 and two tier-1 readers in other AZs.
    let members = [member("a", AZS[0], 0), member("b", AZS[1], 1), member("c", AZS[2], 1)];
    let mut instances = Vec::new();
    for (_, want) in &members {
        let got = DbClusterInstance.create(&ctx, want).await.expect("create instance");
        assert_clean(&DbClusterInstance, &got, want);
        instances.push(got);
    }
    let ids: Vec<String> = members.iter().map(|(_, w)| w["identifier"].as_str().unwrap().to_owned()).collect();
    let before = calls(&m);
    let all = DbClusterInstance.read_many(&ctx, &ids, &ReadScope::All).await.expect("read members");
    assert_eq!(
        calls(&m) - before,
        2,
        "one DescribeDBInstances reads all members, one DescribeDBClusters their clusters"
    );
    let managed: std::collections::BTreeSet<String> = ["instance_class".to_owned(), "tags".to_owned()].into();
    let before = calls(&m);
    let scoped = DbClusterInstance.read_many(&ctx, &ids, &ReadScope::Only(managed)).await.expect("read members");
    assert_eq!(calls(&m) - before, 1, "without parameter_apply_status in scope, no DescribeDBClusters");
    assert_eq!(scoped, all);
    for ((_, want), id) in members.iter().zip(&ids) {
        assert_clean(&DbClusterInstance, &all[id], want);
        assert_eq!(all[id]["endpoint"].as_str().map(|e| e.starts_with(id.as_str())), Some(true));
    }
    let cluster = raw.describe_db_clusters().db_cluster_identifier("pg-main").send().await.unwrap();
    let roles: Vec<(String, bool, i32)> = cluster.db_clusters()[0]
        .db_cluster_members()
        .iter()
        .map(|m| {
            (
                m.db_instance_identifier().unwrap().to_owned(),
                m.is_cluster_writer().unwrap(),
                m.promotion_tier().unwrap(),
            )
        })
        .collect();
    assert!(roles.contains(&("pg-main-a".into(), true, 0)), "{roles:?}");
    assert!(
        roles.contains(&("pg-main-b".into(), false, 1)) && roles.contains(&("pg-main-c".into(), false, 1)),
        "{roles:?}"
    );
    let before = calls(&m);
    DbCluster.read_many(&ctx, &["pg-main".to_owned(), "missing".to_owned()], &ReadScope::All).await.unwrap();
    assert_eq!(calls(&m) - before, 1, "one DescribeDBClusters per read");

    // find_created by ownership tags, per address and stack.
    assert_eq!(DbCluster.find_created(&ctx, &addr).await.unwrap().as_deref(), Some("pg-main"));
    assert_eq!(DbCluster.find_created(&ctx, &ResourceAddr::new("db_cluster", "other")).await.unwrap(), None);
    assert_eq!(DbCluster.find_created(&m.ctx(REGION, "other-stack"), &addr).await.unwrap(), None);
    assert_eq!(DbClusterInstance.find_created(&ctx, &members[1].0).await.unwrap().as_deref(), Some("pg-main-b"));
    let absent = ResourceAddr::new("db_cluster_instance", "member").with_key("z");
    assert_eq!(DbClusterInstance.find_created(&ctx, &absent).await.unwrap(), None);

    // In place: retention and I/O-Optimized storage on the cluster, the class of a reader.
    let want7 = config(&[("backup_retention_period", Value::Int(7)), ("storage_type", Value::str("aurora-iopt1"))]);
    assert_eq!(changes(&DbCluster, &read, &want7), vec!["backup_retention_period", "storage_type"]);
    let updated = update(&DbCluster, &ctx, "pg-main", &read, &want7).await.expect("update cluster");
    assert_eq!(updated["backup_retention_period"], Value::Int(7));
    assert_eq!(updated["storage_type"], Value::str("aurora-iopt1"));
    assert_eq!(read_one(&DbCluster, &ctx, "pg-main").await, updated);
    let (_, reader) = &members[1];
    let mut bigger = reader.clone();
    bigger.insert("instance_class".into(), Value::str("db.r6g.xlarge"));
    let prior = &all["pg-main-b"];
    assert_eq!(changes(&DbClusterInstance, prior, &bigger), vec!["instance_class"]);
    update(&DbClusterInstance, &ctx, "pg-main-b", prior, &bigger).await.expect("update instance");
    assert_clean(&DbClusterInstance, &read_one(&DbClusterInstance, &ctx, "pg-main-b").await, &bigger);

    // `parameter_apply_status = "in-sync"`: nothing to do while in sync; a pending reboot (moto never
    // has one, so the prior says so) is carried out with RebootDBInstance.
    let (_, reader_c) = &members[2];
    let mut in_sync = reader_c.clone();
    in_sync.insert("parameter_apply_status".into(), Value::str("in-sync"));
    assert_clean(&DbClusterInstance, &all["pg-main-c"], &in_sync);
    let mut pending = all["pg-main-c"].clone();
    pending.insert("parameter_apply_status".into(), Value::str("pending-reboot"));
    assert_eq!(changes(&DbClusterInstance, &pending, &in_sync), vec!["parameter_apply_status"]);
    let before = m.factory().calls().snapshot();
    let rebooted = update(&DbClusterInstance, &ctx, "pg-main-c", &pending, &in_sync).await.expect("reboot");
    assert_clean(&DbClusterInstance, &rebooted, &in_sync);
    let after = m.factory().calls().snapshot();
    let count = |k: &str, s: &std::collections::BTreeMap<String, u64>| s.get(k).copied().unwrap_or(0);
    assert_eq!(count("rds:RebootDBInstance", &after) - count("rds:RebootDBInstance", &before), 1);
    assert_eq!(count("rds:ModifyDBInstance", &after), count("rds:ModifyDBInstance", &before), "only the reboot");

    // Out-of-band change of retention shows in a read and in the diff.
    raw.modify_db_cluster().db_cluster_identifier("pg-main").backup_retention_period(14).send().await.unwrap();
    let drifted = read_one(&DbCluster, &ctx, "pg-main").await;
    assert_eq!(drifted["backup_retention_period"], Value::Int(14));
    assert_eq!(changes(&DbCluster, &drifted, &want7), vec!["backup_retention_period"]);
    assert!(DbCluster.notes(&drifted).is_empty());

    // Delete: members first (the cluster keeps none), then the cluster.
    for (id, prior) in ids.iter().zip(&instances) {
        DbClusterInstance.delete(&ctx, id, prior).await.expect("delete instance");
    }
    assert!(DbClusterInstance.read_many(&ctx, &ids, &ReadScope::All).await.unwrap().is_empty());
    DbClusterInstance.delete(&ctx, "pg-main-a", &instances[0]).await.expect("deleting a missing instance succeeds");

    // Deletion protection (on by default) refuses the delete, from state or from AWS's answer.
    let err = DbCluster.delete(&ctx, "pg-main", &drifted).await.unwrap_err();
    assert_eq!(err.to_string(), DELETION_PROTECTED);
    let mut stale = drifted.clone();
    stale.insert("deletion_protection".into(), Value::Bool(false));
    let err = DbCluster.delete(&ctx, "pg-main", &stale).await.unwrap_err();
    assert_eq!(err.to_string(), DELETION_PROTECTED, "AWS's refusal reads the same");

    // Turn it off, then delete with the default final snapshot.
    let off = config(&[
        ("backup_retention_period", Value::Int(7)),
        ("storage_type", Value::str("aurora-iopt1")),
        ("deletion_protection", Value::Bool(false)),
    ]);
    let unprotected = update(&DbCluster, &ctx, "pg-main", &drifted, &off).await.expect("protection off");
    assert_eq!(unprotected["deletion_protection"], Value::Bool(false));
    let mut prior = unprotected.clone();
    prior.insert("skip_final_snapshot".into(), Value::Bool(false));
    DbCluster.delete(&ctx, "pg-main", &prior).await.expect("delete cluster");
    assert!(DbCluster.read_many(&ctx, &["pg-main".to_owned()], &ReadScope::All).await.unwrap().is_empty());
    let snaps =
        raw.describe_db_cluster_snapshots().db_cluster_identifier("pg-main").snapshot_type("manual").send().await;
    let names: Vec<String> = snaps
        .unwrap()
        .db_cluster_snapshots()
        .iter()
        .filter_map(|s| s.db_cluster_snapshot_identifier().map(str::to_owned))
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("pg-main-final-"), "{names:?}");
    DbCluster.delete(&ctx, "pg-main", &prior).await.expect("deleting a missing cluster succeeds");
}

/// A cluster and a member made by hand are read in canonical form (missing
/// ids omitted); a config describing them diffs clean; a named final snapshot
/// is taken, and `skip_final_snapshot` takes none.
#[tokio::test]
async fn import_and_final_snapshot_choices() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let raw = m.factory().rds(REGION).await;
    for id in ["hand-made", "throwaway"] {
        raw.create_db_cluster()
            .db_cluster_identifier(id)
            .engine("aurora-postgresql")
            .engine_version("16.6")
            .master_username("postgres")
            .manage_master_user_password(true)
            .storage_encrypted(true)
            .storage_type("aurora-iopt1")
            .backup_retention_period(35)
            .enable_iam_database_authentication(true)
            .copy_tags_to_snapshot(true)
            .availability_zones("us-east-1a")
            .tags(Tag::builder().key("Owner").value("dba").build())
            .send()
            .await
            .unwrap();
    }
    raw.create_db_instance()
        .db_instance_identifier("hand-made-1")
        .db_cluster_identifier("hand-made")
        .engine("aurora-postgresql")
        .db_instance_class("db.r6g.large")
        .send()
        .await
        .unwrap();

    let got = DbCluster
        .read_many(&ctx, &["hand-made".to_owned(), "nope".to_owned()], &ReadScope::All)
        .await
        .expect("read_many");
    assert_eq!(got.keys().collect::<Vec<_>>(), vec!["hand-made"], "the missing id is omitted, not an error");
    let cluster = &got["hand-made"];
    let mut config = desired(
        &DbCluster,
        &ResourceAddr::new("db_cluster", "imported"),
        &[
            ("cluster_identifier", Value::str("hand-made")),
            ("engine_version", Value::str("16.4")),
            ("deletion_protection", Value::Bool(false)),
            ("availability_zones", strs(&["us-east-1a"])),
            ("storage_type", Value::str("aurora-iopt1")),
        ],
    );
    config.insert("tags".into(), Value::from(std::collections::BTreeMap::from([("Owner".into(), "dba".into())])));
    assert_clean(&DbCluster, cluster, &config);
    config.remove("storage_type");
    let standard = desired(&DbCluster, &ResourceAddr::new("db_cluster", "imported"), &[]);
    config.insert("storage_type".into(), standard["storage_type"].clone());
    assert_eq!(changes(&DbCluster, cluster, &config), vec!["storage_type"], "Standard is the default");

    let member = read_one(&DbClusterInstance, &ctx, "hand-made-1").await;
    assert_eq!(member["cluster_identifier"], Value::str("hand-made"));
    assert_eq!(member["instance_class"], Value::str("db.r6g.large"));
    assert_eq!(member["parameter_apply_status"], Value::str("in-sync"));
    DbClusterInstance.delete(&ctx, "hand-made-1", &member).await.expect("delete member");

    // A named final snapshot.
    let mut prior = cluster.clone();
    prior.insert("final_snapshot_identifier".into(), Value::str("hand-made-last"));
    DbCluster.delete(&ctx, "hand-made", &prior).await.expect("delete");
    let snap = raw.describe_db_cluster_snapshots().db_cluster_snapshot_identifier("hand-made-last").send().await;
    assert_eq!(snap.unwrap().db_cluster_snapshots().len(), 1);

    // skip_final_snapshot: gone, and no manual snapshot.
    let mut prior = read_one(&DbCluster, &ctx, "throwaway").await;
    prior.insert("skip_final_snapshot".into(), Value::Bool(true));
    DbCluster.delete(&ctx, "throwaway", &prior).await.expect("delete");
    assert!(DbCluster.read_many(&ctx, &["throwaway".to_owned()], &ReadScope::All).await.unwrap().is_empty());
    let snaps = raw.describe_db_cluster_snapshots().db_cluster_identifier("throwaway").snapshot_type("manual").send();
    assert!(snaps.await.unwrap().db_cluster_snapshots().is_empty());
}
