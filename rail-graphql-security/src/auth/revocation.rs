//! Where revocations live: memory (one process), the database, Redis, or Redis as a cache in
//! front of the database (shared and durable).
//!
//! A revocation is an id with the time it was made and the time it can be forgotten: a token
//! id (`jti`), a session (`s:<session id>`: every token of one login) or a user
//! (`u:<hash of the user id>`: every token issued before the revocation time).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::TokenError;
use super::entity;

#[cfg(feature = "redis")]
mod cached;

mod synced;

#[cfg(feature = "redis")]
pub use self::cached::RedisCachedRevocations;
pub use self::synced::{
    MAX_CLOCK_OFFSET, POLL_INTERVAL, REVOCATION_CLOCK_MARGIN, REVOCATION_SYNC_BOUND, RevocationPush, SyncedRevocations,
};

/// One remembered revocation (in-memory store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationEntry {
    /// When it was made (milliseconds since the epoch).
    pub revoked_at_ms: i64,
    /// When it can be forgotten: no token it covers is accepted after that.
    pub expires_at: DateTime<Utc>,
}

/// The revocation list. Every instance of an application must use the same database or Redis
/// for a revocation to hold everywhere; only [`RedisCached`](Self::RedisCached) and
/// [`Database`](Self::Database) survive a restart of Redis without persistence.
#[derive(Clone)]
#[non_exhaustive]
pub enum RevocationStore {
    /// In this process only (tests, single-instance development).
    Memory(Arc<Mutex<HashMap<String, RevocationEntry>>>),
    /// The `revoked_tokens` table.
    Database(DatabaseConnection),
    /// Redis keys `<prefix>:revoked:<id>` that expire with the tokens they cover. Lost when
    /// Redis restarts without persistence: prefer [`RedisCached`](Self::RedisCached).
    #[cfg(feature = "redis")]
    Redis {
        /// The connection (reconnects automatically).
        connection: redis::aio::ConnectionManager,
        /// The key prefix.
        prefix: String,
    },
    /// The `revoked_tokens` table as the durable record, Redis as the cache every check reads
    /// (see [`RevocationStore::redis_cached`]).
    #[cfg(feature = "redis")]
    RedisCached(RedisCachedRevocations),
    /// A local set of the unexpired revocations in front of a store with a database, kept in
    /// step by push and polling: checks make no round trip (see [`RevocationStore::synced`]).
    Synced(SyncedRevocations),
}

impl fmt::Debug for RevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory(_) => f.write_str("RevocationStore::Memory"),
            Self::Database(_) => f.write_str("RevocationStore::Database"),
            #[cfg(feature = "redis")]
            Self::Redis { prefix, .. } => f.debug_struct("RevocationStore::Redis").field("prefix", prefix).finish(),
            #[cfg(feature = "redis")]
            Self::RedisCached(cached) => f.debug_tuple("RevocationStore::RedisCached").field(cached).finish(),
            Self::Synced(synced) => f.debug_tuple("RevocationStore::Synced").field(synced).finish(),
        }
    }
}

impl RevocationStore {
    /// An in-memory list.
    pub fn memory() -> Self {
        Self::Memory(Arc::default())
    }

    /// The `revoked_tokens` table through `db`.
    pub fn database(db: DatabaseConnection) -> Self {
        Self::Database(db)
    }

    /// Redis at `url`, keys under `prefix`. Revocations are lost if Redis restarts without
    /// persistence; [`redis_cached`](Self::redis_cached) keeps them.
    #[cfg(feature = "redis")]
    pub async fn redis(url: &str, prefix: &str) -> Result<Self, TokenError> {
        let connection = crate::rate_limit::redis::connect(url).await?;
        Ok(Self::Redis { connection, prefix: prefix.to_owned() })
    }

    /// The `revoked_tokens` table through `db` as the durable record, with Redis at `url`
    /// (keys under `prefix`) as the cache checks read in one round trip. A revocation is
    /// written to the database first, then to Redis. The marker key
    /// `<prefix>:revocations:loaded` holds the run id of the Redis server that was loaded; when
    /// it is gone (a restart without persistence) or names another server process (a
    /// snapshot restored into a restarted Redis, a promoted replica: either may miss
    /// revocations made since), the next check reloads every unexpired revocation from the
    /// database before it answers. The marker also expires every few minutes so a cache write
    /// that failed is repaired. While Redis is unreachable, checks read the database. Needs
    /// Redis 5 or later (its scripts read `INFO server`).
    #[cfg(feature = "redis")]
    pub async fn redis_cached(url: &str, prefix: &str, db: DatabaseConnection) -> Result<Self, TokenError> {
        let connection = crate::rate_limit::redis::connect(url).await?;
        Ok(Self::RedisCached(RedisCachedRevocations::new(connection, prefix, db)))
    }

    /// This store (`database` or `redis_cached`: the `revoked_tokens` table stays the durable
    /// record) with a local set of every unexpired revocation in front of it, so checks answer
    /// from memory. A revocation made through the returned store holds on this instance before
    /// [`revoke`](Self::revoke) returns; one made on another instance holds here within
    /// [`REVOCATION_SYNC_BOUND`]: `push` wakes this instance's sync at once, and a poll every
    /// [`POLL_INTERVAL`] catches up when the push channel is down. When no sync has succeeded
    /// for the bound, checks read this store instead (and fail while it is down). Loads every
    /// unexpired revocation before it returns, or fails ([`TokenError::NoDurableRecord`] for
    /// a store without a database).
    ///
    /// The store goes by the database's clock when this machine's is more than
    /// [`MAX_CLOCK_OFFSET`] off it ([`now`](Self::now)).
    pub async fn synced(self, push: RevocationPush) -> Result<Self, TokenError> {
        Ok(Self::Synced(SyncedRevocations::start(self, push, chrono::Duration::zero()).await?))
    }

    /// Testing aid: [`synced`](Self::synced) as if this machine's clock were `offset` off (a
    /// server whose clock drifted).
    #[doc(hidden)]
    pub async fn synced_off_clock(self, push: RevocationPush, offset: chrono::Duration) -> Result<Self, TokenError> {
        Ok(Self::Synced(SyncedRevocations::start(self, push, offset).await?))
    }

    /// The clock revocations and the tokens checked against them go by, to the millisecond:
    /// this machine's, except for a [`synced`](Self::synced) store on a machine whose clock is
    /// more than [`MAX_CLOCK_OFFSET`] off the database's, which goes by the database's (this
    /// machine's corrected by the offset measured at its last sync, never going backwards).
    /// [`TokenService`](super::TokenService) takes its tokens' issue, expiry and second-factor
    /// times from it.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Self::Synced(synced) => synced.now(),
            _ => now_ms(),
        }
    }

    /// Records `id` as revoked until `expires_at`. Returns `false` when it already was:
    /// exactly one of several racing revocations (or refreshes) of one token gets `true`.
    pub async fn revoke(&self, id: &str, user_id: &str, expires_at: DateTime<Utc>) -> Result<bool, TokenError> {
        match self {
            Self::Synced(synced) => Box::pin(synced.revoke(id, user_id, expires_at)).await,
            other => other.revoke_at(id, user_id, now_ms(), expires_at).await,
        }
    }

    /// [`revoke`](Self::revoke) stamped `revoked_at` (a synced store stamps by its own clock).
    async fn revoke_at(
        &self,
        id: &str,
        user_id: &str,
        revoked_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, TokenError> {
        match self {
            Self::Memory(map) => {
                let mut map = lock(map);
                let first = !map.contains_key(id);
                if first {
                    map.insert(
                        id.to_owned(),
                        RevocationEntry { revoked_at_ms: revoked_at.timestamp_millis(), expires_at },
                    );
                }
                Ok(first)
            }
            Self::Database(db) => db_insert(db, id, user_id, revoked_at, expires_at).await,
            #[cfg(feature = "redis")]
            Self::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                Ok(cached::redis_record(&mut connection, prefix, id, revoked_at, expires_at).await?)
            }
            #[cfg(feature = "redis")]
            Self::RedisCached(cached) => cached.revoke(id, user_id, revoked_at, expires_at).await,
            Self::Synced(synced) => Box::pin(synced.revoke(id, user_id, expires_at)).await,
        }
    }

    /// Records `id` as revoked at `revoked_at` until `expires_at`, or moves an existing record's
    /// times later (never earlier): a repeated "log out everywhere" covers the tokens issued
    /// since the previous one.
    pub async fn revoke_since(
        &self,
        id: &str,
        user_id: &str,
        revoked_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), TokenError> {
        let revoked_at = revoked_at.trunc_subsecs(3);
        match self {
            Self::Memory(map) => {
                let mut map = lock(map);
                let entry = map
                    .entry(id.to_owned())
                    .or_insert(RevocationEntry { revoked_at_ms: revoked_at.timestamp_millis(), expires_at });
                entry.revoked_at_ms = entry.revoked_at_ms.max(revoked_at.timestamp_millis());
                entry.expires_at = entry.expires_at.max(expires_at);
                Ok(())
            }
            Self::Database(db) => db_upsert_later(db, id, user_id, revoked_at, expires_at).await,
            #[cfg(feature = "redis")]
            Self::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                cached::redis_record(&mut connection, prefix, id, revoked_at, expires_at).await?;
                Ok(())
            }
            #[cfg(feature = "redis")]
            Self::RedisCached(cached) => cached.revoke_since(id, user_id, revoked_at, expires_at).await,
            Self::Synced(synced) => Box::pin(synced.revoke_since(id, user_id, revoked_at, expires_at)).await,
        }
    }

    /// When each of `ids` was revoked (milliseconds since the epoch), `None` for those that
    /// were not: one map lookup, one `WHERE jti IN (..)` query or one Redis `MGET` (a
    /// [`synced`](Self::synced) store: a map lookup while its set is fresh).
    pub async fn revoked_at(&self, ids: &[&str]) -> Result<Vec<Option<i64>>, TokenError> {
        match self {
            Self::Memory(map) => {
                let map = lock(map);
                Ok(ids.iter().map(|id| map.get(*id).map(|e| e.revoked_at_ms)).collect())
            }
            Self::Database(db) => db_revoked_at(db, ids).await,
            #[cfg(feature = "redis")]
            Self::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                let keys: Vec<String> = ids.iter().map(|id| cached::key(prefix, id)).collect();
                let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(&mut connection).await?;
                Ok(values.iter().map(|v| v.as_deref().map(cached::parse_time)).collect())
            }
            #[cfg(feature = "redis")]
            Self::RedisCached(cached) => cached.revoked_at(ids).await,
            Self::Synced(synced) => match synced.local_revoked_at(ids) {
                Some(found) => Ok(found),
                None => stored_and_known(synced, ids).await,
            },
        }
    }

    /// [`revoked_at`](Self::revoked_at) from the durable record itself, past a
    /// [`synced`](Self::synced) store's local set (which may lag another instance's revocation
    /// by up to [`REVOCATION_SYNC_BOUND`]): for a decision that must see every revocation made
    /// before it.
    pub async fn revoked_at_now(&self, ids: &[&str]) -> Result<Vec<Option<i64>>, TokenError> {
        match self {
            Self::Synced(synced) => stored_and_known(synced, ids).await,
            other => other.revoked_at(ids).await,
        }
    }

    /// Whether `id` was revoked.
    pub async fn is_revoked(&self, id: &str) -> Result<bool, TokenError> {
        Ok(self.revoked_at(&[id]).await?.first().is_some_and(Option::is_some))
    }

    /// Deletes entries that no longer cover any acceptable token (Redis expires them by
    /// itself). Returns how many were deleted.
    pub async fn purge_expired(&self) -> Result<u64, TokenError> {
        match self {
            Self::Synced(synced) => Box::pin(synced.purge_expired()).await,
            other => other.purge_expired_before(Utc::now()).await,
        }
    }

    /// [`purge_expired`](Self::purge_expired) of the entries expired at `now`.
    async fn purge_expired_before(&self, now: DateTime<Utc>) -> Result<u64, TokenError> {
        match self {
            Self::Memory(map) => {
                let mut map = lock(map);
                let before = map.len();
                map.retain(|_, entry| entry.expires_at > now);
                Ok((before - map.len()) as u64)
            }
            Self::Database(db) => db_purge(db, now).await,
            #[cfg(feature = "redis")]
            Self::Redis { .. } => Ok(0),
            #[cfg(feature = "redis")]
            Self::RedisCached(cached) => db_purge(cached.db(), now).await,
            Self::Synced(synced) => Box::pin(synced.purge_expired()).await,
        }
    }
}

/// The durable store's answer, never un-revoking what the local set knows (an attack restored
/// Redis from an old snapshot, then stopped the database: the cache answered for revoked tokens
/// as if they were not).
async fn stored_and_known(synced: &SyncedRevocations, ids: &[&str]) -> Result<Vec<Option<i64>>, TokenError> {
    let stored = Box::pin(synced.durable().revoked_at(ids)).await?;
    Ok(stored.into_iter().zip(synced.known_revoked_at(ids)).map(|(a, b)| a.max(b)).collect())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Now, to the millisecond (what every backend stores exactly).
fn now_ms() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// Inserts a record; `false` when the id is already there. A plain insert and the unique key
/// decide: an upsert's affected-row count is not reliable on MySQL (sqlx reports found rows).
async fn db_insert(
    db: &DatabaseConnection,
    id: &str,
    user_id: &str,
    revoked_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<bool, TokenError> {
    use sea_orm::ActiveValue::Set;
    let row = entity::ActiveModel {
        jti: Set(id.to_owned()),
        user_id: Set(user_id.to_owned()),
        expires_at: Set(expires_at.trunc_subsecs(6)),
        revoked_at: Set(revoked_at),
    };
    match entity::Entity::insert(row).exec_without_returning(db).await {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Inserts a record or moves an existing one's times later. Each update only ever increases
/// its column, so racing writers end at the latest of their times whatever their order.
async fn db_upsert_later(
    db: &DatabaseConnection,
    id: &str,
    user_id: &str,
    revoked_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), TokenError> {
    use sea_orm::sea_query::Expr;
    if db_insert(db, id, user_id, revoked_at, expires_at).await? {
        return Ok(());
    }
    entity::Entity::update_many()
        .col_expr(entity::Column::RevokedAt, Expr::value(revoked_at))
        .filter(entity::Column::Jti.eq(id))
        .filter(entity::Column::RevokedAt.lt(revoked_at))
        .exec(db)
        .await?;
    let expires_at = expires_at.trunc_subsecs(6);
    entity::Entity::update_many()
        .col_expr(entity::Column::ExpiresAt, Expr::value(expires_at))
        .filter(entity::Column::Jti.eq(id))
        .filter(entity::Column::ExpiresAt.lt(expires_at))
        .exec(db)
        .await?;
    Ok(())
}

async fn db_revoked_at(db: &DatabaseConnection, ids: &[&str]) -> Result<Vec<Option<i64>>, TokenError> {
    let rows = entity::Entity::find().filter(entity::Column::Jti.is_in(ids.iter().copied())).all(db).await?;
    Ok(ids
        .iter()
        .map(|id| rows.iter().find(|row| row.jti == *id).map(|row| row.revoked_at.timestamp_millis()))
        .collect())
}

async fn db_purge(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, TokenError> {
    Ok(entity::Entity::delete_many().filter(entity::Column::ExpiresAt.lte(now)).exec(db).await?.rows_affected)
}
