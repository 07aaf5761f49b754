//! Attribute schemas: what a resource type accepts, computes, and replaces on.
//!
//! Schemas are `'static` data built with `const fn`s, so validation, diff and
//! docs read the same table the provider declares.

use crate::value::Value;

/// The type of an attribute's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttrType {
    Str,
    Bool,
    Int,
    /// Integer or float.
    Num,
    List(&'static AttrType),
    /// Order-insensitive list; compared as a set.
    Set(&'static AttrType),
    /// Table with free keys and values of one type.
    Map(&'static AttrType),
    /// Table with the listed fields.
    Object(&'static [Attr]),
    /// An IAM/KMS policy document: a table or a JSON string, compared by meaning.
    Policy,
}

impl AttrType {
    /// A human description for diagnostics ("list of string").
    pub fn describe(&self) -> String {
        match self {
            AttrType::Str => "string".into(),
            AttrType::Bool => "bool".into(),
            AttrType::Int => "integer".into(),
            AttrType::Num => "number".into(),
            AttrType::List(t) => format!("list of {}", t.describe()),
            AttrType::Set(t) => format!("list of {}", t.describe()),
            AttrType::Map(t) => format!("table of {}", t.describe()),
            AttrType::Object(_) => "table".into(),
            AttrType::Policy => "policy (table or JSON string)".into(),
        }
    }
}

/// Who sets an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Must be set in config.
    Required,
    /// May be set in config; when unset it is not managed (AWS's value is kept).
    Optional,
    /// Set only by AWS (ids, ARNs); referencable, never diffed.
    Computed,
}

/// A literal default, applied when the attribute is unset in config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Default {
    Bool(bool),
    Int(i64),
    Str(&'static str),
}

impl Default {
    pub fn value(&self) -> Value {
        match *self {
            Default::Bool(b) => Value::Bool(b),
            Default::Int(i) => Value::Int(i),
            Default::Str(s) => Value::Str(s.to_owned()),
        }
    }
}

/// One attribute of a resource type (or a field of an object attribute).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attr {
    pub name: &'static str,
    pub ty: AttrType,
    pub mode: Mode,
    /// Changing it means delete and create again.
    pub force_new: bool,
    pub default: Option<Default>,
    /// Written to AWS but never stored in state, plans or output.
    pub write_only: bool,
    /// Kept in state but not compared against AWS (e.g. a deletion window).
    pub config_only: bool,
}

impl Attr {
    const fn base(name: &'static str, ty: AttrType, mode: Mode) -> Attr {
        Attr { name, ty, mode, force_new: false, default: None, write_only: false, config_only: false }
    }
    pub const fn required(name: &'static str, ty: AttrType) -> Attr {
        Attr::base(name, ty, Mode::Required)
    }
    pub const fn optional(name: &'static str, ty: AttrType) -> Attr {
        Attr::base(name, ty, Mode::Optional)
    }
    pub const fn computed(name: &'static str, ty: AttrType) -> Attr {
        Attr::base(name, ty, Mode::Computed)
    }
    pub const fn force_new(self) -> Attr {
        Attr { force_new: true, ..self }
    }
    pub const fn default(self, d: Default) -> Attr {
        Attr { default: Some(d), ..self }
    }
    pub const fn write_only(self) -> Attr {
        Attr { write_only: true, ..self }
    }
    pub const fn config_only(self) -> Attr {
        Attr { config_only: true, ..self }
    }
}

/// The schema of one resource type.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    pub attrs: &'static [Attr],
    /// Holds data: deleting or replacing it falls under the data-loss guard.
    pub guarded: bool,
    /// Has a `tags` attribute; stack tags and ownership tags are merged into it.
    pub taggable: bool,
}

impl Schema {
    pub fn attr(&self, name: &str) -> Option<&'static Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.attrs.iter().map(|a| a.name)
    }
}

/// Finds a field in an object attribute's field list.
pub fn field<'a>(fields: &'a [Attr], name: &str) -> Option<&'a Attr> {
    fields.iter().find(|a| a.name == name)
}

/// The ownership tags every created resource carries.
pub const TAG_STACK: &str = "pgstack:stack";
pub const TAG_ADDRESS: &str = "pgstack:address";
