//! Encryption, TLS, IAM authentication and credentials (seeds S3 §5.1–5.4).

use crate::config::ResourceConfig;
use crate::diag::Severity::{Error, Warning};

use super::sizing::{parameter, parameter_or_default};
use super::view::{Attr, Cx, KeyOwner, Node};
use super::{Judge, Rule};

pub const STORAGE_ENCRYPTED: Rule = Rule {
    id: "PG-ENC-001",
    severity: Error,
    standard_only: false,
    seed: "S3 §5.1",
    title: "Database storage is encrypted at rest",
    fix: "set `storage_encrypted = true` (the default) on the cluster or instance",
    check: |cx, j| {
        for db in cx.databases() {
            bool_is(cx, j, db, "storage_encrypted", true, "storage is not encrypted");
        }
    },
};

pub const STORAGE_CMK: Rule = Rule {
    id: "PG-ENC-002",
    severity: Error,
    standard_only: false,
    seed: "S3 §5.1",
    title: "Database storage is encrypted with a customer-managed KMS key",
    fix: "set `kms_key_id` to a `kms_key` of the stack, e.g. \"${kms_key.db.arn}\"",
    check: |cx, j| {
        for db in cx.databases() {
            customer_key(cx, j, db, "kms_key_id", "storage");
        }
    },
};

pub const SECRETS_CMK: Rule = Rule {
    id: "PG-ENC-003",
    severity: Warning,
    standard_only: false,
    seed: "S3 §5.1, §5.4",
    title: "Database credentials (the RDS-managed master secret, users' secrets) are encrypted with a customer-managed key",
    fix: "set `master_user_secret_kms_key_id` on the database and `kms_key_id` on each `secret` to a `kms_key` of the stack",
    check: |cx, j| {
        for db in cx.databases() {
            if cx.attr(db, "manage_master_user_password").as_bool() == Some(true) {
                customer_key(cx, j, db, "master_user_secret_kms_key_id", "the master secret");
            }
        }
        for s in cx.all("secret") {
            customer_key(cx, j, s, "kms_key_id", "the secret");
        }
    },
};

pub const KEY_ROTATION: Rule = Rule {
    id: "PG-ENC-004",
    severity: Error,
    standard_only: false,
    seed: "S3 §5.1",
    title: "Customer-managed KMS keys rotate automatically",
    fix: "set `enable_key_rotation = true` (the default) on the `kms_key`",
    check: |cx, j| {
        for key in cx.all("kms_key") {
            // AWS rotates only symmetric encryption keys.
            let symmetric = cx.attr(key, "customer_master_key_spec").as_str() == Some("SYMMETRIC_DEFAULT")
                && cx.attr(key, "key_usage").as_str() == Some("ENCRYPT_DECRYPT");
            if symmetric {
                bool_is(cx, j, key, "enable_key_rotation", true, "automatic key rotation is off");
            }
        }
    },
};

pub const TLS_ONLY: Rule = Rule {
    id: "PG-TLS-001",
    severity: Error,
    standard_only: false,
    seed: "S3 §5.2, S4 FR-006",
    title: "Connections need TLS: `rds.force_ssl = 1` in the attached parameter group",
    fix: "attach a parameter group of the stack (the cluster parameter group on Aurora) that sets \"rds.force_ssl\" = 1",
    check: |cx, j| {
        for owner in cx.group_owners() {
            parameter(cx, j, owner, "rds.force_ssl", &|v| {
                let x = v.as_f64()?;
                Some(
                    (x == 1.0)
                        .then_some(())
                        .ok_or(format!("`rds.force_ssl` is {x}: connections without TLS are accepted")),
                )
            });
        }
    },
};

/// The versions `ssl_min_protocol_version` takes, oldest first.
const TLS_VERSIONS: &[&str] = &["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];

/// Judges `ssl_min_protocol_version` of every database against `least`
/// (an index in [`TLS_VERSIONS`]); AWS's default (TLSv1.2 on the engine
/// versions pgstack creates) passes when `default_passes`.
fn min_tls(cx: &Cx, j: &mut Judge, least: usize, default_passes: bool) {
    let want = TLS_VERSIONS[least];
    for owner in cx.group_owners() {
        parameter_or_default(cx, j, owner, "ssl_min_protocol_version", default_passes, &|v| {
            let set = v.as_str()?;
            let rank = TLS_VERSIONS.iter().position(|t| t.eq_ignore_ascii_case(set.trim()));
            Some(match rank {
                Some(r) if r >= least => Ok(()),
                Some(_) => {
                    Err(format!("`ssl_min_protocol_version` is {set}: clients may connect with TLS older than {want}"))
                }
                None => Err(format!("`ssl_min_protocol_version` is {set:?}, not one of {}", TLS_VERSIONS.join(", "))),
            })
        });
    }
}

pub const TLS_1_2: Rule = Rule {
    id: "PG-TLS-002",
    severity: Error,
    standard_only: false,
    seed: "S3 §5.2",
    title: "No client connects with TLS older than 1.2 (`ssl_min_protocol_version`; AWS's default, TLSv1.2, passes)",
    fix: "set \"ssl_min_protocol_version\" = \"TLSv1.3\" (at least TLSv1.2) in the attached parameter group",
    check: |cx, j| min_tls(cx, j, 2, true),
};

pub const TLS_1_3: Rule = Rule {
    id: "PG-TLS-003",
    severity: Warning,
    standard_only: true,
    seed: "S3 §5.2",
    title: "Clients connect with TLS 1.3 only (`ssl_min_protocol_version = TLSv1.3`)",
    fix: "set \"ssl_min_protocol_version\" = \"TLSv1.3\" in the attached parameter group (the cluster parameter group on Aurora)",
    check: |cx, j| min_tls(cx, j, 3, false),
};

/// The libraries a `shared_preload_libraries` value loads.
fn libraries(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|l| !l.is_empty())
}

pub const AUDIT_LOG: Rule = Rule {
    id: "PG-AUD-001",
    severity: Error,
    standard_only: true,
    seed: "S0, S1 (pgaudit)",
    title: "pgaudit is loaded and logs DDL and writes",
    fix: "in the parameter group: \"shared_preload_libraries\" with `pgaudit`, \"pgaudit.log\" = \"ddl,write\" (or `all`), \"pgaudit.role\" = \"rds_pgaudit\" (modules/aurora-postgres does)",
    check: |cx, j| {
        for owner in cx.group_owners() {
            parameter(cx, j, owner, "shared_preload_libraries", &|v| {
                let set = v.as_str()?;
                Some(if libraries(set).any(|l| l == "pgaudit") {
                    Ok(())
                } else {
                    Err(format!("`shared_preload_libraries` is {set:?}: pgaudit is not loaded"))
                })
            });
            parameter(cx, j, owner, "pgaudit.log", &|v| {
                let set = v.as_str()?;
                let classes: Vec<String> = set.split(',').map(|c| c.trim().to_lowercase()).collect();
                let logs = |class: &str| classes.iter().any(|c| c == class || c == "all");
                let missing: Vec<&str> = ["ddl", "write"].into_iter().filter(|c| !logs(c)).collect();
                Some(if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!("`pgaudit.log` is {set:?}: it does not log {}", missing.join(" or ")))
                })
            });
        }
    },
};

pub const NO_TIMESCALEDB: Rule = Rule {
    id: "PG-PAR-003",
    severity: Warning,
    standard_only: false,
    seed: "S3 §4.2 (TimescaleDB)",
    title: "No library RDS and Aurora do not offer is preloaded (TimescaleDB)",
    fix: "remove `timescaledb` from \"shared_preload_libraries\": RDS and Aurora PostgreSQL do not offer it (docs/stacks.md lists the options: native partitioning with pg_partman, or a self-managed or Timescale Cloud database)",
    check: |cx, j| {
        for owner in cx.group_owners() {
            parameter_or_default(cx, j, owner, "shared_preload_libraries", true, &|v| {
                let set = v.as_str()?;
                Some(if libraries(set).any(|l| l.eq_ignore_ascii_case("timescaledb")) {
                    Err(format!("`shared_preload_libraries` is {set:?}: RDS and Aurora cannot load timescaledb"))
                } else {
                    Ok(())
                })
            });
        }
    },
};

pub const IAM_AUTH: Rule = Rule {
    id: "PG-IAM-001",
    severity: Error,
    standard_only: false,
    seed: "S3 §5.3",
    title: "IAM database authentication is enabled",
    fix: "set `iam_database_authentication_enabled = true` (the default)",
    check: |cx, j| {
        for db in cx.databases() {
            bool_is(cx, j, db, "iam_database_authentication_enabled", true, "IAM database authentication is off");
        }
    },
};

pub const MASTER_SECRET_MANAGED: Rule = Rule {
    id: "PG-SEC-001",
    severity: Error,
    standard_only: false,
    seed: "S3 §5.4",
    title: "The master password is managed by RDS in Secrets Manager",
    fix: "set `manage_master_user_password = true` (the default)",
    check: |cx, j| {
        for db in cx.databases() {
            bool_is(cx, j, db, "manage_master_user_password", true, "the master password is not managed by RDS");
        }
    },
};

pub const MASTER_SECRET_ROTATION: Rule = Rule {
    id: "PG-SEC-002",
    severity: Error,
    standard_only: false,
    seed: "S3 §5.4",
    title: "The master secret rotates at least every 30 days",
    fix: "keep RDS's rotation of its secret (every 7 days unless changed), or set its `secret_rotation` to `automatically_after_days = 30` or less",
    check: |cx, j| {
        for db in cx.databases() {
            if cx.attr(db, "manage_master_user_password").as_bool() != Some(true) {
                continue;
            }
            let rotations: Vec<&ResourceConfig> = cx
                .all("secret_rotation")
                .filter(|r| {
                    let target = cx.node(r, "secret_id").and_then(Node::reference);
                    target.is_some_and(|t| {
                        !t.splat
                            && t.target == db.addr
                            && t.path.first().map(String::as_str) == Some("master_user_secret_arn")
                    })
                })
                .collect();
            if rotations.is_empty() {
                // RDS rotates a secret it manages every 7 days unless told otherwise.
                j.pass();
            }
            for r in rotations {
                rotation_within(cx, j, r, 30, &format!("the master secret of {}", db.addr));
            }
        }
    },
};

pub const USER_SECRET_ROTATION: Rule = Rule {
    id: "PG-SEC-003",
    severity: Error,
    standard_only: false,
    seed: "S3 §5.4",
    title: "Database users' secrets rotate at least every 7 days",
    fix: "add a `secret_rotation` for the secret with `rotation_rules = { automatically_after_days = 7 }` and a rotation function",
    check: |cx, j| {
        let rotations: Vec<&ResourceConfig> = cx.all("secret_rotation").collect();
        // A rotation naming a secret only known at apply could be any secret's.
        let unresolved = rotations.iter().any(|r| cx.linked(r, "secret_id", &["secret"]).is_err());
        for secret in cx.all("secret") {
            let mine: Vec<&ResourceConfig> =
                rotations.iter().copied().filter(|r| cx.links(r, "secret_id", secret)).collect();
            if mine.is_empty() {
                if !unresolved {
                    j.fail(cx.finding(
                        secret,
                        None,
                        format!("{} is never rotated: no `secret_rotation` names it", secret.addr),
                    ));
                }
                continue;
            }
            for r in mine {
                rotation_within(cx, j, r, 7, &secret.addr.to_string());
            }
        }
    },
};

/// Judges a boolean attribute that must be `want` (unset without a default
/// counts as false).
pub fn bool_is(cx: &Cx, j: &mut Judge, rc: &ResourceConfig, attr: &str, want: bool, what: &str) {
    let value = match cx.attr(rc, attr) {
        Attr::Unknown(_) => return,
        Attr::Unset => false,
        a => match a.as_bool() {
            Some(b) => b,
            None => return,
        },
    };
    j.expect(value == want, || {
        let how =
            if rc.attrs.contains_key(attr) { format!("`{attr} = {value}`") } else { format!("`{attr}` is not set") };
        cx.finding(rc, Some(attr), format!("{what} on {}: {how}", rc.addr))
    });
}

/// Judges that `attr` names a customer-managed key.
pub fn customer_key(cx: &Cx, j: &mut Judge, rc: &ResourceConfig, attr: &str, what: &str) {
    match cx.key_owner(cx.node(rc, attr)) {
        KeyOwner::Unknown => {}
        KeyOwner::Customer => j.pass(),
        KeyOwner::Aws(why) => j.fail(cx.finding(
            rc,
            Some(attr),
            format!("{what} of {} is not under a customer-managed key: `{attr}` {why}", rc.addr),
        )),
    }
}

/// The rotation period of a `secret_rotation` in days, when known.
fn rotation_days(cx: &Cx, r: &ResourceConfig) -> Option<f64> {
    let rules = cx.node(r, "rotation_rules")?;
    if let Some(d) = rules.field("automatically_after_days").and_then(Node::as_f64) {
        return Some(d);
    }
    let expr = rules.field("schedule_expression")?.as_str()?;
    let inner = expr.strip_prefix("rate(")?.strip_suffix(')')?.trim();
    let (n, unit) = inner.split_once(' ')?;
    matches!(unit.trim(), "day" | "days").then(|| n.trim().parse().ok()).flatten()
}

/// Judges that rotation `r` is on and runs at least every `days` days.
fn rotation_within(cx: &Cx, j: &mut Judge, r: &ResourceConfig, days: u32, what: &str) {
    if cx.attr(r, "rotation_enabled").as_bool() == Some(false) {
        j.fail(cx.finding(r, Some("rotation_enabled"), format!("rotation of {what} is disabled")));
        return;
    }
    // A cron schedule, or a period known only at apply, is not judged.
    if let Some(d) = rotation_days(cx, r) {
        j.expect(d <= f64::from(days), || {
            cx.finding(
                r,
                Some("rotation_rules"),
                format!("{what} rotates every {d} days; the seeds want {days} days or less"),
            )
        });
    }
}
