//! Retention: deleting old audit events in small batches.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};

use super::report::ReportError;

/// Rows deleted per statement: short transactions, no long table lock.
pub(crate) const PURGE_BATCH: u64 = 1000;

/// Deletes events older than `retention_days` days, `PURGE_BATCH` rows per statement, and
/// returns how many were deleted.
pub(crate) async fn purge_older_than<C: ConnectionTrait>(db: &C, retention_days: u32) -> Result<u64, ReportError> {
    let cutoff = Utc::now() - chrono::Duration::days(i64::from(retention_days));
    Ok(purge_before(db, cutoff).await?)
}

/// Deletes events with a timestamp before `cutoff`, in batches; returns how many.
pub(crate) async fn purge_before<C: ConnectionTrait>(db: &C, cutoff: DateTime<Utc>) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        // MySQL/MariaDB refuse LIMIT in an IN subquery but allow it on a single-table DELETE.
        DatabaseBackend::MySql => {
            format!("DELETE FROM audit_events WHERE `timestamp` < ? ORDER BY `timestamp` LIMIT {PURGE_BATCH}")
        }
        DatabaseBackend::Postgres => format!(
            r#"DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE "timestamp" < $1 LIMIT {PURGE_BATCH})"#
        ),
        _ => format!(
            r#"DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE "timestamp" < ? LIMIT {PURGE_BATCH})"#
        ),
    };
    let mut total = 0;
    loop {
        let deleted =
            db.execute_raw(Statement::from_sql_and_values(backend, &sql, [cutoff.into()])).await?.rows_affected();
        total += deleted;
        if deleted < PURGE_BATCH {
            return Ok(total);
        }
        // Let other work on this connection pool in between batches.
        tokio::task::yield_now().await;
    }
}

/// Deletes events older than `retention_days` days (like
/// [`AuditLogger::purge_older_than`](super::AuditLogger::purge_older_than)) every `every`, logging (not panicking on) failures. Abort the
/// returned handle to stop it.
pub fn spawn_retention_task<C>(db: C, retention_days: u32, every: Duration) -> tokio::task::JoinHandle<()>
where
    C: ConnectionTrait + Send + Sync + 'static,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match purge_older_than(&db, retention_days).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, retention_days, "purged old audit events"),
                Err(e) => tracing::error!(error = %e, "audit retention purge failed; will retry next period"),
            }
        }
    })
}
