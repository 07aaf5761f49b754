//! Property tests: whatever bytes or TOML the loader, the variable-file
//! loader and the `${...}` parser are fed (extreme and malformed numbers
//! included), they never panic, and every error points into the source (a
//! span within the file). The one exception is a file that is not UTF-8
//! text: that error is about the file as a whole, so it has no position to
//! point at. A sensitive value in a variable file never shows in a message
//! or in the line a snippet shows.

use proptest::prelude::*;

use super::template::{SpanMap, parse_template};
use super::{LoadOptions, load};
use crate::diag::{Diagnostics, FileId, Severity, SourceMap};
use crate::provider::Registry;

/// Loads `bytes` as a stack file and checks the span of every error.
fn load_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack.toml");
    std::fs::write(&path, bytes).unwrap();
    let Err((sources, diags)) = load(&path, &LoadOptions::default(), &Registry::aws()) else { return Ok(()) };
    check_spans(&sources, &diags, std::str::from_utf8(bytes).is_ok())
}

fn check_spans(sources: &SourceMap, diags: &Diagnostics, utf8: bool) -> Result<(), TestCaseError> {
    prop_assert!(diags.has_errors(), "a failed load reports an error");
    for d in diags.0.iter().filter(|d| d.severity == Severity::Error) {
        match &d.span {
            Some(s) => {
                let text = &sources.get(s.file).text;
                prop_assert!(s.range.start <= s.range.end && s.range.end <= text.len(), "{d:?} outside the file");
            }
            None => {
                prop_assert!(!utf8 && d.summary.starts_with("cannot read"), "no location: {d:?}");
            }
        }
    }
    Ok(())
}

/// Pieces a stack file is made of, valid and not, so generated files reach
/// past the TOML parser into scopes, references and schemas.
fn toml_piece() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "name",
        "region",
        "cidr_block",
        "vpc_id",
        "tags",
        "for_each",
        "enabled",
        "depends_on",
        "ingress",
        "from_port",
        "protocol",
        "identifier",
        "port",
        "x",
        "\"a b\"",
        "source",
        "value",
        "default",
        "type",
    ]);
    let header = prop::sample::select(vec![
        "[stack]",
        "[vars]",
        "[regions]",
        "[state]",
        "[env.prod]",
        "[vpc.main]",
        "[subnet.a]",
        "[security_group.g]",
        "[db_instance.db]",
        "[kms_key.k]",
        "[module.m]",
        "[output.o]",
        "[input.i]",
        "[nope.x]",
        "[[vpc]]",
        "[vpc]",
    ]);
    let value = prop::sample::select(vec![
        "\"us-east-1\"",
        "\"x\"",
        "1",
        "-1",
        "70000",
        "true",
        "1.5",
        "[]",
        "[\"a\", \"b\"]",
        "{}",
        "{ a = 1, b = \"${each.key}\" }",
        "\"${var.x}\"",
        "\"${vpc.main.id}\"",
        "\"${vpc.main[*].id}\"",
        "\"${subnet.a[\\\"k\\\"].id}\"",
        "\"${module.m.out}\"",
        "\"${1 + }\"",
        "\"${length(var.l)}\"",
        "\"10.0.0.0/16\"",
        "\"${\"",
        "\"$${x}\"",
        "\"\\u001b\"",
        "[{ from_port = 1, to_port = 2, protocol = \"tcp\" }]",
        "1979-05-27",
        "'''\nmulti\n'''",
        "\"${9223372036854775807 + 1}\"",
        "\"${-9223372036854775807 - 2}\"",
        "\"${9223372036854775807 * -9223372036854775807}\"",
        "\"${9223372036854775808}\"",
        "\"${1 / 0}\"",
        "\"${1.5 % 0}\"",
        "\"${7 % -0.0}\"",
        "\"${-(-9223372036854775807 - 1)}\"",
        "\"${1e308}\"",
        "\"${floor(1.5 * 1.5)}\"",
        "\"${var.x * var.x * var.x}\"",
    ]);
    prop_oneof![
        header.prop_map(|h| format!("\n{h}\n")),
        (key.clone(), value).prop_map(|(k, v)| format!("{k} = {v}\n")),
        (key, extreme_number()).prop_map(|(k, v)| format!("{k} = {v}\n")),
        "[ -~]{0,12}\n",
    ]
}

/// Numbers at and past the edges of what TOML and pgstack take, and
/// malformed ones, as TOML values or inside `${...}`.
fn extreme_number() -> impl Strategy<Value = String> {
    let literal = prop::sample::select(vec![
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "-9223372036854775809",
        "0x7FFFFFFFFFFFFFFF",
        "0xFFFFFFFFFFFFFFFF",
        "0o777",
        "0b102",
        "1e308",
        "-1e308",
        "1.7976931348623157e308",
        "1e309",
        "-1e309",
        "1e-400",
        "5e-324",
        "1e99999999999999999999",
        "-0.0",
        "+0.0",
        "nan",
        "+nan",
        "-nan",
        "inf",
        "+inf",
        "-inf",
        "1__0",
        "01",
        "1e",
        "1.",
        ".5",
        "1e+",
        "--1",
        "+-1",
        "[1e308, -0.0, 9223372036854775807]",
        "{ a = 1e308, b = -9223372036854775808 }",
    ])
    .prop_map(str::to_owned);
    prop_oneof![
        4 => literal,
        1 => Just(format!("\"${{{}.5 * 2}}\"", "9".repeat(400))),
        1 => Just(format!("\"${{{}}}\"", "9".repeat(30))),
    ]
}

/// A stack that declares variables of every type, a sensitive one among
/// them, and does arithmetic and function calls on them.
const VARS_STACK: &str = r#"[stack]
name = "p"
region = "us-east-1"

[vars]
pw = { sensitive = true }
n = 1
f = 0.5
s = "x"
l = ["a"]
t = { a = 1 }

[secret.app]
name = "app"
value = "${var.pw}"

[vpc.main]
cidr_block = "10.0.0.0/16"
tags = { N = "${var.n * 3 - var.n}", F = "${var.f * var.f / 0.5}", M = "${max(var.n, var.f) % 7}", S = "${upper(var.s)}", L = "${length(var.l) + length(var.t)}" }
"#;

/// The secret [`var_file_piece`] gives the sensitive `pw` (or the unknown `pq`).
const SECRET: &str = "Hunter2EEE";

/// Lines of a variable file: extreme and malformed values for the declared
/// variables of [`VARS_STACK`], the secret under `pw` or the unknown name
/// `pq` in every shape (valid, wrong type, unterminated, duplicated), and
/// garbage.
fn var_file_piece() -> impl Strategy<Value = String> {
    let plain_key = prop::sample::select(vec!["n", "f", "s", "l", "t", "x.y", "\"a b\""]);
    let plain_value = prop_oneof![
        extreme_number(),
        prop::sample::select(vec!["\"x\"", "true", "[]", "{}", "\"${var.n}\"", "1979-05-27", "\"\\uD800\"", "'''a'''"])
            .prop_map(str::to_owned),
    ];
    let secret_key = prop::sample::select(vec!["pw", "pq", "'pw'"]);
    let secret_value = prop::sample::select(vec![
        r#""SECRET""#,
        "'SECRET'",
        r#"["SECRET"]"#,
        r#"{ a = "SECRET" }"#,
        r#""SECRET"#,
        "'SECRET",
        "SECRET",
        r#""""SECRET""""#,
        r#""""SECRET"#,
        "'''SECRET",
        r#""${SECRET}""#,
        r#""SECRET" # note"#,
        r#""SECRET" x"#,
        "[\n  \"SECRET\",\n]",
        r#""a\"SECRET""#,
    ]);
    prop_oneof![
        (plain_key, plain_value).prop_map(|(k, v)| format!("{k} = {v}\n")),
        (secret_key, secret_value).prop_map(|(k, v)| format!("{k} = {}\n", v.replace("SECRET", SECRET))),
        prop::sample::select(vec!["[pw]\n", "[pq]\n", "\n", "# c\n"]).prop_map(str::to_owned),
        "[ -~]{0,12}\n",
    ]
}

/// Loads [`VARS_STACK`] with `var_file` as its `--var-file`: errors are
/// located, and neither a message nor the line a snippet shows holds [`SECRET`].
fn load_var_file(var_file: &str) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let (stack, vars) = (dir.path().join("stack.toml"), dir.path().join("v.toml"));
    std::fs::write(&stack, VARS_STACK).unwrap();
    std::fs::write(&vars, var_file).unwrap();
    let opts = LoadOptions { var_files: vec![vars], ..LoadOptions::default() };
    let Err((sources, diags)) = load(&stack, &opts, &Registry::aws()) else { return Ok(()) };
    check_spans(&sources, &diags, true)?;
    for d in &diags.0 {
        let detail = d.detail.as_deref().unwrap_or_default();
        for text in [d.summary.as_str(), detail].into_iter().chain(d.hints.iter().map(String::as_str)) {
            prop_assert!(!text.contains(SECRET), "a message shows the secret: {d:?}");
        }
        if let Some(s) = &d.span {
            let (line, _) = sources.line_col(s.file, s.range.start);
            let shown = sources.get(s.file).text.lines().nth(line - 1).unwrap_or_default();
            prop_assert!(!shown.contains(SECRET), "the snippet shows the secret: {shown:?} for {d:?}");
        }
    }
    Ok(())
}

/// Text inside and around `${...}`.
fn template_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(vec![
                "${",
                "}",
                "$${",
                "var.",
                "each.key",
                "each.value",
                "vpc.main",
                ".id",
                "[",
                "]",
                "[*]",
                "(",
                ")",
                ",",
                " + ",
                " - ",
                "*",
                "/",
                "%",
                "-",
                "\"",
                "\\\"",
                "1",
                "2.5",
                "true",
                "length(",
                "module.m.o",
                "é",
                "\u{0}",
                "\n",
                " ",
            ])
            .prop_map(str::to_owned),
            "[a-z0-9_.-]{1,4}",
        ],
        0..16,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_errors_have_locations(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        load_bytes(&bytes)?;
    }

    #[test]
    fn arbitrary_toml_never_panics_and_errors_have_locations(
        stack in any::<bool>(),
        pieces in prop::collection::vec(toml_piece(), 0..24),
    ) {
        let head = if stack { "[stack]\nname = \"p\"\nregion = \"us-east-1\"\n" } else { "" };
        load_bytes(format!("{head}{}", pieces.concat()).as_bytes())?;
    }

    #[test]
    fn var_files_never_panic_locate_errors_and_never_show_the_secret(
        pieces in prop::collection::vec(var_file_piece(), 0..12),
    ) {
        load_var_file(&pieces.concat())?;
    }

    #[test]
    fn the_expression_parser_never_panics_and_points_into_the_string(s in template_text(), offset in 0usize..8) {
        let map = SpanMap { file: FileId(0), content_start: Some(offset), whole: offset..offset + s.len() };
        if let Err(d) = parse_template(&s, &map) {
            let span = d.span.as_ref();
            prop_assert!(span.is_some(), "no location: {d:?}");
            let r = &span.unwrap().range;
            prop_assert!(offset <= r.start && r.start <= r.end && r.end <= offset + s.len(), "{d:?} outside {s:?}");
        }
    }
}
