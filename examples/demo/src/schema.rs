//! The demo's GraphQL schema: login and logout, the MFA-protected `secretNote`, notes, and the
//! admin-only `securityReport`.
//!
//! Errors carry a stable `code` extension: `INVALID_CREDENTIALS`, `RATE_LIMITED` (with
//! `retryAfter` in seconds), `UNAUTHENTICATED`, `MFA_REQUIRED` (with `methods`), `FORBIDDEN`,
//! `BAD_REQUEST`, `SERVICE_UNAVAILABLE`.

use std::sync::Arc;

use async_graphql::{Context, EmptySubscription, ErrorExtensions, Object, Schema, SchemaBuilder, SimpleObject};
use chrono::{DateTime, Duration, Utc};
use rail_graphql_security::audit::{AuditEvent, AuditEventType, AuditLogger};
use rail_graphql_security::auth::TokenService;
use rail_graphql_security::context::{
    MfaState, Principal, Requirement, SecurityContext, enforce, require_authenticated,
};
use rail_graphql_security::mfa::{MfaAccount, MfaDeviceType, MfaError, MfaManager};
use rail_graphql_security::rate_limit::LoginRateLimiter;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use crate::entities::{note, user};

/// The text `secretNote` returns to a caller who passed a second factor.
pub const SECRET_NOTE: &str = "The launch codes are in the blue folder.";

/// The demo's schema type.
pub type DemoSchema = Schema<Query, Mutation, EmptySubscription>;

/// What resolvers share (in the schema data).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    db: DatabaseConnection,
    mfa: MfaManager<i64>,
    logins: LoginRateLimiter,
    tokens: TokenService,
    logger: AuditLogger,
    /// Verified against when the username does not exist, so an unknown name costs as much
    /// time as a wrong password.
    dummy_hash: String,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// The shared state.
    pub fn new(
        db: DatabaseConnection,
        mfa: MfaManager<i64>,
        logins: LoginRateLimiter,
        tokens: TokenService,
        logger: AuditLogger,
    ) -> Self {
        let dummy_hash = crate::hash_password("a password nobody has").unwrap_or_default();
        AppState { inner: Arc::new(StateInner { db, mfa, logins, tokens, logger, dummy_hash }) }
    }

    /// The MFA manager.
    pub fn mfa(&self) -> &MfaManager<i64> {
        &self.inner.mfa
    }

    /// The second-factor methods `user` can use, as listed in `MFA_REQUIRED` errors: `totp`,
    /// `sms`, `backup_code`.
    pub async fn mfa_methods(&self, account: &MfaAccount<i64>) -> Result<Vec<String>, MfaError> {
        let mut methods = Vec::new();
        for device in self.inner.mfa.list_devices(account).await? {
            if !(device.is_active && device.confirmed) {
                continue;
            }
            let method = match device.device_type {
                MfaDeviceType::Totp => "totp",
                MfaDeviceType::Sms => "sms",
                MfaDeviceType::BackupCodes => continue,
            };
            if !methods.iter().any(|m| m == method) {
                methods.push(method.to_owned());
            }
        }
        if self.inner.mfa.remaining_backup_codes(account).await? > 0 {
            methods.push("backup_code".to_owned());
        }
        Ok(methods)
    }

    /// Issues a token for `principal` with `mfa`, listing the user's second-factor methods.
    /// The MFA API's success hook calls this with [`MfaState::verified`] to hand out a token
    /// that satisfies `require_mfa`.
    pub async fn issue_token(
        &self,
        principal: &Principal,
        mfa: &MfaState,
        client_ip: Option<std::net::IpAddr>,
    ) -> async_graphql::Result<String> {
        let id: i64 = principal.id.parse().map_err(|_| internal("user id is not a number"))?;
        let account = MfaAccount::new(id, principal.name.clone().unwrap_or_default());
        let methods = self.mfa_methods(&account).await.map_err(|e| unavailable(&e))?;
        let issued =
            self.inner.tokens.issue_with_methods(principal, mfa, &methods, client_ip).map_err(|e| e.extend())?;
        Ok(issued.token)
    }
}

fn coded(message: impl Into<String>, code: &'static str) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code))
}

fn internal(message: &str) -> async_graphql::Error {
    tracing::error!(message, "internal error");
    coded("internal error", "INTERNAL")
}

fn unavailable(error: &dyn std::fmt::Display) -> async_graphql::Error {
    tracing::error!(%error, "storage failure");
    coded("temporarily unavailable, try again shortly", "SERVICE_UNAVAILABLE")
}

fn state<'a>(ctx: &'a Context<'_>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

/// What `login` returns.
#[derive(Debug, SimpleObject)]
pub struct LoginPayload {
    /// The bearer token: `Authorization: Bearer <token>`.
    pub token: String,
    /// True when the user has a second factor to pass before MFA-protected fields answer
    /// (`verifyTotp`, `verifySms` or `verifyBackupCode` then return a token that does).
    pub mfa_required: bool,
}

/// The caller.
#[derive(Debug, SimpleObject)]
pub struct Me {
    /// The user id.
    pub id: String,
    /// The user name.
    pub username: Option<String>,
    /// The roles.
    pub roles: Vec<String>,
    /// Whether this session passed a second factor (or came from a trusted device).
    pub mfa_verified: bool,
}

/// A note.
#[derive(Debug, SimpleObject)]
pub struct Note {
    /// Its id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// Its text.
    pub body: String,
    /// When it was written (RFC 3339).
    pub created_at: String,
}

impl From<note::Model> for Note {
    fn from(model: note::Model) -> Self {
        Note { id: model.id, title: model.title, body: model.body, created_at: model.created_at.to_rfc3339() }
    }
}

/// The security report of a period (counts of audit events).
#[derive(Debug, SimpleObject)]
pub struct SecurityReport {
    /// Start of the period (RFC 3339, inclusive).
    pub start: String,
    /// End of the period (RFC 3339, exclusive).
    pub end: String,
    /// `login_failed` events.
    pub failed_logins: u64,
    /// `login_success` events.
    pub successful_logins: u64,
    /// `suspicious_activity` events.
    pub suspicious_activities: u64,
    /// `rate_limit_exceeded` events.
    pub rate_limit_hits: u64,
    /// MFA enable, disable, success and failure events.
    pub mfa_events: u64,
    /// `unauthorized_access` events.
    pub unauthorized_access: u64,
    /// All events.
    pub total_events: u64,
    /// 0–100, higher is better.
    pub security_score: f64,
}

fn parse_time(name: &str, value: Option<String>, default: DateTime<Utc>) -> async_graphql::Result<DateTime<Utc>> {
    match value {
        None => Ok(default),
        Some(text) => DateTime::parse_from_rfc3339(text.trim()).map(|t| t.with_timezone(&Utc)).map_err(|_| {
            coded(
                format!("`{name}` must be an RFC 3339 date-time such as 2026-11-28T12:00:00Z, got {text:?}"),
                "BAD_REQUEST",
            )
        }),
    }
}

/// The query root.
#[derive(Debug, Default)]
pub struct Query;

#[Object]
impl Query {
    /// The caller (`UNAUTHENTICATED` without a token).
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Me> {
        require_authenticated(ctx)?;
        let security = SecurityContext::from_graphql(ctx).ok_or_else(|| internal("no security context"))?;
        let principal = security.principal.as_ref().ok_or_else(|| internal("no principal"))?;
        Ok(Me {
            id: principal.id.clone(),
            username: principal.name.clone(),
            roles: principal.roles.clone(),
            mfa_verified: security.mfa.satisfies(None, Utc::now()),
        })
    }

    /// A secret only sessions that passed a second factor may read: `MFA_REQUIRED` (with the
    /// user's `methods`) otherwise. Refusals are audited as `unauthorized_access`, reads as
    /// `secret_note_read`.
    async fn secret_note(&self, ctx: &Context<'_>) -> async_graphql::Result<&'static str> {
        let security = enforce(ctx, "Query.secretNote", &Requirement::Mfa { max_age: None })?;
        let mut event = AuditEvent::new(AuditEventType::Custom("secret_note_read".into()))
            .client_ip(security.client_ip)
            .request_id(security.request_id.clone());
        if let Some(principal) = &security.principal {
            event = event.actor(principal);
        }
        state(ctx).inner.logger.log(event);
        Ok(SECRET_NOTE)
    }

    /// The caller's notes, newest first.
    async fn notes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Note>> {
        let principal = require_authenticated(ctx)?;
        let owner: i64 = principal.id.parse().map_err(|_| internal("user id is not a number"))?;
        let rows = note::Entity::find()
            .filter(note::Column::OwnerId.eq(owner))
            .order_by_desc(note::Column::Id)
            .all(&state(ctx).inner.db)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(rows.into_iter().map(Note::from).collect())
    }

    /// Security event counts for `[start, end)` (RFC 3339; default: the last 24 hours). Admins
    /// only: `FORBIDDEN` otherwise, audited as `unauthorized_access`.
    async fn security_report(
        &self,
        ctx: &Context<'_>,
        start: Option<String>,
        end: Option<String>,
    ) -> async_graphql::Result<SecurityReport> {
        enforce(ctx, "Query.securityReport", &Requirement::Role("admin".into()))?;
        let now = Utc::now();
        let start = parse_time("start", start, now - Duration::hours(24))?;
        let end = parse_time("end", end, now + Duration::seconds(1))?;
        let logger = &state(ctx).inner.logger;
        // Events of this instance still in the queue are written first.
        logger.flush().await.map_err(|e| unavailable(&e))?;
        let report = logger.generate_security_report(start, end).await.map_err(|e| match e {
            rail_graphql_security::audit::AuditError::Report(
                inverted @ rail_graphql_security::audit::ReportError::InvertedPeriod { .. },
            ) => coded(inverted.to_string(), "BAD_REQUEST"),
            other => unavailable(&other),
        })?;
        Ok(SecurityReport {
            start: report.start.to_rfc3339(),
            end: report.end.to_rfc3339(),
            failed_logins: report.failed_logins,
            successful_logins: report.successful_logins,
            suspicious_activities: report.suspicious_activities,
            rate_limit_hits: report.rate_limit_hits,
            mfa_events: report.mfa_events,
            unauthorized_access: report.unauthorized_access,
            total_events: report.total_events,
            security_score: report.security_score,
        })
    }
}

/// The mutation root.
#[derive(Debug, Default)]
pub struct Mutation;

#[Object]
impl Mutation {
    /// Logs in with a password. Attempts are limited per username and per client address
    /// (`RATE_LIMITED` with `retryAfter`); every attempt is audited (`login_success` /
    /// `login_failed`). A valid `deviceToken` (the `deviceId` of `verifyTotp(trustDevice:
    /// true)`) skips the second factor: the token then satisfies `require_mfa`.
    async fn login(
        &self,
        ctx: &Context<'_>,
        username: String,
        password: String,
        device_token: Option<String>,
    ) -> async_graphql::Result<LoginPayload> {
        let app = state(ctx);
        let security = SecurityContext::from_graphql(ctx).cloned().unwrap_or_default();
        let (ip, user_agent) = (security.client_ip, security.user_agent.as_deref());
        let username = username.trim();
        if username.is_empty() || username.len() > 150 {
            return Err(coded("username must be 1 to 150 characters", "BAD_REQUEST"));
        }
        app.inner.logins.check(username, ip).await.map_err(|e| e.extend())?;

        let row = user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(&app.inner.db)
            .await
            .map_err(|e| unavailable(&e))?;
        let hash = row.as_ref().map_or_else(|| app.inner.dummy_hash.clone(), |u| u.password_hash.clone());
        let password_ok = tokio::task::spawn_blocking(move || crate::verify_password(&password, &hash))
            .await
            .map_err(|_| internal("password check panicked"))?;
        let user = match row {
            Some(user) if password_ok => user,
            found => {
                let reason = if found.is_some() { "invalid password" } else { "unknown user" };
                app.inner.logger.log_authentication_failure(username, ip, user_agent, reason);
                return Err(coded("invalid username or password", "INVALID_CREDENTIALS"));
            }
        };

        let principal = Principal::new(user.id, user.username.clone()).with_roles([user.role.clone()]);
        let account = MfaAccount::new(user.id, user.username.clone());
        let mfa = app.inner.mfa.with_client_ip(ip);
        let mfa_required = mfa.is_mfa_required(&account).await.map_err(|e| unavailable(&e))?;
        let trusted = match (mfa_required, device_token.as_deref().map(str::trim)) {
            (true, Some(token)) if !token.is_empty() => {
                mfa.verify_trusted_device(&account, token).await.map_err(|e| unavailable(&e))?
            }
            _ => false,
        };
        let state = if trusted { MfaState::trusted_device(Utc::now()) } else { MfaState::none() };
        let method = if trusted { "password+trusted_device" } else { "password" };
        app.inner.logger.log_authentication_success(&principal, ip, user_agent, json!({ "login_method": method }));
        let token = app.issue_token(&principal, &state, ip).await?;
        Ok(LoginPayload { token, mfa_required: mfa_required && !trusted })
    }

    /// Revokes the token of this request (on every instance). Returns false when it already was.
    async fn logout(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let principal = require_authenticated(ctx)?.clone();
        let security = SecurityContext::from_graphql(ctx).ok_or_else(|| internal("no security context"))?;
        let Some(jti) = security.token_id.clone() else {
            return Err(coded("this session has no token to revoke", "BAD_REQUEST"));
        };
        let app = state(ctx);
        let ip = security.client_ip;
        let expires = Utc::now() + Duration::from_std(app.inner.tokens.config().lifetime).unwrap_or_default();
        let revoked = app
            .inner
            .tokens
            .revocations()
            .revoke(&jti, &principal.id, expires + Duration::minutes(5))
            .await
            .map_err(|e| e.extend())?;
        if revoked {
            app.inner.logger.log_token_revoked(&principal, ip, json!({ "jti": jti }));
            app.inner.logger.log_logout(&principal, ip, security.user_agent.as_deref());
        }
        Ok(revoked)
    }

    /// Writes a note owned by the caller.
    async fn create_note(&self, ctx: &Context<'_>, title: String, body: String) -> async_graphql::Result<Note> {
        let principal = require_authenticated(ctx)?;
        let owner: i64 = principal.id.parse().map_err(|_| internal("user id is not a number"))?;
        let (title, body) = (title.trim().to_owned(), body.trim().to_owned());
        if title.is_empty() || title.chars().count() > 200 {
            return Err(coded("title must be 1 to 200 characters", "BAD_REQUEST"));
        }
        if body.chars().count() > 10_000 {
            return Err(coded("body must be at most 10000 characters", "BAD_REQUEST"));
        }
        let row = note::ActiveModel {
            owner_id: Set(owner),
            title: Set(title),
            body: Set(body),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&state(ctx).inner.db)
        .await
        .map_err(|e| unavailable(&e))?;
        Ok(row.into())
    }
}

/// The schema builder with the roots and [`AppState`] in the schema data.
pub fn schema_builder(state: AppState) -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation, EmptySubscription).data(state)
}
