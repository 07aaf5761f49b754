//! Backing off and retrying, for any caller: AWS providers
//! (their waiter module) and the S3 state backend alike. A leaf:
//! nothing here knows a provider, a resource or AWS.
//!
//! The first attempt runs at once; each pause is jittered (so parallel
//! callers do not retry in lockstep) and grows by a factor up to a cap;
//! progress is reported before each retry. No fixed sleeps.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A report's receiver: what is awaited, and for how long so far.
type ReportFn = dyn Fn(&str, Duration) + Send + Sync;

/// Receives "still waiting for X after T" reports from long operations.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<ReportFn>>);

impl Progress {
    pub fn new(report: impl Fn(&str, Duration) + Send + Sync + 'static) -> Self {
        Progress(Some(Arc::new(report)))
    }

    pub fn report(&self, what: &str, elapsed: Duration) {
        if let Some(f) = &self.0 {
            f(what, elapsed);
        }
    }
}

/// Backoff between attempts: `first`, then times `factor` per attempt up to
/// `cap`. The pause actually slept is a random point in the upper half of it.
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
    /// Pauses for retrying a failed call: quicker at first than polling.
    pub const RETRY: Backoff = Backoff { first: Duration::from_millis(500), factor: 2.0, cap: Duration::from_secs(20) };

    pub(crate) fn next(&self, current: Duration) -> Duration {
        current.mul_f64(self.factor).min(self.cap)
    }
}

/// `pause` jittered into `[pause/2, pause]`.
fn jittered(pause: Duration) -> Duration {
    // RandomState is seeded afresh per instance: enough randomness to spread callers.
    let r = RandomState::new().hash_one(0u8) >> 11;
    pause.mul_f64(0.5 + 0.5 * (r as f64 / (1u64 << 53) as f64))
}

/// Sleeps `pause` jittered, but never past `left`.
pub(crate) async fn pause_within(pause: Duration, left: Duration) {
    tokio::time::sleep(jittered(pause).min(left)).await;
}

/// How long [`retry`] may keep going, and where it reports.
#[derive(Clone, Copy)]
pub struct Budget<'a> {
    /// Counted from the first failure: a long call that fails late still gets
    /// its retries.
    pub limit: Duration,
    pub backoff: Backoff,
    pub progress: &'a Progress,
}

/// Runs `call` until it succeeds or fails with an error `reason` returns
/// `None` for. Before each retry it reports "retrying WHAT after REASON" and
/// sleeps (jittered backoff); when the next pause would end past the budget it
/// returns the last error instead.
pub async fn retry<T, E, F, Fut>(
    budget: Budget<'_>,
    what: &str,
    reason: impl Fn(&E) -> Option<String>,
    call: F,
) -> std::result::Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, E>>,
{
    retry_within(budget, what, |e| reason(e).map(|why| (why, budget.limit)), call).await
}

/// [`retry`] where each retryable error brings its own limit (`reason`
/// answers why and for how long at most, counted from the first failure),
/// never past `budget.limit`.
pub async fn retry_within<T, E, F, Fut>(
    budget: Budget<'_>,
    what: &str,
    reason: impl Fn(&E) -> Option<(String, Duration)>,
    mut call: F,
) -> std::result::Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, E>>,
{
    let mut first_failure: Option<Instant> = None;
    let mut pause = budget.backoff.first;
    loop {
        let err = match call().await {
            Ok(t) => return Ok(t),
            Err(e) => e,
        };
        let since = first_failure.get_or_insert_with(Instant::now).elapsed();
        match reason(&err) {
            Some((why, within)) if since + pause <= within.min(budget.limit) => {
                budget.progress.report(&format!("retrying {what} after {why}"), since);
                pause_within(pause, within.min(budget.limit) - since).await;
                pause = budget.backoff.next(pause);
            }
            _ => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_the_upper_half() {
        for _ in 0..100 {
            let d = jittered(Duration::from_millis(100));
            assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(100), "{d:?}");
        }
    }
}
