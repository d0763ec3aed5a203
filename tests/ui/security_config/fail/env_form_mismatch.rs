use rail_graphql_security::SecurityConfig;
use rail_graphql_security::config::StandardSecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    #[security(default = "x", env(DATABASE_URL = "url"))]
    database_url: String,
    #[security(nested, env = "SECURITY")]
    security: StandardSecurityConfig,
    #[security(default = 1, env = "PORT")]
    port: u16,
    #[security(default = 2, env = "PORT")]
    admin_port: u16,
}

fn main() {}
