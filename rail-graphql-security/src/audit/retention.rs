//! Retention: deleting old audit events in small batches, and their counts from the hourly
//! rollup with them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement, TransactionSession, TransactionTrait, Value};
use uuid::Uuid;

use super::chain::ChainHash;
use super::checkpoint::{self, Checkpoint, CheckpointKey};
use super::report::ReportError;
use super::rollup::{self, Counted};
use crate::migration::audit_rollup::{MFA_METHOD, hour_start_sql};

/// Rows deleted per statement: short transactions, no long table lock.
pub(crate) const PURGE_BATCH: u64 = 1000;

/// Deletes events older than `retention_days` days, `PURGE_BATCH` rows per transaction, and
/// returns how many were deleted; anchors are signed with `key` (see [`purge_before`]).
pub(crate) async fn purge_older_than<C>(
    db: &C,
    retention_days: u32,
    key: Option<&CheckpointKey>,
) -> Result<u64, ReportError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let cutoff = Utc::now() - chrono::Duration::days(i64::from(retention_days));
    Ok(purge_before(db, cutoff, key).await?)
}

/// What one purge transaction deletes.
#[derive(Debug, Clone)]
enum Purge {
    /// Events without a chain link, before the cutoff.
    Unchained(DateTime<Utc>),
    /// The events of a chain up to a sequence number, oldest first.
    Chain { chain: Uuid, up_to: i64 },
}

/// Deletes events with a timestamp before `cutoff`, in batches; returns how many.
///
/// Each batch is one transaction that deletes the rows and subtracts exactly those rows from the
/// hourly rollup (the rows this transaction deleted, as `RETURNING` or a locking read reports
/// them), so the rollup stays equal to the events with several instances purging at once and
/// sinks writing late events of the purged hours meanwhile.
///
/// A hash chain is cut only at a prefix: up to the last event before its first event at or
/// after `cutoff` (an event stamped late stays until the events before it go). Each batch of a
/// chain also writes, in its transaction, a [purged checkpoint](super::Checkpoint::purged) of the
/// last event it removed (signed with `key` when given) and removes the chain's older
/// checkpoints, so the rest of the chain verifies from there at every commit.
pub(crate) async fn purge_before<C>(db: &C, cutoff: DateTime<Utc>, key: Option<&CheckpointKey>) -> Result<u64, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let backend = db.get_database_backend();
    let hour = hour_start_sql(backend);
    let mut total = 0;
    let mut purges: Vec<Purge> =
        chain_prefixes(db, cutoff).await?.into_iter().map(|(chain, up_to)| Purge::Chain { chain, up_to }).collect();
    purges.push(Purge::Unchained(cutoff));
    for purge in purges {
        loop {
            let txn = db.begin().await?;
            let rows = delete_batch(&txn, backend, hour, &purge).await?;
            let deleted = rows.len() as u64;
            let counted = rows
                .iter()
                .map(|row| Counted {
                    hour_start: row.hour_start,
                    event_type: &row.event_type,
                    severity: &row.severity,
                    client_ip: row.client_ip.clone(),
                    actor_name: row.actor_name.as_deref(),
                    method: row.method.as_deref(),
                })
                .collect();
            rollup::subtract(&txn, counted).await?;
            if let Purge::Chain { chain, .. } = &purge {
                anchor(&txn, *chain, &rows, key).await?;
            }
            txn.commit().await?;
            total += deleted;
            if deleted < PURGE_BATCH {
                break;
            }
            // Let other work on this connection pool in between batches.
            tokio::task::yield_now().await;
        }
    }
    Ok(total)
}

/// For each chain with events before `cutoff`: the last sequence number that may go (the
/// events before its first event at or after `cutoff`).
async fn chain_prefixes<C: ConnectionTrait>(db: &C, cutoff: DateTime<Utc>) -> Result<Vec<(Uuid, i64)>, DbErr> {
    let backend = db.get_database_backend();
    let ts = if backend == DatabaseBackend::MySql { "`timestamp`" } else { "\"timestamp\"" };
    let param = if backend == DatabaseBackend::Postgres { "$1" } else { "?" };
    let grouped = |op: &str, agg: &str| {
        format!(
            "SELECT chain_id, {agg}(chain_seq) FROM audit_events WHERE chain_id IS NOT NULL AND {ts} {op} {param} GROUP BY chain_id"
        )
    };
    let read = |sql: String| async move {
        let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, [cutoff.into()])).await?;
        let rows = rows.into_iter().map(|row| row.try_get_many_by_index::<(Vec<u8>, i64)>());
        // A chain id that is not 16 bytes was not written by this crate: its rows stay (the
        // verifier reports them) rather than stopping every purge.
        let rows = rows.collect::<Result<Vec<_>, _>>()?;
        Ok::<_, DbErr>(
            rows.into_iter().filter_map(|(id, seq)| Some((Uuid::from_slice(&id).ok()?, seq))).collect::<Vec<_>>(),
        )
    };
    let old = read(grouped("<", "MAX")).await?;
    let kept: std::collections::HashMap<Uuid, i64> = read(grouped(">=", "MIN")).await?.into_iter().collect();
    Ok(old
        .into_iter()
        .map(|(chain, last_old)| {
            let up_to = kept.get(&chain).map_or(last_old, |first_kept| last_old.min(first_kept - 1));
            (chain, up_to)
        })
        .filter(|(_, up_to)| *up_to >= 1)
        .collect())
}

/// Leaves a purged checkpoint of the last event `rows` removed from `chain`, and removes the
/// chain's checkpoints before it.
async fn anchor<C: ConnectionTrait>(
    txn: &C,
    chain: Uuid,
    rows: &[Deleted],
    key: Option<&CheckpointKey>,
) -> Result<(), DbErr> {
    let Some(last) = rows.iter().filter_map(|row| row.link.clone()).max_by_key(|(seq, _)| *seq) else {
        return Ok(());
    };
    let Some(hash) = ChainHash::from_slice(&last.1) else {
        // Not a link this crate wrote: nothing to anchor on (the verifier reports the row).
        return Ok(());
    };
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let previous = checkpoint::Entity::find()
        .filter(checkpoint::Column::ChainId.eq(chain.to_string()))
        .filter(checkpoint::Column::ChainSeq.lt(last.0))
        .order_by_desc(checkpoint::Column::ChainSeq)
        .one(txn)
        .await?
        .map_or(0, |c| c.chain_seq.max(0) as u64);
    let mut anchor = Checkpoint::new(chain, last.0 as u64, hash, previous);
    anchor.purged = true;
    if let Some(key) = key {
        key.sign(&mut anchor);
    }
    checkpoint::Entity::delete_many()
        .filter(checkpoint::Column::ChainId.eq(chain.to_string()))
        .filter(checkpoint::Column::ChainSeq.lte(last.0))
        .exec(txn)
        .await?;
    checkpoint::Entity::insert(checkpoint::ActiveModel::from(&anchor)).exec_without_returning(txn).await?;
    Ok(())
}

/// A deleted row: what the rollup counts, and its chain link (sequence number, hash).
#[derive(Debug)]
struct Deleted {
    hour_start: i64,
    event_type: String,
    severity: String,
    client_ip: Option<String>,
    actor_name: Option<String>,
    method: Option<String>,
    link: Option<(i64, Vec<u8>)>,
}

type DeletedRow = (i64, String, String, Option<String>, Option<String>, Option<String>, Option<i64>, Option<Vec<u8>>);

/// A row locked for deletion on MySQL: its id, then a [`DeletedRow`].
type LockedRow =
    (String, i64, String, String, Option<String>, Option<String>, Option<String>, Option<i64>, Option<Vec<u8>>);

fn deleted((hour_start, event_type, severity, client_ip, actor_name, method, seq, hash): DeletedRow) -> Deleted {
    Deleted { hour_start, event_type, severity, client_ip, actor_name, method, link: seq.zip(hash) }
}

/// Deletes up to `PURGE_BATCH` events that `purge` selects in `txn` and returns them.
async fn delete_batch<C: ConnectionTrait>(
    txn: &C,
    backend: DatabaseBackend,
    hour: &str,
    purge: &Purge,
) -> Result<Vec<Deleted>, DbErr> {
    // The second-factor method as the rollup reads it, to subtract it there.
    let method = MFA_METHOD.value_sql(backend);
    let columns = format!("{hour}, event_type, severity, client_ip, actor_name, {method}, chain_seq, chain_hash");
    let ts = if backend == DatabaseBackend::MySql { "`timestamp`" } else { "\"timestamp\"" };
    let mark = |n: usize| if backend == DatabaseBackend::Postgres { format!("${n}") } else { "?".to_owned() };
    let (filter, order, values): (String, &str, Vec<Value>) = match purge {
        Purge::Unchained(cutoff) => (format!("chain_id IS NULL AND {ts} < {}", mark(1)), ts, vec![(*cutoff).into()]),
        Purge::Chain { chain, up_to } => (
            format!("chain_id = {} AND chain_seq <= {}", mark(1), mark(2)),
            "chain_seq",
            vec![chain.as_bytes().to_vec().into(), (*up_to).into()],
        ),
    };
    if backend == DatabaseBackend::MySql {
        // MySQL has no `DELETE … RETURNING`: lock the batch, then delete exactly those rows. A
        // concurrent purge waits on the locks and then reads past the deleted rows.
        let select = format!(
            "SELECT id, {columns} FROM audit_events WHERE {filter} ORDER BY {order} LIMIT {PURGE_BATCH} FOR UPDATE"
        );
        let rows = txn.query_all_raw(Statement::from_sql_and_values(backend, select, values)).await?;
        let mut ids: Vec<Value> = Vec::with_capacity(rows.len());
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            ids.push(row.try_get_by_index::<String>(0)?.into());
            let (_, hour_start, event_type, severity, client_ip, actor_name, method, seq, hash): LockedRow =
                row.try_get_many_by_index()?;
            out.push(deleted((hour_start, event_type, severity, client_ip, actor_name, method, seq, hash)));
        }
        if !ids.is_empty() {
            let marks = vec!["?"; ids.len()].join(", ");
            let delete = format!("DELETE FROM audit_events WHERE id IN ({marks})");
            txn.execute_raw(Statement::from_sql_and_values(backend, delete, ids)).await?;
        }
        return Ok(out);
    }
    let delete = format!(
        "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE {filter} ORDER BY {order} LIMIT {PURGE_BATCH}) RETURNING {columns}"
    );
    txn.query_all_raw(Statement::from_sql_and_values(backend, delete, values))
        .await?
        .into_iter()
        .map(|row| row.try_get_many_by_index::<DeletedRow>().map(deleted))
        .collect()
}

/// Deletes events older than `retention_days` days (like
/// [`AuditLogger::purge_older_than`](super::AuditLogger::purge_older_than)) every `every`, logging (not panicking on) failures. Abort the
/// returned handle to stop it. `key` signs the checkpoints that anchor the rest of each hash
/// chain (the logger's `audit.checkpoint_signing_key`; `None`: unsigned).
pub fn spawn_retention_task<C>(
    db: C,
    retention_days: u32,
    every: Duration,
    key: Option<CheckpointKey>,
) -> tokio::task::JoinHandle<()>
where
    C: ConnectionTrait + TransactionTrait + Send + Sync + 'static,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match purge_older_than(&db, retention_days, key.as_ref()).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, retention_days, "purged old audit events"),
                Err(e) => tracing::error!(error = %e, "audit retention purge failed; will retry next period"),
            }
        }
    })
}
