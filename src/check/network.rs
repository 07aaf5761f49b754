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
    title: "No security group admits the database port from anywhere (0.0.0.0/0 or ::/0, whole or in pieces)",
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
            let open = ports.iter().find_map(|port| {
                let admitting: Vec<(usize, Node)> =
                    rules.iter().copied().enumerate().filter(|(_, r)| admits(*r, *port as f64)).collect();
                ["cidr_blocks", "ipv6_cidr_blocks"].into_iter().find_map(|field| {
                    let blocks: Vec<(String, &str)> = admitting
                        .iter()
                        .filter_map(|(i, r)| Some((*i, r.field(field)?.items()?)))
                        .flat_map(|(i, items)| {
                            items
                                .into_iter()
                                .enumerate()
                                .filter_map(move |(k, b)| Some((format!("ingress[{i}].{field}[{k}]"), b.as_str()?)))
                        })
                        .collect();
                    world_open(&blocks).map(|(path, how)| (path, *port, how))
                })
            });
            match open {
                None => j.pass(),
                Some((path, port, how)) => {
                    j.fail(cx.finding(sg, Some(&path), format!("{} admits port {port} from anywhere ({how})", sg.addr)))
                }
            }
        }
    },
};

/// Whether `blocks` (path, CIDR) let in a whole address family: the path of
/// the first block that does it, and how (`0.0.0.0/0`, or the pieces that
/// together cover it).
fn world_open(blocks: &[(String, &str)]) -> Option<(String, String)> {
    if let Some((path, b)) = blocks.iter().find(|(_, b)| matches!(*b, "0.0.0.0/0" | "::/0")) {
        return Some((path.clone(), (*b).to_owned()));
    }
    for v6 in [false, true] {
        let mut ranges: Vec<(u128, u128, usize)> = blocks
            .iter()
            .enumerate()
            .filter_map(|(i, (_, b))| cidr_range(b).filter(|(is_v6, _)| *is_v6 == v6).map(|(_, (s, e))| (s, e, i)))
            .collect();
        ranges.sort_unstable();
        let last = if v6 { u128::MAX } else { u128::from(u32::MAX) };
        // Walking up from address 0: the first address not yet covered, and
        // the blocks that moved it (the pieces that make up the whole).
        let (mut next, mut pieces) = (Some(0u128), Vec::new());
        for (start, end, i) in ranges {
            if let Some(n) = next
                && start <= n
                && end >= n
            {
                next = end.checked_add(1);
                pieces.push(i);
            }
        }
        if !pieces.is_empty() && next.is_none_or(|n| n > last) {
            let shown: Vec<&str> = pieces.iter().map(|i| blocks[*i].1).collect();
            let first = pieces.iter().min().copied().unwrap_or_default();
            return Some((blocks[first].0.clone(), format!("in pieces: {}", shown.join(" + "))));
        }
    }
    None
}

/// A CIDR block's family (true: IPv6) and its first and last address.
fn cidr_range(block: &str) -> Option<(bool, (u128, u128))> {
    let (addr, len) = block.trim().split_once('/')?;
    let len: u32 = len.parse().ok()?;
    let (v6, bits, value) = match addr.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(a) => (false, 32, u128::from(u32::from(a))),
        std::net::IpAddr::V6(a) => (true, 128, u128::from(a)),
    };
    if len > bits {
        return None;
    }
    let host = 1u128.checked_shl(bits - len).map_or(u128::MAX, |x| x - 1);
    Some((v6, (value & !host, value | host)))
}

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

pub const DATABASE_EGRESS: Rule = Rule {
    id: "PG-NET-005",
    severity: Error,
    standard_only: true,
    seed: "S3 §5.5",
    title: "The database's security groups manage their egress and send nothing to the whole internet",
    fix: "declare `egress` on the database's security group, e.g. replication to itself and HTTPS to the VPC's endpoints (modules/network does); never all traffic to 0.0.0.0/0 or ::/0",
    check: |cx, j| {
        let mut seen = BTreeSet::new();
        for db in cx.group_owners() {
            let Some(ids) = cx.node(db, "vpc_security_group_ids") else { continue };
            for sg in cx.targets(ids, &["security_group"]) {
                if !seen.insert(sg.addr.clone()) {
                    continue;
                }
                let Some(egress) = cx.node(sg, "egress") else {
                    j.fail(cx.finding(
                        sg,
                        None,
                        format!("{} declares no `egress`: AWS's default rule sends all traffic anywhere", sg.addr),
                    ));
                    continue;
                };
                let Some(rules) = egress.items() else { continue };
                let open = rules.iter().enumerate().find_map(|(i, rule)| {
                    let all_ports = matches!(rule.field("protocol").and_then(Node::as_str), Some("-1" | "all"))
                        || (rule.field("from_port").and_then(Node::as_f64) == Some(0.0)
                            && rule.field("to_port").and_then(Node::as_f64) == Some(65535.0));
                    if !all_ports {
                        return None;
                    }
                    ["cidr_blocks", "ipv6_cidr_blocks"].into_iter().find_map(|field| {
                        let blocks: Vec<(String, &str)> = rule
                            .field(field)?
                            .items()?
                            .into_iter()
                            .enumerate()
                            .filter_map(|(k, b)| Some((format!("egress[{i}].{field}[{k}]"), b.as_str()?)))
                            .collect();
                        world_open(&blocks)
                    })
                });
                match open {
                    None => j.pass(),
                    Some((path, how)) => {
                        j.fail(cx.finding(sg, Some(&path), format!("{} sends all traffic anywhere ({how})", sg.addr)))
                    }
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn open(blocks: &[&str]) -> Option<String> {
        let blocks: Vec<(String, &str)> = blocks.iter().enumerate().map(|(i, b)| (format!("b[{i}]"), *b)).collect();
        world_open(&blocks).map(|(path, how)| format!("{path}: {how}"))
    }

    #[test]
    fn the_world_is_open_whole_or_in_pieces_of_one_family() {
        assert_eq!(open(&["10.0.0.0/8", "0.0.0.0/0"]).as_deref(), Some("b[1]: 0.0.0.0/0"));
        assert_eq!(open(&["0.0.0.0/1", "128.0.0.0/1"]).as_deref(), Some("b[0]: in pieces: 0.0.0.0/1 + 128.0.0.0/1"));
        assert_eq!(open(&["::/1", "8000::/1"]).as_deref(), Some("b[0]: in pieces: ::/1 + 8000::/1"));
        assert_eq!(
            open(&["128.0.0.0/2", "0.0.0.0/1", "192.0.0.0/2"]).as_deref(),
            Some("b[0]: in pieces: 0.0.0.0/1 + 128.0.0.0/2 + 192.0.0.0/2")
        );
        // A gap, a family split across v4 and v6, overlaps that leave the top out: closed.
        assert_eq!(open(&["0.0.0.0/1", "128.0.0.0/2"]), None);
        assert_eq!(open(&["0.0.0.0/1", "8000::/1"]), None);
        assert_eq!(open(&["0.0.0.0/2", "0.0.0.0/1", "64.0.0.0/2"]), None);
        assert_eq!(open(&["10.0.0.0/8", "not a block", "1.2.3.4/33"]), None);
        assert_eq!(open(&[]), None);
    }

    #[test]
    fn cidr_ranges_cover_their_addresses() {
        assert_eq!(cidr_range("10.0.0.0/8"), Some((false, (0x0a00_0000, 0x0aff_ffff))));
        assert_eq!(cidr_range("10.1.2.3/32"), Some((false, (0x0a01_0203, 0x0a01_0203))));
        assert_eq!(cidr_range("::/0"), Some((true, (0, u128::MAX))));
        assert_eq!(cidr_range("10.0.0.0"), None);
    }
}
