//! A local copy of the unexpired revocations, kept in step with the durable `revoked_tokens`
//! table, so a token check costs a map lookup instead of a round trip to the store.
//!
//! How a revocation reaches every instance:
//! - **Here, at once**: [`revoke`](super::RevocationStore::revoke) writes the durable record,
//!   then the local set, before it returns.
//! - **Elsewhere, pushed**: the revoking instance then publishes a hint (Redis pub/sub or
//!   PostgreSQL `NOTIFY`); a hint only wakes the other instances' sync, which reads the rows
//!   from the database. A hint is never trusted as a revocation by itself, so a message
//!   published by anyone else costs one extra read and changes nothing.
//! - **Elsewhere, polled**: every [`POLL_INTERVAL`] each instance reads the rows whose
//!   `revoked_at` is later than its previous read minus [`REVOCATION_CLOCK_MARGIN`] (a
//!   "log out everywhere" repeated moves an existing row's `revoked_at` later, so it is read
//!   again). The previous read's time is the database's clock, not this machine's, and the
//!   margin covers the time an insert takes to commit and how far a writer's clock may be off.
//!
//! The clocks: every sync also reads the database's clock, and a poll looks back from it, not
//! from this machine's. When this machine's clock is more than [`MAX_CLOCK_OFFSET`] off it, the
//! store goes by the database's clock (as measured at the last sync, never going backwards) for
//! everything it stamps: revocation times, "log out everywhere" cut-offs, and the issue and
//! second-factor times of the tokens [`TokenService`](crate::auth::TokenService) signs
//! ([`RevocationStore::now`]), and says so in a warning. Within the offset it keeps the
//! machine's clock: a time service keeps machines far closer together than a reading over the
//! network can. So a drifted clock neither hides this instance's revocations from the others'
//! polls, nor its tokens from another instance's "log out everywhere". Found by attacks: an
//! instance 90 s ahead never read the revocations of the others (its look-back started after
//! them), and the tokens signed on a clock ahead, by 90 s or by 10 s, outlived a "log out
//! everywhere" made elsewhere.
//!
//! The bound: a check answers from the local set only while the last successful sync started
//! less than [`REVOCATION_SYNC_BOUND`] ago. Otherwise (at start before the first load, or when
//! the database has not answered the sync for that long) it reads the store itself, and fails
//! with the store's error when the store is down: a stale set is never trusted. So a
//! revocation committed anywhere is refused on every instance within the bound, push or no push.
//! Entries are dropped once they expire, so memory holds only revocations that still matter.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{RevocationEntry, RevocationStore, TokenError, entity, lock};

/// The longest time a revocation made on one instance can go unnoticed by another (push
/// channel down included): past it, checks read the store instead of the local set.
pub const REVOCATION_SYNC_BOUND: Duration = Duration::from_secs(1);

/// How often each instance reads new revocations from the database, push or no push.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How far before its previous read each poll looks again: the commit time of a revocation
/// (at most 30 s: a slower one is stamped again) and how far its writer's clock was off the
/// database's (at most [`MAX_CLOCK_OFFSET`], else it goes by the database's) must stay within it.
pub const REVOCATION_CLOCK_MARGIN: Duration = Duration::from_secs(60);

/// How far this machine's clock may be off the database's before a synced store goes by the
/// database's clock instead (and logs a warning: the machine's time service is not working).
pub const MAX_CLOCK_OFFSET: Duration = Duration::from_secs(1);

/// A clock reading whose round trip took longer than this is too vague to correct the clock by
/// (its error is up to half the trip); the correction stays as the last good reading set it.
const CLOCK_READING_MAX_TRIP: Duration = Duration::from_millis(250);

/// A revocation whose write took longer than this is stamped again (half the margin, so the
/// record is visible well within the other instances' look-back).
const RESTAMP_AFTER: Duration = Duration::from_secs(30);

/// How many times a slow revocation is stamped again before `revoke` fails.
const RESTAMP_TRIES: usize = 3;

/// How often expired entries are dropped from the local set.
const LOCAL_PURGE_EVERY: Duration = Duration::from_secs(60);

/// How long a lost push subscription waits before it connects again.
#[cfg(any(feature = "redis", feature = "sqlx-postgres"))]
const PUSH_RETRY: Duration = Duration::from_millis(500);

/// How revocations made on other instances are pushed to this one. Polling runs whatever the
/// choice, so the bound holds while the push channel is down.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationPush {
    /// Polling only (SQLite, MySQL/MariaDB).
    Poll,
    /// Redis pub/sub: hints published and received on `channel` of the Redis at `url`.
    #[cfg(feature = "redis")]
    Redis {
        /// The Redis URL.
        url: String,
        /// The channel name.
        channel: String,
    },
    /// PostgreSQL `LISTEN`/`NOTIFY` on `channel`, through the store's own database.
    #[cfg(feature = "sqlx-postgres")]
    Postgres {
        /// The channel name.
        channel: String,
    },
}

/// The local set of a [`RevocationStore::synced`] store. Cheap to clone; its background tasks
/// (poll, push subscription) stop when the last clone is dropped.
#[derive(Clone)]
pub struct SyncedRevocations {
    shared: Arc<Shared>,
}

struct Shared {
    durable: RevocationStore,
    db: DatabaseConnection,
    local: RwLock<HashMap<String, RevocationEntry>>,
    /// When the set stops being trusted: nanoseconds after `epoch`.
    fresh_until: AtomicU64,
    epoch: Instant,
    sync: tokio::sync::Mutex<SyncState>,
    wake: Arc<Notify>,
    publisher: Publisher,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// How far this machine's clock is set off (a testing aid: [`RevocationStore::synced_off_clock`]).
    test_offset: chrono::Duration,
    /// What [`Shared::now`] adds to this machine's clock (milliseconds): 0 while it is within
    /// [`MAX_CLOCK_OFFSET`] of the database's, their difference otherwise, as the last good
    /// reading found it.
    correction_ms: AtomicI64,
    /// The latest time [`Shared::now`] returned (milliseconds): it never goes backwards.
    last_now_ms: AtomicI64,
}

#[derive(Default)]
struct SyncState {
    /// The database's clock when the last successful read started; `None` before the first load.
    watermark: Option<DateTime<Utc>>,
    purged: Option<Instant>,
    /// Whether a clock reading was taken into account yet.
    clock_read: bool,
    /// Whether the last one found the clocks more than [`MAX_CLOCK_OFFSET`] apart (warned
    /// once per change).
    clock_off: bool,
}

enum Publisher {
    None,
    #[cfg(feature = "redis")]
    Redis {
        connection: redis::aio::ConnectionManager,
        channel: String,
    },
    #[cfg(feature = "sqlx-postgres")]
    Postgres {
        channel: String,
    },
}

impl Drop for Shared {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

impl fmt::Debug for SyncedRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncedRevocations")
            .field("durable", &self.shared.durable)
            .field("entries", &self.len())
            .field("fresh", &self.is_fresh())
            .finish_non_exhaustive()
    }
}

impl SyncedRevocations {
    /// Loads every unexpired revocation of `durable`'s database, then starts the poll and the
    /// push subscription. Fails when the first load fails: no instance answers before it has
    /// the revocations.
    pub(super) async fn start(
        durable: RevocationStore,
        push: RevocationPush,
        test_offset: chrono::Duration,
    ) -> Result<Self, TokenError> {
        let db = match &durable {
            RevocationStore::Database(db) => db.clone(),
            #[cfg(feature = "redis")]
            RevocationStore::RedisCached(cached) => cached.db().clone(),
            _ => return Err(TokenError::NoDurableRecord),
        };
        let publisher = match &push {
            RevocationPush::Poll => Publisher::None,
            #[cfg(feature = "redis")]
            RevocationPush::Redis { url, channel } => {
                Publisher::Redis { connection: crate::rate_limit::redis::connect(url).await?, channel: channel.clone() }
            }
            #[cfg(feature = "sqlx-postgres")]
            RevocationPush::Postgres { channel } => {
                if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
                    return Err(TokenError::NoDurableRecord);
                }
                Publisher::Postgres { channel: channel.clone() }
            }
        };
        let shared = Arc::new(Shared {
            durable,
            db,
            local: RwLock::default(),
            fresh_until: AtomicU64::new(0),
            epoch: Instant::now(),
            sync: tokio::sync::Mutex::default(),
            wake: Arc::default(),
            publisher,
            tasks: Mutex::default(),
            test_offset,
            correction_ms: AtomicI64::new(0),
            last_now_ms: AtomicI64::new(i64::MIN),
        });
        shared.sync_once().await?;
        let poll_task = tokio::spawn(poll(Arc::downgrade(&shared), shared.wake.clone()));
        let push_task = match push {
            RevocationPush::Poll => None,
            #[cfg(feature = "redis")]
            RevocationPush::Redis { url, channel } => {
                let client = redis::Client::open(url.as_str())?;
                Some(tokio::spawn(listen_redis(client, channel, Arc::downgrade(&shared))))
            }
            #[cfg(feature = "sqlx-postgres")]
            RevocationPush::Postgres { channel } => {
                let pool = shared.db.get_postgres_connection_pool().clone();
                Some(tokio::spawn(listen_postgres(pool, channel, Arc::downgrade(&shared))))
            }
        };
        lock(&shared.tasks).extend([Some(poll_task), push_task].into_iter().flatten());
        Ok(Self { shared })
    }

    /// The store holding the durable record.
    pub fn durable(&self) -> &RevocationStore {
        &self.shared.durable
    }

    /// How many revocations the local set holds.
    pub fn len(&self) -> usize {
        read(&self.shared.local).len()
    }

    /// Whether the local set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether checks answer from the local set (its last sync started less than
    /// [`REVOCATION_SYNC_BOUND`] ago) rather than from the store.
    pub fn is_fresh(&self) -> bool {
        self.shared.is_fresh()
    }

    /// Reads the revocations made since the last read now, as a poll or a push would.
    pub async fn sync_now(&self) -> Result<(), TokenError> {
        self.shared.sync_once().await
    }

    /// How far the clock this store goes by ([`RevocationStore::now`]) is set from this
    /// machine's: zero while this machine's clock is within [`MAX_CLOCK_OFFSET`] of the
    /// database's, as measured at the last sync.
    pub fn clock_correction(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.shared.correction_ms.load(Ordering::Acquire))
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        self.shared.now()
    }

    pub(super) async fn revoke(&self, id: &str, user_id: &str, expires_at: DateTime<Utc>) -> Result<bool, TokenError> {
        let started = Instant::now();
        let revoked_at = self.shared.now();
        let first = self.shared.durable.revoke_at(id, user_id, revoked_at, expires_at).await?;
        // A record stamped earlier (a slow commit, or an earlier attempt whose commit came
        // late) may be older than the other instances' look-back: stamp it again.
        if !first || started.elapsed() > RESTAMP_AFTER {
            self.restamp(id, user_id, expires_at).await?;
        }
        let entry = RevocationEntry { revoked_at_ms: revoked_at.timestamp_millis(), expires_at };
        write(&self.shared.local).entry(id.to_owned()).or_insert(entry);
        self.shared.publish().await;
        Ok(first)
    }

    /// Moves the record of `id` to now ([`RevocationStore::revoke_since`]: never earlier), again
    /// while that write itself takes longer than [`RESTAMP_AFTER`]: the other instances read
    /// records stamped within [`REVOCATION_CLOCK_MARGIN`] of their previous read, so one that
    /// became visible later than that would never reach them. Found by an attack that held the
    /// commit of a logout for 70 s: the token stayed valid on the other instance until it
    /// expired.
    async fn restamp(&self, id: &str, user_id: &str, expires_at: DateTime<Utc>) -> Result<(), TokenError> {
        for _ in 0..RESTAMP_TRIES {
            let started = Instant::now();
            self.shared.durable.revoke_since(id, user_id, self.shared.now(), expires_at).await?;
            if started.elapsed() <= RESTAMP_AFTER {
                return Ok(());
            }
        }
        Err(TokenError::SlowRevocation)
    }

    pub(super) async fn revoke_since(
        &self,
        id: &str,
        user_id: &str,
        revoked_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), TokenError> {
        let started = Instant::now();
        self.shared.durable.revoke_since(id, user_id, revoked_at, expires_at).await?;
        if started.elapsed() > RESTAMP_AFTER {
            // Later than asked: a "log out everywhere" then covers a little more, never less.
            self.restamp(id, user_id, expires_at).await?;
        }
        merge(
            &mut write(&self.shared.local),
            id,
            RevocationEntry { revoked_at_ms: revoked_at.timestamp_millis(), expires_at },
        );
        self.shared.publish().await;
        Ok(())
    }

    /// The answer of the local set, or `None` when it is stale: the caller then asks the
    /// durable store (an error if it is down), and the sync is woken.
    pub(super) fn local_revoked_at(&self, ids: &[&str]) -> Option<Vec<Option<i64>>> {
        if !self.shared.is_fresh() {
            self.shared.wake.notify_one();
            return None;
        }
        Some(self.known_revoked_at(ids))
    }

    /// What the local set knows, fresh or not. A stale set may miss revocations, but what it
    /// holds was revoked: it answers "revoked" still, whatever a store that lost data says.
    pub(super) fn known_revoked_at(&self, ids: &[&str]) -> Vec<Option<i64>> {
        let local = read(&self.shared.local);
        ids.iter().map(|id| local.get(*id).map(|e| e.revoked_at_ms)).collect()
    }

    pub(super) async fn purge_expired(&self) -> Result<u64, TokenError> {
        self.shared.purge_local();
        // Expired by both clocks: a machine whose clock runs ahead deletes nothing early.
        let now = self.shared.now().min(self.shared.local_now());
        self.shared.durable.purge_expired_before(now).await
    }
}

impl Shared {
    /// This machine's clock (set off by the testing aid).
    fn local_now(&self) -> DateTime<Utc> {
        Utc::now() + self.test_offset
    }

    /// The clock this instance stamps by, to the millisecond: this machine's, corrected to the
    /// database's when it is off by more than [`MAX_CLOCK_OFFSET`], never going backwards.
    fn now(&self) -> DateTime<Utc> {
        let local = self.local_now();
        let ms = local.timestamp_millis().saturating_add(self.correction_ms.load(Ordering::Acquire));
        let ms = ms.max(self.last_now_ms.fetch_max(ms, Ordering::AcqRel));
        DateTime::from_timestamp_millis(ms).unwrap_or_else(|| local.trunc_subsecs(3))
    }

    /// Reads the database's clock and sets this instance's correction from it. Returns the
    /// database's time.
    async fn read_clock(&self, state: &mut SyncState) -> Result<DateTime<Utc>, TokenError> {
        let before = self.local_now();
        let started = Instant::now();
        let database = crate::db_clock::now(&self.db).await?;
        let trip = started.elapsed();
        // The first reading counts whatever its trip: no correction at all would be worse.
        if trip > CLOCK_READING_MAX_TRIP && state.clock_read {
            return Ok(database);
        }
        state.clock_read = true;
        let local = before + chrono::Duration::from_std(trip / 2).unwrap_or_default();
        let offset = database - local;
        let max = chrono::Duration::from_std(MAX_CLOCK_OFFSET).unwrap_or(chrono::Duration::MAX);
        let off = offset.abs() > max;
        self.correction_ms.store(if off { offset.num_milliseconds() } else { 0 }, Ordering::Release);
        if off != state.clock_off {
            state.clock_off = off;
            if off {
                let offset_ms = offset.num_milliseconds();
                tracing::warn!(
                    offset_ms,
                    "this machine's clock is off the database's by more than {} s: revocations and tokens go by the database's clock until the machine's time service sets it right",
                    MAX_CLOCK_OFFSET.as_secs()
                );
            } else {
                tracing::info!("this machine's clock agrees with the database's again");
            }
        }
        Ok(database)
    }

    fn is_fresh(&self) -> bool {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        now < self.fresh_until.load(Ordering::Acquire)
    }

    /// Reads every revocation the local set may be missing: all unexpired ones at the first
    /// load, then those revoked (or moved later) since the previous read, minus the margin.
    async fn sync_once(&self) -> Result<(), TokenError> {
        let mut state = self.sync.lock().await;
        let started = Instant::now();
        let now = self.read_clock(&mut state).await?;
        // Expired by both clocks: what either still accepts stays.
        let expired_before = now.min(self.local_now());
        let mut query = entity::Entity::find().filter(entity::Column::ExpiresAt.gt(expired_before));
        if let Some(watermark) = state.watermark {
            let margin = chrono::Duration::from_std(REVOCATION_CLOCK_MARGIN).unwrap_or(chrono::Duration::MAX);
            query = query.filter(entity::Column::RevokedAt.gt(watermark - margin));
        }
        let rows = query.all(&self.db).await?;
        {
            let mut local = write(&self.local);
            for row in rows {
                let entry =
                    RevocationEntry { revoked_at_ms: row.revoked_at.timestamp_millis(), expires_at: row.expires_at };
                merge(&mut local, &row.jti, entry);
            }
        }
        state.watermark = Some(now);
        let fresh_until = (started + REVOCATION_SYNC_BOUND).duration_since(self.epoch);
        self.fresh_until.fetch_max(u64::try_from(fresh_until.as_nanos()).unwrap_or(u64::MAX), Ordering::AcqRel);
        if state.purged.is_none_or(|at| at.elapsed() >= LOCAL_PURGE_EVERY) {
            state.purged = Some(Instant::now());
            self.purge_local();
        }
        Ok(())
    }

    fn purge_local(&self) {
        // Expired by both clocks.
        let now = self.now().min(self.local_now());
        write(&self.local).retain(|_, entry| entry.expires_at > now);
    }

    /// Tells the other instances to sync now. A failure only delays them to their next poll.
    async fn publish(&self) {
        let result: Result<(), TokenError> = match &self.publisher {
            Publisher::None => Ok(()),
            #[cfg(feature = "redis")]
            Publisher::Redis { connection, channel } => {
                let mut connection = connection.clone();
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg("sync")
                    .query_async::<i64>(&mut connection)
                    .await
                    .map(drop)
                    .map_err(Into::into)
            }
            #[cfg(feature = "sqlx-postgres")]
            Publisher::Postgres { channel } => {
                use sea_orm::{ConnectionTrait, Statement};
                let notify = Statement::from_sql_and_values(
                    sea_orm::DatabaseBackend::Postgres,
                    "SELECT pg_notify($1, 'sync')",
                    [channel.clone().into()],
                );
                self.db.execute_raw(notify).await.map(drop).map_err(Into::into)
            }
        };
        if let Err(error) = result {
            tracing::warn!(%error, "revocation push failed; other instances see it at their next poll");
        }
    }
}

/// Keeps the later revocation time and the later expiry of two records of one id.
fn merge(local: &mut HashMap<String, RevocationEntry>, id: &str, entry: RevocationEntry) {
    match local.get_mut(id) {
        Some(known) => {
            known.revoked_at_ms = known.revoked_at_ms.max(entry.revoked_at_ms);
            known.expires_at = known.expires_at.max(entry.expires_at);
        }
        None => {
            local.insert(id.to_owned(), entry);
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

/// Syncs every [`POLL_INTERVAL`], or at once when a push (or a stale check) wakes it.
async fn poll(shared: Weak<Shared>, wake: Arc<Notify>) {
    let mut failing = false;
    loop {
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        let Some(shared) = shared.upgrade() else { return };
        match shared.sync_once().await {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("revocation sync recovered");
            }
            Ok(()) => {}
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "revocation sync failed; checks read the store until it recovers");
            }
            Err(_) => {}
        }
    }
}

#[cfg(feature = "redis")]
async fn listen_redis(client: redis::Client, channel: String, shared: Weak<Shared>) {
    use futures::StreamExt;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    // Whatever was published while unsubscribed: read it now.
                    let Some(wake) = shared.upgrade().map(|s| s.wake.clone()) else { return };
                    wake.notify_one();
                    let mut messages = pubsub.on_message();
                    while messages.next().await.is_some() {
                        wake.notify_one();
                    }
                    tracing::warn!("revocation push subscription (Redis) lost; polling until it is back");
                }
                Err(error) => tracing::warn!(%error, "revocation push subscription (Redis) failed; polling"),
            },
            Err(error) => tracing::warn!(%error, "revocation push subscription (Redis) failed; polling"),
        }
        if shared.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(PUSH_RETRY).await;
    }
}

#[cfg(feature = "sqlx-postgres")]
async fn listen_postgres(pool: sea_orm::sqlx::PgPool, channel: String, shared: Weak<Shared>) {
    use sea_orm::sqlx::postgres::PgListener;
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(&channel).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        match listener.await {
            Ok(mut listener) => {
                let Some(wake) = shared.upgrade().map(|s| s.wake.clone()) else { return };
                wake.notify_one();
                loop {
                    match listener.try_recv().await {
                        // `None`: the connection was lost (notifications may be missed) and
                        // is made again at the next call: read the table now.
                        Ok(_) => wake.notify_one(),
                        Err(error) => {
                            tracing::warn!(%error, "revocation push subscription (PostgreSQL) lost; polling");
                            break;
                        }
                    }
                    if shared.strong_count() == 0 {
                        return;
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "revocation push subscription (PostgreSQL) failed; polling"),
        }
        if shared.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(PUSH_RETRY).await;
    }
}
