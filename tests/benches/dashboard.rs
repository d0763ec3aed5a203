//! The security dashboard over 1,000,000 audit events (SQLite file, WAL), against the raw
//! aggregate SQL in the same run:
//!
//! - `dashboard_<period>/raw_report_sql`: the three aggregate queries the security report runs
//!   (per hour and type, top failing addresses, most targeted accounts), written by hand and
//!   executed directly through SeaORM's `query_all_raw`: the baseline.
//! - `dashboard_<period>/raw_page_sql`: those three plus the page's own queries (recent high
//!   events, recent suspicious activity, rate-limit hits by address, MFA adoption), run one
//!   after another.
//! - `dashboard_<period>/report`: `AuditLogger::generate_security_report`.
//! - `dashboard_<period>/page`: a full `GET` of the dashboard page through the axum router
//!   (`tower::ServiceExt::oneshot`, an admin session cookie), body read to the end.
//!
//! `<period>` is `30d` (every seeded event) and `24h` (about 33,000 of them). The events are
//! seeded once per run with one `INSERT … SELECT` over a recursive CTE: 18 event types in a
//! realistic mix, failed logins concentrated on a few attacking addresses and accounts, times
//! spread over 30 days. `RAIL_BENCH_EVENTS` overrides the 1,000,000.
//!
//! `cargo bench -p integration-tests --bench dashboard`
#![expect(missing_docs, reason = "criterion_main! generates an undocumented main")]

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use integration_tests::{Backend, TestDb};
use rail_graphql_security::audit::{AuditLogger, SecurityReport};
use rail_graphql_security::auth::{RevocationStore, TokenConfig, TokenService};
use rail_graphql_security::context::Principal;
use rail_graphql_security::dashboard::{self, Dashboard, SESSION_COOKIE};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement, Value};
use secrecy::SecretString;
use tokio::runtime::Runtime;
use tower::ServiceExt;

const DEFAULT_EVENTS: u64 = 1_000_000;
const SECONDS_IN_30_DAYS: u64 = 30 * 24 * 3600;

/// One `INSERT … SELECT`: `?1` events, `?2` the Unix time of the newest, spread evenly back
/// over 30 days. `h` is a multiplicative hash of the row number that picks the type (per
/// mille), the address, the account and the user agent.
const SEED_EVENTS: &str = r#"
INSERT INTO audit_events (id, event_type, severity, "timestamp", actor_id, actor_name, client_ip, user_agent, request_id, details)
WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < ?1),
hashed AS (SELECT n, (n * 2654435761 + 40503) % 4294967296 AS h FROM seq),
typed AS (
  SELECT n, h, CASE
    WHEN h % 1000 < 420 THEN 'login_success'
    WHEN h % 1000 < 600 THEN 'login_failed'
    WHEN h % 1000 < 680 THEN 'token_created'
    WHEN h % 1000 < 740 THEN 'token_refreshed'
    WHEN h % 1000 < 790 THEN 'logout'
    WHEN h % 1000 < 840 THEN 'mfa_success'
    WHEN h % 1000 < 850 THEN 'mfa_failed'
    WHEN h % 1000 < 853 THEN 'mfa_enabled'
    WHEN h % 1000 < 854 THEN 'mfa_disabled'
    WHEN h % 1000 < 900 THEN 'data_updated'
    WHEN h % 1000 < 930 THEN 'data_created'
    WHEN h % 1000 < 935 THEN 'data_deleted'
    WHEN h % 1000 < 965 THEN 'rate_limit_exceeded'
    WHEN h % 1000 < 975 THEN 'unauthorized_access'
    WHEN h % 1000 < 980 THEN 'suspicious_activity'
    WHEN h % 1000 < 981 THEN 'account_locked'
    WHEN h % 1000 < 990 THEN 'token_expired'
    ELSE 'token_revoked' END AS t
  FROM hashed
)
SELECT
  printf('00000000-0000-4000-8000-%012d', n),
  t,
  CASE
    WHEN t = 'account_locked' THEN 'critical'
    WHEN t IN ('suspicious_activity', 'unauthorized_access', 'mfa_disabled') THEN 'high'
    WHEN t IN ('login_failed', 'token_revoked', 'rate_limit_exceeded', 'mfa_enabled', 'mfa_failed', 'data_deleted')
      THEN 'medium'
    ELSE 'low' END,
  strftime('%Y-%m-%dT%H:%M:%S', ?2 - n * ?3 / ?1, 'unixepoch') || '+00:00',
  CASE WHEN t = 'login_failed' THEN NULL ELSE CAST((h >> 8) % 20000 AS TEXT) END,
  CASE
    WHEN t = 'login_failed' AND (h >> 4) % 10 < 3 THEN CASE (h >> 6) % 3 WHEN 0 THEN 'admin' WHEN 1 THEN 'root' ELSE 'test' END
    ELSE 'user' || ((h >> 8) % 20000) END,
  CASE
    WHEN t = 'login_failed' AND (h >> 12) % 10 < 4 THEN '203.0.113.' || ((h >> 16) % 20)
    WHEN t = 'rate_limit_exceeded' THEN '198.51.100.' || ((h >> 16) % 50)
    ELSE '10.' || ((h >> 8) % 256) || '.' || ((h >> 16) % 256) || '.' || ((h >> 24) % 256) END,
  CASE (h >> 20) % 4
    WHEN 0 THEN 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'
    WHEN 1 THEN 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Safari/605.1.15'
    WHEN 2 THEN 'curl/8.5.0'
    ELSE 'python-requests/2.32.3' END,
  printf('req-%08x', h),
  CASE t
    WHEN 'login_failed' THEN '{"reason":"invalid password"}'
    WHEN 'suspicious_activity' THEN '{"activity_type":"enumeration","requests":120}'
    WHEN 'rate_limit_exceeded' THEN '{"scope":"login","limit":5}'
    ELSE '{}' END
FROM typed
"#;

/// 3,000 second factors for the MFA adoption numbers: TOTP, SMS and backup codes, a few
/// inactive or unconfirmed.
const SEED_DEVICES: &str = r#"
INSERT INTO mfa_devices (id, user_id, device_type, name, is_active, is_primary, confirmed, sms_code_attempts, created_at)
WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < 3000)
SELECT printf('00000000-0000-4000-9000-%012d', n), n / 2,
  CASE n % 5 WHEN 0 THEN 'sms' WHEN 1 THEN 'backup_codes' ELSE 'totp' END,
  'device ' || n, n % 17 <> 0, n % 2 = 0, n % 23 <> 0, 0, ?1
FROM seq
"#;

/// The report's three aggregates, as plain SQL (what `generate_security_report` builds): per
/// hour and type (the per-type counts are its sums), top failing addresses, most targeted
/// accounts.
const RAW_REPORT: [&str; 3] = [
    r#"SELECT strftime('%Y-%m-%d %H:00:00', "timestamp") AS hour, event_type, COUNT(*) AS n FROM audit_events
       WHERE "timestamp" >= ?1 AND "timestamp" < ?2 GROUP BY strftime('%Y-%m-%d %H:00:00', "timestamp"), event_type"#,
    r#"SELECT client_ip, COUNT(*) AS n FROM audit_events
       WHERE "timestamp" >= ?1 AND "timestamp" < ?2 AND event_type = 'login_failed' AND client_ip IS NOT NULL
       GROUP BY client_ip ORDER BY COUNT(*) DESC, client_ip ASC LIMIT 10"#,
    r#"SELECT actor_name, COUNT(*) AS n FROM audit_events
       WHERE "timestamp" >= ?1 AND "timestamp" < ?2 AND event_type = 'login_failed' AND actor_name IS NOT NULL
       GROUP BY actor_name ORDER BY COUNT(*) DESC, actor_name ASC LIMIT 10"#,
];

/// The page's other queries, as plain SQL.
const RAW_PAGE_EXTRA: [&str; 5] = [
    r#"SELECT * FROM audit_events WHERE "timestamp" >= ?1 AND "timestamp" < ?2
       AND severity IN ('high', 'critical') ORDER BY "timestamp" DESC, id DESC LIMIT 50"#,
    r#"SELECT * FROM audit_events WHERE "timestamp" >= ?1 AND "timestamp" < ?2
       AND event_type = 'suspicious_activity' ORDER BY "timestamp" DESC, id DESC LIMIT 10"#,
    r#"SELECT client_ip, COUNT(*) AS n FROM audit_events
       WHERE "timestamp" >= ?1 AND "timestamp" < ?2 AND event_type = 'rate_limit_exceeded' AND client_ip IS NOT NULL
       GROUP BY client_ip ORDER BY COUNT(*) DESC, client_ip ASC LIMIT 10"#,
    "SELECT COUNT(DISTINCT user_id) AS n FROM mfa_devices WHERE is_active = 1 AND confirmed = 1",
    "SELECT device_type, COUNT(DISTINCT user_id) AS n FROM mfa_devices WHERE is_active = 1 AND confirmed = 1
     GROUP BY device_type ORDER BY COUNT(DISTINCT user_id) DESC, device_type ASC",
];

fn period_values(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Value> {
    vec![start.into(), end.into()]
}

/// Runs `queries` over the period, one after another, and returns how many rows came back
/// (every row is fetched and decoded by the driver, as the report's are).
async fn run_raw(db: &DatabaseConnection, queries: &[&str], start: DateTime<Utc>, end: DateTime<Utc>) -> usize {
    let mut rows = 0;
    for sql in queries {
        let values = if sql.contains("?1") { period_values(start, end) } else { Vec::new() };
        rows += db
            .query_all_raw(Statement::from_sql_and_values(DatabaseBackend::Sqlite, *sql, values))
            .await
            .unwrap_or_else(|e| panic!("raw query failed: {e}\n{sql}"))
            .len();
    }
    rows
}

/// The raw per-hour counts must add up to the report's total: the baseline and the measured
/// code do the same work.
async fn check_baseline(db: &DatabaseConnection, report: &SecurityReport, events: u64) {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            RAW_REPORT[0],
            period_values(report.start, report.end),
        ))
        .await
        .expect("raw per-hour counts");
    let raw_total: i64 = rows.iter().map(|r| r.try_get_by_index::<i64>(2).expect("count")).sum();
    assert_eq!(raw_total as u64, report.total_events, "raw SQL and report disagree");
    assert!(report.total_events <= events && report.hourly.len() > 20, "the seed did not land: {report:?}");
}

struct Fixture {
    _t: TestDb,
    db: DatabaseConnection,
    logger: AuditLogger,
    app: axum::Router,
    cookie: String,
    newest: DateTime<Utc>,
}

async fn fixture(events: u64) -> Fixture {
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite is always available");
    let db = t.db.clone();
    let newest = Utc::now().duration_trunc(TimeDelta::seconds(1)).expect("whole seconds");
    let started = std::time::Instant::now();
    let seed = Statement::from_sql_and_values(
        DatabaseBackend::Sqlite,
        SEED_EVENTS,
        [(events as i64).into(), newest.timestamp().into(), (SECONDS_IN_30_DAYS as i64).into()],
    );
    db.execute_raw(seed).await.expect("seed events");
    let devices = Statement::from_sql_and_values(DatabaseBackend::Sqlite, SEED_DEVICES, [newest.into()]);
    db.execute_raw(devices).await.expect("seed devices");
    db.execute_unprepared("ANALYZE").await.expect("analyze");
    println!("seeded {events} audit events in {:.1?}", started.elapsed());

    let logger = AuditLogger::builder().database(db.clone()).build();
    let tokens = TokenService::new(
        TokenConfig::new("dashboard-bench-secret-0123456789-abcdef").expect("secret"),
        RevocationStore::memory(),
    );
    // The session is issued directly below: the sign-in (and its second factor) is not what
    // this measures, so the dashboard needs no second factor to check.
    let dashboard = Dashboard::builder(db.clone(), tokens, |_: String, _: SecretString| async { None::<Principal> })
        .mfa_required_roles(Vec::<String>::new())
        .build()
        .expect("dashboard");
    let admin = Principal::new(1, "root").with_roles(["admin"]);
    let session = dashboard.session_tokens().issue(&admin, &Default::default(), None).expect("session");
    let app = dashboard::router_at("/security", dashboard).expect("mount path");
    Fixture { _t: t, db, logger, app, cookie: format!("{SESSION_COOKIE}={}", session.token), newest }
}

async fn get_page(app: &axum::Router, cookie: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> usize {
    let query = format!("start={}&end={}", start.format("%Y-%m-%dT%H:%M:%SZ"), end.format("%Y-%m-%dT%H:%M:%SZ"));
    let mut request =
        Request::get(format!("/security?{query}")).header("cookie", cookie).body(Body::empty()).expect("request");
    let peer: SocketAddr = "192.0.2.10:50000".parse().expect("addr");
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK, "the admin gets the page");
    axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body").len()
}

fn dashboard_bench(c: &mut Criterion) {
    let events = std::env::var("RAIL_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_EVENTS);
    let rt = Runtime::new().expect("runtime");
    let f = rt.block_on(fixture(events));
    // Whole seconds, so the page's `start`/`end` parameters name exactly this period.
    let end = f.newest + TimeDelta::seconds(1);
    for (name, length) in [("30d", TimeDelta::days(30)), ("24h", TimeDelta::hours(24))] {
        let start = end - length;
        let report = rt.block_on(f.logger.generate_security_report(start, end)).expect("report");
        rt.block_on(check_baseline(&f.db, &report, events));
        println!(
            "{name}: {} events in the period, page {} bytes",
            report.total_events,
            rt.block_on(get_page(&f.app, &f.cookie, start, end))
        );

        let mut group = c.benchmark_group(format!("dashboard_{name}"));
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(if name == "30d" { 12 } else { 5 }));
        group.bench_function("raw_report_sql", |b| {
            b.to_async(&rt).iter(|| run_raw(&f.db, &RAW_REPORT, start, end));
        });
        group.bench_function("raw_page_sql", |b| {
            let all: Vec<&str> = RAW_REPORT.iter().chain(RAW_PAGE_EXTRA.iter()).copied().collect();
            b.to_async(&rt).iter(|| run_raw(&f.db, &all, start, end));
        });
        group.bench_function("report", |b| {
            b.to_async(&rt).iter(|| async { f.logger.generate_security_report(start, end).await.expect("report") });
        });
        group.bench_function("page", |b| {
            b.to_async(&rt).iter(|| get_page(&f.app, &f.cookie, start, end));
        });
        group.finish();
    }
}

criterion_group!(benches, dashboard_bench);
criterion_main!(benches);
