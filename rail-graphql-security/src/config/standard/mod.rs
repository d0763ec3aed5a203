//! The standard config: the original package's `SecurityConfig` sections (middleware, audit,
//! MFA) plus the deployment settings a deploy check needs.
//!
//! Every key is read by the runtime: [`Security::builder`](crate::stack::Security::builder)
//! (feature `axum`) turns a loaded value into the running stack. The MFA ranges are those of
//! [`MfaConfig`](crate::mfa::MfaConfig) ([`mfa::bounds`](crate::mfa::bounds)), so a value the
//! loader accepts is one the runtime accepts.
//!
//! # The original package's settings
//!
//! Every setting of `rail_django_graphql`'s documentation has its key here, or the reason it
//! was declined. The original's profile dictionaries (`DEVELOPMENT_SECURITY_CONFIG`,
//! `PRODUCTION_SECURITY_CONFIG`) are the [`Profile`](crate::config::Profile)s' defaults.
//!
//! | Original | Key | Notes |
//! |---|---|---|
//! | `AUDIT_LOGGING['ENABLED']` | `audit.enabled` | |
//! | `AUDIT_LOGGING['STORAGE_BACKEND']` | `audit.storage_backend` | a list: `database`, `file`, `webhook`, `tracing`, `nats` (feature `nats`) |
//! | `AUDIT_LOGGING['LOG_FILE_PATH']` | `audit.log_file_path` | |
//! | — | `audit.log_file_max_bytes`, `audit.log_file_max_files` | the file backend's rotation (100 MiB, 5 files) |
//! | — | `audit.export_format` | `json` or `ocsf`, for the file, webhook and NATS backends |
//! | — | `audit.dead_letter_path` | a JSON Lines file for dead letters instead of the `audit_dead_letters` table |
//! | — | `audit.flush_timeout_secs` | how long a flush waits (default 10) |
//! | `AUDIT_LOGGING['DATABASE_TABLE']` | — | declined: the table is `audit_events`, created by the migrations and read by the reports, the dashboard and retention; a name read at run time could point the audit trail at another table by a typo. Place it with the database's own schema / search path instead |
//! | `AUDIT_LOGGING['WEBHOOK_URL']` | `audit.webhook_url` | https in production; secret (a webhook's path is often its credential) |
//! | `AUDIT_LOGGING['WEBHOOK_HEADERS']` | `audit.webhook_headers` | values are secrets |
//! | `AUDIT_LOGGING['RETENTION_DAYS']` | `audit.retention_days` | the retention task runs from it |
//! | `ALERT_THRESHOLDS['FAILED_LOGINS_PER_HOUR']` | `audit.alert_thresholds.failed_logins_per_hour` | |
//! | `ALERT_THRESHOLDS['SUSPICIOUS_ACTIVITY_PER_DAY']` | `audit.alert_thresholds.suspicious_activity_per_day` | |
//! | `ALERT_THRESHOLDS['RATE_LIMIT_HITS_PER_HOUR']` | `audit.alert_thresholds.rate_limit_hits_per_hour` | |
//! | `MFA_SETTINGS['ENABLED']` | `mfa.enabled` | |
//! | `MFA_SETTINGS['TOTP_ISSUER']` (`totp_issuer`) | `mfa.issuer` | |
//! | `MFA_SETTINGS['TOTP_DIGITS']` | `mfa.digits` | 6 or 8 |
//! | `MFA_SETTINGS['TOTP_PERIOD']` | `mfa.period` | 15–300 s |
//! | `MFA_SETTINGS['BACKUP_CODES_COUNT']` | `mfa.backup_codes_count` | |
//! | `MFA_SETTINGS['BACKUP_CODE_LENGTH']` | `mfa.backup_code_length` | 8–32 |
//! | `MFA_SETTINGS['TRUSTED_DEVICE_DURATION_DAYS']` | `mfa.trusted_device_days` | |
//! | `MFA_SETTINGS['SMS_PROVIDER']` | `mfa.sms.provider` | `twilio`, `aws_sns` (or `sns`), `custom` (registered on the stack builder), plus `console` (development) and `none` |
//! | `SMS_SETTINGS['TWILIO_ACCOUNT_SID']` | `mfa.sms.twilio_account_sid` | |
//! | `SMS_SETTINGS['TWILIO_AUTH_TOKEN']` | `mfa.sms.twilio_auth_token` | secret |
//! | `SMS_SETTINGS['TWILIO_PHONE_NUMBER']` | `mfa.sms.twilio_from_number` | |
//! | `middleware['authentication']['enabled']` | `middleware.authentication.enabled` | |
//! | `middleware['authentication']['jwt_header_prefix']` | `middleware.authentication.jwt_header_prefix` | |
//! | `middleware['authentication']['user_cache_timeout']` | — | declined: tokens carry the principal, so there is no user lookup to cache; verified tokens are cached until they expire and revocation is checked on every request |
//! | `middleware['authentication']['security_headers']` | `middleware.authentication.security_headers` | |
//! | `middleware['rate_limiting']['enabled']` | `middleware.rate_limiting.enabled` | on in every profile |
//! | `middleware['rate_limiting']['login_attempts_limit']` | `middleware.rate_limiting.login_attempts_limit` | per username; `login_ip_attempts_limit` per address |
//! | `middleware['rate_limiting']['login_attempts_window']` | `middleware.rate_limiting.login_attempts_window` | |
//! | `middleware['rate_limiting']['graphql_requests_limit']` | `middleware.rate_limiting.graphql_requests_limit` | |
//! | `middleware['rate_limiting']['graphql_requests_window']` | `middleware.rate_limiting.graphql_requests_window` | |
//! | — | `middleware.rate_limiting.graphql_requests_lease_ms` | with `store_url`: how long request hits leased from Redis may be spent in process (default 100; 0: one round trip per request) |
//! | `middleware['performance']['enabled']` | `middleware.performance.enabled` | |
//! | `middleware['performance']['slow_query_threshold']` | `middleware.performance.slow_query_threshold` | |
//! | `middleware['performance']['track_memory_usage']` | — | declined: a Rust process has no per-request memory accounting without replacing the global allocator; a key that did nothing was removed |
//!
//! | — | `audit.nats_url` | the `nats` backend's server (secret: may carry credentials) |
//! | — | `audit.nats_stream` | the JetStream stream, created if missing (default `AUDIT`) |
//! | — | `audit.nats_subject_prefix` | events go to `<prefix>.<event_type>` (default `audit`) |
//! | — | `audit.nats_spool_dir` | where events wait until the server stored them |
//! | — | `audit.hash_chain` | link events into a hash chain (default on; see `audit::chain`) |
//! | — | `audit.checkpoint_signing_key` | secret the checkpoints' Ed25519 key derives from (`audit key` prints the public key) |
//! | — | `audit.checkpoint_previous_keys` | verifying keys of earlier signing keys (64 hex digits each, optionally `@` and the RFC 3339 time the key was retired): after a rotation, the checkpoints they signed (before that time) still verify |
//! | — | `audit.checkpoint_every_events` | events between checkpoints (default 10,000) |
//! | — | `audit.checkpoint_interval_secs` | seconds between checkpoints (default 300) |
//! | — | `audit.checkpoint_anchor_path` | a JSON Lines file outside the database that every checkpoint is also appended to; `audit verify` checks the trail against it (unset: no copy) |
//! | — | `mfa.passkeys.rp_id` | the relying-party id passkeys are bound to (a domain, e.g. `example.com`); unset: passkeys off |
//! | — | `mfa.passkeys.rp_name` | the name authenticators show (default `rail-graphql-security`) |
//! | — | `mfa.passkeys.origins` | the origins pages run passkey ceremonies from, e.g. `["https://app.example.com"]` (http only for localhost) |
//! | — | `mfa.passkeys.ceremony_ttl_seconds` | how long a begun ceremony may be finished, 30–600 (default 300) |
//!
//! Keys without an original counterpart (`deployment.*`, the `audit.nats_*` keys, the SMS quotas, `max_consecutive_failures`,
//! `required_for_roles`, `pending_session_policy`, `step_up_window_seconds`, ...) are the deployment checks' settings and the hardening the
//! original lacked.

mod checks;
mod key;

pub use self::key::Base64Key;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use sea_orm::DatabaseConnection;

use crate::SecurityConfig;
use crate::audit::{
    AlertThresholds, AuditConfigError, AuditLoggerBuilder, ExportFormat, LoggerSettings, StorageBackend,
};
use crate::config::Secret;
use crate::mfa::bounds;
use crate::mfa::policy::MfaPolicy;

crate::config_enum!(StorageBackend {
    Database => "database",
    File => "file",
    Webhook => "webhook",
    Tracing => "tracing",
    Nats => "nats",
});

crate::config_enum!(ExportFormat { Json => "json", Ocsf => "ocsf" });

crate::config_enum!(MfaPolicy { HighestAvailable => "strict", Lenient => "lenient" });

/// The plugin's standard security config. Env vars: `RAIL_SECURITY__SECTION__KEY`, e.g.
/// `RAIL_SECURITY__MIDDLEWARE__RATE_LIMITING__ENABLED=true`.
///
/// ```
/// use rail_graphql_security::config::{Profile, SecurityConfig, StandardSecurityConfig};
///
/// let dev = StandardSecurityConfig::defaults(&Profile::Development);
/// let prod = StandardSecurityConfig::defaults(&Profile::Production);
/// assert!(dev.get_middleware_config().rate_limiting.enabled);
/// assert_eq!(prod.get_middleware_config().rate_limiting.login_attempts_limit, 3);
/// assert_eq!(dev.get_audit_config().retention_days, 30);
/// assert!(prod.get_mfa_config().enabled);
/// ```
#[derive(Debug, Clone, Serialize, SecurityConfig)]
#[security(prefix = "RAIL_SECURITY", check = checks::standard_checks)]
pub struct StandardSecurityConfig {
    /// Request middleware: authentication, rate limiting, performance.
    #[security(nested)]
    pub middleware: MiddlewareConfig,
    /// Audit logging.
    #[security(nested)]
    pub audit: AuditSettings,
    /// Multi-factor authentication.
    #[security(nested)]
    pub mfa: MfaSettings,
    /// HTTPS, cookies, headers, hosts and GraphQL exposure.
    #[security(nested)]
    pub deployment: DeploymentConfig,
}

impl StandardSecurityConfig {
    /// The middleware section (the original `get_middleware_config()`).
    pub fn get_middleware_config(&self) -> &MiddlewareConfig {
        &self.middleware
    }

    /// The audit section (the original `get_audit_config()`).
    pub fn get_audit_config(&self) -> &AuditSettings {
        &self.audit
    }

    /// The MFA section (the original `get_mfa_config()`).
    pub fn get_mfa_config(&self) -> &MfaSettings {
        &self.mfa
    }

    /// The deployment section.
    pub fn get_deployment_config(&self) -> &DeploymentConfig {
        &self.deployment
    }
}

/// Request middleware settings.
#[derive(Debug, Clone, Serialize, SecurityConfig)]
pub struct MiddlewareConfig {
    /// JWT bearer authentication.
    #[security(nested)]
    pub authentication: AuthenticationConfig,
    /// Login and request rate limits.
    #[security(nested)]
    pub rate_limiting: RateLimitingConfig,
    /// Slow-query and memory tracking.
    #[security(nested)]
    pub performance: PerformanceConfig,
}

/// Authentication middleware settings.
#[derive(Debug, Clone, Serialize, SecurityConfig)]
pub struct AuthenticationConfig {
    /// Whether requests are authenticated.
    #[security(default = true)]
    pub enabled: bool,
    /// The `Authorization` scheme, e.g. `Bearer` (matched case-insensitively).
    #[security(default = "Bearer", non_empty)]
    pub jwt_header_prefix: String,
    /// Whether security headers (HSTS, X-Frame-Options, nosniff, Referrer-Policy, CSP) are added
    /// to responses; their values are in `deployment`.
    #[security(default = true)]
    pub security_headers: bool,
}

/// Rate limiting settings.
#[derive(Debug, Clone, Serialize, SecurityConfig)]
pub struct RateLimitingConfig {
    /// Whether the login and request limits are enforced (in every profile).
    #[security(default = true)]
    pub enabled: bool,
    /// Login attempts allowed per username per window.
    #[security(default = 5, production = 3, range = 1..=1000)]
    pub login_attempts_limit: u32,
    /// The login window in seconds.
    #[security(default = 900, production = 1800, range = 1..=86_400)]
    pub login_attempts_window: u64,
    /// Login attempts allowed per client address (IPv6: per /64) per window, whatever the
    /// username: higher than the per-username limit, since an office may share one address.
    #[security(default = 20, range = 1..=100_000)]
    pub login_ip_attempts_limit: u32,
    /// GraphQL requests allowed per client address per window.
    #[security(default = 1000, range = 1..=1_000_000)]
    pub graphql_requests_limit: u32,
    /// The GraphQL request window in seconds.
    #[security(default = 3600, range = 1..=86_400)]
    pub graphql_requests_window: u64,
    /// With `store_url`: milliseconds for which an instance may spend request hits it took from
    /// Redis several at a time, instead of one round trip per request (0: every request asks
    /// Redis). Over any span the instances admit at most
    /// `graphql_requests_limit × lease / window` requests more than the exact limit (see
    /// `RedisRateLimiter::with_local_leases`).
    #[security(default = 100, range = 0..=1000)]
    pub graphql_requests_lease_ms: u64,
    /// Redis (`redis://...`) for the rate-limit counters, token revocations and audit alert
    /// windows, shared by every instance; unset: counters and windows in memory, revocations in
    /// the database. May hold a password.
    #[security(secret)]
    pub store_url: Option<Secret>,
}

/// Performance monitoring settings.
#[derive(Debug, Clone, Serialize, SecurityConfig)]
pub struct PerformanceConfig {
    /// Whether operations are timed (the slow-operation log).
    #[security(default = true)]
    pub enabled: bool,
    /// Operations slower than this many seconds are logged as `tracing` warnings.
    #[security(default = 1.0, range = 0.0..=600.0)]
    pub slow_query_threshold: f64,
}

/// Audit logging settings (the stack builds the logger with [`AuditSettings::logger_builder`]).
///
/// `Debug` shows the secrets as `[REDACTED]` and the webhook URL without its credentials.
#[derive(Clone, Serialize, SecurityConfig)]
#[security(validate = remote_backends_are_configured)]
pub struct AuditSettings {
    /// Whether events are recorded.
    #[security(default = true)]
    pub enabled: bool,
    /// Where events go: database, file, webhook, tracing, nats.
    #[security(default = [StorageBackend::Database], non_empty)]
    pub storage_backend: Vec<StorageBackend>,
    /// The JSON Lines file of the `file` backend.
    #[security(default = "audit.log")]
    pub log_file_path: PathBuf,
    /// The `file` backend's file is rotated (to `<path>.1`, `.2`, ...) before it would grow
    /// past this many bytes.
    #[security(default = 104_857_600, range = 4096..=1_099_511_627_776)]
    pub log_file_max_bytes: u64,
    /// Rotated files the `file` backend keeps; the oldest beyond them is deleted.
    #[security(default = 5, range = 1..=10_000)]
    pub log_file_max_files: u32,
    /// The encoding of the `file`, `webhook` and `nats` backends: `json` (the event as it is)
    /// or `ocsf` (OCSF 1.1, for a SIEM).
    #[security(default = ExportFormat::Json)]
    pub export_format: ExportFormat,
    /// A JSON Lines file for the events a sink refuses for good (dead letters). Unset: the
    /// `audit_dead_letters` table when `database` is a backend, else only the error log.
    pub dead_letter_path: Option<PathBuf>,
    /// Seconds `AuditLogger::flush` (and the flush before a report) waits for the sinks.
    #[security(default = 10, range = 1..=3600)]
    pub flush_timeout_secs: u32,
    /// The `webhook` backend's endpoint (https in production). Secret: the path of many
    /// webhooks (Slack's, Teams', a SIEM's ingest token) is their credential.
    #[security(secret, https_in_production)]
    pub webhook_url: Option<Secret>,
    /// Headers sent with each delivery, e.g. `Authorization`.
    #[security(secret)]
    pub webhook_headers: BTreeMap<String, Secret>,
    /// HMAC-SHA256 signing secret for deliveries.
    #[security(secret, generate)]
    pub webhook_secret: Option<Secret>,
    /// The `webhook` backend's spool: batches wait here (on disk) until delivered.
    #[security(default = "audit-spool", non_empty)]
    pub webhook_spool_dir: PathBuf,
    /// The `nats` backend's server, e.g. `nats://127.0.0.1:4222` (a secret: it may carry a
    /// user and password or a token). Needs the crate's `nats` feature.
    #[security(secret)]
    pub nats_url: Option<Secret>,
    /// The `nats` backend's JetStream stream, created (subjects `<prefix>.>`) if missing.
    #[security(default = "AUDIT", non_empty)]
    pub nats_stream: String,
    /// The `nats` backend publishes each event on `<prefix>.<event_type>`.
    #[security(default = "audit", non_empty)]
    pub nats_subject_prefix: String,
    /// The `nats` backend's spool: events wait here (on disk) until the server stored them.
    #[security(default = "audit-nats-spool", non_empty)]
    pub nats_spool_dir: PathBuf,
    /// Days events are kept in the database: the stack purges older ones at start and then
    /// hourly (`database` backend; files rotate by size instead).
    #[security(default = 365, development = 30, range = 1..=36_500)]
    pub retention_days: u32,
    /// Links every event into a hash chain before the sinks see it, so `audit verify` can
    /// prove the trail unchanged (see `audit::chain`).
    #[security(default = true)]
    pub hash_chain: bool,
    /// The secret the Ed25519 key that signs the chain's checkpoints is derived from
    /// (`audit key` prints its public half; unset: checkpoints are written unsigned).
    #[security(secret, generate)]
    pub checkpoint_signing_key: Option<Secret>,
    /// The verifying keys (64 hex digits, as `audit key` printed them) of earlier checkpoint
    /// signing keys, each optionally followed by `@` and the RFC 3339 time it was retired
    /// (`…@2026-12-01T00:00:00Z`): after a key rotation, the checkpoints they signed (before
    /// that time) still verify, in `audit verify` and on the dashboard. Public keys, not
    /// secrets.
    #[security(validate = verifying_keys)]
    pub checkpoint_previous_keys: Vec<String>,
    /// Events between two checkpoints of a chain.
    #[security(default = 10_000, range = 1..=10_000_000)]
    pub checkpoint_every_events: u32,
    /// Seconds between two checkpoints of a chain that is written to (and one at shutdown).
    #[security(default = 300, range = 1..=86_400)]
    pub checkpoint_interval_secs: u32,
    /// A JSON Lines file that every committed checkpoint is also appended to (fsynced), kept
    /// where whoever can write the database cannot (another host, append-only storage):
    /// `audit verify` checks the trail against it, so the newest events removed together
    /// with their checkpoints show as deleted. Unset: no copy.
    pub checkpoint_anchor_path: Option<PathBuf>,
    /// Alert thresholds.
    #[security(nested)]
    pub alert_thresholds: AlertThresholdsConfig,
}

impl std::fmt::Debug for AuditSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            enabled,
            storage_backend,
            log_file_path,
            log_file_max_bytes,
            log_file_max_files,
            export_format,
            dead_letter_path,
            flush_timeout_secs,
            webhook_url,
            webhook_headers,
            webhook_secret,
            webhook_spool_dir,
            nats_url,
            nats_stream,
            nats_subject_prefix,
            nats_spool_dir,
            retention_days,
            hash_chain,
            checkpoint_signing_key,
            checkpoint_previous_keys,
            checkpoint_every_events,
            checkpoint_interval_secs,
            checkpoint_anchor_path,
            alert_thresholds,
        } = self;
        f.debug_struct("AuditSettings")
            .field("enabled", enabled)
            .field("storage_backend", storage_backend)
            .field("log_file_path", log_file_path)
            .field("log_file_max_bytes", log_file_max_bytes)
            .field("log_file_max_files", log_file_max_files)
            .field("export_format", export_format)
            .field("dead_letter_path", dead_letter_path)
            .field("flush_timeout_secs", flush_timeout_secs)
            .field("webhook_url", webhook_url)
            .field("webhook_headers", webhook_headers)
            .field("webhook_secret", webhook_secret)
            .field("webhook_spool_dir", webhook_spool_dir)
            .field("nats_url", nats_url)
            .field("nats_stream", nats_stream)
            .field("nats_subject_prefix", nats_subject_prefix)
            .field("nats_spool_dir", nats_spool_dir)
            .field("retention_days", retention_days)
            .field("hash_chain", hash_chain)
            .field("checkpoint_signing_key", checkpoint_signing_key)
            .field("checkpoint_previous_keys", checkpoint_previous_keys)
            .field("checkpoint_every_events", checkpoint_every_events)
            .field("checkpoint_interval_secs", checkpoint_interval_secs)
            .field("checkpoint_anchor_path", checkpoint_anchor_path)
            .field("alert_thresholds", alert_thresholds)
            .finish()
    }
}

impl AuditSettings {
    /// A logger builder with these sinks and thresholds (add handlers or sinks, then
    /// `build()`); with `enabled = false`, a logger that records nothing and opens no sink.
    /// Secrets go from their [`Secret`] straight into the webhook sink, never through a
    /// plain `String` of this crate. Call it inside a Tokio runtime (the webhook sink starts
    /// its delivery task).
    pub fn logger_builder(&self, db: Option<DatabaseConnection>) -> Result<AuditLoggerBuilder, AuditConfigError> {
        let thresholds = AlertThresholds {
            failed_logins_per_hour: self.alert_thresholds.failed_logins_per_hour,
            suspicious_activity_per_day: self.alert_thresholds.suspicious_activity_per_day,
            rate_limit_hits_per_hour: self.alert_thresholds.rate_limit_hits_per_hour,
        };
        LoggerSettings {
            enabled: self.enabled,
            storage_backend: &self.storage_backend,
            log_file_path: &self.log_file_path,
            log_file_max_bytes: self.log_file_max_bytes,
            log_file_max_files: usize::try_from(self.log_file_max_files).unwrap_or(usize::MAX),
            webhook_url: self.webhook_url.as_ref().map(Secret::expose),
            webhook_headers: self.webhook_headers.iter().map(|(k, v)| (k.as_str(), v.expose())).collect(),
            webhook_secret: self.webhook_secret.as_ref().map(Secret::expose),
            webhook_spool_dir: &self.webhook_spool_dir,
            nats_url: self.nats_url.as_ref().map(Secret::expose),
            nats_stream: &self.nats_stream,
            nats_subject_prefix: &self.nats_subject_prefix,
            nats_spool_dir: &self.nats_spool_dir,
            export_format: self.export_format,
            alert_thresholds: thresholds,
            dead_letter_path: self.dead_letter_path.as_deref(),
            flush_timeout: std::time::Duration::from_secs(u64::from(self.flush_timeout_secs)),
            hash_chain: self.hash_chain,
            checkpoint_signing_key: self.checkpoint_signing_key.as_ref().map(Secret::expose),
            checkpoint_previous_keys: &self.checkpoint_previous_keys,
            checkpoint_every_events: u64::from(self.checkpoint_every_events),
            checkpoint_interval_secs: u64::from(self.checkpoint_interval_secs),
            checkpoint_anchor_path: self.checkpoint_anchor_path.as_deref(),
        }
        .logger_builder(db)
    }
}

fn remote_backends_are_configured(audit: &AuditSettings) -> Result<(), &'static str> {
    let uses = |backend| audit.storage_backend.contains(&backend);
    if uses(StorageBackend::Webhook) && audit.webhook_url.is_none() {
        Err("lists `webhook` in storage_backend but webhook_url is not set: set it (https://...) or remove `webhook`")
    } else if uses(StorageBackend::Nats) && audit.nats_url.is_none() {
        Err("lists `nats` in storage_backend but nats_url is not set: set it (nats://host:4222) or remove `nats`")
    } else if uses(StorageBackend::Webhook) && !cfg!(feature = "webhook") {
        Err(
            "lists `webhook` in storage_backend but the crate was built without its `webhook` feature: enable it or remove `webhook`",
        )
    } else if uses(StorageBackend::Nats) && !cfg!(feature = "nats") {
        Err(
            "lists `nats` in storage_backend but the crate was built without its `nats` feature: enable it or remove `nats`",
        )
    } else if uses(StorageBackend::Webhook)
        && uses(StorageBackend::Nats)
        && audit.webhook_spool_dir == audit.nats_spool_dir
    {
        // Each sink would deliver the other's batches.
        Err("webhook_spool_dir and nats_spool_dir are the same directory: give each backend its own spool")
    } else {
        Ok(())
    }
}

/// Alert thresholds of the audit pipeline.
#[derive(Debug, Clone, Serialize, SecurityConfig)]
pub struct AlertThresholdsConfig {
    /// Failed logins in any one hour.
    #[security(default = 10, range = 1..=1_000_000)]
    pub failed_logins_per_hour: u32,
    /// Suspicious-activity events in any 24 hours.
    #[security(default = 5, range = 1..=1_000_000)]
    pub suspicious_activity_per_day: u32,
    /// Rate-limit hits in any one hour.
    #[security(default = 50, range = 1..=1_000_000)]
    pub rate_limit_hits_per_hour: u32,
}

/// How SMS codes are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsProviderKind {
    /// No SMS: `setupSms` / `sendSmsCode` answer `SMS_UNAVAILABLE`.
    None,
    /// Printed to the log: development only (refused in production).
    Console,
    /// Twilio (`twilio_*` keys).
    Twilio,
    /// AWS SNS (`sns_*` keys); `aws_sns` is accepted too.
    Sns,
    /// The provider given to [`SecurityBuilder::sms_provider`](crate::stack::SecurityBuilder::sms_provider).
    Custom,
}

impl crate::config::ConfigValue for SmsProviderKind {
    fn expected() -> String {
        "one of \"none\", \"console\", \"twilio\", \"sns\" (or \"aws_sns\"), \"custom\"".to_owned()
    }
    fn from_toml(value: &toml_edit::Value) -> Option<Self> {
        Self::from_env(value.as_str()?)
    }
    fn from_env(text: &str) -> Option<Self> {
        match text.trim() {
            "none" => Some(SmsProviderKind::None),
            "console" => Some(SmsProviderKind::Console),
            "twilio" => Some(SmsProviderKind::Twilio),
            "sns" | "aws_sns" => Some(SmsProviderKind::Sns),
            "custom" => Some(SmsProviderKind::Custom),
            _ => None,
        }
    }
    fn to_toml(&self) -> Option<toml_edit::Value> {
        Some(toml_edit::Value::from(self.name()))
    }
    fn to_json_redacted(&self) -> serde_json::Value {
        serde_json::Value::from(self.name())
    }
}

impl SmsProviderKind {
    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            SmsProviderKind::None => "none",
            SmsProviderKind::Console => "console",
            SmsProviderKind::Twilio => "twilio",
            SmsProviderKind::Sns => "sns",
            SmsProviderKind::Custom => "custom",
        }
    }
}

/// MFA settings; the stack builds [`MfaConfig`](crate::mfa::MfaConfig) from them.
#[derive(Debug, Clone, Serialize, SecurityConfig)]
pub struct MfaSettings {
    /// Whether MFA is required of users with a confirmed factor (and of `required_for_roles`);
    /// when false, enrolment still works but nobody is asked for a second factor.
    #[security(default = true, development = false)]
    pub enabled: bool,
    /// The issuer shown in authenticator apps (no `:`).
    #[security(default = "rail-graphql-security", validate = bounds::check_totp_issuer)]
    pub issuer: String,
    /// TOTP code length: 6 or 8.
    #[security(default = 6, validate = bounds::check_totp_digits)]
    pub digits: u32,
    /// TOTP step in seconds.
    #[security(default = 30, range = bounds::MIN_TOTP_PERIOD..=bounds::MAX_TOTP_PERIOD)]
    pub period: u64,
    /// Backup codes generated per user.
    #[security(default = 10, range = bounds::MIN_BACKUP_CODES..=bounds::MAX_BACKUP_CODES)]
    pub backup_codes_count: u32,
    /// Characters per backup code.
    #[security(default = 8, range = bounds::MIN_BACKUP_CODE_LENGTH..=bounds::MAX_BACKUP_CODE_LENGTH)]
    pub backup_code_length: u32,
    /// Days a trusted device skips MFA.
    #[security(default = 30, range = bounds::MIN_TRUSTED_DEVICE_DAYS..=bounds::MAX_TRUSTED_DEVICE_DAYS)]
    pub trusted_device_days: u32,
    /// Roles whose holders must pass a second factor even before enrolling (e.g. `["admin"]`).
    pub required_for_roles: Vec<String>,
    /// Consecutive failed codes (across lockout windows; only a success resets the count)
    /// after which TOTP and SMS codes are refused until a backup code or an administrator
    /// unlocks the account (NIST SP 800-63B: at most 100).
    #[security(default = 100, range = 1..=100)]
    pub max_consecutive_failures: u32,
    /// Unconfirmed TOTP and SMS enrolments a user may have at once.
    #[security(default = 3, range = 1..=20)]
    pub max_pending_devices: u32,
    /// What a password-only session of a user with a second factor may do: `strict` (default,
    /// "highest available": only complete the second factor, read `mfaStatus`, log out) or
    /// `lenient` (a full session except for MFA-protected fields and factor changes).
    #[security(default = MfaPolicy::HighestAvailable)]
    pub pending_session_policy: MfaPolicy,
    /// Seconds within which a second factor the user passed (TOTP, SMS, backup code, passkey; never a trusted
    /// device) must have been passed to change factors (step-up).
    #[security(
        default = 600,
        range = bounds::MIN_STEP_UP_WINDOW_SECONDS..=bounds::MAX_STEP_UP_WINDOW_SECONDS
    )]
    pub step_up_window_seconds: u64,
    /// SMS delivery.
    #[security(nested)]
    pub sms: SmsConfig,
    /// Passkeys (WebAuthn).
    #[security(nested)]
    pub passkeys: PasskeySettings,
    /// Key encrypting TOTP secrets at rest: 32 random bytes in standard base64
    /// (`openssl rand -base64 32`).
    #[security(secret, generate)]
    pub encryption_key: Option<Base64Key>,
    /// Former encryption keys, still accepted for reading until
    /// [`MfaManager::reencrypt_secrets`](crate::mfa::MfaManager::reencrypt_secrets) has moved
    /// every secret to `encryption_key` (key rotation).
    #[security(secret)]
    pub previous_encryption_keys: Vec<Base64Key>,
}

/// Passkey (WebAuthn) settings: the relying party. Passkeys are off until `rp_id` is set.
#[derive(Debug, Clone, Serialize, SecurityConfig)]
pub struct PasskeySettings {
    /// The relying-party id: the domain passkeys are bound to (e.g. `example.com`; `localhost`
    /// in development). Unset: passkeys are off.
    pub rp_id: Option<String>,
    /// The name authenticators show next to the passkey.
    #[security(default = "rail-graphql-security")]
    pub rp_name: String,
    /// The origins pages run passkey ceremonies from (e.g. `https://app.example.com`): each
    /// host is `rp_id` or a subdomain of it, the port must match, and `http` is only for
    /// `localhost`.
    pub origins: Vec<String>,
    /// Seconds a begun ceremony may be finished in.
    #[security(default = 300, range = 30..=600)]
    pub ceremony_ttl_seconds: u64,
}

/// SMS provider settings.
#[derive(Debug, Clone, Serialize, SecurityConfig)]
pub struct SmsConfig {
    /// none, console (development only), twilio, sns (or aws_sns), or custom (the provider
    /// registered on the stack builder).
    #[security(default = SmsProviderKind::None, development = SmsProviderKind::Console)]
    pub provider: SmsProviderKind,
    /// Twilio account SID.
    pub twilio_account_sid: Option<String>,
    /// Twilio auth token.
    #[security(secret)]
    pub twilio_auth_token: Option<Secret>,
    /// Sender number for Twilio.
    pub twilio_from_number: Option<String>,
    /// AWS region for SNS.
    pub sns_region: Option<String>,
    /// AWS access key id for SNS.
    pub sns_access_key_id: Option<String>,
    /// AWS secret access key for SNS.
    #[security(secret)]
    pub sns_secret_access_key: Option<Secret>,
    /// Minutes an SMS code stays valid.
    #[security(default = 10, range = bounds::MIN_SMS_CODE_TTL_MINUTES..=bounds::MAX_SMS_CODE_TTL_MINUTES)]
    pub code_ttl_minutes: u32,
    /// Country calling codes SMS may be sent to, without `+` (e.g. `["1", "33"]`); empty: all
    /// (`security_check` warns in production when a provider sends: SMS pumping).
    #[security(validate = country_codes)]
    pub allowed_country_codes: Vec<String>,
    /// SMS sent per user per `quota_window` (setup, resend and login codes alike).
    #[security(default = 3, range = 1..=1000)]
    pub quota_per_user: u32,
    /// SMS sent per destination number per `quota_window`.
    #[security(default = 3, range = 1..=1000)]
    pub quota_per_number: u32,
    /// SMS sent per client address (IPv6: per /64) per `quota_window`.
    #[security(default = 10, range = 1..=100_000)]
    pub quota_per_address: u32,
    /// SMS sent by the whole application per `quota_window`.
    #[security(default = 100, range = 1..=10_000_000)]
    pub quota_global: u32,
    /// The SMS quotas' window in seconds.
    #[security(default = 3600, range = 1..=604_800)]
    pub quota_window: u64,
}

#[expect(clippy::ptr_arg, reason = "the config derive passes `&FieldType`")]
fn verifying_keys(keys: &Vec<String>) -> Result<(), String> {
    crate::audit::checkpoint::parse_previous_keys(keys)
        .map(drop)
        .map_err(|e| format!("has {e}; list the verifying keys that `audit key` printed"))
}

#[expect(clippy::ptr_arg, reason = "the config derive passes `&FieldType`")]
fn country_codes(codes: &Vec<String>) -> Result<(), String> {
    match codes.iter().find(|c| c.is_empty() || c.len() > 3 || !c.bytes().all(|b| b.is_ascii_digit())) {
        Some(bad) => {
            Err(format!("has `{bad}`: write calling codes as 1 to 3 digits without `+`, e.g. [\"1\", \"33\"]"))
        }
        None => Ok(()),
    }
}

/// SameSite cookie attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SameSite {
    /// Sent on same-site requests only.
    Strict,
    /// Also on top-level navigations.
    Lax,
    /// On every request (requires Secure).
    None,
}

crate::config_enum!(SameSite { Strict => "strict", Lax => "lax", None => "none" });

/// Deployment settings: the analogues of Django's `check --deploy`, and GraphQL exposure.
#[derive(Debug, Clone, Serialize, SecurityConfig)]
#[security(validate = proxies_need_behind_proxy)]
pub struct DeploymentConfig {
    /// Redirect plain-http requests to https (HTTP 308). Behind a proxy, the scheme is the
    /// `X-Forwarded-Proto` of a trusted proxy.
    #[security(default = true, development = false)]
    pub https_redirect: bool,
    /// `Strict-Transport-Security` max-age in seconds (0 = no header).
    #[security(default = 31_536_000, development = 0)]
    pub hsts_seconds: u64,
    /// HSTS `includeSubDomains`.
    #[security(default = true, development = false)]
    pub hsts_include_subdomains: bool,
    /// HSTS `preload`.
    #[security(default = false, production = true)]
    pub hsts_preload: bool,
    /// Cookies carry `Secure` (the dashboard's session cookie; [`Security::cookie_policy`](crate::stack::Security::cookie_policy)).
    #[security(default = true, development = false)]
    pub cookie_secure: bool,
    /// Cookies carry `HttpOnly`.
    #[security(default = true)]
    pub cookie_http_only: bool,
    /// Cookies' `SameSite`: strict, lax or none.
    #[security(default = SameSite::Lax)]
    pub cookie_same_site: SameSite,
    /// Host names the server answers to (`Host` header, port ignored; `*` = any, `.example.com`
    /// = it and its subdomains); any other gets HTTP 400. Empty = any host, refused in production.
    #[security(development = ["localhost", "127.0.0.1"])]
    pub allowed_hosts: Vec<String>,
    /// Origins allowed by CORS (https in production); empty = no CORS headers.
    #[security(development = ["http://localhost:3000"], https_in_production)]
    pub allowed_origins: Vec<String>,
    /// Whether CORS allows credentials (cookies, `Authorization`).
    #[security(default = false)]
    pub cors_allow_credentials: bool,
    /// `X-Frame-Options` value.
    #[security(default = "DENY", non_empty)]
    pub x_frame_options: String,
    /// `X-Content-Type-Options: nosniff`.
    #[security(default = true)]
    pub content_type_nosniff: bool,
    /// `Referrer-Policy` value.
    #[security(default = "strict-origin-when-cross-origin", non_empty)]
    pub referrer_policy: String,
    /// Signs tokens (HS256; at least 32 bytes, 50+ characters recommended).
    #[security(secret, generate)]
    pub secret_key: Option<Secret>,
    /// Whether the server runs behind a reverse proxy or load balancer (then list it in
    /// `trusted_proxies`).
    #[security(default = false)]
    pub behind_proxy: bool,
    /// Proxy addresses or CIDR networks whose `X-Forwarded-For` / `X-Forwarded-Proto` are
    /// believed (read only when `behind_proxy`).
    #[security(validate = valid_proxies)]
    pub trusted_proxies: Vec<String>,
    /// GraphQL introspection.
    #[security(default = false, development = true)]
    pub introspection: bool,
    /// The GraphiQL page on `GET /graphql`.
    #[security(default = false, development = true)]
    pub playground: bool,
    /// Maximum query depth.
    #[security(default = 15, production = 10, range = 1..=100)]
    pub max_query_depth: u32,
    /// How many times one field (`Type.field`, aliases included) may be selected per request
    /// (0: no limit); expensive fields get their own price and limit in code.
    #[security(default = 10, range = 0..=100_000)]
    pub max_field_occurrences: u32,
    /// Maximum query complexity.
    #[security(default = 1000, range = 1..=1_000_000)]
    pub max_query_complexity: u32,
    /// Largest request body in bytes; a larger one gets HTTP 413.
    #[security(default = 1_048_576, range = 1024..=1_073_741_824)]
    pub max_request_body_bytes: u64,
    /// Whether GraphQL multipart requests (file uploads) are accepted; when false they get
    /// HTTP 415.
    #[security(default = false)]
    pub multipart: bool,
}

fn valid_proxies(proxies: &Vec<String>) -> Result<(), crate::client_ip::InvalidProxy> {
    crate::client_ip::TrustedProxies::parse(proxies).map(drop)
}

fn proxies_need_behind_proxy(d: &DeploymentConfig) -> Result<(), &'static str> {
    match (d.behind_proxy, d.trusted_proxies.is_empty()) {
        (true, true) => Err("sets behind_proxy but no trusted_proxies: list the proxies' addresses"),
        (false, false) => {
            Err("lists trusted_proxies but behind_proxy is false: set behind_proxy = true or empty the list")
        }
        _ => Ok(()),
    }
}
