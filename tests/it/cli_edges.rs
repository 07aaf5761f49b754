//! The edges of the command line: exit codes of usage errors, `--target`
//! that names nothing, `import` of objects already managed, escaping of
//! input in output, and the warning after a stack rename.

use std::collections::BTreeMap;

use crate::support::cli::Workdir;
use crate::support::moto::{MotoGuard, REGION, moto};

/// An endpoint nothing listens on: a run that reaches AWS fails with it.
fn no_aws() -> Vec<(String, String)> {
    vec![("AWS_ENDPOINT_URL".to_owned(), "http://127.0.0.1:9".to_owned())]
}

fn quickstart() -> Workdir {
    let w = Workdir::new();
    w.copy("examples/quickstart.toml", "quickstart.toml");
    w
}

#[test]
fn usage_errors_exit_1_never_2() {
    let w = quickstart();
    let cases: [&[&str]; 5] = [
        &["plan", "quickstart.toml", "--bogus"],
        &["drift", "quickstart.toml", "--format", "yaml"],
        &["state", "show", "quickstart.toml", "vpc..main"],
        &["plan", "quickstart.toml", "--target", "vpc"],
        &["import", "quickstart.toml"],
    ];
    for args in cases {
        let run = w.run(args, &no_aws()).expect(1);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert!(run.stderr.starts_with("error:"), "{args:?}: clap's text is kept: {}", run.stderr);
    }
    let bare = w.run(&[], &no_aws()).expect(1);
    assert!(bare.stderr.contains("Usage: pgstack"), "no command shows the usage: {}", bare.stderr);
}

#[test]
fn usage_error_text_is_clap_s() {
    let w = quickstart();
    let run = w.run(&["state", "show", "quickstart.toml", "vpc..main"], &no_aws()).expect(1);
    insta::assert_snapshot!(run.stderr);
}

#[test]
fn help_and_version_exit_0_on_stdout() {
    let w = Workdir::new();
    for args in [&["--help"][..], &["plan", "--help"], &["help"]] {
        let run = w.run(args, &[]).expect(0);
        assert!(run.stdout.contains("Usage: pgstack"), "{args:?}: {}", run.stdout);
        assert!(run.stderr.is_empty(), "{args:?}: {}", run.stderr);
    }
    let run = w.run(&["--version"], &[]).expect(0);
    assert_eq!(run.stdout.trim(), format!("pgstack {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_target_naming_nothing_is_refused_before_any_aws_call() {
    let w = quickstart();
    // The endpoint is unreachable: an exit 1 naming the target, not a
    // connection error, shows the check ran before refresh.
    write_state(&w, "quickstart", &state_json("quickstart", &[("vpc.main", "vpc", "vpc-1")]));
    for args in [
        &["plan", "quickstart.toml", "--target", "vpc.mian"][..],
        &["apply", "quickstart.toml", "--auto-approve", "--target", "vpc.mian"],
        &["destroy", "quickstart.toml", "--auto-approve", "--target", "vpc.mian"],
    ] {
        let run = w.run(args, &no_aws()).expect(1);
        assert!(run.stdout.is_empty(), "{args:?}: no plan is shown: {}", run.stdout);
        insta::assert_snapshot!(run.stderr);
    }
    let run =
        w.run(&["plan", "quickstart.toml", "--target", "security_group.ap", "--target", "zz.zz"], &no_aws()).expect(1);
    insta::assert_snapshot!(run.stderr);
    let state = std::fs::read_to_string(w.path().join("state/quickstart.json")).unwrap();
    assert_eq!(state, state_json("quickstart", &[("vpc.main", "vpc", "vpc-1")]), "state is untouched");
}

#[test]
fn a_target_in_state_only_or_naming_a_block_is_accepted() {
    let w = quickstart();
    write_state(&w, "quickstart", &state_json("quickstart", &[("vpc.gone", "vpc", "vpc-1")]));
    // With --refresh=false nothing reaches AWS: the plan deletes the orphan only.
    let run = w.run(&["plan", "quickstart.toml", "--refresh=false", "--target", "vpc.gone"], &no_aws()).expect(0);
    assert!(run.stdout.contains("vpc.gone will be destroyed") && run.stdout.contains("0 to add"), "{}", run.stdout);
    let run = w.run(&["plan", "quickstart.toml", "--refresh=false", "--target", "subnet.db"], &no_aws()).expect(0);
    assert!(run.stdout.contains("3 to add"), "subnet.db targets both instances and the VPC: {}", run.stdout);
}

/// A state file of `stack` holding `(address, type, id)` entries.
fn state_json(stack: &str, resources: &[(&str, &str, &str)]) -> String {
    let resources: Vec<serde_json::Value> = resources
        .iter()
        .map(|(addr, rtype, id)| {
            serde_json::json!({
                "address": addr, "type": rtype, "region": "us-east-1", "status": "ready", "id": id,
                "attributes": {}, "dependencies": []
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "version": 1, "serial": 1, "lineage": "l-1", "stack": stack, "resources": resources, "outputs": {}
    }))
    .unwrap()
}

/// Writes `state/NAME.json` in the workdir.
fn write_state(w: &Workdir, name: &str, text: &str) {
    std::fs::create_dir_all(w.path().join("state")).unwrap();
    std::fs::write(w.path().join(format!("state/{name}.json")), text).unwrap();
}

/// A stack `name` of one or more VPCs `(name, cidr)`.
fn vpc_stack(w: &Workdir, name: &str, vpcs: &[(&str, &str)]) {
    let mut text = format!("[stack]\nname = \"{name}\"\nregion = \"us-east-1\"\n");
    for (vpc, cidr) in vpcs {
        text.push_str(&format!("\n[vpc.{vpc}]\ncidr_block = \"{cidr}\"\n"));
    }
    w.write(&format!("{name}.toml"), &text);
}

/// The recorded id at `addr` in `state/NAME.json`, if any.
fn state_id(w: &Workdir, name: &str, addr: &str) -> Option<String> {
    let text = std::fs::read_to_string(w.path().join(format!("state/{name}.json"))).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["resources"].as_array()?.iter().find(|r| r["address"] == addr).map(|r| r["id"].as_str().unwrap().to_owned())
}

/// Every VPC's tags, by id.
async fn vpc_tags(m: &MotoGuard) -> BTreeMap<String, BTreeMap<String, String>> {
    let ec2 = m.factory().ec2(REGION).await;
    let out = ec2.describe_vpcs().send().await.expect("describe vpcs");
    out.vpcs()
        .iter()
        .map(|v| {
            let tags = v.tags().iter().map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned())).collect();
            (v.vpc_id().unwrap().to_owned(), tags)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn import_refuses_an_object_another_stack_manages() {
    let m = moto();
    let env = m.env();
    // Two projects, each with its own state directory.
    let (wa, wb) = (Workdir::new(), Workdir::new());
    vpc_stack(&wa, "a", &[("main", "10.9.0.0/16")]);
    vpc_stack(&wb, "b", &[("main", "10.9.0.0/16")]);
    wa.run(&["apply", "a.toml", "--auto-approve"], &env).expect(0);
    let id = state_id(&wa, "a", "vpc.main").expect("a manages vpc.main");
    let before = vpc_tags(&m).await;
    assert_eq!(before[&id]["pgstack:stack"], "a");

    let run = wb.run(&["import", "b.toml", "vpc.main", &id], &env).expect(1);
    insta::assert_snapshot!(run.stderr.replace(&id, "VPC_ID"));
    assert_eq!(vpc_tags(&m).await, before, "nothing changed in AWS");
    assert_eq!(state_id(&wb, "b", "vpc.main"), None, "b's state has no entry");
    let plan = wb.run(&["plan", "b.toml", "--detailed-exitcode"], &env).expect(2);
    assert!(plan.stdout.contains("vpc.main will be created"), "b still plans its own VPC: {}", plan.stdout);
    assert_eq!(vpc_tags(&m).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn import_refuses_an_object_this_stack_manages_at_another_address() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    vpc_stack(&w, "a", &[("main", "10.9.0.0/16"), ("copy", "10.9.0.0/16")]);
    w.run(&["apply", "a.toml", "--auto-approve", "--target", "vpc.main"], &env).expect(0);
    let id = state_id(&w, "a", "vpc.main").expect("a manages vpc.main");
    let before = vpc_tags(&m).await;
    assert_eq!(before.len(), 2, "moto's default VPC and vpc.main: {before:?}");

    // In state at vpc.main: found without asking AWS.
    let run = w.run(&["import", "a.toml", "vpc.copy", &id], &env).expect(1);
    insta::assert_snapshot!(run.stderr.replace(&id, "VPC_ID"));
    assert_eq!(state_id(&w, "a", "vpc.copy"), None);

    // Out of state, its tags still say vpc.main.
    w.run(&["state", "rm", "a.toml", "vpc.main"], &env).expect(0);
    let run = w.run(&["import", "a.toml", "vpc.copy", &id], &env).expect(1);
    insta::assert_snapshot!(run.stderr.replace(&id, "VPC_ID"));
    assert_eq!(state_id(&w, "a", "vpc.copy"), None);
    assert_eq!(vpc_tags(&m).await, before, "nothing changed in AWS");

    // Its own address: a re-import after `state rm` is fine.
    w.run(&["import", "a.toml", "vpc.main", &id], &env).expect(0);
    assert_eq!(state_id(&w, "a", "vpc.main"), Some(id));
}

/// No control character but the line break: nothing a terminal acts on.
fn assert_no_controls(what: &str, text: &str) {
    let bad: Vec<char> = text.chars().filter(|c| c.is_control() && *c != '\n').collect();
    assert!(bad.is_empty(), "{what}: {bad:?} in\n{text}");
}

#[test]
fn input_cannot_inject_terminal_escapes() {
    let w = Workdir::new();
    w.write(
        "evil.toml",
        "[stack]\nname = \"evil\"\nregion = \"us-east-1\"\n\n[vpc.main]\ncidr_block = \"10.9.0.0/16\"\n\
         tags = { Evil = \"\\u001b[31mred\\u0007\", Pipe = \"a|b`c\" }\n",
    );
    // AWS refuses control characters in tags: so does validate, and its message is escaped too.
    let run = w.run(&["plan", "evil.toml", "--refresh=false"], &no_aws()).expect(1);
    assert_no_controls("diagnostics", &run.stderr);
    assert!(run.stderr.contains(r#""\u{1b}[31mred\u{7}""#), "{}", run.stderr);
    // Where AWS takes them (a key's description), the plan prints them escaped.
    w.write(
        "evil.toml",
        "[stack]\nname = \"evil\"\nregion = \"us-east-1\"\n\n[kms_key.k]\n\
         description = \"\\u001b[31mred\\u0007 a|b`c\"\n",
    );
    let run = w.run(&["plan", "evil.toml", "--refresh=false"], &no_aws()).expect(0);
    assert_no_controls("plan", &run.stdout);
    assert!(run.stdout.contains(r#""\u{1b}[31mred\u{7} a|b`c""#), "{}", run.stdout);

    // A raw ESC in a broken line of the stack: the snippet is escaped, the caret still under the error.
    w.write("broken.toml", "[stack]\nname = \"x\"\nregion = \"us-east-1\"\n\n[vpc.main]\ncidr_block = \x1b[2J 10\n");
    let run = w.run(&["validate", "broken.toml"], &no_aws()).expect(1);
    assert_no_controls("diagnostics", &run.stderr);
    insta::assert_snapshot!(run.stderr);

    // A path in an error message.
    let run = w.run(&["validate", "no\x1b]0;title\x07such.toml"], &no_aws()).expect(1);
    assert_no_controls("error", &run.stderr);
    assert!(run.stderr.contains(r"no\u{1b}]0;title\u{7}such.toml"), "{}", run.stderr);
}

#[test]
fn a_renamed_stack_warns_that_it_starts_from_empty_state() {
    let w = quickstart();
    let old = state_json("quickstart-old", &[("vpc.main", "vpc", "vpc-1"), ("subnet.db[\"a\"]", "subnet", "subnet-1")]);
    write_state(&w, "quickstart-old", &old);
    let run = w.run(&["plan", "quickstart.toml", "--refresh=false"], &no_aws()).expect(0);
    insta::assert_snapshot!(run.stderr);
    assert!(run.stdout.contains("7 to add"), "the plan goes on from empty state: {}", run.stdout);

    // An explicit --state is no rename.
    let run = w.run(&["plan", "quickstart.toml", "--refresh=false", "--state", "elsewhere.json"], &no_aws()).expect(0);
    assert_eq!(run.stderr, "Checks (standard): 3 passed, 0 failed, 0 warnings, 0 waived\n", "only the checks' line");

    // Moving the state over on purpose: the plan starts from the old objects.
    let moved = w.run(&["state", "rename-stack", "quickstart.toml", "state/quickstart-old.json"], &no_aws()).expect(0);
    assert!(moved.stdout.contains("State of `quickstart-old` is now the state of `quickstart`"), "{}", moved.stdout);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path().join("state/quickstart.json")).unwrap()).unwrap();
    assert_eq!(state["stack"], "quickstart");
    assert!(w.path().join("state/quickstart-old.json.moved").exists());
    let run = w.run(&["plan", "quickstart.toml", "--refresh=false"], &no_aws()).expect(0);
    assert_eq!(
        run.stderr, "Checks (standard): 3 passed, 0 failed, 0 warnings, 0 waived\n",
        "no warning once the stack has its own state"
    );
    // The hand-made state records no CIDRs, so the known objects show as replaced: they are managed now.
    assert!(run.stdout.contains("vpc.main must be replaced") && run.stdout.contains("2 to destroy"), "{}", run.stdout);
    // A second move would replace state: refused.
    write_state(&w, "quickstart-old", &old);
    let again = w.run(&["state", "rename-stack", "quickstart.toml", "state/quickstart-old.json"], &no_aws()).expect(1);
    assert!(again.stderr.contains("already has state"), "{}", again.stderr);
}

/// `version` names the build and the formats of the files it reads and
/// writes, as text and as JSON; no stack, no AWS.
#[test]
fn version_names_the_build_and_its_file_formats() {
    let w = Workdir::new();
    let text = w.run(&["version"], &[]).expect(0);
    insta::assert_snapshot!(text.stdout);
    let json: serde_json::Value = serde_json::from_str(&w.run(&["version", "--json"], &[]).expect(0).stdout).unwrap();
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["saved_plan_format"], pgstack::plan::saved::SAVED_PLAN_VERSION);
    assert_eq!(json["state_format"], pgstack::state::STATE_VERSION);
}

/// `completions SHELL` prints a script that knows every command; bash's
/// parses it; an unknown shell is a usage error (exit 1).
#[test]
fn completions_for_each_shell_know_the_commands() {
    let w = Workdir::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = w.run(&["completions", shell], &[]).expect(0).stdout;
        for command in ["plan", "apply", "drift", "import", "completions"] {
            assert!(script.contains(command), "{shell}: {command}");
        }
    }
    let bash = w.run(&["completions", "bash"], &[]).expect(0).stdout;
    w.write("pgstack.bash", &bash);
    let checked = std::process::Command::new("bash").arg("-n").arg(w.path().join("pgstack.bash")).status().unwrap();
    assert!(checked.success(), "bash -n rejects the script");
    let refused = w.run(&["completions", "tcsh"], &[]).expect(1);
    assert!(refused.stderr.contains("possible values: bash, elvish, fish, powershell, zsh"), "{}", refused.stderr);
}

/// Terraform's single-dash flags get a "did you mean" with pgstack's
/// spelling and exit 1 before anything is read; short flags still work.
#[test]
fn terraform_style_flags_are_answered_with_the_pgstack_spelling() {
    let w = Workdir::new();
    let run = w.run(&["plan", "stack.toml", "-target=vpc.main"], &[]).expect(1);
    insta::assert_snapshot!(run.stderr);
    let run = w.run(&["apply", "stack.toml", "-auto-approve"], &[]).expect(1);
    assert!(run.stderr.contains("did you mean `--auto-approve`?"), "{}", run.stderr);
    // `-o` is pgstack's own short flag: the missing stack file is the error.
    let run = w.run(&["plan", "stack.toml", "-o", "p.plan"], &[]).expect(1);
    assert!(run.stderr.contains("cannot read `stack.toml`"), "{}", run.stderr);
}
