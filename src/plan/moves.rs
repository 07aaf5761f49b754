//! What the stack's `[[moved]]` blocks do to a state, before it is
//! refreshed and planned (and the record of what its `[[import]]` blocks
//! add to it, [`Import`], which the CLI reads from AWS): each entry at a `from` (or under a block `from`)
//! takes its new address, chains followed to their end. The AWS object is
//! kept; its ownership tags, which name the address, change in place in the
//! plan that follows like any other difference. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::addr::ResourceAddr;
use crate::config::Moved;
use crate::state::StateFile;

/// One state entry moved: where it was, where it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    pub from: ResourceAddr,
    pub to: ResourceAddr,
}

/// An object an `[[import]]` block brings into the state at `address`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    pub address: ResourceAddr,
    pub id: String,
}

/// A move that cannot be made: its destination already has an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot move `{}` to `{}`: the state already holds `{}`", .0.from, .0.to, .0.to)]
pub struct MoveConflict(pub Box<Move>);

/// The address `moved` gives `addr`, if it moves it: the instance itself,
/// or an instance of a moved block, which keeps its key.
fn destination(moved: &Moved, addr: &ResourceAddr) -> Option<ResourceAddr> {
    if moved.from.key.is_some() || !moved.from.matches(addr) {
        return (moved.from == *addr).then(|| moved.to.clone());
    }
    Some(ResourceAddr { key: addr.key.clone(), ..moved.to.clone() })
}

/// Moves the entries of `state` as `moved` says, following chains (`a` to
/// `b`, then `b` to `c`: `a` ends at `c`); returns each entry moved, from its
/// first address to its last. A `from` the state does not hold is no move.
/// Dependencies recorded on other entries follow their targets. On a
/// conflict nothing is moved.
pub fn apply_moves(moved: &[Moved], state: &mut StateFile) -> Result<Vec<Move>, MoveConflict> {
    if moved.is_empty() {
        return Ok(Vec::new());
    }
    // Each entry's final address, chains followed (the loader refuses loops;
    // the bound stops one anyway).
    let mut renamed: BTreeMap<ResourceAddr, ResourceAddr> = BTreeMap::new();
    for addr in state.resources.keys() {
        let mut at = addr.clone();
        for _ in 0..=moved.len() {
            match moved.iter().find_map(|m| destination(m, &at)) {
                Some(next) => at = next,
                None => break,
            }
        }
        if at != *addr {
            renamed.insert(addr.clone(), at);
        }
    }
    let mut taken: BTreeMap<&ResourceAddr, &ResourceAddr> = BTreeMap::new();
    for (from, to) in &renamed {
        let stays = state.resources.contains_key(to) && !renamed.contains_key(to);
        if stays || taken.insert(to, from).is_some() {
            return Err(MoveConflict(Box::new(Move { from: from.clone(), to: to.clone() })));
        }
    }
    let entries = std::mem::take(&mut state.resources);
    state.resources = entries
        .into_iter()
        .map(|(addr, mut r)| {
            let addr = renamed.get(&addr).cloned().unwrap_or(addr);
            r.address = addr.clone();
            for d in &mut r.dependencies {
                if let Some(to) = renamed.get(d) {
                    *d = to.clone();
                }
            }
            (addr, r)
        })
        .collect();
    Ok(renamed.into_iter().map(|(from, to)| Move { from, to }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Span;
    use crate::state::{ResourceState, Status};

    fn a(s: &str) -> ResourceAddr {
        s.parse().unwrap()
    }

    fn mv(from: &str, to: &str) -> Moved {
        Moved { from: a(from), to: a(to), from_span: Span::default(), to_span: Span::default() }
    }

    fn state(entries: &[(&str, &[&str])]) -> StateFile {
        let mut s = StateFile::new("t");
        for (addr, deps) in entries {
            s.resources.insert(
                a(addr),
                ResourceState {
                    address: a(addr),
                    rtype: a(addr).rtype,
                    region: "us-east-1".into(),
                    status: Status::Ready,
                    id: Some(format!("id-{addr}")),
                    attributes: Default::default(),
                    dependencies: deps.iter().map(|d| a(d)).collect(),
                    deposed: Vec::new(),
                },
            );
        }
        s
    }

    #[test]
    fn an_instance_moves_into_a_module_with_its_id_and_dependents() {
        let mut s = state(&[("vpc.main", &[]), ("subnet.a", &["vpc.main"])]);
        let moves = apply_moves(&[mv("vpc.main", "module.net.vpc.main")], &mut s).unwrap();
        assert_eq!(moves, [Move { from: a("vpc.main"), to: a("module.net.vpc.main") }]);
        let moved = &s.resources[&a("module.net.vpc.main")];
        assert_eq!((moved.address.clone(), moved.id.as_deref()), (a("module.net.vpc.main"), Some("id-vpc.main")));
        assert_eq!(s.resources[&a("subnet.a")].dependencies, [a("module.net.vpc.main")]);
        assert!(!s.resources.contains_key(&a("vpc.main")));
    }

    #[test]
    fn a_block_moves_every_instance_keeping_keys_and_chains_end_at_their_last_address() {
        let mut s = state(&[("subnet.db[\"a\"]", &[]), ("subnet.db[\"b\"]", &[]), ("vpc.old", &[])]);
        let moves = apply_moves(
            &[
                mv("module.net.subnet.private", "module.net.subnet.db"),
                mv("subnet.db", "module.net.subnet.private"),
                mv("vpc.old", "vpc.mid"),
                mv("vpc.mid", "vpc.new"),
            ],
            &mut s,
        )
        .unwrap();
        let to: Vec<String> = moves.iter().map(|m| m.to.to_string()).collect();
        assert_eq!(to, ["module.net.subnet.db[\"a\"]", "module.net.subnet.db[\"b\"]", "vpc.new"]);
        assert_eq!(moves[2].from, a("vpc.old"), "a chain is one move from its first address");
    }

    #[test]
    fn a_from_not_in_state_is_no_move_and_a_taken_destination_moves_nothing() {
        let mut s = state(&[("vpc.main", &[])]);
        assert_eq!(apply_moves(&[mv("vpc.gone", "vpc.other")], &mut s).unwrap(), []);
        let mut s = state(&[("vpc.a", &[]), ("vpc.b", &[])]);
        let before = s.clone();
        let err = apply_moves(&[mv("vpc.a", "vpc.b")], &mut s).unwrap_err();
        assert_eq!(*err.0, Move { from: a("vpc.a"), to: a("vpc.b") });
        assert_eq!(s, before);
        // Two entries onto one address.
        let mut s = state(&[("vpc.a", &[]), ("vpc.b", &[])]);
        assert!(apply_moves(&[mv("vpc.a", "vpc.c"), mv("vpc.b", "vpc.c")], &mut s).is_err());
    }
}
