//! Redis GCRA: one atomic script per hit on Redis's own clock, so every instance decides alike.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::lease::{Leases, Local};
use super::{Decision, Quota, RateLimitError};

/// The GCRA step of `memory::step`, in microseconds on Redis's clock (`TIME`, allowed before
/// writes since Redis 5's effect replication), so instances with skewed clocks agree. State is
/// a hash: `tat` (theoretical arrival time), `iv` (emission interval, for refunds), `quiet`
/// (until when refusals are not reported again), expiring when all are past. Integers are
/// written with `%d`: Lua's default number format keeps 14 digits, too few for microseconds.
///
/// ARGV: emission interval, limit, cost, window, want, giveback (µs, µs-count, hits, µs, hits,
/// hits). `giveback` unspent hits of a lease are forgotten first (the TAT moves back that many
/// intervals, never before now); an allowed hit then counts as many hits as are free, between
/// `cost` and `want` (a lease, see `lease`). Returns
/// `{allowed, remaining | count, retry_after_us, first_refusal, granted}`.
const HIT_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local want = tonumber(ARGV[5])
local giveback = tonumber(ARGV[6])
local tolerance = interval * limit
local state = redis.call('HMGET', KEYS[1], 'tat', 'quiet')
local tat = tonumber(state[1]) or now
local quiet = tonumber(state[2]) or 0
if giveback > 0 and tat > now then
  tat = math.max(tat - giveback * interval, now)
end
local base = math.max(tat, now)
local backlog = base - now
local weight = interval * cost
local function store(new_tat, new_quiet)
  redis.call('HSET', KEYS[1], 'tat', string.format('%d', new_tat), 'iv', string.format('%d', interval),
    'quiet', string.format('%d', new_quiet))
  redis.call('PEXPIRE', KEYS[1], math.floor((math.max(new_tat, new_quiet) - now) / 1000) + 1)
end
if backlog + weight <= tolerance then
  local granted = math.max(cost, math.min(want, math.floor((tolerance - backlog) / interval)))
  local taken = interval * granted
  store(base + taken, quiet)
  return {1, math.floor((tolerance - backlog - taken) / interval), 0, 0, granted}
end
local retry = window
if limit > 0 and weight <= tolerance then
  retry = backlog + weight - tolerance
end
local first = 0
if quiet <= now then
  first = 1
  store(tat, now + window)
elseif giveback > 0 then
  store(tat, quiet)
end
return {0, math.ceil(backlog / interval) + cost, retry, first, 0}
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
///
/// By default every hit is one round trip to Redis. [`with_local_leases`](Self::with_local_leases)
/// gives a copy that serves busy keys from hits leased in process, within stated bounds.
#[derive(Clone)]
pub struct RedisRateLimiter {
    connection: ConnectionManager,
    prefix: String,
    script: Script,
    refund: Script,
    leases: Option<Arc<Leases>>,
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lease = self.leases.as_ref().map(|l| l.lifetime());
        f.debug_struct("RedisRateLimiter").field("prefix", &self.prefix).field("lease", &lease).finish_non_exhaustive()
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
            leases: None,
        }
    }

    /// A copy (same connection and keys) that takes hits of a busy key from Redis several at a
    /// time and spends them in process for at most `lifetime`, giving back what is left; a
    /// `lifetime` of zero gives an exact copy. Over any span of time the instances together
    /// admit at most `limit × lifetime / window` (rounded up) hits more than the exact limiter,
    /// and a client spread over `N` instances may be refused while up to
    /// `(N − 1) × max(1, limit / 100)` of its hits sit in the others' leases, for at most
    /// `lifetime`. A refusal is remembered for up to `lifetime`, so a client over its limit is
    /// refused without a round trip. A hit served from a lease reports as `remaining` the hits
    /// left in that lease, a lower bound. Suits a high request limit (the GraphQL request
    /// limit); login limits stay exact.
    pub fn with_local_leases(&self, lifetime: Duration) -> Self {
        let leases = (!lifetime.is_zero()).then(|| Arc::new(Leases::new(lifetime)));
        Self { leases, ..self.clone() }
    }

    /// Its Redis connection, for the other stores of the same Redis.
    #[cfg_attr(not(feature = "axum"), expect(dead_code, reason = "only the stack shares the connection"))]
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.connection.clone()
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
        let key = self.key(scope, key);
        let Some(leases) = &self.leases else {
            return Ok(self.ask(&key, quota, cost, cost, 0).await?.0);
        };
        let sent = Instant::now();
        match leases.decide(&key, quota, cost, sent) {
            Local::Decided(decision) => Ok(decision),
            Local::Ask { want, giveback, lease } => match self.ask(&key, quota, cost, want, giveback).await {
                Ok((decision, granted)) => {
                    leases.record(key, quota, cost, sent, lease, &decision, granted);
                    Ok(decision)
                }
                Err(error) => {
                    // The hits being given back stay counted (the safe side).
                    if lease {
                        leases.abandon(&key);
                    }
                    Err(error)
                }
            },
        }
    }

    /// One run of the script: the decision on `cost` hits and the hits counted for it.
    async fn ask(
        &self,
        key: &str,
        quota: Quota,
        cost: u32,
        want: u32,
        giveback: u32,
    ) -> Result<(Decision, u32), RateLimitError> {
        // Whole microseconds (at least one); the script's tolerance is `limit` of them, so a
        // full burst always fits.
        let interval = micros(quota.emission_interval()).max(1);
        let window = micros(quota.window);
        let mut connection = self.connection.clone();
        let (allowed, amount, retry_us, first, granted): (u8, u64, u64, u8, u32) = self
            .script
            .key(key)
            .arg(interval)
            .arg(quota.limit)
            .arg(cost)
            .arg(window)
            .arg(want)
            .arg(giveback)
            .invoke_async(&mut connection)
            .await?;
        let decision = if allowed == 1 {
            Decision::Allowed { remaining: u32::try_from(amount).unwrap_or(u32::MAX) }
        } else {
            Decision::Limited {
                count: amount,
                retry_after: Duration::from_micros(retry_us.max(1)),
                first_refusal: first == 1,
            }
        };
        Ok((decision, granted))
    }

    /// Gives back one hit (never before now; the key's expiry is kept, too long at worst).
    pub async fn refund(&self, scope: &str, key: &str) -> Result<(), RateLimitError> {
        let mut connection = self.connection.clone();
        let _: i64 = self.refund.key(self.key(scope, key)).invoke_async(&mut connection).await?;
        Ok(())
    }

    /// Forgets a key.
    pub async fn reset(&self, scope: &str, key: &str) -> Result<(), RateLimitError> {
        let key = self.key(scope, key);
        if let Some(leases) = &self.leases {
            leases.forget(&key);
        }
        let mut connection = self.connection.clone();
        redis::cmd("DEL").arg(key).exec_async(&mut connection).await?;
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
