//! The example server of rail-graphql-security: a GraphQL API that uses every capability of the
//! plugin, on embedded SQLite by default, on PostgreSQL or MariaDB with `DATABASE_URL`, with
//! rate limits and token revocation in Redis with `REDIS_URL` (so several instances behave as
//! one).
//!
//! `cargo run -p demo` serves it at `http://127.0.0.1:8000/graphql` (GraphiQL in a browser).
//! The binary is a thin shell over this library so tests and benchmarks can start the same
//! server in-process:
//!
//! ```no_run
//! # async fn run() -> Result<(), demo::DemoError> {
//! let config = demo::DemoConfig::development("sqlite::memory:");
//! let app = demo::build_app(&config).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! demo::serve(app.router.clone(), listener, std::future::pending()).await?;
//! # Ok(()) }
//! ```
//!
//! The GraphQL contract is documented on [`schema::Query`] and [`schema::Mutation`].

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Router;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rail_graphql_security::audit::{Alert, AuditLogger};
use rail_graphql_security::auth::{RevocationStore, TokenConfig, TokenError, TokenService};
use rail_graphql_security::config::{CheckReport, Profile, SecurityConfig, StandardSecurityConfig};
use rail_graphql_security::context::Principal;
use rail_graphql_security::dashboard::{self, Dashboard, DashboardAuthenticator};
use rail_graphql_security::graphql::{DEFAULT_SLOW_QUERY_THRESHOLD, GraphqlLimits, SlowQueryLog};
use rail_graphql_security::http::{HttpSecurity, graphql_router};
use rail_graphql_security::mfa::sms::{ConsoleSmsProvider, SmsProvider};
use rail_graphql_security::mfa::{EncryptionKey, MfaConfig, MfaError, MfaManager, SecretCipher};
use rail_graphql_security::migration::{MigrationName, MigrationTrait, MigratorTrait, SchemaManager};
use rail_graphql_security::rate_limit::{LoginRateLimiter, Quota, RateLimitError, RateLimiter};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, Schema,
};
use secrecy::{ExposeSecret, SecretString};

pub mod entities;
pub mod schema;
pub mod simulate;

use entities::{note, user};

/// The default `DEMO_PASSWORD` (development only: printed at start).
pub const DEFAULT_DEMO_PASSWORD: &str = "demo-password";
/// The default `ADMIN_PASSWORD` (development only: printed at start).
pub const DEFAULT_ADMIN_PASSWORD: &str = "admin-password";
/// The default `BIND_ADDR`.
pub const DEFAULT_BIND_ADDR: &str = "127.0.0.1:8000";
/// The default `DATABASE_URL`: a SQLite file under `demo-data/`, created when missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://demo-data/demo.sqlite?mode=rwc";
/// Connections to a SQLite file (WAL mode: one writer, concurrent readers).
pub const SQLITE_POOL_SIZE: u32 = 8;
/// The directory of the default SQLite file and of the generated development secrets.
pub const DATA_DIR: &str = "demo-data";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The database could not be opened or migrated.
    #[error("database {url}: {source}; check DATABASE_URL (sqlite://file?mode=rwc, postgres://…, mysql://…)")]
    Database {
        /// The URL, without its password.
        url: String,
        /// The cause.
        #[source]
        source: DbErr,
    },
    /// A setting is unusable; the message names it and what to do.
    #[error("{0}")]
    Config(String),
    /// Redis could not be reached.
    #[error("Redis at REDIS_URL: {0}")]
    Redis(String),
    /// The MFA runtime refused its configuration.
    #[error(transparent)]
    Mfa(#[from] MfaError),
    /// A file or socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<RateLimitError> for DemoError {
    fn from(error: RateLimitError) -> Self {
        DemoError::Redis(error.to_string())
    }
}

impl From<TokenError> for DemoError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::WeakSecret => DemoError::Config(format!("JWT_SECRET: {error}")),
            other => DemoError::Redis(other.to_string()),
        }
    }
}

/// Everything the server needs; [`DemoConfig::from_env`] reads it from the environment.
#[derive(Clone)]
pub struct DemoConfig {
    /// `BIND_ADDR` (default `127.0.0.1:8000`).
    pub bind_addr: SocketAddr,
    /// `DATABASE_URL` (default: the SQLite file `demo-data/demo.sqlite`).
    pub database_url: String,
    /// `REDIS_URL`: when set, rate limits and token revocations live in Redis (shared by every
    /// instance); otherwise limits are in memory and revocations in the database.
    pub redis_url: Option<String>,
    /// `REDIS_PREFIX`: the Redis key prefix (default `rail-demo`).
    pub redis_prefix: String,
    /// `DEMO_PASSWORD` (default [`DEFAULT_DEMO_PASSWORD`]).
    pub demo_password: String,
    /// `ADMIN_PASSWORD` (default [`DEFAULT_ADMIN_PASSWORD`]).
    pub admin_password: String,
    /// `JWT_SECRET`: the token signing key, at least 32 bytes. Every instance needs the same.
    pub jwt_secret: String,
    /// `MFA_ENCRYPTION_KEY`: 32 bytes in base64, encrypting TOTP secrets at rest. Every
    /// instance needs the same.
    pub mfa_encryption_key: String,
    /// `LOGIN_ATTEMPTS_LIMIT`: login attempts per username per window (default 5).
    pub login_attempts_limit: u32,
    /// `LOGIN_IP_ATTEMPTS_LIMIT`: login attempts per client address per window (default 20:
    /// an office behind one NAT logs in more than one person).
    pub login_ip_attempts_limit: u32,
    /// `LOGIN_ATTEMPTS_WINDOW` in seconds (default 900).
    pub login_attempts_window: Duration,
    /// `GRAPHQL_REQUESTS_LIMIT`: requests per client address per window (default 1000).
    pub graphql_requests_limit: u32,
    /// `GRAPHQL_REQUESTS_WINDOW` in seconds (default 3600).
    pub graphql_requests_window: Duration,
    /// `RAIL_SECURITY_ENV=production`: introspection and GraphiQL off, the console SMS
    /// provider refused, HSTS sent.
    pub production: bool,
    /// Print alerts of the audit logger to standard output (the binary does; tests don't).
    pub print_alerts: bool,
}

impl std::fmt::Debug for DemoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoConfig")
            .field("bind_addr", &self.bind_addr)
            .field("database_url", &redact_url(&self.database_url))
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("production", &self.production)
            .finish_non_exhaustive()
    }
}

/// `scheme://user:password@host` → `scheme://user:***@host`.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A fresh random secret of `bytes` bytes in base64.
fn random_base64(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut raw);
    BASE64.encode(raw)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, DemoError> {
    match env(name) {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse()
            .map_err(|_| DemoError::Config(format!("{name}={value:?} is not a valid number; unset it or fix it"))),
    }
}

/// Reads a development secret from `demo-data/<file>`, creating it on first use, so restarts
/// keep tokens and TOTP secrets valid.
fn dev_secret(file: &str, bytes: usize) -> Result<String, DemoError> {
    let path = Path::new(DATA_DIR).join(file);
    match std::fs::read_to_string(&path) {
        Ok(secret) if !secret.trim().is_empty() => Ok(secret.trim().to_owned()),
        _ => {
            std::fs::create_dir_all(DATA_DIR)?;
            let secret = random_base64(bytes);
            std::fs::write(&path, &secret)
                .map_err(|e| DemoError::Config(format!("cannot write {}: {e}", path.display())))?;
            Ok(secret)
        }
    }
}

impl DemoConfig {
    /// Development settings on `database_url` with fresh random secrets and the default
    /// limits. Clone the result to start several instances that share secrets.
    pub fn development(database_url: impl Into<String>) -> Self {
        DemoConfig {
            bind_addr: DEFAULT_BIND_ADDR.parse().expect("valid default address"),
            database_url: database_url.into(),
            redis_url: None,
            redis_prefix: "rail-demo".to_owned(),
            demo_password: DEFAULT_DEMO_PASSWORD.to_owned(),
            admin_password: DEFAULT_ADMIN_PASSWORD.to_owned(),
            jwt_secret: random_base64(48),
            mfa_encryption_key: random_base64(32),
            login_attempts_limit: 5,
            login_ip_attempts_limit: 20,
            login_attempts_window: Duration::from_secs(900),
            graphql_requests_limit: 1000,
            graphql_requests_window: Duration::from_secs(3600),
            production: false,
            print_alerts: false,
        }
    }

    /// The settings from the environment (see each field). Without `JWT_SECRET` /
    /// `MFA_ENCRYPTION_KEY`, development secrets are generated once into `demo-data/` (the
    /// production profile refuses to start without them).
    pub fn from_env() -> Result<Self, DemoError> {
        let production = match env("RAIL_SECURITY_ENV").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("development" | "dev" | "testing" | "test") => false,
            Some("production" | "prod") => true,
            Some(other) => {
                return Err(DemoError::Config(format!(
                    "RAIL_SECURITY_ENV={other:?}: use development, testing or production"
                )));
            }
        };
        let secret = |name: &str, file: &str, bytes: usize| match env(name) {
            Some(value) => Ok(value),
            None if production => Err(DemoError::Config(format!(
                "{name} must be set in production (generate one with `openssl rand -base64 {bytes}`)"
            ))),
            None => dev_secret(file, bytes),
        };
        let bind = env("BIND_ADDR").unwrap_or_else(|| DEFAULT_BIND_ADDR.to_owned());
        let bind_addr = bind
            .parse()
            .map_err(|_| DemoError::Config(format!("BIND_ADDR={bind:?} is not an address like 127.0.0.1:8000")))?;
        let database_url = match env("DATABASE_URL") {
            Some(url) => url,
            None => {
                std::fs::create_dir_all(DATA_DIR)?;
                DEFAULT_DATABASE_URL.to_owned()
            }
        };
        Ok(DemoConfig {
            bind_addr,
            database_url,
            redis_url: env("REDIS_URL"),
            redis_prefix: env("REDIS_PREFIX").unwrap_or_else(|| "rail-demo".to_owned()),
            demo_password: env("DEMO_PASSWORD").unwrap_or_else(|| DEFAULT_DEMO_PASSWORD.to_owned()),
            admin_password: env("ADMIN_PASSWORD").unwrap_or_else(|| DEFAULT_ADMIN_PASSWORD.to_owned()),
            jwt_secret: secret("JWT_SECRET", "jwt.secret", 48)?,
            mfa_encryption_key: secret("MFA_ENCRYPTION_KEY", "mfa.key", 32)?,
            login_attempts_limit: env_number("LOGIN_ATTEMPTS_LIMIT", 5)?,
            login_ip_attempts_limit: env_number("LOGIN_IP_ATTEMPTS_LIMIT", 20)?,
            login_attempts_window: Duration::from_secs(env_number("LOGIN_ATTEMPTS_WINDOW", 900)?),
            graphql_requests_limit: env_number("GRAPHQL_REQUESTS_LIMIT", 1000)?,
            graphql_requests_window: Duration::from_secs(env_number("GRAPHQL_REQUESTS_WINDOW", 3600)?),
            production,
            print_alerts: true,
        })
    }
}

/// A running application: the router to serve and the shared parts tests look at.
#[derive(Debug, Clone)]
pub struct Demo {
    /// `POST /graphql` (and GraphiQL on `GET /graphql` outside production) behind the HTTP
    /// security layer.
    pub router: Router,
    /// The database.
    pub db: DatabaseConnection,
    /// The audit logger (flush it before reading `audit_events`).
    pub logger: AuditLogger,
    /// The token service.
    pub tokens: TokenService,
}

/// Opens `url` (SQLite files are created; WAL mode so readers don't block the writer).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DemoError> {
    let database = |source| DemoError::Database { url: redact_url(url), source };
    let mut options = ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false);
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if url.starts_with("sqlite:") && !in_memory {
        // SeaORM opens one SQLite connection unless told otherwise: every token revocation
        // check would queue behind the audit sink's inserts. In WAL mode readers run beside the
        // writer; sqlx sets `foreign_keys=ON` and a 5 s busy timeout on each connection.
        options.max_connections(SQLITE_POOL_SIZE);
    }
    let db = Database::connect(options).await.map_err(database)?;
    if db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite && !in_memory {
        // Persistent: recorded in the file, so it holds for every connection of the pool.
        db.execute_unprepared("PRAGMA journal_mode=WAL;").await.map_err(database)?;
    }
    Ok(db)
}

/// The demo's migrations: its own `users` and `notes` tables first, then every security table
/// (`user::mfa::migrations()`, generated by `#[security_user]`: the audit and revocation tables,
/// and the MFA tables with foreign keys to `users.id`). Each step is idempotent.
#[derive(Debug)]
pub struct DemoMigrator;

#[async_trait::async_trait]
impl MigratorTrait for DemoMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations: Vec<Box<dyn MigrationTrait>> = vec![Box::new(CreateDemoTables)];
        migrations.extend(user::mfa::migrations());
        migrations
    }
}

/// Creates `users` and `notes` (with its foreign key to `users`).
struct CreateDemoTables;

impl MigrationName for CreateDemoTables {
    fn name(&self) -> &str {
        "m20261127_000001_create_demo_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDemoTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager.create_table(schema.create_table_from_entity(user::Entity).if_not_exists().to_owned()).await?;
        manager.create_table(schema.create_table_from_entity(note::Entity).if_not_exists().to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(sea_orm::sea_query::Table::drop().table(note::Entity).if_exists().to_owned()).await?;
        manager.drop_table(sea_orm::sea_query::Table::drop().table(user::Entity).if_exists().to_owned()).await
    }
}

/// Runs [`DemoMigrator`]'s pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    DemoMigrator::up(db, None).await
}

/// What a password check found.
#[derive(Debug)]
pub enum Credentials {
    /// The password is the user's.
    Valid(user::Model),
    /// No such user.
    UnknownUser,
    /// The user exists; the password is wrong.
    WrongPassword,
}

/// Checks passwords against the `users` table for the GraphQL `login` and the dashboard's
/// sign-in: the same Argon2 work whether or not the user exists (an unknown name is checked
/// against a dummy hash), off the async threads.
#[derive(Clone)]
pub struct Passwords {
    db: DatabaseConnection,
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").finish_non_exhaustive()
    }
}

impl Passwords {
    /// Checks against the users in `db`.
    pub fn new(db: DatabaseConnection) -> Result<Self, DemoError> {
        Ok(Passwords { db, dummy_hash: hash_password("a password nobody has")?.into() })
    }

    /// Whether `password` is `username`'s (the name is trimmed).
    pub async fn check(&self, username: &str, password: SecretString) -> Result<Credentials, DbErr> {
        let row = user::Entity::find().filter(user::Column::Username.eq(username.trim())).one(&self.db).await?;
        let hash = row.as_ref().map_or_else(|| self.dummy_hash.to_string(), |u| u.password_hash.clone());
        let matches = tokio::task::spawn_blocking(move || verify_password(password.expose_secret(), &hash))
            .await
            .map_err(|e| DbErr::Custom(format!("the password check failed: {e}")))?;
        Ok(match row {
            Some(user) if matches => Credentials::Valid(user),
            Some(_) => Credentials::WrongPassword,
            None => Credentials::UnknownUser,
        })
    }
}

/// Hashes a password with Argon2id (the crate's defaults: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String, DemoError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| DemoError::Config(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| DemoError::Config(format!("password hashing: {e}")))
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Creates `demo` (role `user`) and `admin` (role `admin`), or resets their password hash when
/// the configured password no longer matches (so the printed passwords are always right).
pub async fn seed(db: &DatabaseConnection, config: &DemoConfig) -> Result<(), DemoError> {
    let database = |source| DemoError::Database { url: redact_url(&config.database_url), source };
    for (name, password, role) in [("demo", &config.demo_password, "user"), ("admin", &config.admin_password, "admin")]
    {
        if password.chars().count() < 8 {
            return Err(DemoError::Config(format!(
                "the {name} password is shorter than 8 characters: set a longer {}",
                if name == "demo" { "DEMO_PASSWORD" } else { "ADMIN_PASSWORD" }
            )));
        }
        let existing = user::Entity::find().filter(user::Column::Username.eq(name)).one(db).await.map_err(database)?;
        match existing {
            Some(row) if verify_password(password, &row.password_hash) && row.role == role => {}
            Some(row) => {
                let mut active: user::ActiveModel = row.into();
                active.password_hash = sea_orm::Set(hash_password(password)?);
                active.role = sea_orm::Set(role.to_owned());
                active.update(db).await.map_err(database)?;
            }
            None => {
                let row = user::ActiveModel {
                    username: sea_orm::Set(name.to_owned()),
                    password_hash: sea_orm::Set(hash_password(password)?),
                    role: sea_orm::Set(role.to_owned()),
                    ..Default::default()
                };
                // Two instances starting together may both try: the unique key decides.
                if let Err(error) = row.insert(db).await {
                    let exists = user::Entity::find().filter(user::Column::Username.eq(name)).one(db).await;
                    if !matches!(exists, Ok(Some(_))) {
                        return Err(database(error));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Connects to `config.database_url`, migrates, seeds and builds the application.
pub async fn build_app(config: &DemoConfig) -> Result<Demo, DemoError> {
    let db = connect(&config.database_url).await?;
    build_app_with_db(config, db).await
}

/// Like [`build_app`] on an already open connection (tests use it for a PostgreSQL schema of
/// their own).
pub async fn build_app_with_db(config: &DemoConfig, db: DatabaseConnection) -> Result<Demo, DemoError> {
    let mfa_config =
        MfaConfig { totp_issuer: "rail-demo".to_owned(), production: config.production, ..MfaConfig::default() };
    build_app_with_mfa(config, db, mfa_config, Arc::new(ConsoleSmsProvider)).await
}

/// Like [`build_app_with_db`] with the given MFA settings, and `sms` delivering the SMS codes
/// outside production instead of the console (tests read the codes from it).
pub async fn build_app_with_mfa(
    config: &DemoConfig,
    db: DatabaseConnection,
    mfa_config: MfaConfig,
    sms: Arc<dyn SmsProvider>,
) -> Result<Demo, DemoError> {
    migrate(&db).await.map_err(|source| DemoError::Database { url: redact_url(&config.database_url), source })?;
    seed(&db, config).await?;

    let logger = AuditLogger::builder().database(db.clone()).build();
    if config.print_alerts {
        logger.register_alert_handler(|alert: Alert| async move {
            let line = match alert {
                Alert::Event { event } => format!(
                    "ALERT [{}] {} actor={:?} ip={:?}",
                    event.severity, event.event_type, event.actor_name, event.client_ip
                ),
                Alert::ThresholdReached { threshold, count, window_seconds, .. } => {
                    format!("ALERT threshold {threshold:?}: {count} events within {window_seconds}s")
                }
                other => format!("ALERT {other:?}"),
            };
            // A closed standard output (a pipe whose reader left) must not take the task down.
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        });
    }

    let (limiter, revocations) = match &config.redis_url {
        Some(url) => (
            RateLimiter::redis(url, &config.redis_prefix).await?,
            RevocationStore::redis(url, &config.redis_prefix).await?,
        ),
        None => (RateLimiter::memory(), RevocationStore::database(db.clone())),
    };
    let tokens =
        TokenService::new(TokenConfig::new(config.jwt_secret.clone())?, revocations).with_audit(logger.clone());
    let logins = LoginRateLimiter::new(limiter.clone(), config.login_attempts_limit, config.login_attempts_window)
        .per_ip(Quota::new(config.login_ip_attempts_limit, config.login_attempts_window))
        .audit(logger.clone());

    let key = EncryptionKey::from_base64("demo-1", config.mfa_encryption_key.trim()).map_err(|e| {
        DemoError::Config(format!("MFA_ENCRYPTION_KEY: {e} (generate one with `openssl rand -base64 32`)"))
    })?;
    let mut mfa = MfaManager::<i64>::new(db.clone(), mfa_config, SecretCipher::new(key))?
        .with_audit_logger(logger.clone())
        .with_rate_limiter(limiter.clone());
    if !config.production {
        // Development: SMS codes are printed on the server's standard output.
        mfa = mfa.with_sms_provider(sms)?;
    }

    let limits = if config.production { GraphqlLimits::production() } else { GraphqlLimits::development() };
    // The dashboard's sign-in form counts against the same per-username and per-address limits.
    let logins_for_dashboard = logins.clone();
    let passwords = Passwords::new(db.clone())?;
    let state = schema::AppState::new(db.clone(), mfa, logins, tokens.clone(), logger.clone(), passwords.clone());
    let schema =
        limits.apply(schema::schema_builder(state)).extension(SlowQueryLog::new(DEFAULT_SLOW_QUERY_THRESHOLD)).finish();
    let security = HttpSecurity::new()
        .tokens(tokens.clone())
        .request_rate_limit(limiter, Quota::new(config.graphql_requests_limit, config.graphql_requests_window))
        .audit(logger.clone())
        .hsts(config.production.then_some(Duration::from_secs(31_536_000)));
    let dashboard_error = |e: dashboard::DashboardError| DemoError::Config(format!("dashboard: {e}"));
    let dashboard = Dashboard::builder(db.clone(), tokens.clone(), DemoAuthenticator(passwords))
        .audit(logger.clone())
        .login_rate_limit(logins_for_dashboard)
        .findings(security_findings(config.production))
        // Plain HTTP in development; the session cookie is `Secure` in production.
        .secure_cookie(config.production)
        .build()
        .map_err(dashboard_error)?;
    // `/security` is the page; `/security/` redirects there.
    let mounted = dashboard::router_at("/security", dashboard).map_err(dashboard_error)?;
    let router = graphql_router(schema, security, &limits).merge(mounted);
    Ok(Demo { router, db, logger, tokens })
}

/// The dashboard's sign-in: the same [`Passwords`] check as the GraphQL `login`.
struct DemoAuthenticator(Passwords);

#[async_trait::async_trait]
impl DashboardAuthenticator for DemoAuthenticator {
    async fn authenticate(&self, username: String, password: SecretString) -> Option<Principal> {
        match self.0.check(&username, password).await {
            Ok(Credentials::Valid(user)) => Some(Principal::new(user.id, user.username).with_roles([user.role])),
            Ok(_) => None,
            Err(error) => {
                tracing::error!(%error, "dashboard sign-in: cannot read users");
                None
            }
        }
    }
}

/// The `security_check` findings the dashboard shows: those of the configuration
/// `demo security_check` reads (`RAIL_SECURITY_ENV`, `RAIL_SECURITY_CONFIG`, `RAIL_SECURITY__*`),
/// for the production profile when the demo runs in production. When that configuration does
/// not load, the error is logged and the findings of the profile's defaults are shown.
fn security_findings(production: bool) -> CheckReport {
    let profile = if production { Profile::Production } else { Profile::Development };
    match StandardSecurityConfig::loader().profile(profile.clone()).load() {
        Ok(config) => config.run_checks(&profile),
        Err(errors) => {
            tracing::error!(%errors, "the security configuration does not load; the dashboard shows the defaults' findings");
            StandardSecurityConfig::defaults(&profile).run_checks(&profile)
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, with the client socket address
/// available to the security layer.
pub async fn serve(
    router: Router,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
