//! TOML text → an owned tree ([`Node`]) that keeps the byte span of every key
//! and value, so later stages can point at the exact offending text.
//!
//! Parsing is recoverable: every syntax error becomes a diagnostic and the
//! rest of the document is still returned.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diag::{Diagnostic, FileId, Span};
use crate::value::Value;

/// A TOML value with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// For tables opened by a `[header]`, the header; for the root, `0..0`.
    pub span: Span,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Str(StrNode),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Node>),
    /// Entries in source order.
    Table(Vec<Entry>),
}

/// A string value.
#[derive(Debug, Clone, PartialEq)]
pub struct StrNode {
    pub value: String,
    /// File offset of the value's first character when the string is written
    /// without escapes (so byte `i` of `value` is at `content_start + i`).
    pub content_start: Option<usize>,
}

/// One `key = value` of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

impl Node {
    /// A short type name for diagnostics, matching [`Value::type_name`].
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Str(_) => "string",
            NodeKind::Int(_) => "integer",
            NodeKind::Float(_) => "number",
            NodeKind::Bool(_) => "bool",
            NodeKind::Array(_) => "list",
            NodeKind::Table(_) => "table",
        }
    }

    pub fn as_table(&self) -> Option<&[Entry]> {
        match &self.kind {
            NodeKind::Table(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(&s.value),
            _ => None,
        }
    }

    /// The value of `key` when this is a table.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.as_table()?.iter().find(|e| e.key == key)
    }

    /// The plain value; strings are taken literally (no `${...}`).
    pub fn to_value(&self) -> Value {
        match &self.kind {
            NodeKind::Str(s) => Value::Str(s.value.clone()),
            NodeKind::Int(i) => Value::Int(*i),
            NodeKind::Float(f) => Value::Float(*f),
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Array(a) => Value::List(a.iter().map(Node::to_value).collect()),
            NodeKind::Table(t) => Value::Map(t.iter().map(|e| (e.key.clone(), e.value.to_value())).collect()),
        }
    }

    /// The first string anywhere inside that contains `${`, for places that
    /// accept only plain values.
    pub fn find_template(&self) -> Option<&Node> {
        match &self.kind {
            NodeKind::Str(s) if s.value.contains("${") => Some(self),
            NodeKind::Array(a) => a.iter().find_map(Node::find_template),
            NodeKind::Table(t) => t.iter().find_map(|e| e.value.find_template()),
            _ => None,
        }
    }
}

/// Parses a whole TOML document. Always returns a table node (possibly
/// partial) plus one diagnostic per problem found.
pub fn parse_document(file: FileId, text: &str) -> (Node, Vec<Diagnostic>) {
    let (table, errors) = DeTable::parse_recoverable(text);
    let mut cx = Cx { file, text, diags: Vec::new(), error_spans: Vec::new() };
    for e in &errors {
        let range = e.span().unwrap_or(0..0);
        cx.error_spans.push(range.clone());
        cx.diags.push(Diagnostic::error(format!("invalid TOML: {}", e.message())).at(Span::new(file, range)));
    }
    let span = table.span();
    let node = Node { span: Span::new(file, span), kind: NodeKind::Table(cx.table(table.get_ref())) };
    (node, cx.diags)
}

/// Parses one TOML value written on its own (e.g. `["a", "b"]` or `{ x = 1 }`).
pub fn parse_value(text: &str) -> Result<Value, String> {
    let (value, errors) = DeValue::parse_recoverable(text);
    if let Some(e) = errors.first() {
        return Err(e.message().to_owned());
    }
    let mut cx = Cx { file: FileId(0), text, diags: Vec::new(), error_spans: Vec::new() };
    let node = cx.node(&value);
    match (cx.diags.first(), node) {
        (Some(d), _) => Err(d.summary.clone()),
        (None, Some(n)) => Ok(n.to_value()),
        (None, None) => Err("not a value".to_owned()),
    }
}

struct Cx<'t> {
    file: FileId,
    text: &'t str,
    diags: Vec<Diagnostic>,
    /// Ranges TOML already complained about; no second diagnostic there.
    error_spans: Vec<std::ops::Range<usize>>,
}

impl Cx<'_> {
    fn span(&self, r: std::ops::Range<usize>) -> Span {
        Span::new(self.file, r)
    }

    fn table(&mut self, t: &DeTable<'_>) -> Vec<Entry> {
        let mut entries: Vec<Entry> = t
            .iter()
            .filter_map(|(k, v)| {
                let value = self.node(v)?;
                Some(Entry { key: k.get_ref().to_string(), key_span: self.span(k.span()), value })
            })
            .collect();
        entries.sort_by_key(|e| e.key_span.range.start);
        entries
    }

    /// Converts one value; `None` for values pgstack cannot represent (a
    /// diagnostic says why, unless TOML already reported the spot).
    fn node(&mut self, v: &Spanned<DeValue<'_>>) -> Option<Node> {
        let range = v.span();
        let kind = match v.get_ref() {
            DeValue::String(s) => {
                NodeKind::Str(StrNode { value: s.to_string(), content_start: self.content_start(&range, s) })
            }
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => NodeKind::Int(n),
                Err(_) => return self.reject(range, "integer out of range (64-bit signed integers only)"),
            },
            DeValue::Float(f) => match f.as_str().parse::<f64>() {
                Ok(x) if x.is_finite() => NodeKind::Float(x),
                // `inf` and `nan` spelled out; other literals hold digits, `.`, `e`, signs, `_`.
                Ok(_) if f.as_str().contains(['i', 'n']) => {
                    return self.reject(range, "`inf` and `nan` are not supported");
                }
                Ok(_) => return self.reject(range, "number out of range (at most about 1.8e308)"),
                Err(_) => return self.reject(range, "invalid number"),
            },
            DeValue::Boolean(b) => NodeKind::Bool(*b),
            DeValue::Datetime(_) => {
                return self.reject(range, "datetimes are not supported (quote the value to make it a string)");
            }
            DeValue::Array(a) => NodeKind::Array(a.iter().filter_map(|e| self.node(e)).collect()),
            DeValue::Table(t) => NodeKind::Table(self.table(t)),
        };
        Some(Node { span: self.span(range), kind })
    }

    fn reject(&mut self, range: std::ops::Range<usize>, msg: &str) -> Option<Node> {
        let overlaps = self.error_spans.iter().any(|e| e.start <= range.end && range.start <= e.end);
        if !overlaps {
            self.diags.push(Diagnostic::error(msg).at(self.span(range)));
        }
        None
    }

    /// Where the decoded string starts in the file, if the source text between
    /// the quotes is exactly the decoded string (no escapes).
    fn content_start(&self, range: &std::ops::Range<usize>, decoded: &str) -> Option<usize> {
        let raw = self.text.get(range.clone())?;
        for quote in ["\"\"\"", "'''", "\"", "'"] {
            if let Some(inner) = raw.strip_prefix(quote).and_then(|r| r.strip_suffix(quote)) {
                // Multi-line strings drop a newline right after the opening quotes.
                let (skip, inner) = match inner.strip_prefix("\r\n").or_else(|| inner.strip_prefix('\n')) {
                    Some(rest) if quote.len() == 3 => (inner.len() - rest.len(), rest),
                    _ => (0, inner),
                };
                return (inner == decoded).then_some(range.start + quote.len() + skip);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::line_col;

    fn parse(text: &str) -> (Node, Vec<Diagnostic>) {
        parse_document(FileId(0), text)
    }

    fn pos(text: &str, d: &Diagnostic) -> (usize, usize) {
        line_col(text, d.span.as_ref().unwrap().range.start)
    }

    #[test]
    fn keeps_key_and_value_spans_in_source_order() {
        let text = "[vpc.main]\nz = 1\ncidr_block = \"10.0.0.0/16\"\n";
        let (root, diags) = parse(text);
        assert!(diags.is_empty(), "{diags:?}");
        let main = &root.get("vpc").unwrap().value.get("main").unwrap().value;
        assert_eq!(&text[main.span.range.clone()], "[vpc.main]");
        let keys: Vec<&str> = main.as_table().unwrap().iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["z", "cidr_block"]);
        let cidr = main.get("cidr_block").unwrap();
        assert_eq!(&text[cidr.key_span.range.clone()], "cidr_block");
        assert_eq!(&text[cidr.value.span.range.clone()], "\"10.0.0.0/16\"");
    }

    #[test]
    fn string_content_start_only_without_escapes() {
        let text = "a = \"x${y}\"\nb = \"\\u0041${y}\"\nc = '''\nlit'''\nd = 'q'\n";
        let (root, _) = parse(text);
        let start = |k: &str| match &root.get(k).unwrap().value.kind {
            NodeKind::Str(s) => s.content_start,
            _ => panic!("not a string"),
        };
        assert_eq!(start("a").map(|i| &text[i..i + 1]), Some("x"));
        assert_eq!(start("b"), None);
        assert_eq!(start("c").map(|i| &text[i..i + 3]), Some("lit"));
        assert_eq!(start("d").map(|i| &text[i..i + 1]), Some("q"));
    }

    #[test]
    fn numbers_bools_and_radix() {
        let (root, diags) = parse("a = 0x1f\nb = -7\nc = 1_000\nd = 2.5\ne = true\n");
        assert!(diags.is_empty());
        assert_eq!(
            root.to_value().as_map().unwrap().values().cloned().collect::<Vec<_>>(),
            [Value::Int(31), Value::Int(-7), Value::Int(1000), Value::Float(2.5), Value::Bool(true)]
        );
    }

    #[test]
    fn syntax_errors_have_positions_and_recover() {
        let text = "[stack]\nname = \"x\nregion = \"us-east-1\"\n[stack]\n";
        let (root, diags) = parse(text);
        let got: Vec<(String, (usize, usize))> = diags.iter().map(|d| (d.summary.clone(), pos(text, d))).collect();
        assert!(got.iter().any(|(s, p)| s.contains("invalid basic string") && *p == (2, 10)), "{got:?}");
        assert!(got.iter().any(|(s, p)| s.contains("duplicate key") && *p == (4, 2)), "{got:?}");
        // The rest of the document is still there.
        assert!(root.get("stack").unwrap().value.get("region").is_some());
    }

    #[test]
    fn rejects_datetimes_inf_and_huge_integers() {
        let text = "a = 1979-05-27\nb = inf\nc = 99999999999999999999\nd = 1\ne = -nan\nf = 1e309\ng = -1.8e308\n";
        let (root, diags) = parse(text);
        let got: Vec<(&str, (usize, usize))> = diags.iter().map(|d| (d.summary.as_str(), pos(text, d))).collect();
        assert_eq!(
            got,
            [
                ("datetimes are not supported (quote the value to make it a string)", (1, 5)),
                ("`inf` and `nan` are not supported", (2, 5)),
                ("integer out of range (64-bit signed integers only)", (3, 5)),
                ("`inf` and `nan` are not supported", (5, 5)),
                ("number out of range (at most about 1.8e308)", (6, 5)),
                ("number out of range (at most about 1.8e308)", (7, 5)),
            ]
        );
        assert_eq!(root.as_table().unwrap().len(), 1);
        let (root, diags) =
            parse("a = 9223372036854775807\nb = -9223372036854775808\nc = -0.0\nd = 1.7976931348623157e308\n");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            root.to_value().as_map().unwrap().values().cloned().collect::<Vec<_>>(),
            [Value::Int(i64::MAX), Value::Int(i64::MIN), Value::Float(-0.0), Value::Float(f64::MAX)]
        );
    }

    #[test]
    fn parses_inline_values() {
        assert_eq!(parse_value("[\"a\", \"b\"]"), Ok(Value::List(vec![Value::str("a"), Value::str("b")])));
        assert!(parse_value("{ x = 1 }").unwrap().as_map().unwrap().contains_key("x"));
        assert!(parse_value("[1, ").is_err());
        assert!(parse_value("1979-05-27").is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let alphabet: Vec<char> = "[]{}=\"'\\.,$#\n ab1_-+é\u{0}\t\r\"\"\"'''".chars().collect();
        for _ in 0..3000 {
            let len = (seed % 40) as usize;
            let mut s = String::new();
            for _ in 0..len {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            let _ = parse(&s);
            let _ = parse_value(&s);
        }
    }
}
