//! The HTTP layer over real HTTP: an axum server on 127.0.0.1 and a reqwest client. Headers,
//! request ids, authentication, revocation, both rate limits, client addresses behind proxies,
//! the slow-operation log, query limits, and two instances sharing Redis.

use std::net::SocketAddr;
use std::time::Duration;

use async_graphql::{Context, EmptySubscription, ErrorExtensions, Object, Schema, SimpleObject};
use chrono::Utc;
use rail_graphql_security::audit::AuditLogger;
use rail_graphql_security::auth::{RevocationStore, TokenConfig, TokenService};
use rail_graphql_security::client_ip::TrustedProxies;
use rail_graphql_security::context::{
    MfaState, Principal, Requirement, SecurityContext, enforce, require_authenticated,
};
use rail_graphql_security::graphql::{GraphqlLimits, SlowQueryLog};
use rail_graphql_security::http::{API_CSP, GRAPHIQL_CSP, HttpSecurity, graphql_router};
use rail_graphql_security::mfa::{MfaMethod, MfaRequirement};
use rail_graphql_security::rate_limit::{LoginRateLimiter, Quota, RateLimiter};
use serde_json::{Value, json};

const SECRET: &str = "http-test-secret-0123456789-abcdefghijk";

#[derive(SimpleObject)]
struct Node {
    name: String,
}

#[Object]
impl Query {
    async fn hello(&self) -> &str {
        "world"
    }
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(require_authenticated(ctx)?.id.clone())
    }
    async fn secret_note(&self, ctx: &Context<'_>) -> async_graphql::Result<&'static str> {
        enforce(ctx, "Query.secretNote", &Requirement::Mfa(MfaRequirement::new()))?;
        Ok("the note")
    }
    async fn client(&self, ctx: &Context<'_>) -> Option<String> {
        SecurityContext::from_graphql(ctx)?.client_ip.map(|ip| ip.to_string())
    }
    async fn request_id(&self, ctx: &Context<'_>) -> Option<String> {
        SecurityContext::from_graphql(ctx)?.request_id.clone()
    }
    async fn slow(&self) -> bool {
        tokio::time::sleep(Duration::from_millis(80)).await;
        true
    }
    async fn tree(&self) -> Tree {
        Tree(0)
    }
    /// An error without a code whose message names internals.
    async fn failing(&self) -> async_graphql::Result<bool> {
        Err("database unreachable at 10.0.0.5:5432".into())
    }
}

struct Query;
struct Tree(u32);

#[Object]
impl Tree {
    async fn level(&self) -> u32 {
        self.0
    }
    async fn child(&self) -> Tree {
        Tree(self.0 + 1)
    }
    async fn node(&self) -> Node {
        Node { name: format!("n{}", self.0) }
    }
}

struct Mutation;

#[Object]
impl Mutation {
    async fn login(&self, ctx: &Context<'_>, username: String, password: String) -> async_graphql::Result<String> {
        let security = ctx.data::<SecurityContext>()?;
        ctx.data::<LoginRateLimiter>()?.check(&username, security.client_ip, false).await.map_err(|e| e.extend())?;
        let logger = ctx.data::<AuditLogger>()?;
        if username != "alice" || password != "correct horse" {
            logger.log_authentication_failure(&username, security.client_ip, None, "invalid credentials");
            return Err(async_graphql::Error::new("invalid username or password")
                .extend_with(|_, e| e.set("code", "INVALID_CREDENTIALS")));
        }
        ctx.data::<LoginRateLimiter>()?.record_success(&username, security.client_ip).await.map_err(|e| e.extend())?;
        let principal = Principal::new(1, "alice");
        logger.log_authentication_success(&principal, security.client_ip, None, json!({}));
        let tokens = ctx.data::<TokenService>()?;
        Ok(tokens.issue(&principal, &MfaState::none(), security.client_ip).map_err(|e| e.extend())?.token)
    }
    async fn logout(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        require_authenticated(ctx)?;
        let security = ctx.data::<SecurityContext>()?;
        let header = ctx.data::<Authorization>()?;
        let tokens = ctx.data::<TokenService>()?;
        tokens.revoke_token(&header.0, security.client_ip).await.map_err(|e| e.extend())
    }
}

/// The bearer token of the test's session, handed to the schema for `logout`.
struct Authorization(String);

struct Server {
    url: String,
    logger: AuditLogger,
    sink: rail_graphql_security::audit::MemorySink,
    tokens: TokenService,
    slow: SlowQueryLog,
}

struct Options {
    limits: GraphqlLimits,
    request_limit: Option<(RateLimiter, Quota)>,
    login_limiter: RateLimiter,
    revocations: RevocationStore,
    proxies: TrustedProxies,
    token_config: TokenConfig,
    session: String,
    expose_uncoded_errors: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            limits: GraphqlLimits::development(),
            request_limit: None,
            login_limiter: RateLimiter::memory(),
            revocations: RevocationStore::memory(),
            proxies: TrustedProxies::none(),
            token_config: TokenConfig::new(SECRET).unwrap(),
            session: String::new(),
            expose_uncoded_errors: false,
        }
    }
}

async fn start(options: Options) -> Server {
    let (logger, sink) = integration_tests::capturing_logger();
    let tokens = TokenService::new(options.token_config, options.revocations).with_audit(logger.clone());
    let slow = SlowQueryLog::new(Duration::from_millis(40));
    let logins = LoginRateLimiter::new(options.login_limiter, 3, Duration::from_secs(900)).audit(logger.clone());
    let schema = options
        .limits
        .apply(Schema::build(Query, Mutation, EmptySubscription))
        .extension(slow.clone())
        .data(logins)
        .data(Authorization(options.session))
        .finish();
    let mut security = HttpSecurity::new()
        .tokens(tokens.clone())
        .audit(logger.clone())
        .trusted_proxies(options.proxies)
        .expose_uncoded_errors(options.expose_uncoded_errors);
    if let Some((limiter, quota)) = options.request_limit {
        security = security.request_rate_limit(limiter, quota);
    }
    let app = graphql_router(schema, security, &options.limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    Server { url: format!("http://{addr}/graphql"), logger, sink, tokens, slow }
}

async fn post(
    server: &Server,
    query: &str,
    headers: &[(&str, &str)],
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new().post(&server.url).json(&json!({ "query": query }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("server answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    let server = start(Options::default()).await;
    let (status, headers, body) = post(&server, "{ hello }", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["hello"], "world");
    assert_eq!(headers["strict-transport-security"], "max-age=31536000; includeSubDomains");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "strict-origin-when-cross-origin");
    assert_eq!(headers["content-security-policy"], API_CSP);
    // Refusals too.
    let (status, headers, _) = post(&server, "{ me }", &[("authorization", "Bearer nope")]).await;
    assert_eq!(status, 401);
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_gets_a_csp_that_lets_it_run_and_production_turns_it_off() {
    let server = start(Options::default()).await;
    let page = reqwest::get(&server.url).await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert_eq!(csp, GRAPHIQL_CSP);
    let html = page.text().await.unwrap();
    assert!(html.contains("graphiql"), "{html:.200}");
    // Every external script and stylesheet of the page is allowed by the policy.
    for url in html.split(['"', '\'']).filter(|s| s.starts_with("https://")) {
        let origin: String = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
        assert!(csp.contains(&origin), "{origin} is blocked by the CSP");
    }
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("connect-src 'self'"));

    let production = start(Options { limits: GraphqlLimits::production(), ..Options::default() }).await;
    assert_eq!(reqwest::get(&production.url).await.unwrap().status(), 405);
    let (_, _, body) = post(&production, "{ __schema { types { name } } }", &[]).await;
    assert_eq!(body["data"]["__schema"], Value::Null, "production answers no introspection: {body}");
    let (_, _, body) = post(&server, "{ __schema { types { name } } }", &[]).await;
    assert!(body["data"]["__schema"]["types"].is_array(), "development keeps introspection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed_when_sane_and_generated_otherwise() {
    let server = start(Options::default()).await;
    let (_, headers, body) = post(&server, "{ requestId }", &[("x-request-id", "abc-123_x.y")]).await;
    assert_eq!(headers["x-request-id"], "abc-123_x.y");
    assert_eq!(body["data"]["requestId"], "abc-123_x.y");
    for bad in ["<script>alert(1)</script>", "a b", &"x".repeat(200)] {
        let (_, headers, body) = post(&server, "{ requestId }", &[("x-request-id", bad)]).await;
        let id = headers["x-request-id"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{bad} -> {id}");
        assert_eq!(body["data"]["requestId"], id);
    }
    let (_, a, _) = post(&server, "{ hello }", &[]).await;
    let (_, b, _) = post(&server, "{ hello }", &[]).await;
    assert_ne!(a["x-request-id"], b["x-request-id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_build_the_security_context() {
    let server = start(Options::default()).await;
    let (_, _, body) = post(&server, "{ me }", &[]).await;
    assert_eq!(code(&body), "UNAUTHENTICATED");

    let (_, _, body) = post(&server, r#"mutation { login(username: "alice", password: "correct horse") }"#, &[]).await;
    let token = body["data"]["login"].as_str().expect("a token").to_owned();
    let auth = bearer(&token);
    let (_, _, body) = post(&server, "{ me }", &[("authorization", &auth)]).await;
    assert_eq!(body["data"]["me"], "1");
    let (_, _, body) = post(&server, "{ secretNote }", &[("authorization", &auth)]).await;
    assert_eq!(code(&body), "MFA_REQUIRED");
    assert_eq!(body["errors"][0]["extensions"]["methods"], json!([]));

    // A token that records the enrolled methods lists them in the refusal.
    let methods = [MfaMethod::Totp, MfaMethod::BackupCode];
    let enrolled =
        server.tokens.issue_with_methods(&Principal::new(1, "alice"), &MfaState::none(), &methods, None).unwrap();
    let (_, _, body) = post(&server, "{ secretNote }", &[("authorization", &bearer(&enrolled.token))]).await;
    assert_eq!(body["errors"][0]["extensions"]["methods"], json!(["totp", "backup_code"]), "{body}");

    let with_mfa = server
        .tokens
        .issue(&Principal::new(1, "alice"), &MfaState::verified(Utc::now(), MfaMethod::Totp), None)
        .unwrap();
    let (_, _, body) = post(&server, "{ secretNote }", &[("authorization", &bearer(&with_mfa.token))]).await;
    assert_eq!(body["data"]["secretNote"], "the note");

    // Using a valid token is not a login and creates no token event.
    server.logger.flush().await.expect("flush the audit logger");
    let events = server.sink.events();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types.iter().filter(|t| **t == "login_success").count(), 1, "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "token_created").count(), 3, "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "unauthorized_access").count(), 2, "{types:?}");
    let denial = events.iter().find(|e| e.event_type.as_str() == "unauthorized_access").unwrap();
    assert_eq!(denial.client_ip, "127.0.0.1".parse().ok());
    assert_eq!(denial.actor_id.as_deref(), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_expired_and_revoked_tokens_get_401_with_a_challenge() {
    let strict = TokenConfig::new(SECRET).unwrap().leeway(Duration::ZERO);
    let server = start(Options { token_config: strict, ..Options::default() }).await;
    for header in ["Bearer garbage", "Basic dXNlcjpwYXNz", "Bearer "] {
        let (status, headers, body) = post(&server, "{ hello }", &[("authorization", header)]).await;
        assert_eq!(status, 401, "{header}");
        assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Bearer error=\"invalid_token\""));
        assert_eq!(code(&body), "UNAUTHENTICATED");
        assert_eq!(body["errors"][0]["extensions"]["reason"], "token_invalid");
    }

    let expired_service = TokenService::new(
        TokenConfig::new(SECRET).unwrap().lifetime(Duration::ZERO).leeway(Duration::ZERO),
        RevocationStore::memory(),
    );
    let expired = expired_service.issue(&Principal::new(1, "alice"), &MfaState::none(), None).unwrap();
    for _ in 0..3 {
        let (status, _, body) = post(&server, "{ hello }", &[("authorization", &bearer(&expired.token))]).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["errors"][0]["extensions"]["reason"], "token_expired");
    }
    server.logger.flush().await.expect("flush the audit logger");
    assert_eq!(server.sink.of_type("token_expired").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_token() {
    let bootstrap = TokenService::new(TokenConfig::new(SECRET).unwrap(), RevocationStore::memory());
    let session = bootstrap.issue(&Principal::new(1, "alice"), &MfaState::none(), None).unwrap();
    let server = start(Options { session: session.token.clone(), ..Options::default() }).await;
    let auth = bearer(&session.token);
    let (_, _, body) = post(&server, "mutation { logout }", &[("authorization", &auth)]).await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    let (status, _, body) = post(&server, "{ me }", &[("authorization", &auth)]).await;
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["extensions"]["reason"], "token_revoked");
    server.logger.flush().await.expect("flush the audit logger");
    assert_eq!(server.sink.of_type("token_revoked").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_limit_answers_429_with_retry_after() {
    let quota = Quota::new(5, Duration::from_secs(60));
    let server = start(Options { request_limit: Some((RateLimiter::memory(), quota)), ..Options::default() }).await;
    for _ in 0..5 {
        // A forged X-Forwarded-For from an untrusted peer does not open a new bucket.
        let (status, _, _) =
            post(&server, "{ hello }", &[("x-forwarded-for", &format!("198.51.100.{}", rand::random::<u8>()))]).await;
        assert_eq!(status, 200);
    }
    for _ in 0..3 {
        let (status, headers, body) = post(&server, "{ hello }", &[]).await;
        assert_eq!(status, 429);
        let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert_eq!(code(&body), "RATE_LIMITED");
        assert_eq!(body["errors"][0]["extensions"]["retryAfter"], retry);
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    server.logger.flush().await.expect("flush the audit logger");
    let events = server.sink.of_type("rate_limit_exceeded");
    assert_eq!(events.len(), 1, "once per window: {events:?}");
    assert_eq!(events[0].details["limit_type"], "graphql_requests");
    assert_eq!(events[0].client_ip, "127.0.0.1".parse().ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_clients_are_told_apart_by_x_forwarded_for() {
    let quota = Quota::new(2, Duration::from_secs(60));
    let server = start(Options {
        request_limit: Some((RateLimiter::memory(), quota)),
        proxies: TrustedProxies::parse(["127.0.0.0/8"]).unwrap(),
        ..Options::default()
    })
    .await;
    let (_, _, body) = post(&server, "{ client }", &[("x-forwarded-for", "6.6.6.6, 203.0.113.10")]).await;
    assert_eq!(body["data"]["client"], "203.0.113.10", "right-most untrusted hop");
    let (status, _, _) = post(&server, "{ client }", &[("x-forwarded-for", "203.0.113.10")]).await;
    assert_eq!(status, 200);
    let (status, _, _) = post(&server, "{ client }", &[("x-forwarded-for", "1.1.1.1, 203.0.113.10")]).await;
    assert_eq!(status, 429, "prepending a fake hop does not escape the limit");
    let (status, _, body) = post(&server, "{ client }", &[("x-forwarded-for", "203.0.113.11")]).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["client"], "203.0.113.11");
    server.logger.flush().await.expect("flush the audit logger");
    let events = server.sink.of_type("rate_limit_exceeded");
    assert_eq!(events[0].client_ip, "203.0.113.10".parse().ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_limit_is_a_rate_limited_graphql_error() {
    let server = start(Options::default()).await;
    let login = r#"mutation { login(username: "alice", password: "wrong") }"#;
    for _ in 0..3 {
        let (status, _, body) = post(&server, login, &[]).await;
        assert_eq!(status, 200);
        assert_eq!(body["errors"][0]["message"], "invalid username or password");
    }
    // Even the right password is refused now.
    let (status, _, body) =
        post(&server, r#"mutation { login(username: "alice", password: "correct horse") }"#, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    // 3 per 900 s: one more attempt is allowed 300 s after the burst (GCRA), not 900 s.
    let retry = body["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap();
    assert!((299..=300).contains(&retry), "{retry}");
    // Every attempt came from one address: its limit trips first, and the refused attempt
    // does not count against the username.
    server.logger.flush().await.expect("flush the audit logger");
    let events = server.sink.of_type("rate_limit_exceeded");
    assert!(events.iter().any(|e| e.details["limit_type"] == "login_ip"), "{events:?}");
    assert!(!events.iter().any(|e| e.details["limit_type"] == "login_username"), "{events:?}");
    server.logger.flush().await.expect("flush the audit logger");
    assert_eq!(server.sink.of_type("login_failed").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_operations_are_logged_and_fast_ones_are_not() {
    let server = start(Options::default()).await;
    post(&server, "{ hello }", &[]).await;
    assert_eq!(server.slow.slow_operations(), 0);
    let (_, _, body) = post(&server, "query Sluggish { slow }", &[]).await;
    assert_eq!(body["data"]["slow"], true);
    assert_eq!(server.slow.slow_operations(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_complexity_is_limited() {
    // Without the per-field occurrence limit, which would refuse the 11th alias first.
    let limits = GraphqlLimits { max_field_occurrences: None, ..GraphqlLimits::production() };
    let server = start(Options { limits, ..Options::default() }).await;
    let aliases = |n: usize| format!("{{ {} }}", (0..n).map(|i| format!("h{i}: hello")).collect::<Vec<_>>().join(" "));
    let (_, _, body) = post(&server, &aliases(100), &[]).await;
    assert_eq!(body["data"]["h99"], "world", "{body}");
    let (_, _, body) = post(&server, &aliases(600), &[]).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().to_lowercase().contains("complex"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_depth_is_limited() {
    // Without the per-field occurrence limit, which would refuse the 11th `Tree.child` first.
    let limits = GraphqlLimits { max_field_occurrences: None, ..GraphqlLimits::production() };
    let server = start(Options { limits, ..Options::default() }).await;
    let nest = |n: usize| format!("{{ tree {{ {}level{} }} }}", "child { ".repeat(n), " }".repeat(n));
    let (_, _, body) = post(&server, &nest(3), &[]).await;
    assert_eq!(body["data"]["tree"]["child"]["child"]["child"]["level"], 3, "{body}");
    let (_, _, body) = post(&server, &nest(20), &[]).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().to_lowercase().contains("nested too deep"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_share_limits_and_revocations() {
    let Some(url) = integration_tests::redis_url() else { return };
    let prefix = integration_tests::unique_prefix();
    let quota = Quota::new(4, Duration::from_secs(60));
    let bootstrap = TokenService::new(TokenConfig::new(SECRET).unwrap(), RevocationStore::memory());
    let session = bootstrap.issue(&Principal::new(1, "alice"), &MfaState::none(), None).unwrap();
    let mut servers = Vec::new();
    for _ in 0..2 {
        servers.push(
            start(Options {
                request_limit: Some((RateLimiter::redis(&url, &prefix).await.unwrap(), quota)),
                revocations: RevocationStore::redis(&url, &prefix).await.unwrap(),
                login_limiter: RateLimiter::redis(&url, &prefix).await.unwrap(),
                session: session.token.clone(),
                ..Options::default()
            })
            .await,
        );
    }
    let auth = bearer(&session.token);
    let (_, _, body) = post(&servers[0], "mutation { logout }", &[("authorization", &auth)]).await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    let (status, _, body) = post(&servers[1], "{ me }", &[("authorization", &auth)]).await;
    assert_eq!(status, 401, "revoked on the other instance: {body}");
    // 2 requests used; 2 more fit, spread over both instances.
    assert_eq!(post(&servers[1], "{ hello }", &[]).await.0, 200);
    assert_eq!(post(&servers[0], "{ hello }", &[]).await.0, 200);
    assert_eq!(post(&servers[1], "{ hello }", &[]).await.0, 429);
    assert_eq!(post(&servers[0], "{ hello }", &[]).await.0, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_redis_goes_down_requests_fail_open_logins_fail_closed_and_recover() {
    let Some(url) = integration_tests::redis_url() else { return };
    let target: SocketAddr =
        std::net::ToSocketAddrs::to_socket_addrs(url.trim_start_matches("redis://").trim_end_matches('/'))
            .unwrap()
            .find(|a| a.is_ipv4())
            .unwrap();
    let proxy = integration_tests::FlakyProxy::start(target).await;
    let via_proxy = format!("redis://{}", proxy.addr);
    let prefix = integration_tests::unique_prefix();
    let server = start(Options {
        request_limit: Some((
            RateLimiter::redis(&via_proxy, &prefix).await.unwrap(),
            Quota::new(100, Duration::from_secs(60)),
        )),
        login_limiter: RateLimiter::redis(&via_proxy, &prefix).await.unwrap(),
        ..Options::default()
    })
    .await;
    let login = r#"mutation { login(username: "alice", password: "correct horse") }"#;
    assert!(post(&server, login, &[]).await.2["data"]["login"].is_string());

    proxy.cut();
    // The request limit cannot count: the API stays up.
    let (status, _, body) = post(&server, "{ hello }", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["hello"], "world");
    // The login limit cannot count: logins are refused rather than left unlimited.
    let (_, _, body) = post(&server, login, &[]).await;
    assert_eq!(code(&body), "SERVICE_UNAVAILABLE", "{body}");
    assert_eq!(body["data"], Value::Null);
    assert!(!body.to_string().to_lowercase().contains("redis"), "no internals in the answer: {body}");

    proxy.restore();
    let mut recovered = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if post(&server, login, &[]).await.2["data"]["login"].is_string() {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "logins work again once Redis is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolver_errors_without_a_code_reach_clients_only_when_exposed() {
    let hidden = start(Options::default()).await;
    let (status, headers, body) = post(&hidden, "{ failing }", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "INTERNAL_ERROR", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("database") && !message.contains("10.0.0.5"), "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["failing"]), "{body}");
    assert!(headers.get("x-request-id").is_some(), "the id that ties the log line to the response");

    let exposed = start(Options { expose_uncoded_errors: true, ..Options::default() }).await;
    let (_, _, body) = post(&exposed, "{ failing }", &[]).await;
    assert_eq!(body["errors"][0]["message"], "database unreachable at 10.0.0.5:5432", "{body}");
    assert!(body["errors"][0]["extensions"]["code"].is_null(), "{body}");
}
