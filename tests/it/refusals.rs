//! Changes that cannot succeed are refused at plan time (issue 7): deleting
//! a database with deletion protection on, shrinking its storage, downgrading
//! its engine. Each refusal exits 1 before any change, and the SDK shows that
//! every object of the stack is still there, unchanged.

use aws_sdk_ec2::types::Filter;

use crate::support::cli::{Run, Workdir};
use crate::support::moto::{MotoGuard, REGION, moto};

const STACK_FILE: &str = "protected.toml";

/// What AWS holds of the stack.
#[derive(Debug, PartialEq)]
struct Objects {
    vpcs: usize,
    subnets: usize,
    security_groups: Vec<String>,
    subnet_groups: Vec<String>,
    /// Identifier, storage, engine version, deletion protection.
    instances: Vec<(String, i32, String, bool)>,
}

async fn objects(m: &MotoGuard) -> Objects {
    let ec2 = m.factory().ec2(REGION).await;
    let tagged = || Filter::builder().name("tag:pgstack:stack").values("protected").build();
    let vpcs = ec2.describe_vpcs().filters(tagged()).send().await.expect("describe vpcs");
    let subnets = ec2.describe_subnets().filters(tagged()).send().await.expect("describe subnets");
    let groups = ec2.describe_security_groups().filters(tagged()).send().await.expect("describe security groups");
    let security_groups = groups.security_groups().iter().filter_map(|g| g.group_name().map(str::to_owned)).collect();
    let rds = m.factory().rds(REGION).await;
    let subnet_groups = rds.describe_db_subnet_groups().send().await.expect("describe subnet groups");
    let instances = rds.describe_db_instances().send().await.expect("describe instances");
    Objects {
        vpcs: vpcs.vpcs().len(),
        subnets: subnets.subnets().len(),
        security_groups,
        subnet_groups: subnet_groups
            .db_subnet_groups()
            .iter()
            .filter_map(|g| g.db_subnet_group_name().map(str::to_owned))
            .collect(),
        instances: instances
            .db_instances()
            .iter()
            .map(|i| {
                (
                    i.db_instance_identifier().unwrap_or_default().to_owned(),
                    i.allocated_storage().unwrap_or_default(),
                    i.engine_version().unwrap_or_default().to_owned(),
                    i.deletion_protection().unwrap_or_default(),
                )
            })
            .collect(),
    }
}

fn state_text(w: &Workdir) -> String {
    std::fs::read_to_string(w.path().join("state/protected.json")).expect("state file")
}

/// Runs `args` expecting a refusal: exit 1, nothing on stdout but the refresh, the state untouched.
fn refused(w: &Workdir, env: &[(String, String)], args: &[&str]) -> Run {
    let before = state_text(w);
    let run = w.run(args, env).expect(1);
    assert!(!run.stdout.contains("Plan:"), "no plan is shown: {}", run.stdout);
    assert_eq!(state_text(w), before, "the state is not written");
    run
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_aws_cannot_make_are_refused_at_plan_and_nothing_is_touched() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.copy("tests/fixtures/refusals/protected.toml", STACK_FILE);
    w.run(&["apply", STACK_FILE, "--skip-checks", "--auto-approve"], &env).expect(0);
    let applied = objects(&m).await;
    assert_eq!(
        applied,
        Objects {
            vpcs: 1,
            subnets: 2,
            security_groups: vec!["protected-app".to_owned()],
            subnet_groups: vec!["protected-db".to_owned()],
            instances: vec![("protected-main".to_owned(), 100, "16.4".to_owned(), true)],
        }
    );

    // Destroying the stack used to delete the app security group, then stop at the instance.
    let destroy = ["destroy", STACK_FILE, "--auto-approve", "--allow-destroy", "db_instance.main"];
    let run = refused(&w, &env, &destroy);
    assert!(
        run.stderr.contains("`db_instance.main` cannot be deleted: deletion_protection is on in AWS"),
        "{}",
        run.stderr
    );
    insta::assert_snapshot!("destroy_of_a_protected_instance", run.stderr);
    assert_eq!(objects(&m).await, applied, "every object is still there");

    // Shrinking storage (autoscaling off): refused, where a diff alone shows no change.
    let run = refused(&w, &env, &["plan", STACK_FILE, "--var", "storage=50"]);
    assert!(run.stderr.contains("RDS cannot shrink storage"), "{}", run.stderr);
    insta::assert_snapshot!("storage_shrink", run.stderr);
    refused(&w, &env, &["apply", STACK_FILE, "--skip-checks", "--var", "storage=50", "--auto-approve"]);

    // A major version downgrade, in plan and apply alike.
    let run = refused(&w, &env, &["plan", STACK_FILE, "--var", "engine_version=15.8"]);
    assert!(run.stderr.contains("RDS cannot downgrade an engine"), "{}", run.stderr);
    insta::assert_snapshot!("engine_downgrade", run.stderr);
    refused(&w, &env, &["apply", STACK_FILE, "--skip-checks", "--var", "engine_version=15.8", "--auto-approve"]);
    assert_eq!(objects(&m).await, applied, "every object is still there, unchanged");

    // Reports are not refused: drift and refresh still answer.
    w.run(&["drift", STACK_FILE, "--var", "storage=50"], &env).expect(0);
    w.run(&["refresh", STACK_FILE, "--var", "storage=50"], &env).expect(0);

    // The way the hint shows: lift the protection, then destroy.
    w.run(&["apply", STACK_FILE, "--skip-checks", "--var", "protect=false", "--auto-approve"], &env).expect(0);
    w.run(
        &["destroy", STACK_FILE, "--var", "protect=false", "--auto-approve", "--allow-destroy", "db_instance.main"],
        &env,
    )
    .expect(0);
    let gone = Objects { vpcs: 0, subnets: 0, security_groups: vec![], subnet_groups: vec![], instances: vec![] };
    assert_eq!(objects(&m).await, gone);
}
