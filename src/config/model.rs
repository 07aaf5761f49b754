//! The evaluated stack: what the language layer hands to graph, plan and engine.
//!
//! After loading, every `${var..}`, `${each..}` and `${module..}` reference has
//! been resolved; only references to resource attributes remain, as
//! [`Expr::Ref`], because their values may exist only after apply.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::addr::ResourceAddr;
use crate::diag::Span;
use crate::value::Value;

use super::functions::BinOp;

/// A loaded, validated stack. Written out as a saved plan's snapshot, it
/// holds no sensitive value, no path and no source location (see the fields
/// skipped: a snapshot is applied without its files, so its diagnostics
/// carry no snippet anyway).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stack {
    pub name: String,
    /// The region of resources that name none.
    pub default_region: String,
    /// Named regions (`[regions]`), name → AWS region.
    pub regions: BTreeMap<String, String>,
    /// Where local state lives, if the stack overrides `state/<name>.json`.
    /// Not in a saved plan's snapshot: the plan records its state's location.
    #[serde(skip)]
    pub state_path: Option<PathBuf>,
    /// State kept in S3 (`[backend] s3`, `--backend-config`) instead of a local file.
    pub backend: Option<S3BackendConfig>,
    /// Expanded resource instances (for_each applied, modules flattened, disabled ones dropped).
    pub resources: BTreeMap<ResourceAddr, ResourceConfig>,
    pub outputs: BTreeMap<String, OutputConfig>,
    /// Directory of the stack file; relative paths resolve against it.
    /// Not in a saved plan's snapshot, which resolves no path.
    #[serde(skip)]
    pub root_dir: PathBuf,
    /// Hash of every source file read and every variable value (sensitive
    /// ones by name only): a saved plan is only applied against the same digest.
    pub digest: String,
    /// Final values of the variables declared `sensitive`, as JSON text; kept
    /// in memory only (saved plans hold salted hashes of them; a snapshot
    /// gets them again through [`Stack::supply_sensitive`]).
    #[serde(skip)]
    pub sensitive_vars: BTreeMap<String, String>,
    /// Final values of the other variables (what `pgstack check` sizes against).
    pub vars: BTreeMap<String, Value>,
    /// The `[check]` table: the profile the stack is checked against, and waivers.
    pub check: CheckSettings,
    /// `[cost]`: usage figures the config cannot know (keys among
    /// [`COST_SETTINGS`], values finite and not negative), for `pgstack cost`.
    pub cost: BTreeMap<String, f64>,
    /// `[[moved]]` blocks, in file order (checked: see src/config/moved.rs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<Moved>,
    /// `[data.TYPE.NAME]` blocks by their address (`data.TYPE.NAME`; see
    /// src/config/data.rs): read at plan time, never changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<ResourceAddr, DataConfig>,
    /// `[[import]]` blocks, in file order (see src/config/imports.rs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<ImportBlock>,
}

/// A `[data.TYPE.NAME]` block: the filters (known at load) and the region read in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    pub region: String,
    /// Filters: values, or expressions over other data sources (read first).
    pub args: BTreeMap<String, Expr>,
    #[serde(skip)]
    pub span: Span,
}

/// An `[[import]]` block: the AWS object `id` becomes the declared resource
/// `to` (when the state does not hold `to` yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportBlock {
    pub to: ResourceAddr,
    pub id: String,
    #[serde(skip)]
    pub to_span: Span,
    #[serde(skip)]
    pub id_span: Span,
}

/// A `[[moved]]` block: the state entry at `from` (an instance, or every
/// instance of a block) belongs to `to` from now on, with its AWS object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    pub from: ResourceAddr,
    pub to: ResourceAddr,
    #[serde(skip)]
    pub from_span: Span,
    #[serde(skip)]
    pub to_span: Span,
}

/// The seeds' deployment profiles `pgstack check` knows (docs/check.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Profile {
    /// Production: every rule.
    #[default]
    Standard,
    /// Development and test: rules that only cost money without protecting
    /// data are left out, and backups are kept 7 days instead of 35.
    Lite,
}

impl Profile {
    pub const NAMES: &[&str] = &["standard", "lite"];

    pub fn parse(s: &str) -> Option<Profile> {
        match s {
            "standard" => Some(Profile::Standard),
            "lite" => Some(Profile::Lite),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::Standard => "standard",
            Profile::Lite => "lite",
        }
    }
}

impl Stack {
    /// The sensitive variables the stack uses, by name: what a snapshot
    /// needs given again before it can be applied.
    pub fn sensitive_names(&self) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        let exprs =
            self.resources.values().flat_map(|r| r.attrs.values()).chain(self.outputs.values().map(|o| &o.value));
        for e in exprs {
            e.each_sensitive(&mut |s| {
                names.insert(s.name.clone());
            });
        }
        names
    }

    /// Gives a snapshot the values of its sensitive variables (`values`, as
    /// given again), wherever it uses them.
    pub fn supply_sensitive(&mut self, values: &BTreeMap<String, Value>) {
        for r in self.resources.values_mut() {
            r.attrs.values_mut().for_each(|e| e.supply_sensitive(values));
        }
        for o in self.outputs.values_mut() {
            o.value.supply_sensitive(values);
        }
        self.sensitive_vars.extend(values.iter().map(|(k, v)| (k.clone(), v.to_json().to_string())));
    }
}

/// Where the profile `pgstack check` applies comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProfileSource {
    /// `check --rules`.
    Flag,
    /// `[check] profile`.
    Check,
    /// The `Profile` tag in `[stack] tags` (as the shipped stacks carry it).
    Tag,
    /// Neither: standard.
    Default,
}

impl ProfileSource {
    pub fn name(self) -> &'static str {
        match self {
            ProfileSource::Flag => "flag",
            ProfileSource::Check => "check",
            ProfileSource::Tag => "tag",
            ProfileSource::Default => "default",
        }
    }
}

/// `[check]`: `profile = "standard" | "lite"` and `[check.waive]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckSettings {
    /// The declared profile: `[check] profile`, else a `Profile` stack tag
    /// naming one (any case).
    pub profile: Option<(Profile, ProfileSource)>,
    /// `[check.waive] "RULE-ID" = { reason = "...", until = "YYYY-MM-DD" }`, in file order.
    pub waivers: Vec<Waiver>,
}

/// One waiver of a check rule for the whole stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waiver {
    pub rule: String,
    pub reason: String,
    /// Last day (UTC) the waiver holds, `YYYY-MM-DD` (a valid calendar date).
    pub until: String,
    /// The rule id as written in `[check.waive]`.
    #[serde(skip)]
    pub span: Span,
}

/// The settings of `[cost]`: monthly usage `pgstack cost` assumes (docs/cost.md).
pub const COST_SETTINGS: &[&str] =
    &["data_gb", "io_requests_millions", "backup_gb", "s3_backup_gb", "s3_archive_gb", "replicated_gb", "log_gb"];

/// `[backend] s3 = { bucket, key, region, kms_key_id }` with the
/// `--backend-config` settings over it, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3BackendConfig {
    pub bucket: String,
    /// Default `pgstack/<stack name>.json`.
    pub key: String,
    /// An AWS region id; default the `[stack] region` (never `--region`).
    pub region: String,
    pub kms_key_id: Option<String>,
}

/// The settings of `[backend] s3`, as written and as `--backend-config` names them.
pub const BACKEND_SETTINGS: &[&str] = &["bucket", "key", "region", "kms_key_id"];

/// One resource instance as configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceConfig {
    pub addr: ResourceAddr,
    /// Resolved AWS region.
    pub region: String,
    /// The block sets `region` itself; otherwise `region` is the stack's
    /// default (the `--region` flag when given).
    pub region_explicit: bool,
    /// Provider attributes only (meta-arguments removed). For taggable types,
    /// `tags` already holds the stack tags merged under the resource's own.
    pub attrs: BTreeMap<String, Expr>,
    /// Explicit `depends_on` targets: instance or whole-block addresses.
    pub depends_on: Vec<ResourceAddr>,
    /// Attribute names whose differences are ignored (`ignore_changes`).
    pub ignore_changes: Vec<String>,
    /// Per-operation limits from `timeouts`: keys among [`TIMEOUT_OPERATIONS`],
    /// values non-zero. An operation not listed uses the type's default.
    pub timeouts: BTreeMap<String, Duration>,
    /// `create_before_destroy`: `None` leaves it to the type's default.
    pub create_before_destroy: Option<bool>,
    /// The `[TYPE.NAME]` header.
    #[serde(skip)]
    pub span: Span,
    /// Span of each attribute's value, for diagnostics; values written nested
    /// inside one are recorded too, under `attr.key` and `attr[i]` paths
    /// (`parameters.rds.force_ssl`, `ingress[0].cidr_blocks`).
    #[serde(skip)]
    pub attr_spans: BTreeMap<String, Span>,
    /// Where values written in a module as a bare `${var.NAME}` (a module
    /// input) were set: the span in the calling file (through every module
    /// level up to the one that wrote the value), by the same paths as
    /// `attr_spans`, nested parts of the input's value included. Empty
    /// outside modules.
    #[serde(skip)]
    pub input_spans: BTreeMap<String, Span>,
    /// The `[module.NAME]` headers of the module calls the instance comes
    /// from, outermost first; empty for resources of the stack file.
    #[serde(skip)]
    pub module_calls: Vec<Span>,
}

/// The operations a resource's `timeouts` may limit.
pub const TIMEOUT_OPERATIONS: &[&str] = &["create", "update", "delete"];

/// A stack output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputConfig {
    pub value: Expr,
    pub description: Option<String>,
    /// Never printed or stored in plain text.
    pub sensitive: bool,
    #[serde(skip)]
    pub span: Span,
}

/// A reference to a resource attribute: `${TYPE.NAME.ATTR}`,
/// `${TYPE.NAME["KEY"].ATTR}` or the splat `${TYPE.NAME[*].ATTR}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ref {
    /// An instance address, or a block address when `splat` is set.
    pub target: ResourceAddr,
    /// `[*]`: the list of the attribute over every instance of the block.
    pub splat: bool,
    /// Attribute name, then keys / indexes into nested values.
    pub path: Vec<String>,
    #[serde(skip)]
    pub span: Span,
}

/// A value that may still depend on resource attributes.
///
/// Kept small (the size of a [`Value`]): a stack holds one per attribute of
/// every resource, so the rarer, larger variants are boxed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    Lit(Value),
    List(Vec<Expr>),
    Map(BTreeMap<String, Expr>),
    Ref(Box<Ref>),
    /// String interpolation: the parts' string forms, concatenated.
    Concat(Vec<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// A built-in function call (see docs/stack-language.md).
    Call(Box<Call>),
    /// `!x`, of a value known only at apply.
    Not(Box<Expr>),
    /// `cond ? a : b` whose condition is known only at apply.
    Cond(Box<[Expr; 3]>),
    /// A sensitive variable, where one may be used (a write-only attribute,
    /// a sensitive output). It stays a reference, never folded into a
    /// literal, so a stack written out (a saved plan's snapshot) names the
    /// variable and never holds its value.
    Sensitive(Box<SensitiveVar>),
}

/// A use of a sensitive variable ([`Expr::Sensitive`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensitiveVar {
    pub name: String,
    /// The value: set by the loader, never written out; `None` in a
    /// snapshot read back until [`Stack::supply_sensitive`] gives it.
    #[serde(skip)]
    pub value: Option<Value>,
    #[serde(skip)]
    pub span: Span,
}

/// A built-in function call: `${name(args...)}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub name: String,
    pub args: Vec<Expr>,
    #[serde(skip)]
    pub span: Span,
}

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    pub message: String,
    pub span: Option<Span>,
}

impl EvalError {
    pub fn new(message: impl Into<String>, span: Option<Span>) -> Self {
        EvalError { message: message.into(), span }
    }
}

impl Expr {
    /// All resource references inside, in source order.
    pub fn refs(&self) -> Vec<&Ref> {
        let mut out = Vec::new();
        self.collect_refs(&mut out);
        out
    }

    fn collect_refs<'a>(&'a self, out: &mut Vec<&'a Ref>) {
        match self {
            Expr::Ref(r) => out.push(r),
            e => e.each_child(&mut |c| c.collect_refs(out)),
        }
    }

    /// Calls `f` with each expression directly inside this one.
    fn each_child<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        match self {
            Expr::Lit(_) | Expr::Ref(_) | Expr::Sensitive(_) => {}
            Expr::List(l) | Expr::Concat(l) => l.iter().for_each(f),
            Expr::Call(c) => c.args.iter().for_each(f),
            Expr::Not(e) => f(e),
            Expr::Cond(parts) => parts.iter().for_each(f),
            Expr::Map(m) => m.values().for_each(f),
            Expr::Binary(_, a, b) => {
                f(a);
                f(b);
            }
        }
    }

    /// [`Self::each_child`], each given mutably.
    pub(crate) fn each_child_mut(&mut self, f: &mut dyn FnMut(&mut Expr)) {
        match self {
            Expr::Lit(_) | Expr::Ref(_) | Expr::Sensitive(_) => {}
            Expr::List(l) | Expr::Concat(l) => l.iter_mut().for_each(f),
            Expr::Call(c) => c.args.iter_mut().for_each(f),
            Expr::Not(e) => f(e),
            Expr::Cond(parts) => parts.iter_mut().for_each(f),
            Expr::Map(m) => m.values_mut().for_each(f),
            Expr::Binary(_, a, b) => {
                f(a);
                f(b);
            }
        }
    }

    /// The literal value, when the expression holds no references.
    pub fn as_lit(&self) -> Option<&Value> {
        match self {
            Expr::Lit(v) => Some(v),
            _ => None,
        }
    }

    /// Evaluates with `resolve` supplying referenced values (which may be
    /// `Unknown`). Unknown operands make the result unknown.
    pub fn eval(&self, resolve: &dyn Fn(&Ref) -> Result<Value, EvalError>) -> Result<Value, EvalError> {
        match self {
            Expr::Lit(v) => Ok(v.clone()),
            Expr::Ref(r) => resolve(r),
            Expr::List(l) => Ok(Value::List(l.iter().map(|e| e.eval(resolve)).collect::<Result<_, _>>()?)),
            Expr::Map(m) => Ok(Value::Map(
                m.iter().map(|(k, e)| Ok((k.clone(), e.eval(resolve)?))).collect::<Result<_, EvalError>>()?,
            )),
            Expr::Concat(parts) => {
                let mut s = String::new();
                for p in parts {
                    match p.eval(resolve)? {
                        Value::Unknown => return Ok(Value::Unknown),
                        Value::Str(x) => s.push_str(&x),
                        Value::Int(i) => s.push_str(&i.to_string()),
                        Value::Float(f) => s.push_str(&f.to_string()),
                        Value::Bool(b) => s.push_str(&b.to_string()),
                        other => {
                            return Err(EvalError::new(
                                format!("cannot interpolate a {} into a string", other.type_name()),
                                None,
                            ));
                        }
                    }
                }
                Ok(Value::Str(s))
            }
            Expr::Binary(op, a, b) => {
                let (x, y) = (a.eval(resolve)?, b.eval(resolve)?);
                super::functions::binary(*op, &x, &y).map_err(|m| {
                    let sensitive = a.mentions_sensitive() || b.mentions_sensitive();
                    EvalError::new(
                        if sensitive { "an operation on a sensitive variable failed".into() } else { m },
                        None,
                    )
                })
            }
            Expr::Call(c) => {
                let args = c.args.iter().map(|e| e.eval(resolve)).collect::<Result<Vec<_>, _>>()?;
                if args.iter().any(Value::contains_unknown) {
                    return Ok(Value::Unknown);
                }
                super::functions::call(&c.name, &args).map_err(|m| {
                    let message = if c.args.iter().any(Expr::mentions_sensitive) {
                        format!("`{}` cannot take the value of a sensitive variable given here", c.name)
                    } else {
                        m
                    };
                    EvalError::new(message, Some(c.span.clone()))
                })
            }
            Expr::Not(e) => match e.eval(resolve)? {
                Value::Unknown => Ok(Value::Unknown),
                Value::Bool(b) => Ok(Value::Bool(!b)),
                other => Err(EvalError::new(format!("`!` takes a bool, got {}", other.type_name()), None)),
            },
            // Only the branch the condition picks is evaluated.
            Expr::Cond(parts) => {
                let [cond, yes, no] = parts.as_ref();
                match cond.eval(resolve)? {
                    Value::Unknown => Ok(Value::Unknown),
                    Value::Bool(true) => yes.eval(resolve),
                    Value::Bool(false) => no.eval(resolve),
                    other => Err(EvalError::new(
                        format!("the condition of `? :` must be a bool, got {}", other.type_name()),
                        None,
                    )),
                }
            }
            Expr::Sensitive(s) => s.value.clone().ok_or_else(|| {
                EvalError::new(format!("the sensitive variable `{}` was not given again", s.name), Some(s.span.clone()))
            }),
        }
    }

    /// True when a sensitive variable's value is part of the expression:
    /// an error about it must not quote what it evaluated.
    pub fn mentions_sensitive(&self) -> bool {
        let mut any = false;
        self.each_sensitive(&mut |_| any = true);
        any
    }

    /// Calls `f` with every sensitive variable use inside.
    fn each_sensitive(&self, f: &mut dyn FnMut(&SensitiveVar)) {
        match self {
            Expr::Sensitive(s) => f(s),
            e => e.each_child(&mut |c| c.each_sensitive(f)),
        }
    }

    /// Gives every [`Expr::Sensitive`] inside the value `values` holds for
    /// its variable (leaving those `values` lacks as they are).
    fn supply_sensitive(&mut self, values: &BTreeMap<String, Value>) {
        match self {
            Expr::Sensitive(s) => {
                if let Some(v) = values.get(&s.name) {
                    s.value = Some(v.clone());
                }
            }
            e => e.each_child_mut(&mut |c| c.supply_sensitive(values)),
        }
    }

    /// Evaluates an expression that holds no references.
    pub fn eval_static(&self) -> Result<Value, EvalError> {
        self.eval(&|r| Err(EvalError::new("a resource attribute is not known here", Some(r.span.clone()))))
    }
}
