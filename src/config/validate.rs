//! Checks resources against their type's [`Schema`]: known attributes,
//! required ones present, literal values of the right type (recursing into
//! lists, tables and object fields), and references naming real attributes.
//!
//! Where a string is expected, a literal number or bool is converted to its
//! string form (so `tags = { Replicas = 3 }` works); nothing else is coerced.

use std::collections::{BTreeMap, HashMap};

use crate::diag::{Diagnostic, Span, did_you_mean};
use crate::schema::{
    Attr, AttrType, Constraint, Invalid, Mode, Schema, Schemas, TAG_ADDRESS, TAG_STACK, check_tag_count, field,
};
use crate::value::Value;

use super::model::Expr;
use super::parse::{Entry, Node, NodeKind};

/// Checks a resource type name against the known schemas.
pub fn resource_type(schemas: &dyn Schemas, rtype: &str, span: &Span) -> Result<&'static Schema, Diagnostic> {
    match schemas.schema_of(rtype) {
        Some(schema) => Ok(schema),
        None => {
            let names = schemas.type_names();
            let d = Diagnostic::error(format!("unknown resource type `{rtype}`")).at(span.clone());
            Err(match did_you_mean(rtype, names.iter().copied()) {
                Some(s) => d.hint(format!("did you mean `{s}`?")),
                None => d.hint(format!("known types: {}", names.join(", "))),
            })
        }
    }
}

/// Checks one resource instance's attributes (meta-arguments already
/// removed). `block` names the resource in messages (`subnet.db`), `header`
/// is its `[TYPE.NAME]` span and `entries` what was written in the block.
pub fn check_attrs(
    schema: &Schema,
    block: &str,
    header: &Span,
    attrs: &mut BTreeMap<String, Expr>,
    entries: &[Entry],
    diags: &mut Vec<Diagnostic>,
) {
    let written: HashMap<&str, &Entry> = entries.iter().map(|e| (e.key.as_str(), e)).collect();
    for (name, expr) in attrs.iter_mut() {
        let entry = written.get(name.as_str()).copied();
        let key_span = entry.map_or(header, |e| &e.key_span);
        let Some(attr) = schema.attr(name) else {
            diags.push(unknown(&format!("unknown attribute `{name}` on `{block}`"), name, schema.names(), key_span));
            continue;
        };
        if attr.mode == Mode::Computed {
            diags.push(
                Diagnostic::error(format!("`{name}` on `{block}` is computed by AWS and cannot be set"))
                    .at(key_span.clone())
                    .hint(format!("remove it; other resources can read it as `${{{block}.{name}}}`")),
            );
            continue;
        }
        let node = entry.map(|e| &e.value);
        let span = node.map_or(header, |n| &n.span).clone();
        Checker { block, diags: &mut *diags }.expr(expr, &attr.ty, attr.constraint, node, &span, name);
    }
    // The tags table holds the stack's tags and the ownership tags too: its
    // keys are known at load, so AWS's count limit is checked here.
    if let (true, Some(Expr::Map(tags))) = (schema.taggable, attrs.get("tags"))
        && let Err(e) = check_tag_count(tags.len())
    {
        let span = written.get("tags").map_or(header, |e| &e.key_span);
        let d = Diagnostic::error(format!("`tags` on `{block}` {}", e.message)).at(span.clone());
        diags.push(match e.hint {
            Some(h) => d.hint(h),
            None => d,
        });
    }
    for attr in schema.attrs.iter().filter(|a| attrs.contains_key(a.name)) {
        for other in attr.conflicts.iter().filter(|o| attrs.contains_key(**o)) {
            let span = written.get(attr.name).map_or(header, |e| &e.key_span);
            diags.push(
                Diagnostic::error(format!("`{}` and `{other}` on `{block}` cannot both be set", attr.name))
                    .at(span.clone())
                    .hint("keep one of them"),
            );
        }
    }
    let literal = |name: &str| match attrs.get(name) {
        Some(Expr::Lit(Value::Str(s))) => Some(s.as_str()),
        _ => None,
    };
    for m in schema.meeting_windows(literal) {
        let span = written.get(m.attr).map_or(header, |e| &e.value.span);
        diags.push(
            Diagnostic::error(format!(
                "`{}` ({}) and `{}` ({}) on `{block}` overlap: RDS refuses windows that meet",
                m.attr, m.daily, m.other, m.weekly
            ))
            .at(span.clone())
            .hint("move one of them so there is time between the daily backup and the weekly maintenance"),
        );
    }
    for attr in schema.attrs.iter().filter(|a| a.mode == Mode::Required) {
        if !attrs.contains_key(attr.name) {
            diags.push(
                Diagnostic::error(format!("missing required attribute `{}` on `{block}`", attr.name))
                    .at(header.clone())
                    .hint(format!("add `{} = ...` ({})", attr.name, attr.ty.describe())),
            );
        }
    }
}

/// Checks that a reference's path (attribute, then nested fields or
/// indexes) exists in the target type's schema.
pub fn check_ref_path(schema: &Schema, target: &str, path: &[String], span: &Span) -> Result<(), Diagnostic> {
    let Some(first) = path.first() else {
        return Err(Diagnostic::error(format!("reference to `{target}` needs an attribute"))
            .at(span.clone())
            .hint(format!("for example `${{{target}.id}}`")));
    };
    let Some(attr) = schema.attr(first) else {
        return Err(unknown(&format!("`{target}` has no attribute `{first}`"), first, schema.names(), span));
    };
    let mut ty = &attr.ty;
    let mut shown = format!("{target}.{first}");
    for step in &path[1..] {
        ty = match ty {
            AttrType::Object(fields) => match field(fields, step) {
                Some(f) => &f.ty,
                None => {
                    let names = fields.iter().map(|f| f.name);
                    return Err(unknown(&format!("`{shown}` has no field `{step}`"), step, names, span));
                }
            },
            AttrType::List(t) | AttrType::Set(t) if step.parse::<usize>().is_ok() => t,
            AttrType::List(_) | AttrType::Set(_) => {
                return Err(Diagnostic::error(format!("`{shown}` is a list; index it with a number, not `{step}`"))
                    .at(span.clone()));
            }
            AttrType::Map(t) => t,
            AttrType::Policy => return Ok(()),
            scalar => {
                return Err(Diagnostic::error(format!("`{shown}` is a {}; it has no `{step}`", scalar.describe()))
                    .at(span.clone()));
            }
        };
        shown = format!("{shown}.{step}");
    }
    Ok(())
}

/// Checks `ignore_changes` names against the schema.
pub fn check_ignore_changes(schema: &Schema, block: &str, node: &Node, diags: &mut Vec<Diagnostic>) -> Vec<String> {
    let NodeKind::Array(items) = &node.kind else {
        diags.push(Diagnostic::error("`ignore_changes` must be a list of attribute names").at(node.span.clone()));
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        match item.as_str() {
            Some(name) if schema.attr(name).is_some() => out.push(name.to_owned()),
            Some(name) => diags.push(unknown(
                &format!("`ignore_changes` names unknown attribute `{name}` of `{block}`"),
                name,
                schema.names(),
                &item.span,
            )),
            None => diags.push(
                Diagnostic::error(format!("`ignore_changes` items must be attribute names, got {}", item.type_name()))
                    .at(item.span.clone()),
            ),
        }
    }
    out
}

/// "unknown X" with a did-you-mean hint when a candidate is close.
fn unknown<'a>(summary: &str, name: &str, candidates: impl IntoIterator<Item = &'a str>, span: &Span) -> Diagnostic {
    let d = Diagnostic::error(summary).at(span.clone());
    match did_you_mean(name, candidates) {
        Some(s) => d.hint(format!("did you mean `{s}`?")),
        None => d,
    }
}

/// Walks an expression and the nodes it was written as, side by side, so
/// errors point at the exact nested value when the shapes match. `c` is the
/// constraint of the attribute (or object field) being walked.
struct Checker<'a> {
    block: &'a str,
    diags: &'a mut Vec<Diagnostic>,
}

impl Checker<'_> {
    fn mismatch(&mut self, what: &str, ty: &AttrType, got: &str, span: &Span) {
        self.diags.push(
            Diagnostic::error(format!(
                "wrong type for `{what}` on `{}`: expected {}, got {got}",
                self.block,
                ty.describe()
            ))
            .at(span.clone()),
        );
    }

    fn invalid(&mut self, what: &str, result: Result<(), Invalid>, span: &Span) {
        if let Err(e) = result {
            let d = Diagnostic::error(format!("`{what}` on `{}` {}", self.block, e.message)).at(span.clone());
            self.diags.push(match e.hint {
                Some(h) => d.hint(h),
                None => d,
            });
        }
    }

    /// The constraint on each key of a table value (tags), at the key.
    fn keys<'k>(
        &mut self,
        c: Option<Constraint>,
        keys: impl Iterator<Item = &'k String>,
        index: &Index,
        span: &Span,
        what: &str,
    ) {
        let Some(c) = c else { return };
        for k in keys.filter(|k| *k != TAG_STACK && *k != TAG_ADDRESS) {
            let at = index.get(k.as_str()).map_or(span, |e| &e.key_span);
            self.invalid(what, c.check_key(k), at);
        }
    }

    fn expr(
        &mut self,
        e: &mut Expr,
        ty: &AttrType,
        c: Option<Constraint>,
        node: Option<&Node>,
        span: &Span,
        what: &str,
    ) {
        match e {
            Expr::Lit(v) => self.value(v, ty, c, node, span, what),
            Expr::List(items) => match ty {
                AttrType::List(t) | AttrType::Set(t) => {
                    let nodes = array_nodes(node, items.len());
                    for (i, item) in items.iter_mut().enumerate() {
                        let n = nodes.map(|n| &n[i]);
                        self.expr(item, t, c, n, n.map_or(span, |n| &n.span), &format!("{what}[{i}]"));
                    }
                }
                _ => self.mismatch(what, ty, "list", span),
            },
            Expr::Map(m) => match ty {
                AttrType::Map(t) => {
                    let index = entries_by_key(node);
                    self.keys(c, m.keys(), &index, span, what);
                    for (k, item) in m.iter_mut() {
                        let (n, s) = table_node(&index, k, span);
                        self.expr(item, t, c, n, &s, &format!("{what}.{k}"));
                    }
                }
                AttrType::Object(fields) => {
                    let index = entries_by_key(node);
                    self.object_keys(m.keys(), fields, &index, span, what);
                    for (k, item) in m.iter_mut() {
                        if let Some(f) = field(fields, k).filter(|f| f.mode != Mode::Computed) {
                            let (n, s) = table_node(&index, k, span);
                            self.expr(item, &f.ty, f.constraint, n, &s, &format!("{what}.{k}"));
                        }
                    }
                }
                AttrType::Policy => {}
                _ => self.mismatch(what, ty, "table", span),
            },
            Expr::Concat(_) => {
                if !matches!(ty, AttrType::Str | AttrType::Policy) {
                    self.mismatch(what, ty, "string", span);
                }
            }
            // Known only at apply time (constraints are checked at plan time).
            Expr::Ref(_) | Expr::Binary(..) | Expr::Call(_) | Expr::Sensitive(_) | Expr::Not(_) | Expr::Cond(_) => {}
        }
    }

    fn value(
        &mut self,
        v: &mut Value,
        ty: &AttrType,
        c: Option<Constraint>,
        node: Option<&Node>,
        span: &Span,
        what: &str,
    ) {
        match (ty, &mut *v) {
            (AttrType::Str, Value::Str(_))
            | (AttrType::Bool, Value::Bool(_))
            | (AttrType::Int, Value::Int(_))
            | (AttrType::Num, Value::Int(_) | Value::Float(_))
            | (_, Value::Unknown) => {}
            (AttrType::Str, Value::Int(_) | Value::Float(_) | Value::Bool(_)) => *v = Value::Str(v.to_string()),
            (AttrType::Policy, Value::Map(_)) => {}
            (AttrType::Policy, Value::Str(s)) => {
                if let Err(e) = serde_json::from_str::<serde_json::Value>(s) {
                    self.diags.push(
                        Diagnostic::error(format!("`{what}` on `{}` is not valid JSON: {e}", self.block))
                            .at(span.clone())
                            .hint("write the policy as a TOML table, or as a JSON string"),
                    );
                }
            }
            (AttrType::List(t) | AttrType::Set(t), Value::List(items)) => {
                let nodes = array_nodes(node, items.len());
                for (i, item) in items.iter_mut().enumerate() {
                    let n = nodes.map(|n| &n[i]);
                    self.value(item, t, c, n, n.map_or(span, |n| &n.span), &format!("{what}[{i}]"));
                }
                return;
            }
            (AttrType::Map(t), Value::Map(m)) => {
                let index = entries_by_key(node);
                self.keys(c, m.keys(), &index, span, what);
                for (k, item) in m.iter_mut() {
                    let (n, s) = table_node(&index, k, span);
                    self.value(item, t, c, n, &s, &format!("{what}.{k}"));
                }
                return;
            }
            (AttrType::Object(fields), Value::Map(m)) => {
                let index = entries_by_key(node);
                self.object_keys(m.keys(), fields, &index, span, what);
                for (k, item) in m.iter_mut() {
                    if let Some(f) = field(fields, k).filter(|f| f.mode != Mode::Computed) {
                        let (n, s) = table_node(&index, k, span);
                        self.value(item, &f.ty, f.constraint, n, &s, &format!("{what}.{k}"));
                    }
                }
                return;
            }
            (ty, v) => {
                let got = v.type_name();
                self.mismatch(what, ty, got, span);
                return;
            }
        }
        if let Some(c) = c {
            self.invalid(what, c.check(v), span);
        }
    }

    /// Unknown, computed and missing required fields of an object value.
    fn object_keys<'k>(
        &mut self,
        keys: impl Iterator<Item = &'k String>,
        fields: &[Attr],
        index: &Index,
        span: &Span,
        what: &str,
    ) {
        let keys: Vec<&String> = keys.collect();
        for k in &keys {
            let key_span = index.get(k.as_str()).map_or(span, |e| &e.key_span);
            match field(fields, k) {
                None => self.diags.push(unknown(
                    &format!("unknown field `{k}` in `{what}` on `{}`", self.block),
                    k,
                    fields.iter().map(|f| f.name),
                    key_span,
                )),
                Some(f) if f.mode == Mode::Computed => self.diags.push(
                    Diagnostic::error(format!(
                        "field `{k}` in `{what}` on `{}` is computed by AWS and cannot be set",
                        self.block
                    ))
                    .at(key_span.clone()),
                ),
                Some(_) => {}
            }
        }
        for f in fields.iter().filter(|f| f.mode == Mode::Required && !keys.iter().any(|k| *k == f.name)) {
            self.diags.push(
                Diagnostic::error(format!("missing required field `{}` in `{what}` on `{}`", f.name, self.block))
                    .at(span.clone()),
            );
        }
    }
}

/// The array's items when the node is an array of exactly `len` items.
fn array_nodes(node: Option<&Node>, len: usize) -> Option<&[Node]> {
    match node.map(|n| &n.kind) {
        Some(NodeKind::Array(items)) if items.len() == len => Some(items),
        _ => None,
    }
}

/// A table node's entries by key.
type Index<'n> = HashMap<&'n str, &'n Entry>;

/// A table node's entries by key (empty when the node is not a table), built
/// once per table so that looking up every key stays linear in its size.
fn entries_by_key(node: Option<&Node>) -> Index<'_> {
    node.and_then(Node::as_table).unwrap_or_default().iter().map(|e| (e.key.as_str(), e)).collect()
}

/// The value node of `key` when the table holds it, with its span (else the
/// fallback span).
fn table_node<'n>(index: &Index<'n>, key: &str, fallback: &Span) -> (Option<&'n Node>, Span) {
    match index.get(key) {
        Some(e) => (Some(&e.value), e.value.span.clone()),
        None => (None, fallback.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse::parse_document;
    use crate::diag::{FileId, line_col};
    use crate::schema::{Attr, Ownership, Pricing};

    static RULE: [Attr; 4] = [
        Attr::required("from_port", AttrType::Int),
        Attr::optional("protocol", AttrType::Str),
        Attr::optional("cidr_blocks", AttrType::List(&AttrType::Str)),
        Attr::computed("rule_id", AttrType::Str),
    ];
    static SCHEMA: Schema = Schema {
        attrs: &[
            Attr::computed("id", AttrType::Str),
            Attr::required("name", AttrType::Str),
            Attr::optional("size", AttrType::Int),
            Attr::optional("ratio", AttrType::Num),
            Attr::optional("ingress", AttrType::List(&AttrType::Object(&RULE))),
            Attr::optional("policy", AttrType::Policy),
            Attr::optional("tags", AttrType::Map(&AttrType::Str)),
        ],
        guarded: false,
        taggable: true,
        ownership: Ownership::Listed,
        pricing: Pricing::Free,
    };

    /// Summary and line:column of each diagnostic.
    type Found = Vec<(String, (usize, usize))>;

    /// Checks the `[t.x]` block of `text` (literal attributes only).
    fn check(text: &str) -> (BTreeMap<String, Expr>, Found) {
        let (root, parse_diags) = parse_document(FileId(0), text);
        assert!(parse_diags.is_empty(), "{parse_diags:?}");
        let block = &root.get("t").unwrap().value.get("x").unwrap().value;
        let entries = block.as_table().unwrap();
        let mut attrs: BTreeMap<String, Expr> =
            entries.iter().map(|e| (e.key.clone(), Expr::Lit(e.value.to_value()))).collect();
        let mut diags = Vec::new();
        check_attrs(&SCHEMA, "t.x", &block.span, &mut attrs, entries, &mut diags);
        let got =
            diags.iter().map(|d| (d.summary.clone(), line_col(text, d.span.as_ref().unwrap().range.start))).collect();
        (attrs, got)
    }

    #[test]
    fn accepts_a_valid_block_and_coerces_scalars_to_strings() {
        let (attrs, diags) =
            check("[t.x]\nname = \"a\"\nratio = 2\ntags = { n = 3, b = true }\npolicy = '{\"a\": 1}'\n");
        assert!(diags.is_empty(), "{diags:?}");
        let tags = attrs["tags"].as_lit().unwrap().as_map().unwrap();
        assert_eq!(tags["n"], Value::str("3"));
        assert_eq!(tags["b"], Value::str("true"));
    }

    #[test]
    fn unknown_computed_and_missing_attributes() {
        let (_, diags) = check("[t.x]\nnme = \"a\"\nid = \"x\"\n");
        assert_eq!(
            diags,
            [
                ("`id` on `t.x` is computed by AWS and cannot be set".to_owned(), (3, 1)),
                ("unknown attribute `nme` on `t.x`".to_owned(), (2, 1)),
                ("missing required attribute `name` on `t.x`".to_owned(), (1, 1)),
            ]
        );
    }

    #[test]
    fn wrong_types_point_at_nested_values() {
        let text = "[t.x]\nname = 1.5\nsize = \"big\"\ningress = [\n  { from_port = 1 },\n  { from_port = \"x\", prot = \"tcp\", cidr_blocks = [1, [2]], rule_id = \"r\" },\n  {},\n]\npolicy = \"{nope\"\n";
        let (_, diags) = check(text);
        let expect = [
            ("wrong type for `ingress[1].cidr_blocks[1]` on `t.x`: expected string, got list", (6, 54)),
            ("wrong type for `ingress[1].from_port` on `t.x`: expected integer, got string", (6, 17)),
            ("unknown field `prot` in `ingress[1]` on `t.x`", (6, 22)),
            ("field `rule_id` in `ingress[1]` on `t.x` is computed by AWS and cannot be set", (6, 60)),
            ("missing required field `from_port` in `ingress[2]` on `t.x`", (7, 3)),
            ("`policy` on `t.x` is not valid JSON: key must be a string at line 1 column 2", (9, 10)),
            ("wrong type for `size` on `t.x`: expected integer, got string", (3, 8)),
        ];
        let mut got = diags.clone();
        got.sort();
        let mut want: Vec<(String, (usize, usize))> = expect.iter().map(|(s, p)| (s.to_string(), *p)).collect();
        want.sort();
        // `name = 1.5` is a number where a string is expected: coerced, not an error.
        assert_eq!(got, want);
    }

    #[test]
    fn did_you_mean_on_unknown_attribute() {
        let (root, _) = parse_document(FileId(0), "[t.x]\nname = \"a\"\nsise = 1\n");
        let block = &root.get("t").unwrap().value.get("x").unwrap().value;
        let mut attrs: BTreeMap<String, Expr> =
            block.as_table().unwrap().iter().map(|e| (e.key.clone(), Expr::Lit(e.value.to_value()))).collect();
        let mut diags = Vec::new();
        check_attrs(&SCHEMA, "t.x", &block.span, &mut attrs, block.as_table().unwrap(), &mut diags);
        assert_eq!(diags[0].hints, ["did you mean `size`?"]);
    }

    #[test]
    fn reference_paths() {
        let s = Span::new(FileId(0), 0..1);
        let p = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_ref_path(&SCHEMA, "t.x", &p(&["id"]), &s).is_ok());
        assert!(check_ref_path(&SCHEMA, "t.x", &p(&["ingress", "0", "from_port"]), &s).is_ok());
        assert!(check_ref_path(&SCHEMA, "t.x", &p(&["tags", "anything"]), &s).is_ok());
        let e = check_ref_path(&SCHEMA, "t.x", &p(&["sise"]), &s).unwrap_err();
        assert_eq!(
            (e.summary.as_str(), e.hints[0].as_str()),
            ("`t.x` has no attribute `sise`", "did you mean `size`?")
        );
        let e = check_ref_path(&SCHEMA, "t.x", &p(&["ingress", "0", "port"]), &s).unwrap_err();
        assert_eq!(e.summary, "`t.x.ingress.0` has no field `port`");
        let e = check_ref_path(&SCHEMA, "t.x", &p(&["ingress", "first"]), &s).unwrap_err();
        assert_eq!(e.summary, "`t.x.ingress` is a list; index it with a number, not `first`");
        let e = check_ref_path(&SCHEMA, "t.x", &p(&["name", "x"]), &s).unwrap_err();
        assert_eq!(e.summary, "`t.x.name` is a string; it has no `x`");
        assert!(check_ref_path(&SCHEMA, "t.x", &[], &s).is_err());
    }

    #[test]
    fn ignore_changes_names() {
        let text = "a = [\"size\", \"sise\", 3]\n";
        let (root, _) = parse_document(FileId(0), text);
        let mut diags = Vec::new();
        let got = check_ignore_changes(&SCHEMA, "t.x", &root.get("a").unwrap().value, &mut diags);
        assert_eq!(got, ["size"]);
        let summaries: Vec<(&str, usize)> =
            diags.iter().map(|d| (d.summary.as_str(), d.span.as_ref().unwrap().range.start)).collect();
        assert_eq!(
            summaries,
            [
                ("`ignore_changes` names unknown attribute `sise` of `t.x`", 13),
                ("`ignore_changes` items must be attribute names, got integer", 21),
            ]
        );
    }
}
