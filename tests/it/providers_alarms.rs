//! `cloudwatch_alarm` against moto, through the CBOR shim in front of it
//! (scripts/cbor_shim.py: the SDK's RPC v2 CBOR to moto's JSON 1.0): create
//! and read back, in-place updates (switching to a percentile statistic),
//! an out-of-band threshold change seen on refresh, the ownership lookup, a
//! same-named alarm that is not ours refused, delete; and through the CLI:
//! apply, drift on the threshold, repair, import, destroy.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
use pgstack::addr::ResourceAddr;
use pgstack::provider::aws::cloudwatch_alarm::CloudwatchAlarm;
use pgstack::provider::{ReadScope, ResourceType};
use pgstack::value::{Attrs, Value};

use crate::support::cli::Workdir;
use crate::support::moto::{REGION, moto};
use crate::support::provider::{assert_clean, changes, desired, read_one, strs, update};

const STACK: &str = "alarms";

/// What an operator does in the console: PutMetricAlarm replaces the whole
/// alarm `name` (on `AWS/RDS` `CPUUtilization` of `db`), here with `threshold`.
async fn put_cpu_alarm(cw: &aws_sdk_cloudwatch::Client, name: &str, threshold: f64) {
    cw.put_metric_alarm()
        .alarm_name(name)
        .metric_name("CPUUtilization")
        .namespace("AWS/RDS")
        .dimensions(Dimension::builder().name("DBInstanceIdentifier").value("db").build())
        .statistic(Statistic::Average)
        .period(300)
        .evaluation_periods(3)
        .threshold(threshold)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
}

/// The threshold CloudWatch holds for alarm `name`.
async fn threshold_of(cw: &aws_sdk_cloudwatch::Client, name: &str) -> Option<f64> {
    let out = cw.describe_alarms().alarm_names(name).send().await.unwrap();
    out.metric_alarms().first().and_then(|a| a.threshold())
}

fn map(pairs: &[(&str, &str)]) -> Value {
    Value::from(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>())
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch_alarm_lifecycle() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let t = CloudwatchAlarm;
    let sns = m.factory().sns(REGION).await;
    let topic = sns.create_topic().name("pg-alerts").send().await.unwrap().topic_arn().unwrap().to_owned();
    let addr: ResourceAddr = "cloudwatch_alarm.cpu".parse().unwrap();
    let base = [
        ("alarm_name", Value::str("pg-cpu")),
        ("metric_name", Value::str("CPUUtilization")),
        ("namespace", Value::str("AWS/RDS")),
        ("dimensions", map(&[("DBInstanceIdentifier", "db")])),
        ("period", Value::Int(60)),
        ("comparison_operator", Value::str("GreaterThanThreshold")),
        ("alarm_actions", strs(&[&topic])),
    ];
    let with = |extra: &[(&str, Value)]| -> Attrs {
        let set: Vec<(&str, Value)> = base.iter().cloned().chain(extra.iter().cloned()).collect();
        desired(&t, STACK, &addr, &set)
    };
    let want = with(&[
        ("statistic", Value::str("Average")),
        ("evaluation_periods", Value::Int(3)),
        ("datapoints_to_alarm", Value::Int(2)),
        ("threshold", Value::Int(80)),
        ("ok_actions", strs(&[&topic])),
    ]);
    let created = t.create(&ctx, &want).await.unwrap();
    assert_eq!(created["id"], Value::str("pg-cpu"));
    assert!(created["arn"].as_str().is_some_and(|a| a.ends_with(":alarm:pg-cpu")), "{:?}", created["arn"]);
    assert_eq!(created["threshold"], Value::Float(80.0));
    assert_eq!(created["treat_missing_data"], Value::str("missing"));
    assert_clean(&t, &created, &want);
    assert_clean(&t, &read_one(&t, &ctx, "pg-cpu").await, &want);
    assert_eq!(t.find_created(&ctx, &addr).await.unwrap().as_deref(), Some("pg-cpu"));
    assert_eq!(t.find_created(&ctx, &"cloudwatch_alarm.other".parse().unwrap()).await.unwrap(), None);

    // In place, as the engine sends it (what AWS holds plus the planned
    // changes): a percentile instead of the average, a new threshold,
    // description, missing-data rule and tag set.
    let next = with(&[
        ("extended_statistic", Value::str("p99")),
        ("evaluation_periods", Value::Int(5)),
        ("threshold", Value::Float(90.5)),
        ("alarm_description", Value::str("CPU above 90.5% at p99")),
        ("treat_missing_data", Value::str("breaching")),
        ("tags", map(&[("Team", "db")])),
    ]);
    let planned = changes(&t, &created, &next);
    assert_eq!(
        planned,
        ["alarm_description", "evaluation_periods", "extended_statistic", "tags", "threshold", "treat_missing_data"]
    );
    let mut engine_desired = created.clone();
    engine_desired.extend(planned.iter().map(|n| (n.clone(), next[n].clone())));
    let updated = update(&t, &ctx, "pg-cpu", &created, &engine_desired).await.unwrap();
    assert_clean(&t, &updated, &next);
    let read = read_one(&t, &ctx, "pg-cpu").await;
    assert_clean(&t, &read, &next);
    assert_eq!(read["statistic"], Value::Null, "one statistic: the percentile replaced the average");
    assert_eq!(read["ok_actions"], strs(&[&topic]), "kept: the update sent the whole alarm");
    assert_eq!(read["datapoints_to_alarm"], Value::Int(2), "kept: the update sent the whole alarm");

    // Out of band: the threshold is changed (and the rest replaced, as PutMetricAlarm does).
    let cw = m.factory().cloudwatch(REGION).await;
    put_cpu_alarm(&cw, "pg-cpu", 95.0).await;
    let seen = read_one(&t, &ctx, "pg-cpu").await;
    assert_eq!(seen["threshold"], Value::Float(95.0));
    assert!(changes(&t, &seen, &next).contains(&"threshold".to_owned()));
    // PutMetricAlarm leaves the tags of an existing alarm alone.
    assert_eq!(seen["tags"], next["tags"]);
    // Tags are read only when the config manages them.
    let scoped =
        t.read_many(&ctx, &["pg-cpu".to_owned()], &ReadScope::Only(["threshold".to_owned()].into())).await.unwrap();
    assert!(!scoped["pg-cpu"].contains_key("tags"));

    t.delete(&ctx, "pg-cpu", &seen).await.unwrap();
    t.delete(&ctx, "pg-cpu", &seen).await.unwrap();
    assert!(t.read_many(&ctx, &["pg-cpu".to_owned()], &ReadScope::All).await.unwrap().is_empty());
    assert_eq!(t.find_created(&ctx, &addr).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch_alarm_create_refuses_what_it_would_overwrite_or_cannot_send() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let t = CloudwatchAlarm;
    let cw = m.factory().cloudwatch(REGION).await;
    let addr: ResourceAddr = "cloudwatch_alarm.cpu".parse().unwrap();
    let alarm = |name: &str, stats: &[(&str, Value)]| {
        let mut set = vec![
            ("alarm_name", Value::str(name)),
            ("metric_name", Value::str("CPUUtilization")),
            ("namespace", Value::str("AWS/RDS")),
            ("period", Value::Int(300)),
            ("evaluation_periods", Value::Int(3)),
            ("threshold", Value::Float(80.0)),
            ("comparison_operator", Value::str("GreaterThanThreshold")),
        ];
        set.extend(stats.iter().cloned());
        desired(&t, STACK, &addr, &set)
    };
    let average = [("statistic", Value::str("Average"))];

    // Someone else's alarm of the same name: PutMetricAlarm would replace it.
    put_cpu_alarm(&cw, "theirs", 70.0).await;
    let err = t.create(&ctx, &alarm("theirs", &average)).await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(threshold_of(&cw, "theirs").await, Some(70.0), "left as it was");

    // Ours (a create whose reply was lost): finished, not refused.
    let first = t.create(&ctx, &alarm("ours", &average)).await.unwrap();
    let again = t.create(&ctx, &alarm("ours", &[("statistic", Value::str("Maximum"))])).await.unwrap();
    assert_eq!(
        (first["statistic"].clone(), again["statistic"].clone()),
        (Value::str("Average"), Value::str("Maximum"))
    );

    // Both statistics, neither, or more datapoints than periods: nothing is sent.
    let both = alarm("both", &[("statistic", Value::str("Average")), ("extended_statistic", Value::str("p99"))]);
    assert!(t.create(&ctx, &both).await.unwrap_err().to_string().contains("only one"));
    assert!(t.create(&ctx, &alarm("neither", &[])).await.unwrap_err().to_string().contains("set one of"));
    let too_many = alarm("many", &[("statistic", Value::str("Sum")), ("datapoints_to_alarm", Value::Int(4))]);
    assert!(t.create(&ctx, &too_many).await.unwrap_err().to_string().contains("cannot exceed"));
    assert_eq!(threshold_of(&cw, "many").await, None);
    assert_eq!(threshold_of(&cw, "both").await, None);
    assert_eq!(threshold_of(&cw, "neither").await, None);
}

const CLI_STACK: &str = r#"[stack]
name = "alarms"
region = "us-east-1"

[sns_topic.alerts]
name = "pg-alerts"

[cloudwatch_alarm.cpu]
alarm_name          = "pg-cpu"
metric_name         = "CPUUtilization"
namespace           = "AWS/RDS"
dimensions          = { DBInstanceIdentifier = "db" }
statistic           = "Average"
period              = 300
evaluation_periods  = 3
threshold           = 80
comparison_operator = "GreaterThanThreshold"
alarm_actions       = ["${sns_topic.alerts.arn}"]
ok_actions          = ["${sns_topic.alerts.arn}"]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch_alarm_applies_plans_clean_drifts_imports_and_destroys() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.write("alarms.toml", CLI_STACK);
    w.run(&["apply", "alarms.toml", "--auto-approve"], &env).expect(0);
    w.run(&["plan", "alarms.toml", "--detailed-exitcode"], &env).expect(0);
    let cw = m.factory().cloudwatch(REGION).await;
    assert_eq!(threshold_of(&cw, "pg-cpu").await, Some(80.0));

    // The threshold is changed out of band: drift names it, apply repairs it.
    put_cpu_alarm(&cw, "pg-cpu", 95.0).await;
    let drift = w.run(&["drift", "alarms.toml"], &env).expect(2);
    assert!(drift.stdout.contains("cloudwatch_alarm.cpu") && drift.stdout.contains("threshold"), "{}", drift.stdout);
    assert!(!drift.stdout.contains("sns_topic.alerts"), "{}", drift.stdout);
    w.run(&["apply", "alarms.toml", "--auto-approve"], &env).expect(0);
    w.run(&["drift", "alarms.toml"], &env).expect(0);
    assert_eq!(threshold_of(&cw, "pg-cpu").await, Some(80.0));
    let alarm = cw.describe_alarms().alarm_names("pg-cpu").send().await.unwrap();
    assert_eq!(alarm.metric_alarms()[0].ok_actions().len(), 1, "the repair sent the whole alarm");

    // Import after the state lets go of it.
    w.run(&["state", "rm", "alarms.toml", "cloudwatch_alarm.cpu"], &env).expect(0);
    w.run(&["import", "alarms.toml", "cloudwatch_alarm.cpu", "pg-cpu"], &env).expect(0);
    w.run(&["apply", "alarms.toml", "--auto-approve"], &env).expect(0);
    w.run(&["drift", "alarms.toml"], &env).expect(0);
    w.run(&["destroy", "alarms.toml", "--auto-approve"], &env).expect(0);
    assert!(cw.describe_alarms().send().await.unwrap().metric_alarms().is_empty());
    assert!(m.factory().sns(REGION).await.list_topics().send().await.unwrap().topics().is_empty());
}

/// moto's JSON error, through the shim, parses as the SDK's modeled error
/// with AWS's code and moto's message.
#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch_errors_reach_the_sdk_through_the_shim() {
    let m = moto();
    let cw = m.factory().cloudwatch(REGION).await;
    let err = cw
        .set_alarm_state()
        .alarm_name("missing")
        .state_value(aws_sdk_cloudwatch::types::StateValue::Ok)
        .state_reason("test")
        .send()
        .await
        .unwrap_err();
    let e = pgstack::provider::aws::api_error("SetAlarmState", err);
    assert!(
        matches!(&e, pgstack::provider::ProviderError::Api { code, retryable: false, .. } if code == "ResourceNotFound"),
        "{e:?}"
    );
}
