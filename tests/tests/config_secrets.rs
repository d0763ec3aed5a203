//! Secrets in the config never reach Debug, Display, serialized output, errors or logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use rail_graphql_security::config::{Profile, SecurityConfig, StandardSecurityConfig};

const FILE_SECRET: &str = "file-secret-key-9f8e7d6c5b4a39281706f5e4d3c2b1a0ZYXWVUTSRQPONM";
const ENV_SECRET: &str = "ZW52LWVuY3J5cHRpb24ta2V5LVF3M3JUeTh1STBvUDE=";
const HEADER_SECRET: &str = "Bearer header-token-77aa88bb";
const TWILIO_SECRET: &str = "twilio-token-5566";
const STORE_SECRET: &str = "redis://:store-password-1234@127.0.0.1:6379";

fn loaded() -> StandardSecurityConfig {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    write!(
        file,
        "[deployment]\nsecret_key = \"{FILE_SECRET}\"\n\n[audit]\nwebhook_headers = {{ Authorization = \"{HEADER_SECRET}\" }}\n"
    )
    .unwrap();
    StandardSecurityConfig::loader()
        .profile(Profile::Production)
        .file(file.path())
        .env_vars([
            ("RAIL_SECURITY__MFA__ENCRYPTION_KEY", ENV_SECRET),
            ("RAIL_SECURITY__MFA__SMS__TWILIO_AUTH_TOKEN", TWILIO_SECRET),
            ("RAIL_SECURITY__MIDDLEWARE__RATE_LIMITING__STORE_URL", STORE_SECRET),
        ])
        .load()
        .unwrap()
}

fn assert_no_secret(text: &str) {
    for secret in [FILE_SECRET, ENV_SECRET, HEADER_SECRET, "header-token", TWILIO_SECRET, "store-password"] {
        assert!(!text.contains(secret), "secret {secret:?} leaked in: {text}");
    }
}

#[test]
fn secrets_are_loaded_but_never_printed() {
    let config = loaded();
    assert_eq!(config.deployment.secret_key.as_ref().unwrap().expose(), FILE_SECRET);
    assert_eq!(config.mfa.encryption_key.as_ref().unwrap().expose(), ENV_SECRET);
    assert_eq!(config.audit.webhook_headers["Authorization"].expose(), HEADER_SECRET);
    assert_eq!(config.mfa.sms.twilio_auth_token.as_ref().unwrap().expose(), TWILIO_SECRET);

    let debug = format!("{config:?} {config:#?}");
    assert_no_secret(&debug);
    assert!(debug.contains("[REDACTED]"));
    let json = serde_json::to_string(&config).unwrap();
    assert_no_secret(&json);
    assert!(json.contains(r#""secret_key":"[REDACTED]""#), "{json}");
    let redacted = config.to_json_redacted().to_string();
    assert_no_secret(&redacted);
    assert_eq!(config.to_json_redacted()["mfa"]["encryption_key"], "[REDACTED]");
    // Unset secrets stay distinguishable from set ones.
    assert_eq!(config.to_json_redacted()["mfa"]["sms"]["sns_secret_access_key"], serde_json::Value::Null);
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn secrets_never_reach_log_lines() {
    let config = loaded();
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt().json().with_writer(move || writer.clone()).finish();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(config = ?config, secret_key = %config.deployment.secret_key.as_ref().unwrap(), "loaded");
        tracing::warn!(headers = ?config.audit.webhook_headers, "webhook");
    });
    let logged = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("loaded") && logged.contains("[REDACTED]"), "{logged}");
    assert_no_secret(&logged);
}

#[test]
fn rejected_secret_values_are_not_quoted_in_errors() {
    let result = StandardSecurityConfig::loader()
        .env_vars([("RAIL_SECURITY__AUDIT__WEBHOOK_HEADERS", "header-token-77aa88bb is not a table")])
        .load();
    let errors = result.unwrap_err();
    let message = errors.to_string();
    assert_eq!(
        message,
        "environment variable RAIL_SECURITY__AUDIT__WEBHOOK_HEADERS: `audit.webhook_headers` must be a table of \
         string (secret), found a value that is not shown because it is secret"
    );
    assert_no_secret(&format!("{errors:?}"));

    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    write!(file, "[deployment]\nsecret_key = [\"{FILE_SECRET}\"]\n").unwrap();
    let errors = StandardSecurityConfig::loader().env_vars([("X", "y")]).file(file.path()).load().unwrap_err();
    assert!(errors.to_string().ends_with("`deployment.secret_key` must be a string (secret), found a list"));
    assert_no_secret(&format!("{errors} {errors:?}"));
}
