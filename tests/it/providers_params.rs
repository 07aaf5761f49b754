//! `db_parameter_group` and `db_cluster_parameter_group` against moto with the
//! real SDK client: create, read, in-place update, drift, tags, find_created,
//! delete, import, and the apply methods actually sent.
//!
//! Tested with aws-smithy-mocks instead (src/provider/aws/parameter_group.rs and
//! db_cluster_parameter_group.rs): resetting removed parameters (moto 5.2.5 does
//! not implement ResetDB(Cluster)ParameterGroup), apply methods from AWS's
//! ApplyType (moto never returns one, so here the built-in static list decides),
//! chunks of 20 per Modify call, and delete retries while a group is in use.

use std::collections::BTreeMap;

use aws_sdk_rds::Client;
use aws_sdk_rds::types::{ApplyMethod, Parameter, Tag};
use pgstack::addr::ResourceAddr;
use pgstack::provider::aws::db_cluster_parameter_group::DbClusterParameterGroup;
use pgstack::provider::aws::db_parameter_group::DbParameterGroup;
use pgstack::provider::{ReadScope, ResourceType};
use pgstack::value::{Attrs, Value};

use crate::support::moto::{MotoGuard, REGION, moto};
use crate::support::provider::{self, read_one, update};

const STACK: &str = "pg-params";

/// What differs between the two types in these tests.
#[derive(Clone, Copy)]
enum Kind {
    Db,
    Cluster,
}

impl Kind {
    fn rt(self) -> &'static dyn ResourceType {
        match self {
            Kind::Db => &DbParameterGroup,
            Kind::Cluster => &DbClusterParameterGroup,
        }
    }

    fn family(self) -> &'static str {
        match self {
            Kind::Db => "postgres16",
            Kind::Cluster => "aurora-postgresql16",
        }
    }

    /// The resource kind in the group's ARN.
    fn arn_kind(self) -> &'static str {
        match self {
            Kind::Db => ":pg:",
            Kind::Cluster => ":cluster-pg:",
        }
    }

    /// Sets parameters behind pgstack's back.
    async fn raw_modify(self, raw: &Client, group: &str, pairs: &[(&str, &str)]) {
        let ps: Vec<Parameter> = pairs
            .iter()
            .map(|(n, v)| {
                Parameter::builder().parameter_name(*n).parameter_value(*v).apply_method(ApplyMethod::Immediate).build()
            })
            .collect();
        match self {
            Kind::Db => raw
                .modify_db_parameter_group()
                .db_parameter_group_name(group)
                .set_parameters(Some(ps))
                .send()
                .await
                .map(drop)
                .expect("raw call"),
            Kind::Cluster => raw
                .modify_db_cluster_parameter_group()
                .db_cluster_parameter_group_name(group)
                .set_parameters(Some(ps))
                .send()
                .await
                .map(drop)
                .expect("raw call"),
        }
    }

    /// Creates a group behind pgstack's back (for import).
    async fn raw_create(self, raw: &Client, group: &str, tag: Tag) {
        match self {
            Kind::Db => raw
                .create_db_parameter_group()
                .db_parameter_group_name(group)
                .db_parameter_group_family(self.family())
                .description("made by hand")
                .tags(tag)
                .send()
                .await
                .map(drop)
                .expect("raw call"),
            Kind::Cluster => raw
                .create_db_cluster_parameter_group()
                .db_cluster_parameter_group_name(group)
                .db_parameter_group_family(self.family())
                .description("made by hand")
                .tags(tag)
                .send()
                .await
                .map(drop)
                .expect("raw call"),
        }
    }

    /// name → apply method of the parameters AWS holds for the group.
    async fn raw_apply_methods(self, raw: &Client, group: &str) -> BTreeMap<String, String> {
        let ps = match self {
            Kind::Db => raw
                .describe_db_parameters()
                .db_parameter_group_name(group)
                .source("user")
                .send()
                .await
                .map(|o| o.parameters().to_vec())
                .expect("raw describe"),
            Kind::Cluster => raw
                .describe_db_cluster_parameters()
                .db_cluster_parameter_group_name(group)
                .source("user")
                .send()
                .await
                .map(|o| o.parameters().to_vec())
                .expect("raw describe"),
        };
        ps.iter()
            .filter_map(|p| Some((p.parameter_name()?.to_owned(), p.apply_method()?.as_str().to_owned())))
            .collect()
    }
}

fn strings(pairs: &[(&str, &str)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), Value::str(*v))).collect())
}

/// What the engine hands to `create` for `addr` in this test's stack.
fn desired(rt: &dyn ResourceType, addr: &ResourceAddr, set: &[(&str, Value)]) -> Attrs {
    provider::desired(rt, STACK, addr, set)
}

fn calls(m: &MotoGuard) -> u64 {
    m.factory().calls().total()
}

async fn lifecycle(kind: Kind) {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let raw = m.factory().rds(REGION).await;
    let rt = kind.rt();
    let addr = ResourceAddr::new(rt.type_name(), "main");
    let want = desired(
        rt,
        &addr,
        &[
            ("name", Value::str("App-PG")),
            ("family", Value::str(kind.family())),
            (
                "parameters",
                Value::Map(
                    [
                        ("max_connections".to_owned(), Value::Int(250)),
                        ("rds.force_ssl".to_owned(), Value::Bool(true)),
                        ("log_min_duration_statement".to_owned(), Value::str("500")),
                    ]
                    .into(),
                ),
            ),
            ("tags", strings(&[("Project", "pg")])),
        ],
    );
    assert_eq!(
        want["parameters"],
        strings(&[("log_min_duration_statement", "500"), ("max_connections", "250"), ("rds.force_ssl", "1")])
    );

    // Create: lowercase id, ARN of the right kind, default description, parameters as set.
    let created = rt.create(&ctx, &want).await.expect("create");
    assert_eq!(created["id"], Value::str("app-pg"));
    assert!(created["arn"].as_str().is_some_and(|a| a.ends_with(&format!("{}app-pg", kind.arn_kind()))), "{created:?}");
    for attr in ["name", "family", "description", "parameters", "tags"] {
        assert_eq!(created.get(attr), want.get(attr), "{attr} after create");
    }
    // Static parameters wait for a reboot, dynamic ones apply at once (moto
    // gives no ApplyType: the built-in static list decided).
    let methods = kind.raw_apply_methods(&raw, "app-pg").await;
    assert_eq!(methods.get("max_connections").map(String::as_str), Some("pending-reboot"), "{methods:?}");
    assert_eq!(methods.get("rds.force_ssl").map(String::as_str), Some("immediate"), "{methods:?}");

    // Read right after create diffs clean: only user-set parameters, no apply methods.
    assert_eq!(read_one(rt, &ctx, "app-pg").await, created);

    // A read scoped to unmanaged parameters and tags costs one Describe call.
    let before = calls(&m);
    let scoped = rt.read_many(&ctx, &["app-pg".to_owned()], &ReadScope::Only(["name".to_owned()].into())).await;
    let scoped = scoped.expect("scoped read").remove("app-pg").expect("found");
    assert_eq!(calls(&m) - before, 1);
    assert!(!scoped.contains_key("parameters") && !scoped.contains_key("tags"), "{scoped:?}");

    assert_eq!(rt.find_created(&ctx, &addr).await.unwrap(), Some("app-pg".to_owned()));
    assert_eq!(rt.find_created(&ctx, &ResourceAddr::new(rt.type_name(), "other")).await.unwrap(), None);
    assert_eq!(rt.find_created(&m.ctx(REGION, "other-stack"), &addr).await.unwrap(), None);

    // In place: change one value, add one, keep one; change tags.
    let want2 = desired(
        rt,
        &addr,
        &[
            ("name", Value::str("app-pg")),
            ("family", Value::str(kind.family())),
            (
                "parameters",
                strings(&[
                    ("log_min_duration_statement", "500"),
                    ("max_connections", "300"),
                    ("rds.force_ssl", "1"),
                    ("work_mem", "8192"),
                ]),
            ),
            ("tags", strings(&[("Team", "data")])),
        ],
    );
    let current = read_one(rt, &ctx, "app-pg").await;
    let updated = update(rt, &ctx, "app-pg", &current, &want2).await.expect("update");
    for attr in ["parameters", "tags"] {
        assert_eq!(updated.get(attr), want2.get(attr), "{attr} after update");
    }
    let read2 = read_one(rt, &ctx, "app-pg").await;
    assert_eq!(read2, updated);
    assert!(!read2["tags"].as_map().unwrap().contains_key("Project"), "removed tag is gone: {read2:?}");
    assert_eq!(kind.raw_apply_methods(&raw, "app-pg").await.get("work_mem").map(String::as_str), Some("immediate"));

    // Out-of-band changes show up as drift.
    kind.raw_modify(&raw, "app-pg", &[("max_connections", "500"), ("timezone", "UTC")]).await;
    let drifted = read_one(rt, &ctx, "app-pg").await;
    let params = drifted["parameters"].as_map().expect("parameters");
    assert_eq!(params["max_connections"], Value::str("500"));
    assert_eq!(params["timezone"], Value::str("UTC"));
    assert_eq!(params.len(), 5);

    // Delete, then it is gone; deleting again succeeds.
    rt.delete(&ctx, "app-pg", &read2).await.expect("delete");
    assert!(rt.read_many(&ctx, &["app-pg".to_owned()], &ReadScope::All).await.unwrap().is_empty());
    assert_eq!(rt.find_created(&ctx, &addr).await.unwrap(), None);
    rt.delete(&ctx, "app-pg", &read2).await.expect("deleting a missing group succeeds");
}

async fn import(kind: Kind) {
    let m = moto();
    let ctx = m.ctx(REGION, STACK);
    let raw = m.factory().rds(REGION).await;
    let rt = kind.rt();
    kind.raw_create(&raw, "legacy", Tag::builder().key("Owner").value("dba").build()).await;
    kind.raw_modify(&raw, "legacy", &[("max_connections", "400")]).await;
    kind.raw_create(&raw, "other", Tag::builder().key("Owner").value("x").build()).await;

    let before = calls(&m);
    let ids = ["legacy".to_owned(), "missing".to_owned(), "other".to_owned()];
    let got = rt.read_many(&ctx, &ids, &ReadScope::All).await.expect("read_many");
    assert_eq!(calls(&m) - before, 5, "one list, then per group one parameters and one tags call");
    assert_eq!(got.keys().collect::<Vec<_>>(), vec!["legacy", "other"], "the missing group is omitted");
    let a = &got["legacy"];
    assert_eq!(a["id"], Value::str("legacy"));
    assert_eq!(a["family"], Value::str(kind.family()));
    assert_eq!(a["description"], Value::str("made by hand"));
    assert_eq!(a["parameters"], strings(&[("max_connections", "400")]));
    assert_eq!(a["tags"], strings(&[("Owner", "dba")]));
    assert_eq!(got["other"]["parameters"], strings(&[]));
}

#[tokio::test]
async fn db_parameter_group_lifecycle() {
    lifecycle(Kind::Db).await;
}

#[tokio::test]
async fn db_cluster_parameter_group_lifecycle() {
    lifecycle(Kind::Cluster).await;
}

#[tokio::test]
async fn db_parameter_group_import_and_missing_ids() {
    import(Kind::Db).await;
}

#[tokio::test]
async fn db_cluster_parameter_group_import_and_missing_ids() {
    import(Kind::Cluster).await;
}
