//! The account security page at `/account`: what a signed-in user manages about their own
//! security, server-rendered, on the same GraphQL API as any client (the schema runs in
//! process with the session's security context).
//!
//! - Sign in with the password (then a TOTP code, a backup code or a passkey when the account
//!   has a factor), or with a passkey alone.
//! - Passkeys: register, rename, remove. TOTP: enrol (the QR code as an image, the secret for
//!   manual entry) and confirm. Backup codes: see how many are left, regenerate (shown once).
//!   Trusted devices: list, revoke. The account's recent security events from the audit log.
//! - `secretNote`, read with the session (what the demo protects with `#[require_mfa]`).
//!
//! Rules, as the dashboard's:
//! - The session is the API token in a cookie (`rail_account`, `Path=/account`, `HttpOnly`,
//!   `SameSite=Strict`, `Secure` as the deployment says): page scripts never see it.
//! - Every `POST` must come from this origin: an `Origin` header naming the request's `Host`
//!   (or, without one, `Sec-Fetch-Site: same-origin`); anything else gets 403 (CSRF).
//! - Each response has its own nonce: the Content-Security-Policy allows only that inline
//!   script (the few lines WebAuthn needs, which call `POST /account/api`) and style, images
//!   from `data:` (the QR code), requests to this origin, no framing.
//! - Every value is HTML-escaped (maud escapes by construction); secrets (the TOTP secret,
//!   backup codes) are shown once, in a `no-store` response.

use std::net::SocketAddr;

use async_graphql::{Request, Variables};
use axum::extract::{ConnectInfo, Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::Utc;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use rail_graphql_security::audit::entity as audit_entity;
use rail_graphql_security::auth::TokenService;
use rail_graphql_security::context::SecurityContext;
use rail_graphql_security::http::{cookie_value, is_same_origin};
use rail_graphql_security::mfa::MfaMethod;
use rand::RngCore;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::schema::DemoSchema;

/// The session cookie.
pub const ACCOUNT_COOKIE: &str = "rail_account";
const PATH: &str = "/account";

/// The page's state: the schema it runs operations on, the tokens that check its cookie, the
/// database it reads the account's events from.
#[derive(Clone)]
pub struct AccountPage {
    schema: DemoSchema,
    tokens: TokenService,
    db: DatabaseConnection,
    secure_cookie: bool,
}

impl std::fmt::Debug for AccountPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountPage").field("secure_cookie", &self.secure_cookie).finish_non_exhaustive()
    }
}

impl AccountPage {
    /// The page on `schema`, with sessions checked by `tokens`; `secure_cookie` adds `Secure`
    /// to the cookie (every deployment served over https).
    pub fn new(schema: DemoSchema, tokens: TokenService, db: DatabaseConnection, secure_cookie: bool) -> Self {
        AccountPage { schema, tokens, db, secure_cookie }
    }

    /// The routes, at `/account`.
    pub fn router(self) -> Router {
        Router::new()
            .route(PATH, get(page))
            .route("/account/action", post(action))
            .route("/account/api", post(api))
            .with_state(self)
    }
}

/// What a request brings: the client, the session from the cookie, whether it is same-origin.
struct Visit {
    context: SecurityContext,
    same_origin: bool,
    nonce: String,
}

impl FromRequestParts<AccountPage> for Visit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, page: &AccountPage) -> Result<Self, Self::Rejection> {
        // The HTTP layer's context carries the proxy-aware address, user agent and request id.
        let base = parts.extensions.get::<SecurityContext>().cloned().unwrap_or_default();
        let client_ip = base.client_ip.or_else(|| parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()));
        let token = cookie_value(&parts.headers, ACCOUNT_COOKIE);
        let mut context = base.clone().with_client_ip(client_ip);
        if let Some(token) = &token
            && let Ok(claims) = page.tokens.verify(token, client_ip).await
        {
            context = claims
                .security_context()
                .with_client_ip(client_ip)
                .with_user_agent(base.user_agent.clone())
                .with_request_id(base.request_id.clone());
        }
        let mut nonce = [0u8; 18];
        rand::rng().fill_bytes(&mut nonce);
        Ok(Visit {
            context,
            same_origin: is_same_origin(&parts.headers),
            nonce: base64::engine::general_purpose::STANDARD.encode(nonce),
        })
    }
}

impl Visit {
    fn signed_in(&self) -> bool {
        self.context.is_authenticated()
    }

    /// Signed in with a password, a second factor still to pass.
    fn pending(&self) -> bool {
        self.signed_in() && !self.context.mfa.satisfies(None, Utc::now()) && !self.context.mfa_methods.is_empty()
    }
}

impl AccountPage {
    /// Runs one GraphQL operation as the visitor.
    async fn run(&self, visit: &Visit, query: &str, variables: Value) -> async_graphql::Response {
        let request = Request::new(query).variables(Variables::from_json(variables)).data(visit.context.clone());
        self.schema.execute(request).await
    }

    fn session_cookie(&self, token: &str) -> HeaderValue {
        let secure = if self.secure_cookie { "; Secure" } else { "" };
        let value = format!("{ACCOUNT_COOKIE}={token}; Path={PATH}; HttpOnly; SameSite=Strict{secure}");
        HeaderValue::from_str(&value)
            .unwrap_or_else(|_| HeaderValue::from_static("rail_account=; Path=/account; Max-Age=0"))
    }
}

/// The first error's message and code of a response, if any.
fn failure(response: &async_graphql::Response) -> Option<(String, String)> {
    let error = response.errors.first()?;
    let code = error
        .extensions
        .as_ref()
        .and_then(|e| e.get("code"))
        .and_then(|c| c.clone().into_json().ok())
        .and_then(|c| c.as_str().map(str::to_owned))
        .unwrap_or_default();
    Some((error.message.clone(), code))
}

fn data(response: async_graphql::Response) -> Value {
    response.data.into_json().unwrap_or(Value::Null)
}

/// Every response: its CSP with this response's nonce, no framing, no caching.
fn harden(mut response: Response, nonce: &str) -> Response {
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn forbidden(nonce: &str) -> Response {
    harden((StatusCode::FORBIDDEN, "cross-site request refused").into_response(), nonce)
}

/// `GET /account`.
async fn page(State(page): State<AccountPage>, visit: Visit) -> Response {
    render(&page, &visit, None, None).await
}

/// A one-time panel: a message, or secrets shown once.
enum Notice {
    Info(String),
    Error(String),
    Totp { secret: String, qr: String },
    BackupCodes(Vec<String>),
}

async fn render(page: &AccountPage, visit: &Visit, notice: Option<Notice>, cookie: Option<HeaderValue>) -> Response {
    let body = if !visit.signed_in() {
        sign_in_view()
    } else if visit.pending() {
        second_factor_view(visit)
    } else {
        account_view(page, visit).await
    };
    let notice = notice.map(|n| match n {
        Notice::Info(text) => html! { p.notice role="status" data-testid="notice" { (text) } },
        Notice::Error(text) => html! { p.error role="alert" data-testid="error" { (text) } },
        Notice::Totp { secret, qr } => html! {
            section.secret data-testid="totp-setup" {
                h2 { "Scan this code with your authenticator app" }
                img src=(qr) alt="QR code of the authenticator secret" width="200" height="200";
                p { "Or type the secret: " code data-testid="totp-secret" { (secret) } }
                form method="post" action="/account/action" {
                    input type="hidden" name="op" value="totp-confirm";
                    label for="totp-code" { "Code from the app" }
                    input #totp-code name="code" inputmode="numeric" autocomplete="one-time-code" required;
                    button type="submit" { "Confirm" }
                }
            }
        },
        Notice::BackupCodes(codes) => html! {
            section.secret data-testid="backup-codes" {
                h2 { "Your backup codes" }
                p { "Each works once. Keep them somewhere safe: they are not shown again." }
                ul { @for code in &codes { li { code { (code) } } } }
            }
        },
    });
    let markup = layout(&visit.nonce, html! { (notice.unwrap_or_default()) (body) });
    let mut response = Html(markup.into_string()).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    harden(response, &visit.nonce)
}

fn layout(nonce: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { "Account security · rail-demo" }
                style nonce=(nonce) { (PreEscaped(STYLE)) }
            }
            body {
                main {
                    h1 { "Account security" }
                    p.error #message role="alert" hidden {}
                    (body)
                }
                script nonce=(nonce) { (PreEscaped(SCRIPT)) }
            }
        }
    }
}

fn sign_in_view() -> Markup {
    html! {
        section data-testid="sign-in" {
            h2 { "Sign in" }
            form method="post" action="/account/action" {
                input type="hidden" name="op" value="login";
                label for="username" { "Username" }
                input #username name="username" autocomplete="username webauthn" required;
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
                button #password-sign-in type="submit" { "Sign in" }
            }
            p { "or" }
            button #passkey-sign-in type="button" { "Sign in with a passkey" }
        }
    }
}

fn second_factor_view(visit: &Visit) -> Markup {
    let methods = &visit.context.mfa_methods;
    let has = |m: MfaMethod| methods.contains(&m);
    html! {
        section data-testid="second-factor" {
            h2 { "Second factor" }
            @if has(MfaMethod::Passkey) {
                button #passkey-verify type="button" { "Use a passkey" }
            }
            @if has(MfaMethod::Totp) || has(MfaMethod::BackupCode) {
                form method="post" action="/account/action" {
                    input type="hidden" name="op" value="verify-code";
                    label for="method" { "Method" }
                    select #method name="method" {
                        @if has(MfaMethod::Totp) { option value="totp" { "Authenticator app" } }
                        @if has(MfaMethod::BackupCode) { option value="backup_code" { "Backup code" } }
                    }
                    label for="code" { "Code" }
                    input #code name="code" autocomplete="one-time-code" required;
                    button type="submit" { "Verify" }
                }
            }
            (logout_form())
        }
    }
}

fn logout_form() -> Markup {
    html! {
        form method="post" action="/account/action" {
            input type="hidden" name="op" value="logout";
            button #sign-out type="submit" { "Sign out" }
        }
    }
}

const ACCOUNT_QUERY: &str = "{
    me { id username }
    mfaStatus { methods backupCodesRemaining }
    passkeys { id name createdAt lastUsed backupState }
    trustedDevices { id deviceName ipAddress lastUsed expiresAt }
}";

async fn account_view(page: &AccountPage, visit: &Visit) -> Markup {
    let answer = page.run(visit, ACCOUNT_QUERY, json!({})).await;
    if let Some((message, _)) = failure(&answer) {
        return html! { p.error role="alert" { "Could not load the account: " (message) } (logout_form()) };
    }
    let d = data(answer);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let username = text(&d["me"]["username"]);
    let user_id = text(&d["me"]["id"]);
    let events = recent_events(&page.db, &user_id, &username).await;
    let empty = Vec::new();
    let passkeys = d["passkeys"].as_array().unwrap_or(&empty);
    let devices = d["trustedDevices"].as_array().unwrap_or(&empty);
    html! {
        p data-testid="signed-in-as" { "Signed in as " strong { (username) } }
        (logout_form())
        section data-testid="secret" {
            h2 { "Secret note" }
            button #read-secret type="button" { "Read the secret note" }
            p #secret-note data-testid="secret-note" {}
        }
        section data-testid="passkeys" {
            h2 { "Passkeys" }
            @if passkeys.is_empty() { p { "No passkey yet." } }
            table {
                @for passkey in passkeys {
                    tr.passkey {
                        td.passkey-name { (text(&passkey["name"])) }
                        td { "added " (text(&passkey["createdAt"])) }
                        td { "last used " (passkey["lastUsed"].as_str().unwrap_or("never")) }
                        td {
                            form.inline method="post" action="/account/action" {
                                input type="hidden" name="op" value="passkey-rename";
                                input type="hidden" name="id" value=(text(&passkey["id"]));
                                input name="name" aria-label="New name" placeholder="New name" required maxlength="100";
                                button type="submit" { "Rename" }
                            }
                            form.inline method="post" action="/account/action" {
                                input type="hidden" name="op" value="passkey-remove";
                                input type="hidden" name="id" value=(text(&passkey["id"]));
                                button type="submit" { "Remove" }
                            }
                        }
                    }
                }
            }
            label for="passkey-name" { "Name for a new passkey" }
            input #passkey-name value="My passkey" maxlength="100";
            button #passkey-register type="button" { "Add a passkey" }
            div #new-codes hidden data-testid="new-backup-codes" {
                p { "Your first backup codes (shown once):" }
                ul #new-codes-list {}
                a #continue href="/account" { "Continue" }
            }
        }
        section data-testid="totp" {
            h2 { "Authenticator app" }
            form method="post" action="/account/action" {
                input type="hidden" name="op" value="totp-setup";
                button type="submit" { "Set up an authenticator app" }
            }
        }
        section data-testid="backup" {
            h2 { "Backup codes" }
            p { (d["mfaStatus"]["backupCodesRemaining"].as_i64().unwrap_or(0)) " unused." }
            form method="post" action="/account/action" {
                input type="hidden" name="op" value="backup-codes";
                button type="submit" { "Generate new backup codes" }
            }
        }
        section data-testid="trusted-devices" {
            h2 { "Trusted devices" }
            @if devices.is_empty() { p { "None." } }
            table {
                @for device in devices {
                    tr {
                        td { (text(&device["deviceName"])) }
                        td { (device["ipAddress"].as_str().unwrap_or("")) }
                        td { "until " (text(&device["expiresAt"])) }
                        td {
                            form.inline method="post" action="/account/action" {
                                input type="hidden" name="op" value="trusted-revoke";
                                input type="hidden" name="id" value=(text(&device["id"]));
                                button type="submit" { "Revoke" }
                            }
                        }
                    }
                }
            }
        }
        section data-testid="events" {
            h2 { "Recent security events" }
            table {
                tr { th { "When" } th { "Event" } th { "Address" } th { "Browser" } }
                @for event in &events {
                    tr.event {
                        td { (event.timestamp.format("%Y-%m-%d %H:%M:%S UTC")) }
                        td {
                            (event.event_type)
                            @if let Some(how) = event.details["method"].as_str().or(event.details["login_method"].as_str()) {
                                " (" (how) ")"
                            }
                        }
                        td { (event.client_ip.as_deref().unwrap_or("")) }
                        td { (event.user_agent.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// The account's 20 latest audit events: its own, and failed sign-ins naming it.
async fn recent_events(db: &DatabaseConnection, user_id: &str, username: &str) -> Vec<audit_entity::Model> {
    use audit_entity::Column;
    let mine = Condition::any()
        .add(Column::ActorId.eq(user_id))
        .add(Condition::all().add(Column::ActorId.is_null()).add(Column::ActorName.eq(username)));
    audit_entity::Entity::find().filter(mine).order_by_desc(Column::Timestamp).limit(20).all(db).await.unwrap_or_else(
        |error| {
            tracing::error!(%error, "account page: cannot read the audit events");
            Vec::new()
        },
    )
}

#[derive(Deserialize)]
struct ActionForm {
    op: String,
    username: Option<String>,
    password: Option<String>,
    method: Option<String>,
    code: Option<String>,
    id: Option<String>,
    name: Option<String>,
}

/// `POST /account/action`: the page's forms.
async fn action(State(page): State<AccountPage>, visit: Visit, Form(form): Form<ActionForm>) -> Response {
    if !visit.same_origin {
        return forbidden(&visit.nonce);
    }
    let field = |value: &Option<String>| value.clone().unwrap_or_default();
    match form.op.as_str() {
        "login" => {
            let answer = page
                .run(
                    &visit,
                    "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
                    json!({ "u": field(&form.username), "p": field(&form.password) }),
                )
                .await;
            with_token(&page, visit, answer, "login").await
        }
        "verify-code" => {
            let mutation =
                if form.method.as_deref() == Some("backup_code") { "verifyBackupCode" } else { "verifyTotp" };
            let query = format!("mutation($c: String!) {{ {mutation}(code: $c) {{ token }} }}");
            let answer = page.run(&visit, &query, json!({ "c": field(&form.code) })).await;
            with_token(&page, visit, answer, mutation).await
        }
        "logout" => {
            let _ = page.run(&visit, "mutation { logout }", json!({})).await;
            let mut response = Redirect::to(PATH).into_response();
            let cleared = format!("{ACCOUNT_COOKIE}=; Path={PATH}; Max-Age=0; HttpOnly; SameSite=Strict");
            if let Ok(cleared) = HeaderValue::from_str(&cleared) {
                response.headers_mut().append(header::SET_COOKIE, cleared);
            }
            harden(response, &visit.nonce)
        }
        "totp-setup" => {
            let answer = page
                .run(
                    &visit,
                    "mutation { setupTotp(deviceName: \"Authenticator app\") { deviceId secretKey qrCodeUrl } }",
                    json!({}),
                )
                .await;
            match failure(&answer) {
                Some((message, _)) => render(&page, &visit, Some(Notice::Error(message)), None).await,
                None => {
                    let d = data(answer);
                    let setup = &d["setupTotp"];
                    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                    let notice = Notice::Totp { secret: text(&setup["secretKey"]), qr: text(&setup["qrCodeUrl"]) };
                    render(&page, &visit, Some(notice), None).await
                }
            }
        }
        "totp-confirm" => {
            let answer = page
                .run(
                    &visit,
                    "mutation($c: String!) { verifyTotp(code: $c) { token } }",
                    json!({ "c": field(&form.code) }),
                )
                .await;
            with_token(&page, visit, answer, "verifyTotp").await
        }
        "backup-codes" => {
            let answer = page.run(&visit, "mutation { generateBackupCodes { backupCodes } }", json!({})).await;
            match failure(&answer) {
                Some((message, _)) => render(&page, &visit, Some(Notice::Error(message)), None).await,
                None => {
                    let d = data(answer);
                    let codes = d["generateBackupCodes"]["backupCodes"]
                        .as_array()
                        .map(|c| c.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                        .unwrap_or_default();
                    render(&page, &visit, Some(Notice::BackupCodes(codes)), None).await
                }
            }
        }
        "passkey-rename" | "passkey-remove" | "trusted-revoke" => {
            let (query, variables, done) = match form.op.as_str() {
                "passkey-rename" => (
                    "mutation($id: ID!, $n: String!) { renamePasskey(id: $id, name: $n) { success } }",
                    json!({ "id": field(&form.id), "n": field(&form.name) }),
                    "Passkey renamed.",
                ),
                "passkey-remove" => (
                    "mutation($id: ID!) { removePasskey(id: $id) { success } }",
                    json!({ "id": field(&form.id) }),
                    "Passkey removed.",
                ),
                _ => (
                    "mutation($id: ID!) { revokeTrustedDevice(id: $id) { success } }",
                    json!({ "id": field(&form.id) }),
                    "Trusted device revoked.",
                ),
            };
            let answer = page.run(&visit, query, variables).await;
            let notice = match failure(&answer) {
                Some((message, _)) => Notice::Error(message),
                None => Notice::Info(done.to_owned()),
            };
            render(&page, &visit, Some(notice), None).await
        }
        other => {
            let notice = Notice::Error(format!("unknown action {other:?}"));
            let mut response = render(&page, &visit, Some(notice), None).await;
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
    }
}

/// After an operation answering `{ <field> { token } }`: the new session cookie, or the error.
async fn with_token(page: &AccountPage, visit: Visit, answer: async_graphql::Response, field: &str) -> Response {
    if let Some((message, _)) = failure(&answer) {
        return render(page, &visit, Some(Notice::Error(message)), None).await;
    }
    let d = data(answer);
    match d[field]["token"].as_str() {
        Some(token) => {
            let mut response = Redirect::to(PATH).into_response();
            response.headers_mut().append(header::SET_COOKIE, page.session_cookie(token));
            harden(response, &visit.nonce)
        }
        None => {
            render(page, &visit, Some(Notice::Error("no session was issued; sign in again".to_owned())), None).await
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiCall {
    op: String,
    ceremony_id: Option<String>,
    credential: Option<String>,
    name: Option<String>,
}

/// `POST /account/api`: the operations the page's script runs (WebAuthn ceremonies and the
/// secret note), as JSON; a fixed list, not a GraphQL endpoint.
async fn api(State(page): State<AccountPage>, visit: Visit, Json(call): Json<ApiCall>) -> Response {
    if !visit.same_origin {
        return forbidden(&visit.nonce);
    }
    let (query, field) = match call.op.as_str() {
        "begin-registration" => {
            ("mutation { beginPasskeyRegistration { ceremonyId options } }", "beginPasskeyRegistration")
        }
        "finish-registration" => (
            "mutation($c: ID!, $k: String!, $n: String!) { finishPasskeyRegistration(ceremonyId: $c, credential: $k, name: $n) { backupCodes token } }",
            "finishPasskeyRegistration",
        ),
        "begin-sign-in" => ("mutation { beginPasskeySignIn { ceremonyId options } }", "beginPasskeySignIn"),
        "finish-sign-in" => (
            "mutation($c: ID!, $k: String!) { finishPasskeySignIn(ceremonyId: $c, credential: $k) { token } }",
            "finishPasskeySignIn",
        ),
        "begin-authentication" => {
            ("mutation { beginPasskeyAuthentication { ceremonyId options } }", "beginPasskeyAuthentication")
        }
        "verify" => (
            "mutation($c: ID!, $k: String!) { verifyPasskey(ceremonyId: $c, credential: $k) { token } }",
            "verifyPasskey",
        ),
        "secret-note" => ("{ secretNote }", "secretNote"),
        _ => {
            let body = Json(json!({ "ok": false, "error": "unknown operation" }));
            return harden((StatusCode::BAD_REQUEST, body).into_response(), &visit.nonce);
        }
    };
    let variables = json!({
        "c": call.ceremony_id.unwrap_or_default(),
        "k": call.credential.unwrap_or_default(),
        "n": call.name.unwrap_or_default(),
    });
    let answer = page.run(&visit, query, variables).await;
    if let Some((message, code)) = failure(&answer) {
        return harden(Json(json!({ "ok": false, "error": message, "code": code })).into_response(), &visit.nonce);
    }
    let mut d = data(answer);
    let mut result = d[field].take();
    // A session token goes into the cookie, never to the script.
    let token = result.as_object_mut().and_then(|o| o.remove("token")).and_then(|t| t.as_str().map(str::to_owned));
    let mut body = json!({ "ok": true, "result": result });
    if token.is_some() {
        body["signedIn"] = json!(true);
    }
    let mut response = Json(body).into_response();
    if let Some(token) = token {
        response.headers_mut().append(header::SET_COOKIE, page.session_cookie(&token));
    }
    harden(response, &visit.nonce)
}

const STYLE: &str = "
body { font: 15px/1.5 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
main { max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
section { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 1rem 1.25rem; margin: 1rem 0; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.15rem; margin-top: 0; }
label { display: block; margin-top: .5rem; font-weight: 600; }
input, select { font: inherit; padding: .35rem .5rem; border: 1px solid #b9c0cc; border-radius: 4px; }
button, a#continue { font: inherit; margin-top: .6rem; padding: .4rem .9rem; border-radius: 4px; border: 1px solid #2855c5; background: #2f62e0; color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
form.inline { display: inline; margin-left: .4rem; } form.inline input { width: 9rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; } td, th { text-align: left; padding: .3rem .4rem; border-bottom: 1px solid #eef0f4; font-size: .9rem; }
.error { color: #a4161a; } .notice { color: #1b6b2f; } code { background: #eef0f4; padding: 0 .25rem; }
";

/// The only script: WebAuthn needs `navigator.credentials`, which a form cannot call. It
/// decodes the server's options (base64url to bytes), runs the ceremony and posts the
/// credential's JSON to `/account/api`; the session cookie is set by the response.
const SCRIPT: &str = r#"
"use strict";
const dec = s => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)), c => c.charCodeAt(0));
const enc = b => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const show = text => { const m = document.getElementById("message"); m.textContent = text; m.hidden = false; };
async function api(body) {
  const r = await fetch("/account/api", { method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const j = await r.json();
  if (!j.ok) throw new Error(j.error || "refused");
  return j;
}
function creation(o) { const p = o.publicKey; p.challenge = dec(p.challenge); p.user.id = dec(p.user.id); (p.excludeCredentials || []).forEach(c => { c.id = dec(c.id); }); return p; }
function request(o) { const p = o.publicKey; p.challenge = dec(p.challenge); (p.allowCredentials || []).forEach(c => { c.id = dec(c.id); }); return p; }
function credential(c) {
  const r = c.response;
  const out = { id: c.id, rawId: enc(c.rawId), type: c.type, response: { clientDataJSON: enc(r.clientDataJSON) }, clientExtensionResults: c.getClientExtensionResults() };
  if (r.attestationObject) { out.response.attestationObject = enc(r.attestationObject); out.response.transports = r.getTransports ? r.getTransports() : []; }
  else { out.response.authenticatorData = enc(r.authenticatorData); out.response.signature = enc(r.signature); out.response.userHandle = r.userHandle ? enc(r.userHandle) : null; }
  return JSON.stringify(out);
}
async function register() {
  const name = document.getElementById("passkey-name").value;
  const begun = await api({ op: "begin-registration" });
  const made = await navigator.credentials.create({ publicKey: creation(begun.result.options) });
  const done = await api({ op: "finish-registration", ceremonyId: begun.result.ceremonyId, credential: credential(made), name });
  const codes = done.result.backupCodes || [];
  if (codes.length === 0) { location.reload(); return; }
  const list = document.getElementById("new-codes-list");
  codes.forEach(code => { const li = document.createElement("li"); li.textContent = code; list.appendChild(li); });
  document.getElementById("new-codes").hidden = false;
}
async function assertion(begin, finish) {
  const begun = await api({ op: begin });
  const got = await navigator.credentials.get({ publicKey: request(begun.result.options) });
  await api({ op: finish, ceremonyId: begun.result.ceremonyId, credential: credential(got) });
  location.reload();
}
async function secret() { const r = await api({ op: "secret-note" }); document.getElementById("secret-note").textContent = r.result; }
const on = (id, f) => { const e = document.getElementById(id); if (e) e.addEventListener("click", () => f().catch(e => show(e.message))); };
on("passkey-register", register);
on("passkey-sign-in", () => assertion("begin-sign-in", "finish-sign-in"));
on("passkey-verify", () => assertion("begin-authentication", "verify"));
on("read-secret", secret);
"#;
