//! Renderers of `pgstack cost`: a table per resource line with the total,
//! the unpriced lines with their reasons, the assumptions and the price
//! sources; and the same as JSON (docs/cost.md). Both show the estimate's
//! own figures (amounts already rounded to the cent), so they agree on each.

use std::fmt::Write as _;

use super::{Style, safe};
use crate::cost::{Estimate, Price};

/// An amount in cents as USD with thousands separators: `$1,234.56`, `-$5.50`.
pub fn usd(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}${grouped}.{:02}", cents % 100)
}

/// The cents of an amount of an [`Estimate`] (a whole number of cents, far
/// inside what an `i64` and a double hold exactly).
fn cents_of(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

/// A quantity without needless decimals.
fn qty(x: f64) -> String {
    if x.fract() == 0.0 { format!("{x:.0}") } else { format!("{x}") }
}

/// `quantity unit`, the unit singular for exactly one: `1 alarm-month`,
/// `730 instance-hours`.
fn quantity_of(quantity: f64, unit: &str) -> String {
    let unit = if quantity == 1.0 { unit.strip_suffix('s').unwrap_or(unit) } else { unit };
    format!("{} {unit}", qty(quantity))
}

/// The human form of an estimate.
pub fn render(stack: &str, e: &Estimate, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", style.bold(&format!("Monthly on-demand estimate of stack `{}`", safe(stack))));
    let _ = writeln!(out);
    let width = e.lines.iter().map(|l| l.address.len()).max().unwrap_or(0);
    for l in &e.lines {
        let (addr, what) = (safe(&l.address), safe(&l.what));
        match &l.price {
            Price::Priced { quantity, unit, unit_price, monthly } => {
                let _ = writeln!(
                    out,
                    "  {addr:<width$}  {:>11}  {what}: {} x ${unit_price}",
                    usd(cents_of(*monthly)),
                    quantity_of(*quantity, unit)
                );
            }
            Price::Unpriced { reason } => {
                let _ = writeln!(out, "  {addr:<width$}  {:>11}  {what}: {}", style.yellow("unpriced"), safe(reason));
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "  {}", style.bold(&format!("Total: {} a month", usd(e.total_cents()))));
    if e.unpriced() > 0 {
        let _ = writeln!(
            out,
            "  {}",
            style.yellow(&format!("{} line(s) could not be priced and are not in the total", e.unpriced()))
        );
    }
    if e.no_charge > 0 {
        let _ = writeln!(out, "  {} more resource(s) carry no charge of their own", e.no_charge);
    }
    let _ = writeln!(out, "\nAssumptions (set them in the stack's [cost] table):");
    for a in &e.assumptions {
        let from = if a.from_stack { "[cost]" } else { "default" };
        let _ = writeln!(out, "  {} = {} ({from}): {}", a.key, qty(a.value), a.meaning);
    }
    let _ = writeln!(out, "\nPrices: AWS on-demand list prices (data/prices.toml), no discounts or free tier:");
    for s in &e.sources {
        let _ = writeln!(out, "  {} as of {}: {}", s.region, s.as_of, s.source);
    }
    out
}

/// The JSON form: `{stack, currency, total_monthly, unpriced, no_charge, lines, assumptions, sources}`.
pub fn json(stack: &str, e: &Estimate) -> String {
    let v = serde_json::json!({
        "stack": stack,
        "currency": "USD",
        "total_monthly": e.total(),
        "unpriced": e.unpriced(),
        "no_charge": e.no_charge,
        "lines": e.lines,
        "assumptions": e.assumptions,
        "sources": e.sources,
    });
    format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default())
}

/// The line `plan` prints under the changes: monthly cost before and after.
pub fn plan_line(before: &Estimate, after: &Estimate) -> String {
    // Both totals are from 0 to MAX_MONTHLY_CENTS: no overflow.
    let delta = after.total_cents() - before.total_cents();
    let sign = if delta < 0 { "-" } else { "+" };
    let mut out = format!(
        "\nMonthly cost (on-demand list prices): {} -> {} ({sign}{})",
        usd(before.total_cents()),
        usd(after.total_cents()),
        usd(delta.abs())
    );
    if before.unpriced() + after.unpriced() > 0 {
        let _ = write!(out, "; unpriced lines left out: {} before, {} after", before.unpriced(), after.unpriced());
    }
    out.push_str(". Details: pgstack cost STACK\n");
    out
}

/// The `cost` member of `plan --json`.
pub fn plan_json(before: &Estimate, after: &Estimate) -> serde_json::Value {
    serde_json::json!({
        "currency": "USD",
        "before_monthly": before.total(),
        "after_monthly": after.total(),
        "unpriced_before": before.unpriced(),
        "unpriced_after": after.unpriced(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_a_unit_is_singular() {
        assert_eq!(quantity_of(1.0, "alarm-months"), "1 alarm-month");
        assert_eq!(quantity_of(730.0, "instance-hours"), "730 instance-hours");
        assert_eq!(quantity_of(0.5, "GB-months"), "0.5 GB-months");
        assert_eq!(quantity_of(1.0, "GB"), "1 GB");
    }

    #[test]
    fn usd_groups_thousands() {
        assert_eq!(usd(0), "$0.00");
        assert_eq!(usd(37887), "$378.87");
        assert_eq!(usd(123456701), "$1,234,567.01");
        assert_eq!(usd(-123450), "-$1,234.50");
        assert_eq!(usd(1460), "$14.60");
        assert_eq!(usd(crate::cost::MAX_MONTHLY_CENTS), "$1,000,000,000,000.00");
        assert_eq!((cents_of(378.87), cents_of(14.6), cents_of(1e12)), (37887, 1460, crate::cost::MAX_MONTHLY_CENTS));
    }
}
