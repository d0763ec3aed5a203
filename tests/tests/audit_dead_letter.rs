//! Events a sink refuses for good are split out of their batch and dead-lettered (kept, counted,
//! alerted) while the rest flows on; `flush()` and the report say when they hit their deadline.
//! The database refusing real data is covered by `audit_storable_property` and
//! `e2e_audit_poison`; here the sinks are applications' own `AuditSink`s.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use integration_tests::{Alerts, GatedSink, TestDb, collect_alerts, on_every_backend};
use rail_graphql_security::audit::{
    Alert, AuditError, AuditEvent, AuditEventType, AuditLogger, AuditSink, SinkError, StorageBackend,
};
use rail_graphql_security::config::standard::AuditSettings;
use rail_graphql_security::config::{Profile, SecurityConfig};
use serde_json::Value;
use uuid::Uuid;

fn dead_lettered_ids(alerts: &Alerts) -> Vec<Uuid> {
    alerts
        .lock()
        .unwrap()
        .iter()
        .filter_map(|a| match a {
            Alert::DeadLettered { event_id, sink, stored, .. } => {
                assert!(*stored, "the store kept it");
                assert_eq!(sink, "picky");
                Some(*event_id)
            }
            _ => None,
        })
        .collect()
}

/// A collector that refuses, for good, any batch holding an event by `mallory`, and panics on
/// any batch holding an event by `crash`; records what it accepted.
#[derive(Debug, Clone, Default)]
struct PickySink {
    written: Arc<Mutex<Vec<AuditEvent>>>,
}

#[async_trait]
impl AuditSink for PickySink {
    fn name(&self) -> &str {
        "picky"
    }
    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        let by = |name: &str| events.iter().any(|e| e.actor_name.as_deref() == Some(name));
        assert!(!by("crash"), "the collector crashed on this batch");
        if by("mallory") {
            return Err(SinkError::Refused("mallory's events are not accepted".into()));
        }
        self.written.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}

fn by(i: usize, name: &str) -> AuditEvent {
    AuditEvent::new(AuditEventType::LoginFailed).actor_name(name).request_id(Some(format!("r{i}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_events_go_to_the_dead_letter_file_and_the_rest_flows_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dead-letters.jsonl");
    let sink = PickySink::default();
    // The file store as the `dead_letter_path` setting chooses it.
    let config = AuditSettings {
        storage_backend: vec![StorageBackend::Tracing],
        dead_letter_path: Some(path.clone()),
        ..AuditSettings::defaults(&Profile::Development)
    };
    let logger = config.logger_builder(None).expect("a valid config").sink(sink.clone()).build();
    let alerts = collect_alerts(&logger);

    let names = ["alice", "mallory", "bob", "carol", "crash", "dave", "mallory", "erin"];
    let events: Vec<AuditEvent> = names.iter().enumerate().map(|(i, name)| by(i, name)).collect();
    for event in &events {
        logger.log(event.clone());
    }
    logger.flush().await.expect("nothing is stuck");
    let later = by(99, "frank");
    logger.log(later.clone());
    logger.flush().await.expect("later events flow");

    let refused: Vec<&AuditEvent> =
        events.iter().filter(|e| matches!(e.actor_name.as_deref(), Some("mallory" | "crash"))).collect();
    let accepted: Vec<Uuid> = events.iter().chain([&later]).filter(|e| !refused.contains(e)).map(|e| e.id).collect();
    let written: Vec<Uuid> = sink.written.lock().unwrap().iter().map(|e| e.id).collect();
    assert_eq!(written, accepted, "every other event is written once, in order");

    let lines: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON dead letter per line"))
        .collect();
    assert_eq!(lines.len(), refused.len(), "{lines:?}");
    for (line, event) in lines.iter().zip(&refused) {
        assert_eq!(line["event_id"], event.id.to_string());
        assert_eq!(line["sink"], "picky");
        let raw: AuditEvent = serde_json::from_str(line["raw_event"].as_str().unwrap()).expect("raw event parses");
        assert!(raw.chain.is_some(), "the dead letter keeps the event's chain link");
        assert_eq!(&integration_tests::unlinked(raw), *event, "the dead letter keeps the whole event");
        let error = line["error"].as_str().unwrap();
        let expected = if event.actor_name.as_deref() == Some("crash") { "panicked" } else { "not accepted" };
        assert!(error.contains(expected), "{error}");
    }

    let mut alerted = dead_lettered_ids(&alerts);
    alerted.sort();
    let mut refused_ids: Vec<Uuid> = refused.iter().map(|e| e.id).collect();
    refused_ids.sort();
    assert_eq!(alerted, refused_ids, "one alert per dead letter");
    let stats = logger.shutdown().await.unwrap();
    assert_eq!((stats.dead_lettered, stats.lost, stats.dropped), (3, 0, 0), "{stats:?}");
    // The tracing sink writes every event, the picky one all but the refused.
    assert_eq!(stats.written, (accepted.len() + events.len() + 1) as u64, "{stats:?}");
}

/// A sink that blocks every write until its gate opens.
async fn flush_and_report_say_when_they_hit_the_deadline(t: &TestDb) {
    let sink = GatedSink::shut();
    let logger = AuditLogger::builder()
        .database(t.db.clone())
        .sink(sink.clone())
        .flush_timeout(Duration::from_millis(200))
        .build();
    let start = Utc::now() - chrono::Duration::minutes(1);
    logger.log(AuditEvent::new(AuditEventType::LoginFailed).actor_name("alice"));

    match logger.flush().await {
        Err(AuditError::FlushDeadline(deadline)) => assert_eq!(deadline, Duration::from_millis(200)),
        other => panic!("a stuck sink must make flush hit its deadline, got {other:?}"),
    }
    let report = logger.generate_security_report(start, Utc::now() + chrono::Duration::minutes(1)).await;
    assert!(report.expect("the report answers anyway").flush_deadline_hit, "and says it hit the deadline");

    sink.open(); // the sink recovers
    logger.flush().await.expect("flush completes once the sink accepts");
    let report = logger.generate_security_report(start, Utc::now() + chrono::Duration::minutes(1)).await.unwrap();
    assert!(!report.flush_deadline_hit);
    assert_eq!(report.failed_logins, 1);
    logger.shutdown().await.unwrap();
}
on_every_backend!(flush_deadline, flush_and_report_say_when_they_hit_the_deadline);
