//! Reading the resolved stack the way the rules need it: attribute values
//! with the schema's defaults, values nested in expressions that still hold
//! references, what a reference or a literal name points at, and where in
//! the source a finding belongs.
//!
//! Three answers are kept apart everywhere: a value is known (written or
//! defaulted), unset (no default: AWS's own behaviour applies), or unknown at
//! load time (it depends on a resource attribute). Rules judge the first two
//! and say nothing about the third.

use std::borrow::Cow;

use crate::config::{Expr, Profile, Ref, ResourceConfig, Stack};
use crate::diag::Span;
use crate::schema::Schemas;
use crate::value::Value;

use super::Finding;

/// One value inside a resource's configuration: part of an expression, or
/// part of a literal value.
#[derive(Debug, Clone, Copy)]
pub enum Node<'a> {
    Expr(&'a Expr),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    /// The value, when it is known at load time.
    pub fn value(self) -> Option<&'a Value> {
        let v = match self {
            Node::Expr(Expr::Lit(v)) | Node::Value(v) => v,
            Node::Expr(_) => return None,
        };
        (!v.contains_unknown()).then_some(v)
    }

    /// The reference, when the value is exactly one.
    pub fn reference(self) -> Option<&'a Ref> {
        match self {
            Node::Expr(Expr::Ref(r)) => Some(r),
            _ => None,
        }
    }

    /// The entry `key` of a table.
    pub fn field(self, key: &str) -> Option<Node<'a>> {
        match self {
            Node::Expr(Expr::Map(m)) => m.get(key).map(Node::Expr),
            Node::Expr(Expr::Lit(v)) | Node::Value(v) => v.as_map()?.get(key).map(Node::Value),
            Node::Expr(_) => None,
        }
    }

    /// The items of a list; `None` when the value is not a list known to be one.
    pub fn items(self) -> Option<Vec<Node<'a>>> {
        match self {
            Node::Expr(Expr::List(l)) => Some(l.iter().map(Node::Expr).collect()),
            Node::Expr(Expr::Lit(v)) | Node::Value(v) => Some(v.as_list()?.iter().map(Node::Value).collect()),
            Node::Expr(_) => None,
        }
    }

    pub fn as_bool(self) -> Option<bool> {
        self.value()?.as_bool()
    }

    pub fn as_str(self) -> Option<&'a str> {
        self.value()?.as_str()
    }

    /// A number, also when written as a string (parameter values are strings).
    pub fn as_f64(self) -> Option<f64> {
        number(self.value()?)
    }

    pub fn is_known(self) -> bool {
        self.value().is_some()
    }
}

/// A number, or a string holding one.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An attribute as the rules see it.
#[derive(Debug, Clone)]
pub enum Attr<'a> {
    /// Written as a literal, or the schema's default when unset.
    Known(Cow<'a, Value>),
    /// Written, but it depends on resource attributes known only at apply.
    Unknown(&'a Expr),
    /// Unset, without a default: AWS's own behaviour applies.
    Unset,
}

impl<'a> Attr<'a> {
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Attr::Known(v) => v.as_bool(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Attr::Known(v) => number(v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Attr::Known(v) => v.as_str(),
            _ => None,
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Attr::Unknown(_))
    }
}

/// The stack as the rules read it.
pub struct Cx<'a> {
    pub stack: &'a Stack,
    pub registry: &'a dyn Schemas,
    pub profile: Profile,
}

/// A value that may point at anything: it is known only at apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unresolved;

/// Who manages the key a value names.
#[derive(Debug, PartialEq)]
pub enum KeyOwner {
    /// A `kms_key` / `kms_replica_key` of the stack, or a key ARN, id or alias
    /// that is not one of AWS's `alias/aws/...` keys.
    Customer,
    /// Unset (the service's AWS-managed key) or an `alias/aws/...` key; says which.
    Aws(String),
    /// Known only at apply.
    Unknown,
}

/// The attribute that names each type's AWS object, for literal references.
fn name_attr(rtype: &str) -> Option<&'static str> {
    Some(match rtype {
        "db_cluster" => "cluster_identifier",
        "db_instance" | "db_cluster_instance" => "identifier",
        "db_parameter_group" | "db_cluster_parameter_group" | "db_subnet_group" | "secret" | "security_group" => "name",
        "s3_bucket" => "bucket",
        _ => return None,
    })
}

impl<'a> Cx<'a> {
    /// Every instance of a type, in address order.
    pub fn all(&self, rtype: &'a str) -> impl Iterator<Item = &'a ResourceConfig> + 'a {
        self.stack.resources.values().filter(move |rc| rc.addr.rtype == rtype)
    }

    /// The databases that own storage: Aurora clusters and RDS instances that
    /// are not read replicas.
    pub fn databases(&self) -> Vec<&'a ResourceConfig> {
        let clusters = self.all("db_cluster");
        let primaries = self.all("db_instance").filter(|rc| !rc.attrs.contains_key("replicate_source_db"));
        clusters.chain(primaries).collect()
    }

    /// Every database instance: RDS instances (primaries and replicas) and
    /// Aurora cluster members.
    pub fn db_instances(&self) -> impl Iterator<Item = &'a ResourceConfig> + 'a {
        self.all("db_instance").chain(self.all("db_cluster_instance"))
    }

    /// What parameter groups attach to for the whole database: Aurora
    /// clusters (their cluster parameter group) and RDS instances.
    pub fn group_owners(&self) -> impl Iterator<Item = &'a ResourceConfig> + 'a {
        self.all("db_cluster").chain(self.all("db_instance"))
    }

    /// An attribute's value, its schema default, or the name pgstack gives it.
    pub fn attr(&self, rc: &'a ResourceConfig, name: &str) -> Attr<'a> {
        if let Some(e) = rc.attrs.get(name) {
            return match e {
                Expr::Lit(v) if !v.contains_unknown() => Attr::Known(Cow::Borrowed(v)),
                e => Attr::Unknown(e),
            };
        }
        let Some(a) = self.registry.schema_of(&rc.addr.rtype).and_then(|s| s.attr(name)) else {
            return Attr::Unset;
        };
        match (a.default, a.default_name) {
            (Some(d), _) => Attr::Known(Cow::Owned(d.value())),
            (None, Some(rule)) => Attr::Known(Cow::Owned(Value::Str(rule.name_for(&self.stack.name, &rc.addr)))),
            (None, None) => Attr::Unset,
        }
    }

    /// An attribute as a [`Node`], when written.
    pub fn node(&self, rc: &'a ResourceConfig, name: &str) -> Option<Node<'a>> {
        rc.attrs.get(name).map(Node::Expr)
    }

    /// What a value points at among `types`: the target of a reference, or
    /// the resource whose name (or ARN) a literal string is. `Err` when
    /// the value is known only at apply (it may point anywhere); `Ok(None)`
    /// when it names nothing in the stack.
    pub fn target(&self, node: Node<'a>, types: &[&str]) -> Result<Option<&'a ResourceConfig>, Unresolved> {
        if let Some(r) = node.reference() {
            let rc = if r.splat { None } else { self.stack.resources.get(&r.target) };
            return Ok(rc.filter(|rc| types.contains(&rc.addr.rtype.as_str())));
        }
        let Some(name) = node.as_str() else { return Err(Unresolved) };
        let bucket = name.strip_prefix("arn:aws:s3:::");
        Ok(self.stack.resources.values().find(|rc| {
            types.contains(&rc.addr.rtype.as_str())
                && name_attr(&rc.addr.rtype)
                    .is_some_and(|attr| self.attr(rc, attr).as_str().is_some_and(|n| n == name || Some(n) == bucket))
        }))
    }

    /// Every resource of the stack a list of references (or one splat
    /// reference) points at; items known only at apply are left out.
    pub fn targets(&self, node: Node<'a>, types: &[&str]) -> Vec<&'a ResourceConfig> {
        if let Some(r) = node.reference().filter(|r| r.splat) {
            let all = self.stack.resources.values().filter(|rc| rc.addr.resource() == r.target.resource());
            return all.filter(|rc| types.contains(&rc.addr.rtype.as_str())).collect();
        }
        let items = node.items().unwrap_or_default();
        items.into_iter().filter_map(|item| self.target(item, types).ok().flatten()).collect()
    }

    /// The resource `rc.attr` points at among `types` (see [`Cx::target`]).
    pub fn linked(
        &self,
        rc: &'a ResourceConfig,
        attr: &str,
        types: &[&str],
    ) -> Result<Option<&'a ResourceConfig>, Unresolved> {
        match self.node(rc, attr) {
            Some(n) => self.target(n, types),
            None => Ok(None),
        }
    }

    /// True when `rc.attr` points at `target`.
    pub fn links(&self, rc: &'a ResourceConfig, attr: &str, target: &ResourceConfig) -> bool {
        matches!(self.linked(rc, attr, &[target.addr.rtype.as_str()]), Ok(Some(t)) if t.addr == target.addr)
    }

    /// The instances of a database: an Aurora cluster's members, or an RDS
    /// primary and its read replicas.
    pub fn instances(&self, db: &'a ResourceConfig) -> Vec<&'a ResourceConfig> {
        if db.addr.rtype == "db_cluster" {
            let members = self.all("db_cluster_instance");
            return members.filter(|i| self.links(i, "cluster_identifier", db)).collect();
        }
        let mut out = vec![db];
        out.extend(self.replicas(db));
        out
    }

    /// RDS read replicas of a primary.
    pub fn replicas(&self, db: &'a ResourceConfig) -> Vec<&'a ResourceConfig> {
        let all = self.all("db_instance");
        all.filter(|r| self.links(r, "replicate_source_db", db)).collect()
    }

    /// Who manages the KMS key a value names (`None`: the attribute is unset).
    pub fn key_owner(&self, node: Option<Node<'a>>) -> KeyOwner {
        let Some(node) = node else { return KeyOwner::Aws("not set: the service's AWS-managed key".into()) };
        if let Some(r) = node.reference() {
            let rtype =
                if r.splat { None } else { self.stack.resources.get(&r.target).map(|rc| rc.addr.rtype.as_str()) };
            return match rtype {
                Some("kms_key" | "kms_replica_key") => KeyOwner::Customer,
                _ => KeyOwner::Unknown,
            };
        }
        match node.as_str() {
            Some(s) if s.starts_with("alias/aws/") || s.contains(":alias/aws/") => {
                KeyOwner::Aws(format!("`{s}` is an AWS-managed key"))
            }
            Some(_) => KeyOwner::Customer,
            None => KeyOwner::Unknown,
        }
    }

    /// A parameter of a parameter group resource: its value node, or `None`
    /// when the group does not set it.
    pub fn parameter(&self, group: &'a ResourceConfig, name: &str) -> Option<Node<'a>> {
        self.node(group, "parameters")?.field(name)
    }

    /// The parameter groups that configure `instance` (its own, then for an
    /// Aurora member its cluster's), and how each is attached.
    pub fn groups_of(&self, instance: &'a ResourceConfig) -> Vec<GroupLink<'a>> {
        let own = match instance.addr.rtype.as_str() {
            "db_cluster_instance" => "db_parameter_group_name",
            "db_cluster" => "db_cluster_parameter_group_name",
            _ => "parameter_group_name",
        };
        let types: &[&str] =
            if instance.addr.rtype == "db_cluster" { &["db_cluster_parameter_group"] } else { &["db_parameter_group"] };
        let mut out = vec![self.group_link(instance, own, types)];
        if instance.addr.rtype == "db_cluster_instance"
            && let Ok(Some(cluster)) = self.linked(instance, "cluster_identifier", &["db_cluster"])
        {
            out.push(self.group_link(cluster, "db_cluster_parameter_group_name", &["db_cluster_parameter_group"]));
        }
        out
    }

    fn group_link(&self, owner: &'a ResourceConfig, attr: &str, types: &[&str]) -> GroupLink<'a> {
        match self.node(owner, attr) {
            None => GroupLink::Default,
            Some(n) => match self.target(n, types) {
                Ok(Some(g)) => GroupLink::Group(g),
                _ => GroupLink::Elsewhere,
            },
        }
    }

    /// The value of parameter `name` for `instance`: the first of its groups
    /// that sets it. `Err` when a group outside the stack might set it.
    pub fn parameter_for(&self, instance: &'a ResourceConfig, name: &str) -> Result<ParamAt<'a>, Unresolved> {
        let mut groups = Vec::new();
        for link in self.groups_of(instance) {
            match link {
                GroupLink::Group(g) => {
                    if let Some(v) = self.parameter(g, name) {
                        return Ok(ParamAt::Set(g, v));
                    }
                    groups.push(g);
                }
                GroupLink::Elsewhere => return Err(Unresolved),
                GroupLink::Default => {}
            }
        }
        Ok(ParamAt::Unset(groups))
    }

    /// A finding about `rc`, at attribute path `path` when it is written
    /// (the nearest written part of it), else at the resource's header.
    /// A value a module took as an input is shown where the input was set
    /// (the stack's line), with the module's line as `used_at`.
    pub fn finding(&self, rc: &ResourceConfig, path: Option<&str>, message: impl Into<String>) -> Finding {
        let written = path.and_then(|p| span_at(rc, p)).unwrap_or_else(|| rc.span.clone());
        let (span, used_at) = match path.and_then(|p| nearest(&rc.input_spans, p)) {
            Some(origin) => (origin, Some(written)),
            None => (written, None),
        };
        Finding {
            address: Some(rc.addr.to_string()),
            attribute: path.map(str::to_owned),
            message: message.into(),
            span: Some(span),
            used_at,
            module_calls: rc.module_calls.clone(),
        }
    }
}

/// How an instance or cluster gets its parameter group.
#[derive(Debug, Clone, Copy)]
pub enum GroupLink<'a> {
    /// A group of the stack.
    Group(&'a ResourceConfig),
    /// None attached: AWS's default group.
    Default,
    /// Named, but not a group of the stack (or known only at apply).
    Elsewhere,
}

/// Where a parameter's value for an instance comes from.
pub enum ParamAt<'a> {
    /// Set in this group.
    Set(&'a ResourceConfig, Node<'a>),
    /// Set in none of the stack's groups attached (listed); AWS's default applies.
    Unset(Vec<&'a ResourceConfig>),
}

/// The span of `path` or of the nearest enclosing value that was written.
pub fn span_at(rc: &ResourceConfig, path: &str) -> Option<Span> {
    nearest(&rc.attr_spans, path)
}

/// The span `spans` holds for `path` or for the nearest path enclosing it.
fn nearest(spans: &std::collections::BTreeMap<String, Span>, path: &str) -> Option<Span> {
    let mut p = path;
    loop {
        if let Some(s) = spans.get(p) {
            return Some(s.clone());
        }
        let cut = p.rfind(['.', '['])?;
        p = &p[..cut];
    }
}
