//! What real AWS does and moto does not, reproduced in front of moto (issue
//! 16, items 5 to 8): a tagging index that lags behind a create (GetResources
//! answered with an empty page), lost create replies, KMS's key policy
//! lockout safety check, the 50-tag limit, S3's 409 ConditionalRequestConflict,
//! a denied conditional delete and a bucket in another region, and rotation
//! functions that could not run. Each refusal is followed by an SDK check
//! that nothing was made.

use std::sync::{Arc, Mutex};

use aws_sdk_ec2::types::{Filter, VpcEndpointType};
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use pgstack::provider::Progress;
use pgstack::provider::aws::s3_object_store::AwsObjectStore;
use pgstack::provider::aws::{AwsFactory, AwsOptions};
use pgstack::state::s3::{ObjectStore, S3Backend, S3Location, StoreError};
use pgstack::state::{LockInfo, StateBackend, StateError, StateFile};

use crate::support::cli::Workdir;
use crate::support::faults::{Fault, FaultProxy};
use crate::support::moto::{MotoGuard, PAUSE_SCALE, REGION, moto};

/// `m`'s environment with every call going through `proxy`.
fn through(m: &MotoGuard, proxy: &FaultProxy) -> Vec<(String, String)> {
    let mut env = m.env();
    env.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint()));
    env
}

/// `env` with the process killed right after AWS created `addr`.
fn crashing_after(env: &[(String, String)], addr: &str) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    env.push(("PGSTACK_FAILPOINT".into(), format!("after-create:{addr}")));
    env
}

/// The tagging index lagging behind: one GetResources answered with an empty page.
const EMPTY_PAGE: Fault = Fault::Answer {
    status: 200,
    headers: "Content-Type: application/x-amz-json-1.1\r\n",
    body: r#"{"ResourceTagMappingList":[],"PaginationToken":""}"#,
};

/// The state file of `stack` in `w`, parsed.
fn state(w: &Workdir, stack: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(w.path().join(format!("state/{stack}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The recorded entry of `addr`: its status and id.
fn entry(w: &Workdir, stack: &str, addr: &str) -> (String, Option<String>) {
    let s = state(w, stack);
    let r = s["resources"].as_array().unwrap().iter().find(|r| r["address"] == addr).expect(addr).clone();
    (r["status"].as_str().unwrap().to_owned(), r["id"].as_str().map(str::to_owned))
}

fn assert_clean_plan(w: &Workdir, file: &str, env: &[(String, String)]) {
    let plan = w.run(&["plan", file, "--detailed-exitcode"], env).expect(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
}

/// Secrets of the account as (ARN, `pgstack:address` tag), straight from moto.
async fn secrets(m: &MotoGuard) -> Vec<(String, Option<String>)> {
    let sm = m.factory().secretsmanager(REGION).await;
    let out = sm.list_secrets().send().await.unwrap();
    out.secret_list()
        .iter()
        .map(|s| {
            let address = s.tags().iter().find(|t| t.key() == Some("pgstack:address")).and_then(|t| t.value());
            (s.arn().unwrap().to_owned(), address.map(str::to_owned))
        })
        .collect()
}

const SECRETS: &str = r#"[stack]
name   = "sec"
region = "us-east-1"

[secret.default]
generate_password       = { length = 24 }
recovery_window_in_days = 0
"#;

const NAMED_SECRET: &str = r#"
[secret.named]
name                    = "sec/named"
generate_password       = { length = 24 }
recovery_window_in_days = 0
"#;

/// A CreateSecret whose reply is lost is sent once more by the provider, the
/// same request with the same ClientRequestToken and value, which Secrets
/// Manager answers as the first: one secret per address.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_create_secret_reply_is_sent_again_as_the_same_request() {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    let w = Workdir::new();
    w.write("sec.toml", &format!("{SECRETS}{NAMED_SECRET}"));
    proxy.inject("CreateSecret", Fault::DropReply, 1);
    let applied = w.run(&["apply", "sec.toml", "--skip-checks", "--auto-approve"], &through(&m, &proxy)).expect(0);
    assert_eq!(proxy.unused(), 0, "a reply was lost");
    assert!(
        applied.stderr.contains("Still sending CreateSecret again after its reply was lost (the same request token"),
        "{}",
        applied.stderr
    );
    assert_eq!(proxy.seen("CreateSecret"), 3, "two secrets, one of them sent twice");
    let mut found = secrets(&m).await;
    found.sort_by(|a, b| a.1.cmp(&b.1));
    let addresses: Vec<Option<&str>> = found.iter().map(|(_, a)| a.as_deref()).collect();
    assert_eq!(addresses, [Some("secret.default"), Some("secret.named")], "one secret per address");
    for (arn, address) in &found {
        let address = address.as_deref().unwrap();
        assert_eq!(entry(&w, "sec", address), ("ready".to_owned(), Some(arn.clone())));
    }
    assert_clean_plan(&w, "sec.toml", &m.env());
}

/// A secret created by a run killed before its state write: one of a
/// default name is found by DescribeSecret without the tagging index; one
/// whose name is configured is not found while the index lags, and its
/// create, refused with ResourceExistsException, adopts it by name.
#[tokio::test(flavor = "multi_thread")]
async fn a_secret_created_before_a_crash_is_adopted_though_the_tagging_index_lags() {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    let w = Workdir::new();
    w.write("sec.toml", SECRETS);
    let crashed =
        w.run(&["apply", "sec.toml", "--skip-checks", "--auto-approve"], &crashing_after(&m.env(), "secret.default"));
    assert_ne!(crashed.code, Some(0), "the failpoint kills the process");
    assert_eq!(entry(&w, "sec", "secret.default").0, "create_pending");
    let made = secrets(&m).await;
    assert_eq!(made.len(), 1);

    let adopted = w.run(&["apply", "sec.toml", "--skip-checks", "--auto-approve"], &through(&m, &proxy)).expect(0);
    assert!(adopted.stderr.contains("secret.default: found arn:aws:secretsmanager:"), "{}", adopted.stderr);
    assert_eq!(proxy.seen("GetResources"), 0, "found by its default name, not by the tagging index");
    assert_eq!(proxy.seen("CreateSecret"), 0);
    assert_eq!(entry(&w, "sec", "secret.default"), ("ready".to_owned(), Some(made[0].0.clone())));

    w.write("sec.toml", &format!("{SECRETS}{NAMED_SECRET}"));
    let crashed =
        w.run(&["apply", "sec.toml", "--skip-checks", "--auto-approve"], &crashing_after(&m.env(), "secret.named"));
    assert_ne!(crashed.code, Some(0));
    let named = secrets(&m).await.into_iter().find(|(_, a)| a.as_deref() == Some("secret.named")).expect("made");
    proxy.inject("GetResources", EMPTY_PAGE, 1);
    w.run(&["apply", "sec.toml", "--skip-checks", "--auto-approve"], &through(&m, &proxy)).expect(0);
    assert_eq!(proxy.unused(), 0, "the lookup asked the index, which did not show the secret yet");
    assert_eq!(proxy.seen("CreateSecret"), 1, "the create was sent again and refused: the name is taken");
    assert_eq!(secrets(&m).await.len(), 2, "no second secret");
    assert_eq!(entry(&w, "sec", "secret.named"), ("ready".to_owned(), Some(named.0)));
    assert_clean_plan(&w, "sec.toml", &m.env());
}

/// The live KMS keys carrying `address` (straight from moto).
async fn keys_of(m: &MotoGuard, address: &str) -> Vec<String> {
    let kms = m.factory().kms(REGION).await;
    let mut out = Vec::new();
    for key in kms.list_keys().send().await.unwrap().keys() {
        let id = key.key_id().unwrap();
        let meta = kms.describe_key().key_id(id).send().await.unwrap();
        if meta.key_metadata().and_then(|k| k.key_state()).is_some_and(|s| s.as_str() == "PendingDeletion") {
            continue;
        }
        let tags = kms.list_resource_tags().key_id(id).send().await.unwrap();
        if tags.tags().iter().any(|t| t.tag_key() == "pgstack:address" && t.tag_value() == address) {
            out.push(id.to_owned());
        }
    }
    out
}

const KEYS: &str = r#"[stack]
name   = "keys"
region = "us-east-1"

[kms_key.k]
alias                   = "keys/k"
description             = "adopted by its alias"
deletion_window_in_days = 7
"#;

/// A key created (with its alias) by a run killed before its state write,
/// while the tagging index does not show it yet: the next apply finds it
/// by its alias and ownership tags (KMS's own calls) instead of making a
/// second key.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_created_before_a_crash_is_adopted_by_its_alias_though_the_tagging_index_lags() {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    let w = Workdir::new();
    w.write("keys.toml", KEYS);
    let crashed = w.run(&["apply", "keys.toml", "--auto-approve"], &crashing_after(&m.env(), "kms_key.k"));
    assert_ne!(crashed.code, Some(0), "the failpoint kills the process");
    let made = keys_of(&m, "kms_key.k").await;
    assert_eq!(made.len(), 1);

    proxy.inject("GetResources", EMPTY_PAGE, 1);
    w.run(&["apply", "keys.toml", "--auto-approve"], &through(&m, &proxy)).expect(0);
    assert_eq!(proxy.unused(), 0, "the lookup asked the index, which did not show the key yet");
    assert_eq!(proxy.seen("CreateKey"), 0, "no second key");
    assert_eq!(keys_of(&m, "kms_key.k").await, made);
    assert_eq!(entry(&w, "keys", "kms_key.k"), ("ready".to_owned(), Some(made[0].clone())));
    assert_clean_plan(&w, "keys.toml", &m.env());
}

/// A CreateKey whose reply is lost while the index lags (it never shows
/// the key in this run): the key is found by asking every key of the region
/// for its tags, and adopted; no second key.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_create_key_reply_is_adopted_though_the_tagging_index_lags() {
    let m = moto();
    let proxy = FaultProxy::start(m.port());
    let w = Workdir::new();
    w.write("keys.toml", KEYS);
    proxy.inject("CreateKey", Fault::DropReply, 1);
    // The index never shows the key during this run: the plan's check that
    // no object holds the address, and every lookup after the lost reply.
    proxy.inject("GetResources", EMPTY_PAGE, 20);
    let applied = w.run(&["apply", "keys.toml", "--auto-approve"], &through(&m, &proxy)).expect(0);
    assert!(proxy.seen("ListKeys") >= 1, "each key was asked for its own tags: {}", applied.stderr);
    assert!(
        !applied.stderr.contains("Still waiting for a create whose reply was lost"),
        "found at once: {}",
        applied.stderr
    );
    assert_eq!(proxy.seen("CreateKey"), 1, "CreateKey is never sent twice");
    let made = keys_of(&m, "kms_key.k").await;
    assert_eq!(made.len(), 1);
    assert_eq!(entry(&w, "keys", "kms_key.k"), ("ready".to_owned(), Some(made[0].clone())));
    assert_clean_plan(&w, "keys.toml", &m.env());
}

const LOCKED_KEY: &str = r#"[stack]
name   = "lock"
region = "us-east-1"

[kms_key.open]
description = "the account may change its policy"
policy      = { Version = "2012-10-17", Statement = [{ Effect = "Allow", Principal = { AWS = "arn:aws:iam::123456789012:root" }, Action = "kms:*", Resource = "*" }] }

[kms_key.locked]
description = "only an admin role may use it"
policy      = { Version = "2012-10-17", Statement = [{ Sid = "AdminOnly", Effect = "Allow", Principal = { AWS = "arn:aws:iam::123456789012:role/admin" }, Action = "kms:*", Resource = "*" }] }
"#;

/// KMS refuses a key policy that does not let the caller change it again;
/// moto does not. pgstack refuses it at plan, at `policy`, before any key
/// is made, unless `bypass_policy_lockout_safety_check = true`.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_policy_that_locks_the_caller_out_is_refused_at_plan_unless_bypassed() {
    let m = moto();
    let w = Workdir::new();
    w.write("lock.toml", LOCKED_KEY);
    let refused = w.run(&["apply", "lock.toml", "--auto-approve"], &m.env()).expect(1);
    let line = LOCKED_KEY.lines().position(|l| l.contains("role/admin")).unwrap() + 1;
    let at = format!("error: lock.toml:{line}:");
    assert!(refused.stderr.contains(&at), "located at the policy: {}", refused.stderr);
    assert!(
        refused.stderr.contains(
            "`kms_key.locked` has a key policy KMS refuses: no statement allows the caller arn:aws:sts::123456789012:user/moto (account 123456789012), or its account, to call kms:PutKeyPolicy"
        ),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("bypass_policy_lockout_safety_check = true"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("kms_key.open"), "the account's key passes: {}", refused.stderr);
    let kms = m.factory().kms(REGION).await;
    assert!(kms.list_keys().send().await.unwrap().keys().is_empty(), "refused before any key was made");

    w.write(
        "lock.toml",
        &LOCKED_KEY.replace(
            "only an admin role may use it\"",
            "only an admin role may use it\"\nbypass_policy_lockout_safety_check = true",
        ),
    );
    w.run(&["apply", "lock.toml", "--auto-approve"], &m.env()).expect(0);
    let (_, id) = entry(&w, "lock", "kms_key.locked");
    let policy = kms.get_key_policy().key_id(id.unwrap()).policy_name("default").send().await.unwrap();
    assert!(policy.policy().unwrap().contains("AdminOnly"), "{policy:?}");
    assert_clean_plan(&w, "lock.toml", &m.env());
}

/// At most 50 tags on one resource, the stack's and the 2 ownership tags
/// included: refused at validate where literal, at plan where a value is
/// known only then (a tag value over 256 characters from another
/// resource's attribute).
#[tokio::test(flavor = "multi_thread")]
async fn tags_beyond_what_aws_accepts_are_refused_at_validate_or_plan() {
    let w = Workdir::new();
    let own: Vec<String> = (0..47).map(|i| format!("t{i} = \"v\"")).collect();
    let text = format!(
        "[stack]\nname = \"tags\"\nregion = \"us-east-1\"\ntags = {{ Team = \"db\", Env = \"prod\" }}\n\n[kms_key.a]\ntags = {{ {} }}\n",
        own.join(", ")
    );
    w.write("tags.toml", &text);
    let refused = w.run(&["validate", "tags.toml"], &[]).expect(1);
    assert!(
        refused.stderr.contains("error: tags.toml:7:1: `tags` on `kms_key.a` has 51 tags, counting the stack's tags and the 2 ownership tags pgstack adds"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("AWS allows at most 50 on one resource"), "{}", refused.stderr);
    w.write("tags.toml", &text.replace("t46 = \"v\", ", "").replace(", t46 = \"v\"", ""));
    w.run(&["validate", "tags.toml"], &[]).expect(0);

    let m = moto();
    let long = "d".repeat(300);
    let text = format!(
        "[stack]\nname = \"tags\"\nregion = \"us-east-1\"\n\n[kms_key.a]\ndescription = \"{long}\"\n\n[kms_key.b]\ntags = {{ From = \"${{kms_key.a.description}}\" }}\n"
    );
    w.write("late.toml", &text);
    w.run(&["validate", "late.toml"], &[]).expect(0);
    let refused = w.run(&["plan", "late.toml"], &m.env()).expect(1);
    assert!(
        refused
            .stderr
            .contains("error: late.toml:9:8: `tags.From` on `kms_key.b` has a tag value longer than 256 characters"),
        "{}",
        refused.stderr
    );
    let kms = m.factory().kms(REGION).await;
    assert!(kms.list_keys().send().await.unwrap().keys().is_empty());
}

const BUCKET: &str = "team-state";
const TINY: &str = "[stack]\nname = \"tiny\"\nregion = \"us-east-1\"\n\n[vpc.main]\ncidr_block = \"10.9.0.0/16\"\n";

async fn state_bucket(m: &MotoGuard) {
    let s3 = m.factory().s3(REGION).await;
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let on = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket(BUCKET).versioning_configuration(on).send().await.unwrap();
}

/// `pgstack ARGS` with the state in [`BUCKET`].
fn on_s3<'a>(args: &[&'a str]) -> Vec<&'a str> {
    [args, &["--backend-config", "bucket=team-state"]].concat()
}

/// The S3 backend for `key` through `proxy`, reporting its retries to `lines`.
fn backend_through(proxy: &FaultProxy, key: &str, lines: Arc<Mutex<Vec<String>>>) -> (S3Backend, AwsObjectStore) {
    let factory = Arc::new(AwsFactory::new(AwsOptions {
        profile: None,
        endpoint_url: Some(proxy.endpoint()),
        static_credentials: Some(("testing".into(), "testing".into())),
        pause_scale: Some(PAUSE_SCALE),
    }));
    let location = S3Location { bucket: BUCKET.into(), key: key.into(), region: REGION.into(), kms_key_id: None };
    let store = || AwsObjectStore::new(factory.clone(), &location);
    let progress = Progress::new(move |what, _| lines.lock().unwrap().push(what.to_owned()));
    (S3Backend::new(Arc::new(store()), location.clone()).with_progress(progress, PAUSE_SCALE), store())
}

/// S3 answering 409 ConditionalRequestConflict: another conditional write
/// to the object was in progress.
const CONFLICT: Fault = Fault::Refuse {
    status: 409,
    code: "ConditionalRequestConflict",
    message: "A conflicting conditional operation is currently in progress against this resource. Please try again.",
};

/// A state write and a lock answered 409 are sent again (S3 made nothing)
/// and land, with a progress line; through the backend and the binary.
#[tokio::test(flavor = "multi_thread")]
async fn conditional_writes_answered_409_are_sent_again_and_land() {
    let m = moto();
    state_bucket(&m).await;
    let proxy = FaultProxy::start(m.port());
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let (backend, _) = backend_through(&proxy, "pgstack/direct.json", lines.clone());
    let lock = backend.lock(LockInfo::current("apply")).await.unwrap();
    assert!(backend.load().await.unwrap().is_none());
    proxy.inject("PutObject", CONFLICT, 1);
    let written = StateFile::new("direct");
    backend.write(&written).await.unwrap();
    assert_eq!(proxy.seen("PutObject"), 3, "the lock, then the state write sent twice");
    backend.check_writable().await.unwrap();
    assert_eq!(
        *lines.lock().unwrap(),
        [
            "retrying PutObject of s3://team-state/pgstack/direct.json after S3 answered 409 ConditionalRequestConflict (another conditional write to the object was in progress)"
        ]
    );
    lock.release().await.unwrap();
    let (reader, _) = backend_through(&proxy, "pgstack/direct.json", Arc::default());
    assert_eq!(reader.load().await.unwrap(), Some(written));

    let w = Workdir::new();
    w.write("tiny.toml", TINY);
    proxy.inject("PutObject", CONFLICT, 2);
    let applied = w.run(&on_s3(&["apply", "tiny.toml", "--auto-approve"]), &through(&m, &proxy)).expect(0);
    assert_eq!(proxy.unused(), 0);
    assert!(
        applied.stderr.contains("s3://team-state/pgstack/tiny.json: Still retrying PutObject of s3://team-state/pgstack/tiny.json.lock after S3 answered 409 ConditionalRequestConflict"),
        "{}",
        applied.stderr
    );
    assert!(applied.stdout.contains("Apply complete!"), "{}", applied.stdout);
    w.run(&on_s3(&["plan", "tiny.toml", "--detailed-exitcode"]), &m.env()).expect(0);
}

/// S3 allows DeleteObject with If-Match only to a caller that may also
/// GetObject: a 403 on the lock's release says so, and leaves the lock.
#[tokio::test(flavor = "multi_thread")]
async fn a_denied_conditional_delete_of_the_lock_names_the_missing_permission() {
    let m = moto();
    state_bucket(&m).await;
    let proxy = FaultProxy::start(m.port());
    let w = Workdir::new();
    w.write("tiny.toml", TINY);
    proxy.inject("DeleteObject", Fault::Refuse { status: 403, code: "AccessDenied", message: "Access Denied" }, 1);
    let planned = w.run(&on_s3(&["plan", "tiny.toml"]), &through(&m, &proxy)).expect(0);
    assert!(
        planned.stderr.contains(
            "the state lock was not released: cannot remove the lock s3://team-state/pgstack/tiny.json.lock: DeleteObject: AccessDenied: Access Denied"
        ),
        "{}",
        planned.stderr
    );
    assert!(
        planned.stderr.contains("S3 allows such a delete only with both s3:DeleteObject and s3:GetObject: grant s3:GetObject on s3://team-state/pgstack/tiny.json.lock too"),
        "{}",
        planned.stderr
    );
    let s3 = m.factory().s3(REGION).await;
    assert!(s3.head_object().bucket(BUCKET).key("pgstack/tiny.json.lock").send().await.is_ok(), "the lock stays");
    let blocked = w.run(&on_s3(&["plan", "tiny.toml"]), &m.env()).expect(1);
    assert!(blocked.stderr.contains("state is locked by"), "{}", blocked.stderr);
}

/// A bucket in another region: S3 answers 301 (with an empty body to a
/// HEAD) and names the bucket's region in `x-amz-bucket-region`; pgstack
/// names it too, instead of "HTTP 301: (empty body)".
#[tokio::test(flavor = "multi_thread")]
async fn a_state_bucket_in_another_region_is_named_with_its_region() {
    const MOVED: Fault = Fault::Answer {
        status: 301,
        headers: "x-amz-bucket-region: eu-central-1\r\nContent-Type: application/xml\r\n",
        body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.</Message><Bucket>team-state</Bucket><Endpoint>team-state.s3.eu-central-1.amazonaws.com</Endpoint></Error>",
    };
    let m = moto();
    state_bucket(&m).await;
    let proxy = FaultProxy::start(m.port());
    let (backend, store) = backend_through(&proxy, "pgstack/direct.json", Arc::default());
    proxy.inject("HeadObject", MOVED, 1);
    let e = store.head("pgstack/direct.json").await.unwrap_err();
    assert!(matches!(&e, StoreError::WrongRegion { region: Some(r) } if r == "eu-central-1"), "{e:?}");
    proxy.inject("GetObject", MOVED, 1);
    let e = backend.load().await.unwrap_err();
    assert!(matches!(&e, StateError::WrongRegion { region: Some(r), .. } if r == "eu-central-1"), "{e}");

    let w = Workdir::new();
    w.write("tiny.toml", TINY);
    proxy.inject("GetBucketVersioning", MOVED, 1);
    let refused = w.run(&on_s3(&["plan", "tiny.toml"]), &through(&m, &proxy)).expect(1);
    assert!(
        refused.stderr.contains(
            "the state bucket `team-state` is in eu-central-1, not in us-east-1 where the backend looks for it (S3 answered 301 PermanentRedirect)"
        ),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--backend-config region=eu-central-1"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("HTTP 301"), "{}", refused.stderr);
    let s3 = m.factory().s3(REGION).await;
    assert!(s3.head_object().bucket(BUCKET).key("pgstack/tiny.json.lock").send().await.is_err(), "no lock was taken");
}

/// A secret rotated by the function `${var.rotation_lambda_arn}`.
const ROTATED: &str = r#"[stack]
name   = "rot"
region = "us-east-1"

[vars]
rotation_lambda_arn = { sensitive = false }

[secret.app]
generate_password       = { length = 24 }
recovery_window_in_days = 0

[secret_rotation.app]
secret_id           = "${secret.app.id}"
rotation_lambda_arn = "${var.rotation_lambda_arn}"
rotation_rules      = { automatically_after_days = 7 }
rotate_immediately  = false
"#;

fn with_function(m: &MotoGuard, arn: &str) -> Vec<(String, String)> {
    let mut env = m.env();
    env.push(("PGSTACK_VAR_rotation_lambda_arn".into(), arn.to_owned()));
    env
}

/// The line of `rotation_lambda_arn` in [`ROTATED`].
fn function_line() -> usize {
    ROTATED.lines().position(|l| l.starts_with("rotation_lambda_arn = \"${")).unwrap() + 1
}

/// A rotation whose function does not exist, or whose policy does not let
/// Secrets Manager invoke it, is refused at plan, at `rotation_lambda_arn`,
/// before the secret is made; a function that may be invoked applies.
#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_whose_function_cannot_run_is_refused_before_anything_is_made() {
    let m = moto();
    let w = Workdir::new();
    w.write("rot.toml", ROTATED);
    let at = format!("error: rot.toml:{}:23: `secret_rotation.app` names a rotation function", function_line());

    let missing = "arn:aws:lambda:us-east-1:123456789012:function:nope";
    let refused =
        w.run(&["apply", "rot.toml", "--skip-checks", "--auto-approve"], &with_function(&m, missing)).expect(1);
    assert!(refused.stderr.contains(&format!("{at} that does not exist: {missing}")), "{}", refused.stderr);
    assert!(secrets(&m).await.is_empty(), "refused before the secret was made");

    let closed = m.lambda_function("closed", None, false).await;
    let refused =
        w.run(&["apply", "rot.toml", "--skip-checks", "--auto-approve"], &with_function(&m, &closed)).expect(1);
    assert!(
        refused.stderr.contains(&format!(
            "{at} Secrets Manager may not invoke ({closed}): it has no resource policy letting secretsmanager.amazonaws.com call lambda:InvokeFunction"
        )),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(&format!(
            "aws lambda add-permission --function-name {closed} --statement-id SecretsManagerAccess"
        )),
        "{}",
        refused.stderr
    );
    assert!(secrets(&m).await.is_empty());

    let open = m.rotation_function().await;
    let applied = w.run(&["apply", "rot.toml", "--skip-checks", "--auto-approve"], &with_function(&m, &open)).expect(0);
    assert!(!applied.stderr.contains("names a rotation function"), "{}", applied.stderr);
    assert_eq!(secrets(&m).await.len(), 1);
    assert_clean_plan(&w, "rot.toml", &with_function(&m, &open));
}

/// A function in a VPC without a Secrets Manager endpoint or a NAT route
/// is a warning (the plan goes on); an interface endpoint with private DNS
/// in that VPC ends it.
#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_function_in_a_vpc_without_a_path_to_secrets_manager_is_a_warning() {
    let m = moto();
    let ec2 = m.factory().ec2(REGION).await;
    let vpc = ec2.create_vpc().cidr_block("10.40.0.0/16").send().await.unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_owned();
    let subnet = ec2.create_subnet().vpc_id(&vpc_id).cidr_block("10.40.1.0/24").send().await.unwrap();
    let subnet_id = subnet.subnet().unwrap().subnet_id().unwrap().to_owned();
    let sg =
        ec2.create_security_group().group_name("rot").description("rotation").vpc_id(&vpc_id).send().await.unwrap();
    let sg_id = sg.group_id().unwrap().to_owned();
    let function = m.lambda_function("in-vpc", Some((&[subnet_id.as_str()], &[sg_id.as_str()])), true).await;
    let env = with_function(&m, &function);
    let w = Workdir::new();
    w.write("rot.toml", ROTATED);

    let warned = w.run(&["plan", "rot.toml"], &env).expect(0);
    assert!(
        warned.stderr.contains(&format!(
            "`secret_rotation.app` names a rotation function in a VPC with no path to Secrets Manager ({function}): {vpc_id} has no Secrets Manager interface endpoint with private DNS, and the route table of {subnet_id} sends 0.0.0.0/0 through no NAT gateway"
        )),
        "{}",
        warned.stderr
    );
    assert!(warned.stderr.contains("a warning: the plan goes on"), "{}", warned.stderr);

    ec2.create_vpc_endpoint()
        .vpc_id(&vpc_id)
        .service_name("com.amazonaws.us-east-1.secretsmanager")
        .vpc_endpoint_type(VpcEndpointType::Interface)
        .subnet_ids(&subnet_id)
        .security_group_ids(&sg_id)
        .private_dns_enabled(true)
        .send()
        .await
        .unwrap();
    let endpoints = ec2
        .describe_vpc_endpoints()
        .filters(Filter::builder().name("vpc-id").values(&vpc_id).build())
        .send()
        .await
        .unwrap();
    assert_eq!(endpoints.vpc_endpoints().len(), 1);
    let quiet = w.run(&["plan", "rot.toml"], &env).expect(0);
    assert!(!quiet.stderr.contains("no path to Secrets Manager"), "{}", quiet.stderr);
}
