//! Shared test support: the moto server harness and CLI helpers.
pub mod moto;
pub mod cli;
pub mod provider;
pub mod faults;
