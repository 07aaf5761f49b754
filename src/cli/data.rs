//! Reading the stack's data sources at plan time: each `[data.TYPE.NAME]`
//! is read once (all at once), then every reference to it in the stack's
//! resources and outputs becomes the value read. The stack a plan is made
//! from (and a saved plan carries) holds those values and no data blocks,
//! so apply uses what the plan showed.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::addr::ResourceAddr;
use crate::config::{Expr, Stack};
use crate::provider::Ctx;
use crate::value::{Attrs, Value};

use super::CliError;
use super::session::Session;

impl Session {
    /// Reads the data sources and fills in their references (nothing to do
    /// for a stack without any). A read that fails, or that matches zero
    /// or several objects, fails the command before anything is changed.
    pub async fn read_data(&mut self) -> Result<(), CliError> {
        if self.stack.data.is_empty() {
            return Ok(());
        }
        let reads = self.stack.data.iter().map(|(addr, cfg)| {
            let ctx = Ctx::new(self.aws.clone(), cfg.region.clone(), self.stack.name.clone());
            let dtype = addr.rtype.strip_prefix("data.").unwrap_or(&addr.rtype).to_owned();
            let source = self.registry.data(&dtype).cloned();
            async move {
                let source = source.ok_or_else(|| CliError::msg(format!("unknown data source type `{dtype}`")))?;
                let attrs = crate::provider::waiter::retry_transient(&ctx, "reading a data source", || {
                    source.read(&ctx, &cfg.args)
                })
                .await
                .map_err(|e| CliError::msg(format!("{addr}: {e}")).hint("nothing was changed"))?;
                Ok::<_, CliError>((addr.clone(), attrs))
            }
        });
        let values: BTreeMap<ResourceAddr, Attrs> = futures::future::try_join_all(reads).await?.into_iter().collect();
        let stack = Arc::make_mut(&mut self.stack);
        fill_data(stack, &values);
        Ok(())
    }
}

/// Replaces every reference to a data source of `values` in `stack` with
/// the value read, and drops the data blocks.
fn fill_data(stack: &mut Stack, values: &BTreeMap<ResourceAddr, Attrs>) {
    fn fill(e: &mut Expr, values: &BTreeMap<ResourceAddr, Attrs>) {
        if let Expr::Ref(r) = e
            && let Some(attrs) = values.get(&r.target)
        {
            let mut v = attrs.get(&r.path[0]).cloned().unwrap_or_default();
            for seg in &r.path[1..] {
                v = match v {
                    Value::Map(m) => m.get(seg).cloned().unwrap_or_default(),
                    Value::List(l) => seg.parse::<usize>().ok().and_then(|i| l.get(i).cloned()).unwrap_or_default(),
                    _ => Value::Null,
                };
            }
            *e = Expr::Lit(v);
            return;
        }
        e.each_child_mut(&mut |c| fill(c, values));
    }
    for rc in stack.resources.values_mut() {
        for e in rc.attrs.values_mut() {
            fill(e, values);
        }
    }
    for o in stack.outputs.values_mut() {
        fill(&mut o.value, values);
    }
    stack.data.clear();
}
