//! Runtime support of the resolver attributes `#[require_mfa]` and `#[audited]`.
//!
//! The attributes expand to calls into this module; you can call it by hand too, e.g. from a
//! resolver that cannot carry an attribute:
//!
//! - [`require_mfa`] checks an [`MfaPolicy`] against the request's [`SecurityContext`] and
//!   audits a refusal as `unauthorized_access` (exactly one event per refusal);
//! - [`AuditedCall`] records one event per resolver call: name, severity, actor, ip, listed
//!   arguments (secret-looking ones masked), outcome (`ok` or the error's `code`) and duration.
//!
//! Both read the [`AuditLogger`] from the schema (or request) data; without one, nothing is
//! logged and checks still apply. The third attribute, `#[rate_limit]`, expands to
//! [`rate_limit::enforce_resolver`](crate::rate_limit::enforce_resolver).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
//! use rail_graphql_security::context::{MfaState, Principal, SecurityContext};
//! use rail_graphql_security::resolver::{MfaPolicy, require_mfa};
//!
//! struct Query;
//! #[Object]
//! impl Query {
//!     async fn payout(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<u32> {
//!         let policy = MfaPolicy::new().max_age(Duration::from_secs(900));
//!         require_mfa(ctx, "Query", "payout", &policy)?;
//!         Ok(42)
//!     }
//! }
//!
//! let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
//! let alice = SecurityContext::authenticated(Principal::new(1, "alice")).with_mfa_methods(["totp"]);
//! let refused = schema.execute(async_graphql::Request::new("{ payout }").data(alice.clone())).await;
//! assert_eq!(refused.errors[0].extensions.as_ref().unwrap().get("code").unwrap().to_string(), "\"MFA_REQUIRED\"");
//!
//! let verified = alice.with_mfa(MfaState::verified(chrono::Utc::now(), "totp"));
//! let ok = schema.execute(async_graphql::Request::new("{ payout }").data(verified)).await;
//! assert!(ok.errors.is_empty());
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

use async_graphql::{Context, ErrorExtensions, InputType};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::audit::{AuditEvent, AuditEventType, AuditLogger, AuditSeverity};
use crate::context::{AccessDenied, MfaLevel, SecurityContext, audit_denial};

/// A second-factor method a policy can accept (the `methods(...)` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MfaMethod {
    /// A time-based one-time password (authenticator app).
    Totp,
    /// A code sent by SMS.
    Sms,
    /// A one-time backup code.
    BackupCode,
}

impl MfaMethod {
    /// The name used in [`MfaState::method`](crate::context::MfaState::method) and in
    /// `MFA_REQUIRED` errors: `totp`, `sms`, `backup_code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Sms => "sms",
            Self::BackupCode => "backup_code",
        }
    }
}

impl fmt::Display for MfaMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `#[require_mfa(...)]` (and [`RequireMfa`](crate::guard::RequireMfa)) demands of the
/// caller's second factor.
///
/// The default accepts any method, any age, and a trusted device standing in for the second
/// factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaPolicy {
    /// The second factor must have been passed at most this long ago (step-up).
    pub max_age: Option<Duration>,
    /// Whether a trusted device standing in for the second factor is enough.
    pub allow_trusted_device: bool,
    /// The methods that count; empty means every method.
    pub methods: &'static [MfaMethod],
}

impl Default for MfaPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl MfaPolicy {
    /// Any second factor, any age, trusted devices accepted.
    pub const fn new() -> Self {
        Self { max_age: None, allow_trusted_device: true, methods: &[] }
    }

    /// Requires the second factor to have been passed within `max_age`.
    pub const fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Whether a trusted device is enough.
    pub const fn allow_trusted_device(mut self, allow: bool) -> Self {
        self.allow_trusted_device = allow;
        self
    }

    /// Only these methods count.
    pub const fn methods(mut self, methods: &'static [MfaMethod]) -> Self {
        self.methods = methods;
        self
    }

    fn accepts_method(&self, method: Option<&str>) -> bool {
        self.methods.is_empty() || method.is_some_and(|m| self.methods.iter().any(|a| a.as_str() == m))
    }

    /// Checks the policy against a request's context as of `now`; `None` is an anonymous
    /// request.
    pub fn check_at(&self, security: Option<&SecurityContext>, now: DateTime<Utc>) -> Result<(), AccessDenied> {
        let Some(security) = security.filter(|s| s.is_authenticated()) else {
            return Err(AccessDenied::Unauthenticated);
        };
        let mfa = &security.mfa;
        let trusted_ok = !mfa.trusted_device || self.allow_trusted_device;
        let method_ok = mfa.trusted_device || self.accepts_method(mfa.method.as_deref());
        if trusted_ok && method_ok && mfa.satisfies(self.max_age, now) {
            return Ok(());
        }
        let methods = security.mfa_methods.iter().filter(|m| self.accepts_method(Some(m.as_str()))).cloned().collect();
        // Stale only when the factor would have counted but is too old.
        let stale = trusted_ok && method_ok && mfa.level >= MfaLevel::Verified && self.max_age.is_some();
        Err(AccessDenied::MfaRequired { methods, max_age: self.max_age, stale })
    }

    /// [`check_at`](Self::check_at) now.
    pub fn check(&self, security: Option<&SecurityContext>) -> Result<(), AccessDenied> {
        self.check_at(security, Utc::now())
    }
}

/// The short Rust name of `T` (`Query` for `my_app::schema::Query`), used to name resources in
/// audit events.
#[doc(hidden)]
pub fn short_type_name(full: &'static str) -> &'static str {
    let head = full.split('<').next().unwrap_or(full);
    head.rsplit("::").next().unwrap_or(head)
}

/// Enforces `policy` for the field `type_name.field_name`: the expansion of
/// `#[require_mfa]`.
///
/// An anonymous caller gets `UNAUTHENTICATED`; an authenticated one without a satisfying second
/// factor gets `MFA_REQUIRED` with the `methods` they have enrolled that the policy accepts
/// (and `maxAgeSeconds` for a step-up). Each refusal logs one `unauthorized_access` event
/// through the [`AuditLogger`] in the context data, if any.
pub fn require_mfa(
    ctx: &Context<'_>,
    type_name: &str,
    field_name: &str,
    policy: &MfaPolicy,
) -> async_graphql::Result<()> {
    let security = SecurityContext::from_graphql(ctx);
    policy.check(security).map_err(|denied| {
        if let Some(logger) = ctx.data_opt::<AuditLogger>() {
            audit_denial(logger, security, &format!("{type_name}.{field_name}"), &denied);
        }
        denied.extend()
    })
}

/// Turns a refusal into the resolver's error type (generated code; a generic function, so no
/// "useless conversion" lint fires in the user's crate when the type is already
/// `async_graphql::Error`).
#[doc(hidden)]
pub fn refusal<E: From<async_graphql::Error>>(error: async_graphql::Error) -> E {
    E::from(error)
}

/// The `code` an error is recorded with in `#[audited]` events.
///
/// Implemented for [`async_graphql::Error`] (its `code` extension, or `ERROR`), for
/// [`async_graphql::ServerError`] and for [`AccessDenied`]; implement it for your own resolver
/// error type.
pub trait ErrorCode {
    /// A short, stable, non-secret code (`MFA_REQUIRED`, `NOT_FOUND`, ...).
    fn error_code(&self) -> Cow<'_, str>;
}

fn code_of(extensions: Option<&async_graphql::ErrorExtensionValues>) -> Cow<'_, str> {
    match extensions.and_then(|e| e.get("code")) {
        Some(async_graphql::Value::String(code)) => Cow::Borrowed(code.as_str()),
        Some(async_graphql::Value::Enum(code)) => Cow::Borrowed(code.as_str()),
        Some(other) => Cow::Owned(other.to_string()),
        None => Cow::Borrowed("ERROR"),
    }
}

impl ErrorCode for async_graphql::Error {
    fn error_code(&self) -> Cow<'_, str> {
        code_of(self.extensions.as_ref())
    }
}

impl ErrorCode for async_graphql::ServerError {
    fn error_code(&self) -> Cow<'_, str> {
        code_of(self.extensions.as_ref())
    }
}

impl ErrorCode for AccessDenied {
    fn error_code(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.code())
    }
}

/// How a resolver call ended, as recorded in the `outcome` detail of `#[audited]` events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolverOutcome {
    /// The resolver returned a value.
    Ok,
    /// The resolver (or a check before it) returned an error with this code.
    Error(String),
}

impl ResolverOutcome {
    /// The outcome of a resolver's result.
    pub fn of<T, E: ErrorCode>(result: &Result<T, E>) -> Self {
        match result {
            Ok(_) => Self::Ok,
            Err(e) => Self::Error(e.error_code().into_owned()),
        }
    }

    /// `ok`, or the error code.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ok => "ok",
            Self::Error(code) => code,
        }
    }
}

/// One audited resolver call: the expansion of `#[audited]`.
///
/// [`start`](Self::start) before the body, [`argument`](Self::argument) for each listed
/// argument, [`finish`](Self::finish) with the result. Without an [`AuditLogger`] in the
/// context data every step is a no-op.
#[must_use = "call `finish` with the resolver's result, or nothing is logged"]
pub struct AuditedCall {
    logger: Option<AuditLogger>,
    event: &'static str,
    severity: Option<AuditSeverity>,
    type_name: &'static str,
    field_name: &'static str,
    started: Instant,
    arguments: Map<String, Value>,
}

impl fmt::Debug for AuditedCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditedCall")
            .field("enabled", &self.logger.is_some())
            .field("event", &self.event)
            .field("resource", &format_args!("{}.{}", self.type_name, self.field_name))
            .finish_non_exhaustive()
    }
}

impl AuditedCall {
    /// Starts timing a call of `type_name.field_name`, to be logged as an `event` event
    /// (a built-in name like `data_deleted` maps to its type, any other is custom) with
    /// `severity` (default: the event type's own).
    pub fn start(
        ctx: &Context<'_>,
        type_name: &'static str,
        field_name: &'static str,
        event: &'static str,
        severity: Option<AuditSeverity>,
    ) -> Self {
        Self {
            logger: ctx.data_opt::<AuditLogger>().cloned(),
            event,
            severity,
            type_name,
            field_name,
            started: Instant::now(),
            arguments: Map::new(),
        }
    }

    /// Records an argument listed in `fields(...)`. Values under secret-looking names
    /// (`password`, `token`, `code`, ...) are masked, nested ones too.
    pub fn argument<T: InputType>(&mut self, name: &'static str, value: &T) {
        if self.logger.is_some() {
            let value = value.to_value().into_json().unwrap_or(Value::Null);
            self.arguments.insert(name.to_owned(), value);
        }
    }

    /// Logs the event with the caller from `ctx`, the result's outcome and the elapsed time.
    pub fn finish<T, E: ErrorCode>(self, ctx: &Context<'_>, result: &Result<T, E>) {
        let Some(logger) = self.logger else { return };
        let duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let event_type: AuditEventType = self.event.parse().unwrap_or_else(|never| match never {});
        let mut record = AuditEvent::new(event_type);
        if let Some(severity) = self.severity {
            record = record.severity(severity);
        }
        if let Some(security) = SecurityContext::from_graphql(ctx) {
            if let Some(principal) = &security.principal {
                record = record.actor(principal);
            }
            record = record
                .client_ip(security.client_ip)
                .user_agent(security.user_agent.clone())
                .request_id(security.request_id.clone());
        }
        let mut details = Map::new();
        details.insert("resolver".into(), format!("{}.{}", self.type_name, self.field_name).into());
        details.insert("outcome".into(), ResolverOutcome::of(result).as_str().into());
        details.insert("duration_ms".into(), duration_ms.into());
        if !self.arguments.is_empty() {
            details.insert("arguments".into(), Value::Object(self.arguments));
        }
        logger.log(record.details(Value::Object(details)));
    }
}
