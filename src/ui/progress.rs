//! Progress lines for engine events, on stderr. Addresses, ids and AWS
//! messages are escaped ([`super::safe`]).

use std::time::Duration;

use crate::engine::{Event, Hook};
use crate::plan::Action;

use super::{Ui, safe_display as esc};

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

/// `SUBJECT: Still WHAT... [T elapsed]`, escaped.
fn waiting_line(subject: &str, what: &str, elapsed: Duration) -> String {
    format!("{}: Still {}... [{} elapsed]", esc(&subject), esc(&what), secs(elapsed))
}

/// Prints a wait of something that is not a resource (the state backend
/// sending a request again), in the form of the engine's waiting lines.
pub fn waiting(ui: Ui, subject: &str, what: &str, elapsed: Duration) {
    ui.err(&format!("{}\n", waiting_line(subject, what, elapsed)));
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
                format!("Refreshing {count} {} in {}...", esc(&rtype), esc(&region))
            }
            Event::Listing { rtype, region } => {
                if !self.ui.verbose {
                    return;
                }
                format!("Listing the {} objects tagged for the stack in {}...", esc(&rtype), esc(&region))
            }
            Event::Adopted { addr, id } => {
                format!("{}: found {} from an interrupted create; adopting it", esc(&addr), esc(&id))
            }
            Event::Started { addr, action, deleting } => {
                format!("{}: {}", s.bold(&esc(&addr)), verb(action, deleting, false))
            }
            Event::Waiting { addr, what, elapsed } => waiting_line(&addr.to_string(), what, elapsed),
            Event::Finished { addr, action, deleting, id, elapsed } => {
                let id = id.map(|i| format!(" [id={}]", esc(&i))).unwrap_or_default();
                format!("{}: {} after {}{id}", s.bold(&esc(&addr)), verb(action, deleting, true), secs(elapsed))
            }
            Event::Failed { addr, error, .. } => {
                format!("{}: {} {}", s.bold(&esc(&addr)), s.red("failed:"), esc(&error))
            }
            Event::Skipped { addr, because } => format!("{}: skipped because {} failed", esc(&addr), esc(&because)),
        };
        self.ui.err(&format!("{line}\n"));
    }
}
