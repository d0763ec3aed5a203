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

use async_graphql::{Context, Guard};

use crate::mfa::{AuditAs, MfaMethod, MfaRequirement, enforce_mfa};

/// A [`Guard`] refusing callers without a satisfying second factor: same requirement, errors
/// (`UNAUTHENTICATED`, `MFA_REQUIRED` with the user's methods) and `unauthorized_access` audit
/// event as `#[require_mfa]`. Combine it with `.and()` / `.or()` ([`async_graphql::GuardExt`]).
///
/// Left of an `.or()`, a refusal is audited even when the right side then admits the caller;
/// turn the audit off there with [`audit(false)`](Self::audit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequireMfa {
    requirement: MfaRequirement,
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
        Self::with_requirement(MfaRequirement::new())
    }

    /// A guard enforcing `requirement`.
    pub const fn with_requirement(requirement: MfaRequirement) -> Self {
        Self { requirement, resource: None, audit: true }
    }

    /// Step-up: the second factor was passed within `max_age`.
    pub const fn max_age(mut self, max_age: Duration) -> Self {
        self.requirement = self.requirement.max_age(max_age);
        self
    }

    /// Step-up within `seconds` (handy inside `#[graphql(guard = "...")]` strings).
    pub const fn max_age_secs(self, seconds: u64) -> Self {
        self.max_age(Duration::from_secs(seconds))
    }

    /// Whether a trusted device standing in for the second factor is enough (default `true`).
    pub const fn allow_trusted_device(mut self, allow: bool) -> Self {
        self.requirement = self.requirement.allow_trusted_device(allow);
        self
    }

    /// Only these methods count.
    pub const fn methods(mut self, methods: &'static [MfaMethod]) -> Self {
        self.requirement = self.requirement.methods(methods);
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

    /// The requirement enforced.
    pub fn requirement(&self) -> &MfaRequirement {
        &self.requirement
    }
}

impl Guard for RequireMfa {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let audit_as = match (self.audit, self.resource) {
            (false, _) => AuditAs::Nothing,
            (true, Some(resource)) => AuditAs::Resource(resource),
            (true, None) => AuditAs::ResponsePath,
        };
        enforce_mfa(ctx, &self.requirement, audit_as).map(|_| ())
    }
}
