//! `db_proxy` and `db_proxy_target` against moto through the CLI: an RDS
//! Proxy with its role, a user's secret and pool settings in front of an
//! Aurora cluster, read back clean; pool settings and tags changed in place;
//! a target deregistered and pool settings changed out of band seen as drift
//! and put back; import of both by id; destroy.
//!
//! Not here: moto 5.2.5 has no ModifyDBProxy, so changes of the proxy's own
//! settings (auth, TLS, idle timeout, role, security groups) are tested with
//! aws-smithy-mocks in src/provider/aws/db_proxy.rs.

use aws_sdk_rds::types::ConnectionPoolConfiguration;

use crate::support::cli::Workdir;
use crate::support::moto::{REGION, moto};

fn stack(max_percent: u32, team: &str) -> String {
    format!(
        r#"[stack]
name   = "pool"
region = "us-east-1"

[vpc.main]
cidr_block = "10.61.0.0/16"

[subnet.a]
vpc_id            = "${{vpc.main.id}}"
cidr_block        = "10.61.1.0/24"
availability_zone = "us-east-1a"

[subnet.b]
vpc_id            = "${{vpc.main.id}}"
cidr_block        = "10.61.2.0/24"
availability_zone = "us-east-1b"

[security_group.db]
name        = "pool-db"
description = "database and proxy"
vpc_id      = "${{vpc.main.id}}"

[db_subnet_group.main]
name       = "pool-db"
subnet_ids = ["${{subnet.a.id}}", "${{subnet.b.id}}"]

[db_cluster.main]
cluster_identifier          = "pool-db"
engine                      = "aurora-postgresql"
engine_version              = "16.4"
master_username             = "postgres"
manage_master_user_password = true
db_subnet_group_name        = "${{db_subnet_group.main.id}}"
vpc_security_group_ids      = ["${{security_group.db.id}}"]
storage_encrypted           = true
skip_final_snapshot         = true
deletion_protection         = false

[secret.app]
name              = "pool/app"
generate_password = {{ length = 32 }}
credentials       = {{ username = "app" }}

[iam_role.proxy]
name               = "pool-proxy"
assume_role_policy = {{ Version = "2012-10-17", Statement = [
  {{ Effect = "Allow", Action = "sts:AssumeRole", Principal = {{ Service = "rds.amazonaws.com" }} }},
] }}

[db_proxy.main]
name                         = "pool-proxy"
role_arn                     = "${{iam_role.proxy.arn}}"
subnet_ids                   = ["${{subnet.a.id}}", "${{subnet.b.id}}"]
security_group_ids           = ["${{security_group.db.id}}"]
secret_arns                  = ["${{secret.app.arn}}"]
iam_auth                     = "REQUIRED"
idle_client_timeout          = 300
max_connections_percent      = {max_percent}
max_idle_connections_percent = 25
connection_borrow_timeout    = 15
session_pinning_filters      = ["EXCLUDE_VARIABLE_SETS"]
tags                         = {{ Team = "{team}" }}

[db_proxy_target.main]
db_proxy_name         = "${{db_proxy.main.name}}"
db_cluster_identifier = "${{db_cluster.main.id}}"
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn db_proxy_and_target_lifecycle_drift_import_and_destroy() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.write("pool.toml", &stack(80, "db"));
    w.run(&["apply", "pool.toml", "--auto-approve", "--skip-checks"], &env).expect(0);
    w.run(&["plan", "pool.toml", "--detailed-exitcode"], &env).expect(0);

    let rds = m.factory().rds(REGION).await;
    let proxy = rds.describe_db_proxies().db_proxy_name("pool-proxy").send().await.unwrap();
    let proxy = &proxy.db_proxies()[0];
    assert_eq!(proxy.engine_family(), Some("POSTGRESQL"));
    assert_eq!(proxy.require_tls(), Some(true), "TLS required unless the stack says otherwise");
    assert_eq!(proxy.idle_client_timeout(), Some(300));
    assert_eq!(proxy.auth()[0].iam_auth().map(|m| m.as_str()), Some("REQUIRED"));
    let pool = |rds: aws_sdk_rds::Client| async move {
        let out = rds.describe_db_proxy_target_groups().db_proxy_name("pool-proxy").send().await.unwrap();
        let c = out.target_groups()[0].connection_pool_config().unwrap().clone();
        (c.max_connections_percent(), c.max_idle_connections_percent(), c.connection_borrow_timeout())
    };
    assert_eq!(pool(rds.clone()).await, (Some(80), Some(25), Some(15)));
    let targets = |rds: aws_sdk_rds::Client| async move {
        let out = rds.describe_db_proxy_targets().db_proxy_name("pool-proxy").send().await.unwrap();
        out.targets().iter().filter_map(|t| t.rds_resource_id().map(str::to_owned)).collect::<Vec<_>>()
    };
    assert_eq!(targets(rds.clone()).await, ["pool-db"]);

    // In place: the pool's share of max_connections and the tags.
    w.write("pool.toml", &stack(90, "platform"));
    let plan = w.run(&["plan", "pool.toml", "--detailed-exitcode"], &env).expect(2);
    assert!(plan.stdout.contains("db_proxy.main will be updated in-place"), "{}", plan.stdout);
    assert!(plan.stdout.contains("max_connections_percent"), "{}", plan.stdout);
    w.run(&["apply", "pool.toml", "--auto-approve", "--skip-checks"], &env).expect(0);
    assert_eq!(pool(rds.clone()).await, (Some(90), Some(25), Some(15)));
    w.run(&["plan", "pool.toml", "--detailed-exitcode"], &env).expect(0);

    // Out of band: the target deregistered and the pool changed; drift sees both, apply puts them back.
    rds.deregister_db_proxy_targets()
        .db_proxy_name("pool-proxy")
        .db_cluster_identifiers("pool-db")
        .send()
        .await
        .unwrap();
    let config = ConnectionPoolConfiguration::builder()
        .max_connections_percent(50)
        .max_idle_connections_percent(25)
        .connection_borrow_timeout(15)
        .session_pinning_filters("EXCLUDE_VARIABLE_SETS")
        .build();
    rds.modify_db_proxy_target_group()
        .db_proxy_name("pool-proxy")
        .target_group_name("default")
        .connection_pool_config(config)
        .send()
        .await
        .unwrap();
    let drift = w.run(&["drift", "pool.toml"], &env).expect(2);
    assert!(drift.stdout.contains("db_proxy_target.main"), "{}", drift.stdout);
    assert!(drift.stdout.contains("max_connections_percent"), "{}", drift.stdout);
    w.run(&["apply", "pool.toml", "--auto-approve", "--skip-checks"], &env).expect(0);
    assert_eq!(targets(rds.clone()).await, ["pool-db"]);
    assert_eq!(pool(rds.clone()).await, (Some(90), Some(25), Some(15)));
    w.run(&["plan", "pool.toml", "--detailed-exitcode"], &env).expect(0);

    // Import both by id after forgetting them.
    w.run(&["state", "rm", "pool.toml", "db_proxy.main"], &env).expect(0);
    w.run(&["state", "rm", "pool.toml", "db_proxy_target.main"], &env).expect(0);
    w.run(&["import", "pool.toml", "db_proxy.main", "pool-proxy"], &env).expect(0);
    w.run(&["import", "pool.toml", "db_proxy_target.main", "pool-proxy/cluster/pool-db"], &env).expect(0);
    w.run(&["plan", "pool.toml", "--detailed-exitcode"], &env).expect(0);

    w.run(
        &[
            "destroy",
            "pool.toml",
            "--auto-approve",
            "--allow-destroy",
            "db_cluster.main",
            "--allow-destroy",
            "secret.app",
        ],
        &env,
    )
    .expect(0);
    let gone = rds.describe_db_proxies().send().await.unwrap();
    assert!(gone.db_proxies().is_empty(), "{gone:?}");
}
