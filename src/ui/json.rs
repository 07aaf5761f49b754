//! The machine-readable plan and drift format (documented in docs/json-format.md).
//!
//! Unknown values never appear as values: they are `null` in `after` and
//! their attribute names are listed in `after_unknown`.

use serde_json::{Value as Json, json};

use crate::plan::{Drift, Plan, ResourceChange};
use crate::value::{Attrs, Value};

/// `pgstack plan --json`.
pub fn plan(plan: &Plan) -> Json {
    let s = plan.summary();
    json!({
        "format_version": plan.format_version,
        "stack": plan.stack,
        "destroy": plan.destroy,
        "has_changes": plan.has_changes(),
        "summary": { "add": s.add, "change": s.change, "destroy": s.destroy },
        "resource_changes": plan.changes.iter().map(change).collect::<Vec<_>>(),
        "forget": plan.forget.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "drift": drift(&plan.drift),
        "outputs": outputs(&plan.outputs),
    })
}

fn change(c: &ResourceChange) -> Json {
    let (after, after_unknown) = match &c.after {
        Some(a) => {
            let (v, u) = split_unknown(a);
            (Json::Object(v), u)
        }
        None => (Json::Null, Vec::new()),
    };
    json!({
        "address": c.address.to_string(),
        "type": c.rtype,
        "region": c.region,
        "action": c.action,
        "id": c.id,
        "before": c.before.as_ref().map(|b| Value::Map(b.clone()).to_json()),
        "after": after,
        "after_unknown": after_unknown,
        "changed_attributes": c.changes.iter().map(|ch| json!({
            "name": ch.name,
            "before": ch.before.to_json(),
            "after": if ch.after.contains_unknown() { Json::Null } else { ch.after.to_json() },
            "after_unknown": ch.after.contains_unknown(),
            "forces_replacement": ch.forces_replacement,
        })).collect::<Vec<_>>(),
        "guarded": c.guarded,
        "adopted": c.adopted,
        "notes": c.notes,
    })
}

/// Known attributes as JSON, and the names of unknown ones.
fn split_unknown(a: &Attrs) -> (serde_json::Map<String, Json>, Vec<String>) {
    let mut known = serde_json::Map::new();
    let mut unknown = Vec::new();
    for (k, v) in a {
        if v.contains_unknown() {
            unknown.push(k.clone());
            known.insert(k.clone(), Json::Null);
        } else {
            known.insert(k.clone(), v.to_json());
        }
    }
    (known, unknown)
}

fn outputs(o: &std::collections::BTreeMap<String, Value>) -> Json {
    Json::Object(
        o.iter()
            .map(|(k, v)| {
                let known = !v.contains_unknown();
                (k.clone(), json!({ "value": if known { v.to_json() } else { Json::Null }, "known": known }))
            })
            .collect(),
    )
}

/// Drift entries, as used by `plan --json` and `drift --format json`.
pub fn drift(d: &[Drift]) -> Json {
    Json::Array(
        d.iter()
            .map(|d| match &d.changes {
                None => json!({ "address": d.address.to_string(), "deleted": true, "changes": [] }),
                Some(ch) => json!({
                    "address": d.address.to_string(),
                    "deleted": false,
                    "changes": ch.iter().map(|c| json!({
                        "name": c.name, "recorded": c.before.to_json(), "actual": c.after.to_json()
                    })).collect::<Vec<_>>(),
                }),
            })
            .collect(),
    )
}
