//! The file sink through the logger: JSON Lines that parse back into the logged events, no log
//! injection through CR/LF, size-based rotation that keeps every event until `max_files` forces
//! the oldest out, and the OCSF line format.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use rail_graphql_security::audit::{
    Actor, AuditEvent, AuditEventType, AuditLogger, AuditSeverity, ExportFormat, FileSink, MASK,
};
use serde_json::{Value, json};

const FORGED: &str = "\r\n{\"forged\":true}";

fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    name.into()
}

/// Every line of `path`, each checked to be one JSON object.
fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(text.is_empty() || text.ends_with('\n'), "{} must end with a newline (no torn line)", path.display());
    assert!(!text.contains('\r'), "a raw CR reached {}", path.display());
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {line:?} is not JSON: {e}"));
            assert!(value.is_object(), "line {line:?} is not one JSON object");
            value
        })
        .collect()
}

/// The events of `path`, every line parsed back into an [`AuditEvent`], without the chain link
/// the logger added (each line must have one).
fn events(path: &Path) -> Vec<AuditEvent> {
    lines(path)
        .into_iter()
        .map(|v| {
            let event: AuditEvent =
                serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v} is not an AuditEvent: {e}"));
            assert!(event.chain.is_some(), "{v} has no chain link");
            integration_tests::unlinked(event)
        })
        .collect()
}

/// What the logger is expected to write for `event`: the same event with secrets masked.
fn masked(event: &AuditEvent) -> AuditEvent {
    let mut event = event.clone();
    event.mask_secrets();
    event
}

/// The event files in `dir`, sorted.
fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_one_json_line_that_parses_back_into_the_masked_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/audit.log");
    let logger = AuditLogger::builder().sink(FileSink::new(&path)).build();

    let mut logged = vec![
        AuditEvent::new(AuditEventType::LoginFailed)
            .actor_name("alice")
            .client_ip("203.0.113.9".parse().ok())
            .user_agent(Some("curl/8.0"))
            .request_id(Some("req-1"))
            .details(json!({"reason": "invalid password"})),
        AuditEvent::new(AuditEventType::LoginSuccess)
            .actor(&Actor::new(7, "alice"))
            .client_ip("2001:db8::1".parse().ok())
            .details(json!({"login_method": "password", "attempts": 2, "mfa": true})),
        AuditEvent::new(AuditEventType::Custom("export_requested".into()))
            .severity(AuditSeverity::Critical)
            .details(json!({"rows": [1, 2, 3], "unicode": "é ✓ 🙂", "nested": {"ok": null}})),
        AuditEvent::new(AuditEventType::DataDeleted).actor_id(uuid::Uuid::now_v7()),
    ];
    // Details set directly (not through `.details()`) are masked by the pipeline itself.
    let mut direct = AuditEvent::new(AuditEventType::MfaFailed).actor(&Actor::new("u-9", "bob"));
    direct.details = json!({"method": "totp", "otp_code": "123456", "newPassword": "hunter2"});
    logged.push(direct);
    for event in &logged {
        logger.log(event.clone());
    }
    let stats = logger.shutdown().await.unwrap();
    assert_eq!((stats.logged, stats.written, stats.dropped, stats.lost), (5, 5, 0, 0));

    let expected: Vec<AuditEvent> = logged.iter().map(masked).collect();
    assert_eq!(expected[4].details["otp_code"], MASK, "the test's own expectation must be masked");
    assert_eq!(events(&path), expected, "the file must hold exactly the logged events, in order");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches('\n').count(), 5, "one line per event");
    assert!(!text.contains("123456") && !text.contains("hunter2"), "a secret reached the file: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cr_lf_in_user_agent_or_actor_name_cannot_forge_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let logger = AuditLogger::builder().sink(FileSink::new(&path)).build();

    let evil = format!("Mozilla/5.0{FORGED}");
    let evil_name = format!("mallory{FORGED}\n{{\"forged\":true}}\r");
    logger.log_authentication_failure(&evil_name, "198.51.100.4".parse().ok(), Some(&evil), "bad password");
    let direct = AuditEvent::new(AuditEventType::Custom(format!("custom{FORGED}")))
        .actor_name(evil_name.clone())
        .user_agent(Some(evil.clone()))
        .request_id(Some(format!("req{FORGED}")))
        .details(json!({ "note": format!("x{FORGED}"), (format!("key{FORGED}")): 1 }));
    logger.log(direct.clone());
    logger.log_unauthorized_access(None, None, Some(&evil), &format!("/admin{FORGED}"), "no permission");
    logger.shutdown().await.unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.split_terminator('\n').count(), 3, "exactly one line per event: {text:?}");
    let values = lines(&path);
    for value in &values {
        assert!(value.get("forged").is_none(), "a forged record was written: {value}");
        assert!(value.get("id").is_some() && value.get("event_type").is_some(), "not an audit event: {value}");
    }
    // Nothing was lost either: the hostile values round-trip exactly.
    let parsed = events(&path);
    assert_eq!(parsed[0].actor_name.as_deref(), Some(evil_name.as_str()));
    assert_eq!(parsed[0].user_agent.as_deref(), Some(evil.as_str()));
    assert_eq!(parsed[1], masked(&direct));
    assert_eq!(parsed[2].details["resource"], format!("/admin{FORGED}"));
}

/// One event per flush, so each is its own batch (a batch is never split across files).
async fn log_one(logger: &AuditLogger, n: usize) -> AuditEvent {
    let event = AuditEvent::new(AuditEventType::LoginFailed)
        .actor_name(format!("user-{n}"))
        .details(json!({"n": n, "padding": "x".repeat(200)}));
    logger.log(event.clone());
    logger.flush().await.unwrap();
    event
}

/// The events of the kept files, oldest file first.
fn kept_events(path: &Path, max_files: usize) -> Vec<AuditEvent> {
    let mut all = Vec::new();
    for n in (1..=max_files).rev() {
        if rotated(path, n).exists() {
            all.extend(events(&rotated(path, n)));
        }
    }
    all.extend(events(path));
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_max_files_and_drops_only_the_oldest() {
    const MAX_BYTES: u64 = 1500;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let logger = AuditLogger::builder().sink(FileSink::new(&path).max_bytes(MAX_BYTES).max_files(2)).build();

    // Log until the second rotation: audit.log, .1 and .2 exist and nothing was deleted yet.
    let mut logged = Vec::new();
    while !rotated(&path, 2).exists() {
        assert!(logged.len() < 100, "no second rotation after {} events of ~300 bytes", logged.len());
        logged.push(log_one(&logger, logged.len()).await);
    }
    assert_eq!(
        file_names(dir.path()),
        BTreeSet::from(["audit.log".into(), "audit.log.1".into(), "audit.log.2".into()])
    );
    assert_eq!(kept_events(&path, 2), logged, "before any deletion every event is kept exactly once, in order");
    assert!(events(&rotated(&path, 2)).len() > 1, "a rotated file holds several events");

    // Several more rotations: only the newest files survive, never a `.3`.
    let before_more = logged.len();
    for _ in 0..before_more * 2 {
        logged.push(log_one(&logger, logged.len()).await);
    }
    logger.shutdown().await.unwrap();
    assert_eq!(
        file_names(dir.path()),
        BTreeSet::from(["audit.log".into(), "audit.log.1".into(), "audit.log.2".into()])
    );
    let kept = kept_events(&path, 2);
    assert!(kept.len() < logged.len(), "rotations beyond max_files must drop the oldest file");
    assert_eq!(kept, logged[logged.len() - kept.len()..], "the kept files hold the newest events, each once, in order");
    for p in [path.clone(), rotated(&path, 1), rotated(&path, 2)] {
        let len = std::fs::metadata(&p).unwrap().len();
        assert!(len <= MAX_BYTES, "{} is {len} bytes, over max_bytes {MAX_BYTES}", p.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopened_file_sink_rotates_a_file_left_nearly_full() {
    const MAX_BYTES: u64 = 1500;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let sink = || FileSink::new(&path).max_bytes(MAX_BYTES).max_files(3);

    // A previous process filled the file to just under max_bytes.
    let first = AuditLogger::builder().sink(sink()).build();
    let mut logged = Vec::new();
    loop {
        logged.push(log_one(&first, logged.len()).await);
        let len = std::fs::metadata(&path).unwrap().len();
        let line = len / logged.len() as u64;
        if len + line > MAX_BYTES {
            break;
        }
    }
    first.shutdown().await.unwrap();
    assert!(!rotated(&path, 1).exists());

    // The next process's first batch would take it past max_bytes: it must rotate first.
    let second = AuditLogger::builder().sink(sink()).build();
    logged.push(log_one(&second, logged.len()).await);
    second.shutdown().await.unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len <= MAX_BYTES, "the live file grew to {len} bytes, past max_bytes {MAX_BYTES}");
    assert_eq!(events(&path), logged[logged.len() - 1..]);
    assert_eq!(kept_events(&path, 3), logged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocsf_lines_follow_the_documented_class_and_severity_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.ocsf.log");
    let logger = AuditLogger::builder().sink(FileSink::new(&path).format(ExportFormat::Ocsf)).build();

    let alice = Actor::new(42, "alice");
    // (event, class_uid, type_uid, severity_id, status_id for authentication events)
    let cases: Vec<(AuditEvent, u64, u64, u64, Option<u64>)> = vec![
        (AuditEvent::new(AuditEventType::LoginFailed).actor_name("alice"), 3002, 300201, 3, Some(2)),
        (AuditEvent::new(AuditEventType::LoginSuccess).actor(&alice), 3002, 300201, 2, Some(1)),
        (AuditEvent::new(AuditEventType::MfaEnabled).actor(&alice), 3001, 300110, 3, None),
        (AuditEvent::new(AuditEventType::AccountLocked).actor(&alice), 3001, 300109, 4, None),
        (AuditEvent::new(AuditEventType::SuspiciousActivity), 2004, 200401, 4, None),
        (AuditEvent::new(AuditEventType::RateLimitExceeded), 2004, 200401, 3, None),
        (AuditEvent::new(AuditEventType::UnauthorizedAccess), 2004, 200401, 4, None),
        (AuditEvent::new(AuditEventType::SuspiciousActivity).severity(AuditSeverity::Critical), 2004, 200401, 5, None),
        (AuditEvent::new(AuditEventType::LoginFailed).severity(AuditSeverity::Low), 3002, 300201, 2, Some(2)),
        (AuditEvent::new(AuditEventType::LoginFailed).severity(AuditSeverity::High), 3002, 300201, 4, Some(2)),
        (AuditEvent::new(AuditEventType::LoginFailed).severity(AuditSeverity::Critical), 3002, 300201, 5, Some(2)),
    ];
    for (event, ..) in &cases {
        logger.log(event.clone().request_id(Some("corr-1")).details(json!({"reason": "r", "password": "pw"})));
    }
    logger.shutdown().await.unwrap();

    let lines = lines(&path);
    assert_eq!(lines.len(), cases.len());
    let by_uid: HashMap<String, &Value> = lines
        .iter()
        .map(|l| (l["metadata"]["uid"].as_str().expect("metadata.uid is a string").to_owned(), l))
        .collect();
    assert_eq!(by_uid.len(), cases.len(), "metadata.uid must be the (unique) event id");
    for (event, class_uid, type_uid, severity_id, status_id) in &cases {
        let line = by_uid.get(&event.id.to_string()).unwrap_or_else(|| panic!("no line for {}", event.id));
        let what = format!("{} ({}): {line}", event.event_type, event.severity);
        assert_eq!(line["class_uid"], *class_uid, "{what}");
        assert_eq!(line["type_uid"], *type_uid, "{what}");
        assert_eq!(line["severity_id"], *severity_id, "{what}");
        assert_eq!(line["time"], event.timestamp.timestamp_millis(), "{what}");
        assert_eq!(line["metadata"]["correlation_uid"], "corr-1", "{what}");
        assert_eq!(line["unmapped"], json!({"reason": "r", "password": MASK}), "{what}");
        match status_id {
            Some(status) => assert_eq!(line["status_id"], *status, "{what}"),
            None => assert!(line.get("status_id").is_none(), "{what}"),
        }
        if *class_uid == 2004 {
            assert_eq!(line["finding_info"]["uid"], event.id.to_string(), "{what}");
        }
    }
    let failed = by_uid[&cases[0].0.id.to_string()];
    assert_eq!(failed["user"]["name"], "alice");
    assert_eq!(failed["status"], "Failure");
}
