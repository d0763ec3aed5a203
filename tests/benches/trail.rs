//! The tamper-evident trail's costs, each against a baseline in the same run (interleaved ABBA
//! rounds, median of the per-round ratios, IQR), printed as ratio tables:
//!
//! - **chain**: `RAIL_BENCH_EVENTS` events (default 100,000) logged and flushed into the
//!   database with the hash chain on vs off, on SQLite (a file, WAL), PostgreSQL and MariaDB;
//! - **verify**: `audit verify`, and `audit export` into a discarding writer, of
//!   `RAIL_BENCH_VERIFY_EVENTS` chained events (default 1,000,000, SQLite), each vs reading the
//!   same rows in the same order and pages without checking;
//! - **nats**: `RAIL_BENCH_NATS_EVENTS` events (default 20,000) through the logger and the NATS
//!   sink until the stream holds them all, vs `async-nats` publishing the same payloads (same
//!   subjects, message ids, one acknowledged publish at a time) directly.
//!
//! `RAIL_BENCH_ROUNDS` sets the rounds; `RAIL_BENCH_ONLY=chain|verify|nats` runs one table.
//! PostgreSQL, MariaDB and NATS rows run when
//! `RAIL_TEST_POSTGRES_URL`, `RAIL_TEST_MYSQL_URL`, `RAIL_TEST_NATS_URL` are set:
//! `cargo bench -p integration-tests --all-features --bench trail`

#[path = "support/ratio.rs"]
mod ratio;

use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream;
use integration_tests::{Backend, TestDb};
use rail_graphql_security::audit::verify::{VerifyOptions, chain_order_page, export, verify_database};
use rail_graphql_security::audit::{
    AuditEvent, AuditEventType, AuditLogger, ChainHash, ChainLink, CheckpointKey, CheckpointPolicy, ExportFormat,
    NatsSink, entity,
};
use sea_orm::ConnectionTrait;
use tokio::runtime::Runtime;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn event(i: usize) -> AuditEvent {
    AuditEvent::new(AuditEventType::LoginFailed)
        .actor_name(format!("user{}", i % 50))
        .client_ip(Some(format!("198.51.100.{}", i % 200).parse().expect("ip")))
        .user_agent(Some("Mozilla/5.0 (X11; Linux x86_64)"))
        .details(serde_json::json!({"reason": "invalid password", "attempt": i}))
}

fn key() -> CheckpointKey {
    CheckpointKey::from_secret("the trail benchmark's checkpoint key")
}

/// Logs `n` events and flushes; µs per event.
fn ingest(rt: &Runtime, t: &TestDb, logger: &AuditLogger, n: usize) -> f64 {
    rt.block_on(t.db.execute_unprepared("DELETE FROM audit_events")).expect("empty");
    let batch: Vec<AuditEvent> = (0..n).map(event).collect();
    let start = Instant::now();
    for event in batch {
        logger.log(event);
    }
    rt.block_on(logger.flush()).expect("flush");
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn chain_on_off(rt: &Runtime, backend: Backend, n: usize, rounds: usize) -> Option<ratio::Comparison> {
    let t = rt.block_on(TestDb::new(backend))?;
    let build = |chain: bool| {
        let policy = CheckpointPolicy { key: Some(key()), ..CheckpointPolicy::default() };
        let builder = AuditLogger::builder().database(t.db.clone()).queue_capacity(n * 2).hash_chain(chain);
        rt.block_on(async { builder.checkpoints(policy).build() })
    };
    let (off, on) = (build(false), build(true));
    ingest(rt, &t, &off, n / 10);
    ingest(rt, &t, &on, n / 10);
    let label = format!("{backend:?}, {n} events");
    let comparison = ratio::interleave(label, rounds, || ingest(rt, &t, &off, n), || ingest(rt, &t, &on, n));
    for logger in [off, on] {
        let stats = rt.block_on(logger.shutdown()).expect("shutdown");
        assert_eq!((stats.dropped, stats.lost), (0, 0));
    }
    rt.block_on(t.cleanup());
    Some(comparison)
}

/// Reads every chained row in the verifier's order and pages, without checking; µs per row.
async fn plain_read(db: &sea_orm::DatabaseConnection) -> (f64, u64) {
    let start = Instant::now();
    let mut rows = 0u64;
    let mut after: Option<entity::Model> = None;
    loop {
        let page = chain_order_page(after.as_ref(), 5_000).all(db).await.expect("read");
        let done = page.len() < 5_000;
        rows += page.len() as u64;
        after = page.last().cloned();
        std::hint::black_box(&page);
        if done {
            break;
        }
    }
    (start.elapsed().as_secs_f64() * 1e6 / rows.max(1) as f64, rows)
}

/// `audit verify` and `audit export` of `n` chained events, each against reading the same rows.
fn verify_vs_read(rt: &Runtime, n: usize, rounds: usize) -> Option<(ratio::Comparison, ratio::Comparison)> {
    let t = rt.block_on(TestDb::new(Backend::Sqlite))?;
    let policy = CheckpointPolicy { key: Some(key()), ..CheckpointPolicy::default() };
    let logger = rt.block_on(async {
        AuditLogger::builder().database(t.db.clone()).queue_capacity(200_000).checkpoints(policy).build()
    });
    let started = Instant::now();
    for chunk in 0..n.div_ceil(100_000) {
        for i in chunk * 100_000..((chunk + 1) * 100_000).min(n) {
            logger.log(event(i));
        }
        rt.block_on(logger.flush()).expect("flush");
    }
    rt.block_on(logger.shutdown()).expect("shutdown");
    eprintln!("trail bench: {n} chained events written in {:.1?}", started.elapsed());
    let options = VerifyOptions { key: Some(key().verifying_key()), ..VerifyOptions::default() };
    let verify = || {
        let start = Instant::now();
        let report = rt.block_on(verify_database(&t.db, options.clone())).expect("verify");
        assert!(report.intact() && report.events == n as u64, "{:?}", report.findings);
        start.elapsed().as_secs_f64() * 1e6 / n as f64
    };
    let read = || {
        let (per_row, rows) = rt.block_on(plain_read(&t.db));
        assert_eq!(rows, n as u64);
        per_row
    };
    let export = || {
        let start = Instant::now();
        let lines = rt.block_on(export(&t.db, &mut std::io::sink(), None, None)).expect("export");
        assert!(lines > n as u64, "{lines} lines for {n} events");
        start.elapsed().as_secs_f64() * 1e6 / n as f64
    };
    let label = format!("SQLite, {n} events");
    let verified = ratio::interleave(label.clone(), rounds, read, verify);
    let exported = ratio::interleave(label, rounds, read, export);
    rt.block_on(t.cleanup());
    Some((verified, exported))
}

/// The NATS sink vs direct publishes of the same payloads; µs per event.
fn nats(rt: &Runtime, url: &str, n: usize, rounds: usize) -> ratio::Comparison {
    let _guard = rt.enter();
    let client = rt.block_on(async_nats::connect(url)).expect("NATS");
    let js = jetstream::new(client);
    let spool = tempfile::tempdir().expect("spool");
    let fresh_stream = |side: &str| {
        let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        (format!("BENCH_{side}_{tag}"), format!("b{tag}"))
    };
    let mut stream_names = Vec::new();
    let wait_for = |stream: &str, n: usize| {
        rt.block_on(async {
            // The sink creates the stream with its first publish.
            loop {
                if let Ok(mut stream) = js.get_stream(stream).await
                    && stream.info().await.is_ok_and(|info| info.state.messages >= n as u64)
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut sink_side = || {
        let (stream, prefix) = fresh_stream("SINK");
        let dir = spool.path().join(&stream);
        let sink = NatsSink::builder(url, &dir).stream(&stream).subject_prefix(&prefix).build().expect("sink");
        let logger = rt.block_on(async { AuditLogger::builder().sink(sink).queue_capacity(n * 2).build() });
        let start = Instant::now();
        for i in 0..n {
            logger.log(event(i));
        }
        rt.block_on(logger.flush()).expect("flush");
        wait_for(&stream, n);
        let elapsed = start.elapsed();
        rt.block_on(logger.shutdown()).expect("shutdown");
        stream_names.push(stream);
        elapsed.as_secs_f64() * 1e6 / n as f64
    };
    let mut direct_names = Vec::new();
    let mut direct_side = || {
        let (stream, prefix) = fresh_stream("DIRECT");
        rt.block_on(js.get_or_create_stream(jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{prefix}.>")],
            ..Default::default()
        }))
        .expect("stream");
        // The same payloads the sink sends: the events with their chain links.
        let chain = uuid::Uuid::now_v7();
        let mut prev = ChainHash::GENESIS;
        let mut payloads = Vec::with_capacity(n);
        for i in 0..n {
            let mut e = event(i);
            let link = ChainLink::compute(&e, chain, i as u64 + 1, prev);
            prev = link.hash;
            e.chain = Some(link);
            let subject = format!("{prefix}.{}", e.event_type.as_str());
            payloads.push((subject, e.id.to_string(), ExportFormat::Json.encode(&e).expect("json")));
        }
        let start = Instant::now();
        rt.block_on(async {
            for (subject, id, payload) in payloads {
                let mut headers = HeaderMap::new();
                headers.insert("Nats-Msg-Id", id.as_str());
                let ack = js.publish_with_headers(subject, headers, payload.to_string().into()).await.expect("publish");
                ack.await.expect("acknowledged");
            }
        });
        let elapsed = start.elapsed();
        direct_names.push(stream);
        elapsed.as_secs_f64() * 1e6 / n as f64
    };
    let comparison = ratio::interleave(format!("{n} events"), rounds, &mut direct_side, &mut sink_side);
    for stream in stream_names.iter().chain(&direct_names) {
        let _ = rt.block_on(js.delete_stream(stream));
    }
    comparison
}

fn main() {
    let rt = Runtime::new().expect("runtime");
    let only = std::env::var("RAIL_BENCH_ONLY").ok();
    let runs = |table: &str| only.as_deref().is_none_or(|only| only == table);
    if runs("chain") {
        let n = env_usize("RAIL_BENCH_EVENTS", 100_000).max(1);
        let rounds = ratio::rounds(6);
        let rows: Vec<_> = [Backend::Sqlite, Backend::Postgres, Backend::MySql]
            .into_iter()
            .filter_map(|backend| chain_on_off(&rt, backend, n, rounds))
            .collect();
        ratio::print_table("Audit ingest: hash chain on vs off", "chain off", "chain on", 1.0 / 0.9, &rows);
    }
    if runs("verify") {
        let verify_n = env_usize("RAIL_BENCH_VERIFY_EVENTS", 1_000_000).max(1);
        if let Some((verified, exported)) = verify_vs_read(&rt, verify_n, ratio::rounds(4)) {
            ratio::print_table("audit verify vs reading the same rows", "plain read", "verify", 2.0, &[verified]);
            ratio::print_table("audit export vs reading the same rows", "plain read", "export", 2.0, &[exported]);
        }
    }
    if let (true, Ok(url)) = (runs("nats"), std::env::var("RAIL_TEST_NATS_URL")) {
        let nats_n = env_usize("RAIL_BENCH_NATS_EVENTS", 20_000).max(1);
        let row = nats(&rt, &url, nats_n, ratio::rounds(6));
        ratio::print_table(
            "NATS sink vs async-nats publishing directly",
            "direct publish",
            "NatsSink",
            1.0 / 0.8,
            &[row],
        );
    }
}
