//! AWS faults, injected by a proxy in front of moto: a create whose reply is
//! lost, 5xx answers, throttling, slow calls, Ctrl-C in the middle of an
//! apply, and random faults at fixed rates under which whole runs succeed.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::types::Filter;

use crate::support::cli::{Run, Workdir};
use crate::support::faults::{Fault, FaultProxy, Rates};
use crate::support::moto::{MotoGuard, REGION, moto};

fn through(m: &MotoGuard, proxy: &FaultProxy, max_attempts: &str) -> Vec<(String, String)> {
    let mut env = m.env();
    env.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint()));
    env.push(("AWS_MAX_ATTEMPTS".into(), max_attempts.into()));
    env
}

/// Through the proxy with pgstack's own retry settings (no `AWS_MAX_ATTEMPTS`).
fn through_with_defaults(m: &MotoGuard, proxy: &FaultProxy) -> Vec<(String, String)> {
    let mut env: Vec<_> = m.env().into_iter().filter(|(k, _)| k != "AWS_MAX_ATTEMPTS").collect();
    env.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint()));
    env
}

/// The rates of issue 6: 20% throttled, 10% answered 500 after the work, 5% of replies lost.
const ISSUE_RATES: Rates = Rates { throttle: 0.20, server_error: 0.10, lost_reply: 0.05 };

/// How many live objects carry each `pgstack:address` tag of `stack`: VPCs,
/// subnets, security groups and KMS keys not pending deletion (straight to moto).
pub(crate) async fn owned_objects(m: &MotoGuard, stack: &str) -> BTreeMap<String, usize> {
    let ec2 = m.factory().ec2(REGION).await;
    let f = || Filter::builder().name("tag:pgstack:stack").values(stack).build();
    let mut tag_sets: Vec<Vec<(String, String)>> = Vec::new();
    let pairs = |tags: &[aws_sdk_ec2::types::Tag]| {
        tags.iter().map(|t| (t.key().unwrap_or("").to_owned(), t.value().unwrap_or("").to_owned())).collect()
    };
    let vpcs = ec2.describe_vpcs().filters(f()).send().await.unwrap();
    tag_sets.extend(vpcs.vpcs().iter().map(|v| pairs(v.tags())));
    let subnets = ec2.describe_subnets().filters(f()).send().await.unwrap();
    tag_sets.extend(subnets.subnets().iter().map(|s| pairs(s.tags())));
    let groups = ec2.describe_security_groups().filters(f()).send().await.unwrap();
    tag_sets.extend(groups.security_groups().iter().map(|g| pairs(g.tags())));
    let kms = m.factory().kms(REGION).await;
    let keys = m.factory().tagging(REGION).await.get_resources().resource_type_filters("kms:key").send().await.unwrap();
    for mapping in keys.resource_tag_mapping_list() {
        let arn = mapping.resource_arn().unwrap_or_default();
        let key = kms.describe_key().key_id(arn).send().await.unwrap();
        if key.key_metadata().and_then(|k| k.key_state()).is_some_and(|s| s.as_str() == "PendingDeletion") {
            continue;
        }
        let tags = mapping.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
        tag_sets.push(tags);
    }
    let mut out = BTreeMap::new();
    for tags in tag_sets {
        let tags: BTreeMap<_, _> = tags.into_iter().collect();
        if tags.get("pgstack:stack").map(String::as_str) == Some(stack)
            && let Some(address) = tags.get("pgstack:address")
        {
            *out.entry(address.clone()).or_insert(0) += 1;
        }
    }
    out
}

/// Addresses in the state file of `stack`, each asserted `ready` (no create left pending).
fn state_addresses(w: &Workdir, stack: &str) -> Vec<String> {
    let text = std::fs::read_to_string(w.path().join(format!("state/{stack}.json"))).unwrap();
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "ready", "{r}");
            r["address"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// apply, plan (no changes) and destroy of `example` through a proxy with
/// random faults at [`ISSUE_RATES`] from `seed`; each must succeed, leave
/// exactly one object per address, and complete state.
async fn survives_random_faults(example: &str, stack: &str, guarded: &[&str], seed: u64) {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    proxy.randomize(ISSUE_RATES, seed);
    let env = through_with_defaults(&m, &proxy);
    let w = Workdir::new();
    w.copy(&format!("examples/{example}"), example);
    if example == "rds.toml" {
        for module in ["network", "rds-postgres"] {
            let path = format!("modules/{module}/module.toml");
            w.copy(&path, &path);
        }
    }
    let context = |what: &str| format!("{example}, seed {seed}: {what}");
    eprintln!("{}", context("starting"));

    let applied = w.run(&["apply", example, "--skip-checks", "--auto-approve"], &env).expect(0);
    let addresses = state_addresses(&w, stack);
    let summary = format!("{} added, 0 changed, 0 destroyed", addresses.len());
    assert!(applied.stdout.contains(&summary), "{}: {}", context("state holds every resource"), applied.stdout);
    let owned = owned_objects(&m, stack).await;
    assert!(owned.values().all(|n| *n == 1), "{}: {owned:?}", context("one object per address"));
    for address in owned.keys() {
        assert!(addresses.contains(address), "{}: {address} is not in state", context("state is complete"));
    }

    let plan = w.run(&["plan", example, "--detailed-exitcode"], &env).expect(0);
    assert!(plan.stdout.contains("No changes."), "{}: {}", context("plan"), plan.stdout);

    let mut destroy = vec!["destroy", example, "--auto-approve"];
    destroy.extend(guarded.iter().flat_map(|a| ["--allow-destroy", a]));
    w.run(&destroy, &env).expect(0);
    assert!(state_addresses(&w, stack).is_empty(), "{}", context("destroy empties state"));
    assert!(owned_objects(&m, stack).await.is_empty(), "{}", context("destroy deletes everything"));
    let injected = proxy.injected();
    assert!(injected.throttled > 0 && injected.server_errors > 0 && injected.lost_replies > 0, "{injected:?}");
}

/// Seeds for the test suite: three for quickstart, one for the RDS stack, for
/// runtime. `PGSTACK_FAULT_SEEDS=1,2,...` replaces both (the 20-seed soak in
/// docs/testing.md).
fn seeds() -> Vec<u64> {
    match std::env::var("PGSTACK_FAULT_SEEDS") {
        Ok(list) => list.split(',').map(|s| s.trim().parse().expect("PGSTACK_FAULT_SEEDS: numbers")).collect(),
        Err(_) => vec![1, 2, 3],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn quickstart_survives_random_faults() {
    for seed in seeds() {
        survives_random_faults("quickstart.toml", "quickstart", &["kms_key.db"], seed).await;
    }
}

/// What examples/rds.toml holds that the data-loss guard keeps: the
/// addresses a destroy of it names with `--allow-destroy`.
pub const RDS_EXAMPLE_GUARDED: [&str; 5] = [
    "module.postgres.db_instance.primary",
    "module.postgres.db_instance.replica",
    "module.postgres.kms_key.db",
    "module.postgres.cloudwatch_log_group.primary",
    "module.postgres.cloudwatch_log_group.replica",
];

#[tokio::test(flavor = "multi_thread")]
async fn an_rds_stack_survives_random_faults() {
    let guarded = RDS_EXAMPLE_GUARDED;
    let seeds = if std::env::var_os("PGSTACK_FAULT_SEEDS").is_some() { seeds() } else { vec![7] };
    for seed in seeds {
        survives_random_faults("rds.toml", "rds-example", &guarded, seed).await;
    }
}

async fn count_tagged(m: &MotoGuard, key: &str, value: &str) -> (usize, usize) {
    let ec2 = m.factory().ec2(REGION).await;
    let f = || Filter::builder().name(format!("tag:{key}")).values(value).build();
    let vpcs = ec2.describe_vpcs().filters(f()).send().await.unwrap().vpcs().len();
    let subnets = ec2.describe_subnets().filters(f()).send().await.unwrap().subnets().len();
    (vpcs, subnets)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_reply_is_lost_is_adopted_not_repeated() {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    let w = Workdir::new();
    w.copy("examples/quickstart.toml", "quickstart.toml");
    proxy.inject("CreateVpc", Fault::DropReply, 1);
    proxy.inject("CreateKey", Fault::DropReply, 1);
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &through(&m, &proxy, "3")).expect(0);
    assert_eq!(proxy.unused(), 0, "both faults fired");
    assert_eq!(proxy.seen("CreateVpc"), 1, "the SDK did not retry the create blindly");
    assert_eq!(count_tagged(&m, "pgstack:address", "vpc.main").await.0, 1);
    let keys = m.factory().tagging(REGION).await.get_resources().resource_type_filters("kms:key").send().await.unwrap();
    assert_eq!(keys.resource_tag_mapping_list().len(), 1, "one KMS key");
    w.run(&["plan", "quickstart.toml", "--detailed-exitcode"], &m.env()).expect(0);
}

/// A CreateBucket whose reply is lost is sent again by the provider (by name
/// it cannot make a second bucket): in us-east-1 S3 answers success, elsewhere
/// `BucketAlreadyOwnedByYou`; either way the apply completes, tagged.
#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_create_whose_reply_is_lost_is_sent_again_by_name() {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    let w = Workdir::new();
    // One bucket per apply: each loses the reply of its first CreateBucket.
    let east = "[stack]\nname = \"b\"\nregion = \"us-east-1\"\n\n[s3_bucket.east]\nbucket = \"acme-lost-east\"\n";
    let west = "\n[s3_bucket.west]\nregion = \"us-west-2\"\nbucket = \"acme-lost-west\"\n";
    for text in [east.to_owned(), format!("{east}{west}")] {
        w.write("b.toml", &text);
        proxy.inject("CreateBucket", Fault::DropReply, 1);
        w.run(&["apply", "b.toml", "--skip-checks", "--auto-approve"], &through(&m, &proxy, "3")).expect(0);
    }
    assert_eq!(proxy.unused(), 0, "both replies were lost");
    assert_eq!(proxy.seen("CreateBucket"), 4, "each create was sent twice, not more");
    for (region, name, addr) in
        [(REGION, "acme-lost-east", "s3_bucket.east"), ("us-west-2", "acme-lost-west", "s3_bucket.west")]
    {
        let tags = m.factory().s3(region).await.get_bucket_tagging().bucket(name).send().await.unwrap();
        assert!(tags.tag_set().iter().any(|t| t.key() == "pgstack:address" && t.value() == addr), "{tags:?}");
    }
    w.run(&["plan", "b.toml", "--detailed-exitcode"], &m.env()).expect(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn service_errors_are_retried() {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    let w = Workdir::new();
    w.copy("examples/quickstart.toml", "quickstart.toml");
    proxy.inject("CreateSubnet", Fault::ServiceUnavailable, 2);
    proxy.inject("CreateKey", Fault::ServiceUnavailable, 1);
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &through(&m, &proxy, "4")).expect(0);
    proxy.inject("DescribeVpcs", Fault::ServiceUnavailable, 2);
    w.run(&["plan", "quickstart.toml", "--detailed-exitcode"], &through(&m, &proxy, "4")).expect(0);
    assert_eq!(proxy.unused(), 0);
    assert_eq!(count_tagged(&m, "pgstack:stack", "quickstart").await, (1, 2), "nothing created twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_answered_500_after_the_work_is_adopted_not_repeated() {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    let w = Workdir::new();
    w.copy("examples/quickstart.toml", "quickstart.toml");
    for op in ["CreateVpc", "CreateSubnet", "CreateKey", "CreateSecurityGroup", "CreateDBSubnetGroup"] {
        proxy.inject(op, Fault::InternalError, 1);
    }
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &through_with_defaults(&m, &proxy)).expect(0);
    assert_eq!(proxy.unused(), 0, "every fault fired");
    let creates = ["CreateVpc", "CreateSubnet", "CreateKey", "CreateSecurityGroup", "CreateDBSubnetGroup"];
    let seen: Vec<usize> = creates.iter().map(|op| proxy.seen(op)).collect();
    assert_eq!(seen, [1, 2, 1, 2, 1], "no create was sent twice: {creates:?}");
    let owned = owned_objects(&m, "quickstart").await;
    assert_eq!(owned.len(), 6, "{owned:?}");
    assert!(owned.values().all(|n| *n == 1), "{owned:?}");
    assert_eq!(state_addresses(&w, "quickstart").len(), 7);
    w.run(&["plan", "quickstart.toml", "--detailed-exitcode"], &m.env()).expect(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttled_calls_are_retried_beyond_the_sdk_attempts() {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    let w = Workdir::new();
    w.copy("examples/quickstart.toml", "quickstart.toml");
    // A create refused by throttling was not carried out: the SDK retries it.
    proxy.inject("CreateVpc", Fault::Throttle, 1);
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &through(&m, &proxy, "2")).expect(0);
    assert_eq!(proxy.seen("CreateVpc"), 2);
    // Reads throttled more often than the SDK tries (2 attempts) are retried by pgstack.
    proxy.inject("DescribeVpcs", Fault::Throttle, 5);
    proxy.inject("DescribeKey", Fault::Throttle, 5);
    w.run(&["plan", "quickstart.toml", "--detailed-exitcode"], &through(&m, &proxy, "2")).expect(0);
    proxy.inject("DescribeDBSubnetGroups", Fault::Throttle, 5);
    proxy.inject("ScheduleKeyDeletion", Fault::Throttle, 5);
    let destroy = ["destroy", "quickstart.toml", "--auto-approve", "--allow-destroy", "kms_key.db"];
    let destroyed = w.run(&destroy, &through(&m, &proxy, "2")).expect(0);
    assert_eq!(proxy.unused(), 0, "every fault fired");
    assert!(destroyed.stderr.contains("retrying the delete after throttling"), "{}", destroyed.stderr);
    assert!(owned_objects(&m, "quickstart").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_lets_running_calls_finish_saves_state_and_a_rerun_completes() {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    let w = Workdir::new();
    w.copy("examples/quickstart.toml", "quickstart.toml");
    // Subnets take a while; the interrupt arrives while they are being created.
    proxy.inject("CreateSubnet", Fault::Delay(Duration::from_millis(1500)), 2);
    let run = w.apply_interrupted(&through(&m, &proxy, "3"), &["INT"]);
    let run = run.expect(1);
    assert!(run.stderr.contains("Interrupt received"), "{}", run.stderr);
    assert!(run.stderr.contains("not started (interrupted)"), "{}", run.stderr);

    let state = std::fs::read_to_string(w.path().join("state/quickstart.json")).unwrap();
    assert!(!state.contains("create_pending"), "running creates finished and were recorded:\n{state}");
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let recorded = |prefix: &str| {
        state["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["address"].as_str().unwrap().starts_with(prefix))
            .count()
    };
    let (vpcs, subnets) = count_tagged(&m, "pgstack:stack", "quickstart").await;
    assert!(subnets >= 1, "the subnet being created when interrupted finished");
    assert_eq!((recorded("vpc."), recorded("subnet.")), (vpcs, subnets), "everything created is in state");
    assert!(recorded("") < 7, "the interrupt stopped the apply early");

    w.run(&["apply", "quickstart.toml", "--auto-approve"], &m.env()).expect(0);
    assert_eq!(count_tagged(&m, "pgstack:stack", "quickstart").await, (1, 2));
    w.run(&["plan", "quickstart.toml", "--detailed-exitcode"], &m.env()).expect(0);
}

/// The `failed:` and `error:` lines of a run, sorted (parallel operations
/// fail in any order), with AWS ids masked.
fn failures(run: &Run) -> String {
    let mut out = Vec::new();
    for line in run.stderr.lines().filter(|l| l.contains("failed:") || l.starts_with("error:")) {
        let masked: Vec<String> = line
            .split(' ')
            .map(|w| match w.split_once('-') {
                Some((p, id)) if ["vpc", "subnet", "sg"].contains(&p) && id.len() >= 8 => format!("{p}-ID"),
                _ => w.to_owned(),
            })
            .collect();
        out.push(masked.join(" "));
    }
    out.sort();
    out.join("\n")
}

const BAD_STACK: &str = r#"
[stack]
name   = "errors"
region = "us-east-1"

[vpc.main]
cidr_block = "10.60.0.0/16"

# Outside the VPC: EC2 (query protocol) refuses it.
[subnet.outside]
vpc_id     = "${vpc.main.id}"
cidr_block = "192.168.0.0/24"

# Subnets that do not exist: RDS (query protocol) refuses the group. Two of
# them: a single subnet is refused at plan (one availability zone), and
# subnets the plan cannot find are left to AWS.
[db_subnet_group.ghost]
name       = "errors-ghost"
subnet_ids = ["subnet-00000000000000000", "subnet-00000000000000001"]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn aws_errors_show_the_service_code_and_message() {
    let m = moto();
    let w = Workdir::new();
    w.write("errors.toml", BAD_STACK);
    let run = w.run(&["apply", "errors.toml", "--auto-approve"], &m.env()).expect(1);
    assert!(!run.stderr.contains("Unknown"), "{}", run.stderr);
    insta::assert_snapshot!(failures(&run));
}

#[test]
fn a_closed_port_is_one_plain_line() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let w = Workdir::new();
    w.copy("examples/quickstart.toml", "quickstart.toml");
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_MAX_ATTEMPTS", "1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_CONFIG_FILE", "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let run = w.run(&["apply", "quickstart.toml", "--auto-approve", "--refresh=false"], &env).expect(1);
    let text = run.stderr.replace(&port.to_string(), "PORT");
    assert!(!text.contains("DispatchFailure") && !text.contains("ConnectorError"), "{text}");
    insta::assert_snapshot!(failures(&Run { code: run.code, stdout: String::new(), stderr: text }));
}
