//! AWS faults, injected by a proxy in front of moto: a create whose reply is
//! lost, 5xx answers, slow calls and Ctrl-C in the middle of an apply.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use aws_sdk_ec2::types::Filter;

use crate::support::cli::{Run, Workdir};
use crate::support::faults::{Fault, FaultProxy};
use crate::support::moto::{MotoGuard, REGION, moto};

fn through(m: &MotoGuard, proxy: &FaultProxy, max_attempts: &str) -> Vec<(String, String)> {
    let mut env = m.env();
    env.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint()));
    env.push(("AWS_MAX_ATTEMPTS".into(), max_attempts.into()));
    env
}

async fn count_tagged(m: &MotoGuard, key: &str, value: &str) -> (usize, usize) {
    let ec2 = m.factory().ec2(REGION).await;
    let f = || Filter::builder().name(format!("tag:{key}")).values(value).build();
    let vpcs = ec2.describe_vpcs().filters(f()).send().await.unwrap().vpcs().len();
    let subnets = ec2.describe_subnets().filters(f()).send().await.unwrap().subnets().len();
    (vpcs, subnets)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_reply_is_lost_is_adopted_not_repeated() {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    let w = Workdir::new();
    w.copy("examples/quickstart.toml", "quickstart.toml");
    proxy.inject("CreateVpc", Fault::DropReply, 1);
    proxy.inject("CreateKey", Fault::DropReply, 1);
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &through(&m, &proxy, "3")).expect(0);
    assert_eq!(proxy.unused(), 0, "both faults fired");
    assert_eq!(proxy.seen("CreateVpc"), 1, "the SDK did not retry the create blindly");
    assert_eq!(count_tagged(&m, "pgstack:address", "vpc.main").await.0, 1);
    let keys = m.factory().tagging(REGION).await.get_resources().resource_type_filters("kms:key").send().await.unwrap();
    assert_eq!(keys.resource_tag_mapping_list().len(), 1, "one KMS key");
    w.run(&["plan", "quickstart.toml", "--detailed-exitcode"], &m.env()).expect(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn service_errors_are_retried() {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    let w = Workdir::new();
    w.copy("examples/quickstart.toml", "quickstart.toml");
    proxy.inject("CreateSubnet", Fault::ServiceUnavailable, 2);
    proxy.inject("CreateKey", Fault::ServiceUnavailable, 1);
    w.run(&["apply", "quickstart.toml", "--auto-approve"], &through(&m, &proxy, "4")).expect(0);
    proxy.inject("DescribeVpcs", Fault::ServiceUnavailable, 2);
    w.run(&["plan", "quickstart.toml", "--detailed-exitcode"], &through(&m, &proxy, "4")).expect(0);
    assert_eq!(proxy.unused(), 0);
    assert_eq!(count_tagged(&m, "pgstack:stack", "quickstart").await, (1, 2), "nothing created twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_lets_running_calls_finish_saves_state_and_a_rerun_completes() {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    let w = Workdir::new();
    w.copy("examples/quickstart.toml", "quickstart.toml");
    // Subnets take a while; the interrupt arrives while they are being created.
    proxy.inject("CreateSubnet", Fault::Delay(Duration::from_millis(1500)), 2);
    let mut child = w
        .command(&["apply", "quickstart.toml", "--auto-approve", "--parallelism", "2"], &through(&m, &proxy, "3"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("subnet.db") {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "apply ended early:\n{seen}");
        seen.push_str(&line);
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let run =
        Run { code: out.status.code(), stdout: String::from_utf8_lossy(&out.stdout).into(), stderr: seen + &rest };
    let run = run.expect(1);
    assert!(run.stderr.contains("Interrupt received"), "{}", run.stderr);
    assert!(run.stderr.contains("not started (interrupted)"), "{}", run.stderr);

    let state = std::fs::read_to_string(w.path().join("state/quickstart.json")).unwrap();
    assert!(!state.contains("create_pending"), "running creates finished and were recorded:\n{state}");
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let recorded = |prefix: &str| {
        state["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["address"].as_str().unwrap().starts_with(prefix))
            .count()
    };
    let (vpcs, subnets) = count_tagged(&m, "pgstack:stack", "quickstart").await;
    assert!(subnets >= 1, "the subnet being created when interrupted finished");
    assert_eq!((recorded("vpc."), recorded("subnet.")), (vpcs, subnets), "everything created is in state");
    assert!(recorded("") < 7, "the interrupt stopped the apply early");

    w.run(&["apply", "quickstart.toml", "--auto-approve"], &m.env()).expect(0);
    assert_eq!(count_tagged(&m, "pgstack:stack", "quickstart").await, (1, 2));
    w.run(&["plan", "quickstart.toml", "--detailed-exitcode"], &m.env()).expect(0);
}
