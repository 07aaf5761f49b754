//! Apply makes exactly the changes the plan showed (issue 7), against moto.

use crate::support::cli::Workdir;
use crate::support::moto::{REGION, moto};

#[tokio::test(flavor = "multi_thread")]
async fn ignored_attributes_are_not_written_by_apply() {
    let m = moto();
    let env = m.env();
    let w = Workdir::new();
    let stack = |description: &str, rotation: bool| {
        format!(
            "[stack]\nname = \"contract\"\nregion = \"us-east-1\"\n\n[kms_key.db]\ndescription = \"{description}\"\n\
             enable_key_rotation = {rotation}\nignore_changes = [\"description\"]\n"
        )
    };
    w.write("contract.toml", &stack("first", true));
    w.run(&["apply", "contract.toml", "--auto-approve"], &env).expect(0);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path().join("state/contract.json")).unwrap()).unwrap();
    let arn = state["resources"][0]["id"].as_str().unwrap().to_owned();

    w.write("contract.toml", &stack("second", false));
    let plan = w.run(&["plan", "contract.toml", "--json"], &env).expect(0);
    let v: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let changed: Vec<&str> = v["resource_changes"][0]["changed_attributes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(changed, vec!["enable_key_rotation"], "{}", plan.stdout);
    w.run(&["apply", "contract.toml", "--auto-approve"], &env).expect(0);

    let kms = m.factory().kms(REGION).await;
    let key = kms.describe_key().key_id(&arn).send().await.unwrap();
    assert_eq!(key.key_metadata().and_then(|k| k.description()), Some("first"), "the ignored description stays");
    let rotation = kms.get_key_rotation_status().key_id(&arn).send().await.unwrap();
    assert!(!rotation.key_rotation_enabled(), "the planned change was made");
}
