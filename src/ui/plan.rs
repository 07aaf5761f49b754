//! Human rendering of plans and drift, in the shape Terraform users know:
//! one block per resource, `+ ~ - -/+` markers, `before -> after`,
//! `# forces replacement`, `(known after apply)`, and a summary line.
//! Addresses, values, ids and notes are escaped ([`super::safe`]); the
//! Markdown table also escapes `|` and backticks.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::plan::{Action, AttrChange, Drift, Plan, ResourceChange};
use crate::value::{Attrs, Value};

use super::{Style, safe, safe_display as esc};

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
            esc(&c.address),
            safe(c.id.as_deref().unwrap_or("?"))
        );
    }
    if !adopted.is_empty() {
        out.push('\n');
    }
    for c in plan.changes.iter().filter(|c| c.action == Action::NoOp) {
        for note in &c.notes {
            let _ = writeln!(out, "{} {}: {}", style.cyan("note:"), esc(&c.address), safe(note));
        }
    }
    for m in &plan.moved {
        let _ = writeln!(out, "  {}", style.bold(&format!("# {} has moved to {}", esc(&m.from), esc(&m.to))));
    }
    for i in &plan.imported {
        let _ =
            writeln!(out, "  {}", style.bold(&format!("# {} will be imported (id {})", esc(&i.address), safe(&i.id))));
    }
    if !plan.moved.is_empty() || !plan.imported.is_empty() {
        out.push('\n');
    }
    let state_only = state_only_summary(plan);
    let changing: Vec<_> = plan.changes.iter().filter(|c| c.action != Action::NoOp || !c.deposed.is_empty()).collect();
    if changing.is_empty() && !state_only.is_empty() {
        let _ = writeln!(out, "{} {}; no object changes.", style.bold("Plan:"), state_only.trim_start_matches(", "));
        return out;
    }
    if changing.is_empty() {
        out.push_str(&style.green("No changes."));
        out.push_str(" Your infrastructure matches the configuration.\n");
        return out;
    }
    out.push_str("pgstack will perform the following actions:\n\n");
    for c in changing {
        if c.action != Action::NoOp {
            out.push_str(&render_change(c, style));
            out.push('\n');
        }
        for id in &c.deposed {
            let _ = writeln!(
                out,
                "  {}\n{} {} ({}) {{}}\n",
                style.bold(&format!("# {} (deposed object {}) will be destroyed", esc(&c.address), safe(id))),
                style.red("  -"),
                esc(&c.address),
                safe(id)
            );
        }
    }
    let s = plan.summary();
    let _ = writeln!(
        out,
        "{} {} to add, {} to change, {} to destroy{state_only}.",
        style.bold("Plan:"),
        s.add,
        s.change,
        s.destroy
    );
    let guarded: Vec<String> = plan.changes.iter().filter(|c| c.guarded).map(|c| esc(&c.address)).collect();
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
            let _ = writeln!(out, "  {} = {}", safe(k), esc(v));
        }
    }
    out
}

/// The state-only part of a plan's summary: `, N to import, N moved` (empty when neither).
fn state_only_summary(plan: &Plan) -> String {
    let mut out = String::new();
    if !plan.imported.is_empty() {
        let _ = write!(out, ", {} to import", plan.imported.len());
    }
    if !plan.moved.is_empty() {
        let _ = write!(out, ", {} moved", plan.moved.len());
    }
    out
}

/// One resource block.
pub fn render_change(c: &ResourceChange, style: Style) -> String {
    let mut out = String::new();
    let (marker, verb, paint): (&str, &str, fn(&Style, &str) -> String) = match c.action {
        Action::Create => ("  +", "will be created", Style::green),
        Action::Update => ("  ~", "will be updated in-place", Style::yellow),
        Action::Replace if c.create_before_destroy => {
            ("+/-", "must be replaced (create replacement and then destroy)", Style::red)
        }
        Action::Replace => ("-/+", "must be replaced", Style::red),
        Action::Delete => ("  -", "will be destroyed", Style::red),
        Action::NoOp => ("   ", "is unchanged", Style::bold),
    };
    let address = esc(&c.address);
    let _ = writeln!(out, "  {} {verb}", style.bold(&format!("# {address}")));
    if c.guarded {
        let _ = writeln!(
            out,
            "  {}",
            style.red(&format!("# DATA LOSS: destroys {}; needs --allow-destroy '{address}'", safe(&c.rtype)))
        );
    }
    for note in &c.notes {
        let _ = writeln!(out, "  {}", style.cyan(&format!("# note: {}", safe(note))));
    }
    let _ = writeln!(out, "{} {address} {{", paint(&style, marker));
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
                let _ = writeln!(out, "      {} {:width$} = (known after apply)", style.yellow("~"), safe(k));
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
        let _ = writeln!(out, "      {} {:width$} = {}", paint(&style, sign), safe(k), multiline(v, 8));
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
    let name = safe(&ch.name);
    match (&ch.before, &ch.after) {
        (Value::Map(b), Value::Map(a)) => {
            let _ = writeln!(out, "      {} {name:width$} = {{{note}", style.yellow("~"));
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            let kw = keys.iter().map(|k| key(k).len()).max().unwrap_or(0);
            for k in keys {
                match (b.get(k), a.get(k)) {
                    (Some(x), Some(y)) if x == y => {}
                    (Some(x), Some(y)) => {
                        let _ =
                            writeln!(out, "          {} {:kw$} = {} -> {}", style.yellow("~"), key(k), esc(x), esc(y));
                    }
                    (None, Some(y)) => {
                        let _ = writeln!(out, "          {} {:kw$} = {}", style.green("+"), key(k), esc(y));
                    }
                    (Some(x), None) => {
                        let _ = writeln!(out, "          {} {:kw$} = {}", style.red("-"), key(k), esc(x));
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
            let before = if before.is_null() { "null".to_owned() } else { esc(before) };
            let _ = writeln!(out, "      {} {name:width$} = {before} -> {}{note}", style.yellow("~"), esc(after));
        }
    }
    out
}

/// Inline for scalars and short values; one field per line for tables in lists.
fn multiline(v: &Value, indent: usize) -> String {
    let inline = esc(v);
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

/// A table key as written in TOML: bare when it can be, quoted (and so
/// escaped) otherwise.
fn key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(crate::addr::is_ident_char) { k.to_owned() } else { format!("{k:?}") }
}

/// Objects changed outside pgstack.
pub fn render_drift(drift: &[Drift], style: Style) -> String {
    let mut out = format!("{}\n\n", style.bold("Objects changed outside pgstack since the last apply:"));
    for d in drift {
        match &d.changes {
            None => {
                let _ = writeln!(out, "  {} {} was deleted outside pgstack", style.red("-"), esc(&d.address));
            }
            Some(changes) => {
                let _ = writeln!(out, "  {} {} {{", style.yellow("~"), esc(&d.address));
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

/// `s` as a Markdown code span that stays inside one GFM table cell:
/// controls escaped (so no line break), `|` escaped (GFM honours `\|` even
/// inside code spans), and a backtick fence longer than any backtick run in
/// `s`, padded when `s` starts or ends with a backtick.
pub(super) fn md_code(s: &str) -> String {
    let s = safe(s).replace('|', "\\|");
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{s}{pad}{fence}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::addr::ResourceAddr;

    pub(crate) fn change(
        action: Action,
        before: Option<Attrs>,
        after: Option<Attrs>,
        changes: Vec<AttrChange>,
    ) -> ResourceChange {
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
            create_before_destroy: false,
            deposed: vec![],
            timeouts: Default::default(),
        }
    }

    pub(crate) fn plan(changes: Vec<ResourceChange>) -> Plan {
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
            source: Default::default(),
            destroy: false,
            moved: Vec::new(),
            imported: Vec::new(),
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
    fn a_replacement_created_first_and_deposed_objects_are_shown_and_counted() {
        let attrs: Attrs = [("description".to_string(), Value::str("k"))].into();
        let mut cbd = change(Action::Replace, Some(attrs.clone()), Some(attrs.clone()), vec![]);
        cbd.create_before_destroy = true;
        let mut leftover = change(Action::NoOp, Some(attrs.clone()), Some(attrs), vec![]);
        leftover.address = ResourceAddr::new("kms_key", "old");
        leftover.deposed = vec!["key-0".into()];
        let text = render(&plan(vec![cbd, leftover]), Style { color: false });
        assert!(text.contains("+/- kms_key.db {"), "{text}");
        assert!(text.contains("create replacement and then destroy"), "{text}");
        assert!(text.contains("# kms_key.old (deposed object key-0) will be destroyed"), "{text}");
        assert!(text.contains("1 to add, 0 to change, 2 to destroy"), "{text}");
    }

    pub(crate) fn hostile_tags() -> Value {
        Value::Map(
            [
                ("Evil".to_owned(), Value::str("\u{1b}[31mred\u{7}")),
                ("Pipe".to_owned(), Value::str("a|b`c")),
                ("\u{1b}]0;k\u{7}".to_owned(), Value::str("v\r\nw")),
            ]
            .into(),
        )
    }

    pub(crate) fn assert_no_controls(text: &str) {
        let bad: Vec<char> = text.chars().filter(|c| c.is_control() && *c != '\n').collect();
        assert!(bad.is_empty(), "{bad:?} in\n{text}");
    }

    #[test]
    fn input_in_plan_text_is_escaped() {
        let after: Attrs = [("tags".to_string(), hostile_tags())].into();
        let create = change(Action::Create, None, Some(after), vec![]);
        let mut update = change(
            Action::Update,
            Some(Attrs::new()),
            Some(Attrs::new()),
            vec![AttrChange {
                name: "tags".into(),
                before: Value::Map([("Evil".to_owned(), Value::str("calm"))].into()),
                after: hostile_tags(),
                forces_replacement: false,
            }],
        );
        update.address = ResourceAddr::new("kms_key", "logs");
        update.notes = vec!["AWS says \u{1b}[2J".into()];
        let text = render(&plan(vec![create, update]), Style { color: false });
        assert_no_controls(&text);
        insta::assert_snapshot!(text);
    }

    #[test]
    fn md_code_fences_backticks_and_escapes_pipes() {
        assert_eq!(md_code("vpc.main"), "`vpc.main`");
        assert_eq!(md_code("a|b`c"), "``a\\|b`c``");
        assert_eq!(md_code("`x``"), "``` `x`` ```");
        assert_eq!(md_code("l1\nl2"), "`l1\\nl2`");
    }

    #[test]
    fn renders_no_changes() {
        assert!(render(&plan(vec![]), Style { color: false }).starts_with("No changes."));
    }
}
