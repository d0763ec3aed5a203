use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    #[security(range = 1..=3)]
    name: String,
}

fn main() {}
