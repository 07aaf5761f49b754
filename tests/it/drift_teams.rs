//! `drift` for teams, against moto through the real binary: orphans (objects
//! tagged for a stack that its state does not hold) reported with the
//! command that imports them, until imported; many stacks at once with one
//! summary and one exit code; no lock taken and only read calls made, all
//! of them in the documented IAM policy of the drift job
//! (examples/ci/drift-policy.json).

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{ResourceType as Ec2ResourceType, Tag as Ec2Tag, TagSpecification};

use crate::support::cli::{Workdir, repo_root};
use crate::support::moto::{MotoGuard, REGION, moto};

const ORPHANS: &str = r#"[stack]
name   = "orph"
region = "us-east-1"

[vpc.main]
cidr_block = "10.7.0.0/16"
"#;

/// What the stack declares once the orphans exist: a key and a role that
/// were made by hand with its tags.
const DECLARED_LATER: &str = r#"
[kms_key.extra]
description         = "made by hand"
enable_key_rotation = false

[iam_role.ci]
name               = "orph-ci"
assume_role_policy = { Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "ec2.amazonaws.com" } }] }
"#;

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"Service":"ec2.amazonaws.com"}}]}"#;

fn kms_tags(pairs: &[(&str, &str)]) -> Vec<aws_sdk_kms::types::Tag> {
    pairs.iter().map(|(k, v)| aws_sdk_kms::types::Tag::builder().tag_key(*k).tag_value(*v).build().unwrap()).collect()
}

/// A KMS key made with the SDK, tagged with `tags`; its key id. The usage
/// is given: moto stores none when it is left to AWS's default.
async fn key(kms: &aws_sdk_kms::Client, description: &str, tags: &[(&str, &str)]) -> String {
    let usage = aws_sdk_kms::types::KeyUsageType::EncryptDecrypt;
    let create = kms.create_key().description(description).key_usage(usage).set_tags(Some(kms_tags(tags)));
    let out = create.send().await.unwrap();
    out.key_metadata().unwrap().key_id().to_owned()
}

fn drift_json(w: &Workdir, args: &[&str], env: &[(String, String)], code: i32) -> serde_json::Value {
    let run = w.run(&[args, &["--format", "json"]].concat(), env).expect(code);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn orphan_ids(v: &serde_json::Value) -> BTreeSet<String> {
    v["orphans"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn orphans_are_reported_with_their_import_command_until_imported() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.write("orph.toml", ORPHANS);
    w.run(&["apply", "orph.toml", "--auto-approve"], &env).expect(0);
    w.run(&["drift", "orph.toml"], &env).expect(0);

    // Made outside pgstack with this stack's tags (a crash elsewhere, copied tags).
    let kms = m.factory().kms(REGION).await;
    let extra = key(&kms, "made by hand", &[("pgstack:stack", "orph"), ("pgstack:address", "kms_key.extra")]).await;
    let undeclared = key(&kms, "old", &[("pgstack:stack", "orph"), ("pgstack:address", "kms_key.gone")]).await;
    let unaddressed = key(&kms, "no address", &[("pgstack:stack", "orph")]).await;
    // Not orphans: a key on its way out, and another stack's key.
    let leaving = key(&kms, "leaving", &[("pgstack:stack", "orph"), ("pgstack:address", "kms_key.extra")]).await;
    kms.schedule_key_deletion().key_id(&leaving).pending_window_in_days(7).send().await.unwrap();
    let foreign = key(&kms, "foreign", &[("pgstack:stack", "other"), ("pgstack:address", "kms_key.extra")]).await;
    let iam = m.factory().iam(REGION).await;
    let role_tag = |k: &str, v: &str| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().unwrap();
    iam.create_role()
        .role_name("orph-ci")
        .assume_role_policy_document(TRUST)
        .tags(role_tag("pgstack:stack", "orph"))
        .tags(role_tag("pgstack:address", "iam_role.ci"))
        .send()
        .await
        .unwrap();
    let ec2 = m.factory().ec2(REGION).await;
    let tags = TagSpecification::builder()
        .resource_type(Ec2ResourceType::Vpc)
        .tags(Ec2Tag::builder().key("pgstack:stack").value("orph").build())
        .tags(Ec2Tag::builder().key("pgstack:address").value("vpc.main").build())
        .build();
    let second = ec2.create_vpc().cidr_block("10.8.0.0/16").tag_specifications(tags).send().await.unwrap();
    let second = second.vpc().and_then(|v| v.vpc_id()).unwrap().to_owned();
    w.write("orph.toml", &format!("{ORPHANS}{DECLARED_LATER}"));

    let text = w.run(&["drift", "orph.toml"], &env).expect(2);
    let out = &text.stdout;
    assert!(out.contains("Objects tagged for this stack that its state does not hold:"), "{out}");
    let import_key = format!("pgstack import orph.toml 'kms_key.extra' {extra}");
    let import_role = "pgstack import orph.toml 'iam_role.ci' orph-ci";
    assert!(out.contains(&import_key) && out.contains(import_role), "{out}");
    assert!(out.contains("a second object tagged as `vpc.main`") && out.contains(&second), "{out}");
    assert!(out.contains("the stack does not declare `kms_key.gone`") && out.contains(&undeclared), "{out}");
    assert!(out.contains(&format!("kms_key {unaddressed} in us-east-1")), "{out}");
    assert!(!out.contains(&leaving) && !out.contains(&foreign), "{out}");

    let v = drift_json(&w, &["drift", "orph.toml"], &env, 2);
    assert_eq!(v["status"], "drifted");
    assert_eq!(v["counts"]["orphans"], 5);
    let by_id = |id: &str| v["orphans"].as_array().unwrap().iter().find(|o| o["id"] == id).cloned().unwrap();
    let o = by_id(&extra);
    assert_eq!(
        (o["address"].as_str(), o["type"].as_str(), o["region"].as_str()),
        (Some("kms_key.extra"), Some("kms_key"), Some(REGION))
    );
    assert_eq!((o["reason"].as_str(), o["import_command"].as_str()), (Some("not_in_state"), Some(import_key.as_str())));
    assert_eq!(by_id("orph-ci")["reason"], "not_in_state");
    assert_eq!(
        (by_id(&second)["reason"].as_str(), by_id(&second)["import_command"].is_null()),
        (Some("duplicate"), true)
    );
    assert_eq!(by_id(&undeclared)["reason"], "undeclared");
    let o = by_id(&unaddressed);
    assert_eq!(
        (o["reason"].as_str(), o["address"].is_null(), o["address_tag"].is_null()),
        (Some("no_address"), true, true)
    );

    let md = w.run(&["drift", "orph.toml", "--format", "markdown"], &env).expect(2).stdout;
    assert!(md.contains("### Tagged for this stack, not in its state"), "{md}");
    assert!(
        md.contains(&format!(
            "| `kms_key.extra` | `kms_key` | `us-east-1` | `{extra}` | not in the state: import it<br>`{import_key}` |"
        )),
        "{md}"
    );

    // Imported as the hint says: no longer an orphan.
    w.run(&["import", "orph.toml", "kms_key.extra", &extra], &env).expect(0);
    w.run(&["import", "orph.toml", "iam_role.ci", "orph-ci"], &env).expect(0);
    let v = drift_json(&w, &["drift", "orph.toml"], &env, 2);
    assert_eq!(orphan_ids(&v), BTreeSet::from([second.clone(), undeclared.clone(), unaddressed.clone()]));

    // The rest deleted by hand: drift is clean.
    ec2.delete_vpc().vpc_id(&second).send().await.unwrap();
    for k in [&undeclared, &unaddressed] {
        kms.schedule_key_deletion().key_id(k).pending_window_in_days(7).send().await.unwrap();
    }
    let clean = w.run(&["drift", "orph.toml"], &env).expect(0);
    assert!(clean.stdout.starts_with("No drift:"), "{}", clean.stdout);
}

const TEAM: &str =
    "[stack]\nname   = \"team-NAME\"\nregion = \"us-east-1\"\n\n[vpc.main]\ncidr_block = \"10.N.0.0/16\"\n";

/// A stack file with a number where a CIDR block goes, at line 6, column 14.
const BROKEN: &str = "[stack]\nname   = \"team-broken\"\nregion = \"us-east-1\"\n\n[vpc.main]\ncidr_block = 42\n";

#[tokio::test(flavor = "multi_thread")]
async fn drift_over_three_stacks_names_each_and_exits_1_when_one_is_broken() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    std::fs::create_dir(w.path().join("stacks")).unwrap();
    w.write("stacks/a.toml", &TEAM.replace("NAME", "a").replace(".N.", ".1."));
    w.write("stacks/b.toml", &TEAM.replace("NAME", "b").replace(".N.", ".2."));
    w.write("stacks/broken.toml", BROKEN);
    w.write("stacks/README.md", "not a stack");
    for f in ["stacks/a.toml", "stacks/b.toml"] {
        w.run(&["apply", f, "--auto-approve"], &env).expect(0);
    }
    w.run(&["drift", "stacks/a.toml", "stacks/b.toml"], &env).expect(0);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path().join("state/team-b.json")).unwrap()).unwrap();
    let vpc = state["resources"][0]["id"].as_str().unwrap().to_owned();
    let ec2 = m.factory().ec2(REGION).await;
    ec2.create_tags()
        .resources(&vpc)
        .tags(Ec2Tag::builder().key("Owner").value("someone").build())
        .send()
        .await
        .unwrap();

    // A directory: its *.toml files, in name order.
    let text = w.run(&["drift", "stacks"], &env).expect(1).stdout;
    assert!(text.starts_with("Drift of 3 stacks: 1 clean, 1 drifted, 1 error\n"), "{text}");
    let row = |cells: &[&str]| text.lines().any(|l| l.split_whitespace().take(cells.len()).eq(cells.iter().copied()));
    assert!(row(&["STACK", "FILE", "STATUS", "DRIFTED", "ORPHANS", "PENDING"]), "{text}");
    assert!(row(&["team-a", "stacks/a.toml", "clean", "0", "0", "0"]), "{text}");
    assert!(row(&["team-b", "stacks/b.toml", "drifted", "1", "0", "1"]), "{text}");
    assert!(row(&["-", "stacks/broken.toml", "error", "-", "-", "-"]), "{text}");
    assert!(text.contains("=== stacks/b.toml (team-b): drifted") && text.contains("Owner"), "{text}");
    assert!(text.contains("=== stacks/broken.toml: error") && text.contains("stacks/broken.toml:6:14"), "{text}");
    assert!(text.contains("cidr_block = 42"), "the source line is shown: {text}");
    assert!(!text.contains("=== stacks/a.toml"), "clean stacks have no section: {text}");

    let v = drift_json(&w, &["drift", "stacks/a.toml", "stacks/b.toml", "stacks/broken.toml"], &env, 1);
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["summary"], serde_json::json!({ "stacks": 3, "clean": 1, "drifted": 1, "error": 1 }));
    assert_eq!((v["drifted"].as_bool(), v["failed"].as_bool()), (Some(true), Some(true)));
    let stacks = v["stacks"].as_array().unwrap();
    let status: Vec<(&str, &str)> =
        stacks.iter().map(|s| (s["file"].as_str().unwrap(), s["status"].as_str().unwrap())).collect();
    assert_eq!(status, [("stacks/a.toml", "clean"), ("stacks/b.toml", "drifted"), ("stacks/broken.toml", "error")]);
    assert_eq!(stacks[1]["drift"][0]["address"], "vpc.main");
    assert_eq!(stacks[2]["error"]["location"], "stacks/broken.toml:6:14");
    assert!(stacks[2]["stack"].is_null());

    let md = w.run(&["drift", "stacks", "--format", "markdown"], &env);
    assert_eq!(md.code, Some(1), "{}", md.stderr);
    assert!(md.stderr.contains("stacks/broken.toml"), "failures are named on stderr too: {}", md.stderr);
    let md = md.stdout;
    assert!(md.starts_with("## pgstack drift: 3 stacks: 1 clean, 1 drifted, 1 error\n"), "{md}");
    assert!(md.contains("| `team-b` | `stacks/b.toml` | ⚠️ drifted | 1 | 0 | 1 |"), "{md}");
    assert!(md.contains("|  | `stacks/broken.toml` | ❌ error |  |  |  |"), "{md}");
    assert!(md.contains("### `stacks/broken.toml`: error\n\n```text\nerror: stacks/broken.toml:6:14"), "{md}");

    // Without the broken stack: exit 2 (drift), and only --state is refused with several stacks.
    w.run(&["drift", "stacks/a.toml", "stacks/b.toml"], &env).expect(2);
    let refused = w.run(&["drift", "stacks/a.toml", "stacks/b.toml", "--state", "x.json"], &env).expect(1);
    assert!(refused.stderr.contains("--state names the state of one stack"), "{}", refused.stderr);
}

/// stacks/prod.toml applied in a scratch copy of the repository's stacks
/// and modules, and the environment to run pgstack there.
async fn applied_prod(m: &MotoGuard) -> (Workdir, Vec<(String, String)>) {
    let env = crate::stacks::prod_on_moto_env(m).await;
    let w = crate::stacks::workdir_with_stacks();
    w.run(&["apply", "prod", "--skip-checks", "--auto-approve"], &env).expect(0);
    (w, env)
}

/// The IAM action an API operation needs: its own name, but for S3's.
fn action_name(op: &str) -> &str {
    match op {
        "HeadBucket" => "ListBucket",
        "ListBuckets" => "ListAllMyBuckets",
        "ListObjectVersions" => "ListBucketVersions",
        "GetBucketEncryption" => "GetEncryptionConfiguration",
        "GetBucketLifecycleConfiguration" => "GetLifecycleConfiguration",
        "GetPublicAccessBlock" => "GetBucketPublicAccessBlock",
        "GetBucketReplication" => "GetReplicationConfiguration",
        "GetObjectLockConfiguration" => "GetBucketObjectLockConfiguration",
        other => other,
    }
}

/// `service:Operation` (as the call counter names it) as the IAM action it needs.
fn iam_action(op: &str) -> String {
    let (service, name) = op.split_once(':').unwrap();
    let prefix = match service {
        "secrets manager" => "secretsmanager",
        "resource groups tagging api" => "tag",
        "cloudwatch logs" => "logs",
        s => s,
    };
    format!("{prefix}:{}", action_name(name))
}

/// Read operations the providers call only while changing AWS (a new
/// password, the stored one when a secret's shape changes) or at plan (the
/// caller a key policy must not lock out, a rotation function and its
/// policy, a backup selection adopted by its name): not drift's.
/// (`GetPolicy` is a read of `iam_policy` too, so it stays in the policy,
/// as `iam:GetPolicy`; Lambda's, on the write path, shares its name.)
const WRITE_PATH_READS: &[&str] = &[
    "GetRandomPassword",
    "GetSecretValue",
    "GetCallerIdentity",
    "GetFunction",
    "ListPolicyVersions",
    "ListBackupSelections",
];

/// Every read operation (Describe, Get, List, Head) the AWS providers name.
fn read_operations_in_source() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(repo_root().join("src/provider/aws")).unwrap() {
        let path = entry.unwrap().path();
        // The S3 state backend's reads are the state's, covered by docs/drift.md.
        if path.ends_with("s3_object_store.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for quoted in text.split('"').skip(1).step_by(2) {
            let read = ["Describe", "Get", "List", "Head"].iter().any(|p| quoted.starts_with(p));
            if read && quoted.len() > 4 && quoted.chars().all(|c| c.is_ascii_alphabetic()) {
                out.insert(quoted.to_owned());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_takes_no_lock_and_calls_only_what_the_documented_policy_allows() {
    let m = moto();
    let (w, env) = applied_prod(&m).await;

    let ops = |run: &crate::support::cli::Run| -> std::collections::BTreeMap<String, u64> {
        let line = run.stderr.lines().find_map(|l| l.strip_prefix("AWS API operations: ")).unwrap_or_default();
        line.split(", ")
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let (k, n) = kv.rsplit_once('=').unwrap();
                (k.to_owned(), n.parse().unwrap())
            })
            .collect()
    };
    let plan = w.run(&["-v", "plan", "prod", "--detailed-exitcode"], &env).expect(0);

    // An apply holds the stack's lock meanwhile: drift neither waits for it nor fails.
    let lock = std::fs::OpenOptions::new().write(true).open(w.path().join("state/greenlang-prod.json.lock")).unwrap();
    lock.try_lock().expect("the test holds the lock");
    let held = w.run(&["plan", "prod"], &env).expect(1);
    assert!(held.stderr.contains("lock"), "{}", held.stderr);
    let drift = w.run(&["-v", "drift", "prod"], &env).expect(0);
    assert!(drift.stdout.starts_with("No drift:"), "{}", drift.stdout);
    lock.unlock().unwrap();

    let (drift_ops, plan_ops) = (ops(&drift), ops(&plan));
    assert!(!drift_ops.is_empty(), "{}", drift.stderr);
    for op in drift_ops.keys() {
        let name = op.split_once(':').unwrap().1;
        assert!(["Describe", "Get", "List", "Head"].iter().any(|p| name.starts_with(p)), "drift calls {op}");
    }
    let extra: u64 = drift_ops.values().sum::<u64>() - plan_ops.values().sum::<u64>();
    let added: Vec<String> = drift_ops
        .iter()
        .filter_map(|(k, n)| {
            let more = n - plan_ops.get(k).copied().unwrap_or(0);
            (more > 0).then(|| format!("{k}={more}"))
        })
        .collect();
    eprintln!("orphan scan of stacks/prod.toml: {extra} calls more than a no-change plan ({})", added.join(", "));
    // One listing per type the tagging index does not cover, one per index page.
    assert!(extra <= 14, "the orphan scan stays cheap: {extra} calls ({})", added.join(", "));

    let text = std::fs::read_to_string(repo_root().join("examples/ci/drift-policy.json")).unwrap();
    let policy: serde_json::Value = serde_json::from_str(&text).unwrap();
    let allowed: BTreeSet<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()))
        .collect();
    let used: BTreeSet<String> = drift_ops.keys().map(|op| iam_action(op)).collect();
    let missing: Vec<&String> = used.difference(&allowed).collect();
    assert!(missing.is_empty(), "drift calls actions the policy does not allow: {missing:?}");

    // The policy is every read the providers make outside changes, no more.
    let in_source: BTreeSet<String> = read_operations_in_source()
        .iter()
        .filter(|op| !WRITE_PATH_READS.contains(&op.as_str()))
        .map(|op| action_name(op).to_owned())
        .collect();
    let in_policy: BTreeSet<String> = allowed.iter().map(|a| a.split_once(':').unwrap().1.to_owned()).collect();
    assert_eq!(in_policy, in_source, "examples/ci/drift-policy.json against the read calls in src/provider/aws");
}

/// Types whose objects carry no tags of their own: a state that forgets them
/// has nothing to find (drift shows them as configured but not created).
const UNTAGGED: &[&str] = &["db_proxy_target", "s3_bucket_replication", "secret_rotation"];

/// Every object of the prod stack (two regions, every type but
/// `db_instance`) is found by its tags once the state forgets it, in its
/// region, at its address, with its id; the printed import commands bring
/// each back.
#[tokio::test(flavor = "multi_thread")]
async fn every_object_of_prod_is_found_by_its_tags_once_the_state_forgets_it() {
    let m = moto();
    let (w, env) = applied_prod(&m).await;
    let path = w.path().join("state/greenlang-prod.json");
    let mut state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let recorded: Vec<(String, String, String, String)> = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !UNTAGGED.contains(&r["type"].as_str().unwrap()))
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_owned();
            (s("address"), s("type"), s("region"), s("id"))
        })
        .collect();
    assert!(recorded.len() > 30, "{}", recorded.len());
    assert!(recorded.iter().any(|r| r.2 == "us-west-2"), "both regions");
    state["resources"] = serde_json::json!([]);
    std::fs::write(&path, serde_json::to_string(&state).unwrap()).unwrap();

    let v = drift_json(&w, &["drift", "prod"], &env, 2);
    let found: Vec<(String, String, String, String)> = v["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert_eq!(o["reason"], "not_in_state", "{o}");
            let s = |k: &str| o[k].as_str().unwrap().to_owned();
            (s("address"), s("type"), s("region"), s("id"))
        })
        .collect();
    let sorted = |mut v: Vec<(String, String, String, String)>| {
        v.sort();
        v
    };
    assert_eq!(sorted(found), sorted(recorded.clone()));

    for o in v["orphans"].as_array().unwrap() {
        let (address, id) = (o["address"].as_str().unwrap(), o["id"].as_str().unwrap());
        let command = o["import_command"].as_str().unwrap();
        assert!(command.starts_with(&format!("pgstack import prod '{address}' ")), "{command}");
        w.run(&["import", "prod", address, id], &env).expect(0);
    }
    let v = drift_json(&w, &["drift", "prod"], &env, 2);
    assert_eq!(v["orphans"], serde_json::json!([]), "every object is managed again");
    let creates: BTreeSet<&str> =
        v["pending_changes"].as_array().unwrap().iter().filter_map(|c| c["type"].as_str()).collect();
    assert_eq!(creates, UNTAGGED.iter().copied().collect(), "only the untagged types are left to import or create");
}
