//! Crash injection for recovery tests.
//!
//! `PGSTACK_FAILPOINT=NAME:ADDRESS` makes the process abort (no cleanup, no
//! state write) when it reaches failpoint NAME for ADDRESS, the way a kill
//! would. Unset in normal use; checking it costs one env lookup.

use crate::addr::ResourceAddr;

/// Aborts the process if the failpoint `name` is armed for `addr`.
pub fn hit(name: &str, addr: &ResourceAddr) {
    if let Ok(spec) = std::env::var("PGSTACK_FAILPOINT")
        && spec.split_once(':').is_some_and(|(n, a)| n == name && a == addr.to_string())
    {
        std::process::abort();
    }
}
