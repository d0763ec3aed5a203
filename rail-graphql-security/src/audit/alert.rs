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
            Alert::ThresholdReached {
                threshold: self.kind,
                count: self.limit,
                limit: self.limit,
                window_seconds: self.length.num_seconds(),
                at,
            }
        })
    }
}

/// The windowed-threshold state (in memory, per process).
pub(crate) struct AlertEngine {
    windows: Vec<Window>,
}

impl fmt::Debug for AlertEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertEngine").field("windows", &self.windows.len()).finish()
    }
}

impl AlertEngine {
    pub(crate) fn new(t: AlertThresholds) -> Self {
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
        }
    }

    /// The alerts one event raises, in order: the event itself (if high or critical), then
    /// any threshold it makes reached.
    pub(crate) fn observe(&mut self, event: &AuditEvent, out: &mut Vec<Alert>) {
        if event.severity >= AuditSeverity::High {
            out.push(Alert::Event { event: event.clone() });
        }
        for window in self.windows.iter_mut().filter(|w| w.event_type == event.event_type) {
            out.extend(window.observe(event.timestamp));
        }
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
        let mut engine = AlertEngine::new(AlertThresholds { failed_logins_per_hour: 3, ..Default::default() });
        let mut out = Vec::new();
        for minute in [0, 1, 2] {
            engine.observe(&failed_at(minute), &mut out);
        }
        assert_eq!(thresholds(&out), 1, "the third failure within the hour fires");
        for minute in 3..60 {
            engine.observe(&failed_at(minute), &mut out);
        }
        assert_eq!(thresholds(&out), 1, "no repeat within the same window");
        for minute in [62, 63, 64] {
            engine.observe(&failed_at(minute), &mut out);
        }
        assert_eq!(thresholds(&out), 2, "fires again once the window has passed");
    }

    #[test]
    fn spread_out_events_never_fire() {
        let mut engine = AlertEngine::new(AlertThresholds { failed_logins_per_hour: 3, ..Default::default() });
        let mut out = Vec::new();
        for minute in [0, 40, 80, 120, 160] {
            engine.observe(&failed_at(minute), &mut out);
        }
        assert_eq!(thresholds(&out), 0);
    }

    #[test]
    fn high_and_critical_events_alert_individually() {
        let mut engine = AlertEngine::new(AlertThresholds::default());
        let mut out = Vec::new();
        engine.observe(&AuditEvent::new(AuditEventType::LoginSuccess), &mut out);
        engine.observe(&AuditEvent::new(AuditEventType::AccountLocked), &mut out);
        engine.observe(&AuditEvent::new(AuditEventType::Logout).severity(AuditSeverity::Critical), &mut out);
        assert_eq!(out.len(), 2);
    }
}
