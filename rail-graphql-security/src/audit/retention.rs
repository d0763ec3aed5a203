//! Retention: deleting old audit events in small batches, and their counts from the hourly
//! rollup with them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DbErr, QueryResult, Statement, TransactionSession, TransactionTrait, Value,
};

use super::report::ReportError;
use super::rollup::{self, Counted};
use crate::migration::audit_rollup::hour_start_sql;

/// Rows deleted per statement: short transactions, no long table lock.
pub(crate) const PURGE_BATCH: u64 = 1000;

/// Deletes events older than `retention_days` days, `PURGE_BATCH` rows per transaction, and
/// returns how many were deleted.
pub(crate) async fn purge_older_than<C>(db: &C, retention_days: u32) -> Result<u64, ReportError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let cutoff = Utc::now() - chrono::Duration::days(i64::from(retention_days));
    Ok(purge_before(db, cutoff).await?)
}

/// Deletes events with a timestamp before `cutoff`, in batches; returns how many.
///
/// Each batch is one transaction that deletes the rows and subtracts exactly those rows from the
/// hourly rollup (the rows this transaction deleted, as `RETURNING` or a locking read reports
/// them), so the rollup stays equal to the events with several instances purging at once and
/// sinks writing late events of the purged hours meanwhile.
pub(crate) async fn purge_before<C>(db: &C, cutoff: DateTime<Utc>) -> Result<u64, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let backend = db.get_database_backend();
    let hour = hour_start_sql(backend);
    let mut total = 0;
    loop {
        let txn = db.begin().await?;
        let rows = delete_batch(&txn, backend, hour, cutoff).await?;
        let deleted = rows.len() as u64;
        let counted = rows
            .iter()
            .map(|(hour_start, event_type, severity, client_ip, actor_name)| Counted {
                hour_start: *hour_start,
                event_type,
                severity,
                client_ip: client_ip.clone(),
                actor_name: actor_name.as_deref(),
            })
            .collect();
        rollup::subtract(&txn, counted).await?;
        txn.commit().await?;
        total += deleted;
        if deleted < PURGE_BATCH {
            return Ok(total);
        }
        // Let other work on this connection pool in between batches.
        tokio::task::yield_now().await;
    }
}

/// A deleted row: the rollup hour, type, severity, address, account name.
type Deleted = (i64, String, String, Option<String>, Option<String>);

/// Deletes up to `PURGE_BATCH` events before `cutoff` in `txn` and returns them.
async fn delete_batch<C: ConnectionTrait>(
    txn: &C,
    backend: DatabaseBackend,
    hour: &str,
    cutoff: DateTime<Utc>,
) -> Result<Vec<Deleted>, DbErr> {
    let columns = format!("{hour}, event_type, severity, client_ip, actor_name");
    let decode = |row: QueryResult| row.try_get_many_by_index::<Deleted>();
    if backend == DatabaseBackend::MySql {
        // MySQL has no `DELETE … RETURNING`: lock the batch, then delete exactly those rows. A
        // concurrent purge waits on the locks and then reads past the deleted rows.
        let select = format!(
            "SELECT id, {columns} FROM audit_events WHERE `timestamp` < ? ORDER BY `timestamp` LIMIT {PURGE_BATCH} FOR UPDATE"
        );
        let rows = txn.query_all_raw(Statement::from_sql_and_values(backend, select, [cutoff.into()])).await?;
        let mut ids: Vec<Value> = Vec::with_capacity(rows.len());
        let mut deleted = Vec::with_capacity(rows.len());
        for row in rows {
            ids.push(row.try_get_by_index::<String>(0)?.into());
            let (_, hour, event_type, severity, client_ip, actor_name): (
                String,
                i64,
                String,
                String,
                Option<String>,
                Option<String>,
            ) = row.try_get_many_by_index()?;
            deleted.push((hour, event_type, severity, client_ip, actor_name));
        }
        if !ids.is_empty() {
            let marks = vec!["?"; ids.len()].join(", ");
            let delete = format!("DELETE FROM audit_events WHERE id IN ({marks})");
            txn.execute_raw(Statement::from_sql_and_values(backend, delete, ids)).await?;
        }
        return Ok(deleted);
    }
    let param = if backend == DatabaseBackend::Postgres { "$1" } else { "?" };
    let delete = format!(
        r#"DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE "timestamp" < {param} LIMIT {PURGE_BATCH}) RETURNING {columns}"#
    );
    txn.query_all_raw(Statement::from_sql_and_values(backend, delete, [cutoff.into()]))
        .await?
        .into_iter()
        .map(decode)
        .collect()
}

/// Deletes events older than `retention_days` days (like
/// [`AuditLogger::purge_older_than`](super::AuditLogger::purge_older_than)) every `every`, logging (not panicking on) failures. Abort the
/// returned handle to stop it.
pub fn spawn_retention_task<C>(db: C, retention_days: u32, every: Duration) -> tokio::task::JoinHandle<()>
where
    C: ConnectionTrait + TransactionTrait + Send + Sync + 'static,
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
