//! A user's own config with `#[derive(SecurityConfig)]`: per-profile defaults, env prefix,
//! nested sections, validation, secrets, checks and writing a file that loads back.

use integration_tests::myapp::{HARDENED_STANDARD_TOML, MyAppConfig, TEST_ENCRYPTION_KEY, TEST_SECRET_KEY};
use rail_graphql_security::config::{Profile, SecurityConfig};

#[test]
fn field_attributes_give_per_profile_defaults() {
    let dev = MyAppConfig::defaults(&Profile::Development);
    let prod = MyAppConfig::defaults(&Profile::Production);
    let qa = MyAppConfig::defaults(&Profile::Custom("qa".into()));
    let other = MyAppConfig::defaults(&Profile::Custom("other".into()));
    assert_eq!((dev.workers, prod.workers, qa.workers, other.workers), (4, 8, 2, 4));
    assert_eq!(dev.base_url, "http://localhost:8080");
    assert_eq!(prod.base_url, "https://app.example.com");
    assert_eq!(dev.max_upload_mb, 16);
    assert!(dev.token_signing_key.is_none() && dev.payment_api_key.is_none());
    // The embedded standard config follows the same profile.
    assert!(!dev.security.mfa.enabled && prod.security.mfa.enabled);
    assert_eq!(MyAppConfig::ENV_PREFIX, "MYAPP");
    assert_eq!(
        MyAppConfig::KEYS,
        ["base_url", "workers", "max_upload_mb", "payment_api_key", "token_signing_key", "security"]
    );
}

#[test]
fn the_container_prefix_names_env_vars_for_nested_keys() {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::io::Write::write_all(&mut file, b"workers = 16\n\n[security.mfa]\ndigits = 7\nissuer = \"File\"\n").unwrap();
    let config = MyAppConfig::loader()
        .profile(Profile::Staging)
        .file(file.path())
        .env_vars([
            ("MYAPP__SECURITY__MFA__DIGITS", "8"),
            ("MYAPP__SECURITY__MIDDLEWARE__RATE_LIMITING__LOGIN_ATTEMPTS_LIMIT", "2"),
            ("MYAPP__PAYMENT_API_KEY", "pk_live_123"),
            // The standard config's own prefix does not apply inside a user's config.
            ("RAIL_SECURITY__MFA__DIGITS", "6"),
        ])
        .load()
        .unwrap();
    assert_eq!(config.workers, 16);
    assert_eq!(config.security.mfa.digits, 8);
    assert_eq!(config.security.mfa.issuer, "File");
    assert_eq!(config.security.middleware.rate_limiting.login_attempts_limit, 2);
    assert_eq!(config.payment_api_key.as_ref().unwrap().expose(), "pk_live_123");
    assert!(!format!("{config:?}").contains("pk_live_123"));
    assert!(!config.to_json_redacted().to_string().contains("pk_live_123"));
}

#[test]
fn derived_validation_rules_run_with_the_source_of_the_value() {
    let errors = MyAppConfig::loader()
        .profile(Profile::Production)
        .env_vars([
            ("MYAPP__WORKERS", "100"),
            ("MYAPP__MAX_UPLOAD_MB", "12"),
            ("MYAPP__BASE_URL", "http://app.example.com"),
            ("MYAPP__SECURITY__MFA__PERIOD", "5"),
        ])
        .load()
        .unwrap_err()
        .to_string();
    let lines: Vec<&str> = errors.lines().collect();
    assert_eq!(
        lines,
        [
            "environment variable MYAPP__BASE_URL: `base_url` must use https:// in production (plain http exposes what \
             is sent)",
            "environment variable MYAPP__WORKERS: `workers` is 100, which is outside 1..=64: choose a value in that range",
            "environment variable MYAPP__MAX_UPLOAD_MB: `max_upload_mb` is 12, which is not a power of two: use 1, 2, \
             4, 8, 16, ...",
            "environment variable MYAPP__SECURITY__MFA__PERIOD: `security.mfa.period` is 5, which is outside 15..=300: \
             choose a value in that range",
        ]
    );
    let errors = MyAppConfig::loader().env_vars([("MYAPP__BASE_URL", "")]).load().unwrap_err().to_string();
    assert_eq!(
        errors,
        "environment variable MYAPP__BASE_URL: `base_url` must not be empty: set it in the config file or the environment"
    );
}

#[test]
fn checks_of_nested_configs_carry_their_full_key() {
    let config = MyAppConfig::defaults(&Profile::Production);
    let report = config.run_checks(&Profile::Production);
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id.as_str()).collect();
    assert!(ids.contains(&"security.deployment.https_redirect"), "{ids:?}");
    assert!(ids.contains(&"token_signing_key"), "{ids:?}");
    let fix = report.checks.iter().find(|c| c.id == "security.deployment.playground").unwrap().fix.clone().unwrap();
    assert_eq!(fix.key, "security.deployment.playground");
    assert!(report.has_critical_failure());
}

#[test]
fn a_hardened_derived_config_passes_in_production_only_when_every_part_is_hardened() {
    let mut text = String::from("payment_api_key = \"pk_live_1\"\n");
    for line in HARDENED_STANDARD_TOML.lines() {
        // Nest the standard settings under `security`.
        match line.strip_prefix('[') {
            Some(header) => text.push_str(&format!("[security.{header}")),
            None => text.push_str(line),
        }
        text.push('\n');
    }
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
    let load = |extra: &[(&str, &str)]| {
        let mut env = vec![
            ("MYAPP__SECURITY__DEPLOYMENT__SECRET_KEY", TEST_SECRET_KEY),
            ("MYAPP__SECURITY__MFA__ENCRYPTION_KEY", TEST_ENCRYPTION_KEY),
            ("MYAPP__TOKEN_SIGNING_KEY", TEST_SECRET_KEY),
        ];
        env.extend_from_slice(extra);
        MyAppConfig::loader().profile(Profile::Production).file(file.path()).env_vars(env).load().unwrap()
    };
    let report = load(&[]).run_checks(&Profile::Production);
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    assert_eq!(report.score(), 10);
    let report = load(&[("MYAPP__TOKEN_SIGNING_KEY", "short")]).run_checks(&Profile::Production);
    assert!(report.has_critical_failure());
    let report = load(&[("MYAPP__SECURITY__DEPLOYMENT__PLAYGROUND", "true")]).run_checks(&Profile::Production);
    assert_eq!(report.failures()[0].id, "security.deployment.playground");
}

#[test]
fn written_config_loads_back_with_generated_secrets() {
    let mut config = MyAppConfig::defaults(&Profile::Production);
    config.generate_secrets();
    let key = config.token_signing_key.as_ref().unwrap().expose().to_owned();
    assert_eq!(key.len(), 64);
    assert!(key.chars().all(|c| c.is_ascii_alphanumeric()));
    let other = {
        let mut again = MyAppConfig::defaults(&Profile::Production);
        again.generate_secrets();
        again.token_signing_key.unwrap().expose().to_owned()
    };
    assert_ne!(key, other, "each generation is fresh");
    assert!(config.security.deployment.secret_key.is_some() && config.security.mfa.encryption_key.is_some());
    assert!(config.payment_api_key.is_none(), "only `generate` secrets are generated");

    let mut document = toml_edit::DocumentMut::new();
    config.write_toml(document.as_table_mut());
    let text = document.to_string();
    assert!(text.contains("# Worker threads.\nworkers = 8\n"), "{text}");
    assert!(text.contains("# The plugin's standard settings.\n[security]"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("myapp.toml");
    std::fs::write(&path, &text).unwrap();
    let loaded = MyAppConfig::loader().profile(Profile::Production).file(&path).env_vars([("X", "")]).load().unwrap();
    assert_eq!(loaded.token_signing_key.as_ref().unwrap().expose(), key);
    assert_eq!(loaded.workers, 8);
    assert_eq!(loaded.to_json_redacted(), config.to_json_redacted());
}
