//! RDS behaviours moto does not have (docs/testing.md, "AWS behaviours moto
//! does not have", RDS), reproduced through the fault proxy in front of moto
//! with the real binary and checked with the SDK afterwards:
//!
//! - RDS refusing a change to a busy cluster or instance
//!   (`InvalidDBClusterStateFault`, `InvalidDBInstanceState`: instances
//!   created into one cluster in parallel, terraform-provider-aws #50115; a
//!   replica's source still backing up). The proxy answers the next such
//!   request with the refusal without forwarding it, as RDS makes nothing;
//!   apply sends it again and converges.
//! - RDS refusing to delete a subnet or parameter group a database it just
//!   deleted still holds (`InvalidDBSubnetGroupStateFault`,
//!   `InvalidDBParameterGroupState`): destroy converges.
//! - A DB subnet group in one availability zone, refused at plan.
//!
//! The status transitions (`creating`, `backing-up`, `modifying`, a status
//! that lags a Modify call) and the catalog refusals (moto has no
//! DescribeDBEngineVersions) are tested with aws-smithy-mocks beside the code.

use aws_sdk_rds::Client;

use crate::faults::{RDS_EXAMPLE_GUARDED, owned_objects};
use crate::support::cli::{Run, Workdir};
use crate::support::faults::{Fault, FaultProxy};
use crate::support::moto::{MotoGuard, REGION, moto};

/// The environment of a run through `proxy`.
fn through(m: &MotoGuard, proxy: &FaultProxy) -> Vec<(String, String)> {
    let mut env = m.env();
    env.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint()));
    env
}

/// A workdir holding `example` and the modules it uses.
fn example(example: &str, modules: &[&str]) -> Workdir {
    let w = Workdir::new();
    w.copy(&format!("examples/{example}"), example);
    for module in modules {
        let path = format!("modules/{module}/module.toml");
        w.copy(&path, &path);
    }
    w
}

/// `text` with `after` put on a new line after the first `anchor`.
fn with_line(text: &str, anchor: &str, after: &str) -> String {
    assert!(text.contains(anchor), "{anchor} not in the stack");
    text.replacen(anchor, &format!("{anchor}\n{after}"), 1)
}

/// A refusal of RDS, answered by the proxy in RDS's own protocol.
fn refused(code: &'static str, message: &'static str) -> Fault {
    Fault::Refuse { status: 400, code, message }
}

const CLUSTER_BUSY: Fault = Fault::Refuse {
    status: 400,
    code: "InvalidDBClusterStateFault",
    message: "The database cluster has been modified by a concurrent operation. Please check the cluster's status \
              and try again.",
};

/// Applies `args` (after `apply`), expecting success.
fn apply(w: &Workdir, env: &[(String, String)], file: &str, extra: &[&str]) -> Run {
    let mut args = vec!["apply", file, "--skip-checks", "--auto-approve"];
    args.extend(extra);
    w.run(&args, env).expect(0)
}

/// (identifier, class, cluster) of every DB instance moto holds, sorted.
async fn instances(rds: &Client) -> Vec<(String, String, Option<String>)> {
    let out = rds.describe_db_instances().send().await.expect("describe instances");
    let mut all: Vec<_> = out
        .db_instances()
        .iter()
        .map(|i| {
            (
                i.db_instance_identifier().unwrap_or_default().to_owned(),
                i.db_instance_class().unwrap_or_default().to_owned(),
                i.db_cluster_identifier().map(str::to_owned),
            )
        })
        .collect();
    all.sort();
    all
}

/// The value of `parameter` the user set in DB parameter group `group`.
async fn parameter(rds: &Client, group: &str, parameter: &str) -> Option<String> {
    let out = rds.describe_db_parameters().db_parameter_group_name(group).source("user").send().await.expect("params");
    out.parameters()
        .iter()
        .find(|p| p.parameter_name() == Some(parameter))
        .and_then(|p| p.parameter_value().map(str::to_owned))
}

/// Names of the subnet groups, parameter groups and cluster parameter groups moto holds.
async fn groups(rds: &Client) -> Vec<String> {
    let subnet = rds.describe_db_subnet_groups().send().await.expect("subnet groups");
    let db = rds.describe_db_parameter_groups().send().await.expect("parameter groups");
    let cluster = rds.describe_db_cluster_parameter_groups().send().await.expect("cluster parameter groups");
    let mut names: Vec<String> = subnet
        .db_subnet_groups()
        .iter()
        .filter_map(|g| g.db_subnet_group_name())
        .chain(db.db_parameter_groups().iter().filter_map(|g| g.db_parameter_group_name()))
        .chain(cluster.db_cluster_parameter_groups().iter().filter_map(|g| g.db_cluster_parameter_group_name()))
        .filter(|n| !n.starts_with("default"))
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

/// The guarded addresses of `example` to name with `--allow-destroy`.
fn allow_destroy<'a>(guarded: &[&'a str]) -> Vec<&'a str> {
    guarded.iter().flat_map(|a| ["--allow-destroy", a]).collect()
}

/// Aurora (examples/aurora.toml) while RDS says the cluster is busy: two of
/// the three CreateDBInstance calls into the new cluster are refused as a
/// concurrent operation, a class change's ModifyDBInstance as busy, a
/// backup change's ModifyDBCluster as busy; each is sent again and apply
/// converges. Destroy converges while RDS still holds the subnet group and
/// the cluster parameter group of the cluster it just deleted.
#[tokio::test(flavor = "multi_thread")]
async fn aurora_converges_while_rds_says_the_cluster_is_busy() {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    let env = through(&m, &proxy);
    let rds = m.factory().rds(REGION).await;
    let file = "aurora.toml";
    let w = example(file, &["network", "aurora-postgres"]);

    proxy.inject("CreateDBInstance", CLUSTER_BUSY, 2);
    let run = apply(&w, &env, file, &[]);
    assert!(
        run.stderr.contains("Still retrying CreateDBInstance after RDS said the cluster is busy with another change"),
        "{}",
        run.stderr
    );
    assert_eq!((proxy.unused(), proxy.seen("CreateDBInstance")), (0, 5), "two refusals, three instances");
    let class = |c: &str| {
        ["reader-b", "reader-c", "writer"]
            .map(|i| (format!("aurora-example-{i}"), c.to_owned(), Some("aurora-example".to_owned())))
            .to_vec()
    };
    assert_eq!(instances(&rds).await, class("db.r6g.large"));
    let memory = parameter(&rds, "aurora-example-instance", "shared_buffers").await;
    let network = owned_objects(&m, "aurora-example").await;
    assert_eq!(network.len(), 7, "VPC, 3 subnets, 2 security groups, KMS key: {network:?}");
    assert!(network.values().all(|n| *n == 1), "{network:?}");

    // A bigger class: ModifyDBInstance refused once as the cluster is busy; the instance
    // parameter group (memory sized from the class) changes too.
    proxy.inject("ModifyDBInstance", CLUSTER_BUSY, 1);
    let bigger = ["--var", "instance_class=db.r6g.xlarge"];
    let run = apply(&w, &env, file, &bigger);
    // Three instances, the writer's parameter group and each reader's.
    assert!(run.stdout.contains("0 added, 6 changed, 0 destroyed"), "{}", run.stdout);
    assert_eq!((proxy.unused(), proxy.seen("ModifyDBInstance")), (0, 4));
    assert_eq!(instances(&rds).await, class("db.r6g.xlarge"));
    assert_ne!(parameter(&rds, "aurora-example-instance", "shared_buffers").await, memory);

    // Backups and a parameter: ModifyDBCluster refused once as busy.
    let text = std::fs::read_to_string(w.path().join(file)).unwrap();
    let text = with_line(&text, "deletion_protection  = false", "backup_retention_days = 7\napp_replicas = 14");
    w.write(file, &text);
    proxy.inject("ModifyDBCluster", CLUSTER_BUSY, 1);
    apply(&w, &env, file, &bigger);
    assert_eq!((proxy.unused(), proxy.seen("ModifyDBCluster")), (0, 2));
    let clusters = rds.describe_db_clusters().send().await.expect("clusters");
    let retention: Vec<_> = clusters.db_clusters().iter().map(|c| c.backup_retention_period()).collect();
    assert_eq!(retention, [Some(7)]);
    assert_eq!(parameter(&rds, "aurora-example-instance", "max_connections").await.as_deref(), Some("330"));
    let plan = w.run(&["plan", file, "--detailed-exitcode", "--var", "instance_class=db.r6g.xlarge"], &env).expect(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);

    proxy.inject("DeleteDBSubnetGroup", refused("InvalidDBSubnetGroupStateFault", "still in use"), 1);
    proxy.inject("DeleteDBClusterParameterGroup", refused("InvalidDBParameterGroupState", "still in use"), 1);
    let guarded = [
        "module.aurora.db_cluster.main",
        "module.aurora.db_cluster_instance.writer",
        "module.aurora.db_cluster_instance.reader[\"b\"]",
        "module.aurora.db_cluster_instance.reader[\"c\"]",
        "module.aurora.kms_key.db",
        "module.aurora.cloudwatch_log_group.postgresql",
    ];
    let mut destroy = vec!["destroy", file, "--auto-approve", "--var", "instance_class=db.r6g.xlarge"];
    destroy.extend(allow_destroy(&guarded));
    let run = w.run(&destroy, &env).expect(0);
    assert!(
        run.stderr.contains("retrying DeleteDBSubnetGroup after a database still uses the group"),
        "{}",
        run.stderr
    );
    assert_eq!((proxy.unused(), proxy.seen("DeleteDBSubnetGroup")), (0, 2));
    assert!(rds.describe_db_clusters().send().await.expect("clusters").db_clusters().is_empty());
    assert!(instances(&rds).await.is_empty());
    assert!(groups(&rds).await.is_empty(), "{:?}", groups(&rds).await);
    assert!(owned_objects(&m, "aurora-example").await.is_empty());
}

/// RDS for PostgreSQL (examples/rds.toml) while RDS says an instance is busy:
/// the replica's create is refused once (its source not available yet), a
/// class change's and a backup change's ModifyDBInstance once each; apply
/// converges every time, and destroy while RDS still holds the subnet group.
#[tokio::test(flavor = "multi_thread")]
async fn rds_converges_while_rds_says_the_instance_is_busy() {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    let env = through(&m, &proxy);
    let rds = m.factory().rds(REGION).await;
    let file = "rds.toml";
    let w = example(file, &["network", "rds-postgres"]);
    let busy = || refused("InvalidDBInstanceState", "DB instance is not in an available state");

    proxy.inject("CreateDBInstanceReadReplica", busy(), 1);
    let run = apply(&w, &env, file, &[]);
    assert!(
        run.stderr.contains("retrying CreateDBInstanceReadReplica after RDS said the instance is busy"),
        "{}",
        run.stderr
    );
    assert_eq!((proxy.unused(), proxy.seen("CreateDBInstanceReadReplica")), (0, 2));
    let pair = |primary: &str| {
        vec![
            ("rds-example".to_owned(), primary.to_owned(), None),
            ("rds-example-replica".to_owned(), "db.m6g.large".to_owned(), None),
        ]
    };
    assert_eq!(instances(&rds).await, pair("db.m6g.large"));
    let network = owned_objects(&m, "rds-example").await;
    assert_eq!(network.len(), 6, "VPC, 2 subnets, 2 security groups, KMS key: {network:?}");
    assert!(network.values().all(|n| *n == 1), "{network:?}");
    let replica = rds.describe_db_instances().db_instance_identifier("rds-example-replica").send().await.unwrap();
    let source = replica.db_instances().first().and_then(|i| i.read_replica_source_db_instance_identifier());
    assert!(source.is_some_and(|s| s.ends_with("rds-example")), "{source:?}");

    let text = std::fs::read_to_string(w.path().join(file)).unwrap();
    let text = text.replacen("instance_class         = \"db.m6g.large\"", "instance_class = \"db.m6g.xlarge\"", 1);
    w.write(file, &text);
    proxy.inject("ModifyDBInstance", busy(), 1);
    apply(&w, &env, file, &[]);
    assert_eq!(proxy.unused(), 0);
    assert_eq!(instances(&rds).await, pair("db.m6g.xlarge"));

    let text = with_line(&text, "deletion_protection    = false", "backup_retention_days = 7\napp_replicas = 14");
    w.write(file, &text);
    proxy.inject("ModifyDBInstance", busy(), 1);
    apply(&w, &env, file, &[]);
    assert_eq!(proxy.unused(), 0);
    let primary = rds.describe_db_instances().db_instance_identifier("rds-example").send().await.unwrap();
    assert_eq!(primary.db_instances().first().and_then(|i| i.backup_retention_period()), Some(7));
    assert_eq!(parameter(&rds, "rds-example", "max_connections").await.as_deref(), Some("330"));
    w.run(&["plan", file, "--detailed-exitcode"], &env).expect(0);

    proxy.inject("DeleteDBSubnetGroup", refused("InvalidDBSubnetGroupStateFault", "still in use"), 1);
    let guarded = RDS_EXAMPLE_GUARDED;
    let mut destroy = vec!["destroy", file, "--auto-approve"];
    destroy.extend(allow_destroy(&guarded));
    w.run(&destroy, &env).expect(0);
    assert_eq!((proxy.unused(), proxy.seen("DeleteDBSubnetGroup")), (0, 2));
    assert!(instances(&rds).await.is_empty());
    assert!(groups(&rds).await.is_empty(), "{:?}", groups(&rds).await);
    assert!(owned_objects(&m, "rds-example").await.is_empty());
}

/// A DB subnet group over existing subnets of one availability zone fails
/// the plan at `subnet_ids` (file:line:col) before anything is created; the
/// same group over two zones applies. Against moto, whose subnets have their
/// zones; the catalog checks skip themselves there (no
/// DescribeDBEngineVersions in moto: one call, then nothing).
#[tokio::test(flavor = "multi_thread")]
async fn a_subnet_group_in_one_zone_is_refused_at_plan() {
    let m = moto();
    let env = m.env();
    let rds = m.factory().rds(REGION).await;
    let w = Workdir::new();
    let network = "[stack]\nname = \"zones\"\nregion = \"us-east-1\"\n\n\
                   [vpc.main]\ncidr_block = \"10.60.0.0/16\"\n\n\
                   [subnet.a]\nvpc_id = \"${vpc.main.id}\"\ncidr_block = \"10.60.1.0/24\"\navailability_zone = \"us-east-1a\"\n\n\
                   [subnet.b]\nvpc_id = \"${vpc.main.id}\"\ncidr_block = \"10.60.2.0/24\"\navailability_zone = \"us-east-1a\"\n\n\
                   [subnet.c]\nvpc_id = \"${vpc.main.id}\"\ncidr_block = \"10.60.3.0/24\"\navailability_zone = \"us-east-1b\"\n";
    w.write("zones.toml", network);
    apply(&w, &env, "zones.toml", &[]);

    let group = |second: &str| {
        format!(
            "{network}\n[db_subnet_group.db]\nname = \"zones-db\"\n\
             subnet_ids = [\"${{subnet.a.id}}\", \"${{subnet.{second}.id}}\"]\n"
        )
    };
    w.write("zones.toml", &group("b"));
    let run = w.run(&["plan", "zones.toml"], &env).expect(1);
    assert!(
        run.stderr.contains("`db_subnet_group.db` has its 2 subnets in one availability zone (us-east-1a)"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("Plan:"), "no plan is shown: {}", run.stdout);
    let refusal: Vec<&str> = run.stderr.lines().skip_while(|l| !l.starts_with("error:")).collect();
    insta::assert_snapshot!("subnet_group_in_one_zone", refusal.join("\n"));
    let refused = w.run(&["apply", "zones.toml", "--skip-checks", "--auto-approve"], &env).expect(1);
    assert!(refused.stderr.contains("in one availability zone (us-east-1a)"), "{}", refused.stderr);
    assert!(groups(&rds).await.is_empty(), "nothing was created");

    w.write("zones.toml", &group("c"));
    apply(&w, &env, "zones.toml", &[]);
    let made = rds.describe_db_subnet_groups().db_subnet_group_name("zones-db").send().await.expect("group");
    let zones: std::collections::BTreeSet<_> = made
        .db_subnet_groups()
        .iter()
        .flat_map(|g| g.subnets())
        .filter_map(|s| s.subnet_availability_zone().and_then(|z| z.name()))
        .collect();
    assert_eq!(zones.into_iter().collect::<Vec<_>>(), ["us-east-1a", "us-east-1b"]);
}

/// The shipped examples plan against moto, which has no RDS catalog: the
/// catalog read is made once per engine and plan and nothing is refused or
/// warned about.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_catalog_the_shipped_examples_plan_unchecked() {
    let m = moto();
    let env = m.env();
    for (file, modules) in [("aurora.toml", ["network", "aurora-postgres"]), ("rds.toml", ["network", "rds-postgres"])]
    {
        let w = example(file, &modules);
        let run = w.run(&["-v", "plan", file], &env).expect(0);
        let ops = run.stderr.lines().find(|l| l.starts_with("AWS API operations:")).unwrap_or_default();
        assert!(ops.contains("rds:DescribeDBEngineVersions=1"), "{file}: {ops}");
        assert!(!ops.contains("DescribeOrderableDBInstanceOptions"), "{file}: {ops}");
        assert!(!run.stderr.contains("warning: `"), "{file}: {}", run.stderr);
    }
}
