//! Files written on a user's word (`plan -o`, `state pull -o`): which file a
//! path really names, and which files pgstack refuses to overwrite.
//!
//! Invariant: before anything is written, the target is resolved to the file
//! it really is (links and `..` followed) and refused when it is a file the
//! stack was loaded from, a state, backup, lock or move note of any stack
//! (this stack's wherever it lives; any file with a lock beside it; anything
//! in the project's `state/` directory), or an existing file of another kind
//! than the one being written. The write itself replaces the file whole
//! ([`crate::files::write_atomic`]).

use std::path::{Path, PathBuf};

use super::CliError;
use super::session::Session;
use crate::files::real_path;

/// What is being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// A saved plan (`plan -o`): only a saved plan may be overwritten.
    Plan,
    /// A copy of a state (`state pull -o`): only a copy of a state may be
    /// overwritten (lineage and serial are checked by the caller).
    StateCopy,
}

impl Written {
    fn noun(self) -> &'static str {
        match self {
            Written::Plan => "the plan",
            Written::StateCopy => "the state",
        }
    }
}

/// Suffixes of the files kept beside a local state file.
const STATE_SIBLINGS: &[&str] = &[".backup", ".lock", ".moved", ".moved-to"];

/// The file `out` really names, if `what` may be written there.
pub fn checked_target(session: &Session, out: &Path, what: Written) -> Result<PathBuf, CliError> {
    let shown = crate::diag::display_path(out);
    let real = real_path(out).map_err(|e| {
        CliError::msg(format!("cannot write {} to {shown}: {e}", what.noun())).hint("nothing was written")
    })?;
    let leads = if std::path::absolute(out).ok().as_deref() == Some(real.as_path()) {
        String::new()
    } else {
        format!(" (it leads to {})", real.display())
    };
    let refuse = |why: String| {
        CliError::msg(format!("refusing to write {} to {shown}{leads}: {why}", what.noun()))
            .hint(match what {
                Written::Plan => "choose another file for -o, e.g. `-o change.plan`",
                Written::StateCopy => "choose another file for -o, e.g. `-o prod-state-copy.json`",
            })
            .hint("nothing was written")
    };
    for f in session.sources.files() {
        if real_path(&f.path).ok().as_deref() == Some(real.as_path()) {
            return Err(refuse(format!(
                "it is {}, which this stack was loaded from",
                crate::diag::display_path(&f.path)
            )));
        }
    }
    let own_state = PathBuf::from(session.backend.location().location);
    if session.backend.location().backend == "local" {
        for suffix in std::iter::once("").chain(STATE_SIBLINGS.iter().copied()) {
            if real == sibling(&own_state, suffix) {
                return Err(refuse(format!("it is this stack's state{}", describe_suffix(suffix))));
            }
        }
    }
    let state_dir = super::session::project_state_dir(&session.stack);
    if real.parent().is_some_and(|p| std::fs::canonicalize(&state_dir).ok().as_deref() == Some(p)) {
        return Err(refuse(format!(
            "{} is where this project keeps the state of its stacks",
            crate::diag::display_path(&state_dir)
        )));
    }
    if sibling(&real, ".lock").exists() {
        return Err(refuse("it is a state file pgstack uses (a lock file sits beside it)".into()));
    }
    for suffix in STATE_SIBLINGS {
        let name = real.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if let Some(stem) = name.strip_suffix(suffix).filter(|s| !s.is_empty()) {
            let state = real.with_file_name(stem);
            if state.exists() || sibling(&state, ".lock").exists() {
                return Err(refuse(format!(
                    "it is the {} of the state file {}",
                    describe_suffix(suffix).trim_start_matches(' '),
                    state.display()
                )));
            }
        }
    }
    if real.exists() {
        let text = std::fs::read(&real).map_err(|e| {
            CliError::msg(format!("cannot read {shown}, which -o would overwrite: {e}")).hint("nothing was written")
        })?;
        let found = Content::of(&text);
        let allowed = match what {
            Written::Plan => Content::Plan,
            Written::StateCopy => Content::State,
        };
        if found != allowed {
            return Err(refuse(format!(
                "it exists and holds {}; pgstack overwrites only {} it wrote",
                found.describe(),
                allowed.describe()
            )));
        }
    }
    Ok(real)
}

/// `path` with `suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn describe_suffix(suffix: &str) -> &'static str {
    match suffix {
        ".backup" => " backup",
        ".lock" => " lock file",
        ".moved" => " file moved aside by `state push`",
        ".moved-to" => " note of where `state push` moved it",
        _ => " file",
    }
}

/// What an existing file holds, as far as overwriting it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Plan,
    State,
    Lock,
    Other,
}

impl Content {
    fn of(bytes: &[u8]) -> Content {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else { return Content::Other };
        let has = |k: &str| v.get(k).is_some();
        if has("pgstack_saved_plan") {
            Content::Plan
        } else if has("lineage") && has("serial") && has("stack") {
            Content::State
        } else if has("who") && has("operation") && has("pid") {
            Content::Lock
        } else {
            Content::Other
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Content::Plan => "a saved plan",
            Content::State => "a pgstack state",
            Content::Lock => "a pgstack state lock",
            Content::Other => "something else (not a file pgstack wrote)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_told_apart() {
        assert_eq!(Content::of(br#"{"pgstack_saved_plan": 3, "digest": "x", "body": {}}"#), Content::Plan);
        assert_eq!(
            Content::of(br#"{"version":1,"serial":2,"lineage":"l","stack":"s","resources":[]}"#),
            Content::State
        );
        assert_eq!(Content::of(br#"{"who":"a@b","pid":1,"operation":"apply","since":"t"}"#), Content::Lock);
        assert_eq!(Content::of(b"[stack]\nname = \"prod\"\n"), Content::Other);
        assert_eq!(Content::of(b""), Content::Other);
    }
}
