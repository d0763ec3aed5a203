//! Where revoked token ids live: memory (one process), the database or Redis (shared).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::TokenError;
use super::entity;

/// The revocation list. Every instance of an application must use the same database or Redis
/// for a revocation to hold everywhere.
#[derive(Clone)]
#[non_exhaustive]
pub enum RevocationStore {
    /// In this process only (tests, single-instance development).
    Memory(Arc<Mutex<HashMap<String, DateTime<Utc>>>>),
    /// The `revoked_tokens` table.
    Database(DatabaseConnection),
    /// Redis keys `<prefix>:revoked:<jti>` that expire with the token.
    #[cfg(feature = "redis")]
    Redis {
        /// The connection (reconnects automatically).
        connection: redis::aio::ConnectionManager,
        /// The key prefix.
        prefix: String,
    },
}

impl fmt::Debug for RevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory(_) => f.write_str("RevocationStore::Memory"),
            Self::Database(_) => f.write_str("RevocationStore::Database"),
            #[cfg(feature = "redis")]
            Self::Redis { prefix, .. } => f.debug_struct("RevocationStore::Redis").field("prefix", prefix).finish(),
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

    /// Redis at `url`, keys under `prefix`.
    #[cfg(feature = "redis")]
    pub async fn redis(url: &str, prefix: &str) -> Result<Self, TokenError> {
        let connection = crate::rate_limit::redis::connect(url).await?;
        Ok(Self::Redis { connection, prefix: prefix.to_owned() })
    }

    /// Records `jti` as revoked until `expires_at`. Returns `false` when it already was:
    /// exactly one of several racing revocations (or refreshes) of one token gets `true`.
    pub async fn revoke(&self, jti: &str, user_id: &str, expires_at: DateTime<Utc>) -> Result<bool, TokenError> {
        match self {
            Self::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                Ok(map.insert(jti.to_owned(), expires_at).is_none())
            }
            Self::Database(db) => {
                use sea_orm::ActiveValue::Set;
                let row = entity::ActiveModel {
                    jti: Set(jti.to_owned()),
                    user_id: Set(user_id.to_owned()),
                    expires_at: Set(expires_at.trunc_subsecs(6)),
                    revoked_at: Set(Utc::now().trunc_subsecs(6)),
                };
                // A plain insert and the unique key decide: an upsert's affected-row count is
                // not reliable on MySQL (sqlx reports found rows).
                match entity::Entity::insert(row).exec_without_returning(db).await {
                    Ok(_) => Ok(true),
                    Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
            #[cfg(feature = "redis")]
            Self::Redis { connection, prefix } => {
                let ttl_ms = (expires_at - Utc::now()).num_milliseconds().max(1);
                let mut connection = connection.clone();
                let set: Option<String> = redis::cmd("SET")
                    .arg(format!("{prefix}:revoked:{jti}"))
                    .arg(user_id)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut connection)
                    .await?;
                Ok(set.is_some())
            }
        }
    }

    /// Whether `jti` was revoked.
    pub async fn is_revoked(&self, jti: &str) -> Result<bool, TokenError> {
        match self {
            Self::Memory(map) => Ok(map.lock().unwrap_or_else(|p| p.into_inner()).contains_key(jti)),
            Self::Database(db) => Ok(entity::Entity::find_by_id(jti.to_owned()).one(db).await?.is_some()),
            #[cfg(feature = "redis")]
            Self::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                let exists: bool =
                    redis::cmd("EXISTS").arg(format!("{prefix}:revoked:{jti}")).query_async(&mut connection).await?;
                Ok(exists)
            }
        }
    }

    /// Deletes entries of tokens that have expired anyway (Redis expires them by itself).
    /// Returns how many were deleted.
    pub async fn purge_expired(&self) -> Result<u64, TokenError> {
        let now = Utc::now();
        match self {
            Self::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                let before = map.len();
                map.retain(|_, expires_at| *expires_at > now);
                Ok((before - map.len()) as u64)
            }
            Self::Database(db) => Ok(entity::Entity::delete_many()
                .filter(entity::Column::ExpiresAt.lte(now))
                .exec(db)
                .await?
                .rows_affected),
            #[cfg(feature = "redis")]
            Self::Redis { .. } => Ok(0),
        }
    }
}
