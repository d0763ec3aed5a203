//! Audit logging of security events.
//!
//! Build an [`AuditLogger`] with one or more sinks ([`DatabaseSink`], [`FileSink`],
//! [`WebhookSink`], [`TracingSink`], `NatsSink` (feature `nats`), [`MemorySink`] (for tests) or
//! your own [`AuditSink`]), log through its helpers
//! (`log_authentication_failure`, `log_rate_limit_exceeded`, ...) or [`AuditLogger::log`],
//! register alert handlers, and read [`SecurityReport`]s from the database.
//!
//! Guarantees:
//! - logging never waits on I/O and never panics; a full queue is counted and raises a
//!   critical `audit_queue_overflow` event;
//! - every string of an event is made storable on every backend before a sink sees it
//!   ([`AuditEvent::make_storable`]: NUL becomes U+FFFD, overlong strings are cut with
//!   [`TRUNCATION_MARKER`]);
//! - a failing sink is retried with back-off; the webhook and NATS sinks spool to disk first, so
//!   their events survive the endpoint being down and the process restarting;
//! - an event a sink refuses for good (a permanent [`SinkError`]) is split out of its batch and
//!   moved to the [`dead_letter`] store, counted, logged and alerted; the rest flows on;
//! - [`AuditLogger::flush`] and the report's flush have a deadline and say when they hit it;
//! - [`AuditLogger::shutdown`] writes everything queued;
//! - values under secret-looking keys never reach a sink, a handler or a Debug print;
//! - output is structured JSON (UTC timestamps), so CR/LF in a value cannot forge a record.
//!
//! # Streaming to NATS JetStream (feature `nats`)
//!
//! `NatsSink` publishes each event as one message on `<prefix>.<event_type>` of a JetStream
//! stream (created if missing, subjects `<prefix>.>`), with the event id as `Nats-Msg-Id`, so
//! the stream's duplicate window turns retries into no-ops. Events are spooled on disk like the
//! webhook's and published one acknowledged message at a time: a server that is down, crashes
//! or restarts loses, duplicates and reorders nothing. From the config file:
//!
//! ```toml
//! [audit]
//! storage_backend = ["database", "nats"]
//! nats_url = "nats://127.0.0.1:4222"   # a secret: may carry user:password@ or a token
//! nats_stream = "AUDIT"
//! nats_subject_prefix = "audit"
//! nats_spool_dir = "/var/lib/myapp/audit-nats-spool"
//! ```
//!
//! or in code (see `NatsSink` for a consumer reading the stream back):
//!
//! ```no_run
//! # #[cfg(feature = "nats")]
//! # async fn f() -> Result<(), rail_graphql_security::audit::SinkError> {
//! use rail_graphql_security::audit::{AuditLogger, NatsSink};
//!
//! let logger = AuditLogger::builder()
//!     .sink(NatsSink::builder("nats://127.0.0.1:4222", "/var/lib/myapp/audit-nats-spool").build()?)
//!     .build();
//! logger.log_authentication_failure("alice", None, None, "invalid password");
//! # Ok(()) }
//! ```

mod alert;
mod backoff;
pub mod chain;
pub mod checkpoint;
mod config;
pub mod dead_letter;
pub mod entity;
mod event;
mod logger;
pub(crate) mod mask;
pub mod model;
mod ocsf;
mod pipeline;
mod report;
mod retention;
pub mod rollup;
mod sink;
mod storable;
pub mod verify;

#[cfg(feature = "redis")]
pub use self::alert::SharedAlertWindows;
pub use self::alert::{Alert, AlertHandler, AlertThresholds, ThresholdKind};
pub use self::chain::{ChainHash, ChainLink};
pub use self::checkpoint::{Checkpoint, CheckpointKey, CheckpointPolicy, TrustedKey};
pub(crate) use self::config::LoggerSettings;
pub use self::config::{AuditConfigError, StorageBackend};
pub use self::dead_letter::{DeadLetter, DeadLetterSender, DeadLetterStore};
pub use self::event::{AuditEvent, AuditEventType, AuditSeverity, UnknownSeverity};
pub use self::logger::{Actor, AuditError, AuditLogger, AuditLoggerBuilder, AuditStats, AuditUser};
pub use self::mask::{MASK, is_secret_key, mask_details};
pub use self::ocsf::{OCSF_VERSION, to_ocsf};
pub use self::pipeline::IDLE_TICK;
pub use self::report::{AccountCount, HourlyBucket, IpCount, ReportError, SecurityReport, security_score};
#[cfg(feature = "dashboard")]
pub(crate) use self::report::{TOP_N, generate_security_report};
pub use self::retention::spawn_retention_task;
#[cfg(any(feature = "webhook", feature = "nats"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "webhook", feature = "nats"))))]
pub use self::sink::REFUSALS_BEFORE_SET_ASIDE;
pub use self::sink::{
    AuditSink, DatabaseSink, ExportFormat, FileSink, FsyncPolicy, MemorySink, MemorySinkTimeout, SinkError, TracingSink,
};
#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub use self::sink::{
    DEFAULT_NATS_STREAM, DEFAULT_NATS_SUBJECT_PREFIX, NATS_SET_ASIDE_SUBJECT_SUFFIX, NatsSink, NatsSinkBuilder,
};
#[cfg(feature = "webhook")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhook")))]
pub use self::sink::{DELIVERY_HEADER, SIGNATURE_HEADER, WebhookSink, WebhookSinkBuilder};
pub use self::storable::{
    MAX_ACTOR_ID_CHARS, MAX_ACTOR_NAME_CHARS, MAX_DETAILS_BYTES, MAX_DETAILS_DEPTH, MAX_DETAILS_KEY_CHARS,
    MAX_DETAILS_STRING_CHARS, MAX_EVENT_TYPE_CHARS, MAX_REQUEST_ID_CHARS, MAX_USER_AGENT_CHARS, NUL_REPLACEMENT,
    TRUNCATION_MARKER,
};
