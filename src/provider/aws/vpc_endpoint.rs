//! `vpc_endpoint`: a gateway endpoint (S3, through route tables) or an
//! interface endpoint (Secrets Manager, KMS: subnets, security groups,
//! private DNS), so the database tier reaches AWS without the internet.
//!
//! - Create: CreateVpcEndpoint with the tags in the same call, sent again
//!   while EC2 does not show the VPC, subnets or groups this run just
//!   created ([`ec2::send_naming`]; ModifyVpcEndpoint likewise for the
//!   subnets and groups it adds).
//! - Read: DescribeVpcEndpoints by id (200 per call; a batch AWS refuses
//!   because an id is gone is read again id by id); deleted endpoints are
//!   left out.
//! - Update: one ModifyVpcEndpoint adding and removing route tables, subnets
//!   and security groups, and setting private DNS; then the tags.
//! - Delete: DeleteVpcEndpoints, then DescribeVpcEndpoints until the endpoint
//!   is `deleted` or unknown ([`DELETE_WAIT`]): an interface endpoint stays
//!   `deleting` for minutes, and its network interfaces hold its subnets and
//!   security groups until it is gone.
//! - `service_name` may be the short name (`s3`, `kms`): the service in the
//!   endpoint's region, `com.amazonaws.REGION.s3`, which AWS reports.
//! - The ARN is built (`arn:PARTITION:ec2:REGION:OWNER:vpc-endpoint/ID`).
//! - Orphan scan (`list_owned`): one DescribeVpcEndpoints filtered on the stack tag.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{ResourceType as Ec2ResourceType, VpcEndpoint as AwsEndpoint, VpcEndpointType};

use super::ec2::{
    self, Named, arn, describe_all, describe_in_chunks, desired_tags, insert_tags, send_naming, sync_tags,
    tag_specification,
};
use super::{api_error, error_code, factory, get_bool, get_str};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, Ownership, Pricing, Schema};
use crate::provider::waiter::{Backoff, Poll, wait_for};
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        // A gateway endpoint's AWS-managed prefix list (its service's
        // addresses), for security group rules: `prefix_list_ids`.
        Attr::computed("prefix_list_id", AttrType::Str),
        Attr::required("vpc_id", AttrType::Str).force_new(),
        Attr::required("service_name", AttrType::Str).force_new(),
        Attr::optional("vpc_endpoint_type", AttrType::Str)
            .default(Default::Str("Gateway"))
            .force_new()
            .one_of(&["Gateway", "Interface"]),
        Attr::optional("route_table_ids", AttrType::Set(&AttrType::Str)),
        Attr::optional("subnet_ids", AttrType::Set(&AttrType::Str)),
        Attr::optional("security_group_ids", AttrType::Set(&AttrType::Str)),
        Attr::optional("private_dns_enabled", AttrType::Bool),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: false,
    taggable: true,
    ownership: Ownership::Listed,
    pricing: Pricing::VpcEndpoint,
};

/// How long a delete waits for the endpoint to be gone when the resource
/// sets no delete timeout: an interface endpoint stays `deleting` for
/// minutes while AWS removes its network interfaces, and the subnets and
/// security groups it used cannot be deleted before.
pub const DELETE_WAIT: Duration = Duration::from_secs(600);

/// The `vpc_endpoint` resource type.
pub struct VpcEndpoint;

fn strings(items: impl IntoIterator<Item = String>) -> Value {
    let mut v: Vec<String> = items.into_iter().collect();
    v.sort();
    Value::from(v)
}

/// Attributes of an endpoint as AWS describes it; `None` without an id or once deleted.
fn endpoint_attrs(e: &AwsEndpoint, region: &str) -> Option<(String, Attrs)> {
    let id = e.vpc_endpoint_id()?.to_owned();
    if e.state().is_some_and(|s| matches!(s.as_str().to_ascii_lowercase().as_str(), "deleted" | "deleting")) {
        return None;
    }
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(&id));
    a.insert("arn".into(), e.owner_id().map(|o| arn(region, o, "vpc-endpoint", &id)).into());
    a.insert("vpc_id".into(), e.vpc_id().into());
    a.insert("service_name".into(), e.service_name().into());
    a.insert("vpc_endpoint_type".into(), e.vpc_endpoint_type().map(|t| t.as_str()).into());
    a.insert("route_table_ids".into(), strings(e.route_table_ids().iter().cloned()));
    a.insert("subnet_ids".into(), strings(e.subnet_ids().iter().cloned()));
    a.insert("security_group_ids".into(), strings(e.groups().iter().filter_map(|g| g.group_id().map(str::to_owned))));
    a.insert("private_dns_enabled".into(), Value::Bool(e.private_dns_enabled().unwrap_or(false)));
    insert_tags(&mut a, e.tags());
    Some((id, a))
}

/// Adds to each gateway endpoint the id of its service's prefix list
/// (DescribePrefixLists, one call for all of them).
async fn with_prefix_lists(client: &aws_sdk_ec2::Client, endpoints: &mut [(String, Attrs)]) -> Result<()> {
    let gateway = |a: &Attrs| get_str(a, "vpc_endpoint_type") == Some("Gateway");
    let services: BTreeSet<String> = endpoints
        .iter()
        .filter(|(_, a)| gateway(a))
        .filter_map(|(_, a)| get_str(a, "service_name").map(str::to_owned))
        .collect();
    if services.is_empty() {
        return Ok(());
    }
    let filter = aws_sdk_ec2::types::Filter::builder()
        .name("prefix-list-name")
        .set_values(Some(services.into_iter().collect()))
        .build();
    let out =
        client.describe_prefix_lists().filters(filter).send().await.map_err(|e| api_error("DescribePrefixLists", e))?;
    let by_name: BTreeMap<&str, &str> =
        out.prefix_lists().iter().filter_map(|p| Some((p.prefix_list_name()?, p.prefix_list_id()?))).collect();
    for (_, a) in endpoints.iter_mut().filter(|(_, a)| gateway(a)) {
        let id = get_str(a, "service_name").and_then(|s| by_name.get(s).copied());
        a.insert("prefix_list_id".into(), id.into());
    }
    Ok(())
}

/// DescribeVpcEndpoints by id. AWS refuses the whole call when one id is
/// gone, so a refused batch is read again one id at a time, leaving out the
/// missing ones.
async fn describe_ids(client: &aws_sdk_ec2::Client, ids: Vec<String>) -> Result<Vec<AwsEndpoint>> {
    let describe = |ids: Vec<String>| client.describe_vpc_endpoints().set_vpc_endpoint_ids(Some(ids)).send();
    let missing = |e: &aws_sdk_ec2::error::SdkError<_, _>| error_code(e).is_some_and(|c| c.contains("NotFound"));
    match describe(ids.clone()).await {
        Ok(out) => Ok(out.vpc_endpoints().to_vec()),
        Err(e) if missing(&e) && ids.len() > 1 => {
            let mut found = Vec::new();
            for id in ids {
                match describe(vec![id]).await {
                    Ok(out) => found.extend(out.vpc_endpoints().iter().cloned()),
                    Err(e) if missing(&e) => {}
                    Err(e) => return Err(api_error("DescribeVpcEndpoints", e)),
                }
            }
            Ok(found)
        }
        Err(e) if missing(&e) => Ok(Vec::new()),
        Err(e) => Err(api_error("DescribeVpcEndpoints", e)),
    }
}

/// The state of endpoint `id` as DescribeVpcEndpoints reports it; `None`
/// once it is gone (not listed, or `deleted`).
async fn state_of(client: &aws_sdk_ec2::Client, id: &str) -> Result<Option<String>> {
    let listed = describe_ids(client, vec![id.to_owned()]).await?;
    let state = listed
        .iter()
        .find(|e| e.vpc_endpoint_id() == Some(id))
        .map(|e| e.state().map_or_else(|| "unknown".to_owned(), |s| s.as_str().to_ascii_lowercase()));
    Ok(state.filter(|s| s != "deleted"))
}

/// Waits until endpoint `id` is gone, for up to the resource's delete
/// timeout, else [`DELETE_WAIT`]: its network interfaces hold its subnets
/// and security groups until then.
async fn wait_gone(ctx: &Ctx, client: &aws_sdk_ec2::Client, id: &str) -> Result<()> {
    let what = format!("endpoint {id} to be deleted");
    wait_for(ctx, &what, DELETE_WAIT, Backoff::default(), || async {
        Ok(match state_of(client, id).await? {
            None => Poll::Ready(()),
            Some(state) => Poll::Pending(state),
        })
    })
    .await
}

/// `(kind, id)` of every object of `kind` in the list attribute `name`.
fn named_in<'a>(attrs: &'a Attrs, name: &str, kind: Named) -> impl Iterator<Item = (Named, &'a str)> {
    attrs.get(name).and_then(Value::as_list).unwrap_or_default().iter().filter_map(move |v| Some((kind, v.as_str()?)))
}

/// The strings of a list attribute (empty when unset).
fn set_of(attrs: &Attrs, name: &str) -> BTreeSet<String> {
    attrs
        .get(name)
        .and_then(Value::as_list)
        .map(|l| l.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// (added, removed) going from `prior` to `desired` for a managed list attribute.
fn delta(update: &PlannedUpdate, name: &str) -> (Vec<String>, Vec<String>) {
    if !update.changes(name) {
        return (Vec::new(), Vec::new());
    }
    let (old, new) = (set_of(&update.before, name), set_of(&update.after, name));
    (new.difference(&old).cloned().collect(), old.difference(&new).cloned().collect())
}

/// The full service name: a short name (no dot) is the service in `region`.
fn full_service_name(name: &str, region: &str) -> String {
    if name.contains('.') { name.to_owned() } else { format!("com.amazonaws.{region}.{name}") }
}

fn non_empty(v: Vec<String>) -> Option<Vec<String>> {
    (!v.is_empty()).then_some(v)
}

/// One ModifyVpcEndpoint with what `update` changes among the route tables,
/// subnets, security groups (added and removed) and private DNS; none when
/// it changes none of them.
async fn modify(ctx: &Ctx, client: &aws_sdk_ec2::Client, id: &str, update: &PlannedUpdate) -> Result<()> {
    let (add_rt, remove_rt) = delta(update, "route_table_ids");
    let (add_sn, remove_sn) = delta(update, "subnet_ids");
    let (add_sg, remove_sg) = delta(update, "security_group_ids");
    let dns = update.to("private_dns_enabled").and_then(Value::as_bool);
    let changes = [&add_rt, &remove_rt, &add_sn, &remove_sn, &add_sg, &remove_sg].iter().any(|v| !v.is_empty());
    if changes || dns.is_some() {
        // Subnets and groups added may be new ones EC2 does not show yet.
        let named: Vec<(Named, &str)> = add_sn
            .iter()
            .map(|s| (Named::Subnet, s.as_str()))
            .chain(add_sg.iter().map(|g| (Named::Group, g.as_str())))
            .collect();
        let request = client
            .modify_vpc_endpoint()
            .vpc_endpoint_id(id)
            .set_add_route_table_ids(non_empty(add_rt))
            .set_remove_route_table_ids(non_empty(remove_rt))
            .set_add_subnet_ids(non_empty(add_sn.clone()))
            .set_remove_subnet_ids(non_empty(remove_sn))
            .set_add_security_group_ids(non_empty(add_sg.clone()))
            .set_remove_security_group_ids(non_empty(remove_sg))
            .set_private_dns_enabled(dns);
        send_naming(ctx, "ModifyVpcEndpoint", &named, || request.clone().send()).await?;
    }
    Ok(())
}

#[async_trait]
impl ResourceType for VpcEndpoint {
    fn type_name(&self) -> &'static str {
        "vpc_endpoint"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// A short name is the service in the endpoint's own region.
    fn suppress_diff(&self, attr: &str, current: &Value, desired: &Value) -> bool {
        match (attr, current.as_str(), desired.as_str()) {
            ("service_name", Some(full), Some(short)) if !short.contains('.') => full
                .strip_prefix("com.amazonaws.")
                .and_then(|rest| rest.split_once('.'))
                .is_some_and(|(_, s)| s == short),
            _ => false,
        }
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], _scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        let client = &client;
        let endpoints = describe_in_chunks(ids, |chunk| async move { describe_ids(client, chunk).await }).await?;
        let mut found: Vec<(String, Attrs)> = endpoints.iter().filter_map(|e| endpoint_attrs(e, &ctx.region)).collect();
        with_prefix_lists(client, &mut found).await?;
        Ok(found.into_iter().collect())
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        let required = |name: &str| {
            get_str(desired, name).ok_or_else(|| ProviderError::Invalid(format!("vpc_endpoint needs {name}")))
        };
        let kind = VpcEndpointType::from(get_str(desired, "vpc_endpoint_type").unwrap_or("Gateway"));
        let interface = kind == VpcEndpointType::Interface;
        let vpc_id = required("vpc_id")?;
        let request = client
            .create_vpc_endpoint()
            .vpc_id(vpc_id)
            .service_name(full_service_name(required("service_name")?, &ctx.region))
            .vpc_endpoint_type(kind)
            .set_route_table_ids(non_empty(set_of(desired, "route_table_ids").into_iter().collect()))
            .set_subnet_ids(non_empty(set_of(desired, "subnet_ids").into_iter().collect()))
            .set_security_group_ids(non_empty(set_of(desired, "security_group_ids").into_iter().collect()))
            .set_private_dns_enabled(get_bool(desired, "private_dns_enabled").filter(|_| interface))
            .set_tag_specifications(tag_specification(Ec2ResourceType::VpcEndpoint, desired).map(|t| vec![t]));
        let named: Vec<(Named, &str)> = std::iter::once((Named::Vpc, vpc_id))
            .chain(named_in(desired, "subnet_ids", Named::Subnet))
            .chain(named_in(desired, "security_group_ids", Named::Group))
            .collect();
        let out = send_naming(ctx, "CreateVpcEndpoint", &named, || request.clone().send()).await?;
        let created = out
            .vpc_endpoint()
            .and_then(|e| endpoint_attrs(e, &ctx.region))
            .ok_or_else(|| ProviderError::Invalid("CreateVpcEndpoint answered without an endpoint id".into()))?;
        let mut created = [created];
        with_prefix_lists(&client, &mut created).await?;
        let [(_, mut attrs)] = created;
        // The tags went in with the create; its answer may not echo them.
        attrs.insert("tags".into(), desired_tags(desired));
        Ok(attrs)
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        modify(ctx, &client, id, update).await?;
        sync_tags(&client, id, update).await?;
        self.read_many(ctx, &[id.to_owned()], &ReadScope::All)
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(id.to_owned()))
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        let out = client
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(id)
            .send()
            .await
            .map_err(|e| api_error("DeleteVpcEndpoints", e))?;
        // Failures come back per endpoint; one that is already gone is done.
        if let Some(e) = out.unsuccessful().iter().find_map(|u| u.error())
            && !e.code().is_some_and(|c| c.contains("NotFound"))
        {
            return Err(ProviderError::Api {
                operation: "DeleteVpcEndpoints",
                code: e.code().unwrap_or_default().to_owned(),
                message: e.message().unwrap_or_default().to_owned(),
                retryable: false,
            });
        }
        wait_gone(ctx, &client, id).await
    }

    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        let endpoints: Vec<AwsEndpoint> =
            describe_all!(client.describe_vpc_endpoints(), ec2::stack_filters(ctx), "DescribeVpcEndpoints")?;
        let live = endpoints.iter().filter(|e| endpoint_attrs(e, &ctx.region).is_some());
        Ok(ec2::first_owned(live.map(|e| (e.vpc_endpoint_id(), e.tags())), ctx, addr))
    }

    /// One DescribeVpcEndpoints filtered on the stack tag; deleted endpoints left out.
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        let endpoints: Vec<AwsEndpoint> =
            describe_all!(client.describe_vpc_endpoints(), ec2::stack_filters(ctx), "DescribeVpcEndpoints")?;
        let live = endpoints.iter().filter(|e| endpoint_attrs(e, &ctx.region).is_some());
        Ok(ec2::owned(live.map(|e| (e.vpc_endpoint_id(), e.tags())), ctx, known))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A delete waits while the endpoint is `deleting`, reporting it, and
    /// ends when DescribeVpcEndpoints reports it `deleted` or no longer knows it.
    #[tokio::test]
    async fn a_delete_waits_until_the_endpoint_is_gone() {
        use aws_sdk_ec2::operation::describe_vpc_endpoints::{DescribeVpcEndpointsError, DescribeVpcEndpointsOutput};
        use aws_sdk_ec2::types::State;
        use aws_smithy_mocks::mock;
        use aws_smithy_types::error::ErrorMetadata;

        use crate::provider::aws::mocked_client;

        let answer = |state: &'static str| {
            move || {
                let endpoint = AwsEndpoint::builder().vpc_endpoint_id("vpce-1").state(State::from(state)).build();
                DescribeVpcEndpointsOutput::builder().vpc_endpoints(endpoint).build()
            }
        };
        let describe = mock!(aws_sdk_ec2::Client::describe_vpc_endpoints)
            .sequence()
            .output(answer("deleting"))
            .output(answer("Deleting"))
            .output(answer("deleted"))
            .build();
        let client = mocked_client!(aws_sdk_ec2, &[&describe]);
        let reports: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
        let sink = reports.clone();
        let aws = crate::provider::aws::AwsFactory::new(crate::provider::aws::AwsOptions {
            pause_scale: Some(0.001),
            ..crate::provider::aws::AwsOptions::default()
        });
        let ctx = Ctx::new(std::sync::Arc::new(aws), "us-east-1", "t")
            .with_progress(crate::provider::Progress::new(move |what, _| sink.lock().unwrap().push(what.to_owned())));
        wait_gone(&ctx, &client, "vpce-1").await.unwrap();
        assert_eq!(describe.num_calls(), 3);
        assert_eq!(*reports.lock().unwrap(), ["waiting for endpoint vpce-1 to be deleted (status: deleting)"; 2]);

        let gone = mock!(aws_sdk_ec2::Client::describe_vpc_endpoints).then_error(|| {
            let meta = ErrorMetadata::builder().code("InvalidVpcEndpointId.NotFound").message("gone").build();
            DescribeVpcEndpointsError::generic(meta)
        });
        let client = mocked_client!(aws_sdk_ec2, &[&gone]);
        wait_gone(&ctx, &client, "vpce-1").await.unwrap();
        assert_eq!(gone.num_calls(), 1, "not known: gone at once");
    }

    #[test]
    fn short_service_names_are_the_service_in_the_endpoints_region() {
        assert_eq!(full_service_name("s3", "eu-west-1"), "com.amazonaws.eu-west-1.s3");
        assert_eq!(full_service_name("com.amazonaws.us-east-1.kms", "eu-west-1"), "com.amazonaws.us-east-1.kms");
        let full = Value::str("com.amazonaws.us-east-1.secretsmanager");
        assert!(VpcEndpoint.suppress_diff("service_name", &full, &Value::str("secretsmanager")));
        assert!(!VpcEndpoint.suppress_diff("service_name", &full, &Value::str("kms")));
        assert!(!VpcEndpoint.suppress_diff(
            "service_name",
            &full,
            &Value::str("com.amazonaws.us-west-2.secretsmanager")
        ));
    }

    /// What moto ignores (docs/testing.md): a planned private DNS change is
    /// sent, and nothing the plan does not change goes with it.
    #[tokio::test]
    async fn the_modify_carries_exactly_the_planned_changes() {
        use aws_sdk_ec2::operation::modify_vpc_endpoint::ModifyVpcEndpointOutput;
        use aws_smithy_mocks::mock;

        use crate::provider::aws::mocked_client;

        let rule = mock!(aws_sdk_ec2::Client::modify_vpc_endpoint)
            .match_requests(|r| {
                r.vpc_endpoint_id() == Some("vpce-1")
                    && r.private_dns_enabled() == Some(false)
                    && r.add_subnet_ids().is_empty()
                    && r.remove_subnet_ids().is_empty()
                    && r.add_security_group_ids().is_empty()
                    && r.remove_security_group_ids().is_empty()
            })
            .then_output(|| ModifyVpcEndpointOutput::builder().build());
        let client = mocked_client!(aws_sdk_ec2, &[&rule]);
        let ctx = Ctx::new(std::sync::Arc::new(crate::provider::fake::NoClients), "us-east-1", "t");
        let list = |ids: &[&str]| Value::from(ids.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let before: Attrs = [
            ("subnet_ids".to_owned(), list(&["subnet-a"])),
            ("security_group_ids".to_owned(), list(&["sg-a"])),
            ("private_dns_enabled".to_owned(), Value::Bool(true)),
        ]
        .into();
        let mut desired = before.clone();
        desired.insert("private_dns_enabled".into(), Value::Bool(false));
        modify(&ctx, &client, "vpce-1", &VpcEndpoint.planned_update(&before, &desired, &[])).await.unwrap();
        assert_eq!(rule.num_calls(), 1, "a request that does not match the rule fails the call");
        modify(&ctx, &client, "vpce-1", &VpcEndpoint.planned_update(&before, &before, &[])).await.unwrap();
        assert_eq!(rule.num_calls(), 1, "nothing planned, nothing sent");
    }

    #[test]
    fn deltas_add_and_remove_only_managed_lists() {
        let prior: Attrs = [("route_table_ids".to_owned(), Value::from(vec!["a".to_owned(), "b".to_owned()]))].into();
        let desired: Attrs = [("route_table_ids".to_owned(), Value::from(vec!["b".to_owned(), "c".to_owned()]))].into();
        let planned = VpcEndpoint.planned_update(&prior, &desired, &[]);
        assert_eq!(delta(&planned, "route_table_ids"), (vec!["c".to_owned()], vec!["a".to_owned()]));
        let unmanaged = VpcEndpoint.planned_update(&prior, &Attrs::new(), &[]);
        assert_eq!(delta(&unmanaged, "route_table_ids"), (vec![], vec![]), "unmanaged: untouched");
    }
}
