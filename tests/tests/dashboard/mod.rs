//! Shared support of the dashboard tests: seeded events and MFA devices, the dashboard served
//! on 127.0.0.1 under `/security`, and reading numbers back out of the page.
#![allow(dead_code, reason = "each dashboard test binary uses a different part of this support")]

use std::net::{IpAddr, SocketAddr};

use chrono::{DateTime, Duration, Utc};
use integration_tests::TestDb;
use rail_graphql_security::audit::{AuditEvent, AuditEventType, AuditLogger, AuditSeverity, AuditSink, DatabaseSink};
use rail_graphql_security::auth::{RevocationStore, TokenConfig, TokenService};
use rail_graphql_security::config::CheckReport;
use rail_graphql_security::context::Principal;
use rail_graphql_security::dashboard::{self, Dashboard};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Query};
use secrecy::{ExposeSecret, SecretString};

pub(crate) const SECRET: &str = "dashboard-test-secret-0123456789-abcdef";
pub(crate) const ADMIN: (&str, &str) = ("root", "root-password-1");
pub(crate) const VIEWER: (&str, &str) = ("viewer", "viewer-password-1");
pub(crate) const XSS_AGENT: &str = "<script>alert(1)</script>";
pub(crate) const XSS_ACCOUNT: &str = "<img src=x onerror=alert(2)>";

/// A dashboard served on 127.0.0.1.
pub(crate) struct App {
    pub(crate) base: String,
    pub(crate) addr: SocketAddr,
    pub(crate) logger: AuditLogger,
    pub(crate) tokens: TokenService,
    pub(crate) dashboard: Dashboard,
    pub(crate) db: sea_orm::DatabaseConnection,
}

pub(crate) fn token_service() -> TokenService {
    TokenService::new(TokenConfig::new(SECRET).expect("secret"), RevocationStore::memory())
}

/// The app's credential check: `root` is an admin, `viewer` is staff only.
pub(crate) async fn check_password(username: String, password: SecretString) -> Option<Principal> {
    match (username.as_str(), password.expose_secret()) {
        (u, p) if (u, p) == ADMIN => Some(Principal::new(1, "root").with_roles(["admin"])),
        (u, p) if (u, p) == VIEWER => Some(Principal::new(2, "viewer").with_roles(["staff"])),
        _ => None,
    }
}

/// Serves the dashboard over `t`'s database at `/security` (`router_at`), plain HTTP (cookie
/// not Secure).
pub(crate) async fn start(t: &TestDb, findings: Option<CheckReport>) -> App {
    start_with(t, findings, |b| b.secure_cookie(false)).await
}

pub(crate) async fn start_with(
    t: &TestDb,
    findings: Option<CheckReport>,
    configure: impl FnOnce(dashboard::DashboardBuilder) -> dashboard::DashboardBuilder,
) -> App {
    start_at(t, "/security", findings, configure).await
}

/// Serves the dashboard mounted with `router_at(mount, …)`.
pub(crate) async fn start_at(
    t: &TestDb,
    mount: &str,
    findings: Option<CheckReport>,
    configure: impl FnOnce(dashboard::DashboardBuilder) -> dashboard::DashboardBuilder,
) -> App {
    let logger = AuditLogger::builder().database(t.db.clone()).build();
    let tokens = token_service().with_audit(logger.clone());
    let mut builder = Dashboard::builder(t.db.clone(), tokens.clone(), check_password).audit(logger.clone());
    if let Some(report) = findings {
        builder = builder.findings(report);
    }
    let dashboard = configure(builder).build().expect("dashboard settings are valid");
    let app: axum::Router = dashboard::router_at(mount, dashboard.clone()).expect("a valid mount path");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.expect("serve");
    });
    let base = format!("http://{addr}{}", mount.trim_end_matches('/'));
    App { base, addr, logger, tokens, dashboard, db: t.db.clone() }
}

/// A client that neither follows redirects nor keeps cookies (the tests look at both).
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

impl App {
    /// Logs in through the form and returns the `Cookie` header value of the session.
    pub(crate) async fn login(&self, (username, password): (&str, &str)) -> String {
        let response = self.post_login(username, password, Some(&self.origin())).await;
        assert_eq!(response.status(), 303, "login of {username} should redirect to the dashboard");
        let set_cookie = response.headers()["set-cookie"].to_str().expect("ascii").to_owned();
        // Everything before the first attribute is `name=value`.
        set_cookie.split(';').next().expect("cookie pair").to_owned()
    }

    pub(crate) fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) async fn post_login(&self, username: &str, password: &str, origin: Option<&str>) -> reqwest::Response {
        let body = serde_urlencoded_pairs(&[("username", username), ("password", password)]);
        let mut request = client()
            .post(format!("{}/login", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send().await.expect("login request")
    }

    /// GETs a dashboard path with the session cookie.
    pub(crate) async fn get(&self, path_and_query: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = client().get(format!("{}{path_and_query}", self.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.expect("dashboard request")
    }
}

/// `application/x-www-form-urlencoded` without pulling in another crate.
pub(crate) fn serde_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

/// Seeds a day of events ending `now` (and some older ones the 24 h view must not count):
/// failed logins from a few addresses against a few accounts (one named with markup),
/// successes, suspicious activity (one with a script tag as user agent), rate-limit hits,
/// MFA events, unauthorized access; plus MFA devices for the adoption numbers.
pub(crate) async fn seed(db: &sea_orm::DatabaseConnection, now: DateTime<Utc>) {
    let mut events = Vec::new();
    let at = |minutes: i64| now - Duration::minutes(minutes);
    let failing = [("203.0.113.7", 9), ("198.51.100.23", 5), ("192.0.2.44", 3), ("2001:db8::5", 2)];
    let accounts = ["alice", "bob", XSS_ACCOUNT];
    let mut n = 0i64;
    for (address, count) in failing {
        for _ in 0..count {
            n += 1;
            let account = accounts[(n as usize) % accounts.len()];
            events.push(
                AuditEvent::new(AuditEventType::LoginFailed)
                    .at(at(n * 37 % 1400 + 1))
                    .actor_name(account)
                    .client_ip(ip(address))
                    .user_agent(Some("curl/8.5"))
                    .details(serde_json::json!({ "reason": "invalid password" })),
            );
        }
    }
    for i in 0..12 {
        events.push(
            AuditEvent::new(AuditEventType::LoginSuccess)
                .at(at(i * 113 % 1400 + 2))
                .actor_id(10 + i)
                .actor_name(format!("user{i}"))
                .client_ip(ip("10.0.0.8")),
        );
    }
    for i in 0..3 {
        events.push(
            AuditEvent::new(AuditEventType::SuspiciousActivity)
                .at(at(i * 300 + 5))
                .client_ip(ip("203.0.113.7"))
                .user_agent(Some(XSS_AGENT))
                .details(serde_json::json!({ "activity_type": "enumeration", "note": "</td><script>x()</script>" })),
        );
    }
    for (i, address) in ["203.0.113.7", "203.0.113.7", "198.51.100.23"].into_iter().enumerate() {
        events
            .push(AuditEvent::new(AuditEventType::RateLimitExceeded).at(at(i as i64 * 50 + 7)).client_ip(ip(address)));
    }
    for (i, t) in
        [AuditEventType::MfaEnabled, AuditEventType::MfaSuccess, AuditEventType::MfaFailed].into_iter().enumerate()
    {
        events.push(AuditEvent::new(t).at(at(i as i64 * 90 + 11)).actor_id(3).actor_name("carol"));
    }
    events.push(
        AuditEvent::new(AuditEventType::UnauthorizedAccess)
            .at(at(20))
            .actor_name("mallory")
            .client_ip(ip("192.0.2.99")),
    );
    events.push(
        AuditEvent::new(AuditEventType::AccountLocked).severity(AuditSeverity::Critical).at(at(33)).actor_name("bob"),
    );
    // Outside the last 24 hours: visible only with a longer period.
    for i in 0..4 {
        events.push(
            AuditEvent::new(AuditEventType::LoginFailed)
                .at(now - Duration::days(3) - Duration::minutes(i))
                .actor_name("old")
                .client_ip(ip("192.0.2.200")),
        );
    }
    DatabaseSink::new(db.clone()).write_batch(&events).await.expect("seed events");
    seed_mfa(db, now).await;
}

/// MFA devices: users 1–3 TOTP, user 3 also SMS, user 4 backup codes; an inactive and an
/// unconfirmed device that must not count. Enrolled: 4 users.
async fn seed_mfa(db: &sea_orm::DatabaseConnection, now: DateTime<Utc>) {
    let devices: [(i64, &str, bool, bool); 7] = [
        (1, "totp", true, true),
        (2, "totp", true, true),
        (3, "totp", true, true),
        (3, "sms", true, true),
        (4, "backup_codes", true, true),
        (5, "totp", false, true),
        (6, "sms", true, false),
    ];
    let n = Alias::new;
    for (user, kind, active, confirmed) in devices {
        let statement = Query::insert()
            .into_table(n("mfa_devices"))
            .columns(
                [
                    "id",
                    "user_id",
                    "device_type",
                    "name",
                    "is_active",
                    "is_primary",
                    "confirmed",
                    "sms_code_attempts",
                    "created_at",
                ]
                .map(n),
            )
            .values_panic([
                uuid::Uuid::new_v4().to_string().into(),
                user.into(),
                kind.into(),
                format!("{kind} of {user}").into(),
                active.into(),
                false.into(),
                confirmed.into(),
                0i32.into(),
                now.into(),
            ])
            .to_owned();
        db.execute(&statement).await.expect("seed mfa device");
    }
}

/// The text of the element with `data-testid="{id}"` (its first text run).
pub(crate) fn testid_text<'a>(html: &'a str, id: &str) -> &'a str {
    let marker = format!("data-testid=\"{id}\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no element with {marker} in the page"));
    let rest = &html[at..];
    let open_end = rest.find('>').expect("tag ends") + 1;
    let text = &rest[open_end..];
    &text[..text.find('<').expect("text ends")]
}

/// The value of `attribute` on the element with `data-testid="{id}"`.
pub(crate) fn testid_attr<'a>(html: &'a str, id: &str, attribute: &str) -> &'a str {
    let marker = format!("data-testid=\"{id}\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no element with {marker} in the page"));
    let tag = &html[html[..at].rfind('<').expect("tag start")..];
    let tag = &tag[..tag.find('>').expect("tag end")];
    let key = format!("{attribute}=\"");
    let start = tag.find(&key).unwrap_or_else(|| panic!("no {attribute} on {marker}")) + key.len();
    &tag[start..start + tag[start..].find('"').expect("attribute ends")]
}
