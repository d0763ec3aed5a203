//! The cost of the HTTP layer: one `secretNote` query through `graphql_router` (security
//! headers, request id, client address, request rate limit, bearer-token verification with a
//! revocation check, the security context and `require_mfa`) vs. the same schema behind a bare
//! axum route with the context handed in directly. In process (`tower::ServiceExt::oneshot`), so
//! the ratio measures the layer, not the network.
//!
//! `cargo bench -p integration-tests --bench http`
#![expect(missing_docs, reason = "criterion_main! generates an undocumented main")]

use std::net::SocketAddr;
use std::time::Duration;

use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::Request;
use axum::routing::post;
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use rail_graphql_security::auth::{RevocationStore, TokenConfig, TokenService};
use rail_graphql_security::context::{MfaState, Principal, SecurityContext, require_second_factor};
use rail_graphql_security::graphql::GraphqlLimits;
use rail_graphql_security::http::{HttpSecurity, graphql_router};
use rail_graphql_security::mfa::MfaMethod;
use rail_graphql_security::rate_limit::{Quota, RateLimiter};
use tokio::runtime::Runtime;
use tower::ServiceExt;

struct Query;

#[Object]
impl Query {
    async fn secret_note(&self, ctx: &Context<'_>) -> async_graphql::Result<&'static str> {
        require_second_factor(ctx, None)?;
        Ok("the note")
    }
}

type AppSchema = Schema<Query, EmptyMutation, EmptySubscription>;

const BODY: &str = r#"{"query":"{ secretNote }"}"#;

fn request(authorization: Option<&str>) -> Request<Body> {
    let mut builder = Request::post("/graphql").header("content-type", "application/json");
    if let Some(value) = authorization {
        builder = builder.header("authorization", value);
    }
    let mut request = builder.body(Body::from(BODY)).expect("request");
    let peer: SocketAddr = "203.0.113.9:50000".parse().expect("addr");
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

async fn bare_handler(
    State((schema, security)): State<(AppSchema, SecurityContext)>,
    req: GraphQLRequest,
) -> GraphQLResponse {
    schema.execute(req.into_inner().data(security)).await.into()
}

fn http_layer(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let _guard = rt.enter();
    let limits = GraphqlLimits::production();
    let schema = limits.apply(Schema::build(Query, EmptyMutation, EmptySubscription)).finish();

    let tokens = TokenService::new(
        TokenConfig::new("bench-secret-0123456789-abcdefghijklmnop").expect("config"),
        RevocationStore::memory(),
    );
    let issued = tokens
        .issue(&Principal::new(1, "alice"), &MfaState::verified(Utc::now(), MfaMethod::Totp), None)
        .expect("token");
    let authorization = format!("Bearer {}", issued.token);
    let security = HttpSecurity::new()
        .tokens(tokens)
        .request_rate_limit(RateLimiter::memory(), Quota::new(u32::MAX, Duration::from_secs(3600)));
    let secured = graphql_router(schema.clone(), security, &limits);

    let context = SecurityContext::authenticated(Principal::new(1, "alice"))
        .with_mfa(MfaState::verified(Utc::now(), MfaMethod::Totp));
    let bare = Router::new().route("/graphql", post(bare_handler)).with_state((schema, context));

    // Both answer the note before anything is timed.
    for (router, auth) in [(&secured, Some(authorization.as_str())), (&bare, None)] {
        let response = rt.block_on(router.clone().oneshot(request(auth))).expect("response");
        let body = rt.block_on(axum::body::to_bytes(response.into_body(), 1 << 16)).expect("body");
        assert_eq!(&body[..], br#"{"data":{"secretNote":"the note"}}"#);
    }

    let mut group = c.benchmark_group("http_secret_note");
    group.sample_size(50).measurement_time(Duration::from_secs(8));
    group.bench_function("secured_router", |b| {
        b.to_async(&rt).iter(|| async {
            let response = secured.clone().oneshot(request(Some(&authorization))).await.expect("response");
            axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body")
        })
    });
    group.bench_function("bare_router", |b| {
        b.to_async(&rt).iter(|| async {
            let response = bare.clone().oneshot(request(None)).await.expect("response");
            axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body")
        })
    });
    group.finish();

    let serve = |router: Router| {
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            tokio::spawn(async move {
                axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.expect("serve")
            });
            format!("http://{addr}/graphql")
        })
    };
    let secured_url = serve(secured);
    let bare_url = serve(bare);
    let client = reqwest::Client::new();
    let call = |url: &str, auth: Option<&str>| {
        let mut request = client.post(url).header("content-type", "application/json").body(BODY);
        if let Some(value) = auth {
            request = request.header("authorization", value);
        }
        async move { request.send().await.expect("send").bytes().await.expect("body") }
    };
    assert_eq!(&rt.block_on(call(&secured_url, Some(&authorization)))[..], br#"{"data":{"secretNote":"the note"}}"#);
    assert_eq!(&rt.block_on(call(&bare_url, None))[..], br#"{"data":{"secretNote":"the note"}}"#);
    let mut group = c.benchmark_group("http_secret_note_loopback");
    group.sample_size(30).measurement_time(Duration::from_secs(8));
    group.bench_function("secured_router", |b| b.to_async(&rt).iter(|| call(&secured_url, Some(&authorization))));
    group.bench_function("bare_router", |b| b.to_async(&rt).iter(|| call(&bare_url, None)));
    group.finish();
}

criterion_group!(benches, http_layer);
criterion_main!(benches);
