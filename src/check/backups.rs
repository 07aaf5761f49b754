//! Backups and their buckets, availability, and protection against data loss
//! (seeds S3 §3.1, §4.3, §7.1; docs/stacks.md "No data loss on destroy").
//!
//! Every `s3_bucket` of a stack is taken to hold backups: pgstack stacks
//! provision PostgreSQL and what it needs.

use std::collections::BTreeSet;

use crate::config::{Profile, ResourceConfig};
use crate::diag::Severity::{Error, Warning};

use super::security::{bool_is, customer_key};
use super::view::{Attr, Cx, Node, Unresolved};
use super::{Judge, Rule};

pub const RETENTION: Rule = Rule {
    id: "PG-BAK-001",
    severity: Error,
    standard_only: false,
    seed: "S3 §7.1",
    title: "Automated backups are kept 35 days (standard) or 7 days (lite)",
    fix: "set `backup_retention_period` to the profile's days or more (35 is the most RDS keeps)",
    check: |cx, j| {
        let want = retention_days(cx.profile);
        for db in cx.databases() {
            let Some(days) = cx.attr(db, "backup_retention_period").as_f64() else { continue };
            j.expect(days >= want, || {
                cx.finding(
                    db,
                    Some("backup_retention_period"),
                    format!("{} keeps backups {days} days; the {} profile needs {want}", db.addr, cx.profile.name()),
                )
            });
        }
    },
};

pub const CROSS_REGION_COPY: Rule = Rule {
    id: "PG-BAK-002",
    severity: Error,
    standard_only: true,
    seed: "S3 §7.1",
    title: "The database's backups are copied to another region",
    fix: "select the database in an AWS Backup plan (`backup_selection`) whose rule copies to a vault of another region (`copy_to`; modules/backups with `aws_backup = true`); replicating a bucket copies no database backup",
    check: |cx, j| {
        for db in cx.databases() {
            match copied_out_of_region(cx, db) {
                Ok(true) | Err(Unresolved) => j.pass(),
                Ok(false) => j.fail(cx.finding(
                    db,
                    None,
                    format!(
                        "no backup of {} leaves {}: no backup_selection of it on a backup_plan that copies to a vault of another region",
                        db.addr, db.region
                    ),
                )),
            }
        }
    },
};

/// Whether a backup plan that selects `db` copies its recovery points to a
/// vault of another region than the plan's; `Err` when a value that
/// decides it is known only at apply.
fn copied_out_of_region(cx: &Cx<'_>, db: &ResourceConfig) -> Result<bool, Unresolved> {
    let mut unknown = false;
    for selection in cx.all("backup_selection") {
        let Some(resources) = cx.node(selection, "resources") else { continue };
        let selects = cx.targets(resources, &[db.addr.rtype.as_str()]).iter().any(|t| t.addr == db.addr);
        if !selects {
            unknown |=
                resources.items().is_none_or(|items| items.iter().any(|i| !i.is_known() && i.reference().is_none()));
            continue;
        }
        let plan = match cx.linked(selection, "plan_id", &["backup_plan"]) {
            Ok(Some(plan)) => plan,
            Ok(None) => continue,
            Err(u) => return Err(u),
        };
        for rule in cx.node(plan, "rules").and_then(Node::items).unwrap_or_default() {
            for copy in rule.field("copy_to").and_then(Node::items).unwrap_or_default() {
                match copy.field("destination_vault_arn").map(|d| cx.target(d, &["backup_vault"])) {
                    Some(Ok(Some(vault))) if vault.region != plan.region => return Ok(true),
                    Some(Err(_)) => unknown = true,
                    _ => {}
                }
            }
        }
    }
    if unknown { Err(Unresolved) } else { Ok(false) }
}

pub const BUCKET_RETENTION: Rule = Rule {
    id: "PG-BAK-003",
    severity: Error,
    standard_only: false,
    seed: "S3 §7.1",
    title: "Backup buckets keep objects 90 days in the cross-region copy, the profile's retention (35 / 7 days) elsewhere",
    fix: "raise the lifecycle rule's `expiration.days` (or drop the expiration)",
    check: |cx, j| {
        let destinations = replication_destinations(cx);
        for bucket in cx.all("s3_bucket") {
            let (want, role) = if destinations.contains(&bucket.addr.to_string()) {
                (90.0, "the cross-region copy")
            } else {
                (retention_days(cx.profile), "a backup bucket")
            };
            let Some(rules) = cx.node(bucket, "lifecycle_rule").and_then(Node::items) else {
                j.pass();
                continue;
            };
            for (i, rule) in rules.iter().enumerate() {
                if rule.field("enabled").and_then(Node::as_bool) == Some(false) {
                    continue;
                }
                let Some(days) = rule.field("expiration").and_then(|e| e.field("days")).and_then(Node::as_f64) else {
                    continue;
                };
                j.expect(days >= want, || {
                    cx.finding(
                        bucket,
                        Some(&format!("lifecycle_rule[{i}].expiration.days")),
                        format!(
                            "{} is {role} and deletes objects after {days} days; keep them {want} days or more",
                            bucket.addr
                        ),
                    )
                });
            }
        }
    },
};

pub const BUCKET_VERSIONING: Rule = Rule {
    id: "PG-BAK-004",
    severity: Error,
    standard_only: false,
    seed: "S3 §7.1",
    title: "Backup buckets are versioned",
    fix: "set `versioning = true` on the bucket",
    check: |cx, j| {
        for b in cx.all("s3_bucket") {
            bool_is(cx, j, b, "versioning", true, "versioning is off");
        }
    },
};

pub const BUCKET_SSE_KMS: Rule = Rule {
    id: "PG-BAK-005",
    severity: Error,
    standard_only: false,
    seed: "S3 §5.1, §7.1",
    title: "Backup buckets encrypt with SSE-KMS under a customer-managed key",
    fix: "set `kms_key_id` on the bucket to a `kms_key` (or `kms_replica_key`) of the stack",
    check: |cx, j| {
        for b in cx.all("s3_bucket") {
            customer_key(cx, j, b, "kms_key_id", "the objects");
        }
    },
};

pub const BUCKET_PUBLIC_ACCESS: Rule = Rule {
    id: "PG-BAK-006",
    severity: Error,
    standard_only: false,
    seed: "S3 §5.5, §7.1",
    title: "Backup buckets block all public access",
    fix: "set `block_public_access = true` (the default)",
    check: |cx, j| {
        for b in cx.all("s3_bucket") {
            bool_is(cx, j, b, "block_public_access", true, "public access is not blocked");
        }
    },
};

pub const BUCKET_TLS_ONLY: Rule = Rule {
    id: "PG-BAK-007",
    severity: Error,
    standard_only: false,
    seed: "S3 §5.2, §7.1",
    title: "Backup buckets refuse requests without TLS",
    fix: "set `tls_only = true` on the bucket",
    check: |cx, j| {
        for b in cx.all("s3_bucket") {
            bool_is(cx, j, b, "tls_only", true, "requests without TLS are allowed");
        }
    },
};

pub const COPY_TAGS: Rule = Rule {
    id: "PG-BAK-008",
    severity: Warning,
    standard_only: false,
    seed: "docs/stacks.md: no data loss on destroy",
    title: "Snapshots get the database's tags (ownership and cost allocation)",
    fix: "set `copy_tags_to_snapshot = true` (the default)",
    check: |cx, j| {
        for db in cx.databases() {
            bool_is(cx, j, db, "copy_tags_to_snapshot", true, "snapshots do not get the database's tags");
        }
    },
};

pub const HIGH_AVAILABILITY: Rule = Rule {
    id: "PG-HA-001",
    severity: Error,
    standard_only: true,
    seed: "S3 §3.1, §4.3",
    title: "A writer and readers across three availability zones (Aurora), or Multi-AZ with a read replica (RDS)",
    fix: "Aurora: add readers so that the writer and readers sit in three zones; RDS: `multi_az = true` and a replica (`replicate_source_db`)",
    check: |cx, j| {
        for db in cx.databases() {
            if db.addr.rtype == "db_cluster" {
                cluster_spread(cx, j, db);
                continue;
            }
            match cx.attr(db, "multi_az") {
                Attr::Unknown(_) => continue,
                a if a.as_bool() != Some(true) => {
                    j.fail(cx.finding(
                        db,
                        Some("multi_az"),
                        format!("{} has no synchronous standby: `multi_az` is off", db.addr),
                    ));
                    continue;
                }
                _ => {}
            }
            j.expect(!cx.replicas(db).is_empty(), || {
                cx.finding(
                    db,
                    None,
                    format!("{} has no read replica (a `db_instance` with `replicate_source_db`)", db.addr),
                )
            });
        }
    },
};

pub const SUBNET_ZONES: Rule = Rule {
    id: "PG-HA-002",
    severity: Error,
    standard_only: false,
    seed: "S3 §3.1, §4.3",
    title: "The database's subnet group spans three availability zones (standard) or two (lite)",
    fix: "add subnets in more availability zones to the DB subnet group (modules/network: one per entry of `azs`)",
    check: |cx, j| {
        let want = match cx.profile {
            Profile::Standard => 3,
            Profile::Lite => 2,
        };
        let mut seen = BTreeSet::new();
        for db in cx.group_owners() {
            let Ok(Some(group)) = cx.linked(db, "db_subnet_group_name", &["db_subnet_group"]) else { continue };
            if !seen.insert(group.addr.clone()) {
                continue;
            }
            let Some(ids) = cx.node(group, "subnet_ids") else { continue };
            let mut zones = BTreeSet::new();
            for subnet in cx.targets(ids, &["subnet"]) {
                match cx.attr(subnet, "availability_zone").as_str() {
                    Some(z) => zones.insert(z.to_owned()),
                    // A zone AWS picks, or one known only at apply: not judged.
                    None => return,
                };
            }
            if zones.is_empty() {
                continue;
            }
            j.expect(zones.len() >= want, || {
                cx.finding(
                    group,
                    Some("subnet_ids"),
                    format!(
                        "the subnets of {} are in {} availability zone{} ({}); the {} profile needs {want}",
                        group.addr,
                        zones.len(),
                        if zones.len() == 1 { "" } else { "s" },
                        zones.iter().cloned().collect::<Vec<_>>().join(", "),
                        cx.profile.name()
                    ),
                )
            });
        }
    },
};

pub const DELETION_PROTECTION: Rule = Rule {
    id: "PG-DEL-001",
    severity: Error,
    standard_only: true,
    seed: "docs/stacks.md: no data loss on destroy",
    title: "Deletion protection is on in production",
    fix: "set `deletion_protection = true` (the default)",
    check: |cx, j| {
        for db in cx.databases() {
            bool_is(cx, j, db, "deletion_protection", true, "deletion protection is off");
        }
    },
};

pub const FINAL_SNAPSHOT: Rule = Rule {
    id: "PG-DEL-002",
    severity: Error,
    standard_only: true,
    seed: "docs/stacks.md: no data loss on destroy",
    title: "Deleting a production database takes a final snapshot",
    fix: "set `skip_final_snapshot = false` (the default)",
    check: |cx, j| {
        for db in cx.databases() {
            bool_is(cx, j, db, "skip_final_snapshot", false, "no final snapshot is taken on delete");
        }
    },
};

/// The backup retention the profile wants, in days.
fn retention_days(profile: Profile) -> f64 {
    match profile {
        Profile::Standard => 35.0,
        Profile::Lite => 7.0,
    }
}

/// Addresses of the buckets some enabled replication rule copies into.
fn replication_destinations(cx: &Cx) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for rep in cx.all("s3_bucket_replication") {
        for rule in cx.node(rep, "rule").and_then(Node::items).unwrap_or_default() {
            if let Some(Ok(Some(b))) =
                rule.field("destination").and_then(|d| d.field("bucket")).map(|d| cx.target(d, &["s3_bucket"]))
            {
                out.insert(b.addr.to_string());
            }
        }
    }
    out
}

/// Judges that an Aurora cluster has at least three instances in three zones.
fn cluster_spread(cx: &Cx, j: &mut Judge, cluster: &ResourceConfig) {
    let members = cx.instances(cluster);
    if members.len() < 3 {
        let n = members.len();
        return j.fail(cx.finding(
            cluster,
            None,
            format!(
                "{} has {n} instance{}: the standard profile needs a writer and readers in three availability zones",
                cluster.addr,
                if n == 1 { "" } else { "s" }
            ),
        ));
    }
    let mut zones = BTreeSet::new();
    // The first instance in a zone another one already uses.
    let mut doubled = None;
    for m in &members {
        match cx.attr(m, "availability_zone").as_str() {
            Some(z) => {
                if !zones.insert(z.to_owned()) {
                    doubled.get_or_insert(*m);
                }
            }
            // A zone AWS picks, or one known only at apply: not judged.
            None => return,
        }
    }
    j.expect(zones.len() >= 3, || {
        cx.finding(
            doubled.unwrap_or(cluster),
            Some("availability_zone"),
            format!(
                "the instances of {} use {} availability zone{} ({}); the standard profile needs three",
                cluster.addr,
                zones.len(),
                if zones.len() == 1 { "" } else { "s" },
                zones.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        )
    });
}
