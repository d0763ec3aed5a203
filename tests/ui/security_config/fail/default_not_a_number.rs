use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    #[security(default = "1.5")]
    ratio: f64,
}

fn main() {}
