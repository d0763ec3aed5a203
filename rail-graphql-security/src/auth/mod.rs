//! Bearer tokens: issuing, verifying, refreshing and revoking signed JWTs (HS256) that carry the
//! user, their roles and their second-factor state.
//!
//! Audit events: `token_created` on [`TokenService::issue`], `token_refreshed` on
//! [`TokenService::refresh`], `token_revoked` on [`TokenService::revoke`], and `token_expired`
//! the first time an expired token is presented to this instance (not on every request).
//! Verifying a valid token logs nothing: a request is not a login.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use chrono::Utc;
//! use rail_graphql_security::auth::{RevocationStore, TokenConfig, TokenService};
//! use rail_graphql_security::context::{MfaLevel, MfaState, Principal};
//!
//! let config = TokenConfig::new("an-hmac-secret-of-at-least-32-bytes!!")?;
//! let tokens = TokenService::new(config, RevocationStore::memory());
//! let issued = tokens.issue(&Principal::new(7, "alice"), &MfaState::verified(Utc::now(), "totp"), None)?;
//! let claims = tokens.verify(&issued.token, None).await?;
//! assert_eq!(claims.sub, "7");
//! assert_eq!(claims.mfa_state().level, MfaLevel::Verified);
//!
//! tokens.revoke(&claims, None).await?;
//! assert!(tokens.verify(&issued.token, None).await.is_err());
//! # Ok(()) }
//! ```

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::ErrorExtensions;
use chrono::{DateTime, TimeZone, Utc};
use dashmap::DashMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::AuditLogger;
use crate::context::{MfaLevel, MfaState, Principal, SecurityContext};

pub mod entity;
mod revocation;

pub use self::revocation::RevocationStore;

/// The shortest HMAC secret accepted, in bytes (HS256's key should be at least its output size).
pub const MIN_SECRET_BYTES: usize = 32;

/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Expired token ids remembered (to log `token_expired` once) before old ones are forgotten.
const EXPIRED_MEMORY: usize = 10_000;

/// Tokens whose signature was already checked, kept so a session's later requests skip the
/// decoding and HMAC (about 5 µs each); expired entries are swept when the cache is full.
const VERIFIED_CACHE: usize = 10_000;

/// Token settings.
#[derive(Clone)]
pub struct TokenConfig {
    secret: SecretString,
    /// The `iss` claim written and required.
    pub issuer: String,
    /// How long a token is valid (default one hour).
    pub lifetime: Duration,
    /// The `Authorization` scheme (default `Bearer`), matched case-insensitively.
    pub header_prefix: String,
    /// Clock skew tolerated when checking expiry (default 30 s).
    pub leeway: Duration,
}

impl fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenConfig")
            .field("secret", &"***")
            .field("issuer", &self.issuer)
            .field("lifetime", &self.lifetime)
            .field("header_prefix", &self.header_prefix)
            .field("leeway", &self.leeway)
            .finish()
    }
}

impl TokenConfig {
    /// Settings with `secret` (at least [`MIN_SECRET_BYTES`] bytes) and the defaults.
    pub fn new(secret: impl Into<SecretString>) -> Result<Self, TokenError> {
        let secret = secret.into();
        if secret.expose_secret().len() < MIN_SECRET_BYTES {
            return Err(TokenError::WeakSecret);
        }
        Ok(Self {
            secret,
            issuer: "rail-graphql-security".to_owned(),
            lifetime: Duration::from_secs(3600),
            header_prefix: "Bearer".to_owned(),
            leeway: Duration::from_secs(30),
        })
    }

    /// Sets the token lifetime.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Sets the issuer.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// Sets the `Authorization` scheme (e.g. `JWT`).
    pub fn header_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.header_prefix = prefix.into();
        self
    }

    /// Sets the clock skew tolerance.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }
}

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
    /// The second-factor method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_method: Option<String>,
    /// A trusted device stood in for the second factor.
    #[serde(default)]
    pub trusted_device: bool,
    /// The second-factor methods the user had enrolled when the token was issued (listed in
    /// `MFA_REQUIRED` errors).
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
            method: self.mfa_method.clone(),
            trusted_device: self.trusted_device,
        }
    }

    /// When the token expires.
    pub fn expires_at(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.exp, 0).single().unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// A security context for a request made with this token.
    pub fn security_context(&self) -> SecurityContext {
        let mut context = SecurityContext::authenticated(self.principal())
            .with_mfa(self.mfa_state())
            .with_mfa_methods(self.mfa_methods.iter().cloned());
        context.token_id = Some(self.jti.clone());
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
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"***")
            .field("jti", &self.jti)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why a token was refused or could not be handled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a token of ours: bad format, bad signature, wrong issuer or algorithm.
    #[error("invalid token: log in again to get a new one")]
    Invalid,
    /// The token has expired.
    #[error("token expired: log in again or refresh it before it expires")]
    Expired,
    /// The token was revoked (logout, refresh or an administrator).
    #[error("token revoked: log in again")]
    Revoked,
    /// The `Authorization` header does not use the configured scheme.
    #[error("unsupported Authorization header: send `Authorization: {0} <token>`")]
    WrongScheme(String),
    /// The configured secret is too short.
    #[error("the token secret must be at least {MIN_SECRET_BYTES} bytes: generate one with `openssl rand -base64 48`")]
    WeakSecret,
    /// The token could not be signed.
    #[error("token could not be signed: {0}")]
    Signing(String),
    /// The revocation list in the database could not be read or written.
    #[error("revocation list unavailable (database): {0}")]
    Database(#[from] sea_orm::DbErr),
    /// The revocation list in Redis could not be read or written.
    #[cfg(feature = "redis")]
    #[error("revocation list unavailable (Redis): {0}; check REDIS_URL and that Redis is up")]
    Redis(#[from] redis::RedisError),
}

impl TokenError {
    /// The short reason used in error extensions and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Invalid | Self::WrongScheme(_) => "token_invalid",
            Self::Expired => "token_expired",
            Self::Revoked => "token_revoked",
            _ => "token_store_unavailable",
        }
    }

    /// Whether the client is at fault (401) rather than the server (503 / 500).
    pub fn is_client_error(&self) -> bool {
        matches!(self, Self::Invalid | Self::WrongScheme(_) | Self::Expired | Self::Revoked)
    }
}

impl ErrorExtensions for TokenError {
    /// `code: "UNAUTHENTICATED"` with a `reason` (`token_expired`, ...) for client errors,
    /// `code: "SERVICE_UNAVAILABLE"` otherwise (with a message that names no internals; log the
    /// error itself).
    fn extend(&self) -> async_graphql::Error {
        let message = if self.is_client_error() {
            self.to_string()
        } else {
            "authentication temporarily unavailable, try again shortly".to_owned()
        };
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", if self.is_client_error() { "UNAUTHENTICATED" } else { "SERVICE_UNAVAILABLE" });
            ext.set("reason", self.reason());
        })
    }
}

/// Issues, verifies, refreshes and revokes tokens. Cheap to clone.
#[derive(Clone)]
pub struct TokenService {
    inner: Arc<Inner>,
}

struct Inner {
    config: TokenConfig,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    revocations: RevocationStore,
    audit: Option<AuditLogger>,
    expired_logged: DashMap<String, i64>,
    verified: DashMap<Box<str>, Claims>,
}

impl fmt::Debug for TokenService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenService")
            .field("config", &self.inner.config)
            .field("revocations", &self.inner.revocations)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// A service signing with `config`'s secret and keeping revocations in `revocations`.
    pub fn new(config: TokenConfig, revocations: RevocationStore) -> Self {
        let secret = config.secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[config.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        // Expiry is checked by hand so an expired token's subject can be audited.
        validation.validate_exp = false;
        validation.leeway = 0;
        Self {
            inner: Arc::new(Inner {
                encoding: EncodingKey::from_secret(secret),
                decoding: DecodingKey::from_secret(secret),
                validation,
                config,
                revocations,
                audit: None,
                expired_logged: DashMap::new(),
                verified: DashMap::new(),
            }),
        }
    }

    /// Audits token events through `logger`.
    pub fn with_audit(self, logger: AuditLogger) -> Self {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            config: shared.config.clone(),
            encoding: shared.encoding.clone(),
            decoding: shared.decoding.clone(),
            validation: shared.validation.clone(),
            revocations: shared.revocations.clone(),
            audit: shared.audit.clone(),
            expired_logged: DashMap::new(),
            verified: DashMap::new(),
        });
        Self { inner: Arc::new(Inner { audit: Some(logger), ..inner }) }
    }

    /// The settings.
    pub fn config(&self) -> &TokenConfig {
        &self.inner.config
    }

    /// The revocation list.
    pub fn revocations(&self) -> &RevocationStore {
        &self.inner.revocations
    }

    /// Issues a token for `principal` with `mfa`; logs `token_created`.
    pub fn issue(
        &self,
        principal: &Principal,
        mfa: &MfaState,
        client_ip: Option<IpAddr>,
    ) -> Result<IssuedToken, TokenError> {
        self.issue_with_methods(principal, mfa, &[], client_ip)
    }

    /// Like [`issue`](Self::issue), recording the second-factor methods the user has enrolled
    /// (`totp`, `sms`, `backup_code`), so `MFA_REQUIRED` errors can list them.
    pub fn issue_with_methods(
        &self,
        principal: &Principal,
        mfa: &MfaState,
        mfa_methods: &[String],
        client_ip: Option<IpAddr>,
    ) -> Result<IssuedToken, TokenError> {
        let issued = self.sign(principal, mfa, mfa_methods)?;
        if let Some(logger) = &self.inner.audit {
            logger.log_token_created(principal, client_ip, self.details(&issued, mfa));
        }
        Ok(issued)
    }

    fn details(&self, issued: &IssuedToken, mfa: &MfaState) -> serde_json::Value {
        json!({ "jti": issued.jti, "expires_at": issued.expires_at, "mfa_level": mfa.level, "mfa_method": mfa.method })
    }

    fn sign(&self, principal: &Principal, mfa: &MfaState, mfa_methods: &[String]) -> Result<IssuedToken, TokenError> {
        let now = Utc::now();
        let lifetime = chrono::Duration::from_std(self.inner.config.lifetime).unwrap_or(chrono::Duration::hours(1));
        let expires_at = now + lifetime;
        let claims = Claims {
            sub: principal.id.clone(),
            name: principal.name.clone(),
            roles: principal.roles.clone(),
            mfa: mfa.level,
            mfa_at: mfa.verified_at.map(|t| t.timestamp()),
            mfa_method: mfa.method.clone(),
            trusted_device: mfa.trusted_device,
            mfa_methods: mfa_methods.to_vec(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iss: self.inner.config.issuer.clone(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.inner.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(IssuedToken { token, expires_at: claims.expires_at(), jti: claims.jti })
    }

    /// Checks the signature, issuer, expiry and the revocation list. A valid token logs
    /// nothing; an expired one logs `token_expired` the first time this instance sees it.
    pub async fn verify(&self, token: &str, client_ip: Option<IpAddr>) -> Result<Claims, TokenError> {
        let claims = self.decode_cached(token)?;
        let leeway = i64::try_from(self.inner.config.leeway.as_secs()).unwrap_or(0);
        if claims.exp + leeway <= Utc::now().timestamp() {
            self.log_expired_once(&claims, client_ip);
            return Err(TokenError::Expired);
        }
        if self.inner.revocations.is_revoked(&claims.jti).await? {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    /// Verifies the token of an `Authorization` header value (`Bearer <token>`). `None` (no
    /// header) is an anonymous request, not an error.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        client_ip: Option<IpAddr>,
    ) -> Result<Option<Claims>, TokenError> {
        let Some(value) = authorization else { return Ok(None) };
        let prefix = &self.inner.config.header_prefix;
        let value = value.trim();
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(prefix))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| TokenError::WrongScheme(prefix.clone()))?;
        self.verify(token, client_ip).await.map(Some)
    }

    /// Exchanges a valid token for a new one with the same user and second-factor state (the
    /// second factor's time is kept, so a step-up's maximum age is not extended), revoking the
    /// old one. Of several racing refreshes of one token exactly one succeeds. Logs
    /// `token_refreshed`.
    pub async fn refresh(&self, token: &str, client_ip: Option<IpAddr>) -> Result<IssuedToken, TokenError> {
        let claims = self.verify(token, client_ip).await?;
        if !self.inner.revocations.revoke(&claims.jti, &claims.sub, claims.expires_at()).await? {
            return Err(TokenError::Revoked);
        }
        let principal = claims.principal();
        let mfa = claims.mfa_state();
        let issued = self.sign(&principal, &mfa, &claims.mfa_methods)?;
        if let Some(logger) = &self.inner.audit {
            let mut details = self.details(&issued, &mfa);
            details["previous_jti"] = claims.jti.clone().into();
            logger.log_token_refreshed(&principal, client_ip, details);
        }
        Ok(issued)
    }

    /// Revokes a verified token (logout). Returns `false` if it already was; logs
    /// `token_revoked` only the first time.
    pub async fn revoke(&self, claims: &Claims, client_ip: Option<IpAddr>) -> Result<bool, TokenError> {
        let revoked = self.inner.revocations.revoke(&claims.jti, &claims.sub, claims.expires_at()).await?;
        if revoked && let Some(logger) = &self.inner.audit {
            logger.log_token_revoked(&claims.principal(), client_ip, json!({ "jti": claims.jti }));
        }
        Ok(revoked)
    }

    /// Revokes an encoded token whose signature is valid, even if it has expired.
    pub async fn revoke_token(&self, token: &str, client_ip: Option<IpAddr>) -> Result<bool, TokenError> {
        let claims = self.decode(token)?;
        self.revoke(&claims, client_ip).await
    }

    /// Deletes revocation entries of tokens that have expired anyway.
    pub async fn purge_revoked(&self) -> Result<u64, TokenError> {
        self.inner.revocations.purge_expired().await
    }

    /// Runs [`purge_revoked`](Self::purge_revoked) every `every` in a background task (failures
    /// are logged and retried at the next tick). Abort the handle to stop it.
    pub fn spawn_revocation_purge(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every.max(Duration::from_millis(10)));
            loop {
                ticks.tick().await;
                match service.purge_revoked().await {
                    Ok(0) => {}
                    Ok(purged) => tracing::debug!(purged, "expired token revocations purged"),
                    Err(error) => tracing::warn!(%error, "purging expired token revocations failed; retrying later"),
                }
            }
        })
    }

    /// [`decode`](Self::decode), remembering tokens whose signature checked out. Only an
    /// exact, already verified token string hits the cache; expiry and revocation are still
    /// checked on every call.
    fn decode_cached(&self, token: &str) -> Result<Claims, TokenError> {
        if let Some(claims) = self.inner.verified.get(token) {
            return Ok(claims.clone());
        }
        let claims = self.decode(token)?;
        let cache = &self.inner.verified;
        if cache.len() >= VERIFIED_CACHE {
            let now = Utc::now().timestamp();
            cache.retain(|_, c| c.exp > now);
        }
        if cache.len() < VERIFIED_CACHE {
            cache.insert(token.into(), claims.clone());
        }
        Ok(claims)
    }

    fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Invalid);
        }
        jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &self.inner.validation)
            .map(|data| data.claims)
            .map_err(|_| TokenError::Invalid)
    }

    fn log_expired_once(&self, claims: &Claims, client_ip: Option<IpAddr>) {
        let Some(logger) = &self.inner.audit else { return };
        let seen = &self.inner.expired_logged;
        if seen.len() >= EXPIRED_MEMORY {
            // Forget the tokens that expired longest ago; they are rarely presented again.
            let cutoff = Utc::now().timestamp() - 3600;
            seen.retain(|_, exp| *exp > cutoff);
            if seen.len() >= EXPIRED_MEMORY {
                seen.clear();
            }
        }
        if seen.insert(claims.jti.clone(), claims.exp).is_none() {
            let details = json!({ "jti": claims.jti, "expired_at": claims.expires_at() });
            logger.log_token_expired(&claims.principal(), client_ip, details);
        }
    }
}
