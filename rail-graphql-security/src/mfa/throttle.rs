//! Per-user throttling of failed second-factor attempts, kept in `mfa_throttle` so it holds
//! across application instances.
//!
//! Two counts: `failed_attempts` drives the back-off and the timed lockout (it drops back below
//! the threshold when a lockout starts, so one try is allowed once it ends);
//! `consecutive_failures` only grows until a success, so at `max_consecutive_failures` the code
//! factors (TOTP, SMS) stay locked (`hard_locked_at`) until a backup code or an administrator
//! resets it. Without it guessing went on for ever at one lockout window's worth a day.

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

/// The limits `reserve_attempt` and `record_failure` apply.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits<'a> {
    pub(crate) throttle: &'a ThrottleConfig,
    pub(crate) max_consecutive_failures: u32,
}

/// A user's throttle row: the counts and locks an attempt is judged by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct State {
    failed_attempts: i32,
    locked_until: Option<DateTime<Utc>>,
    consecutive_failures: i32,
    hard_locked_at: Option<DateTime<Utc>>,
}

impl State {
    /// The columns [`State::from_row`] reads.
    pub(crate) const COLUMNS: [MfaThrottle; 4] = [
        MfaThrottle::FailedAttempts,
        MfaThrottle::LockedUntil,
        MfaThrottle::ConsecutiveFailures,
        MfaThrottle::HardLockedAt,
    ];

    pub(crate) fn from_row(row: &QueryResult) -> Result<State, DbErr> {
        Ok(State {
            failed_attempts: get(row, MfaThrottle::FailedAttempts)?,
            locked_until: get(row, MfaThrottle::LockedUntil)?,
            consecutive_failures: get(row, MfaThrottle::ConsecutiveFailures)?,
            hard_locked_at: get(row, MfaThrottle::HardLockedAt)?,
        })
    }

    /// Why an attempt of `factor` may not be made at `now`; `None` when it may: the same
    /// conditions as the reservation's `UPDATE`.
    pub(crate) fn refusal(&self, limits: Limits<'_>, factor: Factor, now: DateTime<Utc>) -> Option<Refusal> {
        let max_consecutive = i32::try_from(limits.max_consecutive_failures).unwrap_or(i32::MAX);
        if factor == Factor::Code && (self.hard_locked_at.is_some() || self.consecutive_failures >= max_consecutive) {
            return Some(Refusal::UntilRecovery);
        }
        let threshold = i32::try_from(limits.throttle.lockout_threshold).unwrap_or(i32::MAX);
        let blocked = self.locked_until.filter(|u| *u > now);
        if self.failed_attempts < threshold && blocked.is_none() {
            return None;
        }
        // Backed off, locked out, or at the threshold with the lockout about to be written by a
        // concurrent failure.
        let pending =
            now + chrono::Duration::from_std(limits.throttle.lockout_duration).unwrap_or(chrono::Duration::days(1));
        Some(Refusal::Until(blocked.unwrap_or(pending)))
    }

    /// Whether a success has nothing to reset (no failure counted, no lock).
    pub(crate) fn is_clear(&self) -> bool {
        self.failed_attempts == 0
            && self.consecutive_failures == 0
            && self.locked_until.is_none()
            && self.hard_locked_at.is_none()
    }
}

/// The `INSERT` of a user's first throttle row, with `failures` counted (both the failures
/// towards the lockout and the consecutive ones) and no lock.
fn new_row<Id: MfaUserId>(user: &Id, failures: i32, now: DateTime<Utc>) -> sea_orm::sea_query::InsertStatement {
    let mut insert = Query::insert();
    insert
        .into_table(MfaThrottle::Table)
        .columns([
            MfaThrottle::UserId,
            MfaThrottle::FailedAttempts,
            MfaThrottle::ConsecutiveFailures,
            MfaThrottle::UpdatedAt,
        ])
        .values_panic([user.to_db_value(), failures.into(), failures.into(), now.into()].map(Expr::val));
    insert
}

/// Creates the user's throttle row (no failure, no lock) unless it exists, so that a
/// verification can lock it. A concurrent insert of the same row is not an error.
pub(crate) async fn ensure_row<C: ConnectionTrait, Id: MfaUserId>(
    db: &C,
    user: &Id,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut insert = new_row(user, 0, now);
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

/// After an attempt judged on `state` under the row's lock failed: counts it and sets the
/// back-off, lockout or hard lock it earns, in one `UPDATE` (the same outcome as a reservation
/// followed by [`record_failure`]).
pub(crate) async fn record_locked_failure<C: ConnectionTrait, Id: MfaUserId>(
    db: &C,
    limits: Limits<'_>,
    user: &Id,
    state: State,
    now: DateTime<Utc>,
) -> Result<Failure, DbErr> {
    let config = limits.throttle;
    let failures = state.failed_attempts.saturating_add(1);
    let consecutive = state.consecutive_failures.saturating_add(1);
    let max_consecutive = i32::try_from(limits.max_consecutive_failures).unwrap_or(i32::MAX);
    let hard_locked = consecutive >= max_consecutive && state.hard_locked_at.is_none();
    let (until, locked_out) = penalty(config, u32::try_from(failures).unwrap_or(0), now);
    let kept = if locked_out { i32::try_from(config.lockout_threshold - 1).unwrap_or(0) } else { failures };
    let mut update = Query::update();
    update
        .table(MfaThrottle::Table)
        .value(MfaThrottle::FailedAttempts, kept)
        .value(MfaThrottle::ConsecutiveFailures, consecutive)
        .value(MfaThrottle::UpdatedAt, now)
        .and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value()));
    if let Some(until) = until {
        update.value(MfaThrottle::LockedUntil, until);
    }
    if hard_locked {
        update.value(MfaThrottle::HardLockedAt, now);
    }
    db.execute(&update).await?;
    Ok(Failure { locked_until: until, locked_out, hard_locked })
}

/// Reserves one attempt for the user before a code is checked: `failed_attempts + 1` by a
/// conditional `UPDATE` that succeeds only while the user is neither backed off nor locked out
/// and below the lockout threshold. Concurrent guesses therefore get at most
/// `lockout_threshold` checks in total, however many arrive at once. A success resets the
/// count ([`reset`]); a failure keeps it and sets the back-off ([`record_failure`]).
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
    user: &Id,
    now: DateTime<Utc>,
) -> Result<Result<(), Refusal>, DbErr> {
    let config = limits.throttle;
    let threshold = i32::try_from(config.lockout_threshold).unwrap_or(i32::MAX);
    let max_consecutive = i32::try_from(limits.max_consecutive_failures).unwrap_or(i32::MAX);
    for _ in 0..3 {
        let mut update = Query::update();
        update
            .table(MfaThrottle::Table)
            .value(MfaThrottle::FailedAttempts, Expr::col(MfaThrottle::FailedAttempts).add(1))
            .value(MfaThrottle::ConsecutiveFailures, Expr::col(MfaThrottle::ConsecutiveFailures).add(1))
            .value(MfaThrottle::UpdatedAt, now)
            .and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value()))
            .and_where(Expr::col(MfaThrottle::FailedAttempts).lt(threshold))
            .and_where(Expr::col(MfaThrottle::LockedUntil).is_null().or(Expr::col(MfaThrottle::LockedUntil).lte(now)));
        if factor == Factor::Code {
            update
                .and_where(Expr::col(MfaThrottle::HardLockedAt).is_null())
                .and_where(Expr::col(MfaThrottle::ConsecutiveFailures).lt(max_consecutive));
        }
        if db.execute(&update).await?.rows_affected() == 1 {
            return Ok(Ok(()));
        }
        let row = db
            .query_one(
                Query::select()
                    .columns(State::COLUMNS)
                    .from(MfaThrottle::Table)
                    .and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value())),
            )
            .await?;
        if let Some(row) = row {
            match State::from_row(&row)?.refusal(limits, factor, now) {
                // The row appeared (another instance's first attempt) between our UPDATE and
                // this SELECT, and it still has room: reserve on it.
                None => continue,
                Some(refusal) => return Ok(Err(refusal)),
            }
        }
        let inserted = db.execute(&new_row(user, 1, now)).await;
        if inserted.is_ok() {
            return Ok(Ok(()));
        }
        // Another instance inserted the row first: reserve on it.
    }
    Err(DbErr::Custom("could not reserve an MFA attempt in mfa_throttle".to_owned()))
}

/// After a reserved attempt failed: sets the back-off or lockout the count earns. A lockout
/// leaves the count one below the threshold, so once it ends a single attempt is allowed
/// before the next lockout. At `max_consecutive_failures` the hard lock starts; exactly one
/// failure sees it start (a conditional `UPDATE`), so it is audited once.
pub(crate) async fn record_failure<C: ConnectionTrait, Id: MfaUserId>(
    db: &C,
    limits: Limits<'_>,
    user: &Id,
    now: DateTime<Utc>,
) -> Result<Failure, DbErr> {
    let config = limits.throttle;
    let max_consecutive = i32::try_from(limits.max_consecutive_failures).unwrap_or(i32::MAX);
    let hard_locked = db
        .execute(
            Query::update()
                .table(MfaThrottle::Table)
                .value(MfaThrottle::HardLockedAt, now)
                .and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value()))
                .and_where(Expr::col(MfaThrottle::ConsecutiveFailures).gte(max_consecutive))
                .and_where(Expr::col(MfaThrottle::HardLockedAt).is_null()),
        )
        .await?
        .rows_affected()
        == 1;
    let row = db
        .query_one(
            Query::select()
                .column(MfaThrottle::FailedAttempts)
                .from(MfaThrottle::Table)
                .and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value())),
        )
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("mfa_throttle row vanished".to_owned()))?;
    let failures = u32::try_from(get::<i32>(&row, MfaThrottle::FailedAttempts)?).unwrap_or(0);
    let (until, locked_out) = penalty(config, failures, now);
    let Some(until) = until else { return Ok(Failure { locked_until: None, locked_out, hard_locked }) };
    let mut update = Query::update();
    update
        .table(MfaThrottle::Table)
        .value(MfaThrottle::LockedUntil, until)
        .and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value()));
    if locked_out {
        update.value(MfaThrottle::FailedAttempts, i32::try_from(config.lockout_threshold - 1).unwrap_or(0));
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

/// A success (or an administrator's unlock): both counts start again and every lock ends.
pub(crate) async fn reset<C: ConnectionTrait, Id: MfaUserId>(db: &C, user: &Id) -> Result<(), DbErr> {
    db.execute(
        Query::update()
            .table(MfaThrottle::Table)
            .value(MfaThrottle::FailedAttempts, 0i32)
            .value(MfaThrottle::ConsecutiveFailures, 0i32)
            .value(MfaThrottle::LockedUntil, Option::<DateTime<Utc>>::None)
            .value(MfaThrottle::HardLockedAt, Option::<DateTime<Utc>>::None)
            .and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value())),
    )
    .await?;
    Ok(())
}

/// Whether the user's code factors wait for a recovery.
pub(crate) async fn is_hard_locked<C: ConnectionTrait, Id: MfaUserId>(
    db: &C,
    max_consecutive_failures: u32,
    user: &Id,
) -> Result<bool, DbErr> {
    let row = db
        .query_one(
            Query::select()
                .columns([MfaThrottle::ConsecutiveFailures, MfaThrottle::HardLockedAt])
                .from(MfaThrottle::Table)
                .and_where(Expr::col(MfaThrottle::UserId).eq(user.to_db_value())),
        )
        .await?;
    let Some(row) = row else { return Ok(false) };
    let consecutive: i32 = get(&row, MfaThrottle::ConsecutiveFailures)?;
    let hard_locked: Option<DateTime<Utc>> = get(&row, MfaThrottle::HardLockedAt)?;
    Ok(hard_locked.is_some() || i64::from(consecutive) >= i64::from(max_consecutive_failures))
}
