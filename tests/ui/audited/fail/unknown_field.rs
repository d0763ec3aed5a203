use async_graphql::Object;
use rail_graphql_security::audited;

struct Mutation;

#[Object]
impl Mutation {
    #[audited(fields(amount, pasword))]
    async fn payout(&self, amount: i32, password: String) -> bool {
        amount > 0 && !password.is_empty()
    }
}

fn main() {}
