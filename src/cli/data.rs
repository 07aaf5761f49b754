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
use crate::value::Attrs;

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
        // In rounds: the blocks whose filters use no data source not read yet, all at once.
        let mut values: BTreeMap<ResourceAddr, Attrs> = BTreeMap::new();
        while values.len() < self.stack.data.len() {
            let ready: Vec<(&ResourceAddr, &crate::config::DataConfig)> = self
                .stack
                .data
                .iter()
                .filter(|(a, cfg)| {
                    !values.contains_key(*a)
                        && cfg.args.values().flat_map(Expr::refs).all(|r| values.contains_key(&r.target))
                })
                .collect();
            if ready.is_empty() {
                let waiting: Vec<String> =
                    self.stack.data.keys().filter(|a| !values.contains_key(*a)).map(ToString::to_string).collect();
                return Err(CliError::msg(format!("the filters of {} use each other", waiting.join(", ")))
                    .hint("a data source's filters may use only data sources that do not use it"));
            }
            let reads = ready.into_iter().map(|(addr, cfg)| {
                let ctx = Ctx::new(self.aws.clone(), cfg.region.clone(), self.stack.name.clone());
                let dtype = addr.rtype.strip_prefix("data.").unwrap_or(&addr.rtype).to_owned();
                let source = self.registry.data(&dtype).cloned();
                let args = filter_values(&cfg.args, &values);
                async move {
                    let fail = |e: String| CliError::msg(format!("{addr}: {e}")).hint("nothing was changed");
                    let source = source.ok_or_else(|| fail(format!("unknown data source type `{dtype}`")))?;
                    let args = args.map_err(|e| fail(e.to_string()))?;
                    if let Some(v) = source.schema().check_values(&args).into_iter().next() {
                        return Err(fail(format!("`{}` {}", v.path, v.invalid.message)));
                    }
                    let attrs = crate::provider::waiter::retry_transient(&ctx, "reading a data source", || {
                        source.read(&ctx, &args)
                    })
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                    Ok::<_, CliError>((addr.clone(), attrs))
                }
            });
            values.extend(futures::future::try_join_all(reads).await?);
        }
        let stack = Arc::make_mut(&mut self.stack);
        fill_data(stack, &values);
        Ok(())
    }
}

/// A block's filters with the data sources they use filled in.
fn filter_values(
    args: &BTreeMap<String, Expr>,
    values: &BTreeMap<ResourceAddr, Attrs>,
) -> Result<Attrs, crate::config::EvalError> {
    args.iter()
        .map(|(k, e)| {
            let mut e = e.clone();
            fill(&mut e, values);
            Ok((k.clone(), e.eval_static()?))
        })
        .collect()
}

/// Replaces every reference to a data source of `values` in `stack` with
/// the value read, and drops the data blocks.
fn fill_data(stack: &mut Stack, values: &BTreeMap<ResourceAddr, Attrs>) {
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

/// `e` with every reference to a data source of `values` replaced by the value read.
fn fill(e: &mut Expr, values: &BTreeMap<ResourceAddr, Attrs>) {
    if let Expr::Ref(r) = e
        && let Some(attrs) = values.get(&r.target)
    {
        *e = Expr::Lit(attrs.get(&r.path[0]).cloned().unwrap_or_default().at_path(&r.path[1..]));
        return;
    }
    e.each_child_mut(&mut |c| fill(c, values));
}
