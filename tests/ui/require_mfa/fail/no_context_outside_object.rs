use rail_graphql_security::require_mfa;

struct Query;

impl Query {
    #[require_mfa]
    async fn secret(&self) -> async_graphql::Result<i32> {
        Ok(1)
    }
}

fn main() {}
