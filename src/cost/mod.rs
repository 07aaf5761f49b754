//! Monthly on-demand cost estimate of a loaded stack, from the list prices in
//! data/prices.toml ([`prices`]). Pure: no AWS calls, no state.
//!
//! Each resource type's schema says how it is priced ([`Pricing`]): free, or
//! by one of the price models here; a type the registry does not know is an
//! unpriced line.
//!
//! Invariants: every resource of a type that costs money yields at least one
//! [`Line`]; what cannot be priced (an instance class or region missing from
//! the price file, an attribute known only after apply) is a
//! [`Price::Unpriced`] line with its reason, never a zero. Usage the config
//! cannot know comes from the stack's `[cost]` table or a default, and every
//! figure used is listed in [`Estimate::assumptions`].
//!
//! Figures never overflow: a usage figure above [`MAX_USAGE`], a line that
//! does not come to a whole number of cents from $0 to [`MAX_MONTHLY_CENTS`],
//! or a total beyond it is a [`CostError`], never an `inf`, `NaN` or wrapped
//! amount. Every priced line's `monthly` is rounded to the cent when the
//! estimate is made and the total is the sum of those cents, so every
//! rendering shows the same figures and the lines add up to the total.

pub mod prices;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::addr::ResourceAddr;
use crate::config::{Expr, ResourceConfig, Stack};
use crate::diag::{FileId, Span};
use crate::provider::Registry;
use crate::schema::Pricing;
use crate::value::{Attrs, Value};
use prices::{Prices, RegionPrices};

/// The largest usage figure `[cost]` may set (GB, million requests): a
/// zettabyte of data is far beyond any database, and every figure up to it
/// prints as a plain number.
pub const MAX_USAGE: f64 = 1e12;

/// The largest monthly amount, of one line or of the total, in cents:
/// $1,000,000,000,000.00. Amounts up to it are exact to the cent both as
/// integers and as the JSON numbers (IEEE doubles) `--format json` prints.
pub const MAX_MONTHLY_CENTS: i64 = 100_000_000_000_000;

/// Why a stack cannot be priced: a figure beyond what pgstack prices.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CostError {
    #[error("`{key}` in [cost] is {}, more than {}, the largest usage figure pgstack prices", figure(*.value), figure(MAX_USAGE))]
    Usage { key: &'static str, value: f64 },
    #[error(
        "{address}: {what} does not come to an amount pgstack prices ($0.00 to $1,000,000,000,000.00 a month): {} {unit} x ${}",
        figure(*.quantity), figure(*.unit_price)
    )]
    Line { address: String, what: String, quantity: f64, unit: String, unit_price: f64 },
    #[error(
        "the total passes $1,000,000,000,000.00 a month, the most pgstack prices, after {lines} priced lines; the largest is {address}: {what}"
    )]
    /// `lines`: the priced lines summed when the total passed the maximum.
    Total { lines: usize, address: String, what: String },
}

/// `x` as a plain number while it prints short, else in exponent form.
fn figure(x: f64) -> String {
    if x.is_finite() && x.abs() < 1e15 { format!("{x}") } else { format!("{x:e}") }
}

/// The estimate of a stack.
///
/// Invariant (from [`estimate`]): every priced line's `monthly` is a whole
/// number of cents from 0 to [`MAX_MONTHLY_CENTS`], and so is their sum.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub lines: Vec<Line>,
    pub assumptions: Vec<Assumption>,
    /// Source and date of the prices of each region used.
    pub sources: Vec<Source>,
    /// Resources that carry no charge (not listed in `lines`).
    pub no_charge: usize,
    /// The sum of the priced lines, in cents.
    #[serde(skip)]
    total_cents: i64,
}

/// One priced (or unpriced) item of a resource.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub address: String,
    pub region: String,
    pub what: String,
    #[serde(flatten)]
    pub price: Price,
}

/// A line's price, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Price {
    /// `monthly` is `quantity` x `unit_price` rounded to the cent (in an
    /// [`Estimate`]: from $0 to [`MAX_MONTHLY_CENTS`]).
    Priced {
        quantity: f64,
        unit: String,
        unit_price: f64,
        monthly: f64,
    },
    Unpriced {
        reason: String,
    },
}

/// A usage figure the estimate assumes.
#[derive(Debug, Clone, Serialize)]
pub struct Assumption {
    pub key: &'static str,
    pub value: f64,
    /// Set in `[cost]` (false: the default).
    pub from_stack: bool,
    pub meaning: &'static str,
}

/// Where a region's prices come from.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub region: String,
    pub source: String,
    pub as_of: String,
}

impl Estimate {
    /// The sum of the priced lines, USD per month (a whole number of cents).
    pub fn total(&self) -> f64 {
        self.total_cents as f64 / 100.0
    }

    /// The sum of the priced lines, in cents: from 0 to [`MAX_MONTHLY_CENTS`].
    pub fn total_cents(&self) -> i64 {
        self.total_cents
    }

    /// How many lines could not be priced (the total leaves them out).
    pub fn unpriced(&self) -> usize {
        self.lines.iter().filter(|l| matches!(l.price, Price::Unpriced { .. })).count()
    }
}

/// Usage figures, from `[cost]` or the defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    pub data_gb: f64,
    pub io_requests_millions: f64,
    pub backup_gb: f64,
    pub s3_backup_gb: f64,
    pub s3_archive_gb: f64,
    pub replicated_gb: f64,
    pub log_gb: f64,
}

/// The default data size when `[cost]` sets none.
const DEFAULT_DATA_GB: f64 = 100.0;
/// The default Aurora I/O requests per month, in millions.
const DEFAULT_IO_MILLIONS: f64 = 50.0;
/// The default logs a month into one log group, in GB.
const DEFAULT_LOG_GB: f64 = 5.0;
/// The fewest vCPUs AWS bills a proxy target for.
const MIN_PROXY_VCPUS: i64 = 2;
/// How many months of logs a group that keeps them forever is priced with.
const FOREVER_MONTHS: f64 = 12.0;

/// The usage figures of `[cost]` (keys among `config::COST_SETTINGS`) over
/// the defaults, and the list of assumptions to print; a figure that is not
/// a number from 0 to [`MAX_USAGE`] is refused.
pub fn usage(cost: &BTreeMap<String, f64>) -> Result<(Usage, Vec<Assumption>), CostError> {
    let mut out = Vec::new();
    let mut take = |key: &'static str, default: f64, meaning: &'static str| {
        let (value, from_stack) = cost.get(key).map_or((default, false), |v| (*v, true));
        if !(0.0..=MAX_USAGE).contains(&value) {
            return Err(CostError::Usage { key, value });
        }
        out.push(Assumption { key, value, from_stack, meaning });
        Ok(value)
    };
    let data_gb = take("data_gb", DEFAULT_DATA_GB, "GB of data in each database (storage)")?;
    let io_requests_millions =
        take("io_requests_millions", DEFAULT_IO_MILLIONS, "million I/O requests a month per Aurora Standard cluster")?;
    let backup_gb =
        take("backup_gb", data_gb, "GB of automated backups per database (the free allowance is its storage)")?;
    let s3_backup_gb = take("s3_backup_gb", data_gb, "GB of backup objects in each backup bucket")?;
    let s3_archive_gb = take("s3_archive_gb", data_gb, "GB archived to Glacier in each bucket with an archive rule")?;
    let replicated_gb = take("replicated_gb", s3_backup_gb, "GB a month replicated to another region")?;
    let log_gb = take("log_gb", DEFAULT_LOG_GB, "GB of logs a month into each CloudWatch Logs group")?;
    let usage = Usage { data_gb, io_requests_millions, backup_gb, s3_backup_gb, s3_archive_gb, replicated_gb, log_gb };
    Ok((usage, out))
}

/// A priced line's amount rounded to the cent, refused unless it is a whole
/// number of cents from 0 to [`MAX_MONTHLY_CENTS`]; returns the line's
/// price with `monthly` rounded, and its cents.
fn settle(address: &str, what: &str, price: Price) -> Result<(Price, i64), CostError> {
    let Price::Priced { quantity, unit, unit_price, monthly } = price else { return Ok((price, 0)) };
    let cents = (monthly * 100.0).round();
    // NaN is in no range; -0.0 is 0.
    if !(0.0..=MAX_MONTHLY_CENTS as f64).contains(&cents) || !quantity.is_finite() {
        return Err(CostError::Line { address: address.to_owned(), what: what.to_owned(), quantity, unit, unit_price });
    }
    // Exact: a whole number within ±2^53.
    let whole = cents as i64;
    Ok((Price::Priced { quantity, unit, unit_price, monthly: cents / 100.0 }, whole))
}

/// Prices every resource of `stack`, each by its type's [`Pricing`] in
/// `registry`; refused when a figure is beyond what pgstack prices
/// ([`CostError`]).
pub fn estimate(stack: &Stack, registry: &Registry, prices: &Prices) -> Result<Estimate, CostError> {
    let view: View<'_> = stack.resources.iter().map(|(a, rc)| (a, Cow::Borrowed(rc))).collect();
    estimate_view(stack, registry, &view, prices)
}

/// How `registry` says objects of type `rtype` are priced; `None` for a
/// type it does not know.
fn pricing(registry: &Registry, rtype: &str) -> Option<Pricing> {
    registry.get(rtype).map(|t| t.schema().pricing)
}

/// The resources an estimate prices: the stack's own, or a plan's view of
/// them (borrowed where nothing is priced or nothing changed, owned where
/// the plan's values replace the config's).
type View<'a> = BTreeMap<&'a ResourceAddr, Cow<'a, ResourceConfig>>;

fn estimate_view(stack: &Stack, registry: &Registry, view: &View<'_>, prices: &Prices) -> Result<Estimate, CostError> {
    let (usage, assumptions) = usage(&stack.cost)?;
    let cx = Cx { resources: view, prices, usage };
    let mut lines = Vec::new();
    let mut no_charge = 0;
    let mut regions = std::collections::BTreeSet::new();
    let mut total_cents = 0i64;
    // The line with the most cents so far: (cents, address, what).
    let mut largest: (i64, String, String) = (0, String::new(), String::new());
    for (addr, rc) in view {
        let items = match pricing(registry, &addr.rtype) {
            Some(p) => cx.resource(p, addr, rc),
            None => vec![unpriced(addr.rtype.clone(), "pgstack has no price model for this resource type")],
        };
        if items.is_empty() {
            no_charge += 1;
            continue;
        }
        regions.insert(rc.region.clone());
        for (what, price) in items {
            let address = addr.to_string();
            let (price, cents) = settle(&address, &what, price)?;
            if cents > largest.0 {
                largest = (cents, address.clone(), what.clone());
            }
            lines.push(Line { address, region: rc.region.clone(), what, price });
            total_cents =
                total_cents.checked_add(cents).filter(|t| *t <= MAX_MONTHLY_CENTS).ok_or_else(|| CostError::Total {
                    lines: lines.iter().filter(|l| matches!(l.price, Price::Priced { .. })).count(),
                    address: largest.1.clone(),
                    what: largest.2.clone(),
                })?;
        }
    }
    let sources = regions
        .into_iter()
        .filter_map(|r| {
            let p = prices.region.get(&r)?;
            Some(Source { region: r, source: p.source.clone(), as_of: p.as_of.clone() })
        })
        .collect();
    Ok(Estimate { lines, assumptions, sources, no_charge, total_cents })
}

/// One resource of a plan: its address and region, and its attributes as
/// they are now (`before`) and after apply (`after`); `None` where it does
/// not exist.
pub struct Change<'a> {
    pub addr: &'a ResourceAddr,
    pub region: &'a str,
    pub before: Option<&'a Attrs>,
    pub after: Option<&'a Attrs>,
}

/// The estimates before and after a plan. Each side prices the resources
/// that exist on it, from their configuration with the literal values of
/// that side over it (unknown values keep the configured ones), so the
/// references between resources (cluster of an instance, source of a
/// replica, buckets of a replication) still resolve.
pub fn before_after<'a>(
    stack: &Stack,
    registry: &Registry,
    changes: &[Change<'a>],
    prices: &Prices,
) -> Result<(Estimate, Estimate), CostError> {
    let side = |pick: fn(&Change<'a>) -> Option<&'a Attrs>| {
        let view: View<'_> = changes
            .iter()
            .filter_map(|c| {
                let attrs = pick(c)?;
                let configured = stack.resources.get(c.addr);
                // Nothing to price: the config as it is (only its presence counts).
                if let (Some(rc), Some(Pricing::Free)) = (configured, pricing(registry, &c.addr.rtype)) {
                    return Some((c.addr, Cow::Borrowed(rc)));
                }
                let mut rc = configured.cloned().unwrap_or_else(|| ResourceConfig {
                    addr: c.addr.clone(),
                    region: c.region.to_owned(),
                    region_explicit: true,
                    attrs: BTreeMap::new(),
                    depends_on: Vec::new(),
                    ignore_changes: Vec::new(),
                    timeouts: BTreeMap::new(),
                    create_before_destroy: None,
                    span: Span::new(FileId(0), 0..0),
                    attr_spans: BTreeMap::new(),
                    input_spans: BTreeMap::new(),
                    module_calls: Vec::new(),
                });
                for (k, v) in attrs.iter().filter(|(_, v)| !v.contains_unknown()) {
                    let configured = rc.attrs.get(k);
                    if configured.is_none_or(|e| e.as_lit().is_some()) {
                        rc.attrs.insert(k.clone(), Expr::Lit(v.clone()));
                    }
                }
                Some((c.addr, Cow::Owned(rc)))
            })
            .collect();
        estimate_view(stack, registry, &view, prices)
    };
    Ok((side(|c| c.before)?, side(|c| c.after)?))
}

type Item = (String, Price);

fn priced(what: impl Into<String>, quantity: f64, unit: &str, unit_price: f64) -> Item {
    (what.into(), Price::Priced { quantity, unit: unit.to_owned(), unit_price, monthly: quantity * unit_price })
}

fn unpriced(what: impl Into<String>, reason: impl Into<String>) -> Item {
    (what.into(), Price::Unpriced { reason: reason.into() })
}

struct Cx<'a> {
    resources: &'a View<'a>,
    prices: &'a Prices,
    usage: Usage,
}

impl Cx<'_> {
    /// The items of one resource priced by `pricing`; empty when it carries
    /// no charge.
    fn resource(&self, pricing: Pricing, addr: &ResourceAddr, rc: &ResourceConfig) -> Vec<Item> {
        let hours = self.prices.hours_per_month;
        // The items `f` makes of the region's prices, or why there are none.
        let in_region = |f: &dyn Fn(&RegionPrices) -> Vec<Item>| match self.prices.region.get(&rc.region) {
            Some(p) => f(p),
            None => {
                vec![unpriced(addr.rtype.clone(), format!("no prices for region {} in data/prices.toml", rc.region))]
            }
        };
        match pricing {
            Pricing::Free => Vec::new(),
            Pricing::VpcEndpoint if lit_str(rc, "vpc_endpoint_type") == Some("Gateway") => Vec::new(),
            Pricing::Replication if !self.replication_crosses_regions(rc) => Vec::new(),
            Pricing::AuroraInstance => in_region(&|p| vec![self.aurora_instance(rc, p)]),
            Pricing::AuroraCluster => in_region(&|p| self.aurora_cluster(rc, p)),
            Pricing::RdsInstance => in_region(&|p| self.rds_instance(rc, p)),
            Pricing::KmsKey => in_region(&|p| {
                let mut items = vec![priced("KMS key", 1.0, "key-months", p.rates.kms_key_month)];
                // Automatic rotation (on unless turned off): KMS bills the
                // first two rotated versions like a key each, from the
                // rotation that makes them (later ones are free).
                let rotates = addr.rtype == "kms_key"
                    && !matches!(
                        rc.attrs.get("enable_key_rotation").and_then(|e| e.as_lit()),
                        Some(Value::Bool(false))
                    );
                if rotates {
                    items.push(priced(
                        "KMS key rotation (the first two rotated versions, from their rotation)",
                        2.0,
                        "version-months",
                        p.rates.kms_key_month,
                    ));
                }
                items
            }),
            Pricing::Secret => {
                in_region(&|p| vec![priced("Secrets Manager secret", 1.0, "secret-months", p.rates.secret_month)])
            }
            Pricing::Alarm => in_region(&|p| {
                vec![priced("CloudWatch alarm (standard resolution)", 1.0, "alarm-months", p.rates.alarm_month)]
            }),
            Pricing::VpcEndpoint => in_region(&|p| {
                let service = lit_str(rc, "service_name").unwrap_or("?");
                match self.count(rc.attrs.get("subnet_ids")) {
                    Some(azs) => vec![priced(
                        format!("interface endpoint {service} in {azs} AZs"),
                        hours * azs as f64,
                        "endpoint-AZ-hours",
                        p.rates.interface_endpoint_az_hour,
                    )],
                    None => vec![unpriced(
                        format!("interface endpoint {service}"),
                        "its number of subnets is not known before apply",
                    )],
                }
            }),
            Pricing::Bucket => in_region(&|p| self.bucket(addr, rc, p)),
            Pricing::LogGroup => in_region(&|p| {
                // Stored: a month's logs times the months they are kept.
                let (months, kept) = match lit_num(rc, "retention_in_days") {
                    // Months of a 365-day year, to the hundredth (365 days: 12).
                    Some(days) => ((days * 12.0 / 365.0 * 100.0).round() / 100.0, format!("{days} days")),
                    None => (FOREVER_MONTHS, format!("forever, priced at {FOREVER_MONTHS} months")),
                };
                vec![
                    priced("CloudWatch Logs ingestion", self.usage.log_gb, "GB", p.rates.logs_ingest_gb),
                    priced(
                        format!("CloudWatch Logs storage (kept {kept})"),
                        (self.usage.log_gb * months * 100.0).round() / 100.0,
                        "GB-months",
                        p.rates.logs_storage_gb_month,
                    ),
                ]
            }),
            Pricing::ProxyTarget => in_region(&|p| vec![self.proxy_target(rc, p)]),
            Pricing::BackupPlan => in_region(&|p| self.backup_plan(rc, p)),
            // Across regions.
            Pricing::Replication => in_region(&|p| {
                vec![priced(
                    "cross-region replication transfer",
                    self.usage.replicated_gb,
                    "GB",
                    p.rates.transfer_inter_region_gb,
                )]
            }),
        }
    }

    fn aurora_instance(&self, rc: &ResourceConfig, p: &RegionPrices) -> Item {
        let Some(class) = lit_str(rc, "instance_class") else {
            return unpriced("Aurora instance", "its instance class is not known before apply");
        };
        let what = format!("Aurora PostgreSQL {class} instance");
        if let Some(engine) = lit_str(rc, "engine").filter(|e| *e != "aurora-postgresql") {
            return unpriced(what, format!("pgstack has no prices for engine {engine}"));
        }
        let cluster = self.target(rc, "cluster_identifier");
        let io_optimized = cluster.and_then(|c| lit_str(c, "storage_type")) == Some("aurora-iopt1");
        let (table, kind) = if io_optimized {
            (&p.aurora_postgresql_io_optimized, "Aurora PostgreSQL I/O-Optimized")
        } else {
            (&p.aurora_postgresql, "Aurora PostgreSQL")
        };
        match table.get(class) {
            Some(rate) => priced(what, self.prices.hours_per_month, "instance-hours", *rate),
            None => unpriced(
                what,
                format!("no price for instance class {class} ({kind}) in {} in data/prices.toml", rc.region),
            ),
        }
    }

    /// A backup plan's recovery points: for each rule, the snapshots it
    /// keeps at once (its retention over its period) at the database's size
    /// (`[cost] data_gb`), in its vault and in each copy's, and the transfer
    /// of the copies that leave the region. Full-size snapshots are an upper
    /// bound: snapshots of one cluster share the blocks that did not change.
    fn backup_plan(&self, rc: &ResourceConfig, p: &RegionPrices) -> Vec<Item> {
        let gb = self.usage.data_gb;
        let rules = rc.attrs.get("rules").map(table_items).unwrap_or_default();
        let mut out = Vec::new();
        for rule in &rules {
            let name = rule.text("rule_name").unwrap_or("rule");
            let period = rule.text("schedule_expression").map_or(1.0, schedule_period_days);
            let kept = |t: &TableItem| t.number("delete_after_days").unwrap_or(FOREVER_MONTHS * 365.0 / 12.0);
            let points = |t: &TableItem| (kept(t) / period).ceil().max(1.0);
            out.push(priced(
                format!("AWS Backup `{name}`: {} snapshots of {gb} GB kept (full size: an upper bound)", points(rule)),
                points(rule) * gb,
                "GB-months",
                p.rates.aurora_backup_gb_month,
            ));
            for copy in rule.items("copy_to") {
                let region =
                    copy.region_of("destination_vault_arn", self.resources).unwrap_or_else(|| rc.region.clone());
                let rate = self
                    .prices
                    .region
                    .get(&region)
                    .map_or(p.rates.aurora_backup_gb_month, |r| r.rates.aurora_backup_gb_month);
                out.push(priced(
                    format!("AWS Backup `{name}` copies in {region}: {} snapshots of {gb} GB kept", points(&copy)),
                    points(&copy) * gb,
                    "GB-months",
                    rate,
                ));
                if region != rc.region {
                    let copies = (30.0 / period).ceil();
                    out.push(priced(
                        format!("AWS Backup `{name}` copies to {region}: {copies} a month of {gb} GB"),
                        copies * gb,
                        "GB",
                        p.rates.transfer_inter_region_gb,
                    ));
                }
            }
        }
        out
    }

    /// A proxy's charge for one target: the vCPUs of the target's instance,
    /// or of every instance of the target's cluster, at least two.
    fn proxy_target(&self, rc: &ResourceConfig, p: &RegionPrices) -> Item {
        let classes: Vec<Option<&str>> = if let Some(db) = self.target(rc, "db_instance_identifier") {
            vec![lit_str(db, "instance_class")]
        } else if let Some(cluster) = self.target(rc, "db_cluster_identifier") {
            let members = self.resources.iter().filter(|(a, member)| {
                a.rtype == "db_cluster_instance"
                    && self.target(member, "cluster_identifier").is_some_and(|c| c.addr == cluster.addr)
            });
            members.map(|(_, member)| lit_str(member, "instance_class")).collect()
        } else {
            // Another stack's database: what AWS bills at least.
            let what =
                format!("RDS Proxy at the {MIN_PROXY_VCPUS}-vCPU minimum (its database is in no block of this stack)");
            return priced(
                what,
                self.prices.hours_per_month * MIN_PROXY_VCPUS as f64,
                "vCPU-hours",
                p.rates.rds_proxy_vcpu_hour,
            );
        };
        let mut vcpus = 0;
        for class in classes {
            let Some(class) = class else {
                return unpriced("RDS Proxy", "an instance class behind it is not known before apply");
            };
            let Some(n) = crate::config::functions::instance_vcpus(class) else {
                return unpriced("RDS Proxy", format!("pgstack does not know the vCPUs of {class}"));
            };
            vcpus += n;
        }
        let vcpus = vcpus.max(MIN_PROXY_VCPUS);
        priced(
            format!("RDS Proxy over {vcpus} vCPUs"),
            self.prices.hours_per_month * vcpus as f64,
            "vCPU-hours",
            p.rates.rds_proxy_vcpu_hour,
        )
    }

    fn aurora_cluster(&self, rc: &ResourceConfig, p: &RegionPrices) -> Vec<Item> {
        let r = &p.rates;
        let u = self.usage;
        if let Some(engine) = lit_str(rc, "engine").filter(|e| *e != "aurora-postgresql") {
            return vec![unpriced("Aurora cluster storage", format!("pgstack has no prices for engine {engine}"))];
        }
        let mut out = Vec::new();
        match lit_str(rc, "storage_type") {
            Some("aurora-iopt1") => out.push(priced(
                "Aurora I/O-Optimized storage",
                u.data_gb,
                "GB-months",
                r.aurora_io_optimized_storage_gb_month,
            )),
            Some(other) if other != "aurora" => {
                out.push(unpriced("Aurora storage", format!("pgstack has no prices for storage type {other}")))
            }
            _ => {
                out.push(priced("Aurora storage", u.data_gb, "GB-months", r.aurora_storage_gb_month));
                out.push(priced(
                    "Aurora I/O requests",
                    u.io_requests_millions,
                    "million requests",
                    r.aurora_io_per_million,
                ));
            }
        }
        out.push(backup_beyond_free(u.backup_gb, u.data_gb, r.aurora_backup_gb_month));
        out.extend(managed_secret(rc, p));
        out
    }

    fn rds_instance(&self, rc: &ResourceConfig, p: &RegionPrices) -> Vec<Item> {
        let r = &p.rates;
        let source = self.target(rc, "replicate_source_db");
        // A read replica inherits the engine and storage of its source.
        let get_str = |k: &str| lit_str(rc, k).or_else(|| source.and_then(|s| lit_str(s, k)));
        let get_num = |k: &str| lit_num(rc, k).or_else(|| source.and_then(|s| lit_num(s, k)));
        let multi_az = matches!(rc.attrs.get("multi_az").and_then(Expr::as_lit), Some(Value::Bool(true)));
        let (factor, az) = if multi_az { (2.0, ", Multi-AZ") } else { (1.0, "") };
        let mut out = Vec::new();
        let engine = get_str("engine").unwrap_or("postgres");
        match lit_str(rc, "instance_class") {
            _ if engine != "postgres" => {
                out.push(unpriced("RDS instance", format!("pgstack has no prices for engine {engine}")))
            }
            None => out.push(unpriced("RDS instance", "its instance class is not known before apply")),
            Some(class) => {
                let what = format!("RDS PostgreSQL {class} instance{az}");
                out.push(match p.rds_postgresql.get(class) {
                    Some(rate) => priced(what, self.prices.hours_per_month, "instance-hours", rate * factor),
                    None => unpriced(
                        what,
                        format!(
                            "no price for instance class {class} (RDS PostgreSQL) in {} in data/prices.toml",
                            rc.region
                        ),
                    ),
                });
            }
        }
        let Some(gb) = get_num("allocated_storage") else {
            out.push(unpriced("RDS storage", "allocated_storage is not known before apply"));
            return out;
        };
        let storage_type = get_str("storage_type").unwrap_or("gp2");
        let iops = get_num("iops");
        match storage_type {
            "gp2" => out.push(priced(format!("gp2 storage{az}"), gb, "GB-months", r.rds_gp2_gb_month * factor)),
            "gp3" => {
                out.push(priced(format!("gp3 storage{az}"), gb, "GB-months", r.rds_gp3_gb_month * factor));
                // RDS for PostgreSQL includes 3,000 IOPS and 125 MB/s below 400 GB, 12,000 and 500 from 400 GB.
                let (base_iops, base_mbps) = if gb < 400.0 { (3000.0, 125.0) } else { (12000.0, 500.0) };
                if let Some(extra) = iops.map(|i| i - base_iops).filter(|e| *e > 0.0) {
                    out.push(priced(
                        format!("gp3 IOPS above the {base_iops} included{az}"),
                        extra,
                        "IOPS-months",
                        r.rds_gp3_iops_month * factor,
                    ));
                }
                if let Some(extra) = get_num("storage_throughput").map(|t| t - base_mbps).filter(|e| *e > 0.0) {
                    out.push(priced(
                        format!("gp3 throughput above the {base_mbps} MB/s included{az}"),
                        extra,
                        "MBps-months",
                        r.rds_gp3_mbps_month * factor,
                    ));
                }
            }
            "io1" | "io2" => {
                let (gb_rate, iops_rate) = if storage_type == "io1" {
                    (r.rds_io1_gb_month, r.rds_io1_iops_month)
                } else {
                    (r.rds_io2_gb_month, r.rds_io2_iops_month)
                };
                out.push(priced(format!("{storage_type} storage{az}"), gb, "GB-months", gb_rate * factor));
                out.push(match iops {
                    Some(i) => {
                        priced(format!("{storage_type} provisioned IOPS{az}"), i, "IOPS-months", iops_rate * factor)
                    }
                    None => unpriced(format!("{storage_type} provisioned IOPS"), "iops is not known before apply"),
                });
            }
            other => out.push(unpriced("RDS storage", format!("pgstack has no prices for storage type {other}"))),
        }
        if source.is_none() {
            out.push(backup_beyond_free(self.usage.backup_gb, gb, r.rds_backup_gb_month));
        }
        out.extend(managed_secret(rc, p));
        out
    }

    fn bucket(&self, addr: &ResourceAddr, rc: &ResourceConfig, p: &RegionPrices) -> Vec<Item> {
        let u = self.usage;
        // A replication destination holds the copies in the rule's storage class.
        let class = self
            .resources
            .values()
            .filter(|o| o.addr.rtype == "s3_bucket_replication")
            .filter_map(|o| o.attrs.get("rule"))
            .find(|rule| rule.refs().iter().any(|r| r.target == *addr))
            .and_then(|rule| strings_at(rule, "storage_class").into_iter().next())
            .unwrap_or_else(|| "STANDARD".to_owned());
        let mut out = vec![s3_class(&format!("backup objects in {class}"), &class, u.s3_backup_gb, p)];
        let archive = rc.attrs.get("lifecycle_rule").map(|l| strings_at(l, "storage_class")).unwrap_or_default();
        if let Some(to) = archive.first() {
            out.push(s3_class(&format!("archive in {to}"), to, u.s3_archive_gb, p));
        }
        out
    }

    /// Whether a replication copies to a bucket in another region.
    fn replication_crosses_regions(&self, rc: &ResourceConfig) -> bool {
        let source = self.target(rc, "bucket").map_or(&rc.region, |b| &b.region);
        let dests = rc.attrs.get("rule").map(Expr::refs).unwrap_or_default();
        dests
            .iter()
            .filter(|r| r.target.rtype == "s3_bucket")
            .filter_map(|r| self.resources.get(&r.target))
            .any(|d| d.region != *source)
    }

    /// The resource an attribute refers to (`${TYPE.NAME.ATTR}`), if any.
    fn target(&self, rc: &ResourceConfig, key: &str) -> Option<&ResourceConfig> {
        match rc.attrs.get(key)? {
            Expr::Ref(r) if !r.splat => self.resources.get(&r.target).map(AsRef::as_ref),
            _ => None,
        }
    }

    /// The length of a list attribute, counting a splat `${TYPE.NAME[*].ATTR}`
    /// as the block's instances.
    fn count(&self, e: Option<&Expr>) -> Option<usize> {
        match e? {
            Expr::List(l) => Some(l.len()),
            Expr::Lit(Value::List(l)) => Some(l.len()),
            Expr::Ref(r) if r.splat => Some(self.resources.keys().filter(|a| a.resource() == r.target).count()),
            _ => None,
        }
    }
}

fn backup_beyond_free(backup_gb: f64, free_gb: f64, rate: f64) -> Item {
    priced("backup storage beyond the free allowance (its storage)", (backup_gb - free_gb).max(0.0), "GB-months", rate)
}

/// The secret RDS keeps the master password in, when it manages one.
fn managed_secret(rc: &ResourceConfig, p: &RegionPrices) -> Option<Item> {
    matches!(rc.attrs.get("manage_master_user_password").and_then(Expr::as_lit), Some(Value::Bool(true)))
        .then(|| priced("RDS-managed master secret", 1.0, "secret-months", p.rates.secret_month))
}

fn s3_class(what: &str, class: &str, gb: f64, p: &RegionPrices) -> Item {
    let r = &p.rates;
    let rate = match class {
        "STANDARD" => r.s3_standard_gb_month,
        "STANDARD_IA" => r.s3_standard_ia_gb_month,
        "GLACIER" => r.s3_glacier_gb_month,
        "DEEP_ARCHIVE" => r.s3_deep_archive_gb_month,
        other => return unpriced(what, format!("pgstack has no prices for S3 storage class {other}")),
    };
    priced(what, gb, "GB-months", rate)
}

fn lit_str<'a>(rc: &'a ResourceConfig, key: &str) -> Option<&'a str> {
    match rc.attrs.get(key)?.as_lit()? {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

fn lit_num(rc: &ResourceConfig, key: &str) -> Option<f64> {
    num(rc.attrs.get(key)?.as_lit()?)
}

/// A number value as a float.
fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// One table of a list attribute (a backup rule, a copy action), as cost
/// reads it: known values only, with the references it makes.
struct TableItem<'a> {
    fields: BTreeMap<&'a str, TableField<'a>>,
}

#[derive(Clone, Copy)]
enum TableField<'a> {
    Expr(&'a Expr),
    Value(&'a Value),
}

impl<'a> TableItem<'a> {
    fn text(&self, key: &str) -> Option<&'a str> {
        match *self.fields.get(key)? {
            TableField::Expr(Expr::Lit(v)) | TableField::Value(v) => v.as_str(),
            TableField::Expr(_) => None,
        }
    }

    fn number(&self, key: &str) -> Option<f64> {
        match *self.fields.get(key)? {
            TableField::Expr(Expr::Lit(v)) | TableField::Value(v) => num(v),
            TableField::Expr(_) => None,
        }
    }

    fn items(&self, key: &str) -> Vec<TableItem<'a>> {
        match self.fields.get(key) {
            Some(TableField::Expr(e)) => table_items(e),
            Some(TableField::Value(v)) => value_items(v),
            None => Vec::new(),
        }
    }

    /// The region of what `key` names: the resource a reference points at,
    /// or the region field of a literal ARN.
    fn region_of(&self, key: &str, resources: &View<'_>) -> Option<String> {
        match *self.fields.get(key)? {
            TableField::Expr(Expr::Ref(r)) => resources.get(&r.target).map(|rc| rc.region.clone()),
            TableField::Expr(Expr::Lit(v)) | TableField::Value(v) => {
                v.as_str()?.split(':').nth(3).filter(|r| !r.is_empty()).map(str::to_owned)
            }
            TableField::Expr(_) => None,
        }
    }
}

/// The tables of a list expression (a list of tables, written or known).
fn table_items(e: &Expr) -> Vec<TableItem<'_>> {
    match e {
        Expr::List(items) => items
            .iter()
            .filter_map(|i| match i {
                Expr::Map(m) => {
                    Some(TableItem { fields: m.iter().map(|(k, v)| (k.as_str(), TableField::Expr(v))).collect() })
                }
                Expr::Lit(v) => value_table(v),
                _ => None,
            })
            .collect(),
        Expr::Lit(v) => value_items(v),
        _ => Vec::new(),
    }
}

fn value_table(v: &Value) -> Option<TableItem<'_>> {
    let m = v.as_map()?;
    Some(TableItem { fields: m.iter().map(|(k, v)| (k.as_str(), TableField::Value(v))).collect() })
}

fn value_items(v: &Value) -> Vec<TableItem<'_>> {
    v.as_list().unwrap_or_default().iter().filter_map(value_table).collect()
}

/// Days between runs of an AWS cron schedule (`cron(MIN HOUR DOM MONTH DOW YEAR)`):
/// 7 when it names days of the week, 30 when a day of the month, else 1.
fn schedule_period_days(cron: &str) -> f64 {
    let fields: Vec<&str> = cron.trim().trim_start_matches("cron(").trim_end_matches(')').split_whitespace().collect();
    match (fields.get(2), fields.get(4)) {
        (Some(dom), _) if dom.parse::<u32>().is_ok() || *dom == "L" => 30.0,
        (_, Some(dow)) if *dow != "*" && *dow != "?" => 7.0 / dow.split(',').count() as f64,
        _ => 1.0,
    }
}

/// Every literal string under `key` at any depth of an expression.
fn strings_at(e: &Expr, key: &str) -> Vec<String> {
    fn in_value(v: &Value, key: &str, out: &mut Vec<String>) {
        match v {
            Value::List(l) => l.iter().for_each(|x| in_value(x, key, out)),
            Value::Map(m) => m.iter().for_each(|(k, x)| match x {
                Value::Str(s) if k == key => out.push(s.clone()),
                x => in_value(x, key, out),
            }),
            _ => {}
        }
    }
    fn in_expr(e: &Expr, key: &str, out: &mut Vec<String>) {
        match e {
            Expr::Lit(v) => in_value(v, key, out),
            Expr::List(l) => l.iter().for_each(|x| in_expr(x, key, out)),
            Expr::Map(m) => m.iter().for_each(|(k, x)| match x {
                Expr::Lit(Value::Str(s)) if k == key => out.push(s.clone()),
                x => in_expr(x, key, out),
            }),
            _ => {}
        }
    }
    let mut out = Vec::new();
    in_expr(e, key, &mut out);
    out
}

#[cfg(test)]
mod tests;
