//! An in-memory resource type for engine and plan tests: no AWS, with
//! injectable failures and delays.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::schema::{Attr, AttrType, Default, Kind, Ownership, Pricing, Schema, TAG_ADDRESS, TAG_STACK};
use super::{Clients, Ctx, Intent, Owned, PlannedUpdate, ProviderError, ReadScope, Refusal, ResourceType, Result};
use crate::addr::ResourceAddr;
use crate::value::{Attrs, Value};

/// API clients of no provider family: what engine and plan tests run with.
/// The fake type never looks at [`Ctx::clients`].
pub struct NoClients;

impl Clients for NoClients {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Schema of the fake type: `name` forces replacement, `size` updates in
/// place, `force` is config-only, `cidr` must be an IPv4 CIDR block.
pub static FAKE_SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::optional("name", AttrType::Str).force_new(),
        Attr::optional("size", AttrType::Int).default(Default::Int(1)),
        Attr::optional("force", AttrType::Bool).config_only(),
        Attr::optional("ref", AttrType::Str),
        Attr::optional("refs", AttrType::List(&AttrType::Str)),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)),
        Attr::optional("cidr", AttrType::Str).pattern(Kind::Ipv4Cidr),
    ],
    guarded: false,
    taggable: true,
    ownership: Ownership::Listed,
    pricing: Pricing::Free,
};

/// The fake type's schema when it stands for a data-bearing type.
pub static FAKE_GUARDED_SCHEMA: Schema = Schema { guarded: true, ..FAKE_SCHEMA };

/// One recorded provider call, for ordering assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Create(String),
    Update(String),
    Delete(String),
}

/// An in-memory resource type.
#[derive(Default)]
pub struct Fake {
    /// Stands for a data-bearing type (the data-loss guard applies).
    pub guarded: bool,
    /// When set, the object holds data only while this says so (like a
    /// bucket with objects); otherwise whenever `guarded`.
    pub holds_data_when: Option<fn(&Attrs) -> bool>,
    pub objects: Mutex<BTreeMap<String, Attrs>>,
    pub calls: Mutex<Vec<Call>>,
    /// `name` values whose create fails.
    pub fail_on: Mutex<Vec<String>>,
    /// `name` values whose delete fails.
    pub fail_delete_on: Mutex<Vec<String>>,
    /// `name` values whose create succeeds but whose reply is lost.
    pub lose_reply_on: Mutex<Vec<String>>,
    pub delay: Mutex<Duration>,
    /// `name` values whose delete or replacement the plan must refuse.
    pub protected: Mutex<Vec<String>>,
    next: AtomicU64,
    /// Most creates running at the same time (parallelism checks).
    pub max_in_flight: AtomicU64,
    /// For each create and update whose `ref` is set: its `name`, and
    /// whether its context had `ref` as created, and as changed, this run.
    pub refs_seen: Mutex<Vec<(String, bool, bool)>>,
    in_flight: AtomicU64,
}

impl Fake {
    /// A fake standing for a data-bearing type.
    pub fn guarded() -> Self {
        Fake { guarded: true, ..Fake::default() }
    }

    /// A fake guarded only while `holds` says its object holds data.
    pub fn guarded_while(holds: fn(&Attrs) -> bool) -> Self {
        Fake { guarded: true, holds_data_when: Some(holds), ..Fake::default() }
    }

    fn name_of(a: &Attrs) -> String {
        a.get("name").and_then(Value::as_str).unwrap_or_default().to_owned()
    }

    /// Notes what `ctx` says this run made of the object `desired["ref"]` names.
    fn see_ref(&self, ctx: &Ctx, desired: &Attrs) {
        if let Some(r) = desired.get("ref").and_then(Value::as_str) {
            let seen = (Fake::name_of(desired), ctx.created_this_run(r), ctx.changed_this_run(r));
            self.refs_seen.lock().unwrap().push(seen);
        }
    }

    async fn pause(&self) {
        let d = *self.delay.lock().unwrap();
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl ResourceType for Fake {
    fn type_name(&self) -> &'static str {
        "fake"
    }

    fn schema(&self) -> &'static Schema {
        if self.guarded { &FAKE_GUARDED_SCHEMA } else { &FAKE_SCHEMA }
    }

    fn holds_data(&self, current: &Attrs) -> bool {
        self.guarded && self.holds_data_when.is_none_or(|f| f(current))
    }

    fn refuse(&self, current: &Attrs, intent: Intent<'_>) -> Vec<Refusal> {
        let deletes = !matches!(intent, Intent::Keep { .. });
        if deletes && self.protected.lock().unwrap().contains(&Fake::name_of(current)) {
            vec![Refusal::new("cannot be deleted: it is protected").hint("unprotect it first")]
        } else {
            Vec::new()
        }
    }

    async fn read_many(&self, _ctx: &Ctx, ids: &[String], _scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        let objs = self.objects.lock().unwrap();
        Ok(ids.iter().filter_map(|id| objs.get(id).map(|a| (id.clone(), a.clone()))).collect())
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        self.see_ref(ctx, desired);
        let name = Fake::name_of(desired);
        self.calls.lock().unwrap().push(Call::Create(name.clone()));
        self.pause().await;
        if self.fail_on.lock().unwrap().contains(&name) {
            return Err(ProviderError::Invalid(format!("injected failure creating {name}")));
        }
        let id = format!("fake-{}", self.next.fetch_add(1, Ordering::SeqCst));
        let mut attrs = desired.clone();
        attrs.insert("id".into(), Value::str(&id));
        self.objects.lock().unwrap().insert(id, attrs.clone());
        if self.lose_reply_on.lock().unwrap().contains(&name) {
            return Err(ProviderError::Transport { operation: "Create", message: "connection reset".into() });
        }
        Ok(attrs)
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        let desired = &update.after;
        self.see_ref(ctx, desired);
        self.calls.lock().unwrap().push(Call::Update(Fake::name_of(desired)));
        self.pause().await;
        let mut attrs = desired.clone();
        attrs.insert("id".into(), Value::str(id));
        self.objects.lock().unwrap().insert(id.to_owned(), attrs.clone());
        Ok(attrs)
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, prior: &Attrs) -> Result<()> {
        let name = Fake::name_of(prior);
        self.calls.lock().unwrap().push(Call::Delete(name.clone()));
        self.pause().await;
        if self.fail_delete_on.lock().unwrap().contains(&name) {
            return Err(ProviderError::Invalid(format!("injected failure deleting {name}")));
        }
        self.objects.lock().unwrap().remove(id);
        Ok(())
    }

    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        Ok(self.find_all_created(ctx, addr).await?.into_iter().next())
    }

    fn supports_create_before_destroy(&self) -> bool {
        true
    }

    async fn find_all_created(&self, _ctx: &Ctx, addr: &ResourceAddr) -> Result<Vec<String>> {
        let want = Value::str(addr.to_string());
        let objs = self.objects.lock().unwrap();
        Ok(objs
            .iter()
            .filter(|(_, a)| a.get("tags").and_then(Value::as_map).and_then(|t| t.get(TAG_ADDRESS)) == Some(&want))
            .map(|(id, _)| id.clone())
            .collect())
    }

    /// Objects whose `tags` name `ctx.stack` (the fake has no regions).
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        let objs = self.objects.lock().unwrap();
        let tag = |a: &Attrs, k: &str| {
            a.get("tags").and_then(Value::as_map).and_then(|t| t.get(k)).and_then(Value::as_str).map(str::to_owned)
        };
        Ok(objs
            .iter()
            .filter(|(id, a)| !known.contains(*id) && tag(a, TAG_STACK).as_deref() == Some(&ctx.stack))
            .map(|(id, a)| Owned { id: id.clone(), address: tag(a, TAG_ADDRESS) })
            .collect())
    }
}
