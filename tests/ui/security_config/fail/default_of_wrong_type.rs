use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    #[security(default = 5)]
    issuer: String,
}

fn main() {}
