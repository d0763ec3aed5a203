//! What a server-rendered page reads from a request's headers: its cookies, and whether a
//! `POST` comes from a page of the same origin (the CSRF check of the dashboard and of pages
//! built the same way).

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

/// The value of the cookie `name` in the request's `Cookie` headers; `None` when it is absent or
/// empty.
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue, header};
/// use rail_graphql_security::http::cookie_value;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(header::COOKIE, HeaderValue::from_static("theme=dark; session=abc.def"));
/// assert_eq!(cookie_value(&headers, "session").as_deref(), Some("abc.def"));
/// assert_eq!(cookie_value(&headers, "missing"), None);
/// ```
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie, _)| *cookie == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether a request comes from a page of this origin: its `Origin` header names the `Host`
/// (any scheme a browser sends), or there is no `Origin` and `Sec-Fetch-Site` says
/// `same-origin`. Behind a reverse proxy, pass the original `Host` through.
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue, header};
/// use rail_graphql_security::http::is_same_origin;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(header::HOST, HeaderValue::from_static("app.example.com"));
/// headers.insert(header::ORIGIN, HeaderValue::from_static("https://app.example.com"));
/// assert!(is_same_origin(&headers));
/// headers.insert(header::ORIGIN, HeaderValue::from_static("https://evil.test"));
/// assert!(!is_same_origin(&headers));
/// ```
pub fn is_same_origin(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let Some(host) = text(header::HOST) else { return false };
    match text(header::ORIGIN) {
        Some(origin) => origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .is_some_and(|authority| authority.eq_ignore_ascii_case(host)),
        None => text(HeaderName::from_static("sec-fetch-site")) == Some("same-origin"),
    }
}
