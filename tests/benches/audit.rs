//! Audit pipeline benchmarks, each against a raw baseline in the same run:
//!
//! - `audit_throughput/<backend>/logger`: 10,000 events through `AuditLogger` (queue, batcher,
//!   database sink) until flushed, vs. `audit_throughput/<backend>/raw_insert_many`: the same
//!   rows written with SeaORM `insert_many` in chunks of 1000.
//! - `audit_log_call/logger_log`: the caller-side cost of one `log()` with the batcher running,
//!   vs. `audit_log_call/raw_channel_try_send`: a bare bounded-channel `try_send` of the same
//!   event. Also prints p50/p99/p99.9 of `log()` measured call by call.
//!
//! PostgreSQL runs when `RAIL_TEST_POSTGRES_URL` is set. `cargo bench -p integration-tests --bench audit`
#![expect(missing_docs, reason = "criterion_main! generates an undocumented main")]

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use integration_tests::{Backend, TestDb};
use rail_graphql_security::audit::{AuditEvent, AuditEventType, AuditLogger, entity};
use sea_orm::{ConnectionTrait, EntityTrait};
use tokio::runtime::Runtime;

const EVENTS: usize = 10_000;

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

/// Empties the table between samples (untimed), so both variants insert into a table of the
/// same size and neither pays for the rows the other left behind.
async fn empty_table(t: &TestDb) {
    let sql = match t.backend {
        Backend::Postgres => "TRUNCATE audit_events",
        _ => "DELETE FROM audit_events",
    };
    t.db.execute_unprepared(sql).await.expect("empty the table");
}

fn throughput(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("audit_throughput");
    group.throughput(Throughput::Elements(EVENTS as u64)).sample_size(10).measurement_time(Duration::from_secs(20));
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(t) = rt.block_on(TestDb::new(backend)) else { continue };
        let name = format!("{backend:?}").to_lowercase();
        group.bench_function(BenchmarkId::new(&name, "raw_insert_many"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        empty_table(&t).await;
                        let batch = events(EVENTS);
                        let start = Instant::now();
                        for chunk in batch.chunks(1000) {
                            entity::Entity::insert_many(chunk.iter().map(entity::ActiveModel::from))
                                .exec_without_returning(&t.db)
                                .await
                                .expect("insert");
                        }
                        total += start.elapsed();
                    }
                    total
                })
            })
        });
        group.bench_function(BenchmarkId::new(&name, "logger"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let logger = AuditLogger::builder().database(t.db.clone()).queue_capacity(EVENTS * 2).build();
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        empty_table(&t).await;
                        let batch = events(EVENTS);
                        let start = Instant::now();
                        for event in batch {
                            logger.log(event);
                        }
                        logger.flush().await.expect("flush");
                        total += start.elapsed();
                    }
                    let stats = logger.shutdown().await.expect("shutdown");
                    assert_eq!(stats.dropped, 0, "the benchmark must not drop events");
                    total
                })
            })
        });
        rt.block_on(t.cleanup());
    }
    group.finish();
}

fn log_call(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let Some(t) = rt.block_on(TestDb::new(Backend::Sqlite)) else { return };
    let _guard = rt.enter();
    let logger = AuditLogger::builder().database(t.db.clone()).queue_capacity(1 << 20).build();
    let mut group = c.benchmark_group("audit_log_call");
    group.bench_function("logger_log", |b| {
        b.iter_custom(|iters| {
            let batch = events(iters as usize);
            let start = Instant::now();
            for event in batch {
                logger.log(event);
            }
            let elapsed = start.elapsed();
            rt.block_on(logger.flush()).expect("flush");
            elapsed
        })
    });
    group.bench_function("raw_channel_try_send", |b| {
        b.iter_custom(|iters| {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<AuditEvent>(1 << 20);
            let drain = rt.spawn(async move { while rx.recv().await.is_some() {} });
            let batch = events(iters as usize);
            let start = Instant::now();
            for event in batch {
                let _ = tx.try_send(event);
            }
            let elapsed = start.elapsed();
            drop(tx);
            rt.block_on(drain).expect("drain");
            elapsed
        })
    });
    group.finish();

    // Percentiles, call by call, with the batcher writing to SQLite meanwhile.
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
        "audit_log_call percentiles over {} calls: p50 {:?}, p99 {:?}, p99.9 {:?}, dropped {}",
        samples.len(),
        pct(0.50),
        pct(0.99),
        pct(0.999),
        logger.stats().dropped
    );
    rt.block_on(logger.shutdown()).expect("shutdown");
    rt.block_on(t.cleanup());
}

criterion_group!(benches, throughput, log_call);
criterion_main!(benches);
