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

/// Direct dependencies of every instance: referenced instances (a splat or a
/// block address means all its instances) plus `depends_on`, each with the
/// span that introduced it.
pub fn dependencies(stack: &Stack) -> BTreeMap<ResourceAddr, BTreeMap<ResourceAddr, Span>> {
    let instances = instances_by_block(stack);
    let mut out = BTreeMap::new();
    for (addr, rc) in &stack.resources {
        let mut deps: BTreeMap<ResourceAddr, Span> = BTreeMap::new();
        let mut add = |target: &ResourceAddr, span: &Span| {
            let candidates = instances.get(&target.resource()).map(Vec::as_slice).unwrap_or_default();
            for candidate in candidates.iter().filter(|c| target.matches(c)) {
                deps.entry((*candidate).clone()).or_insert_with(|| span.clone());
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
        out.insert(addr.clone(), deps);
    }
    out
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
        let deps = dependencies(stack);
        let mut graph = DiGraph::new();
        let index: BTreeMap<_, _> = stack.resources.keys().map(|a| (a.clone(), graph.add_node(a.clone()))).collect();
        for (addr, ds) in &deps {
            for dep in ds.keys() {
                graph.add_edge(index[dep], index[addr], ());
            }
        }
        let g = ResourceGraph { graph, index };
        let diags = g.cycles(&deps);
        if diags.has_errors() { Err(diags) } else { Ok(g) }
    }

    /// One diagnostic per cycle, showing the path `a -> b -> a`.
    fn cycles(&self, deps: &BTreeMap<ResourceAddr, BTreeMap<ResourceAddr, Span>>) -> Diagnostics {
        let mut diags = Diagnostics::default();
        for scc in tarjan_scc(&self.graph) {
            let members: BTreeSet<&ResourceAddr> = scc.iter().map(|i| &self.graph[*i]).collect();
            let first = *members.iter().next().expect("an SCC is never empty");
            let self_loop = deps.get(first).is_some_and(|d| d.contains_key(first));
            if members.len() < 2 && !self_loop {
                continue;
            }
            // Walk dependencies inside the component until we return to the start.
            let mut path = vec![first.clone()];
            let mut seen = BTreeSet::from([first.clone()]);
            let mut at = first.clone();
            loop {
                let next = deps[&at].keys().find(|d| members.contains(d) && (!seen.contains(*d) || *d == first));
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
            let span = deps[first].get(&path[1.min(path.len() - 1)]).cloned();
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
