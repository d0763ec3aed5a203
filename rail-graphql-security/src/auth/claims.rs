//! What a token says, and a freshly issued token.

use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::context::{MfaLevel, MfaState, Principal, SecurityContext};
use crate::mfa::MfaMethod;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The second-factor level.
    #[serde(default)]
    pub mfa: MfaLevel,
    /// When the second factor was passed (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_at: Option<i64>,
    /// How the second factor was passed: an [`MfaMethod`] name or `trusted_device`
    /// ([`MfaState::method_name`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_method: Option<String>,
    /// A trusted device stood in for the second factor.
    #[serde(default)]
    pub trusted_device: bool,
    /// The second-factor methods the user had enrolled when the token was issued (listed in
    /// `MFA_REQUIRED` errors), as [`MfaMethod`] names; see [`enrolled_methods`](Self::enrolled_methods).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mfa_methods: Vec<String>,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// The token id, used for revocation.
    pub jti: String,
    /// The issuer.
    pub iss: String,
    /// The session (login) the token belongs to; empty in tokens issued before sessions
    /// existed, which are their own session (see [`Claims::session_id`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sid: String,
    /// Issued at, in milliseconds since the epoch (orders tokens against a "log out
    /// everywhere" made in the same second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_ms: Option<i64>,
}

impl Claims {
    /// The user.
    pub fn principal(&self) -> Principal {
        Principal { id: self.sub.clone(), name: self.name.clone(), roles: self.roles.clone() }
    }

    /// The second-factor state.
    pub fn mfa_state(&self) -> MfaState {
        MfaState {
            level: self.mfa,
            verified_at: self.mfa_at.and_then(|t| Utc.timestamp_opt(t, 0).single()),
            // A name no method has (`trusted_device`, or one of a later version) is no method.
            method: self.mfa_method.as_deref().and_then(MfaMethod::parse),
            trusted_device: self.trusted_device,
        }
    }

    /// [`mfa_methods`](Self::mfa_methods) read as methods; names no method has are left out.
    pub fn enrolled_methods(&self) -> Vec<MfaMethod> {
        self.mfa_methods.iter().filter_map(|m| MfaMethod::parse(m)).collect()
    }

    /// When the token expires.
    pub fn expires_at(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.exp, 0).single().unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The session the token belongs to: `sid`, or the token's own id when it has none.
    pub fn session_id(&self) -> &str {
        if self.sid.is_empty() { &self.jti } else { &self.sid }
    }

    /// When the token was issued, in milliseconds since the epoch (`iat` in whole seconds for
    /// tokens without `iat_ms`).
    pub fn issued_at_ms(&self) -> i64 {
        self.iat_ms.unwrap_or_else(|| self.iat.saturating_mul(1000))
    }

    /// A security context for a request made with this token.
    pub fn security_context(&self) -> SecurityContext {
        let mut context = SecurityContext::authenticated(self.principal())
            .with_mfa(self.mfa_state())
            .with_mfa_methods(self.enrolled_methods());
        context.token_id = Some(self.jti.clone());
        context.session_id = Some(self.session_id().to_owned());
        context.token_issued_at_ms = Some(self.issued_at_ms());
        context
    }
}

/// A freshly issued token.
#[derive(Clone)]
pub struct IssuedToken {
    /// The encoded token, for `Authorization: Bearer <token>`.
    pub token: String,
    /// Its id.
    pub jti: String,
    /// Its session (see [`Claims::session_id`]).
    pub session_id: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"***")
            .field("jti", &self.jti)
            .field("session_id", &self.session_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}
