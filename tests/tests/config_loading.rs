//! Layered loading of the standard config: profile defaults < TOML file < environment variables,
//! and errors that name the source, the key and the expected type.

use std::io::Write;

use rail_graphql_security::audit::StorageBackend;
use rail_graphql_security::config::{ConfigError, Profile, SecurityConfig, Source, StandardSecurityConfig};

fn file(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(contents.as_bytes()).unwrap();
    file
}

fn no_env() -> [(&'static str, &'static str); 0] {
    []
}

#[test]
fn each_profile_has_its_own_defaults() {
    let dev = StandardSecurityConfig::defaults(&Profile::Development);
    let staging = StandardSecurityConfig::defaults(&Profile::Staging);
    let prod = StandardSecurityConfig::defaults(&Profile::Production);
    let qa = StandardSecurityConfig::defaults(&Profile::Custom("qa".into()));

    // Rate limits are on in every profile (the demo server runs with limits in development).
    assert!(dev.middleware.rate_limiting.enabled && staging.middleware.rate_limiting.enabled);
    assert_eq!(dev.middleware.rate_limiting.graphql_requests_limit, 1000);
    assert_eq!(prod.middleware.rate_limiting.login_ip_attempts_limit, 20);
    assert_eq!(dev.middleware.rate_limiting.login_attempts_limit, 5);
    assert_eq!(prod.middleware.rate_limiting.login_attempts_limit, 3);
    assert_eq!(prod.middleware.rate_limiting.login_attempts_window, 1800);
    assert_eq!(dev.audit.storage_backend, [StorageBackend::Database]);
    assert_eq!(prod.audit.storage_backend, [StorageBackend::Database]);
    assert_eq!(dev.audit.retention_days, 30);
    assert_eq!(prod.audit.retention_days, 365);
    assert!(!dev.mfa.enabled && prod.mfa.enabled);
    assert!(dev.deployment.introspection && !prod.deployment.introspection);
    assert_eq!(prod.deployment.max_request_body_bytes, 1_048_576);
    assert!(!prod.deployment.multipart);
    assert!(prod.deployment.hsts_preload && !staging.deployment.hsts_preload);
    assert_eq!(dev.deployment.allowed_hosts, ["localhost", "127.0.0.1"]);
    assert!(prod.deployment.allowed_hosts.is_empty());
    // A custom profile takes the `default` values.
    assert!(qa.middleware.rate_limiting.enabled);
    assert_eq!(qa.middleware.rate_limiting.login_attempts_limit, 5);
    assert!(!qa.deployment.introspection);
}

#[test]
fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
    let toml = file(
        r#"
[middleware.rate_limiting]
login_attempts_limit = 7
graphql_requests_limit = 500

[mfa]
issuer = "From File"
digits = 8
"#,
    );
    let loaded = StandardSecurityConfig::loader()
        .profile(Profile::Production)
        .file(toml.path())
        .env_vars([
            ("RAIL_SECURITY__MIDDLEWARE__RATE_LIMITING__LOGIN_ATTEMPTS_LIMIT", "9"),
            ("RAIL_SECURITY__MFA__ISSUER", "From Env"),
            ("UNRELATED__MFA__DIGITS", "not a number"),
        ])
        .load_with_origins()
        .unwrap();
    let config = &loaded.config;
    // env > file > default
    assert_eq!(config.middleware.rate_limiting.login_attempts_limit, 9);
    assert_eq!(config.middleware.rate_limiting.graphql_requests_limit, 500);
    assert_eq!(config.middleware.rate_limiting.login_attempts_window, 1800);
    assert_eq!(config.mfa.issuer, "From Env");
    assert_eq!(config.mfa.digits, 8);
    assert_eq!(
        loaded.origins["middleware.rate_limiting.login_attempts_limit"],
        Source::Env("RAIL_SECURITY__MIDDLEWARE__RATE_LIMITING__LOGIN_ATTEMPTS_LIMIT".into())
    );
    assert_eq!(loaded.origins["mfa.digits"], Source::File { path: toml.path().to_owned(), line: Some(8) });
    assert!(!loaded.origins.contains_key("mfa.period"));
}

#[test]
fn env_vars_set_nested_keys_lists_maps_and_options() {
    let config = StandardSecurityConfig::loader()
        .profile(Profile::Development)
        .env_vars([
            ("RAIL_SECURITY__DEPLOYMENT__ALLOWED_HOSTS", "api.example.com, www.example.com"),
            ("RAIL_SECURITY__DEPLOYMENT__TRUSTED_PROXIES", r#"["10.0.0.1", "10.0.0.2"]"#),
            ("RAIL_SECURITY__AUDIT__STORAGE_BACKEND", "database,webhook"),
            ("RAIL_SECURITY__AUDIT__WEBHOOK_URL", "https://siem.example.com/hook"),
            ("RAIL_SECURITY__AUDIT__WEBHOOK_HEADERS", r#"{ Authorization = "Bearer abc" }"#),
            ("RAIL_SECURITY__AUDIT__ALERT_THRESHOLDS__FAILED_LOGINS_PER_HOUR", "3"),
            ("RAIL_SECURITY__MIDDLEWARE__PERFORMANCE__SLOW_QUERY_THRESHOLD", "0.25"),
            ("RAIL_SECURITY__DEPLOYMENT__BEHIND_PROXY", "on"),
            ("RAIL_SECURITY__MFA__SMS__PROVIDER", "twilio"),
        ])
        .load()
        .unwrap();
    assert_eq!(config.deployment.allowed_hosts, ["api.example.com", "www.example.com"]);
    assert_eq!(config.deployment.trusted_proxies, ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(config.audit.storage_backend, [StorageBackend::Database, StorageBackend::Webhook]);
    assert_eq!(config.audit.webhook_url.as_ref().map(|u| u.expose()), Some("https://siem.example.com/hook"));
    assert_eq!(config.audit.webhook_headers["Authorization"].expose(), "Bearer abc");
    assert_eq!(config.audit.alert_thresholds.failed_logins_per_hour, 3);
    assert!((config.middleware.performance.slow_query_threshold - 0.25).abs() < f64::EPSILON);
    assert!(config.deployment.behind_proxy);
    assert_eq!(config.mfa.sms.provider, rail_graphql_security::config::standard::SmsProviderKind::Twilio);
    // An empty variable unsets an option.
    let config = StandardSecurityConfig::loader()
        .env_vars([("RAIL_SECURITY__AUDIT__WEBHOOK_URL", "")])
        .file(file("[audit]\nwebhook_url = \"https://a.example\"\n").path())
        .load()
        .unwrap();
    assert!(config.audit.webhook_url.is_none());
}

#[test]
fn the_profile_and_file_come_from_the_environment() {
    let toml = file("[deployment]\nmax_query_depth = 7\n");
    let path = toml.path().to_str().unwrap().to_owned();
    let loaded = StandardSecurityConfig::loader()
        .env_vars([("RAIL_SECURITY_ENV", "production"), ("RAIL_SECURITY_CONFIG", path.as_str())])
        .load_with_origins()
        .unwrap();
    assert_eq!(loaded.profile, Profile::Production);
    assert_eq!(loaded.file.as_deref(), Some(toml.path()));
    assert_eq!(loaded.config.deployment.max_query_depth, 7);
    assert!(loaded.config.mfa.enabled);

    // An explicit profile wins over the variable; a custom name is accepted.
    let loaded = StandardSecurityConfig::loader()
        .profile(Profile::Custom("qa".into()))
        .env_vars([("RAIL_SECURITY_ENV", "production")])
        .load_with_origins()
        .unwrap();
    assert_eq!(loaded.profile.name(), "qa");

    let loaded = StandardSecurityConfig::loader().env_vars(no_env()).load_with_origins().unwrap();
    assert_eq!(loaded.profile, Profile::Development);
    assert_eq!(loaded.file, None);
}

fn errors_of(result: Result<StandardSecurityConfig, rail_graphql_security::config::ConfigErrors>) -> Vec<String> {
    result.unwrap_err().errors().iter().map(ToString::to_string).collect()
}

#[test]
fn a_wrong_type_in_the_file_names_the_file_line_key_and_expected_type() {
    let toml = file("[mfa]\nenabled = true\ndigits = \"six\"\n");
    let errors = errors_of(StandardSecurityConfig::loader().env_vars(no_env()).file(toml.path()).load());
    assert_eq!(errors.len(), 1, "{errors:?}");
    let expected = format!(
        "{}:3: `mfa.digits` must be an integer between 0 and 4294967295, found a string",
        toml.path().display()
    );
    assert_eq!(errors[0], expected);
}

#[test]
fn an_unknown_key_is_rejected_with_the_keys_that_exist() {
    let toml = file("[middleware.rate_limiting]\nenabld = true\n");
    let errors = errors_of(StandardSecurityConfig::loader().env_vars(no_env()).file(toml.path()).load());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(&format!("{}:2: unknown key `middleware.rate_limiting.enabld`", toml.path().display()))
    );
    assert!(
        errors[0].contains("; did you mean `enabled`? expected one of: enabled, login_attempts_limit"),
        "{}",
        errors[0]
    );
    // No suggestion when nothing is close.
    let toml = file("[mfa]\nfrobnicate = 1\n");
    let errors = errors_of(StandardSecurityConfig::loader().env_vars(no_env()).file(toml.path()).load());
    assert!(errors[0].contains("unknown key `mfa.frobnicate`; expected one of: enabled, issuer"), "{}", errors[0]);

    let errors = errors_of(StandardSecurityConfig::loader().env_vars([("RAIL_SECURITY__MFA__DIGIT", "6")]).load());
    assert_eq!(
        errors[0],
        "environment variable RAIL_SECURITY__MFA__DIGIT: unknown key `mfa.digit`; did you mean `digits`? expected one \
         of: enabled, issuer, digits, period, backup_codes_count, backup_code_length, trusted_device_days, \
         required_for_roles, max_consecutive_failures, max_pending_devices, pending_session_policy, \
         step_up_window_seconds, sms, passkeys, encryption_key, previous_encryption_keys"
    );
}

#[test]
fn a_wrong_type_in_an_env_var_names_the_variable_and_quotes_the_value() {
    let errors = errors_of(
        StandardSecurityConfig::loader()
            .env_vars([("RAIL_SECURITY__MIDDLEWARE__AUTHENTICATION__ENABLED", "maybe")])
            .load(),
    );
    assert_eq!(
        errors,
        [
            "environment variable RAIL_SECURITY__MIDDLEWARE__AUTHENTICATION__ENABLED: `middleware.authentication.enabled` \
          must be a boolean (true or false), found `maybe`"
        ]
    );
}

/// Found by an attack on the CLI: an all-digit secret parses as a TOML integer, and the
/// type error quoted it (`found the integer 123456789`).
#[test]
fn a_secret_of_the_wrong_type_is_not_quoted() {
    let toml = file("[audit]\ncheckpoint_signing_key = 123456789\nwebhook_secret = 1234.5678\n");
    let errors = errors_of(StandardSecurityConfig::loader().env_vars(no_env()).file(toml.path()).load());
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].ends_with("`audit.checkpoint_signing_key` must be a string (secret), found an integer"),
        "{errors:?}"
    );
    assert!(errors[1].ends_with("found a number"), "{errors:?}");
    assert!(errors.iter().all(|e| !e.contains("123456789") && !e.contains("1234.5678")), "{errors:?}");
}

#[test]
fn sections_and_values_cannot_be_swapped() {
    let errors = errors_of(StandardSecurityConfig::loader().env_vars([("RAIL_SECURITY__MFA", "true")]).load());
    assert!(
        errors[0]
            .contains("`mfa` is a section, not a value: set one of its keys instead, e.g. RAIL_SECURITY__MFA__ENABLED"),
        "{errors:?}"
    );
    let errors = errors_of(StandardSecurityConfig::loader().env_vars([("RAIL_SECURITY__MFA__DIGITS__X", "6")]).load());
    assert!(errors[0].contains("`mfa.digits` is a value, not a section"), "{errors:?}");
    let toml = file("mfa = 3\n");
    let errors = errors_of(StandardSecurityConfig::loader().env_vars(no_env()).file(toml.path()).load());
    assert!(errors[0].ends_with("`mfa` must be a table (a `[section]`), found the integer 3"), "{errors:?}");
    let toml = file("[mfa.digits]\nx = 1\n");
    let errors = errors_of(StandardSecurityConfig::loader().env_vars(no_env()).file(toml.path()).load());
    assert!(
        errors[0].ends_with("`mfa.digits` must be an integer between 0 and 4294967295, found a table"),
        "{errors:?}"
    );
    let errors = errors_of(StandardSecurityConfig::loader().env_vars([("RAIL_SECURITY____MFA", "1")]).load());
    assert!(errors[0].contains("exactly two underscores"), "{errors:?}");
}

#[test]
fn every_error_is_reported_at_once() {
    let toml = file("[mfa]\ndigits = 12\nperiod = \"x\"\nbogus = 1\n");
    let errors = errors_of(
        StandardSecurityConfig::loader()
            .env_vars([("RAIL_SECURITY__AUDIT__RETENTION_DAYS", "0")])
            .file(toml.path())
            .load(),
    );
    assert_eq!(errors.len(), 4, "{errors:?}");
    let path = toml.path().display().to_string();
    assert!(
        errors.contains(&format!(
            "{path}:3: `mfa.period` must be an integer between 0 and 18446744073709551615, found a string"
        )),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.starts_with(&format!("{path}:4: unknown key `mfa.bogus`"))), "{errors:?}");
    // Validation errors name where the bad value came from.
    assert!(
        errors.contains(&format!("{path}:2: `mfa.digits` must be 6 or 8 (the lengths authenticator apps support)")),
        "{errors:?}"
    );
    assert!(errors.contains(&"environment variable RAIL_SECURITY__AUDIT__RETENTION_DAYS: `audit.retention_days` is 0, which is outside 1..=36500: choose a value in that range".to_owned()), "{errors:?}");
}

#[test]
fn validation_rules_depend_on_the_profile() {
    let env = [("RAIL_SECURITY__AUDIT__WEBHOOK_URL", "http://siem.example.com/hook")];
    assert!(StandardSecurityConfig::loader().profile(Profile::Staging).env_vars(env).load().is_ok());
    let errors = errors_of(StandardSecurityConfig::loader().profile(Profile::Production).env_vars(env).load());
    assert_eq!(
        errors,
        [
            "environment variable RAIL_SECURITY__AUDIT__WEBHOOK_URL: `audit.webhook_url` must use https:// in production \
          (plain http exposes what is sent)"
        ]
    );
    let errors = errors_of(StandardSecurityConfig::loader().env_vars([("RAIL_SECURITY__MFA__ISSUER", "  ")]).load());
    assert!(
        errors[0].ends_with("`mfa.issuer` must be non-empty and must not contain ':' (Key URI format)"),
        "{errors:?}"
    );
}

#[test]
fn bad_files_and_profiles_give_one_line_errors() {
    let missing = StandardSecurityConfig::loader().env_vars(no_env()).file("/nonexistent/security.toml").load();
    let message = missing.unwrap_err().to_string();
    assert!(message.starts_with("cannot read config file /nonexistent/security.toml: "), "{message}");
    assert!(!message.contains('\n'));

    let toml = file("[mfa]\ndigits = = 6\n");
    let errors = errors_of(StandardSecurityConfig::loader().env_vars(no_env()).file(toml.path()).load());
    assert!(errors[0].starts_with(&format!("{}:2: invalid TOML: ", toml.path().display())), "{errors:?}");
    assert!(!errors[0].contains('\n'), "{errors:?}");

    let errors = errors_of(StandardSecurityConfig::loader().env_vars([("RAIL_SECURITY_ENV", "Prod!")]).load());
    assert!(
        errors[0].starts_with("environment variable RAIL_SECURITY_ENV: `Prod!` is not a profile name"),
        "{errors:?}"
    );
    assert!(matches!(
        StandardSecurityConfig::loader().env_vars([("RAIL_SECURITY_ENV", "Prod!")]).load().unwrap_err().errors()[0],
        ConfigError::Profile { .. }
    ));
}

#[test]
fn a_nats_backend_needs_a_nats_url_and_a_spool_of_its_own() {
    let errors = errors_of(
        StandardSecurityConfig::loader().env_vars([("RAIL_SECURITY__AUDIT__STORAGE_BACKEND", "database,nats")]).load(),
    );
    assert_eq!(
        errors,
        ["environment variable RAIL_SECURITY__AUDIT__STORAGE_BACKEND: `audit` lists `nats` in storage_backend but \
             nats_url is not set: set it (nats://host:4222) or remove `nats`"]
    );
    let errors = errors_of(
        StandardSecurityConfig::loader()
            .env_vars([
                ("RAIL_SECURITY__AUDIT__STORAGE_BACKEND", "webhook,nats"),
                ("RAIL_SECURITY__AUDIT__WEBHOOK_URL", "https://siem.example.com/hook"),
                ("RAIL_SECURITY__AUDIT__NATS_URL", "nats://127.0.0.1:4222"),
                ("RAIL_SECURITY__AUDIT__NATS_SPOOL_DIR", "audit-spool"),
            ])
            .load(),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .ends_with("webhook_spool_dir and nats_spool_dir are the same directory: give each backend its own spool"),
        "{errors:?}"
    );
    let config = StandardSecurityConfig::loader()
        .env_vars([
            ("RAIL_SECURITY__AUDIT__STORAGE_BACKEND", "nats"),
            ("RAIL_SECURITY__AUDIT__NATS_URL", "nats://audit:pa55word@127.0.0.1:4222"),
        ])
        .load()
        .unwrap();
    assert_eq!(config.audit.storage_backend, [StorageBackend::Nats]);
    assert_eq!((config.audit.nats_stream.as_str(), config.audit.nats_subject_prefix.as_str()), ("AUDIT", "audit"));
    assert!(!format!("{config:?}").contains("pa55word"), "the url is a secret");
}

#[test]
fn a_webhook_backend_needs_a_webhook_url() {
    let errors = errors_of(
        StandardSecurityConfig::loader()
            .env_vars([("RAIL_SECURITY__AUDIT__STORAGE_BACKEND", "database,webhook")])
            .load(),
    );
    assert_eq!(
        errors,
        ["environment variable RAIL_SECURITY__AUDIT__STORAGE_BACKEND: `audit` lists `webhook` in storage_backend but \
             webhook_url is not set: set it (https://...) or remove `webhook`"]
    );
    let config = StandardSecurityConfig::loader()
        .env_vars([
            ("RAIL_SECURITY__AUDIT__STORAGE_BACKEND", "database,webhook"),
            ("RAIL_SECURITY__AUDIT__WEBHOOK_URL", "https://siem.example.com/hook"),
        ])
        .load()
        .unwrap();
    assert!(config.audit.storage_backend.contains(&StorageBackend::Webhook));
}

#[test]
fn env_vars_set_single_entries_of_a_table() {
    let toml = file("[audit]\nwebhook_headers = { x-team = \"sec\" }\n");
    let loaded = StandardSecurityConfig::loader()
        .file(toml.path())
        .env_vars([("RAIL_SECURITY__AUDIT__WEBHOOK_HEADERS__AUTHORIZATION", "Bearer from-env")])
        .load_with_origins()
        .unwrap();
    let headers = &loaded.config.audit.webhook_headers;
    assert_eq!(headers.len(), 2);
    assert_eq!(headers["x-team"].expose(), "sec");
    assert_eq!(headers["authorization"].expose(), "Bearer from-env");
    assert_eq!(
        loaded.origins["audit.webhook_headers.authorization"],
        Source::Env("RAIL_SECURITY__AUDIT__WEBHOOK_HEADERS__AUTHORIZATION".into())
    );
    // Deeper paths are still rejected.
    let errors = errors_of(
        StandardSecurityConfig::loader().env_vars([("RAIL_SECURITY__AUDIT__WEBHOOK_HEADERS__A__B", "x")]).load(),
    );
    assert!(errors[0].contains("`audit.webhook_headers` is a value, not a section"), "{errors:?}");
    // A scalar still has no entries.
    let errors = errors_of(StandardSecurityConfig::loader().env_vars([("RAIL_SECURITY__MFA__ISSUER__X", "x")]).load());
    assert!(errors[0].contains("`mfa.issuer` is a value, not a section"), "{errors:?}");
}
