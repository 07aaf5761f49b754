//! Safety, round 2 (issue 15): state that follows the stack, output paths,
//! saved plans as intent, a stack managing its own state bucket, symlinked
//! state, variables in plan files, and hints whose advice works. Every
//! refusal is followed by an SDK check that nothing in AWS was touched.

use std::os::unix::fs::symlink;

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};

use crate::support::cli::{Run, Workdir, repo_root, reseal, state_id};
use crate::support::moto::{MotoGuard, REGION, moto};

fn quickstart_text() -> String {
    std::fs::read_to_string(repo_root().join("examples/quickstart.toml")).unwrap()
}

async fn security_group_exists(m: &MotoGuard, id: &str) -> bool {
    let ec2 = m.factory().ec2(REGION).await;
    ec2.describe_security_groups().group_ids(id).send().await.is_ok_and(|o| !o.security_groups().is_empty())
}

/// The id state records for `addr` in the state file at `path`.
/// Item 0: the default state is the stack's project's, whatever the working
/// directory; a stack whose objects exist but whose state is elsewhere is
/// refused at plan, and the printed `import` brings an object back.
#[tokio::test(flavor = "multi_thread")]
async fn state_follows_the_stack_and_creates_are_refused_where_objects_exist() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    std::fs::create_dir_all(w.path().join("stacks")).unwrap();
    w.write("stacks/quickstart.toml", &quickstart_text());
    w.run(&["apply", "stacks/quickstart.toml", "--auto-approve"], &env).expect(0);
    assert!(w.path().join("state/quickstart.json").exists());

    // From another working directory, by absolute path: the same state, nothing to do.
    let elsewhere = tempfile::tempdir().unwrap();
    let stack = w.path().join("stacks/quickstart.toml");
    let run = w
        .command(&["plan", stack.to_str().unwrap(), "--detailed-exitcode"], &env)
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    Run::from(run).expect(0);
    assert!(!elsewhere.path().join("state").exists(), "no state next to the working directory");

    // A copy of the stack in another project has no state: its creates are refused.
    let other = Workdir::new();
    other.write("quickstart.toml", &quickstart_text());
    let refused = other.run(&["plan", "quickstart.toml"], &env).expect(1);
    let vpc = state_id(&w.path().join("state/quickstart.json"), "vpc.main");
    assert!(refused.stderr.contains("refusing to plan creates for objects that already exist"), "{}", refused.stderr);
    assert!(refused.stderr.contains(&format!("vpc.main ({vpc} in us-east-1)")), "{}", refused.stderr);
    assert!(refused.stderr.contains("kms_key.db"), "every claimed address is named: {}", refused.stderr);
    let apply = other.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(1);
    assert!(apply.stderr.contains("refusing to plan creates"), "{}", apply.stderr);
    assert_eq!(m.stack_vpcs("quickstart").await.len(), 1, "no second VPC");

    // The printed way out works: the hint's import adopts the object.
    let import = refused.stderr.lines().find(|l| l.contains("pgstack import")).expect("import hint");
    let args: Vec<&str> = import.split("pgstack ").nth(1).unwrap().split_whitespace().collect();
    assert_eq!(args[..2], ["import", "quickstart.toml"], "{import}");
    other.run(&args, &env).expect(0);
    let still = other.run(&["plan", "quickstart.toml"], &env).expect(1);
    let claimed = format!("{} ({}", args[2], args[3]);
    assert!(refused.stderr.contains(&claimed), "{}", refused.stderr);
    assert!(!still.stderr.contains(&claimed), "{} is no longer claimed: {}", args[2], still.stderr);
}

/// Item 1: files written on a user's word are resolved and checked first.
#[tokio::test(flavor = "multi_thread")]
async fn output_paths_never_overwrite_state_stacks_modules_or_other_files() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.write("quickstart.toml", &quickstart_text());
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(0);
    w.run(&["apply", "quickstart.toml", "--auto-approve", "--var", "env=qa"], &env).expect(0);
    let read = |p: &str| std::fs::read(w.path().join(p)).unwrap();
    let (state, backup, stack) =
        (read("state/quickstart.json"), read("state/quickstart.json.backup"), read("quickstart.toml"));
    symlink("quickstart.toml", w.path().join("stack-link")).unwrap();
    w.write("notes.txt", "mine");
    std::fs::create_dir(w.path().join("plans")).unwrap();

    let refusals = [
        ("./state/../state/quickstart.json", "this stack's state"),
        ("state/quickstart.json.backup", "this stack's state backup"),
        ("state/quickstart.json.lock", "lock file"),
        ("state/other.json", "where this project keeps the state of its stacks"),
        ("stack-link", "it is quickstart.toml, which this stack was loaded from"),
        ("notes.txt", "not a file pgstack wrote"),
        ("plans", "is a directory"),
        ("missing-dir/p.plan", "No such file or directory"),
    ];
    for (out, why) in refusals {
        let run = w.run(&["plan", "quickstart.toml", "-o", out], &env).expect(1);
        assert!(run.stderr.contains(why), "-o {out}: {}", run.stderr);
        assert!(run.stderr.contains("nothing was written"), "-o {out}: {}", run.stderr);
    }
    assert_eq!(read("state/quickstart.json"), state, "state untouched");
    assert_eq!(read("state/quickstart.json.backup"), backup, "backup untouched");
    assert_eq!(read("quickstart.toml"), stack, "stack untouched");
    assert!(std::fs::symlink_metadata(w.path().join("stack-link")).unwrap().file_type().is_symlink());
    assert_eq!(read("notes.txt"), b"mine");

    // A plan file may be written again, also through a link (which stays a link).
    w.run(&["plan", "quickstart.toml", "-o", "p.plan"], &env).expect(0);
    w.run(&["plan", "quickstart.toml", "-o", "p.plan"], &env).expect(0);
    symlink("p.plan", w.path().join("plan-link")).unwrap();
    w.run(&["plan", "quickstart.toml", "-o", "plan-link", "--var", "env=x"], &env).expect(0);
    assert!(std::fs::symlink_metadata(w.path().join("plan-link")).unwrap().file_type().is_symlink());
    assert!(String::from_utf8(read("p.plan")).unwrap().contains("\"x\""), "written through the link");

    // state pull -o: the live state and anything but a state copy are refused.
    for (out, why) in [("state/quickstart.json", "this stack's state"), ("notes.txt", "not a file pgstack wrote")] {
        let run = w.run(&["state", "pull", "quickstart.toml", "-o", out], &env).expect(1);
        assert!(run.stderr.contains(why), "pull -o {out}: {}", run.stderr);
    }
    w.run(&["state", "pull", "quickstart.toml", "-o", "copy.json"], &env).expect(0);
    w.run(&["state", "pull", "quickstart.toml", "-o", "copy.json"], &env).expect(0);
    assert_eq!(read("state/quickstart.json"), state);
}

/// Item 1: a module file read by the stack is refused as a plan file.
#[test]
fn a_module_file_is_never_a_plan_file() {
    let w = Workdir::new();
    w.copy("stacks/dev.toml", "stacks/dev.toml");
    for m in ["network", "aurora-postgres", "secrets", "pooling", "backups", "alarms"] {
        w.copy(&format!("modules/{m}/module.toml"), &format!("modules/{m}/module.toml"));
    }
    let before = std::fs::read(w.path().join("modules/network/module.toml")).unwrap();
    let no_aws = [("AWS_ENDPOINT_URL".to_owned(), "http://127.0.0.1:9".to_owned())];
    let args = ["plan", "dev", "--var", "rotation_lambda_arn=arn:aws:lambda:us-east-1:1:function:r", "--refresh=false"];
    let run = w.run(&[&args[..], &["-o", "modules/network/module.toml"]].concat(), &no_aws).expect(1);
    assert!(run.stderr.contains("modules/network/module.toml, which this stack was loaded from"), "{}", run.stderr);
    assert!(!run.stderr.contains("127.0.0.1:9"), "refused before anything else: {}", run.stderr);
    assert_eq!(std::fs::read(w.path().join("modules/network/module.toml")).unwrap(), before);
}

/// Item 2: an edited and resealed plan cannot delete or retag another
/// stack's objects: ids come from the locked state.
#[tokio::test(flavor = "multi_thread")]
async fn a_resealed_plan_cannot_touch_another_stacks_objects() {
    let m = moto();
    let env = m.env();
    let ours = Workdir::new();
    ours.write("quickstart.toml", &quickstart_text());
    ours.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(0);
    let theirs = Workdir::new();
    theirs.write(
        "quickstart.toml",
        &quickstart_text()
            .replace("name   = \"quickstart\"", "name   = \"billing\"")
            .replace("quickstart-", "billing-"),
    );
    theirs.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(0);
    let their_sg = state_id(&theirs.path().join("state/billing.json"), "security_group.app");
    let their_vpc = state_id(&theirs.path().join("state/billing.json"), "vpc.main");
    let their_tags = m.stack_vpcs("billing").await[&their_vpc].clone();
    let our_state = std::fs::read(ours.path().join("state/quickstart.json")).unwrap();

    // A retag of our VPC (env=prod), aimed at theirs.
    ours.run(&["plan", "quickstart.toml", "--var", "env=prod", "-o", "retag.plan"], &env).expect(0);
    let path = ours.path().join("retag.plan");
    reseal(&path, |body| {
        for c in body["plan"]["changes"].as_array_mut().unwrap() {
            if c["address"] == "vpc.main" {
                c["id"] = their_vpc.clone().into();
            }
        }
    });
    let run = ours.run(&["apply", "retag.plan"], &env).expect(1);
    assert!(run.stderr.contains(&format!("vpc.main: the file names object {their_vpc}")), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);

    // A delete of their security group, added to our plan.
    ours.run(&["plan", "quickstart.toml", "--var", "env=prod", "-o", "delete.plan"], &env).expect(0);
    let path = ours.path().join("delete.plan");
    reseal(&path, |body| {
        let changes = body["plan"]["changes"].as_array_mut().unwrap();
        let mut extra = changes.iter().find(|c| c["address"] == "security_group.app").unwrap().clone();
        extra["address"] = "security_group.intruder".into();
        extra["action"] = "delete".into();
        extra["id"] = their_sg.clone().into();
        changes.push(extra);
    });
    let run = ours.run(&["apply", "delete.plan"], &env).expect(1);
    assert!(run.stderr.contains("security_group.intruder: the file plans a delete of"), "{}", run.stderr);

    assert!(security_group_exists(&m, &their_sg).await, "their security group is still there");
    assert_eq!(m.stack_vpcs("billing").await[&their_vpc], their_tags, "their VPC's tags are untouched");
    assert_eq!(std::fs::read(ours.path().join("state/quickstart.json")).unwrap(), our_state, "our state untouched");

    // The unedited plan still applies, to our VPC only.
    ours.run(&["plan", "quickstart.toml", "--var", "env=prod", "-o", "good.plan"], &env).expect(0);
    ours.run(&["apply", "good.plan"], &env).expect(0);
    let our_vpc = state_id(&ours.path().join("state/quickstart.json"), "vpc.main");
    assert_eq!(m.stack_vpcs("quickstart").await[&our_vpc]["Environment"], "prod");
    assert_eq!(m.stack_vpcs("billing").await[&their_vpc], their_tags);
}

/// Item 3: a stack that manages the bucket holding its own state cannot
/// delete it, suspend its versioning or expire the state object.
#[tokio::test(flavor = "multi_thread")]
async fn a_stack_cannot_delete_or_unversion_the_bucket_holding_its_state() {
    let m = moto();
    let env = m.env();
    let s3 = m.factory().s3(REGION).await;
    s3.create_bucket().bucket("own-state").send().await.unwrap();
    let on = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket("own-state").versioning_configuration(on).send().await.unwrap();
    let w = Workdir::new();
    let stack = |extra: &str| {
        format!(
            "[stack]\nname = \"selfheld\"\nregion = \"us-east-1\"\n\n[backend]\ns3 = {{ bucket = \"own-state\" }}\n\n\
             [s3_bucket.state]\nbucket = \"own-state\"\nversioning = true\nforce_destroy = true\n{extra}"
        )
    };
    w.write("selfheld.toml", &stack(""));
    w.run(&["import", "selfheld.toml", "s3_bucket.state", "own-state"], &env).expect(0);
    w.run(&["apply", "selfheld.toml", "--auto-approve", "--skip-checks"], &env).expect(0);
    let state_key = "pgstack/selfheld.json";
    s3.head_object().bucket("own-state").key(state_key).send().await.expect("state stored in its own bucket");

    let destroy = w.run(&["destroy", "selfheld.toml", "--auto-approve", "--allow-destroy", "s3_bucket.state"], &env);
    let destroy = destroy.expect(1);
    assert!(
        destroy.stderr.contains("holds this stack's own state (s3://own-state/pgstack/selfheld.json)"),
        "{}",
        destroy.stderr
    );
    assert!(destroy.stderr.contains("state pull") && destroy.stderr.contains("state push"), "{}", destroy.stderr);
    w.write("selfheld.toml", &stack("").replace("versioning = true", "versioning = false"));
    let off = w.run(&["plan", "selfheld.toml"], &env).expect(1);
    assert!(off.stderr.contains("suspending versioning"), "{}", off.stderr);
    w.write(
        "selfheld.toml",
        &stack("lifecycle_rule = [{ id = \"tidy\", enabled = true, expiration = { days = 7 } }]\n"),
    );
    let expire = w.run(&["plan", "selfheld.toml"], &env).expect(1);
    assert!(expire.stderr.contains("lifecycle rule `tidy` would expire the state object"), "{}", expire.stderr);
    // Removing the block deletes the bucket too: refused the same way.
    w.write(
        "selfheld.toml",
        "[stack]\nname = \"selfheld\"\nregion = \"us-east-1\"\n\n[backend]\ns3 = { bucket = \"own-state\" }\n",
    );
    let removed = w.run(&["apply", "selfheld.toml", "--auto-approve", "--allow-destroy", "s3_bucket.state"], &env);
    assert!(removed.expect(1).stderr.contains("holds this stack's own state"));

    s3.head_bucket().bucket("own-state").send().await.expect("the bucket is still there");
    s3.head_object().bucket("own-state").key(state_key).send().await.expect("the state is still there");
    assert!(
        s3.head_object().bucket("own-state").key(format!("{state_key}.lock")).send().await.is_err(),
        "no lock left"
    );
    let versioning = s3.get_bucket_versioning().bucket("own-state").send().await.unwrap();
    assert_eq!(versioning.status(), Some(&BucketVersioningStatus::Enabled));
}

/// Item 6: a symlinked state file is written through; a link that leads
/// nowhere is refused before AWS is touched.
#[tokio::test(flavor = "multi_thread")]
async fn a_symlinked_state_is_written_through_and_stays_a_link() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.write("quickstart.toml", &quickstart_text());
    std::fs::create_dir_all(w.path().join("shared")).unwrap();
    std::fs::create_dir_all(w.path().join("state")).unwrap();
    symlink("../shared/qs.json", w.path().join("state/quickstart.json")).unwrap();
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(0);
    w.run(&["apply", "quickstart.toml", "--auto-approve", "--var", "env=qa"], &env).expect(0);
    let link = w.path().join("state/quickstart.json");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "still a link");
    let shared: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path().join("shared/qs.json")).unwrap()).unwrap();
    assert_eq!(shared["resources"].as_array().unwrap().len(), 7);
    assert!(w.path().join("shared/qs.json.backup").exists(), "the backup sits beside the real file");
    w.run(&["plan", "quickstart.toml", "--var", "env=qa", "--detailed-exitcode"], &env).expect(0);

    // A link into a directory that does not exist: refused, nothing created.
    let other = Workdir::new();
    other.write("quickstart.toml", &quickstart_text().replace("name   = \"quickstart\"", "name   = \"lost\""));
    std::fs::create_dir_all(other.path().join("state")).unwrap();
    symlink("../nowhere/qs.json", other.path().join("state/lost.json")).unwrap();
    let run = other.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(1);
    assert!(run.stderr.contains("symbolic link that leads nowhere"), "{}", run.stderr);
    assert!(m.stack_vpcs("lost").await.is_empty(), "nothing was created");
}

/// Item 7: a saved plan holds the variables the stack declares, never
/// another `PGSTACK_VAR_*` of the environment; no file pgstack writes holds it.
#[tokio::test(flavor = "multi_thread")]
async fn saved_plans_hold_declared_variables_only() {
    let m = moto();
    let w = Workdir::new();
    w.write("quickstart.toml", &quickstart_text());
    let mut env = m.env();
    env.push(("PGSTACK_VAR_other_db_password".into(), "Hunter2-not-ours".into()));
    env.push(("PGSTACK_VAR_env".into(), "staging".into()));
    w.run(&["plan", "quickstart.toml", "-o", "p.plan"], &env).expect(0);
    let text = std::fs::read_to_string(w.path().join("p.plan")).unwrap();
    assert!(text.contains("staging"), "a declared variable is kept");
    w.run(&["apply", "p.plan"], &env).expect(0);
    w.run(&["state", "pull", "quickstart.toml", "-o", "copy.json"], &env).expect(0);
    let mut written = 0;
    for dir in [w.path().to_owned(), w.path().join("state")] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                let text = String::from_utf8_lossy(&bytes);
                assert!(
                    !text.contains("Hunter2-not-ours") && !text.contains("other_db_password"),
                    "{}",
                    path.display()
                );
                written += 1;
            }
        }
    }
    assert!(written >= 5, "plan, stack, copy, state and its lock at least: {written}");
}

/// Item 13: the advice of each hint touched here works when followed.
#[tokio::test(flavor = "multi_thread")]
async fn each_hints_advice_works_when_followed() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    // The network layer alone (moto drops a DB subnet group with its VPC).
    let network = quickstart_text().split("[db_subnet_group.db]").next().unwrap().to_owned();
    w.write("quickstart.toml", &network);
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(0);

    // A VPC CIDR change: the security groups cannot be created first; the hint says what works.
    let text = network.replace("10.42.0.0/16", "10.42.0.0/17");
    w.write("quickstart.toml", &text);
    let refused = w.run(&["plan", "quickstart.toml"], &env).expect(1);
    assert!(
        refused.stderr.contains("set `create_before_destroy = false` on `security_group.app`"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("create_before_destroy = true` on `vpc.main"), "{}", refused.stderr);
    let followed = text
        .replace("[security_group.app]\n", "[security_group.app]\ncreate_before_destroy = false\n")
        .replace("[security_group.db]\n", "[security_group.db]\ncreate_before_destroy = false\n");
    w.write("quickstart.toml", &followed);
    let plan = w.run(&["plan", "quickstart.toml"], &env).expect(0);
    assert!(plan.stdout.contains("vpc.main must be replaced"), "{}", plan.stdout);
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(0);
    w.run(&["plan", "quickstart.toml", "--detailed-exitcode"], &env).expect(0);
    let vpcs = m.stack_vpcs("quickstart").await;
    assert_eq!(vpcs.len(), 1, "{vpcs:?}");

    // An unnamed parameter group changing family: replaced create-before-destroy
    // under the other default name, then back.
    let pg = |family: &str| {
        format!(
            "[stack]\nname = \"pgnames\"\nregion = \"us-east-1\"\n\n[db_parameter_group.main]\nfamily = \"{family}\"\n\
             description = \"tuned\"\nparameters = {{ log_min_duration_statement = \"500\" }}\n"
        )
    };
    w.write("pg.toml", &pg("postgres16"));
    w.run(&["apply", "pg.toml", "--auto-approve", "--skip-checks"], &env).expect(0);
    let rds = m.factory().rds(REGION).await;
    let names = || async {
        let out = rds.describe_db_parameter_groups().send().await.unwrap();
        let mut n: Vec<(String, String)> = out
            .db_parameter_groups()
            .iter()
            .filter(|g| g.db_parameter_group_name().is_some_and(|n| n.starts_with("pgnames")))
            .map(|g| {
                (g.db_parameter_group_name().unwrap().to_owned(), g.db_parameter_group_family().unwrap().to_owned())
            })
            .collect();
        n.sort();
        n
    };
    let first = names().await;
    assert_eq!(first.len(), 1);
    w.write("pg.toml", &pg("postgres15"));
    let plan = w.run(&["plan", "pg.toml"], &env).expect(0);
    assert!(plan.stdout.contains("create_before_destroy") || plan.stdout.contains("replaced"), "{}", plan.stdout);
    w.run(&["apply", "pg.toml", "--auto-approve", "--skip-checks"], &env).expect(0);
    let second = names().await;
    assert_eq!(second.len(), 1, "the old group was deleted: {second:?}");
    assert_ne!(second[0].0, first[0].0, "the replacement took the other default name");
    assert_eq!(second[0].1, "postgres15");
    w.run(&["plan", "pg.toml", "--detailed-exitcode"], &env).expect(0);
    w.write("pg.toml", &pg("postgres16"));
    w.run(&["apply", "pg.toml", "--auto-approve", "--skip-checks"], &env).expect(0);
    assert_eq!(names().await, first, "and back to the first name");
}

/// Item 14: a saved plan is recognised by its content, whatever its name.
#[test]
fn a_saved_plan_is_recognised_by_its_content() {
    let w = Workdir::new();
    w.write("quickstart.toml", &quickstart_text());
    let no_aws = [("AWS_ENDPOINT_URL".to_owned(), "http://127.0.0.1:9".to_owned())];
    w.run(&["plan", "quickstart.toml", "--refresh=false", "-o", "looks-like-a.toml"], &no_aws).expect(0);
    let run = w.run(&["apply", "looks-like-a.toml", "--region", "us-west-2"], &no_aws).expect(1);
    assert!(run.stderr.contains("--region cannot be used with a saved plan"), "read as a plan: {}", run.stderr);
}

/// A saved plan carries the configuration it was made from (issue 17: the
/// saved-plan path reads no stack file): it applies from another directory
/// after the stack file is gone, with the values of that plan (not of an
/// edited stack), its write-only value built from a sensitive variable given
/// again and found nowhere in the file.
#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_applies_its_own_configuration_from_anywhere() {
    let m = moto();
    let env = m.env();
    let secret = "Sup3r-s3cret-value-77";
    let stack = "[stack]\nname = \"snap\"\nregion = \"us-east-1\"\n\n[vars]\nenv = \"dev\"\npw = { sensitive = true }\n\n\
                 [secret.app]\nname = \"snap-app\"\nvalue = \"${var.pw}\"\nrecovery_window_in_days = 0\n\n\
                 [vpc.main]\ncidr_block = \"10.0.0.0/16\"\ntags = { Environment = \"${var.env}\" }\n";
    let planner = Workdir::new();
    planner.write("snap.toml", stack);
    let mut with_secret = env.clone();
    with_secret.push(("PGSTACK_VAR_pw".into(), secret.into()));
    // Saved past its checks (a secret without rotation fails one): the plan records it.
    planner.run(&["plan", "snap.toml", "--var", "env=prod", "-o", "p.plan", "--skip-checks"], &with_secret).expect(0);
    let plan_path = planner.path().join("p.plan");
    let text = std::fs::read_to_string(&plan_path).unwrap();
    assert!(!text.contains(secret), "the sensitive value is not in the file");
    assert!(text.contains("\"pw\""), "the variable is named: {text}");

    // The stack file changes, then goes: apply reads neither.
    planner.write("snap.toml", &stack.replace("10.0.0.0/16", "10.9.0.0/16"));
    std::fs::remove_file(planner.path().join("snap.toml")).unwrap();
    let elsewhere = Workdir::new();
    let plan_arg = plan_path.display().to_string();
    let missing = elsewhere.run(&["apply", &plan_arg, "--skip-checks"], &env).expect(1);
    assert!(missing.stderr.contains("sensitive variable `pw` is not given"), "{}", missing.stderr);
    assert!(m.stack_vpcs("snap").await.is_empty(), "nothing was created");
    // The configuration in the file is intent: edited (and resealed), it plans
    // something else than the file shows, and nothing is applied.
    let edited = planner.path().join("edited.plan");
    std::fs::copy(&plan_path, &edited).unwrap();
    reseal(&edited, |body| {
        let attrs = &mut body["config"]["resources"]["vpc.main"]["attrs"];
        assert_eq!(attrs["cidr_block"], serde_json::json!({ "Lit": "10.0.0.0/16" }), "{attrs}");
        attrs["cidr_block"] = serde_json::json!({ "Lit": "10.7.0.0/16" });
    });
    let refused = elsewhere.run(&["apply", &edited.display().to_string(), "--skip-checks"], &with_secret).expect(1);
    assert!(refused.stderr.contains("not what planning gives now"), "{}", refused.stderr);
    assert!(refused.stderr.contains("vpc.main: the values of"), "{}", refused.stderr);
    assert!(m.stack_vpcs("snap").await.is_empty(), "nothing was created");

    // The checks run on the plan's configuration; the plan was saved past them, so apply goes on, saying so.
    let applied = elsewhere.run(&["apply", &plan_arg], &with_secret).expect(0);
    assert!(applied.stderr.contains("applying although 1 check rule"), "{}", applied.stderr);

    let vpcs = m.stack_vpcs("snap").await;
    assert_eq!(vpcs.len(), 1, "{vpcs:?}");
    assert_eq!(vpcs.values().next().unwrap()["Environment"], "prod", "the plan's variable, not the file's default");
    let ec2 = m.factory().ec2(REGION).await;
    let described = ec2.describe_vpcs().vpc_ids(vpcs.keys().next().unwrap()).send().await.unwrap();
    assert_eq!(described.vpcs()[0].cidr_block(), Some("10.0.0.0/16"), "the planned block, not the edited one");
    let sm = m.factory().secretsmanager(REGION).await;
    let value = sm.get_secret_value().secret_id("snap-app").send().await.unwrap();
    assert_eq!(value.secret_string(), Some(secret), "the write-only value came from the variable given again");
    let state = std::fs::read_to_string(planner.path().join("state/snap.json")).unwrap();
    assert!(!state.contains(secret), "{state}");
}
