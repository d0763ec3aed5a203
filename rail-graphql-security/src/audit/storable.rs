//! Making every string of an event storable on every backend and in every format.
//!
//! This is the one place the rules live; the dispatcher applies them to every event (after
//! masking, before the alert engine and the sinks), so no sink ever sees an event a backend
//! cannot hold for its text:
//!
//! - NUL (U+0000) becomes U+FFFD (`�`): PostgreSQL refuses it in text (`invalid byte sequence
//!   for encoding "UTF8": 0x00`) and as `\u0000` in JSON. Every other Unicode scalar value is
//!   kept: SQLite and PostgreSQL (UTF-8) and MySQL/MariaDB (`utf8mb4` tables, so 4-byte
//!   characters such as emoji) store them all, and JSON escapes control characters, so CR/LF
//!   stay data. Lone surrogates cannot occur: a Rust `String` is always valid UTF-8.
//! - A string longer than its column is cut to the column's length in characters (what
//!   `VARCHAR(n)` counts on PostgreSQL and on MySQL/MariaDB), ending with [`TRUNCATION_MARKER`]:
//!   `event_type` 64, `actor_id` 191, `actor_name` 255, `request_id` 128, `user_agent` 8192
//!   (a MySQL `TEXT` holds 65 535 bytes, 16 383 four-byte characters).
//! - In `details`, keys are cut at 256 characters and string values at 8192; objects and arrays
//!   nested deeper than [`MAX_DETAILS_DEPTH`] are replaced by a marker string (MariaDB's
//!   `JSON_VALID` refuses more than 32 levels); details whose JSON is larger than
//!   [`MAX_DETAILS_BYTES`] are replaced by `{"_truncated": …, "original_bytes": n, "preview":
//!   first characters of the JSON}`.

use serde_json::Value;

use super::event::{AuditEvent, AuditEventType};

/// What ends a string cut to fit its column (counted in the column's length).
pub const TRUNCATION_MARKER: &str = "…[truncated]";
/// What replaces NUL.
pub const NUL_REPLACEMENT: char = '\u{FFFD}';
/// `event_type` column length, in characters.
pub const MAX_EVENT_TYPE_CHARS: usize = 64;
/// `actor_id` column length.
pub const MAX_ACTOR_ID_CHARS: usize = 191;
/// `actor_name` column length.
pub const MAX_ACTOR_NAME_CHARS: usize = 255;
/// `request_id` column length.
pub const MAX_REQUEST_ID_CHARS: usize = 128;
/// Longest stored user agent.
pub const MAX_USER_AGENT_CHARS: usize = 8192;
/// Longest key in `details`.
pub const MAX_DETAILS_KEY_CHARS: usize = 256;
/// Longest string value in `details`.
pub const MAX_DETAILS_STRING_CHARS: usize = 8192;
/// Deepest nesting of objects and arrays kept in `details`.
pub const MAX_DETAILS_DEPTH: usize = 16;
/// Largest `details` JSON kept whole, in bytes.
pub const MAX_DETAILS_BYTES: usize = 64 * 1024;
/// Characters of the JSON kept as `preview` when `details` is too large.
const DETAILS_PREVIEW_CHARS: usize = 1024;
const TOO_DEEP: &str = "[truncated: nested too deep]";

/// `s` made storable in a column of `max_chars` characters; `None` when it already was.
pub(crate) fn storable_text(s: &str, max_chars: usize) -> Option<String> {
    let has_nul = s.contains('\0');
    // Byte length bounds the character count from above: most strings skip the count.
    let too_long = s.len() > max_chars && s.chars().count() > max_chars;
    if !has_nul && !too_long {
        return None;
    }
    let replaced =
        |s: &str| if has_nul { s.replace('\0', NUL_REPLACEMENT.encode_utf8(&mut [0; 4])) } else { s.to_owned() };
    if !too_long {
        return Some(replaced(s));
    }
    let keep = max_chars.saturating_sub(TRUNCATION_MARKER.chars().count());
    let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
    let mut cut = replaced(&s[..end]);
    cut.push_str(TRUNCATION_MARKER);
    Some(cut)
}

fn fix(s: &mut String, max_chars: usize) -> bool {
    match storable_text(s, max_chars) {
        Some(fixed) => {
            *s = fixed;
            true
        }
        None => false,
    }
}

fn fix_opt(s: &mut Option<String>, max_chars: usize) -> bool {
    s.as_mut().is_some_and(|s| fix(s, max_chars))
}

impl AuditEvent {
    /// Applies the storability rules of this module's docs to every string of the event;
    /// returns whether anything changed. The logger does this to every event before its sinks
    /// see it; call it yourself only when you hand events to a sink directly.
    ///
    /// ```
    /// use rail_graphql_security::audit::{AuditEvent, AuditEventType};
    ///
    /// let mut event = AuditEvent::new(AuditEventType::LoginFailed)
    ///     .actor_name("evil\0user")
    ///     .user_agent(Some("x".repeat(10_000)));
    /// assert!(event.make_storable());
    /// assert_eq!(event.actor_name.as_deref(), Some("evil\u{FFFD}user"));
    /// assert!(event.user_agent.as_deref().unwrap().ends_with("…[truncated]"));
    /// assert!(!event.make_storable(), "a second pass changes nothing");
    /// ```
    pub fn make_storable(&mut self) -> bool {
        let mut changed = false;
        if let AuditEventType::Custom(name) = &mut self.event_type {
            changed |= fix(name, MAX_EVENT_TYPE_CHARS);
        }
        changed |= fix_opt(&mut self.actor_id, MAX_ACTOR_ID_CHARS);
        changed |= fix_opt(&mut self.actor_name, MAX_ACTOR_NAME_CHARS);
        changed |= fix_opt(&mut self.user_agent, MAX_USER_AGENT_CHARS);
        changed |= fix_opt(&mut self.request_id, MAX_REQUEST_ID_CHARS);
        changed |= storable_details(&mut self.details);
        changed
    }
}

/// Applies the `details` rules; returns whether anything changed.
fn storable_details(details: &mut Value) -> bool {
    let changed = storable_value(details, 0);
    // Most details are a few fields: a cheap upper bound spares them a serialization.
    if json_len_upper_bound(details) <= MAX_DETAILS_BYTES {
        return changed;
    }
    let size = serde_json::to_vec(details).map_or(0, |json| json.len());
    if size <= MAX_DETAILS_BYTES {
        return changed;
    }
    let json = details.to_string();
    let preview = storable_text(&json, DETAILS_PREVIEW_CHARS).unwrap_or(json);
    *details = serde_json::json!({
        "_truncated": format!("details were {size} bytes of JSON, more than the {MAX_DETAILS_BYTES} stored"),
        "original_bytes": size,
        "preview": preview,
    });
    true
}

/// At least the length of `value`'s compact JSON: a character escapes to at most 6 bytes
/// (`\u001f`), a number prints in at most 24.
fn json_len_upper_bound(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 24,
        Value::String(s) => s.len() * 6 + 2,
        Value::Array(items) => items.iter().map(|v| json_len_upper_bound(v) + 1).sum::<usize>() + 2,
        Value::Object(map) => map.iter().map(|(k, v)| k.len() * 6 + 4 + json_len_upper_bound(v)).sum::<usize>() + 2,
    }
}

fn storable_value(value: &mut Value, depth: usize) -> bool {
    match value {
        Value::String(s) => fix(s, MAX_DETAILS_STRING_CHARS),
        Value::Array(_) | Value::Object(_) if depth >= MAX_DETAILS_DEPTH => {
            *value = Value::String(TOO_DEEP.to_owned());
            true
        }
        Value::Array(items) => items.iter_mut().fold(false, |changed, v| storable_value(v, depth + 1) | changed),
        Value::Object(map) => {
            let mut changed = false;
            if map.keys().any(|k| storable_text(k, MAX_DETAILS_KEY_CHARS).is_some()) {
                // Rebuild: keys cannot be renamed in place. Two keys that become equal keep the
                // later value, which a reader of the (already lossy) key could not tell apart.
                let old = std::mem::take(map);
                for (key, v) in old {
                    let key = storable_text(&key, MAX_DETAILS_KEY_CHARS).unwrap_or(key);
                    map.insert(key, v);
                }
                changed = true;
            }
            map.values_mut().fold(changed, |changed, v| storable_value(v, depth + 1) | changed)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_becomes_the_replacement_character_everywhere() {
        let mut event = AuditEvent::new(AuditEventType::Custom("a\0b".into()))
            .actor_id("1\0")
            .actor_name("evil\0user")
            .user_agent(Some("ua\0"))
            .request_id(Some("\0"))
            .details(json!({"k\0": ["v\0", {"n": "\0"}]}));
        assert!(event.make_storable());
        assert_eq!(event.event_type.as_str(), "a\u{FFFD}b");
        assert_eq!(event.actor_id.as_deref(), Some("1\u{FFFD}"));
        assert_eq!(event.actor_name.as_deref(), Some("evil\u{FFFD}user"));
        assert_eq!(event.user_agent.as_deref(), Some("ua\u{FFFD}"));
        assert_eq!(event.request_id.as_deref(), Some("\u{FFFD}"));
        assert_eq!(event.details, json!({"k\u{FFFD}": ["v\u{FFFD}", {"n": "\u{FFFD}"}]}));
        assert!(!serde_json::to_string(&event).unwrap().contains("\\u0000"));
    }

    #[test]
    fn long_strings_are_cut_to_the_column_with_a_visible_marker() {
        let emoji = "😀".repeat(300);
        let cut = storable_text(&emoji, MAX_ACTOR_NAME_CHARS).unwrap();
        assert_eq!(cut.chars().count(), MAX_ACTOR_NAME_CHARS);
        assert!(cut.ends_with(TRUNCATION_MARKER));
        assert!(cut.starts_with("😀😀"));
        // Exactly at the limit: untouched, whatever the byte length.
        assert_eq!(storable_text(&"😀".repeat(255), MAX_ACTOR_NAME_CHARS), None);
        assert_eq!(storable_text("plain", MAX_ACTOR_NAME_CHARS), None);
    }

    #[test]
    fn control_characters_other_than_nul_are_data() {
        assert_eq!(storable_text("a\r\nb\u{1}\u{7f}\u{FFFF}", 64), None);
    }

    #[test]
    fn deep_and_huge_details_are_replaced_visibly() {
        let mut deep = json!("leaf");
        for _ in 0..40 {
            deep = json!([deep]);
        }
        let mut event = AuditEvent::new(AuditEventType::Logout).details(json!({ "deep": deep }));
        assert!(event.make_storable());
        let text = event.details.to_string();
        assert!(text.contains(TOO_DEEP), "{text}");
        assert!(!text.contains("leaf"));

        let many: serde_json::Map<String, Value> = (0..10_000).map(|i| (format!("field{i}"), json!("x"))).collect();
        let mut event = AuditEvent::new(AuditEventType::Logout).details(Value::Object(many));
        assert!(event.make_storable());
        assert!(event.details["_truncated"].as_str().unwrap().contains("bytes of JSON"));
        assert!(event.details["original_bytes"].as_u64().unwrap() > MAX_DETAILS_BYTES as u64);
        assert!(event.details["preview"].as_str().unwrap().starts_with("{\"field0\""));
    }
}
