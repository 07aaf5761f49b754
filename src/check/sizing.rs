//! Parameter values against the seeds' sizing formulas (S0 BR-2, S0/S1/S3
//! §4.2).
//!
//! `max_connections` is judged against the stack's variables `app_replicas`,
//! `conns_per_pod` and `reserved` (or `reserved_connections`), the names the
//! shipped stacks use; a stack without all three is not judged.
//! `shared_buffers` is judged against the RAM of the instance class
//! (`instance_memory_mib`).

use crate::config::ResourceConfig;
use crate::config::functions;
use crate::diag::Severity::Warning;
use crate::value::Value;

use super::view::{Cx, Node, ParamAt};
use super::{Judge, Rule};

pub const MAX_CONNECTIONS: Rule = Rule {
    id: "PG-PAR-001",
    severity: Warning,
    standard_only: false,
    seed: "S0 BR-2",
    title: "max_connections = app_replicas × conns_per_pod + reserved",
    fix: "set `max_connections = \"${var.app_replicas * var.conns_per_pod + var.reserved}\"` in the instances' parameter group",
    check: |cx, j| {
        let Some((want, formula)) = formula(cx) else { return };
        for i in cx.db_instances() {
            parameter(cx, j, i, "max_connections", &|v| {
                let got = v.as_f64()?;
                Some((got == want).then_some(()).ok_or(format!("`max_connections` is {got}; {formula} = {want}")))
            });
        }
    },
};

pub const POOLING: Rule = Rule {
    id: "PG-CON-001",
    severity: Warning,
    standard_only: true,
    seed: "S3 §3.4 (PgBouncer)",
    title: "Connections reach each database through a pooler (RDS Proxy)",
    fix: "add a `db_proxy` with a `db_proxy_target` naming the database (modules/pooling), and point the application at the proxy's endpoint",
    check: |cx, j| {
        for db in cx.databases() {
            let attr = if db.addr.rtype == "db_cluster" { "db_cluster_identifier" } else { "db_instance_identifier" };
            let pooled = cx.all("db_proxy_target").any(|t| cx.links(t, attr, db));
            j.expect(pooled, || cx.finding(db, None, format!("no db_proxy_target pools connections to {}", db.addr)));
        }
    },
};

pub const SHARED_BUFFERS: Rule = Rule {
    id: "PG-PAR-002",
    severity: Warning,
    standard_only: false,
    seed: "S0, S1, S3 §4.2",
    title: "shared_buffers is about 25% of the instance class's memory (20–30%)",
    fix: "set `shared_buffers = \"${pg_shared_buffers(var.instance_class)}\"` (8 kB pages) in the instances' parameter group",
    check: |cx, j| {
        for i in cx.db_instances() {
            let Some(class) = cx.attr(i, "instance_class").as_str().map(str::to_owned) else { continue };
            let Some(mib) = memory_mib(&class) else { continue };
            let pages = mib as f64 * 128.0;
            // RDS for PostgreSQL's default is {DBInstanceClassMemory/32768}: 25%.
            if i.addr.rtype == "db_instance" && matches!(cx.parameter_for(i, "shared_buffers"), Ok(ParamAt::Unset(_))) {
                j.pass();
                continue;
            }
            parameter(cx, j, i, "shared_buffers", &|v| {
                let share = shared_buffers_share(v.value()?, pages)?;
                let ok = (0.2..=0.3).contains(&share);
                Some(ok.then_some(()).ok_or(format!(
                    "`shared_buffers` is {:.0}% of {class}'s {mib} MiB; the seeds want about 25%",
                    share * 100.0
                )))
            });
        }
    },
};

/// The RAM of an instance class in MiB, when the class is known.
pub fn memory_mib(class: &str) -> Option<i64> {
    functions::call("instance_memory_mib", &[Value::str(class)]).ok()?.as_i64()
}

/// The seeds' max_connections from the stack's variables, and the formula
/// with its values for messages.
fn formula(cx: &Cx) -> Option<(f64, String)> {
    let var = |k: &str| cx.stack.vars.get(k).and_then(super::view::number);
    let reserved_name = ["reserved", "reserved_connections"].into_iter().find(|k| cx.stack.vars.contains_key(*k))?;
    let (a, c, r) = (var("app_replicas")?, var("conns_per_pod")?, var(reserved_name)?);
    Some((a * c + r, format!("app_replicas × conns_per_pod + {reserved_name} = {a} × {c} + {r}")))
}

/// Judges parameter `name` of an instance (or, for `rds.force_ssl`, a
/// cluster) with `judge` (`None`: not known at load time; `Some(Err(why))`:
/// wrong). Unset is wrong: AWS's default applies, not the seeds' value.
pub fn parameter(
    cx: &Cx,
    j: &mut Judge,
    instance: &ResourceConfig,
    name: &str,
    judge: &dyn Fn(Node) -> Option<Result<(), String>>,
) {
    parameter_or_default(cx, j, instance, name, false, judge);
}

/// [`parameter`], where AWS's default passes when `default_passes`.
pub fn parameter_or_default(
    cx: &Cx,
    j: &mut Judge,
    instance: &ResourceConfig,
    name: &str,
    default_passes: bool,
    judge: &dyn Fn(Node) -> Option<Result<(), String>>,
) {
    match cx.parameter_for(instance, name) {
        Err(_) => {}
        Ok(ParamAt::Unset(_)) if default_passes => j.pass(),
        Ok(ParamAt::Set(group, v)) => match judge(v) {
            None => {}
            Some(Ok(())) => j.pass(),
            Some(Err(why)) => j.fail(cx.finding(
                group,
                Some(&format!("parameters.{name}")),
                format!("{why} ({} for {})", group.addr, instance.addr),
            )),
        },
        Ok(ParamAt::Unset(groups)) => {
            let why = format!("`{name}` is not set for {}: AWS's default applies", instance.addr);
            j.fail(match groups.first() {
                Some(g) => cx.finding(g, Some("parameters"), why),
                None => cx.finding(instance, None, why),
            });
        }
    }
}

/// The share of memory a `shared_buffers` value gives, with `pages` the
/// class's RAM in 8 kB pages: a number of pages, a size with a unit (`8GB`),
/// or RDS's `{DBInstanceClassMemory/N}`.
fn shared_buffers_share(v: &Value, pages: f64) -> Option<f64> {
    if let Some(n) = super::view::number(v) {
        return Some(n / pages);
    }
    let s = v.as_str()?.trim();
    if let Some(n) = s.strip_prefix("{DBInstanceClassMemory/").and_then(|r| r.strip_suffix('}')) {
        // DBInstanceClassMemory is in bytes; the value is in 8 kB pages.
        let n: f64 = n.trim().parse().ok()?;
        return (n > 0.0).then(|| 8192.0 / n);
    }
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (n, unit) = s.split_at(split);
    let kb = match unit.trim() {
        "kB" => 1.0,
        "MB" => 1024.0,
        "GB" => 1024.0 * 1024.0,
        "TB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(n.parse::<f64>().ok()? * kb / 8.0 / pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_buffers_in_pages_units_and_formulas() {
        let pages = 32768.0 * 128.0; // 32 GiB
        let share = |v: Value| shared_buffers_share(&v, pages);
        assert_eq!(share(Value::Int(1_048_576)), Some(0.25));
        assert_eq!(share(Value::str("1048576")), Some(0.25));
        assert_eq!(share(Value::str("8GB")), Some(0.25));
        assert_eq!(share(Value::str("8192MB")), Some(0.25));
        assert_eq!(share(Value::str("{DBInstanceClassMemory/32768}")), Some(0.25));
        assert_eq!(share(Value::str("{DBInstanceClassMemory/10922}")).map(|s| (s * 100.0).round()), Some(75.0));
        assert_eq!(share(Value::str("8 parsecs")), None);
        assert_eq!(share(Value::str("{DBInstanceClassMemory/0}")), None);
    }
}
