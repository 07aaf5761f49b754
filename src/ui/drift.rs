//! `drift` output, for one stack or many: text, Markdown (sized for a
//! pull-request comment or `$GITHUB_STEP_SUMMARY`) and JSON
//! (docs/json-format.md). Input-derived strings are escaped as everywhere in
//! `ui`; in Markdown they are code spans ([`md_code`]) or HTML-escaped.

use std::fmt::Write;

use serde_json::{Value as Json, json};

use crate::plan::report::{Claim, DriftReport, Orphan, import_command};
use crate::plan::{AttrChange, Drift, PLAN_FORMAT_VERSION};
use crate::value::Value;

use super::plan::{md_code, render_change, render_drift};
use super::{Style, safe, safe_display as esc, safe_lines};

/// One stack of a `drift` run: what it found, or why it could not look.
pub struct Checked {
    /// The stack as the command line named it (a file or a name), or the
    /// file found in a directory it named.
    pub file: String,
    pub result: Result<DriftReport, Failure>,
}

/// Why one stack could not be checked.
pub struct Failure {
    /// The stack's name, when it was loaded.
    pub stack: Option<String>,
    /// The first error, as one line.
    pub message: String,
    /// `file:line:column` of the first error, when it is in a stack file.
    pub location: Option<String>,
    /// Every diagnostic (source line, caret, hints) or the error with its
    /// hints, as pgstack prints them, without colour.
    pub text: String,
}

/// A stack's outcome in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Clean,
    Drifted,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Clean => "clean",
            Status::Drifted => "drifted",
            Status::Error => "error",
        }
    }
}

impl Checked {
    pub fn status(&self) -> Status {
        match &self.result {
            Ok(r) if r.drifted() => Status::Drifted,
            Ok(_) => Status::Clean,
            Err(_) => Status::Error,
        }
    }

    fn stack(&self) -> Option<&str> {
        match &self.result {
            Ok(r) => Some(&r.plan.stack),
            Err(f) => f.stack.as_deref(),
        }
    }
}

/// Objects changed outside pgstack, orphans, pending changes.
fn counts(r: &DriftReport) -> [usize; 3] {
    [r.plan.drift.len(), r.orphans.len(), r.pending().count()]
}

/// How many stacks have each status.
fn tally(checks: &[Checked]) -> [usize; 3] {
    let n = |s: Status| checks.iter().filter(|c| c.status() == s).count();
    [n(Status::Clean), n(Status::Drifted), n(Status::Error)]
}

const CLEAN: &str =
    "No drift: AWS matches the state and the configuration, and the state holds every object tagged for the stack.";

// ---------------------------------------------------------------- orphans

/// Why an orphan is one and what to do, with `code` quoting input-derived
/// parts for the output format.
fn reason(o: &Orphan, code: &dyn Fn(&str) -> String) -> String {
    let rtype = code(&o.object.rtype);
    match &o.claim {
        Claim::Importable(_) => "not in the state: import it".to_owned(),
        Claim::Undeclared(a) => {
            format!(
                "the stack does not declare {}: declare it, then import it; or delete the object",
                code(&a.to_string())
            )
        }
        Claim::Duplicate { address, managed_id } => format!(
            "a second object tagged as {}, which the state holds as {}: delete it if nothing uses it",
            code(&address.to_string()),
            code(managed_id)
        ),
        Claim::Unaddressed => match &o.object.address_tag {
            None => format!("it has no `pgstack:address` tag: declare a {rtype} for it and import it, or delete it"),
            Some(t) => format!(
                "its `pgstack:address` tag {} is no address of a {rtype}: declare one for it and import it, or delete it",
                code(t)
            ),
        },
    }
}

/// The command that imports the orphan where its tag says, when it has an
/// address of its type that the state does not hold.
fn command(stack_arg: &str, o: &Orphan) -> Option<String> {
    match &o.claim {
        Claim::Importable(a) | Claim::Undeclared(a) => Some(import_command(stack_arg, a, &o.object.id)),
        Claim::Duplicate { .. } | Claim::Unaddressed => None,
    }
}

fn orphans_text(stack_arg: &str, orphans: &[Orphan], style: Style) -> String {
    let mut out = format!("{}\n\n", style.bold("Objects tagged for this stack that its state does not hold:"));
    let quote = |s: &str| format!("`{}`", safe(s));
    for o in orphans {
        let what = format!("{} {} in {}", safe(&o.object.rtype), safe(&o.object.id), safe(&o.object.region));
        match o.address() {
            Some(a) => {
                let _ = writeln!(out, "  {} {} ({what})", style.yellow("?"), esc(a));
            }
            None => {
                let _ = writeln!(out, "  {} {what}", style.yellow("?"));
            }
        }
        let _ = writeln!(out, "      {}", reason(o, &quote));
        if let Some(cmd) = command(stack_arg, o) {
            let _ = writeln!(out, "        {}", safe(&cmd));
        }
    }
    out
}

// ---------------------------------------------------------------- text

/// The text report of one stack.
pub fn text(stack_arg: &str, r: &DriftReport, style: Style) -> String {
    if !r.drifted() {
        return format!("{CLEAN}\n");
    }
    let mut out = String::new();
    if !r.plan.drift.is_empty() {
        out.push_str(&render_drift(&r.plan.drift, style));
        out.push('\n');
    }
    if !r.orphans.is_empty() {
        out.push_str(&orphans_text(stack_arg, &r.orphans, style));
        out.push('\n');
    }
    let pending: Vec<_> = r.pending().collect();
    if !pending.is_empty() {
        out.push_str("Changes needed to match the configuration again:\n\n");
        for c in pending {
            out.push_str(&render_change(c, style));
        }
    }
    out
}

/// The text report of several stacks: a summary line and table, then the
/// report of each stack that drifted or failed.
pub fn text_summary(checks: &[Checked], style: Style) -> String {
    let [clean, drifted, failed] = tally(checks);
    let mut out = format!(
        "{} {} stacks: {clean} clean, {drifted} drifted, {failed} error{}\n\n",
        style.bold("Drift of"),
        checks.len(),
        if failed == 1 { "" } else { "s" }
    );
    let dash = || "-".to_owned();
    let rows: Vec<[String; 6]> = checks
        .iter()
        .map(|c| {
            let name = c.stack().map_or_else(dash, |s| safe(s).into_owned());
            let [d, o, p] = match &c.result {
                Ok(r) => counts(r).map(|n| n.to_string()),
                Err(_) => [dash(), dash(), dash()],
            };
            [name, safe(&c.file).into_owned(), c.status().as_str().to_owned(), d, o, p]
        })
        .collect();
    let head = ["STACK", "FILE", "STATUS", "DRIFTED", "ORPHANS", "PENDING"].map(str::to_owned);
    let width = |i: usize| rows.iter().chain([&head]).map(|r| r[i].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..6).map(width).collect();
    for row in [&head].into_iter().chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let pad = widths[i].saturating_sub(cell.chars().count());
                let padded =
                    if i >= 3 { format!("{}{cell}", " ".repeat(pad)) } else { format!("{cell}{}", " ".repeat(pad)) };
                match (i, cell.as_str()) {
                    (2, "drifted") => style.yellow(&padded),
                    (2, "error") => style.red(&padded),
                    (2, "clean") => style.green(&padded),
                    _ => padded,
                }
            })
            .collect();
        let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
    }
    for c in checks.iter().filter(|c| c.status() != Status::Clean) {
        let name = c.stack().map(|s| format!(" ({})", safe(s))).unwrap_or_default();
        let _ = writeln!(out, "\n{}\n", style.bold(&format!("=== {}{name}: {}", safe(&c.file), c.status().as_str())));
        match &c.result {
            Ok(r) => out.push_str(&text(&c.file, r, style)),
            Err(f) => out.push_str(&safe_lines(&f.text)),
        }
    }
    out
}

// ---------------------------------------------------------------- Markdown

/// Most bytes of Markdown `drift` prints: GitHub takes 65,536 characters in
/// a comment (and shows a job summary of up to 1 MiB); what is left stays
/// below that with room for the truncation note.
pub const MARKDOWN_LIMIT: usize = 60_000;

/// Longest value shown in a Markdown cell, in characters.
const MD_VALUE_LIMIT: usize = 200;

/// A section with more rows than this is collapsed (`<details>`).
const MD_ROWS_OPEN: usize = 10;

/// A value as a Markdown code span, cut after [`MD_VALUE_LIMIT`] characters.
fn md_value(v: &Value) -> String {
    let s = v.to_string();
    let n = s.chars().count();
    if n <= MD_VALUE_LIMIT {
        return md_code(&s);
    }
    let head: String = s.chars().take(MD_VALUE_LIMIT).collect();
    format!("{}… ({} more characters)", md_code(&head), n - MD_VALUE_LIMIT)
}

/// `s` escaped for HTML text, controls escaped first.
fn html(s: &str) -> String {
    safe(s).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The Markdown of one stack's findings as blocks (each cut point of
/// [`fit`] lies between two blocks), under headings of level `h`.
fn md_blocks(stack_arg: &str, r: &DriftReport, h: &str) -> Vec<String> {
    let [d, o, p] = counts(r);
    if !r.drifted() {
        return vec![format!("{CLEAN}\n\n")];
    }
    let mut blocks = vec![format!(
        "**Drifted:** {}, {}, {}.\n\n",
        plural(d, "object changed outside pgstack", "objects changed outside pgstack"),
        plural(o, "orphan", "orphans"),
        plural(p, "pending change", "pending changes")
    )];
    if !r.plan.drift.is_empty() {
        blocks.push(format!("{h} Changed outside pgstack\n\n"));
        blocks.extend(md_drift(&r.plan.drift));
    }
    if !r.orphans.is_empty() {
        blocks.push(format!("{h} Tagged for this stack, not in its state\n\n"));
        let rows = r.orphans.iter().map(|o| {
            let address = o.address().map(|a| md_code(&a.to_string())).unwrap_or_else(|| "*(none)*".to_owned());
            let cmd = command(stack_arg, o).map(|c| format!("<br>{}", md_code(&c))).unwrap_or_default();
            format!(
                "| {address} | {} | {} | {} | {}{cmd} |\n",
                md_code(&o.object.rtype),
                md_code(&o.object.region),
                md_code(&o.object.id),
                reason(o, &md_code)
            )
        });
        blocks.extend(md_table(
            "| Resource | Type | Region | Id | What to do |\n|---|---|---|---|---|\n",
            rows,
            "orphans",
        ));
    }
    let pending: Vec<_> = r.pending().collect();
    if !pending.is_empty() {
        blocks.push(format!("{h} Pending changes\n\n"));
        let rows = pending.iter().map(|c| {
            let names: Vec<String> = c.changes.iter().map(|x| md_code(&x.name)).collect();
            format!("| {} | {:?} | {} |\n", md_code(&c.address.to_string()), c.action, names.join(", "))
        });
        blocks.extend(md_table("| Resource | Action | Attributes |\n|---|---|---|\n", rows, "pending changes"));
    }
    blocks
}

/// A table as blocks: header, one block per row, and the closing blank
/// line; collapsed in one `<details>` (`what` names its rows) when it has
/// more than [`MD_ROWS_OPEN`] rows.
fn md_table(head: &str, rows: impl Iterator<Item = String>, what: &str) -> Vec<String> {
    let rows: Vec<String> = rows.collect();
    let collapsed = rows.len() > MD_ROWS_OPEN;
    let mut blocks = Vec::with_capacity(rows.len() + 2);
    if collapsed {
        blocks.push(format!("<details><summary>{} {what}</summary>\n\n{head}", rows.len()));
    } else {
        blocks.push(head.to_owned());
    }
    blocks.extend(rows);
    blocks.push(if collapsed { "\n</details>\n\n".to_owned() } else { "\n".to_owned() });
    if collapsed {
        // One block: a cut inside would leave `<details>` open.
        return vec![blocks.concat()];
    }
    blocks
}

/// Objects changed outside pgstack: one table, or one `<details>` per
/// object when the table would have more than [`MD_ROWS_OPEN`] rows.
fn md_drift(drift: &[Drift]) -> Vec<String> {
    let row = |c: &AttrChange| format!("{} | {} | {} |", md_code(&c.name), md_value(&c.before), md_value(&c.after));
    let rows: usize = drift.iter().map(|d| d.changes.as_ref().map_or(1, Vec::len)).sum();
    if rows <= MD_ROWS_OPEN {
        let mut blocks = vec!["| Resource | Attribute | Recorded | Actual |\n|---|---|---|---|\n".to_owned()];
        for d in drift {
            let addr = md_code(&d.address.to_string());
            match &d.changes {
                None => blocks.push(format!("| {addr} | *(deleted)* | | |\n")),
                Some(ch) => blocks.extend(ch.iter().map(|c| format!("| {addr} | {}\n", row(c)))),
            }
        }
        blocks.push("\n".to_owned());
        return blocks;
    }
    drift
        .iter()
        .map(|d| {
            let addr = html(&d.address.to_string());
            match &d.changes {
                None => format!("- <code>{addr}</code> was deleted outside pgstack\n\n"),
                Some(ch) => {
                    let mut s = format!(
                        "<details><summary><code>{addr}</code>: {} changed</summary>\n\n| Attribute | Recorded | Actual |\n|---|---|---|\n",
                        plural(ch.len(), "attribute", "attributes")
                    );
                    for c in ch {
                        let _ = writeln!(s, "| {}", row(c));
                    }
                    s.push_str("\n</details>\n\n");
                    s
                }
            }
        })
        .collect()
}

/// The blocks joined while they fit in `limit` bytes; when they do not, a
/// note that says so closes the text in their place.
fn fit(blocks: Vec<String>, limit: usize) -> String {
    let total: usize = blocks.iter().map(String::len).sum();
    let mut out = String::new();
    for b in &blocks {
        if total > limit && out.len() + b.len() + NOTE_ROOM > limit {
            let _ = write!(
                out,
                "\n> **Truncated:** {} more bytes of this report do not fit GitHub's limit of 65,536 characters \
                 for a comment. `pgstack drift --format text` or `--format json` shows all of it.\n",
                total - out.len()
            );
            return out;
        }
        out.push_str(b);
    }
    out
}

/// Bytes kept free for the truncation note.
const NOTE_ROOM: usize = 300;

/// `drift --format markdown` of one stack.
pub fn markdown(stack_arg: &str, r: &DriftReport) -> String {
    let mut blocks = vec![format!("## pgstack drift: {}\n\n", md_code(&r.plan.stack))];
    blocks.extend(md_blocks(stack_arg, r, "###"));
    fit(blocks, MARKDOWN_LIMIT)
}

/// `drift --format markdown` of several stacks: the summary table, then a
/// section per stack that drifted or failed.
pub fn markdown_summary(checks: &[Checked]) -> String {
    let [clean, drifted, failed] = tally(checks);
    let mut head = format!(
        "## pgstack drift: {} stacks: {clean} clean, {drifted} drifted, {}\n\n\
         | Stack | File | Status | Changed outside | Orphans | Pending changes |\n|---|---|---|---|---|---|\n",
        checks.len(),
        plural(failed, "error", "errors")
    );
    for c in checks {
        let name = c.stack().map(md_code).unwrap_or_default();
        let status = match c.status() {
            Status::Clean => "✅ clean",
            Status::Drifted => "⚠️ drifted",
            Status::Error => "❌ error",
        };
        let counts = match &c.result {
            Ok(r) => counts(r).map(|n| n.to_string()).join(" | "),
            Err(_) => " |  | ".to_owned(),
        };
        let _ = writeln!(head, "| {name} | {} | {status} | {counts} |", md_code(&c.file));
    }
    head.push('\n');
    let mut blocks = vec![head];
    for c in checks.iter().filter(|c| c.status() != Status::Clean) {
        let name = c.stack().map(|s| format!(" ({})", md_code(s))).unwrap_or_default();
        blocks.push(format!("### {}{name}: {}\n\n", md_code(&c.file), c.status().as_str()));
        match &c.result {
            Ok(r) => blocks.extend(md_blocks(&c.file, r, "####")),
            Err(f) => blocks.push(md_fenced(&f.text)),
        }
    }
    fit(blocks, MARKDOWN_LIMIT)
}

/// `text` in a fenced code block whose fence is longer than any backtick
/// run inside; controls escaped.
fn md_fenced(text: &str) -> String {
    let text = safe_lines(text);
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{}\n{fence}\n\n", text.trim_end())
}

// ---------------------------------------------------------------- JSON

/// The fields of one checked stack (without `format_version`).
fn json_stack(stack_arg: &str, r: &DriftReport) -> serde_json::Map<String, Json> {
    let [d, o, p] = counts(r);
    let pending: Vec<Json> = super::json::plan(&r.plan)["resource_changes"]
        .as_array()
        .map(|a| a.iter().filter(|c| c["action"] != "no_op").cloned().collect())
        .unwrap_or_default();
    let orphans: Vec<Json> = r
        .orphans
        .iter()
        .map(|o| {
            let (kind, managed_id) = match &o.claim {
                Claim::Importable(_) => ("not_in_state", None),
                Claim::Undeclared(_) => ("undeclared", None),
                Claim::Duplicate { managed_id, .. } => ("duplicate", Some(managed_id)),
                Claim::Unaddressed => ("no_address", None),
            };
            json!({
                "address": o.address().map(ToString::to_string),
                "address_tag": o.object.address_tag,
                "type": o.object.rtype,
                "region": o.object.region,
                "id": o.object.id,
                "reason": kind,
                "managed_id": managed_id,
                "import_command": command(stack_arg, o),
                "hint": reason(o, &|s| format!("`{s}`")),
            })
        })
        .collect();
    let status = if r.drifted() { Status::Drifted } else { Status::Clean };
    let v = json!({
        "stack": r.plan.stack,
        "file": stack_arg,
        "status": status.as_str(),
        "drifted": r.drifted(),
        "counts": { "drift": d, "orphans": o, "pending_changes": p },
        "drift": super::json::drift(&r.plan.drift),
        "orphans": orphans,
        "pending_changes": pending,
    });
    match v {
        Json::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// `drift --format json` of one stack.
pub fn json(stack_arg: &str, r: &DriftReport) -> Json {
    let mut m = serde_json::Map::from_iter([("format_version".to_owned(), json!(PLAN_FORMAT_VERSION))]);
    m.extend(json_stack(stack_arg, r));
    Json::Object(m)
}

/// `drift --format json` of several stacks.
pub fn json_summary(checks: &[Checked]) -> Json {
    let [clean, drifted, failed] = tally(checks);
    let stacks: Vec<Json> = checks
        .iter()
        .map(|c| match &c.result {
            Ok(r) => Json::Object(json_stack(&c.file, r)),
            Err(f) => json!({
                "stack": f.stack,
                "file": c.file,
                "status": Status::Error.as_str(),
                "error": { "message": f.message, "location": f.location, "text": f.text },
            }),
        })
        .collect();
    json!({
        "format_version": PLAN_FORMAT_VERSION,
        "drifted": drifted > 0,
        "failed": failed > 0,
        "summary": { "stacks": checks.len(), "clean": clean, "drifted": drifted, "error": failed },
        "stacks": stacks,
    })
}

/// An error and its hints as pgstack prints them, without colour.
pub fn message_text(message: &str, hints: &[String]) -> String {
    let mut s = format!("error: {}\n", safe_lines(message));
    for h in hints {
        let _ = writeln!(s, "  hint: {}", safe_lines(h));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::ResourceAddr;
    use crate::plan::report::Unrecorded;
    use crate::plan::{Action, AttrChange};
    use crate::ui::plan::tests::{assert_no_controls, change, hostile_tags, plan};

    fn addr(s: &str) -> ResourceAddr {
        s.parse().unwrap()
    }

    fn orphan(rtype: &str, id: &str, tag: Option<&str>, claim: Claim) -> Orphan {
        let object = Unrecorded {
            rtype: rtype.into(),
            region: "us-east-1".into(),
            id: id.into(),
            address_tag: tag.map(Into::into),
        };
        Orphan { object, claim }
    }

    /// One of each kind of orphan.
    fn orphans() -> Vec<Orphan> {
        vec![
            orphan("kms_key", "k-1", Some("kms_key.db"), Claim::Importable(addr("kms_key.db"))),
            orphan(
                "subnet",
                "subnet-2",
                Some("subnet.db[\"a\"]"),
                Claim::Duplicate { address: addr("subnet.db[\"a\"]"), managed_id: "subnet-1".into() },
            ),
            orphan("vpc", "vpc-9", Some("vpc.old"), Claim::Undeclared(addr("vpc.old"))),
            orphan("kms_key", "k-3", None, Claim::Unaddressed),
            orphan("kms_key", "k-4", Some("vpc.main"), Claim::Unaddressed),
        ]
    }

    fn tag_drift(address: ResourceAddr, n: usize) -> Drift {
        let changes = (0..n)
            .map(|i| AttrChange {
                name: format!("attr_{i}"),
                before: Value::str("recorded"),
                after: Value::str("x".repeat(300)),
                forces_replacement: false,
            })
            .collect();
        Drift { address, changes: Some(changes) }
    }

    fn drifted(stack: &str) -> DriftReport {
        let mut p = plan(vec![change(Action::Update, Some(Default::default()), Some(Default::default()), vec![])]);
        p.stack = stack.into();
        p.drift = vec![
            Drift { address: addr("vpc.main"), changes: None },
            Drift {
                address: addr("kms_key.db"),
                changes: Some(vec![AttrChange {
                    name: "description".into(),
                    before: "db key".into(),
                    after: "changed by hand".into(),
                    forces_replacement: false,
                }]),
            },
        ];
        DriftReport { plan: p, orphans: orphans() }
    }

    fn clean(stack: &str) -> DriftReport {
        let mut p = plan(vec![]);
        p.stack = stack.into();
        DriftReport { plan: p, orphans: vec![] }
    }

    fn three() -> Vec<Checked> {
        vec![
            Checked { file: "stacks/dev.toml".into(), result: Ok(clean("dev")) },
            Checked { file: "stacks/prod.toml".into(), result: Ok(drifted("prod")) },
            Checked {
                file: "stacks/broken.toml".into(),
                result: Err(Failure {
                    stack: None,
                    message: "expected a string".into(),
                    location: Some("stacks/broken.toml:6:14".into()),
                    text: "error: stacks/broken.toml:6:14: expected a string\n  |\n6 | cidr_block = 42\n  |              ^^\n"
                        .into(),
                }),
            },
        ]
    }

    const NO_COLOR: Style = Style { color: false };

    #[test]
    fn text_of_one_stack_lists_orphans_with_what_to_do() {
        let text = text("stacks/prod.toml", &drifted("prod"), NO_COLOR);
        assert!(text.contains("pgstack import stacks/prod.toml 'kms_key.db' k-1\n"), "{text}");
        insta::assert_snapshot!(text);
        assert_eq!(super::text("x.toml", &clean("x"), NO_COLOR), format!("{CLEAN}\n"));
    }

    #[test]
    fn text_summary_has_a_row_per_stack_and_sections_for_the_others() {
        insta::assert_snapshot!(text_summary(&three(), NO_COLOR));
    }

    #[test]
    fn markdown_summary_has_a_row_per_stack_and_sections_for_the_others() {
        let md = markdown_summary(&three());
        // Every row of a table has as many cells as its header.
        for table in md.split("\n\n").filter(|b| b.starts_with('|')) {
            let cells: Vec<usize> = table.lines().map(|r| r.replace("\\|", "").matches('|').count()).collect();
            assert!(cells.iter().all(|c| *c == cells[0]), "{table}");
        }
        insta::assert_snapshot!(md);
    }

    #[test]
    fn input_in_drift_markdown_stays_in_its_cell() {
        let mut p = plan(vec![]);
        p.stack = "demo|`x`".into();
        p.drift = vec![Drift {
            address: ResourceAddr::new("vpc", "main").with_key("a|b"),
            changes: Some(vec![AttrChange {
                name: "tags".into(),
                before: Value::Map([("Pipe".to_owned(), Value::str("calm"))].into()),
                after: hostile_tags(),
                forces_replacement: false,
            }]),
        }];
        let hostile = Unrecorded {
            rtype: "vpc".into(),
            region: "us-east-1".into(),
            id: "vpc-`|\u{1b}[2J".into(),
            address_tag: Some("vpc.x|y".into()),
        };
        let md = markdown(
            "st|ack.toml",
            &DriftReport { plan: p, orphans: vec![Orphan { object: hostile, claim: Claim::Unaddressed }] },
        );
        assert_no_controls(&md);
        for row in md.lines().filter(|l| l.starts_with("| `")) {
            let cells = row.replace("\\|", "").matches('|').count();
            assert_eq!(cells, 5 + usize::from(row.contains("vpc-")), "{row}");
        }
        insta::assert_snapshot!(md);
    }

    #[test]
    fn long_markdown_collapses_per_resource_and_stays_under_the_limit() {
        let mut r = clean("big");
        r.plan.drift = (0..4).map(|i| tag_drift(ResourceAddr::new("vpc", format!("v{i}")), 3)).collect();
        let md = markdown("big.toml", &r);
        assert_eq!(md.matches("<details><summary><code>vpc.v").count(), 4, "{md}");
        assert_eq!(md.matches("<details>").count(), md.matches("</details>").count());
        assert!(md.contains("… (102 more characters)"), "values are cut: {md}");

        r.plan.drift = (0..400).map(|i| tag_drift(ResourceAddr::new("vpc", format!("v{i}")), 3)).collect();
        let md = markdown("big.toml", &r);
        assert!(md.len() <= MARKDOWN_LIMIT, "{}", md.len());
        assert!(md.contains("> **Truncated:**"), "{}", &md[md.len() - 400..]);
        assert_eq!(md.matches("<details>").count(), md.matches("</details>").count(), "no block is cut open");
        let small = markdown("big.toml", &drifted("prod"));
        assert!(!small.contains("Truncated") && !small.contains("<details>"), "{small}");
    }

    #[test]
    fn json_of_one_stack_and_of_many() {
        let one = json("stacks/prod.toml", &drifted("prod"));
        assert_eq!(one["format_version"], PLAN_FORMAT_VERSION);
        assert_eq!((one["status"].as_str(), one["drifted"].as_bool()), (Some("drifted"), Some(true)));
        assert_eq!(one["counts"], json!({ "drift": 2, "orphans": 5, "pending_changes": 1 }));
        let o = &one["orphans"][0];
        assert_eq!(
            o,
            &json!({
                "address": "kms_key.db", "address_tag": "kms_key.db", "type": "kms_key", "region": "us-east-1",
                "id": "k-1", "reason": "not_in_state", "managed_id": null,
                "import_command": "pgstack import stacks/prod.toml 'kms_key.db' k-1",
                "hint": "not in the state: import it",
            })
        );
        let reasons: Vec<&str> =
            one["orphans"].as_array().unwrap().iter().map(|o| o["reason"].as_str().unwrap()).collect();
        assert_eq!(reasons, ["not_in_state", "duplicate", "undeclared", "no_address", "no_address"]);
        assert_eq!(one["orphans"][1]["managed_id"], "subnet-1");

        let many = json_summary(&three());
        assert_eq!(many["summary"], json!({ "stacks": 3, "clean": 1, "drifted": 1, "error": 1 }));
        assert_eq!((many["drifted"].as_bool(), many["failed"].as_bool()), (Some(true), Some(true)));
        let mut prod = one.clone();
        prod.as_object_mut().unwrap().remove("format_version");
        assert_eq!(many["stacks"][1], prod, "a stack of many is the single document without its version");
        assert_eq!(many["stacks"][2]["error"]["location"], "stacks/broken.toml:6:14");
        assert_eq!(many["stacks"][2]["status"], "error");
    }
}
