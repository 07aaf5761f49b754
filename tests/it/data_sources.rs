//! Data sources against moto: a VPC and subnets made by hand (with the SDK)
//! are found by their tags at plan time and used by the stack's resources;
//! the stack applies and plans clean; a filter matching nothing fails the
//! plan with the filter shown, before anything is changed.

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};

use crate::support::cli::Workdir;
use crate::support::moto::{REGION, moto};

fn tagged(rt: ResourceType, k: &str, v: &str) -> TagSpecification {
    TagSpecification::builder().resource_type(rt).tags(Tag::builder().key(k).value(v).build()).build()
}

const STACK: &str = r#"[stack]
name   = "ds"
region = "us-east-1"

[data.vpc.shared]
tags = { Name = "shared-ds" }

# Found through the VPC found above.
[data.subnets.db]
vpc_id = "${data.vpc.shared.id}"
tags   = { Tier = "ds-db" }

[data.caller_identity.me]

[security_group.db]
name        = "ds-db"
description = "database in ${data.caller_identity.me.account_id}"
vpc_id      = "${data.vpc.shared.id}"

[db_subnet_group.main]
name       = "ds-db"
subnet_ids = "${data.subnets.db.ids}"

[output.vpc_cidr]
value = "${data.vpc.shared.cidr_block}"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_uses_an_existing_vpc_and_its_subnets_found_by_tags() {
    let m = moto();
    let env = m.env();
    let ec2 = m.factory().ec2(REGION).await;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.69.0.0/16")
        .tag_specifications(tagged(ResourceType::Vpc, "Name", "shared-ds"))
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_owned();
    for (cidr, az) in [("10.69.1.0/24", "us-east-1a"), ("10.69.2.0/24", "us-east-1b")] {
        ec2.create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .availability_zone(az)
            .tag_specifications(tagged(ResourceType::Subnet, "Tier", "ds-db"))
            .send()
            .await
            .unwrap();
    }
    let w = Workdir::new();
    w.write("ds.toml", STACK);
    let plan = w.run(&["-v", "plan", "ds.toml"], &env).expect(0);
    assert!(plan.stdout.contains(&format!("vpc_id      = \"{vpc}\"")), "{}", plan.stdout);
    assert!(plan.stdout.contains("database in 123456789012"), "{}", plan.stdout);
    assert!(plan.stderr.contains("ec2:DescribeVpcs="), "data reads are counted: {}", plan.stderr);
    let applied = w.run(&["apply", "ds.toml", "--auto-approve"], &env).expect(0);
    assert!(applied.stdout.contains("vpc_cidr = \"10.69.0.0/16\""), "{}", applied.stdout);
    let groups = ec2.describe_security_groups().group_names("ds-db").send().await.unwrap();
    assert_eq!(groups.security_groups()[0].vpc_id(), Some(vpc.as_str()));
    let plan = w.run(&["plan", "ds.toml", "--detailed-exitcode"], &env).expect(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);

    // A filter that matches nothing: the plan fails, showing the filter.
    w.write("ds.toml", &STACK.replace("Name = \"shared-ds\"", "Name = \"no-such-vpc\""));
    let failed = w.run(&["plan", "ds.toml"], &env).expect(1);
    assert!(failed.stderr.contains("data.vpc.shared: data vpc: nothing matches tags = {"), "{}", failed.stderr);
    assert!(failed.stderr.contains("no-such-vpc"), "{}", failed.stderr);
}

/// Filters that use each other cannot be read: the plan says which, before
/// any call (no endpoint here).
#[test]
fn data_sources_whose_filters_use_each_other_are_refused() {
    let w = Workdir::new();
    w.write(
        "loop.toml",
        "[stack]\nname = \"dl\"\nregion = \"us-east-1\"\n\n[data.vpc.a]\nid = \"${data.security_group.b.vpc_id}\"\n\n\
         [data.security_group.b]\nvpc_id = \"${data.vpc.a.id}\"\n",
    );
    let no_aws = [("AWS_ENDPOINT_URL".to_owned(), "http://127.0.0.1:9".to_owned())];
    let run = w.run(&["plan", "loop.toml"], &no_aws).expect(1);
    assert!(run.stderr.contains("the filters of data.security_group.b, data.vpc.a use each other"), "{}", run.stderr);
}
