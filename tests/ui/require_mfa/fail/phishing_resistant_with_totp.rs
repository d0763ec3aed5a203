use async_graphql::Object;
use rail_graphql_security::require_mfa;

struct Query;

#[Object]
impl Query {
    #[require_mfa(phishing_resistant, methods(passkey, totp), allow_trusted_device = true)]
    async fn wire_transfer(&self) -> i32 {
        1
    }
}

fn main() {}
