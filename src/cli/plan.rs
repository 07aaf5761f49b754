//! `plan`.

use std::process::ExitCode;

use std::path::Path;

use super::session::Session;
use super::{CliError, CliResult, GlobalArgs, PlanArgs};
use crate::plan::saved::{self, SaltedHash, SavedOptions, SavedPlanBody};
use crate::plan::{Plan, PlanOptions};
use crate::ui::Ui;

pub async fn plan(g: &GlobalArgs, ui: Ui, args: PlanArgs) -> CliResult {
    let mut session = Session::open(g, ui, &args.stack)?;
    session.read_data().await?;
    // Where -o writes is settled (or refused) before anything else happens.
    let target = match &args.out {
        Some(out) => Some(super::output::checked_target(&session, out, super::output::Written::Plan)?),
        None => None,
    };
    let checks = super::check::run_quiet(&session)?;
    // The lock is given back explicitly, so a failed release is reported.
    session.locked("plan", async || planned(ui, &session, &args, target.as_deref(), &checks).await).await
}

/// The plan, shown and saved, under the lock.
async fn planned(
    ui: Ui,
    session: &Session,
    args: &PlanArgs,
    target: Option<&Path>,
    checks: &crate::check::Report,
) -> CliResult {
    let opts = PlanOptions {
        targets: args.targets.clone(),
        destroy: args.destroy,
        replace: args.replace.clone(),
        ..PlanOptions::default()
    };
    let plan = session.plan(args.refresh, &opts, 10).await?;
    session.report_calls();
    let cost = super::cost::plan_cost(&session.stack, &session.registry, &plan)
        .map_err(|e| ui.warn(&format!("no cost estimate: {e}"), &[]))
        .ok();
    if args.json {
        let mut v = crate::ui::json::plan(&plan);
        if let Some((before, after)) = &cost {
            v["cost"] = crate::ui::cost::plan_json(before, after);
        }
        ui.out(&format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()));
    } else {
        ui.out(&crate::ui::plan::render(&plan, ui.style));
        if let Some((before, after)) = &cost {
            ui.out(&crate::ui::cost::plan_line(before, after));
        }
    }
    ui.err(&format!("{}\n", crate::ui::check::summary_line(checks)));
    // A plan `apply` would refuse is not saved: its failing rules are shown instead.
    let failed = checks.failed_errors();
    if args.out.is_some() && !args.destroy && !failed.is_empty() && !args.skip_checks {
        ui.err(&crate::ui::check::text(checks, &session.sources, ui.style, false));
        return Err(CliError::msg(format!(
            "not saving the plan: {} check rule{} of error severity fail{} ({}), so `apply` would refuse it",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" },
            if failed.len() == 1 { "s" } else { "" },
            failed.join(", ")
        ))
        .hint("fix the findings above, waive them in [check.waive], or save anyway with --skip-checks (the plan records it)")
        .hint("nothing was written"));
    }
    if let (Some(out), Some(target)) = (&args.out, target) {
        save_plan(session, args, &plan, out, target)?;
        if !args.json {
            ui.out(&format!(
                "\nSaved the plan to {}. Apply exactly this plan with: pgstack apply {}\n",
                out.display(),
                out.display()
            ));
        }
    }
    Ok(if args.detailed_exitcode && plan.has_changes() { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// Writes a saved plan (owner-only, replaced whole) that carries the
/// stack as loaded and its state location; refused over any file the stack
/// reads, any state and anything but an older plan (`target` is the file
/// [`super::output::checked_target`] allowed).
fn save_plan(session: &Session, args: &PlanArgs, plan: &Plan, out: &Path, target: &Path) -> Result<(), CliError> {
    let stack = &session.stack;
    let needed = stack.sensitive_names();
    let body = SavedPlanBody {
        config: crate::plan::Source(Some(stack.clone())),
        sensitive_vars: stack
            .sensitive_vars
            .iter()
            .filter(|(k, _)| needed.contains(*k))
            .map(|(k, v)| (k.clone(), SaltedHash::new(v)))
            .collect(),
        state: session.backend.location(),
        options: SavedOptions {
            targets: args.targets.clone(),
            replace: args.replace.clone(),
            refresh: args.refresh,
            skip_checks: args.skip_checks,
        },
        plan: plan.clone(),
    };
    let text = saved::encode(&body).map_err(|e| CliError::msg(e.to_string()))?;
    crate::files::write_atomic(target, text.as_bytes())
        .map_err(|e| CliError::msg(format!("writing {}: {e}", out.display())).hint("nothing was written"))
}
