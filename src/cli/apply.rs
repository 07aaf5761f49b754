//! `apply`, `destroy` and `import`: the commands that change AWS and state.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::plan::SavedPlan;
use super::session::Session;
use super::{ApplyArgs, CliError, CliResult, DestroyArgs, GlobalArgs};
use crate::addr::ResourceAddr;
use crate::config::LoadOptions;
use crate::engine::apply::Applier;
use crate::engine::walk::Outcome;
use crate::plan::{Plan, PlanOptions};
use crate::provider::{Ctx, ReadScope};
use crate::state::{LiveState, ResourceState, Status};
use crate::ui::Ui;
use crate::ui::progress::Progress;

pub async fn apply(g: &GlobalArgs, ui: Ui, args: ApplyArgs) -> CliResult {
    if let Some(saved) = read_saved_plan(&args.stack_or_plan)? {
        return apply_saved(g, ui, saved, &args).await;
    }
    let session = Session::open(g, ui, &args.stack_or_plan)?;
    let _lock = session.lock("apply").await?;
    let c = &args.change;
    let opts = PlanOptions { targets: c.targets.clone(), destroy: false };
    let plan = session.plan(args.refresh, &opts, usize::from(c.parallelism)).await?;
    ui.out(&crate::ui::plan::render(&plan, ui.style));
    run(&session, plan, &c.allow_destroy, c.auto_approve, usize::from(c.parallelism)).await
}

pub async fn destroy(g: &GlobalArgs, ui: Ui, args: DestroyArgs) -> CliResult {
    let session = Session::open(g, ui, &args.stack)?;
    let _lock = session.lock("destroy").await?;
    let c = &args.change;
    let opts = PlanOptions { targets: c.targets.clone(), destroy: true };
    let plan = session.plan(true, &opts, usize::from(c.parallelism)).await?;
    ui.out(&crate::ui::plan::render(&plan, ui.style));
    run(&session, plan, &c.allow_destroy, c.auto_approve, usize::from(c.parallelism)).await
}

/// A saved plan, if `arg` is one (a JSON file written by `plan -o`).
fn read_saved_plan(arg: &str) -> Result<Option<SavedPlan>, CliError> {
    let path = std::path::Path::new(arg);
    if !path.is_file() || path.extension().is_some_and(|e| e == "toml") {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| CliError::msg(format!("reading {arg}: {e}")))?;
    if !text.trim_start().starts_with('{') {
        return Ok(None);
    }
    serde_json::from_str(&text).map(Some).map_err(|e| CliError::msg(format!("{arg} is not a pgstack plan file: {e}")))
}

async fn apply_saved(g: &GlobalArgs, ui: Ui, saved: SavedPlan, args: &ApplyArgs) -> CliResult {
    let opts = LoadOptions { vars: saved.vars, var_files: saved.var_files, env: saved.env, ..LoadOptions::default() };
    let session = Session::open_with(g, ui, &saved.stack_path, opts)?;
    let plan = saved.plan;
    let stale = |what: &str| {
        CliError::msg(format!("the saved plan is stale: {what} changed since it was made"))
            .hint("run `pgstack plan -o PLAN` again and apply the new plan")
    };
    let _lock = session.lock("apply").await?;
    let state = session.state().await?;
    if let Some(what) = plan.staleness(&session.stack.digest, &state) {
        return Err(stale(what));
    }
    ui.out(&crate::ui::plan::render(&plan, ui.style));
    run(&session, plan, &args.change.allow_destroy, true, usize::from(args.change.parallelism)).await
}

/// Guards, confirms and applies a plan; prints the outcome.
async fn run(
    session: &Session,
    plan: Plan,
    allow: &[ResourceAddr],
    auto_approve: bool,
    parallelism: usize,
) -> CliResult {
    let ui = session.ui;
    let refused = plan.unallowed_destroys(allow);
    if !refused.is_empty() {
        let names: Vec<String> = refused.iter().map(|c| c.address.to_string()).collect();
        let flags: Vec<String> = names.iter().map(|n| format!("--allow-destroy '{n}'")).collect();
        return Err(CliError::msg(format!(
            "refusing to delete or replace data-bearing resources: {}",
            names.join(", ")
        ))
        .hint(format!("if this is intended, run again with {}", flags.join(" ")))
        .hint("nothing was changed"));
    }
    if !plan.has_changes() && plan.forget.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if plan.has_changes() && !auto_approve {
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return Err(CliError::msg("apply needs confirmation, and there is no terminal to ask")
                .hint("review the plan, then run with --auto-approve, or save it with `plan -o` and apply that"));
        }
        if !ui.confirm("Do you want to perform these actions?") {
            return Err(CliError::msg("apply cancelled; nothing was changed"));
        }
    }
    let state = session.state().await?;
    let live = Arc::new(LiveState::new(state, session.backend.clone()));
    let cancel = Arc::new(AtomicBool::new(false));
    let on_interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.store(true, Ordering::SeqCst);
            Ui { style: ui.style, verbose: false }.err(
                "\nInterrupt received: no new operations will start; waiting for running ones, then saving state.\n",
            );
        }
    });
    let applier = Applier {
        stack: session.stack.clone(),
        registry: session.registry.clone(),
        aws: session.aws.clone(),
        live,
        hook: Arc::new(Progress { ui }),
        parallelism,
        cancel,
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
    Err(CliError::msg(format!("apply did not finish:\n  {}", lines.join("\n  ")))
        .hint("state was saved after every completed change; fix the cause and run apply again"))
}

pub async fn import(g: &GlobalArgs, ui: Ui, stack: &str, addr: ResourceAddr, id: String) -> CliResult {
    let session = Session::open(g, ui, stack)?;
    let rc = session.stack.resources.get(&addr).ok_or_else(|| {
        CliError::msg(format!("`{addr}` is not declared in the stack")).hint("declare it first, then import it")
    })?;
    let provider =
        session.registry.get(&addr.rtype).ok_or_else(|| CliError::msg(format!("unknown type `{}`", addr.rtype)))?;
    let _lock = session.lock("import").await?;
    let state = session.state().await?;
    if state.resources.contains_key(&addr) {
        return Err(CliError::msg(format!("`{addr}` is already managed"))
            .hint(format!("use `pgstack state rm {stack} '{addr}'` first to re-import it")));
    }
    let ctx = Ctx::new(session.aws.clone(), rc.region.clone(), session.stack.name.clone());
    let attrs = provider
        .read_many(&ctx, std::slice::from_ref(&id), &ReadScope::All)
        .await
        .map_err(|e| CliError::msg(e.to_string()))?
        .remove(&id)
        .ok_or_else(|| CliError::msg(format!("no {} with id `{id}` in {}", addr.rtype, rc.region)))?;
    let deps = crate::graph::dependencies(&session.stack).remove(&addr).unwrap_or_default().into_keys().collect();
    let live = LiveState::new(state, session.backend.clone());
    live.commit(|s| {
        s.resources.insert(
            addr.clone(),
            ResourceState {
                address: addr.clone(),
                rtype: addr.rtype.clone(),
                region: rc.region.clone(),
                status: Status::Ready,
                id: Some(id.clone()),
                attributes: attrs,
                dependencies: deps,
            },
        );
    })
    .await?;
    ui.out(&format!(
        "Imported {addr} ({id}).\nRun `pgstack plan {stack}` to see how it differs from the configuration.\n"
    ));
    Ok(ExitCode::SUCCESS)
}
