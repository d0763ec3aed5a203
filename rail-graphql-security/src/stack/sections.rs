//! Each config section turned into its runtime parts.

#[cfg(feature = "mfa")]
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use super::StackError;
use crate::auth::{RevocationPush, RevocationStore};
use crate::client_ip::TrustedProxies;
#[cfg(feature = "mfa")]
use crate::config::standard::SmsProviderKind as SmsChoice;
use crate::config::standard::{DeploymentConfig, MfaSettings};
use crate::http::{API_CSP, AllowedHosts, HttpSecurity, SecurityHeaders, X_REQUEST_ID};
#[cfg(feature = "mfa")]
use crate::mfa::SecretCipher;
#[cfg(feature = "mfa")]
use crate::mfa::sms::{ConsoleSmsProvider, SmsProvider};
#[cfg(feature = "sms")]
use crate::mfa::sms::{SnsSmsProvider, TwilioSmsProvider};
use crate::mfa::{MfaConfig, PasskeyConfig, SmsQuotas};
use crate::rate_limit::{Quota, RateLimiter};

#[cfg(feature = "redis")]
pub(super) async fn shared_stores(
    url: &str,
    prefix: &str,
    db: &sea_orm::DatabaseConnection,
) -> Result<(RateLimiter, RevocationStore), StackError> {
    let limiter = RateLimiter::redis(url, prefix).await?;
    // Redis answers the checks; the database keeps every revocation through a Redis restart
    // without persistence.
    let revocations =
        RevocationStore::redis_cached(url, prefix, db.clone()).await.map_err(StackError::RevocationStore)?;
    Ok((limiter, revocations))
}

#[cfg(not(feature = "redis"))]
pub(super) async fn shared_stores(
    _url: &str,
    _prefix: &str,
    _db: &sea_orm::DatabaseConnection,
) -> Result<(RateLimiter, RevocationStore), StackError> {
    Err(StackError::RedisNotCompiled)
}

/// How revocations made elsewhere reach this instance: Redis pub/sub when Redis is configured,
/// PostgreSQL `LISTEN`/`NOTIFY` on PostgreSQL, else polling only.
pub(super) fn revocation_push(
    redis_url: Option<&str>,
    prefix: &str,
    db: &sea_orm::DatabaseConnection,
) -> RevocationPush {
    let channel = format!("{prefix}:revocations");
    #[cfg(feature = "redis")]
    if let Some(url) = redis_url {
        return RevocationPush::Redis { url: url.to_owned(), channel };
    }
    #[cfg(not(feature = "redis"))]
    let _ = redis_url;
    #[cfg(feature = "sqlx-postgres")]
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        return RevocationPush::Postgres { channel };
    }
    let _ = (db, channel);
    RevocationPush::Poll
}

pub(super) fn mfa_config(m: &MfaSettings, production: bool) -> MfaConfig {
    MfaConfig {
        enabled: m.enabled,
        totp_issuer: m.issuer.trim().to_owned(),
        totp_digits: m.digits as usize,
        totp_period: m.period,
        backup_codes_count: m.backup_codes_count as usize,
        backup_code_length: m.backup_code_length as usize,
        trusted_device_duration_days: m.trusted_device_days,
        sms_code_ttl: Duration::from_secs(u64::from(m.sms.code_ttl_minutes) * 60),
        production,
        required_for_roles: m.required_for_roles.iter().map(|r| r.trim().to_owned()).collect(),
        max_consecutive_failures: m.max_consecutive_failures,
        max_pending_devices: m.max_pending_devices,
        pending_session_policy: m.pending_session_policy,
        step_up_window: Duration::from_secs(m.step_up_window_seconds),
        sms_allowed_country_codes: m.sms.allowed_country_codes.clone(),
        passkeys: PasskeyConfig {
            rp_id: m.passkeys.rp_id.as_deref().map(str::trim).filter(|id| !id.is_empty()).map(str::to_owned),
            rp_name: m.passkeys.rp_name.trim().to_owned(),
            origins: m.passkeys.origins.iter().map(|o| o.trim().to_owned()).collect(),
            ceremony_ttl: Duration::from_secs(m.passkeys.ceremony_ttl_seconds),
        },
        sms_quotas: {
            let window = Duration::from_secs(m.sms.quota_window);
            SmsQuotas {
                per_user: Quota::new(m.sms.quota_per_user, window),
                per_number: Quota::new(m.sms.quota_per_number, window),
                per_address: Quota::new(m.sms.quota_per_address, window),
                global: Quota::new(m.sms.quota_global, window),
            }
        },
        ..MfaConfig::default()
    }
}

#[cfg(feature = "mfa")]
pub(super) fn cipher(m: &MfaSettings) -> Result<Option<Arc<SecretCipher>>, StackError> {
    let Some(key) = &m.encryption_key else { return Ok(None) };
    let mut cipher = SecretCipher::new(key.encryption_key()?);
    for previous in &m.previous_encryption_keys {
        cipher = cipher.with_previous_key(previous.encryption_key()?);
    }
    Ok(Some(Arc::new(cipher)))
}

#[cfg(feature = "mfa")]
pub(super) fn sms_provider(
    m: &MfaSettings,
    custom: Option<Arc<dyn SmsProvider>>,
) -> Result<Option<Arc<dyn SmsProvider>>, StackError> {
    let sms = &m.sms;
    #[cfg(feature = "sms")]
    let missing = |key: &str| StackError::Sms(format!("provider is `{}` but {key} is not set", sms.provider.name()));
    #[cfg(feature = "sms")]
    let text = |value: &Option<String>| value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    #[cfg(feature = "sms")]
    let secret = |value: &Option<crate::config::Secret>| value.clone().filter(|v| !v.is_empty());
    match (sms.provider, custom) {
        (SmsChoice::Custom, Some(provider)) => Ok(Some(provider)),
        (SmsChoice::Custom, None) => Err(StackError::Sms(
            "provider is `custom` but no provider was given to SecurityBuilder::sms_provider".to_owned(),
        )),
        (other, Some(_)) => Err(StackError::Sms(format!(
            "an SMS provider was given to SecurityBuilder::sms_provider but provider is `{}`: set it to `custom`",
            other.name()
        ))),
        (SmsChoice::None, None) => Ok(None),
        (SmsChoice::Console, None) => Ok(Some(Arc::new(ConsoleSmsProvider))),
        #[cfg(not(feature = "sms"))]
        (SmsChoice::Twilio | SmsChoice::Sns, None) => Err(StackError::Sms(format!(
            "provider is `{}` but rail-graphql-security was built without its `sms` feature: enable it or choose another provider",
            sms.provider.name()
        ))),
        #[cfg(feature = "sms")]
        (SmsChoice::Twilio, None) => {
            let sid = text(&sms.twilio_account_sid).ok_or_else(|| missing("twilio_account_sid"))?;
            let token = secret(&sms.twilio_auth_token).ok_or_else(|| missing("twilio_auth_token"))?;
            let from = text(&sms.twilio_from_number).ok_or_else(|| missing("twilio_from_number"))?;
            Ok(Some(Arc::new(TwilioSmsProvider::new(sid, token.expose(), from))))
        }
        #[cfg(feature = "sms")]
        (SmsChoice::Sns, None) => {
            let region = text(&sms.sns_region).ok_or_else(|| missing("sns_region"))?;
            let key_id = text(&sms.sns_access_key_id).ok_or_else(|| missing("sns_access_key_id"))?;
            let key = secret(&sms.sns_secret_access_key).ok_or_else(|| missing("sns_secret_access_key"))?;
            Ok(Some(Arc::new(SnsSmsProvider::new(key_id, key.expose(), region))))
        }
    }
}

fn header_value(key: &'static str, value: &str) -> Result<HeaderValue, StackError> {
    HeaderValue::from_str(value.trim()).map_err(|_| StackError::InvalidHeader { key })
}

pub(super) fn http_security(
    d: &DeploymentConfig,
    headers_on: &bool,
    production: bool,
) -> Result<HttpSecurity, StackError> {
    let headers = SecurityHeaders {
        x_frame_options: Some(header_value("x_frame_options", &d.x_frame_options)?),
        content_type_nosniff: d.content_type_nosniff,
        referrer_policy: Some(header_value("referrer_policy", &d.referrer_policy)?),
        hsts: SecurityHeaders::hsts_value(d.hsts_seconds, d.hsts_include_subdomains, d.hsts_preload),
        content_security_policy: Some(HeaderValue::from_static(API_CSP)),
    };
    let proxies = if d.behind_proxy { TrustedProxies::parse(&d.trusted_proxies)? } else { TrustedProxies::none() };
    let mut http = HttpSecurity::new()
        .security_headers(headers_on.then_some(headers))
        .trusted_proxies(proxies)
        .https_redirect(d.https_redirect)
        .multipart(d.multipart)
        .max_body_bytes(usize::try_from(d.max_request_body_bytes).unwrap_or(usize::MAX));
    if !d.allowed_hosts.is_empty() {
        http = http.allowed_hosts(AllowedHosts::new(&d.allowed_hosts));
    } else if production {
        return Err(StackError::NoAllowedHosts);
    }
    if let Some(cors) = cors_layer(d)? {
        http = http.cors(cors);
    }
    Ok(http)
}

fn cors_layer(d: &DeploymentConfig) -> Result<Option<CorsLayer>, StackError> {
    if d.allowed_origins.is_empty() {
        return Ok(None);
    }
    let any = d.allowed_origins.iter().any(|o| o.trim() == "*");
    if any && d.cors_allow_credentials {
        return Err(StackError::Cors(
            "`*` cannot be combined with cors_allow_credentials: list the origins instead".to_owned(),
        ));
    }
    let origin = if any {
        AllowOrigin::from(Any)
    } else {
        let origins = d
            .allowed_origins
            .iter()
            .map(|o| {
                let o = o.trim().trim_end_matches('/');
                HeaderValue::from_str(o)
                    .ok()
                    .filter(|_| o.starts_with("http://") || o.starts_with("https://"))
                    .ok_or_else(|| StackError::Cors(format!("`{o}` is not an origin such as https://app.example.com")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(origins)
    };
    let request_id = HeaderName::from_static(X_REQUEST_ID.as_str());
    Ok(Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, request_id.clone()])
            .expose_headers([request_id, header::RETRY_AFTER])
            .allow_credentials(d.cors_allow_credentials)
            .max_age(Duration::from_secs(600)),
    ))
}
