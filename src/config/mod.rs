//! The stack language: parse TOML with spans, resolve variables, modules and
//! `for_each`, validate against resource schemas, and produce a [`Stack`].

pub mod functions;
pub mod model;

pub use model::{BinOp, EvalError, Expr, OutputConfig, Ref, ResourceConfig, Stack};
