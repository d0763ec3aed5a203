use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    #[security(default = "yes")]
    enabled: bool,
}

fn main() {}
