use async_graphql::Context;
use rail_graphql_security::require_mfa;

struct Query;

impl Query {
    #[require_mfa]
    fn secret(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let _ = ctx;
        Ok(1)
    }
}

fn main() {}
