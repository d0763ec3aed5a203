//! The MFA roots, generic over the user key type under fixed GraphQL names, so every
//! application (and every `#[security_user]` model) shares one implementation.

use std::marker::PhantomData;

use async_graphql::Object;

use super::*;

/// The MFA queries (GraphQL type `MfaQuery`), to merge into your query root with
/// `MergedObject`. Needs an [`MfaManager<Id>`] in the schema data and a [`SecurityContext`] in
/// the request data. `#[security_user]` names it for your model: `mfa::MfaQuery`.
///
/// ```
/// use async_graphql::{EmptyMutation, EmptySubscription, MergedObject, Object, Schema};
/// use rail_graphql_security::mfa::graphql::MfaQuery;
///
/// #[derive(Default)]
/// struct AppQuery;
/// #[Object]
/// impl AppQuery {
///     async fn hello(&self) -> &str { "hi" }
/// }
///
/// #[derive(MergedObject, Default)]
/// struct Query(AppQuery, MfaQuery<i64>);
///
/// let schema = Schema::new(Query::default(), EmptyMutation, EmptySubscription);
/// assert!(schema.sdl().contains("mfaDevices: [MfaDevice!]!"));
/// ```
pub struct MfaQuery<Id>(PhantomData<fn() -> Id>);

/// The MFA mutations (GraphQL type `MfaMutation`), to merge into your mutation root with
/// `MergedObject`. Errors carry a stable `code` extension (see the [module docs](super)).
/// `#[security_user]` names it for your model: `mfa::MfaMutation`.
pub struct MfaMutation<Id>(PhantomData<fn() -> Id>);

macro_rules! marker_impls {
    ($root:ident) => {
        impl<Id> $root<Id> {
            /// The root (it holds no data).
            pub const fn new() -> Self {
                Self(PhantomData)
            }
        }

        impl<Id> Default for $root<Id> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<Id> Clone for $root<Id> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<Id> Copy for $root<Id> {}

        impl<Id> fmt::Debug for $root<Id> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($root))
            }
        }
    };
}

marker_impls!(MfaQuery);
marker_impls!(MfaMutation);

#[Object(name = "MfaQuery")]
impl<Id: MfaUserId + FromStr> MfaQuery<Id> {
    /// The caller's second-factor devices, oldest first (never their secrets).
    async fn mfa_devices(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<MfaDeviceNode>> {
        mfa_devices::<Id>(ctx).await
    }

    /// The caller's unexpired trusted devices, newest first.
    async fn trusted_devices(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TrustedDeviceNode>> {
        trusted_devices::<Id>(ctx).await
    }

    /// The caller's MFA state.
    async fn mfa_status(&self, ctx: &Context<'_>) -> async_graphql::Result<MfaStatus> {
        mfa_status::<Id>(ctx).await
    }

    /// The caller's passkeys, oldest first (never their public keys).
    async fn passkeys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PasskeyNode>> {
        passkeys::<Id>(ctx).await
    }
}

#[Object(name = "MfaMutation")]
impl<Id: MfaUserId + FromStr> MfaMutation<Id> {
    /// Starts TOTP enrolment: the secret, its QR code and (the first time) backup codes,
    /// shown once. `verifyTotp` with a code from the app confirms the device.
    async fn setup_totp(&self, ctx: &Context<'_>, device_name: String) -> async_graphql::Result<SetupTotpPayload> {
        setup_totp::<Id>(ctx, device_name).await
    }

    /// Checks a TOTP code (each code works once). With `trustDevice: true`, `deviceId` is
    /// a trusted-device token that skips the second factor at later logins.
    async fn verify_totp(
        &self,
        ctx: &Context<'_>,
        code: String,
        #[graphql(default)] trust_device: bool,
        device_name: Option<String>,
    ) -> async_graphql::Result<VerifyPayload> {
        verify_second_factor::<Id>(ctx, MfaMethod::Totp, code, trust_device, device_name).await
    }

    /// Registers a phone (E.164, e.g. +14155550123) and sends it a code.
    async fn setup_sms(
        &self,
        ctx: &Context<'_>,
        phone_number: String,
        device_name: String,
    ) -> async_graphql::Result<SetupSmsPayload> {
        setup_sms::<Id>(ctx, phone_number, device_name).await
    }

    /// Sends a new code to the caller's SMS device.
    async fn send_sms_code(&self, ctx: &Context<'_>) -> async_graphql::Result<MfaActionPayload> {
        send_sms_code::<Id>(ctx).await
    }

    /// Checks an SMS code (once).
    async fn verify_sms(
        &self,
        ctx: &Context<'_>,
        code: String,
        #[graphql(default)] trust_device: bool,
        device_name: Option<String>,
    ) -> async_graphql::Result<VerifyPayload> {
        verify_second_factor::<Id>(ctx, MfaMethod::Sms, code, trust_device, device_name).await
    }

    /// A new set of backup codes, shown once; the previous set stops working.
    async fn generate_backup_codes(&self, ctx: &Context<'_>) -> async_graphql::Result<BackupCodesPayload> {
        generate_backup_codes::<Id>(ctx).await
    }

    /// Consumes a backup code (each works once) as a second factor.
    async fn verify_backup_code(
        &self,
        ctx: &Context<'_>,
        code: String,
        #[graphql(default)] trust_device: bool,
        device_name: Option<String>,
    ) -> async_graphql::Result<VerifyPayload> {
        verify_second_factor::<Id>(ctx, MfaMethod::BackupCode, code, trust_device, device_name).await
    }

    /// Revokes a trusted device: its token no longer skips the second factor.
    async fn revoke_trusted_device(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<MfaActionPayload> {
        revoke_trusted_device::<Id>(ctx, id).await
    }

    /// Disables one of the caller's devices and erases its secret.
    async fn remove_mfa_device(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<MfaActionPayload> {
        remove_mfa_device::<Id>(ctx, id).await
    }

    /// Begins registering a passkey: pass `options.publicKey` to
    /// `navigator.credentials.create()`, then call `finishPasskeyRegistration`.
    async fn begin_passkey_registration(&self, ctx: &Context<'_>) -> async_graphql::Result<PasskeyCeremonyPayload> {
        begin_passkey_registration::<Id>(ctx).await
    }

    /// Stores the passkey the browser created (`credential`: its JSON) under `name`.
    async fn finish_passkey_registration(
        &self,
        ctx: &Context<'_>,
        ceremony_id: ID,
        credential: String,
        name: String,
    ) -> async_graphql::Result<PasskeyRegistrationPayload> {
        finish_passkey_registration::<Id>(ctx, ceremony_id, credential, name).await
    }

    /// Begins a passkey second factor: pass `options.publicKey` to
    /// `navigator.credentials.get()`, then call `verifyPasskey`.
    async fn begin_passkey_authentication(&self, ctx: &Context<'_>) -> async_graphql::Result<PasskeyCeremonyPayload> {
        begin_passkey_authentication::<Id>(ctx).await
    }

    /// Checks a passkey assertion (`credential`: its JSON) as the second factor (each ceremony
    /// works once). With `trustDevice: true`, `deviceId` is a trusted-device token.
    async fn verify_passkey(
        &self,
        ctx: &Context<'_>,
        ceremony_id: ID,
        credential: String,
        #[graphql(default)] trust_device: bool,
        device_name: Option<String>,
    ) -> async_graphql::Result<VerifyPayload> {
        verify_passkey::<Id>(ctx, ceremony_id, credential, trust_device, device_name).await
    }

    /// Begins a passwordless sign-in (no user named): pass `options.publicKey` to
    /// `navigator.credentials.get()`, then call `finishPasskeySignIn`.
    async fn begin_passkey_sign_in(&self, ctx: &Context<'_>) -> async_graphql::Result<PasskeyCeremonyPayload> {
        begin_passkey_sign_in::<Id>(ctx).await
    }

    /// Signs in with a passkey alone (`credential`: the assertion's JSON): the token satisfies
    /// every `#[require_mfa]`, `phishing_resistant` included.
    async fn finish_passkey_sign_in(
        &self,
        ctx: &Context<'_>,
        ceremony_id: ID,
        credential: String,
    ) -> async_graphql::Result<PasskeySignInPayload> {
        finish_passkey_sign_in::<Id>(ctx, ceremony_id, credential).await
    }

    /// Renames one of the caller's passkeys.
    async fn rename_passkey(&self, ctx: &Context<'_>, id: ID, name: String) -> async_graphql::Result<MfaActionPayload> {
        rename_passkey::<Id>(ctx, id, name).await
    }

    /// Removes one of the caller's passkeys (needs a recent second factor).
    async fn remove_passkey(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<MfaActionPayload> {
        remove_passkey::<Id>(ctx, id).await
    }

    /// Turns MFA off: every device, backup code and trusted device is removed.
    async fn disable_mfa(&self, ctx: &Context<'_>) -> async_graphql::Result<MfaActionPayload> {
        disable_mfa::<Id>(ctx).await
    }
}
