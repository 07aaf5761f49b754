//! docs/resources.md is generated from the schemas, and this test keeps it so:
//! it fails when the file differs from what the schemas say. Regenerate with
//! `PGSTACK_UPDATE_DOCS=1 cargo test --lib resources_doc`.

use std::fmt::Write;

use super::Registry;
use super::schema::{AttrType, Mode};
use crate::value::{Attrs, Value};

fn reference(registry: &Registry) -> String {
    let mut out = String::from(
        "# Resource types\n\nGenerated from the provider schemas (`src/provider/aws/*.rs`); do not edit by hand.\n\
         Regenerate: `PGSTACK_UPDATE_DOCS=1 cargo test --lib resources_doc`.\n\n\
         Modes: **required**, optional (unset = not managed, unless it has a default), computed (set by AWS,\n\
         referencable). *Replaces* = changing it deletes and re-creates the resource.\n\
         *Guarded* types fall under the data-loss guard (`--allow-destroy ADDR`).\n\
         *Accepts* = what AWS accepts beyond the type; `pgstack validate` refuses other values (values known only\n\
         at plan time are checked then). For lists it applies to each item, for tables to each key and value.\n",
    );
    for name in registry.names() {
        let Some(t) = registry.get(name) else { continue };
        let schema = t.schema();
        let _ = write!(out, "\n## `{name}`\n\n");
        // A type guarded only while a computed flag says it holds data.
        let flags: Vec<&str> = schema
            .attrs
            .iter()
            .filter(|a| a.mode == Mode::Computed && a.ty == AttrType::Bool)
            .map(|a| a.name)
            .collect();
        let empty: Attrs = flags.iter().map(|f| (f.to_string(), Value::Bool(false))).collect();
        if schema.guarded && !t.holds_data(&empty) {
            let flags = flags.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
            let _ = write!(
                out,
                "*Guarded* while it holds data ({flags} true, or not read yet): deleting or replacing it then needs `--allow-destroy`.\n\n"
            );
        } else if schema.guarded {
            out.push_str("*Guarded*: deleting or replacing it needs `--allow-destroy`.\n\n");
        }
        out.push_str("| attribute | type | mode | default | replaces | accepts |\n|---|---|---|---|---|---|\n");
        for a in schema.attrs {
            let mode = match a.mode {
                Mode::Required => "**required**",
                Mode::Optional if a.config_only => "optional, config only",
                Mode::Optional => "optional",
                Mode::Computed => "computed",
            };
            let ty = match a.ty {
                AttrType::Object(_) => "table".to_owned(),
                ref other => other.describe(),
            };
            let default = match (a.default, a.default_name) {
                (Some(d), _) => format!("`{}`", d.value()),
                (None, Some(_)) => "from the stack and address".to_owned(),
                (None, None) => String::new(),
            };
            let replaces = if a.force_new { "yes" } else { "" };
            let mut accepts = a.constraint.map(|c| c.describe().replace('|', "\\|")).unwrap_or_default();
            if !a.conflicts.is_empty() {
                let others: Vec<String> = a.conflicts.iter().map(|o| format!("`{o}`")).collect();
                let sep = if accepts.is_empty() { "" } else { "; " };
                accepts = format!("{accepts}{sep}not with {}", others.join(", "));
            }
            if a.status {
                let sep = if accepts.is_empty() { "" } else { "; " };
                accepts = format!("{accepts}{sep}a state apply acts to reach");
            }
            if let Some(other) = a.apart_from {
                let sep = if accepts.is_empty() { "" } else { "; " };
                accepts = format!("{accepts}{sep}must not meet `{other}`");
            }
            let _ = writeln!(out, "| `{}` | {ty} | {mode} | {default} | {replaces} | {accepts} |", a.name);
            if let AttrType::List(AttrType::Object(fields)) | AttrType::Set(AttrType::Object(fields)) = a.ty {
                for f in *fields {
                    let accepts = f.constraint.map(|c| c.describe().replace('|', "\\|")).unwrap_or_default();
                    let mode = if f.mode == Mode::Required { "**required**" } else { "optional" };
                    let _ =
                        writeln!(out, "| `{}[].{}` | {} | {mode} |  |  | {accepts} |", a.name, f.name, f.ty.describe());
                }
            }
        }
    }
    out
}

#[test]
fn resources_doc_matches_the_schemas() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/resources.md");
    let want = reference(&Registry::aws());
    if std::env::var_os("PGSTACK_UPDATE_DOCS").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(have == want, "docs/resources.md is out of date: PGSTACK_UPDATE_DOCS=1 cargo test --lib resources_doc");
}
