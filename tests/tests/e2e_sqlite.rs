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

    // Only failures count, and a success clears them: demo signs in again, then three wrong
    // guesses lock the name; the next attempt is refused even with the right password, with a
    // retry delay within the window.
    server.login("demo", DEMO, None).await;
    for guess in ["guess-1", "guess-2", "guess-3"] {
        let body = server.login_raw("demo", guess, None).await;
        assert_eq!(error_code(&body), Some("INVALID_CREDENTIALS"), "{body}");
    }
    let limited = server.login_raw("demo", DEMO, None).await;
    assert_eq!(error_code(&limited), Some("RATE_LIMITED"), "{limited}");
    let retry_after = limited["errors"][0]["extensions"]["retryAfter"].as_u64().expect("retryAfter");
    assert!((1..=900).contains(&retry_after), "retryAfter {retry_after}");
    // Case and spaces do not make a new username.
    let limited = server.login_raw(" DEMO ", DEMO, None).await;
    assert_eq!(error_code(&limited), Some("RATE_LIMITED"), "{limited}");

    // Another account is not locked out by demo's limit. (The report needs the admin's second
    // factor: enrolling it adds 2 mfa_enabled and 1 mfa_success.)
    let admin = server.admin_with_totp().await;
    let report = server.report(&admin.token).await;
    assert_eq!(count(&report, "failedLogins"), 5, "{report}");
    assert_eq!(count(&report, "successfulLogins"), 3, "{report}");
    // One audited hit per window and limit: the first refusal (later ones are not re-audited).
    assert_eq!(count(&report, "rateLimitHits"), 1, "{report}");
    assert_eq!(count(&report, "unauthorizedAccess"), 3, "{report}");
    assert_eq!(count(&report, "mfaEvents"), 3, "{report}");
    assert_eq!(report["securityScore"].as_f64(), Some(100.0 - 5.0 * 0.1 - 0.05), "{report}");
}

#[tokio::test]
async fn security_report_periods_and_bad_input() {
    let (_t, server) = sqlite_server().await;
    let admin = server.admin_with_totp().await.token;
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

#[tokio::test]
async fn audited_note_mutations_record_who_did_what_without_the_text() {
    let (_t, server) = sqlite_server().await;
    let (demo_token, _) = server.login("demo", DEMO, None).await;
    let (admin_token, _) = server.login("admin", ADMIN, None).await;
    let create = "mutation($t: String!, $b: String!) { createNote(title: $t, body: $b) { id } }";
    let update = "mutation($id: Int!, $t: String!, $b: String!) { updateNote(id: $id, title: $t, body: $b) { title } }";
    let delete = "mutation($id: Int!) { deleteNote(id: $id) }";

    let body = server.gql(Some(&demo_token), create, json!({ "t": "plans", "b": "the private text" })).await;
    let id = body["data"]["createNote"]["id"].as_i64().unwrap_or_else(|| panic!("{body}"));
    // Another user can neither change nor delete it, nor learn that it exists.
    for (query, vars) in [
        (update, json!({ "id": id, "t": "mine now", "b": "x" })),
        (delete, json!({ "id": id })),
        (delete, json!({ "id": id + 1000 })),
    ] {
        let body = server.gql(Some(&admin_token), query, vars).await;
        assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
    }
    let body =
        server.gql(Some(&demo_token), update, json!({ "id": id, "t": "plans v2", "b": "other private text" })).await;
    assert_eq!(body["data"]["updateNote"]["title"], "plans v2", "{body}");
    let body = server.gql(Some(&demo_token), delete, json!({ "id": id })).await;
    assert_eq!(body["data"]["deleteNote"], true, "{body}");
    let body = server.gql(None, create, json!({ "t": "anonymous", "b": "" })).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");

    server.demo.logger.flush().await.expect("flush");
    let events = e2e::events(&server.demo.db).await;
    let all = format!("{events:?}");
    assert!(!all.contains("private text"), "a note body reached the audit log: {all}");
    let of = |kind: &str| events.iter().filter(|(k, _)| k == kind).map(|(_, d)| d.clone()).collect::<Vec<_>>();

    // The resolvers: one event per call, with the listed argument and the outcome.
    let created = of("note_created");
    assert_eq!(created.len(), 2, "{all}");
    assert_eq!(created[0]["arguments"], json!({ "title": "plans" }), "{all}");
    assert_eq!(created[0]["outcome"], "ok");
    assert_eq!(created[1]["outcome"], "UNAUTHENTICATED");
    let outcomes =
        |kind: &str| of(kind).iter().map(|d| d["outcome"].as_str().unwrap_or("?").to_owned()).collect::<Vec<_>>();
    assert_eq!(outcomes("note_updated"), ["NOT_FOUND", "ok"], "{all}");
    assert_eq!(outcomes("note_deleted"), ["NOT_FOUND", "NOT_FOUND", "ok"], "{all}");

    // The model: the row's life with a field-level diff, the body masked.
    let rows = of("data_created");
    assert_eq!(rows.len(), 1, "{all}");
    assert_eq!(rows[0]["model"], "notes");
    assert_eq!(rows[0]["fields"]["title"], "plans");
    assert_eq!(rows[0]["fields"]["body"], "***");
    let changes = &of("data_updated")[0]["changes"];
    assert_eq!(changes["title"], json!({ "old": "plans", "new": "plans v2" }), "{all}");
    assert_eq!(changes["body"], json!({ "old": "***", "new": "***" }), "{all}");
    assert!(changes.get("owner_id").is_none(), "unchanged columns are not listed: {changes}");
    assert_eq!(of("data_deleted").len(), 1, "{all}");
}

#[tokio::test]
async fn the_dashboard_is_mounted_for_admins_only() {
    // The admin tries 4 times (a wrong password, a refusal, the GraphQL login that enrols TOTP,
    // the two-step sign-in): one more than `test_config` allows.
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
    let mut config = test_config(&t.url);
    config.config.security.middleware.rate_limiting.login_attempts_limit = 4;
    let server = Server::start(&config, t.db.clone()).await;
    let origin = server.url.trim_end_matches("/graphql").to_owned();
    let base = format!("{origin}/security");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let sign_in = |user: &'static str, password: &'static str| {
        let (http, base, origin) = (http.clone(), base.clone(), origin.clone());
        async move {
            http.post(format!("{base}/login"))
                .header("origin", origin)
                .form(&[("username", user), ("password", password)])
                .send()
                .await
                .expect("dashboard login")
        }
    };

    // A trailing slash redirects to the page.
    let slash = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(slash.status(), 308);
    assert_eq!(slash.headers()["location"], "/security");

    // Anonymous: the sign-in form, with the dashboard's CSP.
    let page = http.get(&base).send().await.unwrap();
    let csp = page.headers().get("content-security-policy").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(csp.as_deref(), Some(rail_graphql_security::dashboard::DASHBOARD_CSP), "the dashboard's own CSP");

    // The demo user signs in with the demo password but is not an admin: 403.
    let response = sign_in("demo", DEMO).await;
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page = http.get(&base).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), 403);

    // A wrong password counts against the same login limit as the GraphQL login.
    assert_eq!(sign_in("admin", "not-the-password").await.status(), 401);

    // The admin has no second factor yet: refused, with the advice to enrol one.
    let response = sign_in("admin", ADMIN).await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("Enrol one first"));

    // Enrolled (through the GraphQL API), the admin signs in with the password, then a TOTP
    // code, and sees the report; the failed sign-in is on it.
    let mut admin = server.admin_with_totp().await;
    let response = sign_in("admin", ADMIN).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/security/login/second-factor");
    let pending = e2e::cookies(&response);
    let code = admin.next_code().await;
    let response = server.dashboard().second_factor(&pending, "totp", &code).await;
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    server.demo.logger.flush().await.unwrap();
    let page = http.get(&base).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Security score"), "not the dashboard page: {html:.400}");
    // A dashboard session is not an API token.
    let token = cookie.split_once('=').map(|(_, v)| v.to_owned()).unwrap();
    let (status, _) = server.post(Some(&token), "{ me { username } }", json!({})).await;
    assert_eq!(status, 401, "a dashboard cookie opened the API");
}
