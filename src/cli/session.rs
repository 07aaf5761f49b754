//! What most commands share: loading the stack, its state backend, the AWS
//! factory, and a refreshed plan.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{self, LoadOptions, Stack};
use crate::diag::SourceMap;
use crate::engine::refresh::refresh;
use crate::plan::{self, Plan, PlanOptions, Refreshed};
use crate::provider::Registry;
use crate::provider::aws::s3_object_store::AwsObjectStore;
use crate::provider::aws::{AwsFactory, AwsOptions};
use crate::state::local::LocalBackend;
use crate::state::s3::{S3Backend, S3Location};
use crate::state::{LockGuard, LockInfo, StateBackend, StateError, StateFile};
use crate::ui::Ui;

use super::{CliError, GlobalArgs};

/// A loaded stack with everything needed to plan and apply it.
pub struct Session {
    pub ui: Ui,
    /// The stack as named on the command line (for commands in hints).
    pub stack_arg: String,
    pub stack: Arc<Stack>,
    pub sources: SourceMap,
    pub registry: Registry,
    pub backend: Arc<dyn StateBackend>,
    pub aws: Arc<AwsFactory>,
    pub load_options: LoadOptions,
}

/// `--var K=V` pairs and files, and `--backend-config K=V`, as the loader takes them.
pub fn load_options(g: &GlobalArgs) -> Result<LoadOptions, CliError> {
    Ok(LoadOptions {
        vars: key_values(&g.vars, "--var", "name")?,
        var_files: g.var_files.clone(),
        env: g.env.clone(),
        env_vars: env_vars(),
        backend_config: key_values(&g.backend_config, "--backend-config", "bucket")?,
        ..LoadOptions::default()
    })
}

/// `K=V` arguments of `flag` as pairs; `example` names a key for the hint.
fn key_values(args: &[String], flag: &str, example: &str) -> Result<Vec<(String, String)>, CliError> {
    args.iter()
        .map(|kv| {
            kv.split_once('=').map(|(k, v)| (k.trim().to_owned(), v.to_owned())).ok_or_else(|| {
                CliError::msg(format!("{flag} `{kv}` is not K=V")).hint(format!("write it as {flag} {example}=value"))
            })
        })
        .collect()
}

/// `PGSTACK_VAR_<name>` variables of this process, as (name, value).
pub fn env_vars() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?.strip_prefix(VAR_PREFIX)?.to_owned(), v.into_string().ok()?)))
        .collect()
}

/// Environment variables with this prefix set stack variables.
pub const VAR_PREFIX: &str = "PGSTACK_VAR_";

/// Loads and validates a stack, printing warnings.
pub fn load(
    g: &GlobalArgs,
    ui: Ui,
    stack_arg: &str,
    opts: &LoadOptions,
) -> Result<(Stack, SourceMap, Registry), CliError> {
    let registry = Registry::aws();
    if stack_arg.trim().is_empty() {
        return Err(CliError::msg("no stack given")
            .hint("name a stack file (`stacks/prod.toml`) or a stack in stacks/ (`prod`)"));
    }
    let path = config::resolve_stack_path(stack_arg);
    let opts = &LoadOptions { region: g.region.clone(), ..opts.clone() };
    let loaded = config::load(&path, opts, &registry).map_err(|(s, d)| CliError::Diagnostics(s, d))?;
    if !loaded.warnings.is_empty() {
        ui.err(&crate::ui::diagnostics::render(&loaded.sources, &loaded.warnings, ui.style));
    }
    Ok((loaded.stack, loaded.sources, registry))
}

impl Session {
    pub fn open(g: &GlobalArgs, ui: Ui, stack_arg: &str) -> Result<Session, CliError> {
        let load_options = load_options(g)?;
        Session::open_with(g, ui, stack_arg, load_options)
    }

    pub fn open_with(g: &GlobalArgs, ui: Ui, stack_arg: &str, load_options: LoadOptions) -> Result<Session, CliError> {
        let (stack, sources, _) = load(g, ui, stack_arg, &load_options)?;
        Session::for_stack(g, ui, stack_arg, stack, sources, load_options)
    }

    /// A session for a stack already loaded (a saved plan's snapshot: no
    /// sources, so its diagnostics carry no snippets).
    pub fn for_stack(
        g: &GlobalArgs,
        ui: Ui,
        stack_arg: &str,
        stack: Stack,
        sources: SourceMap,
        load_options: LoadOptions,
    ) -> Result<Session, CliError> {
        let registry = Registry::aws();
        let aws = Arc::new(AwsFactory::new(AwsOptions {
            profile: g.profile.clone(),
            pause_scale: AwsOptions::pause_scale_from_env(),
            ..AwsOptions::default()
        }));
        let backend: Arc<dyn StateBackend> = match &stack.backend {
            Some(b) => {
                let location = S3Location {
                    bucket: b.bucket.clone(),
                    key: b.key.clone(),
                    region: b.region.clone(),
                    kms_key_id: b.kms_key_id.clone(),
                };
                if let Some(file) = &g.state {
                    return Err(CliError::msg(format!(
                        "--state {} names a local state file, but stack `{}` keeps its state in S3 ({})",
                        file.display(),
                        stack.name,
                        location.url()
                    ))
                    .hint("leave out --state; to copy a local state file into S3, run `pgstack state push STACK FILE`")
                    .hint("nothing was changed"));
                }
                let url = location.url();
                let progress = crate::provider::Progress::new(move |what, elapsed| {
                    crate::ui::progress::waiting(ui, &url, what, elapsed);
                });
                let store = Arc::new(AwsObjectStore::new(aws.clone(), &location));
                Arc::new(S3Backend::new(store, location).with_progress(progress, aws.pace()))
            }
            None => {
                if g.state.is_none() && stack.state_path.is_none() {
                    super::rename::warn_if_renamed(ui, &stack, &state_path(g, &stack));
                }
                Arc::new(LocalBackend::new(state_path(g, &stack)))
            }
        };
        Ok(Session {
            ui,
            stack_arg: stack_arg.to_owned(),
            stack: Arc::new(stack),
            sources,
            registry,
            backend,
            aws,
            load_options,
        })
    }

    /// Prints the backend's advice (an S3 bucket without versioning); an
    /// unreachable or missing bucket is an error here, before any lock.
    pub async fn advise(&self) -> Result<(), CliError> {
        for a in self.backend.advice().await? {
            self.ui.warn(&a.message, &a.hints);
        }
        Ok(())
    }

    /// Takes the stack's lock. A lock held by another run is refused naming
    /// its holder and age; one that can outlive its run (S3) also gets the
    /// `force-unlock` command that removes it: by its lock id, or by its
    /// object's ETag when the object names no run pgstack can read.
    pub async fn lock(&self, operation: &str) -> Result<LockGuard, CliError> {
        self.advise().await?;
        match self.backend.lock(LockInfo::current(operation)).await {
            Ok(guard) => Ok(guard),
            Err(StateError::Locked(holder)) if holder.id.is_some() => {
                let command = self.force_unlock_command(holder.id.as_deref().unwrap_or_default());
                Err(CliError::msg(StateError::Locked(holder).to_string())
                    .hint("wait for that run to finish: it removes the lock when it ends")
                    .hint(format!("if that run is gone (killed, or its machine lost), remove its lock: {command}"))
                    .hint("nothing was changed"))
            }
            Err(StateError::UnreadableLock(lock)) => {
                let command = self.force_unlock_command(lock.etag_token());
                Err(CliError::msg(StateError::UnreadableLock(lock).to_string())
                    .hint(format!("if no pgstack run is using the stack, remove that object: {command}"))
                    .hint("force-unlock takes the object's ETag for it, and removes the object only while it still has that ETag")
                    .hint("nothing was changed"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `pgstack force-unlock STACK TOKEN` (with this run's `--backend-config`
    /// flags): the command that removes the lock `token` names.
    pub fn force_unlock_command(&self, token: &str) -> String {
        let flags: String = self
            .load_options
            .backend_config
            .iter()
            .map(|(k, v)| format!(" --backend-config {}", crate::ui::shell_word(&format!("{k}={v}"))))
            .collect();
        format!(
            "pgstack force-unlock {} {}{flags}",
            crate::ui::shell_word(&self.stack_arg),
            crate::ui::shell_word(token)
        )
    }

    /// Gives a lock back. A failure is a warning: the command's outcome stands.
    pub async fn unlock(&self, guard: LockGuard) {
        if let Err(e) = guard.release().await {
            let text = e.to_string();
            // A denied delete says which permission is missing.
            let hints = match e {
                e @ StateError::LockDeleteDenied { .. } => match CliError::from(e) {
                    CliError::Message(_, hints) => hints,
                    CliError::Diagnostics(..) => Vec::new(),
                },
                _ => Vec::new(),
            };
            self.ui.warn(&format!("the state lock was not released: {text}"), &hints);
        }
    }

    /// Runs `f` holding the stack's lock for `operation`; the lock is given
    /// back however `f` ends.
    pub async fn locked<T>(
        &self,
        operation: &str,
        f: impl AsyncFnOnce() -> Result<T, CliError>,
    ) -> Result<T, CliError> {
        let guard = self.lock(operation).await?;
        let result = f().await;
        self.unlock(guard).await;
        result
    }

    /// The stored state, or a fresh one. A state recorded for another stack
    /// is refused: planning against it would replace that stack's objects.
    pub async fn state(&self) -> Result<StateFile, CliError> {
        match self.backend.load().await? {
            Some(state) => {
                state.check_stack(&self.stack.name, &self.backend.describe())?;
                Ok(state)
            }
            None => Ok(StateFile::new(&self.stack.name)),
        }
    }

    /// The stored state, refreshed from AWS unless told not to. A `--target`
    /// naming nothing in the stack or state, or a `--replace` naming nothing
    /// in the stack, is refused first.
    pub async fn refreshed(
        &self,
        refresh_first: bool,
        opts: &PlanOptions,
        parallelism: usize,
    ) -> Result<Refreshed, CliError> {
        let mut state = self.state().await?;
        let moved = plan::moves::apply_moves(&self.stack.moved, &mut state).map_err(|e| {
            CliError::msg(e.to_string())
                .hint("the state holds both addresses: remove the [[moved]] block, or `pgstack state rm` one of them")
                .hint("nothing was changed")
        })?;
        let imported = self.import_blocks(&mut state).await?;
        let unmatched =
            plan::unmatched_targets(&opts.targets, self.stack.resources.keys().chain(state.resources.keys()));
        if !unmatched.is_empty() {
            return Err(super::unmatched_targets_error("--target", "the stack or its state", &unmatched));
        }
        let unmatched = plan::unmatched_targets(&opts.replace, self.stack.resources.keys());
        if !unmatched.is_empty() {
            return Err(super::unmatched_targets_error("--replace", "the stack", &unmatched));
        }
        let mut refreshed = if refresh_first {
            let hook = crate::ui::progress::Progress { ui: self.ui };
            let managed = plan::managed_attrs(&self.stack, &self.registry);
            refresh(state, &managed, &self.registry, self.aws.clone(), parallelism, &hook).await?
        } else {
            Refreshed::from_state(state)
        };
        refreshed.moved = moved;
        refreshed.imported = imported;
        Ok(refreshed)
    }

    /// Records in `state` (in memory: apply writes it before any change) the
    /// object of each `[[import]]` whose address the state does not hold
    /// yet, read from AWS by its id. Refused, before anything changes, as
    /// `pgstack import` refuses: an id the state already manages at another
    /// address, an object that does not exist, one whose ownership tags name
    /// another stack or address. Blocks whose address the state holds are
    /// done: no read.
    async fn import_blocks(&self, state: &mut StateFile) -> Result<Vec<plan::moves::Import>, CliError> {
        let mut out = Vec::new();
        let pending: Vec<_> = self.stack.imports.iter().filter(|b| !state.resources.contains_key(&b.to)).collect();
        let graph = if pending.is_empty() { Default::default() } else { crate::graph::dependencies(&self.stack) };
        for block in pending {
            let (addr, id) = (&block.to, &block.id);
            let dependencies = graph.get(addr).map(|d| d.iter().map(|(a, _)| a.clone()).collect()).unwrap_or_default();
            let entry = super::apply::imported_entry(self, state, addr, id, dependencies, |other| {
                CliError::msg(format!(
                    "{} `{id}` is already managed by this stack as `{other}`; importing it as `{addr}` would manage one object twice",
                    addr.rtype
                ))
                .hint(format!("to give it the new address, write a [[moved]] block from `{other}` to `{addr}`"))
            })
            .await
            .map_err(|e| e.hint(format!("from the [[import]] of `{addr}`")))?;
            state.resources.insert(addr.clone(), entry);
            out.push(plan::moves::Import { address: addr.clone(), id: id.clone() });
        }
        Ok(out)
    }

    /// A plan from a refreshed view. A plan that creates an object at an
    /// address for which AWS already holds an object tagged with this stack
    /// and that address (one the state does not record) is refused: see
    /// [`Session::check_creates_unclaimed`].
    pub async fn plan_from(&self, refreshed: &Refreshed, opts: &PlanOptions) -> Result<Plan, CliError> {
        let plan = plan::build(&self.stack, &self.registry, refreshed, opts)
            .map_err(|d| CliError::Diagnostics(self.sources.clone(), d))?;
        if !opts.report_only && refreshed.refreshed {
            self.check_creates_unclaimed(&plan, refreshed).await?;
            self.check_planned(&plan).await?;
        }
        Ok(plan)
    }

    /// Asks each type what AWS says about the creates and updates planned
    /// for it ([`crate::provider::ResourceType::check_planned`]), one call
    /// per (type, region), all at once; refusals fail the plan at the
    /// refused attributes, warnings are shown.
    async fn check_planned(&self, plan: &Plan) -> Result<(), CliError> {
        use crate::plan::Action;
        use crate::provider::PlannedChange;
        let mut groups: std::collections::BTreeMap<(&str, &str), Vec<PlannedChange<'_>>> = Default::default();
        for c in &plan.changes {
            let (Some(after), true) = (&c.after, matches!(c.action, Action::Create | Action::Update | Action::Replace))
            else {
                continue;
            };
            groups.entry((c.rtype.as_str(), c.region.as_str())).or_default().push(PlannedChange {
                addr: &c.address,
                creates: c.action.creates(),
                desired: after,
                current: c.before.as_ref(),
            });
        }
        let shared = crate::provider::Shared::new();
        let checks = groups.into_iter().filter_map(|((rtype, region), planned)| {
            let provider = self.registry.get(rtype)?.clone();
            let ctx = crate::provider::Ctx::new(self.aws.clone(), region, self.stack.name.clone())
                .with_shared(shared.clone());
            Some(async move {
                crate::provider::waiter::retry_transient(&ctx, "the plan-time check", || {
                    provider.check_planned(&ctx, &planned)
                })
                .await
                .map_err(|e| CliError::msg(format!("checking the planned {rtype} changes in {region}: {e}")))
            })
        });
        let mut refusals = Vec::new();
        for found in futures::future::join_all(checks).await {
            for f in found? {
                if f.warning {
                    let mut hints = f.refusal.hints.clone();
                    hints.push("a warning: the plan goes on".to_owned());
                    self.ui.warn(&format!("`{}` {}", f.addr, f.refusal.reason), &hints);
                } else {
                    refusals.push((f.addr, f.refusal));
                }
            }
        }
        if refusals.is_empty() {
            return Ok(());
        }
        Err(CliError::Diagnostics(self.sources.clone(), plan::planned_refusal_diagnostics(&self.stack, refusals)))
    }

    /// Refuses creates whose address AWS already holds an object for: an
    /// object tagged `pgstack:stack` = this stack and `pgstack:address` =
    /// the address, whose id the state does not record (the state lives
    /// elsewhere, was lost, or the object was made by a run whose state is
    /// gone). Creating would make a second object for one address. One
    /// listing per (type, region) that has creates, shared as the orphan scan
    /// shares it; interrupted creates still pending in state are left to
    /// their adoption.
    async fn check_creates_unclaimed(&self, plan: &Plan, refreshed: &Refreshed) -> Result<(), CliError> {
        let pending = |a: &crate::addr::ResourceAddr| {
            refreshed.state.resources.get(a).is_some_and(|r| r.status == crate::state::Status::CreatePending)
        };
        let creates: std::collections::BTreeSet<(String, String, String)> = plan
            .changes
            .iter()
            .filter(|c| c.action.creates() && !c.adopted && !pending(&c.address))
            .map(|c| (c.rtype.clone(), c.region.clone(), c.address.to_string()))
            .collect();
        if creates.is_empty() {
            return Ok(());
        }
        let scope = creates.iter().map(|(t, r, _)| (t.clone(), r.clone())).collect();
        let hook = crate::ui::progress::Progress { ui: self.ui };
        let found =
            crate::engine::orphans::scan(refreshed, &scope, &self.registry, self.aws.clone(), 10, &hook).await?;
        let claimed: Vec<_> = found
            .into_iter()
            .filter(|o| {
                o.address_tag
                    .as_ref()
                    .is_some_and(|a| creates.contains(&(o.rtype.clone(), o.region.clone(), a.clone())))
            })
            .collect();
        if claimed.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = claimed
            .iter()
            .map(|o| format!("{} ({} in {})", o.address_tag.as_deref().unwrap_or_default(), o.id, o.region))
            .collect();
        let first = &claimed[0];
        Err(CliError::msg(format!(
            "refusing to plan creates for objects that already exist: AWS holds {} tagged for stack `{}` at {}, which the state {} does not record; creating them would make a second object for each address",
            if claimed.len() == 1 { "an object" } else { "objects" },
            self.stack.name,
            list.join(", "),
            self.backend.describe()
        ))
        .hint("most likely this stack's state is kept elsewhere (another --state, [state] path, a [backend] not given here) or the state file was lost")
        .hint("if the state is elsewhere, point at it with --state FILE or the stack's backend settings")
        .hint(format!(
            "to adopt what exists: pgstack import {} {} {}",
            self.stack_arg,
            first.address_tag.as_deref().unwrap_or_default(),
            first.id
        ))
        .hint("to move a state file here on purpose: pgstack state push STACK FILE")
        .hint("nothing was changed"))
    }

    /// Refreshes (unless told not to) and builds a plan.
    pub async fn plan(&self, refresh_first: bool, opts: &PlanOptions, parallelism: usize) -> Result<Plan, CliError> {
        let refreshed = self.refreshed(refresh_first, opts, parallelism).await?;
        self.plan_from(&refreshed, opts).await
    }

    /// With `-v`: API calls made, per service and per operation.
    pub fn report_calls(&self) {
        report_calls(self.ui, &self.aws);
    }
}

/// With `-v`: the API calls made with `aws`, per service, then per
/// `service:Operation`.
pub fn report_calls(ui: Ui, aws: &AwsFactory) {
    if ui.verbose {
        let join = |m: std::collections::BTreeMap<String, u64>| {
            m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
        };
        let calls = aws.calls();
        ui.err(&format!("AWS API calls: {} ({})\n", calls.total(), join(calls.by_service())));
        ui.err(&format!("AWS API operations: {}\n", join(calls.snapshot())));
    }
}

/// `--state`, else the stack's local state ([`local_state_path`]).
pub fn state_path(g: &GlobalArgs, stack: &Stack) -> PathBuf {
    g.state.clone().unwrap_or_else(|| local_state_path(stack))
}

/// Where the stack keeps a local state when no flag says otherwise: its
/// `[state] path` (relative to the stack file), else `state/<name>.json` in
/// the stack's project ([`config::project_root`]), whatever the working
/// directory.
pub fn local_state_path(stack: &Stack) -> PathBuf {
    stack.state_path.clone().unwrap_or_else(|| project_state_dir(stack).join(format!("{}.json", stack.name)))
}

/// The `state/` directory of the stack's project, where the default state
/// files of its stacks live.
pub fn project_state_dir(stack: &Stack) -> PathBuf {
    config::project_root(&stack.root_dir).join("state")
}
