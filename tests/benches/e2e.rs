//! Throughput of the demo server: `secretNote` over real HTTP (loopback, 32 requests in flight)
//! through the full stack — the HTTP security layer (request id, client address, request rate
//! limit, bearer token with revocation check, security headers), the slow-query extension,
//! the MFA check and the audit event of each read — vs. the same query on a server with the
//! plugin's layers and checks off (a bare async-graphql-axum route). Both servers run in the
//! same process and the same criterion run; criterion's `elem/s` is requests per second.
//!
//! `cargo bench -p integration-tests --bench e2e`
#![expect(missing_docs, reason = "criterion_main! generates an undocumented main")]

use std::net::SocketAddr;
use std::time::Duration;

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
use async_graphql_axum::GraphQL;
use axum::Router;
use axum::routing::post_service;
use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::future::join_all;
use rail_graphql_security::context::{MfaState, Principal};
use rail_graphql_security::mfa::MfaMethod;
use tokio::runtime::Runtime;

/// Requests in flight per measured iteration.
const IN_FLIGHT: usize = 32;
const BODY: &str = r#"{"query":"{ secretNote }"}"#;

/// The baseline: the same field, nothing from the plugin.
struct PlainQuery;

#[Object]
impl PlainQuery {
    async fn secret_note(&self) -> &'static str {
        demo::schema::SECRET_NOTE
    }
}

fn serve(rt: &Runtime, router: Router) -> String {
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/graphql", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.expect("serve")
        });
        url
    })
}

fn throughput(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.sqlite").display());
    let mut config = demo::Settings::development(url);
    config.config.security.middleware.rate_limiting.graphql_requests_limit = 1_000_000;
    let app = rt.block_on(demo::build_app(&config)).expect("demo app");
    // A session that passed TOTP (how it got there is not what is measured).
    let principal = Principal::new(1, "demo").with_roles(["user"]);
    let token =
        app.tokens.issue(&principal, &MfaState::verified(Utc::now(), MfaMethod::Totp), None).expect("token").token;
    let full_url = serve(&rt, app.router.clone());
    // The same server with rate limits and revocations in Redis (as with `REDIS_URL`), when
    // `RAIL_TEST_REDIS_URL` is set: the token check then leaves SQLite to the audit sink.
    let redis = std::env::var("RAIL_TEST_REDIS_URL").ok().map(|url| {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = config.clone();
        config.config.database_url = Some(rail_graphql_security::config::Secret::new(format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.sqlite").display()
        )));
        config.config.security.middleware.rate_limiting.store_url =
            Some(rail_graphql_security::config::Secret::new(url));
        config.config.redis_prefix = format!("rail_bench_{}", std::process::id());
        let app = rt.block_on(demo::build_app(&config)).expect("demo app on Redis");
        let token =
            app.tokens.issue(&principal, &MfaState::verified(Utc::now(), MfaMethod::Totp), None).expect("token").token;
        let url = serve(&rt, app.router.clone());
        (dir, app, token, url)
    });

    let plain = Schema::build(PlainQuery, EmptyMutation, EmptySubscription).finish();
    let plain_url = serve(&rt, Router::new().route("/graphql", post_service(GraphQL::new(plain))));

    let client = reqwest::Client::builder().pool_max_idle_per_host(IN_FLIGHT).build().expect("client");
    let expected = format!(r#"{{"data":{{"secretNote":"{}"}}}}"#, demo::schema::SECRET_NOTE);
    let call = |url: &str, token: Option<&str>| {
        let mut request = client.post(url).header("content-type", "application/json").body(BODY);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.expect("send").bytes().await.expect("body") }
    };
    let batch = |url: &str, token: Option<&str>| {
        let calls: Vec<_> = (0..IN_FLIGHT).map(|_| call(url, token)).collect();
        join_all(calls)
    };
    // Both answer the note before anything is timed.
    for (url, token) in [(&full_url, Some(token.as_str())), (&plain_url, None)] {
        for body in rt.block_on(batch(url, token)) {
            assert_eq!(std::str::from_utf8(&body).expect("utf-8"), expected);
        }
    }
    // Without a second factor the full stack refuses, so the check really runs.
    let weak = app.tokens.issue(&principal, &MfaState::none(), None).expect("token").token;
    let refused = rt.block_on(call(&full_url, Some(&weak)));
    assert!(std::str::from_utf8(&refused).expect("utf-8").contains("MFA_REQUIRED"));

    let mut group = c.benchmark_group("e2e_secret_note_throughput");
    group.throughput(Throughput::Elements(IN_FLIGHT as u64));
    group.sample_size(30).measurement_time(Duration::from_secs(10));
    group.bench_function("full_stack", |b| b.to_async(&rt).iter(|| batch(&full_url, Some(&token))));
    if let Some((_, _, token, url)) = &redis {
        for body in rt.block_on(batch(url, Some(token))) {
            assert_eq!(std::str::from_utf8(&body).expect("utf-8"), expected);
        }
        group.bench_function("full_stack_redis", |b| b.to_async(&rt).iter(|| batch(url, Some(token))));
    }
    group.bench_function("plugin_off", |b| b.to_async(&rt).iter(|| batch(&plain_url, None)));
    group.finish();

    let stats = app.logger.stats();
    eprintln!("audit during the run: {} logged, {} written, {} dropped", stats.logged, stats.written, stats.dropped);
}

criterion_group!(benches, throughput);
criterion_main!(benches);
