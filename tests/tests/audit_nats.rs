//! The NATS JetStream sink against real `nats-server -js` processes: every event once, in
//! order, on its own subject, read back by a pull consumer; nothing lost or duplicated when
//! the server is down at start, is SIGKILLed mid-stream and restarted, or the process
//! restarts with events spooled; retries stored once (duplicate window); an event the stream
//! refuses set aside without holding up the rest; the config path.
//!
//! The happy-path tests use the shared server (`RAIL_TEST_NATS_URL`); the fault tests run
//! servers of their own (`nats-server` on `PATH` or in `/usr/sbin`), each on its own port and
//! store. Without them the tests say so and pass, unless `RAIL_TEST_REQUIRE_BACKENDS=1`.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use integration_tests::nats::{
    NatsServer, StoredMessage, delete_stream, nats_server_binary, read_stream, shared_nats_url, stream_len,
};
use integration_tests::unlinked;
use rail_graphql_security::audit::checkpoint::CheckpointKey;
use rail_graphql_security::audit::verify::{Finding, Notice, SetAside, Verifier, VerifyOptions};
use rail_graphql_security::audit::{
    Alert, AuditConfigError, AuditEvent, AuditEventType, AuditLogger, AuditSink, DeadLetterStore, ExportFormat,
    NatsSink, NatsSinkBuilder, StorageBackend,
};
use rail_graphql_security::config::standard::AuditSettings;
use rail_graphql_security::config::{Profile, Secret, SecurityConfig};
use serde_json::json;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(60);

/// A stream name and subject prefix no other test (or run) uses: streams may not overlap.
fn unique(test: &str) -> (String, String) {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    (format!("T_{}_{tag}", test.to_uppercase()), format!("t{tag}"))
}

fn sink(url: &str, spool: &Path, stream: &str, prefix: &str) -> NatsSinkBuilder {
    NatsSink::builder(url, spool)
        .stream(stream)
        .subject_prefix(prefix)
        .backoff(Duration::from_millis(20), Duration::from_millis(500))
        .ack_timeout(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(1))
}

fn logger(sink: NatsSink) -> AuditLogger {
    AuditLogger::builder().sink(sink).queue_capacity(100_000).max_batch(250).build()
}

/// Event `n` of a run: three event types in turn, `n` in its details.
fn event(n: usize) -> AuditEvent {
    let event_type = match n % 3 {
        0 => AuditEventType::LoginFailed,
        1 => AuditEventType::LoginSuccess,
        _ => AuditEventType::Custom("report_viewed".into()),
    };
    AuditEvent::new(event_type).details(json!({ "n": n }))
}

async fn wait_for_len(url: &str, stream: &str, expected: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let len = stream_len(url, stream).await;
        assert!(len <= expected, "the stream holds {len} messages, more than the {expected} events logged");
        if len == expected {
            return;
        }
        assert!(Instant::now() < deadline, "only {len} of {expected} events reached the stream within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_for_empty_spool(sink: &NatsSink) {
    let deadline = Instant::now() + WAIT;
    while sink.pending_batches().await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "the spool did not drain within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every event exactly once, in the order logged, on `<prefix>.<event_type>`, its message id
/// its event id and its body the event's JSON; the chain links the logger added (if it did)
/// verify from the stream alone, as a consumer would check them.
fn assert_exactly_once_in_order(stored: &[StoredMessage], events: &[AuditEvent], prefix: &str) {
    let mut verifier = Verifier::new(VerifyOptions::default(), Vec::new(), Vec::new());
    let ids: HashSet<_> = stored.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(ids.len(), stored.len(), "duplicate message ids in the stream");
    assert_eq!(stored.len(), events.len(), "messages in the stream vs events logged");
    for (i, (message, event)) in stored.iter().zip(events).enumerate() {
        assert_eq!(message.message_id.as_deref(), Some(event.id.to_string().as_str()), "message {i} is out of order");
        assert_eq!(message.subject, format!("{prefix}.{}", event.event_type.as_str()));
        let body: AuditEvent = serde_json::from_value(message.payload.clone()).expect("the body is an event");
        assert_eq!(message.payload, ExportFormat::Json.encode(&body).unwrap(), "the body of message {i} is its JSON");
        assert_eq!(unlinked(body.clone()), unlinked(event.clone()), "the body of message {i}");
        verifier.event(body);
    }
    let report = verifier.finish();
    assert!(report.intact(), "the stream's chain: {:?}", report.findings);
    assert!(stored.windows(2).all(|w| w[0].sequence < w[1].sequence));
}

#[tokio::test]
async fn every_event_reaches_the_stream_once_in_order_on_its_subject() {
    let Some(url) = shared_nats_url("the NATS happy-path test") else { return };
    let (stream, prefix) = unique("happy");
    let spool = tempfile::tempdir().unwrap();
    let sink = sink(&url, spool.path(), &stream, &prefix).build().unwrap();
    let logger = logger(sink);
    let events: Vec<_> = (0..300).map(event).collect();
    for e in &events {
        logger.log(e.clone());
    }
    logger.flush().await.unwrap();
    wait_for_len(&url, &stream, 300).await;
    let stats = logger.shutdown().await.unwrap();
    assert_eq!((stats.written, stats.lost, stats.dropped), (300, 0, 0));

    let stored = read_stream(&url, &stream).await;
    assert_exactly_once_in_order(&stored, &events, &prefix);
    assert_eq!(stored.iter().filter(|m| m.subject == format!("{prefix}.report_viewed")).count(), 100);
    delete_stream(&url, &stream).await;
}

#[tokio::test]
async fn a_retried_event_is_stored_once() {
    let Some(url) = shared_nats_url("the NATS idempotency test") else { return };
    let (stream, prefix) = unique("dedup");
    let spool = tempfile::tempdir().unwrap();
    let sink = sink(&url, spool.path(), &stream, &prefix).build().unwrap();
    let once = event(0);
    let other = event(1);
    // What the logger does after a write it could not confirm: the same batch again.
    sink.write_batch(std::slice::from_ref(&once)).await.unwrap();
    sink.write_batch(std::slice::from_ref(&once)).await.unwrap();
    sink.write_batch(&[once.clone(), other.clone()]).await.unwrap();
    wait_for_empty_spool(&sink).await;
    assert_eq!(stream_len(&url, &stream).await, 2, "three publishes of one event id are one message");
    let stored = read_stream(&url, &stream).await;
    assert_exactly_once_in_order(&stored, &[once, other], &prefix);
    delete_stream(&url, &stream).await;
}

#[tokio::test]
async fn events_logged_while_the_server_is_down_arrive_once_it_is_up_even_after_a_process_restart() {
    let Some(binary) = nats_server_binary("the NATS server-down test") else { return };
    let mut server = NatsServer::stopped(binary);
    let url = server.url();
    let (stream, prefix) = unique("down");
    let spool = tempfile::tempdir().unwrap();
    let events: Vec<_> = (0..400).map(event).collect();

    // The first process logs half the events and shuts down before the server ever starts.
    // (Its shutdown gives up on the unreachable server after a second: the events stay spooled.)
    let first = AuditLogger::builder()
        .sink(sink(&url, spool.path(), &stream, &prefix).build().unwrap())
        .shutdown_timeout(Duration::from_secs(1))
        .build();
    for e in &events[..200] {
        first.log(e.clone());
    }
    first.flush().await.unwrap();
    let stats = first.shutdown().await.unwrap();
    assert_eq!((stats.written, stats.lost), (200, 0), "spooled counts as written; nothing is lost");
    drop(first);

    // The next process opens the same spool; the server comes up while it logs the rest.
    let second_sink = sink(&url, spool.path(), &stream, &prefix).build().unwrap();
    assert!(second_sink.pending_batches().await.unwrap() > 0, "the first process's events wait in the spool");
    let second = logger(second_sink);
    for e in &events[200..300] {
        second.log(e.clone());
    }
    second.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.run().await;
    for e in &events[300..] {
        second.log(e.clone());
    }
    second.flush().await.unwrap();
    wait_for_len(&url, &stream, 400).await;
    second.shutdown().await.unwrap();

    let stored = read_stream(&url, &stream).await;
    assert_exactly_once_in_order(&stored, &events, &prefix);
}

#[tokio::test]
async fn a_server_killed_mid_stream_and_restarted_loses_and_duplicates_nothing() {
    let Some(binary) = nats_server_binary("the NATS kill test") else { return };
    let mut server = NatsServer::start(binary).await;
    let url = server.url();
    let (stream, prefix) = unique("kill");
    let spool = tempfile::tempdir().unwrap();
    let sink = sink(&url, spool.path(), &stream, &prefix).build().unwrap();
    let logger = logger(sink);
    let events: Vec<_> = (0..3000).map(event).collect();
    for e in &events {
        logger.log(e.clone());
    }

    // SIGKILL twice while publishing: once early, once past the middle.
    for threshold in [400, 1600] {
        let deadline = Instant::now() + WAIT;
        while stream_len(&url, &stream).await < threshold {
            assert!(Instant::now() < deadline, "publishing stalled before {threshold} events");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill();
        tokio::time::sleep(Duration::from_millis(700)).await;
        server.run().await;
    }
    let before = stream_len(&url, &stream).await;
    assert!(before < 3000, "the kills hit mid-stream ({before} of 3000 already stored)");

    logger.flush().await.unwrap();
    wait_for_len(&url, &stream, 3000).await;
    let stats = logger.shutdown().await.unwrap();
    assert_eq!((stats.logged, stats.written, stats.lost, stats.dropped), (3000, 3000, 0, 0));
    // Anything still in flight would show up now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stored = read_stream(&url, &stream).await;
    assert_exactly_once_in_order(&stored, &events, &prefix);
}

#[tokio::test]
async fn an_event_over_the_payload_limit_is_refused_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let sink = NatsSink::builder("nats://127.0.0.1:1", dir.path()).max_payload(512).build().unwrap();
    let big = AuditEvent::new(AuditEventType::LoginFailed).details(json!({ "note": "x".repeat(1000) }));
    let error = sink.write_batch(&[big]).await.unwrap_err();
    assert!(error.is_permanent(), "{error}: the logger dead-letters it instead of retrying");
    assert_eq!(sink.pending_batches().await.unwrap(), 0, "nothing was spooled");
    sink.write_batch(&[event(1)]).await.unwrap();
    assert_eq!(sink.pending_batches().await.unwrap(), 1);
}

/// The stream's maximum message size set below the sink's payload limit: the server refuses
/// one event at delivery, for good. That event used to hold every later one at the head of
/// the spool; it is now set aside in `refused/` and the events behind it are published.
#[tokio::test]
async fn an_event_the_stream_refuses_is_set_aside_and_the_rest_published() {
    let Some(url) = shared_nats_url("the NATS refused-event test") else { return };
    let (stream, prefix) = unique("refused");
    create_stream_refusing_over(&url, &stream, &prefix, 2048).await;
    let mut events: Vec<AuditEvent> = (0..6).map(event).collect();
    events[2].details = json!({ "n": 2, "note": "x".repeat(4000) });
    let big = events.remove(2);
    publish_around_a_refused_event(&url, &stream, &prefix, &events, &big).await;
    delete_stream(&url, &stream).await;
}

/// Creates `stream` on `<prefix>.>` with a maximum message size of `bytes`: larger events are
/// refused by the stream at delivery.
async fn create_stream_refusing_over(url: &str, stream: &str, prefix: &str, bytes: i32) {
    let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
    js.create_stream(async_nats::jetstream::stream::Config {
        name: stream.to_owned(),
        subjects: vec![format!("{prefix}.>")],
        max_message_size: bytes,
        ..Default::default()
    })
    .await
    .unwrap();
}

/// Publishes `events` with `big` in the middle of the first of two batches, then checks that
/// exactly `events` reached the stream, in order, and that `big` alone was set aside, whole,
/// in the spool's `refused/` directory.
async fn publish_around_a_refused_event(
    url: &str,
    stream: &str,
    prefix: &str,
    events: &[AuditEvent],
    big: &AuditEvent,
) {
    let spool = tempfile::tempdir().unwrap();
    let sink = sink(url, spool.path(), stream, prefix).build().unwrap();
    sink.write_batch(&[events[0].clone(), events[1].clone(), big.clone(), events[2].clone()]).await.unwrap();
    sink.write_batch(&events[3..]).await.unwrap();

    // The events and, in the refused one's place, its set-aside marker.
    wait_for_len(url, stream, events.len() as u64 + 1).await;
    wait_for_empty_spool(&sink).await;
    let mut stored = read_stream(url, stream).await;
    let marker = stored.remove(2);
    assert_eq!(marker.subject, format!("{prefix}.sink.set_aside"));
    assert_eq!(marker.message_id, Some(format!("{}:set-aside", big.id)));
    let aside: SetAside = serde_json::from_value(marker.payload["set_aside"].clone()).unwrap();
    assert_eq!((aside.id, aside.timestamp), (big.id.to_string(), Some(big.timestamp)));
    assert!(!aside.reason.is_empty());
    assert_exactly_once_in_order(&stored, events, prefix);
    let refused = sink.refused_batches().await.unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].parent().unwrap(), spool.path().join("refused"));
    let kept: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&refused[0]).unwrap()).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["id"], big.id.to_string());
    assert_eq!(kept[0]["payload"], ExportFormat::Json.encode(big).unwrap(), "kept whole, ready to publish again");
}

/// A chained trail with an event the stream refuses: a reader verifying the stream finds the
/// event's absence explained by its set-aside marker (a notice), where without the marker
/// the same stream shows a deleted event. The writer's logger dead-letters the event too
/// (kept in its dead-letter store, counted, alerted). The marker is signed: a stream rebuilt
/// with an event deleted and a marker in its place does not verify.
#[tokio::test]
async fn a_refused_events_marker_keeps_the_streams_chain_verifiable() {
    let Some(url) = shared_nats_url("the NATS set-aside marker test") else { return };
    let (stream, prefix) = unique("marker");
    create_stream_refusing_over(&url, &stream, &prefix, 2048).await;
    let spool = tempfile::tempdir().unwrap();
    let letters = spool.path().join("dead-letters.jsonl");
    let key = CheckpointKey::from_secret("the NATS marker test");
    let logger = AuditLogger::builder()
        .sink(sink(&url, spool.path(), &stream, &prefix).signing_key(key.clone()).build().unwrap())
        .dead_letters(DeadLetterStore::file(&letters))
        .build();
    let alerts = integration_tests::collect_alerts(&logger);
    let mut events: Vec<AuditEvent> = (0..6).map(event).collect();
    events[3].details = json!({ "n": 3, "note": "x".repeat(4000) });
    for e in &events {
        logger.log(e.clone());
    }
    logger.flush().await.unwrap();
    wait_for_len(&url, &stream, 6).await;
    let deadline = Instant::now() + WAIT;
    while logger.stats().dead_lettered == 0 {
        assert!(Instant::now() < deadline, "the set-aside event is not dead-lettered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = logger.shutdown().await.unwrap();
    assert_eq!((stats.dead_lettered, stats.lost), (1, 0), "{stats:?}");
    let letters = std::fs::read_to_string(&letters).unwrap();
    let lines: Vec<serde_json::Value> = letters.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{letters}");
    assert_eq!((&lines[0]["sink"], &lines[0]["event_id"]), (&json!("nats"), &json!(events[3].id.to_string())));
    let error = lines[0]["error"].as_str().unwrap();
    assert!(error.contains("refused it") && error.contains("refused/"), "{error}");
    let kept: AuditEvent = serde_json::from_str(lines[0]["raw_event"].as_str().unwrap()).unwrap();
    assert_eq!(unlinked(kept), events[3], "the letter holds the whole event (JSON format)");
    let alerted =
        alerts.lock().unwrap().iter().filter(|a| matches!(a, Alert::DeadLettered { stored: true, .. })).count();
    assert_eq!(alerted, 1);

    let stored = read_stream(&url, &stream).await;
    let keyed = VerifyOptions { key: Some(key.verifying_key()), ..VerifyOptions::default() };
    let marker_subject = format!("{prefix}.sink.set_aside");
    let verify_with = |options: VerifyOptions, stored: &[StoredMessage], with_markers: bool| {
        let mut verifier = Verifier::new(options, Vec::new(), Vec::new());
        for message in stored {
            if message.subject == marker_subject {
                if with_markers {
                    verifier.set_aside(serde_json::from_value(message.payload["set_aside"].clone()).unwrap());
                }
            } else {
                verifier.event(serde_json::from_value(message.payload.clone()).unwrap());
            }
        }
        verifier.finish()
    };
    let verify = |with_markers: bool| verify_with(keyed.clone(), &stored, with_markers);
    let big = events[3].id.to_string();
    let report = verify(true);
    assert!(report.intact(), "{:?}", report.findings);
    assert_eq!(report.events, 5, "the set-aside event is not counted as checked");
    let aside: Vec<(u64, &str)> = report
        .notices
        .iter()
        .filter_map(|n| match n {
            Notice::SetAside { seq, id, .. } => Some((*seq, id.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(aside, [(4, big.as_str())], "{:?}", report.notices);
    let report = verify(false);
    assert!(
        matches!(&report.findings[..], [Finding::Deleted { first_seq: 4, last_seq: 4, .. }]),
        "{:?}",
        report.findings
    );

    // The attack: whoever can write to the stream rebuilds it with event #2 deleted and a
    // marker carrying its link in its place, unsigned or signed with a key of their own.
    let deleted: AuditEvent = serde_json::from_value(stored[1].payload.clone()).unwrap();
    let link = deleted.chain.unwrap();
    let unsigned = SetAside {
        id: deleted.id.to_string(),
        timestamp: Some(deleted.timestamp),
        chain: Some(link),
        reason: "message size exceeds maximum allowed".into(),
        key_id: None,
        signature: None,
    };
    let mut own_key = unsigned.clone();
    own_key.sign(&CheckpointKey::from_secret("the attacker's key"));
    for (case, forged) in [("unsigned", unsigned), ("signed with another key", own_key)] {
        let mut rebuilt: Vec<(String, serde_json::Value)> =
            stored.iter().map(|m| (m.subject.clone(), m.payload.clone())).collect();
        rebuilt[1] = (marker_subject.clone(), json!({ "set_aside": forged }));
        delete_stream(&url, &stream).await;
        let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
        js.create_stream(async_nats::jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{prefix}.>")],
            ..Default::default()
        })
        .await
        .unwrap();
        for (subject, payload) in rebuilt {
            js.publish(subject, serde_json::to_vec(&payload).unwrap().into()).await.unwrap().await.unwrap();
        }
        let tampered = read_stream(&url, &stream).await;
        assert_eq!(tampered.len(), stored.len(), "{case}");
        let report = verify_with(keyed.clone(), &tampered, true);
        assert!(
            report
                .findings
                .iter()
                .any(|f| matches!(f, Finding::ForgedSetAside { seq: 2, id, .. } if *id == deleted.id.to_string())),
            "{case}: {:?}",
            report.findings
        );
        assert!(
            report.findings.iter().any(|f| matches!(f, Finding::Deleted { first_seq: 2, last_seq: 2, .. })),
            "{case}: {:?}",
            report.findings
        );
        // Without the verifying key the marker is taken, and the report says it was unchecked.
        let report = verify_with(VerifyOptions::default(), &tampered, true);
        assert!(
            report.notices.iter().any(|n| matches!(n, Notice::SetAsideNotChecked { count: 2 })),
            "{case}: {:?}",
            report.notices
        );
    }
    delete_stream(&url, &stream).await;
}

/// The server's own `max_payload` set below the sink's limit: the client refuses the event
/// before sending it (`MaxPayloadExceeded`), and it is set aside the same way.
#[tokio::test]
async fn an_event_over_the_servers_max_payload_is_set_aside_and_the_rest_published() {
    let Some(binary) = nats_server_binary("the NATS max_payload test") else { return };
    let server = NatsServer::start_with_config(binary, "max_payload: 4096\n").await;
    let url = server.url();
    let (stream, prefix) = unique("payload");
    let events: Vec<AuditEvent> = (0..5).map(event).collect();
    let big = AuditEvent::new(AuditEventType::LoginFailed).details(json!({ "note": "x".repeat(8000) }));
    publish_around_a_refused_event(&url, &stream, &prefix, &events, &big).await;
}

/// A spool entry that cannot be read (a directory where a batch file should be) is renamed
/// to `.unreadable` for an operator, and the batches behind it are published.
#[tokio::test]
async fn an_unreadable_spool_file_is_set_aside_and_the_rest_published() {
    let Some(url) = shared_nats_url("the NATS unreadable-spool test") else { return };
    let (stream, prefix) = unique("unreadable");
    let spool = tempfile::tempdir().unwrap();
    std::fs::create_dir(spool.path().join("00000000000000000001-0000000000.json")).unwrap();
    let behind = [event(1), event(2)];
    let sink = sink(&url, spool.path(), &stream, &prefix).build().unwrap();
    sink.write_batch(&behind).await.unwrap();
    wait_for_len(&url, &stream, 2).await;
    wait_for_empty_spool(&sink).await;
    let stored = read_stream(&url, &stream).await;
    assert_exactly_once_in_order(&stored, &behind, &prefix);
    let left: Vec<String> = std::fs::read_dir(spool.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["00000000000000000001-0000000000.unreadable"]);
    delete_stream(&url, &stream).await;
}

/// The configuration's `audit` section with the `nats` backend only.
fn nats_settings() -> AuditSettings {
    AuditSettings { storage_backend: vec![StorageBackend::Nats], ..AuditSettings::defaults(&Profile::Development) }
}

#[tokio::test]
async fn audit_config_builds_a_working_nats_sink() {
    let Some(url) = shared_nats_url("the NATS config test") else { return };
    let (stream, prefix) = unique("config");
    let spool = tempfile::tempdir().unwrap();
    let config = AuditSettings {
        nats_url: Some(Secret::new(url.as_str())),
        nats_stream: stream.clone(),
        nats_subject_prefix: prefix.clone(),
        nats_spool_dir: spool.path().to_owned(),
        ..nats_settings()
    };
    let logger = config.logger_builder(None).unwrap().build();
    let events: Vec<_> = (0..5).map(event).collect();
    for e in &events {
        logger.log(e.clone());
    }
    logger.flush().await.unwrap();
    wait_for_len(&url, &stream, 5).await;
    logger.shutdown().await.unwrap();
    assert_exactly_once_in_order(&read_stream(&url, &stream).await, &events, &prefix);
    delete_stream(&url, &stream).await;
}

/// The config's `audit.checkpoint_signing_key` reaches the NATS sink: the marker of an event
/// the stream refuses carries a signature that verifies with that key's public half.
#[tokio::test]
async fn the_configured_checkpoint_key_signs_the_nats_set_aside_markers() {
    let Some(url) = shared_nats_url("the NATS config marker test") else { return };
    let (stream, prefix) = unique("config_marker");
    create_stream_refusing_over(&url, &stream, &prefix, 2048).await;
    let spool = tempfile::tempdir().unwrap();
    let secret = "the configured checkpoint key";
    let config = AuditSettings {
        nats_url: Some(Secret::new(url.as_str())),
        nats_stream: stream.clone(),
        nats_subject_prefix: prefix.clone(),
        nats_spool_dir: spool.path().to_owned(),
        checkpoint_signing_key: Some(Secret::new(secret)),
        ..nats_settings()
    };
    let logger = config.logger_builder(None).unwrap().build();
    let mut events: Vec<AuditEvent> = (0..3).map(event).collect();
    events[1].details = json!({ "n": 1, "note": "x".repeat(4000) });
    for e in &events {
        logger.log(e.clone());
    }
    logger.flush().await.unwrap();
    wait_for_len(&url, &stream, 3).await;
    logger.shutdown().await.unwrap();
    let stored = read_stream(&url, &stream).await;
    let marker = stored.iter().find(|m| m.subject == format!("{prefix}.sink.set_aside")).expect("a marker");
    let aside: SetAside = serde_json::from_value(marker.payload["set_aside"].clone()).unwrap();
    assert_eq!(aside.id, events[1].id.to_string());
    let key = CheckpointKey::from_secret(secret).verifying_key();
    assert_eq!(aside.check_signature(&[key.into()]).map(|signer| signer.key), Ok(key), "{aside:?}");
    let other = CheckpointKey::from_secret("another key").verifying_key();
    assert!(aside.check_signature(&[other.into()]).is_err());
    delete_stream(&url, &stream).await;
}

#[tokio::test]
async fn the_nats_backend_needs_a_url_and_keeps_its_credentials_out_of_debug() {
    assert!(matches!(nats_settings().logger_builder(None), Err(AuditConfigError::MissingNatsUrl)));

    let dir = tempfile::tempdir().unwrap();
    let config = AuditSettings {
        nats_url: Some(Secret::new("nats://audit:pa55word@127.0.0.1:1")),
        nats_spool_dir: dir.path().to_owned(),
        ..nats_settings()
    };
    assert!(!format!("{config:?}").contains("pa55word"));
    let sink = NatsSink::builder("nats://audit:pa55word@127.0.0.1:1", dir.path()).build().unwrap();
    assert!(!format!("{sink:?}").contains("pa55word"));
}
