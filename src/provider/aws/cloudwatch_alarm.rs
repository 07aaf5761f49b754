//! `cloudwatch_alarm`: a CloudWatch alarm on one metric (the seeds'
//! thresholds: connections, replica lag, CPU, free storage, memory).
//!
//! - Create: DescribeAlarms by name first, because PutMetricAlarm creates *or
//!   silently replaces* the alarm of that name: an alarm that exists without
//!   this address's ownership tags (ListTagsForResource) is refused, one that
//!   carries them (a create whose reply was lost) is updated. Then
//!   PutMetricAlarm with the tags in the same call.
//! - Read: DescribeAlarms with `AlarmNames`, 100 names per call, paged;
//!   ListTagsForResource per alarm, [`PER_RESOURCE_CONCURRENCY`] at a time,
//!   only when the config manages tags. Alarms that no longer exist are omitted.
//! - Update: PutMetricAlarm with the whole alarm (it replaces the alarm's
//!   configuration; what the plan did not change is sent back as read), only
//!   when something besides tags changed; tags with TagResource /
//!   UntagResource (PutMetricAlarm ignores `Tags` on an existing alarm).
//! - Delete: DeleteAlarms (an alarm that is gone counts as deleted).
//! - The id is the alarm name (unique per region).
//! - Refused before PutMetricAlarm (moto would accept them, AWS does not):
//!   both or neither of `statistic` and `extended_statistic`, and more
//!   `datapoints_to_alarm` than `evaluation_periods`.
//! - Orphan scan (`list_owned`): the region's shared GetResources ([`super::owned`]).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::operation::describe_alarms::builders::DescribeAlarmsFluentBuilder;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, StandardUnit, Statistic, Tag};
use futures::{StreamExt, TryStreamExt, stream};

use super::owned;
use super::{
    PER_RESOURCE_CONCURRENCY, api_error, error_code, factory, get_bool, get_i64, get_str, sync_arn_tags, tags_of,
};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, Ownership, Pricing, Schema, TAG_ADDRESS, TAG_STACK};
use crate::provider::{Ctx, Intent, Owned, PlannedUpdate, ProviderError, ReadScope, Refusal, ResourceType, Result};
use crate::value::{Attrs, Value};

const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

/// The static-threshold operators (the anomaly-detection ones need metric
/// queries, which this type does not model).
const COMPARISONS: &[&str] =
    &["GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"];

const MISSING_DATA: &[&str] = &["missing", "ignore", "breaching", "notBreaching"];

const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

const I32_MAX: i64 = i32::MAX as i64;

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::required("alarm_name", AttrType::Str).force_new().max_len(255),
        Attr::optional("alarm_description", AttrType::Str).max_len(1024),
        Attr::required("metric_name", AttrType::Str).max_len(255),
        Attr::required("namespace", AttrType::Str).max_len(255),
        Attr::optional("dimensions", AttrType::Map(&AttrType::Str)),
        Attr::optional("statistic", AttrType::Str).one_of(STATISTICS).conflicts_with(&["extended_statistic"]),
        Attr::optional("extended_statistic", AttrType::Str),
        Attr::required("period", AttrType::Int).pattern(Kind::AlarmPeriod),
        Attr::required("evaluation_periods", AttrType::Int).range(1, I32_MAX),
        Attr::optional("datapoints_to_alarm", AttrType::Int).range(1, I32_MAX),
        Attr::required("threshold", AttrType::Num),
        Attr::required("comparison_operator", AttrType::Str).one_of(COMPARISONS),
        Attr::optional("treat_missing_data", AttrType::Str).default(Default::Str("missing")).one_of(MISSING_DATA),
        Attr::optional("alarm_actions", AttrType::Set(&AttrType::Str)).pattern(Kind::Arn),
        Attr::optional("ok_actions", AttrType::Set(&AttrType::Str)).pattern(Kind::Arn),
        Attr::optional("insufficient_data_actions", AttrType::Set(&AttrType::Str)).pattern(Kind::Arn),
        Attr::optional("actions_enabled", AttrType::Bool).default(Default::Bool(true)),
        Attr::optional("unit", AttrType::Str).one_of(UNITS),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: false,
    taggable: true,
    ownership: Ownership::indexed("cloudwatch:alarm", "alarm:"),
    pricing: Pricing::Alarm,
};

/// The `cloudwatch_alarm` resource type.
pub struct CloudwatchAlarm;

/// Most alarm names DescribeAlarms takes, and most alarms it returns, per call.
const DESCRIBE_LIMIT: usize = 100;

const ACTION_LISTS: [&str; 3] = ["alarm_actions", "ok_actions", "insufficient_data_actions"];

/// The statistic an alarm evaluates: PutMetricAlarm takes exactly one of the two.
#[derive(Debug, PartialEq)]
enum Stat<'a> {
    Plain(&'a str),
    Extended(&'a str),
}

/// The statistic to send for `alarm` (the object after the change). When it
/// names both, the one that differs from `prior` is the one the config now
/// sets (the other is AWS's old value, carried along as unmanaged); a create
/// passes an empty `prior`, so there both are refused.
fn stat_of<'a>(prior: &Attrs, alarm: &'a Attrs) -> Result<Stat<'a>> {
    let changed = |name: &str, v: &str| get_str(prior, name) != Some(v);
    match (get_str(alarm, "statistic"), get_str(alarm, "extended_statistic")) {
        (Some(s), None) => Ok(Stat::Plain(s)),
        (None, Some(e)) => Ok(Stat::Extended(e)),
        (Some(s), Some(e)) => match (changed("statistic", s), changed("extended_statistic", e)) {
            (true, false) => Ok(Stat::Plain(s)),
            (false, true) => Ok(Stat::Extended(e)),
            _ => Err(ProviderError::Invalid(
                "set only one of `statistic` and `extended_statistic`: CloudWatch evaluates one".into(),
            )),
        },
        (None, None) => Err(ProviderError::Invalid(
            "set one of `statistic` (e.g. \"Average\") or `extended_statistic` (e.g. \"p99\")".into(),
        )),
    }
}

/// Reads an integer attribute that AWS takes as a 32-bit number.
fn get_i32(attrs: &Attrs, name: &str) -> Result<Option<i32>> {
    get_i64(attrs, name)
        .map(|n| i32::try_from(n).map_err(|_| ProviderError::Invalid(format!("`{name}` is too large: {n}"))))
        .transpose()
}

/// Reads a number attribute, integer or float.
fn get_f64(attrs: &Attrs, name: &str) -> Option<f64> {
    match attrs.get(name)? {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn strings(attrs: &Attrs, name: &str) -> Option<Vec<String>> {
    attrs.get(name).filter(|v| !v.is_null()).map(Value::string_list)
}

fn sorted(items: &[String]) -> Value {
    let mut v = items.to_vec();
    v.sort();
    Value::from(v)
}

fn cw_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    Ok(tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect())
}

/// Attributes of an alarm as DescribeAlarms returns it, without tags.
fn alarm_attrs(a: &MetricAlarm) -> Option<(String, Attrs)> {
    let name = a.alarm_name()?.to_owned();
    let dimensions: BTreeMap<String, String> = a
        .dimensions()
        .iter()
        .filter_map(|d| Some((d.name()?.to_owned(), d.value().unwrap_or_default().to_owned())))
        .collect();
    let mut out = Attrs::new();
    out.insert("id".into(), Value::str(&name));
    out.insert("arn".into(), a.alarm_arn().into());
    out.insert("alarm_name".into(), Value::str(&name));
    // Absent and empty are the same to AWS; "" lets a config say "none" without a perpetual diff.
    out.insert("alarm_description".into(), Value::str(a.alarm_description().unwrap_or_default()));
    out.insert("metric_name".into(), a.metric_name().into());
    out.insert("namespace".into(), a.namespace().into());
    out.insert("dimensions".into(), Value::from(dimensions));
    out.insert("statistic".into(), a.statistic().map(Statistic::as_str).into());
    out.insert("extended_statistic".into(), a.extended_statistic().into());
    out.insert("period".into(), a.period().into());
    out.insert("evaluation_periods".into(), a.evaluation_periods().into());
    out.insert("datapoints_to_alarm".into(), a.datapoints_to_alarm().into());
    out.insert("threshold".into(), a.threshold().map_or(Value::Null, Value::Float));
    out.insert("comparison_operator".into(), a.comparison_operator().map(ComparisonOperator::as_str).into());
    // AWS leaves it out when the alarm uses the default.
    out.insert("treat_missing_data".into(), Value::str(a.treat_missing_data().unwrap_or("missing")));
    out.insert("alarm_actions".into(), sorted(a.alarm_actions()));
    out.insert("ok_actions".into(), sorted(a.ok_actions()));
    out.insert("insufficient_data_actions".into(), sorted(a.insufficient_data_actions()));
    out.insert("actions_enabled".into(), Value::Bool(a.actions_enabled().unwrap_or(true)));
    out.insert("unit".into(), a.unit().map(StandardUnit::as_str).into());
    Some((name, out))
}

/// Every metric alarm `call` pages through.
async fn describe(call: DescribeAlarmsFluentBuilder) -> Result<Vec<MetricAlarm>> {
    let pages: Vec<_> = call
        .max_records(DESCRIBE_LIMIT as i32)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("DescribeAlarms", e))?;
    Ok(pages.iter().flat_map(|p| p.metric_alarms().iter().cloned()).collect())
}

/// The alarms among `names` that exist, in one paged call per 100 names.
async fn describe_names(client: &Client, names: &[String]) -> Result<Vec<MetricAlarm>> {
    let mut found = Vec::new();
    for chunk in names.chunks(DESCRIBE_LIMIT) {
        found.extend(describe(client.describe_alarms().set_alarm_names(Some(chunk.to_vec()))).await?);
    }
    Ok(found)
}

/// An alarm's tags; `None` when the alarm is gone.
async fn read_tags(client: &Client, arn: &str) -> Result<Option<BTreeMap<String, String>>> {
    match client.list_tags_for_resource().resource_arn(arn).send().await {
        Ok(out) => Ok(Some(
            out.tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
                .collect(),
        )),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(api_error("ListTagsForResource", e)),
    }
}

/// The alarms among `names` with their attributes (tags as `scope` asks).
async fn read_names(client: &Client, names: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
    let alarms: Vec<_> = describe_names(client, names).await?.iter().filter_map(alarm_attrs).collect();
    if !scope.wants("tags") {
        return Ok(alarms.into_iter().collect());
    }
    let with_tags = alarms.into_iter().map(|(name, mut attrs)| async move {
        let arn = get_str(&attrs, "arn").unwrap_or_default().to_owned();
        Ok::<_, ProviderError>(read_tags(client, &arn).await?.map(|tags| {
            attrs.insert("tags".into(), Value::from(tags));
            (name, attrs)
        }))
    });
    let found: Vec<_> = stream::iter(with_tags).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await?;
    Ok(found.into_iter().flatten().collect())
}

async fn read_all(client: &Client, name: &str) -> Result<Attrs> {
    read_names(client, &[name.to_owned()], &ReadScope::All)
        .await?
        .remove(name)
        .ok_or_else(|| ProviderError::NotFound(format!("alarm {name}")))
}

/// True when `tags` are the ownership tags of `stack` and `address`.
fn owned_by(tags: &BTreeMap<String, String>, stack: &str, address: &str) -> bool {
    tags.get(TAG_STACK).map(String::as_str) == Some(stack) && tags.get(TAG_ADDRESS).map(String::as_str) == Some(address)
}

/// DeleteAlarms for one alarm; AWS answers `ResourceNotFound` when it is
/// already gone (moto does not), which counts as deleted.
async fn delete_alarm(client: &Client, name: &str) -> Result<()> {
    match client.delete_alarms().alarm_names(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e) == Some("ResourceNotFound") => Ok(()),
        Err(e) => Err(api_error("DeleteAlarms", e)),
    }
}

/// `name` when the alarm at `arn` carries the ownership tags of `stack` and `address`.
async fn owned_name(client: &Client, name: String, arn: String, stack: &str, address: &str) -> Result<Option<String>> {
    Ok(read_tags(client, &arn).await?.filter(|t| owned_by(t, stack, address)).map(|_| name))
}

/// PutMetricAlarm for the whole of `alarm` (create: with `tags`).
async fn put(client: &Client, alarm: &Attrs, stat: Stat<'_>, tags: Option<Vec<Tag>>) -> Result<()> {
    let name = get_str(alarm, "alarm_name").ok_or_else(|| ProviderError::Invalid("alarm_name is required".into()))?;
    let dimensions = alarm.get("dimensions").and_then(Value::as_map).map(|m| {
        m.iter().filter_map(|(k, v)| Some(Dimension::builder().name(k).value(v.as_str()?).build())).collect::<Vec<_>>()
    });
    let (periods, datapoints) = (get_i32(alarm, "evaluation_periods")?, get_i32(alarm, "datapoints_to_alarm")?);
    if let (Some(n), Some(m)) = (periods, datapoints)
        && m > n
    {
        return Err(ProviderError::Invalid(format!(
            "datapoints_to_alarm ({m}) cannot exceed evaluation_periods ({n}): the alarm looks at {n} data points"
        )));
    }
    let (statistic, extended) = match stat {
        Stat::Plain(s) => (Some(Statistic::from(s)), None),
        Stat::Extended(e) => (None, Some(e.to_owned())),
    };
    client
        .put_metric_alarm()
        .alarm_name(name)
        .set_alarm_description(get_str(alarm, "alarm_description").map(str::to_owned))
        .set_metric_name(get_str(alarm, "metric_name").map(str::to_owned))
        .set_namespace(get_str(alarm, "namespace").map(str::to_owned))
        .set_dimensions(dimensions)
        .set_statistic(statistic)
        .set_extended_statistic(extended)
        .set_period(get_i32(alarm, "period")?)
        .set_evaluation_periods(periods)
        .set_datapoints_to_alarm(datapoints)
        .set_threshold(get_f64(alarm, "threshold"))
        .set_comparison_operator(get_str(alarm, "comparison_operator").map(ComparisonOperator::from))
        .set_treat_missing_data(get_str(alarm, "treat_missing_data").map(str::to_owned))
        .set_alarm_actions(strings(alarm, "alarm_actions"))
        .set_ok_actions(strings(alarm, "ok_actions"))
        .set_insufficient_data_actions(strings(alarm, "insufficient_data_actions"))
        .set_actions_enabled(get_bool(alarm, "actions_enabled"))
        .set_unit(get_str(alarm, "unit").map(StandardUnit::from))
        .set_tags(tags)
        .send()
        .await
        .map_err(|e| api_error("PutMetricAlarm", e))?;
    Ok(())
}

#[async_trait]
impl ResourceType for CloudwatchAlarm {
    fn type_name(&self) -> &'static str {
        "cloudwatch_alarm"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// Action lists sorted; the threshold a float, as AWS reports it.
    fn normalize(&self, desired: &mut Attrs) {
        for name in ACTION_LISTS {
            if let Some(Value::List(items)) = desired.get_mut(name)
                && items.iter().all(|v| v.as_str().is_some())
            {
                items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
        if let Some(Value::Int(i)) = desired.get("threshold") {
            let f = *i as f64;
            desired.insert("threshold".into(), Value::Float(f));
        }
    }

    /// Both statistics configured for an existing alarm (a new one fails at create).
    fn refuse(&self, _current: &Attrs, intent: Intent<'_>) -> Vec<Refusal> {
        let desired = match intent {
            Intent::Keep { desired } | Intent::Replace { desired, .. } => desired,
            Intent::Delete { .. } => return Vec::new(),
        };
        let set = |name| desired.get(name).is_some_and(|v| !v.is_null());
        if set("statistic") && set("extended_statistic") {
            return vec![
                Refusal::new("sets both `statistic` and `extended_statistic`: CloudWatch evaluates one")
                    .on("extended_statistic")
                    .hint("keep `statistic` for SampleCount/Average/Sum/Minimum/Maximum, or `extended_statistic` for percentiles"),
            ];
        }
        Vec::new()
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        read_names(&factory(ctx)?.cloudwatch(&ctx.region).await, ids, scope).await
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let name =
            get_str(desired, "alarm_name").ok_or_else(|| ProviderError::Invalid("alarm_name is required".into()))?;
        let stat = stat_of(&Attrs::new(), desired)?;
        let client = factory(ctx)?.cloudwatch(&ctx.region).await;
        if let Some(existing) = read_names(&client, &[name.to_owned()], &ReadScope::All).await?.remove(name) {
            let want = tags_of(desired);
            let (stack, address) = (want.get(TAG_STACK), want.get(TAG_ADDRESS));
            let ours = matches!((stack, address), (Some(s), Some(a)) if owned_by(&tags_of(&existing), s, a));
            if !ours {
                return Err(ProviderError::Invalid(format!(
                    "CloudWatch alarm `{name}` already exists and this resource did not create it \
                     (PutMetricAlarm would overwrite it): import it with `pgstack import`, or choose another alarm_name"
                )));
            }
            return self.update(ctx, name, &self.planned_update(&existing, desired, &[])).await;
        }
        put(&client, desired, stat, Some(cw_tags(&tags_of(desired))?)).await?;
        read_all(&client, name).await
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        let (prior, desired) = (&update.before, &update.after);
        let client = factory(ctx)?.cloudwatch(&ctx.region).await;
        // PutMetricAlarm takes the whole alarm: what the plan does not change is sent as it is.
        if update.changed.iter().any(|name| name != "tags") {
            put(&client, desired, stat_of(prior, desired)?, None).await?;
        }
        if update.changes("tags") {
            let arn =
                get_str(prior, "arn").ok_or_else(|| ProviderError::Invalid(format!("no ARN known for alarm {id}")))?;
            sync_arn_tags!(client, arn, &tags_of(prior), &tags_of(desired), cw_tags);
        }
        read_all(&client, id).await
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        delete_alarm(&factory(ctx)?.cloudwatch(&ctx.region).await, id).await
    }

    /// The region's metric alarms (DescribeAlarms, paged) and their tags,
    /// [`PER_RESOURCE_CONCURRENCY`] at a time, until one carries this
    /// stack's and address's ownership tags. Not by name: `find_created`
    /// does not know it, and a same-named alarm may be someone else's.
    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        let client = &factory(ctx)?.cloudwatch(&ctx.region).await;
        let address = addr.to_string();
        let alarms: Vec<(String, String)> = describe(client.describe_alarms())
            .await?
            .iter()
            .filter_map(|a| Some((a.alarm_name()?.to_owned(), a.alarm_arn()?.to_owned())))
            .collect();
        let stack = ctx.stack.as_str();
        let mut hits = std::pin::pin!(
            stream::iter(alarms.into_iter().map(|(name, arn)| owned_name(client, name, arn, stack, &address)))
                .buffer_unordered(PER_RESOURCE_CONCURRENCY)
                .try_filter_map(|hit| async move { Ok(hit) })
        );
        hits.try_next().await
    }

    /// From the region's shared tagging index ([`owned::indexed`]).
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        owned::indexed(ctx, self.type_name(), known).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::diff::diff;

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn exactly_one_statistic_is_sent() {
        let none = Attrs::new();
        let plain = attrs(&[("statistic", "Average".into()), ("extended_statistic", Value::Null)]);
        assert_eq!(stat_of(&none, &plain).unwrap(), Stat::Plain("Average"));
        let ext = attrs(&[("extended_statistic", "p99".into())]);
        assert_eq!(stat_of(&none, &ext).unwrap(), Stat::Extended("p99"));
        let both = attrs(&[("statistic", "Average".into()), ("extended_statistic", "p99".into())]);
        assert!(stat_of(&none, &both).unwrap_err().to_string().contains("only one"));
        assert!(stat_of(&none, &Attrs::new()).unwrap_err().to_string().contains("set one of"));
        // Switching: the one that differs from AWS's alarm is the configured one.
        assert_eq!(stat_of(&plain, &both).unwrap(), Stat::Extended("p99"));
        assert_eq!(stat_of(&ext, &both).unwrap(), Stat::Plain("Average"));
        assert!(stat_of(&both, &both).is_err());
    }

    #[test]
    fn normalize_sorts_actions_and_makes_the_threshold_a_float() {
        let mut a = attrs(&[
            ("threshold", Value::Int(80)),
            ("alarm_actions", Value::from(vec!["arn:b".to_owned(), "arn:a".to_owned()])),
            ("ok_actions", Value::List(vec![Value::Unknown, "arn:z".into()])),
        ]);
        CloudwatchAlarm.normalize(&mut a);
        assert_eq!(a["threshold"], Value::Float(80.0));
        assert_eq!(a["alarm_actions"], Value::from(vec!["arn:a".to_owned(), "arn:b".to_owned()]));
        assert_eq!(a["ok_actions"], Value::List(vec![Value::Unknown, "arn:z".into()]), "unknowns stay in place");
        let mut f = attrs(&[("threshold", Value::Float(0.5))]);
        CloudwatchAlarm.normalize(&mut f);
        assert_eq!(f["threshold"], Value::Float(0.5));
    }

    #[test]
    fn alarms_read_back_in_canonical_form() {
        let alarm = MetricAlarm::builder()
            .alarm_name("cpu")
            .alarm_arn("arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu")
            .metric_name("CPUUtilization")
            .namespace("AWS/RDS")
            .dimensions(Dimension::builder().name("DBInstanceIdentifier").value("db").build())
            .statistic(Statistic::Average)
            .period(60)
            .evaluation_periods(3)
            .threshold(80.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .alarm_actions("arn:b")
            .alarm_actions("arn:a")
            .build();
        let (id, a) = alarm_attrs(&alarm).unwrap();
        assert_eq!(id, "cpu");
        assert_eq!(a["id"], Value::str("cpu"));
        assert_eq!(a["treat_missing_data"], Value::str("missing"), "AWS's default when unset");
        assert_eq!(a["actions_enabled"], Value::Bool(true));
        assert_eq!(a["alarm_actions"], Value::from(vec!["arn:a".to_owned(), "arn:b".to_owned()]));
        assert_eq!(a["threshold"], Value::Float(80.0));
        assert_eq!(a["extended_statistic"], Value::Null);
        assert_eq!(a["alarm_description"], Value::str(""));
        assert_eq!(a["dimensions"].as_map().unwrap()["DBInstanceIdentifier"], Value::str("db"));
        assert!(!a.contains_key("tags"));
        // A config with an integer threshold and the defaults diffs clean.
        let mut want = attrs(&[
            ("alarm_name", "cpu".into()),
            ("threshold", Value::Int(80)),
            ("treat_missing_data", "missing".into()),
            ("actions_enabled", Value::Bool(true)),
            ("alarm_actions", Value::from(vec!["arn:b".to_owned(), "arn:a".to_owned()])),
        ]);
        CloudwatchAlarm.normalize(&mut want);
        assert!(diff(&SCHEMA, &a, &want, &[]).is_empty());
    }

    #[test]
    fn both_statistics_are_refused_for_existing_alarms() {
        let both = attrs(&[("statistic", "Average".into()), ("extended_statistic", "p99".into())]);
        let refused = CloudwatchAlarm.refuse(&Attrs::new(), Intent::Keep { desired: &both });
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].attr, Some("extended_statistic"));
        let one = attrs(&[("statistic", "Average".into()), ("extended_statistic", Value::Null)]);
        assert!(CloudwatchAlarm.refuse(&Attrs::new(), Intent::Keep { desired: &one }).is_empty());
        assert!(CloudwatchAlarm.refuse(&both, Intent::Delete { destroy: true }).is_empty());
    }

    #[test]
    fn ownership_needs_both_tags() {
        let tags: BTreeMap<String, String> = [(TAG_STACK, "s"), (TAG_ADDRESS, "cloudwatch_alarm.cpu")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(owned_by(&tags, "s", "cloudwatch_alarm.cpu"));
        assert!(!owned_by(&tags, "other", "cloudwatch_alarm.cpu"));
        assert!(!owned_by(&tags, "s", "cloudwatch_alarm.mem"));
        assert!(!owned_by(&BTreeMap::new(), "s", "cloudwatch_alarm.cpu"));
    }

    #[test]
    fn integers_beyond_32_bits_are_refused() {
        let a = attrs(&[("period", Value::Int(60)), ("evaluation_periods", Value::Int(1 << 40))]);
        assert_eq!(get_i32(&a, "period").unwrap(), Some(60));
        assert!(get_i32(&a, "evaluation_periods").is_err());
        assert_eq!(get_i32(&a, "datapoints_to_alarm").unwrap(), None);
        assert_eq!(get_f64(&attrs(&[("threshold", Value::Int(3))]), "threshold"), Some(3.0));
    }

    fn mock_cloudwatch(rules: &[&aws_smithy_mocks::Rule]) -> Client {
        crate::provider::aws::mocked_client!(aws_sdk_cloudwatch, rules)
    }

    fn named(name: &str) -> MetricAlarm {
        MetricAlarm::builder()
            .alarm_name(name)
            .alarm_arn(format!("arn:aws:cloudwatch:us-east-1:1:alarm:{name}"))
            .build()
    }

    /// moto answers DescribeAlarms in one page and takes any number of names.
    #[tokio::test]
    async fn reads_take_100_names_per_call_and_follow_pages() {
        use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
        use aws_smithy_mocks::mock;
        let names: Vec<String> = (0..150).map(|i| format!("a{i:03}")).collect();
        // The first 100 names come back in two pages, the last 50 in one; a099 is gone.
        let first_page = mock!(Client::describe_alarms)
            .match_requests(|r| {
                r.alarm_names().len() == 100 && r.next_token().is_none() && r.max_records() == Some(100)
            })
            .then_output(|| {
                let alarms = (0..50).map(|i| named(&format!("a{i:03}"))).collect();
                DescribeAlarmsOutput::builder().set_metric_alarms(Some(alarms)).next_token("t").build()
            });
        let second_page = mock!(Client::describe_alarms)
            .match_requests(|r| r.alarm_names().len() == 100 && r.next_token() == Some("t"))
            .then_output(|| {
                let alarms = (50..99).map(|i| named(&format!("a{i:03}"))).collect();
                DescribeAlarmsOutput::builder().set_metric_alarms(Some(alarms)).build()
            });
        let rest = mock!(Client::describe_alarms).match_requests(|r| r.alarm_names().len() == 50).then_output(|| {
            let alarms = (100..150).map(|i| named(&format!("a{i:03}"))).collect();
            DescribeAlarmsOutput::builder().set_metric_alarms(Some(alarms)).build()
        });
        let client = mock_cloudwatch(&[&first_page, &second_page, &rest]);
        let scope = ReadScope::Only(["threshold".to_owned()].into());
        let got = read_names(&client, &names, &scope).await.unwrap();
        assert_eq!((first_page.num_calls(), second_page.num_calls(), rest.num_calls()), (1, 1, 1));
        assert_eq!(got.len(), 149);
        assert!(!got.contains_key("a099"));
    }

    /// AWS answers these for an alarm that is gone; moto does not.
    #[tokio::test]
    async fn alarms_gone_between_calls_are_deleted_and_omitted() {
        use aws_sdk_cloudwatch::operation::delete_alarms::DeleteAlarmsError;
        use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
        use aws_sdk_cloudwatch::operation::list_tags_for_resource::ListTagsForResourceError;
        use aws_sdk_cloudwatch::types::error::{ResourceNotFound, ResourceNotFoundException};
        use aws_smithy_mocks::mock;
        use aws_smithy_types::error::ErrorMetadata;
        let meta = |code: &str| ErrorMetadata::builder().code(code).message("gone").build();
        let delete = mock!(Client::delete_alarms).then_error(move || {
            DeleteAlarmsError::ResourceNotFound(ResourceNotFound::builder().meta(meta("ResourceNotFound")).build())
        });
        let describe = mock!(Client::describe_alarms).then_output(|| {
            DescribeAlarmsOutput::builder().metric_alarms(named("a")).metric_alarms(named("b")).build()
        });
        let tags = mock!(Client::list_tags_for_resource)
            .match_requests(|r| r.resource_arn().is_some_and(|a| a.ends_with(":a")))
            .then_error(move || {
                ListTagsForResourceError::ResourceNotFoundException(
                    ResourceNotFoundException::builder().meta(meta("ResourceNotFoundException")).build(),
                )
            });
        let other_tags = mock!(Client::list_tags_for_resource).then_output(|| {
            aws_sdk_cloudwatch::operation::list_tags_for_resource::ListTagsForResourceOutput::builder()
                .tags(Tag::builder().key("k").value("v").build())
                .build()
        });
        let client = mock_cloudwatch(&[&delete, &describe, &tags, &other_tags]);
        delete_alarm(&client, "a").await.unwrap();
        let got = read_names(&client, &["a".to_owned(), "b".to_owned()], &ReadScope::All).await.unwrap();
        assert_eq!(got.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(got["b"]["tags"], Value::from(BTreeMap::from([("k".to_owned(), "v".to_owned())])));
    }
}
