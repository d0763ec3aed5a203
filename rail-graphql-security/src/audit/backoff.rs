//! Exponential back-off with full jitter, shared by the sink workers and the webhook sink.

use std::time::Duration;

use rand::Rng;

/// `delay(n)` is uniform in `[0, min(max, initial * 2^(n-1))]` ("full jitter"), so many
/// instances retrying against one recovering endpoint do not stampede it in lock-step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max: max.max(initial) }
    }

    /// The delay before retry number `attempt` (1-based).
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let exp = self.initial.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let cap = exp.min(self.max);
        let millis = cap.as_millis().max(1) as u64;
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_and_stay_under_the_cap() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        for attempt in 1..40 {
            let cap = (100u64 << (attempt - 1).min(20)).min(2000);
            for _ in 0..50 {
                assert!(b.delay(attempt) <= Duration::from_millis(cap), "attempt {attempt}");
            }
        }
        // Jitter: not every delay is the cap.
        let delays: std::collections::HashSet<_> = (0..50).map(|_| b.delay(10)).collect();
        assert!(delays.len() > 1);
    }
}
