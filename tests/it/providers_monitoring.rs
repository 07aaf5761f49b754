//! `sns_topic` against moto: create and read back, in-place updates, an
//! out-of-band change seen on refresh, the ownership lookup, import through
//! the CLI, delete, and reads of missing topics.

use pgstack::addr::ResourceAddr;
use pgstack::provider::aws::sns_topic::SnsTopic;
use pgstack::provider::{ReadScope, ResourceType};
use pgstack::value::Value;

use crate::support::cli::Workdir;
use crate::support::moto::{REGION, moto};
use crate::support::provider::{assert_clean, changes, desired, read_one, update};

const STACK: &str = "mon";

#[tokio::test(flavor = "multi_thread")]
async fn sns_topic_lifecycle() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let t = SnsTopic;
    let addr: ResourceAddr = "sns_topic.alarms".parse().unwrap();
    let want = desired(
        &t,
        STACK,
        &addr,
        &[("name", Value::str("pg-alarms")), ("kms_master_key_id", Value::str("alias/aws/sns"))],
    );
    let created = t.create(&ctx, &want).await.unwrap();
    let arn = created["id"].as_str().unwrap().to_owned();
    assert!(arn.ends_with(":pg-alarms"), "{arn}");
    assert_clean(&t, &created, &want);
    assert_clean(&t, &read_one(&t, &ctx, &arn).await, &want);
    assert_eq!(t.find_created(&ctx, &addr).await.unwrap().as_deref(), Some(arn.as_str()));
    assert_eq!(t.find_created(&ctx, &"sns_topic.other".parse().unwrap()).await.unwrap(), None);

    // In place: a new key and a changed tag set.
    let mut next = desired(
        &t,
        STACK,
        &addr,
        &[
            ("name", Value::str("pg-alarms")),
            ("kms_master_key_id", Value::str("alias/other")),
            (
                "tags",
                Value::from(
                    [("Team".to_owned(), "db".to_owned())].into_iter().collect::<std::collections::BTreeMap<_, _>>(),
                ),
            ),
        ],
    );
    t.normalize(&mut next);
    assert_eq!(changes(&t, &created, &next), vec!["kms_master_key_id", "tags"]);
    let updated = update(&t, &ctx, &arn, &created, &next).await.unwrap();
    assert_clean(&t, &updated, &next);
    assert_clean(&t, &read_one(&t, &ctx, &arn).await, &next);

    // Out of band: the key is removed; refresh sees it.
    let sns = m.factory().sns(REGION).await;
    sns.set_topic_attributes()
        .topic_arn(&arn)
        .attribute_name("KmsMasterKeyId")
        .attribute_value("")
        .send()
        .await
        .unwrap();
    let seen = read_one(&t, &ctx, &arn).await;
    assert_eq!(changes(&t, &seen, &next), vec!["kms_master_key_id"]);
    // Tags are read only when the config manages them.
    let scoped =
        t.read_many(&ctx, std::slice::from_ref(&arn), &ReadScope::Only(["name".to_owned()].into())).await.unwrap();
    assert!(!scoped[&arn].contains_key("tags"));

    t.delete(&ctx, &arn, &seen).await.unwrap();
    t.delete(&ctx, &arn, &seen).await.unwrap();
    assert!(t.read_many(&ctx, std::slice::from_ref(&arn), &ReadScope::All).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn sns_topic_applies_plans_clean_drifts_imports_and_destroys() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    let stack = "[stack]\nname = \"mon\"\nregion = \"us-east-1\"\n\n[sns_topic.alarms]\nname = \"pg-alarms\"\n";
    w.write("mon.toml", stack);
    w.run(&["apply", "mon.toml", "--auto-approve"], &env).expect(0);
    w.run(&["plan", "mon.toml", "--detailed-exitcode"], &env).expect(0);
    let sns = m.factory().sns(REGION).await;
    let arn = sns.list_topics().send().await.unwrap().topics()[0].topic_arn().unwrap().to_owned();
    sns.tag_resource()
        .resource_arn(&arn)
        .tags(aws_sdk_sns::types::Tag::builder().key("Owner").value("someone").build().unwrap())
        .send()
        .await
        .unwrap();
    let drift = w.run(&["drift", "mon.toml"], &env).expect(2);
    assert!(drift.stdout.contains("sns_topic.alarms") && drift.stdout.contains("Owner"), "{}", drift.stdout);

    // Import into a second stack after the first lets go of it.
    w.run(&["state", "rm", "mon.toml", "sns_topic.alarms"], &env).expect(0);
    w.run(&["import", "mon.toml", "sns_topic.alarms", &arn], &env).expect(0);
    w.run(&["apply", "mon.toml", "--auto-approve"], &env).expect(0);
    w.run(&["drift", "mon.toml"], &env).expect(0);
    w.run(&["destroy", "mon.toml", "--auto-approve"], &env).expect(0);
    assert!(sns.list_topics().send().await.unwrap().topics().is_empty());
}

/// PRODUCT: names are optional where Terraform's are; the default comes from
/// the stack name and the address, is valid for the type, and is stable
/// (a second plan is clean).
#[tokio::test(flavor = "multi_thread")]
async fn unnamed_resources_get_names_from_the_stack_and_address() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    let stack = "[stack]\nname = \"Shop-Prod\"\nregion = \"us-east-1\"\n\n\
                 [sns_topic.alerts]\n\n\
                 [vpc.main]\ncidr_block = \"10.9.0.0/16\"\n\n\
                 [security_group.db]\nvpc_id = \"${vpc.main.id}\"\n\n\
                 [secret.app]\ngenerate_password = { length = 16 }\n\n\
                 [output.group]\nvalue = \"${security_group.db.name}\"\n";
    w.write("names.toml", stack);
    let applied = w.run(&["apply", "names.toml", "--skip-checks", "--auto-approve"], &env).expect(0);
    assert!(applied.stdout.contains("group = \"Shop-Prod-db\""), "{}", applied.stdout);
    w.run(&["plan", "names.toml", "--detailed-exitcode"], &env).expect(0);
    let sns = m.factory().sns(REGION).await;
    let topics = sns.list_topics().send().await.unwrap();
    assert!(topics.topics()[0].topic_arn().unwrap().ends_with(":Shop-Prod-alerts"), "{topics:?}");
    let sm = m.factory().secretsmanager(REGION).await;
    let secrets = sm.list_secrets().send().await.unwrap();
    assert_eq!(secrets.secret_list()[0].name(), Some("Shop-Prod-app"));
    w.run(&["destroy", "names.toml", "--auto-approve", "--allow-destroy", "secret.app"], &env).expect(0);
}
