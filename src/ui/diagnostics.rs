//! Renders diagnostics with `file:line:column`, the source line, a caret
//! underline and hints. Paths, source lines and messages are escaped
//! ([`super::safe`]); the caret stays under the escaped text.

use std::fmt::Write;

use crate::diag::{Diagnostic, Diagnostics, Severity, SourceMap};

use super::{Style, safe, safe_lines};

/// Renders every diagnostic, then a count line when there are errors.
pub fn render(sources: &SourceMap, diags: &Diagnostics, style: Style) -> String {
    let mut out = String::new();
    for d in &diags.0 {
        out.push_str(&render_one(sources, d, style));
        out.push('\n');
    }
    let errors = diags.0.iter().filter(|d| d.severity == Severity::Error).count();
    if errors > 0 {
        let _ = writeln!(out, "{}", style.red(&format!("{errors} error{} found", if errors == 1 { "" } else { "s" })));
    }
    out
}

fn render_one(sources: &SourceMap, d: &Diagnostic, style: Style) -> String {
    render_coded(sources, d, None, style)
}

/// One diagnostic; a `code` (a check rule id) is shown as `error[CODE]`.
pub fn render_coded(sources: &SourceMap, d: &Diagnostic, code: Option<&str>, style: Style) -> String {
    let mut out = String::new();
    let code = code.map(|c| format!("[{}]", safe(c))).unwrap_or_default();
    let label = match d.severity {
        Severity::Error => style.red(&format!("error{code}")),
        Severity::Warning => style.yellow(&format!("warning{code}")),
    };
    match d.span.as_ref().filter(|s| sources.contains(s)) {
        Some(span) => {
            let _ =
                writeln!(out, "{label}: {}: {}", safe(&sources.location(span)), style.bold(&safe_lines(&d.summary)));
            let file = sources.get(span.file);
            let (line, col) = sources.line_col(span.file, span.range.start);
            let text = file.text.lines().nth(line - 1).unwrap_or_default();
            let gutter = line.to_string().len();
            let end_col = if span.range.end > span.range.start {
                let (end_line, end_col) = sources.line_col(span.file, span.range.end);
                if end_line == line { end_col } else { text.chars().count() + 1 }
            } else {
                col + 1
            };
            let escaped_len = |skip: usize, take: usize| {
                safe(&text.chars().skip(skip).take(take).collect::<String>()).chars().count()
            };
            let pad = escaped_len(0, col - 1);
            let width = escaped_len(col - 1, end_col.saturating_sub(col)).max(1);
            let _ = writeln!(out, "{:gutter$} |", "");
            let _ = writeln!(out, "{line} | {}", safe(text));
            let _ = writeln!(out, "{:gutter$} | {}{}", "", " ".repeat(pad), style.red(&"^".repeat(width)));
        }
        None => {
            let _ = writeln!(out, "{label}: {}", style.bold(&safe_lines(&d.summary)));
        }
    }
    if let Some(detail) = &d.detail {
        for l in detail.lines() {
            let _ = writeln!(out, "  {}", safe(l));
        }
    }
    for h in &d.hints {
        let _ = writeln!(out, "  {}: {}", style.cyan("hint"), safe_lines(h));
    }
    out
}

/// Diagnostics as JSON for editors and CI: each with its severity, message,
/// hints, and where it is (`file`, `start` and `end` as 1-based line and
/// column), when it has a place. No source text is quoted.
pub fn json(sources: &SourceMap, diags: &Diagnostics) -> serde_json::Value {
    let items: Vec<serde_json::Value> = diags
        .0
        .iter()
        .map(|d| {
            let place = d.span.as_ref().filter(|s| sources.contains(s)).map(|span| {
                let (line, column) = sources.line_col(span.file, span.range.start);
                let (end_line, end_column) = sources.line_col(span.file, span.range.end);
                serde_json::json!({
                    "file": sources.get(span.file).display_path,
                    "start": { "line": line, "column": column },
                    "end": { "line": end_line, "column": end_column },
                })
            });
            serde_json::json!({
                "severity": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "message": d.summary,
                "detail": d.detail,
                "hints": d.hints,
                "range": place,
            })
        })
        .collect();
    serde_json::Value::Array(items)
}
