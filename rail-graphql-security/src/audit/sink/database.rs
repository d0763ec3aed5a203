use std::collections::HashSet;

use async_trait::async_trait;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QuerySelect, TransactionTrait, TryInsertResult,
};
#[cfg(any(feature = "sqlx-sqlite", feature = "sqlx-postgres", feature = "sqlx-mysql"))]
use sea_orm::{RuntimeErr, sqlx};

use super::{AuditSink, SinkError};
use crate::audit::event::AuditEvent;
use crate::audit::{entity, rollup};

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
/// acknowledgement was lost) is not duplicated. Each batch is one transaction that also adds the
/// newly stored events to the hourly rollup the reports read ([`crate::audit::rollup`]).
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
        // One transaction per batch: the events and their counts in the hourly rollup land
        // together or not at all. The rollup must count exactly the events this transaction
        // newly inserts (a retried batch may be stored already). PostgreSQL and SQLite report
        // the rows an `ON CONFLICT DO NOTHING` insert wrote: when that is the whole batch (the
        // common path) every event is new; otherwise the transaction is rolled back and redone
        // without the ids found stored. MySQL/MariaDB count a skipped duplicate as written
        // (sqlx connects with CLIENT_FOUND_ROWS), so there the stored ids are looked up first.
        let look_up_first = self.db.get_database_backend() == DatabaseBackend::MySql;
        let mut new = distinct(events);
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 {
                // Outside the transaction: on SQLite a transaction that reads before it writes
                // fails when another connection commits in between. A row stored meanwhile shows
                // in the insert count again.
                new = not_stored(&self.db, events).await?;
            }
            let txn = self.db.begin().await?;
            if look_up_first {
                new = not_stored(&txn, events).await?;
            }
            let inserted = insert(&txn, &new).await?;
            if look_up_first || inserted == new.len() as u64 {
                rollup::add(&txn, new.iter().copied()).await?;
                txn.commit().await?;
                return Ok(());
            }
            txn.rollback().await?;
            if attempt == MAX_ATTEMPTS {
                // Another writer kept storing ids of this batch between the look-up and the insert.
                return Err(DbErr::Custom(format!(
                    "audit batch: ids kept appearing concurrently after {MAX_ATTEMPTS} attempts; will retry"
                ))
                .into());
            }
        }
    }
}

/// Attempts of [`DatabaseSink::write_batch`] before it reports a (transient) failure.
const MAX_ATTEMPTS: u32 = 3;

/// `events` without repeated ids (the first of each kept).
fn distinct(events: &[AuditEvent]) -> Vec<&AuditEvent> {
    let mut seen = HashSet::with_capacity(events.len());
    events.iter().filter(|e| seen.insert(e.id)).collect()
}

/// The events of `events` whose ids are not stored yet (each id once).
async fn not_stored<'a, C: ConnectionTrait>(db: &C, events: &'a [AuditEvent]) -> Result<Vec<&'a AuditEvent>, DbErr> {
    let mut stored = HashSet::new();
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let ids: Vec<String> = chunk.iter().map(|e| e.id.to_string()).collect();
        let found: Vec<String> = entity::Entity::find()
            .select_only()
            .column(entity::Column::Id)
            .filter(entity::Column::Id.is_in(ids))
            .into_tuple()
            .all(db)
            .await?;
        stored.extend(found);
    }
    let mut new = distinct(events);
    new.retain(|e| !stored.contains(&e.id.to_string()));
    Ok(new)
}

/// Inserts `events` (skipping ids already stored) in statements under the size limits; returns
/// the rows the database reports written.
async fn insert(txn: &DatabaseTransaction, events: &[&AuditEvent]) -> Result<u64, DbErr> {
    let mut inserted = 0;
    let mut rest = events;
    while !rest.is_empty() {
        let mut take = 0;
        let mut bytes = 0;
        while take < rest.len() && take < ROWS_PER_INSERT {
            bytes += estimated_row_bytes(rest[take]);
            if take > 0 && bytes > BYTES_PER_INSERT {
                break;
            }
            take += 1;
        }
        let (chunk, tail) = rest.split_at(take);
        let written = entity::Entity::insert_many(chunk.iter().map(|e| entity::ActiveModel::from(*e)))
            .on_conflict_do_nothing_on([entity::Column::Id])
            .exec_without_returning(txn)
            .await?;
        if let TryInsertResult::Inserted(n) = written {
            inserted += n;
        }
        rest = tail;
    }
    Ok(inserted)
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
