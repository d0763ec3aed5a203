//! The standard config: the original package's `SecurityConfig` sections (middleware, audit,
//! MFA) plus the deployment settings a deploy check needs.

mod checks;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::SecurityConfig;
use crate::audit::{AlertThresholds, AuditConfig, ExportFormat, StorageBackend};
use crate::config::Secret;

crate::config_enum!(StorageBackend {
    Database => "database",
    File => "file",
    Webhook => "webhook",
    Tracing => "tracing",
});

crate::config_enum!(ExportFormat { Json => "json", Ocsf => "ocsf" });

/// The plugin's standard security config. Env vars: `RAIL_SECURITY__SECTION__KEY`, e.g.
/// `RAIL_SECURITY__MIDDLEWARE__RATE_LIMITING__ENABLED=true`.
///
/// ```
/// use rail_graphql_security::config::{Profile, SecurityConfig, StandardSecurityConfig};
///
/// let dev = StandardSecurityConfig::defaults(&Profile::Development);
/// let prod = StandardSecurityConfig::defaults(&Profile::Production);
/// assert!(!dev.get_middleware_config().rate_limiting.enabled);
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
    /// The `Authorization` scheme, e.g. `Bearer`.
    #[security(default = "Bearer", non_empty)]
    pub jwt_header_prefix: String,
    /// Seconds a resolved user is cached.
    #[security(default = 300, range = 0..=86_400)]
    pub user_cache_timeout: u64,
    /// Whether security headers are added to responses.
    #[security(default = true)]
    pub security_headers: bool,
}

/// Rate limiting settings.
#[derive(Debug, Clone, Serialize, SecurityConfig)]
pub struct RateLimitingConfig {
    /// Whether rate limits are enforced.
    #[security(default = true)]
    pub enabled: bool,
    /// Failed logins allowed per username per window.
    #[security(default = 5, production = 3, range = 1..=1000)]
    pub login_attempts_limit: u32,
    /// Login attempts allowed per client address per window (an office behind one NAT signs
    /// in more than one person).
    #[security(default = 20, range = 1..=100_000)]
    pub login_ip_attempts_limit: u32,
    /// The login window in seconds.
    #[security(default = 900, production = 1800, range = 1..=86_400)]
    pub login_attempts_window: u64,
    /// GraphQL requests allowed per client address per window.
    #[security(default = 1000, range = 1..=1_000_000)]
    pub graphql_requests_limit: u32,
    /// The GraphQL request window in seconds.
    #[security(default = 3600, range = 1..=86_400)]
    pub graphql_requests_window: u64,
    /// How many app instances share the limits (more than one needs `store_url`).
    #[security(default = 1, range = 1..=10_000)]
    pub instances: u32,
    /// The shared counter store (e.g. `redis://...`); may hold a password.
    #[security(secret)]
    pub store_url: Option<Secret>,
}

/// Performance monitoring settings.
#[derive(Debug, Clone, Serialize, SecurityConfig)]
pub struct PerformanceConfig {
    /// Whether queries are timed.
    #[security(default = true)]
    pub enabled: bool,
    /// Queries slower than this many seconds are reported.
    #[security(default = 1.0, range = 0.0..=600.0)]
    pub slow_query_threshold: f64,
    /// Whether memory use is tracked.
    #[security(default = true, production = false)]
    pub track_memory_usage: bool,
}

/// Audit logging settings (build the logger with [`AuditSettings::to_audit_config`]).
#[derive(Debug, Clone, Serialize, SecurityConfig)]
#[security(validate = webhook_backend_has_url)]
pub struct AuditSettings {
    /// Whether events are recorded.
    #[security(default = true)]
    pub enabled: bool,
    /// Where events go: database, file, webhook, tracing.
    #[security(default = [StorageBackend::Database], non_empty)]
    pub storage_backend: Vec<StorageBackend>,
    /// The JSON Lines file of the `file` backend.
    #[security(default = "audit.log")]
    pub log_file_path: PathBuf,
    /// The `webhook` backend's endpoint (https in production).
    #[security(https_in_production)]
    pub webhook_url: Option<String>,
    /// Headers sent with each delivery, e.g. `Authorization`.
    #[security(secret)]
    pub webhook_headers: BTreeMap<String, Secret>,
    /// HMAC-SHA256 signing secret for deliveries.
    #[security(secret, generate)]
    pub webhook_secret: Option<Secret>,
    /// Days events are kept.
    #[security(default = 365, development = 30, range = 1..=36_500)]
    pub retention_days: u32,
    /// Alert thresholds.
    #[security(nested)]
    pub alert_thresholds: AlertThresholdsConfig,
}

impl AuditSettings {
    /// The [`AuditConfig`] that builds an [`AuditLogger`](crate::audit::AuditLogger).
    pub fn to_audit_config(&self) -> AuditConfig {
        AuditConfig {
            enabled: self.enabled,
            storage_backend: self.storage_backend.clone(),
            log_file_path: self.log_file_path.clone(),
            webhook_url: self.webhook_url.clone(),
            webhook_headers: self.webhook_headers.iter().map(|(k, v)| (k.clone(), v.expose().to_owned())).collect(),
            webhook_secret: self.webhook_secret.as_ref().map(|s| s.expose().to_owned()),
            retention_days: self.retention_days,
            alert_thresholds: AlertThresholds {
                failed_logins_per_hour: self.alert_thresholds.failed_logins_per_hour,
                suspicious_activity_per_day: self.alert_thresholds.suspicious_activity_per_day,
                rate_limit_hits_per_hour: self.alert_thresholds.rate_limit_hits_per_hour,
            },
            ..AuditConfig::default()
        }
    }
}

fn webhook_backend_has_url(audit: &AuditSettings) -> Result<(), &'static str> {
    if audit.storage_backend.contains(&StorageBackend::Webhook) && audit.webhook_url.is_none() {
        Err("lists `webhook` in storage_backend but webhook_url is not set: set it (https://...) or remove `webhook`")
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
pub enum SmsProvider {
    /// Printed to the log: development only.
    Console,
    /// Twilio.
    Twilio,
    /// AWS SNS.
    Sns,
}

crate::config_enum!(SmsProvider { Console => "console", Twilio => "twilio", Sns => "sns" });

/// MFA settings.
#[derive(Debug, Clone, Serialize, SecurityConfig)]
pub struct MfaSettings {
    /// Whether MFA is offered and enforced where required.
    #[security(default = true, development = false)]
    pub enabled: bool,
    /// The issuer shown in authenticator apps.
    #[security(default = "rail-graphql-security", non_empty)]
    pub issuer: String,
    /// TOTP code length.
    #[security(default = 6, range = 6..=8)]
    pub digits: u32,
    /// TOTP step in seconds.
    #[security(default = 30, range = 15..=120)]
    pub period: u64,
    /// Backup codes generated per user.
    #[security(default = 10, range = 1..=50)]
    pub backup_codes_count: u32,
    /// Characters per backup code.
    #[security(default = 8, range = 6..=32)]
    pub backup_code_length: u32,
    /// Days a trusted device skips MFA (0 = never trusted).
    #[security(default = 30, range = 0..=365)]
    pub trusted_device_days: u32,
    /// SMS delivery.
    #[security(nested)]
    pub sms: SmsConfig,
    /// Key encrypting TOTP secrets at rest (at least 32 characters).
    #[security(secret, generate)]
    pub encryption_key: Option<Secret>,
}

/// SMS provider settings.
#[derive(Debug, Clone, Serialize, SecurityConfig)]
pub struct SmsConfig {
    /// console, twilio or sns.
    #[security(default = SmsProvider::Console)]
    pub provider: SmsProvider,
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
    #[security(default = 10, range = 1..=60)]
    pub code_ttl_minutes: u32,
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
pub struct DeploymentConfig {
    /// Redirect http to https.
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
    /// Cookies carry `Secure`.
    #[security(default = true, development = false)]
    pub cookie_secure: bool,
    /// Cookies carry `HttpOnly`.
    #[security(default = true)]
    pub cookie_http_only: bool,
    /// Cookies' `SameSite`: strict, lax or none.
    #[security(default = SameSite::Lax)]
    pub cookie_same_site: SameSite,
    /// Host names the server answers to.
    #[security(development = ["localhost", "127.0.0.1"])]
    pub allowed_hosts: Vec<String>,
    /// Origins allowed by CORS (https in production).
    #[security(development = ["http://localhost:3000"], https_in_production)]
    pub allowed_origins: Vec<String>,
    /// Whether CORS allows credentials.
    #[security(default = false)]
    pub cors_allow_credentials: bool,
    /// `X-Frame-Options` value.
    #[security(default = "DENY")]
    pub x_frame_options: String,
    /// `X-Content-Type-Options: nosniff`.
    #[security(default = true)]
    pub content_type_nosniff: bool,
    /// `Referrer-Policy` value.
    #[security(default = "strict-origin-when-cross-origin")]
    pub referrer_policy: String,
    /// Signs sessions and tokens (at least 50 characters).
    #[security(secret, generate)]
    pub secret_key: Option<Secret>,
    /// Whether the server runs behind a reverse proxy or load balancer.
    #[security(default = false)]
    pub behind_proxy: bool,
    /// Proxy addresses whose `X-Forwarded-For` is trusted.
    pub trusted_proxies: Vec<String>,
    /// GraphQL introspection.
    #[security(default = false, development = true)]
    pub introspection: bool,
    /// The GraphQL playground / GraphiQL page.
    #[security(default = false, development = true)]
    pub playground: bool,
    /// Maximum query depth.
    #[security(default = 15, production = 10, range = 1..=100)]
    pub max_query_depth: u32,
    /// Maximum query complexity.
    #[security(default = 1000, range = 1..=1_000_000)]
    pub max_query_complexity: u32,
    /// Debug output (stack traces in errors).
    #[security(default = false, development = true)]
    pub debug: bool,
}
