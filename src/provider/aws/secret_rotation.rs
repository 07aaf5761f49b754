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
//! - Plan (`check_planned`), once per function the planned rotations name
//!   (RotateSecret invokes it at once: `rotate_immediately`, or its
//!   `testSecret` step otherwise), in the function's region: Lambda
//!   GetFunction (missing: refused at `rotation_lambda_arn`), Lambda
//!   GetPolicy (no statement allowing `secretsmanager.amazonaws.com` to call
//!   `lambda:InvokeFunction`: refused), and, for a function in a VPC, a
//!   warning when the VPC has no path to Secrets Manager
//!   ([`vpc_path_missing`]: no `secretsmanager` interface endpoint with
//!   private DNS, and a subnet of the function without a default route
//!   through a NAT gateway, NAT instance or transit gateway; EC2
//!   DescribeSubnets, DescribeVpcEndpoints, DescribeRouteTables). Security
//!   groups and network ACLs are not checked. A check AWS denies (no
//!   `lambda:GetFunction` or `lambda:GetPolicy`) is a warning that the
//!   function was not checked.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::RotationRulesType;
use futures::{StreamExt, TryStreamExt, stream};

use super::{PER_RESOURCE_CONCURRENCY, api_error, error_code, factory, get_bool, get_str};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, Ownership, Pricing, Schema};
use crate::provider::{
    Ctx, Finding, Owned, PlannedChange, PlannedUpdate, ProviderError, ReadScope, Refusal, ResourceType, Result,
};
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
    ownership: Ownership::Untagged,
    pricing: Pricing::Free,
};

/// The `secret_rotation` resource type.
pub struct SecretRotation;

/// The service principal Secrets Manager invokes rotation functions as.
const SECRETS_MANAGER: &str = "secretsmanager.amazonaws.com";

/// What the plan-time check found about one rotation function: refusals
/// (`false`) and warnings (`true`), each for every rotation naming it.
type Verdict = Vec<(Refusal, bool)>;

/// Whether a Lambda resource policy has an `Allow` statement letting
/// Secrets Manager (`Principal` `*`, or `Service` listing
/// `secretsmanager.amazonaws.com`) call `lambda:InvokeFunction` (`Action`
/// patterns with `*` and `?`). Conditions are not evaluated (one that
/// names a secret's ARN may hold). Pure.
fn lets_secrets_manager_invoke(policy: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    let strings = |v: Option<&J>| -> Vec<String> {
        match v {
            Some(J::String(s)) => vec![s.clone()],
            Some(J::Array(items)) => items.iter().filter_map(J::as_str).map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    };
    let statements: Vec<&serde_json::Map<String, J>> = match policy.get("Statement") {
        Some(J::Array(items)) => items.iter().filter_map(J::as_object).collect(),
        Some(J::Object(one)) => vec![one],
        _ => Vec::new(),
    };
    statements.iter().any(|s| {
        let allow = s.get("Effect").and_then(J::as_str) == Some("Allow");
        let principal = match s.get("Principal") {
            Some(J::String(p)) => p == "*",
            Some(J::Object(p)) => strings(p.get("Service")).iter().any(|x| x == SECRETS_MANAGER),
            _ => false,
        };
        let action =
            strings(s.get("Action")).iter().any(|a| super::kms::glob(&a.to_ascii_lowercase(), "lambda:invokefunction"));
        allow && principal && action
    })
}

/// The region of a function ARN (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`), if it names one.
fn arn_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    (parts.len() == 6 && parts[0] == "arn").then(|| parts[3]).filter(|r| !r.is_empty())
}

/// A refusal or warning at `rotation_lambda_arn`.
fn at_function(reason: String) -> Refusal {
    Refusal::new(reason).on("rotation_lambda_arn")
}

/// A check AWS denied: a warning that the function was not checked.
fn unchecked(function: &str, operation: &str, err: &ProviderError) -> (Refusal, bool) {
    let action = format!("lambda:{operation}");
    let r = at_function(format!("names a rotation function that could not be checked ({function}): {err}"))
        .hint(format!("allow {action} to whoever plans, so that plan can tell whether the rotation can run"));
    (r, true)
}

/// The plan-time check of one rotation function.
async fn check_function(ctx: &Ctx, function: &str) -> Result<Verdict> {
    let region = arn_region(function).unwrap_or(&ctx.region).to_owned();
    let lambda = factory(ctx)?.lambda(&region).await;
    let config = match lambda.get_function().function_name(function).send().await {
        Ok(out) => out.configuration,
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => {
            let r = at_function(format!("names a rotation function that does not exist: {function}"))
                .hint("create the function first (AWS publishes rotation functions for RDS PostgreSQL in the Serverless Application Repository), or correct `rotation_lambda_arn`")
                .hint("Secrets Manager invokes it as soon as the rotation is set (RotateSecret), so the apply would fail there");
            return Ok(vec![(r, false)]);
        }
        Err(e) if error_code(&e) == Some("AccessDeniedException") => {
            return Ok(vec![unchecked(function, "GetFunction", &api_error("GetFunction", e))]);
        }
        Err(e) => return Err(api_error("GetFunction", e)),
    };
    let mut verdict = Verdict::new();
    // `None`: no resource policy; `Some(false)`: one that does not let Secrets Manager invoke it.
    let invokable = match lambda.get_policy().function_name(function).send().await {
        Ok(out) => Some(
            out.policy()
                .and_then(|p| serde_json::from_str(p).ok())
                .is_some_and(|doc| lets_secrets_manager_invoke(&doc)),
        ),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => None,
        Err(e) if error_code(&e) == Some("AccessDeniedException") => {
            verdict.push(unchecked(function, "GetPolicy", &api_error("GetPolicy", e)));
            Some(true)
        }
        Err(e) => return Err(api_error("GetPolicy", e)),
    };
    if invokable != Some(true) {
        let why =
            if invokable.is_some() { "its resource policy has no statement" } else { "it has no resource policy" };
        let r = at_function(format!(
            "names a rotation function Secrets Manager may not invoke ({function}): {why} letting {SECRETS_MANAGER} call lambda:InvokeFunction"
        ))
        .hint(format!(
            "aws lambda add-permission --function-name {function} --statement-id SecretsManagerAccess --action lambda:InvokeFunction --principal {SECRETS_MANAGER}"
        ));
        verdict.push((r, false));
    }
    let subnets = config.as_ref().and_then(|c| c.vpc_config()).map(|v| v.subnet_ids().to_vec()).unwrap_or_default();
    if !subnets.is_empty()
        && let Some(why) = vpc_path_missing(ctx, &region, &subnets).await?
    {
        let r = at_function(format!(
            "names a rotation function in a VPC with no path to Secrets Manager ({function}): {why}; its calls to Secrets Manager would time out"
        ))
        .hint(format!(
            "add an interface endpoint for com.amazonaws.{region}.secretsmanager with private DNS to that VPC (a `vpc_endpoint`), or route the function's subnets through a NAT gateway"
        ))
        .hint("checked: the VPC's endpoints and the subnets' route tables (an endpoint this plan creates counts only from the next plan); security groups and network ACLs are not checked");
        verdict.push((r, true));
    }
    Ok(verdict)
}

/// Why the VPC of the function's `subnets` (in `region`) has no path to
/// Secrets Manager, or `None` when it has one: a `secretsmanager` interface
/// endpoint that is not failing or deleted and keeps private DNS on (the
/// function then reaches Secrets Manager's usual name), or else every
/// subnet's route table (its own, or the VPC's main one) routing
/// `0.0.0.0/0` through a NAT gateway, a NAT instance or network interface,
/// or a transit gateway (an internet gateway does not serve Lambda, whose
/// interfaces have no public address). Subnets that no longer exist tell
/// nothing: `None`.
async fn vpc_path_missing(ctx: &Ctx, region: &str, subnets: &[String]) -> Result<Option<String>> {
    use aws_sdk_ec2::types::{Filter, RouteState, State};
    let ec2 = factory(ctx)?.ec2(region).await;
    let found = match ec2.describe_subnets().set_subnet_ids(Some(subnets.to_vec())).send().await {
        Ok(out) => out,
        Err(e) if error_code(&e) == Some("InvalidSubnetID.NotFound") => return Ok(None),
        Err(e) => return Err(api_error("DescribeSubnets", e)),
    };
    let Some(vpc) = found.subnets().iter().find_map(|s| s.vpc_id()).map(str::to_owned) else { return Ok(None) };
    let filter = |name: &str, value: String| Filter::builder().name(name).values(value).build();
    let endpoints = ec2
        .describe_vpc_endpoints()
        .filters(filter("vpc-id", vpc.clone()))
        .filters(filter("service-name", format!("com.amazonaws.{region}.secretsmanager")))
        .send()
        .await
        .map_err(|e| api_error("DescribeVpcEndpoints", e))?;
    let usable = |s: Option<&State>| {
        !matches!(s, Some(State::Deleted | State::Deleting | State::Failed | State::Rejected | State::Expired))
    };
    if endpoints.vpc_endpoints().iter().any(|e| usable(e.state()) && e.private_dns_enabled() != Some(false)) {
        return Ok(None);
    }
    let tables = ec2
        .describe_route_tables()
        .filters(filter("vpc-id", vpc.clone()))
        .send()
        .await
        .map_err(|e| api_error("DescribeRouteTables", e))?;
    let table_of = |subnet: &str| {
        let tables = tables.route_tables();
        let own = tables.iter().find(|t| t.associations().iter().any(|a| a.subnet_id() == Some(subnet)));
        own.or_else(|| tables.iter().find(|t| t.associations().iter().any(|a| a.main() == Some(true))))
    };
    let nat = |t: &aws_sdk_ec2::types::RouteTable| {
        t.routes().iter().any(|r| {
            r.destination_cidr_block() == Some("0.0.0.0/0")
                && r.state() != Some(&RouteState::Blackhole)
                && (r.nat_gateway_id().is_some()
                    || r.transit_gateway_id().is_some()
                    || r.instance_id().is_some()
                    || r.network_interface_id().is_some())
        })
    };
    let cut: Vec<&str> = subnets.iter().map(String::as_str).filter(|s| !table_of(s).is_some_and(nat)).collect();
    if cut.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "{vpc} has no Secrets Manager interface endpoint with private DNS, and the route table of {} sends 0.0.0.0/0 through no NAT gateway, NAT instance or transit gateway",
        cut.join(", ")
    )))
}

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

    /// Whether each rotation function named by a planned rotation can run
    /// ([`check_function`], once per function).
    async fn check_planned(&self, ctx: &Ctx, planned: &[PlannedChange<'_>]) -> Result<Vec<Finding>> {
        let mut by_function: BTreeMap<&str, Vec<&ResourceAddr>> = BTreeMap::new();
        for p in planned {
            if let Some(function) = get_str(p.desired, "rotation_lambda_arn") {
                by_function.entry(function).or_default().push(p.addr);
            }
        }
        let mut findings = Vec::new();
        for (function, addrs) in by_function {
            let verdict = check_function(ctx, function).await?;
            for addr in addrs {
                findings.extend(verdict.iter().map(|(refusal, warning)| Finding {
                    addr: addr.clone(),
                    refusal: refusal.clone(),
                    warning: *warning,
                }));
            }
        }
        Ok(findings)
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

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        let client = factory(ctx)?.secretsmanager(&ctx.region).await;
        let enabled = get_bool(&update.after, "rotation_enabled") != Some(false);
        if enabled && update.changes_any(&["rotation_lambda_arn", "rotation_rules", "rotation_enabled"]) {
            // Changing the schedule does not start a rotation.
            rotate(&client, id, &update.after, false).await?;
        } else if !enabled && update.changes("rotation_enabled") {
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
    fn secrets_manager_may_invoke_a_function_whose_policy_allows_it() {
        let policy =
            |statement: serde_json::Value| serde_json::json!({ "Version": "2012-10-17", "Statement": [statement] });
        let service = serde_json::json!({ "Service": SECRETS_MANAGER });
        let allow = |principal: &serde_json::Value, action: &str| {
            policy(
                serde_json::json!({ "Effect": "Allow", "Principal": principal, "Action": action, "Resource": "arn:aws:lambda:us-east-1:1:function:r" }),
            )
        };
        assert!(lets_secrets_manager_invoke(&allow(&service, "lambda:InvokeFunction")));
        assert!(lets_secrets_manager_invoke(&allow(&service, "lambda:*")));
        assert!(lets_secrets_manager_invoke(&allow(&serde_json::json!("*"), "lambda:Invoke*")));
        let listed = serde_json::json!({ "Service": ["events.amazonaws.com", SECRETS_MANAGER] });
        assert!(lets_secrets_manager_invoke(&allow(&listed, "lambda:InvokeFunction")));
        let conditional =
            policy(serde_json::json!({ "Effect": "Allow", "Principal": service, "Action": "lambda:InvokeFunction",
            "Condition": { "StringEquals": { "AWS:SourceAccount": "111122223333" } } }));
        assert!(lets_secrets_manager_invoke(&conditional), "conditions are not evaluated");
        let lone = serde_json::json!({ "Statement": { "Effect": "Allow", "Principal": service, "Action": "lambda:InvokeFunction" } });
        assert!(lets_secrets_manager_invoke(&lone));

        assert!(!lets_secrets_manager_invoke(&allow(
            &serde_json::json!({ "Service": "events.amazonaws.com" }),
            "lambda:InvokeFunction"
        )));
        assert!(!lets_secrets_manager_invoke(&allow(&service, "lambda:GetFunction")));
        assert!(!lets_secrets_manager_invoke(&allow(&serde_json::json!({ "AWS": "arn:aws:iam::1:root" }), "lambda:*")));
        let deny =
            policy(serde_json::json!({ "Effect": "Deny", "Principal": service, "Action": "lambda:InvokeFunction" }));
        assert!(!lets_secrets_manager_invoke(&deny));
        assert!(!lets_secrets_manager_invoke(&serde_json::json!({})));
    }

    #[test]
    fn a_function_is_checked_in_the_region_its_arn_names() {
        assert_eq!(arn_region("arn:aws:lambda:eu-west-1:123456789012:function:rotate"), Some("eu-west-1"));
        assert_eq!(arn_region("arn:aws:lambda:eu-west-1:123456789012:function:rotate:live"), Some("eu-west-1"));
        assert_eq!(arn_region("rotate"), None);
        assert_eq!(arn_region("arn:aws:lambda::1:function:x"), None);
    }

    #[test]
    fn a_secret_named_by_name_matches_its_arn() {
        let arn = Value::str("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/app-AbCdEf");
        assert!(SecretRotation.suppress_diff("secret_id", &arn, &Value::str("prod/app")));
        assert!(!SecretRotation.suppress_diff("secret_id", &arn, &Value::str("prod/other")));
        assert!(!SecretRotation.suppress_diff("secret_id", &arn, &Value::str("prod")));
    }
}
