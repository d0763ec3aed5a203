use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Inner {
    on: bool,
}

#[derive(SecurityConfig)]
struct Config {
    #[security(nested, default = 1)]
    inner: Inner,
}

fn main() {}
