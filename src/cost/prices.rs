//! The price data file (data/prices.toml), embedded at compile time and
//! parsed once. Its layout is checked by serde (unknown keys refused), and a
//! unit test parses the shipped file.

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
}

static SHIPPED: LazyLock<Result<Prices, String>> = LazyLock::new(|| parse(PRICES_TOML));

/// The shipped prices, parsed on first use; an error names what is wrong
/// with the data file (a build from a broken checkout).
pub fn shipped() -> Result<&'static Prices, String> {
    SHIPPED.as_ref().map_err(Clone::clone)
}

/// Parses a price file's text.
pub fn parse(text: &str) -> Result<Prices, String> {
    toml::from_str(text).map_err(|e| format!("data/prices.toml is not a valid price file: {e}"))
}

#[cfg(test)]
mod tests {
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
}
