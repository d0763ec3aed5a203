//! Shared helpers of the `e2e_*` tests: the demo server started in-process on a random
//! 127.0.0.1 port, and a GraphQL client over real HTTP.
#![allow(dead_code, unreachable_pub, reason = "each test binary uses a different subset")]

pub mod flow;

use demo::{Demo, Settings};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

/// Settings for a test server on `database_url`: fresh secrets, 3 login attempts per username
/// per 15 minutes, 100 per address (every test client is 127.0.0.1).
pub fn test_config(database_url: &str) -> Settings {
    let mut settings = Settings::development(database_url);
    let limits = &mut settings.config.security.middleware.rate_limiting;
    limits.login_attempts_limit = 3;
    limits.login_ip_attempts_limit = 100;
    limits.login_attempts_window = 900;
    limits.graphql_requests_limit = 10_000;
    settings
}

/// A demo server on a fresh SQLite database with [`test_config`], in the production profile
/// when `production`, with production's introspection (off) and SMS provider (none: it
/// refuses the console one); transport settings stay development's (plain HTTP).
pub async fn sqlite_server(production: bool) -> (integration_tests::TestDb, Server) {
    let t = integration_tests::TestDb::new(integration_tests::Backend::Sqlite).await.expect("SQLite always runs");
    let mut settings = test_config(&t.url);
    if production {
        settings.profile = rail_graphql_security::config::Profile::Production;
        settings.config.security.mfa.sms.provider = rail_graphql_security::config::standard::SmsProviderKind::None;
        settings.config.security.deployment.introspection = false;
    }
    let server = Server::start(&settings, t.db.clone()).await;
    (t, server)
}

/// A demo server listening on 127.0.0.1.
pub struct Server {
    /// `http://127.0.0.1:<port>/graphql`.
    pub url: String,
    /// The application behind it.
    pub demo: Demo,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Builds the demo on `db` with `config` and serves it on a random port.
    pub async fn start(config: &Settings, db: DatabaseConnection) -> Server {
        let demo = demo::build_app_with_db(config, db).await.expect("the demo app builds");
        Self::serve(demo).await
    }

    /// Like [`start`](Self::start) with `sms` sending the SMS codes (a [`Phone`] to read the
    /// codes sent): the settings' `mfa.sms.provider` is set to `custom`.
    pub async fn start_with_sms(
        config: &Settings,
        db: DatabaseConnection,
        sms: std::sync::Arc<dyn rail_graphql_security::mfa::sms::SmsProvider>,
    ) -> Server {
        let mut config = config.clone();
        config.config.security.mfa.sms.provider = rail_graphql_security::config::standard::SmsProviderKind::Custom;
        let demo = demo::build_app_with_sms(&config, db, Some(sms)).await.expect("the demo app builds");
        Self::serve(demo).await
    }

    async fn serve(demo: Demo) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let url = format!("http://{}/graphql", listener.local_addr().expect("local addr"));
        let task = tokio::spawn(demo::serve(demo.router.clone(), listener, std::future::pending()));
        Server { url, demo, http: reqwest::Client::new(), task }
    }

    /// Sends one GraphQL request (with `Authorization: Bearer <token>` when given); returns
    /// the HTTP status and the JSON body.
    pub async fn post(&self, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        self.post_with(&self.http, token, query, variables).await
    }

    async fn post_with(
        &self,
        http: &reqwest::Client,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (u16, Value) {
        let mut request = http.post(&self.url).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    /// [`gql`](Self::gql) from the local address `from` (any of 127.0.0.0/8 on Linux), which
    /// the server sees as the client's address.
    pub async fn gql_from(&self, from: std::net::IpAddr, token: Option<&str>, query: &str, variables: Value) -> Value {
        let http = reqwest::Client::builder().local_address(from).build().expect("a client");
        let (status, body) = self.post_with(&http, token, query, variables).await;
        assert_eq!(status, 200, "unexpected HTTP status, body: {body}");
        body
    }

    /// [`post`](Self::post), expecting HTTP 200.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(token, query, variables).await;
        assert_eq!(status, 200, "unexpected HTTP status, body: {body}");
        body
    }

    /// Logs in; returns the raw response.
    pub async fn login_raw(&self, username: &str, password: &str, device_token: Option<&str>) -> Value {
        self.gql(
            None,
            "mutation($u: String!, $p: String!, $d: String) { login(username: $u, password: $p, deviceToken: $d) { token mfaRequired } }",
            json!({ "u": username, "p": password, "d": device_token }),
        )
        .await
    }

    /// Logs in and returns `(token, mfaRequired)`, failing the test on an error.
    pub async fn login(&self, username: &str, password: &str, device_token: Option<&str>) -> (String, bool) {
        let body = self.login_raw(username, password, device_token).await;
        let login = &body["data"]["login"];
        assert!(login.is_object(), "login of {username} failed: {body}");
        (login["token"].as_str().expect("token").to_owned(), login["mfaRequired"].as_bool().expect("mfaRequired"))
    }

    /// `secretNote` with `token`.
    pub async fn secret_note(&self, token: &str) -> Value {
        self.gql(Some(token), "{ secretNote }", json!({})).await
    }

    /// The security report of the last hour as `admin`.
    pub async fn report(&self, admin_token: &str) -> Value {
        // Both instances' queued events must be in the database: the report flushes only the
        // instance that answers, so tests flush the others themselves.
        let body = self
            .gql(
                Some(admin_token),
                "{ securityReport { failedLogins successfulLogins suspiciousActivities rateLimitHits mfaEvents unauthorizedAccess securityScore } }",
                json!({}),
            )
            .await;
        assert!(body["errors"].is_null(), "securityReport failed: {body}");
        body["data"]["securityReport"].clone()
    }
}

/// An admin who enrolled TOTP through the GraphQL API: the token that passed it and the
/// device's secret.
pub struct AdminMfa {
    /// A token that passed the second factor (from `verifyTotp`).
    pub token: String,
    /// The TOTP secret (base32).
    pub secret: String,
    last_step: i64,
}

impl AdminMfa {
    /// A code the server has not seen: the step after the last one used, waiting for it when
    /// it is more than one step ahead of now.
    pub async fn next_code(&mut self) -> String {
        loop {
            let now = chrono::Utc::now().timestamp() / 30;
            let step = (self.last_step + 1).max(now);
            if step <= now + 1 {
                self.last_step = step;
                return integration_tests::rfc_totp_sha1(
                    &integration_tests::base32_decode(&self.secret),
                    (step * 30) as u64,
                    30,
                    6,
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
}

/// Pages of the dashboard at `/security`, without following redirects.
pub struct DashboardClient {
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
    http: reqwest::Client,
}

impl DashboardClient {
    /// POSTs a form to `/security{path}` from the server's own origin, with `cookie`.
    pub async fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> reqwest::Response {
        let mut request =
            self.http.post(format!("{}/security{path}", self.origin)).header("origin", &self.origin).form(form);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.expect("the dashboard answers")
    }

    /// GETs `/security{path}` with `cookie`.
    pub async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(format!("{}/security{path}", self.origin));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.expect("the dashboard answers")
    }

    /// The password step.
    pub async fn sign_in(&self, username: &str, password: &str) -> reqwest::Response {
        self.post("/login", None, &[("username", username), ("password", password)]).await
    }

    /// The second step, with the pending cookie `pending`.
    pub async fn second_factor(&self, pending: &str, method: &str, code: &str) -> reqwest::Response {
        self.post("/login/second-factor", Some(pending), &[("method", method), ("code", code)]).await
    }
}

/// Every `name=value` a response sets, joined as a `Cookie` header value (cleared ones left out).
pub fn cookies(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .filter(|pair| !pair.ends_with('='))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Server {
    /// A client of this server's dashboard.
    pub fn dashboard(&self) -> DashboardClient {
        let origin = self.url.trim_end_matches("/graphql").to_owned();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        DashboardClient { origin, http }
    }

    /// Logs `admin` in with its password and enrols a TOTP device through the GraphQL API
    /// (`setupTotp`, then `verifyTotp`); returns the MFA-verified token and the secret.
    pub async fn admin_with_totp(&self) -> AdminMfa {
        let (password_token, _) = self.login("admin", demo::DEFAULT_ADMIN_PASSWORD, None).await;
        let body = self
            .gql(Some(&password_token), r#"mutation { setupTotp(deviceName: "admin phone") { secretKey } }"#, json!({}))
            .await;
        let secret = body["data"]["setupTotp"]["secretKey"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
        let step = chrono::Utc::now().timestamp() / 30;
        let code =
            integration_tests::rfc_totp_sha1(&integration_tests::base32_decode(&secret), (step * 30) as u64, 30, 6);
        let body = self
            .gql(
                Some(&password_token),
                "mutation($c: String!) { verifyTotp(code: $c) { success token } }",
                json!({ "c": code }),
            )
            .await;
        let token = body["data"]["verifyTotp"]["token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
        AdminMfa { token, secret, last_step: step }
    }
}

/// `(event_type, details)` of every audit event written so far, oldest first, for assertions
/// and their failure messages (flush the loggers first).
pub async fn events(db: &DatabaseConnection) -> Vec<(String, Value)> {
    use rail_graphql_security::audit::entity as audit_entity;
    use sea_orm::{EntityTrait, QueryOrder};
    audit_entity::Entity::find()
        .order_by_asc(audit_entity::Column::Timestamp)
        .all(db)
        .await
        .expect("read audit_events")
        .into_iter()
        .map(|row| (row.event_type, row.details))
        .collect()
}

/// The `code` extension of the first error, if any.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// The number in `report[field]`.
pub fn count(report: &Value, field: &str) -> u64 {
    report[field].as_u64().unwrap_or_else(|| panic!("{field} missing in {report}"))
}

/// A test phone: keeps every SMS the server "sends" as `(to, body)`.
#[derive(Debug, Default)]
pub struct Phone(std::sync::Mutex<Vec<(String, String)>>);

#[async_trait::async_trait]
impl rail_graphql_security::mfa::sms::SmsProvider for Phone {
    fn name(&self) -> &'static str {
        "test-phone"
    }
    async fn send(&self, to: &str, body: &str) -> Result<(), rail_graphql_security::mfa::sms::SmsError> {
        self.0.lock().expect("phone lock").push((to.to_owned(), body.to_owned()));
        Ok(())
    }
}

impl Phone {
    /// The messages received so far.
    pub fn messages(&self) -> Vec<(String, String)> {
        self.0.lock().expect("phone lock").clone()
    }
}
