//! What `drift` reports for one stack: the report-only plan (drift and
//! pending changes) and the orphans, objects tagged for the stack that its
//! state does not hold. Pure: the AWS listing happened in
//! `engine::orphans::scan`.

use std::collections::BTreeSet;

use crate::addr::ResourceAddr;
use crate::config::Stack;
use crate::state::{StateFile, Status};

use super::{Action, Plan, Refreshed, ResourceChange};

/// An object carrying the stack's `pgstack:stack` tag whose id the state
/// does not record, as the orphan scan found it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unrecorded {
    pub rtype: String,
    pub region: String,
    pub id: String,
    /// Its `pgstack:address` tag, as written on the object.
    pub address_tag: Option<String>,
}

/// What an orphan's `pgstack:address` tag says, measured against the
/// stack and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// An address the stack declares and the state does not hold:
    /// `pgstack import` brings the object under management.
    Importable(ResourceAddr),
    /// An address the state holds with another object (`managed_id`):
    /// this one is a second object with the same tags.
    Duplicate { address: ResourceAddr, managed_id: String },
    /// An address of its type that the stack does not declare.
    Undeclared(ResourceAddr),
    /// No usable address: the tag is missing, is not an address, or names
    /// another type.
    Unaddressed,
}

/// One orphan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub object: Unrecorded,
    pub claim: Claim,
}

impl Orphan {
    /// The address its tag gives it, when that is one of its type.
    pub fn address(&self) -> Option<&ResourceAddr> {
        match &self.claim {
            Claim::Importable(a) | Claim::Undeclared(a) | Claim::Duplicate { address: a, .. } => Some(a),
            Claim::Unaddressed => None,
        }
    }
}

/// What `drift` found for one stack.
#[derive(Debug, Clone)]
pub struct DriftReport {
    /// The report-only plan: `drift` (AWS against state) and `changes`
    /// (what apply would do to match the configuration).
    pub plan: Plan,
    pub orphans: Vec<Orphan>,
}

impl DriftReport {
    /// The plan's changes other than no-ops.
    pub fn pending(&self) -> impl Iterator<Item = &ResourceChange> {
        self.plan.changes.iter().filter(|c| c.action != Action::NoOp)
    }

    /// Anything to report: drift, pending changes or orphans.
    pub fn drifted(&self) -> bool {
        !self.plan.drift.is_empty() || self.pending().next().is_some() || !self.orphans.is_empty()
    }
}

/// The (type, region) pairs the orphan scan lists: each type the stack
/// declares, in the regions it declares it in, and each type the state
/// records, in the regions it records it in.
pub fn scan_scope(stack: &Stack, state: &StateFile) -> BTreeSet<(String, String)> {
    let declared = stack.resources.iter().map(|(a, rc)| (a.rtype.clone(), rc.region.clone()));
    let recorded = state.resources.values().map(|r| (r.rtype.clone(), r.region.clone()));
    declared.chain(recorded).collect()
}

/// The orphans among `found`, each with what its address tag claims,
/// sorted by address (objects without one last), type and id.
/// An address whose interrupted create the refresh adopted counts as held
/// by the adopted object.
pub fn classify(stack: &Stack, refreshed: &Refreshed, found: Vec<Unrecorded>) -> Vec<Orphan> {
    let managed = |a: &ResourceAddr| {
        let r = refreshed.state.resources.get(a)?;
        refreshed.adopted.get(a).or(r.id.as_ref().filter(|_| r.status == Status::Ready)).cloned()
    };
    let mut out: Vec<Orphan> = found
        .into_iter()
        .map(|object| {
            let addr = object.address_tag.as_deref().and_then(|t| t.parse::<ResourceAddr>().ok());
            let claim = match addr.filter(|a| a.rtype == object.rtype) {
                None => Claim::Unaddressed,
                Some(a) => match managed(&a) {
                    Some(managed_id) => Claim::Duplicate { managed_id, address: a },
                    None if stack.resources.contains_key(&a) => Claim::Importable(a),
                    None => Claim::Undeclared(a),
                },
            };
            Orphan { object, claim }
        })
        .collect();
    out.sort_by(|x, y| {
        let key = |o: &Orphan| (o.address().is_none(), o.address().cloned(), o.object.clone());
        key(x).cmp(&key(y))
    });
    out
}

/// The command that imports an orphan at its address, for `stack_arg` (the
/// stack as the user named it); arguments are single-quoted for POSIX
/// shells where they need it.
pub fn import_command(stack_arg: &str, address: &ResourceAddr, id: &str) -> String {
    format!("pgstack import {} {} {}", shell_word(stack_arg), quote(&address.to_string()), shell_word(id))
}

/// `s` as one POSIX shell word: as is when it holds only characters no
/// shell treats specially, single-quoted otherwise.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:@,+=%".contains(c));
    if plain { s.to_owned() } else { quote(s) }
}

/// `s` single-quoted for POSIX shells (`'` written as `'\''`).
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_commands_quote_what_a_shell_would_split() {
        let a: ResourceAddr = "module.net.subnet.db[\"a\"]".parse().unwrap();
        assert_eq!(
            import_command("stacks/prod.toml", &a, "subnet-1"),
            "pgstack import stacks/prod.toml 'module.net.subnet.db[\"a\"]' subnet-1"
        );
        let k: ResourceAddr = "kms_key.db".parse().unwrap();
        assert_eq!(
            import_command("my stacks/it's.toml", &k, "arn:aws:kms:us-east-1:1:key/k"),
            "pgstack import 'my stacks/it'\\''s.toml' 'kms_key.db' arn:aws:kms:us-east-1:1:key/k"
        );
        assert_eq!(shell_word("a$(b)"), "'a$(b)'");
        assert_eq!(shell_word(""), "''");
    }
}
