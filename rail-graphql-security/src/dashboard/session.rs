//! Signing in and out: the login form, the session cookie, the same-origin check of POSTs,
//! the admin check, and the headers every dashboard response gets. The second step of the
//! sign-in is in `two_step`.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, NestedPath, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::{DASHBOARD_CSP, Dashboard, SECOND_FACTOR_COOKIE, SESSION_COOKIE};
use crate::auth::Claims;
use crate::context::{MfaLevel, MfaState, Principal, SecurityContext};
use crate::http::{cookie_value, is_same_origin};

/// Longest username accepted by the form (longer ones are refused before any check).
const MAX_USERNAME: usize = 256;
/// Longest password accepted by the form.
const MAX_PASSWORD: usize = 1024;

/// What every dashboard handler needs to know about the request.
pub(crate) struct RequestInfo {
    /// The mount path without a trailing slash (`""` at the root).
    pub(crate) base: String,
    pub(crate) client_ip: Option<IpAddr>,
    pub(crate) user_agent: Option<String>,
    session_token: Option<String>,
    /// The token of a sign-in waiting for its second factor.
    pub(crate) pending_token: Option<String>,
    pub(crate) same_origin: bool,
}

impl RequestInfo {
    /// The dashboard page's path.
    pub(crate) fn home(&self) -> String {
        if self.base.is_empty() { "/".to_owned() } else { self.base.clone() }
    }

    /// The path of a route below the mount path (`"/login"`).
    pub(crate) fn path(&self, route: &str) -> String {
        format!("{}{route}", self.base)
    }
}

impl FromRequestParts<Dashboard> for RequestInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Dashboard) -> Result<Self, Self::Rejection> {
        let base = NestedPath::from_request_parts(parts, state)
            .await
            .map(|p| p.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        // Behind `HttpSecurity` its proxy-aware address is used; otherwise the socket's.
        let client_ip = parts
            .extensions
            .get::<SecurityContext>()
            .and_then(|c| c.client_ip)
            .or_else(|| parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()));
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).chars().take(512).collect());
        Ok(RequestInfo {
            base,
            client_ip,
            user_agent,
            session_token: cookie_value(&parts.headers, SESSION_COOKIE),
            pending_token: cookie_value(&parts.headers, SECOND_FACTOR_COOKIE),
            same_origin: is_same_origin(&parts.headers),
        })
    }
}

/// A `Set-Cookie` value for the cookie `name` (`max_age` 0 clears it).
pub(crate) fn cookie(dashboard: &Dashboard, info: &RequestInfo, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let path = if info.base.is_empty() { "/" } else { &info.base };
    let attributes = dashboard.inner.cookie.attributes();
    let cookie = format!("{name}={value}; Path={path}; Max-Age={max_age}{attributes}");
    // A token is base64url with dots and a nested path is a valid URI path, so this parses;
    // fall back to a cookie that clears the session rather than panicking.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("rail_dashboard_session=; Max-Age=0"))
}

/// Adds a `Set-Cookie` that clears the cookie `name`.
pub(crate) fn clear_cookie(response: &mut Response, dashboard: &Dashboard, info: &RequestInfo, name: &str) {
    response.headers_mut().append(header::SET_COOKIE, cookie(dashboard, info, name, "", 0));
}

/// The signed-in administrator, or the response to send instead: a redirect to the login form
/// (no or invalid session), 403 (no role) or 503 (the revocation list is down).
pub(crate) async fn require_admin(dashboard: &Dashboard, info: &RequestInfo) -> Result<Claims, Response> {
    let Some(token) = &info.session_token else {
        return Err(Redirect::to(&info.path("/login")).into_response());
    };
    let expired = || {
        let mut response = Redirect::to(&info.path("/login?expired=1")).into_response();
        clear_cookie(&mut response, dashboard, info, SESSION_COOKIE);
        response
    };
    let claims = match dashboard.inner.sessions.verify(token, info.client_ip).await {
        // A role that requires MFA needs a session that passed it (one issued before the
        // second step existed did not).
        Ok(claims) if dashboard.inner.requires_mfa(&claims.roles) && claims.mfa != MfaLevel::Verified => {
            return Err(expired());
        }
        Ok(claims) => claims,
        Err(error) if error.is_client_error() => return Err(expired()),
        Err(error) => {
            tracing::error!(%error, "dashboard session could not be checked");
            return Err(message_page(StatusCode::SERVICE_UNAVAILABLE, "Sessions are unavailable; try again shortly."));
        }
    };
    let role = &dashboard.inner.role;
    if !claims.roles.iter().any(|r| r == role) {
        if let Some(logger) = &dashboard.inner.audit {
            let principal = claims.principal();
            let reason = format!("missing role {role}");
            logger.log_unauthorized_access(
                Some(&principal),
                info.client_ip,
                info.user_agent.as_deref(),
                "security_dashboard",
                &reason,
            );
        }
        let page = layout(
            "Forbidden",
            html! {
                main.narrow {
                    h1 { "Forbidden" }
                    p data-testid="forbidden" { "Your account does not have the " code { (role) } " role this dashboard needs." }
                    (logout_form(info))
                }
            },
            info,
        );
        return Err((StatusCode::FORBIDDEN, Html(page.into_string())).into_response());
    }
    Ok(claims)
}

/// The page skeleton shared by every dashboard page.
pub(crate) fn layout(title: &str, body: Markup, info: &RequestInfo) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " · Security dashboard" }
                link rel="stylesheet" href=(info.path("/assets/dashboard.css"));
            }
            body { (body) }
        }
    }
}

pub(crate) fn logout_form(info: &RequestInfo) -> Markup {
    html! {
        form.inline method="post" action=(info.path("/logout")) {
            button type="submit" data-testid="logout" { "Log out" }
        }
    }
}

pub(crate) fn message_page(status: StatusCode, message: &str) -> Response {
    let page = html! {
        (DOCTYPE)
        html lang="en" { head { meta charset="utf-8"; title { "Security dashboard" } } body { p { (message) } } }
    };
    (status, Html(page.into_string())).into_response()
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    expired: Option<String>,
}

/// `GET /login`: the form.
pub(crate) async fn login_page(info: RequestInfo, Query(query): Query<LoginQuery>) -> Response {
    let notice = query.expired.is_some().then_some("Your session has ended; log in again.");
    login_form(&info, StatusCode::OK, notice, "")
}

pub(crate) fn login_form(info: &RequestInfo, status: StatusCode, error: Option<&str>, username: &str) -> Response {
    let page = layout(
        "Log in",
        html! {
            main.narrow {
                h1 { "Security dashboard" }
                @if let Some(error) = error { p.error role="alert" data-testid="login-error" { (error) } }
                form.login method="post" action=(info.path("/login")) {
                    label for="username" { "Username" }
                    input #username name="username" type="text" autocomplete="username" required value=(username);
                    label for="password" { "Password" }
                    input #password name="password" type="password" autocomplete="current-password" required;
                    button #login type="submit" { "Log in" }
                }
            }
        },
        info,
    );
    (status, Html(page.into_string())).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST /login`: checks the origin, the rate limit and the credentials; on success goes on to
/// the second step (`two_step::after_password`), which sets the session cookie or asks for
/// the second factor.
pub(crate) async fn login(State(dashboard): State<Dashboard>, info: RequestInfo, body: Bytes) -> Response {
    if !info.same_origin {
        return message_page(StatusCode::FORBIDDEN, "Cross-site login refused: submit the form from this site.");
    }
    let Ok(form) = serde_urlencoded::from_bytes::<LoginForm>(&body) else {
        return login_form(&info, StatusCode::BAD_REQUEST, Some("Send the form's username and password fields."), "");
    };
    let username = form.username.trim().to_owned();
    if username.is_empty() || form.password.is_empty() {
        return login_form(&info, StatusCode::BAD_REQUEST, Some("Enter a username and a password."), &username);
    }
    if username.chars().count() > MAX_USERNAME || form.password.len() > MAX_PASSWORD {
        return login_form(&info, StatusCode::BAD_REQUEST, Some("The username or password is too long."), "");
    }
    if let Some(limiter) = &dashboard.inner.login_limiter
        && let Err(refusal) = limiter.check(&username, info.client_ip, false).await
    {
        let mut response = login_form(&info, StatusCode::TOO_MANY_REQUESTS, Some(&refusal.to_string()), &username);
        if let Some(wait) = refusal.retry_after() {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
        }
        return response;
    }
    let password = SecretString::from(form.password);
    let Some(principal) = dashboard.inner.authenticator.authenticate(username.clone(), password).await else {
        if let Some(logger) = &dashboard.inner.audit {
            let reason = "invalid credentials (security dashboard)";
            logger.log_authentication_failure(&username, info.client_ip, info.user_agent.as_deref(), reason);
        }
        return login_form(&info, StatusCode::UNAUTHORIZED, Some("Invalid username or password."), &username);
    };
    super::two_step::after_password(&dashboard, &info, principal).await
}

/// Issues the session token (recording `mfa`), logs `login_success`, sets the cookie and
/// redirects to the dashboard. The sign-in is complete here (password and any second factor),
/// so the login limiter's counter of this name is cleared and the address slot given back.
pub(crate) async fn start_session(
    dashboard: &Dashboard,
    info: &RequestInfo,
    principal: &Principal,
    mfa: &MfaState,
) -> Response {
    if let Some(limiter) = &dashboard.inner.login_limiter {
        let username = principal.name.as_deref().unwrap_or(&principal.id);
        if let Err(error) = limiter.record_success(username, info.client_ip).await {
            // The sign-in itself is valid; a counter left behind only errs on the strict side.
            tracing::warn!(%error, "dashboard sign-in: the login counter could not be cleared");
        }
    }
    let issued = match dashboard.inner.sessions.issue(principal, mfa, info.client_ip) {
        Ok(issued) => issued,
        Err(error) => {
            tracing::error!(%error, "dashboard session token could not be issued");
            return message_page(StatusCode::INTERNAL_SERVER_ERROR, "The session could not be started.");
        }
    };
    if let Some(logger) = &dashboard.inner.audit {
        let details = json!({ "via": "security_dashboard", "jti": issued.jti, "second_factor": mfa.method });
        logger.log_authentication_success(principal, info.client_ip, info.user_agent.as_deref(), details);
    }
    let max_age = (issued.expires_at - chrono::Utc::now()).num_seconds().max(1);
    let mut response = Redirect::to(&info.home()).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie(dashboard, info, SESSION_COOKIE, &issued.token, max_age));
    response
}

/// `POST /logout`: revokes the session (every token of this sign-in), clears the cookie, back to
/// the form.
pub(crate) async fn logout(State(dashboard): State<Dashboard>, info: RequestInfo) -> Response {
    if !info.same_origin {
        return message_page(StatusCode::FORBIDDEN, "Cross-site logout refused: use the dashboard's button.");
    }
    if let Some(token) = &info.session_token
        && let Ok(claims) = dashboard.inner.sessions.verify(token, info.client_ip).await
    {
        let principal = claims.principal();
        if let Err(error) =
            dashboard.inner.sessions.revoke_session(&principal, claims.session_id(), info.client_ip).await
        {
            tracing::error!(%error, "dashboard session could not be revoked");
            return message_page(StatusCode::SERVICE_UNAVAILABLE, "Logout failed; try again shortly.");
        }
        if let Some(logger) = &dashboard.inner.audit {
            logger.log_logout(&claims.principal(), info.client_ip, info.user_agent.as_deref());
        }
    }
    let mut response = Redirect::to(&info.path("/login")).into_response();
    clear_cookie(&mut response, &dashboard, &info, SESSION_COOKIE);
    if info.pending_token.is_some() {
        clear_cookie(&mut response, &dashboard, &info, SECOND_FACTOR_COOKIE);
    }
    response
}

/// Headers of every dashboard response: the CSP, no sniffing, no framing, no referrer to other sites (`same-origin`:
/// `no-referrer` would make browsers send `Origin: null` on the forms), and no
/// caching of pages (they show security data).
pub(crate) async fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DASHBOARD_CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}
