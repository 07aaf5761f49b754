//! Loading a stack file: read and parse every file involved, settle variable
//! values (defaults < `[env.NAME]` < var files < `--var`), read `[stack]`,
//! `[regions]`, `[state]` and `[backend]`, then expand resources and modules (see
//! `scope.rs`) into a [`Stack`].
//!
//! All problems found in one run are reported together, sorted by file and
//! position. Files with TOML syntax errors report only those, so a broken
//! line does not cascade into misleading follow-up errors.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use sha2::{Digest, Sha256};

use crate::diag::{Diagnostic, Diagnostics, FileId, Severity, SourceMap, Span, did_you_mean};
use crate::schema::Schemas;
use crate::schema::{Constraint, Kind, TAG_ADDRESS, TAG_STACK};
use crate::value::Value;

use super::mask;
use super::model::{BACKEND_SETTINGS, COST_SETTINGS, Expr, ResourceConfig, S3BackendConfig, Stack};
use super::parse::{Entry, Node, parse_document, parse_value};
use super::resolve::Cx;
use super::scope::Scope;
use crate::addr::ResourceAddr;

/// How to load a stack.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--var K=V`, in command-line order.
    pub vars: Vec<(String, String)>,
    /// `--var-file F`, in order.
    pub var_files: Vec<PathBuf>,
    /// `[env.NAME]` overrides to apply.
    pub env: Option<String>,
    /// `PGSTACK_VAR_<name>` values from the environment: above `[env.NAME]`,
    /// below var files and `--var`; undeclared names are ignored.
    pub env_vars: Vec<(String, String)>,
    /// `--region`: the default region of resources that name none, in place
    /// of `[stack] region` (an AWS region id or a name from `[regions]`).
    pub region: Option<String>,
    /// `--backend-config KEY=VALUE`, in order: S3 backend settings over `[backend] s3`.
    pub backend_config: Vec<(String, String)>,
}

/// A loaded stack with every source file read (for rendering diagnostics).
#[derive(Debug)]
pub struct Loaded {
    pub stack: Stack,
    pub sources: SourceMap,
    pub warnings: Diagnostics,
}

/// `STACK` on the command line: a path, or `NAME` for `stacks/NAME.toml`
/// (when the argument has no `/`, no `.toml` suffix, and that file exists).
pub fn resolve_stack_path(arg: &str) -> PathBuf {
    stack_path_in(Path::new(""), arg)
}

/// The project a stack file belongs to: the directory holding the nearest
/// `stacks/` directory the file sits in (at any depth), else the stack
/// file's own directory; absolute, links followed. Never the working
/// directory: a stack's default state (`PROJECT/state/NAME.json`) is the same
/// file from wherever pgstack runs.
pub fn project_root(stack_dir: &Path) -> PathBuf {
    let dir = std::fs::canonicalize(stack_dir)
        .or_else(|_| std::path::absolute(stack_dir))
        .unwrap_or_else(|_| stack_dir.to_owned());
    dir.ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "stacks"))
        .and_then(Path::parent)
        .map_or_else(|| dir.clone(), Path::to_owned)
}

/// [`resolve_stack_path`] with `stacks/` looked up under `cwd`.
fn stack_path_in(cwd: &Path, arg: &str) -> PathBuf {
    if !arg.contains('/') && !arg.ends_with(".toml") {
        let candidate = Path::new("stacks").join(format!("{arg}.toml"));
        if cwd.join(&candidate).is_file() {
            return candidate;
        }
    }
    PathBuf::from(arg)
}

/// Loads, expands and validates a stack. On failure, every diagnostic found
/// (with the sources to render them).
pub fn load(path: &Path, opts: &LoadOptions, registry: &dyn Schemas) -> Result<Loaded, (SourceMap, Diagnostics)> {
    let mut loader = Loader::new(registry);
    let stack = loader.load_root(path, opts);
    loader.finish(stack)
}

/// Stack-wide settings every resource needs while it is built.
#[derive(Debug, Default)]
pub(super) struct StackInfo {
    pub name: String,
    pub default_region: String,
    pub regions: BTreeMap<String, String>,
    /// `[stack] tags`, already strings.
    pub tags: BTreeMap<String, Expr>,
    /// The selected environment (`--env`), what `${env.name}` gives (empty without one).
    pub env: String,
}

/// The state of one load: sources, diagnostics and the resources built so far.
pub(super) struct Loader<'r> {
    pub registry: &'r dyn Schemas,
    pub sources: SourceMap,
    /// Semantic problems (dropped for files that have syntax errors).
    pub diags: Vec<Diagnostic>,
    parse_diags: Vec<Diagnostic>,
    /// Files with TOML syntax errors.
    broken: BTreeSet<FileId>,
    /// Module files read so far, by path.
    module_files: BTreeMap<PathBuf, Rc<Node>>,
    /// Canonical directories of the modules being expanded, outermost first.
    pub module_stack: Vec<PathBuf>,
    pub resources: BTreeMap<ResourceAddr, ResourceConfig>,
    pub stack: StackInfo,
    /// Root variables declared `sensitive = true`.
    pub sensitive: BTreeSet<String>,
    /// The stack's `[data.TYPE.NAME]` blocks, declared before any resource
    /// is built so that references to them resolve.
    pub data: BTreeMap<ResourceAddr, super::model::DataConfig>,
}

impl<'r> Loader<'r> {
    fn new(registry: &'r dyn Schemas) -> Self {
        Loader {
            registry,
            sources: SourceMap::default(),
            diags: Vec::new(),
            parse_diags: Vec::new(),
            broken: BTreeSet::new(),
            module_files: BTreeMap::new(),
            module_stack: Vec::new(),
            resources: BTreeMap::new(),
            stack: StackInfo::default(),
            sensitive: BTreeSet::new(),
            data: BTreeMap::new(),
        }
    }

    /// Reports `d` and gives up on the current item.
    pub fn fail<T>(&mut self, d: Diagnostic) -> Option<T> {
        self.diags.push(d);
        None
    }

    /// Reads a file into the source map; `at` is where to blame a read error.
    fn read_source(&mut self, path: &Path, at: Option<&Span>) -> Option<FileId> {
        match std::fs::read_to_string(path) {
            Ok(text) => Some(self.sources.add(path, text)),
            Err(e) => {
                let shown = crate::diag::display_path(path);
                self.fail(Diagnostic::error(format!("cannot read `{shown}`: {e}")).at_opt(at.cloned()))
            }
        }
    }

    /// Reads and parses a file; `at` is where to blame a read error.
    fn read_file(&mut self, path: &Path, at: Option<&Span>) -> Option<Rc<Node>> {
        let file = self.read_source(path, at)?;
        let (node, diags) = parse_document(file, &self.sources.get(file).text);
        if !diags.is_empty() {
            self.broken.insert(file);
            self.parse_diags.extend(diags);
        }
        Some(Rc::new(node))
    }

    /// Reads and parses a `--var-file`, then masks values in its text so no
    /// snippet can show a secret: every value when the file has syntax
    /// errors (which key a value belongs to is not known then), otherwise
    /// the values of sensitive variables and of names not `declared` (a
    /// misspelled sensitive one), and values under a sensitive variable's
    /// name inside other values. A parser message that could quote masked
    /// text is replaced. `None` when the file cannot be read; the bool is
    /// true when it has syntax errors.
    fn read_var_file(&mut self, path: &Path, declared: &BTreeMap<String, Value>) -> Option<(Node, bool)> {
        let file = self.read_source(path, None)?;
        let text = self.sources.get(file).text.clone();
        let (node, mut diags) = parse_document(file, &text);
        let broken = !diags.is_empty();
        let masked = if broken {
            let masked = mask::mask_all_values(&text);
            for d in &mut diags {
                if mask::quotes_masked(&d.summary, &text, &masked) {
                    d.summary = "invalid TOML (the parser's message is not shown: it quotes a value)".into();
                }
            }
            self.broken.insert(file);
            self.parse_diags.extend(diags);
            masked
        } else {
            let sensitive = |name: &str| self.sensitive.contains(name);
            let hidden = |name: &str| sensitive(name) || !declared.contains_key(name);
            mask::mask_entries(&text, &node, &hidden, &sensitive)
        };
        self.sources.redact(file, masked);
        Some((node, broken))
    }

    /// A module's `module.toml`, read once however often it is used.
    pub fn module_file(&mut self, path: &Path, at: &Span) -> Option<Rc<Node>> {
        if let Some(f) = self.module_files.get(path) {
            return Some(f.clone());
        }
        let f = self.read_file(path, Some(at))?;
        self.module_files.insert(path.to_owned(), f.clone());
        Some(f)
    }

    fn load_root(&mut self, path: &Path, opts: &LoadOptions) -> Option<Stack> {
        let root = self.read_file(path, None)?;
        let root_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let top = root.as_table().unwrap_or_default();
        let find = |key: &str| top.iter().find(|e| e.key == key);

        self.stack.env = opts.env.clone().unwrap_or_default();
        // `[stack] environments` checks the selected one itself (it needs no [env.NAME]).
        let environments_declared =
            find("stack").and_then(|s| s.value.as_table()).is_some_and(|t| t.iter().any(|e| e.key == "environments"));
        let (vars, unset) = self.variables(find("vars"), find("env"), environments_declared, opts);
        // A variable without a value was reported once; its uses stay silent.
        let bindings = vars
            .iter()
            .map(|(k, v)| (k.clone(), Some(Expr::Lit(v.clone()))))
            .chain(unset.into_iter().map(|k| (k, None)))
            .collect();
        let mut scope = Scope::new(Vec::new(), root_dir.clone(), bindings);
        self.stack.regions = self.regions(&mut scope, find("regions"));
        self.stack_table(&mut scope, find("stack"), &root.span);
        let file_region = self.stack.default_region.clone();
        if let Some(flag) = &opts.region {
            self.region_flag(flag);
        }
        let state_path = self.state_table(&mut scope, find("state")).map(|p| root_dir.join(p));
        let backend =
            self.backend_table(&mut scope, find("backend"), &opts.backend_config, &file_region, find("state"));
        let check = self.check_table(&mut scope, find("check"));

        let cost = self.cost_table(&mut scope, find("cost"));
        let moved = self.moved_blocks(find("moved"));
        let imports = self.import_blocks(&mut scope, find("import"));
        self.data_blocks(&mut scope, find("data"));
        let out = self.run_scope(&mut scope, top, true);
        let declared: std::collections::BTreeSet<ResourceAddr> = self.resources.keys().cloned().collect();
        self.check_moves(&moved, &declared);
        self.check_imports(&imports, &declared);
        let outputs = out.outputs.into_iter().filter_map(|(k, o)| Some((k, o?))).collect();
        Some(Stack {
            name: self.stack.name.clone(),
            default_region: self.stack.default_region.clone(),
            regions: self.stack.regions.clone(),
            state_path,
            digest: self.digest(&vars, opts.region.as_deref(), backend.as_ref()),
            backend,
            resources: std::mem::take(&mut self.resources),
            outputs,
            root_dir,
            sensitive_vars: vars
                .iter()
                .filter(|(k, _)| self.sensitive.contains(*k))
                .map(|(k, v)| (k.clone(), v.to_json().to_string()))
                .collect(),
            vars: vars
                .iter()
                .filter(|(k, _)| !self.sensitive.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            check,
            cost,
            moved,
            imports,
            data: std::mem::take(&mut self.data),
        })
    }

    /// `[cost]`: known keys, each a number not below zero (variables allowed).
    fn cost_table(&mut self, scope: &mut Scope, e: Option<&Entry>) -> BTreeMap<String, f64> {
        let entries = self.table_entries(e, "cost", "usage figures like `data_gb = 500`");
        self.unknown_keys(&entries, COST_SETTINGS, "[cost]");
        let mut out = BTreeMap::new();
        for c in entries.iter().filter(|c| COST_SETTINGS.contains(&c.key.as_str())) {
            let what = format!("`{}` in [cost]", c.key);
            let n = match self.resolve_static(scope, &Cx::default(), &c.value, &what) {
                Some(Value::Int(i)) => i as f64,
                Some(Value::Float(f)) => f,
                Some(other) => {
                    let d = Diagnostic::error(format!("{what} must be a number, got {}", other.type_name()));
                    self.diags.push(d.at(c.value.span.clone()));
                    continue;
                }
                None => continue,
            };
            if n.is_finite() && n >= 0.0 {
                out.insert(c.key.clone(), n);
            } else {
                self.diags.push(Diagnostic::error(format!("{what} must not be negative")).at(c.value.span.clone()));
            }
        }
        out
    }

    /// Final variable values: `[vars]` defaults, then the selected
    /// `[env.NAME]`, then `PGSTACK_VAR_*`, then var files, then `--var`; and
    /// the declared variables left without a value. Each of those gets one
    /// error, at its declaration, unless some source gave it a value that was
    /// refused (that error is enough) or a var file has syntax errors (the
    /// value may be in it).
    fn variables(
        &mut self,
        vars: Option<&Entry>,
        env: Option<&Entry>,
        environments_declared: bool,
        opts: &LoadOptions,
    ) -> (BTreeMap<String, Value>, BTreeSet<String>) {
        let mut values = BTreeMap::new();
        let mut declared = BTreeMap::new();
        // Declared without a default: must be given.
        let mut needed = BTreeMap::new();
        // Names some source gave a value for, valid or not.
        let mut given = BTreeSet::new();
        let mut var_file_broken = false;
        for e in self.table_entries(vars, "vars", "variables like `name = value`") {
            if !valid_name(&e.key) {
                self.diags.push(invalid_name("variable", &e.key, &e.key_span));
            } else if !self.plain_value(&e.value, "variable values") {
            } else if let Some((sensitive, default)) = declaration(&e.value) {
                if sensitive {
                    self.sensitive.insert(e.key.clone());
                }
                match default {
                    Some(v) => {
                        values.insert(e.key.clone(), v.clone());
                        declared.insert(e.key.clone(), v);
                    }
                    None => {
                        declared.insert(e.key.clone(), Value::Str(String::new()));
                        needed.insert(e.key.clone(), e.key_span.clone());
                    }
                }
            } else {
                values.insert(e.key.clone(), e.value.to_value());
                declared.insert(e.key.clone(), e.value.to_value());
            }
        }

        let envs = self.table_entries(env, "env", "environments like [env.prod]");
        for e in &envs {
            let apply = opts.env.as_deref() == Some(e.key.as_str());
            for item in self.table_entries(Some(e), &format!("env.{}", e.key), "`vars = { ... }`") {
                if item.key != "vars" {
                    self.diags.push(
                        Diagnostic::error(format!("unknown setting `{}` in [env.{}]", item.key, e.key))
                            .at(item.key_span.clone())
                            .hint("an environment holds `vars = { name = value }`"),
                    );
                    continue;
                }
                for v in self.table_entries(Some(&item), &format!("env.{}.vars", e.key), "`name = value`") {
                    if apply {
                        given.insert(v.key.clone());
                    }
                    self.override_var(&declared, &mut values, &v, apply);
                }
            }
        }
        if let Some(name) = &opts.env
            && !envs.iter().any(|e| &e.key == name)
            && !environments_declared
        {
            let d = Diagnostic::error(format!("unknown environment `{name}`"));
            self.diags.push(match did_you_mean(name, envs.iter().map(|e| e.key.as_str())) {
                Some(s) => d.hint(format!("did you mean `{s}`?")),
                None if envs.is_empty() => d.hint("the stack declares no [env.NAME] tables"),
                None => d.hint(format!(
                    "environments: {}",
                    envs.iter().map(|e| e.key.as_str()).collect::<Vec<_>>().join(", ")
                )),
            });
        }

        for (key, text) in &opts.env_vars {
            if let Some(default) = declared.get(key) {
                given.insert(key.clone());
                match cli_value(default, text) {
                    Ok(v) => {
                        values.insert(key.clone(), v);
                    }
                    Err(e) => self.diags.push(Diagnostic::error(format!(
                        "invalid value for `PGSTACK_VAR_{key}`: {}",
                        self.redacted(key, e)
                    ))),
                }
            }
        }

        for path in &opts.var_files {
            let Some((node, broken)) = self.read_var_file(path, &declared) else { continue };
            var_file_broken |= broken;
            for v in node.as_table().unwrap_or_default() {
                given.insert(v.key.clone());
                self.override_var(&declared, &mut values, v, true);
            }
        }

        for (key, text) in &opts.vars {
            let Some(default) = declared.get(key) else {
                let d = Diagnostic::error(format!("`--var {key}=...`: undeclared variable `{key}`"));
                self.diags.push(match did_you_mean(key, declared.keys().map(String::as_str)) {
                    Some(s) => d.hint(format!("did you mean `{s}`?")),
                    None => d.hint("declare it in the stack's [vars] table"),
                });
                continue;
            };
            given.insert(key.clone());
            match cli_value(default, text) {
                Ok(v) => {
                    values.insert(key.clone(), v);
                }
                Err(e) => self
                    .diags
                    .push(Diagnostic::error(format!("invalid value for `--var {key}`: {}", self.redacted(key, e)))),
            }
        }
        let unset: BTreeSet<String> = needed.keys().filter(|k| !values.contains_key(*k)).cloned().collect();
        for name in unset.iter().filter(|k| !given.contains(*k) && !var_file_broken) {
            self.diags.push(
                Diagnostic::error(format!("variable `{name}` has no value"))
                    .at(needed[name].clone())
                    .detail("it is declared without a default")
                    .hint(format!(
                        "give it a value with `--var {name}=...`, in a file passed with `--var-file FILE` \
                         (a line `{name} = ...`), or in the environment as `PGSTACK_VAR_{name}`"
                    )),
            );
        }
        (values, unset)
    }

    /// An error message about variable `key`'s value, with the value left out
    /// when the variable is sensitive.
    fn redacted(&self, key: &str, message: String) -> String {
        if self.sensitive.contains(key) {
            "the value is not of the variable's type (not shown: sensitive)".into()
        } else {
            message
        }
    }

    /// Applies one override `name = value` from an environment or var file.
    fn override_var(
        &mut self,
        declared: &BTreeMap<String, Value>,
        values: &mut BTreeMap<String, Value>,
        e: &Entry,
        apply: bool,
    ) {
        let Some(default) = declared.get(&e.key) else {
            let d = Diagnostic::error(format!("undeclared variable `{}`", e.key)).at(e.key_span.clone());
            self.diags.push(match did_you_mean(&e.key, declared.keys().map(String::as_str)) {
                Some(s) => d.hint(format!("did you mean `{s}`?")),
                None => d.hint("declare it in the stack's [vars] table"),
            });
            return;
        };
        if !self.plain_value(&e.value, "variable values") {
            return;
        }
        match conform(default, e.value.to_value()) {
            Ok(v) if apply => {
                values.insert(e.key.clone(), v);
            }
            Ok(_) => {}
            Err(msg) => self.diags.push(
                Diagnostic::error(format!("wrong type for variable `{}`: {msg}", e.key)).at(e.value.span.clone()),
            ),
        }
    }

    /// False (after reporting) when a value that must be plain uses `${...}`.
    pub fn plain_value(&mut self, node: &Node, what: &str) -> bool {
        match node.find_template() {
            Some(t) => {
                self.diags.push(
                    Diagnostic::error(format!("{what} cannot use `${{...}}`"))
                        .at(t.span.clone())
                        .hint("write a plain value (use `$${` for a literal `${`)"),
                );
                false
            }
            None => true,
        }
    }

    /// The entries of a top-level or nested table, or nothing (after an error)
    /// when it is not a table.
    pub fn table_entries(&mut self, e: Option<&Entry>, name: &str, holds: &str) -> Vec<Entry> {
        match e {
            None => Vec::new(),
            Some(e) => match e.value.as_table() {
                Some(t) => t.to_vec(),
                None => {
                    self.diags.push(
                        Diagnostic::error(format!("`{name}` must be a table of {holds}")).at(e.value.span.clone()),
                    );
                    Vec::new()
                }
            },
        }
    }

    /// Reports keys of a settings table that are not among `known`.
    pub fn unknown_keys(&mut self, entries: &[Entry], known: &[&str], table: &str) {
        for e in entries.iter().filter(|e| !known.contains(&e.key.as_str())) {
            let d = Diagnostic::error(format!("unknown setting `{}` in {table}", e.key)).at(e.key_span.clone());
            self.diags.push(match did_you_mean(&e.key, known.iter().copied()) {
                Some(s) => d.hint(format!("did you mean `{s}`?")),
                None => d.hint(format!("{table} accepts: {}", known.join(", "))),
            });
        }
    }

    /// A string setting known at load time (templates over variables allowed).
    pub fn static_str(&mut self, scope: &mut Scope, cx: &Cx, node: &Node, what: &str) -> Option<String> {
        match self.resolve_static(scope, cx, node, what)? {
            Value::Str(s) => Some(s),
            other => self.fail(
                Diagnostic::error(format!("{what} must be a string, got {}", other.type_name())).at(node.span.clone()),
            ),
        }
    }

    fn regions(&mut self, scope: &mut Scope, e: Option<&Entry>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for r in self.table_entries(e, "regions", "named regions like `dr = \"us-west-2\"`") {
            if !valid_name(&r.key) {
                self.diags.push(invalid_name("region", &r.key, &r.key_span));
                continue;
            }
            let Some(id) = self.static_str(scope, &Cx::default(), &r.value, &format!("region `{}`", r.key)) else {
                continue;
            };
            if is_region_id(&id) {
                out.insert(r.key.clone(), id);
            } else {
                self.diags.push(not_a_region(&id, &r.value.span));
            }
        }
        out
    }

    /// A region setting: a name from `[regions]` or an AWS region id.
    pub fn region(&mut self, name: &str, span: &Span) -> Option<String> {
        if let Some(id) = self.stack.regions.get(name) {
            return Some(id.clone());
        }
        if is_region_id(name) {
            return Some(name.to_owned());
        }
        let d = Diagnostic::error(format!("unknown region `{name}`")).at(span.clone());
        let names = self.stack.regions.keys().map(String::as_str).chain(AWS_REGIONS.iter().copied());
        self.fail(match did_you_mean(name, names) {
            Some(s) => d.hint(format!("did you mean `{s}`?")),
            None => d.hint("use a name from [regions] or an AWS region id such as `us-west-2`"),
        })
    }

    /// `--region`: replaces the stack's default region when it names one.
    fn region_flag(&mut self, flag: &str) {
        if let Some(id) = self.stack.regions.get(flag).cloned().or_else(|| is_region_id(flag).then(|| flag.to_owned()))
        {
            self.stack.default_region = id;
            return;
        }
        let d = Diagnostic::error(format!("--region `{flag}` is not an AWS region"));
        let names = self.stack.regions.keys().map(String::as_str).chain(AWS_REGIONS.iter().copied());
        self.diags.push(match did_you_mean(flag, names) {
            Some(s) => d.hint(format!("did you mean `{s}`?")),
            None => d.hint("give an AWS region id such as `us-west-2`, or a name from [regions]"),
        });
    }

    fn stack_table(&mut self, scope: &mut Scope, e: Option<&Entry>, file_start: &Span) {
        let Some(e) = e else {
            self.diags.push(
                Diagnostic::error("missing [stack] table")
                    .at(Span::new(file_start.file, 0..0))
                    .hint("start the file with [stack] name = \"...\" region = \"...\""),
            );
            return;
        };
        let header = e.value.span.clone();
        let entries = self.table_entries(Some(e), "stack", "settings (name, region, tags, description, environments)");
        self.unknown_keys(&entries, &["name", "region", "tags", "description", "environments"], "[stack]");
        let get = |k: &str| entries.iter().find(|x| x.key == k);
        if let Some(allowed) = get("environments") {
            self.allowed_environments(scope, allowed);
        }
        match get("name") {
            None => self.diags.push(Diagnostic::error("missing `name` in [stack]").at(header.clone())),
            Some(n) => {
                if let Some(name) = self.static_str(scope, &Cx::default(), &n.value, "the stack name") {
                    // An environment of a stack whose name does not name it gets
                    // a name, and so a state and ownership tags, of its own.
                    let env = &self.stack.env;
                    let names_env = n.value.as_str().is_some_and(uses_env);
                    let name = if env.is_empty() || names_env { name } else { format!("{name}-{env}") };
                    if valid_name(&name) {
                        self.stack.name = name;
                    } else {
                        self.diags.push(invalid_name("stack", &name, &n.value.span));
                    }
                }
            }
        }
        match get("region") {
            None => self.diags.push(
                Diagnostic::error("missing `region` in [stack]")
                    .at(header)
                    .hint("add the default region, e.g. `region = \"us-east-1\"`"),
            ),
            Some(r) => {
                if let Some(name) = self.static_str(scope, &Cx::default(), &r.value, "the stack region")
                    && let Some(id) = self.region(&name, &r.value.span)
                {
                    self.stack.default_region = id;
                }
            }
        }
        if let Some(d) = get("description") {
            self.static_str(scope, &Cx::default(), &d.value, "the stack description");
        }
        if let Some(t) = get("tags") {
            self.stack.tags = self.stack_tags(scope, &t.value);
        }
    }

    /// `[stack] environments`: the environments the stack runs in. One must
    /// be selected (`--env`, `PGSTACK_ENV`), and only one of these.
    fn allowed_environments(&mut self, scope: &mut Scope, e: &Entry) {
        let Some(value) = self.resolve_static(scope, &Cx::default(), &e.value, "`environments`") else { return };
        let names: Option<Vec<String>> =
            value.as_list().map(|l| l.iter().map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or(None);
        let Some(names) = names.filter(|n| !n.is_empty() && n.iter().all(|x| valid_name(x))) else {
            self.diags.push(
                Diagnostic::error("`environments` must be a list of environment names")
                    .at(e.value.span.clone())
                    .hint("e.g. environments = [\"staging\", \"prod\"]"),
            );
            return;
        };
        let listed = names.join(", ");
        let env = self.stack.env.clone();
        if env.is_empty() {
            self.diags.push(
                Diagnostic::error(format!("this stack runs in one of its environments ({listed}); none was selected"))
                    .at(e.value.span.clone())
                    .hint(format!("run again with --env {} (or set PGSTACK_ENV)", names[0])),
            );
        } else if !names.contains(&env) {
            let d = Diagnostic::error(format!("environment `{env}` is not one of this stack's ({listed})"));
            self.diags.push(match did_you_mean(&env, names.iter().map(String::as_str)) {
                Some(s) => d.at(e.value.span.clone()).hint(format!("did you mean `{s}`?")),
                None => d.at(e.value.span.clone()),
            });
        }
    }

    /// `[stack] tags`: known at load time, values converted to strings.
    fn stack_tags(&mut self, scope: &mut Scope, node: &Node) -> BTreeMap<String, Expr> {
        let Some(Value::Map(m)) = self.resolve_static(scope, &Cx::default(), node, "stack tags") else {
            if node.as_table().is_none() {
                self.diags.push(Diagnostic::error("stack `tags` must be a table of strings").at(node.span.clone()));
            }
            return BTreeMap::new();
        };
        let written: HashMap<&str, &Entry> =
            node.as_table().unwrap_or_default().iter().map(|e| (e.key.as_str(), e)).collect();
        let mut out = BTreeMap::new();
        for (k, v) in m {
            let at = written.get(k.as_str()).map_or(&node.span, |e| &e.value.span).clone();
            let s = match v {
                Value::Str(s) => s,
                Value::Int(_) | Value::Float(_) | Value::Bool(_) => v.to_string(),
                other => {
                    self.diags.push(
                        Diagnostic::error(format!("tag `{k}` must be a string, got {}", other.type_name())).at(at),
                    );
                    continue;
                }
            };
            if self.reserved_tag(&k, node) {
                continue;
            }
            let key_at = written.get(k.as_str()).map_or(&node.span, |e| &e.key_span).clone();
            let rule = Constraint::Pattern(Kind::Tags);
            let checked = [(rule.check_key(&k), key_at), (rule.check(&Value::Str(s.clone())), at)];
            let errors: Vec<Diagnostic> = checked
                .into_iter()
                .filter_map(|(r, at)| {
                    let e = r.err()?;
                    let d = Diagnostic::error(format!("`tags` in [stack] {}", e.message)).at(at);
                    Some(match e.hint {
                        Some(h) => d.hint(h),
                        None => d,
                    })
                })
                .collect();
            if errors.is_empty() {
                out.insert(k, Expr::Lit(Value::Str(s)));
            }
            self.diags.extend(errors);
        }
        out
    }

    /// Warns (and returns true) when a user tag uses an ownership tag key.
    pub fn reserved_tag(&mut self, key: &str, tags_node: &Node) -> bool {
        if key != TAG_STACK && key != TAG_ADDRESS {
            return false;
        }
        let at = tags_node.get(key).map_or(&tags_node.span, |e| &e.key_span).clone();
        self.diags.push(
            Diagnostic::warning(format!("tag `{key}` is set by pgstack; this value is ignored"))
                .at(at)
                .hint("pgstack tags every resource with its stack and address to find it again after a failed run"),
        );
        true
    }

    fn state_table(&mut self, scope: &mut Scope, e: Option<&Entry>) -> Option<String> {
        let entries = self.table_entries(e, "state", "settings (path)");
        self.unknown_keys(&entries, &["path"], "[state]");
        let p = entries.iter().find(|x| x.key == "path")?;
        self.static_str(scope, &Cx::default(), &p.value, "the state path")
    }

    /// `[backend] s3 = { bucket, key, region, kms_key_id }` with the
    /// `--backend-config` settings (`flags`) over it; `None` when neither is
    /// given. `file_region` is the `[stack] region`; `state` is `[state]`,
    /// which cannot say where the state is at the same time.
    fn backend_table(
        &mut self,
        scope: &mut Scope,
        e: Option<&Entry>,
        flags: &[(String, String)],
        file_region: &str,
        state: Option<&Entry>,
    ) -> Option<S3BackendConfig> {
        let entries = self.table_entries(e, "backend", "backends (s3)");
        self.unknown_keys(&entries, &["s3"], "[backend]");
        let s3 = entries.iter().find(|x| x.key == "s3");
        let written = self.table_entries(s3, "s3", "settings (bucket, key, region, kms_key_id)");
        self.unknown_keys(&written, BACKEND_SETTINGS, "[backend] s3");
        // Each setting's value and where it was written (`None`: a flag).
        let mut values: BTreeMap<&str, (String, Option<Span>)> = BTreeMap::new();
        for w in &written {
            let Some(k) = BACKEND_SETTINGS.iter().find(|k| **k == w.key) else { continue };
            if let Some(v) = self.static_str(scope, &Cx::default(), &w.value, &format!("backend setting `{k}`")) {
                values.insert(k, (v, Some(w.value.span.clone())));
            }
        }
        for (k, v) in flags {
            match BACKEND_SETTINGS.iter().find(|x| *x == k) {
                Some(k) => {
                    values.insert(k, (v.clone(), None));
                }
                None => {
                    let d = Diagnostic::error(format!("--backend-config `{k}` is not a setting of the S3 backend"));
                    self.diags.push(match did_you_mean(k, BACKEND_SETTINGS.iter().copied()) {
                        Some(s) => d.hint(format!("did you mean `{s}`?")),
                        None => d.hint(format!("settings: {}", BACKEND_SETTINGS.join(", "))),
                    });
                }
            }
        }
        if s3.is_none() && flags.is_empty() {
            return None;
        }
        if let Some(st) = state.filter(|st| st.value.get("path").is_some()) {
            return self.fail(
                Diagnostic::error("[state] path and an S3 backend both say where the state lives")
                    .at(st.key_span.clone())
                    .hint(
                        "keep one: [backend] s3 (or --backend-config) for state in S3, [state] path for a local file",
                    ),
            );
        }
        let origin = |k: &str, span: &Option<Span>| match span {
            Some(_) => format!("`{k}` in [backend] s3"),
            None => format!("--backend-config {k}"),
        };
        let Some((bucket, at)) = values.remove("bucket") else {
            let d = Diagnostic::error("the S3 backend needs a `bucket`")
                .hint("add `bucket = \"...\"` to [backend] s3, or give --backend-config bucket=NAME");
            return self.fail(d.at_opt(s3.map(|s| s.key_span.clone())));
        };
        if !valid_bucket_name(&bucket) {
            self.diags.push(
                Diagnostic::error(format!("{} `{bucket}` is not an S3 bucket name", origin("bucket", &at)))
                    .at_opt(at)
                    .hint("3 to 63 lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit"),
            );
        }
        let key = match values.remove("key") {
            None => format!("pgstack/{}.json", self.stack.name),
            Some((key, at)) if key.is_empty() || key.ends_with('/') || key.len() > MAX_STATE_KEY_LEN => {
                return self.fail(
                    Diagnostic::error(format!("{} `{key}` cannot name the state object", origin("key", &at)))
                        .at_opt(at)
                        .hint(format!(
                            "an object key such as `pgstack/{}.json`: not empty, not ending in `/`, at most {MAX_STATE_KEY_LEN} bytes",
                            self.stack.name
                        )),
                );
            }
            // An environment's state beside the others', unless the key names it
            // (or a flag gave it for this run).
            Some((key, Some(_))) if !self.stack.env.is_empty() && !written_key_names_env(&written) => {
                format!("env/{}/{key}", self.stack.env)
            }
            Some((key, _)) => key,
        };
        let region = match values.remove("region") {
            None => file_region.to_owned(),
            Some((name, Some(span))) => self.region(&name, &span)?,
            Some((name, None)) => match self.stack.regions.get(&name) {
                Some(id) => id.clone(),
                None if is_region_id(&name) => name,
                None => {
                    let d = Diagnostic::error(format!("--backend-config region `{name}` is not an AWS region"));
                    return self.fail(match did_you_mean(&name, AWS_REGIONS.iter().copied()) {
                        Some(s) => d.hint(format!("did you mean `{s}`?")),
                        None => d.hint("give an AWS region id such as `us-west-2`"),
                    });
                }
            },
        };
        let kms_key_id = match values.remove("kms_key_id") {
            Some((k, at)) if k.trim().is_empty() => {
                return self.fail(
                    Diagnostic::error(format!("{} is empty", origin("kms_key_id", &at))).at_opt(at).hint(
                        "a KMS key id, ARN or alias (`alias/NAME`); leave it out for the bucket's default encryption",
                    ),
                );
            }
            other => other.map(|(k, _)| k),
        };
        Some(S3BackendConfig { bucket, key, region, kms_key_id })
    }

    /// sha256 over every source file (path relative to the stack file's
    /// directory, and text), every variable value, the `--region` flag and
    /// the S3 backend's final settings.
    fn digest(
        &self,
        vars: &BTreeMap<String, Value>,
        region_flag: Option<&str>,
        backend: Option<&S3BackendConfig>,
    ) -> String {
        let mut h = Sha256::new();
        // The same digest whether the stack was named by a relative or an absolute path.
        let root = self.sources.files().first().and_then(|f| f.path.parent()).filter(|p| !p.as_os_str().is_empty());
        let root = root.unwrap_or(Path::new("."));
        for f in self.sources.files() {
            h.update(relative_to(&f.path, root).to_string_lossy().as_bytes());
            h.update([0]);
            h.update(f.text.as_bytes());
            h.update([0]);
        }
        for (k, v) in vars {
            h.update(k.as_bytes());
            h.update(b"=");
            if self.sensitive.contains(k) {
                // Saved plans check these with salted hashes instead.
                h.update(b"<sensitive>");
            } else {
                h.update(v.to_json().to_string().as_bytes());
            }
            h.update([0]);
        }
        if let Some(r) = region_flag {
            h.update(b"--region=");
            h.update(r.as_bytes());
        }
        if let Some(b) = backend {
            h.update([0]);
            let kms = b.kms_key_id.as_deref().unwrap_or("");
            for (k, v) in [("bucket", b.bucket.as_str()), ("key", &b.key), ("region", &b.region), ("kms_key_id", kms)] {
                h.update(format!("backend.{k}={v}").as_bytes());
                h.update([0]);
            }
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn finish(self, stack: Option<Stack>) -> Result<Loaded, (SourceMap, Diagnostics)> {
        let broken = self.broken;
        let mut all: Vec<Diagnostic> = Vec::new();
        let mut seen = HashSet::new();
        let semantic = self.diags.into_iter().filter(|d| !d.span.as_ref().is_some_and(|s| broken.contains(&s.file)));
        for d in self.parse_diags.into_iter().chain(semantic) {
            // for_each instances and shared modules repeat the same finding.
            let key =
                (d.severity == Severity::Error, d.summary.clone(), d.span.clone(), d.detail.clone(), d.hints.clone());
            if seen.insert(key) {
                all.push(d);
            }
        }
        let mut diags = Diagnostics(all);
        diags.sort();
        match stack {
            Some(stack) if !diags.has_errors() => Ok(Loaded { stack, sources: self.sources, warnings: diags }),
            _ => Err((self.sources, diags)),
        }
    }
}

/// `path` relative to `base` (with `..` where needed), so the digest does
/// not depend on where the checkout lives.
fn relative_to(path: &Path, base: &Path) -> PathBuf {
    fn parts(p: &Path) -> Vec<std::ffi::OsString> {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
        let mut out = Vec::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    out.pop();
                }
                other => out.push(other.as_os_str().to_owned()),
            }
        }
        out
    }
    let (p, b) = (parts(path), parts(base));
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out: PathBuf = std::iter::repeat_n("..", b.len() - common).collect();
    out.extend(&p[common..]);
    out
}

/// Longest state key: S3's 1,024 bytes less the `.lock` of the lock object.
const MAX_STATE_KEY_LEN: usize = 1019;

/// S3's rules for bucket names: 3 to 63 of `a-z`, `0-9`, `.`, `-`, starting
/// and ending with a letter or digit.
fn valid_bucket_name(s: &str) -> bool {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge_ok(s.chars().next())
        && edge_ok(s.chars().last())
}

/// Names of variables, regions, resources, modules and outputs: letters,
/// digits, `_` and `-`.
pub(super) fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(crate::addr::is_ident_char)
}

pub(super) fn invalid_name(what: &str, name: &str, span: &Span) -> Diagnostic {
    Diagnostic::error(format!("invalid {what} name `{name}`"))
        .at(span.clone())
        .hint("names may contain only letters, digits, `_` and `-`")
}

/// AWS region ids, as of 2026: the commercial partition, GovCloud and China.
pub const AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// True for the ids in [`AWS_REGIONS`].
pub(super) fn is_region_id(s: &str) -> bool {
    AWS_REGIONS.contains(&s)
}

fn not_a_region(id: &str, span: &Span) -> Diagnostic {
    let d = Diagnostic::error(format!("`{id}` is not an AWS region id")).at(span.clone());
    match did_you_mean(id, AWS_REGIONS.iter().copied()) {
        Some(s) => d.hint(format!("did you mean `{s}`?")),
        None => d.hint("for example `us-west-2`"),
    }
}

/// Checks a new variable value against the declared default's type; an
/// integer given for a number variable becomes a float.
fn conform(default: &Value, new: Value) -> Result<Value, String> {
    match (default, new) {
        (Value::Float(_), Value::Int(i)) => Ok(Value::Float(i as f64)),
        (d, n) if std::mem::discriminant(d) == std::mem::discriminant(&n) => Ok(n),
        (d, n) => Err(format!("expected {}, got {}", d.type_name(), n.type_name())),
    }
}

/// A variable declared as a table `{ sensitive = BOOL, default = ..., description = "..." }`:
/// (sensitive, default). Other tables are plain table values.
fn declaration(node: &Node) -> Option<(bool, Option<Value>)> {
    let entries = node.as_table()?;
    let sensitive = entries.iter().find(|e| e.key == "sensitive")?.value.to_value().as_bool()?;
    if !entries.iter().all(|e| ["sensitive", "default", "description"].contains(&e.key.as_str())) {
        return None;
    }
    Some((sensitive, entries.iter().find(|e| e.key == "default").map(|e| e.value.to_value())))
}

/// Parses `--var` text to the type of the variable's default: strings as
/// written, numbers and bools parsed, lists and tables as TOML inline values.
fn cli_value(default: &Value, text: &str) -> Result<Value, String> {
    let bad = |what: &str| format!("expected {what}, got `{text}`");
    match default {
        Value::Int(_) => text.trim().parse().map(Value::Int).map_err(|_| bad("an integer")),
        Value::Float(_) => match text.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(bad("a number")),
        },
        Value::Bool(_) => match text.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(bad("`true` or `false`")),
        },
        Value::List(_) | Value::Map(_) => {
            let v = parse_value(text).map_err(|e| format!("`{text}` is not a TOML value: {e}"))?;
            conform(default, v)
        }
        Value::Str(_) | Value::Null | Value::Unknown => Ok(Value::Str(text.to_owned())),
    }
}

/// Whether the `key` written in `[backend] s3` uses `${env.name}`.
fn written_key_names_env(written: &[Entry]) -> bool {
    written.iter().any(|w| w.key == "key" && w.value.as_str().is_some_and(uses_env))
}

/// Whether a written template uses the selected environment (`${env}` or `${env.name}`).
fn uses_env(text: &str) -> bool {
    text.contains("env.name") || text.contains("${env}")
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
