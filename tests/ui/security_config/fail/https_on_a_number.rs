use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    #[security(https_in_production)]
    port: u16,
}

fn main() {}
