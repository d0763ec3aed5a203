//! [`RequireMfa`]: the `#[require_mfa]` check as an async-graphql [`Guard`], for
//! `#[graphql(guard = ...)]` users.
//!
//! **Prefer the `#[require_mfa]` attribute.** async-graphql skips field guards when the field is
//! reached through an interface (async-graphql issue #1826) and for federation `entity`
//! resolvers (#1651): a guard alone leaves those paths open. The attribute puts the check in the
//! resolver body, which every path runs. Use the guard for what the attribute cannot express,
//! e.g. `RequireMfa::new().or(RoleGuard::admin())`, and on fields never reached those ways.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use async_graphql::{EmptyMutation, EmptySubscription, GuardExt, Object, Schema};
//! use rail_graphql_security::context::{Principal, SecurityContext};
//! use rail_graphql_security::guard::RequireMfa;
//!
//! struct Query;
//! #[Object]
//! impl Query {
//!     #[graphql(guard = "RequireMfa::new().max_age_secs(900)")]
//!     async fn payout(&self) -> u32 {
//!         42
//!     }
//! }
//!
//! let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
//! let alice = SecurityContext::authenticated(Principal::new(1, "alice"));
//! let refused = schema.execute(async_graphql::Request::new("{ payout }").data(alice)).await;
//! assert_eq!(refused.errors[0].message, "multi-factor authentication required: verify a second factor first");
//! # }
//! ```

use std::time::Duration;

use async_graphql::{Context, ErrorExtensions, Guard};

use crate::audit::AuditLogger;
use crate::context::{SecurityContext, audit_denial};

use crate::resolver::{MfaMethod, MfaPolicy};

/// A [`Guard`] refusing callers without a satisfying second factor: same policy, errors
/// (`UNAUTHENTICATED`, `MFA_REQUIRED` with the user's methods) and `unauthorized_access` audit
/// event as `#[require_mfa]`. Combine it with `.and()` / `.or()` ([`async_graphql::GuardExt`]).
///
/// Left of an `.or()`, a refusal is audited even when the right side then admits the caller;
/// turn the audit off there with [`audit(false)`](Self::audit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequireMfa {
    policy: MfaPolicy,
    resource: Option<&'static str>,
    audit: bool,
}

impl Default for RequireMfa {
    fn default() -> Self {
        Self::new()
    }
}

impl RequireMfa {
    /// Any second factor, any age, trusted devices accepted, refusals audited.
    pub const fn new() -> Self {
        Self { policy: MfaPolicy::new(), resource: None, audit: true }
    }

    /// A guard enforcing `policy`.
    pub const fn with_policy(policy: MfaPolicy) -> Self {
        Self { policy, resource: None, audit: true }
    }

    /// Step-up: the second factor was passed within `max_age`.
    pub const fn max_age(mut self, max_age: Duration) -> Self {
        self.policy = self.policy.max_age(max_age);
        self
    }

    /// Step-up within `seconds` (handy inside `#[graphql(guard = "...")]` strings).
    pub const fn max_age_secs(self, seconds: u64) -> Self {
        self.max_age(Duration::from_secs(seconds))
    }

    /// Whether a trusted device standing in for the second factor is enough (default `true`).
    pub const fn allow_trusted_device(mut self, allow: bool) -> Self {
        self.policy = self.policy.allow_trusted_device(allow);
        self
    }

    /// Only these methods count.
    pub const fn methods(mut self, methods: &'static [MfaMethod]) -> Self {
        self.policy = self.policy.methods(methods);
        self
    }

    /// The resource named in audit events, e.g. `Query.payout` (default: the field's response
    /// path, e.g. `account.payout`, as a guard cannot see the parent type's name).
    pub const fn resource(mut self, resource: &'static str) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Whether a refusal logs an `unauthorized_access` event (default `true`).
    pub const fn audit(mut self, audit: bool) -> Self {
        self.audit = audit;
        self
    }

    /// The policy enforced.
    pub fn policy(&self) -> &MfaPolicy {
        &self.policy
    }
}

impl Guard for RequireMfa {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let security = SecurityContext::from_graphql(ctx);
        self.policy.check(security).map_err(|denied| {
            if self.audit
                && let Some(logger) = ctx.data_opt::<AuditLogger>()
            {
                let resource = match (self.resource, ctx.path_node) {
                    (Some(resource), _) => resource.to_owned(),
                    (None, Some(path)) => path.to_string(),
                    (None, None) => ctx.item.node.name.node.to_string(),
                };
                audit_denial(logger, security, &resource, &denied);
            }
            denied.extend()
        })
    }
}
