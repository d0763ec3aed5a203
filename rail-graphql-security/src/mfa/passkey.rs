//! Passkeys (WebAuthn credentials) as a second factor and as a passwordless sign-in, on
//! `webauthn-rs`.
//!
//! Every ceremony has a begin call, which returns the options a browser passes to
//! `navigator.credentials.create()` / `.get()`, and a finish call, which takes the browser's
//! credential as JSON. Between the two the state (the challenge) is a row of
//! `mfa_passkey_ceremonies`, so the finish call may reach any instance sharing the database;
//! finishing deletes the row first and only the call whose delete took it goes on, so a
//! ceremony (and with it an assertion) is accepted at most once.
//!
//! A passkey's signature counter only moves forward: the stored counter is advanced by a
//! compare-and-set `UPDATE`, and an assertion whose counter is not above it (unless the
//! authenticator keeps none: 0 and 0) is refused and audited as `suspicious_activity`, the
//! sign of a cloned authenticator.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, Iden, QueryResult, TransactionTrait};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use webauthn_rs::prelude::{
    Credential, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder, WebauthnError,
};

use super::config::PasskeyConfig;
use super::error::MfaError;
use super::manager::{MfaManager, MfaUser, NewFactor, actor, check_name};
use super::method::MfaMethod;
pub(crate) use super::store::{MfaPasskeyCeremonies, MfaPasskeys};
use super::store::{MfaUserId, get};
use crate::audit::Actor;

/// Builds the relying party of `config`; `None` when passkeys are off.
pub(crate) fn relying_party(config: &PasskeyConfig) -> Result<Option<Webauthn>, MfaError> {
    let Some(rp_id) = config.rp_id.as_deref().map(str::trim) else { return Ok(None) };
    config.validate()?;
    let origins = config
        .origins
        .iter()
        .map(|o| Url::parse(o.trim()).map_err(|e| MfaError::Config(format!("mfa.passkeys.origins: {o:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let (first, rest) = origins.split_first().ok_or(MfaError::PasskeysDisabled)?;
    let mut builder = WebauthnBuilder::new(rp_id, first)
        .map_err(|e| MfaError::Config(format!("mfa.passkeys: relying party {rp_id:?} with origin {first}: {e}")))?
        .rp_name(config.rp_name.trim())
        .timeout(config.ceremony_ttl);
    for origin in rest {
        builder = builder.append_allowed_origin(origin);
    }
    builder.build().map(Some).map_err(|e| MfaError::Config(format!("mfa.passkeys: {e}")))
}

/// A ceremony begun: give [`options`](Self::options) to the browser and send
/// [`id`](Self::id) back with its answer.
#[derive(Clone, PartialEq)]
pub struct PasskeyCeremony {
    /// The ceremony id, for the finish call.
    pub id: Uuid,
    /// The options for `navigator.credentials.create()` (registration) or `.get()`
    /// (authentication), as JSON: `{"publicKey": {...}}`, binary fields base64url.
    pub options: serde_json::Value,
    /// When the ceremony stops being accepted.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for PasskeyCeremony {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyCeremony").field("id", &self.id).field("expires_at", &self.expires_at).finish()
    }
}

/// A passkey as its owner sees it (the public key stays on the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyInfo {
    /// The passkey id (for renaming and removing it).
    pub id: Uuid,
    /// The name the user gave it.
    pub name: String,
    /// The credential id, base64url.
    pub credential_id: String,
    /// The last signature counter the authenticator reported (0 when it keeps none).
    pub sign_count: i64,
    /// The authenticator may sync the passkey to the user's other devices.
    pub backup_eligible: bool,
    /// The passkey was backed up (synced) at its last use.
    pub backup_state: bool,
    /// The transports the browser reported at registration (`internal`, `hybrid`, `usb`, ...).
    pub transports: Vec<String>,
    /// The authenticator model's AAGUID (all zeros when the authenticator does not say).
    pub aaguid: Option<Uuid>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last signed in or passed a second factor.
    pub last_used: Option<DateTime<Utc>>,
}

/// What a ceremony row holds between begin and finish.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum CeremonyState {
    Registration { user_handle: Uuid, state: PasskeyRegistration },
    Authentication { state: PasskeyAuthentication },
    SignIn { state: DiscoverableAuthentication },
}

impl CeremonyState {
    fn kind(&self) -> &'static str {
        match self {
            CeremonyState::Registration { .. } => "registration",
            CeremonyState::Authentication { .. } => "authentication",
            CeremonyState::SignIn { .. } => "sign_in",
        }
    }
}

/// A stored passkey.
struct PasskeyRow {
    info: PasskeyInfo,
    user_handle: String,
    credential: Passkey,
}

const PASSKEY_COLUMNS: [MfaPasskeys; 14] = [
    MfaPasskeys::Id,
    MfaPasskeys::UserId,
    MfaPasskeys::UserHandle,
    MfaPasskeys::CredentialId,
    MfaPasskeys::Credential,
    MfaPasskeys::SignCount,
    MfaPasskeys::BackupEligible,
    MfaPasskeys::BackupState,
    MfaPasskeys::Transports,
    MfaPasskeys::Aaguid,
    MfaPasskeys::Name,
    MfaPasskeys::CreatedAt,
    MfaPasskeys::LastUsed,
    MfaPasskeys::CredentialIdHash,
];

fn passkey_row(row: &QueryResult) -> Result<PasskeyRow, DbErr> {
    let id: String = get(row, MfaPasskeys::Id)?;
    let id = Uuid::parse_str(&id).map_err(|e| DbErr::Custom(format!("mfa_passkeys.id is not a UUID: {e}")))?;
    let credential: String = get(row, MfaPasskeys::Credential)?;
    let credential: Passkey = serde_json::from_str(&credential)
        .map_err(|e| DbErr::Custom(format!("mfa_passkeys.credential of passkey {id} does not parse: {e}")))?;
    let transports: Option<String> = get(row, MfaPasskeys::Transports)?;
    let aaguid: Option<String> = get(row, MfaPasskeys::Aaguid)?;
    Ok(PasskeyRow {
        info: PasskeyInfo {
            id,
            name: get(row, MfaPasskeys::Name)?,
            credential_id: get(row, MfaPasskeys::CredentialId)?,
            sign_count: get(row, MfaPasskeys::SignCount)?,
            backup_eligible: get(row, MfaPasskeys::BackupEligible)?,
            backup_state: get(row, MfaPasskeys::BackupState)?,
            transports: transports
                .map(|t| t.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default(),
            aaguid: aaguid.and_then(|a| Uuid::parse_str(&a).ok()),
            created_at: get(row, MfaPasskeys::CreatedAt)?,
            last_used: get(row, MfaPasskeys::LastUsed)?,
        },
        user_handle: get(row, MfaPasskeys::UserHandle)?,
        credential,
    })
}

/// The SHA-256 of a raw credential id, hex: the unique key of `mfa_passkeys`.
fn credential_hash(raw_id: &[u8]) -> String {
    hex::encode(Sha256::digest(raw_id))
}

/// The AAGUID in a registration's attested credential data (`webauthn-rs` keeps it only for
/// certificate attestations).
fn aaguid_of(credential: &RegisterPublicKeyCredential) -> Option<Uuid> {
    let object: ciborium::Value = ciborium::from_reader(credential.response.attestation_object.as_slice()).ok()?;
    let auth_data = object.as_map()?.iter().find(|(k, _)| k.as_text() == Some("authData"))?.1.as_bytes()?;
    // rpIdHash (32) | flags (1) | signCount (4) | AAGUID (16) ...; flag AT (0x40) says it is there.
    if auth_data.len() < 53 || auth_data[32] & 0x40 == 0 {
        return None;
    }
    Uuid::from_slice(&auth_data[37..53]).ok()
}

/// A `webauthn-rs` refusal as the client sees it: what was wrong, no internals.
fn rejected(error: &WebauthnError) -> MfaError {
    let why = match error {
        WebauthnError::InvalidRPOrigin => "it was made for another origin",
        WebauthnError::InvalidRPIDHash => "it was made for another relying party",
        WebauthnError::MismatchedChallenge => "it answers another challenge",
        WebauthnError::UserNotVerified => "the authenticator did not verify the user (PIN or biometrics)",
        WebauthnError::UserNotPresent => "the authenticator did not confirm the user's presence",
        WebauthnError::CredentialNotFound | WebauthnError::CredentialAlteredAlgFromRequest => {
            "this credential was not allowed in this ceremony"
        }
        _ => "its signature or data did not verify",
    };
    MfaError::PasskeyRejected(why.to_owned())
}

fn malformed(error: serde_json::Error) -> MfaError {
    MfaError::MalformedCredential(error.to_string())
}

impl<Id: MfaUserId> MfaManager<Id> {
    fn relying_party(&self) -> Result<&Webauthn, MfaError> {
        self.passkeys.as_deref().ok_or(MfaError::PasskeysDisabled)
    }

    /// Whether passkeys are configured (`mfa.passkeys.rp_id`).
    pub fn passkeys_enabled(&self) -> bool {
        self.passkeys.is_some()
    }

    /// The user's passkeys, oldest first.
    pub async fn list_passkeys(&self, user: &impl MfaUser<Id = Id>) -> Result<Vec<PasskeyInfo>, MfaError> {
        Ok(self.passkey_rows(&user.mfa_user_id()).await?.into_iter().map(|r| r.info).collect())
    }

    async fn passkey_rows(&self, user: &Id) -> Result<Vec<PasskeyRow>, DbErr> {
        let rows = self
            .db
            .query_all(
                Query::select()
                    .columns(PASSKEY_COLUMNS)
                    .from(MfaPasskeys::Table)
                    .and_where(Expr::col(MfaPasskeys::UserId).eq(user.to_db_value()))
                    .order_by(MfaPasskeys::CreatedAt, Order::Asc),
            )
            .await?;
        rows.iter().map(passkey_row).collect()
    }

    /// Whether the user (by key) has a passkey: one indexed lookup, no credential read.
    pub async fn has_passkey(&self, user: &Id) -> Result<bool, MfaError> {
        let row = self
            .db
            .query_one(
                Query::select()
                    .column(MfaPasskeys::Id)
                    .from(MfaPasskeys::Table)
                    .and_where(Expr::col(MfaPasskeys::UserId).eq(user.to_db_value()))
                    .limit(1),
            )
            .await?;
        Ok(row.is_some())
    }

    /// Starts registering a passkey for `user`: a discoverable credential (so it can sign in
    /// without a password) with user verification, excluding the user's passkeys already
    /// registered. The browser passes [`PasskeyCeremony::options`] to
    /// `navigator.credentials.create()`; [`finish_passkey_registration`](Self::finish_passkey_registration)
    /// takes its answer.
    pub async fn start_passkey_registration(&self, user: &impl MfaUser<Id = Id>) -> Result<PasskeyCeremony, MfaError> {
        let webauthn = self.relying_party()?;
        let uid = user.mfa_user_id();
        let existing = self.passkey_rows(&uid).await?;
        // One opaque handle per user: the authenticator returns it at a passwordless sign-in.
        let user_handle = match existing.first() {
            Some(row) => Uuid::parse_str(&row.user_handle)
                .map_err(|e| DbErr::Custom(format!("mfa_passkeys.user_handle is not a UUID: {e}")))?,
            None => Uuid::new_v4(),
        };
        let exclude = existing.iter().map(|r| r.credential.cred_id().clone()).collect::<Vec<_>>();
        let name = user.mfa_account_name();
        let (mut options, state) = webauthn
            .start_passkey_registration(user_handle, &name, &name, Some(exclude))
            .map_err(|e| MfaError::InvalidInput(format!("cannot begin a passkey registration for this user: {e}")))?;
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Required);
            selection.require_resident_key = true;
        }
        let options = serde_json::to_value(&options).map_err(|e| MfaError::Config(e.to_string()))?;
        self.store_ceremony(Some(&uid), CeremonyState::Registration { user_handle, state }, options).await
    }

    /// Finishes a registration begun by [`start_passkey_registration`](Self::start_passkey_registration)
    /// with the browser's credential (JSON) and stores the passkey as `name`. The user's first
    /// factor makes MFA required at the next login, like a confirmed TOTP device.
    pub async fn finish_passkey_registration(
        &self,
        user: &impl MfaUser<Id = Id>,
        ceremony: Uuid,
        credential: &str,
        name: &str,
    ) -> Result<PasskeyInfo, MfaError> {
        self.register_passkey(user, ceremony, credential, name).await.map(|(info, _)| info)
    }

    /// [`finish_passkey_registration`](Self::finish_passkey_registration), saying whether the
    /// passkey is the user's first factor.
    pub(crate) async fn register_passkey(
        &self,
        user: &impl MfaUser<Id = Id>,
        ceremony: Uuid,
        credential: &str,
        name: &str,
    ) -> Result<(PasskeyInfo, bool), MfaError> {
        let name = check_name(name)?.to_owned();
        let webauthn = self.relying_party()?;
        let uid = user.mfa_user_id();
        let CeremonyState::Registration { user_handle, state } =
            self.take_ceremony(ceremony, "registration", Some(&uid)).await?
        else {
            return Err(MfaError::CeremonyExpired);
        };
        let response: RegisterPublicKeyCredential = serde_json::from_str(credential).map_err(malformed)?;
        let passkey = match webauthn.finish_passkey_registration(&response, &state) {
            Ok(passkey) => passkey,
            Err(e) => {
                let error = rejected(&e);
                self.audit(|l, ip| l.log_mfa_failed(&actor(user), ip, MfaMethod::Passkey.as_str(), &error.to_string()));
                return Err(error);
            }
        };
        let inner: Credential = passkey.clone().into();
        let transports = response
            .response
            .transports
            .iter()
            .flatten()
            .filter_map(|t| serde_json::to_value(t).ok()?.as_str().map(str::to_owned))
            .collect::<Vec<_>>();
        let info = PasskeyInfo {
            id: Uuid::new_v4(),
            name,
            credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id()),
            sign_count: i64::from(inner.counter),
            backup_eligible: inner.backup_eligible,
            backup_state: inner.backup_state,
            transports,
            aaguid: aaguid_of(&response),
            created_at: Utc::now(),
            last_used: None,
        };
        let stored = serde_json::to_string(&passkey).map_err(|e| MfaError::Config(e.to_string()))?;
        let txn = self.db.begin().await?;
        let insert = txn
            .execute(
                Query::insert().into_table(MfaPasskeys::Table).columns(PASSKEY_COLUMNS).values_panic(
                    [
                        info.id.to_string().into(),
                        uid.to_db_value(),
                        user_handle.to_string().into(),
                        info.credential_id.clone().into(),
                        stored.into(),
                        info.sign_count.into(),
                        info.backup_eligible.into(),
                        info.backup_state.into(),
                        Some(info.transports.join(",")).filter(|t| !t.is_empty()).into(),
                        info.aaguid.map(|a| a.to_string()).into(),
                        info.name.clone().into(),
                        info.created_at.into(),
                        Option::<DateTime<Utc>>::None.into(),
                        credential_hash(passkey.cred_id()).into(),
                    ]
                    .map(Expr::val),
                ),
            )
            .await;
        if let Err(e) = insert {
            txn.rollback().await?;
            // The unique credential hash: this credential is registered already (to this user
            // or another one).
            if self.credential_row(passkey.cred_id(), None).await?.is_some() {
                return Err(MfaError::PasskeyRejected("this passkey is registered already".to_owned()));
            }
            return Err(e.into());
        }
        let first = Self::settle_enrolments(&txn, &uid, NewFactor { id: info.id, created_at: info.created_at }).await?;
        txn.commit().await?;
        self.audit(|l, ip| l.log_mfa_enabled(&actor(user), ip, MfaMethod::Passkey.as_str()));
        Ok((info, first))
    }

    /// The passkey with credential id `raw_id` and its owner, of `user` when given.
    async fn credential_row(&self, raw_id: &[u8], user: Option<&Id>) -> Result<Option<(PasskeyRow, Id)>, DbErr> {
        let mut select = Query::select();
        select
            .columns(PASSKEY_COLUMNS)
            .from(MfaPasskeys::Table)
            .and_where(Expr::col(MfaPasskeys::CredentialIdHash).eq(credential_hash(raw_id)));
        if let Some(user) = user {
            select.and_where(Expr::col(MfaPasskeys::UserId).eq(user.to_db_value()));
        }
        let Some(row) = self.db.query_one(&select).await? else { return Ok(None) };
        let passkey = passkey_row(&row)?;
        // The hash is the key; the id itself must match too.
        if passkey.credential.cred_id().as_slice() != raw_id {
            return Ok(None);
        }
        Ok(Some((passkey, Id::from_row(&row, MfaPasskeys::UserId.unquoted())?)))
    }

    /// Starts a passkey second factor for `user` (after the password): the options allow the
    /// user's passkeys only. [`MfaError::NoDevice`] when the user has none.
    pub async fn start_passkey_authentication(
        &self,
        user: &impl MfaUser<Id = Id>,
    ) -> Result<PasskeyCeremony, MfaError> {
        let webauthn = self.relying_party()?;
        let uid = user.mfa_user_id();
        let credentials = self.passkey_rows(&uid).await?.into_iter().map(|r| r.credential).collect::<Vec<_>>();
        if credentials.is_empty() {
            return Err(MfaError::NoDevice { method: MfaMethod::Passkey.as_str() });
        }
        let (options, state) = webauthn
            .start_passkey_authentication(&credentials)
            .map_err(|e| MfaError::InvalidInput(format!("cannot begin a passkey authentication: {e}")))?;
        let options = serde_json::to_value(&options).map_err(|e| MfaError::Config(e.to_string()))?;
        self.store_ceremony(Some(&uid), CeremonyState::Authentication { state }, options).await
    }

    /// Finishes a second factor begun by [`start_passkey_authentication`](Self::start_passkey_authentication):
    /// `Ok(())` when the browser's assertion (JSON) verifies with one of the user's passkeys
    /// and its counter moved forward; the ceremony is spent either way. Every outcome is
    /// audited (`mfa_success` / `mfa_failed`; a counter going backwards as
    /// `suspicious_activity`).
    pub async fn verify_passkey(
        &self,
        user: &impl MfaUser<Id = Id>,
        ceremony: Uuid,
        credential: &str,
    ) -> Result<(), MfaError> {
        let webauthn = self.relying_party()?;
        let uid = user.mfa_user_id();
        let CeremonyState::Authentication { state } =
            self.take_ceremony(ceremony, "authentication", Some(&uid)).await?
        else {
            return Err(MfaError::CeremonyExpired);
        };
        let response: PublicKeyCredential = serde_json::from_str(credential).map_err(malformed)?;
        let who = actor(user);
        let Some((row, _)) = self.credential_row(&response.raw_id, Some(&uid)).await? else {
            return Err(self.refuse(&who, MfaError::PasskeyRejected("this passkey is not one of yours".into())));
        };
        let result = webauthn.finish_passkey_authentication(&response, &state);
        self.accept_assertion(&who, row, result).await
    }

    /// Starts a passwordless sign-in: options with no allowed credentials, so the browser offers
    /// the user's discoverable passkeys for this relying party.
    pub async fn start_passkey_sign_in(&self) -> Result<PasskeyCeremony, MfaError> {
        let webauthn = self.relying_party()?;
        let (options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(|e| MfaError::InvalidInput(format!("cannot begin a passkey sign-in: {e}")))?;
        let mut options = serde_json::to_value(&options).map_err(|e| MfaError::Config(e.to_string()))?;
        // A modal prompt behind a button; a page wanting autofill ("conditional") sets it back.
        if let Some(object) = options.as_object_mut() {
            object.remove("mediation");
        }
        self.store_ceremony(None, CeremonyState::SignIn { state }, options).await
    }

    /// Finishes a passwordless sign-in begun by [`start_passkey_sign_in`](Self::start_passkey_sign_in):
    /// the id of the user whose passkey signed, when the assertion verifies, names the user
    /// handle stored with that passkey, and its counter moved forward. A passkey verifies the
    /// user (PIN or biometrics) and is bound to the origin: it is a first factor and a
    /// phishing-resistant second factor at once.
    pub async fn finish_passkey_sign_in(&self, ceremony: Uuid, credential: &str) -> Result<Id, MfaError> {
        let webauthn = self.relying_party()?;
        let CeremonyState::SignIn { state } = self.take_ceremony(ceremony, "sign_in", None).await? else {
            return Err(MfaError::CeremonyExpired);
        };
        let response: PublicKeyCredential = serde_json::from_str(credential).map_err(malformed)?;
        let (handle, raw_id) = webauthn.identify_discoverable_authentication(&response).map_err(|e| match e {
            WebauthnError::InvalidUserUniqueId => MfaError::PasskeyRejected(
                "the authenticator returned no user handle; use a discoverable passkey".into(),
            ),
            other => rejected(&other),
        })?;
        let Some((row, uid)) = self.credential_row(raw_id, None).await? else {
            return Err(self.refuse_anonymous(MfaError::PasskeyRejected("this passkey is not registered here".into())));
        };
        let who = Actor::new(uid.to_key(), uid.to_key());
        if row.user_handle != handle.to_string() {
            return Err(
                self.refuse(&who, MfaError::PasskeyRejected("the user handle does not match the passkey".into()))
            );
        }
        let result = webauthn.finish_discoverable_authentication_v2(&response, state, &row.credential);
        self.accept_assertion(&who, row, result).await?;
        Ok(uid)
    }

    /// After `webauthn-rs` checked an assertion against `row`: advance the stored counter by
    /// compare-and-set (refusing a counter that does not move forward, on any instance), record
    /// the use, audit the outcome.
    async fn accept_assertion(
        &self,
        who: &Actor,
        mut row: PasskeyRow,
        result: Result<webauthn_rs::prelude::AuthenticationResult, WebauthnError>,
    ) -> Result<(), MfaError> {
        let result = match result {
            Ok(result) => result,
            Err(WebauthnError::CredentialPossibleCompromise) => return Err(self.counter_regression(who, &row)),
            Err(e) => return Err(self.refuse(who, rejected(&e))),
        };
        let counter = i64::from(result.counter());
        row.credential.update_credential(&result);
        let stored = serde_json::to_string(&row.credential).map_err(|e| MfaError::Config(e.to_string()))?;
        let now = Utc::now();
        // The counter moves forward, or stays 0 for an authenticator keeping none.
        let forward = Expr::col(MfaPasskeys::SignCount)
            .lt(counter)
            .or(Expr::col(MfaPasskeys::SignCount).eq(0i64).and(Expr::val(counter).eq(0i64)));
        let updated = self
            .db
            .execute(
                Query::update()
                    .table(MfaPasskeys::Table)
                    .value(MfaPasskeys::SignCount, counter)
                    .value(MfaPasskeys::Credential, stored)
                    .value(MfaPasskeys::BackupState, result.backup_state())
                    .value(MfaPasskeys::BackupEligible, result.backup_eligible())
                    .value(MfaPasskeys::LastUsed, now)
                    .and_where(Expr::col(MfaPasskeys::Id).eq(row.info.id.to_string()))
                    .and_where(forward),
            )
            .await?;
        if updated.rows_affected() != 1 {
            // Another instance accepted this counter (or a higher one) meanwhile.
            return Err(self.counter_regression(who, &row));
        }
        self.audit(|l, ip| l.log_mfa_success(who, ip, MfaMethod::Passkey.as_str()));
        Ok(())
    }

    fn counter_regression(&self, who: &Actor, row: &PasskeyRow) -> MfaError {
        let details = serde_json::json!({
            "method": MfaMethod::Passkey.as_str(),
            "passkey_id": row.info.id.to_string(),
            "stored_sign_count": row.info.sign_count,
        });
        self.audit(|l, ip| l.log_suspicious_activity(Some(who), ip, "passkey_counter_regression", details));
        self.refuse(who, MfaError::PasskeyCounterRegression)
    }

    fn refuse(&self, who: &Actor, error: MfaError) -> MfaError {
        self.audit(|l, ip| l.log_mfa_failed(who, ip, MfaMethod::Passkey.as_str(), &error.to_string()));
        error
    }

    fn refuse_anonymous(&self, error: MfaError) -> MfaError {
        let details = serde_json::json!({ "method": MfaMethod::Passkey.as_str(), "reason": error.to_string() });
        self.audit(|l, ip| l.log_suspicious_activity(None, ip, "passkey_unknown_credential", details));
        error
    }

    /// Renames one of the user's passkeys.
    pub async fn rename_passkey(&self, user: &impl MfaUser<Id = Id>, id: Uuid, name: &str) -> Result<(), MfaError> {
        let name = check_name(name)?;
        let updated = self
            .db
            .execute(
                Query::update()
                    .table(MfaPasskeys::Table)
                    .value(MfaPasskeys::Name, name)
                    .and_where(Expr::col(MfaPasskeys::Id).eq(id.to_string()))
                    .and_where(Expr::col(MfaPasskeys::UserId).eq(user.mfa_user_id().to_db_value())),
            )
            .await?;
        if updated.rows_affected() == 0 {
            return Err(MfaError::UnknownPasskey(id));
        }
        Ok(())
    }

    /// Removes one of the user's passkeys (audited as `mfa_disabled`, method `passkey`).
    pub async fn remove_passkey(&self, user: &impl MfaUser<Id = Id>, id: Uuid) -> Result<(), MfaError> {
        let deleted = self
            .db
            .execute(
                Query::delete()
                    .from_table(MfaPasskeys::Table)
                    .and_where(Expr::col(MfaPasskeys::Id).eq(id.to_string()))
                    .and_where(Expr::col(MfaPasskeys::UserId).eq(user.mfa_user_id().to_db_value())),
            )
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(MfaError::UnknownPasskey(id));
        }
        self.audit(|l, ip| l.log_mfa_disabled(&actor(user), ip, MfaMethod::Passkey.as_str()));
        Ok(())
    }

    /// Deletes the user's passkeys (part of [`disable_mfa`](Self::disable_mfa)).
    pub(crate) async fn delete_passkeys(&self, user: &Id) -> Result<(), DbErr> {
        self.db
            .execute(
                Query::delete()
                    .from_table(MfaPasskeys::Table)
                    .and_where(Expr::col(MfaPasskeys::UserId).eq(user.to_db_value())),
            )
            .await?;
        Ok(())
    }

    async fn store_ceremony(
        &self,
        user: Option<&Id>,
        state: CeremonyState,
        options: serde_json::Value,
    ) -> Result<PasskeyCeremony, MfaError> {
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(self.config.passkeys.ceremony_ttl).unwrap_or(chrono::Duration::minutes(5));
        let expires_at = now + ttl;
        // Ceremonies never finished go when the next one begins.
        self.db
            .execute(
                Query::delete()
                    .from_table(MfaPasskeyCeremonies::Table)
                    .and_where(Expr::col(MfaPasskeyCeremonies::ExpiresAt).lt(now)),
            )
            .await?;
        let id = Uuid::new_v4();
        let kind = state.kind();
        let state = serde_json::to_string(&state).map_err(|e| MfaError::Config(e.to_string()))?;
        self.db
            .execute(
                Query::insert()
                    .into_table(MfaPasskeyCeremonies::Table)
                    .columns([
                        MfaPasskeyCeremonies::Id,
                        MfaPasskeyCeremonies::Kind,
                        MfaPasskeyCeremonies::UserKey,
                        MfaPasskeyCeremonies::State,
                        MfaPasskeyCeremonies::ExpiresAt,
                    ])
                    .values_panic(
                        [
                            sea_orm::Value::from(id.to_string()),
                            kind.into(),
                            user.map(MfaUserId::to_key).into(),
                            state.into(),
                            expires_at.into(),
                        ]
                        .map(Expr::val),
                    ),
            )
            .await?;
        Ok(PasskeyCeremony { id, options, expires_at })
    }

    /// Consumes ceremony `id`: only the caller whose `DELETE` removed the row gets its state,
    /// and only when it is unexpired, of `kind` and begun for `user`.
    async fn take_ceremony(&self, id: Uuid, kind: &str, user: Option<&Id>) -> Result<CeremonyState, MfaError> {
        let key = id.to_string();
        let Some(row) = self
            .db
            .query_one(
                Query::select()
                    .columns([
                        MfaPasskeyCeremonies::Kind,
                        MfaPasskeyCeremonies::UserKey,
                        MfaPasskeyCeremonies::State,
                        MfaPasskeyCeremonies::ExpiresAt,
                    ])
                    .from(MfaPasskeyCeremonies::Table)
                    .and_where(Expr::col(MfaPasskeyCeremonies::Id).eq(key.as_str())),
            )
            .await?
        else {
            return Err(MfaError::CeremonyExpired);
        };
        let taken = self
            .db
            .execute(
                Query::delete()
                    .from_table(MfaPasskeyCeremonies::Table)
                    .and_where(Expr::col(MfaPasskeyCeremonies::Id).eq(key.as_str())),
            )
            .await?;
        if taken.rows_affected() != 1 {
            return Err(MfaError::CeremonyExpired);
        }
        let stored_kind: String = get(&row, MfaPasskeyCeremonies::Kind)?;
        let user_key: Option<String> = get(&row, MfaPasskeyCeremonies::UserKey)?;
        let expires_at: DateTime<Utc> = get(&row, MfaPasskeyCeremonies::ExpiresAt)?;
        if stored_kind != kind || user_key != user.map(MfaUserId::to_key) || expires_at <= Utc::now() {
            return Err(MfaError::CeremonyExpired);
        }
        let state: String = get(&row, MfaPasskeyCeremonies::State)?;
        serde_json::from_str(&state)
            .map_err(|e| MfaError::Database(DbErr::Custom(format!("mfa_passkey_ceremonies.state does not parse: {e}"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_follows_the_configuration() {
        assert!(relying_party(&PasskeyConfig::default()).unwrap().is_none());
        let config = PasskeyConfig::new("example.com", ["https://app.example.com", "http://localhost:8000"]);
        assert!(matches!(relying_party(&config), Err(MfaError::Config(m)) if m.contains("localhost")));
        let config = PasskeyConfig::new("localhost", ["http://localhost:8000"]);
        assert!(relying_party(&config).unwrap().is_some());
        for (rp_id, origin, says) in [
            ("example.com", "https://evil.test", "neither"),
            ("example.com", "http://example.com", "must be https"),
            ("https://example.com", "https://example.com", "bare domain"),
            ("example.com", "not a url", "not a URL"),
        ] {
            let error = relying_party(&PasskeyConfig::new(rp_id, [origin])).unwrap_err().to_string();
            assert!(error.contains(says), "{rp_id} {origin}: {error}");
        }
        let none = PasskeyConfig { origins: Vec::new(), ..PasskeyConfig::new("example.com", ["https://example.com"]) };
        assert!(relying_party(&none).unwrap_err().to_string().contains("origins is empty"));
    }
}
