//! The second step of the sign-in: after the right password, a user with a confirmed second
//! factor gets a short-lived pending cookie (it opens only the code form) and must type a TOTP
//! or backup code before the session starts; a user whose role requires MFA but who has no
//! factor is refused.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::html;
use secrecy::SecretString;
use serde::Deserialize;

use super::second_factor::{SecondFactorCheck, SecondFactorMethod, SecondFactorStatus};
use super::session::{RequestInfo, clear_cookie, cookie, layout, login_form, message_page, start_session};
use super::{Dashboard, SECOND_FACTOR_COOKIE};
use crate::auth::Claims;
use crate::context::{MfaState, Principal};
use crate::mfa::MfaMethod;

/// Longest code accepted by the form (a backup code with separators fits many times over).
const MAX_CODE: usize = 64;

/// After the right password: the session, the second-factor form, or a refusal.
pub(crate) async fn after_password(dashboard: &Dashboard, info: &RequestInfo, principal: Principal) -> Response {
    let inner = &dashboard.inner;
    let status = match &inner.second_factor {
        Some(second_factor) => match second_factor.status(&principal).await {
            Ok(status) => status,
            Err(error) => {
                tracing::error!(%error, "dashboard sign-in: the second factor could not be looked up");
                return message_page(StatusCode::SERVICE_UNAVAILABLE, "Sign-in is unavailable; try again shortly.");
            }
        },
        None => SecondFactorStatus::NotEnrolled,
    };
    match status {
        SecondFactorStatus::NotEnrolled if inner.requires_mfa(&principal.roles) => refuse(
            dashboard,
            info,
            &principal,
            "second factor required but not enrolled",
            "Your account needs a second factor to open this dashboard. Enrol one first (an \
             authenticator app), then sign in again.",
        ),
        SecondFactorStatus::NotEnrolled => start_session(dashboard, info, &principal, &MfaState::none()).await,
        SecondFactorStatus::Required { methods } if methods.is_empty() => refuse(
            dashboard,
            info,
            &principal,
            "no second factor usable on the dashboard",
            "Your second factor cannot be used on this dashboard. Add an authenticator app or \
             backup codes to your account, then sign in again.",
        ),
        SecondFactorStatus::Required { methods } => {
            let names: Vec<MfaMethod> = methods.iter().map(|&m| m.into()).collect();
            let issued = match inner.pending.issue_with_methods(&principal, &MfaState::none(), &names, info.client_ip) {
                Ok(issued) => issued,
                Err(error) => {
                    tracing::error!(%error, "dashboard sign-in: the pending token could not be issued");
                    return message_page(StatusCode::INTERNAL_SERVER_ERROR, "The sign-in could not continue.");
                }
            };
            let max_age = (issued.expires_at - Utc::now()).num_seconds().max(1);
            let mut response = Redirect::to(&info.path("/login/second-factor")).into_response();
            let pending = cookie(dashboard, info, SECOND_FACTOR_COOKIE, &issued.token, max_age);
            response.headers_mut().append(header::SET_COOKIE, pending);
            response
        }
    }
}

/// 403 with `message`, audited as `unauthorized_access` with `reason`.
fn refuse(dashboard: &Dashboard, info: &RequestInfo, principal: &Principal, reason: &str, message: &str) -> Response {
    if let Some(logger) = &dashboard.inner.audit {
        logger.log_unauthorized_access(
            Some(principal),
            info.client_ip,
            info.user_agent.as_deref(),
            "security_dashboard",
            reason,
        );
    }
    let page = layout(
        "Second factor required",
        html! {
            main.narrow {
                h1 { "Second factor required" }
                p.error role="alert" data-testid="enrol-second-factor" { (message) }
                p { a href=(info.path("/login")) { "Back to the sign-in" } }
            }
        },
        info,
    );
    (StatusCode::FORBIDDEN, Html(page.into_string())).into_response()
}

/// The pending sign-in of this request, or the response that sends the browser back to the
/// password (no, expired, used or forged pending cookie) or says the store is down.
async fn pending(dashboard: &Dashboard, info: &RequestInfo) -> Result<Claims, Response> {
    let back = || {
        let mut response = Redirect::to(&info.path("/login?expired=1")).into_response();
        if info.pending_token.is_some() {
            clear_cookie(&mut response, dashboard, info, SECOND_FACTOR_COOKIE);
        }
        response
    };
    let Some(token) = &info.pending_token else { return Err(back()) };
    match dashboard.inner.pending.verify(token, info.client_ip).await {
        Ok(claims) => Ok(claims),
        Err(error) if error.is_client_error() => Err(back()),
        Err(error) => {
            tracing::error!(%error, "dashboard sign-in: the pending token could not be checked");
            Err(message_page(StatusCode::SERVICE_UNAVAILABLE, "Sign-in is unavailable; try again shortly."))
        }
    }
}

/// The methods the pending sign-in offers, in the order the status gave them.
fn methods(claims: &Claims) -> Vec<SecondFactorMethod> {
    claims.mfa_methods.iter().filter_map(|m| SecondFactorMethod::parse(m)).collect()
}

/// `GET /login/second-factor`: the code form of a pending sign-in.
pub(crate) async fn second_factor_page(State(dashboard): State<Dashboard>, info: RequestInfo) -> Response {
    match pending(&dashboard, &info).await {
        Ok(claims) => code_form(&info, StatusCode::OK, None, &methods(&claims)),
        Err(response) => response,
    }
}

fn code_form(info: &RequestInfo, status: StatusCode, error: Option<&str>, methods: &[SecondFactorMethod]) -> Response {
    let action = info.path("/login/second-factor");
    let page = layout(
        "Second factor",
        html! {
            main.narrow {
                h1 { "Second factor" }
                @if let Some(error) = error { p.error role="alert" data-testid="second-factor-error" { (error) } }
                @for method in methods {
                    @match method {
                        SecondFactorMethod::Totp => {
                            form.login method="post" action=(action) data-testid="totp-form" {
                                input type="hidden" name="method" value="totp";
                                label for="totp-code" { "Code from your authenticator app" }
                                input #totp-code name="code" type="text" inputmode="numeric"
                                    autocomplete="one-time-code" required autofocus;
                                button #verify-totp type="submit" { "Verify" }
                            }
                        }
                        SecondFactorMethod::BackupCode => {
                            form.login method="post" action=(action) data-testid="backup-code-form" {
                                input type="hidden" name="method" value="backup_code";
                                label for="backup-code" { "Or a backup code" }
                                input #backup-code name="code" type="text" autocomplete="off" required;
                                button #verify-backup-code type="submit" { "Use backup code" }
                            }
                        }
                    }
                }
                p { a href=(info.path("/login")) { "Cancel" } }
            }
        },
        info,
    );
    (status, Html(page.into_string())).into_response()
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    method: String,
    #[serde(default)]
    code: String,
}

/// `POST /login/second-factor`: checks the origin, the pending sign-in and the code; a right
/// code exchanges the (single-use) pending token for the session.
pub(crate) async fn second_factor(State(dashboard): State<Dashboard>, info: RequestInfo, body: Bytes) -> Response {
    if !info.same_origin {
        return message_page(StatusCode::FORBIDDEN, "Cross-site sign-in refused: submit the form from this site.");
    }
    let claims = match pending(&dashboard, &info).await {
        Ok(claims) => claims,
        Err(response) => return response,
    };
    let offered = methods(&claims);
    let form = serde_urlencoded::from_bytes::<CodeForm>(&body).ok();
    let Some((method, code)) = form.and_then(|f| {
        let method = SecondFactorMethod::parse(&f.method).filter(|m| offered.contains(m))?;
        let code = f.code.trim();
        (!code.is_empty() && code.len() <= MAX_CODE).then(|| (method, SecretString::from(code.to_owned())))
    }) else {
        return code_form(&info, StatusCode::BAD_REQUEST, Some("Enter the code."), &offered);
    };
    let principal = claims.principal();
    let Some(second_factor) = &dashboard.inner.second_factor else {
        // A pending token is only issued when a second factor is configured.
        return message_page(StatusCode::INTERNAL_SERVER_ERROR, "The sign-in could not continue.");
    };
    match second_factor.verify(&principal, method, &code, info.client_ip).await {
        Ok(SecondFactorCheck::Accepted) => accept(&dashboard, &info, &claims, method).await,
        Ok(SecondFactorCheck::Rejected) => reject(&dashboard, &info, &claims, &offered).await,
        Ok(SecondFactorCheck::Locked { until }) => {
            let message = format!("Too many wrong codes. Try again after {}.", until.format("%H:%M:%S UTC"));
            let wait = (until - Utc::now()).num_seconds().max(1);
            restart(&dashboard, &info, &claims, &message, Some(wait)).await
        }
        Err(error) => {
            tracing::error!(%error, "dashboard sign-in: the second factor could not be checked");
            message_page(StatusCode::SERVICE_UNAVAILABLE, "Sign-in is unavailable; try again shortly.")
        }
    }
}

/// A right code: the pending token is used up (only one request can exchange it), then the
/// session starts with the second factor recorded.
async fn accept(dashboard: &Dashboard, info: &RequestInfo, claims: &Claims, method: SecondFactorMethod) -> Response {
    match dashboard.inner.pending.revocations().revoke(&claims.jti, &claims.sub, claims.expires_at()).await {
        Ok(true) => {}
        // Another request exchanged it first.
        Ok(false) => {
            let mut response = Redirect::to(&info.path("/login?expired=1")).into_response();
            clear_cookie(&mut response, dashboard, info, SECOND_FACTOR_COOKIE);
            return response;
        }
        Err(error) => {
            tracing::error!(%error, "dashboard sign-in: the pending token could not be used up");
            return message_page(StatusCode::SERVICE_UNAVAILABLE, "Sign-in is unavailable; try again shortly.");
        }
    }
    let mfa = MfaState::verified(Utc::now(), method.into());
    let mut response = start_session(dashboard, info, &claims.principal(), &mfa).await;
    clear_cookie(&mut response, dashboard, info, SECOND_FACTOR_COOKIE);
    response
}

/// A wrong code counts against the login rate limit; once that trips, the pending sign-in ends.
async fn reject(
    dashboard: &Dashboard,
    info: &RequestInfo,
    claims: &Claims,
    offered: &[SecondFactorMethod],
) -> Response {
    if let Some(limiter) = &dashboard.inner.login_limiter {
        let username = claims.name.as_deref().unwrap_or(&claims.sub);
        if let Err(refusal) = limiter.check(username, info.client_ip, false).await {
            let wait = refusal.retry_after().map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            return restart(dashboard, info, claims, &refusal.to_string(), wait).await;
        }
    }
    code_form(info, StatusCode::UNAUTHORIZED, Some("Invalid code."), offered)
}

/// Ends the pending sign-in (HTTP 429): the user starts again at the password.
async fn restart(
    dashboard: &Dashboard,
    info: &RequestInfo,
    claims: &Claims,
    message: &str,
    retry_after: Option<i64>,
) -> Response {
    if let Err(error) =
        dashboard.inner.pending.revocations().revoke(&claims.jti, &claims.sub, claims.expires_at()).await
    {
        tracing::error!(%error, "dashboard sign-in: the pending token could not be revoked");
    }
    let mut response =
        login_form(info, StatusCode::TOO_MANY_REQUESTS, Some(message), claims.name.as_deref().unwrap_or(""));
    if let Some(wait) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
    }
    clear_cookie(&mut response, dashboard, info, SECOND_FACTOR_COOKIE);
    response
}
