//! Redis fixed-window counters: one atomic script per hit, so every instance sees one count.

use std::fmt;
use std::time::Duration;

use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Decision, Quota, RateLimitError};

/// Increments the counter and starts its window on the first hit, atomically; returns the
/// count and the window's remaining milliseconds.
const HIT_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

/// Gives back one hit: decrements a live counter that is above zero, keeping its expiry.
const REFUND_SCRIPT: &str = r"
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then
  redis.call('DECR', KEYS[1])
end
return 0
";

/// Counters in Redis under `<prefix>:rl:<scope>:<key>`.
#[derive(Clone)]
pub struct RedisRateLimiter {
    connection: ConnectionManager,
    prefix: String,
    script: Script,
    refund: Script,
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// Connects to `url` (reconnecting automatically); keys start with `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, RateLimitError> {
        Ok(Self::with_connection(connect(url).await?, prefix))
    }

    /// Uses an existing connection manager.
    pub fn with_connection(connection: ConnectionManager, prefix: &str) -> Self {
        Self {
            connection,
            prefix: prefix.to_owned(),
            script: Script::new(HIT_SCRIPT),
            refund: Script::new(REFUND_SCRIPT),
        }
    }

    fn key(&self, scope: &str, key: &str) -> String {
        format!("{}:rl:{scope}:{key}", self.prefix)
    }

    /// Counts one hit.
    pub async fn hit(&self, scope: &str, key: &str, quota: Quota) -> Result<Decision, RateLimitError> {
        let window_ms = u64::try_from(quota.window.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut connection = self.connection.clone();
        let (count, ttl_ms): (u64, i64) =
            self.script.key(self.key(scope, key)).arg(window_ms).invoke_async(&mut connection).await?;
        let ttl = Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(window_ms));
        Ok(Decision::from_count(count, quota, ttl))
    }

    /// Gives back one hit of a live window (never below zero; DECR keeps the key's expiry).
    pub async fn refund(&self, scope: &str, key: &str) -> Result<(), RateLimitError> {
        let mut connection = self.connection.clone();
        let _: i64 = self.refund.key(self.key(scope, key)).invoke_async(&mut connection).await?;
        Ok(())
    }

    /// Forgets a counter.
    pub async fn reset(&self, scope: &str, key: &str) -> Result<(), RateLimitError> {
        let mut connection = self.connection.clone();
        redis::cmd("DEL").arg(self.key(scope, key)).exec_async(&mut connection).await?;
        Ok(())
    }
}

/// Connects with bounded retries and timeouts, so an unreachable Redis is reported within
/// seconds instead of being retried for minutes; later drops are reconnected automatically.
pub(crate) async fn connect(url: &str) -> redis::RedisResult<ConnectionManager> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_number_of_retries(2)
        .set_max_delay(500)
        .set_connection_timeout(Duration::from_secs(2))
        .set_response_timeout(Duration::from_secs(2));
    ConnectionManager::new_with_config(client, config).await
}
