//! `pgstack check` output: text (diagnostics with snippets), JSON
//! (docs/json-format.md) and SARIF 2.1.0 for code-scanning annotations, and
//! the one-line summary `plan` and `apply` print.

use std::fmt::Write as _;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Value as Json, json};

use crate::check::{CHECK_FORMAT_VERSION, Finding, RULES, Report, RuleResult, Status, WaiverState};
use crate::diag::{Diagnostic, Severity, SourceMap, Span};

use super::{Style, safe};

/// `Checks (standard): 30 passed, 0 failed, 2 warnings, 1 waived`.
pub fn summary_line(report: &Report) -> String {
    let s = report.summary();
    format!(
        "Checks ({}): {} passed, {} failed, {} warning{}, {} waived",
        report.profile.name(),
        s.passed,
        s.failed,
        s.warnings,
        if s.warnings == 1 { "" } else { "s" },
        s.waived
    )
}

/// Every failing finding as a diagnostic (errors first), the waivers, with
/// `verbose` every rule's status, and the summary line.
pub fn text(report: &Report, sources: &SourceMap, style: Style, verbose: bool) -> String {
    let mut out = String::new();
    for severity in [Severity::Error, Severity::Warning] {
        for r in report.results.iter().filter(|r| r.status == Status::Failed && r.rule.severity == severity) {
            for f in &r.findings {
                let d = diagnostic(r, f, sources);
                out.push_str(&super::diagnostics::render_coded(sources, &d, Some(r.rule.id), style));
                out.push('\n');
            }
        }
    }
    if !report.waivers.is_empty() {
        out.push_str("Waivers:\n");
        for (w, state) in &report.waivers {
            let covered = report.results.iter().find(|r| r.rule.id == w.rule).map_or(0, |r| r.findings.len());
            let state = match state {
                WaiverState::Active => format!("active until {} ({covered} finding{})", w.until, plural(covered)),
                WaiverState::Unused => format!("until {}, unused: the rule finds nothing", w.until),
                WaiverState::Expired => style.red(&format!("EXPIRED on {}", w.until)),
            };
            let _ = writeln!(
                out,
                "  {} {state}: {} [{}]",
                safe(&w.rule),
                safe(&w.reason),
                safe(&sources.location(&w.span))
            );
        }
        out.push('\n');
    }
    if verbose {
        for r in &report.results {
            let _ = writeln!(out, "  {:<11} {:<14} {}", r.rule.id, r.status.name(), r.rule.title);
        }
        out.push('\n');
    }
    let line = summary_line(report);
    let line = if report.failed_errors().is_empty() { style.green(&line) } else { style.red(&line) };
    let _ = writeln!(out, "{line}");
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A finding as a diagnostic: the module calls and the seed as detail, the
/// fix as hint (the rule id is shown as its code).
fn diagnostic(r: &RuleResult, f: &Finding, sources: &SourceMap) -> Diagnostic {
    let mut detail: Vec<String> =
        f.used_at.iter().map(|at| format!("used by the module at {}", sources.location(at))).collect();
    detail.extend(
        f.module_calls.iter().map(|call| format!("in {} at {}", snippet(sources, call), sources.location(call))),
    );
    detail.push(format!("rule: {}; seed: {}", r.rule.title, r.rule.seed));
    let d = match r.rule.severity {
        Severity::Error => Diagnostic::error(&f.message),
        Severity::Warning => Diagnostic::warning(&f.message),
    };
    d.at_opt(f.span.clone()).detail(detail.join("\n")).hint(r.rule.fix)
}

/// The source text of a span (a `[module.NAME]` header).
fn snippet(sources: &SourceMap, span: &Span) -> String {
    let text = &sources.get(span.file).text;
    text.get(span.range.clone()).unwrap_or_default().to_owned()
}

/// `check --format json`.
pub fn json(report: &Report, sources: &SourceMap) -> Json {
    let s = report.summary();
    json!({
        "format_version": CHECK_FORMAT_VERSION,
        "stack": report.stack,
        "profile": report.profile.name(),
        "profile_source": report.profile_source.name(),
        "passed": report.failed_errors().is_empty(),
        "summary": {
            "passed": s.passed, "failed": s.failed, "warnings": s.warnings,
            "waived": s.waived, "not_applicable": s.not_applicable,
        },
        "rules": report.results.iter().map(|r| json!({
            "id": r.rule.id,
            "severity": severity(r.rule.severity),
            "profiles": if r.rule.standard_only { vec!["standard"] } else { vec!["standard", "lite"] },
            "seed": r.rule.seed,
            "title": r.rule.title,
            "fix": r.rule.fix,
            "status": r.status.name(),
            "findings": r.findings.iter().map(|f| json!({
                "address": f.address,
                "attribute": f.attribute,
                "message": f.message,
                "location": f.span.as_ref().map(|s| location(sources, s)),
                "used_at": f.used_at.as_ref().map(|s| location(sources, s)),
                "module_calls": f.module_calls.iter().map(|s| location(sources, s)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "waivers": report.waivers.iter().map(|(w, state)| json!({
            "rule": w.rule,
            "reason": w.reason,
            "until": w.until,
            "state": state.name(),
            "location": location(sources, &w.span),
        })).collect::<Vec<_>>(),
    })
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn location(sources: &SourceMap, span: &Span) -> Json {
    let (line, column) = sources.line_col(span.file, span.range.start);
    json!({ "file": sources.get(span.file).display_path, "line": line, "column": column })
}

/// The SARIF 2.1.0 schema `check --format sarif` follows.
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// `check --format sarif`: one run; every rule in the driver, every failing
/// or waived finding a result (waived ones with an in-source suppression).
pub fn sarif(report: &Report, sources: &SourceMap) -> Json {
    let rules: Vec<Json> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id,
                "shortDescription": { "text": r.title },
                "fullDescription": { "text": format!("{} (seed: {})", r.title, r.seed) },
                "help": { "text": r.fix },
                "defaultConfiguration": { "level": severity(r.severity) },
                "properties": { "seed": r.seed, "standardOnly": r.standard_only },
            })
        })
        .collect();
    let mut results = Vec::new();
    for r in report.results.iter().filter(|r| matches!(r.status, Status::Failed | Status::Waived)) {
        let index = RULES.iter().position(|x| x.id == r.rule.id).unwrap_or_default();
        let waiver = report.waivers.iter().find(|(w, s)| w.rule == r.rule.id && *s == WaiverState::Active);
        for f in &r.findings {
            let mut result = json!({
                "ruleId": r.rule.id,
                "ruleIndex": index,
                "level": severity(r.rule.severity),
                "message": { "text": format!("{}. Fix: {}", f.message, r.rule.fix) },
                "locations": f.span.as_ref().map(|s| vec![json!({ "physicalLocation": physical(sources, s) })]).unwrap_or_default(),
            });
            let used = f.used_at.iter().map(|s| ("where the module uses the value".to_owned(), s));
            let calls = f.module_calls.iter().map(|s| (format!("module call {}", snippet(sources, s)), s));
            let related: Vec<Json> = used
                .chain(calls)
                .enumerate()
                .map(|(i, (text, s))| {
                    json!({
                        "id": i,
                        "message": { "text": text },
                        "physicalLocation": physical(sources, s),
                    })
                })
                .collect();
            if !related.is_empty() {
                result["relatedLocations"] = Json::Array(related);
            }
            if let Some((w, _)) = waiver {
                result["suppressions"] = json!([{
                    "kind": "inSource",
                    "status": "accepted",
                    "justification": format!("{} (until {})", w.reason, w.until),
                }]);
            }
            results.push(result);
        }
    }
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "pgstack",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": { "stack": report.stack, "profile": report.profile.name() },
        }],
    })
}

/// Characters escaped in SARIF artifact URIs.
const URI_ESCAPED: &AsciiSet =
    &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'%').add(b'<').add(b'>').add(b'?').add(b'`').add(b'{').add(b'}');

fn physical(sources: &SourceMap, span: &Span) -> Json {
    let file = sources.get(span.file);
    let uri = if std::path::Path::new(&file.display_path).is_absolute() {
        format!("file://{}", utf8_percent_encode(&file.display_path, URI_ESCAPED))
    } else {
        utf8_percent_encode(&file.display_path, URI_ESCAPED).to_string()
    };
    let (start_line, start_column) = sources.line_col(span.file, span.range.start);
    let (end_line, end_column) = sources.line_col(span.file, span.range.end.max(span.range.start + 1));
    json!({
        "artifactLocation": { "uri": uri },
        "region": {
            "startLine": start_line, "startColumn": start_column,
            "endLine": end_line, "endColumn": end_column,
        },
    })
}
