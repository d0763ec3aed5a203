//! In-memory fixed-window counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use dashmap::DashMap;

use super::{Decision, Quota};

/// Entries kept before expired windows are swept (bounds memory under a flood of new keys).
const SWEEP_EVERY: u64 = 4096;

/// In-process counters: exact under concurrency (each key is updated under its shard's lock),
/// expired windows swept as new keys arrive.
#[derive(Debug, Clone, Default)]
pub struct MemoryRateLimiter {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    windows: DashMap<(String, String), Window>,
    inserts: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    ends: Instant,
    count: u64,
}

impl MemoryRateLimiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one hit.
    pub fn hit(&self, scope: &str, key: &str, quota: Quota) -> Decision {
        let now = Instant::now();
        let (count, ends, inserted) = {
            let mut inserted = false;
            let mut entry = self.inner.windows.entry((scope.to_owned(), key.to_owned())).or_insert_with(|| {
                inserted = true;
                Window { ends: now + quota.window, count: 0 }
            });
            if entry.ends <= now {
                *entry = Window { ends: now + quota.window, count: 0 };
            }
            entry.count += 1;
            (entry.count, entry.ends, inserted)
        };
        if inserted && self.inner.inserts.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(now);
        }
        Decision::from_count(count, quota, ends.saturating_duration_since(now))
    }

    /// Gives back one hit of a live window (never below zero).
    pub fn refund(&self, scope: &str, key: &str) {
        let now = Instant::now();
        if let Some(mut entry) = self.inner.windows.get_mut(&(scope.to_owned(), key.to_owned()))
            && entry.ends > now
        {
            entry.count = entry.count.saturating_sub(1);
        }
    }

    /// Forgets a counter.
    pub fn reset(&self, scope: &str, key: &str) {
        self.inner.windows.remove(&(scope.to_owned(), key.to_owned()));
    }

    /// How many counters are held (expired ones included until the next sweep).
    pub fn len(&self) -> usize {
        self.inner.windows.len()
    }

    /// Whether no counter is held.
    pub fn is_empty(&self) -> bool {
        self.inner.windows.is_empty()
    }

    /// Drops every expired window.
    pub fn sweep_expired(&self) {
        self.sweep(Instant::now());
    }

    fn sweep(&self, now: Instant) {
        self.inner.windows.retain(|_, w| w.ends > now);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_new_window_starts_after_the_old_one_ends() {
        let limiter = MemoryRateLimiter::new();
        let quota = Quota::new(1, Duration::from_millis(30));
        assert!(limiter.hit("s", "k", quota).is_allowed());
        assert!(matches!(limiter.hit("s", "k", quota), Decision::Limited { count: 2, .. }));
        std::thread::sleep(Duration::from_millis(40));
        assert!(limiter.hit("s", "k", quota).is_allowed());
    }

    #[test]
    fn a_refund_gives_back_one_hit_and_never_goes_below_zero() {
        let limiter = MemoryRateLimiter::new();
        let quota = Quota::new(1, Duration::from_secs(60));
        assert!(limiter.hit("s", "k", quota).is_allowed());
        limiter.refund("s", "k");
        limiter.refund("s", "k");
        assert!(limiter.hit("s", "k", quota).is_allowed());
        assert!(!limiter.hit("s", "k", quota).is_allowed());
    }

    #[test]
    fn expired_windows_are_swept() {
        let limiter = MemoryRateLimiter::new();
        let quota = Quota::new(1, Duration::from_millis(1));
        for i in 0..100 {
            limiter.hit("s", &i.to_string(), quota);
        }
        std::thread::sleep(Duration::from_millis(5));
        limiter.sweep_expired();
        assert!(limiter.is_empty());
    }
}
