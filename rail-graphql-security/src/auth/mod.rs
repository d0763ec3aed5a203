//! Bearer tokens: issuing, verifying, refreshing and revoking signed JWTs (HS256) that carry the
//! user, their roles and their second-factor state.
//!
//! Every token belongs to a session (`sid`): a login starts one ([`TokenService::issue`],
//! [`TokenService::issue_with_methods`]); the token issued after a second factor
//! ([`TokenService::issue_in_session`]) and a refreshed one keep it. A revocation covers one
//! token ([`TokenService::revoke`]), one session ([`TokenService::revoke_session`]: logout) or
//! every token a user was issued until then ([`TokenService::revoke_all_sessions`]: log out
//! everywhere); [`TokenService::verify`] checks all three in one round trip to the store, or in
//! memory with a [`RevocationStore::synced`] store (what the stack builds). A
//! revocation is kept until every token it covers has expired, clock skew (`leeway`) included.
//!
//! Audit events: `token_created` on [`TokenService::issue`], `token_refreshed` on
//! [`TokenService::refresh`] (details carry the token's `jti` and session `sid`), `token_revoked`
//! on the revocations (details `scope`: `token`, `session` or `all_sessions`), and `token_expired` the first time an expired token is
//! presented to this instance (not on every request). Verifying a valid token logs nothing: a
//! request is not a login.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use chrono::Utc;
//! use rail_graphql_security::auth::{RevocationStore, TokenConfig, TokenService};
//! use rail_graphql_security::context::{MfaLevel, MfaState, Principal};
//! use rail_graphql_security::mfa::MfaMethod;
//!
//! let config = TokenConfig::new("an-hmac-secret-of-at-least-32-bytes!!")?;
//! let tokens = TokenService::new(config, RevocationStore::memory());
//! let issued = tokens.issue(&Principal::new(7, "alice"), &MfaState::verified(Utc::now(), MfaMethod::Totp), None)?;
//! let claims = tokens.verify(&issued.token, None).await?;
//! assert_eq!(claims.sub, "7");
//! assert_eq!(claims.mfa_state().level, MfaLevel::Verified);
//!
//! tokens.revoke(&claims, None).await?;
//! assert!(tokens.verify(&issued.token, None).await.is_err());
//!
//! // A login, then the token its second factor earns: one session, ended by one logout.
//! let alice = Principal::new(7, "alice");
//! let login = tokens.issue(&alice, &MfaState::none(), None)?;
//! let passed = MfaState::verified(Utc::now(), MfaMethod::Totp);
//! let step_up = tokens.issue_in_session(&alice, &passed, &[], &login.session_id, None)?;
//! assert!(tokens.revoke_session(&alice, &login.session_id, None).await?);
//! assert!(tokens.verify(&login.token, None).await.is_err());
//! assert!(tokens.verify(&step_up.token, None).await.is_err());
//! # Ok(()) }
//! ```

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::audit::AuditLogger;
use crate::context::{MfaState, Principal, SecurityContext};
use crate::mfa::MfaMethod;

mod claims;
pub mod entity;
mod error;
mod revocation;

pub use self::claims::{Claims, IssuedToken};
pub use self::error::TokenError;

#[cfg(feature = "redis")]
pub use self::revocation::RedisCachedRevocations;
pub use self::revocation::{
    MAX_CLOCK_OFFSET, POLL_INTERVAL, REVOCATION_CLOCK_MARGIN, REVOCATION_SYNC_BOUND, RevocationEntry, RevocationPush,
    RevocationStore, SyncedRevocations,
};

/// The longest session id accepted (`s:<session id>` must fit the 64-character revocation id).
pub const MAX_SESSION_ID_BYTES: usize = 62;

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
    /// (`totp`, `sms`, `backup_code`), so `MFA_REQUIRED` errors can list them. Starts a new
    /// session (a login).
    pub fn issue_with_methods(
        &self,
        principal: &Principal,
        mfa: &MfaState,
        mfa_methods: &[MfaMethod],
        client_ip: Option<IpAddr>,
    ) -> Result<IssuedToken, TokenError> {
        let session_id = uuid::Uuid::new_v4().simple().to_string();
        self.issue_in_session(principal, mfa, mfa_methods, &session_id, client_ip)
    }

    /// Like [`issue_with_methods`](Self::issue_with_methods), in the existing session
    /// `session_id` (the caller's
    /// [`SecurityContext::session_id`](crate::context::SecurityContext::session_id)): the token
    /// a second factor earns belongs to the login that passed it, so logging out ends both.
    pub fn issue_in_session(
        &self,
        principal: &Principal,
        mfa: &MfaState,
        mfa_methods: &[MfaMethod],
        session_id: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<IssuedToken, TokenError> {
        check_session_id(session_id)?;
        let issued = self.sign(principal, mfa, mfa_methods, session_id)?;
        if let Some(logger) = &self.inner.audit {
            logger.log_token_created(principal, client_ip, self.details(&issued, mfa));
        }
        Ok(issued)
    }

    /// Issues a login's token listing the user's second-factor methods as `read_methods`
    /// reports them, read again after signing while they are none; in session `session_id`
    /// ([`issue_in_session`](Self::issue_in_session)), or a new one when `None`. Logs
    /// `token_created` once.
    ///
    /// A token that lists no methods is a full session, and the user's first factor ends the
    /// tokens issued before it by a cut-off in time ([`revoke_all_sessions`](Self::revoke_all_sessions),
    /// as [`IssueTokenHook`](crate::mfa::graphql::IssueTokenHook) does). A login that read no
    /// methods just before the factor was confirmed and signed just after the cut-off would
    /// keep a full session. So while the methods read are none, they are read again once the
    /// token is signed, and it is signed again when they changed (the first one is never
    /// handed out): confirmed before that read, the factor is listed; confirmed after it, its
    /// cut-off comes after this token's signing and revokes it (on one clock: instances whose
    /// clocks differ leave a window of that difference).
    ///
    /// ```
    /// # use rail_graphql_security::auth::{RevocationStore, TokenConfig, TokenError, TokenService};
    /// # use rail_graphql_security::context::{MfaState, Principal};
    /// # use rail_graphql_security::mfa::MfaMethod;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tokens = TokenService::new(TokenConfig::new("a signing secret of at least 32 bytes!!")?, RevocationStore::memory());
    /// // The user's first factor is confirmed between the login's first read and its signing.
    /// let mut reads = vec![vec![MfaMethod::Totp], vec![]];
    /// let alice = Principal::new("7", "alice");
    /// let issued = tokens
    ///     .issue_listing_methods(&alice, &MfaState::none(), None, None, || std::future::ready(Ok::<_, TokenError>(reads.pop().unwrap())))
    ///     .await?;
    /// assert_eq!(tokens.verify(&issued.token, None).await?.enrolled_methods(), [MfaMethod::Totp]);
    /// # Ok::<(), TokenError>(()) }).unwrap();
    /// ```
    pub async fn issue_listing_methods<E, F>(
        &self,
        principal: &Principal,
        mfa: &MfaState,
        session_id: Option<&str>,
        client_ip: Option<IpAddr>,
        mut read_methods: impl FnMut() -> F,
    ) -> Result<IssuedToken, E>
    where
        E: From<TokenError>,
        F: Future<Output = Result<Vec<MfaMethod>, E>>,
    {
        let new_session;
        let session_id = match session_id {
            Some(id) => {
                check_session_id(id)?;
                id
            }
            None => {
                new_session = uuid::Uuid::new_v4().simple().to_string();
                new_session.as_str()
            }
        };
        let mut methods = read_methods().await?;
        let issued = loop {
            let issued = self.sign(principal, mfa, &methods, session_id)?;
            if !methods.is_empty() {
                break issued;
            }
            let now = read_methods().await?;
            if now.is_empty() {
                break issued;
            }
            methods = now;
        };
        if let Some(logger) = &self.inner.audit {
            logger.log_token_created(principal, client_ip, self.details(&issued, mfa));
        }
        Ok(issued)
    }

    fn details(&self, issued: &IssuedToken, mfa: &MfaState) -> serde_json::Value {
        json!({
            "jti": issued.jti,
            // Not `session_id`: audit details mask keys that look like session secrets.
            "sid": issued.session_id,
            "expires_at": issued.expires_at,
            "mfa_level": mfa.level,
            "mfa_method": mfa.method_name(),
        })
    }

    fn sign(
        &self,
        principal: &Principal,
        mfa: &MfaState,
        mfa_methods: &[MfaMethod],
        session_id: &str,
    ) -> Result<IssuedToken, TokenError> {
        let now = self.inner.revocations.now();
        let expires_at = now + self.lifetime();
        let claims = Claims {
            sub: principal.id.clone(),
            name: principal.name.clone(),
            roles: principal.roles.clone(),
            mfa: mfa.level,
            // Never later than the issue time: a second factor passed on this machine is
            // stamped by its own clock, which may run ahead of the one tokens go by (found by an
            // attack: a step-up on a machine 90 s ahead lasted 90 s longer everywhere).
            mfa_at: mfa.verified_at.map(|t| t.min(now).timestamp()),
            mfa_method: mfa.method_name().map(str::to_owned),
            trusted_device: mfa.trusted_device,
            mfa_methods: mfa_methods.iter().map(|m| m.as_str().to_owned()).collect(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iss: self.inner.config.issuer.clone(),
            sid: session_id.to_owned(),
            iat_ms: Some(now.timestamp_millis()),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.inner.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(IssuedToken { token, expires_at: claims.expires_at(), jti: claims.jti, session_id: claims.sid })
    }

    fn lifetime(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.inner.config.lifetime).unwrap_or(chrono::Duration::hours(1))
    }

    fn leeway(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.inner.config.leeway).unwrap_or(chrono::Duration::zero())
    }

    /// Checks the signature, issuer, expiry and the revocations of the token, its session and
    /// its user (one round trip to the store; none with a [`RevocationStore::synced`] store whose
    /// local set is fresh). A valid token logs nothing; an expired one logs
    /// `token_expired` the first time this instance sees it.
    pub async fn verify(&self, token: &str, client_ip: Option<IpAddr>) -> Result<Claims, TokenError> {
        let claims = self.decode_cached(token)?;
        let leeway = i64::try_from(self.inner.config.leeway.as_secs()).unwrap_or(0);
        if claims.exp + leeway <= self.inner.revocations.now().timestamp() {
            self.log_expired_once(&claims, client_ip);
            return Err(TokenError::Expired);
        }
        let session = session_revocation_id(claims.session_id());
        let user = user_revocation_id(&claims.sub);
        let found = self.inner.revocations.revoked_at(&[&claims.jti, &session, &user]).await?;
        if covers(&found, claims.issued_at_ms()) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    /// After `issued` was signed for the caller of `security` (the fresh token of a second
    /// factor, in the caller's session): ends it and answers [`TokenError::Revoked`] when the
    /// caller's own token was revoked meanwhile (its token, its session, or "log out
    /// everywhere" after it was issued), read from the durable record
    /// ([`RevocationStore::revoked_at_now`]). A token is checked when its request arrives, so
    /// without this a second factor in flight while the user logged out everywhere handed out
    /// a token that outlived the logout (found by an attack). Not for a first factor, whose own
    /// [`revoke_all_sessions`](Self::revoke_all_sessions) ends the caller's token on purpose.
    pub async fn end_if_overtaken(&self, security: &SecurityContext, issued: &IssuedToken) -> Result<(), TokenError> {
        let (Some(principal), Some(jti), Some(session)) =
            (&security.principal, &security.token_id, &security.session_id)
        else {
            return Ok(());
        };
        let (session_id, user) = (session_revocation_id(session), user_revocation_id(&principal.id));
        let found = self.inner.revocations.revoked_at_now(&[jti, &session_id, &user]).await?;
        if !covers(&found, security.token_issued_at_ms.unwrap_or(i64::MAX)) {
            return Ok(());
        }
        self.revoke_session(principal, &issued.session_id, security.client_ip).await?;
        Err(TokenError::Revoked)
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

    /// Exchanges a valid token for a new one of the same session, user and second-factor
    /// state (the second factor's time is kept, so a step-up's maximum age is not extended),
    /// revoking the old one. Of several racing refreshes of one token exactly one succeeds.
    /// Logs `token_refreshed`.
    pub async fn refresh(&self, token: &str, client_ip: Option<IpAddr>) -> Result<IssuedToken, TokenError> {
        let claims = self.verify(token, client_ip).await?;
        if !self.inner.revocations.revoke(&claims.jti, &claims.sub, self.outlives(&claims)).await? {
            return Err(TokenError::Revoked);
        }
        let principal = claims.principal();
        let mfa = claims.mfa_state();
        let issued = self.sign(&principal, &mfa, &claims.enrolled_methods(), claims.session_id())?;
        if let Some(logger) = &self.inner.audit {
            let mut details = self.details(&issued, &mfa);
            details["previous_jti"] = claims.jti.clone().into();
            logger.log_token_refreshed(&principal, client_ip, details);
        }
        Ok(issued)
    }

    /// When a revocation of `claims`' token may be forgotten: once the token is refused as
    /// expired on every instance, clock skew included.
    fn outlives(&self, claims: &Claims) -> DateTime<Utc> {
        claims.expires_at() + self.leeway()
    }

    /// Revokes one verified token. Returns `false` if it already was; logs `token_revoked`
    /// (`scope: "token"`) only the first time. To log out, revoke the session
    /// ([`revoke_session`](Self::revoke_session)): a login may hold several tokens.
    pub async fn revoke(&self, claims: &Claims, client_ip: Option<IpAddr>) -> Result<bool, TokenError> {
        let revoked = self.inner.revocations.revoke(&claims.jti, &claims.sub, self.outlives(claims)).await?;
        if revoked && let Some(logger) = &self.inner.audit {
            logger.log_token_revoked(&claims.principal(), client_ip, json!({ "scope": "token", "jti": claims.jti }));
        }
        Ok(revoked)
    }

    /// Revokes an encoded token whose signature is valid, even if it has expired.
    pub async fn revoke_token(&self, token: &str, client_ip: Option<IpAddr>) -> Result<bool, TokenError> {
        let claims = self.decode(token)?;
        self.revoke(&claims, client_ip).await
    }

    /// Logout: revokes every token of `user`'s session `session_id` (the login's token, the
    /// one a second factor earned, refreshed ones), on every instance sharing the store.
    /// Returns `false` if it already was; logs `token_revoked` (`scope: "session"`) only the
    /// first time. The record is kept until every token of the session has expired (they were
    /// all issued before now), clock skew included.
    pub async fn revoke_session(
        &self,
        user: &Principal,
        session_id: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<bool, TokenError> {
        check_session_id(session_id)?;
        let expires_at = self.inner.revocations.now() + self.lifetime() + self.leeway();
        let id = session_revocation_id(session_id);
        let revoked = self.inner.revocations.revoke(&id, &user.id, expires_at).await?;
        if revoked && let Some(logger) = &self.inner.audit {
            logger.log_token_revoked(user, client_ip, json!({ "scope": "session", "sid": session_id }));
        }
        Ok(revoked)
    }

    /// Log out everywhere: revokes every token issued to `user` until now, whatever its
    /// session (dashboard sessions on the same store included); tokens issued afterwards
    /// (a new login) work. Repeating it moves the cut-off to the later time. Logs
    /// `token_revoked` (`scope: "all_sessions"`). The record is kept for this service's token
    /// lifetime plus the leeway: tokens of a service with a longer lifetime on the same store
    /// need its own call. Trusted devices are not sessions: to stop them skipping the second
    /// factor too, call `MfaManager::revoke_all_trusted_devices` first, and have a login that
    /// accepted a trusted device check it again after signing its token (the example server's
    /// `logoutEverywhere` and `login` do): a login in flight then either signed before this
    /// cut-off or finds its device gone.
    pub async fn revoke_all_sessions(&self, user: &Principal, client_ip: Option<IpAddr>) -> Result<(), TokenError> {
        let now = self.inner.revocations.now();
        let expires_at = now + self.lifetime() + self.leeway();
        self.inner.revocations.revoke_since(&user_revocation_id(&user.id), &user.id, now, expires_at).await?;
        if let Some(logger) = &self.inner.audit {
            logger.log_token_revoked(user, client_ip, json!({ "scope": "all_sessions", "revoked_before": now }));
        }
        Ok(())
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

fn check_session_id(session_id: &str) -> Result<(), TokenError> {
    if session_id.is_empty() || session_id.len() > MAX_SESSION_ID_BYTES {
        return Err(TokenError::InvalidSessionId);
    }
    Ok(())
}

/// Whether the revocation times `found` of a token's `[id, session, user]` revoke a token issued
/// at `issued_at_ms`: its id or session revoked, or its user's "log out everywhere" later than
/// it. A token issued in the very millisecond of a "log out everywhere" is taken as issued after
/// it (a login right after must work).
fn covers(found: &[Option<i64>], issued_at_ms: i64) -> bool {
    found.iter().take(2).any(Option::is_some) || found.get(2).copied().flatten().is_some_and(|at| issued_at_ms < at)
}

/// The revocation id of a session.
fn session_revocation_id(session_id: &str) -> String {
    format!("s:{session_id}")
}

/// The revocation id of all of a user's tokens: a hash, as user ids have any length and the
/// id column holds 64 characters.
fn user_revocation_id(user_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(user_id.as_bytes()));
    format!("u:{}", &digest[..62])
}
