//! Dead letters: events a sink refused for good, kept for an operator instead of retried forever.
//!
//! When a sink refuses a batch with a [permanent](crate::audit::SinkError::is_permanent) error,
//! the logger splits the batch until the refused events stand alone, writes the others, and
//! hands each refused event to the [`DeadLetterStore`]: it is counted
//! ([`AuditStats::dead_lettered`](crate::audit::AuditStats::dead_lettered)), logged with
//! `tracing::error!`, raised as [`Alert::DeadLettered`](crate::audit::Alert::DeadLettered) and
//! stored with the error, so nothing is lost and later events keep flowing.
//!
//! The stored event is its JSON with every non-ASCII character escaped (`\uXXXX`): plain ASCII
//! text, storable in any text column or file whatever made the sink refuse the event, and still
//! parseable back into an [`AuditEvent`] with `serde_json::from_str`.
//!
//! This module is also the SeaORM entity of the `audit_dead_letters` table (created by the
//! migration crate), for investigations.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, DatabaseConnection};
use serde::Serialize;

use super::event::AuditEvent;
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
    /// The event as ASCII-only JSON.
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
    /// The event as ASCII-only JSON.
    pub raw_event: String,
    /// When it was dead-lettered.
    pub dead_lettered_at: DateTime<Utc>,
}

const MAX_ERROR_CHARS: usize = 2000;
const MAX_SINK_NAME_CHARS: usize = 64;

impl DeadLetter {
    /// The dead letter of `event`, refused by `sink` with `error`.
    pub fn new(event: &AuditEvent, sink: &str, error: &SinkError) -> Self {
        let error = error.to_string();
        Self {
            id: Uuid::now_v7(),
            event_id: event.id,
            sink: storable_text(sink, MAX_SINK_NAME_CHARS).unwrap_or_else(|| sink.to_owned()),
            error: storable_text(&error, MAX_ERROR_CHARS).unwrap_or(error),
            raw_event: ascii_json(event),
            dead_lettered_at: Utc::now().trunc_subsecs(6),
        }
    }
}

/// `event` as JSON with non-ASCII characters escaped as `\uXXXX` (surrogate pairs beyond the
/// BMP), so the text is ASCII whatever the event holds.
pub(crate) fn ascii_json(event: &AuditEvent) -> String {
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
        // An `AuditEvent` always serializes; say so rather than store nothing.
        Err(e) => format!("{{\"unserializable_event\":\"{}\",\"error\":{:?}}}", event.id, e.to_string()),
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
}

fn append(path: &Path, line: &[u8]) -> io::Result<()> {
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
