//! `backup_vault`: an AWS Backup vault, where backup plans keep recovery
//! points (database snapshots), encrypted with a customer-managed key. One
//! per region: the primary's and the DR region's, which copy actions fill.
//!
//! - Id: the vault name.
//! - Create: CreateBackupVault (name, key, tags in one call).
//! - Read: DescribeBackupVault (the key and the number of recovery points);
//!   ListTags when the config manages tags. A vault that no longer exists is
//!   omitted.
//! - Update: tags only (TagResource / UntagResource); the name and the key
//!   force a new vault.
//! - Delete: DeleteBackupVault, which AWS refuses while the vault holds
//!   recovery points (it never deletes backups): the data-loss guard asks for
//!   `--allow-destroy` as well.
//! - Orphan scan: the tagging index (`backup:backup-vault`), shared with the
//!   other indexed types. An interrupted create: ListBackupVaults, then each
//!   vault's tags.
//! - Tested against moto: create, read, tags in place, drift, import,
//!   delete.
//! - Cost: none of its own; the recovery points it holds are billed as
//!   backup storage (docs/cost.md).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_backup::Client;
use futures::{StreamExt, TryStreamExt, stream};

use super::owned;
use super::{PER_RESOURCE_CONCURRENCY, api_error, error_code, factory, get_str, read_each, tag_changes, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Kind, NameRule, Ownership, Pricing, Schema};
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::computed("recovery_points", AttrType::Int),
        Attr::optional("name", AttrType::Str).force_new().max_len(50).default_name(NameRule::new(50, false, "-_")),
        Attr::required("kms_key_arn", AttrType::Str).force_new().pattern(Kind::Arn),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: true,
    taggable: true,
    ownership: Ownership::indexed("backup:backup-vault", "backup-vault:"),
    pricing: Pricing::Free,
};

/// The `backup_vault` resource type.
pub struct BackupVault;

/// What AWS Backup answers for a vault, plan or selection that does not exist.
pub(super) const NOT_FOUND: &str = "ResourceNotFoundException";

/// The tags of a Backup resource; `None` when it is gone.
pub(super) async fn read_tags(client: &Client, arn: &str) -> Result<Option<BTreeMap<String, String>>> {
    match client.list_tags().resource_arn(arn).send().await {
        Ok(out) => Ok(Some(out.tags().cloned().unwrap_or_default().into_iter().collect())),
        Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(None),
        Err(e) => Err(api_error("ListTags", e)),
    }
}

/// The tags of each listed `(id, arn)` ([`PER_RESOURCE_CONCURRENCY`] at a
/// time); `None` for one deleted meanwhile. Serves the listing types of
/// AWS Backup (vaults, plans, restore testing plans).
pub(super) async fn listed_tags(
    client: &Client,
    named: Vec<(String, String)>,
) -> Result<Vec<Option<(String, BTreeMap<String, String>)>>> {
    let reads = named.into_iter().map(|(id, arn)| async move { Ok(read_tags(client, &arn).await?.map(|t| (id, t))) });
    stream::iter(reads.collect::<Vec<_>>()).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await
}

/// Brings the tags of Backup resource `arn` from the plan's `before` to its `after`.
pub(super) async fn sync_tags(client: &Client, arn: &str, update: &PlannedUpdate) -> Result<()> {
    let (set, remove) = tag_changes(&tags_of(&update.before), &tags_of(&update.after));
    if !remove.is_empty() {
        let out = client.untag_resource().resource_arn(arn).set_tag_key_list(Some(remove)).send().await;
        out.map_err(|e| api_error("UntagResource", e))?;
    }
    if !set.is_empty() {
        let out = client.tag_resource().resource_arn(arn).set_tags(Some(set.into_iter().collect())).send().await;
        out.map_err(|e| api_error("TagResource", e))?;
    }
    Ok(())
}

/// Reads vault `name`; `None` when it does not exist.
async fn read_vault(client: &Client, name: &str, scope: &ReadScope) -> Result<Option<Attrs>> {
    let out = match client.describe_backup_vault().backup_vault_name(name).send().await {
        Ok(out) => out,
        Err(e) if error_code(&e) == Some(NOT_FOUND) => return Ok(None),
        Err(e) => return Err(api_error("DescribeBackupVault", e)),
    };
    let arn = out.backup_vault_arn().unwrap_or_default().to_owned();
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(name));
    a.insert("name".into(), Value::str(name));
    a.insert("arn".into(), Value::str(&arn));
    a.insert("kms_key_arn".into(), out.encryption_key_arn().into());
    a.insert("recovery_points".into(), Value::Int(out.number_of_recovery_points()));
    if scope.wants("tags") {
        let Some(tags) = read_tags(client, &arn).await? else { return Ok(None) };
        a.insert("tags".into(), Value::from(tags));
    }
    Ok(Some(a))
}

async fn read_all(client: &Client, name: &str) -> Result<Attrs> {
    read_vault(client, name, &ReadScope::All).await?.ok_or_else(|| ProviderError::NotFound(name.into()))
}

/// The region's vaults with their tags
/// ([`PER_RESOURCE_CONCURRENCY`] at a time); `None` for one deleted meanwhile.
async fn vault_tags(client: &Client) -> Result<Vec<Option<(String, BTreeMap<String, String>)>>> {
    let vaults: Vec<_> = client
        .list_backup_vaults()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("ListBackupVaults", e))?;
    let named: Vec<(String, String)> = vaults
        .iter()
        .filter_map(|v| Some((v.backup_vault_name()?.to_owned(), v.backup_vault_arn()?.to_owned())))
        .collect();
    listed_tags(client, named).await
}

#[async_trait]
impl ResourceType for BackupVault {
    fn type_name(&self) -> &'static str {
        "backup_vault"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// Data-bearing while it holds recovery points (and when that is unknown).
    fn holds_data(&self, current: &Attrs) -> bool {
        current.get("recovery_points").and_then(Value::as_i64).is_none_or(|n| n > 0)
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.backup(&ctx.region).await;
        read_each(ids, |id| read_vault(client, id, scope)).await
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let name = get_str(desired, "name").ok_or_else(|| ProviderError::Invalid("name is required".into()))?;
        let client = factory(ctx)?.backup(&ctx.region).await;
        client
            .create_backup_vault()
            .backup_vault_name(name)
            .set_encryption_key_arn(get_str(desired, "kms_key_arn").map(str::to_owned))
            .set_backup_vault_tags(Some(tags_of(desired).into_iter().collect()))
            .send()
            .await
            .map_err(|e| api_error("CreateBackupVault", e))?;
        read_all(&client, name).await
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        let client = factory(ctx)?.backup(&ctx.region).await;
        if update.changes("tags") {
            let arn = get_str(&update.before, "arn")
                .ok_or_else(|| ProviderError::Invalid(format!("backup_vault {id} has no arn in state")))?;
            sync_tags(&client, arn, update).await?;
        }
        read_all(&client, id).await
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        let client = factory(ctx)?.backup(&ctx.region).await;
        match client.delete_backup_vault().backup_vault_name(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(()),
            Err(e) => Err(api_error("DeleteBackupVault", e)),
        }
    }

    /// Lists the region's vaults and reads each one's tags until one carries
    /// this stack's and address's ownership tags.
    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        let client = factory(ctx)?.backup(&ctx.region).await;
        let all = vault_tags(&client).await?;
        owned::first_tagged_for(stream::iter(all.into_iter().map(Ok)), ctx, addr).await
    }

    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        owned::indexed(ctx, self.type_name(), known).await
    }
}
