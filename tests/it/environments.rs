//! Environments of one stack (`--env`, `PGSTACK_ENV`): each has its own
//! variables, state and ownership tags, so one never touches the other's
//! objects; `[stack] environments` pins which ones a stack runs in.

use crate::support::cli::{Workdir, state_id};
use crate::support::moto::{REGION, moto};

const STACK: &str = r#"[stack]
name   = "app"
region = "us-east-1"

[vars]
cidr = "10.64.0.0/16"

[env.staging]
vars = { cidr = "10.64.0.0/16" }

[env.prod]
vars = { cidr = "10.65.0.0/16" }

[vpc.main]
cidr_block = "${var.cidr}"
tags       = { Environment = "${env}" }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn two_environments_keep_their_own_objects_and_states() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.write("app.toml", STACK);
    w.run(&["apply", "app.toml", "--env", "staging", "--auto-approve"], &env).expect(0);
    let mut prod_env = env.clone();
    prod_env.push(("PGSTACK_ENV".into(), "prod".into()));
    w.run(&["apply", "app.toml", "--auto-approve"], &prod_env).expect(0);

    let staging = state_id(&w.path().join("state/app-staging.json"), "vpc.main");
    let prod = state_id(&w.path().join("state/app-prod.json"), "vpc.main");
    assert_ne!(staging, prod, "one VPC each");
    let ec2 = m.factory().ec2(REGION).await;
    let vpcs = ec2.describe_vpcs().vpc_ids(&staging).vpc_ids(&prod).send().await.unwrap();
    for v in vpcs.vpcs() {
        let tag = |k: &str| v.tags().iter().find(|t| t.key() == Some(k)).and_then(|t| t.value()).unwrap_or_default();
        let name = if v.vpc_id() == Some(staging.as_str()) { "staging" } else { "prod" };
        assert_eq!((tag("pgstack:stack"), tag("Environment")), (format!("app-{name}").as_str(), name));
    }
    for e in ["staging", "prod"] {
        let plan = w.run(&["plan", "app.toml", "--env", e, "--detailed-exitcode"], &env).expect(0);
        assert!(plan.stdout.contains("No changes."), "{e}: {}", plan.stdout);
    }
    // Destroying staging leaves prod alone; prod's drift sees nothing.
    w.run(&["destroy", "app.toml", "--env", "staging", "--auto-approve"], &env).expect(0);
    let left = ec2.describe_vpcs().vpc_ids(&prod).send().await.unwrap();
    assert_eq!(left.vpcs().len(), 1);
    w.run(&["drift", "app.toml"], &prod_env).expect(0);
}

#[test]
fn a_stack_runs_only_in_the_environments_it_names() {
    let w = Workdir::new();
    w.write(
        "pinned.toml",
        &STACK.replace("region = \"us-east-1\"\n", "region = \"us-east-1\"\nenvironments = [\"staging\", \"prod\"]\n"),
    );
    let none = w.run(&["validate", "pinned.toml"], &[]).expect(1);
    assert!(
        none.stderr.contains("this stack runs in one of its environments (staging, prod); none was selected"),
        "{}",
        none.stderr
    );
    assert!(none.stderr.contains("--env staging"), "{}", none.stderr);
    let other = w.run(&["validate", "pinned.toml", "--env", "prdo"], &[]).expect(1);
    assert!(other.stderr.contains("environment `prdo` is not one of this stack's (staging, prod)"), "{}", other.stderr);
    assert!(other.stderr.contains("did you mean `prod`?"), "{}", other.stderr);
    insta::assert_snapshot!(format!("{}\n{}", none.stderr, other.stderr));
    w.run(&["validate", "pinned.toml", "--env", "prod"], &[]).expect(0);
}
