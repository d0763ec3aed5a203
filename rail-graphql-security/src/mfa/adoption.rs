//! Second-factor adoption figures (the dashboard's "MFA adoption" card), counted in
//! `mfa_devices`.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbErr};
use serde::Serialize;

use super::store::{MfaDevices, get};

/// How many second-factor users there are, and with which methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MfaAdoption {
    /// Users with at least one active, confirmed second factor.
    pub users_enrolled: u64,
    /// Users per method (`totp`, `sms`, `backup_codes`), most first; a user with two methods
    /// counts once under each.
    pub by_method: Vec<MethodCount>,
}

/// Users enrolled with one method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MethodCount {
    /// The `mfa_devices.device_type`.
    pub method: String,
    /// Distinct users with an active, confirmed device of that type.
    pub users: u64,
}

/// Second-factor adoption from the `mfa_devices` table: two `COUNT(DISTINCT user_id)` queries,
/// served by its `user_id` index.
pub async fn adoption<C: ConnectionTrait>(db: &C) -> Result<MfaAdoption, DbErr> {
    let users = || -> Expr { Func::count_distinct(Expr::col(MfaDevices::UserId)).into() };
    // The alias of the count in the result rows.
    let count = || Alias::new("users");
    let active = || -> SelectStatement {
        Query::select()
            .from(MfaDevices::Table)
            .and_where(Expr::col(MfaDevices::IsActive).eq(true))
            .and_where(Expr::col(MfaDevices::Confirmed).eq(true))
            .to_owned()
    };
    let users_enrolled = db
        .query_one(active().expr_as(users(), count()))
        .await?
        .map(|row| get::<i64>(&row, count()))
        .transpose()?
        .unwrap_or(0);
    let rows = db
        .query_all(
            active()
                .column(MfaDevices::DeviceType)
                .expr_as(users(), count())
                .group_by_col(MfaDevices::DeviceType)
                .order_by_expr(users(), Order::Desc)
                .order_by(MfaDevices::DeviceType, Order::Asc),
        )
        .await?;
    let by_method = rows
        .iter()
        .map(|row| {
            Ok(MethodCount {
                method: get(row, MfaDevices::DeviceType)?,
                users: u64::try_from(get::<i64>(row, count())?).unwrap_or(0),
            })
        })
        .collect::<Result<_, DbErr>>()?;
    Ok(MfaAdoption { users_enrolled: u64::try_from(users_enrolled).unwrap_or(0), by_method })
}
