//! Signed checkpoints of the hash chains, and the `audit_checkpoints` table that keeps them.
//!
//! A checkpoint states "chain C had, at sequence number S, the head hash H", signed with an
//! Ed25519 key from the configuration (`audit.checkpoint_signing_key`). The database sink writes
//! one in the same transaction as a batch once [`CheckpointPolicy::every_events`] events or
//! [`CheckpointPolicy::interval`] passed since the chain's last one, and at shutdown; the
//! retention purge writes one for the last purged event of each chain it shortens, so what
//! remains still verifies. Each checkpoint names the sequence number of the chain's previous
//! checkpoint, so a removed checkpoint shows as a break in that list.
//!
//! Someone who can write the database can change events and recompute every hash after them,
//! but cannot sign: a checkpoint whose hash no longer matches the chain, or whose signature does
//! not verify with the published key ([`CheckpointKey::verifying_key_hex`]), is reported by
//! `rail-security audit verify`. Events after a chain's last checkpoint are not signed yet: the
//! verifier reports them as the unsigned tail.
//!
//! **Witnesses.** A chain's own checkpoints cannot show that the whole chain, or its tail
//! with the checkpoints on it, was removed: what is gone names nothing. So each checkpoint the
//! database sink writes also *witnesses* the other chains: it lists the newest checkpoint
//! (chain, sequence number, hash) of every other chain that was written since the sink's
//! previous look and that it has not listed yet, and the signature covers that list
//! ([`Checkpoint::witnessed`]). The verifier then requires every witnessed chain to reach the
//! witnessed sequence number with the witnessed hash: a chain removed whole, cut short or
//! rewritten from the start is reported ([`Finding::MissingChain`](super::verify::Finding::MissingChain),
//! [`Finding::WitnessMismatch`](super::verify::Finding::WitnessMismatch)) as soon as any other
//! writer checkpointed after it. The look reads the checkpoints written since the last one
//! (less a minute for transactions still committing, and a day back for a chain's first
//! checkpoint, so a restarted instance witnesses the chain it replaces), through the primary
//! key (UUIDv7 ids sort by time), at most 2,000 rows a look; a backlog is read over the next
//! looks. Checkpoint ids and looks take their time from the database server's clock
//! (PostgreSQL, MySQL/MariaDB; this machine's on SQLite), so a drifted instance clock cannot
//! date its checkpoints before the others' looks. With a signing key, only checkpoints whose signature verifies with a trusted
//! key are witnessed. At most [`MAX_WITNESSES`] entries go into one checkpoint; the rest wait
//! for the next.
//!
//! **Anchors.** With [`CheckpointPolicy::anchor`] (`audit.checkpoint_anchor_path`), the sink
//! also appends every committed checkpoint to a JSON Lines file outside the database; `audit
//! verify` checks the trail against those copies
//! ([`VerifyOptions::anchors`](super::verify::VerifyOptions::anchors)), so the newest part of
//! the trail, which no later checkpoint witnessed yet, cannot be removed together with its
//! checkpoints unseen.
//!
//! **Rotating the key.** Set a new `audit.checkpoint_signing_key` and move the old key's
//! verifying key (what `audit key` printed before the change) into
//! `audit.checkpoint_previous_keys`. New checkpoints are signed with the new key; the old ones
//! keep verifying with the old key, in `audit verify` (which also takes `--previous-key`) and
//! on the dashboard. A checkpoint that no trusted key signed is reported as forged, with the
//! key id it names. A previous key proves only as much as its secret stayed secret, so give
//! it the time it was retired (`<key>@<RFC 3339 time>`: when the last instance signing with
//! it stopped): a checkpoint it signed that claims a later time, or that signs an event
//! stamped later, is then forged, and a leaked old secret can vouch only for what was written
//! before that time. Without a time, the key is trusted for any claimed time; if it leaked,
//! drop it from the list, and the checkpoints it signed count as forged.

use std::fmt;

use chrono::{DateTime, SubsecRound, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::chain::ChainHash;

/// The signing key of checkpoints: an Ed25519 key derived from a configured secret.
#[derive(Clone)]
pub struct CheckpointKey {
    signing: SigningKey,
}

impl fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointKey").field("verifying_key", &self.verifying_key_hex()).finish_non_exhaustive()
    }
}

impl CheckpointKey {
    /// The key derived from `secret` (any string: the value of `audit.checkpoint_signing_key`,
    /// e.g. one `rail-security setup` generated): the Ed25519 seed is SHA-256 of a fixed label
    /// and the secret, so the same secret always gives the same key.
    pub fn from_secret(secret: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"rail-graphql-security audit checkpoint key v1\0");
        hasher.update(secret.as_bytes());
        let mut seed: [u8; 32] = hasher.finalize().into();
        let signing = SigningKey::from_bytes(&seed);
        zeroize::Zeroize::zeroize(&mut seed);
        Self { signing }
    }

    /// The public half, to publish and to pass to `audit verify --verifying-key`.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// [`verifying_key`](Self::verifying_key) as 64 hex digits.
    pub fn verifying_key_hex(&self) -> String {
        hex::encode(self.verifying_key().as_bytes())
    }

    /// Signs `checkpoint` (sets its key id and signature).
    pub fn sign(&self, checkpoint: &mut Checkpoint) {
        checkpoint.key_id = Some(key_id(&self.verifying_key()));
        checkpoint.signature = Some(self.signature(&checkpoint.message()));
    }

    /// The signature of `message`, as hex.
    pub(crate) fn signature(&self, message: &[u8]) -> String {
        hex::encode(self.signing.sign(message).to_bytes())
    }
}

/// Parses a verifying key of 64 hex digits.
pub fn parse_verifying_key(text: &str) -> Result<VerifyingKey, String> {
    let mut bytes = [0; 32];
    hex::decode_to_slice(text.trim(), &mut bytes)
        .map_err(|_| "a verifying key is 64 hex digits (see `audit verify --help`)".to_owned())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "the verifying key is not a valid Ed25519 public key".to_owned())
}

/// A key checkpoints are checked with: the signing key's public half, or the verifying key of
/// an earlier signing key (`audit.checkpoint_previous_keys`) with, when it is known, the time
/// that key stopped signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedKey {
    /// The verifying key.
    pub key: VerifyingKey,
    /// When the key was retired (`<key>@<time>` in `audit.checkpoint_previous_keys`): a
    /// checkpoint it signed that claims a later time is forged, and so is one that signs an
    /// event stamped later (a backdated checkpoint). `None`: trusted whatever time a
    /// checkpoint claims.
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<VerifyingKey> for TrustedKey {
    fn from(key: VerifyingKey) -> Self {
        Self { key, retired_at: None }
    }
}

/// Parses a previous key: 64 hex digits (as `audit key` printed them before the rotation),
/// optionally followed by `@` and the RFC 3339 time it was retired
/// (`…@2026-12-01T00:00:00Z`).
///
/// ```
/// use rail_graphql_security::audit::checkpoint::{CheckpointKey, parse_previous_key};
///
/// let old = CheckpointKey::from_secret("the key before the rotation").verifying_key_hex();
/// let key = parse_previous_key(&format!("{old}@2026-12-01T00:00:00Z")).unwrap();
/// assert_eq!(key.retired_at.unwrap().to_rfc3339(), "2026-12-01T00:00:00+00:00");
/// assert!(parse_previous_key(&old).unwrap().retired_at.is_none());
/// assert!(parse_previous_key(&format!("{old}@yesterday")).unwrap_err().contains("RFC 3339"));
/// ```
pub fn parse_previous_key(text: &str) -> Result<TrustedKey, String> {
    let (key, retired_at) = match text.trim().split_once('@') {
        None => (text, None),
        Some((key, at)) => {
            let at = DateTime::parse_from_rfc3339(at.trim()).map_err(|e| {
                format!("the retirement time after `@` is not an RFC 3339 time ({e}): write e.g. `<key>@2026-12-01T00:00:00Z`")
            })?;
            (key, Some(at.with_timezone(&Utc)))
        }
    };
    Ok(TrustedKey { key: parse_verifying_key(key)?, retired_at })
}

/// Parses a list of previous keys ([`parse_previous_key`]); the error names the first that
/// does not parse.
pub fn parse_previous_keys<S: AsRef<str>>(keys: &[S]) -> Result<Vec<TrustedKey>, String> {
    keys.iter()
        .map(|key| parse_previous_key(key.as_ref()).map_err(|e| format!("`{}`: {e}", key.as_ref().trim())))
        .collect()
}

/// The first 8 bytes of SHA-256 of the public key, as hex: names the key a checkpoint was
/// signed with.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// The most [witnessed](Checkpoint::witnessed) chains in one checkpoint (about 130 bytes each
/// as stored, within MySQL's 64 KiB `TEXT`); more wait for the chain's next checkpoint.
pub const MAX_WITNESSES: usize = 256;

/// Another chain's checkpoint, as a checkpoint witnessed it: that chain had reached `seq`, with
/// head `hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Witness {
    /// The witnessed chain.
    pub chain: Uuid,
    /// Its checkpoint's sequence number.
    pub seq: u64,
    /// Its checkpoint's hash.
    pub hash: ChainHash,
}

/// A signed statement of a chain's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The chain.
    pub chain: Uuid,
    /// The head's sequence number.
    pub seq: u64,
    /// The head's hash.
    pub hash: ChainHash,
    /// The sequence number of the chain's previous checkpoint (0 for the first).
    pub previous_seq: u64,
    /// Whether the retention purge wrote it before removing the events up to `seq`: the chain
    /// may start after it. (A removed prefix without such an anchor is reported as deleted.)
    #[serde(default)]
    pub purged: bool,
    /// When it was made, UTC.
    pub created_at: DateTime<Utc>,
    /// [`key_id`] of the signing key; `None` when unsigned (no key configured).
    pub key_id: Option<String>,
    /// The Ed25519 signature of [`message`](Self::message), 128 hex digits.
    pub signature: Option<String>,
    /// The other chains' checkpoints this one witnesses (see the [module docs](self)); empty
    /// for checkpoints written before witnesses existed and for the retention purge's anchors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnessed: Vec<Witness>,
}

impl Checkpoint {
    /// An unsigned checkpoint of `chain` at `seq` with head `hash`.
    pub fn new(chain: Uuid, seq: u64, hash: ChainHash, previous_seq: u64) -> Self {
        Self {
            chain,
            seq,
            hash,
            previous_seq,
            purged: false,
            created_at: Utc::now().trunc_subsecs(6),
            key_id: None,
            signature: None,
            witnessed: Vec::new(),
        }
    }

    /// The signed bytes: a fixed label and the fields, one per line, then one line
    /// `witnessed <chain> <seq> <hash>` per witness (none for a checkpoint without witnesses,
    /// so checkpoints signed before witnesses existed still verify).
    pub fn message(&self) -> Vec<u8> {
        use std::fmt::Write as _;
        let mut message = format!(
            "rail-graphql-security audit checkpoint v1\n{}\n{}\n{}\n{}\n{}\n{}",
            self.chain,
            self.seq,
            self.hash,
            self.previous_seq,
            if self.purged { "purged" } else { "kept" },
            self.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ")
        );
        for w in &self.witnessed {
            // Writing into a `String` cannot fail.
            let _ = write!(message, "\nwitnessed {} {} {}", w.chain, w.seq, w.hash);
        }
        message.into_bytes()
    }

    /// Checks the signature against the trusted `keys` (the current key and the previous ones
    /// of a rotation): the key that signed this checkpoint, else why not, naming the key by
    /// its id. A retired key's signature on a checkpoint claiming a later time is refused.
    pub fn check_signature(&self, keys: &[TrustedKey]) -> Result<TrustedKey, String> {
        let signed =
            Signed { message: &self.message(), signature: self.signature.as_deref(), key_id: self.key_id.as_deref() };
        let signer = signed.signer(keys)?;
        match signer.retired_at {
            Some(retired_at) if self.created_at > retired_at => Err(format!(
                "it claims to be made at {}, after its key {} was retired at {retired_at}",
                self.created_at,
                key_id(&signer.key)
            )),
            _ => Ok(signer),
        }
    }

    /// Whether the signature is `key`'s over this checkpoint.
    pub fn signature_valid(&self, key: &VerifyingKey) -> bool {
        signature_valid(&self.message(), self.signature.as_deref(), key)
    }
}

/// Signed bytes as a record holds them: the signature (hex) and the id of the key it names.
pub(crate) struct Signed<'a> {
    pub(crate) message: &'a [u8],
    pub(crate) signature: Option<&'a str>,
    pub(crate) key_id: Option<&'a str>,
}

impl Signed<'_> {
    /// The trusted key whose signature this is, else why not, naming the key by its id.
    pub(crate) fn signer(&self, keys: &[TrustedKey]) -> Result<TrustedKey, String> {
        if self.signature.is_none() {
            return Err("it has no signature".to_owned());
        }
        if let Some(signer) = keys.iter().find(|trusted| signature_valid(self.message, self.signature, &trusted.key)) {
            return Ok(*signer);
        }
        let named = self.key_id.filter(|id| keys.iter().any(|trusted| key_id(&trusted.key) == *id));
        Err(match (named, self.key_id) {
            (Some(id), _) => format!("its signature does not verify with the trusted key {id}"),
            (None, Some(id)) => format!(
                "it names key {id}, which is not trusted: if that was the signing key before a rotation, \
                 add its verifying key to audit.checkpoint_previous_keys (or pass --previous-key)"
            ),
            (None, None) => "its signature does not verify with any trusted key".to_owned(),
        })
    }
}

/// Whether `signature` (hex) is `key`'s over `message`.
fn signature_valid(message: &[u8], signature: Option<&str>, key: &VerifyingKey) -> bool {
    let Some(signature) = signature else { return false };
    let mut bytes = [0; 64];
    if hex::decode_to_slice(signature, &mut bytes).is_err() {
        return false;
    }
    key.verify(message, &Signature::from_bytes(&bytes)).is_ok()
}

/// When the database sink writes a checkpoint of a chain: after this many events or this much
/// time since the chain's previous one (whichever comes first, checked as batches are written),
/// and at shutdown.
#[derive(Debug, Clone)]
pub struct CheckpointPolicy {
    /// The signing key (`None`: checkpoints are written unsigned; they still anchor purges and
    /// show removed checkpoints, but prove nothing against someone who can write the table).
    pub key: Option<CheckpointKey>,
    /// Events between checkpoints.
    pub every_events: u64,
    /// Time between checkpoints.
    pub interval: std::time::Duration,
    /// The verifying keys of earlier signing keys (after a key rotation): the checkpoints they
    /// signed still verify (`audit.checkpoint_previous_keys`), up to a key's retirement when
    /// it is given. Nothing is signed with them.
    pub previous_keys: Vec<TrustedKey>,
    /// A JSON Lines file outside the database that every committed checkpoint is appended to
    /// (`{"checkpoint": …}`, fsynced; `audit.checkpoint_anchor_path`). Kept where whoever can
    /// write the database cannot (another host, append-only storage), it lets `audit verify
    /// --anchors` catch the newest part of the trail removed together with its checkpoints,
    /// which no later checkpoint in the database witnessed yet. `None`: no copy.
    pub anchor_path: Option<std::path::PathBuf>,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self {
            key: None,
            every_events: 10_000,
            interval: std::time::Duration::from_secs(300),
            previous_keys: Vec::new(),
            anchor_path: None,
        }
    }
}

impl CheckpointPolicy {
    /// The policy of the configuration keys `audit.checkpoint_signing_key` (the secret the key
    /// derives from), `audit.checkpoint_every_events` and `audit.checkpoint_interval_secs`.
    pub fn from_config(signing_secret: Option<&str>, every_events: u64, interval_secs: u64) -> Self {
        Self {
            key: signing_secret.map(CheckpointKey::from_secret),
            every_events,
            interval: std::time::Duration::from_secs(interval_secs),
            previous_keys: Vec::new(),
            anchor_path: None,
        }
    }

    /// Appends every committed checkpoint to the file at `path` too ([`Self::anchor_path`]).
    pub fn anchor(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.anchor_path = Some(path.into());
        self
    }

    /// Adds the configured `audit.checkpoint_previous_keys` (64 hex digits each, as `audit key`
    /// printed them before the rotation, optionally `@` and the time the key was retired; see
    /// [`parse_previous_key`]); the first that does not parse is the error.
    pub fn previous_keys<S: AsRef<str>>(mut self, keys: &[S]) -> Result<Self, String> {
        self.previous_keys = parse_previous_keys(keys)?;
        Ok(self)
    }

    /// The keys checkpoints are checked with: the signing key's public half, then the previous
    /// keys.
    pub fn verifying_keys(&self) -> Vec<TrustedKey> {
        let current = self.key.iter().map(|key| TrustedKey::from(key.verifying_key()));
        current.chain(self.previous_keys.iter().copied()).collect()
    }

    /// Signs `checkpoint` when a key is set.
    pub(crate) fn sign(&self, checkpoint: &mut Checkpoint) {
        if let Some(key) = &self.key {
            key.sign(checkpoint);
        }
    }
}

/// One stored checkpoint (`audit_checkpoints` row).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_checkpoints")]
pub struct Model {
    /// Row id (UUIDv7 text).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The chain (UUID text).
    pub chain_id: String,
    /// The head's sequence number.
    pub chain_seq: i64,
    /// The head's hash (hex).
    pub chain_hash: String,
    /// The chain's previous checkpoint's sequence number.
    pub previous_seq: i64,
    /// Written by the retention purge ([`Checkpoint::purged`]).
    pub purged: bool,
    /// When it was made.
    pub created_at: DateTimeUtc,
    /// The signing key's id.
    pub key_id: Option<String>,
    /// The signature (hex).
    pub signature: Option<String>,
    /// The witnessed checkpoints of other chains ([`Checkpoint::witnessed`]) as a JSON array;
    /// `NULL` for none.
    #[sea_orm(column_type = "Text", nullable)]
    pub witnessed: Option<String>,
}

/// `audit_checkpoints` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<&Checkpoint> for ActiveModel {
    fn from(c: &Checkpoint) -> Self {
        use sea_orm::ActiveValue::Set;
        ActiveModel {
            id: Set(Uuid::now_v7().to_string()),
            chain_id: Set(c.chain.to_string()),
            chain_seq: Set(c.seq as i64),
            chain_hash: Set(c.hash.to_hex()),
            previous_seq: Set(c.previous_seq as i64),
            purged: Set(c.purged),
            created_at: Set(c.created_at),
            key_id: Set(c.key_id.clone()),
            signature: Set(c.signature.clone()),
            // A list of plain structs always serializes.
            witnessed: Set((!c.witnessed.is_empty()).then(|| serde_json::to_string(&c.witnessed).unwrap_or_default())),
        }
    }
}

impl TryFrom<Model> for Checkpoint {
    type Error = String;

    fn try_from(m: Model) -> Result<Self, String> {
        let invalid = |column: &str| format!("checkpoint {} has an invalid `{column}`", m.id);
        Ok(Checkpoint {
            chain: m.chain_id.parse().map_err(|_| invalid("chain_id"))?,
            seq: u64::try_from(m.chain_seq).map_err(|_| invalid("chain_seq"))?,
            hash: ChainHash::from_hex(&m.chain_hash).ok_or_else(|| invalid("chain_hash"))?,
            previous_seq: u64::try_from(m.previous_seq).map_err(|_| invalid("previous_seq"))?,
            purged: m.purged,
            created_at: m.created_at,
            witnessed: match m.witnessed.as_deref() {
                None => Vec::new(),
                Some(text) => serde_json::from_str(text).map_err(|_| invalid("witnessed"))?,
            },
            key_id: m.key_id,
            signature: m.signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_every_field() {
        let key = CheckpointKey::from_secret("a long configured secret");
        let mut checkpoint = Checkpoint::new(Uuid::now_v7(), 42, ChainHash([7; 32]), 10);
        key.sign(&mut checkpoint);
        let public = parse_verifying_key(&key.verifying_key_hex()).unwrap();
        assert!(checkpoint.signature_valid(&public));
        let mut moved = checkpoint.clone();
        moved.seq = 43;
        assert!(!moved.signature_valid(&public));
        let other = CheckpointKey::from_secret("another secret").verifying_key();
        assert!(!checkpoint.signature_valid(&other));
        assert_eq!(CheckpointKey::from_secret("a long configured secret").verifying_key(), public);
        assert!(!format!("{key:?}").contains("secret"));
    }

    #[test]
    fn the_signature_covers_the_witnesses_and_an_unwitnessed_message_is_unchanged() {
        let key = CheckpointKey::from_secret("a long configured secret");
        let chain = Uuid::parse_str("0190a5b0-0000-7000-8000-000000000001").unwrap();
        let mut checkpoint = Checkpoint::new(chain, 42, ChainHash([7; 32]), 10);
        checkpoint.created_at = "2026-12-06T10:00:00.123456Z".parse().unwrap();
        // The message of checkpoints signed before witnesses existed, byte for byte.
        let v1 = format!(
            "rail-graphql-security audit checkpoint v1\n{chain}\n42\n{}\n10\nkept\n2026-12-06T10:00:00.123456Z",
            "07".repeat(32)
        );
        assert_eq!(checkpoint.message(), v1.as_bytes());
        let other = Witness { chain: Uuid::now_v7(), seq: 300, hash: ChainHash([9; 32]) };
        checkpoint.witnessed.push(other);
        key.sign(&mut checkpoint);
        assert!(checkpoint.check_signature(&[key.verifying_key().into()]).is_ok());
        // Dropping a witness, or changing what it states, breaks the signature.
        for tampered in [
            Vec::new(),
            vec![Witness { seq: 299, ..other }],
            vec![Witness { hash: ChainHash([8; 32]), ..other }],
            vec![Witness { chain: Uuid::now_v7(), ..other }],
            vec![other, other],
        ] {
            let mut changed = checkpoint.clone();
            changed.witnessed = tampered;
            assert!(!changed.signature_valid(&key.verifying_key()), "{:?}", changed.witnessed);
        }
        // Stored and read back: the same checkpoint; no witnesses store as NULL.
        let active = ActiveModel::from(&checkpoint);
        let model = Model {
            id: "row".into(),
            chain_id: active.chain_id.unwrap(),
            chain_seq: active.chain_seq.unwrap(),
            chain_hash: active.chain_hash.unwrap(),
            previous_seq: active.previous_seq.unwrap(),
            purged: active.purged.unwrap(),
            created_at: active.created_at.unwrap(),
            key_id: active.key_id.unwrap(),
            signature: active.signature.unwrap(),
            witnessed: active.witnessed.unwrap(),
        };
        assert_eq!(Checkpoint::try_from(model.clone()).unwrap(), checkpoint);
        assert!(ActiveModel::from(&Checkpoint::new(chain, 1, ChainHash([1; 32]), 0)).witnessed.unwrap().is_none());
        let damaged = Model { witnessed: Some("[{\"chain\": 1}]".into()), ..model };
        assert_eq!(Checkpoint::try_from(damaged).unwrap_err(), "checkpoint row has an invalid `witnessed`");
    }

    fn trusted(keys: &[&CheckpointKey]) -> Vec<TrustedKey> {
        keys.iter().map(|key| TrustedKey::from(key.verifying_key())).collect()
    }

    #[test]
    fn a_rotated_key_verifies_only_while_it_is_trusted() {
        let (old, new) = (CheckpointKey::from_secret("the key before"), CheckpointKey::from_secret("the key after"));
        let mut checkpoint = Checkpoint::new(Uuid::now_v7(), 7, ChainHash([1; 32]), 0);
        old.sign(&mut checkpoint);
        assert_eq!(checkpoint.check_signature(&trusted(&[&new, &old])), Ok(old.verifying_key().into()));
        let reason = checkpoint.check_signature(&trusted(&[&new])).unwrap_err();
        let old_id = key_id(&old.verifying_key());
        assert!(reason.contains(&old_id) && reason.contains("checkpoint_previous_keys"), "{reason}");
        // The key id is not what makes it valid: a signature by another key that claims the
        // trusted key's id is still refused, naming that key.
        let mut claimed = checkpoint.clone();
        CheckpointKey::from_secret("an attacker").sign(&mut claimed);
        claimed.key_id = Some(old_id.clone());
        let reason = claimed.check_signature(&trusted(&[&new, &old])).unwrap_err();
        assert_eq!(reason, format!("its signature does not verify with the trusted key {old_id}"));
        checkpoint.signature = None;
        assert_eq!(checkpoint.check_signature(&trusted(&[&old])).unwrap_err(), "it has no signature");
        // The configured list: every entry must be a key, and the error names the one that is not.
        let policy = CheckpointPolicy::default().previous_keys(&[old.verifying_key_hex()]).unwrap();
        assert_eq!(policy.verifying_keys(), trusted(&[&old]));
        let error = CheckpointPolicy::default().previous_keys(&[old.verifying_key_hex(), "abc".into()]).unwrap_err();
        assert!(error.starts_with("`abc`: a verifying key is 64 hex digits"), "{error}");
    }

    /// A retired key's signature holds for checkpoints claiming a time up to its retirement,
    /// not after: a leaked old secret cannot sign the trail's present.
    #[test]
    fn a_retired_key_verifies_only_what_it_claims_to_have_signed_before_its_retirement() {
        let old = CheckpointKey::from_secret("the key before");
        let retired_at = Utc::now().trunc_subsecs(6);
        let entry = format!("{}@{}", old.verifying_key_hex(), retired_at.to_rfc3339());
        let policy = CheckpointPolicy::default().previous_keys(&[entry]).unwrap();
        let keys = policy.verifying_keys();
        assert_eq!(keys, [TrustedKey { key: old.verifying_key(), retired_at: Some(retired_at) }]);
        let mut before = Checkpoint::new(Uuid::now_v7(), 7, ChainHash([1; 32]), 0);
        before.created_at = retired_at;
        old.sign(&mut before);
        assert_eq!(before.check_signature(&keys), Ok(keys[0]));
        let mut after = before.clone();
        after.created_at = retired_at + chrono::Duration::microseconds(1);
        old.sign(&mut after);
        let reason = after.check_signature(&keys).unwrap_err();
        assert!(reason.contains("after its key") && reason.contains(&key_id(&old.verifying_key())), "{reason}");
        // Without a time, the same key is trusted for any claimed time.
        assert!(after.check_signature(&trusted(&[&old])).is_ok());
        let error = parse_previous_keys(&[format!("{}@2026-13-01", old.verifying_key_hex())]).unwrap_err();
        assert!(error.contains("RFC 3339"), "{error}");
    }
}
