//! The database sink's bulk path on every backend: a batch whose ids are partly stored (a retry
//! after an ambiguous commit) is written once, whatever the statement shapes; repeated ids in
//! one batch are stored once; refused rows are still dead-lettered while the rest is written.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use integration_tests::{Backend, TestDb, on_every_backend, refuse_poison};
use rail_graphql_security::audit::entity::{Entity, Model};
use rail_graphql_security::audit::{
    AuditEvent, AuditEventType, AuditLogger, AuditSink, DatabaseSink, SinkError, dead_letter,
};
use sea_orm::EntityTrait;
use serde_json::json;

async fn all_rows(t: &TestDb) -> Vec<Model> {
    Entity::find().all(&t.db).await.expect("read audit_events")
}

/// `n` distinct events with every column set on some and `None` on others.
fn events(n: usize, tag: &str) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| {
            let mut event = AuditEvent::new(AuditEventType::LoginFailed)
                .details(json!({"tag": tag, "i": i, "nested": {"quote": "\"'\\", "crlf": "a\r\nb"}}));
            if i % 3 != 0 {
                event = event
                    .actor_name(format!("user{i} ü😀"))
                    .client_ip(Some(format!("198.51.100.{}", i % 200).parse().unwrap()))
                    .user_agent(Some(format!("agent {i}")))
                    .request_id(Some(format!("req-{i}")));
                event.actor_id = Some(i.to_string());
            }
            event
        })
        .collect()
}

/// Every event is stored once, as it was logged.
async fn assert_stored_once(t: &TestDb, expected: &[AuditEvent]) {
    let rows = all_rows(t).await;
    let distinct: BTreeSet<String> = expected.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(rows.len(), distinct.len(), "each id stored exactly once");
    for event in expected {
        let row = rows.iter().find(|m| m.id == event.id.to_string()).expect("event stored");
        let stored = integration_tests::unlinked(AuditEvent::try_from(row.clone()).unwrap());
        assert_eq!(&stored, &integration_tests::unlinked(event.clone()), "stored as logged");
    }
}

async fn a_batch_partly_stored_already_is_completed_once(t: &TestDb) {
    let sink = DatabaseSink::new(t.db.clone());
    // Larger than one statement, with a remainder: several statement shapes.
    let batch = events(2_345, "partly");
    // An earlier attempt stored every third event and its acknowledgement was lost.
    let earlier: Vec<AuditEvent> = batch.iter().step_by(3).cloned().collect();
    sink.write_batch(&earlier).await.unwrap();
    sink.write_batch(&batch).await.unwrap();
    assert_stored_once(t, &batch).await;
    // And the whole batch once more: nothing new, nothing doubled.
    sink.write_batch(&batch).await.unwrap();
    assert_stored_once(t, &batch).await;
}
on_every_backend!(a_batch_partly_stored_already_is_completed_once_on, a_batch_partly_stored_already_is_completed_once);

async fn an_id_repeated_in_one_batch_is_stored_once(t: &TestDb) {
    let sink = DatabaseSink::new(t.db.clone());
    let mut batch = events(10, "repeated");
    batch.push(batch[4].clone());
    batch.insert(0, batch[7].clone());
    sink.write_batch(&batch).await.unwrap();
    assert_stored_once(t, &batch).await;
}
on_every_backend!(an_id_repeated_in_one_batch_is_stored_once_on, an_id_repeated_in_one_batch_is_stored_once);

/// The database sink, except that the first write's acknowledgement is "lost" after its
/// transaction committed: the pipeline sees a transient error and writes the batch again.
#[derive(Debug)]
struct LostAckSink {
    inner: DatabaseSink,
    lost: AtomicBool,
}

#[async_trait]
impl AuditSink for LostAckSink {
    fn name(&self) -> &str {
        "database"
    }
    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        self.inner.write_batch(events).await?;
        if !self.lost.swap(true, Ordering::SeqCst) {
            return Err(SinkError::Task("connection reset after COMMIT (simulated)".into()));
        }
        Ok(())
    }
}

async fn a_batch_retried_after_an_ambiguous_commit_is_not_duplicated(t: &TestDb) {
    let sink = LostAckSink { inner: DatabaseSink::new(t.db.clone()), lost: AtomicBool::new(false) };
    let logger = AuditLogger::builder()
        .sink(sink)
        .retry_backoff(std::time::Duration::from_millis(1), std::time::Duration::from_millis(10))
        .build();
    let batch = events(1_500, "ambiguous");
    for event in &batch {
        logger.log(event.clone());
    }
    logger.flush().await.unwrap();
    let stats = logger.shutdown().await.unwrap();
    assert!(stats.write_failures >= 1, "the lost acknowledgement was seen: {stats:?}");
    assert_eq!((stats.lost, stats.dropped, stats.dead_lettered), (0, 0, 0), "{stats:?}");
    assert_stored_once(t, &batch).await;
}
on_every_backend!(
    a_batch_retried_after_an_ambiguous_commit_is_not_duplicated_on,
    a_batch_retried_after_an_ambiguous_commit_is_not_duplicated
);

async fn refused_rows_are_dead_lettered_and_the_rest_written_once(t: &TestDb) {
    refuse_poison(t).await;
    let mut batch = events(600, "poison");
    let poisoned = [5usize, 300, 599];
    for &i in &poisoned {
        batch[i].request_id = Some(format!("poison-{i}"));
    }
    // Part of the batch is stored already (an earlier attempt), poison included nowhere.
    let earlier: Vec<AuditEvent> =
        batch.iter().enumerate().filter(|(i, _)| i % 4 == 0 && !poisoned.contains(i)).map(|(_, e)| e.clone()).collect();
    DatabaseSink::new(t.db.clone()).write_batch(&earlier).await.unwrap();

    let logger = AuditLogger::builder().database(t.db.clone()).build();
    for event in &batch {
        logger.log(event.clone());
    }
    logger.flush().await.unwrap();
    let stats = logger.shutdown().await.unwrap();

    let kept: Vec<AuditEvent> =
        batch.iter().enumerate().filter(|(i, _)| !poisoned.contains(i)).map(|(_, e)| e.clone()).collect();
    assert_stored_once(t, &kept).await;
    let letters = dead_letter::Entity::find().all(&t.db).await.unwrap();
    let lettered: BTreeSet<String> = letters.iter().map(|l| l.event_id.clone()).collect();
    let expected: BTreeSet<String> = poisoned.iter().map(|&i| batch[i].id.to_string()).collect();
    assert_eq!(lettered, expected, "exactly the refused events are dead-lettered, once each");
    assert!(letters.iter().all(|l| l.sink == "database"));
    assert_eq!((stats.dead_lettered, stats.lost, stats.dropped), (3, 0, 0), "{stats:?}");
}
on_every_backend!(
    refused_rows_are_dead_lettered_and_the_rest_written_once_on,
    refused_rows_are_dead_lettered_and_the_rest_written_once
);

async fn an_oversized_value_is_refused_for_good(t: &TestDb) {
    // Bypassing the logger (which would cut it): the column holds 64 characters. SQLite does
    // not enforce VARCHAR lengths and stores it.
    let mut event = AuditEvent::new(AuditEventType::Custom("x".repeat(65)));
    event.request_id = Some("r".into());
    let result = DatabaseSink::new(t.db.clone()).write_batch(&[event.clone()]).await;
    match t.backend {
        Backend::Sqlite => {
            result.unwrap();
            assert_stored_once(t, &[event]).await;
        }
        _ => {
            let error = result.expect_err("too long for the column");
            assert!(error.is_permanent(), "a value too long is refused for good: {error}");
            assert!(all_rows(t).await.is_empty(), "nothing of the refused batch is stored");
        }
    }
}
on_every_backend!(an_oversized_value_is_refused_for_good_on, an_oversized_value_is_refused_for_good);

/// Adds a unique index of the application's own on `request_id`, and returns `n` events with
/// distinct request ids but for the one at `repeat`, which repeats the fourth's.
async fn unique_index_and_a_repeat(t: &TestDb, n: usize, tag: &str, repeat: usize) -> Vec<AuditEvent> {
    use sea_orm::ConnectionTrait;
    t.db.execute_unprepared("CREATE UNIQUE INDEX app_unique_request ON audit_events (request_id)").await.unwrap();
    let mut batch = events(n, tag);
    for (i, event) in batch.iter_mut().enumerate() {
        event.request_id = Some(format!("unique-{i}"));
    }
    batch[repeat].request_id = Some("unique-3".to_owned());
    batch
}

/// A value that a unique index the application added already holds refuses its row for good.
/// MySQL and MariaDB report it with the same error as a stored id, which the sink skips and
/// retries: read as that, the batch was retried forever and nothing after it was stored.
async fn a_value_another_unique_index_holds_is_refused_for_good(t: &TestDb) {
    let batch = unique_index_and_a_repeat(t, 300, "unique", 200).await;
    let error = DatabaseSink::new(t.db.clone()).write_batch(&batch).await.expect_err("the repeated value is refused");
    assert!(error.is_permanent(), "a unique index refuses the data for good: {error}");
    assert!(all_rows(t).await.is_empty(), "nothing of the refused batch is stored");

    // Through the logger: the event that repeats the value is dead-lettered, the rest stored.
    let logger = AuditLogger::builder().database(t.db.clone()).build();
    for event in &batch {
        logger.log(event.clone());
    }
    logger.flush().await.unwrap();
    let stats = logger.shutdown().await.unwrap();
    let mut kept = batch.clone();
    let refused = kept.remove(200);
    assert_stored_once(t, &kept).await;
    let letters = dead_letter::Entity::find().all(&t.db).await.unwrap();
    let lettered: Vec<&str> = letters.iter().map(|l| l.event_id.as_str()).collect();
    assert_eq!(lettered, [refused.id.to_string()], "exactly the refused event is dead-lettered");
    assert_eq!((stats.dead_lettered, stats.lost, stats.dropped), (1, 0, 0), "{stats:?}");
}
on_every_backend!(
    a_value_another_unique_index_holds_is_refused_for_good_on,
    a_value_another_unique_index_holds_is_refused_for_good
);

/// SQLite runs the bulk insert as `INSERT OR FAIL` (no statement journal), which keeps the rows
/// a statement wrote before a refused one: the sink's transaction must still leave none of
/// them. A unique index the application added refuses the 700th row of a 1,000-row statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_refused_mid_statement_leaves_none_of_the_statement_on_sqlite() {
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite always runs");
    let mut batch = unique_index_and_a_repeat(&t, 1000, "fail", 699).await;
    let error = DatabaseSink::new(t.db.clone()).write_batch(&batch).await.expect_err("the repeated value is refused");
    assert!(error.is_permanent(), "a constraint refuses the data for good: {error}");
    assert!(all_rows(&t).await.is_empty(), "nothing of the refused batch is stored");
    // Without the refused row, the batch is written, each row once.
    batch.remove(699);
    DatabaseSink::new(t.db.clone()).write_batch(&batch).await.unwrap();
    assert_stored_once(&t, &batch).await;
    t.cleanup().await;
}
