//! Multi-Region KMS keys against moto: a `kms_key` with `multi_region = true`
//! (a primary, read back clean) and its `kms_replica_key` in another region:
//! create and read back, in-place updates, an out-of-band change seen on
//! refresh, the ownership lookup, delete; through the CLI a stack with the
//! primary in us-east-1 and the replica in `[regions] dr = "us-west-2"`:
//! apply, plan clean, drift repaired, import, guarded destroy.
//!
//! moto 5.2.5's ReplicateKey ignores the description, policy and tags it is
//! sent (the replica copies the primary's description and policy and has no
//! tags); the provider sets what the answer lacks, which these tests check.
//! The request shapes AWS answers (replica `Creating` first) are tested with
//! aws-smithy-mocks in `src/provider/aws/kms_replica_key.rs`.

use std::time::SystemTime;

use aws_sdk_kms::types::KeyState;
use pgstack::addr::ResourceAddr;
use pgstack::provider::aws::kms_key::KmsKey;
use pgstack::provider::aws::kms_replica_key::KmsReplicaKey;
use pgstack::provider::schema::{TAG_ADDRESS, TAG_STACK};
use pgstack::provider::{ReadScope, ResourceType};
use pgstack::value::{Attrs, Value};

use crate::support::cli::Workdir;
use crate::support::moto::{REGION, moto};
use crate::support::provider::{assert_clean, calls_during, changes, desired, read_one, update};

const STACK: &str = "keys";
const DR: &str = "us-west-2";

fn tags(pairs: &[(&str, &str)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), Value::str(*v))).collect())
}

fn without(attrs: &Attrs, name: &str) -> Attrs {
    let mut a = attrs.clone();
    a.remove(name);
    a
}

fn replica_policy(sid: &str) -> Value {
    Value::from_json(&serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{ "Sid": sid, "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::123456789012:root" },
                        "Action": "kms:*", "Resource": "*" }],
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_region_primary_and_replica_lifecycle() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let dr = m.ctx(DR, STACK);
    let kms_dr = m.factory().kms(DR).await;

    // The primary: a multi-Region key that reads back clean.
    let primary_addr = ResourceAddr::new("kms_key", "primary");
    let primary_want = desired(
        &KmsKey,
        STACK,
        &primary_addr,
        &[("description", Value::str("Aurora storage")), ("multi_region", Value::Bool(true))],
    );
    let primary = KmsKey.create(&ctx, &primary_want).await.expect("create primary");
    let primary_id = primary["id"].as_str().unwrap().to_owned();
    let primary_arn = primary["arn"].as_str().unwrap().to_owned();
    assert!(primary_id.starts_with("mrk-"), "a multi-Region key id: {primary_id}");
    assert_eq!(primary["multi_region"], Value::Bool(true));
    assert_clean(&KmsKey, &primary, &primary_want);
    assert_eq!(read_one(&KmsKey, &ctx, &primary_id).await, without(&primary, "deletion_window_in_days"));

    // The replica in us-west-2.
    let addr = ResourceAddr::new("kms_replica_key", "dr");
    let want = desired(
        &KmsReplicaKey,
        STACK,
        &addr,
        &[
            ("primary_key_arn", Value::str(&primary_arn)),
            ("description", Value::str("Aurora storage (DR)")),
            ("policy", replica_policy("dr")),
            ("alias", Value::str("pg-dr")),
            ("deletion_window_in_days", Value::Int(7)),
            ("tags", tags(&[("Team", "db")])),
        ],
    );
    let created = KmsReplicaKey.create(&dr, &want).await.expect("create replica");
    let arn = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["arn"], created["id"], "the id is the replica's ARN");
    assert_eq!(arn, primary_arn.replace(REGION, DR));
    assert_eq!(created["key_id"], Value::str(&primary_id), "a multi-Region set shares one key id");
    assert_eq!(created["alias"], Value::str("alias/pg-dr"));
    assert_clean(&KmsReplicaKey, &created, &want);
    let read = read_one(&KmsReplicaKey, &dr, &arn).await;
    assert_eq!(read, without(&created, "deletion_window_in_days"));
    // What moto's ReplicateKey ignored was set in the replica's region.
    let meta = kms_dr.describe_key().key_id(&arn).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(meta.description(), Some("Aurora storage (DR)"));
    let on_replica = kms_dr.list_resource_tags().key_id(&arn).send().await.unwrap();
    let keys: Vec<_> = on_replica.tags().iter().map(|t| t.tag_key()).collect();
    assert!(keys.contains(&TAG_STACK) && keys.contains(&TAG_ADDRESS) && keys.contains(&"Team"), "{keys:?}");
    // Nothing to change: nothing sent.
    let (same, calls) = calls_during(&m, "kms", update(&KmsReplicaKey, &dr, &arn, &read, &want)).await;
    assert_eq!(same.expect("no-op update"), created);
    assert!(calls.is_empty(), "{calls:?}");
    // The primary keeps its own description.
    assert_clean(&KmsKey, &read_one(&KmsKey, &ctx, &primary_id).await, &primary_want);

    // The lookup by tags runs in the replica's region; the primary is no replica.
    assert_eq!(KmsReplicaKey.find_created(&dr, &addr).await.unwrap().as_deref(), Some(arn.as_str()));
    assert_eq!(KmsReplicaKey.find_created(&ctx, &addr).await.unwrap(), None);
    assert_eq!(KmsReplicaKey.find_created(&dr, &ResourceAddr::new("kms_replica_key", "other")).await.unwrap(), None);
    let as_replica = KmsReplicaKey.read_many(&ctx, std::slice::from_ref(&primary_arn), &ReadScope::All).await.unwrap();
    assert!(as_replica.is_empty(), "a primary does not read as a replica: {as_replica:?}");

    // In place: description, policy, disabled, alias renamed, tags.
    let next = desired(
        &KmsReplicaKey,
        STACK,
        &addr,
        &[
            ("primary_key_arn", Value::str(&primary_arn)),
            ("description", Value::str("Aurora storage (DR, v2)")),
            ("policy", replica_policy("dr2")),
            ("key_enabled", Value::Bool(false)),
            ("alias", Value::str("pg-dr-v2")),
            ("deletion_window_in_days", Value::Int(7)),
            ("tags", tags(&[("Team", "data")])),
        ],
    );
    assert_eq!(changes(&KmsReplicaKey, &read, &next), ["alias", "description", "key_enabled", "policy", "tags"]);
    let updated = update(&KmsReplicaKey, &dr, &arn, &read, &next).await.expect("update");
    assert_clean(&KmsReplicaKey, &updated, &next);
    let read2 = read_one(&KmsReplicaKey, &dr, &arn).await;
    assert_eq!(read2, without(&updated, "deletion_window_in_days"));
    let meta = kms_dr.describe_key().key_id(&arn).send().await.unwrap().key_metadata.unwrap();
    assert_eq!((meta.enabled(), meta.key_state()), (false, Some(&KeyState::Disabled)));

    // Out of band in us-west-2: refresh sees it; the primary is untouched.
    kms_dr.update_key_description().key_id(&arn).description("changed by hand").send().await.unwrap();
    let seen = read_one(&KmsReplicaKey, &dr, &arn).await;
    assert_eq!(changes(&KmsReplicaKey, &seen, &next), ["description"]);
    assert_clean(&KmsKey, &read_one(&KmsKey, &ctx, &primary_id).await, &primary_want);

    // Delete schedules the replica's deletion after its window, in its region only.
    KmsReplicaKey.delete(&dr, &arn, &updated).await.expect("delete");
    let meta = kms_dr.describe_key().key_id(&arn).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(meta.key_state(), Some(&KeyState::PendingDeletion));
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    let deletion = meta.deletion_date().expect("a deletion date").secs();
    assert!((deletion - now - 7 * 86_400).abs() < 3_600, "deletion in 7 days, got {}s from now", deletion - now);
    let aliases = kms_dr.list_aliases().key_id(&arn).send().await.unwrap();
    assert!(aliases.aliases().is_empty(), "alias deleted: {aliases:?}");
    KmsReplicaKey.delete(&dr, &arn, &updated).await.expect("deleting a replica pending deletion is a no-op");
    assert!(KmsReplicaKey.read_many(&dr, std::slice::from_ref(&arn), &ReadScope::All).await.unwrap().is_empty());
    assert_eq!(KmsReplicaKey.find_created(&dr, &addr).await.unwrap(), None);
    assert!(read_one(&KmsKey, &ctx, &primary_id).await.contains_key("arn"), "the primary lives on");
}

const STACK_TOML: &str = r#"[stack]
name = "keys"
region = "us-east-1"

[regions]
dr = "us-west-2"

[kms_key.primary]
description = "Aurora storage"
multi_region = true
deletion_window_in_days = 7

[kms_replica_key.dr]
region = "dr"
primary_key_arn = "${kms_key.primary.arn}"
description = "Aurora storage (DR)"
deletion_window_in_days = 7
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_primary_and_its_replica_apply_drift_import_and_destroy() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.write("keys.toml", STACK_TOML);
    w.run(&["apply", "keys.toml", "--auto-approve"], &env).expect(0);
    w.run(&["plan", "keys.toml", "--detailed-exitcode"], &env).expect(0);

    let kms = m.factory().kms(REGION).await;
    let kms_dr = m.factory().kms(DR).await;
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path().join("state/keys.json")).unwrap()).unwrap();
    let entry = |addr: &str| state["resources"].as_array().unwrap().iter().find(|r| r["address"] == addr).unwrap();
    let replica = entry("kms_replica_key.dr");
    assert_eq!(replica["region"], "us-west-2", "{replica}");
    let arn = replica["id"].as_str().unwrap().to_owned();
    assert!(arn.starts_with("arn:aws:kms:us-west-2:"), "{arn}");
    let primary_arn = entry("kms_key.primary")["attributes"]["arn"].as_str().unwrap().to_owned();
    assert_eq!(replica["attributes"]["primary_key_arn"], primary_arn.as_str());

    // Out of band: the replica's description.
    kms_dr.update_key_description().key_id(&arn).description("changed by hand").send().await.unwrap();
    let drift = w.run(&["drift", "keys.toml"], &env).expect(2);
    assert!(drift.stdout.contains("kms_replica_key.dr") && drift.stdout.contains("description"), "{}", drift.stdout);
    assert!(!drift.stdout.contains("kms_key.primary"), "the primary did not drift: {}", drift.stdout);
    w.run(&["apply", "keys.toml", "--auto-approve"], &env).expect(0);
    w.run(&["drift", "keys.toml"], &env).expect(0);
    let meta = kms_dr.describe_key().key_id(&arn).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(meta.description(), Some("Aurora storage (DR)"));

    // Import the replica by its ARN, in its region.
    w.run(&["state", "rm", "keys.toml", "kms_replica_key.dr"], &env).expect(0);
    w.run(&["import", "keys.toml", "kms_replica_key.dr", &arn], &env).expect(0);
    // AWS never reports the deletion window (config-only): import records
    // the configured one, so nothing is planned.
    let state = std::fs::read_to_string(w.path().join("state/keys.json")).unwrap();
    assert!(state.contains("\"deletion_window_in_days\": 7"), "{state}");
    w.run(&["drift", "keys.toml"], &env).expect(0);
    let plan = w.run(&["plan", "keys.toml", "--detailed-exitcode"], &env).expect(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);

    // Both keys are guarded: destroy names both.
    let refused = w.run(&["destroy", "keys.toml", "--auto-approve"], &env).expect(1);
    assert!(
        refused.stderr.contains("kms_key.primary") && refused.stderr.contains("kms_replica_key.dr"),
        "{}",
        refused.stderr
    );
    let args = ["destroy", "keys.toml", "--auto-approve", "--allow-destroy", "kms_key.primary"];
    w.run(&[&args[..], &["--allow-destroy", "kms_replica_key.dr"]].concat(), &env).expect(0);
    for (client, key) in [(&kms_dr, &arn), (&kms, &primary_arn)] {
        let meta = client.describe_key().key_id(key).send().await.unwrap().key_metadata.unwrap();
        assert_eq!(meta.key_state(), Some(&KeyState::PendingDeletion), "{key}");
    }
}
