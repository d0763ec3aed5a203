//! Masking of secret-looking values in event details.
//!
//! A key is secret-looking when, lowercased and with `_`, `-` and `.` removed, it contains one of
//! [`SECRET_KEY_MARKERS`]: `newPassword`, `otp_code`, `Authorization`, `api-key`, `X-Auth-Token`
//! all match. Matching is deliberately broad: a masked harmless value costs a little clarity, a
//! leaked secret costs an incident.

use serde_json::Value;

/// What replaces a masked value.
pub const MASK: &str = "***";

/// Substrings that mark a key as secret (compared against the normalized key).
pub(crate) const SECRET_KEY_MARKERS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "code",
    "otp",
    "key",
    "authorization",
    "cookie",
    "credential",
    "signature",
    "session",
    "hash",
];

/// Whether a details key looks like it holds a secret.
///
/// ```
/// use rail_graphql_security::audit::is_secret_key;
/// assert!(is_secret_key("newPassword"));
/// assert!(is_secret_key("otp_code"));
/// assert!(is_secret_key("Authorization"));
/// assert!(!is_secret_key("reason"));
/// ```
pub fn is_secret_key(key: &str) -> bool {
    // Runs for every details key of every event: normalize into a stack buffer, no allocation.
    let mut buf = [0u8; 64];
    let mut len = 0;
    for &b in key.as_bytes() {
        if matches!(b, b'_' | b'-' | b'.' | b' ') {
            continue;
        }
        if len == buf.len() || !b.is_ascii() {
            return is_secret_key_slow(key);
        }
        buf[len] = b.to_ascii_lowercase();
        len += 1;
    }
    let normalized = &buf[..len];
    SECRET_KEY_MARKERS.iter().any(|m| normalized.windows(m.len()).any(|w| w == m.as_bytes()))
}

/// The same test for long or non-ASCII keys.
fn is_secret_key_slow(key: &str) -> bool {
    let normalized: String =
        key.chars().filter(|c| !matches!(c, '_' | '-' | '.' | ' ')).flat_map(char::to_lowercase).collect();
    SECRET_KEY_MARKERS.iter().any(|m| normalized.contains(m))
}

/// `url` for Debug output and logs: a password and a query string (which may carry an api key)
/// are replaced by [`MASK`]; an unparseable URL is not shown at all.
pub(crate) fn redact_url(url: &str) -> String {
    let Ok(mut url) = url::Url::parse(url) else {
        return "[invalid url]".to_owned();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some(MASK));
    }
    if url.query().is_some() {
        url.set_query(Some(MASK));
    }
    url.into()
}

/// A webhook's `url` for Debug output and logs: as [`redact_url`], and the path masked from its
/// first segment that is not a plain word, since the path of many webhooks is their credential
/// (`/services/T0/B0/<token>` shows as `/services/***`).
#[cfg(feature = "webhook")]
pub(crate) fn redact_endpoint(url: &str) -> String {
    let redacted = redact_url(url);
    let Ok(mut url) = url::Url::parse(&redacted) else { return redacted };
    if let Some(segments) = url.path_segments() {
        let segments: Vec<String> = segments.map(str::to_owned).collect();
        let plain = segments.iter().take_while(|s| is_plain_word(s)).count();
        if plain < segments.len() {
            let mut path: String = segments[..plain].iter().map(|s| format!("/{s}")).collect();
            path.push('/');
            path.push_str(MASK);
            url.set_path(&path);
        }
    }
    url.into()
}

/// A path segment that names a route rather than carries a token: a short run of ASCII letters,
/// `-` and `_` (no digits), or nothing (a trailing `/`).
#[cfg(feature = "webhook")]
fn is_plain_word(segment: &str) -> bool {
    segment.len() <= 24 && segment.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_')
}

/// A database URL for output: the password masked, and the values of query parameters whose
/// name looks secret (`password=`, `sslpassword=`, ...); the rest (`mode=rwc`) stays readable.
#[cfg(feature = "cli")]
pub(crate) fn redact_database_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "[invalid url]".to_owned();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some(MASK));
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_key(&k) { MASK.to_owned() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.into()
}

/// `text` (an error from connecting to `url`) with the credentials of `url` masked wherever
/// they appear: drivers quote the connection string in their errors, whole or in parts, and a
/// URL that does not parse (an unencoded `#` or `/` in the password) cannot be redacted as a
/// URL.
#[cfg(feature = "cli")]
pub(crate) fn redact_url_in(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact_url(url));
    for secret in url_secrets(url) {
        out = out.replace(&secret, MASK);
    }
    out
}

/// The password and the query of `url`, raw and percent-decoded, found by plain string
/// splitting (the URL may not parse); longest first, so a decoded form inside a raw one is
/// masked whole.
#[cfg(feature = "cli")]
fn url_secrets(url: &str) -> Vec<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let mut raw = Vec::new();
    if let Some((userinfo, _)) = rest.rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
    {
        raw.push(password.to_owned());
    }
    if let Some((_, query)) = rest.split_once('?') {
        raw.push(query.to_owned());
        raw.extend(query.split('&').filter_map(|pair| pair.split_once('=')).map(|(_, value)| value.to_owned()));
    }
    let decoded = raw.iter().filter_map(|r| {
        url::form_urlencoded::parse(format!("v={}", r.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    });
    let mut secrets: Vec<String> =
        raw.iter().cloned().chain(decoded.collect::<Vec<_>>()).filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

/// Replaces, recursively, every value under a secret-looking key with [`MASK`].
///
/// Whole subtrees are masked: `{"credentials": {"user": "a"}}` becomes `{"credentials": "***"}`.
pub fn mask_details(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_secret_key(key) {
                    if !v.is_null() {
                        *v = Value::String(MASK.to_owned());
                    }
                } else {
                    mask_details(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_details),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_keys_case_insensitively_and_by_substring() {
        let mut v = json!({
            "newPassword": "p1", "otp_code": "123456", "Authorization": "Bearer x",
            "X-Api-Key": "k", "refresh_token": "t", "reason": "bad", "attempts": 3,
        });
        mask_details(&mut v);
        for k in ["newPassword", "otp_code", "Authorization", "X-Api-Key", "refresh_token"] {
            assert_eq!(v[k], MASK, "{k} must be masked");
        }
        assert_eq!(v["reason"], "bad");
        assert_eq!(v["attempts"], 3);
    }

    #[test]
    fn long_and_non_ascii_keys_take_the_same_decision() {
        let long = format!("{}_password", "x".repeat(80));
        assert!(is_secret_key(&long));
        assert!(!is_secret_key(&"x".repeat(80)));
        assert!(is_secret_key("Passwört_token"));
        assert!(is_secret_key("MOT-DE-PASSE-TOKEN"));
        assert!(!is_secret_key("raison_é"));
    }

    #[test]
    fn masks_nested_objects_and_arrays() {
        let mut v = json!({"changes": [{"field": "email", "password": "x"}], "meta": {"SECRET": {"a": 1}}});
        mask_details(&mut v);
        assert_eq!(v["changes"][0]["password"], MASK);
        assert_eq!(v["changes"][0]["field"], "email");
        assert_eq!(v["meta"]["SECRET"], MASK);
    }

    #[test]
    fn redacts_url_passwords_and_queries() {
        assert_eq!(redact_url("https://u:pw@siem.example.com/in?api_key=k"), "https://u:***@siem.example.com/in?***");
    }

    #[test]
    #[cfg(feature = "webhook")]
    fn an_endpoint_path_that_carries_a_token_is_masked() {
        let slack = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";
        assert_eq!(redact_endpoint(slack), "https://hooks.slack.com/services/***");
        let discord = "https://discord.com/api/webhooks/123456/tok_en-Abc";
        assert_eq!(redact_endpoint(discord), "https://discord.com/api/webhooks/***");
        assert_eq!(redact_endpoint("https://h.example/aGVsbG8gd29ybGQ"), "https://h.example/***");
        assert_eq!(redact_endpoint("https://h.example/%74oken"), "https://h.example/***");
        // Plain routes stay readable, with the other rules of `redact_url`.
        assert_eq!(
            redact_endpoint("https://u:pw@siem.example.com/ingest/?k=v"),
            "https://u:***@siem.example.com/ingest/?***"
        );
        assert_eq!(redact_endpoint("https://siem.example.com"), "https://siem.example.com/");
        assert_eq!(redact_endpoint("not a url"), "[invalid url]");
    }

    #[test]
    #[cfg(feature = "cli")]
    fn credentials_are_masked_wherever_an_error_quotes_them() {
        // A password the URL parser refuses (`#` unencoded), quoted whole by the driver.
        let url = "postgres://admin:Real#Pw1@127.0.0.1:1/db";
        let error = format!("The connection string '{url}' cannot be parsed.");
        let masked = redact_url_in(&error, url);
        assert!(!masked.contains("Real#Pw1") && !masked.contains("Real"), "{masked}");
        // Percent-encoded in the URL, decoded in the error; and a password in the query.
        let url = "mysql://root:p%40ss%2Fword@db:3306/app?password=QuerySecret2&ssl-mode=required";
        let error = "access denied for root with password p@ss/word (QuerySecret2)";
        let masked = redact_url_in(error, url);
        assert!(!masked.contains("p@ss/word") && !masked.contains("QuerySecret2"), "{masked}");
        assert_eq!(redact_url_in("no driver for sqlite://x.db", "sqlite://x.db"), "no driver for sqlite://x.db");
        assert_eq!(
            redact_database_url("postgres://u:pw@h/db?sslmode=require&password=QuerySecret2"),
            "postgres://u:***@h/db?sslmode=require&password=***"
        );
        assert_eq!(redact_database_url("sqlite://app.db?mode=rwc"), "sqlite://app.db?mode=rwc");
        assert_eq!(redact_url("https://siem.example.com/in"), "https://siem.example.com/in");
        assert_eq!(redact_url("not a url pw"), "[invalid url]");
    }

    #[test]
    fn leaves_nulls_so_absence_stays_visible() {
        let mut v = json!({"token": null});
        mask_details(&mut v);
        assert!(v["token"].is_null());
    }
}
