//! `[[moved]]` blocks against moto: a VPC moved into a module and a
//! security group renamed keep their objects (nothing replaced), their
//! ownership tags are rewritten in place, the saved plan carries the moves,
//! and the blocks left in the stack afterwards are no-ops.

use aws_sdk_ec2::types::Filter;

use crate::support::cli::{Workdir, state_id};
use crate::support::moto::{REGION, moto};

const BEFORE: &str = r#"[stack]
name   = "mv"
region = "us-east-1"

[vpc.main]
cidr_block = "10.62.0.0/16"

[security_group.db]
name        = "mv-db"
description = "database"
vpc_id      = "${vpc.main.id}"
"#;

const AFTER: &str = r#"[stack]
name   = "mv"
region = "us-east-1"

[module.net]
source = "net"

[security_group.database]
name        = "mv-db"
description = "database"
vpc_id      = "${module.net.vpc_id}"

[[moved]]
from = "vpc.main"
to   = "module.net.vpc.main"

[[moved]]
from = "security_group.db"
to   = "security_group.database"
"#;

const NET: &str = r#"[vpc.main]
cidr_block = "10.62.0.0/16"

[output.vpc_id]
value = "${vpc.main.id}"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn moved_blocks_keep_objects_and_rewrite_their_tags() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.write("mv.toml", BEFORE);
    w.run(&["apply", "mv.toml", "--auto-approve"], &env).expect(0);
    let state = w.path().join("state/mv.json");
    let (vpc, sg) = (state_id(&state, "vpc.main"), state_id(&state, "security_group.db"));

    std::fs::create_dir_all(w.path().join("modules/net")).unwrap();
    w.write("modules/net/module.toml", NET);
    w.write("mv.toml", AFTER);
    let plan = w.run(&["plan", "mv.toml", "--detailed-exitcode", "-o", "mv.plan"], &env).expect(2);
    let out = &plan.stdout;
    assert!(out.contains("# vpc.main has moved to module.net.vpc.main"), "{out}");
    assert!(out.contains("# security_group.db has moved to security_group.database"), "{out}");
    assert!(out.contains("module.net.vpc.main will be updated in-place"), "{out}");
    assert!(out.contains("\"pgstack:address\" = \"vpc.main\" -> \"module.net.vpc.main\""), "{out}");
    assert!(out.contains("0 to add, 2 to change, 0 to destroy, 2 moved"), "{out}");
    assert!(!out.contains("replaced") && !out.contains("destroyed"), "{out}");

    // The saved plan carries the moves; the state moves before the tags change.
    w.run(&["apply", "mv.plan"], &env).expect(0);
    assert_eq!(state_id(&state, "module.net.vpc.main"), vpc, "the same VPC");
    assert_eq!(state_id(&state, "security_group.database"), sg, "the same group");
    let ec2 = m.factory().ec2(REGION).await;
    let tags =
        ec2.describe_tags().filters(Filter::builder().name("resource-id").values(&vpc).build()).send().await.unwrap();
    let address = tags.tags().iter().find(|t| t.key() == Some("pgstack:address")).and_then(|t| t.value());
    assert_eq!(address, Some("module.net.vpc.main"));

    // Left in the stack, the blocks move nothing more.
    let plan = w.run(&["plan", "mv.toml", "--detailed-exitcode"], &env).expect(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
}

/// A move onto an address the state already holds is refused at plan and
/// at apply, before any AWS call (no endpoint here), and the state is left
/// as it was.
#[test]
fn a_move_onto_a_held_address_is_refused_before_anything() {
    let w = Workdir::new();
    w.write(
        "mv.toml",
        "[stack]\nname = \"mv\"\nregion = \"us-east-1\"\n\n[vpc.b]\ncidr_block = \"10.0.0.0/16\"\n\n\
         [[moved]]\nfrom = \"vpc.a\"\nto = \"vpc.b\"\n",
    );
    let entry = |addr: &str, id: &str| {
        serde_json::json!({ "address": addr, "type": "vpc", "region": "us-east-1", "status": "ready", "id": id,
                            "attributes": {}, "dependencies": [] })
    };
    let state = serde_json::json!({ "version": 1, "serial": 3, "lineage": "l-1", "stack": "mv",
                                    "resources": [entry("vpc.a", "vpc-1"), entry("vpc.b", "vpc-2")], "outputs": {} });
    std::fs::create_dir_all(w.path().join("state")).unwrap();
    let text = serde_json::to_string_pretty(&state).unwrap();
    std::fs::write(w.path().join("state/mv.json"), &text).unwrap();
    let no_aws = [("AWS_ENDPOINT_URL".to_owned(), "http://127.0.0.1:9".to_owned())];
    for args in [&["plan", "mv.toml", "--refresh=false"][..], &["apply", "mv.toml", "--auto-approve"][..]] {
        let run = w.run(args, &no_aws).expect(1);
        assert!(
            run.stderr.contains("cannot move `vpc.a` to `vpc.b`: the state already holds `vpc.b`"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(std::fs::read_to_string(w.path().join("state/mv.json")).unwrap(), text);
}

/// `[[import]]` blocks against moto: a VPC and a security group made by hand
/// are adopted at plan (nothing created), tagged as the stack's at apply,
/// and the blocks left in the stack are no-ops. An object tagged for another
/// stack is refused before anything changes.
#[tokio::test(flavor = "multi_thread")]
async fn import_blocks_adopt_without_creating() {
    let m = moto();
    let env = m.env();
    let ec2 = m.factory().ec2(REGION).await;
    let vpc = ec2.create_vpc().cidr_block("10.63.0.0/16").send().await.unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_owned();
    let sg = ec2.create_security_group().group_name("im-db").description("database").vpc_id(&vpc).send().await.unwrap();
    let sg = sg.group_id().unwrap().to_owned();

    let w = Workdir::new();
    let stack = format!(
        "[stack]\nname = \"im\"\nregion = \"us-east-1\"\n\n[vars]\nvpc_id = \"{vpc}\"\n\n\
         [vpc.main]\ncidr_block = \"10.63.0.0/16\"\n\n\
         [security_group.db]\nname = \"im-db\"\ndescription = \"database\"\nvpc_id = \"${{vpc.main.id}}\"\n\n\
         [[import]]\nto = \"vpc.main\"\nid = \"${{var.vpc_id}}\"\n\n\
         [[import]]\nto = \"security_group.db\"\nid = \"{sg}\"\n"
    );
    w.write("im.toml", &stack);
    let plan = w.run(&["plan", "im.toml", "--detailed-exitcode"], &env).expect(2);
    let out = &plan.stdout;
    assert!(out.contains(&format!("# vpc.main will be imported (id {vpc})")), "{out}");
    assert!(out.contains(&format!("# security_group.db will be imported (id {sg})")), "{out}");
    assert!(out.contains("0 to add") && out.contains("0 to destroy, 2 to import"), "{out}");
    w.run(&["apply", "im.toml", "--auto-approve"], &env).expect(0);
    let state = w.path().join("state/im.json");
    assert_eq!((state_id(&state, "vpc.main"), state_id(&state, "security_group.db")), (vpc.clone(), sg.clone()));
    let vpcs = ec2.describe_vpcs().send().await.unwrap();
    assert_eq!(vpcs.vpcs().iter().filter(|v| v.cidr_block() == Some("10.63.0.0/16")).count(), 1, "nothing created");
    let tagged = vpcs.vpcs().iter().find(|v| v.vpc_id() == Some(vpc.as_str())).unwrap();
    assert!(tagged.tags().iter().any(|t| t.key() == Some("pgstack:address") && t.value() == Some("vpc.main")));
    let plan = w.run(&["plan", "im.toml", "--detailed-exitcode"], &env).expect(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);

    // Another stack's VPC: refused before any change, with the owner named.
    let other = Workdir::new();
    other.write("other.toml", &stack.replace("name = \"im\"", "name = \"other\""));
    let refused = other.run(&["apply", "other.toml", "--auto-approve"], &env).expect(1);
    assert!(refused.stderr.contains("is managed by stack `im` as `vpc.main`"), "{}", refused.stderr);
    assert!(refused.stderr.contains("nothing was changed"), "{}", refused.stderr);
    assert!(!other.path().join("state/other.json").exists(), "no state written");
}
