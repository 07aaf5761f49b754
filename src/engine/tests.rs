//! Engine and plan tests with the in-memory fake provider: ordering,
//! parallelism, failure isolation, replacement, destroy order, adoption and
//! stale plans. No AWS.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::apply::Applier;
use super::walk::Outcome;
use crate::addr::ResourceAddr;
use crate::config::{Expr, Ref, ResourceConfig, Stack};
use crate::diag::{FileId, Span};
use crate::plan::{self, Action, Plan, PlanOptions};
use crate::provider::Registry;
use crate::provider::fake::{Call, Fake, NoClients};
use crate::state::local::LocalBackend;
use crate::state::{LiveState, StateBackend, StateFile};
use crate::value::Value;

fn span() -> Span {
    Span::new(FileId(0), 0..0)
}

fn reference(target: &str, attr: &str) -> Expr {
    Expr::Ref(Box::new(Ref { target: target.parse().unwrap(), splat: false, path: vec![attr.into()], span: span() }))
}

/// A stack of fake resources: (name, extra attributes).
fn stack(resources: Vec<(&str, Vec<(&str, Expr)>)>) -> Stack {
    let mut map = BTreeMap::new();
    for (name, attrs) in resources {
        let addr = ResourceAddr::new("fake", name);
        let mut a: BTreeMap<String, Expr> = attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        a.entry("name".into()).or_insert(Expr::Lit(Value::str(name)));
        map.insert(
            addr.clone(),
            ResourceConfig {
                addr,
                region: "us-east-1".into(),
                region_explicit: false,
                attrs: a,
                depends_on: vec![],
                ignore_changes: vec![],
                timeouts: BTreeMap::new(),
                create_before_destroy: None,
                span: span(),
                attr_spans: BTreeMap::new(),
                input_spans: BTreeMap::new(),
                module_calls: Vec::new(),
            },
        );
    }
    Stack {
        name: "t".into(),
        default_region: "us-east-1".into(),
        regions: BTreeMap::new(),
        state_path: None,
        backend: None,
        resources: map,
        outputs: BTreeMap::new(),
        root_dir: ".".into(),
        digest: "digest".into(),
        sensitive_vars: BTreeMap::new(),
        vars: BTreeMap::new(),
        check: Default::default(),
        cost: BTreeMap::new(),
        moved: Vec::new(),
        imports: Vec::new(),
        data: Default::default(),
    }
}

struct Env {
    fake: Arc<Fake>,
    /// `--allow-destroy` of this run.
    allow: Vec<ResourceAddr>,
    registry: Registry,
    backend: Arc<LocalBackend>,
    _dir: tempfile::TempDir,
}

fn env() -> Env {
    env_with(Fake::default())
}

fn env_with(fake: Fake) -> Env {
    let fake = Arc::new(fake);
    let mut registry = Registry::default();
    registry.register(fake.clone());
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(LocalBackend::new(dir.path().join("t.json")));
    Env { fake, allow: vec![], registry, backend, _dir: dir }
}

impl Env {
    async fn state(&self) -> StateFile {
        self.backend.load().await.unwrap().unwrap_or_else(|| StateFile::new("t"))
    }

    async fn refreshed(&self, stack: &Stack) -> plan::Refreshed {
        super::refresh::refresh(
            self.state().await,
            &plan::managed_attrs(stack, &self.registry),
            &self.registry,
            Arc::new(NoClients),
            4,
            &super::Silent,
        )
        .await
        .unwrap()
    }

    async fn plan(&self, stack: &Stack, destroy: bool) -> plan::Plan {
        let opts = PlanOptions { targets: vec![], destroy, ..PlanOptions::default() };
        plan::build(&Arc::new(stack.clone()), &self.registry, &self.refreshed(stack).await, &opts).unwrap()
    }

    async fn applier(&self, stack: &Stack, parallelism: usize) -> Applier {
        Applier {
            stack: stack.name.clone(),
            registry: self.registry.clone(),
            clients: Arc::new(NoClients),
            live: Arc::new(LiveState::new(self.state().await, self.backend.clone())),
            hook: Arc::new(super::Silent),
            parallelism,
            cancel: Arc::default(),
            allow_destroy: self.allow.clone(),
        }
    }

    async fn apply(&self, stack: &Stack, p: &plan::Plan, parallelism: usize) -> super::apply::ApplyReport {
        self.applier(stack, parallelism).await.apply(p).await.unwrap()
    }

    /// Applies `p` expecting the data-loss guard to refuse it.
    async fn apply_refused(&self, stack: &Stack, p: &plan::Plan) -> Vec<ResourceAddr> {
        let applier = self.applier(stack, 4).await;
        match applier.apply(p).await {
            Err(super::apply::ApplyError::Guarded(addrs)) => addrs,
            other => panic!("expected the guard to refuse, got {:?}", other.map(|r| r.ok())),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_in_dependency_order_and_resolves_references() {
    let e = env();
    let s = stack(vec![("a", vec![]), ("b", vec![("ref", reference("fake.a", "id"))]), ("c", vec![])]);
    let p = e.plan(&s, false).await;
    let b = p.changes.iter().find(|c| c.address.name == "b").unwrap();
    assert_eq!(b.after.as_ref().unwrap()["ref"], Value::Unknown, "a's id is unknown until apply");
    assert_eq!(p.summary().add, 3);

    let report = e.apply(&s, &p, 10).await;
    assert!(report.ok());
    let calls = e.fake.calls.lock().unwrap().clone();
    let pos = |n: &str| calls.iter().position(|c| *c == Call::Create(n.into())).unwrap();
    assert!(pos("a") < pos("b"));
    let state = e.state().await;
    let a_id = state.resources[&"fake.a".parse().unwrap()].id.clone().unwrap();
    assert_eq!(state.resources[&"fake.b".parse().unwrap()].attributes["ref"], Value::str(a_id));
    assert!(state.serial >= 3, "state is written after each change, serial {}", state.serial);

    // A second plan right after apply is empty.
    let again = e.plan(&s, false).await;
    assert!(!again.has_changes(), "{:?}", again.changes);
}

/// What an apply created and updated is known to the providers of what
/// depends on it (so they wait out AWS not showing it yet), and only that.
#[tokio::test(flavor = "multi_thread")]
async fn dependents_know_what_this_apply_created_and_changed() {
    let e = env();
    let s = stack(vec![("a", vec![]), ("b", vec![("ref", reference("fake.a", "id"))])]);
    let p = e.plan(&s, false).await;
    assert!(e.apply(&s, &p, 10).await.ok());
    assert_eq!(*e.fake.refs_seen.lock().unwrap(), [("b".to_owned(), true, true)], "a was created by this run");

    // The next run updates a and adds c, which names a: changed, not created.
    // b, which names a too and does not change, is not called.
    e.fake.refs_seen.lock().unwrap().clear();
    let s = stack(vec![
        ("a", vec![("size", Expr::Lit(2.into()))]),
        ("b", vec![("ref", reference("fake.a", "id"))]),
        ("c", vec![("ref", reference("fake.a", "id"))]),
    ]);
    let p = e.plan(&s, false).await;
    assert!(e.apply(&s, &p, 10).await.ok());
    assert_eq!(*e.fake.refs_seen.lock().unwrap(), [("c".to_owned(), false, true)]);

    // A third run makes nothing of a: c's update sees it as neither.
    e.fake.refs_seen.lock().unwrap().clear();
    let s = stack(vec![
        ("a", vec![("size", Expr::Lit(2.into()))]),
        ("b", vec![("ref", reference("fake.a", "id"))]),
        ("c", vec![("ref", reference("fake.a", "id")), ("size", Expr::Lit(3.into()))]),
    ]);
    let p = e.plan(&s, false).await;
    assert!(e.apply(&s, &p, 10).await.ok());
    assert_eq!(*e.fake.refs_seen.lock().unwrap(), [("c".to_owned(), false, false)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_skips_only_its_dependents() {
    let e = env();
    e.fake.fail_on.lock().unwrap().push("a".into());
    let s = stack(vec![("a", vec![]), ("b", vec![("ref", reference("fake.a", "id"))]), ("c", vec![])]);
    let p = e.plan(&s, false).await;
    let report = e.apply(&s, &p, 10).await;
    let outcome = |n: &str| report.results.iter().find(|r| r.addr.name == n).unwrap().outcome.clone();
    assert!(matches!(outcome("a"), Outcome::Failed(_)));
    assert!(matches!(outcome("b"), Outcome::Skipped(_)));
    assert_eq!(outcome("c"), Outcome::Done);
    let state = e.state().await;
    assert!(state.resources[&"fake.c".parse().unwrap()].id.is_some());
    assert!(!state.resources.contains_key(&"fake.b".parse().unwrap()));
}

#[tokio::test(flavor = "multi_thread")]
async fn parallelism_bounds_concurrent_operations() {
    let e = env();
    *e.fake.delay.lock().unwrap() = Duration::from_millis(30);
    let names: Vec<String> = (0..12).map(|i| format!("r{i}")).collect();
    let s = stack(names.iter().map(|n| (n.as_str(), vec![])).collect());
    let p = e.plan(&s, false).await;
    assert!(e.apply(&s, &p, 4).await.ok());
    assert_eq!(e.fake.max_in_flight.load(Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn replacement_deletes_then_creates_and_updates_in_place() {
    let e = env();
    let s = stack(vec![("a", vec![("size", Expr::Lit(1.into()))])]);
    let p = e.plan(&s, false).await;
    e.apply(&s, &p, 10).await;

    let resized = stack(vec![("a", vec![("size", Expr::Lit(2.into()))])]);
    let p = e.plan(&resized, false).await;
    assert_eq!(p.changes[0].action, Action::Update);
    e.apply(&resized, &p, 10).await;

    let renamed = stack(vec![("a", vec![("size", Expr::Lit(2.into())), ("name", Expr::Lit("z".into()))])]);
    let p = e.plan(&renamed, false).await;
    assert_eq!(p.changes[0].action, Action::Replace);
    assert!(p.changes[0].changes.iter().any(|c| c.name == "name" && c.forces_replacement));
    e.fake.calls.lock().unwrap().clear();
    assert!(e.apply(&renamed, &p, 10).await.ok());
    assert_eq!(*e.fake.calls.lock().unwrap(), vec![Call::Delete("a".into()), Call::Create("z".into())]);
}

/// `a` (created before destroyed, tagged with its address) and `b` referencing its id.
/// Applies `cbd_stack("a")`, then renames `fake.a` (a create-before-destroy
/// replacement) while deleting the old object fails. Returns the address, the
/// old object's id and the renamed stack.
async fn replace_leaving_the_old_object(e: &Env) -> (ResourceAddr, String, Stack) {
    let s = cbd_stack("a");
    assert!(e.apply(&s, &e.plan(&s, false).await, 10).await.ok());
    let a: ResourceAddr = "fake.a".parse().unwrap();
    let old = e.state().await.resources[&a].id.clone().unwrap();
    e.fake.fail_delete_on.lock().unwrap().push("a".into());
    let renamed = cbd_stack("z");
    assert!(!e.apply(&renamed, &e.plan(&renamed, false).await, 10).await.ok(), "the old object's delete fails");
    (a, old, renamed)
}

fn cbd_stack(a_name: &str) -> Stack {
    let mut tags = BTreeMap::new();
    tags.insert(crate::schema::TAG_ADDRESS.to_owned(), Value::str("fake.a"));
    let mut s = stack(vec![
        ("a", vec![("name", Expr::Lit(a_name.into())), ("tags", Expr::Lit(Value::Map(tags)))]),
        ("b", vec![("ref", reference("fake.a", "id"))]),
    ]);
    s.resources.get_mut(&"fake.a".parse().unwrap()).unwrap().create_before_destroy = Some(true);
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn create_before_destroy_moves_dependents_before_deleting_the_old_object() {
    let e = env();
    let s = cbd_stack("a");
    assert!(e.apply(&s, &e.plan(&s, false).await, 10).await.ok());
    let a: ResourceAddr = "fake.a".parse().unwrap();
    let old = e.state().await.resources[&a].id.clone().unwrap();

    let renamed = cbd_stack("z");
    let p = e.plan(&renamed, false).await;
    assert_eq!((p.changes[0].action, p.changes[0].create_before_destroy), (Action::Replace, true));
    assert_eq!(p.changes[1].action, Action::Update);
    e.fake.calls.lock().unwrap().clear();
    assert!(e.apply(&renamed, &p, 10).await.ok());
    let calls = e.fake.calls.lock().unwrap().clone();
    assert_eq!(calls, vec![Call::Create("z".into()), Call::Update("b".into()), Call::Delete("a".into())]);
    let state = e.state().await;
    let new = state.resources[&a].id.clone().unwrap();
    assert_ne!(new, old);
    assert!(state.resources[&a].deposed.is_empty());
    assert_eq!(state.resources[&"fake.b".parse().unwrap()].attributes["ref"], Value::str(new));
    assert!(!e.fake.objects.lock().unwrap().contains_key(&old));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_old_object_left_by_create_before_destroy_is_deleted_by_the_next_run() {
    let e = env();
    let (a, old, renamed) = replace_leaving_the_old_object(&e).await;
    let state = e.state().await;
    assert_eq!(state.resources[&a].deposed.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), vec![old.clone()]);
    assert_eq!(state.resources[&a].deposed[0].attributes["name"], Value::str("a"));

    e.fake.fail_delete_on.lock().unwrap().clear();
    let p = e.plan(&renamed, false).await;
    assert_eq!((p.changes[0].action, p.changes[0].deposed.clone()), (Action::NoOp, vec![old.clone()]));
    assert!(p.has_changes());
    assert_eq!(p.summary().destroy, 1);
    e.fake.calls.lock().unwrap().clear();
    assert!(e.apply(&renamed, &p, 10).await.ok());
    assert_eq!(*e.fake.calls.lock().unwrap(), vec![Call::Delete("a".into())]);
    assert!(e.state().await.resources[&a].deposed.is_empty());
    assert!(!e.plan(&renamed, false).await.has_changes());
}

#[tokio::test(flavor = "multi_thread")]
async fn adoption_after_a_create_before_destroy_crash_skips_the_old_object() {
    let e = env();
    let (a, old, renamed) = replace_leaving_the_old_object(&e).await;
    // As if the run died after the create, before recording it: both objects
    // carry the address tag, state has the pending entry and the old one deposed.
    let mut st = e.state().await;
    let entry = st.resources.get_mut(&a).unwrap();
    let new = entry.id.take().unwrap();
    entry.status = crate::state::Status::CreatePending;
    e.backend.write(&st).await.unwrap();
    assert!(old < new, "the old object is the first candidate");

    let refreshed = e.refreshed(&renamed).await;
    assert_eq!(refreshed.adopted.get(&a), Some(&new));
    let p = e.plan(&renamed, false).await;
    assert_eq!(p.changes[0].deposed, vec![old]);
}

#[tokio::test(flavor = "multi_thread")]
async fn create_before_destroy_on_top_of_a_dependency_deleted_first_is_refused() {
    let e = env();
    let s = stack(vec![("a", vec![("ref", reference("fake.b", "id"))]), ("b", vec![])]);
    assert!(e.apply(&s, &e.plan(&s, false).await, 10).await.ok());
    let mut renamed = stack(vec![
        ("a", vec![("ref", reference("fake.b", "id")), ("name", Expr::Lit("x".into()))]),
        ("b", vec![("name", Expr::Lit("c".into()))]),
    ]);
    let a = renamed.resources.get_mut(&"fake.a".parse().unwrap()).unwrap();
    a.create_before_destroy = Some(true);
    let opts = PlanOptions::default();
    let err = plan::build(&Arc::new(renamed.clone()), &e.registry, &e.refreshed(&renamed).await, &opts).unwrap_err();
    let text = format!("{err:?}");
    assert!(text.contains("`fake.a` is replaced create-before-destroy, but `fake.b`"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_runs_in_reverse_dependency_order() {
    let e = env();
    let s = stack(vec![("a", vec![]), ("b", vec![("ref", reference("fake.a", "id"))])]);
    let p = e.plan(&s, false).await;
    e.apply(&s, &p, 10).await;
    e.fake.calls.lock().unwrap().clear();
    let p = e.plan(&s, true).await;
    assert_eq!(p.summary().destroy, 2);
    assert!(e.apply(&s, &p, 10).await.ok());
    assert_eq!(*e.fake.calls.lock().unwrap(), vec![Call::Delete("b".into()), Call::Delete("a".into())]);
    assert!(e.state().await.resources.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_create_is_adopted_not_repeated() {
    let e = env();
    let s = stack(vec![("a", vec![])]);
    let p = e.plan(&s, false).await;
    e.apply(&s, &p, 10).await;
    // Simulate a crash between the create call and the state write: the
    // object exists with its ownership tag, the state only has the pending entry.
    let addr: ResourceAddr = "fake.a".parse().unwrap();
    let mut st = e.state().await;
    let entry = st.resources.get_mut(&addr).unwrap();
    let id = entry.id.take().unwrap();
    entry.status = crate::state::Status::CreatePending;
    let mut tags = BTreeMap::new();
    tags.insert(crate::schema::TAG_ADDRESS.to_owned(), Value::str(addr.to_string()));
    e.fake.objects.lock().unwrap().get_mut(&id).unwrap().insert("tags".into(), Value::Map(tags.clone()));
    e.backend.write(&st).await.unwrap();

    let s = stack(vec![("a", vec![("tags", Expr::Lit(Value::Map(tags)))])]);
    let p = e.plan(&s, false).await;
    assert!(p.changes[0].adopted);
    assert_eq!(p.changes[0].action, Action::NoOp);
    e.fake.calls.lock().unwrap().clear();
    assert!(e.apply(&s, &p, 10).await.ok());
    assert!(e.fake.calls.lock().unwrap().is_empty(), "nothing is created twice");
    assert_eq!(e.state().await.resources[&addr].id.as_deref(), Some(id.as_str()));
    assert_eq!(e.fake.objects.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_stale_once_state_or_config_moves_on() {
    let e = env();
    let s = stack(vec![("a", vec![])]);
    let p = e.plan(&s, false).await;
    let state = e.state().await;
    let stored = (state.serial > 0).then_some(&state);
    assert_eq!(p.staleness("digest", stored), None);
    assert_eq!(p.staleness("other", stored), Some("the stack configuration"));
    e.apply(&s, &p, 10).await;
    assert_eq!(p.staleness("digest", Some(&e.state().await)), Some("the state"));
    // A plan made before any state existed does not apply to a state that appeared.
    let unborn = Plan { state_lineage: None, state_serial: e.state().await.serial, ..p.clone() };
    assert_eq!(unborn.staleness("digest", Some(&e.state().await)), Some("the state"));
    assert_eq!(unborn.staleness("digest", None), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_plan_covers_the_target_and_its_dependencies_only() {
    let e = env();
    let s = stack(vec![("a", vec![]), ("b", vec![("ref", reference("fake.a", "id"))]), ("c", vec![])]);
    let refreshed = plan::Refreshed::from_state(e.state().await);
    let opts = PlanOptions { targets: vec!["fake.b".parse().unwrap()], destroy: false, ..PlanOptions::default() };
    let p = plan::build(&Arc::new(s.clone()), &e.registry, &refreshed, &opts).unwrap();
    let planned: Vec<String> = p.changes.iter().map(|c| c.address.to_string()).collect();
    assert_eq!(planned, vec!["fake.a", "fake.b"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_reply_was_lost_is_found_by_its_tags() {
    let e = env();
    e.fake.lose_reply_on.lock().unwrap().push("a".into());
    let mut tags = BTreeMap::new();
    tags.insert(crate::schema::TAG_ADDRESS.to_owned(), Value::str("fake.a"));
    let s = stack(vec![("a", vec![("tags", Expr::Lit(Value::Map(tags)))])]);
    let p = e.plan(&s, false).await;
    assert!(e.apply(&s, &p, 10).await.ok());
    let objects = e.fake.objects.lock().unwrap().clone();
    assert_eq!(objects.len(), 1, "created once");
    let state = e.state().await;
    let recorded = state.resources[&"fake.a".parse().unwrap()].id.clone();
    assert_eq!(recorded.as_deref(), objects.keys().next().map(String::as_str));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_engine_refuses_guarded_deletes_whatever_the_plan_says() {
    let mut e = env_with(Fake::guarded());
    let s = stack(vec![("db", vec![("size", Expr::Lit(1.into()))])]);
    let p = e.plan(&s, false).await;
    e.apply(&s, &p, 4).await;
    // A plan edited to delete the object, with the guard flag cleared.
    let resized = stack(vec![("db", vec![("size", Expr::Lit(2.into()))])]);
    let mut edited = e.plan(&resized, false).await;
    assert_eq!(edited.changes[0].action, Action::Update);
    edited.changes[0].action = Action::Delete;
    edited.changes[0].guarded = false;
    edited.changes[0].rtype = "not_guarded".into();
    e.fake.calls.lock().unwrap().clear();
    // A type the state does not record is refused before the guard is even asked.
    match e.applier(&resized, 4).await.apply(&edited).await {
        Err(super::apply::ApplyError::NotInState(m)) => assert!(m[0].contains("not_guarded"), "{m:?}"),
        other => panic!("expected NotInState, got {:?}", other.map(|r| r.ok())),
    }
    edited.changes[0].rtype = "fake".into();
    let refused = e.apply_refused(&resized, &edited).await;
    assert_eq!(refused, vec!["fake.db".parse::<ResourceAddr>().unwrap()]);
    assert!(e.fake.calls.lock().unwrap().is_empty(), "nothing was called");
    assert_eq!(e.fake.objects.lock().unwrap().len(), 1);
    // Named in this run's allow-list, the deletion goes ahead.
    e.allow = vec!["fake.db".parse().unwrap()];
    assert!(e.apply(&resized, &edited, 4).await.ok());
    assert!(e.fake.objects.lock().unwrap().is_empty());
}

/// Ids, types and regions come from the state apply holds: a plan naming
/// another object than the state records at an address (an edited file) is
/// refused before any call.
#[tokio::test(flavor = "multi_thread")]
async fn a_plan_naming_another_object_than_the_state_is_refused_before_any_call() {
    let e = env();
    let s = stack(vec![("a", vec![("size", Expr::Lit(1.into()))]), ("b", vec![])]);
    e.apply(&s, &e.plan(&s, false).await, 4).await;
    let resized = stack(vec![("a", vec![("size", Expr::Lit(2.into()))]), ("b", vec![])]);
    let plan = e.plan(&resized, false).await;
    type Edit<'a> = (&'a str, &'a dyn Fn(&mut plan::ResourceChange));
    let edits: [Edit; 4] = [
        ("names object someone-elses", &|c| c.id = Some("someone-elses".into())),
        ("eu-west-1", &|c| c.region = "eu-west-1".into()),
        ("old objects", &|c| c.deposed = vec!["someone-elses".into()]),
        ("state records", &|c| {
            c.address = "fake.c".parse().unwrap();
        }),
    ];
    for (said, edit) in edits {
        let mut edited = plan.clone();
        let i = edited.changes.iter().position(|c| c.action == Action::Update).expect("an update");
        edit(&mut edited.changes[i]);
        e.fake.calls.lock().unwrap().clear();
        match e.applier(&resized, 4).await.apply(&edited).await {
            Err(super::apply::ApplyError::NotInState(m)) => assert!(m.join("\n").contains(said), "{said}: {m:?}"),
            other => panic!("{said}: expected NotInState, got {:?}", other.map(|r| r.ok())),
        }
        assert!(e.fake.calls.lock().unwrap().is_empty(), "{said}: nothing was called");
    }
    // A create where the state records a ready object.
    let mut edited = plan.clone();
    let i = edited.changes.iter().position(|c| c.address.name == "b").unwrap();
    edited.changes[i].action = Action::Create;
    match e.applier(&resized, 4).await.apply(&edited).await {
        Err(super::apply::ApplyError::NotInState(m)) => assert!(m[0].contains("creates an object"), "{m:?}"),
        other => panic!("expected NotInState, got {:?}", other.map(|r| r.ok())),
    }
    // Unedited, it applies.
    assert!(e.apply(&resized, &plan, 4).await.ok());
}

/// A type guarded only while it holds data (here: `size` above 1, as a
/// bucket with objects): empty, it is deleted without `--allow-destroy`;
/// holding data, the plan flags it and both checks refuse it, the engine's
/// from what state records even when the plan's flag was cleared.
#[tokio::test(flavor = "multi_thread")]
async fn a_type_guarded_while_it_holds_data_is_refused_only_then() {
    let holding = |a: &crate::value::Attrs| a.get("size").and_then(Value::as_i64).is_some_and(|n| n > 1);
    let e = env_with(Fake::guarded_while(holding));
    let s = stack(vec![("bucket", vec![])]);
    e.apply(&s, &e.plan(&s, false).await, 4).await;
    let empty = e.plan(&s, true).await;
    assert!(!empty.changes[0].guarded);
    assert!(plan::unallowed_destroys(&empty, &e.state().await, &e.registry, &[]).is_empty());

    // Data arrives outside pgstack: the refreshed plan flags it though state still says empty.
    let id = e.state().await.resources.values().next().unwrap().id.clone().unwrap();
    e.fake.objects.lock().unwrap().get_mut(&id).unwrap().insert("size".into(), Value::Int(5));
    let full = e.plan(&s, true).await;
    assert!(full.changes[0].guarded);
    let bucket: ResourceAddr = "fake.bucket".parse().unwrap();
    assert_eq!(plan::unallowed_destroys(&full, &e.state().await, &e.registry, &[]), vec![bucket.clone()]);

    // Once state records the data, a plan with the flag cleared is refused by the engine.
    let refreshed = e.refreshed(&s).await.refreshed_state();
    e.backend.write(&refreshed).await.unwrap();
    let mut edited = e.plan(&s, true).await;
    edited.changes[0].guarded = false;
    assert_eq!(e.apply_refused(&s, &edited).await, vec![bucket]);
    assert_eq!(e.fake.objects.lock().unwrap().len(), 1, "nothing was deleted");

    // Emptied again: deleted without being named.
    e.fake.objects.lock().unwrap().get_mut(&id).unwrap().insert("size".into(), Value::Int(1));
    e.backend.write(&e.refreshed(&s).await.refreshed_state()).await.unwrap();
    assert!(e.apply(&s, &e.plan(&s, true).await, 4).await.ok());
    assert!(e.fake.objects.lock().unwrap().is_empty());
}

/// Deleting an object (destroy, or removed from the stack) hands the
/// provider's `refuse` and `delete` its config-only values from state.
#[tokio::test(flavor = "multi_thread")]
async fn a_delete_sees_config_only_values_from_state() {
    let e = env();
    let s = stack(vec![("a", vec![("force", Expr::Lit(Value::Bool(true)))])]);
    e.apply(&s, &e.plan(&s, false).await, 4).await;
    let a: ResourceAddr = "fake.a".parse().unwrap();
    assert_eq!(e.state().await.resources[&a].attributes["force"], Value::Bool(true));
    let id = e.state().await.resources[&a].id.clone().unwrap();
    e.fake.objects.lock().unwrap().get_mut(&id).unwrap().remove("force");
    for p in [e.plan(&s, true).await, e.plan(&stack(vec![]), false).await] {
        assert_eq!(p.changes[0].action, Action::Delete);
        assert_eq!(p.changes[0].before.as_ref().unwrap()["force"], Value::Bool(true));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refreshed_state_records_what_aws_holds() {
    let e = env();
    let s = stack(vec![("a", vec![("size", Expr::Lit(1.into()))]), ("b", vec![])]);
    let p = e.plan(&s, false).await;
    e.apply(&s, &p, 4).await;
    let ids: BTreeMap<String, String> =
        e.state().await.resources.values().map(|r| (r.address.name.clone(), r.id.clone().unwrap())).collect();
    // Out of band: `a` resized to 5, `b` deleted.
    e.fake.objects.lock().unwrap().get_mut(&ids["a"]).unwrap().insert("size".into(), Value::Int(5));
    e.fake.objects.lock().unwrap().remove(&ids["b"]);
    let refreshed = e.refreshed(&s).await;
    let st = refreshed.refreshed_state();
    let a: ResourceAddr = "fake.a".parse().unwrap();
    assert_eq!(st.resources[&a].attributes["size"], Value::Int(5));
    assert!(!st.resources.contains_key(&"fake.b".parse::<ResourceAddr>().unwrap()));
    assert_eq!((st.serial, &st.lineage), (refreshed.state.serial, &refreshed.state.lineage));
}

#[tokio::test(flavor = "multi_thread")]
async fn existing_objects_stay_in_their_recorded_region() {
    let e = env();
    let s = stack(vec![("a", vec![])]);
    let p = e.plan(&s, false).await;
    e.apply(&s, &p, 4).await;
    // The default region moved (`--region`, or `[stack] region` edited): the object stays where it is.
    let mut moved = s.clone();
    let a: ResourceAddr = "fake.a".parse().unwrap();
    moved.resources.get_mut(&a).unwrap().region = "eu-west-1".into();
    let p = e.plan(&moved, false).await;
    assert_eq!((p.changes[0].action, p.changes[0].region.as_str()), (Action::NoOp, "us-east-1"));
    // A new object goes to the new default.
    moved.resources.insert("fake.b".parse().unwrap(), {
        let mut rc = moved.resources[&a].clone();
        rc.addr = "fake.b".parse().unwrap();
        rc.attrs.insert("name".into(), Expr::Lit(Value::str("b")));
        rc
    });
    let p = e.plan(&moved, false).await;
    assert_eq!(p.changes.iter().map(|c| c.region.as_str()).collect::<Vec<_>>(), vec!["us-east-1", "eu-west-1"]);
    // A region set on the resource itself that contradicts the object's is refused.
    moved.resources.get_mut(&a).unwrap().region_explicit = true;
    let refreshed = plan::Refreshed::from_state(e.state().await);
    let diags = plan::build(&Arc::new(moved.clone()), &e.registry, &refreshed, &PlanOptions::default()).unwrap_err();
    assert!(diags.0[0].summary.contains("exists in us-east-1"), "{:?}", diags.0[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_changes_exactly_what_the_plan_showed() {
    let e = env();
    let s = stack(vec![("a", vec![("size", Expr::Lit(1.into()))])]);
    let p = e.plan(&s, false).await;
    e.apply(&s, &p, 4).await;
    // `size` changes but is ignored; `ref` changes and is not.
    let mut changed = stack(vec![("a", vec![("size", Expr::Lit(7.into())), ("ref", Expr::Lit("x".into()))])]);
    let a: ResourceAddr = "fake.a".parse().unwrap();
    changed.resources.get_mut(&a).unwrap().ignore_changes = vec!["size".into()];
    let p = e.plan(&changed, false).await;
    let planned: Vec<&str> = p.changes[0].changes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(planned, vec!["ref"]);
    assert!(e.apply(&changed, &p, 4).await.ok());
    let objects = e.fake.objects.lock().unwrap().clone();
    let obj = objects.values().next().unwrap();
    assert_eq!((obj["size"].clone(), obj["ref"].clone()), (Value::Int(1), Value::str("x")), "size untouched");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deferred_value_that_contradicts_the_plan_fails_before_its_call() {
    let e = env();
    let refs = Expr::List(vec![Expr::Lit(Value::str("x")), reference("fake.a", "id")]);
    let s = stack(vec![("a", vec![]), ("b", vec![("refs", refs)])]);
    let mut p = e.plan(&s, false).await;
    let b = p.changes.iter().position(|c| c.address.name == "b").unwrap();
    let planned = Value::List(vec![Value::str("x"), Value::Unknown]);
    assert_eq!(p.changes[b].after.as_ref().unwrap()["refs"], planned, "known only once `a` exists");
    let schema = e.registry.get("fake").unwrap().schema();
    let deferred: Vec<&str> = p.deferred(&p.changes[b], schema).unwrap().iter().map(|(name, _)| *name).collect();
    assert_eq!(deferred, vec!["refs"], "apply evaluates it then");
    // A plan whose known part differs from what the config gives at apply.
    let promised = Value::List(vec![Value::str("z"), Value::Unknown]);
    p.changes[b].after.as_mut().unwrap().insert("refs".into(), promised);
    let report = e.apply(&s, &p, 4).await;
    let failed: Vec<String> = report.failed().map(|r| format!("{:?}", r.outcome)).collect();
    assert!(failed.len() == 1 && failed[0].contains("inconsistent with the plan"), "{failed:?}");
    assert_eq!(*e.fake.calls.lock().unwrap(), vec![Call::Create("a".into())], "nothing was sent for b");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_value_unknown_at_plan_that_breaks_the_schema_is_refused_before_its_call() {
    let e = env();
    let s = stack(vec![
        ("a", vec![]),
        ("b", vec![("cidr", reference("fake.a", "id"))]),
        ("c", vec![("cidr", Expr::Lit(Value::str("10.0.0.0/16")))]),
    ]);
    let p = e.plan(&s, false).await;
    let report = e.apply(&s, &p, 4).await;
    let failed: Vec<(String, String)> =
        report.failed().map(|r| (r.addr.to_string(), format!("{:?}", r.outcome))).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "fake.b");
    assert!(failed[0].1.contains("`cidr` must be") && failed[0].1.contains("nothing was sent"), "{failed:?}");
    let mut calls = e.fake.calls.lock().unwrap().clone();
    calls.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(calls, vec![Call::Create("a".into()), Call::Create("c".into())], "b was never sent");
}

impl Env {
    /// Refreshes and plans `stack`, expecting the plan to be refused.
    async fn plan_refused(&self, stack: &Stack, opts: &PlanOptions) -> crate::diag::Diagnostics {
        let refreshed = self.refreshed(stack).await;
        match plan::build(&Arc::new(stack.clone()), &self.registry, &refreshed, opts) {
            Err(diags) => diags,
            Ok(p) => panic!("expected a refusal, got a plan of {:?}", p.summary()),
        }
    }
}

/// The summaries of `diags`, with whether each points at the config.
fn refusals(diags: &crate::diag::Diagnostics) -> Vec<(String, bool)> {
    diags.0.iter().map(|d| (d.summary.clone(), d.span.is_some())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destroy_refused_for_any_object_lists_them_all_and_touches_nothing() {
    let e = env();
    let s = stack(vec![("a", vec![]), ("b", vec![("ref", reference("fake.a", "id"))]), ("c", vec![])]);
    let p = e.plan(&s, false).await;
    e.apply(&s, &p, 4).await;
    e.fake.protected.lock().unwrap().extend(["a".to_owned(), "c".to_owned()]);
    e.fake.calls.lock().unwrap().clear();

    let diags = e.plan_refused(&s, &PlanOptions { targets: vec![], destroy: true, ..PlanOptions::default() }).await;
    assert_eq!(
        refusals(&diags),
        [
            ("`fake.a` cannot be deleted: it is protected".to_owned(), false),
            ("`fake.c` cannot be deleted: it is protected".to_owned(), false),
        ]
    );
    assert_eq!(diags.0[0].hints, ["unprotect it first", "the plan is refused before any change: nothing was changed"]);
    assert!(e.fake.calls.lock().unwrap().is_empty());
    assert_eq!(e.fake.objects.lock().unwrap().len(), 3);
    // A destroy limited to an unprotected object is planned.
    let refreshed = plan::Refreshed::from_state(e.state().await);
    let opts = PlanOptions { targets: vec!["fake.b".parse().unwrap()], destroy: true, ..PlanOptions::default() };
    let p = plan::build(&Arc::new(s.clone()), &e.registry, &refreshed, &opts).unwrap();
    assert_eq!(
        p.changes.iter().map(|c| (c.address.to_string(), c.action)).collect::<Vec<_>>(),
        [("fake.b".to_owned(), Action::Delete)]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn removing_or_replacing_a_protected_object_is_refused_updating_it_is_not() {
    let e = env();
    let s = stack(vec![("a", vec![]), ("b", vec![])]);
    let p = e.plan(&s, false).await;
    e.apply(&s, &p, 4).await;
    e.fake.protected.lock().unwrap().extend(["a".to_owned(), "b".to_owned()]);

    // `b` removed from the stack: named by its address, no config to point at.
    let only_a = stack(vec![("a", vec![])]);
    let diags = e.plan_refused(&only_a, &PlanOptions::default()).await;
    assert_eq!(refusals(&diags), [("`fake.b` cannot be deleted: it is protected".to_owned(), false)]);
    // A plan only reported (drift, refresh) is not refused.
    let refreshed = plan::Refreshed::from_state(e.state().await);
    let report = PlanOptions { report_only: true, ..PlanOptions::default() };
    let p = plan::build(&Arc::new(only_a.clone()), &e.registry, &refreshed, &report).unwrap();
    assert_eq!(p.summary().destroy, 1);

    // `a` renamed (forces replacement): pointed at in the config.
    let renamed = stack(vec![("a", vec![("name", Expr::Lit(Value::str("a2")))]), ("b", vec![])]);
    let diags = e.plan_refused(&renamed, &PlanOptions::default()).await;
    assert_eq!(refusals(&diags), [("`fake.a` cannot be deleted: it is protected".to_owned(), true)]);

    // Changed in place: planned and applied.
    let resized = stack(vec![("a", vec![("size", Expr::Lit(3.into()))]), ("b", vec![])]);
    let p = e.plan(&resized, false).await;
    assert_eq!(p.summary(), plan::Summary { add: 0, change: 1, destroy: 0 });
    assert!(e.apply(&resized, &p, 4).await.ok());
}

#[test]
fn create_before_destroy_is_refused_where_adoption_cannot_tell_old_from_new() {
    // A real type without `find_all_created`: the setting is refused at plan.
    let registry = Registry::aws();
    let mut s = stack(vec![]);
    let addr: ResourceAddr = "vpc.main".parse().unwrap();
    let mut rc = stack(vec![("a", vec![])]).resources.into_values().next().unwrap();
    rc.addr = addr.clone();
    rc.attrs = [("cidr_block".to_owned(), Expr::Lit(Value::str("10.0.0.0/16")))].into_iter().collect();
    rc.create_before_destroy = Some(true);
    s.resources.insert(addr, rc);
    let refreshed = plan::Refreshed::from_state(StateFile::new("t"));
    let diags = plan::build(&Arc::new(s.clone()), &registry, &refreshed, &PlanOptions::default()).unwrap_err();
    assert!(diags.0[0].summary.contains("not supported for `vpc`"), "{:?}", diags.0[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_makes_a_new_object_although_nothing_changed() {
    let e = env();
    let s = stack(vec![("a", vec![]), ("b", vec![])]);
    let p = e.plan(&s, false).await;
    assert!(e.apply(&s, &p, 10).await.ok());
    let before = e.state().await.resources[&"fake.a".parse().unwrap()].id.clone();
    let opts = PlanOptions { replace: vec!["fake.a".parse().unwrap()], ..PlanOptions::default() };
    let p = plan::build(&Arc::new(s.clone()), &e.registry, &e.refreshed(&s).await, &opts).unwrap();
    let actions: Vec<(String, Action)> = p.changes.iter().map(|c| (c.address.to_string(), c.action)).collect();
    assert_eq!(actions, vec![("fake.a".into(), Action::Replace), ("fake.b".into(), Action::NoOp)]);
    assert!(e.apply(&s, &p, 10).await.ok());
    let after = e.state().await.resources[&"fake.a".parse().unwrap()].id.clone();
    assert_ne!(after, before);
    assert_eq!(e.fake.objects.lock().unwrap().len(), 2, "the old object is gone");
}

#[tokio::test(flavor = "multi_thread")]
async fn replacing_a_guarded_object_needs_allow_destroy() {
    let e = env_with(Fake::guarded());
    let s = stack(vec![("a", vec![])]);
    let p = e.plan(&s, false).await;
    assert!(e.apply(&s, &p, 10).await.ok());
    let opts = PlanOptions { replace: vec!["fake.a".parse().unwrap()], ..PlanOptions::default() };
    let p = plan::build(&Arc::new(s.clone()), &e.registry, &e.refreshed(&s).await, &opts).unwrap();
    assert!(p.changes[0].guarded && p.changes[0].action == Action::Replace);
    assert_eq!(e.apply_refused(&s, &p).await, vec!["fake.a".parse::<ResourceAddr>().unwrap()]);
}

/// Tags naming stack `stack` and, when given, `address`.
fn owner_tags(stack: &str, address: Option<&str>) -> Value {
    let mut tags = BTreeMap::from([(crate::schema::TAG_STACK.to_owned(), Value::str(stack))]);
    if let Some(a) = address {
        tags.insert(crate::schema::TAG_ADDRESS.to_owned(), Value::str(a));
    }
    Value::Map(tags)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_orphan_scan_reports_tagged_objects_whose_ids_state_does_not_record() {
    use crate::plan::report::{Claim, classify, scan_scope};
    use crate::state::{Deposed, Status};
    let e = env();
    let s = stack(vec![("a", vec![]), ("b", vec![]), ("c", vec![])]);
    assert!(e.apply(&s, &e.plan(&s, false).await, 10).await.ok());
    let mut st = e.state().await;
    let addr = |n: &str| -> ResourceAddr { format!("fake.{n}").parse().unwrap() };
    {
        let mut objects = e.fake.objects.lock().unwrap();
        for (a, r) in &st.resources {
            let tags = owner_tags("t", Some(&a.to_string()));
            objects.get_mut(r.id.as_ref().unwrap()).unwrap().insert("tags".into(), tags);
        }
        let mut add = |id: &str, tags: Value| {
            objects.insert(id.to_owned(), [("id".to_owned(), Value::str(id)), ("tags".to_owned(), tags)].into());
        };
        add("old-c", owner_tags("t", Some("fake.c")));
        add("second-a", owner_tags("t", Some("fake.a")));
        add("undeclared", owner_tags("t", Some("fake.z")));
        add("unaddressed", owner_tags("t", None));
        add("foreign", owner_tags("u", Some("fake.a")));
    }
    // fake.b's create was interrupted (pending); fake.c keeps an old object.
    let b = st.resources.get_mut(&addr("b")).unwrap();
    let b_id = b.id.take().unwrap();
    b.status = Status::CreatePending;
    st.resources
        .get_mut(&addr("c"))
        .unwrap()
        .deposed
        .push(Deposed { id: "old-c".into(), attributes: Default::default() });
    e.backend.write(&st).await.unwrap();

    let scan = |refreshed: plan::Refreshed| {
        let registry = e.registry.clone();
        let s = s.clone();
        async move {
            let scope = scan_scope(&s, &refreshed.state);
            let found = super::orphans::scan(&refreshed, &scope, &registry, Arc::new(NoClients), 4, &super::Silent)
                .await
                .unwrap();
            classify(&s, &refreshed, found)
        }
    };
    // Before refresh, the pending create's object is not an orphan: the next apply adopts it.
    let orphans = scan(plan::Refreshed::from_state(e.state().await)).await;
    let claims: Vec<(&str, &Claim)> = orphans.iter().map(|o| (o.object.id.as_str(), &o.claim)).collect();
    let a_id = st.resources[&addr("a")].id.clone().unwrap();
    assert_eq!(
        claims,
        vec![
            ("second-a", &Claim::Duplicate { address: addr("a"), managed_id: a_id.clone() }),
            ("undeclared", &Claim::Undeclared(addr("z"))),
            ("unaddressed", &Claim::Unaddressed),
        ]
    );
    // After refresh adopted it, it is recorded like any other; a second object with its tags is a duplicate.
    e.fake.objects.lock().unwrap().insert(
        "second-b".into(),
        [("id".to_owned(), Value::str("second-b")), ("tags".to_owned(), owner_tags("t", Some("fake.b")))].into(),
    );
    let refreshed = e.refreshed(&s).await;
    let adopted = refreshed.adopted[&addr("b")].clone();
    let orphans = scan(refreshed).await;
    let ids: Vec<&str> = orphans.iter().map(|o| o.object.id.as_str()).collect();
    let other_b = if adopted == b_id { "second-b" } else { b_id.as_str() };
    assert_eq!(ids, vec!["second-a", other_b, "undeclared", "unaddressed"]);
    assert_eq!(orphans[1].claim, Claim::Duplicate { address: addr("b"), managed_id: adopted });
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_state_records_by_another_form_of_its_id_is_no_orphan() {
    let e = env();
    let s = stack(vec![("a", vec![])]);
    assert!(e.apply(&s, &e.plan(&s, false).await, 10).await.ok());
    let mut st = e.state().await;
    let entry = st.resources.values_mut().next().unwrap();
    let id = entry.id.clone().unwrap();
    e.fake.objects.lock().unwrap().get_mut(&id).unwrap().insert("tags".into(), owner_tags("t", Some("fake.a")));
    // Imported by its ARN: the entry's id is the ARN, its `id` attribute the plain id.
    entry.id = Some(format!("arn:fake:{id}"));
    entry.attributes.insert("arn".into(), Value::str(format!("arn:fake:{id}")));
    let refreshed = plan::Refreshed::from_state(st);
    let scope = plan::report::scan_scope(&s, &refreshed.state);
    let found =
        super::orphans::scan(&refreshed, &scope, &e.registry, Arc::new(NoClients), 4, &super::Silent).await.unwrap();
    assert!(found.is_empty(), "{found:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_serial_without_room_for_the_plans_writes_is_refused_before_any_call() {
    let e = env();
    let s = stack(vec![("a", vec![]), ("b", vec![])]);
    let mut st = e.state().await;
    st.serial = crate::state::MAX_SERIAL - 5;
    e.backend.write(&st).await.unwrap();
    let p = e.plan(&s, false).await;
    match e.applier(&s, 4).await.apply(&p).await {
        Err(super::apply::ApplyError::State(crate::state::StateError::SerialLimit { serial, writes, .. })) => {
            assert_eq!(serial, crate::state::MAX_SERIAL - 5);
            assert!(writes > 5, "two creates can take more writes than are left: {writes}");
        }
        other => panic!("expected SerialLimit, got {:?}", other.map(|r| r.ok())),
    }
    assert!(e.fake.calls.lock().unwrap().is_empty(), "nothing was sent");
    assert_eq!(e.state().await, st, "nothing was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_failing_after_a_change_reports_it_and_starts_nothing_more() {
    let e = env();
    let s = stack(vec![("a", vec![]), ("b", vec![])]);
    let p = e.plan(&s, false).await;
    assert!(e.apply(&s, &p, 1).await.ok());
    let before = e.state().await;
    e.fake.calls.lock().unwrap().clear();
    // From now on every state write fails (its backup cannot be written).
    std::fs::remove_file(e.backend.backup_path()).unwrap();
    std::fs::create_dir(e.backend.backup_path()).unwrap();

    let p = e.plan(&s, true).await;
    let report = e.apply(&s, &p, 1).await;
    let calls = e.fake.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "one delete was sent, then nothing more: {calls:?}");
    let Call::Delete(deleted) = &calls[0] else { panic!("{calls:?}") };
    let addr: ResourceAddr = format!("fake.{deleted}").parse().unwrap();
    let id = before.resources[&addr].id.clone();
    assert_eq!(report.unrecorded, vec![super::apply::Unrecorded { addr: addr.clone(), change: "deleted", id }]);
    for r in &report.results {
        let Outcome::Failed(why) = &r.outcome else { panic!("{}: {:?}", r.addr, r.outcome) };
        if r.addr == addr {
            assert!(why.starts_with("deleted in AWS (fake-") && why.contains("but not recorded in state"), "{why}");
        } else {
            assert!(why.starts_with("not started: an earlier state write failed"), "{why}");
        }
    }
    assert_eq!(e.state().await, before, "the stored state is the one before");

    // Writable again: the next run drops what was deleted and deletes the rest.
    std::fs::remove_dir(e.backend.backup_path()).unwrap();
    let p = e.plan(&s, true).await;
    assert!(p.forget.contains(&addr), "{:?}", p.forget);
    assert!(e.apply(&s, &p, 1).await.ok());
    assert!(e.state().await.resources.is_empty());
}
