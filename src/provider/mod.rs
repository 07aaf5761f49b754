//! Providers: one [`ResourceType`] implementation per AWS resource kind.
//!
//! A provider knows its schema (which attributes force replacement) and how to
//! create, read, update and delete; it never decides what action to take — the
//! plan does, from the schema and a pure diff.
//!
//! [`Ctx`] and [`ResourceType`] know no provider family: API clients travel
//! as `dyn` [`Clients`] and each family recovers its own concrete factory
//! (AWS: [`aws::factory`]), so the engine and plan never name one.

pub mod aws;
pub mod diff;
#[cfg(test)]
mod docs_tests;
#[cfg(test)]
pub mod fake;
#[cfg(test)]
mod registry_tests;
/// Schemas are their own module ([`crate::schema`]), a leaf config and check use too.
pub use crate::schema;
pub mod waiter;

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::addr::ResourceAddr;
pub use crate::retry::Progress;
use crate::value::{Attrs, Value};
pub use diff::PlannedUpdate;
pub use schema::{Attr, AttrType, Schema};

/// Where providers get their API clients: one factory per run, built by the
/// CLI. Opaque to the engine; a provider family downcasts it to its own
/// factory through [`Clients::as_any`] and fails with
/// [`ProviderError::WrongClients`] when handed another kind.
pub trait Clients: Send + Sync + 'static {
    /// `self`, for the downcast.
    fn as_any(&self) -> &dyn Any;

    /// What every pause between retries and polls is multiplied by: 1 in
    /// real runs; tests of waits and retries make them shorter. Limits
    /// (timeouts, how long a refusal may last) are never scaled.
    fn pace(&self) -> f64 {
        1.0
    }
}

/// What a provider call gets to work with.
#[derive(Clone)]
pub struct Ctx {
    /// Builds API clients; for AWS, the only source of SDK config.
    pub clients: Arc<dyn Clients>,
    /// The AWS region this resource lives in.
    pub region: String,
    /// The stack name, used for ownership tags.
    pub stack: String,
    /// Where waiters report what they wait for.
    pub progress: Progress,
    /// The resource's own limit for this operation (`timeouts` in config),
    /// overriding the provider's default.
    pub timeout: Option<Duration>,
    /// Answers the calls of one engine pass share ([`Shared`]).
    pub shared: Shared,
    /// What this apply has created and changed so far ([`ThisRun`]).
    pub this_run: ThisRun,
}

impl Ctx {
    pub fn new(clients: Arc<dyn Clients>, region: impl Into<String>, stack: impl Into<String>) -> Self {
        Ctx {
            clients,
            region: region.into(),
            stack: stack.into(),
            progress: Progress::default(),
            timeout: None,
            shared: Shared::default(),
            this_run: ThisRun::default(),
        }
    }

    /// The same context, recording into (and asking) `this_run`.
    pub fn with_this_run(mut self, this_run: ThisRun) -> Self {
        self.this_run = this_run;
        self
    }

    /// Whether this run created the object `id` (an id or an ARN).
    pub fn created_this_run(&self, id: &str) -> bool {
        self.this_run.with(|made| made.created.contains(id))
    }

    /// Whether this run created or updated the object `id` (an id or an ARN).
    pub fn changed_this_run(&self, id: &str) -> bool {
        self.this_run.with(|made| made.created.contains(id) || made.updated.contains(id))
    }

    /// Records that this run created the object `id`: a provider does so the
    /// moment its create call answers, for the calls that finish the create.
    pub fn record_created(&self, id: &str) {
        self.this_run.with(|made| made.created.insert(id.to_owned()));
    }

    /// Records that this run updated the object `id`.
    pub fn record_updated(&self, id: &str) {
        self.this_run.with(|made| made.updated.insert(id.to_owned()));
    }

    pub fn with_shared(mut self, shared: Shared) -> Self {
        self.shared = shared;
        self
    }

    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// `backoff` with its pauses scaled by the run's [`Clients::pace`].
    pub fn scaled(&self, backoff: waiter::Backoff) -> waiter::Backoff {
        let pace = self.clients.pace();
        waiter::Backoff { first: backoff.first.mul_f64(pace), cap: backoff.cap.mul_f64(pace), ..backoff }
    }

    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Listings that the provider calls of one engine pass share, so that one
/// AWS answer serves several types or regions (one tagging-index call per
/// region for every type it covers; one listing of a global type for every
/// region). Keyed by strings the provider family chooses. The default holds
/// nothing: every call then lists for itself, so nothing outlives the pass
/// that made the store ([`Shared::new`]).
#[derive(Clone, Default)]
pub struct Shared(Option<Arc<Mutex<SharedMap>>>);

type SharedMap = HashMap<String, Arc<tokio::sync::OnceCell<Arc<dyn Any + Send + Sync>>>>;

impl Shared {
    /// An empty store for one pass.
    pub fn new() -> Self {
        Shared(Some(Arc::default()))
    }

    /// The value kept under `key`, made by `init` on first use. Callers
    /// asking at the same time wait for the one `init`; a failed `init` is
    /// not kept (the next caller tries again). Without a store, `init` runs
    /// every time.
    pub async fn get_or_try_init<T, F, Fut>(&self, key: &str, init: F) -> Result<Arc<T>>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let Some(store) = &self.0 else { return init().await.map(Arc::new) };
        let cell = store.lock().unwrap_or_else(|p| p.into_inner()).entry(key.to_owned()).or_default().clone();
        let value = cell.get_or_try_init(|| async { Ok::<_, ProviderError>(Arc::new(init().await?) as _) }).await?;
        value
            .clone()
            .downcast::<T>()
            .map_err(|_| ProviderError::Invalid(format!("internal error: the shared `{key}` holds another type")))
    }
}

/// The objects one apply has created, and those it has updated, by id and
/// by ARN. AWS may answer a call that names an object just created (or
/// relies on a setting just changed) as if it were not there yet, for
/// seconds to minutes; providers wait such a refusal out only when it is
/// about something this run made, so that one about an object of an earlier
/// run, or a typo, fails at once.
///
/// One record is shared by every [`Ctx`] of an apply: the engine records
/// each object's `id` and `arn` once its create or update succeeded, before
/// anything depending on it starts; a provider records an object the moment
/// its create call answers ([`Ctx::record_created`]), for the calls that
/// finish that create. Every other context (refresh, plan, drift) holds an
/// empty record of its own, so nothing is waited out there.
#[derive(Clone, Default)]
pub struct ThisRun(Arc<Mutex<Made>>);

#[derive(Default)]
struct Made {
    created: HashSet<String>,
    updated: HashSet<String>,
}

impl ThisRun {
    fn with<T>(&self, f: impl FnOnce(&mut Made) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// An object of one type that carries a stack's `pgstack:stack` tag
/// ([`ResourceType::list_owned`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Owned {
    /// Its id, in the form state records.
    pub id: String,
    /// Its `pgstack:address` tag (unescaped), if it has one.
    pub address: Option<String>,
}

/// Which attributes a read must fill in. Reads may skip AWS calls that only
/// serve attributes outside the scope (refresh passes the attributes the
/// config manages; import and adoption read everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ReadScope {
    #[default]
    All,
    Only(BTreeSet<String>),
}

impl ReadScope {
    pub fn wants(&self, attr: &str) -> bool {
        match self {
            ReadScope::All => true,
            ReadScope::Only(set) => set.contains(attr),
        }
    }
}

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// AWS answered with an error.
    #[error("{operation}: {code}: {message}")]
    Api { operation: &'static str, code: String, message: String, retryable: bool },
    /// The request never got a usable answer (timeout, dropped connection,
    /// bad response) or a create's answer leaves open whether it was done.
    #[error("{operation}: {message}")]
    Transport { operation: &'static str, message: String },
    /// The endpoint could not be reached or did not answer in time, after
    /// the SDK's attempts. From a create it means nothing was sent (a create
    /// that may have been done is a [`ProviderError::Transport`]).
    #[error("{operation}: {message}")]
    Unreachable { operation: &'static str, message: String },
    /// The resource does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Something the provider cannot do with these values.
    #[error("{0}")]
    Invalid(String),
    /// A waiter gave up.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: std::time::Duration },
    /// The run's [`Ctx::clients`] are not the factory this provider family
    /// needs (`wanted` names it): a wiring mistake, nothing was sent.
    #[error("internal error: {wanted} resources were given another kind of API clients")]
    WrongClients { wanted: &'static str },
}

pub type Result<T, E = ProviderError> = std::result::Result<T, E>;

/// What a plan is about to do to an existing object, as
/// [`ResourceType::refuse`] sees it. `desired` is the configured object with
/// schema defaults, without the attributes `ignore_changes` names; it may
/// hold `Unknown`.
#[derive(Debug, Clone, Copy)]
pub enum Intent<'a> {
    /// Changed in place to match `desired`, or left as it is.
    Keep { desired: &'a Attrs },
    /// Replaced by a new object from `desired`, created before the old one
    /// is deleted when `create_first` (`create_before_destroy`).
    Replace { desired: &'a Attrs, create_first: bool },
    /// Deleted: by `destroy` (true) or because the stack no longer declares it (false).
    Delete { destroy: bool },
}

/// A change a plan intends, as [`ResourceType::check_planned`] sees it
/// (plain data: AWS modules never see plan types).
#[derive(Debug, Clone, Copy)]
pub struct PlannedChange<'a> {
    pub addr: &'a crate::addr::ResourceAddr,
    /// The object is created (or replaced), not changed in place.
    pub creates: bool,
    /// The object after apply; values known only then are `Unknown`.
    pub desired: &'a Attrs,
    /// The object as it exists now, for changes in place and replacements.
    pub current: Option<&'a Attrs>,
}

/// What a plan-time check found about one planned change: a refusal fails
/// the plan (before any change), a warning is shown with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub addr: crate::addr::ResourceAddr,
    pub refusal: Refusal,
    pub warning: bool,
}

/// Where the stack being planned keeps its own state (`[backend] s3`):
/// objects that hold or encrypt it must outlive every plan of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateHome {
    pub bucket: String,
    pub key: String,
    pub region: String,
    /// The KMS key the state object is encrypted with, as the backend names
    /// it (key id, key ARN, alias name or alias ARN).
    pub kms_key_id: Option<String>,
}

impl StateHome {
    /// `s3://BUCKET/KEY`.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// Why a change cannot succeed in AWS, and how to get past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Completes "`ADDR` ...", e.g. "cannot be deleted: deletion_protection is on in AWS".
    pub reason: String,
    /// The attribute whose configured value is refused, if one is.
    pub attr: Option<&'static str>,
    pub hints: Vec<String>,
}

impl Refusal {
    pub fn new(reason: impl Into<String>) -> Self {
        Refusal { reason: reason.into(), attr: None, hints: Vec::new() }
    }

    pub fn on(mut self, attr: &'static str) -> Self {
        self.attr = Some(attr);
        self
    }

    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hints.push(h.into());
        self
    }
}

/// One kind of AWS resource.
///
/// Invariants every implementation keeps:
/// - `create` tags the resource with the ownership tags found in `desired["tags"]`
///   in the same call that creates it, where AWS allows it;
/// - `read_many` and `create`/`update` return attributes in the same canonical
///   form, including every computed attribute (`id` always), so a read right
///   after a write diffs clean;
/// - `read_many` omits ids that no longer exist instead of failing.
#[async_trait]
pub trait ResourceType: Send + Sync {
    fn type_name(&self) -> &'static str;

    fn schema(&self) -> &'static Schema;

    /// Brings desired attributes into the canonical form `read_many` returns
    /// (sorted sets, expanded rules, normalized names). Pure.
    fn normalize(&self, _desired: &mut Attrs) {}

    /// Reads many instances of this type in one region, ideally in one paged
    /// call. Attributes outside `scope` may be left out.
    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>>;

    /// True when `current` and `desired` differ only in a way AWS makes on its
    /// own and the config accepts (e.g. engine minor upgrades, AZs AWS added).
    fn suppress_diff(&self, _attr: &str, _current: &Value, _desired: &Value) -> bool {
        false
    }

    /// The update that brings `before` to `desired`, as a plan computes it
    /// (the schema's diff, `ignore` left alone, this type's
    /// [`Self::suppress_diff`]): for an object found rather than planned (a
    /// create whose reply was lost, an object adopted by its name). Pure.
    fn planned_update(&self, before: &Attrs, desired: &Attrs, ignore: &[String]) -> PlannedUpdate {
        PlannedUpdate::between(self.schema(), before, desired, ignore, &|n, c, d| self.suppress_diff(n, c, d))
    }

    /// Things the plan should tell about an existing object (e.g. parameters
    /// waiting for a reboot). Pure.
    fn notes(&self, _current: &Attrs) -> Vec<String> {
        Vec::new()
    }

    /// The reasons AWS would reject what the plan intends for the existing
    /// object `current` (refreshed, config-only attributes from state). A
    /// non-empty answer makes the whole plan fail before anything is touched.
    /// Pure.
    fn refuse(&self, _current: &Attrs, _intent: Intent<'_>) -> Vec<Refusal> {
        Vec::new()
    }

    /// What AWS says, at plan time, about changes it would refuse or that
    /// would not work: reads only (a catalog of engine versions and classes,
    /// a function's policy), asked once per (type, region) with every
    /// create and update of that type there, in `ctx.region`. Reads that
    /// several types share are kept in `ctx.shared` for the run. Counted in
    /// `-v` like every call; not asked with `--refresh=false`.
    async fn check_planned(&self, _ctx: &Ctx, _planned: &[PlannedChange<'_>]) -> Result<Vec<Finding>> {
        Ok(Vec::new())
    }

    /// The reasons what the plan intends for `current` would delete, expire
    /// or make unreadable the stack's own state, kept where `home` says (the
    /// bucket holding it, the key encrypting it). Asked of every existing
    /// object of a stack with an S3 backend, deletes and destroys included;
    /// a non-empty answer fails the plan like [`Self::refuse`]. Pure.
    fn refuse_for_state(&self, _current: &Attrs, _intent: Intent<'_>, _home: &StateHome) -> Vec<Refusal> {
        Vec::new()
    }

    /// Whether deleting or replacing the object whose attributes are
    /// `current` (as read, or as state records them) destroys data, so the
    /// data-loss guard asks for `--allow-destroy`. Defaults to the schema's
    /// `guarded`; a type guarded only while it holds data (a bucket with
    /// objects) decides from a computed attribute its read fills in, and
    /// answers true when that attribute is missing. Pure.
    fn holds_data(&self, _current: &Attrs) -> bool {
        self.schema().guarded
    }

    /// Whether a replacement creates the new object before deleting the old
    /// one when the config does not set `create_before_destroy`.
    fn create_before_destroy(&self) -> bool {
        false
    }

    /// Whether `create_before_destroy = true` may be set: the type lists
    /// every object carrying an address's tags (`find_all_created`), so
    /// adoption after a crash tells the replacement from the old object.
    fn supports_create_before_destroy(&self) -> bool {
        self.create_before_destroy()
    }

    /// The computed attribute that names the object's content version, for
    /// types whose `--replace` writes new content in place (a secret's new
    /// value) instead of making a new object. The plan shows it changing to
    /// unknown; `update` then receives it different from `prior`'s and writes
    /// the new version.
    fn renewal_attr(&self) -> Option<&'static str> {
        None
    }

    /// Creates the resource; returns its attributes as `read_many` would.
    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs>;

    /// Makes the planned update of object `id`: changes the attributes
    /// `update.changed` lists to their values in `update.after`, and nothing
    /// else (the plan decided what changes; a provider never diffs again).
    /// Returns the new attributes.
    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs>;

    /// Deletes the resource (or schedules its deletion, for KMS keys).
    async fn delete(&self, ctx: &Ctx, id: &str, prior: &Attrs) -> Result<()>;

    /// Finds the id of a resource this stack created for `addr` (by ownership tags
    /// or its unique name) whose create never reached the state.
    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>>;

    /// Every object [`Self::find_created`] could answer with. A replacement
    /// created first leaves the old object with the same ownership tags until
    /// it is deleted, so types that default to `create_before_destroy` list
    /// them all for the caller to tell them apart.
    async fn find_all_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Vec<String>> {
        Ok(self.find_created(ctx, addr).await?.into_iter().collect())
    }

    /// Every object of this type in `ctx.region` that carries `ctx.stack`'s
    /// `pgstack:stack` tag, except those whose id is in `known` (the caller
    /// manages them; a type that reads tags one object at a time skips
    /// theirs). Objects being deleted may be listed: the caller reads the
    /// candidates with `read_many`, which omits them. Types whose objects
    /// carry no tags of their own (a configuration of another object) list
    /// nothing. Read-only calls; listings may be kept in `ctx.shared`.
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>>;
}

/// The refusal of a replacement created first that keeps a name AWS wants
/// unique while the old object still exists.
pub fn same_name_refusal(attr: &'static str) -> Refusal {
    Refusal::new(format!(
        "cannot be created before its old object is deleted: the new one keeps the `{attr}` the old one holds"
    ))
    .on(attr)
    .hint(format!("change `{attr}`, or set `create_before_destroy = false` to delete the old object first"))
}

/// All resource types known to one run, by type name.
#[derive(Clone, Default)]
pub struct Registry {
    types: BTreeMap<&'static str, Arc<dyn ResourceType>>,
    data: BTreeMap<&'static str, Arc<dyn DataSource>>,
}

impl crate::schema::Schemas for Registry {
    fn schema_of(&self, rtype: &str) -> Option<&'static Schema> {
        self.get(rtype).map(|t| t.schema())
    }

    fn type_names(&self) -> Vec<&'static str> {
        self.names().collect()
    }

    fn data_schema_of(&self, dtype: &str) -> Option<&'static Schema> {
        self.data.get(dtype).map(|d| d.schema())
    }

    fn data_type_names(&self) -> Vec<&'static str> {
        self.data.keys().copied().collect()
    }
}

/// A data source (`[data.TYPE.NAME]`): an object read at plan time by its
/// filter arguments, never changed. Its schema's optional and required
/// attributes are the filters; its computed ones what references read.
#[async_trait]
pub trait DataSource: Send + Sync {
    fn type_name(&self) -> &'static str;

    fn schema(&self) -> &'static Schema;

    /// Reads the one object `args` select in `ctx.region`; zero or several
    /// matches are [`ProviderError::Invalid`] errors that say what the filter
    /// was and what was found.
    async fn read(&self, ctx: &Ctx, args: &Attrs) -> Result<Attrs>;
}

impl Registry {
    /// Every AWS resource type pgstack ships.
    pub fn aws() -> Self {
        let mut r = Registry::default();
        for t in aws::all_types() {
            r.register(t);
        }
        for d in aws::data_sources::all() {
            r.data.insert(d.type_name(), d);
        }
        r
    }

    /// The data source type `name`.
    pub fn data(&self, name: &str) -> Option<&Arc<dyn DataSource>> {
        self.data.get(name)
    }

    pub fn register(&mut self, t: Arc<dyn ResourceType>) {
        self.types.insert(t.type_name(), t);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn ResourceType>> {
        self.types.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.types.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn what_a_run_made_is_shared_by_its_contexts_only() {
        let run = ThisRun::default();
        let ctx = || Ctx::new(Arc::new(fake::NoClients), "us-east-1", "t");
        let (a, b) = (ctx().with_this_run(run.clone()), ctx().with_this_run(run));
        a.record_created("vpc-1");
        b.record_updated("arn:aws:s3:::b");
        assert!(b.created_this_run("vpc-1") && b.changed_this_run("vpc-1"), "created counts as changed");
        assert!(a.changed_this_run("arn:aws:s3:::b") && !a.created_this_run("arn:aws:s3:::b"));
        let other = ctx();
        assert!(!other.created_this_run("vpc-1") && !other.changed_this_run("arn:aws:s3:::b"), "another run");
        assert!(!a.created_this_run("vpc-2"));
    }

    #[tokio::test]
    async fn a_shared_listing_is_made_once_per_store_and_a_failure_is_not_kept() {
        let made = AtomicUsize::new(0);
        let list = || async {
            made.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok(vec!["a".to_owned()])
        };
        let shared = Shared::new();
        let (x, y) = tokio::join!(shared.get_or_try_init("k", list), shared.get_or_try_init("k", list));
        assert_eq!((x.unwrap(), y.unwrap()), (Arc::new(vec!["a".to_owned()]), Arc::new(vec!["a".to_owned()])));
        assert_eq!(made.load(Ordering::SeqCst), 1, "callers at the same time share one listing");
        shared.get_or_try_init("other", list).await.unwrap();
        assert_eq!(made.load(Ordering::SeqCst), 2, "another key lists again");

        let fail = || async { Err::<Vec<String>, _>(ProviderError::Invalid("down".into())) };
        assert!(shared.get_or_try_init("f", fail).await.is_err());
        shared.get_or_try_init("f", list).await.unwrap();
        assert_eq!(made.load(Ordering::SeqCst), 3, "a failed listing is made again");
        let wrong = shared.get_or_try_init("k", || async { Ok(1u8) }).await;
        assert!(matches!(wrong, Err(ProviderError::Invalid(_))), "another type under a key is an error");

        let none = Shared::default();
        none.get_or_try_init("k", list).await.unwrap();
        none.get_or_try_init("k", list).await.unwrap();
        assert_eq!(made.load(Ordering::SeqCst), 5, "without a store every call lists");
    }
}
