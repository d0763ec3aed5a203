//! `audit.*`: the logger, its sinks, alert thresholds and retention.

use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use rail_graphql_security::audit::checkpoint::{self, CheckpointKey, TrustedKey};
use rail_graphql_security::audit::{
    Alert, AuditError, AuditEvent, AuditEventType, AuditSink, DatabaseSink, SIGNATURE_HEADER, ThresholdKind,
};
use rail_graphql_security::config::Profile;
use rail_graphql_security::stack::Security;
use sha2::Sha256;
use tokio::sync::mpsc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::harness::{App, load, serve, start, start_with};

async fn log_failure(app: &App) {
    app.security.logger().log_authentication_failure("alice", None, None, "invalid password");
    app.security.logger().flush().await.unwrap();
}

pub(crate) async fn audit_enabled() {
    let on = start(&[]).await;
    log_failure(&on).await;
    assert_eq!(on.audit_rows("login_failed").await, 1);
    let off = start(&[("audit.enabled", "false")]).await;
    log_failure(&off).await;
    assert_eq!(off.audit_rows("login_failed").await, 0, "a disabled logger records nothing");
    assert!(!off.dir.path().join("spool").exists());
}

pub(crate) async fn storage_backend() {
    let file_only = start(&[("audit.storage_backend", "file")]).await;
    log_failure(&file_only).await;
    assert_eq!(file_only.audit_rows("login_failed").await, 0, "no database sink");
    let lines = std::fs::read_to_string(file_only.dir.path().join("audit.log")).unwrap();
    assert_eq!(lines.lines().filter(|l| l.contains("login_failed")).count(), 1, "{lines}");

    let both = start(&[("audit.storage_backend", "database,file")]).await;
    log_failure(&both).await;
    assert_eq!(both.audit_rows("login_failed").await, 1);
    assert!(std::fs::read_to_string(both.dir.path().join("audit.log")).unwrap().contains("login_failed"));
}

pub(crate) async fn log_file_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("security-events.jsonl");
    let app = start(&[("audit.storage_backend", "file"), ("audit.log_file_path", file.to_str().unwrap())]).await;
    log_failure(&app).await;
    assert!(std::fs::read_to_string(&file).unwrap().contains("\"login_failed\""));
    assert!(!app.dir.path().join("audit.log").exists());
}

/// The lines of the stack's audit file and its rotated files (`audit.log`, `audit.log.1`, ...).
fn audit_files(app: &App) -> Vec<(String, usize)> {
    let mut files: Vec<(String, usize)> = std::fs::read_dir(app.dir.path())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("audit.log"))
        .map(|e| {
            (e.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(e.path()).unwrap().lines().count())
        })
        .collect();
    files.sort();
    files
}

pub(crate) async fn log_file_max_bytes() {
    let app = start(&[("audit.storage_backend", "file"), ("audit.log_file_max_bytes", "4096")]).await;
    for _ in 0..40 {
        log_failure(&app).await;
    }
    let live = app.dir.path().join("audit.log");
    assert!(live.metadata().unwrap().len() <= 4096, "the live file stays under the limit");
    let files = audit_files(&app);
    assert!(files.len() >= 3, "rotated at least twice: {files:?}");
    assert_eq!(files.iter().map(|(_, lines)| lines).sum::<usize>(), 40, "no event lost in rotation: {files:?}");
}

pub(crate) async fn log_file_max_files() {
    let app = start(&[
        ("audit.storage_backend", "file"),
        ("audit.log_file_max_bytes", "4096"),
        ("audit.log_file_max_files", "1"),
    ])
    .await;
    for _ in 0..40 {
        log_failure(&app).await;
    }
    let names: Vec<String> = audit_files(&app).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["audit.log", "audit.log.1"], "one rotated file kept");
}

pub(crate) async fn export_format() {
    for (format, shape) in [("json", "event_type"), ("ocsf", "class_uid")] {
        let app = start(&[("audit.storage_backend", "file"), ("audit.export_format", format)]).await;
        log_failure(&app).await;
        let text = std::fs::read_to_string(app.dir.path().join("audit.log")).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert!(line.get(shape).is_some(), "{format}: {line}");
    }
    let ocsf = start(&[("audit.storage_backend", "file"), ("audit.export_format", "ocsf")]).await;
    log_failure(&ocsf).await;
    let text = std::fs::read_to_string(ocsf.dir.path().join("audit.log")).unwrap();
    assert!(!text.contains("\"event_type\""), "OCSF lines carry no plain fields: {text}");
}

pub(crate) async fn dead_letter_path() {
    let dir = tempfile::tempdir().unwrap();
    let letters = dir.path().join("dead-letters.jsonl");
    let app = start(&[("audit.dead_letter_path", letters.to_str().unwrap())]).await;
    integration_tests::refuse_poison(&app.db).await;
    let poison = AuditEvent::new(AuditEventType::LoginFailed).request_id(Some("poison-1"));
    app.security.logger().log(poison.clone());
    app.security.logger().flush().await.unwrap();
    let text = std::fs::read_to_string(&letters).expect("the dead letter is in the configured file");
    let letter: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(letter["event_id"], poison.id.to_string());
    use sea_orm::{EntityTrait, PaginatorTrait};
    let rows = rail_graphql_security::audit::dead_letter::Entity::find().count(&app.db.db).await.unwrap();
    assert_eq!(rows, 0, "not in the table");
}

pub(crate) async fn flush_timeout_secs() {
    let gated = integration_tests::GatedSink::shut();
    let sink = gated.clone();
    let app = start_with(Profile::Development, &[("audit.flush_timeout_secs", "1")], |b| b.sink(sink)).await;
    app.security.logger().log(AuditEvent::new(AuditEventType::LoginFailed));
    let error = app.security.logger().flush().await.unwrap_err();
    assert!(matches!(error, AuditError::FlushDeadline(d) if d == Duration::from_secs(1)), "{error}");
    gated.open();
    app.security.logger().flush().await.unwrap();
}

/// The webhook endpoint's first delivery.
async fn first_delivery(server: &MockServer) -> wiremock::Request {
    for _ in 0..400 {
        if let Some(request) = server.received_requests().await.unwrap_or_default().into_iter().next() {
            return request;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no webhook delivery within 10 s");
}

async fn webhook_app(server: &MockServer) -> App {
    Mock::given(method("POST")).and(path("/hook")).respond_with(ResponseTemplate::new(200)).mount(server).await;
    let url = format!("{}/hook", server.uri());
    let app = start(&[
        ("audit.storage_backend", "webhook"),
        ("audit.webhook_url", url.as_str()),
        ("audit.webhook_headers", r#"{ x-team = "sec-team-token" }"#),
        ("audit.webhook_secret", "whsec-0123456789"),
    ])
    .await;
    log_failure(&app).await;
    app
}

pub(crate) async fn webhook_url() {
    let server = MockServer::start().await;
    let _app = webhook_app(&server).await;
    let delivery = first_delivery(&server).await;
    assert_eq!(delivery.url.path(), "/hook");
    assert!(String::from_utf8_lossy(&delivery.body).contains("login_failed"));
}

pub(crate) async fn webhook_headers() {
    let server = MockServer::start().await;
    let app = webhook_app(&server).await;
    let delivery = first_delivery(&server).await;
    assert_eq!(delivery.headers.get("x-team").unwrap(), "sec-team-token");
    assert!(!format!("{:?}", app.security).contains("sec-team-token"));
}

pub(crate) async fn webhook_secret() {
    let server = MockServer::start().await;
    let app = webhook_app(&server).await;
    let delivery = first_delivery(&server).await;
    let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec-0123456789").unwrap();
    mac.update(&delivery.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(delivery.headers.get(SIGNATURE_HEADER).unwrap().to_str().unwrap(), expected);
    assert!(!format!("{:?}", app.security).contains("whsec-0123456789"));
}

pub(crate) async fn webhook_spool_dir() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("undelivered");
    // Nothing listens on port 1: the batch stays spooled.
    let app = start(&[
        ("audit.storage_backend", "webhook"),
        ("audit.webhook_url", "http://127.0.0.1:1/hook"),
        ("audit.webhook_spool_dir", spool.to_str().unwrap()),
    ])
    .await;
    log_failure(&app).await;
    let spooled = std::fs::read_dir(&spool).unwrap().count();
    assert!(spooled >= 1, "the batch waits in the configured spool");
}

/// A stack publishing to the shared NATS server on a stream and prefix of its own; `None`
/// when the suite runs without NATS.
async fn nats_app(test: &str) -> Option<(App, String, String, String)> {
    let url = integration_tests::nats::shared_nats_url(test)?;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let (stream, prefix) = (format!("STACK_{tag}"), format!("stack{tag}.audit"));
    let app = start(&[
        ("audit.storage_backend", "nats"),
        ("audit.nats_url", url.as_str()),
        ("audit.nats_stream", stream.as_str()),
        ("audit.nats_subject_prefix", prefix.as_str()),
    ])
    .await;
    log_failure(&app).await;
    for _ in 0..400 {
        if integration_tests::nats::stream_len(&url, &stream).await == 1 {
            return Some((app, url, stream, prefix));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no event in NATS stream {stream} within 10 s");
}

pub(crate) async fn nats_url() {
    let Some((app, url, stream, _)) = nats_app("audit.nats_url").await else { return };
    let stored = integration_tests::nats::read_stream(&url, &stream).await;
    assert_eq!(stored[0].payload["event_type"], "login_failed");
    assert_eq!(app.audit_rows("login_failed").await, 0, "only the nats sink");
    integration_tests::nats::delete_stream(&url, &stream).await;
}

pub(crate) async fn nats_stream() {
    let Some((_app, url, stream, _)) = nats_app("audit.nats_stream").await else { return };
    // The stack created the named stream; the default `AUDIT` is not where the event went.
    assert_eq!(integration_tests::nats::stream_len(&url, &stream).await, 1);
    integration_tests::nats::delete_stream(&url, &stream).await;
}

pub(crate) async fn nats_subject_prefix() {
    let Some((_app, url, stream, prefix)) = nats_app("audit.nats_subject_prefix").await else { return };
    let stored = integration_tests::nats::read_stream(&url, &stream).await;
    assert_eq!(stored[0].subject, format!("{prefix}.login_failed"));
    integration_tests::nats::delete_stream(&url, &stream).await;
}

pub(crate) async fn nats_spool_dir() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("unpublished");
    // Nothing listens on port 1: the event stays spooled.
    let app = start(&[
        ("audit.storage_backend", "nats"),
        ("audit.nats_url", "nats://127.0.0.1:1"),
        ("audit.nats_spool_dir", spool.to_str().unwrap()),
    ])
    .await;
    log_failure(&app).await;
    let spooled = std::fs::read_dir(&spool).unwrap().count();
    assert!(spooled >= 1, "the event waits in the configured spool");
    assert!(!app.dir.path().join("nats-spool").exists(), "not in the default one");
}

pub(crate) async fn retention_days() {
    let dir = tempfile::tempdir().unwrap();
    let db = integration_tests::TestDb::new(integration_tests::Backend::Sqlite).await.unwrap();
    let old = AuditEvent::new(AuditEventType::LoginFailed).at(Utc::now() - chrono::Duration::days(40));
    let recent = AuditEvent::new(AuditEventType::LoginFailed).at(Utc::now() - chrono::Duration::days(10));
    DatabaseSink::new(db.db.clone()).write_batch(&[old, recent]).await.unwrap();
    let config = load(&Profile::Development, dir.path(), &[("audit.retention_days", "30")]).unwrap();
    // Nobody calls purge: the stack's retention task runs at start.
    let security = Security::builder(&config, Profile::Development, db.db.clone()).build().await.unwrap();
    let app = serve(security, db, dir).await;
    for _ in 0..400 {
        if app.audit_rows("login_failed").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(app.audit_rows("login_failed").await, 1, "the 40-day-old event is purged, the 10-day-old kept");
}

async fn checkpoints(app: &App) -> Vec<checkpoint::Checkpoint> {
    use sea_orm::{EntityTrait, QueryOrder};
    let rows = checkpoint::Entity::find().order_by_asc(checkpoint::Column::ChainSeq).all(&app.db.db).await.unwrap();
    rows.into_iter().map(|row| checkpoint::Checkpoint::try_from(row).unwrap()).collect()
}

async fn stored_events(app: &App) -> Vec<AuditEvent> {
    use sea_orm::EntityTrait;
    let rows = rail_graphql_security::audit::entity::Entity::find().all(&app.db.db).await.unwrap();
    rows.into_iter().map(|row| AuditEvent::try_from(row).unwrap()).collect()
}

pub(crate) async fn hash_chain() {
    let on = start(&[]).await;
    log_failure(&on).await;
    let stored = stored_events(&on).await;
    assert!(stored.iter().all(|e| e.chain.is_some_and(|link| link.seq >= 1)), "{stored:?}");
    let off = start(&[("audit.hash_chain", "false")]).await;
    log_failure(&off).await;
    let stored = stored_events(&off).await;
    assert!(!stored.is_empty() && stored.iter().all(|e| e.chain.is_none()), "{stored:?}");
}

pub(crate) async fn checkpoint_signing_key() {
    let secret = "checkpoint-signing-key-of-the-stack-test";
    let signed = start(&[("audit.checkpoint_signing_key", secret)]).await;
    log_failure(&signed).await;
    signed.security.logger().shutdown().await.unwrap();
    let key = CheckpointKey::from_secret(secret).verifying_key();
    let written = checkpoints(&signed).await;
    assert!(!written.is_empty() && written.iter().all(|c| c.signature_valid(&key)), "{written:?}");
    let unsigned = start(&[]).await;
    log_failure(&unsigned).await;
    unsigned.security.logger().shutdown().await.unwrap();
    let written = checkpoints(&unsigned).await;
    assert!(!written.is_empty() && written.iter().all(|c| c.signature.is_none()), "{written:?}");
}

pub(crate) async fn checkpoint_previous_keys() {
    let old = CheckpointKey::from_secret("the stack test's signing key before the rotation");
    let secret = "the stack test's signing key after the rotation";
    let old_public = old.verifying_key_hex();
    let rotated =
        start(&[("audit.checkpoint_signing_key", secret), ("audit.checkpoint_previous_keys", old_public.as_str())])
            .await;
    let keys = rotated.security.logger().checkpoint_verifying_keys();
    let current = CheckpointKey::from_secret(secret).verifying_key();
    assert_eq!(keys, [TrustedKey::from(current), TrustedKey::from(old.verifying_key())]);
    // A checkpoint the old key signed verifies with the stack's keys (as the dashboard checks
    // it); without the setting it does not.
    let mut before = checkpoint::Checkpoint::new(uuid::Uuid::now_v7(), 1, Default::default(), 0);
    old.sign(&mut before);
    assert_eq!(before.check_signature(&keys), Ok(keys[1]));
    let unlisted = start(&[("audit.checkpoint_signing_key", secret)]).await;
    assert!(before.check_signature(&unlisted.security.logger().checkpoint_verifying_keys()).is_err());
    // With the time the old key was retired, what it signed later is refused.
    let retired = format!("{old_public}@2020-01-01T00:00:00Z");
    let dated =
        start(&[("audit.checkpoint_signing_key", secret), ("audit.checkpoint_previous_keys", retired.as_str())]).await;
    let keys = dated.security.logger().checkpoint_verifying_keys();
    assert_eq!(keys[1].retired_at.map(|at| at.to_rfc3339()).as_deref(), Some("2020-01-01T00:00:00+00:00"));
    let reason = before.check_signature(&keys).unwrap_err();
    assert!(reason.contains("was retired at 2020-01-01"), "{reason}");
    // Not a verifying key: the configuration does not load, and says what to list.
    let dir = tempfile::tempdir().unwrap();
    let error = load(&Profile::Development, dir.path(), &[("audit.checkpoint_previous_keys", "nope")]).unwrap_err();
    assert!(error.contains("checkpoint_previous_keys") && error.contains("`audit key` printed"), "{error}");
}

pub(crate) async fn checkpoint_every_events() {
    let every_two = start(&[("audit.checkpoint_every_events", "2")]).await;
    log_failure(&every_two).await;
    assert!(checkpoints(&every_two).await.is_empty(), "one event: no checkpoint yet");
    log_failure(&every_two).await;
    assert_eq!(checkpoints(&every_two).await.iter().map(|c| c.seq).collect::<Vec<_>>(), [2]);
    let default = start(&[]).await;
    log_failure(&default).await;
    log_failure(&default).await;
    assert!(checkpoints(&default).await.is_empty(), "10,000 events between checkpoints by default");
}

pub(crate) async fn checkpoint_anchor_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("checkpoints.jsonl");
    let anchored =
        start(&[("audit.checkpoint_every_events", "1"), ("audit.checkpoint_anchor_path", file.to_str().unwrap())])
            .await;
    let unset = start(&[("audit.checkpoint_every_events", "1")]).await;
    for app in [&anchored, &unset] {
        log_failure(app).await;
    }
    let copies = rail_graphql_security::audit::verify::read_anchors(&file).expect("the configured anchor file");
    assert_eq!(copies, checkpoints(&anchored).await, "every committed checkpoint is copied");
    assert_eq!(copies.len(), 1);
    assert_eq!(checkpoints(&unset).await.len(), 1);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "unset: no other file is written");
}

pub(crate) async fn checkpoint_interval_secs() {
    let each_second = start(&[("audit.checkpoint_interval_secs", "1")]).await;
    let default = start(&[]).await;
    for app in [&each_second, &default] {
        log_failure(app).await;
    }
    // No more events: the idle chain is signed once the second has passed.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while checkpoints(&each_second).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no checkpoint within 10 s of a 1 s interval");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(checkpoints(&each_second).await.iter().map(|c| c.seq).collect::<Vec<_>>(), [1]);
    assert!(checkpoints(&default).await.is_empty(), "five minutes between checkpoints by default");
}

/// Builds a stack whose alerts go to a channel, logs twice with `log`, and returns the
/// first threshold alert: (which, limit, count).
async fn threshold_alert(key: &str, log: impl Fn(&App)) -> (ThresholdKind, u32, u32) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = start_with(Profile::Development, &[(key, "2")], move |b| {
        b.alert_handler(move |alert: Alert| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(alert);
            }
        })
    })
    .await;
    log(&app);
    log(&app);
    app.security.logger().flush().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let alert = tokio::time::timeout_at(deadline, rx.recv()).await.expect("an alert").expect("open");
        if let Alert::ThresholdReached { threshold, limit, count, .. } = alert {
            return (threshold, limit, count);
        }
    }
}

pub(crate) async fn failed_logins_per_hour() {
    let alert = threshold_alert("audit.alert_thresholds.failed_logins_per_hour", |app| {
        app.security.logger().log_authentication_failure("alice", None, None, "invalid password");
    })
    .await;
    assert_eq!(alert, (ThresholdKind::FailedLoginsPerHour, 2, 2));
}

pub(crate) async fn suspicious_activity_per_day() {
    let alert = threshold_alert("audit.alert_thresholds.suspicious_activity_per_day", |app| {
        app.security.logger().log_suspicious_activity(None, None, "probe", serde_json::json!({}));
    })
    .await;
    assert_eq!(alert, (ThresholdKind::SuspiciousActivityPerDay, 2, 2));
}

pub(crate) async fn rate_limit_hits_per_hour() {
    let alert = threshold_alert("audit.alert_thresholds.rate_limit_hits_per_hour", |app| {
        app.security.logger().log_rate_limit_exceeded("203.0.113.9", "graphql_requests", 11, 10, 60);
    })
    .await;
    assert_eq!(alert, (ThresholdKind::RateLimitHitsPerHour, 2, 2));
}

/// `SecurityBuilder::audit_database`: the `database` sink and retention use that connection.
pub(crate) async fn audit_database_of_its_own() {
    let audit_db = integration_tests::TestDb::new(integration_tests::Backend::Sqlite).await.unwrap();
    let own = audit_db.db.clone();
    let app = start_with(Profile::Development, &[], move |b| b.audit_database(own)).await;
    log_failure(&app).await;
    assert_eq!(app.audit_rows("login_failed").await, 0, "not in the application's database");
    let other = App::rows_in(&audit_db.db, "login_failed").await;
    assert_eq!(other, 1);
}
