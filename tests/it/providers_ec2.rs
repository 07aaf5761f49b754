//! The EC2 resource types (`vpc`, `subnet`, `security_group`) against moto:
//! create and read back, in-place updates, out-of-band changes, ownership
//! lookups, import, delete, and reads of missing ids.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::types::{AttributeBooleanValue, IpPermission, IpRange, Tag, VpcAttributeName};
use pgstack::addr::ResourceAddr;
use pgstack::plan::diff::diff;
use pgstack::provider::aws::security_group::SecurityGroup;
use pgstack::provider::aws::subnet::Subnet;
use pgstack::provider::aws::vpc::Vpc;
use pgstack::provider::schema::{TAG_ADDRESS, TAG_STACK};
use pgstack::provider::{ReadScope, ResourceType};
use pgstack::value::{Attrs, Value};

use crate::support::moto::{REGION, moto};
use crate::support::provider::{read_one, update};

const STACK: &str = "ec2-test";

/// Desired attributes: `pairs` plus schema defaults, with tags that include
/// the ownership tags of `addr`, normalized as the engine would.
fn desired(t: &dyn ResourceType, addr: &str, pairs: &[(&str, Value)], tags: &[(&str, &str)]) -> Attrs {
    let mut a: Attrs = pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    for attr in t.schema().attrs {
        if let Some(d) = attr.default {
            a.entry(attr.name.to_owned()).or_insert_with(|| d.value());
        }
    }
    let mut all: BTreeMap<String, String> = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    all.insert(TAG_STACK.into(), STACK.into());
    all.insert(TAG_ADDRESS.into(), addr.into());
    a.insert("tags".into(), Value::from(all));
    t.normalize(&mut a);
    a
}

/// Asserts that `current` satisfies `desired` the way the plan checks it.
fn assert_no_diff(t: &dyn ResourceType, current: &Attrs, desired: &Attrs) {
    let changes = diff(t.schema(), current, desired, &[]);
    assert!(changes.is_empty(), "unexpected diff: {changes:?}");
}

fn id_of(attrs: &Attrs) -> String {
    attrs["id"].as_str().expect("id is a string").to_owned()
}

fn tag(attrs: &Attrs, key: &str) -> Option<String> {
    attrs.get("tags")?.as_map()?.get(key)?.as_str().map(str::to_owned)
}

fn strs(items: &[&str]) -> Value {
    Value::List(items.iter().map(|s| Value::str(*s)).collect())
}

fn rule(pairs: &[(&str, Value)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

/// `(protocol, from, to, peer, description)` of each canonical rule in `attrs[dir]`.
fn rules(attrs: &Attrs, dir: &str) -> Vec<(String, i64, i64, String, String)> {
    attrs[dir]
        .as_list()
        .expect("rules are a list")
        .iter()
        .map(|r| {
            let m = r.as_map().expect("rule is a table");
            let peer = ["cidr_blocks", "ipv6_cidr_blocks", "prefix_list_ids", "security_groups"]
                .iter()
                .flat_map(|k| m[*k].string_list())
                .next()
                .unwrap_or_else(|| if m["self"] == Value::Bool(true) { "self".into() } else { "?".into() });
            (
                m["protocol"].as_str().unwrap().to_owned(),
                m["from_port"].as_i64().unwrap(),
                m["to_port"].as_i64().unwrap(),
                peer,
                m["description"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn r(protocol: &str, from: i64, to: i64, peer: &str, description: &str) -> (String, i64, i64, String, String) {
    (protocol.into(), from, to, peer.into(), description.into())
}

async fn raw_vpc(ec2: &aws_sdk_ec2::Client, cidr: &str) -> String {
    let out = ec2.create_vpc().cidr_block(cidr).send().await.expect("CreateVpc");
    out.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_owned()
}

#[tokio::test]
async fn vpc_lifecycle() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let ec2 = m.factory().ec2(REGION).await;
    let want = desired(
        &Vpc,
        "vpc.main",
        &[("cidr_block", "10.10.0.0/16".into()), ("enable_dns_hostnames", true.into())],
        &[("Name", "main")],
    );

    let created = Vpc.create(&ctx, &want).await.expect("create");
    let id = id_of(&created);
    assert!(id.starts_with("vpc-"), "{id}");
    let arn = created["arn"].as_str().expect("arn");
    assert!(arn.starts_with("arn:aws:ec2:us-east-1:") && arn.ends_with(&format!(":vpc/{id}")), "{arn}");
    assert_eq!(created["enable_dns_hostnames"], Value::Bool(true));
    assert_eq!(read_one(&Vpc, &ctx, &id).await, created, "read right after create");
    assert_no_diff(&Vpc, &created, &want);
    let hostnames =
        ec2.describe_vpc_attribute().vpc_id(&id).attribute(VpcAttributeName::EnableDnsHostnames).send().await.unwrap();
    assert_eq!(hostnames.enable_dns_hostnames().and_then(|v| v.value()), Some(true), "applied in AWS");

    // In place: DNS hostnames off, one tag changed, one added.
    let mut next = desired(
        &Vpc,
        "vpc.main",
        &[("cidr_block", "10.10.0.0/16".into()), ("enable_dns_hostnames", false.into())],
        &[("Name", "renamed"), ("Team", "db")],
    );
    let updated = update(&Vpc, &ctx, &id, &created, &next).await.expect("update");
    let read = read_one(&Vpc, &ctx, &id).await;
    assert_eq!(read, updated);
    assert_eq!(read["enable_dns_hostnames"], Value::Bool(false));
    assert_eq!(tag(&read, "Name").as_deref(), Some("renamed"));
    assert_eq!(tag(&read, "Team").as_deref(), Some("db"));
    assert_no_diff(&Vpc, &read, &next);

    // A tag removed in config is removed from AWS.
    next = desired(&Vpc, "vpc.main", &[("cidr_block", "10.10.0.0/16".into())], &[("Name", "renamed")]);
    update(&Vpc, &ctx, &id, &read, &next).await.expect("update");
    let read = read_one(&Vpc, &ctx, &id).await;
    assert_eq!(tag(&read, "Team"), None);
    assert_eq!(read["enable_dns_hostnames"], Value::Bool(false), "unmanaged now: left as it was");

    // Out of band: a tag added and DNS hostnames switched off by someone else.
    ec2.create_tags().resources(&id).tags(Tag::builder().key("Owner").value("someone").build()).send().await.unwrap();
    ec2.modify_vpc_attribute()
        .vpc_id(&id)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .unwrap();
    let drifted = read_one(&Vpc, &ctx, &id).await;
    assert_eq!(tag(&drifted, "Owner").as_deref(), Some("someone"));
    assert_eq!(drifted["enable_dns_hostnames"], Value::Bool(false));
    let managed = desired(
        &Vpc,
        "vpc.main",
        &[("cidr_block", "10.10.0.0/16".into()), ("enable_dns_hostnames", true.into())],
        &[("Name", "renamed")],
    );
    let changes = diff(Vpc.schema(), &drifted, &managed, &[]);
    let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["enable_dns_hostnames", "tags"]);

    let addr: ResourceAddr = "vpc.main".parse().unwrap();
    assert_eq!(Vpc.find_created(&ctx, &addr).await.unwrap(), Some(id.clone()));
    let other: ResourceAddr = "vpc.other".parse().unwrap();
    assert_eq!(Vpc.find_created(&ctx, &other).await.unwrap(), None);
    let other_stack = m.ctx(REGION, "another-stack");
    assert_eq!(Vpc.find_created(&other_stack, &addr).await.unwrap(), None);

    Vpc.delete(&ctx, &id, &drifted).await.expect("delete");
    assert!(Vpc.read_many(&ctx, std::slice::from_ref(&id), &ReadScope::All).await.unwrap().is_empty());
    Vpc.delete(&ctx, &id, &drifted).await.expect("deleting a deleted VPC succeeds");
}

#[tokio::test]
async fn vpc_import_and_missing_ids() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let ec2 = m.factory().ec2(REGION).await;
    let id = raw_vpc(&ec2, "10.20.0.0/16").await;

    let got =
        Vpc.read_many(&ctx, &[id.clone(), "vpc-0123456789abcdef0".into()], &ReadScope::All).await.expect("read_many");
    assert_eq!(got.keys().collect::<Vec<_>>(), vec![&id], "the missing id is omitted");
    let a = &got[&id];
    assert_eq!(a["cidr_block"], Value::str("10.20.0.0/16"));
    assert_eq!(a["instance_tenancy"], Value::str("default"));
    assert_eq!(a["enable_dns_support"], Value::Bool(true));
    assert_eq!(a["enable_dns_hostnames"], Value::Bool(false), "AWS's default for a new VPC");
    assert_eq!(a["tags"], Value::Map(BTreeMap::new()));
    assert!(a["owner_id"].as_str().is_some_and(|o| !o.is_empty()));
    // An imported VPC diffs against config like any other.
    let want = desired(&Vpc, "vpc.imported", &[("cidr_block", "10.20.0.0/16".into())], &[]);
    let names: Vec<String> = diff(Vpc.schema(), a, &want, &[]).into_iter().map(|c| c.name).collect();
    assert_eq!(names, vec!["tags"]);
    assert!(Vpc.read_many(&ctx, &[], &ReadScope::All).await.unwrap().is_empty());

    // Unmanaged DNS settings are not read (each costs a DescribeVpcAttribute call).
    let before = m.factory().calls().total();
    let scope = ReadScope::Only(["cidr_block".to_owned(), "tags".to_owned()].into());
    let narrow = Vpc.read_many(&ctx, std::slice::from_ref(&id), &scope).await.unwrap();
    assert_eq!(m.factory().calls().total() - before, 1, "one DescribeVpcs, no attribute calls");
    assert!(!narrow[&id].contains_key("enable_dns_support"));
    assert!(!narrow[&id].contains_key("main_route_table_id"));
    assert_eq!(narrow[&id]["cidr_block"], Value::str("10.20.0.0/16"));
    // The main route table, when a reference asks for it: one more call.
    let before = m.factory().calls().total();
    let scope = ReadScope::Only(["cidr_block".to_owned(), "main_route_table_id".to_owned()].into());
    let with_table = Vpc.read_many(&ctx, std::slice::from_ref(&id), &scope).await.unwrap();
    assert_eq!(m.factory().calls().total() - before, 2, "DescribeVpcs and DescribeRouteTables");
    let tables = ec2
        .describe_route_tables()
        .filters(aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(&id).build())
        .send()
        .await
        .unwrap();
    let main = tables
        .route_tables()
        .iter()
        .find(|t| t.associations().iter().any(|a| a.main() == Some(true)))
        .and_then(|t| t.route_table_id());
    assert_eq!(with_table[&id]["main_route_table_id"].as_str(), main);
    assert!(main.is_some());
}

#[tokio::test]
async fn vpc_delete_waits_for_dependents_to_go() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let ec2 = m.factory().ec2(REGION).await;
    let vpc = Vpc.create(&ctx, &desired(&Vpc, "vpc.dep", &[("cidr_block", "10.30.0.0/16".into())], &[])).await.unwrap();
    let vpc_id = id_of(&vpc);
    let subnet = ec2.create_subnet().vpc_id(&vpc_id).cidr_block("10.30.1.0/24").send().await.unwrap();
    let subnet_id = subnet.subnet().and_then(|s| s.subnet_id()).unwrap().to_owned();

    // moto answers DependencyViolation while the subnet exists; the delete
    // keeps trying until the subnet is gone.
    let deleting = tokio::spawn({
        let ctx = ctx.clone();
        let (vpc_id, vpc) = (vpc_id.clone(), vpc.clone());
        async move { Vpc.delete(&ctx, &vpc_id, &vpc).await }
    });
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!deleting.is_finished(), "must wait while the subnet exists");
    ec2.delete_subnet().subnet_id(&subnet_id).send().await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), deleting)
        .await
        .expect("delete finishes once the subnet is gone")
        .unwrap()
        .expect("delete succeeds");
    assert!(Vpc.read_many(&ctx, &[vpc_id], &ReadScope::All).await.unwrap().is_empty());
}

#[tokio::test]
async fn subnet_lifecycle() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let ec2 = m.factory().ec2(REGION).await;
    let vpc_id = raw_vpc(&ec2, "10.40.0.0/16").await;
    let want = desired(
        &Subnet,
        "subnet.db[\"a\"]",
        &[("vpc_id", vpc_id.as_str().into()), ("cidr_block", "10.40.1.0/24".into())],
        &[("Name", "db-a")],
    );

    let created = Subnet.create(&ctx, &want).await.expect("create");
    let id = id_of(&created);
    assert_eq!(read_one(&Subnet, &ctx, &id).await, created, "read right after create");
    let az = created["availability_zone"].as_str().expect("AWS picked an AZ");
    assert!(az.starts_with(REGION), "{az}");
    assert_no_diff(&Subnet, &created, &want);
    assert!(created["arn"].as_str().is_some_and(|a| a.ends_with(&format!("subnet/{id}"))), "{:?}", created["arn"]);
    assert_eq!(created["map_public_ip_on_launch"], Value::Bool(false));

    let next = desired(
        &Subnet,
        "subnet.db[\"a\"]",
        &[
            ("vpc_id", vpc_id.as_str().into()),
            ("cidr_block", "10.40.1.0/24".into()),
            ("map_public_ip_on_launch", true.into()),
        ],
        &[("Name", "db-a2")],
    );
    let updated = update(&Subnet, &ctx, &id, &created, &next).await.expect("update");
    let read = read_one(&Subnet, &ctx, &id).await;
    assert_eq!(read, updated);
    assert_eq!(read["map_public_ip_on_launch"], Value::Bool(true));
    assert_eq!(tag(&read, "Name").as_deref(), Some("db-a2"));
    assert_no_diff(&Subnet, &read, &next);

    // Out of band: public IPs switched off again.
    ec2.modify_subnet_attribute()
        .subnet_id(&id)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .unwrap();
    let drifted = read_one(&Subnet, &ctx, &id).await;
    assert_eq!(drifted["map_public_ip_on_launch"], Value::Bool(false));
    let names: Vec<String> = diff(Subnet.schema(), &drifted, &next, &[]).into_iter().map(|c| c.name).collect();
    assert_eq!(names, vec!["map_public_ip_on_launch"]);

    let addr: ResourceAddr = "subnet.db[\"a\"]".parse().unwrap();
    assert_eq!(Subnet.find_created(&ctx, &addr).await.unwrap(), Some(id.clone()));
    let sibling: ResourceAddr = "subnet.db[\"b\"]".parse().unwrap();
    assert_eq!(Subnet.find_created(&ctx, &sibling).await.unwrap(), None);

    Subnet.delete(&ctx, &id, &drifted).await.expect("delete");
    assert!(Subnet.read_many(&ctx, &[id], &ReadScope::All).await.unwrap().is_empty());
}

#[tokio::test]
async fn subnet_import_and_missing_ids() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let ec2 = m.factory().ec2(REGION).await;
    let vpc_id = raw_vpc(&ec2, "10.50.0.0/16").await;
    let made = ec2
        .create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block("10.50.2.0/24")
        .availability_zone("us-east-1b")
        .send()
        .await
        .unwrap();
    let id = made.subnet().and_then(|s| s.subnet_id()).unwrap().to_owned();

    let got = Subnet.read_many(&ctx, &["subnet-0123456789abcdef0".into(), id.clone()], &ReadScope::All).await.unwrap();
    assert_eq!(got.keys().collect::<Vec<_>>(), vec![&id]);
    let want = desired(
        &Subnet,
        "subnet.imported",
        &[
            ("vpc_id", vpc_id.as_str().into()),
            ("cidr_block", "10.50.2.0/24".into()),
            ("availability_zone", "us-east-1b".into()),
        ],
        &[],
    );
    let names: Vec<String> = diff(Subnet.schema(), &got[&id], &want, &[]).into_iter().map(|c| c.name).collect();
    assert_eq!(names, vec!["tags"], "only the ownership tags differ: {:?}", got[&id]);
}

#[tokio::test]
async fn security_group_lifecycle() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let ec2 = m.factory().ec2(REGION).await;
    let vpc_id = raw_vpc(&ec2, "10.60.0.0/16").await;
    let app = ec2.create_security_group().group_name("app").description("app").vpc_id(&vpc_id).send().await.unwrap();
    let app_id = app.group_id().unwrap().to_owned();
    let base = |ingress: Vec<Value>| {
        vec![("name", Value::str("db")), ("vpc_id", Value::str(&vpc_id)), ("ingress", Value::List(ingress))]
    };
    let pg_from_vpc = rule(&[
        ("from_port", 5432.into()),
        ("to_port", 5432.into()),
        ("protocol", "tcp".into()),
        ("cidr_blocks", strs(&["10.60.0.0/16"])),
        ("description", "vpc".into()),
    ]);
    let pg_self =
        rule(&[("from_port", 5432.into()), ("to_port", 5432.into()), ("protocol", "6".into()), ("self", true.into())]);
    let want = desired(
        &SecurityGroup,
        "security_group.db",
        &base(vec![pg_from_vpc.clone(), pg_self.clone()]),
        &[("Name", "db")],
    );

    let created = SecurityGroup.create(&ctx, &want).await.expect("create");
    let id = id_of(&created);
    assert_eq!(read_one(&SecurityGroup, &ctx, &id).await, created, "read right after create");
    assert_no_diff(&SecurityGroup, &created, &want);
    assert_eq!(created["description"], Value::str("Managed by pgstack"));
    assert_eq!(
        rules(&created, "ingress"),
        vec![r("tcp", 5432, 5432, "10.60.0.0/16", "vpc"), r("tcp", 5432, 5432, "self", "")]
    );
    assert_eq!(rules(&created, "egress"), vec![r("-1", 0, 0, "0.0.0.0/0", "")], "unmanaged egress keeps AWS's default");
    let raw = ec2.describe_security_groups().group_ids(&id).send().await.unwrap();
    let pairs: Vec<_> =
        raw.security_groups()[0].ip_permissions().iter().flat_map(|p| p.user_id_group_pairs()).collect();
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0].group_id(), Some(id.as_str()), "self is a pair naming the group itself");

    // In place: the CIDR rule goes, a rule from the app group comes, the self rule stays; tags change.
    let pg_from_app = rule(&[
        ("from_port", 5432.into()),
        ("to_port", 5432.into()),
        ("protocol", "tcp".into()),
        ("security_groups", strs(&[&app_id])),
        ("description", "app tier".into()),
    ]);
    let next = desired(
        &SecurityGroup,
        "security_group.db",
        &base(vec![pg_self.clone(), pg_from_app.clone()]),
        &[("Name", "db2")],
    );
    let updated = update(&SecurityGroup, &ctx, &id, &created, &next).await.expect("update");
    let read = read_one(&SecurityGroup, &ctx, &id).await;
    assert_eq!(read, updated);
    assert_eq!(
        rules(&read, "ingress"),
        vec![r("tcp", 5432, 5432, &app_id, "app tier"), r("tcp", 5432, 5432, "self", "")]
    );
    assert_eq!(tag(&read, "Name").as_deref(), Some("db2"));
    assert_no_diff(&SecurityGroup, &read, &next);

    // Out of band: someone opens SSH to the world.
    ec2.authorize_security_group_ingress()
        .group_id(&id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let drifted = read_one(&SecurityGroup, &ctx, &id).await;
    assert!(rules(&drifted, "ingress").contains(&r("tcp", 22, 22, "0.0.0.0/0", "")));
    let names: Vec<String> = diff(SecurityGroup.schema(), &drifted, &next, &[]).into_iter().map(|c| c.name).collect();
    assert_eq!(names, vec!["ingress"]);
    // Applying the config again revokes it.
    update(&SecurityGroup, &ctx, &id, &drifted, &next).await.expect("update");
    assert_no_diff(&SecurityGroup, &read_one(&SecurityGroup, &ctx, &id).await, &next);

    let addr: ResourceAddr = "security_group.db".parse().unwrap();
    assert_eq!(SecurityGroup.find_created(&ctx, &addr).await.unwrap(), Some(id.clone()));
    let other: ResourceAddr = "security_group.app".parse().unwrap();
    assert_eq!(SecurityGroup.find_created(&ctx, &other).await.unwrap(), None);

    SecurityGroup.delete(&ctx, &id, &read).await.expect("delete");
    assert!(SecurityGroup.read_many(&ctx, std::slice::from_ref(&id), &ReadScope::All).await.unwrap().is_empty());
    SecurityGroup.delete(&ctx, &id, &read).await.expect("deleting a deleted group succeeds");
}

#[tokio::test]
async fn security_group_managed_egress_and_descriptions() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let ec2 = m.factory().ec2(REGION).await;
    let vpc_id = raw_vpc(&ec2, "10.70.0.0/16").await;
    let https = |description: &str| {
        rule(&[
            ("from_port", 443.into()),
            ("to_port", 443.into()),
            ("protocol", "tcp".into()),
            ("cidr_blocks", strs(&["0.0.0.0/0"])),
            ("description", description.into()),
        ])
    };
    let attrs = |description: &str| {
        desired(
            &SecurityGroup,
            "security_group.egress",
            &[
                ("name", "egress".into()),
                ("vpc_id", vpc_id.as_str().into()),
                ("egress", Value::List(vec![https(description)])),
            ],
            &[],
        )
    };

    let created = SecurityGroup.create(&ctx, &attrs("tls out")).await.expect("create");
    let id = id_of(&created);
    assert_eq!(
        rules(&created, "egress"),
        vec![r("tcp", 443, 443, "0.0.0.0/0", "tls out")],
        "the default rule is revoked"
    );
    assert_eq!(rules(&created, "ingress"), vec![], "no ingress unless configured");
    assert_eq!(read_one(&SecurityGroup, &ctx, &id).await, created);

    // Only the description changes: the rule is relabeled, not replaced.
    let next = attrs("https to anywhere");
    let updated = update(&SecurityGroup, &ctx, &id, &created, &next).await.expect("update");
    assert_eq!(rules(&updated, "egress"), vec![r("tcp", 443, 443, "0.0.0.0/0", "https to anywhere")]);
    assert_eq!(read_one(&SecurityGroup, &ctx, &id).await, updated);
}

#[tokio::test]
async fn security_group_import_and_missing_ids() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let ec2 = m.factory().ec2(REGION).await;
    let vpc_id = raw_vpc(&ec2, "10.80.0.0/16").await;
    let made =
        ec2.create_security_group().group_name("legacy").description("old").vpc_id(&vpc_id).send().await.unwrap();
    let id = made.group_id().unwrap().to_owned();
    ec2.authorize_security_group_ingress()
        .group_id(&id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("6")
                .from_port(5432)
                .to_port(5432)
                .ip_ranges(IpRange::builder().cidr_ip("10.80.1.0/24").build())
                .ip_ranges(IpRange::builder().cidr_ip("10.80.0.0/24").description("b").build())
                .build(),
        )
        .send()
        .await
        .unwrap();

    let got =
        SecurityGroup.read_many(&ctx, &[id.clone(), "sg-0123456789abcdef0".into()], &ReadScope::All).await.unwrap();
    assert_eq!(got.keys().collect::<Vec<_>>(), vec![&id]);
    let a = &got[&id];
    assert_eq!(a["name"], Value::str("legacy"));
    assert_eq!(a["description"], Value::str("old"));
    assert_eq!(a["vpc_id"], Value::str(&vpc_id));
    assert_eq!(
        rules(a, "ingress"),
        vec![r("tcp", 5432, 5432, "10.80.0.0/24", "b"), r("tcp", 5432, 5432, "10.80.1.0/24", "")]
    );
    // Config written with a grouped rule matches the imported atomic rules.
    let want = desired(
        &SecurityGroup,
        "security_group.legacy",
        &[
            ("name", "legacy".into()),
            ("description", "old".into()),
            ("vpc_id", vpc_id.as_str().into()),
            (
                "ingress",
                Value::List(vec![
                    rule(&[
                        ("from_port", 5432.into()),
                        ("to_port", 5432.into()),
                        ("protocol", "tcp".into()),
                        ("cidr_blocks", strs(&["10.80.1.0/24"])),
                    ]),
                    rule(&[
                        ("from_port", 5432.into()),
                        ("to_port", 5432.into()),
                        ("protocol", "tcp".into()),
                        ("cidr_blocks", strs(&["10.80.0.0/24"])),
                        ("description", "b".into()),
                    ]),
                ]),
            ),
        ],
        &[],
    );
    let names: Vec<String> = diff(SecurityGroup.schema(), a, &want, &[]).into_iter().map(|c| c.name).collect();
    assert_eq!(names, vec!["tags"], "only the ownership tags differ");
}
