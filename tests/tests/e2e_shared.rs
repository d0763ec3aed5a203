//! The demo server on the server backends. Two instances sharing one PostgreSQL database and one
//! Redis, as a deployment behind a load balancer would: the login limit, token revocation, TOTP
//! replay protection, backup codes, trusted devices and the security report hold across both,
//! whichever instance a request reaches. And the whole flow on MariaDB.

mod e2e;

use e2e::{Server, count, error_code, test_config};
use integration_tests::{Backend, TestDb, collect_alerts, redis_url, unique_prefix};
use rail_graphql_security::audit::{Alert, ThresholdKind};
use serde_json::json;

const DEMO: &str = demo::DEFAULT_DEMO_PASSWORD;

/// Two servers on one PostgreSQL schema and one Redis prefix, or `None` when a backend is not
/// configured.
async fn two_instances(config: fn(&str) -> demo::Settings) -> Option<(TestDb, Server, Server)> {
    let t = TestDb::new(Backend::Postgres).await?;
    let redis = redis_url()?;
    let mut config = config(&t.url);
    config.config.security.middleware.rate_limiting.store_url = Some(rail_graphql_security::config::Secret::new(redis));
    config.config.redis_prefix = unique_prefix();
    let a = Server::start(&config, t.db.clone()).await;
    let b = Server::start(&config, t.connect_again().await).await;
    Some((t, a, b))
}

/// Wrong passwords spread over two instances reach the failed-login alert threshold (10 an
/// hour by default) as if they hit one: the instances count the window together in Redis, and
/// one of them sends the alert. Counted per instance, five failures each raised none.
#[tokio::test]
async fn failed_logins_spread_over_two_instances_raise_one_alert() {
    let Some((t, a, b)) = two_instances(test_config).await else { return };
    let alerts = [collect_alerts(&a.demo.logger), collect_alerts(&b.demo.logger)];
    // One guess for each of ten accounts, so the login limit (per username) refuses none.
    for i in 0..10 {
        let server = if i % 2 == 0 { &a } else { &b };
        let answer = server.login_raw(&format!("victim{i}"), "wrong-guess", None).await;
        assert_eq!(error_code(&answer), Some("INVALID_CREDENTIALS"), "{answer}");
    }
    a.demo.logger.flush().await.expect("flush A");
    b.demo.logger.flush().await.expect("flush B");
    let reached: Vec<(ThresholdKind, u32, u32)> = alerts
        .iter()
        .flat_map(|alerts| alerts.lock().unwrap().clone())
        .filter_map(|alert| match alert {
            Alert::ThresholdReached { threshold, count, limit, .. } => Some((threshold, count, limit)),
            _ => None,
        })
        .collect();
    assert_eq!(reached, [(ThresholdKind::FailedLoginsPerHour, 10, 10)], "one alert for both instances");
    drop((a, b));
    t.cleanup().await;
}

#[tokio::test]
async fn login_limit_revocation_and_report_hold_across_two_instances() {
    let Some((t, a, b)) = two_instances(test_config).await else { return };

    // A token issued by A works on B: same secret, same database.
    let (token, _) = a.login("demo", DEMO, None).await;
    let me = b.gql(Some(&token), "{ me { username } }", json!({})).await;
    assert_eq!(me["data"]["me"]["username"], "demo", "{me}");
    let body = b.secret_note(&token).await;
    assert_eq!(error_code(&body), Some("MFA_REQUIRED"), "{body}");

    // Logout on B revokes the token at once on B, and on A within the documented bound (A
    // learns it from the Redis push and the database, see `REVOCATION_SYNC_BOUND`).
    let out = b.gql(Some(&token), "mutation { logout }", json!({})).await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    let (status, body) = b.post(Some(&token), "{ me { username } }", json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "token_revoked");
    let bound = rail_graphql_security::auth::REVOCATION_SYNC_BOUND + std::time::Duration::from_secs(1);
    let deadline = std::time::Instant::now() + bound;
    loop {
        let (status, body) = a.post(Some(&token), "{ me { username } }", json!({})).await;
        if status == 401 {
            assert_eq!(body["errors"][0]["extensions"]["reason"], "token_revoked");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "A still accepts the revoked token after {bound:?}: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // The login limit (3 per username) counts attempts on both instances together: alternating
    // between them does not buy more guesses.
    let first = b.login_raw("demo", "wrong-guess-1", None).await;
    assert_eq!(error_code(&first), Some("INVALID_CREDENTIALS"), "{first}");
    let second = a.login_raw("demo", "wrong-guess-2", None).await;
    assert_eq!(error_code(&second), Some("INVALID_CREDENTIALS"), "{second}");
    let third = b.login_raw("demo", "wrong-guess-3", None).await;
    assert_eq!(error_code(&third), Some("INVALID_CREDENTIALS"), "{third}");
    // Three failures (the earlier success does not count): the next attempt is refused, even
    // with the right password, on either instance.
    let limited = b.login_raw("demo", DEMO, None).await;
    assert_eq!(error_code(&limited), Some("RATE_LIMITED"), "{limited}");
    let limited = a.login_raw("demo", DEMO, None).await;
    assert_eq!(error_code(&limited), Some("RATE_LIMITED"), "{limited}");
    assert!(limited["errors"][0]["extensions"]["retryAfter"].as_u64().is_some_and(|s| (1..=900).contains(&s)));

    // The report on either instance counts the events of both (after both queues are written).
    // securityReport needs an admin who passed a second factor.
    let admin = b.admin_with_totp().await.token;
    a.demo.logger.flush().await.expect("flush A");
    b.demo.logger.flush().await.expect("flush B");
    for server in [&a, &b] {
        let report = server.report(&admin).await;
        assert_eq!(count(&report, "successfulLogins"), 2, "{report}");
        assert_eq!(count(&report, "failedLogins"), 3, "{report}");
        // The first refusal of the shared window is audited once, by the instance that saw it.
        assert_eq!(count(&report, "rateLimitHits"), 1, "{report}");
        assert_eq!(count(&report, "unauthorizedAccess"), 1, "{report}");
    }
    drop((a, b));
    t.cleanup().await;
}

#[tokio::test]
async fn the_whole_flow_across_two_instances() {
    let Some((t, a, b)) = two_instances(e2e::flow::flow_config).await else { return };
    // Every step alternates between the instances: the TOTP replay guard, the single use of
    // backup codes, trusted devices, revocation and the login limit are shared state.
    e2e::flow::walk(&a, &b).await;
    drop((a, b));
    t.cleanup().await;
}

#[tokio::test]
async fn the_whole_flow_on_mariadb() {
    // The same binary on MySQL/MariaDB (`DATABASE_URL=mysql://…`), limits in memory.
    let Some(t) = TestDb::new(Backend::MySql).await else { return };
    let server = Server::start(&e2e::flow::flow_config(&t.url), t.db.clone()).await;
    e2e::flow::walk(&server, &server).await;
    drop(server);
    t.cleanup().await;
}

/// Issue 17: passkey ceremonies begun on one instance finish on the other (PostgreSQL and
/// Redis shared), and a finished one is refused on both.
#[tokio::test]
async fn passkey_ceremonies_cross_instances() {
    use integration_tests::authenticator::SoftAuthenticator;
    const ORIGIN: &str = "http://localhost:8000";
    let Some((t, a, b)) = two_instances(test_config).await else { return };
    let (token, _) = a.login("demo", DEMO, None).await;
    let mut key = SoftAuthenticator::new();

    // Registration: begun on A, finished on B.
    let begun = a.gql(Some(&token), "mutation { beginPasskeyRegistration { ceremonyId options } }", json!({})).await;
    let ceremony = begun["data"]["beginPasskeyRegistration"]["ceremonyId"].clone();
    let credential = key.register(&begun["data"]["beginPasskeyRegistration"]["options"], ORIGIN).to_string();
    let finish = "mutation($c: ID!, $k: String!) { finishPasskeyRegistration(ceremonyId: $c, credential: $k, name: \"Key\") { passkey { id } } }";
    let done = b.gql(Some(&token), finish, json!({ "c": ceremony, "k": credential })).await;
    assert!(done["data"]["finishPasskeyRegistration"]["passkey"]["id"].is_string(), "{done}");

    // Passwordless sign-in: begun on B, finished on A; the same answer again on B is refused.
    let begun = b.gql(None, "mutation { beginPasskeySignIn { ceremonyId options } }", json!({})).await;
    let ceremony = begun["data"]["beginPasskeySignIn"]["ceremonyId"].clone();
    let assertion = key.authenticate(&begun["data"]["beginPasskeySignIn"]["options"], ORIGIN).to_string();
    let finish = "mutation($c: ID!, $k: String!) { finishPasskeySignIn(ceremonyId: $c, credential: $k) { token } }";
    let signed_in = a.gql(None, finish, json!({ "c": ceremony, "k": assertion })).await;
    let passkey_token =
        signed_in["data"]["finishPasskeySignIn"]["token"].as_str().unwrap_or_else(|| panic!("{signed_in}"));
    let replay = b.gql(None, finish, json!({ "c": ceremony, "k": assertion })).await;
    assert_eq!(error_code(&replay), Some("PASSKEY_CEREMONY_EXPIRED"), "{replay}");
    // The session works on both instances.
    for server in [&a, &b] {
        assert_eq!(server.secret_note(passkey_token).await["data"]["secretNote"], demo::schema::SECRET_NOTE);
    }
    drop((a, b));
    t.cleanup().await;
}
