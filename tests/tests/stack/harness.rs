//! A stack built from a loaded `StandardSecurityConfig` on SQLite, served on 127.0.0.1.

use std::net::SocketAddr;
use std::path::Path;

use async_graphql::{Context, EmptySubscription, ErrorExtensions, Object, Schema};
use integration_tests::myapp::{TEST_ENCRYPTION_KEY, TEST_SECRET_KEY};
use integration_tests::{Backend, TestDb};
use rail_graphql_security::config::{Profile, SecurityConfig, StandardSecurityConfig};
use rail_graphql_security::context::{MfaState, Principal, SecurityContext};
use rail_graphql_security::mfa::MfaMethod;
use rail_graphql_security::mfa::graphql::{BackupCodesPayload, MfaStatus, mfa_status};
use rail_graphql_security::stack::{Security, SecurityBuilder};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// The dotted key as its environment variable: `mfa.digits` -> `RAIL_SECURITY__MFA__DIGITS`.
pub(crate) fn env_var(key: &str) -> String {
    format!("RAIL_SECURITY__{}", key.replace('.', "__").to_uppercase())
}

/// The settings every test starts from (keys set, audit to the database, files in `dir`),
/// then `over` (dotted keys) on top.
pub(crate) fn env(dir: &Path, over: &[(&str, &str)]) -> Vec<(String, String)> {
    let log = dir.join("audit.log").display().to_string();
    let spool = dir.join("spool").display().to_string();
    let nats_spool = dir.join("nats-spool").display().to_string();
    let mut vars: Vec<(String, String)> = [
        ("deployment.secret_key", TEST_SECRET_KEY),
        ("mfa.encryption_key", TEST_ENCRYPTION_KEY),
        ("audit.storage_backend", "database"),
        ("audit.log_file_path", log.as_str()),
        ("audit.webhook_spool_dir", spool.as_str()),
        ("audit.nats_spool_dir", nats_spool.as_str()),
    ]
    .iter()
    .map(|(k, v)| (env_var(k), (*v).to_owned()))
    .collect();
    for (key, value) in over {
        let var = env_var(key);
        vars.retain(|(k, _)| *k != var);
        vars.push((var, (*value).to_owned()));
    }
    vars
}

/// Loads the config as an application would: profile defaults, then these variables.
pub(crate) fn load(profile: &Profile, dir: &Path, over: &[(&str, &str)]) -> Result<StandardSecurityConfig, String> {
    StandardSecurityConfig::loader().profile(profile.clone()).env_vars(env(dir, over)).load().map_err(|e| e.to_string())
}

/// A served stack.
pub(crate) struct App {
    pub(crate) security: Security,
    pub(crate) base: String,
    pub(crate) db: TestDb,
    pub(crate) dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Builds the stack (development profile) with these keys and serves it.
pub(crate) async fn start(over: &[(&str, &str)]) -> App {
    start_with(Profile::Development, over, |b| b).await
}

/// Builds the stack for `profile` with these keys and builder options, and serves it.
pub(crate) async fn start_with(
    profile: Profile,
    over: &[(&str, &str)],
    options: impl for<'a> FnOnce(SecurityBuilder<'a>) -> SecurityBuilder<'a>,
) -> App {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    let config = load(&profile, dir.path(), over).unwrap_or_else(|e| panic!("config {over:?}: {e}"));
    let security = options(Security::builder(&config, profile, db.db.clone()))
        .build()
        .await
        .unwrap_or_else(|e| panic!("stack {over:?}: {e}"));
    serve(security, db, dir).await
}

/// Serves an already built stack with the test schema (and extra routes merged).
pub(crate) async fn serve(security: Security, db: TestDb, dir: tempfile::TempDir) -> App {
    serve_with(security, db, dir, axum::Router::new()).await
}

/// Like [`serve`], merging `extra` routes (e.g. a dashboard).
pub(crate) async fn serve_with(security: Security, db: TestDb, dir: tempfile::TempDir, extra: axum::Router) -> App {
    let mut schema = security.apply(Schema::build(Query, Mutation, EmptySubscription)).data(security.clone());
    if let Ok(mfa) = security.mfa::<i64>() {
        schema = schema.data(mfa);
    }
    let router = security.router_with(schema.finish(), extra);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    App { security, base: format!("http://{addr}"), db, dir, server }
}

/// What building the stack for `profile` with these keys fails with.
pub(crate) async fn build_error(profile: Profile, over: &[(&str, &str)]) -> String {
    build_error_with(profile, over, |b| b).await
}

/// Like [`build_error`], with builder options.
pub(crate) async fn build_error_with(
    profile: Profile,
    over: &[(&str, &str)],
    options: impl for<'a> FnOnce(SecurityBuilder<'a>) -> SecurityBuilder<'a>,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    let config = load(&profile, dir.path(), over).unwrap_or_else(|e| panic!("config {over:?}: {e}"));
    match options(Security::builder(&config, profile, db.db.clone())).build().await {
        Ok(_) => panic!("the stack built with {over:?}"),
        Err(error) => error.to_string(),
    }
}

/// A client that does not follow redirects.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A GraphQL answer over HTTP.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Answer {
    /// The first error's `code` extension, if any.
    pub(crate) fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    /// The first error's message, or "".
    pub(crate) fn message(&self) -> &str {
        self.body["errors"][0]["message"].as_str().unwrap_or("")
    }

    /// A response header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl App {
    /// POSTs a query.
    pub(crate) async fn gql(&self, query: &str) -> Answer {
        self.send(client().post(format!("{}/graphql", self.base)).json(&json!({ "query": query }))).await
    }

    /// POSTs a query with an `Authorization` header.
    pub(crate) async fn gql_auth(&self, query: &str, authorization: &str) -> Answer {
        self.send(
            client()
                .post(format!("{}/graphql", self.base))
                .header("authorization", authorization)
                .json(&json!({ "query": query })),
        )
        .await
    }

    /// Sends a request and reads a JSON (or empty) body.
    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Answer { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
    }

    /// A bearer token of the stack's token service.
    pub(crate) fn token(&self, id: i64, roles: &[&str]) -> String {
        let principal = Principal::new(id, format!("user{id}")).with_roles(roles.iter().copied());
        self.security.tokens().issue(&principal, &MfaState::none(), None).unwrap().token
    }

    /// A bearer token of user `id` with this MFA state, listing `methods` (as a login does).
    pub(crate) fn token_with(&self, id: i64, mfa: &MfaState, methods: &[MfaMethod]) -> String {
        let principal = Principal::new(id, format!("user{id}"));
        self.security.tokens().issue_with_methods(&principal, mfa, methods, None).unwrap().token
    }

    /// The number of stored audit events of `event_type`.
    pub(crate) async fn audit_rows(&self, event_type: &str) -> i64 {
        Self::rows_in(&self.db.db, event_type).await
    }

    /// The number of audit events of `event_type` stored in `db`.
    pub(crate) async fn rows_in(db: &sea_orm::DatabaseConnection, event_type: &str) -> i64 {
        use sea_orm::{ConnectionTrait, Statement};
        let sql = "SELECT COUNT(*) AS n FROM audit_events WHERE event_type = ?";
        let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, [event_type.into()]);
        let row = db.query_one_raw(statement).await.unwrap().unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}

pub(crate) struct Query;

pub(crate) struct Tree {
    leaf: i32,
}

#[Object]
impl Tree {
    async fn leaf(&self) -> i32 {
        self.leaf
    }
    async fn child(&self) -> Tree {
        Tree { leaf: self.leaf + 1 }
    }
}

#[Object]
impl Query {
    async fn hello(&self) -> &str {
        "world"
    }
    async fn me(&self, ctx: &Context<'_>) -> Option<String> {
        SecurityContext::from_graphql(ctx)?.principal.as_ref().map(|p| p.id.clone())
    }
    async fn client(&self, ctx: &Context<'_>) -> Option<String> {
        SecurityContext::from_graphql(ctx)?.client_ip.map(|ip| ip.to_string())
    }
    async fn tree(&self) -> Tree {
        Tree { leaf: 0 }
    }
    async fn slow(&self) -> bool {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        true
    }
    /// The MFA API's own resolver function (what `#[security_user]` generates calls it).
    async fn mfa_status(&self, ctx: &Context<'_>) -> async_graphql::Result<MfaStatus> {
        mfa_status::<i64>(ctx).await
    }
}

pub(crate) struct Mutation;

#[Object]
impl Mutation {
    /// Counts a login attempt against the stack's login limits.
    async fn login(&self, ctx: &Context<'_>, username: String) -> async_graphql::Result<bool> {
        let security = ctx.data::<Security>()?;
        let ip = SecurityContext::from_graphql(ctx).and_then(|s| s.client_ip);
        security.login_limiter().check(&username, ip, false).await.map_err(|e| e.extend())?;
        Ok(true)
    }
    /// The MFA API's factor change (needs a step-up once the user has a confirmed factor).
    async fn generate_backup_codes(&self, ctx: &Context<'_>) -> async_graphql::Result<BackupCodesPayload> {
        rail_graphql_security::mfa::graphql::generate_backup_codes::<i64>(ctx).await
    }
}
