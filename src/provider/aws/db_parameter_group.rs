//! `db_parameter_group`: an RDS DB parameter group, used by RDS PostgreSQL
//! instances and Aurora cluster members. Behaviour, reads and tests of the
//! shared logic are in [`super::parameter_group`]; this file holds the
//! DB-parameter-group API calls.

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::{DbParameterGroup as AwsGroup, Parameter, Tag};

use super::parameter_group::{GroupInfo, ParameterGroupApi, Query, rds_error};
use super::rds::{self, filter};
use crate::provider::waiter::Backoff;
use crate::provider::{Ctx, ProviderError, Result};

/// The `db_parameter_group` resource type.
pub struct DbParameterGroup;

/// A group as AWS describes it; `None` when AWS sent no name.
fn info(g: &AwsGroup) -> Option<GroupInfo> {
    Some(GroupInfo {
        name: g.db_parameter_group_name()?.to_owned(),
        family: g.db_parameter_group_family().map(str::to_owned),
        description: g.description().map(str::to_owned),
        arn: g.db_parameter_group_arn().map(str::to_owned),
    })
}

#[async_trait]
impl ParameterGroupApi for DbParameterGroup {
    const TYPE_NAME: &'static str = "db_parameter_group";

    async fn list_groups(&self, client: &Client) -> Result<Vec<GroupInfo>> {
        let groups: Vec<AwsGroup> = client
            .describe_db_parameter_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| rds_error("DescribeDBParameterGroups", e))?;
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
            .create_db_parameter_group()
            .db_parameter_group_name(name)
            .db_parameter_group_family(family)
            .description(description)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| rds_error("CreateDBParameterGroup", e))?;
        out.db_parameter_group()
            .and_then(info)
            .ok_or_else(|| ProviderError::Invalid(format!("CreateDBParameterGroup returned no group for {name}")))
    }

    async fn parameters(&self, client: &Client, group: &str, query: Query<'_>) -> Result<Vec<Parameter>> {
        let req = client.describe_db_parameters().db_parameter_group_name(group);
        let req = match query {
            Query::User => req.source("user"),
            Query::Named(names) => req.filters(filter("parameter-name", names)),
        };
        req.into_paginator().items().send().try_collect().await.map_err(|e| rds_error("DescribeDBParameters", e))
    }

    async fn modify(&self, client: &Client, group: &str, parameters: Vec<Parameter>) -> Result<()> {
        client
            .modify_db_parameter_group()
            .db_parameter_group_name(group)
            .set_parameters(Some(parameters))
            .send()
            .await
            .map_err(|e| rds_error("ModifyDBParameterGroup", e))?;
        Ok(())
    }

    async fn reset(&self, client: &Client, group: &str, parameters: Vec<Parameter>) -> Result<()> {
        client
            .reset_db_parameter_group()
            .db_parameter_group_name(group)
            .reset_all_parameters(false)
            .set_parameters(Some(parameters))
            .send()
            .await
            .map_err(|e| rds_error("ResetDBParameterGroup", e))?;
        Ok(())
    }

    async fn delete_group(&self, ctx: &Ctx, client: &Client, group: &str, backoff: Backoff) -> Result<()> {
        rds::delete_group(ctx, "DeleteDBParameterGroup", rds::PARAMETER_GROUP_IN_USE, backoff, || {
            client.delete_db_parameter_group().db_parameter_group_name(group).send()
        })
        .await
    }
}
