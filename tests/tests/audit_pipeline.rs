//! The logger's background pipeline under stress: shutdown with a full queue, a database that
//! goes away mid-stream, a stuck sink, alert thresholds, and use after shutdown.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use integration_tests::{Backend, FlakyProxy, GatedSink, TestDb, collect_alerts, on_every_backend};
use rail_graphql_security::audit::entity::Entity;
use rail_graphql_security::audit::{
    Alert, AlertThresholds, AuditError, AuditEvent, AuditEventType, AuditLogger, AuditSeverity, SharedAlertWindows,
    ThresholdKind,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, QuerySelect};
use serde_json::json;

async fn stored_ids(db: &DatabaseConnection) -> Vec<String> {
    Entity::find()
        .select_only()
        .column(rail_graphql_security::audit::entity::Column::Id)
        .into_tuple()
        .all(db)
        .await
        .expect("read audit ids")
}

fn numbered(i: usize) -> AuditEvent {
    AuditEvent::new(AuditEventType::Custom("pipeline_test".into())).details(json!({ "n": i }))
}

async fn shutdown_writes_everything_queued(t: &TestDb) {
    const N: usize = 10_000;
    let logger = AuditLogger::builder().database(t.db.clone()).queue_capacity(2 * N).build();
    let mut ids = BTreeSet::new();
    for i in 0..N {
        let event = numbered(i);
        ids.insert(event.id.to_string());
        logger.log(event);
    }
    let stats = logger.shutdown().await.unwrap();
    assert_eq!(stats.logged, N as u64);
    assert_eq!(stats.written, N as u64);
    assert_eq!((stats.dropped, stats.lost, stats.write_failures), (0, 0, 0));
    let stored = stored_ids(&t.db).await;
    assert_eq!(stored.len(), N, "every queued event was written once");
    assert_eq!(stored.into_iter().collect::<BTreeSet<_>>(), ids);
}
on_every_backend!(shutdown_writes_everything_queued_on, shutdown_writes_everything_queued);

/// Logs `n` events, pausing now and then so the stream spans the outage; returns their ids.
async fn stream(logger: &AuditLogger, n: usize, ids: &mut Vec<String>) {
    for i in 0..n {
        let event = numbered(ids.len() + i);
        ids.push(event.id.to_string());
        logger.log(event);
        if i % 5 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Runs a stream of events with an outage in the middle (`cut` .. `restore`) and checks that
/// every event is stored exactly once and that the outage was really hit.
async fn survives_an_outage<Cut, Restore>(t: &TestDb, logger_db: DatabaseConnection, cut: Cut, restore: Restore)
where
    Cut: AsyncFnOnce(),
    Restore: AsyncFnOnce(),
{
    let logger = AuditLogger::builder()
        .database(logger_db)
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(500))
        .build();
    let mut ids = Vec::new();
    stream(&logger, 200, &mut ids).await;
    logger.flush_timeout(Duration::from_secs(30)).await.unwrap();
    assert_eq!(logger.stats().write_failures, 0, "no failure before the outage");
    cut().await;
    stream(&logger, 300, &mut ids).await; // ~1.5 s while the database is unreachable
    restore().await;
    stream(&logger, 200, &mut ids).await;
    logger.flush_timeout(Duration::from_secs(60)).await.expect("the sink recovers after the outage");

    let stats = logger.stats();
    assert!(stats.write_failures > 0, "the outage was hit: {stats:?}");
    assert_eq!((stats.dropped, stats.lost), (0, 0));
    assert_eq!(stats.dead_lettered, 0, "an outage is transient: nothing is dead-lettered");
    assert_eq!(stats.written, ids.len() as u64);
    let stored = stored_ids(&t.db).await;
    assert_eq!(stored.len(), ids.len(), "every event stored exactly once");
    assert_eq!(stored.into_iter().collect::<BTreeSet<_>>(), ids.into_iter().collect::<BTreeSet<_>>());
    logger.shutdown().await.unwrap();
}

async fn outage_through_proxy(backend: Backend) {
    let Some(t) = TestDb::new(backend).await else { return };
    let proxy = FlakyProxy::start(t.server_addr().expect("server address")).await;
    let db = t.connect_via(&t.url_through(proxy.addr)).await.expect("connect through the proxy");
    let (p1, p2) = (proxy.clone(), proxy.clone());
    survives_an_outage(&t, db, async move || p1.cut(), async move || p2.restore()).await;
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connection_cut_mid_stream_loses_nothing() {
    outage_through_proxy(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_connection_cut_mid_stream_loses_nothing() {
    outage_through_proxy(Backend::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_table_gone_mid_stream_loses_nothing() {
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
    let admin = t.connect_again().await;
    let (a1, a2) = (admin.clone(), admin.clone());
    let cut = async move || {
        a1.execute_unprepared("ALTER TABLE audit_events RENAME TO audit_events_away").await.unwrap();
    };
    let restore = async move || {
        a2.execute_unprepared("ALTER TABLE audit_events_away RENAME TO audit_events").await.unwrap();
    };
    survives_an_outage(&t, t.db.clone(), cut, restore).await;
    admin.close().await.unwrap();
    t.cleanup().await;
}

async fn full_queue_drops_and_raises_an_overflow_alert(t: &TestDb) {
    const N: usize = 1000;
    let sink = GatedSink::shut();
    let logger =
        AuditLogger::builder().database(t.db.clone()).sink(sink.clone()).queue_capacity(8).max_batch(8).build();
    let alerts = collect_alerts(&logger);
    let mut ids = Vec::with_capacity(N);
    let logging = async {
        for i in 0..N {
            let event = numbered(i);
            ids.push(event.id);
            logger.log(event);
            // Give the pipeline every chance to keep up: it still cannot, the sink is stuck.
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), logging).await.expect("log() never waits on a stuck sink");
    let stats = logger.stats();
    assert!(stats.dropped > 0, "a stuck sink and a queue of 8 must drop: {stats:?}");
    assert_eq!(stats.logged + stats.dropped, N as u64);

    sink.open();
    logger.flush_timeout(Duration::from_secs(30)).await.unwrap();

    let alerts = alerts.lock().unwrap().clone();
    let overflow: Vec<AuditEvent> = alerts
        .into_iter()
        .filter_map(|a| match a {
            Alert::Event { event } if event.event_type.as_str() == "audit_queue_overflow" => Some(event),
            _ => None,
        })
        .collect();
    assert!(!overflow.is_empty(), "a full queue raises an audit_queue_overflow alert");
    for event in &overflow {
        assert_eq!(event.severity, AuditSeverity::Critical);
        assert!(event.details["dropped"].as_u64().is_some_and(|n| n > 0), "{event:?}");
    }
    let reported: u64 = overflow.iter().map(|e| e.details["dropped"].as_u64().unwrap()).sum();
    assert_eq!(reported, stats.dropped, "every drop is reported by an overflow event");

    let written = sink.written();
    let written_ids: BTreeSet<_> = written.iter().map(|e| e.id).collect();
    for event in &overflow {
        assert!(written_ids.contains(&event.id), "the overflow event is written to the sinks too");
    }
    let accepted = written.iter().filter(|e| e.event_type.as_str() == "pipeline_test").count();
    assert_eq!(accepted as u64, stats.logged, "every accepted event reached the stuck sink once released");
    assert!(written.iter().all(|e| ids.contains(&e.id) || overflow.iter().any(|o| o.id == e.id)));
    // The database sink stored the overflow events as well.
    let stored: BTreeSet<String> = stored_ids(&t.db).await.into_iter().collect();
    for event in &overflow {
        assert!(stored.contains(&event.id.to_string()));
    }
    logger.shutdown().await.unwrap();
}
on_every_backend!(full_queue_drops_and_raises_an_overflow_alert_on, full_queue_drops_and_raises_an_overflow_alert);

fn thresholds_of(alerts: &[Alert], kind: ThresholdKind) -> Vec<(u32, u32, i64, DateTime<Utc>)> {
    alerts
        .iter()
        .filter_map(|a| match a {
            Alert::ThresholdReached { threshold, count, limit, window_seconds, at } if *threshold == kind => {
                Some((*count, *limit, *window_seconds, *at))
            }
            _ => None,
        })
        .collect()
}

fn event_alert_ids(alerts: &[Alert]) -> Vec<uuid::Uuid> {
    alerts
        .iter()
        .filter_map(|a| match a {
            Alert::Event { event } => Some(event.id),
            _ => None,
        })
        .collect()
}

async fn thresholds_fire_once_per_window(t: &TestDb) {
    let thresholds =
        AlertThresholds { failed_logins_per_hour: 5, suspicious_activity_per_day: 3, rate_limit_hits_per_hour: 4 };
    let logger = AuditLogger::builder().database(t.db.clone()).alert_thresholds(thresholds).build();
    let alerts = collect_alerts(&logger);
    let base = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    let minutes = |m: i64| base + chrono::Duration::minutes(m);
    let mut logged = Vec::new();
    let mut log = |event: AuditEvent| {
        logged.push(event.clone());
        logger.log(event);
    };

    // 12 failed logins within the hour, then 12 more from 90 minutes on.
    for m in (0..12).chain(90..102) {
        log(AuditEvent::new(AuditEventType::LoginFailed).actor_name("alice").at(minutes(m)));
    }
    // 7 suspicious activities within a day, then 7 more from 31 hours on (more than a day after
    // the last of the first group, so the sliding window starts empty again).
    for h in (0..7).chain(31..38) {
        log(AuditEvent::new(AuditEventType::SuspiciousActivity).at(minutes(h * 60 + 1)));
    }
    // 9 rate-limit hits within the hour, then 9 more two hours later.
    for m in (0..9).chain(120..129) {
        log(AuditEvent::new(AuditEventType::RateLimitExceeded).at(minutes(m)));
    }
    // One event of each severity.
    for severity in [AuditSeverity::Low, AuditSeverity::Medium, AuditSeverity::High, AuditSeverity::Critical] {
        log(AuditEvent::new(AuditEventType::DataUpdated).severity(severity));
    }
    logger.flush().await.unwrap();
    let alerts = alerts.lock().unwrap().clone();

    assert_eq!(
        thresholds_of(&alerts, ThresholdKind::FailedLoginsPerHour),
        vec![(5, 5, 3600, minutes(4)), (5, 5, 3600, minutes(94))],
        "once when the 5th failure lands, once more an hour later"
    );
    assert_eq!(
        thresholds_of(&alerts, ThresholdKind::SuspiciousActivityPerDay),
        vec![(3, 3, 86_400, minutes(2 * 60 + 1)), (3, 3, 86_400, minutes(33 * 60 + 1))]
    );
    assert_eq!(
        thresholds_of(&alerts, ThresholdKind::RateLimitHitsPerHour),
        vec![(4, 4, 3600, minutes(3)), (4, 4, 3600, minutes(123))]
    );
    // Exactly one Alert::Event per high or critical event, none for low or medium.
    let expected: Vec<uuid::Uuid> = logged.iter().filter(|e| e.severity >= AuditSeverity::High).map(|e| e.id).collect();
    assert_eq!(expected.len(), 14 + 2, "suspicious activities are high, plus one high and one critical");
    assert_eq!(event_alert_ids(&alerts), expected);
    logger.shutdown().await.unwrap();
}
on_every_backend!(thresholds_fire_once_per_window_on, thresholds_fire_once_per_window);

/// Two loggers sharing alert windows in Redis count the same events as one logger: the
/// thresholds fire at the same events, once per window for both. Each logger flushes after
/// each event, so Redis sees them in time order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_windows_count_the_events_of_every_logger_and_fire_once() {
    let Some(url) = integration_tests::redis_url() else { return };
    let prefix = integration_tests::unique_prefix();
    let thresholds = AlertThresholds { failed_logins_per_hour: 5, ..Default::default() };
    let mut loggers = Vec::new();
    for _ in 0..2 {
        let windows = SharedAlertWindows::connect(&url, &prefix).await.expect("Redis is up");
        loggers.push(AuditLogger::builder().alert_thresholds(thresholds).shared_alert_windows(windows).build());
    }
    let alerts: Vec<_> = loggers.iter().map(collect_alerts).collect();
    let base = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    let minutes = |m: i64| base + chrono::Duration::minutes(m);
    // As in `thresholds_fire_once_per_window`: 12 failures within the hour, 12 more from 90
    // minutes on; now every other one on the other logger.
    for (i, m) in (0..12).chain(90..102).enumerate() {
        let logger = &loggers[i % 2];
        logger.log(AuditEvent::new(AuditEventType::LoginFailed).actor_name("alice").at(minutes(m)));
        logger.flush().await.unwrap();
    }
    let all: Vec<Alert> = alerts.iter().flat_map(|a| a.lock().unwrap().clone()).collect();
    let mut fired = thresholds_of(&all, ThresholdKind::FailedLoginsPerHour);
    fired.sort_by_key(|f| f.3);
    assert_eq!(
        fired,
        vec![(5, 5, 3600, minutes(4)), (5, 5, 3600, minutes(94))],
        "the 5th failure of either logger fires, once for both, and once more an hour later"
    );
    // A flood keeps no more than `limit` timestamps in Redis.
    for m in 0..500 {
        loggers[0].log(AuditEvent::new(AuditEventType::LoginFailed).at(minutes(200) + chrono::Duration::seconds(m)));
    }
    loggers[0].flush().await.unwrap();
    let key = SharedAlertWindows::connect(&url, &prefix).await.unwrap().key(ThresholdKind::FailedLoginsPerHour);
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let kept: usize = redis::cmd("ZCARD").arg(&key).query_async(&mut connection).await.unwrap();
    assert_eq!(kept, 5, "the newest `limit` timestamps only");
    for logger in loggers {
        logger.shutdown().await.unwrap();
    }
    integration_tests::redis_delete_prefix(&url, &prefix).await;
}

/// While Redis does not answer, a logger with shared windows still watches the thresholds,
/// counting its own events, and says so once (not once per batch); once Redis answers again,
/// the windows are shared again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_windows_fall_back_to_counting_in_process_while_redis_is_down() {
    let Some(url) = integration_tests::redis_url() else { return };
    // The alert worker runs on its own task: only a global subscriber sees its lines. This is
    // the only test of the binary that installs one.
    let captured = integration_tests::CapturedLog::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    let target = url.strip_prefix("redis://").and_then(|rest| rest.split('/').next()).expect("redis://host:port");
    let target = tokio::net::lookup_host(target).await.unwrap().next().expect("Redis address");
    let proxy = FlakyProxy::start(target).await;
    let prefix = integration_tests::unique_prefix();
    let windows = SharedAlertWindows::connect(&format!("redis://{}", proxy.addr), &prefix).await.expect("Redis is up");
    let thresholds = AlertThresholds { failed_logins_per_hour: 3, ..Default::default() };
    let logger = AuditLogger::builder().alert_thresholds(thresholds).shared_alert_windows(windows).build();
    let alerts = collect_alerts(&logger);
    proxy.cut();
    let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    // Three batches.
    for s in 0..3 {
        logger.log(AuditEvent::new(AuditEventType::LoginFailed).at(at + chrono::Duration::seconds(s)));
        logger.flush().await.unwrap();
    }
    let fired = thresholds_of(&alerts.lock().unwrap(), ThresholdKind::FailedLoginsPerHour);
    assert_eq!(fired, vec![(3, 3, 3600, at + chrono::Duration::seconds(2))], "counted in process");
    let key = SharedAlertWindows::connect(&url, &prefix).await.unwrap().key(ThresholdKind::FailedLoginsPerHour);
    assert!(!integration_tests::redis_exists(&url, &key).await, "nothing reached Redis");
    let log = captured.text();
    assert_eq!(log.matches("audit alert windows in Redis failed").count(), 1, "warned once: {log}");

    proxy.restore();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut s = 3;
    while !integration_tests::redis_exists(&url, &key).await {
        assert!(std::time::Instant::now() < deadline, "Redis counts again within 10 s of coming back");
        logger.log(AuditEvent::new(AuditEventType::LoginFailed).at(at + chrono::Duration::seconds(s)));
        logger.flush().await.unwrap();
        s += 1;
    }
    assert!(captured.text().contains("audit alert windows in Redis answer again"), "{}", captured.text());
    logger.shutdown().await.unwrap();
    integration_tests::redis_delete_prefix(&url, &prefix).await;
}

async fn a_panicking_handler_does_not_stop_the_others(t: &TestDb) {
    let logger = AuditLogger::builder()
        .database(t.db.clone())
        .alert_handler(|alert: Alert| async move { panic!("handler bug while handling {alert:?}") })
        .build();
    let alerts = collect_alerts(&logger);
    let first = AuditEvent::new(AuditEventType::AccountLocked).actor_name("alice");
    logger.log(first.clone());
    logger.flush().await.unwrap();
    let second = AuditEvent::new(AuditEventType::UnauthorizedAccess).actor_name("bob");
    logger.log(second.clone());
    logger.flush().await.unwrap();
    assert_eq!(event_alert_ids(&alerts.lock().unwrap()), vec![first.id, second.id]);
    let stats = logger.shutdown().await.unwrap();
    assert_eq!(stats.written, 2);
    assert_eq!(stored_ids(&t.db).await.len(), 2);
}
on_every_backend!(a_panicking_handler_does_not_stop_the_others_on, a_panicking_handler_does_not_stop_the_others);

async fn use_after_shutdown_is_safe(t: &TestDb) {
    let logger = AuditLogger::builder().database(t.db.clone()).build();
    logger.log(numbered(0));
    let stats = logger.shutdown().await.unwrap();
    assert_eq!((stats.written, stats.dropped), (1, 0));

    logger.log(numbered(1));
    logger.log_authentication_failure("alice", None, None, "after shutdown");
    assert_eq!(logger.stats().dropped, 2, "events logged after shutdown are counted as dropped");
    assert!(matches!(logger.flush().await, Err(AuditError::Closed)));
    assert_eq!(logger.shutdown().await.unwrap(), logger.stats(), "a second shutdown returns the counters");
    assert_eq!(stored_ids(&t.db).await.len(), 1);
}
on_every_backend!(use_after_shutdown_is_safe_on, use_after_shutdown_is_safe);

/// A sink stuck behind a gate that records the size of every write, with a chosen `max_write`.
#[derive(Debug, Clone)]
struct SizedSink {
    gate: GatedSink,
    max_write: Option<usize>,
    sizes: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
}

#[async_trait::async_trait]
impl rail_graphql_security::audit::AuditSink for SizedSink {
    fn name(&self) -> &str {
        "sized"
    }

    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), rail_graphql_security::audit::SinkError> {
        self.sizes.lock().unwrap().push(events.len());
        self.gate.write_batch(events).await
    }

    fn max_write(&self) -> Option<usize> {
        self.max_write
    }
}

/// Logs 200 events while the sink's first write is stuck, then lets it through; returns the
/// sizes of the sink's writes after checking every event was written exactly once.
async fn write_sizes_behind_a_stuck_write(max_write: Option<usize>) -> Vec<usize> {
    const N: usize = 200;
    let sink = SizedSink { gate: GatedSink::shut(), max_write, sizes: Default::default() };
    let logger = AuditLogger::builder().sink(sink.clone()).queue_capacity(4 * N).max_batch(4).build();
    let mut ids = BTreeSet::new();
    for i in 0..N {
        let event = numbered(i);
        ids.insert(event.id);
        logger.log(event);
        tokio::task::yield_now().await;
    }
    // Let the batches pile up behind the first write, then release it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    sink.gate.open();
    logger.flush_timeout(Duration::from_secs(30)).await.unwrap();
    let written = sink.gate.written();
    assert_eq!(written.len(), N, "every event written once: {:?}", sink.sizes.lock().unwrap());
    assert_eq!(written.iter().map(|e| e.id).collect::<BTreeSet<_>>(), ids);
    logger.shutdown().await.unwrap();
    sink.sizes.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_fell_behind_writes_the_queued_batches_merged_up_to_its_max_write() {
    let sizes = write_sizes_behind_a_stuck_write(Some(40)).await;
    assert!(sizes.iter().all(|&n| n <= 40), "no write above the sink's max_write: {sizes:?}");
    assert!(sizes.iter().any(|&n| n > 4), "queued batches of 4 were merged: {sizes:?}");
    assert!(sizes.len() < 200 / 4, "fewer writes than batches: {sizes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_without_max_write_never_gets_more_than_max_batch_at_once() {
    let sizes = write_sizes_behind_a_stuck_write(None).await;
    assert!(sizes.iter().all(|&n| n <= 4), "max_batch bounds every write: {sizes:?}");
}
