//! Audit ingest benchmark: `RAIL_BENCH_AUDIT_EVENTS` events (default 100,000) until flushed, on
//! SQLite (a file, WAL), PostgreSQL and MariaDB (each in a database or schema of its own), in
//! interleaved rounds (`RAIL_BENCH_AUDIT_ROUNDS`, default 5) of:
//!
//! - `plugin`: `AuditLogger::log` for every event, then `flush()` (queue, dispatcher, database
//!   sink);
//! - `insert_many`: the same rows through SeaORM `insert_many`, 1,000-row chunks;
//! - `bulk`: the engine's own bulk path written directly with sqlx: PostgreSQL `COPY … FROM
//!   STDIN` (CSV), SQLite and MariaDB one prepared 1,000-row `INSERT` repeated in one
//!   transaction.
//!
//! Prints the median, minimum and maximum of each, a ratio table (plugin vs `insert_many`, plugin
//! vs bulk path, as speed-ups: baseline time ÷ plugin time), and then `log()` p50/p99/p99.9 over
//! 100,000 calls timed one by one with the database sink writing meanwhile, with the drop count.
//!
//! `RAIL_BENCH_AUDIT_MAX_BATCH` sets the plugin's `max_batch` (default 1000) for comparisons.
//!
//! PostgreSQL and MariaDB run when `RAIL_TEST_POSTGRES_URL` / `RAIL_TEST_MYSQL_URL` are set:
//! `RAIL_BENCH_AUDIT_EVENTS=10000 cargo bench -p integration-tests --all-features --bench audit`

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::{Backend, TestDb};
use rail_graphql_security::audit::{AuditEvent, AuditEventType, AuditLogger, entity};
use sea_orm::sqlx::{self, AssertSqlSafe};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use tokio::runtime::Runtime;

const BULK_ROWS: usize = 1000;
const COLUMNS: &str =
    "id, event_type, severity, timestamp, actor_id, actor_name, client_ip, user_agent, request_id, details";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn events(n: usize) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| {
            AuditEvent::new(AuditEventType::LoginFailed)
                .actor_name(format!("user{}", i % 50))
                .client_ip(Some(format!("198.51.100.{}", i % 200).parse().expect("ip")))
                .user_agent(Some("Mozilla/5.0 (X11; Linux x86_64)"))
                .details(serde_json::json!({"reason": "invalid password", "attempt": i}))
        })
        .collect()
}

/// Empties the table between runs (untimed), so every variant inserts into an empty table.
async fn empty_table(t: &TestDb) {
    let sql = match t.backend {
        Backend::Postgres => "TRUNCATE audit_events",
        _ => "DELETE FROM audit_events",
    };
    t.db.execute_unprepared(sql).await.expect("empty the table");
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Plugin,
    InsertMany,
    Bulk,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::Plugin, Variant::InsertMany, Variant::Bulk];

    fn name(self, backend: Backend) -> &'static str {
        match (self, backend) {
            (Variant::Plugin, _) => "plugin",
            (Variant::InsertMany, _) => "insert_many",
            (Variant::Bulk, Backend::Postgres) => "bulk (COPY FROM STDIN, CSV)",
            (Variant::Bulk, _) => "bulk (prepared 1000-row INSERT, 1 txn)",
        }
    }
}

async fn insert_many(t: &TestDb, batch: &[AuditEvent]) {
    for chunk in batch.chunks(1000) {
        entity::Entity::insert_many(chunk.iter().map(entity::ActiveModel::from))
            .exec_without_returning(&t.db)
            .await
            .expect("insert_many");
    }
}

fn csv_field(out: &mut String, value: Option<&str>) {
    // An unquoted empty field is NULL; a quoted one is text.
    if let Some(value) = value {
        out.push('"');
        for c in value.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
    }
}

async fn copy_in(t: &TestDb, batch: &[AuditEvent]) {
    let mut csv = String::with_capacity(batch.len() * 200);
    for e in batch {
        let ip = e.client_ip.map(|ip| ip.to_string());
        let details = e.details.to_string();
        let timestamp = e.timestamp.to_rfc3339();
        let id = e.id.to_string();
        let fields = [
            Some(id.as_str()),
            Some(e.event_type.as_str()),
            Some(e.severity.as_str()),
            Some(timestamp.as_str()),
            e.actor_id.as_deref(),
            e.actor_name.as_deref(),
            ip.as_deref(),
            e.user_agent.as_deref(),
            e.request_id.as_deref(),
            Some(details.as_str()),
        ];
        for (i, field) in fields.into_iter().enumerate() {
            if i > 0 {
                csv.push(',');
            }
            csv_field(&mut csv, field);
        }
        csv.push('\n');
    }
    let mut conn = t.db.get_postgres_connection_pool().acquire().await.expect("connection");
    let mut copy =
        conn.copy_in_raw(&format!("COPY audit_events ({COLUMNS}) FROM STDIN (FORMAT csv)")).await.expect("COPY starts");
    copy.send(csv.into_bytes()).await.expect("COPY data");
    copy.finish().await.expect("COPY ends");
}

fn values_sql(rows: usize) -> Arc<str> {
    let row = format!("({})", ["?"; 10].join(","));
    let mut sql = format!("INSERT INTO audit_events ({COLUMNS}) VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&row);
    }
    sql.into()
}

/// Binds one event's columns to a query, on any sqlx database that takes these types.
macro_rules! bind_event {
    ($query:expr, $e:expr) => {
        $query
            .bind($e.id.to_string())
            .bind($e.event_type.as_str())
            .bind($e.severity.as_str())
            .bind($e.timestamp)
            .bind($e.actor_id.as_deref())
            .bind($e.actor_name.as_deref())
            .bind($e.client_ip.map(|ip| ip.to_string()))
            .bind($e.user_agent.as_deref())
            .bind($e.request_id.as_deref())
            .bind($e.details.to_string())
    };
}

macro_rules! prepared_inserts {
    ($pool:expr, $batch:expr) => {{
        let mut tx = $pool.begin().await.expect("begin");
        for chunk in $batch.chunks(BULK_ROWS) {
            let mut query = sqlx::query(AssertSqlSafe(values_sql(chunk.len())));
            for e in chunk {
                query = bind_event!(query, e);
            }
            query.execute(&mut *tx).await.expect("multi-row insert");
        }
        tx.commit().await.expect("commit");
    }};
}

async fn bulk(t: &TestDb, batch: &[AuditEvent]) {
    match t.backend {
        Backend::Postgres => copy_in(t, batch).await,
        Backend::Sqlite => prepared_inserts!(t.db.get_sqlite_connection_pool(), batch),
        Backend::MySql => prepared_inserts!(t.db.get_mysql_connection_pool(), batch),
    }
}

async fn plugin(logger: &AuditLogger, batch: Vec<AuditEvent>) {
    for event in batch {
        logger.log(event);
    }
    logger.flush().await.expect("flush");
}

struct Timings {
    backend: Backend,
    samples: [Vec<Duration>; 3],
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn ingest(rt: &Runtime, backend: Backend, n: usize, rounds: usize) -> Option<Timings> {
    let t = rt.block_on(TestDb::new(backend))?;
    let mut builder = AuditLogger::builder().database(t.db.clone()).queue_capacity(n * 2);
    if let Some(max) = std::env::var("RAIL_BENCH_AUDIT_MAX_BATCH").ok().and_then(|v| v.parse().ok()) {
        builder = builder.max_batch(max);
    }
    let logger = rt.block_on(async { builder.build() });
    let mut timings = Timings { backend, samples: Default::default() };
    // One warm-up round (connections, prepared statements, caches), then the measured ones;
    // each round runs every variant, in a rotating order.
    for round in 0..=rounds {
        for k in 0..Variant::ALL.len() {
            let (index, variant) = ((k + round) % 3, Variant::ALL[(k + round) % 3]);
            rt.block_on(empty_table(&t));
            let batch = events(n);
            let start = Instant::now();
            rt.block_on(async {
                match variant {
                    Variant::Plugin => plugin(&logger, batch).await,
                    Variant::InsertMany => insert_many(&t, &batch).await,
                    Variant::Bulk => bulk(&t, &batch).await,
                }
            });
            let elapsed = start.elapsed();
            let stored = rt.block_on(entity::Entity::find().count(&t.db)).expect("count");
            assert_eq!(stored, n as u64, "{}: every row stored", variant.name(backend));
            if round > 0 {
                timings.samples[index].push(elapsed);
            }
        }
    }
    let stats = rt.block_on(logger.shutdown()).expect("shutdown");
    assert_eq!((stats.dropped, stats.lost), (0, 0), "the benchmark must not drop events");
    rt.block_on(t.cleanup());
    Some(timings)
}

fn report(all: &[Timings], n: usize, rounds: usize) {
    let mut out = String::new();
    let _ = writeln!(out, "\naudit ingest: {n} events until flushed, median of {rounds} interleaved rounds");
    for t in all {
        for (i, variant) in Variant::ALL.iter().enumerate() {
            let s = &t.samples[i];
            let (mid, min, max) = (median(s), *s.iter().min().expect("samples"), *s.iter().max().expect("samples"));
            let _ = writeln!(
                out,
                "  {:<9} {:<40} median {:>9.1?} ({:>8.0} events/s)  min {:>9.1?}  max {:>9.1?}",
                format!("{:?}", t.backend),
                variant.name(t.backend),
                mid,
                n as f64 / mid.as_secs_f64(),
                min,
                max
            );
        }
    }
    let _ = writeln!(out, "\n  ratio (baseline time / plugin time)   plugin vs insert_many   plugin vs bulk path");
    for t in all {
        let plugin = median(&t.samples[0]).as_secs_f64();
        let _ = writeln!(
            out,
            "  {:<37} {:>20.2}x {:>20.2}x",
            format!("{:?}", t.backend),
            median(&t.samples[1]).as_secs_f64() / plugin,
            median(&t.samples[2]).as_secs_f64() / plugin
        );
    }
    let _ = writeln!(out, "  targets: >= 1.5x insert_many, >= 0.5x the bulk path");
    println!("{out}");
}

/// `log()` timed call by call (100,000 calls in 10 bursts, each flushed), with the SQLite
/// database sink writing meanwhile.
fn log_call_percentiles(rt: &Runtime) {
    let Some(t) = rt.block_on(TestDb::new(Backend::Sqlite)) else { return };
    let _guard = rt.enter();
    let logger = AuditLogger::builder().database(t.db.clone()).queue_capacity(1 << 20).build();
    let mut samples = Vec::with_capacity(100_000);
    for _ in 0..10 {
        let batch = events(10_000);
        for event in batch {
            let start = Instant::now();
            logger.log(event);
            samples.push(start.elapsed());
        }
        rt.block_on(logger.flush()).expect("flush");
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "audit log() over {} calls timed one by one: p50 {:?}, p99 {:?}, p99.9 {:?}, dropped {} (target p99 <= 1 µs, 0 dropped)",
        samples.len(),
        pct(0.50),
        pct(0.99),
        pct(0.999),
        logger.stats().dropped
    );
    rt.block_on(logger.shutdown()).expect("shutdown");
    rt.block_on(t.cleanup());
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported (everything runs).
    let n = env_usize("RAIL_BENCH_AUDIT_EVENTS", 100_000).max(1);
    let rounds = env_usize("RAIL_BENCH_AUDIT_ROUNDS", 5).max(1);
    let rt = Runtime::new().expect("runtime");
    let all: Vec<Timings> = [Backend::Sqlite, Backend::Postgres, Backend::MySql]
        .into_iter()
        .filter_map(|b| ingest(&rt, b, n, rounds))
        .collect();
    report(&all, n, rounds);
    log_call_percentiles(&rt);
}
