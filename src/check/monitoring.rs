//! Logs, monitoring, maintenance and the seeds' alarms (seeds S0, S3 §4.2,
//! §6.1).
//!
//! An alarm belongs to a database when its `DBClusterIdentifier` or
//! `DBInstanceIdentifier` dimension names the database or one of its
//! instances (a reference, or the literal identifier); an alarm without
//! dimensions watches every database. An alarm whose dimensions are known
//! only at apply might watch any database, so a missing alarm is then not
//! reported.

use crate::config::ResourceConfig;
use crate::diag::Severity::Warning;

use super::security::bool_is;
use super::sizing::memory_mib;
use super::view::{Attr, Cx, Node, ParamAt};
use super::{Judge, Rule};

pub const LOG_EXPORTS: Rule = Rule {
    id: "PG-LOG-001",
    severity: Warning,
    standard_only: false,
    seed: "S3 §4.2",
    title: "PostgreSQL logs are exported to CloudWatch Logs",
    fix: "set `enabled_cloudwatch_logs_exports = [\"postgresql\"]`",
    check: |cx, j| {
        for db in cx.databases() {
            let exports = match cx.attr(db, "enabled_cloudwatch_logs_exports") {
                Attr::Unknown(_) => continue,
                Attr::Known(v) => v.string_list(),
                Attr::Unset => Vec::new(),
            };
            j.expect(exports.iter().any(|e| e == "postgresql"), || {
                cx.finding(
                    db,
                    Some("enabled_cloudwatch_logs_exports"),
                    format!("{} does not export its PostgreSQL log to CloudWatch Logs", db.addr),
                )
            });
        }
    },
};

pub const SLOW_QUERY_LOG: Rule = Rule {
    id: "PG-LOG-002",
    severity: Warning,
    standard_only: false,
    seed: "S3 §4.2",
    title: "Slow queries are logged (`log_min_duration_statement` set, not -1)",
    fix: "set `log_min_duration_statement = 1000` (milliseconds) in the parameter group",
    check: |cx, j| {
        for owner in cx.group_owners() {
            // Aurora instances may set it in their own group too.
            let mut groups = vec![owner];
            groups.extend(cx.instances(owner).into_iter().filter(|i| i.addr.rtype == "db_cluster_instance"));
            let mut result = None;
            for g in groups {
                match cx.parameter_for(g, "log_min_duration_statement") {
                    Err(_) => return,
                    Ok(ParamAt::Set(group, v)) => result = Some(Some((group, v))),
                    Ok(ParamAt::Unset(_)) => {
                        result.get_or_insert(None);
                    }
                }
            }
            match result.flatten() {
                Some((group, v)) => match v.as_f64() {
                    None => {}
                    Some(ms) => j.expect(ms >= 0.0, || {
                        cx.finding(
                            group,
                            Some("parameters.log_min_duration_statement"),
                            format!(
                                "slow queries of {} are not logged: `log_min_duration_statement` is {ms}",
                                owner.addr
                            ),
                        )
                    }),
                },
                None => j.fail(cx.finding(
                    owner,
                    None,
                    format!(
                        "slow queries of {} are not logged: no parameter group sets `log_min_duration_statement`",
                        owner.addr
                    ),
                )),
            }
        }
    },
};

pub const ENHANCED_MONITORING: Rule = Rule {
    id: "PG-MON-001",
    severity: Warning,
    standard_only: true,
    seed: "S3 §6.1",
    title: "Enhanced Monitoring (OS metrics) is on",
    fix: "set `monitoring_interval` (e.g. 60) and `monitoring_role_arn` (an `iam_role` for monitoring.rds.amazonaws.com) on each instance",
    check: |cx, j| {
        for i in cx.db_instances() {
            let interval = match cx.attr(i, "monitoring_interval") {
                Attr::Unknown(_) => continue,
                a => a.as_f64().unwrap_or(0.0),
            };
            j.expect(interval > 0.0, || {
                cx.finding(i, Some("monitoring_interval"), format!("{} has no Enhanced Monitoring", i.addr))
            });
        }
    },
};

pub const PERFORMANCE_INSIGHTS: Rule = Rule {
    id: "PG-MON-002",
    severity: Warning,
    standard_only: true,
    seed: "S3 §6.1",
    title: "Performance Insights (query latency, waits) is on",
    fix: "set `performance_insights_enabled = true` on each instance",
    check: |cx, j| {
        for i in cx.db_instances() {
            bool_is(cx, j, i, "performance_insights_enabled", true, "Performance Insights is off");
        }
    },
};

pub const MINOR_UPGRADES: Rule = Rule {
    id: "PG-MNT-001",
    severity: Warning,
    standard_only: false,
    seed: "S0 (zero-downtime changes in the maintenance window)",
    title: "Minor engine upgrades are applied automatically in the maintenance window",
    fix: "set `auto_minor_version_upgrade = true` (the default)",
    check: |cx, j| {
        for i in cx.db_instances() {
            bool_is(cx, j, i, "auto_minor_version_upgrade", true, "minor version upgrades are not applied");
        }
    },
};

pub const ALARM_CONNECTIONS: Rule = Rule {
    id: "PG-ALM-001",
    severity: Warning,
    standard_only: false,
    seed: "S0 (connections over 80% of max_connections)",
    title: "An alarm fires when connections pass 80% of max_connections",
    fix: "add a `cloudwatch_alarm` on AWS/RDS DatabaseConnections, GreaterThanThreshold, at 80% of max_connections or less, with `alarm_actions` (modules/alarms)",
    check: |cx, j| {
        for db in cx.databases() {
            let limit = max_connections(cx, db).map(|m| m * 0.8);
            let want = Want {
                metrics: &["DatabaseConnections"],
                above: true,
                ok: &|t| limit.is_none_or(|l| t <= l),
                level: limit.map(|l| format!("{l:.0} (80% of max_connections) or less")),
            };
            alarm(cx, j, db, &want);
        }
    },
};

pub const ALARM_REPLICA_LAG: Rule = Rule {
    id: "PG-ALM-002",
    severity: Warning,
    standard_only: false,
    seed: "S3 §6.1 (replication lag 1 s warning, 5 s critical)",
    title: "An alarm fires when replica lag passes 1 second",
    fix: "add a `cloudwatch_alarm` on AuroraReplicaLagMaximum (ms, Aurora) or ReplicaLag (s, RDS) at 1 second or less, with `alarm_actions`",
    check: |cx, j| {
        for db in cx.databases() {
            if cx.instances(db).len() < 2 {
                continue;
            }
            let want = if db.addr.rtype == "db_cluster" {
                Want {
                    metrics: &["AuroraReplicaLag", "AuroraReplicaLagMaximum"],
                    above: true,
                    ok: &|t| t <= 1000.0,
                    level: Some("1000 ms or less".into()),
                }
            } else {
                Want {
                    metrics: &["ReplicaLag"],
                    above: true,
                    ok: &|t| t <= 1.0,
                    level: Some("1 second or less".into()),
                }
            };
            alarm(cx, j, db, &want);
        }
    },
};

pub const ALARM_CPU: Rule = Rule {
    id: "PG-ALM-003",
    severity: Warning,
    standard_only: false,
    seed: "S3 §6.1 (CPU 70% warning, 85% critical)",
    title: "An alarm fires when CPU passes 70%",
    fix: "add a `cloudwatch_alarm` on AWS/RDS CPUUtilization, GreaterThanThreshold 70 or less, with `alarm_actions`",
    check: |cx, j| {
        for db in cx.databases() {
            let want = Want {
                metrics: &["CPUUtilization"],
                above: true,
                ok: &|t| t <= 70.0,
                level: Some("70 or less".into()),
            };
            alarm(cx, j, db, &want);
        }
    },
};

pub const ALARM_MEMORY: Rule = Rule {
    id: "PG-ALM-004",
    severity: Warning,
    standard_only: false,
    seed: "S3 §6.1 (memory 80% used warning, 90% critical)",
    title: "An alarm fires when freeable memory drops under 20% of the instance class's RAM",
    fix: "add a `cloudwatch_alarm` on AWS/RDS FreeableMemory, LessThanThreshold at 20% of the class's RAM in bytes or more, with `alarm_actions`",
    check: |cx, j| {
        for db in cx.databases() {
            // The biggest instance: a threshold at 20% of its RAM is at least 20% of every other's.
            let classes = cx.instances(db).into_iter().map(|i| cx.attr(i, "instance_class"));
            let mem: Option<f64> = classes
                .map(|c| c.as_str().and_then(memory_mib))
                .collect::<Option<Vec<_>>>()
                .and_then(|m| m.into_iter().max())
                .map(|mib| mib as f64 * 1_048_576.0);
            let floor = mem.map(|m| m * 0.2);
            let want = Want {
                metrics: &["FreeableMemory"],
                above: false,
                // A rounding byte short of 20% is still 20%.
                ok: &|t| floor.is_none_or(|f| t >= f * 0.999),
                level: floor.map(|f| format!("{f:.0} bytes (20% of the RAM) or more")),
            };
            alarm(cx, j, db, &want);
        }
    },
};

pub const ALARM_STORAGE: Rule = Rule {
    id: "PG-ALM-005",
    severity: Warning,
    standard_only: false,
    seed: "S3 §6.1 (disk usage 70% warning, 85% critical)",
    title: "An alarm fires when free storage runs low (FreeLocalStorage on Aurora, FreeStorageSpace on RDS: under 15%)",
    fix: "add a `cloudwatch_alarm` on the free storage metric with LessThanThreshold and `alarm_actions`",
    check: |cx, j| {
        for db in cx.databases() {
            if db.addr.rtype == "db_cluster" {
                let want = Want {
                    metrics: &["FreeLocalStorage"],
                    above: false,
                    ok: &|t| t > 0.0,
                    level: Some("above 0".into()),
                };
                alarm(cx, j, db, &want);
                continue;
            }
            let floor = cx.attr(db, "allocated_storage").as_f64().map(|gib| gib * 1_073_741_824.0 * 0.15);
            let want = Want {
                metrics: &["FreeStorageSpace"],
                above: false,
                ok: &|t| t > 0.0 && floor.is_none_or(|f| t >= f * 0.999),
                level: Some(
                    floor.map_or("above 0".to_owned(), |f| format!("{f:.0} bytes (15% of allocated_storage) or more")),
                ),
            };
            alarm(cx, j, db, &want);
        }
    },
};

/// `max_connections` of the database's instances, when one is known.
pub fn max_connections(cx: &Cx, db: &ResourceConfig) -> Option<f64> {
    cx.instances(db).into_iter().find_map(|i| match cx.parameter_for(i, "max_connections") {
        Ok(ParamAt::Set(_, v)) => v.as_f64(),
        _ => None,
    })
}

/// The alarm a rule wants on a database.
struct Want<'f> {
    metrics: &'static [&'static str],
    /// `GreaterThan...` (true) or `LessThan...` (false).
    above: bool,
    /// Whether a known threshold alerts early enough.
    ok: &'f dyn Fn(f64) -> bool,
    /// The threshold wanted, for messages (`None`: any).
    level: Option<String>,
}

/// Whether an alarm's dimensions point at the database: `Some(true)` yes,
/// `Some(false)` no, `None` known only at apply.
fn watches(cx: &Cx, alarm: &ResourceConfig, db: &ResourceConfig) -> Option<bool> {
    let Some(dims) = cx.node(alarm, "dimensions") else { return Some(true) };
    let mut any = false;
    for (dim, types) in [
        ("DBClusterIdentifier", &["db_cluster"][..]),
        ("DBInstanceIdentifier", &["db_instance", "db_cluster_instance"][..]),
    ] {
        let Some(v) = dims.field(dim) else { continue };
        any = true;
        match cx.target(v, types) {
            Err(_) => return None,
            Ok(Some(rc)) if rc.addr == db.addr || cx.instances(db).iter().any(|i| i.addr == rc.addr) => {
                return Some(true);
            }
            Ok(_) => {}
        }
    }
    // Dimensions of other kinds (or none known) but a value for neither: not a database alarm.
    if !any && !dims.is_known() { None } else { Some(false) }
}

/// Judges that `db` has an alarm as `want` says, that notifies someone.
fn alarm(cx: &Cx, j: &mut Judge, db: &ResourceConfig, want: &Want) {
    let mut candidates = Vec::new();
    for a in cx.all("cloudwatch_alarm") {
        let metric = cx.attr(a, "metric_name");
        let namespace = cx.attr(a, "namespace");
        if metric.is_unknown() || namespace.is_unknown() {
            return;
        }
        if namespace.as_str() != Some("AWS/RDS") || !metric.as_str().is_some_and(|m| want.metrics.contains(&m)) {
            continue;
        }
        match watches(cx, a, db) {
            None => return,
            Some(true) => candidates.push(a),
            Some(false) => {}
        }
    }
    let mut problem = None;
    for a in &candidates {
        match alarm_problem(cx, a, want) {
            None => return j.pass(),
            Some(p) => {
                problem.get_or_insert(p);
            }
        }
    }
    j.fail(match problem {
        Some((a, attr, why)) => cx.finding(a, Some(attr), format!("{} on {}: {why}", a.addr, db.addr)),
        None => {
            let level = want.level.as_ref().map(|l| format!(" (threshold {l})")).unwrap_or_default();
            cx.finding(db, None, format!("no CloudWatch alarm on {} for {}{level}", want.metrics.join(" or "), db.addr))
        }
    });
}

/// Why an alarm does not do what `want` says: (alarm, attribute, reason).
fn alarm_problem<'a>(
    cx: &Cx,
    a: &'a ResourceConfig,
    want: &Want,
) -> Option<(&'a ResourceConfig, &'static str, String)> {
    if let Some(op) = cx.attr(a, "comparison_operator").as_str()
        && op.starts_with("GreaterThan") != want.above
    {
        let dir = if want.above { "GreaterThan" } else { "LessThan" };
        return Some((a, "comparison_operator", format!("`{op}` alarms the wrong way; use {dir}Threshold")));
    }
    if let Some(t) = cx.attr(a, "threshold").as_f64()
        && !(want.ok)(t)
    {
        let level = want.level.as_deref().unwrap_or_default();
        return Some((a, "threshold", format!("threshold {t} alarms too late; the seeds want {level}")));
    }
    if cx.attr(a, "actions_enabled").as_bool() == Some(false) {
        return Some((a, "actions_enabled", "its actions are disabled: nobody is notified".into()));
    }
    let actions = cx.node(a, "alarm_actions").and_then(Node::items);
    if actions.is_some_and(|l| l.is_empty()) || !a.attrs.contains_key("alarm_actions") {
        return Some((a, "alarm_actions", "it has no `alarm_actions`: nobody is notified".into()));
    }
    None
}
