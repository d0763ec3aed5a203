//! Per-user throttling of failed second-factor attempts, kept in `mfa_throttle` so it holds
//! across application instances.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbErr};

use super::config::ThrottleConfig;
use super::store::{MfaUserId, THROTTLE, n};

/// The state after a recorded failure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failure {
    pub(crate) locked_until: Option<DateTime<Utc>>,
    pub(crate) locked_out: bool,
}

/// The user's throttle state: `(locked_until if still in force, whether a reset is due)`.
pub(crate) async fn state<C: ConnectionTrait, Id: MfaUserId>(
    db: &C,
    user: &Id,
    now: DateTime<Utc>,
) -> Result<(Option<DateTime<Utc>>, bool), DbErr> {
    let row = db
        .query_one(
            Query::select()
                .columns([n("locked_until"), n("failed_attempts")])
                .from(n(THROTTLE))
                .and_where(Expr::col(n("user_id")).eq(user.to_db_value())),
        )
        .await?;
    let Some(row) = row else { return Ok((None, false)) };
    let until: Option<DateTime<Utc>> = row.try_get("", "locked_until")?;
    let failures: i32 = row.try_get("", "failed_attempts")?;
    Ok((until.filter(|u| *u > now), failures > 0 || until.is_some()))
}

/// Counts a failure atomically (`failed_attempts = failed_attempts + 1`) and sets the back-off
/// or lockout it earns.
pub(crate) async fn record_failure<C: ConnectionTrait, Id: MfaUserId>(
    db: &C,
    config: &ThrottleConfig,
    user: &Id,
    now: DateTime<Utc>,
) -> Result<Failure, DbErr> {
    let mut counted = false;
    for _ in 0..3 {
        let updated = db
            .execute(
                Query::update()
                    .table(n(THROTTLE))
                    .value(n("failed_attempts"), Expr::col(n("failed_attempts")).add(1))
                    .value(n("updated_at"), now)
                    .and_where(Expr::col(n("user_id")).eq(user.to_db_value())),
            )
            .await?;
        if updated.rows_affected() == 1 {
            counted = true;
            break;
        }
        let inserted = db
            .execute(
                Query::insert()
                    .into_table(n(THROTTLE))
                    .columns([n("user_id"), n("failed_attempts"), n("updated_at")])
                    .values_panic([user.to_db_value(), 1i32.into(), now.into()].map(Expr::val)),
            )
            .await;
        if inserted.is_ok() {
            counted = true;
            break;
        }
        // Another instance inserted the row first: count on it.
    }
    if !counted {
        return Err(DbErr::Custom("could not record a failed MFA attempt in mfa_throttle".to_owned()));
    }
    let row = db
        .query_one(
            Query::select()
                .column(n("failed_attempts"))
                .from(n(THROTTLE))
                .and_where(Expr::col(n("user_id")).eq(user.to_db_value())),
        )
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("mfa_throttle row vanished".to_owned()))?;
    let failures = u32::try_from(row.try_get::<i32>("", "failed_attempts")?).unwrap_or(0);
    let (delay, locked_out) = if failures >= config.lockout_threshold {
        (Some(config.lockout_duration), true)
    } else if failures > config.free_attempts {
        let exponent = Ord::min(failures - config.free_attempts - 1, 20);
        (Some(config.base_delay.saturating_mul(1 << exponent).min(config.max_delay)), false)
    } else {
        (None, false)
    };
    let locked_until = match delay {
        Some(delay) => {
            let until = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::days(1));
            db.execute(
                Query::update()
                    .table(n(THROTTLE))
                    .value(n("locked_until"), until)
                    .and_where(Expr::col(n("user_id")).eq(user.to_db_value())),
            )
            .await?;
            Some(until)
        }
        None => None,
    };
    Ok(Failure { locked_until, locked_out })
}

/// A success: the count starts again.
pub(crate) async fn reset<C: ConnectionTrait, Id: MfaUserId>(db: &C, user: &Id) -> Result<(), DbErr> {
    db.execute(
        Query::update()
            .table(n(THROTTLE))
            .value(n("failed_attempts"), 0i32)
            .value(n("locked_until"), Option::<DateTime<Utc>>::None)
            .and_where(Expr::col(n("user_id")).eq(user.to_db_value())),
    )
    .await?;
    Ok(())
}
