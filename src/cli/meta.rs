//! Commands about pgstack itself: `version` and `completions`.

use std::process::ExitCode;

use clap::CommandFactory;

use super::{Cli, CliError, CliResult};
use crate::ui::Ui;

/// The version of this build and of the files it reads and writes (saved
/// plans, state, `plan --json`).
pub fn version(ui: Ui, json: bool) -> CliResult {
    let (version, saved, state, plan_json) = (
        env!("CARGO_PKG_VERSION"),
        crate::plan::saved::SAVED_PLAN_VERSION,
        crate::state::STATE_VERSION,
        crate::plan::PLAN_FORMAT_VERSION,
    );
    if json {
        let v = serde_json::json!({
            "version": version, "saved_plan_format": saved, "state_format": state, "plan_json_format": plan_json,
        });
        let text = serde_json::to_string_pretty(&v).map_err(|e| CliError::msg(e.to_string()))?;
        ui.out(&format!("{text}\n"));
    } else {
        ui.out(&format!(
            "pgstack {version}\nsaved plans: format {saved}\nstate files: format {state}\nplan --json: format {plan_json}\n"
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// The completion script of `shell`, for every command and flag.
pub fn completions(ui: Ui, shell: clap_complete::Shell) -> CliResult {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "pgstack", &mut script);
    ui.out(&String::from_utf8_lossy(&script));
    Ok(ExitCode::SUCCESS)
}
