#[rail_graphql_security::security_user]
async fn current_user() -> i64 {
    7
}

fn main() {}
