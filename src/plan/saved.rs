//! Saved plan files (`plan -o`): the plan, how to reload its configuration,
//! and where its state lives, sealed with a digest of their own content.
//!
//! Invariants: a file is accepted only when its format version is known and
//! its digest matches its body byte for byte (as canonical JSON), so an edited
//! or truncated plan is refused before anything is loaded from it; no
//! sensitive variable value is ever written (only a salted hash of it).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Plan;

/// Version of the saved-plan file format written by this build.
pub const SAVED_PLAN_VERSION: u32 = 2;

pub use crate::state::StateLocation;

/// A sensitive variable's value, kept only as a salted SHA-256, so apply can
/// check that the value given again is the one the plan was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaltedHash {
    pub salt: String,
    pub sha256: String,
}

impl SaltedHash {
    /// Hashes `value` with a fresh random salt.
    pub fn new(value: &str) -> Self {
        let salt = uuid::Uuid::new_v4().simple().to_string();
        let sha256 = Self::hash(&salt, value);
        SaltedHash { salt, sha256 }
    }

    pub fn matches(&self, value: &str) -> bool {
        Self::hash(&self.salt, value) == self.sha256
    }

    fn hash(salt: &str, value: &str) -> String {
        hex(&Sha256::new().chain_update(salt.as_bytes()).chain_update([0u8]).chain_update(value.as_bytes()).finalize())
    }
}

/// Everything a saved plan holds besides its seal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlanBody {
    /// The stack file, as an absolute path.
    pub stack_path: PathBuf,
    /// `--var` values, sensitive ones left out.
    pub vars: Vec<(String, String)>,
    /// Sensitive variables given on the command line or in var files: apply
    /// asks for them again and checks them against these hashes.
    #[serde(default)]
    pub sensitive_vars: BTreeMap<String, SaltedHash>,
    /// `PGSTACK_VAR_*` values, sensitive ones left out.
    #[serde(default)]
    pub env_vars: Vec<(String, String)>,
    /// `--var-file` paths, absolute.
    pub var_files: Vec<PathBuf>,
    pub env: Option<String>,
    /// `--region`, when given.
    pub region: Option<String>,
    pub state: StateLocation,
    pub plan: Plan,
}

/// The file as written: version, digest, body.
#[derive(Serialize, Deserialize)]
struct Envelope {
    pgstack_saved_plan: u32,
    digest: String,
    body: serde_json::Value,
}

/// Why a file is not a saved plan this build can apply.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("{path} is not a pgstack plan file: {detail}")]
    NotAPlan { path: String, detail: String },
    #[error(
        "{path} is a plan file of format {found}, which this pgstack does not read (it writes format {SAVED_PLAN_VERSION})"
    )]
    UnknownVersion { path: String, found: u64 },
    #[error("{path} was changed after it was saved: its content does not match its digest")]
    Tampered { path: String },
}

/// The text of a saved plan file.
pub fn encode(body: &SavedPlanBody) -> Result<String, serde_json::Error> {
    let body = serde_json::to_value(body)?;
    let digest = digest(&body)?;
    serde_json::to_string_pretty(&Envelope { pgstack_saved_plan: SAVED_PLAN_VERSION, digest, body })
}

/// Reads a saved plan file's text, checking version and digest first.
pub fn decode(text: &str, path: &str) -> Result<SavedPlanBody, SavedPlanError> {
    let not_a_plan = |detail: String| SavedPlanError::NotAPlan { path: path.to_owned(), detail };
    let raw: serde_json::Value = serde_json::from_str(text).map_err(|e| not_a_plan(e.to_string()))?;
    let version = raw
        .get("pgstack_saved_plan")
        .ok_or_else(|| not_a_plan("no `pgstack_saved_plan` version field".into()))?
        .as_u64()
        .ok_or_else(|| not_a_plan("`pgstack_saved_plan` is not a number".into()))?;
    if version != u64::from(SAVED_PLAN_VERSION) {
        return Err(SavedPlanError::UnknownVersion { path: path.to_owned(), found: version });
    }
    let envelope: Envelope = serde_json::from_value(raw).map_err(|e| not_a_plan(e.to_string()))?;
    if digest(&envelope.body).ok().as_deref() != Some(envelope.digest.as_str()) {
        return Err(SavedPlanError::Tampered { path: path.to_owned() });
    }
    serde_json::from_value(envelope.body).map_err(|e| not_a_plan(e.to_string()))
}

/// SHA-256 of the canonical JSON of `body` (object keys sorted, no spaces).
fn digest(body: &serde_json::Value) -> Result<String, serde_json::Error> {
    Ok(format!("sha256:{}", hex(&Sha256::digest(serde_json::to_vec(body)?))))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy as _;

    use super::*;
    use crate::plan::{Action, PLAN_FORMAT_VERSION, ResourceChange};

    fn body() -> SavedPlanBody {
        let addr: crate::addr::ResourceAddr = "db_instance.main".parse().unwrap();
        SavedPlanBody {
            stack_path: "/work/stacks/prod.toml".into(),
            vars: vec![("env".into(), "prod".into())],
            sensitive_vars: BTreeMap::new(),
            env_vars: vec![],
            var_files: vec![],
            env: None,
            region: None,
            state: StateLocation {
                backend: "local".into(),
                location: "/work/state/prod.json".into(),
                settings: BTreeMap::new(),
            },
            plan: Plan {
                format_version: PLAN_FORMAT_VERSION,
                stack: "prod".into(),
                config_digest: "c".into(),
                state_lineage: Some("l".into()),
                state_serial: 3,
                changes: vec![ResourceChange {
                    address: addr.clone(),
                    rtype: "db_instance".into(),
                    region: "us-east-1".into(),
                    action: Action::Update,
                    id: Some("db-1".into()),
                    before: Some(Default::default()),
                    after: Some(Default::default()),
                    changes: vec![],
                    guarded: false,
                    adopted: false,
                    dependencies: vec![],
                    notes: vec![],
                    create_before_destroy: false,
                    deposed: vec![],
                }],
                forget: vec![],
                drift: vec![],
                outputs: BTreeMap::new(),
                destroy: false,
            },
        }
    }

    #[test]
    fn round_trips() {
        let text = encode(&body()).unwrap();
        assert_eq!(decode(&text, "p").unwrap(), body());
    }

    #[test]
    fn an_edited_action_is_refused() {
        let text = encode(&body()).unwrap();
        let edited = text.replace("\"update\"", "\"delete\"");
        assert_ne!(edited, text);
        assert!(matches!(decode(&edited, "p"), Err(SavedPlanError::Tampered { .. })));
        // Re-indenting is not an edit: the digest covers the content, not the layout.
        let compact = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&text).unwrap()).unwrap();
        assert!(decode(&compact, "p").is_ok());
    }

    #[test]
    fn unknown_versions_and_other_files_are_refused() {
        let text = encode(&body()).unwrap().replacen("\"pgstack_saved_plan\": 2", "\"pgstack_saved_plan\": 9", 1);
        assert!(matches!(decode(&text, "p"), Err(SavedPlanError::UnknownVersion { found: 9, .. })));
        assert!(matches!(decode("{\"a\": 1}", "p"), Err(SavedPlanError::NotAPlan { .. })));
        assert!(matches!(decode("[1,2", "p"), Err(SavedPlanError::NotAPlan { .. })));
    }

    /// A plan file with `edit` made to its body and the digest made again:
    /// what a tool (or a person) resealing an edited plan would write.
    fn resealed(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut body = serde_json::to_value(body()).unwrap();
        edit(&mut body);
        let digest = digest(&body).unwrap();
        serde_json::to_string(&Envelope { pgstack_saved_plan: SAVED_PLAN_VERSION, digest, body }).unwrap()
    }

    #[test]
    fn a_recorded_state_serial_out_of_range_is_refused_naming_the_file() {
        let max = crate::state::MAX_SERIAL.to_string();
        let at_max = resealed(|b| b["plan"]["state_serial"] = serde_json::from_str(&max).unwrap());
        assert_eq!(decode(&at_max, "p").unwrap().plan.state_serial, crate::state::MAX_SERIAL);
        for n in ["18446744073709551615", "9007199254740992", "-1", "1e308", "0.5", "\"3\""] {
            let text = resealed(|b| b["plan"]["state_serial"] = serde_json::from_str(n).unwrap());
            let e = decode(&text, "plans/x.plan").unwrap_err();
            assert!(matches!(e, SavedPlanError::NotAPlan { .. }), "{n}: {e}");
            let shown = e.to_string();
            assert!(shown.starts_with("plans/x.plan is not a pgstack plan file"), "{n}: {shown}");
            assert!(shown.contains("a serial must be a whole number from 0 to 9007199254740991"), "{n}: {shown}");
        }
    }

    #[test]
    fn salted_hashes_match_only_the_same_value() {
        let h = SaltedHash::new("s3cret");
        assert!(h.matches("s3cret") && !h.matches("s3cret "));
        assert_ne!(h, SaltedHash::new("s3cret"), "a fresh salt each time");
        assert!(!h.sha256.contains("s3cret"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Arbitrary bytes never panic the loader, and every error names the file.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let text = String::from_utf8_lossy(&bytes);
            if let Err(e) = decode(&text, "plans/x.plan") {
                proptest::prop_assert!(e.to_string().contains("plans/x.plan"));
            }
        }

        /// Extreme numbers in a resealed plan's counters never panic the
        /// loader; it reads them only in range, and a refusal names the file.
        #[test]
        fn extreme_numbers_in_a_resealed_plan_never_panic(
            field in proptest::sample::select(vec!["state_serial", "format_version"]),
            n in proptest::prop_oneof![
                proptest::prelude::any::<u64>().prop_map(|n| n.to_string()),
                proptest::prelude::any::<i64>().prop_map(|n| n.to_string()),
                proptest::prelude::any::<f64>().prop_map(|x| serde_json::json!(x).to_string()),
                proptest::sample::select(vec!["1e308", "-0.5", "null", "[]"]).prop_map(str::to_owned),
            ],
        ) {
            let text = resealed(|b| b["plan"][field] = serde_json::from_str(&n).unwrap());
            match decode(&text, "plans/x.plan") {
                Ok(b) => proptest::prop_assert!(b.plan.state_serial <= crate::state::MAX_SERIAL),
                Err(e) => proptest::prop_assert!(e.to_string().contains("plans/x.plan"), "{e}"),
            }
        }

        /// Flipping any one byte of a valid plan is refused (or, if it still
        /// decodes, decodes to the same plan: e.g. whitespace).
        #[test]
        fn any_single_byte_change_is_caught(pos in 0usize..4000, byte in proptest::num::u8::ANY) {
            let text = encode(&body()).unwrap();
            let mut bytes = text.clone().into_bytes();
            let i = pos % bytes.len();
            bytes[i] = byte;
            let edited = String::from_utf8_lossy(&bytes);
            if let Ok(b) = decode(&edited, "p") {
                proptest::prop_assert_eq!(b, body());
            }
        }
    }
}
