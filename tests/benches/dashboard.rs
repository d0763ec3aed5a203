//! The security dashboard over 1,000,000 audit events (SQLite file, WAL), against the raw
//! aggregate SQL in the same run.
//!
//! The report and the dashboard read the hourly rollup (`audit_rollup_hourly`) for whole hours
//! and the events only for the partial hours at the period's edges. Measured:
//!
//! - `raw`: the three aggregate queries of the security report (per hour and type, top failing
//!   addresses, most targeted accounts) over the events, written by hand and run through
//!   SeaORM's `query_all_raw`: the baseline, the scan the rollup replaces.
//! - `report`: `AuditLogger::generate_security_report`; its numbers are checked against the raw
//!   queries' (every hour, type and top-list row).
//! - `page`: a full `GET` of the dashboard page through the axum router
//!   (`tower::ServiceExt::oneshot`, an admin session cookie), body read to the end.
//! - `report_scale`: the same 30-day report over a second database with 10 times the events
//!   (`RAIL_BENCH_SCALE_EVENTS`, default 10,000,000; `0` skips it): its cost should follow the
//!   hours of the period, not the events.
//!
//! Periods: `30d` (every seeded event) and `24h` (about 33,000 of them). The events are seeded
//! with one `INSERT … SELECT` over a recursive CTE (18 event types in a realistic mix, failed
//! logins concentrated on a few attacking addresses and accounts, times spread over 30 days),
//! then the rollup is computed with `audit::rollup::rebuild`, as the migration's backfill does.
//! `RAIL_BENCH_EVENTS` overrides the 1,000,000 and `RAIL_BENCH_ROUNDS` the 7 interleaved rounds
//! of the ratio table printed at the end (median per-round ratio, and its min–max).
//!
//! `cargo bench -p integration-tests --bench dashboard`
#![expect(missing_docs, reason = "criterion_main! generates an undocumented main")]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use integration_tests::{Backend, TestDb};
use rail_graphql_security::audit::{AuditLogger, SecurityReport, rollup};
use rail_graphql_security::auth::{RevocationStore, TokenConfig, TokenService};
use rail_graphql_security::context::Principal;
use rail_graphql_security::dashboard::{self, Dashboard, SESSION_COOKIE};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement, Value};
use secrecy::SecretString;
use tokio::runtime::Runtime;
use tower::ServiceExt;

const DEFAULT_EVENTS: u64 = 1_000_000;
const DEFAULT_SCALE_EVENTS: u64 = 10_000_000;
const DEFAULT_ROUNDS: usize = 7;
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

/// The report's numbers equal the raw queries': every hour and type, both top lists.
async fn check_identical(db: &DatabaseConnection, report: &SecurityReport) {
    let values = || period_values(report.start, report.end);
    let query =
        |sql: &'static str| db.query_all_raw(Statement::from_sql_and_values(DatabaseBackend::Sqlite, sql, values()));
    let mut hours: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    for row in query(RAW_REPORT[0]).await.expect("raw per-hour counts") {
        let (hour, event_type, n): (String, String, i64) = row.try_get_many_by_index().expect("row");
        let n = n as u64;
        let bucket = hours.entry(hour).or_default();
        bucket.2 += n;
        match event_type.as_str() {
            "login_failed" => bucket.0 += n,
            "login_success" => bucket.1 += n,
            _ => {}
        }
        *by_type.entry(event_type).or_default() += n;
    }
    let reported: BTreeMap<String, (u64, u64, u64)> = report
        .hourly
        .iter()
        .map(|h| (h.hour.format("%Y-%m-%d %H:00:00").to_string(), (h.failed_logins, h.successful_logins, h.total)))
        .collect();
    assert_eq!(reported, hours, "the report's hourly series differs from the raw aggregate");
    assert_eq!(report.events_by_type, by_type, "the report's per-type counts differ from the raw aggregate");
    let top = |rows: Vec<sea_orm::QueryResult>| -> Vec<(String, u64)> {
        rows.into_iter()
            .map(|r| r.try_get_many_by_index::<(String, i64)>().map(|(v, n)| (v, n as u64)).expect("row"))
            .collect()
    };
    let ips: Vec<(String, u64)> = report.top_failing_ips.iter().map(|c| (c.ip.clone(), c.count)).collect();
    assert_eq!(ips, top(query(RAW_REPORT[1]).await.expect("raw top addresses")), "top failing addresses differ");
    let accounts: Vec<(String, u64)> =
        report.most_targeted_accounts.iter().map(|c| (c.account.clone(), c.count)).collect();
    assert_eq!(accounts, top(query(RAW_REPORT[2]).await.expect("raw top accounts")), "top accounts differ");
    assert!(report.hourly.len() > 20, "the seed did not land: {report:?}");
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
    let started = Instant::now();
    let seed = Statement::from_sql_and_values(
        DatabaseBackend::Sqlite,
        SEED_EVENTS,
        [(events as i64).into(), newest.timestamp().into(), (SECONDS_IN_30_DAYS as i64).into()],
    );
    db.execute_raw(seed).await.expect("seed events");
    let devices = Statement::from_sql_and_values(DatabaseBackend::Sqlite, SEED_DEVICES, [newest.into()]);
    db.execute_raw(devices).await.expect("seed devices");
    let seeded = started.elapsed();
    let started = Instant::now();
    rollup::rebuild(&db, None).await.expect("rollup");
    db.execute_unprepared("ANALYZE").await.expect("analyze");
    println!("seeded {events} audit events in {seeded:.1?}, rolled up in {:.1?}", started.elapsed());

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

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn dashboard_bench(c: &mut Criterion) {
    let events = env_number("RAIL_BENCH_EVENTS", DEFAULT_EVENTS);
    let rt = Runtime::new().expect("runtime");
    let f = rt.block_on(fixture(events));
    // Whole seconds, so the page's `start`/`end` parameters name exactly this period.
    let end = f.newest + TimeDelta::seconds(1);
    for (name, length) in [("30d", TimeDelta::days(30)), ("24h", TimeDelta::hours(24))] {
        let start = end - length;
        let report = rt.block_on(f.logger.generate_security_report(start, end)).expect("report");
        rt.block_on(check_identical(&f.db, &report));
        println!(
            "{name}: {} events in the period, page {} bytes; the report's numbers equal the raw aggregate's",
            report.total_events,
            rt.block_on(get_page(&f.app, &f.cookie, start, end))
        );

        let mut group = c.benchmark_group(format!("dashboard_{name}"));
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        group.bench_function("report", |b| {
            b.to_async(&rt).iter(|| async { f.logger.generate_security_report(start, end).await.expect("report") });
        });
        group.bench_function("page", |b| {
            b.to_async(&rt).iter(|| get_page(&f.app, &f.cookie, start, end));
        });
        group.finish();
    }
    ratio_table(&rt, &f, end, events);
}

/// Times one run of `work`.
async fn timed<F: Future>(work: F) -> Duration {
    let started = Instant::now();
    let _ = work.await;
    started.elapsed()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

fn spread(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{min:.4}–{max:.4}")
}

/// The issue's two ratios, in interleaved rounds so a change in the machine's load hits every
/// side alike: report and page ÷ the raw scan (30 days, target ≤ 0.05×), and the report over
/// 10× the events ÷ the report over the base events (target ≤ 1.5×).
fn ratio_table(rt: &Runtime, f: &Fixture, end: DateTime<Utc>, events: u64) {
    let rounds = env_number("RAIL_BENCH_ROUNDS", DEFAULT_ROUNDS as u64).max(1) as usize;
    let scale_events = env_number("RAIL_BENCH_SCALE_EVENTS", DEFAULT_SCALE_EVENTS);
    let start = end - TimeDelta::days(30);
    let scale = (scale_events > 0).then(|| {
        let big = rt.block_on(fixture(scale_events));
        let big_end = big.newest + TimeDelta::seconds(1);
        let report = rt.block_on(big.logger.generate_security_report(big_end - TimeDelta::days(30), big_end));
        rt.block_on(check_identical(&big.db, &report.expect("report at scale")));
        (big, big_end)
    });
    // Per round: the report and page several times (they are fast), the raw scan once.
    const REPEAT: u32 = 5;
    let (mut raw, mut report, mut page, mut big) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut report_ratio, mut page_ratio, mut scale_ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        rt.block_on(async {
            let mut r = Duration::ZERO;
            let mut p = Duration::ZERO;
            let mut s = Duration::ZERO;
            for _ in 0..REPEAT {
                r += timed(f.logger.generate_security_report(start, end)).await;
                p += timed(get_page(&f.app, &f.cookie, start, end)).await;
                if let Some((b, b_end)) = &scale {
                    s += timed(b.logger.generate_security_report(*b_end - TimeDelta::days(30), *b_end)).await;
                }
            }
            let w = timed(run_raw(&f.db, &RAW_REPORT, start, end)).await.as_secs_f64();
            let (r, p, s) = (
                r.as_secs_f64() / f64::from(REPEAT),
                p.as_secs_f64() / f64::from(REPEAT),
                s.as_secs_f64() / f64::from(REPEAT),
            );
            raw.push(w);
            report.push(r);
            page.push(p);
            report_ratio.push(r / w);
            page_ratio.push(p / w);
            if scale.is_some() {
                big.push(s);
                scale_ratio.push(s / r);
            }
        });
    }
    let ms = |v: &[f64]| median(v.to_vec()) * 1000.0;
    println!("\n30-day view, {events} events, {rounds} interleaved rounds (median per-round ratio, min–max):");
    println!("| measured | median time | baseline | ratio | min–max | target |");
    println!("|---|---|---|---|---|---|");
    println!("| raw aggregate scan (3 queries) | {:.1} ms | | | | |", ms(&raw));
    println!(
        "| `generate_security_report` | {:.2} ms | raw scan | {:.4}× | {} | ≤ 0.05× |",
        ms(&report),
        median(report_ratio.clone()),
        spread(&report_ratio)
    );
    println!(
        "| dashboard page (`GET`) | {:.2} ms | raw scan | {:.4}× | {} | ≤ 0.05× |",
        ms(&page),
        median(page_ratio.clone()),
        spread(&page_ratio)
    );
    if scale.is_some() {
        println!(
            "| report over {scale_events} events | {:.2} ms | report over {events} | {:.2}× | {} | ≤ 1.5× |",
            ms(&big),
            median(scale_ratio.clone()),
            spread(&scale_ratio)
        );
    }
}

criterion_group!(benches, dashboard_bench);
criterion_main!(benches);
