//! The background half of the logger: the dispatcher, one worker per sink, the alert worker.
//!
//! ```text
//! log() --try_send--> [queue] --> dispatcher --(mask, make storable, hash chain, alert engine)--> alert worker --> handlers
//!                                     |                                                    ^
//!                                     +--> sink worker (retry with back-off) --> sink      |  (one per sink)
//!                                               | permanent error: split the batch         |
//!                                               +--> refused event --> dead-letter store --+
//! ```

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::alert::{Alert, AlertEngine, AlertHandler, AlertThresholds, Observation, SharedAlertWindows};
use super::backoff::Backoff;
use super::chain::ChainWriter;
use super::dead_letter::{DeadLetterSender, DeadLetterStore};
use super::event::{AuditEvent, AuditEventType, AuditSeverity};
use super::sink::{AuditSink, SinkError};
use crate::resolver::ResolverCall;

/// What travels on the logger's queue: events and calls unboxed (nearly every message is one,
/// and boxing would allocate on every `log()`).
pub(crate) enum Command {
    Event(AuditEvent),
    /// An `#[audited]` call, built into its event here rather than on the request's core.
    Call(ResolverCall),
    Flush(oneshot::Sender<()>),
    Shutdown(Instant, oneshot::Sender<()>),
}

enum SinkCommand {
    Batch(Arc<Vec<AuditEvent>>),
    Flush(oneshot::Sender<()>),
}

#[expect(clippy::large_enum_variant, reason = "alerts are nearly every message of this queue")]
pub(crate) enum AlertCommand {
    Alert(Alert),
    /// Events the shared threshold windows count.
    Count(Vec<Observation>),
    Flush(oneshot::Sender<()>),
}

/// Counters shared by the logger handle and the background tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) caller: CallerCounters,
    pub(crate) written: AtomicU64,
    pub(crate) write_failures: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) alerts_dropped: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) sanitized: AtomicU64,
}

/// The counters `log()` touches, on a cache line of their own so the workers' updates do not
/// slow the request path down (false sharing).
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct CallerCounters {
    pub(crate) logged: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) unreported_drops: AtomicU64,
}

pub(crate) type Handlers = Arc<RwLock<Vec<Arc<dyn AlertHandler>>>>;

pub(crate) struct PipelineConfig {
    pub(crate) max_batch: usize,
    pub(crate) sink_queue_batches: usize,
    pub(crate) alert_queue: usize,
    pub(crate) backoff: Backoff,
    pub(crate) dead_letters: DeadLetterStore,
    pub(crate) hash_chain: bool,
}

const SINK_COMMANDS_PER_WAKE: usize = 64;

/// How long a sink worker waits for a batch before it calls [`AuditSink::idle`].
pub const IDLE_TICK: Duration = Duration::from_secs(1);

/// How long the dispatcher lets events gather after a batch before it takes the next one: at
/// most this much added delay before an event reaches the sinks (and a flush is answered), in
/// exchange for one wake-up per window instead of one per event.
const GATHER_WINDOW: Duration = Duration::from_millis(1);

/// Spawns the dispatcher, the sink workers and the alert worker.
pub(crate) fn spawn(
    rx: mpsc::Receiver<Command>,
    sinks: Vec<Box<dyn AuditSink>>,
    thresholds: AlertThresholds,
    shared_windows: Option<SharedAlertWindows>,
    handlers: Handlers,
    counters: Arc<Counters>,
    config: PipelineConfig,
) -> tokio::task::JoinHandle<()> {
    let (deadline_tx, deadline_rx) = watch::channel(None);
    let (alert_tx, alert_rx) = mpsc::channel(config.alert_queue);
    let mut sink_workers = Vec::with_capacity(sinks.len());
    for sink in sinks {
        let (tx, sink_rx) = mpsc::channel(config.sink_queue_batches);
        let max_write = sink.max_write().map_or(config.max_batch, |max| max.max(config.max_batch));
        let dead_letters = DeadLetterSender {
            sink: sink.name().to_owned(),
            store: config.dead_letters.clone(),
            counters: counters.clone(),
            backoff: config.backoff,
            deadline: deadline_rx.clone(),
            alert_tx: alert_tx.clone(),
        };
        sink.connect_dead_letters(dead_letters.clone());
        let worker = SinkWorker {
            sink,
            counters: counters.clone(),
            backoff: config.backoff,
            max_write,
            deadline: deadline_rx.clone(),
            dead_letters,
        };
        sink_workers.push((tx, tokio::spawn(worker.run(sink_rx))));
    }
    let engine = AlertEngine::new(thresholds, shared_windows.is_some());
    // The worker counts what the dispatcher hands it in Redis, and in process while that fails.
    let shared = shared_windows.map(|windows| (windows, AlertEngine::new(thresholds, false)));
    let alert_worker = tokio::spawn(run_alert_worker(alert_rx, handlers, shared));
    let chain = config.hash_chain.then(ChainWriter::new);
    let dispatcher = Dispatcher {
        sink_workers,
        alert_tx,
        alert_worker,
        engine,
        counters,
        deadline_tx,
        max_batch: config.max_batch,
        chain,
    };
    tokio::spawn(dispatcher.run(rx))
}

struct Dispatcher {
    sink_workers: Vec<(mpsc::Sender<SinkCommand>, tokio::task::JoinHandle<()>)>,
    alert_tx: mpsc::Sender<AlertCommand>,
    alert_worker: tokio::task::JoinHandle<()>,
    engine: AlertEngine,
    counters: Arc<Counters>,
    deadline_tx: watch::Sender<Option<Instant>>,
    max_batch: usize,
    /// This logger's hash chain (`None`: the chain is off).
    chain: Option<ChainWriter>,
}

impl Dispatcher {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut commands = Vec::with_capacity(self.max_batch);
        let mut batch = Vec::with_capacity(self.max_batch);
        let mut shutdown = None;
        loop {
            let received = rx.recv_many(&mut commands, self.max_batch).await;
            if received == 0 {
                break;
            }
            for command in commands.drain(..) {
                match command {
                    Command::Event(event) => batch.push(self.admit(event)),
                    Command::Call(call) => batch.push(self.admit(call.into_event())),
                    Command::Flush(ack) => {
                        self.dispatch(&mut batch).await;
                        self.flush_workers().await;
                        let _ = ack.send(());
                    }
                    Command::Shutdown(deadline, ack) => {
                        // Refuse new events; what is already queued is still delivered below.
                        rx.close();
                        let _ = self.deadline_tx.send(Some(deadline));
                        shutdown = Some(ack);
                    }
                }
            }
            self.dispatch(&mut batch).await;
            if received < self.max_batch && shutdown.is_none() {
                // Let the next events gather on the queue: while the dispatcher waits on the
                // channel, every `log()` has to wake it (a task switch here, and a syscall in
                // the caller when the worker is parked); after a pause, one wake-up takes them
                // all. Skipped when behind (a full batch) or shutting down.
                tokio::time::sleep(GATHER_WINDOW).await;
            }
        }
        self.dispatch(&mut batch).await;
        self.finish().await;
        if let Some(ack) = shutdown {
            let _ = ack.send(());
        }
    }

    /// A queued event as the sinks get it: masked, then made storable.
    fn admit(&self, mut event: AuditEvent) -> AuditEvent {
        // Masked first: a key cut to fit could lose the marker that masks it.
        event.mask_secrets();
        if event.make_storable() {
            self.counters.sanitized.fetch_add(1, Ordering::Relaxed);
        }
        event
    }

    /// Hands the batch to every sink worker and runs the alert engine over it.
    async fn dispatch(&mut self, batch: &mut Vec<AuditEvent>) {
        let dropped = self.counters.caller.unreported_drops.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            batch.push(overflow_event(dropped, self.counters.caller.dropped.load(Ordering::Relaxed)));
        }
        if batch.is_empty() {
            return;
        }
        // Linked in the order every sink receives them, after masking and making storable:
        // the hash covers exactly what is stored.
        if let Some(chain) = &mut self.chain {
            for event in batch.iter_mut() {
                chain.link(event);
            }
        }
        let mut alerts = Vec::new();
        let mut counted = Vec::new();
        for event in batch.iter() {
            self.engine.observe(event, &mut alerts, &mut counted);
        }
        let commands = alerts.into_iter().map(AlertCommand::Alert);
        let count = (!counted.is_empty()).then_some(AlertCommand::Count(counted));
        for command in commands.chain(count) {
            if self.alert_tx.try_send(command).is_err() {
                self.counters.alerts_dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!("audit alert queue is full: an alert was dropped (handlers are too slow)");
            }
        }
        let events = Arc::new(std::mem::replace(batch, Vec::with_capacity(self.max_batch)));
        for (tx, _) in &self.sink_workers {
            // Waits when a sink is behind: back-pressure reaches the queue, never the caller.
            let _ = tx.send(SinkCommand::Batch(events.clone())).await;
        }
    }

    async fn flush_workers(&self) {
        let mut acks = Vec::with_capacity(self.sink_workers.len() + 1);
        for (tx, _) in &self.sink_workers {
            let (ack, done) = oneshot::channel();
            if tx.send(SinkCommand::Flush(ack)).await.is_ok() {
                acks.push(done);
            }
        }
        let (ack, done) = oneshot::channel();
        if self.alert_tx.send(AlertCommand::Flush(ack)).await.is_ok() {
            acks.push(done);
        }
        for done in acks {
            let _ = done.await;
        }
    }

    /// Closes the sink queues and waits for every worker to write (or give up on) what it has.
    async fn finish(self) {
        let Dispatcher { sink_workers, alert_tx, alert_worker, .. } = self;
        let mut handles = Vec::with_capacity(sink_workers.len());
        for (tx, handle) in sink_workers {
            drop(tx);
            handles.push(handle);
        }
        for handle in handles {
            if let Err(e) = handle.await {
                tracing::error!(error = %e, "an audit sink worker failed during shutdown");
            }
        }
        drop(alert_tx);
        let _ = alert_worker.await;
    }
}

fn overflow_event(dropped: u64, dropped_total: u64) -> AuditEvent {
    AuditEvent::new(AuditEventType::Custom("audit_queue_overflow".into())).severity(AuditSeverity::Critical).details(
        serde_json::json!({
            "dropped": dropped,
            "dropped_total": dropped_total,
            "action": "raise the audit queue capacity or fix the slow sink; these events were not recorded",
        }),
    )
}

struct SinkWorker {
    sink: Box<dyn AuditSink>,
    counters: Arc<Counters>,
    backoff: Backoff,
    /// Queued batches are merged up to this many events per write.
    max_write: usize,
    deadline: watch::Receiver<Option<Instant>>,
    /// Where the events it refuses for good go (also handed to the sink).
    dead_letters: DeadLetterSender,
}

/// How one attempt-with-retries at a batch ended.
enum Delivery {
    Written,
    /// The shutdown deadline passed first (counted as lost).
    GaveUp,
    /// The sink refused the data for good.
    Refused(SinkError),
}

impl SinkWorker {
    async fn run(self, mut rx: mpsc::Receiver<SinkCommand>) {
        let mut commands = Vec::with_capacity(SINK_COMMANDS_PER_WAKE);
        let mut pending: Vec<Arc<Vec<AuditEvent>>> = Vec::new();
        loop {
            let received =
                match tokio::time::timeout(IDLE_TICK, rx.recv_many(&mut commands, SINK_COMMANDS_PER_WAKE)).await {
                    Ok(received) => received,
                    Err(_) => {
                        if let Err(e) = self.sink.idle().await {
                            tracing::warn!(sink = self.sink.name(), error = %e, "audit sink upkeep failed; will retry");
                        }
                        continue;
                    }
                };
            if received == 0 {
                break;
            }
            for command in commands.drain(..) {
                match command {
                    SinkCommand::Batch(events) => {
                        // Never more than `max_write` in one write: a batch that would take the
                        // merge past it waits for the next one.
                        let queued: usize = pending.iter().map(|b| b.len()).sum();
                        if queued > 0 && queued + events.len() > self.max_write {
                            self.write_pending(&mut pending).await;
                        }
                        pending.push(events);
                        if pending.iter().map(|b| b.len()).sum::<usize>() >= self.max_write {
                            self.write_pending(&mut pending).await;
                        }
                    }
                    SinkCommand::Flush(ack) => {
                        self.write_pending(&mut pending).await;
                        let _ = ack.send(());
                    }
                }
            }
            self.write_pending(&mut pending).await;
        }
        // The queue is closed: shutdown.
        let deadline = (*self.deadline.borrow()).unwrap_or_else(Instant::now);
        if let Err(e) = self.sink.shutdown(deadline).await {
            tracing::error!(sink = self.sink.name(), error = %e, "audit sink failed to shut down cleanly");
        }
    }

    /// Writes the queued batches as one (fewer round trips), a single batch without copying
    /// it. A batch only this sink still holds is moved, not cloned, into the merged one.
    async fn write_pending(&self, pending: &mut Vec<Arc<Vec<AuditEvent>>>) {
        match pending.len() {
            0 => {}
            1 => self.write_with_retry(&pending[0]).await,
            _ => {
                let mut merged = Vec::with_capacity(pending.iter().map(|b| b.len()).sum());
                for batch in pending.drain(..) {
                    match Arc::try_unwrap(batch) {
                        Ok(events) => merged.extend(events),
                        Err(shared) => merged.extend(shared.iter().cloned()),
                    }
                }
                self.write_with_retry(&merged).await;
            }
        }
        pending.clear();
    }

    /// Writes `events`, retrying transient errors. A permanent error splits the batch in halves
    /// until the refused events stand alone; those are dead-lettered, the others written, in
    /// order.
    async fn write_with_retry(&self, events: &[AuditEvent]) {
        let mut parts = vec![events];
        while let Some(part) = parts.pop() {
            match self.deliver(part).await {
                Delivery::Written | Delivery::GaveUp => {}
                Delivery::Refused(error) => match part {
                    [event] => {
                        self.dead_letters.send(event, &error).await;
                    }
                    _ => {
                        let (first, second) = part.split_at(part.len() / 2);
                        tracing::warn!(
                            sink = self.sink.name(),
                            events = part.len(),
                            error = %error,
                            "audit sink refused a batch; splitting it to find the refused events"
                        );
                        parts.push(second);
                        parts.push(first);
                    }
                },
            }
        }
    }

    /// Retries transient errors until the sink accepts the batch; gives up only at the
    /// shutdown deadline, and then counts and reports what was lost.
    async fn deliver(&self, events: &[AuditEvent]) -> Delivery {
        let mut attempt = 0u32;
        loop {
            let outcome = AssertUnwindSafe(self.sink.write_batch(events)).catch_unwind().await;
            let error = match outcome {
                Ok(Ok(())) => {
                    self.counters.written.fetch_add(events.len() as u64, Ordering::Relaxed);
                    if attempt > 0 {
                        tracing::info!(sink = self.sink.name(), attempts = attempt + 1, "audit sink recovered");
                    }
                    return Delivery::Written;
                }
                Ok(Err(e)) if e.is_permanent() => {
                    self.counters.write_failures.fetch_add(1, Ordering::Relaxed);
                    return Delivery::Refused(e);
                }
                Ok(Err(e)) => e.to_string(),
                // A sink that panics on some events would panic on every retry of them.
                Err(_) => {
                    self.counters.write_failures.fetch_add(1, Ordering::Relaxed);
                    return Delivery::Refused(SinkError::Refused("the sink panicked".to_owned()));
                }
            };
            attempt = attempt.saturating_add(1);
            self.counters.write_failures.fetch_add(1, Ordering::Relaxed);
            let retry_at = Instant::now() + self.backoff.delay(attempt);
            let deadline = *self.deadline.borrow();
            if deadline.is_some_and(|d| retry_at > d) {
                self.counters.lost.fetch_add(events.len() as u64, Ordering::Relaxed);
                tracing::error!(
                    sink = self.sink.name(),
                    lost = events.len(),
                    error,
                    "audit events could not be written before the shutdown deadline"
                );
                return Delivery::GaveUp;
            }
            tracing::warn!(sink = self.sink.name(), attempt, error, "audit sink write failed; retrying");
            tokio::time::sleep_until(retry_at).await;
        }
    }
}

async fn run_alert_worker(
    mut rx: mpsc::Receiver<AlertCommand>,
    handlers: Handlers,
    mut shared: Option<(SharedAlertWindows, AlertEngine)>,
) {
    while let Some(command) = rx.recv().await {
        match command {
            AlertCommand::Alert(alert) => deliver(&handlers, alert).await,
            AlertCommand::Count(observations) => {
                let Some((windows, engine)) = &mut shared else { continue };
                let mut alerts = Vec::new();
                engine.count_shared(windows, &observations, &mut alerts).await;
                for alert in alerts {
                    deliver(&handlers, alert).await;
                }
            }
            AlertCommand::Flush(ack) => {
                let _ = ack.send(());
            }
        }
    }
}

async fn deliver(handlers: &Handlers, alert: Alert) {
    let current: Vec<_> = handlers.read().unwrap_or_else(|p| p.into_inner()).clone();
    for handler in current {
        if AssertUnwindSafe(handler.handle(alert.clone())).catch_unwind().await.is_err() {
            tracing::error!("an audit alert handler panicked");
        }
    }
}
