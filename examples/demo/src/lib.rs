//! The example server of rail-graphql-security: a GraphQL API that uses every capability of the
//! plugin, on embedded SQLite by default, on PostgreSQL or MariaDB with `DATABASE_URL`, with
//! rate limits and a cache of token revocations in Redis with `REDIS_URL` (so several instances behave as
//! one).
//!
//! `cargo run -p demo` serves it at `http://127.0.0.1:8000/graphql` (GraphiQL in a browser).
//! The binary is a thin shell over this library so tests and benchmarks can start the same
//! server in-process:
//!
//! ```no_run
//! # async fn run() -> Result<(), demo::DemoError> {
//! let settings = demo::Settings::development("sqlite::memory:");
//! let app = demo::build_app(&settings).await?;
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

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Router;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rail_graphql_security::audit::{Alert, AuditLogger};
use rail_graphql_security::auth::{TokenError, TokenService};
use rail_graphql_security::config::standard::Base64Key;
use rail_graphql_security::config::{Profile, Secret, SecurityConfig, StandardSecurityConfig};
use rail_graphql_security::context::Principal;
use rail_graphql_security::dashboard::{self, DashboardAuthenticator};
use rail_graphql_security::graphql::{EXPENSIVE_FIELD_COST, GraphqlLimits};
use rail_graphql_security::mfa::MfaError;
use rail_graphql_security::mfa::sms::SmsProvider;
use rail_graphql_security::migration::{MigrationName, MigrationTrait, MigratorTrait, SchemaManager};
use rail_graphql_security::rate_limit::RateLimitError;
use rail_graphql_security::stack::{Security, StackError};
use rail_graphql_security::username::normalize as normalize_username;
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, Schema,
};
use secrecy::{ExposeSecret, SecretString};

pub mod account;
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
    /// The configuration did not load: every problem, one per line.
    #[error("{0}")]
    Configuration(rail_graphql_security::config::ConfigErrors),
    /// Redis could not be reached.
    #[error("Redis at REDIS_URL: {0}")]
    Redis(String),
    /// The MFA runtime refused its configuration.
    #[error(transparent)]
    Mfa(#[from] MfaError),
    /// A file or socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The configuration cannot become a running stack; the message names the key.
    #[error(transparent)]
    Stack(#[from] StackError),
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

/// The example server's configuration: its own settings and the plugin's
/// [`StandardSecurityConfig`], loaded in layers (the profile's defaults < the TOML file named by
/// `RAIL_SECURITY_CONFIG` < environment variables). Each key is set by its conventional variable
/// (`BIND_ADDR`, `DATABASE_URL`, `JWT_SECRET`, ...: see the example server guide's table, checked against
/// [`DemoConfig::leaf_keys`]) or by `DEMO__KEY` / `DEMO__SECURITY__SECTION__KEY`; `demo config`
/// prints every key with its value and source, `demo check` scores this same value.
#[derive(Debug, Clone, SecurityConfig)]
#[security(prefix = "DEMO")]
pub struct DemoConfig {
    /// The address to listen on (`127.0.0.1:0`: a free port, printed).
    #[security(default = "127.0.0.1:8000", env = "BIND_ADDR", validate = socket_address)]
    pub bind_addr: String,
    /// The database URL: `sqlite://file?mode=rwc`, `postgres://…` or `mysql://…` (MariaDB);
    /// unset: the SQLite file `demo-data/demo.sqlite`.
    #[security(secret, env = "DATABASE_URL")]
    pub database_url: Option<Secret>,
    /// The Redis key prefix (with `REDIS_URL`).
    #[security(default = "rail-demo", env = "REDIS_PREFIX", non_empty)]
    pub redis_prefix: String,
    /// The seeded `demo` user's password (development default `demo-password`; required in
    /// production).
    #[security(secret, env = "DEMO_PASSWORD")]
    pub demo_password: Option<Secret>,
    /// The seeded `admin` user's password (development default `admin-password`; required in
    /// production).
    #[security(secret, env = "ADMIN_PASSWORD")]
    pub admin_password: Option<Secret>,
    /// The plugin's settings (the standard defaults, but MFA is on in every profile: see
    /// [`demo_security_defaults`]; SMS codes go to the console in development, the standard
    /// default).
    #[security(
        nested,
        defaults = demo_security_defaults,
        env(
            REDIS_URL = "middleware.rate_limiting.store_url",
            JWT_SECRET = "deployment.secret_key",
            MFA_ENCRYPTION_KEY = "mfa.encryption_key",
            LOGIN_ATTEMPTS_LIMIT = "middleware.rate_limiting.login_attempts_limit",
            LOGIN_IP_ATTEMPTS_LIMIT = "middleware.rate_limiting.login_ip_attempts_limit",
            LOGIN_ATTEMPTS_WINDOW = "middleware.rate_limiting.login_attempts_window",
            GRAPHQL_REQUESTS_LIMIT = "middleware.rate_limiting.graphql_requests_limit",
            GRAPHQL_REQUESTS_WINDOW = "middleware.rate_limiting.graphql_requests_window",
        )
    )]
    pub security: StandardSecurityConfig,
}

/// The standard defaults with what the example exists to show turned on: MFA is enforced in
/// every profile (and required of the `admin` role), with the issuer `rail-demo`; outside
/// production, passkeys for `http://localhost:8000` (relying party `localhost`: browsers refuse
/// passkeys on an IP address such as 127.0.0.1).
pub fn demo_security_defaults(profile: &Profile) -> StandardSecurityConfig {
    let mut security = StandardSecurityConfig::defaults(profile);
    security.mfa.enabled = true;
    security.mfa.issuer = "rail-demo".to_owned();
    security.mfa.required_for_roles = vec!["admin".to_owned()];
    security.mfa.passkeys.rp_name = "rail-demo".to_owned();
    if !profile.is_production() {
        security.mfa.passkeys.rp_id = Some("localhost".to_owned());
        security.mfa.passkeys.origins = vec!["http://localhost:8000".to_owned()];
    }
    security
}

fn socket_address(address: &String) -> Result<(), String> {
    address.parse::<SocketAddr>().map(drop).map_err(|_| format!("`{address}` is not an address like 127.0.0.1:8000"))
}

impl DemoConfig {
    /// Development settings on `database_url` with fresh random secrets: clone the result to
    /// start several instances that share them.
    pub fn development(database_url: impl Into<String>) -> Self {
        let mut config = DemoConfig::defaults(&Profile::Development);
        config.database_url = Some(Secret::new(database_url.into()));
        config.security.deployment.secret_key = Some(Secret::new(random_base64(48)));
        config.security.mfa.encryption_key = Base64Key::new(&random_base64(32));
        config
    }

    /// The database URL (the SQLite file under `demo-data/` when unset).
    pub fn database_url(&self) -> &str {
        self.database_url.as_ref().map_or(DEFAULT_DATABASE_URL, |url| url.expose())
    }

    /// The address to listen on.
    pub fn bind_addr(&self) -> SocketAddr {
        self.bind_addr.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8000)))
    }

    /// The `demo` user's password.
    pub fn demo_password(&self) -> &str {
        self.demo_password.as_ref().map_or(DEFAULT_DEMO_PASSWORD, |p| p.expose())
    }

    /// The `admin` user's password.
    pub fn admin_password(&self) -> &str {
        self.admin_password.as_ref().map_or(DEFAULT_ADMIN_PASSWORD, |p| p.expose())
    }
}

/// The loaded configuration with the profile it was loaded for: what the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The configuration.
    pub config: DemoConfig,
    /// The profile (`RAIL_SECURITY_ENV`).
    pub profile: Profile,
    /// Print the audit logger's alerts on standard output (the binary does; tests don't).
    pub print_alerts: bool,
}

impl Settings {
    /// Development settings on `database_url` (see [`DemoConfig::development`]).
    pub fn development(database_url: impl Into<String>) -> Self {
        Settings { config: DemoConfig::development(database_url), profile: Profile::Development, print_alerts: false }
    }

    /// Whether the production profile is in force.
    pub fn production(&self) -> bool {
        self.profile.is_production()
    }

    /// Loads the configuration from the environment and `RAIL_SECURITY_CONFIG`, reporting
    /// every problem at once. Without `JWT_SECRET` / `MFA_ENCRYPTION_KEY`, development secrets
    /// are generated once into `demo-data/` (mode 0600); production refuses to start without
    /// them and without its own passwords.
    pub fn load() -> Result<Self, DemoError> {
        Self::from_loaded(DemoConfig::loader().load_with_origins().map_err(DemoError::Configuration)?)
    }

    /// Finishes a loaded configuration (see [`Settings::load`]).
    pub fn from_loaded(loaded: rail_graphql_security::config::Loaded<DemoConfig>) -> Result<Self, DemoError> {
        let (mut config, profile) = (loaded.config, loaded.profile);
        let production = profile.is_production();
        let mut problems = Vec::new();
        if production {
            let passwords = [
                (&config.demo_password, "DEMO_PASSWORD", DEFAULT_DEMO_PASSWORD),
                (&config.admin_password, "ADMIN_PASSWORD", DEFAULT_ADMIN_PASSWORD),
            ];
            for (value, var, default) in passwords {
                match value.as_ref().map(|v| v.expose()) {
                    None => problems.push(format!(
                        "{var} must be set in production: the development default is published in the README"
                    )),
                    Some(v) if [DEFAULT_DEMO_PASSWORD, DEFAULT_ADMIN_PASSWORD, default].contains(&v.trim()) => problems
                        .push(format!(
                            "{var} is a documented default password, refused in production: {}",
                            rail_graphql_security::config::GENERATE_HINT
                        )),
                    Some(v) => {
                        if let Err(weak) = rail_graphql_security::config::secret_strength(v) {
                            problems.push(format!("{var} is too weak for production: it {weak}"));
                        }
                    }
                }
            }
        }
        let missing = |var: &str, bytes: usize| {
            format!("{var} must be set in production (generate one with `openssl rand -base64 {bytes}`)")
        };
        if production
            && let Some(secret) = &config.security.deployment.secret_key
            && let Err(weak) = rail_graphql_security::config::secret_strength(secret.expose())
        {
            problems.push(format!("JWT_SECRET is too weak for production: it {weak}"));
        }
        if config.security.deployment.secret_key.is_none() {
            match production {
                true => problems.push(missing("JWT_SECRET", 48)),
                false => config.security.deployment.secret_key = Some(Secret::new(dev_secret("jwt.secret", 48)?)),
            }
        }
        if config.security.mfa.encryption_key.is_none() {
            match production {
                true => problems.push(missing("MFA_ENCRYPTION_KEY", 32)),
                false => {
                    let key = dev_secret("mfa.key", 32)?;
                    config.security.mfa.encryption_key = Some(Base64Key::new(&key).ok_or_else(|| {
                        DemoError::Config(format!(
                            "{DATA_DIR}/mfa.key is not 32 bytes in base64: delete it to get a new one"
                        ))
                    })?);
                }
            }
        }
        // Signs the audit trail's checkpoints (`demo audit verify` checks them). Optional in
        // production, where `demo check` warns without it.
        if config.security.audit.checkpoint_signing_key.is_none() && !production {
            config.security.audit.checkpoint_signing_key = Some(Secret::new(dev_secret("audit-checkpoint.key", 32)?));
        }
        if config.database_url.is_none() {
            std::fs::create_dir_all(DATA_DIR)?;
        }
        if problems.is_empty() {
            Ok(Settings { config, profile, print_alerts: true })
        } else {
            Err(DemoError::Config(problems.join("\n")))
        }
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

/// Writes a new file readable by its owner only (0600 on Unix): it holds a key.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Reads a development secret from `demo-data/<file>`, creating it (mode 0600) on first use, so
/// restarts keep tokens and TOTP secrets valid.
fn dev_secret(file: &str, bytes: usize) -> Result<String, DemoError> {
    let path = Path::new(DATA_DIR).join(file);
    match std::fs::read_to_string(&path) {
        Ok(secret) if !secret.trim().is_empty() => Ok(secret.trim().to_owned()),
        _ => {
            std::fs::create_dir_all(DATA_DIR)?;
            let secret = random_base64(bytes);
            write_private(&path, &secret)
                .map_err(|e| DemoError::Config(format!("cannot write {}: {e}", path.display())))?;
            Ok(secret)
        }
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
    /// The database URL without its password, for the start banner.
    pub database_label: String,
    /// The running security stack (shut it down to write every queued audit event).
    pub security: Security,
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

    /// The user named `username`, compared in the one normalised form
    /// ([`rail_graphql_security::username::normalize`]: NFKC + case fold; names are stored in
    /// it). The row is confirmed in Rust too, so a case- or accent-insensitive collation that
    /// returns another spelling's row cannot make two names one account.
    pub async fn find(&self, username: &str) -> Result<Option<user::Model>, DbErr> {
        let name = normalize_username(username);
        // No stored name holds a NUL (PostgreSQL refuses it, even in a query): such a name is
        // an unknown user, not a database error.
        if name.is_empty() || name.contains('\0') {
            return Ok(None);
        }
        let row = user::Entity::find().filter(user::Column::Username.eq(name.as_str())).one(&self.db).await?;
        Ok(row.filter(|row| normalize_username(&row.username) == name))
    }

    /// Whether `password` is `username`'s (the name in its normalised form).
    pub async fn check(&self, username: &str, password: SecretString) -> Result<Credentials, DbErr> {
        // An unknown name is answered after the same hash work as a known one.
        let row = self.find(username).await?;
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
    let database = |source| DemoError::Database { url: redact_url(config.database_url()), source };
    for (name, password, role) in
        [("demo", config.demo_password(), "user"), ("admin", config.admin_password(), "admin")]
    {
        if password.chars().count() < 8 {
            return Err(DemoError::Config(format!(
                "the {name} password is shorter than 8 characters: set a longer {}",
                if name == "demo" { "DEMO_PASSWORD" } else { "ADMIN_PASSWORD" }
            )));
        }
        let name = normalize_username(name);
        let name = name.as_str();
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

/// Connects to the configured database, migrates, seeds and builds the application.
pub async fn build_app(settings: &Settings) -> Result<Demo, DemoError> {
    let db = connect(settings.config.database_url()).await?;
    build_app_with_db(settings, db).await
}

/// Like [`build_app`] on an already open connection (tests use it for a PostgreSQL schema of
/// their own).
pub async fn build_app_with_db(settings: &Settings, db: DatabaseConnection) -> Result<Demo, DemoError> {
    build_app_with_sms(settings, db, None).await
}

/// Like [`build_app_with_db`], with `sms` sending the SMS codes when `mfa.sms.provider` is
/// `custom` (tests read the codes from it).
pub async fn build_app_with_sms(
    settings: &Settings,
    db: DatabaseConnection,
    sms: Option<Arc<dyn SmsProvider>>,
) -> Result<Demo, DemoError> {
    let config = &settings.config;
    migrate(&db).await.map_err(|source| DemoError::Database { url: redact_url(config.database_url()), source })?;
    seed(&db, config).await?;

    // Everything security-related is built from the loaded configuration, in one place.
    let mut builder = Security::builder(&config.security, settings.profile.clone(), db.clone())
        .redis_prefix(config.redis_prefix.clone())
        .graphql_limits(price_fields);
    if let Some(sms) = sms {
        builder = builder.sms_provider(sms);
    }
    if settings.print_alerts {
        builder = builder.alert_handler(|alert: Alert| async move {
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
    let security = builder.build().await?;

    let passwords = Passwords::new(db.clone())?;
    let mfa = security.mfa::<i64>()?;
    let state = schema::AppState::new(
        db.clone(),
        mfa.clone(),
        security.login_limiter().clone(),
        security.tokens().clone(),
        security.logger().clone(),
        passwords.clone(),
    );
    let schema = security.apply(schema::schema_builder(state)).finish();
    let dashboard_error = |e: dashboard::DashboardError| DemoError::Config(format!("dashboard: {e}"));
    // The dashboard shares the stack's tokens, limits, cookie attributes and findings (the
    // checks of the configuration this server runs with). Two steps: the password, then a TOTP
    // or backup code from the same MFA manager when the account has a confirmed factor; the
    // admin role (the dashboard's, the default) may not sign in without one.
    let dashboard =
        security.dashboard(DemoAuthenticator(passwords)).second_factor(mfa).build().map_err(dashboard_error)?;
    // `/security` is the page; `/security/` redirects there.
    let mounted = dashboard::router_at("/security", dashboard).map_err(dashboard_error)?;
    // `/account`: the signed-in user's own security page, on the same schema.
    let account = account::AccountPage::new(
        schema.clone(),
        security.tokens().clone(),
        db.clone(),
        security.cookie_policy().secure,
    );
    let mounted = mounted.merge(account.router());
    // Merged before the security layers: the dashboard gets the host check, https redirect,
    // request ids, limits and headers of `/graphql`.
    let router = security.router_with(schema, mounted);
    Ok(Demo {
        router,
        db,
        logger: security.logger().clone(),
        tokens: security.tokens().clone(),
        database_label: redact_url(config.database_url()),
        security,
    })
}

/// The price of the fields that hash passwords or codes (Argon2id), send SMS or aggregate the
/// audit table, and once-per-request for the ones that hash or check a code (20 aliases of
/// `generateBackupCodes` were 200 Argon2id hashes) or write audit events at each call (10
/// aliases each of `secretNote` and `securityReport` made one anonymous request write 30
/// events). The limits themselves come from the config.
pub fn price_fields(limits: GraphqlLimits) -> GraphqlLimits {
    limits
        .mfa_costs("Mutation")
        .field_cost("Mutation.login", EXPENSIVE_FIELD_COST)
        .field_max_occurrences("Mutation.login", 1)
        .field_max_occurrences("Query.secretNote", 1)
        .field_cost("Query.securityReport", 20)
        .field_max_occurrences("Query.securityReport", 1)
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
