//! Commands about where state lives: `force-unlock`, `state push`, `state pull`.

use std::path::Path;
use std::process::ExitCode;

use super::session::Session;
use super::{CliError, CliResult, GlobalArgs};
use crate::state::local::LocalBackend;
use crate::state::{Holder, StateBackend, StateError, StateFile, check_replace};
use crate::ui::{Ui, safe};

/// `pgstack force-unlock STACK LOCK_ID`: removes a lock left by a run that
/// is gone, after showing its holder and asking (unless `auto_approve`).
/// Only the lock LOCK_ID names is removed: a run's lock by its id, or a
/// lock object pgstack cannot read by its ETag. Every field of the lock is
/// shown escaped.
pub async fn force_unlock(g: &GlobalArgs, ui: Ui, stack: &str, lock_id: &str, auto_approve: bool) -> CliResult {
    let session = Session::open(g, ui, stack)?;
    let holder = session.backend.lock_holder().await?;
    let given = safe(lock_id);
    // Another lock, or none: force_unlock below refuses with the details.
    if let Some(holder) = holder.filter(|h| h.named_by(lock_id)) {
        let held = match &holder {
            Holder::Run(info) => {
                format!("Lock {given} on {} is held by {}.", session.backend.describe(), info.describe())
            }
            Holder::Unreadable(lock) => {
                format!("The state in {} is locked by {}.", session.backend.describe(), lock.describe())
            }
        };
        ui.out(&format!(
            "{held}\nRemoving it lets another run change the stack. If a run holding it is still alive it goes on \
             changing AWS, but the state it writes from now on is refused.\n"
        ));
        if !auto_approve {
            let hint = "make sure no run holds it any more, then run again with --force (or --auto-approve)";
            super::apply::confirm_or(ui, "Remove this lock?", hint)?;
        }
    }
    let removed = match session.backend.force_unlock(lock_id).await {
        Ok(removed) => removed,
        Err(StateError::OtherLockObject { lock, given }) => {
            let command = session.force_unlock_command(lock.etag_token());
            return Err(CliError::msg(StateError::OtherLockObject { lock, given }.to_string())
                .hint(format!(
                    "force-unlock removes a lock object pgstack cannot read only by its current ETag: if no pgstack run is using the stack, run {command}"
                ))
                .hint("nothing was changed"));
        }
        Err(e) => return Err(e.into()),
    };
    ui.out(&match removed {
        Holder::Run(info) => format!(
            "Removed lock {given} of {} (pid {}, `{}`). The stack can be changed again.\n",
            safe(&info.who),
            info.pid,
            safe(&info.operation)
        ),
        Holder::Unreadable(lock) => format!(
            "Removed the lock object {} (ETag {}). The stack can be changed again.\n",
            safe(&lock.path),
            safe(lock.etag_token())
        ),
    });
    Ok(ExitCode::SUCCESS)
}

/// Reads a state file given on the command line, refusing one of another stack.
fn read_state_file(session: &Session, file: &Path) -> Result<StateFile, CliError> {
    let shown = crate::diag::display_path(file);
    let text = std::fs::read_to_string(file).map_err(|e| CliError::msg(format!("reading {shown}: {e}")))?;
    let state = StateFile::from_json(&text, &shown).map_err(|e| match e {
        // Not the stack's own file: no backup beside it to restore.
        StateError::Corrupt { .. } => CliError::msg(e.to_string())
            .hint(format!(
                "push a state file as pgstack writes it (`pgstack state pull STACK -o FILE` writes one); {shown} was not pushed"
            ))
            .hint("nothing was changed"),
        e => e.into(),
    })?;
    state.check_stack(&session.stack.name, &shown)?;
    Ok(state)
}

/// `pgstack state push STACK FILE`: FILE becomes the stack's stored state,
/// unless the stored one is of another lineage or newer.
pub async fn push(session: &Session, file: &Path) -> Result<(), CliError> {
    let incoming = read_state_file(session, file)?;
    let (ui, backend) = (session.ui, &session.backend);
    let shown = crate::diag::display_path(file);
    session
        .locked("state push", async || {
            let stored = backend.load().await?;
            if !check_replace(stored.as_ref(), &incoming, &backend.describe())? {
                ui.out(&format!(
                    "{} already holds this state (serial {}); nothing was pushed.\n",
                    backend.describe(),
                    incoming.serial
                ));
                return Ok(());
            }
            backend.check_writable().await?;
            backend.write(&incoming).await?;
            ui.out(&format!(
                "Pushed {shown} (serial {}, lineage {}) to {}.\n",
                incoming.serial,
                incoming.lineage,
                backend.describe()
            ));
            if backend.location().backend != "local" {
                move_local_aside(session, &backend.describe()).await?;
            }
            Ok(())
        })
        .await
}

/// After the state went to `destination`, moves the stack's local state file
/// (if it holds this stack's state) aside with a note naming where the state
/// went, so that no later run or saved plan writes the old file.
async fn move_local_aside(session: &Session, destination: &str) -> Result<(), CliError> {
    let ui = session.ui;
    let path = super::session::local_state_path(&session.stack);
    let local = LocalBackend::new(path.clone());
    let shown = crate::diag::display_path(&path);
    match local.load().await {
        Ok(Some(state)) if state.stack == session.stack.name => {}
        _ => {
            ui.out(&format!("The stack reads its state from {destination} now.\n"));
            return Ok(());
        }
    }
    let aside = local.move_aside(destination)?;
    ui.out(&format!(
        "The stack reads its state from {destination} now. Its local state file {shown} was moved to {} and a note \
         left in its place: runs and saved plans that still use {shown} are refused, naming {destination}.\n",
        crate::diag::display_path(&aside)
    ));
    Ok(())
}

/// `pgstack state pull STACK [-o FILE]`: the stored state as JSON on
/// stdout, or written to FILE (atomically, owner-only, the previous content
/// kept as `FILE.backup`) unless FILE is a file pgstack uses or anything but
/// a copy of a state ([`super::output::checked_target`]), or holds a state of
/// another stack or lineage, or a newer one.
pub async fn pull(session: &Session, out: Option<&Path>) -> Result<(), CliError> {
    let name = &session.stack.name;
    let Some(state) = session.backend.load().await? else {
        return Err(CliError::msg(format!("stack `{name}` has no state in {}", session.backend.describe()))
            .hint("nothing was written"));
    };
    state.check_stack(name, &session.backend.describe())?;
    let Some(out) = out else {
        session.ui.out(&format!("{}\n", state.to_json()?));
        return Ok(());
    };
    // A file pgstack uses, or anything but an older copy of a state, is refused.
    let real = super::output::checked_target(session, out, super::output::Written::StateCopy)?;
    let target = LocalBackend::new(real);
    let existing = target.load().await?;
    if let Some(existing) = &existing {
        existing.check_stack(name, &target.describe())?;
    }
    if !check_replace(existing.as_ref(), &state, &target.describe())? {
        session.ui.out(&format!("{} already holds this state (serial {}).\n", target.describe(), state.serial));
        return Ok(());
    }
    target.write(&state).await?;
    session.ui.out(&format!(
        "Wrote the state of `{name}` from {} (serial {}) to {}.\n",
        session.backend.describe(),
        state.serial,
        target.describe()
    ));
    Ok(())
}
