//! Issue 14, item 2: the admin surfaces of the demo server without a second factor, attacked
//! over real HTTP on every backend. The admin has a confirmed TOTP device; the password alone
//! must open neither the dashboard (`/security`, `report.json`) nor `securityReport`, and an
//! admin without a factor may not sign in to the dashboard at all. The legitimate two-step
//! sign-in still works.

mod e2e;

use e2e::{Server, cookies, error_code, test_config};
use integration_tests::{TestDb, on_every_backend};
use rail_graphql_security::dashboard::{SECOND_FACTOR_COOKIE, SESSION_COOKIE};
use serde_json::json;

const ADMIN: &str = demo::DEFAULT_ADMIN_PASSWORD;
const REPORT: &str = "{ securityReport { successfulLogins mfaEvents } }";

async fn count(server: &Server, event_type: &str, actor: &str) -> usize {
    server.demo.logger.flush().await.expect("flush");
    e2e::events(&server.demo.db)
        .await
        .into_iter()
        .filter(|(kind, details)| kind == event_type && (actor.is_empty() || details.to_string().contains(actor)))
        .count()
}

async fn the_dashboard_password_alone_opens_nothing_for_an_enrolled_admin(t: &TestDb) {
    let server = Server::start(&test_config(&t.url), t.db.clone()).await;
    let mut admin = server.admin_with_totp().await;
    let dashboard = server.dashboard();
    let logins_before = count(&server, "login_success", "").await;

    // The attack: the admin's password, no second factor, then the admin pages with whatever
    // cookies the sign-in handed out.
    let response = dashboard.sign_in("admin", ADMIN).await;
    let jar = cookies(&response);
    for path in ["", "/report.json", "/report.json?preset=7d"] {
        let page = dashboard.get(path, Some(&jar)).await;
        assert_ne!(page.status(), 200, "GET /security{path} answered after the password alone (cookies: {jar})");
        assert_eq!(page.status(), 303, "GET /security{path}");
        assert!(page.headers()["location"].to_str().unwrap().starts_with("/security/login"));
    }
    assert!(!jar.contains(SESSION_COOKIE), "a session cookie after the password alone: {jar}");
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/security/login/second-factor");
    assert!(jar.starts_with(SECOND_FACTOR_COOKIE), "{jar}");
    assert_eq!(count(&server, "login_success", "").await, logins_before, "login_success before the second factor");

    // A wrong code changes nothing, and is audited.
    let code = admin.next_code().await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = dashboard.second_factor(&jar, "totp", wrong).await;
    assert_eq!(refused.status(), 401);
    assert!(cookies(&refused).is_empty(), "a cookie for a wrong code");
    assert_eq!(count(&server, "mfa_failed", "").await, 1);

    // The legitimate flow: the right code opens the page and the JSON.
    let signed_in = dashboard.second_factor(&jar, "totp", &code).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/security");
    let session = cookies(&signed_in);
    assert!(session.starts_with(SESSION_COOKIE), "{session}");
    for path in ["", "/report.json"] {
        assert_eq!(dashboard.get(path, Some(&session)).await.status(), 200, "GET /security{path} after both steps");
    }
    assert_eq!(count(&server, "login_success", "security_dashboard").await, 1);
}
on_every_backend!(dashboard_password_alone, the_dashboard_password_alone_opens_nothing_for_an_enrolled_admin);

async fn an_admin_without_a_second_factor_is_refused_by_the_dashboard(t: &TestDb) {
    let server = Server::start(&test_config(&t.url), t.db.clone()).await;
    let dashboard = server.dashboard();
    let response = dashboard.sign_in("admin", ADMIN).await;
    let jar = cookies(&response);
    assert_ne!(dashboard.get("", Some(&jar)).await.status(), 200, "the dashboard opened without a second factor");
    assert_eq!(response.status(), 403);
    assert!(jar.is_empty(), "neither a session nor a pending sign-in: {jar}");
    assert!(response.text().await.unwrap().contains("Enrol one first"));
    assert_eq!(count(&server, "unauthorized_access", "second factor required but not enrolled").await, 1);
    assert_eq!(count(&server, "login_success", "").await, 0);
}
on_every_backend!(dashboard_admin_not_enrolled, an_admin_without_a_second_factor_is_refused_by_the_dashboard);

async fn a_password_only_token_does_not_read_the_security_report(t: &TestDb) {
    let server = Server::start(&test_config(&t.url), t.db.clone()).await;
    // Before enrolling: the admin's password token is refused with MFA_REQUIRED.
    let (password_token, _) = server.login("admin", ADMIN, None).await;
    let body = server.gql(Some(&password_token), REPORT, json!({})).await;
    assert!(body["data"].is_null(), "securityReport answered a password-only token: {body}");
    assert_eq!(error_code(&body), Some("MFA_REQUIRED"), "{body}");

    // After enrolling: the password alone still does not read it; the verified token does.
    let admin = server.admin_with_totp().await;
    let (password_token, mfa_required) = server.login("admin", ADMIN, None).await;
    assert!(mfa_required);
    let body = server.gql(Some(&password_token), REPORT, json!({})).await;
    assert!(body["data"].is_null(), "securityReport answered a password-only token: {body}");
    assert_eq!(error_code(&body), Some("MFA_REQUIRED"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["methods"], json!(["totp", "backup_code"]), "{body}");
    let body = server.gql(Some(&admin.token), REPORT, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(body["data"]["securityReport"]["successfulLogins"].as_u64().is_some_and(|n| n >= 2), "{body}");
    // Both refusals were audited.
    assert_eq!(count(&server, "unauthorized_access", "mfa_required").await, 2);
}
on_every_backend!(graphql_report_needs_mfa, a_password_only_token_does_not_read_the_security_report);

const LOGIN: &str =
    "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { mfaRequired mfaEnrollmentRequired } }";

/// `mfa.required_for_roles` (the demo's default: `admin`) reaches the login: the admin is told a
/// second factor is required, and that one must be enrolled first; other roles are not.
async fn required_roles_are_told_to_enrol_at_login(t: &TestDb) {
    let server = Server::start(&test_config(&t.url), t.db.clone()).await;
    let login = |user: &'static str, password: &'static str| {
        let server = &server;
        async move { server.gql(None, LOGIN, json!({ "u": user, "p": password })).await["data"]["login"].clone() }
    };
    assert_eq!(login("admin", ADMIN).await, json!({ "mfaRequired": true, "mfaEnrollmentRequired": true }));
    assert_eq!(
        login("demo", demo::DEFAULT_DEMO_PASSWORD).await,
        json!({ "mfaRequired": false, "mfaEnrollmentRequired": false })
    );
    // Once enrolled, the second factor is still required but enrolment is done.
    server.admin_with_totp().await;
    assert_eq!(login("admin", ADMIN).await, json!({ "mfaRequired": true, "mfaEnrollmentRequired": false }));

    // Without the key's value, an admin without a factor is not required to pass one.
    let mut settings = test_config(&t.url);
    settings.config.security.mfa.required_for_roles.clear();
    let other = TestDb::new(integration_tests::Backend::Sqlite).await.expect("SQLite always runs");
    let open = Server::start(&settings, other.db.clone()).await;
    let body = open.gql(None, LOGIN, json!({ "u": "admin", "p": ADMIN })).await;
    assert_eq!(body["data"]["login"], json!({ "mfaRequired": false, "mfaEnrollmentRequired": false }), "{body}");
}
on_every_backend!(required_roles_at_login, required_roles_are_told_to_enrol_at_login);
