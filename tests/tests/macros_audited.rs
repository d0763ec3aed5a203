//! `#[audited]` on resolvers, through real GraphQL requests: one event per call with name,
//! severity, actor, ip, outcome and duration; listed arguments only, secrets masked; refusals
//! by `#[require_mfa]` (either attribute order) and by guards recorded; end to end into the
//! `audit_events` table on SQLite and PostgreSQL.

use std::time::Duration;

use async_graphql::{Context, EmptySubscription, ErrorExtensions, ID, InputObject, Object, Request, Schema};
use chrono::Utc;
use integration_tests::{Backend, TestDb};
use rail_graphql_security::audit::entity::Entity as AuditRows;
use rail_graphql_security::audit::{AuditEvent, AuditLogger, AuditSeverity, MASK};
use rail_graphql_security::context::{MfaState, Principal, SecurityContext};
use rail_graphql_security::guard::RequireMfa;
use rail_graphql_security::mfa::MfaMethod;
use rail_graphql_security::{audited, require_mfa};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use rail_graphql_security::audit::MemorySink;

#[derive(InputObject)]
struct Transfer {
    to: String,
    amount: i32,
    pin_code: String,
}

struct Query;

#[Object]
impl Query {
    #[audited]
    async fn account_name(&self, id: ID) -> String {
        format!("account {}", id.as_str())
    }

    /// Fails with a `code` extension, or without one.
    #[audited(severity = "medium")]
    async fn find_invoice(&self, id: i32) -> async_graphql::Result<i32> {
        match id {
            1 => Ok(1),
            2 => Err(async_graphql::Error::new("no such invoice").extend_with(|_, e| e.set("code", "NOT_FOUND"))),
            _ => Err("boom".into()),
        }
    }

    #[audited(event = "slow_report")]
    async fn slow(&self) -> bool {
        tokio::time::sleep(Duration::from_millis(30)).await;
        true
    }
}

struct Mutation;

#[Object]
impl Mutation {
    #[audited(event = "payout_sent", severity = "high", fields(amount, password, transfer))]
    async fn payout(&self, amount: i32, password: String, memo: String, transfer: Option<Transfer>) -> bool {
        amount > 0 && !password.is_empty() && !memo.is_empty() && transfer.is_none_or(|t| !t.to.is_empty())
    }

    /// `#[audited]` first: the `#[require_mfa]` below it still runs inside the audited call.
    #[audited(severity = "critical")]
    #[require_mfa(max_age = "5m")]
    async fn close_account(&self) -> bool {
        true
    }

    /// `#[require_mfa]` first: same result.
    #[require_mfa]
    #[audited]
    async fn rotate_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(ctx.data_opt::<SecurityContext>().is_some())
    }

    /// A guard given to `#[audited]` runs inside the audited call, so its refusals are recorded
    /// (and it holds on every path, unlike `#[graphql(guard)]`).
    #[audited(guard = "RequireMfa::new().audit(false)")]
    async fn export_data(&self) -> bool {
        true
    }

    #[audited(guard = |_: &Context<'_>| -> async_graphql::Result<()> { Err(async_graphql::Error::new("closed").extend_with(|_, e| e.set("code", "MAINTENANCE"))) })]
    async fn maintenance(&self) -> bool {
        true
    }

    /// A plain `#[graphql(guard)]`: the body (and so the audited call) never runs on a refusal;
    /// `RequireMfa` records the refusal itself as `unauthorized_access`.
    #[graphql(guard = "RequireMfa::new()")]
    #[audited]
    async fn wipe(&self) -> bool {
        true
    }
}

type AppSchema = Schema<Query, Mutation, EmptySubscription>;

fn schema(logger: &AuditLogger) -> AppSchema {
    Schema::build(Query, Mutation, EmptySubscription).data(logger.clone()).finish()
}

fn alice() -> SecurityContext {
    SecurityContext::authenticated(Principal::new(7, "alice"))
        .with_mfa_methods([MfaMethod::Totp])
        .with_client_ip("198.51.100.4".parse().ok())
        .with_request_id(Some("req-1".into()))
}

fn alice_verified() -> SecurityContext {
    alice().with_mfa(MfaState::verified(Utc::now(), MfaMethod::Totp))
}

struct Fixture {
    schema: AppSchema,
    logger: AuditLogger,
    events: MemorySink,
}

impl Fixture {
    fn new() -> Self {
        let events = MemorySink::default();
        let logger = AuditLogger::builder().sink(events.clone()).build();
        Fixture { schema: schema(&logger), logger, events }
    }

    async fn run(&self, query: &str, security: SecurityContext) -> async_graphql::Response {
        self.schema.execute(Request::new(query).data(security)).await
    }

    /// Runs `query` and returns the events it logged.
    async fn events_of(&self, query: &str, security: SecurityContext) -> (async_graphql::Response, Vec<AuditEvent>) {
        self.logger.flush().await.unwrap();
        let before = self.events.len();
        let response = self.run(query, security).await;
        self.logger.flush().await.unwrap();
        let events = self.events.events()[before..].to_vec();
        (response, events)
    }
}

fn only(events: &[AuditEvent], event_type: &str) -> AuditEvent {
    let matching: Vec<_> = events.iter().filter(|e| e.event_type.as_str() == event_type).collect();
    assert_eq!(matching.len(), 1, "exactly one `{event_type}` event in {events:#?}");
    matching[0].clone()
}

#[tokio::test]
async fn one_event_per_call_with_resolver_actor_ip_outcome_and_duration() {
    let f = Fixture::new();
    let started = std::time::Instant::now();
    let (response, events) = f.events_of(r#"{ accountName(id: "9") }"#, alice()).await;
    let request_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert_eq!(events.len(), 1);
    let event = only(&events, "account_name");
    assert_eq!(event.severity, AuditSeverity::Low, "a custom event's default severity");
    assert_eq!(event.actor_id.as_deref(), Some("7"));
    assert_eq!(event.actor_name.as_deref(), Some("alice"));
    assert_eq!(event.client_ip, "198.51.100.4".parse().ok());
    assert_eq!(event.request_id.as_deref(), Some("req-1"));
    assert_eq!(event.details["resolver"], "Query.accountName");
    assert_eq!(event.details["outcome"], "ok");
    // The resolver's own time, in milliseconds: within the whole request's wall time.
    let duration_ms = event.details["duration_ms"].as_f64();
    assert!(duration_ms.is_some_and(|d| (0.0..=request_ms).contains(&d)), "{duration_ms:?} ms of {request_ms} ms");
    assert!(event.details.get("arguments").is_none(), "no argument is recorded unless listed");

    let (_, events) = f.events_of("{ slow }", alice()).await;
    let slow = only(&events, "slow_report");
    assert!(slow.details["duration_ms"].as_f64().unwrap() >= 30.0, "{:?}", slow.details);
}

#[tokio::test]
async fn outcome_is_the_error_code() {
    let f = Fixture::new();
    for (id, outcome) in [(1, "ok"), (2, "NOT_FOUND"), (3, "ERROR")] {
        let (response, events) = f.events_of(&format!("{{ findInvoice(id: {id}) }}"), alice()).await;
        assert_eq!(response.errors.is_empty(), id == 1);
        let event = only(&events, "find_invoice");
        assert_eq!(event.details["outcome"], outcome);
        assert_eq!(event.severity, AuditSeverity::Medium);
    }
}

#[tokio::test]
async fn listed_arguments_only_and_secrets_masked_even_when_listed() {
    let f = Fixture::new();
    let query = r#"mutation { payout(amount: 250, password: "hunter2", memo: "private memo",
        transfer: {to: "bob", amount: 250, pinCode: "4321"}) }"#;
    let (response, events) = f.events_of(query, alice()).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let event = only(&events, "payout_sent");
    assert_eq!(event.severity, AuditSeverity::High);
    assert_eq!(event.details["resolver"], "Mutation.payout");
    let args = &event.details["arguments"];
    assert_eq!(args["amount"], 250);
    assert_eq!(args["password"], MASK);
    assert_eq!(args["transfer"], json!({"to": "bob", "amount": 250, "pinCode": MASK}));
    assert!(args.get("memo").is_none(), "unlisted arguments are absent: {args}");
    let serialized = serde_json::to_string(&event).unwrap();
    for secret in ["hunter2", "4321", "private memo"] {
        assert!(!serialized.contains(secret), "{secret} leaked: {serialized}");
    }
}

#[tokio::test]
async fn require_mfa_refusals_are_inside_the_audited_call_in_either_order() {
    let f = Fixture::new();
    for (query, event_type, severity) in [
        ("mutation { closeAccount }", "close_account", AuditSeverity::Critical),
        ("mutation { rotateKeys }", "rotate_keys", AuditSeverity::Low),
    ] {
        let (response, events) = f.events_of(query, alice()).await;
        assert_eq!(response.errors.len(), 1, "{query}");
        assert_eq!(events.len(), 2, "{query}: the call and one refusal: {events:#?}");
        let call = only(&events, event_type);
        assert_eq!(call.details["outcome"], "MFA_REQUIRED");
        assert_eq!(call.severity, severity);
        let denial = only(&events, "unauthorized_access");
        assert_eq!(denial.details["reason"], "mfa_required");
        assert_eq!(denial.details["resource"], format!("Mutation.{}", query[11..].trim_end_matches(" }")));

        let (response, events) = f.events_of(query, alice_verified()).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert_eq!(only(&events, event_type).details["outcome"], "ok");
        assert_eq!(events.len(), 1);
    }
}

#[tokio::test]
async fn guards_given_to_audited_are_recorded() {
    let f = Fixture::new();
    let (response, events) = f.events_of("mutation { exportData }", alice()).await;
    assert_eq!(response.errors[0].message, "multi-factor authentication required: verify a second factor first");
    assert_eq!(events.len(), 1, "audit(false) on the guard: only the call event");
    assert_eq!(only(&events, "export_data").details["outcome"], "MFA_REQUIRED");
    let (response, events) = f.events_of("mutation { exportData }", alice_verified()).await;
    assert!(response.errors.is_empty());
    assert_eq!(only(&events, "export_data").details["outcome"], "ok");

    let (response, events) = f.events_of("mutation { maintenance }", alice_verified()).await;
    assert_eq!(response.errors[0].message, "closed");
    assert_eq!(only(&events, "maintenance").details["outcome"], "MAINTENANCE");
}

#[tokio::test]
async fn a_plain_graphql_guard_refusal_is_audited_by_require_mfa_itself() {
    let f = Fixture::new();
    let (response, events) = f.events_of("mutation { wipe }", alice()).await;
    assert_eq!(response.errors.len(), 1);
    assert_eq!(events.len(), 1, "{events:#?}");
    let denial = only(&events, "unauthorized_access");
    assert_eq!(denial.details["resource"], "wipe");
    assert_eq!(denial.actor_id.as_deref(), Some("7"));
    let (_, events) = f.events_of("mutation { wipe }", alice_verified()).await;
    assert_eq!(only(&events, "wipe").details["outcome"], "ok");
}

#[tokio::test]
async fn without_a_logger_the_resolver_just_runs() {
    let schema = Schema::build(Query, Mutation, EmptySubscription).finish();
    let response = schema.execute(Request::new(r#"{ accountName(id: "1") }"#).data(alice())).await;
    assert_eq!(response.data.into_json().unwrap(), json!({"accountName": "account 1"}));
}

async fn stored_in_the_database(t: &TestDb) {
    let logger = AuditLogger::builder().database(t.db.clone()).build();
    let schema = schema(&logger);
    let query = r#"mutation { payout(amount: 5, password: "hunter2", memo: "m") closeAccount }"#;
    let response = schema.execute(Request::new(query).data(alice())).await;
    assert_eq!(response.errors.len(), 1, "closeAccount is refused: {:?}", response.errors);
    logger.shutdown().await.unwrap();

    let rows = AuditRows::find().all(&t.db).await.unwrap();
    let by_type = |name: &str| rows.iter().filter(|r| r.event_type == name).collect::<Vec<_>>();
    let [payout] = by_type("payout_sent")[..] else { panic!("one payout_sent row: {rows:#?}") };
    assert_eq!(payout.severity, "high");
    assert_eq!(payout.actor_id.as_deref(), Some("7"));
    assert_eq!(payout.client_ip.as_deref(), Some("198.51.100.4"));
    let details: &Value = &payout.details;
    assert_eq!(details["outcome"], "ok");
    assert_eq!(details["arguments"], json!({"amount": 5, "password": MASK, "transfer": null}));
    assert!(details["duration_ms"].is_number());
    let [close] = by_type("close_account")[..] else { panic!("one close_account row: {rows:#?}") };
    assert_eq!(close.severity, "critical");
    assert_eq!(close.details["outcome"], "MFA_REQUIRED");
    assert_eq!(by_type("unauthorized_access").len(), 1);
    assert_eq!(rows.len(), 3);
    assert!(!format!("{rows:?}").contains("hunter2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_database_sqlite() {
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
    stored_in_the_database(&t).await;
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_database_postgres() {
    let Some(t) = TestDb::new(Backend::Postgres).await else { return };
    stored_in_the_database(&t).await;
    t.cleanup().await;
}
