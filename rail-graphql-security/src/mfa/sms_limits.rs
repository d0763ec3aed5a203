//! What limits the SMS the runtime sends and the enrolments a user may leave pending: the
//! quotas of [`SmsQuotas`](super::SmsQuotas) counted in the manager's
//! [`RateLimiter`], the allow-list of destination countries, and the cap on unconfirmed
//! devices. Every refusal is audited as `rate_limit_exceeded` (never with the phone number).

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use serde_json::json;

use super::error::MfaError;
use super::manager::{MfaManager, MfaUser, actor};
use super::method::MfaMethod;
use super::store::{MfaDevices, MfaUserId};
use crate::audit::{AuditEvent, AuditEventType};
use crate::rate_limit::{Decision, Quota, hashed_identifier};

/// Whether SMS may go to `phone` (normalised E.164) under `allowed` country calling codes
/// (empty: every country). Calling codes are prefix-free, so a prefix match is exact.
pub(crate) fn country_allowed(allowed: &[String], phone: &str) -> bool {
    let digits = phone.trim_start_matches('+');
    allowed.is_empty() || allowed.iter().any(|code| digits.starts_with(code.as_str()))
}

/// The quota units one message took (scope and key of each), to give back if it is not sent.
#[must_use = "a message not sent must give its units back"]
pub(crate) struct SmsQuotaTaken(Vec<(&'static str, String)>);

impl<Id: MfaUserId> MfaManager<Id> {
    /// Refuses a destination outside the allowed countries (audited as a failed SMS setup).
    pub(crate) fn check_sms_country(&self, user: &impl MfaUser<Id = Id>, phone: &str) -> Result<(), MfaError> {
        if country_allowed(&self.config.sms_allowed_country_codes, phone) {
            return Ok(());
        }
        self.audit(|l, ip| l.log_mfa_failed(&actor(user), ip, "sms", "destination country not allowed"));
        Err(MfaError::SmsCountryNotAllowed)
    }

    /// Counts one SMS to `phone` against each quota in turn (per user, per number, per client
    /// address (IPv6: per /64), global); the first that refuses stops the count and the
    /// message, and the units the quotas before it took are given back: a refused message
    /// costs no quota (an attacker exhausting the global quota does not drain the users' own
    /// quotas as well).
    /// What it took is given back with [`refund_sms_quota`](Self::refund_sms_quota) when the
    /// message is not sent after all.
    pub(crate) async fn take_sms_quota(
        &self,
        user: &impl MfaUser<Id = Id>,
        phone: &str,
    ) -> Result<SmsQuotaTaken, MfaError> {
        let q = &self.config.sms_quotas;
        let address = self.client_ip.map(crate::client_ip::rate_limit_key);
        let mut checks: Vec<(&'static str, &'static str, String, Quota)> = vec![
            ("sms_per_user", "mfa_sms_user", hashed_identifier(&user.mfa_user_id().to_key()), q.per_user),
            ("sms_per_number", "mfa_sms_number", hashed_identifier(phone), q.per_number),
        ];
        if let Some(address) = address {
            checks.push(("sms_per_address", "mfa_sms_address", address, q.per_address));
        }
        checks.push(("sms_global", "mfa_sms_global", "all".to_owned(), q.global));
        let mut taken = SmsQuotaTaken(Vec::with_capacity(checks.len()));
        for (what, scope, key, quota) in checks {
            match self.limiter.hit(scope, &key, quota).await {
                Ok(Decision::Limited { count, retry_after, .. }) => {
                    self.refund_sms_quota(taken).await;
                    self.audit_rate_limited(user, what, count, quota);
                    return Err(MfaError::RateLimited { what, retry_after: Some(retry_after) });
                }
                Ok(_) => taken.0.push((scope, key)),
                Err(e) => {
                    self.refund_sms_quota(taken).await;
                    return Err(e.into());
                }
            }
        }
        Ok(taken)
    }

    /// Gives back the units `taken` for a message that was not sent. A refund the limiter
    /// cannot make (Redis unreachable) is logged: the unit stays spent, which errs on the
    /// side of fewer messages.
    pub(crate) async fn refund_sms_quota(&self, taken: SmsQuotaTaken) {
        for (scope, key) in taken.0 {
            if let Err(e) = self.limiter.refund(scope, &key).await {
                tracing::warn!(scope, error = %e, "could not give back an SMS quota unit");
            }
        }
    }

    /// Refuses a new enrolment of `replacing` while the user has `max_pending_devices`
    /// unconfirmed TOTP or SMS devices, not counting the pending enrolment of `replacing`
    /// that the new one replaces. Counted on `conn`: the pool for the early check a setup
    /// makes before it spends anything, and the enrolment's transaction, under the user's
    /// row lock, for the check that holds ([`MfaManager::enrol_device`]).
    pub(crate) async fn check_pending_devices(
        &self,
        conn: &impl ConnectionTrait,
        user: &impl MfaUser<Id = Id>,
        replacing: MfaMethod,
    ) -> Result<(), MfaError> {
        let rows = conn
            .query_all(
                Query::select()
                    .column(MfaDevices::Id)
                    .from(MfaDevices::Table)
                    .and_where(Expr::col(MfaDevices::UserId).eq(user.mfa_user_id().to_db_value()))
                    .and_where(Expr::col(MfaDevices::DeviceType).is_in(
                        [MfaMethod::Totp, MfaMethod::Sms].into_iter().filter(|m| *m != replacing).map(|m| m.as_str()),
                    ))
                    .and_where(Expr::col(MfaDevices::IsActive).eq(true))
                    .and_where(Expr::col(MfaDevices::Confirmed).eq(false)),
            )
            .await?;
        let cap = self.config.max_pending_devices;
        let pending = u64::try_from(rows.len()).unwrap_or(u64::MAX);
        if pending < u64::from(cap) {
            return Ok(());
        }
        self.audit_rate_limited(user, "pending_devices", pending + 1, Quota::new(cap, std::time::Duration::ZERO));
        Err(MfaError::RateLimited { what: "pending_devices", retry_after: None })
    }

    fn audit_rate_limited(&self, user: &impl MfaUser<Id = Id>, what: &'static str, count: u64, quota: Quota) {
        self.audit(|l, ip| {
            let window = if what == "pending_devices" { None } else { Some(quota.window.as_secs()) };
            let details = json!({
                "limit_type": what, "current_count": count, "limit": quota.limit, "window_seconds": window,
            });
            l.log(
                AuditEvent::new(AuditEventType::RateLimitExceeded).actor(&actor(user)).client_ip(ip).details(details),
            );
        });
    }
}

#[cfg(test)]
mod tests {
    use super::country_allowed;

    #[test]
    fn countries_match_by_calling_code() {
        let allowed = vec!["1".to_owned(), "33".to_owned()];
        assert!(country_allowed(&allowed, "+14155550123"));
        assert!(country_allowed(&allowed, "+33612345678"));
        assert!(!country_allowed(&allowed, "+447700900123"));
        assert!(!country_allowed(&allowed, "+3212345678"));
        assert!(country_allowed(&[], "+447700900123"), "an empty list allows every country");
    }
}
