//! The engine: refresh through providers, then apply a plan by walking its
//! change graph in parallel, persisting state after every change.

pub mod apply;
pub mod orphans;
pub mod refresh;
pub mod walk;

use std::time::Duration;

use crate::addr::ResourceAddr;
use crate::plan::Action;

/// Something the engine reports while it works. The UI renders these; the
/// engine never prints.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// Reading `count` objects of one type in one region.
    Refreshing {
        rtype: &'a str,
        region: &'a str,
        count: usize,
    },
    /// Listing the objects of one type in one region tagged for the stack (orphan scan).
    Listing {
        rtype: &'a str,
        region: &'a str,
    },
    /// An interrupted create was found by its tags and will be adopted.
    Adopted {
        addr: &'a ResourceAddr,
        id: &'a str,
    },
    Started {
        addr: &'a ResourceAddr,
        action: Action,
        deleting: bool,
    },
    /// Still working (waiting for AWS), with what and for how long.
    Waiting {
        addr: &'a ResourceAddr,
        what: &'a str,
        elapsed: Duration,
    },
    Finished {
        addr: &'a ResourceAddr,
        action: Action,
        deleting: bool,
        id: Option<&'a str>,
        elapsed: Duration,
    },
    Failed {
        addr: &'a ResourceAddr,
        action: Action,
        error: &'a str,
    },
    Skipped {
        addr: &'a ResourceAddr,
        because: &'a ResourceAddr,
    },
}

/// Receives engine events (progress lines, logs, tests).
pub trait Hook: Send + Sync {
    fn event(&self, event: Event<'_>);
}

/// A hook that ignores everything.
pub struct Silent;

impl Hook for Silent {
    fn event(&self, _event: Event<'_>) {}
}
#[cfg(test)]
mod tests;
