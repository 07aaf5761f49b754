//! The dependency rule, checked on the source text (docs/design.md, "Dependency rule"):
//! engine and plan never name `provider::aws`, state no `provider` at all
//! (its retries come from the leaf `retry.rs`); the engine's code
//! never names `config` (the plan carries what apply needs); AWS providers
//! never import plan, engine, ui or cli; config imports none of engine,
//! plan, state, ui or cli, and its code sees resource types only through
//! their schemas (`crate::schema`), never the providers; check (pure rules
//! over the loaded stack) likewise; the schemas import nothing of pgstack's
//! but values, addresses and diagnostics. Test files (`*tests.rs`) may
//! build what they test from other modules: only code is held to the
//! `code_only` rules.
//!
//! Every path a file names counts, in code, comments and strings alike:
//! `use` trees are flattened (`crate::provider::{aws::X, Ctx}` names
//! `crate::provider::aws::X`) and `super`/`self` are resolved against the
//! file's module (modules declared inline in a file are not tracked).

use std::path::{Path, PathBuf};

/// Files under `dir` (relative to `src/`) must not name any path starting
/// with one of `forbidden`; a forbidden module of two or more segments is
/// also caught anywhere inside a path (`provider::aws::X` after `use crate::provider`).
struct Rule {
    dir: &'static str,
    forbidden: &'static [&'static str],
    /// Test files under `dir` are not held to this rule.
    code_only: bool,
}

const RULES: &[Rule] = &[
    Rule { dir: "engine", forbidden: &["crate::provider::aws"], code_only: false },
    Rule { dir: "engine", forbidden: &["crate::config"], code_only: true },
    Rule { dir: "plan", forbidden: &["crate::provider::aws"], code_only: false },
    Rule { dir: "state", forbidden: &["crate::provider"], code_only: false },
    Rule {
        dir: "provider/aws",
        forbidden: &["crate::plan", "crate::engine", "crate::ui", "crate::cli"],
        code_only: false,
    },
    Rule {
        dir: "config",
        forbidden: &["crate::engine", "crate::plan", "crate::state", "crate::ui", "crate::cli"],
        code_only: false,
    },
    Rule { dir: "config", forbidden: &["crate::provider"], code_only: true },
    Rule {
        dir: "check",
        forbidden: &["crate::provider::aws", "crate::engine", "crate::plan", "crate::state", "crate::ui", "crate::cli"],
        code_only: false,
    },
    Rule { dir: "check", forbidden: &["crate::provider"], code_only: true },
    Rule {
        dir: "retry.rs",
        forbidden: &[
            "crate::provider",
            "crate::config",
            "crate::plan",
            "crate::engine",
            "crate::state",
            "crate::ui",
            "crate::cli",
        ],
        code_only: false,
    },
    Rule {
        dir: "schema.rs",
        forbidden: &[
            "crate::provider",
            "crate::config",
            "crate::plan",
            "crate::engine",
            "crate::state",
            "crate::check",
            "crate::cost",
            "crate::ui",
            "crate::cli",
        ],
        code_only: true,
    },
];

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Other,
}

/// Identifiers and the punctuation of paths, each with its 1-based line.
fn lex(text: &str) -> Vec<(usize, Tok)> {
    let (mut out, mut line) = (Vec::new(), 1);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let tok = match c {
            '\n' => {
                line += 1;
                continue;
            }
            c if c.is_whitespace() => continue,
            c if c.is_alphanumeric() || c == '_' || c == '$' => {
                let mut id = String::from(c);
                while let Some(&n) = chars.peek().filter(|n| n.is_alphanumeric() || **n == '_') {
                    id.push(n);
                    chars.next();
                }
                Tok::Ident(if id == "$crate" { "crate".into() } else { id })
            }
            ':' if chars.peek() == Some(&':') => {
                chars.next();
                Tok::PathSep
            }
            '{' => Tok::Open,
            '}' => Tok::Close,
            ',' => Tok::Comma,
            _ => Tok::Other,
        };
        out.push((line, tok));
    }
    out
}

/// Every path in `text` with the line of its last segment; use trees flattened.
fn paths(text: &str) -> Vec<(usize, Vec<String>)> {
    let toks = lex(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        i = match toks[i].1 {
            Tok::Ident(_) => path(&toks, i, Vec::new(), &mut out),
            _ => i + 1,
        };
    }
    out
}

/// Reads one path (or use tree) starting at `toks[i]` under `prefix`;
/// returns the index after it.
fn path(toks: &[(usize, Tok)], mut i: usize, mut prefix: Vec<String>, out: &mut Vec<(usize, Vec<String>)>) -> usize {
    let mut line = toks.get(i).map_or(0, |t| t.0);
    while let Some((l, Tok::Ident(id))) = toks.get(i) {
        prefix.push(id.clone());
        line = *l;
        i += 1;
        if toks.get(i).map(|t| &t.1) != Some(&Tok::PathSep) {
            break;
        }
        i += 1;
        if toks.get(i).map(|t| &t.1) == Some(&Tok::Open) {
            i += 1;
            while let Some((_, t)) = toks.get(i) {
                i = match t {
                    Tok::Ident(_) => path(toks, i, prefix.clone(), out),
                    Tok::Close => return i + 1,
                    _ => i + 1,
                };
            }
            return i;
        }
    }
    out.push((line, prefix));
    i
}

/// `path` with leading `self`/`super` resolved against `module` (e.g. `["crate", "engine", "apply"]`).
fn absolute(module: &[String], path: &[String]) -> Vec<String> {
    let mut base = module.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        _ => return path.to_vec(),
    }
    base.extend(rest.iter().cloned());
    base
}

/// The module path of `file`, relative to `src/`: `engine/apply.rs` is `crate::engine::apply`.
fn module_of(file: &Path) -> Vec<String> {
    let mut m = vec!["crate".to_owned()];
    m.extend(file.with_extension("").iter().map(|s| s.to_string_lossy().into_owned()));
    if matches!(m.last().map(String::as_str), Some("mod" | "lib")) {
        m.pop();
    }
    m
}

/// Lines of `text` (the source of `file`, relative to `src/`) that break a rule.
fn violations(file: &Path, text: &str) -> Vec<String> {
    let test_file = file.file_name().is_some_and(|n| n.to_string_lossy().ends_with("tests.rs"));
    let rules: Vec<&Rule> = RULES.iter().filter(|r| file.starts_with(r.dir) && !(r.code_only && test_file)).collect();
    let module = module_of(file);
    let mut out = Vec::new();
    for (line, p) in paths(text) {
        let p = absolute(&module, &p);
        for rule in &rules {
            for f in rule.forbidden {
                let f: Vec<&str> = f.split("::").collect();
                let starts = p.len() >= f.len() && p.iter().zip(&f).all(|(a, b)| a == b);
                let inner = &f[1..];
                let inside =
                    inner.len() >= 2 && p.windows(inner.len()).any(|w| w.iter().zip(inner).all(|(a, b)| a == b));
                if starts || inside {
                    out.push(format!(
                        "src/{}:{line}: names `{}`; src/{} must not use `{}`",
                        file.display(),
                        p.join("::"),
                        rule.dir,
                        f.join("::")
                    ));
                }
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_dependency_rule_holds() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let checked = files.iter().filter(|f| RULES.iter().any(|r| f.starts_with(src.join(r.dir)))).count();
    assert!(checked > 20, "only {checked} files under the ruled directories: is src/ where it was?");
    let found: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("read source");
            violations(f.strip_prefix(&src).expect("under src"), &text)
        })
        .collect();
    assert!(found.is_empty(), "the dependency rule is broken:\n{}", found.join("\n"));
}

#[test]
fn the_check_finds_grouped_relative_and_macro_imports() {
    let engine = Path::new("engine/apply.rs");
    let grouped = "use crate::provider::{Ctx,\n    aws::AwsFactory};\nuse crate::plan::Plan;";
    let found = violations(engine, grouped);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("src/engine/apply.rs:2: names `crate::provider::aws::AwsFactory`"), "{found:?}");
    assert_eq!(violations(engine, "use super::super::provider::aws;").len(), 1);
    assert_eq!(violations(engine, "// see provider::aws::client").len(), 1);
    assert!(violations(engine, "use crate::provider::{self, Ctx};\nuse super::walk;").is_empty());

    assert_eq!(violations(engine, "use crate::config::Stack;").len(), 1, "the plan carries what apply needs");
    assert!(violations(Path::new("engine/tests.rs"), "use crate::config::Stack;").is_empty(), "tests may");
    let config = Path::new("config/load.rs");
    assert_eq!(violations(config, "use crate::provider::Registry;").len(), 1, "schemas only");
    assert!(violations(config, "use crate::schema::Schemas;").is_empty());
    assert!(violations(Path::new("config/load_tests.rs"), "use crate::provider::fake::FAKE_SCHEMA;").is_empty());
    assert_eq!(violations(Path::new("schema.rs"), "use crate::provider::Registry;").len(), 1, "a leaf");
    assert_eq!(
        violations(Path::new("state/s3.rs"), "use crate::provider::Progress;").len(),
        1,
        "state knows no provider"
    );
    assert!(violations(Path::new("state/s3.rs"), "use crate::retry::{Backoff, Progress};").is_empty());

    let aws = Path::new("provider/aws/db_instance.rs");
    assert_eq!(violations(aws, "use crate::plan::diff::diff_with;").len(), 1);
    assert_eq!(violations(aws, "$crate::ui::Ui::new()").len(), 1);
    assert_eq!(violations(aws, "use super::super::super::engine::Hook;").len(), 1);
    assert!(violations(aws, "use crate::provider::diff::diff_with;\nlet plan = 1;").is_empty());

    assert_eq!(violations(Path::new("config/mod.rs"), "use crate::state::StateFile;").len(), 1);
    assert!(violations(Path::new("cli/apply.rs"), "use crate::provider::aws::AwsFactory;").is_empty());
}
