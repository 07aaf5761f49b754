//! Network isolation (seeds S3 §5.5).

use std::collections::BTreeSet;

use crate::diag::Severity::Error;

use super::Rule;
use super::security::bool_is;
use super::view::Node;

/// The PostgreSQL port.
const POSTGRES_PORT: f64 = 5432.0;

pub const NOT_PUBLIC: Rule = Rule {
    id: "PG-NET-001",
    severity: Error,
    standard_only: false,
    seed: "S3 §5.5",
    title: "Database instances are not publicly accessible",
    fix: "set `publicly_accessible = false` (the default)",
    check: |cx, j| {
        for i in cx.db_instances() {
            bool_is(cx, j, i, "publicly_accessible", false, "the instance has a public address");
        }
    },
};

pub const NO_OPEN_PORT: Rule = Rule {
    id: "PG-NET-002",
    severity: Error,
    standard_only: false,
    seed: "S3 §5.5",
    title: "No security group admits the database port from anywhere (0.0.0.0/0 or ::/0)",
    fix: "admit the database port only from the application's security group (`security_groups`) and the group itself (`self = true`)",
    check: |cx, j| {
        let mut ports: BTreeSet<i64> = BTreeSet::from([POSTGRES_PORT as i64]);
        for db in cx.group_owners() {
            if let Some(p) = cx.attr(db, "port").as_f64() {
                ports.insert(p as i64);
            }
        }
        for sg in cx.all("security_group") {
            let Some(rules) = cx.node(sg, "ingress").and_then(Node::items) else { continue };
            let mut open = None;
            for (i, rule) in rules.iter().enumerate() {
                let Some(port) = ports.iter().copied().find(|p| admits(*rule, *p as f64)) else { continue };
                for (field, world) in [("cidr_blocks", "0.0.0.0/0"), ("ipv6_cidr_blocks", "::/0")] {
                    let Some(blocks) = rule.field(field).and_then(Node::items) else { continue };
                    if let Some(k) = blocks.iter().position(|b| b.as_str() == Some(world)) {
                        open.get_or_insert((format!("ingress[{i}].{field}[{k}]"), port, world));
                    }
                }
            }
            match open {
                None => j.pass(),
                Some((path, port, world)) => j.fail(cx.finding(
                    sg,
                    Some(&path),
                    format!("{} admits port {port} from anywhere ({world})", sg.addr),
                )),
            }
        }
    },
};

pub const PRIVATE_SUBNETS: Rule = Rule {
    id: "PG-NET-003",
    severity: Error,
    standard_only: false,
    seed: "S3 §5.5",
    title: "Database subnets give no public IP addresses",
    fix: "set `map_public_ip_on_launch = false` (the default) on the subnets of the database subnet group",
    check: |cx, j| {
        let mut seen = BTreeSet::new();
        for group in cx.all("db_subnet_group") {
            let Some(ids) = cx.node(group, "subnet_ids") else { continue };
            for subnet in cx.targets(ids, &["subnet"]) {
                if seen.insert(subnet.addr.clone()) {
                    bool_is(
                        cx,
                        j,
                        subnet,
                        "map_public_ip_on_launch",
                        false,
                        "a database subnet gives public IP addresses",
                    );
                }
            }
        }
    },
};

pub const VPC_ENDPOINTS: Rule = Rule {
    id: "PG-NET-004",
    severity: Error,
    standard_only: true,
    seed: "S3 §5.5",
    title: "The database's VPC reaches S3, Secrets Manager and KMS through VPC endpoints",
    fix: "add `vpc_endpoint`s for s3 (Gateway), secretsmanager and kms (Interface) to the VPC (modules/network: `endpoints = true`)",
    check: |cx, j| {
        if cx.databases().is_empty() {
            return;
        }
        for vpc in cx.all("vpc") {
            let mut services = BTreeSet::new();
            for ep in cx.all("vpc_endpoint") {
                if !cx.links(ep, "vpc_id", vpc) {
                    continue;
                }
                match cx.attr(ep, "service_name").as_str() {
                    Some(s) => services.insert(s.rsplit('.').next().unwrap_or(s).to_owned()),
                    // A service known only at apply could be any of them.
                    None => return,
                };
            }
            let missing: Vec<&str> =
                ["s3", "secretsmanager", "kms"].into_iter().filter(|s| !services.contains(*s)).collect();
            j.expect(missing.is_empty(), || {
                cx.finding(vpc, None, format!("{} has no VPC endpoint for {}", vpc.addr, missing.join(", ")))
            });
        }
    },
};

/// True when an ingress rule admits TCP `port` (or all traffic). A rule
/// whose protocol or ports are known only at apply admits nothing here.
fn admits(rule: Node, port: f64) -> bool {
    match rule.field("protocol").and_then(Node::as_str) {
        Some("-1" | "all") => true,
        Some("tcp" | "6") => {
            let from = rule.field("from_port").and_then(Node::as_f64);
            let to = rule.field("to_port").and_then(Node::as_f64);
            matches!((from, to), (Some(f), Some(t)) if f <= port && port <= t)
        }
        _ => false,
    }
}
