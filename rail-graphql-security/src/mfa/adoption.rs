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

/// Second-factor adoption from the `mfa_devices` and `mfa_passkeys` tables: three
/// `COUNT(DISTINCT user_id)` queries, served by their `user_id` indexes.
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
    let device_users = db
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
    let mut by_method = rows
        .iter()
        .map(|row| {
            Ok(MethodCount {
                method: get(row, MfaDevices::DeviceType)?,
                users: u64::try_from(get::<i64>(row, count())?).unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    let passkey_users = |also_with_device: bool| {
        let mut select = Query::select();
        select.expr_as(Func::count_distinct(Expr::col(MfaPasskeys::UserId)), count()).from(MfaPasskeys::Table);
        if also_with_device {
            select
                .and_where(Expr::col(MfaPasskeys::UserId).in_subquery(active().column(MfaDevices::UserId).to_owned()));
        }
        async move {
            Ok::<i64, DbErr>(
                db.query_one(&select).await?.map(|row| get::<i64>(&row, count())).transpose()?.unwrap_or(0),
            )
        }
    };
    // A user with a device and a passkey is one enrolled user.
    let both = passkey_users(true).await?;
    let passkey_users = passkey_users(false).await?;
    let users_enrolled = device_users + passkey_users - both;
    if passkey_users > 0 {
        by_method.push(MethodCount { method: "passkey".to_owned(), users: u64::try_from(passkey_users).unwrap_or(0) });
        by_method.sort_by(|a, b| b.users.cmp(&a.users).then_with(|| a.method.cmp(&b.method)));
    }
    Ok(MfaAdoption { users_enrolled: u64::try_from(users_enrolled).unwrap_or(0), by_method })
}
