//! `plan` and `drift`.

use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use super::session::Session;
use super::{CliError, CliResult, DriftFormat, GlobalArgs, PlanArgs};
use crate::plan::{Action, Plan, PlanOptions};
use crate::ui::Ui;

/// A plan file written by `plan -o`: the plan plus how to reload its config.
#[derive(Debug, Serialize, Deserialize)]
pub struct SavedPlan {
    pub pgstack_saved_plan: u32,
    pub stack_path: String,
    pub vars: Vec<(String, String)>,
    pub var_files: Vec<std::path::PathBuf>,
    pub env: Option<String>,
    pub plan: Plan,
}

pub async fn plan(g: &GlobalArgs, ui: Ui, args: PlanArgs) -> CliResult {
    let session = Session::open(g, ui, &args.stack)?;
    let _lock = session.lock("plan").await?;
    let opts = PlanOptions { targets: args.targets.clone(), destroy: args.destroy };
    let plan = session.plan(args.refresh, &opts, 10).await?;
    session.report_calls();
    if args.json {
        ui.out(&format!("{}\n", serde_json::to_string_pretty(&crate::ui::json::plan(&plan)).unwrap_or_default()));
    } else {
        ui.out(&crate::ui::plan::render(&plan, ui.style));
    }
    if let Some(out) = &args.out {
        let saved = SavedPlan {
            pgstack_saved_plan: 1,
            stack_path: crate::config::resolve_stack_path(&args.stack).display().to_string(),
            vars: session.load_options.vars.clone(),
            var_files: session.load_options.var_files.clone(),
            env: session.load_options.env.clone(),
            plan: plan.clone(),
        };
        let text = serde_json::to_string_pretty(&saved).map_err(|e| CliError::msg(e.to_string()))?;
        std::fs::write(out, text).map_err(|e| CliError::msg(format!("writing {}: {e}", out.display())))?;
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

/// Refreshes and reports both drift (AWS vs state) and pending changes
/// (config vs AWS). Exit 0 clean, 2 drifted, 1 error.
pub async fn drift(g: &GlobalArgs, ui: Ui, stack: &str, format: DriftFormat) -> CliResult {
    let session = Session::open(g, ui, stack)?;
    let _lock = session.lock("drift").await?;
    let plan = session.plan(true, &PlanOptions::default(), 10).await?;
    session.report_calls();
    let pending: Vec<_> = plan.changes.iter().filter(|c| c.action != Action::NoOp).collect();
    let clean = plan.drift.is_empty() && pending.is_empty();
    match format {
        DriftFormat::Json => {
            let v = serde_json::json!({
                "format_version": crate::plan::PLAN_FORMAT_VERSION,
                "stack": plan.stack,
                "drifted": !clean,
                "drift": crate::ui::json::drift(&plan.drift),
                "pending_changes": crate::ui::json::plan(&plan)["resource_changes"]
                    .as_array().map(|a| a.iter().filter(|c| c["action"] != "no_op").cloned().collect::<Vec<_>>())
                    .unwrap_or_default(),
            });
            ui.out(&format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()));
        }
        DriftFormat::Markdown => ui.out(&crate::ui::plan::drift_markdown(&plan)),
        DriftFormat::Text => {
            if clean {
                ui.out("No drift: AWS matches the state and the configuration.\n");
            } else {
                if !plan.drift.is_empty() {
                    ui.out(&crate::ui::plan::render_drift(&plan.drift, ui.style));
                    ui.out("\n");
                }
                if !pending.is_empty() {
                    ui.out("Changes needed to match the configuration again:\n\n");
                    for c in pending {
                        ui.out(&crate::ui::plan::render_change(c, ui.style));
                    }
                }
            }
        }
    }
    Ok(if clean { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
