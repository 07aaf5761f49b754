//! Safety at the edges (issue 6): wrong state files, edited or misplaced saved
//! plans, unwritable state, signals, and refresh results that must be kept.
//! Each test shows with the SDK that a refusal changed nothing in AWS.

use std::time::Duration;

use aws_sdk_ec2::types::Filter;

use crate::support::cli::{Run, Workdir, reseal};
use crate::support::faults::{Fault, FaultProxy};
use crate::support::moto::{MotoGuard, REGION, moto};

const KEY_DESCRIPTION: &str = "quickstart: database storage, secrets and backups";

fn quickstart(w: &Workdir) {
    w.copy("examples/quickstart.toml", "quickstart.toml");
}

fn state_json(w: &Workdir, path: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(w.path().join(path)).expect("state file")).expect("state json")
}

fn key_arn(w: &Workdir, state: &str) -> String {
    state_json(w, state)["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "kms_key.db")
        .and_then(|r| r["id"].as_str())
        .expect("kms_key.db in state")
        .to_owned()
}

/// Moto, its environment, a workdir with the quickstart applied, and its key's ARN.
fn applied_quickstart() -> (MotoGuard, Vec<(String, String)>, Workdir, String) {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    quickstart(&w);
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(0);
    let arn = key_arn(&w, "state/quickstart.json");
    (m, env, w, arn)
}

async fn key_description(m: &MotoGuard, arn: &str) -> String {
    let kms = m.factory().kms(REGION).await;
    let key = kms.describe_key().key_id(arn).send().await.unwrap();
    key.key_metadata().and_then(|k| k.description()).unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_of_another_stack_is_refused_and_its_objects_survive() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.write(
        "billing.toml",
        "[stack]\nname = \"billing\"\nregion = \"us-east-1\"\n\n[vpc.main]\ncidr_block = \"10.1.0.0/16\"\n",
    );
    w.write(
        "shop.toml",
        "[stack]\nname = \"shop\"\nregion = \"us-east-1\"\n\n[vpc.main]\ncidr_block = \"10.2.0.0/16\"\n",
    );
    w.run(&["apply", "billing.toml", "--auto-approve"], &env).expect(0);
    let billing = m.stack_vpcs("billing").await.into_keys().collect::<Vec<_>>();
    assert_eq!(billing.len(), 1);

    for cmd in ["plan", "apply", "destroy"] {
        let mut args = vec![cmd, "shop.toml", "--state", "state/billing.json"];
        if cmd != "plan" {
            args.push("--auto-approve");
        }
        let run = w.run(&args, &env).expect(1);
        assert!(
            run.stderr.contains("belongs to stack `billing`, not `shop`") && run.stderr.contains("state/billing.json"),
            "{cmd}: {}",
            run.stderr
        );
    }
    assert_eq!(m.stack_vpcs("billing").await.into_keys().collect::<Vec<_>>(), billing, "billing's VPC is untouched");
    assert!(m.stack_vpcs("shop").await.into_keys().collect::<Vec<_>>().is_empty());
    assert_eq!(state_json(&w, "state/billing.json")["stack"], "billing");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_saved_plan_cannot_delete_a_guarded_object() {
    let (m, env, w, arn) = applied_quickstart();
    w.run(&["plan", "quickstart.toml", "--var", "key_description=edited", "-o", "change.plan"], &env).expect(0);
    let plan_path = w.path().join("change.plan");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&plan_path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "saved plans are owner-only");

    // Edited by hand: update -> delete. The digest no longer matches.
    let text = std::fs::read_to_string(&plan_path).unwrap();
    assert!(text.contains("\"update\""));
    std::fs::write(w.path().join("hand.plan"), text.replacen("\"update\"", "\"delete\"", 1)).unwrap();
    let run = w.run(&["apply", "hand.plan"], &env).expect(1);
    assert!(run.stderr.contains("does not match its digest"), "{}", run.stderr);

    // Edited and sealed again, with the guard flag cleared: the plan made
    // again under the lock does not delete the key, so the file is refused.
    reseal(&plan_path, |body| {
        for c in body["plan"]["changes"].as_array_mut().unwrap() {
            if c["address"] == "kms_key.db" {
                c["action"] = "delete".into();
                c["guarded"] = false.into();
            }
        }
    });
    let run = w.run(&["apply", "change.plan"], &env).expect(1);
    assert!(run.stderr.contains("the saved plan is not what planning gives now"), "{}", run.stderr);
    assert!(run.stderr.contains("kms_key.db: the file plans a delete of"), "{}", run.stderr);

    // An unknown format version is refused.
    let mut file: serde_json::Value = serde_json::from_str(&text).unwrap();
    file["pgstack_saved_plan"] = 99.into();
    std::fs::write(w.path().join("future.plan"), file.to_string()).unwrap();
    let run = w.run(&["apply", "future.plan"], &env).expect(1);
    assert!(run.stderr.contains("format 99"), "{}", run.stderr);

    let kms = m.factory().kms(REGION).await;
    let key = kms.describe_key().key_id(&arn).send().await.unwrap();
    assert_eq!(key.key_metadata().and_then(|k| k.key_state()).map(|s| s.as_str()), Some("Enabled"));
    assert_eq!(key_description(&m, &arn).await, KEY_DESCRIPTION, "nothing was changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_applies_to_the_state_it_was_made_against() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    quickstart(&w);
    std::fs::create_dir_all(w.path().join("elsewhere")).unwrap();
    w.run(&["plan", "quickstart.toml", "--state", "elsewhere/qs.json", "-o", "p.plan"], &env).expect(0);

    let refused = w.run(&["apply", "p.plan", "--state", "state/other.json"], &env).expect(1);
    assert!(refused.stderr.contains("--state names state/other.json"), "{}", refused.stderr);
    let refused = w.run(&["apply", "p.plan", "--var", "env=prod"], &env).expect(1);
    assert!(refused.stderr.contains("--var cannot be used with a saved plan"), "{}", refused.stderr);
    assert!(m.stack_vpcs("quickstart").await.into_keys().collect::<Vec<_>>().is_empty(), "nothing was created");

    // Applied from another directory, it still writes the state it was made against.
    let sub = w.path().join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let out = w.command(&["apply", "../p.plan"], &env).current_dir(&sub).output().unwrap();
    Run::from(out).expect(0);
    assert_eq!(state_json(&w, "elsewhere/qs.json")["resources"].as_array().unwrap().len(), 7);
    assert!(!w.path().join("state/quickstart.json").exists());
    assert!(!sub.join("state").exists());
    w.run(&["plan", "quickstart.toml", "--state", "elsewhere/qs.json", "--detailed-exitcode"], &env).expect(0);

    // -o never overwrites the stack file or the state.
    let run =
        w.run(&["plan", "quickstart.toml", "--state", "elsewhere/qs.json", "-o", "quickstart.toml"], &env).expect(1);
    assert!(run.stderr.contains("refusing to write the plan to quickstart.toml"), "{}", run.stderr);
    assert!(std::fs::read_to_string(w.path().join("quickstart.toml")).unwrap().contains("[vpc.main]"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unwritable_state_is_found_before_aws_is_changed() {
    let (m, env, w, arn) = applied_quickstart();
    // The backup cannot be written (a directory stands where it goes).
    std::fs::remove_file(w.path().join("state/quickstart.json.backup")).ok();
    std::fs::create_dir(w.path().join("state/quickstart.json.backup")).unwrap();
    let run = w.run(&["apply", "quickstart.toml", "--var", "key_description=new", "--auto-approve"], &env).expect(1);
    assert!(run.stderr.contains("cannot write state to state/quickstart.json.backup"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was changed in AWS"), "{}", run.stderr);
    assert_eq!(key_description(&m, &arn).await, KEY_DESCRIPTION);

    // A state directory that cannot exist (a file is in the way).
    w.write("blocker", "");
    let run = w.run(&["apply", "quickstart.toml", "--state", "blocker/s.json", "--auto-approve"], &env).expect(1);
    assert!(run.stderr.contains("cannot write state"), "{}", run.stderr);
    assert_eq!(m.stack_vpcs("quickstart").await.into_keys().collect::<Vec<_>>().len(), 1, "no second VPC");
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_results_are_recorded() {
    let (m, env, w, arn) = applied_quickstart();
    let kms = m.factory().kms(REGION).await;

    // AWS changed out of band to exactly what the config now says.
    kms.update_key_description().key_id(&arn).description("from the console").send().await.unwrap();
    let var = ["--var", "key_description=from the console"];
    let apply = w.run(&[&["apply", "quickstart.toml", "--auto-approve"][..], &var].concat(), &env).expect(0);
    assert!(apply.stdout.contains("No changes"), "{}", apply.stdout);
    w.run(&[&["drift", "quickstart.toml"][..], &var].concat(), &env).expect(0);

    // `refresh` and `apply --refresh-only` record without changing AWS.
    kms.update_key_description().key_id(&arn).description("again").send().await.unwrap();
    w.run(&[&["drift", "quickstart.toml"][..], &var].concat(), &env).expect(2);
    let refresh = w.run(&["refresh", "quickstart.toml"], &env).expect(0);
    assert!(refresh.stdout.contains("Nothing was changed in AWS"), "{}", refresh.stdout);
    assert_eq!(key_description(&m, &arn).await, "again");
    let state = state_json(&w, "state/quickstart.json");
    let key = state["resources"].as_array().unwrap().iter().find(|r| r["address"] == "kms_key.db").unwrap().clone();
    assert_eq!(key["attributes"]["description"], "again");
    // Only the config differs now: drift reports the pending change, not drift in state.
    let drift = w.run(&[&["drift", "quickstart.toml", "--format", "json"][..], &var].concat(), &env).expect(2);
    let v: serde_json::Value = serde_json::from_str(&drift.stdout).unwrap();
    assert_eq!(v["drift"].as_array().unwrap().len(), 0, "{}", drift.stdout);

    kms.update_key_description().key_id(&arn).description("from the console").send().await.unwrap();
    let only = w.run(&["apply", "quickstart.toml", "--refresh-only", "--auto-approve"], &env).expect(0);
    assert!(only.stdout.contains("kms_key.db"), "the drift is shown: {}", only.stdout);
    w.run(&[&["drift", "quickstart.toml"][..], &var].concat(), &env).expect(0);
    let again = w.run(&["refresh", "quickstart.toml"], &env).expect(0);
    assert!(again.stdout.contains("No changes to record"), "{}", again.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_state_names_the_file_and_its_backup() {
    let w = Workdir::new();
    quickstart(&w);
    std::fs::create_dir_all(w.path().join("state")).unwrap();
    w.write("state/quickstart.json", "{\"version\": 1, \"serial\": ");
    let env = vec![("AWS_ENDPOINT_URL".to_owned(), "http://127.0.0.1:9".to_owned())];
    let run = w.run(&["plan", "quickstart.toml"], &env).expect(1);
    assert!(run.stderr.contains("state file state/quickstart.json is not valid"), "{}", run.stderr);
    assert!(!run.stderr.contains(".backup"), "no backup to restore, none suggested: {}", run.stderr);
    w.write("state/quickstart.json.backup", "{}");
    let run = w.run(&["plan", "quickstart.toml"], &env).expect(1);
    assert!(run.stderr.contains("cp 'state/quickstart.json.backup' 'state/quickstart.json'"), "{}", run.stderr);
    let run = w.run(&["plan", ""], &env).expect(1);
    assert!(run.stderr.contains("no stack given"), "{}", run.stderr);
}

fn through(m: &MotoGuard, proxy: &FaultProxy) -> Vec<(String, String)> {
    let mut env = m.env();
    env.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint()));
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_like_ctrl_c_and_a_second_signal_stops_at_once() {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    let w = Workdir::new();
    quickstart(&w);
    proxy.inject("CreateSubnet", Fault::Delay(Duration::from_millis(1500)), 2);
    let run = w.apply_interrupted(&through(&m, &proxy), &["TERM"]).expect(1);
    assert!(run.stderr.contains("Termination signal received"), "{}", run.stderr);
    assert!(run.stderr.contains("not started (interrupted)"), "{}", run.stderr);
    let state = std::fs::read_to_string(w.path().join("state/quickstart.json")).unwrap();
    assert!(!state.contains("create_pending"), "running creates finished and were recorded:\n{state}");
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &m.env()).expect(0);

    // Twice: it stops without waiting for the slow creates; a re-run converges.
    let w = Workdir::new();
    w.write(
        "quickstart.toml",
        &std::fs::read_to_string(crate::support::cli::repo_root().join("examples/quickstart.toml"))
            .unwrap()
            .replace("name   = \"quickstart\"", "name   = \"quickstart2\"")
            .replace("quickstart-", "quickstart2-"),
    );
    proxy.inject("CreateSubnet", Fault::Delay(Duration::from_millis(3000)), 2);
    let run = w.apply_interrupted(&through(&m, &proxy), &["TERM", "TERM"]);
    assert_eq!(run.code, Some(143), "{}", run.stderr);
    assert!(run.stderr.contains("Stopping now"), "{}", run.stderr);
    // The proxy still forwards the create that was cut short (after its 3 s
    // pause); let it land so the re-run finds it by its tags.
    std::thread::sleep(Duration::from_secs(5));
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &m.env()).expect(0);
    let ec2 = m.factory().ec2(REGION).await;
    let subnets = ec2
        .describe_subnets()
        .filters(Filter::builder().name("tag:pgstack:stack").values("quickstart2").build())
        .send()
        .await
        .unwrap();
    assert_eq!(subnets.subnets().len(), 2, "no subnet was created twice");
    w.run(&["plan", "quickstart.toml", "--detailed-exitcode"], &m.env()).expect(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn region_flag_is_the_default_for_new_objects_only() {
    let (m, env, w, arn) = applied_quickstart();
    // Objects in state are read and changed where they are.
    let plan = w.run(&["plan", "quickstart.toml", "--region", "eu-west-1", "--detailed-exitcode"], &env).expect(0);
    assert!(plan.stdout.contains("No changes"), "{}", plan.stdout);
    let var = "key_description=changed with --region";
    w.run(&["apply", "quickstart.toml", "--region", "eu-west-1", "--var", var, "--auto-approve"], &env).expect(0);
    assert_eq!(key_description(&m, &arn).await, "changed with --region");
    let eu = m.factory().ec2("eu-west-1").await;
    assert!(eu.describe_vpcs().send().await.unwrap().vpcs().iter().all(|v| v.is_default() == Some(true)));
    // Unknown region names are refused, from the flag as from the file.
    let bad = w.run(&["plan", "quickstart.toml", "--region", "eu-wset-1"], &env).expect(1);
    assert!(bad.stderr.contains("eu-wset-1") && bad.stderr.contains("eu-west-1"), "{}", bad.stderr);
    // A resource that names another region than its object's is refused before any change.
    let text = std::fs::read_to_string(w.path().join("quickstart.toml")).unwrap();
    w.write("quickstart.toml", &text.replace("[vpc.main]\n", "[vpc.main]\nregion = \"us-west-2\"\n"));
    let moved = w.run(&["apply", "quickstart.toml", "--var", var, "--auto-approve"], &env).expect(1);
    assert!(moved.stderr.contains("`vpc.main` exists in us-east-1"), "{}", moved.stderr);
    assert_eq!(m.stack_vpcs("quickstart").await.into_keys().collect::<Vec<_>>().len(), 1);
}

const SENSITIVE_STACK: &str = "[stack]\nname = \"sec\"\nregion = \"us-east-1\"\n\n[vars]\nenv = \"dev\"\ntoken = { sensitive = true, description = \"API token\" }\n\n[output.token]\nvalue = \"${var.token}\"\nsensitive = true\n";

#[test]
fn sensitive_variables_stay_out_of_plans_state_and_output() {
    let w = Workdir::new();
    w.write("sec.toml", SENSITIVE_STACK);
    let no_aws = vec![("AWS_ENDPOINT_URL".to_owned(), "http://127.0.0.1:9".to_owned())];
    let missing = w.run(&["validate", "sec.toml"], &no_aws).expect(1);
    assert!(missing.stderr.contains("variable `token` has no value"), "{}", missing.stderr);

    let secret = "s3cr3t-value-42";
    let mut with_secret = no_aws.clone();
    with_secret.push(("PGSTACK_VAR_token".into(), secret.into()));
    let plan = w.run(&["plan", "sec.toml", "-o", "p.plan", "--var", "env=prod"], &with_secret).expect(0);
    let json = w.run(&["plan", "sec.toml", "--json"], &with_secret).expect(0);
    let saved = std::fs::read_to_string(w.path().join("p.plan")).unwrap();
    for text in [&plan.stdout, &plan.stderr, &json.stdout, &saved] {
        assert!(!text.contains(secret), "the value leaked: {text}");
    }
    assert!(saved.contains("\"token\"") && saved.contains("sha256"), "a salted hash is kept: {saved}");

    // Applying asks for the value again and checks it.
    let without = w.run(&["apply", "p.plan"], &no_aws).expect(1);
    assert!(without.stderr.contains("sensitive variable `token` is not given"), "{}", without.stderr);
    let mut wrong = no_aws.clone();
    wrong.push(("PGSTACK_VAR_token".into(), "another".into()));
    let refused = w.run(&["apply", "p.plan"], &wrong).expect(1);
    assert!(refused.stderr.contains("does not have the value the plan was made with"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("another"), "{}", refused.stderr);
    w.run(&["apply", "p.plan", "--var", &format!("token={secret}")], &no_aws).expect(0);
    let state = std::fs::read_to_string(w.path().join("state/sec.json")).unwrap_or_default();
    assert!(!state.contains(secret), "{state}");

    // Anywhere else it would be stored or shown: refused at validate.
    w.write(
        "sec.toml",
        &format!(
            "{SENSITIVE_STACK}\n[vpc.main]\ncidr_block = \"10.0.0.0/16\"\ntags = {{ Token = \"${{var.token}}\" }}\n"
        ),
    );
    let leak = w.run(&["validate", "sec.toml"], &with_secret).expect(1);
    assert!(leak.stderr.contains("`var.token` is sensitive and cannot be used here"), "{}", leak.stderr);
    assert!(leak.stderr.contains("sec.toml:15:21"), "points at the use: {}", leak.stderr);
}

#[test]
fn broken_stacks_leave_no_files_behind() {
    let w = Workdir::new();
    w.write("b.toml", "[stack]\nname = \"b\"\nregion = \"us-east-1\"\n\n[vpc.a]\ncidr_block = 1\n");
    let no_aws = vec![("AWS_ENDPOINT_URL".to_owned(), "http://127.0.0.1:9".to_owned())];
    for cmd in ["validate", "graph", "plan", "apply", "drift"] {
        w.run(&[cmd, "b.toml"], &no_aws).expect(1);
    }
    let names: Vec<_> = std::fs::read_dir(w.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("b.toml")], "no state, lock or backup file");
}

/// The new refusals as users read them (no AWS needed for any of them).
#[test]
fn refusal_messages() {
    let w = Workdir::new();
    quickstart(&w);
    let no_aws = vec![("AWS_ENDPOINT_URL".to_owned(), "http://127.0.0.1:9".to_owned())];
    std::fs::create_dir_all(w.path().join("state")).unwrap();

    let mut other = pgstack::state::StateFile::new("billing");
    other.serial = 3;
    w.write("state/billing.json", &other.to_json().unwrap());
    let wrong = w.run(&["plan", "quickstart.toml", "--state", "state/billing.json"], &no_aws).expect(1);
    insta::assert_snapshot!("wrong_stack", wrong.stderr);

    w.write("state/quickstart.json", "{\"version\": 1, \"serial\": ");
    let corrupt = w.run(&["plan", "quickstart.toml"], &no_aws).expect(1);
    insta::assert_snapshot!("corrupt_state", corrupt.stderr);
    std::fs::remove_file(w.path().join("state/quickstart.json")).unwrap();

    w.run(&["plan", "quickstart.toml", "--refresh=false", "-o", "p.plan"], &no_aws).expect(0);
    let text = std::fs::read_to_string(w.path().join("p.plan")).unwrap();
    w.write("edited.plan", &text.replacen("\"create\"", "\"delete\"", 1));
    let edited = w.run(&["apply", "edited.plan"], &no_aws).expect(1);
    insta::assert_snapshot!("edited_plan", edited.stderr);
    let flags = w.run(&["apply", "p.plan", "--region", "us-west-2", "--target", "vpc.main"], &no_aws).expect(1);
    insta::assert_snapshot!("saved_plan_flags", flags.stderr);

    // --refresh-only records everything: a target or an allow-list would be ignored, so they are refused.
    let mixed = w.run(&["apply", "quickstart.toml", "--refresh-only", "--target", "vpc.main"], &no_aws).expect(1);
    assert!(mixed.stderr.contains("'--refresh-only' cannot be used with '--target"), "{}", mixed.stderr);
    // A stack without state and nothing in AWS has nothing to record, and no state file appears.
    std::fs::remove_dir_all(w.path().join("state")).unwrap();
    let nothing = w.run(&["refresh", "quickstart.toml"], &no_aws).expect(0);
    assert!(nothing.stdout.contains("No changes to record"), "{}", nothing.stdout);
    assert!(!w.path().join("state/quickstart.json").exists());
}
