//! Listing the objects that carry a stack's `pgstack:stack` tag
//! ([`ResourceType::list_owned`](crate::provider::ResourceType::list_owned)),
//! for drift's orphan scan. Read-only calls only. Each type's schema declares
//! how its objects are found ([`Ownership`]); this module reads the
//! declarations of the registered types ([`super::all_types`]), it keeps no
//! table of its own.
//!
//! - [`Ownership::Indexed`] types ([`INDEXED`]; covered by the Resource
//!   Groups Tagging API in AWS and in moto 5.2.5): one paged GetResources
//!   per region, filtered on the stack tag and on all their resource types
//!   at once, kept in `ctx.shared` so that every one of these types in the
//!   region picks its ARNs out of the same answer ([`indexed`]); `s3_bucket`
//!   keeps those ListBuckets reports in the region (only when one is not
//!   `known`). The same GetResources, filtered on one address, serves the
//!   `find_created` of `kms_key`, `kms_replica_key`, `secret` and `s3_bucket`
//!   ([`tagged`]).
//! - [`Ownership::Listed`] types list their own: `vpc_endpoint` one
//!   DescribeVpcEndpoints filtered on the tag ([`super::ec2::owned`]);
//!   `db_subnet_group`, `db_parameter_group` and `db_cluster_parameter_group`
//!   their paged Describe plus one ListTagsForResource per group that is not
//!   `known` ([`from_tags`]); `iam_role` one ListRoles plus one GetRole per
//!   role not `known`, once for all regions (roles are global).
//! - [`Ownership::Untagged`] types (`s3_bucket_replication`,
//!   `secret_rotation`) are configurations of another object, with no tags
//!   of their own: they list nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use aws_sdk_resourcegroupstagging::types::TagFilter;

use super::{api_error, factory, get_str, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{IdForm, Indexed, Ownership, TAG_ADDRESS, TAG_STACK};
use crate::provider::{Ctx, Owned, Result};
use crate::value::Attrs;

/// Every registered type ([`super::all_types`]) the tagging index lists
/// ([`Ownership::Indexed`]), with its type name.
static INDEXED: LazyLock<Vec<(&'static str, Indexed)>> = LazyLock::new(|| {
    super::all_types()
        .iter()
        .filter_map(|t| match t.schema().ownership {
            Ownership::Indexed(i) => Some((t.type_name(), i)),
            Ownership::Listed | Ownership::Untagged => None,
        })
        .collect()
});

/// One object of the tagging index: its ARN and tags.
pub type Tagged = (String, BTreeMap<String, String>);

/// The objects of type `rtype` (one of [`INDEXED`]) in `ctx.region` that
/// carry `ctx.stack`'s tag, from the region's shared tagging index.
pub async fn indexed(ctx: &Ctx, rtype: &str, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
    let Some(me) = INDEXED.iter().find(|(t, _)| *t == rtype) else { return Ok(Vec::new()) };
    let key = format!("aws:tagging:{}:{}", ctx.region, ctx.stack);
    let index = ctx.shared.get_or_try_init(&key, || tagging_index(ctx)).await?;
    Ok(index
        .iter()
        .filter(|(_, tags)| tags.get(TAG_STACK) == Some(&ctx.stack))
        .filter_map(|(arn, tags)| {
            let address = tags.get(TAG_ADDRESS);
            let id = claim(me, arn, address.map(String::as_str))?;
            (!known.contains(&id)).then(|| Owned { id, address: address.cloned() })
        })
        .collect())
}

/// The id `me` (a type name and its place in the index) makes of `arn`,
/// when the object is filed under its filter and its address tag gives it
/// to `me`: the tag names `me`, or names no type filed under that filter
/// and `me` claims the unnamed ones.
fn claim((rtype, me): &(&str, Indexed), arn: &str, address: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let (service, resource) = (parts.get(2)?, parts.get(5)?);
    let rest = resource.strip_prefix(me.prefix).filter(|r| *service == me.service() && !r.is_empty())?;
    let named = address.and_then(|a| a.parse::<ResourceAddr>().ok()).map(|a| a.rtype);
    let mine = match named {
        Some(t) if INDEXED.iter().any(|(s, i)| i.filter == me.filter && *s == t) => t == *rtype,
        _ => me.claims_unnamed,
    };
    mine.then(|| match me.id {
        IdForm::Rest => rest.to_owned(),
        IdForm::Arn => arn.to_owned(),
    })
}

/// One paged GetResources in `ctx.region`: every object of the [`INDEXED`]
/// resource types carrying `ctx.stack`'s tag.
async fn tagging_index(ctx: &Ctx) -> Result<Vec<Tagged>> {
    let filters: BTreeSet<&str> = INDEXED.iter().map(|(_, i)| i.filter).collect();
    tagged(ctx, None, &filters.into_iter().collect::<Vec<_>>()).await
}

/// One paged GetResources in `ctx.region`: the objects of resource `types`
/// (`kms:key`, ...) carrying `ctx.stack`'s tag and, when given, `address`'s.
pub async fn tagged(ctx: &Ctx, address: Option<&ResourceAddr>, types: &[&str]) -> Result<Vec<Tagged>> {
    let filter = |k: &str, v: String| TagFilter::builder().key(k).values(v).build();
    let tags = [Some(filter(TAG_STACK, ctx.stack.clone())), address.map(|a| filter(TAG_ADDRESS, a.to_string()))];
    let found: Vec<_> = factory(ctx)?
        .tagging(&ctx.region)
        .await
        .get_resources()
        .set_tag_filters(Some(tags.into_iter().flatten().collect()))
        .set_resource_type_filters(Some(types.iter().map(|t| (*t).to_owned()).collect()))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| api_error("GetResources", e))?;
    Ok(found
        .iter()
        .filter_map(|r| {
            let tags = r.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
            Some((r.resource_arn()?.to_owned(), tags))
        })
        .collect())
}

/// The id of the first `(id, tags)` item `reads` yields that carries
/// `ctx.stack`'s and `addr`'s ownership tags (items `None`, gone meanwhile,
/// are skipped): the lookup of an interrupted create for types that list
/// their objects and read their tags one by one.
pub async fn first_tagged_for<S>(mut reads: S, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>>
where
    S: futures::Stream<Item = Result<Option<(String, BTreeMap<String, String>)>>> + Unpin,
{
    use futures::StreamExt;
    let want = addr.to_string();
    while let Some(read) = reads.next().await {
        let Some((id, tags)) = read? else { continue };
        if tags.get(TAG_STACK) == Some(&ctx.stack) && tags.get(TAG_ADDRESS) == Some(&want) {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// The `(id, tags)` items carrying `stack`'s tag and not `known`, as owned
/// objects: for types that list their objects with their tags.
pub fn from_tags<'a>(
    items: impl IntoIterator<Item = (&'a str, BTreeMap<String, String>)>,
    stack: &str,
    known: &BTreeSet<String>,
) -> Vec<Owned> {
    items
        .into_iter()
        .filter(|(id, tags)| !known.contains(*id) && tags.get(TAG_STACK).is_some_and(|s| s == stack))
        .map(|(id, mut tags)| Owned { id: id.to_owned(), address: tags.remove(TAG_ADDRESS) })
        .collect()
}

/// [`from_tags`] of a listing's `(id, tags)` reads (`None`: gone meanwhile),
/// as the types that read tags one object at a time make them.
pub fn from_tag_reads(
    reads: &[Option<(String, BTreeMap<String, String>)>],
    stack: &str,
    known: &BTreeSet<String>,
) -> Vec<Owned> {
    from_tags(reads.iter().flatten().map(|(id, tags)| (id.as_str(), tags.clone())), stack, known)
}

/// [`from_tags`] of attributes as `read_many` returns them (`id`, `tags`).
pub fn from_attrs(all: &[Attrs], stack: &str, known: &BTreeSet<String>) -> Vec<Owned> {
    from_tags(all.iter().filter_map(|a| Some((get_str(a, "id")?, tags_of(a)))), stack, known)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(rtype: &str) -> &'static (&'static str, Indexed) {
        INDEXED.iter().find(|(t, _)| *t == rtype).unwrap()
    }

    #[test]
    fn arns_map_to_the_ids_state_records() {
        let cases = [
            ("vpc", "arn:aws:ec2:us-east-1:1:vpc/vpc-1", "vpc-1"),
            ("subnet", "arn:aws:ec2:us-east-1:1:subnet/subnet-1", "subnet-1"),
            ("security_group", "arn:aws:ec2:us-east-1:1:security-group/sg-1", "sg-1"),
            ("db_cluster", "arn:aws:rds:us-east-1:1:cluster:main", "main"),
            ("s3_bucket", "arn:aws:s3:::backups", "backups"),
            ("cloudwatch_alarm", "arn:aws:cloudwatch:us-east-1:1:alarm:cpu:high", "cpu:high"),
            ("sns_topic", "arn:aws:sns:us-east-1:1:alerts", "arn:aws:sns:us-east-1:1:alerts"),
            (
                "secret",
                "arn:aws:secretsmanager:us-east-1:1:secret:a-Ab1",
                "arn:aws:secretsmanager:us-east-1:1:secret:a-Ab1",
            ),
        ];
        for (rtype, arn, id) in cases {
            assert_eq!(claim(row(rtype), arn, None).as_deref(), Some(id), "{rtype}");
        }
        assert_eq!(claim(row("vpc"), "arn:aws:ec2:us-east-1:1:subnet/subnet-1", None), None);
        assert_eq!(claim(row("s3_bucket"), "arn:aws:sns:us-east-1:1:alerts", None), None);
        assert_eq!(claim(row("vpc"), "not-an-arn", None), None);
    }

    #[test]
    fn types_sharing_a_resource_type_split_by_address_tag() {
        let arn = "arn:aws:kms:us-west-2:1:key/mrk-1";
        let (key, replica) = (row("kms_key"), row("kms_replica_key"));
        assert_eq!(claim(replica, arn, Some("module.b.kms_replica_key.dr")).as_deref(), Some(arn));
        assert_eq!(claim(key, arn, Some("module.b.kms_replica_key.dr")), None);
        assert_eq!(claim(key, arn, Some("kms_key.db")).as_deref(), Some("mrk-1"));
        assert_eq!(claim(replica, arn, Some("kms_key.db")), None);
        // No usable address, or one naming another kind of object: the first type claims it.
        for address in [None, Some("vpc.main"), Some("not an address")] {
            assert_eq!(claim(key, arn, address).as_deref(), Some("mrk-1"), "{address:?}");
            assert_eq!(claim(replica, arn, address), None, "{address:?}");
        }
        let db = "arn:aws:rds:us-east-1:1:db:main-b";
        assert_eq!(
            claim(row("db_cluster_instance"), db, Some("db_cluster_instance.r[\"b\"]")).as_deref(),
            Some("main-b")
        );
        assert_eq!(claim(row("db_instance"), db, Some("db_cluster_instance.r[\"b\"]")), None);
    }

    #[test]
    fn from_tags_keeps_this_stacks_unknown_objects() {
        let tags = |stack: &str, addr: Option<&str>| -> BTreeMap<String, String> {
            let mut t = BTreeMap::from([(TAG_STACK.to_owned(), stack.to_owned())]);
            t.extend(addr.map(|a| (TAG_ADDRESS.to_owned(), a.to_owned())));
            t
        };
        let items = vec![
            ("a", tags("s", Some("vpc.a"))),
            ("b", tags("other", Some("vpc.b"))),
            ("c", tags("s", None)),
            ("d", tags("s", Some("vpc.d"))),
            ("e", BTreeMap::new()),
        ];
        let known = BTreeSet::from(["d".to_owned()]);
        assert_eq!(
            from_tags(items, "s", &known),
            vec![Owned { id: "a".into(), address: Some("vpc.a".into()) }, Owned { id: "c".into(), address: None }]
        );
    }
}
