//! The dashboard end to end in headless Chromium (Debian's `chromium` + `chromium-driver`),
//! driven over the W3C WebDriver protocol: log in through both forms (the password, then the
//! admin's TOTP code), read the numbers the page shows and compare them with the report API,
//! check that a hostile user agent did not run, take a screenshot, log out.
//!
//! The screenshot is checked to be a PNG and written only when asked:
//! `RAIL_WRITE_SCREENSHOT=docs/dashboard.png` (a path relative to the workspace root, or
//! absolute) refreshes the README's picture; without it the test writes no file.
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver` (or `CHROMIUM` / `CHROMEDRIVER`)
//! the test says so and passes, unless `RAIL_TEST_REQUIRE_BACKENDS=1` (CI), where it fails.
//!
//! The WebDriver client is `browser/mod.rs`: the few endpoints the tests use, over reqwest.

mod browser;
mod dashboard;

use std::panic::AssertUnwindSafe;

use browser::{Session, browser_binaries, start_driver};
use chrono::{DateTime, Utc};
use dashboard::{ADMIN, XSS_AGENT, seed, start};
use futures::FutureExt;
use integration_tests::{Backend, TestDb};
use rail_graphql_security::config::{Profile, SecurityConfig, StandardSecurityConfig};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_logs_in_and_sees_the_report_numbers_in_chromium() {
    let Some((chromium, chromedriver)) = browser_binaries("dashboard") else { return };
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite is always available");
    seed(&t.db, Utc::now()).await;
    let findings = StandardSecurityConfig::defaults(&Profile::Production).run_checks(&Profile::Production);
    let app = start(&t, Some(findings)).await;
    let (driver, session) = start_driver(&chromium, &chromedriver).await;

    let outcome = AssertUnwindSafe(browse(&app, &session)).catch_unwind().await;
    let _ = session.call(reqwest::Method::DELETE, "", None).await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    t.cleanup().await;
}

async fn browse(app: &dashboard::App, session: &Session) {
    // The dashboard sends an anonymous browser to the login form.
    session.goto(&app.base).await;
    let url = session.get("/url").await.expect("url");
    assert!(url.as_str().is_some_and(|u| u.ends_with("/security/login")), "landed on {url}");
    session.type_into("#username", ADMIN.0).await;
    session.type_into("#password", ADMIN.1).await;
    session.click("#login").await;
    // The second step: the admin's authenticator code.
    session.find("[data-testid=\"totp-form\"]").await;
    let url = session.get("/url").await.expect("url");
    assert!(url.as_str().is_some_and(|u| u.ends_with("/security/login/second-factor")), "landed on {url}");
    session.type_into("#totp-code", &app.totp_code(ADMIN.0).await).await;
    session.click("#verify-totp").await;
    session.find("[data-testid=\"security-score\"]").await;
    app.logger.flush().await.expect("flush the login's events");
    // Reload so the page and the report below see the same rows (the login's own events).
    let start = session.attribute("[data-testid=\"period\"]", "data-start").await;
    let end = session.attribute("[data-testid=\"period\"]", "data-end").await;
    let query = format!("?start={}&end={}&severity=low", urlencode(&start), urlencode(&end));
    session.goto(&format!("{}{query}", app.base)).await;
    session.find("[data-testid=\"security-score\"]").await;

    let start: DateTime<Utc> = start.parse().expect("period start");
    let end: DateTime<Utc> = end.parse().expect("period end");
    let report = app.logger.generate_security_report(start, end).await.expect("report");
    assert_eq!(session.text("[data-testid=\"security-score\"]").await, format!("{:.1}", report.security_score));
    for (testid, expected) in [
        ("failed-logins", report.failed_logins),
        ("successful-logins", report.successful_logins),
        ("suspicious-activities", report.suspicious_activities),
        ("rate-limit-hits", report.rate_limit_hits),
        ("unauthorized-access", report.unauthorized_access),
        ("mfa-events", report.mfa_events),
        ("total-events", report.total_events),
        ("chart-failed-total", report.failed_logins),
        ("chart-success-total", report.successful_logins),
        ("mfa-users-enrolled", 4),
    ] {
        assert_eq!(session.number(testid).await, expected, "{testid} on the page vs. the report");
    }
    let top_ip = session.text("[data-testid=\"top-failing-ips\"] tbody tr:first-child td[data-role=\"key\"]").await;
    assert_eq!(top_ip, report.top_failing_ips[0].ip);

    // The hostile user agent is shown as text and never ran.
    let shown = session.script("return document.querySelector('[data-testid=\"recent-events\"]').innerText").await;
    assert!(shown.as_str().is_some_and(|s| s.contains(XSS_AGENT)), "the user agent is shown as text");
    assert!(session.get("/alert/text").await.is_err(), "an alert is open: a script from an event ran");
    let scripts = session.script("return document.scripts.length").await;
    assert_eq!(scripts, json!(0));
    // The stylesheet loaded under the CSP (style-src 'self').
    let background =
        session.script("return getComputedStyle(document.querySelector('header.top')).backgroundColor").await;
    assert_eq!(background, json!("rgb(29, 35, 48)"));

    // The screenshot shows the default view (high and critical events) of the same period.
    session
        .goto(&format!("{}?start={}&end={}", app.base, urlencode(&start.to_rfc3339()), urlencode(&end.to_rfc3339())))
        .await;
    session.find("[data-testid=\"findings\"]").await;
    session.screenshot("RAIL_WRITE_SCREENSHOT").await;

    session.click("[data-testid=\"logout\"]").await;
    session.find("#username").await;
    session.goto(&app.base).await;
    session.find("#username").await; // logged out: the dashboard asks for a login again
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}
