use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    #[security(default = 5)]
    #[security(default = 6)]
    attempts: u32,
}

fn main() {}
