//! The per-request [`SecurityContext`] and the runtime checks resolvers (and the
//! `#[require_mfa]` macro) call: [`require_authenticated`], [`require_second_factor`],
//! [`require_role`] and their audited form [`enforce`]. Second-factor checks all go through
//! [`enforce_mfa`].
//!
//! The HTTP layer (feature `axum`) builds the context from the bearer token and stores it in
//! the async-graphql request data; any other transport can do the same with
//! `request.data(security_context)`.
//!
//! Refusals are async-graphql errors with a machine-readable `code` extension:
//! `UNAUTHENTICATED`, `MFA_REQUIRED` (with the `methods` the user can use and, for a step-up,
//! `maxAgeSeconds`) or `FORBIDDEN`.
//!
//! ```
//! use std::time::Duration;
//! use chrono::Utc;
//! use rail_graphql_security::context::{AccessDenied, MfaState, Principal, Requirement, SecurityContext};
//! use rail_graphql_security::mfa::{MfaMethod, MfaRequirement};
//!
//! let anonymous = SecurityContext::anonymous();
//! assert_eq!(anonymous.check(&Requirement::Authenticated), Err(AccessDenied::Unauthenticated));
//!
//! let alice = SecurityContext::authenticated(Principal::new("7", "alice").with_roles(["admin"]))
//!     .with_mfa(MfaState::verified(Utc::now(), MfaMethod::Totp));
//! let step_up = MfaRequirement::new().max_age(Duration::from_secs(300));
//! assert!(alice.check(&Requirement::Mfa(step_up)).is_ok());
//! assert!(alice.check(&Requirement::Role("admin".into())).is_ok());
//! ```

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use async_graphql::{Context, ErrorExtensions};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditLogger, AuditUser};
use crate::mfa::{AuditAs, MfaMethod, MfaRequirement, enforce_mfa};

mod audit_scope;

/// The authenticated user a request acts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The user's id, as text (any primary-key type).
    pub id: String,
    /// The user's name (for audit events).
    pub name: Option<String>,
    /// The user's roles (`admin`, `staff`, ...).
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Principal {
    /// A principal with an id and a name and no roles.
    pub fn new(id: impl ToString, name: impl Into<String>) -> Self {
        Self { id: id.to_string(), name: Some(name.into()), roles: Vec::new() }
    }

    /// Replaces the roles.
    pub fn with_roles<I, R>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Whether the principal has `role` (exact, case-sensitive match).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

impl AuditUser for Principal {
    fn audit_id(&self) -> String {
        self.id.clone()
    }
    fn audit_name(&self) -> Option<String> {
        self.name.clone()
    }
}

/// How strongly the session was authenticated. Ordered: `None < Verified`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MfaLevel {
    /// One factor only (a password).
    #[default]
    None,
    /// A second factor was passed (or a trusted device stood in for it).
    Verified,
}

/// The name tokens and audit events give a trusted device standing in for the second factor.
pub(crate) const TRUSTED_DEVICE: &str = "trusted_device";

/// The session's second-factor state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaState {
    /// The level reached.
    pub level: MfaLevel,
    /// When the second factor was passed (for step-up checks with a maximum age).
    pub verified_at: Option<DateTime<Utc>>,
    /// The method passed; `None` when none was, or when a trusted device stood in for it.
    pub method: Option<MfaMethod>,
    /// The second factor was skipped because the device is trusted.
    pub trusted_device: bool,
}

impl MfaState {
    /// No second factor.
    pub fn none() -> Self {
        Self::default()
    }

    /// A second factor passed at `at` with `method`.
    pub fn verified(at: DateTime<Utc>, method: MfaMethod) -> Self {
        Self { level: MfaLevel::Verified, verified_at: Some(at), method: Some(method), trusted_device: false }
    }

    /// A trusted device stood in for the second factor at `at`.
    pub fn trusted_device(at: DateTime<Utc>) -> Self {
        Self { level: MfaLevel::Verified, verified_at: Some(at), method: None, trusted_device: true }
    }

    /// How the second factor was passed, as tokens and audit events name it: the method's
    /// [`as_str`](MfaMethod::as_str), or `trusted_device`.
    pub fn method_name(&self) -> Option<&'static str> {
        if self.trusted_device { Some(TRUSTED_DEVICE) } else { self.method.map(MfaMethod::as_str) }
    }

    /// Whether the second factor was passed, within `max_age` of `now` when one is given.
    pub fn satisfies(&self, max_age: Option<Duration>, now: DateTime<Utc>) -> bool {
        if self.level < MfaLevel::Verified {
            return false;
        }
        match (max_age, self.verified_at) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(max_age), Some(at)) => {
                let age = now.signed_duration_since(at);
                // A time slightly in the future (clock skew between instances) counts as fresh.
                age.to_std().map_or(true, |age| age <= max_age)
            }
        }
    }
}

/// Who is calling and from where: one per request, in the async-graphql request data.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecurityContext {
    /// The authenticated user, or `None` for an anonymous request.
    pub principal: Option<Principal>,
    /// The second-factor state of the session.
    pub mfa: MfaState,
    /// The second-factor methods the user can use (listed in `MFA_REQUIRED` errors).
    pub mfa_methods: Vec<MfaMethod>,
    /// The client's address (proxy-aware, see [`crate::client_ip`]).
    pub client_ip: Option<IpAddr>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The request id (`X-Request-Id`), tying audit events of one request together.
    pub request_id: Option<String>,
    /// The id (`jti`) of the token the request was authenticated with.
    pub token_id: Option<String>,
    /// The session (login) of that token: what a logout revokes, and what a token issued
    /// after a second factor keeps (see [`crate::auth::TokenService::issue_in_session`]).
    pub session_id: Option<String>,
    /// When that token was issued (milliseconds since the epoch): a "log out everywhere"
    /// revokes the tokens issued before it (see
    /// [`crate::auth::TokenService::end_if_overtaken`]).
    pub token_issued_at_ms: Option<i64>,
}

impl fmt::Debug for SecurityContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityContext")
            .field("principal", &self.principal)
            .field("mfa", &self.mfa)
            .field("client_ip", &self.client_ip)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl SecurityContext {
    /// An anonymous request.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// A request authenticated as `principal`, without a second factor yet.
    pub fn authenticated(principal: Principal) -> Self {
        Self { principal: Some(principal), ..Self::default() }
    }

    /// Sets the second-factor state.
    pub fn with_mfa(mut self, mfa: MfaState) -> Self {
        self.mfa = mfa;
        self
    }

    /// Sets the methods listed in `MFA_REQUIRED` errors.
    pub fn with_mfa_methods(mut self, methods: impl IntoIterator<Item = MfaMethod>) -> Self {
        self.mfa_methods = methods.into_iter().collect();
        self
    }

    /// Sets the client address.
    pub fn with_client_ip(mut self, ip: Option<IpAddr>) -> Self {
        self.client_ip = ip;
        self
    }

    /// Sets the user agent.
    pub fn with_user_agent(mut self, user_agent: Option<String>) -> Self {
        self.user_agent = user_agent;
        self
    }

    /// Sets the request id.
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }

    /// The context stored in the request data, if any.
    pub fn from_graphql<'a>(ctx: &'a Context<'_>) -> Option<&'a SecurityContext> {
        ctx.data_opt::<SecurityContext>()
    }

    /// Whether a user is authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.principal.is_some()
    }

    /// Checks one requirement against this context, now.
    pub fn check(&self, requirement: &Requirement) -> Result<(), AccessDenied> {
        self.check_at(requirement, Utc::now())
    }

    /// Checks one requirement as of `now` (for tests and replays).
    pub fn check_at(&self, requirement: &Requirement, now: DateTime<Utc>) -> Result<(), AccessDenied> {
        let Some(principal) = &self.principal else {
            return Err(AccessDenied::Unauthenticated);
        };
        match requirement {
            Requirement::Authenticated => Ok(()),
            Requirement::Mfa(mfa) => mfa.check_at(Some(self), now),
            Requirement::Role(role) => {
                if principal.has_role(role) {
                    Ok(())
                } else {
                    Err(AccessDenied::Forbidden { role: role.clone() })
                }
            }
        }
    }
}

/// What a resolver requires of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Any authenticated user.
    Authenticated,
    /// An authenticated user whose second factor satisfies the requirement.
    Mfa(MfaRequirement),
    /// An authenticated user with this role.
    Role(String),
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessDenied {
    /// No authenticated user.
    #[error("authentication required: log in and send `Authorization: Bearer <token>`")]
    Unauthenticated,
    /// No (recent enough) second factor.
    #[error("{}", mfa_message(*.max_age, *.stale))]
    MfaRequired {
        /// The methods the user can use.
        methods: Vec<MfaMethod>,
        /// The maximum age that was required, for a step-up.
        max_age: Option<Duration>,
        /// A second factor was passed, but longer ago than `max_age` (a step-up is due); `false`
        /// when none was passed at all.
        stale: bool,
    },
    /// The user lacks a role.
    #[error("permission denied: this needs the `{role}` role")]
    Forbidden {
        /// The role that was required.
        role: String,
    },
}

fn mfa_message(max_age: Option<Duration>, stale: bool) -> String {
    match max_age {
        Some(age) if stale => format!(
            "recent multi-factor authentication required: verify a second factor again (at most {}s ago)",
            age.as_secs()
        ),
        _ => "multi-factor authentication required: verify a second factor first".to_owned(),
    }
}

impl AccessDenied {
    /// The `code` extension: `UNAUTHENTICATED`, `MFA_REQUIRED` or `FORBIDDEN`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::MfaRequired { .. } => "MFA_REQUIRED",
            Self::Forbidden { .. } => "FORBIDDEN",
        }
    }

    /// The short reason recorded in `unauthorized_access` audit events.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            // `mfa_too_old` only when a second factor was passed and has expired: a session that
            // never passed one is `mfa_required`, whatever the step-up window.
            Self::MfaRequired { stale: true, .. } => "mfa_too_old",
            Self::MfaRequired { .. } => "mfa_required",
            Self::Forbidden { .. } => "missing_role",
        }
    }
}

/// Use `.extend()` to turn a refusal into a GraphQL error with its `code` extension (a plain
/// `?` would keep only the message).
impl ErrorExtensions for AccessDenied {
    fn extend(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| {
            ext.set("code", self.code());
            match self {
                Self::MfaRequired { methods, max_age, .. } => {
                    ext.set("methods", methods.iter().map(|m| m.as_str()).collect::<Vec<_>>());
                    if let Some(age) = max_age {
                        ext.set("maxAgeSeconds", age.as_secs());
                    }
                }
                Self::Forbidden { role } => ext.set("requiredRole", role.as_str()),
                Self::Unauthenticated => {}
            }
        })
    }
}

fn check<'a>(ctx: &'a Context<'_>, requirement: &Requirement) -> Result<&'a SecurityContext, AccessDenied> {
    let security = SecurityContext::from_graphql(ctx).ok_or(AccessDenied::Unauthenticated)?;
    security.check(requirement)?;
    Ok(security)
}

/// The caller must be authenticated; returns the principal.
pub fn require_authenticated<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Principal> {
    let security = check(ctx, &Requirement::Authenticated).map_err(|d| d.extend())?;
    security.principal.as_ref().ok_or_else(|| AccessDenied::Unauthenticated.extend())
}

/// The caller must have passed a second factor (a trusted device counts), within `max_age`
/// when given. Not audited; [`enforce`] audits, and
/// [`enforce_mfa`] takes a whole [`MfaRequirement`].
pub fn require_second_factor<'a>(
    ctx: &'a Context<'_>,
    max_age: Option<Duration>,
) -> async_graphql::Result<&'a SecurityContext> {
    enforce_mfa(ctx, &MfaRequirement { max_age, ..MfaRequirement::new() }, AuditAs::Nothing)
}

/// The caller must have `role`.
pub fn require_role<'a>(ctx: &'a Context<'_>, role: &str) -> async_graphql::Result<&'a SecurityContext> {
    check(ctx, &Requirement::Role(role.to_owned())).map_err(|d| d.extend())
}

/// Checks `requirement` like the `require_*` functions and, when it fails, logs an
/// `unauthorized_access` event for `resource` (e.g. `Query.secretNote`) through the
/// [`AuditLogger`] in the schema or request data, if there is one.
pub fn enforce<'a>(
    ctx: &'a Context<'_>,
    resource: &str,
    requirement: &Requirement,
) -> async_graphql::Result<&'a SecurityContext> {
    if let Requirement::Mfa(mfa) = requirement {
        return enforce_mfa(ctx, mfa, AuditAs::Resource(resource));
    }
    match check(ctx, requirement) {
        Ok(security) => Ok(security),
        Err(denied) => {
            if let Some(logger) = ctx.data_opt::<AuditLogger>() {
                audit_denial(logger, SecurityContext::from_graphql(ctx), resource, &denied);
            }
            Err(denied.extend())
        }
    }
}

/// Logs an `unauthorized_access` event for a refusal.
pub fn audit_denial(logger: &AuditLogger, security: Option<&SecurityContext>, resource: &str, denied: &AccessDenied) {
    let principal = security.and_then(|s| s.principal.as_ref());
    let mut event = crate::audit::AuditEvent::new(crate::audit::AuditEventType::UnauthorizedAccess);
    if let Some(principal) = principal {
        event = event.actor(principal);
    }
    if let Some(security) = security {
        event = event
            .client_ip(security.client_ip)
            .user_agent(security.user_agent.clone())
            .request_id(security.request_id.clone());
    }
    let mut details = serde_json::json!({ "resource": resource, "reason": denied.reason(), "refusal": denied.code() });
    if let AccessDenied::Forbidden { role } = denied {
        details["required_role"] = role.as_str().into();
    }
    logger.log(event.details(details));
}
