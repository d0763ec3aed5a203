use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    #[security(secret)]
    api_key: String,
}

fn main() {}
