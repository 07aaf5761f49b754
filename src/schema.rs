//! Attribute schemas: what a resource type accepts, computes, and replaces
//! on, how drift finds its objects and how cost prices them.
//!
//! Schemas are `'static` data built with `const fn`s, so validation, diff,
//! docs, the orphan scan and cost read the same table the provider declares. An attribute's
//! [`Constraint`] states what AWS would refuse; `validate` checks it on values
//! known at load time and [`Schema::check_values`] on values known at plan time.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::diag::did_you_mean;
use crate::value::Value;

/// Where config and check find a resource type's schema by its name: the
/// provider registry, or a test's own table. Schemas are a leaf: config and
/// check see them through this, never the providers.
pub trait Schemas {
    fn schema_of(&self, rtype: &str) -> Option<&'static Schema>;
    /// Every known type name, sorted.
    fn type_names(&self) -> Vec<&'static str>;
    /// The schema of a data source type (`[data.TYPE.NAME]`): its filter
    /// arguments, and the computed attributes a reference may read.
    fn data_schema_of(&self, _dtype: &str) -> Option<&'static Schema> {
        None
    }
    /// Every known data source type name, sorted.
    fn data_type_names(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

/// The type of an attribute's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttrType {
    Str,
    Bool,
    Int,
    /// Integer or float.
    Num,
    List(&'static AttrType),
    /// Order-insensitive list; compared as a set.
    Set(&'static AttrType),
    /// Table with free keys and values of one type.
    Map(&'static AttrType),
    /// Table with the listed fields.
    Object(&'static [Attr]),
    /// An IAM/KMS policy document: a table or a JSON string, compared by meaning.
    Policy,
}

impl AttrType {
    /// A human description for diagnostics ("list of string").
    pub fn describe(&self) -> String {
        match self {
            AttrType::Str => "string".into(),
            AttrType::Bool => "bool".into(),
            AttrType::Int => "integer".into(),
            AttrType::Num => "number".into(),
            AttrType::List(t) => format!("list of {}", t.describe()),
            AttrType::Set(t) => format!("list of {}", t.describe()),
            AttrType::Map(t) => format!("table of {}", t.describe()),
            AttrType::Object(_) => "table".into(),
            AttrType::Policy => "policy (table or JSON string)".into(),
        }
    }
}

/// Who sets an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Must be set in config.
    Required,
    /// May be set in config; when unset it is not managed (AWS's value is kept).
    Optional,
    /// Set only by AWS (ids, ARNs); referencable, never diffed.
    Computed,
}

/// A literal default, applied when the attribute is unset in config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Default {
    Bool(bool),
    Int(i64),
    Str(&'static str),
}

impl Default {
    pub fn value(&self) -> Value {
        match *self {
            Default::Bool(b) => Value::Bool(b),
            Default::Int(i) => Value::Int(i),
            Default::Str(s) => Value::Str(s.to_owned()),
        }
    }
}

/// One attribute of a resource type (or a field of an object attribute).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attr {
    pub name: &'static str,
    pub ty: AttrType,
    pub mode: Mode,
    /// Changing it means delete and create again.
    pub force_new: bool,
    pub default: Option<Default>,
    /// Written to AWS but never stored in state, plans or output.
    pub write_only: bool,
    /// Kept in state but not compared against AWS (e.g. a deletion window).
    pub config_only: bool,
    /// What AWS accepts beyond the type: applies to the value, to each item
    /// of a list, and to each key and value of a table.
    pub constraint: Option<Constraint>,
    /// Attributes that cannot be set together with this one.
    pub conflicts: &'static [&'static str],
    /// The weekly maintenance window attribute this daily backup window must
    /// stay apart from (see [`windows_meet`]).
    pub apart_from: Option<&'static str>,
    /// A state of the object, not a setting: a stack may ask for it (apply
    /// then acts to reach it), but a generated declaration never sets it.
    pub status: bool,
    /// Unset in config, the attribute is a name made from the stack name and
    /// the address under this rule.
    pub default_name: Option<NameRule>,
}

impl Attr {
    const fn base(name: &'static str, ty: AttrType, mode: Mode) -> Attr {
        Attr {
            name,
            ty,
            mode,
            force_new: false,
            default: None,
            write_only: false,
            config_only: false,
            constraint: None,
            conflicts: &[],
            apart_from: None,
            status: false,
            default_name: None,
        }
    }
    pub const fn required(name: &'static str, ty: AttrType) -> Attr {
        Attr::base(name, ty, Mode::Required)
    }
    pub const fn optional(name: &'static str, ty: AttrType) -> Attr {
        Attr::base(name, ty, Mode::Optional)
    }
    pub const fn computed(name: &'static str, ty: AttrType) -> Attr {
        Attr::base(name, ty, Mode::Computed)
    }
    pub const fn force_new(self) -> Attr {
        Attr { force_new: true, ..self }
    }
    pub const fn default(self, d: Default) -> Attr {
        Attr { default: Some(d), ..self }
    }
    pub const fn write_only(self) -> Attr {
        Attr { write_only: true, ..self }
    }
    pub const fn config_only(self) -> Attr {
        Attr { config_only: true, ..self }
    }
    /// An integer in `lo..=hi`.
    pub const fn range(self, lo: i64, hi: i64) -> Attr {
        Attr { constraint: Some(Constraint::Range(lo, hi)), ..self }
    }
    /// One of the listed strings.
    pub const fn one_of(self, values: &'static [&'static str]) -> Attr {
        Attr { constraint: Some(Constraint::OneOf(values)), ..self }
    }
    /// One of the listed integers.
    pub const fn int_one_of(self, values: &'static [i64]) -> Attr {
        Attr { constraint: Some(Constraint::IntOneOf(values)), ..self }
    }
    /// A string of at most `n` characters.
    pub const fn max_len(self, n: usize) -> Attr {
        Attr { constraint: Some(Constraint::MaxLen(n)), ..self }
    }
    /// A named rule (identifier syntax, CIDR, tags, ...).
    pub const fn pattern(self, kind: Kind) -> Attr {
        Attr { constraint: Some(Constraint::Pattern(kind)), ..self }
    }
    /// When unset, a name from the stack name and the address, under `rule`.
    pub const fn default_name(self, rule: NameRule) -> Attr {
        Attr { default_name: Some(rule), ..self }
    }
    /// Cannot be set together with any of `others` (declared on one side).
    pub const fn conflicts_with(self, others: &'static [&'static str]) -> Attr {
        Attr { conflicts: others, ..self }
    }
    /// A daily backup window that must stay apart from the weekly maintenance
    /// window in `other`: RDS refuses a pair that overlaps.
    pub const fn apart_from(self, other: &'static str) -> Attr {
        Attr { apart_from: Some(other), ..self }
    }
    /// A state of the object a stack may ask for (see [`Attr::status`]).
    pub const fn status(self) -> Attr {
        Attr { status: true, ..self }
    }
}

/// How a default name is made (PRODUCT: names are optional where
/// Terraform's are): the stack name, the address's module path, name and
/// instance key, joined by `-`. Other characters than ASCII letters, digits
/// and `extra` become `-` (runs of `-` collapse, none at either end); a name
/// not starting with a letter gets `pg-` in front; past `max` characters it is
/// cut and ends with `-` and 8 hex digits of the whole name's SHA-256, so
/// different addresses keep different names. The result is stable: the same
/// stack and address always give the same name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NameRule {
    pub max: usize,
    pub lowercase: bool,
    /// Characters allowed besides ASCII letters and digits (`-` is always allowed).
    pub extra: &'static str,
}

impl NameRule {
    pub const fn new(max: usize, lowercase: bool, extra: &'static str) -> NameRule {
        NameRule { max, lowercase, extra }
    }

    /// The name of `addr` in `stack`.
    pub fn name_for(&self, stack: &str, addr: &crate::addr::ResourceAddr) -> String {
        use sha2::{Digest, Sha256};
        let parts = std::iter::once(stack)
            .chain(addr.module.iter().map(String::as_str))
            .chain([addr.name.as_str()])
            .chain(addr.key.as_deref());
        let mut out = String::new();
        for c in parts.collect::<Vec<_>>().join("-").chars() {
            let c = if c.is_ascii_alphanumeric() || self.extra.contains(c) { c } else { '-' };
            let c = if self.lowercase { c.to_ascii_lowercase() } else { c };
            if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
                out.push(c);
            }
        }
        let mut out = out.trim_end_matches('-').to_owned();
        if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
            out = format!("pg-{out}");
        }
        if out.len() > self.max {
            let hex: String = Sha256::digest(out.as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect();
            out.truncate(self.max.saturating_sub(9));
            out = format!("{}-{hex}", out.trim_end_matches('-'));
        }
        out
    }

    /// The other default name of `addr` in `stack`: what a replacement
    /// created before its old object is deleted is called when the old one
    /// holds [`Self::name_for`] (and the other way round), so the two never
    /// clash, as Terraform's `name_prefix` names never do. The default name,
    /// cut to leave room, then `-` and 8 hex digits of a SHA-256 of it: as
    /// valid for the type as the default name, and stable.
    pub fn alternate_for(&self, stack: &str, addr: &crate::addr::ResourceAddr) -> String {
        use sha2::{Digest, Sha256};
        let base = self.name_for(stack, addr);
        let hex: String = Sha256::digest(format!("{base}\0replacement").as_bytes())
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut out = base;
        out.truncate(self.max.saturating_sub(9));
        format!("{}-{hex}", out.trim_end_matches('-'))
    }
}

/// A rule on values beyond their type: what AWS would refuse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Constraint {
    /// An integer in `lo..=hi`.
    Range(i64, i64),
    /// One of the listed strings (case-sensitive, as AWS compares them).
    OneOf(&'static [&'static str]),
    /// One of the listed integers.
    IntOneOf(&'static [i64]),
    /// A string of at most this many characters.
    MaxLen(usize),
    Pattern(Kind),
}

/// Named rules for strings (and one integer) whose syntax AWS fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// RDS instance and cluster identifiers: 1..63 letters, digits and
    /// hyphens, beginning with a letter, no `--`, not ending with `-`.
    RdsIdentifier,
    /// The same rules with up to 255 characters: parameter group names,
    /// snapshot identifiers.
    RdsName,
    /// DB subnet group names: 1..255 letters, digits, spaces, `.`, `_`, `-`; not `default`.
    DbSubnetGroupName,
    /// A DB subnet group a database is placed in: a [`Kind::DbSubnetGroupName`],
    /// or the VPC's own `default` group.
    DbSubnetGroupRef,
    /// A parameter group a database uses: a [`Kind::RdsName`], or one of AWS's
    /// default groups (`default.aurora-postgresql16`, `default.postgres16`).
    ParameterGroupRef,
    /// PostgreSQL user and database names as RDS accepts them: 1..63
    /// letters, digits and `_`, beginning with a letter.
    PgName,
    /// An RDS instance class: `db.` then the class, e.g. `db.r6g.large`.
    InstanceClass,
    /// A daily window `hh24:mi-hh24:mi` (UTC), at least 30 minutes.
    BackupWindow,
    /// A weekly window `ddd:hh24:mi-ddd:hh24:mi` (UTC), at least 30 minutes.
    MaintenanceWindow,
    /// An ARN: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
    Arn,
    /// An IPv4 CIDR block with no host bits set.
    Ipv4Cidr,
    /// An IPv4 CIDR block for a VPC or subnet: prefix /16 to /28.
    VpcCidr,
    /// An IPv6 CIDR block with no host bits set.
    Ipv6Cidr,
    /// A security group rule protocol: `tcp`, `udp`, `icmp`, `icmpv6`,
    /// `all` / `-1`, or a protocol number 0..255.
    Protocol,
    /// Security group names: 1..255 characters of EC2's set, not starting with `sg-`.
    SecurityGroupName,
    /// Security group and rule descriptions: up to 255 characters of EC2's set.
    SecurityGroupText,
    /// Secrets Manager secret names: 1..512 letters, digits and `/_+=.@-`.
    SecretName,
    /// A KMS alias, with or without `alias/`: letters, digits, `/`, `_`, `-`;
    /// not under `alias/aws/`.
    KmsAlias,
    /// IAM role names: 1..64 letters, digits and `_+=,.@-`.
    IamRoleName,
    /// IAM inline policy names: 1..128 letters, digits and `_+=,.@-`.
    IamPolicyName,
    /// IAM paths: `/`, or `/` then segments each ending in `/`; 1..512
    /// printable ASCII characters.
    IamPath,
    /// Performance Insights retention in days: 7, a multiple of 31 up to 713, or 731.
    PerformanceInsightsRetention,
    /// A CloudWatch alarm period in seconds: 10, 20, 30, or a multiple of 60.
    AlarmPeriod,
    /// Tags: keys 1..128 characters not starting with `aws:`, values up to
    /// 256 characters, neither with control characters; at most
    /// [`MAX_TAGS`] on one resource, ownership and stack tags included
    /// ([`check_tag_count`]).
    Tags,
    /// S3 general purpose bucket names: 3..63 lowercase letters, digits,
    /// `.` and `-`, beginning and ending with a letter or digit, no `..`, not
    /// an IP address, none of the prefixes and suffixes S3 reserves.
    S3BucketName,
}

/// Why AWS would refuse a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Completes "`ATTR` ..." (e.g. "must be between 7 and 30, got 45").
    pub message: String,
    pub hint: Option<String>,
}

impl Invalid {
    fn new(message: impl Into<String>) -> Invalid {
        Invalid { message: message.into(), hint: None }
    }
    fn hint(self, h: impl Into<String>) -> Invalid {
        Invalid { hint: Some(h.into()), ..self }
    }
}

/// A constraint violation found by [`Schema::check_values`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The attribute, then nested keys or indexes: `ingress[0].from_port`, `tags.Name`.
    pub path: String,
    pub invalid: Invalid,
}

/// EC2's character set for security group names and descriptions.
fn ec2_text_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c)
}

/// `hh24:mi` as minutes after midnight.
fn clock(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// `ddd:hh24:mi` as minutes after Monday midnight.
fn weekly(s: &str) -> Option<u32> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let (d, t) = s.split_once(':')?;
    let day = DAYS.iter().position(|x| x.eq_ignore_ascii_case(d))? as u32;
    Some(day * 24 * 60 + clock(t)?)
}

/// A daily window (`attr`) that meets the weekly window (`other`) it must stay apart from.
pub struct MeetingWindows<'a> {
    pub attr: &'static str,
    pub other: &'static str,
    pub daily: &'a str,
    pub weekly: &'a str,
}

/// Whether a daily window (`hh24:mi-hh24:mi`) and a weekly window
/// (`ddd:hh24:mi-ddd:hh24:mi`) overlap or touch on any day of the week; either
/// may wrap past midnight or the week's end. Touching counts: RDS's emulator
/// refuses it and AWS documents only that they must not overlap, so pgstack
/// keeps them apart. `None` when either is malformed.
pub fn windows_meet(daily: &str, weekly_window: &str) -> Option<bool> {
    const DAY: u32 = 24 * 60;
    const WEEK: u32 = 7 * DAY;
    let (s, e) = daily.split_once('-').and_then(|(a, b)| Some((clock(a)?, clock(b)?)))?;
    let (ws, we) = weekly_window.split_once('-').and_then(|(a, b)| Some((weekly(a)?, weekly(b)?)))?;
    // Closed intervals on the week's circle: [start, start + len].
    let in_maintenance = |m: u32| (m + WEEK - ws) % WEEK <= (we + WEEK - ws) % WEEK;
    let backup_len = (e + DAY - s) % DAY;
    Some((0..7).any(|d| (0..=backup_len).any(|i| in_maintenance((d * DAY + s + i) % WEEK))))
}

/// A CIDR block's address and prefix, with "no host bits" checked.
fn cidr<A>(s: &str, bits: u32, mask: impl Fn(A, u32) -> A) -> Result<(A, u32), Invalid>
where
    A: std::str::FromStr + Copy + PartialEq + std::fmt::Display,
{
    let bad = || Invalid::new(format!("must be a CIDR block like `10.0.0.0/16`, got `{s}`"));
    let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
    let addr: A = addr.parse().map_err(|_| bad())?;
    let prefix: u32 = match prefix.parse() {
        Ok(p) if p <= bits && !prefix.starts_with('+') => p,
        _ => return Err(bad()),
    };
    let network = mask(addr, prefix);
    if network != addr {
        return Err(Invalid::new(format!("must have no host bits set, got `{s}`"))
            .hint(format!("did you mean `{network}/{prefix}`?")));
    }
    Ok((addr, prefix))
}

fn ipv4_cidr(s: &str) -> Result<(Ipv4Addr, u32), Invalid> {
    cidr(s, 32, |a: Ipv4Addr, p| Ipv4Addr::from(u32::from(a) & u32::MAX.checked_shl(32 - p).unwrap_or(0)))
}

/// Letters, digits and hyphens, beginning with a letter, no `--`, not ending with `-`.
fn rds_name(s: &str, max: usize) -> Result<(), Invalid> {
    let rule = format!(
        "must be 1 to {max} letters, digits and hyphens, begin with a letter, and not end with a hyphen or hold two in a row"
    );
    let ok = (1..=max).contains(&s.chars().count())
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.ends_with('-')
        && !s.contains("--");
    if ok { Ok(()) } else { Err(Invalid::new(format!("{rule}, got `{s}`"))) }
}

/// IAM's names: 1..`max` letters, digits and `_+=,.@-`.
fn iam_name(s: &str, max: usize) -> Result<(), Invalid> {
    if (1..=max).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)) {
        Ok(())
    } else {
        Err(Invalid::new(format!("must be 1 to {max} letters, digits and `_+=,.@-`, got `{s}`")))
    }
}

/// Prefixes and suffixes S3 reserves for other kinds of buckets and access points.
const S3_RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
const S3_RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

fn s3_bucket_name(s: &str) -> Result<(), Invalid> {
    let chars_ok = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !(3..=63).contains(&s.len()) || !chars_ok || !edge(s.chars().next()) || !edge(s.chars().last()) {
        let d = Invalid::new(format!(
            "must be 3 to 63 lowercase letters, digits, `.` and `-`, beginning and ending with a letter or digit, got `{s}`"
        ));
        let lower = s.to_ascii_lowercase();
        return Err(if lower != s && s3_bucket_name(&lower).is_ok() {
            d.hint(format!("did you mean `{lower}`?"))
        } else {
            d
        });
    }
    if s.contains("..") {
        return Err(Invalid::new(format!("cannot hold two periods in a row, got `{s}`")));
    }
    if s.parse::<Ipv4Addr>().is_ok() {
        return Err(Invalid::new(format!("cannot be formatted as an IP address, got `{s}`")));
    }
    if let Some(p) = S3_RESERVED_PREFIXES.iter().find(|p| s.starts_with(*p)) {
        return Err(Invalid::new(format!("cannot start with `{p}`, which S3 reserves, got `{s}`")));
    }
    if let Some(x) = S3_RESERVED_SUFFIXES.iter().find(|x| s.ends_with(*x)) {
        return Err(Invalid::new(format!("cannot end with `{x}`, which S3 reserves, got `{s}`")));
    }
    Ok(())
}

/// No control characters, at most `max` characters.
fn tag_text(what: &str, s: &str, max: usize) -> Result<(), Invalid> {
    if s.chars().count() > max {
        return Err(Invalid::new(format!("has a {what} longer than {max} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(Invalid::new(format!("has a {what} with a control character: {s:?}")));
    }
    Ok(())
}

impl Kind {
    /// The rule in words, for docs/resources.md.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::RdsIdentifier => "1..63 letters, digits, hyphens; begins with a letter; no `--`; no trailing `-`",
            Kind::RdsName => "1..255 letters, digits, hyphens; begins with a letter; no `--`; no trailing `-`",
            Kind::DbSubnetGroupName => "1..255 letters, digits, spaces, `.`, `_`, `-`; not `default`",
            Kind::DbSubnetGroupRef => "1..255 letters, digits, spaces, `.`, `_`, `-` (`default` allowed)",
            Kind::ParameterGroupRef => {
                "1..255 letters, digits, hyphens; begins with a letter; or an AWS `default.FAMILY` group"
            }
            Kind::PgName => "1..63 letters, digits, `_`; begins with a letter",
            Kind::InstanceClass => "`db.` class, e.g. `db.r6g.large`",
            Kind::BackupWindow => "`hh24:mi-hh24:mi` UTC, at least 30 minutes",
            Kind::MaintenanceWindow => "`ddd:hh24:mi-ddd:hh24:mi` UTC, at least 30 minutes",
            Kind::Arn => "an ARN",
            Kind::Ipv4Cidr => "IPv4 CIDR block, no host bits",
            Kind::VpcCidr => "IPv4 CIDR block /16 to /28, no host bits",
            Kind::Ipv6Cidr => "IPv6 CIDR block, no host bits",
            Kind::Protocol => "`tcp`, `udp`, `icmp`, `icmpv6`, `all` / `-1`, or a number 0..255",
            Kind::SecurityGroupName => "1..255 of `a-zA-Z0-9 ._-:/()#,@[]+=&;{}!$*`; not starting with `sg-`",
            Kind::SecurityGroupText => "up to 255 of `a-zA-Z0-9 ._-:/()#,@[]+=&;{}!$*`",
            Kind::SecretName => "1..512 letters, digits and `/_+=.@-`",
            Kind::KmsAlias => "letters, digits, `/`, `_`, `-` (`alias/` optional), up to 256; not `alias/aws/...`",
            Kind::IamRoleName => "1..64 letters, digits, `_+=,.@-`",
            Kind::IamPolicyName => "1..128 letters, digits, `_+=,.@-`",
            Kind::IamPath => "`/` or `/a/b/`: begins and ends with `/`, up to 512 printable ASCII characters",
            Kind::PerformanceInsightsRetention => "7, 31 × 1..23 months, or 731 days",
            Kind::AlarmPeriod => "10, 20, 30, or a multiple of 60 seconds",
            Kind::Tags => {
                "at most 50 per resource, with the stack's tags and the 2 ownership tags; keys 1..128 characters, not `aws:...`; values up to 256; no control characters"
            }
            Kind::S3BucketName => {
                "3..63 lowercase letters, digits, `.`, `-`; begins and ends with a letter or digit; no `..`; not an IP address"
            }
        }
    }

    fn check(self, v: &Value) -> Result<(), Invalid> {
        if let (Kind::PerformanceInsightsRetention, Value::Int(days)) = (self, v) {
            let ok = *days == 7 || *days == 731 || (*days % 31 == 0 && (31..=713).contains(days));
            return if ok {
                Ok(())
            } else {
                Err(Invalid::new(format!("must be 7, a multiple of 31 up to 713, or 731 days, got {days}")))
            };
        }
        if let (Kind::AlarmPeriod, Value::Int(secs)) = (self, v) {
            let ok = matches!(secs, 10 | 20 | 30) || (*secs > 0 && secs % 60 == 0 && *secs <= i64::from(i32::MAX));
            return if ok {
                Ok(())
            } else {
                Err(Invalid::new(format!("must be 10, 20, 30, or a multiple of 60 seconds, got {secs}")))
            };
        }
        let Value::Str(s) = v else { return Ok(()) };
        match self {
            Kind::RdsIdentifier => rds_name(s, 63),
            Kind::RdsName => rds_name(s, 255),
            Kind::ParameterGroupRef => {
                let aws_default = s.strip_prefix("default.").is_some_and(|family| {
                    !family.is_empty() && family.chars().all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
                });
                if aws_default { Ok(()) } else { rds_name(s, 255) }
            }
            Kind::DbSubnetGroupName | Kind::DbSubnetGroupRef => {
                let ok = (1..=255).contains(&s.chars().count())
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || " ._-".contains(c));
                if !ok {
                    Err(Invalid::new(format!("must be 1 to 255 letters, digits, spaces, `.`, `_` or `-`, got `{s}`")))
                } else if self == Kind::DbSubnetGroupName && s.eq_ignore_ascii_case("default") {
                    Err(Invalid::new("cannot be `default`: that name is reserved for the VPC's default group"))
                } else {
                    Ok(())
                }
            }
            Kind::PgName => {
                let ok = (1..=63).contains(&s.len())
                    && s.starts_with(|c: char| c.is_ascii_alphabetic())
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if ok {
                    Ok(())
                } else {
                    Err(Invalid::new(format!(
                        "must be 1 to 63 letters, digits and `_`, beginning with a letter, got `{s}`"
                    )))
                }
            }
            Kind::InstanceClass => {
                let ok = s.strip_prefix("db.").is_some_and(|rest| {
                    rest.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
                });
                if ok {
                    Ok(())
                } else {
                    Err(Invalid::new(format!("must be an instance class like `db.r6g.large`, got `{s}`")))
                }
            }
            Kind::BackupWindow | Kind::MaintenanceWindow => {
                let (parse, shape, week): (fn(&str) -> Option<u32>, _, u32) = match self {
                    Kind::BackupWindow => (clock, "`hh24:mi-hh24:mi` like `03:00-03:30`", 24 * 60),
                    _ => (weekly, "`ddd:hh24:mi-ddd:hh24:mi` like `sun:05:00-sun:05:30`", 7 * 24 * 60),
                };
                let window = s.split_once('-').and_then(|(a, b)| Some((parse(a)?, parse(b)?)));
                let Some((start, end)) = window else {
                    return Err(Invalid::new(format!("must be {shape} (UTC), got `{s}`")));
                };
                if (end + week - start) % week < 30 {
                    return Err(Invalid::new(format!("must be at least 30 minutes long, got `{s}`")));
                }
                Ok(())
            }
            Kind::Arn => {
                if s.starts_with("arn:") && s.splitn(6, ':').count() == 6 {
                    Ok(())
                } else {
                    Err(Invalid::new(format!("must be an ARN like `arn:aws:iam::123456789012:role/NAME`, got `{s}`")))
                }
            }
            Kind::Ipv4Cidr => ipv4_cidr(s).map(|_| ()),
            Kind::VpcCidr => match ipv4_cidr(s)? {
                (_, 16..=28) => Ok(()),
                (_, p) => Err(Invalid::new(format!("must have a prefix from /16 to /28, got /{p}"))),
            },
            Kind::Ipv6Cidr => cidr(s, 128, |a: Ipv6Addr, p| {
                Ipv6Addr::from(u128::from(a) & u128::MAX.checked_shl(128 - p).unwrap_or(0))
            })
            .map(|_| ()),
            Kind::Protocol => {
                let names = ["tcp", "udp", "icmp", "icmpv6", "all", "-1"];
                if names.iter().any(|n| n.eq_ignore_ascii_case(s)) || s.parse::<u8>().is_ok() {
                    return Ok(());
                }
                let d = Invalid::new(format!(
                    "must be `tcp`, `udp`, `icmp`, `icmpv6`, `all` or a protocol number, got `{s}`"
                ));
                Err(match did_you_mean(&s.to_ascii_lowercase(), names) {
                    Some(n) => d.hint(format!("did you mean `{n}`?")),
                    None => d,
                })
            }
            Kind::SecurityGroupName | Kind::SecurityGroupText => {
                let min = usize::from(self == Kind::SecurityGroupName);
                if !(min..=255).contains(&s.chars().count()) || !s.chars().all(ec2_text_char) {
                    return Err(Invalid::new(format!(
                        "must be {min} to 255 of the characters a-z, A-Z, 0-9, spaces and `._-:/()#,@[]+=&;{{}}!$*`, got {s:?}"
                    )));
                }
                if self == Kind::SecurityGroupName && s.to_ascii_lowercase().starts_with("sg-") {
                    return Err(Invalid::new(format!(
                        "cannot start with `sg-` (that is how group ids look), got `{s}`"
                    )));
                }
                Ok(())
            }
            Kind::SecretName => {
                if (1..=512).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
                {
                    Ok(())
                } else {
                    Err(Invalid::new(format!("must be 1 to 512 letters, digits and `/_+=.@-`, got {s:?}")))
                }
            }
            Kind::KmsAlias => {
                let full = if s.starts_with("alias/") { s.clone() } else { format!("alias/{s}") };
                let name = &full["alias/".len()..];
                if name.is_empty()
                    || full.len() > 256
                    || !name.chars().all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c))
                {
                    Err(Invalid::new(format!(
                        "must be a KMS alias of letters, digits, `/`, `_` and `-` (up to 256 with `alias/`), got `{s}`"
                    )))
                } else if full.starts_with("alias/aws/") {
                    Err(Invalid::new(format!("cannot be under `alias/aws/` (AWS managed keys), got `{s}`")))
                } else {
                    Ok(())
                }
            }
            Kind::IamRoleName => iam_name(s, 64),
            Kind::IamPolicyName => iam_name(s, 128),
            Kind::IamPath => {
                let ok = s == "/"
                    || ((3..=512).contains(&s.len())
                        && s.starts_with('/')
                        && s.ends_with('/')
                        && s.chars().all(|c| c.is_ascii_graphic()));
                if ok {
                    Ok(())
                } else {
                    Err(Invalid::new(format!(
                        "must be `/` or a path like `/service/` that begins and ends with `/`, got `{s}`"
                    )))
                }
            }
            Kind::Tags => tag_text("tag value", s, 256),
            Kind::S3BucketName => s3_bucket_name(s),
            Kind::PerformanceInsightsRetention | Kind::AlarmPeriod => Ok(()),
        }
    }
}

impl Constraint {
    /// The rule in words, for docs/resources.md.
    pub fn describe(&self) -> String {
        let list = |items: Vec<String>| items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ");
        match self {
            Constraint::Range(lo, hi) => format!("{lo}..{hi}"),
            Constraint::OneOf(v) => format!("one of {}", list(v.iter().map(|s| s.to_string()).collect())),
            Constraint::IntOneOf(v) => format!("one of {}", list(v.iter().map(i64::to_string).collect())),
            Constraint::MaxLen(n) => format!("up to {n} characters"),
            Constraint::Pattern(k) => k.describe().to_owned(),
        }
    }

    /// Checks one value (a list item or table value, for those). Values of
    /// another type, and unknown ones, pass: type errors are reported apart.
    pub fn check(&self, v: &Value) -> Result<(), Invalid> {
        match (self, v) {
            (Constraint::Range(lo, hi), Value::Int(i)) if !(lo..=hi).contains(&i) => {
                Err(Invalid::new(format!("must be between {lo} and {hi}, got {i}")))
            }
            (Constraint::OneOf(values), Value::Str(s)) if !values.contains(&s.as_str()) => {
                let d = Invalid::new(format!("cannot be `{s}`"));
                Err(match did_you_mean(s, values.iter().copied()) {
                    Some(m) => d.hint(format!("did you mean `{m}`?")),
                    None => d.hint(format!("use one of: {}", values.join(", "))),
                })
            }
            (Constraint::IntOneOf(values), Value::Int(i)) if !values.contains(i) => Err(Invalid::new(format!(
                "must be one of {}, got {i}",
                values.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
            ))),
            (Constraint::MaxLen(n), Value::Str(s)) if s.chars().count() > *n => {
                Err(Invalid::new(format!("is longer than {n} characters")))
            }
            (Constraint::Pattern(k), v) => k.check(v),
            _ => Ok(()),
        }
    }

    /// Checks a table key (only tags constrain keys).
    pub fn check_key(&self, key: &str) -> Result<(), Invalid> {
        if *self != Constraint::Pattern(Kind::Tags) {
            return Ok(());
        }
        if key.is_empty() {
            return Err(Invalid::new("has an empty tag key"));
        }
        if key.len() >= 4 && key[..4].eq_ignore_ascii_case("aws:") {
            return Err(Invalid::new(format!("has a tag key `{key}` with the `aws:` prefix, which AWS reserves")));
        }
        tag_text("tag key", key, 128)
    }
}

/// The schema of one resource type.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    pub attrs: &'static [Attr],
    /// Holds data: deleting or replacing it falls under the data-loss guard.
    pub guarded: bool,
    /// Has a `tags` attribute; stack tags and ownership tags are merged into it.
    pub taggable: bool,
    /// How drift's orphan scan finds the objects carrying a stack's tag
    /// ([`Ownership::Untagged`] exactly when not `taggable`).
    pub ownership: Ownership,
    /// How `pgstack cost` prices one object of the type.
    pub pricing: Pricing,
}

/// How a type's objects that carry a stack's `pgstack:stack` tag are found
/// ([`ResourceType::list_owned`](super::ResourceType::list_owned)), for
/// drift's orphan scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// Through the tagging index (the Resource Groups Tagging API): one
    /// listing per region serves every indexed type, and `list_owned` picks
    /// this type's objects out of it.
    Indexed(Indexed),
    /// By the type's own listing calls, which return each object's tags.
    Listed,
    /// The objects carry no tags of their own (a configuration of another
    /// object): `list_owned` lists nothing. Only types that are not taggable.
    Untagged,
}

/// A type's place in the tagging index: the resource type it is filed
/// under, and how an object's ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`)
/// gives the id state records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Indexed {
    /// The index's resource type, `service:resource` (`ec2:vpc`); the ARNs
    /// of its objects have that `service`.
    pub filter: &'static str,
    /// What the ARN's resource part starts with (`vpc/`; may be empty).
    pub prefix: &'static str,
    pub id: IdForm,
    /// Whether the type also takes the objects of its `filter` whose
    /// `pgstack:address` tag names no type filed under it (missing, not an
    /// address, another type). Types sharing a filter (a key and a replica
    /// key) are told apart by that tag, and exactly one of them takes the
    /// rest; a type alone under its filter takes them.
    pub claims_unnamed: bool,
}

impl Ownership {
    /// Filed under `filter` in the tagging index, with ids [`IdForm::Rest`]
    /// after `prefix`, taking the unnamed objects of its filter.
    pub const fn indexed(filter: &'static str, prefix: &'static str) -> Ownership {
        Ownership::Indexed(Indexed { filter, prefix, id: IdForm::Rest, claims_unnamed: true })
    }

    /// This indexed declaration with the whole ARN as id ([`IdForm::Arn`]).
    pub const fn arn_ids(self) -> Ownership {
        match self {
            Ownership::Indexed(i) => Ownership::Indexed(Indexed { id: IdForm::Arn, ..i }),
            other => other,
        }
    }

    /// This indexed declaration leaving the unnamed objects of its filter to
    /// the other type filed under it ([`Indexed::claims_unnamed`] false).
    pub const fn leaving_unnamed(self) -> Ownership {
        match self {
            Ownership::Indexed(i) => Ownership::Indexed(Indexed { claims_unnamed: false, ..i }),
            other => other,
        }
    }
}

impl Indexed {
    /// The ARN service of the objects under [`Indexed::filter`].
    pub fn service(&self) -> &'static str {
        self.filter.split_once(':').map_or(self.filter, |(service, _)| service)
    }
}

/// How an id is made from an ARN of the tagging index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdForm {
    /// The resource part after the prefix (`vpc-1`, a key id, a bucket name).
    Rest,
    /// The whole ARN.
    Arn,
}

/// How `pgstack cost` (src/cost) prices an object of a type: free, or by
/// one of its price models. Every type declares one, so no type is left
/// unpriced for want of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pricing {
    /// No charge of its own (networking, groups, IAM, SNS within its free
    /// requests, rotation schedules): counted, never a line.
    Free,
    /// Aurora storage, I/O and backups of the cluster, and its managed
    /// master secret.
    AuroraCluster,
    /// Aurora instance-hours by class (I/O-Optimized when its cluster is).
    AuroraInstance,
    /// RDS instance-hours by class, storage, IOPS and throughput, backups,
    /// and its managed master secret.
    RdsInstance,
    /// A key-month.
    KmsKey,
    /// A secret-month.
    Secret,
    /// An alarm-month.
    Alarm,
    /// Endpoint-AZ-hours of an interface endpoint; a gateway endpoint is free.
    VpcEndpoint,
    /// Storage of backup objects, and of an archive rule's class.
    Bucket,
    /// Transfer to another region; free within one.
    Replication,
    /// CloudWatch Logs: ingestion and storage by volume, which `[cost]`
    /// does not model yet (an unpriced line that says so).
    LogGroup,
    /// RDS Proxy: vCPU-hours of the database instances behind one of its
    /// targets (at least two vCPUs), on the target: the proxy is billed by
    /// what it serves.
    ProxyTarget,
    /// AWS Backup: the recovery points each rule keeps (priced as full
    /// snapshots of the database), its copies kept in other vaults, and the
    /// transfer of cross-region copies.
    BackupPlan,
}

impl Schema {
    pub fn attr(&self, name: &str) -> Option<&'static Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.attrs.iter().map(|a| a.name)
    }

    /// Fills in what the config leaves unset: literal defaults and default
    /// names of `addr` in `stack`. Plan and apply both call it, so both see
    /// the same object.
    pub fn apply_defaults(&self, desired: &mut BTreeMap<String, Value>, stack: &str, addr: &crate::addr::ResourceAddr) {
        for a in self.attrs {
            if desired.contains_key(a.name) {
                continue;
            }
            if let Some(d) = a.default {
                desired.insert(a.name.to_owned(), d.value());
            } else if let Some(rule) = a.default_name {
                desired.insert(a.name.to_owned(), Value::Str(rule.name_for(stack, addr)));
            }
        }
    }

    /// Settles the default names (attributes with a [`NameRule`] that
    /// `configured` says the config leaves unset) in `desired` against the
    /// object that exists (`current`): an object that holds either of its
    /// two default names keeps it; a replacement created first
    /// (`replacing_first`) takes the one the old object does not hold. Plan
    /// and apply both call it after [`Self::apply_defaults`], so both see the
    /// same name.
    pub fn settle_default_names(
        &self,
        desired: &mut BTreeMap<String, Value>,
        configured: &dyn Fn(&str) -> bool,
        current: Option<&BTreeMap<String, Value>>,
        replacing_first: bool,
        stack: &str,
        addr: &crate::addr::ResourceAddr,
    ) {
        for a in self.attrs {
            let Some(rule) = a.default_name else { continue };
            if configured(a.name) {
                continue;
            }
            let (first, other) = (rule.name_for(stack, addr), rule.alternate_for(stack, addr));
            let held = current.and_then(|c| c.get(a.name)).and_then(Value::as_str);
            let name = match (replacing_first, held) {
                (true, Some(h)) if h == first => other,
                (true, _) => first,
                (false, Some(h)) if h == other => other,
                (false, _) => first,
            };
            desired.insert(a.name.to_owned(), Value::Str(name));
        }
    }

    /// Every constraint violation among evaluated attribute values (unknown
    /// values and attributes outside the schema are skipped). Plan calls it
    /// on desired values that were not known at load time.
    pub fn check_values(&self, attrs: &BTreeMap<String, Value>) -> Vec<Violation> {
        let mut out = Vec::new();
        for (name, v) in attrs {
            if let Some(a) = self.attr(name) {
                check_value(a, v, name, &mut out);
            }
        }
        if let (true, Some(Value::Map(tags))) = (self.taggable, attrs.get("tags"))
            && let Err(invalid) = check_tag_count(tags.len())
        {
            out.push(Violation { path: "tags".to_owned(), invalid });
        }
        let value = |name: &str| attrs.get(name).and_then(Value::as_str);
        for m in self.meeting_windows(value) {
            let message = format!("({}) meets `{}` ({}): RDS refuses windows that meet", m.daily, m.other, m.weekly);
            out.push(Violation { path: m.attr.to_owned(), invalid: Invalid::new(message) });
        }
        out
    }

    /// The [`Attr::apart_from`] pairs whose windows meet ([`windows_meet`]),
    /// among the string values `value` knows.
    pub fn meeting_windows<'a>(&self, value: impl Fn(&str) -> Option<&'a str>) -> Vec<MeetingWindows<'a>> {
        self.attrs
            .iter()
            .filter_map(|a| {
                let other = a.apart_from?;
                let (daily, weekly) = (value(a.name)?, value(other)?);
                (windows_meet(daily, weekly) == Some(true)).then_some(MeetingWindows {
                    attr: a.name,
                    other,
                    daily,
                    weekly,
                })
            })
            .collect()
    }
}

/// Checks `v` against `attr`'s constraint and, for objects, its fields' constraints.
fn check_value(attr: &Attr, v: &Value, path: &str, out: &mut Vec<Violation>) {
    let mut push = |path: String, r: Result<(), Invalid>| {
        if let Err(invalid) = r {
            out.push(Violation { path, invalid });
        }
    };
    match (&attr.ty, v) {
        (AttrType::List(t) | AttrType::Set(t), Value::List(items)) => {
            for (i, item) in items.iter().enumerate() {
                let item_attr = Attr { ty: **t, ..*attr };
                check_value(&item_attr, item, &format!("{path}[{i}]"), out);
            }
        }
        (AttrType::Map(_), Value::Map(m)) => {
            if let Some(c) = attr.constraint {
                for (k, item) in m {
                    push(format!("{path}.{k}"), c.check_key(k).and_then(|()| c.check(item)));
                }
            }
        }
        (AttrType::Object(fields), Value::Map(m)) => {
            for (k, item) in m {
                if let Some(f) = field(fields, k) {
                    check_value(f, item, &format!("{path}.{k}"), out);
                }
            }
        }
        (_, v) => {
            if let Some(c) = attr.constraint {
                push(path.to_owned(), c.check(v));
            }
        }
    }
}

/// Finds a field in an object attribute's field list.
pub fn field<'a>(fields: &'a [Attr], name: &str) -> Option<&'a Attr> {
    fields.iter().find(|a| a.name == name)
}

/// The most tags AWS accepts on one resource (EC2, RDS, KMS, Secrets
/// Manager, S3, IAM, SNS, CloudWatch alike), user and AWS-made tags apart:
/// pgstack's ownership tags and the stack's tags count.
pub const MAX_TAGS: usize = 50;

/// Refuses more than [`MAX_TAGS`] tags on one resource; `count` includes
/// the ownership tags and the stack's tags.
pub fn check_tag_count(count: usize) -> Result<(), Invalid> {
    if count <= MAX_TAGS {
        return Ok(());
    }
    Err(Invalid::new(format!(
        "has {count} tags, counting the stack's tags and the 2 ownership tags pgstack adds (`{TAG_STACK}`, `{TAG_ADDRESS}`): AWS allows at most {MAX_TAGS} on one resource"
    ))
    .hint(format!("remove {} of them (here or in [stack] tags)", count - MAX_TAGS)))
}

/// The ownership tags every created resource carries.
pub const TAG_STACK: &str = "pgstack:stack";
pub const TAG_ADDRESS: &str = "pgstack:address";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_come_from_the_stack_and_address() {
        let rule = NameRule::new(63, true, "");
        let name = |stack: &str, addr: &str| rule.name_for(stack, &addr.parse().unwrap());
        assert_eq!(name("greenlang-prod", "s3_bucket.backups_dr"), "greenlang-prod-backups-dr");
        assert_eq!(name("Prod", r#"s3_bucket.wal["eu.1"]"#), "prod-wal-eu-1");
        assert_eq!(name("prod", "module.db.db_cluster.main"), "prod-db-main");
        assert_eq!(name("1st", "sns_topic.a"), "pg-1st-a", "a letter first");
        let long = name(&"x".repeat(60), "s3_bucket.backups");
        assert_eq!(long.len(), 63);
        assert_ne!(long, name(&"x".repeat(60), "s3_bucket.backups2"), "the digest keeps long names apart");
        assert_eq!(long, name(&"x".repeat(60), "s3_bucket.backups"), "stable");
        let keep_case = NameRule::new(512, false, "/_");
        assert_eq!(keep_case.name_for("Shop", &"secret.app_user".parse().unwrap()), "Shop-app_user");
    }

    /// Every default name any type makes meets that type's own rule for the attribute.
    #[test]
    fn a_replacement_created_first_takes_the_other_default_name() {
        static ATTRS: [Attr; 1] = [Attr::optional("name", AttrType::Str).default_name(NameRule::new(63, true, ""))];
        let schema = Schema {
            attrs: &ATTRS,
            guarded: false,
            taggable: false,
            ownership: Ownership::Untagged,
            pricing: Pricing::Free,
        };
        let addr: crate::addr::ResourceAddr = "db_parameter_group.main".parse().unwrap();
        let rule = NameRule::new(63, true, "");
        let (a, b) = (rule.name_for("prod", &addr), rule.alternate_for("prod", &addr));
        assert_ne!(a, b);
        let settle = |held: Option<&str>, replacing_first: bool, configured: bool| {
            let current: BTreeMap<String, Value> =
                held.map(|h| [("name".to_owned(), Value::str(h))].into()).unwrap_or_default();
            let mut desired = BTreeMap::new();
            schema.settle_default_names(&mut desired, &|_| configured, Some(&current), replacing_first, "prod", &addr);
            desired.get("name").and_then(Value::as_str).map(str::to_owned)
        };
        // An object keeps whichever of its two default names it holds.
        assert_eq!(settle(Some(&a), false, false).as_deref(), Some(a.as_str()));
        assert_eq!(settle(Some(&b), false, false).as_deref(), Some(b.as_str()));
        assert_eq!(settle(None, false, false).as_deref(), Some(a.as_str()));
        // A replacement created first never takes the old object's name.
        assert_eq!(settle(Some(&a), true, false).as_deref(), Some(b.as_str()));
        assert_eq!(settle(Some(&b), true, false).as_deref(), Some(a.as_str()));
        // A name the config sets is left alone.
        assert_eq!(settle(Some(&a), true, true), None);
        // Long names stay within the limit and differ.
        let long: crate::addr::ResourceAddr = format!("db_parameter_group.{}", "x".repeat(80)).parse().unwrap();
        let (la, lb) = (rule.name_for("prod", &long), rule.alternate_for("prod", &long));
        assert!(la.len() <= 63 && lb.len() <= 63 && la != lb, "{la} {lb}");
    }

    fn check(c: Constraint, v: Value) -> Result<(), String> {
        c.check(&v).map_err(|e| e.message)
    }

    fn kind(k: Kind, s: &str) -> Result<(), String> {
        check(Constraint::Pattern(k), Value::str(s))
    }

    #[test]
    fn ranges_and_enums() {
        let window = Constraint::Range(7, 30);
        assert_eq!(check(window, Value::Int(7)), Ok(()));
        assert_eq!(check(window, Value::Int(31)), Err("must be between 7 and 30, got 31".into()));
        // Other types and unknown values are left to the type check.
        assert_eq!(check(window, Value::str("x")), Ok(()));
        assert_eq!(check(window, Value::Unknown), Ok(()));
        let storage = Constraint::OneOf(&["gp2", "gp3", "io1"]);
        let e = storage.check(&Value::str("io2")).unwrap_err();
        assert_eq!((e.message.as_str(), e.hint.as_deref()), ("cannot be `io2`", Some("did you mean `io1`?")));
        let e = storage.check(&Value::str("magnetic-disk")).unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("use one of: gp2, gp3, io1"));
        assert!(check(Constraint::IntOneOf(&[0, 60]), Value::Int(2)).is_err());
        assert!(check(Constraint::MaxLen(3), Value::str("abcd")).is_err());
        assert!(check(Constraint::MaxLen(3), Value::str("ééé")).is_ok());
    }

    #[test]
    fn rds_identifiers() {
        for ok in ["a", "db-1", &"a".repeat(63)] {
            assert_eq!(kind(Kind::RdsIdentifier, ok), Ok(()), "{ok}");
        }
        for bad in ["", "1db", "db--1", "db-", "db_1", &"a".repeat(64)] {
            assert!(kind(Kind::RdsIdentifier, bad).is_err(), "{bad}");
        }
        assert!(kind(Kind::RdsName, &"a".repeat(255)).is_ok());
        assert!(kind(Kind::DbSubnetGroupName, "my group_1.x").is_ok());
        assert!(kind(Kind::DbSubnetGroupName, "default").is_err());
        assert!(kind(Kind::DbSubnetGroupName, "a/b").is_err());
        // A database may be placed in the default group and use AWS's default parameter groups.
        assert!(kind(Kind::DbSubnetGroupRef, "default").is_ok());
        assert!(kind(Kind::DbSubnetGroupRef, "a/b").is_err());
        assert!(kind(Kind::ParameterGroupRef, "default.aurora-postgresql16").is_ok());
        assert!(kind(Kind::ParameterGroupRef, "default.postgres16").is_ok());
        assert!(kind(Kind::ParameterGroupRef, "pg16-tuned").is_ok());
        assert!(kind(Kind::ParameterGroupRef, "default.").is_err());
        assert!(kind(Kind::ParameterGroupRef, "my.group").is_err(), "dots only in AWS's default groups");
        assert!(kind(Kind::PgName, "app_db").is_ok());
        assert!(kind(Kind::PgName, "_x").is_err());
        assert!(kind(Kind::InstanceClass, "db.r6g.large").is_ok());
        assert!(kind(Kind::InstanceClass, "db.serverless").is_ok());
        assert!(kind(Kind::InstanceClass, "r6g.large").is_err());
        assert!(kind(Kind::InstanceClass, "db..large").is_err());
    }

    #[test]
    fn windows() {
        assert_eq!(windows_meet("02:00-03:00", "sun:04:00-sun:05:00"), Some(false));
        assert_eq!(windows_meet("02:00-03:00", "sun:02:30-sun:03:30"), Some(true), "overlap");
        assert_eq!(windows_meet("02:00-03:00", "tue:03:00-tue:03:30"), Some(true), "touching counts");
        assert_eq!(windows_meet("02:00-03:00", "tue:01:00-tue:02:00"), Some(true), "touching at the start");
        assert_eq!(windows_meet("23:30-00:30", "wed:00:15-wed:01:00"), Some(true), "a backup past midnight");
        assert_eq!(windows_meet("23:30-00:30", "wed:00:31-wed:01:00"), Some(false));
        assert_eq!(
            windows_meet("12:00-12:30", "sun:23:00-mon:13:00"),
            Some(true),
            "a maintenance window over the week's end"
        );
        assert_eq!(windows_meet("14:00-14:30", "sun:23:00-mon:13:00"), Some(false));
        assert_eq!(windows_meet("bad", "sun:04:00-sun:05:00"), None);
        // Values known only at plan time (through references) meet the same rule.
        static WINDOWS: Schema = Schema {
            attrs: &[
                Attr::optional("backup", AttrType::Str).pattern(Kind::BackupWindow).apart_from("maintenance"),
                Attr::optional("maintenance", AttrType::Str).pattern(Kind::MaintenanceWindow),
            ],
            guarded: false,
            taggable: false,
            ownership: Ownership::Untagged,
            pricing: Pricing::Free,
        };
        let values = |b: &str, m: &str| {
            BTreeMap::from([("backup".into(), Value::str(b)), ("maintenance".into(), Value::str(m))])
        };
        let found = WINDOWS.check_values(&values("02:00-03:00", "sun:02:30-sun:03:30"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "backup");
        assert!(
            found[0].invalid.message.contains("meets `maintenance` (sun:02:30-sun:03:30)"),
            "{}",
            found[0].invalid.message
        );
        assert!(WINDOWS.check_values(&values("02:00-03:00", "sun:04:00-sun:05:00")).is_empty());
        assert!(kind(Kind::BackupWindow, "03:00-03:30").is_ok());
        assert!(kind(Kind::BackupWindow, "23:45-00:15").is_ok(), "wraps past midnight");
        assert_eq!(
            kind(Kind::BackupWindow, "03:00-03:10"),
            Err("must be at least 30 minutes long, got `03:00-03:10`".into())
        );
        assert!(kind(Kind::BackupWindow, "24:00-01:00").is_err());
        assert!(kind(Kind::BackupWindow, "3:00-4:00").is_err());
        assert!(kind(Kind::MaintenanceWindow, "Sun:05:00-sun:05:30").is_ok());
        assert!(kind(Kind::MaintenanceWindow, "sun:23:50-mon:00:20").is_ok());
        assert!(kind(Kind::MaintenanceWindow, "sat:23:50-sun:00:00").is_err());
        assert!(kind(Kind::MaintenanceWindow, "xyz:05:00-sun:06:00").is_err());
    }

    #[test]
    fn cidr_blocks() {
        assert!(kind(Kind::Ipv4Cidr, "0.0.0.0/0").is_ok());
        assert!(kind(Kind::Ipv4Cidr, "10.1.2.3/32").is_ok());
        let e = Constraint::Pattern(Kind::Ipv4Cidr).check(&Value::str("10.0.0.1/16")).unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `10.0.0.0/16`?"));
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0/8", "10.0.0.0/+8", "x/8", "10.0.0.0/"] {
            assert!(kind(Kind::Ipv4Cidr, bad).is_err(), "{bad}");
        }
        assert_eq!(kind(Kind::VpcCidr, "10.0.0.0/8"), Err("must have a prefix from /16 to /28, got /8".into()));
        assert!(kind(Kind::VpcCidr, "10.0.0.0/28").is_ok());
        assert!(kind(Kind::Ipv6Cidr, "::/0").is_ok());
        assert!(kind(Kind::Ipv6Cidr, "2001:db8::/32").is_ok());
        assert!(kind(Kind::Ipv6Cidr, "2001:db8::1/32").is_err());
        assert!(kind(Kind::Ipv6Cidr, "2001:db8::/129").is_err());
    }

    #[test]
    fn security_groups_and_kms() {
        for ok in ["tcp", "UDP", "-1", "all", "icmpv6", "6", "255"] {
            assert!(kind(Kind::Protocol, ok).is_ok(), "{ok}");
        }
        let e = Constraint::Pattern(Kind::Protocol).check(&Value::str("tpc")).unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `tcp`?"));
        assert!(kind(Kind::Protocol, "256").is_err());
        assert!(kind(Kind::SecurityGroupName, "db (prod)").is_ok());
        assert!(kind(Kind::SecurityGroupName, "sg-123").is_err());
        assert!(kind(Kind::SecurityGroupName, "").is_err());
        assert!(kind(Kind::SecretName, "greenlang/prod/database/app").is_ok());
        assert!(kind(Kind::SecretName, "has space").is_err());
        assert!(kind(Kind::SecretName, "").is_err());
        assert!(kind(Kind::SecurityGroupText, "").is_ok());
        assert!(kind(Kind::SecurityGroupText, "café").is_err());
        assert!(kind(Kind::KmsAlias, "app/db").is_ok());
        assert!(kind(Kind::KmsAlias, "alias/app-db").is_ok());
        assert!(kind(Kind::KmsAlias, "alias/aws/rds").is_err());
        assert!(kind(Kind::KmsAlias, "alias/").is_err());
        assert!(kind(Kind::KmsAlias, "a b").is_err());
        assert!(kind(Kind::Arn, "arn:aws:iam::123456789012:role/x").is_ok());
        assert!(kind(Kind::Arn, "role/x").is_err());
        assert!(kind(Kind::IamRoleName, "pg-replication_role+x=y,z.a@b").is_ok());
        assert!(kind(Kind::IamRoleName, &"r".repeat(64)).is_ok());
        assert!(kind(Kind::IamRoleName, &"r".repeat(65)).is_err());
        assert!(kind(Kind::IamRoleName, "").is_err());
        assert!(kind(Kind::IamRoleName, "a/b").is_err());
        assert!(kind(Kind::IamRoleName, "rôle").is_err());
        assert!(kind(Kind::IamPolicyName, &"p".repeat(128)).is_ok());
        assert!(kind(Kind::IamPolicyName, &"p".repeat(129)).is_err());
        for ok in ["/", "/service-role/", "/a/b/"] {
            assert!(kind(Kind::IamPath, ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/", "/a", "//", "/a b/", &format!("/{}/", "a".repeat(511))] {
            assert!(kind(Kind::IamPath, bad).is_err(), "{bad}");
        }
        let pi = Constraint::Pattern(Kind::PerformanceInsightsRetention);
        for ok in [7, 31, 62, 713, 731] {
            assert!(pi.check(&Value::Int(ok)).is_ok(), "{ok}");
        }
        for bad in [0, 8, 30, 744, 732] {
            assert!(pi.check(&Value::Int(bad)).is_err(), "{bad}");
        }
        let period = Constraint::Pattern(Kind::AlarmPeriod);
        for ok in [10, 20, 30, 60, 300, 86400] {
            assert!(period.check(&Value::Int(ok)).is_ok(), "{ok}");
        }
        for bad in [0, -60, 15, 45, 90, 60 << 32] {
            assert!(period.check(&Value::Int(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn s3_bucket_names() {
        for ok in ["abc", "acme-pg-backups-use1", "a.b-c", &"a".repeat(63), "1.2.3.x"] {
            assert_eq!(kind(Kind::S3BucketName, ok), Ok(()), "{ok}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "-abc",
            "abc.",
            "a..b",
            "a_b",
            "10.0.0.1",
            "xn--abc",
            "sthree-x",
            "abc-s3alias",
            "abc--x-s3",
        ] {
            assert!(kind(Kind::S3BucketName, bad).is_err(), "{bad}");
        }
        let e = Constraint::Pattern(Kind::S3BucketName).check(&Value::str("Acme-Backups")).unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `acme-backups`?"));
    }

    #[test]
    fn tags() {
        let t = Constraint::Pattern(Kind::Tags);
        assert!(t.check_key("Name").is_ok());
        assert!(t.check_key(&"k".repeat(128)).is_ok());
        assert_eq!(t.check_key(&"k".repeat(129)).unwrap_err().message, "has a tag key longer than 128 characters");
        assert!(t.check_key("").is_err());
        assert!(t.check_key("AWS:x").is_err());
        assert!(t.check_key("a\u{1b}[31m").unwrap_err().message.contains("\\u{1b}"));
        assert!(t.check(&Value::str("")).is_ok());
        assert!(t.check(&Value::str("v".repeat(257))).is_err());
        assert!(t.check(&Value::str("a\nb")).is_err());
        // Keys of other tables are free.
        assert!(Constraint::MaxLen(1).check_key("long key").is_ok());
        assert!(check_tag_count(MAX_TAGS).is_ok());
        let over = check_tag_count(MAX_TAGS + 2).unwrap_err();
        assert!(
            over.message.starts_with("has 52 tags, counting the stack's tags and the 2 ownership tags"),
            "{over:?}"
        );
        assert_eq!(over.hint.as_deref(), Some("remove 2 of them (here or in [stack] tags)"));
    }

    #[test]
    fn check_values_walks_lists_tables_and_objects() {
        static RULE: [Attr; 2] = [
            Attr::required("port", AttrType::Int).range(0, 10),
            Attr::optional("cidrs", AttrType::List(&AttrType::Str)).pattern(Kind::Ipv4Cidr),
        ];
        static S: Schema = Schema {
            attrs: &[
                Attr::optional("rules", AttrType::List(&AttrType::Object(&RULE))),
                Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
                Attr::optional("size", AttrType::Int).range(1, 2),
            ],
            guarded: false,
            taggable: true,
            ownership: Ownership::Listed,
            pricing: Pricing::Free,
        };
        let rule = |port, cidr: &str| {
            Value::Map(BTreeMap::from([
                ("port".to_owned(), Value::Int(port)),
                ("cidrs".to_owned(), Value::List(vec![Value::str(cidr)])),
            ]))
        };
        let attrs = BTreeMap::from([
            ("rules".to_owned(), Value::List(vec![rule(1, "10.0.0.0/8"), rule(11, "10.0.0.1/8")])),
            ("tags".to_owned(), Value::Map(BTreeMap::from([("aws:x".to_owned(), Value::str("v"))]))),
            ("size".to_owned(), Value::Unknown),
            ("other".to_owned(), Value::Int(99)),
        ]);
        let paths: Vec<String> = S.check_values(&attrs).into_iter().map(|v| v.path).collect();
        assert_eq!(paths, ["rules[1].cidrs[0]", "rules[1].port", "tags.aws:x"]);
        // Known only at plan: the count of the whole table.
        let many: BTreeMap<String, Value> = (0..51).map(|i| (format!("k{i}"), Value::Unknown)).collect();
        let attrs = BTreeMap::from([("tags".to_owned(), Value::Map(many))]);
        let found = S.check_values(&attrs);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "tags");
        assert!(found[0].invalid.message.starts_with("has 51 tags"), "{found:?}");
    }
}
