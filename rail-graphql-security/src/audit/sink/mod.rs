//! Where audit events go. Several sinks run at once, each with its own worker and a queue of
//! 16 batches, so a slow or failing sink does not hold up the others until its own queue is
//! full; then back-pressure reaches the logger's queue (never the request path: `log` counts a
//! drop instead of waiting). The webhook and NATS sinks spool to disk, so an unreachable endpoint
//! never fills their queues.

use std::fmt;

use async_trait::async_trait;

use super::dead_letter::DeadLetterSender;
use super::event::AuditEvent;

mod database;
mod file;
mod memory;
#[cfg(feature = "nats")]
mod nats;
#[cfg(any(feature = "webhook", feature = "nats"))]
mod spool;
mod tracing;
#[cfg(feature = "webhook")]
mod webhook;

pub(crate) use self::database::DATABASE_SINK_NAME;
pub use self::database::DatabaseSink;
pub use self::file::{FileSink, FsyncPolicy};
pub use self::memory::{MemorySink, MemorySinkTimeout};
#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub use self::nats::{
    DEFAULT_NATS_STREAM, DEFAULT_NATS_SUBJECT_PREFIX, NATS_SET_ASIDE_SUBJECT_SUFFIX, NatsSink, NatsSinkBuilder,
};
#[cfg(any(feature = "webhook", feature = "nats"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "webhook", feature = "nats"))))]
pub use self::spool::REFUSALS_BEFORE_SET_ASIDE;
pub use self::tracing::TracingSink;
#[cfg(feature = "webhook")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhook")))]
pub use self::webhook::{DELIVERY_HEADER, SIGNATURE_HEADER, WebhookSink, WebhookSinkBuilder};

/// A destination for audit events.
///
/// `write_batch` must be durable when it returns `Ok` (rows committed, bytes fsynced or spooled
/// to disk) and must be safe to call again with the same batch after an `Err`: the logger
/// retries a failed batch, with exponential back-off, until it succeeds or the shutdown deadline
/// passes. Events carry a unique id, so a sink can make retries idempotent.
#[async_trait]
pub trait AuditSink: Send + Sync + fmt::Debug + 'static {
    /// A short name for logs and statistics (`database`, `file`, `webhook`, ...).
    fn name(&self) -> &str;

    /// Persists a batch of (already masked) events.
    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), SinkError>;

    /// The most events this sink takes in one [`write_batch`](Self::write_batch) once it has
    /// fallen behind: the batches queued for it meanwhile are merged up to this many, so a
    /// busy sink pays its per-write cost (a commit, a request) once per merged batch. `None`
    /// (the default) keeps the logger's
    /// [`max_batch`](crate::audit::AuditLoggerBuilder::max_batch); a smaller value than that
    /// has no effect. The [`DatabaseSink`] takes 10,000.
    fn max_write(&self) -> Option<usize> {
        None
    }

    /// Called when no batch came for [`IDLE_TICK`](crate::audit::IDLE_TICK) (and then again
    /// every tick while idle): time-based upkeep. The database sink writes the checkpoints that
    /// came due by time for chains that stopped being written to. An error is logged, not
    /// retried.
    async fn idle(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Called once, when the logger starts this sink's worker, with the logger's dead-letter
    /// path. A sink that delivers after `write_batch` returned (the webhook and NATS sinks)
    /// keeps it, to dead-letter an event its service refuses for good later; the default
    /// drops it. The webhook and NATS sinks also send then the letters of the events they set
    /// aside without one (before this call, or cut off by a crash).
    fn connect_dead_letters(&self, sender: DeadLetterSender) {
        let _ = sender;
    }

    /// Called once, before the logger starts this sink's worker, with the key the logger signs
    /// checkpoints with ([`AuditLoggerBuilder::checkpoints`](crate::audit::AuditLoggerBuilder::checkpoints)),
    /// when it has one. A sink that puts records of its own into the trail signs them with it
    /// (the NATS sink's set-aside markers, unless its builder was given a key); the default
    /// ignores it.
    fn connect_checkpoint_key(&self, key: &crate::audit::checkpoint::CheckpointKey) {
        let _ = key;
    }

    /// Called once after the last batch during a graceful shutdown; `deadline` is when the
    /// logger stops waiting. The webhook sink uses it to deliver its spool.
    async fn shutdown(&self, deadline: tokio::time::Instant) -> Result<(), SinkError> {
        let _ = deadline;
        Ok(())
    }
}

/// Why a sink could not persist a batch.
///
/// The logger retries a [transient](SinkError::is_permanent) error with back-off. A permanent
/// one (the data was refused: encoding, constraint, value too long) is never retried as is: the
/// batch is split until the refused events stand alone, those are moved to the dead-letter
/// store, and the rest of the batch is written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The database refused or could not be reached.
    #[error("audit database write failed: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// A file or spool operation failed.
    #[error("audit file write failed ({path}): {source}")]
    Io {
        /// The file involved.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The webhook endpoint could not be reached or timed out.
    #[cfg(feature = "webhook")]
    #[error("audit webhook request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The webhook endpoint answered with a non-success status.
    #[error("audit webhook answered HTTP {status}; the batch stays spooled and is retried")]
    HttpStatus {
        /// The status code.
        status: u16,
    },
    /// An event could not be serialized.
    #[error("audit event could not be serialized: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The sink's configuration is unusable; the message says what to change.
    #[error("{0}")]
    InvalidConfig(String),
    /// A background task panicked or was cancelled.
    #[error("audit sink task failed: {0}")]
    Task(String),
    /// The sink refuses these events for good, whatever the retry: for your own sinks, to have
    /// the events dead-lettered instead of retried.
    #[error("audit sink refused the events: {0}")]
    Refused(String),
}

impl SinkError {
    /// Whether writing the same events again can never succeed: the data was refused (database
    /// data exceptions, constraint violations, values too long or too large, events that do not
    /// serialize, [`SinkError::Refused`]). Lost connections, timeouts, I/O and HTTP failures,
    /// and database errors not known to be about the data are transient.
    ///
    /// ```
    /// use rail_graphql_security::audit::SinkError;
    ///
    /// assert!(SinkError::Refused("too big for the collector".into()).is_permanent());
    /// assert!(!SinkError::HttpStatus { status: 503 }.is_permanent());
    /// ```
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Database(e) => database::is_permanent(e),
            Self::Serialize(_) | Self::Refused(_) => true,
            Self::Io { .. } | Self::HttpStatus { .. } | Self::InvalidConfig(_) | Self::Task(_) => false,
            #[cfg(feature = "webhook")]
            Self::Http(_) => false,
        }
    }
}

/// How a file, webhook or NATS sink encodes events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// The documented [`AuditEvent`] JSON shape.
    #[default]
    Json,
    /// OCSF 1.1 (see [`to_ocsf`](crate::audit::to_ocsf)).
    Ocsf,
}

impl ExportFormat {
    /// Encodes one event as a JSON value in this format.
    pub fn encode(self, event: &AuditEvent) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            Self::Json => serde_json::to_value(event),
            Self::Ocsf => Ok(super::ocsf::to_ocsf(event)),
        }
    }
}
