use rail_graphql_security::SecurityConfig;
use rail_graphql_security::config::StandardSecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    #[security(default = "x", env = "database-url")]
    database_url: String,
    #[security(nested, env(JWT_SECRET = "Deployment..secret_key"))]
    security: StandardSecurityConfig,
}

fn main() {}
