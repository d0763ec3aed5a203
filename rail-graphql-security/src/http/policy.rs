//! The response headers, host names and cookie attributes the deployment settings choose.

use axum::http::{HeaderMap, HeaderValue, header};

use super::API_CSP;
use crate::config::standard::SameSite;

/// The security headers added to every response that does not set them itself.
///
/// ```
/// use rail_graphql_security::http::SecurityHeaders;
///
/// let headers = SecurityHeaders { hsts: SecurityHeaders::hsts_value(63_072_000, true, true), ..SecurityHeaders::default() };
/// assert_eq!(headers.hsts.unwrap(), "max-age=63072000; includeSubDomains; preload");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityHeaders {
    /// `X-Frame-Options` (default `DENY`).
    pub x_frame_options: Option<HeaderValue>,
    /// `X-Content-Type-Options: nosniff` (default on).
    pub content_type_nosniff: bool,
    /// `Referrer-Policy` (default `strict-origin-when-cross-origin`).
    pub referrer_policy: Option<HeaderValue>,
    /// `Strict-Transport-Security` (default one year with `includeSubDomains`).
    pub hsts: Option<HeaderValue>,
    /// `Content-Security-Policy` (default [`API_CSP`]: nothing may be loaded or framed).
    pub content_security_policy: Option<HeaderValue>,
}

impl Default for SecurityHeaders {
    fn default() -> Self {
        Self {
            x_frame_options: Some(HeaderValue::from_static("DENY")),
            content_type_nosniff: true,
            referrer_policy: Some(HeaderValue::from_static("strict-origin-when-cross-origin")),
            hsts: Self::hsts_value(31_536_000, true, false),
            content_security_policy: Some(HeaderValue::from_static(API_CSP)),
        }
    }
}

impl SecurityHeaders {
    /// The `Strict-Transport-Security` value, or `None` for a max-age of 0 (no header).
    pub fn hsts_value(max_age_seconds: u64, include_subdomains: bool, preload: bool) -> Option<HeaderValue> {
        if max_age_seconds == 0 {
            return None;
        }
        let mut value = format!("max-age={max_age_seconds}");
        if include_subdomains {
            value.push_str("; includeSubDomains");
        }
        if preload {
            value.push_str("; preload");
        }
        HeaderValue::from_str(&value).ok()
    }

    /// Sets the headers `headers` does not have yet.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        if self.content_type_nosniff {
            headers.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
        }
        let values = [
            (header::X_FRAME_OPTIONS, &self.x_frame_options),
            (header::REFERRER_POLICY, &self.referrer_policy),
            (header::CONTENT_SECURITY_POLICY, &self.content_security_policy),
            (header::STRICT_TRANSPORT_SECURITY, &self.hsts),
        ];
        for (name, value) in values {
            if let Some(value) = value {
                headers.entry(name).or_insert_with(|| value.clone());
            }
        }
    }
}

/// The host names a server answers to: exact names (case-insensitive, port ignored), `*` for
/// any, or `.example.com` for `example.com` and its subdomains (as Django's `ALLOWED_HOSTS`).
///
/// ```
/// use rail_graphql_security::http::AllowedHosts;
///
/// let hosts = AllowedHosts::new(["api.example.com", ".example.org"]);
/// assert!(hosts.allows("API.example.com:8443"));
/// assert!(hosts.allows("eu.example.org") && hosts.allows("example.org"));
/// assert!(!hosts.allows("evil.com") && !hosts.allows("api.example.com.evil.com"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHosts {
    patterns: Vec<String>,
}

impl AllowedHosts {
    /// These patterns.
    pub fn new<I, S>(patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self { patterns: patterns.into_iter().map(|p| p.as_ref().trim().to_ascii_lowercase()).collect() }
    }

    /// Whether a `Host` header value is allowed.
    pub fn allows(&self, host: &str) -> bool {
        let name = strip_port(host.trim()).trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() {
            return false;
        }
        self.patterns.iter().any(|pattern| match pattern.strip_prefix('.') {
            _ if pattern == "*" => true,
            Some(domain) => name == domain || name.ends_with(pattern.as_str()),
            None => name == *pattern,
        })
    }
}

/// `host:port` → `host`; `[::1]:80` → `::1`.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The attributes of cookies the plugin sets (the dashboard's session cookie), from
/// `deployment.cookie_secure`, `cookie_http_only` and `cookie_same_site`.
///
/// ```
/// use rail_graphql_security::config::standard::SameSite;
/// use rail_graphql_security::http::CookiePolicy;
///
/// let policy = CookiePolicy { secure: true, http_only: true, same_site: SameSite::Lax };
/// assert_eq!(policy.attributes(), "; HttpOnly; SameSite=Lax; Secure");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePolicy {
    /// `Secure`: sent over https only.
    pub secure: bool,
    /// `HttpOnly`: not readable by scripts.
    pub http_only: bool,
    /// `SameSite`.
    pub same_site: SameSite,
}

impl Default for CookiePolicy {
    /// `Secure; HttpOnly; SameSite=Strict`.
    fn default() -> Self {
        Self { secure: true, http_only: true, same_site: SameSite::Strict }
    }
}

impl CookiePolicy {
    /// The attributes to append to `name=value; Path=..`, each preceded by `; `.
    pub fn attributes(&self) -> String {
        let same_site = match self.same_site {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        };
        let mut out = String::new();
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        out.push_str("; SameSite=");
        out.push_str(same_site);
        // Browsers drop `SameSite=None` cookies without `Secure`.
        if self.secure || self.same_site == SameSite::None {
            out.push_str("; Secure");
        }
        out
    }
}
