//! A resource type is one file plus one registry line: every registered type
//! carries, in its own schema, what the rest of pgstack reads about it. These
//! tests fail when one leaves out or mis-declares how drift finds its objects
//! ([`Ownership`]), how cost prices it ([`Pricing`], checked on a sample
//! object), or has no section in docs/resources.md.

use std::collections::BTreeMap;

use super::Registry;
use super::schema::{Attr, AttrType, Ownership, Pricing, Schema};
use crate::addr::ResourceAddr;
use crate::config::{LoadOptions, Stack, load};
use crate::cost::{Change, Price, before_after, prices};
use crate::value::{Attrs, Value};

/// What is wrong with `name`'s ownership declaration in `schema`, and
/// whether `docs` (docs/resources.md) lacks its section.
fn declaration_problems(name: &str, schema: &Schema, docs: &str) -> Vec<String> {
    let mut out = Vec::new();
    match schema.ownership {
        Ownership::Untagged if schema.taggable => {
            out.push(format!("{name}: taggable, so its objects carry the stack tag, yet declared Untagged"))
        }
        Ownership::Indexed(_) | Ownership::Listed if !schema.taggable => {
            out.push(format!("{name}: not taggable, so nothing can find its objects by tag: declare it Untagged"))
        }
        Ownership::Indexed(i) => {
            let service_resource =
                |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !i.filter.split_once(':').is_some_and(|(s, r)| service_resource(s) && service_resource(r)) {
                out.push(format!("{name}: tagging filter `{}` is not of the form service:resource", i.filter));
            }
        }
        Ownership::Listed | Ownership::Untagged => {}
    }
    if !docs.contains(&format!("\n## `{name}`\n")) {
        out.push(format!(
            "{name}: no section in docs/resources.md (PGSTACK_UPDATE_DOCS=1 cargo test --lib resources_doc)"
        ));
    }
    out
}

/// Types filed under one tagging filter other than exactly one of them
/// taking the objects whose address tag names none of them.
fn sharing_problems(types: &[(&str, &Schema)]) -> Vec<String> {
    let mut by_filter: BTreeMap<&str, Vec<(&str, bool)>> = BTreeMap::new();
    for (name, schema) in types {
        if let Ownership::Indexed(i) = schema.ownership {
            by_filter.entry(i.filter).or_default().push((name, i.claims_unnamed));
        }
    }
    by_filter
        .into_iter()
        .filter(|(_, ts)| ts.iter().filter(|(_, claims)| *claims).count() != 1)
        .map(|(filter, ts)| format!("`{filter}`: exactly one of {ts:?} must claim the unnamed objects"))
        .collect()
}

/// A value for an attribute cost reads that no schema defaults: with these
/// and the schema's defaults, one object of any type prices in full.
fn sample(attr: &Attr) -> Option<Value> {
    match attr.name {
        "instance_class" => Some(Value::str("db.r6g.large")),
        "allocated_storage" => Some(Value::Int(100)),
        "subnet_ids" => Some(Value::List(vec![Value::str("subnet-a"), Value::str("subnet-b")])),
        _ => None,
    }
}

/// An empty stack in us-east-1: what cost reads besides the objects.
fn empty_stack() -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack.toml");
    std::fs::write(&path, "[stack]\nname = \"t\"\nregion = \"us-east-1\"\n").unwrap();
    load(&path, &LoadOptions::default(), &Registry::aws()).unwrap_or_else(|(_, d)| panic!("{d:?}")).stack
}

/// The lines cost leaves unpriced for a sample object of type `name` (its
/// `schema`'s defaults and [`sample`] values) in us-east-1, priced as
/// `registry` says.
fn pricing_problems(registry: &Registry, stack: &Stack, name: &str, schema: &Schema) -> Vec<String> {
    let addr = ResourceAddr::new(name, "sample");
    let mut attrs = Attrs::new();
    schema.apply_defaults(&mut attrs, &stack.name, &addr);
    for a in schema.attrs {
        if let (false, Some(v)) = (attrs.contains_key(a.name), sample(a)) {
            attrs.insert(a.name.to_owned(), v);
        }
    }
    let change = Change { addr: &addr, region: "us-east-1", before: None, after: Some(&attrs) };
    let (_, after) = before_after(stack, registry, &[change], prices::shipped().unwrap()).unwrap();
    after
        .lines
        .iter()
        .filter_map(|l| match &l.price {
            Price::Unpriced { reason } => Some(format!("{name}: {} unpriced: {reason}", l.what)),
            Price::Priced { .. } => None,
        })
        .collect()
}

#[test]
fn every_registered_type_declares_how_it_is_found_priced_and_documented() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/resources.md")).unwrap();
    let registry = Registry::aws();
    let stack = empty_stack();
    let types: Vec<(&str, &Schema)> = registry.names().filter_map(|n| Some((n, registry.get(n)?.schema()))).collect();
    let mut problems = sharing_problems(&types);
    for (name, schema) in &types {
        problems.extend(declaration_problems(name, schema, &docs));
        problems.extend(pricing_problems(&registry, &stack, name, schema));
    }
    assert!(problems.is_empty(), "{problems:#?}");
    let indexed = types.iter().filter(|(_, s)| matches!(s.ownership, Ownership::Indexed(_))).count();
    assert!(indexed >= 2 && indexed < types.len(), "the index covers some types, not all: {indexed}");
}

#[test]
fn a_missing_or_inconsistent_declaration_is_caught() {
    static ATTRS: [Attr; 1] = [Attr::optional("tags", AttrType::Map(&AttrType::Str))];
    static TAGGED: Schema =
        Schema { attrs: &ATTRS, guarded: false, taggable: true, ownership: Ownership::Listed, pricing: Pricing::Free };
    let docs = "# Resource types\n\n## `vpc`\n\n";
    assert!(declaration_problems("vpc", &TAGGED, docs).is_empty());

    let untagged = Schema { ownership: Ownership::Untagged, ..TAGGED };
    assert!(declaration_problems("vpc", &untagged, docs)[0].contains("declared Untagged"));
    let not_taggable = Schema { taggable: false, ..TAGGED };
    assert!(declaration_problems("vpc", &not_taggable, docs)[0].contains("declare it Untagged"));
    for filter in ["vpc", "ec2:", ":vpc", "ec2:vpc:x", "EC2:vpc"] {
        let indexed = Schema { ownership: Ownership::indexed(filter, "vpc/"), ..TAGGED };
        assert!(declaration_problems("vpc", &indexed, docs)[0].contains("service:resource"), "{filter}");
    }
    assert!(declaration_problems("subnet", &TAGGED, docs)[0].contains("no section in docs/resources.md"));

    let key = Schema { ownership: Ownership::indexed("kms:key", "key/"), ..TAGGED };
    let replica = Schema { ownership: key.ownership.arn_ids().leaving_unnamed(), ..TAGGED };
    let both = Schema { ownership: key.ownership.arn_ids(), ..TAGGED };
    assert!(sharing_problems(&[("a", &key), ("b", &replica)]).is_empty());
    assert_eq!(sharing_problems(&[("a", &key), ("b", &both)]).len(), 1, "both claim");
    assert_eq!(sharing_problems(&[("b", &replica)]).len(), 1, "none claims");

    let stack = empty_stack();
    let unknown = pricing_problems(&Registry::default(), &stack, "vpc_endpoint", &TAGGED);
    assert!(unknown[0].contains("no price model"), "{unknown:?}");
    // A priced type whose sample lacks what its price model needs.
    let no_class = pricing_problems(&Registry::aws(), &stack, "db_instance", &TAGGED);
    assert!(no_class.iter().any(|p| p.contains("instance class is not known")), "{no_class:?}");
}

/// Every default name pgstack makes meets its attribute's constraint.
#[test]
fn default_names_are_valid_for_their_type() {
    let registry = Registry::aws();
    let stacks = ["greenlang-prod", "Shop_2", "9lives", &"long-stack-name-".repeat(5)];
    let addrs = ["x.main", r#"module.db.x.reader["us-east-1b"]"#, "x.a__b--c", r#"x.k["a/b c"]"#];
    let mut checked = 0;
    for t in registry.names().filter_map(|n| registry.get(n)) {
        for a in t.schema().attrs.iter().filter(|a| a.default_name.is_some()) {
            for stack in stacks {
                for addr in addrs {
                    let (rule, addr) = (a.default_name.unwrap(), addr.parse().unwrap());
                    for name in [rule.name_for(stack, &addr), rule.alternate_for(stack, &addr)] {
                        if let Some(c) = a.constraint {
                            assert!(c.check(&Value::Str(name.clone())).is_ok(), "{}.{}: {name}", t.type_name(), a.name);
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked >= 10 * 16, "{checked}");
}

/// A schema attribute named like a meta-argument would be read as the
/// meta-argument (`enabled = false` would drop the resource, not disable it).
#[test]
fn no_attribute_is_named_like_a_meta_argument() {
    let registry = Registry::aws();
    let clashes: Vec<String> = registry
        .names()
        .filter_map(|n| registry.get(n))
        .flat_map(|t| {
            t.schema()
                .attrs
                .iter()
                .filter(|a| crate::config::META_ARGUMENTS.contains(&a.name))
                .map(move |a| format!("{}.{}", t.type_name(), a.name))
        })
        .collect();
    assert!(clashes.is_empty(), "{clashes:?}");
}
