//! `pgstack check`: the seeds' production requirements as rules over the
//! resolved stack (modules expanded, variables applied), without AWS.
//!
//! Each rule has a stable id, a severity, the seed requirement it comes from
//! and a fix; it reports findings at the attribute at fault (in a module:
//! the line in the module, and the module calls that led there). A value
//! known only at apply is never judged: such a rule says nothing rather than
//! guess. The stack's `[check]` table picks the profile and waives rules
//! until a date; an expired waiver is itself a finding. docs/check.md lists
//! every rule.
//!
//! Pure: no AWS, no printing (renderers are in `ui::check`).

mod backups;
mod monitoring;
mod network;
mod security;
mod sizing;
#[cfg(test)]
mod tests;
pub mod view;

use crate::config::{Profile, ProfileSource, Stack, Waiver};
use crate::diag::{Diagnostic, Diagnostics, Severity, Span, did_you_mean};
use crate::schema::Schemas;

use view::Cx;

/// Version of the JSON output of `check --format json`.
pub const CHECK_FORMAT_VERSION: u32 = 1;

/// One rule.
pub struct Rule {
    /// Stable id, `PG-AREA-NNN`.
    pub id: &'static str,
    pub severity: Severity,
    /// Checked in the standard profile only.
    pub standard_only: bool,
    /// The seed requirement, as docs/stacks.md cites it (`S3 §5.1`).
    pub seed: &'static str,
    /// What the rule requires, one line.
    pub title: &'static str,
    /// How to fix a failure, one line.
    pub fix: &'static str,
    check: fn(&Cx, &mut Judge),
}

impl Rule {
    pub fn applies_to(&self, profile: Profile) -> bool {
        !self.standard_only || profile == Profile::Standard
    }
}

/// Collects what a rule judged and what it found.
#[derive(Default)]
pub struct Judge {
    judged: usize,
    findings: Vec<Finding>,
}

impl Judge {
    /// One object judged and found right.
    pub fn pass(&mut self) {
        self.judged += 1;
    }

    /// One object judged and found wrong.
    pub fn fail(&mut self, f: Finding) {
        self.judged += 1;
        self.findings.push(f);
    }

    /// `pass` or `fail(f())` by `ok`.
    pub fn expect(&mut self, ok: bool, f: impl FnOnce() -> Finding) {
        if ok { self.pass() } else { self.fail(f()) }
    }
}

/// A rule's finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The resource at fault (none for an expired waiver).
    pub address: Option<String>,
    /// The attribute path at fault (`parameters.rds.force_ssl`); none when
    /// the resource as a whole is (something missing).
    pub attribute: Option<String>,
    pub message: String,
    /// The attribute's value, or the resource's header when it is unset;
    /// for a value a module took as an input, where the input was set.
    pub span: Option<Span>,
    /// Where the module uses the value when `span` is where its input was
    /// set (the module's line).
    pub used_at: Option<Span>,
    /// The `[module.NAME]` calls that led to the resource, outermost first.
    pub module_calls: Vec<Span>,
}

/// A rule's result for one stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Passed,
    /// Findings, not waived.
    Failed,
    /// Findings, all covered by an active waiver.
    Waived,
    /// Nothing to judge: no resource it concerns, every value known only at
    /// apply, or not part of the profile.
    NotApplicable,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Waived => "waived",
            Status::NotApplicable => "not_applicable",
        }
    }
}

pub struct RuleResult {
    pub rule: &'static Rule,
    pub status: Status,
    pub findings: Vec<Finding>,
}

/// A waiver and what became of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaiverState {
    /// In force and covering findings.
    Active,
    /// In force, but its rule found nothing (or is not part of the profile).
    Unused,
    /// Past its date: the rule's findings count, and so does the waiver.
    Expired,
}

impl WaiverState {
    pub fn name(self) -> &'static str {
        match self {
            WaiverState::Active => "active",
            WaiverState::Unused => "unused",
            WaiverState::Expired => "expired",
        }
    }
}

pub struct Report {
    pub stack: String,
    pub profile: Profile,
    pub profile_source: ProfileSource,
    /// Every rule, in [`RULES`] order.
    pub results: Vec<RuleResult>,
    pub waivers: Vec<(Waiver, WaiverState)>,
}

/// Counts of rules by outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    /// Failed rules of error severity.
    pub failed: usize,
    /// Failed rules of warning severity.
    pub warnings: usize,
    pub waived: usize,
    pub not_applicable: usize,
}

impl Report {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for r in &self.results {
            match (r.status, r.rule.severity) {
                (Status::Passed, _) => s.passed += 1,
                (Status::Failed, Severity::Error) => s.failed += 1,
                (Status::Failed, Severity::Warning) => s.warnings += 1,
                (Status::Waived, _) => s.waived += 1,
                (Status::NotApplicable, _) => s.not_applicable += 1,
            }
        }
        s
    }

    /// Ids of the rules of error severity that fail.
    pub fn failed_errors(&self) -> Vec<&'static str> {
        let failed = self.results.iter().filter(|r| r.status == Status::Failed && r.rule.severity == Severity::Error);
        failed.map(|r| r.rule.id).collect()
    }
}

/// Runs every rule of the profile (`flag`, else the one the stack declares,
/// else standard) over `stack`. `today` is the UTC date
/// `YYYY-MM-DD` waivers are compared with (a waiver holds through its
/// `until` day). Waivers of rules that do not exist are errors.
pub fn run(stack: &Stack, registry: &dyn Schemas, flag: Option<Profile>, today: &str) -> Result<Report, Diagnostics> {
    let mut errors = Diagnostics::default();
    for w in &stack.check.waivers {
        if rule(&w.rule).is_none() {
            let d = Diagnostic::error(format!("`{}` in [check.waive] is not a check rule", w.rule)).at(w.span.clone());
            errors.push(match did_you_mean(&w.rule, RULES.iter().map(|r| r.id)) {
                Some(s) => d.hint(format!("did you mean `{s}`?")),
                None => d.hint("`pgstack check STACK` lists the rules; docs/check.md describes them"),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let (profile, profile_source) = match (flag, stack.check.profile) {
        (Some(p), _) => (p, ProfileSource::Flag),
        (None, Some(declared)) => declared,
        (None, None) => (Profile::Standard, ProfileSource::Default),
    };
    let cx = Cx { stack, registry, profile };
    let mut results = Vec::new();
    let mut waivers = Vec::new();
    for rule in RULES {
        let waiver = stack.check.waivers.iter().find(|w| w.rule == rule.id);
        let mut judge = Judge::default();
        if rule.applies_to(profile) {
            (rule.check)(&cx, &mut judge);
        }
        let mut findings = Vec::new();
        for f in judge.findings {
            // Instances sharing a module line or a parameter group find the same thing.
            if !findings.contains(&f) {
                findings.push(f);
            }
        }
        let expired = waiver.is_some_and(|w| w.until.as_str() < today);
        if let Some(w) = waiver.filter(|_| expired) {
            findings.push(Finding {
                address: None,
                attribute: None,
                message: format!("the waiver of {} expired on {}: {}", rule.id, w.until, w.reason),
                span: Some(w.span.clone()),
                used_at: None,
                module_calls: Vec::new(),
            });
        }
        let status = match (findings.is_empty(), judge.judged) {
            (false, _) if waiver.is_some() && !expired => Status::Waived,
            (false, _) => Status::Failed,
            (true, 0) => Status::NotApplicable,
            (true, _) => Status::Passed,
        };
        if let Some(w) = waiver {
            let state = match status {
                _ if expired => WaiverState::Expired,
                Status::Waived => WaiverState::Active,
                _ => WaiverState::Unused,
            };
            waivers.push((w.clone(), state));
        }
        results.push(RuleResult { rule, status, findings });
    }
    Ok(Report { stack: stack.name.clone(), profile, profile_source, results, waivers })
}

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Every rule, grouped by area. Ids are stable: a rule that goes away leaves
/// its id unused.
pub static RULES: &[Rule] = &[
    security::STORAGE_ENCRYPTED,
    security::STORAGE_CMK,
    security::SECRETS_CMK,
    security::KEY_ROTATION,
    security::TLS_ONLY,
    security::TLS_1_2,
    security::TLS_1_3,
    security::AUDIT_LOG,
    security::NO_TIMESCALEDB,
    security::IAM_AUTH,
    security::MASTER_SECRET_MANAGED,
    security::MASTER_SECRET_ROTATION,
    security::USER_SECRET_ROTATION,
    backups::RETENTION,
    backups::CROSS_REGION_COPY,
    backups::BUCKET_RETENTION,
    backups::BUCKET_VERSIONING,
    backups::BUCKET_SSE_KMS,
    backups::BUCKET_PUBLIC_ACCESS,
    backups::BUCKET_TLS_ONLY,
    backups::COPY_TAGS,
    backups::HIGH_AVAILABILITY,
    backups::SUBNET_ZONES,
    backups::DELETION_PROTECTION,
    backups::FINAL_SNAPSHOT,
    network::NOT_PUBLIC,
    network::NO_OPEN_PORT,
    network::PRIVATE_SUBNETS,
    network::VPC_ENDPOINTS,
    network::DATABASE_EGRESS,
    monitoring::LOG_EXPORTS,
    monitoring::SLOW_QUERY_LOG,
    monitoring::ENHANCED_MONITORING,
    monitoring::PERFORMANCE_INSIGHTS,
    monitoring::MINOR_UPGRADES,
    monitoring::ALARM_CONNECTIONS,
    monitoring::ALARM_REPLICA_LAG,
    monitoring::ALARM_CPU,
    monitoring::ALARM_MEMORY,
    monitoring::ALARM_STORAGE,
    sizing::MAX_CONNECTIONS,
    sizing::POOLING,
    sizing::SHARED_BUFFERS,
];
