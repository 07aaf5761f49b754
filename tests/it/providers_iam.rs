//! `iam_role` against moto: create and read back (policies URL-decoded and
//! compared by meaning), reads that call only what the config manages,
//! in-place updates of every part, out-of-band changes seen on refresh, the
//! ownership lookup (escaped address tag), delete with policies attached out
//! of band; through the CLI: apply, a JSON-string policy that plans clean
//! against the same TOML table, the "role policy edited" drift repaired by
//! apply, import and destroy. `iam_policy` likewise: versions rolled over
//! past IAM's five, roles attached and detached exclusively, the ownership
//! lookup, drift, import and a delete of a policy attached out of band.

use std::collections::{BTreeMap, BTreeSet};

use pgstack::addr::ResourceAddr;
use pgstack::provider::aws::iam_policy::IamPolicy;
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

/// `rds-db:connect` for one database user, as the aurora-postgres module grants it.
fn connect_policy(user: &str) -> Value {
    json(serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": "rds-db:connect",
            "Resource": format!("arn:aws:rds-db:us-east-1:123456789012:dbuser:cluster-ABC/{user}"),
        }],
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_policy_lifecycle() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let iam = m.factory().iam(REGION).await;
    for role in ["app", "analytics"] {
        let trust = pgstack::provider::aws::policy::to_json(&trust(&["ec2.amazonaws.com"]));
        iam.create_role().role_name(role).assume_role_policy_document(trust).send().await.unwrap();
    }
    let t = IamPolicy;
    let addr: ResourceAddr = "iam_policy.connect".parse().unwrap();
    let with = |user: &str, roles: &[&str]| {
        let mut d = desired(
            &t,
            STACK,
            &addr,
            &[
                ("name", Value::str("pg-connect")),
                ("description", Value::str("IAM database authentication")),
                ("policy", connect_policy(user)),
                ("roles", strs(roles)),
                ("tags", tags(&[("Team", "db")])),
            ],
        );
        t.normalize(&mut d);
        d
    };
    let want = with("app_service", &["app"]);
    let created = t.create(&ctx, &want).await.unwrap();
    let arn = created["id"].as_str().unwrap().to_owned();
    assert!(arn.ends_with(":policy/pg-connect"), "{arn}");
    assert_clean(&t, &created, &want);
    assert_clean(&t, &read_one(&t, &ctx, &arn).await, &want);
    assert_eq!(t.find_created(&ctx, &addr).await.unwrap().as_deref(), Some(arn.as_str()));
    assert_eq!(t.find_created(&ctx, &"iam_policy.other".parse().unwrap()).await.unwrap(), None);

    // Six new documents: IAM keeps five versions, the oldest goes each time.
    let mut prior = created;
    for user in ["u1", "u2", "u3", "u4", "u5", "readonly_analytics"] {
        let next = with(user, &["app"]);
        assert_eq!(changes(&t, &prior, &next), vec!["policy"]);
        prior = update(&t, &ctx, &arn, &prior, &next).await.unwrap();
        assert_clean(&t, &prior, &next);
    }
    let versions = iam.list_policy_versions().policy_arn(&arn).send().await.unwrap();
    assert_eq!(versions.versions().len(), 5, "{versions:?}");

    // Roles are exclusive: one attached, the other detached.
    let next = with("readonly_analytics", &["analytics"]);
    assert_eq!(changes(&t, &prior, &next), vec!["roles"]);
    prior = update(&t, &ctx, &arn, &prior, &next).await.unwrap();
    assert_clean(&t, &read_one(&t, &ctx, &arn).await, &next);
    let attached = |role: &'static str| {
        let iam = iam.clone();
        async move {
            let out = iam.list_attached_role_policies().role_name(role).send().await.unwrap();
            out.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_owned)).collect::<Vec<_>>()
        }
    };
    assert!(attached("app").await.is_empty());
    assert_eq!(attached("analytics").await, std::slice::from_ref(&arn));

    // Out of band: attached to another role too; refresh sees it.
    iam.attach_role_policy().role_name("app").policy_arn(&arn).send().await.unwrap();
    let seen = read_one(&t, &ctx, &arn).await;
    assert_eq!(changes(&t, &seen, &next), vec!["roles"]);
    // Roles are read only when the config manages them.
    let scoped =
        t.read_many(&ctx, std::slice::from_ref(&arn), &ReadScope::Only(["policy".to_owned()].into())).await.unwrap();
    assert!(!scoped[&arn].contains_key("roles") && !scoped[&arn].contains_key("tags"));

    // Delete detaches it from every role first (the one attached out of band too).
    t.delete(&ctx, &arn, &prior).await.unwrap();
    t.delete(&ctx, &arn, &prior).await.unwrap();
    assert!(t.read_many(&ctx, std::slice::from_ref(&arn), &ReadScope::All).await.unwrap().is_empty());
    assert!(attached("app").await.is_empty() && attached("analytics").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_policy_applies_plans_clean_drifts_imports_and_destroys() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    let stack = "[stack]\nname = \"iam\"\nregion = \"us-east-1\"\n\n\
                 [iam_role.app]\nname = \"app\"\nassume_role_policy = { Version = \"2012-10-17\", Statement = [\
                 { Effect = \"Allow\", Action = \"sts:AssumeRole\", Principal = { Service = \"ec2.amazonaws.com\" } }] }\n\n\
                 [iam_policy.connect]\nname = \"pg-connect\"\npolicy = { Version = \"2012-10-17\", Statement = [\
                 { Effect = \"Allow\", Action = \"rds-db:connect\", Resource = \"arn:aws:rds-db:us-east-1:123456789012:dbuser:cluster-ABC/app_service\" }] }\n\
                 roles = [\"${iam_role.app.name}\"]\n";
    w.write("iam.toml", stack);
    w.run(&["apply", "iam.toml", "--auto-approve"], &env).expect(0);
    w.run(&["plan", "iam.toml", "--detailed-exitcode"], &env).expect(0);
    let arn = crate::support::cli::state_id(&w.path().join("state/iam.json"), "iam_policy.connect");

    // A new default version made out of band is drift, which apply repairs.
    let iam = m.factory().iam(REGION).await;
    let edited =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds-db:connect","Resource":"*"}]}"#;
    iam.create_policy_version().policy_arn(&arn).policy_document(edited).set_as_default(true).send().await.unwrap();
    let drift = w.run(&["drift", "iam.toml"], &env).expect(2);
    assert!(drift.stdout.contains("iam_policy.connect") && drift.stdout.contains("policy"), "{}", drift.stdout);
    w.run(&["apply", "iam.toml", "--auto-approve"], &env).expect(0);
    w.run(&["drift", "iam.toml"], &env).expect(0);

    w.run(&["state", "rm", "iam.toml", "iam_policy.connect"], &env).expect(0);
    w.run(&["import", "iam.toml", "iam_policy.connect", &arn], &env).expect(0);
    let plan = w.run(&["plan", "iam.toml", "--detailed-exitcode"], &env).expect(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);

    w.run(&["destroy", "iam.toml", "--auto-approve"], &env).expect(0);
    let left = iam.list_policies().scope(aws_sdk_iam::types::PolicyScopeType::Local).send().await.unwrap();
    assert!(left.policies().is_empty(), "destroy leaves no policy");
}
