//! `middleware.*`: authentication, rate limits, performance.

use std::time::Duration;

use rail_graphql_security::auth::{REVOCATION_SYNC_BOUND, RevocationStore, TokenConfig, TokenService};
use rail_graphql_security::config::Profile;
use rail_graphql_security::stack::Security;

use super::harness::{App, build_error, load, start, start_with};

const LOGIN: &str = r#"mutation { login(username: "alice") }"#;

async fn logins_until_refused(app: &App, query: &str, max: usize) -> Option<usize> {
    for attempt in 1..=max {
        let answer = app.gql(query).await;
        if answer.code() == Some("RATE_LIMITED") {
            return Some(attempt);
        }
        assert_eq!(answer.body["data"]["login"], true, "{answer:?}");
    }
    None
}

pub(crate) async fn authentication_enabled() {
    let on = start(&[]).await;
    let refused = on.gql_auth("{ me }", "Bearer not-a-token").await;
    assert_eq!((refused.status, refused.code()), (401, Some("UNAUTHENTICATED")));
    let token = on.token(7, &[]);
    assert_eq!(on.gql_auth("{ me }", &format!("Bearer {token}")).await.body["data"]["me"], "7");

    let off = start(&[("middleware.authentication.enabled", "false")]).await;
    let anonymous = off.gql_auth("{ me }", "Bearer not-a-token").await;
    assert_eq!(anonymous.status, 200, "{anonymous:?}");
    assert_eq!(anonymous.body["data"]["me"], serde_json::Value::Null, "no token is read");
}

pub(crate) async fn jwt_header_prefix() {
    let app = start(&[("middleware.authentication.jwt_header_prefix", "JWT")]).await;
    let token = app.token(8, &[]);
    assert_eq!(app.gql_auth("{ me }", &format!("JWT {token}")).await.body["data"]["me"], "8");
    let bearer = app.gql_auth("{ me }", &format!("Bearer {token}")).await;
    assert_eq!(bearer.status, 401);
    assert!(bearer.message().contains("Authorization: JWT <token>"), "{bearer:?}");
}

pub(crate) async fn security_headers() {
    let on = start(&[]).await.gql("{ hello }").await;
    assert_eq!(on.header("x-frame-options"), Some("DENY"));
    assert_eq!(on.header("x-content-type-options"), Some("nosniff"));
    assert!(on.header("content-security-policy").is_some());
    let off = start(&[("middleware.authentication.security_headers", "false")]).await.gql("{ hello }").await;
    for name in ["x-frame-options", "x-content-type-options", "referrer-policy", "content-security-policy"] {
        assert_eq!(off.header(name), None, "{name}");
    }
    assert!(off.header("x-request-id").is_some(), "request ids are not a security header");
}

pub(crate) async fn rate_limiting_enabled() {
    let limits = [
        ("middleware.rate_limiting.login_attempts_limit", "2"),
        ("middleware.rate_limiting.graphql_requests_limit", "3"),
    ];
    // On by default in development (the default profile of these tests).
    let on = start(&limits).await;
    assert_eq!(logins_until_refused(&on, LOGIN, 5).await, Some(3));
    assert_eq!(on.gql("{ hello }").await.status, 429, "the 4th request of this address");

    let mut off_keys = limits.to_vec();
    off_keys.push(("middleware.rate_limiting.enabled", "false"));
    let off = start(&off_keys).await;
    assert_eq!(logins_until_refused(&off, LOGIN, 6).await, None);
    assert!(off.security.request_quota().is_none());
    for _ in 0..3 {
        assert_eq!(off.gql("{ hello }").await.status, 200);
    }
}

pub(crate) async fn login_attempts_limit() {
    let app = start(&[("middleware.rate_limiting.login_attempts_limit", "4")]).await;
    assert_eq!(logins_until_refused(&app, LOGIN, 10).await, Some(5), "the 5th attempt for one username");
}

pub(crate) async fn login_attempts_window() {
    let app = start(&[
        ("middleware.rate_limiting.login_attempts_limit", "1"),
        ("middleware.rate_limiting.login_attempts_window", "7"),
    ])
    .await;
    assert_eq!(logins_until_refused(&app, LOGIN, 3).await, Some(2));
    let refused = app.gql(LOGIN).await;
    let retry = refused.body["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap();
    assert!((1..=7).contains(&retry), "retry after {retry}s within the 7 s window");
}

pub(crate) async fn login_ip_attempts_limit() {
    let app = start(&[
        ("middleware.rate_limiting.login_attempts_limit", "100"),
        ("middleware.rate_limiting.login_ip_attempts_limit", "3"),
    ])
    .await;
    for n in 0..3 {
        let answer = app.gql(&format!(r#"mutation {{ login(username: "user{n}") }}"#)).await;
        assert_eq!(answer.body["data"]["login"], true, "{answer:?}");
    }
    // A fourth username from the same address.
    let answer = app.gql(r#"mutation { login(username: "user3") }"#).await;
    assert_eq!(answer.code(), Some("RATE_LIMITED"), "{answer:?}");
}

pub(crate) async fn graphql_requests_limit() {
    let app = start(&[("middleware.rate_limiting.graphql_requests_limit", "5")]).await;
    for n in 1..=5 {
        assert_eq!(app.gql("{ hello }").await.status, 200, "request {n}");
    }
    let refused = app.gql("{ hello }").await;
    assert_eq!((refused.status, refused.code()), (429, Some("RATE_LIMITED")));
    assert!(refused.header("x-frame-options").is_some(), "a refusal still carries the headers");
}

pub(crate) async fn graphql_requests_window() {
    let app = start(&[
        ("middleware.rate_limiting.graphql_requests_limit", "1"),
        ("middleware.rate_limiting.graphql_requests_window", "9"),
    ])
    .await;
    assert_eq!(app.gql("{ hello }").await.status, 200);
    let refused = app.gql("{ hello }").await;
    assert_eq!(refused.status, 429);
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=9).contains(&retry), "Retry-After {retry} within the 9 s window");
}

/// With Redis, the request limit leases hits: 20 requests make one round trip per request
/// with a lease of 0 ms, a handful (leases of 1, 2, 4, 8, 16) with one of a second.
pub(crate) async fn graphql_requests_lease_ms() {
    let Ok(url) = std::env::var("RAIL_TEST_REDIS_URL") else {
        eprintln!("note: graphql_requests_lease_ms SKIPPED: set RAIL_TEST_REDIS_URL");
        return;
    };
    let proxy = integration_tests::RedisScriptCounter::start(&url).await;
    for (lease, trips) in [("0", 20..=20), ("1000", 5..=6)] {
        let prefix = format!("stack-{}", uuid::Uuid::new_v4().simple());
        let keys = [
            ("middleware.rate_limiting.store_url", proxy.url.as_str()),
            ("middleware.rate_limiting.graphql_requests_limit", "10000"),
            ("middleware.rate_limiting.graphql_requests_lease_ms", lease),
        ];
        let app = start_with(Profile::Development, &keys, |b| b.redis_prefix(prefix.clone())).await;
        let before = proxy.runs();
        for n in 1..=20 {
            assert_eq!(app.gql("{ hello }").await.status, 200, "request {n}");
        }
        let made = proxy.runs() - before;
        assert!(trips.contains(&made), "lease {lease} ms: {made} round trips, expected {trips:?}");
        integration_tests::redis_delete_prefix(&url, &prefix).await;
    }
}

pub(crate) async fn store_url() {
    // An unreachable store is reported when building, naming the key.
    let error =
        build_error(Profile::Development, &[("middleware.rate_limiting.store_url", "redis://127.0.0.1:1")]).await;
    assert!(error.starts_with("middleware.rate_limiting.store_url"), "{error}");
    let Ok(url) = std::env::var("RAIL_TEST_REDIS_URL") else {
        eprintln!("note: store_url sharing SKIPPED: set RAIL_TEST_REDIS_URL");
        return;
    };
    // Two stacks on one Redis count requests as one.
    let prefix = format!("stack-{}", uuid::Uuid::new_v4().simple());
    let keys = [
        ("middleware.rate_limiting.store_url", url.as_str()),
        ("middleware.rate_limiting.graphql_requests_limit", "2"),
    ];
    let a = start_with(Profile::Development, &keys, |b| b.redis_prefix(prefix.clone())).await;
    let b = start_with(Profile::Development, &keys, |b| b.redis_prefix(prefix.clone())).await;
    assert_eq!(a.gql("{ hello }").await.status, 200);
    assert_eq!(b.gql("{ hello }").await.status, 200);
    assert_eq!(a.gql("{ hello }").await.status, 429, "the third request across both instances");
    // Revocations: the database is their durable record, so the instances that share it (c on
    // a's database) see one within the bound, pushed through Redis pub/sub.
    let dir = tempfile::tempdir().unwrap();
    let config = load(&Profile::Development, dir.path(), &keys).unwrap();
    let c = Security::builder(&config, Profile::Development, a.db.connect_again().await)
        .redis_prefix(prefix.clone())
        .build()
        .await
        .unwrap();
    let token = a.token(9, &[]);
    let claims = c.tokens().verify(&token, None).await.expect("accepted before the revocation");
    assert!(a.security.tokens().revoke(&claims, None).await.unwrap());
    assert_eq!(a.security.tokens().verify(&token, None).await.unwrap_err().reason(), "token_revoked");
    let deadline = std::time::Instant::now() + REVOCATION_SYNC_BOUND + Duration::from_secs(4);
    while c.tokens().verify(&token, None).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "instance c still accepts a's revocation past the bound");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c.tokens().verify(&token, None).await.unwrap_err().reason(), "token_revoked");
    integration_tests::redis_delete_prefix(&url, &prefix).await;
}

/// Without `store_url`, revocations live in the database: a second service on the same
/// database sees them.
pub(crate) async fn revocations_in_the_database() {
    let app = start(&[]).await;
    let token = app.token(10, &[]);
    let claims = app.security.tokens().verify(&token, None).await.unwrap();
    app.security.tokens().revoke(&claims, None).await.unwrap();
    let other = TokenService::new(
        TokenConfig::new(integration_tests::myapp::TEST_SECRET_KEY).unwrap(),
        RevocationStore::database(app.db.db.clone()),
    );
    assert_eq!(other.verify(&token, None).await.unwrap_err().reason(), "token_revoked");
}

pub(crate) async fn performance_enabled() {
    let on = start(&[("middleware.performance.slow_query_threshold", "0.001")]).await;
    assert_eq!(on.gql("{ slow }").await.body["data"]["slow"], true);
    assert_eq!(on.security.slow_query_log().unwrap().slow_operations(), 1);
    let off =
        start(&[("middleware.performance.enabled", "false"), ("middleware.performance.slow_query_threshold", "0.001")])
            .await;
    assert!(off.security.slow_query_log().is_none());
    assert_eq!(off.gql("{ slow }").await.body["data"]["slow"], true);
}

pub(crate) async fn slow_query_threshold() {
    let fast = start(&[("middleware.performance.slow_query_threshold", "600")]).await;
    fast.gql("{ slow }").await;
    assert_eq!(fast.security.slow_query_log().unwrap().slow_operations(), 0, "50 ms is under 600 s");
    let strict = start(&[("middleware.performance.slow_query_threshold", "0.001")]).await;
    strict.gql("{ slow }").await;
    strict.gql("{ hello }").await;
    assert!(strict.security.slow_query_log().unwrap().slow_operations() >= 1);
}
