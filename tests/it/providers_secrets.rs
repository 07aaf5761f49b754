//! `secret` and `secret_rotation` against moto: the value written but never
//! kept, new versions without a new secret, rotation schedules, drift,
//! import, the data-loss guard, and a search for the generated value in
//! everything pgstack writes or prints.

use std::collections::BTreeMap;

use pgstack::addr::ResourceAddr;
use pgstack::provider::aws::secret::Secret;
use pgstack::provider::aws::secret_rotation::SecretRotation;
use pgstack::provider::{ReadScope, ResourceType};
use pgstack::value::{Attrs, Value};

use crate::support::cli::Workdir;
use crate::support::moto::{REGION, moto};
use crate::support::provider::{assert_clean, changes, desired, planned, read_one, update};

const STACK: &str = "sec";

fn table(pairs: &[(&str, Value)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

async fn current_value(sm: &aws_sdk_secretsmanager::Client, id: &str) -> serde_json::Value {
    let out = sm.get_secret_value().secret_id(id).send().await.unwrap();
    serde_json::from_str(out.secret_string().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_lifecycle() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let sm = m.factory().secretsmanager(REGION).await;
    let t = Secret;
    let addr: ResourceAddr = "secret.app".parse().unwrap();
    let creds = table(&[("username", "app".into()), ("host", "db.internal".into()), ("port", Value::Int(5432))]);
    let want = desired(
        &t,
        STACK,
        &addr,
        &[
            ("name", "prod/database/app".into()),
            ("description", "app user".into()),
            ("generate_password", table(&[("length", Value::Int(40)), ("exclude_punctuation", Value::Bool(true))])),
            ("credentials", creds.clone()),
        ],
    );
    let created = t.create(&ctx, &want).await.unwrap();
    let arn = created["id"].as_str().unwrap().to_owned();
    let v1 = created["version_id"].as_str().unwrap().to_owned();
    let mut stored = want.clone();
    stored.extend(created.clone());
    assert_clean(&t, &created, &want);
    assert_clean(&t, &read_one(&t, &ctx, &arn).await, &want);
    let value = current_value(&sm, &arn).await;
    let password = value["password"].as_str().unwrap().to_owned();
    assert_eq!(password.len(), 40);
    assert!(password.chars().all(char::is_alphanumeric), "{password}");
    assert_eq!(
        (value["username"].as_str(), value["host"].as_str(), value["port"].as_i64()),
        (Some("app"), Some("db.internal"), Some(5432))
    );
    assert!(!created.values().any(|v| format!("{v:?}").contains(&password)), "the value is never returned");
    assert_eq!(t.find_created(&ctx, &addr).await.unwrap().as_deref(), Some(arn.as_str()));
    assert_eq!(t.find_created(&ctx, &"secret.other".parse().unwrap()).await.unwrap(), None);

    // A description change writes no new version.
    let mut next = stored.clone();
    next.insert("description".into(), "application user".into());
    assert_eq!(changes(&t, &created, &next), vec!["description"]);
    let updated = update(&t, &ctx, &arn, &stored, &next).await.unwrap();
    assert_eq!(updated["version_id"].as_str(), Some(v1.as_str()));
    assert_eq!(current_value(&sm, &arn).await["password"].as_str(), Some(password.as_str()));

    // New connection details keep the password in a new version.
    let mut moved = next.clone();
    moved.insert(
        "credentials".into(),
        table(&[("username", "app".into()), ("host", "db2.internal".into()), ("port", Value::Int(5432))]),
    );
    let after_move = update(&t, &ctx, &arn, &next, &moved).await.unwrap();
    let v2 = after_move["version_id"].as_str().unwrap().to_owned();
    assert_ne!(v2, v1);
    let value = current_value(&sm, &arn).await;
    assert_eq!((value["password"].as_str(), value["host"].as_str()), (Some(password.as_str()), Some("db2.internal")));

    // A changed keeper (or `--replace`, a changed version_id) makes a new password.
    let mut renewed = moved.clone();
    renewed.extend(after_move.clone());
    let mut rekeyed = renewed.clone();
    rekeyed.insert("keepers".into(), table(&[("rotated", "2026-12".into())]));
    let after_keep = update(&t, &ctx, &arn, &renewed, &rekeyed).await.unwrap();
    assert_ne!(after_keep["version_id"], after_move["version_id"]);
    let p3 = current_value(&sm, &arn).await["password"].as_str().unwrap().to_owned();
    assert_ne!(p3, password);
    // `--replace` on a secret renews its value: the plan changes `version_id` to unknown.
    let mut prior = rekeyed.clone();
    prior.extend(after_keep.clone());
    let mut renewal = planned(&t, &prior, &rekeyed);
    assert!(renewal.changed.is_empty(), "{:?}", renewal.changed);
    renewal.after.insert("version_id".into(), Value::Null);
    renewal.changed.push("version_id".into());
    let after_replace = t.update(&ctx, &arn, &renewal).await.unwrap();
    assert_ne!(after_replace["version_id"], after_keep["version_id"]);
    assert_ne!(current_value(&sm, &arn).await["password"].as_str(), Some(p3.as_str()));
    assert_eq!(after_replace["id"].as_str(), Some(arn.as_str()), "the same secret");

    // Out of band: the description is changed; refresh sees it.
    sm.update_secret().secret_id(&arn).description("edited").send().await.unwrap();
    let seen = read_one(&t, &ctx, &arn).await;
    assert_eq!(changes(&t, &seen, &next), vec!["description"]);
    let scoped =
        t.read_many(&ctx, std::slice::from_ref(&arn), &ReadScope::Only(["name".to_owned()].into())).await.unwrap();
    assert!(!scoped[&arn].contains_key("tags"));

    // Deleted (with the default 30-day window): it reads as gone at once.
    t.delete(&ctx, &arn, &stored).await.unwrap();
    t.delete(&ctx, &arn, &stored).await.unwrap();
    assert!(t.read_many(&ctx, std::slice::from_ref(&arn), &ReadScope::All).await.unwrap().is_empty());
    assert_eq!(t.find_created(&ctx, &addr).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_rotation_lifecycle() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let sm = m.factory().secretsmanager(REGION).await;
    let lambda = m.rotation_function().await;
    let secret = sm.create_secret().name("prod/database/ro").secret_string("x").send().await.unwrap();
    let secret_arn = secret.arn().unwrap().to_owned();
    let t = SecretRotation;
    let addr: ResourceAddr = "secret_rotation.ro".parse().unwrap();
    let want = desired(
        &t,
        STACK,
        &addr,
        &[
            ("secret_id", "prod/database/ro".into()),
            ("rotation_lambda_arn", lambda.clone().into()),
            ("rotation_rules", table(&[("schedule_expression", "rate(7 days)".into())])),
            ("rotate_immediately", Value::Bool(false)),
        ],
    );
    let mut want: Attrs = want.into_iter().filter(|(k, _)| k != "tags").collect();
    t.normalize(&mut want);
    let created = t.create(&ctx, &want).await.unwrap();
    assert_eq!(created["id"].as_str(), Some(secret_arn.as_str()));
    assert_clean(&t, &created, &want);
    assert_clean(&t, &read_one(&t, &ctx, &secret_arn).await, &want);

    // Every 30 days instead of 7.
    let mut monthly = want.clone();
    monthly.insert("rotation_rules".into(), table(&[("automatically_after_days", Value::Int(30))]));
    assert_eq!(changes(&t, &created, &monthly), vec!["rotation_rules"]);
    let updated = update(&t, &ctx, &secret_arn, &created, &monthly).await.unwrap();
    assert_clean(&t, &updated, &monthly);

    // Out of band: rotation is cancelled; refresh sees it; an update turns it back on.
    sm.cancel_rotate_secret().secret_id(&secret_arn).send().await.unwrap();
    let seen = read_one(&t, &ctx, &secret_arn).await;
    assert_eq!(changes(&t, &seen, &monthly), vec!["rotation_enabled"]);
    let repaired = update(&t, &ctx, &secret_arn, &seen, &monthly).await.unwrap();
    assert_clean(&t, &repaired, &monthly);

    // Delete cancels rotation (twice is fine); the secret stays.
    t.delete(&ctx, &secret_arn, &repaired).await.unwrap();
    t.delete(&ctx, &secret_arn, &repaired).await.unwrap();
    let after = sm.describe_secret().secret_id(&secret_arn).send().await.unwrap();
    assert_eq!(after.rotation_enabled(), Some(false));
    let missing = ["arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf".to_owned()];
    assert!(t.read_many(&ctx, &missing, &ReadScope::All).await.unwrap().is_empty());
}

/// Every file and stream pgstack produced for the secrets example.
fn everything_written(w: &Workdir, outputs: &[String]) -> String {
    let mut all = outputs.join("\n");
    for entry in walk(w.path()) {
        all.push_str(&String::from_utf8_lossy(&std::fs::read(&entry).unwrap()));
    }
    all
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_secrets_example_never_lets_a_value_out_and_replace_renews_it() {
    let m = moto();
    let env = m.env();
    let lambda = m.rotation_function().await;
    let sm = m.factory().secretsmanager(REGION).await;
    let w = Workdir::new();
    w.copy("examples/secrets.toml", "secrets.toml");
    let var = format!("rotation_lambda_arn={lambda}");
    let with_var = |args: &[&str]| -> Vec<String> {
        args.iter().map(|s| s.to_string()).chain(["--var".to_owned(), var.clone()]).collect()
    };
    let run = |args: Vec<String>, code: i32| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        w.run(&refs, &env).expect(code)
    };
    let mut outputs = Vec::new();
    let applied = run(with_var(&["-v", "apply", "secrets.toml", "--auto-approve"]), 0);
    outputs.extend([applied.stdout, applied.stderr]);

    // The generated values, read back through the SDK (before any rotation
    // step moto runs could leave an empty version behind).
    let list = sm.list_secrets().send().await.unwrap();
    let mut secrets: BTreeMap<String, String> = BTreeMap::new();
    for s in list.secret_list() {
        secrets.insert(s.name().unwrap().to_owned(), s.arn().unwrap().to_owned());
    }
    assert_eq!(secrets.len(), 2, "{secrets:?}");
    let app_arn = secrets["secrets-example/database/app"].clone();
    let state_text = std::fs::read_to_string(w.path().join("state/secrets-example.json")).unwrap();
    let version = |state: &str| -> String {
        let doc: serde_json::Value = serde_json::from_str(state).unwrap();
        let entries = doc["resources"].as_array().cloned().unwrap_or_default();
        let app = entries.iter().find(|r| r["address"] == "secret.user[\"app\"]");
        app.and_then(|r| r["attributes"]["version_id"].as_str()).unwrap_or_default().to_owned()
    };
    let v1 = version(&state_text);
    assert!(!v1.is_empty(), "state keeps the version id: {state_text}");
    let first = sm.get_secret_value().secret_id(&app_arn).version_id(&v1).send().await.unwrap();
    let first: serde_json::Value = serde_json::from_str(first.secret_string().unwrap()).unwrap();
    let password = first["password"].as_str().unwrap().to_owned();
    assert_eq!(password.len(), 32);
    assert_eq!(first["username"].as_str(), Some("app"));

    let plan = run(with_var(&["plan", "secrets.toml", "--detailed-exitcode", "-o", "saved.plan"]), 0);
    let json = run(with_var(&["plan", "secrets.toml", "--json"]), 0);
    outputs.extend([plan.stdout, plan.stderr, json.stdout]);
    for format in ["text", "json", "markdown"] {
        let drift = run(with_var(&["drift", "secrets.toml", "--format", format]), 0);
        outputs.extend([drift.stdout, drift.stderr]);
    }
    let all = everything_written(&w, &outputs);
    assert!(all.contains(&v1), "the search covers the state");
    assert!(!all.contains(&password), "the generated value leaked");

    // `--replace` writes a new version of the same secret.
    let shown = run(with_var(&["plan", "secrets.toml", "--replace", "secret.user[\"app\"]"]), 0);
    assert!(shown.stdout.contains("version_id") && shown.stdout.contains("1 to change"), "{}", shown.stdout);
    let replaced =
        run(with_var(&["-v", "apply", "secrets.toml", "--auto-approve", "--replace", "secret.user[\"app\"]"]), 0);
    let v2 = version(&std::fs::read_to_string(w.path().join("state/secrets-example.json")).unwrap());
    assert_ne!(v2, v1, "{}", replaced.stdout);
    let second = sm.get_secret_value().secret_id(&app_arn).version_id(&v2).send().await.unwrap();
    let second: serde_json::Value = serde_json::from_str(second.secret_string().unwrap()).unwrap();
    let new_password = second["password"].as_str().unwrap().to_owned();
    assert_ne!(new_password, password);
    assert_eq!(sm.list_secrets().send().await.unwrap().secret_list().len(), 2, "no new secret");
    let all = everything_written(&w, &[replaced.stdout, replaced.stderr]);
    assert!(!all.contains(&new_password) && !all.contains(&password), "a renewed value leaked");
    run(with_var(&["plan", "secrets.toml", "--replace", "secret.nope"]), 1);

    // Rotation cancelled out of band: drift names it, apply repairs it.
    sm.cancel_rotate_secret().secret_id(&app_arn).send().await.unwrap();
    let drift = run(with_var(&["drift", "secrets.toml"]), 2);
    assert!(
        drift.stdout.contains("secret_rotation.user[\"app\"]") && drift.stdout.contains("rotation_enabled"),
        "{}",
        drift.stdout
    );
    run(with_var(&["apply", "secrets.toml", "--auto-approve"]), 0);
    run(with_var(&["drift", "secrets.toml"]), 0);

    // Import both after letting go of them.
    for addr in ["secret.user[\"app\"]", "secret_rotation.user[\"app\"]"] {
        run(with_var(&["state", "rm", "secrets.toml", addr]), 0);
        run(with_var(&["import", "secrets.toml", addr, &app_arn]), 0);
    }
    run(with_var(&["plan", "secrets.toml", "--detailed-exitcode"]), 0);

    // Secrets are guarded: destroy needs each named.
    let refused = run(with_var(&["destroy", "secrets.toml", "--auto-approve"]), 1);
    assert!(refused.stderr.contains("secret.user"), "{}", refused.stderr);
    assert_eq!(sm.list_secrets().send().await.unwrap().secret_list().len(), 2, "nothing deleted");
    run(
        with_var(&[
            "destroy",
            "secrets.toml",
            "--auto-approve",
            "--allow-destroy",
            "secret.user",
            "--allow-destroy",
            "kms_key.secrets",
        ]),
        0,
    );
    let left = sm.list_secrets().send().await.unwrap();
    assert!(left.secret_list().iter().all(|s| s.deleted_date().is_some()), "both scheduled for deletion");
}
