//! Rate limits and backoff: the read budget that keeps count and purge
//! from starving request traffic, and the jittered backoff of retries.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// A token bucket of read capacity units.
///
/// Scans charge what each page consumed after reading it; when the bucket
/// is in debt the next charge sleeps until it is paid back. The bucket
/// holds at most one second of budget, so an idle store cannot save up
/// for a burst.
#[derive(Debug)]
pub(crate) struct ReadBudget {
    per_second: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl ReadBudget {
    /// A budget of `per_second` read units; 0 is unlimited.
    pub(crate) fn new(per_second: f64) -> Self {
        Self {
            per_second,
            state: Mutex::new(Bucket {
                tokens: per_second,
                at: Instant::now(),
            }),
        }
    }

    /// Spends `units`, sleeping first while the bucket is in debt.
    pub(crate) async fn charge(&self, units: f64) {
        if self.per_second <= 0.0 {
            return;
        }
        // Holding the lock across the sleep queues concurrent scans behind
        // each other, so two scans share one budget rather than each
        // spending it.
        let mut bucket = self.state.lock().await;
        let now = Instant::now();
        let earned = now.duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + earned).min(self.per_second);
        bucket.at = now;
        if bucket.tokens < 0.0 {
            let wait = Duration::from_secs_f64(-bucket.tokens / self.per_second);
            tokio::time::sleep(wait).await;
            bucket.tokens = 0.0;
            bucket.at = Instant::now();
        }
        bucket.tokens -= units;
    }
}

/// A random fraction in [0, 1), from the standard library's per-process
/// random hash keys: jitter needs spread, not cryptographic quality.
fn random_fraction() -> f64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(0);
    // The top 53 bits make an exactly representable f64 in [0, 1).
    #[expect(clippy::cast_precision_loss, reason = "53 bits fit an f64 exactly")]
    let fraction = (h.finish() >> 11) as f64 / (1u64 << 53) as f64;
    fraction
}

/// "Full jitter" backoff before retry `attempt` (1-based): a random delay
/// up to `base * 2^attempt`, capped.
pub(crate) fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
    ceiling.mul_f64(random_fraction())
}

/// A fresh subject index starts at a random version, so an index deleted
/// and recreated between a reader's read and its write never shows the
/// reader the version it expects.
pub(crate) fn random_version() -> i64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(1);
    // 48 bits leave room to count up without ever overflowing.
    i64::try_from(h.finish() >> 16).expect("48 bits fit an i64")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_its_ceiling() {
        for attempt in 1..40 {
            let d = backoff(
                attempt,
                Duration::from_millis(5),
                Duration::from_millis(200),
            );
            assert!(d <= Duration::from_millis(200));
            assert!(d <= Duration::from_millis(5).saturating_mul(1 << attempt.min(16)));
        }
        assert_ne!(random_version(), random_version());
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_in_debt_waits_for_it() {
        let budget = ReadBudget::new(10.0);
        let start = Instant::now();
        budget.charge(30.0).await; // 10 in the bucket: 20 owed.
        assert_eq!(start.elapsed(), Duration::ZERO);
        budget.charge(1.0).await; // pays 20 units at 10/s first.
        assert!(
            start.elapsed() >= Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        let unlimited = ReadBudget::new(0.0);
        let t = Instant::now();
        unlimited.charge(1e9).await;
        unlimited.charge(1e9).await;
        assert_eq!(t.elapsed(), Duration::ZERO);
    }
}
