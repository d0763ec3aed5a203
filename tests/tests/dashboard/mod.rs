//! Shared support of the dashboard tests: seeded events and MFA devices, the dashboard served
//! on 127.0.0.1 under `/security` with a real `MfaManager` as its second factor (the admin
//! `root` has a confirmed TOTP device), signing in with both steps, and reading numbers back
//! out of the page.
#![allow(dead_code, reason = "each dashboard test binary uses a different part of this support")]

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use integration_tests::{TestDb, base32_decode, rfc_totp_sha1};
use rail_graphql_security::audit::{AuditEvent, AuditEventType, AuditLogger, AuditSeverity, AuditSink, DatabaseSink};
use rail_graphql_security::auth::{RevocationStore, TokenConfig, TokenService};
use rail_graphql_security::config::CheckReport;
use rail_graphql_security::context::Principal;
use rail_graphql_security::dashboard::{self, Dashboard, SECOND_FACTOR_COOKIE};
use rail_graphql_security::mfa::{BackupCodeHashing, EncryptionKey, MfaAccount, MfaConfig, MfaManager, SecretCipher};
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
    /// The dashboard's second factor.
    pub(crate) mfa: MfaManager<i64>,
    /// The TOTP secret (base32) of each enrolled user, and the last time step used.
    totp: Mutex<Vec<(String, String, i64)>>,
}

/// The MFA manager of the test dashboards: one key for every dashboard of a test (several
/// share a database), backup codes hashed cheaply (the hashing cost is not what these tests
/// are about).
pub(crate) fn mfa_manager(db: &sea_orm::DatabaseConnection, logger: &AuditLogger) -> MfaManager<i64> {
    let config =
        MfaConfig { backup_code_hashing: BackupCodeHashing { memory_kib: 64, iterations: 1 }, ..MfaConfig::default() };
    let cipher = SecretCipher::new(EncryptionKey::new("test", [7; 32]).expect("key"));
    MfaManager::new(db.clone(), config, cipher).expect("mfa config").with_audit_logger(logger.clone())
}

/// The user id of a test account.
pub(crate) fn user_id(username: &str) -> i64 {
    if username == ADMIN.0 { 1 } else { 2 }
}

fn current_step() -> i64 {
    Utc::now().timestamp() / 30
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
    let mfa = mfa_manager(&t.db, &logger);
    let mut builder = Dashboard::builder(t.db.clone(), tokens.clone(), check_password)
        .second_factor(mfa.clone())
        .audit(logger.clone());
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
    let app = App { base, addr, logger, tokens, dashboard, db: t.db.clone(), mfa, totp: Mutex::new(Vec::new()) };
    app.enrol_totp(ADMIN.0).await;
    app
}

/// A client that neither follows redirects nor keeps cookies (the tests look at both).
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

impl App {
    /// Enrols a confirmed TOTP device for `username` through the MFA manager (its first code
    /// is one of a minute ago, so the codes of the sign-ins that follow are fresh).
    pub(crate) async fn enrol_totp(&self, username: &str) {
        let account = MfaAccount::new(user_id(username), username);
        let setup = self.mfa.setup_totp_device(&account, "test phone").await.expect("setup totp");
        let step = current_step() - 2;
        let code = rfc_totp_sha1(&base32_decode(&setup.secret), (step * 30) as u64, 30, 6);
        let at = DateTime::from_timestamp(step * 30, 0).expect("time");
        assert!(self.mfa.verify_totp_code_at(&account, &code, at).await.expect("verify"), "first code confirms");
        self.totp.lock().unwrap().push((username.to_owned(), setup.secret.to_string(), step));
    }

    /// A TOTP code of `username`'s device that the server has not seen: the step after the last
    /// one used, waiting for it when it is more than one step ahead of now.
    pub(crate) async fn totp_code(&self, username: &str) -> String {
        loop {
            let now = current_step();
            {
                let mut enrolled = self.totp.lock().unwrap();
                let entry = enrolled.iter_mut().find(|(u, _, _)| u == username).expect("an enrolled user");
                let step = (entry.2 + 1).max(now);
                if step <= now + 1 {
                    entry.2 = step;
                    return rfc_totp_sha1(&base32_decode(&entry.1), (step * 30) as u64, 30, 6);
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }

    /// Logs in through both forms (the password, then a TOTP code when the account is
    /// enrolled) and returns the `Cookie` header value of the session.
    pub(crate) async fn login(&self, (username, password): (&str, &str)) -> String {
        let response = self.post_login(username, password, Some(&self.origin())).await;
        assert_eq!(response.status(), 303, "login of {username} should redirect");
        let location = response.headers()["location"].to_str().expect("ascii").to_owned();
        let pair = set_cookie_pair(&response);
        if !location.ends_with("/login/second-factor") {
            assert!(pair.starts_with("rail_dashboard_session="), "{pair}");
            return pair;
        }
        assert!(pair.starts_with(SECOND_FACTOR_COOKIE), "{pair}");
        let code = self.totp_code(username).await;
        let response = self.post_second_factor(&pair, "totp", &code, Some(&self.origin())).await;
        assert_eq!(response.status(), 303, "the second factor of {username} should open the dashboard");
        assert_eq!(response.headers()["location"].to_str().unwrap().trim_end_matches('/'), self.home());
        set_cookie_pair(&response)
    }

    /// The dashboard's path.
    pub(crate) fn home(&self) -> String {
        let path = self.base.trim_start_matches("http://");
        let path = &path[path.find('/').unwrap_or(path.len())..];
        if path.is_empty() { "/".to_owned() } else { path.to_owned() }
    }

    /// Posts the second-factor form with the pending cookie pair `pending`.
    pub(crate) async fn post_second_factor(
        &self,
        pending: &str,
        method: &str,
        code: &str,
        origin: Option<&str>,
    ) -> reqwest::Response {
        let body = serde_urlencoded_pairs(&[("method", method), ("code", code)]);
        let mut request = client()
            .post(format!("{}/login/second-factor", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", pending)
            .body(body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send().await.expect("second-factor request")
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

/// The `name=value` of the first `Set-Cookie` of `response`.
pub(crate) fn set_cookie_pair(response: &reqwest::Response) -> String {
    let set_cookie = response.headers()["set-cookie"].to_str().expect("ascii");
    // Everything before the first attribute is `name=value`.
    set_cookie.split(';').next().expect("cookie pair").to_owned()
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
    for (user, kind, active, confirmed) in devices {
        insert_device(db, user, kind, active, confirmed, now).await;
    }
}

/// An MFA device row without a secret (enough for the adoption numbers and the sign-in's
/// status, not for checking codes).
pub(crate) async fn insert_device(
    db: &sea_orm::DatabaseConnection,
    user: i64,
    kind: &str,
    active: bool,
    confirmed: bool,
    now: DateTime<Utc>,
) {
    let n = Alias::new;
    {
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
