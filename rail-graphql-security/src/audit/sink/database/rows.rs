//! The statements that write events into `audit_events`, one bulk form per backend, and the
//! encoding of events straight into their bound values (no SeaORM `ActiveModel` in between).
//!
//! - PostgreSQL: one `INSERT … SELECT … FROM UNNEST($1, …, $11) ON CONFLICT (id) DO NOTHING`
//!   per chunk: eleven array parameters whatever the row count, so one prepared statement serves
//!   every chunk. (`COPY` would need the driver's connection, which a SeaORM transaction does
//!   not expose, and cannot skip stored ids.)
//! - SQLite: a multi-row `INSERT OR FAIL … VALUES (…), … ON CONFLICT (id) DO NOTHING`. With
//!   the default `ABORT`, a statement that writes many rows and may fail half-way makes SQLite
//!   copy every page it changes to a statement journal (a temporary file past 64 KiB) first, to
//!   undo just that statement: 8 % of the ingest's CPU in a profile, growing with the bytes per
//!   row. `FAIL` stops at a refused row without undoing the rows before it, which needs no
//!   journal; the sink always runs these statements in a transaction it rolls back on any
//!   error, so a refused row still leaves nothing behind.
//! - MySQL/MariaDB: a plain multi-row `INSERT … VALUES`. A stored id fails it with
//!   `ER_DUP_ENTRY`, which the sink takes as "some ids are stored" (neither `INSERT IGNORE`,
//!   which turns refused data into warnings and stores it truncated, nor `ON DUPLICATE KEY
//!   UPDATE`, whose affected-row count under the driver's `CLIENT_FOUND_ROWS` counts duplicates
//!   too, could tell which rows were new).
//!
//! Multi-row statements have a few fixed row counts ([`statement_rows`]), so their SQL text
//! repeats and the driver's statement cache prepares each shape once per connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sea_orm::{DbBackend, DbErr, Statement, Value};

use crate::audit::chain::{CHAINED_FIELDS, ChainColumns};
use crate::audit::event::AuditEvent;

/// The columns after the event's own fields ([`CHAINED_FIELDS`], the same names as columns).
const CHAIN_COLUMNS: [&str; 5] = ["chain_id", "chain_seq", "chain_prev", "chain_hash", "chain_fields"];
/// Values per row.
const COLUMN_COUNT: usize = CHAINED_FIELDS.len() + CHAIN_COLUMNS.len();

/// Rows in a full multi-row `INSERT`: 15 columns x 1000 rows stays under every backend's
/// bind-parameter limit (SQLite 32 766, MySQL 65 535).
pub(super) const ROWS_PER_VALUES_INSERT: usize = 1000;
/// Rows in one PostgreSQL `UNNEST` insert (the parameter count does not grow with it).
const ROWS_PER_UNNEST_INSERT: usize = 10_000;
/// Estimated bytes of values per MySQL/MariaDB `INSERT`: far below its smallest common
/// `max_allowed_packet` (4 MiB), even if every character of the JSON needed escaping. A statement
/// over that limit is refused as a whole (and may cost the connection).
const MYSQL_BYTES_PER_INSERT: usize = 512 * 1024;
/// Estimated bytes per statement elsewhere: bounds the memory one statement holds.
const BYTES_PER_INSERT: usize = 32 * 1024 * 1024;

/// Writes rows of `audit_events` on one backend, caching the SQL text of each statement shape.
#[derive(Debug, Clone)]
pub(super) struct RowWriter {
    backend: DbBackend,
    values_sql: Arc<Mutex<HashMap<usize, String>>>,
}

impl RowWriter {
    pub(super) fn new(backend: DbBackend) -> Self {
        Self { backend, values_sql: Arc::default() }
    }

    /// How many of `events` (at least one) the next statement takes.
    pub(super) fn next_chunk(&self, events: &[&AuditEvent]) -> usize {
        let (max_rows, max_bytes) = match self.backend {
            DbBackend::Postgres => (ROWS_PER_UNNEST_INSERT, BYTES_PER_INSERT),
            DbBackend::MySql => (ROWS_PER_VALUES_INSERT, MYSQL_BYTES_PER_INSERT),
            _ => (ROWS_PER_VALUES_INSERT, BYTES_PER_INSERT),
        };
        let mut take = 0;
        let mut bytes = 0;
        while take < events.len() && take < max_rows {
            bytes += estimated_row_bytes(events[take]);
            if take > 0 && bytes > max_bytes {
                break;
            }
            take += 1;
        }
        match self.backend {
            DbBackend::Postgres => take,
            _ => statement_rows(take),
        }
    }

    /// The statement inserting `events` (a chunk from [`next_chunk`](Self::next_chunk)).
    pub(super) fn insert(&self, events: &[&AuditEvent]) -> Result<Statement, DbErr> {
        match self.backend {
            #[cfg(feature = "sqlx-postgres")]
            DbBackend::Postgres => {
                Ok(Statement::from_sql_and_values(self.backend, UNNEST_INSERT, unnest_values(events)))
            }
            _ => {
                let mut values = Vec::with_capacity(events.len() * COLUMN_COUNT);
                for event in events {
                    push_row(event, &mut values);
                }
                Ok(Statement::from_sql_and_values(self.backend, self.values_sql(events.len())?, values))
            }
        }
    }

    fn values_sql(&self, rows: usize) -> Result<String, DbErr> {
        let mut cache = self.values_sql.lock().map_err(|_| DbErr::Custom("audit SQL cache poisoned".to_owned()))?;
        Ok(cache.entry(rows).or_insert_with(|| values_insert_sql(self.backend, rows)).clone())
    }
}

/// The row count of the next multi-row statement out of `n` rows: a full statement, else a
/// multiple of 64, else a power of two. Some 20 shapes in all, each prepared once per
/// connection, where any count would prepare (and evict from the driver's cache) a new one.
pub(super) fn statement_rows(n: usize) -> usize {
    if n >= ROWS_PER_VALUES_INSERT {
        ROWS_PER_VALUES_INSERT
    } else if n >= 64 {
        n & !63
    } else if n == 0 {
        0
    } else {
        1 << n.ilog2()
    }
}

fn values_insert_sql(backend: DbBackend, rows: usize) -> String {
    let quote = if backend == DbBackend::MySql { '`' } else { '"' };
    let columns: Vec<String> =
        CHAINED_FIELDS.iter().chain(&CHAIN_COLUMNS).map(|c| format!("{quote}{c}{quote}")).collect();
    let placeholders = format!("({})", vec!["?"; COLUMN_COUNT].join(","));
    // See the module documentation: no statement journal on SQLite.
    let verb = if backend == DbBackend::Sqlite { "INSERT OR FAIL" } else { "INSERT" };
    let mut sql = format!("{verb} INTO {quote}audit_events{quote} ({}) VALUES ", columns.join(", "));
    sql.reserve(rows * (placeholders.len() + 1) + 32);
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push_str(&placeholders);
    }
    if backend != DbBackend::MySql {
        sql.push_str(" ON CONFLICT (\"id\") DO NOTHING");
    }
    sql
}

fn push_row(e: &AuditEvent, values: &mut Vec<Value>) {
    let link = ChainColumns::from(e.chain.as_ref());
    values.extend([
        Value::String(Some(e.id.to_string())),
        Value::String(Some(e.event_type.as_str().to_owned())),
        Value::String(Some(e.severity.as_str().to_owned())),
        Value::ChronoDateTimeUtc(Some(e.timestamp)),
        Value::String(e.actor_id.clone()),
        Value::String(e.actor_name.clone()),
        Value::String(e.client_ip.map(|ip| ip.to_string())),
        Value::String(e.user_agent.clone()),
        Value::String(e.request_id.clone()),
        // The JSON text sqlx would send for a `Value::Json`, without copying the tree first.
        Value::String(Some(e.details.to_string())),
        Value::Bytes(link.chain_id),
        Value::BigInt(link.chain_seq),
        Value::Bytes(link.chain_prev),
        Value::Bytes(link.chain_hash),
        Value::Bytes(link.chain_fields),
    ]);
}

/// Arrays cannot hold NULL through SeaORM's binding, so optional columns travel as `''` plus a
/// bit in `nulls` (1 `actor_id`, 2 `actor_name`, 4 `client_ip`, 8 `user_agent`, 16
/// `request_id`, 32 the five `chain_*` columns). `details` is cast through `jsonb`, as SeaORM binds JSON, so the server checks
/// it the same way.
#[cfg(feature = "sqlx-postgres")]
const UNNEST_INSERT: &str = "INSERT INTO \"audit_events\" (\"id\", \"event_type\", \"severity\", \"timestamp\", \
     \"actor_id\", \"actor_name\", \"client_ip\", \"user_agent\", \"request_id\", \"details\", \
     \"chain_id\", \"chain_seq\", \"chain_prev\", \"chain_hash\", \"chain_fields\") \
     SELECT r.id::text, r.event_type, r.severity, r.ts, \
     CASE WHEN r.nulls & 1 = 0 THEN r.actor_id END, CASE WHEN r.nulls & 2 = 0 THEN r.actor_name END, \
     CASE WHEN r.nulls & 4 = 0 THEN r.client_ip END, CASE WHEN r.nulls & 8 = 0 THEN r.user_agent END, \
     CASE WHEN r.nulls & 16 = 0 THEN r.request_id END, r.details::jsonb, \
     CASE WHEN r.nulls & 32 = 0 THEN r.chain_id END, CASE WHEN r.nulls & 32 = 0 THEN r.chain_seq END, \
     CASE WHEN r.nulls & 32 = 0 THEN r.chain_prev END, CASE WHEN r.nulls & 32 = 0 THEN r.chain_hash END, \
     CASE WHEN r.nulls & 32 = 0 THEN r.chain_fields END \
     FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], \
     $8::text[], $9::text[], $10::text[], $11::int2[], $12::bytea[], $13::int8[], $14::bytea[], $15::bytea[], \
     $16::bytea[]) \
     AS r(id, event_type, severity, ts, actor_id, actor_name, client_ip, user_agent, request_id, details, nulls, \
     chain_id, chain_seq, chain_prev, chain_hash, chain_fields) \
     ON CONFLICT (\"id\") DO NOTHING";

#[cfg(feature = "sqlx-postgres")]
fn unnest_values(events: &[&AuditEvent]) -> Vec<Value> {
    use sea_orm::sea_query::ArrayType;

    let n = events.len();
    let column = || Vec::with_capacity(n);
    let (mut ids, mut types, mut severities, mut times) = (column(), column(), column(), column());
    let mut optional: [Vec<Value>; 5] = std::array::from_fn(|_| column());
    let (mut details, mut nulls) = (column(), column());
    let mut chain: [Vec<Value>; 5] = std::array::from_fn(|_| column());
    for e in events {
        ids.push(Value::Uuid(Some(e.id)));
        types.push(Value::String(Some(e.event_type.as_str().to_owned())));
        severities.push(Value::String(Some(e.severity.as_str().to_owned())));
        times.push(Value::ChronoDateTimeUtc(Some(e.timestamp)));
        let fields = [
            e.actor_id.clone(),
            e.actor_name.clone(),
            e.client_ip.map(|ip| ip.to_string()),
            e.user_agent.clone(),
            e.request_id.clone(),
        ];
        let mut mask = 0i16;
        for (bit, (field, out)) in fields.into_iter().zip(optional.iter_mut()).enumerate() {
            if field.is_none() {
                mask |= 1 << bit;
            }
            out.push(Value::String(Some(field.unwrap_or_default())));
        }
        if e.chain.is_none() {
            mask |= 32;
        }
        let link = ChainColumns::from(e.chain.as_ref());
        let [chain_ids, seqs, prevs, hashes, tags] = &mut chain;
        chain_ids.push(Value::Bytes(Some(link.chain_id.unwrap_or_default())));
        seqs.push(Value::BigInt(Some(link.chain_seq.unwrap_or_default())));
        prevs.push(Value::Bytes(Some(link.chain_prev.unwrap_or_default())));
        hashes.push(Value::Bytes(Some(link.chain_hash.unwrap_or_default())));
        tags.push(Value::Bytes(Some(link.chain_fields.unwrap_or_default())));
        nulls.push(Value::SmallInt(Some(mask)));
        details.push(Value::String(Some(e.details.to_string())));
    }
    let array = |ty, values: Vec<Value>| Value::Array(ty, Some(Box::new(values)));
    let [actor_ids, actor_names, ips, agents, requests] = optional;
    let [chain_ids, seqs, prevs, hashes, tags] = chain;
    vec![
        array(ArrayType::Uuid, ids),
        array(ArrayType::String, types),
        array(ArrayType::String, severities),
        array(ArrayType::ChronoDateTimeUtc, times),
        array(ArrayType::String, actor_ids),
        array(ArrayType::String, actor_names),
        array(ArrayType::String, ips),
        array(ArrayType::String, agents),
        array(ArrayType::String, requests),
        array(ArrayType::String, details),
        array(ArrayType::SmallInt, nulls),
        array(ArrayType::Bytes, chain_ids),
        array(ArrayType::BigInt, seqs),
        array(ArrayType::Bytes, prevs),
        array(ArrayType::Bytes, hashes),
        array(ArrayType::Bytes, tags),
    ]
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
    300 + e.event_type.as_str().len()
        + text(&e.actor_id)
        + text(&e.actor_name)
        + text(&e.user_agent)
        + text(&e.request_id)
        + json(&e.details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_shapes_are_few_and_cover_every_count() {
        let mut shapes = std::collections::BTreeSet::new();
        for n in 1..=3 * ROWS_PER_VALUES_INSERT {
            let mut rest = n;
            while rest > 0 {
                let take = statement_rows(rest);
                assert!(take >= 1 && take <= rest, "{n}: took {take} of {rest}");
                shapes.insert(take);
                rest -= take;
            }
        }
        assert!(shapes.len() <= 24, "{} shapes: {shapes:?}", shapes.len());
    }

    #[test]
    fn values_sql_has_one_placeholder_per_value() {
        let sql = values_insert_sql(DbBackend::MySql, 3);
        assert_eq!(sql.matches('?').count(), 45);
        assert!(!sql.contains("ON CONFLICT"), "MySQL tells stored ids by ER_DUP_ENTRY");
        let sqlite = values_insert_sql(DbBackend::Sqlite, 1);
        assert!(sqlite.starts_with("INSERT OR FAIL INTO") && sqlite.ends_with("ON CONFLICT (\"id\") DO NOTHING"));
        assert!(values_insert_sql(DbBackend::MySql, 1).starts_with("INSERT INTO"));
    }
}
