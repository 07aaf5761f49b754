//! `pgstack cost STACK`: the monthly on-demand estimate of the loaded stack
//! from the shipped list prices. Makes no AWS calls and reads no state.

use std::process::ExitCode;

use super::session::{load, load_options};
use super::{CliError, CliResult, CostFormat, GlobalArgs};
use crate::cost::{CostError, Estimate};
use crate::ui::Ui;

pub fn cost(g: &GlobalArgs, ui: Ui, stack: &str, format: CostFormat) -> CliResult {
    let (s, _, registry) = load(g, ui, stack, &load_options(g)?)?;
    let prices = crate::cost::prices::shipped().map_err(CliError::msg)?;
    let estimate = crate::cost::estimate(&s, &registry, prices).map_err(refusal)?;
    ui.out(&match format {
        CostFormat::Text => crate::ui::cost::render(&s.name, &estimate, ui.style),
        CostFormat::Json => crate::ui::cost::json(&s.name, &estimate),
    });
    Ok(ExitCode::SUCCESS)
}

/// A stack that cannot be priced, with what to do about it.
fn refusal(e: CostError) -> CliError {
    let hint = match e {
        CostError::Usage { .. } => "set the usage you expect in the stack's [cost] table (docs/cost.md)",
        CostError::Line { .. } | CostError::Total { .. } => {
            "check the stack's [cost] figures and the sizes and counts of the resources it declares"
        }
    };
    CliError::msg(e.to_string()).hint(hint)
}

/// The estimates before and after `plan`, or why there are none (a broken
/// price file, a figure beyond what pgstack prices): plan then warns and
/// shows no cost rather than failing.
pub fn plan_cost(
    stack: &crate::config::Stack,
    registry: &crate::provider::Registry,
    plan: &crate::plan::Plan,
) -> Result<(Estimate, Estimate), String> {
    let prices = crate::cost::prices::shipped()?;
    let changes: Vec<_> = plan
        .changes
        .iter()
        .map(|c| crate::cost::Change {
            addr: &c.address,
            region: &c.region,
            before: c.before.as_ref(),
            after: c.after.as_ref(),
        })
        .collect();
    crate::cost::before_after(stack, registry, &changes, prices).map_err(|e| e.to_string())
}
