//! The tamper-evident audit trail on every backend: a trail written through the logger (hash
//! chain, signed checkpoints) verifies clean; each kind of tampering done with plain SQL or
//! SeaORM on the stored rows is named by `verify_database`; an export verifies on its own.

use integration_tests::{TestDb, on_every_backend};
use rail_graphql_security::audit::checkpoint::{self, CheckpointKey};
use rail_graphql_security::audit::verify::{
    Finding, Notice, VerifyOptions, VerifyReport, read_anchors, verify_database, verify_export,
};
use rail_graphql_security::audit::{
    AuditEvent, AuditEventType, AuditLogger, ChainHash, ChainLink, CheckpointPolicy, DatabaseSink, entity,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};
use serde_json::json;

const SECRET: &str = "checkpoint secret of the chain tests, 32+ chars";

fn key() -> CheckpointKey {
    CheckpointKey::from_secret(SECRET)
}

async fn clear(t: &TestDb) {
    for table in ["audit_events", "audit_checkpoints", "audit_dead_letters", "audit_rollup_hourly"] {
        t.db.execute_unprepared(&format!("DELETE FROM {table}")).await.expect("clear a table");
    }
}

/// Checkpoints signed with [`key`] every `every_events` events or `interval_secs` (and at
/// shutdown).
fn signing_policy(every_events: u64, interval_secs: u64) -> CheckpointPolicy {
    let interval = std::time::Duration::from_secs(interval_secs);
    CheckpointPolicy { key: Some(key()), every_events, interval, ..CheckpointPolicy::default() }
}

/// A logger into `t` that signs a checkpoint every `every_events` events (and at shutdown).
fn signing_logger(t: &TestDb, every_events: u64) -> AuditLogger {
    AuditLogger::builder().database(t.db.clone()).checkpoints(signing_policy(every_events, 3600)).build()
}

/// Writes `rounds` x 20 events through a logger (a checkpoint every 20 events), then `tail`
/// more; shuts the logger down (a final checkpoint) unless `shutdown` is false, in which case
/// the logger is returned: alive, it writes no checkpoint for the tail.
async fn write_trail(t: &TestDb, rounds: usize, tail: usize, shutdown: bool) -> Option<AuditLogger> {
    clear(t).await;
    let logger = signing_logger(t, 20);
    let mut n = 0;
    let mut log = |logger: &AuditLogger| {
        n += 1;
        logger.log(
            AuditEvent::new(AuditEventType::LoginFailed)
                .actor_name(format!("user{n}"))
                .client_ip(Some(format!("198.51.100.{}", n % 250).parse().unwrap()))
                .details(json!({"n": n, "reason": "invalid password", "nested": {"b": 1.5, "a": [n]}})),
        );
    };
    for _ in 0..rounds {
        for _ in 0..20 {
            log(&logger);
        }
        logger.flush().await.expect("flush");
    }
    for _ in 0..tail {
        log(&logger);
    }
    logger.flush().await.expect("flush");
    if shutdown {
        logger.shutdown().await.expect("shutdown");
        return None;
    }
    Some(logger)
}

async fn verify(t: &TestDb) -> VerifyReport {
    verify_database(&t.db, VerifyOptions { key: Some(key().verifying_key()), ..VerifyOptions::default() })
        .await
        .expect("verify")
}

/// Every stored checkpoint, by chain and sequence number.
async fn stored_checkpoints(t: &TestDb) -> Vec<checkpoint::Checkpoint> {
    let models = checkpoint::Entity::find()
        .order_by_asc(checkpoint::Column::ChainId)
        .order_by_asc(checkpoint::Column::ChainSeq)
        .all(&t.db)
        .await
        .expect("checkpoints");
    models.into_iter().map(|m| checkpoint::Checkpoint::try_from(m).expect("a stored checkpoint")).collect()
}

async fn rows(t: &TestDb) -> Vec<entity::Model> {
    entity::Entity::find().order_by_asc(entity::Column::ChainSeq).all(&t.db).await.expect("rows")
}

async fn row(t: &TestDb, seq: i64) -> entity::Model {
    rows(t).await.into_iter().find(|r| r.chain_seq == Some(seq)).expect("row at seq")
}

fn chain_of(report: &VerifyReport) -> Vec<&Finding> {
    report.findings.iter().collect()
}

async fn tampering_is_named(t: &TestDb) {
    // Untouched: intact, every event under a signed checkpoint.
    write_trail(t, 3, 0, true).await;
    let report = verify(t).await;
    assert!(report.intact(), "{:?}", report.findings);
    assert_eq!((report.events, report.chains), (60, 1));
    assert!(report.notices.is_empty(), "{:?}", report.notices);
    let stored = rows(t).await;
    let chain = uuid::Uuid::from_slice(stored[0].chain_id.as_deref().unwrap()).unwrap();
    assert_eq!(stored.iter().map(|r| r.chain_seq.unwrap()).collect::<Vec<_>>(), (1..=60).collect::<Vec<_>>());

    // A changed field is named.
    let mut changed = row(t, 7).await.into_active_model();
    changed.actor_name = Set(Some("mallory".into()));
    changed.update(&t.db).await.unwrap();
    let mut changed = row(t, 8).await.into_active_model();
    changed.details = Set(json!({"n": 8, "reason": "valid password"}));
    changed.update(&t.db).await.unwrap();
    let report = verify(t).await;
    let id7 = row(t, 7).await.id;
    assert!(
        report.findings.contains(&Finding::Modified { chain, seq: 7, id: id7, fields: vec!["actor_name".into()] }),
        "{:?}",
        report.findings
    );
    assert!(
        report.findings.iter().any(|f| matches!(f, Finding::Modified { seq: 8, fields, .. } if fields == &["details"])),
        "{:?}",
        report.findings
    );
    assert_eq!(report.findings.len(), 2, "{:?}", report.findings);

    // A deleted row and a deleted range.
    write_trail(t, 3, 0, true).await;
    t.db.execute_unprepared("DELETE FROM audit_events WHERE chain_seq = 10 OR (chain_seq >= 30 AND chain_seq <= 35)")
        .await
        .unwrap();
    let report = verify(t).await;
    let chain = report_chain(t).await;
    assert_eq!(
        chain_of(&report),
        [
            &Finding::Deleted { chain, first_seq: 10, last_seq: 10 },
            &Finding::Deleted { chain, first_seq: 30, last_seq: 35 }
        ]
    );

    // The newest events deleted, below the signed head.
    write_trail(t, 3, 0, true).await;
    t.db.execute_unprepared("DELETE FROM audit_events WHERE chain_seq > 55").await.unwrap();
    let report = verify(t).await;
    let chain = report_chain(t).await;
    assert_eq!(chain_of(&report), [&Finding::Deleted { chain, first_seq: 56, last_seq: 60 }]);

    // An inserted row: a copy taking a used sequence number, and a row without a link.
    write_trail(t, 3, 0, true).await;
    let mut copy = row(t, 12).await;
    copy.id = uuid::Uuid::now_v7().to_string();
    copy.actor_name = Some("ghost".into());
    entity::Entity::insert(copy.clone().into_active_model()).exec_without_returning(&t.db).await.unwrap();
    let mut unlinked = copy.clone();
    unlinked.id = uuid::Uuid::now_v7().to_string();
    unlinked.timestamp = chrono::Utc::now();
    (unlinked.chain_id, unlinked.chain_seq, unlinked.chain_prev, unlinked.chain_hash, unlinked.chain_fields) =
        (None, None, None, None, None);
    entity::Entity::insert(unlinked.clone().into_active_model()).exec_without_returning(&t.db).await.unwrap();
    let report = verify(t).await;
    let inserted: Vec<&str> = report
        .findings
        .iter()
        .filter_map(|f| match f {
            Finding::Inserted { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(inserted.len(), 2, "{:?}", report.findings);
    assert!(inserted.contains(&copy.id.as_str()) && inserted.contains(&unlinked.id.as_str()), "{:?}", report.findings);
    assert_eq!(report.findings.len(), 2, "{:?}", report.findings);

    // Two rows swapped: each is named as moved.
    write_trail(t, 3, 0, true).await;
    let (a, b) = (row(t, 20).await, row(t, 21).await);
    let mut moved = a.clone().into_active_model();
    moved.chain_seq = Set(Some(21));
    moved.update(&t.db).await.unwrap();
    let mut moved = b.clone().into_active_model();
    moved.chain_seq = Set(Some(20));
    moved.update(&t.db).await.unwrap();
    let report = verify(t).await;
    let reordered: Vec<(u64, &str)> = report
        .findings
        .iter()
        .filter_map(|f| match f {
            Finding::Reordered { seq, id, .. } => Some((*seq, id.as_str())),
            _ => None,
        })
        .collect();
    assert!(
        reordered.contains(&(20, b.id.as_str())) && reordered.contains(&(21, a.id.as_str())),
        "{:?}",
        report.findings
    );

    // History rewritten and rehashed from #5 on: only the signed checkpoints catch it.
    write_trail(t, 3, 0, true).await;
    let chain = report_chain(t).await;
    rewrite_and_rehash(t, chain, 5).await;
    let report = verify(t).await;
    assert_eq!(
        chain_of(&report),
        [
            &Finding::CheckpointMismatch { chain, seq: 20 },
            &Finding::CheckpointMismatch { chain, seq: 40 },
            &Finding::CheckpointMismatch { chain, seq: 60 }
        ]
    );

    // A forged checkpoint (signed with another key) and a removed one.
    write_trail(t, 3, 0, true).await;
    let checkpoints = checkpoint::Entity::find().order_by_asc(checkpoint::Column::ChainSeq).all(&t.db).await.unwrap();
    assert_eq!(checkpoints.iter().map(|c| c.chain_seq).collect::<Vec<_>>(), [20, 40, 60]);
    let mut forged = checkpoint::Checkpoint::try_from(checkpoints[0].clone()).unwrap();
    CheckpointKey::from_secret("the attacker's own key").sign(&mut forged);
    let mut active = checkpoints[0].clone().into_active_model();
    active.signature = Set(forged.signature.clone());
    active.update(&t.db).await.unwrap();
    checkpoint::Entity::delete_by_id(checkpoints[1].id.clone()).exec(&t.db).await.unwrap();
    let report = verify(t).await;
    let chain = report_chain(t).await;
    assert!(
        matches!(
            &report.findings[..],
            [Finding::ForgedCheckpoint { seq: 20, .. }, Finding::MissingCheckpoint { seq: 40, .. }]
        ),
        "{:?}",
        report.findings
    );
    assert!(report.findings.iter().all(|f| format!("{f}").contains(&chain.to_string())));

    // Events after the last checkpoint: intact, reported as not yet signed.
    let alive = write_trail(t, 3, 5, false).await;
    let report = verify(t).await;
    let chain = report_chain(t).await;
    assert!(report.intact(), "{:?}", report.findings);
    assert_eq!(report.notices, [Notice::UnsignedTail { chain, first_seq: 61, last_seq: 65 }]);

    // Without the key, a trail signed by anyone verifies only as far as the hashes go.
    let unkeyed = verify_database(&t.db, VerifyOptions::default()).await.unwrap();
    assert!(unkeyed.notices.iter().any(|n| matches!(n, Notice::SignaturesNotChecked { count: 3 })), "{:?}", unkeyed);
    // Shut down, the logger signs the tail.
    alive.expect("not shut down").shutdown().await.unwrap();
    let report = verify(t).await;
    assert!(report.intact() && report.notices.is_empty(), "{report:?}");
    assert_eq!(report.checkpoints, 4);
}
on_every_backend!(tampering_is_named_on, tampering_is_named);

/// Changes the actor of event #`seq` of `chain` and recomputes every hash from there on, as
/// someone who can write the table (but not sign) would.
async fn rewrite_and_rehash(t: &TestDb, chain: uuid::Uuid, seq: i64) {
    let mut stored: Vec<entity::Model> =
        rows(t).await.into_iter().filter(|r| r.chain_id.as_deref() == Some(chain.as_bytes().as_slice())).collect();
    stored.sort_by_key(|r| r.chain_seq);
    let before = stored.iter().find(|r| r.chain_seq == Some(seq - 1)).and_then(|r| r.chain_hash.as_deref());
    let mut prev = before.map_or(ChainHash::GENESIS, |hash| ChainHash::from_slice(hash).unwrap());
    for mut model in stored.into_iter().filter(|r| r.chain_seq.unwrap() >= seq) {
        if model.chain_seq == Some(seq) {
            model.actor_name = Some("someone else".into());
        }
        let mut event = AuditEvent::try_from(model.clone()).unwrap();
        let link = ChainLink::compute(&event, chain, model.chain_seq.unwrap() as u64, prev);
        event.chain = Some(link);
        prev = link.hash;
        let mut active = entity::ActiveModel::from(&event);
        active.id = Set(model.id.clone());
        active.update(&t.db).await.unwrap();
    }
}

async fn report_chain(t: &TestDb) -> uuid::Uuid {
    let id = rows(t).await.into_iter().find_map(|r| r.chain_id).expect("a chained row");
    uuid::Uuid::from_slice(&id).unwrap()
}

async fn an_export_verifies_on_its_own(t: &TestDb) {
    write_trail(t, 2, 3, true).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trail.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    let lines = rail_graphql_security::audit::verify::export(&t.db, &mut file, None, None).await.unwrap();
    assert_eq!(lines, 43 + 3, "43 events and 3 checkpoints (20, 40, and 43 at shutdown)");
    let options = || VerifyOptions { key: Some(key().verifying_key()), ..VerifyOptions::default() };
    let report = verify_export(&path, options()).unwrap();
    assert!(report.intact() && report.notices.is_empty(), "{report:?}");
    assert_eq!(report.events, 43);

    // A changed line, and lines out of order, in the file.
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[2] = lines[2].replace("user3", "user4");
    lines.swap(5, 6);
    std::fs::write(&path, lines.join("\n")).unwrap();
    let report = verify_export(&path, options()).unwrap();
    assert!(
        report
            .findings
            .iter()
            .any(|f| matches!(f, Finding::Modified { seq: 3, fields, .. } if fields == &["actor_name"])),
        "{:?}",
        report.findings
    );
    let moved = |f: &Finding| matches!(f, Finding::Reordered { seq: 6, detail, .. } if detail == "is on line 7, after #7 on line 6");
    assert!(report.findings.iter().any(moved), "{:?}", report.findings);
    // Checked in sequence order, the swap is that one finding: no deleted, inserted or other
    // event is reported around it.
    assert_eq!(report.findings.len(), 2, "{:?}", report.findings);
    assert_eq!(report.events, 43);

    // A block of lines reversed: each line that comes after a later one of its chain is named,
    // and nothing else (checked in file order, the block used to read as deletions and
    // insertions around it).
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[2..9].reverse();
    std::fs::write(&path, lines.join("\n")).unwrap();
    let report = verify_export(&path, options()).unwrap();
    let moved: Vec<u64> = report
        .findings
        .iter()
        .filter_map(|f| match f {
            Finding::Reordered { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(moved, [8, 7, 6, 5, 4, 3], "{:?}", report.findings);
    assert_eq!(report.findings.len(), moved.len(), "{:?}", report.findings);
    assert_eq!(report.events, 43);

    // A line that is not UTF-8 (found by an attack on the CLI: it stopped `verify` with a read
    // error, exit 2, and nothing else was checked) is a finding naming the line, its event's
    // place a gap, and the other lines are checked.
    let mut bytes = text.clone().into_bytes();
    let at = text.match_indices("user3").next().unwrap().0;
    bytes[at] = 0xFF;
    std::fs::write(&path, &bytes).unwrap();
    let report = verify_export(&path, options()).unwrap();
    let chain = report_chain(t).await;
    assert!(
        matches!(&report.findings[..], [Finding::Invalid { at, .. }, Finding::Deleted { first_seq: 3, last_seq: 3, .. }] if at == "line 3"),
        "{:?}",
        report.findings
    );
    assert!(report.findings.contains(&Finding::Deleted { chain, first_seq: 3, last_seq: 3 }));
    assert_eq!(report.events, 42);
    // The stored rows themselves are untouched.
    assert!(verify(t).await.intact());
}
on_every_backend!(an_export_verifies_on_its_own_on, an_export_verifies_on_its_own);

/// Found by an attack over HTTP: `#[audited]` stores the resolver's `duration_ms`, a float such
/// as 0.053128999999999996 (17 significant digits), and `verify` read some of them back one
/// unit in the last place off (serde_json's fast float parser), so it reported the untouched
/// events as modified: 124 false alarms in 1,526 `secretNote` reads. Floats now read back
/// exactly, in the database and in an export.
async fn floats_of_every_precision_verify_clean(t: &TestDb) {
    clear(t).await;
    let logger = signing_logger(t, 1_000);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut floats = vec![0.053128999999999996, 0.1 + 0.2, 1e-300, 123_456.789_012_345_67, f64::MAX, f64::MIN_POSITIVE];
    while floats.len() < 500 {
        // xorshift64: any bit pattern that is a finite float (JSON has no NaN or infinities).
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let float = f64::from_bits(state);
        if float.is_finite() {
            floats.push(float);
        }
    }
    for (n, float) in floats.iter().enumerate() {
        logger.log(
            AuditEvent::new(AuditEventType::Custom("secret_note_read".to_owned()))
                .actor_name(format!("user{n}"))
                .details(json!({ "duration_ms": float, "fraction": (n as f64) / 7.0 })),
        );
    }
    logger.flush().await.expect("flush");
    logger.shutdown().await.expect("shutdown");
    let report = verify(t).await;
    assert!(report.intact(), "{:?}", report.findings);
    assert_eq!(report.events, 500);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trail.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    rail_graphql_security::audit::verify::export(&t.db, &mut file, None, None).await.unwrap();
    let report =
        verify_export(&path, VerifyOptions { key: Some(key().verifying_key()), ..VerifyOptions::default() }).unwrap();
    assert!(report.intact(), "{:?}", report.findings);
}
on_every_backend!(floats_of_every_precision_verify_clean_on, floats_of_every_precision_verify_clean);

/// Found by an attack with write access: the rollup's failed logins set to 0 and its address
/// and account rows deleted made the report and the dashboard show no failed login, while
/// `verify` said intact. `VerifyOptions::rollup` (`audit verify --rollup`) names each rollup row
/// that does not count the events.
async fn a_rollup_that_lies_is_named(t: &TestDb) {
    write_trail(t, 1, 5, true).await;
    let options = || VerifyOptions { key: Some(key().verifying_key()), rollup: true, ..VerifyOptions::default() };
    let report = verify_database(&t.db, options()).await.unwrap();
    assert!(report.intact(), "the rollup the sink keeps counts the events: {:?}", report.findings);

    t.db.execute_unprepared(
        "UPDATE audit_rollup_hourly SET event_count = 0 WHERE dim_kind = '' AND event_type = 'login_failed'",
    )
    .await
    .unwrap();
    t.db.execute_unprepared("DELETE FROM audit_rollup_hourly WHERE dim_kind = 'client_ip'").await.unwrap();
    let report = verify_database(&t.db, options()).await.unwrap();
    let rollup: Vec<&Finding> = report.findings.iter().filter(|f| matches!(f, Finding::Rollup { .. })).collect();
    assert_eq!(report.findings.len(), rollup.len(), "only the rollup is wrong: {:?}", report.findings);
    let total: i64 = rollup
        .iter()
        .filter_map(|f| match f {
            Finding::Rollup { dimension, event_type, stored: 0, counted, .. }
                if dimension.is_empty() && event_type == "login_failed" =>
            {
                Some(*counted)
            }
            _ => None,
        })
        .sum();
    assert_eq!(total, 25, "every failed login the rollup hid: {rollup:?}");
    assert!(
        rollup.iter().any(|f| matches!(f, Finding::Rollup { dimension, stored: 0, .. } if dimension == "client_ip"))
    );
    // Without the option the rollup is not read.
    assert!(verify(t).await.intact());
}
on_every_backend!(a_rollup_that_lies_is_named_on, a_rollup_that_lies_is_named);

/// Found by an attack with write access on SQLite, which keeps timestamps as text: every failed
/// login of a period rewritten as the same instant at offset -14:00 hashed as before (the chain
/// covers the instant), but sorted elsewhere, so the report counted none of them and `verify`
/// said intact. A stored timestamp that is not in UTC is named now.
#[tokio::test]
async fn a_timestamp_rewritten_out_of_utc_is_named_on_sqlite() {
    let t = TestDb::new(integration_tests::Backend::Sqlite).await.expect("SQLite always runs");
    write_trail(&t, 1, 3, true).await;
    assert!(verify(&t).await.intact());
    let target = row(&t, 2).await;
    let moved = target.timestamp.with_timezone(&chrono::FixedOffset::west_opt(14 * 3600).unwrap());
    let text = moved.to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    assert!(text.ends_with("-14:00"), "{text}");
    t.db.execute_unprepared(&format!("UPDATE audit_events SET timestamp = '{text}' WHERE id = '{}'", target.id))
        .await
        .unwrap();
    let report = verify(&t).await;
    let named = |f: &Finding| matches!(f, Finding::Invalid { at, reason } if *at == format!("event {}", target.id) && reason.contains("not in UTC") && reason.contains(&text));
    assert!(report.findings.iter().any(named), "{:?}", report.findings);
    assert_eq!(report.findings.len(), 1, "the chain itself still holds: {:?}", report.findings);
}

/// Found by an attack with write access: `severity` rewritten `High` (for `high`) and one
/// address stored in other IPv6 spellings (`0:0:0:0:0:0:0:1`, `::0001`) parsed back to the
/// same event, so the hashes held and `verify` said intact, while the dashboard's severity
/// filter (which compares the text) hid the events and "top failing addresses" split one
/// address in four. A stored text that is not exactly what the plugin writes is named.
async fn a_value_respelled_is_named(t: &TestDb) {
    clear(t).await;
    let logger = signing_logger(t, 4);
    for _ in 0..4 {
        logger.log(AuditEvent::new(AuditEventType::LoginFailed).client_ip(Some("::1".parse().unwrap())));
    }
    logger.shutdown().await.expect("shutdown");
    assert!(verify(t).await.intact());
    let stored = rows(t).await;
    assert_eq!(stored[0].severity, "medium", "{:?}", stored[0]);
    let respell = [("severity", "Medium"), ("client_ip", "0:0:0:0:0:0:0:1"), ("client_ip", "::0001")];
    for ((column, value), row) in respell.iter().zip(&stored) {
        let sql = format!("UPDATE audit_events SET {column} = '{value}' WHERE id = '{}'", row.id);
        t.db.execute_unprepared(&sql).await.unwrap();
    }
    // The id too: an upper-case UUID parses to the same one.
    let upper = stored[3].id.to_uppercase();
    t.db.execute_unprepared(&format!("UPDATE audit_events SET id = '{upper}' WHERE id = '{}'", stored[3].id))
        .await
        .unwrap();
    let report = verify(t).await;
    assert!(!report.intact());
    for ((column, value), row) in respell.iter().zip(&stored) {
        let named = |f: &Finding| matches!(f, Finding::Invalid { at, reason } if *at == format!("event {}", row.id) && reason.contains(&format!("`{column}`")) && reason.contains(value));
        assert!(report.findings.iter().any(named), "{column} = {value}: {:?}", report.findings);
    }
    let named = |f: &Finding| matches!(f, Finding::Invalid { at, reason } if *at == format!("event {upper}") && reason.contains("`id`"));
    assert!(report.findings.iter().any(named), "{:?}", report.findings);
}
on_every_backend!(a_value_respelled_is_named_on, a_value_respelled_is_named);

/// Found by an attack with write access: a forged `login_success` without a chain link, dated
/// before the first chained event, passed `--require-signed` with only a notice ("stored before
/// the hash chain existed"). Such rows count as unsigned now.
async fn a_backdated_unchained_event_is_unsigned(t: &TestDb) {
    write_trail(t, 1, 0, true).await;
    let report = verify(t).await;
    assert_eq!(report.unsigned_events(), 0, "{:?}", report.notices);
    let first = rows(t).await.into_iter().map(|r| r.timestamp).min().unwrap();
    let forged = AuditEvent::new(AuditEventType::LoginSuccess).actor_name("admin");
    let mut forged = entity::ActiveModel::from(&forged);
    forged.timestamp = Set(first - chrono::Duration::hours(1));
    forged.insert(&t.db).await.unwrap();
    let report = verify(t).await;
    assert!(report.intact(), "no chain was touched: {:?}", report.findings);
    assert!(report.notices.contains(&Notice::Unchained { count: 1 }), "{:?}", report.notices);
    assert_eq!(report.unsigned_events(), 1, "what --require-signed refuses");
}
on_every_backend!(a_backdated_unchained_event_is_unsigned_on, a_backdated_unchained_event_is_unsigned);

/// Found by an attack with write access: with `--from`, events deleted at the end of a chain
/// (under its last checkpoint) read as intact, without a word that the range left them out.
#[tokio::test]
async fn a_verify_in_a_time_range_says_what_it_did_not_check() {
    let t = TestDb::new(integration_tests::Backend::Sqlite).await.expect("SQLite always runs");
    write_trail(&t, 2, 0, true).await;
    let last = row(&t, 40).await;
    t.db.execute_unprepared(&format!("DELETE FROM audit_events WHERE id = '{}'", last.id)).await.unwrap();
    assert!(!verify(&t).await.intact(), "the whole trail shows the deletion");
    let from = rows(&t).await.into_iter().map(|r| r.timestamp).min().unwrap() - chrono::Duration::days(1);
    let options = VerifyOptions { key: Some(key().verifying_key()), from: Some(from), ..VerifyOptions::default() };
    let report = verify_database(&t.db, options).await.expect("verify");
    assert!(report.notices.contains(&Notice::RangeOnly), "{:?}", report.notices);
    assert!(report.notices.iter().any(|n| n.to_string().contains("without --from/--to")), "{:?}", report.notices);
}

/// More rows than one page of the export, chained and unchained (stored with the chain off,
/// earlier): every row is exported exactly once, the chained ones first in sequence order, and
/// the file verifies like the database; a time range exports only its rows.
async fn an_export_pages_through_every_row(t: &TestDb) {
    const EACH: usize = 5_100;
    clear(t).await;
    let earlier = chrono::Utc::now() - chrono::Duration::days(3);
    let unchained = AuditLogger::builder().database(t.db.clone()).hash_chain(false).build();
    for i in 0..EACH {
        unchained.log(
            AuditEvent::new(AuditEventType::DataCreated)
                .actor_name(format!("before{i}"))
                .at(earlier + chrono::Duration::milliseconds(i as i64)),
        );
    }
    unchained.shutdown().await.expect("shutdown");
    let chain_start = chrono::Utc::now();
    let chained = signing_logger(t, 1_000);
    for i in 0..EACH {
        chained.log(AuditEvent::new(AuditEventType::DataCreated).actor_name(format!("after{i}")));
    }
    chained.shutdown().await.expect("shutdown");

    let export = |from| async move {
        let mut out = Vec::new();
        let lines = rail_graphql_security::audit::verify::export(&t.db, &mut out, from, None).await.expect("export");
        let text = String::from_utf8(out).expect("UTF-8");
        assert_eq!(text.lines().count() as u64, lines);
        text
    };
    let text = export(None).await;
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON"))
        .filter(|line| line.get("id").is_some())
        .collect();
    assert_eq!(events.len(), 2 * EACH);
    let seqs: Vec<u64> = events.iter().map_while(|e| e["chain"]["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=EACH as u64).collect::<Vec<_>>(), "the chained events first, in sequence order");
    assert!(events[EACH..].iter().all(|e| e["chain"].is_null()));
    let mut exported: Vec<&str> = events.iter().map(|e| e["id"].as_str().expect("id")).collect();
    exported.sort_unstable();
    exported.dedup();
    assert_eq!(exported.len(), 2 * EACH, "no row twice");
    let mut stored: Vec<String> = entity::Entity::find().all(&t.db).await.unwrap().into_iter().map(|r| r.id).collect();
    stored.sort_unstable();
    assert_eq!(exported, stored.iter().map(String::as_str).collect::<Vec<_>>());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trail.jsonl");
    std::fs::write(&path, &text).unwrap();
    let options = VerifyOptions { key: Some(key().verifying_key()), ..VerifyOptions::default() };
    for report in [verify_export(&path, options.clone()).unwrap(), verify(t).await] {
        assert!(report.intact(), "{:?}", report.findings);
        assert_eq!((report.events, report.chains), (EACH as u64, 1));
        assert_eq!(report.notices, [Notice::Unchained { count: EACH as u64 }]);
    }

    let recent = export(Some(chain_start)).await;
    let ids = recent.lines().filter(|line| line.contains("\"after")).count();
    assert_eq!(ids, EACH, "only the chained events are in the range");
    assert!(!recent.contains("\"before"));
}
on_every_backend!(an_export_pages_through_every_row_on, an_export_pages_through_every_row);

/// Two loggers (two instances) writing 50,000 events each at once into one database: both
/// chains verify clean, and still do after a retention purge that cuts each of them; a row
/// removed right after a purge anchor is still caught.
async fn two_writers_and_a_purge_verify_clean(t: &TestDb) {
    clear(t).await;
    const PER_WRITER: usize = 50_000;
    let start = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now() - chrono::Duration::days(2), 0);
    let writer = |name: &'static str| {
        let db = t.db.clone();
        tokio::spawn(async move {
            let policy = CheckpointPolicy { key: Some(key()), ..CheckpointPolicy::default() };
            let logger = AuditLogger::builder().database(db).checkpoints(policy).build();
            for i in 0..PER_WRITER {
                // Two days of events, a few seconds apart, in order.
                let at = start + chrono::Duration::milliseconds(i as i64 * 3_000);
                logger.log(
                    AuditEvent::new(AuditEventType::DataCreated).at(at).actor_name(name).details(json!({ "i": i })),
                );
                if i % 10_000 == 9_999 {
                    logger.flush().await.expect("flush");
                }
            }
            let stats = logger.shutdown().await.expect("shutdown");
            assert_eq!((stats.written, stats.dropped, stats.lost), (PER_WRITER as u64, 0, 0), "{stats:?}");
        })
    };
    let (a, b) = (writer("alice"), writer("bob"));
    a.await.unwrap();
    b.await.unwrap();
    let report = verify(t).await;
    assert!(report.intact(), "{:?}", report.findings);
    assert_eq!((report.events, report.chains), (2 * PER_WRITER as u64, 2));
    assert!(report.notices.is_empty(), "both heads signed at shutdown: {:?}", report.notices);

    // The retention purge removes the first day of each chain and anchors the rest.
    let cutoff = start + chrono::Duration::days(1);
    let logger = AuditLogger::builder()
        .database(t.db.clone())
        .checkpoints(CheckpointPolicy { key: Some(key()), ..CheckpointPolicy::default() })
        .build();
    let purged = logger.purge_before(cutoff).await.expect("purge");
    assert_eq!(purged, 2 * 28_800, "a day of events at one per 3 s, per writer");
    // The rollup two writers kept, less what the purge removed, still counts the events.
    let options = VerifyOptions { key: Some(key().verifying_key()), rollup: true, ..VerifyOptions::default() };
    let report = verify_database(&t.db, options).await.unwrap();
    assert!(report.intact(), "{:?}", report.findings);
    assert_eq!(report.events, 2 * (PER_WRITER as u64 - 28_800));
    assert!(report.notices.is_empty(), "{:?}", report.notices);

    // Removing the oldest remaining event of a chain is still a deletion, not a purge.
    t.db.execute_unprepared("DELETE FROM audit_events WHERE chain_seq = 28801 AND actor_name = 'alice'").await.unwrap();
    let report = verify(t).await;
    assert!(
        matches!(&report.findings[..], [Finding::Deleted { first_seq: 28_801, last_seq: 28_801, .. }]),
        "{:?}",
        report.findings
    );
    logger.shutdown().await.unwrap();
}
on_every_backend!(two_writers_and_a_purge_verify_clean_on, two_writers_and_a_purge_verify_clean);

/// Two instances one after the other (a restart): 30 events from the first (checkpoints at #20
/// and, at shutdown, #30), then 20 from the second, whose checkpoint at #20 witnesses the first
/// chain's head. Returns (first chain, second chain).
async fn a_restart(t: &TestDb) -> (uuid::Uuid, uuid::Uuid) {
    clear(t).await;
    let mut chains = Vec::new();
    for (name, count) in [("first", 30), ("second", 20)] {
        let logger = signing_logger(t, 20);
        for n in 0..count {
            logger.log(AuditEvent::new(AuditEventType::LoginFailed).actor_name(format!("{name}{n}")));
        }
        logger.flush().await.expect("flush");
        logger.shutdown().await.expect("shutdown");
        let row = rows(t).await.into_iter().find(|r| r.actor_name.as_deref() == Some(&format!("{name}0"))).unwrap();
        chains.push(uuid::Uuid::from_slice(row.chain_id.as_deref().unwrap()).unwrap());
    }
    (chains[0], chains[1])
}

async fn delete_chain_from(t: &TestDb, chain: uuid::Uuid, first_seq: i64) {
    entity::Entity::delete_many()
        .filter(entity::Column::ChainId.eq(chain.as_bytes().to_vec()))
        .filter(entity::Column::ChainSeq.gte(first_seq))
        .exec(&t.db)
        .await
        .unwrap();
    checkpoint::Entity::delete_many()
        .filter(checkpoint::Column::ChainId.eq(chain.to_string()))
        .filter(checkpoint::Column::ChainSeq.gte(first_seq))
        .exec(&t.db)
        .await
        .unwrap();
}

/// A chain removed whole, cut short, or rewritten from the start, each together with its
/// checkpoints, leaves nothing of its own to compare with: the checkpoint of the writer after
/// it, which witnessed its head, is what names it.
async fn a_removed_or_rewritten_chain_is_named_by_its_witness(t: &TestDb) {
    let (first, second) = a_restart(t).await;
    let report = verify(t).await;
    assert!(report.intact() && report.notices.is_empty(), "{report:?}");
    let stored = stored_checkpoints(t).await;
    let witnessing: Vec<_> = stored.iter().filter(|c| !c.witnessed.is_empty()).collect();
    assert_eq!(witnessing.len(), 1, "{stored:?}");
    assert_eq!((witnessing[0].chain, witnessing[0].seq), (second, 20));
    let head = stored.iter().find(|c| c.chain == first && c.seq == 30).expect("the first chain's last checkpoint");
    assert_eq!(witnessing[0].witnessed, [checkpoint::Witness { chain: first, seq: 30, hash: head.hash }]);
    let witnessed_by =
        |seq, last_seq| Finding::MissingChain { chain: first, seq, last_seq, witness_chain: second, witness_seq: 20 };

    // Removed whole, events and checkpoints.
    delete_chain_from(t, first, 1).await;
    let report = verify(t).await;
    assert_eq!(report.findings, [witnessed_by(30, 0)]);
    assert!(
        report.findings[0].to_string().starts_with(&format!("deleted chain: chain {first} is gone")),
        "{}",
        report.findings[0]
    );

    // Cut short after #15, the checkpoints at #20 and #30 with it: on its own, an unsigned
    // chain of 15 events.
    let (first, second) = a_restart(t).await;
    delete_chain_from(t, first, 16).await;
    let report = verify(t).await;
    assert_eq!(
        report.findings,
        [Finding::MissingChain { chain: first, seq: 30, last_seq: 15, witness_chain: second, witness_seq: 20 }]
    );

    // Rewritten and rehashed from #5 on, its checkpoints removed.
    let (first, second) = a_restart(t).await;
    checkpoint::Entity::delete_many()
        .filter(checkpoint::Column::ChainId.eq(first.to_string()))
        .exec(&t.db)
        .await
        .unwrap();
    rewrite_and_rehash(t, first, 5).await;
    let report = verify(t).await;
    assert_eq!(
        report.findings,
        [Finding::WitnessMismatch { chain: first, seq: 30, witness_chain: second, witness_seq: 20 }]
    );

    // The witness is evidence only when signed: a checkpoint slipped in with another key is
    // reported as forged, and what it claims to witness is not held against anyone.
    let (_, second) = a_restart(t).await;
    let mut forged = checkpoint::Checkpoint::new(second, 20, ChainHash([1; 32]), 0);
    forged.witnessed.push(checkpoint::Witness { chain: uuid::Uuid::now_v7(), seq: 5, hash: ChainHash([2; 32]) });
    CheckpointKey::from_secret("the attacker's own key").sign(&mut forged);
    checkpoint::Entity::insert(checkpoint::ActiveModel::from(&forged)).exec_without_returning(&t.db).await.unwrap();
    let report = verify(t).await;
    assert!(
        report.findings.iter().all(|f| !matches!(f, Finding::MissingChain { .. } | Finding::WitnessMismatch { .. })),
        "{:?}",
        report.findings
    );
    assert!(report.findings.iter().any(|f| matches!(f, Finding::ForgedCheckpoint { .. })), "{:?}", report.findings);
}
on_every_backend!(
    a_removed_or_rewritten_chain_is_named_by_its_witness_on,
    a_removed_or_rewritten_chain_is_named_by_its_witness
);

/// More other chains than one checkpoint lists, and more of their checkpoints than one look
/// reads: the next checkpoints list the rest, each within its bound, until every chain is
/// witnessed at its newest checkpoint.
async fn a_backlog_of_other_chains_is_witnessed_over_the_next_checkpoints(t: &TestDb) {
    use std::collections::HashMap;
    clear(t).await;
    let others: Vec<uuid::Uuid> = (0..300).map(|_| uuid::Uuid::now_v7()).collect();
    let mut rows = Vec::new();
    for seq in 1..=7u64 {
        for chain in &others {
            let stated = checkpoint::Checkpoint::new(*chain, seq, ChainHash([seq as u8; 32]), seq - 1);
            rows.push(checkpoint::ActiveModel::from(&stated));
        }
    }
    for chunk in rows.chunks(500) {
        checkpoint::Entity::insert_many(chunk.to_vec()).exec_without_returning(&t.db).await.unwrap();
    }
    // Unsigned like the rows above, a checkpoint after every event.
    let policy =
        CheckpointPolicy { every_events: 1, interval: std::time::Duration::from_secs(3600), ..Default::default() };
    let logger = AuditLogger::builder().database(t.db.clone()).checkpoints(policy).build();
    for n in 0..10 {
        logger.log(AuditEvent::new(AuditEventType::LoginFailed).actor_name(format!("backlog{n}")));
        logger.flush().await.unwrap();
    }
    logger.shutdown().await.unwrap();
    let own = report_chain(t).await;
    let mut newest: HashMap<uuid::Uuid, u64> = HashMap::new();
    let mut lists = 0;
    for model in
        checkpoint::Entity::find().filter(checkpoint::Column::ChainId.eq(own.to_string())).all(&t.db).await.unwrap()
    {
        let stored = checkpoint::Checkpoint::try_from(model).unwrap();
        assert!(stored.witnessed.len() <= checkpoint::MAX_WITNESSES, "{}", stored.witnessed.len());
        lists += usize::from(!stored.witnessed.is_empty());
        for w in stored.witnessed {
            assert_eq!(w.hash, ChainHash([w.seq as u8; 32]), "what the witnessed checkpoint states");
            let seq = newest.entry(w.chain).or_default();
            *seq = (*seq).max(w.seq);
        }
    }
    assert!(lists >= 2, "300 chains take more than one list");
    assert_eq!(newest.len(), others.len());
    assert!(newest.values().all(|seq| *seq == 7), "each at its newest checkpoint: {newest:?}");
}
on_every_backend!(
    a_backlog_of_other_chains_is_witnessed_over_the_next_checkpoints_on,
    a_backlog_of_other_chains_is_witnessed_over_the_next_checkpoints
);

/// Two instances writing to one database server, one of them with its clock five minutes
/// behind (a server whose clock drifted). Its checkpoint is still witnessed by the other's next
/// one, since checkpoint ids and witness looks go by the database server's clock; with the
/// instances' own clocks, the drifted checkpoint's id sorted before the other's look and was
/// never witnessed, so the drifted chain could be removed without a trace. (SQLite is left out:
/// the writers of a SQLite file share one machine and its clock.)
async fn a_drifted_instance_clock_does_not_hide_its_checkpoints(t: &TestDb) {
    clear(t).await;
    let policy = signing_policy(5, 3600);
    let instance = |offset: chrono::Duration| {
        let sink = DatabaseSink::new(t.db.clone()).checkpoints(policy.clone()).clock_offset(offset);
        AuditLogger::builder().sink(sink).build()
    };
    let write = async |logger: &AuditLogger, name: &str| {
        for n in 0..5 {
            logger.log(AuditEvent::new(AuditEventType::LoginFailed).actor_name(format!("{name}{n}")));
        }
        logger.flush().await.unwrap();
    };
    let on_time = instance(chrono::Duration::zero());
    let drifted = instance(chrono::Duration::minutes(-5));
    write(&on_time, "on-time-a").await;
    write(&drifted, "drifted").await;
    write(&on_time, "on-time-b").await;
    let chain_of = async |name: &str| {
        let row = rows(t).await.into_iter().find(|r| r.actor_name.as_deref() == Some(name)).unwrap();
        uuid::Uuid::from_slice(row.chain_id.as_deref().unwrap()).unwrap()
    };
    let (on_time_chain, drifted_chain) = (chain_of("on-time-a0").await, chain_of("drifted0").await);
    let witnessing = checkpoint::Entity::find()
        .filter(checkpoint::Column::ChainId.eq(on_time_chain.to_string()))
        .filter(checkpoint::Column::ChainSeq.eq(10))
        .one(&t.db)
        .await
        .unwrap()
        .expect("the on-time instance's second checkpoint");
    let witnessing = checkpoint::Checkpoint::try_from(witnessing).unwrap();
    assert_eq!(
        witnessing.witnessed.iter().map(|w| (w.chain, w.seq)).collect::<Vec<_>>(),
        [(drifted_chain, 5)],
        "the drifted instance's checkpoint is witnessed"
    );
    drifted.shutdown().await.unwrap();
    on_time.shutdown().await.unwrap();

    // The drifted chain removed with its checkpoints: the witness names it.
    delete_chain_from(t, drifted_chain, 1).await;
    let report = verify(t).await;
    assert!(
        report
            .findings
            .iter()
            .any(|f| matches!(f, Finding::MissingChain { chain, seq: 5, last_seq: 0, .. } if *chain == drifted_chain)),
        "{:?}",
        report.findings
    );
}

/// The newest part of the trail removed together with the checkpoints on it leaves nothing in
/// the database to compare with (no later checkpoint witnessed it yet): the anchor file, the
/// checkpoints' copies outside the database, shows it as deleted events.
async fn the_anchor_file_shows_the_newest_events_removed_with_their_checkpoints(t: &TestDb) {
    clear(t).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("anchors").join("checkpoints.jsonl");
    let policy = signing_policy(10, 3600).anchor(&file);
    let logger = AuditLogger::builder().database(t.db.clone()).checkpoints(policy).build();
    for n in 0..30 {
        logger.log(AuditEvent::new(AuditEventType::LoginFailed).actor_name(format!("anchored{n}")));
        if n % 10 == 9 {
            // One batch per ten events: a checkpoint at #10, #20 and #30.
            logger.flush().await.unwrap();
        }
    }
    logger.shutdown().await.unwrap();
    let anchors = read_anchors(&file).unwrap();
    assert_eq!(anchors.iter().map(|c| c.seq).collect::<Vec<_>>(), [10, 20, 30]);
    let stored = stored_checkpoints(t).await;
    assert_eq!(anchors, stored, "the file holds the committed checkpoints as stored");
    let anchored = |anchors: Vec<checkpoint::Checkpoint>| VerifyOptions {
        key: Some(key().verifying_key()),
        anchors,
        ..VerifyOptions::default()
    };
    let report = verify_database(&t.db, anchored(anchors.clone())).await.unwrap();
    assert!(report.intact() && report.notices.is_empty(), "{report:?}");

    // Events #21-#30 removed with the checkpoint at #30: the database alone shows a shorter
    // chain, signed to its end; the anchors show the removed events.
    let chain = report_chain(t).await;
    delete_chain_from(t, chain, 21).await;
    let report = verify(t).await;
    assert!(report.intact() && report.notices.is_empty(), "the gap the anchors close: {report:?}");
    let report = verify_database(&t.db, anchored(anchors.clone())).await.unwrap();
    assert_eq!(report.findings, [Finding::Deleted { chain, first_seq: 21, last_seq: 30 }]);

    // The whole chain removed, checkpoints and all.
    delete_chain_from(t, chain, 1).await;
    let report = verify_database(&t.db, anchored(anchors)).await.unwrap();
    assert!(report.findings.contains(&Finding::Deleted { chain, first_seq: 1, last_seq: 30 }), "{:?}", report.findings);
}
on_every_backend!(
    the_anchor_file_shows_the_newest_events_removed_with_their_checkpoints_on,
    the_anchor_file_shows_the_newest_events_removed_with_their_checkpoints
);

mod a_drifted_instance_clock_does_not_hide_its_checkpoints_on {
    async fn run(backend: integration_tests::Backend) {
        let Some(t) = integration_tests::TestDb::new(backend).await else { return };
        super::a_drifted_instance_clock_does_not_hide_its_checkpoints(&t).await;
        t.cleanup().await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run(integration_tests::Backend::Postgres).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        run(integration_tests::Backend::MySql).await
    }
}

/// A chain that stops being written to still gets its checkpoint once the interval passed (the
/// sink's idle upkeep), not only with the next batch or at shutdown.
async fn an_idle_chain_is_signed_after_the_interval(t: &TestDb) {
    clear(t).await;
    let policy = signing_policy(1_000_000, 1);
    let logger = AuditLogger::builder().database(t.db.clone()).checkpoints(policy).build();
    for n in 0..3 {
        logger.log(AuditEvent::new(AuditEventType::LoginFailed).actor_name(format!("idle{n}")));
    }
    logger.flush().await.unwrap();
    assert!(checkpoint::Entity::find().all(&t.db).await.unwrap().is_empty(), "not due yet");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let written = checkpoint::Entity::find().all(&t.db).await.unwrap();
        if let Some(head) = written.first() {
            assert_eq!((written.len(), head.chain_seq), (1, 3), "the idle head, signed once");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no checkpoint for the idle chain within 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let report = verify(t).await;
    assert!(report.intact() && report.notices.is_empty(), "{report:?}");
    logger.shutdown().await.unwrap();
    assert_eq!(checkpoint::Entity::find().all(&t.db).await.unwrap().len(), 1, "nothing new to sign at shutdown");
}
on_every_backend!(an_idle_chain_is_signed_after_the_interval_on, an_idle_chain_is_signed_after_the_interval);

/// Turns the binary chain columns back into the hex text of the first version of migration
/// step 8 (lowercase hex, the chain id as a hyphenated UUID), keeping every value.
async fn store_chain_as_hex_text(t: &TestDb) {
    let statements: &[&str] = match t.db_backend() {
        sea_orm::DatabaseBackend::Postgres => &["ALTER TABLE audit_events \
             ALTER COLUMN chain_id TYPE varchar(36) USING regexp_replace(encode(chain_id, 'hex'), \
             '(.{8})(.{4})(.{4})(.{4})(.{12})', '\\1-\\2-\\3-\\4-\\5'), \
             ALTER COLUMN chain_prev TYPE varchar(64) USING encode(chain_prev, 'hex'), \
             ALTER COLUMN chain_hash TYPE varchar(64) USING encode(chain_hash, 'hex'), \
             ALTER COLUMN chain_fields TYPE varchar(40) USING encode(chain_fields, 'hex')"],
        sea_orm::DatabaseBackend::MySql => &[
            "ALTER TABLE audit_events MODIFY chain_id VARBINARY(36) NULL, MODIFY chain_prev VARBINARY(64) NULL, \
             MODIFY chain_hash VARBINARY(64) NULL, MODIFY chain_fields VARBINARY(40) NULL",
            "UPDATE audit_events SET \
             chain_id = LOWER(INSERT(INSERT(INSERT(INSERT(HEX(chain_id), 21, 0, '-'), 17, 0, '-'), 13, 0, '-'), 9, 0, '-')), \
             chain_prev = LOWER(HEX(chain_prev)), chain_hash = LOWER(HEX(chain_hash)), \
             chain_fields = LOWER(HEX(chain_fields)) WHERE chain_id IS NOT NULL",
            "ALTER TABLE audit_events MODIFY chain_id VARCHAR(36) NULL, MODIFY chain_prev VARCHAR(64) NULL, \
             MODIFY chain_hash VARCHAR(64) NULL, MODIFY chain_fields VARCHAR(40) NULL",
        ],
        _ => &["UPDATE audit_events SET \
             chain_id = lower(substr(hex(chain_id), 1, 8) || '-' || substr(hex(chain_id), 9, 4) || '-' || \
             substr(hex(chain_id), 13, 4) || '-' || substr(hex(chain_id), 17, 4) || '-' || substr(hex(chain_id), 21)), \
             chain_prev = lower(hex(chain_prev)), chain_hash = lower(hex(chain_hash)), \
             chain_fields = lower(hex(chain_fields)) WHERE chain_id IS NOT NULL"],
    };
    for sql in statements {
        t.db.execute_unprepared(sql).await.expect("store the chain as hex text");
    }
}

/// Step 9 runs again: its bookkeeping row goes, `Migrator::up` runs what is missing.
async fn rerun_binary_chain_step(t: &TestDb) {
    use rail_graphql_security::migration::{Migrator, MigratorTrait};
    t.db.execute_unprepared(
        "DELETE FROM rail_security_migrations WHERE version = 'm20261205_000009_audit_chain_binary'",
    )
    .await
    .expect("forget step 9");
    Migrator::up(&t.db, None).await.expect("step 9");
}

async fn a_hex_text_trail_is_converted_and_still_verifies(t: &TestDb) {
    write_trail(t, 2, 5, true).await;
    let chain = report_chain(t).await;
    store_chain_as_hex_text(t).await;
    // What the first step 8 stored: text that the binary entity cannot read.
    let hashes =
        t.db.query_all_raw(sea_orm::Statement::from_string(
            t.db_backend(),
            "SELECT chain_id, chain_hash FROM audit_events WHERE chain_seq = 1",
        ))
        .await
        .unwrap();
    let (id, hash): (String, String) = hashes[0].try_get_many_by_index().unwrap();
    assert_eq!((id, hash.len()), (chain.to_string(), 64));
    let readable = match entity::Entity::find().all(&t.db).await {
        Ok(rows) => rows.into_iter().filter(|row| AuditEvent::try_from(row.clone()).is_ok()).count(),
        Err(_) => 0,
    };
    assert_eq!(readable, 0, "hex text does not read back as chain links");

    rerun_binary_chain_step(t).await;
    let report = verify(t).await;
    assert!(report.intact(), "{:?}", report.findings);
    assert_eq!((report.events, report.chains), (45, 1));
    assert!(report.notices.is_empty(), "{:?}", report.notices);
    assert_eq!(report_chain(t).await, chain);

    // Again: a no-op on binary columns.
    rerun_binary_chain_step(t).await;
    assert!(verify(t).await.intact());
    // And the converted trail still names tampering.
    let mut changed = row(t, 3).await.into_active_model();
    changed.actor_name = Set(Some("mallory".into()));
    changed.update(&t.db).await.unwrap();
    let id = row(t, 3).await.id;
    assert_eq!(
        chain_of(&verify(t).await),
        [&Finding::Modified { chain, seq: 3, id, fields: vec!["actor_name".into()] }]
    );
}
on_every_backend!(a_hex_text_trail_is_converted_on, a_hex_text_trail_is_converted_and_still_verifies);

/// MySQL cannot roll back an `ALTER`: a step 9 that stopped after its first `ALTER` and part of
/// its batched conversion (a lost connection, a killed deploy) is taken up by the next run,
/// with no row converted twice and none left.
#[tokio::test]
async fn an_interrupted_hex_conversion_on_mysql_is_taken_up_by_the_next_run() {
    let Some(t) = TestDb::new(integration_tests::Backend::MySql).await else { return };
    write_trail(&t, 2, 5, true).await;
    let chain = report_chain(&t).await;
    store_chain_as_hex_text(&t).await;
    // What an interrupted run leaves: the columns `VARBINARY`, the first 10 rows converted.
    for sql in [
        "ALTER TABLE audit_events MODIFY chain_id VARBINARY(36) NULL, MODIFY chain_prev VARBINARY(64) NULL, \
         MODIFY chain_hash VARBINARY(64) NULL, MODIFY chain_fields VARBINARY(40) NULL",
        "UPDATE audit_events SET chain_id = UNHEX(REPLACE(chain_id, '-', '')), chain_prev = UNHEX(chain_prev), \
         chain_hash = UNHEX(chain_hash), chain_fields = UNHEX(chain_fields) \
         WHERE LENGTH(chain_hash) = 64 ORDER BY id LIMIT 10",
    ] {
        t.db.execute_unprepared(sql).await.expect("interrupt step 9");
    }

    rerun_binary_chain_step(&t).await;
    let report = verify(&t).await;
    assert!(report.intact(), "{:?}", report.findings);
    assert_eq!((report.events, report.chains), (45, 1));
    assert_eq!(report_chain(&t).await, chain);
    let types =
        t.db.query_all_raw(sea_orm::Statement::from_string(
            t.db_backend(),
            "SELECT COLUMN_TYPE FROM information_schema.columns WHERE table_schema = DATABASE() \
             AND table_name = 'audit_events' AND column_name LIKE 'chain\\_%' AND column_name <> 'chain_seq' \
             ORDER BY column_name",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect::<Vec<_>>();
    assert_eq!(types, ["binary(20)", "binary(32)", "binary(16)", "binary(32)"], "chain_fields, _hash, _id, _prev");
    t.cleanup().await;
}

/// The configuration's `audit` section sets the chain and its checkpoints on every backend: a
/// signing key, a count between checkpoints, or no chain at all; the key never shows in `Debug`.
async fn the_audit_section_sets_the_chain_and_its_checkpoints(t: &TestDb) {
    use rail_graphql_security::config::standard::AuditSettings;
    use rail_graphql_security::config::{Profile, Secret, SecurityConfig};

    clear(t).await;
    let defaults = AuditSettings::defaults(&Profile::Development);
    let config = AuditSettings {
        checkpoint_signing_key: Some(Secret::new(SECRET)),
        checkpoint_every_events: 5,
        checkpoint_interval_secs: 3600,
        ..defaults.clone()
    };
    assert!(!format!("{config:?}").contains(SECRET), "the signing key is redacted");
    let logger = config.logger_builder(Some(t.db.clone())).unwrap().build();
    for n in 0..12 {
        logger.log(AuditEvent::new(AuditEventType::DataCreated).actor_name(format!("writer{n}")));
        logger.flush().await.unwrap();
    }
    logger.shutdown().await.unwrap();
    let report = verify(t).await;
    assert!(report.intact(), "{:?}", report.findings);
    assert!(report.notices.is_empty(), "every event under a checkpoint signed with the key: {:?}", report.notices);
    let checkpoints = checkpoint::Entity::find().order_by_asc(checkpoint::Column::ChainSeq).all(&t.db).await.unwrap();
    assert_eq!(checkpoints.iter().map(|c| c.chain_seq).collect::<Vec<_>>(), [5, 10, 12]);

    clear(t).await;
    let config = AuditSettings { hash_chain: false, ..defaults };
    let logger = config.logger_builder(Some(t.db.clone())).unwrap().build();
    logger.log(AuditEvent::new(AuditEventType::DataCreated));
    logger.shutdown().await.unwrap();
    let stored = rows(t).await;
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].chain_id.as_ref(), stored[0].chain_hash.as_ref()), (None, None), "no chain when it is off");
}
on_every_backend!(audit_section_chain_on, the_audit_section_sets_the_chain_and_its_checkpoints);

/// A chain id overwritten with three bytes (no 16-byte id, so no UUID) is a finding that names
/// the row, not a verification that fails to read its page; the retention purge still runs.
async fn a_damaged_chain_id_is_reported_not_fatal(t: &TestDb) {
    let logger = write_trail(t, 2, 0, false).await.expect("the logger");
    let damaged = row(t, 5).await;
    let mut active = damaged.clone().into_active_model();
    active.chain_id = Set(Some(vec![1, 2, 3]));
    active.update(&t.db).await.unwrap();
    let report = verify(t).await;
    assert!(!report.intact());
    assert!(
        report.findings.iter().any(|f| f.to_string().contains(&damaged.id)),
        "the damaged row is named: {:?}",
        report.findings
    );
    // Purging everything older than tomorrow removes the readable chain and leaves the damaged
    // row for the verifier to keep reporting.
    let purged = logger.purge_before(chrono::Utc::now() + chrono::Duration::days(1)).await.expect("purge");
    assert!(purged >= 39, "{purged}");
    logger.shutdown().await.unwrap();
}
on_every_backend!(a_damaged_chain_id_is_reported_on, a_damaged_chain_id_is_reported_not_fatal);

/// Found by an attack on `audit verify`: a value edited outside the plugin that does not read
/// back as its column's type (text in a date column on SQLite, a zero date on MariaDB) made
/// the page read fail, so `verify` stopped with a read error (exit 2) and checked nothing
/// after it. Now the row is a finding that names it and the column, its place in the chain a
/// gap, and every other row is still checked. PostgreSQL's types refuse such values when they
/// are written, so there is nothing to read back wrong there.
async fn an_unreadable_value_is_named_and_the_walk_goes_on(t: &TestDb) {
    use integration_tests::Backend;
    let zero_date = match t.backend {
        Backend::Sqlite => "'yesterday'",
        Backend::MySql => "'0000-00-00 00:00:00'",
        Backend::Postgres => return,
    };
    write_trail(t, 3, 0, true).await;
    let chain = uuid::Uuid::from_slice(row(t, 1).await.chain_id.as_deref().unwrap()).unwrap();
    let id = row(t, 7).await.id;
    // One connection of the pool for both statements (a transaction holds one).
    let txn = sea_orm::TransactionTrait::begin(&t.db).await.unwrap();
    if t.backend == Backend::MySql {
        // Zero dates may be refused by the session's mode; an attacker's session sets its own.
        txn.execute_unprepared("SET SESSION sql_mode = ''").await.unwrap();
    }
    let sql = format!("UPDATE audit_events SET timestamp = {zero_date} WHERE id = '{id}'");
    txn.execute_unprepared(&sql).await.unwrap();
    txn.commit().await.unwrap();

    let report = verify(t).await;
    let unreadable = |f: &Finding| matches!(f, Finding::Invalid { at, reason } if at == &format!("event {id}") && reason.contains("does not read back") && reason.contains("timestamp"));
    assert_eq!(report.findings.iter().filter(|f| unreadable(f)).count(), 1, "{:?}", report.findings);
    assert!(report.findings.contains(&Finding::Deleted { chain, first_seq: 7, last_seq: 7 }), "{:?}", report.findings);
    assert_eq!(report.findings.len(), 2, "nothing else is wrong: {:?}", report.findings);
    assert_eq!(report.events, 59, "every other row is checked");
    // The export names the row instead of failing with a read error.
    let error =
        rail_graphql_security::audit::verify::export(&t.db, &mut std::io::sink(), None, None).await.unwrap_err();
    assert!(error.to_string().contains(&format!("event {id} cannot be exported")), "{error}");
}
on_every_backend!(an_unreadable_value_is_named_on, an_unreadable_value_is_named_and_the_walk_goes_on);

/// A row whose sequence number does not read back (text in an integer column, on SQLite) at the
/// end of a full page: the next page starts after the last row whose key reads, and the row is
/// named once, not once per page.
#[tokio::test]
async fn an_unreadable_order_column_at_a_page_end_is_named_once() {
    let t = TestDb::new(integration_tests::Backend::Sqlite).await.expect("SQLite always runs");
    clear(&t).await;
    let logger = signing_logger(&t, 1_000);
    for n in 0..5_000 {
        logger.log(AuditEvent::new(AuditEventType::LoginSuccess).details(json!({ "n": n })));
    }
    logger.shutdown().await.expect("shutdown");
    let id = row(&t, 10).await.id;
    // Text sorts after every integer: the row is now the 5,000th in the chain's order.
    t.db.execute_unprepared(&format!("UPDATE audit_events SET chain_seq = 'ten' WHERE id = '{id}'")).await.unwrap();

    let report = verify(&t).await;
    let named: Vec<_> = report
        .findings
        .iter()
        .filter(|f| matches!(f, Finding::Invalid { at, .. } if at == &format!("event {id}")))
        .collect();
    assert_eq!(named.len(), 1, "{:?}", report.findings);
    assert!(matches!(named[0], Finding::Invalid { reason, .. } if reason.contains("chain_seq")), "{named:?}");
    assert_eq!(report.events, 4_999, "every other row is checked once");
    t.cleanup().await;
}
