//! What a field demands of the caller's second factor ([`MfaRequirement`]) and the one function
//! enforcing it ([`enforce_mfa`]): `#[require_mfa]`, [`RequireMfa`](crate::guard::RequireMfa),
//! [`context::enforce`](crate::context::enforce) and
//! [`context::require_second_factor`](crate::context::require_second_factor) all call it, so
//! their errors and audit events are the same.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
//! use rail_graphql_security::context::{MfaState, Principal, SecurityContext};
//! use rail_graphql_security::mfa::{AuditAs, MfaMethod, MfaRequirement, enforce_mfa};
//!
//! struct Query;
//! #[Object]
//! impl Query {
//!     async fn payout(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<u32> {
//!         let requirement = MfaRequirement::new().max_age(Duration::from_secs(900));
//!         enforce_mfa(ctx, &requirement, AuditAs::Field("Query", "payout"))?;
//!         Ok(42)
//!     }
//! }
//!
//! let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
//! let alice = SecurityContext::authenticated(Principal::new(1, "alice")).with_mfa_methods([MfaMethod::Totp]);
//! let refused = schema.execute(async_graphql::Request::new("{ payout }").data(alice.clone())).await;
//! assert_eq!(refused.errors[0].extensions.as_ref().unwrap().get("code").unwrap().to_string(), "\"MFA_REQUIRED\"");
//!
//! let verified = alice.with_mfa(MfaState::verified(chrono::Utc::now(), MfaMethod::Totp));
//! let ok = schema.execute(async_graphql::Request::new("{ payout }").data(verified)).await;
//! assert!(ok.errors.is_empty());
//! # }
//! ```

use std::time::Duration;

use async_graphql::{Context, ErrorExtensions};
use chrono::{DateTime, Utc};

use super::method::MfaMethod;
use crate::audit::AuditLogger;
use crate::context::{AccessDenied, MfaLevel, SecurityContext, audit_denial};
use crate::resolver::generated::short_type_name;

/// What `#[require_mfa(...)]`, [`RequireMfa`](crate::guard::RequireMfa) and
/// [`Requirement::Mfa`](crate::context::Requirement::Mfa) demand of the caller's second factor.
///
/// The default accepts any method, any age, and a trusted device standing in for the second
/// factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaRequirement {
    /// The second factor must have been passed at most this long ago (step-up).
    pub max_age: Option<Duration>,
    /// Whether a trusted device standing in for the second factor is enough.
    pub allow_trusted_device: bool,
    /// The methods that count; empty means every method.
    pub methods: &'static [MfaMethod],
}

/// The methods [`MfaRequirement::phishing_resistant`] accepts.
const PHISHING_RESISTANT: &[MfaMethod] = &[MfaMethod::Passkey];

impl Default for MfaRequirement {
    fn default() -> Self {
        Self::new()
    }
}

impl MfaRequirement {
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

    /// Only a phishing-resistant method counts (a passkey, see
    /// [`MfaMethod::is_phishing_resistant`]), and a trusted device is not enough: what
    /// `#[require_mfa(phishing_resistant)]` demands.
    ///
    /// ```
    /// use rail_graphql_security::context::{MfaState, Principal, SecurityContext};
    /// use rail_graphql_security::mfa::{MfaMethod, MfaRequirement};
    ///
    /// let strict = MfaRequirement::new().phishing_resistant();
    /// let alice = SecurityContext::authenticated(Principal::new(1, "alice"));
    /// let totp = alice.clone().with_mfa(MfaState::verified(chrono::Utc::now(), MfaMethod::Totp));
    /// let passkey = alice.with_mfa(MfaState::verified(chrono::Utc::now(), MfaMethod::Passkey));
    /// assert!(strict.check(Some(&totp)).is_err());
    /// assert!(strict.check(Some(&passkey)).is_ok());
    /// ```
    pub const fn phishing_resistant(self) -> Self {
        self.methods(PHISHING_RESISTANT).allow_trusted_device(false)
    }

    fn accepts_method(&self, method: Option<MfaMethod>) -> bool {
        self.methods.is_empty() || method.is_some_and(|m| self.methods.contains(&m))
    }

    /// Checks the requirement against a request's context as of `now`; `None` is an anonymous
    /// request.
    pub fn check_at(&self, security: Option<&SecurityContext>, now: DateTime<Utc>) -> Result<(), AccessDenied> {
        let Some(security) = security.filter(|s| s.is_authenticated()) else {
            return Err(AccessDenied::Unauthenticated);
        };
        let mfa = &security.mfa;
        let trusted_ok = !mfa.trusted_device || self.allow_trusted_device;
        let method_ok = mfa.trusted_device || self.accepts_method(mfa.method);
        if trusted_ok && method_ok && mfa.satisfies(self.max_age, now) {
            return Ok(());
        }
        let methods = security.mfa_methods.iter().copied().filter(|m| self.accepts_method(Some(*m))).collect();
        // Stale only when the factor would have counted but is too old.
        let stale = trusted_ok && method_ok && mfa.level >= MfaLevel::Verified && self.max_age.is_some();
        Err(AccessDenied::MfaRequired { methods, max_age: self.max_age, stale })
    }

    /// [`check_at`](Self::check_at) now.
    pub fn check(&self, security: Option<&SecurityContext>) -> Result<(), AccessDenied> {
        self.check_at(security, Utc::now())
    }
}

/// The resource a refusal of [`enforce_mfa`] is audited as (`unauthorized_access`, detail
/// `resource`). Only a refusal builds the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditAs<'a> {
    /// `Type.field`: a type's name and a field's. The type's name may be a full path
    /// (`core::any::type_name::<Self>()`, what `#[require_mfa]` passes); the event names the
    /// type by its last segment without generics (`Query`).
    Field(&'a str, &'a str),
    /// This name, e.g. `Query.payout`.
    Resource(&'a str),
    /// The field's response path, e.g. `account.payout` (what a guard, which cannot see the
    /// parent type, passes by default).
    ResponsePath,
    /// A refusal is not audited.
    Nothing,
}

impl AuditAs<'_> {
    fn resource(self, ctx: &Context<'_>) -> Option<String> {
        match self {
            Self::Field(type_name, field_name) => Some(format!("{}.{field_name}", short_type_name(type_name))),
            Self::Resource(resource) => Some(resource.to_owned()),
            Self::ResponsePath => Some(match ctx.path_node {
                Some(path) => path.to_string(),
                None => ctx.item.node.name.node.to_string(),
            }),
            Self::Nothing => None,
        }
    }
}

/// Enforces `requirement` for the request of `ctx`: the check behind `#[require_mfa]`,
/// [`RequireMfa`](crate::guard::RequireMfa) and the [`context`](crate::context) helpers.
///
/// An anonymous caller gets `UNAUTHENTICATED`; an authenticated one without a satisfying second
/// factor gets `MFA_REQUIRED` with the `methods` they have enrolled that the requirement accepts
/// (and `maxAgeSeconds` for a step-up). Each refusal logs one `unauthorized_access` event for
/// `audit_as` through the [`AuditLogger`] in the context data, if any.
pub fn enforce_mfa<'a>(
    ctx: &'a Context<'_>,
    requirement: &MfaRequirement,
    audit_as: AuditAs<'_>,
) -> async_graphql::Result<&'a SecurityContext> {
    let security = SecurityContext::from_graphql(ctx);
    match (requirement.check(security), security) {
        (Ok(()), Some(security)) => Ok(security),
        // `check` refuses a request without a context; this arm only keeps the types honest.
        (Ok(()), None) => Err(AccessDenied::Unauthenticated.extend()),
        (Err(denied), _) => {
            if let Some(logger) = ctx.data_opt::<AuditLogger>()
                && let Some(resource) = audit_as.resource(ctx)
            {
                audit_denial(logger, security, &resource, &denied);
            }
            Err(denied.extend())
        }
    }
}
