//! `[data.TYPE.NAME]` blocks of a stack file: existing objects read at plan
//! time by their filters (`${data.vpc.shared.id}`). At load their filters
//! are checked against the data source's schema and must be known (plain
//! values and variables); references to them stay references, filled in by
//! the CLI once the plan has read them (src/cli/data.rs).

use std::collections::BTreeMap;

use crate::addr::ResourceAddr;
use crate::diag::{Diagnostic, did_you_mean};
use crate::schema::Mode;

use super::load::{Loader, invalid_name, valid_name};
use super::model::DataConfig;
use super::parse::Entry;
use super::resolve::Cx;
use super::scope::Scope;

/// The address a data block's references point at: type `data.TYPE`.
pub fn data_addr(dtype: &str, name: &str) -> ResourceAddr {
    ResourceAddr::new(format!("data.{dtype}"), name)
}

impl Loader<'_> {
    /// Declares the `[data.TYPE.NAME]` blocks in `self.data`, their filters
    /// resolved and checked.
    pub(super) fn data_blocks(&mut self, scope: &mut Scope, e: Option<&Entry>) {
        // Every block first, so that filters may refer to blocks written after them.
        let mut blocks: Vec<(Entry, Entry, &'static crate::schema::Schema)> = Vec::new();
        for te in self.table_entries(e, "data", "data sources like [data.vpc.NAME]") {
            let Some(schema) = self.registry.data_schema_of(&te.key) else {
                let known = self.registry.data_type_names();
                let d = Diagnostic::error(format!("unknown data source type `{}`", te.key)).at(te.key_span.clone());
                self.diags.push(match did_you_mean(&te.key, known.iter().copied()) {
                    Some(s) => d.hint(format!("did you mean `{s}`?")),
                    None => d.hint(format!("data sources: {}", known.join(", "))),
                });
                continue;
            };
            for be in self.table_entries(Some(&te), &format!("data.{}", te.key), "blocks like [data.TYPE.NAME]") {
                if !valid_name(&be.key) {
                    self.diags.push(invalid_name("data source", &be.key, &be.key_span));
                    continue;
                }
                let placeholder = DataConfig {
                    region: self.stack.default_region.clone(),
                    args: BTreeMap::new(),
                    span: be.key_span.clone(),
                };
                self.data.insert(data_addr(&te.key, &be.key), placeholder);
                blocks.push((te.clone(), be, schema));
            }
        }
        for (te, be, schema) in blocks {
            let mut args = BTreeMap::new();
            let mut region = self.stack.default_region.clone();
            for arg in self.table_entries(Some(&be), &format!("data.{}.{}", te.key, be.key), "filters") {
                if arg.key == "region" {
                    if let Some(r) = self.static_str(scope, &Cx::default(), &arg.value, "`region`")
                        && let Some(id) = self.region(&r, &arg.value.span)
                    {
                        region = id;
                    }
                    continue;
                }
                let settable = schema.attr(&arg.key).filter(|a| a.mode != Mode::Computed);
                let Some(attr) = settable else {
                    let filters: Vec<&str> =
                        schema.attrs.iter().filter(|a| a.mode != Mode::Computed).map(|a| a.name).collect();
                    let d = Diagnostic::error(format!("data source `{}` has no filter `{}`", te.key, arg.key))
                        .at(arg.key_span.clone());
                    self.diags.push(match did_you_mean(&arg.key, filters.iter().copied()) {
                        Some(s) => d.hint(format!("did you mean `{s}`?")),
                        None if filters.is_empty() => d.hint("it takes no filters"),
                        None => d.hint(format!("its filters: {}", filters.join(", "))),
                    });
                    continue;
                };
                let what = format!("filter `{}` of data.{}.{}", arg.key, te.key, be.key);
                let cx = Cx { data_only: Some(&what), ..Cx::default() };
                let Some(value) = self.resolve_node(scope, &cx, &arg.value) else { continue };
                args.insert(attr.name.to_owned(), value);
            }
            // The filters known now are checked now; the others once read.
            let known: BTreeMap<String, crate::value::Value> =
                args.iter().filter_map(|(k, v)| Some((k.clone(), v.as_lit()?.clone()))).collect();
            for v in schema.check_values(&known) {
                let head = v.path.split(['.', '[']).next().unwrap_or_default();
                let at = be.value.get(head).map(|a| a.value.span.clone());
                let d = Diagnostic::error(format!("`{}` {}", v.path, v.invalid.message)).at_opt(at);
                self.diags.push(match v.invalid.hint {
                    Some(h) => d.hint(h),
                    None => d,
                });
            }
            for missing in schema.attrs.iter().filter(|a| a.mode == Mode::Required && !args.contains_key(a.name)) {
                self.diags.push(
                    Diagnostic::error(format!("data.{}.{} needs `{}`", te.key, be.key, missing.name))
                        .at(be.key_span.clone()),
                );
            }
            self.data.insert(data_addr(&te.key, &be.key), DataConfig { region, args, span: be.key_span.clone() });
        }
    }
}
