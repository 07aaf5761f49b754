//! Refresh: read every object in state from AWS, one batched call per
//! (type, region), and look up interrupted creates by their ownership tags.
//! Reads that fail transiently (throttling, 5xx, network) are retried with
//! backoff beyond the SDK's own attempts ([`retry_transient`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::StreamExt;
use futures::stream;

use super::{Event, Hook};
use crate::addr::ResourceAddr;
use crate::plan::Refreshed;
use crate::provider::waiter::retry_transient;
use crate::provider::{Clients, Ctx, ProviderError, ReadScope, Registry, ResourceType};
use crate::state::{StateFile, Status};
use crate::value::Attrs;

/// Why a refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("state holds `{addr}` of type `{rtype}`, which this pgstack does not know")]
    UnknownType { addr: ResourceAddr, rtype: String },
    #[error("reading {rtype} in {region}: {source}")]
    Read { rtype: String, region: String, source: ProviderError },
    #[error("listing the {rtype} objects tagged for this stack in {region}: {source}")]
    List { rtype: String, region: String, source: ProviderError },
}

/// Reads current attributes for everything in `state`. `managed` holds the
/// attributes the config manages per address; a read may skip the rest.
pub async fn refresh(
    state: StateFile,
    managed: &BTreeMap<ResourceAddr, BTreeSet<String>>,
    registry: &Registry,
    clients: Arc<dyn Clients>,
    parallelism: usize,
    hook: &dyn Hook,
) -> Result<Refreshed, RefreshError> {
    let mut groups: BTreeMap<(String, String), Vec<(ResourceAddr, String)>> = BTreeMap::new();
    let mut pending = Vec::new();
    for (addr, rs) in &state.resources {
        if registry.get(&rs.rtype).is_none() {
            return Err(RefreshError::UnknownType { addr: addr.clone(), rtype: rs.rtype.clone() });
        }
        match (rs.status, &rs.id) {
            (Status::Ready, Some(id)) => {
                groups.entry((rs.rtype.clone(), rs.region.clone())).or_default().push((addr.clone(), id.clone()))
            }
            _ => pending.push((addr.clone(), rs.rtype.clone(), rs.region.clone())),
        }
    }
    let ctx = |region: &str| Ctx::new(clients.clone(), region, state.stack.clone());

    let reads = stream::iter(groups.into_iter().map(|((rtype, region), members)| {
        let provider = registry.get(&rtype).cloned();
        let ctx = ctx(&region);
        hook.event(Event::Refreshing { rtype: &rtype, region: &region, count: members.len() });
        let scope = group_scope(managed, members.iter().map(|(a, _)| a));
        async move {
            let provider = provider.expect("types were checked above");
            let ids: Vec<String> = members.iter().map(|(_, id)| id.clone()).collect();
            let read = || provider.read_many(&ctx, &ids, &scope);
            let found = retry_transient(&ctx, "the read", read).await.map_err(|source| RefreshError::Read {
                rtype: rtype.clone(),
                region: region.clone(),
                source,
            })?;
            Ok::<_, RefreshError>(members.into_iter().map(|(a, id)| (a, found.get(&id).cloned())).collect::<Vec<_>>())
        }
    }))
    .buffer_unordered(parallelism.max(1))
    .collect::<Vec<_>>()
    .await;

    let mut current: BTreeMap<ResourceAddr, Option<Attrs>> = BTreeMap::new();
    for r in reads {
        current.extend(r?);
    }

    let mut adopted = BTreeMap::new();
    for (addr, rtype, region) in pending {
        let provider = registry.get(&rtype).expect("types were checked above");
        let ctx = ctx(&region);
        let err = |source| RefreshError::Read { rtype: rtype.clone(), region: region.clone(), source };
        let deposed = state.resources[&addr].deposed.iter().map(|d| d.id.clone()).collect::<Vec<_>>();
        let lookup = || find_pending(provider.as_ref(), &ctx, &addr, &deposed);
        let found = match retry_transient(&ctx, "the lookup", lookup).await.map_err(err)? {
            Some(id) => retry_transient(&ctx, "the read", || {
                provider.read_many(&ctx, std::slice::from_ref(&id), &ReadScope::All)
            })
            .await
            .map_err(err)?
            .remove(&id)
            .map(|a| (id, a)),
            None => None,
        };
        match found {
            Some((id, attrs)) => {
                hook.event(Event::Adopted { addr: &addr, id: &id });
                adopted.insert(addr.clone(), id);
                current.insert(addr, Some(attrs));
            }
            None => {
                current.insert(addr, None);
            }
        }
    }
    Ok(Refreshed { state, current, adopted, refreshed: true, moved: Vec::new(), imported: Vec::new() })
}

/// The object an interrupted create made for `addr`: found by its tags, and
/// not one of the `deposed` old objects, which carry the same tags.
pub(super) async fn find_pending(
    provider: &dyn ResourceType,
    ctx: &Ctx,
    addr: &ResourceAddr,
    deposed: &[String],
) -> Result<Option<String>, ProviderError> {
    if deposed.is_empty() {
        return provider.find_created(ctx, addr).await;
    }
    Ok(provider.find_all_created(ctx, addr).await?.into_iter().find(|id| !deposed.contains(id)))
}

/// The union of the members' managed attributes; everything when one of them
/// is not in the config (it is about to be deleted and shown in full).
fn group_scope<'a>(
    managed: &BTreeMap<ResourceAddr, BTreeSet<String>>,
    members: impl Iterator<Item = &'a ResourceAddr>,
) -> ReadScope {
    let mut union = BTreeSet::new();
    for m in members {
        match managed.get(m) {
            Some(attrs) => union.extend(attrs.iter().cloned()),
            None => return ReadScope::All,
        }
    }
    ReadScope::Only(union)
}
