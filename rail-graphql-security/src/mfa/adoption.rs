//! Second-factor adoption figures (the dashboard's "MFA adoption" card), counted in
//! `mfa_devices` and `mfa_passkeys`.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbErr};
use serde::Serialize;

use super::passkey::MfaPasskeys;
use super::store::{MfaDevices, get};

/// How many second-factor users there are, and with which methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MfaAdoption {
    /// Users with at least one active, confirmed second factor.
    pub users_enrolled: u64,
    /// Users per method (`totp`, `sms`, `backup_codes`, `passkey`), most first; a user with two
    /// methods counts once under each.
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

/// The alias of the count in the result rows.
const USERS: &str = "users";

/// The [`USERS`] count of a one-row aggregate `select`.
async fn users_counted<C: ConnectionTrait>(db: &C, select: &SelectStatement) -> Result<i64, DbErr> {
    Ok(db.query_one(select).await?.map(|row| get::<i64>(&row, Alias::new(USERS))).transpose()?.unwrap_or(0))
}

/// Second-factor adoption from the `mfa_devices` and `mfa_passkeys` tables: four
/// `COUNT(DISTINCT user_id)` queries, served by their `user_id` indexes.
pub async fn adoption<C: ConnectionTrait>(db: &C) -> Result<MfaAdoption, DbErr> {
    let users = || -> Expr { Func::count_distinct(Expr::col(MfaDevices::UserId)).into() };
    let count = || Alias::new(USERS);
    let active = || -> SelectStatement {
        Query::select()
            .from(MfaDevices::Table)
            .and_where(Expr::col(MfaDevices::IsActive).eq(true))
            .and_where(Expr::col(MfaDevices::Confirmed).eq(true))
            .to_owned()
    };
    let device_users = users_counted(db, active().expr_as(users(), count())).await?;
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
    let mut by_method = rows
        .iter()
        .map(|row| {
            Ok(MethodCount {
                method: get(row, MfaDevices::DeviceType)?,
                users: u64::try_from(get::<i64>(row, count())?).unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    let mut with_passkey = Query::select();
    with_passkey.expr_as(Func::count_distinct(Expr::col(MfaPasskeys::UserId)), count()).from(MfaPasskeys::Table);
    let passkey_users = users_counted(db, &with_passkey).await?;
    // A user with a device and a passkey is one enrolled user.
    let also_device = Expr::col(MfaPasskeys::UserId).in_subquery(active().column(MfaDevices::UserId).to_owned());
    let both = users_counted(db, with_passkey.and_where(also_device)).await?;
    let users_enrolled = device_users + passkey_users - both;
    if passkey_users > 0 {
        by_method.push(MethodCount { method: "passkey".to_owned(), users: u64::try_from(passkey_users).unwrap_or(0) });
        by_method.sort_by(|a, b| b.users.cmp(&a.users).then_with(|| a.method.cmp(&b.method)));
    }
    Ok(MfaAdoption { users_enrolled: u64::try_from(users_enrolled).unwrap_or(0), by_method })
}
