//! `pgstack validate`: every error class reported with file:line:column, a
//! source snippet and hints; exit 1. No AWS involved.

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
