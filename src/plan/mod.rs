//! Plans: data describing what apply will do, built by a pure function from
//! the stack and the refreshed state.
//!
//! Invariant: a plan is applied exactly as built. It records the state's
//! lineage and serial and the config digest it was made from; apply refuses
//! it when either moved on.

pub mod desired;
pub mod diff;
pub mod moves;
pub mod report;
pub mod saved;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::addr::ResourceAddr;
use crate::config::{EvalError, Expr, Ref, Stack};
use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::graph::{self, ResourceGraph};
use crate::provider::{Intent, Refusal, Registry, StateHome};
use crate::schema::{Mode, Schema};
use crate::state::{ResourceState, StateFile, Status};
use crate::value::{Attrs, Value};
pub use diff::AttrChange;

/// Version of the saved-plan and `--json` format.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// What apply does to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    /// Delete, then create again.
    Replace,
    Delete,
}

impl Action {
    pub fn deletes(self) -> bool {
        matches!(self, Action::Delete | Action::Replace)
    }
    pub fn creates(self) -> bool {
        matches!(self, Action::Create | Action::Replace)
    }
}

/// The planned change of one resource instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub address: ResourceAddr,
    #[serde(rename = "type")]
    pub rtype: String,
    pub region: String,
    pub action: Action,
    /// The AWS id of the existing object, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The object as it exists now (refreshed, with its config-only values
    /// from state), `None` when it does not.
    pub before: Option<Attrs>,
    /// The object after apply; may hold `Unknown`.
    pub after: Option<Attrs>,
    /// The attributes that change.
    pub changes: Vec<AttrChange>,
    /// Deleting or replacing it destroys data (the provider's `holds_data`
    /// on `before`): needs `--allow-destroy`.
    pub guarded: bool,
    /// Found by its ownership tags after an interrupted create; apply records it.
    #[serde(default)]
    pub adopted: bool,
    /// Addresses this change must wait for (create/update) or that wait for it (delete).
    pub dependencies: Vec<ResourceAddr>,
    /// What the provider wants the reader to know (e.g. a reboot is pending).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// A replacement that creates the new object before deleting the old one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_before_destroy: bool,
    /// Ids of old objects left by an interrupted create-before-destroy
    /// replacement: apply deletes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deposed: Vec<String>,
    /// The resource's own `timeouts`, by operation.
    #[serde(skip)]
    pub timeouts: BTreeMap<String, std::time::Duration>,
}

/// An attribute changed outside pgstack since the last apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub address: ResourceAddr,
    /// `None`: the object was deleted outside pgstack.
    pub changes: Option<Vec<AttrChange>>,
}

/// A complete plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub stack: String,
    /// Digest of the config the plan was made from.
    pub config_digest: String,
    /// Lineage and serial of the state the plan was made against (`None`: no
    /// state yet); the serial is at most [`crate::state::MAX_SERIAL`], as in
    /// every state, and a saved plan recording a larger one is refused.
    pub state_lineage: Option<String>,
    #[serde(deserialize_with = "crate::state::serial::deserialize")]
    pub state_serial: u64,
    /// Every resource in config or state, including no-ops.
    pub changes: Vec<ResourceChange>,
    /// State entries to drop: gone outside pgstack, or interrupted creates that never happened.
    pub forget: Vec<ResourceAddr>,
    pub drift: Vec<Drift>,
    /// Output values after apply (`Unknown` until then); sensitive ones are absent.
    pub outputs: BTreeMap<String, Value>,
    /// The stack the plan was built from, shared: apply evaluates from it
    /// what the plan could not know (a change's deferred attributes,
    /// [`Plan::deferred`]; the outputs). Not part of the plan's JSON; a saved
    /// plan carries it beside the plan ([`saved::SavedPlanBody::config`]),
    /// without sensitive values.
    #[serde(skip)]
    pub source: Source,
    /// Whether this is a destroy plan.
    pub destroy: bool,
    /// State entries the stack's `[[moved]]` blocks give new addresses
    /// (made before anything else; their AWS objects are kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<moves::Move>,
    /// Objects the stack's `[[import]]` blocks bring into the state (written
    /// before anything else; nothing is created for them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imported: Vec<moves::Import>,
}

/// The stack a plan was built from ([`Plan::source`]). Two plans are equal
/// whatever their sources: a plan is its changes.
#[derive(Clone, Default)]
pub struct Source(pub Option<std::sync::Arc<Stack>>);

impl PartialEq for Source {
    fn eq(&self, _: &Source) -> bool {
        true
    }
}

/// Written as the stack itself (a saved plan's snapshot), `null` for none.
impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.as_deref().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Source(Option::<Stack>::deserialize(d)?.map(std::sync::Arc::new)))
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Source(stack)" } else { "Source(none)" })
    }
}

/// Counts for the summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

impl Plan {
    /// The addresses of the objects the plan wants to exist, sorted: what a
    /// deferred expression's references may name.
    pub fn desired_addresses(&self) -> Vec<ResourceAddr> {
        let mut addresses: Vec<ResourceAddr> =
            self.changes.iter().filter(|c| c.after.is_some()).map(|c| c.address.clone()).collect();
        addresses.sort_unstable();
        addresses
    }

    /// The non-sensitive outputs, evaluated from `values` (the applied
    /// state); those that fail or are still unknown are left out.
    pub fn applied_outputs(&self, registry: &Registry, values: AttrLookup<'_>) -> BTreeMap<String, Value> {
        let Some(stack) = self.source.0.as_ref().filter(|_| !self.destroy) else { return BTreeMap::new() };
        let addresses = self.desired_addresses();
        shown_outputs(stack, &addresses, registry, values)
            .filter_map(|(name, v)| v.ok().filter(|v| !v.contains_unknown()).map(|v| (name.clone(), v)))
            .collect()
    }

    /// What apply evaluates for change `c` when it gets to it: the
    /// attributes the config sets whose planned value holds `Unknown` (known
    /// only once what they reference exists) and the write-only ones (never
    /// shown), with their expressions from [`Plan::source`]. `None` when the
    /// plan has no source (a plan read from a file).
    pub fn deferred(&self, c: &ResourceChange, schema: &Schema) -> Option<Vec<(&str, &Expr)>> {
        let stack = self.source.0.as_ref()?;
        let rc = stack.resources.get(&c.address)?;
        let after = c.after.as_ref()?;
        let deferred = rc.attrs.iter().filter(|(name, _)| {
            schema.attr(name).is_some_and(|a| a.write_only)
                || after.get(*name).is_some_and(|v| {
                    v.contains_unknown() && schema.attr(name).is_some_and(|a| a.mode != Mode::Computed)
                })
        });
        Some(deferred.map(|(name, expr)| (name.as_str(), expr)).collect())
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::Create => s.add += 1,
                Action::Update => s.change += 1,
                Action::Replace => {
                    s.add += 1;
                    s.destroy += 1;
                }
                Action::Delete => s.destroy += 1,
                Action::NoOp => {}
            }
            s.destroy += c.deposed.len();
        }
        s
    }

    /// True when apply would call AWS (forgetting entries alone changes only state).
    pub fn has_changes(&self) -> bool {
        !self.moved.is_empty()
            || !self.imported.is_empty()
            || self.changes.iter().any(|c| c.action != Action::NoOp || c.adopted || !c.deposed.is_empty())
    }

    /// Why this saved plan may no longer be applied, if it may not: the config
    /// or the state moved on since it was made. `stored` is the state as
    /// stored now (`None`: there is none); a plan made without a state
    /// (`state_lineage: None`) only applies while there still is none.
    pub fn staleness(&self, config_digest: &str, stored: Option<&StateFile>) -> Option<&'static str> {
        if self.config_digest != config_digest {
            return Some("the stack configuration");
        }
        let same = match (&self.state_lineage, stored) {
            (None, None) => true,
            (Some(lineage), Some(state)) => *lineage == state.lineage && state.serial == self.state_serial,
            _ => false,
        };
        (!same).then_some("the state")
    }
}

/// Deletions and replacements of data-bearing objects that `allow` does not
/// name. Whether an object is data-bearing is asked of the registry's
/// provider ([`crate::provider::ResourceType::holds_data`]) for its type as
/// `state` records it, with the attributes `state` records (the plan's own
/// `guarded` flag, type and attributes are not trusted, only added to), so
/// an edited plan cannot slip a deletion past the guard. Unknown types hold data.
pub fn unallowed_destroys(
    plan: &Plan,
    state: &StateFile,
    registry: &Registry,
    allow: &[ResourceAddr],
) -> Vec<ResourceAddr> {
    let empty = Attrs::new();
    let holds_data = |t: &str, attrs: &Attrs| registry.get(t).is_none_or(|p| p.holds_data(attrs));
    plan.changes
        .iter()
        .filter(|c| c.action.deletes() || !c.deposed.is_empty())
        .filter(|c| {
            let recorded = state.resources.get(&c.address);
            let attrs = recorded.map_or(&empty, |r| &r.attributes);
            c.guarded || holds_data(&c.rtype, attrs) || recorded.is_some_and(|r| holds_data(&r.rtype, attrs))
        })
        .filter(|c| !allow.iter().any(|a| a.matches(&c.address)))
        .map(|c| c.address.clone())
        .collect()
}

/// Changes that do not fit `state`, the state apply holds locked, one line
/// each: an update, replacement or delete of an object the state does not
/// record at that address (another id, type or region, or nothing), old
/// objects the state does not list, a create where the state records a
/// ready object (unless the plan forgets it). Apply refuses a plan with any
/// before its first call: ids and regions are the state's, whatever a plan
/// says.
pub fn state_mismatches(plan: &Plan, state: &StateFile) -> Vec<String> {
    let mut out = Vec::new();
    for c in &plan.changes {
        let entry = state.resources.get(&c.address);
        let addr = &c.address;
        let on_existing = matches!(c.action, Action::Update | Action::Replace | Action::Delete) && !c.adopted;
        match entry {
            Some(r) if on_existing => {
                if r.id != c.id || r.status != Status::Ready {
                    out.push(format!(
                        "{addr}: the plan names object {}, the state records {}",
                        c.id.as_deref().unwrap_or("(none)"),
                        r.id.as_deref().unwrap_or("an interrupted create")
                    ));
                } else if r.rtype != c.rtype || r.region != c.region {
                    out.push(format!(
                        "{addr}: the plan says a {} in {}, the state records a {} in {}",
                        c.rtype, c.region, r.rtype, r.region
                    ));
                }
            }
            None if on_existing || c.adopted || !c.deposed.is_empty() => {
                out.push(format!("{addr}: the state records no object at this address"));
            }
            Some(r) if c.action == Action::Create && r.status == Status::Ready && !plan.forget.contains(addr) => {
                out.push(format!(
                    "{addr}: the plan creates an object, but the state records {}",
                    r.id.as_deref().unwrap_or("one")
                ));
            }
            _ => {}
        }
        if let Some(r) = entry
            && c.deposed.iter().any(|id| !r.deposed.iter().any(|d| &d.id == id))
        {
            out.push(format!("{addr}: the plan deletes old objects the state does not list"));
        }
    }
    out
}

/// The refreshed view of existing objects that planning starts from.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub state: StateFile,
    /// Current attributes of each state entry; `None` when it no longer exists.
    pub current: BTreeMap<ResourceAddr, Option<Attrs>>,
    /// Interrupted creates found by their tags (their `current` is set).
    pub adopted: BTreeMap<ResourceAddr, String>,
    /// Whether `current` came from AWS (false with `--refresh=false`).
    pub refreshed: bool,
    /// The moves `[[moved]]` made in `state` before it was refreshed.
    pub moved: Vec<moves::Move>,
    /// The objects `[[import]]` added to `state` before it was refreshed.
    pub imported: Vec<moves::Import>,
}

impl Refreshed {
    /// Uses the recorded state as the current view, without asking AWS.
    pub fn from_state(state: StateFile) -> Self {
        let current = state
            .resources
            .iter()
            .map(|(a, r)| (a.clone(), (r.status == Status::Ready).then(|| r.attributes.clone())))
            .collect();
        Refreshed {
            state,
            current,
            adopted: BTreeMap::new(),
            refreshed: false,
            moved: Vec::new(),
            imported: Vec::new(),
        }
    }

    /// The state with what refresh read recorded: attributes of existing
    /// objects replaced by the ones read (config-only attributes, which AWS
    /// does not hold, and attributes outside the read's scope are kept),
    /// interrupted creates that were found recorded as ready, objects deleted
    /// outside pgstack dropped (kept as nothing but their old objects while
    /// a create-before-destroy replacement left any). Interrupted creates not found stay pending: the
    /// next run looks for them again before creating. Serial and lineage are
    /// unchanged (the commit bumps the serial).
    pub fn refreshed_state(&self) -> StateFile {
        let mut state = self.state.clone();
        if !self.refreshed {
            return state;
        }
        let gone = |addr: &ResourceAddr, r: &ResourceState| {
            r.status == Status::Ready && matches!(self.current.get(addr), Some(None))
        };
        state.resources.retain(|addr, r| !gone(addr, r) || !r.deposed.is_empty());
        for (addr, r) in &mut state.resources {
            // Gone, but its old objects are still to be deleted: they stay tracked.
            if gone(addr, r) {
                r.status = Status::CreatePending;
                r.id = None;
                r.attributes.clear();
            }
        }
        for (addr, r) in &mut state.resources {
            let Some(Some(current)) = self.current.get(addr) else { continue };
            if let Some(id) = self.adopted.get(addr) {
                r.status = Status::Ready;
                r.id = Some(id.clone());
            }
            if r.status == Status::Ready {
                r.attributes.extend(current.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        state
    }

    /// The id of an existing object.
    fn id_of(&self, addr: &ResourceAddr) -> Option<String> {
        self.adopted.get(addr).cloned().or_else(|| self.state.resources.get(addr).and_then(|r| r.id.clone()))
    }
}

/// Options that shape a plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Limit to these addresses and what they depend on.
    pub targets: Vec<ResourceAddr>,
    /// Plan to delete everything in state.
    pub destroy: bool,
    /// Existing objects to replace although nothing forces it (`--replace`);
    /// a type with a [`ResourceType::renewal_attr`] renews its content in place.
    pub replace: Vec<ResourceAddr>,
    /// The plan is only reported (`drift`, `refresh`), never applied: changes
    /// the providers would refuse do not fail it.
    pub report_only: bool,
}

/// Builds the plan. Pure: all AWS reads already happened in `refreshed`.
///
/// Fails with diagnostics for a stack that cannot be evaluated, and for
/// changes the providers refuse ([`crate::provider::ResourceType::refuse`]):
/// every planned change to an existing object (no-ops included, so a config
/// AWS cannot reach is reported even when the diff suppresses it) is put to
/// its provider, and one refusal fails the whole plan, listing them all, so
/// apply never starts a change that cannot finish (unless the plan is
/// [`PlanOptions::report_only`]).
pub fn build(
    stack: &std::sync::Arc<Stack>,
    registry: &Registry,
    refreshed: &Refreshed,
    opts: &PlanOptions,
) -> Result<Plan, Diagnostics> {
    let deps = graph::dependencies(stack);
    let graph = ResourceGraph::build_with(stack, &deps)?;
    let order = petgraph::algo::toposort(&graph.graph, None).map_err(|_| Diagnostics::default())?;
    let mut diags = Diagnostics::default();
    // Where each planned object is in `changes`: references read its `after`.
    let mut planned: BTreeMap<ResourceAddr, usize> = BTreeMap::new();
    let mut changes = Vec::new();
    let mut refusals: Vec<(ResourceAddr, Option<Span>, Refusal)> = Vec::new();
    let mut destroy_first: BTreeSet<ResourceAddr> = BTreeSet::new();
    let desired_set: BTreeSet<&ResourceAddr> =
        if opts.destroy { BTreeSet::new() } else { stack.resources.keys().collect() };
    let addresses: Vec<&ResourceAddr> = stack.resources.keys().collect();
    let home = stack.backend.as_ref().map(|b| StateHome {
        bucket: b.bucket.clone(),
        key: b.key.clone(),
        region: b.region.clone(),
        kms_key_id: b.kms_key_id.clone(),
    });

    for idx in order {
        let addr = &graph.graph[idx];
        if !desired_set.contains(addr) {
            continue;
        }
        let rc = &stack.resources[addr];
        let Some(provider) = registry.get(&addr.rtype) else { continue };
        let schema = provider.schema();
        let current = current_with_config_only(refreshed, addr, schema);
        let region = match existing_region(refreshed, addr) {
            // `--region` and `[stack] region` are the default for new objects only.
            Some(recorded) if !rc.region_explicit => recorded.to_owned(),
            Some(recorded) if recorded != rc.region => {
                diags.push(
                    Diagnostic::error(format!(
                        "`{addr}` exists in {recorded}; its `region` now says {}, and an object cannot move between regions",
                        rc.region
                    ))
                    .at(rc.span.clone())
                    .hint(format!("set `region` back to `{recorded}`, or declare a new resource for {}", rc.region))
                    .hint("to let go of the old object without deleting it: `pgstack state rm STACK ADDR`"),
                );
                continue;
            }
            _ => rc.region.clone(),
        };
        let values = |a: &ResourceAddr, name: &str| planned_value(&changes, &planned, a, name);
        let resolve = |r: &Ref| resolve_ref(&addresses, registry, &values, r);
        let mut configured = Attrs::new();
        for (name, expr) in &rc.attrs {
            match expr.eval(&resolve) {
                Ok(v) => {
                    configured.insert(name.clone(), v);
                }
                Err(e) => diags.push(eval_diag(e, rc.attr_spans.get(name).cloned())),
            }
        }
        let desire = |replacing_first: bool| {
            desired::desired_object(
                provider.as_ref(),
                &stack.name,
                addr,
                configured.clone(),
                current.as_ref(),
                replacing_first,
            )
        };
        let mut desired = desire(false);
        // Values known only now (through references) meet the same rules as at validate.
        for v in schema.check_values(&desired) {
            let attr = v.path.split(['.', '[']).next().unwrap_or_default();
            let mut d = Diagnostic::error(format!("`{}` on `{addr}` {}", v.path, v.invalid.message))
                .at_opt(rc.attr_spans.get(attr).cloned().or(Some(rc.span.clone())));
            if let Some(h) = v.invalid.hint {
                d = d.hint(h);
            }
            diags.push(d);
        }
        let suppress = |name: &str, cur: &Value, want: &Value| provider.suppress_diff(name, cur, want);
        let mut attr_changes =
            diff::diff_with(schema, current.as_ref().unwrap_or(&Attrs::new()), &desired, &rc.ignore_changes, &suppress);
        let mut action = diff::decide(current.as_ref(), Some(&desired), &attr_changes);
        let mut renewed = None;
        if let Some(cur) = &current
            && action != Action::Replace
            && opts.replace.iter().any(|r| r.matches(addr))
        {
            match provider.renewal_attr() {
                Some(attr) => {
                    let before = cur.get(attr).cloned().unwrap_or(Value::Null);
                    attr_changes.push(AttrChange {
                        name: attr.to_owned(),
                        before,
                        after: Value::Unknown,
                        forces_replacement: false,
                    });
                    renewed = Some(attr);
                    action = Action::Update;
                }
                None => action = Action::Replace,
            }
        }
        if rc.create_before_destroy == Some(true) && !provider.supports_create_before_destroy() {
            // Adoption after a crash must tell the replacement from the old object;
            // only types that list every tagged object (and default to it) can.
            diags.push(
                Diagnostic::error(format!("`create_before_destroy = true` is not supported for `{}` yet", addr.rtype))
                    .at(rc.span.clone())
                    .detail("after a crash between creating the replacement and deleting the old object, the two could not be told apart")
                    .hint("remove it; it is supported (and on by default) for security_group, db_parameter_group and db_cluster_parameter_group"),
            );
        }
        let cbd = action == Action::Replace && rc.create_before_destroy.unwrap_or(provider.create_before_destroy());
        if cbd {
            // The replacement takes the default name the old object does not hold.
            let settled = desire(true);
            if desired != settled {
                desired = settled;
                attr_changes = diff::diff_with(
                    schema,
                    current.as_ref().unwrap_or(&Attrs::new()),
                    &desired,
                    &rc.ignore_changes,
                    &suppress,
                );
            }
        }
        if action == Action::Replace && !cbd {
            destroy_first.insert(addr.clone());
        }
        if cbd && let Some(dep) = deps[addr].iter().map(|(d, _)| d).find(|d| destroy_first.contains(*d)) {
            let dep_can = registry.get(&dep.rtype).is_some_and(|p| p.supports_create_before_destroy());
            let d = Diagnostic::error(format!(
                "`{addr}` is replaced create-before-destroy, but `{dep}`, which it depends on, is deleted before it is replaced"
            ))
            .at(rc.span.clone());
            // Only advice that works: `vpc` and the like cannot be created first.
            diags.push(if dep_can {
                d.hint(format!("set `create_before_destroy = true` on `{dep}`, or `create_before_destroy = false` on `{addr}`"))
            } else {
                d.hint(format!(
                    "set `create_before_destroy = false` on `{addr}`: it is then deleted before `{dep}` is replaced and created after (`{}` objects cannot be created before their old one is deleted)",
                    dep.rtype
                ))
            });
        }
        let mut after = match (&current, action) {
            (Some(cur), Action::Update | Action::NoOp) => {
                let mut a = cur.clone();
                a.extend(desired.clone());
                a
            }
            _ => desired.clone(),
        };
        if action.creates() {
            for a in schema.attrs.iter().filter(|a| a.mode == Mode::Computed) {
                after.entry(a.name.to_owned()).or_insert(Value::Unknown);
            }
        }
        if let Some(attr) = renewed {
            after.insert(attr.to_owned(), Value::Unknown);
        }
        for a in schema.attrs.iter().filter(|a| a.write_only) {
            after.remove(a.name);
        }
        if let Some(cur) = &current {
            let managed: Attrs = desired
                .iter()
                .filter(|(k, _)| !rc.ignore_changes.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let intent = if action == Action::Replace {
                Intent::Replace { desired: &managed, create_first: cbd }
            } else {
                Intent::Keep { desired: &managed }
            };
            let for_state = home.as_ref().map(|h| provider.refuse_for_state(cur, intent, h)).unwrap_or_default();
            refusals.extend(provider.refuse(cur, intent).into_iter().chain(for_state).map(|r| {
                let span = r.attr.and_then(|a| rc.attr_spans.get(a)).unwrap_or(&rc.span).clone();
                (addr.clone(), Some(span), r)
            }));
        }
        planned.insert(addr.clone(), changes.len());
        let before = current.clone();
        changes.push(ResourceChange {
            address: addr.clone(),
            rtype: addr.rtype.clone(),
            region,
            action,
            id: before.as_ref().and_then(|_| refreshed.id_of(addr)),
            before,
            after: Some(after),
            changes: attr_changes,
            guarded: action.deletes() && current.as_ref().is_some_and(|c| provider.holds_data(c)),
            adopted: refreshed.adopted.contains_key(addr),
            dependencies: deps[addr].iter().map(|(d, _)| d.clone()).collect(),
            notes: current.as_ref().map(|c| provider.notes(c)).unwrap_or_default(),
            create_before_destroy: cbd,
            deposed: deposed_ids(refreshed, addr),
            timeouts: rc.timeouts.clone(),
        });
    }
    if diags.has_errors() {
        return Err(diags);
    }

    let mut forget = Vec::new();
    for (addr, rs) in &refreshed.state.resources {
        if desired_set.contains(addr) {
            continue;
        }
        let provider = registry.get(&rs.rtype);
        let current = match provider {
            Some(p) => current_with_config_only(refreshed, addr, p.schema()),
            None => refreshed.current.get(addr).cloned().flatten(),
        };
        let Some(current) = current else {
            forget.push(addr.clone());
            if !rs.deposed.is_empty() {
                changes.push(ResourceChange {
                    address: addr.clone(),
                    rtype: rs.rtype.clone(),
                    region: rs.region.clone(),
                    action: Action::NoOp,
                    id: None,
                    before: None,
                    after: None,
                    changes: Vec::new(),
                    guarded: false,
                    adopted: false,
                    dependencies: rs.dependencies.clone(),
                    notes: Vec::new(),
                    create_before_destroy: false,
                    deposed: deposed_ids(refreshed, addr),
                    timeouts: BTreeMap::new(),
                });
            }
            continue;
        };
        let guarded = provider.is_some_and(|p| p.holds_data(&current));
        let intent = Intent::Delete { destroy: opts.destroy };
        let refused: Vec<Refusal> = provider
            .map(|p| {
                let for_state = home.as_ref().map(|h| p.refuse_for_state(&current, intent, h)).unwrap_or_default();
                p.refuse(&current, intent).into_iter().chain(for_state).collect()
            })
            .unwrap_or_default();
        refusals.extend(refused.into_iter().map(|r| (addr.clone(), None, r)));
        changes.push(ResourceChange {
            address: addr.clone(),
            rtype: rs.rtype.clone(),
            region: rs.region.clone(),
            action: Action::Delete,
            id: refreshed.id_of(addr),
            before: Some(current),
            after: None,
            changes: Vec::new(),
            guarded,
            adopted: refreshed.adopted.contains_key(addr),
            dependencies: rs.dependencies.clone(),
            notes: Vec::new(),
            create_before_destroy: false,
            deposed: deposed_ids(refreshed, addr),
            timeouts: BTreeMap::new(),
        });
    }
    for (addr, rs) in &refreshed.state.resources {
        if desired_set.contains(addr) && refreshed.current.get(addr).is_some_and(Option::is_none) && rs.id.is_some() {
            // Deleted outside pgstack; the create in `changes` replaces the entry.
            forget.push(addr.clone());
        }
    }

    let values = |a: &ResourceAddr, name: &str| planned_value(&changes, &planned, a, name);
    let outputs = if opts.destroy {
        BTreeMap::new()
    } else {
        shown_outputs(stack, &addresses, registry, &values)
            .map(|(name, v)| (name.clone(), v.unwrap_or(Value::Unknown)))
            .collect()
    };

    if !opts.targets.is_empty() {
        let keep = target_closure(&opts.targets, &changes);
        changes.retain(|c| keep.contains(&c.address));
        forget.retain(|a| keep.contains(a));
        refusals.retain(|(a, _, _)| keep.contains(a));
    }
    if !refusals.is_empty() && !opts.report_only {
        return Err(refusal_diagnostics(refusals));
    }
    changes.sort_by(|a, b| a.address.cmp(&b.address));

    Ok(Plan {
        format_version: PLAN_FORMAT_VERSION,
        stack: stack.name.clone(),
        config_digest: stack.digest.clone(),
        state_lineage: (refreshed.state.serial > 0 || !refreshed.state.resources.is_empty())
            .then(|| refreshed.state.lineage.clone()),
        state_serial: refreshed.state.serial,
        changes,
        forget,
        drift: if refreshed.refreshed {
            drift(registry, refreshed, &managed_attrs(stack, registry))
        } else {
            Vec::new()
        },
        outputs,
        source: Source(Some(stack.clone())),
        destroy: opts.destroy,
        moved: refreshed.moved.clone(),
        imported: refreshed.imported.clone(),
    })
}

/// One error per refusal, at the refused attribute or else the resource in
/// the config when it has one (a deleted resource is named by its address only).
/// Refusals of planned changes found by reading AWS
/// ([`crate::provider::ResourceType::check_planned`]) as diagnostics, each at
/// the refused attribute of its resource (or the resource).
pub fn planned_refusal_diagnostics(stack: &Stack, refusals: Vec<(ResourceAddr, Refusal)>) -> Diagnostics {
    refusal_diagnostics(
        refusals
            .into_iter()
            .map(|(addr, r)| {
                let rc = stack.resources.get(&addr);
                let span = rc.and_then(|rc| r.attr.and_then(|a| rc.attr_spans.get(a)).or(Some(&rc.span))).cloned();
                (addr, span, r)
            })
            .collect(),
    )
}

fn refusal_diagnostics(refusals: Vec<(ResourceAddr, Option<Span>, Refusal)>) -> Diagnostics {
    let mut diags = Diagnostics::default();
    for (addr, span, r) in refusals {
        let d = Diagnostic::error(format!("`{addr}` {}", r.reason)).at_opt(span);
        let d = r.hints.into_iter().fold(d, Diagnostic::hint);
        diags.push(d.hint("the plan is refused before any change: nothing was changed"));
    }
    diags
}

/// Ids of the old objects state keeps for `addr` until they are deleted.
fn deposed_ids(refreshed: &Refreshed, addr: &ResourceAddr) -> Vec<String> {
    refreshed.state.resources.get(addr).map(|r| r.deposed.iter().map(|d| d.id.clone()).collect()).unwrap_or_default()
}

/// The region an existing object was recorded in (ready or being created).
fn existing_region<'r>(refreshed: &'r Refreshed, addr: &ResourceAddr) -> Option<&'r str> {
    refreshed.state.resources.get(addr).map(|r| r.region.as_str())
}

/// Current attributes plus the config-only ones remembered in state.
fn current_with_config_only(
    refreshed: &Refreshed,
    addr: &ResourceAddr,
    schema: &crate::schema::Schema,
) -> Option<Attrs> {
    let mut cur = refreshed.current.get(addr).cloned().flatten()?;
    if let Some(rs) = refreshed.state.resources.get(addr) {
        for a in schema.attrs.iter().filter(|a| a.config_only) {
            if let Some(v) = rs.attributes.get(a.name) {
                cur.insert(a.name.to_owned(), v.clone());
            }
        }
    }
    Some(cur)
}

/// The configured values (or schema defaults) of `addr`'s config-only
/// attributes, references resolved from `state`: what `import` records so
/// that settings AWS does not report (a deletion window, a secret's
/// generator) are not planned as changes. Values not known from state are
/// left out. Pure.
pub fn config_only_values(stack: &Stack, registry: &Registry, state: &StateFile, addr: &ResourceAddr) -> Attrs {
    let (Some(rc), Some(provider)) = (stack.resources.get(addr), registry.get(&addr.rtype)) else {
        return Attrs::new();
    };
    let values = |a: &ResourceAddr, name: &str| state.resources.get(a).map(|r| r.attributes.get(name).cloned());
    let addresses: Vec<&ResourceAddr> = stack.resources.keys().collect();
    let resolve = |r: &Ref| resolve_ref(&addresses, registry, &values, r);
    let mut out = Attrs::new();
    for a in provider.schema().attrs.iter().filter(|a| a.config_only) {
        let value = match rc.attrs.get(a.name) {
            Some(expr) => expr.eval(&resolve).ok(),
            None => a.default.map(|d| d.value()),
        };
        if let Some(v) = value.filter(|v| !v.contains_unknown()) {
            out.insert(a.name.to_owned(), v);
        }
    }
    out
}

/// One attribute of an object, for [`resolve_ref`]: `None` when the object
/// is not known (yet), `Some(None)` when it has no such attribute. One value
/// is copied per reference, never the object.
pub type AttrLookup<'a> = &'a dyn Fn(&ResourceAddr, &str) -> Option<Option<Value>>;

/// Resolves a reference from the attributes `values` gives for an address
/// (planned "after" values at plan time, state at apply time). Attributes not
/// yet known (computed ones of objects to be created) are `Unknown`.
/// `addresses` are the stack's resources, sorted: a reference names one of
/// them, or (a splat) every one it matches.
pub fn resolve_ref<A: std::borrow::Borrow<ResourceAddr>>(
    addresses: &[A],
    registry: &Registry,
    values: AttrLookup<'_>,
    r: &Ref,
) -> Result<Value, EvalError> {
    let lookup = |addr: &ResourceAddr| -> Value {
        let Some(found) = values(addr, &r.path[0]) else { return Value::Unknown };
        let v = found.unwrap_or_else(|| {
            let computed = registry
                .get(&addr.rtype)
                .and_then(|p| p.schema().attr(&r.path[0]))
                .is_some_and(|a| a.mode == Mode::Computed);
            if computed { Value::Unknown } else { Value::Null }
        });
        v.at_path(&r.path[1..])
    };
    if r.splat {
        let list = addresses.iter().map(A::borrow).filter(|a| r.target.matches(a)).map(lookup).collect();
        return Ok(Value::List(list));
    }
    if addresses.binary_search_by(|a| a.borrow().cmp(&r.target)).is_err() {
        return Err(EvalError::new(format!("`{}` is not in this stack", r.target), Some(r.span.clone())));
    }
    Ok(lookup(&r.target))
}

/// The stack's non-sensitive outputs, each evaluated from `values`: the
/// plan shows them (unknown where they cannot be known yet), apply records
/// them once known.
fn shown_outputs<'s, A: std::borrow::Borrow<ResourceAddr>>(
    stack: &'s Stack,
    addresses: &'s [A],
    registry: &'s Registry,
    values: AttrLookup<'s>,
) -> impl Iterator<Item = (&'s String, Result<Value, EvalError>)> + 's {
    stack
        .outputs
        .iter()
        .filter(|(_, o)| !o.sensitive)
        .map(move |(name, o)| (name, o.value.eval(&|r: &Ref| resolve_ref(addresses, registry, values, r))))
}

/// Attribute `name` of `addr`'s planned object (`changes[planned[addr]].after`).
fn planned_value(
    changes: &[ResourceChange],
    planned: &BTreeMap<ResourceAddr, usize>,
    addr: &ResourceAddr,
    name: &str,
) -> Option<Option<Value>> {
    let after = changes.get(*planned.get(addr)?)?.after.as_ref()?;
    Some(after.get(name).cloned())
}

fn eval_diag(e: EvalError, fallback: Option<crate::diag::Span>) -> Diagnostic {
    Diagnostic::error(e.message).at_opt(e.span.or(fallback))
}

/// A `--target` that matches no address of the stack or of its state, with
/// the closest known address when one is close enough to suggest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedTarget {
    pub target: ResourceAddr,
    pub suggestion: Option<String>,
}

/// The targets that match none of the `known` addresses (those of the
/// config and of the state): a plan limited to them would be silently empty.
/// Pure, so the caller can refuse before any AWS call. Matching is
/// [`ResourceAddr::matches`] (a block address matches its instances).
pub fn unmatched_targets<'a>(
    targets: &[ResourceAddr],
    known: impl IntoIterator<Item = &'a ResourceAddr>,
) -> Vec<UnmatchedTarget> {
    let known: BTreeSet<&ResourceAddr> = known.into_iter().collect();
    let names: BTreeSet<String> = known.iter().flat_map(|a| [a.to_string(), a.resource().to_string()]).collect();
    targets
        .iter()
        .filter(|t| !known.iter().any(|a| t.matches(a)))
        .map(|t| UnmatchedTarget {
            target: t.clone(),
            suggestion: crate::diag::did_you_mean(&t.to_string(), names.iter().map(String::as_str)).map(str::to_owned),
        })
        .collect()
}

/// The targets plus everything they depend on, transitively.
fn target_closure(targets: &[ResourceAddr], changes: &[ResourceChange]) -> BTreeSet<ResourceAddr> {
    let by_addr: BTreeMap<&ResourceAddr, &ResourceChange> = changes.iter().map(|c| (&c.address, c)).collect();
    let mut keep = BTreeSet::new();
    let mut stack: Vec<ResourceAddr> =
        changes.iter().filter(|c| targets.iter().any(|t| t.matches(&c.address))).map(|c| c.address.clone()).collect();
    while let Some(a) = stack.pop() {
        if keep.insert(a.clone())
            && let Some(c) = by_addr.get(&a)
            && !c.action.deletes()
        {
            stack.extend(c.dependencies.iter().cloned());
        }
    }
    keep
}

/// What refresh reads of each instance: the attributes the config manages
/// (those it sets, and those with schema defaults), which are compared, plus
/// the computed attributes a reference (from a resource or an output) reads,
/// for types that fetch some computed values only on request.
pub fn managed_attrs(stack: &Stack, registry: &Registry) -> BTreeMap<ResourceAddr, BTreeSet<String>> {
    let mut out: BTreeMap<ResourceAddr, BTreeSet<String>> = stack
        .resources
        .iter()
        .filter_map(|(addr, rc)| {
            let schema = registry.get(&addr.rtype)?.schema();
            let set = schema
                .attrs
                .iter()
                .filter(|a| {
                    a.mode != Mode::Computed
                        && (a.default.is_some() || a.default_name.is_some() || rc.attrs.contains_key(a.name))
                })
                .map(|a| a.name.to_owned())
                .collect();
            Some((addr.clone(), set))
        })
        .collect();
    // Each reference touches only the instances it names (linear in the stack).
    let instances = graph::instances_by_block(stack);
    let exprs =
        stack.resources.values().flat_map(|rc| rc.attrs.values()).chain(stack.outputs.values().map(|o| &o.value));
    for r in exprs.flat_map(Expr::refs) {
        let Some(attr) = r.path.first() else { continue };
        let computed =
            registry.get(&r.target.rtype).and_then(|p| p.schema().attr(attr)).is_some_and(|a| a.mode == Mode::Computed);
        if !computed {
            continue;
        }
        let candidates = instances.get(&r.target.resource()).map(Vec::as_slice).unwrap_or_default();
        for addr in candidates.iter().filter(|a| r.target.matches(a)) {
            if let Some(set) = out.get_mut(*addr) {
                set.insert(attr.clone());
            }
        }
    }
    out
}

/// Out-of-band changes: refreshed objects compared to what state recorded,
/// for the attributes the config manages.
pub fn drift(
    registry: &Registry,
    refreshed: &Refreshed,
    managed: &BTreeMap<ResourceAddr, BTreeSet<String>>,
) -> Vec<Drift> {
    let mut out = Vec::new();
    for (addr, rs) in &refreshed.state.resources {
        if rs.status != Status::Ready || refreshed.adopted.contains_key(addr) {
            continue;
        }
        let (Some(provider), Some(managed)) = (registry.get(&rs.rtype), managed.get(addr)) else { continue };
        let schema = provider.schema();
        match refreshed.current.get(addr) {
            Some(None) => out.push(Drift { address: addr.clone(), changes: None }),
            Some(Some(cur)) => {
                let recorded: Attrs = rs
                    .attributes
                    .iter()
                    .filter(|(k, _)| managed.contains(*k) && schema.attr(k).is_some_and(|a| !a.config_only))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let suppress = |name: &str, cur: &Value, want: &Value| provider.suppress_diff(name, cur, want);
                let mut changes = diff::diff_with(schema, cur, &recorded, &[], &suppress);
                for c in &mut changes {
                    // Read as "state said X, AWS now says Y".
                    std::mem::swap(&mut c.before, &mut c.after);
                }
                if !changes.is_empty() {
                    out.push(Drift { address: addr.clone(), changes: Some(changes) });
                }
            }
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<ResourceAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn unmatched_targets_are_those_naming_nothing_known() {
        let known = addrs(&["vpc.main", "subnet.db[\"a\"]", "subnet.db[\"b\"]", "module.net.kms_key.db"]);
        let targets = addrs(&[
            "vpc.main",
            "subnet.db",
            "subnet.db[\"a\"]",
            "module.net.kms_key.db",
            "vpc.mian",
            "subnet.db[\"c\"]",
            "rds.x",
        ]);
        let unmatched = unmatched_targets(&targets, &known);
        let got: Vec<(String, Option<&str>)> =
            unmatched.iter().map(|u| (u.target.to_string(), u.suggestion.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("vpc.mian".to_owned(), Some("vpc.main")),
                ("subnet.db[\"c\"]".to_owned(), Some("subnet.db[\"a\"]")),
                ("rds.x".to_owned(), None),
            ]
        );
    }

    #[test]
    fn an_instance_target_does_not_match_a_whole_block() {
        let known = addrs(&["subnet.db"]);
        assert_eq!(unmatched_targets(&addrs(&["subnet.db[\"a\"]"]), &known).len(), 1);
    }
}
