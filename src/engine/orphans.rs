//! The orphan scan of `drift`: objects that carry the stack's
//! `pgstack:stack` tag but whose id its state does not record (left by a
//! run that died elsewhere, or made by hand with copied tags).
//!
//! Each (type, region) of the scope is listed with
//! [`ResourceType::list_owned`](crate::provider::ResourceType::list_owned),
//! every call of one scan sharing one [`Shared`] store (so one listing can
//! serve several types or regions). Ids the state records are passed as
//! `known`: those of ready entries, of deposed objects and of interrupted
//! creates adopted by the refresh, each also as its recorded `id` and `arn`
//! attributes (an object imported by its ARN is known by its plain id too).
//! An object whose address tag names an interrupted create still pending in
//! state is not an orphan either (the next apply adopts one such object).
//! The remaining candidates are read back with `read_many` (scope: nothing
//! but the id), which leaves out objects on their way out (a KMS key pending
//! deletion, a secret scheduled for deletion). Read-only: nothing is
//! written, in AWS or in state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::{StreamExt, stream};

use super::Hook;
use super::refresh::RefreshError;
use crate::plan::Refreshed;
use crate::plan::report::Unrecorded;
use crate::provider::waiter::retry_transient;
use crate::provider::{Clients, Ctx, ReadScope, Registry, Shared};
use crate::state::Status;
use crate::value::{Attrs, Value};

/// Lists, for each (type, region) of `scope`, the objects tagged for the
/// stack of `refreshed` whose ids it does not record, `parallelism` listings
/// at a time; each object once (by type and id), sorted.
pub async fn scan(
    refreshed: &Refreshed,
    scope: &BTreeSet<(String, String)>,
    registry: &Registry,
    clients: Arc<dyn Clients>,
    parallelism: usize,
    hook: &dyn Hook,
) -> Result<Vec<Unrecorded>, RefreshError> {
    let state = &refreshed.state;
    let mut known: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut pending: BTreeSet<(&str, String)> = BTreeSet::new();
    let forms = |attrs: &Attrs| -> Vec<String> {
        ["id", "arn"].iter().filter_map(|k| attrs.get(*k).and_then(Value::as_str).map(str::to_owned)).collect()
    };
    for (addr, r) in &state.resources {
        let ids = known.entry(&r.rtype).or_default();
        ids.extend(r.id.iter().cloned().chain(forms(&r.attributes)));
        ids.extend(r.deposed.iter().flat_map(|d| forms(&d.attributes).into_iter().chain([d.id.clone()])));
        ids.extend(refreshed.adopted.get(addr).cloned());
        if r.status == Status::CreatePending && !refreshed.adopted.contains_key(addr) {
            pending.insert((&r.rtype, addr.to_string()));
        }
    }
    let none = BTreeSet::new();
    let shared = Shared::new();
    let ctx = |region: &str| Ctx::new(clients.clone(), region, state.stack.clone()).with_shared(shared.clone());
    let err = |rtype: &str, region: &str| {
        let (rtype, region) = (rtype.to_owned(), region.to_owned());
        move |source| RefreshError::List { rtype, region, source }
    };

    let listings = stream::iter(scope.iter().filter_map(|(rtype, region)| {
        let provider = registry.get(rtype)?.clone();
        let (ctx, known) = (ctx(region), known.get(rtype.as_str()).unwrap_or(&none));
        hook.event(super::Event::Listing { rtype, region });
        Some(async move {
            let listed = retry_transient(&ctx, "the listing", || provider.list_owned(&ctx, known))
                .await
                .map_err(err(rtype, region))?;
            Ok::<_, RefreshError>(listed.into_iter().map(move |o| (rtype, region, o)).collect::<Vec<_>>())
        })
    }))
    .buffer_unordered(parallelism.max(1))
    .collect::<Vec<_>>()
    .await;

    // Candidates by (type, region), each (type, id) once.
    let mut seen = BTreeSet::new();
    let mut candidates: BTreeMap<(&str, &str), Vec<Unrecorded>> = BTreeMap::new();
    let mut listed: Vec<_> = listings.into_iter().collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect();
    listed.sort();
    for (rtype, region, owned) in listed {
        let claims_pending = owned.address.as_ref().is_some_and(|a| pending.contains(&(rtype.as_str(), a.clone())));
        let recorded = known.get(rtype.as_str()).is_some_and(|ids| ids.contains(&owned.id));
        if claims_pending || recorded || !seen.insert((rtype, owned.id.clone())) {
            continue;
        }
        candidates.entry((rtype, region)).or_default().push(Unrecorded {
            rtype: rtype.clone(),
            region: region.clone(),
            id: owned.id,
            address_tag: owned.address,
        });
    }

    let reads = stream::iter(candidates.into_iter().filter_map(|((rtype, region), objects)| {
        let provider = registry.get(rtype)?.clone();
        let ctx = ctx(region);
        Some(async move {
            let ids: Vec<String> = objects.iter().map(|o| o.id.clone()).collect();
            let nothing = ReadScope::Only(BTreeSet::new());
            let found = retry_transient(&ctx, "the read", || provider.read_many(&ctx, &ids, &nothing))
                .await
                .map_err(|source| RefreshError::Read { rtype: rtype.to_owned(), region: region.to_owned(), source })?;
            Ok::<_, RefreshError>(objects.into_iter().filter(|o| found.contains_key(&o.id)).collect::<Vec<_>>())
        })
    }))
    .buffer_unordered(parallelism.max(1))
    .collect::<Vec<_>>()
    .await;
    let mut out: Vec<Unrecorded> = reads.into_iter().collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect();
    out.sort();
    Ok(out)
}
