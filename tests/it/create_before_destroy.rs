//! `create_before_destroy` end-to-end against moto: a security group a
//! database uses is renamed (a replacement); the new group is created, the
//! database moved onto it, and only then the old group deleted.

use crate::support::cli::Workdir;
use crate::support::moto::{REGION, moto};

const STACK: &str = r#"
[stack]
name   = "cbd"
region = "us-east-1"

[vpc.main]
cidr_block = "10.43.0.0/16"

[subnet.db]
for_each          = { a = "10.43.1.0/24", b = "10.43.2.0/24" }
vpc_id            = "${vpc.main.id}"
cidr_block        = "${each.value}"
availability_zone = "us-east-1${each.key}"

[security_group.db]
name        = "cbd-db"
description = "PostgreSQL"
vpc_id      = "${vpc.main.id}"

[db_subnet_group.db]
name       = "cbd-db"
subnet_ids = "${subnet.db[*].id}"

[db_instance.main]
identifier             = "cbd-main"
engine_version         = "16.4"
instance_class         = "db.t4g.micro"
allocated_storage      = 20
db_subnet_group_name   = "${db_subnet_group.db.name}"
vpc_security_group_ids = ["${security_group.db.id}"]
deletion_protection    = false

[output.sg]
value = "${security_group.db.id}"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_renamed_security_group_in_use_is_replaced_create_before_destroy() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.write("cbd.toml", STACK);
    w.run(&["apply", "cbd.toml", "--skip-checks", "--auto-approve"], &env).expect(0);
    let old = w.run(&["output", "cbd.toml", "sg"], &env).expect(0).stdout.trim().to_owned();

    w.write("cbd.toml", &STACK.replace("name        = \"cbd-db\"", "name        = \"cbd-db-2\""));
    let plan = w.run(&["plan", "cbd.toml", "--detailed-exitcode"], &env).expect(2);
    assert!(plan.stdout.contains("+/- security_group.db"), "{}", plan.stdout);
    assert!(plan.stdout.contains("create replacement and then destroy"), "{}", plan.stdout);
    w.run(&["apply", "cbd.toml", "--skip-checks", "--auto-approve"], &env).expect(0);
    let new = w.run(&["output", "cbd.toml", "sg"], &env).expect(0).stdout.trim().to_owned();
    assert_ne!(new, old);

    let rds = m.factory().rds(REGION).await;
    let db = rds.describe_db_instances().db_instance_identifier("cbd-main").send().await.unwrap();
    let groups: Vec<&str> =
        db.db_instances()[0].vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id()).collect();
    assert_eq!(groups, [new.as_str()], "the database ends on the new group");
    let ec2 = m.factory().ec2(REGION).await;
    let left = ec2.describe_security_groups().group_ids(&old).send().await;
    assert!(left.map_or(true, |o| o.security_groups().is_empty()), "the old group is gone");
    let state = std::fs::read_to_string(w.path().join("state/cbd.json")).unwrap();
    assert!(!state.contains("deposed"), "{state}");
    w.run(&["plan", "cbd.toml", "--detailed-exitcode"], &env).expect(0);
}
