use async_graphql::Context;
use rail_graphql_security::require_mfa;

#[require_mfa]
async fn secret(ctx: &Context<'_>) -> async_graphql::Result<i32> {
    let _ = ctx;
    Ok(1)
}

fn main() {}
