//! SQL shared by the MFA modules: sea-query statements on the tables of
//! `CreateMfaTables`, so one code path serves SQLite, PostgreSQL and MySQL/MariaDB. Tables and
//! columns are named by the migration's identifiers ([`crate::migration::schema`]), the
//! schema's one source.

use std::fmt;

use sea_orm::{DbErr, Iden, QueryResult, TryGetable, Value};

pub(crate) use crate::migration::schema::{
    MfaBackupCodes, MfaDevices, MfaPasskeyCeremonies, MfaPasskeys, MfaThrottle, TrustedDevices,
};

/// The type of the application's user ids, as stored in the MFA tables' `user_id` columns
/// (see `MfaUserIdColumn` in the migration). Implemented for `i32`, `i64`, `Uuid` and `String`.
pub trait MfaUserId: Clone + Send + Sync + fmt::Debug + 'static {
    /// The value bound to `user_id` in queries.
    fn to_db_value(&self) -> Value;
    /// A stable text form: bound into the encryption's associated data and written to audit
    /// events.
    fn to_key(&self) -> String;
    /// Reads the id back from a result row.
    fn from_row(row: &QueryResult, column: &str) -> Result<Self, DbErr>;
}

macro_rules! user_id_impl {
    ($($ty:ty),*) => {$(
        impl MfaUserId for $ty {
            fn to_db_value(&self) -> Value {
                self.clone().into()
            }
            fn to_key(&self) -> String {
                self.to_string()
            }
            fn from_row(row: &QueryResult, column: &str) -> Result<Self, DbErr> {
                row.try_get("", column)
            }
        }
    )*};
}

user_id_impl!(i32, i64, uuid::Uuid, String);

/// Reads `column` of a result row.
pub(crate) fn get<T: TryGetable>(row: &QueryResult, column: impl Iden) -> Result<T, DbErr> {
    row.try_get("", column.unquoted())
}
