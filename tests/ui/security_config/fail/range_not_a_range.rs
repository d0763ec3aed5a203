use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    #[security(range = 10)]
    attempts: u32,
}

fn main() {}
