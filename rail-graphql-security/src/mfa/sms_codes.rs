//! SMS codes: CSPRNG digits, stored as a keyed hash, expiring, single-use, resend-throttled.

use chrono::{DateTime, Utc};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use subtle::ConstantTimeEq;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::attempt::{Attempt, Checked, Verdict};
use super::error::MfaError;
use super::manager::{DeviceRow, MfaManager, MfaUser, NewDevice, actor, check_name, normalize_digits};
use super::method::MfaMethod;
use super::store::{MfaDevices, MfaUserId, get};
use super::throttle::Factor;

/// Wrong tries after which a sent code stops working (a new one must be sent).
pub const MAX_SMS_CODE_ATTEMPTS: i32 = 5;

/// The number in E.164 form (`+` and 7 to 15 digits, no leading zero) after dropping spaces,
/// dashes, dots and parentheses.
pub(crate) fn normalize_phone(phone: &str) -> Result<String, MfaError> {
    let phone: String = phone.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = phone.strip_prefix('+').ok_or(MfaError::InvalidPhoneNumber)?;
    if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return Err(MfaError::InvalidPhoneNumber);
    }
    Ok(phone)
}

/// A code made for one device: the digits to send, and what its row keeps of them.
pub(crate) struct SmsCode {
    digits: Zeroizing<String>,
    pub(crate) key_id: String,
    pub(crate) mac: String,
    pub(crate) sent_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
}

fn code_input(device_id: &Uuid, code: &str) -> Zeroizing<String> {
    Zeroizing::new(format!("{device_id}:{code}"))
}

impl<Id: MfaUserId> MfaManager<Id> {
    /// Registers a phone (E.164) as a new, unconfirmed SMS device and sends it a code; the
    /// device becomes a second factor when [`verify_sms_code`](Self::verify_sms_code) accepts
    /// that code. Earlier unconfirmed SMS enrolments are dropped (of concurrent setups, each
    /// one within the quotas sends its code, and a code sent to an enrolment dropped by a
    /// later setup no longer confirms anything). Refused with
    /// [`MfaError::SmsCountryNotAllowed`] outside the allowed countries, and with
    /// [`MfaError::RateLimited`] beyond `max_pending_devices` or an SMS quota (nothing is
    /// changed then; after a provider failure the device is kept and `send_sms_code` may try
    /// again).
    pub async fn setup_sms_device(
        &self,
        user: &impl MfaUser<Id = Id>,
        phone_number: &str,
        device_name: &str,
    ) -> Result<Uuid, MfaError> {
        let name = check_name(device_name)?;
        let phone = normalize_phone(phone_number)?;
        if self.sms.is_none() {
            self.audit(|l, ip| l.log_mfa_failed(&actor(user), ip, "sms", "no SMS provider configured"));
            return Err(MfaError::NoSmsProvider);
        }
        self.check_sms_country(user, &phone)?;
        // The limits first: a refused setup leaves the user's pending enrolment alone, and
        // the pending-device cap refuses before a quota unit is spent.
        self.check_pending_devices(&self.db, user, MfaMethod::Sms).await?;
        let quota = self.take_sms_quota(user, &phone).await?;
        let uid = user.mfa_user_id();
        let device_id = Uuid::new_v4();
        let is_primary = !self.has_confirmed_factor(&uid).await?;
        // The device is born with its code, not given one by a later compare-and-set: a
        // concurrent setup may replace this enrolment at any moment, and the quota unit taken
        // above must then still pay for a message, not for a spurious "resend throttled".
        let code = self.new_code(device_id, Utc::now())?;
        let sms = Some((phone.as_str(), &code));
        let device = NewDevice { id: device_id, kind: MfaMethod::Sms, name, sealed: None, sms, is_primary };
        // Refused at the locked recount (a racing setup took the pending slot) or failed:
        // nothing is sent, so the units go back.
        if let Err(e) = self.enrol_device(user, device).await {
            self.refund_sms_quota(quota).await;
            return Err(e);
        }
        self.deliver(user, device_id, &phone, &code).await?;
        Ok(device_id)
    }

    /// Sends a new code to the user's SMS device (the primary confirmed one, else the pending
    /// enrolment). Fails with [`MfaError::SmsResendThrottled`] when the last code was sent less
    /// than `sms_resend_interval` ago, and with [`MfaError::RateLimited`] beyond an SMS quota.
    pub async fn send_sms_code(&self, user: &impl MfaUser<Id = Id>) -> Result<(), MfaError> {
        self.send_sms_code_at(user, Utc::now()).await
    }

    /// [`send_sms_code`](Self::send_sms_code) at instant `at`.
    pub async fn send_sms_code_at(&self, user: &impl MfaUser<Id = Id>, at: DateTime<Utc>) -> Result<(), MfaError> {
        let mut devices = self.active_devices(&user.mfa_user_id(), MfaMethod::Sms).await?;
        devices.sort_by_key(|d| (!d.device.confirmed, !d.device.is_primary));
        let device = devices.first().ok_or(MfaError::NoDevice { method: "sms" })?;
        let phone = device.phone_number.clone().ok_or(MfaError::InvalidPhoneNumber)?;
        self.send_code_to(user, device.id, &phone, at).await
    }

    async fn send_code_to(
        &self,
        user: &impl MfaUser<Id = Id>,
        device_id: Uuid,
        phone: &str,
        at: DateTime<Utc>,
    ) -> Result<(), MfaError> {
        if self.sms.is_none() {
            self.audit(|l, ip| l.log_mfa_failed(&actor(user), ip, "sms", "no SMS provider configured"));
            return Err(MfaError::NoSmsProvider);
        }
        // A device registered before the allow-list changed is held to it too.
        self.check_sms_country(user, phone)?;
        let code = self.new_code(device_id, at)?;
        let interval = self.resend_interval();
        // Compare-and-set on the last send time: two concurrent requests send one SMS.
        let stored = self
            .db
            .execute(
                Query::update()
                    .table(MfaDevices::Table)
                    .value(MfaDevices::SmsCodeHash, code.mac.clone())
                    .value(MfaDevices::KeyId, code.key_id.clone())
                    .value(MfaDevices::SmsCodeExpiresAt, code.expires_at)
                    .value(MfaDevices::SmsCodeSentAt, code.sent_at)
                    .value(MfaDevices::SmsCodeAttempts, 0i32)
                    .and_where(Expr::col(MfaDevices::Id).eq(device_id.to_string()))
                    .and_where(
                        Expr::col(MfaDevices::SmsCodeSentAt)
                            .is_null()
                            .or(Expr::col(MfaDevices::SmsCodeSentAt).lte(at - interval)),
                    ),
            )
            .await?;
        if stored.rows_affected() != 1 {
            let row = self
                .db
                .query_one(
                    Query::select()
                        .column(MfaDevices::SmsCodeSentAt)
                        .from(MfaDevices::Table)
                        .and_where(Expr::col(MfaDevices::Id).eq(device_id.to_string())),
                )
                .await?;
            let sent: Option<DateTime<Utc>> = match row {
                Some(row) => get(&row, MfaDevices::SmsCodeSentAt)?,
                None => None,
            };
            return Err(MfaError::SmsResendThrottled { retry_after: sent.unwrap_or(at) + interval });
        }
        // Every message counts, whichever call asked for it: after the resend interval (a
        // refused resend costs no quota), before the provider is paid.
        if let Err(e) = self.take_sms_quota(user, phone).await {
            self.withdraw_code(device_id, &code.mac).await?;
            return Err(e);
        }
        // The units stay spent even if the provider fails: the message may have gone out.
        self.deliver(user, device_id, phone, &code).await
    }

    fn resend_interval(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.sms_resend_interval).unwrap_or(chrono::Duration::minutes(1))
    }

    /// Fresh CSPRNG digits for `device_id`, sent at `at`, with the keyed hash the row keeps.
    fn new_code(&self, device_id: Uuid, at: DateTime<Utc>) -> Result<SmsCode, MfaError> {
        // The thread-local generator is not `Send`: it never lives across an `.await`.
        let digits: Zeroizing<String> = {
            let mut rng = rand::rng();
            Zeroizing::new(
                (0..self.config.sms_code_digits).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect(),
            )
        };
        let (key_id, mac) = self.cipher.code_mac(None, code_input(&device_id, &digits).as_bytes())?;
        let ttl = chrono::Duration::from_std(self.config.sms_code_ttl).unwrap_or(chrono::Duration::minutes(10));
        Ok(SmsCode { digits, key_id, mac, sent_at: at, expires_at: at + ttl })
    }

    /// Sends a stored code through the provider; on failure the code is withdrawn, so the
    /// user may ask again at once.
    async fn deliver(
        &self,
        user: &impl MfaUser<Id = Id>,
        device_id: Uuid,
        phone: &str,
        code: &SmsCode,
    ) -> Result<(), MfaError> {
        let Some(provider) = self.sms.clone() else {
            self.audit(|l, ip| l.log_mfa_failed(&actor(user), ip, "sms", "no SMS provider configured"));
            return Err(MfaError::NoSmsProvider);
        };
        let minutes = Ord::max((code.expires_at - code.sent_at).num_minutes(), 1);
        let body = Zeroizing::new(format!(
            "Your {} verification code is {}. It expires in {minutes} minutes.",
            self.config.totp_issuer, *code.digits
        ));
        if let Err(e) = provider.send(phone, &body).await {
            self.withdraw_code(device_id, &code.mac).await?;
            let name = provider.name();
            self.audit(|l, ip| {
                l.log_mfa_failed(&actor(user), ip, "sms", &format!("SMS provider {name} failed to send the code"))
            });
            return Err(e.into());
        }
        Ok(())
    }

    /// Erases a code that was not sent (unless a newer one replaced it).
    async fn withdraw_code(&self, device_id: Uuid, mac: &str) -> Result<(), MfaError> {
        self.db
            .execute(
                Query::update()
                    .table(MfaDevices::Table)
                    .value(MfaDevices::SmsCodeHash, Option::<String>::None)
                    .value(MfaDevices::SmsCodeSentAt, Option::<DateTime<Utc>>::None)
                    .and_where(Expr::col(MfaDevices::Id).eq(device_id.to_string()))
                    .and_where(Expr::col(MfaDevices::SmsCodeHash).eq(mac)),
            )
            .await?;
        Ok(())
    }

    /// Checks an SMS code now. See [`verify_sms_code_at`](Self::verify_sms_code_at).
    pub async fn verify_sms_code(&self, user: &impl MfaUser<Id = Id>, code: &str) -> Result<bool, MfaError> {
        self.verify_sms_code_at(user, code, Utc::now()).await
    }

    /// Checks an SMS code at instant `at`: `Ok(true)` once for an unexpired code (the code is
    /// erased by a compare-and-set `UPDATE`), confirming a new SMS device. A code stops
    /// working after [`MAX_SMS_CODE_ATTEMPTS`] wrong tries; failures count towards the
    /// per-user throttle. One transaction under the user's throttle row lock, like a TOTP code.
    pub async fn verify_sms_code_at(
        &self,
        user: &impl MfaUser<Id = Id>,
        code: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, MfaError> {
        self.sms_verdict(user, code, at).await.map(Verdict::passed)
    }

    /// [`verify_sms_code_at`](Self::verify_sms_code_at), saying whether the code confirmed the
    /// user's first factor.
    pub(crate) async fn sms_verdict(
        &self,
        user: &impl MfaUser<Id = Id>,
        code: &str,
        at: DateTime<Utc>,
    ) -> Result<Verdict, MfaError> {
        let uid = user.mfa_user_id();
        let attempt = Attempt { user, method: MfaMethod::Sms, factor: Factor::Code, at };
        let normalize = |code: &str| normalize_digits(code, self.config.sms_code_digits);
        let check = async |txn: &DatabaseTransaction, devices: &[DeviceRow], code: String| {
            let mut reason = "invalid code";
            for device in devices {
                let Some(stored) = &device.sms_code_hash else { continue };
                if device.sms_code_expires_at.is_none_or(|e| e <= at) {
                    reason = "code expired";
                    continue;
                }
                if device.sms_code_attempts >= MAX_SMS_CODE_ATTEMPTS {
                    reason = "too many wrong tries for this code";
                    continue;
                }
                let input = code_input(&device.id, &code);
                let Ok((_, mac)) = self.cipher.code_mac(device.key_id.as_deref(), input.as_bytes()) else {
                    continue;
                };
                if !bool::from(mac.as_bytes().ct_eq(stored.as_bytes())) {
                    continue;
                }
                if Self::consume_sms_code(txn, device.id, mac, at).await? {
                    return Ok(Checked::Accepted { confirmed: (!device.device.confirmed).then(|| device.into()) });
                }
                reason = "code already used";
            }
            Self::count_wrong_sms_code(txn, &uid).await?;
            Ok(Checked::Refused(reason))
        };
        self.verify_locked_attempt(attempt, code, normalize, check).await
    }

    /// Erases a matching code (once, by a compare-and-set) and confirms its device: true when
    /// this call consumed it.
    async fn consume_sms_code(
        txn: &DatabaseTransaction,
        device_id: Uuid,
        mac: String,
        at: DateTime<Utc>,
    ) -> Result<bool, MfaError> {
        let consumed = txn
            .execute(
                Query::update()
                    .table(MfaDevices::Table)
                    .value(MfaDevices::SmsCodeHash, Option::<String>::None)
                    .value(MfaDevices::SmsCodeExpiresAt, Option::<DateTime<Utc>>::None)
                    .value(MfaDevices::Confirmed, true)
                    .value(MfaDevices::LastUsed, at)
                    .and_where(Expr::col(MfaDevices::Id).eq(device_id.to_string()))
                    .and_where(Expr::col(MfaDevices::SmsCodeHash).eq(mac))
                    .and_where(Expr::col(MfaDevices::SmsCodeAttempts).lt(MAX_SMS_CODE_ATTEMPTS)),
            )
            .await?;
        Ok(consumed.rows_affected() == 1)
    }

    /// A wrong code counts against every code the user's SMS devices hold.
    async fn count_wrong_sms_code(txn: &DatabaseTransaction, uid: &Id) -> Result<(), MfaError> {
        txn.execute(
            Query::update()
                .table(MfaDevices::Table)
                .value(MfaDevices::SmsCodeAttempts, Expr::col(MfaDevices::SmsCodeAttempts).add(1))
                .and_where(Expr::col(MfaDevices::UserId).eq(uid.to_db_value()))
                .and_where(Expr::col(MfaDevices::DeviceType).eq(MfaMethod::Sms.as_str()))
                .and_where(Expr::col(MfaDevices::SmsCodeHash).is_not_null()),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_must_be_e164() {
        assert_eq!(normalize_phone("+1 (415) 555-0123").unwrap(), "+14155550123");
        for bad in ["14155550123", "+0123456789", "+1 415 CALL NOW", "+123", "+1234567890123456", ""] {
            assert!(matches!(normalize_phone(bad), Err(MfaError::InvalidPhoneNumber)), "{bad}");
        }
    }
}
