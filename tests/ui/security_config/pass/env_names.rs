//! Conventional variable names next to `PREFIX__SECTION__KEY`, on leaves and on nested keys.
use rail_graphql_security::SecurityConfig;
use rail_graphql_security::config::{Secret, StandardSecurityConfig};

#[derive(Debug, SecurityConfig)]
#[security(prefix = "APP")]
struct Config {
    #[security(default = "sqlite::memory:", env = "DATABASE_URL")]
    database_url: String,
    #[security(secret, env = "API_KEY")]
    api_key: Option<Secret>,
    #[security(nested, env(JWT_SECRET = "deployment.secret_key", LOGIN_LIMIT = "middleware.rate_limiting.login_attempts_limit"))]
    security: StandardSecurityConfig,
}

fn main() {
    let config = Config::loader()
        .env_vars([("DATABASE_URL", "postgres://db/app"), ("JWT_SECRET", "s3cret"), ("LOGIN_LIMIT", "7")])
        .load()
        .unwrap();
    assert_eq!(config.database_url, "postgres://db/app");
    assert_eq!(config.security.middleware.rate_limiting.login_attempts_limit, 7);
    let keys = Config::leaf_keys();
    let jwt = keys.iter().find(|k| k.key == "security.deployment.secret_key").unwrap();
    assert_eq!(jwt.env_aliases, ["JWT_SECRET"]);
    assert_eq!(jwt.env, "APP__SECURITY__DEPLOYMENT__SECRET_KEY");
}
