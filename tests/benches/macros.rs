//! Per-request cost of the resolver attributes, against the same resolver without them in the
//! same run, through the same schema with the same request data (a verified `SecurityContext`
//! and an `AuditLogger`):
//!
//! - `resolver_attributes/trivial/*`: `{ plain(id: 7) { id name } }` vs.
//!   `{ attributed(id: 7) { id name } }`, a resolver that builds a small object; `attributed`
//!   carries `#[require_mfa(max_age = "15m")]` and `#[audited(fields(id))]`.
//! - `resolver_attributes/sqlite_read/*`: the same with a resolver that reads one row from
//!   SQLite (WAL, a temp file), a typical resolver's work.
//!
//! Variants, each with its own logger handed in the request data (`plain` gets one too):
//!
//! - `plain`: no attribute; the baseline.
//! - `attributed_memory_sink`: the events go through the whole pipeline (queue, batcher,
//!   masking, alert engine, sink worker) into a sink that only counts them: what auditing costs
//!   the request path, without the cost of storing the event.
//! - `attributed_sqlite_own_pool`: the `DatabaseSink` writes into the database the resolver
//!   reads (same file), through a pool of its own, so its writes never hold the resolver's connection.
//! - `attributed_sqlite_shared_pool`: the same, through the resolver's own pool. SeaORM gives a
//!   SQLite pool one connection unless told otherwise, so the resolver's read waits while the
//!   sink's batch insert (and its fsync) holds that connection: this variant measures that
//!   contention, not the cost of the attributes.
//!
//! Criterion measures one variant after another; on a shared machine whose load changes from
//! one minute to the next, that alone moves the ratios. So the bench then also runs plain and
//! attributed interleaved in short ABBA rounds (memory sink and own-pool SQLite sink) and ends
//! with a table of the median per-round ratio and its interquartile range, the steadier
//! figure (`RAIL_BENCH_ROUNDS` sets the number of rounds, 40 by default).
//!
//! The background writing runs on the same (shared, 2-core) machine as the requests, so the
//! sink variants include the CPU the writes take away from the request loop. Every logger's
//! stats are printed at the end (a dropped event would mean the queue overflowed).
//! `cargo bench -p integration-tests --bench macros`
#![expect(missing_docs, reason = "criterion_main! generates an undocumented main")]

#[path = "support/ratio.rs"]
mod ratio;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Request, Schema, SimpleObject};
use async_trait::async_trait;
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use integration_tests::{Backend, TestDb};
use rail_graphql_security::audit::{AuditEvent, AuditLogger, AuditSink, SinkError};
use rail_graphql_security::context::{MfaState, Principal, SecurityContext};
use rail_graphql_security::mfa::MfaMethod;
use rail_graphql_security::{audited, require_mfa};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use tokio::runtime::Runtime;

#[derive(SimpleObject)]
struct Account {
    id: i32,
    name: String,
}

async fn read_row(db: &DatabaseConnection, id: i32) -> async_graphql::Result<Account> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT ? + 0 AS id, 'alice' AS name",
            [id.into()],
        ))
        .await?
        .ok_or("no row")?;
    Ok(Account { id: row.try_get("", "id")?, name: row.try_get("", "name")? })
}

/// A sink that keeps nothing and counts what it was given.
#[derive(Debug, Clone, Default)]
struct CountingSink(Arc<AtomicU64>);

#[async_trait]
impl AuditSink for CountingSink {
    fn name(&self) -> &str {
        "counting"
    }
    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        self.0.fetch_add(events.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

struct Query;

#[Object]
impl Query {
    async fn plain(&self, id: i32) -> Account {
        Account { id, name: "alice".to_owned() }
    }

    #[require_mfa(max_age = "15m")]
    #[audited(fields(id))]
    async fn attributed(&self, id: i32) -> Account {
        Account { id, name: "alice".to_owned() }
    }

    async fn plain_read(&self, ctx: &Context<'_>, id: i32) -> async_graphql::Result<Account> {
        read_row(ctx.data::<DatabaseConnection>()?, id).await
    }

    #[require_mfa(max_age = "15m")]
    #[audited(fields(id))]
    async fn attributed_read(&self, ctx: &Context<'_>, id: i32) -> async_graphql::Result<Account> {
        read_row(ctx.data::<DatabaseConnection>()?, id).await
    }
}

const CASES: [(&str, &str, &str); 2] = [
    ("trivial", "{ plain(id: 7) { id name } }", "{ attributed(id: 7) { id name } }"),
    ("sqlite_read", "{ plainRead(id: 7) { id name } }", "{ attributedRead(id: 7) { id name } }"),
];

/// `plain` and `attributed` in interleaved ABBA rounds of 100 requests each.
fn interleaved(
    rt: &Runtime,
    schema: &Schema<Query, EmptyMutation, EmptySubscription>,
    security: &SecurityContext,
    logger: &AuditLogger,
    label: String,
    plain: &str,
    attributed: &str,
) -> ratio::Comparison {
    const PER_ROUND: u32 = 100;
    let time = |query: &str| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..PER_ROUND {
                let response = schema.execute(Request::new(query).data(security.clone()).data(logger.clone())).await;
                assert!(response.errors.is_empty(), "{query}: {:?}", response.errors);
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(PER_ROUND)
        })
    };
    ratio::interleave(label, ratio::rounds(40), || time(plain), || time(attributed))
}

fn resolver_attributes(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let app = rt.block_on(TestDb::new(Backend::Sqlite)).expect("SQLite");
    let audit_pool = rt.block_on(Database::connect(&app.url)).expect("a second pool on the same SQLite file");
    let counted = CountingSink::default();
    let (memory, own_pool, shared_pool) = rt.block_on(async {
        (
            AuditLogger::builder().sink(counted.clone()).build(),
            AuditLogger::builder().database(audit_pool.clone()).build(),
            AuditLogger::builder().database(app.db.clone()).build(),
        )
    });
    let schema = Schema::build(Query, EmptyMutation, EmptySubscription).data(app.db.clone()).finish();
    let security = SecurityContext::authenticated(Principal::new(7, "alice"))
        .with_mfa(MfaState::verified(Utc::now(), MfaMethod::Totp))
        .with_client_ip("203.0.113.9".parse().ok());

    let mut group = c.benchmark_group("resolver_attributes");
    group.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    for (case, plain, attributed) in CASES {
        for (variant, query, logger) in [
            ("plain", plain, &memory),
            ("attributed_memory_sink", attributed, &memory),
            ("attributed_sqlite_own_pool", attributed, &own_pool),
            ("attributed_sqlite_shared_pool", attributed, &shared_pool),
        ] {
            let request = || Request::new(query).data(security.clone()).data(logger.clone());
            let check = rt.block_on(schema.execute(request()));
            assert!(check.errors.is_empty(), "{query}: {:?}", check.errors);
            group.bench_function(format!("{case}/{variant}"), |b| {
                b.to_async(&rt).iter(|| schema.execute(request()));
            });
        }
    }
    group.finish();
    let mut rows = Vec::new();
    for (case, plain, attributed) in CASES {
        for (sink, logger) in [("counting sink", &memory), ("SQLite, own pool", &own_pool)] {
            rows.push(interleaved(&rt, &schema, &security, logger, format!("{case}, {sink}"), plain, attributed));
        }
    }
    for (name, logger) in
        [("memory sink", memory), ("sqlite, own pool", own_pool), ("sqlite, shared pool", shared_pool)]
    {
        let stats = rt.block_on(async { logger.shutdown().await }).expect("audit logger shutdown");
        println!("audit logger ({name}): {stats:?}");
    }
    println!("events counted by the memory sink: {}", counted.0.load(Ordering::Relaxed));
    rt.block_on(async { audit_pool.close().await }).expect("close the audit pool");
    rt.block_on(app.cleanup());
    // Targets: ≤ 1.10× on the trivial resolver, ≤ 1.05× on the SQLite read.
    let (trivial, sqlite_read): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.label.starts_with("trivial"));
    let title = "Resolver attributes, per request";
    ratio::print_table(title, "plain", "#[require_mfa] + #[audited]", 1.10, &trivial);
    ratio::print_table(title, "plain", "#[require_mfa] + #[audited]", 1.05, &sqlite_read);
}

criterion_group!(benches, resolver_attributes);
criterion_main!(benches);
