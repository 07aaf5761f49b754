//! `apply`, `destroy` and `import`: the commands that change AWS and state.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::path::PathBuf;

use super::session::Session;
use super::{ApplyArgs, CliError, CliResult, DestroyArgs, GlobalArgs};
use crate::addr::ResourceAddr;
use crate::config::LoadOptions;
use crate::engine::apply::Applier;
use crate::engine::walk::Outcome;
use crate::plan::saved::{self, SavedPlanBody, StateLocation};
use crate::plan::{Plan, PlanOptions, unallowed_destroys};
use crate::provider::{Ctx, ReadScope, ResourceType};
use crate::schema::{TAG_ADDRESS, TAG_STACK};
use crate::state::{LiveState, ResourceState, StateFile, Status};
use crate::ui::Ui;
use crate::ui::progress::Progress;
use crate::value::{Attrs, Value};

pub async fn apply(g: &GlobalArgs, ui: Ui, args: ApplyArgs) -> CliResult {
    if let Some(saved) = read_saved_plan(&args.stack_or_plan)? {
        return apply_saved(g, ui, saved, &args).await;
    }
    let mut session = Session::open(g, ui, &args.stack_or_plan)?;
    session.read_data().await?;
    if !args.refresh_only {
        super::check::gate(&session, &args.stack_or_plan, args.skip_checks)?;
    }
    let c = &args.change;
    if args.refresh_only {
        return session
            .locked("apply", async || record_refresh(&session, c.auto_approve, usize::from(c.parallelism)).await)
            .await;
    }
    session
        .locked("apply", async || {
            let opts = PlanOptions {
                targets: c.targets.clone(),
                destroy: false,
                replace: args.replace.clone(),
                ..PlanOptions::default()
            };
            let refreshed = session.refreshed(args.refresh, &opts, usize::from(c.parallelism)).await?;
            let plan = session.plan_from(&refreshed, &opts).await?;
            ui.out(&crate::ui::plan::render(&plan, ui.style));
            // Targeted runs record only what they change.
            let refreshed_state = (c.targets.is_empty() && refreshed.refreshed).then(|| refreshed.refreshed_state());
            let run_opts =
                RunOptions { allow: &c.allow_destroy, auto_approve: c.auto_approve, parallelism: c.parallelism };
            run(&session, plan, refreshed.state, refreshed_state, run_opts).await
        })
        .await
}

pub async fn destroy(g: &GlobalArgs, ui: Ui, args: DestroyArgs) -> CliResult {
    let mut session = Session::open(g, ui, &args.stack)?;
    session.read_data().await?;
    let c = &args.change;
    session
        .locked("destroy", async || {
            let opts = PlanOptions { targets: c.targets.clone(), destroy: true, ..PlanOptions::default() };
            let refreshed = session.refreshed(true, &opts, usize::from(c.parallelism)).await?;
            let plan = session.plan_from(&refreshed, &opts).await?;
            ui.out(&crate::ui::plan::render(&plan, ui.style));
            let run_opts =
                RunOptions { allow: &c.allow_destroy, auto_approve: c.auto_approve, parallelism: c.parallelism };
            run(&session, plan, refreshed.state, None, run_opts).await
        })
        .await
}

/// `pgstack refresh`: record what AWS holds, without asking.
pub async fn refresh(g: &GlobalArgs, ui: Ui, stack: &str) -> CliResult {
    let session = Session::open(g, ui, stack)?;
    session.locked("refresh", async || record_refresh(&session, true, 10).await).await
}

/// Refreshes and records the result in state, changing nothing in AWS.
async fn record_refresh(session: &Session, auto_approve: bool, parallelism: usize) -> CliResult {
    let ui = session.ui;
    let refreshed = session.refreshed(true, &PlanOptions::default(), parallelism).await?;
    let plan = session.plan_from(&refreshed, &PlanOptions { report_only: true, ..PlanOptions::default() }).await?;
    let new_state = refreshed.refreshed_state();
    if same_content(&new_state, &refreshed.state) {
        ui.out("No changes to record: the state matches what AWS holds.\n");
        return Ok(ExitCode::SUCCESS);
    }
    if !plan.drift.is_empty() {
        ui.out(&crate::ui::plan::render_drift(&plan.drift, ui.style));
    }
    let adopted = refreshed.adopted.len();
    if adopted > 0 {
        ui.out(&format!("{adopted} interrupted create(s) found by their tags will be recorded.\n"));
    }
    if !auto_approve {
        confirm(ui, "Record these objects as AWS holds them in state?")?;
    }
    session.backend.check_writable().await?;
    LiveState::new(new_state, session.backend.clone()).commit(|_| ()).await?;
    ui.out(&format!("\nRecorded what AWS holds in {}. Nothing was changed in AWS.\n", session.backend.describe()));
    Ok(ExitCode::SUCCESS)
}

/// True when two states of one stack record the same objects (serial and
/// lineage aside: a stack without state gets a fresh lineage on each read).
fn same_content(a: &StateFile, b: &StateFile) -> bool {
    a.resources == b.resources && a.stack == b.stack
}

/// A saved plan, if `arg` names one: a file whose content is a JSON
/// object (a stack, TOML, never starts with `{`), whatever its name.
fn read_saved_plan(arg: &str) -> Result<Option<SavedPlanBody>, CliError> {
    let path = std::path::Path::new(arg);
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = std::fs::read(path).map_err(|e| CliError::msg(format!("reading {arg}: {e}")))?;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&bytes);
    Ok(Some(saved::decode(&text, &crate::diag::display_path(path))?))
}

/// Applies a saved plan. The file is intent, not authority: under the lock,
/// against the state it was made with (same lineage and serial), the plan is
/// made again from the configuration the file carries (the stack as loaded
/// then, never the files now), the state and AWS, and applied only when it
/// is the plan in the file ([`saved::differences`]); every object id, region
/// and current value comes from the state and AWS, never from the file.
/// Flags that would change how the plan is made are refused.
async fn apply_saved(g: &GlobalArgs, ui: Ui, saved: SavedPlanBody, args: &ApplyArgs) -> CliResult {
    // Sensitive variables are not in the plan: they are given again, and checked.
    let given = super::session::load_options(g)?;
    let changed_flags: Vec<&str> = [
        (given.vars.iter().any(|(k, _)| !saved.sensitive_vars.contains_key(k)), "--var"),
        (!g.var_files.is_empty(), "--var-file"),
        (g.env.is_some(), "--env"),
        (g.region.is_some(), "--region"),
        (!args.change.targets.is_empty(), "--target"),
        (!args.replace.is_empty(), "--replace"),
        (args.refresh_only, "--refresh-only"),
    ]
    .into_iter()
    .filter_map(|(given, flag)| given.then_some(flag))
    .collect();
    if !changed_flags.is_empty() {
        return Err(CliError::msg(format!(
            "{} cannot be used with a saved plan: it is applied exactly as it was made",
            changed_flags.join(", ")
        ))
        .hint("make a new plan with those settings: `pgstack plan STACK ... -o PLAN`")
        .hint("only sensitive variables are given again when applying a plan: --var NAME=... or PGSTACK_VAR_NAME"));
    }
    let Some(config) = saved.config.0.as_deref() else {
        return Err(CliError::msg("the saved plan carries no configuration")
            .hint("make a new plan: `pgstack plan STACK -o PLAN`"));
    };
    let mut stack = config.clone();
    stack.supply_sensitive(&resupplied_sensitive(&saved.sensitive_vars, &given)?);
    let reload = reload_state(g, &saved.state)?;
    let load_options = LoadOptions { backend_config: super::session::load_options(&reload)?.backend_config, ..given };
    let session = Session::for_stack(&reload, ui, &stack.name.clone(), stack, Default::default(), load_options)?;
    if session.backend.location() != saved.state {
        return Err(CliError::msg(format!(
            "the plan was made against the state {}, but its configuration keeps it in {}",
            saved.state.location,
            session.backend.describe()
        ))
        .hint("make a new plan: `pgstack plan STACK -o PLAN`")
        .hint("nothing was changed"));
    }
    super::check::gate(&session, &session.stack_arg, args.skip_checks || saved.options.skip_checks)?;
    let written = saved.plan;
    if written.stack != session.stack.name {
        return Err(CliError::msg(format!(
            "the plan was made for stack `{}`, but its configuration declares `{}`",
            written.stack, session.stack.name
        )));
    }
    let stale = |what: &str| {
        CliError::msg(format!("the saved plan is stale: {what} changed since it was made"))
            .hint("run `pgstack plan -o PLAN` again and apply the new plan")
            .hint("nothing was changed")
    };
    let c = &args.change;
    session
        .locked("apply", async || {
            let stored = session.backend.load().await?;
            if let Some(state) = &stored {
                state.check_stack(&session.stack.name, &session.backend.describe())?;
            }
            if let Some(what) = written.staleness(&session.stack.digest, stored.as_ref()) {
                return Err(stale(what));
            }
            let opts = PlanOptions {
                targets: saved.options.targets.clone(),
                replace: saved.options.replace.clone(),
                destroy: written.destroy,
                ..PlanOptions::default()
            };
            let refreshed = session.refreshed(saved.options.refresh, &opts, usize::from(c.parallelism)).await?;
            let plan = session.plan_from(&refreshed, &opts).await?;
            let differences = saved::differences(&written, &plan);
            if !differences.is_empty() {
                let mut err = CliError::msg(format!(
                    "the saved plan is not what planning gives now, so it is not applied:\n  {}",
                    differences.join("\n  ")
                ));
                if differences.iter().any(|d| d.contains("changed since the plan was made")) {
                    err = err.hint("objects changed in AWS since the plan was made: make a new plan and review it");
                } else {
                    err = err.hint(
                        "a plan file carries intent only: object ids, regions and current values come from the state and AWS; a file edited by hand is refused",
                    );
                }
                return Err(err.hint("make a new plan: `pgstack plan STACK -o PLAN`").hint("nothing was changed"));
            }
            ui.out(&crate::ui::plan::render(&plan, ui.style));
            let refreshed_state =
                (opts.targets.is_empty() && refreshed.refreshed).then(|| refreshed.refreshed_state());
            let run_opts = RunOptions { allow: &c.allow_destroy, auto_approve: true, parallelism: c.parallelism };
            run(&session, plan, refreshed.state, refreshed_state, run_opts).await
        })
        .await
}

/// The values of the sensitive variables a saved plan's configuration uses,
/// given again (`--var`, `PGSTACK_VAR_*`) and each checked against the hash
/// the plan recorded; a value is read as the loader reads it (a string, or a
/// TOML value for a variable of another type).
fn resupplied_sensitive(
    hashes: &BTreeMap<String, saved::SaltedHash>,
    given: &LoadOptions,
) -> Result<BTreeMap<String, Value>, CliError> {
    let mut values = BTreeMap::new();
    for (name, hash) in hashes {
        let text = given.vars.iter().chain(&given.env_vars).rev().find(|(k, _)| k == name).map(|(_, v)| v);
        let readings = text.into_iter().flat_map(|t| [Some(Value::Str(t.clone())), crate::config::parse_value(t).ok()]);
        let Some(value) = readings.flatten().find(|v| hash.matches(&v.to_json().to_string())) else {
            let what = if text.is_some() { "does not have the value the plan was made with" } else { "is not given" };
            return Err(CliError::msg(format!("sensitive variable `{name}` {what}"))
                .hint(format!("give it again, as when planning: PGSTACK_VAR_{name}=... or --var {name}=..."))
                .hint("nothing was changed"));
        };
        values.insert(name.clone(), value);
    }
    Ok(values)
}

/// The global flags that reload a saved plan's stack against the state it
/// was made with: `--state FILE` for a local file, `--backend-config` for
/// S3. `--state` or `--backend-config` given now must name that same state.
fn reload_state(g: &GlobalArgs, recorded: &StateLocation) -> Result<GlobalArgs, CliError> {
    let elsewhere = |given: String| {
        CliError::msg(format!("the plan was made against the state {}, but {given}", recorded.location))
            .hint("apply it without --state and --backend-config (it remembers its state), or make a new plan against that state")
            .hint("nothing was changed")
    };
    match recorded.backend.as_str() {
        "local" => {
            if !g.backend_config.is_empty() {
                return Err(elsewhere("--backend-config names an S3 backend".into()));
            }
            if let Some(given) = &g.state {
                let given_abs = std::path::absolute(given).unwrap_or_else(|_| given.clone());
                if given_abs.display().to_string() != recorded.location {
                    return Err(elsewhere(format!("--state names {}", given.display())));
                }
            }
            Ok(GlobalArgs { state: Some(PathBuf::from(&recorded.location)), ..g.clone() })
        }
        "s3" => {
            if let Some(given) = &g.state {
                return Err(elsewhere(format!("--state names the local file {}", given.display())));
            }
            for (k, v) in super::session::load_options(g)?.backend_config {
                if recorded.settings.get(&k) != Some(&v) {
                    return Err(elsewhere(format!("--backend-config sets {k}={v}")));
                }
            }
            let backend_config = recorded.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
            Ok(GlobalArgs { state: None, backend_config, ..g.clone() })
        }
        other => {
            Err(CliError::msg(format!("the plan's state is in a `{other}` backend, which this pgstack does not know"))
                .hint("apply it with the pgstack that made it, or make a new plan"))
        }
    }
}

/// How `run` applies a plan.
struct RunOptions<'a> {
    allow: &'a [ResourceAddr],
    auto_approve: bool,
    parallelism: u16,
}

/// Asks for confirmation on a terminal; refuses without one.
fn confirm(ui: Ui, question: &str) -> Result<(), CliError> {
    confirm_or(ui, question, "review the plan, then run with --auto-approve, or save it with `plan -o` and apply that")
}

/// Asks for confirmation on a terminal; without one, refuses with `hint`.
pub(super) fn confirm_or(ui: Ui, question: &str, hint: &str) -> Result<(), CliError> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(CliError::msg("this needs confirmation, and there is no terminal to ask")
            .hint(hint)
            .hint("nothing was changed"));
    }
    if !ui.confirm(question) {
        return Err(CliError::msg("cancelled; nothing was changed"));
    }
    Ok(())
}

/// Guards, confirms and applies a plan made against `stored` (the state as
/// read under this run's lock); prints the outcome. `refreshed` is the
/// refreshed state to record first (direct applies), so what refresh read is
/// kept even when nothing needs changing.
async fn run(
    session: &Session,
    plan: Plan,
    stored: StateFile,
    refreshed: Option<StateFile>,
    opts: RunOptions<'_>,
) -> CliResult {
    let ui = session.ui;
    let refused = unallowed_destroys(&plan, &stored, &session.registry, opts.allow);
    if !refused.is_empty() {
        return Err(super::guard_refusal(&refused));
    }
    let record = refreshed.filter(|r| !same_content(r, &stored));
    if !plan.has_changes() && plan.forget.is_empty() {
        if let Some(state) = record {
            session.backend.check_writable().await?;
            LiveState::new(state, session.backend.clone()).commit(|_| ()).await?;
            ui.out("Recorded the refreshed objects in state.\n");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if plan.has_changes() && !opts.auto_approve {
        confirm(ui, "Do you want to perform these actions?")?;
    }
    session.backend.check_writable().await?;
    let live = Arc::new(LiveState::new(record.clone().unwrap_or(stored), session.backend.clone()));
    // Moves and imports first: the state under the new addresses and with the
    // imported objects, before any change.
    if record.is_some() || !plan.moved.is_empty() || !plan.imported.is_empty() {
        live.commit(|_| ()).await?;
    }
    let cancel = Arc::new(AtomicBool::new(false));
    watch_signals(cancel.clone(), ui);
    let applier = Applier {
        stack: session.stack.name.clone(),
        registry: session.registry.clone(),
        clients: session.aws.clone(),
        live,
        hook: Arc::new(Progress { ui }),
        parallelism: usize::from(opts.parallelism),
        cancel,
        allow_destroy: opts.allow.to_vec(),
    };
    let report = applier.apply(&plan).await?;
    session.report_calls();
    let s = plan.summary();
    if report.ok() {
        let verb = if plan.destroy { "Destroy" } else { "Apply" };
        ui.out(&format!(
            "\n{} Resources: {} added, {} changed, {} destroyed.\n",
            ui.style.green(&format!("{verb} complete!")),
            s.add,
            s.change,
            s.destroy
        ));
        let outputs = applier.live.with(|st| st.outputs.clone());
        if !outputs.is_empty() {
            ui.out("\nOutputs:\n\n");
            for (k, v) in outputs {
                ui.out(&format!("{k} = {v}\n"));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut lines = Vec::new();
    for r in report.failed() {
        match &r.outcome {
            Outcome::Failed(e) => lines.push(format!("{}: {e}", r.addr)),
            Outcome::Skipped(_) => lines.push(format!("{}: skipped (a dependency failed)", r.addr)),
            Outcome::Cancelled => lines.push(format!("{}: not started (interrupted)", r.addr)),
            Outcome::Done => {}
        }
    }
    let err = CliError::msg(format!("apply did not finish:\n  {}", lines.join("\n  ")));
    Err(if applier.live.write_failed() {
        let state = session.backend.describe();
        let err = if report.unrecorded.is_empty() {
            err.hint(format!("the state could not be saved to {state}: changes made since are in AWS but not in state"))
        } else {
            err.hint(format!(
                "the state could not be saved to {state}; changed in AWS but not recorded in state: {}",
                unrecorded_list(&report.unrecorded)
            ))
        };
        err.hint("no change was started after the failed write")
            .hint("make the state writable and run apply again: it finds these objects by their ids and ownership tags, adopts what was created (never creating it twice) and drops from state what was deleted")
    } else {
        err.hint("state was saved after every completed change; fix the cause and run apply again")
    })
}

/// `ADDR (deleted, ID), ...`: changes made in AWS that state does not record.
fn unrecorded_list(unrecorded: &[crate::engine::apply::Unrecorded]) -> String {
    let one = |u: &crate::engine::apply::Unrecorded| match &u.id {
        Some(id) => format!("{} ({}, {})", u.addr, u.change, crate::ui::safe(id)),
        None => format!("{} ({})", u.addr, u.change),
    };
    unrecorded.iter().map(one).collect::<Vec<_>>().join(", ")
}

/// SIGINT and SIGTERM: the first stops scheduling new operations (running
/// ones finish and state is saved); a second exits at once (130 for SIGINT,
/// 143 for SIGTERM). State stays consistent either way: every write is
/// atomic, and a create cut short is found by its tags on the next run.
fn watch_signals(cancel: Arc<AtomicBool>, ui: Ui) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return;
    };
    tokio::spawn(async move {
        let what = tokio::select! {
            _ = int.recv() => "Interrupt",
            _ = term.recv() => "Termination signal",
        };
        cancel.store(true, Ordering::SeqCst);
        let quiet = Ui { style: ui.style, verbose: false };
        quiet.err(&format!(
            "\n{what} received: no new operations will start; waiting for running ones, then saving state. Send it again to stop at once.\n"
        ));
        let code = tokio::select! {
            _ = int.recv() => 130,
            _ = term.recv() => 143,
        };
        quiet.err("\nStopping now. State holds every finished change; run apply again to finish (objects being created are found by their tags).\n");
        std::process::exit(code);
    });
}

pub async fn import(g: &GlobalArgs, ui: Ui, stack: &str, addr: ResourceAddr, id: String) -> CliResult {
    let session = Session::open(g, ui, stack)?;
    if !session.stack.resources.contains_key(&addr) {
        return Err(
            CliError::msg(format!("`{addr}` is not declared in the stack")).hint("declare it first, then import it")
        );
    }
    session
        .locked("import", async || {
            let state = session.state().await?;
            if state.resources.contains_key(&addr) {
                return Err(CliError::msg(format!("`{addr}` is already managed"))
                    .hint(format!("use `pgstack state rm {stack} '{addr}'` first to re-import it")));
            }
            let deps = crate::graph::dependencies(&session.stack).remove(&addr).unwrap_or_default();
            let deps = deps.into_iter().map(|(d, _)| d).collect();
            let entry = imported_entry(&session, &state, &addr, &id, deps, |other| {
                CliError::msg(format!(
                    "{} `{id}` is already managed by this stack as `{other}`; importing it again would manage one object twice",
                    addr.rtype
                ))
                .hint(format!("to move it to `{addr}`, run `pgstack state mv {stack} '{other}' '{addr}'`"))
            })
            .await?;
            LiveState::new(state, session.backend.clone()).commit(|s| _ = s.resources.insert(addr.clone(), entry)).await?;
            ui.out(&format!(
                "Imported {addr} ({}).\nRun `pgstack plan {}` to see how it differs from the configuration.\n",
                crate::ui::safe(&id),
                crate::ui::safe(stack)
            ));
            Ok(ExitCode::SUCCESS)
        })
        .await
}

/// `import --generate-config`: reads the object `id` and prints the block that
/// declares it at `addr`, which the stack must not declare yet. Only reads:
/// no lock, no state write, nothing in AWS changes. The object's region is the
/// stack's default, or `--region` (then written into the block). Ids and ARNs
/// of objects the state records at declared root addresses become references.
pub async fn generate_config(g: &GlobalArgs, ui: Ui, stack: &str, addr: ResourceAddr, id: String) -> CliResult {
    let session = Session::open(g, ui, stack)?;
    if session.stack.resources.contains_key(&addr) {
        return Err(CliError::msg(format!("`{addr}` is already declared in the stack"))
            .hint(format!("import it without --generate-config: pgstack import {stack} '{addr}' {id}")));
    }
    if !addr.module.is_empty() || addr.key.is_some() {
        return Err(CliError::msg(format!("--generate-config writes a plain `[TYPE.NAME]` block, not `{addr}`"))
            .hint("generate it under a plain address, then move it into the module or for_each table by hand"));
    }
    let provider =
        session.registry.get(&addr.rtype).ok_or_else(|| CliError::msg(format!("unknown type `{}`", addr.rtype)))?;
    let attrs = read_unowned(&session, provider.as_ref(), &addr, &session.stack.default_region, &id).await?;
    let mut refs = BTreeMap::new();
    for r in session.state().await?.resources.values() {
        if r.status != Status::Ready
            || !r.address.module.is_empty()
            || !session.stack.resources.contains_key(&r.address)
        {
            continue;
        }
        if let Some(id) = &r.id {
            refs.insert(id.clone(), format!("{}.id", r.address));
        }
        if let Some(arn) = r.attributes.get("arn").and_then(Value::as_str) {
            refs.insert(arn.to_owned(), format!("{}.arn", r.address));
        }
    }
    let explicit_region = g.region.as_deref();
    ui.out(&crate::ui::generate::resource_block(&addr, &id, provider.schema(), &attrs, explicit_region, &refs));
    Ok(ExitCode::SUCCESS)
}

/// The state entry that imports object `id` at the declared resource
/// `addr` (`pgstack import` and `[[import]]` blocks): its attributes as AWS
/// holds them, with the config-only values, as ready. Refused, with
/// `already` (given the address, "nothing was changed" added), when `state`
/// manages `id` at another address; and as [`read_unowned`] refuses.
pub(super) async fn imported_entry(
    session: &Session,
    state: &StateFile,
    addr: &ResourceAddr,
    id: &str,
    dependencies: Vec<ResourceAddr>,
    already: impl FnOnce(&ResourceAddr) -> CliError,
) -> Result<ResourceState, CliError> {
    if let Some(other) = state.resources.values().find(|r| r.rtype == addr.rtype && r.id.as_deref() == Some(id)) {
        return Err(already(&other.address).hint("nothing was changed"));
    }
    let rc = session.stack.resources.get(addr).ok_or_else(|| CliError::msg(format!("`{addr}` is not declared")))?;
    let provider =
        session.registry.get(&addr.rtype).ok_or_else(|| CliError::msg(format!("unknown type `{}`", addr.rtype)))?;
    let mut attributes = read_unowned(session, provider.as_ref(), addr, &rc.region, id).await?;
    attributes.extend(crate::plan::config_only_values(&session.stack, &session.registry, state, addr));
    Ok(ResourceState {
        address: addr.clone(),
        rtype: addr.rtype.clone(),
        region: rc.region.clone(),
        status: Status::Ready,
        id: Some(id.to_owned()),
        attributes,
        dependencies,
        deposed: Vec::new(),
    })
}

/// Everything AWS holds of object `id` in `region`, for import at `addr`:
/// an error when it does not exist or its ownership tags name another owner.
async fn read_unowned(
    session: &Session,
    provider: &dyn ResourceType,
    addr: &ResourceAddr,
    region: &str,
    id: &str,
) -> Result<Attrs, CliError> {
    let ctx = Ctx::new(session.aws.clone(), region.to_owned(), session.stack.name.clone());
    let attrs = provider
        .read_many(&ctx, &[id.to_owned()], &ReadScope::All)
        .await
        .map_err(|e| CliError::msg(e.to_string()))?
        .remove(id)
        .ok_or_else(|| CliError::msg(format!("no {} with id `{id}` in {region}", addr.rtype)))?;
    match tagged_owner(attrs.get("tags"), &session.stack.name, addr) {
        Some(owner) => Err(import_refusal(addr, id, &session.stack.name, &owner)),
        None => Ok(attrs),
    }
}

/// Who an object's ownership tags say manages it, when that is not
/// `stack` at `addr`. Untagged objects, and objects tagged for exactly this
/// stack and address (re-import after `state rm`), have no other owner.
fn tagged_owner(tags: Option<&Value>, stack: &str, addr: &ResourceAddr) -> Option<TaggedOwner> {
    let tags = tags.and_then(Value::as_map)?;
    let tag = |k: &str| tags.get(k).and_then(Value::as_str).map(str::to_owned);
    let (owner_stack, owner_addr) = (tag(TAG_STACK), tag(TAG_ADDRESS));
    let same_stack = owner_stack.as_deref().is_none_or(|s| s == stack);
    let same_addr = owner_addr.as_deref().is_none_or(|a| a == addr.to_string());
    (!(same_stack && same_addr)).then_some(TaggedOwner { stack: owner_stack, address: owner_addr })
}

/// The `pgstack:stack` and `pgstack:address` tags of an object.
#[derive(Debug, PartialEq)]
struct TaggedOwner {
    stack: Option<String>,
    address: Option<String>,
}

fn import_refusal(addr: &ResourceAddr, id: &str, stack: &str, owner: &TaggedOwner) -> CliError {
    let at = owner.address.as_deref().map(|a| format!(" as `{a}`")).unwrap_or_default();
    let tags = format!("`{TAG_STACK}` and `{TAG_ADDRESS}` tags");
    let (who, hint) = match owner.stack.as_deref() {
        Some(s) if s == stack => (
            format!("this stack{at}"),
            format!("import it at that address instead; or, to move it, delete its {tags} in AWS and import again"),
        ),
        Some(other) => (
            format!("stack `{other}`{at}"),
            format!(
                "if stack `{other}` should no longer manage it, run `pgstack state rm` there, delete its {tags} in AWS, and import again"
            ),
        ),
        None => (
            format!("another stack{at}"),
            format!("if no stack should manage it any more, delete its {tags} in AWS and import again"),
        ),
    };
    CliError::msg(format!(
        "{} `{id}` is managed by {who}, say its {tags}; refusing to import it as `{addr}`",
        addr.rtype
    ))
    .hint(hint)
    .hint("nothing was changed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Value {
        Value::Map(pairs.iter().map(|(k, v)| ((*k).to_owned(), Value::str(*v))).collect())
    }

    #[test]
    fn tagged_owner_is_anyone_but_this_stack_at_this_address() {
        let addr = ResourceAddr::new("vpc", "main");
        let owner = |t: &[(&str, &str)]| tagged_owner(Some(&tags(t)), "b", &addr);
        assert_eq!(tagged_owner(None, "b", &addr), None);
        assert_eq!(owner(&[("Name", "x")]), None);
        assert_eq!(owner(&[(TAG_STACK, "b"), (TAG_ADDRESS, "vpc.main")]), None);
        assert_eq!(
            owner(&[(TAG_STACK, "a"), (TAG_ADDRESS, "vpc.main")]),
            Some(TaggedOwner { stack: Some("a".into()), address: Some("vpc.main".into()) })
        );
        assert_eq!(
            owner(&[(TAG_STACK, "b"), (TAG_ADDRESS, "vpc.old")]),
            Some(TaggedOwner { stack: Some("b".into()), address: Some("vpc.old".into()) })
        );
        assert_eq!(owner(&[(TAG_STACK, "a")]), Some(TaggedOwner { stack: Some("a".into()), address: None }));
    }
}
