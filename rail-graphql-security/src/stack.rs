//! The one entry point from a loaded [`StandardSecurityConfig`] to the running stack (feature
//! `axum`): the audit logger with its sinks and retention, the token service and its
//! revocation store, the login and request limits, the HTTP layer, the GraphQL limits, the
//! slow-operation log and the MFA managers.
//!
//! ```no_run
//! # async fn run(db: sea_orm::DatabaseConnection) -> Result<(), Box<dyn std::error::Error>> {
//! use std::net::SocketAddr;
//! use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
//! use rail_graphql_security::config::{Profile, SecurityConfig, StandardSecurityConfig};
//! use rail_graphql_security::stack::Security;
//!
//! struct Query;
//! #[Object]
//! impl Query {
//!     async fn hello(&self) -> &str { "world" }
//! }
//!
//! let profile = Profile::from_env()?;
//! let config = StandardSecurityConfig::loader().profile(profile.clone()).load()?;       // load
//! let security = Security::builder(&config, profile, db.clone()).build().await?;        // build
//! let schema = security.apply(Schema::build(Query, EmptyMutation, EmptySubscription))
//!     .data(security.mfa::<i64>()?)
//!     .finish();
//! let app = security.router(schema);                                                    // mount
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! security.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! What each section becomes:
//! - `audit`: [`AuditSettings::logger_builder`](crate::config::standard::AuditSettings::logger_builder)
//!   (sinks, webhook headers and signing secret, alert thresholds; `enabled = false` records
//!   nothing), plus the sinks and alert handlers given to the builder, plus the retention task
//!   (at start, then hourly) when the `database` backend is listed. With
//!   `middleware.rate_limiting.store_url`, the alert thresholds count every instance's events
//!   in Redis ([`SharedAlertWindows`](crate::audit::SharedAlertWindows)).
//! - `middleware`: the [`TokenService`] (key `deployment.secret_key`, scheme
//!   `jwt_header_prefix`, revocations in the database, cached in Redis when
//!   `rate_limiting.store_url` is set, purged hourly; checks read a local set of them kept in
//!   step within [`REVOCATION_SYNC_BOUND`](crate::auth::REVOCATION_SYNC_BOUND) by Redis pub/sub
//!   with `store_url`, else PostgreSQL `LISTEN`/`NOTIFY` on PostgreSQL, and by polling), the [`LoginRateLimiter`] and the request limit (memory or Redis
//!   counters), `authentication.enabled` (bearer tokens read or not), `security_headers`,
//!   `performance` (the [`SlowQueryLog`]).
//! - `mfa`: the [`MfaConfig`], the key (and former keys) of the [`SecretCipher`], the SMS
//!   provider; [`Security::mfa`] makes a manager for any user id type.
//! - `deployment`: the [`HttpSecurity`] (headers, allowed hosts, https redirect, CORS, trusted
//!   proxies, body limit, multipart), the [`GraphqlLimits`] and the [`CookiePolicy`].

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::{ObjectType, Schema, SchemaBuilder, SubscriptionType};
use axum::Router;
use sea_orm::DatabaseConnection;
use secrecy::SecretString;
use tokio::task::JoinHandle;

use crate::audit::{
    AlertHandler, AuditError, AuditLogger, AuditLoggerBuilder, AuditSink, AuditStats, CheckpointKey, StorageBackend,
    spawn_retention_task,
};
use crate::auth::{RevocationStore, TokenConfig, TokenService};
use crate::config::standard::Base64Key;
use crate::config::{CheckReport, Profile, Secret, SecurityConfig, StandardSecurityConfig, secret_strength};
use crate::graphql::{GraphqlLimits, SlowQueryLog};
use crate::http::{CookiePolicy, HttpSecurity, graphql_router, graphql_routes};
use crate::mfa::MfaConfig;
#[cfg(feature = "mfa")]
use crate::mfa::sms::SmsProvider;
#[cfg(feature = "mfa")]
use crate::mfa::{MfaManager, MfaUserId, SecretCipher, check_sms_provider};
use crate::rate_limit::{LoginRateLimiter, Quota, RateLimiter};

mod error;
mod sections;

pub use self::error::StackError;
#[cfg(feature = "mfa")]
use self::sections::{cipher, sms_provider};
use self::sections::{http_security, mfa_config, revocation_push, shared_stores};

/// How often the audit retention and the revocation purge run after the first run at start.
pub const DEFAULT_MAINTENANCE_INTERVAL: Duration = Duration::from_secs(3600);

/// The running security stack built from a [`StandardSecurityConfig`]; see the [module
/// docs](self). Cheap to clone. Its background tasks stop on [`shutdown`](Self::shutdown) or
/// when the last clone is dropped.
#[derive(Clone)]
pub struct Security {
    inner: Arc<Inner>,
}

struct Inner {
    profile: Profile,
    #[cfg_attr(not(feature = "mfa"), expect(dead_code, reason = "only the MFA managers and the dashboard use it"))]
    db: DatabaseConnection,
    logger: AuditLogger,
    tokens: TokenService,
    limiter: RateLimiter,
    login: LoginRateLimiter,
    request_quota: Option<Quota>,
    http: HttpSecurity,
    limits: GraphqlLimits,
    slow_queries: Option<SlowQueryLog>,
    mfa_config: Arc<MfaConfig>,
    #[cfg(feature = "mfa")]
    cipher: Option<Arc<SecretCipher>>,
    #[cfg(feature = "mfa")]
    sms: Option<Arc<dyn SmsProvider>>,
    #[cfg(feature = "mfa")]
    passkeys: Option<Arc<webauthn_rs::Webauthn>>,
    cookie: CookiePolicy,
    findings: CheckReport,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in self.tasks.get_mut().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
    }
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("Security");
        d.field("profile", &i.profile)
            .field("logger", &i.logger)
            .field("tokens", &i.tokens)
            .field("login", &i.login)
            .field("request_quota", &i.request_quota)
            .field("http", &i.http)
            .field("limits", &i.limits)
            .field("slow_queries", &i.slow_queries)
            .field("mfa_config", &i.mfa_config);
        #[cfg(feature = "mfa")]
        d.field("mfa_key_id", &i.cipher.as_ref().map(|c| c.current_key_id()))
            .field("sms", &i.sms.as_ref().map(|p| p.name()));
        d.field("cookie", &i.cookie).finish_non_exhaustive()
    }
}

type AuditExtra = Box<dyn FnOnce(AuditLoggerBuilder) -> AuditLoggerBuilder + Send>;

/// Builds a [`Security`]; see [`Security::builder`].
pub struct SecurityBuilder<'a> {
    config: &'a StandardSecurityConfig,
    profile: Profile,
    db: DatabaseConnection,
    audit_db: Option<DatabaseConnection>,
    #[cfg(feature = "mfa")]
    sms: Option<Arc<dyn SmsProvider>>,
    audit_extras: Vec<AuditExtra>,
    redis_prefix: String,
    served_over_tls: bool,
    maintenance_interval: Duration,
    price_fields: fn(GraphqlLimits) -> GraphqlLimits,
}

impl fmt::Debug for SecurityBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SecurityBuilder");
        d.field("profile", &self.profile);
        #[cfg(feature = "mfa")]
        d.field("sms", &self.sms.as_ref().map(|p| p.name()));
        d.field("audit_extras", &self.audit_extras.len())
            .field("redis_prefix", &self.redis_prefix)
            .field("served_over_tls", &self.served_over_tls)
            .finish_non_exhaustive()
    }
}

impl<'a> SecurityBuilder<'a> {
    /// The SMS provider used when `mfa.sms.provider = "custom"` (giving one with another
    /// provider configured is an error, so the config always says what sends codes).
    #[cfg(feature = "mfa")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mfa")))]
    pub fn sms_provider(mut self, provider: impl SmsProvider + 'static) -> Self {
        self.sms = Some(Arc::new(provider));
        self
    }

    /// Registers an alert handler on the audit logger.
    pub fn alert_handler(mut self, handler: impl AlertHandler) -> Self {
        self.audit_extras.push(Box::new(move |builder| builder.alert_handler(handler)));
        self
    }

    /// Adds an audit sink to those of `audit.storage_backend`.
    pub fn sink(mut self, sink: impl AuditSink) -> Self {
        self.audit_extras.push(Box::new(move |builder| builder.sink(sink)));
        self
    }

    /// The prefix of every Redis key (default `rail`), so several apps can share one Redis.
    pub fn redis_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.redis_prefix = prefix.into();
        self
    }

    /// A connection of its own for the audit `database` sink and retention (on SQLite, SeaORM's
    /// pool has one connection, which audit batches would otherwise hold while requests wait).
    pub fn audit_database(mut self, db: DatabaseConnection) -> Self {
        self.audit_db = Some(db);
        self
    }

    /// Declares that the server itself terminates TLS, so `deployment.https_redirect` sees
    /// every request as https (without it, only a trusted proxy's `X-Forwarded-Proto` does).
    pub fn served_over_tls(mut self, tls: bool) -> Self {
        self.served_over_tls = tls;
        self
    }

    /// Declares the price and per-request limit of the app's expensive fields on top of the
    /// configured limits, e.g. `|limits| limits.mfa_costs("Mutation").field_cost("Mutation.login", 50)`
    /// ([`GraphqlLimits::field_cost`], [`GraphqlLimits::field_max_occurrences`]).
    pub fn graphql_limits(mut self, price_fields: fn(GraphqlLimits) -> GraphqlLimits) -> Self {
        self.price_fields = price_fields;
        self
    }

    /// How often retention and the revocation purge run after their first run at start
    /// (default [`DEFAULT_MAINTENANCE_INTERVAL`]).
    pub fn maintenance_interval(mut self, every: Duration) -> Self {
        self.maintenance_interval = every.max(Duration::from_millis(10));
        self
    }

    /// Builds the stack: connects to Redis when `store_url` is set, starts the audit pipeline
    /// and the background tasks. Call it inside a Tokio runtime.
    pub async fn build(self) -> Result<Security, StackError> {
        let config = self.config;
        let production = self.profile.is_production();
        let mut tasks = Vec::new();

        let rate = &config.middleware.rate_limiting;
        let (limiter, revocations) = match &rate.store_url {
            Some(url) => shared_stores(url.expose(), &self.redis_prefix, &self.db).await?,
            None => (RateLimiter::memory(), RevocationStore::database(self.db.clone())),
        };

        let audit_db = self.audit_db.clone().unwrap_or_else(|| self.db.clone());
        let mut audit = config.audit.logger_builder(Some(audit_db.clone()))?;
        // With Redis, the alert thresholds count every instance's events.
        #[cfg(feature = "redis")]
        if let RateLimiter::Redis(redis) = &limiter {
            let windows = crate::audit::SharedAlertWindows::with_connection(redis.connection(), &self.redis_prefix);
            audit = audit.shared_alert_windows(windows);
        }
        for extra in self.audit_extras {
            audit = extra(audit);
        }
        let logger = audit.build();
        if config.audit.enabled && config.audit.storage_backend.contains(&StorageBackend::Database) {
            let key = config.audit.checkpoint_signing_key.as_ref().map(|s| CheckpointKey::from_secret(s.expose()));
            tasks.push(spawn_retention_task(audit_db, config.audit.retention_days, self.maintenance_interval, key));
        }

        // Checks answer from a local set that push and polling keep in step with the database
        // (within `REVOCATION_SYNC_BOUND`); it is loaded here, before any request.
        let push = revocation_push(rate.store_url.as_ref().map(Secret::expose), &self.redis_prefix, &self.db);
        let revocations = revocations.synced(push).await.map_err(StackError::RevocationStore)?;
        let secret = config.deployment.secret_key.as_ref().ok_or(StackError::MissingSecretKey)?;
        if production {
            // Length alone let `aaaa…` through: refuse low-entropy material (issue 14, item 4).
            let secrets = [
                ("deployment.secret_key", Some(secret.expose())),
                ("audit.webhook_secret", config.audit.webhook_secret.as_ref().map(Secret::expose)),
                ("mfa.encryption_key", config.mfa.encryption_key.as_ref().map(Base64Key::expose)),
            ];
            for (key, value) in secrets {
                if let Some(value) = value {
                    secret_strength(value).map_err(|weakness| StackError::WeakSecret { key, weakness })?;
                }
            }
        }
        let token_config = TokenConfig::new(SecretString::from(secret.expose().to_owned()))
            .map_err(StackError::SecretKey)?
            .header_prefix(config.middleware.authentication.jwt_header_prefix.trim());
        let tokens = TokenService::new(token_config, revocations).with_audit(logger.clone());
        // The database holds every revocation (Redis only caches them): purge expired rows.
        tasks.push(tokens.spawn_revocation_purge(self.maintenance_interval));

        let login_window = Duration::from_secs(rate.login_attempts_window);
        let login = LoginRateLimiter::new(limiter.clone(), rate.login_attempts_limit, login_window)
            .per_ip(Quota::new(rate.login_ip_attempts_limit, login_window))
            .audit(logger.clone())
            .enabled(rate.enabled);
        let request_quota = rate
            .enabled
            .then(|| Quota::new(rate.graphql_requests_limit, Duration::from_secs(rate.graphql_requests_window)));

        let mfa_config = mfa_config(&config.mfa, production);
        mfa_config.validate()?;
        #[cfg(feature = "mfa")]
        let (cipher, sms, passkeys) = {
            let cipher = cipher(&config.mfa)?;
            if config.mfa.enabled && cipher.is_none() {
                return Err(StackError::MissingEncryptionKey);
            }
            let sms = sms_provider(&config.mfa, self.sms)?;
            if let Some(provider) = &sms {
                check_sms_provider(&mfa_config, provider.as_ref())?;
            }
            let passkeys = crate::mfa::relying_party(&mfa_config.passkeys)?.map(Arc::new);
            (cipher, sms, passkeys)
        };
        #[cfg(not(feature = "mfa"))]
        if config.mfa.enabled {
            return Err(StackError::MfaNotCompiled);
        }

        let d = &config.deployment;
        let mut http = http_security(d, &config.middleware.authentication.security_headers, production)?
            .served_over_tls(self.served_over_tls)
            .audit(logger.clone());
        if config.middleware.authentication.enabled {
            http = http.tokens(tokens.clone());
        }
        if let Some(quota) = request_quota {
            let lease = Duration::from_millis(rate.graphql_requests_lease_ms);
            http = http.request_rate_limit(limiter.with_local_leases(lease), quota);
        }
        let limits = (self.price_fields)(GraphqlLimits {
            max_depth: Some(d.max_query_depth as usize),
            max_complexity: Some(d.max_query_complexity as usize),
            max_field_occurrences: (d.max_field_occurrences > 0).then_some(d.max_field_occurrences as usize),
            field_rules: Default::default(),
            introspection: d.introspection,
            graphiql: d.playground,
        });
        let performance = &config.middleware.performance;
        let slow_queries =
            performance.enabled.then(|| SlowQueryLog::new(Duration::from_secs_f64(performance.slow_query_threshold)));
        let cookie =
            CookiePolicy { secure: d.cookie_secure, http_only: d.cookie_http_only, same_site: d.cookie_same_site };

        Ok(Security {
            inner: Arc::new(Inner {
                findings: config.run_checks(&self.profile),
                profile: self.profile,
                db: self.db,
                logger,
                tokens,
                limiter,
                login,
                request_quota,
                http,
                limits,
                slow_queries,
                mfa_config: Arc::new(mfa_config),
                #[cfg(feature = "mfa")]
                cipher,
                #[cfg(feature = "mfa")]
                sms,
                #[cfg(feature = "mfa")]
                passkeys,
                cookie,
                tasks: Mutex::new(tasks),
            }),
        })
    }
}

impl Security {
    /// Starts building the stack from `config` (as loaded for `profile`) on `db` (migrated
    /// with the security tables).
    pub fn builder(config: &StandardSecurityConfig, profile: Profile, db: DatabaseConnection) -> SecurityBuilder<'_> {
        SecurityBuilder {
            config,
            profile,
            db,
            audit_db: None,
            #[cfg(feature = "mfa")]
            sms: None,
            audit_extras: Vec::new(),
            redis_prefix: "rail".to_owned(),
            served_over_tls: false,
            maintenance_interval: DEFAULT_MAINTENANCE_INTERVAL,
            price_fields: |limits| limits,
        }
    }

    /// The profile the stack was built for.
    pub fn profile(&self) -> &Profile {
        &self.inner.profile
    }

    /// The audit logger.
    pub fn logger(&self) -> &AuditLogger {
        &self.inner.logger
    }

    /// The token service (`deployment.secret_key`, `jwt_header_prefix`).
    pub fn tokens(&self) -> &TokenService {
        &self.inner.tokens
    }

    /// The login limiter: call [`LoginRateLimiter::check`] before checking a password.
    pub fn login_limiter(&self) -> &LoginRateLimiter {
        &self.inner.login
    }

    /// The counter store of the login and request limits (memory, or Redis with `store_url`).
    pub fn request_limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    /// The per-client request quota, `None` when `rate_limiting.enabled = false`.
    pub fn request_quota(&self) -> Option<Quota> {
        self.inner.request_quota
    }

    /// The HTTP layer (wrap your own routes with [`HttpSecurity::apply`]).
    pub fn http(&self) -> HttpSecurity {
        self.inner.http.clone()
    }

    /// The GraphQL limits.
    pub fn limits(&self) -> &GraphqlLimits {
        &self.inner.limits
    }

    /// The slow-operation log, `None` when `performance.enabled = false`.
    pub fn slow_query_log(&self) -> Option<&SlowQueryLog> {
        self.inner.slow_queries.as_ref()
    }

    /// The MFA settings every [`mfa`](Self::mfa) manager uses.
    pub fn mfa_config(&self) -> &MfaConfig {
        &self.inner.mfa_config
    }

    /// An MFA manager for users whose ids are `Id`, auditing through [`logger`](Self::logger)
    /// and sending SMS through the configured provider. Fails only without
    /// `mfa.encryption_key`.
    #[cfg(feature = "mfa")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mfa")))]
    pub fn mfa<Id: MfaUserId>(&self) -> Result<MfaManager<Id>, StackError> {
        let cipher = self.inner.cipher.clone().ok_or(StackError::MissingEncryptionKey)?;
        let manager = MfaManager::from_shared(
            self.inner.db.clone(),
            self.inner.mfa_config.clone(),
            cipher,
            self.inner.passkeys.clone(),
        )
        .with_audit_logger(self.inner.logger.clone())
        .with_rate_limiter(self.inner.limiter.clone());
        Ok(match &self.inner.sms {
            Some(provider) => manager.with_shared_sms_provider(provider.clone())?,
            None => manager,
        })
    }

    /// The attributes of cookies the plugin sets (`deployment.cookie_*`).
    pub fn cookie_policy(&self) -> CookiePolicy {
        self.inner.cookie
    }

    /// The `security_check` report of the config the stack was built from.
    pub fn findings(&self) -> &CheckReport {
        &self.inner.findings
    }

    /// Applies the depth, complexity and introspection limits, the slow-operation log, the
    /// [`RateLimiter`] (memory or Redis, as configured) that `#[rate_limit]` resolvers count in
    /// and, when
    /// `mfa.enabled` and `mfa.pending_session_policy = "strict"`, the
    /// [`PendingSessionGuard`](crate::mfa::policy::PendingSessionGuard) (a password-only
    /// session of a user with a second factor may only complete it, read `mfaStatus` and log
    /// out).
    pub fn apply<Q, M, S>(&self, builder: SchemaBuilder<Q, M, S>) -> SchemaBuilder<Q, M, S>
    where
        Q: ObjectType + 'static,
        M: ObjectType + 'static,
        S: SubscriptionType + 'static,
    {
        let mut builder = self.inner.limits.apply(builder).data(self.inner.limiter.clone());
        let mfa = &self.inner.mfa_config;
        if mfa.enabled && mfa.pending_session_policy == crate::mfa::policy::MfaPolicy::HighestAvailable {
            builder = builder.extension(crate::mfa::policy::PendingSessionGuard::default());
        }
        match &self.inner.slow_queries {
            Some(log) => builder.extension(log.clone()),
            None => builder,
        }
    }

    /// `POST /graphql` (and GraphiQL with `playground`) behind the HTTP layer; see
    /// [`graphql_router`]. Serve it with `into_make_service_with_connect_info::<SocketAddr>()`.
    pub fn router<Q, M, S>(&self, schema: Schema<Q, M, S>) -> Router
    where
        Q: ObjectType + 'static,
        M: ObjectType + 'static,
        S: SubscriptionType + 'static,
    {
        graphql_router(schema, self.http(), &self.inner.limits)
    }

    /// [`router`](Self::router) with `routes` (a mounted dashboard, health checks, your own
    /// pages) merged in before the security layers, so they get the same host check, https
    /// redirect, request ids, rate limit, body limit and security headers as `/graphql`.
    /// Routes merged into [`router`](Self::router)'s result afterwards get none of them.
    pub fn router_with<Q, M, S>(&self, schema: Schema<Q, M, S>, routes: Router) -> Router
    where
        Q: ObjectType + 'static,
        M: ObjectType + 'static,
        S: SubscriptionType + 'static,
    {
        let http = self.http();
        let merged = graphql_routes(schema, &http, &self.inner.limits).merge(routes);
        http.apply(merged)
    }

    /// Stops the background tasks and shuts the audit logger down (everything queued is
    /// written); returns its final counters.
    pub async fn shutdown(&self) -> Result<AuditStats, AuditError> {
        let tasks: Vec<_> = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect();
        for task in tasks {
            task.abort();
        }
        self.inner.logger.shutdown().await
    }
}

#[cfg(feature = "dashboard")]
impl Security {
    /// A dashboard builder wired to this stack: its database, tokens, audit logger, login
    /// limits, cookie attributes and `security_check` findings. Mount what it builds with
    /// [`dashboard::router_at`](crate::dashboard::router_at) and pass it to
    /// [`router_with`](Self::router_with), so it sits behind the same security layers.
    pub fn dashboard(
        &self,
        authenticator: impl crate::dashboard::DashboardAuthenticator,
    ) -> crate::dashboard::DashboardBuilder {
        crate::dashboard::Dashboard::builder(self.inner.db.clone(), self.inner.tokens.clone(), authenticator)
            .audit(self.inner.logger.clone())
            .login_rate_limit(self.inner.login.clone())
            .cookie_policy(self.inner.cookie)
            .findings(self.inner.findings.clone())
    }
}
