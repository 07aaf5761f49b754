//! Human rendering of plans and drift, in the shape Terraform users know:
//! one block per resource, `+ ~ - -/+` markers, `before -> after`,
//! `# forces replacement`, `(known after apply)`, and a summary line.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::plan::{Action, AttrChange, Drift, Plan, ResourceChange};
use crate::value::{Attrs, Value};

use super::Style;

/// The full plan text.
pub fn render(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    if !plan.drift.is_empty() {
        out.push_str(&render_drift(&plan.drift, style));
        out.push('\n');
    }
    let adopted: Vec<_> = plan.changes.iter().filter(|c| c.adopted).collect();
    for c in &adopted {
        let _ = writeln!(
            out,
            "{} {} ({}) was created by an interrupted run; it will be adopted, not created again.",
            style.cyan("note:"),
            c.address,
            c.id.as_deref().unwrap_or("?")
        );
    }
    if !adopted.is_empty() {
        out.push('\n');
    }
    for c in plan.changes.iter().filter(|c| c.action == Action::NoOp) {
        for note in &c.notes {
            let _ = writeln!(out, "{} {}: {note}", style.cyan("note:"), c.address);
        }
    }
    let changing: Vec<_> = plan.changes.iter().filter(|c| c.action != Action::NoOp).collect();
    if changing.is_empty() {
        out.push_str(&style.green("No changes."));
        out.push_str(" Your infrastructure matches the configuration.\n");
        return out;
    }
    out.push_str("pgstack will perform the following actions:\n\n");
    for c in changing {
        out.push_str(&render_change(c, style));
        out.push('\n');
    }
    let s = plan.summary();
    let _ =
        writeln!(out, "{} {} to add, {} to change, {} to destroy.", style.bold("Plan:"), s.add, s.change, s.destroy);
    let guarded: Vec<String> = plan.changes.iter().filter(|c| c.guarded).map(|c| c.address.to_string()).collect();
    if !guarded.is_empty() {
        let _ = writeln!(
            out,
            "\n{} this plan destroys data-bearing resources: {}.\n  apply refuses unless each is named: {}",
            style.red("WARNING:"),
            guarded.join(", "),
            guarded.iter().map(|g| format!("--allow-destroy '{g}'")).collect::<Vec<_>>().join(" ")
        );
    }
    if !plan.outputs.is_empty() && !plan.destroy {
        out.push_str("\nOutputs after apply:\n");
        for (k, v) in &plan.outputs {
            let _ = writeln!(out, "  {k} = {v}");
        }
    }
    out
}

/// One resource block.
pub fn render_change(c: &ResourceChange, style: Style) -> String {
    let mut out = String::new();
    let (marker, verb, paint): (&str, &str, fn(&Style, &str) -> String) = match c.action {
        Action::Create => ("  +", "will be created", Style::green),
        Action::Update => ("  ~", "will be updated in-place", Style::yellow),
        Action::Replace => ("-/+", "must be replaced", Style::red),
        Action::Delete => ("  -", "will be destroyed", Style::red),
        Action::NoOp => ("   ", "is unchanged", Style::bold),
    };
    let _ = writeln!(out, "  {} {verb}", style.bold(&format!("# {}", c.address)));
    if c.guarded {
        let _ = writeln!(
            out,
            "  {}",
            style.red(&format!("# DATA LOSS: destroys {}; needs --allow-destroy '{}'", c.rtype, c.address))
        );
    }
    for note in &c.notes {
        let _ = writeln!(out, "  {}", style.cyan(&format!("# note: {note}")));
    }
    let _ = writeln!(out, "{} {} {{", paint(&style, marker), c.address);
    let empty = Attrs::new();
    match c.action {
        Action::Create => attr_lines(&mut out, c.after.as_ref().unwrap_or(&empty), "+", style),
        Action::Delete => attr_lines(&mut out, c.before.as_ref().unwrap_or(&empty), "-", style),
        Action::Update | Action::Replace => {
            let width = c.changes.iter().map(|ch| ch.name.len()).max().unwrap_or(0).max(2);
            if let Some(id) = &c.id {
                let _ = writeln!(out, "        {:width$} = {:?}", "id", id);
            }
            for ch in &c.changes {
                out.push_str(&change_lines(ch, width, style));
            }
            let changed: BTreeSet<&str> = c.changes.iter().map(|ch| ch.name.as_str()).collect();
            let unknown: Vec<&String> = c
                .after
                .iter()
                .flatten()
                .filter(|(k, v)| v.is_unknown() && !changed.contains(k.as_str()) && k.as_str() != "id")
                .map(|(k, _)| k)
                .collect();
            for k in unknown {
                let _ = writeln!(out, "      {} {k:width$} = (known after apply)", style.yellow("~"));
            }
        }
        Action::NoOp => {}
    }
    out.push_str("    }\n");
    out
}

fn attr_lines(out: &mut String, attrs: &Attrs, sign: &str, style: Style) {
    let width = attrs.iter().filter(|(_, v)| !is_empty(v)).map(|(k, _)| k.len()).max().unwrap_or(0);
    let paint = if sign == "+" { Style::green } else { Style::red };
    for (k, v) in attrs.iter().filter(|(_, v)| !is_empty(v)) {
        let _ = writeln!(out, "      {} {k:width$} = {}", paint(&style, sign), multiline(v, 8));
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.is_empty(),
        _ => false,
    }
}

/// One changed attribute; lists and tables show element-level changes.
fn change_lines(ch: &AttrChange, width: usize, style: Style) -> String {
    let mut out = String::new();
    let note = if ch.forces_replacement { style.red(" # forces replacement") } else { String::new() };
    let name = &ch.name;
    match (&ch.before, &ch.after) {
        (Value::Map(b), Value::Map(a)) => {
            let _ = writeln!(out, "      {} {name:width$} = {{{note}", style.yellow("~"));
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            let kw = keys.iter().map(|k| key(k).len()).max().unwrap_or(0);
            for k in keys {
                match (b.get(k), a.get(k)) {
                    (Some(x), Some(y)) if x == y => {}
                    (Some(x), Some(y)) => {
                        let _ = writeln!(out, "          {} {:kw$} = {x} -> {y}", style.yellow("~"), key(k));
                    }
                    (None, Some(y)) => {
                        let _ = writeln!(out, "          {} {:kw$} = {y}", style.green("+"), key(k));
                    }
                    (Some(x), None) => {
                        let _ = writeln!(out, "          {} {:kw$} = {x}", style.red("-"), key(k));
                    }
                    (None, None) => {}
                }
            }
            out.push_str("        }\n");
        }
        (Value::List(b), Value::List(a)) => {
            let _ = writeln!(out, "      {} {name:width$} = [{note}", style.yellow("~"));
            let unchanged = b.iter().filter(|x| a.contains(x)).count();
            for x in b.iter().filter(|x| !a.contains(x)) {
                let _ = writeln!(out, "          {} {},", style.red("-"), multiline(x, 12));
            }
            for y in a.iter().filter(|y| !b.contains(y)) {
                let _ = writeln!(out, "          {} {},", style.green("+"), multiline(y, 12));
            }
            if unchanged > 0 {
                let _ = writeln!(
                    out,
                    "            # ({unchanged} unchanged element{} hidden)",
                    if unchanged == 1 { "" } else { "s" }
                );
            }
            out.push_str("        ]\n");
        }
        (before, after) => {
            let before = if before.is_null() { "null".to_owned() } else { before.to_string() };
            let _ = writeln!(out, "      {} {name:width$} = {before} -> {after}{note}", style.yellow("~"));
        }
    }
    out
}

/// Inline for scalars and short values; one field per line for tables in lists.
fn multiline(v: &Value, indent: usize) -> String {
    let inline = v.to_string();
    if inline.len() <= 80 {
        return inline;
    }
    match v {
        Value::Map(m) => {
            let pad = " ".repeat(indent + 4);
            let width = m.keys().map(|k| key(k).len()).max().unwrap_or(0);
            let mut s = String::from("{\n");
            for (k, x) in m {
                let _ = writeln!(s, "{pad}{:width$} = {}", key(k), multiline(x, indent + 4));
            }
            s.push_str(&" ".repeat(indent));
            s.push('}');
            s
        }
        Value::List(l) => {
            let pad = " ".repeat(indent + 4);
            let mut s = String::from("[\n");
            for x in l {
                let _ = writeln!(s, "{pad}{},", multiline(x, indent + 4));
            }
            s.push_str(&" ".repeat(indent));
            s.push(']');
            s
        }
        _ => inline,
    }
}

/// A table key as written in TOML: bare when it can be, quoted otherwise.
fn key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(crate::addr::is_ident_char) { k.to_owned() } else { format!("{k:?}") }
}

/// Objects changed outside pgstack.
pub fn render_drift(drift: &[Drift], style: Style) -> String {
    let mut out = format!("{}\n\n", style.bold("Objects changed outside pgstack since the last apply:"));
    for d in drift {
        match &d.changes {
            None => {
                let _ = writeln!(out, "  {} {} was deleted outside pgstack", style.red("-"), d.address);
            }
            Some(changes) => {
                let _ = writeln!(out, "  {} {} {{", style.yellow("~"), d.address);
                let width = changes.iter().map(|c| c.name.len()).max().unwrap_or(0);
                for c in changes {
                    out.push_str(&change_lines(&AttrChange { forces_replacement: false, ..c.clone() }, width, style));
                }
                out.push_str("    }\n");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::ResourceAddr;

    fn change(action: Action, before: Option<Attrs>, after: Option<Attrs>, changes: Vec<AttrChange>) -> ResourceChange {
        ResourceChange {
            address: ResourceAddr::new("kms_key", "db"),
            rtype: "kms_key".into(),
            region: "us-east-1".into(),
            action,
            id: before.as_ref().map(|_| "key-1".to_owned()),
            before,
            after,
            changes,
            guarded: action.deletes(),
            adopted: false,
            dependencies: vec![],
            notes: vec![],
        }
    }

    fn plan(changes: Vec<ResourceChange>) -> Plan {
        Plan {
            format_version: 1,
            stack: "demo".into(),
            config_digest: "d".into(),
            state_lineage: None,
            state_serial: 0,
            changes,
            forget: vec![],
            drift: vec![],
            outputs: Default::default(),
            destroy: false,
        }
    }

    #[test]
    fn renders_create_update_replace_and_summary() {
        let after: Attrs = [("description".to_string(), Value::str("db key")), ("id".into(), Value::Unknown)].into();
        let create = change(Action::Create, None, Some(after.clone()), vec![]);
        let mut update = change(
            Action::Update,
            Some(after.clone()),
            Some(after.clone()),
            vec![AttrChange {
                name: "description".into(),
                before: "old".into(),
                after: "new".into(),
                forces_replacement: false,
            }],
        );
        update.address = ResourceAddr::new("kms_key", "logs");
        let mut replace = change(
            Action::Replace,
            Some(after.clone()),
            Some(after),
            vec![AttrChange {
                name: "key_usage".into(),
                before: "A".into(),
                after: "B".into(),
                forces_replacement: true,
            }],
        );
        replace.address = ResourceAddr::new("kms_key", "old");
        insta::assert_snapshot!(render(&plan(vec![create, update, replace]), Style { color: false }));
    }

    #[test]
    fn renders_no_changes() {
        assert!(render(&plan(vec![]), Style { color: false }).starts_with("No changes."));
    }
}

/// `drift --format markdown`: a table for CI comments.
pub fn drift_markdown(plan: &Plan) -> String {
    let mut out = format!("## pgstack drift: `{}`\n\n", plan.stack);
    let pending: Vec<_> = plan.changes.iter().filter(|c| c.action != Action::NoOp).collect();
    if plan.drift.is_empty() && pending.is_empty() {
        out.push_str("No drift: AWS matches the state and the configuration.\n");
        return out;
    }
    if !plan.drift.is_empty() {
        out.push_str(
            "### Changed outside pgstack\n\n| Resource | Attribute | Recorded | Actual |\n|---|---|---|---|\n",
        );
        for d in &plan.drift {
            match &d.changes {
                None => {
                    let _ = writeln!(out, "| `{}` | *(deleted)* | | |", d.address);
                }
                Some(ch) => {
                    for c in ch {
                        let _ = writeln!(out, "| `{}` | `{}` | `{}` | `{}` |", d.address, c.name, c.before, c.after);
                    }
                }
            }
        }
        out.push('\n');
    }
    if !pending.is_empty() {
        out.push_str("### Pending changes\n\n| Resource | Action | Attributes |\n|---|---|---|\n");
        for c in pending {
            let names: Vec<&str> = c.changes.iter().map(|x| x.name.as_str()).collect();
            let _ = writeln!(out, "| `{}` | {:?} | {} |", c.address, c.action, names.join(", "));
        }
    }
    out
}
