//! The edges of the command line: exit codes of usage errors, `--target`
//! that names nothing, `import` of objects already managed, escaping of
//! input in output, and the warning after a stack rename.

use crate::support::cli::Workdir;

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
