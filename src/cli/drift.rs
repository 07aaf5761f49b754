//! `drift`: refresh one stack or many, compare AWS with state and config,
//! and list the objects tagged for each stack that its state does not hold.
//!
//! Read-only: no lock is taken (a running apply neither blocks nor is
//! blocked; it replaces the state file atomically, so drift reads the old or
//! the new one whole), nothing is written, and only Describe/Get/List/Head
//! calls are made. Several stacks run `--parallelism` at a time on one AWS
//! client factory; a stack that fails (a broken file, an AWS error) is a
//! row of the summary, not the end of the run. Exit 1 when any stack
//! failed, else 2 when any drifted, else 0.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use futures::{StreamExt, stream};

use super::session::{Session, report_calls};
use super::{CliError, CliResult, DriftArgs, DriftFormat, GlobalArgs};
use crate::config::resolve_stack_path;
use crate::diag::Severity;
use crate::engine::orphans;
use crate::plan::PlanOptions;
use crate::plan::report::{self, DriftReport};
use crate::provider::aws::{AwsFactory, AwsOptions};
use crate::ui::drift::{Checked, Failure, Status};
use crate::ui::{Style, Ui};

/// How many reads and listings one stack runs at once.
const PARALLELISM: usize = 10;

pub async fn drift(g: &GlobalArgs, ui: Ui, args: DriftArgs) -> CliResult {
    if let [stack] = args.stacks.as_slice()
        && !resolve_stack_path(stack).is_dir()
    {
        return drift_one(ui, g, stack, args.format).await;
    }
    if g.state.is_some() {
        return Err(CliError::msg("--state names the state of one stack; it cannot be used with several")
            .hint("check one stack at a time with --state, or set `[state] path` in each stack"));
    }
    let files = stack_files(&args.stacks)?;
    let aws = Arc::new(AwsFactory::new(AwsOptions {
        profile: g.profile.clone(),
        pause_scale: AwsOptions::pause_scale_from_env(),
        ..AwsOptions::default()
    }));
    let checks: Vec<Checked> = stream::iter(files)
        .map(|file| {
            let aws = aws.clone();
            async move {
                let result = match Session::open(g, ui, &file) {
                    Err(e) => Err(failure(None, e)),
                    Ok(mut session) => {
                        session.aws = aws;
                        let name = session.stack.name.clone();
                        match session.read_data().await {
                            Ok(()) => check(&session).await.map_err(|e| failure(Some(name), e)),
                            Err(e) => Err(failure(Some(name), e)),
                        }
                    }
                };
                Checked { file, result }
            }
        })
        .buffered(usize::from(args.parallelism))
        .collect()
        .await;
    report_calls(ui, &aws);
    match args.format {
        DriftFormat::Text => ui.out(&crate::ui::drift::text_summary(&checks, ui.style)),
        DriftFormat::Json => ui.out(&pretty(&crate::ui::drift::json_summary(&checks))),
        DriftFormat::Markdown => ui.out(&crate::ui::drift::markdown_summary(&checks)),
    }
    if !matches!(args.format, DriftFormat::Text) {
        for c in &checks {
            if let Err(f) = &c.result {
                ui.error(&format!("{}: {}", c.file, f.message), &[]);
            }
        }
    }
    let worst = checks.iter().map(Checked::status).max();
    Ok(match worst {
        Some(Status::Error) => ExitCode::from(1),
        Some(Status::Drifted) => ExitCode::from(2),
        _ => ExitCode::SUCCESS,
    })
}

/// One stack, in the formats `drift STACK` has always printed; an error
/// fails the command.
async fn drift_one(ui: Ui, g: &GlobalArgs, stack: &str, format: DriftFormat) -> CliResult {
    let mut session = Session::open(g, ui, stack)?;
    session.read_data().await?;
    let r = check(&session).await?;
    session.report_calls();
    match format {
        DriftFormat::Text => ui.out(&crate::ui::drift::text(stack, &r, ui.style)),
        DriftFormat::Json => ui.out(&pretty(&crate::ui::drift::json(stack, &r))),
        DriftFormat::Markdown => ui.out(&crate::ui::drift::markdown(stack, &r)),
    }
    Ok(if r.drifted() { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

fn pretty(v: &serde_json::Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default())
}

/// Refresh, the report-only plan, and the orphan scan of one stack.
async fn check(session: &Session) -> Result<DriftReport, CliError> {
    let opts = PlanOptions { report_only: true, ..PlanOptions::default() };
    let refreshed = session.refreshed(true, &opts, PARALLELISM).await?;
    let plan = session.plan_from(&refreshed, &opts).await?;
    let scope = report::scan_scope(&session.stack, &refreshed.state);
    let hook = crate::ui::progress::Progress { ui: session.ui };
    let found = orphans::scan(&refreshed, &scope, &session.registry, session.aws.clone(), PARALLELISM, &hook).await?;
    Ok(DriftReport { plan, orphans: report::classify(&session.stack, &refreshed, found) })
}

/// The stacks the arguments name: each file or name as given, and for each
/// directory the `*.toml` files directly in it, sorted; each file once.
fn stack_files(args: &[String]) -> Result<Vec<String>, CliError> {
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    for arg in args {
        let path = resolve_stack_path(arg);
        let found = if path.is_dir() {
            let read = std::fs::read_dir(&path).map_err(|e| CliError::msg(format!("reading {arg}: {e}")))?;
            let mut files: Vec<PathBuf> = read
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(CliError::msg(format!("directory {arg} holds no *.toml stack files"))
                    .hint("name stack files, or a directory of them (modules are found by the stacks)"));
            }
            files.into_iter().map(|p| (p.clone(), p.display().to_string())).collect()
        } else {
            vec![(path, arg.clone())]
        };
        for (p, shown) in found {
            let key = std::fs::canonicalize(&p).unwrap_or(p);
            if !out.iter().any(|(k, _)| *k == key) {
                out.push((key, shown));
            }
        }
    }
    Ok(out.into_iter().map(|(_, shown)| shown).collect())
}

/// A stack's failure as the summary shows it.
fn failure(stack: Option<String>, e: CliError) -> Failure {
    match e {
        CliError::Diagnostics(sources, diags) => {
            let first = diags.0.iter().find(|d| d.severity == Severity::Error).or(diags.0.first());
            Failure {
                stack,
                message: first.map(|d| d.summary.clone()).unwrap_or_default(),
                location: first.and_then(|d| d.span.as_ref()).map(|s| sources.location(s)),
                text: crate::ui::diagnostics::render(&sources, &diags, Style { color: false }),
            }
        }
        CliError::Message(message, hints) => {
            let text = crate::ui::drift::message_text(&message, &hints);
            Failure { stack, message, location: None, text }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_expand_to_their_stack_files_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("stacks")).unwrap();
        for f in ["b.toml", "a.toml", "notes.md"] {
            std::fs::write(d.join("stacks").join(f), "").unwrap();
        }
        std::fs::create_dir(d.join("stacks/modules.toml")).unwrap();
        let s = |p: &str| d.join(p).display().to_string();
        let got = stack_files(&[s("stacks/b.toml"), s("stacks")]).unwrap();
        assert_eq!(got, vec![s("stacks/b.toml"), s("stacks/a.toml")]);
        std::fs::create_dir(d.join("empty")).unwrap();
        let err = stack_files(&[s("empty")]).err().map(|e| format!("{e:?}")).unwrap_or_default();
        assert!(err.contains("holds no *.toml stack files"), "{err}");
    }
}
