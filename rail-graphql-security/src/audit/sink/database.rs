use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
#[cfg(any(feature = "sqlx-sqlite", feature = "sqlx-postgres", feature = "sqlx-mysql"))]
use sea_orm::{RuntimeErr, sqlx};

use self::rows::RowWriter;
use super::{AuditSink, SinkError};
use crate::audit::chain::ChainHash;
use crate::audit::checkpoint::{self, Checkpoint, CheckpointPolicy, MAX_WITNESSES, Witness};
use crate::audit::event::AuditEvent;
use crate::audit::verify::CheckpointLine;
use crate::audit::{entity, rollup};

mod rows;

/// The most events in one transaction (see [`AuditSink::max_write`]).
const MAX_WRITE: usize = 10_000;
/// Ids per `SELECT … WHERE id IN (…)` when some ids of a batch are already stored.
const IDS_PER_LOOKUP: usize = 1000;
/// Rounds of "look up stored ids, insert the rest" before a batch is handed back for a retry:
/// another round is needed only when another writer stores the same ids meanwhile.
const LOOKUP_ROUNDS: usize = 3;
/// How far back a sink's first look for checkpoints to witness goes: a restarted instance
/// witnesses the chain it replaces.
const FIRST_WITNESS_WINDOW: chrono::Duration = chrono::Duration::days(1);
/// How far before its previous look a sink looks again: transactions that committed after
/// their checkpoint's id was taken. (Checkpoint ids and looks go by the database server's
/// clock, [`DatabaseSink::clock`], so the instances' own clocks do not enter.)
const WITNESS_MARGIN: chrono::Duration = chrono::Duration::seconds(60);
/// The most checkpoint rows one look reads (it runs in the batch's transaction): a backlog is
/// read over the next looks.
const WITNESS_READ_LIMIT: u64 = 2_000;

/// Writes events into the `audit_events` table, each batch in one transaction with the
/// backend's bulk insert (PostgreSQL `UNNEST` arrays, multi-row `INSERT`s elsewhere).
///
/// The table comes from the `rail-graphql-security-migration` crate. Ids that are already
/// stored are skipped, so a batch retried after an ambiguous failure (committed, but the
/// acknowledgement was lost) is not duplicated. Each batch is one transaction that also adds the
/// newly stored events to the hourly rollup the reports read ([`crate::audit::rollup`]) and,
/// when one is due, a [checkpoint](crate::audit::checkpoint) of each hash chain in the batch.
#[derive(Debug, Clone)]
pub struct DatabaseSink {
    db: DatabaseConnection,
    rows: RowWriter,
    checkpoints: CheckpointPolicy,
    chains: Arc<Mutex<HashMap<uuid::Uuid, ChainState>>>,
    witnesses: Arc<Mutex<WitnessState>>,
    /// How far this machine's clock is set off (a testing aid: [`Self::clock_offset`]).
    clock_offset: chrono::Duration,
    /// Committed checkpoints the anchor file did not take yet; its lock also serialises the
    /// appends.
    unanchored: Arc<Mutex<Vec<Checkpoint>>>,
}

/// What the sink witnessed of other chains (see [`crate::audit::checkpoint`]).
#[derive(Debug)]
struct WitnessState {
    /// Where the next look starts: the smallest checkpoint id it reads (`None`: the first
    /// look, which goes [`FIRST_WITNESS_WINDOW`] back).
    from: Option<String>,
    /// The newest sequence number witnessed of each other chain.
    seen: HashMap<uuid::Uuid, u64>,
}

/// One look's result, recorded once the checkpoints carrying it are committed.
#[derive(Debug)]
struct Look {
    witnessed: Vec<Witness>,
    /// Where the next look starts (where this one did when more were due than one checkpoint
    /// holds).
    next_from: String,
    /// When it looked ([`DatabaseSink::clock`]): the time of its checkpoints' ids.
    at: chrono::DateTime<chrono::Utc>,
}

/// What the sink knows of a chain whose events it stored.
#[derive(Debug, Clone, Copy)]
struct ChainState {
    /// The last stored event.
    head: (u64, ChainHash),
    /// The last checkpoint's sequence number (0: none yet).
    checkpoint_seq: u64,
    /// When the last checkpoint was written, or the chain first seen.
    checkpoint_at: Instant,
}

impl DatabaseSink {
    /// A sink writing through `db` (SQLite, PostgreSQL or MySQL/MariaDB), with unsigned
    /// checkpoints every 10,000 events or 5 minutes (see [`Self::checkpoints`]).
    pub fn new(db: DatabaseConnection) -> Self {
        let rows = RowWriter::new(db.get_database_backend());
        let witnesses = WitnessState { from: None, seen: HashMap::new() };
        Self {
            db,
            rows,
            checkpoints: CheckpointPolicy::default(),
            chains: Arc::default(),
            witnesses: Arc::new(Mutex::new(witnesses)),
            clock_offset: chrono::Duration::zero(),
            unanchored: Arc::default(),
        }
    }

    /// Appends the committed `checkpoints` to the policy's anchor file, after those an earlier
    /// append could not write. A failure is logged and those checkpoints wait for the next
    /// append: the database holds them either way, and the batch is not held up.
    async fn anchor(&self, checkpoints: &[Checkpoint]) {
        let Some(path) = self.checkpoints.anchor_path.clone() else { return };
        if checkpoints.is_empty() {
            return;
        }
        let (unanchored, new) = (self.unanchored.clone(), checkpoints.to_vec());
        let appended = tokio::task::spawn_blocking(move || {
            let mut unanchored = unanchored.lock().unwrap_or_else(|p| p.into_inner());
            unanchored.extend(new);
            let mut lines = Vec::new();
            for checkpoint in unanchored.iter() {
                serde_json::to_writer(&mut lines, &CheckpointLine { checkpoint })
                    .map_err(|e| format!("cannot encode a checkpoint: {e}"))?;
                lines.push(b'\n');
            }
            crate::audit::dead_letter::append(&path, &lines)
                .map_err(|e| format!("cannot append to {}: {e}", path.display()))?;
            let count = unanchored.len();
            unanchored.clear();
            Ok::<usize, String>(count)
        })
        .await;
        match appended {
            Ok(Ok(count)) => tracing::debug!(count, "audit checkpoints appended to the anchor file"),
            Ok(Err(e)) => tracing::error!(
                error = %e,
                "audit checkpoints were not copied to the anchor file; they are in the database, and the next checkpoint retries"
            ),
            Err(e) => tracing::error!(error = %e, "the audit anchor task failed"),
        }
    }

    /// Testing aid: runs this sink as if this machine's clock were `offset` off (a server
    /// whose clock drifted). It moves what the sink takes from the local clock: nothing on
    /// PostgreSQL and MySQL/MariaDB, where checkpoint ids and witness looks go by the database
    /// server's clock.
    #[doc(hidden)]
    pub fn clock_offset(mut self, offset: chrono::Duration) -> Self {
        self.clock_offset = offset;
        self
    }

    /// The time checkpoint ids and witness looks go by, read in `txn`: the database server's
    /// clock on PostgreSQL (the transaction's start) and MySQL/MariaDB, one clock for every
    /// instance writing there, so a drifted instance clock cannot hide its checkpoints from
    /// the others' looks; this machine's clock on SQLite, whose writers share one machine.
    async fn clock(&self, txn: &DatabaseTransaction) -> Result<chrono::DateTime<chrono::Utc>, DbErr> {
        match txn.get_database_backend() {
            DatabaseBackend::Postgres | DatabaseBackend::MySql => crate::db_clock::now(txn).await,
            _ => Ok(chrono::Utc::now() + self.clock_offset),
        }
    }

    /// When checkpoints of the hash chains are written and with which key (the logger's
    /// [`checkpoints`](crate::audit::AuditLoggerBuilder::checkpoints) sets it for the sinks of
    /// [`database`](crate::audit::AuditLoggerBuilder::database)).
    pub fn checkpoints(mut self, policy: CheckpointPolicy) -> Self {
        self.checkpoints = policy;
        self
    }

    /// The checkpoints due after `batch` (in order, every event before it in each chain stored
    /// or dead-lettered), unsigned: one per chain whose head passed the policy's count or
    /// interval; with no batch, of every chain stored (by time, or all unsigned heads
    /// `at_shutdown`).
    fn due_checkpoints(&self, batch: &[&AuditEvent], at_shutdown: bool) -> Vec<Checkpoint> {
        let Ok(chains) = self.chains.lock() else { return Vec::new() };
        let mut heads: HashMap<uuid::Uuid, (u64, ChainHash)> = HashMap::new();
        for link in batch.iter().filter_map(|e| e.chain) {
            let head = heads.entry(link.chain).or_insert((link.seq, link.hash));
            if link.seq > head.0 {
                *head = (link.seq, link.hash);
            }
        }
        if batch.is_empty() {
            // Idle or shutting down: every stored head is a candidate.
            heads.extend(chains.iter().map(|(chain, state)| (*chain, state.head)));
        }
        let mut due = Vec::new();
        for (chain, (seq, hash)) in heads {
            let state = chains.get(&chain);
            let previous = state.map_or(0, |s| s.checkpoint_seq);
            let counted = seq >= previous + self.checkpoints.every_events.max(1);
            let timed = state.is_some_and(|s| s.checkpoint_at.elapsed() >= self.checkpoints.interval);
            if seq > previous && (at_shutdown || counted || timed) {
                due.push(Checkpoint::new(chain, seq, hash, previous));
            }
        }
        due
    }

    /// Records what a committed transaction stored: the chains' heads and their checkpoints.
    fn stored(&self, batch: &[&AuditEvent], checkpoints: &[Checkpoint]) {
        let Ok(mut chains) = self.chains.lock() else { return };
        let now = Instant::now();
        for link in batch.iter().filter_map(|e| e.chain) {
            let state = chains.entry(link.chain).or_insert(ChainState {
                head: (link.seq, link.hash),
                checkpoint_seq: 0,
                checkpoint_at: now,
            });
            if link.seq > state.head.0 {
                state.head = (link.seq, link.hash);
            }
        }
        for checkpoint in checkpoints {
            if let Some(state) = chains.get_mut(&checkpoint.chain) {
                state.checkpoint_seq = state.checkpoint_seq.max(checkpoint.seq);
                state.checkpoint_at = now;
            }
        }
    }

    /// Adds to `checkpoints` (none: nothing is read) the other chains' checkpoints not yet
    /// witnessed, read in `txn`, and signs them.
    async fn witness_and_sign(
        &self,
        txn: &DatabaseTransaction,
        checkpoints: &mut [Checkpoint],
    ) -> Result<Option<Look>, DbErr> {
        if checkpoints.is_empty() {
            return Ok(None);
        }
        let poisoned = || DbErr::Custom("audit witness state poisoned".to_owned());
        let at = self.clock(txn).await?;
        let from = self.witnesses.lock().map_err(|_| poisoned())?.from.clone();
        let from = from.unwrap_or_else(|| uuid_v7_floor(at - FIRST_WITNESS_WINDOW));
        let own: HashSet<uuid::Uuid> = match self.chains.lock() {
            Ok(chains) => chains.keys().copied().chain(checkpoints.iter().map(|c| c.chain)).collect(),
            Err(_) => return Err(DbErr::Custom("audit chain state poisoned".to_owned())),
        };
        let keys = self.checkpoints.verifying_keys();
        // The newest checkpoint of each other chain written since the last look.
        let rows = checkpoint::Entity::find()
            .filter(checkpoint::Column::Id.gte(from.as_str()))
            .order_by_asc(checkpoint::Column::Id)
            .limit(WITNESS_READ_LIMIT)
            .all(txn)
            .await?;
        let last_read = (rows.len() as u64 == WITNESS_READ_LIMIT).then(|| rows.last().map(|r| r.id.clone())).flatten();
        let mut newest: HashMap<uuid::Uuid, Checkpoint> = HashMap::new();
        let state = self.witnesses.lock().map_err(|_| poisoned())?;
        let seen = &state.seen;
        for model in rows {
            let Ok(found) = Checkpoint::try_from(model) else { continue };
            if own.contains(&found.chain) || seen.get(&found.chain).is_some_and(|seq| *seq >= found.seq) {
                continue;
            }
            if newest.get(&found.chain).is_none_or(|c| c.seq < found.seq) {
                newest.insert(found.chain, found);
            }
        }
        drop(state);
        let mut found: Vec<Checkpoint> = newest
            .into_values()
            // With a key, only what a trusted key signed: a row slipped into the table is not
            // vouched for.
            .filter(|c| keys.is_empty() || c.check_signature(&keys).is_ok())
            .collect();
        found.sort_by_key(|c| (c.created_at, c.chain));
        let next_from = if found.len() > MAX_WITNESSES {
            from
        } else {
            // A full read goes on after its last row; else from a margin before now.
            last_read.unwrap_or_else(|| uuid_v7_floor(at - WITNESS_MARGIN))
        };
        let witnessed: Vec<Witness> =
            found.iter().take(MAX_WITNESSES).map(|c| Witness { chain: c.chain, seq: c.seq, hash: c.hash }).collect();
        for checkpoint in checkpoints.iter_mut() {
            checkpoint.witnessed = witnessed.clone();
            self.checkpoints.sign(checkpoint);
        }
        Ok(Some(Look { witnessed, next_from, at }))
    }

    /// Records a committed look.
    fn looked(&self, look: Option<Look>) {
        let (Some(look), Ok(mut state)) = (look, self.witnesses.lock()) else { return };
        for w in &look.witnessed {
            let seq = state.seen.entry(w.chain).or_default();
            *seq = (*seq).max(w.seq);
        }
        if state.from.as_ref().is_none_or(|from| look.next_from > *from) {
            state.from = Some(look.next_from);
        }
    }

    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        // SQLite: take the write lock up front, so the transaction never has to upgrade a read
        // lock (which fails at once when another connection wrote meanwhile).
        let sqlite_transaction_mode = Some(SqliteTransactionMode::Immediate);
        self.db.begin_with_options(TransactionOptions { sqlite_transaction_mode, ..Default::default() }).await
    }

    /// Inserts `events`, skipping stored ids (SQLite, PostgreSQL), or refusing the statement on
    /// a duplicate key (MySQL/MariaDB, which then inserted nothing of it).
    async fn insert(&self, txn: &DatabaseTransaction, events: &[&AuditEvent]) -> Result<Inserted, DbErr> {
        let mut inserted = 0;
        let mut rest = events;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(self.rows.next_chunk(rest));
            match txn.execute_raw(self.rows.insert(chunk)?).await {
                Ok(result) => inserted += result.rows_affected(),
                Err(e) if is_duplicate_key(&e) => return Ok(Inserted::DuplicateKey(e)),
                Err(e) => return Err(e),
            }
            rest = tail;
        }
        Ok(Inserted::Rows(inserted))
    }

    /// Ends a batch's transaction once `new_events` (the events this transaction inserted, none
    /// of them stored before) are in; every event of `batch` is then stored.
    async fn commit(
        &self,
        txn: DatabaseTransaction,
        new_events: &[&AuditEvent],
        batch: &[&AuditEvent],
    ) -> Result<(), SinkError> {
        tracing::trace!(sink = "database", new_events = new_events.len(), "audit events inserted; committing");
        // In the same transaction: the events, their counts and the checkpoints of their chains
        // land together or not at all, and a retried batch adds only what it newly stored.
        if let Err(e) = rollup::add(&txn, new_events.iter().copied()).await {
            return Err(rolled_back(txn, e).await);
        }
        let mut checkpoints = self.due_checkpoints(batch, false);
        let look = match self.witness_and_sign(&txn, &mut checkpoints).await {
            Ok(look) => look,
            Err(e) => return Err(rolled_back(txn, e).await),
        };
        if let Err(e) = insert_checkpoints(&txn, &checkpoints, &look).await {
            return Err(rolled_back(txn, e).await);
        }
        txn.commit().await?;
        self.stored(batch, &checkpoints);
        self.looked(look);
        self.anchor(&checkpoints).await;
        Ok(())
    }

    /// Writes the events of `events` not stored yet: looks the ids up, then inserts the rest in
    /// the same transaction. Once in a batch, an id is written once.
    async fn write_unstored(&self, events: &[&AuditEvent]) -> Result<(), SinkError> {
        // The last round's duplicate-key refusal (MySQL/MariaDB), and the ids it was writing.
        let mut refused: Option<(DbErr, Vec<String>)> = None;
        for _ in 0..LOOKUP_ROUNDS {
            let txn = self.begin().await?;
            let stored = match stored_ids(&txn, events).await {
                Ok(stored) => stored,
                Err(e) => return Err(rolled_back(txn, e).await),
            };
            if let Some((error, tried)) = refused.take()
                && !tried.iter().any(|id| stored.contains(id))
            {
                // None of the ids it wrote is stored now, and InnoDB reports a duplicate only
                // once the other row committed: the duplicate was in another unique index (one
                // the application added), which refuses these rows for good.
                return Err(rolled_back(txn, error).await);
            }
            let mut seen = HashSet::with_capacity(events.len());
            let fresh: Vec<&AuditEvent> =
                events.iter().copied().filter(|e| seen.insert(e.id) && !stored.contains(&e.id.to_string())).collect();
            match self.insert(&txn, &fresh).await {
                Ok(Inserted::Rows(n)) if n == fresh.len() as u64 => return self.commit(txn, &fresh, events).await,
                // Another writer stored some of these ids since the lookup: look again.
                Ok(Inserted::Rows(_)) => txn.rollback().await?,
                Ok(Inserted::DuplicateKey(error)) => {
                    txn.rollback().await?;
                    refused = Some((error, fresh.iter().map(|e| e.id.to_string()).collect()));
                }
                Err(e) => return Err(rolled_back(txn, e).await),
            }
        }
        // Not a refusal of the data: the batch is retried later.
        Err(DbErr::Custom(format!(
            "audit batch not written: its ids were being stored by another writer in {LOOKUP_ROUNDS} rounds"
        ))
        .into())
    }
}

/// What [`DatabaseSink::insert`] did.
enum Inserted {
    /// Inserted this many rows.
    Rows(u64),
    /// MySQL/MariaDB refused a statement for a duplicate key and the transaction holds only the
    /// statements before it. A stored or repeated id, or a value another unique index holds:
    /// [`DatabaseSink::write_unstored`] tells which.
    DuplicateKey(DbErr),
}

/// The database sink's [`name`](AuditSink::name): the `sink` of its dead letters, the only ones
/// that stand in the chain (the other sinks' dead letters are copies of stored events).
pub(crate) const DATABASE_SINK_NAME: &str = "database";

#[async_trait]
impl AuditSink for DatabaseSink {
    fn name(&self) -> &str {
        DATABASE_SINK_NAME
    }

    /// A sink that has fallen behind writes up to 10,000 events in one transaction: the commit
    /// is most of a small batch's cost, and the bulk statements take that many rows.
    fn max_write(&self) -> Option<usize> {
        Some(MAX_WRITE)
    }

    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        if events.is_empty() {
            return Ok(());
        }
        let events: Vec<&AuditEvent> = events.iter().collect();
        let txn = self.begin().await?;
        match self.insert(&txn, &events).await {
            // The common case: every event is new.
            Ok(Inserted::Rows(n)) if n == events.len() as u64 => return self.commit(txn, &events, &events).await,
            // Some ids are stored (a retry after an ambiguous commit) or repeated in the batch:
            // start over knowing which.
            Ok(Inserted::Rows(_) | Inserted::DuplicateKey(_)) => txn.rollback().await?,
            Err(e) => return Err(rolled_back(txn, e).await),
        }
        self.write_unstored(&events).await
    }

    /// Writes the checkpoints due by time of chains no batch came for.
    async fn idle(&self) -> Result<(), SinkError> {
        self.write_checkpoints(false).await
    }

    /// Signs the head of every chain written since its last checkpoint.
    async fn shutdown(&self, _deadline: tokio::time::Instant) -> Result<(), SinkError> {
        self.write_checkpoints(true).await
    }
}

impl DatabaseSink {
    /// Writes, in a transaction of their own, the checkpoints due without a batch: by time, or
    /// every unsigned head `at_shutdown`.
    async fn write_checkpoints(&self, at_shutdown: bool) -> Result<(), SinkError> {
        let mut checkpoints = self.due_checkpoints(&[], at_shutdown);
        if checkpoints.is_empty() {
            return Ok(());
        }
        let txn = self.begin().await?;
        let look = match self.witness_and_sign(&txn, &mut checkpoints).await {
            Ok(look) => look,
            Err(e) => return Err(rolled_back(txn, e).await),
        };
        if let Err(e) = insert_checkpoints(&txn, &checkpoints, &look).await {
            return Err(rolled_back(txn, e).await);
        }
        txn.commit().await?;
        self.stored(&[], &checkpoints);
        self.looked(look);
        self.anchor(&checkpoints).await;
        Ok(())
    }
}

/// Inserts `checkpoints`, with ids of the time `look` was taken (a UUIDv7 of
/// [`DatabaseSink::clock`]), so other instances' looks, which read ids from a time on the same
/// clock, find them.
async fn insert_checkpoints(
    txn: &DatabaseTransaction,
    checkpoints: &[Checkpoint],
    look: &Option<Look>,
) -> Result<(), DbErr> {
    let Some(look) = look.as_ref().filter(|_| !checkpoints.is_empty()) else { return Ok(()) };
    let seconds = u64::try_from(look.at.timestamp()).unwrap_or(0);
    let at = uuid::Timestamp::from_unix_time(seconds, look.at.timestamp_subsec_nanos(), 0, 0);
    let rows = checkpoints.iter().map(|c| checkpoint::ActiveModel {
        id: sea_orm::ActiveValue::Set(uuid::Uuid::new_v7(at).to_string()),
        ..checkpoint::ActiveModel::from(c)
    });
    checkpoint::Entity::insert_many(rows).exec_without_returning(txn).await?;
    Ok(())
}

/// The smallest UUIDv7 text of the millisecond `at`: checkpoint ids (UUIDv7, hyphenated
/// lowercase) at or after `at` sort at or after it, so the primary key serves the look.
fn uuid_v7_floor(at: chrono::DateTime<chrono::Utc>) -> String {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    uuid::Uuid::from_bytes(bytes).hyphenated().to_string()
}

/// Rolls `txn` back after `error`, which is what the caller learns (the rollback's own failure
/// only means the connection is gone, which rolls back too).
async fn rolled_back(txn: DatabaseTransaction, error: DbErr) -> SinkError {
    if let Err(e) = txn.rollback().await {
        tracing::debug!(error = %e, "rolling back a failed audit batch failed");
    }
    error.into()
}

/// Which ids of `events` are already stored.
async fn stored_ids(txn: &DatabaseTransaction, events: &[&AuditEvent]) -> Result<HashSet<String>, DbErr> {
    let mut stored = HashSet::new();
    for chunk in events.chunks(IDS_PER_LOOKUP) {
        let ids: Vec<String> = chunk.iter().map(|e| e.id.to_string()).collect();
        let found: Vec<String> = entity::Entity::find()
            .select_only()
            .column(entity::Column::Id)
            .filter(entity::Column::Id.is_in(ids))
            .into_tuple()
            .all(txn)
            .await?;
        stored.extend(found);
    }
    Ok(stored)
}

/// MySQL/MariaDB `ER_DUP_ENTRY`: the plain `INSERT` met a key already stored (and inserted
/// nothing). The message names the index, but in the server's configured language.
fn is_duplicate_key(error: &DbErr) -> bool {
    #[cfg(feature = "sqlx-mysql")]
    if let DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) = error
        && let sqlx::Error::Database(db) = &**e
        && let Some(mysql) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
    {
        return mysql.number() == 1062;
    }
    let _ = error;
    false
}

/// Whether the database refused the data itself, so the same rows can never be written: see
/// [`SinkError::is_permanent`]. Unknown errors count as transient: retrying them is what the
/// logger did before it could tell, and an outage must never send good events to dead letters.
pub(super) fn is_permanent(error: &DbErr) -> bool {
    match error {
        #[cfg(any(feature = "sqlx-sqlite", feature = "sqlx-postgres", feature = "sqlx-mysql"))]
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => {
            match &**e {
                sqlx::Error::Database(db) => database_refused_the_data(&**db),
                // A value the driver cannot encode for the server.
                sqlx::Error::Encode(_) => true,
                _ => false,
            }
        }
        DbErr::Json(_) | DbErr::Type(_) | DbErr::TryIntoErr { .. } => true,
        _ => false,
    }
}

#[cfg(any(feature = "sqlx-sqlite", feature = "sqlx-postgres", feature = "sqlx-mysql"))]
fn database_refused_the_data(error: &dyn sqlx::error::DatabaseError) -> bool {
    let code = error.code();
    let code = code.as_deref().unwrap_or_default();
    #[cfg(feature = "sqlx-sqlite")]
    if error.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // Extended result code; the primary code is its low byte: TOOBIG, CONSTRAINT, MISMATCH, RANGE.
        let primary = code.parse::<i64>().map_or(0, |c| c & 0xff);
        return matches!(primary, 18 | 19 | 20 | 25);
    }
    #[cfg(feature = "sqlx-mysql")]
    if let Some(mysql) = error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        // Packet too large, invalid character string, result too large, incorrect string value,
        // illegal value, invalid JSON, CHECK constraint (MySQL 8; MariaDB, also for JSON_VALID).
        if matches!(mysql.number(), 1153 | 1300 | 1301 | 1366 | 1367 | 3140 | 3819 | 4025) {
            return true;
        }
    }
    // SQLSTATE classes: 22 data exception (encoding, too long, out of range), 23 integrity
    // constraint violation, 54 program limit exceeded (PostgreSQL: e.g. an index row too big).
    matches!(code.get(..2), Some("22" | "23" | "54"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_floor_sorts_between_earlier_and_later_checkpoint_ids() {
        let before = uuid::Uuid::now_v7().to_string();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let at = chrono::Utc::now();
        let floor = uuid_v7_floor(at);
        std::thread::sleep(std::time::Duration::from_millis(1));
        let after = uuid::Uuid::now_v7().to_string();
        assert!(before < floor && floor < after, "{before} < {floor} < {after}");
        let millis = at.timestamp_millis();
        assert_eq!(floor, format!("{:08x}-{:04x}-0000-0000-000000000000", millis >> 16, millis & 0xffff));
        assert_eq!(
            uuid_v7_floor(chrono::DateTime::UNIX_EPOCH - chrono::Duration::days(1)),
            uuid::Uuid::nil().to_string()
        );
    }
}
