use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    #[security(production)]
    attempts: u32,
}

fn main() {}
