//! `pgstack cost` through the real binary: no AWS endpoint is reachable
//! (cost makes no calls), the shipped prod stack is priced line by line in
//! text and JSON, and a `[cost]` table moves the usage lines.

use crate::support::cli::Workdir;

/// No AWS, and the variable the shipped stacks need.
fn env() -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".to_owned(), "http://127.0.0.1:9".to_owned()),
        ("PGSTACK_VAR_rotation_lambda_arn".to_owned(), "arn:aws:lambda:us-east-1:123456789012:function:rot".to_owned()),
    ]
}

fn prod() -> Workdir {
    let w = Workdir::new();
    w.copy("stacks/prod.toml", "stacks/prod.toml");
    for m in ["network", "aurora-postgres", "secrets", "pooling", "backups", "alarms"] {
        w.copy(&format!("modules/{m}/module.toml"), &format!("modules/{m}/module.toml"));
    }
    w
}

#[test]
fn cost_prices_the_prod_stack_in_text_and_json() {
    let w = prod();
    let text = w.run(&["cost", "prod", "--no-color"], &env()).expect(0).stdout;
    // The writer and the sync reader on db.r6g.xlarge at $0.519/h x 730 h; the
    // async reader on db.r6g.large (S3 §4.1) at $0.26/h.
    assert_eq!(text.matches("$378.87  Aurora PostgreSQL db.r6g.xlarge instance").count(), 2, "{text}");
    assert_eq!(text.matches("$189.80  Aurora PostgreSQL db.r6g.large instance").count(), 1, "{text}");
    assert!(text.contains("data_gb = 100 (default)"), "{text}");
    assert!(text.contains("us-west-2 as of "), "{text}");
    assert!(!text.contains("unpriced"), "{text}");

    let json = w.run(&["cost", "prod", "--format", "json"], &env()).expect(0).stdout;
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["unpriced"], 0);
    let lines = v["lines"].as_array().expect("lines");
    let sum: f64 = lines.iter().map(|l| l["monthly"].as_f64().expect("monthly")).sum();
    let total = v["total_monthly"].as_f64().expect("total");
    assert!((sum - total).abs() < 0.01, "{sum} vs {total}");
    assert!(lines.iter().any(|l| l["address"] == "module.db.db_cluster_instance.writer" && l["status"] == "priced"));
}

#[test]
fn a_cost_table_changes_the_usage_lines_and_an_unknown_class_is_unpriced() {
    let w = prod();
    let stack = std::fs::read_to_string(w.path().join("stacks/prod.toml")).expect("read");
    let stack = stack.replace("instance_class = \"db.r6g.xlarge\"", "instance_class = \"db.r6g.12xlarge\"");
    w.write("stacks/prod.toml", &format!("{stack}\n[cost]\ndata_gb = 500\n"));
    let json = w.run(&["cost", "prod", "--format", "json"], &env()).expect(0).stdout;
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    let lines = v["lines"].as_array().expect("lines");
    // 500 GB x $0.10.
    let storage = lines.iter().find(|l| l["what"] == "Aurora storage").expect("storage line");
    assert_eq!(storage["monthly"].as_f64(), Some(50.0));
    // The writer and the sync reader follow `instance_class`; the async reader keeps db.r6g.large.
    assert_eq!(v["unpriced"], 2, "{json}");
    let reason = lines.iter().find(|l| l["status"] == "unpriced").expect("unpriced")["reason"].to_string();
    assert!(reason.contains("db.r6g.12xlarge"), "{reason}");
}

/// Runs scripts/update-prices.py with the moto venv's python.
fn update_prices(args: &[&str]) -> std::process::Output {
    let venv = std::env::var("PGSTACK_MOTO_VENV").expect("PGSTACK_MOTO_VENV (scripts/test.sh sets it)");
    let root = crate::support::cli::repo_root();
    std::process::Command::new(std::path::Path::new(&venv).join("bin/python"))
        .arg(root.join("scripts/update-prices.py"))
        .args(args)
        .current_dir(root)
        .output()
        .expect("run update-prices.py")
}

/// The sample offer files, one per offer the script reads (us-east-1 and a
/// us-west-2 slice of test data), decoy SKUs included.
const PRICE_OFFERS: [&str; 8] = [
    "tests/fixtures/price-offers/AmazonRDS.json",
    "tests/fixtures/price-offers/AmazonS3.json",
    "tests/fixtures/price-offers/AmazonS3GlacierDeepArchive.json",
    "tests/fixtures/price-offers/awskms.json",
    "tests/fixtures/price-offers/AWSSecretsManager.json",
    "tests/fixtures/price-offers/AmazonVPC.json",
    "tests/fixtures/price-offers/AmazonCloudWatch.json",
    "tests/fixtures/price-offers/AWSDataTransfer.json",
];

#[test]
fn update_prices_reads_offer_files_into_a_price_file_pgstack_parses() {
    let out = update_prices(&[&["--region", "us-east-1"][..], &PRICE_OFFERS[..]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let prices = pgstack::cost::prices::parse(&text).expect("a valid price file");
    assert_eq!(prices.region.len(), 1);
    let r = &prices.region["us-east-1"];
    assert_eq!(r.as_of, "2026-03-18", "the offers' latest publication date");
    assert!(r.source.contains("AmazonS3GlacierDeepArchive"), "{}", r.source);
    // Keyed on instanceType (the usagetype says db.r6g.xl); Standard and I/O-Optimized apart.
    assert_eq!(r.aurora_postgresql.get("db.r6g.xlarge"), Some(&0.519));
    assert_eq!(r.aurora_postgresql_io_optimized.get("db.r6g.xlarge"), Some(&0.675));
    // PostgreSQL Single-AZ on-demand only: the MySQL row (0.152), Multi-AZ (0.318), Outposts,
    // eu-west-1 and the reserved term of the same class lose.
    assert_eq!(r.rds_postgresql.get("db.m6g.large"), Some(&0.159));
    // Neither the Extended Support row nor the Custom (deploymentModel) row of the class.
    assert_eq!(r.rds_postgresql.get("db.r6g.large"), Some(&0.225));
    // Never the $0 -LimitlessPreview SKUs.
    assert_eq!(r.rates.aurora_storage_gb_month, 0.10);
    assert_eq!(r.rates.aurora_io_optimized_storage_gb_month, 0.225);
    assert_eq!(r.rates.aurora_io_per_million, 0.2, "offers price one request");
    assert_eq!(r.rates.aurora_backup_gb_month, 0.021);
    // gp3 IOPS is not io1's or Multi-AZ's; io1 IOPS and RDS backup come from "Any" rows,
    // not RDSCustom's backup.
    assert_eq!(r.rates.rds_gp3_iops_month, 0.02);
    assert_eq!(r.rates.rds_io1_iops_month, 0.10);
    assert_eq!(r.rates.rds_gp3_mbps_month, 0.08);
    assert_eq!(r.rates.rds_backup_gb_month, 0.095);
    // Deep Archive from its own offer, not AmazonS3's staging SKU at 0.021; the first tier of Standard.
    assert_eq!(r.rates.s3_deep_archive_gb_month, 0.00099);
    assert_eq!(r.rates.s3_standard_gb_month, 0.023);
    assert_eq!(r.rates.s3_glacier_gb_month, 0.0036);
    // To the peer us-west-2, not us-east-2 (0.01); standard alarms, not composite (0.50);
    // interface endpoints, not GWLB endpoints.
    assert_eq!(r.rates.transfer_inter_region_gb, 0.02);
    assert_eq!(r.rates.alarm_month, 0.10);
    assert_eq!(r.rates.interface_endpoint_az_hour, 0.01);
    assert_eq!(r.rates.kms_key_month, 1.0);
    assert_eq!(r.rates.secret_month, 0.40);
    // The USE1- usagetype of the proxy's vCPU rate, not Aurora Serverless v2's per-ACU one (0.018).
    assert_eq!(r.rates.rds_proxy_vcpu_hour, 0.015);

    // The us-west-2 slice (USW2- usagetypes) and a peer chosen by --peer.
    let flags = ["--region", "us-west-2", "--region", "us-east-1", "--peer", "us-east-1=us-east-2"];
    let out = update_prices(&[&flags[..], &PRICE_OFFERS[..]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let prices = pgstack::cost::prices::parse(&text).expect("a valid price file");
    assert_eq!(prices.region["us-east-1"].rates.transfer_inter_region_gb, 0.01);
    let w = &prices.region["us-west-2"];
    assert_eq!(w.rds_postgresql.get("db.m6g.large"), Some(&0.159));
    assert_eq!(w.rates.s3_deep_archive_gb_month, 0.00099);
    assert_eq!(w.rates.transfer_inter_region_gb, 0.02);

    // A region the offers do not cover is refused, never written as zero.
    let out = update_prices(&[&["--region", "eu-west-1"][..], &PRICE_OFFERS[..]].concat());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("eu-west-1: kms_key_month") && out.stdout.is_empty(), "{err}");
    // Without the Deep Archive offer, its rate is missing (AmazonS3's staging SKU is not taken).
    let without: Vec<&str> = PRICE_OFFERS.iter().copied().filter(|f| !f.contains("DeepArchive")).collect();
    let out = update_prices(&[&["--region", "us-east-1"][..], &without[..]].concat());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("us-east-1: s3_deep_archive_gb_month") && out.stdout.is_empty(), "{err}");
}

#[test]
fn update_prices_refuses_two_prices_a_zero_price_or_another_unit_for_one_rate() {
    for (bad, says) in [
        ("two-prices-AmazonRDS.json", "us-east-1: rds_postgresql db.m6g.large: 2 distinct prices match"),
        ("zero-price-AmazonCloudWatch.json", "us-east-1: alarm_month: a price of 0"),
        ("wrong-unit-AmazonRDS.json", "us-east-1: rds_gp3_mbps_month: priced in another unit than MBPS-Mo"),
    ] {
        let bad = format!("tests/fixtures/price-offers/bad/{bad}");
        let out = update_prices(&[&["--region", "us-east-1"][..], &PRICE_OFFERS[..], &[bad.as_str()][..]].concat());
        assert_eq!(out.status.code(), Some(1), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says) && out.stdout.is_empty(), "{bad}: {err}");
    }
    // Both SKUs are named.
    let bad = "tests/fixtures/price-offers/bad/two-prices-AmazonRDS.json";
    let out = update_prices(&[&["--region", "us-east-1"][..], &PRICE_OFFERS[..], &[bad][..]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SKU Q7PD5ZXW8N3KJ2HB") && err.contains("SKU 29AKTJ3QX3Q9TG8X"), "{err}");
}

#[test]
fn plan_shows_the_monthly_cost_before_and_after() {
    let m = crate::support::moto::moto();
    let env = m.env();
    let w = Workdir::new();
    w.copy("examples/quickstart.toml", "quickstart.toml");
    let cost = |w: &Workdir| -> serde_json::Value {
        let out = w.run(&["plan", "quickstart.toml", "--json"], &env).expect(0).stdout;
        serde_json::from_str::<serde_json::Value>(&out).expect("json")["cost"].clone()
    };
    // Nothing exists yet; the quickstart's one KMS key is $1 a month and its
    // first two rotated versions $1 each once made; the rest is free.
    let c = cost(&w);
    assert_eq!((c["before_monthly"].as_f64(), c["after_monthly"].as_f64()), (Some(0.0), Some(3.0)), "{c}");
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(0);
    let c = cost(&w);
    assert_eq!((c["before_monthly"].as_f64(), c["after_monthly"].as_f64()), (Some(3.0), Some(3.0)), "{c}");
    let text = w.run(&["plan", "quickstart.toml", "--no-color"], &env).expect(0).stdout;
    assert!(text.contains("Monthly cost (on-demand list prices): $3.00 -> $3.00 (+$0.00)"), "{text}");
    w.run(&["destroy", "quickstart.toml", "--auto-approve", "--allow-destroy", "kms_key.db"], &env).expect(0);
}

/// Cents in a `$1,234.56` amount.
fn cents_in(usd: &str) -> i64 {
    let digits: String = usd.trim_start_matches('$').chars().filter(|c| *c != ',').collect();
    let (whole, frac) = digits.split_once('.').expect("dollars.cents");
    assert_eq!(frac.len(), 2, "{usd}");
    whole.parse::<i64>().expect(usd) * 100 + frac.parse::<i64>().expect(usd)
}

/// A JSON amount as whole cents; fails unless it is one.
fn json_cents(v: &serde_json::Value) -> i64 {
    let x = v.as_f64().expect("a number") * 100.0;
    assert!((x - x.round()).abs() < 1e-6, "{v} is not a whole number of cents");
    x.round() as i64
}

fn number(text: &str) -> f64 {
    text.parse().unwrap_or_else(|_| panic!("not a number: {text}"))
}

/// Issue 15, item 14: text and JSON show the same figure for every line,
/// quantity, unit price, assumption and the total, and the total is the
/// sum of the lines as shown (usage figures that give fractions of a cent).
#[test]
fn text_and_json_agree_on_every_figure() {
    let w = prod();
    let stack = std::fs::read_to_string(w.path().join("stacks/prod.toml")).expect("read");
    let usage = "[cost]\ndata_gb = 123.456\ns3_archive_gb = 333.333\ns3_backup_gb = 77.7777\nreplicated_gb = 0.4321\n";
    w.write("stacks/prod.toml", &format!("{stack}\n{usage}"));
    let text = w.run(&["cost", "prod", "--no-color"], &env()).expect(0).stdout;
    let json: serde_json::Value =
        serde_json::from_str(&w.run(&["cost", "prod", "--format", "json"], &env()).expect(0).stdout).expect("json");

    let lines = json["lines"].as_array().expect("lines");
    let table: Vec<&str> = text.lines().skip(2).take_while(|l| !l.is_empty()).collect();
    assert_eq!(table.len(), lines.len(), "{text}");
    let mut sum = 0;
    for (t, j) in table.iter().zip(lines) {
        let (address, what) = (j["address"].as_str().unwrap(), j["what"].as_str().unwrap());
        let rest = t.trim_start().strip_prefix(address).unwrap_or_else(|| panic!("{address} in {t}")).trim_start();
        let (amount, rest) = rest.split_once("  ").expect("amount");
        let rest = rest.trim_start().strip_prefix(&format!("{what}: ")).unwrap_or_else(|| panic!("{what} in {t}"));
        assert_eq!(j["status"], "priced", "{t}");
        let (cents, shown) = (json_cents(&j["monthly"]), cents_in(amount));
        assert_eq!(cents, shown, "monthly of {t}: JSON {}", j["monthly"]);
        sum += cents;
        let (quantity, rest) = rest.split_once(' ').expect("quantity");
        let (unit, price) = rest.rsplit_once(" x $").expect("unit price");
        assert_eq!(number(quantity), j["quantity"].as_f64().unwrap(), "quantity of {t}");
        // One of a unit is shown singular (`1 alarm-month`); JSON keeps the unit's name.
        let json_unit = j["unit"].as_str().unwrap();
        let shown_unit =
            if number(quantity) == 1.0 { json_unit.strip_suffix('s').unwrap_or(json_unit) } else { json_unit };
        assert_eq!(unit, shown_unit, "unit of {t}");
        assert_eq!(number(price), j["unit_price"].as_f64().unwrap(), "unit price of {t}");
    }
    let total = text.lines().find_map(|l| l.trim().strip_prefix("Total: ")).expect("a total");
    let total = cents_in(total.strip_suffix(" a month").expect("a month"));
    assert_eq!(total, json_cents(&json["total_monthly"]), "the totals");
    assert_eq!(total, sum, "the total is the sum of the lines as shown");
    for a in json["assumptions"].as_array().expect("assumptions") {
        let key = a["key"].as_str().unwrap();
        let line = text.lines().find_map(|l| l.strip_prefix(&format!("  {key} = "))).expect(key);
        let (value, _) = line.split_once(' ').expect("value");
        assert_eq!(number(value), a["value"].as_f64().unwrap(), "{key}");
    }
    // The figures that made old renderings disagree: 333.333 GB x $0.0036 = $1.1999988.
    assert!(text.contains("$1.20  archive in GLACIER: 333.333 GB-months x $0.0036"), "{text}");
}

/// Issue 15, item 14: usage figures or counts whose cost overflows are
/// refused with a clear error, never printed as inf, NaN or wrapped amounts.
#[test]
fn figures_that_overflow_are_refused_never_printed() {
    let w = prod();
    let stack = std::fs::read_to_string(w.path().join("stacks/prod.toml")).expect("read");
    let never = |out: &str| {
        for bad in ["inf", "NaN", "null", "92,233,720,368,547,758"] {
            assert!(!out.contains(bad), "{bad} in:\n{out}");
        }
    };
    for usage in ["data_gb = 1e308", "io_requests_millions = 1.7976931348623157e308", "replicated_gb = 1e13"] {
        w.write("stacks/prod.toml", &format!("{stack}\n[cost]\n{usage}\n"));
        let key = usage.split(' ').next().unwrap();
        for format in ["text", "json"] {
            let run = w.run(&["cost", "prod", "--format", format], &env()).expect(1);
            assert!(run.stdout.is_empty(), "nothing is printed as an estimate: {}", run.stdout);
            assert!(
                run.stderr.contains(&format!("error: `{key}` in [cost] is "))
                    && run.stderr.contains("more than 1000000000000, the largest usage figure pgstack prices"),
                "{}",
                run.stderr
            );
            assert!(
                run.stderr.contains("hint: set the usage you expect in the stack's [cost] table"),
                "{}",
                run.stderr
            );
            never(&run.stderr);
        }
    }

    // Counts: each cluster within bounds, their sum beyond them.
    let clusters = "[db_cluster.c]\nfor_each = { a = 1, b = 2, c = 3, d = 4, e = 5, f = 6 }\n\
                    cluster_identifier = \"c-${each.key}\"\nengine = \"aurora-postgresql\"\nmaster_username = \"u\"\n";
    w.write(
        "many.toml",
        &format!(
            "[stack]\nname = \"many\"\nregion = \"us-east-1\"\n\n[cost]\nio_requests_millions = 1e12\n\n{clusters}"
        ),
    );
    for format in ["text", "json"] {
        let run = w.run(&["cost", "many.toml", "--format", format], &env()).expect(1);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert!(
            run.stderr.contains("error: the total passes $1,000,000,000,000.00 a month, the most pgstack prices"),
            "{}",
            run.stderr
        );
        never(&run.stderr);
    }
    // plan shows no cost rather than a wrong one, and says why.
    let plan = w.run(&["plan", "many.toml", "--refresh=false"], &env()).expect(0);
    assert!(plan.stderr.contains("warning: no cost estimate: the total passes"), "{}", plan.stderr);
    assert!(!plan.stdout.contains("Monthly cost"), "{}", plan.stdout);
    never(&plan.stdout);
}
