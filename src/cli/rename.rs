//! The warning after `[stack] name` was renamed: the new name has no state
//! file, and the state directory holds the old name's.

use std::path::Path;

use crate::addr::ResourceAddr;
use crate::config::Stack;
use crate::state::StateFile;
use crate::ui::Ui;

/// A state file that most likely belonged to this stack under another name.
#[derive(Debug, PartialEq, Eq)]
pub struct Renamed {
    /// File name within the state directory.
    pub file: String,
    /// The `stack` the file records.
    pub old_name: String,
    pub resources: usize,
}

/// Among `others` (file name, contents) of the state directory, the one
/// state file of another stack name whose resources this stack declares,
/// every one of them. Pure. `None` unless exactly one file qualifies:
/// unreadable files, empty states and partial overlaps do not count, so the
/// warning only shows when the rename is the likely story.
pub fn renamed_from(
    name: &str,
    declared: &dyn Fn(&ResourceAddr) -> bool,
    others: &[(String, String)],
) -> Option<Renamed> {
    let mut found = others.iter().filter_map(|(file, text)| {
        let state = StateFile::from_json(text, file).ok()?;
        let all_declared = !state.resources.is_empty() && state.resources.keys().all(declared);
        (state.stack != name && all_declared).then(|| Renamed {
            file: file.clone(),
            old_name: state.stack,
            resources: state.resources.len(),
        })
    });
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// When `state_path` (the default `state/NAME.json`) does not exist, warns
/// if another state file beside it looks like this stack's under its old
/// name. Reads the directory only; unreadable entries are skipped.
pub fn warn_if_renamed(ui: Ui, stack: &Stack, state_path: &Path) {
    if state_path.exists() {
        return;
    }
    let Some(dir) = state_path.parent() else { return };
    let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir }) else {
        return;
    };
    let others: Vec<(String, String)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| Some((e.file_name().to_str()?.to_owned(), std::fs::read_to_string(e.path()).ok()?)))
        .collect();
    let Some(r) = renamed_from(&stack.name, &|a| stack.resources.contains_key(a), &others) else { return };
    let old = dir.join(&r.file);
    ui.warn(
        &format!(
            "no state for stack `{}` at {}, but {} records stack `{}` with {} resource{}, all declared \
             by this stack; was `[stack] name` renamed?\nStack `{}` starts from empty state: its plan creates \
             everything again, and leaves the objects of `{}` alone.",
            stack.name,
            crate::diag::display_path(state_path),
            crate::diag::display_path(&old),
            r.old_name,
            r.resources,
            if r.resources == 1 { "" } else { "s" },
            stack.name,
            r.old_name
        ),
        &[format!(
            "to keep managing them under the new name, move the state over: `pgstack state rename-stack {} {}`",
            stack.name,
            crate::diag::display_path(&old)
        )],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(stack: &str, addrs: &[&str]) -> String {
        let mut s = StateFile::new(stack);
        for a in addrs {
            let addr: ResourceAddr = a.parse().unwrap();
            s.resources.insert(
                addr.clone(),
                crate::state::ResourceState {
                    address: addr.clone(),
                    rtype: addr.rtype.clone(),
                    region: "us-east-1".into(),
                    status: crate::state::Status::Ready,
                    id: Some("id-1".into()),
                    attributes: Default::default(),
                    dependencies: vec![],
                    deposed: vec![],
                },
            );
        }
        s.to_json().unwrap()
    }

    fn find(others: &[(&str, String)]) -> Option<Renamed> {
        let declared = |a: &ResourceAddr| ["vpc.main", "subnet.db[\"a\"]"].contains(&a.to_string().as_str());
        let others: Vec<(String, String)> = others.iter().map(|(f, t)| ((*f).to_owned(), t.clone())).collect();
        renamed_from("new", &declared, &others)
    }

    #[test]
    fn finds_the_one_state_whose_resources_this_stack_declares() {
        let old = ("old.json", state("old", &["vpc.main", "subnet.db[\"a\"]"]));
        let other = ("other.json", state("other", &["vpc.main", "kms_key.x"]));
        let empty = ("empty.json", state("empty", &[]));
        let junk = ("junk.json", "{ not state".to_owned());
        assert_eq!(
            find(&[old.clone(), other.clone(), empty, junk]),
            Some(Renamed { file: "old.json".into(), old_name: "old".into(), resources: 2 })
        );
        assert_eq!(find(&[other]), None, "a stack that manages more is another stack");
        let twin = ("twin.json", state("twin", &["vpc.main"]));
        assert_eq!(find(&[old, twin]), None, "two candidates: no guess");
        assert_eq!(find(&[("self.json", state("new", &["vpc.main"]))]), None, "its own name is not a rename");
    }
}
