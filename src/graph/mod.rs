//! The resource dependency DAG (petgraph), built from references and
//! `depends_on`. Edges point from a dependency to its dependent, so a
//! topological order is a valid creation order.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::addr::ResourceAddr;
use crate::config::Stack;
use crate::diag::{Diagnostic, Diagnostics, Span};

/// The dependency graph of a stack's resource instances.
pub struct ResourceGraph {
    pub graph: DiGraph<ResourceAddr, ()>,
    pub index: BTreeMap<ResourceAddr, NodeIndex>,
}

/// The direct dependencies of one instance: sorted by address, each once,
/// with the span that introduced it first. A short sorted list, not a map:
/// most instances have one or two, and a stack holds one per instance.
pub type Deps = Vec<(ResourceAddr, Span)>;

/// Direct dependencies of every instance: referenced instances (a splat or a
/// block address means all its instances) plus `depends_on`, each with the
/// span that introduced it.
pub fn dependencies(stack: &Stack) -> BTreeMap<ResourceAddr, Deps> {
    let instances = instances_by_block(stack);
    let mut out = BTreeMap::new();
    for (addr, rc) in &stack.resources {
        let mut deps: Deps = Vec::new();
        let mut add = |target: &ResourceAddr, span: &Span| {
            let candidates = instances.get(&target.resource()).map(Vec::as_slice).unwrap_or_default();
            for candidate in candidates.iter().filter(|c| target.matches(c)) {
                deps.push(((*candidate).clone(), span.clone()));
            }
        };
        for expr in rc.attrs.values() {
            for r in expr.refs() {
                add(&r.target, &r.span);
            }
        }
        for d in &rc.depends_on {
            add(d, &rc.span);
        }
        // Stable: the first span of an address stays.
        deps.sort_by(|a, b| a.0.cmp(&b.0));
        deps.dedup_by(|later, first| later.0 == first.0);
        deps.shrink_to_fit();
        out.insert(addr.clone(), deps);
    }
    out
}

/// Whether `deps` holds `addr`.
pub fn depends_on(deps: &Deps, addr: &ResourceAddr) -> bool {
    deps.binary_search_by(|(a, _)| a.cmp(addr)).is_ok()
}

/// Instance addresses grouped by their resource block address.
pub fn instances_by_block(stack: &Stack) -> BTreeMap<ResourceAddr, Vec<&ResourceAddr>> {
    let mut map: BTreeMap<ResourceAddr, Vec<&ResourceAddr>> = BTreeMap::new();
    for a in stack.resources.keys() {
        map.entry(a.resource()).or_default().push(a);
    }
    map
}

impl ResourceGraph {
    /// Builds the graph; a cycle is an error naming its path.
    pub fn build(stack: &Stack) -> Result<ResourceGraph, Diagnostics> {
        Self::build_with(stack, &dependencies(stack))
    }

    /// [`Self::build`] from the stack's [`dependencies`], for a caller that
    /// keeps them too.
    pub fn build_with(stack: &Stack, deps: &BTreeMap<ResourceAddr, Deps>) -> Result<ResourceGraph, Diagnostics> {
        let mut graph = DiGraph::new();
        let index: BTreeMap<_, _> = stack.resources.keys().map(|a| (a.clone(), graph.add_node(a.clone()))).collect();
        for (addr, ds) in deps {
            for (dep, _) in ds {
                graph.add_edge(index[dep], index[addr], ());
            }
        }
        let g = ResourceGraph { graph, index };
        let diags = g.cycles(deps);
        if diags.has_errors() { Err(diags) } else { Ok(g) }
    }

    /// One diagnostic per cycle, showing the path `a -> b -> a`.
    fn cycles(&self, deps: &BTreeMap<ResourceAddr, Deps>) -> Diagnostics {
        let mut diags = Diagnostics::default();
        for scc in tarjan_scc(&self.graph) {
            let members: BTreeSet<&ResourceAddr> = scc.iter().map(|i| &self.graph[*i]).collect();
            let first = *members.iter().next().expect("an SCC is never empty");
            let self_loop = deps.get(first).is_some_and(|d| depends_on(d, first));
            if members.len() < 2 && !self_loop {
                continue;
            }
            // Walk dependencies inside the component until we return to the start.
            let mut path = vec![first.clone()];
            let mut seen = BTreeSet::from([first.clone()]);
            let mut at = first.clone();
            loop {
                let next = deps[&at]
                    .iter()
                    .map(|(d, _)| d)
                    .find(|d| members.contains(d) && (!seen.contains(*d) || *d == first));
                match next {
                    Some(n) if n == first => {
                        path.push(n.clone());
                        break;
                    }
                    Some(n) => {
                        seen.insert(n.clone());
                        path.push(n.clone());
                        at = n.clone();
                    }
                    None => break,
                }
            }
            let to = &path[1.min(path.len() - 1)];
            let span = deps[first].iter().find(|(d, _)| *d == *to).map(|(_, s)| s.clone());
            let shown: Vec<String> = path.iter().map(ToString::to_string).collect();
            diags.push(
                Diagnostic::error(format!("dependency cycle: {}", shown.join(" -> ")))
                    .at_opt(span)
                    .hint("break the cycle by removing one of these references or depends_on entries"),
            );
        }
        diags
    }

    /// Graphviz DOT.
    pub fn to_dot(&self) -> String {
        let mut s = String::from("digraph pgstack {\n  rankdir = \"RL\";\n  node [shape = box];\n");
        for a in self.index.keys() {
            s.push_str(&format!("  {:?};\n", a.to_string()));
        }
        for e in self.sorted_edges() {
            s.push_str(&format!("  {:?} -> {:?};\n", e.1.to_string(), e.0.to_string()));
        }
        s.push_str("}\n");
        s
    }

    /// Mermaid flowchart; arrows point from a resource to what it depends on.
    pub fn to_mermaid(&self) -> String {
        let ids: BTreeMap<&ResourceAddr, String> =
            self.index.keys().enumerate().map(|(i, a)| (a, format!("n{i}"))).collect();
        let mut s = String::from("flowchart RL\n");
        for (a, id) in &ids {
            s.push_str(&format!("  {id}[\"{}\"]\n", a.to_string().replace('"', "#quot;")));
        }
        for (dep, dependent) in self.sorted_edges() {
            s.push_str(&format!("  {} --> {}\n", ids[&dependent], ids[&dep]));
        }
        s
    }

    /// (dependency, dependent) pairs in a stable order.
    fn sorted_edges(&self) -> Vec<(ResourceAddr, ResourceAddr)> {
        let mut edges: Vec<_> = self
            .graph
            .edge_indices()
            .filter_map(|e| self.graph.edge_endpoints(e))
            .map(|(a, b)| (self.graph[a].clone(), self.graph[b].clone()))
            .collect();
        edges.sort();
        edges
    }
}
