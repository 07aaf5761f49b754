//! Saved plan files (`plan -o`): the plan, the configuration it was made
//! from (the loaded stack, a snapshot: apply reads no stack file, so a plan
//! applies from another checkout or after the files changed), and where its
//! state lives, sealed with a digest of their own content.
//!
//! Invariants: a file is accepted only when its format version is known and
//! its digest matches its body (written again as compact JSON from the parsed
//! body), so an edited or truncated plan is refused before anything is used
//! from it; no
//! sensitive variable value is ever written (only a salted hash of it: the
//! snapshot names the variables, [`crate::config::Expr::Sensitive`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Action, Plan, ResourceChange, Source};

/// Version of the saved-plan file format written by this build.
pub const SAVED_PLAN_VERSION: u32 = 4;

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
    /// The stack as loaded when planning (variables, `--env` and `--region`
    /// applied; no sensitive value, no path): apply plans again from it.
    pub config: Source,
    /// The sensitive variables the stack uses: apply asks for them again
    /// and checks them against these hashes.
    pub sensitive_vars: BTreeMap<String, SaltedHash>,
    pub state: StateLocation,
    /// How the plan was asked for; apply plans again the same way and
    /// applies only when the result is this plan.
    pub options: SavedOptions,
    pub plan: Plan,
}

/// The `plan` flags a saved plan was made with (besides `--destroy`, which
/// the plan records).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedOptions {
    pub targets: Vec<crate::addr::ResourceAddr>,
    pub replace: Vec<crate::addr::ResourceAddr>,
    /// Whether objects were read from AWS first (`--refresh`).
    pub refresh: bool,
    /// Saved with `--skip-checks`: check rules of error severity failed, and
    /// `apply PLAN` applies it anyway, as it was told when the plan was made.
    #[serde(default)]
    pub skip_checks: bool,
}

/// The file as written: version, digest, body.
#[derive(Serialize)]
struct Envelope<'a> {
    pgstack_saved_plan: u32,
    digest: String,
    body: &'a SavedPlanBody,
}

/// The file as read: the version first, on its own, so that a file of
/// another format is named as such before its body is read.
#[derive(Deserialize)]
struct Version {
    pgstack_saved_plan: serde_json::Value,
}

#[derive(Deserialize)]
struct Sealed {
    digest: String,
    body: SavedPlanBody,
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
    let digest = digest(body)?;
    serde_json::to_string_pretty(&Envelope { pgstack_saved_plan: SAVED_PLAN_VERSION, digest, body })
}

/// Reads a saved plan file's text, checking version and digest first.
pub fn decode(text: &str, path: &str) -> Result<SavedPlanBody, SavedPlanError> {
    let not_a_plan = |detail: String| SavedPlanError::NotAPlan { path: path.to_owned(), detail };
    let version: Version = serde_json::from_str(text).map_err(|e| {
        not_a_plan(if e.is_data() { "no `pgstack_saved_plan` version field".into() } else { e.to_string() })
    })?;
    let version =
        version.pgstack_saved_plan.as_u64().ok_or_else(|| not_a_plan("`pgstack_saved_plan` is not a number".into()))?;
    if version != u64::from(SAVED_PLAN_VERSION) {
        return Err(SavedPlanError::UnknownVersion { path: path.to_owned(), found: version });
    }
    let sealed: Sealed = serde_json::from_str(text).map_err(|e| not_a_plan(e.to_string()))?;
    if digest(&sealed.body).ok().as_deref() != Some(sealed.digest.as_str()) {
        return Err(SavedPlanError::Tampered { path: path.to_owned() });
    }
    Ok(sealed.body)
}

/// How the plan in a file differs from the plan made again at apply, each
/// difference one line naming the address; empty when they agree on every
/// action, object id, region, attribute change and value after apply (the
/// objects' current values may differ where nothing changes them).
///
/// A saved plan carries intent only: apply plans again under its lock, from
/// the state it locks and what AWS holds now, and applies that plan only
/// when this finds nothing. So an id, region or prior value written into the
/// file is never used, and a file edited to touch anything the stack's own
/// plan would not touch is refused.
pub fn differences(saved: &Plan, fresh: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    if saved.stack != fresh.stack {
        out.push(format!("the file is a plan of stack `{}`, not `{}`", saved.stack, fresh.stack));
    }
    if saved.destroy != fresh.destroy {
        out.push("the file and the plan made now disagree on whether this is a destroy".to_owned());
    }
    let (s, f) = (by_address(saved), by_address(fresh));
    for (addr, c) in &s {
        let Some(now) = f.get(addr) else {
            if c.action != Action::NoOp || c.adopted || !c.deposed.is_empty() {
                out.push(format!(
                    "{addr}: the file plans {}, but the stack and its state hold nothing at that address",
                    describe(c)
                ));
            }
            continue;
        };
        let id = |c: &ResourceChange| c.id.clone().unwrap_or_else(|| "(none)".to_owned());
        let diff = if c.action != now.action || c.adopted != now.adopted {
            Some(format!("the file plans {}, planning now gives {}", describe(c), describe(now)))
        } else if c.id != now.id {
            Some(format!("the file names object {}, the state records {}", id(c), id(now)))
        } else if c.rtype != now.rtype {
            Some(format!("the file says type `{}`, the state and stack say `{}`", c.rtype, now.rtype))
        } else if c.region != now.region {
            Some(format!("the file says region {}, the state and stack say {}", c.region, now.region))
        } else if c.deposed != now.deposed || c.create_before_destroy != now.create_before_destroy {
            Some("the old objects it deletes differ".to_owned())
        } else if c.guarded != now.guarded {
            Some("whether it holds data differs (it changed since the plan was made)".to_owned())
        } else if c.changes != now.changes || c.after != now.after {
            let names = |x: &ResourceChange| x.changes.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
            let (a, b) = (names(c), names(now));
            Some(if a == b {
                format!("the values of {} differ (the object changed since the plan was made)", list(&a))
            } else {
                format!("the file changes {}, planning now changes {}", list(&a), list(&b))
            })
        } else if c.dependencies != now.dependencies {
            Some("its dependencies differ".to_owned())
        } else {
            None
        };
        if let Some(d) = diff {
            out.push(format!("{addr}: {d}"));
        }
    }
    for (addr, c) in &f {
        if !s.contains_key(addr) && (c.action != Action::NoOp || c.adopted || !c.deposed.is_empty()) {
            out.push(format!("{addr}: planning now gives {}, which the file does not show", describe(c)));
        }
    }
    if saved.forget != fresh.forget {
        out.push("the state entries it forgets differ".to_owned());
    }
    out
}

fn by_address(p: &Plan) -> BTreeMap<&crate::addr::ResourceAddr, &ResourceChange> {
    p.changes.iter().map(|c| (&c.address, c)).collect()
}

fn describe(c: &ResourceChange) -> String {
    let what = match c.action {
        Action::NoOp if c.adopted => "to record an interrupted create",
        Action::NoOp if !c.deposed.is_empty() => "to delete old objects",
        Action::NoOp => "no change",
        Action::Create => "a create",
        Action::Update => "an update",
        Action::Replace => "a replacement",
        Action::Delete => "a delete",
    };
    match &c.id {
        Some(id) if c.action != Action::Create => format!("{what} of {id}"),
        _ => what.to_owned(),
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "nothing".to_owned()
    } else {
        names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
    }
}

/// SHA-256 of the canonical JSON of `body` (object keys sorted, no spaces).
/// SHA-256 of the body as compact JSON, written from the parsed body (so
/// layout is not content: re-indenting a file keeps its digest).
fn digest(body: &SavedPlanBody) -> Result<String, serde_json::Error> {
    Ok(format!("sha256:{}", hex(&Sha256::digest(serde_json::to_vec(body)?))))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy as _;

    use super::*;
    use crate::plan::{AttrChange, PLAN_FORMAT_VERSION};

    fn body() -> SavedPlanBody {
        let addr: crate::addr::ResourceAddr = "db_instance.main".parse().unwrap();
        SavedPlanBody {
            config: Source::default(),
            sensitive_vars: BTreeMap::new(),
            state: StateLocation {
                backend: "local".into(),
                location: "/work/state/prod.json".into(),
                settings: BTreeMap::new(),
            },
            options: SavedOptions { targets: vec![], replace: vec![], refresh: true, skip_checks: false },
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
                    timeouts: BTreeMap::new(),
                }],
                forget: vec![],
                drift: vec![],
                outputs: BTreeMap::new(),
                source: Default::default(),
                destroy: false,
                moved: Vec::new(),
                imported: Vec::new(),
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
        let text = encode(&body()).unwrap().replacen(
            &format!("\"pgstack_saved_plan\": {SAVED_PLAN_VERSION}"),
            "\"pgstack_saved_plan\": 9",
            1,
        );
        assert!(matches!(decode(&text, "p"), Err(SavedPlanError::UnknownVersion { found: 9, .. })));
        assert!(matches!(decode("{\"a\": 1}", "p"), Err(SavedPlanError::NotAPlan { .. })));
        assert!(matches!(decode("[1,2", "p"), Err(SavedPlanError::NotAPlan { .. })));
    }

    /// A plan file with `edit` made to its body and the digest made again:
    /// what a tool (or a person) resealing an edited plan would write.
    fn resealed(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut body = serde_json::to_value(body()).unwrap();
        edit(&mut body);
        // A body that no longer parses is refused before its digest is read.
        let digest = serde_json::from_value::<SavedPlanBody>(body.clone())
            .map_or_else(|_| "sha256:unread".to_owned(), |b| digest(&b).unwrap());
        serde_json::json!({ "pgstack_saved_plan": SAVED_PLAN_VERSION, "digest": digest, "body": body }).to_string()
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
    fn a_plan_made_again_alike_has_no_differences() {
        let p = body().plan;
        assert!(differences(&p, &p.clone()).is_empty());
        // The object's current values may move where nothing changes them.
        let mut fresh = p.clone();
        fresh.changes[0].before = Some([("x".to_owned(), crate::value::Value::Int(1))].into());
        assert!(differences(&p, &fresh).is_empty());
    }

    #[test]
    fn edited_ids_actions_regions_and_values_are_named() {
        let fresh = body().plan;
        let edited = |f: &dyn Fn(&mut ResourceChange)| {
            let mut p = fresh.clone();
            f(&mut p.changes[0]);
            differences(&p, &fresh)
        };
        let d = edited(&|c| c.id = Some("sg-of-another-stack".into()));
        assert_eq!(d, ["db_instance.main: the file names object sg-of-another-stack, the state records db-1"]);
        let d = edited(&|c| c.action = Action::Delete);
        assert_eq!(d, ["db_instance.main: the file plans a delete of db-1, planning now gives an update of db-1"]);
        let d = edited(&|c| c.region = "eu-west-1".into());
        assert!(d[0].contains("region eu-west-1"), "{d:?}");
        let d = edited(&|c| {
            c.changes.push(AttrChange {
                name: "tags".into(),
                before: crate::value::Value::Null,
                after: crate::value::Value::str("x"),
                forces_replacement: false,
            })
        });
        assert_eq!(d, ["db_instance.main: the file changes `tags`, planning now changes nothing"]);
        // An action the stack's own plan does not have at all.
        let mut p = fresh.clone();
        let mut extra = p.changes[0].clone();
        extra.address = "security_group.other".parse().unwrap();
        extra.action = Action::Delete;
        extra.id = Some("sg-1".into());
        p.changes.push(extra);
        assert_eq!(
            differences(&p, &fresh),
            [
                "security_group.other: the file plans a delete of sg-1, but the stack and its state hold nothing at that address"
            ]
        );
        // And one it leaves out.
        assert_eq!(
            differences(&fresh, &p),
            ["security_group.other: planning now gives a delete of sg-1, which the file does not show"]
        );
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
