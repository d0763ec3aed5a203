//! The demo server end to end on SQLite, over real HTTP: logins and their refusals, the
//! MFA-protected `secretNote`, notes, logout, the login rate limit, and the admin-only
//! security report counting all of it.

mod e2e;

use e2e::{Server, count, error_code, test_config};
use integration_tests::{Backend, TestDb};
use serde_json::json;

const DEMO: &str = demo::DEFAULT_DEMO_PASSWORD;
const ADMIN: &str = demo::DEFAULT_ADMIN_PASSWORD;

async fn sqlite_server() -> (TestDb, Server) {
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
    let server = Server::start(&test_config(&t.url), t.db.clone()).await;
    (t, server)
}

#[tokio::test]
async fn the_whole_flow_on_sqlite() {
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
    let server = Server::start(&e2e::flow::flow_config(&t.url), t.db.clone()).await;
    e2e::flow::walk(&server, &server).await;
}

#[tokio::test]
async fn login_refusals_logout_rate_limit_and_report_on_sqlite() {
    let (_t, server) = sqlite_server().await;

    // Anonymous: the protected field says how to authenticate.
    let body = server.gql(None, "{ secretNote }", json!({})).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");

    // A wrong password and an unknown user get the same answer (no user enumeration).
    let wrong = server.login_raw("demo", "not-the-password", None).await;
    let unknown = server.login_raw("nobody", "whatever-password", None).await;
    assert_eq!(error_code(&wrong), Some("INVALID_CREDENTIALS"), "{wrong}");
    assert_eq!(wrong["errors"][0]["message"], unknown["errors"][0]["message"]);
    assert_eq!(error_code(&unknown), Some("INVALID_CREDENTIALS"));
    assert!(wrong["data"].is_null());

    // The right password: a token, no second factor enrolled yet.
    let (token, mfa_required) = server.login("demo", DEMO, None).await;
    assert!(!mfa_required);
    let me = server.gql(Some(&token), "{ me { username roles mfaVerified } }", json!({})).await;
    assert_eq!(me["data"]["me"], json!({ "username": "demo", "roles": ["user"], "mfaVerified": false }));

    // The password alone does not open the secret note.
    let body = server.secret_note(&token).await;
    assert_eq!(error_code(&body), Some("MFA_REQUIRED"), "{body}");
    assert!(body["data"].is_null(), "no partial data leaks: {body}");

    // Notes need only a login.
    let created = server
        .gql(
            Some(&token),
            "mutation($t: String!, $b: String!) { createNote(title: $t, body: $b) { id title body } }",
            json!({ "t": "groceries", "b": "milk" }),
        )
        .await;
    assert_eq!(created["data"]["createNote"]["title"], "groceries", "{created}");
    let notes = server.gql(Some(&token), "{ notes { title body } }", json!({})).await;
    assert_eq!(notes["data"]["notes"], json!([{ "title": "groceries", "body": "milk" }]));
    let anonymous = server.gql(None, "{ notes { title } }", json!({})).await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"));

    // The report is for admins only.
    let body = server.gql(Some(&token), "{ securityReport { failedLogins } }", json!({})).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");

    // Logout revokes the token: the next request with it is refused at the HTTP layer.
    let out = server.gql(Some(&token), "mutation { logout }", json!({})).await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    let (status, body) = server.post(Some(&token), "{ me { username } }", json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "token_revoked");

    // demo has used 2 of its 3 attempts; the third succeeds, the fourth is refused even with
    // the right password, with a retry delay within the window.
    server.login("demo", DEMO, None).await;
    let limited = server.login_raw("demo", DEMO, None).await;
    assert_eq!(error_code(&limited), Some("RATE_LIMITED"), "{limited}");
    let retry_after = limited["errors"][0]["extensions"]["retryAfter"].as_u64().expect("retryAfter");
    assert!((1..=900).contains(&retry_after), "retryAfter {retry_after}");
    // Case and spaces do not make a new username.
    let limited = server.login_raw(" DEMO ", DEMO, None).await;
    assert_eq!(error_code(&limited), Some("RATE_LIMITED"), "{limited}");

    // Another account is not locked out by demo's limit.
    let (admin, _) = server.login("admin", ADMIN, None).await;
    let report = server.report(&admin).await;
    assert_eq!(count(&report, "failedLogins"), 2, "{report}");
    assert_eq!(count(&report, "successfulLogins"), 3, "{report}");
    // One audited hit per window and limit: the first refusal (later ones are not re-audited).
    assert_eq!(count(&report, "rateLimitHits"), 1, "{report}");
    assert_eq!(count(&report, "unauthorizedAccess"), 3, "{report}");
    assert_eq!(count(&report, "mfaEvents"), 0, "{report}");
    assert_eq!(report["securityScore"].as_f64(), Some(100.0 - 2.0 * 0.1 - 0.05), "{report}");
}

#[tokio::test]
async fn security_report_periods_and_bad_input() {
    let (_t, server) = sqlite_server().await;
    let (admin, _) = server.login("admin", ADMIN, None).await;
    let query = "query($s: String, $e: String) { securityReport(start: $s, end: $e) { successfulLogins } }";

    let body = server.gql(Some(&admin), query, json!({ "s": "yesterday" })).await;
    assert_eq!(error_code(&body), Some("BAD_REQUEST"), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("RFC 3339"));

    let body =
        server.gql(Some(&admin), query, json!({ "s": "2030-01-02T00:00:00Z", "e": "2030-01-01T00:00:00Z" })).await;
    assert_eq!(error_code(&body), Some("BAD_REQUEST"), "{body}");

    // A period before the login counts nothing; one around it counts it.
    let body =
        server.gql(Some(&admin), query, json!({ "s": "2000-01-01T00:00:00Z", "e": "2000-01-02T00:00:00Z" })).await;
    assert_eq!(body["data"]["securityReport"]["successfulLogins"], 0, "{body}");
    let body = server.gql(Some(&admin), query, json!({})).await;
    assert_eq!(body["data"]["securityReport"]["successfulLogins"], 1, "{body}");
}

#[tokio::test]
async fn login_input_is_checked_and_forged_tokens_are_refused() {
    let (_t, server) = sqlite_server().await;
    let body = server.login_raw("   ", "x", None).await;
    assert_eq!(error_code(&body), Some("BAD_REQUEST"), "{body}");
    let body = server.login_raw(&"a".repeat(10_000), "x", None).await;
    assert_eq!(error_code(&body), Some("BAD_REQUEST"), "{body}");

    // A token signed with another secret (another server's) is not accepted.
    let (_other_db, other) = sqlite_server().await;
    let (foreign, _) = other.login("demo", DEMO, None).await;
    let (status, body) = server.post(Some(&foreign), "{ me { username } }", json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");

    // GraphiQL is served in development, with its own CSP.
    let page = reqwest::get(&server.url).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("unpkg.com"));
    assert!(page.text().await.unwrap().to_lowercase().contains("graphiql"));
}
