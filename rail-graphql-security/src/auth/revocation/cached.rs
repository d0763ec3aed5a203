//! Redis keys of revocations, and Redis as a cache in front of the `revoked_tokens` table.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::{TokenError, db_insert, db_revoked_at, db_upsert_later, entity};

/// How long the cache is trusted before the next check reloads it from the database: repairs a
/// cache write that failed while the database write succeeded.
const RESYNC_EVERY: Duration = Duration::from_secs(300);

/// Records a revocation, keeping the later of the stored and the given time and expiry (so a
/// reload racing a newer revocation never moves it back). Returns 1 when the key was new.
const RECORD_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
local value = ARGV[1]
local ttl = tonumber(ARGV[2])
if current then
  local known = tonumber(current)
  if known == nil or known > tonumber(value) then value = current end
  local left = redis.call('PTTL', KEYS[1])
  if left > ttl then ttl = left end
end
redis.call('SET', KEYS[1], value, 'PX', ttl)
if current then return 0 end
return 1
";

/// Lua: the run id of the Redis server running the script (new at each start of the server).
macro_rules! run_id {
    () => {
        "string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')"
    };
}

/// The revocation times of the ids in `KEYS[1..n-1]`, or nil unless the marker `KEYS[n]` holds
/// this server's run id: a marker written by another server process (a snapshot restored into
/// a restarted Redis, a promoted replica) does not vouch for what this one holds.
const CHECK_SCRIPT: &str = concat!(
    "local marker = redis.call('GET', KEYS[#KEYS])\n",
    "if not marker or marker ~= ",
    run_id!(),
    " then return false end\n",
    "return redis.call('MGET', unpack(KEYS, 1, #KEYS - 1))\n"
);

/// Whether the marker `KEYS[1]` holds this server's run id (1) or not (0).
const LOADED_SCRIPT: &str = concat!(
    "local marker = redis.call('GET', KEYS[1])\n",
    "if marker and marker == ",
    run_id!(),
    " then return 1 end\nreturn 0\n"
);

/// Sets the marker `KEYS[1]` to this server's run id for `ARGV[1]` milliseconds.
const MARK_SCRIPT: &str = concat!("redis.call('SET', KEYS[1], ", run_id!(), ", 'PX', ARGV[1])\nreturn 1\n");

/// The key of revocation `id`.
pub(super) fn key(prefix: &str, id: &str) -> String {
    format!("{prefix}:revoked:{id}")
}

/// The key that says the cache holds every revocation of the database, as long as it holds the
/// run id of the Redis server it is read from.
fn marker(prefix: &str) -> String {
    format!("{prefix}:revocations:loaded")
}

/// A stored revocation time (milliseconds). A value that is not one (a key written by an older
/// version, holding the user id) counts as revoked forever: failing closed.
pub(super) fn parse_time(value: &str) -> i64 {
    value.parse().unwrap_or(i64::MAX)
}

fn ttl_ms(expires_at: DateTime<Utc>) -> i64 {
    (expires_at - Utc::now()).num_milliseconds().max(1)
}

fn record_cmd(pipe: &mut redis::Pipeline, prefix: &str, id: &str, revoked_at_ms: i64, expires_at: DateTime<Utc>) {
    pipe.cmd("EVAL").arg(RECORD_SCRIPT).arg(1).arg(key(prefix, id)).arg(revoked_at_ms).arg(ttl_ms(expires_at));
}

/// Records revocation `id` in Redis; `true` when the key was new.
pub(super) async fn redis_record(
    connection: &mut ConnectionManager,
    prefix: &str,
    id: &str,
    revoked_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> redis::RedisResult<bool> {
    let created: i64 = redis::cmd("EVAL")
        .arg(RECORD_SCRIPT)
        .arg(1)
        .arg(key(prefix, id))
        .arg(revoked_at.timestamp_millis())
        .arg(ttl_ms(expires_at))
        .query_async(connection)
        .await?;
    Ok(created == 1)
}

/// The durable `revoked_tokens` table with Redis in front of it (see
/// [`RevocationStore::redis_cached`](super::RevocationStore::redis_cached)). Cheap to clone.
#[derive(Clone)]
pub struct RedisCachedRevocations {
    connection: ConnectionManager,
    prefix: String,
    db: DatabaseConnection,
    /// One reload at a time per process; the others wait for it and then read the cache.
    reload: Arc<tokio::sync::Mutex<()>>,
}

impl fmt::Debug for RedisCachedRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCachedRevocations").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisCachedRevocations {
    pub(super) fn new(connection: ConnectionManager, prefix: &str, db: DatabaseConnection) -> Self {
        Self { connection, prefix: prefix.to_owned(), db, reload: Arc::default() }
    }

    /// The database holding the durable record.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The Redis key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(super) async fn revoke(
        &self,
        id: &str,
        user_id: &str,
        revoked_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, TokenError> {
        // The database decides who was first; the cache is written even when the record was
        // already there, so retrying a revocation whose cache write failed repairs the cache.
        let first = db_insert(&self.db, id, user_id, revoked_at, expires_at).await?;
        self.cache(id, revoked_at, expires_at).await?;
        Ok(first)
    }

    pub(super) async fn revoke_since(
        &self,
        id: &str,
        user_id: &str,
        revoked_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), TokenError> {
        db_upsert_later(&self.db, id, user_id, revoked_at, expires_at).await?;
        self.cache(id, revoked_at, expires_at).await
    }

    /// Writes a revocation the database already holds into Redis. When that fails, dropping
    /// the marker makes the next check reload from the database; when even that fails, the
    /// caller gets the error (the record is durable; the cache is repaired at the next resync).
    async fn cache(&self, id: &str, revoked_at: DateTime<Utc>, expires_at: DateTime<Utc>) -> Result<(), TokenError> {
        let mut connection = self.connection.clone();
        let Err(error) = redis_record(&mut connection, &self.prefix, id, revoked_at, expires_at).await else {
            return Ok(());
        };
        tracing::warn!(%error, "revocation recorded in the database but not in Redis; invalidating the cache");
        let dropped: redis::RedisResult<()> =
            redis::cmd("DEL").arg(marker(&self.prefix)).query_async(&mut connection).await;
        dropped.map_err(|_| TokenError::Redis(error))
    }

    pub(super) async fn revoked_at(&self, ids: &[&str]) -> Result<Vec<Option<i64>>, TokenError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut keys: Vec<String> = ids.iter().map(|id| key(&self.prefix, id)).collect();
        keys.push(marker(&self.prefix));
        let mut connection = self.connection.clone();
        let values: redis::RedisResult<Option<Vec<Option<String>>>> =
            redis::cmd("EVAL").arg(CHECK_SCRIPT).arg(keys.len()).arg(&keys).query_async(&mut connection).await;
        match values {
            Ok(Some(values)) => Ok(values.iter().map(|v| v.as_deref().map(parse_time)).collect()),
            Ok(None) => {
                // Redis lost its data, was restored from a snapshot, or the resync time came:
                // fill it from the database before answering, from the database.
                if let Err(error) = self.reload(&mut connection).await {
                    tracing::warn!(%error, "reloading token revocations into Redis failed; reading the database");
                }
                db_revoked_at(&self.db, ids).await
            }
            Err(error) => {
                tracing::warn!(%error, "Redis unavailable for the revocation check; reading the database");
                db_revoked_at(&self.db, ids).await
            }
        }
    }

    /// Copies every revocation that still matters from the database into Redis and sets the
    /// marker, in one transaction (a restart cannot leave the marker without the keys).
    /// Idempotent: instances reloading together write the same records.
    async fn reload(&self, connection: &mut ConnectionManager) -> Result<(), TokenError> {
        let _one_at_a_time = self.reload.lock().await;
        let loaded: i64 =
            redis::cmd("EVAL").arg(LOADED_SCRIPT).arg(1).arg(marker(&self.prefix)).query_async(connection).await?;
        if loaded == 1 {
            return Ok(());
        }
        let now = Utc::now();
        let rows = entity::Entity::find().filter(entity::Column::ExpiresAt.gt(now)).all(&self.db).await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for row in &rows {
            record_cmd(&mut pipe, &self.prefix, &row.jti, row.revoked_at.timestamp_millis(), row.expires_at);
            pipe.ignore();
        }
        pipe.cmd("EVAL")
            .arg(MARK_SCRIPT)
            .arg(1)
            .arg(marker(&self.prefix))
            .arg(RESYNC_EVERY.as_millis() as u64)
            .ignore();
        pipe.query_async::<()>(connection).await?;
        tracing::debug!(revocations = rows.len(), "token revocations reloaded into Redis");
        Ok(())
    }
}
