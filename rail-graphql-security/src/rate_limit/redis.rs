//! Redis GCRA: one atomic script per hit on Redis's own clock, so every instance decides alike.

use std::fmt;
use std::time::Duration;

use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Decision, Quota, RateLimitError};

/// The GCRA step of `memory::step`, in microseconds on Redis's clock (`TIME`, allowed before
/// writes since Redis 5's effect replication), so instances with skewed clocks agree. State is
/// a hash: `tat` (theoretical arrival time), `iv` (emission interval, for refunds), `quiet`
/// (until when refusals are not reported again), expiring when all are past. Integers are
/// written with `%d`: Lua's default number format keeps 14 digits, too few for microseconds.
///
/// ARGV: emission interval, limit, cost, window (µs, µs-count, hits, µs). Returns
/// `{allowed, remaining | count, retry_after_us, first_refusal}`.
const HIT_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local tolerance = interval * limit
local state = redis.call('HMGET', KEYS[1], 'tat', 'quiet')
local tat = tonumber(state[1]) or now
local quiet = tonumber(state[2]) or 0
local base = math.max(tat, now)
local backlog = base - now
local weight = interval * cost
local function store(new_tat, new_quiet)
  redis.call('HSET', KEYS[1], 'tat', string.format('%d', new_tat), 'iv', string.format('%d', interval),
    'quiet', string.format('%d', new_quiet))
  redis.call('PEXPIRE', KEYS[1], math.floor((math.max(new_tat, new_quiet) - now) / 1000) + 1)
end
if backlog + weight <= tolerance then
  store(base + weight, quiet)
  return {1, math.floor((tolerance - backlog - weight) / interval), 0, 0}
end
local retry = window
if limit > 0 and weight <= tolerance then
  retry = backlog + weight - tolerance
end
local first = 0
if quiet <= now then
  first = 1
  store(tat, now + window)
end
return {0, math.ceil(backlog / interval) + cost, retry, first}
";

/// Gives back one hit: moves a future TAT one emission interval back, never before now.
const REFUND_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tat', 'iv')
local tat = tonumber(state[1])
local interval = tonumber(state[2])
if tat and interval and tat > now then
  redis.call('HSET', KEYS[1], 'tat', string.format('%d', math.max(tat - interval, now)))
end
return 0
";

/// GCRA state in Redis under `<prefix>:gcra:<scope>:<key>` (not the fixed window's former
/// `:rl:` counters, so a rolling upgrade never reads one format as the other).
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
        format!("{}:gcra:{scope}:{key}", self.prefix)
    }

    /// Counts one hit.
    pub async fn hit(&self, scope: &str, key: &str, quota: Quota) -> Result<Decision, RateLimitError> {
        self.hit_n(scope, key, quota, 1).await
    }

    /// Counts `cost` hits at once, all or none.
    pub async fn hit_n(&self, scope: &str, key: &str, quota: Quota, cost: u32) -> Result<Decision, RateLimitError> {
        // Whole microseconds (at least one); the script's tolerance is `limit` of them, so a
        // full burst always fits.
        let interval = micros(quota.emission_interval()).max(1);
        let window = micros(quota.window);
        let mut connection = self.connection.clone();
        let (allowed, amount, retry_us, first): (u8, u64, u64, u8) = self
            .script
            .key(self.key(scope, key))
            .arg(interval)
            .arg(quota.limit)
            .arg(cost)
            .arg(window)
            .invoke_async(&mut connection)
            .await?;
        Ok(if allowed == 1 {
            Decision::Allowed { remaining: u32::try_from(amount).unwrap_or(u32::MAX) }
        } else {
            Decision::Limited {
                count: amount,
                retry_after: Duration::from_micros(retry_us.max(1)),
                first_refusal: first == 1,
            }
        })
    }

    /// Gives back one hit (never before now; the key's expiry is kept, too long at worst).
    pub async fn refund(&self, scope: &str, key: &str) -> Result<(), RateLimitError> {
        let mut connection = self.connection.clone();
        let _: i64 = self.refund.key(self.key(scope, key)).invoke_async(&mut connection).await?;
        Ok(())
    }

    /// Forgets a key.
    pub async fn reset(&self, scope: &str, key: &str) -> Result<(), RateLimitError> {
        let mut connection = self.connection.clone();
        redis::cmd("DEL").arg(self.key(scope, key)).exec_async(&mut connection).await?;
        Ok(())
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros().max(1)).unwrap_or(u64::MAX)
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
