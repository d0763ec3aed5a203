use rail_graphql_security::SecurityConfig;
use rail_graphql_security::config::StandardSecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    #[security(default = "x", env(DATABASE_URL = "url"))]
    database_url: String,
    #[security(nested, env = "SECURITY")]
    security: StandardSecurityConfig,
    #[security(default = 1, env = "DATABASE_URL")]
    port: u16,
}

fn main() {}
