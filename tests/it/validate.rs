//! `pgstack validate`: every error class reported with file:line:column, a
//! source snippet and hints; exit 1. No AWS involved.

use std::process::Command;

use crate::support::cli::Workdir;

fn validate(fixture: &str) -> String {
    let w = Workdir::new();
    w.copy(&format!("tests/fixtures/invalid/{fixture}"), fixture);
    let run = w.run(&["validate", fixture], &[]).expect(1);
    assert!(run.stdout.is_empty(), "nothing on stdout for an invalid stack: {}", run.stdout);
    run.stderr
}

#[test]
fn unknown_resource_type() {
    let err = validate("unknown_type.toml");
    assert!(err.contains("unknown_type.toml:5:2"), "{err}");
    assert!(err.contains("did you mean `vpc`?"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn unknown_attribute() {
    let err = validate("unknown_attribute.toml");
    assert!(err.contains("unknown_attribute.toml:6:1"), "{err}");
    assert!(err.contains("did you mean `cidr_block`?"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn wrong_value_type() {
    let err = validate("wrong_type.toml");
    assert!(err.contains("wrong_type.toml:7:24"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn missing_required_attribute() {
    let err = validate("missing_required.toml");
    assert!(err.contains("missing_required.toml:5:"), "{err}");
    assert!(err.contains("vpc_id"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn unknown_reference() {
    let err = validate("unknown_reference.toml");
    assert!(err.contains("unknown_reference.toml:9:"), "{err}");
    assert!(err.contains("vpc.main"), "the hint suggests the declared resource: {err}");
    insta::assert_snapshot!(err);
}

#[test]
fn dependency_cycle_names_its_path() {
    let err = validate("cycle.toml");
    assert!(err.contains("security_group.a -> security_group.b -> security_group.a"), "{err}");
    assert!(err.contains("cycle.toml:"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn syntax_error() {
    let err = validate("syntax.toml");
    assert!(err.contains("syntax.toml:6:"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn every_problem_in_a_file_is_reported_in_one_run() {
    let err = validate("many_errors.toml");
    for expected in ["many_errors.toml:6:", "many_errors.toml:9:", "many_errors.toml:10:", "many_errors.toml:12:"] {
        assert!(err.contains(expected), "missing {expected} in:\n{err}");
    }
    insta::assert_snapshot!(err);
}

#[test]
fn the_quickstart_is_valid_and_graphs() {
    let w = Workdir::new();
    w.copy("examples/quickstart.toml", "quickstart.toml");
    let run = w.run(&["validate", "quickstart.toml"], &[]).expect(0);
    assert!(run.stdout.contains("7 resources"), "{}", run.stdout);
    let dot = w.run(&["graph", "quickstart.toml"], &[]).expect(0).stdout;
    assert!(dot.contains("\"db_subnet_group.db\" -> \"subnet.db[\\\"a\\\"]\""), "{dot}");
    let mermaid = w.run(&["graph", "quickstart.toml", "--format", "mermaid"], &[]).expect(0).stdout;
    assert!(mermaid.starts_with("flowchart"), "{mermaid}");
}

#[test]
fn values_out_of_aws_ranges() {
    let err = validate("out_of_range.toml");
    for expected in ["out_of_range.toml:6:27", "out_of_range.toml:12:22", "out_of_range.toml:17:42"] {
        assert!(err.contains(expected), "missing {expected} in:\n{err}");
    }
    assert!(err.contains("must be between 7 and 30, got 45"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn values_outside_aws_enums() {
    let err = validate("bad_enum.toml");
    assert!(err.contains("bad_enum.toml:8:18"), "{err}");
    assert!(err.contains("bad_enum.toml:9:18"), "{err}");
    assert!(err.contains("did you mean `gp3`?"), "{err}");
    assert!(err.contains("did you mean `tcp`?"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn tags_aws_would_refuse() {
    let err = validate("bad_tags.toml");
    assert!(err.contains("bad_tags.toml:4:12"), "the stack tag's key: {err}");
    assert!(err.contains("bad_tags.toml:8:31"), "the empty key: {err}");
    assert!(err.contains("bad_tags.toml:8:52"), "the value: {err}");
    assert!(!err.contains('\u{1b}'), "control characters are never printed raw: {err:?}");
    insta::assert_snapshot!(err);
}

#[test]
fn names_and_cidr_blocks_aws_would_refuse() {
    let err = validate("bad_names.toml");
    for expected in ["bad_names.toml:6:14", "bad_names.toml:9:14", "bad_names.toml:13:18"] {
        assert!(err.contains(expected), "missing {expected} in:\n{err}");
    }
    assert!(err.contains("did you mean `10.0.0.0/16`?"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn unknown_region_flag() {
    let w = Workdir::new();
    w.copy("examples/quickstart.toml", "quickstart.toml");
    let run = w.run(&["validate", "quickstart.toml", "--region", "eu-wset-1"], &[]).expect(1);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("--region `eu-wset-1` is not an AWS region"), "{}", run.stderr);
    insta::assert_snapshot!(run.stderr);
    w.run(&["validate", "quickstart.toml", "--region", "eu-west-1"], &[]).expect(0);
}

#[test]
fn attributes_that_cannot_be_set_together() {
    let err = validate("conflicting.toml");
    assert!(err.contains("conflicting.toml:11:1"), "{err}");
    assert!(err.contains("`generate_password` and `value` on `secret.app` cannot both be set"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn backup_and_maintenance_windows_that_meet() {
    let err = validate("overlapping_windows.toml");
    assert!(err.contains("overlapping_windows.toml:12:32"), "{err}");
    assert!(err.contains("`preferred_backup_window` (02:00-03:00) and `preferred_maintenance_window` (sun:02:30-sun:03:30) on `db_cluster.main` overlap"), "{err}");
    assert!(err.contains("overlapping_windows.toml:29:22"), "touching counts: {err}");
    assert!(!err.contains("db_cluster.other"), "windows apart are fine: {err}");
    insta::assert_snapshot!(err);
}

/// Runs `validate sensitive_var_file.toml --var-file v.toml` with `var_file`
/// as v.toml: exit 1, nothing on stdout, the error at `at`, and the
/// sensitive value nowhere in what was printed. Returns stderr.
fn validate_var_file(var_file: &str, extra: &[&str], at: &str) -> String {
    let w = Workdir::new();
    w.copy("tests/fixtures/invalid/sensitive_var_file.toml", "stack.toml");
    w.write("v.toml", var_file);
    let run = w.run(&[&["validate", "stack.toml", "--var-file", "v.toml"], extra].concat(), &[]).expect(1);
    for out in [&run.stdout, &run.stderr] {
        assert!(!out.to_lowercase().contains("hunter2eee"), "the value is shown for {var_file:?}:\n{out}");
    }
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains(&format!("error: v.toml:{at}: ")), "not at v.toml:{at}:\n{}", run.stderr);
    assert!(run.stderr.contains("1 error found"), "one error for {var_file:?}:\n{}", run.stderr);
    run.stderr
}

#[test]
fn var_file_errors_never_show_a_sensitive_value() {
    let flag: &[&str] = &["--var", "app_password=from-the-flag"];
    let cases: [(&str, &str, &str, &[&str]); 8] = [
        ("type error", "app_password = [\"Hunter2EEE\"]\n", "1:16", &[]),
        ("table value", "app_password = { value = \"Hunter2EEE\" }\n", "1:16", &[]),
        ("duplicate key", "replicas = 3\napp_password = \"Hunter2EEE\"\napp_password = \"Hunter2EEE\"\n", "3:1", &[]),
        ("unterminated string", "app_password = \"Hunter2EEE\nreplicas = 3\n", "1:27", &[]),
        ("unterminated multi-line string", "app_password = '''Hunter2EEE\nreplicas = 3\n", "3:1", &[]),
        ("unquoted", "app_password = Hunter2EEE\n", "1:16", &[]),
        ("misspelled name", "app_pasword = \"Hunter2EEE\"\n", "1:1", flag),
        ("template", "app_password = \"${Hunter2EEE}\"\n", "1:16", &[]),
    ];
    let mut all = String::new();
    for (what, file, at, extra) in cases {
        all.push_str(&format!("--- {what}\n{}", validate_var_file(file, extra, at)));
    }
    assert!(all.contains("did you mean `app_password`?"), "{all}");
    insta::assert_snapshot!(all);
}

#[test]
fn a_declared_variable_without_a_value_is_one_error() {
    let err = validate("no_value.toml");
    assert!(err.contains("no_value.toml:7:1: variable `rotation_arn` has no value"), "{err}");
    assert!(
        err.contains("`--var rotation_arn=...`")
            && err.contains("`--var-file FILE`")
            && err.contains("`PGSTACK_VAR_rotation_arn`"),
        "the three ways to set it: {err}"
    );
    assert!(err.ends_with("1 error found\n"), "no error at its uses: {err}");
    insta::assert_snapshot!(err);

    // The shipped production stack, run from the repository root as a user would.
    let prod = crate::support::cli::repo_root().join("stacks/prod.toml");
    let line =
        std::fs::read_to_string(&prod).unwrap().lines().position(|l| l.starts_with("rotation_lambda_arn =")).unwrap()
            + 1;
    let run = Command::new(env!("CARGO_BIN_EXE_pgstack"))
        .args(["validate", "stacks/prod.toml"])
        .current_dir(crate::support::cli::repo_root())
        .env("NO_COLOR", "1")
        .env_remove("PGSTACK_VAR_rotation_lambda_arn")
        .output()
        .unwrap();
    let run = crate::support::cli::Run::from(run).expect(1);
    assert!(
        run.stderr
            .starts_with(&format!("error: stacks/prod.toml:{line}:1: variable `rotation_lambda_arn` has no value\n")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`PGSTACK_VAR_rotation_lambda_arn`"), "{}", run.stderr);
    assert!(run.stderr.ends_with("1 error found\n"), "{}", run.stderr);
}

#[test]
fn write_only_attributes_cannot_be_referenced() {
    let err = validate("write_only_ref.toml");
    assert!(
        err.contains("write_only_ref.toml:14:26: `secret.app.value` is write-only and cannot be referenced"),
        "the tag: {err}"
    );
    assert!(err.contains("write_only_ref.toml:17:16: `secret.app.value` is write-only"), "the output: {err}");
    assert!(!err.contains("secret.app.arn`"), "other attributes are fine: {err}");
    assert!(err.contains("2 errors found"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn arithmetic_out_of_range_is_a_located_error() {
    let err = validate("overflow.toml");
    for (at, what) in [
        ("overflow.toml:15:23", "integer overflow"),
        ("overflow.toml:16:23", "number overflow: the result is beyond the largest number (about 1.8e308)"),
        ("overflow.toml:17:23", "division by zero"),
    ] {
        assert!(err.contains(&format!("{at}: {what}")), "{at}: {what}\n{err}");
    }
    assert!(!err.contains("inf") && !err.contains("NaN"), "{err}");
    insta::assert_snapshot!(err);
}

/// `[[moved]]` blocks: each mistake at its value, in one run.
#[test]
fn moves_that_cannot_be_made() {
    let err = validate("bad_moves.toml");
    for want in [
        "a move cannot change the type (vpc to subnet)",
        "`subnet.a` is moved but still declared",
        "`vpc.typo` is declared nowhere in the stack",
        "`from` is not an address",
        "must both be instances",
        "`vpc.legacy` is moved twice",
        "[[moved]] needs `from`",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    insta::assert_snapshot!(err);
    insta::assert_snapshot!(validate("moves_loop.toml"));
}

/// `[[import]]` blocks: each mistake at its value, in one run.
#[test]
fn imports_that_cannot_be_made() {
    let err = validate("bad_imports.toml");
    for want in [
        "`vpc.other` is declared nowhere in the stack",
        "`subnet.db` is a for_each block, not one object",
        "`id` of [[import]] is empty",
        "`subnet.db[\"a\"]` is imported twice",
        "[[import]] needs `to` and `id`",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    insta::assert_snapshot!(err);
}

/// `[data.TYPE.NAME]` blocks and references to them: each mistake at its place.
#[test]
fn data_sources_that_cannot_be_read() {
    let err = validate("bad_data.toml");
    for want in [
        "unknown data source type `vpcc`",
        "data source `vpc` has no filter `tag`",
        "data.kms_key.db needs `id`",
        "data sources are read at plan time",
        "filter `vpc_id` of data.security_group.app can use variables and other data sources, not `subnet`",
        "unknown data source `data.vpc.other`",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    insta::assert_snapshot!(err);
}

/// `validate --json`: the result and each diagnostic with its range, on
/// stdout, exit 1 for an invalid stack and 0 for a valid one.
#[test]
fn validate_json_gives_each_diagnostic_with_its_range() {
    let w = Workdir::new();
    w.copy("tests/fixtures/invalid/moves_loop.toml", "moves_loop.toml");
    let run = w.run(&["validate", "moves_loop.toml", "--json"], &[]).expect(1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let d = &v["diagnostics"][0];
    assert_eq!(d["severity"], "error");
    assert!(d["message"].as_str().unwrap().contains("go round in a loop"), "{d}");
    assert_eq!(
        d["range"],
        serde_json::json!({ "file": "moves_loop.toml", "start": { "line": 10, "column": 8 }, "end": { "line": 10, "column": 15 } })
    );
    w.copy("examples/quickstart.toml", "quickstart.toml");
    let ok: serde_json::Value =
        serde_json::from_str(&w.run(&["validate", "quickstart.toml", "--json"], &[]).expect(0).stdout).unwrap();
    assert_eq!(
        (ok["valid"].as_bool(), ok["resources"].as_u64(), ok["diagnostics"].as_array().map(Vec::len)),
        (Some(true), Some(7), Some(0))
    );
}
