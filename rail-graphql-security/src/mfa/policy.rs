//! What a session that has not passed its second factor yet may do ([`MfaPolicy`], enforced by
//! the [`PendingSessionGuard`] extension), and how recent a factor the user passed must be to change
//! factors ([`STEP_UP_METHODS`], [`DEFAULT_STEP_UP_WINDOW`]).
//!
//! A *pending session* is a token of a user who has a second factor (the token lists the user's
//! `mfa_methods`, put there at login) that did not pass one: a stolen password alone. Under
//! [`MfaPolicy::HighestAvailable`] (the default, as Ory Kratos' `highest_available`) such a
//! session may only complete the second factor, read its MFA status and log out: every other
//! root field answers `MFA_REQUIRED` (with `methods`) and is audited as `unauthorized_access`.
//! The check reads the request's [`SecurityContext`] only (no database round trip).
//!
//! ```
//! use async_graphql::{EmptySubscription, Object, Schema};
//! use rail_graphql_security::context::{Principal, SecurityContext};
//! use rail_graphql_security::mfa::MfaMethod;
//! use rail_graphql_security::mfa::policy::PendingSessionGuard;
//!
//! struct Query;
//! #[Object]
//! impl Query {
//!     async fn notes(&self) -> Vec<String> { vec!["a note".into()] }
//!     async fn mfa_status(&self) -> bool { false }
//! }
//! struct Mutation;
//! #[Object]
//! impl Mutation {
//!     async fn verify_totp(&self, code: String) -> bool { code == "123456" }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let schema = Schema::build(Query, Mutation, EmptySubscription).extension(PendingSessionGuard::default()).finish();
//! // A password-only token of a user who has TOTP:
//! let pending = SecurityContext::authenticated(Principal::new("7", "alice")).with_mfa_methods([MfaMethod::Totp]);
//! let refused = schema.execute(async_graphql::Request::new("{ notes }").data(pending.clone())).await;
//! assert_eq!(refused.errors[0].extensions.as_ref().unwrap().get("code"), Some(&"MFA_REQUIRED".into()));
//! let allowed = schema.execute(async_graphql::Request::new("{ mfaStatus }").data(pending)).await;
//! assert!(allowed.errors.is_empty());
//! # });
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo};
use async_graphql::{ErrorExtensions, PathSegment, ServerResult, Value};

use super::method::MfaMethod;
use crate::audit::AuditLogger;
use crate::context::{AccessDenied, MfaLevel, MfaState, SecurityContext, audit_denial};

/// The step-up window's default (`mfa.step_up_window_seconds`): 10 minutes.
pub const DEFAULT_STEP_UP_WINDOW: Duration = Duration::from_secs(600);

/// The methods that count for a step-up: a code the user typed or a passkey. A trusted device
/// never does.
pub const STEP_UP_METHODS: &[MfaMethod] = &[MfaMethod::Totp, MfaMethod::Sms, MfaMethod::BackupCode, MfaMethod::Passkey];

/// The root fields a pending session may use by default: completing the second factor
/// (`verifyTotp`, `verifySms`, `verifyBackupCode`, `beginPasskeyAuthentication` and
/// `verifyPasskey`; `sendSmsCode` only when the user has the `sms` method), `mfaStatus`,
/// `login`, the passwordless `beginPasskeySignIn` / `finishPasskeySignIn`, `logout` (its own
/// session), and `__typename` / introspection (which the schema's own limits still govern).
/// Not `logoutEverywhere`: the password alone must not end the user's other sessions and
/// trusted devices, again and again.
pub const DEFAULT_PENDING_ALLOWED_FIELDS: &[&str] = &[
    "verifyTotp",
    "verifySms",
    "verifyBackupCode",
    "beginPasskeyAuthentication",
    "verifyPasskey",
    "beginPasskeySignIn",
    "finishPasskeySignIn",
    "sendSmsCode",
    "mfaStatus",
    "login",
    "logout",
];

/// What a session of a user with a second factor may do before passing it
/// (`mfa.pending_session_policy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum MfaPolicy {
    /// `strict` (default): only the allow-listed root fields (complete the second factor, read
    /// the MFA status, log out); everything else answers `MFA_REQUIRED`.
    #[default]
    #[serde(rename = "strict")]
    HighestAvailable,
    /// `lenient`: a password-only session is a full session, except for the fields that check
    /// `require_mfa` / `#[require_mfa]` themselves and the step-up of factor changes.
    #[serde(rename = "lenient")]
    Lenient,
}

impl MfaPolicy {
    /// The config name: `strict` or `lenient`.
    pub fn name(self) -> &'static str {
        match self {
            MfaPolicy::HighestAvailable => "strict",
            MfaPolicy::Lenient => "lenient",
        }
    }

    /// Parses a config name (`strict`, also `highest_available`; `lenient`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim() {
            "strict" | "highest_available" => Some(MfaPolicy::HighestAvailable),
            "lenient" => Some(MfaPolicy::Lenient),
            _ => None,
        }
    }
}

/// Whether `security` is a pending session: an authenticated user who has second-factor
/// methods (listed in the token) and whose session did not pass one.
pub fn is_pending(security: &SecurityContext) -> bool {
    security.is_authenticated() && !security.mfa_methods.is_empty() && security.mfa.level < MfaLevel::Verified
}

/// Whether `mfa` is a step-up: a factor the user passed ([`STEP_UP_METHODS`], never a trusted device)
/// passed at most `window` before `now`.
pub fn is_stepped_up(mfa: &MfaState, window: Duration, now: chrono::DateTime<chrono::Utc>) -> bool {
    !mfa.trusted_device && mfa.method.is_some_and(|m| STEP_UP_METHODS.contains(&m)) && mfa.satisfies(Some(window), now)
}

/// The async-graphql extension enforcing [`MfaPolicy::HighestAvailable`]: a pending session
/// ([`is_pending`]) may resolve only the allow-listed root fields; any other root field answers
/// `MFA_REQUIRED` (with the session's `methods`) and is audited as `unauthorized_access`
/// (resource `Type.field`) through the [`AuditLogger`] in the request or schema data.
/// [`Security::apply`](crate::stack::Security::apply) adds it when the config asks for it.
#[derive(Debug, Clone)]
pub struct PendingSessionGuard {
    allowed: Arc<BTreeSet<String>>,
}

impl Default for PendingSessionGuard {
    fn default() -> Self {
        Self::new(DEFAULT_PENDING_ALLOWED_FIELDS.iter().copied())
    }
}

impl PendingSessionGuard {
    /// A guard allowing exactly `fields` (root field names as in the schema, e.g. `verifyTotp`)
    /// besides `__typename` and introspection.
    pub fn new<I, S>(fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { allowed: Arc::new(fields.into_iter().map(Into::into).collect()) }
    }

    /// Also allows `field` (e.g. your own passkey verification mutation).
    pub fn allow(mut self, field: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.allowed).insert(field.into());
        self
    }

    fn admits(&self, security: &SecurityContext, field: &str) -> bool {
        if field.starts_with("__") {
            return true;
        }
        if !self.allowed.contains(field) {
            return false;
        }
        // Sending an SMS code serves only a user who can pass an SMS code.
        field != "sendSmsCode" || security.mfa_methods.contains(&MfaMethod::Sms)
    }
}

impl ExtensionFactory for PendingSessionGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Extension for PendingSessionGuard {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_none()
            && !info.is_for_introspection
            && let Some(security) = ctx.data_opt::<SecurityContext>()
            && is_pending(security)
            && !self.admits(security, info.name)
        {
            let denied =
                AccessDenied::MfaRequired { methods: security.mfa_methods.clone(), max_age: None, stale: false };
            if let Some(logger) = ctx.data_opt::<AuditLogger>() {
                audit_denial(logger, Some(security), &format!("{}.{}", info.parent_type, info.name), &denied);
            }
            let mut error = denied.extend().into_server_error(info.field.name.pos);
            error.path = vec![PathSegment::Field(info.alias.unwrap_or(info.name).to_owned())];
            return Err(error);
        }
        next.run(ctx, info).await
    }
}
