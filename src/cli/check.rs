//! `check`, and the checks `plan` summarises and `apply` enforces.

use std::process::ExitCode;

use super::session::{self, Session};
use super::{CheckFormat, CliError, CliResult, GlobalArgs};
use crate::check::{self, Report};
use crate::config::{Profile, Stack};
use crate::diag::SourceMap;
use crate::provider::Registry;
use crate::ui::Ui;

/// `pgstack check STACK`: exit 0 when no rule of error severity fails, 2
/// when some do, 1 on errors.
pub fn check(g: &GlobalArgs, ui: Ui, stack_arg: &str, format: CheckFormat, rules: Option<&str>) -> CliResult {
    // `--profile` is the AWS profile everywhere; `check` makes no AWS calls.
    if let Some(p) = g.profile.as_deref() {
        let hint = match Profile::parse(p) {
            Some(_) => format!("the rule profile is `--rules {p}`"),
            None => format!("the rule profile is `--rules`, one of: {}", Profile::NAMES.join(", ")),
        };
        return Err(
            CliError::msg(format!("`--profile {p}` names an AWS profile, and `check` makes no AWS calls")).hint(hint)
        );
    }
    let profile = match rules {
        None => None,
        Some(p) => Some(Profile::parse(p).ok_or_else(|| {
            CliError::msg(format!("--rules `{p}` is not a check profile"))
                .hint(format!("--rules is one of: {}", Profile::NAMES.join(", ")))
        })?),
    };
    let (stack, sources, registry) = session::load(g, ui, stack_arg, &session::load_options(g)?)?;
    let report = run(&stack, &sources, &registry, profile)?;
    let text = match format {
        CheckFormat::Text => crate::ui::check::text(&report, &sources, ui.style, ui.verbose),
        CheckFormat::Json => json_text(&crate::ui::check::json(&report, &sources)),
        CheckFormat::Sarif => json_text(&crate::ui::check::sarif(&report, &sources)),
    };
    ui.out(&text);
    Ok(if report.failed_errors().is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

fn json_text(v: &serde_json::Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default())
}

/// Runs the checks with today's UTC date; waiver problems are stack errors.
fn run(stack: &Stack, sources: &SourceMap, registry: &Registry, profile: Option<Profile>) -> Result<Report, CliError> {
    check::run(stack, registry, profile, &today()).map_err(|d| CliError::Diagnostics(sources.clone(), d))
}

/// Today's date in UTC, `YYYY-MM-DD`.
fn today() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    now.get(..10).unwrap_or_default().to_owned()
}

/// The stack's checks in its own profile (`plan` prints their summary line).
pub fn run_quiet(session: &Session) -> Result<Report, CliError> {
    run(&session.stack, &session.sources, &session.registry, None)
}

/// Before an apply touches AWS: prints the checks' summary line on stderr and
/// refuses a stack whose error-level rules fail, unless `skip`
/// (`--skip-checks`), which is then said.
pub fn gate(session: &Session, stack_arg: &str, skip: bool) -> Result<(), CliError> {
    let report = run_quiet(session)?;
    session.ui.err(&format!("{}\n", crate::ui::check::summary_line(&report)));
    let failed = report.failed_errors();
    if failed.is_empty() {
        return Ok(());
    }
    let what = format!(
        "{} check rule{} of error severity fail{} the {} profile: {}",
        failed.len(),
        if failed.len() == 1 { "" } else { "s" },
        if failed.len() == 1 { "s" } else { "" },
        report.profile.name(),
        failed.join(", ")
    );
    if skip {
        session.ui.warn(&format!("applying although {what} (--skip-checks)"), &[]);
        return Ok(());
    }
    Err(CliError::msg(format!("refusing to apply: {what}"))
        .hint(format!("`pgstack check {stack_arg}` shows where each fails and how to fix it"))
        .hint(
            "waive a rule in the stack's [check.waive] with a reason and an end date, or run again with --skip-checks",
        )
        .hint("nothing was changed"))
}
