use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    #[security(dfault = 5)]
    attempts: u32,
}

fn main() {}
