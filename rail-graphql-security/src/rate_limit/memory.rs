//! In-memory GCRA state, one theoretical arrival time per key.
//!
//! This is GCRA written out over a `DashMap` rather than the `governor` crate: a keyed
//! `governor` limiter fixes one quota per limiter (here every call brings its own), cannot give
//! a cell back (the login limiter refunds a successful attempt's address slot), and hides the
//! TAT the honest `count` and the once-per-window refusal mark are computed from. The arithmetic
//! is the one the Redis script runs, so both stores decide alike.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;

use super::{Clock, Decision, Quota, SystemClock};

/// Entries kept before expired ones are swept (bounds memory under a flood of new keys).
const SWEEP_EVERY: u64 = 4096;

/// In-process limiter: exact under concurrency (each key is updated under its shard's lock),
/// expired state swept as new keys arrive.
#[derive(Debug, Clone, Default)]
pub struct MemoryRateLimiter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cells: DashMap<(String, String), Cell>,
    inserts: AtomicU64,
    clock: Box<dyn Clock>,
}

impl Default for Inner {
    fn default() -> Self {
        Self { cells: DashMap::new(), inserts: AtomicU64::new(0), clock: Box::new(SystemClock) }
    }
}

/// One key's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cell {
    /// Theoretical arrival time: when every counted hit will have been forgotten.
    tat: Instant,
    /// The emission interval of the last hit (what a refund gives back).
    interval: Duration,
    /// Until when refusals are not reported again.
    quiet_until: Option<Instant>,
}

impl Cell {
    fn new(now: Instant, quota: Quota) -> Self {
        Self { tat: now, interval: quota.emission_interval(), quiet_until: None }
    }

    fn expired(&self, now: Instant) -> bool {
        self.tat <= now && self.quiet_until.is_none_or(|q| q <= now)
    }
}

/// One GCRA step at `now`: updates `cell` and decides on `cost` hits.
pub(super) fn step(cell: &mut Cell, now: Instant, quota: Quota, cost: u32) -> Decision {
    let interval = quota.emission_interval();
    cell.interval = interval;
    let tolerance = interval.saturating_mul(quota.limit);
    let base = cell.tat.max(now);
    let backlog = base - now;
    let weight = interval.checked_mul(cost);
    if let Some(weight) = weight
        && backlog + weight <= tolerance
    {
        cell.tat = base + weight;
        let spare = tolerance - (backlog + weight);
        let remaining = spare.as_nanos() / interval.as_nanos();
        return Decision::Allowed { remaining: u32::try_from(remaining).unwrap_or(u32::MAX) };
    }
    let retry_after = match weight {
        Some(weight) if quota.limit > 0 && weight <= tolerance => backlog + weight - tolerance,
        _ => quota.window,
    };
    let first_refusal = cell.quiet_until.is_none_or(|q| q <= now);
    if first_refusal {
        cell.quiet_until = Some(now + quota.window);
    }
    let counted = backlog.as_nanos().div_ceil(interval.as_nanos());
    Decision::Limited {
        count: u64::try_from(counted).unwrap_or(u64::MAX).saturating_add(u64::from(cost)),
        retry_after,
        first_refusal,
    }
}

impl MemoryRateLimiter {
    /// An empty limiter on the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty limiter reading the time from `clock` (a [`ManualClock`](super::ManualClock)
    /// in tests).
    pub fn with_clock(clock: impl Clock) -> Self {
        Self { inner: Arc::new(Inner { clock: Box::new(clock), ..Inner::default() }) }
    }

    /// Counts one hit.
    pub fn hit(&self, scope: &str, key: &str, quota: Quota) -> Decision {
        self.hit_n(scope, key, quota, 1)
    }

    /// Counts `cost` hits at once, all or none.
    pub fn hit_n(&self, scope: &str, key: &str, quota: Quota, cost: u32) -> Decision {
        let now = self.inner.clock.now();
        let (decision, inserted) = {
            let mut inserted = false;
            let mut entry = self.inner.cells.entry((scope.to_owned(), key.to_owned())).or_insert_with(|| {
                inserted = true;
                Cell::new(now, quota)
            });
            (step(&mut entry, now, quota, cost), inserted)
        };
        if inserted && self.inner.inserts.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(now);
        }
        decision
    }

    /// Gives back one hit: moves the TAT one emission interval back, never before now.
    pub fn refund(&self, scope: &str, key: &str) {
        let now = self.inner.clock.now();
        if let Some(mut cell) = self.inner.cells.get_mut(&(scope.to_owned(), key.to_owned()))
            && cell.tat > now
        {
            cell.tat = cell.tat.checked_sub(cell.interval).unwrap_or(now).max(now);
        }
    }

    /// Forgets a key.
    pub fn reset(&self, scope: &str, key: &str) {
        self.inner.cells.remove(&(scope.to_owned(), key.to_owned()));
    }

    /// How many keys are held (expired ones included until the next sweep).
    pub fn len(&self) -> usize {
        self.inner.cells.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.inner.cells.is_empty()
    }

    /// Drops every key whose hits are all forgotten.
    pub fn sweep_expired(&self) {
        self.sweep(self.inner.clock.now());
    }

    fn sweep(&self, now: Instant) {
        self.inner.cells.retain(|_, cell| !cell.expired(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Offers one hit at each of `times` (milliseconds from a start) and returns the allowed ones.
    fn allowed_at(quota: Quota, times: impl IntoIterator<Item = u64>) -> Vec<u64> {
        let start = Instant::now();
        let mut cell = Cell::new(start, quota);
        times.into_iter().filter(|t| step(&mut cell, start + MS * (*t as u32), quota, 1).is_allowed()).collect()
    }

    #[test]
    fn the_fixed_window_double_burst_at_a_boundary_is_refused() {
        // 10 per second. A fixed window let 10 through at 999 ms and 10 more at 1000 ms.
        let quota = Quota::new(10, Duration::from_secs(1));
        let times = std::iter::repeat_n(999, 10).chain(std::iter::repeat_n(1000, 10));
        assert_eq!(allowed_at(quota, times).len(), 10);
    }

    #[test]
    fn no_interval_admits_more_than_the_burst_plus_what_it_refills() {
        // An attacker hitting every 7 ms for 5 s against 10 per second (one per 100 ms).
        let quota = Quota::new(10, Duration::from_secs(1));
        let allowed = allowed_at(quota, (0..5000).step_by(7));
        for (i, &start) in allowed.iter().enumerate() {
            for length in [1, 50, 100, 999, 1000, 2500] {
                let inside = allowed[i..].iter().take_while(|&&t| t < start + length).count() as u64;
                // A half-open interval of length L holds at most limit + ceil(L / interval) - 1.
                let bound = 10 + length.div_ceil(100) - 1;
                assert!(inside <= bound, "{inside} hits in [{start}, {start}+{length}) ms, bound {bound}");
            }
        }
        // And over time the rate is the quota's: 10 at once, then one per 100 ms.
        assert!((58..=60).contains(&allowed.len()), "{}", allowed.len());
    }

    #[test]
    fn a_cost_takes_several_hits_at_once_and_never_more_than_the_limit() {
        let start = Instant::now();
        let quota = Quota::new(5, Duration::from_secs(50));
        let mut cell = Cell::new(start, quota);
        assert_eq!(step(&mut cell, start, quota, 3), Decision::Allowed { remaining: 2 });
        let refused = step(&mut cell, start, quota, 3);
        let Decision::Limited { count, retry_after, first_refusal: true } = refused else { panic!("{refused:?}") };
        assert_eq!((count, retry_after), (6, Duration::from_secs(10)));
        assert_eq!(step(&mut cell, start, quota, 2), Decision::Allowed { remaining: 0 });
        let too_big = step(&mut Cell::new(start, quota), start, quota, 6);
        assert_eq!(too_big.retry_after(), Some(quota.window), "a cost over the limit never fits");
    }

    #[test]
    fn refusals_are_reported_once_per_window() {
        let start = Instant::now();
        let quota = Quota::new(1, Duration::from_secs(10));
        let mut cell = Cell::new(start, quota);
        assert!(step(&mut cell, start, quota, 1).is_allowed());
        let firsts: Vec<bool> = [0, 1, 5, 9]
            .into_iter()
            .map(|s| step(&mut cell, start + Duration::from_secs(s), quota, 1).is_first_refusal())
            .collect();
        assert_eq!(firsts, [true, false, false, false]);
        let later = start + Duration::from_secs(10);
        assert!(step(&mut cell, later, quota, 1).is_allowed());
        assert!(step(&mut cell, later, quota, 1).is_first_refusal(), "a new window reports again");
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
    fn expired_state_is_swept() {
        let clock = crate::rate_limit::ManualClock::new();
        let limiter = MemoryRateLimiter::with_clock(clock.clone());
        let quota = Quota::new(1, Duration::from_millis(1));
        for i in 0..100 {
            limiter.hit("s", &i.to_string(), quota);
        }
        limiter.sweep_expired();
        assert_eq!(limiter.len(), 100, "nothing has expired yet");
        clock.advance(Duration::from_millis(5));
        limiter.sweep_expired();
        assert!(limiter.is_empty());
    }
}
