//! Per-resolver limits: the runtime of `#[rate_limit]`.

use std::sync::OnceLock;
use std::time::Duration;

use async_graphql::{Context, ErrorExtensions};
use serde_json::json;

use super::{Decision, Quota, RateLimitError, RateLimiter};
use crate::audit::{AuditEvent, AuditEventType, AuditLogger};
use crate::client_ip::rate_limit_key;
use crate::context::SecurityContext;

/// Whose calls a [`FieldLimit`] counts together (`per = "..."` of `#[rate_limit]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitKey {
    /// Per authenticated user; an anonymous caller is counted per client address instead.
    User,
    /// Per client address (an IPv6 client by its /64 network, which one subscriber usually holds).
    Ip,
    /// Per user and address together (an anonymous caller: per address).
    UserAndIp,
    /// One count for every caller.
    Global,
}

impl LimitKey {
    /// The name used in `per = "..."` and in audit events: `user`, `ip`, `user_and_ip`, `global`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Ip => "ip",
            Self::UserAndIp => "user_and_ip",
            Self::Global => "global",
        }
    }

    /// The storage key of the caller described by `security` (`None`: no context, counted as
    /// an anonymous caller without an address).
    fn key_for(self, security: Option<&SecurityContext>) -> String {
        let ip = || match security.and_then(|s| s.client_ip) {
            Some(ip) => format!("ip:{}", rate_limit_key(ip)),
            None => "ip:unknown".to_owned(),
        };
        let user = security.and_then(|s| s.principal.as_ref()).map(|p| format!("user:{}", p.id));
        match (self, user) {
            (Self::Global, _) => "all".to_owned(),
            (Self::Ip, _) | (Self::User | Self::UserAndIp, None) => ip(),
            (Self::User, Some(user)) => user,
            (Self::UserAndIp, Some(user)) => format!("{user}|{}", ip()),
        }
    }
}

/// A limit on one resolver: `limit` calls per `window` per [`LimitKey`], each call weighing
/// `cost`. `#[rate_limit(...)]` builds one as a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldLimit {
    /// Calls (of cost 1) allowed per window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
    /// Whose calls count together.
    pub per: LimitKey,
    /// What one call weighs.
    pub cost: u32,
}

impl FieldLimit {
    /// `limit` calls per `window` per user (anonymous callers per address), each of cost 1.
    pub const fn new(limit: u32, window: Duration) -> Self {
        Self { limit, window, per: LimitKey::User, cost: 1 }
    }

    /// Counts per `per` instead.
    pub const fn per(mut self, per: LimitKey) -> Self {
        self.per = per;
        self
    }

    /// Makes one call weigh `cost` (at most `limit`, or it is always refused).
    pub const fn cost(mut self, cost: u32) -> Self {
        self.cost = cost;
        self
    }
}

/// Counts one call of `type_name.field_name` against `limit` and refuses it when over: the
/// expansion of `#[rate_limit]`.
///
/// Uses the [`RateLimiter`] in the schema (or request) data (the stack's
/// [`Security::apply`](crate::stack::Security::apply) adds its memory or Redis one); without
/// one, a process-wide in-memory limiter (shared by every schema of the process). Every call counts, so each alias of a field in one
/// request is one more call. A refusal is a `RATE_LIMITED` error with `retryAfter` (whole
/// seconds); the first refusal of each window per key is audited as `rate_limit_exceeded`
/// (`limit_type` `resolver`) through the [`AuditLogger`] in the data, if any. When the limiter's
/// store fails the call is refused with `SERVICE_UNAVAILABLE` (failing closed, like the login
/// limit: these limits guard sensitive operations).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
/// use rail_graphql_security::rate_limit::{FieldLimit, LimitKey, RateLimiter, enforce_resolver};
///
/// struct Query;
/// #[Object]
/// impl Query {
///     async fn quote(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<u32> {
///         const LIMIT: FieldLimit = FieldLimit::new(2, Duration::from_secs(60)).per(LimitKey::Ip);
///         enforce_resolver(ctx, "Query", "quote", &LIMIT).await?;
///         Ok(42)
///     }
/// }
///
/// let schema = Schema::build(Query, EmptyMutation, EmptySubscription).data(RateLimiter::memory()).finish();
/// let response = schema.execute("{ a: quote b: quote c: quote }").await;
/// assert_eq!(response.errors.len(), 1);
/// let error = response.errors[0].extensions.as_ref().unwrap();
/// assert_eq!(error.get("code").unwrap().to_string(), "\"RATE_LIMITED\"");
/// # }
/// ```
pub async fn enforce_resolver(
    ctx: &Context<'_>,
    type_name: &str,
    field_name: &str,
    limit: &FieldLimit,
) -> async_graphql::Result<()> {
    let limiter = ctx.data_opt::<RateLimiter>().unwrap_or_else(|| fallback_limiter());
    enforce_resolver_in(limiter, ctx, type_name, field_name, limit).await
}

/// [`enforce_resolver`] counting in `limiter` rather than the one in the context data (the
/// MFA API counts in its manager's limiter, which the stack shares with every other limit).
pub async fn enforce_resolver_in(
    limiter: &RateLimiter,
    ctx: &Context<'_>,
    type_name: &str,
    field_name: &str,
    limit: &FieldLimit,
) -> async_graphql::Result<()> {
    let security = SecurityContext::from_graphql(ctx);
    let quota = Quota::new(limit.limit, limit.window);
    let resource = format!("{type_name}.{field_name}");
    let decision = limiter.hit_n(&scope(type_name, field_name), &limit.per.key_for(security), quota, limit.cost).await;
    match decision {
        Ok(Decision::Allowed { .. }) => Ok(()),
        Ok(Decision::Limited { count, retry_after, first_refusal }) => {
            if first_refusal && let Some(logger) = ctx.data_opt::<AuditLogger>() {
                audit_refusal(logger, security, &resource, limit, count);
            }
            Err(FieldLimitError::RateLimited { resource, retry_after }.extend())
        }
        Err(cause) => {
            tracing::error!(error = %cause, resource, "resolver rate limit unavailable; call refused");
            Err(FieldLimitError::Store(cause).extend())
        }
    }
}

/// Forgets the calls `security`'s caller made to `type_name.field_name` under `limit` in
/// `limiter`: an administrator lifting a limit early (or a test letting a window pass).
pub async fn reset_resolver_limit(
    limiter: &RateLimiter,
    type_name: &str,
    field_name: &str,
    limit: &FieldLimit,
    security: Option<&SecurityContext>,
) -> Result<(), RateLimitError> {
    limiter.reset(&scope(type_name, field_name), &limit.per.key_for(security)).await
}

fn scope(type_name: &str, field_name: &str) -> String {
    format!("field:{type_name}.{field_name}")
}

fn fallback_limiter() -> &'static RateLimiter {
    static LIMITER: OnceLock<RateLimiter> = OnceLock::new();
    LIMITER.get_or_init(RateLimiter::memory)
}

fn audit_refusal(
    logger: &AuditLogger,
    security: Option<&SecurityContext>,
    resource: &str,
    limit: &FieldLimit,
    count: u64,
) {
    let mut event = AuditEvent::new(AuditEventType::RateLimitExceeded);
    if let Some(security) = security {
        if let Some(principal) = &security.principal {
            event = event.actor(principal);
        }
        event = event
            .client_ip(security.client_ip)
            .user_agent(security.user_agent.clone())
            .request_id(security.request_id.clone());
    }
    logger.log(event.details(json!({
        "limit_type": "resolver", "resource": resource, "per": limit.per.as_str(), "current_count": count,
        "limit": limit.limit, "cost": limit.cost, "window_seconds": limit.window.as_secs(),
    })));
}

/// Why [`enforce_resolver`] refused a call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FieldLimitError {
    /// Too many calls: wait `retry_after`.
    #[error("too many calls to {resource}: try again in {} seconds", whole_seconds(*.retry_after))]
    RateLimited {
        /// The field, `Type.field`.
        resource: String,
        /// How long until a call is allowed again.
        retry_after: Duration,
    },
    /// The limiter's store failed; the call is refused. The message names no internals.
    #[error("temporarily unavailable, try again shortly")]
    Store(#[source] RateLimitError),
}

fn whole_seconds(d: Duration) -> u64 {
    u64::try_from(d.as_millis().div_ceil(1000)).unwrap_or(u64::MAX).max(1)
}

impl ErrorExtensions for FieldLimitError {
    /// `code: "RATE_LIMITED"` with `retryAfter` (whole seconds, rounded up), or
    /// `code: "SERVICE_UNAVAILABLE"`.
    fn extend(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| match self {
            Self::RateLimited { retry_after, .. } => {
                ext.set("code", "RATE_LIMITED");
                ext.set("retryAfter", whole_seconds(*retry_after));
            }
            Self::Store(_) => ext.set("code", "SERVICE_UNAVAILABLE"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Principal;

    #[test]
    fn keys_fall_back_to_the_address_for_anonymous_callers() {
        let ip = Some("203.0.113.9".parse().unwrap());
        let anonymous = SecurityContext::anonymous().with_client_ip(ip);
        let alice = SecurityContext::authenticated(Principal::new(7, "alice")).with_client_ip(ip);
        assert_eq!(LimitKey::User.key_for(Some(&alice)), "user:7");
        assert_eq!(LimitKey::User.key_for(Some(&anonymous)), "ip:203.0.113.9");
        assert_eq!(LimitKey::UserAndIp.key_for(Some(&alice)), "user:7|ip:203.0.113.9");
        assert_eq!(LimitKey::UserAndIp.key_for(Some(&anonymous)), "ip:203.0.113.9");
        assert_eq!(LimitKey::Ip.key_for(Some(&alice)), "ip:203.0.113.9");
        assert_eq!(LimitKey::Global.key_for(Some(&alice)), "all");
        assert_eq!(LimitKey::User.key_for(None), "ip:unknown");
    }
}
