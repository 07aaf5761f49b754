//! `kms_key` and `db_subnet_group` against moto with the real SDK clients.
//!
//! Subnet-group description and subnet changes (ModifyDBSubnetGroup) are tested
//! with aws-smithy-mocks in `src/provider/aws/db_subnet_group.rs`: moto 5.2.5
//! drops the group on that call. Everything else is tested here.

use std::time::SystemTime;

use pgstack::addr::ResourceAddr;
use pgstack::provider::aws;
use pgstack::provider::aws::db_subnet_group::DbSubnetGroup;
use pgstack::provider::aws::kms_key::KmsKey;
use pgstack::provider::schema::Mode;
use pgstack::provider::{Ctx, ReadScope, ResourceType};
use pgstack::value::{Attrs, Value};

use crate::support::moto::{REGION, moto};
use crate::support::provider::{self, read_one, update};

const STACK: &str = "pg-test";
const MISSING_KEY: &str = "0b5c1e6a-1111-4222-8333-944455556666";

/// What the engine hands to `create` for `addr` in this test's stack.
fn desired(rt: &dyn ResourceType, addr: &ResourceAddr, set: &[(&str, Value)]) -> Attrs {
    provider::desired(rt, STACK, addr, set)
}

/// Asserts that `read` diffs clean against `desired`: every configurable,
/// non-config-only attribute the config sets has the same value.
fn assert_clean(rt: &dyn ResourceType, desired: &Attrs, read: &Attrs) {
    for at in rt.schema().attrs.iter().filter(|a| a.mode != Mode::Computed && !a.config_only) {
        if let Some(want) = desired.get(at.name) {
            assert_eq!(read.get(at.name), Some(want), "attribute {} differs after read", at.name);
        }
    }
}

fn tags(pairs: &[(&str, &str)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), Value::str(*v))).collect())
}

fn without(attrs: &Attrs, name: &str) -> Attrs {
    let mut a = attrs.clone();
    a.remove(name);
    a
}

// ---------------------------------------------------------------- kms_key

/// A policy table: root keeps full control; RDS may use the key.
fn rds_policy() -> Value {
    Value::from_json(&serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Sid": "root", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::123456789012:root" },
              "Action": "kms:*", "Resource": "*" },
            { "Sid": "rds", "Effect": "Allow", "Principal": { "AWS": "*" },
              "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
              "Condition": { "StringEquals": { "kms:ViaService": "rds.us-east-1.amazonaws.com" } } },
        ],
    }))
}

#[tokio::test]
async fn kms_key_create_read_update_drift_delete() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let raw = m.factory().kms(REGION).await;
    let addr = ResourceAddr::new("kms_key", "db");
    let want = desired(
        &KmsKey,
        &addr,
        &[
            ("description", Value::str("Aurora storage")),
            ("alias", Value::str("pg-db")),
            ("deletion_window_in_days", Value::Int(7)),
            ("tags", tags(&[("Project", "pg")])),
        ],
    );

    // Create: every computed attribute, rotation on, alias prefixed, AWS's default policy as a table.
    let created = KmsKey.create(&ctx, &want).await.expect("create");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["key_id"], created["id"]);
    assert!(created["arn"].as_str().is_some_and(|a| a.ends_with(&format!(":key/{id}"))), "{created:?}");
    assert_eq!(created["alias"], Value::str("alias/pg-db"));
    assert_eq!(created["deletion_window_in_days"], Value::Int(7));
    let default_policy = created["policy"].as_map().expect("policy is a table");
    assert!(default_policy.contains_key("Statement"), "{default_policy:?}");
    assert_clean(&KmsKey, &want, &created);

    // Read right after create gives the same attributes (the window is config-only, never read).
    let read = read_one(&KmsKey, &ctx, &id).await;
    assert_eq!(read, without(&created, "deletion_window_in_days"));
    let rotation = raw.get_key_rotation_status().key_id(&id).send().await.unwrap();
    assert!(rotation.key_rotation_enabled(), "rotation must really be on");

    // find_created: by ownership tags, only for this address and stack.
    assert_eq!(KmsKey.find_created(&ctx, &addr).await.unwrap(), Some(id.clone()));
    assert_eq!(KmsKey.find_created(&ctx, &ResourceAddr::new("kms_key", "other")).await.unwrap(), None);
    assert_eq!(KmsKey.find_created(&m.ctx(REGION, "other-stack"), &addr).await.unwrap(), None);

    // Update in place: description, rotation, alias rename, tags, policy given as a table.
    let want2 = desired(
        &KmsKey,
        &addr,
        &[
            ("description", Value::str("Aurora storage v2")),
            ("enable_key_rotation", Value::Bool(false)),
            ("alias", Value::str("alias/pg-db-v2")),
            ("deletion_window_in_days", Value::Int(7)),
            ("policy", rds_policy()),
            ("tags", tags(&[("Team", "data")])),
        ],
    );
    let updated = update(&KmsKey, &ctx, &id, &read, &want2).await.expect("update");
    assert_clean(&KmsKey, &want2, &updated);
    let read2 = read_one(&KmsKey, &ctx, &id).await;
    assert_eq!(read2, without(&updated, "deletion_window_in_days"));
    assert_clean(&KmsKey, &want2, &read2);
    assert!(!read2["tags"].as_map().unwrap().contains_key("Project"), "removed tag must be gone: {read2:?}");
    let aliases = raw.list_aliases().key_id(&id).send().await.unwrap();
    let names: Vec<_> = aliases.aliases().iter().filter_map(|a| a.alias_name()).collect();
    assert_eq!(names, vec!["alias/pg-db-v2"], "the old alias is deleted on rename");

    // The same policy as a JSON string with other key order and spelling diffs clean.
    let as_text = serde_json::to_string(&rds_policy().to_json()).unwrap();
    let want_text = desired(&KmsKey, &addr, &[("policy", Value::str(as_text))]);
    assert_eq!(want_text["policy"], read2["policy"]);

    // Out-of-band changes with the raw SDK show up in read_many.
    raw.update_key_description().key_id(&id).description("changed by hand").send().await.unwrap();
    raw.enable_key_rotation().key_id(&id).send().await.unwrap();
    let tag = aws_sdk_kms::types::Tag::builder().tag_key("Team").tag_value("ops").build().unwrap();
    raw.tag_resource().key_id(&id).tags(tag).send().await.unwrap();
    let drifted = read_one(&KmsKey, &ctx, &id).await;
    assert_eq!(drifted["description"], Value::str("changed by hand"));
    assert_eq!(drifted["enable_key_rotation"], Value::Bool(true));
    assert_eq!(drifted["tags"].as_map().unwrap()["Team"], Value::str("ops"));

    // Delete: alias removed first, key pending deletion after the requested window, then gone.
    KmsKey.delete(&ctx, &id, &updated).await.expect("delete");
    let meta = raw.describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(meta.key_state(), Some(&aws_sdk_kms::types::KeyState::PendingDeletion));
    let deletion = meta.deletion_date().expect("a deletion date").secs();
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    let window = 7 * 86_400;
    assert!((deletion - now - window).abs() < 3_600, "deletion in 7 days, got {}s from now", deletion - now);
    let aliases = raw.list_aliases().key_id(&id).send().await.unwrap();
    assert!(aliases.aliases().is_empty(), "alias must be deleted: {aliases:?}");
    assert!(KmsKey.read_many(&ctx, std::slice::from_ref(&id), &ReadScope::All).await.unwrap().is_empty());
    assert_eq!(KmsKey.find_created(&ctx, &addr).await.unwrap(), None, "a key pending deletion is not adopted");
    KmsKey.delete(&ctx, &id, &updated).await.expect("deleting a key pending deletion again is a no-op");
}

#[tokio::test]
async fn kms_key_import_reads_canonical_attrs_and_skips_missing() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let raw = m.factory().kms(REGION).await;
    let tag = aws_sdk_kms::types::Tag::builder().tag_key("Owner").tag_value("dba").build().unwrap();
    let made = raw
        .create_key()
        .description("made by hand")
        .key_usage(aws_sdk_kms::types::KeyUsageType::EncryptDecrypt)
        .tags(tag)
        .send()
        .await
        .unwrap();
    let id = made.key_metadata().unwrap().key_id().to_owned();
    raw.enable_key_rotation().key_id(&id).send().await.unwrap();
    raw.create_alias().alias_name("alias/imported").target_key_id(&id).send().await.unwrap();

    let got = KmsKey.read_many(&ctx, &[id.clone(), MISSING_KEY.to_owned()], &ReadScope::All).await.expect("read_many");
    assert_eq!(got.keys().collect::<Vec<_>>(), vec![&id], "the missing key is omitted, not an error");
    let attrs = &got[&id];
    assert_eq!(attrs["id"], Value::str(&id));
    assert_eq!(attrs["alias"], Value::str("alias/imported"));
    assert!(attrs.get("deletion_window_in_days").is_none());

    // A config describing the key by hand (policy left unmanaged) diffs clean against the import.
    let config = desired(
        &KmsKey,
        &ResourceAddr::new("kms_key", "imported"),
        &[("description", Value::str("made by hand")), ("alias", Value::str("imported"))],
    );
    let mut config = without(&config, "tags");
    config.insert("tags".into(), tags(&[("Owner", "dba")]));
    assert_clean(&KmsKey, &config, attrs);

    // A key can also be imported by its alias.
    let by_alias = read_one(&KmsKey, &ctx, "alias/imported").await;
    assert_eq!(by_alias["id"], Value::str(&id));
}

/// A replacement key for the same address takes the alias over; deleting the
/// old key leaves it alone; another address's key may not take it.
#[tokio::test]
async fn kms_alias_moves_only_to_a_replacement_of_the_same_address() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let raw = m.factory().kms(REGION).await;
    let addr = ResourceAddr::new("kms_key", "db");
    let want = desired(&KmsKey, &addr, &[("alias", Value::str("pg"))]);
    let old = KmsKey.create(&ctx, &want).await.expect("create old");
    // A replacement differs in an attribute that replaces (a key like the
    // old one holding the alias would be adopted: an interrupted create).
    let replacement = desired(&KmsKey, &addr, &[("alias", Value::str("pg")), ("multi_region", Value::Bool(true))]);
    let new = KmsKey.create(&ctx, &replacement).await.expect("create replacement");
    assert_ne!(new["id"], old["id"]);
    let target = |out: aws_sdk_kms::operation::list_aliases::ListAliasesOutput| {
        out.aliases()
            .iter()
            .find(|a| a.alias_name() == Some("alias/pg"))
            .and_then(|a| a.target_key_id())
            .map(str::to_owned)
    };
    assert_eq!(target(raw.list_aliases().send().await.unwrap()), new["id"].as_str().map(str::to_owned));

    KmsKey.delete(&ctx, old["id"].as_str().unwrap(), &old).await.expect("delete old");
    assert_eq!(
        target(raw.list_aliases().send().await.unwrap()),
        new["id"].as_str().map(str::to_owned),
        "deleting the replaced key must not delete the alias its replacement now holds"
    );

    let other = desired(&KmsKey, &ResourceAddr::new("kms_key", "other"), &[("alias", Value::str("pg"))]);
    let err = KmsKey.create(&ctx, &other).await.expect_err("the alias belongs to another address");
    assert!(err.to_string().contains("alias/pg"), "{err}");
    assert_eq!(target(raw.list_aliases().send().await.unwrap()), new["id"].as_str().map(str::to_owned));
}

// -------------------------------------------------------- db_subnet_group

/// A VPC with three subnets; returns (vpc id, subnet ids).
async fn network(ctx: &Ctx) -> (String, Vec<String>) {
    let ec2 = aws::factory(ctx).expect("AWS clients").ec2(REGION).await;
    let vpc = ec2.create_vpc().cidr_block("10.20.0.0/16").send().await.unwrap();
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_owned();
    let mut subnets = Vec::new();
    for (i, az) in ["us-east-1a", "us-east-1b", "us-east-1c"].iter().enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("10.20.{i}.0/24"))
            .availability_zone(*az)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().and_then(|s| s.subnet_id()).unwrap().to_owned());
    }
    (vpc_id, subnets)
}

fn str_list(items: &[&String]) -> Value {
    Value::List(items.iter().map(|s| Value::str(s.as_str())).collect())
}

#[tokio::test]
async fn db_subnet_group_create_read_tags_delete() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let raw = m.factory().rds(REGION).await;
    let (vpc_id, subnets) = network(&ctx).await;
    let addr = ResourceAddr::new("db_subnet_group", "main");
    let want = desired(
        &DbSubnetGroup,
        &addr,
        &[
            ("name", Value::str("PG-Main")),
            ("subnet_ids", str_list(&[&subnets[1], &subnets[0]])),
            ("tags", tags(&[("Project", "pg")])),
        ],
    );

    let created = DbSubnetGroup.create(&ctx, &want).await.expect("create");
    assert_eq!(created["id"], Value::str("pg-main"), "AWS lowercases the name; so does normalize");
    assert_eq!(created["vpc_id"], Value::str(&vpc_id));
    assert!(created["arn"].as_str().is_some_and(|a| a.ends_with(":subgrp:pg-main")), "{created:?}");
    let mut sorted = vec![subnets[0].clone(), subnets[1].clone()];
    sorted.sort();
    assert_eq!(created["subnet_ids"], Value::from(sorted));
    assert_clean(&DbSubnetGroup, &want, &created);
    assert_eq!(read_one(&DbSubnetGroup, &ctx, "pg-main").await, created);

    assert_eq!(DbSubnetGroup.find_created(&ctx, &addr).await.unwrap(), Some("pg-main".to_owned()));
    assert_eq!(DbSubnetGroup.find_created(&ctx, &ResourceAddr::new("db_subnet_group", "x")).await.unwrap(), None);

    // Tags change in place (description and subnets: see the mocks tests).
    let want2 = desired(
        &DbSubnetGroup,
        &addr,
        &[
            ("name", Value::str("pg-main")),
            ("subnet_ids", want["subnet_ids"].clone()),
            ("tags", tags(&[("Team", "data")])),
        ],
    );
    let updated = update(&DbSubnetGroup, &ctx, "pg-main", &created, &want2).await.expect("update");
    assert_clean(&DbSubnetGroup, &want2, &updated);
    let read2 = read_one(&DbSubnetGroup, &ctx, "pg-main").await;
    assert_eq!(read2, updated);
    assert!(!read2["tags"].as_map().unwrap().contains_key("Project"));

    // Out-of-band tag change is visible.
    let arn = created["arn"].as_str().unwrap();
    let tag = aws_sdk_rds::types::Tag::builder().key("Team").value("ops").build();
    raw.add_tags_to_resource().resource_name(arn).tags(tag).send().await.unwrap();
    assert_eq!(read_one(&DbSubnetGroup, &ctx, "pg-main").await["tags"].as_map().unwrap()["Team"], Value::str("ops"));

    DbSubnetGroup.delete(&ctx, "pg-main", &updated).await.expect("delete");
    let left = raw.describe_db_subnet_groups().send().await.unwrap();
    assert!(left.db_subnet_groups().iter().all(|g| g.db_subnet_group_name() != Some("pg-main")));
    assert!(DbSubnetGroup.read_many(&ctx, &["pg-main".to_owned()], &ReadScope::All).await.unwrap().is_empty());
    DbSubnetGroup.delete(&ctx, "pg-main", &updated).await.expect("deleting a missing group succeeds");
}

#[tokio::test]
async fn db_subnet_group_import_reads_canonical_attrs_and_skips_missing() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let raw = m.factory().rds(REGION).await;
    let (vpc_id, subnets) = network(&ctx).await;
    raw.create_db_subnet_group()
        .db_subnet_group_name("handmade")
        .db_subnet_group_description("made by hand")
        .subnet_ids(&subnets[2])
        .subnet_ids(&subnets[0])
        .tags(aws_sdk_rds::types::Tag::builder().key("Owner").value("dba").build())
        .send()
        .await
        .unwrap();

    let got =
        DbSubnetGroup.read_many(&ctx, &["handmade".to_owned(), "missing".to_owned()], &ReadScope::All).await.unwrap();
    assert_eq!(got.keys().collect::<Vec<_>>(), vec!["handmade"], "the missing group is omitted, not an error");
    let attrs = &got["handmade"];
    assert_eq!(attrs["vpc_id"], Value::str(&vpc_id));
    assert_eq!(attrs["tags"], tags(&[("Owner", "dba")]));

    let mut config = desired(
        &DbSubnetGroup,
        &ResourceAddr::new("db_subnet_group", "handmade"),
        &[
            ("name", Value::str("HandMade")),
            ("description", Value::str("made by hand")),
            ("subnet_ids", str_list(&[&subnets[0], &subnets[2]])),
        ],
    );
    config.insert("tags".into(), tags(&[("Owner", "dba")]));
    assert_clean(&DbSubnetGroup, &config, attrs);
}

/// From ten keys in a region, a refresh reads their tags from the tagging
/// index: two KMS calls a key (DescribeKey, GetKeyRotationStatus) and one
/// GetResources, no ListResourceTags; a tag changed outside pgstack is
/// still seen as drift.
#[tokio::test(flavor = "multi_thread")]
async fn many_keys_refresh_with_two_calls_each_and_tag_drift_is_still_seen() {
    let m = moto();
    let env = m.env();
    let w = crate::support::cli::Workdir::new();
    let mut text = String::from("[stack]\nname = \"keys\"\nregion = \"us-east-1\"\n");
    let n = aws::kms::INDEXED_TAGS_FROM;
    for i in 0..n {
        text.push_str(&format!("\n[kms_key.k{i}]\ndescription = \"key {i}\"\ntags = {{ Team = \"db\" }}\n"));
    }
    w.write("keys.toml", &text);
    w.run(&["apply", "keys.toml", "--auto-approve", "--skip-checks"], &env).expect(0);
    let plan = w.run(&["plan", "keys.toml", "-v", "--detailed-exitcode"], &env).expect(0);
    let ops = plan.stderr.lines().find(|l| l.starts_with("AWS API operations:")).expect("-v prints the operations");
    let count = |op: &str| {
        ops.split([':', ',']).map(str::trim).find_map(|kv| kv.strip_prefix(&format!("{op}="))?.parse::<usize>().ok())
    };
    assert_eq!(count("DescribeKey"), Some(n), "{ops}");
    assert_eq!(count("GetKeyRotationStatus"), Some(n), "{ops}");
    assert_eq!(count("GetResources"), Some(1), "{ops}");
    assert_eq!(count("ListResourceTags"), None, "{ops}");

    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path().join("state/keys.json")).unwrap()).unwrap();
    let k3 = state["resources"].as_array().unwrap().iter().find(|r| r["address"] == "kms_key.k3").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kms = m.factory().kms(REGION).await;
    let tag = aws_sdk_kms::types::Tag::builder().tag_key("Team").tag_value("ops").build().unwrap();
    kms.tag_resource().key_id(&k3).tags(tag).send().await.unwrap();
    let drift = w.run(&["plan", "keys.toml", "--detailed-exitcode"], &env).expect(2);
    assert!(drift.stdout.contains("kms_key.k3") && drift.stdout.contains("\"ops\""), "{}", drift.stdout);
    assert!(!drift.stdout.contains("kms_key.k4 will"), "only the changed key: {}", drift.stdout);
}
