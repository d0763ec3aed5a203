//! Runtime support of the resolver attribute `#[audited]`.
//!
//! [`AuditedCall`] records one event per resolver call: name, severity, actor, ip, listed
//! arguments (secret-looking ones masked), outcome (`ok` or the error's `code`) and duration.
//! It reads the [`AuditLogger`] from the schema (or request) data; without one, nothing is
//! logged. `#[require_mfa]` expands to [`mfa::enforce_mfa`](crate::mfa::enforce_mfa) (callable
//! by hand too, e.g. from a resolver that cannot carry an attribute) and `#[rate_limit]` to
//! [`rate_limit::enforce_resolver`](crate::rate_limit::enforce_resolver).

use std::borrow::Cow;
use std::fmt;
use std::time::Instant;

use async_graphql::{Context, InputType};
use serde_json::{Map, Value};

use crate::audit::{AuditEvent, AuditEventType, AuditLogger, AuditSeverity};
use crate::context::{AccessDenied, SecurityContext};

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
        let mut details = Map::with_capacity(4);
        details.insert("resolver".into(), format!("{}.{}", self.type_name, self.field_name).into());
        let outcome = match result {
            Ok(_) => Value::from("ok"),
            Err(e) => Value::from(e.error_code().into_owned()),
        };
        details.insert("outcome".into(), outcome);
        details.insert("duration_ms".into(), duration_ms.into());
        if !self.arguments.is_empty() {
            details.insert("arguments".into(), Value::Object(self.arguments));
        }
        // Set as is, not through `AuditEvent::details`: the logger's pipeline masks every event
        // before any sink or alert handler sees it, so the request path skips a second pass.
        record.details = Value::Object(details);
        logger.log(record);
    }
}

/// Helpers only generated code calls, re-exported under `__private`.
pub(crate) mod generated {
    /// The short Rust name of a type (`Query` for `my_app::schema::Query`), naming resources in
    /// audit events.
    pub fn short_type_name(full: &'static str) -> &'static str {
        let head = full.split('<').next().unwrap_or(full);
        head.rsplit("::").next().unwrap_or(head)
    }

    /// Turns a refusal into the resolver's error type (a generic function, so no "useless
    /// conversion" lint fires in the user's crate when the type is already
    /// `async_graphql::Error`).
    pub fn refusal<E: From<async_graphql::Error>>(error: async_graphql::Error) -> E {
        E::from(error)
    }
}
