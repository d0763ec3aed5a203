use async_graphql::Object;
use rail_graphql_security::audited;

struct Query;

#[Object]
impl Query {
    #[audited(severity = "hihg")]
    async fn report(&self) -> i32 {
        1
    }
}

fn main() {}
