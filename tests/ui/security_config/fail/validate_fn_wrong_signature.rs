use rail_graphql_security::SecurityConfig;

fn positive(value: &i64) -> bool {
    *value > 0
}

#[derive(SecurityConfig)]
struct Config {
    #[security(validate = positive)]
    count: u32,
}

fn main() {}
