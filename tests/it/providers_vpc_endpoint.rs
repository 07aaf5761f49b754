//! `vpc_endpoint` against moto: a gateway endpoint for S3 (route tables) and
//! an interface endpoint for Secrets Manager (subnets, security groups,
//! private DNS): create and read back, in-place updates, an out-of-band
//! change seen on refresh, the ownership lookup, delete.

use pgstack::addr::ResourceAddr;
use pgstack::provider::aws::vpc_endpoint::VpcEndpoint;
use pgstack::provider::{ReadScope, ResourceType};
use pgstack::value::Value;

use crate::support::moto::{REGION, moto};
use crate::support::provider::{assert_clean, changes, desired, read_one, strs, update};

const STACK: &str = "endpoints";

#[tokio::test(flavor = "multi_thread")]
async fn gateway_and_interface_endpoints_lifecycle() {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let ec2 = m.factory().ec2(REGION).await;
    let vpc = ec2.create_vpc().cidr_block("10.70.0.0/16").send().await.unwrap();
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_owned();
    let mut tables = Vec::new();
    for _ in 0..2 {
        let rt = ec2.create_route_table().vpc_id(&vpc_id).send().await.unwrap();
        tables.push(rt.route_table().and_then(|r| r.route_table_id()).unwrap().to_owned());
    }
    let subnet = ec2.create_subnet().vpc_id(&vpc_id).cidr_block("10.70.1.0/24").send().await.unwrap();
    let subnet_id = subnet.subnet().and_then(|s| s.subnet_id()).unwrap().to_owned();
    let sg = ec2.create_security_group().vpc_id(&vpc_id).group_name("ep").description("ep").send().await.unwrap();
    let sg_id = sg.group_id().unwrap().to_owned();
    let t = VpcEndpoint;

    // Gateway for S3 on one route table, then both.
    let addr: ResourceAddr = "vpc_endpoint.s3".parse().unwrap();
    let base = [("vpc_id", Value::str(&vpc_id)), ("service_name", Value::str("com.amazonaws.us-east-1.s3"))];
    let want = desired(&t, STACK, &addr, &[base[0].clone(), base[1].clone(), ("route_table_ids", strs(&[&tables[0]]))]);
    let created = t.create(&ctx, &want).await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_clean(&t, &created, &want);
    assert_clean(&t, &read_one(&t, &ctx, &id).await, &want);
    assert_eq!(t.find_created(&ctx, &addr).await.unwrap().as_deref(), Some(id.as_str()));
    // Its prefix list (what security group rules name to reach S3), as EC2 lists it.
    let lists = ec2.describe_prefix_lists().send().await.unwrap();
    let s3_list = lists.prefix_lists().iter().find(|p| p.prefix_list_name() == Some("com.amazonaws.us-east-1.s3"));
    let s3_list = Value::str(s3_list.and_then(|p| p.prefix_list_id()).expect("the S3 prefix list"));
    assert_eq!(created["prefix_list_id"], s3_list);
    assert_eq!(read_one(&t, &ctx, &id).await["prefix_list_id"], s3_list);
    let both = desired(
        &t,
        STACK,
        &addr,
        &[base[0].clone(), base[1].clone(), ("route_table_ids", strs(&[&tables[0], &tables[1]]))],
    );
    assert_eq!(changes(&t, &created, &both), vec!["route_table_ids"]);
    let updated = update(&t, &ctx, &id, &created, &both).await.unwrap();
    assert_clean(&t, &updated, &both);
    assert_clean(&t, &read_one(&t, &ctx, &id).await, &both);

    // Out of band: a route table removed; refresh sees it.
    ec2.modify_vpc_endpoint().vpc_endpoint_id(&id).remove_route_table_ids(&tables[1]).send().await.unwrap();
    assert_eq!(changes(&t, &read_one(&t, &ctx, &id).await, &both), vec!["route_table_ids"]);

    // Interface for Secrets Manager with a subnet, a group and private DNS.
    let iaddr: ResourceAddr = "vpc_endpoint.secrets".parse().unwrap();
    let iwant = desired(
        &t,
        STACK,
        &iaddr,
        &[
            ("vpc_id", Value::str(&vpc_id)),
            ("service_name", Value::str("com.amazonaws.us-east-1.secretsmanager")),
            ("vpc_endpoint_type", Value::str("Interface")),
            ("subnet_ids", strs(&[&subnet_id])),
            ("security_group_ids", strs(&[&sg_id])),
            ("private_dns_enabled", Value::Bool(true)),
        ],
    );
    let icreated = t.create(&ctx, &iwant).await.unwrap();
    let iid = icreated["id"].as_str().unwrap().to_owned();
    assert_clean(&t, &read_one(&t, &ctx, &iid).await, &iwant);

    for (id, prior) in [(&id, &updated), (&iid, &icreated)] {
        t.delete(&ctx, id, prior).await.unwrap();
    }
    let left = t.read_many(&ctx, &[id.clone(), iid.clone()], &ReadScope::All).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(t.find_created(&ctx, &addr).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_applies_plans_clean_imports_and_destroys() {
    let m = moto();
    let env = m.env();
    let w = crate::support::cli::Workdir::new();
    w.write(
        "ep.toml",
        "[stack]\nname = \"ep\"\nregion = \"us-east-1\"\n\n[vpc.main]\ncidr_block = \"10.71.0.0/16\"\n\n\
         [vpc_endpoint.s3]\nvpc_id = \"${vpc.main.id}\"\nservice_name = \"com.amazonaws.us-east-1.s3\"\n",
    );
    w.run(&["apply", "ep.toml", "--auto-approve"], &env).expect(0);
    w.run(&["plan", "ep.toml", "--detailed-exitcode"], &env).expect(0);
    let list = w.run(&["state", "list", "ep.toml"], &env).expect(0).stdout;
    let id = list.lines().find_map(|l| l.strip_prefix("vpc_endpoint.s3\t")).unwrap().to_owned();
    w.run(&["state", "rm", "ep.toml", "vpc_endpoint.s3"], &env).expect(0);
    w.run(&["import", "ep.toml", "vpc_endpoint.s3", &id], &env).expect(0);
    w.run(&["plan", "ep.toml", "--detailed-exitcode"], &env).expect(0);
    w.run(&["destroy", "ep.toml", "--auto-approve"], &env).expect(0);
    let ec2 = m.factory().ec2(REGION).await;
    let left = ec2.describe_vpc_endpoints().send().await.unwrap();
    assert!(left.vpc_endpoints().iter().all(|e| e.state().is_some_and(|s| s.as_str().eq_ignore_ascii_case("deleted"))));
}
