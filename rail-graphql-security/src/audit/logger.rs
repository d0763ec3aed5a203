//! [`AuditLogger`]: the handle applications log through.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

use super::alert::{AlertHandler, AlertThresholds, SharedAlertWindows};
use super::backoff::Backoff;
use super::checkpoint::{CheckpointKey, CheckpointPolicy};
use super::dead_letter::DeadLetterStore;
use super::event::{AuditEvent, AuditEventType};
use super::pipeline::{self, Command, Counters, Handlers, PipelineConfig};
use super::report::{ReportError, SecurityReport, generate_security_report};
use super::sink::{AuditSink, DatabaseSink, TracingSink};
use crate::resolver::ResolverCall;

/// Someone an event is about: implement it for your user model, or use [`Actor`].
pub trait AuditUser {
    /// The user's id, as text (any primary-key type).
    fn audit_id(&self) -> String;
    /// The user's name at the time of the event.
    fn audit_name(&self) -> Option<String>;
}

/// A ready-made [`AuditUser`]: an id and a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The user's id.
    pub id: String,
    /// The user's name.
    pub name: Option<String>,
}

impl Actor {
    /// An actor with an id and a name.
    pub fn new(id: impl ToString, name: impl Into<String>) -> Self {
        Self { id: id.to_string(), name: Some(name.into()) }
    }
}

impl AuditUser for Actor {
    fn audit_id(&self) -> String {
        self.id.clone()
    }
    fn audit_name(&self) -> Option<String> {
        self.name.clone()
    }
}

/// Counters of the logger's work since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct AuditStats {
    /// Events accepted onto the queue.
    pub logged: u64,
    /// Events refused because the queue was full or the logger shut down (each full-queue
    /// episode is itself recorded as a critical `audit_queue_overflow` event).
    pub dropped: u64,
    /// Events written, summed over sinks (an event written by two sinks counts twice).
    pub written: u64,
    /// Failed sink writes (each retried).
    pub write_failures: u64,
    /// Events a sink could not write before the shutdown deadline.
    pub lost: u64,
    /// Alerts dropped because the handlers fell too far behind.
    pub alerts_dropped: u64,
    /// Events a sink refused for good, moved to the dead-letter store (summed over sinks). Each
    /// is also logged with `tracing::error!` and raised as an [`Alert::DeadLettered`](super::Alert::DeadLettered).
    pub dead_lettered: u64,
    /// Events with a string changed to be storable (NUL replaced, cut to its column); see
    /// [`AuditEvent::make_storable`].
    pub sanitized: u64,
}

/// Why a logger operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The logger has been shut down.
    #[error("the audit logger has been shut down")]
    Closed,
    /// A shutdown did not finish in time (a sink is still retrying).
    #[error("the audit logger did not finish within {0:?}; a sink is still retrying (see the logs)")]
    Timeout(Duration),
    /// A flush hit its deadline: events logged before it are still queued or being retried by
    /// a sink (nothing is lost; they are written when the sink accepts them).
    #[error(
        "the audit flush hit its deadline of {0:?}: earlier events are still queued or being retried by a sink (see the `audit sink write failed` logs)"
    )]
    FlushDeadline(Duration),
    /// Reports and retention need the database sink.
    #[error("this needs the database sink: build the logger with `.database(db)`")]
    NoDatabase,
    /// A report query failed.
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// The audit logger: cheap to clone, safe to share, never blocks the caller.
///
/// [`log`](Self::log) puts the event on a bounded queue and returns; a background task masks
/// secrets, batches events, feeds the alert engine and hands batches to every sink, each with
/// its own worker that retries with back-off. If the queue is full the event is counted as
/// dropped (see [`stats`](Self::stats)) and a critical `audit_queue_overflow` event is raised.
/// Call [`shutdown`](Self::shutdown) before the process exits so queued events are written.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use rail_graphql_security::audit::{Actor, AuditLogger, FileSink};
///
/// let dir = tempfile::tempdir()?;
/// let logger = AuditLogger::builder().sink(FileSink::new(dir.path().join("audit.log"))).build();
/// logger.log_authentication_failure("alice", "203.0.113.9".parse().ok(), Some("curl/8"), "invalid password");
/// logger.log_authentication_success(&Actor::new(7, "alice"), None, None, serde_json::json!({"login_method": "password"}));
/// let stats = logger.shutdown().await?;
/// assert_eq!(stats.written, 2);
/// assert_eq!(std::fs::read_to_string(dir.path().join("audit.log"))?.lines().count(), 2);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AuditLogger {
    shared: Arc<Shared>,
}

struct Shared {
    enabled: bool,
    tx: mpsc::Sender<Command>,
    counters: Arc<Counters>,
    handlers: Handlers,
    database: Option<DatabaseConnection>,
    dispatcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    shutdown_timeout: Duration,
    flush_timeout: Duration,
    /// The checkpoint keys: [`CheckpointPolicy::key`] signs the anchors the retention purge
    /// leaves; [`CheckpointPolicy::verifying_keys`] are what the trail is checked with.
    checkpoints: CheckpointPolicy,
}

impl fmt::Debug for AuditLogger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLogger").field("enabled", &self.shared.enabled).field("stats", &self.stats()).finish()
    }
}

/// Configures an [`AuditLogger`]. See [`AuditLogger::builder`].
pub struct AuditLoggerBuilder {
    enabled: bool,
    sinks: Vec<Box<dyn AuditSink>>,
    database: Option<DatabaseConnection>,
    thresholds: AlertThresholds,
    shared_alert_windows: Option<SharedAlertWindows>,
    handlers: Vec<Arc<dyn AlertHandler>>,
    queue_capacity: usize,
    max_batch: usize,
    shutdown_timeout: Duration,
    flush_timeout: Duration,
    backoff: Backoff,
    dead_letters: Option<DeadLetterStore>,
    /// Where in `sinks` the database sinks are, to give them the checkpoint policy at build.
    database_sinks: Vec<(usize, DatabaseConnection)>,
    hash_chain: bool,
    checkpoints: CheckpointPolicy,
}

impl fmt::Debug for AuditLoggerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLoggerBuilder")
            .field("enabled", &self.enabled)
            .field("sinks", &self.sinks)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl AuditLoggerBuilder {
    /// Writes events to the `audit_events` table through `db` (batched inserts) and enables
    /// [`AuditLogger::generate_security_report`] and [`AuditLogger::purge_older_than`].
    ///
    /// On SQLite, give the logger a connection of its own to the database file: SeaORM opens
    /// a SQLite pool with one connection by default, and every batch insert (with its fsync)
    /// would hold it while your resolvers' queries wait.
    pub fn database(mut self, db: DatabaseConnection) -> Self {
        self.database_sinks.push((self.sinks.len(), db.clone()));
        self.sinks.push(Box::new(DatabaseSink::new(db.clone())));
        self.database = Some(db);
        self
    }

    /// Whether events are linked into a hash chain before the sinks see them (default `true`;
    /// see [`chain`](super::chain)). Off, events carry no [`ChainLink`](super::ChainLink) and
    /// `rail-security audit verify` has nothing to check.
    pub fn hash_chain(mut self, on: bool) -> Self {
        self.hash_chain = on;
        self
    }

    /// When the [`database`](Self::database) sinks write signed checkpoints of the hash chain,
    /// and with which key (default: unsigned, every 10,000 events or 5 minutes, and at
    /// shutdown). See [`checkpoint`](super::checkpoint).
    pub fn checkpoints(mut self, policy: CheckpointPolicy) -> Self {
        self.checkpoints = policy;
        self
    }

    /// Also emits every event as a `tracing` event.
    pub fn tracing(self) -> Self {
        self.sink(TracingSink::new())
    }

    /// Adds a sink (file, webhook, or your own [`AuditSink`]).
    pub fn sink(mut self, sink: impl AuditSink) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Adds an already boxed sink.
    pub fn boxed_sink(mut self, sink: Box<dyn AuditSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// `false` turns [`AuditLogger::log`] into a no-op (the `enabled` setting).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Alert thresholds (defaults: 10 failed logins/hour, 5 suspicious activities/day,
    /// 50 rate-limit hits/hour).
    pub fn alert_thresholds(mut self, thresholds: AlertThresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// Counts the thresholds in Redis, together with every logger of the same key prefix,
    /// instead of in this process alone; see [`SharedAlertWindows`].
    #[cfg(feature = "redis")]
    pub fn shared_alert_windows(mut self, windows: SharedAlertWindows) -> Self {
        self.shared_alert_windows = Some(windows);
        self
    }

    /// Registers an alert handler from the start.
    pub fn alert_handler(mut self, handler: impl AlertHandler) -> Self {
        self.handlers.push(Arc::new(handler));
        self
    }

    /// Events the queue holds before `log` starts dropping (default 65 536).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// Most events the dispatcher hands the sinks at once (default 1000). A sink that has
    /// fallen behind merges the batches queued for it up to its own
    /// [`AuditSink::max_write`](crate::audit::AuditSink::max_write) (the database sink: 10,000)
    /// and writes them at once.
    pub fn max_batch(mut self, max: usize) -> Self {
        self.max_batch = max.max(1);
        self
    }

    /// How long [`AuditLogger::flush`] (and the flush before a report) waits before it returns
    /// [`AuditError::FlushDeadline`] (default 10 s).
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// Where events a sink refuses for good are kept (default: the `audit_dead_letters` table
    /// when the logger has a database, otherwise only the error log). See
    /// [`dead_letter`](super::dead_letter).
    pub fn dead_letters(mut self, store: DeadLetterStore) -> Self {
        self.dead_letters = Some(store);
        self
    }

    /// How long [`AuditLogger::shutdown`] keeps retrying failing sinks (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Back-off between retries of a failed sink write: first delay and cap (defaults 100 ms
    /// and 30 s), full jitter.
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = Backoff::new(initial, max);
        self
    }

    /// Starts the background tasks. Must be called inside a Tokio runtime.
    pub fn build(mut self) -> AuditLogger {
        for (index, db) in std::mem::take(&mut self.database_sinks) {
            self.sinks[index] = Box::new(DatabaseSink::new(db).checkpoints(self.checkpoints.clone()));
        }
        if let Some(key) = &self.checkpoints.key {
            for sink in &self.sinks {
                sink.connect_checkpoint_key(key);
            }
        }
        let (tx, rx) = mpsc::channel(self.queue_capacity);
        let counters = Arc::new(Counters::default());
        let handlers: Handlers = Arc::new(RwLock::new(self.handlers));
        let config = PipelineConfig {
            max_batch: self.max_batch,
            sink_queue_batches: 16,
            alert_queue: 10_000,
            backoff: self.backoff,
            dead_letters: self.dead_letters.unwrap_or_else(|| match &self.database {
                Some(db) => DeadLetterStore::table(db.clone()),
                None => DeadLetterStore::log_only(),
            }),
            hash_chain: self.hash_chain,
        };
        let dispatcher = pipeline::spawn(
            rx,
            self.sinks,
            self.thresholds,
            self.shared_alert_windows,
            handlers.clone(),
            counters.clone(),
            config,
        );
        AuditLogger {
            shared: Arc::new(Shared {
                enabled: self.enabled,
                tx,
                counters,
                handlers,
                database: self.database,
                dispatcher: Mutex::new(Some(dispatcher)),
                shutdown_timeout: self.shutdown_timeout,
                flush_timeout: self.flush_timeout,
                checkpoints: self.checkpoints,
            }),
        }
    }
}

impl AuditLogger {
    /// Starts configuring a logger (no sinks yet: add at least one).
    pub fn builder() -> AuditLoggerBuilder {
        AuditLoggerBuilder {
            enabled: true,
            sinks: Vec::new(),
            database: None,
            thresholds: AlertThresholds::default(),
            shared_alert_windows: None,
            handlers: Vec::new(),
            queue_capacity: 65_536,
            max_batch: 1000,
            shutdown_timeout: Duration::from_secs(30),
            flush_timeout: Duration::from_secs(10),
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(30)),
            dead_letters: None,
            database_sinks: Vec::new(),
            hash_chain: true,
            checkpoints: CheckpointPolicy::default(),
        }
    }

    /// The public key checkpoints are signed with ([`AuditLoggerBuilder::checkpoints`]), if any.
    pub fn checkpoint_verifying_key(&self) -> Option<ed25519_dalek::VerifyingKey> {
        self.shared.checkpoints.key.as_ref().map(CheckpointKey::verifying_key)
    }

    /// Every key the trail's checkpoints are checked with: the signing key's public half, then
    /// the previous keys of a rotation ([`CheckpointPolicy::previous_keys`]). Empty: the
    /// checkpoints are unsigned.
    pub fn checkpoint_verifying_keys(&self) -> Vec<super::checkpoint::TrustedKey> {
        self.shared.checkpoints.verifying_keys()
    }

    /// Queues an event. Never waits and never panics; see the type's docs for a full queue.
    pub fn log(&self, event: AuditEvent) {
        self.send(Command::Event(event));
    }

    /// Queues an `#[audited]` call, turned into its event by the dispatcher; like
    /// [`log`](Self::log) otherwise.
    pub(crate) fn log_call(&self, call: ResolverCall) {
        self.send(Command::Call(call));
    }

    fn send(&self, command: Command) {
        if !self.shared.enabled {
            return;
        }
        let counters = &self.shared.counters.caller;
        match self.shared.tx.try_send(command) {
            Ok(()) => {
                counters.logged.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) => {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
                counters.unreported_drops.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Closed(_)) => {
                if counters.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::error!("an audit event was logged after shutdown and dropped");
                }
            }
        }
    }

    /// Registers a handler called for every high or critical event and for every threshold
    /// reached (once per window).
    pub fn register_alert_handler(&self, handler: impl AlertHandler) {
        self.shared.handlers.write().unwrap_or_else(|p| p.into_inner()).push(Arc::new(handler));
    }

    /// The logger's counters.
    pub fn stats(&self) -> AuditStats {
        let c = &self.shared.counters;
        AuditStats {
            logged: c.caller.logged.load(Ordering::Relaxed),
            dropped: c.caller.dropped.load(Ordering::Relaxed),
            written: c.written.load(Ordering::Relaxed),
            write_failures: c.write_failures.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
            alerts_dropped: c.alerts_dropped.load(Ordering::Relaxed),
            dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
            sanitized: c.sanitized.load(Ordering::Relaxed),
        }
    }

    /// Waits until every event logged before this call is written (or dead-lettered) by every
    /// sink and every alert for them was handled; a sink that is down is retried meanwhile. Gives
    /// up after the builder's [`flush_timeout`](AuditLoggerBuilder::flush_timeout) (default
    /// 10 s) with [`AuditError::FlushDeadline`]: the events are still written later.
    pub async fn flush(&self) -> Result<(), AuditError> {
        self.flush_timeout(self.shared.flush_timeout).await
    }

    /// Like [`flush`](Self::flush), giving up after `timeout`.
    pub async fn flush_timeout(&self, timeout: Duration) -> Result<(), AuditError> {
        let flush = async {
            let (ack, done) = oneshot::channel();
            self.shared.tx.send(Command::Flush(ack)).await.map_err(|_| AuditError::Closed)?;
            done.await.map_err(|_| AuditError::Closed)
        };
        tokio::time::timeout(timeout, flush).await.map_err(|_| AuditError::FlushDeadline(timeout))?
    }

    /// Stops accepting events, writes everything queued (retrying failing sinks until the
    /// shutdown timeout), lets the webhook sink deliver its spool, and returns the final
    /// counters. Events a sink still could not write are counted in `lost` (the webhook sink
    /// keeps them spooled on disk instead). Later calls return the counters again.
    pub async fn shutdown(&self) -> Result<AuditStats, AuditError> {
        let handle = self.shared.dispatcher.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(handle) = handle else {
            return Ok(self.stats());
        };
        let deadline = tokio::time::Instant::now() + self.shared.shutdown_timeout;
        let (ack, _done) = oneshot::channel();
        let tx = self.shared.tx.clone();
        // Sinks give up at the deadline; the webhook's final delivery may take as long again.
        let grace = self.shared.shutdown_timeout * 2 + Duration::from_secs(1);
        let stop = async move {
            // A full queue makes this wait for room: shutdown is not on the request path.
            let _ = tx.send(Command::Shutdown(deadline, ack)).await;
            handle.await
        };
        tokio::time::timeout(grace, stop)
            .await
            .map_err(|_| AuditError::Timeout(grace))?
            .map_err(|_| AuditError::Closed)?;
        Ok(self.stats())
    }

    /// The security report for `[start, end)`; needs the database sink.
    ///
    /// Events this logger queued before the call are written first, within the flush deadline
    /// ([`AuditLoggerBuilder::flush_timeout`]). If a sink is still retrying then, the report
    /// is built from what is stored and says so: [`SecurityReport::flush_deadline_hit`] (and a
    /// warning in the log). It never waits longer than that deadline for the queue.
    pub async fn generate_security_report(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<SecurityReport, AuditError> {
        let db = self.shared.database.as_ref().ok_or(AuditError::NoDatabase)?;
        let flush_deadline_hit = match self.flush().await {
            Ok(()) => false,
            Err(error @ AuditError::FlushDeadline(_)) => {
                tracing::warn!(%error, "security report built without the events still queued");
                true
            }
            Err(error) => return Err(error),
        };
        let mut report = generate_security_report(db, start, end).await?;
        report.flush_deadline_hit = flush_deadline_hit;
        Ok(report)
    }

    /// Deletes stored events older than `retention_days`, in batches of 1000 rows (short
    /// transactions, no long table lock); needs the database sink. Returns how many rows were
    /// deleted.
    pub async fn purge_older_than(&self, retention_days: u32) -> Result<u64, AuditError> {
        let db = self.shared.database.as_ref().ok_or(AuditError::NoDatabase)?;
        Ok(super::retention::purge_older_than(db, retention_days, self.shared.checkpoints.key.as_ref()).await?)
    }

    /// Deletes stored events with a timestamp before `cutoff`, in batches like
    /// [`purge_older_than`](Self::purge_older_than); needs the database sink. Returns how many
    /// rows were deleted.
    pub async fn purge_before(&self, cutoff: DateTime<Utc>) -> Result<u64, AuditError> {
        let db = self.shared.database.as_ref().ok_or(AuditError::NoDatabase)?;
        let key = self.shared.checkpoints.key.as_ref();
        Ok(super::retention::purge_before(db, cutoff, key).await.map_err(ReportError::from)?)
    }

    fn event(
        event_type: AuditEventType,
        user: Option<&dyn AuditUser>,
        client_ip: Option<IpAddr>,
        user_agent: Option<&str>,
        details: Value,
    ) -> AuditEvent {
        let event = AuditEvent::new(event_type);
        let event = match user {
            Some(user) => event.actor(user),
            None => event,
        };
        event.client_ip(client_ip).user_agent(user_agent).details(details)
    }

    /// `login_success`.
    pub fn log_authentication_success(
        &self,
        user: &dyn AuditUser,
        client_ip: Option<IpAddr>,
        user_agent: Option<&str>,
        additional_data: Value,
    ) {
        self.log(Self::event(AuditEventType::LoginSuccess, Some(user), client_ip, user_agent, additional_data));
    }

    /// `login_failed`; `username` is the name that was tried (it may not exist).
    pub fn log_authentication_failure(
        &self,
        username: &str,
        client_ip: Option<IpAddr>,
        user_agent: Option<&str>,
        reason: &str,
    ) {
        self.log(
            Self::event(AuditEventType::LoginFailed, None, client_ip, user_agent, json!({ "reason": reason }))
                .actor_name(username),
        );
    }

    /// `logout`.
    pub fn log_logout(&self, user: &dyn AuditUser, client_ip: Option<IpAddr>, user_agent: Option<&str>) {
        self.log(Self::event(AuditEventType::Logout, Some(user), client_ip, user_agent, json!({})));
    }

    /// `token_created` (never pass the token itself in `details`; it would be masked anyway).
    pub fn log_token_created(&self, user: &dyn AuditUser, client_ip: Option<IpAddr>, details: Value) {
        self.log(Self::event(AuditEventType::TokenCreated, Some(user), client_ip, None, details));
    }

    /// `token_refreshed`.
    pub fn log_token_refreshed(&self, user: &dyn AuditUser, client_ip: Option<IpAddr>, details: Value) {
        self.log(Self::event(AuditEventType::TokenRefreshed, Some(user), client_ip, None, details));
    }

    /// `token_expired`.
    pub fn log_token_expired(&self, user: &dyn AuditUser, client_ip: Option<IpAddr>, details: Value) {
        self.log(Self::event(AuditEventType::TokenExpired, Some(user), client_ip, None, details));
    }

    /// `token_revoked`.
    pub fn log_token_revoked(&self, user: &dyn AuditUser, client_ip: Option<IpAddr>, details: Value) {
        self.log(Self::event(AuditEventType::TokenRevoked, Some(user), client_ip, None, details));
    }

    /// `suspicious_activity`, with `activity_type` and `details` recorded.
    pub fn log_suspicious_activity(
        &self,
        user: Option<&dyn AuditUser>,
        client_ip: Option<IpAddr>,
        activity_type: &str,
        details: Value,
    ) {
        let details = json!({ "activity_type": activity_type, "details": details });
        self.log(Self::event(AuditEventType::SuspiciousActivity, user, client_ip, None, details));
    }

    /// `rate_limit_exceeded`. An `identifier` that parses as an IP address is recorded as the
    /// client ip, anything else (a username) as the actor name.
    pub fn log_rate_limit_exceeded(
        &self,
        identifier: &str,
        limit_type: &str,
        current_count: u64,
        limit: u64,
        window_seconds: u64,
    ) {
        self.log_rate_limit_exceeded_from(identifier, None, limit_type, current_count, limit, window_seconds);
    }

    /// [`log_rate_limit_exceeded`](Self::log_rate_limit_exceeded) of a request from `client_ip`:
    /// a limit keyed by something else (a username's) still records where the refused request
    /// came from.
    pub fn log_rate_limit_exceeded_from(
        &self,
        identifier: &str,
        client_ip: Option<IpAddr>,
        limit_type: &str,
        current_count: u64,
        limit: u64,
        window_seconds: u64,
    ) {
        let details = json!({
            "identifier": identifier, "limit_type": limit_type, "current_count": current_count,
            "limit": limit, "window_seconds": window_seconds,
        });
        let mut event = Self::event(AuditEventType::RateLimitExceeded, None, client_ip, None, details);
        match identifier.parse::<IpAddr>() {
            Ok(ip) => event.client_ip = Some(ip),
            Err(_) => event.actor_name = Some(identifier.to_owned()),
        }
        self.log(event);
    }

    /// `unauthorized_access` to `resource` (a field, route or record), with the reason.
    pub fn log_unauthorized_access(
        &self,
        user: Option<&dyn AuditUser>,
        client_ip: Option<IpAddr>,
        user_agent: Option<&str>,
        resource: &str,
        reason: &str,
    ) {
        let details = json!({ "resource": resource, "reason": reason });
        self.log(Self::event(AuditEventType::UnauthorizedAccess, user, client_ip, user_agent, details));
    }

    /// `mfa_enabled` for a method (`totp`, `sms`, `backup_codes`).
    pub fn log_mfa_enabled(&self, user: &dyn AuditUser, client_ip: Option<IpAddr>, method: &str) {
        self.log(Self::event(AuditEventType::MfaEnabled, Some(user), client_ip, None, json!({ "method": method })));
    }

    /// `mfa_disabled`.
    pub fn log_mfa_disabled(&self, user: &dyn AuditUser, client_ip: Option<IpAddr>, method: &str) {
        self.log(Self::event(AuditEventType::MfaDisabled, Some(user), client_ip, None, json!({ "method": method })));
    }

    /// `mfa_success`.
    pub fn log_mfa_success(&self, user: &dyn AuditUser, client_ip: Option<IpAddr>, method: &str) {
        self.log(Self::event(AuditEventType::MfaSuccess, Some(user), client_ip, None, json!({ "method": method })));
    }

    /// `mfa_failed`, with why (never the code that was tried).
    pub fn log_mfa_failed(&self, user: &dyn AuditUser, client_ip: Option<IpAddr>, method: &str, reason: &str) {
        let details = json!({ "method": method, "reason": reason });
        self.log(Self::event(AuditEventType::MfaFailed, Some(user), client_ip, None, details));
    }

    /// `account_locked`, with why and until when.
    pub fn log_account_locked(
        &self,
        user: &dyn AuditUser,
        client_ip: Option<IpAddr>,
        reason: &str,
        locked_until: Option<DateTime<Utc>>,
    ) {
        let details = json!({ "reason": reason, "locked_until": locked_until });
        self.log(Self::event(AuditEventType::AccountLocked, Some(user), client_ip, None, details));
    }

    /// `account_unlocked` (a custom event type): an administrator ended a lock, with why.
    pub fn log_account_unlocked(&self, user: &dyn AuditUser, client_ip: Option<IpAddr>, reason: &str) {
        let details = json!({ "reason": reason });
        self.log(Self::event(
            AuditEventType::Custom("account_unlocked".to_owned()),
            Some(user),
            client_ip,
            None,
            details,
        ));
    }
}
