//! Waiting for AWS to finish: poll with adaptive backoff until an object is
//! ready (or gone), report progress, and give up after a per-resource timeout.
//!
//! The first check runs at once (an object that is already available costs
//! one call and no sleep); later checks back off from about a second by 1.5×
//! up to a cap. No fixed sleeps.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{Ctx, ProviderError, Result};

/// One check's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll<T> {
    Ready(T),
    /// Not yet; the status AWS reports (`creating`, `modifying`, ...).
    Pending(String),
}

/// Backoff between checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub first: Duration,
    pub factor: f64,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { first: Duration::from_secs(1), factor: 1.5, cap: Duration::from_secs(30) }
    }
}

impl Backoff {
    fn next(&self, current: Duration) -> Duration {
        current.mul_f64(self.factor).min(self.cap)
    }
}

/// Polls `check` until it is ready. `what` names the wait for progress lines
/// ("cluster to become available"); the timeout is the resource's own
/// (`ctx.timeout`) or `default_timeout`.
pub async fn wait_for<T, F, Fut>(
    ctx: &Ctx,
    what: &str,
    default_timeout: Duration,
    backoff: Backoff,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let timeout = ctx.timeout.unwrap_or(default_timeout);
    let started = Instant::now();
    let mut delay = backoff.first;
    loop {
        match check().await? {
            Poll::Ready(t) => return Ok(t),
            Poll::Pending(status) => {
                let elapsed = started.elapsed();
                if elapsed >= timeout {
                    return Err(ProviderError::Timeout {
                        what: format!("{what} (last status: {status})"),
                        after: elapsed,
                    });
                }
                ctx.progress.report(&format!("waiting for {what} (status: {status})"), elapsed);
                tokio::time::sleep(delay.min(timeout.saturating_sub(elapsed))).await;
                delay = backoff.next(delay);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::provider::Progress;
    use crate::provider::aws::{AwsFactory, AwsOptions};

    fn ctx(reports: Arc<Mutex<Vec<String>>>) -> Ctx {
        Ctx::new(Arc::new(AwsFactory::new(AwsOptions::default())), "us-east-1", "t")
            .with_progress(Progress::new(move |what, _| reports.lock().unwrap().push(what.to_owned())))
    }

    const FAST: Backoff = Backoff { first: Duration::from_millis(1), factor: 2.0, cap: Duration::from_millis(4) };

    #[tokio::test]
    async fn ready_at_once_costs_one_check_and_no_report() {
        let reports = Arc::default();
        let mut checks = 0;
        let v = wait_for(&ctx(Arc::clone(&reports)), "x", Duration::from_secs(5), FAST, || {
            checks += 1;
            async { Ok(Poll::Ready(7)) }
        })
        .await
        .unwrap();
        assert_eq!((v, checks), (7, 1));
        assert!(reports.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn polls_through_statuses_and_reports_each_wait() {
        let reports = Arc::new(Mutex::new(Vec::new()));
        let statuses = Mutex::new(vec!["creating", "backing-up", "configuring-enhanced-monitoring"]);
        let v = wait_for(&ctx(reports.clone()), "cluster to become available", Duration::from_secs(5), FAST, || {
            let next = statuses.lock().unwrap().pop();
            async move { Ok(next.map_or(Poll::Ready("available"), |s| Poll::Pending(s.to_owned()))) }
        })
        .await
        .unwrap();
        assert_eq!(v, "available");
        let r = reports.lock().unwrap();
        assert_eq!(r.len(), 3);
        assert!(r[0].contains("configuring-enhanced-monitoring") && r[2].contains("creating"), "{r:?}");
    }

    #[tokio::test]
    async fn gives_up_after_the_resource_timeout() {
        let c = ctx(Arc::default()).with_timeout(Some(Duration::from_millis(20)));
        let err = wait_for(&c, "instance to be deleted", Duration::from_secs(3600), FAST, || async {
            Ok(Poll::<()>::Pending("deleting".into()))
        })
        .await
        .unwrap_err();
        assert!(matches!(&err, ProviderError::Timeout { what, .. } if what.contains("deleting")), "{err}");
    }

    #[test]
    fn backoff_grows_to_its_cap() {
        let b = Backoff::default();
        let mut d = b.first;
        for _ in 0..20 {
            d = b.next(d);
        }
        assert_eq!(d, b.cap);
        assert_eq!(b.next(b.first), Duration::from_millis(1500));
    }
}
