use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{AuditSink, SinkError};
use crate::audit::event::AuditEvent;

/// Keeps every event in memory: for tests that check what was audited (clones share the same
/// events, so keep one and hand the other to the logger).
///
/// Events reach a sink asynchronously, so read after [`AuditLogger::flush`](crate::audit::AuditLogger::flush),
/// or wait for them with [`wait_for`](Self::wait_for). Nothing is ever dropped: do not use it in
/// production.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use rail_graphql_security::audit::{AuditLogger, MemorySink};
///
/// let sink = MemorySink::new();
/// let logger = AuditLogger::builder().sink(sink.clone()).build();
/// logger.log_authentication_failure("alice", None, None, "invalid password");
/// let events = sink.wait_for(1, Duration::from_secs(5)).await.unwrap();
/// assert_eq!(events[0].event_type.as_str(), "login_failed");
///
/// logger.log_authentication_failure("bob", None, None, "invalid password");
/// logger.flush().await.unwrap();
/// assert_eq!(sink.of_type("login_failed").len(), 2);
/// assert_eq!(sink.take().len(), 2);
/// assert!(sink.is_empty());
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    events: Mutex<Vec<AuditEvent>>,
    arrived: Notify,
}

/// [`MemorySink::wait_for`] gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "waited {waited:?} for {expected} audit events, {received} arrived; is the logger enabled and the sink registered?"
)]
pub struct MemorySinkTimeout {
    /// How many events were awaited.
    pub expected: usize,
    /// How many had arrived.
    pub received: usize,
    /// How long it waited.
    pub waited: Duration,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    // A test that panicked while holding the lock leaves whole events behind: keep reading.
    fn lock(&self) -> MutexGuard<'_, Vec<AuditEvent>> {
        self.inner.events.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The events received so far, oldest first.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.lock().clone()
    }

    /// The events of one type (by its name: `login_failed`, `mfa_success`, ...), oldest first.
    pub fn of_type(&self, event_type: &str) -> Vec<AuditEvent> {
        self.lock().iter().filter(|e| e.event_type.as_str() == event_type).cloned().collect()
    }

    /// The type names of the events received so far, in order.
    pub fn types(&self) -> Vec<String> {
        self.lock().iter().map(|e| e.event_type.as_str().to_owned()).collect()
    }

    /// Removes and returns the events received so far.
    pub fn take(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut *self.lock())
    }

    /// How many events are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no event is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Waits until at least `count` events are held and returns them all, or gives up after
    /// `timeout`.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Result<Vec<AuditEvent>, MemorySinkTimeout> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the check, so an arrival between the check and the wait wakes it.
            let arrived = self.inner.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let received = {
                let events = self.lock();
                if events.len() >= count {
                    return Ok(events.clone());
                }
                events.len()
            };
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Err(MemorySinkTimeout { expected: count, received, waited: timeout });
            }
        }
    }
}

#[async_trait]
impl AuditSink for MemorySink {
    fn name(&self) -> &str {
        "memory"
    }

    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        self.lock().extend_from_slice(events);
        self.inner.arrived.notify_waiters();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditEventType;

    #[tokio::test]
    async fn a_waiter_wakes_when_enough_events_arrive_and_times_out_otherwise() {
        let sink = MemorySink::new();
        let writer = sink.clone();
        let waiter = tokio::spawn(async move { sink.wait_for(3, Duration::from_secs(5)).await });
        for _ in 0..3 {
            tokio::task::yield_now().await;
            writer.write_batch(&[AuditEvent::new(AuditEventType::LoginFailed)]).await.unwrap();
        }
        assert_eq!(waiter.await.unwrap().unwrap().len(), 3);

        let late = writer.wait_for(4, Duration::from_millis(20)).await.unwrap_err();
        assert_eq!((late.expected, late.received), (4, 3));
        assert!(late.to_string().contains("4 audit events, 3 arrived"), "{late}");
    }
}
