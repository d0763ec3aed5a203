//! Rate limiting: fixed-window counters in memory or in Redis (feature `redis`), so N instances
//! sharing one Redis behave as one.
//!
//! [`RateLimiter`] counts hits per `(scope, key)`: at most `limit` hits per `window`, the window
//! starting at the first hit. [`LoginRateLimiter`] applies the login limits (per username and
//! per client address) and audits every refusal as `rate_limit_exceeded`. The HTTP layer uses
//! the same limiter for GraphQL requests per client.
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

mod login;
mod memory;
#[cfg(feature = "redis")]
pub(crate) mod redis;

pub use self::login::{LoginLimitError, LoginRateLimiter};
pub use self::memory::MemoryRateLimiter;
#[cfg(feature = "redis")]
pub use self::redis::RedisRateLimiter;

/// At most `limit` hits per `window`.
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
}

/// The outcome of one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; `remaining` more hits fit in this window.
    Allowed {
        /// Hits left in the window.
        remaining: u32,
    },
    /// Refused until the window ends.
    Limited {
        /// Hits counted in this window, this one included.
        count: u64,
        /// How long until the window ends.
        retry_after: Duration,
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

    fn from_count(count: u64, quota: Quota, ttl: Duration) -> Self {
        if count <= u64::from(quota.limit) {
            Self::Allowed { remaining: (u64::from(quota.limit) - count) as u32 }
        } else {
            Self::Limited { count, retry_after: ttl.max(Duration::from_millis(1)) }
        }
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

    /// A Redis limiter on `url` whose keys start with `prefix`.
    #[cfg(feature = "redis")]
    pub async fn redis(url: &str, prefix: &str) -> Result<Self, RateLimitError> {
        Ok(Self::Redis(RedisRateLimiter::connect(url, prefix).await?))
    }

    /// Counts one hit for `key` in `scope` (e.g. `login_ip`, `graphql`) and decides.
    pub async fn hit(&self, scope: &str, key: &str, quota: Quota) -> Result<Decision, RateLimitError> {
        match self {
            Self::Memory(m) => Ok(m.hit(scope, key, quota)),
            #[cfg(feature = "redis")]
            Self::Redis(r) => r.hit(scope, key, quota).await,
        }
    }

    /// Gives back one hit of `key` in `scope` in the current window (never below zero; nothing
    /// when the window has ended): an attempt that turned out legitimate no longer counts.
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

    /// Forgets the counter for `key` in `scope` (e.g. after an administrator unlocks a user).
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
