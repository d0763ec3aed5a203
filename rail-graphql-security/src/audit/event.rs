//! The audit event: what happened, to whom, from where, and when.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::chain::ChainLink;
use super::logger::AuditUser;
use super::mask::mask_details;

/// What kind of security event happened.
///
/// Every variant has a stable snake_case name (`login_failed`, `mfa_success`, ...) used in
/// storage, JSON export and configuration; the names follow the original package and the OWASP
/// logging vocabulary. [`AuditEventType::Custom`] carries an application-defined name.
///
/// ```
/// use rail_graphql_security::audit::{AuditEventType, AuditSeverity};
///
/// let t: AuditEventType = "login_failed".parse().unwrap();
/// assert_eq!(t, AuditEventType::LoginFailed);
/// assert_eq!(t.default_severity(), AuditSeverity::Medium);
/// assert_eq!(AuditEventType::Custom("export_requested".into()).as_str(), "export_requested");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditEventType {
    /// A user authenticated successfully.
    LoginSuccess,
    /// An authentication attempt failed.
    LoginFailed,
    /// A user logged out.
    Logout,
    /// A session or access token was issued.
    TokenCreated,
    /// A token was refreshed.
    TokenRefreshed,
    /// A token was presented after it expired.
    TokenExpired,
    /// A token was revoked.
    TokenRevoked,
    /// Behaviour that looks like an attack (enumeration, brute force, tampering).
    SuspiciousActivity,
    /// A rate limit was hit.
    RateLimitExceeded,
    /// A request was refused for lack of authentication or permission.
    UnauthorizedAccess,
    /// A second factor was enrolled.
    MfaEnabled,
    /// A second factor was removed.
    MfaDisabled,
    /// A second factor was verified.
    MfaSuccess,
    /// A second-factor verification failed.
    MfaFailed,
    /// An account was locked (e.g. after too many failed attempts).
    AccountLocked,
    /// A record was created.
    DataCreated,
    /// A record was updated.
    DataUpdated,
    /// A record was deleted.
    DataDeleted,
    /// An application-defined event type (a snake_case name is recommended).
    Custom(String),
}

impl AuditEventType {
    /// Every built-in type, in declaration order.
    pub const BUILT_IN: [AuditEventType; 18] = [
        Self::LoginSuccess,
        Self::LoginFailed,
        Self::Logout,
        Self::TokenCreated,
        Self::TokenRefreshed,
        Self::TokenExpired,
        Self::TokenRevoked,
        Self::SuspiciousActivity,
        Self::RateLimitExceeded,
        Self::UnauthorizedAccess,
        Self::MfaEnabled,
        Self::MfaDisabled,
        Self::MfaSuccess,
        Self::MfaFailed,
        Self::AccountLocked,
        Self::DataCreated,
        Self::DataUpdated,
        Self::DataDeleted,
    ];

    /// The stable name stored in the database and written in exports.
    pub fn as_str(&self) -> &str {
        match self {
            Self::LoginSuccess => "login_success",
            Self::LoginFailed => "login_failed",
            Self::Logout => "logout",
            Self::TokenCreated => "token_created",
            Self::TokenRefreshed => "token_refreshed",
            Self::TokenExpired => "token_expired",
            Self::TokenRevoked => "token_revoked",
            Self::SuspiciousActivity => "suspicious_activity",
            Self::RateLimitExceeded => "rate_limit_exceeded",
            Self::UnauthorizedAccess => "unauthorized_access",
            Self::MfaEnabled => "mfa_enabled",
            Self::MfaDisabled => "mfa_disabled",
            Self::MfaSuccess => "mfa_success",
            Self::MfaFailed => "mfa_failed",
            Self::AccountLocked => "account_locked",
            Self::DataCreated => "data_created",
            Self::DataUpdated => "data_updated",
            Self::DataDeleted => "data_deleted",
            Self::Custom(name) => name,
        }
    }

    /// The severity an event of this type gets unless the caller chooses another.
    pub fn default_severity(&self) -> AuditSeverity {
        use AuditSeverity::*;
        match self {
            Self::LoginSuccess
            | Self::Logout
            | Self::TokenCreated
            | Self::TokenRefreshed
            | Self::TokenExpired
            | Self::MfaSuccess
            | Self::DataCreated
            | Self::DataUpdated
            | Self::Custom(_) => Low,
            Self::LoginFailed
            | Self::TokenRevoked
            | Self::RateLimitExceeded
            | Self::MfaEnabled
            | Self::MfaFailed
            | Self::DataDeleted => Medium,
            Self::SuspiciousActivity | Self::UnauthorizedAccess | Self::MfaDisabled | Self::AccountLocked => High,
        }
    }
}

impl fmt::Display for AuditEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditEventType {
    type Err = std::convert::Infallible;

    /// Built-in names map to their variant; any other name becomes [`AuditEventType::Custom`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::BUILT_IN.iter().find(|t| t.as_str() == s).cloned().unwrap_or_else(|| Self::Custom(s.to_owned())))
    }
}

impl Serialize for AuditEventType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuditEventType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = Cow::<'de, str>::deserialize(deserializer)?;
        Ok(name.parse().unwrap_or_else(|never| match never {}))
    }
}

/// How serious an event is. Ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditSeverity {
    /// Routine, expected activity.
    Low,
    /// Worth reviewing.
    Medium,
    /// Needs attention; alert handlers are called.
    High,
    /// Needs attention now; alert handlers are called.
    Critical,
}

impl AuditSeverity {
    /// The stable lowercase name (`low`, `medium`, `high`, `critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for AuditSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a severity name that is not one of `low`, `medium`, `high`, `critical`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown audit severity `{0}`: use one of low, medium, high, critical")]
pub struct UnknownSeverity(pub String);

impl FromStr for AuditSeverity {
    type Err = UnknownSeverity;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            "critical" => Ok(Self::Critical),
            _ => Err(UnknownSeverity(s.to_owned())),
        }
    }
}

/// One security event.
///
/// `actor_id` and `actor_name` are a snapshot, not a foreign key: audit rows outlive the users
/// they mention and are never rewritten when a user is deleted or renamed.
///
/// The JSON shape (`serde_json::to_string(&event)`) is the documented export format:
///
/// ```json
/// {"id":"0192…","event_type":"login_failed","severity":"medium",
///  "timestamp":"2026-11-28T04:20:00.123456Z","actor_id":null,"actor_name":"alice",
///  "client_ip":"203.0.113.9","user_agent":"curl/8.0","request_id":"req-1",
///  "details":{"reason":"invalid password"},
///  "chain":{"id":"0192…","seq":42,"prev":"<64 hex>","hash":"<64 hex>","fields":"<40 hex>"}}
/// ```
///
/// `chain` is the event's [`ChainLink`] (absent when the hash chain is off); an exported file
/// with it verifies on its own (`rail-security audit verify --export FILE`).
///
/// ```
/// use rail_graphql_security::audit::{AuditEvent, AuditEventType, AuditSeverity};
///
/// let event = AuditEvent::new(AuditEventType::LoginFailed)
///     .actor_name("alice")
///     .client_ip("203.0.113.9".parse().ok())
///     .details(serde_json::json!({"reason": "invalid password", "password": "hunter2"}));
/// assert_eq!(event.severity, AuditSeverity::Medium);
/// // Secrets never make it into an event, not even into its Debug output.
/// assert_eq!(event.details["password"], "***");
/// assert!(!format!("{event:?}").contains("hunter2"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Unique id (UUIDv7, time-ordered); sinks and receivers use it to drop duplicates.
    pub id: Uuid,
    /// What happened.
    pub event_type: AuditEventType,
    /// How serious it is.
    pub severity: AuditSeverity,
    /// When it happened, in UTC.
    pub timestamp: DateTime<Utc>,
    /// The acting user's id, as text (any primary-key type fits).
    pub actor_id: Option<String>,
    /// The acting user's name at the time of the event (or the name tried, for a failed login).
    pub actor_name: Option<String>,
    /// The client's address, as resolved by the proxy-aware request context.
    pub client_ip: Option<IpAddr>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// A request or correlation id tying events of one request together.
    pub request_id: Option<String>,
    /// Structured, event-specific data. Values under secret-looking keys are masked.
    pub details: serde_json::Value,
    /// The event's place in its writer's hash chain, set by the logger's dispatcher before any
    /// sink sees the event (a link set by the caller is replaced); `None` when the chain is off
    /// ([`AuditLoggerBuilder::hash_chain`](crate::audit::AuditLoggerBuilder::hash_chain)) and
    /// for events that never went through a logger. See [`crate::audit::chain`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainLink>,
}

impl AuditEvent {
    /// A new event of `event_type`, now, with its default severity and empty details.
    pub fn new(event_type: AuditEventType) -> Self {
        Self {
            id: Uuid::now_v7(),
            severity: event_type.default_severity(),
            event_type,
            timestamp: Utc::now().trunc_subsecs(6),
            actor_id: None,
            actor_name: None,
            client_ip: None,
            user_agent: None,
            request_id: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
            chain: None,
        }
    }

    /// Sets the severity.
    pub fn severity(mut self, severity: AuditSeverity) -> Self {
        self.severity = severity;
        self
    }

    /// Sets the timestamp (for imports and tests; events are stamped on creation).
    /// Sub-microsecond digits are dropped, as every backend stores microseconds.
    pub fn at(mut self, timestamp: DateTime<Utc>) -> Self {
        self.timestamp = timestamp.trunc_subsecs(6);
        self
    }

    /// Sets the actor's id and name snapshot from a user.
    pub fn actor(mut self, user: &dyn AuditUser) -> Self {
        self.actor_id = Some(user.audit_id());
        self.actor_name = user.audit_name();
        self
    }

    /// Sets the actor's id snapshot.
    pub fn actor_id(mut self, id: impl ToString) -> Self {
        self.actor_id = Some(id.to_string());
        self
    }

    /// Sets the actor's name snapshot (for a failed login: the name that was tried).
    pub fn actor_name(mut self, name: impl Into<String>) -> Self {
        self.actor_name = Some(name.into());
        self
    }

    /// Sets the client address.
    pub fn client_ip(mut self, ip: Option<IpAddr>) -> Self {
        self.client_ip = ip;
        self
    }

    /// Sets the user agent.
    pub fn user_agent(mut self, user_agent: Option<impl Into<String>>) -> Self {
        self.user_agent = user_agent.map(Into::into);
        self
    }

    /// Sets the request / correlation id.
    pub fn request_id(mut self, request_id: Option<impl Into<String>>) -> Self {
        self.request_id = request_id.map(Into::into);
        self
    }

    /// Sets the details; values under secret-looking keys are masked on the way in.
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        mask_details(&mut self.details);
        self
    }

    /// Masks secret-looking values in `details` (the logger calls this on every event, so
    /// events whose fields were set directly are covered too).
    pub fn mask_secrets(&mut self) {
        mask_details(&mut self.details);
    }
}
