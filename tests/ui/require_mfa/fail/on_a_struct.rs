use rail_graphql_security::require_mfa;

#[require_mfa]
struct Secret {
    value: i32,
}

fn main() {
    let _ = Secret { value: 1 }.value;
}
