use async_graphql::Object;
use rail_graphql_security::require_mfa;

struct Query;

#[Object]
impl Query {
    #[require_mfa(methods(totp, smss))]
    async fn secret(&self) -> i32 {
        1
    }
}

fn main() {}
