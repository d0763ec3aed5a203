//! Audit logging of security events.
//!
//! Build an [`AuditLogger`] with one or more sinks ([`DatabaseSink`], [`FileSink`],
//! [`WebhookSink`], [`TracingSink`] or your own [`AuditSink`]), log through its helpers
//! (`log_authentication_failure`, `log_rate_limit_exceeded`, ...) or [`AuditLogger::log`],
//! register alert handlers, and read [`SecurityReport`]s from the database.
//!
//! Guarantees:
//! - logging never waits on I/O and never panics; a full queue is counted and raises a
//!   critical `audit_queue_overflow` event;
//! - a failing sink is retried with back-off; the webhook sink spools to disk first, so its
//!   events survive the endpoint being down and the process restarting;
//! - [`AuditLogger::shutdown`] writes everything queued;
//! - values under secret-looking keys never reach a sink, a handler or a Debug print;
//! - output is structured JSON (UTC timestamps), so CR/LF in a value cannot forge a record.

mod alert;
mod backoff;
mod config;
pub mod entity;
mod event;
mod logger;
mod mask;
pub mod model;
mod ocsf;
mod pipeline;
mod report;
mod retention;
mod sink;

pub use self::alert::{Alert, AlertHandler, AlertThresholds, ThresholdKind};
pub use self::config::{AuditConfig, AuditConfigError, StorageBackend};
pub use self::event::{AuditEvent, AuditEventType, AuditSeverity, UnknownSeverity};
pub use self::logger::{Actor, AuditError, AuditLogger, AuditLoggerBuilder, AuditStats, AuditUser};
pub use self::mask::{MASK, SECRET_KEY_MARKERS, is_secret_key, mask_details};
pub use self::ocsf::{OCSF_VERSION, ocsf_severity_id, to_ocsf};
pub use self::report::{
    AccountCount, HourlyBucket, IpCount, ReportError, SecurityReport, TOP_N, generate_security_report, security_score,
};
pub use self::retention::{PURGE_BATCH, purge_before, purge_older_than, spawn_retention_task};
pub use self::sink::{
    AuditSink, DELIVERY_HEADER, DatabaseSink, ExportFormat, FileSink, FsyncPolicy, SIGNATURE_HEADER, SinkError,
    TracingSink, WebhookSink, WebhookSinkBuilder,
};
