//! The login limit against the demo server over real HTTP (issue 14, items 7 and 12): only
//! failures count, so normal use never locks a user out; an address already over its limit
//! cannot lock out another user's name; a trusted device is exempt from the per-username
//! lockout; and every spelling of a name that a folding collation would match counts in one
//! bucket. Each test reproduces an attack that succeeded before.

mod e2e;

use e2e::flow::{SETUP_TOTP, VERIFY_TOTP, fresh_code};
use e2e::{Server, error_code, test_config};
use integration_tests::{Backend, TestDb};
use serde_json::{Value, json};

const DEMO: &str = demo::DEFAULT_DEMO_PASSWORD;
const ADMIN: &str = demo::DEFAULT_ADMIN_PASSWORD;
const LOGIN: &str = "mutation($u: String!, $p: String!, $d: String) { login(username: $u, password: $p, deviceToken: $d) { token mfaRequired } }";

/// A demo server on SQLite with 3 attempts per name and per address, behind a trusted proxy
/// on 127.0.0.1 (so each request may say which client address it comes from).
async fn server() -> (TestDb, Server) {
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
    let mut settings = test_config(&t.url);
    let security = &mut settings.config.security;
    security.middleware.rate_limiting.login_attempts_limit = 3;
    security.middleware.rate_limiting.login_ip_attempts_limit = 3;
    security.deployment.behind_proxy = true;
    security.deployment.trusted_proxies = vec!["127.0.0.1/32".to_owned()];
    let server = Server::start(&settings, t.db.clone()).await;
    (t, server)
}

/// One GraphQL request from client address `from` (forwarded by the trusted proxy).
async fn post_from(server: &Server, from: &str, query: &str, variables: Value) -> Value {
    let response = reqwest::Client::new()
        .post(&server.url)
        .header("x-forwarded-for", from)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("the server answers");
    response.json().await.expect("a JSON body")
}

async fn login_from(server: &Server, from: &str, username: &str, password: &str, device: Option<&str>) -> Value {
    post_from(server, from, LOGIN, json!({ "u": username, "p": password, "d": device })).await
}

fn assert_logged_in(body: &Value, what: &str) {
    assert!(body["data"]["login"]["token"].is_string(), "{what}: {body}");
}

#[tokio::test]
async fn correct_sign_ins_never_lock_a_user_out() {
    let (_t, server) = server().await;
    // A phone, a laptop, an expired token...: many more correct sign-ins than the limit of 3.
    for i in 0..8 {
        let body = login_from(&server, &format!("198.51.100.{}", i % 2 + 1), "demo", DEMO, None).await;
        assert_logged_in(&body, &format!("correct sign-in {}", i + 1));
    }
    // A success clears the name's count: two typos, a success, two typos, and the next works.
    for round in 0..2 {
        for _ in 0..2 {
            let body = login_from(&server, &format!("198.51.100.{}", 3 + round), "demo", "a typo", None).await;
            assert_eq!(error_code(&body), Some("INVALID_CREDENTIALS"), "round {round}: {body}");
        }
        let body = login_from(&server, "198.51.100.5", "demo", DEMO, None).await;
        assert_logged_in(&body, &format!("the right password after two typos, round {round}"));
    }
    // Failures still count: three wrong guesses lock the name, even for the right password.
    for i in 0..3 {
        let body = login_from(&server, &format!("198.51.100.{}", 10 + i), "demo", "a guess", None).await;
        assert_eq!(error_code(&body), Some("INVALID_CREDENTIALS"), "{body}");
    }
    let body = login_from(&server, "198.51.100.20", "demo", DEMO, None).await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
}

#[tokio::test]
async fn an_address_over_its_limit_cannot_lock_out_the_admin() {
    let (_t, server) = server().await;
    let attacker = "203.0.113.66";
    for user in ["x1", "x2", "x3"] {
        let body = login_from(&server, attacker, user, "spray", None).await;
        assert_eq!(error_code(&body), Some("INVALID_CREDENTIALS"), "{body}");
    }
    // Aliased logins at `admin` from the blocked address: `login` may appear once per
    // request, so the request is refused whole before any attempt is counted.
    let aliased = (0..8)
        .map(|i| format!(r#"a{i}: login(username: "admin", password: "guess{i}") {{ token }}"#))
        .collect::<Vec<_>>()
        .join(" ");
    let body = post_from(&server, attacker, &format!("mutation {{ {aliased} }}"), json!({})).await;
    assert_eq!(error_code(&body), Some("FIELD_REPEATED"), "{body}");
    // The same 8 guesses as separate requests: each refused for the address, none counted
    // against `admin` (whose limit is 3).
    for i in 0..8 {
        let body = login_from(&server, attacker, "admin", &format!("guess{i}"), None).await;
        assert_eq!(error_code(&body), Some("RATE_LIMITED"), "guess {i}: {body}");
    }
    // The real admin, from a fresh address, signs in.
    let body = login_from(&server, "192.0.2.10", "admin", ADMIN, None).await;
    assert_logged_in(&body, "the admin from a fresh address");
}

#[tokio::test]
async fn a_trusted_device_signs_in_while_the_name_is_locked() {
    let (_t, server) = server().await;
    let home = "192.0.2.30";
    let body = login_from(&server, home, "demo", DEMO, None).await;
    let token = body["data"]["login"]["token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let body = server.gql(Some(&token), SETUP_TOTP, json!({})).await;
    let secret = body["data"]["setupTotp"]["secretKey"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let code = fresh_code(&secret).await;
    let body = server.gql(Some(&token), VERIFY_TOTP, json!({ "c": code, "t": true })).await;
    let device = body["data"]["verifyTotp"]["deviceId"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();

    // An attacker locks the name from three addresses.
    for i in 0..4 {
        let _ = login_from(&server, &format!("203.0.113.{}", 100 + i), "demo", "a guess", None).await;
    }
    let body = login_from(&server, "192.0.2.31", "demo", DEMO, None).await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "the name is locked without the device: {body}");
    // A made-up device token does not help.
    let body = login_from(&server, "192.0.2.32", "demo", DEMO, Some("not-a-device-token")).await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
    // The user's trusted device still signs in, and skips the second factor.
    let body = login_from(&server, home, "demo", DEMO, Some(&device)).await;
    assert_logged_in(&body, "the trusted device while the name is locked");
    assert_eq!(body["data"]["login"]["mfaRequired"], false, "{body}");
}

/// Found by an attack over HTTP: with a device token, a login looked the user up and checked
/// the device before the address limit refused it, so an address over its limit still told
/// existing names from unknown ones by the answer's time (10 of 10 names), and each refused
/// request cost two database writes. The address limit now refuses first: a refused attempt
/// touches nothing of the user's, here the trusted device's `last_used`.
#[tokio::test]
async fn an_address_over_its_limit_looks_no_user_up() {
    let (t, server) = server().await;
    let home = "192.0.2.40";
    let body = login_from(&server, home, "demo", DEMO, None).await;
    let token = body["data"]["login"]["token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let body = server.gql(Some(&token), SETUP_TOTP, json!({})).await;
    let secret = body["data"]["setupTotp"]["secretKey"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let body = server.gql(Some(&token), VERIFY_TOTP, json!({ "c": fresh_code(&secret).await, "t": true })).await;
    let device = body["data"]["verifyTotp"]["deviceId"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let last_used = || async {
        use sea_orm::ConnectionTrait;
        let sql = "SELECT last_used FROM trusted_devices";
        let row = t.db.query_one_raw(sea_orm::Statement::from_string(t.db.get_database_backend(), sql));
        row.await.expect("query").expect("the device").try_get::<Option<String>>("", "last_used").expect("last_used")
    };

    // An attacker's address over its limit, then a login with the user's own device token.
    let attacker = "203.0.113.140";
    for _ in 0..3 {
        let body = login_from(&server, attacker, "nobody", "a guess", None).await;
        assert_eq!(error_code(&body), Some("INVALID_CREDENTIALS"), "{body}");
    }
    let before = last_used().await;
    let body = login_from(&server, attacker, "demo", DEMO, Some(&device)).await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
    assert_eq!(last_used().await, before, "the refused login checked the device");
    // Allowed, the same login does check it.
    let body = login_from(&server, home, "demo", DEMO, Some(&device)).await;
    assert_logged_in(&body, "the trusted device at home");
    assert_ne!(last_used().await, before, "a login that may try checks the device");
}

#[tokio::test]
async fn every_spelling_of_a_name_counts_in_one_bucket() {
    let (_t, server) = server().await;
    // The name is matched in its normalised form: full width and upper case sign in.
    for (i, spelling) in ["ＤＥＭＯ", "Demo"].into_iter().enumerate() {
        let body = login_from(&server, &format!("198.51.100.{}", 40 + i), spelling, DEMO, None).await;
        assert_logged_in(&body, spelling);
    }
    // Three wrong guesses under three spellings lock the one account.
    for (i, spelling) in ["ＤＥＭＯ", "Ｄｅｍｏ", "DEMO"].into_iter().enumerate() {
        let body = login_from(&server, &format!("198.51.100.{}", 50 + i), spelling, "a guess", None).await;
        assert_eq!(error_code(&body), Some("INVALID_CREDENTIALS"), "{spelling}: {body}");
    }
    let body = login_from(&server, "198.51.100.60", "demo", DEMO, None).await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
}
