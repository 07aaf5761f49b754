//! The stack language: parse TOML with spans, resolve variables, modules and
//! `for_each`, validate against resource schemas, and produce a [`Stack`].
//!
//! Pipeline: `parse` (TOML → spanned [`parse::Node`] tree) → `template`
//! (`${...}` → unresolved expressions) → `load` / `scope` / `resolve`
//! (variables, modules, instances, references) with `validate` (schemas).
//! The language is documented in docs/stack-language.md.

mod check_table;
pub mod data;
pub mod functions;
mod imports;
mod load;
mod mask;
pub mod model;
mod moved;
pub mod parse;
#[cfg(test)]
mod prop_tests;
mod resolve;
mod scope;
pub mod template;
mod validate;

pub use functions::BinOp;
pub use load::{AWS_REGIONS, LoadOptions, Loaded, load, project_root, resolve_stack_path};
pub use model::{
    BACKEND_SETTINGS, COST_SETTINGS, Call, CheckSettings, DataConfig, EvalError, Expr, ImportBlock, Moved,
    OutputConfig, Profile, ProfileSource, Ref, ResourceConfig, S3BackendConfig, SensitiveVar, Stack,
    TIMEOUT_OPERATIONS, Waiver,
};
pub use parse::parse_value;
pub use scope::META_ARGUMENTS;
