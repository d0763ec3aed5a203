//! Issue 14, item 4: in production the stack refuses low-entropy secrets (only the length was
//! checked, so a 48-character `aaaa…` signing key was accepted), naming the key and how to
//! make a good one, never quoting the value; development keeps accepting them.

use integration_tests::{Backend, TestDb};
use rail_graphql_security::config::{Profile, Secret};

#[tokio::test]
async fn production_refuses_low_entropy_signing_key_webhook_secret_and_mfa_key() {
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
    let weak = "a".repeat(48);
    let mut settings = demo::Settings::development(&t.url);
    settings.config.security.deployment.secret_key = Some(Secret::new(weak.clone()));
    settings.profile = Profile::Production;
    let error = demo::build_app_with_db(&settings, t.db.clone()).await.expect_err("refused").to_string();
    assert!(error.contains("deployment.secret_key is refused in production"), "{error}");
    assert!(error.contains("openssl rand -base64 48"), "{error}");
    assert!(!error.contains(&weak), "the secret was quoted: {error}");

    let patterned = "k3Xq9!LmPa7Rz2Tw".repeat(4);
    let mut settings = demo::Settings::development(&t.url);
    settings.config.security.audit.webhook_secret = Some(Secret::new(patterned.clone()));
    settings.profile = Profile::Production;
    let error = demo::build_app_with_db(&settings, t.db.clone()).await.expect_err("refused").to_string();
    assert!(error.contains("audit.webhook_secret is refused in production"), "{error}");
    assert!(!error.contains(&patterned), "the secret was quoted: {error}");

    // An all-zero MFA key is well-formed base64 of 32 bytes, and no key at all.
    let mut settings = demo::Settings::development(&t.url);
    settings.config.security.mfa.encryption_key =
        rail_graphql_security::config::standard::Base64Key::new(&format!("{}=", "A".repeat(43)));
    assert!(settings.config.security.mfa.encryption_key.is_some(), "the zero key parses");
    settings.profile = Profile::Production;
    let error = demo::build_app_with_db(&settings, t.db.clone()).await.expect_err("refused").to_string();
    assert!(error.contains("mfa.encryption_key is refused in production"), "{error}");

    // Development is not production: the same key starts (local experiments stay easy).
    let mut settings = demo::Settings::development(&t.url);
    settings.config.security.deployment.secret_key = Some(Secret::new(weak));
    assert!(demo::build_app_with_db(&settings, t.db.clone()).await.is_ok());
}
