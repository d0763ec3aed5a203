//! The three resolver attributes stacked, as in an application: absolute paths only.
#![no_implicit_prelude]

struct Query;

impl Query {
    #[::rail_graphql_security::rate_limit(limit = 5, window = "1m", per = "user_and_ip", cost = 2)]
    #[::rail_graphql_security::require_mfa(max_age = "15m", methods(totp))]
    #[::rail_graphql_security::audited(event = "hygienic", severity = "high", fields(amount))]
    async fn payout(&self, ctx: &::async_graphql::Context<'_>, amount: i32) -> ::async_graphql::Result<i32> {
        let __rail_call = amount;
        let __rail_result = __rail_call;
        ::core::result::Result::Ok(__rail_result)
    }
}

fn main() {
    let _ = Query::payout;
}
