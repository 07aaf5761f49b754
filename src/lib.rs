//! pgstack: provision production PostgreSQL on AWS from declarative TOML stacks.
//!
//! Data flows one way: `config` (parse, validate, evaluate) → `graph`
//! (dependency DAG) → `plan` (refresh + pure diff → actions) → `engine`
//! (parallel apply) → `state`. `check` judges the loaded stack against the
//! seeds' requirements without AWS. `provider` holds one file per AWS
//! resource type; `ui` is the only module that prints; `cli` is a thin adapter.
#![forbid(unsafe_code)]

pub mod addr;
#[cfg(test)]
mod architecture_tests;
pub mod check;
pub mod cli;
pub mod config;
pub mod cost;
pub mod diag;
pub mod engine;
pub mod failpoint;
pub mod files;
pub mod graph;
pub mod plan;
pub mod provider;
pub mod retry;
pub mod schema;
pub mod state;
pub mod ui;
pub mod value;
