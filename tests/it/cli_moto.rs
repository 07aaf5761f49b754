//! End-to-end: the real `pgstack` binary and AWS SDK against moto.
//! The acceptance list: quickstart lifecycle, empty second plan,
//! in-place updates, destroy, crash recovery without duplicates, and the lock.

use aws_sdk_ec2::types::Filter;

use crate::support::cli::Workdir;
use crate::support::moto::{MotoGuard, REGION, moto};

fn quickstart(w: &Workdir) {
    w.copy("examples/quickstart.toml", "quickstart.toml");
}

async fn vpcs_tagged(m: &MotoGuard, address: &str) -> Vec<String> {
    let ec2 = m.factory().ec2(REGION).await;
    let out = ec2
        .describe_vpcs()
        .filters(Filter::builder().name("tag:pgstack:address").values(address).build())
        .send()
        .await
        .expect("describe vpcs");
    out.vpcs().iter().filter_map(|v| v.vpc_id().map(str::to_owned)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn quickstart_applies_plans_clean_updates_in_place_and_destroys() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    quickstart(&w);

    let applied = w.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(0);
    assert!(applied.stdout.contains("7 added, 0 changed, 0 destroyed"), "{}", applied.stdout);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path().join("state/quickstart.json")).unwrap()).unwrap();
    assert_eq!(state["resources"].as_array().unwrap().len(), 7);
    assert!(state["lineage"].as_str().is_some_and(|l| !l.is_empty()));

    let vpc_id = w.run(&["output", "quickstart.toml", "vpc_id"], &env).expect(0).stdout;
    assert_eq!(vec![vpc_id.trim().to_owned()], vpcs_tagged(&m, "vpc.main").await);
    // For scripts: the value alone; as JSON, Terraform's {sensitive, type, value}.
    let raw = w.run(&["output", "quickstart.toml", "vpc_id", "--raw"], &env).expect(0).stdout;
    assert_eq!(raw, vpc_id.trim(), "no quotes, no newline");
    let all: serde_json::Value =
        serde_json::from_str(&w.run(&["output", "quickstart.toml", "--json"], &env).expect(0).stdout).unwrap();
    assert_eq!(all["vpc_id"], serde_json::json!({ "sensitive": false, "type": "string", "value": vpc_id.trim() }));
    let listed: serde_json::Value =
        serde_json::from_str(&w.run(&["state", "list", "quickstart.toml", "--json"], &env).expect(0).stdout).unwrap();
    let vpc = listed.as_array().unwrap().iter().find(|r| r["address"] == "vpc.main").unwrap();
    assert_eq!(
        (vpc["id"].as_str(), vpc["type"].as_str(), vpc["status"].as_str()),
        (Some(vpc_id.trim()), Some("vpc"), Some("ready"))
    );

    // The second plan is empty.
    let plan = w.run(&["plan", "quickstart.toml", "--detailed-exitcode"], &env).expect(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);

    // A description change is an in-place update.
    let var = "key_description=changed by the test";
    let plan = w.run(&["plan", "quickstart.toml", "--var", var, "--detailed-exitcode"], &env).expect(2);
    assert!(plan.stdout.contains("kms_key.db will be updated in-place"), "{}", plan.stdout);
    assert!(plan.stdout.contains("0 to add, 1 to change, 0 to destroy"), "{}", plan.stdout);
    w.run(&["apply", "quickstart.toml", "--var", var, "--auto-approve"], &env).expect(0);
    w.run(&["plan", "quickstart.toml", "--var", var, "--detailed-exitcode"], &env).expect(0);

    // A rule change is an in-place update of the security group, not a replacement.
    let text = std::fs::read_to_string(w.path().join("quickstart.toml")).unwrap();
    w.write(
        "quickstart.toml",
        &text.replace(
            "to_port = 5432, protocol = \"tcp\", self = true",
            "to_port = 5433, protocol = \"tcp\", self = true",
        ),
    );
    let plan = w.run(&["plan", "quickstart.toml", "--var", var, "--detailed-exitcode"], &env).expect(2);
    assert!(plan.stdout.contains("security_group.db will be updated in-place"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    w.run(&["apply", "quickstart.toml", "--var", var, "--auto-approve"], &env).expect(0);
    w.run(&["plan", "quickstart.toml", "--var", var, "--detailed-exitcode"], &env).expect(0);

    // Destroy refuses the KMS key unless it is named, and changes nothing then.
    let refused = w.run(&["destroy", "quickstart.toml", "--var", var, "--auto-approve"], &env).expect(1);
    assert!(refused.stderr.contains("--allow-destroy 'kms_key.db'"), "{}", refused.stderr);
    assert_eq!(vpcs_tagged(&m, "vpc.main").await.len(), 1);
    let key_arn = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "kms_key.db")
        .and_then(|r| r["id"].as_str())
        .unwrap()
        .to_owned();

    w.run(&["destroy", "quickstart.toml", "--var", var, "--auto-approve", "--allow-destroy", "kms_key.db"], &env)
        .expect(0);
    assert!(vpcs_tagged(&m, "vpc.main").await.is_empty());
    let kms = m.factory().kms(REGION).await;
    let key = kms.describe_key().key_id(&key_arn).send().await.unwrap();
    assert_eq!(key.key_metadata().and_then(|k| k.key_state()).map(|s| s.as_str()), Some("PendingDeletion"));
    let ec2 = m.factory().ec2(REGION).await;
    let sgs = ec2
        .describe_security_groups()
        .filters(Filter::builder().name("tag:pgstack:stack").values("quickstart").build())
        .send()
        .await
        .unwrap();
    assert!(sgs.security_groups().is_empty());
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path().join("state/quickstart.json")).unwrap()).unwrap();
    assert!(state["resources"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_create_and_state_write_creates_nothing_twice() {
    let m = moto();
    let mut env = m.env();
    let w = Workdir::new();
    quickstart(&w);

    let mut crashing = env.clone();
    crashing.push(("PGSTACK_FAILPOINT".into(), "after-create:vpc.main".into()));
    let crashed = w.run(&["apply", "quickstart.toml", "--auto-approve"], &crashing);
    assert_ne!(crashed.code, Some(0), "the failpoint kills the process");
    assert_eq!(vpcs_tagged(&m, "vpc.main").await.len(), 1, "the VPC was created before the crash");
    let state = std::fs::read_to_string(w.path().join("state/quickstart.json")).unwrap();
    assert!(state.contains("create_pending"), "{state}");

    env.push(("PGSTACK_FAILPOINT".into(), String::new()));
    let plan = w.run(&["plan", "quickstart.toml"], &env).expect(0);
    assert!(plan.stdout.contains("vpc.main") && plan.stdout.contains("adopted"), "{}", plan.stdout);
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(0);
    assert_eq!(vpcs_tagged(&m, "vpc.main").await.len(), 1, "re-running adopted the VPC instead of creating another");
    w.run(&["plan", "quickstart.toml", "--detailed-exitcode"], &env).expect(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_on_a_locked_stack_names_the_holder() {
    use pgstack::state::StateBackend;
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    quickstart(&w);
    let backend = pgstack::state::local::LocalBackend::new(w.path().join("state/quickstart.json"));
    let _held = backend.lock(pgstack::state::LockInfo::current("apply")).await.unwrap();
    let run = w.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(1);
    assert!(run.stderr.contains("state is locked by"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("pid {}", std::process::id())), "{}", run.stderr);
    assert!(vpcs_tagged(&m, "vpc.main").await.is_empty(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_plans_apply_exactly_and_go_stale() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    quickstart(&w);
    w.run(&["plan", "quickstart.toml", "-o", "first.plan"], &env).expect(0);
    w.run(&["plan", "quickstart.toml", "-o", "second.plan"], &env).expect(0);
    let applied = w.run(&["apply", "first.plan"], &env).expect(0);
    assert!(applied.stdout.contains("7 added"), "{}", applied.stdout);
    let stale = w.run(&["apply", "second.plan"], &env).expect(1);
    assert!(stale.stderr.contains("stale"), "{}", stale.stderr);
    assert_eq!(vpcs_tagged(&m, "vpc.main").await.len(), 1);

    let json = w.run(&["plan", "quickstart.toml", "--json"], &env).expect(0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["has_changes"], false);
    assert_eq!(v["resource_changes"].as_array().unwrap().len(), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_reports_out_of_band_changes_and_exits_2() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    quickstart(&w);
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(0);
    w.run(&["drift", "quickstart.toml"], &env).expect(0);

    let vpc = vpcs_tagged(&m, "vpc.main").await.remove(0);
    let ec2 = m.factory().ec2(REGION).await;
    ec2.create_tags()
        .resources(&vpc)
        .tags(aws_sdk_ec2::types::Tag::builder().key("Owner").value("someone").build())
        .send()
        .await
        .unwrap();
    let text = w.run(&["drift", "quickstart.toml"], &env).expect(2);
    assert!(text.stdout.contains("vpc.main") && text.stdout.contains("Owner"), "{}", text.stdout);
    let json = w.run(&["drift", "quickstart.toml", "--format", "json"], &env).expect(2);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["drift"][0]["address"], "vpc.main");
    let md = w.run(&["drift", "quickstart.toml", "--format", "markdown"], &env).expect(2);
    assert!(md.stdout.contains("| `vpc.main` | `tags` |"), "{}", md.stdout);

    // Apply repairs the drift: the update starts from what AWS has, not from state.
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(0);
    w.run(&["drift", "quickstart.toml"], &env).expect(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn import_adopts_an_existing_vpc() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.write(
        "imp.toml",
        "[stack]\nname = \"imp\"\nregion = \"us-east-1\"\n\n[vpc.main]\ncidr_block = \"10.9.0.0/16\"\n",
    );
    let ec2 = m.factory().ec2(REGION).await;
    let vpc = ec2.create_vpc().cidr_block("10.9.0.0/16").send().await.unwrap();
    let id = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_owned();
    w.run(&["import", "imp.toml", "vpc.main", &id], &env).expect(0);
    let list = w.run(&["state", "list", "imp.toml"], &env).expect(0);
    assert!(list.stdout.contains(&format!("vpc.main\t{id}")), "{}", list.stdout);
    let plan = w.run(&["plan", "imp.toml", "--detailed-exitcode"], &env).expect(2);
    assert!(plan.stdout.contains("vpc.main will be updated in-place"), "ownership tags are added: {}", plan.stdout);
    assert!(!plan.stdout.contains("will be created"), "{}", plan.stdout);
    w.run(&["apply", "imp.toml", "--auto-approve"], &env).expect(0);
    assert_eq!(vpcs_tagged(&m, "vpc.main").await, vec![id]);
}

#[test]
fn apply_without_a_terminal_needs_auto_approve() {
    let w = Workdir::new();
    quickstart(&w);
    // Without a refresh an empty state needs no AWS call to plan; the endpoint is never reached.
    let env = vec![("AWS_ENDPOINT_URL".to_owned(), "http://127.0.0.1:9".to_owned())];
    let run = w.run(&["apply", "quickstart.toml", "--refresh=false"], &env).expect(1);
    assert!(run.stderr.contains("--auto-approve"), "{}", run.stderr);
    assert!(run.stdout.contains("7 to add"), "the plan is shown first: {}", run.stdout);
    let state = std::fs::read_to_string(w.path().join("state/quickstart.json")).unwrap_or_default();
    assert!(!state.contains("create_pending"), "nothing was started");
}

#[tokio::test(flavor = "multi_thread")]
async fn replacing_a_guarded_key_needs_allow_destroy_then_swaps_it() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    quickstart(&w);
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(0);
    let old_arn = w.run(&["output", "quickstart.toml", "kms_key_arn"], &env).expect(0).stdout.trim().to_owned();

    let text = std::fs::read_to_string(w.path().join("quickstart.toml")).unwrap();
    w.write(
        "quickstart.toml",
        &text.replace("enable_key_rotation = true", "enable_key_rotation = true\nmulti_region = true"),
    );
    let plan = w.run(&["plan", "quickstart.toml", "--detailed-exitcode"], &env).expect(2);
    assert!(plan.stdout.contains("kms_key.db must be replaced"), "{}", plan.stdout);
    assert!(plan.stdout.contains("multi_region") && plan.stdout.contains("# forces replacement"), "{}", plan.stdout);
    assert!(plan.stdout.contains("DATA LOSS"), "{}", plan.stdout);

    let refused = w.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(1);
    assert!(refused.stderr.contains("--allow-destroy 'kms_key.db'"), "{}", refused.stderr);
    assert_eq!(w.run(&["output", "quickstart.toml", "kms_key_arn"], &env).expect(0).stdout.trim(), old_arn);

    w.run(&["apply", "quickstart.toml", "--auto-approve", "--allow-destroy", "kms_key.db"], &env).expect(0);
    let new_arn = w.run(&["output", "quickstart.toml", "kms_key_arn"], &env).expect(0).stdout.trim().to_owned();
    assert_ne!(new_arn, old_arn);
    let kms = m.factory().kms(REGION).await;
    let old = kms.describe_key().key_id(&old_arn).send().await.unwrap();
    assert_eq!(old.key_metadata().and_then(|k| k.key_state()).map(|s| s.as_str()), Some("PendingDeletion"));
    let new = kms.describe_key().key_id(&new_arn).send().await.unwrap();
    assert_eq!(new.key_metadata().and_then(|k| k.multi_region()), Some(true));
    w.run(&["plan", "quickstart.toml", "--detailed-exitcode"], &env).expect(0);
}
