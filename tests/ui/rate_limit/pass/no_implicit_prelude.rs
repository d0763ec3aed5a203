//! `#[rate_limit]`: generated code uses absolute paths and `__rail_*` names the user's own locals
//! do not clash with; `crate = ".."` points it at a re-export of the runtime.
#![no_implicit_prelude]

mod reexport {
    pub use ::rail_graphql_security as security;
}

struct Query;

impl Query {
    #[::rail_graphql_security::rate_limit(limit = 5, window = "1m", per = "user_and_ip", cost = 2, crate = "reexport::security")]
    async fn search(&self, ctx: &::async_graphql::Context<'_>) -> ::async_graphql::Result<i32> {
        let __rail_denied = 1;
        ::core::result::Result::Ok(__rail_denied)
    }
}

fn main() {
    let _ = Query::search;
}
