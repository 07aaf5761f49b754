//! `secret_rotation`: the rotation schedule of a Secrets Manager secret.
//!
//! A rotation is a setting of its secret, not an object of its own: its id
//! is the secret's ARN and it carries no tags.
//!
//! - Create / update: RotateSecret with the function (none for secrets a
//!   service such as RDS manages), the rules and `rotate_immediately`;
//!   CancelRotateSecret when `rotation_enabled = false`.
//! - Read: DescribeSecret per secret, [`PER_RESOURCE_CONCURRENCY`] at a time.
//!   A secret that is gone or scheduled for deletion, or has never had
//!   rotation configured, has no rotation.
//! - Delete: CancelRotateSecret (nothing to cancel, or no secret: done).
//! - `rotation_rules` compare in one form: `rate(N days)` is written as
//!   `automatically_after_days = N`, which is how AWS reports it.
//! - Adoption after a crash: none is needed; a create repeated after a crash
//!   configures the same rotation again.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::RotationRulesType;
use futures::{StreamExt, TryStreamExt, stream};

use super::{PER_RESOURCE_CONCURRENCY, api_error, error_code, factory, get_bool, get_str};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, Schema};
use crate::provider::{Ctx, Owned, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

static RULE_FIELDS: [Attr; 3] = [
    Attr::optional("automatically_after_days", AttrType::Int).range(1, 1000),
    Attr::optional("schedule_expression", AttrType::Str).max_len(256),
    Attr::optional("duration", AttrType::Str).max_len(3),
];

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::required("secret_id", AttrType::Str).force_new(),
        Attr::optional("rotation_lambda_arn", AttrType::Str).pattern(Kind::Arn),
        Attr::required("rotation_rules", AttrType::Object(&RULE_FIELDS)),
        Attr::optional("rotate_immediately", AttrType::Bool).default(Default::Bool(true)).config_only(),
        Attr::optional("rotation_enabled", AttrType::Bool).default(Default::Bool(true)),
    ],
    guarded: false,
    taggable: false,
};

/// The `secret_rotation` resource type.
pub struct SecretRotation;

/// `rate(N days)` as a number of days.
fn rate_days(expr: &str) -> Option<i64> {
    let inner = expr.strip_prefix("rate(")?.strip_suffix(')')?.trim();
    let (n, unit) = inner.split_once(' ')?;
    matches!(unit.trim(), "day" | "days").then(|| n.trim().parse().ok()).flatten()
}

/// Rules in canonical form: a `rate(N days)` schedule becomes
/// `automatically_after_days = N`; unset fields are left out.
fn canonical_rules(rules: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> =
        rules.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
    if let Some(days) = out.get("schedule_expression").and_then(Value::as_str).and_then(rate_days) {
        out.remove("schedule_expression");
        out.insert("automatically_after_days".into(), Value::Int(days));
    }
    out
}

fn rules_of(r: &RotationRulesType) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    if let Some(d) = r.automatically_after_days() {
        m.insert("automatically_after_days".to_owned(), Value::Int(d));
    }
    if let Some(s) = r.schedule_expression() {
        m.insert("schedule_expression".to_owned(), Value::str(s));
    }
    if let Some(d) = r.duration() {
        m.insert("duration".to_owned(), Value::str(d));
    }
    canonical_rules(&m)
}

fn rules_to_send(desired: &Attrs) -> RotationRulesType {
    let rules = desired.get("rotation_rules").and_then(Value::as_map).cloned().unwrap_or_default();
    let rules = canonical_rules(&rules);
    RotationRulesType::builder()
        .set_automatically_after_days(rules.get("automatically_after_days").and_then(Value::as_i64))
        .set_schedule_expression(rules.get("schedule_expression").and_then(Value::as_str).map(str::to_owned))
        .set_duration(rules.get("duration").and_then(Value::as_str).map(str::to_owned))
        .build()
}

/// The rotation of one secret; `None` when there is none.
async fn read_rotation(client: &Client, id: &str) -> Result<Option<(String, Attrs)>> {
    let out = match client.describe_secret().secret_id(id).send().await {
        Ok(out) => out,
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => return Ok(None),
        Err(e) => return Err(api_error("DescribeSecret", e)),
    };
    let lambda = out.rotation_lambda_arn().filter(|l| !l.is_empty());
    if out.deleted_date().is_some() || (lambda.is_none() && out.rotation_rules().is_none()) {
        return Ok(None);
    }
    let arn = out.arn().unwrap_or(id);
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(arn));
    a.insert("secret_id".into(), Value::str(arn));
    a.insert("rotation_lambda_arn".into(), lambda.into());
    a.insert("rotation_rules".into(), Value::Map(out.rotation_rules().map(rules_of).unwrap_or_default()));
    a.insert("rotation_enabled".into(), Value::Bool(out.rotation_enabled().unwrap_or(false)));
    Ok(Some((id.to_owned(), a)))
}

async fn read_all(client: &Client, id: &str) -> Result<Attrs> {
    read_rotation(client, id).await?.map(|(_, a)| a).ok_or_else(|| ProviderError::NotFound(id.into()))
}

async fn rotate(client: &Client, secret_id: &str, desired: &Attrs, immediately: bool) -> Result<()> {
    client
        .rotate_secret()
        .secret_id(secret_id)
        .set_rotation_lambda_arn(get_str(desired, "rotation_lambda_arn").map(str::to_owned))
        .rotation_rules(rules_to_send(desired))
        .rotate_immediately(immediately)
        .send()
        .await
        .map_err(|e| api_error("RotateSecret", e))?;
    Ok(())
}

async fn cancel(client: &Client, secret_id: &str) -> Result<()> {
    match client.cancel_rotate_secret().secret_id(secret_id).send().await {
        Ok(_) => Ok(()),
        Err(e) if matches!(error_code(&e), Some("ResourceNotFoundException" | "InvalidRequestException")) => Ok(()),
        Err(e) => Err(api_error("CancelRotateSecret", e)),
    }
}

#[async_trait]
impl ResourceType for SecretRotation {
    fn type_name(&self) -> &'static str {
        "secret_rotation"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn normalize(&self, desired: &mut Attrs) {
        if let Some(Value::Map(rules)) = desired.get("rotation_rules") {
            let rules = canonical_rules(rules);
            desired.insert("rotation_rules".into(), Value::Map(rules));
        }
    }

    /// The secret may be named by name or ARN; AWS answers with the ARN,
    /// whose last part is the name, `-` and six random characters.
    fn suppress_diff(&self, attr: &str, current: &Value, desired: &Value) -> bool {
        match (attr, current.as_str(), desired.as_str()) {
            ("secret_id", Some(arn), Some(name)) => arn
                .rsplit_once(":secret:")
                .and_then(|(_, n)| n.strip_prefix(name))
                .is_some_and(|rest| rest.len() == 7 && rest.starts_with('-')),
            _ => false,
        }
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], _scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.secretsmanager(&ctx.region).await;
        let reads: Vec<_> = ids.iter().map(|id| read_rotation(client, id)).collect();
        let found: Vec<_> = stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let secret =
            get_str(desired, "secret_id").ok_or_else(|| ProviderError::Invalid("secret_id is required".into()))?;
        let client = factory(ctx)?.secretsmanager(&ctx.region).await;
        rotate(&client, secret, desired, get_bool(desired, "rotate_immediately").unwrap_or(true)).await?;
        if get_bool(desired, "rotation_enabled") == Some(false) {
            cancel(&client, secret).await?;
        }
        // Read by the name or ARN given; the attributes carry the ARN.
        read_all(&client, secret).await
    }

    async fn update(&self, ctx: &Ctx, id: &str, prior: &Attrs, desired: &Attrs) -> Result<Attrs> {
        let client = factory(ctx)?.secretsmanager(&ctx.region).await;
        let enabled = get_bool(desired, "rotation_enabled") != Some(false);
        let changed = |name: &str| desired.contains_key(name) && desired.get(name) != prior.get(name);
        if enabled && (changed("rotation_lambda_arn") || changed("rotation_rules") || changed("rotation_enabled")) {
            // Changing the schedule does not start a rotation.
            rotate(&client, id, desired, false).await?;
        } else if !enabled && get_bool(prior, "rotation_enabled") != Some(false) {
            cancel(&client, id).await?;
        }
        read_all(&client, id).await
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        let client = factory(ctx)?.secretsmanager(&ctx.region).await;
        cancel(&client, id).await
    }

    async fn find_created(&self, _ctx: &Ctx, _addr: &ResourceAddr) -> Result<Option<String>> {
        Ok(None)
    }

    /// Nothing: the configuration of a secret carries no tags of its own.
    async fn list_owned(&self, _ctx: &Ctx, _known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn daily_rates_read_as_days() {
        assert_eq!(rate_days("rate(7 days)"), Some(7));
        assert_eq!(rate_days("rate(1 day)"), Some(1));
        assert_eq!(rate_days("rate(4 hours)"), None);
        assert_eq!(rate_days("cron(0 4 ? * SUN *)"), None);
        let weekly = canonical_rules(&rules(&[("schedule_expression", "rate(7 days)".into())]));
        assert_eq!(weekly, rules(&[("automatically_after_days", Value::Int(7))]));
        let cron = rules(&[("schedule_expression", "cron(0 4 ? * SUN *)".into()), ("duration", "3h".into())]);
        assert_eq!(canonical_rules(&cron), cron);
        assert_eq!(canonical_rules(&rules(&[("duration", Value::Null)])), rules(&[]));
    }

    #[test]
    fn a_secret_named_by_name_matches_its_arn() {
        let arn = Value::str("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/app-AbCdEf");
        assert!(SecretRotation.suppress_diff("secret_id", &arn, &Value::str("prod/app")));
        assert!(!SecretRotation.suppress_diff("secret_id", &arn, &Value::str("prod/other")));
        assert!(!SecretRotation.suppress_diff("secret_id", &arn, &Value::str("prod")));
    }
}
