//! Progress lines for engine events, on stderr.

use std::time::Duration;

use crate::engine::{Event, Hook};
use crate::plan::Action;

use super::Ui;

/// Prints one line per engine event.
pub struct Progress {
    pub ui: Ui,
}

fn verb(action: Action, deleting: bool, done: bool) -> &'static str {
    match (action, deleting, done) {
        (_, true, false) => "Destroying...",
        (_, true, true) => "Destruction complete",
        (Action::Create | Action::Replace, false, false) => "Creating...",
        (Action::Create | Action::Replace, false, true) => "Creation complete",
        (Action::Update, _, false) => "Modifying...",
        (Action::Update, _, true) => "Modifications complete",
        (_, _, false) => "Recording...",
        (_, _, true) => "Recorded",
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

impl Hook for Progress {
    fn event(&self, e: Event<'_>) {
        let s = self.ui.style;
        let line = match e {
            Event::Refreshing { rtype, region, count } => {
                if !self.ui.verbose {
                    return;
                }
                format!("Refreshing {count} {rtype} in {region}...")
            }
            Event::Adopted { addr, id } => format!("{addr}: found {id} from an interrupted create; adopting it"),
            Event::Started { addr, action, deleting } => {
                format!("{}: {}", s.bold(&addr.to_string()), verb(action, deleting, false))
            }
            Event::Waiting { addr, what, elapsed } => format!("{addr}: Still {what}... [{} elapsed]", secs(elapsed)),
            Event::Finished { addr, action, deleting, id, elapsed } => {
                let id = id.map(|i| format!(" [id={i}]")).unwrap_or_default();
                format!("{}: {} after {}{id}", s.bold(&addr.to_string()), verb(action, deleting, true), secs(elapsed))
            }
            Event::Failed { addr, error, .. } => format!("{}: {} {error}", s.bold(&addr.to_string()), s.red("failed:")),
            Event::Skipped { addr, because } => format!("{addr}: skipped because {because} failed"),
        };
        self.ui.err(&format!("{line}\n"));
    }
}
