//! The checks `rail-security check` scores: production passes only when truly hardened.

use integration_tests::myapp::{HARDENED_STANDARD_TOML, TEST_ENCRYPTION_KEY, TEST_SECRET_KEY};
use rail_graphql_security::config::{CheckReport, Profile, SecurityConfig, Severity, StandardSecurityConfig};

fn hardened(extra_env: &[(&str, &str)]) -> Result<StandardSecurityConfig, String> {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::io::Write::write_all(&mut file, HARDENED_STANDARD_TOML.as_bytes()).unwrap();
    let mut env = vec![
        ("RAIL_SECURITY__DEPLOYMENT__SECRET_KEY", TEST_SECRET_KEY),
        ("RAIL_SECURITY__MFA__ENCRYPTION_KEY", TEST_ENCRYPTION_KEY),
    ];
    env.extend_from_slice(extra_env);
    StandardSecurityConfig::loader()
        .profile(Profile::Production)
        .file(file.path())
        .env_vars(env)
        .load()
        .map_err(|e| e.to_string())
}

fn failed_ids(report: &CheckReport) -> Vec<&str> {
    report.checks.iter().filter(|c| !c.passed).map(|c| c.id.as_str()).collect()
}

#[test]
fn production_defaults_fail_the_critical_checks() {
    let config = StandardSecurityConfig::defaults(&Profile::Production);
    let report = config.run_checks(&Profile::Production);
    assert!(report.has_critical_failure());
    let failed = failed_ids(&report);
    for id in ["deployment.secret_key", "deployment.allowed_hosts", "mfa.encryption_key"] {
        assert!(failed.contains(&id), "{id} should fail: {failed:?}");
    }
    assert!(report.score() < 10);
    // The hardening defaults themselves pass.
    for id in [
        "deployment.https_redirect",
        "deployment.hsts_seconds",
        "deployment.cookie_secure",
        "deployment.cookie_http_only",
    ] {
        assert!(!failed.contains(&id), "{id} should pass: {failed:?}");
    }
}

#[test]
fn a_hardened_production_config_passes_every_check() {
    let config = hardened(&[]).unwrap();
    let report = config.run_checks(&Profile::Production);
    assert_eq!(failed_ids(&report), Vec::<&str>::new());
    assert_eq!(report.score(), 10);
    assert!(!report.has_critical_failure());
    assert!(report.checks.len() >= 25, "{} checks", report.checks.len());
}

#[test]
fn each_weakening_fails_its_own_critical_check() {
    let weak_keys = [
        (
            "RAIL_SECURITY__DEPLOYMENT__SECRET_KEY",
            "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6kM9nP2rS5uV8xY"[..49].to_owned(),
        ),
        ("RAIL_SECURITY__DEPLOYMENT__SECRET_KEY", "abcd".repeat(20)),
        ("RAIL_SECURITY__DEPLOYMENT__SECRET_KEY", format!("change-me-{}", &TEST_SECRET_KEY[..50])),
        ("RAIL_SECURITY__DEPLOYMENT__SECRET_KEY", format!("django-insecure-{}", &TEST_SECRET_KEY[..50])),
        ("RAIL_SECURITY__DEPLOYMENT__SECRET_KEY", format!("changeme{}", &TEST_SECRET_KEY[..50])),
        ("RAIL_SECURITY__DEPLOYMENT__SECRET_KEY", String::new()),
        // Long and varied enough for the length and distinct-character rules, but patterned
        // (issue 14, item 4): a sequence, a repeated pattern, a long run.
        ("RAIL_SECURITY__DEPLOYMENT__SECRET_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN".to_owned()),
        ("RAIL_SECURITY__DEPLOYMENT__SECRET_KEY", "k3Xq9!LmPa7Rz2Tw".repeat(4)),
        ("RAIL_SECURITY__DEPLOYMENT__SECRET_KEY", format!("{}aaaaaaaa", &TEST_SECRET_KEY[..50])),
        // Well-formed (32 bytes of base64) but all zeros.
        ("RAIL_SECURITY__MFA__ENCRYPTION_KEY", format!("{}=", "A".repeat(43))),
    ];
    for (var, value) in &weak_keys {
        let config = hardened(&[(var, value)]).unwrap();
        let report = config.run_checks(&Profile::Production);
        let id = if var.contains("MFA") { "mfa.encryption_key" } else { "deployment.secret_key" };
        assert_eq!(failed_ids(&report), [id], "{var}={value}");
        assert!(report.has_critical_failure());
    }
    let cases: &[(&str, &str, &str)] = &[
        ("RAIL_SECURITY__DEPLOYMENT__HTTPS_REDIRECT", "false", "deployment.https_redirect"),
        ("RAIL_SECURITY__DEPLOYMENT__HSTS_SECONDS", "3600", "deployment.hsts_seconds"),
        ("RAIL_SECURITY__DEPLOYMENT__COOKIE_SECURE", "false", "deployment.cookie_secure"),
        ("RAIL_SECURITY__DEPLOYMENT__COOKIE_HTTP_ONLY", "false", "deployment.cookie_http_only"),
        ("RAIL_SECURITY__DEPLOYMENT__ALLOWED_HOSTS", "*", "deployment.allowed_hosts"),
        ("RAIL_SECURITY__DEPLOYMENT__INTROSPECTION", "true", "deployment.introspection"),
        ("RAIL_SECURITY__DEPLOYMENT__PLAYGROUND", "true", "deployment.playground"),
        ("RAIL_SECURITY__MIDDLEWARE__AUTHENTICATION__ENABLED", "false", "middleware.authentication.enabled"),
        ("RAIL_SECURITY__MIDDLEWARE__RATE_LIMITING__ENABLED", "false", "middleware.rate_limiting.enabled"),
        ("RAIL_SECURITY__MFA__ENABLED", "false", "mfa.enabled"),
        ("RAIL_SECURITY__MFA__SMS__PROVIDER", "console", "mfa.sms.provider"),
        ("RAIL_SECURITY__AUDIT__RETENTION_DAYS", "30", "audit.enabled"),
        ("RAIL_SECURITY__MFA__SMS__TWILIO_AUTH_TOKEN", "", "mfa.sms.credentials"),
        ("RAIL_SECURITY__MFA__SMS__TWILIO_FROM_NUMBER", "", "mfa.sms.credentials"),
    ];
    for (var, value, id) in cases {
        let config = hardened(&[(var, value)]).unwrap();
        let report = config.run_checks(&Profile::Production);
        assert_eq!(failed_ids(&report), [*id], "{var}={value}");
        let check = report.checks.iter().find(|c| c.id == *id).unwrap();
        assert_eq!(check.severity, Severity::Critical, "{id}");
        assert!(check.recommendation.is_some() && check.why.is_some(), "{id}");
    }
    let warnings: &[(&str, &str, &str)] = &[
        ("RAIL_SECURITY__DEPLOYMENT__HSTS_PRELOAD", "false", "deployment.hsts_preload"),
        ("RAIL_SECURITY__DEPLOYMENT__X_FRAME_OPTIONS", "ALLOW-FROM x", "deployment.x_frame_options"),
        ("RAIL_SECURITY__DEPLOYMENT__REFERRER_POLICY", "unsafe-url", "deployment.referrer_policy"),
        ("RAIL_SECURITY__DEPLOYMENT__COOKIE_SAME_SITE", "none", "deployment.cookie_same_site"),
        ("RAIL_SECURITY__DEPLOYMENT__CONTENT_TYPE_NOSNIFF", "false", "deployment.content_type_nosniff"),
        // SMS pumping: a real provider sending to every country.
        ("RAIL_SECURITY__MFA__SMS__ALLOWED_COUNTRY_CODES", "", "mfa.sms.allowed_country_codes"),
    ];
    for (var, value, id) in warnings {
        let report = hardened(&[(var, value)]).unwrap().run_checks(&Profile::Production);
        assert_eq!(failed_ids(&report), [*id], "{var}={value}");
        assert!(!report.has_critical_failure(), "{id} is a warning");
        assert_eq!(report.score(), 9);
    }
    // A shared store changes nothing the checks score.
    let config =
        hardened(&[("RAIL_SECURITY__MIDDLEWARE__RATE_LIMITING__STORE_URL", "redis://127.0.0.1:6379")]).unwrap();
    assert!(failed_ids(&config.run_checks(&Profile::Production)).is_empty());
    // What the runtime could not use is refused when loading, before any check.
    let error = hardened(&[("RAIL_SECURITY__MFA__ENCRYPTION_KEY", "short-Key-1")]).unwrap_err();
    assert!(error.contains("32 bytes in standard base64") && !error.contains("short-Key-1"), "{error}");
    let error = hardened(&[("RAIL_SECURITY__DEPLOYMENT__TRUSTED_PROXIES", "")]).unwrap_err();
    assert!(error.contains("behind_proxy but no trusted_proxies"), "{error}");
    // A config built in code (not loaded) is still scored.
    let mut config = hardened(&[]).unwrap();
    config.deployment.trusted_proxies.clear();
    assert_eq!(failed_ids(&config.run_checks(&Profile::Production)), ["deployment.trusted_proxies"]);
}

#[test]
fn development_findings_are_informational() {
    let config = StandardSecurityConfig::defaults(&Profile::Development);
    let report = config.run_checks(&Profile::Development);
    assert!(!report.has_critical_failure());
    assert!(!report.failures().is_empty());
    assert!(report.failures().iter().all(|c| c.severity == Severity::Info));
    // Production-only rules do not fire outside production.
    let failed = failed_ids(&report);
    assert!(!failed.contains(&"deployment.introspection") && !failed.contains(&"mfa.enabled"), "{failed:?}");
}

#[test]
fn fixes_are_offered_only_where_they_are_safe() {
    let config = StandardSecurityConfig::defaults(&Profile::Development);
    let report = config.run_checks(&Profile::Production);
    let fix = |id: &str| report.checks.iter().find(|c| c.id == id).unwrap().fix.clone();
    let https = fix("deployment.https_redirect").unwrap();
    assert_eq!(https.key, "deployment.https_redirect");
    assert_eq!(https.value.as_bool(), Some(true));
    assert_eq!(fix("deployment.hsts_seconds").unwrap().value.as_integer(), Some(31_536_000));
    assert!(fix("deployment.secret_key").is_none());
    assert!(fix("deployment.allowed_hosts").is_none());
}

#[test]
fn generated_keys_are_never_mistaken_for_placeholders() {
    // Words inside a random key (no delimiters) do not count; 2 000 fresh keys all pass.
    let config = hardened(&[(
        "RAIL_SECURITY__DEPLOYMENT__SECRET_KEY",
        "aQ7todo9Zxsecretk2LmN4pR7sT9vW1xY3zA5bC6dE8fG0hJ2kL4mN6pQ8rS0tU2",
    )])
    .unwrap();
    assert!(config.run_checks(&Profile::Production).failures().is_empty());
    for _ in 0..2000 {
        let mut config = StandardSecurityConfig::defaults(&Profile::Production);
        config.generate_secrets();
        let report = config.run_checks(&Profile::Production);
        let failed = failed_ids(&report);
        assert!(!failed.contains(&"deployment.secret_key") && !failed.contains(&"mfa.encryption_key"), "{failed:?}");
    }
}

#[test]
fn an_unsigned_or_unchained_audit_trail_warns_in_production() {
    let signed = hardened(&[]).unwrap().run_checks(&Profile::Production);
    assert!(!failed_ids(&signed).contains(&"audit.checkpoint_signing_key"), "{:?}", failed_ids(&signed));
    for (env, why) in [
        (("RAIL_SECURITY__AUDIT__CHECKPOINT_SIGNING_KEY", ""), "is not set"),
        (("RAIL_SECURITY__AUDIT__CHECKPOINT_SIGNING_KEY", "short-key"), "shorter than 32"),
        (("RAIL_SECURITY__AUDIT__HASH_CHAIN", "false"), "hash chain is off"),
    ] {
        let report = hardened(&[env]).unwrap().run_checks(&Profile::Production);
        let check = report.checks.iter().find(|c| c.id == "audit.checkpoint_signing_key").expect("the check runs");
        assert!(!check.passed, "{env:?}");
        assert_eq!(check.severity, Severity::Warning, "{env:?}: tamper evidence warns, it does not block");
        assert!(check.message.contains(why), "{env:?}: {}", check.message);
        assert!(!report.has_critical_failure(), "{env:?}: {:?}", failed_ids(&report));
    }
    // Previous keys without a signing key: new checkpoints would be unsigned, and reported as
    // forged by a verifier that trusts those keys. The check says so, in every profile.
    let old =
        rail_graphql_security::audit::CheckpointKey::from_secret("the key before the rotation").verifying_key_hex();
    let config = hardened(&[
        ("RAIL_SECURITY__AUDIT__CHECKPOINT_SIGNING_KEY", ""),
        ("RAIL_SECURITY__AUDIT__CHECKPOINT_PREVIOUS_KEYS", &old),
    ])
    .unwrap();
    for profile in [Profile::Development, Profile::Production] {
        let report = config.run_checks(&profile);
        let check = report.checks.iter().find(|c| c.id == "audit.checkpoint_signing_key").expect("the check runs");
        assert!(!check.passed && check.message.contains("reports them as forged"), "{profile:?}: {}", check.message);
    }
}

#[test]
fn checkpoints_kept_only_in_the_database_warn_in_production() {
    let anchored = hardened(&[]).unwrap();
    assert!(!failed_ids(&anchored.run_checks(&Profile::Production)).contains(&"audit.checkpoint_anchor_path"));
    let unanchored = hardened(&[("RAIL_SECURITY__AUDIT__CHECKPOINT_ANCHOR_PATH", "")]).unwrap();
    assert_eq!(unanchored.audit.checkpoint_anchor_path, None, "an empty variable unsets the path");
    let report = unanchored.run_checks(&Profile::Production);
    let check = report.checks.iter().find(|c| c.id == "audit.checkpoint_anchor_path").expect("the check runs");
    assert!(!check.passed);
    assert_eq!(check.severity, Severity::Warning, "a missing copy warns, it does not block");
    assert!(check.recommendation.as_deref().is_some_and(|r| r.contains("audit verify --anchors")), "{check:?}");
    assert!(!report.has_critical_failure(), "{:?}", failed_ids(&report));
    assert_eq!(report.score(), 9, "a warning keeps the score below 10");
    // Development needs no copy; without the chain there is nothing to copy.
    assert!(!failed_ids(&unanchored.run_checks(&Profile::Development)).contains(&"audit.checkpoint_anchor_path"));
    let unchained = hardened(&[
        ("RAIL_SECURITY__AUDIT__CHECKPOINT_ANCHOR_PATH", ""),
        ("RAIL_SECURITY__AUDIT__HASH_CHAIN", "false"),
    ])
    .unwrap();
    let report = unchained.run_checks(&Profile::Production);
    assert!(report.checks.iter().all(|c| c.id != "audit.checkpoint_anchor_path"), "{:?}", failed_ids(&report));
}
