//! `restore_testing_plan`: an AWS Backup restore testing plan — on a
//! schedule, AWS Backup picks a recovery point from the vaults it names and
//! restores it, proving the backups restore. What it restores is named by
//! its `restore_testing_selection` objects, which depend on it.
//!
//! - Id: the plan name (1 to 50 letters, digits and underscores, starting
//!   with a letter; checked before the create is sent).
//! - Create: CreateRestoreTestingPlan (name, schedule, timezone, start
//!   window, recovery point selection and tags in one call), then a read.
//! - Read: GetRestoreTestingPlan; ListTags when the config manages tags. A
//!   plan that no longer exists is omitted. An unset timezone reads as
//!   `Etc/UTC` (AWS's meaning of none); empty `exclude_vaults` as unset;
//!   the sets sorted.
//! - Update: UpdateRestoreTestingPlan with exactly the settings the plan
//!   changes (the whole `recovery_point_selection` when any of it changes:
//!   AWS takes it as one object), tags with TagResource / UntagResource.
//!   The name forces a new plan.
//! - Delete: DeleteRestoreTestingPlan; one already gone counts as deleted.
//!   AWS refuses while the plan has selections: they depend on the plan, so
//!   the engine deletes them first.
//! - Orphan scan and an interrupted create: ListRestoreTestingPlans, then
//!   each plan's tags.
//! - moto has no restore testing calls: every call is tested with
//!   aws-smithy-mocks (below): create, read, a read of a plan gone, import,
//!   drift, updates of settings and of tags, delete, and the listing.
//! - Cost: none of its own; the restore jobs it starts are billed as
//!   restores and as the restored resources while they exist.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_backup::Client;
use aws_sdk_backup::types::{
    RestoreTestingPlanForCreate, RestoreTestingPlanForUpdate, RestoreTestingRecoveryPointSelection,
    RestoreTestingRecoveryPointSelectionAlgorithm, RestoreTestingRecoveryPointType,
};
use futures::stream;

use super::backup_vault::{NOT_FOUND, listed_tags, read_tags, sync_tags};
use super::owned;
use super::{api_error, error_code, factory, get_i64, get_str, read_each, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, Ownership, Pricing, Schema};
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

/// What AWS Backup accepts as the timezone when none is given, and what an
/// unset timezone reads as.
const UTC: &str = "Etc/UTC";

/// The fields of `recovery_point_selection` (AWS's RecoveryPointSelection).
static SELECTION_FIELDS: [Attr; 5] = [
    Attr::required("algorithm", AttrType::Str).one_of(&["LATEST_WITHIN_WINDOW", "RANDOM_WITHIN_WINDOW"]),
    Attr::required("include_vaults", AttrType::Set(&AttrType::Str)),
    Attr::optional("exclude_vaults", AttrType::Set(&AttrType::Str)),
    Attr::required("recovery_point_types", AttrType::Set(&AttrType::Str)).one_of(&["SNAPSHOT", "CONTINUOUS"]),
    Attr::required("selection_window_days", AttrType::Int).range(1, 365),
];

/// The sets inside `recovery_point_selection`, kept sorted.
const SELECTION_SETS: &[&str] = &["include_vaults", "exclude_vaults", "recovery_point_types"];

/// The settings UpdateRestoreTestingPlan changes (everything but the name and tags).
const SETTINGS: &[&str] =
    &["schedule_expression", "schedule_expression_timezone", "start_window_hours", "recovery_point_selection"];

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::required("name", AttrType::Str).force_new().max_len(50),
        Attr::required("schedule_expression", AttrType::Str),
        Attr::optional("schedule_expression_timezone", AttrType::Str).default(Default::Str(UTC)),
        Attr::optional("start_window_hours", AttrType::Int).range(1, 168).default(Default::Int(24)),
        Attr::required("recovery_point_selection", AttrType::Object(&SELECTION_FIELDS)),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: false,
    taggable: true,
    ownership: Ownership::Listed,
    pricing: Pricing::Free,
};

/// The `restore_testing_plan` resource type.
pub struct RestoreTestingPlan;

/// Checks a restore testing plan or selection name (`what`) against AWS's
/// rule: 1 to 50 ASCII letters, digits and underscores, starting with a letter.
pub(super) fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = (1..=50).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ProviderError::Invalid(format!(
            "{what} name must be 1 to 50 letters, digits and underscores, starting with a letter, got `{name}`"
        )))
    }
}

/// An integer attribute `name` as the SDK takes it; `None` when unset.
pub(super) fn to_i32(name: &str, value: Option<i64>) -> Result<Option<i32>> {
    value
        .map(|v| i32::try_from(v).map_err(|_| ProviderError::Invalid(format!("{name} {v} is out of range"))))
        .transpose()
}

/// `items` sorted and deduplicated, as a value: the canonical form of a set.
pub(super) fn set_value(mut items: Vec<String>) -> Value {
    items.sort();
    items.dedup();
    Value::from(items)
}

/// `recovery_point_selection` in canonical form: its sets sorted, an
/// empty `exclude_vaults` left out (it excludes nothing, as unset does).
fn canonical_selection(fields: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let mut out = fields.clone();
    for name in SELECTION_SETS {
        match out.get(*name).map(Value::string_list) {
            Some(items) if items.is_empty() && *name == "exclude_vaults" => {
                out.remove(*name);
            }
            Some(items) => {
                out.insert((*name).to_owned(), set_value(items));
            }
            None => {}
        }
    }
    out
}

/// AWS's recovery point selection as the `recovery_point_selection` value.
fn selection_value(s: &RestoreTestingRecoveryPointSelection) -> Value {
    let mut m = BTreeMap::new();
    if let Some(algorithm) = s.algorithm() {
        m.insert("algorithm".to_owned(), Value::str(algorithm.as_str()));
    }
    m.insert("include_vaults".to_owned(), set_value(s.include_vaults().to_vec()));
    if !s.exclude_vaults().is_empty() {
        m.insert("exclude_vaults".to_owned(), set_value(s.exclude_vaults().to_vec()));
    }
    let types = s.recovery_point_types().iter().map(|t| t.as_str().to_owned()).collect();
    m.insert("recovery_point_types".to_owned(), set_value(types));
    m.insert("selection_window_days".to_owned(), Value::Int(i64::from(s.selection_window_days())));
    Value::Map(m)
}

/// The `recovery_point_selection` of `attrs` as the calls take it.
fn selection_to_send(attrs: &Attrs) -> Result<RestoreTestingRecoveryPointSelection> {
    let fields = attrs
        .get("recovery_point_selection")
        .and_then(Value::as_map)
        .ok_or_else(|| ProviderError::Invalid("recovery_point_selection is required".into()))?;
    let list = |name: &str| fields.get(name).map(Value::string_list).unwrap_or_default();
    let exclude = list("exclude_vaults");
    let days = to_i32("selection_window_days", fields.get("selection_window_days").and_then(Value::as_i64))?;
    Ok(RestoreTestingRecoveryPointSelection::builder()
        .set_algorithm(
            fields.get("algorithm").and_then(Value::as_str).map(RestoreTestingRecoveryPointSelectionAlgorithm::from),
        )
        .set_include_vaults(Some(list("include_vaults")))
        .set_exclude_vaults((!exclude.is_empty()).then_some(exclude))
        .set_recovery_point_types(Some(
            list("recovery_point_types").iter().map(|t| RestoreTestingRecoveryPointType::from(t.as_str())).collect(),
        ))
        .set_selection_window_days(days)
        .build())
}

/// Reads plan `name`; `None` when it does not exist.
async fn read_plan(client: &Client, name: &str, scope: &ReadScope) -> Result<Option<Attrs>> {
    let out = match client.get_restore_testing_plan().restore_testing_plan_name(name).send().await {
        Ok(out) => out,
        Err(e) if error_code(&e) == Some(NOT_FOUND) => return Ok(None),
        Err(e) => return Err(api_error("GetRestoreTestingPlan", e)),
    };
    let Some(plan) = out.restore_testing_plan() else { return Ok(None) };
    let arn = plan.restore_testing_plan_arn().to_owned();
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(plan.restore_testing_plan_name()));
    a.insert("name".into(), Value::str(plan.restore_testing_plan_name()));
    a.insert("arn".into(), Value::str(&arn));
    a.insert("schedule_expression".into(), Value::str(plan.schedule_expression()));
    a.insert("schedule_expression_timezone".into(), Value::str(plan.schedule_expression_timezone().unwrap_or(UTC)));
    a.insert("start_window_hours".into(), Value::from(plan.start_window_hours()));
    a.insert("recovery_point_selection".into(), plan.recovery_point_selection().map(selection_value).into());
    if scope.wants("tags") {
        let Some(tags) = read_tags(client, &arn).await? else { return Ok(None) };
        a.insert("tags".into(), Value::from(tags));
    }
    Ok(Some(a))
}

async fn read_all(client: &Client, name: &str) -> Result<Attrs> {
    read_plan(client, name, &ReadScope::All).await?.ok_or_else(|| ProviderError::NotFound(name.into()))
}

async fn create_with(client: &Client, desired: &Attrs) -> Result<Attrs> {
    let name = get_str(desired, "name").ok_or_else(|| ProviderError::Invalid("name is required".into()))?;
    check_name("restore_testing_plan", name)?;
    let plan = RestoreTestingPlanForCreate::builder()
        .restore_testing_plan_name(name)
        .set_schedule_expression(get_str(desired, "schedule_expression").map(str::to_owned))
        .set_schedule_expression_timezone(get_str(desired, "schedule_expression_timezone").map(str::to_owned))
        .set_start_window_hours(to_i32("start_window_hours", get_i64(desired, "start_window_hours"))?)
        .recovery_point_selection(selection_to_send(desired)?)
        .build()
        .map_err(|e| ProviderError::Invalid(format!("restore_testing_plan {name}: {e}")))?;
    client
        .create_restore_testing_plan()
        .restore_testing_plan(plan)
        .set_tags(Some(tags_of(desired).into_iter().collect()))
        .send()
        .await
        .map_err(|e| api_error("CreateRestoreTestingPlan", e))?;
    read_all(client, name).await
}

/// Carries out the plan's `update`: tags, then one UpdateRestoreTestingPlan
/// with the settings it changes (none: no call).
async fn update_with(client: &Client, name: &str, update: &PlannedUpdate) -> Result<Attrs> {
    if update.changes("tags") {
        let arn = get_str(&update.before, "arn")
            .ok_or_else(|| ProviderError::Invalid(format!("restore_testing_plan {name} has no arn in state")))?;
        sync_tags(client, arn, update).await?;
    }
    if update.changes_any(SETTINGS) {
        let text = |attr: &str| update.to(attr).and_then(Value::as_str).map(str::to_owned);
        let selection = match update.to("recovery_point_selection") {
            Some(_) => Some(selection_to_send(&update.after)?),
            None => None,
        };
        let plan = RestoreTestingPlanForUpdate::builder()
            .set_schedule_expression(text("schedule_expression"))
            .set_schedule_expression_timezone(text("schedule_expression_timezone"))
            .set_start_window_hours(to_i32(
                "start_window_hours",
                update.to("start_window_hours").and_then(Value::as_i64),
            )?)
            .set_recovery_point_selection(selection)
            .build();
        client
            .update_restore_testing_plan()
            .restore_testing_plan_name(name)
            .restore_testing_plan(plan)
            .send()
            .await
            .map_err(|e| api_error("UpdateRestoreTestingPlan", e))?;
    }
    read_all(client, name).await
}

/// DeleteRestoreTestingPlan; a plan already gone counts as deleted.
async fn delete_with(client: &Client, name: &str) -> Result<()> {
    match client.delete_restore_testing_plan().restore_testing_plan_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(()),
        Err(e) => Err(api_error("DeleteRestoreTestingPlan", e)),
    }
}

/// The region's plans whose name is not in `skip`, with their tags
/// ([`PER_RESOURCE_CONCURRENCY`] at a time); `None` for one deleted meanwhile.
async fn plan_tags(
    client: &Client,
    skip: &BTreeSet<String>,
) -> Result<Vec<Option<(String, BTreeMap<String, String>)>>> {
    let plans: Vec<_> = client
        .list_restore_testing_plans()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("ListRestoreTestingPlans", e))?;
    let named: Vec<(String, String)> = plans
        .iter()
        .map(|p| (p.restore_testing_plan_name().to_owned(), p.restore_testing_plan_arn().to_owned()))
        .filter(|(name, _)| !skip.contains(name))
        .collect();
    listed_tags(client, named).await
}

#[async_trait]
impl ResourceType for RestoreTestingPlan {
    fn type_name(&self) -> &'static str {
        "restore_testing_plan"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// The sets of `recovery_point_selection` sorted, an empty
    /// `exclude_vaults` left out: as a read returns them.
    fn normalize(&self, desired: &mut Attrs) {
        if let Some(Value::Map(fields)) = desired.get("recovery_point_selection") {
            let fields = canonical_selection(fields);
            desired.insert("recovery_point_selection".into(), Value::Map(fields));
        }
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.backup(&ctx.region).await;
        read_each(ids, |id| read_plan(client, id, scope)).await
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        create_with(&factory(ctx)?.backup(&ctx.region).await, desired).await
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        update_with(&factory(ctx)?.backup(&ctx.region).await, id, update).await
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        delete_with(&factory(ctx)?.backup(&ctx.region).await, id).await
    }

    /// Lists the region's plans and reads each one's tags until one carries
    /// this stack's and address's ownership tags.
    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        let client = factory(ctx)?.backup(&ctx.region).await;
        let all = plan_tags(&client, &BTreeSet::new()).await?;
        owned::first_tagged_for(stream::iter(all.into_iter().map(Ok)), ctx, addr).await
    }

    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        let client = factory(ctx)?.backup(&ctx.region).await;
        let all = plan_tags(&client, known).await?;
        Ok(owned::from_tag_reads(&all, &ctx.stack, known))
    }
}

/// AWS Backup's JSON error answer with `code`, as AWS sends it, for mocked
/// answers that go through the SDK's own error parsing.
#[cfg(test)]
pub(super) fn backup_fault(code: &str) -> aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    let body = format!(r#"{{"__type":"{code}","message":"mocked {code}"}}"#);
    aws_smithy_runtime_api::http::Response::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
        aws_smithy_types::body::SdkBody::from(body),
    )
}

#[cfg(test)]
mod tests {
    use aws_sdk_backup::operation::create_restore_testing_plan::CreateRestoreTestingPlanOutput;
    use aws_sdk_backup::operation::delete_restore_testing_plan::DeleteRestoreTestingPlanOutput;
    use aws_sdk_backup::operation::get_restore_testing_plan::GetRestoreTestingPlanOutput;
    use aws_sdk_backup::operation::list_restore_testing_plans::ListRestoreTestingPlansOutput;
    use aws_sdk_backup::operation::list_tags::ListTagsOutput;
    use aws_sdk_backup::operation::tag_resource::TagResourceOutput;
    use aws_sdk_backup::operation::untag_resource::UntagResourceOutput;
    use aws_sdk_backup::operation::update_restore_testing_plan::UpdateRestoreTestingPlanOutput;
    use aws_sdk_backup::types::{RestoreTestingPlanForGet, RestoreTestingPlanForList};
    use aws_smithy_mocks::{Rule, mock};
    use aws_smithy_types::DateTime;

    use super::*;
    use crate::provider::aws::mocked_client;
    use crate::schema::{Mode, TAG_ADDRESS, TAG_STACK};

    const ARN: &str = "arn:aws:backup:us-east-1:123456789012:restore-testing-plan:weekly_restore-0a1b2c";
    const VAULT: &str = "arn:aws:backup:us-east-1:123456789012:backup-vault:shop-primary";
    const OTHER_VAULT: &str = "arn:aws:backup:us-east-1:123456789012:backup-vault:shop-dr";
    const WEEKLY: &str = "cron(0 3 ? * SUN *)";

    fn strs(items: &[&str]) -> Value {
        Value::List(items.iter().map(|s| Value::str(*s)).collect())
    }

    fn tags(pairs: &[(&str, &str)]) -> Value {
        Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), Value::str(*v))).collect())
    }

    fn selection(vaults: &[&str], days: i64) -> Value {
        Value::Map(
            [
                ("algorithm".to_owned(), Value::str("LATEST_WITHIN_WINDOW")),
                ("include_vaults".to_owned(), strs(vaults)),
                ("recovery_point_types".to_owned(), strs(&["CONTINUOUS", "SNAPSHOT"])),
                ("selection_window_days".to_owned(), Value::Int(days)),
            ]
            .into(),
        )
    }

    /// The plan as the stack declares it (defaults applied).
    fn desired() -> Attrs {
        [
            ("name".to_owned(), Value::str("weekly_restore")),
            ("schedule_expression".to_owned(), Value::str(WEEKLY)),
            ("schedule_expression_timezone".to_owned(), Value::str(UTC)),
            ("start_window_hours".to_owned(), Value::Int(24)),
            ("recovery_point_selection".to_owned(), selection(&[VAULT], 7)),
            ("tags".to_owned(), tags(&[(TAG_STACK, "shop"), (TAG_ADDRESS, "restore_testing_plan.weekly")])),
        ]
        .into()
    }

    /// The plan as state holds it after a create: `desired` and the computed attributes.
    fn state() -> Attrs {
        let mut a = desired();
        a.insert("id".into(), Value::str("weekly_restore"));
        a.insert("arn".into(), Value::str(ARN));
        a
    }

    fn aws_selection(vaults: &[&str], days: i32) -> RestoreTestingRecoveryPointSelection {
        let mut s = RestoreTestingRecoveryPointSelection::builder()
            .algorithm(RestoreTestingRecoveryPointSelectionAlgorithm::LatestWithinWindow)
            .recovery_point_types(RestoreTestingRecoveryPointType::Snapshot)
            .recovery_point_types(RestoreTestingRecoveryPointType::Continuous)
            .selection_window_days(days);
        for v in vaults {
            s = s.include_vaults(*v);
        }
        s.build()
    }

    /// GetRestoreTestingPlan's answer, with AWS leaving the timezone unset.
    fn got(schedule: &str, vaults: &[&str], days: i32) -> GetRestoreTestingPlanOutput {
        let plan = RestoreTestingPlanForGet::builder()
            .creation_time(DateTime::from_secs(1_700_000_000))
            .restore_testing_plan_arn(ARN)
            .restore_testing_plan_name("weekly_restore")
            .schedule_expression(schedule)
            .start_window_hours(24)
            .recovery_point_selection(aws_selection(vaults, days))
            .build()
            .unwrap();
        GetRestoreTestingPlanOutput::builder().restore_testing_plan(plan).build()
    }

    fn get_rule(schedule: &'static str, vaults: &'static [&'static str], days: i32) -> Rule {
        mock!(Client::get_restore_testing_plan)
            .match_requests(|r| r.restore_testing_plan_name() == Some("weekly_restore"))
            .then_output(move || got(schedule, vaults, days))
    }

    fn tags_rule() -> Rule {
        mock!(Client::list_tags).match_requests(|r| r.resource_arn() == Some(ARN)).then_output(|| {
            ListTagsOutput::builder().tags(TAG_STACK, "shop").tags(TAG_ADDRESS, "restore_testing_plan.weekly").build()
        })
    }

    fn planned(changes: &[(&str, Value)]) -> PlannedUpdate {
        let mut want = state();
        for (name, v) in changes {
            want.insert((*name).to_owned(), v.clone());
        }
        RestoreTestingPlan.planned_update(&state(), &want, &[])
    }

    #[test]
    fn names_follow_aws_rule() {
        for ok in ["weekly_restore", "a", "Plan_2", &"p".repeat(50)] {
            assert!(check_name("restore_testing_plan", ok).is_ok(), "{ok}");
        }
        for bad in ["", "2weekly", "_weekly", "weekly-restore", "weekly restore", "wöchentlich", &"p".repeat(51)] {
            let err = check_name("restore_testing_plan", bad).unwrap_err();
            assert!(matches!(err, ProviderError::Invalid(_)), "{bad}");
            assert!(err.to_string().contains("letters, digits and underscores"), "{err}");
        }
    }

    /// The create carries every configured setting, the selection and the
    /// ownership tags in one call, and the answer is read back.
    #[tokio::test]
    async fn create_sends_the_desired_plan_with_its_tags() {
        let create = mock!(Client::create_restore_testing_plan)
            .match_requests(|r| {
                let Some(p) = r.restore_testing_plan() else { return false };
                let s = p.recovery_point_selection();
                p.restore_testing_plan_name() == "weekly_restore"
                    && p.schedule_expression() == WEEKLY
                    && p.schedule_expression_timezone() == Some(UTC)
                    && p.start_window_hours() == 24
                    && s.is_some_and(|s| {
                        s.algorithm() == Some(&RestoreTestingRecoveryPointSelectionAlgorithm::LatestWithinWindow)
                            && s.include_vaults() == [VAULT]
                            && s.exclude_vaults.is_none()
                            && s.recovery_point_types()
                                == [
                                    RestoreTestingRecoveryPointType::Continuous,
                                    RestoreTestingRecoveryPointType::Snapshot,
                                ]
                            && s.selection_window_days() == 7
                    })
                    && r.tags().is_some_and(|t| {
                        t.len() == 2 && t.get(TAG_ADDRESS).map(String::as_str) == Some("restore_testing_plan.weekly")
                    })
            })
            .then_output(created_output);
        let (get, list_tags) = (get_rule(WEEKLY, &[VAULT], 7), tags_rule());
        let client = mocked_client!(aws_sdk_backup, &[&create, &get, &list_tags]);
        let created = create_with(&client, &desired()).await.unwrap();
        assert_eq!(create.num_calls(), 1, "a request that does not match the rule fails the call");
        assert_eq!(created, state(), "read back in the form state holds");
        assert!(RestoreTestingPlan.planned_update(&created, &desired(), &[]).changed.is_empty());
    }

    /// A name AWS would refuse is refused before anything is sent.
    #[tokio::test]
    async fn create_refuses_a_bad_name_without_a_call() {
        let create = mock!(Client::create_restore_testing_plan).then_output(created_output);
        let client = mocked_client!(aws_sdk_backup, &[&create]);
        let mut bad = desired();
        bad.insert("name".into(), Value::str("weekly-restore"));
        let err = create_with(&client, &bad).await.unwrap_err();
        assert!(matches!(&err, ProviderError::Invalid(m) if m.contains("`weekly-restore`")), "{err}");
        assert_eq!(create.num_calls(), 0);
    }

    /// Import reads a plan by its id alone: every attribute, tags included,
    /// an unset timezone as `Etc/UTC`, the sets sorted.
    #[tokio::test]
    async fn import_reads_everything_by_id() {
        let (get, list_tags) = (get_rule(WEEKLY, &[VAULT], 7), tags_rule());
        let client = mocked_client!(aws_sdk_backup, &[&get, &list_tags]);
        let read = read_plan(&client, "weekly_restore", &ReadScope::All).await.unwrap().unwrap();
        assert_eq!(read, state());
        assert_eq!(list_tags.num_calls(), 1);

        let scope = ReadScope::Only(["schedule_expression".to_owned()].into());
        let read = read_plan(&client, "weekly_restore", &scope).await.unwrap().unwrap();
        assert!(!read.contains_key("tags"), "no tags asked, none read");
        assert_eq!(list_tags.num_calls(), 1, "no ListTags when the config does not manage tags");
    }

    /// A plan deleted outside pgstack is omitted from a read, and its
    /// deletion counts as done.
    #[tokio::test]
    async fn a_plan_gone_is_omitted_and_its_delete_succeeds() {
        let get = mock!(Client::get_restore_testing_plan).then_http_response(|| backup_fault(NOT_FOUND));
        let delete = mock!(Client::delete_restore_testing_plan).then_http_response(|| backup_fault(NOT_FOUND));
        let client = mocked_client!(aws_sdk_backup, &[&get, &delete]);
        assert_eq!(read_plan(&client, "weekly_restore", &ReadScope::All).await.unwrap(), None);
        delete_with(&client, "weekly_restore").await.unwrap();
        assert_eq!((get.num_calls(), delete.num_calls()), (1, 1));

        let deleted = mock!(Client::delete_restore_testing_plan)
            .match_requests(|r| r.restore_testing_plan_name() == Some("weekly_restore"))
            .then_output(|| DeleteRestoreTestingPlanOutput::builder().build());
        let client = mocked_client!(aws_sdk_backup, &[&deleted]);
        delete_with(&client, "weekly_restore").await.unwrap();
        assert_eq!(deleted.num_calls(), 1);

        let refused =
            mock!(Client::delete_restore_testing_plan).then_http_response(|| backup_fault("InvalidRequestException"));
        let client = mocked_client!(aws_sdk_backup, &[&refused]);
        let err = delete_with(&client, "weekly_restore").await.unwrap_err();
        assert!(err.to_string().starts_with("DeleteRestoreTestingPlan: InvalidRequestException"), "{err}");
    }

    /// A schedule changed outside pgstack reads as such and plans the
    /// change back, and nothing else.
    #[tokio::test]
    async fn drift_in_aws_shows_as_a_planned_change() {
        let (get, list_tags) = (get_rule("cron(0 5 ? * * *)", &[VAULT], 7), tags_rule());
        let client = mocked_client!(aws_sdk_backup, &[&get, &list_tags]);
        let read = read_plan(&client, "weekly_restore", &ReadScope::All).await.unwrap().unwrap();
        let update = RestoreTestingPlan.planned_update(&read, &desired(), &[]);
        assert_eq!(update.changed, ["schedule_expression"]);
        assert_eq!(update.after["schedule_expression"], Value::str(WEEKLY));
        let ignored = RestoreTestingPlan.planned_update(&read, &desired(), &["schedule_expression".to_owned()]);
        assert!(ignored.changed.is_empty(), "ignore_changes leaves it alone");
    }

    /// A changed schedule is sent alone; a changed selection is sent whole
    /// and alone (the schedule it leaves is not sent).
    #[tokio::test]
    async fn update_sends_exactly_the_planned_settings() {
        let schedule_only = mock!(Client::update_restore_testing_plan)
            .match_requests(|r| {
                r.restore_testing_plan_name() == Some("weekly_restore")
                    && r.restore_testing_plan().is_some_and(|p| {
                        p.schedule_expression() == Some("cron(0 4 ? * SAT *)")
                            && p.schedule_expression_timezone().is_none()
                            && p.start_window_hours() == 0
                            && p.recovery_point_selection().is_none()
                    })
            })
            .then_output(update_output);
        let (get, list_tags) = (get_rule("cron(0 4 ? * SAT *)", &[VAULT], 7), tags_rule());
        let client = mocked_client!(aws_sdk_backup, &[&schedule_only, &get, &list_tags]);
        let update = planned(&[("schedule_expression", Value::str("cron(0 4 ? * SAT *)"))]);
        assert_eq!(update.changed, ["schedule_expression"]);
        let after = update_with(&client, "weekly_restore", &update).await.unwrap();
        assert_eq!(schedule_only.num_calls(), 1);
        assert_eq!(after["schedule_expression"], Value::str("cron(0 4 ? * SAT *)"));

        let selection_only = mock!(Client::update_restore_testing_plan)
            .match_requests(|r| {
                r.restore_testing_plan().is_some_and(|p| {
                    p.schedule_expression().is_none()
                        && p.schedule_expression_timezone().is_none()
                        && p.start_window_hours() == 0
                        && p.recovery_point_selection().is_some_and(|s| {
                            s.include_vaults() == [OTHER_VAULT, VAULT]
                                && s.selection_window_days() == 14
                                && s.algorithm().is_some()
                                && s.recovery_point_types().len() == 2
                        })
                })
            })
            .then_output(update_output);
        let get = get_rule(WEEKLY, &[OTHER_VAULT, VAULT], 14);
        let client = mocked_client!(aws_sdk_backup, &[&selection_only, &get, &list_tags]);
        let mut wanted = desired();
        wanted.insert("recovery_point_selection".into(), selection(&[VAULT, OTHER_VAULT], 14));
        RestoreTestingPlan.normalize(&mut wanted);
        let update = RestoreTestingPlan.planned_update(&state(), &wanted, &[]);
        assert_eq!(update.changed, ["recovery_point_selection"]);
        let after = update_with(&client, "weekly_restore", &update).await.unwrap();
        assert_eq!(selection_only.num_calls(), 1);
        assert_eq!(after["recovery_point_selection"], wanted["recovery_point_selection"]);
    }

    fn created_output() -> CreateRestoreTestingPlanOutput {
        CreateRestoreTestingPlanOutput::builder()
            .creation_time(DateTime::from_secs(1_700_000_000))
            .restore_testing_plan_arn(ARN)
            .restore_testing_plan_name("weekly_restore")
            .build()
            .unwrap()
    }

    fn update_output() -> UpdateRestoreTestingPlanOutput {
        UpdateRestoreTestingPlanOutput::builder()
            .creation_time(DateTime::from_secs(1_700_000_000))
            .restore_testing_plan_arn(ARN)
            .restore_testing_plan_name("weekly_restore")
            .update_time(DateTime::from_secs(1_700_000_100))
            .build()
            .unwrap()
    }

    /// Tags change with TagResource / UntagResource on the plan's ARN, and
    /// no UpdateRestoreTestingPlan is sent.
    #[tokio::test]
    async fn tags_change_in_place_without_an_update_call() {
        let settings = mock!(Client::update_restore_testing_plan).then_output(update_output);
        let tag = mock!(Client::tag_resource)
            .match_requests(|r| {
                r.resource_arn() == Some(ARN)
                    && r.tags().is_some_and(|t| t.len() == 1 && t.get("team").map(String::as_str) == Some("dba"))
            })
            .then_output(|| TagResourceOutput::builder().build());
        let untag = mock!(Client::untag_resource)
            .match_requests(|r| r.resource_arn() == Some(ARN) && r.tag_key_list() == ["env"])
            .then_output(|| UntagResourceOutput::builder().build());
        let (get, list_tags) = (get_rule(WEEKLY, &[VAULT], 7), tags_rule());
        let client = mocked_client!(aws_sdk_backup, &[&settings, &tag, &untag, &get, &list_tags]);
        let before_tags = tags(&[(TAG_STACK, "shop"), ("env", "prod")]);
        let mut before = state();
        before.insert("tags".into(), before_tags);
        let mut want = state();
        want.insert("tags".into(), tags(&[(TAG_STACK, "shop"), ("team", "dba")]));
        let update = RestoreTestingPlan.planned_update(&before, &want, &[]);
        assert_eq!(update.changed, ["tags"]);
        update_with(&client, "weekly_restore", &update).await.unwrap();
        assert_eq!((tag.num_calls(), untag.num_calls(), settings.num_calls()), (1, 1, 0));
    }

    /// The listing behind the orphan scan and the lookup of an interrupted
    /// create: every plan not known, with its tags; a plan gone between
    /// the listing and its tags is skipped.
    #[tokio::test]
    async fn plans_are_listed_with_their_tags() {
        let listed = |name: &str| {
            RestoreTestingPlanForList::builder()
                .creation_time(DateTime::from_secs(1_700_000_000))
                .restore_testing_plan_arn(format!("arn:aws:backup:us-east-1:123456789012:restore-testing-plan:{name}"))
                .restore_testing_plan_name(name)
                .schedule_expression(WEEKLY)
                .build()
                .unwrap()
        };
        let list = mock!(Client::list_restore_testing_plans).then_output(move || {
            ListRestoreTestingPlansOutput::builder()
                .restore_testing_plans(listed("ours"))
                .restore_testing_plans(listed("gone"))
                .restore_testing_plans(listed("known"))
                .build()
                .unwrap()
        });
        let gone = mock!(Client::list_tags)
            .match_requests(|r| r.resource_arn().is_some_and(|a| a.ends_with(":gone")))
            .then_http_response(|| backup_fault(NOT_FOUND));
        let ours = mock!(Client::list_tags)
            .match_requests(|r| r.resource_arn().is_some_and(|a| a.ends_with(":ours")))
            .then_output(|| ListTagsOutput::builder().tags(TAG_STACK, "shop").tags(TAG_ADDRESS, "x.y").build());
        let client = mocked_client!(aws_sdk_backup, &[&list, &gone, &ours]);
        let known: BTreeSet<String> = ["known".to_owned()].into();
        let all = plan_tags(&client, &known).await.unwrap();
        let owned = owned::from_tag_reads(&all, "shop", &known);
        assert_eq!(owned, [Owned { id: "ours".into(), address: Some("x.y".into()) }]);
        assert_eq!((gone.num_calls(), ours.num_calls()), (1, 1), "the known plan's tags are not read");
    }

    /// Every setting that can change in place is sent by an update.
    #[test]
    fn every_changeable_attribute_is_sent() {
        let unsent: Vec<&str> = SCHEMA
            .attrs
            .iter()
            .filter(|a| a.mode != Mode::Computed && !a.force_new && a.name != "tags" && !SETTINGS.contains(&a.name))
            .map(|a| a.name)
            .collect();
        assert_eq!(unsent, Vec::<&str>::new());
    }

    #[test]
    fn an_empty_exclusion_reads_as_unset_and_sets_sort() {
        let mut fields = selection(&["b", "a", "b"], 7).as_map().unwrap().clone();
        fields.insert("exclude_vaults".into(), Value::List(Vec::new()));
        let canonical = canonical_selection(&fields);
        assert!(!canonical.contains_key("exclude_vaults"));
        assert_eq!(canonical["include_vaults"], strs(&["a", "b"]));
        let sent = selection_to_send(&[("recovery_point_selection".to_owned(), Value::Map(fields))].into()).unwrap();
        assert!(sent.exclude_vaults.is_none(), "an empty exclusion is not sent");
    }
}
