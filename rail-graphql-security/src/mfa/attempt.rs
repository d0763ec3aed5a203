//! The order every second-factor check follows, written once: reserve an attempt in the
//! throttle, normalise the input, let the method check it, then record the success or the
//! failure and audit it. TOTP, SMS and backup codes differ only in the check.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::error::MfaError;
use super::manager::{MfaManager, MfaUser, actor};
use super::method::MfaMethod;
use super::store::MfaUserId;
use super::throttle::{self, Factor};

/// What a method's check made of a well-formed code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checked {
    /// Accepted. `confirmed_device`: the code was the first from a new device, which now counts
    /// as a second factor (audited as enabled).
    Accepted { confirmed_device: bool },
    /// Refused, for the audited reason.
    Refused(&'static str),
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
        self.reserve_attempt(&attempt.user.mfa_user_id(), attempt.factor, attempt.at).await?;
        let Some(input) = normalize(code) else {
            return self.fail(attempt, "malformed code").await;
        };
        match check(input).await? {
            Checked::Accepted { confirmed_device } => {
                let (user, method) = (attempt.user, attempt.method.as_str());
                if confirmed_device {
                    self.audit(|l, ip| l.log_mfa_enabled(&actor(user), ip, method));
                }
                throttle::reset(&self.db, &user.mfa_user_id()).await?;
                self.audit(|l, ip| l.log_mfa_success(&actor(user), ip, method));
                Ok(true)
            }
            Checked::Refused(reason) => self.fail(attempt, reason).await,
        }
    }

    fn throttle_limits(&self) -> throttle::Limits<'_> {
        throttle::Limits {
            throttle: &self.config.throttle,
            max_consecutive_failures: self.config.max_consecutive_failures,
        }
    }

    /// Fails while the user is throttled; otherwise reserves this attempt (see
    /// `throttle::reserve_attempt`).
    async fn reserve_attempt(&self, uid: &Id, factor: Factor, at: DateTime<Utc>) -> Result<(), MfaError> {
        match throttle::reserve_attempt(&self.db, self.throttle_limits(), factor, uid, at).await? {
            Ok(()) => Ok(()),
            Err(throttle::Refusal::Until(until)) => Err(MfaError::Locked { until }),
            Err(throttle::Refusal::UntilRecovery) => Err(MfaError::LockedUntilRecovery),
        }
    }

    /// Records a failed attempt and audits it, with the lockout it started if any.
    async fn fail<U: MfaUser<Id = Id>>(&self, attempt: Attempt<'_, U>, reason: &'static str) -> Result<bool, MfaError> {
        let (user, method) = (attempt.user, attempt.method.as_str());
        let failure =
            throttle::record_failure(&self.db, self.throttle_limits(), &user.mfa_user_id(), attempt.at).await?;
        self.audit(|l, ip| {
            let actor = actor(user);
            l.log_mfa_failed(&actor, ip, method, reason);
            if failure.hard_locked {
                l.log_account_locked(
                    &actor,
                    ip,
                    "too many consecutive failed second-factor attempts: codes locked until recovery",
                    None,
                );
            } else if failure.locked_out {
                l.log_account_locked(&actor, ip, "too many failed second-factor attempts", failure.locked_until);
            }
        });
        Ok(false)
    }

    /// An administrator's recovery: ends every lock of the user's second factor (the timed
    /// lockout and the lock after `max_consecutive_failures`) and starts the failure counts
    /// again. Logged as `account_unlocked`.
    pub async fn unlock(&self, user: &impl MfaUser<Id = Id>) -> Result<(), MfaError> {
        throttle::reset(&self.db, &user.mfa_user_id()).await?;
        self.audit(|l, ip| l.log_account_unlocked(&actor(user), ip, "second factor unlocked by an administrator"));
        Ok(())
    }

    /// Whether too many consecutive failures locked the user's TOTP and SMS codes until a
    /// recovery (a backup code or [`unlock`](Self::unlock)).
    pub async fn is_locked_until_recovery(&self, user: &impl MfaUser<Id = Id>) -> Result<bool, MfaError> {
        Ok(throttle::is_hard_locked(&self.db, self.config.max_consecutive_failures, &user.mfa_user_id()).await?)
    }
}
