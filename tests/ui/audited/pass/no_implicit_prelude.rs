//! `#[audited]` on a resolver: generated code uses absolute paths and `__rail_*` names the user's
//! own locals do not clash with; `crate = ".."` points it at a re-export of the runtime.
#![no_implicit_prelude]

mod reexport {
    pub use ::rail_graphql_security as security;
}

struct Query;

impl Query {
    #[::rail_graphql_security::audited(event = "hygienic", severity = "high", fields(amount), crate = "reexport::security")]
    async fn payout(&self, ctx: &::async_graphql::Context<'_>, amount: i32) -> ::async_graphql::Result<i32> {
        let __rail_call = amount;
        let __rail_result = __rail_call;
        ::core::result::Result::Ok(__rail_result)
    }
}

fn main() {
    let _ = Query::payout;
}
