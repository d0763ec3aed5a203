//! A user's config embedding the standard one loads nested env vars under its own prefix.
use rail_graphql_security::config::{Profile, SecurityConfig, StandardSecurityConfig};

#[derive(Debug, SecurityConfig)]
#[security(prefix = "APP")]
struct AppConfig {
    #[security(nested)]
    security: StandardSecurityConfig,
    #[security(default = 2)]
    replicas: u8,
}

fn main() {
    let config = AppConfig::loader()
        .profile(Profile::Production)
        .env_vars([("APP__SECURITY__MFA__DIGITS", "8"), ("APP__REPLICAS", "3")])
        .load()
        .unwrap();
    assert_eq!(config.security.get_mfa_config().digits, 8);
    assert_eq!(config.replicas, 3);
}
