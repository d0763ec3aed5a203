//! The hourly rollup (`audit_rollup_hourly`) against the events it counts, on every backend:
//! for random periods the security report and the dashboard's ranking read the same numbers as
//! the aggregates over `audit_events` (computed here with the SQL the report ran before the
//! rollup), after random purges, with late events, with retried batches and with two writers
//! on the same database; and the rollup table equals the one recomputed from the events.
//!
//! The random cases come from a seeded generator: set `RAIL_ROLLUP_SEED` to replay a failure
//! (every assertion message names the seed).

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use integration_tests::{CapturedLog, TestDb, on_every_backend};
use rail_graphql_security::audit::entity::{Column, Entity};
use rail_graphql_security::audit::rollup::{self, RankedColumn};
use rail_graphql_security::audit::{
    AccountCount, AuditEvent, AuditEventType, AuditLogger, AuditSeverity, AuditSink, DatabaseSink, HourlyBucket,
    IpCount,
};
use rail_graphql_security::migration::{Migrator, MigratorTrait};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::sea_query::{Expr, Order};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use serde_json::json;

fn seed() -> u64 {
    std::env::var("RAIL_ROLLUP_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_2026)
}

/// Three days starting at a fixed midnight: events and periods fall in it.
fn day0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap()
}

const TYPES: [AuditEventType; 10] = [
    AuditEventType::LoginFailed,
    AuditEventType::LoginFailed,
    AuditEventType::LoginFailed,
    AuditEventType::LoginSuccess,
    AuditEventType::RateLimitExceeded,
    AuditEventType::RateLimitExceeded,
    AuditEventType::SuspiciousActivity,
    AuditEventType::MfaSuccess,
    AuditEventType::MfaFailed,
    AuditEventType::MfaEnabled,
];
/// The details' `method` of the MFA events: methods, none, and values that are not a string
/// (counted under no method).
const METHODS: [Option<serde_json::Value>; 6] = [
    None,
    Some(serde_json::Value::Null),
    Some(serde_json::Value::Bool(true)),
    Some(serde_json::Value::String(String::new())),
    Some(serde_json::Value::String(String::new())),
    Some(serde_json::Value::String(String::new())),
];
const METHOD_NAMES: [&str; 3] = ["passkey", "totp", "backup_code"];
const SEVERITIES: [AuditSeverity; 4] =
    [AuditSeverity::Low, AuditSeverity::Medium, AuditSeverity::High, AuditSeverity::Critical];
/// Few values, so the top lists have ties to break; names that only a byte-exact comparison
/// tells apart.
const IPS: [&str; 6] = ["203.0.113.7", "203.0.113.70", "198.51.100.1", "2001:db8::1", "10.0.0.1", "10.0.0.10"];
const ACCOUNTS: [&str; 7] = ["admin", "Admin", "admin ", "root", "alice", "bob", "ünïcode"];

/// A random instant in the three days: a third of them on or next to an hour boundary.
fn random_time(rng: &mut StdRng) -> DateTime<Utc> {
    let hour = day0() + Duration::hours(rng.random_range(0..72));
    match rng.random_range(0..6) {
        0 => hour,
        1 => hour - Duration::microseconds(1),
        _ => hour + Duration::microseconds(rng.random_range(0..3_600_000_000)),
    }
}

fn random_event(rng: &mut StdRng) -> AuditEvent {
    let event_type = TYPES[rng.random_range(0..TYPES.len())].clone();
    let mut event = AuditEvent::new(event_type).severity(SEVERITIES[rng.random_range(0..4)]).at(random_time(rng));
    if rng.random_range(0..8) > 0 {
        let ip: IpAddr = IPS[rng.random_range(0..IPS.len())].parse().unwrap();
        event = event.client_ip(Some(ip));
    }
    if rng.random_range(0..8) > 0 {
        event = event.actor_name(ACCOUNTS[rng.random_range(0..ACCOUNTS.len())]);
    }
    if event.event_type.as_str().starts_with("mfa_") {
        let method = match &METHODS[rng.random_range(0..METHODS.len())] {
            Some(serde_json::Value::String(_)) => Some(json!(METHOD_NAMES[rng.random_range(0..METHOD_NAMES.len())])),
            other => other.clone(),
        };
        if let Some(method) = method {
            event = event.details(json!({ "method": method }));
        }
    }
    event
}

/// The MFA events of `[start, end)` per details' `method` (strings only), counted in Rust.
async fn raw_methods(db: &DatabaseConnection, start: DateTime<Utc>, end: DateTime<Utc>) -> BTreeMap<String, u64> {
    let rows = Entity::find()
        .filter(Column::Timestamp.gte(start))
        .filter(Column::Timestamp.lt(end))
        .filter(Column::EventType.is_in(["mfa_enabled", "mfa_disabled", "mfa_success", "mfa_failed"]))
        .all(db)
        .await
        .expect("read the MFA events");
    let mut counts = BTreeMap::new();
    for row in rows {
        if let Some(method) = row.details.get("method").and_then(serde_json::Value::as_str) {
            *counts.entry(method.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

fn random_period(rng: &mut StdRng) -> (DateTime<Utc>, DateTime<Utc>) {
    let a = random_time(rng);
    let b = match rng.random_range(0..4) {
        // Within the hour or across one boundary: no whole hour.
        0 => a + Duration::minutes(rng.random_range(0..90)),
        // Everything.
        1 => return (day0() - Duration::hours(1), day0() + Duration::days(4)),
        _ => random_time(rng),
    };
    if a <= b { (a, b) } else { (b, a) }
}

/// Writes one batch, retrying a failure a few times as the logger's pipeline does (two writers
/// on MariaDB may deadlock, and the victim's transaction is rolled back whole).
async fn deliver(sink: &DatabaseSink, batch: &[AuditEvent]) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match sink.write_batch(batch).await {
            Ok(()) => return,
            Err(e) if attempt < 10 && !e.is_permanent() => {
                tokio::time::sleep(std::time::Duration::from_millis(10 * attempt)).await;
            }
            Err(e) => panic!("batch not written after {attempt} attempts: {e}"),
        }
    }
}

/// Writes `events` through a database sink in random batch sizes.
async fn write(sink: &DatabaseSink, events: &[AuditEvent], rng: &mut StdRng) {
    let mut rest = events;
    while !rest.is_empty() {
        let n = rng.random_range(1..=rest.len().min(40));
        let (batch, tail) = rest.split_at(n);
        deliver(sink, batch).await;
        rest = tail;
    }
}

// ---- the reference: the report's aggregates over the events, as the report ran them before ----

fn hour_label_sql(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => {
            r#"to_char(date_trunc('hour', "timestamp" AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:00:00')"#
        }
        DatabaseBackend::MySql => "DATE_FORMAT(`timestamp`, '%Y-%m-%d %H:00:00')",
        _ => r#"strftime('%Y-%m-%d %H:00:00', "timestamp")"#,
    }
}

async fn raw_top(
    db: &DatabaseConnection,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    column: Column,
    event_type: &str,
) -> Vec<(String, u64)> {
    raw_top_n(db, start, end, column, event_type, 10).await
}

async fn raw_top_n(
    db: &DatabaseConnection,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    column: Column,
    event_type: &str,
    limit: u64,
) -> Vec<(String, u64)> {
    Entity::find()
        .select_only()
        .column(column)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .filter(Column::Timestamp.gte(start))
        .filter(Column::Timestamp.lt(end))
        .filter(Column::EventType.eq(event_type))
        .filter(column.is_not_null())
        .group_by(column)
        .order_by(Expr::cust("COUNT(*)"), Order::Desc)
        .order_by_asc(column)
        .limit(limit)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await
        .expect("raw top query")
        .into_iter()
        .map(|(v, n)| (v, n as u64))
        .collect()
}

/// The raw per-hour series and per-type counts.
async fn raw_hourly(
    db: &DatabaseConnection,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> (Vec<HourlyBucket>, BTreeMap<String, u64>) {
    let hour = hour_label_sql(db.get_database_backend());
    let rows: Vec<(String, String, i64)> = Entity::find()
        .select_only()
        .column_as(Expr::cust(hour), "hour")
        .column(Column::EventType)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .filter(Column::Timestamp.gte(start))
        .filter(Column::Timestamp.lt(end))
        .group_by(Expr::cust(hour))
        .group_by(Column::EventType)
        .into_tuple()
        .all(db)
        .await
        .expect("raw per-hour query");
    let mut by_type = BTreeMap::new();
    let mut hours: BTreeMap<String, HourlyBucket> = BTreeMap::new();
    for (label, event_type, n) in rows {
        let hour = NaiveDateTime::parse_from_str(&label, "%Y-%m-%d %H:%M:%S").unwrap().and_utc();
        let bucket =
            hours.entry(label).or_insert(HourlyBucket { hour, failed_logins: 0, successful_logins: 0, total: 0 });
        let n = n as u64;
        bucket.total += n;
        match event_type.as_str() {
            "login_failed" => bucket.failed_logins += n,
            "login_success" => bucket.successful_logins += n,
            _ => {}
        }
        *by_type.entry(event_type).or_insert(0) += n;
    }
    (hours.into_values().collect(), by_type)
}

/// The report and the rankings over `[start, end)` equal the raw aggregates.
async fn assert_period_matches(
    logger: &AuditLogger,
    db: &DatabaseConnection,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    ctx: &str,
) {
    let report = logger.generate_security_report(start, end).await.expect("report");
    let (hourly, by_type) = raw_hourly(db, start, end).await;
    let why = format!("{ctx}, period {start} .. {end}, {:?}, seed {}", db.get_database_backend(), seed());
    assert_eq!(report.hourly, hourly, "hourly series: {why}");
    assert_eq!(report.events_by_type, by_type, "per-type counts: {why}");
    assert_eq!(report.total_events, by_type.values().sum::<u64>(), "total: {why}");
    let methods = raw_methods(db, start, end).await;
    assert_eq!(report.mfa_events_by_method, methods, "MFA events per method: {why}");
    assert_eq!(report.passkey_events, methods.get("passkey").copied().unwrap_or(0), "passkey events: {why}");
    let ips: Vec<IpCount> = raw_top(db, start, end, Column::ClientIp, "login_failed")
        .await
        .into_iter()
        .map(|(ip, count)| IpCount { ip, count })
        .collect();
    assert_eq!(report.top_failing_ips, ips, "top failing addresses: {why}");
    let accounts: Vec<AccountCount> = raw_top(db, start, end, Column::ActorName, "login_failed")
        .await
        .into_iter()
        .map(|(account, count)| AccountCount { account, count })
        .collect();
    assert_eq!(report.most_targeted_accounts, accounts, "most targeted accounts: {why}");
    // The dashboard's rate-limit ranking, and a ranking the rollup does not keep (events only).
    for (column, raw_column, event_type) in [
        (RankedColumn::ClientIp, Column::ClientIp, "rate_limit_exceeded"),
        (RankedColumn::ActorName, Column::ActorName, "rate_limit_exceeded"),
        (RankedColumn::ClientIp, Column::ClientIp, "suspicious_activity"),
    ] {
        let read = rollup::top_values(db, start, end, column, event_type, 10).await.expect("top values");
        assert_eq!(read, raw_top(db, start, end, raw_column, event_type).await, "{column:?} of {event_type}: {why}");
    }
}

async fn rollup_rows(db: &DatabaseConnection) -> Vec<(String, i64, String, String, String, i64)> {
    let sql = "SELECT dim_kind, hour_start, event_type, severity, dim_value, event_count FROM audit_rollup_hourly \
               ORDER BY dim_kind, hour_start, event_type, severity, dim_value";
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("read the rollup")
        .into_iter()
        .map(|row| row.try_get_many_by_index().expect("rollup row"))
        .collect()
}

/// The rollup kept by the sink and the purge equals the one recomputed from the events (which
/// also checks that the sink's hours agree with the SQL's).
async fn assert_rollup_is_exact(db: &DatabaseConnection, ctx: &str) {
    let kept = rollup_rows(db).await;
    assert!(kept.iter().all(|row| row.5 > 0), "no empty rows kept: {ctx}, seed {}", seed());
    rollup::rebuild(db, None).await.expect("rebuild");
    assert_eq!(
        kept,
        rollup_rows(db).await,
        "rollup vs events: {ctx}, {:?}, seed {}",
        db.get_database_backend(),
        seed()
    );
}

async fn random_periods_read_the_raw_numbers(t: &TestDb) {
    let mut rng = StdRng::seed_from_u64(seed());
    let logger = AuditLogger::builder().database(t.db.clone()).build();
    let sink = DatabaseSink::new(t.db.clone());
    let events: Vec<AuditEvent> = (0..700).map(|_| random_event(&mut rng)).collect();
    write(&sink, &events, &mut rng).await;
    // Late events: times in hours already counted, written afterwards.
    let late: Vec<AuditEvent> = (0..150).map(|_| random_event(&mut rng)).collect();
    write(&sink, &late, &mut rng).await;
    assert_rollup_is_exact(&t.db, "after writes").await;
    for i in 0..25 {
        let (start, end) = random_period(&mut rng);
        assert_period_matches(&logger, &t.db, start, end, &format!("period {i}")).await;
    }
}
on_every_backend!(random_periods, random_periods_read_the_raw_numbers);

async fn purges_and_late_events_keep_it_exact(t: &TestDb) {
    let mut rng = StdRng::seed_from_u64(seed() ^ 0x9e37);
    let logger = AuditLogger::builder().database(t.db.clone()).build();
    let sink = DatabaseSink::new(t.db.clone());
    // More than one purge batch (1000 rows) in the first hours.
    let mut events: Vec<AuditEvent> =
        (0..1200).map(|_| random_event(&mut rng).at(day0() + Duration::seconds(rng.random_range(0..7200)))).collect();
    events.extend((0..500).map(|_| random_event(&mut rng)));
    write(&sink, &events, &mut rng).await;
    for round in 0..4 {
        let cutoff = random_time(&mut rng).min(day0() + Duration::hours(30 + 10 * round));
        logger.purge_before(cutoff).await.expect("purge");
        let ctx = format!("after purge {round} before {cutoff}");
        assert_rollup_is_exact(&t.db, &ctx).await;
        for _ in 0..5 {
            let (start, end) = random_period(&mut rng);
            assert_period_matches(&logger, &t.db, start, end, &ctx).await;
        }
        // Late events, some in purged hours.
        let late: Vec<AuditEvent> = (0..80).map(|_| random_event(&mut rng)).collect();
        write(&sink, &late, &mut rng).await;
        assert_rollup_is_exact(&t.db, &format!("late events after purge {round}")).await;
    }
    let (start, end) = (day0() - Duration::hours(1), day0() + Duration::days(4));
    assert_period_matches(&logger, &t.db, start, end, "after every purge").await;
}
on_every_backend!(purges, purges_and_late_events_keep_it_exact);

async fn retried_batches_count_once(t: &TestDb) {
    let mut rng = StdRng::seed_from_u64(seed() ^ 0x7f4a);
    let logger = AuditLogger::builder().database(t.db.clone()).build();
    let sink = DatabaseSink::new(t.db.clone());
    let first: Vec<AuditEvent> = (0..60).map(|_| random_event(&mut rng)).collect();
    sink.write_batch(&first).await.expect("first delivery");
    // The same batch again (its acknowledgement was lost), then one half stored, half new, then
    // one that names an event twice.
    sink.write_batch(&first).await.expect("retried delivery");
    let mut mixed: Vec<AuditEvent> = first[..30].to_vec();
    mixed.extend((0..30).map(|_| random_event(&mut rng)));
    sink.write_batch(&mixed).await.expect("half-new batch");
    let twice = random_event(&mut rng);
    sink.write_batch(&[twice.clone(), random_event(&mut rng), twice]).await.expect("a batch with a repeated id");
    let stored = stored_events(&t.db).await;
    assert_eq!(stored, 92, "seed {}", seed());
    assert_rollup_is_exact(&t.db, "after retried batches").await;
    let (start, end) = (day0() - Duration::hours(1), day0() + Duration::days(4));
    let report = logger.generate_security_report(start, end).await.expect("report");
    assert_eq!(report.total_events, 92, "each stored event counted once, seed {}", seed());
    assert_period_matches(&logger, &t.db, start, end, "after retried batches").await;
}
on_every_backend!(retried_batches, retried_batches_count_once);

async fn stored_events(db: &DatabaseConnection) -> u64 {
    Entity::find().count(db).await.expect("count rows")
}

async fn two_writers_add_up(t: &TestDb) {
    let mut rng = StdRng::seed_from_u64(seed() ^ 0x2b1d);
    let logger = AuditLogger::builder().database(t.db.clone()).build();
    let other = t.connect_again().await;
    let (a, b) = (DatabaseSink::new(t.db.clone()), DatabaseSink::new(other));
    // The same few hours and values on both sides: the two upsert the same rollup rows.
    let mut batches = |n: usize| -> Vec<Vec<AuditEvent>> {
        (0..n)
            .map(|_| {
                (0..rng.random_range(1..30))
                    .map(|_| random_event(&mut rng).at(day0() + Duration::seconds(rng.random_range(0..3 * 3600))))
                    .collect()
            })
            .collect()
    };
    let (left, right) = (batches(25), batches(25));
    let run = |sink: DatabaseSink, batches: Vec<Vec<AuditEvent>>| async move {
        for batch in &batches {
            deliver(&sink, batch).await;
            // A retry of the batch (its acknowledgement lost) while the other writer goes on.
            deliver(&sink, batch).await;
        }
    };
    let written: usize = left.iter().chain(&right).map(Vec::len).sum();
    tokio::join!(run(a, left), run(b, right));
    assert_eq!(stored_events(&t.db).await, written as u64, "seed {}", seed());
    assert_rollup_is_exact(&t.db, "after two concurrent writers").await;
    for i in 0..10 {
        let start = day0() + Duration::minutes(rng.random_range(-30..200));
        let end = start + Duration::minutes(rng.random_range(0..240));
        assert_period_matches(&logger, &t.db, start, end, &format!("two writers, period {i}")).await;
    }
}
on_every_backend!(concurrent_writers, two_writers_add_up);

/// Events stored by other means than the sink are counted by the migration's backfill (here
/// undone and run again) and by `rollup::rebuild` for their hours.
async fn the_backfill_counts_events_already_stored(t: &TestDb) {
    let mut rng = StdRng::seed_from_u64(seed() ^ 0x51c3);
    let logger = AuditLogger::builder().database(t.db.clone()).build();
    let imported: Vec<AuditEvent> = (0..300).map(|_| random_event(&mut rng)).collect();
    for chunk in imported.chunks(100) {
        Entity::insert_many(chunk.iter().map(rail_graphql_security::audit::entity::ActiveModel::from))
            .exec_without_returning(&t.db)
            .await
            .expect("import");
    }
    assert!(rollup_rows(&t.db).await.is_empty(), "an import bypasses the rollup");
    let steps = Migrator::migrations();
    let rollup_step = steps.iter().position(|m| m.name() == "m20261204_000007_create_audit_rollup_hourly").unwrap();
    let from_rollup = (steps.len() - rollup_step) as u32;
    Migrator::down(&t.db, Some(from_rollup)).await.expect("undo the rollup step and the steps after it");
    Migrator::up(&t.db, None).await.expect("redo them: creates and backfills the table");
    assert_rollup_is_exact(&t.db, "after the backfill").await;
    let (start, end) = (day0() - Duration::hours(1), day0() + Duration::days(4));
    assert_period_matches(&logger, &t.db, start, end, "after the backfill").await;

    // An import of one day, then a rebuild of that day only.
    let day = (day0() + Duration::days(1), day0() + Duration::days(2));
    let more: Vec<AuditEvent> =
        (0..100).map(|_| random_event(&mut rng)).filter(|e| e.timestamp >= day.0 && e.timestamp < day.1).collect();
    if !more.is_empty() {
        Entity::insert_many(more.iter().map(rail_graphql_security::audit::entity::ActiveModel::from))
            .exec_without_returning(&t.db)
            .await
            .expect("import");
    }
    rollup::rebuild(&t.db, Some((day.0 + Duration::minutes(5), day.1 - Duration::minutes(5)))).await.expect("rebuild");
    assert_period_matches(&logger, &t.db, start, end, "after rebuilding the imported day").await;
    assert_rollup_is_exact(&t.db, "after rebuilding the imported day").await;
}
on_every_backend!(backfill, the_backfill_counts_events_already_stored);

/// Failed logins from a few addresses and accounts that fail several times an hour (some at the
/// same rate, so their totals tie) and a long tail of ones that fail once: the top lists then
/// come from the rollup rows counting more than one event (the partial index on SQLite and
/// PostgreSQL), and must still equal the ranking over the events, before and after a purge.
async fn heavy_hitters_rank_as_the_events_do(t: &TestDb) {
    let mut rng = StdRng::seed_from_u64(seed() ^ 0x4ea7);
    let logger = AuditLogger::builder().database(t.db.clone()).build();
    let sink = DatabaseSink::new(t.db.clone());
    let heavy_ips = [
        "203.0.113.7",
        "203.0.113.70",
        "198.51.100.1",
        "198.51.100.10",
        "2001:db8::1",
        "2001:db8::10",
        "192.0.2.5",
        "192.0.2.50",
        "203.0.113.8",
        "203.0.113.80",
        "198.51.100.2",
        "198.51.100.20",
    ];
    let heavy_accounts = [
        "admin",
        "Admin",
        "admin ",
        "root",
        "ünïcode",
        "Ünïcode",
        "test",
        "tëst",
        "oracle",
        "Oracle",
        "guest",
        "guest2",
    ];
    let mut events = Vec::new();
    for hour in 0..40i64 {
        for (k, (ip, account)) in heavy_ips.iter().zip(heavy_accounts).enumerate() {
            // Rates 2, 2, 3, 3, ... 7, 7 an hour: equal totals for pairs; every fifth hour one less.
            let n = 2 + k / 2 - usize::from(hour as usize % 5 == k % 5);
            for _ in 0..n {
                let at = day0() + Duration::hours(hour) + Duration::seconds(rng.random_range(0..3600));
                let severity = if rng.random_range(0..10) == 0 { AuditSeverity::High } else { AuditSeverity::Medium };
                events.push(
                    AuditEvent::new(AuditEventType::LoginFailed)
                        .severity(severity)
                        .at(at)
                        .client_ip(Some(ip.parse().unwrap()))
                        .actor_name(account),
                );
            }
        }
        for i in 0..15 {
            let at = day0() + Duration::hours(hour) + Duration::seconds(rng.random_range(0..3600));
            let ip: IpAddr = format!("10.{hour}.{i}.{}", rng.random_range(0..250)).parse().unwrap();
            events.push(
                AuditEvent::new(AuditEventType::LoginFailed)
                    .at(at)
                    .client_ip(Some(ip))
                    .actor_name(format!("user{hour}-{i}")),
            );
        }
    }
    write(&sink, &events, &mut rng).await;

    let check = |ctx: String, start: DateTime<Utc>, end: DateTime<Utc>| {
        let (db, logger) = (&t.db, &logger);
        async move {
            for limit in [3, 5, 10] {
                for (column, raw_column) in
                    [(RankedColumn::ClientIp, Column::ClientIp), (RankedColumn::ActorName, Column::ActorName)]
                {
                    let read =
                        rollup::top_values(db, start, end, column, "login_failed", limit).await.expect("top values");
                    let raw = raw_top_n(db, start, end, raw_column, "login_failed", limit).await;
                    assert_eq!(read, raw, "{column:?}, limit {limit}, {ctx}, period {start} .. {end}, seed {}", seed());
                }
            }
            assert_period_matches(logger, db, start, end, &ctx).await;
        }
    };

    // The rollup's bound decides the whole range and long periods: checked through the debug
    // event the bounded path logs, on the backends with the partial index.
    let captured = CapturedLog::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let whole_range = check("whole range".into(), day0() - Duration::minutes(30), day0() + Duration::hours(41));
    tracing::instrument::WithSubscriber::with_subscriber(whole_range, subscriber).await;
    let log = captured.text();
    let bounded = log.matches("top list bounded by the rollup").count();
    if t.db.get_database_backend() == DatabaseBackend::MySql {
        assert_eq!(bounded, 0, "MySQL/MariaDB have no partial index: {log}");
    } else {
        assert!(bounded >= 6, "the bound decides the long lists ({bounded} times): {log}");
    }

    for i in 0..12 {
        let start = day0() + Duration::minutes(rng.random_range(0..40 * 60));
        let end = start + Duration::minutes(rng.random_range(0..40 * 60));
        check(format!("period {i}"), start, end).await;
    }
    let cutoff = day0() + Duration::hours(7) + Duration::minutes(20);
    logger.purge_before(cutoff).await.expect("purge");
    assert_rollup_is_exact(&t.db, "after the purge").await;
    for i in 0..6 {
        let start = day0() + Duration::minutes(rng.random_range(0..40 * 60));
        let end = start + Duration::minutes(rng.random_range(0..40 * 60));
        check(format!("after the purge, period {i}"), start, end).await;
    }
}
on_every_backend!(heavy_hitters, heavy_hitters_rank_as_the_events_do);

/// A SQLite database whose rollup table was created by the first version of step 7 (a rowid
/// table) is rebuilt `WITHOUT ROWID` by step 13 with every row kept, and the top lists still
/// read the events' numbers; running the step again changes nothing.
#[tokio::test]
async fn step_13_rebuilds_an_older_sqlite_rollup_without_rowid() {
    let Some(t) = TestDb::new(integration_tests::Backend::Sqlite).await else { return };
    let mut rng = StdRng::seed_from_u64(seed() ^ 0x0513);
    let sink = DatabaseSink::new(t.db.clone());
    let events: Vec<AuditEvent> = (0..400).map(|_| random_event(&mut rng)).collect();
    write(&sink, &events, &mut rng).await;
    let table_sql = |db: DatabaseConnection| async move {
        let sql = "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_rollup_hourly'";
        let row = db.query_one_raw(Statement::from_string(DatabaseBackend::Sqlite, sql)).await.unwrap().unwrap();
        row.try_get_by_index::<String>(0).unwrap()
    };
    assert!(table_sql(t.db.clone()).await.contains("WITHOUT ROWID"), "step 7 creates it clustered");

    // The table as the first step 7 left it, and step 13 not yet applied.
    for sql in [
        "CREATE TABLE rollup_old (dim_kind varchar(16) NOT NULL, hour_start integer NOT NULL, \
         event_type varchar(64) NOT NULL, severity varchar(16) NOT NULL, dim_value varchar(255) NOT NULL, \
         event_count integer NOT NULL, CONSTRAINT pk_old PRIMARY KEY (dim_kind, hour_start, event_type, severity, dim_value))",
        "INSERT INTO rollup_old SELECT * FROM audit_rollup_hourly",
        "DROP TABLE audit_rollup_hourly",
        "ALTER TABLE rollup_old RENAME TO audit_rollup_hourly",
        "DELETE FROM rail_security_migrations WHERE version = 'm20261206_000013_audit_rollup_heavy_index'",
    ] {
        t.db.execute_unprepared(sql).await.expect(sql);
    }
    let before = rollup_rows(&t.db).await;
    assert!(!before.is_empty());
    assert!(!table_sql(t.db.clone()).await.contains("WITHOUT ROWID"));

    for run in 0..2 {
        if run == 1 {
            t.db.execute_unprepared(
                "DELETE FROM rail_security_migrations WHERE version = 'm20261206_000013_audit_rollup_heavy_index'",
            )
            .await
            .unwrap();
        }
        Migrator::up(&t.db, None).await.expect("step 13");
        assert!(table_sql(t.db.clone()).await.contains("WITHOUT ROWID"), "run {run}");
        assert_eq!(rollup_rows(&t.db).await, before, "every row kept, run {run}");
        assert_rollup_is_exact(&t.db, &format!("after step 13, run {run}")).await;
    }
    let logger = AuditLogger::builder().database(t.db.clone()).build();
    let (start, end) = (day0() - Duration::hours(1), day0() + Duration::days(4));
    assert_period_matches(&logger, &t.db, start, end, "after step 13").await;
    t.cleanup().await;
}
