//! Rate limiting with the generic cell rate algorithm (GCRA), in memory or in Redis (feature
//! `redis`), so N instances sharing one Redis behave as one.
//!
//! [`RateLimiter`] limits hits per `(scope, key)` to a [`Quota`] of `limit` per `window`: a
//! burst of at most `limit` hits, refilled at one hit per `window / limit` (the *emission
//! interval*). The state is one instant per key, the *theoretical arrival time* (TAT): a hit of
//! cost `n` is allowed when `max(TAT, now) + n × interval` is at most `limit × interval` ahead
//! of now, and then becomes the new TAT. Unlike the fixed window it replaces, which let `limit`
//! hits through just before a window's end and `limit` more just after, no instant admits more
//! than `limit` hits and an interval of length `k × interval` admits at most `limit + k`; over
//! time the rate is `limit` per `window`. The memory store and the Redis script run the same
//! arithmetic (Redis on its own clock, `TIME`, so instances with skewed clocks agree).
//!
//! [`LoginRateLimiter`] applies the login limits (per username and per client address) and
//! audits the first refusal of each window as `rate_limit_exceeded`. The HTTP layer uses the
//! same limiter for GraphQL requests per client, the MFA manager for SMS quotas, and
//! [`enforce_resolver`] for `#[rate_limit]` on resolvers.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! use rail_graphql_security::rate_limit::{Quota, RateLimiter};
//!
//! let limiter = RateLimiter::memory();
//! let quota = Quota::new(2, Duration::from_secs(60));
//! assert!(limiter.hit("login_user", "alice", quota).await.unwrap().is_allowed());
//! assert!(limiter.hit("login_user", "alice", quota).await.unwrap().is_allowed());
//! let third = limiter.hit("login_user", "alice", quota).await.unwrap();
//! assert!(third.retry_after().unwrap() <= Duration::from_secs(60));
//! # }
//! ```

use std::time::Duration;

mod clock;
mod field;
#[cfg(feature = "redis")]
mod lease;
mod login;
mod memory;
#[cfg(feature = "redis")]
pub(crate) mod redis;

pub use self::clock::{Clock, ManualClock, SystemClock};
pub use self::field::{
    FieldLimit, FieldLimitError, LimitKey, enforce_resolver, enforce_resolver_in, reset_resolver_limit,
};
pub use self::login::{LoginLimitError, LoginRateLimiter};
pub use self::memory::MemoryRateLimiter;
#[cfg(feature = "redis")]
pub use self::redis::RedisRateLimiter;

/// At most `limit` hits per `window`: a burst of `limit`, then one hit per
/// [`emission_interval`](Self::emission_interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Hits allowed per window (0 refuses everything).
    pub limit: u32,
    /// The window's length.
    pub window: Duration,
}

impl Quota {
    /// `limit` hits per `window` (a window under one millisecond counts as one millisecond).
    pub fn new(limit: u32, window: Duration) -> Self {
        Self { limit, window: window.max(Duration::from_millis(1)) }
    }

    /// `window / limit`: how long one hit takes to be forgotten (at least a nanosecond; the
    /// whole window for a zero limit, which refuses everything anyway).
    pub fn emission_interval(&self) -> Duration {
        match self.limit {
            0 => self.window,
            limit => (self.window / limit).max(Duration::from_nanos(1)),
        }
    }
}

/// The outcome of one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; `remaining` more hits would be allowed right now.
    Allowed {
        /// Hits that still fit in the burst.
        remaining: u32,
    },
    /// Refused (and not counted).
    Limited {
        /// Hits still counted against the key (those not yet forgotten at one per emission
        /// interval), this one included: `limit + cost` right after a full burst.
        count: u64,
        /// How long until a hit of the same cost would be allowed (the whole window when it
        /// never can be: a zero limit, or a cost above the limit).
        retry_after: Duration,
        /// Whether this is the key's first refusal for a window: audit it, and not the refusals
        /// that follow within `window` of it, so an attack cannot flood the audit log.
        first_refusal: bool,
    },
}

impl Decision {
    /// Whether the hit was allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }

    /// For a refusal, how long to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Limited { retry_after, .. } => Some(*retry_after),
            Self::Allowed { .. } => None,
        }
    }

    /// Whether this refusal is the first of its window (see [`Decision::Limited`]).
    pub fn is_first_refusal(&self) -> bool {
        matches!(self, Self::Limited { first_refusal: true, .. })
    }
}

/// Why a limiter could not decide.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// Redis could not be reached or refused the script.
    #[cfg(feature = "redis")]
    #[error("rate limit store (Redis) failed: {0}; check REDIS_URL and that Redis is up")]
    Redis(#[from] ::redis::RedisError),
}

/// A rate limiter: in memory (one process) or Redis (shared by every instance).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RateLimiter {
    /// In-process counters.
    Memory(MemoryRateLimiter),
    /// Counters in Redis.
    #[cfg(feature = "redis")]
    Redis(RedisRateLimiter),
}

impl RateLimiter {
    /// An in-memory limiter.
    pub fn memory() -> Self {
        Self::Memory(MemoryRateLimiter::new())
    }

    /// An in-memory limiter reading the time from `clock` (a [`ManualClock`] in tests).
    pub fn memory_with_clock(clock: impl Clock) -> Self {
        Self::Memory(MemoryRateLimiter::with_clock(clock))
    }

    /// A Redis limiter on `url` whose keys start with `prefix`.
    #[cfg(feature = "redis")]
    pub async fn redis(url: &str, prefix: &str) -> Result<Self, RateLimitError> {
        Ok(Self::Redis(RedisRateLimiter::connect(url, prefix).await?))
    }

    /// A copy that serves busy keys from hits leased from Redis in process for at most
    /// `lifetime`, within the bounds [`RedisRateLimiter::with_local_leases`] states; the memory
    /// limiter (in process already) is returned as it is.
    pub fn with_local_leases(&self, lifetime: Duration) -> Self {
        match self {
            Self::Memory(_) => {
                let _in_process_already = lifetime;
                self.clone()
            }
            #[cfg(feature = "redis")]
            Self::Redis(r) => Self::Redis(r.with_local_leases(lifetime)),
        }
    }

    /// Counts one hit for `key` in `scope` (e.g. `login_ip`, `graphql`) and decides.
    pub async fn hit(&self, scope: &str, key: &str, quota: Quota) -> Result<Decision, RateLimitError> {
        self.hit_n(scope, key, quota, 1).await
    }

    /// Counts `cost` hits at once, all or none: an expensive operation may weigh several. A
    /// cost above `quota.limit` is always refused; a cost of 0 is always allowed.
    pub async fn hit_n(&self, scope: &str, key: &str, quota: Quota, cost: u32) -> Result<Decision, RateLimitError> {
        match self {
            Self::Memory(m) => Ok(m.hit_n(scope, key, quota, cost)),
            #[cfg(feature = "redis")]
            Self::Redis(r) => r.hit_n(scope, key, quota, cost).await,
        }
    }

    /// Gives back one hit of `key` in `scope` (one emission interval of its TAT, never below
    /// now; nothing when nothing is counted): an attempt that turned out legitimate no longer
    /// counts.
    pub async fn refund(&self, scope: &str, key: &str) -> Result<(), RateLimitError> {
        match self {
            Self::Memory(m) => {
                m.refund(scope, key);
                Ok(())
            }
            #[cfg(feature = "redis")]
            Self::Redis(r) => r.refund(scope, key).await,
        }
    }

    /// Forgets the state of `key` in `scope` (e.g. after an administrator unlocks a user).
    pub async fn reset(&self, scope: &str, key: &str) -> Result<(), RateLimitError> {
        match self {
            Self::Memory(m) => {
                m.reset(scope, key);
                Ok(())
            }
            #[cfg(feature = "redis")]
            Self::Redis(r) => r.reset(scope, key).await,
        }
    }
}

/// A bounded, injection-free storage key for an arbitrary identifier (a username may be long
/// or contain `:`): the hex SHA-256 of its [`crate::username::normalize`]d form (NFKC + case
/// fold), so every spelling a case- or accent-folding collation would match counts in one bucket.
pub(crate) fn hashed_identifier(identifier: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(crate::username::normalize(identifier).as_bytes()))
}
