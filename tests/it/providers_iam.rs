//! `iam_role` against moto: create and read back (policies URL-decoded and
//! compared by meaning), reads that call only what the config manages,
//! in-place updates of every part, out-of-band changes seen on refresh, the
//! ownership lookup (escaped address tag), delete with policies attached out
//! of band; through the CLI: apply, a JSON-string policy that plans clean
//! against the same TOML table, the "role policy edited" drift repaired by
//! apply, import and destroy.

use std::collections::{BTreeMap, BTreeSet};

use pgstack::addr::ResourceAddr;
use pgstack::provider::aws::iam_role::IamRole;
use pgstack::provider::schema::TAG_ADDRESS;
use pgstack::provider::{ReadScope, ResourceType};
use pgstack::value::Value;

use crate::support::cli::Workdir;
use crate::support::moto::{REGION, moto};
use crate::support::provider::{assert_clean, calls_during, changes, counts, desired, read_one, strs, update};

const STACK: &str = "iam";

fn json(v: serde_json::Value) -> Value {
    Value::from_json(&v)
}

fn trust(services: &[&str]) -> Value {
    json(serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": { "Service": services } }],
    }))
}

fn s3_policy(actions: &[&str]) -> Value {
    json(serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Action": actions, "Resource": ["arn:aws:s3:::pg-backups/*"] }],
    }))
}

fn inline(pairs: &[(&str, Value)]) -> Value {
    Value::List(
        pairs
            .iter()
            .map(|(n, p)| {
                Value::Map(BTreeMap::from([("name".to_owned(), Value::str(*n)), ("policy".to_owned(), p.clone())]))
            })
            .collect(),
    )
}

fn tags(pairs: &[(&str, &str)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), Value::str(*v))).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_role_lifecycle() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let iam = m.factory().iam(REGION).await;
    let mut arns = Vec::new();
    for name in ["pg-read", "pg-write"] {
        let doc = pgstack::provider::aws::policy::to_json(&s3_policy(&["s3:GetObject"]));
        let p = iam.create_policy().policy_name(name).policy_document(doc).send().await.unwrap();
        arns.push(p.policy().and_then(|p| p.arn()).unwrap().to_owned());
    }
    let r = IamRole;
    // A repeated resource: its address tag needs escaping for IAM.
    let addr: ResourceAddr = r#"iam_role.replication["dr"]"#.parse().unwrap();
    // One policy as a table, one as a JSON string with other spacing, key order and one-element lists.
    let kms_text = r#"{ "Statement": [ { "Resource": "*", "Action": ["kms:Decrypt"], "Effect": "Allow" } ],
                       "Version": "2012-10-17" }"#;
    let want = desired(
        &r,
        STACK,
        &addr,
        &[
            ("name", Value::str("pg-replication")),
            ("description", Value::str("S3 replication")),
            ("assume_role_policy", trust(&["s3.amazonaws.com"])),
            (
                "inline_policy",
                inline(&[("replicate", s3_policy(&["s3:ReplicateObject"])), ("kms", Value::str(kms_text))]),
            ),
            ("managed_policy_arns", strs(&[&arns[0]])),
            ("tags", tags(&[("Team", "db")])),
        ],
    );

    let created = r.create(&ctx, &want).await.expect("create");
    assert_eq!(created["id"], Value::str("pg-replication"));
    assert!(created["arn"].as_str().is_some_and(|a| a.ends_with(":role/pg-replication")), "{created:?}");
    assert!(created["unique_id"].as_str().is_some_and(|u| !u.is_empty()));
    assert_clean(&r, &created, &want);
    let (read, calls) = calls_during(&m, "iam", read_one(&r, &ctx, "pg-replication")).await;
    assert_eq!(read, created, "a read right after create is what create returned");
    assert_eq!(
        calls,
        counts(&[("GetRole", 1), ("ListRolePolicies", 1), ("GetRolePolicy", 2), ("ListAttachedRolePolicies", 1)])
    );
    // Only GetRole when the config manages neither policy list (tags come with GetRole).
    let scope = ReadScope::Only(BTreeSet::from(["name".to_owned(), "tags".to_owned()]));
    let (scoped, calls) = calls_during(&m, "iam", r.read_many(&ctx, &["pg-replication".to_owned()], &scope)).await;
    let scoped = scoped.unwrap();
    assert_eq!(calls, counts(&[("GetRole", 1)]));
    assert!(!scoped["pg-replication"].contains_key("inline_policy"), "not read, not reported");
    assert_eq!(scoped["pg-replication"]["tags"], created["tags"]);

    // What IAM holds: the escaped address tag, the trust policy, both inline policies.
    let role = iam.get_role().role_name("pg-replication").send().await.unwrap().role.unwrap();
    let tag = role.tags().iter().find(|t| t.key() == TAG_ADDRESS).unwrap();
    assert_eq!(tag.value(), "iam_role.replication=5B=22dr=22=5D");
    let names = iam.list_role_policies().role_name("pg-replication").send().await.unwrap();
    let mut names = names.policy_names().to_vec();
    names.sort();
    assert_eq!(names, ["kms", "replicate"]);

    assert_eq!(r.find_created(&ctx, &addr).await.unwrap().as_deref(), Some("pg-replication"));
    assert_eq!(r.find_created(&ctx, &"iam_role.replication".parse().unwrap()).await.unwrap(), None);
    assert_eq!(r.find_created(&m.ctx(REGION, "other"), &addr).await.unwrap(), None);
    // IAM is global: a client for another region finds and reads the same role.
    let west = m.ctx("us-west-2", STACK);
    assert_eq!(r.find_created(&west, &addr).await.unwrap().as_deref(), Some("pg-replication"));
    assert_eq!(read_one(&r, &west, "pg-replication").await, created);

    // In place: every updatable part at once.
    let next = desired(
        &r,
        STACK,
        &addr,
        &[
            ("name", Value::str("pg-replication")),
            ("description", Value::str("S3 replication to the DR region")),
            ("assume_role_policy", trust(&["s3.amazonaws.com", "batchoperations.s3.amazonaws.com"])),
            (
                "inline_policy",
                inline(&[
                    ("replicate", s3_policy(&["s3:ReplicateObject", "s3:ReplicateDelete"])),
                    ("extra", s3_policy(&["s3:GetObjectVersion"])),
                ]),
            ),
            ("managed_policy_arns", strs(&[&arns[1]])),
            ("max_session_duration", Value::Int(7200)),
            ("tags", tags(&[("Team", "data")])),
        ],
    );
    assert_eq!(
        changes(&r, &read, &next),
        ["assume_role_policy", "description", "inline_policy", "managed_policy_arns", "max_session_duration", "tags"]
    );
    let updated = update(&r, &ctx, "pg-replication", &read, &next).await.expect("update");
    assert_clean(&r, &updated, &next);
    let read2 = read_one(&r, &ctx, "pg-replication").await;
    assert_clean(&r, &read2, &next);
    assert_eq!(read2, updated);
    let names = iam.list_role_policies().role_name("pg-replication").send().await.unwrap();
    let mut names = names.policy_names().to_vec();
    names.sort();
    assert_eq!(names, ["extra", "replicate"], "kms deleted, extra added");
    let attached = iam.list_attached_role_policies().role_name("pg-replication").send().await.unwrap();
    let attached: Vec<_> = attached.attached_policies().iter().filter_map(|p| p.policy_arn()).collect();
    assert_eq!(attached, [arns[1].as_str()]);

    // Out of band: a policy edited, a managed policy attached, a tag added.
    let edited = pgstack::provider::aws::policy::to_json(&s3_policy(&["s3:*"]));
    iam.put_role_policy()
        .role_name("pg-replication")
        .policy_name("replicate")
        .policy_document(edited)
        .send()
        .await
        .unwrap();
    iam.attach_role_policy().role_name("pg-replication").policy_arn(&arns[0]).send().await.unwrap();
    iam.tag_role()
        .role_name("pg-replication")
        .tags(aws_sdk_iam::types::Tag::builder().key("Owner").value("someone").build().unwrap())
        .send()
        .await
        .unwrap();
    let seen = read_one(&r, &ctx, "pg-replication").await;
    assert_eq!(changes(&r, &seen, &next), ["inline_policy", "managed_policy_arns", "tags"]);

    // Delete detaches and deletes what IAM lists now, out-of-band additions included.
    r.delete(&ctx, "pg-replication", &updated).await.expect("delete");
    r.delete(&ctx, "pg-replication", &updated).await.expect("deleting a deleted role is fine");
    assert!(iam.get_role().role_name("pg-replication").send().await.is_err());
    assert!(r.read_many(&ctx, &["pg-replication".to_owned()], &ReadScope::All).await.unwrap().is_empty());
    assert_eq!(r.find_created(&ctx, &addr).await.unwrap(), None);
}

/// A stack with one role; its inline policy given by `replicate_policy`.
fn stack(replicate_policy: &str) -> String {
    format!(
        r#"[stack]
name = "iam"
region = "us-east-1"

[iam_role.replication]
name = "pg-replication"
description = "S3 replication"
assume_role_policy = {{ Version = "2012-10-17", Statement = [{{ Effect = "Allow", Action = "sts:AssumeRole", Principal = {{ Service = "s3.amazonaws.com" }} }}] }}
inline_policy = [{{ name = "replicate", policy = {replicate_policy} }}]
"#
    )
}

const AS_TABLE: &str = r#"{ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = ["s3:ReplicateObject", "s3:GetReplicationConfiguration"], Resource = "arn:aws:s3:::pg-backups" }] }"#;
/// The same policy as JSON text: keys in another order, other whitespace,
/// the actions in another order, the resource as a one-element list, the
/// statement as a lone object.
const AS_JSON: &str = r#"'''
{
  "Statement": {
    "Resource": [ "arn:aws:s3:::pg-backups" ],
    "Action":   [ "s3:GetReplicationConfiguration", "s3:ReplicateObject" ],
    "Effect":   "Allow"
  },
  "Version": "2012-10-17"
}'''"#;

#[tokio::test(flavor = "multi_thread")]
async fn iam_role_applies_plans_clean_drifts_imports_and_destroys() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.write("iam.toml", &stack(AS_TABLE));
    w.run(&["apply", "iam.toml", "--auto-approve"], &env).expect(0);
    w.run(&["plan", "iam.toml", "--detailed-exitcode"], &env).expect(0);

    // The same policy written as a JSON string plans clean.
    w.write("iam.toml", &stack(AS_JSON));
    let plan = w.run(&["plan", "iam.toml", "--detailed-exitcode"], &env).expect(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);

    // "Role policy edited": PutRolePolicy out of band with a changed document.
    let iam = m.factory().iam(REGION).await;
    let edited = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    iam.put_role_policy()
        .role_name("pg-replication")
        .policy_name("replicate")
        .policy_document(edited)
        .send()
        .await
        .unwrap();
    let drift = w.run(&["drift", "iam.toml"], &env).expect(2);
    assert!(
        drift.stdout.contains("iam_role.replication") && drift.stdout.contains("inline_policy"),
        "{}",
        drift.stdout
    );
    w.run(&["apply", "iam.toml", "--auto-approve"], &env).expect(0);
    w.run(&["drift", "iam.toml"], &env).expect(0);
    let doc = iam.get_role_policy().role_name("pg-replication").policy_name("replicate").send().await.unwrap();
    let doc = pgstack::provider::aws::policy::from_aws(doc.policy_document());
    let want = pgstack::provider::aws::policy::canonical(&Value::str(AS_JSON.trim_matches('\''))).unwrap();
    assert_eq!(doc, want, "apply put the configured document back");

    w.run(&["state", "rm", "iam.toml", "iam_role.replication"], &env).expect(0);
    w.run(&["import", "iam.toml", "iam_role.replication", "pg-replication"], &env).expect(0);
    let plan = w.run(&["plan", "iam.toml", "--detailed-exitcode"], &env).expect(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
    w.run(&["drift", "iam.toml"], &env).expect(0);

    w.run(&["destroy", "iam.toml", "--auto-approve"], &env).expect(0);
    assert!(iam.list_roles().send().await.unwrap().roles().is_empty(), "destroy leaves no role");
}
