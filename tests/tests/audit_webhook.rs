//! The webhook sink against a real HTTP server (wiremock on 127.0.0.1): body, headers and
//! signature; no event lost while the endpoint fails, hangs, or the process restarts; an event
//! the endpoint refuses for good set aside without holding up the rest; crash leftovers in the
//! spool; configuration errors; the OCSF body.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use integration_tests::{Backend, TestDb, collect_alerts};
use rail_graphql_security::audit::verify::{Notice, VerifyOptions, verify_database};
use rail_graphql_security::audit::{
    Actor, Alert, AuditConfigError, AuditEvent, AuditEventType, AuditLogger, AuditSink, DELIVERY_HEADER,
    DeadLetterStore, ExportFormat, SIGNATURE_HEADER, SinkError, StorageBackend, WebhookSink, WebhookSinkBuilder,
    dead_letter,
};
use rail_graphql_security::config::standard::AuditSettings;
use rail_graphql_security::config::{Profile, Secret, SecurityConfig};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// How long a "hanging" endpoint takes to answer: far beyond the sink's timeout.
const HANG: Duration = Duration::from_secs(3);
const SINK_TIMEOUT: Duration = Duration::from_millis(250);
const WAIT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Answer 500.
    Fail,
    /// Answer 200, but only after [`HANG`].
    Hang,
    /// Answer 200 at once.
    Up,
}

/// The endpoint's behaviour and what it saw. Only requests answered with an immediate 200 count
/// as delivered: a request the client gave up on (timeout) is not a delivery.
#[derive(Debug, Default)]
struct EndpointState {
    /// `(failures, hangs)`: after that many 500s then that many hangs, the endpoint is up.
    script: Mutex<Option<(usize, usize)>>,
    mode: Mutex<Option<Mode>>,
    requests: AtomicUsize,
    failed: AtomicUsize,
    hung: AtomicUsize,
    delivered: Mutex<Vec<Request>>,
    /// Delivery ids of requests that were not accepted.
    refused_deliveries: Mutex<Vec<String>>,
}

#[derive(Clone, Debug, Default)]
struct Endpoint(Arc<EndpointState>);

impl Endpoint {
    fn scripted(failures: usize, hangs: usize) -> Self {
        let e = Self::default();
        *e.0.script.lock().unwrap() = Some((failures, hangs));
        e
    }

    fn fixed(mode: Mode) -> Self {
        let e = Self::default();
        e.set(mode);
        e
    }

    fn set(&self, mode: Mode) {
        *self.0.mode.lock().unwrap() = Some(mode);
    }

    async fn mount(&self, server: &MockServer) {
        Mock::given(method("POST")).and(path("/ingest")).respond_with(self.clone()).mount(server).await;
    }

    fn delivered(&self) -> Vec<Request> {
        self.0.delivered.lock().unwrap().clone()
    }

    /// The ids of the events (or OCSF `metadata.uid`s) in every accepted body.
    fn delivered_ids(&self) -> Vec<String> {
        self.delivered().iter().flat_map(|r| body_array(r).into_iter().map(|v| event_id(&v))).collect()
    }

    /// Waits (bounded) until every id in `ids` was delivered.
    async fn wait_for(&self, ids: &BTreeSet<String>) {
        let start = tokio::time::Instant::now();
        loop {
            let got: BTreeSet<String> = self.delivered_ids().into_iter().collect();
            if ids.is_subset(&got) {
                return;
            }
            assert!(
                start.elapsed() < WAIT,
                "after {WAIT:?} {} of {} events were delivered ({} requests: {} failed, {} hung)",
                ids.intersection(&got).count(),
                ids.len(),
                self.0.requests.load(Ordering::SeqCst),
                self.0.failed.load(Ordering::SeqCst),
                self.0.hung.load(Ordering::SeqCst),
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (bounded) until `counter` reaches `n`.
    async fn wait_count(&self, counter: impl Fn(&EndpointState) -> &AtomicUsize, n: usize) {
        let start = tokio::time::Instant::now();
        while counter(&self.0).load(Ordering::SeqCst) < n {
            assert!(start.elapsed() < WAIT, "the endpoint never saw the expected requests");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Respond for Endpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let s = &self.0;
        let n = s.requests.fetch_add(1, Ordering::SeqCst);
        let mode = match (*s.mode.lock().unwrap(), *s.script.lock().unwrap()) {
            (Some(mode), _) => mode,
            (None, Some((failures, _))) if n < failures => Mode::Fail,
            (None, Some((failures, hangs))) if n < failures + hangs => Mode::Hang,
            _ => Mode::Up,
        };
        let refuse = |counter: &AtomicUsize| {
            counter.fetch_add(1, Ordering::SeqCst);
            s.refused_deliveries.lock().unwrap().push(header(request, DELIVERY_HEADER).unwrap_or_default());
        };
        match mode {
            Mode::Fail => {
                refuse(&s.failed);
                ResponseTemplate::new(500)
            }
            Mode::Hang => {
                refuse(&s.hung);
                ResponseTemplate::new(200).set_delay(HANG)
            }
            Mode::Up => {
                s.delivered.lock().unwrap().push(request.clone());
                ResponseTemplate::new(200)
            }
        }
    }
}

fn header(request: &Request, name: &str) -> Option<String> {
    request.headers.get(name).map(|v| v.to_str().expect("visible ASCII header").to_owned())
}

fn body_array(request: &Request) -> Vec<Value> {
    match request.body_json::<Value>() {
        Ok(Value::Array(items)) => items,
        other => panic!("the body must be a JSON array, got {other:?}"),
    }
}

/// An event's id in either format.
fn event_id(v: &Value) -> String {
    v.get("id").or_else(|| v["metadata"].get("uid")).and_then(Value::as_str).expect("every item has an id").to_owned()
}

fn sink(server: &MockServer, spool: &Path) -> WebhookSinkBuilder {
    WebhookSink::builder(format!("{}/ingest", server.uri()), spool)
        .timeout(SINK_TIMEOUT)
        .backoff(Duration::from_millis(10), Duration::from_millis(200))
}

fn spool_files(spool: &Path) -> Vec<String> {
    std::fs::read_dir(spool)
        .map(|entries| entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

fn event(n: usize) -> AuditEvent {
    AuditEvent::new(AuditEventType::LoginFailed).actor_name(format!("user-{n}")).details(json!({"n": n}))
}

/// Logs `count` events numbered from `from`, returning their ids.
fn log_events(logger: &AuditLogger, from: usize, count: usize) -> BTreeSet<String> {
    (from..from + count)
        .map(|n| {
            let e = event(n);
            logger.log(e.clone());
            e.id.to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_json_arrays_with_the_configured_headers() {
    let server = MockServer::start().await;
    let endpoint = Endpoint::fixed(Mode::Up);
    endpoint.mount(&server).await;
    let spool = tempfile::tempdir().unwrap();
    let secret = b"signing secret \x00\xff".to_vec();
    let webhook = sink(&server, spool.path())
        .header("Authorization", "Bearer collector-token")
        .unwrap()
        .header("X-Tenant", "tenant-7")
        .unwrap()
        .signing_secret(secret.clone())
        .build()
        .unwrap();
    let logger = AuditLogger::builder().sink(webhook).build();

    let mut logged = HashMap::new();
    for n in 0..5 {
        let mut e = event(n).client_ip("192.0.2.1".parse().ok()).user_agent(Some("ua\r\n{\"forged\":1}"));
        e.details = json!({"n": n, "password": "pw"});
        logger.log(e.clone());
        e.mask_secrets();
        logged.insert(e.id.to_string(), e);
    }
    logger.log_authentication_success(&Actor::new(1, "alice"), None, None, json!({}));
    logger.flush().await.unwrap();
    endpoint.wait_for(&logged.keys().cloned().collect()).await;
    let stats = logger.shutdown().await.unwrap();
    assert_eq!((stats.written, stats.lost), (6, 0));

    let requests = endpoint.delivered();
    assert!(!requests.is_empty());
    let mut seen = 0;
    for request in &requests {
        assert_eq!(header(request, "authorization").as_deref(), Some("Bearer collector-token"));
        assert_eq!(header(request, "x-tenant").as_deref(), Some("tenant-7"));
        assert_eq!(header(request, "content-type").as_deref(), Some("application/json"));
        let delivery = header(request, DELIVERY_HEADER).expect("every delivery carries x-rail-delivery");
        assert!(!delivery.is_empty());
        // The signature, computed independently over the raw body.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&secret).unwrap();
        mac.update(&request.body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(header(request, SIGNATURE_HEADER), Some(expected), "signature of {delivery}");
        for item in body_array(request) {
            let parsed: AuditEvent = serde_json::from_value(item).expect("each item is an AuditEvent");
            if let Some(original) = logged.get(&parsed.id.to_string()) {
                assert!(parsed.chain.is_some(), "delivered events carry their chain link");
                assert_eq!(
                    &integration_tests::unlinked(parsed),
                    original,
                    "delivered events equal the logged (masked) ones"
                );
                seen += 1;
            }
        }
    }
    assert_eq!(seen, 5);
    let deliveries: BTreeSet<_> = requests.iter().map(|r| header(r, DELIVERY_HEADER)).collect();
    assert_eq!(deliveries.len(), requests.len(), "each batch has its own delivery id");
    assert!(spool_files(spool.path()).is_empty(), "delivered batches leave the spool");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_is_lost_while_the_endpoint_fails_then_hangs_then_recovers() {
    let server = MockServer::start().await;
    // Five 500s, then three requests that hang far beyond the sink timeout, then up.
    let endpoint = Endpoint::scripted(5, 3);
    endpoint.mount(&server).await;
    let spool = tempfile::tempdir().unwrap();
    let logger = AuditLogger::builder().sink(sink(&server, spool.path()).build().unwrap()).build();

    let mut logged = log_events(&logger, 0, 10);
    logger.flush().await.unwrap();
    endpoint.wait_count(|s| &s.failed, 2).await;
    logged.extend(log_events(&logger, 10, 10)); // while failing
    logger.flush().await.unwrap();
    endpoint.wait_count(|s| &s.hung, 1).await;
    logged.extend(log_events(&logger, 20, 10)); // while hanging
    logger.flush().await.unwrap();
    endpoint.wait_count(|s| &s.hung, 3).await;
    logged.extend(log_events(&logger, 30, 10)); // around the recovery
    logger.flush().await.unwrap();

    endpoint.wait_for(&logged).await;
    let stats = logger.shutdown().await.unwrap();
    assert_eq!((stats.logged, stats.written, stats.dropped, stats.lost), (40, 40, 0, 0));

    let s = &endpoint.0;
    assert_eq!(s.failed.load(Ordering::SeqCst), 5, "the 500 phase was exercised");
    assert_eq!(s.hung.load(Ordering::SeqCst), 3, "the hanging phase was exercised");
    let received: BTreeSet<String> = endpoint.delivered_ids().into_iter().collect();
    assert_eq!(received, logged, "exactly the logged events arrive (duplicates allowed)");
    // A refused batch is retried under the same delivery id, so receivers can drop repeats.
    let delivered: BTreeSet<String> = endpoint.delivered().iter().filter_map(|r| header(r, DELIVERY_HEADER)).collect();
    for refused in s.refused_deliveries.lock().unwrap().iter() {
        assert!(delivered.contains(refused), "refused delivery {refused} was never delivered");
    }
    assert!(spool_files(spool.path()).is_empty(), "the spool is empty once everything is delivered");
}

/// Shares a [`WebhookSink`] with the test so it can look at the spool while the logger owns it.
#[derive(Debug, Clone)]
struct Shared(Arc<WebhookSink>);

#[async_trait]
impl AuditSink for Shared {
    fn name(&self) -> &str {
        self.0.name()
    }
    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        self.0.write_batch(events).await
    }
    async fn shutdown(&self, deadline: tokio::time::Instant) -> Result<(), SinkError> {
        self.0.shutdown(deadline).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_spooled_while_the_endpoint_is_down_are_delivered_after_a_restart() {
    let server = MockServer::start().await;
    let endpoint = Endpoint::fixed(Mode::Fail);
    endpoint.mount(&server).await;
    let spool = tempfile::tempdir().unwrap();

    // First process: the endpoint is down the whole time.
    let webhook = Shared(Arc::new(sink(&server, spool.path()).build().unwrap()));
    let logger = AuditLogger::builder()
        .sink(webhook.clone())
        .shutdown_timeout(Duration::from_millis(300))
        .max_batch(4) // several spool files
        .build();
    let mut logged = log_events(&logger, 0, 10);
    logger.flush().await.unwrap();
    endpoint.wait_count(|s| &s.failed, 1).await;
    assert!(webhook.0.pending_batches().await.unwrap() > 0, "undelivered batches wait in the spool");
    let stats = logger.shutdown().await.unwrap();
    assert_eq!((stats.written, stats.lost), (10, 0), "spooled events are written, not lost");
    assert!(webhook.0.pending_batches().await.unwrap() > 0, "shutdown keeps the undelivered batches");
    drop(webhook); // the first process is gone
    drop(logger);
    assert!(endpoint.delivered().is_empty());
    let left = spool_files(spool.path());
    assert!(!left.is_empty() && left.iter().all(|f| f.ends_with(".json") && !f.starts_with(".tmp-")), "{left:?}");

    // Second process, same spool, endpoint up.
    endpoint.set(Mode::Up);
    let logger = AuditLogger::builder().sink(sink(&server, spool.path()).build().unwrap()).build();
    logged.extend(log_events(&logger, 10, 3));
    endpoint.wait_for(&logged).await;
    let stats = logger.shutdown().await.unwrap();
    assert_eq!(stats.lost, 0);
    let received: BTreeSet<String> = endpoint.delivered_ids().into_iter().collect();
    assert_eq!(received, logged);
    assert!(spool_files(spool.path()).is_empty(), "{:?}", spool_files(spool.path()));
}

/// A responder answering `status` to every request, and the count of its answers.
fn counting(status: u16) -> (Arc<AtomicUsize>, impl Respond) {
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    let answer = move |_: &Request| {
        counted.fetch_add(1, Ordering::SeqCst);
        ResponseTemplate::new(status)
    };
    (count, answer)
}

/// Waits (bounded) until `done` holds.
async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !done().await {
        assert!(start.elapsed() < WAIT, "after {WAIT:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Mounts on `server` an endpoint that refuses (422, as a SIEM answers an event it cannot
/// parse) every body holding `poison-pill` and accepts the rest; returns the count of
/// refusals and the accepting endpoint.
async fn refusing_poison(server: &MockServer) -> (Arc<AtomicUsize>, Endpoint) {
    let (refusals, answer) = counting(422);
    Mock::given(method("POST"))
        .and(path("/ingest"))
        .and(body_string_contains("poison-pill"))
        .respond_with(answer)
        .with_priority(1)
        .mount(server)
        .await;
    let endpoint = Endpoint::fixed(Mode::Up);
    endpoint.mount(server).await;
    (refusals, endpoint)
}

/// One event the endpoint refuses for good (422, as a SIEM answers an event it cannot parse)
/// used to hold every later batch at the head of the spool forever. Its batch is now split
/// down to it, it is set aside in `refused/` (kept, not deleted), and everything else,
/// including what is logged afterwards, is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_endpoint_refuses_is_set_aside_and_the_rest_delivered() {
    let server = MockServer::start().await;
    let (refusals, endpoint) = refusing_poison(&server).await;
    let spool = tempfile::tempdir().unwrap();
    // A long timeout: a request given up on under load would be sent again and blur the counts.
    let webhook = sink(&server, spool.path()).timeout(WAIT).build().unwrap();

    // One batch of 20 with the poison in the middle, as the logger hands them over.
    let mut events: Vec<AuditEvent> = (0..20).map(event).collect();
    events[13].details = json!({"n": 13, "note": "poison-pill"});
    let poison = events[13].id.to_string();
    let good: BTreeSet<String> = events.iter().map(|e| e.id.to_string()).filter(|id| *id != poison).collect();
    webhook.write_batch(&events).await.unwrap();

    endpoint.wait_for(&good).await;
    wait_until("the refused event is set aside", async || webhook.refused_batches().await.unwrap().len() == 1).await;
    let refused = webhook.refused_batches().await.unwrap();
    let kept: Vec<Value> = serde_json::from_slice(&std::fs::read(&refused[0]).unwrap()).unwrap();
    assert_eq!(
        kept.iter().map(event_id).collect::<Vec<_>>(),
        std::slice::from_ref(&poison),
        "only the poison is set aside"
    );
    assert_eq!(refused[0].parent().unwrap(), spool.path().join("refused"));
    // Split 20 -> 10 -> 5 -> 3 -> 2 -> 1 (five refusals), then refused as a single event.
    let single = usize::try_from(rail_graphql_security::audit::REFUSALS_BEFORE_SET_ASIDE).unwrap();
    assert_eq!(refusals.load(Ordering::SeqCst), 5 + single);
    let delivered = endpoint.delivered_ids();
    assert!(!delivered.contains(&poison));
    assert_eq!(delivered.len(), good.len(), "each good event delivered once: {delivered:?}");
    assert_eq!(delivered.iter().cloned().collect::<BTreeSet<_>>(), good);
    // In their order: the halves were delivered where the batch was.
    let order: Vec<String> = events.iter().map(|e| e.id.to_string()).filter(|id| *id != poison).collect();
    assert_eq!(delivered, order);

    // Delivery goes on.
    let later: Vec<AuditEvent> = (20..25).map(event).collect();
    webhook.write_batch(&later).await.unwrap();
    endpoint.wait_for(&later.iter().map(|e| e.id.to_string()).collect()).await;
    wait_until("the spool empties", async || webhook.pending_batches().await.unwrap() == 0).await;
    assert_eq!(spool_files(spool.path()), ["refused"], "only the refused directory is left");

    // Moved back after the endpoint is fixed, it is delivered.
    server.reset().await;
    endpoint.mount(&server).await;
    std::fs::rename(&refused[0], spool.path().join(refused[0].file_name().unwrap())).unwrap();
    webhook.write_batch(&(25..26).map(event).collect::<Vec<_>>()).await.unwrap();
    endpoint.wait_for(&BTreeSet::from([poison])).await;
}

/// An event the endpoint refuses for good also takes the logger's dead-letter path: stored in
/// `audit_dead_letters` (as the webhook sent it, OCSF here), counted in the stats and raised
/// as an alert, so an operator learns of it from more than one log line. The database trail
/// holds the same event as a row, and `audit verify` is not misled by the webhook's letter
/// (an OCSF letter used to be reported as an unreadable dead letter).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_aside_event_is_dead_lettered_counted_and_alerted() {
    let Some(t) = TestDb::new(Backend::Sqlite).await else { return };
    let server = MockServer::start().await;
    let (_, endpoint) = refusing_poison(&server).await;
    let spool = tempfile::tempdir().unwrap();
    let webhook = sink(&server, spool.path()).format(ExportFormat::Ocsf).timeout(WAIT).build().unwrap();
    let logger = AuditLogger::builder().database(t.db.clone()).sink(webhook).build();
    let alerts = collect_alerts(&logger);

    let mut events: Vec<AuditEvent> = (0..6).map(event).collect();
    events[2].details = json!({"n": 2, "note": "poison-pill"});
    let poison = events[2].id;
    for e in &events {
        logger.log(e.clone());
    }
    let good: BTreeSet<String> =
        events.iter().map(|e| e.id.to_string()).filter(|id| *id != poison.to_string()).collect();
    endpoint.wait_for(&good).await;
    wait_until("the set-aside event is dead-lettered", async || logger.stats().dead_lettered == 1).await;
    logger.flush().await.unwrap();

    let letters = dead_letter::Entity::find().all(&t.db).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!((letter.sink.as_str(), letter.event_id.as_str()), ("webhook", poison.to_string().as_str()));
    assert!(letter.error.contains("HTTP 422") && letter.error.contains("refused"), "{}", letter.error);
    assert!(
        letter.error.contains(&spool.path().join("refused").display().to_string()),
        "names the kept file: {}",
        letter.error
    );
    let raw: Value = serde_json::from_str(&letter.raw_event).expect("the letter's event is JSON");
    assert_eq!(raw["metadata"]["uid"], poison.to_string(), "kept as the webhook sent it (OCSF)");
    assert_eq!(raw["unmapped"]["note"], "poison-pill");

    let alerted: Vec<(String, uuid::Uuid, String, bool)> = alerts
        .lock()
        .unwrap()
        .iter()
        .filter_map(|a| match a {
            Alert::DeadLettered { sink, event_id, event_type, stored, .. } => {
                Some((sink.clone(), *event_id, event_type.clone(), *stored))
            }
            _ => None,
        })
        .collect();
    assert_eq!(alerted, [("webhook".to_owned(), poison, "login_failed".to_owned(), true)]);

    let stats = logger.shutdown().await.unwrap();
    assert_eq!((stats.dead_lettered, stats.lost, stats.dropped), (1, 0, 0), "{stats:?}");
    let report = verify_database(&t.db, VerifyOptions::default()).await.unwrap();
    assert!(report.intact(), "{:?}", report.findings);
    assert_eq!(report.events, events.len() as u64, "every event, the refused one included, is a row of the chain");
    assert!(!report.notices.iter().any(|n| matches!(n, Notice::DeadLettered { .. })), "{:?}", report.notices);
    t.cleanup().await;
}

/// An event set aside while the sink had no logger (an earlier run, here a sink on its own) has
/// no dead letter yet: it gets one when a sink on that spool joins a logger. A letter that was
/// stored but not marked (a crash between the two) is sent again under the same id, so the
/// table holds it once, and a marked one is not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_set_aside_before_a_logger_is_dead_lettered_when_one_starts() {
    let Some(t) = TestDb::new(Backend::Sqlite).await else { return };
    let server = MockServer::start().await;
    let (_, endpoint) = refusing_poison(&server).await;
    let spool = tempfile::tempdir().unwrap();
    let mut events: Vec<AuditEvent> = (0..3).map(event).collect();
    events[1].details = json!({"n": 1, "note": "poison-pill"});
    let poison = events[1].id.to_string();
    {
        let alone = sink(&server, spool.path()).timeout(WAIT).build().unwrap();
        alone.write_batch(&events).await.unwrap();
        wait_until("the poison is set aside", async || alone.refused_batches().await.unwrap().len() == 1).await;
        endpoint.wait_for(&[events[0].id.to_string(), events[2].id.to_string()].into()).await;
    }
    let kept = std::fs::read_dir(spool.path().join("refused")).unwrap().map(|e| e.unwrap().path()).collect::<Vec<_>>();
    assert_eq!(kept.len(), 1, "only the kept event, no mark: {kept:?}");
    let kept = kept.into_iter().next().unwrap();
    let mark = kept.with_extension("lettered");

    // A logger starts with a sink on that spool: the letter is sent and marked.
    let webhook = |spool: &Path| sink(&server, spool).timeout(WAIT).build().unwrap();
    let start = |spool: &Path| AuditLogger::builder().database(t.db.clone()).sink(webhook(spool)).build();
    let logger = start(spool.path());
    wait_until("the kept event is dead-lettered", async || logger.stats().dead_lettered == 1).await;
    wait_until("the letter is marked", async || mark.exists()).await;
    let letters = dead_letter::Entity::find().all(&t.db).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!((letters[0].sink.as_str(), letters[0].event_id.as_str()), ("webhook", poison.as_str()));
    assert!(letters[0].error.contains("before its dead letter was stored"), "{}", letters[0].error);
    assert!(letters[0].error.contains(&kept.display().to_string()), "names the kept file: {}", letters[0].error);
    let first_id = letters[0].id.clone();
    logger.shutdown().await.unwrap();

    // A crash after the store, before the mark: found stored, marked again, and neither stored,
    // counted nor alerted twice.
    std::fs::remove_file(&mark).unwrap();
    let alerts: Arc<Mutex<Vec<Alert>>> = Arc::default();
    let seen = alerts.clone();
    let logger = AuditLogger::builder()
        .database(t.db.clone())
        .sink(webhook(spool.path()))
        .alert_handler(move |alert: Alert| {
            let seen = seen.clone();
            async move { seen.lock().unwrap().push(alert) }
        })
        .build();
    wait_until("the unmarked letter is marked again", async || mark.exists()).await;
    let ids: Vec<String> = dead_letter::Entity::find().all(&t.db).await.unwrap().into_iter().map(|l| l.id).collect();
    assert_eq!(ids, [first_id], "the same letter id: one row");
    logger.shutdown().await.unwrap();
    assert_eq!(logger.stats().dead_lettered, 0, "a letter already stored is not counted again");
    assert!(alerts.lock().unwrap().is_empty(), "nor alerted again: {:?}", alerts.lock().unwrap());

    // A marked event is not sent again: with a second kept event (sorted after the first), the
    // next logger sends that one only.
    let copy = kept.with_file_name("zzzz-copy.json");
    std::fs::copy(&kept, &copy).unwrap();
    let logger = start(spool.path());
    wait_until("the second kept event is dead-lettered", async || copy.with_extension("lettered").exists()).await;
    assert_eq!(logger.stats().dead_lettered, 1, "the marked event was skipped");
    assert_eq!(dead_letter::Entity::find().all(&t.db).await.unwrap().len(), 2);
    logger.shutdown().await.unwrap();

    // The same crash with a file store: a letter already in the file is not appended again.
    let marks = [mark, copy.with_extension("lettered")];
    let letters = spool.path().join("letters").join("dead.jsonl");
    let with_file = || {
        AuditLogger::builder()
            .database(t.db.clone())
            .sink(webhook(spool.path()))
            .dead_letters(DeadLetterStore::file(&letters))
    };
    for round in 0..2 {
        marks.iter().for_each(|m| std::fs::remove_file(m).unwrap());
        let logger = with_file().build();
        wait_until("both letters are marked", async || marks.iter().all(|m| m.exists())).await;
        logger.shutdown().await.unwrap();
        let expected = if round == 0 { 2 } else { 0 };
        assert_eq!(logger.stats().dead_lettered, expected, "round {round}: letters stored by this start");
        let lines = std::fs::read_to_string(&letters).unwrap();
        assert_eq!(lines.lines().count(), 2, "round {round}: one line per letter:\n{lines}");
    }
    t.cleanup().await;
}

/// A refusal of the delivery itself (401: wrong credentials) is not the events' fault: the
/// batch stays at the head of the spool, retried, and nothing is set aside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_refusing_the_credentials_keeps_the_batch_spooled() {
    let server = MockServer::start().await;
    let (unauthorized, answer) = counting(401);
    Mock::given(method("POST")).and(path("/ingest")).respond_with(answer).mount(&server).await;
    let spool = tempfile::tempdir().unwrap();
    let webhook = sink(&server, spool.path()).timeout(WAIT).build().unwrap();
    let events: Vec<AuditEvent> = (0..4).map(event).collect();
    webhook.write_batch(&events).await.unwrap();
    let retries = usize::try_from(rail_graphql_security::audit::REFUSALS_BEFORE_SET_ASIDE).unwrap() + 3;
    wait_until("the endpoint is retried", async || unauthorized.load(Ordering::SeqCst) >= retries).await;
    assert_eq!(webhook.pending_batches().await.unwrap(), 1, "the batch is neither split nor dropped");
    assert!(webhook.refused_batches().await.unwrap().is_empty());

    server.reset().await;
    let endpoint = Endpoint::fixed(Mode::Up);
    endpoint.mount(&server).await;
    endpoint.wait_for(&events.iter().map(|e| e.id.to_string()).collect()).await;
    assert_eq!(endpoint.delivered().len(), 1, "delivered whole, as one batch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_spool_file_is_removed_and_a_complete_one_is_delivered() {
    let server = MockServer::start().await;
    let endpoint = Endpoint::fixed(Mode::Up);
    endpoint.mount(&server).await;
    let spool = tempfile::tempdir().unwrap();

    // A crash mid-write left a torn temporary file; another crash came after a complete write
    // but before the rename; a third batch was fully spooled.
    let complete = event(1);
    let spooled = event(2);
    let torn_name = ".tmp-00000000000000000001-0000000000.json";
    let complete_name = ".tmp-00000000000000000002-0000000000.json";
    let torn_body = format!("[{}", serde_json::to_string(&event(0)).unwrap());
    std::fs::write(spool.path().join(torn_name), &torn_body[..torn_body.len() / 2]).unwrap();
    std::fs::write(spool.path().join(complete_name), serde_json::to_vec(&[&complete]).unwrap()).unwrap();
    std::fs::write(spool.path().join("00000000000000000003-0000000000.json"), serde_json::to_vec(&[&spooled]).unwrap())
        .unwrap();

    let webhook = sink(&server, spool.path()).build().unwrap();
    assert!(!spool.path().join(torn_name).exists(), "the torn file is removed when the sink opens the spool");
    let logger = AuditLogger::builder().sink(webhook).build();
    let expected: BTreeSet<String> = [complete.id.to_string(), spooled.id.to_string()].into();
    endpoint.wait_for(&expected).await;
    logger.shutdown().await.unwrap();

    let requests = endpoint.delivered();
    assert_eq!(requests.len(), 2, "exactly the two whole batches are sent");
    assert_eq!(header(&requests[0], DELIVERY_HEADER).as_deref(), Some("00000000000000000002-0000000000"));
    let first: Vec<AuditEvent> = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(first, [complete], "the recovered batch is delivered unchanged, oldest first");
    let received: BTreeSet<String> = endpoint.delivered_ids().into_iter().collect();
    assert_eq!(received, expected);
    assert!(spool_files(spool.path()).is_empty(), "{:?}", spool_files(spool.path()));
}

/// A spool entry that cannot be read (a directory where a batch file should be) is renamed
/// to `.unreadable` for an operator, and the batches behind it are delivered; left in place it
/// would be listed again at once, for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_spool_file_is_set_aside_and_the_rest_delivered() {
    let server = MockServer::start().await;
    let endpoint = Endpoint::fixed(Mode::Up);
    endpoint.mount(&server).await;
    let spool = tempfile::tempdir().unwrap();
    std::fs::create_dir(spool.path().join("00000000000000000001-0000000000.json")).unwrap();
    let behind = event(1);
    std::fs::write(spool.path().join("00000000000000000002-0000000000.json"), serde_json::to_vec(&[&behind]).unwrap())
        .unwrap();

    let webhook = sink(&server, spool.path()).build().unwrap();
    endpoint.wait_for(&BTreeSet::from([behind.id.to_string()])).await;
    wait_until("the unreadable batch is set aside", async || webhook.pending_batches().await.unwrap() == 0).await;
    assert_eq!(spool_files(spool.path()), ["00000000000000000001-0000000000.unreadable"]);
    assert!(spool.path().join("00000000000000000001-0000000000.unreadable").is_dir(), "kept, not removed");
    assert_eq!(endpoint.delivered().len(), 1, "only the readable batch is sent");
}

fn invalid_config(result: Result<WebhookSink, SinkError>) -> String {
    match result {
        Err(SinkError::InvalidConfig(message)) => message,
        other => panic!("expected SinkError::InvalidConfig, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_urls_and_headers_are_clear_config_errors() {
    let spool = tempfile::tempdir().unwrap();
    for url in ["not a url", "", "http://", "siem.example.com/ingest"] {
        let message = invalid_config(WebhookSink::builder(url, spool.path()).build());
        assert!(message.contains("not a valid URL") && message.contains("https://"), "{url:?}: {message}");
    }
    // An unparseable URL is not echoed back: it may still carry credentials.
    let message =
        invalid_config(WebhookSink::builder("https://soc:SECRET-PW@siem example.com/x", spool.path()).build());
    assert!(message.contains("not a valid URL") && !message.contains("SECRET-PW"), "{message}");
    for url in ["ftp://siem.example.com/ingest", "file:///tmp/audit", "mailto:soc@example.com"] {
        let message = invalid_config(WebhookSink::builder(url, spool.path()).build());
        assert!(message.contains("must use https://"), "{url:?}: {message}");
    }
    let message = match WebhookSink::builder("https://siem.example.com", spool.path()).header("X-Token", "a\r\nb") {
        Err(SinkError::InvalidConfig(message)) => message,
        other => panic!("a header value with CR/LF must be refused, got {other:?}"),
    };
    assert!(message.contains("X-Token"), "{message}");
    assert!(matches!(
        WebhookSink::builder("https://siem.example.com", spool.path()).header("bad header", "v"),
        Err(SinkError::InvalidConfig(_))
    ));

    // Through the configuration too.
    let webhook_only = AuditSettings {
        storage_backend: vec![StorageBackend::Webhook],
        webhook_spool_dir: spool.path().to_owned(),
        ..AuditSettings::defaults(&Profile::Development)
    };
    let config =
        AuditSettings { webhook_url: Some(Secret::new("ftp://siem.example.com/ingest")), ..webhook_only.clone() };
    match config.logger_builder(None) {
        Err(AuditConfigError::Sink(SinkError::InvalidConfig(message))) => assert!(message.contains("https://")),
        other => panic!("expected an invalid-config error, got {other:?}"),
    }
    assert!(matches!(webhook_only.logger_builder(None), Err(AuditConfigError::MissingWebhookUrl)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocsf_bodies_carry_the_mapped_events() {
    let server = MockServer::start().await;
    let endpoint = Endpoint::fixed(Mode::Up);
    endpoint.mount(&server).await;
    let spool = tempfile::tempdir().unwrap();
    let webhook = sink(&server, spool.path()).format(ExportFormat::Ocsf).signing_secret(b"k".to_vec()).build().unwrap();
    let logger = AuditLogger::builder().sink(webhook).build();

    let failed = AuditEvent::new(AuditEventType::LoginFailed).actor_name("alice");
    let locked = AuditEvent::new(AuditEventType::AccountLocked).actor(&Actor::new(3, "bob"));
    let limited = AuditEvent::new(AuditEventType::RateLimitExceeded).client_ip("192.0.2.8".parse().ok());
    for e in [&failed, &locked, &limited] {
        logger.log(e.clone());
    }
    let ids: BTreeSet<String> = [&failed, &locked, &limited].iter().map(|e| e.id.to_string()).collect();
    endpoint.wait_for(&ids).await;
    logger.shutdown().await.unwrap();

    let items: HashMap<String, Value> =
        endpoint.delivered().iter().flat_map(body_array).map(|v| (event_id(&v), v)).collect();
    let f = &items[&failed.id.to_string()];
    assert_eq!(
        (f["class_uid"].as_u64(), f["type_uid"].as_u64(), f["status_id"].as_u64()),
        (Some(3002), Some(300201), Some(2))
    );
    assert_eq!(f["user"]["name"], "alice");
    assert_eq!(f["severity_id"], 3);
    let l = &items[&locked.id.to_string()];
    assert_eq!((l["class_uid"].as_u64(), l["severity_id"].as_u64()), (Some(3001), Some(4)));
    let r = &items[&limited.id.to_string()];
    assert_eq!((r["class_uid"].as_u64(), r["src_endpoint"]["ip"].as_str()), (Some(2004), Some("192.0.2.8")));
    assert!(items.values().all(|v| v.get("event_type").is_none()), "OCSF bodies, not the native shape");
    for request in endpoint.delivered() {
        assert!(header(&request, SIGNATURE_HEADER).is_some_and(|s| s.starts_with("sha256=")));
    }
}
