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
use std::net::IpAddr;
use std::time::Instant;

use async_graphql::{Context, InputType};
use chrono::{DateTime, Utc};
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
    arguments: Vec<(&'static str, async_graphql::Value)>,
}

impl fmt::Debug for AuditedCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditedCall")
            .field("enabled", &self.logger.is_some())
            .field("event", &self.event)
            .field("resource", &format_args!("{}.{}", generated::short_type_name(self.type_name), self.field_name))
            .finish_non_exhaustive()
    }
}

impl AuditedCall {
    /// Starts timing a call of `type_name.field_name`, to be logged as an `event` event
    /// (a built-in name like `data_deleted` maps to its type, any other is custom) with
    /// `severity` (default: the event type's own).
    ///
    /// `type_name` may be a full path (`core::any::type_name::<Self>()`, what the attribute
    /// passes): the event names the type by its last segment without generics (`Query`).
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
            arguments: Vec::new(),
        }
    }

    /// Records an argument listed in `fields(...)`. Values under secret-looking names
    /// (`password`, `token`, `code`, ...) are masked, nested ones too.
    pub fn argument<T: InputType>(&mut self, name: &'static str, value: &T) {
        if self.logger.is_some() {
            self.arguments.push((name, value.to_value()));
        }
    }

    /// Logs the event with the caller from `ctx`, the result's outcome and the elapsed time.
    ///
    /// The request path only copies what the event needs (the caller's fields, the outcome
    /// code); the logger's dispatcher builds the event from it, off the request's core.
    pub fn finish<T, E: ErrorCode>(self, ctx: &Context<'_>, result: &Result<T, E>) {
        let Some(logger) = self.logger else { return };
        let timestamp = Utc::now();
        let duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let security = SecurityContext::from_graphql(ctx);
        let principal = security.and_then(|s| s.principal.as_ref());
        logger.log_call(ResolverCall {
            timestamp,
            event: self.event,
            severity: self.severity,
            type_name: self.type_name,
            field_name: self.field_name,
            outcome: ResolverOutcome::of(result),
            duration_ms,
            actor_id: principal.map(|p| p.id.clone()),
            actor_name: principal.and_then(|p| p.name.clone()),
            client_ip: security.and_then(|s| s.client_ip),
            user_agent: security.and_then(|s| s.user_agent.clone()),
            request_id: security.and_then(|s| s.request_id.clone()),
            arguments: self.arguments,
        });
    }
}

/// An `#[audited]` call as the request hands it to the [`AuditLogger`]: the event's parts,
/// with `'static` names borrowed and arguments not yet turned into JSON. The logger's
/// dispatcher turns it into the [`AuditEvent`] ([`into_event`](Self::into_event)) before
/// masking it like any other event, so the `details` map, the resource name and the event
/// type (about ten allocations) are built off the request's core.
pub(crate) struct ResolverCall {
    timestamp: DateTime<Utc>,
    event: &'static str,
    severity: Option<AuditSeverity>,
    type_name: &'static str,
    field_name: &'static str,
    outcome: ResolverOutcome,
    duration_ms: f64,
    actor_id: Option<String>,
    actor_name: Option<String>,
    client_ip: Option<IpAddr>,
    user_agent: Option<String>,
    request_id: Option<String>,
    arguments: Vec<(&'static str, async_graphql::Value)>,
}

impl ResolverCall {
    /// The event: `details` holds `resolver` (`Type.field`), `outcome`, `duration_ms` and,
    /// when any were listed, `arguments`.
    pub(crate) fn into_event(self) -> AuditEvent {
        let event_type: AuditEventType = self.event.parse().unwrap_or_else(|never| match never {});
        let mut event = AuditEvent::new(event_type).at(self.timestamp);
        if let Some(severity) = self.severity {
            event.severity = severity;
        }
        event.actor_id = self.actor_id;
        event.actor_name = self.actor_name;
        event.client_ip = self.client_ip;
        event.user_agent = self.user_agent;
        event.request_id = self.request_id;
        let mut details = Map::new();
        let resource = format!("{}.{}", generated::short_type_name(self.type_name), self.field_name);
        details.insert("resolver".into(), resource.into());
        let outcome = match self.outcome {
            ResolverOutcome::Ok => "ok".to_owned(),
            ResolverOutcome::Error(code) => code,
        };
        details.insert("outcome".into(), outcome.into());
        details.insert("duration_ms".into(), self.duration_ms.into());
        if !self.arguments.is_empty() {
            let arguments = self
                .arguments
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.into_json().unwrap_or(Value::Null)))
                .collect();
            details.insert("arguments".into(), Value::Object(arguments));
        }
        event.details = Value::Object(details);
        event
    }
}

/// Helpers only generated code calls, re-exported under `__private`.
pub(crate) mod generated {
    /// The short Rust name of a type (`Query` for `my_app::schema::Query`), naming resources in
    /// audit events.
    pub fn short_type_name(full: &str) -> &str {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn call(type_name: &'static str, outcome: ResolverOutcome) -> ResolverCall {
        ResolverCall {
            timestamp: "2026-12-06T10:00:00.123456789Z".parse().unwrap(),
            event: "payout_sent",
            severity: Some(AuditSeverity::Critical),
            type_name,
            field_name: "payout",
            outcome,
            duration_ms: 1.5,
            actor_id: Some("7".into()),
            actor_name: Some("alice".into()),
            client_ip: "198.51.100.4".parse().ok(),
            user_agent: Some("ua".into()),
            request_id: Some("req-1".into()),
            arguments: vec![("amount", async_graphql::Value::from(250)), ("memo", async_graphql::Value::from("rent"))],
        }
    }

    #[test]
    fn a_call_becomes_the_event_the_attribute_documents() {
        let event = call("my_app::schema::Mutation<my_app::Db>", ResolverOutcome::Ok).into_event();
        assert_eq!(event.event_type.as_str(), "payout_sent");
        assert_eq!(event.severity, AuditSeverity::Critical);
        // Stamped when the call finished, to the microsecond every backend stores.
        assert_eq!(event.timestamp.to_rfc3339(), "2026-12-06T10:00:00.123456+00:00");
        assert_eq!((event.actor_id.as_deref(), event.actor_name.as_deref()), (Some("7"), Some("alice")));
        assert_eq!(event.client_ip, "198.51.100.4".parse().ok());
        assert_eq!((event.user_agent.as_deref(), event.request_id.as_deref()), (Some("ua"), Some("req-1")));
        assert_eq!(
            event.details,
            serde_json::json!({
                "resolver": "Mutation.payout",
                "outcome": "ok",
                "duration_ms": 1.5,
                "arguments": {"amount": 250, "memo": "rent"},
            })
        );
        assert_eq!(event.id.get_version_num(), 7);
    }

    #[test]
    fn an_error_is_recorded_by_its_code_and_a_short_type_name_is_kept() {
        let event = call("Mutation", ResolverOutcome::Error("NOT_FOUND".into())).into_event();
        assert_eq!(event.details["resolver"], "Mutation.payout");
        assert_eq!(event.details["outcome"], "NOT_FOUND");
    }
}
