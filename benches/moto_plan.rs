//! End-to-end refresh benchmark against moto: applies a 7-resource stack
//! (VPC, 2 subnets, security group, KMS key, subnet group, Aurora cluster) with
//! the real binary, then times no-change plans and counts AWS API calls per
//! service and per operation (`pgstack plan -v` reports them).
//!
//!     cargo bench --profile dev --bench moto_plan            # needs scripts/install-moto.sh
//!     cargo bench --profile dev --bench moto_plan -- 1000    # a 1,000-resource stack instead
//!
//! The 1,000-resource stack: a VPC, 100 security groups, 800 subnets and 99
//! KMS keys (the kinds whose refresh costs differ: one paged Describe per
//! EC2 type, calls per key for KMS).
//!
//! Target (issue 3): a no-change plan well under a second and under 10 API calls.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const STACK: &str = r#"
[stack]
name   = "bench"
region = "us-east-1"

[vpc.main]
cidr_block = "10.60.0.0/16"

[subnet.db]
for_each          = { a = "10.60.1.0/24", b = "10.60.2.0/24" }
vpc_id            = "${vpc.main.id}"
cidr_block        = "${each.value}"
availability_zone = "us-east-1${each.key}"

[security_group.db]
name    = "bench-db"
vpc_id  = "${vpc.main.id}"
ingress = [{ from_port = 5432, to_port = 5432, protocol = "tcp", self = true }]

[kms_key.db]
description = "bench"

[db_subnet_group.db]
name       = "bench-db"
subnet_ids = "${subnet.db[*].id}"

[db_cluster.main]
cluster_identifier     = "bench"
engine_version         = "16"
db_subnet_group_name   = "${db_subnet_group.db.name}"
vpc_security_group_ids = ["${security_group.db.id}"]
kms_key_id             = "${kms_key.db.arn}"
deletion_protection    = false
skip_final_snapshot    = true
"#;

/// A stack of `n` resources: a VPC, n/10 security groups, 8n/10 subnets and
/// the rest KMS keys.
fn generated(n: usize) -> String {
    use std::fmt::Write;
    let mut s =
        String::from("[stack]\nname = \"bench\"\nregion = \"us-east-1\"\n\n[vpc.main]\ncidr_block = \"10.0.0.0/16\"\n");
    let (groups, subnets) = (n / 10, n * 8 / 10);
    for g in 0..groups {
        let _ = write!(s, "\n[security_group.g{g}]\nname = \"g{g}\"\nvpc_id = \"${{vpc.main.id}}\"\n");
    }
    for i in 0..subnets {
        let _ = write!(
            s,
            "\n[subnet.s{i}]\nvpc_id = \"${{vpc.main.id}}\"\ncidr_block = \"10.0.{}.{}/26\"\n",
            i / 4,
            i % 4 * 64
        );
    }
    for k in 0..n.saturating_sub(1 + groups + subnets) {
        let _ = write!(s, "\n[kms_key.k{k}]\ndescription = \"key {k}\"\n");
    }
    s
}

fn main() {
    let size: Option<usize> = std::env::args().skip(1).find_map(|a| a.parse().ok());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = Command::new("bash").arg(root.join("scripts/install-moto.sh")).output().expect("install moto");
    let venv = String::from_utf8_lossy(&venv.stdout).lines().last().unwrap_or_default().trim().to_owned();
    let mut moto = Command::new(Path::new(&venv).join("bin/python"))
        .arg(root.join("scripts/moto_server.py"))
        .arg("0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto");
    let mut line = String::new();
    BufReader::new(moto.stdout.take().expect("stdout")).read_line(&mut line).expect("ready line");
    let port = line.trim().strip_prefix("ready ").expect("moto ready").to_owned();

    let dir = std::env::temp_dir().join(format!("pgstack-moto-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("bench.toml"), size.map_or_else(|| STACK.to_owned(), generated)).expect("stack");
    let run = |args: &[&str]| {
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_pgstack"))
            .args(args)
            .current_dir(&dir)
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("NO_COLOR", "1")
            .output()
            .expect("run pgstack");
        (started.elapsed(), out)
    };

    let (apply_time, out) = run(&["apply", "bench.toml", "--auto-approve", "--skip-checks", "-v"]);
    assert!(out.status.success(), "apply failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let mut times = Vec::new();
    let mut calls = String::new();
    let mut operations = String::new();
    for _ in 0..5 {
        let (t, out) = run(&["plan", "bench.toml", "--detailed-exitcode", "-v"]);
        assert_eq!(out.status.code(), Some(0), "plan is not empty:\n{}", String::from_utf8_lossy(&out.stdout));
        times.push(t);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = |prefix: &str| stderr.lines().find(|l| l.starts_with(prefix)).unwrap_or("").to_owned();
        calls = line("AWS API calls");
        operations = line("AWS API operations");
    }
    times.sort();
    let median = times[times.len() / 2];
    match size {
        Some(n) => println!("moto_plan: {n}-resource stack (VPC, security groups, subnets, KMS keys)"),
        None => println!("moto_plan: 7-resource stack (VPC, 2 subnets, SG, KMS key, subnet group, Aurora cluster)"),
    }
    println!("  apply (create all)      : {apply_time:>8.1?}");
    println!(
        "  no-change plan (median) : {median:>8.1?}  (min {:.1?}, max {:.1?}, 5 runs, process start included)",
        times[0],
        times[times.len() - 1]
    );
    println!("  {calls}");
    println!("  {operations}");
    if size.is_none() {
        let guarded = ["--allow-destroy", "kms_key.db", "--allow-destroy", "db_cluster.main"];
        let _ = run(&[&["destroy", "bench.toml", "--auto-approve"][..], &guarded].concat());
    }
    let _ = std::fs::remove_dir_all(&dir);
    // The server exits when its stdin closes.
    drop(moto.stdin.take());
    let _ = moto.wait();
}
