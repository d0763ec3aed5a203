//! Issue 17: the account page (`/account`) in headless Chromium through WebDriver, with a
//! virtual CTAP2 authenticator (resident keys, user verification) from the WebAuthn WebDriver
//! extension: sign in with the password, register a passkey (the first backup codes are shown
//! once), sign out, sign in with the passkey alone, read `secretNote`.
//!
//! The page runs on `http://localhost:<port>` (browsers refuse passkeys on an IP address), the
//! relying party `localhost` and that origin configured as the demo's `mfa.passkeys.*`. The
//! screenshot is written only when asked: `RAIL_WRITE_ACCOUNT_SCREENSHOT=docs/account.png`.

mod browser;
mod e2e;

use std::panic::AssertUnwindSafe;

use browser::{Session, browser_binaries, start_driver};
use futures::FutureExt;
use integration_tests::{Backend, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_registered_on_the_account_page_signs_in_alone_in_chromium() {
    let Some((chromium, chromedriver)) = browser_binaries("account page") else { return };
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite is always available");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let mut settings = e2e::test_config(&t.url);
    settings.config.security.mfa.passkeys.origins = vec![format!("http://localhost:{port}")];
    let app = demo::build_app_with_db(&settings, t.db.clone()).await.expect("the demo builds");
    let server = tokio::spawn(demo::serve(app.router.clone(), listener, std::future::pending()));
    let (driver, session) = start_driver(&chromium, &chromedriver).await;

    let base = format!("http://localhost:{port}/account");
    let outcome = AssertUnwindSafe(browse(&base, &session)).catch_unwind().await;
    let _ = session.call(reqwest::Method::DELETE, "", None).await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }

    // The passwordless sign-in is in the audit log, with the browser's address and agent.
    app.logger.flush().await.expect("flush");
    let events = e2e::events(&app.db).await;
    assert!(
        events.iter().any(|(kind, details)| kind == "login_success" && details["login_method"] == "passkey"),
        "a login_success with login_method passkey"
    );
    assert!(events.iter().any(|(kind, details)| kind == "mfa_enabled" && details["method"] == "passkey"));
    server.abort();
    t.cleanup().await;
}

async fn browse(base: &str, session: &Session) {
    let authenticator = session.add_virtual_authenticator().await;

    // The password first.
    session.goto(base).await;
    session.find("[data-testid=\"sign-in\"]").await;
    session.type_into("#username", "demo").await;
    session.type_into("#password", demo::DEFAULT_DEMO_PASSWORD).await;
    session.click("#password-sign-in").await;
    session.wait_for_text("[data-testid=\"signed-in-as\"]", "Signed in as demo").await;

    // Register a passkey: the authenticator makes a resident credential; the first backup
    // codes are shown once.
    session.clear("#passkey-name").await;
    session.type_into("#passkey-name", "Chromium passkey").await;
    session.click("#passkey-register").await;
    session.find("#new-codes:not([hidden])").await;
    let codes = session.script("return document.querySelectorAll('#new-codes-list li').length").await;
    assert_eq!(codes, serde_json::json!(10), "ten backup codes shown");
    let credentials = session.credentials(&authenticator).await;
    assert_eq!(credentials.len(), 1, "{credentials:?}");
    assert_eq!(credentials[0]["isResidentCredential"], true, "a discoverable credential: {credentials:?}");
    session.click("#continue").await;
    session.wait_for_text("tr.passkey td.passkey-name", "Chromium passkey").await;
    session.screenshot("RAIL_WRITE_ACCOUNT_SCREENSHOT").await;

    // Sign out, then the passkey alone.
    session.click("#sign-out").await;
    session.find("[data-testid=\"sign-in\"]").await;
    session.click("#passkey-sign-in").await;
    session.wait_for_text("[data-testid=\"signed-in-as\"]", "Signed in as demo").await;
    session.click("#read-secret").await;
    session.wait_for_text("#secret-note", demo::schema::SECRET_NOTE).await;
}
