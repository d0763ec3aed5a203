//! Local leases on the Redis limiter: an instance takes several hits of a busy key from Redis
//! in one round trip and spends them in process.
//!
//! A lease is counted in Redis when it is taken, like that many hits, and lives for the lease
//! lifetime `L`; the hits left when it ends are given back in the key's next round trip. So:
//!
//! - **Overshoot.** A hit is counted at most `L` before it is served, so over any span of time
//!   the instances together admit at most what the exact limiter admits over the span plus `L`:
//!   at most `limit × L / window` (rounded up) hits more, on top of the GCRA's own bounds. With
//!   the request limit's defaults (1,000 per hour) and `L` = 100 ms that is one hit.
//! - **Under-admission.** A client spread over `N` instances can be refused while up to
//!   `(N − 1) × max(1, limit / 100)` of its hits sit in the other instances' leases, for at
//!   most `L`. Leftovers an instance never gives back (its key went quiet, or it stopped) stay
//!   counted until the GCRA forgets them, one emission interval each.
//! - **Size.** A key's first lease is one hit (a key seen once costs the same round trip as
//!   without leases). A lease spent before it ends doubles the next one, up to 1 % of the limit;
//!   one that ends with hits left shrinks the next to what was used. One request of a key at a
//!   time takes a lease; the key's other misses meanwhile ask Redis for their own hit only, so
//!   a burst of concurrent requests does not take a lease each and strand the surplus.
//! - **Refusals.** A refusal from Redis is remembered for `min(retry_after, L)` (for hits of at
//!   least the refused cost), so a client over its limit is refused in process, without a round
//!   trip per request (the first refusal of a window is still Redis's, and still audited once).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use dashmap::DashMap;

use super::{Decision, Quota};

/// Keys holding a lease (or a remembered refusal) before new keys are served exactly: bounds
/// memory under a flood of client addresses.
const MAX_KEYS: usize = 10_000;

/// The largest lease, as a share of the limit.
const LEASE_SHARE: u32 = 100;

/// How long a lease request that never came back (its future dropped) keeps the key's other
/// requests from asking for a lease, at least.
const ASK_TIMEOUT: Duration = Duration::from_secs(1);

/// The leases of one limiter, keyed by the Redis key.
#[derive(Debug)]
pub(super) struct Leases {
    lifetime: Duration,
    table: DashMap<String, Lease>,
    last_sweep: Mutex<Instant>,
}

#[derive(Debug)]
struct Lease {
    quota: Quota,
    /// Hits taken from Redis and not yet spent.
    tokens: u32,
    /// Hits taken for the current lease (what `tokens` started from).
    granted: u32,
    /// When the unspent hits must be given back.
    expires: Instant,
    /// The size of the next lease.
    want: u32,
    /// A refusal from Redis.
    refused: Option<Refusal>,
    /// Since when a request of this key is asking Redis for a lease: one at a time, so that
    /// concurrent misses do not each take a lease and strand the surplus.
    asking: Option<Instant>,
}

/// A refusal from Redis, repeated in process until `until` for hits of at least its cost.
#[derive(Debug, Clone, Copy)]
struct Refusal {
    until: Instant,
    retry_at: Instant,
    count: u64,
    cost: u32,
}

/// What the leases decide before Redis is asked.
#[derive(Debug)]
pub(super) enum Local {
    /// Decided in process.
    Decided(Decision),
    /// Ask Redis for `want` hits (at least the cost), giving `giveback` unspent ones back;
    /// `lease` when this ask takes the key's lease (report its answer with `lease` too).
    Ask { want: u32, giveback: u32, lease: bool },
}

impl Leases {
    pub(super) fn new(lifetime: Duration) -> Self {
        Self { lifetime, table: DashMap::new(), last_sweep: Mutex::new(Instant::now()) }
    }

    pub(super) fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Spends `cost` hits of `key` from its lease, or says what to ask Redis for.
    pub(super) fn decide(&self, key: &str, quota: Quota, cost: u32, now: Instant) -> Local {
        let exact = Local::Ask { want: cost, giveback: 0, lease: false };
        let Some(mut lease) = self.table.get_mut(key) else {
            return exact;
        };
        if lease.quota != quota {
            // Hits counted under another quota are not given back under this one (counted until
            // forgotten: the safe side).
            *lease = Lease::empty(quota, cost, now);
            return exact;
        }
        if let Some(refusal) = lease.refused {
            if refusal.until <= now {
                lease.refused = None;
            } else if cost >= refusal.cost {
                let extra = cost - refusal.cost;
                let wait = refusal.retry_at.saturating_duration_since(now) + quota.emission_interval() * extra;
                let retry_after = wait.max(Duration::from_micros(1)).min(quota.window);
                let count = refusal.count + u64::from(extra);
                return Local::Decided(Decision::Limited { count, retry_after, first_refusal: false });
            }
        }
        let cap = (quota.limit / LEASE_SHARE).max(1);
        if lease.expires > now && lease.tokens >= cost {
            lease.tokens -= cost;
            return Local::Decided(Decision::Allowed { remaining: lease.tokens });
        }
        if lease.asking.is_some_and(|since| now.saturating_duration_since(since) < self.lifetime.max(ASK_TIMEOUT)) {
            // Another request is taking the lease: this hit asks for itself alone.
            return exact;
        }
        lease.asking = Some(now);
        if lease.expires > now {
            // Spent before its end: the key is busy.
            lease.want = lease.want.saturating_mul(2).min(cap);
        } else {
            let used = lease.granted.saturating_sub(lease.tokens);
            lease.want = used.clamp(1, cap);
        }
        let giveback = std::mem::take(&mut lease.tokens);
        Local::Ask { want: lease.want.max(cost), giveback, lease: true }
    }

    /// A lease ask that got no answer (Redis failed): the next miss may ask again.
    pub(super) fn abandon(&self, key: &str) {
        if let Some(mut lease) = self.table.get_mut(key) {
            lease.asking = None;
        }
    }

    /// Records Redis's answer to a [`Local::Ask`] sent at `sent` (`lease`: the ask's own
    /// flag): the decision on `cost` hits and the `granted` hits counted for them (the cost
    /// included).
    #[expect(clippy::too_many_arguments, reason = "the ask and its answer, as the Redis limiter holds them")]
    pub(super) fn record(
        &self,
        key: String,
        quota: Quota,
        cost: u32,
        sent: Instant,
        lease_ask: bool,
        decision: &Decision,
        granted: u32,
    ) {
        let existed = self.table.contains_key(&key);
        if !existed && !self.room(sent) {
            // Without an entry the next hit of this key asks for its cost only: nothing leased
            // is stranded.
            return;
        }
        let lifetime = self.lifetime;
        let mut lease = self.table.entry(key).or_insert_with(|| Lease::empty(quota, cost, sent));
        if lease.quota != quota {
            *lease = Lease::empty(quota, cost, sent);
        }
        if lease_ask {
            lease.asking = None;
        }
        match *decision {
            Decision::Allowed { .. } => {
                lease.refused = None;
                if existed && !lease_ask {
                    // A hit that asked for itself alone while another request took the lease.
                    return;
                }
                let spare = granted.saturating_sub(cost);
                if lease.expires > sent && lease.tokens > 0 {
                    // Another request's lease arrived first: keep its (earlier) end for both.
                    lease.tokens = lease.tokens.saturating_add(spare);
                    lease.granted = lease.granted.saturating_add(granted);
                } else {
                    lease.tokens = spare;
                    lease.granted = granted;
                    lease.expires = sent + lifetime;
                }
            }
            Decision::Limited { count, retry_after, .. } => {
                let until = sent + retry_after.min(lifetime);
                lease.refused = Some(Refusal { until, retry_at: sent + retry_after, count, cost });
            }
        }
    }

    /// Forgets `key`'s lease (its hits are reset in Redis).
    pub(super) fn forget(&self, key: &str) {
        self.table.remove(key);
    }

    /// Whether a new key may be added: below [`MAX_KEYS`], after sweeping ended entries at most
    /// once per lifetime (every entry ends within one lifetime of its last round trip).
    fn room(&self, now: Instant) -> bool {
        if self.table.len() < MAX_KEYS {
            return true;
        }
        let mut last = self.last_sweep.lock().unwrap_or_else(PoisonError::into_inner);
        if now.saturating_duration_since(*last) >= self.lifetime {
            *last = now;
            drop(last);
            self.table.retain(|_, lease| lease.expires > now || lease.refused.is_some_and(|r| r.until > now));
        }
        self.table.len() < MAX_KEYS
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.len()
    }
}

impl Lease {
    fn empty(quota: Quota, cost: u32, now: Instant) -> Self {
        Self { quota, tokens: 0, granted: 0, expires: now, want: cost.max(1), refused: None, asking: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUOTA: Quota = Quota { limit: 1_000, window: Duration::from_secs(60) };

    fn ask(leases: &Leases, now: Instant) -> (u32, u32) {
        match leases.decide("k", QUOTA, 1, now) {
            Local::Ask { want, giveback, .. } => (want, giveback),
            Local::Decided(d) => panic!("decided locally: {d:?}"),
        }
    }

    #[test]
    fn a_busy_key_doubles_its_lease_up_to_the_cap_and_a_quiet_one_shrinks_it() {
        let leases = Leases::new(Duration::from_millis(100));
        let t0 = Instant::now();
        let (mut want, giveback) = ask(&leases, t0);
        assert_eq!((want, giveback), (1, 0), "a new key asks for its cost only");
        let mut wants = Vec::new();
        for _ in 0..12 {
            // Redis grants the whole want; the lease is spent until the next round trip.
            leases.record("k".into(), QUOTA, 1, t0, true, &Decision::Allowed { remaining: 0 }, want);
            let (next, giveback) = loop {
                match leases.decide("k", QUOTA, 1, t0) {
                    Local::Decided(Decision::Allowed { .. }) => {}
                    Local::Ask { want, giveback, .. } => break (want, giveback),
                    other => panic!("{other:?}"),
                }
            };
            assert_eq!(giveback, 0, "a spent lease has nothing to give back");
            wants.push(next);
            want = next;
        }
        assert_eq!(wants, [2, 4, 8, 10, 10, 10, 10, 10, 10, 10, 10, 10], "doubling, capped at 1 % of the limit");
        // A lease of 10 (9 after the hit that took it) ends with 7 unspent: they are given back
        // and the next lease is the 3 that were used.
        leases.record("k".into(), QUOTA, 1, t0, true, &Decision::Allowed { remaining: 0 }, 10);
        for _ in 0..2 {
            assert!(matches!(leases.decide("k", QUOTA, 1, t0), Local::Decided(Decision::Allowed { .. })));
        }
        assert_eq!(ask(&leases, t0 + Duration::from_millis(150)), (3, 7));
    }

    #[test]
    fn one_request_at_a_time_takes_a_key_s_lease() {
        let leases = Leases::new(Duration::from_millis(100));
        let t0 = Instant::now();
        leases.record("k".into(), QUOTA, 1, t0, false, &Decision::Allowed { remaining: 0 }, 1);
        // The lease is spent: the first miss takes the next lease, the misses while it is out
        // ask for themselves alone, and nothing is given back twice.
        assert!(matches!(leases.decide("k", QUOTA, 1, t0), Local::Ask { want: 2, giveback: 0, lease: true }));
        for _ in 0..5 {
            assert!(matches!(leases.decide("k", QUOTA, 1, t0), Local::Ask { want: 1, giveback: 0, lease: false }));
            leases.record("k".into(), QUOTA, 1, t0, false, &Decision::Allowed { remaining: 0 }, 1);
        }
        leases.record("k".into(), QUOTA, 1, t0, true, &Decision::Allowed { remaining: 0 }, 2);
        assert!(matches!(leases.decide("k", QUOTA, 1, t0), Local::Decided(Decision::Allowed { remaining: 0 })));
        // A lease ask that never came back holds the others off for a second at most.
        assert!(matches!(leases.decide("k", QUOTA, 1, t0), Local::Ask { lease: true, .. }));
        assert!(matches!(leases.decide("k", QUOTA, 1, t0), Local::Ask { lease: false, .. }));
        assert!(matches!(leases.decide("k", QUOTA, 1, t0 + ASK_TIMEOUT), Local::Ask { lease: true, .. }));
        leases.abandon("k");
        assert!(matches!(leases.decide("k", QUOTA, 1, t0 + ASK_TIMEOUT), Local::Ask { lease: true, .. }));
    }

    #[test]
    fn a_refusal_is_remembered_for_at_most_the_lifetime() {
        let leases = Leases::new(Duration::from_millis(100));
        let t0 = Instant::now();
        let refusal = Decision::Limited { count: 1_001, retry_after: Duration::from_secs(5), first_refusal: true };
        leases.record("k".into(), QUOTA, 1, t0, true, &refusal, 0);
        match leases.decide("k", QUOTA, 1, t0 + Duration::from_millis(40)) {
            Local::Decided(Decision::Limited { count, retry_after, first_refusal }) => {
                assert_eq!(count, 1_001);
                assert_eq!(retry_after, Duration::from_millis(4_960));
                assert!(!first_refusal, "only Redis marks the first refusal");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(leases.decide("k", QUOTA, 1, t0 + Duration::from_millis(100)), Local::Ask { .. }));
    }

    #[test]
    fn new_keys_beyond_the_cap_are_served_exactly() {
        let leases = Leases::new(Duration::from_millis(100));
        let t0 = Instant::now();
        for i in 0..MAX_KEYS {
            leases.record(format!("k{i}"), QUOTA, 1, t0, false, &Decision::Allowed { remaining: 0 }, 1);
        }
        leases.record("late".into(), QUOTA, 1, t0, false, &Decision::Allowed { remaining: 0 }, 1);
        assert_eq!(leases.len(), MAX_KEYS, "no room while every lease is live");
        assert!(matches!(leases.decide("late", QUOTA, 1, t0), Local::Ask { want: 1, giveback: 0, lease: false }));
        // Once the leases have ended, a sweep makes room.
        let later = t0 + Duration::from_millis(200);
        leases.record("late".into(), QUOTA, 1, later, false, &Decision::Allowed { remaining: 0 }, 1);
        assert_eq!(leases.len(), 1);
    }
}
