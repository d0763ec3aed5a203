//! Real-time alerting: handlers called for every high or critical event, and once per window
//! when a threshold is reached.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::event::{AuditEvent, AuditEventType, AuditSeverity};

/// Alert thresholds, each counted over a sliding window. `0` disables a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertThresholds {
    /// `login_failed` events in any one hour (default 10).
    pub failed_logins_per_hour: u32,
    /// `suspicious_activity` events in any 24 hours (default 5).
    pub suspicious_activity_per_day: u32,
    /// `rate_limit_exceeded` events in any one hour (default 50).
    pub rate_limit_hits_per_hour: u32,
}

impl Default for AlertThresholds {
    fn default() -> Self {
        Self { failed_logins_per_hour: 10, suspicious_activity_per_day: 5, rate_limit_hits_per_hour: 50 }
    }
}

/// Which threshold an [`Alert::ThresholdReached`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdKind {
    /// [`AlertThresholds::failed_logins_per_hour`].
    FailedLoginsPerHour,
    /// [`AlertThresholds::suspicious_activity_per_day`].
    SuspiciousActivityPerDay,
    /// [`AlertThresholds::rate_limit_hits_per_hour`].
    RateLimitHitsPerHour,
}

impl ThresholdKind {
    /// The threshold's name, as serialized: `failed_logins_per_hour`, ….
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::FailedLoginsPerHour => "failed_logins_per_hour",
            Self::SuspiciousActivityPerDay => "suspicious_activity_per_day",
            Self::RateLimitHitsPerHour => "rate_limit_hits_per_hour",
        }
    }
}

/// What an [`AlertHandler`] is told.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
#[expect(
    clippy::large_enum_variant,
    reason = "most alerts carry an event; handlers match on the variants, a box would only add an allocation"
)]
pub enum Alert {
    /// A high or critical event was logged.
    Event {
        /// The (masked) event.
        event: AuditEvent,
    },
    /// A threshold was reached within its window. Sent once per window, not once per event.
    ThresholdReached {
        /// Which threshold.
        threshold: ThresholdKind,
        /// Events counted in the window (equal to `limit` when sent).
        count: u32,
        /// The configured limit.
        limit: u32,
        /// The window length in seconds.
        window_seconds: i64,
        /// The timestamp of the event that reached the threshold.
        at: DateTime<Utc>,
    },
    /// A sink refused an event for good; it was moved to the dead-letter store (see
    /// [`dead_letter`](crate::audit::dead_letter)).
    DeadLettered {
        /// The sink that refused it.
        sink: String,
        /// The event's id.
        event_id: uuid::Uuid,
        /// The event's type.
        event_type: String,
        /// Why the sink refused it.
        error: String,
        /// Whether the dead-letter store kept it (`false`: only the error log has it).
        stored: bool,
    },
}

/// Receives alerts. Implemented for async closures `Fn(Alert) -> impl Future<Output = ()>`.
///
/// Handlers run on the logger's alert task, never on the request path; a slow handler delays
/// later alerts, not requests.
///
/// ```
/// # async fn f(logger: rail_graphql_security::audit::AuditLogger) {
/// use rail_graphql_security::audit::Alert;
/// logger.register_alert_handler(|alert: Alert| async move {
///     if let Alert::Event { event } = alert {
///         eprintln!("security alert: {} from {:?}", event.event_type, event.client_ip);
///     }
/// });
/// # }
/// ```
#[async_trait]
pub trait AlertHandler: Send + Sync + 'static {
    /// Handles one alert.
    async fn handle(&self, alert: Alert);
}

#[async_trait]
impl<F, Fut> AlertHandler for F
where
    F: Fn(Alert) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    async fn handle(&self, alert: Alert) {
        (self)(alert).await
    }
}

struct Window {
    kind: ThresholdKind,
    event_type: AuditEventType,
    limit: u32,
    length: Duration,
    /// At most `limit` most recent timestamps: enough to know whether `limit` fall in a window.
    recent: VecDeque<DateTime<Utc>>,
    last_fired: Option<DateTime<Utc>>,
}

impl Window {
    fn observe(&mut self, at: DateTime<Utc>) -> Option<Alert> {
        if self.limit == 0 {
            return None;
        }
        self.recent.push_back(at);
        while self.recent.len() > self.limit as usize {
            self.recent.pop_front();
        }
        let reached = self.recent.len() == self.limit as usize
            && self.recent.front().is_some_and(|first| at - *first < self.length);
        let quiet = self.last_fired.is_none_or(|fired| at - fired >= self.length);
        (reached && quiet).then(|| {
            self.last_fired = Some(at);
            self.reached(at)
        })
    }

    fn reached(&self, at: DateTime<Utc>) -> Alert {
        Alert::ThresholdReached {
            threshold: self.kind,
            count: self.limit,
            limit: self.limit,
            window_seconds: self.length.num_seconds(),
            at,
        }
    }
}

/// An event a threshold counts, to be counted in the [`SharedAlertWindows`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Observation {
    kind: ThresholdKind,
    at: DateTime<Utc>,
    #[cfg_attr(not(feature = "redis"), expect(dead_code, reason = "only Redis counts events by id"))]
    id: uuid::Uuid,
}

/// The windowed-threshold state: in memory, per process; or, with [`SharedAlertWindows`],
/// only the events to count there (the alert worker counts them and keeps this state as the
/// fallback while Redis fails).
pub(crate) struct AlertEngine {
    windows: Vec<Window>,
    shared: bool,
    /// Whether the shared windows failed last time (warned once, not once per batch).
    shared_failing: bool,
}

impl fmt::Debug for AlertEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertEngine").field("windows", &self.windows.len()).field("shared", &self.shared).finish()
    }
}

impl AlertEngine {
    /// Counts in process, or (`shared`) hands the counted events to [`Self::observe`]'s caller.
    pub(crate) fn new(t: AlertThresholds, shared: bool) -> Self {
        let window = |kind, event_type, limit, length| Window {
            kind,
            event_type,
            limit,
            length,
            recent: VecDeque::new(),
            last_fired: None,
        };
        Self {
            windows: vec![
                window(
                    ThresholdKind::FailedLoginsPerHour,
                    AuditEventType::LoginFailed,
                    t.failed_logins_per_hour,
                    Duration::hours(1),
                ),
                window(
                    ThresholdKind::SuspiciousActivityPerDay,
                    AuditEventType::SuspiciousActivity,
                    t.suspicious_activity_per_day,
                    Duration::days(1),
                ),
                window(
                    ThresholdKind::RateLimitHitsPerHour,
                    AuditEventType::RateLimitExceeded,
                    t.rate_limit_hits_per_hour,
                    Duration::hours(1),
                ),
            ],
            shared,
            shared_failing: false,
        }
    }

    /// The alerts one event raises, in order: the event itself (if high or critical), then
    /// any threshold it makes reached; with shared windows, what a threshold counts goes to
    /// `counted` instead.
    pub(crate) fn observe(&mut self, event: &AuditEvent, out: &mut Vec<Alert>, counted: &mut Vec<Observation>) {
        if event.severity >= AuditSeverity::High {
            out.push(Alert::Event { event: event.clone() });
        }
        for window in self.windows.iter_mut().filter(|w| w.event_type == event.event_type && w.limit > 0) {
            if self.shared {
                counted.push(Observation { kind: window.kind, at: event.timestamp, id: event.id });
            } else {
                out.extend(window.observe(event.timestamp));
            }
        }
    }

    /// Counts `observation` in process: the fallback while the shared windows fail.
    fn observe_locally(&mut self, observation: &Observation) -> Option<Alert> {
        self.windows.iter_mut().find(|w| w.kind == observation.kind)?.observe(observation.at)
    }

    fn window(&self, kind: ThresholdKind) -> Option<&Window> {
        self.windows.iter().find(|w| w.kind == kind)
    }

    /// The alerts `observations` raise, counted in `shared` (every instance's events together),
    /// or in process while Redis fails: a threshold is still watched, per instance.
    pub(crate) async fn count_shared(
        &mut self,
        shared: &SharedAlertWindows,
        observations: &[Observation],
        out: &mut Vec<Alert>,
    ) {
        for kind in [
            ThresholdKind::FailedLoginsPerHour,
            ThresholdKind::SuspiciousActivityPerDay,
            ThresholdKind::RateLimitHitsPerHour,
        ] {
            let of_kind: Vec<&Observation> = observations.iter().filter(|o| o.kind == kind).collect();
            let Some(window) = self.window(kind).filter(|_| !of_kind.is_empty()) else { continue };
            match shared.count(window, &of_kind).await {
                Ok(fired) => {
                    out.extend(fired.into_iter().map(|at| window.reached(at)));
                    if std::mem::take(&mut self.shared_failing) {
                        tracing::info!("audit alert windows in Redis answer again; counting every instance's events");
                    }
                }
                Err(error) => {
                    if !std::mem::replace(&mut self.shared_failing, true) {
                        tracing::warn!(
                            %error,
                            threshold = kind.as_str(),
                            "audit alert windows in Redis failed; counting this instance's events alone until it answers"
                        );
                    }
                    out.extend(of_kind.iter().filter_map(|o| self.observe_locally(o)));
                }
            }
        }
    }
}

/// The threshold windows in Redis, shared by every instance with the same key prefix: a
/// threshold counts the events of all of them, so an attack spread over several instances
/// reaches it as if it hit one, and one instance sends the alert.
///
/// Each threshold keeps the timestamps of its newest `limit` events in a sorted set
/// (`<prefix>:alert:<threshold>`) and the time it last fired (`…:fired`), both expiring after
/// the window; one script per batch of events updates them, so concurrent instances count
/// each event once and fire once per window. The stack uses the Redis of
/// `middleware.rate_limiting.store_url` and its key prefix. While Redis fails, each instance
/// counts its own events (and logs a warning).
///
/// ```no_run
/// # async fn f() -> Result<(), redis::RedisError> {
/// use rail_graphql_security::audit::{AuditLogger, SharedAlertWindows};
/// let windows = SharedAlertWindows::connect("redis://127.0.0.1:6379", "myapp").await?;
/// let logger = AuditLogger::builder().shared_alert_windows(windows).build();
/// # Ok(()) }
/// ```
#[cfg(feature = "redis")]
#[derive(Clone)]
pub struct SharedAlertWindows {
    connection: redis::aio::ConnectionManager,
    prefix: String,
    script: redis::Script,
}

#[cfg(feature = "redis")]
impl fmt::Debug for SharedAlertWindows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedAlertWindows").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// Without the `redis` feature there are no shared windows: the type exists so the pipeline
/// compiles alike, and cannot be built.
#[cfg(not(feature = "redis"))]
#[derive(Debug, Clone)]
pub(crate) enum SharedAlertWindows {}

/// One threshold's window, for a batch of its events (`Window::observe` over a sorted set).
/// KEYS: the set, the last firing. ARGV: window (ms), limit, then per event its timestamp (ms)
/// and id. Keeps the newest `limit` timestamps; the threshold is reached when they span less
/// than the window, and fires unless it fired less than a window before. Returns the
/// timestamps (ms) it fired at.
#[cfg(feature = "redis")]
const COUNT_SCRIPT: &str = r"
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local fired = {}
for i = 3, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], tonumber(ARGV[i]), ARGV[i + 1])
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(limit + 1))
  if redis.call('ZCARD', KEYS[1]) >= limit then
    local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
    local newest = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
    local last = tonumber(redis.call('GET', KEYS[2]))
    if newest - oldest < window and (last == nil or newest - last >= window) then
      redis.call('SET', KEYS[2], string.format('%d', newest), 'PX', window)
      table.insert(fired, string.format('%d', newest))
    end
  end
end
redis.call('PEXPIRE', KEYS[1], window)
return fired
";

#[cfg(feature = "redis")]
impl SharedAlertWindows {
    /// Connects to `url` (reconnecting automatically, with the rate limiter's timeouts); keys
    /// start with `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        Ok(Self::with_connection(crate::rate_limit::redis::connect(url).await?, prefix))
    }

    /// Uses an existing connection manager; keys start with `prefix`.
    pub fn with_connection(connection: redis::aio::ConnectionManager, prefix: &str) -> Self {
        Self { connection, prefix: prefix.to_owned(), script: redis::Script::new(COUNT_SCRIPT) }
    }

    /// The sorted set of `kind`'s window (its last firing is this name + `:fired`).
    pub fn key(&self, kind: ThresholdKind) -> String {
        format!("{}:alert:{}", self.prefix, kind.as_str())
    }

    async fn count(&self, window: &Window, events: &[&Observation]) -> Result<Vec<DateTime<Utc>>, redis::RedisError> {
        let key = self.key(window.kind);
        let mut invocation = self.script.key(&key);
        invocation.key(format!("{key}:fired")).arg(window.length.num_milliseconds().max(1)).arg(window.limit);
        for event in events {
            invocation.arg(event.at.timestamp_millis()).arg(event.id.to_string());
        }
        let fired: Vec<i64> = invocation.invoke_async(&mut self.connection.clone()).await?;
        Ok(fired.into_iter().filter_map(DateTime::from_timestamp_millis).collect())
    }
}

#[cfg(not(feature = "redis"))]
impl SharedAlertWindows {
    async fn count(&self, _: &Window, _: &[&Observation]) -> Result<Vec<DateTime<Utc>>, std::convert::Infallible> {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed_at(minute: i64) -> AuditEvent {
        let base = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
        AuditEvent::new(AuditEventType::LoginFailed).at(base + Duration::minutes(minute))
    }

    fn thresholds(kinds: &[Alert]) -> usize {
        kinds.iter().filter(|a| matches!(a, Alert::ThresholdReached { .. })).count()
    }

    #[test]
    fn fires_once_when_reached_then_stays_quiet_for_the_window() {
        let mut engine = AlertEngine::new(AlertThresholds { failed_logins_per_hour: 3, ..Default::default() }, false);
        let mut out = Vec::new();
        for minute in [0, 1, 2] {
            engine.observe(&failed_at(minute), &mut out, &mut Vec::new());
        }
        assert_eq!(thresholds(&out), 1, "the third failure within the hour fires");
        for minute in 3..60 {
            engine.observe(&failed_at(minute), &mut out, &mut Vec::new());
        }
        assert_eq!(thresholds(&out), 1, "no repeat within the same window");
        for minute in [62, 63, 64] {
            engine.observe(&failed_at(minute), &mut out, &mut Vec::new());
        }
        assert_eq!(thresholds(&out), 2, "fires again once the window has passed");
    }

    #[test]
    fn spread_out_events_never_fire() {
        let mut engine = AlertEngine::new(AlertThresholds { failed_logins_per_hour: 3, ..Default::default() }, false);
        let mut out = Vec::new();
        for minute in [0, 40, 80, 120, 160] {
            engine.observe(&failed_at(minute), &mut out, &mut Vec::new());
        }
        assert_eq!(thresholds(&out), 0);
    }

    #[test]
    fn high_and_critical_events_alert_individually() {
        let mut engine = AlertEngine::new(AlertThresholds::default(), false);
        let mut out = Vec::new();
        engine.observe(&AuditEvent::new(AuditEventType::LoginSuccess), &mut out, &mut Vec::new());
        engine.observe(&AuditEvent::new(AuditEventType::AccountLocked), &mut out, &mut Vec::new());
        engine.observe(
            &AuditEvent::new(AuditEventType::Logout).severity(AuditSeverity::Critical),
            &mut out,
            &mut Vec::new(),
        );
        assert_eq!(out.len(), 2);
    }
}
