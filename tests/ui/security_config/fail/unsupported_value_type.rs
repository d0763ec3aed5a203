use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    limits: std::collections::HashMap<String, u32>,
}

fn main() {}
