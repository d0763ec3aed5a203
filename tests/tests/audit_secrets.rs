//! No secret reaches any output: file (JSON and OCSF), `tracing`, webhook bodies, alert handler
//! payloads, spool and `Debug` prints. And the tracing sink keeps one line per event whatever
//! CR/LF a user agent carries.
//!
//! The tracing tests install their subscriber as the thread's default and run the logger on a
//! current-thread runtime, so every task of the pipeline reports to it and tests running in
//! parallel do not see each other's output.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rail_graphql_security::audit::{
    Actor, Alert, AuditEvent, AuditEventType, AuditLogger, AuditSeverity, ExportFormat, FileSink, MASK, SinkError,
    StorageBackend, TracingSink, WebhookSink,
};
use rail_graphql_security::config::standard::AuditSettings;
use rail_graphql_security::config::{Profile, Secret, SecurityConfig};
use serde_json::{Value, json};
use tracing_subscriber::fmt::MakeWriter;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const MARKER: &str = "SECRET-MARKER-123";
const WAIT: Duration = Duration::from_secs(30);

/// Formatted `tracing` output, collected in memory.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Runs `body` on a current-thread runtime with a `fmt` subscriber (every level) as the
/// thread's default, and returns everything it formatted.
fn run_capturing_tracing<F: Future<Output = ()>>(body: impl FnOnce(Capture) -> F) -> String {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(body(capture.clone()));
    drop(guard);
    let bytes = capture.0.lock().unwrap().clone();
    String::from_utf8(bytes).expect("formatted output is UTF-8")
}

/// Details with a secret under every key family the masking must catch.
fn secret_details() -> Value {
    json!({
        "password": MARKER,
        "otp_code": MARKER,
        "newPassword": MARKER,
        "Authorization": format!("Bearer {MARKER}"),
        "api_key": MARKER,
        "refresh_token": MARKER,
        "X-Api-Key": MARKER,
        "nested": {"headers": [{"authorization": MARKER, "accept": "*/*"}], "credentials": {"user": MARKER}},
        "reason": "visible-reason",
    })
}

fn assert_no_marker(what: &str, text: &str) {
    assert!(!text.contains(MARKER), "the secret reached {what}:\n{text}");
}

/// Every file under `dir`, recursively, as (path, content).
fn all_files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            out.push((path.display().to_string(), String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into()));
        }
    }
    out
}

#[test]
fn no_secret_reaches_a_sink_an_alert_handler_or_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let alerts: Arc<Mutex<Vec<String>>> = Arc::default();
    let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let (alerts_in, bodies_in) = (alerts.clone(), bodies.clone());

    let traced = run_capturing_tracing(|_| async move {
        let server = MockServer::start().await;
        // The first delivery fails, so the sink's retry warnings are in the captured output too.
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
        let webhook = WebhookSink::builder(format!("{}/ingest", server.uri()), root.join("spool"))
            .header("Authorization", &format!("Bearer {MARKER}"))
            .unwrap()
            .signing_secret(MARKER.as_bytes().to_vec())
            .timeout(Duration::from_secs(5))
            .backoff(Duration::from_millis(10), Duration::from_millis(100))
            .build()
            .unwrap();
        assert_no_marker("the webhook sink's Debug", &format!("{webhook:?}"));
        let builder = AuditLogger::builder()
            .sink(FileSink::new(root.join("audit.log")))
            .sink(FileSink::new(root.join("audit.ocsf.log")).format(ExportFormat::Ocsf))
            .sink(TracingSink::new())
            .sink(webhook);
        assert_no_marker("the logger builder's Debug", &format!("{builder:?}"));
        let logger = builder.build();
        logger.register_alert_handler(move |alert: Alert| {
            let alerts = alerts_in.clone();
            async move {
                let json = serde_json::to_string(&alert).unwrap();
                alerts.lock().unwrap().push(format!("{alert:?}\n{json}"));
            }
        });

        let alice = Actor::new(7, "alice");
        // Details set directly on the public field: only the pipeline can mask these.
        let mut direct = AuditEvent::new(AuditEventType::SuspiciousActivity).actor(&alice);
        direct.details = secret_details();
        logger.log(direct);
        let mut critical = AuditEvent::new(AuditEventType::Custom("config_changed".into()))
            .severity(AuditSeverity::Critical)
            .request_id(Some("req-1"));
        critical.details = json!({"changes": [secret_details(), {"field": "email"}], "reason": "visible-reason"});
        logger.log(critical);
        logger.log_suspicious_activity(Some(&alice), "192.0.2.1".parse().ok(), "token_replay", secret_details());
        logger.log_authentication_success(&alice, None, Some("curl/8"), secret_details());
        logger.log_token_created(
            &alice,
            None,
            json!({"access_token": MARKER, "refresh_token": MARKER, "reason": "visible-reason"}),
        );
        logger.log(AuditEvent::new(AuditEventType::MfaFailed).actor(&alice).details(secret_details()));
        logger.flush().await.unwrap();

        let start = tokio::time::Instant::now();
        loop {
            let requests = server.received_requests().await.unwrap();
            let delivered: usize = requests
                .iter()
                .skip(1) // the refused first attempt
                .map(|r| r.body_json::<Vec<Value>>().unwrap().len())
                .sum();
            if delivered >= 6 {
                bodies_in
                    .lock()
                    .unwrap()
                    .extend(requests.iter().map(|r| String::from_utf8_lossy(&r.body).into_owned()));
                break;
            }
            assert!(start.elapsed() < WAIT, "the webhook did not receive the 6 events");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let stats = logger.shutdown().await.unwrap();
        assert_eq!((stats.written, stats.lost), (24, 0), "6 events through 4 sinks");
        assert_no_marker("the logger's Debug", &format!("{logger:?}"));
    });

    // Each output really carried the events (so "no marker" is not vacuous) and no secret.
    let json_file = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    let ocsf_file = std::fs::read_to_string(dir.path().join("audit.ocsf.log")).unwrap();
    assert_eq!(json_file.lines().count(), 6);
    assert_eq!(ocsf_file.lines().count(), 6);
    for (what, text) in [("the JSON file", &json_file), ("the OCSF file", &ocsf_file)] {
        assert!(text.contains("visible-reason") && text.contains(MASK), "{what} lacks the details:\n{text}");
        assert_no_marker(what, text);
    }
    assert_eq!(traced.matches("audit event").count(), 6, "one tracing event per audit event:\n{traced}");
    assert!(traced.contains("retrying"), "the failed delivery was logged:\n{traced}");
    assert!(traced.contains("visible-reason"), "the tracing output lacks the details:\n{traced}");
    assert_no_marker("the tracing output", &traced);
    let bodies = bodies.lock().unwrap();
    assert!(bodies.len() >= 2 && bodies.iter().all(|b| b.contains("visible-reason")));
    for body in bodies.iter() {
        assert_no_marker("a webhook body", body);
    }
    let alerts = alerts.lock().unwrap();
    // Three high or critical events: suspicious x2, the critical custom one.
    assert_eq!(alerts.len(), 3, "{alerts:?}");
    for alert in alerts.iter() {
        assert!(alert.contains("visible-reason"), "{alert}");
        assert_no_marker("an alert handler", alert);
    }
    for (path, content) in all_files(dir.path()) {
        assert_no_marker(&path, &content);
    }
}

#[test]
fn the_tracing_sink_writes_one_line_per_event_whatever_cr_lf_the_input_holds() {
    const FORGED: &str = "\r\n{\"forged\":true}\n2026-01-01T00:00:00Z  INFO forged: audit event\r";
    let traced = run_capturing_tracing(|_| async {
        let logger = AuditLogger::builder().tracing().build();
        logger.log_authentication_failure(&format!("mallory{FORGED}"), None, Some(&format!("ua{FORGED}")), "r");
        logger.log(
            AuditEvent::new(AuditEventType::Custom(format!("custom{FORGED}")))
                .severity(AuditSeverity::High)
                .actor_name(FORGED)
                .user_agent(Some(FORGED))
                .request_id(Some(FORGED))
                .details(json!({ "note": FORGED, (FORGED): FORGED })),
        );
        logger.log_unauthorized_access(None, None, Some(FORGED), FORGED, FORGED);
        logger.log(AuditEvent::new(AuditEventType::Logout).severity(AuditSeverity::Critical).user_agent(Some(FORGED)));
        logger.shutdown().await.unwrap();
    });

    assert!(!traced.contains('\r'), "a raw CR reached the log:\n{traced:?}");
    let lines: Vec<&str> = traced.lines().collect();
    assert_eq!(lines.len(), 4, "exactly one line per event:\n{traced}");
    for line in &lines {
        assert!(line.contains("audit event") && line.contains("audit_event="), "not an audit line: {line}");
        // `<timestamp> <LEVEL> <target>: ...`: every line is a record of the audit sink itself.
        assert!(!line.starts_with("2026-01-01") && !line.starts_with('{'), "a forged record: {line}");
        assert_eq!(line.split_whitespace().nth(2), Some("rail_graphql_security::audit:"), "a forged record: {line}");
    }
    // The hostile value is still recorded, escaped inside the JSON field.
    assert!(lines[0].contains(r#"ua\r\n{\"forged\":true}"#), "{}", lines[0]);
    assert!(lines[1].contains(" WARN ") && lines[3].contains("ERROR"), "levels follow severity:\n{traced}");
}

#[tokio::test]
async fn debug_prints_and_config_errors_never_show_a_secret() {
    let event = AuditEvent::new(AuditEventType::LoginFailed).details(secret_details());
    let debug = format!("{event:?}");
    assert!(debug.contains("visible-reason"));
    assert_no_marker("an event's Debug", &debug);
    assert_no_marker("an event's JSON", &serde_json::to_string(&event).unwrap());
    assert_no_marker("an event's OCSF", &ExportFormat::Ocsf.encode(&event).unwrap().to_string());

    let spool = tempfile::tempdir().unwrap();
    let builder = WebhookSink::builder("https://siem.example.com/ingest", spool.path())
        .header("Authorization", &format!("Bearer {MARKER}"))
        .unwrap()
        .header("X-Api-Key", MARKER)
        .unwrap()
        .signing_secret(MARKER.as_bytes().to_vec());
    assert_no_marker("the webhook builder's Debug", &format!("{builder:?}"));
    let sink = builder.build().unwrap();
    let debug = format!("{sink:?}");
    assert!(debug.contains("authorization") && debug.contains("siem.example.com"), "{debug}");
    assert_no_marker("the webhook sink's Debug", &debug);

    // A rejected header value is not echoed back in the error.
    match WebhookSink::builder("https://siem.example.com/ingest", spool.path())
        .header("Authorization", &format!("Bearer {MARKER}\r\nX-Injected: 1"))
    {
        Err(e @ SinkError::InvalidConfig(_)) => {
            assert_no_marker("a config error", &e.to_string());
            assert_no_marker("a config error's Debug", &format!("{e:?}"));
        }
        other => panic!("a header value with CR/LF must be refused, got {other:?}"),
    }

    let config = AuditSettings {
        storage_backend: vec![StorageBackend::Webhook, StorageBackend::File],
        webhook_url: Some(Secret::new("https://siem.example.com/ingest")),
        webhook_headers: BTreeMap::from([
            ("Authorization".to_owned(), Secret::new(format!("Bearer {MARKER}"))),
            ("X-Api-Key".to_owned(), Secret::new(MARKER)),
        ]),
        webhook_secret: Some(Secret::new(MARKER)),
        webhook_spool_dir: spool.path().to_owned(),
        log_file_path: spool.path().join("audit.log"),
        ..AuditSettings::defaults(&Profile::Development)
    };
    let debug = format!("{config:?}");
    assert!(debug.contains("Authorization") && debug.contains("webhook_secret"), "{debug}");
    assert_no_marker("the config's Debug", &debug);
    let builder = config.logger_builder(None).unwrap();
    assert_no_marker("the configured logger builder's Debug", &format!("{builder:?}"));
    let logger = builder.build();
    assert_no_marker("the configured logger's Debug", &format!("{logger:?}"));
    logger.shutdown().await.unwrap();
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[test]
fn credentials_in_the_webhook_url_stay_out_of_delivery_error_logs() {
    // A port nothing listens on: every delivery fails with a connection error.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let spool = tempfile::tempdir().unwrap();
    let url = format!("http://collector:{MARKER}@127.0.0.1:{port}/ingest?api_key={MARKER}");
    let traced = run_capturing_tracing(|capture| async move {
        let sink = WebhookSink::builder(url, spool.path())
            .backoff(Duration::from_millis(10), Duration::from_millis(50))
            .build()
            .unwrap();
        let logger = AuditLogger::builder().sink(sink).shutdown_timeout(Duration::from_millis(100)).build();
        logger.log(AuditEvent::new(AuditEventType::Logout));
        logger.flush().await.unwrap();
        let start = tokio::time::Instant::now();
        while capture.text().matches("delivery failed").count() < 3 {
            assert!(start.elapsed() < WAIT, "no delivery failure was logged:\n{}", capture.text());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        logger.shutdown().await.unwrap();
    });
    assert!(traced.contains("audit webhook delivery failed"), "{traced}");
    assert_no_marker("the delivery error logs", &traced);
}

#[tokio::test]
async fn credentials_in_the_webhook_url_stay_out_of_debug_prints() {
    let spool = tempfile::tempdir().unwrap();
    let url = format!("https://collector:{MARKER}@siem.example.com/ingest?api_key={MARKER}");
    let builder = WebhookSink::builder(url.clone(), spool.path());
    assert_no_marker("the webhook builder's Debug", &format!("{builder:?}"));
    let sink = builder.build().unwrap();
    let debug = format!("{sink:?}");
    assert!(debug.contains("siem.example.com/ingest"), "the endpoint stays visible: {debug}");
    assert_no_marker("the webhook sink's Debug", &debug);

    let config = AuditSettings {
        storage_backend: vec![StorageBackend::Webhook],
        webhook_url: Some(Secret::new(url)),
        webhook_spool_dir: spool.path().to_owned(),
        ..AuditSettings::defaults(&Profile::Development)
    };
    assert_no_marker("the config's Debug", &format!("{config:?}"));

    // Found by an attack on the CLI: a webhook whose path is its credential (Slack's, Teams',
    // Discord's) was printed whole by `config` and in the sink's Debug and logs. The key is a
    // secret now, and the sink shows the path only up to its first segment that is not a word.
    let url = format!("https://hooks.example.com/services/T0AB12/B0CD34/{MARKER}");
    let sink = WebhookSink::builder(url.clone(), spool.path()).build().unwrap();
    let debug = format!("{sink:?}");
    assert!(debug.contains("hooks.example.com/services/***"), "{debug}");
    assert_no_marker("the sink's Debug with a token in the path", &debug);
    let config = AuditSettings { webhook_url: Some(Secret::new(url)), ..config };
    let json = config.to_json_redacted().to_string();
    assert_no_marker("the config's redacted JSON (what `config` prints)", &json);
}
