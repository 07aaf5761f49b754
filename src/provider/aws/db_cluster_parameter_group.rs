//! `db_cluster_parameter_group`: an Aurora DB cluster parameter group (cluster-wide
//! settings of an Aurora PostgreSQL cluster). Behaviour, reads and tests of the
//! shared logic are in [`super::parameter_group`]; this file holds the
//! DB-cluster-parameter-group API calls.

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::{DbClusterParameterGroup as AwsGroup, Parameter, Tag};

use super::parameter_group::{GroupInfo, ParameterGroupApi, Query, rds_error};
use super::rds::{self, filter};
use crate::provider::waiter::Backoff;
use crate::provider::{Ctx, ProviderError, Result};

/// The `db_cluster_parameter_group` resource type.
pub struct DbClusterParameterGroup;

/// A group as AWS describes it; `None` when AWS sent no name.
fn info(g: &AwsGroup) -> Option<GroupInfo> {
    Some(GroupInfo {
        name: g.db_cluster_parameter_group_name()?.to_owned(),
        family: g.db_parameter_group_family().map(str::to_owned),
        description: g.description().map(str::to_owned),
        arn: g.db_cluster_parameter_group_arn().map(str::to_owned),
    })
}

#[async_trait]
impl ParameterGroupApi for DbClusterParameterGroup {
    const TYPE_NAME: &'static str = "db_cluster_parameter_group";

    async fn list_groups(&self, client: &Client) -> Result<Vec<GroupInfo>> {
        let groups: Vec<AwsGroup> = client
            .describe_db_cluster_parameter_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| rds_error("DescribeDBClusterParameterGroups", e))?;
        Ok(groups.iter().filter_map(info).collect())
    }

    async fn create_group(
        &self,
        client: &Client,
        name: &str,
        family: &str,
        description: &str,
        tags: Vec<Tag>,
    ) -> Result<GroupInfo> {
        let out = client
            .create_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .db_parameter_group_family(family)
            .description(description)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| rds_error("CreateDBClusterParameterGroup", e))?;
        out.db_cluster_parameter_group().and_then(info).ok_or_else(|| {
            ProviderError::Invalid(format!("CreateDBClusterParameterGroup returned no group for {name}"))
        })
    }

    async fn parameters(&self, client: &Client, group: &str, query: Query<'_>) -> Result<Vec<Parameter>> {
        let req = client.describe_db_cluster_parameters().db_cluster_parameter_group_name(group);
        let req = match query {
            Query::User => req.source("user"),
            Query::Named(names) => req.filters(filter("parameter-name", names)),
        };
        req.into_paginator().items().send().try_collect().await.map_err(|e| rds_error("DescribeDBClusterParameters", e))
    }

    async fn modify(&self, client: &Client, group: &str, parameters: Vec<Parameter>) -> Result<()> {
        client
            .modify_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(group)
            .set_parameters(Some(parameters))
            .send()
            .await
            .map_err(|e| rds_error("ModifyDBClusterParameterGroup", e))?;
        Ok(())
    }

    async fn reset(&self, client: &Client, group: &str, parameters: Vec<Parameter>) -> Result<()> {
        client
            .reset_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(group)
            .reset_all_parameters(false)
            .set_parameters(Some(parameters))
            .send()
            .await
            .map_err(|e| rds_error("ResetDBClusterParameterGroup", e))?;
        Ok(())
    }

    async fn delete_group(&self, ctx: &Ctx, client: &Client, group: &str, backoff: Backoff) -> Result<()> {
        rds::delete_group(ctx, "DeleteDBClusterParameterGroup", rds::PARAMETER_GROUP_IN_USE, backoff, || {
            client.delete_db_cluster_parameter_group().db_cluster_parameter_group_name(group).send()
        })
        .await
    }
}

/// The shared logic is tested with the DB flavour in `parameter_group.rs`;
/// these tests check that this flavour's calls (not served by moto: Reset,
/// the `parameter-name` filter) carry the right request.
#[cfg(test)]
mod tests {
    use aws_sdk_rds::operation::describe_db_cluster_parameters::DescribeDbClusterParametersOutput;
    use aws_sdk_rds::operation::reset_db_cluster_parameter_group::ResetDbClusterParameterGroupOutput;
    use aws_sdk_rds::types::ApplyMethod;
    use aws_smithy_mocks::mock;

    use super::*;
    use crate::provider::aws::rds::mock_rds;

    #[tokio::test]
    async fn reset_names_the_parameters_never_all() {
        let reset = mock!(Client::reset_db_cluster_parameter_group)
            .match_requests(|r| {
                r.db_cluster_parameter_group_name() == Some("aurora")
                    && r.reset_all_parameters() == Some(false)
                    && r.parameters()
                        .iter()
                        .map(|p| (p.parameter_name(), p.apply_method()))
                        .eq([(Some("rds.force_ssl"), Some(&ApplyMethod::Immediate))])
            })
            .then_output(|| ResetDbClusterParameterGroupOutput::builder().build());
        let client = mock_rds(&[&reset]);
        let p = Parameter::builder().parameter_name("rds.force_ssl").apply_method(ApplyMethod::Immediate).build();
        DbClusterParameterGroup.reset(&client, "aurora", vec![p]).await.expect("reset");
        assert_eq!(reset.num_calls(), 1);
    }

    #[tokio::test]
    async fn parameter_queries_use_the_source_or_the_name_filter() {
        let user = mock!(Client::describe_db_cluster_parameters)
            .match_requests(|r| r.source() == Some("user") && r.filters().is_empty())
            .then_output(|| {
                DescribeDbClusterParametersOutput::builder()
                    .parameters(Parameter::builder().parameter_name("rds.force_ssl").parameter_value("1").build())
                    .build()
            });
        let named = mock!(Client::describe_db_cluster_parameters)
            .match_requests(|r| {
                r.source().is_none()
                    && r.filters()
                        .iter()
                        .map(|f| (f.name(), f.values()))
                        .eq([(Some("parameter-name"), &["a".to_owned(), "b".to_owned()][..])])
            })
            .then_output(|| DescribeDbClusterParametersOutput::builder().build());
        let client = mock_rds(&[&user, &named]);
        let got = DbClusterParameterGroup.parameters(&client, "aurora", Query::User).await.expect("user");
        assert_eq!(got.iter().map(|p| p.parameter_value()).collect::<Vec<_>>(), vec![Some("1")]);
        let names = ["a".to_owned(), "b".to_owned()];
        DbClusterParameterGroup.parameters(&client, "aurora", Query::Named(&names)).await.expect("named");
        assert_eq!((user.num_calls(), named.num_calls()), (1, 1));
    }
}
