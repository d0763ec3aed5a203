use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    #[security(profile(production = 3))]
    attempts: u32,
}

fn main() {}
