//! The hourly rollup of the audit events: counts per hour, type and severity, and per client
//! address or account name for the event types the report and dashboard rank by them, kept in
//! the `audit_rollup_hourly` table (created and backfilled by the migration).
//!
//! The [`DatabaseSink`](crate::audit::DatabaseSink) adds each newly stored event in the same
//! transaction as the event ([`add`]: one upsert that adds counts, safe with several instances
//! writing at once); the retention purge subtracts what it deletes in the transaction that
//! deletes it. The security report and the dashboard read whole hours from the rollup and only
//! the partial hours at the edges of a period from `audit_events`, so their cost grows with the
//! hours of the period, not with its events, and their numbers equal the aggregates over the
//! events.
//!
//! That holds as long as `audit_events` is written only through the sink and purged only through
//! [`AuditLogger::purge_before`](crate::audit::AuditLogger::purge_before) (or
//! `purge_older_than` and the retention task). Rows inserted or deleted by other means (an import,
//! a manual `DELETE`) are not in the rollup: call [`rebuild`] for their hours afterwards.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement, TransactionSession, TransactionTrait, Value};

use super::event::AuditEvent;
use crate::migration::audit_rollup::{
    DIMENSIONS, METHOD_DIMENSION, MFA_METHOD, NO_DIMENSION, dimension_for, placeholders, rebuild_audit_rollup,
    timestamp_column,
};

const HOUR: i64 = 3600;
/// Rows per upsert: 6 values each, far under every backend's bind-parameter limit.
const ROWS_PER_UPSERT: usize = 500;

/// One rollup row's key, in the table's primary-key order (so upserts lock rows in one order).
type Key = (&'static str, i64, String, String, String);

/// The start of `t`'s hour in Unix seconds.
pub(crate) fn hour_start(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(HOUR) * HOUR
}

fn hour_instant(hour_start: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(hour_start, 0).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// One event's contribution to the rollup, as stored: type, severity, address, account name,
/// second-factor method.
pub(crate) struct Counted<'a> {
    pub(crate) hour_start: i64,
    pub(crate) event_type: &'a str,
    pub(crate) severity: &'a str,
    pub(crate) client_ip: Option<String>,
    pub(crate) actor_name: Option<&'a str>,
    pub(crate) method: Option<&'a str>,
}

impl<'a> From<&'a AuditEvent> for Counted<'a> {
    fn from(e: &'a AuditEvent) -> Self {
        Counted {
            hour_start: hour_start(e.timestamp),
            event_type: e.event_type.as_str(),
            severity: e.severity.as_str(),
            client_ip: e.client_ip.map(|ip| ip.to_string()),
            actor_name: e.actor_name.as_deref(),
            method: e.details.get("method").and_then(serde_json::Value::as_str),
        }
    }
}

fn deltas<'a>(events: impl IntoIterator<Item = Counted<'a>>, sign: i64) -> BTreeMap<Key, i64> {
    let mut deltas: BTreeMap<Key, i64> = BTreeMap::new();
    for e in events {
        let key = |kind: &'static str, value: &str| {
            (kind, e.hour_start, e.event_type.to_owned(), e.severity.to_owned(), value.to_owned())
        };
        *deltas.entry(key(NO_DIMENSION, "")).or_insert(0) += sign;
        for dim in &DIMENSIONS {
            if !dim.event_types.contains(&e.event_type) {
                continue;
            }
            let value = match dim.kind {
                "client_ip" => e.client_ip.as_deref(),
                METHOD_DIMENSION => e.method,
                _ => e.actor_name,
            };
            if let Some(value) = value {
                *deltas.entry(key(dim.kind, value)).or_insert(0) += sign;
            }
        }
    }
    deltas
}

/// Adds `new_events` to the rollup: aggregated in memory, then one multi-row upsert adding the
/// counts (rows in key order, so concurrent writers cannot deadlock on them). Call it in the
/// transaction that inserts the events, with exactly the events that transaction newly
/// inserted: an event passed twice is counted twice.
pub async fn add<'a, C: ConnectionTrait>(
    db: &C,
    new_events: impl IntoIterator<Item = &'a AuditEvent>,
) -> Result<(), DbErr> {
    apply(db, deltas(new_events.into_iter().map(Counted::from), 1)).await
}

/// Subtracts deleted events from the rollup and drops the rows that reach zero.
pub(crate) async fn subtract<C: ConnectionTrait>(db: &C, deleted: Vec<Counted<'_>>) -> Result<(), DbErr> {
    let deltas = deltas(deleted, -1);
    let Some(min) = deltas.keys().map(|k| k.1).min() else { return Ok(()) };
    let max = deltas.keys().map(|k| k.1).max().unwrap_or(min);
    apply(db, deltas).await?;
    let backend = db.get_database_backend();
    let sql = placeholders(
        backend,
        "DELETE FROM audit_rollup_hourly WHERE dim_kind = ? AND hour_start >= ? AND hour_start <= ? AND event_count <= 0",
    );
    for kind in std::iter::once(NO_DIMENSION).chain(DIMENSIONS.iter().map(|d| d.kind)) {
        db.execute_raw(Statement::from_sql_and_values(backend, &sql, [kind.into(), min.into(), max.into()])).await?;
    }
    Ok(())
}

async fn apply<C: ConnectionTrait>(db: &C, deltas: BTreeMap<Key, i64>) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let rows: Vec<(Key, i64)> = deltas.into_iter().filter(|(_, n)| *n != 0).collect();
    for chunk in rows.chunks(ROWS_PER_UPSERT) {
        let tuples = vec!["(?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let on_conflict = match backend {
            DatabaseBackend::MySql => "ON DUPLICATE KEY UPDATE event_count = event_count + VALUES(event_count)",
            _ => {
                "ON CONFLICT (dim_kind, hour_start, event_type, severity, dim_value) \
                 DO UPDATE SET event_count = audit_rollup_hourly.event_count + excluded.event_count"
            }
        };
        let sql = placeholders(
            backend,
            &format!(
                "INSERT INTO audit_rollup_hourly (dim_kind, hour_start, event_type, severity, dim_value, event_count) \
                 VALUES {tuples} {on_conflict}"
            ),
        );
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 6);
        for ((kind, hour, event_type, severity, value), n) in chunk {
            values.extend([
                (*kind).into(),
                (*hour).into(),
                event_type.clone().into(),
                severity.clone().into(),
                value.clone().into(),
                (*n).into(),
            ]);
        }
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    }
    Ok(())
}

/// Recomputes the rollup from `audit_events` for the hours that overlap `period` (`[start, end)`,
/// widened to whole hours), or for every hour with `None`, in one transaction. Use it after
/// writing or deleting events by other means than the sink and the retention purge (an import,
/// a manual fix), with no sink writing events of those hours meanwhile.
///
/// ```no_run
/// # async fn f(db: sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
/// // After importing events of November 2026 with plain SQL:
/// use chrono::{TimeZone, Utc};
/// let november = (Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(), Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
/// rail_graphql_security::audit::rollup::rebuild(&db, Some(november)).await?;
/// # Ok(()) }
/// ```
pub async fn rebuild<C>(db: &C, period: Option<(DateTime<Utc>, DateTime<Utc>)>) -> Result<(), DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let hours = period.map(|(start, end)| {
        let last = hour_start(end);
        (hour_start(start), if hour_instant(last) == end { last } else { last + HOUR })
    });
    let txn = db.begin().await?;
    rebuild_audit_rollup(&txn, hours).await?;
    txn.commit().await
}

/// How a period `[start, end)` is read: the whole hours `[from, to)` (Unix seconds; empty when
/// `from >= to`) from the rollup, the two edge ranges from the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    pub(crate) whole_hours: (i64, i64),
    pub(crate) edges: [(DateTime<Utc>, DateTime<Utc>); 2],
}

impl Split {
    pub(crate) fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Split {
        let first = {
            let h = hour_start(start);
            if hour_instant(h) == start { h } else { h + HOUR }
        };
        let last = hour_start(end);
        if first < last {
            Split { whole_hours: (first, last), edges: [(start, hour_instant(first)), (hour_instant(last), end)] }
        } else {
            Split { whole_hours: (0, 0), edges: [(start, end), (end, end)] }
        }
    }

    /// The events only: for aggregates the rollup does not keep.
    fn raw(start: DateTime<Utc>, end: DateTime<Utc>) -> Split {
        Split { whole_hours: (0, 0), edges: [(start, end), (end, end)] }
    }

    fn edge_values(&self) -> Vec<Value> {
        self.edges.iter().flat_map(|(a, b)| [Value::from(*a), Value::from(*b)]).collect()
    }
}

/// `SUM(col)` as a 64-bit integer on every backend.
fn sum(backend: DatabaseBackend, col: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("CAST(SUM({col}) AS BIGINT)"),
        DatabaseBackend::MySql => format!("CAST(SUM({col}) AS SIGNED)"),
        _ => format!("SUM({col})"),
    }
}

/// The events per hour and type in `[start, end)`: (hour start, type, count), hours without
/// events absent, in no particular order.
pub(crate) async fn counts_per_hour_and_type<C: ConnectionTrait>(
    db: &C,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, String, u64)>, DbErr> {
    let backend = db.get_database_backend();
    let split = Split::new(start, end);
    let mut counts: BTreeMap<(i64, String), u64> = BTreeMap::new();

    let (from, to) = split.whole_hours;
    if from < to {
        let sql = format!(
            "SELECT hour_start, event_type, {n} FROM audit_rollup_hourly \
             WHERE dim_kind = '{NO_DIMENSION}' AND hour_start >= ? AND hour_start < ? GROUP BY hour_start, event_type",
            n = sum(backend, "event_count")
        );
        let stmt = Statement::from_sql_and_values(backend, placeholders(backend, &sql), [from.into(), to.into()]);
        for row in db.query_all_raw(stmt).await? {
            let (hour, event_type, n): (i64, String, i64) = row.try_get_many_by_index()?;
            *counts.entry((hour, event_type)).or_insert(0) += n as u64;
        }
    }

    let ts = timestamp_column(backend);
    let label = hour_label_sql(backend);
    let sql = format!(
        "SELECT {label}, event_type, COUNT(*) FROM audit_events \
         WHERE ({ts} >= ? AND {ts} < ?) OR ({ts} >= ? AND {ts} < ?) GROUP BY {label}, event_type"
    );
    let stmt = Statement::from_sql_and_values(backend, placeholders(backend, &sql), split.edge_values());
    for row in db.query_all_raw(stmt).await? {
        let (label, event_type, n): (String, String, i64) = row.try_get_many_by_index()?;
        let Ok(naive) = NaiveDateTime::parse_from_str(&label, "%Y-%m-%d %H:%M:%S") else {
            return Err(DbErr::Type(format!("unexpected hour bucket {label:?}")));
        };
        *counts.entry((naive.and_utc().timestamp(), event_type)).or_insert(0) += n as u64;
    }
    Ok(counts.into_iter().map(|((hour, event_type), n)| (hour_instant(hour), event_type, n)).collect())
}

/// The MFA events (`mfa_enabled`, `mfa_disabled`, `mfa_success`, `mfa_failed`) in
/// `[start, end)` per second-factor method (the details' `method`: `totp`, `passkey`, ...), from
/// the rollup's `method` rows for the whole hours and the events for the edges.
pub(crate) async fn mfa_events_per_method<C: ConnectionTrait>(
    db: &C,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<BTreeMap<String, u64>, DbErr> {
    let backend = db.get_database_backend();
    let split = Split::new(start, end);
    let ts = timestamp_column(backend);
    let n = sum(backend, "c");
    let value = MFA_METHOD.value_sql(backend);
    let types = MFA_METHOD.event_types.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT v, {n} AS n FROM (\
           SELECT dim_value AS v, event_count AS c FROM audit_rollup_hourly \
             WHERE dim_kind = '{METHOD_DIMENSION}' AND hour_start >= ? AND hour_start < ? \
           UNION ALL \
           SELECT {value} AS v, COUNT(*) AS c FROM audit_events \
             WHERE event_type IN ({types}) AND {value} IS NOT NULL AND (({ts} >= ? AND {ts} < ?) OR ({ts} >= ? AND {ts} < ?)) \
             GROUP BY {value}\
         ) AS u GROUP BY v"
    );
    let (from, to) = split.whole_hours;
    let mut values: Vec<Value> = vec![from.into(), to.into()];
    values.extend(split.edge_values());
    value_counts(db, &sql, values).await
}

/// Runs `sql` (a `SELECT` of a value and its count, `?` placeholders) and reads its rows.
async fn value_counts<C: ConnectionTrait, Out: FromIterator<(String, u64)>>(
    db: &C,
    sql: &str,
    values: Vec<Value>,
) -> Result<Out, DbErr> {
    let backend = db.get_database_backend();
    let rows = db.query_all_raw(Statement::from_sql_and_values(backend, placeholders(backend, sql), values)).await?;
    rows.into_iter()
        .map(|row| {
            let (value, n): (String, i64) = row.try_get_many_by_index()?;
            Ok((value, n as u64))
        })
        .collect()
}

/// A column of `audit_events` the report and dashboard rank values of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankedColumn {
    /// `client_ip`: the top failing addresses, rate-limit hits by address.
    ClientIp,
    /// `actor_name`: the most targeted accounts.
    ActorName,
}

impl RankedColumn {
    fn name(self) -> &'static str {
        match self {
            RankedColumn::ClientIp => "client_ip",
            RankedColumn::ActorName => "actor_name",
        }
    }
}

/// The `limit` values of `column` with the most events of `event_type` in `[start, end)`, most
/// first, ties by value in the column's collation: what `GROUP BY column ORDER BY COUNT(*) DESC,
/// column LIMIT limit` over the events returns (events without a value are not counted). Reads
/// the rollup for the whole hours when it counts that column for that type (the report's and
/// dashboard's lists), the events otherwise. On SQLite and PostgreSQL, when the list's values
/// recur within hours far more than the rest (attacking addresses among one-off ones), it is
/// read from the rollup rows counting more than one event without the long tail; the numbers
/// are the same either way.
///
/// ```no_run
/// # async fn f(db: sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
/// use chrono::{Duration, Utc};
/// use rail_graphql_security::audit::rollup::{RankedColumn, top_values};
/// let end = Utc::now();
/// let top = top_values(&db, end - Duration::days(7), end, RankedColumn::ClientIp, "rate_limit_exceeded", 10).await?;
/// for (address, hits) in top {
///     println!("{address}: {hits}");
/// }
/// # Ok(()) }
/// ```
pub async fn top_values<C: ConnectionTrait>(
    db: &C,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    column: RankedColumn,
    event_type: &str,
    limit: u64,
) -> Result<Vec<(String, u64)>, DbErr> {
    let column = column.name();
    let backend = db.get_database_backend();
    let split = match dimension_for(column, event_type) {
        Some(_) => Split::new(start, end),
        None => Split::raw(start, end),
    };
    let (from, to) = split.whole_hours;
    // MySQL/MariaDB have no partial index of the rows counting more than one event.
    if from < to
        && limit > 0
        && backend != DatabaseBackend::MySql
        && let Some(top) = bounded_top_values(db, &split, column, event_type, limit).await?
    {
        return Ok(top);
    }
    let n = sum(backend, "c");
    let edges = edge_counts_sql(backend, column);
    let sql = format!(
        "SELECT v, {n} AS n FROM (\
           SELECT dim_value AS v, event_count AS c FROM audit_rollup_hourly \
             WHERE dim_kind = ? AND hour_start >= ? AND hour_start < ? AND event_type = ? \
           UNION ALL {edges}\
         ) AS u GROUP BY v ORDER BY n DESC, v ASC LIMIT {limit}"
    );
    let mut values: Vec<Value> = vec![column.into(), from.into(), to.into(), event_type.into(), event_type.into()];
    values.extend(split.edge_values());
    value_counts(db, &sql, values).await
}

/// The events of one type per value of `column` in a split's two edges: `SELECT v, c`, bound
/// to the type and then [`Split::edge_values`].
fn edge_counts_sql(backend: DatabaseBackend, column: &str) -> String {
    let ts = timestamp_column(backend);
    format!(
        "SELECT {column} AS v, COUNT(*) AS c FROM audit_events \
         WHERE event_type = ? AND {column} IS NOT NULL AND (({ts} >= ? AND {ts} < ?) OR ({ts} >= ? AND {ts} < ?)) \
         GROUP BY {column}"
    )
}

/// Candidates whose exact totals [`bounded_top_values`] reads at most; with more, the bound is
/// too loose to save work and [`top_values`] reads every row.
const MAX_REFINED: usize = 200;
/// Hours per statement when [`bounded_top_values`] reads the candidates' exact totals.
const HOURS_PER_LOOKUP: usize = 500;

/// What [`bounded_top_values`] knows of a value before its exact total: the sum and number of
/// its rows counting more than one event in the whole hours, and its events at the edges.
#[derive(Debug, Default, Clone, Copy)]
struct Partial {
    heavy_sum: u64,
    heavy_rows: u64,
    edge: u64,
}

/// [`top_values`] without reading the long tail of values that occur once an hour, when the
/// data allow it; `None` when they do not (the caller then reads every row).
///
/// A rollup row counts one value's events in one hour with one severity: a value whose rows in
/// the whole hours each count a single event has at most one event per (hour, severity) *slot*
/// of the type, so at most `slots` events there, and none at the edges unless the edge query
/// names it. So:
/// 1. read the slots, the rows counting more than one event (through [`HEAVY_ROWS_INDEX`]), and
///    the edges: the *candidates*, each with a lower bound (those counts) and an upper bound
///    (plus one event in each slot its heavy rows leave free);
/// 2. read the exact totals of the candidates whose upper bound reaches the `limit`-th largest
///    lower bound (the others cannot enter the list), with point lookups per slot;
/// 3. the list is exact if the `limit`-th exact total exceeds `slots`, the most a value outside
///    the candidates can have; it is ordered by the database (`ORDER BY n DESC, v ASC`), so
///    ties follow the same collation as the full query's.
///
/// The steps are separate statements: events stored meanwhile may be counted by one and not
/// another, as between the report's own queries.
///
/// [`HEAVY_ROWS_INDEX`]: crate::migration::audit_rollup::HEAVY_ROWS_INDEX
async fn bounded_top_values<C: ConnectionTrait>(
    db: &C,
    split: &Split,
    column: &str,
    event_type: &str,
    limit: u64,
) -> Result<Option<Vec<(String, u64)>>, DbErr> {
    let backend = db.get_database_backend();
    let (from, to) = split.whole_hours;
    let query = |sql: &str, values: Vec<Value>| {
        db.query_all_raw(Statement::from_sql_and_values(backend, placeholders(backend, sql), values))
    };

    let sql = format!(
        "SELECT hour_start, severity FROM audit_rollup_hourly \
         WHERE dim_kind = '{NO_DIMENSION}' AND hour_start >= ? AND hour_start < ? AND event_type = ?"
    );
    let mut hours = BTreeSet::new();
    let mut severities = BTreeSet::new();
    let mut slots = 0u64;
    for row in query(&sql, vec![from.into(), to.into(), event_type.into()]).await? {
        let (hour, severity): (i64, String) = row.try_get_many_by_index()?;
        hours.insert(hour);
        severities.insert(severity);
        slots += 1;
    }

    let mut partial: HashMap<String, Partial> = HashMap::new();
    let sql = format!(
        "SELECT dim_value, {n}, COUNT(*) FROM audit_rollup_hourly \
         WHERE dim_kind = ? AND event_type = ? AND hour_start >= ? AND hour_start < ? AND event_count > 1 \
         GROUP BY dim_value",
        n = sum(backend, "event_count")
    );
    for row in query(&sql, vec![column.into(), event_type.into(), from.into(), to.into()]).await? {
        let (value, n, rows): (String, i64, i64) = row.try_get_many_by_index()?;
        let entry = partial.entry(value).or_default();
        (entry.heavy_sum, entry.heavy_rows) = (n as u64, rows as u64);
    }
    let mut values: Vec<Value> = vec![event_type.into()];
    values.extend(split.edge_values());
    for (value, n) in value_counts::<_, Vec<_>>(db, &edge_counts_sql(backend, column), values).await? {
        partial.entry(value).or_default().edge = n;
    }

    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if partial.len() < limit {
        return Ok(None);
    }
    let lower = |p: &Partial| p.heavy_sum + p.edge;
    let upper = |p: &Partial| lower(p) + slots.saturating_sub(p.heavy_rows);
    let mut lowers: Vec<u64> = partial.values().map(lower).collect();
    let (_, &mut lowest_kept, _) = lowers.select_nth_unstable_by(limit - 1, |a, b| b.cmp(a));
    // The `limit`-th exact total is at least `lowest_kept`: past `slots`, nothing outside the
    // candidates can enter the list. Below it the distribution is too flat to bound cheaply.
    if lowest_kept <= slots {
        return Ok(None);
    }
    let refine: Vec<(&String, &Partial)> = partial.iter().filter(|(_, p)| upper(p) >= lowest_kept).collect();
    if refine.len() > MAX_REFINED {
        return Ok(None);
    }

    let mut whole: HashMap<String, u64> = HashMap::new();
    let hours: Vec<i64> = hours.into_iter().collect();
    let marks = |n: usize| vec!["?"; n].join(", ");
    for chunk in hours.chunks(HOURS_PER_LOOKUP) {
        let sql = format!(
            "SELECT dim_value, {n} FROM audit_rollup_hourly \
             WHERE dim_kind = ? AND hour_start IN ({h}) AND event_type = ? AND severity IN ({s}) AND dim_value IN ({v}) \
             GROUP BY dim_value",
            n = sum(backend, "event_count"),
            h = marks(chunk.len()),
            s = marks(severities.len()),
            v = marks(refine.len()),
        );
        let mut values: Vec<Value> = vec![column.into()];
        values.extend(chunk.iter().map(|h| Value::from(*h)));
        values.push(event_type.into());
        values.extend(severities.iter().map(|s| Value::from(s.as_str())));
        values.extend(refine.iter().map(|(v, _)| Value::from(v.as_str())));
        for (value, n) in value_counts::<_, Vec<_>>(db, &sql, values).await? {
            *whole.entry(value).or_insert(0) += n;
        }
    }
    let mut totals: Vec<(&str, u64)> =
        refine.iter().map(|(v, p)| (v.as_str(), whole.get(v.as_str()).copied().unwrap_or(0) + p.edge)).collect();
    totals.sort_unstable_by_key(|(_, n)| std::cmp::Reverse(*n));
    if totals.get(limit - 1).is_none_or(|(_, n)| *n <= slots) {
        // Cannot happen with consistent reads (the exact totals are at least the lower
        // bounds); events purged between the statements can make it so.
        return Ok(None);
    }

    tracing::debug!(
        column,
        event_type,
        slots,
        candidates = partial.len(),
        refined = refine.len(),
        "top list bounded by the rollup's heavy rows"
    );
    // Ranked by the database, for its collation's order of tied values.
    let rows = vec!["SELECT ? AS v, ? AS n"; totals.len()].join(" UNION ALL ");
    let sql = format!("SELECT v, n FROM ({rows}) AS t ORDER BY n DESC, v ASC LIMIT {limit}");
    let values: Vec<Value> = totals.iter().flat_map(|(v, n)| [Value::from(*v), Value::from(*n as i64)]).collect();
    value_counts(db, &sql, values).await.map(Some)
}

/// The start of an event's hour in UTC as `YYYY-MM-DD HH:00:00`, per backend.
fn hour_label_sql(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => {
            r#"to_char(date_trunc('hour', "timestamp" AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:00:00')"#
        }
        DatabaseBackend::MySql => "DATE_FORMAT(`timestamp`, '%Y-%m-%d %H:00:00')",
        _ => r#"strftime('%Y-%m-%d %H:00:00', "timestamp")"#,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_period_splits_into_whole_hours_and_two_edges() {
        let split = Split::new(at("2026-11-28T09:15:00Z"), at("2026-11-28T12:30:00Z"));
        assert_eq!(split.whole_hours, (at("2026-11-28T10:00:00Z").timestamp(), at("2026-11-28T12:00:00Z").timestamp()));
        assert_eq!(split.edges[0], (at("2026-11-28T09:15:00Z"), at("2026-11-28T10:00:00Z")));
        assert_eq!(split.edges[1], (at("2026-11-28T12:00:00Z"), at("2026-11-28T12:30:00Z")));
    }

    #[test]
    fn whole_hour_bounds_leave_empty_edges() {
        let (start, end) = (at("2026-11-28T09:00:00Z"), at("2026-11-28T11:00:00Z"));
        let split = Split::new(start, end);
        assert_eq!(split.whole_hours, (start.timestamp(), end.timestamp()));
        assert_eq!(split.edges, [(start, start), (end, end)]);
    }

    #[test]
    fn a_period_within_one_hour_or_across_one_boundary_is_all_edges() {
        for (start, end) in [
            (at("2026-11-28T09:10:00Z"), at("2026-11-28T09:50:00Z")),
            (at("2026-11-28T09:10:00Z"), at("2026-11-28T10:50:00Z")),
        ] {
            let split = Split::new(start, end);
            assert!(split.whole_hours.0 >= split.whole_hours.1);
            assert_eq!(split.edges, [(start, end), (end, end)]);
        }
    }

    #[test]
    fn hours_are_floored_before_1970_too() {
        assert_eq!(hour_start(at("1969-12-31T23:59:59Z")), -3600);
        assert_eq!(
            hour_start(at("2026-11-28T09:59:59.999999Z") + TimeDelta::nanoseconds(900)),
            at("2026-11-28T09:00:00Z").timestamp()
        );
    }
}
