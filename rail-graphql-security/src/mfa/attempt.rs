//! The order every second-factor check follows: reserve an attempt in the throttle, normalise
//! the input, let the method check it, then record the success or the failure and audit it.
//! TOTP and SMS codes run it in one transaction under the throttle row's lock
//! ([`MfaManager::verify_locked_attempt`]), so a verification costs one commit. Backup codes
//! run it in autocommit steps ([`MfaManager::verify_attempt`]): a lock must not be held across
//! their Argon2id hashing.

use std::future::Future;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait};

use super::error::MfaError;
use super::manager::{DeviceRow, MfaManager, MfaUser, NewFactor, actor};
use super::method::MfaMethod;
use super::store::MfaUserId;
use super::throttle::{self, Bucket, Factor, Failure};

/// What a method's check made of a well-formed code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checked {
    /// Accepted. `confirmed`: the code was the first from a new device, which now counts as a
    /// second factor (audited as enabled; [`MfaManager::settle_enrolments`] runs).
    Accepted { confirmed: Option<NewFactor> },
    /// Refused, for the audited reason.
    Refused(&'static str),
}

/// What a verification concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The code did not pass (the failure is recorded).
    Refused,
    /// The code passed. `first_factor`: it confirmed a new device while the user had no other
    /// confirmed factor, decided in the transaction that confirmed it
    /// ([`MfaManager::settle_enrolments`]).
    Passed { first_factor: bool },
}

impl Verdict {
    /// Whether the code passed.
    pub(crate) fn passed(self) -> bool {
        matches!(self, Verdict::Passed { .. })
    }
}

/// One attempt at a second factor: whose, with which method, when.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt<'a, U> {
    pub(crate) user: &'a U,
    pub(crate) method: MfaMethod,
    /// Whether the lock after too many consecutive failures applies.
    pub(crate) factor: Factor,
    pub(crate) at: DateTime<Utc>,
}

impl<Id: MfaUserId> MfaManager<Id> {
    /// Runs one attempt in the security-critical order:
    /// 1. reserve the attempt in the throttle, so a locked user's input is never looked at and
    ///    concurrent guesses get at most the threshold's worth of checks;
    /// 2. normalise the input; a malformed one fails (and spends the attempt);
    /// 3. `check` the normalised input (replay protection is the check's compare-and-set);
    /// 4. record the success (every lock ends) or the failure (back-off, lockout, hard lock),
    ///    with its audit events.
    ///
    /// `Ok(true)` on success, `Ok(false)` on failure, [`MfaError::Locked`] or
    /// [`MfaError::LockedUntilRecovery`] while throttled; an error of `check` is returned as is,
    /// with nothing recorded.
    pub(crate) async fn verify_attempt<U, Input, Fut>(
        &self,
        attempt: Attempt<'_, U>,
        code: &str,
        normalize: impl FnOnce(&str) -> Option<Input>,
        check: impl FnOnce(Input) -> Fut,
    ) -> Result<bool, MfaError>
    where
        U: MfaUser<Id = Id>,
        Fut: Future<Output = Result<Checked, MfaError>>,
    {
        let uid = attempt.user.mfa_user_id();
        let state = throttle::read(&self.db, &uid).await?;
        let bucket = state.as_ref().map_or(Bucket::Other, |state| state.bucket(self.client_ip, attempt.at));
        self.reserve_attempt(&uid, attempt.factor, bucket, attempt.at).await?;
        let Some(input) = normalize(code) else {
            return self.fail(attempt, bucket, "malformed code").await;
        };
        match check(input).await? {
            Checked::Accepted { confirmed } => {
                let (user, method) = (attempt.user, attempt.method.as_str());
                if confirmed.is_some() {
                    self.audit(|l, ip| l.log_mfa_enabled(&actor(user), ip, method));
                }
                let pass = throttle::Pass::after_reservation(state.as_ref(), self.client_ip, attempt.at);
                throttle::pass(&self.db, &uid, pass).await?;
                self.audit(|l, ip| l.log_mfa_success(&actor(user), ip, method));
                Ok(true)
            }
            Checked::Refused(reason) => self.fail(attempt, bucket, reason).await,
        }
    }

    /// The same sequence for a code checked against the devices' stored state (TOTP, SMS), run
    /// in one transaction so that it costs one commit:
    /// 1. lock the user's throttle row and read it with the devices (one statement; the lock
    ///    holds until the commit, so concurrent guesses of the same user are checked one after
    ///    the other, each judged on the failures recorded before it; a throttled user's input
    ///    is never looked at);
    /// 2. normalise the input; a malformed one fails;
    /// 3. `check` the input against the devices in the transaction (the method's
    ///    compare-and-set, which makes a code work once);
    /// 4. record the success (a reset, only when there is something to reset) or the failure
    ///    (one `UPDATE`), commit, then audit.
    ///
    /// The [`Verdict`], or the errors of [`verify_attempt`](Self::verify_attempt); on an error
    /// nothing is recorded.
    pub(crate) async fn verify_locked_attempt<U, Input>(
        &self,
        attempt: Attempt<'_, U>,
        code: &str,
        normalize: impl FnOnce(&str) -> Option<Input>,
        check: impl AsyncFnOnce(&DatabaseTransaction, &[DeviceRow], Input) -> Result<Checked, MfaError>,
    ) -> Result<Verdict, MfaError>
    where
        U: MfaUser<Id = Id>,
    {
        let uid = attempt.user.mfa_user_id();
        let (txn, state, devices) = self.lock_attempt(&uid, attempt.method, attempt.at).await?;
        let bucket = state.bucket(self.client_ip, attempt.at);
        if let Some(refusal) = state.refusal(self.throttle_limits(), bucket, attempt.factor, attempt.at) {
            txn.rollback().await?;
            return Err(refused(refusal));
        }
        let checked = match normalize(code) {
            None => Checked::Refused("malformed code"),
            Some(input) => check(&txn, &devices, input).await?,
        };
        match checked {
            Checked::Accepted { confirmed } => {
                throttle::pass(&txn, &uid, state.after_pass(self.client_ip, attempt.at)).await?;
                let first_factor = match confirmed {
                    Some(new) => Self::settle_enrolments(&txn, &uid, new).await?,
                    None => false,
                };
                txn.commit().await?;
                let (user, method) = (attempt.user, attempt.method.as_str());
                if confirmed.is_some() {
                    self.audit(|l, ip| l.log_mfa_enabled(&actor(user), ip, method));
                }
                self.audit(|l, ip| l.log_mfa_success(&actor(user), ip, method));
                Ok(Verdict::Passed { first_factor })
            }
            Checked::Refused(reason) => {
                let failure =
                    throttle::record_locked_failure(&txn, self.throttle_limits(), &uid, &state, bucket, attempt.at)
                        .await?;
                txn.commit().await?;
                self.audit_failure(attempt, bucket, reason, failure);
                Ok(Verdict::Refused)
            }
        }
    }

    /// Opens the attempt's transaction (`BEGIN IMMEDIATE` on SQLite: it writes in the end, and a
    /// read that later turns into a write could fail with `SQLITE_BUSY` under concurrency) and
    /// locks the user's throttle row, creating the row first if the user has none yet.
    /// [`MfaError::NoDevice`] when the user has no active device of `kind`.
    async fn lock_attempt(
        &self,
        uid: &Id,
        kind: MfaMethod,
        at: DateTime<Utc>,
    ) -> Result<(DatabaseTransaction, throttle::State, Vec<DeviceRow>), MfaError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        for _ in 0..3 {
            let txn = self.db.begin_with_options(options).await?;
            if let Some((state, devices)) = Self::lock_throttle_and_devices(&txn, uid, kind).await? {
                if devices.is_empty() {
                    txn.rollback().await?;
                    return Err(MfaError::NoDevice { method: kind.as_str() });
                }
                return Ok((txn, state, devices));
            }
            txn.rollback().await?;
            // The user's first attempt: nothing to throttle without a device, else a row to lock.
            self.devices_to_try(uid, kind).await?;
            throttle::ensure_row(&self.db, uid, at).await?;
        }
        Err(DbErr::Custom("could not lock the user's mfa_throttle row".to_owned()).into())
    }

    fn throttle_limits(&self) -> throttle::Limits<'_> {
        throttle::Limits {
            throttle: &self.config.throttle,
            max_consecutive_failures: self.config.max_consecutive_failures,
        }
    }

    /// Fails while the user is throttled in `bucket`; otherwise reserves this attempt there
    /// (see `throttle::reserve_attempt`).
    async fn reserve_attempt(
        &self,
        uid: &Id,
        factor: Factor,
        bucket: Bucket,
        at: DateTime<Utc>,
    ) -> Result<(), MfaError> {
        throttle::reserve_attempt(&self.db, self.throttle_limits(), factor, bucket, uid, at).await?.map_err(refused)
    }

    /// Records a failed attempt in `bucket` and audits it, with the lockout it started if any.
    async fn fail<U: MfaUser<Id = Id>>(
        &self,
        attempt: Attempt<'_, U>,
        bucket: Bucket,
        reason: &'static str,
    ) -> Result<bool, MfaError> {
        let failure =
            throttle::record_failure(&self.db, self.throttle_limits(), &attempt.user.mfa_user_id(), bucket, attempt.at)
                .await?;
        self.audit_failure(attempt, bucket, reason, failure);
        Ok(false)
    }

    /// Audits a recorded failure, with the lockout it started if any (and from which addresses:
    /// a lock of the known ones says so).
    fn audit_failure<U: MfaUser<Id = Id>>(
        &self,
        attempt: Attempt<'_, U>,
        bucket: Bucket,
        reason: &'static str,
        failure: Failure,
    ) {
        let (user, method) = (attempt.user, attempt.method.as_str());
        self.audit(|l, ip| {
            let actor = actor(user);
            l.log_mfa_failed(&actor, ip, method, reason);
            if failure.hard_locked {
                let reason = format!(
                    "too many consecutive failed second-factor attempts{}: codes locked until recovery",
                    bucket.describe()
                );
                l.log_account_locked(&actor, ip, &reason, None);
            } else if failure.locked_out {
                let reason = format!("too many failed second-factor attempts{}", bucket.describe());
                l.log_account_locked(&actor, ip, &reason, failure.locked_until);
            }
        });
    }

    /// An administrator's recovery: ends every lock of the user's second factor (the timed
    /// lockout and the lock after `max_consecutive_failures`, from every address) and starts
    /// the failure counts again. Logged as `account_unlocked`.
    pub async fn unlock(&self, user: &impl MfaUser<Id = Id>) -> Result<(), MfaError> {
        throttle::reset(&self.db, &user.mfa_user_id()).await?;
        self.audit(|l, ip| l.log_account_unlocked(&actor(user), ip, "second factor unlocked by an administrator"));
        Ok(())
    }

    /// Whether too many consecutive failures locked the user's TOTP and SMS codes until a
    /// recovery (a backup code or [`unlock`](Self::unlock)), for attempts from this manager's
    /// client address ([`with_client_ip`](Self::with_client_ip)): the addresses the user
    /// passed from before have counts of their own.
    pub async fn is_locked_until_recovery(&self, user: &impl MfaUser<Id = Id>) -> Result<bool, MfaError> {
        let max = self.config.max_consecutive_failures;
        Ok(throttle::is_hard_locked(&self.db, max, &user.mfa_user_id(), self.client_ip).await?)
    }
}

/// The error for an attempt the throttle refuses.
fn refused(refusal: throttle::Refusal) -> MfaError {
    match refusal {
        throttle::Refusal::Until(until) => MfaError::Locked { until },
        throttle::Refusal::UntilRecovery => MfaError::LockedUntilRecovery,
    }
}
