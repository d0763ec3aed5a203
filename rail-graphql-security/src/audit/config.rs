//! The audit section of the configuration, and building a logger from it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use sea_orm::DatabaseConnection;
use serde::{Deserialize, Deserializer, Serialize};

use super::alert::AlertThresholds;
use super::checkpoint::CheckpointPolicy;
use super::dead_letter::DeadLetterStore;
use super::logger::{AuditLogger, AuditLoggerBuilder};
use super::mask::redact_url;
#[cfg(feature = "webhook")]
use super::sink::WebhookSink;
use super::sink::{ExportFormat, FileSink, SinkError};

/// Where events are stored (the original package's `STORAGE_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageBackend {
    /// The `audit_events` table.
    Database,
    /// JSON Lines at `log_file_path`.
    File,
    /// POST to `webhook_url`, spooled under `webhook_spool_dir`.
    Webhook,
    /// `tracing` events only.
    Tracing,
    /// Publish to a NATS JetStream stream at `nats_url`, spooled under `nats_spool_dir`
    /// (needs the `nats` feature).
    Nats,
}

/// Audit settings. `storage_backend` takes one name or a list: `"database"` or
/// `["database", "webhook"]`.
///
/// ```
/// use rail_graphql_security::audit::{AuditConfig, StorageBackend};
///
/// let config: AuditConfig = serde_json::from_value(serde_json::json!({
///     "storage_backend": ["database", "webhook"],
///     "webhook_url": "https://siem.example.com/hook",
///     "webhook_headers": {"Authorization": "Bearer s3cr3t"},
///     "retention_days": 365,
/// })).unwrap();
/// assert_eq!(config.storage_backend, [StorageBackend::Database, StorageBackend::Webhook]);
/// // Unset: dead letters go to the `audit_dead_letters` table; flush waits at most 10 s.
/// assert_eq!((config.dead_letter_path.as_deref(), config.flush_timeout_secs), (None, 10));
/// assert!(!format!("{config:?}").contains("s3cr3t"));
/// // The hash chain is on; checkpoints are unsigned until a signing key is set.
/// assert!(config.hash_chain && config.checkpoint_signing_key.is_none());
/// assert_eq!((config.checkpoint_every_events, config.checkpoint_interval_secs), (10_000, 300));
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Whether events are recorded at all.
    pub enabled: bool,
    /// The sinks.
    #[serde(deserialize_with = "one_or_many")]
    pub storage_backend: Vec<StorageBackend>,
    /// The JSON Lines file for the `file` backend.
    pub log_file_path: PathBuf,
    /// Rotate the file at this size.
    pub log_file_max_bytes: u64,
    /// Rotated files kept.
    pub log_file_max_files: usize,
    /// The endpoint for the `webhook` backend.
    pub webhook_url: Option<String>,
    /// Headers sent with every delivery (secret: never printed).
    pub webhook_headers: BTreeMap<String, String>,
    /// HMAC-SHA256 signing secret for deliveries (secret: never printed).
    pub webhook_secret: Option<String>,
    /// Where undelivered webhook batches wait.
    pub webhook_spool_dir: PathBuf,
    /// The NATS server for the `nats` backend (secret: may carry credentials).
    pub nats_url: Option<String>,
    /// The JetStream stream of the `nats` backend, created if missing.
    pub nats_stream: String,
    /// Events go to `<nats_subject_prefix>.<event_type>`.
    pub nats_subject_prefix: String,
    /// Where events wait until the NATS server stored them.
    pub nats_spool_dir: PathBuf,
    /// The file and webhook format.
    pub export_format: ExportFormat,
    /// Days events are kept (see [`AuditLogger::purge_older_than`]).
    pub retention_days: u32,
    /// Alert thresholds.
    pub alert_thresholds: AlertThresholds,
    /// A JSON Lines file for events a sink refuses for good. Unset: the `audit_dead_letters`
    /// table when `database` is a backend, otherwise only the error log.
    pub dead_letter_path: Option<PathBuf>,
    /// Seconds [`AuditLogger::flush`] (and the flush before a report) waits (default 10).
    pub flush_timeout_secs: u64,
    /// Link every event into a hash chain before the sinks see it (default on; see
    /// [`chain`](super::chain)).
    pub hash_chain: bool,
    /// The secret the Ed25519 key signing the chain's checkpoints derives from (secret: never
    /// printed; unset: checkpoints are written unsigned).
    pub checkpoint_signing_key: Option<String>,
    /// Verifying keys (64 hex digits) of earlier signing keys, each optionally `@` and the
    /// RFC 3339 time it was retired: after a key rotation, the checkpoints they signed (before
    /// that time) still verify (see [`checkpoint`](super::checkpoint)).
    pub checkpoint_previous_keys: Vec<String>,
    /// Events between two checkpoints of a chain (default 10,000).
    pub checkpoint_every_events: u64,
    /// Seconds between two checkpoints of a chain (default 300).
    pub checkpoint_interval_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            storage_backend: vec![StorageBackend::Database],
            log_file_path: PathBuf::from("audit.log"),
            log_file_max_bytes: 100 * 1024 * 1024,
            log_file_max_files: 5,
            webhook_url: None,
            webhook_headers: BTreeMap::new(),
            webhook_secret: None,
            webhook_spool_dir: PathBuf::from("audit-spool"),
            nats_url: None,
            nats_stream: "AUDIT".to_owned(),
            nats_subject_prefix: "audit".to_owned(),
            nats_spool_dir: PathBuf::from("audit-nats-spool"),
            export_format: ExportFormat::Json,
            retention_days: 365,
            alert_thresholds: AlertThresholds::default(),
            dead_letter_path: None,
            flush_timeout_secs: 10,
            hash_chain: true,
            checkpoint_signing_key: None,
            checkpoint_previous_keys: Vec::new(),
            checkpoint_every_events: 10_000,
            checkpoint_interval_secs: 300,
        }
    }
}

impl fmt::Debug for AuditConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: BTreeMap<&str, &str> = self.webhook_headers.keys().map(|k| (k.as_str(), "[redacted]")).collect();
        f.debug_struct("AuditConfig")
            .field("enabled", &self.enabled)
            .field("storage_backend", &self.storage_backend)
            .field("log_file_path", &self.log_file_path)
            .field("webhook_url", &self.webhook_url.as_deref().map(redact_url))
            .field("webhook_headers", &headers)
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "[redacted]"))
            .field("webhook_spool_dir", &self.webhook_spool_dir)
            .field("nats_url", &self.nats_url.as_deref().map(redact_url))
            .field("nats_stream", &self.nats_stream)
            .field("nats_subject_prefix", &self.nats_subject_prefix)
            .field("nats_spool_dir", &self.nats_spool_dir)
            .field("export_format", &self.export_format)
            .field("retention_days", &self.retention_days)
            .field("alert_thresholds", &self.alert_thresholds)
            .field("dead_letter_path", &self.dead_letter_path)
            .field("flush_timeout_secs", &self.flush_timeout_secs)
            .field("hash_chain", &self.hash_chain)
            .field("checkpoint_signing_key", &self.checkpoint_signing_key.as_ref().map(|_| "[redacted]"))
            .field("checkpoint_previous_keys", &self.checkpoint_previous_keys)
            .field("checkpoint_every_events", &self.checkpoint_every_events)
            .field("checkpoint_interval_secs", &self.checkpoint_interval_secs)
            .finish_non_exhaustive()
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<StorageBackend>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(StorageBackend),
        Many(Vec<StorageBackend>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(b) => vec![b],
        OneOrMany::Many(v) => v,
    })
}

/// The configuration cannot make a logger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditConfigError {
    /// `database` is listed but no connection was given.
    #[error(
        "audit storage_backend lists `database` but no database connection was given; pass one or remove `database`"
    )]
    MissingDatabase,
    /// `webhook` is listed without `webhook_url`.
    #[error(
        "audit storage_backend lists `webhook` but `webhook_url` is not set; set it (https://...) or remove `webhook`"
    )]
    MissingWebhookUrl,
    /// `webhook` is listed but the crate was built without its `webhook` feature.
    #[error(
        "audit storage_backend lists `webhook` but rail-graphql-security was built without the `webhook` feature; enable it in Cargo.toml or remove `webhook`"
    )]
    WebhookFeatureDisabled,
    /// `nats` is listed without `nats_url`.
    #[error("audit storage_backend lists `nats` but `nats_url` is not set; set it (nats://host:4222) or remove `nats`")]
    MissingNatsUrl,
    /// `nats` is listed but the crate was built without its `nats` feature.
    #[error(
        "audit storage_backend lists `nats` but rail-graphql-security was built without the `nats` feature; enable it in Cargo.toml or remove `nats`"
    )]
    NatsFeatureDisabled,
    /// An entry of `checkpoint_previous_keys` is not a verifying key.
    #[error("audit checkpoint_previous_keys has {0}; list the verifying keys that `audit key` printed")]
    InvalidPreviousKey(String),
    /// A sink could not be set up.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

impl AuditConfig {
    /// A logger builder with this configuration's sinks and thresholds; add handlers or more
    /// sinks, then `build()`. With `enabled = false`, a logger that records nothing and opens
    /// no sink. Must be called inside a Tokio runtime (the webhook sink starts its delivery
    /// task).
    pub fn logger_builder(&self, db: Option<DatabaseConnection>) -> Result<AuditLoggerBuilder, AuditConfigError> {
        LoggerSettings {
            enabled: self.enabled,
            storage_backend: &self.storage_backend,
            log_file_path: &self.log_file_path,
            log_file_max_bytes: Some(self.log_file_max_bytes),
            log_file_max_files: Some(self.log_file_max_files),
            webhook_url: self.webhook_url.as_deref(),
            webhook_headers: self.webhook_headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            webhook_secret: self.webhook_secret.as_deref(),
            webhook_spool_dir: &self.webhook_spool_dir,
            nats_url: self.nats_url.as_deref(),
            nats_stream: &self.nats_stream,
            nats_subject_prefix: &self.nats_subject_prefix,
            nats_spool_dir: &self.nats_spool_dir,
            export_format: self.export_format,
            alert_thresholds: self.alert_thresholds,
            dead_letter_path: self.dead_letter_path.as_deref(),
            flush_timeout: Some(std::time::Duration::from_secs(self.flush_timeout_secs)),
            hash_chain: self.hash_chain,
            checkpoint_signing_key: self.checkpoint_signing_key.as_deref(),
            checkpoint_previous_keys: &self.checkpoint_previous_keys,
            checkpoint_every_events: self.checkpoint_every_events,
            checkpoint_interval_secs: self.checkpoint_interval_secs,
        }
        .logger_builder(db)
    }
}

/// What a configuration says about the logger, borrowed: the one place a logger builder is
/// made from settings, for both [`AuditConfig`] and the standard configuration's `audit`
/// section (`config::standard::AuditSettings`). `None` keeps the sink's or builder's default.
#[cfg_attr(
    not(feature = "webhook"),
    expect(dead_code, reason = "without the `webhook` feature only the refusal is built")
)]
pub(crate) struct LoggerSettings<'a> {
    pub(crate) enabled: bool,
    pub(crate) storage_backend: &'a [StorageBackend],
    pub(crate) log_file_path: &'a Path,
    pub(crate) log_file_max_bytes: Option<u64>,
    pub(crate) log_file_max_files: Option<usize>,
    pub(crate) webhook_url: Option<&'a str>,
    pub(crate) webhook_headers: Vec<(&'a str, &'a str)>,
    pub(crate) webhook_secret: Option<&'a str>,
    pub(crate) webhook_spool_dir: &'a Path,
    pub(crate) nats_url: Option<&'a str>,
    pub(crate) nats_stream: &'a str,
    pub(crate) nats_subject_prefix: &'a str,
    pub(crate) nats_spool_dir: &'a Path,
    pub(crate) export_format: ExportFormat,
    pub(crate) alert_thresholds: AlertThresholds,
    pub(crate) dead_letter_path: Option<&'a Path>,
    pub(crate) flush_timeout: Option<std::time::Duration>,
    pub(crate) hash_chain: bool,
    pub(crate) checkpoint_signing_key: Option<&'a str>,
    pub(crate) checkpoint_previous_keys: &'a [String],
    pub(crate) checkpoint_every_events: u64,
    pub(crate) checkpoint_interval_secs: u64,
}

impl LoggerSettings<'_> {
    /// The builder: chain, checkpoints and thresholds, then one sink per listed backend
    /// (none when disabled). Must be called inside a Tokio runtime (the webhook and NATS sinks
    /// start their delivery tasks).
    pub(crate) fn logger_builder(self, db: Option<DatabaseConnection>) -> Result<AuditLoggerBuilder, AuditConfigError> {
        let checkpoints = CheckpointPolicy::from_config(
            self.checkpoint_signing_key,
            self.checkpoint_every_events.max(1),
            self.checkpoint_interval_secs.max(1),
        )
        .previous_keys(self.checkpoint_previous_keys)
        .map_err(AuditConfigError::InvalidPreviousKey)?;
        let mut builder = AuditLogger::builder()
            .enabled(self.enabled)
            .alert_thresholds(self.alert_thresholds)
            .hash_chain(self.hash_chain)
            .checkpoints(checkpoints);
        if let Some(timeout) = self.flush_timeout {
            builder = builder.flush_timeout(timeout);
        }
        if !self.enabled {
            return Ok(builder);
        }
        if let Some(path) = self.dead_letter_path {
            builder = builder.dead_letters(DeadLetterStore::file(path));
        }
        for backend in self.storage_backend {
            builder = match backend {
                StorageBackend::Database => builder.database(db.clone().ok_or(AuditConfigError::MissingDatabase)?),
                StorageBackend::File => {
                    let mut file = FileSink::new(self.log_file_path).format(self.export_format);
                    if let Some(bytes) = self.log_file_max_bytes {
                        file = file.max_bytes(bytes);
                    }
                    if let Some(files) = self.log_file_max_files {
                        file = file.max_files(files);
                    }
                    builder.sink(file)
                }
                StorageBackend::Webhook => builder.sink(self.webhook_sink()?),
                StorageBackend::Tracing => builder.tracing(),
                StorageBackend::Nats => {
                    let url = self.nats_url.ok_or(AuditConfigError::MissingNatsUrl)?;
                    let nats = NatsBackend {
                        url,
                        stream: self.nats_stream,
                        subject_prefix: self.nats_subject_prefix,
                        spool_dir: self.nats_spool_dir,
                        format: self.export_format,
                    };
                    builder.sink(nats.build()?)
                }
            };
        }
        Ok(builder)
    }

    /// The `webhook` backend's sink (it starts its delivery task: call inside a Tokio runtime).
    #[cfg(feature = "webhook")]
    fn webhook_sink(&self) -> Result<WebhookSink, AuditConfigError> {
        let url = self.webhook_url.ok_or(AuditConfigError::MissingWebhookUrl)?;
        let mut webhook = WebhookSink::builder(url, self.webhook_spool_dir).format(self.export_format);
        for (name, value) in &self.webhook_headers {
            webhook = webhook.header(name, value)?;
        }
        if let Some(secret) = self.webhook_secret {
            webhook = webhook.signing_secret(secret.as_bytes().to_vec());
        }
        Ok(webhook.build()?)
    }

    /// Without the `webhook` feature there is no sink to build (the `TracingSink` type only
    /// gives both versions the same use at the call site; it is never returned).
    #[cfg(not(feature = "webhook"))]
    fn webhook_sink(&self) -> Result<super::sink::TracingSink, AuditConfigError> {
        Err(AuditConfigError::WebhookFeatureDisabled)
    }
}

/// The `nats` backend's settings (built by [`LoggerSettings`]).
#[cfg_attr(not(feature = "nats"), expect(dead_code, reason = "without the `nats` feature only the refusal is built"))]
pub(crate) struct NatsBackend<'a> {
    pub(crate) url: &'a str,
    pub(crate) stream: &'a str,
    pub(crate) subject_prefix: &'a str,
    pub(crate) spool_dir: &'a Path,
    pub(crate) format: ExportFormat,
}

impl NatsBackend<'_> {
    /// The sink (it starts its publishing task: call inside a Tokio runtime).
    #[cfg(feature = "nats")]
    pub(crate) fn build(self) -> Result<super::sink::NatsSink, AuditConfigError> {
        Ok(super::sink::NatsSink::builder(self.url, self.spool_dir)
            .stream(self.stream)
            .subject_prefix(self.subject_prefix)
            .format(self.format)
            .build()?)
    }

    /// Without the `nats` feature there is no sink to build (the `TracingSink` type only
    /// gives both versions the same use at the call sites; it is never returned).
    #[cfg(not(feature = "nats"))]
    pub(crate) fn build(self) -> Result<super::sink::TracingSink, AuditConfigError> {
        Err(AuditConfigError::NatsFeatureDisabled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditEvent, AuditEventType};

    #[tokio::test]
    async fn a_disabled_configuration_opens_no_sink_and_records_nothing() {
        let config: AuditConfig = serde_json::from_value(serde_json::json!({
            "enabled": false,
            "storage_backend": ["database", "webhook", "nats"],
        }))
        .unwrap();
        // No connection, URL or spool is asked for: nothing is opened.
        let logger = config.logger_builder(None).expect("a disabled logger needs no sink").build();
        logger.log(AuditEvent::new(AuditEventType::LoginFailed));
        assert_eq!(logger.stats().logged, 0);
        logger.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn an_enabled_configuration_still_asks_for_what_its_backends_need() {
        let config: AuditConfig = serde_json::from_value(serde_json::json!({"storage_backend": "database"})).unwrap();
        assert!(matches!(config.logger_builder(None), Err(AuditConfigError::MissingDatabase)));
        let config: AuditConfig = serde_json::from_value(serde_json::json!({"storage_backend": "nats"})).unwrap();
        assert!(matches!(config.logger_builder(None), Err(AuditConfigError::MissingNatsUrl)));
    }
}
