//! `backup_plan`: an AWS Backup plan — when backups of the resources its
//! selections name are taken, into which vault, how long they are kept,
//! and where they are copied (another region's vault, for disaster recovery).
//!
//! - Id: the plan id AWS assigns (a UUID).
//! - Rules: a set of tables; each rule's lifecycle is flattened into
//!   `delete_after_days` / `cold_storage_after_days`, and its copy actions
//!   are `copy_to` tables (`destination_vault_arn` and their own lifecycle).
//!   What AWS fills in when a rule leaves it out (schedule
//!   `cron(0 5 ? * * *)`, time zone `Etc/UTC`, start window 480 minutes,
//!   completion window 10080, continuous backup off) is filled in by
//!   `normalize`, so a rule that leaves them out plans clean.
//! - Create: CreateBackupPlan (name, rules, tags in one call).
//! - Read: GetBackupPlan; a plan AWS reports deleted (`DeletionDate`) or
//!   does not know is omitted; ListTags when the config manages tags.
//! - Update: UpdateBackupPlan with the whole plan (AWS takes it whole) when
//!   the name or the rules change; tags with TagResource / UntagResource.
//! - Delete: DeleteBackupPlan (AWS refuses while selections remain: they
//!   depend on the plan and go first). One already gone counts as deleted.
//! - Orphan scan and an interrupted create: ListBackupPlans, then each
//!   plan's tags.
//! - Tested against moto: create, read, tags in place, drift of the tags,
//!   import, delete. moto 5.2.5 has no UpdateBackupPlan: a changed rule is
//!   tested with aws-smithy-mocks (below).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_backup::Client;
use aws_sdk_backup::types::{BackupPlanInput, BackupRule, BackupRuleInput, CopyAction, Lifecycle};
use futures::stream;

use super::backup_vault::{NOT_FOUND, listed_tags, read_tags, sync_tags};
use super::owned;
use super::{api_error, error_code, factory, get_str, read_each, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, NameRule, Ownership, Pricing, Schema};
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

/// One copy of each recovery point into another vault, with its own lifecycle.
static COPY: [Attr; 3] = [
    Attr::required("destination_vault_arn", AttrType::Str).pattern(Kind::Arn),
    Attr::optional("delete_after_days", AttrType::Int).range(1, 36_500),
    Attr::optional("cold_storage_after_days", AttrType::Int).range(1, 36_500),
];
static COPY_OBJECT: AttrType = AttrType::Object(&COPY);

static RULE: [Attr; 10] = [
    Attr::required("rule_name", AttrType::Str).max_len(50),
    Attr::required("target_vault_name", AttrType::Str),
    Attr::optional("schedule_expression", AttrType::Str),
    Attr::optional("schedule_expression_timezone", AttrType::Str),
    Attr::optional("start_window_minutes", AttrType::Int).range(60, 43_200),
    Attr::optional("completion_window_minutes", AttrType::Int).range(120, 10_080_000),
    Attr::optional("delete_after_days", AttrType::Int).range(1, 36_500),
    Attr::optional("cold_storage_after_days", AttrType::Int).range(1, 36_500),
    Attr::optional("copy_to", AttrType::Set(&COPY_OBJECT)),
    Attr::optional("enable_continuous_backup", AttrType::Bool),
];
static RULE_OBJECT: AttrType = AttrType::Object(&RULE);

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::computed("version_id", AttrType::Str),
        Attr::optional("name", AttrType::Str).max_len(50).default_name(NameRule::new(50, false, "-_.")),
        Attr::required("rules", AttrType::Set(&RULE_OBJECT)),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: false,
    taggable: true,
    ownership: Ownership::Listed,
    pricing: Pricing::BackupPlan,
};

/// The `backup_plan` resource type.
pub struct BackupPlan;

/// What AWS fills in for a rule that leaves it out.
const RULE_DEFAULTS: [(&str, Default); 5] = [
    ("schedule_expression", Default::Str("cron(0 5 ? * * *)")),
    ("schedule_expression_timezone", Default::Str("Etc/UTC")),
    ("start_window_minutes", Default::Int(480)),
    ("completion_window_minutes", Default::Int(10_080)),
    ("enable_continuous_backup", Default::Bool(false)),
];

type Table = BTreeMap<String, Value>;

/// A lifecycle's two settings as table entries (null ones left out).
fn lifecycle_fields(out: &mut Table, lifecycle: Option<&Lifecycle>) {
    let Some(l) = lifecycle else { return };
    if let Some(days) = l.delete_after_days() {
        out.insert("delete_after_days".into(), Value::Int(days));
    }
    if let Some(days) = l.move_to_cold_storage_after_days() {
        out.insert("cold_storage_after_days".into(), Value::Int(days));
    }
}

/// A rule as AWS describes it, as the schema's table.
fn rule_table(r: &BackupRule) -> Value {
    let mut t = Table::new();
    t.insert("rule_name".into(), Value::str(r.rule_name()));
    t.insert("target_vault_name".into(), Value::str(r.target_backup_vault_name()));
    let texts = [
        ("schedule_expression", r.schedule_expression()),
        ("schedule_expression_timezone", r.schedule_expression_timezone()),
    ];
    for (k, v) in texts {
        t.insert(k.into(), v.into());
    }
    t.insert("start_window_minutes".into(), r.start_window_minutes().map(Value::Int).unwrap_or_default());
    t.insert("completion_window_minutes".into(), r.completion_window_minutes().map(Value::Int).unwrap_or_default());
    t.insert("enable_continuous_backup".into(), Value::Bool(r.enable_continuous_backup().unwrap_or(false)));
    lifecycle_fields(&mut t, r.lifecycle());
    let copies: Vec<Value> = r
        .copy_actions()
        .iter()
        .map(|c| {
            let mut copy = Table::new();
            copy.insert("destination_vault_arn".into(), Value::str(c.destination_backup_vault_arn()));
            lifecycle_fields(&mut copy, c.lifecycle());
            Value::Map(copy)
        })
        .collect();
    t.insert("copy_to".into(), Value::List(sorted_tables(copies)));
    t.retain(|_, v| !v.is_null());
    Value::Map(t)
}

/// Tables in one canonical order (by their text), as set values are held.
fn sorted_tables(mut items: Vec<Value>) -> Vec<Value> {
    items.sort_by_key(Value::to_string);
    items
}

/// The lifecycle a rule or copy table sets; `None` when it sets neither day count.
fn lifecycle_of(t: &Table) -> Option<Lifecycle> {
    let days = |k: &str| t.get(k).and_then(Value::as_i64);
    let (delete, cold) = (days("delete_after_days"), days("cold_storage_after_days"));
    (delete.is_some() || cold.is_some())
        .then(|| Lifecycle::builder().set_delete_after_days(delete).set_move_to_cold_storage_after_days(cold).build())
}

/// The plan `attrs` declare, as CreateBackupPlan and UpdateBackupPlan take it.
fn plan_input(attrs: &Attrs) -> Result<BackupPlanInput> {
    let invalid = |e: aws_sdk_backup::error::BuildError| ProviderError::Invalid(format!("backup_plan: {e}"));
    let rules = attrs.get("rules").and_then(Value::as_list).unwrap_or_default();
    let mut inputs = Vec::new();
    for rule in rules.iter().filter_map(Value::as_map) {
        let text = |k: &str| rule.get(k).and_then(Value::as_str).map(str::to_owned);
        let copies = rule.get("copy_to").and_then(Value::as_list).unwrap_or_default();
        let copy_actions = copies
            .iter()
            .filter_map(Value::as_map)
            .map(|c| {
                CopyAction::builder()
                    .set_destination_backup_vault_arn(
                        c.get("destination_vault_arn").and_then(Value::as_str).map(str::to_owned),
                    )
                    .set_lifecycle(lifecycle_of(c))
                    .build()
                    .map_err(invalid)
            })
            .collect::<Result<Vec<_>>>()?;
        let input = BackupRuleInput::builder()
            .set_rule_name(text("rule_name"))
            .set_target_backup_vault_name(text("target_vault_name"))
            .set_schedule_expression(text("schedule_expression"))
            .set_schedule_expression_timezone(text("schedule_expression_timezone"))
            .set_start_window_minutes(rule.get("start_window_minutes").and_then(Value::as_i64))
            .set_completion_window_minutes(rule.get("completion_window_minutes").and_then(Value::as_i64))
            .set_enable_continuous_backup(rule.get("enable_continuous_backup").and_then(Value::as_bool))
            .set_lifecycle(lifecycle_of(rule))
            .set_copy_actions((!copy_actions.is_empty()).then_some(copy_actions))
            .build()
            .map_err(invalid)?;
        inputs.push(input);
    }
    BackupPlanInput::builder()
        .set_backup_plan_name(get_str(attrs, "name").map(str::to_owned))
        .set_rules(Some(inputs))
        .build()
        .map_err(invalid)
}

/// Reads plan `id`; `None` when it does not exist or AWS reports it deleted.
async fn read_plan(client: &Client, id: &str, scope: &ReadScope) -> Result<Option<Attrs>> {
    let out = match client.get_backup_plan().backup_plan_id(id).send().await {
        Ok(out) => out,
        Err(e) if error_code(&e) == Some(NOT_FOUND) => return Ok(None),
        Err(e) => return Err(api_error("GetBackupPlan", e)),
    };
    if out.deletion_date().is_some() {
        return Ok(None);
    }
    let Some(plan) = out.backup_plan() else { return Ok(None) };
    let arn = out.backup_plan_arn().unwrap_or_default().to_owned();
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(id));
    a.insert("arn".into(), Value::str(&arn));
    a.insert("version_id".into(), out.version_id().into());
    a.insert("name".into(), Value::str(plan.backup_plan_name()));
    a.insert("rules".into(), Value::List(sorted_tables(plan.rules().iter().map(rule_table).collect())));
    if scope.wants("tags") {
        let Some(tags) = read_tags(client, &arn).await? else { return Ok(None) };
        a.insert("tags".into(), Value::from(tags));
    }
    Ok(Some(a))
}

async fn read_all(client: &Client, id: &str) -> Result<Attrs> {
    read_plan(client, id, &ReadScope::All).await?.ok_or_else(|| ProviderError::NotFound(id.into()))
}

/// Carries out the plan's `update`: the whole backup plan when its name or
/// rules change (UpdateBackupPlan), then the tags.
async fn update_with(client: &Client, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
    if update.changes_any(&["name", "rules"]) {
        let input = plan_input(&update.after)?;
        let out = client.update_backup_plan().backup_plan_id(id).backup_plan(input).send().await;
        out.map_err(|e| api_error("UpdateBackupPlan", e))?;
    }
    if update.changes("tags") {
        let arn = get_str(&update.before, "arn")
            .ok_or_else(|| ProviderError::Invalid(format!("backup_plan {id} has no arn in state")))?;
        sync_tags(client, arn, update).await?;
    }
    read_all(client, id).await
}

/// The region's plans whose id is not in `skip`, with their tags.
async fn plan_tags(
    client: &Client,
    skip: &BTreeSet<String>,
) -> Result<Vec<Option<(String, BTreeMap<String, String>)>>> {
    let plans: Vec<_> = client
        .list_backup_plans()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("ListBackupPlans", e))?;
    let named: Vec<(String, String)> = plans
        .iter()
        .filter(|p| p.deletion_date().is_none())
        .filter_map(|p| Some((p.backup_plan_id()?.to_owned(), p.backup_plan_arn()?.to_owned())))
        .filter(|(id, _)| !skip.contains(id))
        .collect();
    listed_tags(client, named).await
}

#[async_trait]
impl ResourceType for BackupPlan {
    fn type_name(&self) -> &'static str {
        "backup_plan"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// Each rule with what AWS fills in when it is left out, and rules and
    /// copies in one canonical order.
    fn normalize(&self, desired: &mut Attrs) {
        let Some(Value::List(rules)) = desired.get_mut("rules") else { return };
        for rule in rules.iter_mut() {
            let Value::Map(t) = rule else { continue };
            for (k, default) in RULE_DEFAULTS {
                t.entry(k.to_owned()).or_insert_with(|| default.value());
            }
            let copies = match t.remove("copy_to") {
                Some(Value::List(copies)) => copies,
                _ => Vec::new(),
            };
            t.insert("copy_to".into(), Value::List(sorted_tables(copies)));
        }
        let sorted = sorted_tables(std::mem::take(rules));
        *rules = sorted;
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.backup(&ctx.region).await;
        read_each(ids, |id| read_plan(client, id, scope)).await
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let client = factory(ctx)?.backup(&ctx.region).await;
        let out = client
            .create_backup_plan()
            .backup_plan(plan_input(desired)?)
            .set_backup_plan_tags(Some(tags_of(desired).into_iter().collect()))
            .send()
            .await
            .map_err(|e| api_error("CreateBackupPlan", e))?;
        let id =
            out.backup_plan_id().ok_or_else(|| ProviderError::Invalid("CreateBackupPlan returned no id".into()))?;
        read_all(&client, id).await
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        update_with(&factory(ctx)?.backup(&ctx.region).await, id, update).await
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        let client = factory(ctx)?.backup(&ctx.region).await;
        match client.delete_backup_plan().backup_plan_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(()),
            Err(e) => Err(api_error("DeleteBackupPlan", e)),
        }
    }

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

#[cfg(test)]
mod tests {
    use aws_sdk_backup::operation::get_backup_plan::GetBackupPlanOutput;
    use aws_sdk_backup::operation::list_tags::ListTagsOutput;
    use aws_sdk_backup::operation::update_backup_plan::UpdateBackupPlanOutput;
    use aws_smithy_mocks::mock;

    use super::*;

    const DR_VAULT: &str = "arn:aws:backup:us-west-2:123456789012:backup-vault:shop-dr";

    fn rule(weekly_days: i64) -> Value {
        Value::Map(Table::from([
            ("rule_name".to_owned(), Value::str("weekly")),
            ("target_vault_name".to_owned(), Value::str("shop")),
            ("schedule_expression".to_owned(), Value::str("cron(0 3 ? * SUN *)")),
            ("delete_after_days".to_owned(), Value::Int(35)),
            (
                "copy_to".to_owned(),
                Value::List(vec![Value::Map(Table::from([
                    ("destination_vault_arn".to_owned(), Value::str(DR_VAULT)),
                    ("delete_after_days".to_owned(), Value::Int(weekly_days)),
                ]))]),
            ),
        ]))
    }

    fn attrs(weekly_days: i64) -> Attrs {
        let mut a: Attrs = [
            ("name".to_owned(), Value::str("shop")),
            ("arn".to_owned(), Value::str("arn:aws:backup:us-east-1:123456789012:backup-plan:p-1")),
            ("rules".to_owned(), Value::List(vec![rule(weekly_days)])),
        ]
        .into();
        BackupPlan.normalize(&mut a);
        a
    }

    /// What AWS answers for the plan `plan_input` sends, as GetBackupPlan does.
    fn answered(weekly_days: i64) -> GetBackupPlanOutput {
        let input = plan_input(&attrs(weekly_days)).unwrap();
        let rules = input.rules().iter().map(|r| {
            BackupRule::builder()
                .rule_name(r.rule_name())
                .target_backup_vault_name(r.target_backup_vault_name())
                .set_schedule_expression(r.schedule_expression().map(str::to_owned))
                .set_schedule_expression_timezone(r.schedule_expression_timezone().map(str::to_owned))
                .set_start_window_minutes(r.start_window_minutes())
                .set_completion_window_minutes(r.completion_window_minutes())
                .set_enable_continuous_backup(r.enable_continuous_backup())
                .set_lifecycle(r.lifecycle().cloned())
                .set_copy_actions(Some(r.copy_actions().to_vec()))
                .build()
                .unwrap()
        });
        let plan = aws_sdk_backup::types::BackupPlan::builder()
            .backup_plan_name("shop")
            .set_rules(Some(rules.collect()))
            .build()
            .unwrap();
        GetBackupPlanOutput::builder()
            .backup_plan(plan)
            .backup_plan_id("p-1")
            .backup_plan_arn("arn:aws:backup:us-east-1:123456789012:backup-plan:p-1")
            .version_id("v2")
            .build()
    }

    /// A rule left without AWS's defaults reads back as it was declared,
    /// defaults filled: a plan that sets few settings plans clean.
    #[tokio::test]
    async fn a_rule_reads_back_as_declared() {
        let get = mock!(Client::get_backup_plan).then_output(|| answered(90));
        let client = crate::provider::aws::mocked_client!(aws_sdk_backup, &[&get]);
        let read = read_plan(&client, "p-1", &ReadScope::Only(BTreeSet::new())).await.unwrap().unwrap();
        assert_eq!(read["rules"], attrs(90)["rules"]);
        let rule = read["rules"].as_list().unwrap()[0].as_map().unwrap();
        assert_eq!(rule["start_window_minutes"], Value::Int(480));
    }

    /// moto has no UpdateBackupPlan: a copy kept longer goes in one call
    /// carrying the whole plan, and the answer is read back.
    #[tokio::test]
    async fn a_changed_rule_is_sent_whole_in_one_update() {
        let update = mock!(Client::update_backup_plan)
            .match_requests(|r| {
                let rules = r.backup_plan().map(|p| p.rules()).unwrap_or_default();
                r.backup_plan_id() == Some("p-1")
                    && rules.len() == 1
                    && rules[0].copy_actions()[0].lifecycle().and_then(|l| l.delete_after_days()) == Some(180)
                    && rules[0].lifecycle().and_then(|l| l.delete_after_days()) == Some(35)
            })
            .then_output(|| UpdateBackupPlanOutput::builder().build());
        let get = mock!(Client::get_backup_plan).then_output(|| answered(180));
        let tags = mock!(Client::list_tags).then_output(|| ListTagsOutput::builder().build());
        let client = crate::provider::aws::mocked_client!(aws_sdk_backup, &[&update, &get, &tags]);
        let planned = PlannedUpdate { before: attrs(90), after: attrs(180), changed: vec!["rules".into()] };
        let got = update_with(&client, "p-1", &planned).await.unwrap();
        assert_eq!(update.num_calls(), 1);
        assert_eq!(got["rules"], attrs(180)["rules"]);
    }

    /// A plan AWS reports deleted is gone.
    #[tokio::test]
    async fn a_deleted_plan_is_omitted() {
        let get = mock!(Client::get_backup_plan).then_output(|| {
            let mut out = answered(90);
            out = GetBackupPlanOutput::builder()
                .set_backup_plan(out.backup_plan().cloned())
                .backup_plan_id("p-1")
                .deletion_date(aws_smithy_types::DateTime::from_secs(1))
                .build();
            out
        });
        let client = crate::provider::aws::mocked_client!(aws_sdk_backup, &[&get]);
        assert!(read_plan(&client, "p-1", &ReadScope::All).await.unwrap().is_none());
    }
}
