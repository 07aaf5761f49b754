//! `backup_selection`: which resources a backup plan backs up (by ARN), and
//! the IAM role AWS Backup uses to do it.
//!
//! - Id: `PLAN_ID/SELECTION_ID`: a selection is read through its plan.
//! - AWS cannot change a selection: every attribute forces a new one.
//! - Create: ListBackupSelections of the plan first: a selection of the
//!   same name (a create whose reply was lost) is adopted; otherwise
//!   CreateBackupSelection. The role may be moments old: AWS's refusal of a
//!   role it cannot assume yet is sent again while IAM propagates.
//! - Read: GetBackupSelection; one that is gone (or whose plan is) is omitted.
//! - Delete: DeleteBackupSelection; one already gone counts as deleted.
//! - Untagged: the orphan scan lists none (its plan is tagged).
//! - moto 5.2.5 has no backup selections: every operation is tested with
//!   aws-smithy-mocks (below), and the shipped stacks' moto runs leave the
//!   selections out (`backup_assignments = false`, docs/testing.md).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_backup::Client;
use aws_sdk_backup::types::BackupSelection as AwsSelection;
use futures::{StreamExt, TryStreamExt, stream};

use super::backup_vault::NOT_FOUND;
use super::{PER_RESOURCE_CONCURRENCY, Settling, api_error, error_code, factory, get_str, send_settling};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Kind, Ownership, Pricing, Schema};
use crate::provider::waiter::Backoff;
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("selection_id", AttrType::Str),
        Attr::required("plan_id", AttrType::Str).force_new(),
        Attr::required("name", AttrType::Str).force_new().max_len(50),
        Attr::required("iam_role_arn", AttrType::Str).force_new().pattern(Kind::Arn),
        Attr::required("resources", AttrType::Set(&AttrType::Str)).force_new().pattern(Kind::Arn),
    ],
    guarded: false,
    taggable: false,
    ownership: Ownership::Untagged,
    pricing: Pricing::Free,
};

/// The `backup_selection` resource type.
pub struct BackupSelection;

/// AWS Backup refusing a role IAM has not propagated yet ("Insufficient
/// privileges to perform this action" / "not authorized to assume").
const ROLE_NOT_READY: Settling = Settling::new(
    "InvalidParameterValueException",
    "AWS Backup could not assume the role yet (IAM propagation)",
    Duration::from_secs(120),
)
.with_message("role");

/// The plan and selection an id names; `None` for an id of another form.
fn parse_id(id: &str) -> Option<(&str, &str)> {
    let (plan, selection) = id.split_once('/')?;
    (!plan.is_empty() && !selection.is_empty() && !selection.contains('/')).then_some((plan, selection))
}

/// Reads selection `selection` of plan `plan`; `None` when it or its plan is gone.
async fn read_selection(client: &Client, plan: &str, selection: &str) -> Result<Option<Attrs>> {
    let out = match client.get_backup_selection().backup_plan_id(plan).selection_id(selection).send().await {
        Ok(out) => out,
        Err(e) if error_code(&e) == Some(NOT_FOUND) => return Ok(None),
        Err(e) => return Err(api_error("GetBackupSelection", e)),
    };
    let Some(s) = out.backup_selection() else { return Ok(None) };
    let mut resources = s.resources().to_vec();
    resources.sort();
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(format!("{plan}/{selection}")));
    a.insert("selection_id".into(), Value::str(selection));
    a.insert("plan_id".into(), Value::str(plan));
    a.insert("name".into(), Value::str(s.selection_name()));
    a.insert("iam_role_arn".into(), Value::str(s.iam_role_arn()));
    a.insert("resources".into(), Value::from(resources));
    Ok(Some(a))
}

/// The id of plan `plan`'s selection named `name`, if it has one.
async fn selection_named(client: &Client, plan: &str, name: &str) -> Result<Option<String>> {
    let all: Vec<_> = client
        .list_backup_selections()
        .backup_plan_id(plan)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("ListBackupSelections", e))?;
    Ok(all.iter().find(|s| s.selection_name() == Some(name)).and_then(|s| s.selection_id()).map(str::to_owned))
}

async fn create_with(client: &Client, ctx: &Ctx, desired: &Attrs, backoff: Backoff) -> Result<Attrs> {
    let text = |k: &str| get_str(desired, k).map(str::to_owned);
    let (Some(plan), Some(name)) = (text("plan_id"), text("name")) else {
        return Err(ProviderError::Invalid("backup_selection needs plan_id and name".into()));
    };
    let selection_id = match selection_named(client, &plan, &name).await? {
        Some(id) => id,
        None => {
            let selection = AwsSelection::builder()
                .selection_name(&name)
                .set_iam_role_arn(text("iam_role_arn"))
                .set_resources(Some(desired.get("resources").map(Value::string_list).unwrap_or_default()))
                .build()
                .map_err(|e| ProviderError::Invalid(format!("backup_selection: {e}")))?;
            let out = send_settling(ctx, "CreateBackupSelection", &[ROLE_NOT_READY], backoff, || {
                client.create_backup_selection().backup_plan_id(&plan).backup_selection(selection.clone()).send()
            })
            .await
            .map_err(|e| api_error("CreateBackupSelection", e))?;
            out.selection_id()
                .map(str::to_owned)
                .ok_or_else(|| ProviderError::Invalid("CreateBackupSelection returned no id".into()))?
        }
    };
    let id = format!("{plan}/{selection_id}");
    read_selection(client, &plan, &selection_id).await?.ok_or(ProviderError::NotFound(id))
}

async fn delete_with(client: &Client, id: &str) -> Result<()> {
    let (plan, selection) =
        parse_id(id).ok_or_else(|| ProviderError::Invalid(format!("not a backup_selection id: {id}")))?;
    match client.delete_backup_selection().backup_plan_id(plan).selection_id(selection).send().await {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(()),
        Err(e) => Err(api_error("DeleteBackupSelection", e)),
    }
}

#[async_trait]
impl ResourceType for BackupSelection {
    fn type_name(&self) -> &'static str {
        "backup_selection"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// Resources sorted and deduplicated, as a set is held.
    fn normalize(&self, desired: &mut Attrs) {
        if let Some(v @ Value::List(_)) = desired.get_mut("resources") {
            let mut items = v.string_list();
            items.sort();
            items.dedup();
            *v = Value::from(items);
        }
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], _scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        let wanted: Vec<(&String, (&str, &str))> = ids.iter().filter_map(|id| Some((id, parse_id(id)?))).collect();
        if wanted.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.backup(&ctx.region).await;
        let reads: Vec<_> = wanted
            .into_iter()
            .map(|(id, (plan, selection))| async move {
                Ok(read_selection(client, plan, selection).await?.map(|a| (id.clone(), a)))
            })
            .collect();
        let found: Vec<Option<(String, Attrs)>> =
            stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        create_with(&factory(ctx)?.backup(&ctx.region).await, ctx, desired, Backoff::RETRY).await
    }

    /// Never planned: every attribute forces a new selection.
    async fn update(&self, _ctx: &Ctx, id: &str, _update: &PlannedUpdate) -> Result<Attrs> {
        Err(ProviderError::Invalid(format!("backup_selection {id} cannot change in place")))
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        delete_with(&factory(ctx)?.backup(&ctx.region).await, id).await
    }

    /// None: a selection has no tags; create adopts one of its name instead.
    async fn find_created(&self, _ctx: &Ctx, _addr: &ResourceAddr) -> Result<Option<String>> {
        Ok(None)
    }

    /// Nothing: selections carry no tags of their own.
    async fn list_owned(&self, _ctx: &Ctx, _known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_backup::operation::create_backup_selection::CreateBackupSelectionOutput;
    use aws_sdk_backup::operation::delete_backup_selection::DeleteBackupSelectionOutput;
    use aws_sdk_backup::operation::get_backup_selection::GetBackupSelectionOutput;
    use aws_sdk_backup::operation::list_backup_selections::ListBackupSelectionsOutput;
    use aws_sdk_backup::types::BackupSelectionsListMember;
    use aws_smithy_mocks::mock;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    use super::*;
    use crate::provider::aws::rds::{TEST_BACKOFF, test_ctx};

    const ROLE: &str = "arn:aws:iam::123456789012:role/backup";
    const CLUSTER: &str = "arn:aws:rds:us-east-1:123456789012:cluster:shop";

    fn desired() -> Attrs {
        let mut a: Attrs = [
            ("plan_id".to_owned(), Value::str("p-1")),
            ("name".to_owned(), Value::str("shop")),
            ("iam_role_arn".to_owned(), Value::str(ROLE)),
            ("resources".to_owned(), Value::from(vec![CLUSTER.to_owned()])),
        ]
        .into();
        BackupSelection.normalize(&mut a);
        a
    }

    fn got(role: &str) -> GetBackupSelectionOutput {
        let s = AwsSelection::builder().selection_name("shop").iam_role_arn(role).resources(CLUSTER).build().unwrap();
        GetBackupSelectionOutput::builder().backup_selection(s).selection_id("s-1").backup_plan_id("p-1").build()
    }

    fn error(code: &str, message: &str) -> aws_smithy_runtime_api::http::Response {
        let body = format!(r#"{{"__type":"{code}","message":"{message}"}}"#);
        aws_smithy_runtime_api::http::Response::new(StatusCode::try_from(400).unwrap(), SdkBody::from(body))
    }

    fn listed(names: &[(&str, &str)]) -> ListBackupSelectionsOutput {
        let members = names
            .iter()
            .map(|(id, name)| BackupSelectionsListMember::builder().selection_id(*id).selection_name(*name).build());
        ListBackupSelectionsOutput::builder().set_backup_selections_list(Some(members.collect())).build()
    }

    /// Create sends the declared selection, sent again while IAM propagates
    /// the role, and reads back what it made: the import of that id gives the same.
    #[tokio::test]
    async fn create_sends_the_declared_selection_and_reads_it_back() {
        let list = mock!(Client::list_backup_selections).then_output(|| listed(&[("s-0", "other")]));
        let create = mock!(Client::create_backup_selection)
            .match_requests(|r| {
                let s = r.backup_selection();
                r.backup_plan_id() == Some("p-1")
                    && s.is_some_and(|s| s.selection_name() == "shop" && s.iam_role_arn() == ROLE)
                    && s.is_some_and(|s| s.resources() == [CLUSTER])
            })
            .sequence()
            .http_response(|| error("InvalidParameterValueException", "Invalid role: cannot assume role"))
            .output(|| CreateBackupSelectionOutput::builder().selection_id("s-1").build())
            .build();
        let get = mock!(Client::get_backup_selection)
            .match_requests(|r| r.backup_plan_id() == Some("p-1") && r.selection_id() == Some("s-1"))
            .then_output(|| got(ROLE));
        let client = crate::provider::aws::mocked_client!(aws_sdk_backup, &[&list, &create, &get]);
        let (ctx, _) = test_ctx();
        let made = create_with(&client, &ctx, &desired(), TEST_BACKOFF).await.unwrap();
        assert_eq!(create.num_calls(), 2, "sent again after the role refusal");
        assert_eq!(made["id"], Value::str("p-1/s-1"));
        let mut want = desired();
        want.extend([("id".to_owned(), Value::str("p-1/s-1")), ("selection_id".to_owned(), Value::str("s-1"))]);
        assert_eq!(made, want);
        assert_eq!(read_selection(&client, "p-1", "s-1").await.unwrap(), Some(want));
    }

    /// A selection of the same name (a create whose reply was lost) is
    /// adopted: no second CreateBackupSelection.
    #[tokio::test]
    async fn a_selection_of_the_same_name_is_adopted() {
        let list = mock!(Client::list_backup_selections).then_output(|| listed(&[("s-1", "shop")]));
        let create = mock!(Client::create_backup_selection)
            .then_output(|| CreateBackupSelectionOutput::builder().selection_id("s-2").build());
        let get = mock!(Client::get_backup_selection).then_output(|| got(ROLE));
        let client = crate::provider::aws::mocked_client!(aws_sdk_backup, &[&list, &create, &get]);
        let (ctx, _) = test_ctx();
        let made = create_with(&client, &ctx, &desired(), TEST_BACKOFF).await.unwrap();
        assert_eq!((create.num_calls(), made["id"].clone()), (0, Value::str("p-1/s-1")));
    }

    /// A role changed outside pgstack reads as drift the plan replaces; a
    /// selection that is gone reads as gone, and deleting it again succeeds.
    #[tokio::test]
    async fn drift_gone_and_delete() {
        let get = mock!(Client::get_backup_selection).then_output(|| got("arn:aws:iam::123456789012:role/other"));
        let client = crate::provider::aws::mocked_client!(aws_sdk_backup, &[&get]);
        let read = read_selection(&client, "p-1", "s-1").await.unwrap().unwrap();
        let change = BackupSelection.planned_update(&read, &desired(), &[]);
        assert_eq!(change.changed, ["iam_role_arn"]);

        let gone = mock!(Client::get_backup_selection).then_http_response(|| error(NOT_FOUND, "no selection"));
        let delete = mock!(Client::delete_backup_selection)
            .match_requests(|r| r.backup_plan_id() == Some("p-1") && r.selection_id() == Some("s-1"))
            .then_http_response(|| error(NOT_FOUND, "no selection"));
        let client = crate::provider::aws::mocked_client!(aws_sdk_backup, &[&gone, &delete]);
        assert_eq!(read_selection(&client, "p-1", "s-1").await.unwrap(), None);
        delete_with(&client, "p-1/s-1").await.unwrap();
        assert_eq!(delete.num_calls(), 1);

        let ok = mock!(Client::delete_backup_selection).then_output(|| DeleteBackupSelectionOutput::builder().build());
        let client = crate::provider::aws::mocked_client!(aws_sdk_backup, &[&ok]);
        delete_with(&client, "p-1/s-1").await.unwrap();
        assert!(delete_with(&client, "no-slash").await.is_err());
    }

    #[test]
    fn ids_name_a_plan_and_a_selection() {
        assert_eq!(parse_id("p-1/s-1"), Some(("p-1", "s-1")));
        for bad in ["p-1", "/s", "p/", "p/s/x"] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }
}
