//! `pgstack check` through the real binary: every rule against its failing
//! and passing fixture (tests/fixtures/check/), the text, JSON and SARIF
//! formats, waivers, the profiles of the shipped stacks, the summary line of
//! `plan`, and `apply` refusing before any AWS call unless `--skip-checks`.

use serde_json::Value as Json;

use crate::support::cli::{Run, Workdir, repo_root};

/// An endpoint nothing listens on (with credentials, so that a command that
/// reached for AWS would fail on the connection).
fn no_aws() -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_MAX_ATTEMPTS", "1"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec()
}

fn json(run: &Run) -> Json {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

/// `check FILE --format json` (run from the repository root, so that paths
/// are repository-relative), with its exit code checked against `passed`.
fn check_json(file: &str, extra: &[&str]) -> Json {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgstack"))
        .args([&["check", file, "--format", "json"][..], extra].concat())
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .envs(no_aws())
        .env("PGSTACK_VAR_rotation_lambda_arn", "arn:aws:lambda:us-east-1:123456789012:function:rotate")
        .output()
        .expect("run pgstack");
    let run = Run::from(out);
    let v = json(&run);
    let want = if v["passed"] == Json::Bool(true) { 0 } else { 2 };
    assert_eq!(run.code, Some(want), "{file}: exit code against `passed`\n{}", run.stderr);
    v
}

fn rule<'a>(report: &'a Json, id: &str) -> &'a Json {
    report["rules"].as_array().and_then(|r| r.iter().find(|r| r["id"] == id)).unwrap_or_else(|| panic!("no {id}"))
}

#[test]
fn every_rule_fails_and_passes_its_fixtures_through_the_binary() {
    for id in pgstack::check::RULES.iter().map(|r| r.id) {
        let fail = format!("tests/fixtures/check/{id}-fail.toml");
        let text = std::fs::read_to_string(repo_root().join(&fail)).expect("fixture");
        let at = text.lines().find_map(|l| l.strip_prefix("# fails at: ")).expect("`# fails at:`");
        let report = check_json(&fail, &[]);
        let r = rule(&report, id);
        assert_eq!(r["status"], "failed", "{fail}: {r:#}");
        if r["severity"] == "error" {
            assert_eq!(report["passed"], false, "{fail}");
        }
        let loc = &r["findings"][0]["location"];
        let file = loc["file"].as_str().expect("file");
        let line = loc["line"].as_u64().expect("line") as usize;
        let source = std::fs::read_to_string(repo_root().join(file)).expect("source");
        let shown = source.lines().nth(line - 1).unwrap_or_default();
        assert!(shown.contains(at), "{fail}: the finding is at {file}:{line} `{shown}`, not at `{at}`");

        let pass = format!("tests/fixtures/check/{id}-pass.toml");
        let report = check_json(&pass, &[]);
        assert_eq!(rule(&report, id)["status"], "passed", "{pass}: {:#}", rule(&report, id));
    }
}

#[test]
fn a_violation_in_a_module_input_is_shown_at_the_stack_line_then_the_module_line_and_the_call() {
    let w = Workdir::new();
    w.copy("tests/fixtures/check/module/stack.toml", "stack.toml");
    w.copy("tests/fixtures/check/module/network/module.toml", "network/module.toml");
    let run = w.run(&["check", "stack.toml"], &no_aws()).expect(2);
    // The list element the stack passed as the module's `clients` input.
    assert!(run.stdout.contains("error[PG-NET-002]: stack.toml:10:27:"), "{}", run.stdout);
    assert!(run.stdout.contains("used by the module at network/module.toml:15:71"), "{}", run.stdout);
    assert!(run.stdout.contains("in [module.network] at stack.toml:8:1"), "{}", run.stdout);
    insta::assert_snapshot!(run.stdout);

    let v = json(&w.run(&["check", "stack.toml", "--format", "json"], &no_aws()).expect(2));
    let f = &rule(&v, "PG-NET-002")["findings"][0];
    assert_eq!(f["address"], "module.network.security_group.db");
    assert_eq!(f["attribute"], "ingress[0].cidr_blocks[1]");
    assert_eq!(f["location"], serde_json::json!({ "file": "stack.toml", "line": 10, "column": 27 }));
    assert_eq!(f["used_at"], serde_json::json!({ "file": "network/module.toml", "line": 15, "column": 71 }));
    assert_eq!(f["module_calls"], serde_json::json!([{ "file": "stack.toml", "line": 8, "column": 1 }]));
}

#[test]
fn the_shipped_stacks_pass_their_profiles_without_waivers() {
    let prod = check_json("stacks/prod.toml", &[]);
    assert_eq!(
        (&prod["profile"], &prod["profile_source"], &prod["passed"]),
        (&"standard".into(), &"tag".into(), &true.into())
    );
    assert_eq!(prod["summary"]["failed"], 0);
    assert_eq!(prod["waivers"], serde_json::json!([]));
    let dev = check_json("dev", &[]);
    assert_eq!(
        (&dev["profile"], &dev["profile_source"], &dev["passed"]),
        (&"lite".into(), &"tag".into(), &true.into())
    );
    assert_eq!(dev["summary"]["failed"], 0);
    assert_eq!(dev["summary"]["warnings"], 0);
    assert_eq!(dev["waivers"], serde_json::json!([]));
    // The flag overrides: dev is not a production stack.
    let strict = check_json("dev", &["--rules", "standard"]);
    assert_eq!((&strict["profile_source"], &strict["passed"]), (&"flag".into(), &false.into()));
    assert_eq!(rule(&strict, "PG-BAK-001")["status"], "failed");
    // `--profile` is the AWS profile on every command: `check` refuses it and names `--rules`.
    let w = Workdir::new();
    w.copy("tests/fixtures/check/PG-AUD-001-pass.toml", "s.toml");
    let refused = w.run(&["check", "s.toml", "--profile", "lite"], &no_aws()).expect(1);
    insta::assert_snapshot!(refused.stderr);
}

#[test]
fn waivers_hold_until_their_day_and_are_listed() {
    let w = Workdir::new();
    w.copy("tests/fixtures/check/waiver-active.toml", "active.toml");
    w.copy("tests/fixtures/check/waiver-expired.toml", "expired.toml");
    let active = w.run(&["check", "active.toml"], &no_aws()).expect(0);
    assert!(
        active.stdout.contains(
            "PG-ENC-004 active until 2999-12-31 (1 finding): imported key material cannot rotate [active.toml:8:1]"
        ),
        "{}",
        active.stdout
    );
    assert!(active.stdout.contains("Checks (standard): 0 passed, 0 failed, 0 warnings, 1 waived"), "{}", active.stdout);
    assert!(!active.stdout.contains("error["), "{}", active.stdout);

    let expired = w.run(&["check", "expired.toml"], &no_aws()).expect(2);
    assert!(expired.stdout.contains("error[PG-ENC-004]: expired.toml:12:23:"), "{}", expired.stdout);
    assert!(
        expired.stdout.contains("error[PG-ENC-004]: expired.toml:8:1: the waiver of PG-ENC-004 expired on 2000-01-01"),
        "{}",
        expired.stdout
    );
    assert!(expired.stdout.contains("PG-ENC-004 EXPIRED on 2000-01-01"), "{}", expired.stdout);
    let v = json(&w.run(&["check", "expired.toml", "--format", "json"], &no_aws()).expect(2));
    assert_eq!(v["waivers"][0]["state"], "expired");
    assert_eq!(rule(&v, "PG-ENC-004")["status"], "failed");

    w.write("typo.toml", "[stack]\nname = \"t\"\nregion = \"us-east-1\"\n\n[check.waive]\n\"PG-ENC-04\" = { reason = \"x\", until = \"2030-01-01\" }\n");
    let typo = w.run(&["check", "typo.toml"], &no_aws()).expect(1);
    assert!(typo.stderr.contains("`PG-ENC-04` in [check.waive] is not a check rule"), "{}", typo.stderr);
    assert!(typo.stderr.contains("did you mean `PG-ENC-004`?"), "{}", typo.stderr);
    w.write("bad.toml", "[stack]\nname = \"t\"\nregion = \"us-east-1\"\n\n[check.waive]\n\"PG-ENC-004\" = { reason = \"x\", until = \"2030-02-30\" }\n");
    let bad = w.run(&["check", "bad.toml"], &no_aws()).expect(1);
    assert!(
        bad.stderr.contains("bad.toml:6:40: `until` of the waiver of `PG-ENC-004` is not a date"),
        "{}",
        bad.stderr
    );
}

/// The fields SARIF 2.1.0 requires (and those code scanning reads) with the
/// types and values the specification allows.
fn assert_valid_sarif(v: &Json) {
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().is_some_and(|s| s.contains("sarif-2.1.0")), "{}", v["$schema"]);
    let runs = v["runs"].as_array().expect("runs is an array");
    assert_eq!(runs.len(), 1);
    for run in runs {
        let driver = &run["tool"]["driver"];
        assert!(driver["name"].is_string(), "tool.driver.name is required");
        let rules = driver["rules"].as_array().expect("driver.rules");
        let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().expect("rule id is required")).collect();
        for r in rules {
            assert!(r["shortDescription"]["text"].is_string(), "{r}");
            assert!(
                ["none", "note", "warning", "error"]
                    .contains(&r["defaultConfiguration"]["level"].as_str().unwrap_or(""))
            );
        }
        for res in run["results"].as_array().expect("results") {
            assert!(
                res["message"]["text"].as_str().is_some_and(|t| !t.is_empty()),
                "result.message.text is required: {res}"
            );
            let id = res["ruleId"].as_str().expect("ruleId");
            let index = res["ruleIndex"].as_u64().expect("ruleIndex") as usize;
            assert_eq!(ids.get(index), Some(&id), "ruleIndex points at the rule");
            assert!(["none", "note", "warning", "error"].contains(&res["level"].as_str().unwrap_or("")), "{res}");
            let locations = res["locations"].as_array().expect("locations");
            assert!(!locations.is_empty());
            for loc in locations.iter().chain(res["relatedLocations"].as_array().into_iter().flatten()) {
                let p = &loc["physicalLocation"];
                let uri = p["artifactLocation"]["uri"].as_str().expect("artifactLocation.uri");
                assert!(
                    !uri.starts_with('/') && !uri.contains(' ') && !uri.contains('\\'),
                    "a relative URI reference: {uri}"
                );
                let region = &p["region"];
                let (sl, sc) = (
                    region["startLine"].as_u64().expect("startLine"),
                    region["startColumn"].as_u64().expect("startColumn"),
                );
                let (el, ec) =
                    (region["endLine"].as_u64().expect("endLine"), region["endColumn"].as_u64().expect("endColumn"));
                assert!(sl >= 1 && sc >= 1 && (el, ec) >= (sl, sc), "{region}");
            }
            for s in res["suppressions"].as_array().into_iter().flatten() {
                assert!(["inSource", "external"].contains(&s["kind"].as_str().unwrap_or("")), "{s}");
                assert!(s["justification"].is_string(), "{s}");
            }
        }
    }
}

#[test]
fn sarif_output_is_sarif_2_1_0_with_locations_and_suppressions() {
    let w = Workdir::new();
    w.copy("tests/fixtures/check/module/stack.toml", "stack.toml");
    w.copy("tests/fixtures/check/module/network/module.toml", "network/module.toml");
    w.copy("tests/fixtures/check/waiver-active.toml", "active.toml");
    let v = json(&w.run(&["check", "stack.toml", "--format", "sarif"], &no_aws()).expect(2));
    assert_valid_sarif(&v);
    let results = v["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{results:#?}");
    let r = &results[0];
    assert_eq!((&r["ruleId"], &r["level"]), (&"PG-NET-002".into(), &"error".into()));
    let at = &r["locations"][0]["physicalLocation"];
    assert_eq!(at["artifactLocation"]["uri"], "stack.toml");
    assert_eq!((&at["region"]["startLine"], &at["region"]["startColumn"]), (&10.into(), &27.into()));
    // Related: where the module uses the value, then the module call.
    let related = |i: usize| &r["relatedLocations"][i]["physicalLocation"];
    assert_eq!(related(0)["artifactLocation"]["uri"], "network/module.toml");
    assert_eq!((&related(0)["region"]["startLine"], &related(0)["region"]["startColumn"]), (&15.into(), &71.into()));
    assert_eq!(related(1)["artifactLocation"]["uri"], "stack.toml");
    assert_eq!(related(1)["region"]["startLine"], 8);
    assert!(r.get("suppressions").is_none());
    assert_eq!(v["runs"][0]["tool"]["driver"]["rules"].as_array().map(Vec::len), Some(pgstack::check::RULES.len()));

    let v = json(&w.run(&["check", "active.toml", "--format", "sarif"], &no_aws()).expect(0));
    assert_valid_sarif(&v);
    let r = &v["runs"][0]["results"][0];
    assert_eq!(r["ruleId"], "PG-ENC-004");
    assert_eq!(r["suppressions"][0]["kind"], "inSource");
    assert_eq!(r["suppressions"][0]["justification"], "imported key material cannot rotate (until 2999-12-31)");
}

#[test]
fn plan_prints_one_check_line_on_stderr() {
    let w = Workdir::new();
    w.copy("tests/fixtures/check/PG-NET-002-fail.toml", "open.toml");
    let plan = w.run(&["plan", "open.toml", "--refresh=false"], &no_aws()).expect(0);
    let lines: Vec<&str> = plan.stderr.lines().filter(|l| l.starts_with("Checks (")).collect();
    assert_eq!(lines, ["Checks (standard): 0 passed, 1 failed, 0 warnings, 0 waived"], "{}", plan.stderr);
    assert!(!plan.stdout.contains("Checks ("), "the plan itself stays on stdout: {}", plan.stdout);
    let json = w.run(&["plan", "open.toml", "--json", "--refresh=false"], &no_aws()).expect(0);
    serde_json::from_str::<Json>(&json.stdout).expect("plan --json stays JSON");
}

#[test]
fn apply_refuses_failing_checks_before_touching_aws_unless_skipped() {
    let w = Workdir::new();
    w.copy("tests/fixtures/check/PG-NET-002-fail.toml", "open.toml");
    let refused = w.run(&["apply", "open.toml", "--auto-approve"], &no_aws()).expect(1);
    assert!(
        refused
            .stderr
            .contains("refusing to apply: 1 check rule of error severity fails the standard profile: PG-NET-002"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("`pgstack check open.toml` shows where"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--skip-checks"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("127.0.0.1"), "no AWS call was tried: {}", refused.stderr);
    let files: Vec<_> = std::fs::read_dir(w.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, ["open.toml"], "no state or lock file");

    // A plan apply would refuse is not saved; the failing rules are shown with it.
    let refused = w.run(&["plan", "open.toml", "--refresh=false", "-o", "p.plan"], &no_aws()).expect(1);
    assert!(refused.stderr.contains("error[PG-NET-002]"), "the finding itself: {}", refused.stderr);
    assert!(
        refused.stderr.contains("not saving the plan: 1 check rule of error severity fails (PG-NET-002)"),
        "{}",
        refused.stderr
    );
    assert!(!w.path().join("p.plan").exists(), "nothing written");
    // Saved with --skip-checks, the plan records it and apply honours it.
    w.run(&["plan", "open.toml", "--refresh=false", "-o", "p.plan", "--skip-checks"], &no_aws()).expect(0);

    // Skipped, apply goes on to AWS (here: nothing listening), saying so.
    for args in [&["apply", "p.plan"][..], &["apply", "open.toml", "--auto-approve", "--skip-checks"]] {
        let skipped = w.run(args, &no_aws()).expect(1);
        assert!(
            skipped.stderr.contains("warning: applying although 1 check rule of error severity fails"),
            "{}",
            skipped.stderr
        );
        assert!(!skipped.stderr.contains("refusing to apply"), "{}", skipped.stderr);
        assert!(skipped.stderr.contains("127.0.0.1:9"), "it reached for AWS: {}", skipped.stderr);
    }
}
