//! Per-user throttling of failed second-factor attempts, kept in `mfa_throttle` so it holds
//! across application instances.
//!
//! Two counts: `failed_attempts` drives the back-off and the timed lockout (it drops back below
//! the threshold when a lockout starts, so one try is allowed once it ends);
//! `consecutive_failures` only grows until a success, so at `max_consecutive_failures` the code
//! factors (TOTP, SMS) stay locked (`hard_locked_at`) until a backup code or an administrator
//! resets it. Without it guessing went on for ever at one lockout window's worth a day.
//!
//! Each user has those counts twice ([`Bucket`]): once for attempts from the client addresses
//! the user passed the second factor from before (`known_sources`, see [`KnownSources`]), once
//! for every other attempt. Wrong codes sent by someone who has only the password, from an
//! address the user never passed from, lock that second set only: the user, back at an address
//! of theirs, still passes. Guessing therefore gets at most twice the limits in all, and the
//! second half only from one of the user's own addresses.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::config::ThrottleConfig;
use super::store::{MfaThrottle, MfaUserId, get};

/// The state after a recorded failure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failure {
    pub(crate) locked_until: Option<DateTime<Utc>>,
    pub(crate) locked_out: bool,
    /// This failure started the lock that lasts until a recovery.
    pub(crate) hard_locked: bool,
}

/// Why an attempt may not be made now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Backed off or locked out until then.
    Until(DateTime<Utc>),
    /// Too many consecutive failures: code factors wait for a recovery.
    UntilRecovery,
}

/// What is being tried: TOTP and SMS codes stop at the hard lock, backup codes (the recovery)
/// do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Factor {
    /// A TOTP or SMS code.
    Code,
    /// A backup code.
    Recovery,
}

/// Which of the user's two sets of counts an attempt is judged on and counts towards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bucket {
    /// From an address the user has not passed the second factor from (or from no known
    /// address at all).
    Other,
    /// From an address in the user's `known_sources`.
    Known,
}

/// The columns of one [`Bucket`].
#[derive(Debug, Clone, Copy)]
struct Columns {
    failed_attempts: MfaThrottle,
    locked_until: MfaThrottle,
    consecutive_failures: MfaThrottle,
    hard_locked_at: MfaThrottle,
}

impl Bucket {
    const fn columns(self) -> Columns {
        match self {
            Bucket::Other => Columns {
                failed_attempts: MfaThrottle::FailedAttempts,
                locked_until: MfaThrottle::LockedUntil,
                consecutive_failures: MfaThrottle::ConsecutiveFailures,
                hard_locked_at: MfaThrottle::HardLockedAt,
            },
            Bucket::Known => Columns {
                failed_attempts: MfaThrottle::KnownFailedAttempts,
                locked_until: MfaThrottle::KnownLockedUntil,
                consecutive_failures: MfaThrottle::KnownConsecutiveFailures,
                hard_locked_at: MfaThrottle::KnownHardLockedAt,
            },
        }
    }

    /// How the audit trail names a lock of this bucket.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Bucket::Other => "",
            Bucket::Known => " from an address the user passed from before",
        }
    }
}

/// The limits `reserve_attempt` and `record_failure` apply.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits<'a> {
    pub(crate) throttle: &'a ThrottleConfig,
    pub(crate) max_consecutive_failures: u32,
}

/// One bucket's counts and locks.
#[derive(Debug, Clone, Copy)]
struct Counts {
    failed_attempts: i32,
    locked_until: Option<DateTime<Utc>>,
    consecutive_failures: i32,
    hard_locked_at: Option<DateTime<Utc>>,
}

impl Counts {
    fn from_row(row: &QueryResult, columns: Columns) -> Result<Counts, DbErr> {
        Ok(Counts {
            failed_attempts: get(row, columns.failed_attempts)?,
            locked_until: get(row, columns.locked_until)?,
            consecutive_failures: get(row, columns.consecutive_failures)?,
            hard_locked_at: get(row, columns.hard_locked_at)?,
        })
    }

    fn is_clear(&self) -> bool {
        self.failed_attempts == 0
            && self.consecutive_failures == 0
            && self.locked_until.is_none()
            && self.hard_locked_at.is_none()
    }
}

/// A user's throttle row: the counts and locks an attempt is judged by.
#[derive(Debug, Clone)]
pub(crate) struct State {
    other: Counts,
    known: Counts,
    sources: KnownSources,
}

impl State {
    /// The columns [`State::from_row`] reads.
    pub(crate) const COLUMNS: [MfaThrottle; 9] = [
        MfaThrottle::FailedAttempts,
        MfaThrottle::LockedUntil,
        MfaThrottle::ConsecutiveFailures,
        MfaThrottle::HardLockedAt,
        MfaThrottle::KnownFailedAttempts,
        MfaThrottle::KnownLockedUntil,
        MfaThrottle::KnownConsecutiveFailures,
        MfaThrottle::KnownHardLockedAt,
        MfaThrottle::KnownSources,
    ];

    pub(crate) fn from_row(row: &QueryResult) -> Result<State, DbErr> {
        Ok(State {
            other: Counts::from_row(row, Bucket::Other.columns())?,
            known: Counts::from_row(row, Bucket::Known.columns())?,
            sources: KnownSources::parse(get::<Option<String>>(row, MfaThrottle::KnownSources)?.as_deref()),
        })
    }

    fn counts(&self, bucket: Bucket) -> &Counts {
        match bucket {
            Bucket::Other => &self.other,
            Bucket::Known => &self.known,
        }
    }

    /// The bucket an attempt from `ip` at `now` counts in.
    pub(crate) fn bucket(&self, ip: Option<IpAddr>, now: DateTime<Utc>) -> Bucket {
        if ip.is_some_and(|ip| self.sources.knows(ip, now)) { Bucket::Known } else { Bucket::Other }
    }

    /// Why an attempt of `factor` counted in `bucket` may not be made at `now`; `None` when it
    /// may: the same conditions as the reservation's `UPDATE`.
    pub(crate) fn refusal(
        &self,
        limits: Limits<'_>,
        bucket: Bucket,
        factor: Factor,
        now: DateTime<Utc>,
    ) -> Option<Refusal> {
        let counts = self.counts(bucket);
        let max_consecutive = i32::try_from(limits.max_consecutive_failures).unwrap_or(i32::MAX);
        if factor == Factor::Code && (counts.hard_locked_at.is_some() || counts.consecutive_failures >= max_consecutive)
        {
            return Some(Refusal::UntilRecovery);
        }
        let threshold = i32::try_from(limits.throttle.lockout_threshold).unwrap_or(i32::MAX);
        let blocked = counts.locked_until.filter(|u| *u > now);
        if counts.failed_attempts < threshold && blocked.is_none() {
            return None;
        }
        // Backed off, locked out, or at the threshold with the lockout about to be written by a
        // concurrent failure.
        let pending =
            now + chrono::Duration::from_std(limits.throttle.lockout_duration).unwrap_or(chrono::Duration::days(1));
        Some(Refusal::Until(blocked.unwrap_or(pending)))
    }

    /// What a success from `ip` at `now` writes: whether there are counts or locks to reset,
    /// and the new `known_sources` when they change.
    pub(crate) fn after_pass(&self, ip: Option<IpAddr>, now: DateTime<Utc>) -> Pass {
        Pass {
            reset: !(self.other.is_clear() && self.known.is_clear()),
            sources: ip.and_then(|ip| self.sources.after_pass(ip, now)),
        }
    }
}

/// What a success writes ([`State::after_pass`], [`pass`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Pass {
    reset: bool,
    sources: Option<String>,
}

impl Pass {
    /// What a success after a reservation ([`reserve_attempt`]) writes: the reserved count is
    /// reset in any case. `state`: the row as read before the reservation, if there was one.
    pub(crate) fn after_reservation(state: Option<&State>, ip: Option<IpAddr>, now: DateTime<Utc>) -> Pass {
        let sources = state.map_or_else(KnownSources::default, |state| state.sources.clone());
        Pass { reset: true, sources: ip.and_then(|ip| sources.after_pass(ip, now)) }
    }

    /// Whether the success writes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        !self.reset && self.sources.is_none()
    }
}

/// The addresses a user passed the second factor from, newest last: at most
/// [`KnownSources::MAX`], each forgotten [`KnownSources::TTL`] after its last pass. An IPv4
/// address counts as itself, an IPv6 address as its /64 (one network's privacy addresses).
/// Stored as `source@unix-seconds` entries separated by spaces; an entry that does not parse
/// is dropped, never an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KnownSources(Vec<(String, i64)>);

impl KnownSources {
    /// How many addresses are remembered.
    pub(crate) const MAX: usize = 8;
    /// How long an address stays known after its last pass.
    pub(crate) const TTL: chrono::Duration = chrono::Duration::days(90);
    /// A pass from a known address rewrites its time only when the last one is older than
    /// this, so that a success does not cost a write each time.
    const REFRESH: chrono::Duration = chrono::Duration::days(1);

    fn parse(text: Option<&str>) -> KnownSources {
        let entries = text
            .unwrap_or_default()
            .split_ascii_whitespace()
            .filter_map(|entry| {
                let (source, at) = entry.rsplit_once('@')?;
                (!source.is_empty()).then_some(())?;
                Some((source.to_owned(), at.parse::<i64>().ok()?))
            })
            .take(Self::MAX)
            .collect();
        KnownSources(entries)
    }

    /// The key `ip` is remembered under: the one the rate limits count it by.
    fn key(ip: IpAddr) -> String {
        crate::client_ip::rate_limit_key(ip)
    }

    fn knows(&self, ip: IpAddr, now: DateTime<Utc>) -> bool {
        let key = Self::key(ip);
        let oldest = (now - Self::TTL).timestamp();
        self.0.iter().any(|(source, at)| *source == key && *at > oldest)
    }

    /// The encoded list after a pass from `ip` at `now`; `None` when it stays as it is.
    fn after_pass(&self, ip: IpAddr, now: DateTime<Utc>) -> Option<String> {
        let key = Self::key(ip);
        let fresh = (now - Self::REFRESH).timestamp();
        if self.0.iter().any(|(source, at)| *source == key && *at > fresh) {
            return None;
        }
        let oldest = (now - Self::TTL).timestamp();
        let mut entries: Vec<(String, i64)> =
            self.0.iter().filter(|(source, at)| *source != key && *at > oldest).cloned().collect();
        entries.push((key, now.timestamp()));
        let skip = entries.len().saturating_sub(Self::MAX);
        let kept = &entries[skip..];
        Some(kept.iter().map(|(source, at)| format!("{source}@{at}")).collect::<Vec<_>>().join(" "))
    }
}

/// The `INSERT` of a user's first throttle row, with `failures` counted in `bucket` (both the
/// failures towards the lockout and the consecutive ones) and no lock.
fn new_row<Id: MfaUserId>(
    user: &Id,
    bucket: Bucket,
    failures: i32,
    now: DateTime<Utc>,
) -> sea_orm::sea_query::InsertStatement {
    let counted = bucket.columns();
    // Both buckets' counts are NOT NULL: the other one starts at 0.
    let other = match bucket {
        Bucket::Other => Bucket::Known,
        Bucket::Known => Bucket::Other,
    }
    .columns();
    let mut insert = Query::insert();
    insert
        .into_table(MfaThrottle::Table)
        .columns([
            MfaThrottle::UserId,
            counted.failed_attempts,
            counted.consecutive_failures,
            other.failed_attempts,
            other.consecutive_failures,
            MfaThrottle::UpdatedAt,
        ])
        .values_panic(
            [user.to_db_value(), failures.into(), failures.into(), 0i32.into(), 0i32.into(), now.into()].map(Expr::val),
        );
    insert
}

/// Creates the user's throttle row (no failure, no lock) unless it exists, so that a
/// verification can lock it. A concurrent insert of the same row is not an error.
pub(crate) async fn ensure_row<C: ConnectionTrait, Id: MfaUserId>(
    db: &C,
    user: &Id,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut insert = new_row(user, Bucket::Other, 0, now);
    insert.on_conflict(OnConflict::column(MfaThrottle::UserId).do_nothing_on([MfaThrottle::UserId]).to_owned());
    db.execute(&insert).await?;
    Ok(())
}

/// Locks the user's row (`SELECT … FOR UPDATE` on PostgreSQL and MySQL/MariaDB; on SQLite the
/// caller's `BEGIN IMMEDIATE` holds the database's write lock) until `txn` ends: the one lock
/// that the user's verifications and enrolments take turns on. `false` when the user has no
/// row ([`ensure_row`] first).
pub(crate) async fn lock_row<C: ConnectionTrait, Id: MfaUserId>(txn: &C, user: &Id) -> Result<bool, DbErr> {
    let mut select = Query::select();
    select
        .column(MfaThrottle::UserId)
        .from(MfaThrottle::Table)
        .and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value()));
    if txn.get_database_backend() != sea_orm::DbBackend::Sqlite {
        select.lock(sea_orm::sea_query::LockType::Update);
    }
    Ok(txn.query_one(&select).await?.is_some())
}

/// The user's throttle row, `None` when the user has none yet.
pub(crate) async fn read<C: ConnectionTrait, Id: MfaUserId>(db: &C, user: &Id) -> Result<Option<State>, DbErr> {
    let row = db
        .query_one(
            Query::select()
                .columns(State::COLUMNS)
                .from(MfaThrottle::Table)
                .and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value())),
        )
        .await?;
    row.as_ref().map(State::from_row).transpose()
}

/// After an attempt judged on `state` under the row's lock failed: counts it in `bucket` and
/// sets the back-off, lockout or hard lock it earns, in one `UPDATE` (the same outcome as a
/// reservation followed by [`record_failure`]).
pub(crate) async fn record_locked_failure<C: ConnectionTrait, Id: MfaUserId>(
    db: &C,
    limits: Limits<'_>,
    user: &Id,
    state: &State,
    bucket: Bucket,
    now: DateTime<Utc>,
) -> Result<Failure, DbErr> {
    let config = limits.throttle;
    let (counts, columns) = (state.counts(bucket), bucket.columns());
    let failures = counts.failed_attempts.saturating_add(1);
    let consecutive = counts.consecutive_failures.saturating_add(1);
    let max_consecutive = i32::try_from(limits.max_consecutive_failures).unwrap_or(i32::MAX);
    let hard_locked = consecutive >= max_consecutive && counts.hard_locked_at.is_none();
    let (until, locked_out) = penalty(config, u32::try_from(failures).unwrap_or(0), now);
    let kept = if locked_out { i32::try_from(config.lockout_threshold - 1).unwrap_or(0) } else { failures };
    let mut update = Query::update();
    update
        .table(MfaThrottle::Table)
        .value(columns.failed_attempts, kept)
        .value(columns.consecutive_failures, consecutive)
        .value(MfaThrottle::UpdatedAt, now)
        .and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value()));
    if let Some(until) = until {
        update.value(columns.locked_until, until);
    }
    if hard_locked {
        update.value(columns.hard_locked_at, now);
    }
    db.execute(&update).await?;
    Ok(Failure { locked_until: until, locked_out, hard_locked })
}

/// Reserves one attempt for the user in `bucket` before a code is checked: `failed_attempts +
/// 1` by a conditional `UPDATE` that succeeds only while the bucket is neither backed off nor
/// locked out and below the lockout threshold. Concurrent guesses therefore get at most
/// `lockout_threshold` checks in total, however many arrive at once. A success resets the
/// count ([`pass`]); a failure keeps it and sets the back-off ([`record_failure`]).
///
/// The consecutive-failure count moves with `failed_attempts` (reserved, kept on failure,
/// reset on success), and for code factors the same `UPDATE` requires it below
/// `max_consecutive_failures` and no hard lock, so racing guesses cannot pass the hard limit
/// either.
///
/// `Err(refusal)` when the user may not try now.
pub(crate) async fn reserve_attempt<C: ConnectionTrait, Id: MfaUserId>(
    db: &C,
    limits: Limits<'_>,
    factor: Factor,
    bucket: Bucket,
    user: &Id,
    now: DateTime<Utc>,
) -> Result<Result<(), Refusal>, DbErr> {
    let config = limits.throttle;
    let columns = bucket.columns();
    let threshold = i32::try_from(config.lockout_threshold).unwrap_or(i32::MAX);
    let max_consecutive = i32::try_from(limits.max_consecutive_failures).unwrap_or(i32::MAX);
    for _ in 0..3 {
        let mut update = Query::update();
        update
            .table(MfaThrottle::Table)
            .value(columns.failed_attempts, Expr::col(columns.failed_attempts).add(1))
            .value(columns.consecutive_failures, Expr::col(columns.consecutive_failures).add(1))
            .value(MfaThrottle::UpdatedAt, now)
            .and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value()))
            .and_where(Expr::col(columns.failed_attempts).lt(threshold))
            .and_where(Expr::col(columns.locked_until).is_null().or(Expr::col(columns.locked_until).lte(now)));
        if factor == Factor::Code {
            update
                .and_where(Expr::col(columns.hard_locked_at).is_null())
                .and_where(Expr::col(columns.consecutive_failures).lt(max_consecutive));
        }
        if db.execute(&update).await?.rows_affected() == 1 {
            return Ok(Ok(()));
        }
        if let Some(state) = read(db, user).await? {
            match state.refusal(limits, bucket, factor, now) {
                // The row appeared (another instance's first attempt) between our UPDATE and
                // this SELECT, and it still has room: reserve on it.
                None => continue,
                Some(refusal) => return Ok(Err(refusal)),
            }
        }
        let inserted = db.execute(&new_row(user, bucket, 1, now)).await;
        if inserted.is_ok() {
            return Ok(Ok(()));
        }
        // Another instance inserted the row first: reserve on it.
    }
    Err(DbErr::Custom("could not reserve an MFA attempt in mfa_throttle".to_owned()))
}

/// After an attempt reserved in `bucket` failed: sets the back-off or lockout the count earns.
/// A lockout leaves the count one below the threshold, so once it ends a single attempt is
/// allowed before the next lockout. At `max_consecutive_failures` the hard lock starts;
/// exactly one failure sees it start (a conditional `UPDATE`), so it is audited once.
pub(crate) async fn record_failure<C: ConnectionTrait, Id: MfaUserId>(
    db: &C,
    limits: Limits<'_>,
    user: &Id,
    bucket: Bucket,
    now: DateTime<Utc>,
) -> Result<Failure, DbErr> {
    let config = limits.throttle;
    let columns = bucket.columns();
    let max_consecutive = i32::try_from(limits.max_consecutive_failures).unwrap_or(i32::MAX);
    let hard_locked = db
        .execute(
            Query::update()
                .table(MfaThrottle::Table)
                .value(columns.hard_locked_at, now)
                .and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value()))
                .and_where(Expr::col(columns.consecutive_failures).gte(max_consecutive))
                .and_where(Expr::col(columns.hard_locked_at).is_null()),
        )
        .await?
        .rows_affected()
        == 1;
    let row = db
        .query_one(
            Query::select()
                .column(columns.failed_attempts)
                .from(MfaThrottle::Table)
                .and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value())),
        )
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("mfa_throttle row vanished".to_owned()))?;
    let failures = u32::try_from(get::<i32>(&row, columns.failed_attempts)?).unwrap_or(0);
    let (until, locked_out) = penalty(config, failures, now);
    let Some(until) = until else { return Ok(Failure { locked_until: None, locked_out, hard_locked }) };
    let mut update = Query::update();
    update
        .table(MfaThrottle::Table)
        .value(columns.locked_until, until)
        .and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value()));
    if locked_out {
        update.value(columns.failed_attempts, i32::try_from(config.lockout_threshold - 1).unwrap_or(0));
    }
    db.execute(&update).await?;
    Ok(Failure { locked_until: Some(until), locked_out, hard_locked })
}

/// The back-off or lockout that `failures` failed attempts earn: until when, and whether it
/// is the lockout.
fn penalty(config: &ThrottleConfig, failures: u32, now: DateTime<Utc>) -> (Option<DateTime<Utc>>, bool) {
    let (delay, locked_out) = if failures >= config.lockout_threshold {
        (config.lockout_duration, true)
    } else if failures > config.free_attempts {
        let exponent = Ord::min(failures - config.free_attempts - 1, 20);
        (config.base_delay.saturating_mul(1 << exponent).min(config.max_delay), false)
    } else {
        return (None, false);
    };
    (Some(now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::days(1))), locked_out)
}

/// Sets every count to 0 and ends every lock, in both buckets.
fn clear_counts(update: &mut sea_orm::sea_query::UpdateStatement) {
    for columns in [Bucket::Other.columns(), Bucket::Known.columns()] {
        update
            .value(columns.failed_attempts, 0i32)
            .value(columns.consecutive_failures, 0i32)
            .value(columns.locked_until, Option::<DateTime<Utc>>::None)
            .value(columns.hard_locked_at, Option::<DateTime<Utc>>::None);
    }
}

/// A success: writes what [`State::after_pass`] found (both buckets' counts start again and
/// every lock ends; the address joins the known ones). Nothing when it found nothing.
pub(crate) async fn pass<C: ConnectionTrait, Id: MfaUserId>(db: &C, user: &Id, pass: Pass) -> Result<(), DbErr> {
    if pass.is_empty() {
        return Ok(());
    }
    let mut update = Query::update();
    update.table(MfaThrottle::Table).and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value()));
    if pass.reset {
        clear_counts(&mut update);
    }
    if let Some(sources) = pass.sources {
        update.value(MfaThrottle::KnownSources, sources);
    }
    db.execute(&update).await?;
    Ok(())
}

/// An administrator's unlock: both buckets' counts start again and every lock ends; the known
/// addresses stay.
pub(crate) async fn reset<C: ConnectionTrait, Id: MfaUserId>(db: &C, user: &Id) -> Result<(), DbErr> {
    let mut update = Query::update();
    update.table(MfaThrottle::Table).and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value()));
    clear_counts(&mut update);
    db.execute(&update).await?;
    Ok(())
}

/// Whether the user's code factors wait for a recovery, for an attempt from `ip`.
pub(crate) async fn is_hard_locked<C: ConnectionTrait, Id: MfaUserId>(
    db: &C,
    max_consecutive_failures: u32,
    user: &Id,
    ip: Option<IpAddr>,
) -> Result<bool, DbErr> {
    let Some(state) = read(db, user).await? else { return Ok(false) };
    let counts = state.counts(state.bucket(ip, Utc::now()));
    Ok(counts.hard_locked_at.is_some() || i64::from(counts.consecutive_failures) >= i64::from(max_consecutive_failures))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).expect("a valid time")
    }

    #[test]
    fn an_address_is_known_after_a_pass_until_it_is_too_old() {
        let now = at(1_800_000_000);
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let sources = KnownSources::parse(KnownSources::default().after_pass(ip, now).as_deref());
        assert!(sources.knows(ip, now));
        assert!(!sources.knows("203.0.113.10".parse().unwrap(), now), "an IPv4 address is only itself");
        assert!(sources.knows(ip, now + KnownSources::TTL - chrono::Duration::seconds(1)));
        assert!(!sources.knows(ip, now + KnownSources::TTL), "forgotten after the TTL");
    }

    #[test]
    fn an_ipv6_address_is_known_by_its_64_and_a_mapped_ipv4_as_itself() {
        let now = at(1_800_000_000);
        let ip: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let sources = KnownSources::parse(KnownSources::default().after_pass(ip, now).as_deref());
        assert!(sources.knows("2001:db8:1:2:ffff::9".parse().unwrap(), now), "same /64");
        assert!(!sources.knows("2001:db8:1:3::1".parse().unwrap(), now), "another /64");
        let v4 =
            KnownSources::parse(KnownSources::default().after_pass("198.51.100.7".parse().unwrap(), now).as_deref());
        assert!(v4.knows("::ffff:198.51.100.7".parse().unwrap(), now));
    }

    #[test]
    fn a_pass_rewrites_only_what_changed_and_keeps_the_newest() {
        let now = at(1_800_000_000);
        let mut sources = KnownSources::default();
        for n in 0..(KnownSources::MAX as i64 + 3) {
            let ip: IpAddr = format!("192.0.2.{n}").parse().unwrap();
            let text = sources.after_pass(ip, now + chrono::Duration::seconds(n)).expect("a new address is written");
            sources = KnownSources::parse(Some(&text));
        }
        assert_eq!(sources.0.len(), KnownSources::MAX);
        assert!(!sources.knows("192.0.2.0".parse().unwrap(), now), "the oldest is forgotten first");
        assert!(sources.knows("192.0.2.10".parse().unwrap(), now));
        let latest: IpAddr = "192.0.2.10".parse().unwrap();
        assert_eq!(sources.after_pass(latest, now + chrono::Duration::hours(1)), None, "fresh: no write");
        assert!(sources.after_pass(latest, now + chrono::Duration::days(2)).is_some(), "stale: refreshed");
    }

    #[test]
    fn hostile_stored_text_is_dropped_not_an_error() {
        let sources = KnownSources::parse(Some("x@y @ @1 203.0.113.9@notanumber \u{202e}@5 203.0.113.9@1800000000"));
        assert!(sources.knows("203.0.113.9".parse().unwrap(), at(1_800_000_000)));
        let long = "a@1 ".repeat(10_000);
        assert_eq!(KnownSources::parse(Some(&long)).0.len(), KnownSources::MAX);
    }
}
