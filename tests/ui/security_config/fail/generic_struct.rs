use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Config<T> {
    value: T,
}

fn main() {}
