//! Backup codes: random codes from an unambiguous alphabet, returned once, stored only as
//! Argon2id hashes (NIST SP 800-63B §5.1.2), each consumed at most once.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::attempt::{Attempt, Checked};
use super::config::BackupCodeHashing;
use super::error::MfaError;
use super::manager::{MfaManager, MfaUser, actor};
use super::method::MfaMethod;
use super::store::{MfaBackupCodes, MfaUserId, get};
use super::throttle::Factor;

/// The 32 symbols of backup codes: digits and capitals without `0`, `1`, `I` and `O`.
pub const BACKUP_CODE_ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

fn argon2(hashing: &BackupCodeHashing) -> Result<Argon2<'static>, MfaError> {
    let params = Params::new(hashing.memory_kib, hashing.iterations, 1, None)
        .map_err(|e| MfaError::Config(format!("backup-code hashing parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A new code: `length` symbols, shown in groups of four separated by `-`.
fn new_code(length: usize) -> Zeroizing<String> {
    let mut bytes = Zeroizing::new(vec![0u8; length]);
    rand::rng().fill_bytes(&mut bytes);
    let mut code = Zeroizing::new(String::with_capacity(length + length / 4));
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        // 256 is a multiple of 32: no modulo bias.
        code.push(char::from(BACKUP_CODE_ALPHABET[usize::from(*b) % 32]));
    }
    code
}

/// Upper-cases and drops spaces, dashes and underscores; `None` when the result cannot be a
/// backup code.
fn normalize(code: &str, length: usize) -> Option<Zeroizing<String>> {
    let code: Zeroizing<String> = Zeroizing::new(
        code.chars().filter(|c| !matches!(c, ' ' | '-' | '_')).map(|c| c.to_ascii_uppercase()).collect(),
    );
    (code.len() == length && code.bytes().all(|b| BACKUP_CODE_ALPHABET.contains(&b))).then_some(code)
}

impl<Id: MfaUserId> MfaManager<Id> {
    /// Generates `BACKUP_CODES_COUNT` new backup codes, replacing (invalidating) the previous
    /// set. The codes are returned once, formatted `ABCD-EFGH`; only Argon2id hashes are stored.
    pub async fn generate_backup_codes(
        &self,
        user: &impl MfaUser<Id = Id>,
    ) -> Result<Vec<Zeroizing<String>>, MfaError> {
        let (count, length) = (self.config.backup_codes_count, self.config.backup_code_length);
        let hasher = argon2(&self.config.backup_code_hashing)?;
        let codes: Vec<Zeroizing<String>> = (0..count).map(|_| new_code(length)).collect();
        let plain: Vec<Zeroizing<String>> =
            codes.iter().map(|c| normalize(c, length).expect("generated code")).collect();
        let hashes = tokio::task::spawn_blocking(move || {
            plain
                .iter()
                .map(|code| {
                    let mut salt = [0u8; 16];
                    rand::rng().fill_bytes(&mut salt);
                    let salt = SaltString::encode_b64(&salt).map_err(|e| MfaError::Config(e.to_string()))?;
                    hasher
                        .hash_password(code.as_bytes(), &salt)
                        .map(|h| h.to_string())
                        .map_err(|e| MfaError::Config(format!("backup-code hashing failed: {e}")))
                })
                .collect::<Result<Vec<String>, MfaError>>()
        })
        .await
        .map_err(|e| MfaError::Config(format!("backup-code hashing task failed: {e}")))??;

        let uid = user.mfa_user_id();
        let now = Utc::now();
        let mut insert = Query::insert();
        insert.into_table(MfaBackupCodes::Table).columns([
            MfaBackupCodes::Id,
            MfaBackupCodes::UserId,
            MfaBackupCodes::CodeHash,
            MfaBackupCodes::IsUsed,
            MfaBackupCodes::CreatedAt,
        ]);
        for hash in hashes {
            insert.values_panic(
                [Uuid::new_v4().to_string().into(), uid.to_db_value(), hash.into(), false.into(), now.into()]
                    .map(Expr::val),
            );
        }
        let db = &self.db;
        let delete = Query::delete()
            .from_table(MfaBackupCodes::Table)
            .and_where(Expr::col(MfaBackupCodes::UserId).eq(uid.to_db_value()))
            .to_owned();
        sea_orm::TransactionTrait::transaction::<_, _, DbErr>(db, |txn| {
            Box::pin(async move {
                txn.execute(&delete).await?;
                txn.execute(&insert).await?;
                Ok(())
            })
        })
        .await
        .map_err(|e| match e {
            sea_orm::TransactionError::Connection(e) | sea_orm::TransactionError::Transaction(e) => e,
        })?;
        self.audit(|l, ip| l.log_mfa_enabled(&actor(user), ip, MfaMethod::BackupCode.as_str()));
        Ok(codes)
    }

    /// How many unused backup codes the user can pass: none while the user has no confirmed
    /// factor (the codes a `setupTotp` made count once a factor is confirmed; see
    /// [`verify_backup_code`](Self::verify_backup_code)).
    pub async fn remaining_backup_codes(&self, user: &impl MfaUser<Id = Id>) -> Result<usize, MfaError> {
        let uid = user.mfa_user_id();
        if !self.has_confirmed_factor(&uid).await? {
            return Ok(0);
        }
        Ok(self.unused_codes(&uid).await?.len())
    }

    async fn unused_codes(&self, uid: &Id) -> Result<Vec<(String, String)>, DbErr> {
        let rows = self
            .db
            .query_all(
                Query::select()
                    .columns([MfaBackupCodes::Id, MfaBackupCodes::CodeHash])
                    .from(MfaBackupCodes::Table)
                    .and_where(Expr::col(MfaBackupCodes::UserId).eq(uid.to_db_value()))
                    .and_where(Expr::col(MfaBackupCodes::IsUsed).eq(false)),
            )
            .await?;
        rows.iter().map(|r| Ok((get(r, MfaBackupCodes::Id)?, get(r, MfaBackupCodes::CodeHash)?))).collect()
    }

    /// Checks a backup code now: `Ok(true)` consumes it (exactly once, even when requests
    /// race: the winner is the one `UPDATE … WHERE is_used = false` changed). A code backs up a
    /// factor: while the user has none confirmed, every code is refused (and the user's first
    /// factor, once confirmed, keeps only the codes made with or after it). Case, spaces and
    /// dashes are ignored. Wrong and used codes return `Ok(false)` and count towards the
    /// throttle. A backup code is the recovery: it is checked even when too many consecutive
    /// failures locked the TOTP and SMS codes (only the timed lockout applies), and its success
    /// ends that lock.
    pub async fn verify_backup_code(&self, user: &impl MfaUser<Id = Id>, code: &str) -> Result<bool, MfaError> {
        self.verify_backup_code_at(user, code, Utc::now()).await
    }

    /// [`verify_backup_code`](Self::verify_backup_code) at instant `at`.
    pub async fn verify_backup_code_at(
        &self,
        user: &impl MfaUser<Id = Id>,
        code: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, MfaError> {
        let attempt = Attempt { user, method: MfaMethod::BackupCode, factor: Factor::Recovery, at };
        let length = self.config.backup_code_length;
        self.verify_attempt(
            attempt,
            code,
            |code| normalize(code, length),
            |code| async move {
                let uid = user.mfa_user_id();
                if !self.has_confirmed_factor(&uid).await? {
                    // Codes made by a `setupTotp` not confirmed yet: they back up a factor, and
                    // there is none to back up (anyone with the password could have made them).
                    return Ok(Checked::Refused("no confirmed factor to back up"));
                }
                let candidates = self.unused_codes(&uid).await?;
                if candidates.is_empty() {
                    return Ok(Checked::Refused("no unused backup codes"));
                }
                let hasher = argon2(&self.config.backup_code_hashing)?;
                let matched = tokio::task::spawn_blocking(move || {
                    candidates.into_iter().find_map(|(id, hash)| {
                        let parsed = PasswordHash::new(&hash).ok()?;
                        hasher.verify_password(code.as_bytes(), &parsed).is_ok().then_some(id)
                    })
                })
                .await
                .map_err(|e| MfaError::Config(format!("backup-code check task failed: {e}")))?;
                let Some(id) = matched else {
                    return Ok(Checked::Refused("invalid code"));
                };
                let consumed = self
                    .db
                    .execute(
                        Query::update()
                            .table(MfaBackupCodes::Table)
                            .value(MfaBackupCodes::IsUsed, true)
                            .value(MfaBackupCodes::UsedAt, at)
                            .and_where(Expr::col(MfaBackupCodes::Id).eq(id))
                            .and_where(Expr::col(MfaBackupCodes::IsUsed).eq(false)),
                    )
                    .await?;
                Ok(if consumed.rows_affected() == 1 {
                    Checked::Accepted { confirmed: None }
                } else {
                    Checked::Refused("code already used")
                })
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_the_alphabet_and_normalize() {
        let code = new_code(8);
        assert_eq!(code.len(), 9);
        assert_eq!(&code[4..5], "-");
        let plain = normalize(&code.to_lowercase().replace('-', " "), 8).unwrap();
        assert_eq!(*plain, code.replace('-', ""));
        assert!(normalize("ABCD-EFG0", 8).is_none(), "0 is not in the alphabet");
        assert!(normalize("ABCD-EFG", 8).is_none());
    }
}
