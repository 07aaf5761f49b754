//! `pgstack cost STACK`: the monthly on-demand estimate of the loaded stack
//! from the shipped list prices. Makes no AWS calls and reads no state.

use std::process::ExitCode;

use super::session::{load, load_options};
use super::{CliError, CliResult, CostFormat, GlobalArgs};
use crate::cost::Estimate;
use crate::ui::Ui;

pub fn cost(g: &GlobalArgs, ui: Ui, stack: &str, format: CostFormat) -> CliResult {
    let (s, _, _) = load(g, ui, stack, &load_options(g)?)?;
    let prices = crate::cost::prices::shipped().map_err(CliError::msg)?;
    let estimate = crate::cost::estimate(&s, prices);
    ui.out(&match format {
        CostFormat::Text => crate::ui::cost::render(&s.name, &estimate, ui.style),
        CostFormat::Json => crate::ui::cost::json(&s.name, &estimate),
    });
    Ok(ExitCode::SUCCESS)
}

/// The estimates before and after `plan` (`None` when the price file is
/// broken: plan then shows no cost rather than failing).
pub fn plan_cost(stack: &crate::config::Stack, plan: &crate::plan::Plan) -> Option<(Estimate, Estimate)> {
    let prices = crate::cost::prices::shipped().ok()?;
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
    Some(crate::cost::before_after(stack, &changes, prices))
}
