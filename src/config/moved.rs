//! `[[moved]]` blocks of a stack file: a resource (an instance, or a whole
//! block with every instance) renamed or moved into or out of a module
//! keeps its AWS object. The plan moves the state entry (src/plan/moves.rs);
//! the ownership tags follow as an in-place change.
//!
//! Checked here, at load: `from` and `to` are addresses of one type, both
//! instances or both blocks; `from` is no longer declared; the end of each
//! chain (`a` to `b`, `b` to `c`) is declared; no address is moved twice;
//! no chain loops.

use std::collections::{BTreeMap, BTreeSet};

use crate::addr::ResourceAddr;
use crate::diag::{Diagnostic, Span};

use super::load::Loader;
use super::model::Moved;
use super::parse::{Entry, NodeKind};

impl Loader<'_> {
    /// The `[[moved]]` list of the stack file, each move's addresses parsed
    /// and checked against each other (not yet against the resources).
    pub(super) fn moved_blocks(&mut self, e: Option<&Entry>) -> Vec<Moved> {
        let Some(e) = e else { return Vec::new() };
        let NodeKind::Array(items) = &e.value.kind else {
            self.diags.push(
                Diagnostic::error("`moved` must be a list of tables")
                    .at(e.value.span.clone())
                    .hint("write each move as [[moved]] with `from` and `to`"),
            );
            return Vec::new();
        };
        let mut out: Vec<Moved> = Vec::new();
        for item in items {
            let Some(fields) = item.as_table() else {
                self.diags.push(Diagnostic::error("a [[moved]] entry must be a table").at(item.span.clone()));
                continue;
            };
            self.unknown_keys(fields, &["from", "to"], "[[moved]]");
            let from = self.moved_addr(fields, "from", &item.span);
            let to = self.moved_addr(fields, "to", &item.span);
            let (Some((from, from_span)), Some((to, to_span))) = (from, to) else { continue };
            if let Some(problem) = pair_problem(&from, &to) {
                self.diags.push(Diagnostic::error(problem).at(to_span.clone()));
                continue;
            }
            if let Some(earlier) = out.iter().find(|m| m.from == from) {
                let d = Diagnostic::error(format!("`{from}` is moved twice (also to `{}`)", earlier.to));
                self.diags
                    .push(d.at(from_span.clone()).hint("an address moves once; chain moves with a second `from`"));
                continue;
            }
            out.push(Moved { from, to, from_span, to_span });
        }
        if let Some(m) = out.iter().find(|m| chain_end(&out, m).is_none()) {
            self.diags.push(
                Diagnostic::error(format!("the moves from `{}` go round in a loop", m.from))
                    .at(m.to_span.clone())
                    .hint("each chain of moves must end at an address no move leaves"),
            );
            return Vec::new();
        }
        out
    }

    /// `from` or `to` of one move: a literal string that is an address.
    fn moved_addr(&mut self, fields: &[Entry], key: &str, item: &Span) -> Option<(ResourceAddr, Span)> {
        let Some(f) = fields.iter().find(|f| f.key == key) else {
            self.diags.push(
                Diagnostic::error(format!("[[moved]] needs `{key}`"))
                    .at(item.clone())
                    .hint("e.g. from = \"vpc.main\", to = \"module.network.vpc.main\""),
            );
            return None;
        };
        let Some(text) = f.value.as_str().filter(|_| f.value.find_template().is_none()) else {
            self.diags.push(
                Diagnostic::error(format!("`{key}` of [[moved]] must be an address written out, like \"vpc.main\""))
                    .at(f.value.span.clone()),
            );
            return None;
        };
        match text.parse::<ResourceAddr>() {
            Ok(a) => Some((a, f.value.span.clone())),
            Err(e) => {
                self.diags.push(Diagnostic::error(format!("`{key}` is not an address: {e}")).at(f.value.span.clone()));
                None
            }
        }
    }

    /// Checks the moves against the declared resources: a `from` still
    /// declared, and the end of a chain declared nowhere, are errors.
    pub(super) fn check_moves(&mut self, moved: &[Moved], declared: &BTreeSet<ResourceAddr>) {
        let is_declared = |a: &ResourceAddr| declared.iter().any(|d| a.matches(d));
        for m in moved {
            if is_declared(&m.from) {
                self.diags.push(
                    Diagnostic::error(format!("`{}` is moved but still declared", m.from))
                        .at(m.from_span.clone())
                        .hint("remove or rename its block: the move gives its object to the new address"),
                );
            }
            let ends_chain = !moved.iter().any(|n| n.from == m.to);
            if ends_chain && !is_declared(&m.to) {
                let d = Diagnostic::error(format!("`{}` is declared nowhere in the stack", m.to)).at(m.to_span.clone());
                self.diags.push(d.hint("a move must end at a resource the stack declares"));
            }
        }
    }
}

/// Why `from` cannot move to `to`, if it cannot.
fn pair_problem(from: &ResourceAddr, to: &ResourceAddr) -> Option<String> {
    if from == to {
        return Some(format!("`{from}` is moved to itself"));
    }
    if from.rtype != to.rtype {
        return Some(format!(
            "a move cannot change the type ({} to {}): the object is another kind of thing",
            from.rtype, to.rtype
        ));
    }
    if from.key.is_some() != to.key.is_some() {
        return Some(format!("`{from}` and `{to}` must both be instances (with [\"KEY\"]) or both whole blocks"));
    }
    None
}

/// Where the chain of moves that starts with `m` ends; `None` when it loops.
fn chain_end<'a>(moved: &'a [Moved], m: &'a Moved) -> Option<&'a ResourceAddr> {
    let next: BTreeMap<&ResourceAddr, &ResourceAddr> = moved.iter().map(|m| (&m.from, &m.to)).collect();
    let mut at = &m.to;
    for _ in 0..=moved.len() {
        match next.get(at) {
            Some(n) => at = n,
            None => return Some(at),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> ResourceAddr {
        s.parse().unwrap()
    }

    fn mv(from: &str, to: &str) -> Moved {
        Moved { from: a(from), to: a(to), from_span: Span::default(), to_span: Span::default() }
    }

    #[test]
    fn pairs_of_one_type_and_kind_only() {
        assert_eq!(pair_problem(&a("vpc.a"), &a("module.net.vpc.a")), None);
        assert!(pair_problem(&a("vpc.a"), &a("vpc.a")).is_some());
        assert!(pair_problem(&a("vpc.a"), &a("subnet.a")).is_some());
        assert!(pair_problem(&a("subnet.a[\"x\"]"), &a("subnet.b")).is_some());
        assert_eq!(pair_problem(&a("subnet.a[\"x\"]"), &a("subnet.b[\"y\"]")), None);
    }

    #[test]
    fn chains_end_or_loop() {
        let chain = [mv("vpc.a", "vpc.b"), mv("vpc.b", "vpc.c")];
        assert_eq!(chain_end(&chain, &chain[0]), Some(&a("vpc.c")));
        let loop_ = [mv("vpc.a", "vpc.b"), mv("vpc.b", "vpc.a")];
        assert_eq!(chain_end(&loop_, &loop_[0]), None);
    }
}
