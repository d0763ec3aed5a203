//! A sample application's own config, derived with `#[derive(SecurityConfig)]` and embedding
//! the standard config; `src/bin/myapp-security.rs` mounts the `check`/`setup` commands for it.

use rail_graphql_security::config::{Check, Checklist, Secret, SecurityConfig, Severity, StandardSecurityConfig};

/// The sample app's config (`MYAPP__...` variables).
#[derive(Debug, Clone, SecurityConfig)]
#[security(prefix = "MYAPP", check = check_app)]
pub struct MyAppConfig {
    /// Public base URL of the app.
    #[security(
        default = "http://localhost:8080",
        production = "https://app.example.com",
        https_in_production,
        non_empty
    )]
    pub base_url: String,
    /// Worker threads.
    #[security(default = 4, production = 8, profile(qa = 2), range = 1..=64)]
    pub workers: u32,
    /// Largest upload in megabytes.
    #[security(default = 16, validate = validate_upload)]
    pub max_upload_mb: u32,
    /// API key of the payment provider.
    #[security(secret, env = "PAYMENT_API_KEY")]
    pub payment_api_key: Option<Secret>,
    /// Signs the app's own tokens.
    #[security(secret, generate)]
    pub token_signing_key: Option<Secret>,
    /// The plugin's standard settings.
    #[security(nested, env(LOGIN_ATTEMPTS_LIMIT = "middleware.rate_limiting.login_attempts_limit"))]
    pub security: StandardSecurityConfig,
}

fn validate_upload(megabytes: &u32) -> Result<(), String> {
    if megabytes.is_power_of_two() {
        Ok(())
    } else {
        Err(format!("is {megabytes}, which is not a power of two: use 1, 2, 4, 8, 16, ..."))
    }
}

fn check_app(config: &MyAppConfig, checks: &mut Checklist) {
    let strong = config.token_signing_key.as_ref().is_some_and(|k| k.expose().len() >= 32);
    let severity = checks.production_severity();
    checks.push(
        Check::new(
            checks.key("token_signing_key"),
            strong,
            if strong { "Token signing key is strong" } else { "Token signing key is missing or short" },
        )
        .severity(severity)
        .recommend("Set token_signing_key to 32+ random characters (`setup` generates one)")
        .why("Tokens signed with a weak key can be forged."),
    );
    let production = checks.profile().is_production();
    checks.push(
        Check::new(
            checks.key("payment_api_key"),
            !production || config.payment_api_key.is_some(),
            if config.payment_api_key.is_some() { "Payment API key is set" } else { "Payment API key is not set" },
        )
        .severity(Severity::Warning)
        .recommend("Set MYAPP__PAYMENT_API_KEY"),
    );
}

/// A production config for the standard settings that passes every check (keys excluded: give
/// them through the environment or append them).
pub const HARDENED_STANDARD_TOML: &str = r#"# Hardened production settings
[middleware.rate_limiting]
enabled = true

[mfa]
enabled = true

[mfa.sms]
provider = "twilio"
twilio_account_sid = "AC123"
twilio_auth_token = "test-auth-token"
twilio_from_number = "+15550100"
allowed_country_codes = ["1"]

[audit]
enabled = true
retention_days = 365
webhook_url = "https://siem.example.com/hook"
checkpoint_signing_key = "Qm7vX2kP9tLw4Rz8Nc3Hy6Jb1Fd5Gs0A"
checkpoint_anchor_path = "/var/lib/myapp/audit-anchors.jsonl"

[deployment]
allowed_hosts = ["api.example.com"]
allowed_origins = ["https://app.example.com"]
behind_proxy = true
trusted_proxies = ["10.0.0.1"]
"#;

/// A strong secret key for tests (64 varied characters, no placeholder words).
pub const TEST_SECRET_KEY: &str = "k8Jq2LmN4pR7sT9vW1xY3zA5bC6dE8fG0hJ2kL4mN6pQ8rS0tU2vW4xY6zA8bC0d";
/// A strong encryption key for tests (32 bytes, base64).
pub const TEST_ENCRYPTION_KEY: &str = "WnI3WXEzWHA5V281Vm4xVW04VGw0U2swUmo2UWkyUGg=";
