//! examples/ci/: the drift script run against moto, and the GitHub Actions
//! workflow parsed (with the moto venv's PyYAML) and its steps checked.

use std::process::Command;

use crate::support::cli::{Workdir, repo_root};
use crate::support::moto::{REGION, moto};

/// Runs examples/ci/drift.sh in `w` with the pgstack binary and moto's
/// environment; returns the exit code and the Markdown report.
fn drift_script(w: &Workdir, env: &[(String, String)], stacks: &[&str]) -> (Option<i32>, String) {
    let report = w.path().join("report.md");
    let _ = std::fs::remove_file(&report);
    let out = Command::new("bash")
        .arg(repo_root().join("examples/ci/drift.sh"))
        .args(stacks)
        .current_dir(w.path())
        .envs(env.iter().cloned())
        .env("PGSTACK", env!("CARGO_BIN_EXE_pgstack"))
        .env("PGSTACK_DRIFT_REPORT", &report)
        .env("PGSTACK_DRIFT_JSON", w.path().join("drift.json"))
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .expect("run drift.sh");
    (out.status.code(), std::fs::read_to_string(&report).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_drift_script_reports_clean_drifted_and_broken_stacks() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.copy("examples/quickstart.toml", "stacks/quickstart.toml");
    w.run(&["apply", "stacks/quickstart.toml", "--auto-approve"], &env).expect(0);

    let (code, report) = drift_script(&w, &env, &["stacks/quickstart.toml"]);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("quickstart"), "{report}");

    // Key rotation turned off by hand: drift, exit 2, the report names it.
    let kms = m.factory().kms(REGION).await;
    let keys = kms.list_keys().send().await.unwrap();
    let key = keys.keys()[0].key_id().unwrap().to_owned();
    kms.disable_key_rotation().key_id(&key).send().await.unwrap();
    let (code, report) = drift_script(&w, &env, &["stacks/quickstart.toml"]);
    assert_eq!(code, Some(2), "{report}");
    assert!(report.contains("kms_key.db") && report.contains("enable_key_rotation"), "{report}");
    let json = std::fs::read_to_string(w.path().join("drift.json")).unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok(), "{json}");

    // A stack that does not load: exit 1.
    w.write(
        "stacks/broken.toml",
        "[stack]\nname = \"broken\"\nregion = \"us-east-1\"\n[vpc.x]\ncidr_blok = \"10.0.0.0/16\"\n",
    );
    let (code, report) = drift_script(&w, &env, &["stacks/broken.toml"]);
    assert_eq!(code, Some(1), "{report}");
}

#[test]
fn the_github_workflow_is_scheduled_read_only_and_runs_the_script() {
    let python = std::path::Path::new(
        &std::env::var("PGSTACK_MOTO_VENV")
            .unwrap_or_else(|_| format!("{}/.cache/pgstack-moto-venv", std::env::var("HOME").unwrap_or_default())),
    )
    .join("bin/python");
    let out = Command::new(&python)
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"])
        .arg(repo_root().join("examples/ci/github-drift.yml"))
        .output()
        .expect("run the venv's python (scripts/install-moto.sh makes it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let wf: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // YAML 1.1 reads the key `on` as `true`.
    let on = wf.get("on").or_else(|| wf.get("true")).expect("triggers");
    assert!(on["schedule"][0]["cron"].as_str().is_some_and(|c| c.split_whitespace().count() == 5), "{on}");
    assert_eq!(wf["permissions"]["id-token"], "write", "OIDC, no stored keys");
    assert_eq!(wf["permissions"]["contents"], "read");
    let steps = wf["jobs"]["drift"]["steps"].as_array().expect("steps");
    let uses = |prefix: &str| steps.iter().find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(prefix)));
    let creds = uses("aws-actions/configure-aws-credentials@").expect("assumes a role");
    assert!(creds["with"]["role-to-assume"].as_str().is_some_and(|r| r.contains("PGSTACK_DRIFT_ROLE_ARN")));
    let install = steps.iter().position(|s| s["run"].as_str().is_some_and(|r| r.contains("cargo install")));
    let drift = steps.iter().position(|s| s["run"].as_str().is_some_and(|r| r.contains("drift.sh stacks/")));
    assert!(matches!((install, drift), (Some(i), Some(d)) if i < d), "installs, then runs drift");
    let text = std::fs::read_to_string(repo_root().join("examples/ci/github-drift.yml")).unwrap();
    assert!(!text.contains("AWS_SECRET_ACCESS_KEY") && !text.contains("secrets."), "no long-lived keys");
}
