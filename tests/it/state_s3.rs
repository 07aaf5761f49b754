//! The S3 state backend against moto, mostly through the real binary: two
//! applies at once, a writer whose lock was broken, kill -9 mid-apply and a
//! re-run from a fresh checkout, drift from a clean checkout, push/pull with
//! lineage refusals, saved plans bound to their bucket and key, the
//! conditional writes themselves (a refused If-Match, a put whose reply was
//! lost), serials out of range at every loader, and locks whose fields are
//! hostile or that are not locks pgstack can read.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use pgstack::state::s3::{S3Backend, S3Location};
use pgstack::state::{Holder, StateBackend};
use sha2::Digest as _;

use crate::faults::owned_objects;
use crate::support::cli::{Run, Workdir};
use crate::support::faults::{Fault, FaultProxy};
use crate::support::moto::{MotoGuard, REGION, moto};

const BUCKET: &str = "team-state";
const KEY: &str = "pgstack/quickstart.json";

/// Creates `name`, versioned when asked.
async fn bucket(m: &MotoGuard, name: &str, versioned: bool) {
    let s3 = m.factory().s3(REGION).await;
    s3.create_bucket().bucket(name).send().await.unwrap();
    if versioned {
        let on = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
        s3.put_bucket_versioning().bucket(name).versioning_configuration(on).send().await.unwrap();
    }
}

/// The quickstart example with its state in [`BUCKET`] (key by default).
fn quickstart_on_s3(w: &Workdir) {
    let text = std::fs::read_to_string(crate::support::cli::repo_root().join("examples/quickstart.toml")).unwrap();
    w.write("quickstart.toml", &format!("{text}\n[backend]\ns3 = {{ bucket = \"{BUCKET}\" }}\n"));
}

/// The stored state object, parsed (straight from moto).
async fn stored(m: &MotoGuard, key: &str) -> serde_json::Value {
    let s3 = m.factory().s3(REGION).await;
    let out = s3.get_object().bucket(BUCKET).key(key).send().await.unwrap();
    serde_json::from_slice(&out.body.collect().await.unwrap().into_bytes()).unwrap()
}

async fn lock_exists(m: &MotoGuard) -> bool {
    let s3 = m.factory().s3(REGION).await;
    s3.head_object().bucket(BUCKET).key(format!("{KEY}.lock")).send().await.is_ok()
}

/// Environment through `proxy` with CreateSubnet made slow (both subnets).
fn slow_subnets(m: &MotoGuard, proxy: &FaultProxy, delay: Duration) -> Vec<(String, String)> {
    proxy.inject("CreateSubnet", Fault::Delay(delay), 2);
    let mut env = m.env();
    env.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint()));
    env
}

/// The lock id in a refused run's `force-unlock` hint.
fn lock_id_in(run: &Run) -> String {
    let (_, rest) = run.stderr.split_once("pgstack force-unlock quickstart.toml ").expect("a force-unlock hint");
    rest.split_whitespace().next().unwrap().to_owned()
}

const APPLY: &[&str] = &["apply", "quickstart.toml", "--auto-approve", "--parallelism", "2"];

#[tokio::test(flavor = "multi_thread")]
async fn two_applies_at_once_the_second_is_refused_naming_the_holder_then_succeeds() {
    let m = moto();
    bucket(&m, BUCKET, true).await;
    let proxy = FaultProxy::start(m.port());
    let (first, second) = (Workdir::new(), Workdir::new());
    quickstart_on_s3(&first);
    quickstart_on_s3(&second);
    let running = first.start_until(APPLY, &slow_subnets(&m, &proxy, Duration::from_secs(3)), "subnet.db");

    let refused = second.run(&["apply", "quickstart.toml", "--auto-approve"], &m.env()).expect(1);
    let holder = format!("(pid {}, running `apply`) since", running.child.id());
    assert!(refused.stderr.contains("state is locked by") && refused.stderr.contains(&holder), "{}", refused.stderr);
    assert!(refused.stderr.contains(" s ago)"), "the lock's age: {}", refused.stderr);
    assert!(refused.stderr.contains("pgstack force-unlock quickstart.toml "), "{}", refused.stderr);
    assert!(!refused.stderr.contains("versioning"), "a versioned bucket gets no advice: {}", refused.stderr);

    let done = running.finish().expect(0);
    assert!(done.stdout.contains("Apply complete!"), "{}", done.stdout);
    assert!(!lock_exists(&m).await, "the first apply removed its lock");
    let state = stored(&m, KEY).await;
    assert_eq!(state["resources"].as_array().unwrap().len(), 7);
    assert!(state["serial"].as_u64().unwrap() > 7, "state was written after every change");

    let again = second.run(&["apply", "quickstart.toml", "--auto-approve"], &m.env()).expect(0);
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);
    second.run(&["plan", "quickstart.toml", "--detailed-exitcode"], &m.env()).expect(0);
    assert!(!second.path().join("state").exists(), "no local state anywhere");
    assert!(!lock_exists(&m).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_writer_whose_lock_was_force_broken_cannot_overwrite_the_newer_state() {
    let m = moto();
    bucket(&m, BUCKET, true).await;
    let proxy = FaultProxy::start(m.port());
    let (first, second) = (Workdir::new(), Workdir::new());
    quickstart_on_s3(&first);
    quickstart_on_s3(&second);
    let running = first.start_until(APPLY, &slow_subnets(&m, &proxy, Duration::from_secs(4)), "subnet.db");
    // The subnets' create_pending commit lands before their (slow) creates are sent.
    std::thread::sleep(Duration::from_millis(800));

    let refused = second.run(&["plan", "quickstart.toml"], &m.env()).expect(1);
    let id = lock_id_in(&refused);
    let unconfirmed = second.run(&["force-unlock", "quickstart.toml", &id], &m.env()).expect(1);
    assert!(unconfirmed.stderr.contains("needs confirmation"), "{}", unconfirmed.stderr);
    let wrong = second.run(&["force-unlock", "quickstart.toml", "not-the-id", "--force"], &m.env()).expect(1);
    assert!(wrong.stderr.contains(&format!("has id {id}, not not-the-id")), "{}", wrong.stderr);
    let broken = second.run(&["force-unlock", "quickstart.toml", &id, "--force"], &m.env()).expect(0);
    assert!(broken.stdout.contains(&format!("Removed lock {id}")), "{}", broken.stdout);
    second.run(&["state", "rm", "quickstart.toml", "kms_key.db"], &m.env()).expect(0);
    let newer = stored(&m, KEY).await;

    let late = running.finish().expect(1);
    assert!(late.stderr.contains("changed since this run read it"), "{}", late.stderr);
    assert!(late.stderr.contains("nothing was overwritten"), "{}", late.stderr);
    assert!(late.stderr.contains("broken with force-unlock while it ran"), "{}", late.stderr);
    // The subnets were created in AWS; their results could not be recorded, and nothing started after.
    assert!(late.stderr.contains("created in AWS (subnet-"), "{}", late.stderr);
    assert!(late.stderr.contains("changed in AWS but not recorded in state: subnet.db["), "{}", late.stderr);
    assert!(late.stderr.contains("no change was started after the failed write"), "{}", late.stderr);
    assert_eq!(stored(&m, KEY).await, newer, "the If-Match refused every later write of the first run");
    assert!(!lock_exists(&m).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_apply_then_a_fresh_checkout_unlocks_and_converges() {
    let m = moto();
    bucket(&m, BUCKET, true).await;
    let proxy = FaultProxy::start(m.port());
    let first = Workdir::new();
    quickstart_on_s3(&first);
    let running = first.start_until(APPLY, &slow_subnets(&m, &proxy, Duration::from_secs(3)), "subnet.db");
    std::thread::sleep(Duration::from_millis(800));
    running.signal("KILL");
    assert_eq!(running.finish().code, None, "killed");
    let pending = stored(&m, KEY).await;
    assert!(pending.to_string().contains("create_pending"), "{pending}");

    // A fresh checkout: the stack file only.
    let fresh = Workdir::new();
    quickstart_on_s3(&fresh);
    let refused = fresh.run(&["apply", "quickstart.toml", "--auto-approve"], &m.env()).expect(1);
    assert!(refused.stderr.contains("running `apply`") && refused.stderr.contains(" ago)"), "{}", refused.stderr);
    assert!(refused.stderr.contains("if that run is gone"), "{}", refused.stderr);
    fresh.run(&["force-unlock", "quickstart.toml", &lock_id_in(&refused), "--auto-approve"], &m.env()).expect(0);
    // The subnet creates held in the proxy reach AWS after the kill.
    std::thread::sleep(Duration::from_secs(3));
    fresh.run(&["apply", "quickstart.toml", "--auto-approve"], &m.env()).expect(0);
    let owned = owned_objects(&m, "quickstart").await;
    assert_eq!(owned.len(), 6, "{owned:?}");
    assert!(owned.values().all(|n| *n == 1), "one object per address: {owned:?}");
    fresh.run(&["plan", "quickstart.toml", "--detailed-exitcode"], &m.env()).expect(0);
    assert!(!fresh.path().join("state").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_from_a_second_clean_checkout_with_only_the_stack_and_backend_flags() {
    let m = moto();
    bucket(&m, BUCKET, true).await;
    let flags = ["--backend-config", &format!("bucket={BUCKET}"), "--backend-config", "key=team/qs.json"];
    let (first, clean) = (Workdir::new(), Workdir::new());
    first.copy("examples/quickstart.toml", "quickstart.toml");
    clean.copy("examples/quickstart.toml", "quickstart.toml");
    first.run(&[&["apply", "quickstart.toml", "--auto-approve"][..], &flags].concat(), &m.env()).expect(0);
    assert!(!first.path().join("state").exists());

    clean.run(&[&["drift", "quickstart.toml"][..], &flags].concat(), &m.env()).expect(0);
    let vpc = stored(&m, "team/qs.json").await["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "vpc.main")
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .unwrap();
    let tag = aws_sdk_ec2::types::Tag::builder().key("Owner").value("someone").build();
    m.factory().ec2(REGION).await.create_tags().resources(&vpc).tags(tag).send().await.unwrap();
    let drift = clean.run(&[&["drift", "quickstart.toml"][..], &flags].concat(), &m.env()).expect(2);
    assert!(drift.stdout.contains("vpc.main") && drift.stdout.contains("Owner"), "{}", drift.stdout);
    // Without the flags the clean checkout has no state: everything would be created.
    let local = clean.run(&["plan", "quickstart.toml", "--detailed-exitcode", "--refresh=false"], &m.env()).expect(2);
    assert!(local.stdout.contains("7 to add"), "{}", local.stdout);
    assert!(!clean.path().join("state/quickstart.json").exists());
}

const TINY: &str = "[stack]\nname = \"tiny\"\nregion = \"us-east-1\"\n\n[vpc.main]\ncidr_block = \"10.9.0.0/16\"\n";

/// `pgstack ARGS --backend-config bucket=BUCKET [EXTRA]`.
fn on_s3<'a>(args: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    [args, &["--backend-config", "bucket=team-state"], extra].concat()
}

#[tokio::test(flavor = "multi_thread")]
async fn push_and_pull_move_state_both_ways_and_refuse_other_lineages_and_older_serials() {
    let m = moto();
    bucket(&m, BUCKET, true).await;
    let key = m.factory().kms(REGION).await.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    let kms = format!("kms_key_id={key_id}");
    let w = Workdir::new();
    w.write("tiny.toml", TINY);
    w.run(&["apply", "tiny.toml", "--auto-approve"], &m.env()).expect(0);
    let local_text = std::fs::read_to_string(w.path().join("state/tiny.json")).unwrap();
    let local: serde_json::Value = serde_json::from_str(&local_text).unwrap();
    w.write("local-copy.json", &local_text);
    w.run(&["plan", "tiny.toml", "-o", "local.plan"], &m.env()).expect(0);

    // Local → S3. The local file is moved aside with a note of where the state went.
    let kms_flags = ["--backend-config", kms.as_str()];
    let pushed = w.run(&on_s3(&["state", "push", "tiny.toml", "state/tiny.json"], &kms_flags), &m.env()).expect(0);
    assert!(pushed.stdout.contains("to s3://team-state/pgstack/tiny.json"), "{}", pushed.stdout);
    assert!(pushed.stdout.contains("was moved to state/tiny.json.moved"), "{}", pushed.stdout);
    assert_eq!(stored(&m, "pgstack/tiny.json").await, local, "pushed as it was");
    assert!(!w.path().join("state/tiny.json").exists());
    assert_eq!(std::fs::read_to_string(w.path().join("state/tiny.json.moved")).unwrap(), local_text);
    let head = m.factory().s3(REGION).await.head_object().bucket(BUCKET).key("pgstack/tiny.json").send().await.unwrap();
    assert_eq!(head.server_side_encryption().map(|s| s.as_str()), Some("aws:kms"));
    assert!(head.ssekms_key_id().unwrap_or_default().contains(&key_id), "{:?}", head.ssekms_key_id());
    // No split brain: a run without the backend flags, and a plan saved before the push, are refused.
    for args in [&["plan", "tiny.toml"][..], &["apply", "tiny.toml", "--auto-approve"], &["apply", "local.plan"]] {
        let refused = w.run(args, &m.env()).expect(1);
        assert!(
            refused.stderr.contains("was moved to s3://team-state/pgstack/tiny.json by `pgstack state push`"),
            "{args:?}: {}",
            refused.stderr
        );
        assert!(!w.path().join("state/tiny.json").exists(), "{args:?} wrote no local state");
    }
    let again = w.run(&on_s3(&["state", "push", "tiny.toml", "local-copy.json"], &[]), &m.env()).expect(0);
    assert!(again.stdout.contains("already holds this state"), "{}", again.stdout);
    w.run(&on_s3(&["plan", "tiny.toml", "--detailed-exitcode"], &[]), &m.env()).expect(0);

    // Another lineage is refused, and so is an older serial.
    let mut other = local.clone();
    other["lineage"] = "another-deployment".into();
    w.write("other.json", &other.to_string());
    let refused = w.run(&on_s3(&["state", "push", "tiny.toml", "other.json"], &[]), &m.env()).expect(1);
    assert!(refused.stderr.contains("lineage another-deployment"), "{}", refused.stderr);
    assert!(refused.stderr.contains("refusing to overwrite"), "{}", refused.stderr);
    w.write("tiny.toml", &TINY.replace("10.9.0.0/16\"", "10.9.0.0/16\"\ntags = { Team = \"db\" }"));
    w.run(&on_s3(&["apply", "tiny.toml", "--auto-approve"], &[]), &m.env()).expect(0);
    let newer = stored(&m, "pgstack/tiny.json").await;
    assert!(newer["serial"].as_u64() > local["serial"].as_u64());
    let older = w.run(&on_s3(&["state", "push", "tiny.toml", "local-copy.json"], &[]), &m.env()).expect(1);
    assert!(older.stderr.contains("refusing to overwrite a newer state"), "{}", older.stderr);
    assert_eq!(stored(&m, "pgstack/tiny.json").await, newer, "nothing was pushed");

    // S3 → stdout and → local files.
    let out = w.run(&on_s3(&["state", "pull", "tiny.toml"], &[]), &m.env()).expect(0);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap(), newer);
    let refused = w.run(&on_s3(&["state", "pull", "tiny.toml", "-o", "other.json"], &[]), &m.env()).expect(1);
    assert!(refused.stderr.contains("different deployments"), "{}", refused.stderr);
    // Not into the project's state directory: that is where a stack's live state lives.
    let refused = w.run(&on_s3(&["state", "pull", "tiny.toml", "-o", "state/tiny.json"], &[]), &m.env()).expect(1);
    assert!(refused.stderr.contains("where this project keeps the state of its stacks"), "{}", refused.stderr);
    w.run(&on_s3(&["state", "pull", "tiny.toml", "-o", "back.json"], &[]), &m.env()).expect(0);
    let pulled: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path().join("back.json")).unwrap()).unwrap();
    assert_eq!(pulled, newer);
    // Back to a local file on purpose, as the refusal says: remove the note, push the copy.
    std::fs::remove_file(w.path().join("state/tiny.json.moved-to")).unwrap();
    w.run(&["state", "push", "tiny.toml", "back.json"], &m.env()).expect(0);
    w.run(&["plan", "tiny.toml", "--detailed-exitcode"], &m.env()).expect(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_plans_stay_bound_to_their_bucket_and_key() {
    let m = moto();
    bucket(&m, BUCKET, true).await;
    let w = Workdir::new();
    w.write("tiny.toml", TINY);
    w.run(&on_s3(&["plan", "tiny.toml", "-o", "p.plan"], &[]), &m.env()).expect(0);
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path().join("p.plan")).unwrap()).unwrap();
    assert_eq!(plan["body"]["state"]["location"], "s3://team-state/pgstack/tiny.json");
    assert_eq!(plan["body"]["state"]["settings"]["region"], REGION);

    let elsewhere = w.run(&["apply", "p.plan", "--backend-config", "key=x.json"], &m.env()).expect(1);
    assert!(elsewhere.stderr.contains("--backend-config sets key=x.json"), "{}", elsewhere.stderr);
    let local = w.run(&["apply", "p.plan", "--state", "s.json"], &m.env()).expect(1);
    assert!(local.stderr.contains("--state names the local file s.json"), "{}", local.stderr);
    // Applied from anywhere, without flags: it remembers its state.
    w.run(&["apply", "p.plan"], &m.env()).expect(0);
    assert_eq!(stored(&m, "pgstack/tiny.json").await["resources"].as_array().unwrap().len(), 1);
    assert!(!w.path().join("state").exists());
    w.write("other.toml", &TINY.replace("name = \"tiny\"", "name = \"other\""));
    let wrong = w.run(&on_s3(&["plan", "other.toml"], &["--backend-config", "key=pgstack/tiny.json"]), &m.env());
    let wrong = wrong.expect(1);
    assert!(wrong.stderr.contains("belongs to stack `tiny`, not `other`"), "{}", wrong.stderr);
    assert!(wrong.stderr.contains("check the backend's key"), "{}", wrong.stderr);
    let state_flag = w.run(&on_s3(&["plan", "tiny.toml", "--state", "s.json"], &[]), &m.env()).expect(1);
    assert!(
        state_flag.stderr.contains("keeps its state in S3 (s3://team-state/pgstack/tiny.json)"),
        "{}",
        state_flag.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unversioned_bucket_is_a_warning_and_a_missing_one_an_error() {
    let m = moto();
    bucket(&m, BUCKET, false).await;
    let w = Workdir::new();
    w.write("tiny.toml", TINY);
    let warned = w.run(&on_s3(&["plan", "tiny.toml"], &[]), &m.env()).expect(0);
    assert!(warned.stderr.contains("does not have versioning enabled"), "{}", warned.stderr);
    assert!(
        warned
            .stderr
            .contains("aws s3api put-bucket-versioning --bucket team-state --versioning-configuration Status=Enabled"),
        "{}",
        warned.stderr
    );
    let missing = w.run(&["plan", "tiny.toml", "--backend-config", "bucket=no-such-bucket"], &m.env()).expect(1);
    assert!(missing.stderr.contains("NoSuchBucket"), "{}", missing.stderr);
    assert!(missing.stderr.contains("check the bucket and region"), "{}", missing.stderr);
    let local = w.run(&["force-unlock", "tiny.toml", "x"], &m.env()).expect(1);
    assert!(local.stderr.contains("nothing to force-unlock"), "{}", local.stderr);
}

/// The backend itself on moto, through the proxy: a put whose reply is lost
/// is sent again by the SDK, refused (412), and recognised as this write; a
/// writer whose lock was broken is refused by If-Match.
#[tokio::test(flavor = "multi_thread")]
async fn conditional_writes_on_moto_refuse_a_stale_writer_and_accept_a_resent_one() {
    let m = moto();
    bucket(&m, BUCKET, true).await;
    let proxy = FaultProxy::start(m.port());
    let factory = Arc::new(pgstack::provider::aws::AwsFactory::new(pgstack::provider::aws::AwsOptions {
        profile: None,
        endpoint_url: Some(proxy.endpoint()),
        static_credentials: Some(("testing".into(), "testing".into())),
        pause_scale: Some(crate::support::moto::PAUSE_SCALE),
    }));
    let location = S3Location { bucket: BUCKET.into(), key: KEY.into(), region: REGION.into(), kms_key_id: None };
    let backend = || {
        let store = pgstack::provider::aws::s3_object_store::AwsObjectStore::new(factory.clone(), &location);
        S3Backend::new(Arc::new(store), location.clone())
    };
    let (a, b) = (backend(), backend());
    let lock_a = a.lock(pgstack::state::LockInfo::current("apply")).await.unwrap();
    assert!(a.load().await.unwrap().is_none());
    let mut first = pgstack::state::StateFile::new("quickstart");
    proxy.inject("PutObject", Fault::DropReply, 1);
    a.write(&first).await.unwrap();
    assert_eq!(proxy.seen("PutObject"), 3, "lock, then the state put sent twice");
    a.check_writable().await.unwrap();

    let Some(Holder::Run(holder)) = b.lock_holder().await.unwrap() else { panic!("a's lock names its run") };
    let id = holder.id.unwrap();
    b.force_unlock(&id).await.unwrap();
    let lock_b = b.lock(pgstack::state::LockInfo::current("apply")).await.unwrap();
    let mut newer = b.load().await.unwrap().unwrap();
    newer.serial += 1;
    b.write(&newer).await.unwrap();

    assert!(a.check_writable().await.is_err());
    first.serial += 1;
    first.outputs.insert("by".into(), pgstack::value::Value::str("a"));
    let e = a.write(&first).await.unwrap_err();
    assert!(matches!(e, pgstack::state::StateError::Changed { .. }), "{e}");
    assert_eq!(b.load().await.unwrap(), Some(newer), "the newer state stands");
    assert!(lock_a.release().await.is_err(), "a's lock is gone; b's is left alone");
    assert!(lock_exists(&m).await);
    lock_b.release().await.unwrap();
    assert!(!lock_exists(&m).await);
}

/// Puts `body` at `key` in [`BUCKET`] with the SDK; its ETag (without quotes).
async fn put_raw(m: &MotoGuard, key: &str, body: &[u8]) -> String {
    let s3 = m.factory().s3(REGION).await;
    let out = s3
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap();
    out.e_tag().unwrap().trim_matches('"').to_owned()
}

async fn exists(m: &MotoGuard, key: &str) -> bool {
    m.factory().s3(REGION).await.head_object().bucket(BUCKET).key(key).send().await.is_ok()
}

/// No control character (but line breaks) and no bidirectional override reached the terminal.
fn assert_no_raw_controls(text: &str) {
    let bad: Vec<char> =
        text.chars().filter(|c| (c.is_control() && *c != '\n') || ('\u{202a}'..='\u{2069}').contains(c)).collect();
    assert!(bad.is_empty(), "raw {bad:?} in:\n{text}");
}

/// `state` with its serial replaced by the JSON number `n`.
fn with_serial(state: &serde_json::Value, n: &str) -> String {
    let mut s = state.clone();
    s["serial"] = serde_json::from_str(n).unwrap();
    s.to_string()
}

/// Issue 15, item 4: `state push` took serial 18446744073709551615, and the
/// next apply deleted an object in AWS, then panicked before recording it.
/// Every loader refuses a serial beyond 2^53 - 1 (or negative, fractional),
/// naming the file, before any change.
#[tokio::test(flavor = "multi_thread")]
async fn out_of_range_serials_are_refused_by_every_loader_naming_the_file() {
    let m = moto();
    bucket(&m, BUCKET, true).await;
    let w = Workdir::new();
    w.write("tiny.toml", TINY);
    w.run(&["apply", "tiny.toml", "--auto-approve"], &m.env()).expect(0);
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path().join("state/tiny.json")).unwrap()).unwrap();
    let refusal = "a serial must be a whole number from 0 to 9007199254740991 (2^53 - 1), not ";

    // push: the file given is refused, nothing is written to S3.
    for n in ["18446744073709551615", "9007199254740992", "-1", "1e308", "2.5"] {
        w.write("huge.json", &with_serial(&good, n));
        let pushed = w.run(&on_s3(&["state", "push", "tiny.toml", "huge.json"], &[]), &m.env()).expect(1);
        assert!(pushed.stderr.contains(&format!("state file huge.json is not valid: {refusal}")), "{}", pushed.stderr);
        assert!(
            pushed.stderr.contains("huge.json was not pushed") && !pushed.stderr.contains(".backup"),
            "{}",
            pushed.stderr
        );
        assert!(!pushed.stderr.contains("panicked"), "{}", pushed.stderr);
    }
    assert!(!exists(&m, "pgstack/tiny.json").await, "nothing was pushed");

    // A local state file: refused before any AWS call; `state pull -o` onto it too.
    let original = std::fs::read_to_string(w.path().join("state/tiny.json")).unwrap();
    w.write("state/tiny.json", &with_serial(&good, "18446744073709551615"));
    let planned = w.run(&["apply", "tiny.toml", "--auto-approve"], &m.env()).expect(1);
    assert!(
        planned.stderr.contains(&format!("state file state/tiny.json is not valid: {refusal}18446744073709551615")),
        "{}",
        planned.stderr
    );
    assert!(planned.stderr.contains("cp 'state/tiny.json.backup' 'state/tiny.json'"), "{}", planned.stderr);

    // In range but without room for the plan's writes: refused before the first change to AWS.
    w.write("state/tiny.json", &with_serial(&good, &(9007199254740991u64 - 3).to_string()));
    w.write("tiny.toml", &TINY.replace("10.9.0.0/16\"", "10.9.0.0/16\"\ntags = { Team = \"db\" }"));
    let full = w.run(&["apply", "tiny.toml", "--auto-approve"], &m.env()).expect(1);
    assert!(full.stderr.contains("more write(s) would take it past 9007199254740991 (2^53 - 1)"), "{}", full.stderr);
    assert!(
        full.stderr.contains("hint: nothing was changed in AWS") && !full.stderr.contains("panicked"),
        "{}",
        full.stderr
    );
    let vpcs = m.factory().ec2(REGION).await.describe_vpcs().send().await.unwrap();
    assert!(vpcs.vpcs().iter().all(|v| v.tags().iter().all(|t| t.key() != Some("Team"))), "the VPC was not touched");
    w.write("tiny.toml", TINY);

    // S3: a stored state beyond the limit is refused by plan and pull.
    w.write("state/tiny.json", &original);
    put_raw(&m, "pgstack/tiny.json", with_serial(&good, "1e308").as_bytes()).await;
    for args in [&["plan", "tiny.toml"][..], &["state", "pull", "tiny.toml"][..]] {
        let run = w.run(&on_s3(args, &[]), &m.env()).expect(1);
        assert!(
            run.stderr.contains(&format!("state file s3://team-state/pgstack/tiny.json is not valid: {refusal}1e+308")),
            "{}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }

    // A saved plan resealed with the serial of such a state is refused before anything is loaded.
    w.run(&["plan", "tiny.toml", "-o", "p.plan"], &m.env()).expect(0);
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path().join("p.plan")).unwrap()).unwrap();
    plan["body"]["plan"]["state_serial"] = serde_json::json!(u64::MAX);
    let digest = sha2::Sha256::digest(serde_json::to_vec(&plan["body"]).unwrap());
    plan["digest"] = format!("sha256:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>()).into();
    w.write("p.plan", &plan.to_string());
    let applied = w.run(&["apply", "p.plan"], &m.env()).expect(1);
    assert!(
        applied.stderr.contains(&format!("p.plan is not a pgstack plan file: {refusal}18446744073709551615")),
        "{}",
        applied.stderr
    );
    assert_eq!(std::fs::read_to_string(w.path().join("state/tiny.json")).unwrap(), original, "nothing was written");
}

/// Issue 15, item 10: every field of a lock read from S3 is printed escaped,
/// in the lock-held error and in every message of force-unlock.
#[tokio::test(flavor = "multi_thread")]
async fn lock_fields_from_s3_are_printed_escaped_everywhere() {
    let m = moto();
    bucket(&m, BUCKET, true).await;
    let w = Workdir::new();
    w.write("tiny.toml", TINY);
    let lock = serde_json::json!({
        "id": "5b0c1d2e-0000-4000-8000-000000000001",
        "who": "mallory\u{1b}]0;pwned\u{7}@ci\u{202e}",
        "pid": 4242,
        "operation": "apply\nhint: run rm -rf /",
        "since": "2026-01-01T10:00:00Z\u{1b}[2J",
    });
    put_raw(&m, "pgstack/tiny.json.lock", lock.to_string().as_bytes()).await;
    let escaped = [
        "mallory\\u{1b}]0;pwned\\u{7}@ci\\u{202e}",
        "running `apply\\nhint: run rm -rf /`",
        "since 2026-01-01T10:00:00Z\\u{1b}[2J",
    ];
    let no_fake_lines = |text: &str| {
        assert!(!text.lines().any(|l| l.trim_start().starts_with("hint: run rm")), "a fake line:\n{text}");
        assert_no_raw_controls(text);
    };

    let blocked = w.run(&on_s3(&["plan", "tiny.toml"], &[]), &m.env()).expect(1);
    for e in escaped {
        assert!(blocked.stderr.contains(e), "{e} in:\n{}", blocked.stderr);
    }
    assert!(
        blocked.stderr.contains(
            "pgstack force-unlock tiny.toml 5b0c1d2e-0000-4000-8000-000000000001 --backend-config bucket=team-state"
        ),
        "{}",
        blocked.stderr
    );
    no_fake_lines(&blocked.stderr);

    let wrong = w.run(&on_s3(&["force-unlock", "tiny.toml", "x\u{1b}[2J", "--force"], &[]), &m.env()).expect(1);
    assert!(wrong.stderr.contains("not x\\u{1b}[2J: it is held by mallory\\u{1b}]0;pwned"), "{}", wrong.stderr);
    no_fake_lines(&wrong.stderr);

    let removed = w
        .run(&on_s3(&["force-unlock", "tiny.toml", "5b0c1d2e-0000-4000-8000-000000000001", "--force"], &[]), &m.env())
        .expect(0);
    for e in escaped {
        assert!(removed.stdout.contains(e), "{e} in:\n{}", removed.stdout);
    }
    assert!(
        removed.stdout.contains("Removed lock 5b0c1d2e-0000-4000-8000-000000000001 of mallory\\u{1b}"),
        "{}",
        removed.stdout
    );
    no_fake_lines(&removed.stdout);
    no_fake_lines(&removed.stderr);
    assert!(!exists(&m, "pgstack/tiny.json.lock").await);
}

/// Issue 15, item 11: an empty or unreadable lock object blocks apply with a
/// message naming the object and the force-unlock command that removes it
/// by its ETag; another ETag removes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_or_garbage_lock_object_is_named_and_removed_by_its_etag() {
    let m = moto();
    bucket(&m, BUCKET, true).await;
    let w = Workdir::new();
    w.write("tiny.toml", TINY);
    let bodies: [(&[u8], &str); 2] =
        [(b"", "it is empty"), (b"\x1b[2J\xff{garbage\n  hint: run rm -rf /", "it is not a pgstack lock")];
    for (body, detail) in bodies {
        let etag = put_raw(&m, "pgstack/tiny.json.lock", body).await;
        let blocked = w.run(&on_s3(&["apply", "tiny.toml", "--auto-approve"], &[]), &m.env()).expect(1);
        let stderr = &blocked.stderr;
        assert!(
            stderr.contains(&format!(
                "error: state is locked by the S3 object s3://team-state/pgstack/tiny.json.lock (ETag {etag}), which is not a lock pgstack can read: {detail}"
            )),
            "{stderr}"
        );
        let command = format!("pgstack force-unlock tiny.toml {etag} --backend-config bucket=team-state");
        assert!(
            stderr.contains(&format!("if no pgstack run is using the stack, remove that object: {command}")),
            "{stderr}"
        );
        for misleading in ["released when its process exits", "copy the id"] {
            assert!(!stderr.contains(misleading), "{misleading}: {stderr}");
        }
        assert!(!stderr.lines().any(|l| l.trim_start().starts_with("hint: run rm")), "{stderr}");
        assert_no_raw_controls(stderr);
        assert!(!w.path().join("state").exists() && !exists(&m, "pgstack/tiny.json").await, "nothing was done");

        let other =
            w.run(&on_s3(&["force-unlock", "tiny.toml", "0123456789abcdef", "--force"], &[]), &m.env()).expect(1);
        assert!(
            other.stderr.contains(&format!(
                "error: the lock object s3://team-state/pgstack/tiny.json.lock has ETag {etag}, not 0123456789abcdef; it is not a lock pgstack can read ({detail}"
            )) && other.stderr.contains("nothing was removed"),
            "{}",
            other.stderr
        );
        assert!(exists(&m, "pgstack/tiny.json.lock").await, "another ETag removes nothing");

        let args: Vec<&str> = command.split(' ').skip(1).chain(["--force"]).collect();
        let removed = w.run(&args, &m.env()).expect(0);
        assert!(
            removed
                .stdout
                .contains(&format!("Removed the lock object s3://team-state/pgstack/tiny.json.lock (ETag {etag})")),
            "{}",
            removed.stdout
        );
        assert!(!exists(&m, "pgstack/tiny.json.lock").await);
    }
    w.run(&on_s3(&["apply", "tiny.toml", "--auto-approve"], &[]), &m.env()).expect(0);
    assert!(!exists(&m, "pgstack/tiny.json.lock").await);
}
