//! `restore_testing_selection`: what a `restore_testing_plan` restores —
//! protected resources of one type (the Aurora cluster), the role AWS
//! Backup restores them with, and how long a restored copy is kept for
//! validation before AWS Backup deletes it.
//!
//! A selection belongs to its plan and carries no tags of its own.
//!
//! - Id: `PLAN_NAME/SELECTION_NAME` (names are 1 to 50 letters, digits and
//!   underscores, starting with a letter, so the `/` is unambiguous; both
//!   are checked before the create is sent).
//! - Create: CreateRestoreTestingSelection (name, resource type, role,
//!   resource ARNs, metadata overrides, validation window), then a read.
//! - Read: GetRestoreTestingSelection. A selection (or plan) that no longer
//!   exists is omitted, and so is an id not of the `PLAN/SELECTION` form
//!   (nothing is asked). Unset overrides read as an empty table.
//! - Update: UpdateRestoreTestingSelection with exactly the changed fields
//!   among `iam_role_arn`, `protected_resource_arns`,
//!   `restore_metadata_overrides` (the whole table) and
//!   `validation_window_hours`. The plan, the name and the resource type
//!   force a new selection. The SDK leaves a validation window of 0 out of
//!   the request, so lowering one to 0 in place cannot be sent: the plan
//!   refuses it, and `--replace` makes a new selection with it instead.
//! - Delete: DeleteRestoreTestingSelection; one already gone (or whose plan
//!   is gone) counts as deleted.
//! - `restore_metadata_overrides` is plain configuration of the restored
//!   copy (e.g. `{ dbinstanceclass = "db.r6g.large" }`), kept in state and
//!   shown in plans like any setting: it must never carry a secret.
//! - Adoption after a crash and the orphan scan: none (no tags to find it
//!   by). After a create whose reply was lost, the next create of the same
//!   name is refused by AWS; `pgstack import ADDR PLAN/SELECTION` adopts it.
//! - moto has no restore testing calls: every call is tested with
//!   aws-smithy-mocks (below): create, read, a read of a selection gone or
//!   of a malformed id, import, drift, updates, the refused window, delete.
//! - Cost: none of its own (the restores are billed to the plan's jobs).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_backup::Client;
use aws_sdk_backup::types::{RestoreTestingSelectionForCreate, RestoreTestingSelectionForUpdate};

use super::backup_vault::NOT_FOUND;
use super::restore_testing_plan::{check_name, set_value, to_i32};
use super::{api_error, error_code, factory, get_i64, get_str, read_each};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, Ownership, Pricing, Schema};
use crate::provider::{Ctx, Intent, Owned, PlannedUpdate, ProviderError, ReadScope, Refusal, ResourceType, Result};
use crate::value::{Attrs, Value};

/// The fields UpdateRestoreTestingSelection changes.
const SETTINGS: &[&str] =
    &["iam_role_arn", "protected_resource_arns", "restore_metadata_overrides", "validation_window_hours"];

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::required("restore_testing_plan_name", AttrType::Str).force_new().max_len(50),
        Attr::required("name", AttrType::Str).force_new().max_len(50),
        Attr::required("protected_resource_type", AttrType::Str).force_new(),
        Attr::required("iam_role_arn", AttrType::Str).pattern(Kind::Arn),
        Attr::required("protected_resource_arns", AttrType::Set(&AttrType::Str)),
        Attr::optional("restore_metadata_overrides", AttrType::Map(&AttrType::Str)),
        Attr::optional("validation_window_hours", AttrType::Int).range(0, 168).default(Default::Int(0)),
    ],
    guarded: false,
    taggable: false,
    ownership: Ownership::Untagged,
    pricing: Pricing::Free,
};

/// The `restore_testing_selection` resource type.
pub struct RestoreTestingSelection;

/// The plan and selection names of an id `PLAN/SELECTION`; `None` for
/// another form.
fn split_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('/').filter(|(plan, name)| !plan.is_empty() && !name.is_empty() && !name.contains('/'))
}

/// `split_id`, or an error naming the id, for calls that need the names.
fn names_of(id: &str) -> Result<(&str, &str)> {
    split_id(id).ok_or_else(|| {
        ProviderError::Invalid(format!(
            "restore_testing_selection id `{id}` is not of the form PLAN_NAME/SELECTION_NAME"
        ))
    })
}

/// A table attribute of strings as the SDK takes it; `None` when unset.
fn string_map(attrs: &Attrs, name: &str) -> Option<std::collections::HashMap<String, String>> {
    attrs
        .get(name)
        .and_then(Value::as_map)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
}

/// The reason a validation window cannot go from `current` to 0 in place.
fn zero_window_refusal() -> Refusal {
    Refusal::new(
        "cannot lower `validation_window_hours` to 0 in place: AWS SDK requests leave a window of 0 out, so AWS would keep the old one",
    )
    .on("validation_window_hours")
    .hint("replace the selection (`--replace ADDR`): a new one is created with no validation window")
    .hint("or keep a window of at least 1 hour")
}

/// Whether `update` lowers the validation window to 0.
fn lowers_window_to_zero(update: &PlannedUpdate) -> bool {
    update.to("validation_window_hours").and_then(Value::as_i64) == Some(0)
}

/// Reads selection `id`; `None` when it does not exist or `id` is not of
/// the `PLAN/SELECTION` form.
async fn read_selection(client: &Client, id: &str) -> Result<Option<Attrs>> {
    let Some((plan, name)) = split_id(id) else { return Ok(None) };
    let out = match client
        .get_restore_testing_selection()
        .restore_testing_plan_name(plan)
        .restore_testing_selection_name(name)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if error_code(&e) == Some(NOT_FOUND) => return Ok(None),
        Err(e) => return Err(api_error("GetRestoreTestingSelection", e)),
    };
    let Some(s) = out.restore_testing_selection() else { return Ok(None) };
    let (plan, name) = (s.restore_testing_plan_name(), s.restore_testing_selection_name());
    let overrides: BTreeMap<String, String> =
        s.restore_metadata_overrides().map(|m| m.clone().into_iter().collect()).unwrap_or_default();
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(format!("{plan}/{name}")));
    a.insert("restore_testing_plan_name".into(), Value::str(plan));
    a.insert("name".into(), Value::str(name));
    a.insert("protected_resource_type".into(), Value::str(s.protected_resource_type()));
    a.insert("iam_role_arn".into(), Value::str(s.iam_role_arn()));
    a.insert("protected_resource_arns".into(), set_value(s.protected_resource_arns().to_vec()));
    a.insert("restore_metadata_overrides".into(), Value::from(overrides));
    a.insert("validation_window_hours".into(), Value::from(s.validation_window_hours()));
    Ok(Some(a))
}

async fn read_all(client: &Client, id: &str) -> Result<Attrs> {
    read_selection(client, id).await?.ok_or_else(|| ProviderError::NotFound(id.into()))
}

async fn create_with(client: &Client, desired: &Attrs) -> Result<Attrs> {
    let required = |name: &str| {
        get_str(desired, name).ok_or_else(|| ProviderError::Invalid(format!("restore_testing_selection needs {name}")))
    };
    let (plan, name) = (required("restore_testing_plan_name")?, required("name")?);
    check_name("restore_testing_plan", plan)?;
    check_name("restore_testing_selection", name)?;
    let selection = RestoreTestingSelectionForCreate::builder()
        .restore_testing_selection_name(name)
        .protected_resource_type(required("protected_resource_type")?)
        .iam_role_arn(required("iam_role_arn")?)
        .set_protected_resource_arns(desired.get("protected_resource_arns").map(Value::string_list))
        .set_restore_metadata_overrides(string_map(desired, "restore_metadata_overrides"))
        .set_validation_window_hours(to_i32("validation_window_hours", get_i64(desired, "validation_window_hours"))?)
        .build()
        .map_err(|e| ProviderError::Invalid(format!("restore_testing_selection {plan}/{name}: {e}")))?;
    client
        .create_restore_testing_selection()
        .restore_testing_plan_name(plan)
        .restore_testing_selection(selection)
        .send()
        .await
        .map_err(|e| api_error("CreateRestoreTestingSelection", e))?;
    read_all(client, &format!("{plan}/{name}")).await
}

/// Carries out the plan's `update`: one UpdateRestoreTestingSelection with
/// the fields it changes.
async fn update_with(client: &Client, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
    let (plan, name) = names_of(id)?;
    if lowers_window_to_zero(update) {
        return Err(ProviderError::Invalid(format!(
            "restore_testing_selection {id}: {}",
            zero_window_refusal().reason
        )));
    }
    if update.changes_any(SETTINGS) {
        let changed = |attr: &str| update.changes(attr);
        let selection = RestoreTestingSelectionForUpdate::builder()
            .set_iam_role_arn(update.to("iam_role_arn").and_then(Value::as_str).map(str::to_owned))
            .set_protected_resource_arns(update.to("protected_resource_arns").map(Value::string_list))
            .set_restore_metadata_overrides(
                changed("restore_metadata_overrides")
                    .then(|| string_map(&update.after, "restore_metadata_overrides"))
                    .flatten(),
            )
            .set_validation_window_hours(to_i32(
                "validation_window_hours",
                update.to("validation_window_hours").and_then(Value::as_i64),
            )?)
            .build();
        client
            .update_restore_testing_selection()
            .restore_testing_plan_name(plan)
            .restore_testing_selection_name(name)
            .restore_testing_selection(selection)
            .send()
            .await
            .map_err(|e| api_error("UpdateRestoreTestingSelection", e))?;
    }
    read_all(client, id).await
}

/// DeleteRestoreTestingSelection; a selection already gone counts as deleted.
async fn delete_with(client: &Client, id: &str) -> Result<()> {
    let (plan, name) = names_of(id)?;
    let out = client
        .delete_restore_testing_selection()
        .restore_testing_plan_name(plan)
        .restore_testing_selection_name(name)
        .send()
        .await;
    match out {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(()),
        Err(e) => Err(api_error("DeleteRestoreTestingSelection", e)),
    }
}

#[async_trait]
impl ResourceType for RestoreTestingSelection {
    fn type_name(&self) -> &'static str {
        "restore_testing_selection"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// `protected_resource_arns` sorted, as a read returns it.
    fn normalize(&self, desired: &mut Attrs) {
        if let Some(arns) = desired.get("protected_resource_arns").filter(|v| !v.is_null()) {
            let arns = set_value(arns.string_list());
            desired.insert("protected_resource_arns".into(), arns);
        }
    }

    /// A validation window lowered to 0 in place cannot be sent
    /// ([`zero_window_refusal`]).
    fn refuse(&self, current: &Attrs, intent: Intent<'_>) -> Vec<Refusal> {
        let Intent::Keep { desired } = intent else { return Vec::new() };
        let window = |attrs: &Attrs| get_i64(attrs, "validation_window_hours");
        match (window(current), window(desired)) {
            (Some(now), Some(0)) if now > 0 => vec![zero_window_refusal()],
            _ => Vec::new(),
        }
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], _scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.backup(&ctx.region).await;
        read_each(ids, |id| read_selection(client, id)).await
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

    /// None: a selection carries no ownership tags to be found by.
    async fn find_created(&self, _ctx: &Ctx, _addr: &ResourceAddr) -> Result<Option<String>> {
        Ok(None)
    }

    /// Nothing: a selection of a plan carries no tags of its own.
    async fn list_owned(&self, _ctx: &Ctx, _known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_backup::operation::create_restore_testing_selection::CreateRestoreTestingSelectionOutput;
    use aws_sdk_backup::operation::delete_restore_testing_selection::DeleteRestoreTestingSelectionOutput;
    use aws_sdk_backup::operation::get_restore_testing_selection::GetRestoreTestingSelectionOutput;
    use aws_sdk_backup::operation::update_restore_testing_selection::UpdateRestoreTestingSelectionOutput;
    use aws_sdk_backup::types::RestoreTestingSelectionForGet;
    use aws_smithy_mocks::{Rule, mock};
    use aws_smithy_types::DateTime;

    use super::*;
    use crate::provider::aws::mocked_client;
    use crate::provider::aws::restore_testing_plan::backup_fault;
    use crate::schema::Mode;

    const ID: &str = "weekly_restore/aurora_main";
    const ROLE: &str = "arn:aws:iam::123456789012:role/shop-restore-testing";
    const OTHER_ROLE: &str = "arn:aws:iam::123456789012:role/shop-restore-testing-v2";
    const CLUSTER: &str = "arn:aws:rds:us-east-1:123456789012:cluster:shop-main";
    const REPLICA: &str = "arn:aws:rds:us-east-1:123456789012:cluster:shop-replica";

    fn overrides(pairs: &[(&str, &str)]) -> Value {
        Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), Value::str(*v))).collect())
    }

    /// The selection as the stack declares it (defaults applied).
    fn desired() -> Attrs {
        [
            ("restore_testing_plan_name".to_owned(), Value::str("weekly_restore")),
            ("name".to_owned(), Value::str("aurora_main")),
            ("protected_resource_type".to_owned(), Value::str("Aurora")),
            ("iam_role_arn".to_owned(), Value::str(ROLE)),
            ("protected_resource_arns".to_owned(), Value::from(vec![CLUSTER.to_owned()])),
            ("restore_metadata_overrides".to_owned(), overrides(&[("dbinstanceclass", "db.r6g.large")])),
            ("validation_window_hours".to_owned(), Value::Int(4)),
        ]
        .into()
    }

    /// The selection as state holds it after a create.
    fn state() -> Attrs {
        let mut a = desired();
        a.insert("id".into(), Value::str(ID));
        a
    }

    /// GetRestoreTestingSelection's answer.
    fn got(role: &str, arns: &[&str], window: i32, overrides: &[(&str, &str)]) -> GetRestoreTestingSelectionOutput {
        let mut s = RestoreTestingSelectionForGet::builder()
            .creation_time(DateTime::from_secs(1_700_000_000))
            .iam_role_arn(role)
            .protected_resource_type("Aurora")
            .restore_testing_plan_name("weekly_restore")
            .restore_testing_selection_name("aurora_main")
            .validation_window_hours(window);
        for arn in arns {
            s = s.protected_resource_arns(*arn);
        }
        for (k, v) in overrides {
            s = s.restore_metadata_overrides(*k, *v);
        }
        GetRestoreTestingSelectionOutput::builder().restore_testing_selection(s.build().unwrap()).build()
    }

    fn get_rule(role: &'static str, arns: &'static [&'static str], window: i32) -> Rule {
        mock!(Client::get_restore_testing_selection)
            .match_requests(|r| {
                r.restore_testing_plan_name() == Some("weekly_restore")
                    && r.restore_testing_selection_name() == Some("aurora_main")
            })
            .then_output(move || got(role, arns, window, &[("dbinstanceclass", "db.r6g.large")]))
    }

    fn update_output() -> UpdateRestoreTestingSelectionOutput {
        UpdateRestoreTestingSelectionOutput::builder()
            .creation_time(DateTime::from_secs(1_700_000_000))
            .restore_testing_plan_arn(
                "arn:aws:backup:us-east-1:123456789012:restore-testing-plan:weekly_restore-0a1b2c",
            )
            .restore_testing_plan_name("weekly_restore")
            .restore_testing_selection_name("aurora_main")
            .update_time(DateTime::from_secs(1_700_000_100))
            .build()
            .unwrap()
    }

    fn created_output() -> CreateRestoreTestingSelectionOutput {
        CreateRestoreTestingSelectionOutput::builder()
            .creation_time(DateTime::from_secs(1_700_000_000))
            .restore_testing_plan_arn(
                "arn:aws:backup:us-east-1:123456789012:restore-testing-plan:weekly_restore-0a1b2c",
            )
            .restore_testing_plan_name("weekly_restore")
            .restore_testing_selection_name("aurora_main")
            .build()
            .unwrap()
    }

    #[test]
    fn ids_name_the_plan_and_the_selection() {
        assert_eq!(split_id(ID), Some(("weekly_restore", "aurora_main")));
        for bad in ["aurora_main", "/aurora_main", "weekly_restore/", "a/b/c", ""] {
            assert_eq!(split_id(bad), None, "{bad}");
        }
        assert!(matches!(names_of("aurora_main"), Err(ProviderError::Invalid(_))));
    }

    /// The create names the plan and carries every configured field, and
    /// the answer is read back in the form state holds.
    #[tokio::test]
    async fn create_sends_the_desired_selection() {
        let create = mock!(Client::create_restore_testing_selection)
            .match_requests(|r| {
                let Some(s) = r.restore_testing_selection() else { return false };
                r.restore_testing_plan_name() == Some("weekly_restore")
                    && s.restore_testing_selection_name() == "aurora_main"
                    && s.protected_resource_type() == "Aurora"
                    && s.iam_role_arn() == ROLE
                    && s.protected_resource_arns() == [CLUSTER]
                    && s.restore_metadata_overrides().is_some_and(|m| {
                        m.len() == 1 && m.get("dbinstanceclass").map(String::as_str) == Some("db.r6g.large")
                    })
                    && s.validation_window_hours() == 4
                    && s.protected_resource_conditions().is_none()
            })
            .then_output(created_output);
        let get = get_rule(ROLE, &[CLUSTER], 4);
        let client = mocked_client!(aws_sdk_backup, &[&create, &get]);
        let created = create_with(&client, &desired()).await.unwrap();
        assert_eq!(create.num_calls(), 1, "a request that does not match the rule fails the call");
        assert_eq!(created, state());
        assert!(RestoreTestingSelection.planned_update(&created, &desired(), &[]).changed.is_empty());
    }

    /// Names AWS would refuse are refused before anything is sent.
    #[tokio::test]
    async fn create_refuses_bad_names_without_a_call() {
        let create = mock!(Client::create_restore_testing_selection).then_output(created_output);
        let client = mocked_client!(aws_sdk_backup, &[&create]);
        for (attr, bad) in [("name", "aurora-main"), ("restore_testing_plan_name", "weekly/restore")] {
            let mut wrong = desired();
            wrong.insert(attr.into(), Value::str(bad));
            let err = create_with(&client, &wrong).await.unwrap_err();
            assert!(matches!(&err, ProviderError::Invalid(m) if m.contains(bad)), "{err}");
        }
        assert_eq!(create.num_calls(), 0);
    }

    /// Import reads a selection by its id alone; unset overrides read as
    /// an empty table, the resource ARNs sorted.
    #[tokio::test]
    async fn import_reads_everything_by_id() {
        let get = get_rule(ROLE, &[CLUSTER], 4);
        let client = mocked_client!(aws_sdk_backup, &[&get]);
        assert_eq!(read_selection(&client, ID).await.unwrap(), Some(state()));

        let bare = mock!(Client::get_restore_testing_selection).then_output(|| got(ROLE, &[REPLICA, CLUSTER], 0, &[]));
        let client = mocked_client!(aws_sdk_backup, &[&bare]);
        let read = read_selection(&client, ID).await.unwrap().unwrap();
        assert_eq!(read["restore_metadata_overrides"], overrides(&[]));
        assert_eq!(read["protected_resource_arns"], Value::from(vec![CLUSTER.to_owned(), REPLICA.to_owned()]));
        assert_eq!(read["validation_window_hours"], Value::Int(0));
    }

    /// A selection deleted outside pgstack (or with its plan) is omitted,
    /// and so is an id of another form, without a call; deleting one gone
    /// succeeds.
    #[tokio::test]
    async fn a_selection_gone_is_omitted_and_its_delete_succeeds() {
        let get = mock!(Client::get_restore_testing_selection).then_http_response(|| backup_fault(NOT_FOUND));
        let delete = mock!(Client::delete_restore_testing_selection).then_http_response(|| backup_fault(NOT_FOUND));
        let client = mocked_client!(aws_sdk_backup, &[&get, &delete]);
        assert_eq!(read_selection(&client, ID).await.unwrap(), None);
        assert_eq!(read_selection(&client, "aurora_main").await.unwrap(), None);
        assert_eq!(get.num_calls(), 1, "a malformed id is not asked about");
        delete_with(&client, ID).await.unwrap();
        assert_eq!(delete.num_calls(), 1);

        let deleted = mock!(Client::delete_restore_testing_selection)
            .match_requests(|r| {
                r.restore_testing_plan_name() == Some("weekly_restore")
                    && r.restore_testing_selection_name() == Some("aurora_main")
            })
            .then_output(|| DeleteRestoreTestingSelectionOutput::builder().build());
        let client = mocked_client!(aws_sdk_backup, &[&deleted]);
        delete_with(&client, ID).await.unwrap();
        assert_eq!(deleted.num_calls(), 1);
    }

    /// A role changed outside pgstack reads as such and plans the change back, and nothing else.
    #[tokio::test]
    async fn drift_in_aws_shows_as_a_planned_change() {
        let get = get_rule(OTHER_ROLE, &[CLUSTER], 4);
        let client = mocked_client!(aws_sdk_backup, &[&get]);
        let read = read_selection(&client, ID).await.unwrap().unwrap();
        let update = RestoreTestingSelection.planned_update(&read, &desired(), &[]);
        assert_eq!(update.changed, ["iam_role_arn"]);
        assert_eq!(update.after["iam_role_arn"], Value::str(ROLE));
    }

    /// Changed resources and window are sent, and not the role or the
    /// overrides the plan leaves alone; changed overrides go as a whole table.
    #[tokio::test]
    async fn update_sends_exactly_the_planned_fields() {
        let arns_and_window = mock!(Client::update_restore_testing_selection)
            .match_requests(|r| {
                r.restore_testing_plan_name() == Some("weekly_restore")
                    && r.restore_testing_selection_name() == Some("aurora_main")
                    && r.restore_testing_selection().is_some_and(|s| {
                        s.protected_resource_arns() == [CLUSTER, REPLICA]
                            && s.validation_window_hours() == 8
                            && s.iam_role_arn().is_none()
                            && s.restore_metadata_overrides().is_none()
                            && s.protected_resource_conditions().is_none()
                    })
            })
            .then_output(update_output);
        let get = get_rule(ROLE, &[REPLICA, CLUSTER], 8);
        let client = mocked_client!(aws_sdk_backup, &[&arns_and_window, &get]);
        let mut want = state();
        want.insert("protected_resource_arns".into(), Value::from(vec![REPLICA.to_owned(), CLUSTER.to_owned()]));
        want.insert("validation_window_hours".into(), Value::Int(8));
        RestoreTestingSelection.normalize(&mut want);
        let update = RestoreTestingSelection.planned_update(&state(), &want, &[]);
        assert_eq!(update.changed, ["protected_resource_arns", "validation_window_hours"]);
        let after = update_with(&client, ID, &update).await.unwrap();
        assert_eq!(arns_and_window.num_calls(), 1);
        assert_eq!(after["validation_window_hours"], Value::Int(8));

        let overrides_only = mock!(Client::update_restore_testing_selection)
            .match_requests(|r| {
                r.restore_testing_selection().is_some_and(|s| {
                    s.restore_metadata_overrides().is_some_and(|m| m.len() == 2)
                        && s.protected_resource_arns.is_none()
                        && s.validation_window_hours() == 0
                        && s.iam_role_arn().is_none()
                })
            })
            .then_output(update_output);
        let get = get_rule(ROLE, &[CLUSTER], 4);
        let client = mocked_client!(aws_sdk_backup, &[&overrides_only, &get]);
        let mut want = state();
        let two = overrides(&[("dbinstanceclass", "db.r6g.large"), ("dbsubnetgroupname", "shop-restore")]);
        want.insert("restore_metadata_overrides".into(), two);
        let update = RestoreTestingSelection.planned_update(&state(), &want, &[]);
        assert_eq!(update.changed, ["restore_metadata_overrides"]);
        update_with(&client, ID, &update).await.unwrap();
        assert_eq!(overrides_only.num_calls(), 1);
    }

    /// A window lowered to 0 cannot be sent: the plan refuses it, and an
    /// update asked for it anyway fails before any call.
    #[tokio::test]
    async fn a_window_lowered_to_zero_is_refused() {
        let mut want = state();
        want.insert("validation_window_hours".into(), Value::Int(0));
        let refusals = RestoreTestingSelection.refuse(&state(), Intent::Keep { desired: &want });
        assert_eq!(refusals.len(), 1);
        assert_eq!(refusals[0].attr, Some("validation_window_hours"));
        assert!(RestoreTestingSelection.refuse(&state(), Intent::Keep { desired: &state() }).is_empty());
        let replace = Intent::Replace { desired: &want, create_first: false };
        assert!(RestoreTestingSelection.refuse(&state(), replace).is_empty(), "a new selection may start at 0");

        let update = mock!(Client::update_restore_testing_selection).then_output(update_output);
        let client = mocked_client!(aws_sdk_backup, &[&update]);
        let planned = RestoreTestingSelection.planned_update(&state(), &want, &[]);
        let err = update_with(&client, ID, &planned).await.unwrap_err();
        assert!(matches!(&err, ProviderError::Invalid(m) if m.contains("validation_window_hours")), "{err}");
        assert_eq!(update.num_calls(), 0);
    }

    /// Every field that can change in place is sent by an update.
    #[test]
    fn every_changeable_attribute_is_sent() {
        let unsent: Vec<&str> = SCHEMA
            .attrs
            .iter()
            .filter(|a| a.mode != Mode::Computed && !a.force_new && !SETTINGS.contains(&a.name))
            .map(|a| a.name)
            .collect();
        assert_eq!(unsent, Vec::<&str>::new());
    }
}
