//! The MFA GraphQL API: the roots [`MfaQuery<Id>`] and [`MfaMutation<Id>`] (generic over your
//! user key type; `#[security_user]` names them for your model as `mfa::MfaQuery` /
//! `mfa::MfaMutation`), their output types, the [`SecondFactorHook`] the host application
//! provides, and the resolver functions behind the fields, which your own resolvers can call.
//!
//! # What the resolvers need
//! - an [`MfaManager<Id>`] in the schema data (`Schema::build(..).data(manager)`), where `Id`
//!   is your user key type;
//! - a [`SecurityContext`] in the request data (the HTTP layer puts it there): the caller is its
//!   principal, whose `id` must parse as `Id`;
//! - optionally an [`MfaHook`] in the schema data: called after every successful second factor,
//!   it can return a fresh token, exposed as the payloads' `token` ([`IssueTokenHook`] issues
//!   one with the [`TokenService`]).
//!
//! # Who may do what
//! Listing (`mfaDevices`, `trustedDevices`, `mfaStatus`, `passkeys`), verifying (`verifyTotp`,
//! `verifySms`, `verifyBackupCode`, `beginPasskeyAuthentication` + `verifyPasskey`),
//! `renamePasskey` and `sendSmsCode` need an authenticated caller; the passwordless
//! `beginPasskeySignIn` + `finishPasskeySignIn` need none (limited per client address,
//! [`PASSKEY_SIGN_IN_LIMIT`]), and the session they start comes from the
//! [`SecondFactorHook::on_passkey_sign_in`] of the application; with the
//! [`PendingSessionGuard`](super::policy::PendingSessionGuard) in the schema (the default of
//! the stack), a password-only session of a user with a second factor may only verify, send an
//! SMS code (when `sms` is one of its methods) and read `mfaStatus`.
//! Changing the factors of a user who already has a confirmed one (`setupTotp`, `setupSms`,
//! `generateBackupCodes`, `removeMfaDevice`, `disableMfa`, `beginPasskeyRegistration`,
//! `removePasskey`, `revokeTrustedDevice` of another device than the one this session logged in
//! with) needs a step-up: a factor (`totp`, `sms`, `backup_code`, `passkey`) passed in this session within
//! the manager's [`step_up_window`](super::MfaConfig::step_up_window) (10 minutes by default).
//! A trusted-device login never counts, so neither a stolen password nor a trusted device alone
//! can add, replace or remove factors. A user without a confirmed factor may enrol. Refusals
//! are logged as `unauthorized_access` when an [`AuditLogger`] is in the schema data.
//!
//! Whoever knows the password of a user without a factor can log in, and that token lists no
//! methods, so it would stay a full session after the user enrols. The user's first factor
//! (`verifyTotp` or `verifySms` confirming a device, or `finishPasskeyRegistration`, while no
//! other factor is confirmed: decided in the transaction that confirms it) calls the hook's
//! [`on_first_factor`](SecondFactorHook::on_first_factor), in a task of its own that runs to the
//! end even if the client goes away after the confirmation; [`IssueTokenHook`] revokes there
//! every token of the user issued until then, and its
//! [`on_second_factor`](SecondFactorHook::on_second_factor) returns the one that replaces the
//! caller's.
//!
//! # Passkeys from a browser page
//! Passkeys are on when the configuration names a relying party (`mfa.passkeys.rp_id` and
//! `mfa.passkeys.origins`). Each ceremony is two mutations. The begin mutation's `options` is
//! WebAuthn JSON with base64url binary fields: decode `publicKey.challenge`, `publicKey.user.id`
//! and each `excludeCredentials[].id` / `allowCredentials[].id` to bytes (or use
//! `PublicKeyCredential.parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON`), call
//! `navigator.credentials.create({ publicKey })` or `.get({ publicKey })`, and send the result's
//! JSON (`JSON.stringify(credential.toJSON())`, or its ArrayBuffers base64url-encoded by hand) as
//! `credential` with the `ceremonyId`:
//!
//! | purpose | begin | finish |
//! |---|---|---|
//! | register (a discoverable credential, user verification required) | `beginPasskeyRegistration` | `finishPasskeyRegistration(ceremonyId, credential, name)` |
//! | second factor after the password | `beginPasskeyAuthentication` | `verifyPasskey(ceremonyId, credential, trustDevice, deviceName)` |
//! | passwordless sign-in (both factors) | `beginPasskeySignIn` | `finishPasskeySignIn(ceremonyId, credential)` |
//!
//! A ceremony is finished once, on any instance sharing the database, before `expiresAt`.
//!
//! # Error codes
//! Every error carries a stable `code` extension:
//!
//! | `code` | when | other extensions |
//! |---|---|---|
//! | `UNAUTHENTICATED` | no authenticated caller, or its id is not a key of this user type | |
//! | `MFA_REQUIRED` | changing factors without a second factor the user passed in this session within the step-up window | `methods`, `maxAgeSeconds` |
//! | `INVALID_CODE` | a wrong, malformed, expired or already used code | |
//! | `MFA_LOCKED` | too many failed attempts; nothing is checked until `retryAfter` | `retryAfter` (seconds), `lockedUntil` |
//! | `MFA_LOCKED` | too many consecutive failures: TOTP and SMS codes wait for a backup code (`verifyBackupCode`) or an administrator | `lockedUntilRecovery: true` |
//! | `MFA_NOT_SET_UP` | no active device of that kind (e.g. `verifyTotp` before `setupTotp`) | `method` |
//! | `NOT_FOUND` | no such device or passkey of this user | |
//! | `BAD_USER_INPUT` | a name or id out of bounds, or a passkey credential that is not WebAuthn JSON; the message says what is allowed | |
//! | `INVALID_PHONE_NUMBER` | the phone number is not in E.164 form | |
//! | `SMS_UNAVAILABLE` | no SMS provider is configured | |
//! | `SMS_NOT_SENT` | the SMS provider failed; the code is not valid | |
//! | `SMS_COUNTRY_NOT_ALLOWED` | SMS are not sent to the phone number's country | |
//! | `RATE_LIMITED` | an SMS code was sent too recently, an SMS quota (per user, number, address or overall) is used up, or too many enrolments are pending | `retryAfter` (seconds, when known), `limit` (`sms_per_user`, `sms_per_number`, `sms_per_address`, `sms_global`, `pending_devices`) |
//! | `RATE_LIMITED` | more calls than [`VERIFY_LIMIT`] (`verifyTotp`, `verifySms`, `verifyBackupCode`, `verifyPasskey`, `beginPasskeyAuthentication`, `beginPasskeyRegistration`), [`PASSKEY_SIGN_IN_LIMIT`] (`beginPasskeySignIn`, `finishPasskeySignIn`) or [`SMS_LIMIT`] (`setupSms`, `sendSmsCode`) allow | `retryAfter` (seconds) |
//! | `PASSKEYS_UNAVAILABLE` | passkeys are not configured (`mfa.passkeys.rp_id`), or `finishPasskeySignIn` has no [`SecondFactorHook::on_passkey_sign_in`] | |
//! | `PASSKEY_CEREMONY_EXPIRED` | the ceremony id is unknown, expired, already finished, or another user's: begin again | |
//! | `PASSKEY_REJECTED` | the passkey did not verify (another origin or relying party, a bad signature, a credential not allowed, a signature counter going backwards) or is registered already | |
//! | `INTERNAL_ERROR` | storage, key or configuration failure (details go to `tracing`, not to the client) | |
//!
//! Timestamps are RFC 3339 strings in UTC. Secrets never leave the server except once, in the
//! payload of the call that created them (`secretKey`, `qrCodeUrl`, `backupCodes`, the
//! trusted-device token `deviceId`).
//!
//! [`AuditLogger`]: crate::audit::AuditLogger

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, ID, SimpleObject};
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use super::attempt::Verdict;
use super::error::MfaError;
use super::manager::{MfaAccount, MfaManager, check_name};
use super::method::MfaMethod;
use super::policy::is_stepped_up;
use super::store::MfaUserId;
use crate::audit::AuditLogger;
use crate::auth::TokenService;
use crate::context::{AccessDenied, MfaLevel, MfaState, Principal, SecurityContext, audit_denial};
use crate::rate_limit::{FieldLimit, LimitKey, enforce_resolver_in};

mod roots;
pub use self::roots::{MfaMutation, MfaQuery};

/// `verifyTotp`, `verifySms`, `verifyBackupCode`, `verifyPasskey`, `beginPasskeyAuthentication`
/// and `beginPasskeyRegistration`: 10 calls a minute each per user and address,
/// counted in the manager's [`RateLimiter`](crate::rate_limit::RateLimiter). The failure
/// throttle decides about guesses; this caps how fast a client may call at all (refused calls
/// included), as `#[rate_limit]` would.
pub const VERIFY_LIMIT: FieldLimit = FieldLimit::new(10, std::time::Duration::from_secs(60)).per(LimitKey::UserAndIp);

/// `setupSms` and `sendSmsCode`: 30 calls a minute per user. Above the SMS quotas on purpose
/// (3 messages an hour per user by default), so a message over a quota is refused by the
/// quota, naming it; this caps the calls that send nothing (each refusal is audited) so they
/// cannot flood the audit log.
pub const SMS_LIMIT: FieldLimit = FieldLimit::new(30, std::time::Duration::from_secs(60)).per(LimitKey::User);

/// `setupTotp` and `generateBackupCodes`, each of which may hash a new set of backup codes with
/// Argon2id (10 codes × 19 MiB × 2 passes by default: the costliest call of the API): 10 calls
/// a minute each per user. A user without a confirmed factor needs no step-up for them, so
/// without this one account could keep a core busy.
pub const BACKUP_CODES_USER_LIMIT: FieldLimit =
    FieldLimit::new(10, std::time::Duration::from_secs(60)).per(LimitKey::User);

/// The same calls, 30 a minute each per client address: many accounts from one address.
pub const BACKUP_CODES_ADDRESS_LIMIT: FieldLimit =
    FieldLimit::new(30, std::time::Duration::from_secs(60)).per(LimitKey::Ip);

/// Refuses a call of `field` (`setupTotp`, `generateBackupCodes`) over
/// [`BACKUP_CODES_USER_LIMIT`] or [`BACKUP_CODES_ADDRESS_LIMIT`].
async fn enforce_hashing_limits(
    limiter: &crate::rate_limit::RateLimiter,
    ctx: &Context<'_>,
    field: &str,
) -> async_graphql::Result<()> {
    enforce_resolver_in(limiter, ctx, "Mutation", field, &BACKUP_CODES_ADDRESS_LIMIT).await?;
    enforce_resolver_in(limiter, ctx, "Mutation", field, &BACKUP_CODES_USER_LIMIT).await
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A second-factor device as its owner sees it (never its secret): GraphQL type `MfaDevice`.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
#[graphql(name = "MfaDevice")]
pub struct MfaDeviceNode {
    /// The device id (for `removeMfaDevice`).
    pub id: ID,
    /// Its kind.
    pub device_type: MfaMethod,
    /// The name the user gave it.
    pub name: String,
    /// For SMS devices, the phone number with all but its last two digits masked.
    pub phone_number_hint: Option<String>,
    /// False once removed.
    pub is_active: bool,
    /// The user's primary device.
    pub is_primary: bool,
    /// Confirmed by a first valid code: only confirmed devices count as a second factor.
    pub confirmed: bool,
    /// When it was set up (RFC 3339).
    pub created_at: String,
    /// When a code from it was last accepted (RFC 3339).
    pub last_used: Option<String>,
}

impl From<super::MfaDevice> for MfaDeviceNode {
    fn from(d: super::MfaDevice) -> Self {
        MfaDeviceNode {
            id: ID(d.id.to_string()),
            device_type: d.device_type,
            name: d.name,
            phone_number_hint: d.phone_number_hint,
            is_active: d.is_active,
            is_primary: d.is_primary,
            confirmed: d.confirmed,
            created_at: rfc3339(d.created_at),
            last_used: d.last_used.map(rfc3339),
        }
    }
}

/// A device that skips the second factor until it expires (its token is never shown again):
/// GraphQL type `TrustedDevice`.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
#[graphql(name = "TrustedDevice")]
pub struct TrustedDeviceNode {
    /// The id (for `revokeTrustedDevice`).
    pub id: ID,
    /// The name given when it was trusted.
    pub device_name: String,
    /// The user agent when it was trusted.
    pub user_agent: Option<String>,
    /// The client address when it was trusted.
    pub ip_address: Option<String>,
    /// When it was trusted (RFC 3339).
    pub created_at: String,
    /// When its token was last accepted (RFC 3339).
    pub last_used: String,
    /// When it stops being accepted (RFC 3339).
    pub expires_at: String,
}

impl From<super::TrustedDevice> for TrustedDeviceNode {
    fn from(d: super::TrustedDevice) -> Self {
        TrustedDeviceNode {
            id: ID(d.id.to_string()),
            device_name: d.device_name,
            user_agent: d.user_agent,
            ip_address: d.ip_address,
            created_at: rfc3339(d.created_at),
            last_used: rfc3339(d.last_used),
            expires_at: rfc3339(d.expires_at),
        }
    }
}

/// The caller's MFA state.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct MfaStatus {
    /// The user has a confirmed second factor.
    pub enabled: bool,
    /// Logging in needs a second factor (MFA is on in the configuration and the user enabled it).
    pub required: bool,
    /// The methods the user can pass: `totp`, `sms`, `backup_code`.
    pub methods: Vec<String>,
    /// Unused backup codes.
    pub backup_codes_remaining: i32,
    /// Unexpired trusted devices.
    pub trusted_devices: i32,
    /// This session passed a second factor (or came from a trusted device).
    pub session_verified: bool,
}

/// `setupTotp`'s answer: show the QR code (or the secret) and the backup codes once.
#[derive(SimpleObject, Clone, PartialEq, Eq)]
pub struct SetupTotpPayload {
    /// Always true (failures are errors).
    pub success: bool,
    /// The new, unconfirmed device: `verifyTotp` with a code from the app confirms it.
    pub device_id: ID,
    /// The secret in base32, for manual entry.
    pub secret_key: String,
    /// The `otpauth://` URI as a PNG data URL (`data:image/png;base64,…`).
    pub qr_code_url: String,
    /// The `otpauth://` URI itself.
    pub otpauth_uri: String,
    /// A first set of backup codes when the user had none (empty otherwise; see
    /// `generateBackupCodes`).
    pub backup_codes: Vec<String>,
}

impl fmt::Debug for SetupTotpPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetupTotpPayload").field("device_id", &self.device_id).finish_non_exhaustive()
    }
}

/// The answer to a successful second factor (`verifyTotp`, `verifySms`, `verifyBackupCode`).
#[derive(SimpleObject, Clone, PartialEq, Eq)]
pub struct VerifyPayload {
    /// Always true (a wrong code is an `INVALID_CODE` error).
    pub success: bool,
    /// With `trustDevice: true`: the trusted-device token the client presents at its next login
    /// to skip the second factor (shown once).
    pub device_id: Option<String>,
    /// What the application's [`SecondFactorHook`] returned: typically a fresh token carrying the
    /// MFA level.
    pub token: Option<String>,
    /// With `verifyBackupCode`: the unused backup codes left.
    pub remaining_backup_codes: Option<i32>,
}

impl fmt::Debug for VerifyPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyPayload")
            .field("success", &self.success)
            .field("device_id", &self.device_id.as_ref().map(|_| "[redacted]"))
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// `setupSms`'s answer: a code was sent; `verifySms` with it confirms the device.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct SetupSmsPayload {
    /// Always true.
    pub success: bool,
    /// The new, unconfirmed SMS device.
    pub device_id: ID,
}

/// `generateBackupCodes`' answer: the new codes, shown once; the previous ones stop working.
#[derive(SimpleObject, Clone, PartialEq, Eq)]
pub struct BackupCodesPayload {
    /// Always true.
    pub success: bool,
    /// The codes, formatted `ABCD-EFGH`.
    pub backup_codes: Vec<String>,
}

impl fmt::Debug for BackupCodesPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupCodesPayload").field("count", &self.backup_codes.len()).finish_non_exhaustive()
    }
}

/// The answer of `sendSmsCode`, `revokeTrustedDevice`, `removeMfaDevice` and `disableMfa`.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct MfaActionPayload {
    /// Always true (failures are errors).
    pub success: bool,
}

/// A passkey as its owner sees it (its public key stays on the server): GraphQL type `Passkey`.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
#[graphql(name = "Passkey")]
pub struct PasskeyNode {
    /// The passkey id (for `renamePasskey` and `removePasskey`).
    pub id: ID,
    /// The name the user gave it.
    pub name: String,
    /// The credential id, base64url.
    pub credential_id: String,
    /// The authenticator may sync it to the user's other devices.
    pub backup_eligible: bool,
    /// It was backed up (synced) at its last use.
    pub backup_state: bool,
    /// The transports the browser reported (`internal`, `hybrid`, `usb`, `nfc`, `ble`).
    pub transports: Vec<String>,
    /// The authenticator model's AAGUID (all zeros when the authenticator does not say).
    pub aaguid: Option<String>,
    /// When it was registered (RFC 3339).
    pub created_at: String,
    /// When it last signed in or passed a second factor (RFC 3339).
    pub last_used: Option<String>,
}

impl From<super::PasskeyInfo> for PasskeyNode {
    fn from(p: super::PasskeyInfo) -> Self {
        PasskeyNode {
            id: ID(p.id.to_string()),
            name: p.name,
            credential_id: p.credential_id,
            backup_eligible: p.backup_eligible,
            backup_state: p.backup_state,
            transports: p.transports,
            aaguid: p.aaguid.map(|a| a.to_string()),
            created_at: rfc3339(p.created_at),
            last_used: p.last_used.map(rfc3339),
        }
    }
}

/// A passkey ceremony begun (`beginPasskeyRegistration`, `beginPasskeyAuthentication`,
/// `beginPasskeySignIn`): pass `options.publicKey` (binary fields base64url: decode them) to
/// `navigator.credentials.create()` or `.get()`, then send `ceremonyId` and the credential's
/// JSON to the matching finish mutation before `expiresAt`.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct PasskeyCeremonyPayload {
    /// The ceremony, for the finish mutation (single use).
    pub ceremony_id: ID,
    /// The WebAuthn options: `{"publicKey": {...}}`.
    pub options: async_graphql::Json<serde_json::Value>,
    /// When the ceremony stops being accepted (RFC 3339).
    pub expires_at: String,
}

impl From<super::PasskeyCeremony> for PasskeyCeremonyPayload {
    fn from(c: super::PasskeyCeremony) -> Self {
        PasskeyCeremonyPayload {
            ceremony_id: ID(c.id.to_string()),
            options: async_graphql::Json(c.options),
            expires_at: rfc3339(c.expires_at),
        }
    }
}

/// `finishPasskeyRegistration`'s answer.
#[derive(SimpleObject, Clone, PartialEq, Eq)]
pub struct PasskeyRegistrationPayload {
    /// Always true.
    pub success: bool,
    /// The new passkey.
    pub passkey: PasskeyNode,
    /// A first set of backup codes when the user had none, shown once: a user with only
    /// passkeys keeps a way back in (empty otherwise).
    pub backup_codes: Vec<String>,
    /// When the passkey is the user's first factor (see [`SecondFactorPassed::first_factor`]):
    /// what the application's [`SecondFactorHook::on_second_factor`] returned for it, the token
    /// that replaces the session's ([`IssueTokenHook`] ends the user's earlier tokens). `null`
    /// otherwise.
    pub token: Option<String>,
}

impl fmt::Debug for PasskeyRegistrationPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyRegistrationPayload").field("passkey", &self.passkey.id).finish_non_exhaustive()
    }
}

/// `finishPasskeySignIn`'s answer.
#[derive(SimpleObject, Clone, PartialEq, Eq)]
pub struct PasskeySignInPayload {
    /// Always true (a refused passkey is an error).
    pub success: bool,
    /// What the application's [`SecondFactorHook::on_passkey_sign_in`] returned: the session
    /// token.
    pub token: Option<String>,
}

impl fmt::Debug for PasskeySignInPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeySignInPayload").field("token", &self.token.as_ref().map(|_| "[redacted]")).finish()
    }
}

/// A second factor that just succeeded, as the [`SecondFactorHook`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactorPassed {
    /// The user (from the request's security context).
    pub principal: Principal,
    /// The method passed.
    pub method: MfaMethod,
    /// The client asked to trust this device (`trustDevice: true`) and got a token.
    pub trusted_device: bool,
    /// When the factor was accepted.
    pub at: DateTime<Utc>,
    /// This factor is the user's first: a device just confirmed or a passkey just registered
    /// while no other factor was confirmed (an enrolment, or a new one after `disableMfa`),
    /// decided in the transaction that made it count.
    ///
    /// [`SecondFactorHook::on_first_factor`] has run by then and ended the sessions begun
    /// before it. A login racing the enrolment is the login's to handle: a token that lists
    /// no methods is safe to hand out only if the methods, read again after signing it, are
    /// still none ([`TokenService::issue_listing_methods`]).
    pub first_factor: bool,
}

impl SecondFactorPassed {
    /// The session state to record in a fresh token.
    pub fn mfa_state(&self) -> MfaState {
        MfaState::verified(self.at, self.method)
    }
}

/// What the host application does after a successful second factor: typically issue a fresh
/// token carrying the MFA level (see [`IssueTokenHook`]). Register it with [`MfaHook::new`] in
/// the schema data.
#[async_trait::async_trait]
pub trait SecondFactorHook: Send + Sync + 'static {
    /// Called once per successful second factor; the string returned becomes the payload's
    /// `token`. An error fails the mutation (the factor stays consumed). A fresh token should
    /// go through [`TokenService::end_if_overtaken`] (unless `passed.first_factor`): the
    /// caller may have logged out, or out everywhere, while the factor was checked, and a token
    /// signed after that would outlive it.
    async fn on_second_factor(
        &self,
        ctx: &Context<'_>,
        passed: &SecondFactorPassed,
    ) -> async_graphql::Result<Option<String>>;

    /// Called when the user's first factor starts to count (a device confirmed or a passkey
    /// registered while no other factor was; see [`SecondFactorPassed::first_factor`]), before
    /// [`on_second_factor`](Self::on_second_factor), in a task of its own: it runs to the end
    /// even if the client goes away once the factor is confirmed. The tokens issued to the user
    /// while they had no factor list no methods and carry no MFA requirement, so one taken with
    /// the password alone would stay a full session: end them here
    /// ([`TokenService::revoke_all_sessions`], as [`IssueTokenHook`] does). An error fails the
    /// mutation (the factor stays confirmed). The default does nothing.
    async fn on_first_factor(&self, user: &Principal, client_ip: Option<IpAddr>) -> async_graphql::Result<()> {
        let _ = (user, client_ip);
        Ok(())
    }

    /// Called when a passwordless sign-in (`finishPasskeySignIn`) verified: `user_id` is the
    /// key (its text form) of the user whose passkey signed. The host application looks the
    /// user up (a disabled account is refused here), audits the login and returns the session
    /// token, which should carry [`MfaState::verified`] with [`MfaMethod::Passkey`]: the
    /// passkey verified the user and resists phishing, so it is both factors.
    ///
    /// The default refuses with `PASSKEYS_UNAVAILABLE`: passwordless sign-in is off until the
    /// application implements it.
    async fn on_passkey_sign_in(&self, ctx: &Context<'_>, user_id: &str) -> async_graphql::Result<Option<String>> {
        let _ = (ctx, user_id);
        Err(coded(
            "PASSKEYS_UNAVAILABLE",
            "passwordless sign-in is not enabled on this server: sign in with the password, then verify a passkey",
        ))
    }
}

/// The application's [`SecondFactorHook`], as schema data: `Schema::build(..).data(MfaHook::new(hook))`.
#[derive(Clone)]
pub struct MfaHook(Arc<dyn SecondFactorHook>);

impl MfaHook {
    /// Wraps `hook`.
    pub fn new(hook: impl SecondFactorHook) -> Self {
        MfaHook(Arc::new(hook))
    }
}

impl fmt::Debug for MfaHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MfaHook")
    }
}

/// A ready [`SecondFactorHook`]: issues a fresh token for the user with the MFA level, method
/// and time of the factor just passed, keeping the methods the session listed (and the one
/// just passed). The token belongs to the caller's session
/// ([`TokenService::issue_in_session`]), so logging out ends it with the login's token; a
/// caller without one starts a session ([`TokenService::issue_with_methods`]).
///
/// For the user's first factor ([`SecondFactorHook::on_first_factor`]), every token issued to
/// the user until then is revoked first ([`TokenService::revoke_all_sessions`]): the caller
/// continues with the token returned, and a login taken with the password alone before the
/// enrolment ends.
#[derive(Debug, Clone)]
pub struct IssueTokenHook(pub TokenService);

#[async_trait::async_trait]
impl SecondFactorHook for IssueTokenHook {
    async fn on_second_factor(
        &self,
        ctx: &Context<'_>,
        passed: &SecondFactorPassed,
    ) -> async_graphql::Result<Option<String>> {
        let security = SecurityContext::from_graphql(ctx);
        let mut methods = security.map(|s| s.mfa_methods.clone()).unwrap_or_default();
        if !methods.contains(&passed.method) {
            methods.push(passed.method);
        }
        let mut state = passed.mfa_state();
        state.trusted_device = false;
        let client_ip = security.and_then(|s| s.client_ip);
        // Only the session of the same user is kept.
        let session = security
            .filter(|s| s.principal.as_ref().is_some_and(|p| p.id == passed.principal.id))
            .and_then(|s| s.session_id.as_deref());
        let issued = match session {
            Some(session) => self.0.issue_in_session(&passed.principal, &state, &methods, session, client_ip),
            None => self.0.issue_with_methods(&passed.principal, &state, &methods, client_ip),
        }
        .map_err(|e| {
            tracing::error!(error = %e, "could not issue a token after a second factor");
            coded("INTERNAL_ERROR", "the second factor was accepted but no token could be issued; log in again")
        })?;
        if let Some(security) = security.filter(|_| !passed.first_factor) {
            self.0.end_if_overtaken(security, &issued).await.map_err(|e| e.extend())?;
        }
        Ok(Some(issued.token))
    }

    /// Revokes every token of `user` issued until now ([`TokenService::revoke_all_sessions`]).
    async fn on_first_factor(&self, user: &Principal, client_ip: Option<IpAddr>) -> async_graphql::Result<()> {
        self.0.revoke_all_sessions(user, client_ip).await.map_err(|e| {
            tracing::error!(error = %e, "could not end the sessions begun before the user's first factor");
            coded(
                "SERVICE_UNAVAILABLE",
                "the factor was confirmed but the earlier sessions could not be ended; log in again",
            )
        })
    }

    /// A new session for the user, with the passkey as its verified factor. The token names
    /// the user by id only (no name, no roles): applications with roles implement their own
    /// hook.
    async fn on_passkey_sign_in(&self, ctx: &Context<'_>, user_id: &str) -> async_graphql::Result<Option<String>> {
        let client_ip = SecurityContext::from_graphql(ctx).and_then(|s| s.client_ip);
        let principal = Principal::new(user_id, user_id);
        let state = MfaState::verified(Utc::now(), MfaMethod::Passkey);
        let issued = self.0.issue_with_methods(&principal, &state, &[MfaMethod::Passkey], client_ip).map_err(|e| {
            tracing::error!(error = %e, "could not issue a token after a passkey sign-in");
            coded("INTERNAL_ERROR", "the passkey was accepted but no token could be issued; sign in again")
        })?;
        Ok(Some(issued.token))
    }
}

fn coded(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

/// The `code` extension for an MFA runtime error (see the table in the module docs).
pub fn error_code(error: &MfaError) -> &'static str {
    match error {
        MfaError::Locked { .. } => "MFA_LOCKED",
        MfaError::NoDevice { .. } => "MFA_NOT_SET_UP",
        MfaError::UnknownDevice(_) => "NOT_FOUND",
        MfaError::InvalidInput(_) => "BAD_USER_INPUT",
        MfaError::InvalidPhoneNumber => "INVALID_PHONE_NUMBER",
        MfaError::NoSmsProvider => "SMS_UNAVAILABLE",
        MfaError::Sms(_) => "SMS_NOT_SENT",
        MfaError::SmsResendThrottled { .. } | MfaError::RateLimited { .. } => "RATE_LIMITED",
        MfaError::LockedUntilRecovery => "MFA_LOCKED",
        MfaError::SmsCountryNotAllowed => "SMS_COUNTRY_NOT_ALLOWED",
        MfaError::PasskeysDisabled => "PASSKEYS_UNAVAILABLE",
        MfaError::CeremonyExpired => "PASSKEY_CEREMONY_EXPIRED",
        MfaError::MalformedCredential(_) => "BAD_USER_INPUT",
        MfaError::PasskeyRejected(_) | MfaError::PasskeyCounterRegression => "PASSKEY_REJECTED",
        MfaError::UnknownPasskey(_) => "NOT_FOUND",
        _ => "INTERNAL_ERROR",
    }
}

/// The GraphQL error for an MFA runtime error: its `code` extension, `retryAfter` when the
/// client must wait, and no internal detail for `INTERNAL_ERROR` (those go to `tracing`).
pub fn mfa_error(error: MfaError) -> async_graphql::Error {
    let code = error_code(&error);
    let now = Utc::now();
    let wait = |until: DateTime<Utc>| (until - now).num_seconds().max(1);
    match error {
        MfaError::Locked { until } => coded(code, error.to_string()).extend_with(|_, e| {
            e.set("retryAfter", wait(until));
            e.set("lockedUntil", rfc3339(until));
        }),
        MfaError::SmsResendThrottled { retry_after } => {
            coded(code, error.to_string()).extend_with(|_, e| e.set("retryAfter", wait(retry_after)))
        }
        MfaError::LockedUntilRecovery => {
            coded(code, error.to_string()).extend_with(|_, e| e.set("lockedUntilRecovery", true))
        }
        MfaError::RateLimited { what, retry_after } => coded(code, error.to_string()).extend_with(|_, e| {
            e.set("limit", what);
            if let Some(wait) = retry_after {
                e.set("retryAfter", i64::try_from(wait.as_secs()).unwrap_or(i64::MAX).max(1));
            }
        }),
        MfaError::NoDevice { method } => coded(code, error.to_string()).extend_with(|_, e| e.set("method", method)),
        MfaError::Sms(_) => {
            tracing::warn!(error = %error, "SMS code not sent");
            coded(code, "the SMS code could not be sent; try again later")
        }
        _ if code == "INTERNAL_ERROR" => {
            tracing::error!(error = %error, "MFA operation failed");
            coded(code, "the MFA operation failed on the server; try again later")
        }
        _ => coded(code, error.to_string()),
    }
}

fn invalid_code() -> async_graphql::Error {
    coded("INVALID_CODE", "the code is wrong, expired or was already used")
}

/// The caller of an MFA resolver.
struct Caller<'a, Id> {
    security: &'a SecurityContext,
    account: MfaAccount<Id>,
    manager: MfaManager<Id>,
}

fn caller<'a, Id: MfaUserId + FromStr>(ctx: &'a Context<'_>) -> async_graphql::Result<Caller<'a, Id>> {
    let Some(security) = SecurityContext::from_graphql(ctx) else {
        return Err(AccessDenied::Unauthenticated.extend());
    };
    let Some(principal) = &security.principal else {
        return Err(AccessDenied::Unauthenticated.extend());
    };
    let id = Id::from_str(&principal.id).map_err(|_| {
        coded(
            "UNAUTHENTICATED",
            format!(
                "the session's user id is not a key of type {}: log in again",
                std::any::type_name::<Id>().rsplit("::").next().unwrap_or("?")
            ),
        )
    })?;
    let manager = ctx.data::<MfaManager<Id>>().map_err(|_| {
        tracing::error!(
            "no MfaManager<{}> in the schema data: add it with Schema::build(..).data(manager)",
            std::any::type_name::<Id>()
        );
        coded("INTERNAL_ERROR", "MFA is not configured on this server")
    })?;
    let name = principal.name.clone().unwrap_or_else(|| principal.id.clone());
    let account = MfaAccount::new(id, name).with_roles(principal.roles.iter().cloned());
    Ok(Caller { security, account, manager: manager.with_client_ip(security.client_ip) })
}

impl<Id: MfaUserId> Caller<'_, Id> {
    /// The methods the user can pass now.
    async fn methods(&self) -> Result<Vec<MfaMethod>, MfaError> {
        let mut methods = Vec::new();
        for device in self.manager.list_devices(&self.account).await? {
            if device.is_active && device.confirmed && !methods.contains(&device.device_type) {
                methods.push(device.device_type);
            }
        }
        if self.manager.has_passkey(&self.account.id).await? {
            methods.insert(0, MfaMethod::Passkey);
        }
        if !methods.contains(&MfaMethod::BackupCode) && self.manager.remaining_backup_codes(&self.account).await? > 0 {
            methods.push(MfaMethod::BackupCode);
        }
        Ok(methods)
    }

    /// Changing factors of a user with a confirmed one needs a step-up: a factor
    /// (`totp`, `sms`, `backup_code`, `passkey`; never a trusted device) passed within the manager's
    /// `step_up_window`. A user without a confirmed factor may enrol (the first factor).
    async fn require_step_up(&self, ctx: &Context<'_>, resource: &str) -> async_graphql::Result<()> {
        let window = self.manager.config().step_up_window;
        if is_stepped_up(&self.security.mfa, window, Utc::now())
            || !self.manager.has_confirmed_factor(&self.account.id).await.map_err(mfa_error)?
        {
            return Ok(());
        }
        let denied = AccessDenied::MfaRequired {
            methods: self.methods().await.map_err(mfa_error)?,
            max_age: Some(window),
            stale: self.security.mfa.level >= MfaLevel::Verified,
        };
        if let Some(logger) = ctx.data_opt::<AuditLogger>() {
            audit_denial(logger, Some(self.security), resource, &denied);
        }
        Err(denied.extend())
    }

    /// Whether `device` is the trusted device this session logged in with, so revoking it needs
    /// no step-up. A token does not name its trusted device: the device is the user's one whose
    /// `last_used` (set when the login accepted it) is the latest at most `OWN_DEVICE_SLACK_SECONDS`
    /// before the session's `verified_at`.
    async fn is_own_trusted_device(&self, device: Uuid) -> Result<bool, MfaError> {
        let mfa = &self.security.mfa;
        let Some(at) = mfa.verified_at.filter(|_| mfa.trusted_device) else { return Ok(false) };
        let devices = self.manager.list_trusted_devices(&self.account).await?;
        let slack = chrono::Duration::seconds(OWN_DEVICE_SLACK_SECONDS);
        let own = devices
            .iter()
            .filter(|d| d.last_used <= at + chrono::Duration::seconds(1) && d.last_used >= at - slack)
            .max_by_key(|d| d.last_used);
        Ok(own.is_some_and(|d| d.id == device))
    }

    /// After an accepted factor (`first_factor`: see [`SecondFactorPassed::first_factor`]):
    /// trust the device when asked, then call the hook.
    async fn passed(
        &self,
        ctx: &Context<'_>,
        method: MfaMethod,
        first_factor: bool,
        trust_device: bool,
        device_name: Option<String>,
    ) -> async_graphql::Result<VerifyPayload> {
        let device_id = if trust_device {
            let name = device_name
                // A name the client did not choose: what a name may not hold is left out.
                .or_else(|| {
                    let ua = self.security.user_agent.as_ref()?;
                    Some(ua.chars().filter(|c| super::manager::allowed_in_name(*c)).take(100).collect::<String>())
                        .filter(|name| !name.trim().is_empty())
                })
                .unwrap_or_else(|| "Trusted device".to_owned());
            let trusted = self
                .manager
                .register_trusted_device(
                    &self.account,
                    &name,
                    self.security.user_agent.as_deref(),
                    self.security.client_ip,
                )
                .await
                .map_err(mfa_error)?;
            Some(trusted.token.to_string())
        } else {
            None
        };
        let token = match ctx.data_opt::<MfaHook>() {
            Some(hook) => {
                let principal =
                    self.security.principal.clone().ok_or_else(|| AccessDenied::Unauthenticated.extend())?;
                let passed = SecondFactorPassed {
                    principal,
                    method,
                    trusted_device: device_id.is_some(),
                    at: Utc::now(),
                    first_factor,
                };
                hook.0.on_second_factor(ctx, &passed).await?
            }
            None => None,
        };
        Ok(VerifyPayload { success: true, device_id, token, remaining_backup_codes: None })
    }
}

/// How long before a trusted-device session's `verified_at` its login may have accepted the
/// device (see `Caller::is_own_trusted_device`).
const OWN_DEVICE_SLACK_SECONDS: i64 = 10;

/// A check that may make the user's first factor count.
trait Confirmation {
    /// Whether it did.
    fn first_factor(&self) -> bool;
}

impl Confirmation for Verdict {
    fn first_factor(&self) -> bool {
        matches!(self, Verdict::Passed { first_factor: true })
    }
}

impl<T> Confirmation for (T, bool) {
    fn first_factor(&self) -> bool {
        self.1
    }
}

/// Runs `check` and, when it made the user's first factor count, the hook's
/// [`on_first_factor`](SecondFactorHook::on_first_factor), in a task of its own: once the
/// factor is committed, a client that goes away (which drops the request's future) cannot
/// keep the sessions begun before it from ending.
async fn confirm<T: Confirmation + Send + 'static>(
    ctx: &Context<'_>,
    security: &SecurityContext,
    check: impl Future<Output = Result<T, MfaError>> + Send + 'static,
) -> async_graphql::Result<T> {
    let hook = ctx.data_opt::<MfaHook>().map(|hook| Arc::clone(&hook.0));
    let user = security.principal.clone().ok_or_else(|| AccessDenied::Unauthenticated.extend())?;
    let client_ip = security.client_ip;
    let task = tokio::spawn(async move {
        let confirmed = check.await.map_err(mfa_error)?;
        if let Some(hook) = hook.filter(|_| confirmed.first_factor()) {
            hook.on_first_factor(&user, client_ip).await?;
        }
        Ok(confirmed)
    });
    task.await.unwrap_or_else(|error| {
        tracing::error!(%error, "a second-factor check failed to finish");
        Err(coded("INTERNAL_ERROR", "the check did not finish; try again"))
    })
}

/// A trusted device's name, checked before the factor is spent: refused after it, the factor
/// would be used up for nothing.
fn check_trusted_device_name(trust_device: bool, name: Option<&str>) -> async_graphql::Result<()> {
    match name.filter(|_| trust_device) {
        Some(name) => check_name(name).map(drop).map_err(mfa_error),
        None => Ok(()),
    }
}

fn parse_device_id(id: &ID) -> async_graphql::Result<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| coded("BAD_USER_INPUT", "`id` is not a device id (a UUID)"))
}

/// `mfaDevices`: the caller's devices, active or not, oldest first.
pub async fn mfa_devices<Id: MfaUserId + FromStr>(ctx: &Context<'_>) -> async_graphql::Result<Vec<MfaDeviceNode>> {
    let c = caller::<Id>(ctx)?;
    Ok(c.manager.list_devices(&c.account).await.map_err(mfa_error)?.into_iter().map(Into::into).collect())
}

/// `trustedDevices`: the caller's unexpired trusted devices, newest first.
pub async fn trusted_devices<Id: MfaUserId + FromStr>(
    ctx: &Context<'_>,
) -> async_graphql::Result<Vec<TrustedDeviceNode>> {
    let c = caller::<Id>(ctx)?;
    Ok(c.manager.list_trusted_devices(&c.account).await.map_err(mfa_error)?.into_iter().map(Into::into).collect())
}

/// `mfaStatus`: the caller's MFA state.
pub async fn mfa_status<Id: MfaUserId + FromStr>(ctx: &Context<'_>) -> async_graphql::Result<MfaStatus> {
    let c = caller::<Id>(ctx)?;
    let m = &c.manager;
    let enabled = m.has_confirmed_factor(&c.account.id).await.map_err(mfa_error)?;
    let backup = m.remaining_backup_codes(&c.account).await.map_err(mfa_error)?;
    let trusted = m.list_trusted_devices(&c.account).await.map_err(mfa_error)?.len();
    Ok(MfaStatus {
        enabled,
        required: m.is_mfa_required(&c.account).await.map_err(mfa_error)?,
        methods: c.methods().await.map_err(mfa_error)?.iter().map(|m| m.as_str().to_owned()).collect(),
        backup_codes_remaining: i32::try_from(backup).unwrap_or(i32::MAX),
        trusted_devices: i32::try_from(trusted).unwrap_or(i32::MAX),
        session_verified: c.security.mfa.satisfies(None, Utc::now()),
    })
}

/// `setupTotp(deviceName)`: a new, unconfirmed TOTP device; the secret, its QR code and (when
/// the user has none) a first set of backup codes, shown once.
pub async fn setup_totp<Id: MfaUserId + FromStr>(
    ctx: &Context<'_>,
    device_name: String,
) -> async_graphql::Result<SetupTotpPayload> {
    let c = caller::<Id>(ctx)?;
    enforce_hashing_limits(&c.manager.limiter, ctx, "setupTotp").await?;
    c.require_step_up(ctx, "Mutation.setupTotp").await?;
    let setup = c.manager.setup_totp_device(&c.account, &device_name).await.map_err(mfa_error)?;
    let qr = c.manager.generate_qr_code(&setup.otpauth_uri).map_err(mfa_error)?;
    let backup_codes = if c.manager.remaining_backup_codes(&c.account).await.map_err(mfa_error)? == 0 {
        c.manager.generate_backup_codes(&c.account).await.map_err(mfa_error)?.iter().map(|c| c.to_string()).collect()
    } else {
        Vec::new()
    };
    Ok(SetupTotpPayload {
        success: true,
        device_id: ID(setup.device_id.to_string()),
        secret_key: setup.secret.to_string(),
        qr_code_url: qr.png_data_url,
        otpauth_uri: setup.otpauth_uri.to_string(),
        backup_codes,
    })
}

/// `setupSms(phoneNumber, deviceName)`: a new, unconfirmed SMS device; sends it a code.
pub async fn setup_sms<Id: MfaUserId + FromStr>(
    ctx: &Context<'_>,
    phone_number: String,
    device_name: String,
) -> async_graphql::Result<SetupSmsPayload> {
    let c = caller::<Id>(ctx)?;
    enforce_resolver_in(&c.manager.limiter, ctx, "Mutation", "setupSms", &SMS_LIMIT).await?;
    c.require_step_up(ctx, "Mutation.setupSms").await?;
    let id = c.manager.setup_sms_device(&c.account, &phone_number, &device_name).await.map_err(mfa_error)?;
    Ok(SetupSmsPayload { success: true, device_id: ID(id.to_string()) })
}

/// `sendSmsCode`: sends a new code to the caller's SMS device.
pub async fn send_sms_code<Id: MfaUserId + FromStr>(ctx: &Context<'_>) -> async_graphql::Result<MfaActionPayload> {
    let c = caller::<Id>(ctx)?;
    enforce_resolver_in(&c.manager.limiter, ctx, "Mutation", "sendSmsCode", &SMS_LIMIT).await?;
    c.manager.send_sms_code(&c.account).await.map_err(mfa_error)?;
    Ok(MfaActionPayload { success: true })
}

/// `generateBackupCodes`: a new set of backup codes (the previous set stops working).
pub async fn generate_backup_codes<Id: MfaUserId + FromStr>(
    ctx: &Context<'_>,
) -> async_graphql::Result<BackupCodesPayload> {
    let c = caller::<Id>(ctx)?;
    enforce_hashing_limits(&c.manager.limiter, ctx, "generateBackupCodes").await?;
    c.require_step_up(ctx, "Mutation.generateBackupCodes").await?;
    let codes = c.manager.generate_backup_codes(&c.account).await.map_err(mfa_error)?;
    Ok(BackupCodesPayload { success: true, backup_codes: codes.iter().map(|c| c.to_string()).collect() })
}

/// `verifyTotp`, `verifySms` and `verifyBackupCode` (`code`, `trustDevice`, `deviceName`): checks
/// a second factor of `method` (a TOTP code confirms a new device; a backup code is consumed
/// once). In order: the call limit ([`VERIFY_LIMIT`]), the check (the manager throttles
/// failures), then, on success, the trusted-device token when asked and the hook. A backup code
/// also answers how many are left.
pub async fn verify_second_factor<Id: MfaUserId + FromStr>(
    ctx: &Context<'_>,
    method: MfaMethod,
    code: String,
    trust_device: bool,
    device_name: Option<String>,
) -> async_graphql::Result<VerifyPayload> {
    let c = caller::<Id>(ctx)?;
    enforce_resolver_in(&c.manager.limiter, ctx, "Mutation", verify_field(method), &VERIFY_LIMIT).await?;
    check_trusted_device_name(trust_device, device_name.as_deref())?;
    let (manager, account) = (c.manager.clone(), c.account.clone());
    let verdict = match method {
        MfaMethod::Totp => {
            confirm(ctx, c.security, async move { manager.totp_verdict(&account, &code, Utc::now()).await }).await?
        }
        MfaMethod::Sms => {
            confirm(ctx, c.security, async move { manager.sms_verdict(&account, &code, Utc::now()).await }).await?
        }
        // Backup codes pass only once a factor is confirmed: never a first factor.
        MfaMethod::BackupCode => match c.manager.verify_backup_code(&c.account, &code).await.map_err(mfa_error)? {
            true => Verdict::Passed { first_factor: false },
            false => Verdict::Refused,
        },
        MfaMethod::Passkey => {
            return Err(coded(
                "BAD_USER_INPUT",
                "a passkey is not a code: call beginPasskeyAuthentication, then verifyPasskey with the browser's answer",
            ));
        }
    };
    let Verdict::Passed { first_factor } = verdict else {
        return Err(invalid_code());
    };
    let mut payload = c.passed(ctx, method, first_factor, trust_device, device_name).await?;
    if method == MfaMethod::BackupCode {
        let remaining = c.manager.remaining_backup_codes(&c.account).await.map_err(mfa_error)?;
        payload.remaining_backup_codes = Some(i32::try_from(remaining).unwrap_or(i32::MAX));
    }
    Ok(payload)
}

/// The mutation verifying `method`, as rate limits and audit events name it.
fn verify_field(method: MfaMethod) -> &'static str {
    match method {
        MfaMethod::Totp => "verifyTotp",
        MfaMethod::Sms => "verifySms",
        MfaMethod::BackupCode => "verifyBackupCode",
        MfaMethod::Passkey => "verifyPasskey",
    }
}

/// `revokeTrustedDevice(id)`: the device's token stops skipping the second factor.
pub async fn revoke_trusted_device<Id: MfaUserId + FromStr>(
    ctx: &Context<'_>,
    id: ID,
) -> async_graphql::Result<MfaActionPayload> {
    let c = caller::<Id>(ctx)?;
    let id = parse_device_id(&id)?;
    if !c.is_own_trusted_device(id).await.map_err(mfa_error)? {
        c.require_step_up(ctx, "Mutation.revokeTrustedDevice").await?;
    }
    if !c.manager.revoke_trusted_device(&c.account, id).await.map_err(mfa_error)? {
        return Err(coded("NOT_FOUND", format!("no trusted device {id} for this user")));
    }
    Ok(MfaActionPayload { success: true })
}

/// `removeMfaDevice(id)`: disables one of the caller's devices and erases its secret.
pub async fn remove_mfa_device<Id: MfaUserId + FromStr>(
    ctx: &Context<'_>,
    id: ID,
) -> async_graphql::Result<MfaActionPayload> {
    let c = caller::<Id>(ctx)?;
    let id = parse_device_id(&id)?;
    c.require_step_up(ctx, "Mutation.removeMfaDevice").await?;
    c.manager.disable_device(&c.account, id).await.map_err(mfa_error)?;
    Ok(MfaActionPayload { success: true })
}

/// `disableMfa`: disables every device, deletes the backup codes and forgets every trusted
/// device.
pub async fn disable_mfa<Id: MfaUserId + FromStr>(ctx: &Context<'_>) -> async_graphql::Result<MfaActionPayload> {
    let c = caller::<Id>(ctx)?;
    c.require_step_up(ctx, "Mutation.disableMfa").await?;
    c.manager.disable_mfa(&c.account).await.map_err(mfa_error)?;
    Ok(MfaActionPayload { success: true })
}

/// `beginPasskeySignIn` and `finishPasskeySignIn`: 20 calls a minute per client address. Each
/// begin stores a ceremony; this bounds what an anonymous client can store.
pub const PASSKEY_SIGN_IN_LIMIT: FieldLimit = FieldLimit::new(20, std::time::Duration::from_secs(60)).per(LimitKey::Ip);

fn parse_ceremony_id(id: &ID) -> async_graphql::Result<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| coded("BAD_USER_INPUT", "`ceremonyId` is not a ceremony id (a UUID)"))
}

fn parse_passkey_id(id: &ID) -> async_graphql::Result<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| coded("BAD_USER_INPUT", "`id` is not a passkey id (a UUID)"))
}

/// `passkeys`: the caller's passkeys, oldest first.
pub async fn passkeys<Id: MfaUserId + FromStr>(ctx: &Context<'_>) -> async_graphql::Result<Vec<PasskeyNode>> {
    let c = caller::<Id>(ctx)?;
    Ok(c.manager.list_passkeys(&c.account).await.map_err(mfa_error)?.into_iter().map(Into::into).collect())
}

/// `beginPasskeyRegistration`: the options to create a passkey (a discoverable credential with
/// user verification). A user with a factor already needs a step-up, as for `setupTotp`.
pub async fn begin_passkey_registration<Id: MfaUserId + FromStr>(
    ctx: &Context<'_>,
) -> async_graphql::Result<PasskeyCeremonyPayload> {
    let c = caller::<Id>(ctx)?;
    // Each call stores a ceremony row until it expires.
    enforce_resolver_in(&c.manager.limiter, ctx, "Mutation", "beginPasskeyRegistration", &VERIFY_LIMIT).await?;
    c.require_step_up(ctx, "Mutation.beginPasskeyRegistration").await?;
    Ok(c.manager.start_passkey_registration(&c.account).await.map_err(mfa_error)?.into())
}

/// `finishPasskeyRegistration(ceremonyId, credential, name)`: stores the passkey the browser
/// created; the first factor of a user without backup codes comes with a first set.
pub async fn finish_passkey_registration<Id: MfaUserId + FromStr>(
    ctx: &Context<'_>,
    ceremony_id: ID,
    credential: String,
    name: String,
) -> async_graphql::Result<PasskeyRegistrationPayload> {
    let c = caller::<Id>(ctx)?;
    let ceremony = parse_ceremony_id(&ceremony_id)?;
    let (manager, account) = (c.manager.clone(), c.account.clone());
    let (passkey, first_factor) =
        confirm(ctx, c.security, async move { manager.register_passkey(&account, ceremony, &credential, &name).await })
            .await?;
    let backup_codes = if c.manager.remaining_backup_codes(&c.account).await.map_err(mfa_error)? == 0 {
        c.manager.generate_backup_codes(&c.account).await.map_err(mfa_error)?.iter().map(|c| c.to_string()).collect()
    } else {
        Vec::new()
    };
    // A first factor: the sessions the password alone opened until now began without it.
    let token = match ctx.data_opt::<MfaHook>().filter(|_| first_factor) {
        Some(hook) => {
            let principal = c.security.principal.clone().ok_or_else(|| AccessDenied::Unauthenticated.extend())?;
            let passed = SecondFactorPassed {
                principal,
                method: MfaMethod::Passkey,
                trusted_device: false,
                at: Utc::now(),
                first_factor: true,
            };
            hook.0.on_second_factor(ctx, &passed).await?
        }
        None => None,
    };
    Ok(PasskeyRegistrationPayload { success: true, passkey: passkey.into(), backup_codes, token })
}

/// `beginPasskeyAuthentication`: the options to sign a second factor with one of the caller's
/// passkeys (`MFA_NOT_SET_UP` without one).
pub async fn begin_passkey_authentication<Id: MfaUserId + FromStr>(
    ctx: &Context<'_>,
) -> async_graphql::Result<PasskeyCeremonyPayload> {
    let c = caller::<Id>(ctx)?;
    enforce_resolver_in(&c.manager.limiter, ctx, "Mutation", "beginPasskeyAuthentication", &VERIFY_LIMIT).await?;
    Ok(c.manager.start_passkey_authentication(&c.account).await.map_err(mfa_error)?.into())
}

/// `verifyPasskey(ceremonyId, credential, trustDevice, deviceName)`: a passkey as the second
/// factor; then, like `verifyTotp`, the trusted-device token when asked and the hook's token.
pub async fn verify_passkey<Id: MfaUserId + FromStr>(
    ctx: &Context<'_>,
    ceremony_id: ID,
    credential: String,
    trust_device: bool,
    device_name: Option<String>,
) -> async_graphql::Result<VerifyPayload> {
    let c = caller::<Id>(ctx)?;
    enforce_resolver_in(&c.manager.limiter, ctx, "Mutation", "verifyPasskey", &VERIFY_LIMIT).await?;
    check_trusted_device_name(trust_device, device_name.as_deref())?;
    let ceremony = parse_ceremony_id(&ceremony_id)?;
    c.manager.verify_passkey(&c.account, ceremony, &credential).await.map_err(mfa_error)?;
    c.passed(ctx, MfaMethod::Passkey, false, trust_device, device_name).await
}

/// The manager of an anonymous call (`beginPasskeySignIn`, `finishPasskeySignIn`), with the
/// caller's address for its audit events.
fn anonymous_manager<Id: MfaUserId>(ctx: &Context<'_>) -> async_graphql::Result<MfaManager<Id>> {
    let manager = ctx.data::<MfaManager<Id>>().map_err(|_| {
        tracing::error!("no MfaManager<{}> in the schema data", std::any::type_name::<Id>());
        coded("INTERNAL_ERROR", "MFA is not configured on this server")
    })?;
    Ok(manager.with_client_ip(SecurityContext::from_graphql(ctx).and_then(|s| s.client_ip)))
}

/// `beginPasskeySignIn`: the options for a passwordless sign-in (no user named: the browser
/// offers the passkeys it holds for this site). Anonymous; limited per client address
/// ([`PASSKEY_SIGN_IN_LIMIT`]).
pub async fn begin_passkey_sign_in<Id: MfaUserId + FromStr>(
    ctx: &Context<'_>,
) -> async_graphql::Result<PasskeyCeremonyPayload> {
    let manager = anonymous_manager::<Id>(ctx)?;
    enforce_resolver_in(&manager.limiter, ctx, "Mutation", "beginPasskeySignIn", &PASSKEY_SIGN_IN_LIMIT).await?;
    Ok(manager.start_passkey_sign_in().await.map_err(mfa_error)?.into())
}

/// `finishPasskeySignIn(ceremonyId, credential)`: verifies the passkey, then the application's
/// [`SecondFactorHook::on_passkey_sign_in`] starts the session and returns its token.
pub async fn finish_passkey_sign_in<Id: MfaUserId + FromStr>(
    ctx: &Context<'_>,
    ceremony_id: ID,
    credential: String,
) -> async_graphql::Result<PasskeySignInPayload> {
    let manager = anonymous_manager::<Id>(ctx)?;
    enforce_resolver_in(&manager.limiter, ctx, "Mutation", "finishPasskeySignIn", &PASSKEY_SIGN_IN_LIMIT).await?;
    let ceremony = parse_ceremony_id(&ceremony_id)?;
    let user = manager.finish_passkey_sign_in(ceremony, &credential).await.map_err(mfa_error)?;
    let Some(hook) = ctx.data_opt::<MfaHook>() else {
        return Err(coded(
            "PASSKEYS_UNAVAILABLE",
            "passwordless sign-in is not enabled on this server: sign in with the password, then verify a passkey",
        ));
    };
    let token = hook.0.on_passkey_sign_in(ctx, &user.to_key()).await?;
    Ok(PasskeySignInPayload { success: true, token })
}

/// `renamePasskey(id, name)`: renames one of the caller's passkeys.
pub async fn rename_passkey<Id: MfaUserId + FromStr>(
    ctx: &Context<'_>,
    id: ID,
    name: String,
) -> async_graphql::Result<MfaActionPayload> {
    let c = caller::<Id>(ctx)?;
    let id = parse_passkey_id(&id)?;
    c.manager.rename_passkey(&c.account, id, &name).await.map_err(mfa_error)?;
    Ok(MfaActionPayload { success: true })
}

/// `removePasskey(id)`: removes one of the caller's passkeys. Needs a step-up, like removing any
/// factor: removing the last passkey takes a fresh factor (a backup code when it is the only
/// other one).
pub async fn remove_passkey<Id: MfaUserId + FromStr>(
    ctx: &Context<'_>,
    id: ID,
) -> async_graphql::Result<MfaActionPayload> {
    let c = caller::<Id>(ctx)?;
    let id = parse_passkey_id(&id)?;
    c.require_step_up(ctx, "Mutation.removePasskey").await?;
    c.manager.remove_passkey(&c.account, id).await.map_err(mfa_error)?;
    Ok(MfaActionPayload { success: true })
}
