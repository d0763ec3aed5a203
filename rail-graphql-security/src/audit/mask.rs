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
