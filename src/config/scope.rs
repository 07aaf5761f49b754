//! Expanding one file (the stack, or one use of a module) into resource
//! instances: resource blocks with `enabled` / `for_each`, meta-arguments,
//! tags, nested modules and outputs.
//!
//! A scope is the namespace of one file: inside a module, `var.X` is the
//! module's input X and `TYPE.NAME` one of the module's own resources.
//! Modules are expanded on first use (a reference to one of their outputs)
//! or at the end of their parent, whichever comes first.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use crate::addr::ResourceAddr;
use crate::diag::{Diagnostic, Span, did_you_mean, display_path};
use crate::schema::{Schema, TAG_ADDRESS, TAG_STACK};
use crate::value::Value;

use super::load::{Loader, invalid_name, valid_name};
use super::model::{Expr, OutputConfig, ResourceConfig, TIMEOUT_OPERATIONS};
use super::parse::{Entry, Node};
use super::resolve::Cx;
use super::validate;

/// Settings of a resource block that are not provider attributes.
/// The meta-arguments of a resource block: no schema attribute may take
/// one of these names (it would be read as the meta-argument).
pub const META_ARGUMENTS: &[&str] =
    &["for_each", "enabled", "depends_on", "region", "ignore_changes", "timeouts", "create_before_destroy"];
/// Top-level tables only a stack file may have.
const STACK_ONLY: &[&str] =
    &["stack", "regions", "vars", "state", "backend", "env", "check", "cost", "moved", "import", "data"];

/// The namespace of one file being expanded.
pub(super) struct Scope<'t> {
    /// Module path from the root (empty for the stack file).
    pub module: Vec<String>,
    /// Directory of the file; module sources resolve against it.
    pub dir: PathBuf,
    /// `var.X`: the stack's variables, or the module's inputs. `None` marks
    /// a value that could not be had, already reported (a variable given no
    /// value, an input whose expression failed): its uses report nothing more.
    pub vars: BTreeMap<String, Option<Expr>>,
    /// Declared resource blocks by (type, name).
    pub blocks: BTreeMap<(String, String), Block<'t>>,
    /// `[module.NAME]` blocks by name.
    pub modules: BTreeMap<String, ModuleSlot>,
    /// The `[module.NAME]` headers that led here, outermost first.
    pub calls: Vec<Span>,
    /// For each module input: where its value was set in the calling file,
    /// by path inside the value (`""` for the whole, `[1]`, `.key`); an
    /// input passed on as a bare `${var.NAME}` keeps its caller's origin.
    pub input_origins: BTreeMap<String, BTreeMap<String, Span>>,
}

impl Scope<'_> {
    pub fn new(module: Vec<String>, dir: PathBuf, vars: BTreeMap<String, Option<Expr>>) -> Self {
        Scope {
            module,
            dir,
            vars,
            blocks: BTreeMap::new(),
            modules: BTreeMap::new(),
            calls: Vec::new(),
            input_origins: BTreeMap::new(),
        }
    }
}

/// A declared `[TYPE.NAME]` block.
/// Its node is borrowed from the file's parse tree, which outlives the scope.
pub(super) struct Block<'t> {
    /// `None` when the type is unknown (already reported).
    pub schema: Option<&'static Schema>,
    pub instances: Instances,
    pub node: &'t Node,
}

/// Which instances a block expands to.
#[derive(Debug, Clone)]
pub(super) enum Instances {
    /// No `for_each`: one instance with no key.
    Single,
    /// `for_each`: one instance per key, with its `each.value`.
    Keyed(Rc<Keyed>),
    /// `enabled = false`.
    Disabled,
    /// `enabled` / `for_each` could not be evaluated (already reported).
    Broken,
}

/// The instances of a block with `for_each`: keys in the order written, with
/// their values, and an index of the keys. Shared, not copied, by every
/// reference to the block, so references to a wide block stay cheap.
#[derive(Debug)]
pub(super) struct Keyed {
    pub pairs: Vec<(String, Value)>,
    keys: HashSet<String>,
}

impl Keyed {
    fn new(pairs: Vec<(String, Value)>) -> Keyed {
        let keys = pairs.iter().map(|(k, _)| k.clone()).collect();
        Keyed { pairs, keys }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }
}

/// A `[module.NAME]` block and its expansion state.
pub(super) enum ModuleSlot {
    Pending(Entry),
    /// Being expanded (a reference back to it is a cycle).
    Running,
    Done(ModuleOut),
    Failed,
}

/// A module's output expressions by name; `None` for one that failed (already reported).
type Outputs = BTreeMap<String, Option<Expr>>;

/// What a module gives its caller.
#[derive(Debug, Clone)]
pub(super) struct ModuleOut {
    /// Output expressions; `None` when an output failed (already reported).
    /// Empty for a module call with `for_each` (see `keyed`) or disabled.
    pub outputs: Outputs,
    /// Addresses of all its resource blocks (nested modules included).
    pub blocks: Vec<ResourceAddr>,
    /// With `for_each`: each instance's outputs by key.
    pub keyed: Option<BTreeMap<String, Outputs>>,
    /// `enabled = false`: no resources, no outputs.
    pub disabled: bool,
}

/// A `[module.NAME]` call being expanded, for each of its instances.
struct ModuleCall<'c> {
    name: &'c str,
    header: &'c Span,
    items: &'c [Entry],
    declared: &'c BTreeMap<String, Input>,
    dir: &'c std::path::Path,
    canonical: &'c std::path::Path,
    top: &'c [Entry],
}

/// What expanding one file produced.
pub(super) struct ScopeOut {
    pub outputs: BTreeMap<String, Option<OutputConfig>>,
    pub blocks: Vec<ResourceAddr>,
}

/// A declared module input.
struct Input {
    ty: Option<&'static str>,
    default: Option<Value>,
}

const INPUT_TYPES: &[&str] = &["string", "number", "bool", "list", "table"];

fn input_type_matches(ty: &str, v: &Value) -> bool {
    matches!(
        (ty, v),
        ("string", Value::Str(_))
            | ("number", Value::Int(_) | Value::Float(_))
            | ("bool", Value::Bool(_))
            | ("list", Value::List(_))
            | ("table", Value::Map(_))
    )
}

impl Loader<'_> {
    /// Expands the top-level tables of one file into `scope`.
    pub fn run_scope<'t>(&mut self, scope: &mut Scope<'t>, top: &'t [Entry], root: bool) -> ScopeOut {
        let mut outputs = Vec::new();
        let mut types = Vec::new();
        for e in top {
            match e.key.as_str() {
                k if STACK_ONLY.contains(&k) => {
                    if !root {
                        self.diags.push(
                            Diagnostic::error(format!("[{k}] belongs in a stack file, not in a module"))
                                .at(e.key_span.clone()),
                        );
                    }
                }
                "input" => {
                    if root {
                        self.diags.push(
                            Diagnostic::error("[input.*] belongs in a module's module.toml")
                                .at(e.key_span.clone())
                                .hint("a stack file declares variables in [vars]"),
                        );
                    }
                }
                "module" => {
                    for m in self.table_entries(Some(e), "module", "modules like [module.NAME]") {
                        if valid_name(&m.key) {
                            scope.modules.insert(m.key.clone(), ModuleSlot::Pending(m));
                        } else {
                            self.diags.push(invalid_name("module", &m.key, &m.key_span));
                        }
                    }
                }
                "output" => outputs = self.table_entries(Some(e), "output", "outputs like [output.NAME]"),
                _ if e.value.as_table().is_none() => self.diags.push(
                    Diagnostic::error(format!("unexpected top-level value `{}`", e.key))
                        .at(e.key_span.clone())
                        .hint(format!("resources are tables: [TYPE.NAME], e.g. [{}.main]", e.key)),
                ),
                _ => types.push(e),
            }
        }

        let mut order = Vec::new();
        for te in types {
            order.extend(self.declare_blocks(scope, te));
        }
        order.sort_by_key(|(t, n)| scope.blocks[&(t.clone(), n.clone())].node.span.range.start);
        for key in &order {
            self.build_block(scope, key);
        }
        let pending: Vec<String> =
            scope.modules.iter().filter(|(_, s)| matches!(s, ModuleSlot::Pending(_))).map(|(k, _)| k.clone()).collect();
        for name in pending {
            self.instantiate_module(scope, &name);
        }

        let mut out = ScopeOut { outputs: BTreeMap::new(), blocks: Vec::new() };
        for o in outputs {
            let value = self.output(scope, &o);
            out.outputs.insert(o.key, value);
        }
        for ((t, n), b) in &scope.blocks {
            if matches!(b.instances, Instances::Single | Instances::Keyed(_)) {
                out.blocks.push(ResourceAddr::new(t, n).in_module(scope.module.clone()));
            }
        }
        for slot in scope.modules.values() {
            if let ModuleSlot::Done(m) = slot {
                out.blocks.extend(m.blocks.iter().cloned());
            }
        }
        out
    }

    /// Declares the blocks of one `[TYPE]` table; returns their keys.
    fn declare_blocks<'t>(&mut self, scope: &mut Scope<'t>, te: &'t Entry) -> Vec<(String, String)> {
        let schema = match validate::resource_type(self.registry, &te.key, &te.key_span) {
            Ok(s) => Some(s),
            Err(d) => {
                self.diags.push(d);
                None
            }
        };
        let mut keys = Vec::new();
        for be in te.value.as_table().unwrap_or_default() {
            if !valid_name(&be.key) {
                self.diags.push(invalid_name("resource", &be.key, &be.key_span));
                continue;
            }
            if be.value.as_table().is_none() {
                self.diags.push(
                    Diagnostic::error(format!("resource `{}.{}` must be a table", te.key, be.key))
                        .at(be.value.span.clone()),
                );
                continue;
            }
            let instances = self.instances(scope, &be.value);
            let key = (te.key.clone(), be.key.clone());
            scope.blocks.insert(key.clone(), Block { schema, instances, node: &be.value });
            keys.push(key);
        }
        keys
    }

    /// Evaluates `enabled` and `for_each` of a block.
    fn instances(&mut self, scope: &mut Scope, block: &Node) -> Instances {
        let cx = Cx::default();
        let enabled = match block.get("enabled") {
            None => true,
            Some(e) => match self.resolve_static(scope, &cx, &e.value, "`enabled`") {
                Some(Value::Bool(b)) => b,
                Some(v) => {
                    self.diags.push(
                        Diagnostic::error(format!("`enabled` must be a bool, got {}", v.type_name()))
                            .at(e.value.span.clone()),
                    );
                    return Instances::Broken;
                }
                None => return Instances::Broken,
            },
        };
        let keyed = match block.get("for_each") {
            None => None,
            Some(e) => match self.resolve_static(scope, &cx, &e.value, "`for_each`") {
                Some(v) => match self.for_each_keys(v, &e.value.span) {
                    Some(keys) => Some(keys),
                    None => return Instances::Broken,
                },
                None => return Instances::Broken,
            },
        };
        match (enabled, keyed) {
            (false, _) => Instances::Disabled,
            (true, Some(keys)) => Instances::Keyed(Rc::new(Keyed::new(keys))),
            (true, None) => Instances::Single,
        }
    }

    /// `for_each` over a table (key → value) or a list of strings (each its own key).
    fn for_each_keys(&mut self, v: Value, span: &Span) -> Option<Vec<(String, Value)>> {
        let pairs: Vec<(String, Value)> = match v {
            Value::Map(m) => m.into_iter().collect(),
            Value::List(items) => {
                let mut pairs: Vec<(String, Value)> = Vec::new();
                let mut seen = HashSet::new();
                for item in items {
                    let Value::Str(s) = item else {
                        return self.fail(
                            Diagnostic::error(format!(
                                "`for_each` list items must be strings, got {}",
                                item.type_name()
                            ))
                            .at(span.clone())
                            .hint("use a table to repeat over other values: { key = value, ... }"),
                        );
                    };
                    if !seen.insert(s.clone()) {
                        return self
                            .fail(Diagnostic::error(format!("duplicate `for_each` key {s:?}")).at(span.clone()));
                    }
                    pairs.push((s.clone(), Value::Str(s)));
                }
                pairs
            }
            other => {
                return self.fail(
                    Diagnostic::error(format!(
                        "`for_each` must be a table or a list of strings, got {}",
                        other.type_name()
                    ))
                    .at(span.clone()),
                );
            }
        };
        if let Some((k, _)) =
            pairs.iter().find(|(k, _)| k.is_empty() || k.chars().any(|c| c == '"' || c == '\\' || c.is_control()))
        {
            return self.fail(
                Diagnostic::error(format!("`for_each` key {k:?} cannot be used in an address"))
                    .at(span.clone())
                    .hint("keys must be non-empty and contain no quotes, backslashes or control characters"),
            );
        }
        Some(pairs)
    }

    /// Builds every instance of a declared block.
    fn build_block<'t>(&mut self, scope: &mut Scope<'t>, key: &(String, String)) {
        let Some(block) = scope.blocks.get(key) else { return };
        let (node, schema) = (block.node, block.schema);
        match block.instances.clone() {
            Instances::Single => self.build_instance(scope, key, node, schema, None),
            Instances::Keyed(keyed) => {
                for each in &keyed.pairs {
                    self.build_instance(scope, key, node, schema, Some(each));
                }
            }
            Instances::Disabled | Instances::Broken => {}
        }
    }

    /// Resolves one instance's settings and attributes and records it.
    fn build_instance(
        &mut self,
        scope: &mut Scope,
        (rtype, name): &(String, String),
        node: &Node,
        schema: Option<&'static Schema>,
        each: Option<&(String, Value)>,
    ) {
        let entries = node.as_table().unwrap_or_default();
        let block_addr = ResourceAddr::new(rtype, name).in_module(scope.module.clone());
        let shown = block_addr.to_string();
        let addr = ResourceAddr { key: each.map(|(k, _)| k.clone()), ..block_addr };
        let cx = Cx { each, static_only: None, sensitive_ok: false, data_only: None };
        let taggable = schema.is_some_and(|s| s.taggable);
        let mut rc = ResourceConfig {
            addr: addr.clone(),
            region: self.stack.default_region.clone(),
            region_explicit: false,
            attrs: BTreeMap::new(),
            depends_on: Vec::new(),
            ignore_changes: Vec::new(),
            timeouts: BTreeMap::new(),
            create_before_destroy: None,
            span: node.span.clone(),
            attr_spans: BTreeMap::new(),
            input_spans: BTreeMap::new(),
            module_calls: scope.calls.clone(),
        };
        let mut tags = self.stack.tags.clone();
        let mut tags_span = node.span.clone();
        for e in entries {
            match e.key.as_str() {
                "for_each" | "enabled" => {}
                "depends_on" => match e.value.kind {
                    super::parse::NodeKind::Array(ref items) => {
                        for item in items {
                            rc.depends_on.extend(self.dependency(scope, &cx, item));
                        }
                    }
                    _ => self.diags.push(
                        Diagnostic::error("`depends_on` must be a list of resource addresses").at(e.value.span.clone()),
                    ),
                },
                "region" => {
                    if let Some(r) = self.static_str(scope, &cx, &e.value, "`region`")
                        && let Some(id) = self.region(&r, &e.value.span)
                    {
                        rc.region = id;
                        rc.region_explicit = true;
                    }
                }
                "timeouts" => rc.timeouts = self.timeouts(scope, &cx, &e.value),
                "create_before_destroy" => match self.resolve_static(scope, &cx, &e.value, "`create_before_destroy`") {
                    Some(Value::Bool(b)) => rc.create_before_destroy = Some(b),
                    Some(v) => self.diags.push(
                        Diagnostic::error(format!("`create_before_destroy` must be a bool, got {}", v.type_name()))
                            .at(e.value.span.clone()),
                    ),
                    None => {}
                },
                "ignore_changes" => {
                    if let Some(s) = schema {
                        rc.ignore_changes = validate::check_ignore_changes(s, &shown, &e.value, &mut self.diags);
                    }
                }
                "tags" if taggable => {
                    tags_span = e.value.span.clone();
                    match self.resolve_node(scope, &cx, &e.value) {
                        Some(Expr::Map(m)) => self.merge_tags(&mut tags, m, &e.value),
                        Some(Expr::Lit(Value::Map(m))) => {
                            let m = m.into_iter().map(|(k, v)| (k, Expr::Lit(v))).collect();
                            self.merge_tags(&mut tags, m, &e.value);
                        }
                        Some(other) => self.diags.push(
                            Diagnostic::error(format!("`tags` on `{shown}` must be a table"))
                                .at(e.value.span.clone())
                                .detail(format!("got {}", describe(&other))),
                        ),
                        None => {}
                    }
                }
                _ => {
                    // A failed value stays as a placeholder so it is not also reported missing.
                    let write_only = schema.and_then(|s| s.attr(&e.key)).is_some_and(|a| a.write_only);
                    let cx = Cx { sensitive_ok: write_only, ..cx };
                    let value = self.resolve_node(scope, &cx, &e.value).unwrap_or(Expr::Lit(Value::Unknown));
                    rc.attrs.insert(e.key.clone(), value);
                    record_spans(&mut rc.attr_spans, e.key.clone(), &e.value);
                    record_origins(&mut rc.input_spans, &e.key, &e.value, &scope.input_origins);
                }
            }
        }
        if taggable {
            tags.insert(TAG_STACK.to_owned(), Expr::Lit(Value::str(&self.stack.name)));
            tags.insert(TAG_ADDRESS.to_owned(), Expr::Lit(Value::str(addr.to_string())));
            rc.attrs.insert("tags".to_owned(), Expr::Map(tags));
            rc.attr_spans.insert("tags".to_owned(), tags_span);
        }
        if let Some(s) = schema {
            // Meta-arguments are never looked up: no attribute is named like one.
            validate::check_attrs(s, &shown, &node.span, &mut rc.attrs, entries, &mut self.diags);
        }
        self.resources.insert(addr, rc);
    }

    /// `timeouts = { create = "120m", ... }`: known at load time; keys among
    /// [`TIMEOUT_OPERATIONS`], values non-zero durations such as `"90m"` or
    /// `"1h 30m"`. Entries in error are reported and left out.
    fn timeouts(&mut self, scope: &mut Scope, cx: &Cx, node: &Node) -> BTreeMap<String, Duration> {
        let mut out = BTreeMap::new();
        let Some(value) = self.resolve_static(scope, cx, node, "`timeouts`") else { return out };
        let Value::Map(m) = value else {
            self.diags.push(
                Diagnostic::error(format!("`timeouts` must be a table, got {}", value.type_name()))
                    .at(node.span.clone())
                    .hint("e.g. `timeouts = { create = \"120m\", delete = \"60m\" }`"),
            );
            return out;
        };
        for (op, v) in m {
            let entry = node.get(&op);
            let key_at = entry.map_or(&node.span, |e| &e.key_span).clone();
            let value_at = entry.map_or(&node.span, |e| &e.value.span).clone();
            if !TIMEOUT_OPERATIONS.contains(&op.as_str()) {
                let d = Diagnostic::error(format!("unknown operation `{op}` in `timeouts`")).at(key_at);
                self.diags.push(match did_you_mean(&op, TIMEOUT_OPERATIONS.iter().copied()) {
                    Some(s) => d.hint(format!("did you mean `{s}`?")),
                    None => d.hint(format!("`timeouts` accepts: {}", TIMEOUT_OPERATIONS.join(", "))),
                });
                continue;
            }
            let parsed = match &v {
                Value::Str(text) => humantime::parse_duration(text.trim()).map_err(|e| format!("`{text}`: {e}")),
                other => Err(format!("expected a duration string, got {}", other.type_name())),
            };
            match parsed {
                Ok(d) if !d.is_zero() => {
                    out.insert(op, d);
                }
                Ok(_) => {
                    self.diags.push(Diagnostic::error(format!("`timeouts.{op}` must be longer than zero")).at(value_at))
                }
                Err(msg) => self.diags.push(
                    Diagnostic::error(format!("invalid duration for `timeouts.{op}`: {msg}"))
                        .at(value_at)
                        .hint("write a duration such as \"90m\", \"2h\" or \"1h 30m\""),
                ),
            }
        }
        out
    }

    /// Merges a resource's own tags over the stack tags (ownership keys excluded).
    fn merge_tags(&mut self, tags: &mut BTreeMap<String, Expr>, own: BTreeMap<String, Expr>, node: &Node) {
        for (k, v) in own {
            if !self.reserved_tag(&k, node) {
                tags.insert(k, v);
            }
        }
    }

    /// Expands module `name` of `scope` if it is still pending.
    pub fn instantiate_module(&mut self, scope: &mut Scope, name: &str) {
        // A module expanded earlier (on first use by a sibling) keeps its slot.
        if !matches!(scope.modules.get(name), Some(ModuleSlot::Pending(_))) {
            return;
        }
        let Some(ModuleSlot::Pending(entry)) = scope.modules.insert(name.to_owned(), ModuleSlot::Running) else {
            return;
        };
        let result = self.expand_module(scope, name, &entry);
        scope.modules.insert(name.to_owned(), result.map_or(ModuleSlot::Failed, ModuleSlot::Done));
    }

    fn expand_module(&mut self, scope: &mut Scope, name: &str, entry: &Entry) -> Option<ModuleOut> {
        let header = &entry.value.span;
        let Some(items) = entry.value.as_table() else {
            return self.fail(Diagnostic::error(format!("[module.{name}] must be a table")).at(header.clone()));
        };
        let Some(src) = entry.value.get("source") else {
            return self.fail(
                Diagnostic::error(format!("module `{name}` is missing `source`"))
                    .at(header.clone())
                    .hint("e.g. `source = \"network\"` for modules/network/"),
            );
        };
        let source = self.static_str(scope, &Cx::default(), &src.value, "a module `source`")?;
        let dir = match find_module_dir(&scope.dir, &source) {
            Ok(d) => d,
            Err(looked) => {
                return self.fail(
                    Diagnostic::error(format!("module source `{source}` not found"))
                        .at(src.value.span.clone())
                        .hint(looked),
                );
            }
        };
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        if self.module_stack.contains(&canonical) {
            return self.fail(
                Diagnostic::error(format!("module `{name}` includes itself"))
                    .at(src.value.span.clone())
                    .hint(format!("`{}` is already being expanded further up", display_path(&dir))),
            );
        }
        let node = self.module_file(&dir.join("module.toml"), &src.value.span)?;
        let top = node.as_table().unwrap_or_default();
        let declared = self.input_decls(top);
        let call = ModuleCall { name, header, items, declared: &declared, dir: &dir, canonical: &canonical, top };
        match self.instances(scope, &entry.value) {
            Instances::Broken => None,
            Instances::Disabled => {
                Some(ModuleOut { outputs: BTreeMap::new(), blocks: Vec::new(), keyed: None, disabled: true })
            }
            Instances::Single => {
                let (outputs, blocks) = self.module_instance(scope, &call, None)?;
                Some(ModuleOut { outputs, blocks, keyed: None, disabled: false })
            }
            Instances::Keyed(keys) => {
                let mut keyed = BTreeMap::new();
                let mut all = Vec::new();
                for pair in &keys.pairs {
                    let (outputs, blocks) = self.module_instance(scope, &call, Some(pair))?;
                    keyed.insert(pair.0.clone(), outputs);
                    all.extend(blocks);
                }
                Some(ModuleOut { outputs: BTreeMap::new(), blocks: all, keyed: Some(keyed), disabled: false })
            }
        }
    }

    /// One instance of a module call (the only one, or the one of `each`):
    /// its inputs resolved (with `each` when the call has `for_each`) and
    /// its file expanded under the module path `NAME` or `NAME["KEY"]`.
    fn module_instance(
        &mut self,
        scope: &mut Scope,
        call: &ModuleCall<'_>,
        each: Option<&(String, Value)>,
    ) -> Option<(Outputs, Vec<ResourceAddr>)> {
        let (name, header, declared) = (call.name, call.header, call.declared);
        let cx = Cx { each, ..Cx::default() };
        let mut vars = BTreeMap::new();
        let mut origins = BTreeMap::new();
        for it in call.items.iter().filter(|i| !matches!(i.key.as_str(), "source" | "for_each" | "enabled")) {
            if matches!(it.key.as_str(), "depends_on" | "count" | "providers") {
                self.diags.push(
                    Diagnostic::error(format!("`{}` is not supported on modules", it.key)).at(it.key_span.clone()),
                );
                continue;
            }
            let Some(decl) = declared.get(&it.key) else {
                let d = Diagnostic::error(format!("module `{name}` has no input `{}`", it.key)).at(it.key_span.clone());
                let names: Vec<&str> = declared.keys().map(String::as_str).collect();
                self.diags.push(match did_you_mean(&it.key, names.iter().copied()) {
                    Some(s) => d.hint(format!("did you mean `{s}`?")),
                    None => d.hint(format!("its inputs: {}", names.join(", "))),
                });
                continue;
            };
            let value = self.resolve_node(scope, &cx, &it.value);
            if let (Some(Expr::Lit(v)), Some(ty)) = (&value, decl.ty)
                && !input_type_matches(ty, v)
            {
                self.diags.push(
                    Diagnostic::error(format!(
                        "input `{}` of module `{name}` must be a {ty}, got {}",
                        it.key,
                        v.type_name()
                    ))
                    .at(it.value.span.clone()),
                );
            }
            vars.insert(it.key.clone(), value);
            let origin = match bare_var(&it.value).and_then(|v| scope.input_origins.get(v)) {
                Some(callers) => callers.clone(),
                None => {
                    let mut spans = BTreeMap::new();
                    record_spans(&mut spans, String::new(), &it.value);
                    spans
                }
            };
            origins.insert(it.key.clone(), origin);
        }
        for (k, decl) in declared {
            if vars.contains_key(k) {
                continue;
            }
            match &decl.default {
                Some(v) => {
                    vars.insert(k.clone(), Some(Expr::Lit(v.clone())));
                }
                None => {
                    self.diags.push(
                        Diagnostic::error(format!("module `{name}` is missing input `{k}`"))
                            .at(header.clone())
                            .hint(format!("add `{k} = ...` to [module.{name}]")),
                    );
                    vars.insert(k.clone(), None);
                }
            }
        }

        let mut path = scope.module.clone();
        path.push(match each {
            Some((key, _)) => format!("{name}[{key:?}]"),
            None => name.to_owned(),
        });
        let mut child = Scope::new(path, call.dir.to_owned(), vars);
        child.calls = [scope.calls.clone(), vec![header.clone()]].concat();
        child.input_origins = origins;
        self.module_stack.push(call.canonical.to_owned());
        let out = self.run_scope(&mut child, call.top, false);
        self.module_stack.pop();
        let outputs = out.outputs.into_iter().map(|(k, o)| (k, o.map(|o| o.value))).collect();
        Some((outputs, out.blocks))
    }

    /// The `[input.NAME]` declarations of a module file.
    fn input_decls(&mut self, top: &[Entry]) -> BTreeMap<String, Input> {
        let mut out = BTreeMap::new();
        let inputs = self.table_entries(top.iter().find(|e| e.key == "input"), "input", "inputs like [input.NAME]");
        for i in inputs {
            if !valid_name(&i.key) {
                self.diags.push(invalid_name("input", &i.key, &i.key_span));
                continue;
            }
            let settings =
                self.table_entries(Some(&i), &format!("input.{}", i.key), "settings (type, default, description)");
            self.unknown_keys(&settings, &["type", "default", "description"], &format!("[input.{}]", i.key));
            let get = |k: &str| settings.iter().find(|e| e.key == k);
            let ty = match get("type") {
                None => None,
                Some(t) => match INPUT_TYPES.iter().find(|x| Some(**x) == t.value.as_str()) {
                    Some(x) => Some(*x),
                    None => {
                        self.diags.push(
                            Diagnostic::error("unknown input type")
                                .at(t.value.span.clone())
                                .hint(format!("use one of: {}", INPUT_TYPES.join(", "))),
                        );
                        None
                    }
                },
            };
            let default = get("default").filter(|d| self.plain_value(&d.value, "input defaults")).map(|d| {
                let v = d.value.to_value();
                if let Some(ty) = ty.filter(|ty| !input_type_matches(ty, &v)) {
                    self.diags.push(
                        Diagnostic::error(format!(
                            "default of input `{}` must be a {ty}, got {}",
                            i.key,
                            v.type_name()
                        ))
                        .at(d.value.span.clone()),
                    );
                }
                v
            });
            if let Some(d) = get("description")
                && d.value.as_str().is_none()
            {
                self.diags.push(Diagnostic::error("`description` must be a string").at(d.value.span.clone()));
            }
            out.insert(i.key.clone(), Input { ty, default });
        }
        out
    }

    /// One `[output.NAME]`: `value`, `description`, `sensitive`.
    fn output(&mut self, scope: &mut Scope, o: &Entry) -> Option<OutputConfig> {
        if !valid_name(&o.key) {
            return self.fail(invalid_name("output", &o.key, &o.key_span));
        }
        let entries =
            self.table_entries(Some(o), &format!("output.{}", o.key), "settings (value, description, sensitive)");
        self.unknown_keys(&entries, &["value", "description", "sensitive"], &format!("[output.{}]", o.key));
        let get = |k: &str| entries.iter().find(|e| e.key == k);
        let description =
            get("description").and_then(|d| self.static_str(scope, &Cx::default(), &d.value, "an output description"));
        let sensitive = match get("sensitive") {
            None => false,
            Some(s) => match self.resolve_static(scope, &Cx::default(), &s.value, "`sensitive`") {
                Some(Value::Bool(b)) => b,
                Some(v) => {
                    return self.fail(
                        Diagnostic::error(format!("`sensitive` must be a bool, got {}", v.type_name()))
                            .at(s.value.span.clone()),
                    );
                }
                None => return None,
            },
        };
        let Some(v) = get("value") else {
            return self
                .fail(Diagnostic::error(format!("output `{}` is missing `value`", o.key)).at(o.value.span.clone()));
        };
        let value = self.resolve_node(scope, &Cx { sensitive_ok: sensitive, ..Cx::default() }, &v.value)?;
        Some(OutputConfig { value, description, sensitive, span: o.value.span.clone() })
    }
}

/// Records the span of a value at `path`, and of everything written inside
/// it at `path.key` / `path[i]`.
fn record_spans(spans: &mut BTreeMap<String, Span>, path: String, node: &Node) {
    match &node.kind {
        super::parse::NodeKind::Table(entries) => {
            for e in entries {
                record_spans(spans, format!("{path}.{}", e.key), &e.value);
            }
        }
        super::parse::NodeKind::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                record_spans(spans, format!("{path}[{i}]"), item);
            }
        }
        _ => {}
    }
    spans.insert(path, node.span.clone());
}

/// The input a value written as exactly `${var.NAME}` names.
fn bare_var(node: &Node) -> Option<&str> {
    let super::parse::NodeKind::Str(s) = &node.kind else { return None };
    let name = s.value.strip_prefix("${var.")?.strip_suffix('}')?;
    name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-').then_some(name)
}

/// Records in `origins`, under `path` and the paths below it, where the
/// module inputs that `node` (or a value inside it) names as a bare
/// `${var.NAME}` were set ([`Scope::input_origins`]).
fn record_origins(
    origins: &mut BTreeMap<String, Span>,
    path: &str,
    node: &Node,
    inputs: &BTreeMap<String, BTreeMap<String, Span>>,
) {
    if inputs.is_empty() {
        return;
    }
    if let Some(set) = bare_var(node).and_then(|name| inputs.get(name)) {
        origins.extend(set.iter().map(|(suffix, span)| (format!("{path}{suffix}"), span.clone())));
        return;
    }
    match &node.kind {
        super::parse::NodeKind::Table(entries) => {
            for e in entries {
                record_origins(origins, &format!("{path}.{}", e.key), &e.value, inputs);
            }
        }
        super::parse::NodeKind::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                record_origins(origins, &format!("{path}[{i}]"), item, inputs);
            }
        }
        _ => {}
    }
}

/// A short description of an expression's kind, for "must be a table" errors.
fn describe(e: &Expr) -> String {
    match e {
        Expr::Lit(v) => v.type_name().to_owned(),
        Expr::Ref(r) => format!("a reference to `{}`", r.target),
        _ => "a value computed at apply time".to_owned(),
    }
}

/// Finds a module directory: `./x` / `../x` relative to `base`, otherwise the
/// first `modules/NAME/` walking up from `base`. The error says where it looked.
fn find_module_dir(base: &Path, source: &str) -> Result<PathBuf, String> {
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_owned());
    if source.starts_with("./") || source.starts_with("../") || Path::new(source).is_absolute() {
        let dir = base.join(source);
        return if dir.join("module.toml").is_file() {
            Ok(dir)
        } else {
            Err(format!("no module.toml in `{}`", display_path(&dir)))
        };
    }
    for ancestor in base.ancestors() {
        let dir = ancestor.join("modules").join(source);
        if dir.join("module.toml").is_file() {
            return Ok(dir);
        }
    }
    Err(format!("looked for modules/{source}/module.toml in `{}` and every parent directory", display_path(&base)))
}
