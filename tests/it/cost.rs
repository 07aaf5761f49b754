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
    for m in ["network", "aurora-postgres", "secrets", "backups", "alarms"] {
        w.copy(&format!("modules/{m}/module.toml"), &format!("modules/{m}/module.toml"));
    }
    w
}

#[test]
fn cost_prices_the_prod_stack_in_text_and_json() {
    let w = prod();
    let text = w.run(&["cost", "prod", "--no-color"], &env()).expect(0).stdout;
    // Three db.r6g.xlarge Aurora instances at $0.519/h x 730 h.
    assert_eq!(text.matches("$378.87  Aurora PostgreSQL db.r6g.xlarge instance").count(), 3, "{text}");
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
    assert_eq!(v["unpriced"], 3, "{json}");
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

#[test]
fn update_prices_reads_offer_files_into_a_price_file_pgstack_parses() {
    let offers = ["tests/fixtures/price-offers/AmazonRDS.json", "tests/fixtures/price-offers/others.json"];
    let out = update_prices(&[&["--region", "us-east-1"][..], &offers[..]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let prices = pgstack::cost::prices::parse(&text).expect("a valid price file");
    let r = &prices.region["us-east-1"];
    assert_eq!(r.as_of, "2024-11-01", "the offers' publication date");
    assert_eq!(r.aurora_postgresql.get("db.r6g.xlarge"), Some(&0.519));
    assert_eq!(r.aurora_postgresql_io_optimized.get("db.r6g.xlarge"), Some(&0.675));
    // Single-AZ only: the Multi-AZ and eu-west-1 products of the same class are skipped.
    assert_eq!(r.rds_postgresql.get("db.m6g.large"), Some(&0.152));
    assert_eq!(r.rates.aurora_io_per_million, 0.2, "offers price one request");
    assert_eq!(r.rates.rds_gp3_iops_month, 0.02);
    assert_eq!(r.rates.transfer_inter_region_gb, 0.02);
    assert_eq!(prices.region.len(), 1);

    // A region the offers do not cover is refused, never written as zero.
    let out = update_prices(&[&["--region", "us-west-2"][..], &offers[..]].concat());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("us-west-2: kms_key_month") && out.stdout.is_empty(), "{err}");
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
    // Nothing exists yet; the quickstart's one KMS key is $1 a month, the rest is free.
    let c = cost(&w);
    assert_eq!((c["before_monthly"].as_f64(), c["after_monthly"].as_f64()), (Some(0.0), Some(1.0)), "{c}");
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &env).expect(0);
    let c = cost(&w);
    assert_eq!((c["before_monthly"].as_f64(), c["after_monthly"].as_f64()), (Some(1.0), Some(1.0)), "{c}");
    let text = w.run(&["plan", "quickstart.toml", "--no-color"], &env).expect(0).stdout;
    assert!(text.contains("Monthly cost (on-demand list prices): $1.00 -> $1.00 (+$0.00)"), "{text}");
    w.run(&["destroy", "quickstart.toml", "--auto-approve", "--allow-destroy", "kms_key.db"], &env).expect(0);
}
