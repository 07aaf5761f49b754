//! `backup_vault` and `backup_plan` against moto through the CLI: a vault
//! under a customer-managed key and a plan whose weekly rule keeps backups
//! 35 days and copies them to a second vault for 90, read back clean; tags
//! changed in place; a tag removed out of band seen as drift and put back;
//! import of both; destroy of an empty vault without the data-loss guard.
//!
//! Not here: moto 5.2.5 has no UpdateBackupPlan, selections or restore
//! testing: a changed rule is tested with aws-smithy-mocks in
//! src/provider/aws/backup_plan.rs, selections and restore testing in their
//! own files (docs/testing.md).

use crate::support::cli::Workdir;
use crate::support::moto::{REGION, moto};

fn stack(team: &str) -> String {
    format!(
        r#"[stack]
name   = "bk"
region = "us-east-1"

[kms_key.backup]
deletion_window_in_days = 7

[backup_vault.main]
name        = "bk-main"
kms_key_arn = "${{kms_key.backup.arn}}"
tags        = {{ Team = "{team}" }}

[backup_vault.copy]
name        = "bk-copy"
kms_key_arn = "${{kms_key.backup.arn}}"

[backup_plan.main]
name  = "bk"
tags  = {{ Team = "{team}" }}
rules = [
  {{ rule_name = "weekly", target_vault_name = "${{backup_vault.main.name}}", schedule_expression = "cron(0 3 ? * SUN *)",
     delete_after_days = 35, copy_to = [{{ destination_vault_arn = "${{backup_vault.copy.arn}}", delete_after_days = 90 }}] }},
]
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_vault_and_plan_lifecycle_drift_import_and_destroy() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    w.write("bk.toml", &stack("db"));
    w.run(&["apply", "bk.toml", "--auto-approve", "--skip-checks"], &env).expect(0);
    w.run(&["plan", "bk.toml", "--detailed-exitcode"], &env).expect(0);

    let backup = m.factory().backup(REGION).await;
    let vault = backup.describe_backup_vault().backup_vault_name("bk-main").send().await.unwrap();
    assert!(vault.encryption_key_arn().is_some_and(|k| k.starts_with("arn:aws:kms:")), "{vault:?}");
    let plans = backup.list_backup_plans().send().await.unwrap();
    let plan_id = plans.backup_plans_list()[0].backup_plan_id().unwrap().to_owned();
    let plan = backup.get_backup_plan().backup_plan_id(&plan_id).send().await.unwrap();
    let rule = &plan.backup_plan().unwrap().rules()[0];
    assert_eq!(rule.lifecycle().and_then(|l| l.delete_after_days()), Some(35));
    let copy = &rule.copy_actions()[0];
    assert!(copy.destination_backup_vault_arn().ends_with(":backup-vault:bk-copy"));
    assert_eq!(copy.lifecycle().and_then(|l| l.delete_after_days()), Some(90));

    // In place: the tags of the vault and the plan.
    w.write("bk.toml", &stack("platform"));
    let plan = w.run(&["plan", "bk.toml", "--detailed-exitcode"], &env).expect(2);
    assert!(plan.stdout.contains("backup_vault.main will be updated in-place"), "{}", plan.stdout);
    assert!(plan.stdout.contains("backup_plan.main will be updated in-place"), "{}", plan.stdout);
    assert!(plan.stdout.contains("0 to add, 2 to change, 0 to destroy"), "{}", plan.stdout);
    w.run(&["apply", "bk.toml", "--auto-approve", "--skip-checks"], &env).expect(0);
    w.run(&["plan", "bk.toml", "--detailed-exitcode"], &env).expect(0);

    // Out of band: the vault's tag removed; drift sees it, apply puts it back.
    let arn = vault.backup_vault_arn().unwrap();
    backup.untag_resource().resource_arn(arn).tag_key_list("Team").send().await.unwrap();
    let drift = w.run(&["drift", "bk.toml"], &env).expect(2);
    assert!(drift.stdout.contains("backup_vault.main") && drift.stdout.contains("Team"), "{}", drift.stdout);
    w.run(&["apply", "bk.toml", "--auto-approve", "--skip-checks"], &env).expect(0);
    let tags = backup.list_tags().resource_arn(arn).send().await.unwrap();
    assert_eq!(tags.tags().and_then(|t| t.get("Team")).map(String::as_str), Some("platform"));

    // Import both after forgetting them.
    w.run(&["state", "rm", "bk.toml", "backup_vault.main"], &env).expect(0);
    w.run(&["state", "rm", "bk.toml", "backup_plan.main"], &env).expect(0);
    w.run(&["import", "bk.toml", "backup_vault.main", "bk-main"], &env).expect(0);
    w.run(&["import", "bk.toml", "backup_plan.main", &plan_id], &env).expect(0);
    w.run(&["plan", "bk.toml", "--detailed-exitcode"], &env).expect(0);

    // Empty vaults hold no data: only the key needs --allow-destroy.
    w.run(&["destroy", "bk.toml", "--auto-approve", "--allow-destroy", "kms_key.backup"], &env).expect(0);
    let vaults = backup.list_backup_vaults().send().await.unwrap();
    assert!(vaults.backup_vault_list().is_empty(), "{vaults:?}");
    let left = backup.list_backup_plans().send().await.unwrap();
    assert!(left.backup_plans_list().is_empty(), "{left:?}");
}
