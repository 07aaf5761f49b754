//! Apply: turn a plan into a graph of delete and create/update operations and
//! walk it, persisting state after every change.
//!
//! Crash safety: before a create is sent, its address is committed to state as
//! `create_pending`; after AWS answers, the id and attributes are committed. A
//! run that dies in between leaves the pending entry, and the next refresh
//! finds the object by its ownership tags and adopts it.
//!
//! A state write that fails after its change was made in AWS is reported
//! ([`ApplyReport::unrecorded`]), and no operation starts after a failed
//! write: nothing more is changed that could not be recorded. Before the
//! first call, apply proves the serial has room for every write the plan
//! can take ([`max_writes`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use petgraph::algo::has_path_connecting;
use petgraph::graph::DiGraph;

use super::refresh::find_pending;
use super::walk::{Outcome, walk};
use super::{Event, Hook};
use crate::addr::ResourceAddr;
use crate::failpoint;
use crate::plan::desired::{Instruction, instruction};
use crate::plan::{Action, Plan, ResourceChange, state_mismatches, unallowed_destroys};
use crate::provider::waiter::{Backoff, Poll, retry_transient, wait_for};
use crate::provider::{Clients, Ctx, Progress, ProviderError, ReadScope, Registry, ThisRun};
use crate::state::{Deposed, LiveState, ResourceState, StateError, Status};
use crate::value::{Attrs, Value};

/// Everything an apply needs.
pub struct Applier {
    /// The stack's name: its objects' ownership tag.
    pub stack: String,
    pub registry: Registry,
    /// The run's API clients, handed to every provider call.
    pub clients: Arc<dyn Clients>,
    pub live: Arc<LiveState>,
    pub hook: Arc<dyn Hook>,
    pub parallelism: usize,
    pub cancel: Arc<AtomicBool>,
    /// Data-bearing objects this run may delete or replace (`--allow-destroy`).
    pub allow_destroy: Vec<ResourceAddr>,
}

/// Why an apply did not start or could not record its results.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The plan deletes or replaces data-bearing objects this run was not
    /// allowed to; refused before any call, whatever the plan file says.
    #[error("refusing to delete or replace data-bearing resources: {}", list(.0))]
    Guarded(Vec<ResourceAddr>),
    /// The plan does not fit the state this run holds locked (ids, types,
    /// regions or old objects): refused before any call.
    #[error("the plan does not fit the state, so nothing was applied:\n  {}", .0.join("\n  "))]
    NotInState(Vec<String>),
    #[error(transparent)]
    State(#[from] StateError),
}

fn list(addrs: &[ResourceAddr]) -> String {
    addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// The result for one operation.
#[derive(Debug, Clone)]
pub struct OpResult {
    pub addr: ResourceAddr,
    pub action: Action,
    pub deleting: bool,
    pub outcome: Outcome,
}

/// A change made in AWS whose result could not be written to state. The
/// next run finds it: a created object by its ownership tags (its entry is
/// pending), a deleted or updated one by the id state records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrecorded {
    pub addr: ResourceAddr,
    /// `created`, `updated`, `deleted` or `old object deleted`.
    pub change: &'static str,
    pub id: Option<String>,
}

/// What an apply did.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    pub results: Vec<OpResult>,
    /// Changes made in AWS that are not in the stored state, in the order
    /// their writes failed.
    pub unrecorded: Vec<Unrecorded>,
}

impl ApplyReport {
    pub fn failed(&self) -> impl Iterator<Item = &OpResult> {
        self.results.iter().filter(|r| !matches!(r.outcome, Outcome::Done))
    }
    pub fn ok(&self) -> bool {
        self.failed().next().is_none()
    }
}

/// Why one operation failed: before or without a change in AWS, or after a
/// change whose result could not be recorded.
enum OpError {
    Failed(String),
    Unrecorded(Unrecorded, Box<StateError>),
}

impl From<String> for OpError {
    fn from(e: String) -> Self {
        OpError::Failed(e)
    }
}

impl From<&str> for OpError {
    fn from(e: &str) -> Self {
        OpError::Failed(e.to_owned())
    }
}

impl OpError {
    /// The change to `c`, made in AWS, whose state write failed with `e`.
    fn unrecorded(c: &ResourceChange, change: &'static str, id: Option<&str>) -> impl FnOnce(StateError) -> OpError {
        let u = Unrecorded { addr: c.address.clone(), change, id: id.map(str::to_owned) };
        move |e| OpError::Unrecorded(u, Box::new(e))
    }
}

/// The most state writes [`Applier::apply`] can make for `plan` (groups
/// share writes, so fewer are made): the entries to forget and the outputs,
/// and per change a delete, an adoption, a pending create and its result,
/// and one per old object.
fn max_writes(plan: &Plan) -> u64 {
    let per_change = |c: &ResourceChange| u64::try_from(deposed_of(c).len()).unwrap_or(u64::MAX).saturating_add(4);
    plan.changes.iter().map(per_change).fold(2, u64::saturating_add)
}

/// How long a create whose reply was lost may take to show up by its tags.
const LOST_CREATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Delete(usize),
    Write(usize),
    /// Deletes the old objects of a change: the one its create-before-destroy
    /// replacement deposes and those an interrupted run left.
    DeleteDeposed(usize),
}

impl Op {
    /// The index of the change, and whether the operation deletes.
    fn change(self) -> (usize, bool) {
        match self {
            Op::Delete(i) | Op::DeleteDeposed(i) => (i, true),
            Op::Write(i) => (i, false),
        }
    }
}

/// The ids of the old objects a change's [`Op::DeleteDeposed`] deletes.
fn deposed_of(c: &ResourceChange) -> Vec<String> {
    let mut ids = c.deposed.clone();
    if c.create_before_destroy
        && let Some(id) = &c.id
    {
        ids.push(id.clone());
    }
    ids
}

/// Builds the operation graph: creates/updates after their dependencies'
/// creates/updates; deletes after the deletes of what depended on them (and
/// after updates that stop referencing them); a replacement's create after its
/// delete, unless it is created first (`create_before_destroy`): then the old
/// object is deleted after the create and after the writes of its dependents
/// (they move to the new object), and before what it depended on is deleted.
fn operations(plan: &Plan, state_deps: &BTreeMap<ResourceAddr, Vec<ResourceAddr>>) -> (Vec<Op>, Vec<Vec<usize>>) {
    let mut ops = Vec::new();
    let mut delete_of = BTreeMap::new();
    let mut write_of = BTreeMap::new();
    let mut deposed_delete_of = BTreeMap::new();
    for (i, c) in plan.changes.iter().enumerate() {
        if c.action.deletes() && !c.create_before_destroy {
            delete_of.insert(&c.address, ops.len());
            ops.push(Op::Delete(i));
        }
        if matches!(c.action, Action::Create | Action::Update | Action::Replace) || c.adopted {
            write_of.insert(&c.address, ops.len());
            ops.push(Op::Write(i));
        }
        if !deposed_of(c).is_empty() {
            deposed_delete_of.insert(&c.address, ops.len());
            ops.push(Op::DeleteDeposed(i));
        }
    }
    // Who references each address in the config: their writes move off the old object.
    let mut dependents: BTreeMap<&ResourceAddr, Vec<usize>> = BTreeMap::new();
    for (n, op) in ops.iter().enumerate() {
        if let Op::Write(i) = *op {
            for d in &plan.changes[i].dependencies {
                dependents.entry(d).or_default().push(n);
            }
        }
    }
    let mut g: DiGraph<usize, ()> = DiGraph::new();
    let nodes: Vec<_> = (0..ops.len()).map(|i| g.add_node(i)).collect();
    // Deleting an object (current or old) comes before deleting what it depended on.
    let precede_deletes_of_dependencies = |g: &mut DiGraph<usize, ()>, n: usize, c: &ResourceChange| {
        for d in state_deps.get(&c.address).into_iter().flatten() {
            for del in [delete_of.get(d), deposed_delete_of.get(d)].into_iter().flatten() {
                g.add_edge(nodes[n], nodes[*del], ());
            }
        }
    };
    let mut optional = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        match *op {
            Op::Write(i) => {
                let c = &plan.changes[i];
                for d in &c.dependencies {
                    if let Some(&w) = write_of.get(d) {
                        g.add_edge(nodes[w], nodes[n], ());
                    }
                }
                if let Some(&del) = delete_of.get(&c.address) {
                    g.add_edge(nodes[del], nodes[n], ());
                }
                // An updated object must let go of a deleted one before it goes.
                for d in state_deps.get(&c.address).into_iter().flatten() {
                    if let Some(&del) = delete_of.get(d)
                        && !write_of.contains_key(d)
                    {
                        optional.push((n, del));
                    }
                }
            }
            Op::Delete(i) => {
                let c = &plan.changes[i];
                precede_deletes_of_dependencies(&mut g, n, c);
                if let Some(&old) = deposed_delete_of.get(&c.address) {
                    g.add_edge(nodes[old], nodes[n], ());
                }
            }
            Op::DeleteDeposed(i) => {
                let c = &plan.changes[i];
                if let Some(&w) = write_of.get(&c.address) {
                    g.add_edge(nodes[w], nodes[n], ());
                }
                for &w in dependents.get(&c.address).into_iter().flatten() {
                    g.add_edge(nodes[w], nodes[n], ());
                }
                precede_deletes_of_dependencies(&mut g, n, c);
            }
        }
    }
    for (from, to) in optional {
        if !has_path_connecting(&g, nodes[to], nodes[from], None) {
            g.add_edge(nodes[from], nodes[to], ());
        }
    }
    let deps = (0..ops.len())
        .map(|n| g.neighbors_directed(nodes[n], petgraph::Direction::Incoming).map(|m| g[m]).collect())
        .collect();
    (ops, deps)
}

impl Applier {
    /// Applies `plan`. State is committed after every operation; the report
    /// says what failed or was skipped, and what was changed in AWS but could
    /// not be recorded. The data-loss guard and the room left in the serial
    /// are checked here, where changes are made, before the first call.
    pub async fn apply(&self, plan: &Plan) -> Result<ApplyReport, ApplyError> {
        let mismatches = self.live.with(|state| state_mismatches(plan, state));
        if !mismatches.is_empty() {
            return Err(ApplyError::NotInState(mismatches));
        }
        let refused = self.live.with(|state| unallowed_destroys(plan, state, &self.registry, &self.allow_destroy));
        if !refused.is_empty() {
            return Err(ApplyError::Guarded(refused));
        }
        self.live.check_room(max_writes(plan))?;
        if !plan.forget.is_empty() {
            self.live
                .commit(|s| {
                    for a in &plan.forget {
                        // Old objects stay tracked until deleted; nothing else is recorded.
                        match s.resources.get_mut(a) {
                            Some(r) if !r.deposed.is_empty() => {
                                r.status = Status::CreatePending;
                                r.id = None;
                                r.attributes.clear();
                            }
                            _ => drop(s.resources.remove(a)),
                        }
                    }
                })
                .await?;
        }
        let state_deps: BTreeMap<ResourceAddr, Vec<ResourceAddr>> =
            self.live.with(|s| s.resources.iter().map(|(a, r)| (a.clone(), r.dependencies.clone())).collect());
        let (ops, deps) = operations(plan, &state_deps);
        let shared = Arc::new(plan.clone());
        let this = Arc::new(self.clone_parts());
        let ops_for_walk = ops.clone();
        let unrecorded = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = unrecorded.clone();
        // What this apply creates and updates, for the providers of what depends on it.
        let this_run = ThisRun::default();
        let addresses: Arc<[ResourceAddr]> = plan.desired_addresses().into();
        let outcomes = walk(&deps, self.parallelism, self.cancel.clone(), move |n| {
            let (this, plan, op, sink) = (this.clone(), shared.clone(), ops_for_walk[n], sink.clone());
            let (this_run, addresses) = (this_run.clone(), addresses.clone());
            async move { this.run(&plan, &addresses, op, &sink, &this_run).await }
        })
        .await;

        let unrecorded = std::mem::take(&mut *unrecorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let mut report = ApplyReport { results: Vec::new(), unrecorded };
        for (n, outcome) in outcomes.into_iter().enumerate() {
            let (i, deleting) = ops[n].change();
            let c = &plan.changes[i];
            if let Outcome::Skipped(by) = &outcome {
                let by = &plan.changes[ops[*by].change().0].address;
                self.hook.event(Event::Skipped { addr: &c.address, because: by });
            }
            report.results.push(OpResult { addr: c.address.clone(), action: c.action, deleting, outcome });
        }
        if report.ok() {
            let outputs = self.outputs(plan);
            self.live.commit(|s| s.outputs = outputs).await?;
        }
        Ok(report)
    }

    fn clone_parts(&self) -> Applier {
        Applier {
            stack: self.stack.clone(),
            registry: self.registry.clone(),
            clients: self.clients.clone(),
            live: self.live.clone(),
            hook: self.hook.clone(),
            parallelism: self.parallelism,
            cancel: self.cancel.clone(),
            allow_destroy: self.allow_destroy.clone(),
        }
    }

    /// A provider context for `operation` ("create", "update" or "delete") on
    /// `c`: waiters report progress and honour the resource's own `timeouts`.
    fn ctx(&self, c: &ResourceChange, operation: &str) -> Ctx {
        let (hook, addr) = (self.hook.clone(), c.address.clone());
        let timeout = c.timeouts.get(operation).copied();
        Ctx::new(self.clients.clone(), c.region.clone(), self.stack.clone())
            .with_progress(Progress::new(move |what, elapsed| {
                hook.event(Event::Waiting { addr: &addr, what, elapsed })
            }))
            .with_timeout(timeout)
    }

    /// Attribute `name` of a ready object in the live state (`None`: no such
    /// object yet).
    fn state_value(&self, addr: &ResourceAddr, name: &str) -> Option<Option<Value>> {
        self.live.with(|s| {
            s.resources.get(addr).filter(|r| r.status == Status::Ready).map(|r| r.attributes.get(name).cloned())
        })
    }

    /// Current attributes of a ready object in the live state.
    fn state_attrs(&self, addr: &ResourceAddr) -> Option<Attrs> {
        self.live.with(|s| s.resources.get(addr).filter(|r| r.status == Status::Ready).map(|r| r.attributes.clone()))
    }

    /// What apply sends for `c` ([`instruction`]): the plan's values, and
    /// the deferred ones evaluated now that every dependency is applied from
    /// the state; a value that is still unknown, breaks the schema's rules or
    /// contradicts the plan fails the object before any call.
    fn instruction(&self, plan: &Plan, c: &ResourceChange, addresses: &[ResourceAddr]) -> Result<Instruction, String> {
        let provider = self.registry.get(&c.rtype).ok_or("unknown resource type")?;
        let values = |a: &ResourceAddr, name: &str| self.state_value(a, name);
        instruction(plan, c, provider.as_ref(), &self.registry, addresses, &values).map_err(|e| e.to_string())
    }

    /// Attributes to store: what AWS returned, plus config-only values, minus write-only ones.
    fn to_store(&self, c: &ResourceChange, mut returned: Attrs, desired: &Attrs) -> Attrs {
        if let Some(p) = self.registry.get(&c.rtype) {
            for a in p.schema().attrs {
                if a.config_only
                    && let Some(v) = desired.get(a.name)
                {
                    returned.insert(a.name.to_owned(), v.clone());
                }
                if a.write_only {
                    returned.remove(a.name);
                }
            }
        }
        returned
    }

    /// Runs one operation and reports it; a change made in AWS whose result
    /// could not be recorded goes to `unrecorded`. Once any state write
    /// failed, nothing more starts: its result could not be recorded either.
    /// Creates and updates record what they made in `this_run`.
    async fn run(
        &self,
        plan: &Plan,
        addresses: &[ResourceAddr],
        op: Op,
        unrecorded: &std::sync::Mutex<Vec<Unrecorded>>,
        this_run: &ThisRun,
    ) -> Result<(), String> {
        let (i, deleting) = op.change();
        let c = &plan.changes[i];
        if self.live.write_failed() {
            return Err(
                "not started: an earlier state write failed, and nothing is changed in AWS that state cannot record"
                    .to_owned(),
            );
        }
        let started = Instant::now();
        self.hook.event(Event::Started { addr: &c.address, action: c.action, deleting });
        let result = match op {
            Op::Delete(_) => self.delete(c).await,
            Op::Write(_) => self.write(plan, c, addresses, this_run).await,
            Op::DeleteDeposed(_) => self.delete_deposed(c).await,
        };
        let result = result.map_err(|e| match e {
            OpError::Failed(e) => e,
            OpError::Unrecorded(u, e) => {
                let id = u.id.as_deref().map(|id| format!(" ({id})")).unwrap_or_default();
                let message = format!("{} in AWS{id}, but not recorded in state: {e}", u.change);
                unrecorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(u);
                message
            }
        });
        match &result {
            Ok(id) => self.hook.event(Event::Finished {
                addr: &c.address,
                action: c.action,
                deleting,
                id: id.as_deref(),
                elapsed: started.elapsed(),
            }),
            Err(e) => self.hook.event(Event::Failed { addr: &c.address, action: c.action, error: e }),
        }
        result.map(|_| ())
    }

    async fn delete(&self, c: &ResourceChange) -> Result<Option<String>, OpError> {
        let provider = self.registry.get(&c.rtype).ok_or("unknown resource type")?;
        let id = c.id.clone().ok_or("no id recorded")?;
        let (ctx, before) = (self.ctx(c, "delete"), c.before.clone().unwrap_or_default());
        retry_transient(&ctx, "the delete", || provider.delete(&ctx, &id, &before)).await.map_err(|e| e.to_string())?;
        self.live
            .commit(|s| {
                s.resources.remove(&c.address);
            })
            .await
            .map_err(OpError::unrecorded(c, "deleted", Some(&id)))?;
        Ok(Some(id))
    }

    /// Deletes the change's old objects one by one, each dropped from
    /// `deposed` once gone; an entry left with nothing recorded goes too.
    async fn delete_deposed(&self, c: &ResourceChange) -> Result<Option<String>, OpError> {
        let provider = self.registry.get(&c.rtype).ok_or("unknown resource type")?;
        let ctx = self.ctx(c, "delete");
        for id in deposed_of(c) {
            let prior = self
                .live
                .with(|s| {
                    let r = s.resources.get(&c.address)?;
                    r.deposed.iter().find(|d| d.id == id).map(|d| d.attributes.clone())
                })
                .ok_or_else(|| format!("old object {id} is not recorded in state"))?;
            match retry_transient(&ctx, "the delete", || provider.delete(&ctx, &id, &prior)).await {
                Ok(()) | Err(ProviderError::NotFound(_)) => {}
                Err(e) => return Err(format!("deleting old object {id}: {e}").into()),
            }
            self.live
                .commit(|s| {
                    if let Some(r) = s.resources.get_mut(&c.address) {
                        r.deposed.retain(|d| d.id != id);
                        if r.deposed.is_empty() && r.status == Status::CreatePending {
                            s.resources.remove(&c.address);
                        }
                    }
                })
                .await
                .map_err(OpError::unrecorded(c, "old object deleted", Some(&id)))?;
        }
        Ok(c.id.clone().filter(|_| c.create_before_destroy))
    }

    /// Creates or updates `c`'s object; what it made is recorded in
    /// `this_run` (its `id` and `arn`) before its dependents can start.
    async fn write(
        &self,
        plan: &Plan,
        c: &ResourceChange,
        addresses: &[ResourceAddr],
        this_run: &ThisRun,
    ) -> Result<Option<String>, OpError> {
        let provider = self.registry.get(&c.rtype).ok_or("unknown resource type")?;
        let operation = if c.action == Action::Update { "update" } else { "create" };
        let ctx = self.ctx(c, operation).with_this_run(this_run.clone());
        let entry = |status, id: Option<String>, attributes| ResourceState {
            address: c.address.clone(),
            rtype: c.rtype.clone(),
            region: c.region.clone(),
            status,
            id,
            attributes,
            dependencies: c.dependencies.clone(),
            deposed: Vec::new(),
        };
        // Every entry written keeps the old objects recorded for the address.
        let put = |s: &mut crate::state::StateFile, mut e: ResourceState| {
            if let Some(old) = s.resources.remove(&c.address) {
                e.deposed = old.deposed;
            }
            s.resources.insert(c.address.clone(), e);
        };
        if c.adopted {
            let before = c.before.clone().unwrap_or_default();
            let adopted = entry(Status::Ready, c.id.clone(), before);
            self.live.commit(|s| put(s, adopted)).await.map_err(|e| e.to_string())?;
            if c.action == Action::NoOp {
                return Ok(c.id.clone());
            }
        }
        match (c.action, self.instruction(plan, c, addresses)?) {
            (Action::Create | Action::Replace, Instruction::Create(desired)) => {
                let pending = entry(Status::CreatePending, None, Attrs::new());
                // Created first: the old object moves to `deposed` in the same commit.
                let old = match (c.create_before_destroy, &c.id) {
                    (true, Some(id)) => Some(Deposed { id: id.clone(), attributes: self.old_attrs(c) }),
                    _ => None,
                };
                self.live
                    .commit(|s| {
                        put(s, pending);
                        if let (Some(old), Some(r)) = (old, s.resources.get_mut(&c.address)) {
                            r.deposed.push(old);
                        }
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                let created = match provider.create(&ctx, &desired).await {
                    Ok(attrs) => attrs,
                    Err(ProviderError::Transport { message, .. }) => {
                        self.recover_lost_create(c, &ctx, &desired, &message).await?
                    }
                    Err(e) => return Err(e.to_string().into()),
                };
                failpoint::hit("after-create", &c.address);
                for made in ["id", "arn"].iter().filter_map(|name| created.get(*name).and_then(Value::as_str)) {
                    ctx.record_created(made);
                }
                let id = created.get("id").and_then(Value::as_str).map(str::to_owned);
                let stored = entry(Status::Ready, id.clone(), self.to_store(c, created, &desired));
                self.live.commit(|s| put(s, stored)).await.map_err(OpError::unrecorded(c, "created", id.as_deref()))?;
                Ok(id)
            }
            (Action::Update, Instruction::Update(update)) => {
                let id = c.id.clone().ok_or("no id recorded")?;
                // The provider changes what the plan listed, from what AWS had when planned.
                let updated = retry_transient(&ctx, "the update", || provider.update(&ctx, &id, &update))
                    .await
                    .map_err(|e| e.to_string())?;
                ctx.record_updated(&id);
                if let Some(arn) = updated.get("arn").and_then(Value::as_str) {
                    ctx.record_updated(arn);
                }
                let stored = entry(Status::Ready, Some(id.clone()), self.to_store(c, updated, &update.after));
                self.live.commit(|s| put(s, stored)).await.map_err(OpError::unrecorded(c, "updated", Some(&id)))?;
                Ok(Some(id))
            }
            _ => Ok(c.id.clone()),
        }
    }

    /// The old object's attributes as state records them (config-only ones
    /// included), else as the plan saw it.
    fn old_attrs(&self, c: &ResourceChange) -> Attrs {
        self.state_attrs(&c.address).or_else(|| c.before.clone()).unwrap_or_default()
    }

    /// A create whose reply never arrived may have happened: look the object
    /// up by its ownership tags (tags can take a moment to become visible),
    /// adopt it, and finish what the create would have done after its first
    /// call: the update from what was found to `desired`, as a plan computes
    /// it, and nothing more. Not found: fail, and
    /// leave the pending entry so the next run looks again before creating.
    async fn recover_lost_create(
        &self,
        c: &ResourceChange,
        ctx: &Ctx,
        desired: &Attrs,
        message: &str,
    ) -> Result<Attrs, String> {
        let provider = self.registry.get(&c.rtype).ok_or("unknown resource type")?;
        // Our own window, not the resource's create timeout.
        let ctx = &ctx.clone().with_timeout(None);
        let deposed: Vec<String> = self.live.with(|s| {
            s.resources.get(&c.address).map(|r| r.deposed.iter().map(|d| d.id.clone()).collect()).unwrap_or_default()
        });
        let found = wait_for(
            ctx,
            "a create whose reply was lost to show up",
            LOST_CREATE_WINDOW,
            Backoff::default(),
            || async {
                let lookup = || find_pending(provider.as_ref(), ctx, &c.address, &deposed);
                Ok(match retry_transient(ctx, "the lookup", lookup).await? {
                    Some(id) => Poll::Ready(id),
                    None => Poll::Pending("not found yet".to_owned()),
                })
            },
        )
        .await;
        let lost = |why: String| {
            format!(
                "the create's reply was lost ({message}) and {why}; run apply again: the next run looks for it first"
            )
        };
        let id = found.map_err(|e| lost(format!("no object with its tags appeared ({e})")))?;
        let mut read =
            retry_transient(ctx, "the read", || provider.read_many(ctx, std::slice::from_ref(&id), &ReadScope::All))
                .await
                .map_err(|e| lost(e.to_string()))?;
        let existing = read.remove(&id).ok_or_else(|| lost(format!("{id} vanished")))?;
        let update = provider.planned_update(&existing, desired, &[]);
        retry_transient(ctx, "the update", || provider.update(ctx, &id, &update))
            .await
            .map_err(|e| lost(format!("finishing it failed: {e}")))
    }

    /// Output values from the applied state (sensitive ones are not stored).
    fn outputs(&self, plan: &Plan) -> BTreeMap<String, Value> {
        if plan.destroy {
            return BTreeMap::new();
        }
        plan.applied_outputs(&self.registry, &|a: &ResourceAddr, name: &str| self.state_value(a, name))
    }
}
