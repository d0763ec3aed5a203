//! `#[rate_limit]` through real GraphQL requests on every path that reaches a resolver: a direct
//! query (aliases in one request), a field reached through an interface, a federation entity
//! resolver, a `MergedObject` root, a `#[ComplexObject]` field and a mutation with a cost; keyed
//! per user, address, both or overall; in memory and shared through Redis. Each refusal is
//! `RATE_LIMITED` with `retryAfter`, and each window's first refusal is audited once.

use async_graphql::{
    ComplexObject, EmptySubscription, ID, Interface, MergedObject, Object, Request, Schema, SimpleObject,
};
use rail_graphql_security::audit::{AuditEvent, AuditLogger};
use rail_graphql_security::context::{MfaState, Principal, SecurityContext};
use rail_graphql_security::mfa::MfaMethod;
use rail_graphql_security::prelude::{audited, rate_limit, require_mfa};
use rail_graphql_security::rate_limit::RateLimiter;
use serde_json::{Value, json};

use rail_graphql_security::audit::MemorySink;

#[derive(Debug, Clone)]
struct Account {
    id: ID,
}

#[Object]
impl Account {
    async fn id(&self) -> &ID {
        &self.id
    }

    /// No context parameter: `#[Object]` inserts one.
    #[rate_limit(limit = 2, window = "1m")]
    async fn balance(&self) -> i32 {
        1200
    }
}

#[derive(Interface)]
#[graphql(field(name = "balance", ty = "i32"))]
enum Node {
    Account(Account),
}

#[derive(SimpleObject)]
#[graphql(complex)]
struct Profile {
    name: String,
}

#[ComplexObject]
impl Profile {
    #[rate_limit(limit = 1, window = "1h", per = "user_and_ip")]
    async fn tax_id(&self) -> String {
        "AB-123".to_owned()
    }
}

#[derive(Default)]
struct PublicQuery;

#[Object]
impl PublicQuery {
    #[rate_limit(limit = 2, window = "1m", per = "user")]
    async fn quote(&self) -> i32 {
        7
    }

    #[rate_limit(limit = 2, window = "1m", per = "ip")]
    async fn lookup(&self, ctx: &async_graphql::Context<'_>, id: i32) -> async_graphql::Result<i32> {
        assert!(ctx.data_opt::<RateLimiter>().is_some());
        Ok(id)
    }

    async fn node(&self) -> Node {
        Node::Account(Account { id: "1".into() })
    }

    async fn account(&self) -> Account {
        Account { id: "1".into() }
    }

    async fn profile(&self) -> Profile {
        Profile { name: "alice".into() }
    }

    #[graphql(entity)]
    #[rate_limit(limit = 2, window = "1m", per = "ip")]
    async fn find_account_by_id(&self, id: ID) -> Account {
        Account { id }
    }
}

#[derive(Default)]
struct AdminQuery;

#[Object]
impl AdminQuery {
    #[rate_limit(limit = 3, window = "1m", per = "global")]
    #[require_mfa]
    async fn admin_report(&self) -> String {
        "report".to_owned()
    }
}

#[derive(MergedObject, Default)]
struct Query(PublicQuery, AdminQuery);

struct Mutation;

#[Object]
impl Mutation {
    #[rate_limit(limit = 5, window = "1m", per = "user", cost = 2)]
    async fn export(&self) -> bool {
        true
    }

    /// Above `#[audited]`: a refusal is the audited call's outcome.
    #[rate_limit(limit = 1, window = "1m")]
    #[audited(event = "report_exported")]
    async fn audited_export(&self) -> bool {
        true
    }
}

type AppSchema = Schema<Query, Mutation, EmptySubscription>;

struct Fixture {
    schema: AppSchema,
    logger: AuditLogger,
    events: MemorySink,
}

fn fixture_with(limiter: RateLimiter) -> Fixture {
    let events = MemorySink::default();
    let logger = AuditLogger::builder().sink(events.clone()).build();
    let schema = Schema::build(Query::default(), Mutation, EmptySubscription)
        .enable_federation()
        .data(logger.clone())
        .data(limiter)
        .finish();
    Fixture { schema, logger, events }
}

fn fixture() -> Fixture {
    fixture_with(RateLimiter::memory())
}

impl Fixture {
    async fn run(&self, query: &str, security: &SecurityContext) -> async_graphql::Response {
        self.schema.execute(Request::new(query).data(security.clone())).await
    }

    /// The `rate_limit_exceeded` events logged so far.
    async fn exceeded(&self) -> Vec<AuditEvent> {
        self.logger.flush().await.expect("flush");
        self.events.of_type("rate_limit_exceeded")
    }
}

fn user(id: i64, name: &str, ip: &str) -> SecurityContext {
    SecurityContext::authenticated(Principal::new(id, name)).with_client_ip(ip.parse().ok())
}

fn alice() -> SecurityContext {
    user(7, "alice", "203.0.113.9")
}

fn anonymous(ip: &str) -> SecurityContext {
    SecurityContext::anonymous().with_client_ip(ip.parse().ok())
}

/// The `RATE_LIMITED` errors of a response, as `(path, retryAfter)`.
fn limited(response: &async_graphql::Response) -> Vec<(String, u64)> {
    response
        .errors
        .iter()
        .map(|e| {
            let ext = e.extensions.as_ref().expect("extensions");
            assert_eq!(ext.get("code").unwrap().clone().into_json().unwrap(), json!("RATE_LIMITED"), "{e:?}");
            let retry = ext.get("retryAfter").unwrap().clone().into_json().unwrap().as_u64().unwrap();
            let path = serde_json::to_value(&e.path).unwrap();
            (path.to_string(), retry)
        })
        .collect()
}

fn data(response: &async_graphql::Response) -> Value {
    response.data.clone().into_json().expect("json data")
}

#[tokio::test]
async fn each_alias_counts_and_the_call_over_the_limit_is_refused_with_retry_after() {
    let f = fixture();
    let response = f.run("{ a: quote b: quote c: quote }", &alice()).await;
    let refused = limited(&response);
    assert_eq!(refused.len(), 1, "{:?}", response.errors);
    // Two per minute: one more call fits 30 s after the burst.
    assert!((29..=30).contains(&refused[0].1), "{refused:?}");
    let served = data(&response);
    assert_eq!(served.as_object().unwrap().values().filter(|v| **v == json!(7)).count(), 2, "{served}");

    // Refused again, and still one audit event for the window.
    assert_eq!(limited(&f.run("{ quote }", &alice()).await).len(), 1);
    let events = f.exceeded().await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.details["limit_type"], "resolver");
    assert_eq!(event.details["resource"], "PublicQuery.quote");
    assert_eq!(event.details["per"], "user");
    assert_eq!(event.details["limit"], 2);
    assert_eq!(event.details["window_seconds"], 60);
    assert_eq!(event.actor_id.as_deref(), Some("7"));
    assert_eq!(event.client_ip, "203.0.113.9".parse().ok());
}

#[tokio::test]
async fn per_user_counts_users_apart_and_anonymous_callers_per_address() {
    let f = fixture();
    assert!(limited(&f.run("{ a: quote b: quote }", &alice()).await).is_empty());
    assert_eq!(limited(&f.run("{ quote }", &alice()).await).len(), 1);
    // Another user from the same address has a count of their own.
    assert!(limited(&f.run("{ a: quote b: quote }", &user(8, "bob", "203.0.113.9")).await).is_empty());
    // Alice from another address is still Alice.
    assert_eq!(limited(&f.run("{ quote }", &user(7, "alice", "198.51.100.1")).await).len(), 1);
    // Anonymous callers fall back to their address.
    assert!(limited(&f.run("{ a: quote b: quote }", &anonymous("192.0.2.1")).await).is_empty());
    assert_eq!(limited(&f.run("{ quote }", &anonymous("192.0.2.1")).await).len(), 1);
    assert!(limited(&f.run("{ quote }", &anonymous("192.0.2.2")).await).is_empty());
}

#[tokio::test]
async fn per_ip_counts_every_user_of_an_address_together() {
    let f = fixture();
    assert!(limited(&f.run("{ lookup(id: 1) }", &alice()).await).is_empty());
    assert!(limited(&f.run("{ lookup(id: 2) }", &user(8, "bob", "203.0.113.9")).await).is_empty());
    assert_eq!(limited(&f.run("{ lookup(id: 3) }", &user(9, "carol", "203.0.113.9")).await).len(), 1);
    assert!(limited(&f.run("{ lookup(id: 4) }", &user(9, "carol", "198.51.100.1")).await).is_empty());
}

#[tokio::test]
async fn a_field_reached_through_an_interface_counts_with_the_direct_path() {
    let f = fixture();
    assert!(limited(&f.run("{ node { balance } }", &alice()).await).is_empty());
    assert!(limited(&f.run("{ account { balance } }", &alice()).await).is_empty());
    let response = f.run("{ node { balance } }", &alice()).await;
    assert_eq!(limited(&response).len(), 1, "the interface path is limited too");
    assert_eq!(f.exceeded().await[0].details["resource"], "Account.balance");
}

#[tokio::test]
async fn federation_entities_count_one_call_per_representation() {
    let f = fixture();
    let reps =
        r#"[{__typename: "Account", id: "1"}, {__typename: "Account", id: "2"}, {__typename: "Account", id: "3"}]"#;
    let query = format!("{{ _entities(representations: {reps}) {{ ... on Account {{ id }} }} }}");
    let response = f.run(&query, &alice()).await;
    assert_eq!(limited(&response).len(), 1, "{:?}", response.errors);
    assert_eq!(f.exceeded().await[0].details["resource"], "PublicQuery.findAccountById");
}

#[tokio::test]
async fn a_merged_root_field_is_limited_globally_after_its_mfa_check() {
    let f = fixture();
    let verified =
        |id, name| user(id, name, "198.51.100.7").with_mfa(MfaState::verified(chrono::Utc::now(), MfaMethod::Totp));
    // Refused for MFA before counting: these do not use up the global budget.
    for _ in 0..5 {
        let response = f.run("{ adminReport }", &alice()).await;
        assert_eq!(
            response.errors[0].extensions.as_ref().unwrap().get("code").unwrap().to_string(),
            "\"MFA_REQUIRED\""
        );
    }
    assert!(limited(&f.run("{ a: adminReport b: adminReport }", &verified(7, "alice")).await).is_empty());
    assert!(limited(&f.run("{ adminReport }", &verified(8, "bob")).await).is_empty());
    let response = f.run("{ adminReport }", &verified(9, "carol")).await;
    assert_eq!(limited(&response).len(), 1, "one budget for everyone");
    assert_eq!(f.exceeded().await[0].details["resource"], "AdminQuery.adminReport");
}

#[tokio::test]
async fn a_complex_object_field_is_limited_per_user_and_address() {
    let f = fixture();
    assert!(limited(&f.run("{ profile { taxId } }", &alice()).await).is_empty());
    assert_eq!(limited(&f.run("{ profile { taxId } }", &alice()).await).len(), 1);
    // The same user elsewhere, and another user here, each have a budget.
    assert!(limited(&f.run("{ profile { taxId } }", &user(7, "alice", "198.51.100.1")).await).is_empty());
    assert!(limited(&f.run("{ profile { taxId } }", &user(8, "bob", "203.0.113.9")).await).is_empty());
}

#[tokio::test]
async fn a_mutation_with_a_cost_uses_several_calls_of_the_budget() {
    let f = fixture();
    // Mutations run in order: 2 + 2 fit in 5, the third would make 6.
    let response = f.run("mutation { a: export b: export c: export }", &alice()).await;
    let refused = limited(&response);
    assert_eq!(refused.len(), 1, "{:?}", response.errors);
    assert_eq!(refused[0].0, r#"["c"]"#);
    assert_eq!(f.exceeded().await[0].details["cost"], 2);
}

#[tokio::test]
async fn above_audited_a_refusal_is_the_audited_outcome() {
    let f = fixture();
    let response = f.run("mutation { a: auditedExport b: auditedExport }", &alice()).await;
    assert_eq!(limited(&response).len(), 1, "{:?}", response.errors);
    f.logger.flush().await.expect("flush");
    let outcomes: Vec<Value> = f
        .events
        .events()
        .iter()
        .filter(|e| e.details["resolver"] == "Mutation.auditedExport")
        .map(|e| e.details["outcome"].clone())
        .collect();
    assert_eq!(outcomes, [json!("ok"), json!("RATE_LIMITED")]);
}

#[tokio::test]
async fn two_schemas_sharing_one_redis_prefix_share_the_limit() {
    let Some(url) = integration_tests::redis_url() else { return };
    let prefix = integration_tests::unique_prefix();
    let a = fixture_with(RateLimiter::redis(&url, &prefix).await.expect("connect to Redis"));
    let b = fixture_with(RateLimiter::redis(&url, &prefix).await.expect("connect to Redis"));
    assert!(limited(&a.run("{ quote }", &alice()).await).is_empty());
    assert!(limited(&b.run("{ quote }", &alice()).await).is_empty());
    let response = a.run("{ x: quote y: quote }", &alice()).await;
    let refused = limited(&response);
    assert_eq!(refused.len(), 2, "{:?}", response.errors);
    assert!(refused.iter().all(|(_, retry)| (29..=30).contains(retry)), "{refused:?}");
    // Only the first refusal of the window is audited, whichever instance saw it.
    assert_eq!(a.exceeded().await.len() + b.exceeded().await.len(), 1);
    assert_eq!(limited(&b.run("{ quote }", &alice()).await).len(), 1);
    assert_eq!(a.exceeded().await.len() + b.exceeded().await.len(), 1);
    // Another prefix (another application) has its own budget.
    let other = fixture_with(RateLimiter::redis(&url, &integration_tests::unique_prefix()).await.unwrap());
    assert!(limited(&other.run("{ quote }", &alice()).await).is_empty());
}
