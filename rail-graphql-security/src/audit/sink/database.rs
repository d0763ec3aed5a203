use async_trait::async_trait;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait};
#[cfg(any(feature = "sqlx-sqlite", feature = "sqlx-postgres", feature = "sqlx-mysql"))]
use sea_orm::{RuntimeErr, sqlx};

use super::{AuditSink, SinkError};
use crate::audit::entity;
use crate::audit::event::AuditEvent;

/// Rows per `INSERT`: 10 columns x 1000 rows stays under every backend's bind-parameter limit.
const ROWS_PER_INSERT: usize = 1000;
/// Estimated bytes of values per `INSERT`: far below MySQL/MariaDB's smallest common
/// `max_allowed_packet` (4 MiB), even if every character of the JSON needed escaping. A statement
/// over that limit is refused as a whole (and may cost the connection).
const BYTES_PER_INSERT: usize = 512 * 1024;

/// Writes events into the `audit_events` table with batched inserts.
///
/// The table comes from the `rail-graphql-security-migration` crate. Inserts skip ids that are
/// already stored, so a batch retried after an ambiguous failure (committed, but the
/// acknowledgement was lost) is not duplicated.
#[derive(Debug, Clone)]
pub struct DatabaseSink {
    db: DatabaseConnection,
}

impl DatabaseSink {
    /// A sink writing through `db` (SQLite, PostgreSQL or MySQL/MariaDB).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl AuditSink for DatabaseSink {
    fn name(&self) -> &str {
        "database"
    }

    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        let mut rest = events;
        while !rest.is_empty() {
            let mut take = 0;
            let mut bytes = 0;
            while take < rest.len() && take < ROWS_PER_INSERT {
                bytes += estimated_row_bytes(&rest[take]);
                if take > 0 && bytes > BYTES_PER_INSERT {
                    break;
                }
                take += 1;
            }
            let (chunk, tail) = rest.split_at(take);
            entity::Entity::insert_many(chunk.iter().map(entity::ActiveModel::from))
                .on_conflict_do_nothing_on([entity::Column::Id])
                .exec_without_returning(&self.db)
                .await?;
            rest = tail;
        }
        Ok(())
    }
}

/// About the bytes an event's values take in an `INSERT`.
fn estimated_row_bytes(e: &AuditEvent) -> usize {
    fn json(value: &serde_json::Value) -> usize {
        use serde_json::Value;
        match value {
            Value::Null | Value::Bool(_) | Value::Number(_) => 8,
            Value::String(s) => s.len() + 2,
            Value::Array(items) => items.iter().map(|v| json(v) + 1).sum::<usize>() + 2,
            Value::Object(map) => map.iter().map(|(k, v)| k.len() + 4 + json(v)).sum::<usize>() + 2,
        }
    }
    let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    128 + e.event_type.as_str().len()
        + text(&e.actor_id)
        + text(&e.actor_name)
        + text(&e.user_agent)
        + text(&e.request_id)
        + json(&e.details)
}

/// Whether the database refused the data itself, so the same rows can never be written: see
/// [`SinkError::is_permanent`]. Unknown errors count as transient: retrying them is what the
/// logger did before it could tell, and an outage must never send good events to dead letters.
pub(super) fn is_permanent(error: &DbErr) -> bool {
    match error {
        #[cfg(any(feature = "sqlx-sqlite", feature = "sqlx-postgres", feature = "sqlx-mysql"))]
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => {
            match &**e {
                sqlx::Error::Database(db) => database_refused_the_data(&**db),
                // A value the driver cannot encode for the server.
                sqlx::Error::Encode(_) => true,
                _ => false,
            }
        }
        DbErr::Json(_) | DbErr::Type(_) | DbErr::TryIntoErr { .. } => true,
        _ => false,
    }
}

#[cfg(any(feature = "sqlx-sqlite", feature = "sqlx-postgres", feature = "sqlx-mysql"))]
fn database_refused_the_data(error: &dyn sqlx::error::DatabaseError) -> bool {
    let code = error.code();
    let code = code.as_deref().unwrap_or_default();
    #[cfg(feature = "sqlx-sqlite")]
    if error.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // Extended result code; the primary code is its low byte: TOOBIG, CONSTRAINT, MISMATCH, RANGE.
        let primary = code.parse::<i64>().map_or(0, |c| c & 0xff);
        return matches!(primary, 18 | 19 | 20 | 25);
    }
    #[cfg(feature = "sqlx-mysql")]
    if let Some(mysql) = error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        // Packet too large, invalid character string, result too large, incorrect string value,
        // illegal value, invalid JSON, CHECK constraint (MySQL 8; MariaDB, also for JSON_VALID).
        if matches!(mysql.number(), 1153 | 1300 | 1301 | 1366 | 1367 | 3140 | 3819 | 4025) {
            return true;
        }
    }
    // SQLSTATE classes: 22 data exception (encoding, too long, out of range), 23 integrity
    // constraint violation, 54 program limit exceeded (PostgreSQL: e.g. an index row too big).
    matches!(code.get(..2), Some("22" | "23" | "54"))
}
