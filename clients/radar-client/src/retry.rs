//! When the client asks again, and how long it waits first.
//!
//! A `429` is waited out for as long as its `Retry-After` says: the API told us when. A `5xx`,
//! a lost connection or a `409` from a submission with the same `Idempotency-Key` still at
//! work is tried again after an exponential pause with full jitter, a few times, then given
//! up. Retrying a submission is safe only because every one the client sends carries an
//! `Idempotency-Key` ([`crate::chunk`]).

use std::time::Duration;

/// How often and how patiently the client retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Tries in all of a request that fails for a transient reason.
    pub tries: u32,
    /// The first pause's ceiling; each later one doubles it, up to `max_pause`.
    pub base: Duration,
    pub max_pause: Duration,
    /// `429`s waited out for one request before giving up.
    pub rate_limited: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            tries: 6,
            base: Duration::from_millis(500),
            max_pause: Duration::from_secs(20),
            rate_limited: 30,
        }
    }
}

impl Retry {
    /// The pause before try `next` (2 for the first retry): anything up to `base × 2^(next-2)`,
    /// capped, so that clients that failed together do not come back together.
    pub fn pause(&self, next: u32) -> Duration {
        let doubling = next.saturating_sub(2).min(16);
        let ceiling = self.base.saturating_mul(1 << doubling).min(self.max_pause);
        ceiling.mul_f64(fastrand::f64())
    }
}

/// A `Retry-After` header's seconds; the API sends whole seconds. Absent or unreadable: one
/// second, so that a proxy's bare `429` still slows the client down.
pub(crate) fn retry_after(value: Option<&str>) -> Duration {
    value
        .and_then(|seconds| seconds.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), |seconds| {
            Duration::from_secs(seconds.clamp(1, 300))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_and_stay_under_their_ceiling() {
        let retry = Retry {
            base: Duration::from_millis(100),
            max_pause: Duration::from_millis(350),
            ..Retry::default()
        };
        for _ in 0..100 {
            assert!(retry.pause(2) <= Duration::from_millis(100));
            assert!(retry.pause(3) <= Duration::from_millis(200));
            assert!(retry.pause(9) <= Duration::from_millis(350));
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds_with_a_floor_and_a_ceiling() {
        assert_eq!(retry_after(Some("7")), Duration::from_secs(7));
        assert_eq!(retry_after(Some("0")), Duration::from_secs(1));
        assert_eq!(retry_after(Some("soon")), Duration::from_secs(1));
        assert_eq!(retry_after(None), Duration::from_secs(1));
        assert_eq!(retry_after(Some("86400")), Duration::from_secs(300));
    }
}
