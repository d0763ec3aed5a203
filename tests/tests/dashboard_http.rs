//! The security dashboard over real HTTP on every backend: who may see it, the login form and
//! its cookie, CSRF refusals, escaping of hostile event values, the CSP, the numbers shown
//! against `generate_security_report` and direct SQL, and where `router_at` mounts it.

mod dashboard;

use chrono::{DateTime, Utc};
use dashboard::{
    ADMIN, App, VIEWER, XSS_ACCOUNT, XSS_AGENT, seed, start, start_at, start_with, testid_attr, testid_text,
};
use integration_tests::{TestDb, on_every_backend};
use rail_graphql_security::audit::entity::{Column, Entity};
use rail_graphql_security::audit::generate_security_report;
use rail_graphql_security::config::{Profile, SecurityConfig, StandardSecurityConfig};
use rail_graphql_security::dashboard::{DASHBOARD_CSP, DashboardError, SESSION_COOKIE};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

async fn count_events(app: &App, event_type: &str, actor: &str) -> u64 {
    app.logger.flush().await.expect("flush");
    Entity::find()
        .filter(Column::EventType.eq(event_type))
        .filter(Column::ActorName.eq(actor))
        .count(&app.db)
        .await
        .expect("count")
}

async fn anonymous_is_sent_to_the_login_form(t: &TestDb) {
    let app = start(t, None).await;
    for path in ["", "/report.json", "?preset=7d"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), 303, "GET {path:?} without a session");
        assert_eq!(response.headers()["location"], "/security/login");
    }
    let form = app.get("/login", None).await;
    assert_eq!(form.status(), 200);
    let body = form.text().await.unwrap();
    assert!(body.contains(r#"action="/security/login""#) && body.contains(r#"type="password""#), "{body}");
    // A forged or foreign cookie is no session either, and is cleared.
    let response = app.get("", Some(&format!("{SESSION_COOKIE}=not.a.token"))).await;
    assert_eq!(response.status(), 303);
    assert!(response.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
}
on_every_backend!(anonymous_is_redirected, anonymous_is_sent_to_the_login_form);

async fn non_admins_get_403(t: &TestDb) {
    let app = start(t, None).await;
    let cookie = app.login(VIEWER).await;
    for path in ["", "/report.json"] {
        let response = app.get(path, Some(&cookie)).await;
        assert_eq!(response.status(), 403, "GET {path:?} as staff");
        let body = response.text().await.unwrap();
        assert!(body.contains(r#"data-testid="forbidden""#) && !body.contains("security-score"), "{body}");
    }
    assert_eq!(count_events(&app, "unauthorized_access", "viewer").await, 2);
    // The same user with the role the dashboard is configured for gets in.
    let staff = start_with(t, None, |b| b.secure_cookie(false).role("staff")).await;
    let cookie = staff.login(VIEWER).await;
    assert_eq!(staff.get("", Some(&cookie)).await.status(), 200);
}
on_every_backend!(non_admin_forbidden, non_admins_get_403);

async fn login_form_audits_and_sets_a_strict_cookie(t: &TestDb) {
    let app = start(t, None).await;
    let wrong = app.post_login("root", "guess", Some(&app.origin())).await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(wrong.text().await.unwrap().contains("Invalid username or password."));
    assert_eq!(count_events(&app, "login_failed", "root").await, 1);

    let ok = app.post_login(ADMIN.0, ADMIN.1, Some(&app.origin())).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/security");
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/security"] {
        assert!(cookie.contains(attribute), "{attribute} missing from {cookie}");
    }
    assert!(!cookie.contains("Secure"), "secure_cookie(false) was asked for: {cookie}");
    assert_eq!(count_events(&app, "login_success", "root").await, 1);

    // Secure is the default.
    let default = start_with(t, None, |b| b).await;
    let response = default.post_login(ADMIN.0, ADMIN.1, Some(&default.origin())).await;
    assert!(response.headers()["set-cookie"].to_str().unwrap().contains("; Secure"));
}
on_every_backend!(login_cookie, login_form_audits_and_sets_a_strict_cookie);

async fn cross_site_posts_are_refused(t: &TestDb) {
    let app = start(t, None).await;
    for origin in [Some("http://evil.example"), Some("null"), None] {
        let response = app.post_login(ADMIN.0, ADMIN.1, origin).await;
        assert_eq!(response.status(), 403, "login with Origin {origin:?}");
        assert!(response.headers().get("set-cookie").is_none());
    }
    // Without Origin, a browser's Sec-Fetch-Site: same-origin is accepted.
    let response = dashboard::client()
        .post(format!("{}/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(dashboard::serde_urlencoded_pairs(&[("username", ADMIN.0), ("password", ADMIN.1)]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(count_events(&app, "login_success", "root").await, 1, "only the same-origin login counted");

    // A cross-site logout does not end the session.
    let cookie = app.login(ADMIN).await;
    let logout = dashboard::client()
        .post(format!("{}/logout", app.base))
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 403);
    assert_eq!(app.get("", Some(&cookie)).await.status(), 200);
}
on_every_backend!(csrf, cross_site_posts_are_refused);

async fn logout_revokes_and_sessions_stay_on_the_dashboard(t: &TestDb) {
    let app = start(t, None).await;
    let cookie = app.login(ADMIN).await;
    let token = cookie.split_once('=').unwrap().1.to_owned();
    // The session token is not an API token, and an API token is not a session.
    assert!(app.tokens.verify(&token, None).await.is_err(), "dashboard session accepted as an API bearer token");
    let principal = rail_graphql_security::context::Principal::new(1, "root").with_roles(["admin"]);
    let api = app.tokens.issue(&principal, &Default::default(), None).unwrap();
    assert_eq!(app.get("", Some(&format!("{SESSION_COOKIE}={}", api.token))).await.status(), 303);

    let logout = dashboard::client()
        .post(format!("{}/logout", app.base))
        .header("cookie", &cookie)
        .header("origin", app.origin())
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    assert!(logout.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let after = app.get("", Some(&cookie)).await;
    assert_eq!(after.status(), 303, "a logged-out session must not open the dashboard");
    assert_eq!(count_events(&app, "logout", "root").await, 1);
    assert_eq!(count_events(&app, "token_revoked", "root").await, 1, "the session's revocation is audited");

    // "Log out everywhere" through the API's token service ends dashboard sessions too (one
    // revocation store); the next sign-in works.
    let again = app.login(ADMIN).await;
    assert_eq!(app.get("", Some(&again)).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    app.tokens.revoke_all_sessions(&principal, None).await.unwrap();
    assert_eq!(app.get("", Some(&again)).await.status(), 303, "a session from before 'everywhere' still opens");
    let fresh = app.login(ADMIN).await;
    assert_eq!(app.get("", Some(&fresh)).await.status(), 200);
}
on_every_backend!(logout, logout_revokes_and_sessions_stay_on_the_dashboard);

async fn hostile_values_are_escaped_under_a_strict_csp(t: &TestDb) {
    seed(&t.db, Utc::now()).await;
    let app = start(t, None).await;
    let cookie = app.login(ADMIN).await;
    // Severity `low` shows every recent event, including the hostile ones.
    let response = app.get("?preset=24h&severity=low", Some(&cookie)).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    assert_eq!(headers["content-security-policy"], DASHBOARD_CSP);
    assert!(!DASHBOARD_CSP.contains("unsafe-inline") && !DASHBOARD_CSP.contains("script-src"));
    assert!(DASHBOARD_CSP.starts_with("default-src 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(!body.contains(XSS_AGENT), "raw script tag from a user agent reached the page");
    assert!(!body.contains(XSS_ACCOUNT), "raw markup from an account name reached the page");
    assert!(!body.to_ascii_lowercase().contains("<script"), "the page must contain no script element at all");
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the user agent is shown, escaped");
    assert!(body.contains("&lt;img src=x onerror=alert(2)&gt;"), "the account is shown, escaped");
    assert!(!body.contains("style=\""), "inline styles would need 'unsafe-inline'");

    let css = app.get("/assets/dashboard.css", None).await;
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(css.text().await.unwrap().contains(".bar-failed"));
}
on_every_backend!(escaping_and_csp, hostile_values_are_escaped_under_a_strict_csp);

fn number(body: &str, id: &str) -> u64 {
    testid_text(body, id).trim().parse().unwrap_or_else(|e| panic!("{id} is not a number: {e}"))
}

async fn numbers_match_the_report(t: &TestDb) {
    seed(&t.db, Utc::now()).await;
    let app =
        start(t, Some(StandardSecurityConfig::defaults(&Profile::Production).run_checks(&Profile::Production))).await;
    let cookie = app.login(ADMIN).await;
    app.logger.flush().await.unwrap(); // the login's own events are in both the page and the report
    for preset in ["24h", "7d"] {
        let body = app.get(&format!("?preset={preset}"), Some(&cookie)).await.text().await.unwrap();
        let start: DateTime<Utc> = testid_attr(&body, "period", "data-start").parse().unwrap();
        let end: DateTime<Utc> = testid_attr(&body, "period", "data-end").parse().unwrap();
        let report = generate_security_report(&app.db, start, end).await.unwrap();
        assert_eq!(testid_text(&body, "security-score"), format!("{:.1}", report.security_score));
        assert_eq!(number(&body, "failed-logins"), report.failed_logins);
        assert_eq!(number(&body, "successful-logins"), report.successful_logins);
        assert_eq!(number(&body, "suspicious-activities"), report.suspicious_activities);
        assert_eq!(number(&body, "rate-limit-hits"), report.rate_limit_hits);
        assert_eq!(number(&body, "unauthorized-access"), report.unauthorized_access);
        assert_eq!(number(&body, "mfa-events"), report.mfa_events);
        assert_eq!(number(&body, "total-events"), report.total_events);
        assert_eq!(number(&body, "chart-failed-total"), report.failed_logins);
        assert_eq!(number(&body, "chart-success-total"), report.successful_logins);
        // The seed: 19 failures in the last day, 4 more three days ago.
        assert_eq!(report.failed_logins, if preset == "24h" { 19 } else { 23 });
        assert_eq!(report.top_failing_ips[0].ip, "203.0.113.7");
        assert!(body.contains(&format!("<td data-role=\"key\">{}</td>", report.top_failing_ips[0].ip)));
        assert!(
            body.contains(&format!("<td class=\"num\" data-role=\"count\">{}</td>", report.top_failing_ips[0].count))
        );
    }
    let body = app.get("", Some(&cookie)).await.text().await.unwrap();
    assert_eq!(number(&body, "mfa-users-enrolled"), 4, "users 1-4 have an active, confirmed device");
    assert!(body.contains("<td data-role=\"key\">totp</td><td class=\"num\" data-role=\"count\">3</td>"), "{body}");
    // The production defaults fail some checks, and the page lists them.
    assert!(number(&body, "failed-checks") > 0);
    assert!(testid_text(&body, "config-score").parse::<u32>().unwrap() < 10);

    let json: serde_json::Value = app.get("/report.json?preset=24h", Some(&cookie)).await.json().await.unwrap();
    assert_eq!(json["failed_logins"], 19);
}
on_every_backend!(numbers_match, numbers_match_the_report);

async fn filters_and_bad_periods(t: &TestDb) {
    seed(&t.db, Utc::now()).await;
    let app = start(t, None).await;
    let cookie = app.login(ADMIN).await;
    let body = app.get("?severity=critical", Some(&cookie)).await.text().await.unwrap();
    let table = &body[body.find(r#"data-testid="recent-events""#).unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(table.matches("<tr>").count() - 1, 1, "one critical event (the account lock): {table}");
    assert!(table.contains("account_locked"));

    let body = app.get("?severity=low&type=rate_limit_exceeded", Some(&cookie)).await.text().await.unwrap();
    let table = &body[body.find(r#"data-testid="recent-events""#).unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(table.matches("rate_limit_exceeded</td>").count(), 3, "{table}");

    for (query, message) in [
        ("?preset=1y", "use one of 1h, 24h"),
        ("?start=yesterday", "`start` is not a date"),
        ("?start=2026-11-02&end=2026-11-01", "swap the two dates"),
        ("?severity=urgent", "use one of low, medium, high, critical"),
    ] {
        let response = app.get(query, Some(&cookie)).await;
        assert_eq!(response.status(), 400, "{query}");
        assert!(response.text().await.unwrap().contains(message), "{query} should say {message:?}");
    }
    let custom = app.get("?start=2000-01-01&end=2000-01-02", Some(&cookie)).await.text().await.unwrap();
    assert_eq!(number(&custom, "total-events"), 0);
}
on_every_backend!(filters, filters_and_bad_periods);

async fn the_mount_path_answers_with_and_without_a_trailing_slash(t: &TestDb) {
    let app = start(t, None).await;
    let cookie = app.login(ADMIN).await;
    assert_eq!(app.get("", Some(&cookie)).await.status(), 200);
    // `/security/` (axum's `nest` alone answers 404) redirects to the page, keeping the query.
    for (path, location) in [("/", "/security"), ("/?preset=7d&severity=low", "/security?preset=7d&severity=low")] {
        let response = app.get(path, Some(&cookie)).await;
        assert_eq!(response.status(), 308, "GET /security{path}");
        assert_eq!(response.headers()["location"], location);
        assert_eq!(response.headers()["content-security-policy"], DASHBOARD_CSP);
        let followed = dashboard::client()
            .get(format!("{}{location}", app.origin()))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(followed.status(), 200, "the redirect target {location} is the page");
        assert!(followed.text().await.unwrap().contains(r#"data-testid="security-score""#));
    }
    // Without a session the redirect leads to the login form as usual.
    let response = app.get("/", None).await;
    assert_eq!(response.status(), 308);
    assert_eq!(response.headers()["location"], "/security");
    assert_eq!(app.get("/nothing-here", Some(&cookie)).await.status(), 404);

    // Mounted at the root, the page answers `/` and its links and cookie name root paths.
    let root = start_at(t, "/", None, |b| b.secure_cookie(false)).await;
    let login = root.post_login(ADMIN.0, ADMIN.1, Some(&root.origin())).await;
    assert_eq!(login.status(), 303);
    assert_eq!(login.headers()["location"], "/");
    let set_cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("; Path=/;"), "{set_cookie}");
    let root_cookie = set_cookie.split(';').next().unwrap().to_owned();
    let page = root.get("/", Some(&root_cookie)).await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains(r#"href="/assets/dashboard.css""#) && body.contains(r#"action="/logout""#), "{body}");

    // Paths that cannot be mounted say what to change instead of panicking inside axum.
    for (path, advice) in [
        ("security", "start it with `/`"),
        ("/security/", "drop the trailing `/`"),
        ("/admin//security", "empty, `.` or `..` segment"),
        ("/{tenant}/security", "no `{capture}`"),
        ("/sécurité", "only letters, digits"),
    ] {
        let error = rail_graphql_security::dashboard::router_at::<()>(path, app.dashboard.clone()).unwrap_err();
        assert!(matches!(error, DashboardError::MountPath { .. }), "{path}: {error:?}");
        assert!(error.to_string().contains(advice), "{path}: {error} should say {advice:?}");
    }
}
on_every_backend!(mount_path, the_mount_path_answers_with_and_without_a_trailing_slash);
