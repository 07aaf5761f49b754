//! Shared test support: the moto server harness and CLI helpers.
