use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::spool::{REFUSALS_BEFORE_SET_ASIDE, Spool, batch_name};
use super::{AuditSink, ExportFormat, SinkError};
use crate::audit::backoff::Backoff;
use crate::audit::dead_letter::DeadLetterSender;
use crate::audit::event::AuditEvent;
use crate::audit::mask::redact_endpoint;

/// The header carrying `sha256=<hex HMAC-SHA256 of the body>` when a signing secret is set.
pub const SIGNATURE_HEADER: &str = "x-rail-signature-256";
/// The header carrying the batch's unique delivery id (the same on every retry of a batch):
/// receivers can drop re-deliveries with it, or with the events' own ids.
pub const DELIVERY_HEADER: &str = "x-rail-delivery";

/// Posts batches of events as a JSON array to a SIEM or collector, never losing one.
///
/// `write_batch` only appends the encoded batch to an on-disk spool (written to a temporary
/// file, fsynced, renamed): once it returns, the batch survives the endpoint being down and
/// the process restarting. A background task delivers spooled batches oldest first, with the
/// configured headers, an HMAC-SHA256 signature ([`SIGNATURE_HEADER`]) and a stable delivery id
/// ([`DELIVERY_HEADER`]); it retries failures (timeouts, connection errors, any non-2xx
/// status) with exponential back-off and full jitter, and removes a batch only after a 2xx.
/// Batches left at shutdown are delivered by the next process that opens the same spool.
///
/// An endpoint that refuses what a body holds (400, 413 or 422) does not hold up the events
/// behind it: the refused batch is split in halves, each delivered on its own (under a new
/// delivery id), down to single events. An event refused [`REFUSALS_BEFORE_SET_ASIDE`] times
/// is moved into the spool's `refused/` subdirectory, kept (never deleted), logged as an
/// error and handed to the logger's dead-letter path
/// ([`DeadLetterSender`](crate::audit::DeadLetterSender): stored, counted, alerted), and
/// delivery goes on with the next batch; [`refused_batches`](Self::refused_batches)
/// lists what is there. To deliver it after fixing the endpoint, move the file back into the
/// spool directory. Any other failure (401, 403, 404, 5xx, timeouts) is retried as above: the
/// endpoint or its credentials are wrong, not the events.
///
/// Verifying a delivery on the receiving side:
/// `hex(hmac_sha256(secret, raw_body)) == header[x-rail-signature-256].strip_prefix("sha256=")`,
/// compared in constant time.
///
/// ```no_run
/// # async fn f() -> Result<(), rail_graphql_security::audit::SinkError> {
/// use rail_graphql_security::audit::{ExportFormat, WebhookSink};
///
/// let sink = WebhookSink::builder("https://siem.example.com/ingest", "/var/lib/myapp/audit-spool")
///     .header("Authorization", "Bearer …")?
///     .signing_secret(b"shared secret".to_vec())
///     .format(ExportFormat::Ocsf)
///     .build()?;
/// # Ok(()) }
/// ```
pub struct WebhookSink {
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

struct Inner {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    signing_secret: Option<Vec<u8>>,
    format: ExportFormat,
    spool: Spool,
    backoff: Backoff,
    spooled: Notify,
    delivered: Notify,
}

impl fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values (tokens) and the signing secret stay out of Debug output.
        f.debug_struct("WebhookSink")
            .field("url", &redact_endpoint(self.inner.url.as_str()))
            .field("headers", &self.inner.headers.keys().collect::<Vec<_>>())
            .field("signed", &self.inner.signing_secret.is_some())
            .field("format", &self.inner.format)
            .field("spool_dir", &self.inner.spool.dir())
            .finish_non_exhaustive()
    }
}

/// Configures a [`WebhookSink`].
pub struct WebhookSinkBuilder {
    url: String,
    spool_dir: PathBuf,
    headers: HeaderMap,
    signing_secret: Option<Vec<u8>>,
    format: ExportFormat,
    timeout: Duration,
    backoff: Backoff,
}

impl fmt::Debug for WebhookSinkBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSinkBuilder")
            .field("url", &redact_endpoint(&self.url))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("signed", &self.signing_secret.is_some())
            .finish_non_exhaustive()
    }
}

impl WebhookSink {
    /// Starts configuring a sink posting to `url`, spooling under `spool_dir`.
    pub fn builder(url: impl Into<String>, spool_dir: impl Into<PathBuf>) -> WebhookSinkBuilder {
        WebhookSinkBuilder {
            url: url.into(),
            spool_dir: spool_dir.into(),
            headers: HeaderMap::new(),
            signing_secret: None,
            format: ExportFormat::Json,
            timeout: Duration::from_secs(10),
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(60)),
        }
    }

    /// How many batches wait in the spool for delivery.
    pub async fn pending_batches(&self) -> Result<usize, SinkError> {
        Ok(self.inner.spool.list().await?.len())
    }

    /// The files of the events the endpoint refused for good (each a JSON array of one
    /// encoded event, in the spool's `refused/` subdirectory), oldest first.
    pub async fn refused_batches(&self) -> Result<Vec<PathBuf>, SinkError> {
        self.inner.spool.refused().await
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        // Undelivered batches stay in the spool for the next process.
        self.task.abort();
    }
}

impl WebhookSinkBuilder {
    /// Adds a header sent with every delivery (e.g. `Authorization`).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, SinkError> {
        let invalid = |what: &str| SinkError::InvalidConfig(format!("webhook header {name:?} has an invalid {what}"));
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid("name"))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| invalid("value (use visible ASCII)"))?;
        value.set_sensitive(true);
        self.headers.insert(name, value);
        Ok(self)
    }

    /// Signs every body with HMAC-SHA256 under `secret` ([`SIGNATURE_HEADER`]).
    pub fn signing_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.signing_secret = Some(secret.into());
        self
    }

    /// The body format: a JSON array of events or of OCSF objects.
    pub fn format(mut self, format: ExportFormat) -> Self {
        self.format = format;
        self
    }

    /// The timeout of one delivery attempt (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The retry back-off: first delay and cap (defaults 500 ms and 60 s), full jitter.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = Backoff::new(initial, max);
        self
    }

    /// Opens the spool (recovering batches a previous process left) and starts delivering.
    /// Must be called inside a Tokio runtime.
    pub fn build(self) -> Result<WebhookSink, SinkError> {
        let url = reqwest::Url::parse(&self.url).map_err(|e| {
            // The raw text is not repeated: an unparseable URL may still hold credentials.
            SinkError::InvalidConfig(format!("the webhook url is not a valid URL ({e}); use https://host/path"))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SinkError::InvalidConfig(format!(
                "webhook url {:?} must use https:// (or http:// for a local collector)",
                redact_endpoint(&self.url)
            )));
        }
        let spool = Spool::open(self.spool_dir)?;
        let client = reqwest::Client::builder().timeout(self.timeout).build()?;
        let inner = Arc::new(Inner {
            client,
            url,
            headers: self.headers,
            signing_secret: self.signing_secret,
            format: self.format,
            spool,
            backoff: self.backoff,
            spooled: Notify::new(),
            delivered: Notify::new(),
        });
        let task = tokio::spawn(deliver_forever(inner.clone()));
        Ok(WebhookSink { inner, task })
    }
}

#[async_trait]
impl AuditSink for WebhookSink {
    fn name(&self) -> &str {
        "webhook"
    }

    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        let encoded = events.iter().map(|e| self.inner.format.encode(e)).collect::<Result<Vec<_>, _>>()?;
        self.inner.spool.append(serde_json::to_vec(&encoded)?).await?;
        self.inner.spooled.notify_one();
        Ok(())
    }

    fn connect_dead_letters(&self, sender: DeadLetterSender) {
        self.inner.spool.letters().connect(sender, "the audit webhook", kept_event);
    }

    async fn shutdown(&self, deadline: Instant) -> Result<(), SinkError> {
        self.inner.spool.drain(&self.inner.delivered, deadline, "the audit webhook").await
    }
}

/// The event in a file set aside: a batch of one encoded event.
fn kept_event(body: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice::<Vec<serde_json::Value>>(body).ok()?.into_iter().next()
}

async fn deliver_forever(inner: Arc<Inner>) {
    while let Some(files) = inner.spool.next_files(&inner.spooled, inner.backoff.max, "webhook").await {
        for file in files {
            let outcome = deliver_file(&inner, &file).await;
            inner.delivered.notify_waiters();
            if outcome == Outcome::Split {
                // The halves sort where the batch was: list again to deliver them next.
                break;
            }
        }
    }
}

/// What became of one spooled batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Accepted, or set aside, or unreadable: the next file may go.
    Done,
    /// Replaced by its halves, which come before the next file.
    Split,
}

/// Whether `status` refuses what the body holds rather than the delivery.
fn refuses_content(status: u16) -> bool {
    matches!(status, 400 | 413 | 422)
}

/// Delivers one spooled batch, retrying until the endpoint accepts it (or refuses its
/// content: then it is split, or set aside when it is a single event).
async fn deliver_file(inner: &Inner, path: &Path) -> Outcome {
    let body = match tokio::fs::read(path).await {
        Ok(body) => body,
        Err(e) => {
            inner.spool.set_unreadable_aside(path, &e, inner.backoff.max).await;
            return Outcome::Done;
        }
    };
    let delivery_id = batch_name(path);
    let mut attempt = 0u32;
    let mut refusals = 0u32;
    loop {
        let error = match post(inner, &delivery_id, &body).await {
            Ok(()) => {
                if let Err(e) = tokio::fs::remove_file(path).await {
                    tracing::error!(error = %e, file = %path.display(), "delivered audit batch could not be removed from the spool; it may be sent again");
                }
                return Outcome::Done;
            }
            Err(e) => e,
        };
        if let SinkError::HttpStatus { status } = error
            && refuses_content(status)
        {
            refusals += 1;
            if let Some(outcome) = route_refused(inner, path, &body, status, refusals).await {
                return outcome;
            }
        }
        attempt = attempt.saturating_add(1);
        let delay = inner.backoff.delay(attempt);
        tracing::warn!(error = %error, attempt, retry_in_ms = delay.as_millis() as u64, "audit webhook delivery failed; retrying");
        tokio::time::sleep(delay).await;
    }
}

/// A batch whose content the endpoint refused (the `refusals`-th time): split in halves
/// when it holds several events, set aside when it is one event refused often enough.
/// `None`: retry it as it is (a step failed, or the single event may still be accepted).
async fn route_refused(inner: &Inner, path: &Path, body: &[u8], status: u16, refusals: u32) -> Option<Outcome> {
    let items = serde_json::from_slice::<Vec<serde_json::Value>>(body).unwrap_or_default();
    if items.len() > 1 {
        let (first, second) = items.split_at(items.len() / 2);
        let [Ok(first), Ok(second)] = [first, second].map(serde_json::to_vec) else { return None };
        return match inner.spool.split(path, vec![first, second]).await {
            Ok(()) => Some(Outcome::Split),
            Err(e) => {
                tracing::error!(error = %e, file = %path.display(), "cannot split a refused audit batch; retrying it whole");
                None
            }
        };
    }
    if refusals < REFUSALS_BEFORE_SET_ASIDE {
        return None;
    }
    match inner.spool.set_aside(path).await {
        Ok(kept) => {
            tracing::error!(
                status,
                file = %kept.display(),
                "the audit webhook refused an event {refusals} times; it is kept in this file and the events after it are delivered"
            );
            if let Some(event) = items.into_iter().next() {
                let refusal = format!("the webhook answered HTTP {status} {refusals} times");
                inner.spool.letters().set_aside(event, refusal, kept);
            }
            Some(Outcome::Done)
        }
        Err(e) => {
            tracing::error!(error = %e, file = %path.display(), "cannot set a refused audit event aside; retrying it");
            None
        }
    }
}

async fn post(inner: &Inner, delivery_id: &str, body: &[u8]) -> Result<(), SinkError> {
    let mut request = inner
        .client
        .post(inner.url.clone())
        .headers(inner.headers.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(DELIVERY_HEADER, delivery_id);
    if let Some(secret) = &inner.signing_secret {
        request = request.header(SIGNATURE_HEADER, signature(secret, body));
    }
    // The error's URL could carry a query-string api key into the logs.
    let response = request.body(body.to_vec()).send().await.map_err(reqwest::Error::without_url)?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(SinkError::HttpStatus { status: response.status().as_u16() })
    }
}

/// `sha256=<hex>` of the HMAC-SHA256 of `body` under `secret`.
pub(crate) fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}
