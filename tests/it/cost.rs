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
