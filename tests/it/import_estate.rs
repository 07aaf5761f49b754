//! Bringing an existing estate under management: objects made by hand (with
//! the SDK) are declared with `import --generate-config` (ids of objects
//! already imported become references), imported, and then plan only the
//! ownership tags pgstack adds; after one apply the plan is clean.

use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType as Ec2ResourceType, Tag, TagSpecification};

use crate::support::cli::Workdir;
use crate::support::moto::{REGION, moto};

const STACK: &str = "[stack]\nname = \"estate\"\nregion = \"us-east-1\"\n";

#[tokio::test(flavor = "multi_thread")]
async fn an_estate_made_by_hand_is_declared_imported_and_converges() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.write("estate.toml", STACK);

    let ec2 = m.factory().ec2(REGION).await;
    let team = Tag::builder().key("Team").value("data").build();
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.42.0.0/16")
        .tag_specifications(TagSpecification::builder().resource_type(Ec2ResourceType::Vpc).tags(team).build())
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_owned();
    let sg = ec2
        .create_security_group()
        .group_name("legacy-db")
        .description("Postgres from the office")
        .vpc_id(&vpc_id)
        .send()
        .await
        .unwrap();
    let sg_id = sg.group_id().unwrap().to_owned();
    ec2.authorize_security_group_ingress()
        .group_id(&sg_id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(5432)
                .to_port(5432)
                .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let kms = m.factory().kms(REGION).await;
    // With its usage: moto describes none otherwise (AWS: ENCRYPT_DECRYPT; docs/testing.md).
    let usage = aws_sdk_kms::types::KeyUsageType::EncryptDecrypt;
    let key = kms.create_key().description("legacy backups").key_usage(usage).send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    kms.enable_key_rotation().key_id(&key_id).send().await.unwrap();
    let iam = m.factory().iam(REGION).await;
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"Service":"monitoring.rds.amazonaws.com"},"Condition":{"StringEquals":{"aws:SourceAccount":"${aws:PrincipalAccount}"}}}]}"#;
    iam.create_role().role_name("legacy-monitoring").assume_role_policy_document(trust).send().await.unwrap();
    iam.attach_role_policy()
        .role_name("legacy-monitoring")
        .policy_arn("arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole")
        .send()
        .await
        .unwrap();
    let s3 = m.factory().s3(REGION).await;
    s3.create_bucket().bucket("legacy-backups-estate").send().await.unwrap();
    let rds = m.factory().rds(REGION).await;
    rds.create_db_cluster()
        .db_cluster_identifier("legacy-pg")
        .engine("aurora-postgresql")
        .engine_version("16.4")
        .master_username("postgres")
        .manage_master_user_password(true)
        .storage_encrypted(true)
        .kms_key_id(&key_id)
        .backup_retention_period(14)
        .send()
        .await
        .unwrap();
    rds.create_db_instance()
        .db_instance_identifier("legacy-pg-1")
        .db_cluster_identifier("legacy-pg")
        .engine("aurora-postgresql")
        .db_instance_class("db.r6g.large")
        .send()
        .await
        .unwrap();

    let west = m.factory().ec2("us-west-2").await.create_vpc().cidr_block("10.43.0.0/16").send().await.unwrap();
    let west_id = west.vpc().and_then(|v| v.vpc_id()).unwrap().to_owned();
    let generated = w
        .run(&["import", "estate.toml", "vpc.west", &west_id, "--generate-config", "--region", "us-west-2"], &env)
        .expect(0)
        .stdout;
    assert!(generated.contains("[vpc.west]\nregion = \"us-west-2\"\n"), "{generated}");
    w.write("estate.toml", &format!("{STACK}\n{generated}"));
    w.run(&["import", "estate.toml", "vpc.west", &west_id], &env).expect(0);

    let objects = [
        ("vpc.legacy", vpc_id.as_str()),
        ("security_group.legacy", sg_id.as_str()),
        ("kms_key.legacy", key_id.as_str()),
        ("iam_role.legacy", "legacy-monitoring"),
        ("s3_bucket.legacy", "legacy-backups-estate"),
        ("db_cluster.legacy", "legacy-pg"),
        ("db_cluster_instance.legacy", "legacy-pg-1"),
    ];
    for (addr, id) in objects {
        let generated = w.run(&["import", "estate.toml", addr, id, "--generate-config"], &env).expect(0).stdout;
        assert!(generated.contains(&format!("[{addr}]")), "{generated}");
        let stack = std::fs::read_to_string(w.path().join("estate.toml")).unwrap();
        w.write("estate.toml", &format!("{stack}\n{generated}"));
        w.run(&["import", "estate.toml", addr, id], &env).expect(0);
    }
    let stack = std::fs::read_to_string(w.path().join("estate.toml")).unwrap();
    assert!(stack.contains("Team = \"data\"") && stack.contains("cidr_blocks = [\"10.0.0.0/8\"]"), "{stack}");
    assert!(!stack.contains("description = \"\""), "empty rule fields are left out: {stack}");
    assert!(stack.contains("vpc_id = \"${vpc.legacy.id}\""), "the imported VPC is referenced, not its id: {stack}");
    assert!(stack.contains("cluster_identifier = \"${db_cluster.legacy.id}\""), "{stack}");
    assert!(!stack.contains("parameter_apply_status"), "a status is never generated: {stack}");
    assert!(stack.contains("$${aws:PrincipalAccount}"), "a policy variable stays literal: {stack}");
    assert!(!stack.contains("pgstack:"), "no ownership tags are generated: {stack}");

    // The declarations match the objects: only the ownership tags are to be added.
    let plan = w.run(&["plan", "estate.toml", "--json"], &env).expect(0).stdout;
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let changes = plan["resource_changes"].as_array().unwrap();
    assert_eq!(changes.len(), objects.len() + 1, "{plan:#}");
    for c in changes {
        let changed: Vec<&str> =
            c["changed_attributes"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
        assert_eq!((c["action"].as_str(), changed), (Some("update"), vec!["tags"]), "{c:#}");
    }
    // The legacy bucket falls short of the backup rules; bringing it under management comes first.
    w.run(&["apply", "estate.toml", "--auto-approve", "--skip-checks"], &env).expect(0);
    w.run(&["plan", "estate.toml", "--detailed-exitcode"], &env).expect(0);

    // Refusals: a declared address, a keyed address, an object another stack owns.
    let run = w.run(&["import", "estate.toml", "vpc.legacy", &vpc_id, "--generate-config"], &env).expect(1);
    assert!(run.stderr.contains("already declared"), "{}", run.stderr);
    let run = w.run(&["import", "estate.toml", "vpc.other[\"a\"]", &vpc_id, "--generate-config"], &env).expect(1);
    assert!(run.stderr.contains("plain `[TYPE.NAME]` block"), "{}", run.stderr);
    let run = w.run(&["import", "estate.toml", "vpc.copy", &vpc_id, "--generate-config"], &env).expect(1);
    assert!(run.stderr.contains("vpc.legacy"), "the owner is named: {}", run.stderr);
    let run = w.run(&["import", "estate.toml", "vpc.gone", "vpc-00000000", "--generate-config"], &env).expect(1);
    assert!(run.stderr.contains("no vpc with id `vpc-00000000` in us-east-1"), "{}", run.stderr);
}
