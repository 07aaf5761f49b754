//! Waiting and retrying, in one place: the provider's side of
//! [`crate::retry`] (whose backoff and retry loop the state backend uses too).
//!
//! [`wait_for`] polls until an object is ready (or gone); [`retry`] repeats a
//! call that failed for a reason that may pass (throttling, a server error, a
//! dependency still letting go). Both back off from a first pause by a factor
//! up to a cap, jitter each pause (so parallel callers do not retry in
//! lockstep), report progress, and give up after a per-resource timeout. The
//! first attempt runs at once: an object that is already available costs one
//! call and no sleep. No fixed sleeps.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{Ctx, ProviderError, Result};
use crate::retry::pause_within;
pub use crate::retry::{Backoff, Budget, retry, retry_within};

/// How long [`retry_transient`] keeps retrying when the resource sets no timeout.
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(600);

/// One check's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll<T> {
    Ready(T),
    /// Not yet; the status AWS reports (`creating`, `modifying`, ...).
    Pending(String),
}

/// Polls `check` until it is ready. `what` names the wait for progress lines
/// ("cluster to become available"); the timeout is the resource's own
/// (`ctx.timeout`) or `default_timeout`. A check that fails transiently
/// ([`transient`]) counts as "not yet", within the same timeout.
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
    let backoff = ctx.scaled(backoff);
    let started = Instant::now();
    let mut delay = backoff.first;
    loop {
        let status = match check().await {
            Ok(Poll::Ready(t)) => return Ok(t),
            Ok(Poll::Pending(status)) => status,
            Err(e) => match transient(&e) {
                Some(reason) if started.elapsed() < timeout => format!("check failed after {reason}"),
                _ => return Err(e),
            },
        };
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            return Err(ProviderError::Timeout { what: format!("{what} (last status: {status})"), after: elapsed });
        }
        ctx.progress.report(&format!("waiting for {what} (status: {status})"), elapsed);
        pause_within(delay, timeout.saturating_sub(elapsed)).await;
        delay = backoff.next(delay);
    }
}

/// Why an error may pass if the call is repeated: throttling or a server
/// error. `None` for everything else: AWS refused the request, the object is
/// missing, a waiter gave up, or there was no answer at all ([`ProviderError::Transport`]:
/// the SDK has already retried it its full number of attempts, and a network
/// that stays down should fail in one line, not after the resource's timeout;
/// a create's lost reply is recovered by the engine instead).
pub fn transient(err: &ProviderError) -> Option<String> {
    match err {
        ProviderError::Api { retryable: true, code, .. } if is_throttling(code) => Some("throttling".to_owned()),
        ProviderError::Api { retryable: true, code, .. } => Some(format!("a server error ({code})")),
        _ => None,
    }
}

/// True for the error codes AWS services use for throttling.
pub fn is_throttling(code: &str) -> bool {
    code.contains("Throttl") || matches!(code, "RequestLimitExceeded" | "SlowDown" | "TooManyRequestsException")
}

/// Retries an idempotent provider call (a read, an update, a delete) while it
/// fails [`transient`]ly, until the resource's timeout (`ctx.timeout`) or
/// [`DEFAULT_RETRY_BUDGET`]. Never for creates: a create that failed may have
/// happened.
pub async fn retry_transient<T, F, Fut>(ctx: &Ctx, what: &str, call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let limit = ctx.timeout.unwrap_or(DEFAULT_RETRY_BUDGET);
    let budget = Budget { limit, backoff: ctx.scaled(Backoff::RETRY), progress: &ctx.progress };
    retry(budget, what, transient, call).await
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

    fn throttled() -> ProviderError {
        ProviderError::Api {
            operation: "DescribeVpcs",
            code: "Throttling".into(),
            message: String::new(),
            retryable: true,
        }
    }

    #[tokio::test]
    async fn a_throttled_check_counts_as_not_yet() {
        let mut answers = vec![Ok(Poll::Ready(1)), Err(throttled())];
        let v = wait_for(&ctx(Arc::default()), "x", Duration::from_secs(5), FAST, || {
            let next = answers.pop().unwrap();
            async move { next }
        })
        .await;
        assert_eq!(v.unwrap(), 1);
    }

    #[tokio::test]
    async fn retry_repeats_transient_failures_and_reports_them() {
        let reports = Arc::new(Mutex::new(Vec::new()));
        let c = ctx(reports.clone());
        let mut calls = 0;
        let v = retry(
            Budget { limit: Duration::from_secs(5), backoff: FAST, progress: &c.progress },
            "DescribeVpcs",
            transient,
            || {
                calls += 1;
                let answer = if calls < 3 { Err(throttled()) } else { Ok(calls) };
                async move { answer }
            },
        )
        .await;
        assert_eq!(v.unwrap(), 3);
        assert_eq!(*reports.lock().unwrap(), vec!["retrying DescribeVpcs after throttling"; 2]);
    }

    #[tokio::test]
    async fn retry_returns_final_errors_at_once_and_transient_ones_after_the_budget() {
        let c = ctx(Arc::default());
        let mut calls = 0;
        let err = retry_transient(&c, "x", || {
            calls += 1;
            async { Err::<(), _>(ProviderError::Invalid("no".into())) }
        })
        .await
        .unwrap_err();
        assert!(matches!(err, ProviderError::Invalid(_)));
        assert_eq!(calls, 1);

        let mut calls = 0;
        let err = retry_transient(&c, "x", || {
            calls += 1;
            async { Err::<(), _>(ProviderError::Transport { operation: "DescribeVpcs", message: "refused".into() }) }
        })
        .await
        .unwrap_err();
        assert!(matches!(err, ProviderError::Transport { .. }));
        assert_eq!(calls, 1, "the SDK already retried a call without an answer");

        let budget = Budget { limit: Duration::from_millis(20), backoff: FAST, progress: &c.progress };
        let mut calls = 0;
        let err = retry(budget, "x", transient, || {
            calls += 1;
            async { Err::<(), _>(throttled()) }
        })
        .await
        .unwrap_err();
        assert!(matches!(err, ProviderError::Api { .. }));
        assert!(calls >= 2, "retried until the budget ran out: {calls}");
    }

    #[test]
    fn throttling_codes_of_each_protocol() {
        for code in ["Throttling", "ThrottlingException", "RequestLimitExceeded", "SlowDown"] {
            assert!(is_throttling(code), "{code}");
        }
        assert!(!is_throttling("InternalError") && !is_throttling("LimitExceededException"));
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
