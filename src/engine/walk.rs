//! Parallel DAG walk: each node starts as soon as its own dependencies are
//! done (no level barriers), at most `parallelism` at a time. A failed node's
//! dependents are skipped; independent branches go on. Once `cancel` is set no
//! new node starts, and running ones finish.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use tokio::task::JoinSet;

/// How a node ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Failed(String),
    /// Not run because the node at this index failed (or was itself skipped).
    Skipped(usize),
    /// Not run because the walk was cancelled.
    Cancelled,
}

/// Walks nodes `0..deps.len()`; `deps[i]` lists the nodes `i` waits for.
pub async fn walk<F, Fut>(deps: &[Vec<usize>], parallelism: usize, cancel: Arc<AtomicBool>, run: F) -> Vec<Outcome>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let n = deps.len();
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut outcome: Vec<Option<Outcome>> = vec![None; n];
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut running = JoinSet::new();
    let parallelism = parallelism.max(1);

    loop {
        while running.len() < parallelism && !cancel.load(Ordering::SeqCst) {
            let Some(i) = ready.pop_front() else { break };
            let fut = AssertUnwindSafe(run(i)).catch_unwind();
            running.spawn(async move {
                // A panicking node fails alone; the walk and the state survive it.
                (i, fut.await.unwrap_or_else(|_| Err("internal error: the operation panicked".to_owned())))
            });
        }
        let Some(joined) = running.join_next().await else { break };
        let Ok((i, result)) = joined else { continue };
        match result {
            Ok(()) => {
                outcome[i] = Some(Outcome::Done);
                for &d in &dependents[i] {
                    waiting[d] -= 1;
                    if waiting[d] == 0 && outcome[d].is_none() {
                        ready.push_back(d);
                    }
                }
            }
            Err(e) => {
                outcome[i] = Some(Outcome::Failed(e));
                let mut stack = vec![i];
                while let Some(f) = stack.pop() {
                    for &d in &dependents[f] {
                        if outcome[d].is_none() {
                            outcome[d] = Some(Outcome::Skipped(f));
                            stack.push(d);
                        }
                    }
                }
            }
        }
    }
    outcome.into_iter().map(|o| o.unwrap_or(Outcome::Cancelled)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_in_dependency_order_and_skips_dependents_of_failures() {
        // 0 -> 1 -> 2 ; 3 independent ; 1 fails
        let deps = vec![vec![], vec![0], vec![1], vec![]];
        let order = Arc::new(Mutex::new(Vec::new()));
        let o = order.clone();
        let out = walk(&deps, 4, Arc::default(), move |i| {
            let o = o.clone();
            async move {
                o.lock().unwrap().push(i);
                if i == 1 { Err("boom".into()) } else { Ok(()) }
            }
        })
        .await;
        assert_eq!(out[0], Outcome::Done);
        assert_eq!(out[1], Outcome::Failed("boom".into()));
        assert_eq!(out[2], Outcome::Skipped(1));
        assert_eq!(out[3], Outcome::Done);
        let order = order.lock().unwrap();
        assert!(!order.contains(&2));
        let pos = |x| order.iter().position(|&y| y == x).unwrap();
        assert!(pos(0) < pos(1));
    }

    #[tokio::test]
    async fn a_node_starts_when_its_own_dependencies_finish() {
        // 0 is slow; 1 is fast; 2 depends only on 1 and must not wait for 0.
        let deps = vec![vec![], vec![], vec![1]];
        let finished = Arc::new(Mutex::new(Vec::new()));
        let f = finished.clone();
        walk(&deps, 3, Arc::default(), move |i| {
            let f = f.clone();
            async move {
                if i == 0 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                f.lock().unwrap().push(i);
                Ok(())
            }
        })
        .await;
        assert_eq!(*finished.lock().unwrap(), vec![1, 2, 0]);
    }

    #[tokio::test]
    async fn parallelism_is_bounded_and_cancel_stops_scheduling() {
        let deps = vec![vec![]; 8];
        let now = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let (n, m) = (now.clone(), max.clone());
        walk(&deps, 3, Arc::default(), move |_| {
            let (n, m) = (n.clone(), m.clone());
            async move {
                let c = n.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(c, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                n.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            }
        })
        .await;
        assert_eq!(max.load(Ordering::SeqCst), 3);

        let cancel = Arc::new(AtomicBool::new(false));
        let c = cancel.clone();
        let out = walk(&deps, 1, cancel, move |_| {
            c.store(true, Ordering::SeqCst);
            async { Ok(()) }
        })
        .await;
        assert_eq!(out.iter().filter(|o| **o == Outcome::Done).count(), 1);
        assert_eq!(out.iter().filter(|o| **o == Outcome::Cancelled).count(), 7);
    }
}
