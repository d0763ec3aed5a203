//! Every option of both attributes on `#[Object]`, `#[ComplexObject]` and plain-context
//! resolvers, run for real.
use async_graphql::{ComplexObject, Context, EmptySubscription, Object, Request, Schema, SimpleObject};
use rail_graphql_security::context::{MfaState, Principal, SecurityContext};
use rail_graphql_security::guard::RequireMfa;
use rail_graphql_security::prelude::*;

#[derive(SimpleObject)]
#[graphql(complex)]
struct Profile {
    name: String,
}

#[ComplexObject]
impl Profile {
    #[require_mfa(max_age = "1h30m", allow_trusted_device = false, methods(totp, sms, backup_code))]
    #[audited(event = "profile_viewed", severity = "low")]
    async fn email(&self) -> String {
        format!("{}@example.com", self.name)
    }
}

struct Query;

#[Object]
impl Query {
    #[require_mfa]
    async fn plain(&self) -> i32 {
        1
    }

    #[require_mfa(max_age = "90s")]
    async fn with_ctx(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(ctx.data_opt::<SecurityContext>().is_some())
    }

    #[audited(fields(id))]
    async fn reference(&self, id: i32) -> Option<&str> {
        if id > 0 { Some("yes") } else { None }
    }

    async fn profile(&self) -> Profile {
        Profile { name: "alice".into() }
    }
}

struct Mutation;

#[Object]
impl Mutation {
    #[audited(event = "data_deleted", severity = "critical", fields(id, password), guard = "RequireMfa::new()")]
    #[require_mfa(max_age = "2d")]
    async fn delete_everything(&self, id: i32, password: String) -> async_graphql::Result<bool> {
        if password.is_empty() {
            return Err("password required".into());
        }
        let doubled: i32 = "21".parse::<i32>()? * 2;
        Ok(id + doubled > 0)
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let logger = AuditLogger::builder().build();
        let schema = Schema::build(Query, Mutation, EmptySubscription).data(logger.clone()).finish();
        let security = SecurityContext::authenticated(Principal::new(1, "alice"))
            .with_mfa(MfaState::verified(chrono::Utc::now(), MfaMethod::Totp));
        let query = r#"{ plain withCtx reference(id: 1) profile { email } }"#;
        let response = schema.execute(Request::new(query).data(security.clone())).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let mutation = r#"mutation { deleteEverything(id: 1, password: "x") }"#;
        let response = schema.execute(Request::new(mutation).data(security)).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let refused = schema.execute(Request::new("{ plain }")).await;
        assert_eq!(refused.errors.len(), 1);
        logger.shutdown().await.unwrap();
    });
}
