//! Where the in-memory limiter reads the time: the system's monotonic clock, or a clock a test
//! moves by hand so a window can pass without waiting for it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic time source for [`MemoryRateLimiter`](super::MemoryRateLimiter) (the Redis
/// limiter reads Redis's own clock, so that instances with skewed clocks agree).
///
/// Called once per hit: keep it cheap and allocation-free.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant; never earlier than an instant it returned before.
    fn now(&self) -> Instant;
}

/// The system's monotonic clock ([`Instant::now`]): the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that stands still until [`advance`](Self::advance)d: for tests of windows and
/// retry delays that should not sleep. Clones share the same time.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use rail_graphql_security::rate_limit::{ManualClock, Quota, RateLimiter};
///
/// let clock = ManualClock::new();
/// let limiter = RateLimiter::memory_with_clock(clock.clone());
/// let quota = Quota::new(1, Duration::from_secs(900));
/// assert!(limiter.hit("login_ip", "203.0.113.9", quota).await.unwrap().is_allowed());
/// assert!(!limiter.hit("login_ip", "203.0.113.9", quota).await.unwrap().is_allowed());
/// clock.advance(Duration::from_secs(900));
/// assert!(limiter.hit("login_ip", "203.0.113.9", quota).await.unwrap().is_allowed());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: Instant,
    elapsed_nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at the moment it was made.
    pub fn new() -> Self {
        Self { start: Instant::now(), elapsed_nanos: Arc::default() }
    }

    /// Moves the clock forward by `by` (saturating after about 584 years).
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // `fetch_update` with a saturating add: an overflow must not wrap time backwards.
        let _ = self.elapsed_nanos.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| Some(t.saturating_add(nanos)));
    }

    /// How far the clock has been advanced.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.elapsed_nanos.load(Ordering::SeqCst))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }
}
