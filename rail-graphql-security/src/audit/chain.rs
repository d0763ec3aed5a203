//! The hash chain that makes the audit trail tamper-evident.
//!
//! Every logger is one *writer*: when it starts it opens a chain of its own (a fresh UUIDv7),
//! and its dispatcher gives each event, in the order the sinks receive them, a [`ChainLink`]:
//! the chain id, a sequence number (1, 2, …), the previous event's hash and this event's hash,
//! SHA-256 over the event's [canonical encoding](canonical_encoding) together with those three.
//! Sinks store and publish the link with the event, so a row, a file line or a stream message
//! carries what it takes to check it.
//!
//! Why one chain per writer: several instances write into one database at once, and a single
//! chain would need a lock (or a round trip for the previous hash) shared by all of them on
//! every batch. With a chain per logger the dispatcher links events in memory, with no I/O and
//! no coordination; the verifier checks each chain on its own and
//! [checkpoints](super::checkpoint) sign each chain's head.
//!
//! What the chain shows, without any key: a changed row (its hash no longer matches its
//! content; the [`ChainLink::fields`] tags name the field), a removed row or range (a gap in the
//! sequence), an inserted or reordered row (a link that does not point at its predecessor).
//! Someone who can write the table can also recompute every hash after a change: the signed
//! checkpoints are what catches that.

use std::fmt;
use std::io::Write;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::event::AuditEvent;

/// The version tag at the start of every canonical encoding.
const ENCODING_VERSION: &str = "rail-audit-chain-v1";

/// The event fields the chain covers, in encoding order; [`ChainLink::fields`] has one tag per
/// name.
pub const CHAINED_FIELDS: [&str; 10] = [
    "id",
    "event_type",
    "severity",
    "timestamp",
    "actor_id",
    "actor_name",
    "client_ip",
    "user_agent",
    "request_id",
    "details",
];

/// A SHA-256 digest, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The previous hash of every chain's first event: 32 zero bytes.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    /// The 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }

    /// The hash of 32 stored bytes; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The 64 hex digits into `out`, without allocating.
    fn hex_into<'a>(&self, out: &'a mut [u8; 64]) -> &'a str {
        // 64 bytes of room for 32 bytes: cannot fail; the digits are ASCII.
        let _ = hex::encode_to_slice(self.0, out);
        std::str::from_utf8(out).unwrap_or_default()
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({})", self.to_hex())
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hex_into(&mut [0; 64]))
    }
}

impl Serialize for ChainHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ChainHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::from_hex(&text).ok_or_else(|| serde::de::Error::custom("a chain hash is 64 hex digits"))
    }
}

/// Short per-field tags: 16 bits of a checksum of each of the [`CHAINED_FIELDS`], so the
/// verifier can say *which* field of a changed row differs. Diagnostic only: the hash is what
/// proves integrity (a changed field whose tag still matches, 1 in 65,536, is reported as a
/// changed row without a field name).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct FieldTags(pub [u16; 10]);

impl FieldTags {
    /// 40 hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|tag| format!("{tag:04x}")).collect()
    }

    /// The 20 stored bytes: each tag big-endian, in [`CHAINED_FIELDS`] order.
    pub fn to_bytes(&self) -> [u8; 20] {
        let mut bytes = [0; 20];
        for (pair, tag) in bytes.chunks_exact_mut(2).zip(self.0) {
            pair.copy_from_slice(&tag.to_be_bytes());
        }
        bytes
    }

    /// The tags of 20 stored bytes ([`Self::to_bytes`]); `None` for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 20 {
            return None;
        }
        let mut tags = [0; 10];
        for (tag, pair) in tags.iter_mut().zip(bytes.chunks_exact(2)) {
            *tag = u16::from_be_bytes([pair[0], pair[1]]);
        }
        Some(Self(tags))
    }

    /// Parses 40 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 40 || !text.is_ascii() {
            return None;
        }
        let mut tags = [0; 10];
        for (i, tag) in tags.iter_mut().enumerate() {
            *tag = u16::from_str_radix(&text[i * 4..i * 4 + 4], 16).ok()?;
        }
        Some(Self(tags))
    }

    /// The names of the fields whose tags differ between `self` (stored) and `other`
    /// (recomputed).
    pub fn differing(&self, other: &FieldTags) -> Vec<&'static str> {
        CHAINED_FIELDS
            .iter()
            .zip(self.0.iter().zip(other.0.iter()))
            .filter(|(_, (a, b))| a != b)
            .map(|(n, _)| *n)
            .collect()
    }
}

impl fmt::Debug for FieldTags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FieldTags({})", self.to_hex())
    }
}

impl Serialize for FieldTags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for FieldTags {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::from_hex(&text).ok_or_else(|| serde::de::Error::custom("chain field tags are 40 hex digits"))
    }
}

/// An event's place in its writer's chain (stored in the `chain_*` columns of `audit_events`
/// and written as `"chain"` in the JSON export).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    /// The writer's chain.
    #[serde(rename = "id")]
    pub chain: Uuid,
    /// 1 for the chain's first event, then one more per event.
    pub seq: u64,
    /// The hash of the chain's previous event ([`ChainHash::GENESIS`] for the first).
    pub prev: ChainHash,
    /// SHA-256 of the canonical encoding of the event with `chain`, `seq` and `prev`.
    pub hash: ChainHash,
    /// Per-field tags, to name the field of a changed row.
    pub fields: FieldTags,
}

impl ChainLink {
    /// The link `event` gets at `seq` after `prev` in `chain` (the event's own `chain` field is
    /// ignored).
    pub fn compute(event: &AuditEvent, chain: Uuid, seq: u64, prev: ChainHash) -> Self {
        let (hash, fields) = digest(event, chain, seq, prev);
        Self { chain, seq, prev, hash, fields }
    }

    /// Whether `event`'s content, with this link's chain, sequence number and previous hash,
    /// hashes to this link's hash; else the recomputed tags, to compare with [`Self::fields`].
    pub fn check(&self, event: &AuditEvent) -> Result<(), FieldTags> {
        let (hash, fields) = digest(event, self.chain, self.seq, self.prev);
        if hash == self.hash { Ok(()) } else { Err(fields) }
    }
}

/// A link as the `chain_*` columns of `audit_events` hold it (all `None` for an event without
/// one): the chain id's 16 bytes, the sequence number, the two 32-byte hashes and the 20 bytes
/// of [`FieldTags::to_bytes`]. The one place that lays a link out for storage.
#[derive(Debug, Default)]
pub(crate) struct ChainColumns {
    pub(crate) chain_id: Option<Vec<u8>>,
    pub(crate) chain_seq: Option<i64>,
    pub(crate) chain_prev: Option<Vec<u8>>,
    pub(crate) chain_hash: Option<Vec<u8>>,
    pub(crate) chain_fields: Option<Vec<u8>>,
}

impl From<Option<&ChainLink>> for ChainColumns {
    fn from(link: Option<&ChainLink>) -> Self {
        let Some(link) = link else { return Self::default() };
        Self {
            chain_id: Some(link.chain.as_bytes().to_vec()),
            chain_seq: Some(link.seq as i64),
            chain_prev: Some(link.prev.0.to_vec()),
            chain_hash: Some(link.hash.0.to_vec()),
            chain_fields: Some(link.fields.to_bytes().to_vec()),
        }
    }
}

/// A writer's chain: the next link to hand out.
#[derive(Debug)]
pub(crate) struct ChainWriter {
    chain: Uuid,
    last_seq: u64,
    last_hash: ChainHash,
    buffer: Vec<u8>,
}

impl ChainWriter {
    /// A new chain.
    pub(crate) fn new() -> Self {
        Self { chain: Uuid::now_v7(), last_seq: 0, last_hash: ChainHash::GENESIS, buffer: Vec::with_capacity(1024) }
    }

    /// Links `event` after the previous one, replacing any link it came with.
    pub(crate) fn link(&mut self, event: &mut AuditEvent) {
        let seq = self.last_seq + 1;
        self.buffer.clear();
        let fields = encode(&mut self.buffer, event, self.chain, seq, self.last_hash);
        let hash = ChainHash(Sha256::digest(&self.buffer).into());
        event.chain = Some(ChainLink { chain: self.chain, seq, prev: self.last_hash, hash, fields });
        self.last_seq = seq;
        self.last_hash = hash;
    }
}

fn digest(event: &AuditEvent, chain: Uuid, seq: u64, prev: ChainHash) -> (ChainHash, FieldTags) {
    let mut buffer = Vec::with_capacity(512);
    let fields = encode(&mut buffer, event, chain, seq, prev);
    (ChainHash(Sha256::digest(&buffer).into()), fields)
}

/// The bytes an event's hash is computed over: a compact JSON array
/// `["rail-audit-chain-v1", chain, seq, prev, id, event_type, severity, timestamp, actor_id,
/// actor_name, client_ip, user_agent, request_id, details]`, with the timestamp as RFC 3339 UTC
/// with six fractional digits, absent values as `null`, and `details` in canonical JSON (object
/// keys sorted by their UTF-8 bytes, no whitespace, a zero float as `0.0`), so the same event
/// read back from any backend (PostgreSQL's `jsonb` reorders keys) encodes the same.
pub fn canonical_encoding(event: &AuditEvent, chain: Uuid, seq: u64, prev: ChainHash) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(512);
    encode(&mut buffer, event, chain, seq, prev);
    buffer
}

fn encode(out: &mut Vec<u8>, e: &AuditEvent, chain: Uuid, seq: u64, prev: ChainHash) -> FieldTags {
    let mut tags = [0u16; 10];
    out.extend_from_slice(b"[\"");
    out.extend_from_slice(ENCODING_VERSION.as_bytes());
    out.extend_from_slice(b"\",\"");
    out.extend_from_slice(chain.hyphenated().encode_lower(&mut Uuid::encode_buffer()).as_bytes());
    let _ = write!(out, "\",{seq},\"");
    out.extend_from_slice(prev.hex_into(&mut [0; 64]).as_bytes());
    out.push(b'"');
    let mut field = |out: &mut Vec<u8>, index: usize, write: &dyn Fn(&mut Vec<u8>)| {
        out.push(b',');
        let start = out.len();
        write(out);
        tags[index] = tag(&out[start..]);
    };
    field(out, 0, &|out| {
        out.push(b'"');
        out.extend_from_slice(e.id.hyphenated().encode_lower(&mut Uuid::encode_buffer()).as_bytes());
        out.push(b'"');
    });
    field(out, 1, &|out| string(out, e.event_type.as_str()));
    field(out, 2, &|out| string(out, e.severity.as_str()));
    field(out, 3, &|out| timestamp(out, &e.timestamp));
    field(out, 4, &|out| optional(out, e.actor_id.as_deref()));
    field(out, 5, &|out| optional(out, e.actor_name.as_deref()));
    field(out, 6, &|out| match e.client_ip {
        Some(std::net::IpAddr::V4(ip)) => {
            // Dotted decimal, as `Display` writes it, without the formatting machinery.
            out.push(b'"');
            for (i, octet) in ip.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + octet / 10 % 10);
                }
                out.push(b'0' + octet % 10);
            }
            out.push(b'"');
        }
        Some(ip) => {
            let _ = write!(out, "\"{ip}\"");
        }
        None => out.extend_from_slice(b"null"),
    });
    field(out, 7, &|out| optional(out, e.user_agent.as_deref()));
    field(out, 8, &|out| optional(out, e.request_id.as_deref()));
    field(out, 9, &|out| canonical_json(out, &e.details));
    out.push(b']');
    FieldTags(tags)
}

/// The quoted timestamp as `%Y-%m-%dT%H:%M:%S%.6fZ` (six fractional digits, truncated), written
/// by hand for years 0 to 9999 (chrono parses its format string on every call) and by chrono
/// otherwise (and for a leap second).
fn timestamp(out: &mut Vec<u8>, t: &chrono::DateTime<chrono::Utc>) {
    use chrono::{Datelike, Timelike};
    let t = t.naive_utc();
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        let _ = write!(out, "\"{}\"", t.format("%Y-%m-%dT%H:%M:%S%.6fZ"));
        return;
    }
    fn digits(out: &mut Vec<u8>, value: u32, width: usize) {
        let mut buffer = [b'0'; 6];
        let mut rest = value;
        for slot in buffer[..width].iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        out.extend_from_slice(&buffer[..width]);
    }
    out.push(b'"');
    digits(out, year as u32, 4);
    out.push(b'-');
    digits(out, t.month(), 2);
    out.push(b'-');
    digits(out, t.day(), 2);
    out.push(b'T');
    digits(out, t.hour(), 2);
    out.push(b':');
    digits(out, t.minute(), 2);
    out.push(b':');
    digits(out, t.second(), 2);
    out.push(b'.');
    digits(out, nanos / 1_000, 6);
    out.extend_from_slice(b"Z\"");
}

/// FNV-1a, folded to 16 bits.
fn tag(bytes: &[u8]) -> u16 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash ^ (hash >> 16)) as u16
}

fn string(out: &mut Vec<u8>, s: &str) {
    // Writing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn optional(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn canonical_json(out: &mut Vec<u8>, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        // PostgreSQL's numeric has no negative zero: -0.0 comes back as 0.0.
        Value::Number(n) if n.as_f64() == Some(0.0) && n.is_f64() => out.extend_from_slice(b"0.0"),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(out, key);
                out.push(b':');
                canonical_json(out, value);
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditEventType;

    fn event() -> AuditEvent {
        AuditEvent::new(AuditEventType::LoginFailed)
            .actor_name("alice")
            .client_ip("203.0.113.9".parse().ok())
            .details(serde_json::json!({"b": 1, "a": [1.5, -0.0, {"z": null, "y": "é\n"}]}))
    }

    #[test]
    fn links_follow_each_other_and_verify() {
        let mut writer = ChainWriter::new();
        let (mut first, mut second) = (event(), event());
        writer.link(&mut first);
        writer.link(&mut second);
        let (a, b) = (first.chain.unwrap(), second.chain.unwrap());
        assert_eq!((a.seq, b.seq), (1, 2));
        assert_eq!(a.prev, ChainHash::GENESIS);
        assert_eq!(b.prev, a.hash);
        assert_eq!(a.check(&first), Ok(()));
        assert_eq!(b, ChainLink::compute(&second, b.chain, 2, a.hash));
    }

    #[test]
    fn the_encoding_ignores_key_order_and_negative_zero() {
        let mut reordered = event();
        reordered.details = serde_json::from_str(r#"{"a":[1.5,0.0,{"y":"é\n","z":null}],"b":1}"#).unwrap();
        let (chain, prev) = (Uuid::now_v7(), ChainHash::GENESIS);
        let mut original = event();
        original.id = reordered.id;
        original.timestamp = reordered.timestamp;
        assert_eq!(canonical_encoding(&original, chain, 1, prev), canonical_encoding(&reordered, chain, 1, prev));
    }

    /// The encoding and hash of a fixed event, as the first version of this module computed
    /// them: a stored chain must keep verifying whatever the encoder's implementation.
    #[test]
    fn the_encoding_of_a_fixed_event_never_changes() {
        let mut e = AuditEvent::new(AuditEventType::LoginFailed)
            .actor_name("alice \"the\" admin")
            .client_ip("2001:db8::7".parse().ok())
            .user_agent(Some("Mozilla/5.0"))
            .details(serde_json::json!({"b": [1, -0.0, 2.5], "a": {"z": null, "é": "x\n"}}));
        e.id = "0190f3a2-7b1c-7d3e-8f00-123456789abc".parse().unwrap();
        e.timestamp = chrono::DateTime::from_timestamp(1_764_000_000, 123_456_789).unwrap();
        e.actor_id = Some("42".into());
        let chain: Uuid = "0190f3a2-0000-7000-8000-00000000beef".parse().unwrap();
        let prev = ChainHash([0xab; 32]);
        let expected = concat!(
            r#"["rail-audit-chain-v1","0190f3a2-0000-7000-8000-00000000beef",7,"#,
            r#""abababababababababababababababababababababababababababababababab","#,
            r#""0190f3a2-7b1c-7d3e-8f00-123456789abc","login_failed","medium","2025-11-24T16:00:00.123456Z","#,
            r#""42","alice \"the\" admin","2001:db8::7","Mozilla/5.0",null,{"a":{"z":null,"é":"x\n"},"b":[1,0.0,2.5]}]"#,
        );
        assert_eq!(String::from_utf8(canonical_encoding(&e, chain, 7, prev)).unwrap(), expected);
        let link = ChainLink::compute(&e, chain, 7, prev);
        assert_eq!(link.hash.to_string(), "ff5a70ae5406e81c6522c5a8768d97bb2a04270c1312e20e43d7339f7b432876");
        assert_eq!(link.fields.to_hex(), "79eb0f8f006145f6a531c56441e429743ca3783c");
    }

    #[test]
    fn timestamps_encode_as_chrono_formats_them() {
        use chrono::{DateTime, TimeZone, Utc};
        let chrono_text = |t: &DateTime<Utc>| format!("\"{}\"", t.format("%Y-%m-%dT%H:%M:%S%.6fZ"));
        let mut samples: Vec<DateTime<Utc>> = vec![
            Utc::now(),
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9, 3, 4, 5, 6, 7).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap() + chrono::Duration::nanoseconds(999_999_999),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 1, 12, 0, 0).unwrap(),
            // A leap second: chrono writes `:60`.
            Utc.from_utc_datetime(
                &chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                    .unwrap()
                    .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
                    .unwrap(),
            ),
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = (x % 400_000_000_000) as i64 - 62_000_000_000;
            samples.push(DateTime::from_timestamp(secs, (x >> 34) as u32 % 1_000_000_000).unwrap());
        }
        for t in samples {
            let mut out = Vec::new();
            timestamp(&mut out, &t);
            assert_eq!(String::from_utf8(out).unwrap(), chrono_text(&t), "{t:?}");
        }
    }

    #[test]
    fn addresses_encode_as_display_writes_them() {
        let mut x: u32 = 0x2545_f491;
        let mut samples: Vec<std::net::IpAddr> =
            ["0.0.0.0", "255.255.255.255", "10.0.0.1", "100.20.3.199", "2001:db8::1", "::ffff:1.2.3.4"]
                .iter()
                .map(|a| a.parse().unwrap())
                .collect();
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            samples.push(std::net::Ipv4Addr::from(x).into());
        }
        for ip in samples {
            let mut e = event();
            e.client_ip = Some(ip);
            let text = String::from_utf8(canonical_encoding(&e, Uuid::nil(), 1, ChainHash::GENESIS)).unwrap();
            assert!(text.contains(&format!(",\"{ip}\",")), "{ip}: {text}");
        }
    }

    #[test]
    fn a_changed_field_is_named() {
        let mut writer = ChainWriter::new();
        let mut e = event();
        writer.link(&mut e);
        let link = e.chain.unwrap();
        e.actor_name = Some("mallory".into());
        let recomputed = link.check(&e).unwrap_err();
        assert_eq!(link.fields.differing(&recomputed), ["actor_name"]);
        assert_eq!(FieldTags::from_hex(&link.fields.to_hex()), Some(link.fields));
        assert_eq!(FieldTags::from_bytes(&link.fields.to_bytes()), Some(link.fields));
        assert_eq!(hex::encode(link.fields.to_bytes()), link.fields.to_hex());
        assert_eq!(ChainHash::from_slice(&link.hash.0), Some(link.hash));
        assert_eq!(ChainHash::from_slice(&link.hash.0[..31]), None);
        assert_eq!(ChainHash::from_hex(&link.hash.to_hex()), Some(link.hash));
    }
}
