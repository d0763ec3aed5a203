use rail_graphql_security::SecurityConfig;
use rail_graphql_security::config::Secret;

#[derive(SecurityConfig)]
struct Config {
    #[security(secret, profile(qa = "test-key"))]
    api_key: Option<Secret>,
}

fn main() {}
