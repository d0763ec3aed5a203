use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage, stream};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::spool::{REFUSALS_BEFORE_SET_ASIDE, Spool, batch_name};
use super::{AuditSink, ExportFormat, SinkError};
use crate::audit::backoff::Backoff;
use crate::audit::checkpoint::CheckpointKey;
use crate::audit::dead_letter::DeadLetterSender;
use crate::audit::event::AuditEvent;
use crate::audit::mask::redact_url;
use crate::audit::verify::SetAside;

/// The stream a [`NatsSink`] publishes to unless told otherwise.
pub const DEFAULT_NATS_STREAM: &str = "AUDIT";
/// The first subject token unless told otherwise: events go to `audit.<event_type>`.
pub const DEFAULT_NATS_SUBJECT_PREFIX: &str = "audit";

/// The subject of the [`SetAside`] markers after the prefix: `audit.sink.set_aside` by
/// default. One token more than any event's subject, so no event type can take it.
pub const NATS_SET_ASIDE_SUBJECT_SUFFIX: &str = "sink.set_aside";

/// The NATS server's default `max_payload`: a larger event could never be published.
const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// Publishes every event to a NATS JetStream stream, never losing one.
///
/// Each event is one message on `<prefix>.<event_type>` (characters a subject token cannot
/// hold become `_`), its body the JSON the [`WebhookSink`](super::WebhookSink) sends for that
/// event, its `Nats-Msg-Id` header the event id. The stream (`AUDIT`, subjects `audit.>`,
/// file storage, a 10-minute duplicate window by default) is created if it is missing.
///
/// Like the webhook sink, `write_batch` only appends the batch to an on-disk spool (fsynced),
/// so events survive the server being down and the process restarting. A background task
/// publishes spooled events oldest first, one at a time: the next is sent only once
/// JetStream acknowledged the previous one as stored, so the stream holds each writer's
/// events in the order they were logged, even across a server crash. A publish that fails or
/// times out is retried with exponential back-off and full jitter; the server drops a copy
/// it already stored (same message id within the duplicate window), so retries never
/// duplicate an event. An event larger than the configured payload limit is refused by
/// `write_batch` (a permanent error: the logger dead-letters it). One the server refuses at
/// delivery for its size (its `max_payload` or the stream's maximum message size set lower
/// than the sink's limit) [`REFUSALS_BEFORE_SET_ASIDE`](super::REFUSALS_BEFORE_SET_ASIDE)
/// times is written to the spool's `refused/` subdirectory (kept, logged as an error, listed by
/// [`refused_batches`](Self::refused_batches), and dead-lettered through the logger's
/// [`DeadLetterSender`](crate::audit::DeadLetterSender)), and the events behind it go on. In its place
/// the sink publishes a [`SetAside`](crate::audit::verify::SetAside) marker on
/// `<prefix>.sink.set_aside` ([`NATS_SET_ASIDE_SUBJECT_SUFFIX`]; body
/// `{"set_aside": {"id", "timestamp", "chain", "reason"}}`, message id `<event id>:set-aside`),
/// so that a reader verifying the stream
/// ([`Verifier::set_aside`](crate::audit::verify::Verifier::set_aside)) finds the event's
/// absence explained instead of a gap in its chain.
///
/// ```no_run
/// # async fn f() -> Result<(), rail_graphql_security::audit::SinkError> {
/// use std::time::Duration;
/// use rail_graphql_security::audit::{AuditLogger, NatsSink};
///
/// let sink = NatsSink::builder("nats://127.0.0.1:4222", "/var/lib/myapp/audit-nats-spool")
///     .stream("AUDIT")
///     .subject_prefix("audit")
///     .duplicate_window(Duration::from_secs(600))
///     .build()?;
/// let logger = AuditLogger::builder().sink(sink).build();
/// # Ok(()) }
/// ```
///
/// Reading the stream back (a JetStream pull consumer), e.g. in a SIEM forwarder:
///
/// ```no_run
/// # async fn f() -> Result<(), async_nats::Error> {
/// use futures::StreamExt;
/// use rail_graphql_security::audit::NATS_SET_ASIDE_SUBJECT_SUFFIX;
///
/// let js = async_nats::jetstream::new(async_nats::connect("nats://127.0.0.1:4222").await?);
/// let stream = js.get_stream("AUDIT").await?;
/// let consumer = stream
///     .create_consumer(async_nats::jetstream::consumer::pull::Config {
///         durable_name: Some("siem".into()),
///         ..Default::default()
///     })
///     .await?;
/// let mut messages = consumer.messages().await?;
/// while let Some(message) = messages.next().await {
///     let message = message?;
///     let body: serde_json::Value = serde_json::from_slice(&message.payload)?;
///     if message.subject.ends_with(NATS_SET_ASIDE_SUBJECT_SUFFIX) {
///         // Not an event: the marker of one the server refused, kept in the writer's spool.
///         println!("set aside: {}", body["set_aside"]["id"]);
///     } else {
///         println!("{} {}", message.subject, body["id"]);
///     }
///     message.ack().await?;
/// }
/// # Ok(()) }
/// ```
pub struct NatsSink {
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

struct Inner {
    url: String,
    stream: String,
    subject_prefix: String,
    duplicate_window: Duration,
    format: ExportFormat,
    spool: Spool,
    backoff: Backoff,
    ack_timeout: Duration,
    connect_timeout: Duration,
    max_payload: usize,
    /// Signs the set-aside markers: the builder's key, else the logger's.
    signing_key: OnceLock<CheckpointKey>,
    spooled: Notify,
    delivered: Notify,
}

impl fmt::Debug for NatsSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a user and password or a token.
        f.debug_struct("NatsSink")
            .field("url", &redact_url(&self.inner.url))
            .field("stream", &self.inner.stream)
            .field("subject_prefix", &self.inner.subject_prefix)
            .field("format", &self.inner.format)
            .field("spool_dir", &self.inner.spool.dir())
            .finish_non_exhaustive()
    }
}

/// Configures a [`NatsSink`].
pub struct NatsSinkBuilder {
    url: String,
    spool_dir: PathBuf,
    stream: String,
    subject_prefix: String,
    duplicate_window: Duration,
    format: ExportFormat,
    ack_timeout: Duration,
    connect_timeout: Duration,
    backoff: Backoff,
    max_payload: usize,
    signing_key: Option<CheckpointKey>,
}

impl fmt::Debug for NatsSinkBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsSinkBuilder")
            .field("url", &redact_url(&self.url))
            .field("stream", &self.stream)
            .field("subject_prefix", &self.subject_prefix)
            .finish_non_exhaustive()
    }
}

/// One event as spooled: everything a publish needs, so a restarted process (or a changed
/// subject prefix) republishes exactly what was logged.
#[derive(Serialize, Deserialize)]
struct SpooledMessage {
    id: String,
    subject: String,
    payload: serde_json::Value,
}

impl NatsSink {
    /// Starts configuring a sink publishing to the NATS server at `url` (`nats://host:4222`;
    /// `nats://user:password@host` or `nats://token@host` to authenticate), spooling under
    /// `spool_dir`.
    pub fn builder(url: impl Into<String>, spool_dir: impl Into<PathBuf>) -> NatsSinkBuilder {
        NatsSinkBuilder {
            url: url.into(),
            spool_dir: spool_dir.into(),
            stream: DEFAULT_NATS_STREAM.to_owned(),
            subject_prefix: DEFAULT_NATS_SUBJECT_PREFIX.to_owned(),
            duplicate_window: Duration::from_secs(600),
            format: ExportFormat::Json,
            ack_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(60)),
            max_payload: DEFAULT_MAX_PAYLOAD,
            signing_key: None,
        }
    }

    /// How many batches wait in the spool for delivery.
    pub async fn pending_batches(&self) -> Result<usize, SinkError> {
        Ok(self.inner.spool.list().await?.len())
    }

    /// The files of the events the server refused for good (each a JSON array of one spooled
    /// message: id, subject, payload), in the spool's `refused/` subdirectory, oldest first.
    pub async fn refused_batches(&self) -> Result<Vec<PathBuf>, SinkError> {
        self.inner.spool.refused().await
    }

    /// The subject an event of type `event_type` is published on.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use rail_graphql_security::audit::NatsSink;
    ///
    /// let dir = std::env::temp_dir().join("rail-doc-nats-subject");
    /// let sink = NatsSink::builder("nats://127.0.0.1:4222", dir).subject_prefix("app.audit").build().unwrap();
    /// assert_eq!(sink.subject("login_failed"), "app.audit.login_failed");
    /// assert_eq!(sink.subject("my.custom event"), "app.audit.my_custom_event");
    /// # }
    /// ```
    pub fn subject(&self, event_type: &str) -> String {
        subject(&self.inner.subject_prefix, event_type)
    }
}

impl Drop for NatsSink {
    fn drop(&mut self) {
        // Unpublished events stay in the spool for the next process.
        self.task.abort();
    }
}

impl NatsSinkBuilder {
    /// The JetStream stream (default [`DEFAULT_NATS_STREAM`]); created with subjects
    /// `<prefix>.>` if missing. An existing stream is used as it is: it must capture the
    /// sink's subjects, and its duplicate window bounds how late a retry is still recognised.
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = name.into();
        self
    }

    /// The subject prefix (default [`DEFAULT_NATS_SUBJECT_PREFIX`]), one or more tokens
    /// separated by dots.
    pub fn subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.subject_prefix = prefix.into();
        self
    }

    /// The duplicate window of a stream the sink creates (default 10 minutes): a retry of an
    /// event stored less than this long ago is dropped by the server.
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// The message body format: an event's JSON or its OCSF object.
    pub fn format(mut self, format: ExportFormat) -> Self {
        self.format = format;
        self
    }

    /// How long one publish waits for JetStream's acknowledgement (default 5 s).
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// How long one connection attempt may take (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The retry and reconnect back-off: first delay and cap (defaults 500 ms and 60 s), full
    /// jitter.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = Backoff::new(initial, max);
        self
    }

    /// The largest message body accepted (default 1 MiB, the server's default
    /// `max_payload`); set it to the server's limit if lowered there.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Signs the [`SetAside`] markers with `key`, so that a reader verifying the stream with
    /// the verifying key can tell the sink's markers from one put in the place of a deleted
    /// event ([`Finding::ForgedSetAside`](crate::audit::verify::Finding::ForgedSetAside)).
    /// Without it, the sink takes the key of the logger it joins
    /// ([`CheckpointPolicy::key`](crate::audit::checkpoint::CheckpointPolicy::key); the
    /// config's `audit.checkpoint_signing_key`); a sink used without either publishes unsigned
    /// markers.
    pub fn signing_key(mut self, key: CheckpointKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// Opens the spool (recovering events a previous process left) and starts publishing;
    /// the server need not be up. Must be called inside a Tokio runtime.
    pub fn build(self) -> Result<NatsSink, SinkError> {
        self.url.parse::<async_nats::ServerAddr>().map_err(|e| {
            // The raw text is not repeated: it may hold credentials.
            SinkError::InvalidConfig(format!("the nats url is not valid ({e}); use nats://host:4222"))
        })?;
        if self.stream.is_empty() || self.stream.contains(|c: char| c.is_whitespace() || ".*>/\\".contains(c)) {
            return Err(SinkError::InvalidConfig(format!(
                "nats stream name {:?} is not valid: use letters, digits, `-` and `_`",
                self.stream
            )));
        }
        let prefix_ok = self
            .subject_prefix
            .split('.')
            .all(|token| !token.is_empty() && token != "*" && token != ">" && !token.contains(char::is_whitespace));
        if !prefix_ok {
            return Err(SinkError::InvalidConfig(format!(
                "nats subject prefix {:?} is not valid: use dot-separated tokens without spaces or wildcards, e.g. `audit`",
                self.subject_prefix
            )));
        }
        let spool = Spool::open(self.spool_dir)?;
        let inner = Arc::new(Inner {
            url: self.url,
            stream: self.stream,
            subject_prefix: self.subject_prefix,
            duplicate_window: self.duplicate_window,
            format: self.format,
            spool,
            backoff: self.backoff,
            ack_timeout: self.ack_timeout,
            connect_timeout: self.connect_timeout,
            max_payload: self.max_payload,
            signing_key: self.signing_key.map(OnceLock::from).unwrap_or_default(),
            spooled: Notify::new(),
            delivered: Notify::new(),
        });
        let task = tokio::spawn(deliver_forever(inner.clone()));
        Ok(NatsSink { inner, task })
    }
}

#[async_trait]
impl AuditSink for NatsSink {
    fn name(&self) -> &str {
        "nats"
    }

    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        let mut messages = Vec::with_capacity(events.len());
        for event in events {
            let payload = self.inner.format.encode(event)?;
            let size = serde_json::to_vec(&payload)?.len();
            if size > self.inner.max_payload {
                return Err(SinkError::Refused(format!(
                    "event {} is {size} bytes, over the NATS payload limit of {} bytes",
                    event.id, self.inner.max_payload
                )));
            }
            messages.push(SpooledMessage {
                id: event.id.to_string(),
                subject: self.subject(event.event_type.as_str()),
                payload,
            });
        }
        self.inner.spool.append(serde_json::to_vec(&messages)?).await?;
        self.inner.spooled.notify_one();
        Ok(())
    }

    fn connect_dead_letters(&self, sender: DeadLetterSender) {
        self.inner.spool.letters().connect(sender, "the NATS server", kept_event);
    }

    fn connect_checkpoint_key(&self, key: &CheckpointKey) {
        // A key given to the builder stays.
        let _ = self.inner.signing_key.set(key.clone());
    }

    async fn shutdown(&self, deadline: Instant) -> Result<(), SinkError> {
        self.inner.spool.drain(&self.inner.delivered, deadline, "NATS").await
    }
}

/// The event in a file set aside: one spooled message.
fn kept_event(body: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice::<Vec<SpooledMessage>>(body).ok()?.into_iter().next().map(|m| m.payload)
}

/// `<prefix>.<event_type>`, the event type made one valid subject token.
fn subject(prefix: &str, event_type: &str) -> String {
    let token: String =
        event_type.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    let token = if token.is_empty() { "_" } else { &token };
    format!("{prefix}.{token}")
}

async fn deliver_forever(inner: Arc<Inner>) {
    let mut connection = None;
    while let Some(files) = inner.spool.next_files(&inner.spooled, inner.backoff.max, "NATS").await {
        for file in files {
            deliver_file(&inner, &mut connection, &file).await;
            inner.delivered.notify_waiters();
        }
    }
}

/// Publishes one spooled batch, event by event, retrying each until JetStream stored it.
async fn deliver_file(inner: &Inner, connection: &mut Option<jetstream::Context>, path: &Path) {
    let messages = match read_batch(path).await {
        Ok(messages) => messages,
        Err(e) => {
            inner.spool.set_unreadable_aside(path, &e, inner.backoff.max).await;
            return;
        }
    };
    let stem = batch_name(path);
    for message in &messages {
        while let Some(refusal) = publish_until_stored(inner, connection, message).await {
            if set_aside(inner, &stem, message, &refusal).await {
                publish_set_aside_marker(inner, connection, message, &refusal).await;
                break;
            }
            tokio::time::sleep(inner.backoff.max).await;
        }
    }
    if let Err(e) = tokio::fs::remove_file(path).await {
        tracing::error!(error = %e, file = %path.display(), "published audit batch could not be removed from the spool; it will be published again (the server drops the duplicates within its window)");
    }
}

/// Publishes `message`, retrying with back-off until JetStream stored it (`None`), or until
/// the server refused it for good [`REFUSALS_BEFORE_SET_ASIDE`] times (`Some(why)`).
async fn publish_until_stored(
    inner: &Inner,
    connection: &mut Option<jetstream::Context>,
    message: &SpooledMessage,
) -> Option<String> {
    let (mut attempt, mut refusals) = (0u32, 0u32);
    loop {
        let Err(e) = publish(inner, connection, message).await else { return None };
        if refused_for_good(&*e) {
            refusals += 1;
            if refusals >= REFUSALS_BEFORE_SET_ASIDE {
                return Some(e.to_string());
            }
        }
        attempt = attempt.saturating_add(1);
        let delay = inner.backoff.delay(attempt);
        tracing::warn!(error = %e, event_id = %message.id, attempt, retry_in_ms = delay.as_millis() as u64, "audit NATS publish failed; retrying");
        tokio::time::sleep(delay).await;
    }
}

/// Publishes a [`SetAside`] marker in the place of `message`, which the server refused for
/// good and which is kept in the spool: a reader verifying the stream then finds the event's
/// absence explained, not a gap in its chain. Its message id is `<event id>:set-aside`, so
/// a retry after a restart is stored once.
async fn publish_set_aside_marker(
    inner: &Inner,
    connection: &mut Option<jetstream::Context>,
    message: &SpooledMessage,
    reason: &str,
) {
    // The JSON body format carries the event's time and link; OCSF carries neither.
    let event = serde_json::from_value::<AuditEvent>(message.payload.clone()).ok();
    let mut aside = SetAside {
        id: message.id.clone(),
        timestamp: event.as_ref().map(|e| e.timestamp),
        chain: event.and_then(|e| e.chain),
        reason: reason.to_owned(),
        key_id: None,
        signature: None,
    };
    if let Some(key) = inner.signing_key.get() {
        aside.sign(key);
    }
    let marker = SpooledMessage {
        id: format!("{}:set-aside", message.id),
        subject: format!("{}.{NATS_SET_ASIDE_SUBJECT_SUFFIX}", inner.subject_prefix),
        payload: serde_json::json!({ "set_aside": aside }),
    };
    if let Some(refusal) = publish_until_stored(inner, connection, &marker).await {
        tracing::error!(
            error = %refusal,
            event_id = %message.id,
            "the NATS server refused the set-aside marker too; readers of the stream will see the event as missing"
        );
    }
}

/// Whether the server refused the message for its size, which no retry changes.
fn refused_for_good(error: &(dyn std::error::Error + 'static)) -> bool {
    let Some(error) = error.downcast_ref::<jetstream::context::PublishError>() else { return false };
    match error.kind() {
        jetstream::context::PublishErrorKind::MaxPayloadExceeded => true,
        jetstream::context::PublishErrorKind::Other => std::error::Error::source(error)
            .and_then(|source| source.downcast_ref::<jetstream::Error>())
            .is_some_and(|e| e.error_code() == jetstream::ErrorCode::STREAM_MESSAGE_EXCEEDS_MAXIMUM),
        _ => false,
    }
}

/// Writes `message` to the spool's `refused/` directory (named after its batch file and event
/// id); `false` when that failed, and the message is retried instead.
async fn set_aside(inner: &Inner, stem: &str, message: &SpooledMessage, error: &str) -> bool {
    let kept = match serde_json::to_vec(std::slice::from_ref(message)) {
        Ok(body) => inner.spool.keep_refused(format!("{stem}-{}.json", message.id), body).await,
        Err(e) => Err(e.into()),
    };
    match kept {
        Ok(file) => {
            tracing::error!(
                error = %error,
                event_id = %message.id,
                file = %file.display(),
                "the NATS server refused an audit event for good; it is kept in this file and the events after it are published"
            );
            let refusal = format!("the NATS server refused it {REFUSALS_BEFORE_SET_ASIDE} times: {error}");
            inner.spool.letters().set_aside(message.payload.clone(), refusal, file);
            true
        }
        Err(e) => {
            tracing::error!(error = %e, event_id = %message.id, "cannot set a refused audit event aside; retrying it");
            false
        }
    }
}

async fn read_batch(path: &Path) -> Result<Vec<SpooledMessage>, Box<dyn std::error::Error + Send + Sync>> {
    let body = tokio::fs::read(path).await?;
    Ok(serde_json::from_slice(&body)?)
}

/// Publishes one event and waits for JetStream to acknowledge it (a duplicate counts: the
/// stream already holds it).
async fn publish(
    inner: &Inner,
    connection: &mut Option<jetstream::Context>,
    message: &SpooledMessage,
) -> Result<(), async_nats::Error> {
    let context = match connection {
        Some(context) => context,
        None => connection.insert(connect(inner).await?),
    };
    let payload = serde_json::to_vec(&message.payload)?;
    let publish = PublishMessage::build().payload(payload.into()).message_id(&message.id);
    let result = async { context.send_publish(message.subject.clone(), publish).await?.await }.await;
    match result {
        Ok(_ack) => Ok(()),
        Err(e) => {
            if matches!(e.kind(), jetstream::context::PublishErrorKind::StreamNotFound) {
                // Deleted under us: connect again, which creates it again.
                *connection = None;
            }
            Err(e.into())
        }
    }
}

/// Connects and makes sure the stream exists. The client then reconnects by itself after a
/// server restart, with the sink's back-off.
async fn connect(inner: &Inner) -> Result<jetstream::Context, async_nats::Error> {
    let backoff = inner.backoff;
    let client = async_nats::ConnectOptions::new()
        .name("rail-graphql-security audit")
        .connection_timeout(inner.connect_timeout)
        .reconnect_delay_callback(move |attempts| backoff.delay(u32::try_from(attempts).unwrap_or(u32::MAX)))
        .connect(inner.url.as_str())
        .await?;
    let mut context = jetstream::new(client);
    context.set_timeout(inner.ack_timeout);
    context
        .get_or_create_stream(stream::Config {
            name: inner.stream.clone(),
            subjects: vec![format!("{}.>", inner.subject_prefix)],
            storage: stream::StorageType::File,
            duplicate_window: inner.duplicate_window,
            ..Default::default()
        })
        .await?;
    tracing::info!(stream = %inner.stream, "audit NATS sink connected");
    Ok(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_file_reads_back_as_the_event_it_holds() {
        let payload = serde_json::json!({"id": "0193a000-0000-7000-8000-000000000001", "event_type": "login_failed"});
        let message = SpooledMessage { id: "m".into(), subject: "audit.login_failed".into(), payload: payload.clone() };
        let body = serde_json::to_vec(std::slice::from_ref(&message)).unwrap();
        assert_eq!(kept_event(&body), Some(payload));
        assert_eq!(kept_event(b"not json"), None);
        assert_eq!(kept_event(b"[]"), None);
    }

    #[test]
    fn subjects_are_one_token_per_event_type() {
        assert_eq!(subject("audit", "login_failed"), "audit.login_failed");
        assert_eq!(subject("a.b", "x.y *>z"), "a.b.x_y___z");
        assert_eq!(subject("audit", ""), "audit._");
    }

    #[tokio::test]
    async fn bad_names_are_refused_at_build() {
        let dir = tempfile::tempdir().unwrap();
        let refused = |b: NatsSinkBuilder| matches!(b.build(), Err(SinkError::InvalidConfig(_)));
        assert!(refused(NatsSink::builder("nats://127.0.0.1:4222", dir.path()).stream("a.b")));
        assert!(refused(NatsSink::builder("nats://127.0.0.1:4222", dir.path()).subject_prefix("audit.>")));
        assert!(refused(NatsSink::builder("nats://127.0.0.1:4222", dir.path()).subject_prefix("audit..x")));
        assert!(refused(NatsSink::builder("nats://[::1", dir.path())));
        assert!(!refused(NatsSink::builder("nats://127.0.0.1:1", dir.path()).subject_prefix("app.audit")));
    }
}
