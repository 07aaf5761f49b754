//! `sns_topic` and `sns_topic_subscription` against moto: create and read
//! back, in-place updates, an out-of-band change seen on refresh, the
//! ownership lookup, import through the CLI, delete, and reads of missing
//! topics and subscriptions.

use pgstack::addr::ResourceAddr;
use pgstack::provider::aws::sns_topic::SnsTopic;
use pgstack::provider::aws::sns_topic_subscription::SnsTopicSubscription;
use pgstack::provider::{ReadScope, ResourceType};
use pgstack::value::Value;

use crate::support::cli::{Workdir, state_id};
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

/// A subscription is made once however often it is created (Subscribe is
/// idempotent, which is how a lost create is recovered), reads back what was
/// asked, is replaced when any setting changes, is seen gone when deleted
/// out of band, imports by its ARN, and goes with a destroy.
#[tokio::test(flavor = "multi_thread")]
async fn sns_topic_subscription_lifecycle_drift_import_and_destroy() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let sns = m.factory().sns(REGION).await;
    let topic = sns.create_topic().name("pg-critical").send().await.unwrap().topic_arn().unwrap().to_owned();
    let t = SnsTopicSubscription;
    let addr: ResourceAddr = "sns_topic_subscription.pager".parse().unwrap();
    let want = desired(
        &t,
        STACK,
        &addr,
        &[
            ("topic_arn", Value::str(&topic)),
            ("protocol", Value::str("https")),
            ("endpoint", Value::str("https://pager.example.com/hook")),
        ],
    );
    let created = t.create(&ctx, &want).await.unwrap();
    let arn = created["id"].as_str().unwrap().to_owned();
    assert!(arn.starts_with(&format!("{topic}:")), "{arn}");
    assert_eq!(created["pending_confirmation"], Value::Bool(false));
    assert_clean(&t, &read_one(&t, &ctx, &arn).await, &want);
    let again = t.create(&ctx, &want).await.unwrap();
    assert_eq!(again["id"], created["id"], "Subscribe is idempotent: a create made again finds the same");
    t.delete(&ctx, &arn, &created).await.unwrap();
    t.delete(&ctx, &arn, &created).await.unwrap();
    assert!(t.read_many(&ctx, std::slice::from_ref(&arn), &ReadScope::All).await.unwrap().is_empty());

    let env = m.env();
    let w = Workdir::new();
    let stack = |endpoint: &str| {
        format!(
            "[stack]\nname = \"mon\"\nregion = \"us-east-1\"\n\n[sns_topic.critical]\nname = \"pg-crit\"\n\n\
             [sns_topic_subscription.pager]\ntopic_arn = \"${{sns_topic.critical.arn}}\"\nprotocol = \"https\"\n\
             endpoint = \"{endpoint}\"\n\n[sns_topic_subscription.team]\ntopic_arn = \"${{sns_topic.critical.arn}}\"\n\
             protocol = \"email\"\nendpoint = \"db-team@example.com\"\n"
        )
    };
    w.write("mon.toml", &stack("https://pager.example.com/a"));
    w.run(&["apply", "mon.toml", "--auto-approve"], &env).expect(0);
    w.run(&["plan", "mon.toml", "--detailed-exitcode"], &env).expect(0);
    let listed = |sns: aws_sdk_sns::Client| async move {
        let out = sns.list_subscriptions().send().await.unwrap();
        let mut v: Vec<(String, String)> = out
            .subscriptions()
            .iter()
            .map(|s| (s.protocol().unwrap_or_default().to_owned(), s.endpoint().unwrap_or_default().to_owned()))
            .collect();
        v.sort();
        v
    };
    let both = vec![
        ("email".to_owned(), "db-team@example.com".to_owned()),
        ("https".to_owned(), "https://pager.example.com/a".to_owned()),
    ];
    assert_eq!(listed(sns.clone()).await, both);

    // Deleted out of band: drift says so, apply makes it again.
    let pager = state_id(&w.path().join("state/mon.json"), "sns_topic_subscription.pager");
    sns.unsubscribe().subscription_arn(&pager).send().await.unwrap();
    let drift = w.run(&["drift", "mon.toml"], &env).expect(2);
    assert!(drift.stdout.contains("sns_topic_subscription.pager"), "{}", drift.stdout);
    w.run(&["apply", "mon.toml", "--auto-approve"], &env).expect(0);
    assert_eq!(listed(sns.clone()).await, both);

    // A new endpoint replaces the subscription.
    w.write("mon.toml", &stack("https://pager.example.com/b"));
    let plan = w.run(&["plan", "mon.toml", "--detailed-exitcode"], &env).expect(2);
    assert!(plan.stdout.contains("sns_topic_subscription.pager must be replaced"), "{}", plan.stdout);
    w.run(&["apply", "mon.toml", "--auto-approve"], &env).expect(0);
    assert!(listed(sns.clone()).await.contains(&("https".to_owned(), "https://pager.example.com/b".to_owned())));

    // Import by ARN after the state lets go of it.
    let team = state_id(&w.path().join("state/mon.json"), "sns_topic_subscription.team");
    w.run(&["state", "rm", "mon.toml", "sns_topic_subscription.team"], &env).expect(0);
    w.run(&["import", "mon.toml", "sns_topic_subscription.team", &team], &env).expect(0);
    w.run(&["plan", "mon.toml", "--detailed-exitcode"], &env).expect(0);

    w.run(&["destroy", "mon.toml", "--auto-approve"], &env).expect(0);
    assert!(listed(sns.clone()).await.is_empty());
}

/// `cloudwatch_log_group` against moto: created with its retention and tags,
/// read back, retention and tags changed in place, a retention changed out of
/// band seen as drift and put back by apply, import by name, the data-loss
/// guard on destroy. (A KMS key changed in place: aws-smithy-mocks in
/// `cloudwatch_log_group.rs`, moto has no AssociateKmsKey.)
#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch_log_group_lifecycle_drift_import_and_destroy() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    let stack = |days: u32, team: &str| {
        format!(
            "[stack]\nname = \"mon\"\nregion = \"us-east-1\"\n\n[cloudwatch_log_group.pg]\n\
             name = \"/aws/rds/cluster/pg/postgresql\"\nretention_in_days = {days}\ntags = {{ Team = \"{team}\" }}\n"
        )
    };
    w.write("mon.toml", &stack(365, "db"));
    w.run(&["apply", "mon.toml", "--auto-approve"], &env).expect(0);
    w.run(&["plan", "mon.toml", "--detailed-exitcode"], &env).expect(0);
    let logs = m.factory().logs(REGION).await;
    let group = |logs: aws_sdk_cloudwatchlogs::Client| async move {
        let out = logs.describe_log_groups().log_group_name_prefix("/aws/rds/cluster/pg").send().await.unwrap();
        out.log_groups().first().map(|g| g.retention_in_days())
    };
    assert_eq!(group(logs.clone()).await, Some(Some(365)));

    // In place: a new retention and tags.
    w.write("mon.toml", &stack(731, "platform"));
    let plan = w.run(&["plan", "mon.toml", "--detailed-exitcode"], &env).expect(2);
    assert!(plan.stdout.contains("cloudwatch_log_group.pg will be updated in-place"), "{}", plan.stdout);
    w.run(&["apply", "mon.toml", "--auto-approve"], &env).expect(0);
    assert_eq!(group(logs.clone()).await, Some(Some(731)));
    w.run(&["plan", "mon.toml", "--detailed-exitcode"], &env).expect(0);

    // Out of band: the retention removed; drift sees it, apply puts it back.
    logs.delete_retention_policy().log_group_name("/aws/rds/cluster/pg/postgresql").send().await.unwrap();
    let drift = w.run(&["drift", "mon.toml"], &env).expect(2);
    assert!(drift.stdout.contains("retention_in_days"), "{}", drift.stdout);
    w.run(&["apply", "mon.toml", "--auto-approve"], &env).expect(0);
    assert_eq!(group(logs.clone()).await, Some(Some(731)));

    w.run(&["state", "rm", "mon.toml", "cloudwatch_log_group.pg"], &env).expect(0);
    w.run(&["import", "mon.toml", "cloudwatch_log_group.pg", "/aws/rds/cluster/pg/postgresql"], &env).expect(0);
    w.run(&["plan", "mon.toml", "--detailed-exitcode"], &env).expect(0);

    // Deleting it deletes its logs: refused without --allow-destroy.
    let refused = w.run(&["destroy", "mon.toml", "--auto-approve"], &env).expect(1);
    assert!(refused.stderr.contains("cloudwatch_log_group.pg"), "{}", refused.stderr);
    assert!(group(logs.clone()).await.is_some(), "still there");
    w.run(&["destroy", "mon.toml", "--auto-approve", "--allow-destroy", "cloudwatch_log_group.pg"], &env).expect(0);
    assert_eq!(group(logs.clone()).await, None);
}
