use rail_graphql_security::SecurityConfig;
use rail_graphql_security::config::Secret;

#[derive(SecurityConfig)]
struct Config {
    #[security(secret, production = "s3cr3t")]
    api_key: Option<Secret>,
}

fn main() {}
