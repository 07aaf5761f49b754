//! Shared test support: the moto server harness and CLI helpers.
pub mod cli;
pub mod faults;
pub mod moto;
pub mod provider;
