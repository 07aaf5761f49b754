//! `[[import]]` blocks of a stack file: an object that exists in AWS, made
//! outside pgstack, becomes the declared resource `to` at the next apply,
//! instead of a new one being created. The plan reads it by `id` and checks
//! its ownership tags as `pgstack import` does (src/cli/session.rs).
//!
//! Checked here, at load: `to` is a declared resource instance, `id` a
//! non-empty string (variables allowed), no address imported twice.

use crate::addr::ResourceAddr;
use crate::diag::Diagnostic;

use super::load::Loader;
use super::model::ImportBlock;
use super::parse::{Entry, NodeKind};
use super::resolve::Cx;
use super::scope::Scope;

impl Loader<'_> {
    /// The `[[import]]` list of the stack file, `to` not yet checked against
    /// the resources ([`Loader::check_imports`]).
    pub(super) fn import_blocks(&mut self, scope: &mut Scope, e: Option<&Entry>) -> Vec<ImportBlock> {
        let Some(e) = e else { return Vec::new() };
        let NodeKind::Array(items) = &e.value.kind else {
            self.diags.push(
                Diagnostic::error("`import` must be a list of tables")
                    .at(e.value.span.clone())
                    .hint("write each import as [[import]] with `to` and `id`"),
            );
            return Vec::new();
        };
        let mut out: Vec<ImportBlock> = Vec::new();
        for item in items {
            let Some(fields) = item.as_table() else {
                self.diags.push(Diagnostic::error("an [[import]] entry must be a table").at(item.span.clone()));
                continue;
            };
            self.unknown_keys(fields, &["to", "id"], "[[import]]");
            let (Some(to), Some(id)) = (fields.iter().find(|f| f.key == "to"), fields.iter().find(|f| f.key == "id"))
            else {
                self.diags.push(
                    Diagnostic::error("[[import]] needs `to` and `id`")
                        .at(item.span.clone())
                        .hint("e.g. to = \"vpc.main\", id = \"vpc-0abc...\""),
                );
                continue;
            };
            let addr = match to
                .value
                .as_str()
                .filter(|_| to.value.find_template().is_none())
                .map(str::parse::<ResourceAddr>)
            {
                Some(Ok(a)) => a,
                Some(Err(err)) => {
                    self.diags
                        .push(Diagnostic::error(format!("`to` is not an address: {err}")).at(to.value.span.clone()));
                    continue;
                }
                None => {
                    let d = Diagnostic::error("`to` of [[import]] must be an address written out, like \"vpc.main\"");
                    self.diags.push(d.at(to.value.span.clone()));
                    continue;
                }
            };
            let Some(id_text) = self.static_str(scope, &Cx::default(), &id.value, "`id` of [[import]]") else {
                continue;
            };
            if id_text.trim().is_empty() {
                self.diags.push(Diagnostic::error("`id` of [[import]] is empty").at(id.value.span.clone()));
                continue;
            }
            if out.iter().any(|i| i.to == addr) {
                let d = Diagnostic::error(format!("`{addr}` is imported twice")).at(to.value.span.clone());
                self.diags.push(d.hint("one object per address"));
                continue;
            }
            out.push(ImportBlock {
                to: addr,
                id: id_text,
                to_span: to.value.span.clone(),
                id_span: id.value.span.clone(),
            });
        }
        out
    }

    /// Each import's `to` must be a declared resource instance.
    pub(super) fn check_imports(
        &mut self,
        imports: &[ImportBlock],
        declared: &std::collections::BTreeSet<ResourceAddr>,
    ) {
        for i in imports.iter().filter(|i| !declared.contains(&i.to)) {
            let d = if declared.iter().any(|d| i.to.matches(d)) {
                Diagnostic::error(format!("`{}` is a for_each block, not one object", i.to))
                    .hint("import one instance per block: to = 'TYPE.NAME[\"KEY\"]'")
            } else {
                Diagnostic::error(format!("`{}` is declared nowhere in the stack", i.to))
                    .hint("declare the resource first; `pgstack import --generate-config` writes its block")
            };
            self.diags.push(d.at(i.to_span.clone()));
        }
    }
}
