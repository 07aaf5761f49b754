//! The price data file (data/prices.toml), embedded at compile time and
//! parsed once. Its layout is checked by serde (unknown keys refused), its
//! numbers by [`parse`] (every price from above 0 to [`MAX_PRICE`],
//! `hours_per_month` from above 0 to 744), and a unit test parses the
//! shipped file.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

/// The shipped price file's text.
const PRICES_TOML: &str = include_str!("../../data/prices.toml");

/// Every price pgstack knows, by AWS region id.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// Hours in the month every hourly price is multiplied by (AWS uses 730).
    pub hours_per_month: f64,
    pub region: BTreeMap<String, RegionPrices>,
}

/// One region's list prices, with where they come from and when.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPrices {
    pub source: String,
    /// The date the prices were read (YYYY-MM-DD).
    pub as_of: String,
    /// Aurora PostgreSQL (Aurora Standard), USD per instance-hour by class.
    pub aurora_postgresql: BTreeMap<String, f64>,
    /// Aurora PostgreSQL on I/O-Optimized clusters, USD per instance-hour.
    pub aurora_postgresql_io_optimized: BTreeMap<String, f64>,
    /// RDS for PostgreSQL, single-AZ, USD per instance-hour.
    pub rds_postgresql: BTreeMap<String, f64>,
    pub rates: Rates,
}

/// Unit prices (see the units in the data file's header).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    pub aurora_storage_gb_month: f64,
    pub aurora_io_optimized_storage_gb_month: f64,
    pub aurora_io_per_million: f64,
    pub aurora_backup_gb_month: f64,
    pub rds_gp2_gb_month: f64,
    pub rds_gp3_gb_month: f64,
    pub rds_gp3_iops_month: f64,
    pub rds_gp3_mbps_month: f64,
    pub rds_io1_gb_month: f64,
    pub rds_io1_iops_month: f64,
    pub rds_io2_gb_month: f64,
    pub rds_io2_iops_month: f64,
    pub rds_backup_gb_month: f64,
    pub s3_standard_gb_month: f64,
    pub s3_standard_ia_gb_month: f64,
    pub s3_glacier_gb_month: f64,
    pub s3_deep_archive_gb_month: f64,
    pub transfer_inter_region_gb: f64,
    pub kms_key_month: f64,
    pub secret_month: f64,
    pub interface_endpoint_az_hour: f64,
    pub alarm_month: f64,
    pub logs_ingest_gb: f64,
    pub logs_storage_gb_month: f64,
    /// RDS Proxy, per vCPU of the instances behind it.
    pub rds_proxy_vcpu_hour: f64,
}

static SHIPPED: LazyLock<Result<Prices, String>> = LazyLock::new(|| parse(PRICES_TOML));

/// The shipped prices, parsed on first use; an error names what is wrong
/// with the data file (a build from a broken checkout).
pub fn shipped() -> Result<&'static Prices, String> {
    SHIPPED.as_ref().map_err(Clone::clone)
}

/// The largest unit price the price file may hold, USD: far above any AWS
/// list price, low enough that no usage pgstack prices overflows with it.
pub const MAX_PRICE: f64 = 1e6;

/// Hours in the longest month.
const MAX_HOURS_PER_MONTH: f64 = 744.0;

/// Parses a price file's text. Every number must be a price from above 0
/// to [`MAX_PRICE`] (`hours_per_month`: above 0 to 744); an error names the
/// file and the key.
pub fn parse(text: &str) -> Result<Prices, String> {
    let invalid = |e: String| format!("data/prices.toml is not a valid price file: {e}");
    let table: toml::Table = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
    check_numbers(&table, "").map_err(invalid)?;
    // Parsed again into its types, for errors that point at the line.
    toml::from_str(text).map_err(|e| invalid(e.to_string()))
}

/// Every number under `table` (at `path`) is in range.
fn check_numbers(table: &toml::Table, path: &str) -> Result<(), String> {
    for (key, value) in table {
        let at = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        let (x, max) = match value {
            toml::Value::Table(t) => {
                check_numbers(t, &at)?;
                continue;
            }
            toml::Value::Integer(i) => (*i as f64, i64::MAX as f64),
            toml::Value::Float(f) => (*f, f64::MAX),
            _ => continue,
        };
        let max = max.min(if at == "hours_per_month" { MAX_HOURS_PER_MONTH } else { MAX_PRICE });
        // NaN is in no range.
        if !(x > 0.0 && x <= max) {
            return Err(format!("`{at}` is {value}; it must be a number above 0 and at most {max}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy as _;

    use super::*;

    #[test]
    fn the_shipped_file_parses_with_a_source_and_date_for_every_region() {
        let p = shipped().unwrap();
        assert_eq!(p.hours_per_month, 730.0);
        for r in ["us-east-1", "us-west-2"] {
            let rp = &p.region[r];
            assert!(rp.source.contains("AWS Price List"), "{r}: {}", rp.source);
            assert_eq!(rp.as_of.len(), 10, "{r}: {}", rp.as_of);
            assert!(rp.aurora_postgresql.contains_key("db.r6g.xlarge"));
            assert!(rp.rds_postgresql.contains_key("db.m6g.large"));
        }
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let e = parse("hours_per_month = 730\nhourz = 1\n[region]\n").unwrap_err();
        assert!(e.contains("hourz"), "{e}");
    }

    /// The shipped file with the first `key = ...` line set to `value`.
    fn shipped_with(key: &str, value: &str) -> String {
        let mut done = false;
        PRICES_TOML
            .lines()
            .map(|l| {
                if !done && l.split('=').next().is_some_and(|k| k.trim().trim_matches('"') == key) {
                    done = true;
                    format!("{key} = {value}")
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn prices_out_of_range_are_refused_naming_the_file_and_key() {
        for (key, value) in [
            ("hours_per_month", "1e308"),
            ("hours_per_month", "0"),
            ("hours_per_month", "745"),
            ("kms_key_month", "-1"),
            ("kms_key_month", "nan"),
            ("kms_key_month", "inf"),
            ("kms_key_month", "1e308"),
            ("kms_key_month", "0.0"),
            ("db.r6g.xlarge", "9223372036854775807"),
        ] {
            let e = parse(&shipped_with(key, value)).unwrap_err();
            assert!(e.starts_with("data/prices.toml is not a valid price file: `"), "{key} = {value}: {e}");
            assert!(e.contains(key) && e.contains("must be a number above 0"), "{key} = {value}: {e}");
        }
        let e = parse(&shipped_with("kms_key_month", "18446744073709551615")).unwrap_err();
        assert!(e.starts_with("data/prices.toml is not a valid price file"), "{e}");
        assert!(parse(&shipped_with("kms_key_month", "1000000")).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Any value at any key of the shipped file never panics the loader:
        /// it reads numbers only in range, and a refusal names the file.
        #[test]
        fn extreme_values_in_the_price_file_never_panic(
            key in proptest::sample::select(vec!["hours_per_month", "kms_key_month", "db.r6g.xlarge", "as_of", "aurora_io_per_million"]),
            value in proptest::prop_oneof![
                proptest::prelude::any::<i64>().prop_map(|n| n.to_string()),
                proptest::prelude::any::<u64>().prop_map(|n| n.to_string()),
                proptest::prelude::any::<f64>().prop_map(|x| format!("{x:e}")),
                proptest::sample::select(vec!["nan", "-inf", "+inf", "1e308", "-0.0", "\"1\"", "[]", "{}", "true", "0x7f", "1_000"])
                    .prop_map(str::to_owned),
            ],
        ) {
            match parse(&shipped_with(key, &value)) {
                Ok(p) => proptest::prop_assert!(p.hours_per_month > 0.0 && p.hours_per_month <= 744.0
                    && p.region.values().all(|r| r.rates.kms_key_month > 0.0 && r.rates.kms_key_month <= MAX_PRICE)),
                Err(e) => proptest::prop_assert!(e.starts_with("data/prices.toml is not a valid price file"), "{e}"),
            }
        }
    }
}
