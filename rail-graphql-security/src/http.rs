//! The axum/tower HTTP layer (feature `axum`): request ids, proxy-aware client addresses, a
//! per-client request rate limit (HTTP 429 + `Retry-After`), bearer-token authentication that
//! builds the [`SecurityContext`], security headers, allowed hosts, https redirect, CORS, body
//! and multipart limits, and a ready GraphQL router. [`stack::Security`](crate::stack::Security)
//! builds all of it from the deployment config.
//!
//! The checks run in one axum middleware (one service call per request), plus tower-http's
//! body-limit and CORS layers when those are configured.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::net::SocketAddr;
//! use std::time::Duration;
//! use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
//! use rail_graphql_security::auth::{RevocationStore, TokenConfig, TokenService};
//! use rail_graphql_security::graphql::GraphqlLimits;
//! use rail_graphql_security::http::{HttpSecurity, graphql_router};
//! use rail_graphql_security::rate_limit::{Quota, RateLimiter};
//!
//! struct Query;
//! #[Object]
//! impl Query {
//!     async fn hello(&self) -> &str { "world" }
//! }
//!
//! let tokens = TokenService::new(TokenConfig::new(std::env::var("JWT_SECRET")?)?, RevocationStore::memory());
//! let security = HttpSecurity::new()
//!     .tokens(tokens)
//!     .request_rate_limit(RateLimiter::memory(), Quota::new(100, Duration::from_secs(3600)));
//! let limits = GraphqlLimits::development();
//! let schema = limits.apply(Schema::build(Query, EmptyMutation, EmptySubscription)).finish();
//! let app = graphql_router(schema, security, &limits);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! // The socket address is needed for the client address and the rate limit.
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(()) }
//! ```

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_graphql::ParseRequestError;
use async_graphql::http::GraphiQLSource;
use async_graphql::{ObjectType, Schema, SubscriptionType};
use async_graphql_axum::rejection::GraphQLRejection;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{ConnectInfo, Extension, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use crate::audit::AuditLogger;
use crate::audit::model::AuditScope;
use crate::auth::{TokenError, TokenService};
use crate::client_ip::{TrustedProxies, rate_limit_key};
use crate::context::SecurityContext;
use crate::graphql::GraphqlLimits;
use crate::rate_limit::{Decision, Quota, RateLimiter};

mod policy;
mod request;

pub use self::policy::{AllowedHosts, CookiePolicy, SecurityHeaders};
pub use self::request::{cookie_value, is_same_origin};

/// The request id header, read (when well-formed) and always answered.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The Content-Security-Policy of API responses: nothing may be loaded or framed.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The Content-Security-Policy of the GraphiQL page: its inline bootstrap script and its
/// assets from unpkg.com, queries to this origin only, no framing.
pub const GRAPHIQL_CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline' https://unpkg.com; \
     style-src 'self' 'unsafe-inline' https://unpkg.com; font-src 'self' data: https://unpkg.com; \
     img-src 'self' data: https://graphql.org https://unpkg.com; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The HTTP security settings; apply them to a router with [`apply`](Self::apply) or use
/// [`graphql_router`].
#[derive(Debug, Clone)]
pub struct HttpSecurity {
    tokens: Option<TokenService>,
    request_limit: Option<(RateLimiter, Quota)>,
    trusted_proxies: TrustedProxies,
    audit: Option<AuditLogger>,
    headers: Option<SecurityHeaders>,
    allowed_hosts: Option<AllowedHosts>,
    https_redirect: bool,
    served_over_tls: bool,
    multipart: bool,
    max_body_bytes: Option<usize>,
    cors: Option<tower_http::cors::CorsLayer>,
    expose_uncoded_errors: bool,
}

impl Default for HttpSecurity {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpSecurity {
    /// No authentication, no rate limit, no trusted proxy, the default [`SecurityHeaders`]
    /// (HSTS for one year), any host, no https redirect, multipart accepted, no body limit, no
    /// CORS.
    pub fn new() -> Self {
        Self {
            tokens: None,
            request_limit: None,
            trusted_proxies: TrustedProxies::none(),
            audit: None,
            headers: Some(SecurityHeaders::default()),
            allowed_hosts: None,
            https_redirect: false,
            served_over_tls: false,
            multipart: true,
            max_body_bytes: None,
            cors: None,
            expose_uncoded_errors: false,
        }
    }

    /// The security headers every response gets (a header a route set itself is kept), or
    /// `None` for none at all (`middleware.authentication.security_headers = false`).
    pub fn security_headers(mut self, headers: Option<SecurityHeaders>) -> Self {
        self.headers = headers;
        self
    }

    /// Answers only requests whose `Host` is allowed; others get HTTP 400.
    pub fn allowed_hosts(mut self, hosts: AllowedHosts) -> Self {
        self.allowed_hosts = Some(hosts);
        self
    }

    /// Redirects plain-http requests to `https://` (HTTP 308). A request is https when the
    /// server itself serves TLS ([`served_over_tls`](Self::served_over_tls)) or a trusted
    /// proxy says so in `X-Forwarded-Proto`.
    pub fn https_redirect(mut self, redirect: bool) -> Self {
        self.https_redirect = redirect;
        self
    }

    /// Declares that the listener itself terminates TLS: every request is https.
    pub fn served_over_tls(mut self, tls: bool) -> Self {
        self.served_over_tls = tls;
        self
    }

    /// Whether `multipart/*` requests (GraphQL file uploads) are accepted; refused ones get
    /// HTTP 415.
    pub fn multipart(mut self, accepted: bool) -> Self {
        self.multipart = accepted;
        self
    }

    /// The largest request body; a larger one gets HTTP 413.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = Some(limit);
        self
    }

    /// Answers CORS preflights and adds CORS headers with `cors`.
    pub fn cors(mut self, cors: tower_http::cors::CorsLayer) -> Self {
        self.cors = Some(cors);
        self
    }

    /// Authenticates `Authorization` headers with `tokens`.
    pub fn tokens(mut self, tokens: TokenService) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Limits requests per client address (`graphql_requests_limit` per
    /// `graphql_requests_window`; IPv6 per /64).
    pub fn request_rate_limit(mut self, limiter: RateLimiter, quota: Quota) -> Self {
        self.request_limit = Some((limiter, quota));
        self
    }

    /// Believes `X-Forwarded-For` from these proxies.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// Audits rate-limit hits and makes the logger available to resolvers (for
    /// [`enforce`](crate::context::enforce)).
    pub fn audit(mut self, logger: AuditLogger) -> Self {
        self.audit = Some(logger);
        self
    }

    /// The HSTS max-age, or `None` to send no `Strict-Transport-Security` header (plain-HTTP
    /// development).
    pub fn hsts(mut self, max_age: Option<Duration>) -> Self {
        if let Some(headers) = &mut self.headers {
            headers.hsts = max_age.and_then(|age| SecurityHeaders::hsts_value(age.as_secs(), true, false));
        }
        self
    }

    /// Whether resolver errors without a `code` extension reach clients as they are (`false`,
    /// the default: they become `INTERNAL_ERROR` with a generic message, the original is
    /// logged; see [`graphql_router`]). Give client errors a `code` rather than turning this on.
    pub fn expose_uncoded_errors(mut self, expose: bool) -> Self {
        self.expose_uncoded_errors = expose;
        self
    }

    /// The token service, if any.
    pub fn token_service(&self) -> Option<&TokenService> {
        self.tokens.as_ref()
    }

    /// Wraps `router`: CORS (outermost, when set); then every request gets a request id, the
    /// host check (400), the https redirect (308), the multipart refusal (415), a client
    /// address, the rate limit (429), the body limit (413), authentication (a
    /// [`SecurityContext`] request extension), and every response the security headers (a
    /// header a route already set, like GraphiQL's CSP, is kept). Routes merged into the
    /// router afterwards are not wrapped.
    pub fn apply<S: Clone + Send + Sync + 'static>(self, router: Router<S>) -> Router<S> {
        let cors = self.cors.clone();
        let mut router = router;
        if let Some(limit) = self.max_body_bytes {
            // Inside the security middleware, so a 413 still gets a request id and the headers.
            router = router.layer(tower_http::limit::RequestBodyLimitLayer::new(limit));
        }
        router = router.layer(from_fn_with_state(Arc::new(self), security_middleware));
        match cors {
            // Outermost: preflights are answered before anything else, and refusals get CORS headers.
            Some(cors) => router.layer(cors),
            None => router,
        }
    }
}

/// A request id from the client is kept when it is short and plain; otherwise a new one.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

fn peer_ip(request: &Request) -> Option<IpAddr> {
    request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip())
}

fn client_ip(request: &Request, proxies: &TrustedProxies) -> Option<IpAddr> {
    let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
        static WARNED: AtomicBool = AtomicBool::new(false);
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "no client socket address: serve the router with \
                 `into_make_service_with_connect_info::<SocketAddr>()`; all clients now share one rate-limit bucket"
            );
        }
        return None;
    };
    let peer = peer.ip();
    let forwarded = request.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    Some(proxies.client_ip(peer, forwarded))
}

fn graphql_error(status: StatusCode, message: &str, extensions: serde_json::Value) -> Response {
    (status, Json(json!({ "data": null, "errors": [{ "message": message, "extensions": extensions }] })))
        .into_response()
}

async fn security_middleware(State(security): State<Arc<HttpSecurity>>, request: Request, next: Next) -> Response {
    let request_id = request_id(request.headers());
    let mut response = guarded(&security, request, request_id.clone(), next).await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(X_REQUEST_ID.clone(), value);
    }
    if let Some(security_headers) = &security.headers {
        security_headers.apply(headers);
    }
    response
}

/// The `Host` of a request (HTTP/1.1 header, or the URI's authority under HTTP/2).
fn request_host(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
}

fn is_https(security: &HttpSecurity, request: &Request) -> bool {
    if security.served_over_tls || request.uri().scheme_str() == Some("https") {
        return true;
    }
    // Only a trusted proxy may say how the client connected; the right-most value is the
    // nearest proxy's.
    peer_ip(request).is_some_and(|peer| security.trusted_proxies.contains(peer))
        && request
            .headers()
            .get_all("x-forwarded-proto")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.rsplit(','))
            .map(str::trim)
            .find(|v| !v.is_empty())
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// The refusals that need neither the client address nor a counter: a host not allowed (400),
/// plain http when https is required (308), a multipart body when uploads are off (415), a
/// declared `Content-Length` over the body limit (413).
fn refuse_early(security: &HttpSecurity, request: &Request) -> Option<Response> {
    let host = request_host(request);
    if let Some(allowed) = &security.allowed_hosts
        && !host.is_some_and(|h| allowed.allows(h))
    {
        return Some(graphql_error(
            StatusCode::BAD_REQUEST,
            "this server does not answer to that host name",
            json!({ "code": "INVALID_HOST" }),
        ));
    }
    if security.https_redirect && !is_https(security, request) {
        let target = host.and_then(|host| {
            let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
            HeaderValue::from_str(&format!("https://{host}{path}")).ok()
        });
        return Some(match target {
            Some(location) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, location)]).into_response(),
            None => graphql_error(StatusCode::BAD_REQUEST, "https is required", json!({ "code": "HTTPS_REQUIRED" })),
        });
    }
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("multipart/"));
    if multipart && !security.multipart {
        return Some(graphql_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "multipart requests (file uploads) are not accepted: send application/json",
            json!({ "code": "UNSUPPORTED_MEDIA_TYPE" }),
        ));
    }
    // A declared length over the limit gets the same JSON refusal as a body that trips the
    // limit while read (the body-limit layer alone would answer in plain text).
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let (Some(limit), Some(length)) = (security.max_body_bytes, declared)
        && length > limit as u64
    {
        return Some(graphql_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is larger than {limit} bytes"),
            json!({ "code": "PAYLOAD_TOO_LARGE" }),
        ));
    }
    None
}

async fn guarded(security: &HttpSecurity, mut request: Request, request_id: String, next: Next) -> Response {
    if let Some(refusal) = refuse_early(security, &request) {
        return refusal;
    }
    let ip = client_ip(&request, &security.trusted_proxies);
    if let Some(refusal) = rate_limit(security, ip).await {
        return refusal;
    }
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        // Bytes that are not visible ASCII are kept as U+FFFD, not dropped with the whole value:
        // a client must not be able to leave its user agent out of the audit trail.
        .map(|v| String::from_utf8_lossy(v.as_bytes()).chars().take(512).collect::<String>());
    let mut context = SecurityContext::anonymous();
    if let Some(tokens) = &security.tokens {
        let authorization = request.headers().get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{0}"));
        match tokens.authenticate(authorization, ip).await {
            Ok(Some(claims)) => context = claims.security_context(),
            Ok(None) => {}
            Err(error) => return token_refusal(&error),
        }
    }
    let context = context.with_client_ip(ip).with_user_agent(user_agent).with_request_id(Some(request_id));
    request.extensions_mut().insert(context);
    next.run(request).await
}

async fn rate_limit(security: &HttpSecurity, ip: Option<IpAddr>) -> Option<Response> {
    let (limiter, quota) = security.request_limit.as_ref()?;
    let key = ip.map_or_else(|| "unknown".to_owned(), rate_limit_key);
    match limiter.hit("graphql", &key, *quota).await {
        Ok(Decision::Allowed { .. }) => None,
        Ok(Decision::Limited { count, retry_after, first_refusal }) => {
            if let Some(logger) = &security.audit
                && first_refusal
            {
                logger.log_rate_limit_exceeded(
                    &ip.map_or(key.clone(), |ip| ip.to_string()),
                    "graphql_requests",
                    count,
                    u64::from(quota.limit),
                    quota.window.as_secs(),
                );
            }
            let seconds = retry_after.as_millis().div_ceil(1000).max(1) as u64;
            let mut response = graphql_error(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("too many requests: try again in {seconds} seconds"),
                json!({ "code": "RATE_LIMITED", "retryAfter": seconds }),
            );
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            Some(response)
        }
        Err(error) => {
            // Failing open: an unavailable counter store must not take the API down.
            tracing::error!(%error, "request rate limit unavailable; request allowed");
            None
        }
    }
}

fn token_refusal(error: &TokenError) -> Response {
    let extensions = json!({ "code": if error.is_client_error() { "UNAUTHENTICATED" } else { "SERVICE_UNAVAILABLE" }, "reason": error.reason() });
    if error.is_client_error() {
        let mut response = graphql_error(StatusCode::UNAUTHORIZED, &error.to_string(), extensions);
        let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{}\"", error.reason());
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    } else {
        tracing::error!(%error, "token verification failed");
        graphql_error(StatusCode::SERVICE_UNAVAILABLE, "authentication temporarily unavailable", extensions)
    }
}

struct GraphqlState<Q, M, S> {
    schema: Schema<Q, M, S>,
    tokens: Option<TokenService>,
    audit: Option<AuditLogger>,
    max_body_bytes: Option<usize>,
    expose_uncoded_errors: bool,
}

impl<Q, M, S> Clone for GraphqlState<Q, M, S> {
    fn clone(&self) -> Self {
        Self {
            schema: self.schema.clone(),
            tokens: self.tokens.clone(),
            audit: self.audit.clone(),
            max_body_bytes: self.max_body_bytes,
            expose_uncoded_errors: self.expose_uncoded_errors,
        }
    }
}

/// The codes whose messages are the server's business: the client gets the code and a fixed
/// message, the log gets the original with the request id.
const SERVER_SIDE_CODES: [(&str, &str); 3] = [
    ("INTERNAL_ERROR", "internal error; try again later (quote the X-Request-Id header when reporting it)"),
    ("SERVICE_UNAVAILABLE", "a service this request needs is unavailable; try again later"),
    ("SMS_UNAVAILABLE", "SMS codes are not available on this server; use another second factor"),
];

/// Rewrites errors whose message may name internals (a resolver error without a `code`, or
/// one of [`SERVER_SIDE_CODES`]) to a stable code and a generic message; the original goes to
/// the log (target `rail_graphql_security::errors`) with the request id. Coded client errors
/// and validation errors (which quote only the client's own document) pass unchanged.
fn hide_internal_errors(response: &mut async_graphql::Response, request_id: Option<&str>, expose_uncoded: bool) {
    for error in &mut response.errors {
        let code = match error.extensions.as_ref().and_then(|e| e.get("code")) {
            Some(async_graphql::Value::String(code)) => Some(code.as_str()),
            _ => None,
        };
        let code = match code {
            None if !error.path.is_empty() && !expose_uncoded => "INTERNAL_ERROR",
            Some(code) if SERVER_SIDE_CODES.iter().any(|(c, _)| *c == code) => code,
            _ => continue,
        };
        let generic = SERVER_SIDE_CODES.iter().find(|(c, _)| *c == code).map_or("internal error", |(_, m)| m);
        let code = code.to_owned();
        let path = serde_json::to_string(&error.path).unwrap_or_default();
        tracing::error!(
            target: "rail_graphql_security::errors",
            request_id,
            code = code.as_str(),
            path = path.as_str(),
            message = error.message.as_str(),
            "GraphQL error hidden from the client"
        );
        error.message = generic.to_owned();
        error.extensions.get_or_insert_with(Default::default).set("code", code);
    }
}

/// A body that is not a GraphQL request gets a GraphQL error with a stable code, not the
/// parser's debug output (serde messages).
/// Under a body limit, a read error is the limit tripping on a body without `Content-Length`
/// (chunked); the layer answers declared lengths itself.
fn request_refusal(rejection: &GraphQLRejection, request_id: Option<&str>, max_body_bytes: Option<usize>) -> Response {
    tracing::warn!(
        target: "rail_graphql_security::errors",
        request_id,
        detail = ?rejection.0,
        "GraphQL request body refused"
    );
    match (&rejection.0, max_body_bytes) {
        (ParseRequestError::Io(_), Some(limit)) => graphql_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is larger than {limit} bytes"),
            json!({ "code": "PAYLOAD_TOO_LARGE" }),
        ),
        (ParseRequestError::PayloadTooLarge, _) => graphql_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
            json!({ "code": "PAYLOAD_TOO_LARGE" }),
        ),
        _ => graphql_error(
            StatusCode::BAD_REQUEST,
            "the request is not a GraphQL request: send JSON with a `query` string (and optional `variables`, `operationName`)",
            json!({ "code": "BAD_REQUEST" }),
        ),
    }
}

async fn graphql_handler<Q, M, S>(
    State(state): State<GraphqlState<Q, M, S>>,
    Extension(security): Extension<SecurityContext>,
    request: Result<GraphQLRequest, GraphQLRejection>,
) -> Response
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let request_id = security.request_id.clone();
    let request = match request {
        Ok(request) => request,
        Err(rejection) => return request_refusal(&rejection, request_id.as_deref(), state.max_body_bytes),
    };
    // Audited models written by resolvers log who wrote them through this scope.
    let scope = state.audit.as_ref().map(|logger| AuditScope::from_security(logger.clone(), &security));
    let mut request = request.into_inner().data(security);
    if let Some(tokens) = &state.tokens {
        request = request.data(tokens.clone());
    }
    if let Some(logger) = &state.audit {
        request = request.data(logger.clone());
    }
    let mut response = match scope {
        Some(scope) => scope.run(state.schema.execute(request)).await,
        None => state.schema.execute(request).await,
    };
    hide_internal_errors(&mut response, request_id.as_deref(), state.expose_uncoded_errors);
    GraphQLResponse::from(response).into_response()
}

/// `POST /graphql` (and, when `limits.graphiql`, GraphiQL on `GET /graphql` with its own CSP)
/// behind [`HttpSecurity::apply`]. Resolvers find the [`SecurityContext`], the
/// [`TokenService`] and the [`AuditLogger`] (when configured) in the request data.
///
/// Errors that may name internals are rewritten: a body that is not a GraphQL request gets
/// HTTP 400 with `BAD_REQUEST` (413 `PAYLOAD_TOO_LARGE`), and a resolver error without a
/// `code`, or coded `INTERNAL_ERROR`, `SERVICE_UNAVAILABLE` or `SMS_UNAVAILABLE`, keeps (or
/// gets `INTERNAL_ERROR` as) its code with a generic message (uncoded errors pass as they are
/// with [`HttpSecurity::expose_uncoded_errors`]). The original is logged (target
/// `rail_graphql_security::errors`) with the request id the response carries in `X-Request-Id`.
///
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so client addresses
/// are known.
pub fn graphql_router<Q, M, S>(schema: Schema<Q, M, S>, security: HttpSecurity, limits: &GraphqlLimits) -> Router
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let routes = graphql_routes(schema, &security, limits);
    security.apply(routes)
}

/// The `/graphql` routes of [`graphql_router`] without the security layers, for a caller that
/// merges other routes (a dashboard) first and applies [`HttpSecurity::apply`] to the whole.
pub(crate) fn graphql_routes<Q, M, S>(
    schema: Schema<Q, M, S>,
    security: &HttpSecurity,
    limits: &GraphqlLimits,
) -> Router
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let state = GraphqlState {
        schema,
        tokens: security.tokens.clone(),
        audit: security.audit.clone(),
        max_body_bytes: security.max_body_bytes,
        expose_uncoded_errors: security.expose_uncoded_errors,
    };
    let mut route = post(graphql_handler::<Q, M, S>);
    if limits.graphiql {
        let page = GraphiQLSource::build().endpoint("/graphql").finish();
        route = route.get(move || {
            let page = page.clone();
            async move { ([(header::CONTENT_SECURITY_POLICY, GRAPHIQL_CSP)], Html(page)) }
        });
    }
    Router::new().route("/graphql", route).with_state(state)
}
