//! Read-only and state-repair commands: `validate`, `graph`, `output`, `state`.

use std::process::ExitCode;

use super::session::{Session, load, load_options};
use super::{CliError, CliResult, GlobalArgs, GraphFormat, StateCommand};
use crate::graph::ResourceGraph;
use crate::state::{LiveState, StateFile};
use crate::ui::Ui;
use crate::value::Value;

pub fn validate(g: &GlobalArgs, ui: Ui, stack: &str) -> CliResult {
    let (s, sources, _) = load(g, ui, stack, &load_options(g)?)?;
    ResourceGraph::build(&s).map_err(|d| CliError::Diagnostics(sources, d))?;
    ui.out(&format!(
        "{} {} resource{} in stack `{}`.\n",
        ui.style.green("The stack is valid:"),
        s.resources.len(),
        if s.resources.len() == 1 { "" } else { "s" },
        s.name
    ));
    Ok(ExitCode::SUCCESS)
}

/// `validate --json`: the same checks, the result and every diagnostic
/// (warnings included) as JSON on stdout; exit 1 when the stack is invalid.
pub fn validate_json(g: &GlobalArgs, ui: Ui, stack: &str) -> CliResult {
    let path = crate::config::resolve_stack_path(stack);
    let opts = crate::config::LoadOptions { region: g.region.clone(), ..load_options(g)? };
    let registry = crate::provider::Registry::aws();
    let (valid, name, resources, sources, diags) = match crate::config::load(&path, &opts, &registry) {
        Ok(l) => match ResourceGraph::build(&l.stack) {
            Ok(_) => (true, Some(l.stack.name.clone()), l.stack.resources.len(), l.sources, l.warnings),
            Err(d) => (false, Some(l.stack.name.clone()), 0, l.sources, d),
        },
        Err((sources, d)) => (false, None, 0, sources, d),
    };
    let v = serde_json::json!({
        "valid": valid,
        "stack": name,
        "resources": resources,
        "diagnostics": crate::ui::diagnostics::json(&sources, &diags),
    });
    ui.out(&format!("{}\n", serde_json::to_string_pretty(&v).map_err(|e| CliError::msg(e.to_string()))?));
    Ok(if valid { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

pub fn graph(g: &GlobalArgs, ui: Ui, stack: &str, format: GraphFormat) -> CliResult {
    let (s, sources, _) = load(g, ui, stack, &load_options(g)?)?;
    let graph = ResourceGraph::build(&s).map_err(|d| CliError::Diagnostics(sources, d))?;
    ui.out(&match format {
        GraphFormat::Dot => graph.to_dot(),
        GraphFormat::Mermaid => graph.to_mermaid(),
    });
    Ok(ExitCode::SUCCESS)
}

/// How `output` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
    /// One value as it is: no quotes, no newline.
    Raw,
}

pub async fn output(g: &GlobalArgs, ui: Ui, stack: &str, name: Option<&str>, format: OutputFormat) -> CliResult {
    let json = format == OutputFormat::Json;
    let session = Session::open(g, ui, stack)?;
    let state = session.state().await?;
    let sensitive = |k: &str| session.stack.outputs.get(k).is_some_and(|o| o.sensitive);
    if let Some(name) = name {
        let v = state.outputs.get(name).ok_or_else(|| {
            let hint = if sensitive(name) { "it is sensitive and never stored" } else { "has the stack been applied?" };
            CliError::msg(format!("no output `{name}` in state")).hint(hint)
        })?;
        ui.out(&match (format, v) {
            (OutputFormat::Raw, Value::Str(s)) => crate::ui::safe(s).into_owned(),
            (OutputFormat::Raw, v @ (Value::Int(_) | Value::Float(_) | Value::Bool(_))) => v.to_string(),
            (OutputFormat::Raw, v) => {
                return Err(CliError::msg(format!(
                    "`--raw` prints strings, numbers and bools; `{name}` is a {}",
                    v.type_name()
                ))
                .hint("use --json for lists and tables"));
            }
            (OutputFormat::Text, Value::Str(s)) => format!("{s}\n"),
            (OutputFormat::Text, v) => format!("{v}\n"),
            (OutputFormat::Json, v) => format!("{}\n", v.to_json()),
        });
        return Ok(ExitCode::SUCCESS);
    }
    if json {
        // Terraform's shape; sensitive outputs are listed without a value (never stored).
        let mut map = serde_json::Map::new();
        for (k, o) in &session.stack.outputs {
            let value = state.outputs.get(k).filter(|_| !o.sensitive);
            let entry = serde_json::json!({
                "sensitive": o.sensitive,
                "type": value.map_or("unknown", Value::type_name),
                "value": value.map_or(serde_json::Value::Null, Value::to_json),
            });
            map.insert(k.clone(), entry);
        }
        ui.out(&format!("{}\n", serde_json::to_string_pretty(&map).unwrap_or_default()));
    } else {
        for (k, v) in &state.outputs {
            ui.out(&format!("{k} = {v}\n"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn state(g: &GlobalArgs, ui: Ui, cmd: StateCommand) -> CliResult {
    let stack = match &cmd {
        StateCommand::List { stack, .. }
        | StateCommand::Show { stack, .. }
        | StateCommand::Rm { stack, .. }
        | StateCommand::Mv { stack, .. }
        | StateCommand::RenameStack { stack, .. }
        | StateCommand::Push { stack, .. }
        | StateCommand::Pull { stack, .. } => stack,
    };
    let session = Session::open(g, ui, stack)?;
    match cmd {
        StateCommand::List { json: true, .. } => {
            let list: Vec<serde_json::Value> = session
                .state()
                .await?
                .resources
                .values()
                .map(|r| {
                    serde_json::json!({ "address": r.address.to_string(), "type": r.rtype, "region": r.region,
                                        "id": r.id, "status": r.status })
                })
                .collect();
            ui.out(&format!("{}\n", serde_json::to_string_pretty(&list).unwrap_or_default()));
        }
        StateCommand::List { .. } => {
            for (addr, r) in session.state().await?.resources {
                let id = r.id.unwrap_or_else(|| "(create pending)".into());
                ui.out(&format!("{addr}\t{id}\n"));
            }
        }
        StateCommand::Show { addr, .. } => {
            let state = session.state().await?;
            let r = state.resources.get(&addr).ok_or_else(|| CliError::msg(format!("`{addr}` is not in state")))?;
            ui.out(&format!(
                "# {addr}\nid     = {:?}\nregion = {:?}\nstatus = {:?}\n",
                r.id.as_deref().unwrap_or(""),
                r.region,
                r.status
            ));
            for (k, v) in &r.attributes {
                ui.out(&format!("{k} = {v}\n"));
            }
        }
        StateCommand::Rm { addr, .. } => {
            session
                .locked("state rm", async || {
                    let state = session.state().await?;
                    if !state.resources.keys().any(|a| addr.matches(a)) {
                        return Err(CliError::msg(format!("`{addr}` is not in state")));
                    }
                    let live = LiveState::new(state, session.backend.clone());
                    live.commit(|s| s.resources.retain(|a, _| !addr.matches(a))).await?;
                    ui.out(&format!("Removed {addr} from state; the AWS object was left alone.\n"));
                    Ok(())
                })
                .await?;
        }
        StateCommand::Mv { from, to, .. } => {
            session
                .locked("state mv", async || {
                    let state = session.state().await?;
                    if !state.resources.contains_key(&from) {
                        return Err(CliError::msg(format!("`{from}` is not in state")));
                    }
                    if state.resources.contains_key(&to) {
                        return Err(CliError::msg(format!("`{to}` is already in state")));
                    }
                    if from.rtype != to.rtype {
                        return Err(CliError::msg("state mv cannot change a resource's type"));
                    }
                    let live = LiveState::new(state, session.backend.clone());
                    live.commit(|s| {
                        if let Some(mut r) = s.resources.remove(&from) {
                            r.address = to.clone();
                            s.resources.insert(to.clone(), r);
                        }
                    })
                    .await?;
                    ui.out(&format!("Moved {from} to {to}.\n"));
                    Ok(())
                })
                .await?;
        }
        StateCommand::RenameStack { file, .. } => {
            session
                .locked("state rename-stack", async || {
                    let name = &session.stack.name;
                    if session.backend.load().await?.is_some() {
                        return Err(CliError::msg(format!(
                            "stack `{name}` already has state in {}; refusing to replace it",
                            session.backend.describe()
                        )));
                    }
                    let shown = crate::diag::display_path(&file);
                    let text =
                        std::fs::read_to_string(&file).map_err(|e| CliError::msg(format!("reading {shown}: {e}")))?;
                    let mut old = StateFile::from_json(&text, &shown)?;
                    let previous = std::mem::replace(&mut old.stack, name.clone());
                    session.backend.check_writable().await?;
                    LiveState::new(old, session.backend.clone()).commit(|_| ()).await?;
                    let moved = file.with_extension("json.moved");
                    std::fs::rename(&file, &moved).map_err(|e| CliError::msg(format!("renaming {shown}: {e}")))?;
                    ui.out(&format!(
                        "State of `{previous}` is now the state of `{name}` in {} (the old file is kept as {}).\n",
                        session.backend.describe(),
                        crate::diag::display_path(&moved)
                    ));
                    Ok(())
                })
                .await?;
        }
        StateCommand::Push { file, .. } => super::backend::push(&session, &file).await?,
        StateCommand::Pull { out, .. } => super::backend::pull(&session, out.as_deref()).await?,
    }
    Ok(ExitCode::SUCCESS)
}
