//! Resolving what is written in a scope into [`Expr`]: `var.*` and `each.*`
//! become their values, `module.M.OUT` is replaced by the output's (already
//! scoped) expression, resource references become [`Ref`]s, and everything
//! known at load time is folded to a literal.
//!
//! Every function returns `None` after reporting a diagnostic, or silently
//! when the cause was reported already (a failed module input, a broken block).

use crate::addr::ResourceAddr;
use crate::diag::{Diagnostic, Span, did_you_mean};
use crate::schema::Schema;
use crate::value::Value;

use super::functions;
use super::functions::BinOp;
use super::load::Loader;
use super::model::{Call, Expr, Ref, SensitiveVar};
use super::parse::{Node, NodeKind};
use super::scope::{Instances, ModuleSlot, Scope};
use super::template::{Path, SpanMap, Step, TExpr, parse_path, parse_template};
use super::validate;

/// What may be referenced where an expression is resolved.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Cx<'a> {
    /// The instance's `for_each` key and value.
    pub each: Option<&'a (String, Value)>,
    /// Set (to the setting's name, e.g. "`for_each`") where the value must be
    /// known at load time: resources and module outputs cannot be referenced.
    pub static_only: Option<&'a str>,
    /// Sensitive variables may be used here: a write-only attribute or a
    /// sensitive output, whose values are never stored or shown.
    pub sensitive_ok: bool,
    /// Set (to the setting's name) in a data source's filter: variables and
    /// other data sources only, no resources or module outputs.
    pub data_only: Option<&'a str>,
}

/// "did you mean" for `name` among `candidates`, or `fallback`.
fn suggest<'a>(
    d: Diagnostic,
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    fallback: Option<String>,
) -> Diagnostic {
    match (did_you_mean(name, candidates), fallback) {
        (Some(s), _) => d.hint(format!("did you mean `{s}`?")),
        (None, Some(f)) => d.hint(f),
        (None, None) => d,
    }
}

/// A literal when every item is one.
fn collapse_list(items: Vec<Expr>) -> Expr {
    if items.iter().all(|e| e.as_lit().is_some()) {
        Expr::Lit(Value::List(items.into_iter().filter_map(|e| e.as_lit().cloned()).collect()))
    } else {
        Expr::List(items)
    }
}

fn collapse_map(items: std::collections::BTreeMap<String, Expr>) -> Expr {
    if items.values().all(|e| e.as_lit().is_some()) {
        Expr::Lit(Value::Map(items.into_iter().filter_map(|(k, e)| Some((k, e.as_lit()?.clone()))).collect()))
    } else {
        Expr::Map(items)
    }
}

/// The text of a reference up to (not including) `steps`, for messages.
fn label(root: &str, steps: &[Step]) -> String {
    let mut s = root.to_owned();
    for step in steps {
        match step {
            Step::Attr(a, _) => {
                s.push('.');
                s.push_str(a);
            }
            Step::Index(TExpr::Lit(v), _) => s.push_str(&format!("[{v}]")),
            Step::Index(..) => s.push_str("[...]"),
            Step::Splat(_) => s.push_str("[*]"),
        }
    }
    s
}

fn span_of(t: &TExpr) -> Option<&Span> {
    match t {
        TExpr::Path(p) => Some(&p.span),
        TExpr::Binary(.., s)
        | TExpr::Neg(_, s)
        | TExpr::Not(_, s)
        | TExpr::Cond(_, s)
        | TExpr::Call(_, _, s)
        | TExpr::List(_, s)
        | TExpr::Map(_, s) => Some(s),
        TExpr::Lit(_) | TExpr::Concat(_) => None,
    }
}

impl Loader<'_> {
    /// Resolves a value written in `scope`.
    pub fn resolve_node(&mut self, scope: &mut Scope, cx: &Cx, node: &Node) -> Option<Expr> {
        match &node.kind {
            NodeKind::Str(s) => {
                let map =
                    SpanMap { file: node.span.file, content_start: s.content_start, whole: node.span.range.clone() };
                match parse_template(&s.value, &map) {
                    Ok(t) => self.resolve_t(scope, cx, &t, &node.span),
                    Err(d) => self.fail(d),
                }
            }
            NodeKind::Int(i) => Some(Expr::Lit(Value::Int(*i))),
            NodeKind::Float(f) => Some(Expr::Lit(Value::Float(*f))),
            NodeKind::Bool(b) => Some(Expr::Lit(Value::Bool(*b))),
            NodeKind::Array(items) => {
                let out: Vec<Option<Expr>> = items.iter().map(|n| self.resolve_node(scope, cx, n)).collect();
                Some(collapse_list(out.into_iter().collect::<Option<_>>()?))
            }
            NodeKind::Table(entries) => {
                let out: Vec<Option<(String, Expr)>> =
                    entries.iter().map(|e| Some((e.key.clone(), self.resolve_node(scope, cx, &e.value)?))).collect();
                Some(collapse_map(out.into_iter().collect::<Option<_>>()?))
            }
        }
    }

    /// Resolves a setting that must be known at load time (`what` names it).
    pub fn resolve_static(&mut self, scope: &mut Scope, cx: &Cx, node: &Node, what: &str) -> Option<Value> {
        let cx = Cx { static_only: Some(what), sensitive_ok: false, ..*cx };
        match self.resolve_node(scope, &cx, node)? {
            Expr::Lit(v) => Some(v),
            _ => self.fail(
                Diagnostic::error(format!("{what} must be known before apply"))
                    .at(node.span.clone())
                    .hint("use literals and variables here, not values of resources"),
            ),
        }
    }

    fn resolve_t(&mut self, scope: &mut Scope, cx: &Cx, t: &TExpr, whole: &Span) -> Option<Expr> {
        match t {
            TExpr::Lit(v) => Some(Expr::Lit(v.clone())),
            TExpr::Path(p) => self.resolve_path(scope, cx, p),
            TExpr::Concat(parts) => {
                let mut out = Some(Vec::new());
                for part in parts {
                    let e = self.resolve_t(scope, cx, part, whole);
                    if let Some(Expr::Lit(v @ (Value::List(_) | Value::Map(_) | Value::Null))) = &e {
                        let at = span_of(part).unwrap_or(whole).clone();
                        self.diags.push(
                            Diagnostic::error(format!("cannot interpolate a {} into a string", v.type_name()))
                                .at(at)
                                .hint("make the string exactly one `${...}` to keep the value's type, or use `join(\",\", ...)`"),
                        );
                        out = None;
                    }
                    match (e, out.as_mut()) {
                        (Some(e), Some(o)) => o.push(e),
                        _ => out = None,
                    }
                }
                let parts = out?;
                if parts.iter().all(|p| p.as_lit().is_some()) {
                    return match Expr::Concat(parts).eval_static() {
                        Ok(v) => Some(Expr::Lit(v)),
                        Err(e) => self.fail(Diagnostic::error(e.message).at(whole.clone())),
                    };
                }
                self.checked_sensitive(Expr::Concat(parts), whole)
            }
            TExpr::Binary(op, a, b, span) => {
                let (a, b) = (self.resolve_t(scope, cx, a, whole), self.resolve_t(scope, cx, b, whole));
                let (a, b) = (a?, b?);
                self.binary(*op, a, b, span)
            }
            TExpr::Neg(inner, span) => match self.resolve_t(scope, cx, inner, whole)? {
                Expr::Lit(Value::Int(i)) => match i.checked_neg() {
                    Some(n) => Some(Expr::Lit(Value::Int(n))),
                    None => self.fail(Diagnostic::error("integer overflow").at(span.clone())),
                },
                Expr::Lit(Value::Float(f)) => Some(Expr::Lit(Value::Float(-f))),
                Expr::Lit(other) => {
                    self.fail(Diagnostic::error(format!("cannot negate a {}", other.type_name())).at(span.clone()))
                }
                e => Some(Expr::Binary(BinOp::Sub, Box::new(Expr::Lit(Value::Int(0))), Box::new(e))),
            },
            TExpr::List(items, _) => {
                let out: Vec<Option<Expr>> = items.iter().map(|i| self.resolve_t(scope, cx, i, whole)).collect();
                Some(collapse_list(out.into_iter().collect::<Option<_>>()?))
            }
            TExpr::Map(entries, _) => {
                let mut out = std::collections::BTreeMap::new();
                let mut failed = false;
                for (key, key_span, value) in entries {
                    let Some(v) = self.resolve_t(scope, cx, value, whole) else {
                        failed = true;
                        continue;
                    };
                    if out.insert(key.clone(), v).is_some() {
                        self.diags
                            .push(Diagnostic::error(format!("duplicate key `{key}` in a table")).at(key_span.clone()));
                        failed = true;
                    }
                }
                if failed { None } else { Some(collapse_map(out)) }
            }
            TExpr::Not(inner, span) => match self.resolve_t(scope, cx, inner, whole)? {
                Expr::Lit(Value::Bool(b)) => Some(Expr::Lit(Value::Bool(!b))),
                Expr::Lit(other) => self
                    .fail(Diagnostic::error(format!("`!` takes a bool, got {}", other.type_name())).at(span.clone())),
                e => Some(Expr::Not(Box::new(e))),
            },
            TExpr::Cond(parts, span) => {
                let [cond, yes, no] = parts.as_ref();
                // A condition known now picks its branch: the other is not
                // resolved (it may name what the condition turns off).
                match self.resolve_t(scope, cx, cond, whole)? {
                    Expr::Lit(Value::Bool(true)) => self.resolve_t(scope, cx, yes, whole),
                    Expr::Lit(Value::Bool(false)) => self.resolve_t(scope, cx, no, whole),
                    Expr::Lit(other) => self.fail(
                        Diagnostic::error(format!("the condition of `? :` must be a bool, got {}", other.type_name()))
                            .at(span_of(cond).unwrap_or(span).clone()),
                    ),
                    c => {
                        let (y, n) = (self.resolve_t(scope, cx, yes, whole), self.resolve_t(scope, cx, no, whole));
                        Some(Expr::Cond(Box::new([c, y?, n?])))
                    }
                }
            }
            TExpr::Call(name, args, span) => {
                let Some(f) = functions::lookup(name) else {
                    let d = Diagnostic::error(format!("unknown function `{name}`")).at(span.clone());
                    let all = functions::names().collect::<Vec<_>>().join(", ");
                    return self.fail(suggest(d, name, functions::names(), Some(format!("functions: {all}"))));
                };
                if let Err(m) = functions::check_arity(f, args.len()) {
                    return self.fail(Diagnostic::error(m).at(span.clone()));
                }
                let args: Vec<Option<Expr>> = args.iter().map(|a| self.resolve_t(scope, cx, a, whole)).collect();
                let args: Vec<Expr> = args.into_iter().collect::<Option<_>>()?;
                if args.iter().all(|a| a.as_lit().is_some()) {
                    let values: Vec<Value> = args.iter().filter_map(|a| a.as_lit().cloned()).collect();
                    return match functions::call(name, &values) {
                        Ok(v) => Some(Expr::Lit(v)),
                        Err(m) => self.fail(Diagnostic::error(format!("`{name}`: {m}")).at(span.clone())),
                    };
                }
                // `concat` of lists whose items are not all known yet is
                // still a list: its items stay visible (to the graph, the
                // checks and the plan's per-item diffs).
                if name == "concat" && args.iter().all(|a| matches!(a, Expr::List(_) | Expr::Lit(Value::List(_)))) {
                    let items = args.into_iter().flat_map(|a| match a {
                        Expr::List(items) => items,
                        Expr::Lit(Value::List(items)) => items.into_iter().map(Expr::Lit).collect(),
                        _ => Vec::new(),
                    });
                    return Some(Expr::List(items.collect()));
                }
                self.checked_sensitive(
                    Expr::Call(Box::new(Call { name: name.clone(), args, span: span.clone() })),
                    span,
                )
            }
        }
    }

    /// `e`, resolved from literals and sensitive variables only, evaluated
    /// now so that its errors show at validate (without the reason, which
    /// could quote the value); it stays an expression, not its value, so the
    /// variable stays a reference ([`Expr::Sensitive`]). Any other `e` is
    /// returned as it is.
    fn checked_sensitive(&mut self, e: Expr, at: &Span) -> Option<Expr> {
        if !e.mentions_sensitive() || !e.refs().is_empty() {
            return Some(e);
        }
        match e.eval_static() {
            Ok(_) => Some(e),
            Err(err) => self.fail(
                Diagnostic::error(err.message)
                    .at(at.clone())
                    .detail("the reason is not shown: it would quote the value"),
            ),
        }
    }

    /// Folds arithmetic on literals; rejects literals that can never be numbers.
    fn binary(&mut self, op: BinOp, a: Expr, b: Expr, span: &Span) -> Option<Expr> {
        match (&a, &b) {
            (Expr::Lit(x), Expr::Lit(y)) => match functions::binary(op, x, y) {
                Ok(v) => Some(Expr::Lit(v)),
                Err(m) => self.fail(Diagnostic::error(m).at(span.clone())),
            },
            (Expr::Lit(v), _) | (_, Expr::Lit(v))
                if op.is_arithmetic() && !matches!(v, Value::Int(_) | Value::Float(_)) =>
            {
                self.fail(
                    Diagnostic::error(format!("arithmetic needs numbers, got {}", v.type_name())).at(span.clone()),
                )
            }
            _ => self.checked_sensitive(Expr::Binary(op, Box::new(a), Box::new(b)), span),
        }
    }

    fn resolve_path(&mut self, scope: &mut Scope, cx: &Cx, p: &Path) -> Option<Expr> {
        if let Some(what) = cx.data_only
            && !matches!(p.root.as_str(), "var" | "data" | "env")
        {
            return self.fail(
                Diagnostic::error(format!("{what} can use variables and other data sources, not `{}`", p.root))
                    .at(p.span.clone())
                    .hint("data sources are read before any resource is planned"),
            );
        }
        match p.root.as_str() {
            "var" => {
                let Some(Step::Attr(name, _)) = p.steps.first() else {
                    return self.fail(Diagnostic::error("expected `var.NAME`").at(p.span.clone()));
                };
                let Some(binding) = scope.vars.get(name) else {
                    let (what, fallback) = if scope.module.is_empty() {
                        ("undeclared variable", "declare it in the stack's [vars] table")
                    } else {
                        ("undeclared module input", "declare it in module.toml as [input.NAME]")
                    };
                    let d = Diagnostic::error(format!("{what} `{name}`")).at(p.span.clone());
                    let names: Vec<&str> = scope.vars.keys().map(String::as_str).collect();
                    return self.fail(suggest(d, name, names, Some(fallback.to_owned())));
                };
                if scope.module.is_empty() && self.sensitive.contains(name) && !cx.sensitive_ok {
                    return self.fail(
                        Diagnostic::error(format!("`var.{name}` is sensitive and cannot be used here"))
                            .at(p.span.clone())
                            .detail("its value would be stored in state and saved plans, or shown in output")
                            .hint("use it in a write-only attribute or in an output marked `sensitive = true`"),
                    );
                }
                let value = binding.clone()?;
                if scope.module.is_empty() && self.sensitive.contains(name) {
                    if p.steps.len() > 1 {
                        return self.fail(
                            Diagnostic::error(format!("sensitive `var.{name}` is used whole, not a part of it"))
                                .at(p.span.clone())
                                .hint("declare the part you need as a sensitive variable of its own"),
                        );
                    }
                    let value = value.as_lit().cloned();
                    return Some(Expr::Sensitive(Box::new(SensitiveVar {
                        name: name.clone(),
                        value,
                        span: p.span.clone(),
                    })));
                }
                self.walk(scope, cx, value, &p.root, &p.steps, 1)
            }
            "each" => {
                let Some((key, value)) = cx.each else {
                    let d = match cx.static_only {
                        Some(what) => Diagnostic::error(format!("{what} cannot use `each`"))
                            .hint("it is evaluated once for the whole resource block, before its instances exist"),
                        None => Diagnostic::error("`each` is only available in a resource with `for_each`"),
                    };
                    return self.fail(d.at(p.span.clone()));
                };
                match p.steps.first() {
                    Some(Step::Attr(k, _)) if k == "key" => {
                        self.walk(scope, cx, Expr::Lit(Value::Str(key.clone())), &p.root, &p.steps, 1)
                    }
                    Some(Step::Attr(k, _)) if k == "value" => {
                        self.walk(scope, cx, Expr::Lit(value.clone()), &p.root, &p.steps, 1)
                    }
                    _ => self.fail(Diagnostic::error("expected `each.key` or `each.value`").at(p.span.clone())),
                }
            }
            "module" => self.module_ref(scope, cx, p),
            "data" => self.data_ref(cx, p),
            "env" => match p.steps.first() {
                None => Some(Expr::Lit(Value::Str(self.stack.env.clone()))),
                Some(Step::Attr(k, _)) if k == "name" => {
                    let env = Expr::Lit(Value::Str(self.stack.env.clone()));
                    self.walk(scope, cx, env, &p.root, &p.steps, 1)
                }
                _ => self.fail(
                    Diagnostic::error("expected `env` or `env.name`")
                        .at(p.span.clone())
                        .hint("`${env}` is the environment selected with --env (empty without one)"),
                ),
            },
            _ => self.resource_ref(scope, cx, p),
        }
    }

    /// Applies `steps[from..]` (keys and indexes) to an already resolved value.
    fn walk(
        &mut self,
        scope: &mut Scope,
        cx: &Cx,
        mut e: Expr,
        root: &str,
        steps: &[Step],
        from: usize,
    ) -> Option<Expr> {
        for i in from..steps.len() {
            let shown = label(root, &steps[..i]);
            e = self.index(scope, cx, e, &shown, &steps[i])?;
        }
        Some(e)
    }

    /// `e.key`, `e["key"]` or `e[0]`.
    fn index(&mut self, scope: &mut Scope, cx: &Cx, e: Expr, shown: &str, step: &Step) -> Option<Expr> {
        let at = step.span().clone();
        let key = match step {
            Step::Attr(a, _) => a.clone(),
            Step::Index(t, _) => self.static_key(scope, cx, t, &at)?,
            Step::Splat(_) => {
                return self.fail(Diagnostic::error("`[*]` can only follow a resource name").at(at));
            }
        };
        let no_key = |this: &mut Self, keys: Vec<&str>| {
            let d = Diagnostic::error(format!("`{shown}` has no key `{key}`")).at(at.clone());
            let listed = format!("keys: {}", keys.join(", "));
            this.fail(suggest(d, &key, keys, Some(listed)))
        };
        let bad_index = |this: &mut Self, len: usize| {
            this.fail(
                Diagnostic::error(format!("`{shown}` is a list of {len}; `{key}` is not an index into it"))
                    .at(at.clone()),
            )
        };
        match e {
            Expr::Lit(Value::Map(m)) => match m.get(&key) {
                Some(v) => Some(Expr::Lit(v.clone())),
                None => no_key(self, m.keys().map(String::as_str).collect()),
            },
            Expr::Map(m) => match m.get(&key) {
                Some(v) => Some(v.clone()),
                None => no_key(self, m.keys().map(String::as_str).collect()),
            },
            Expr::Lit(Value::List(l)) => match key.parse::<usize>().ok().and_then(|i| l.get(i)) {
                Some(v) => Some(Expr::Lit(v.clone())),
                None => bad_index(self, l.len()),
            },
            Expr::List(l) => match key.parse::<usize>().ok().and_then(|i| l.get(i)) {
                Some(v) => Some(v.clone()),
                None => bad_index(self, l.len()),
            },
            Expr::Ref(r) if r.splat => self.fail(
                Diagnostic::error(format!("`{shown}` is a list known only at apply time and cannot be indexed"))
                    .at(at.clone())
                    .hint("reference the instance you need directly: `TYPE.NAME[\"KEY\"].ATTR`"),
            ),
            Expr::Ref(mut r) => {
                r.path.push(key);
                if let Some(schema) = self.registry.schema_of(&r.target.rtype)
                    && let Err(d) = validate::check_ref_path(schema, &r.target.resource().to_string(), &r.path, &at)
                {
                    return self.fail(d);
                }
                Some(Expr::Ref(r))
            }
            Expr::Lit(v) => self
                .fail(Diagnostic::error(format!("`{shown}` is a {}; it has no `{key}`", v.type_name())).at(at.clone())),
            _ => self.fail(
                Diagnostic::error(format!("`{shown}` is only known at apply time and cannot be indexed"))
                    .at(at.clone()),
            ),
        }
    }

    /// An index expression: a string or integer known at load time.
    fn static_key(&mut self, scope: &mut Scope, cx: &Cx, t: &TExpr, at: &Span) -> Option<String> {
        let cx = Cx { static_only: Some("an index"), sensitive_ok: false, ..*cx };
        match self.resolve_t(scope, &cx, t, at)? {
            Expr::Lit(Value::Str(s)) => Some(s),
            Expr::Lit(Value::Int(i)) => Some(i.to_string()),
            Expr::Lit(v) => self.fail(
                Diagnostic::error(format!("an index must be a string or integer, got {}", v.type_name()))
                    .at(at.clone()),
            ),
            _ => self.fail(Diagnostic::error("an index must be known before apply").at(at.clone())),
        }
    }

    /// `${data.TYPE.NAME.ATTR}`: a reference the plan fills in once it has
    /// read the data source (unknown until then).
    fn data_ref(&mut self, cx: &Cx, p: &Path) -> Option<Expr> {
        if let Some(what) = cx.static_only {
            return self.fail(
                Diagnostic::error(format!("{what} must be known before apply; data sources are read at plan time"))
                    .at(p.span.clone()),
            );
        }
        let (Some(Step::Attr(dtype, _)), Some(Step::Attr(name, _))) = (p.steps.first(), p.steps.get(1)) else {
            return self.fail(Diagnostic::error("expected `data.TYPE.NAME.ATTRIBUTE`").at(p.span.clone()));
        };
        let target = super::data::data_addr(dtype, name);
        if !self.data.contains_key(&target) {
            let d = Diagnostic::error(format!("unknown data source `data.{dtype}.{name}`")).at(p.span.clone());
            let names: Vec<String> = self.data.keys().map(ToString::to_string).collect();
            let shown = format!("data.{dtype}.{name}");
            return self.fail(match did_you_mean(&shown, names.iter().map(String::as_str)) {
                Some(s) => d.hint(format!("did you mean `{s}`?")),
                None => d.hint(format!("declare it with [data.{dtype}.{name}]")),
            });
        }
        let mut path = Vec::new();
        for step in &p.steps[2..] {
            match step {
                Step::Attr(a, _) => path.push(a.clone()),
                Step::Index(TExpr::Lit(v), _) => path.push(v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
                Step::Index(_, at) | Step::Splat(at) => {
                    return self
                        .fail(Diagnostic::error("index a data source with a literal key or number").at(at.clone()));
                }
            }
        }
        let schema = self.registry.data_schema_of(dtype)?;
        if let Err(d) = validate::check_ref_path(schema, &format!("data.{dtype}.{name}"), &path, &p.span) {
            return self.fail(d);
        }
        Some(Expr::Ref(Box::new(Ref { target, splat: false, path, span: p.span.clone() })))
    }

    fn module_ref(&mut self, scope: &mut Scope, cx: &Cx, p: &Path) -> Option<Expr> {
        if let Some(what) = cx.static_only {
            return self.fail(
                Diagnostic::error(format!("{what} must be known before apply; it cannot use module outputs"))
                    .at(p.span.clone()),
            );
        }
        let Some(Step::Attr(m, _)) = p.steps.first() else {
            return self.fail(Diagnostic::error("expected `module.NAME.OUTPUT`").at(p.span.clone()));
        };
        let module = self.module_slot(scope, m, &p.span)?;
        if module.disabled {
            return self.fail(
                Diagnostic::error(format!("module `{m}` is disabled (`enabled = false`): it has no outputs"))
                    .at(p.span.clone())
                    .hint("refer to its outputs only where it is enabled"),
            );
        }
        // With for_each: `module.NAME["KEY"].OUTPUT`, the outputs of that instance.
        let (outputs, at) = match (&module.keyed, p.steps.get(1)) {
            (Some(keyed), Some(Step::Index(t, at))) => {
                let key = self.static_key(scope, cx, t, at)?;
                match keyed.get(&key) {
                    Some(outputs) => (outputs.clone(), 2),
                    None => {
                        let d = Diagnostic::error(format!("module `{m}` has no instance `{key}`")).at(at.clone());
                        let keys: Vec<&str> = keyed.keys().map(String::as_str).collect();
                        let listed = format!("its keys: {}", keys.join(", "));
                        return self.fail(suggest(d, &key, keys, Some(listed)));
                    }
                }
            }
            (Some(_), _) => {
                return self.fail(
                    Diagnostic::error(format!("module `{m}` has `for_each`; say which instance"))
                        .at(p.span.clone())
                        .hint(format!("use `module.{m}[\"KEY\"].OUTPUT`")),
                );
            }
            (None, Some(Step::Index(_, at))) => {
                return self.fail(Diagnostic::error(format!("module `{m}` has no `for_each` to index")).at(at.clone()));
            }
            (None, _) => (module.outputs.clone(), 1),
        };
        let Some(Step::Attr(out, _)) = p.steps.get(at) else {
            return self.fail(Diagnostic::error("expected `module.NAME.OUTPUT`").at(p.span.clone()));
        };
        match outputs.get(out) {
            None => {
                let d = Diagnostic::error(format!("module `{m}` has no output `{out}`")).at(p.span.clone());
                let names: Vec<&str> = outputs.keys().map(String::as_str).collect();
                let listed = format!("its outputs: {}", names.join(", "));
                self.fail(suggest(d, out, names, Some(listed)))
            }
            Some(expr) => {
                let e = expr.clone()?;
                self.walk(scope, cx, e, &p.root, &p.steps, at + 1)
            }
        }
    }

    /// The expanded module `name` of `scope`, expanding it now if needed.
    fn module_slot(&mut self, scope: &mut Scope, name: &str, at: &Span) -> Option<super::scope::ModuleOut> {
        if matches!(scope.modules.get(name), Some(ModuleSlot::Pending(_))) {
            self.instantiate_module(scope, name);
        }
        match scope.modules.get(name) {
            None => {
                let d = Diagnostic::error(format!("unknown module `{name}`")).at(at.clone());
                let names: Vec<&str> = scope.modules.keys().map(String::as_str).collect();
                self.fail(suggest(d, name, names, Some(format!("declare it with [module.{name}]"))))
            }
            Some(ModuleSlot::Done(out)) => Some(out.clone()),
            Some(ModuleSlot::Running) => self.fail(
                Diagnostic::error(format!("module `{name}` depends on its own outputs"))
                    .at(at.clone())
                    .hint("a module's inputs cannot use, directly or through other modules, that module's outputs"),
            ),
            Some(ModuleSlot::Failed | ModuleSlot::Pending(_)) => None,
        }
    }

    /// A declared resource block of this scope, by type and name.
    fn find_block(
        &mut self,
        scope: &Scope,
        rtype: &str,
        name: &str,
        at: &Span,
    ) -> Option<(Instances, Option<&'static Schema>)> {
        if let Some(b) = scope.blocks.get(&(rtype.to_owned(), name.to_owned())) {
            return Some((b.instances.clone(), b.schema));
        }
        let wanted = format!("{rtype}.{name}");
        let d = Diagnostic::error(format!("reference to undeclared resource `{wanted}`")).at(at.clone());
        let declared: Vec<String> = scope.blocks.keys().map(|(t, n)| format!("{t}.{n}")).collect();
        let fallback = (!scope.module.is_empty())
            .then(|| "inside a module, references name the module's own resources".to_owned());
        self.fail(suggest(d, &wanted, declared.iter().map(String::as_str), fallback))
    }

    /// The key of `TYPE.NAME[key]`, checked against the block's instances.
    fn instance_key(
        &mut self,
        scope: &mut Scope,
        cx: &Cx,
        shown: &str,
        instances: &Instances,
        t: &TExpr,
        at: &Span,
    ) -> Option<String> {
        let Instances::Keyed(keyed) = instances else {
            return self
                .fail(Diagnostic::error(format!("`{shown}` has no `for_each`; it takes no `[...]`")).at(at.clone()));
        };
        let key = self.static_key(scope, cx, t, at)?;
        if keyed.contains(&key) {
            return Some(key);
        }
        let listed: Vec<String> = keyed.pairs.iter().map(|(k, _)| format!("{k:?}")).collect();
        let hint = if listed.is_empty() {
            "it has no instances".to_owned()
        } else {
            format!("its keys: {}", listed.join(", "))
        };
        self.fail(Diagnostic::error(format!("`{shown}` has no instance {key:?}")).at(at.clone()).hint(hint))
    }

    /// A reference to a resource switched off with `enabled = false`.
    fn disabled(shown: &str, at: &Span) -> Diagnostic {
        Diagnostic::error(format!("`{shown}` is disabled (`enabled = false`)"))
            .at(at.clone())
            .hint(format!("remove this reference, or use `{shown}[*]...`, which is an empty list while it is disabled"))
    }

    fn resource_ref(&mut self, scope: &mut Scope, cx: &Cx, p: &Path) -> Option<Expr> {
        let Some(Step::Attr(name, _)) = p.steps.first() else {
            return self.fail(
                Diagnostic::error(format!("unknown reference `{}`", label(&p.root, &p.steps)))
                    .at(p.span.clone())
                    .hint("references look like `var.NAME`, `TYPE.NAME.ATTR`, `module.NAME.OUTPUT` or `each.key`"),
            );
        };
        let shown = format!("{}.{name}", p.root);
        let (instances, schema) = self.find_block(scope, &p.root, name, &p.span)?;
        if let Some(what) = cx.static_only {
            return self.fail(
                Diagnostic::error(format!("{what} must be known before apply; it cannot reference `{shown}`"))
                    .at(p.span.clone()),
            );
        }
        let addr = ResourceAddr::new(&p.root, name).in_module(scope.module.clone());
        let mut rest = &p.steps[1..];
        let (target, splat) = match (&instances, rest.first()) {
            (Instances::Broken, _) => return None,
            (Instances::Disabled, Some(Step::Splat(_))) => return Some(Expr::Lit(Value::List(Vec::new()))),
            (Instances::Disabled, _) => {
                return self.fail(Self::disabled(&shown, &p.span));
            }
            (_, Some(Step::Splat(_))) => {
                rest = &rest[1..];
                (addr, true)
            }
            (_, Some(Step::Index(t, at))) => {
                let key = self.instance_key(scope, cx, &shown, &instances, t, at)?;
                rest = &rest[1..];
                (addr.with_key(key), false)
            }
            (Instances::Keyed(_), _) => {
                return self.fail(
                    Diagnostic::error(format!("`{shown}` has `for_each`; say which instance"))
                        .at(p.span.clone())
                        .hint(format!("use `{shown}[\"KEY\"]` for one instance or `{shown}[*]` for the list over all")),
                );
            }
            (Instances::Single, _) => (addr, false),
        };
        let mut path = Vec::new();
        for step in rest {
            match step {
                Step::Attr(a, _) => path.push(a.clone()),
                Step::Index(t, at) => path.push(self.static_key(scope, cx, t, at)?),
                Step::Splat(at) => {
                    return self.fail(Diagnostic::error("`[*]` can only follow the resource name").at(at.clone()));
                }
            }
        }
        if let Some(schema) = schema
            && let Err(d) = validate::check_ref_path(schema, &shown, &path, &p.span)
        {
            return self.fail(d);
        }
        if let Some(attr) = schema.zip(path.first()).and_then(|(s, a)| s.attr(a)).filter(|a| a.write_only) {
            return self.fail(self.write_only_ref(&format!("{shown}.{}", attr.name), &p.span));
        }
        Some(Expr::Ref(Box::new(Ref { target, splat, path, span: p.span.clone() })))
    }

    /// A reference to a write-only attribute, refused wherever it is written:
    /// its value is sent to AWS and never recorded, so at plan and apply time
    /// a reference to it evaluates to null (a value that would be planned
    /// forever as `null`, or sent as nothing in another write-only attribute).
    fn write_only_ref(&self, shown: &str, at: &Span) -> Diagnostic {
        let mut write_only: Vec<String> = self
            .registry
            .type_names()
            .into_iter()
            .filter_map(|t| Some((t, self.registry.schema_of(t)?)))
            .flat_map(|(t, s)| s.attrs.iter().filter(|a| a.write_only).map(move |a| format!("`{t}.{}`", a.name)))
            .collect();
        write_only.sort();
        Diagnostic::error(format!("`{shown}` is write-only and cannot be referenced"))
            .at(at.clone())
            .detail(
                "write-only values go to AWS and are never stored, so nothing can read them back: \
                 this reference would be null in every plan and apply",
            )
            .hint(format!(
                "give the value itself (a sensitive variable) to each write-only attribute that needs it ({}), \
                 or reference another attribute of the resource, such as its `arn`",
                write_only.join(", ")
            ))
    }

    /// One `depends_on` item: `TYPE.NAME`, `TYPE.NAME["KEY"]`, `module.NAME`,
    /// optionally written as `${...}`. Module items stand for all its resources.
    pub fn dependency(&mut self, scope: &mut Scope, cx: &Cx, node: &Node) -> Vec<ResourceAddr> {
        let NodeKind::Str(s) = &node.kind else {
            self.diags.push(
                Diagnostic::error(format!("`depends_on` items must be strings, got {}", node.type_name()))
                    .at(node.span.clone()),
            );
            return Vec::new();
        };
        let text = &s.value;
        let range = match text.strip_prefix("${").and_then(|t| t.strip_suffix('}')) {
            Some(inner) if !inner.contains("${") => 2..text.len() - 1,
            _ => 0..text.len(),
        };
        let map = SpanMap { file: node.span.file, content_start: s.content_start, whole: node.span.range.clone() };
        let p = match parse_path(text, range, &map) {
            Ok(p) => p,
            Err(d) => {
                self.diags.push(d);
                return Vec::new();
            }
        };
        let not_an_address = |p: &Path| {
            Diagnostic::error(format!(
                "`depends_on` takes resource addresses; `{}` is not one",
                label(&p.root, &p.steps)
            ))
            .at(p.span.clone())
            .hint("write `TYPE.NAME`, `TYPE.NAME[\"KEY\"]` or `module.NAME`")
        };
        match (p.root.as_str(), p.steps.as_slice()) {
            ("module", [Step::Attr(m, _)]) => self.module_slot(scope, m, &p.span).map(|o| o.blocks).unwrap_or_default(),
            ("var" | "each" | "module", _) => {
                self.diags.push(not_an_address(&p));
                Vec::new()
            }
            (rtype, [Step::Attr(name, _), rest @ ..]) => {
                let shown = format!("{rtype}.{name}");
                let Some((instances, _)) = self.find_block(scope, rtype, name, &p.span) else { return Vec::new() };
                let addr = ResourceAddr::new(rtype, name).in_module(scope.module.clone());
                match (&instances, rest) {
                    (Instances::Broken, _) => Vec::new(),
                    (Instances::Disabled, _) => {
                        self.diags.push(Self::disabled(&shown, &p.span));
                        Vec::new()
                    }
                    (_, []) => vec![addr],
                    (_, [Step::Index(t, at)]) => self
                        .instance_key(scope, cx, &shown, &instances, t, at)
                        .map(|k| addr.with_key(k))
                        .into_iter()
                        .collect(),
                    _ => {
                        self.diags.push(not_an_address(&p));
                        Vec::new()
                    }
                }
            }
            _ => {
                self.diags.push(not_an_address(&p));
                Vec::new()
            }
        }
    }
}
