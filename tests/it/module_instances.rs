//! `for_each` and `enabled` on module calls, against moto: two instances of
//! one module make two sets of objects with distinct default names and
//! addresses `module.NAME["KEY"].TYPE.NAME`, their outputs read as
//! `module.NAME["KEY"].OUTPUT`; a disabled module makes nothing.

use crate::support::cli::{Workdir, state_id};
use crate::support::moto::{REGION, moto};

const MODULE: &str = r#"[input.cidr]
type = "string"

[vpc.main]
cidr_block = "${var.cidr}"

# No name: pgstack names it from the stack and the address.
[security_group.db]
description = "database"
vpc_id      = "${vpc.main.id}"

[output.group_name]
value = "${security_group.db.name}"
"#;

const STACK: &str = r#"[stack]
name   = "mi"
region = "us-east-1"

[vars]
replicas = { east = "10.66.0.0/16", west = "10.67.0.0/16" }
extra    = false

[module.replica]
source   = "net"
for_each = "${var.replicas}"
cidr     = "${each.value}"

[module.spare]
source  = "net"
enabled = "${var.extra}"
cidr    = "10.68.0.0/16"

[output.east_group]
value = '${module.replica["east"].group_name}'
"#;

#[tokio::test(flavor = "multi_thread")]
async fn module_for_each_makes_one_set_of_objects_per_key() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    std::fs::create_dir_all(w.path().join("modules/net")).unwrap();
    w.write("modules/net/module.toml", MODULE);
    w.write("mi.toml", STACK);
    let applied = w.run(&["apply", "mi.toml", "--auto-approve"], &env).expect(0);
    assert!(applied.stdout.contains("4 added"), "two VPCs and two groups: {}", applied.stdout);
    assert!(applied.stdout.contains("east_group = \"mi-replica-east-db\""), "{}", applied.stdout);
    let state = w.path().join("state/mi.json");
    let east = state_id(&state, "module.replica[\"east\"].security_group.db");
    let west = state_id(&state, "module.replica[\"west\"].security_group.db");
    let ec2 = m.factory().ec2(REGION).await;
    let groups = ec2.describe_security_groups().group_ids(&east).group_ids(&west).send().await.unwrap();
    let mut names: Vec<&str> = groups.security_groups().iter().filter_map(|g| g.group_name()).collect();
    names.sort();
    assert_eq!(names, ["mi-replica-east-db", "mi-replica-west-db"]);
    let plan = w.run(&["plan", "mi.toml", "--detailed-exitcode"], &env).expect(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);

    // Enabling the spare adds its objects; nothing else changes.
    let plan = w.run(&["plan", "mi.toml", "--var", "extra=true", "--detailed-exitcode"], &env).expect(2);
    assert!(plan.stdout.contains("2 to add, 0 to change, 0 to destroy"), "{}", plan.stdout);
    assert!(plan.stdout.contains("module.spare.vpc.main will be created"), "{}", plan.stdout);
}

/// Mistakes with module instances, each at its reference.
#[test]
fn module_instance_references_are_checked() {
    let w = Workdir::new();
    std::fs::create_dir_all(w.path().join("modules/net")).unwrap();
    w.write("modules/net/module.toml", MODULE);
    let bad = STACK.replace(
        "[output.east_group]\nvalue = '${module.replica[\"east\"].group_name}'\n",
        "[output.a]\nvalue = \"${module.replica.group_name}\"\n\n[output.b]\nvalue = '${module.replica[\"north\"].group_name}'\n\n\
         [output.c]\nvalue = \"${module.spare.group_name}\"\n",
    );
    w.write("mi.toml", &bad);
    let run = w.run(&["validate", "mi.toml"], &[]).expect(1);
    for want in [
        "module `replica` has `for_each`; say which instance",
        "module `replica` has no instance `north`",
        "module `spare` is disabled (`enabled = false`): it has no outputs",
    ] {
        assert!(run.stderr.contains(want), "{want}: {}", run.stderr);
    }
    insta::assert_snapshot!(run.stderr);
}
