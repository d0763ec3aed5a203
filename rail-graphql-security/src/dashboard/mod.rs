//! The security dashboard (feature `dashboard`): the [security report](crate::audit::SecurityReport)
//! as an admin-only web page, an axum [`Router`] you mount in your app.
//!
//! It shows, for a chosen period (`?preset=24h|7d|30d|90d` or `?start=…&end=…`): the security
//! score, failed vs. successful logins over time (an SVG chart rendered on the server),
//! suspicious activity, rate-limit hits, MFA adoption, the top failing addresses and most
//! targeted accounts, recent high/critical events (filterable by severity and type), the audit
//! trail's chains and checkpoints, the dead letters (how many events a sink refused for good,
//! the newest with the sink and its error) and the findings of `security_check` for the
//! configuration you pass in. Every number comes from SQL
//! aggregates (the queries behind
//! [`AuditLogger::generate_security_report`](crate::audit::AuditLogger::generate_security_report)
//! and a few `GROUP BY`/`LIMIT` queries); no query loads every event.
//!
//! The page is plain HTML with one stylesheet served by the router itself: no JavaScript, no
//! CDN, it works offline. Every value from the database is HTML-escaped (the templates are
//! [maud](https://maud.lambda.xyz), which escapes by construction), and every response carries
//! a strict Content-Security-Policy ([`DASHBOARD_CSP`]: no scripts at all, styles only from the
//! router, no framing).
//!
//! # Signing in
//!
//! A browser cannot send a bearer header, so the dashboard has its own login form. Your
//! [`DashboardAuthenticator`] checks the username and password and returns the [`Principal`];
//! the dashboard then issues a token with your [`TokenService`] (under a dashboard-only issuer,
//! so the session token is not accepted by your API and API tokens are not accepted by the
//! dashboard) and stores it in a cookie scoped to the mount path, by default `HttpOnly`,
//! `SameSite=Strict` and `Secure` ([`DashboardBuilder::cookie_policy`] takes the deployment
//! settings' attributes; [`DashboardBuilder::secure_cookie`] turns `Secure` off for plain-HTTP
//! development).
//! Logging out revokes the session (on every instance). Logins emit the usual `login_success` / `login_failed` events
//! (and `token_created`, `logout`, `token_revoked`); a signed-in user without the role
//! (default `admin`) gets 403 and an `unauthorized_access` event.
//!
//! ## The second factor
//!
//! The sign-in has two steps. After the right password, the dashboard asks your
//! [`DashboardSecondFactor`] (pass your [`MfaManager`](crate::mfa::MfaManager) to
//! [`DashboardBuilder::second_factor`]) whether the account has a confirmed second factor:
//!
//! - it has one: no session yet. The browser gets a short-lived pending cookie
//!   ([`SECOND_FACTOR_COOKIE`], a token under a second dashboard-only issuer that neither the
//!   dashboard pages nor your API accept; default lifetime 5 minutes,
//!   [`DashboardBuilder::second_factor_timeout`]) and is sent to `login/second-factor`, a form
//!   for a TOTP code or a backup code. Only a right code starts the session, recorded with the
//!   second factor passed (`mfa: verified`, the method and the time), and only then is
//!   `login_success` logged. The pending token is single-use (revoked when it is exchanged).
//!   Wrong codes are throttled and audited by the MFA manager (`mfa_failed`, `account_locked`)
//!   and count against the login rate limit; when that trips, the pending state ends and the
//!   password step starts again;
//! - it has none, but one of its roles requires MFA ([`DashboardBuilder::mfa_required_roles`],
//!   default: the dashboard role): the sign-in is refused with a page saying to enrol a second
//!   factor first (HTTP 403, audited as `unauthorized_access`);
//! - otherwise (no factor, no role that requires one) the session starts after the password.
//!
//! A session of a role that requires MFA without the second factor recorded (e.g. one issued
//! before the upgrade to two steps) is not accepted: the user signs in again.
//!
//! CSRF: the only state-changing requests are `POST login`, `POST login/second-factor` and
//! `POST logout`. Besides the `SameSite=Strict` cookies, they require an `Origin` header naming
//! the request's own host (or, without `Origin`, `Sec-Fetch-Site: same-origin`); anything else
//! gets 403. Behind a reverse proxy, pass the original `Host` header through
//! (`proxy_set_header Host $host;`).
//!
//! # Mounting
//!
//! ```no_run
//! # async fn run(db: sea_orm::DatabaseConnection, tokens: rail_graphql_security::auth::TokenService,
//! #     logger: rail_graphql_security::audit::AuditLogger, mfa: rail_graphql_security::mfa::MfaManager<i64>,
//! #     config: rail_graphql_security::config::StandardSecurityConfig) -> Result<(), Box<dyn std::error::Error>> {
//! use std::net::SocketAddr;
//! use rail_graphql_security::config::{Profile, SecurityConfig};
//! use rail_graphql_security::context::Principal;
//! use rail_graphql_security::dashboard::{self, Dashboard};
//! use secrecy::{ExposeSecret, SecretString};
//!
//! let dashboard = Dashboard::builder(db, tokens, |username: String, password: SecretString| async move {
//!     // Check the password against your user table here.
//!     (username == "root" && password.expose_secret() == "correct horse")
//!         .then(|| Principal::new(1, "root").with_roles(["admin"]))
//! })
//! // Accounts with a confirmed factor pass it at sign-in; admins without one are refused.
//! .second_factor(mfa)
//! .audit(logger)
//! .findings(config.run_checks(&Profile::Production))
//! .build()?;
//! let app = axum::Router::new().merge(dashboard::router_at("/security", dashboard)?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(()) }
//! ```
//!
//! Routes (relative to the mount path): `GET /` the dashboard (the mount path with a trailing
//! slash redirects to it, see [`router_at`]), `GET /report.json` the same period's
//! [`SecurityReport`](crate::audit::SecurityReport) as JSON, `GET|POST /login`,
//! `GET|POST /login/second-factor`, `POST /logout`, `GET /assets/dashboard.css`.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sea_orm::DatabaseConnection;
use secrecy::SecretString;

use crate::audit::AuditLogger;
use crate::auth::TokenService;
use crate::config::CheckReport;
use crate::context::Principal;
use crate::http::CookiePolicy;
use crate::rate_limit::LoginRateLimiter;

mod chart;
mod page;
mod period;
mod query;
mod second_factor;
mod session;
mod two_step;

pub use self::period::{Period, PeriodError, Preset};
pub use self::query::{RecentEvent, recent_events};
pub use self::second_factor::{
    DashboardSecondFactor, SecondFactorCheck, SecondFactorError, SecondFactorMethod, SecondFactorStatus,
};

/// The Content-Security-Policy of every dashboard response: no scripts at all, the stylesheet
/// from the router itself, forms posting only to this origin, no framing.
pub const DASHBOARD_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "rail_dashboard_session";

/// The name of the cookie that carries a sign-in between the password and the second factor.
/// It opens nothing but the second-factor form.
pub const SECOND_FACTOR_COOKIE: &str = "rail_dashboard_second_factor";

/// How long a sign-in may wait between the password and the second factor, by default.
pub const DEFAULT_SECOND_FACTOR_TIMEOUT: Duration = Duration::from_secs(300);

/// Checks a username and password typed into the dashboard's login form.
///
/// Implemented for async closures `Fn(String, SecretString) -> impl Future<Output =
/// Option<Principal>>`. Return the user (with their roles) when the credentials are right,
/// `None` otherwise; do not say which part was wrong.
#[async_trait::async_trait]
pub trait DashboardAuthenticator: Send + Sync + 'static {
    /// The user whose credentials these are, if they are right.
    async fn authenticate(&self, username: String, password: SecretString) -> Option<Principal>;
}

#[async_trait::async_trait]
impl<F, Fut> DashboardAuthenticator for F
where
    F: Fn(String, SecretString) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<Principal>> + Send + 'static,
{
    async fn authenticate(&self, username: String, password: SecretString) -> Option<Principal> {
        self(username, password).await
    }
}

/// The dashboard could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DashboardError {
    /// The required role is empty: nobody could ever pass it.
    #[error("the dashboard role is empty: pass the role admins have, e.g. `.role(\"admin\")`")]
    EmptyRole,
    /// The session lifetime is zero.
    #[error("the dashboard session lifetime is zero: pass e.g. `.session_lifetime(Duration::from_secs(3600))`")]
    ZeroLifetime,
    /// The time allowed for the second factor is zero.
    #[error(
        "the dashboard's second-factor timeout is zero: pass e.g. `.second_factor_timeout(Duration::from_secs(300))`"
    )]
    ZeroSecondFactorTimeout,
    /// Some roles require MFA but the dashboard has nothing to check a second factor with.
    #[error(
        "the dashboard requires a second factor of the roles {roles:?} but has no way to check one: pass your MFA manager with `.second_factor(mfa)` (or, knowingly, `.mfa_required_roles(Vec::<String>::new())`)"
    )]
    NoSecondFactor {
        /// The roles that require MFA.
        roles: Vec<String>,
    },
    /// [`router_at`] was given a path it cannot mount the dashboard at.
    #[error("the dashboard cannot be mounted at {path:?}: {reason}, e.g. `/security`")]
    MountPath {
        /// The path given (at most 128 characters of it).
        path: String,
        /// What to change.
        reason: &'static str,
    },
}

/// The dashboard's state; build it with [`Dashboard::builder`] and mount [`router`]. Cheap to
/// clone.
#[derive(Clone)]
pub struct Dashboard {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    sessions: TokenService,
    authenticator: Arc<dyn DashboardAuthenticator>,
    /// Signs the pending state between the password and the second factor.
    pending: TokenService,
    second_factor: Option<Arc<dyn DashboardSecondFactor>>,
    mfa_roles: Vec<String>,
    audit: Option<AuditLogger>,
    findings: Option<CheckReport>,
    role: String,
    cookie: CookiePolicy,
    login_limiter: Option<LoginRateLimiter>,
}

impl Inner {
    /// Whether one of `roles` requires a second factor.
    fn requires_mfa(&self, roles: &[String]) -> bool {
        roles.iter().any(|role| self.mfa_roles.contains(role))
    }
}

impl fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dashboard")
            .field("role", &self.inner.role)
            .field("cookie", &self.inner.cookie)
            .field("mfa_required_roles", &self.inner.mfa_roles)
            .field("second_factor", &self.inner.second_factor.is_some())
            .field("findings", &self.inner.findings.as_ref().map(|r| r.checks.len()))
            .finish_non_exhaustive()
    }
}

impl Dashboard {
    /// Starts a dashboard reading `audit_events` (and the MFA tables) from `db`, issuing session
    /// tokens with `tokens`' secret and revocation list, and checking logins with
    /// `authenticator`.
    pub fn builder(
        db: DatabaseConnection,
        tokens: TokenService,
        authenticator: impl DashboardAuthenticator,
    ) -> DashboardBuilder {
        DashboardBuilder {
            db,
            tokens,
            authenticator: Arc::new(authenticator),
            second_factor: None,
            mfa_roles: None,
            second_factor_timeout: DEFAULT_SECOND_FACTOR_TIMEOUT,
            audit: None,
            findings: None,
            role: "admin".to_owned(),
            cookie: CookiePolicy::default(),
            lifetime: None,
            login_limiter: None,
        }
    }

    /// The role a user needs (default `admin`).
    pub fn role(&self) -> &str {
        &self.inner.role
    }

    /// The roles whose users must pass a second factor to sign in.
    pub fn mfa_required_roles(&self) -> &[String] {
        &self.inner.mfa_roles
    }

    /// The service issuing and verifying dashboard sessions (issuer `<your issuer>#dashboard`).
    pub fn session_tokens(&self) -> &TokenService {
        &self.inner.sessions
    }
}

/// Settings of a [`Dashboard`].
pub struct DashboardBuilder {
    db: DatabaseConnection,
    tokens: TokenService,
    authenticator: Arc<dyn DashboardAuthenticator>,
    second_factor: Option<Arc<dyn DashboardSecondFactor>>,
    mfa_roles: Option<Vec<String>>,
    second_factor_timeout: Duration,
    audit: Option<AuditLogger>,
    findings: Option<CheckReport>,
    role: String,
    cookie: CookiePolicy,
    lifetime: Option<Duration>,
    login_limiter: Option<LoginRateLimiter>,
}

impl fmt::Debug for DashboardBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashboardBuilder")
            .field("role", &self.role)
            .field("cookie", &self.cookie)
            .field("mfa_required_roles", &self.mfa_roles)
            .field("second_factor", &self.second_factor.is_some())
            .finish_non_exhaustive()
    }
}

impl DashboardBuilder {
    /// The role a user needs to see the dashboard (default `admin`).
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = role.into();
        self
    }

    /// Checks second factors with `second_factor`, usually your
    /// [`MfaManager`](crate::mfa::MfaManager): a user with a confirmed factor passes it before
    /// the session starts (see [the module docs](self#the-second-factor)).
    pub fn second_factor(mut self, second_factor: impl DashboardSecondFactor) -> Self {
        self.second_factor = Some(Arc::new(second_factor));
        self
    }

    /// The roles whose users may not sign in without a confirmed second factor (default: the
    /// dashboard's role, i.e. everyone who may see it). Users of other roles with a factor
    /// still pass it. An empty list turns the requirement off.
    pub fn mfa_required_roles<I, R>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        self.mfa_roles = Some(roles.into_iter().map(Into::into).collect());
        self
    }

    /// How long a sign-in may wait between the password and the second factor (default
    /// [`DEFAULT_SECOND_FACTOR_TIMEOUT`], 5 minutes).
    pub fn second_factor_timeout(mut self, timeout: Duration) -> Self {
        self.second_factor_timeout = timeout;
        self
    }

    /// Logs logins, logouts, session tokens and refusals through `logger`.
    pub fn audit(mut self, logger: AuditLogger) -> Self {
        self.audit = Some(logger);
        self
    }

    /// The `security_check` findings to show, e.g. `config.run_checks(&profile)`.
    pub fn findings(mut self, report: CheckReport) -> Self {
        self.findings = Some(report);
        self
    }

    /// Whether the session cookie is `Secure` (HTTPS only). On by default; turn it off only
    /// for plain-HTTP development, e.g. `.secure_cookie(profile.is_production())`.
    pub fn secure_cookie(mut self, secure: bool) -> Self {
        self.cookie.secure = secure;
        self
    }

    /// The session cookie's `Secure`, `HttpOnly` and `SameSite` attributes (default
    /// `Secure; HttpOnly; SameSite=Strict`), e.g. the deployment settings'
    /// [`Security::cookie_policy`](crate::stack::Security::cookie_policy). The sign-in and
    /// sign-out forms check the `Origin` header whatever `SameSite` says.
    pub fn cookie_policy(mut self, policy: CookiePolicy) -> Self {
        self.cookie = policy;
        self
    }

    /// How long a dashboard session lasts (default: your token lifetime).
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Limits login attempts per username and client address (refusals get HTTP 429).
    pub fn login_rate_limit(mut self, limiter: LoginRateLimiter) -> Self {
        self.login_limiter = Some(limiter);
        self
    }

    /// The dashboard, or why these settings cannot work.
    pub fn build(self) -> Result<Dashboard, DashboardError> {
        if self.role.trim().is_empty() {
            return Err(DashboardError::EmptyRole);
        }
        let mut config = self.tokens.config().clone();
        if let Some(lifetime) = self.lifetime {
            config = config.lifetime(lifetime);
        }
        if config.lifetime.is_zero() {
            return Err(DashboardError::ZeroLifetime);
        }
        if self.second_factor_timeout.is_zero() {
            return Err(DashboardError::ZeroSecondFactorTimeout);
        }
        let mfa_roles = self.mfa_roles.unwrap_or_else(|| vec![self.role.clone()]);
        if self.second_factor.is_none() && !mfa_roles.is_empty() {
            return Err(DashboardError::NoSecondFactor { roles: mfa_roles });
        }
        // Not audited: a pending sign-in is no login and its token opens nothing.
        let pending_config = config
            .clone()
            .issuer(format!("{}#dashboard-second-factor", config.issuer))
            .lifetime(self.second_factor_timeout);
        let pending = TokenService::new(pending_config, self.tokens.revocations().clone());
        let issuer = format!("{}#dashboard", config.issuer);
        let mut sessions = TokenService::new(config.issuer(issuer), self.tokens.revocations().clone());
        if let Some(logger) = &self.audit {
            sessions = sessions.with_audit(logger.clone());
        }
        Ok(Dashboard {
            inner: Arc::new(Inner {
                db: self.db,
                sessions,
                authenticator: self.authenticator,
                pending,
                second_factor: self.second_factor,
                mfa_roles,
                audit: self.audit,
                findings: self.findings,
                role: self.role,
                cookie: self.cookie,
                login_limiter: self.login_limiter,
            }),
        })
    }
}

/// The dashboard's routes, relative to where you put them: `merge` them at the root of an app,
/// or `nest` them yourself. Prefer [`router_at`], which also answers the mount path with a
/// trailing slash: under axum 0.8's `Router::nest("/security", …)` the page answers
/// `/security` only, and `/security/` is a 404 of the outer router (`nest_service` answers
/// both). Serve the app with `into_make_service_with_connect_info::<SocketAddr>()` (or behind
/// [`HttpSecurity`](crate::http::HttpSecurity), whose proxy-aware client address is used) so
/// audit events carry the client address.
pub fn router<S: Clone + Send + Sync + 'static>(dashboard: Dashboard) -> Router<S> {
    Router::new()
        .route("/", get(page::dashboard_page))
        .route("/report.json", get(page::report_json))
        .route("/login", get(session::login_page).post(session::login))
        .route("/login/second-factor", get(two_step::second_factor_page).post(two_step::second_factor))
        .route("/logout", post(session::logout))
        .route("/assets/dashboard.css", get(page::stylesheet))
        .layer(axum::middleware::map_response(session::harden))
        .with_state(dashboard)
}

/// The dashboard mounted at `path` (`/security`, `/admin/security`), to `merge` into your app.
///
/// The page answers at `path`; `path/` (a typed or bookmarked trailing slash) redirects there
/// with `308 Permanent Redirect`, keeping the query string. `"/"` mounts the dashboard at the
/// root of the app. The path must be literal (no `{capture}`: links and the cookie path name
/// it), made of letters, digits, `-`, `.`, `_`, `~` and `/`, without a trailing `/`.
///
/// ```
/// # fn build(dashboard: rail_graphql_security::dashboard::Dashboard) -> Result<(), rail_graphql_security::dashboard::DashboardError> {
/// let app: axum::Router = axum::Router::new()
///     .route("/health", axum::routing::get(|| async { "ok" }))
///     .merge(rail_graphql_security::dashboard::router_at("/security", dashboard)?);
/// # Ok(()) }
/// ```
pub fn router_at<S: Clone + Send + Sync + 'static>(
    path: &str,
    dashboard: Dashboard,
) -> Result<Router<S>, DashboardError> {
    check_mount_path(path)?;
    if path == "/" {
        return Ok(router(dashboard));
    }
    let home = path.to_owned();
    let to_home = move |uri: Uri| async move { session::harden(slash_redirect(&home, &uri)).await };
    Ok(Router::new().nest(path, router(dashboard)).route(&format!("{path}/"), get(to_home)))
}

/// `308` from `path/?query` to `path?query`.
fn slash_redirect(home: &str, uri: &Uri) -> Response {
    let target = match uri.query() {
        Some(query) => format!("{home}?{query}"),
        None => home.to_owned(),
    };
    // The query is already URI text, so this parses; without it the page is still right.
    let location = HeaderValue::from_str(&target)
        .or_else(|_| HeaderValue::from_str(home))
        .unwrap_or(HeaderValue::from_static("/"));
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, location)]).into_response()
}

fn check_mount_path(path: &str) -> Result<(), DashboardError> {
    let reason = if !path.starts_with('/') {
        "start it with `/`"
    } else if path == "/" {
        return Ok(());
    } else if path.ends_with('/') {
        "drop the trailing `/`"
    } else if path.split('/').skip(1).any(|segment| segment.is_empty() || segment == "." || segment == "..") {
        "remove the empty, `.` or `..` segment"
    } else if !path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b)) {
        "use only letters, digits, `-`, `.`, `_`, `~` and `/` (no `{capture}`: links and the cookie name the literal path)"
    } else {
        return Ok(());
    };
    Err(DashboardError::MountPath { path: path.chars().take(128).collect(), reason })
}
