//! Proves the moto harness works: a real SDK client reaches moto and a reset
//! wipes what an earlier test made.

use crate::support::moto::{REGION, moto};

#[tokio::test]
async fn factory_reaches_moto_and_reset_wipes_state() {
    let m = moto();
    let ec2 = m.factory().ec2(REGION).await;
    let vpcs = ec2.describe_vpcs().send().await.expect("DescribeVpcs against moto");
    let defaults: Vec<_> = vpcs.vpcs().iter().filter(|v| v.is_default() == Some(true)).collect();
    assert_eq!(defaults.len(), 1, "moto starts with exactly one default VPC: {vpcs:?}");

    let made = ec2.create_vpc().cidr_block("10.42.0.0/16").send().await.expect("CreateVpc");
    let made_id = made.vpc().and_then(|v| v.vpc_id()).expect("CreateVpc returns an id").to_owned();
    drop(m);

    let m = moto();
    let ec2 = m.factory().ec2(REGION).await;
    let vpcs = ec2.describe_vpcs().send().await.expect("DescribeVpcs after reset");
    assert!(vpcs.vpcs().iter().all(|v| v.vpc_id() != Some(made_id.as_str())), "reset must remove {made_id}");
    assert!(m.env().iter().any(|(k, v)| k == "AWS_ENDPOINT_URL" && *v == m.endpoint()));
}
