//! Property tests: whatever bytes or TOML the loader and the `${...}` parser
//! are fed, they never panic, and every error points into the source (a span
//! within the file). The one exception is a file that is not UTF-8 text: that
//! error is about the file as a whole, so it has no position to point at.

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
    ]);
    prop_oneof![
        header.prop_map(|h| format!("\n{h}\n")),
        (key, value).prop_map(|(k, v)| format!("{k} = {v}\n")),
        "[ -~]{0,12}\n",
    ]
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
