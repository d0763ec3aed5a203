//! Building a logger from the configuration's audit section
//! ([`AuditSettings`](crate::config::standard::AuditSettings), `audit.*` keys).

use std::path::Path;

use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

use super::alert::AlertThresholds;
use super::checkpoint::CheckpointPolicy;
use super::dead_letter::DeadLetterStore;
use super::logger::{AuditLogger, AuditLoggerBuilder};
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

/// What the configuration's `audit` section says about the logger, borrowed (see
/// `AuditSettings::logger_builder`). `None` keeps the sink's or builder's default.
#[cfg_attr(
    not(feature = "webhook"),
    expect(dead_code, reason = "without the `webhook` feature only the refusal is built")
)]
pub(crate) struct LoggerSettings<'a> {
    pub(crate) enabled: bool,
    pub(crate) storage_backend: &'a [StorageBackend],
    pub(crate) log_file_path: &'a Path,
    pub(crate) log_file_max_bytes: u64,
    pub(crate) log_file_max_files: usize,
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
    pub(crate) flush_timeout: std::time::Duration,
    pub(crate) hash_chain: bool,
    pub(crate) checkpoint_signing_key: Option<&'a str>,
    pub(crate) checkpoint_previous_keys: &'a [String],
    pub(crate) checkpoint_every_events: u64,
    pub(crate) checkpoint_interval_secs: u64,
    pub(crate) checkpoint_anchor_path: Option<&'a Path>,
}

impl LoggerSettings<'_> {
    /// The builder: chain, checkpoints and thresholds, then one sink per listed backend
    /// (none when disabled). Must be called inside a Tokio runtime (the webhook and NATS sinks
    /// start their delivery tasks).
    pub(crate) fn logger_builder(self, db: Option<DatabaseConnection>) -> Result<AuditLoggerBuilder, AuditConfigError> {
        let mut checkpoints = CheckpointPolicy::from_config(
            self.checkpoint_signing_key,
            self.checkpoint_every_events.max(1),
            self.checkpoint_interval_secs.max(1),
        )
        .previous_keys(self.checkpoint_previous_keys)
        .map_err(AuditConfigError::InvalidPreviousKey)?;
        checkpoints.anchor_path = self.checkpoint_anchor_path.map(Path::to_path_buf);
        let mut builder = AuditLogger::builder()
            .enabled(self.enabled)
            .alert_thresholds(self.alert_thresholds)
            .hash_chain(self.hash_chain)
            .checkpoints(checkpoints)
            .flush_timeout(self.flush_timeout);
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
                    let file = FileSink::new(self.log_file_path)
                        .format(self.export_format)
                        .max_bytes(self.log_file_max_bytes)
                        .max_files(self.log_file_max_files);
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
    use crate::config::standard::AuditSettings;
    use crate::config::{Profile, SecurityConfig};

    fn settings(backends: &[StorageBackend]) -> AuditSettings {
        AuditSettings { storage_backend: backends.to_vec(), ..AuditSettings::defaults(&Profile::Development) }
    }

    #[tokio::test]
    async fn a_disabled_configuration_opens_no_sink_and_records_nothing() {
        let config = AuditSettings {
            enabled: false,
            ..settings(&[StorageBackend::Database, StorageBackend::Webhook, StorageBackend::Nats])
        };
        // No connection, URL or spool is asked for: nothing is opened.
        let logger = config.logger_builder(None).expect("a disabled logger needs no sink").build();
        logger.log(AuditEvent::new(AuditEventType::LoginFailed));
        assert_eq!(logger.stats().logged, 0);
        logger.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn an_enabled_configuration_still_asks_for_what_its_backends_need() {
        let config = settings(&[StorageBackend::Database]);
        assert!(matches!(config.logger_builder(None), Err(AuditConfigError::MissingDatabase)));
        let config = settings(&[StorageBackend::Nats]);
        assert!(matches!(config.logger_builder(None), Err(AuditConfigError::MissingNatsUrl)));
    }
}
