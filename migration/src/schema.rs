//! The names of the MFA tables, the audit rollup table and their columns: the one source the
//! migrations create the tables from and the runtime's queries name them by, so the two cannot
//! drift apart.
//!
//! Each enum is a table; its `Table` variant is the table's name, the other variants its
//! columns (in `snake_case`):
//!
//! ```
//! use rail_graphql_security_migration::Iden;
//! use rail_graphql_security_migration::schema::MfaDevices;
//!
//! assert_eq!(MfaDevices::Table.to_string(), "mfa_devices");
//! assert_eq!(MfaDevices::LastTotpStep.to_string(), "last_totp_step");
//! ```

use sea_orm_migration::prelude::*;

/// `mfa_devices`: one row per TOTP or SMS device.
#[derive(DeriveIden, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaDevices {
    /// The table.
    Table,
    /// The device id, a UUID in text form (primary key).
    Id,
    /// The owner's id (see `MfaUserIdColumn`).
    UserId,
    /// `totp`, `sms` or `backup_codes`.
    DeviceType,
    /// The name the user gave the device.
    Name,
    /// The encrypted TOTP secret.
    SecretKey,
    /// The id of the key that encrypted `secret_key` or keyed `sms_code_hash`.
    KeyId,
    /// An SMS device's number (E.164).
    PhoneNumber,
    /// False once disabled.
    IsActive,
    /// The user's primary device.
    IsPrimary,
    /// Confirmed by a first valid code.
    Confirmed,
    /// The last accepted TOTP time step (replay protection).
    LastTotpStep,
    /// The keyed hash of the SMS code last sent.
    SmsCodeHash,
    /// When that SMS code expires.
    SmsCodeExpiresAt,
    /// When that SMS code was sent (resend throttle).
    SmsCodeSentAt,
    /// Wrong tries of that SMS code.
    SmsCodeAttempts,
    /// When the device was set up.
    CreatedAt,
    /// When a code from the device was last accepted.
    LastUsed,
}

/// `mfa_backup_codes`: one row per backup code.
#[derive(DeriveIden, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaBackupCodes {
    /// The table.
    Table,
    /// The code's id, a UUID in text form (primary key).
    Id,
    /// The owner's id.
    UserId,
    /// The code's Argon2id hash.
    CodeHash,
    /// True once consumed.
    IsUsed,
    /// When the code was generated.
    CreatedAt,
    /// When the code was consumed.
    UsedAt,
}

/// `trusted_devices`: one row per device that skips the second factor.
#[derive(DeriveIden, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustedDevices {
    /// The table.
    Table,
    /// The trusted device's id, a UUID in text form (primary key).
    Id,
    /// The owner's id.
    UserId,
    /// The SHA-256 of the token the client keeps (unique).
    TokenHash,
    /// The name given at registration.
    DeviceName,
    /// The user agent at registration.
    UserAgent,
    /// The client address at registration.
    IpAddress,
    /// When it was registered.
    CreatedAt,
    /// When its token was last accepted.
    LastUsed,
    /// When it stops being accepted.
    ExpiresAt,
}

/// `mfa_throttle`: one row per user with the failed second-factor attempts.
#[derive(DeriveIden, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaThrottle {
    /// The table.
    Table,
    /// The user's id (primary key).
    UserId,
    /// Failed attempts driving the back-off and the timed lockout.
    FailedAttempts,
    /// The end of the current back-off or lockout.
    LockedUntil,
    /// When the row last changed.
    UpdatedAt,
    /// Failed attempts since the last success, whatever lockouts passed (added by
    /// `AddMfaThrottleHardLock`).
    ConsecutiveFailures,
    /// When `consecutive_failures` locked the code factors until a recovery (added by
    /// `AddMfaThrottleHardLock`).
    HardLockedAt,
    /// The client addresses the user passed the second factor from, with when (added by
    /// `AddMfaThrottleKnownSources`).
    KnownSources,
    /// `failed_attempts` of the attempts from a known source (added by
    /// `AddMfaThrottleKnownSources`).
    KnownFailedAttempts,
    /// `locked_until` of the attempts from a known source (added by `AddMfaThrottleKnownSources`).
    KnownLockedUntil,
    /// `consecutive_failures` of the attempts from a known source (added by
    /// `AddMfaThrottleKnownSources`).
    KnownConsecutiveFailures,
    /// `hard_locked_at` of the attempts from a known source (added by
    /// `AddMfaThrottleKnownSources`).
    KnownHardLockedAt,
}

/// `mfa_passkeys`: one row per passkey (WebAuthn credential) of a user (added by
/// `CreateMfaPasskeyTables`).
#[derive(DeriveIden, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaPasskeys {
    /// The table.
    Table,
    /// The passkey's id, a UUID in text form (primary key).
    Id,
    /// The owner's id.
    UserId,
    /// The WebAuthn user handle: a random UUID per user, the same for all of the user's
    /// passkeys, that the authenticator returns with a discoverable credential (never the
    /// user's key or name).
    UserHandle,
    /// The credential id, base64url without padding.
    CredentialId,
    /// The SHA-256 of the raw credential id, hex (unique: a credential belongs to one user).
    CredentialIdHash,
    /// The credential as `webauthn-rs` keeps it (JSON: the COSE public key, the counter, the
    /// backup flags), which verifies the next assertion.
    Credential,
    /// The last signature counter the authenticator reported (0 when it keeps none).
    SignCount,
    /// The authenticator may back the credential up (sync it to other devices).
    BackupEligible,
    /// The credential was backed up at its last use.
    BackupState,
    /// The transports the browser reported (`usb`, `nfc`, `ble`, `internal`, `hybrid`),
    /// comma-separated.
    Transports,
    /// The authenticator model's AAGUID, when attested (all zeros with `none` attestation).
    Aaguid,
    /// The name the user gave the passkey.
    Name,
    /// When it was registered.
    CreatedAt,
    /// When it last signed a sign-in or a second factor.
    LastUsed,
}

/// `mfa_passkey_ceremonies`: registration and sign-in ceremonies between their begin and finish
/// calls, shared by every instance; each row is consumed once (added by
/// `CreateMfaPasskeyTables`).
#[derive(DeriveIden, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaPasskeyCeremonies {
    /// The table.
    Table,
    /// The ceremony id, a UUID in text form (primary key), returned by the begin call.
    Id,
    /// `registration`, `authentication` (second factor) or `sign_in` (passwordless).
    Kind,
    /// The text key of the user the ceremony is for (none for a passwordless sign-in).
    UserKey,
    /// The ceremony state (the challenge and what the finish call checks), JSON.
    State,
    /// When the ceremony stops being accepted.
    ExpiresAt,
}

/// `audit_rollup_hourly`: audit event counts per hour, type, severity and dimension (see
/// [`crate::audit_rollup`]). Its primary key is (`dim_kind`, `hour_start`, `event_type`,
/// `severity`, `dim_value`).
#[derive(DeriveIden, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditRollupHourly {
    /// The table.
    Table,
    /// What `dim_value` is: `""` (no dimension: the count of the hour, type and severity),
    /// `client_ip` or `actor_name`.
    DimKind,
    /// The start of the hour in Unix seconds (UTC, a multiple of 3600).
    HourStart,
    /// The events' type.
    EventType,
    /// The events' severity.
    Severity,
    /// The dimension's value (`""` without a dimension).
    DimValue,
    /// How many events.
    EventCount,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names existing databases have: changing one would need a migration of its own.
    #[test]
    fn names_match_the_created_tables() {
        let names = |idens: &[&dyn Iden]| idens.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        use MfaDevices as D;
        assert_eq!(
            names(&[
                &D::Table,
                &D::Id,
                &D::UserId,
                &D::DeviceType,
                &D::Name,
                &D::SecretKey,
                &D::KeyId,
                &D::PhoneNumber,
                &D::IsActive,
                &D::IsPrimary,
                &D::Confirmed,
                &D::LastTotpStep,
                &D::SmsCodeHash,
                &D::SmsCodeExpiresAt,
                &D::SmsCodeSentAt,
                &D::SmsCodeAttempts,
                &D::CreatedAt,
                &D::LastUsed,
            ]),
            "mfa_devices,id,user_id,device_type,name,secret_key,key_id,phone_number,is_active,is_primary,\
             confirmed,last_totp_step,sms_code_hash,sms_code_expires_at,sms_code_sent_at,sms_code_attempts,\
             created_at,last_used"
        );
        use MfaBackupCodes as B;
        assert_eq!(
            names(&[&B::Table, &B::Id, &B::UserId, &B::CodeHash, &B::IsUsed, &B::CreatedAt, &B::UsedAt]),
            "mfa_backup_codes,id,user_id,code_hash,is_used,created_at,used_at"
        );
        use TrustedDevices as T;
        assert_eq!(
            names(&[
                &T::Table,
                &T::Id,
                &T::UserId,
                &T::TokenHash,
                &T::DeviceName,
                &T::UserAgent,
                &T::IpAddress,
                &T::CreatedAt,
                &T::LastUsed,
                &T::ExpiresAt,
            ]),
            "trusted_devices,id,user_id,token_hash,device_name,user_agent,ip_address,created_at,last_used,expires_at"
        );
        use MfaThrottle as H;
        assert_eq!(
            names(&[
                &H::Table,
                &H::UserId,
                &H::FailedAttempts,
                &H::LockedUntil,
                &H::UpdatedAt,
                &H::ConsecutiveFailures,
                &H::HardLockedAt,
                &H::KnownSources,
                &H::KnownFailedAttempts,
                &H::KnownLockedUntil,
                &H::KnownConsecutiveFailures,
                &H::KnownHardLockedAt,
            ]),
            "mfa_throttle,user_id,failed_attempts,locked_until,updated_at,consecutive_failures,hard_locked_at,\
             known_sources,known_failed_attempts,known_locked_until,known_consecutive_failures,known_hard_locked_at"
        );
        use AuditRollupHourly as R;
        assert_eq!(
            names(&[&R::Table, &R::DimKind, &R::HourStart, &R::EventType, &R::Severity, &R::DimValue, &R::EventCount]),
            "audit_rollup_hourly,dim_kind,hour_start,event_type,severity,dim_value,event_count"
        );
    }
}
