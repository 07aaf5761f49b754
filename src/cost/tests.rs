//! Single resources priced against figures worked by hand from the list
//! prices in data/prices.toml (the numbers are written out here, not read
//! from the file, so a changed price file fails these tests until they are
//! worked again).

use super::*;
use crate::config::{LoadOptions, load};
use crate::provider::Registry;

const HEAD: &str = "[stack]\nname = \"t\"\nregion = \"us-east-1\"\n\n";

fn est(body: &str) -> Estimate {
    estimate(&stack(body), &Registry::aws(), prices::shipped().unwrap()).unwrap()
}

/// The refusal of pricing `body`.
fn refused(body: &str) -> CostError {
    estimate(&stack(body), &Registry::aws(), prices::shipped().unwrap()).unwrap_err()
}

fn stack(body: &str) -> crate::config::Stack {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack.toml");
    std::fs::write(&path, format!("{HEAD}{body}")).unwrap();
    let loaded =
        load(&path, &LoadOptions::default(), &Registry::aws()).unwrap_or_else(|(_, d)| panic!("load failed: {d:?}"));
    loaded.stack
}

/// The monthly figures of `addr`'s lines, by `what`.
fn monthly(e: &Estimate, addr: &str) -> Vec<(String, f64)> {
    e.lines
        .iter()
        .filter(|l| l.address == addr)
        .map(|l| match &l.price {
            Price::Priced { monthly, .. } => (l.what.clone(), *monthly),
            Price::Unpriced { reason } => panic!("{addr}: {} unpriced: {reason}", l.what),
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn assert_lines(got: Vec<(String, f64)>, want: &[(&str, f64)]) {
    assert_eq!(got.len(), want.len(), "{got:?}");
    for ((gw, gm), (ww, wm)) in got.iter().zip(want) {
        assert!(gw.contains(ww) && close(*gm, *wm), "got {gw} = {gm}, want {ww} = {wm}");
    }
}

fn aurora(region: &str, class: &str) -> String {
    format!(
        "[db_cluster.c]\nregion = \"{region}\"\ncluster_identifier = \"c\"\nengine = \"aurora-postgresql\"\n\
         master_username = \"u\"\nmanage_master_user_password = true\n\n\
         [db_cluster_instance.w]\nregion = \"{region}\"\nidentifier = \"w\"\ncluster_identifier = \"${{db_cluster.c.id}}\"\n\
         engine = \"aurora-postgresql\"\ninstance_class = \"{class}\"\n"
    )
}

#[test]
fn aurora_instances_by_hand_in_two_regions() {
    // us-east-1 db.r6g.xlarge Aurora Standard: $0.519/h x 730 h = $378.87.
    let e = est(&aurora("us-east-1", "db.r6g.xlarge"));
    assert_lines(monthly(&e, "db_cluster_instance.w"), &[("db.r6g.xlarge", 378.87)]);
    // Defaults: 100 GB x $0.10 = $10; 50 M I/O x $0.20 = $10; backups = storage: nothing
    // beyond the free allowance; the managed master secret $0.40.
    assert_lines(
        monthly(&e, "db_cluster.c"),
        &[("Aurora storage", 10.0), ("I/O", 10.0), ("backup", 0.0), ("master secret", 0.40)],
    );
    assert!(close(e.total(), 378.87 + 20.40), "{}", e.total());

    // us-west-2 db.t4g.medium Aurora Standard: $0.073/h x 730 h = $53.29.
    let e = est(&aurora("us-west-2", "db.t4g.medium"));
    assert_lines(monthly(&e, "db_cluster_instance.w"), &[("db.t4g.medium", 53.29)]);
    assert_eq!(e.sources.len(), 1);
    assert_eq!(e.sources[0].region, "us-west-2");
}

#[test]
fn aurora_io_optimized_prices_instance_and_storage_without_io() {
    // us-west-2 db.r6g.xlarge I/O-Optimized: $0.675/h x 730 = $492.75; storage 100 GB x $0.225 = $22.50.
    let src = aurora("us-west-2", "db.r6g.xlarge")
        .replace("[db_cluster.c]\n", "[db_cluster.c]\nstorage_type = \"aurora-iopt1\"\n");
    let e = est(&src);
    assert_lines(monthly(&e, "db_cluster_instance.w"), &[("db.r6g.xlarge", 492.75)]);
    assert_lines(
        monthly(&e, "db_cluster.c"),
        &[("I/O-Optimized storage", 22.5), ("backup", 0.0), ("master secret", 0.40)],
    );
}

fn rds(region: &str, class: &str, multi_az: bool, storage: &str) -> String {
    format!(
        "[db_instance.p]\nregion = \"{region}\"\nidentifier = \"p\"\nengine = \"postgres\"\ninstance_class = \"{class}\"\n\
         username = \"u\"\nmanage_master_user_password = true\nmulti_az = {multi_az}\n{storage}\n"
    )
}

#[test]
fn rds_instances_by_hand_in_two_regions() {
    // us-west-2 db.m6g.large Multi-AZ: $0.159/h x 2 x 730 = $232.14; gp3 500 GB x $0.115 x 2 = $115;
    // 15,000 IOPS - 12,000 included = 3,000 x $0.02 x 2 = $120; 600 - 500 MB/s = 100 x $0.08 x 2 = $16;
    // backups (default: 100 GB) are under the 500 GB free allowance.
    let e = est(&rds(
        "us-west-2",
        "db.m6g.large",
        true,
        "allocated_storage = 500\nstorage_type = \"gp3\"\niops = 15000\nstorage_throughput = 600",
    ));
    assert_lines(
        monthly(&e, "db_instance.p"),
        &[
            ("db.m6g.large instance, Multi-AZ", 232.14),
            ("gp3 storage, Multi-AZ", 115.0),
            ("gp3 IOPS", 120.0),
            ("gp3 throughput", 16.0),
            ("backup", 0.0),
            ("master secret", 0.40),
        ],
    );

    // us-east-1 db.r6g.large single-AZ: $0.225/h x 730 = $164.25; gp3 100 GB x $0.115 = $11.50,
    // 3,000 IOPS are included below 400 GB; [cost] backup_gb = 150: 50 GB x $0.095 = $4.75.
    let e = est(&format!(
        "[cost]\nbackup_gb = 150\n\n{}",
        rds("us-east-1", "db.r6g.large", false, "allocated_storage = 100\nstorage_type = \"gp3\"\niops = 3000")
    ));
    assert_lines(
        monthly(&e, "db_instance.p"),
        &[("db.r6g.large instance", 164.25), ("gp3 storage", 11.5), ("backup", 4.75), ("master secret", 0.40)],
    );
    let backup = e.assumptions.iter().find(|a| a.key == "backup_gb").unwrap();
    assert!(backup.from_stack && close(backup.value, 150.0));
    assert!(!e.assumptions.iter().find(|a| a.key == "data_gb").unwrap().from_stack);
}

#[test]
fn io1_prices_storage_and_provisioned_iops() {
    // us-east-1 io1 200 GB x $0.125 = $25; 5,000 IOPS x $0.10 = $500.
    let e =
        est(&rds("us-east-1", "db.r6g.large", false, "allocated_storage = 200\nstorage_type = \"io1\"\niops = 5000"));
    let lines = monthly(&e, "db_instance.p");
    assert!(lines.contains(&("io1 storage".to_owned(), 25.0)), "{lines:?}");
    assert!(lines.contains(&("io1 provisioned IOPS".to_owned(), 500.0)), "{lines:?}");
}

#[test]
fn an_unknown_class_or_region_is_unpriced_never_zero() {
    let e = est(&aurora("us-east-1", "db.x2g.large"));
    let line = e.lines.iter().find(|l| l.address == "db_cluster_instance.w").unwrap();
    match &line.price {
        Price::Unpriced { reason } => {
            assert!(reason.contains("db.x2g.large") && reason.contains("us-east-1"), "{reason}")
        }
        p => panic!("priced: {p:?}"),
    }
    assert_eq!(e.unpriced(), 1);
    assert!(close(e.total(), 20.40), "the unpriced instance adds nothing: {}", e.total());

    let e = est(&aurora("eu-west-3", "db.r6g.large"));
    assert_eq!(e.unpriced(), 2, "{:?}", e.lines);
    assert!(e.lines.iter().all(|l| matches!(&l.price, Price::Unpriced { reason } if reason.contains("eu-west-3"))));
    assert!(e.sources.is_empty());
}

#[test]
fn small_items_and_free_resources() {
    let e = est(
        "[kms_key.k]\ndescription = \"k\"\n\n[kms_key.fixed]\nenable_key_rotation = false\n\n[secret.s]\nname = \"s\"\n\n[vpc.v]\ncidr_block = \"10.0.0.0/16\"\n\n\
         [subnet.a]\nfor_each = { a = \"10.0.1.0/24\", b = \"10.0.2.0/24\" }\nvpc_id = \"${vpc.v.id}\"\n\
         cidr_block = \"${each.value}\"\navailability_zone = \"us-east-1${each.key}\"\n\n\
         [vpc_endpoint.kms]\nvpc_id = \"${vpc.v.id}\"\nservice_name = \"kms\"\nvpc_endpoint_type = \"Interface\"\n\
         subnet_ids = \"${subnet.a[*].id}\"\n",
    );
    // Rotation on (the default): the first two rotated versions are billed like keys.
    assert_lines(monthly(&e, "kms_key.k"), &[("KMS key", 1.0), ("KMS key rotation", 2.0)]);
    assert_lines(monthly(&e, "kms_key.fixed"), &[("KMS key", 1.0)]);
    assert_lines(monthly(&e, "secret.s"), &[("secret", 0.40)]);
    // 2 AZs x 730 h x $0.01 = $14.60.
    assert_lines(monthly(&e, "vpc_endpoint.kms"), &[("kms in 2 AZs", 14.6)]);
    assert_eq!(e.no_charge, 3, "the VPC and two subnets");
}

#[test]
fn the_prod_stack_prices_every_line() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/prod.toml");
    let opts = LoadOptions {
        vars: vec![("rotation_lambda_arn".into(), "arn:aws:lambda:us-east-1:123456789012:function:rot".into())],
        ..LoadOptions::default()
    };
    let loaded = load(&path, &opts, &Registry::aws()).unwrap_or_else(|(_, d)| panic!("{d:?}"));
    let e = estimate(&loaded.stack, &Registry::aws(), prices::shipped().unwrap()).unwrap();
    assert_eq!(e.unpriced(), 0, "{:?}", e.lines);
    let instances = |class: &str| e.lines.iter().filter(|l| l.what.contains(class)).count();
    assert_eq!(instances("db.r6g.xlarge"), 2, "the writer and the sync reader");
    assert_eq!(instances("db.r6g.large "), 1, "the async reader (S3 §4.1)");
    assert!(e.lines.iter().any(|l| l.what.contains("in STANDARD_IA") && l.region == "us-west-2"));
    assert!(e.lines.iter().any(|l| l.what == "cross-region replication transfer"));
    assert_eq!(e.sources.len(), 2);
}

#[test]
fn before_and_after_a_plan_price_each_side_from_its_values() {
    let st = stack(&aurora("us-east-1", "db.r6g.xlarge"));
    let (cluster, writer) = (ResourceAddr::new("db_cluster", "c"), ResourceAddr::new("db_cluster_instance", "w"));
    let now: Attrs = [("instance_class".to_owned(), Value::str("db.r6g.large"))].into();
    let after: Attrs =
        [("instance_class".to_owned(), Value::str("db.r6g.xlarge")), ("id".to_owned(), Value::Unknown)].into();
    let empty = Attrs::new();
    let changes = [
        // The writer exists as db.r6g.large and becomes db.r6g.xlarge; the cluster is new.
        Change { addr: &writer, region: "us-east-1", before: Some(&now), after: Some(&after) },
        Change { addr: &cluster, region: "us-east-1", before: None, after: Some(&empty) },
    ];
    let (b, a) = before_after(&st, &Registry::aws(), &changes, prices::shipped().unwrap()).unwrap();
    // Before: $0.26 x 730 = $189.80, alone. After: $0.519 x 730 = $378.87 and the cluster's $20.40.
    assert!(close(b.total(), 189.8), "{:?}", b.lines);
    assert!(close(a.total(), 378.87 + 20.40), "{:?}", a.lines);
}

#[test]
fn amounts_are_whole_cents_and_the_total_is_their_sum() {
    // 333.333 GB x $0.0036 = $1.1999988 archived; 123.456 GB x $0.10 = $12.3456 of storage.
    let e = est(&format!(
        "[cost]\ndata_gb = 123.456\ns3_archive_gb = 333.333\nio_requests_millions = 0.015\n\n{}\n\
         [s3_bucket.b]\nbucket = \"b-1\"\nlifecycle_rule = [{{ id = \"a\", enabled = true, transition = [{{ days = 30, storage_class = \"GLACIER\" }}] }}]\n",
        aurora("us-east-1", "db.t4g.medium")
    ));
    let mut sum = 0;
    for l in &e.lines {
        let Price::Priced { monthly, .. } = l.price else { continue };
        let cents = monthly * 100.0;
        assert_eq!(cents, cents.round(), "{} {}: {monthly} is not whole cents", l.address, l.what);
        sum += cents as i64;
    }
    assert_eq!(e.total_cents(), sum, "the total is the sum of the lines as shown");
    assert_lines(monthly(&e, "db_cluster.c")[..2].to_vec(), &[("Aurora storage", 12.35), ("I/O", 0.0)]);
    assert!(
        e.lines.iter().any(|l| l.what.contains("GLACIER")
            && l.price
                == Price::Priced { quantity: 333.333, unit: "GB-months".into(), unit_price: 0.0036, monthly: 1.2 }),
        "{:?}",
        e.lines
    );
}

#[test]
fn usage_figures_beyond_the_maximum_are_refused_naming_the_key() {
    assert!(est("[cost]\ndata_gb = 1e12\n").assumptions.iter().any(|a| a.key == "data_gb" && a.value == MAX_USAGE));
    for (body, key) in
        [("[cost]\ndata_gb = 1e308\n", "data_gb"), ("[cost]\nreplicated_gb = 1000000000001\n", "replicated_gb")]
    {
        let e = refused(body);
        assert!(matches!(&e, CostError::Usage { key: k, .. } if *k == key), "{e}");
        let shown = e.to_string();
        assert!(shown.starts_with(&format!("`{key}` in [cost] is ")), "{shown}");
        assert!(shown.contains("more than 1000000000000, the largest usage figure pgstack prices"), "{shown}");
        assert!(!shown.contains("inf") && !shown.contains("NaN"), "{shown}");
    }
}

#[test]
fn a_total_beyond_the_maximum_is_refused_naming_the_largest_line() {
    // 1e12 million I/O requests x $0.20 = $200,000,000,000 per cluster: five come to
    // exactly the most pgstack prices, six are beyond it.
    let clusters = "[db_cluster.c]\nfor_each = { a = 1, b = 2, c = 3, d = 4, e = 5, f = 6 }\n\
                    cluster_identifier = \"c-${each.key}\"\nengine = \"aurora-postgresql\"\nmaster_username = \"u\"\n";
    let usage = "[cost]\nio_requests_millions = 1e12\ndata_gb = 0\n\n";
    let e = est(&format!("{usage}{}", clusters.replace(", f = 6", "")));
    assert_eq!(e.total_cents(), MAX_MONTHLY_CENTS);
    let e = refused(&format!("{usage}{clusters}"));
    assert!(matches!(&e, CostError::Total { lines: 17, .. }), "five clusters' 15 lines, then f's storage and I/O: {e}");
    let shown = e.to_string();
    assert!(shown.starts_with("the total passes $1,000,000,000,000.00 a month, the most pgstack prices"), "{shown}");
    assert!(shown.contains("the largest is db_cluster.c[\"a\"]: Aurora I/O requests"), "{shown}");
}

#[test]
fn a_line_beyond_the_maximum_is_refused_naming_it() {
    // Values AWS (or a hand-edited state) holds are priced on plan's "before" side.
    let st = stack(&rds("us-east-1", "db.r6g.large", false, "allocated_storage = 100"));
    let addr = ResourceAddr::new("db_instance", "p");
    for huge in [Value::Float(1e308), Value::Float(f64::MAX), Value::Int(i64::MAX), Value::Float(-5.0)] {
        let now: Attrs = [("allocated_storage".to_owned(), huge.clone())].into();
        let changes = [Change { addr: &addr, region: "us-east-1", before: Some(&now), after: None }];
        let e = before_after(&st, &Registry::aws(), &changes, prices::shipped().unwrap()).unwrap_err();
        assert!(matches!(&e, CostError::Line { address, .. } if address == "db_instance.p"), "{huge:?}: {e}");
        let shown = e.to_string();
        assert!(shown.starts_with("db_instance.p: gp2 storage does not come to an amount pgstack prices"), "{shown}");
        assert!(!shown.contains("inf") && !shown.contains("NaN"), "{shown}");
    }
}

#[test]
fn a_log_group_is_priced_by_the_logs_it_takes_and_keeps() {
    let st = stack(
        "[cloudwatch_log_group.year]\nname = \"/a\"\nretention_in_days = 365\n\n\
         [cloudwatch_log_group.forever]\nname = \"/b\"\n\n[cost]\nlog_gb = 10\n",
    );
    let e = estimate(&st, &Registry::aws(), prices::shipped().unwrap()).unwrap();
    // 10 GB a month at $0.50; kept a year: 12 months of them at $0.03.
    assert_lines(monthly(&e, "cloudwatch_log_group.year"), &[("ingestion", 5.0), ("storage (kept 365 days)", 3.6)]);
    // Kept forever: priced a year in.
    assert_lines(monthly(&e, "cloudwatch_log_group.forever"), &[("ingestion", 5.0), ("storage (kept forever", 3.6)]);
}
