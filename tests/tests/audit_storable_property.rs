//! Property (issue 14, item 1): whatever Unicode and however long the strings of an event are,
//! every event sent through the sinks (database, JSON Lines file, tracing) on SQLite, PostgreSQL
//! and MariaDB is stored, or dead-lettered when the database refuses it for good, none is lost,
//! and an event logged after them still arrives.
//!
//! The database refuses events for good through a real constraint added for the test (a CHECK
//! on PostgreSQL and MariaDB, a trigger on SQLite) on `request_id LIKE 'poison%'`: about one
//! event in five is such a "poison" event, mixed into the same batches as the others.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use integration_tests::{Backend, TestDb, refuse_poison};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rail_graphql_security::audit::{
    AuditEvent, AuditEventType, AuditLogger, FileSink, MAX_ACTOR_ID_CHARS, MAX_ACTOR_NAME_CHARS, MAX_EVENT_TYPE_CHARS,
    MAX_REQUEST_ID_CHARS, MAX_USER_AGENT_CHARS, NUL_REPLACEMENT, TRUNCATION_MARKER, dead_letter, entity,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use uuid::Uuid;

const CASES: u32 = 32;
const POISON: &str = "poison";

/// Arbitrary Unicode, NUL, emoji and the characters SQL and JSON treat specially well
/// represented; mostly short, one string in five up to 10 000 characters (beyond every column).
fn text() -> impl Strategy<Value = String> {
    let special =
        prop::sample::select(vec!['\0', '😀', '\u{FFFF}', '\u{10FFFF}', '\r', '\n', 'é', '\'', '"', '\\', '%', ' ']);
    let ch = prop_oneof![4 => any::<char>(), 1 => special];
    prop_oneof![4 => vec(ch.clone(), 0..40), 1 => vec(ch, 0..10_000)].prop_map(String::from_iter)
}

fn event() -> impl Strategy<Value = AuditEvent> {
    let strings = (
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
    );
    (strings, btree_map(text(), text(), 0..4), prop::bool::weighted(0.2)).prop_map(
        |((event_type, actor_id, actor_name, user_agent, request_id), details, poison)| {
            let mut event = AuditEvent::new(event_type.map_or(AuditEventType::LoginFailed, AuditEventType::Custom));
            event.actor_id = actor_id;
            event.actor_name = actor_name;
            event.user_agent = user_agent;
            event.request_id =
                if poison { Some(format!("{POISON}{}", request_id.unwrap_or_default())) } else { request_id };
            // Set directly, not through `.details()`: the logger must mask and fix them itself.
            event.details = Value::Object(details.into_iter().map(|(k, v)| (k, Value::String(v))).collect());
            event
        },
    )
}

/// What the logger stores for `event`: masked, then made storable.
fn expected(event: &AuditEvent) -> Value {
    let mut event = event.clone();
    event.mask_secrets();
    event.make_storable();
    serde_json::to_value(&event).expect("an event serializes")
}

/// Whether the test's constraint refuses the stored `request_id` (SQLite's LIKE ignores ASCII case).
fn poisoned(event: &Value, backend: Backend) -> bool {
    let Some(id) = event["request_id"].as_str() else { return false };
    let prefix: String = id.chars().take(POISON.len()).collect();
    match backend {
        Backend::Sqlite => prefix.eq_ignore_ascii_case(POISON),
        _ => prefix == POISON,
    }
}

/// The rules for a top-level string, stated independently of the code under test.
fn check_field(name: &str, original: Option<&str>, stored: Option<&str>, max: usize) -> Result<(), TestCaseError> {
    let (Some(original), Some(stored)) = (original, stored) else {
        prop_assert_eq!(original.is_none(), stored.is_none(), "{} presence", name);
        return Ok(());
    };
    prop_assert!(!stored.contains('\0'), "{} holds a NUL", name);
    prop_assert!(stored.chars().count() <= max, "{} longer than its column", name);
    let replaced = original.replace('\0', &NUL_REPLACEMENT.to_string());
    if original.chars().count() <= max {
        prop_assert_eq!(stored, replaced.as_str(), "{} changed beyond the NUL rule", name);
    } else {
        let kept = stored.strip_suffix(TRUNCATION_MARKER);
        prop_assert!(kept.is_some_and(|k| replaced.starts_with(k)), "{} not cut visibly from its start", name);
    }
    Ok(())
}

fn no_nul_anywhere(value: &Value) -> bool {
    match value {
        Value::String(s) => !s.contains('\0'),
        Value::Array(items) => items.iter().all(no_nul_anywhere),
        Value::Object(map) => map.iter().all(|(k, v)| !k.contains('\0') && no_nul_anywhere(v)),
        _ => true,
    }
}

fn failed(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

async fn one_case(t: &TestDb, dir: &Path, events: Vec<AuditEvent>) -> Result<(), TestCaseError> {
    let file = dir.join(format!("{}.jsonl", Uuid::now_v7()));
    let logger = AuditLogger::builder()
        .database(t.db.clone())
        .sink(FileSink::new(&file))
        .tracing()
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(200))
        .build();
    for event in &events {
        logger.log(event.clone());
    }
    let later = AuditEvent::new(AuditEventType::Custom("later_event".into())).request_id(Some("later"));
    logger.log(later.clone());
    logger.flush().await.map_err(failed)?;
    let stats = logger.shutdown().await.map_err(failed)?;

    let all: Vec<&AuditEvent> = events.iter().chain([&later]).collect();
    let want: BTreeMap<Uuid, Value> = all.iter().map(|e| (e.id, expected(e))).collect();
    let refused: BTreeSet<Uuid> = want.iter().filter(|(_, v)| poisoned(v, t.backend)).map(|(id, _)| *id).collect();
    let ids: Vec<String> = want.keys().map(Uuid::to_string).collect();

    // The database: every event not refused is stored, exactly as the logger made it storable.
    let rows = entity::Entity::find().filter(entity::Column::Id.is_in(ids.clone())).all(&t.db).await.map_err(failed)?;
    let mut stored = BTreeMap::new();
    for row in rows {
        let event = AuditEvent::try_from(row).map_err(failed)?;
        prop_assert!(event.chain.is_some(), "a stored event without its chain link");
        stored.insert(event.id, integration_tests::unlinked(event));
    }
    prop_assert!(stored.contains_key(&later.id), "the event logged after the others was not stored");
    let stored_ids: BTreeSet<Uuid> = stored.keys().copied().collect();
    let not_refused: BTreeSet<Uuid> = want.keys().copied().filter(|id| !refused.contains(id)).collect();
    prop_assert_eq!(&stored_ids, &not_refused, "stored = every event the database does not refuse");
    for original in &events {
        let Some(row) = stored.get(&original.id) else { continue };
        prop_assert_eq!(&serde_json::to_value(row).map_err(failed)?, &want[&original.id]);
        prop_assert!(no_nul_anywhere(&row.details), "NUL in stored details");
        if let AuditEventType::Custom(name) = &original.event_type {
            check_field("event_type", Some(name), Some(row.event_type.as_str()), MAX_EVENT_TYPE_CHARS)?;
        }
        check_field("actor_id", original.actor_id.as_deref(), row.actor_id.as_deref(), MAX_ACTOR_ID_CHARS)?;
        check_field("actor_name", original.actor_name.as_deref(), row.actor_name.as_deref(), MAX_ACTOR_NAME_CHARS)?;
        check_field("user_agent", original.user_agent.as_deref(), row.user_agent.as_deref(), MAX_USER_AGENT_CHARS)?;
        check_field("request_id", original.request_id.as_deref(), row.request_id.as_deref(), MAX_REQUEST_ID_CHARS)?;
    }

    // The dead letters: exactly the refused events, each kept whole with the database's error.
    let letters =
        dead_letter::Entity::find().filter(dead_letter::Column::EventId.is_in(ids)).all(&t.db).await.map_err(failed)?;
    let lettered: BTreeSet<Uuid> = letters.iter().map(|l| l.event_id.parse().expect("uuid")).collect();
    prop_assert_eq!(&lettered, &refused, "dead letters = the refused events, once each");
    for letter in &letters {
        prop_assert_eq!(letter.sink.as_str(), "database");
        prop_assert!(letter.raw_event.is_ascii());
        let mut raw: Value = serde_json::from_str(&letter.raw_event).map_err(failed)?;
        prop_assert!(
            raw.as_object_mut().and_then(|o| o.remove("chain")).is_some(),
            "a dead letter keeps its chain link"
        );
        let id: Uuid = letter.event_id.parse().map_err(failed)?;
        prop_assert_eq!(&raw, &want[&id]);
    }

    // The file sink refuses nothing: every event is one line.
    let text = std::fs::read_to_string(&file).map_err(failed)?;
    let mut lines = BTreeMap::new();
    for line in text.lines() {
        let mut value: Value = serde_json::from_str(line).map_err(failed)?;
        prop_assert!(value.as_object_mut().and_then(|o| o.remove("chain")).is_some(), "a line without its chain link");
        let id: Uuid = value["id"].as_str().unwrap_or_default().parse().map_err(failed)?;
        prop_assert!(lines.insert(id, value).is_none(), "an event written twice to the file");
    }
    prop_assert_eq!(&lines, &want);

    // Nothing lost or dropped; the counters add up (database + file + tracing).
    let n = want.len() as u64;
    prop_assert_eq!((stats.lost, stats.dropped), (0, 0), "{:?}", stats);
    prop_assert_eq!(stats.dead_lettered, refused.len() as u64, "{:?}", stats);
    prop_assert_eq!(stats.written, (n - refused.len() as u64) + 2 * n, "{:?}", stats);
    Ok(())
}

fn run(backend: Backend) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let Some(t) = rt.block_on(TestDb::new(backend)) else { return };
    rt.block_on(refuse_poison(&t));
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config { cases: CASES, max_shrink_iters: 256, failure_persistence: None, ..Config::default() };
    let result =
        TestRunner::new(config).run(&vec(event(), 1..8), |events| rt.block_on(one_case(&t, dir.path(), events)));
    rt.block_on(t.cleanup());
    if let Err(e) = result {
        panic!("{backend:?}: {e}");
    }
}

#[test]
fn every_event_is_stored_or_dead_lettered_on_sqlite() {
    run(Backend::Sqlite);
}

#[test]
fn every_event_is_stored_or_dead_lettered_on_postgres() {
    run(Backend::Postgres);
}

#[test]
fn every_event_is_stored_or_dead_lettered_on_mariadb() {
    run(Backend::MySql);
}
