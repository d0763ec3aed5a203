//! The security context, the `require_*` checks as resolvers see them, and the client address
//! behind (possibly lying) proxies.

use std::net::IpAddr;
use std::time::Duration;

use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema};
use chrono::Utc;
use rail_graphql_security::client_ip::TrustedProxies;
use rail_graphql_security::context::{
    AccessDenied, MfaLevel, MfaState, Principal, Requirement, SecurityContext, enforce, require_authenticated,
    require_role, require_second_factor,
};
use rail_graphql_security::mfa::{MfaMethod, MfaRequirement};
use serde_json::{Value, json};

struct Query;

#[Object]
impl Query {
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(require_authenticated(ctx)?.id.clone())
    }
    async fn secret_note(&self, ctx: &Context<'_>) -> async_graphql::Result<&'static str> {
        require_second_factor(ctx, None)?;
        Ok("the note")
    }
    async fn transfer(&self, ctx: &Context<'_>) -> async_graphql::Result<&'static str> {
        require_second_factor(ctx, Some(Duration::from_secs(300)))?;
        Ok("done")
    }
    async fn admin_panel(&self, ctx: &Context<'_>) -> async_graphql::Result<&'static str> {
        require_role(ctx, "admin")?;
        Ok("panel")
    }
    async fn audited_note(&self, ctx: &Context<'_>) -> async_graphql::Result<&'static str> {
        enforce(ctx, "Query.auditedNote", &Requirement::Mfa(MfaRequirement::new()))?;
        Ok("audited")
    }
}

fn schema() -> Schema<Query, EmptyMutation, EmptySubscription> {
    Schema::new(Query, EmptyMutation, EmptySubscription)
}

async fn run(query: &str, security: Option<SecurityContext>) -> Value {
    let mut request = async_graphql::Request::new(query);
    if let Some(security) = security {
        request = request.data(security);
    }
    serde_json::to_value(schema().execute(request).await).unwrap()
}

fn first_error(response: &Value) -> &Value {
    &response["errors"][0]
}

fn alice() -> Principal {
    Principal::new(7, "alice")
}

#[tokio::test]
async fn anonymous_requests_are_refused_with_unauthenticated() {
    for security in [None, Some(SecurityContext::anonymous())] {
        for field in ["me", "secretNote", "adminPanel"] {
            let response = run(&format!("{{ {field} }}"), security.clone()).await;
            assert_eq!(first_error(&response)["extensions"]["code"], "UNAUTHENTICATED", "{field}: {response}");
            assert_eq!(response["data"], Value::Null);
        }
    }
}

#[tokio::test]
async fn an_authenticated_user_passes_require_authenticated() {
    let response = run("{ me }", Some(SecurityContext::authenticated(alice()))).await;
    assert_eq!(response["data"]["me"], "7");
}

#[tokio::test]
async fn password_only_sessions_get_mfa_required_with_the_methods_available() {
    let security = SecurityContext::authenticated(alice()).with_mfa_methods([MfaMethod::Totp, MfaMethod::BackupCode]);
    let response = run("{ secretNote }", Some(security)).await;
    let error = first_error(&response);
    assert_eq!(error["extensions"]["code"], "MFA_REQUIRED", "{response}");
    assert_eq!(error["extensions"]["methods"], json!(["totp", "backup_code"]));
    assert!(error["message"].as_str().unwrap().contains("second factor"));
}

#[tokio::test]
async fn a_verified_second_factor_opens_require_mfa() {
    let security = SecurityContext::authenticated(alice()).with_mfa(MfaState::verified(Utc::now(), MfaMethod::Totp));
    let response = run("{ secretNote }", Some(security)).await;
    assert_eq!(response["data"]["secretNote"], "the note", "{response}");
}

#[tokio::test]
async fn a_trusted_device_counts_as_a_second_factor() {
    let security = SecurityContext::authenticated(alice()).with_mfa(MfaState::trusted_device(Utc::now()));
    assert_eq!(security.mfa.level, MfaLevel::Verified);
    let response = run("{ secretNote }", Some(security)).await;
    assert_eq!(response["data"]["secretNote"], "the note");
}

#[tokio::test]
async fn step_up_refuses_a_second_factor_older_than_max_age() {
    let old = Utc::now() - chrono::Duration::minutes(10);
    let security = SecurityContext::authenticated(alice()).with_mfa(MfaState::verified(old, MfaMethod::Totp));
    // Old enough for a plain require_mfa...
    assert_eq!(run("{ secretNote }", Some(security.clone())).await["data"]["secretNote"], "the note");
    // ...but not for a 5-minute step-up.
    let response = run("{ transfer }", Some(security)).await;
    let error = first_error(&response);
    assert_eq!(error["extensions"]["code"], "MFA_REQUIRED");
    assert_eq!(error["extensions"]["maxAgeSeconds"], 300);

    let fresh = SecurityContext::authenticated(alice()).with_mfa(MfaState::verified(Utc::now(), MfaMethod::Totp));
    assert_eq!(run("{ transfer }", Some(fresh)).await["data"]["transfer"], "done");
}

#[tokio::test]
async fn a_level_without_a_timestamp_fails_a_step_up() {
    let mut mfa = MfaState::verified(Utc::now(), MfaMethod::Totp);
    mfa.verified_at = None;
    let security = SecurityContext::authenticated(alice()).with_mfa(mfa);
    assert!(matches!(
        security.check(&Requirement::Mfa(MfaRequirement::new().max_age(Duration::from_secs(60)))),
        Err(AccessDenied::MfaRequired { .. })
    ));
}

#[tokio::test]
async fn roles_are_checked_exactly() {
    let user = SecurityContext::authenticated(alice().with_roles(["Admin", "admin "]));
    let response = run("{ adminPanel }", Some(user)).await;
    assert_eq!(first_error(&response)["extensions"]["code"], "FORBIDDEN");
    assert_eq!(first_error(&response)["extensions"]["requiredRole"], "admin");
    let admin = SecurityContext::authenticated(alice().with_roles(["admin"]));
    assert_eq!(run("{ adminPanel }", Some(admin)).await["data"]["adminPanel"], "panel");
}

#[tokio::test]
async fn enforce_audits_refusals_and_not_successes() {
    let (logger, sink) = integration_tests::capturing_logger();
    let schema = Schema::build(Query, EmptyMutation, EmptySubscription).data(logger.clone()).finish();
    let ip: IpAddr = "198.51.100.4".parse().unwrap();
    let refused = SecurityContext::authenticated(alice())
        .with_client_ip(Some(ip))
        .with_request_id(Some("req-42".into()))
        .with_user_agent(Some("curl/8".into()));
    let response = schema.execute(async_graphql::Request::new("{ auditedNote }").data(refused)).await;
    assert_eq!(response.errors[0].extensions.as_ref().unwrap().get("code").unwrap().to_string(), "\"MFA_REQUIRED\"");
    let allowed = SecurityContext::authenticated(alice()).with_mfa(MfaState::verified(Utc::now(), MfaMethod::Totp));
    let response = schema.execute(async_graphql::Request::new("{ auditedNote }").data(allowed)).await;
    assert!(response.errors.is_empty());
    let anonymous = schema.execute(async_graphql::Request::new("{ auditedNote }")).await;
    assert!(!anonymous.errors.is_empty());

    logger.flush().await.expect("flush the audit logger");
    let events = sink.of_type("unauthorized_access");
    assert_eq!(events.len(), 2, "{events:?}");
    let first = &events[0];
    assert_eq!(first.actor_id.as_deref(), Some("7"));
    assert_eq!(first.actor_name.as_deref(), Some("alice"));
    assert_eq!(first.client_ip, Some(ip));
    assert_eq!(first.request_id.as_deref(), Some("req-42"));
    assert_eq!(first.user_agent.as_deref(), Some("curl/8"));
    assert_eq!(first.details["resource"], "Query.auditedNote");
    assert_eq!(first.details["reason"], "mfa_required");
    assert_eq!(first.details["refusal"], "MFA_REQUIRED");
    assert_eq!(events[1].actor_id, None);
    assert_eq!(events[1].details["reason"], "unauthenticated");
    logger.shutdown().await.unwrap();
}

// ---- client address ----

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn proxies() -> TrustedProxies {
    TrustedProxies::parse(["10.0.0.0/8", "fd00::/8", "192.0.2.1"]).unwrap()
}

#[test]
fn an_untrusted_peer_cannot_spoof_its_address() {
    let p = proxies();
    assert_eq!(p.client_ip(ip("203.0.113.9"), ["1.1.1.1"]), ip("203.0.113.9"));
    assert_eq!(p.client_ip(ip("203.0.113.9"), ["10.0.0.1"]), ip("203.0.113.9"));
    assert_eq!(TrustedProxies::none().client_ip(ip("10.0.0.1"), ["1.1.1.1"]), ip("10.0.0.1"));
}

#[test]
fn behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() {
    let p = proxies();
    assert_eq!(p.client_ip(ip("10.0.0.2"), ["198.51.100.7"]), ip("198.51.100.7"));
    // The client prepended a fake hop; the proxies appended the real one.
    assert_eq!(p.client_ip(ip("10.0.0.2"), ["6.6.6.6, 198.51.100.7, 10.0.0.3"]), ip("198.51.100.7"));
    // Several headers read as one list, in order.
    assert_eq!(p.client_ip(ip("10.0.0.2"), ["6.6.6.6", "198.51.100.7,192.0.2.1"]), ip("198.51.100.7"));
    // No header: the proxy itself.
    assert_eq!(p.client_ip(ip("10.0.0.2"), Vec::<&str>::new()), ip("10.0.0.2"));
    // Every hop trusted: the left-most.
    assert_eq!(p.client_ip(ip("10.0.0.2"), ["10.9.9.9, 10.0.0.3"]), ip("10.9.9.9"));
}

#[test]
fn malformed_hops_stop_the_walk_at_the_last_known_address() {
    let p = proxies();
    assert_eq!(p.client_ip(ip("10.0.0.2"), ["not-an-ip"]), ip("10.0.0.2"));
    assert_eq!(p.client_ip(ip("10.0.0.2"), ["198.51.100.7, garbage, 10.0.0.3"]), ip("10.0.0.3"));
    assert_eq!(p.client_ip(ip("10.0.0.2"), ["1.2.3.4, 999.1.1.1"]), ip("10.0.0.2"));
    let long = "1".repeat(10_000);
    assert_eq!(p.client_ip(ip("10.0.0.2"), [long.as_str()]), ip("10.0.0.2"));
    // Empty entries are skipped, ports are dropped.
    assert_eq!(p.client_ip(ip("10.0.0.2"), [" , 198.51.100.7:4711 ,"]), ip("198.51.100.7"));
    assert_eq!(p.client_ip(ip("10.0.0.2"), ["[2001:db8::5]:443"]), ip("2001:db8::5"));
}

#[test]
fn ipv6_and_mapped_addresses() {
    let p = proxies();
    assert_eq!(p.client_ip(ip("fd00::1"), ["2001:db8::5, fd00::2"]), ip("2001:db8::5"));
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d: still recognized as the proxy.
    assert_eq!(p.client_ip(ip("::ffff:10.0.0.2"), ["198.51.100.7"]), ip("198.51.100.7"));
    assert_eq!(p.client_ip(ip("::ffff:203.0.113.9"), ["1.1.1.1"]), ip("203.0.113.9"));
    assert_eq!(p.client_ip(ip("10.0.0.2"), ["::ffff:198.51.100.7"]), ip("198.51.100.7"));
    assert_eq!(p.client_ip(ip("10.0.0.2"), ["2001:db8::1"]), ip("2001:db8::1"));
}

#[test]
fn invalid_proxy_entries_are_reported_with_what_to_write() {
    let err = TrustedProxies::parse(["10.0.0.0/8", "ten.0.0.0"]).unwrap_err();
    assert!(err.to_string().contains("`ten.0.0.0`") && err.to_string().contains("CIDR"), "{err}");
    assert!(TrustedProxies::parse(["10.0.0.0/33"]).is_err());
    assert!(TrustedProxies::parse(["10.1.2.3/8"]).unwrap().contains(ip("10.200.0.1")));
}
