//! The shipped stacks (`stacks/`) and examples (`examples/`) with the shipped
//! modules (`modules/`): every one validates and draws as a graph through the
//! real `pgstack` binary, and the loaded stacks carry the seeds' requirements
//! (docs/stacks.md maps each requirement to the place checked here). The
//! database stacks are also applied against moto: the second plan is empty and
//! the sizing knobs change parameters in place.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pgstack::addr::ResourceAddr;
use pgstack::config::{Expr, LoadOptions, Stack, load};
use pgstack::provider::Registry;
use pgstack::value::Value;

use crate::support::cli::{Workdir, repo_root};
use crate::support::moto::moto;

/// Every `*.toml` under `examples/` and `stacks/`, repository-relative, sorted.
fn shipped_stacks() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["examples", "stacks"] {
        for entry in std::fs::read_dir(repo_root().join(dir)).expect("read dir") {
            let name = entry.expect("dir entry").file_name().to_string_lossy().into_owned();
            if name.ends_with(".toml") {
                out.push(format!("{dir}/{name}"));
            }
        }
    }
    out.sort();
    out
}

/// Repository-relative paths of every file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo_root().join(dir)).expect("read dir") {
        let path = dir.join(entry.expect("dir entry").file_name());
        if repo_root().join(&path).is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A scratch directory holding the shipped stacks and modules at their
/// repository paths (so `state/` and module lookup stay inside it).
pub(crate) fn workdir_with_stacks() -> Workdir {
    let w = Workdir::new();
    for f in files_under(Path::new("modules")).iter().map(|p| p.to_string_lossy().into_owned()) {
        w.copy(&f, &f);
    }
    for f in shipped_stacks() {
        w.copy(&f, &f);
    }
    w
}

/// Inputs the shipped stacks need from outside, as `PGSTACK_VAR_*` (a
/// stack that does not declare one ignores it).
const OUTSIDE_VARS: &[(&str, &str)] =
    &[("rotation_lambda_arn", "arn:aws:lambda:us-east-1:123456789012:function:pg-rotation")];

/// [`OUTSIDE_VARS`] as a subprocess environment.
fn outside_env() -> Vec<(String, String)> {
    OUTSIDE_VARS.iter().map(|(k, v)| (format!("PGSTACK_VAR_{k}"), v.to_string())).collect()
}

fn load_with(rel: &str, vars: &[(&str, &str)]) -> Stack {
    let opts = LoadOptions {
        vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        env_vars: OUTSIDE_VARS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    };
    match load(&repo_root().join(rel), &opts, &Registry::aws()) {
        Ok(l) => l.stack,
        Err((_, diags)) => panic!("{rel} does not load: {:#?}", diags.0.iter().map(|d| &d.summary).collect::<Vec<_>>()),
    }
}

/// The environment the shipped prod stack runs in against moto: the
/// rotation function, and `backup_assignments = false` (moto has no AWS
/// Backup selections or restore testing; docs/testing.md). Such a prod fails
/// its own PG-BAK-002, so applies pass `--skip-checks`.
pub async fn prod_on_moto_env(m: &crate::support::moto::MotoGuard) -> Vec<(String, String)> {
    let mut env = m.env();
    env.push(("PGSTACK_VAR_rotation_lambda_arn".into(), m.rotation_function().await));
    env.push(("PGSTACK_VAR_backup_assignments".into(), "false".into()));
    env
}

fn load_stack(rel: &str) -> Stack {
    load_with(rel, &[])
}

fn addr(s: &str) -> ResourceAddr {
    s.parse().expect("address")
}

/// The expression configured for `attr` of resource `a`.
fn attr<'s>(st: &'s Stack, a: &str, attr: &str) -> &'s Expr {
    let rc = st.resources.get(&addr(a)).unwrap_or_else(|| panic!("no resource {a}"));
    rc.attrs.get(attr).unwrap_or_else(|| panic!("{a} does not set {attr}"))
}

/// The value of `attr` of `a`, which must be known at load time.
fn lit<'s>(st: &'s Stack, a: &str, name: &str) -> &'s Value {
    attr(st, a, name).as_lit().unwrap_or_else(|| panic!("{a}.{name} is not known at load time"))
}

/// One parameter of a parameter group, as the string sent to AWS.
fn param(st: &Stack, group: &str, name: &str) -> String {
    match lit(st, group, "parameters").as_map().and_then(|m| m.get(name)) {
        Some(Value::Str(s)) => s.clone(),
        other => panic!("{group} parameter {name}: {other:?}"),
    }
}

/// The target and attribute path of a reference.
fn reference(e: &Expr) -> (String, Vec<String>) {
    match e {
        Expr::Ref(r) => (r.target.to_string(), r.path.clone()),
        other => panic!("not a reference: {other:?}"),
    }
}

/// Addresses of the instances of block `block` (`TYPE.NAME`, maybe in a module).
fn instances(st: &Stack, block: &str) -> Vec<String> {
    let block = addr(block);
    st.resources.keys().filter(|a| a.resource() == block).map(ToString::to_string).collect()
}

fn int(n: i64) -> Value {
    Value::Int(n)
}

/// RAM of an instance class in MiB, from the sizing functions the modules use.
fn memory_mib(class: &str) -> i64 {
    match pgstack::config::functions::call("instance_memory_mib", &[Value::str(class)]) {
        Ok(Value::Int(m)) => m,
        other => panic!("instance_memory_mib({class}): {other:?}"),
    }
}

#[test]
fn every_shipped_stack_validates_and_graphs() {
    let files = shipped_stacks();
    for expected in ["examples/aurora.toml", "examples/rds.toml", "stacks/dev.toml", "stacks/prod.toml"] {
        assert!(files.iter().any(|f| f == expected), "{expected} is shipped: {files:?}");
    }
    let w = workdir_with_stacks();
    for f in &files {
        let st = load_stack(f);
        let run = w.run(&["validate", f], &outside_env()).expect(0);
        let summary = format!("{} resources in stack `{}`", st.resources.len(), st.name);
        assert!(run.stdout.contains(&summary), "{f}: {}", run.stdout);
        assert!(run.stderr.is_empty(), "{f} validates without warnings: {}", run.stderr);

        let dot = w.run(&["graph", f], &outside_env()).expect(0).stdout;
        assert!(dot.starts_with("digraph pgstack {"), "{f}: {dot}");
        let mermaid = w.run(&["graph", f, "--format", "mermaid"], &outside_env()).expect(0).stdout;
        assert!(mermaid.starts_with("flowchart"), "{f}: {mermaid}");
        for a in st.resources.keys() {
            assert!(dot.contains(&format!("{:?};", a.to_string())), "{f}: {a} is a node of the dot graph");
            assert!(
                mermaid.contains(&format!("[\"{}\"]", a.to_string().replace('"', "#quot;"))),
                "{f}: {a} in mermaid"
            );
        }
        assert!(dot.contains(" -> "), "{f}: the graph has dependency edges");
    }
    // A stack under stacks/ is also found by its bare name.
    let run = w.run(&["validate", "prod"], &outside_env()).expect(0);
    assert!(run.stdout.contains("in stack `greenlang-prod`"), "{}", run.stdout);
}

/// The standard profile: HA topology, encryption, TLS, IAM auth, backups,
/// isolation and the sizing formulas of the seeds.
#[test]
fn prod_stack_carries_the_seed_requirements() {
    let st = load_stack("stacks/prod.toml");
    let cluster = "module.db.db_cluster.main";

    // Backups, PITR window, encryption with the stack's own rotating key.
    assert_eq!(lit(&st, cluster, "backup_retention_period"), &int(35));
    assert_eq!(lit(&st, cluster, "storage_encrypted"), &Value::Bool(true));
    assert_eq!(reference(attr(&st, cluster, "kms_key_id")), ("module.db.kms_key.db".into(), vec!["arn".into()]));
    assert_eq!(lit(&st, "module.db.kms_key.db", "enable_key_rotation"), &Value::Bool(true));
    // Its policy (S3 §5.1): the account, RDS, and the admin roles when given.
    let sids = |st: &Stack| -> Vec<String> {
        let Expr::Map(policy) = attr(st, "module.db.kms_key.db", "policy") else { panic!("policy") };
        let Expr::List(statements) = &policy["Statement"] else { panic!("statements") };
        statements
            .iter()
            .map(|s| match s {
                Expr::Map(m) => m["Sid"].as_lit().and_then(Value::as_str).unwrap_or_default().to_owned(),
                Expr::Lit(Value::Map(m)) => m["Sid"].as_str().unwrap_or_default().to_owned(),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(sids(&st), ["Account", "RDS", "Logs"]);
    // The PostgreSQL log group is encrypted with that key, which CloudWatch
    // Logs may use for this cluster's groups only.
    let logs = "module.db.cloudwatch_log_group.postgresql";
    assert_eq!(reference(attr(&st, logs, "kms_key_id")), ("module.db.kms_key.db".into(), vec!["arn".into()]));
    let admins = load_with(
        "stacks/prod.toml",
        &[("key_admin_role_arns", r#"["arn:aws:iam::123456789012:role/DatabaseAdminRole"]"#)],
    );
    assert_eq!(sids(&admins), ["Account", "RDS", "Logs", "DatabaseAdmins"]);
    assert_eq!(lit(&st, cluster, "skip_final_snapshot"), &Value::Bool(false));
    assert_eq!(lit(&st, cluster, "deletion_protection"), &Value::Bool(true));
    // IAM authentication, RDS-managed master secret (no password attribute), logs.
    assert_eq!(lit(&st, cluster, "iam_database_authentication_enabled"), &Value::Bool(true));
    // ... usable end to end (S3 §5.3): rds-db:connect as each seed user on this cluster.
    let connect = instances(&st, "module.db.iam_policy.connect");
    assert_eq!(
        connect,
        ["module.db.iam_policy.connect[\"app_service\"]", "module.db.iam_policy.connect[\"readonly_analytics\"]"]
    );
    let scoped = load_with("stacks/prod.toml", &[("iam_auth", r#"{ app_service = ["shop-app"] }"#)]);
    let app = "module.db.iam_policy.connect[\"app_service\"]";
    assert_eq!(lit(&scoped, app, "roles"), &Value::List(vec![Value::str("shop-app")]));
    let targets: Vec<String> =
        attr(&scoped, app, "policy").refs().iter().map(|r| format!("{}.{}", r.target, r.path.join("."))).collect();
    assert!(targets.contains(&format!("{cluster}.arn")) && targets.contains(&format!("{cluster}.cluster_resource_id")));
    assert_eq!(lit(&st, cluster, "manage_master_user_password"), &Value::Bool(true));
    assert_eq!(lit(&st, cluster, "enabled_cloudwatch_logs_exports"), &Value::List(vec![Value::str("postgresql")]));
    // ... into a log group made first, with a retention (RDS would keep them forever).
    let log_group = "module.db.cloudwatch_log_group.postgresql";
    assert_eq!(lit(&st, log_group, "name"), &Value::str("/aws/rds/cluster/greenlang-prod/postgresql"));
    assert_eq!(lit(&st, log_group, "retention_in_days"), &int(365));
    assert!(st.resources[&addr(cluster)].depends_on.contains(&addr(log_group)));
    // TLS only.
    let cluster_params = "module.db.db_cluster_parameter_group.main";
    assert_eq!(reference(attr(&st, cluster, "db_cluster_parameter_group_name")).0, cluster_params);
    assert_eq!(param(&st, cluster_params, "rds.force_ssl"), "1");
    // TLS 1.3 and SCRAM (S3 §5.2); pg_stat_statements and pgaudit for DDL and
    // writes (S0, S1); the planner, timeout and log settings of S3 §3.4, §4.2.
    for (name, value) in [
        ("ssl_min_protocol_version", "TLSv1.3"),
        ("password_encryption", "scram-sha-256"),
        ("shared_preload_libraries", "pg_stat_statements,pgaudit"),
        ("pgaudit.log", "ddl,write"),
        ("pgaudit.role", "rds_pgaudit"),
        ("default_statistics_target", "500"),
        ("statement_timeout", "300000"),
        ("log_destination", "csvlog"),
    ] {
        assert_eq!(param(&st, cluster_params, name), value, "{name}");
    }
    assert_eq!(param(&st, "module.db.db_parameter_group.instance", "superuser_reserved_connections"), "5");
    // Backups 02:00-04:00 (S3 Appendix B), maintenance after them.
    assert_eq!(lit(&st, cluster, "preferred_backup_window"), &Value::str("02:00-04:00"));
    assert_eq!(lit(&st, cluster, "preferred_maintenance_window"), &Value::str("sun:05:00-sun:06:00"));

    // Rotation (S3 §5.4): the RDS-managed master secret every 30 days; the
    // app and read-only users' generated credentials every 7, by the function.
    let days = |n: i64| Value::Map([("automatically_after_days".to_owned(), int(n))].into());
    let master = "module.secrets.secret_rotation.master";
    assert_eq!(reference(attr(&st, master, "secret_id")), (cluster.into(), vec!["master_user_secret_arn".into()]));
    assert_eq!(lit(&st, master, "rotation_rules"), &days(30));
    let users = instances(&st, "module.secrets.secret.user");
    assert_eq!(users, vec!["module.secrets.secret.user[\"app\"]", "module.secrets.secret.user[\"readonly\"]"]);
    for u in &users {
        let user = u.rsplit('"').nth(1).unwrap();
        assert_eq!(lit(&st, u, "name"), &Value::str(format!("greenlang/prod/database/{user}")));
        assert_eq!(reference(attr(&st, u, "kms_key_id")), ("module.db.kms_key.db".into(), vec!["arn".into()]));
        assert!(lit(&st, u, "generate_password").as_map().is_some_and(|g| g.contains_key("length")), "{u}");
        let rotation = u.replace("secret.user", "secret_rotation.user");
        assert_eq!(lit(&st, &rotation, "rotation_rules"), &days(7));
        assert_eq!(reference(attr(&st, &rotation, "secret_id")), (u.clone(), vec!["id".into()]));
    }

    // Endpoints (S3 §5.5): S3 through a gateway on the main route table;
    // Secrets Manager and KMS through interface endpoints in the database subnets.
    let s3 = "module.network.vpc_endpoint.s3";
    assert_eq!(lit(&st, s3, "service_name"), &Value::str("s3"));
    match attr(&st, s3, "route_table_ids") {
        Expr::List(items) => assert_eq!(
            items.iter().map(reference).collect::<Vec<_>>(),
            vec![("module.network.vpc.main".to_owned(), vec!["main_route_table_id".to_owned()])]
        ),
        other => panic!("route_table_ids: {other:?}"),
    }
    let interface = instances(&st, "module.network.vpc_endpoint.interface");
    // Secrets Manager, KMS, and CloudWatch for the metrics the app tier publishes (S3 §5.5, §6).
    assert_eq!(
        interface,
        [
            "module.network.vpc_endpoint.interface[\"kms\"]",
            "module.network.vpc_endpoint.interface[\"monitoring\"]",
            "module.network.vpc_endpoint.interface[\"secretsmanager\"]"
        ]
    );
    for e in &interface {
        assert_eq!(lit(&st, e, "private_dns_enabled"), &Value::Bool(true), "{e}");
        assert_eq!(reference(attr(&st, e, "subnet_ids")), ("module.network.subnet.db".into(), vec!["id".into()]));
    }

    // HA (S3 §4.1, §4.3): a writer at tier 0, the sync reader on its class at
    // tier 1 and the async one on r6g.large at tier 2, each in its own AZ, with
    // a parameter group sized for its class; all on the current RDS CA.
    let writer = "module.db.db_cluster_instance.writer";
    let readers = instances(&st, "module.db.db_cluster_instance.reader");
    assert_eq!(readers, ["module.db.db_cluster_instance.reader[\"b\"]", "module.db.db_cluster_instance.reader[\"c\"]"]);
    assert_eq!(lit(&st, writer, "promotion_tier"), &int(0));
    assert_eq!(reference(attr(&st, writer, "db_parameter_group_name")).0, "module.db.db_parameter_group.instance");
    let mut azs = vec![lit(&st, writer, "availability_zone").clone()];
    for r in readers.iter().chain([&writer.to_owned()]) {
        assert_eq!(lit(&st, r, "publicly_accessible"), &Value::Bool(false), "{r}");
        assert_eq!(lit(&st, r, "ca_cert_identifier"), &Value::str("rds-ca-rsa2048-g1"), "{r}");
        assert_eq!(reference(attr(&st, r, "cluster_identifier")).0, cluster, "{r}");
    }
    for (r, tier, class) in [(&readers[0], 1, "db.r6g.xlarge"), (&readers[1], 2, "db.r6g.large")] {
        assert_eq!(lit(&st, r, "promotion_tier"), &int(tier), "{r}");
        assert_eq!(lit(&st, r, "instance_class"), &Value::str(class), "{r}");
        let key = &r[r.find('[').unwrap()..];
        let group = format!("module.db.db_parameter_group.reader{key}");
        assert_eq!(reference(attr(&st, r, "db_parameter_group_name")).0, group, "{r}");
        let pages = memory_mib(class) * 1024 / 8;
        assert_eq!(param(&st, &group, "shared_buffers"), (pages / 4).to_string(), "{group}");
        assert_eq!(param(&st, &group, "max_connections"), (10 * 20 + 50).to_string(), "{group}");
        azs.push(lit(&st, r, "availability_zone").clone());
    }
    azs.sort_by_key(ToString::to_string);
    azs.dedup();
    assert_eq!(azs.len(), 3, "writer and readers in three distinct AZs: {azs:?}");

    // Sizing: max_connections = app_replicas x conns_per_pod + reserved;
    // shared_buffers 25% and effective_cache_size 75% of RAM, in 8 kB pages.
    let params = "module.db.db_parameter_group.instance";
    assert_eq!(param(&st, params, "max_connections"), (10 * 20 + 50).to_string());
    let pages = memory_mib("db.r6g.xlarge") * 1024 / 8;
    assert_eq!(param(&st, params, "shared_buffers"), (pages / 4).to_string());
    assert_eq!(param(&st, params, "effective_cache_size"), (pages * 3 / 4).to_string());
    // work_mem: half the RAM over max_connections; maintenance_work_mem: S3's 2 GB on a 32 GB class.
    assert_eq!(param(&st, params, "work_mem"), (memory_mib("db.r6g.xlarge") * 1024 / 2 / 250).to_string());
    assert_eq!(param(&st, params, "maintenance_work_mem"), (2 * 1024 * 1024).to_string());
    let scaled = load_with("stacks/prod.toml", &[("app_replicas", "14"), ("instance_class", "db.r6g.2xlarge")]);
    assert_eq!(param(&scaled, params, "max_connections"), (14 * 20 + 50).to_string());
    let pages = memory_mib("db.r6g.2xlarge") * 1024 / 8;
    assert_eq!(param(&scaled, params, "shared_buffers"), (pages / 4).to_string());

    // Isolation: database subnets without public IPs; 5432 only from the app
    // group and from the database group itself.
    let subnets = instances(&st, "module.network.subnet.db");
    assert_eq!(subnets.len(), 3);
    for s in &subnets {
        assert_eq!(lit(&st, s, "map_public_ip_on_launch"), &Value::Bool(false), "{s}");
    }
    let Expr::List(rules) = attr(&st, "module.network.security_group.db", "ingress") else {
        panic!("ingress is a list with a reference")
    };
    assert_eq!(rules.len(), 2);
    let mut peers = Vec::new();
    for rule in rules {
        let fields = match rule {
            Expr::Map(m) => m.clone(),
            Expr::Lit(Value::Map(m)) => m.iter().map(|(k, v)| (k.clone(), Expr::Lit(v.clone()))).collect(),
            other => panic!("rule {other:?}"),
        };
        assert_eq!(fields["from_port"], Expr::Lit(int(5432)));
        assert_eq!(fields["to_port"], Expr::Lit(int(5432)));
        assert!(!fields.contains_key("cidr_blocks"), "no CIDR-based ingress: {fields:?}");
        match (fields.get("self"), fields.get("security_groups")) {
            (Some(Expr::Lit(Value::Bool(true))), None) => peers.push("self".to_owned()),
            (None, Some(Expr::List(groups))) => peers.extend(groups.iter().map(|g| reference(g).0)),
            other => panic!("unexpected peer {other:?}"),
        }
    }
    peers.sort();
    assert_eq!(peers, ["module.network.security_group.app", "self"]);
}

/// The lite profile: same layout and security, smaller and cheaper.
#[test]
fn dev_stack_is_the_lite_profile() {
    let st = load_stack("stacks/dev.toml");
    assert_eq!(instances(&st, "module.db.db_cluster_instance.reader").len(), 1);
    assert_eq!(lit(&st, "module.db.db_cluster_instance.writer", "instance_class"), &Value::str("db.t4g.medium"));
    assert_eq!(param(&st, "module.db.db_parameter_group.instance", "max_connections"), (2 * 10 + 20).to_string());
    assert_eq!(param(&st, "module.db.db_cluster_parameter_group.main", "rds.force_ssl"), "1");
    assert_eq!(lit(&st, "module.db.db_cluster.main", "storage_encrypted"), &Value::Bool(true));
    assert_eq!(lit(&st, "module.db.db_cluster.main", "deletion_protection"), &Value::Bool(false));
    let prod = load_stack("stacks/prod.toml");
    assert!(st.resources.len() < prod.resources.len());
    assert_ne!(st.name, prod.name, "separate state files");
}

/// One lifecycle rule of a bucket, by id.
fn lifecycle_rule<'s>(st: &'s Stack, bucket: &str, id: &str) -> &'s std::collections::BTreeMap<String, Value> {
    let rules = lit(st, bucket, "lifecycle_rule").as_list().unwrap_or_else(|| panic!("{bucket}: no rule list"));
    rules
        .iter()
        .filter_map(Value::as_map)
        .find(|r| r.get("id") == Some(&Value::str(id)))
        .unwrap_or_else(|| panic!("{bucket}: no rule {id}"))
}

/// A field path inside a value: `days` of `expiration`, ...
fn field<'v>(v: &'v Value, path: &[&str]) -> &'v Value {
    path.iter().fold(v, |v, k| match v {
        Value::Map(m) => m.get(*k).unwrap_or_else(|| panic!("no {k} in {v:?}")),
        Value::List(l) => &l[k.parse::<usize>().unwrap()],
        other => panic!("no {k} in {other:?}"),
    })
}

/// Backups (S3 §7.1) and alerts (S3 §6.1, S0) of the standard profile.
#[test]
fn prod_stack_backs_up_across_regions_and_alarms_at_the_seed_thresholds() {
    let st = load_stack("stacks/prod.toml");
    let (primary, dr) = ("module.backups.s3_bucket.primary", "module.backups.s3_bucket.dr");
    assert_eq!(st.resources[&addr(primary)].region, "us-east-1");
    assert_eq!(st.resources[&addr(dr)].region, "us-west-2");
    assert_eq!(lit(&st, primary, "bucket"), &Value::str("greenlang-prod-backups-us-east-1"));
    assert_eq!(lit(&st, dr, "bucket"), &Value::str("greenlang-prod-backups-us-west-2"));
    for b in [primary, dr] {
        for flag in ["versioning", "block_public_access", "tls_only"] {
            assert_eq!(lit(&st, b, flag), &Value::Bool(true), "{b}.{flag}");
        }
        let archive = Value::Map(lifecycle_rule(&st, b, "archive").clone());
        assert_eq!(field(&archive, &["transition", "0", "storage_class"]), &Value::str("GLACIER"));
        assert_eq!(field(&archive, &["expiration", "days"]), &int(2557), "7 years");
    }
    let retention =
        |b: &str| field(&Value::Map(lifecycle_rule(&st, b, "retention").clone()), &["expiration", "days"]).clone();
    assert_eq!((retention(primary), retention(dr)), (int(35), int(90)));
    // Each bucket under its region's copy of one multi-region key.
    assert_eq!(
        reference(attr(&st, primary, "kms_key_id")),
        ("module.backups.kms_key.backup".into(), vec!["arn".into()])
    );
    assert_eq!(
        reference(attr(&st, dr, "kms_key_id")),
        ("module.backups.kms_replica_key.backup".into(), vec!["arn".into()])
    );
    assert_eq!(lit(&st, "module.backups.kms_key.backup", "multi_region"), &Value::Bool(true));
    assert_eq!(st.resources[&addr("module.backups.kms_replica_key.backup")].region, "us-west-2");
    // Replication to the DR bucket under the replica key, deletes not replicated.
    let replication = "module.backups.s3_bucket_replication.primary";
    let targets: Vec<String> =
        attr(&st, replication, "rule").refs().iter().map(|r| format!("{}.{}", r.target, r.path.join("."))).collect();
    assert!(targets.contains(&"module.backups.s3_bucket.dr.arn".to_owned()), "{targets:?}");
    assert!(targets.contains(&"module.backups.kms_replica_key.backup.arn".to_owned()), "{targets:?}");
    assert_eq!(
        reference(attr(&st, replication, "role")),
        ("module.backups.iam_role.replication".into(), vec!["arn".into()])
    );

    // Alerts (S0, S3 §6.1): connections over 80% (warning) and 90% (critical)
    // of the parameter group's max_connections; every alarm routed to the
    // topic of its severity (S3 §6.2: critical pages), on alarm and recovery.
    let max_connections: i64 = param(&st, "module.db.db_parameter_group.instance", "max_connections").parse().unwrap();
    let topic = |level: &str| format!("module.alarms.sns_topic.alerts[\"{level}\"]");
    let routed = |a: &str, level: &str| {
        for actions in ["alarm_actions", "ok_actions"] {
            let Expr::List(items) = attr(&st, a, actions) else { panic!("{a}: {actions}") };
            assert_eq!(reference(&items[0]), (topic(level), vec!["arn".into()]), "{a}: {actions}");
        }
    };
    for role in ["writer", "reader"] {
        for (level, percent) in [("warning", 80), ("critical", 90)] {
            let a = format!("module.alarms.cloudwatch_alarm.connections[\"{role}-{level}\"]");
            assert_eq!(lit(&st, &a, "threshold"), &int(max_connections * percent / 100), "{a}");
            assert_eq!(lit(&st, &a, "metric_name"), &Value::str("DatabaseConnections"));
            routed(&a, level);
        }
    }
    let threshold = |a: &str| lit(&st, &format!("module.alarms.cloudwatch_alarm.{a}"), "threshold").clone();
    let ram = memory_mib("db.r6g.xlarge") * 1024 * 1024;
    for (alarm, level, want) in [
        ("cpu", "critical", int(85)),
        ("cpu", "warning", int(70)),
        ("replica_lag", "warning", int(1000)),
        ("replica_lag", "critical", int(5000)),
        ("freeable_memory", "critical", int(ram * 10 / 100)),
        ("buffer_cache_hit_ratio", "warning", int(95)),
        ("buffer_cache_hit_ratio", "critical", int(90)),
        ("transaction_ids", "warning", int(1_000_000_000)),
        ("transaction_ids", "critical", int(1_800_000_000)),
        ("deadlocks", "warning", int(5)),
        ("deadlocks", "critical", int(20)),
        ("volume", "warning", int(2048 * 1_073_741_824 * 70 / 100)),
        ("volume", "critical", int(2048 * 1_073_741_824 * 85 / 100)),
    ] {
        let a = format!("{alarm}[\"{level}\"]");
        assert_eq!(threshold(&a), want, "{a}");
        routed(&format!("module.alarms.cloudwatch_alarm.{a}"), level);
    }
    assert_eq!(threshold("free_local_storage"), int(ram * 2 * 15 / 100), "15% of local storage");
    routed("module.alarms.cloudwatch_alarm.free_local_storage", "critical");
    // Subscriptions come from the stack's variables (none by default).
    assert!(instances(&st, "module.alarms.sns_topic_subscription.critical").is_empty());
    let paged = load_with(
        "stacks/prod.toml",
        &[(
            "critical_subscriptions",
            r#"{ pager = { protocol = "https", endpoint = "https://pager.example.com/k" } }"#,
        )],
    );
    let pager = "module.alarms.sns_topic_subscription.critical[\"pager\"]";
    assert_eq!(lit(&paged, pager, "endpoint"), &Value::str("https://pager.example.com/k"));
    assert_eq!(reference(attr(&paged, pager, "topic_arn")), (topic("critical"), vec!["arn".into()]));
}

/// examples/aurora.toml: writer + two readers across three AZs.
#[test]
fn aurora_example_spans_three_zones() {
    let st = load_stack("examples/aurora.toml");
    let members: Vec<String> = instances(&st, "module.aurora.db_cluster_instance.reader")
        .into_iter()
        .chain(["module.aurora.db_cluster_instance.writer".to_owned()])
        .collect();
    let mut azs: Vec<String> = members.iter().map(|m| lit(&st, m, "availability_zone").to_string()).collect();
    azs.sort();
    azs.dedup();
    assert_eq!((members.len(), azs.len()), (3, 3), "{azs:?}");
    // The readers wait for the writer: the first instance of a cluster becomes its writer.
    for r in instances(&st, "module.aurora.db_cluster_instance.reader") {
        assert_eq!(st.resources[&addr(&r)].depends_on, [addr("module.aurora.db_cluster_instance.writer")]);
    }
}

/// examples/rds.toml: Multi-AZ gp3 primary with autoscaling and a same-region
/// replica; `timeouts` given to the module reach both instances.
#[test]
fn rds_example_has_a_multi_az_primary_and_a_replica() {
    let st = load_stack("examples/rds.toml");
    let primary = "module.postgres.db_instance.primary";
    let replica = "module.postgres.db_instance.replica";
    assert_eq!(lit(&st, primary, "multi_az"), &Value::Bool(true));
    assert_eq!(lit(&st, primary, "storage_type"), &Value::str("gp3"));
    let (Value::Int(storage), Value::Int(max)) =
        (lit(&st, primary, "allocated_storage"), lit(&st, primary, "max_allocated_storage"))
    else {
        panic!("storage sizes are integers")
    };
    assert!(max > storage, "storage autoscaling above {storage} GiB");
    assert_eq!(lit(&st, primary, "backup_retention_period"), &int(35));
    assert_eq!(param(&st, "module.postgres.db_parameter_group.main", "rds.force_ssl"), "1");
    assert_eq!(reference(attr(&st, replica, "replicate_source_db")), (primary.into(), vec!["id".into()]));
    let want = [("create", 60 * 60), ("update", 120 * 60)].map(|(k, s)| (k.to_owned(), Duration::from_secs(s)));
    for a in [primary, replica] {
        assert_eq!(st.resources[&addr(a)].timeouts, want.clone().into_iter().collect(), "{a}");
    }
}

/// Applies the shipped database stacks against moto: each plans clean right
/// after apply; the examples destroy cleanly once their guarded resources are
/// named; more application pods (`app_replicas`) and a bigger class change the
/// parameter groups and instances in place, never replacing a database.
#[tokio::test(flavor = "multi_thread")]
async fn database_stacks_apply_and_plan_clean_against_moto() {
    let m = moto();
    let env = prod_on_moto_env(&m).await;
    let w = workdir_with_stacks();
    for f in ["examples/aurora.toml", "examples/rds.toml"] {
        let n = load_stack(f).resources.len();
        // The examples show one module each and check as the lite profile.
        let applied = w.run(&["apply", f, "--auto-approve"], &env).expect(0);
        assert!(applied.stderr.contains("Checks (lite):"), "{f}: {}", applied.stderr);
        assert!(applied.stdout.contains(&format!("{n} added, 0 changed, 0 destroyed")), "{f}: {}", applied.stdout);
        let plan = w.run(&["plan", f, "--detailed-exitcode"], &env).expect(0);
        assert!(plan.stdout.contains("No changes."), "{f}: {}", plan.stdout);
    }
    // Prod without AWS Backup's selection (moto has none) is refused by its
    // own checks before anything is made: its snapshots would not leave the
    // region. Applied past them, it plans clean.
    let prod = "stacks/prod.toml";
    let refused = w.run(&["apply", prod, "--auto-approve"], &env).expect(1);
    assert!(
        refused.stderr.contains("PG-BAK-002") && refused.stderr.contains("nothing was changed"),
        "{}",
        refused.stderr
    );
    let n = load_with(prod, &[("backup_assignments", "false")]).resources.len();
    assert_eq!(n + 3, load_stack(prod).resources.len(), "only the selection and restore testing are left out");
    let applied = w.run(&["apply", prod, "--skip-checks", "--auto-approve"], &env).expect(0);
    assert!(applied.stdout.contains(&format!("{n} added, 0 changed, 0 destroyed")), "{}", applied.stdout);
    let plan = w.run(&["plan", prod, "--detailed-exitcode"], &env).expect(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);

    // What a no-change plan of the full prod stack costs, by service (the
    // figure in docs/benchmarks.md): refresh reads each type in batches.
    let counted = w.run(&["-v", "plan", "prod", "--detailed-exitcode"], &env).expect(0);
    let calls = counted.stderr.lines().find(|l| l.starts_with("AWS API calls:")).unwrap_or_default().to_owned();
    eprintln!("no-change plan of stacks/prod.toml: {calls}");
    for service in ["ec2", "rds", "kms", "secrets manager", "s3", "iam", "sns", "cloudwatch"] {
        assert!(calls.contains(&format!("{service}=")), "{service} is read: {calls}");
    }

    // The formula: 14 pods make max_connections 330, an in-place parameter
    // change, and move the connection alarms with it.
    let plan = w.run(&["plan", "prod", "--var", "app_replicas=14", "--detailed-exitcode"], &env).expect(2);
    assert!(plan.stdout.contains("module.db.db_parameter_group.instance will be updated in-place"), "{}", plan.stdout);
    assert!(plan.stdout.contains("\"250\" -> \"330\""), "{}", plan.stdout);
    // The connection alarms follow the same formula: 80% of 330.
    assert!(plan.stdout.contains("threshold         = 200 -> 264"), "{}", plan.stdout);
    // The writer's group and each reader's, and the four connection alarms
    // (warning at 80%, critical at 90%: 297 of 330).
    assert!(plan.stdout.contains("threshold         = 225 -> 297"), "{}", plan.stdout);
    // The proxy's pool follows too: the application's share of 330 (84%), 50 idle of 330 (15%).
    assert!(plan.stdout.contains("max_connections_percent      = 80 -> 84"), "{}", plan.stdout);
    assert!(plan.stdout.contains("max_idle_connections_percent = 20 -> 15"), "{}", plan.stdout);
    assert!(plan.stdout.contains("0 to add, 8 to change, 0 to destroy"), "{}", plan.stdout);
    w.run(&["apply", "prod", "--var", "app_replicas=14", "--skip-checks", "--auto-approve"], &env).expect(0);
    w.run(&["plan", "prod", "--var", "app_replicas=14", "--detailed-exitcode"], &env).expect(0);

    // A bigger class resizes the instances and their memory parameters in place.
    let bigger = ["plan", "examples/aurora.toml", "--var", "instance_class=db.r6g.xlarge", "--detailed-exitcode"];
    let plan = w.run(&bigger, &env).expect(2);
    // Three instances, the writer's parameter group and each reader's.
    assert!(plan.stdout.contains("0 to add, 6 to change, 0 to destroy"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("must be replaced"), "{}", plan.stdout);

    for (f, module) in [("examples/aurora.toml", "aurora"), ("examples/rds.toml", "postgres")] {
        let st = load_stack(f);
        let mut args = vec!["destroy".to_owned(), f.to_owned(), "--auto-approve".to_owned()];
        for a in st.resources.keys().map(ToString::to_string) {
            let holds_data = a.starts_with(&format!("module.{module}.db_")) && !a.contains("parameter_group");
            if holds_data || a.contains("kms_key") || a.contains("cloudwatch_log_group") {
                args.extend(["--allow-destroy".to_owned(), a]);
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let destroyed = w.run(&args, &env).expect(0);
        let n = st.resources.len();
        assert!(destroyed.stdout.contains(&format!("0 added, 0 changed, {n} destroyed")), "{f}: {}", destroyed.stdout);
    }
}

/// A change that would replace the Aurora cluster is refused until the
/// cluster is named with `--allow-destroy`, and nothing changes meanwhile;
/// destroying it takes a final snapshot.
#[tokio::test(flavor = "multi_thread")]
async fn replacing_a_database_is_refused_and_destroy_keeps_a_final_snapshot() {
    let m = moto();
    let env = m.env();
    let w = workdir_with_stacks();
    let f = "examples/aurora.toml";
    w.run(&["apply", f, "--skip-checks", "--auto-approve"], &env).expect(0);
    let cluster = "module.aurora.db_cluster.main";

    let text = std::fs::read_to_string(w.path().join(f)).unwrap();
    w.write(
        f,
        &text.replace(
            "deletion_protection  = false",
            "deletion_protection  = false\ndatabase_name        = \"renamed\"",
        ),
    );
    let plan = w.run(&["plan", f, "--detailed-exitcode"], &env).expect(2);
    assert!(plan.stdout.contains(&format!("{cluster} must be replaced")), "{}", plan.stdout);
    assert!(plan.stdout.contains("DATA LOSS"), "{}", plan.stdout);
    let refused = w.run(&["apply", f, "--skip-checks", "--auto-approve"], &env).expect(1);
    assert!(refused.stderr.contains(&format!("--allow-destroy '{cluster}'")), "{}", refused.stderr);
    w.write(f, &text);
    w.run(&["plan", f, "--detailed-exitcode"], &env).expect(0);

    let st = load_stack(f);
    let mut args = vec!["destroy".to_owned(), f.to_owned(), "--auto-approve".to_owned()];
    let guarded = |a: &String| a.contains(".db_cluster") || a.contains("kms_key") || a.contains("cloudwatch_log_group");
    for a in st.resources.keys().map(ToString::to_string).filter(guarded) {
        args.extend(["--allow-destroy".to_owned(), a]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    w.run(&args, &env).expect(0);
    let rds = m.factory().rds("us-east-1").await;
    let snapshots = rds.describe_db_cluster_snapshots().snapshot_type("manual").send().await.unwrap();
    let ids: Vec<&str> = snapshots.db_cluster_snapshots().iter().filter_map(|s| s.db_cluster_identifier()).collect();
    assert_eq!(ids, vec!["aurora-example"], "one final snapshot of the cluster");
    assert!(rds.describe_db_clusters().send().await.unwrap().db_clusters().is_empty());
}

/// examples/backups.toml against moto: both buckets in their regions under
/// their keys, replication to the DR bucket, a clean second plan, drift of the
/// DR copy's lifecycle repaired, and a destroy that names the keys.
#[tokio::test(flavor = "multi_thread")]
async fn backups_example_applies_in_two_regions_and_destroys() {
    let m = moto();
    let env = m.env();
    let w = workdir_with_stacks();
    let f = "examples/backups.toml";
    let n = load_stack(f).resources.len();
    let applied = w.run(&["apply", f, "--auto-approve"], &env).expect(0);
    assert!(applied.stdout.contains(&format!("{n} added, 0 changed, 0 destroyed")), "{}", applied.stdout);
    w.run(&["plan", f, "--detailed-exitcode"], &env).expect(0);

    let (primary, dr) = ("pgstack-example-backups-us-east-1", "pgstack-example-backups-us-west-2");
    let s3_west = m.factory().s3("us-west-2").await;
    let location = s3_west.get_bucket_location().bucket(dr).send().await.unwrap();
    assert_eq!(location.location_constraint().map(|c| c.as_str()), Some("us-west-2"));
    let s3 = m.factory().s3("us-east-1").await;
    let replication = s3.get_bucket_replication().bucket(primary).send().await.unwrap();
    let rule = &replication.replication_configuration().unwrap().rules()[0];
    let destination = rule.destination().unwrap();
    assert_eq!(destination.bucket(), format!("arn:aws:s3:::{dr}"));
    let replica_key = destination.encryption_configuration().and_then(|e| e.replica_kms_key_id()).unwrap().to_owned();
    assert!(replica_key.starts_with("arn:aws:kms:us-west-2:"), "{replica_key}");
    let encryption = s3_west.get_bucket_encryption().bucket(dr).send().await.unwrap();
    let sse = encryption.server_side_encryption_configuration().unwrap().rules()[0]
        .apply_server_side_encryption_by_default()
        .unwrap()
        .clone();
    assert_eq!(sse.kms_master_key_id(), Some(replica_key.as_str()));

    // Out of band: the DR copy's lifecycle is removed.
    s3_west.delete_bucket_lifecycle().bucket(dr).send().await.unwrap();
    let drift = w.run(&["drift", f], &env).expect(2);
    assert!(
        drift.stdout.contains("module.backups.s3_bucket.dr") && drift.stdout.contains("lifecycle_rule"),
        "{}",
        drift.stdout
    );
    w.run(&["apply", f, "--auto-approve"], &env).expect(0);
    w.run(&["drift", f], &env).expect(0);

    let keys = ["module.backups.kms_key.backup", "module.backups.kms_replica_key.backup"];
    let refused = w.run(&["destroy", f, "--auto-approve"], &env).expect(1);
    assert!(keys.iter().all(|k| refused.stderr.contains(k)), "{}", refused.stderr);
    let mut args = vec!["destroy", f, "--auto-approve"];
    for k in keys {
        args.extend(["--allow-destroy", k]);
    }
    let destroyed = w.run(&args, &env).expect(0);
    assert!(destroyed.stdout.contains(&format!("0 added, 0 changed, {n} destroyed")), "{}", destroyed.stdout);
    assert!(s3.list_buckets().send().await.unwrap().buckets().is_empty());
}
