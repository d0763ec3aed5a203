//! Dead letters: events a sink refused for good, kept for an operator instead of retried forever.
//!
//! When a sink refuses a batch with a [permanent](crate::audit::SinkError::is_permanent) error,
//! the logger splits the batch until the refused events stand alone, writes the others, and
//! hands each refused event to the [`DeadLetterStore`]: it is counted
//! ([`AuditStats::dead_lettered`](crate::audit::AuditStats::dead_lettered)), logged with
//! `tracing::error!`, raised as [`Alert::DeadLettered`] and
//! stored with the error, so nothing is lost and later events keep flowing.
//!
//! The stored event is its JSON with every non-ASCII character escaped (`\uXXXX`): plain ASCII
//! text, storable in any text column or file whatever made the sink refuse the event, and still
//! parseable back into an [`AuditEvent`] with `serde_json::from_str`.
//!
//! A sink that delivers in the background (the webhook and NATS sinks spool first and deliver
//! later) learns of a refusal after its `write_batch` returned. It hands such an event to the
//! [`DeadLetterSender`] the logger gave it, and the event takes the same path: stored, counted,
//! logged, alerted.
//!
//! This module is also the SeaORM entity of the `audit_dead_letters` table (created by the
//! migration crate), for investigations.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, DatabaseConnection};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::alert::Alert;
use super::backoff::Backoff;
use super::event::AuditEvent;
use super::pipeline::{AlertCommand, Counters};
use super::sink::SinkError;
use super::storable::storable_text;

/// One stored dead letter (`audit_dead_letters` row).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_dead_letters")]
pub struct Model {
    /// This dead letter's id (UUIDv7 text); a retried store inserts it once.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The refused event's id.
    pub event_id: String,
    /// The name of the sink that refused it.
    pub sink: String,
    /// Why the sink refused it.
    #[sea_orm(column_type = "Text")]
    pub error: String,
    /// The event as ASCII-only JSON (see [`DeadLetter::raw_event`]).
    #[sea_orm(column_type = "Text")]
    pub raw_event: String,
    /// When it was dead-lettered, UTC.
    pub dead_lettered_at: DateTimeUtc,
}

/// `audit_dead_letters` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// An event a sink refused for good, with why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// This dead letter's id.
    pub id: Uuid,
    /// The refused event's id.
    pub event_id: Uuid,
    /// The sink that refused it.
    pub sink: String,
    /// The sink's error (NUL replaced, at most 2000 characters).
    pub error: String,
    /// The event as ASCII-only JSON: the [`AuditEvent`] shape, except for an event a webhook
    /// or NATS sink set aside, which is kept as that sink sent it (its
    /// [`ExportFormat`](crate::audit::ExportFormat): the same shape with `json`, OCSF with
    /// `ocsf`).
    pub raw_event: String,
    /// When it was dead-lettered.
    pub dead_lettered_at: DateTime<Utc>,
}

const MAX_ERROR_CHARS: usize = 2000;
const MAX_SINK_NAME_CHARS: usize = 64;

impl DeadLetter {
    /// The dead letter of `event`, refused by `sink` with `error`.
    pub fn new(event: &AuditEvent, sink: &str, error: &SinkError) -> Self {
        Self::of(event.id, ascii_json(event, event.id), sink, error)
    }

    /// The dead letter of an event a sink holds only as it encoded it (`encoded`, in its
    /// export format), refused with `error`; the event's id is read from the encoding (`id`,
    /// or OCSF's `metadata.uid`; the nil id when neither is there).
    #[cfg(any(feature = "webhook", feature = "nats"))]
    pub(crate) fn encoded(id: Uuid, encoded: &serde_json::Value, sink: &str, error: &SinkError) -> Self {
        let event_id = encoded_field(encoded, "id", "uid").and_then(|id| id.parse().ok()).unwrap_or(Uuid::nil());
        Self { id, ..Self::of(event_id, ascii_json(encoded, event_id), sink, error) }
    }

    fn of(event_id: Uuid, raw_event: String, sink: &str, error: &SinkError) -> Self {
        let error = error.to_string();
        Self {
            id: Uuid::now_v7(),
            event_id,
            sink: storable_text(sink, MAX_SINK_NAME_CHARS).unwrap_or_else(|| sink.to_owned()),
            error: storable_text(&error, MAX_ERROR_CHARS).unwrap_or(error),
            raw_event,
            dead_lettered_at: Utc::now().trunc_subsecs(6),
        }
    }
}

/// A text field of an encoded event: `plain` at the top (the [`AuditEvent`] shape), or
/// `ocsf` under OCSF's `metadata`.
#[cfg(any(feature = "webhook", feature = "nats"))]
fn encoded_field<'a>(encoded: &'a serde_json::Value, plain: &str, ocsf: &str) -> Option<&'a str> {
    encoded.get(plain).or_else(|| encoded.get("metadata")?.get(ocsf)).and_then(serde_json::Value::as_str)
}

/// `event` (whose id is `id`) as JSON with non-ASCII characters escaped as `\uXXXX` (surrogate pairs beyond the
/// BMP), so the text is ASCII whatever the event holds.
fn ascii_json(event: &impl Serialize, id: impl fmt::Display) -> String {
    struct Ascii;
    impl serde_json::ser::Formatter for Ascii {
        fn write_string_fragment<W: ?Sized + Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
            for c in fragment.chars() {
                if c.is_ascii() {
                    writer.write_all(&[c as u8])?;
                } else {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        write!(writer, "\\u{unit:04x}")?;
                    }
                }
            }
            Ok(())
        }
    }
    let mut out = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, Ascii);
    match event.serialize(&mut serializer) {
        // Only ASCII was written.
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        // An `AuditEvent` or a JSON value always serializes; say so rather than store nothing.
        Err(e) => format!("{{\"unserializable_event\":\"{}\",\"error\":{:?}}}", id, e.to_string()),
    }
}

/// Where dead letters are kept: the `audit_dead_letters` table, a JSON Lines file, or only the
/// error log.
///
/// The logger uses the table when it has a database sink and no other store was chosen, and
/// the error log alone otherwise (every dead letter is logged with its raw event either way).
///
/// ```no_run
/// # async fn f(db: sea_orm::DatabaseConnection) {
/// use rail_graphql_security::audit::{AuditLogger, DeadLetterStore};
///
/// let logger = AuditLogger::builder()
///     .database(db)
///     .dead_letters(DeadLetterStore::file("/var/log/myapp/audit-dead-letters.jsonl"))
///     .build();
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DeadLetterStore {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Table(DatabaseConnection),
    File { path: PathBuf, lock: Arc<Mutex<()>> },
    Log,
}

impl DeadLetterStore {
    /// The `audit_dead_letters` table through `db`.
    pub fn table(db: DatabaseConnection) -> Self {
        Self { kind: Kind::Table(db) }
    }

    /// A JSON Lines file at `path` (created with its directories; one [`DeadLetter`] per line,
    /// fsynced before it counts as stored).
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self { kind: Kind::File { path: path.into(), lock: Arc::new(Mutex::new(())) } }
    }

    /// Only the `tracing::error!` each dead letter gets anyway (with its raw event).
    pub fn log_only() -> Self {
        Self { kind: Kind::Log }
    }

    /// A short name for logs: `table`, `file` or `log`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Table(_) => "table",
            Kind::File { .. } => "file",
            Kind::Log => "log",
        }
    }

    /// Stores one dead letter; safe to call again with the same letter after an error.
    pub(crate) async fn store(&self, letter: &DeadLetter) -> Result<(), SinkError> {
        match &self.kind {
            Kind::Table(db) => {
                let row = ActiveModel {
                    id: Set(letter.id.to_string()),
                    event_id: Set(letter.event_id.to_string()),
                    sink: Set(letter.sink.clone()),
                    error: Set(letter.error.clone()),
                    raw_event: Set(letter.raw_event.clone()),
                    dead_lettered_at: Set(letter.dead_lettered_at),
                };
                Entity::insert(row).on_conflict_do_nothing_on([Column::Id]).exec_without_returning(db).await?;
                Ok(())
            }
            Kind::File { path, lock } => {
                let mut line = serde_json::to_vec(letter)?;
                line.push(b'\n');
                let (path, lock) = (path.clone(), lock.clone());
                tokio::task::spawn_blocking(move || {
                    let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                    append(&path, &line).map_err(|source| SinkError::Io { path, source })
                })
                .await
                .map_err(|e| SinkError::Task(e.to_string()))?
            }
            Kind::Log => Ok(()),
        }
    }

    /// Whether the store already holds the letter `id`: a letter sent again after a crash
    /// between its store and the sender's own record of it. The `log` store holds nothing.
    #[cfg(any(feature = "webhook", feature = "nats"))]
    pub(crate) async fn holds(&self, id: Uuid) -> Result<bool, SinkError> {
        match &self.kind {
            Kind::Table(db) => Ok(Entity::find_by_id(id.to_string()).one(db).await?.is_some()),
            Kind::File { path, lock } => {
                let (path, lock) = (path.clone(), lock.clone());
                tokio::task::spawn_blocking(move || {
                    let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                    file_holds(&path, id).map_err(|source| SinkError::Io { path, source })
                })
                .await
                .map_err(|e| SinkError::Task(e.to_string()))?
            }
            Kind::Log => Ok(false),
        }
    }
}

/// Whether the dead-letter file at `path` has a line whose `id` is `id` (a missing file has
/// none). Only the lines that contain the id's text are parsed.
#[cfg(any(feature = "webhook", feature = "nats"))]
fn file_holds(path: &Path, id: Uuid) -> io::Result<bool> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let text = id.to_string();
    for line in io::BufRead::lines(io::BufReader::new(file)) {
        let line = line?;
        if line.contains(&text)
            && let Ok(letter) = serde_json::from_str::<serde_json::Value>(&line)
            && letter.get("id").and_then(serde_json::Value::as_str) == Some(text.as_str())
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The logger's dead-letter path, for a sink that learns of a refusal after its
/// [`write_batch`](crate::audit::AuditSink::write_batch) returned.
///
/// The logger gives one to each sink when it starts the sink's worker
/// ([`AuditSink::connect_dead_letters`](crate::audit::AuditSink::connect_dead_letters)). The
/// [`WebhookSink`](crate::audit::WebhookSink) and [`NatsSink`](crate::audit::NatsSink) use it
/// for each event they set aside, so that event is in the dead-letter store, in
/// [`AuditStats::dead_lettered`](crate::audit::AuditStats::dead_lettered) and raised as an
/// [`Alert::DeadLettered`], like an event `write_batch` refused.
#[derive(Clone)]
pub struct DeadLetterSender {
    pub(crate) sink: String,
    pub(crate) store: DeadLetterStore,
    pub(crate) counters: Arc<Counters>,
    pub(crate) backoff: Backoff,
    pub(crate) deadline: watch::Receiver<Option<Instant>>,
    pub(crate) alert_tx: mpsc::Sender<AlertCommand>,
}

impl fmt::Debug for DeadLetterSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetterSender").field("sink", &self.sink).field("store", &self.store.name()).finish()
    }
}

impl DeadLetterSender {
    /// Dead-letters `event`, which this sink refused for good with `error`: stores it in the
    /// logger's [`DeadLetterStore`] (retrying a store that is down, until the logger's
    /// shutdown deadline), counts it, logs it with `tracing::error!` (with its raw event) and
    /// raises [`Alert::DeadLettered`]. Returns whether the store kept it.
    pub async fn send(&self, event: &AuditEvent, error: &SinkError) -> bool {
        self.deliver(DeadLetter::new(event, &self.sink, error), event.event_type.as_str()).await
    }

    /// [`send`](Self::send) for an event this sink holds only as it encoded it, as the letter
    /// `id`, the same at every send of it. With `maybe_stored` (a send again after a crash that
    /// may have come between the letter's store and the sink's record of it), a letter the
    /// store already holds is not stored, counted or alerted again.
    #[cfg(any(feature = "webhook", feature = "nats"))]
    pub(crate) async fn send_encoded(
        &self,
        id: Uuid,
        encoded: &serde_json::Value,
        error: &SinkError,
        maybe_stored: bool,
    ) -> bool {
        if maybe_stored {
            match self.store.holds(id).await {
                Ok(true) => {
                    tracing::info!(letter = %id, store = self.store.name(), "an audit dead letter sent before a crash is already stored");
                    return true;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(
                    error = %e,
                    letter = %id,
                    "cannot check whether an audit dead letter is already stored; it is sent (a file store may then hold it twice)"
                ),
            }
        }
        let event_type = encoded_field(encoded, "event_type", "event_code").unwrap_or("unknown").to_owned();
        self.deliver(DeadLetter::encoded(id, encoded, &self.sink, error), &event_type).await
    }

    async fn deliver(&self, letter: DeadLetter, event_type: &str) -> bool {
        let stored = self.store(&letter).await;
        self.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            sink = %letter.sink,
            event_id = %letter.event_id,
            event_type,
            error = %letter.error,
            store = self.store.name(),
            stored,
            raw_event = %letter.raw_event,
            "an audit sink refused an event for good; it was moved to the dead letters"
        );
        let alert = Alert::DeadLettered {
            sink: letter.sink,
            event_id: letter.event_id,
            event_type: event_type.to_owned(),
            error: letter.error,
            stored,
        };
        if self.alert_tx.try_send(AlertCommand::Alert(alert)).is_err() {
            self.counters.alerts_dropped.fetch_add(1, Ordering::Relaxed);
        }
        stored
    }

    /// Whether the store kept `letter`; its raw event is in the error log either way.
    async fn store(&self, letter: &DeadLetter) -> bool {
        let mut attempt = 0u32;
        loop {
            let error = match self.store.store(letter).await {
                Ok(()) => return true,
                Err(e) if e.is_permanent() => e,
                Err(e) => {
                    attempt = attempt.saturating_add(1);
                    let retry_at = Instant::now() + self.backoff.delay(attempt);
                    if (*self.deadline.borrow()).is_none_or(|d| retry_at <= d) {
                        tracing::warn!(error = %e, attempt, "audit dead-letter store failed; retrying");
                        tokio::time::sleep_until(retry_at).await;
                        continue;
                    }
                    e
                }
            };
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                event_id = %letter.event_id,
                error = %error,
                "the audit dead-letter store refused a dead letter; the error log below keeps its raw event"
            );
            return false;
        }
    }
}

/// Appends `line` to the file at `path` (created with its directories) and syncs its data.
pub(crate) fn append(path: &Path, line: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(line)?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditEventType;

    #[cfg(any(feature = "webhook", feature = "nats"))]
    #[test]
    fn an_encoded_event_keeps_its_id_in_either_format() {
        let event = AuditEvent::new(AuditEventType::MfaFailed).actor_name("zoë");
        for format in [crate::audit::ExportFormat::Json, crate::audit::ExportFormat::Ocsf] {
            let encoded = format.encode(&event).unwrap();
            let id = Uuid::now_v7();
            let letter = DeadLetter::encoded(id, &encoded, "webhook", &SinkError::Refused("HTTP 422".into()));
            assert_eq!((letter.id, letter.event_id), (id, event.id), "{format:?}");
            assert!(letter.raw_event.is_ascii());
            assert_eq!(serde_json::from_str::<serde_json::Value>(&letter.raw_event).unwrap(), encoded);
            assert_eq!(encoded_field(&encoded, "event_type", "event_code"), Some("mfa_failed"));
        }
        let unknown = DeadLetter::encoded(
            Uuid::now_v7(),
            &serde_json::json!({"no": "id"}),
            "nats",
            &SinkError::Refused("x".into()),
        );
        assert_eq!(unknown.event_id, Uuid::nil());
    }

    #[test]
    fn raw_event_is_ascii_and_parses_back() {
        let event = AuditEvent::new(AuditEventType::LoginFailed)
            .actor_name("évil 😀 \0 user")
            .details(serde_json::json!({"clé": "ü\r\n"}));
        let letter = DeadLetter::new(&event, "database", &SinkError::Refused("nope\0".into()));
        assert!(letter.raw_event.is_ascii(), "{}", letter.raw_event);
        let back: AuditEvent = serde_json::from_str(&letter.raw_event).unwrap();
        assert_eq!(back, event);
        assert_eq!(letter.event_id, event.id);
        assert!(!letter.error.contains('\0'));
    }
}
