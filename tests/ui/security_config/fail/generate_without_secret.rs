use rail_graphql_security::SecurityConfig;
use rail_graphql_security::config::Secret;

#[derive(SecurityConfig)]
struct Config {
    #[security(generate)]
    api_key: Option<Secret>,
}

fn main() {}
