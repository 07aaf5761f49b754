//! `plan`.

use std::process::ExitCode;

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::session::Session;
use super::{CliError, CliResult, GlobalArgs, PlanArgs};
use crate::plan::saved::{self, SaltedHash, SavedPlanBody};
use crate::plan::{Plan, PlanOptions};
use crate::ui::Ui;

pub async fn plan(g: &GlobalArgs, ui: Ui, args: PlanArgs) -> CliResult {
    let session = Session::open(g, ui, &args.stack)?;
    let checks = super::check::run_quiet(&session)?;
    let _lock = session.lock("plan").await?;
    let opts = PlanOptions {
        targets: args.targets.clone(),
        destroy: args.destroy,
        replace: args.replace.clone(),
        ..PlanOptions::default()
    };
    let plan = session.plan(args.refresh, &opts, 10).await?;
    session.report_calls();
    let cost =
        super::cost::plan_cost(&session.stack, &plan).map_err(|e| ui.warn(&format!("no cost estimate: {e}"), &[])).ok();
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
    ui.err(&format!("{}\n", crate::ui::check::summary_line(&checks)));
    if let Some(out) = &args.out {
        save_plan(g, &session, &args.stack, &plan, out)?;
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

/// Writes a saved plan (owner-only) that remembers its stack file, variables
/// and state location. Refuses to overwrite a file the stack reads or the state.
fn save_plan(g: &GlobalArgs, session: &Session, stack_arg: &str, plan: &Plan, out: &Path) -> Result<(), CliError> {
    let sensitive = &session.stack.sensitive_vars;
    let public = |vars: &[(String, String)]| -> Vec<(String, String)> {
        vars.iter().filter(|(k, _)| !sensitive.contains_key(k)).cloned().collect()
    };
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let out_abs = absolute(out);
    let state = session.backend.location();
    let protected = session.sources.files().iter().map(|f| absolute(&f.path)).chain([PathBuf::from(&state.location)]);
    for p in protected {
        if p == out_abs {
            return Err(CliError::msg(format!(
                "refusing to write the plan over {}, which this stack uses",
                out.display()
            ))
            .hint("choose another file for -o, e.g. `-o change.plan`"));
        }
    }
    let body = SavedPlanBody {
        stack_path: absolute(&crate::config::resolve_stack_path(stack_arg)),
        vars: public(&session.load_options.vars),
        sensitive_vars: session.stack.sensitive_vars.iter().map(|(k, v)| (k.clone(), SaltedHash::new(v))).collect(),
        env_vars: public(&session.load_options.env_vars),
        var_files: session.load_options.var_files.iter().map(|p| absolute(p)).collect(),
        env: session.load_options.env.clone(),
        region: g.region.clone(),
        state,
        plan: plan.clone(),
    };
    let text = saved::encode(&body).map_err(|e| CliError::msg(e.to_string()))?;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(out)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    };
    write().map_err(|e| CliError::msg(format!("writing {}: {e}", out.display())))
}
