use async_graphql::Context;
use rail_graphql_security::rate_limit;

struct Query;

impl Query {
    #[rate_limit(limit = 5)]
    async fn secret(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let _ = ctx;
        Ok(1)
    }
}

fn main() {}
