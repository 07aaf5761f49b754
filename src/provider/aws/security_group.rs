//! `security_group`: a VPC security group and its ingress and egress rules.
//!
//! Rules have one canonical form, produced both by `normalize` (from config)
//! and by reads (from AWS), so equal rule sets compare equal value for value:
//! - atomic: one rule per peer, i.e. exactly one of a CIDR, an IPv6 CIDR, a
//!   prefix list, another group, or `self = true` (a group pair naming the
//!   group itself reads back as `self`);
//! - protocol names: `tcp`, `udp`, `icmp`, `icmpv6` (numbers 6, 17, 1, 58
//!   map to them), `-1` for all protocols (`all` maps to it);
//! - ports: kept for tcp, udp and icmp(v6); `0`/`0` for protocols without
//!   ports (AWS ignores them and reports none);
//! - every field present in every rule (empty lists, `self = false`,
//!   `description = ""`); rules sorted, duplicates dropped.
//!
//! `ingress` or `egress` left unset is not managed: AWS's rules stay (the
//! default allow-all egress causes no diff). Set, it is managed exactly: rules
//! not listed are revoked, the default egress rule included, right after
//! create. Rule changes apply in place: authorize the added rules first (no
//! gap in access), update descriptions of rules that only changed their
//! description, then revoke the removed rules.
//!
//! Read: one paged DescribeSecurityGroups filtered by `group-id` (200 ids per
//! call), which carries rules, tags and ARN. Create and update end with a read
//! of the group, because the rules AWS adds on its own (default egress, IPv6
//! egress in IPv6 VPCs) are only known from AWS.
//!
//! Eventual consistency: CreateSecurityGroup in a VPC this run created, and
//! rule calls on a group this run created or naming one, are sent again
//! while EC2 answers that it does not show it yet ([`ec2::send_naming`]); a
//! new group DescribeSecurityGroups does not list yet is polled for. Delete:
//! DeleteSecurityGroup, sent again while AWS answers `DependencyViolation`
//! (the network interfaces of a database or interface endpoint just deleted
//! hold the group for minutes; [`ec2::delete_retrying`] names them).
//!
//! Orphan scan (`list_owned`): the region's shared GetResources ([`super::owned`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType as Ec2ResourceType, SecurityGroup as AwsGroup,
    UserIdGroupPair,
};

use super::ec2::{
    self, Named, arn, delete_retrying, describe_all, describe_in_chunks, filter, insert_tags, send_naming, sync_tags,
    tag_specification,
};
use super::owned;
use super::{DEFAULT_DESCRIPTION, factory, get_str};
use crate::addr::ResourceAddr;
use crate::provider::schema::{Attr, AttrType, Default, Kind, NameRule, Ownership, Pricing, Schema};
use crate::provider::waiter::{Backoff, Poll, wait_for};
use crate::provider::{
    Ctx, Intent, Owned, PlannedUpdate, ProviderError, ReadScope, Refusal, ResourceType, Result, same_name_refusal,
};
use crate::value::{Attrs, Value};

static RULE_FIELDS: [Attr; 9] = [
    Attr::required("from_port", AttrType::Int).range(-1, 65535),
    Attr::required("to_port", AttrType::Int).range(-1, 65535),
    Attr::required("protocol", AttrType::Str).pattern(Kind::Protocol),
    Attr::optional("cidr_blocks", AttrType::Set(&AttrType::Str)).pattern(Kind::Ipv4Cidr),
    Attr::optional("ipv6_cidr_blocks", AttrType::Set(&AttrType::Str)).pattern(Kind::Ipv6Cidr),
    Attr::optional("prefix_list_ids", AttrType::Set(&AttrType::Str)),
    Attr::optional("security_groups", AttrType::Set(&AttrType::Str)),
    Attr::optional("self", AttrType::Bool),
    Attr::optional("description", AttrType::Str).pattern(Kind::SecurityGroupText),
];

static RULE: AttrType = AttrType::Object(&RULE_FIELDS);

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        Attr::optional("name", AttrType::Str)
            .force_new()
            .pattern(Kind::SecurityGroupName)
            .default_name(NameRule::new(255, false, "._")),
        // AWS cannot change a group's description.
        Attr::optional("description", AttrType::Str)
            .default(Default::Str(DEFAULT_DESCRIPTION))
            .force_new()
            .pattern(Kind::SecurityGroupText),
        Attr::required("vpc_id", AttrType::Str).force_new(),
        Attr::optional("ingress", AttrType::Set(&RULE)),
        Attr::optional("egress", AttrType::Set(&RULE)),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: false,
    taggable: true,
    ownership: Ownership::indexed("ec2:security-group", "security-group/"),
    pricing: Pricing::Free,
};

/// Pauses between reads of a new group DescribeSecurityGroups does not list yet.
const LISTED_BACKOFF: Backoff = Backoff { first: Duration::from_millis(250), factor: 2.0, cap: Duration::from_secs(4) };

/// The `security_group` resource type.
pub struct SecurityGroup;

/// Ingress or egress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// The other end of an atomic rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Peer {
    Cidr(String),
    Ipv6(String),
    PrefixList(String),
    Group(String),
    /// The group itself.
    Myself,
    /// Config named none: kept so the error surfaces at apply, not lost.
    Missing,
}

/// One canonical atomic rule. Field order is the sort order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rule {
    protocol: String,
    from_port: i64,
    to_port: i64,
    peer: Peer,
    description: String,
}

/// What identifies a permission in AWS; the description is a label on it.
type RuleKey = (String, i64, i64, Peer);

/// The canonical protocol name: lowercase, numbers of named protocols mapped
/// to their names, `all` to `-1`.
fn protocol_name(p: &str) -> String {
    let p = p.trim().to_ascii_lowercase();
    match p.as_str() {
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "58" => "icmpv6".into(),
        "all" => "-1".into(),
        _ => p,
    }
}

/// Protocols whose rules carry meaningful port (or ICMP type/code) ranges.
fn has_ports(protocol: &str) -> bool {
    matches!(protocol, "tcp" | "udp" | "icmp" | "icmpv6")
}

impl Rule {
    fn new(protocol: &str, from_port: i64, to_port: i64, peer: Peer, description: &str) -> Rule {
        let protocol = protocol_name(protocol);
        let (from_port, to_port) = if has_ports(&protocol) { (from_port, to_port) } else { (0, 0) };
        Rule { protocol, from_port, to_port, peer, description: description.to_owned() }
    }

    fn key(&self) -> RuleKey {
        (self.protocol.clone(), self.from_port, self.to_port, self.peer.clone())
    }

    fn to_value(&self) -> Value {
        let one = |p: Option<&String>| Value::from(p.into_iter().cloned().collect::<Vec<_>>());
        let pick = |f: fn(&Peer) -> Option<&String>| one(f(&self.peer));
        let mut m = BTreeMap::new();
        m.insert("from_port".into(), Value::Int(self.from_port));
        m.insert("to_port".into(), Value::Int(self.to_port));
        m.insert("protocol".into(), Value::str(&self.protocol));
        m.insert("cidr_blocks".into(), pick(|p| if let Peer::Cidr(c) = p { Some(c) } else { None }));
        m.insert("ipv6_cidr_blocks".into(), pick(|p| if let Peer::Ipv6(c) = p { Some(c) } else { None }));
        m.insert("prefix_list_ids".into(), pick(|p| if let Peer::PrefixList(c) = p { Some(c) } else { None }));
        m.insert("security_groups".into(), pick(|p| if let Peer::Group(c) = p { Some(c) } else { None }));
        m.insert("self".into(), Value::Bool(self.peer == Peer::Myself));
        m.insert("description".into(), Value::str(&self.description));
        Value::Map(m)
    }

    /// "tcp 5432-5432 from 10.0.0.0/8", for error messages.
    fn describe(&self, dir: Direction) -> String {
        let peer = match &self.peer {
            Peer::Cidr(s) | Peer::Ipv6(s) | Peer::PrefixList(s) | Peer::Group(s) => s.clone(),
            Peer::Myself => "self".into(),
            Peer::Missing => "nothing".into(),
        };
        let way = if dir == Direction::Ingress { "from" } else { "to" };
        format!("{} {}-{} {way} {peer}", self.protocol, self.from_port, self.to_port)
    }
}

/// Sorted and deduplicated.
fn canonical(mut rules: Vec<Rule>) -> Vec<Rule> {
    rules.sort();
    rules.dedup();
    rules
}

/// Expands rules as written in config (or already canonical) into atomic
/// rules. A rule that names no peer becomes one `Peer::Missing` rule.
fn rules_from_config(v: &Value) -> Vec<Rule> {
    let mut out = Vec::new();
    for rule in v.as_list().unwrap_or_default() {
        let Some(m) = rule.as_map() else { continue };
        let protocol = match m.get("protocol") {
            Some(Value::Str(s)) => s.clone(),
            Some(Value::Int(i)) => i.to_string(),
            _ => String::new(),
        };
        let port = |name: &str| m.get(name).and_then(Value::as_i64).unwrap_or(0);
        let list = |name: &str| m.get(name).map(Value::string_list).unwrap_or_default();
        let description = m.get("description").and_then(Value::as_str).unwrap_or_default();
        let mut peers: Vec<Peer> = list("cidr_blocks").into_iter().map(Peer::Cidr).collect();
        peers.extend(list("ipv6_cidr_blocks").into_iter().map(Peer::Ipv6));
        peers.extend(list("prefix_list_ids").into_iter().map(Peer::PrefixList));
        peers.extend(list("security_groups").into_iter().map(Peer::Group));
        if m.get("self").and_then(Value::as_bool) == Some(true) {
            peers.push(Peer::Myself);
        }
        if peers.is_empty() {
            peers.push(Peer::Missing);
        }
        let (from, to) = (port("from_port"), port("to_port"));
        out.extend(peers.into_iter().map(|peer| Rule::new(&protocol, from, to, peer, description)));
    }
    canonical(out)
}

/// Atomic rules from AWS's permissions of group `own_id`.
fn rules_from_aws(perms: &[IpPermission], own_id: &str) -> Vec<Rule> {
    let mut out = Vec::new();
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or("-1");
        let from = i64::from(p.from_port().unwrap_or(0));
        let to = i64::from(p.to_port().unwrap_or(0));
        let mut add = |peer, description: Option<&str>| {
            out.push(Rule::new(protocol, from, to, peer, description.unwrap_or_default()));
        };
        for r in p.ip_ranges() {
            if let Some(c) = r.cidr_ip() {
                add(Peer::Cidr(c.to_owned()), r.description());
            }
        }
        for r in p.ipv6_ranges() {
            if let Some(c) = r.cidr_ipv6() {
                add(Peer::Ipv6(c.to_owned()), r.description());
            }
        }
        for r in p.prefix_list_ids() {
            if let Some(id) = r.prefix_list_id() {
                add(Peer::PrefixList(id.to_owned()), r.description());
            }
        }
        for g in p.user_id_group_pairs() {
            match g.group_id().or(g.group_name()) {
                Some(id) if id == own_id => add(Peer::Myself, g.description()),
                Some(id) => add(Peer::Group(id.to_owned()), g.description()),
                None => {}
            }
        }
    }
    canonical(out)
}

fn rules_value(rules: &[Rule]) -> Value {
    Value::List(rules.iter().map(Rule::to_value).collect())
}

/// AWS permissions for `rules` of group `own_id`, one per protocol and port
/// range. Fails on a rule without a peer or with ports AWS cannot hold.
fn permissions(rules: &[Rule], own_id: &str, dir: Direction) -> Result<Vec<IpPermission>> {
    let mut grouped: BTreeMap<(&str, i64, i64), Vec<&Rule>> = BTreeMap::new();
    for r in rules {
        grouped.entry((r.protocol.as_str(), r.from_port, r.to_port)).or_default().push(r);
    }
    let mut out = Vec::new();
    for ((protocol, from, to), rules) in grouped {
        let port = |p: i64, r: &Rule| {
            i32::try_from(p).map_err(|_| {
                ProviderError::Invalid(format!(
                    "security_group {} rule {}: port out of range",
                    dir.attr(),
                    r.describe(dir)
                ))
            })
        };
        let mut perm =
            IpPermission::builder().ip_protocol(protocol).from_port(port(from, rules[0])?).to_port(port(to, rules[0])?);
        for r in rules {
            let description = (!r.description.is_empty()).then(|| r.description.clone());
            perm = match &r.peer {
                Peer::Cidr(c) => perm.ip_ranges(IpRange::builder().cidr_ip(c).set_description(description).build()),
                Peer::Ipv6(c) => {
                    perm.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).set_description(description).build())
                }
                Peer::PrefixList(id) => perm
                    .prefix_list_ids(PrefixListId::builder().prefix_list_id(id).set_description(description).build()),
                Peer::Group(id) => perm
                    .user_id_group_pairs(UserIdGroupPair::builder().group_id(id).set_description(description).build()),
                Peer::Myself => perm.user_id_group_pairs(
                    UserIdGroupPair::builder().group_id(own_id).set_description(description).build(),
                ),
                Peer::Missing => {
                    return Err(ProviderError::Invalid(format!(
                        "security_group {} rule {} names no peer: set cidr_blocks, ipv6_cidr_blocks, \
                         prefix_list_ids, security_groups or self = true",
                        dir.attr(),
                        r.describe(dir)
                    )));
                }
            };
        }
        out.push(perm.build());
    }
    Ok(out)
}

/// How to get from one rule set to another.
#[derive(Debug, Default, PartialEq)]
struct RuleChanges {
    /// Rules to authorize.
    added: Vec<Rule>,
    /// Rules whose permission exists and only the description changes.
    relabeled: Vec<Rule>,
    /// Rules to revoke, as they exist now.
    removed: Vec<Rule>,
}

impl RuleChanges {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.relabeled.is_empty() && self.removed.is_empty()
    }
}

/// The changes from `current` to `desired`. Fails when `desired` lists one
/// permission twice with different descriptions (AWS holds one description).
fn rule_changes(current: &[Rule], desired: &[Rule], dir: Direction) -> Result<RuleChanges> {
    let mut want: BTreeMap<RuleKey, &Rule> = BTreeMap::new();
    for r in desired {
        if let Some(other) = want.insert(r.key(), r)
            && other.description != r.description
        {
            return Err(ProviderError::Invalid(format!(
                "security_group {} rule {} is listed twice, with descriptions {:?} and {:?}",
                dir.attr(),
                r.describe(dir),
                other.description,
                r.description
            )));
        }
    }
    let have: BTreeMap<RuleKey, &Rule> = current.iter().map(|r| (r.key(), r)).collect();
    let mut changes = RuleChanges::default();
    for (key, r) in &want {
        match have.get(key) {
            None => changes.added.push((*r).clone()),
            Some(now) if now.description != r.description => changes.relabeled.push((*r).clone()),
            Some(_) => {}
        }
    }
    changes.removed = have.iter().filter(|(k, _)| !want.contains_key(*k)).map(|(_, r)| (*r).clone()).collect();
    Ok(changes)
}

/// The rules of `attrs[dir]` (canonical values), or `None` when unset.
fn rules_of(attrs: &Attrs, dir: Direction) -> Option<Vec<Rule>> {
    attrs.get(dir.attr()).filter(|v| !v.is_null()).map(rules_from_config)
}

/// Attributes of a group as AWS describes it; `None` without an id.
fn group_attrs(g: &AwsGroup, region: &str) -> Option<(String, Attrs)> {
    let id = g.group_id()?.to_owned();
    let arn = g
        .security_group_arn()
        .map(str::to_owned)
        .or_else(|| g.owner_id().map(|o| arn(region, o, "security-group", &id)));
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(&id));
    a.insert("arn".into(), arn.into());
    a.insert("name".into(), g.group_name().into());
    a.insert("description".into(), g.description().into());
    a.insert("vpc_id".into(), g.vpc_id().into());
    a.insert("ingress".into(), rules_value(&rules_from_aws(g.ip_permissions(), &id)));
    a.insert("egress".into(), rules_value(&rules_from_aws(g.ip_permissions_egress(), &id)));
    insert_tags(&mut a, g.tags());
    Some((id, a))
}

async fn describe_groups(client: &Client, region: &str, ids: &[String]) -> Result<BTreeMap<String, Attrs>> {
    let groups = describe_in_chunks(ids, |chunk| async move {
        describe_all!(client.describe_security_groups(), vec![filter("group-id", chunk)], "DescribeSecurityGroups")
    })
    .await?;
    Ok(groups.iter().filter_map(|g| group_attrs(g, region)).collect())
}

/// Reads group `id` after writing it. A group this run created that
/// DescribeSecurityGroups does not list yet (EC2 is eventually consistent)
/// is polled for up to the resource's timeout, else
/// [`ec2::NEW_OBJECT_WAIT`]; any other group is read once.
async fn read_own_write(ctx: &Ctx, client: &Client, id: &str) -> Result<Attrs> {
    let read = || async { Ok(describe_groups(client, &ctx.region, &[id.to_owned()]).await?.remove(id)) };
    if !ctx.created_this_run(id) {
        return read().await?.ok_or_else(|| ProviderError::NotFound(format!("security group {id}")));
    }
    let what = format!("EC2 to list security group {id}");
    wait_for(ctx, &what, ec2::NEW_OBJECT_WAIT, LISTED_BACKOFF, || async {
        Ok(match read().await? {
            Some(attrs) => Poll::Ready(attrs),
            None => Poll::Pending("not listed yet".to_owned()),
        })
    })
    .await
}

/// Sends one rule operation for `dir`; nothing when `rules` is empty. A
/// repeated call that AWS had already carried out (the SDK retries a 5xx that
/// came after the work) fails as a whole with "rule already exists" (or "not
/// found", for a revoke); then each rule is sent on its own, and those
/// answers count as done.
async fn send_rules(ctx: &Ctx, client: &Client, id: &str, dir: Direction, op: RuleOp, rules: &[Rule]) -> Result<()> {
    match send_rules_once(ctx, client, id, dir, op, rules).await {
        Err(e) if already_done(op, &e) && rules.len() > 1 => {
            for rule in rules {
                match send_rules_once(ctx, client, id, dir, op, std::slice::from_ref(rule)).await {
                    Err(e) if already_done(op, &e) => {}
                    other => other?,
                }
            }
            Ok(())
        }
        Err(e) if already_done(op, &e) => Ok(()),
        other => other,
    }
}

/// True when `err` says the rule operation `op` had nothing left to do.
fn already_done(op: RuleOp, err: &ProviderError) -> bool {
    let ProviderError::Api { code, .. } = err else { return false };
    matches!(
        (op, code.as_str()),
        (RuleOp::Authorize, "InvalidPermission.Duplicate") | (RuleOp::Revoke, "InvalidPermission.NotFound")
    )
}

/// One call of [`send_rules`]. The group itself and the groups its rules
/// name may be new: EC2 refusing one this run created as not found yet is
/// waited out ([`send_naming`]).
async fn send_rules_once(
    ctx: &Ctx,
    client: &Client,
    id: &str,
    dir: Direction,
    op: RuleOp,
    rules: &[Rule],
) -> Result<()> {
    if rules.is_empty() {
        return Ok(());
    }
    let perms = Some(permissions(rules, id, dir)?);
    let peers = rules.iter().filter_map(|r| match &r.peer {
        Peer::Group(group) => Some((Named::Group, group.as_str())),
        _ => None,
    });
    let named: Vec<(Named, &str)> = std::iter::once((Named::Group, id)).chain(peers).collect();
    macro_rules! send {
        ($call:ident, $name:literal) => {{
            let request = client.$call().group_id(id).set_ip_permissions(perms);
            send_naming(ctx, $name, &named, || request.clone().send()).await.map(|_| ())
        }};
    }
    match (dir, op) {
        (Direction::Ingress, RuleOp::Authorize) => {
            send!(authorize_security_group_ingress, "AuthorizeSecurityGroupIngress")
        }
        (Direction::Egress, RuleOp::Authorize) => {
            send!(authorize_security_group_egress, "AuthorizeSecurityGroupEgress")
        }
        (Direction::Ingress, RuleOp::Relabel) => {
            send!(update_security_group_rule_descriptions_ingress, "UpdateSecurityGroupRuleDescriptionsIngress")
        }
        (Direction::Egress, RuleOp::Relabel) => {
            send!(update_security_group_rule_descriptions_egress, "UpdateSecurityGroupRuleDescriptionsEgress")
        }
        (Direction::Ingress, RuleOp::Revoke) => send!(revoke_security_group_ingress, "RevokeSecurityGroupIngress"),
        (Direction::Egress, RuleOp::Revoke) => send!(revoke_security_group_egress, "RevokeSecurityGroupEgress"),
    }
}

#[derive(Debug, Clone, Copy)]
enum RuleOp {
    Authorize,
    Relabel,
    Revoke,
}

/// Brings the managed rule sets of group `id` from `current` to `desired`;
/// true when anything was sent.
async fn apply_rules(ctx: &Ctx, client: &Client, id: &str, current: &Attrs, desired: &Attrs) -> Result<bool> {
    let mut changed = false;
    for dir in [Direction::Ingress, Direction::Egress] {
        let Some(want) = rules_of(desired, dir) else { continue };
        let changes = rule_changes(&rules_of(current, dir).unwrap_or_default(), &want, dir)?;
        send_rules(ctx, client, id, dir, RuleOp::Authorize, &changes.added).await?;
        send_rules(ctx, client, id, dir, RuleOp::Relabel, &changes.relabeled).await?;
        send_rules(ctx, client, id, dir, RuleOp::Revoke, &changes.removed).await?;
        changed |= !changes.is_empty();
    }
    Ok(changed)
}

#[async_trait]
impl ResourceType for SecurityGroup {
    fn type_name(&self) -> &'static str {
        "security_group"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// A group in use by a database cannot be deleted before its replacement takes over.
    fn create_before_destroy(&self) -> bool {
        true
    }

    /// A group created first cannot keep the old one's name in the same VPC.
    fn refuse(&self, current: &Attrs, intent: Intent<'_>) -> Vec<Refusal> {
        let Intent::Replace { desired, create_first: true } = intent else { return Vec::new() };
        let same = |a: &str| desired.get(a).is_some_and(|v| Some(v) == current.get(a));
        if same("name") && same("vpc_id") { vec![same_name_refusal("name")] } else { Vec::new() }
    }

    fn normalize(&self, desired: &mut Attrs) {
        for dir in [Direction::Ingress, Direction::Egress] {
            if let Some(rules) = rules_of(desired, dir) {
                desired.insert(dir.attr().into(), rules_value(&rules));
            }
        }
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], _scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        describe_groups(&client, &ctx.region, ids).await
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        let required = |name: &str| {
            get_str(desired, name).ok_or_else(|| ProviderError::Invalid(format!("security_group needs {name}")))
        };
        let vpc_id = required("vpc_id")?;
        let request = client
            .create_security_group()
            .group_name(required("name")?)
            .description(get_str(desired, "description").unwrap_or(DEFAULT_DESCRIPTION))
            .vpc_id(vpc_id)
            .set_tag_specifications(tag_specification(Ec2ResourceType::SecurityGroup, desired).map(|t| vec![t]));
        let out = send_naming(ctx, "CreateSecurityGroup", &[(Named::Vpc, vpc_id)], || request.clone().send()).await?;
        let id = out
            .group_id()
            .ok_or_else(|| ProviderError::Invalid("CreateSecurityGroup answered without a group id".into()))?;
        ctx.record_created(id);
        let created = read_own_write(ctx, &client, id).await?;
        if apply_rules(ctx, &client, id, &created, desired).await? {
            read_own_write(ctx, &client, id).await
        } else {
            Ok(created)
        }
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        if update.changes_any(&["ingress", "egress"]) {
            apply_rules(ctx, &client, id, &update.before, &update.after).await?;
        }
        sync_tags(&client, id, update).await?;
        read_own_write(ctx, &client, id).await
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _prior: &Attrs) -> Result<()> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        let delete = || client.delete_security_group().group_id(id).send();
        delete_retrying(ctx, &client, "DeleteSecurityGroup", ("group-id", id), delete).await
    }

    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        Ok(self.find_all_created(ctx, addr).await?.into_iter().next())
    }

    async fn find_all_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Vec<String>> {
        let client = factory(ctx)?.ec2(&ctx.region).await;
        let groups: Vec<AwsGroup> =
            describe_all!(client.describe_security_groups(), ec2::stack_filters(ctx), "DescribeSecurityGroups")?;
        Ok(ec2::all_owned(groups.iter().map(|g| (g.group_id(), g.tags())), ctx, addr))
    }

    /// From the region's shared tagging index ([`owned::indexed`]).
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        owned::indexed(ctx, self.type_name(), known).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pairs: &[(&str, Value)]) -> Value {
        Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    fn strs(items: &[&str]) -> Value {
        Value::List(items.iter().map(|s| Value::str(*s)).collect())
    }

    fn normalized(rules: Vec<Value>) -> Value {
        let mut attrs = Attrs::new();
        attrs.insert("ingress".into(), Value::List(rules));
        SecurityGroup.normalize(&mut attrs);
        attrs.remove("ingress").unwrap()
    }

    #[test]
    fn a_group_created_first_must_not_keep_its_name_in_the_same_vpc() {
        let attrs = |name: &str, vpc: &str| -> Attrs {
            [("name".to_owned(), Value::str(name)), ("vpc_id".to_owned(), Value::str(vpc))].into()
        };
        let current = attrs("db", "vpc-1");
        let refused = |desired: &Attrs, create_first| {
            SecurityGroup
                .refuse(&current, Intent::Replace { desired, create_first })
                .iter()
                .map(|r| r.attr)
                .collect::<Vec<_>>()
        };
        assert_eq!(refused(&attrs("db", "vpc-1"), true), [Some("name")]);
        assert!(refused(&attrs("db", "vpc-1"), false).is_empty(), "the old group is deleted first");
        assert!(refused(&attrs("db2", "vpc-1"), true).is_empty());
        assert!(refused(&attrs("db", "vpc-2"), true).is_empty(), "names are unique per VPC");
        assert!(SecurityGroup.create_before_destroy());
    }

    #[test]
    fn expands_each_peer_into_its_own_complete_rule() {
        let v = normalized(vec![rule(&[
            ("from_port", 5432.into()),
            ("to_port", 5432.into()),
            ("protocol", "tcp".into()),
            ("cidr_blocks", strs(&["10.1.0.0/16", "10.0.0.0/16"])),
            ("security_groups", strs(&["sg-app"])),
            ("self", true.into()),
            ("description", "pg".into()),
        ])]);
        let rules = v.as_list().unwrap();
        assert_eq!(rules.len(), 4);
        let expected_keys = [
            "cidr_blocks",
            "description",
            "from_port",
            "ipv6_cidr_blocks",
            "prefix_list_ids",
            "protocol",
            "security_groups",
            "self",
            "to_port",
        ];
        for r in rules {
            let m = r.as_map().unwrap();
            assert_eq!(m.keys().map(String::as_str).collect::<Vec<_>>(), expected_keys);
            let peers = ["cidr_blocks", "ipv6_cidr_blocks", "prefix_list_ids", "security_groups"]
                .iter()
                .map(|k| m[*k].as_list().unwrap().len())
                .sum::<usize>()
                + usize::from(m["self"] == Value::Bool(true));
            assert_eq!(peers, 1, "exactly one peer per rule: {r}");
            assert_eq!(m["description"], Value::str("pg"));
        }
        // Sorted: CIDRs (in order) before the group, the group before self.
        assert_eq!(rules[0].as_map().unwrap()["cidr_blocks"], strs(&["10.0.0.0/16"]));
        assert_eq!(rules[1].as_map().unwrap()["cidr_blocks"], strs(&["10.1.0.0/16"]));
        assert_eq!(rules[2].as_map().unwrap()["security_groups"], strs(&["sg-app"]));
        assert_eq!(rules[3].as_map().unwrap()["self"], Value::Bool(true));
    }

    #[test]
    fn protocol_numbers_and_case_map_to_names_and_portless_protocols_to_zero() {
        let one = |protocol: Value, from: i64, to: i64| {
            let v = normalized(vec![rule(&[
                ("from_port", from.into()),
                ("to_port", to.into()),
                ("protocol", protocol),
                ("cidr_blocks", strs(&["0.0.0.0/0"])),
            ])]);
            let m = v.as_list().unwrap()[0].as_map().unwrap().clone();
            (
                m["protocol"].as_str().unwrap().to_owned(),
                m["from_port"].as_i64().unwrap(),
                m["to_port"].as_i64().unwrap(),
            )
        };
        assert_eq!(one("6".into(), 22, 22), ("tcp".into(), 22, 22));
        assert_eq!(one("TCP".into(), 22, 22), ("tcp".into(), 22, 22));
        assert_eq!(one(Value::Int(17), 53, 53), ("udp".into(), 53, 53));
        assert_eq!(one("1".into(), -1, -1), ("icmp".into(), -1, -1));
        assert_eq!(one("58".into(), 128, 0), ("icmpv6".into(), 128, 0));
        assert_eq!(one("all".into(), 0, 65535), ("-1".into(), 0, 0));
        assert_eq!(one("-1".into(), -1, -1), ("-1".into(), 0, 0));
        assert_eq!(one("50".into(), 10, 20), ("50".into(), 0, 0));
    }

    #[test]
    fn order_and_grouping_in_config_do_not_matter() {
        let a = normalized(vec![
            rule(&[
                ("from_port", 443.into()),
                ("to_port", 443.into()),
                ("protocol", "tcp".into()),
                ("cidr_blocks", strs(&["10.0.0.0/8", "192.168.0.0/16"])),
            ]),
            rule(&[("from_port", 22.into()), ("to_port", 22.into()), ("protocol", "6".into()), ("self", true.into())]),
        ]);
        let b = normalized(vec![
            rule(&[
                ("from_port", 22.into()),
                ("to_port", 22.into()),
                ("protocol", "tcp".into()),
                ("self", true.into()),
            ]),
            rule(&[
                ("from_port", 443.into()),
                ("to_port", 443.into()),
                ("protocol", "tcp".into()),
                ("cidr_blocks", strs(&["192.168.0.0/16"])),
            ]),
            rule(&[
                ("from_port", 443.into()),
                ("to_port", 443.into()),
                ("protocol", "tcp".into()),
                ("cidr_blocks", strs(&["10.0.0.0/8", "10.0.0.0/8"])),
            ]),
        ]);
        assert_eq!(a, b);
        assert_eq!(a.as_list().unwrap().len(), 3);
        // Canonical input is a fixed point.
        assert_eq!(normalized(a.as_list().unwrap().to_vec()), a);
    }

    #[test]
    fn a_pair_naming_the_group_itself_reads_back_as_self() {
        let perms = vec![
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(5432)
                .to_port(5432)
                .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-own").build())
                .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-app").description("app").build())
                .build(),
            IpPermission::builder()
                .ip_protocol("-1")
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        ];
        let rules = rules_from_aws(&perms, "sg-own");
        assert_eq!(
            rules,
            vec![
                Rule::new("-1", 0, 0, Peer::Cidr("0.0.0.0/0".into()), ""),
                Rule::new("tcp", 5432, 5432, Peer::Group("sg-app".into()), "app"),
                Rule::new("tcp", 5432, 5432, Peer::Myself, ""),
            ]
        );
    }

    #[test]
    fn permissions_read_back_as_the_same_rules() {
        let config = normalized(vec![
            rule(&[
                ("from_port", 5432.into()),
                ("to_port", 5432.into()),
                ("protocol", "tcp".into()),
                ("cidr_blocks", strs(&["10.0.0.0/16"])),
                ("ipv6_cidr_blocks", strs(&["2001:db8::/32"])),
                ("prefix_list_ids", strs(&["pl-123"])),
                ("security_groups", strs(&["sg-app"])),
                ("self", true.into()),
                ("description", "db".into()),
            ]),
            rule(&[
                ("from_port", 0.into()),
                ("to_port", 0.into()),
                ("protocol", "-1".into()),
                ("cidr_blocks", strs(&["0.0.0.0/0"])),
            ]),
        ]);
        let rules = rules_from_config(&config);
        let perms = permissions(&rules, "sg-own", Direction::Ingress).unwrap();
        assert_eq!(perms.len(), 2, "one permission per protocol and port range");
        assert_eq!(rules_from_aws(&perms, "sg-own"), rules);
    }

    #[test]
    fn a_rule_without_a_peer_fails_at_apply() {
        let rules = rules_from_config(&Value::List(vec![rule(&[
            ("from_port", 22.into()),
            ("to_port", 22.into()),
            ("protocol", "tcp".into()),
            ("self", false.into()),
        ])]));
        assert_eq!(rules, vec![Rule::new("tcp", 22, 22, Peer::Missing, "")]);
        let err = permissions(&rules, "sg-own", Direction::Ingress).unwrap_err();
        assert!(err.to_string().contains("names no peer"), "{err}");
    }

    #[test]
    fn changes_split_into_added_relabeled_and_removed() {
        let keep = Rule::new("tcp", 22, 22, Peer::Cidr("10.0.0.0/8".into()), "ssh");
        let relabel_old = Rule::new("tcp", 443, 443, Peer::Myself, "old");
        let relabel_new = Rule::new("tcp", 443, 443, Peer::Myself, "new");
        let gone = Rule::new("-1", 0, 0, Peer::Cidr("0.0.0.0/0".into()), "");
        let added = Rule::new("tcp", 5432, 5432, Peer::Group("sg-app".into()), "");
        let changes = rule_changes(
            &[keep.clone(), relabel_old, gone.clone()],
            &[keep, relabel_new.clone(), added.clone()],
            Direction::Egress,
        )
        .unwrap();
        assert_eq!(changes, RuleChanges { added: vec![added], relabeled: vec![relabel_new], removed: vec![gone] });
    }

    #[test]
    fn one_permission_with_two_descriptions_is_refused() {
        let a = Rule::new("tcp", 22, 22, Peer::Myself, "a");
        let b = Rule::new("tcp", 22, 22, Peer::Myself, "b");
        let err = rule_changes(&[], &[a, b], Direction::Ingress).unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
    }
}
