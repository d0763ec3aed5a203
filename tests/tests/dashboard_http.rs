//! The security dashboard over real HTTP on every backend: who may see it, the login form and
//! its cookie, the second step of the sign-in, CSRF refusals, escaping of hostile event values, the CSP, the numbers shown
//! against `AuditLogger::generate_security_report` and direct SQL, and where `router_at` mounts it.

mod dashboard;

use chrono::{DateTime, SubsecRound, Utc};
use dashboard::{
    ADMIN, App, VIEWER, XSS_ACCOUNT, XSS_AGENT, seed, set_cookie_pair, start, start_at, start_with, testid_attr,
    testid_text,
};
use integration_tests::{TestDb, on_every_backend};
use rail_graphql_security::audit::entity::{Column, Entity};
use rail_graphql_security::config::{Profile, SecurityConfig, StandardSecurityConfig};
use rail_graphql_security::context::{MfaLevel, MfaState, Principal};
use rail_graphql_security::dashboard::{
    DASHBOARD_CSP, Dashboard, DashboardError, SECOND_FACTOR_COOKIE, SESSION_COOKIE,
};
use rail_graphql_security::mfa::MfaAccount;
use rail_graphql_security::rate_limit::{LoginRateLimiter, RateLimiter};
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
    // The same user with the role the dashboard is configured for gets in (that role now
    // requires a second factor: enrolled here).
    let staff = start_with(t, None, |b| b.secure_cookie(false).role("staff")).await;
    staff.enrol_totp(VIEWER.0).await;
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
    assert_eq!(ok.headers()["location"], "/security/login/second-factor");
    let pending = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    let code = app.totp_code(ADMIN.0).await;
    let done = app.post_second_factor(&set_cookie_pair(&ok), "totp", &code, Some(&app.origin())).await;
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()["location"], "/security");
    let cookie = done.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/security"] {
        assert!(cookie.contains(attribute), "{attribute} missing from {cookie}");
        assert!(pending.contains(attribute), "{attribute} missing from {pending}");
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
    let pending = set_cookie_pair(&response);
    // The second step refuses cross-site posts too, and the code is not even checked.
    let code = app.totp_code(ADMIN.0).await;
    for origin in [Some("http://evil.example"), None] {
        let response = app.post_second_factor(&pending, "totp", &code, origin).await;
        assert_eq!(response.status(), 403, "second factor with Origin {origin:?}");
        assert!(response.headers().get("set-cookie").is_none());
    }
    let response = app.post_second_factor(&pending, "totp", &code, Some(&app.origin())).await;
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
    let principal = Principal::new(1, "root").with_roles(["admin"]);
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
        let report = app.logger.generate_security_report(start, end).await.unwrap();
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
        // The smallest date chrono parses, less the preset's day, overflowed: a panic and a
        // dropped connection, not an answer.
        ("?end=-262143-01-01", "use a year from 1000 to 9999"),
        ("/report.json?end=-262143-01-01", "use a year from 1000 to 9999"),
        ("?start=%2B10000-01-01", "use a year from 1000 to 9999"),
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
    assert_eq!(login.headers()["location"], "/login/second-factor");
    assert!(login.headers()["set-cookie"].to_str().unwrap().contains("; Path=/;"));
    let code = root.totp_code(ADMIN.0).await;
    let login = root.post_second_factor(&set_cookie_pair(&login), "totp", &code, Some(&root.origin())).await;
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

/// The cookie pair of `name` among `response`'s `Set-Cookie` headers.
fn cookie_named(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .find(|pair| pair.starts_with(&format!("{name}=")))
}

async fn the_password_alone_opens_nothing_for_an_enrolled_admin(t: &TestDb) {
    let app = start(t, None).await;
    let response = app.post_login(ADMIN.0, ADMIN.1, Some(&app.origin())).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/security/login/second-factor");
    assert!(cookie_named(&response, SESSION_COOKIE).is_none(), "a session after the password alone");
    let pending = cookie_named(&response, SECOND_FACTOR_COOKIE).expect("the pending cookie");
    let max_age: i64 = response.headers()["set-cookie"].to_str().unwrap().split("Max-Age=").nth(1).unwrap()[..3]
        .trim_end_matches(';')
        .parse()
        .unwrap();
    assert!((1..=300).contains(&max_age), "the pending state is short-lived: {max_age}");
    // The pending cookie opens neither the page nor the JSON, under either cookie name, nor the API.
    let value = pending.split_once('=').unwrap().1.to_owned();
    for cookie in [pending.clone(), format!("{SESSION_COOKIE}={value}")] {
        for path in ["", "/report.json"] {
            let response = app.get(path, Some(&cookie)).await;
            assert_eq!(response.status(), 303, "GET {path:?} with {cookie}");
            assert!(response.headers()["location"].to_str().unwrap().starts_with("/security/login"));
        }
    }
    assert!(app.tokens.verify(&value, None).await.is_err(), "the pending token is an API token");
    assert!(app.dashboard.session_tokens().verify(&value, None).await.is_err(), "the pending token is a session");
    assert_eq!(count_events(&app, "login_success", "root").await, 0, "no login_success before the second factor");

    // The second form: CSP, a TOTP field, no backup-code form (root has no backup codes).
    let form = app.get("/login/second-factor", Some(&pending)).await;
    assert_eq!(form.status(), 200);
    assert_eq!(form.headers()["content-security-policy"], DASHBOARD_CSP);
    let body = form.text().await.unwrap();
    assert!(body.contains(r#"data-testid="totp-form""#) && !body.contains("backup-code-form"), "{body}");
    assert!(body.contains(r#"action="/security/login/second-factor""#), "{body}");
    // Without a pending sign-in, the form sends the browser back to the password.
    assert_eq!(app.get("/login/second-factor", None).await.status(), 303);

    // A wrong code: 401, still no session, audited by the MFA manager.
    let code = app.totp_code(ADMIN.0).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let response = app.post_second_factor(&pending, "totp", wrong, Some(&app.origin())).await;
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("set-cookie").is_none());
    assert!(response.text().await.unwrap().contains("Invalid code."));
    // A method the sign-in does not offer is refused without checking.
    let response = app.post_second_factor(&pending, "backup_code", "ABCD-EFGH", Some(&app.origin())).await;
    assert_eq!(response.status(), 400);
    app.logger.flush().await.unwrap();
    let failed = Entity::find().filter(Column::EventType.eq("mfa_failed")).count(&app.db).await.unwrap();
    assert_eq!(failed, 1, "the wrong code was audited once");

    // The right code: the session, recorded with the second factor; the page and JSON answer.
    let response = app.post_second_factor(&pending, "totp", &code, Some(&app.origin())).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/security");
    let session = cookie_named(&response, SESSION_COOKIE).expect("the session cookie");
    assert_eq!(cookie_named(&response, SECOND_FACTOR_COOKIE).as_deref(), Some(&*format!("{SECOND_FACTOR_COOKIE}=")));
    let claims = app.dashboard.session_tokens().verify(session.split_once('=').unwrap().1, None).await.unwrap();
    assert_eq!(claims.mfa_state().level, MfaLevel::Verified);
    assert_eq!(claims.mfa_method.as_deref(), Some("totp"));
    assert_eq!(app.get("", Some(&session)).await.status(), 200);
    assert_eq!(app.get("/report.json", Some(&session)).await.status(), 200);
    assert_eq!(count_events(&app, "login_success", "root").await, 1);
    // The pending sign-in was used up: it cannot mint a second session, even with a fresh code.
    let code = app.totp_code(ADMIN.0).await;
    let again = app.post_second_factor(&pending, "totp", &code, Some(&app.origin())).await;
    assert_eq!(again.status(), 303);
    assert_eq!(again.headers()["location"], "/security/login?expired=1");
    assert!(cookie_named(&again, SESSION_COOKIE).is_none());

    // A dashboard session of an admin without the second factor (issued before the second
    // step existed) is not accepted.
    let admin = Principal::new(1, "root").with_roles(["admin"]);
    let old = app.dashboard.session_tokens().issue(&admin, &MfaState::none(), None).unwrap();
    let response = app.get("", Some(&format!("{SESSION_COOKIE}={}", old.token))).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/security/login?expired=1");
}
on_every_backend!(password_alone_opens_nothing, the_password_alone_opens_nothing_for_an_enrolled_admin);

async fn backup_codes_work_once(t: &TestDb) {
    let app = start(t, None).await;
    let codes = app.mfa.generate_backup_codes(&MfaAccount::new(1_i64, "root")).await.unwrap();
    let login = app.post_login(ADMIN.0, ADMIN.1, Some(&app.origin())).await;
    let pending = cookie_named(&login, SECOND_FACTOR_COOKIE).unwrap();
    let body = app.get("/login/second-factor", Some(&pending)).await.text().await.unwrap();
    assert!(body.contains(r#"data-testid="backup-code-form""#), "{body}");
    let response = app.post_second_factor(&pending, "backup_code", &codes[0], Some(&app.origin())).await;
    assert_eq!(response.status(), 303);
    let session = cookie_named(&response, SESSION_COOKIE).unwrap();
    let claims = app.dashboard.session_tokens().verify(session.split_once('=').unwrap().1, None).await.unwrap();
    assert_eq!(claims.mfa_method.as_deref(), Some("backup_code"));
    // The same code does not open a second sign-in.
    let login = app.post_login(ADMIN.0, ADMIN.1, Some(&app.origin())).await;
    let pending = cookie_named(&login, SECOND_FACTOR_COOKIE).unwrap();
    let response = app.post_second_factor(&pending, "backup_code", &codes[0], Some(&app.origin())).await;
    assert_eq!(response.status(), 401);
    assert!(cookie_named(&response, SESSION_COOKIE).is_none());
}
on_every_backend!(backup_codes_once, backup_codes_work_once);

async fn roles_that_require_mfa_without_a_factor_are_refused(t: &TestDb) {
    // `viewer` has the dashboard's role `staff`, which (by default) requires a second factor.
    let staff = start_with(t, None, |b| b.secure_cookie(false).role("staff")).await;
    let response = staff.post_login(VIEWER.0, VIEWER.1, Some(&staff.origin())).await;
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("set-cookie").is_none(), "neither a session nor a pending sign-in");
    assert_eq!(response.headers()["content-security-policy"], DASHBOARD_CSP);
    let body = response.text().await.unwrap();
    assert!(testid_text(&body, "enrol-second-factor").contains("Enrol one first"), "{body}");
    assert_eq!(count_events(&staff, "unauthorized_access", "viewer").await, 1);
    assert_eq!(count_events(&staff, "login_success", "viewer").await, 0);

    // Turned off knowingly: the password is enough again.
    let open =
        start_with(t, None, |b| b.secure_cookie(false).role("staff").mfa_required_roles(Vec::<String>::new())).await;
    let cookie = open.login(VIEWER).await;
    assert_eq!(open.get("", Some(&cookie)).await.status(), 200);

    // A dashboard that requires MFA must be able to check it.
    let error =
        Dashboard::builder(t.db.clone(), dashboard::token_service(), dashboard::check_password).build().unwrap_err();
    assert!(matches!(error, DashboardError::NoSecondFactor { .. }), "{error:?}");
    assert!(error.to_string().contains(".second_factor(mfa)"), "{error}");
}
on_every_backend!(mfa_roles_refused, roles_that_require_mfa_without_a_factor_are_refused);

async fn wrong_codes_count_against_the_login_limit(t: &TestDb) {
    let limiter = LoginRateLimiter::new(RateLimiter::memory(), 2, std::time::Duration::from_secs(900));
    let app = start_with(t, None, |b| b.secure_cookie(false).login_rate_limit(limiter)).await;
    // Attempt 1: the password.
    let login = app.post_login(ADMIN.0, ADMIN.1, Some(&app.origin())).await;
    let pending = cookie_named(&login, SECOND_FACTOR_COOKIE).unwrap();
    let code = app.totp_code(ADMIN.0).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    // Attempt 2: a wrong code, refused as such.
    assert_eq!(app.post_second_factor(&pending, "totp", wrong, Some(&app.origin())).await.status(), 401);
    // Attempt 3: over the limit. The pending sign-in ends; back to the password.
    let limited = app.post_second_factor(&pending, "totp", wrong, Some(&app.origin())).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(cookie_named(&limited, SECOND_FACTOR_COOKIE).as_deref(), Some(&*format!("{SECOND_FACTOR_COOKIE}=")));
    let after = app.post_second_factor(&pending, "totp", &code, Some(&app.origin())).await;
    assert_eq!(after.status(), 303);
    assert_eq!(after.headers()["location"], "/security/login?expired=1", "the right code after the limit");
    assert!(cookie_named(&after, SESSION_COOKIE).is_none());
    assert_eq!(app.post_login(ADMIN.0, ADMIN.1, Some(&app.origin())).await.status(), 429);
}
on_every_backend!(wrong_codes_limited, wrong_codes_count_against_the_login_limit);

async fn a_factor_the_dashboard_cannot_take_is_refused(t: &TestDb) {
    // viewer's only factor is a confirmed SMS device, and there are no backup codes: the form
    // could not offer anything, so the sign-in is refused with advice (not let through).
    dashboard::insert_device(&t.db, dashboard::user_id(VIEWER.0), "sms", true, true, Utc::now()).await;
    let staff = start_with(t, None, |b| b.secure_cookie(false).role("staff")).await;
    let response = staff.post_login(VIEWER.0, VIEWER.1, Some(&staff.origin())).await;
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("set-cookie").is_none());
    let body = response.text().await.unwrap();
    assert!(testid_text(&body, "enrol-second-factor").contains("cannot be used on this dashboard"), "{body}");
    assert_eq!(count_events(&staff, "login_success", "viewer").await, 0);
    // Even where the role does not require MFA: the account has a factor, so it must pass one.
    let open = start_with(t, None, |b| b.secure_cookie(false).role("staff").mfa_required_roles(["admin"])).await;
    let response = open.post_login(VIEWER.0, VIEWER.1, Some(&open.origin())).await;
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("set-cookie").is_none());
}
on_every_backend!(unusable_factor_refused, a_factor_the_dashboard_cannot_take_is_refused);

/// A passkey row for `user` (the dashboard only asks whether one exists).
async fn insert_passkey(db: &sea_orm::DatabaseConnection, user: i64) {
    use rail_graphql_security::migration::schema::MfaPasskeys as P;
    use sea_orm::ConnectionTrait;
    use sea_orm::sea_query::{Expr, Query};
    let id = uuid::Uuid::new_v4().to_string();
    let values: [sea_orm::Value; 12] = [
        id.clone().into(),
        user.into(),
        uuid::Uuid::new_v4().to_string().into(),
        "Y3JlZA".into(),
        id.replace('-', "").repeat(2).into(),
        "{}".into(),
        0i64.into(),
        true.into(),
        true.into(),
        "Phone".into(),
        Utc::now().into(),
        Option::<DateTime<Utc>>::None.into(),
    ];
    let insert = Query::insert()
        .into_table(P::Table)
        .columns([
            P::Id,
            P::UserId,
            P::UserHandle,
            P::CredentialId,
            P::CredentialIdHash,
            P::Credential,
            P::SignCount,
            P::BackupEligible,
            P::BackupState,
            P::Name,
            P::CreatedAt,
            P::LastUsed,
        ])
        .values_panic(values.map(Expr::val))
        .to_owned();
    db.execute(&insert).await.expect("insert a passkey");
}

async fn a_passkey_only_account_must_pass_a_factor(t: &TestDb) {
    // viewer's only factor is a passkey, which the form cannot take, and there are no backup
    // codes: refused, even where the role does not require MFA (the password alone would skip
    // the factor the account has).
    insert_passkey(&t.db, dashboard::user_id(VIEWER.0)).await;
    let open = start_with(t, None, |b| b.secure_cookie(false).role("staff").mfa_required_roles(["admin"])).await;
    let response = open.post_login(VIEWER.0, VIEWER.1, Some(&open.origin())).await;
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("set-cookie").is_none());
    assert_eq!(count_events(&open, "login_success", "viewer").await, 0);
    // With backup codes left, the second step asks for one.
    let viewer = MfaAccount::new(dashboard::user_id(VIEWER.0), VIEWER.0);
    open.mfa.generate_backup_codes(&viewer).await.unwrap();
    let response = open.post_login(VIEWER.0, VIEWER.1, Some(&open.origin())).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/security/login/second-factor");
    assert!(cookie_named(&response, SESSION_COOKIE).is_none(), "no session before the factor");
}
on_every_backend!(passkey_only_account, a_passkey_only_account_must_pass_a_factor);

/// The trail card's rows: (chain prefix, state, not yet signed).
fn trail_rows(body: &str) -> Vec<(String, String, u64)> {
    let section = &body[body.find(r#"data-testid="audit-trail""#).expect("the audit trail card")..];
    let section = &section[..section.find("</section>").expect("card ends")];
    section
        .split(r#"data-testid="trail-chain""#)
        .skip(1)
        .map(|row| {
            let chain = row.split("<code>").nth(1).and_then(|c| c.split('<').next()).unwrap_or_default();
            (chain.to_owned(), testid_text(row, "trail-state").to_owned(), number(row, "trail-unsigned"))
        })
        .collect()
}

async fn the_trail_card_shows_each_chain_and_catches_a_rewrite(t: &TestDb) {
    use rail_graphql_security::audit::checkpoint::{self, CheckpointKey};
    use rail_graphql_security::audit::{AuditEvent, AuditEventType, AuditLogger, CheckpointPolicy};
    use sea_orm::ConnectionTrait;

    let key = CheckpointKey::from_secret("the dashboard trail test's signing key");
    let old_public = key.verifying_key_hex();
    // A checkpoint every 12 events: the first 12 make exactly one, at #12, however the writer
    // splits them into batches (with 10, a first batch of 10 put it at #10).
    let policy = CheckpointPolicy {
        key: Some(key),
        every_events: 12,
        interval: std::time::Duration::from_secs(3600),
        ..CheckpointPolicy::default()
    };
    let keyed = AuditLogger::builder().database(t.db.clone()).checkpoints(policy).build();
    let log = |n: usize| {
        for i in 0..n {
            keyed.log(AuditEvent::new(AuditEventType::DataCreated).actor_name(format!("writer{i}")));
        }
    };
    log(12);
    keyed.flush().await.unwrap();
    log(3);
    keyed.flush().await.unwrap();
    let chain: Vec<u8> = Entity::find()
        .filter(Column::ActorName.eq("writer0"))
        .one(&t.db)
        .await
        .unwrap()
        .and_then(|row| row.chain_id)
        .expect("chained");
    let chain_text = uuid::Uuid::from_slice(&chain).unwrap().to_string();
    let prefix = &chain_text[..13];
    let app = start_with(t, None, |b| b.secure_cookie(false).audit(keyed.clone())).await;
    let cookie = app.login(ADMIN).await;
    let page = || async { app.get("", Some(&cookie)).await.text().await.unwrap() };
    let rows = trail_rows(&page().await);
    let row = rows.iter().find(|(c, _, _)| c.starts_with(prefix)).unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(row.1, "verified", "{rows:?}");
    assert_eq!(row.2, 3 + 2, "three events and the two sign-in events after the checkpoint at #12: {rows:?}");

    // After a key rotation: a logger signing with a new key still trusts the checkpoints of the
    // old one when its verifying key is listed among the previous keys, and only then.
    for (previous, expected) in [(vec![old_public.clone()], "verified"), (Vec::new(), "FORGED signature")] {
        let policy = CheckpointPolicy::from_config(Some("the dashboard trail test's next signing key"), 1000, 3600)
            .previous_keys(&previous[..])
            .unwrap();
        let rotated = AuditLogger::builder().database(t.db.clone()).checkpoints(policy).build();
        let app = start_with(t, None, |b| b.secure_cookie(false).audit(rotated.clone())).await;
        let cookie = app.login(ADMIN).await;
        let rows = trail_rows(&app.get("", Some(&cookie)).await.text().await.unwrap());
        let row = rows.iter().find(|(c, _, _)| c.starts_with(prefix)).unwrap_or_else(|| panic!("{rows:?}"));
        assert_eq!(row.1, expected, "previous keys {previous:?}: {rows:?}");
        rotated.shutdown().await.unwrap();
    }

    // History rewritten at the checkpoint: the point check sees the hash changed.
    Entity::update_many()
        .col_expr(Column::ChainHash, sea_orm::sea_query::Expr::value(vec![0u8; 32]))
        .filter(Column::ChainId.eq(chain))
        .filter(Column::ChainSeq.eq(12))
        .exec(&t.db)
        .await
        .unwrap();
    let rows = trail_rows(&page().await);
    let row = rows.iter().find(|(c, _, _)| c.starts_with(prefix)).unwrap();
    assert!(row.1.starts_with("MISMATCH"), "{rows:?}");

    // A checkpoint signed with another key.
    let stored = checkpoint::Entity::find().all(&t.db).await.unwrap();
    let mut forged = checkpoint::Checkpoint::try_from(stored[0].clone()).unwrap();
    CheckpointKey::from_secret("somebody else's key").sign(&mut forged);
    let sql = format!("UPDATE audit_checkpoints SET signature = '{}'", forged.signature.unwrap());
    t.db.execute_unprepared(&sql).await.unwrap();
    let rows = trail_rows(&page().await);
    let row = rows.iter().find(|(c, _, _)| c.starts_with(prefix)).unwrap();
    assert_eq!(row.1, "FORGED signature", "{rows:?}");
}
on_every_backend!(trail_card, the_trail_card_shows_each_chain_and_catches_a_rewrite);

/// The dead letters card: how many events a sink refused for good, and the newest with the
/// sink and its error, escaped (a webhook endpoint's error text is not trusted markup).
async fn the_dead_letters_card_counts_and_lists_them_escaped(t: &TestDb) {
    use rail_graphql_security::audit::dead_letter;
    use sea_orm::ActiveValue::Set;

    let app = start(t, None).await;
    let cookie = app.login(ADMIN).await;
    let body = app.get("", Some(&cookie)).await.text().await.unwrap();
    assert_eq!(number(&body, "dead-letter-count"), 0);
    assert!(!body.contains(r#"data-testid="dead-letter""#));

    let letter = |sink: &str, error: &str| dead_letter::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        event_id: Set(uuid::Uuid::new_v4().to_string()),
        sink: Set(sink.to_owned()),
        error: Set(error.to_owned()),
        raw_event: Set("{\"password\":\"not shown\"}".to_owned()),
        dead_lettered_at: Set(Utc::now().trunc_subsecs(6)),
    };
    dead_letter::Entity::insert(letter("database", "value too long for column")).exec(&t.db).await.unwrap();
    let hostile = "the webhook answered HTTP 422 3 times; <script>alert(3)</script>";
    dead_letter::Entity::insert(letter("webhook", hostile)).exec(&t.db).await.unwrap();

    let body = app.get("", Some(&cookie)).await.text().await.unwrap();
    assert_eq!(number(&body, "dead-letter-count"), 2);
    let section = &body[body.find(r#"data-testid="dead-letters""#).expect("the dead letters card")..];
    let section = &section[..section.find("</section>").expect("card ends")];
    let sinks: Vec<&str> =
        section.split(r#"data-testid="dead-letter-sink">"#).skip(1).filter_map(|s| s.split('<').next()).collect();
    assert_eq!(sinks, ["webhook", "database"], "newest first");
    assert!(section.contains("&lt;script&gt;alert(3)&lt;/script&gt;"), "the error is shown, escaped");
    assert!(!body.to_ascii_lowercase().contains("<script"), "no script element reaches the page");
    assert!(!body.contains("not shown"), "the raw event stays in the table");
}
on_every_backend!(dead_letters_card, the_dead_letters_card_counts_and_lists_them_escaped);
