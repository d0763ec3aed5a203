//! Offline verification of the audit trail: `rail-security audit verify`.
//!
//! [`verify_database`] reads `audit_events` in chain order, the checkpoints and the dead
//! letters; [`verify_export`] reads a JSON Lines file written by [`export`] (or by the file
//! sink). Both feed a [`Verifier`], which checks each chain on its own:
//!
//! - every event's hash against its content ([`Finding::Modified`] names the field);
//! - the sequence numbers: a gap is a [`Finding::Deleted`] range, unless the missing events are
//!   dead letters (a [`Notice::DeadLettered`]: refused by the database, kept with the error)
//!   or, in a stream, stand behind [`SetAside`] markers (a [`Notice::SetAside`]: refused by
//!   the stream, kept in the writer's spool; with a verifying key, a marker without the
//!   writer's signature is a [`Finding::ForgedSetAside`] and its event counts as deleted);
//! - every link: an event whose previous hash is not its predecessor's, or whose sequence
//!   number comes again or goes back, is a [`Finding::Inserted`] or [`Finding::Reordered`] event;
//! - every checkpoint: its signature with the trusted key ([`Finding::ForgedCheckpoint`]), its
//!   hash against the chain ([`Finding::CheckpointMismatch`]: history rewritten before it), and
//!   the list of checkpoints ([`Finding::MissingCheckpoint`]);
//! - every chain another chain's checkpoint [witnessed](super::checkpoint#witnesses) must
//!   still reach the witnessed sequence number ([`Finding::MissingChain`]: removed whole or cut
//!   short, checkpoints included) with the witnessed hash ([`Finding::WitnessMismatch`]:
//!   rewritten and rehashed);
//! - events after a chain's last signed checkpoint: [`Notice::UnsignedTail`], not tampering
//!   (the next checkpoint will sign them).
//!
//! Events without a chain link are accepted only as older than every chained event (stored
//! before the chain existed); a later one is an inserted row.
//!
//! The verifier keeps one small state per chain, not the events: a million events verify in
//! the memory of a few thousand.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{BufRead, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use sea_orm::sea_query::Condition;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QueryResult,
    QuerySelect, QueryTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::chain::{ChainHash, ChainLink};
use super::checkpoint::{self, Checkpoint, CheckpointKey, Signed, TrustedKey, Witness};
use super::event::AuditEvent;
use super::sink::DATABASE_SINK_NAME;
use super::{dead_letter, entity};

/// Rows per page when reading the database.
const PAGE: u64 = 5_000;

/// What to check against.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The trusted verifying key (published from `audit.checkpoint_signing_key`). Without it,
    /// signatures are not checked and the report says so.
    pub key: Option<VerifyingKey>,
    /// Verifying keys of earlier signing keys (`audit.checkpoint_previous_keys`): checkpoints
    /// signed before a key rotation verify with the one their key id names, up to the key's
    /// retirement when it is given.
    pub previous_keys: Vec<TrustedKey>,
    /// Only events at or after this time (chains then start at their first event in range).
    pub from: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub to: Option<DateTime<Utc>>,
    /// Copies of the checkpoints kept outside the database (the anchor file,
    /// `audit.checkpoint_anchor_path`, read with [`read_anchors`]). Each one the trail lacks is
    /// checked as if it were still there, so the newest part of the trail removed together
    /// with its checkpoints shows as deleted events; the anchors of a prefix the retention
    /// purge removed (at or before a chain's purge anchor) are left out.
    pub anchors: Vec<Checkpoint>,
    /// Also check the hourly rollup that reports and the dashboard read
    /// (`audit_rollup_hourly`) against the events, every hour of it whatever `from` and `to`
    /// ([`verify_database`] only). Off by default: it counts every event once more.
    pub rollup: bool,
}

impl VerifyOptions {
    /// The keys a checkpoint may be signed with: `key`, then `previous_keys`.
    fn trusted_keys(&self) -> Vec<TrustedKey> {
        self.key.map(TrustedKey::from).into_iter().chain(self.previous_keys.iter().copied()).collect()
    }

    fn filtered(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    fn in_range(&self, at: DateTime<Utc>) -> bool {
        self.from.is_none_or(|from| at >= from) && self.to.is_none_or(|to| at < to)
    }
}

/// Tampering the verifier found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Finding {
    /// An event's content no longer matches its hash.
    Modified {
        /// The chain.
        chain: Uuid,
        /// Its sequence number.
        seq: u64,
        /// The event id as stored.
        id: String,
        /// The fields that differ (empty: not identified, e.g. the hash itself was changed).
        fields: Vec<String>,
    },
    /// Events missing from a chain: removed.
    Deleted {
        /// The chain.
        chain: Uuid,
        /// First missing sequence number.
        first_seq: u64,
        /// Last missing sequence number.
        last_seq: u64,
    },
    /// An event that is not part of the chain it claims (its link does not point at its
    /// predecessor, or its sequence number is taken), or without a link among chained events.
    Inserted {
        /// The event id.
        id: String,
        /// The chain it claims, if any.
        chain: Option<Uuid>,
        /// The sequence number it claims, if any.
        seq: Option<u64>,
        /// Why it does not belong.
        reason: String,
    },
    /// An event out of its chain's order: moved to another sequence number, or (in a file)
    /// after events that follow it.
    Reordered {
        /// The chain.
        chain: Uuid,
        /// The sequence number it stands at.
        seq: u64,
        /// The event id.
        id: String,
        /// What is out of order.
        detail: String,
    },
    /// A checkpoint whose signature is missing or does not verify with the trusted key.
    ForgedCheckpoint {
        /// The chain.
        chain: Uuid,
        /// The sequence number it states.
        seq: u64,
        /// Why.
        reason: String,
    },
    /// A validly signed checkpoint whose hash is not the chain's hash at its sequence number:
    /// events up to it were changed and the chain recomputed.
    CheckpointMismatch {
        /// The chain.
        chain: Uuid,
        /// The sequence number.
        seq: u64,
    },
    /// A checkpoint that the next one names as its predecessor is gone.
    MissingCheckpoint {
        /// The chain.
        chain: Uuid,
        /// The missing checkpoint's sequence number.
        seq: u64,
    },
    /// A chain that another chain's signed checkpoint witnessed at a sequence number it no
    /// longer reaches: removed whole, or its tail removed together with the checkpoints on it.
    MissingChain {
        /// The chain.
        chain: Uuid,
        /// The sequence number it was witnessed at (the highest, if several checkpoints
        /// witnessed it).
        seq: u64,
        /// Where it ends now (0: nothing of it is left).
        last_seq: u64,
        /// The chain of the checkpoint that witnessed it.
        witness_chain: Uuid,
        /// That checkpoint's sequence number.
        witness_seq: u64,
    },
    /// A chain whose event or checkpoint at a witnessed sequence number has another hash than
    /// the witness states: the chain was changed and rehashed (its checkpoints removed or
    /// replaced).
    WitnessMismatch {
        /// The chain.
        chain: Uuid,
        /// The witnessed sequence number.
        seq: u64,
        /// The chain of the checkpoint that witnessed it.
        witness_chain: Uuid,
        /// That checkpoint's sequence number.
        witness_seq: u64,
    },
    /// A set-aside marker whose signature is missing or does not verify with a trusted key:
    /// not evidence that the event it names was set aside. The event is missing from its
    /// chain (a [`Finding::Deleted`] follows where later events of the chain are here).
    ForgedSetAside {
        /// The chain the marker claims.
        chain: Uuid,
        /// The sequence number it claims.
        seq: u64,
        /// The event id it names.
        id: String,
        /// Why.
        reason: String,
    },
    /// A row of the hourly rollup (`audit_rollup_hourly`) that does not count the events
    /// stored: reports and the dashboard would show other numbers than the trail holds
    /// (checked with [`VerifyOptions::rollup`]).
    Rollup {
        /// The hour (its start, in Unix seconds).
        hour: i64,
        /// The kind of row: `""` for the per-type count, else the dimension (`client_ip`,
        /// `actor_name`, `method`).
        dimension: String,
        /// The event type.
        event_type: String,
        /// The severity.
        severity: String,
        /// The dimension's value (`""` for the per-type count).
        value: String,
        /// What the rollup holds (0: no row).
        stored: i64,
        /// What the events give (0: none).
        counted: i64,
    },
    /// A row or line that does not parse into an event or checkpoint.
    Invalid {
        /// Where (row id or line number).
        at: String,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Modified { chain, seq, id, fields } if fields.is_empty() => {
                write!(f, "modified: event {id} (chain {chain} #{seq}) does not match its hash; field not identified")
            }
            Self::Modified { chain, seq, id, fields } => {
                write!(f, "modified: event {id} (chain {chain} #{seq}), field {}", fields.join(", "))
            }
            Self::Deleted { chain, first_seq, last_seq } if first_seq == last_seq => {
                write!(f, "deleted: event #{first_seq} of chain {chain} is missing")
            }
            Self::Deleted { chain, first_seq, last_seq } => {
                write!(f, "deleted: events #{first_seq}–#{last_seq} of chain {chain} are missing")
            }
            Self::Inserted { id, chain: Some(chain), seq: Some(seq), reason } => {
                write!(f, "inserted: event {id} (claims chain {chain} #{seq}): {reason}")
            }
            Self::Inserted { id, reason, .. } => write!(f, "inserted: event {id}: {reason}"),
            Self::Reordered { chain, seq, id, detail } => {
                write!(f, "reordered: event {id} (chain {chain} #{seq}) {detail}")
            }
            Self::ForgedCheckpoint { chain, seq, reason } => {
                write!(f, "forged checkpoint: chain {chain} #{seq}: {reason}")
            }
            Self::CheckpointMismatch { chain, seq } => write!(
                f,
                "checkpoint mismatch: chain {chain} #{seq} has another hash than its signed checkpoint (events up to it were changed and rehashed)"
            ),
            Self::MissingCheckpoint { chain, seq } => {
                write!(f, "missing checkpoint: chain {chain} #{seq} (named by the next checkpoint) is gone")
            }
            Self::MissingChain { chain, seq, last_seq: 0, witness_chain, witness_seq } => write!(
                f,
                "deleted chain: chain {chain} is gone, but checkpoint #{witness_seq} of chain {witness_chain} witnessed it at #{seq}"
            ),
            Self::MissingChain { chain, seq, last_seq, witness_chain, witness_seq } => write!(
                f,
                "deleted chain tail: chain {chain} ends at #{last_seq}, but checkpoint #{witness_seq} of chain {witness_chain} witnessed it at #{seq} (events #{}–#{seq} and their checkpoints were removed)",
                last_seq + 1
            ),
            Self::WitnessMismatch { chain, seq, witness_chain, witness_seq } => write!(
                f,
                "rewritten chain: chain {chain} #{seq} has another hash than checkpoint #{witness_seq} of chain {witness_chain} witnessed (the chain was changed and rehashed)"
            ),
            Self::ForgedSetAside { chain, seq, id, reason } => write!(
                f,
                "forged set-aside marker: event {id} (chain {chain} #{seq}) is missing, and the marker in its place is not the writer's: {reason}"
            ),
            Self::Rollup { hour, dimension, event_type, severity, value, stored, counted } => {
                let hour = DateTime::from_timestamp(*hour, 0).map_or_else(|| hour.to_string(), |h| h.to_rfc3339());
                let row = if dimension.is_empty() { String::new() } else { format!(", {dimension} {value}") };
                write!(
                    f,
                    "rollup: hour {hour}, {event_type} ({severity}){row}: the rollup counts {stored} event(s), \
                     the events are {counted}: reports and the dashboard read the rollup"
                )
            }
            Self::Invalid { at, reason } => write!(f, "invalid: {at}: {reason}"),
        }
    }
}

/// What the verifier reports that is not tampering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Notice {
    /// Events after the chain's last signed checkpoint: intact as far as the hashes go, not
    /// signed yet.
    UnsignedTail {
        /// The chain.
        chain: Uuid,
        /// First unsigned sequence number.
        first_seq: u64,
        /// Last one.
        last_seq: u64,
    },
    /// A missing event that is in the dead letters (refused by the database), hash checked.
    DeadLettered {
        /// The chain.
        chain: Uuid,
        /// Its sequence number.
        seq: u64,
        /// The event id.
        id: String,
    },
    /// A missing event that a sink set aside in its place ([`SetAside`]: refused for good by
    /// the destination, kept in the writer's spool), link checked.
    SetAside {
        /// The chain.
        chain: Uuid,
        /// Its sequence number.
        seq: u64,
        /// The event id.
        id: String,
        /// Why the destination refused it.
        reason: String,
    },
    /// Events older than every chained event and without a link: stored before the chain.
    Unchained {
        /// How many.
        count: u64,
    },
    /// A verify limited to a time range (`from`/`to`) checks the links between the events in
    /// it, not what lies at its edges: events removed at the ends of the chains, the
    /// checkpoints of the events outside it, the witnesses between chains, and the rows
    /// without a link against the whole chain. Said with every filtered verify, since a
    /// deletion there reads as intact (found by an attack).
    RangeOnly,
    /// Checkpoints were not checked for signatures: no verifying key was given.
    SignaturesNotChecked {
        /// How many checkpoints.
        count: u64,
    },
    /// Set-aside markers were taken without checking their signatures: no verifying key was
    /// given.
    SetAsideNotChecked {
        /// How many markers.
        count: u64,
    },
    /// The configured anchor file (`audit.checkpoint_anchor_path`) does not exist, so the
    /// trail was not checked against it: normal before the first checkpoint, else the file
    /// was moved or removed.
    AnchorFileMissing {
        /// The configured path.
        path: String,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsignedTail { chain, first_seq, last_seq } => write!(
                f,
                "not yet signed: events #{first_seq}–#{last_seq} of chain {chain} come after its last signed checkpoint"
            ),
            Self::DeadLettered { chain, seq, id } => {
                write!(
                    f,
                    "dead letter: event {id} (chain {chain} #{seq}) was refused by the database and is kept in the dead letters"
                )
            }
            Self::SetAside { chain, seq, id, reason } => write!(
                f,
                "set aside: event {id} (chain {chain} #{seq}) was refused by the destination ({reason}) and is kept in the writer's spool, under refused/"
            ),
            Self::Unchained { count } => {
                write!(f, "{count} event(s) stored before the hash chain existed are not covered")
            }
            Self::RangeOnly => f.write_str(
                "only the events in the time range were checked: events removed at the ends of the chains, \
                 checkpoints outside the range, witnesses between chains and rows without a chain link \
                 are checked by a verify without --from/--to",
            ),
            Self::SignaturesNotChecked { count } => write!(
                f,
                "{count} checkpoint signature(s) not checked: pass --verifying-key (or configure audit.checkpoint_signing_key)"
            ),
            Self::SetAsideNotChecked { count } => write!(
                f,
                "{count} set-aside marker signature(s) not checked: pass --verifying-key (or configure audit.checkpoint_signing_key)"
            ),
            Self::AnchorFileMissing { path } => write!(
                f,
                "the anchor file {path} (audit.checkpoint_anchor_path) does not exist: the trail was not checked against it. \
                 Before the first checkpoint that is normal; after it, find out who moved or removed the file"
            ),
        }
    }
}

/// The verifier's result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Chained events checked (dead letters included).
    pub events: u64,
    /// Chains seen.
    pub chains: u64,
    /// Checkpoints seen.
    pub checkpoints: u64,
    /// Tampering found.
    pub findings: Vec<Finding>,
    /// Everything else worth knowing.
    pub notices: Vec<Notice>,
}

impl VerifyReport {
    /// Whether no tampering was found.
    pub fn intact(&self) -> bool {
        self.findings.is_empty()
    }

    /// How many events no checkpoint signs: those after a chain's last checkpoint
    /// ([`Notice::UnsignedTail`]: their hashes link, but anyone with write access to the store
    /// could have added them, as a new chain or after a chain's last checkpoint) and those
    /// without a chain link dated before the chain began ([`Notice::Unchained`]: anyone could
    /// have backdated them; found by an attack that inserted a forged `login_success` so).
    pub fn unsigned_events(&self) -> u64 {
        self.notices
            .iter()
            .map(|n| match n {
                Notice::UnsignedTail { first_seq, last_seq, .. } => last_seq.saturating_sub(*first_seq) + 1,
                Notice::Unchained { count } => *count,
                _ => 0,
            })
            .sum()
    }
}

/// An event a sink set aside instead of delivering it, in the event's place in a stream: the
/// `NatsSink` (feature `nats`) publishes one on `<prefix>.sink.set_aside` (body
/// `{"set_aside": …}`) after the server refused the event for good, so that a reader verifying
/// the stream ([`Verifier::set_aside`]) finds the event's absence explained
/// ([`Notice::SetAside`]) instead of a deleted event. The event itself is in the writer's
/// spool, under `refused/`.
///
/// A marker stands where the event's content cannot be checked, so the writer signs it with
/// its checkpoint key ([`sign`](Self::sign)), and a verifier given the verifying key refuses
/// one that is unsigned or signed otherwise ([`Finding::ForgedSetAside`]): without that,
/// whoever can write to the stream could delete an event and put a marker with its link in
/// its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAside {
    /// The event id.
    pub id: String,
    /// When the event happened (`None` when the body format does not carry it).
    pub timestamp: Option<DateTime<Utc>>,
    /// The event's chain link (`None` for an unchained event or a body format without it).
    pub chain: Option<ChainLink>,
    /// Why the destination refused it.
    pub reason: String,
    /// The id of the key that signed it ([`checkpoint::key_id`]); `None` when unsigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The Ed25519 signature over [`message`](Self::message), as hex; `None` when unsigned
    /// (the writer had no checkpoint key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl SetAside {
    /// The signed bytes: a fixed label, then the id, the time (RFC 3339, nanoseconds), the
    /// link (chain, sequence number, previous hash, hash) and the reason, one per line.
    pub fn message(&self) -> Vec<u8> {
        let at = self.timestamp.map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)).unwrap_or_default();
        let link = self.chain.map(|l| format!("{} {} {} {}", l.chain, l.seq, l.prev, l.hash)).unwrap_or_default();
        format!("rail-graphql-security audit set-aside v1\n{}\n{at}\n{link}\n{}", self.id, self.reason).into_bytes()
    }

    /// Signs the marker with `key` (sets its key id and signature).
    pub fn sign(&mut self, key: &CheckpointKey) {
        self.key_id = Some(checkpoint::key_id(&key.verifying_key()));
        self.signature = Some(key.signature(&self.message()));
    }

    /// Checks the signature against the trusted `keys`: the key that signed the marker, else
    /// why not. A retired key's signature on a marker of an event stamped after the
    /// retirement is refused.
    pub fn check_signature(&self, keys: &[TrustedKey]) -> Result<TrustedKey, String> {
        let signed =
            Signed { message: &self.message(), signature: self.signature.as_deref(), key_id: self.key_id.as_deref() };
        let signer = signed.signer(keys)?;
        match (signer.retired_at, self.timestamp) {
            (Some(retired_at), Some(at)) if at > retired_at => Err(format!(
                "it stands for an event stamped {at}, after its key {} was retired at {retired_at}",
                checkpoint::key_id(&signer.key)
            )),
            _ => Ok(signer),
        }
    }
}

/// What stands at a chain position: a stored event, a dead letter, or a set-aside marker.
#[derive(Clone, Copy)]
enum Entry<'a> {
    Stored(&'a AuditEvent),
    DeadLetter(&'a AuditEvent),
    SetAside(&'a SetAside),
}

impl Entry<'_> {
    fn id(&self) -> String {
        match self {
            Self::Stored(event) | Self::DeadLetter(event) => event.id.to_string(),
            Self::SetAside(aside) => aside.id.clone(),
        }
    }

    /// When it happened, as its writer stamped it.
    fn at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Stored(event) | Self::DeadLetter(event) => Some(event.timestamp),
            Self::SetAside(aside) => aside.timestamp,
        }
    }

    /// The event, when its content is here to check.
    fn event(&self) -> Option<&AuditEvent> {
        match self {
            Self::Stored(event) | Self::DeadLetter(event) => Some(event),
            Self::SetAside(_) => None,
        }
    }
}

/// A checkpoint not yet reached, with the verdict on its signature (the key that signed it):
/// checked once, when the verifier is made (`None`: no trusted key to check with).
#[derive(Debug)]
struct Pending {
    checkpoint: Checkpoint,
    signature: Option<Result<TrustedKey, String>>,
}

impl std::ops::Deref for Pending {
    type Target = Checkpoint;

    fn deref(&self) -> &Checkpoint {
        &self.checkpoint
    }
}

#[derive(Debug, Default)]
struct ChainState {
    /// Whether the chain's first event was taken.
    started: bool,
    /// The sequence number the next event must have.
    next: u64,
    /// The hash the next event must link to (`None` after a deleted range).
    last_hash: Option<ChainHash>,
    /// Checkpoints not yet reached, by sequence number.
    pending: VecDeque<Pending>,
    /// The last checkpoint seen (accepted or not), for the list check.
    last_checkpoint: Option<u64>,
    /// The last checkpoint whose signature verified (or that was accepted without a key).
    last_signed: Option<u64>,
    /// When the last event taken happened (its writer's stamp).
    last_at: Option<DateTime<Utc>>,
}

impl ChainState {
    /// The last sequence number taken (0: none).
    fn last_seq(&self) -> u64 {
        if self.started { self.next.saturating_sub(1) } else { 0 }
    }
}

/// A witness stated by a checkpoint whose signature holds (or of any checkpoint, when no key
/// is given), and what checking it found so far.
#[derive(Debug, Clone, Copy)]
struct Claim {
    witness: Witness,
    /// The witnessing checkpoint's chain and sequence number.
    by: (Uuid, u64),
    /// Checked against an event or checkpoint at the witnessed sequence number.
    settled: bool,
}

/// Checks events and checkpoints of any number of chains; see the module docs.
#[derive(Debug)]
pub struct Verifier {
    options: VerifyOptions,
    chains: HashMap<Uuid, ChainState>,
    claims: Vec<Claim>,
    /// The claims by witnessed (chain, sequence number).
    claimed: HashMap<(Uuid, u64), Vec<usize>>,
    /// The highest checkpoint sequence number of each chain, and the hashes of the checkpoints
    /// at claimed sequence numbers.
    checkpoint_reach: HashMap<Uuid, u64>,
    claimed_checkpoints: HashMap<(Uuid, u64), ChainHash>,
    dead_letters: HashMap<(Uuid, u64), AuditEvent>,
    unchained: Vec<(String, DateTime<Utc>)>,
    /// Set-aside markers taken without a key to check their signatures with.
    unchecked_markers: u64,
    first_chained: Option<DateTime<Utc>>,
    report: VerifyReport,
}

impl Verifier {
    /// A verifier that knows every checkpoint and dead letter up front (events may come in any
    /// interleaving of chains, each chain's in sequence order).
    pub fn new(options: VerifyOptions, checkpoints: Vec<Checkpoint>, dead_letters: Vec<AuditEvent>) -> Self {
        let mut chains: HashMap<Uuid, ChainState> = HashMap::new();
        let mut report = VerifyReport { checkpoints: checkpoints.len() as u64, ..VerifyReport::default() };
        let keys = options.trusted_keys();
        let mut checkpoints = with_anchors(checkpoints, &options.anchors, &keys);
        checkpoints.sort_by_key(|c| (c.chain, c.seq));
        let (mut claims, mut claimed, mut checkpoint_reach) = (Vec::new(), HashMap::new(), HashMap::new());
        for checkpoint in checkpoints {
            let reach = checkpoint_reach.entry(checkpoint.chain).or_insert(0);
            *reach = checkpoint.seq.max(*reach);
            let signature = (!keys.is_empty()).then(|| checkpoint.check_signature(&keys));
            // A forged checkpoint is reported as such; what it states is not evidence.
            if signature.as_ref().is_none_or(Result::is_ok) {
                for witness in &checkpoint.witnessed {
                    claimed.entry((witness.chain, witness.seq)).or_insert_with(Vec::new).push(claims.len());
                    claims.push(Claim { witness: *witness, by: (checkpoint.chain, checkpoint.seq), settled: false });
                }
            }
            chains.entry(checkpoint.chain).or_default().pending.push_back(Pending { checkpoint, signature });
        }
        let claimed_checkpoints = chains
            .values()
            .flat_map(|state| &state.pending)
            .filter(|c| claimed.contains_key(&(c.chain, c.seq)))
            .map(|c| ((c.chain, c.seq), c.hash))
            .collect();
        if keys.is_empty() && report.checkpoints > 0 {
            report.notices.push(Notice::SignaturesNotChecked { count: report.checkpoints });
        }
        let dead_letters =
            dead_letters.into_iter().filter_map(|e| e.chain.map(|link| ((link.chain, link.seq), e))).collect();
        Self {
            options,
            chains,
            claims,
            claimed,
            checkpoint_reach,
            claimed_checkpoints,
            dead_letters,
            unchained: Vec::new(),
            unchecked_markers: 0,
            first_chained: None,
            report,
        }
    }

    /// Settles the claims on `chain` at `seq` against the hash found there.
    fn settle(&mut self, chain: Uuid, seq: u64, hash: ChainHash) {
        let Some(indexes) = self.claimed.get(&(chain, seq)) else { return };
        for &index in indexes {
            let claim = &mut self.claims[index];
            if claim.settled {
                continue;
            }
            claim.settled = true;
            if claim.witness.hash != hash {
                let (witness_chain, witness_seq) = claim.by;
                self.report.findings.push(Finding::WitnessMismatch { chain, seq, witness_chain, witness_seq });
            }
        }
    }

    /// Reports a row or line that could not be read.
    pub fn invalid(&mut self, at: impl Into<String>, reason: impl Into<String>) {
        self.report.findings.push(Finding::Invalid { at: at.into(), reason: reason.into() });
    }

    /// Takes the next event.
    pub fn event(&mut self, event: AuditEvent) {
        if !self.options.in_range(event.timestamp) {
            return;
        }
        let Some(link) = event.chain else {
            self.unchained.push((event.id.to_string(), event.timestamp));
            return;
        };
        self.take_next(Entry::Stored(&event), link, Some(event.timestamp));
    }

    /// Takes a set-aside marker in the place of its event: the chain goes on through its link
    /// (sequence number and previous hash checked; the content is not here to hash). With a
    /// verifying key, the marker's signature is checked first: one that does not verify is a
    /// [`Finding::ForgedSetAside`], and its event counts as missing.
    pub fn set_aside(&mut self, aside: SetAside) {
        if aside.timestamp.is_some_and(|at| !self.options.in_range(at)) {
            return;
        }
        let Some(link) = aside.chain else { return };
        let keys = self.options.trusted_keys();
        if keys.is_empty() {
            self.unchecked_markers += 1;
        } else if let Err(reason) = aside.check_signature(&keys) {
            let (chain, seq, id) = (link.chain, link.seq, aside.id);
            self.report.findings.push(Finding::ForgedSetAside { chain, seq, id, reason });
            return;
        }
        self.take_next(Entry::SetAside(&aside), link, aside.timestamp);
    }

    /// Takes `entry`, which happened `at`, as the next one of its chain in the input.
    fn take_next(&mut self, entry: Entry<'_>, link: ChainLink, at: Option<DateTime<Utc>>) {
        if let Some(at) = at {
            self.first_chained = Some(self.first_chained.map_or(at, |t| t.min(at)));
        }
        let mut state = self.chains.remove(&link.chain).unwrap_or_default();
        self.take(&mut state, entry, link);
        self.chains.insert(link.chain, state);
    }

    fn take(&mut self, state: &mut ChainState, entry: Entry<'_>, link: ChainLink) {
        let chain = link.chain;
        let id = entry.id();
        let expected = if state.started {
            state.next
        } else {
            state.started = true;
            self.start_of(state, link)
        };
        if link.seq < expected {
            let after_seq = expected - 1;
            if link.seq == after_seq {
                let reason = "its sequence number is already taken".to_owned();
                self.report.findings.push(Finding::Inserted { id, chain: Some(chain), seq: Some(link.seq), reason });
            } else {
                // Not deleted after all: it comes later (in a file).
                self.undelete(chain, link.seq);
                let detail = format!("comes after #{after_seq}");
                self.report.findings.push(Finding::Reordered { chain, seq: link.seq, id: id.clone(), detail });
                if let Some(event) = entry.event()
                    && let Err(recomputed) = link.check(event)
                {
                    let fields = link.fields.differing(&recomputed).into_iter().map(str::to_owned).collect();
                    self.report.findings.push(Finding::Modified { chain, seq: link.seq, id, fields });
                }
            }
            return;
        }
        if link.seq > expected {
            self.gap(state, chain, expected, link.seq - 1);
        }
        if entry.event().is_some() {
            self.report.events += 1;
        }
        match entry {
            Entry::Stored(_) => {}
            Entry::DeadLetter(_) => {
                self.report.notices.push(Notice::DeadLettered { chain, seq: link.seq, id: id.clone() });
            }
            Entry::SetAside(aside) => {
                let reason = aside.reason.clone();
                self.report.notices.push(Notice::SetAside { chain, seq: link.seq, id: id.clone(), reason });
            }
        }
        let previous = state.last_hash;
        // A set-aside marker has no content to hash: its link alone continues the chain.
        let checked = entry.event().map_or(Ok(()), |event| link.check(event));
        match checked {
            Ok(()) => {
                if previous.is_some_and(|hash| hash != link.prev) {
                    let reason = "its previous hash is not the hash of the event before it".to_owned();
                    self.report.findings.push(Finding::Inserted {
                        id,
                        chain: Some(chain),
                        seq: Some(link.seq),
                        reason,
                    });
                }
            }
            Err(recomputed) => {
                let event = entry.event().expect("only an event's content fails its hash");
                let prev_changed = previous.is_some_and(|hash| ChainLink { prev: hash, ..link }.check(event).is_ok());
                let fields: Vec<String> = if prev_changed {
                    vec!["chain_prev".to_owned()]
                } else {
                    link.fields.differing(&recomputed).into_iter().map(str::to_owned).collect()
                };
                match fields.is_empty().then(|| moved_from(event, link)).flatten() {
                    Some(written_as) => {
                        let detail = format!("was written as #{written_as}");
                        self.report.findings.push(Finding::Reordered { chain, seq: link.seq, id, detail });
                    }
                    None => self.report.findings.push(Finding::Modified { chain, seq: link.seq, id, fields }),
                }
            }
        }
        state.next = link.seq.saturating_add(1);
        state.last_hash = Some(link.hash);
        state.last_at = entry.at();
        if !self.claimed.is_empty() {
            self.settle(chain, link.seq, link.hash);
        }
        self.reach(state, link.seq, Some(link.hash));
    }

    /// The sequence number a chain's first event must have: 1, or one past the checkpoint
    /// that the retention purge left for the events it removed; with a time filter, whatever
    /// comes first.
    fn start_of(&mut self, state: &mut ChainState, link: ChainLink) -> u64 {
        if self.options.filtered() {
            // Checkpoints before the range are not checked against events.
            while let Some(checkpoint) = state.pending.pop_front_if(|c| c.seq < link.seq) {
                state.last_checkpoint = Some(checkpoint.seq);
            }
            state.last_hash = Some(link.prev);
            return link.seq;
        }
        let anchor = state.pending.iter().rev().find(|c| c.purged && c.seq < link.seq).map(|c| (c.seq, c.hash));
        let Some((seq, hash)) = anchor else {
            state.last_hash = Some(ChainHash::GENESIS);
            return 1;
        };
        // Checkpoints up to the anchor are checked (signature and list) but have no events.
        while let Some(checkpoint) = state.pending.pop_front_if(|c| c.seq <= seq) {
            self.accept(state, checkpoint, None);
        }
        state.last_hash = Some(hash);
        seq + 1
    }

    /// Missing events `first..=last`: dead letters fill what they can; the rest was deleted.
    /// Goes by the dead letters in the range, not by every number in it: a row whose `seq` was
    /// set to 10^15 makes a gap that long, which must be reported, not walked.
    fn gap(&mut self, state: &mut ChainState, chain: Uuid, first: u64, last: u64) {
        let mut letters: Vec<u64> = self
            .dead_letters
            .keys()
            .filter(|(c, seq)| *c == chain && (first..=last).contains(seq))
            .map(|(_, seq)| *seq)
            .collect();
        letters.sort_unstable();
        let mut missing_from = Some(first);
        for seq in letters {
            let Some(event) = self.dead_letters.remove(&(chain, seq)) else { continue };
            if let Some(from) = missing_from.take().filter(|from| *from < seq) {
                self.deleted(state, chain, from, seq - 1);
            }
            let link = event.chain.expect("dead letters are keyed by their link");
            self.take(state, Entry::DeadLetter(&event), link);
            missing_from = seq.checked_add(1);
        }
        if let Some(from) = missing_from.filter(|from| *from <= last) {
            self.deleted(state, chain, from, last);
        }
    }

    /// Takes `seq` out of a reported deleted range of `chain`.
    fn undelete(&mut self, chain: Uuid, seq: u64) {
        let findings = &mut self.report.findings;
        let Some(index) = findings.iter().position(
            |f| matches!(f, Finding::Deleted { chain: c, first_seq, last_seq } if *c == chain && (*first_seq..=*last_seq).contains(&seq)),
        ) else {
            return;
        };
        let Finding::Deleted { first_seq, last_seq, .. } = findings.remove(index) else { return };
        if seq < last_seq {
            findings.insert(index, Finding::Deleted { chain, first_seq: seq + 1, last_seq });
        }
        if first_seq < seq {
            findings.insert(index, Finding::Deleted { chain, first_seq, last_seq: seq - 1 });
        }
    }

    fn deleted(&mut self, state: &mut ChainState, chain: Uuid, first_seq: u64, last_seq: u64) {
        self.report.findings.push(Finding::Deleted { chain, first_seq, last_seq });
        // The next event cannot link to what is gone: continue from its own link.
        state.next = last_seq.saturating_add(1);
        state.last_hash = None;
        self.reach(state, last_seq, None);
    }

    /// Checks the checkpoints up to `seq`, the one at `seq` against `hash` (None: deleted).
    fn reach(&mut self, state: &mut ChainState, seq: u64, hash: Option<ChainHash>) {
        while let Some(front) = state.pending.front() {
            if front.seq > seq {
                break;
            }
            let checkpoint = state.pending.pop_front().expect("front exists");
            let matches = hash.filter(|_| checkpoint.seq == seq).map(|hash| hash == checkpoint.hash);
            self.accept(state, checkpoint, matches);
        }
    }

    /// Checks one checkpoint's signature and place in the list; `matches`: whether its hash is
    /// the chain's at its sequence number (None: no event to compare with).
    fn accept(&mut self, state: &mut ChainState, pending: Pending, matches: Option<bool>) {
        let Pending { checkpoint, signature } = pending;
        let (chain, seq) = (checkpoint.chain, checkpoint.seq);
        if let Some(previous) = state.last_checkpoint
            && checkpoint.previous_seq > previous
        {
            self.report.findings.push(Finding::MissingCheckpoint { chain, seq: checkpoint.previous_seq });
        } else if state.last_checkpoint.is_none()
            && checkpoint.previous_seq > 0
            && !checkpoint.purged
            && !self.options.filtered()
        {
            self.report.findings.push(Finding::MissingCheckpoint { chain, seq: checkpoint.previous_seq });
        }
        state.last_checkpoint = Some(seq);
        let signed = match signature {
            Some(Err(reason)) => {
                self.report.findings.push(Finding::ForgedCheckpoint { chain, seq, reason });
                false
            }
            // A retired key's checkpoint claiming an earlier time than the event it signs:
            // backdated, so that the key's retirement would not refuse it.
            Some(Ok(TrustedKey { key, retired_at: Some(retired_at) }))
                if matches == Some(true) && state.last_at.is_some_and(|at| at > retired_at) =>
            {
                let at = state.last_at.unwrap_or_default();
                let reason = format!(
                    "it signs an event stamped {at}, after its key {} was retired at {retired_at}",
                    checkpoint::key_id(&key)
                );
                self.report.findings.push(Finding::ForgedCheckpoint { chain, seq, reason });
                false
            }
            Some(Ok(_)) | None => true,
        };
        if matches == Some(false) {
            self.report.findings.push(Finding::CheckpointMismatch { chain, seq });
        } else if signed && (matches == Some(true) || (matches.is_none() && checkpoint.purged)) {
            // A purge anchor has no event left to compare with: its signature is the proof.
            state.last_signed = Some(seq);
        }
    }

    /// The report.
    pub fn finish(mut self) -> VerifyReport {
        // Dead letters past a chain's last stored event.
        let mut leftovers: Vec<(Uuid, u64)> = self.dead_letters.keys().copied().collect();
        leftovers.sort_unstable();
        for (chain, seq) in leftovers {
            let Some(event) = self.dead_letters.remove(&(chain, seq)) else { continue };
            let link = event.chain.expect("dead letters are keyed by their link");
            let mut state = self.chains.remove(&chain).unwrap_or_default();
            if !state.started || seq >= state.next {
                self.take(&mut state, Entry::DeadLetter(&event), link);
            }
            self.chains.insert(chain, state);
        }
        let mut chains: Vec<Uuid> = self.chains.keys().copied().collect();
        chains.sort_unstable();
        self.report.chains = chains.len() as u64;
        let filtered = self.options.filtered();
        let mut reach = HashMap::new();
        for chain in chains {
            let mut state = self.chains.remove(&chain).expect("listed");
            if filtered {
                state.pending.clear();
            }
            // Every event purged: the chain goes on from its last anchor.
            if !state.started
                && let Some(anchor) = state.pending.iter().rev().find(|c| c.purged).map(|c| c.seq)
            {
                state.started = true;
                while let Some(checkpoint) = state.pending.pop_front_if(|c| c.seq <= anchor) {
                    self.accept(&mut state, checkpoint, None);
                }
                state.next = anchor.saturating_add(1);
            }
            // Signed heads past the last event: the events after it were removed.
            if let Some(newest) = state.pending.back().map(|c| c.seq)
                && newest > state.last_seq()
            {
                let first = state.last_seq() + 1;
                if !state.started {
                    state.started = true;
                }
                self.deleted(&mut state, chain, first, newest);
            }
            let last = state.last_seq();
            reach.insert(chain, last);
            if last > 0 {
                let signed = state.last_signed.unwrap_or(0);
                if last > signed {
                    self.report.notices.push(Notice::UnsignedTail { chain, first_seq: signed + 1, last_seq: last });
                }
            }
        }
        if filtered {
            self.report.notices.push(Notice::RangeOnly);
        } else {
            self.check_witnessed(&reach);
        }
        let first_chained = self.first_chained;
        let mut older = 0;
        for (id, at) in std::mem::take(&mut self.unchained) {
            if first_chained.is_some_and(|first| at >= first) {
                let reason = "it has no chain link but is not older than the chained events".to_owned();
                self.report.findings.push(Finding::Inserted { id, chain: None, seq: None, reason });
            } else {
                older += 1;
            }
        }
        if older > 0 {
            self.report.notices.push(Notice::Unchained { count: older });
        }
        if self.unchecked_markers > 0 {
            self.report.notices.push(Notice::SetAsideNotChecked { count: self.unchecked_markers });
        }
        self.report
    }

    /// Checks the claims no event settled against the checkpoints and how far each chain
    /// reaches (`reach`: its last event, or where its checkpoints end).
    fn check_witnessed(&mut self, reach: &HashMap<Uuid, u64>) {
        let mut missing: HashMap<Uuid, (u64, u64, (Uuid, u64))> = HashMap::new();
        for index in 0..self.claims.len() {
            let Claim { witness, by, settled } = self.claims[index];
            if settled {
                continue;
            }
            if let Some(hash) = self.claimed_checkpoints.get(&(witness.chain, witness.seq)).copied() {
                // A checkpoint (e.g. the purge's anchor) at the witnessed place.
                self.settle(witness.chain, witness.seq, hash);
                continue;
            }
            let ends = reach.get(&witness.chain).copied().unwrap_or(0);
            let last = ends.max(self.checkpoint_reach.get(&witness.chain).copied().unwrap_or(0));
            // Reached but not there: purged behind an anchor, or in a range already reported
            // as deleted.
            if last >= witness.seq {
                continue;
            }
            let entry = missing.entry(witness.chain).or_insert((witness.seq, last, by));
            if witness.seq > entry.0 {
                *entry = (witness.seq, last, by);
            }
        }
        let mut missing: Vec<_> = missing.into_iter().collect();
        missing.sort_unstable_by_key(|(chain, _)| *chain);
        for (chain, (seq, last_seq, (witness_chain, witness_seq))) in missing {
            self.report.findings.push(Finding::MissingChain { chain, seq, last_seq, witness_chain, witness_seq });
        }
    }
}

/// The sequence number near `link.seq` the event was hashed at, when its content is intact
/// and only its place changed (rows swapped or renumbered).
fn moved_from(event: &AuditEvent, link: ChainLink) -> Option<u64> {
    const NEAR: u64 = 64;
    (link.seq.saturating_sub(NEAR).max(1)..=link.seq.saturating_add(NEAR))
        .filter(|seq| *seq != link.seq)
        .find(|seq| ChainLink { seq: *seq, ..link }.check(event).is_ok())
}

/// Verifies the trail in `db` (`audit_events`, `audit_checkpoints`, `audit_dead_letters`).
pub async fn verify_database<C: ConnectionTrait>(db: &C, options: VerifyOptions) -> Result<VerifyReport, DbErr> {
    let (mut checkpoints, mut invalid) = (Vec::new(), Vec::new());
    for model in checkpoint::Entity::find().all(db).await? {
        let id = model.id.clone();
        match Checkpoint::try_from(model) {
            Ok(checkpoint) => checkpoints.push(checkpoint),
            Err(reason) => invalid.push((format!("checkpoint {id}"), reason)),
        }
    }
    let dead_letters = read_dead_letters(db, &mut invalid).await?;
    let out_of_utc = timestamps_out_of_utc(db).await?;
    let mut verifier = Verifier::new(options.clone(), checkpoints, dead_letters);
    for (at, reason) in invalid {
        verifier.invalid(at, reason);
    }
    each_row(db, options.from, options.to, |row| {
        feed_row(&mut verifier, row);
        Ok::<_, DbErr>(())
    })
    .await?;
    let mut report = verifier.finish();
    // A row already named as unreadable (its timestamp is no time at all) is named once.
    for (at, reason) in out_of_utc {
        if !report.findings.iter().any(|f| matches!(f, Finding::Invalid { at: named, .. } if *named == at)) {
            report.findings.push(Finding::Invalid { at, reason });
        }
    }
    if options.rollup {
        report.findings.extend(rollup_mismatches(db).await?);
    }
    Ok(report)
}

/// The rows of `audit_rollup_hourly` that differ from what the events count (found by an
/// attack with write access: the rollup's failed logins set to 0, and the report and dashboard
/// said none, while `verify` said intact). Both sides are read whole, grouped the same way as
/// the rollup's rebuild counts them.
async fn rollup_mismatches<C: ConnectionTrait>(db: &C) -> Result<Vec<Finding>, DbErr> {
    use std::collections::BTreeMap;
    type Key = (i64, String, String, String, String);
    let backend = db.get_database_backend();
    let read = |row: &QueryResult| -> Result<(Key, i64), DbErr> {
        let text = |i: usize| row.try_get_by_index::<Option<String>>(i).map(Option::unwrap_or_default);
        let key = (row.try_get_by_index::<i64>(1)?, text(0)?, text(2)?, text(3)?, text(4)?);
        Ok((key, row.try_get_by_index::<i64>(5)?))
    };
    let mut counted: BTreeMap<Key, i64> = BTreeMap::new();
    for select in crate::migration::audit_rollup::rollup_selects(backend, "") {
        for row in db.query_all_raw(sea_orm::Statement::from_string(backend, select)).await? {
            let (key, count) = read(&row)?;
            *counted.entry(key).or_default() += count;
        }
    }
    let stored_sql =
        "SELECT dim_kind, hour_start, event_type, severity, dim_value, event_count FROM audit_rollup_hourly";
    let mut stored: BTreeMap<Key, i64> = BTreeMap::new();
    for row in db.query_all_raw(sea_orm::Statement::from_string(backend, stored_sql)).await? {
        let (key, count) = read(&row)?;
        *stored.entry(key).or_default() += count;
    }
    let mut findings = Vec::new();
    let keys: std::collections::BTreeSet<&Key> = counted.keys().chain(stored.keys()).collect();
    for key in keys {
        let (has, should) = (stored.get(key).copied().unwrap_or(0), counted.get(key).copied().unwrap_or(0));
        if has != should {
            let (hour, dimension, event_type, severity, value) = key.clone();
            findings.push(Finding::Rollup {
                hour,
                dimension,
                event_type,
                severity,
                value,
                stored: has,
                counted: should,
            });
        }
    }
    Ok(findings)
}

/// On SQLite, the events whose timestamp is stored with an offset other than UTC, as
/// `(where, why)`. SQLite keeps the timestamp as text and the sink writes it in UTC: the same
/// instant written as `04:07:59-14:00` decodes (and hashes) as the original, but sorts
/// elsewhere, so the range queries of reports, the dashboard and retention miss the event
/// (found by an attack: the failed logins of a period rewritten so, the report counted none).
/// Other backends store the instant itself.
async fn timestamps_out_of_utc<C: ConnectionTrait>(db: &C) -> Result<Vec<(String, String)>, DbErr> {
    if db.get_database_backend() != sea_orm::DbBackend::Sqlite {
        return Ok(Vec::new());
    }
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    let column = entity::Column::Timestamp;
    let mut select = Query::select();
    select
        .columns([entity::Column::Id, column])
        .from(entity::Entity)
        .and_where(Expr::col(column).not_like("%+00:00"))
        .and_where(Expr::col(column).not_like("%Z"));
    let rows = db.query_all(&select).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let id = row.try_get::<String>("", "id").unwrap_or_else(|_| "(id unreadable)".to_owned());
            let stored = row.try_get::<String>("", "timestamp").unwrap_or_else(|_| "(not text)".to_owned());
            (
                format!("event {id}"),
                format!(
                    "field timestamp stored as `{stored}`, not in UTC: the same instant sorts elsewhere, so \
                     time-range queries (reports, the dashboard, retention) miss the event"
                ),
            )
        })
        .collect())
}

/// The next `limit` chained rows after `after` in the verifier's order (chain, sequence number,
/// id): a keyset page, so each page is an index range read whatever the table's size. For
/// tools that read the trail the way `audit verify` does.
pub fn chain_order_page(after: Option<&entity::Model>, limit: u64) -> sea_orm::Select<entity::Entity> {
    let key = after.map(|row| ChainKey {
        chain: row.chain_id.clone().unwrap_or_default(),
        seq: row.chain_seq.unwrap_or_default(),
        id: row.id.clone(),
    });
    chain_page(key.as_ref(), limit)
}

/// Where a chained row stands in the verifier's order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChainKey {
    chain: Vec<u8>,
    seq: i64,
    id: String,
}

impl ChainKey {
    /// The key of a stored row, or `None` when one of its columns does not read back.
    fn of(row: &QueryResult) -> Option<Self> {
        Some(ChainKey {
            chain: row.try_get::<Option<Vec<u8>>>("", "chain_id").ok()?.unwrap_or_default(),
            seq: row.try_get::<Option<i64>>("", "chain_seq").ok()?.unwrap_or_default(),
            id: row.try_get::<String>("", "id").ok()?,
        })
    }
}

fn chain_page(after: Option<&ChainKey>, limit: u64) -> sea_orm::Select<entity::Entity> {
    let mut query = entity::Entity::find()
        .filter(entity::Column::ChainId.is_not_null())
        .order_by_asc(entity::Column::ChainId)
        .order_by_asc(entity::Column::ChainSeq)
        .order_by_asc(entity::Column::Id)
        .limit(limit);
    if let Some(ChainKey { chain, seq, id }) = after {
        let same_chain = || Condition::all().add(entity::Column::ChainId.eq(chain.clone()));
        query = query.filter(
            Condition::any()
                .add(entity::Column::ChainId.gt(chain.clone()))
                .add(same_chain().add(entity::Column::ChainSeq.gt(*seq)))
                .add(same_chain().add(entity::Column::ChainSeq.eq(*seq)).add(entity::Column::Id.gt(id.clone()))),
        );
    }
    query
}

/// A stored row of `audit_events` whose values do not read back as the columns' types: text in
/// an integer or date column on SQLite, a zero date on MariaDB, `details` that is not JSON.
/// Only an edit outside the plugin stores such a value.
#[derive(Debug)]
struct Unreadable {
    /// The row's id, as far as it reads.
    id: String,
    /// What did not read back (the column is named).
    error: DbErr,
}

impl Unreadable {
    fn of(row: &QueryResult, error: DbErr) -> Self {
        let id = row.try_get::<String>("", "id").unwrap_or_else(|_| "(id unreadable)".to_owned());
        Unreadable { id, error }
    }
}

/// Visits every row of `audit_events` with a timestamp in `[from, to)`: the chained rows in
/// chain order ([`chain_order_page`]), then the unchained ones by id. Keyset pages of [`PAGE`]
/// rows, so each page is an index range read and the whole walk is linear in the rows, and
/// only one page is in memory at a time. A row whose values do not read back is visited as
/// [`Unreadable`], and the walk goes on past it.
async fn each_row<C, E>(
    db: &C,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    mut visit: impl FnMut(Result<entity::Model, Unreadable>) -> Result<(), E>,
) -> Result<(), E>
where
    C: ConnectionTrait,
    E: From<DbErr>,
{
    let time = |mut query: sea_orm::Select<entity::Entity>| {
        if let Some(from) = from {
            query = query.filter(entity::Column::Timestamp.gte(from));
        }
        if let Some(to) = to {
            query = query.filter(entity::Column::Timestamp.lt(to));
        }
        query
    };
    walk_pages(db, |after| time(chain_page(after, PAGE)), ChainKey::of, &mut visit).await?;
    let unchained = |after: Option<&String>| {
        let mut query = entity::Entity::find()
            .filter(entity::Column::ChainId.is_null())
            .order_by_asc(entity::Column::Id)
            .limit(PAGE);
        if let Some(id) = after {
            query = query.filter(entity::Column::Id.gt(id.clone()));
        }
        time(query)
    };
    walk_pages(db, unchained, |row| row.try_get::<String>("", "id").ok(), &mut visit).await
}

/// Reads the keyset pages `page(after)` until one is short, visiting each row once. The next
/// page starts after the last row whose key reads back; rows after it (whose key does not)
/// come again at the head of the next page and are skipped there. More than a page of such
/// rows in a row leaves no key to go on from: that is visited as an [`Unreadable`] of its own
/// and the walk stops.
async fn walk_pages<C, E, K>(
    db: &C,
    page: impl Fn(Option<&K>) -> sea_orm::Select<entity::Entity>,
    key_of: impl Fn(&QueryResult) -> Option<K>,
    visit: &mut impl FnMut(Result<entity::Model, Unreadable>) -> Result<(), E>,
) -> Result<(), E>
where
    C: ConnectionTrait,
    E: From<DbErr>,
{
    let backend = db.get_database_backend();
    let (mut after, mut seen) = (None::<K>, 0);
    loop {
        let rows = db.query_all_raw(page(after.as_ref()).build(backend)).await?;
        let done = (rows.len() as u64) < PAGE;
        let last = rows.iter().enumerate().rev().find_map(|(i, row)| key_of(row).map(|key| (i, key)));
        for row in rows.iter().skip(seen) {
            visit(entity::Model::from_query_result(row, "").map_err(|e| Unreadable::of(row, e)))?;
        }
        if done {
            return Ok(());
        }
        match last {
            Some((i, key)) if i >= seen => {
                seen = rows.len() - 1 - i;
                after = Some(key);
            }
            _ => {
                let error = DbErr::Custom(format!(
                    "more than {PAGE} rows in a row whose order columns do not read back: the rows after them were not read"
                ));
                return visit(Err(Unreadable { id: "(after them)".to_owned(), error }));
            }
        }
    }
}

fn feed_row(verifier: &mut Verifier, row: Result<entity::Model, Unreadable>) {
    let row = match row {
        Ok(row) => row,
        Err(Unreadable { id, error }) => {
            return verifier.invalid(format!("event {id}"), format!("a stored value does not read back: {error}"));
        }
    };
    let id = row.id.clone();
    match AuditEvent::try_from(row) {
        Ok(event) => verifier.event(event),
        Err(e) => verifier.invalid(format!("event {id}"), e.to_string()),
    }
}

/// The events the database sink dead-lettered; the letters that do not parse go to `invalid`
/// (where, why). Other sinks' dead letters are left out: their events are rows of the chain
/// (or the database's own dead letters), and a webhook's letter in OCSF does not parse.
async fn read_dead_letters<C: ConnectionTrait>(
    db: &C,
    invalid: &mut Vec<(String, String)>,
) -> Result<Vec<AuditEvent>, DbErr> {
    let mut events = Vec::new();
    let database = dead_letter::Column::Sink.eq(DATABASE_SINK_NAME);
    for letter in dead_letter::Entity::find().filter(database).all(db).await? {
        match serde_json::from_str::<AuditEvent>(&letter.raw_event) {
            Ok(event) => events.push(event),
            Err(e) => invalid.push((format!("dead letter {}", letter.id), e.to_string())),
        }
    }
    Ok(events)
}

/// The state of one chain's head, for a quick look (the dashboard): its newest event, its
/// newest checkpoint and whether that checkpoint holds, and the events not signed yet. A point
/// check, not a verification: `audit verify` reads every event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailHead {
    /// The chain.
    pub chain: Uuid,
    /// Its newest event's sequence number.
    pub head_seq: u64,
    /// When its newest event happened.
    pub head_at: DateTime<Utc>,
    /// Its newest checkpoint: sequence number, when it was made, and what checking it found.
    pub checkpoint: Option<(u64, DateTime<Utc>, CheckpointState)>,
    /// Events after the newest checkpoint.
    pub unsigned: u64,
}

/// What a point check of a checkpoint found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckpointState {
    /// Signed with the trusted key, and the event at its sequence number has its hash.
    Verified,
    /// Its hash matches; no key to check the signature with (or it was written unsigned).
    HashMatches,
    /// Written by the retention purge; its events are gone by design.
    PurgeAnchor,
    /// The signature does not verify with the trusted key.
    Forged,
    /// The event at its sequence number has another hash, or is gone.
    Mismatch,
}

/// The heads of the `limit` chains written to most recently (see [`TrailHead`]), checking
/// each newest checkpoint's signature against the trusted `keys` (the signing key's, then the
/// previous ones of a rotation; empty: not checked). Reads the checkpoints and a few indexed
/// rows per chain, not the events.
pub async fn trail_heads<C: ConnectionTrait>(
    db: &C,
    keys: &[TrustedKey],
    limit: usize,
) -> Result<Vec<TrailHead>, DbErr> {
    let mut newest: HashMap<Uuid, Checkpoint> = HashMap::new();
    for model in checkpoint::Entity::find().all(db).await? {
        let Ok(checkpoint) = Checkpoint::try_from(model) else { continue };
        if newest.get(&checkpoint.chain).is_none_or(|c| c.seq < checkpoint.seq) {
            newest.insert(checkpoint.chain, checkpoint);
        }
    }
    // Chains written in the last day, signed or not yet.
    let since = Utc::now() - chrono::Duration::days(1);
    let recent: Vec<Option<Vec<u8>>> = entity::Entity::find()
        .select_only()
        .column(entity::Column::ChainId)
        .distinct()
        .filter(entity::Column::Timestamp.gte(since))
        .filter(entity::Column::ChainId.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let mut chains: Vec<Uuid> = newest.keys().copied().collect();
    chains.extend(recent.into_iter().flatten().filter_map(|id| Uuid::from_slice(&id).ok()));
    chains.sort_unstable();
    chains.dedup();
    let mut heads = Vec::with_capacity(chains.len());
    for chain in chains {
        let id = chain.as_bytes().to_vec();
        let head = entity::Entity::find()
            .filter(entity::Column::ChainId.eq(id.clone()))
            .order_by_desc(entity::Column::ChainSeq)
            .one(db)
            .await?;
        let checkpoint = newest.get(&chain);
        let (head_seq, head_at) = match (&head, checkpoint) {
            (Some(row), _) => (row.chain_seq.unwrap_or_default().max(0) as u64, row.timestamp),
            (None, Some(c)) => (c.seq, c.created_at),
            (None, None) => continue,
        };
        let checkpoint = match checkpoint {
            None => None,
            Some(c) => {
                let row = entity::Entity::find()
                    .filter(entity::Column::ChainId.eq(id.clone()))
                    .filter(entity::Column::ChainSeq.eq(c.seq as i64))
                    .one(db)
                    .await?;
                let matches = row.as_ref().and_then(|r| r.chain_hash.as_deref()) == Some(&c.hash.0[..]);
                let keyed = !keys.is_empty();
                let state = if keyed && c.check_signature(keys).is_err() {
                    CheckpointState::Forged
                } else if c.purged && row.is_none() {
                    CheckpointState::PurgeAnchor
                } else if !matches {
                    CheckpointState::Mismatch
                } else if keyed {
                    CheckpointState::Verified
                } else {
                    CheckpointState::HashMatches
                };
                Some((c.seq, c.created_at, state))
            }
        };
        let unsigned = head_seq.saturating_sub(checkpoint.map_or(0, |(seq, _, _)| seq));
        heads.push(TrailHead { chain, head_seq, head_at, checkpoint, unsigned });
    }
    heads.sort_by_key(|head| std::cmp::Reverse(head.head_at));
    heads.truncate(limit);
    Ok(heads)
}

/// `checkpoints` and the `anchors` they lack (an anchor equal to a checkpoint is the same
/// one), less the anchors of a purged prefix: at or before the newest purge anchor of their
/// chain among `checkpoints` (with trusted `keys`, one whose signature verifies: a forged
/// purge anchor does not excuse anything).
fn with_anchors(mut checkpoints: Vec<Checkpoint>, anchors: &[Checkpoint], keys: &[TrustedKey]) -> Vec<Checkpoint> {
    if anchors.is_empty() {
        return checkpoints;
    }
    let mut purged: HashMap<Uuid, u64> = HashMap::new();
    let trusted = |c: &Checkpoint| keys.is_empty() || c.check_signature(keys).is_ok();
    for c in checkpoints.iter().filter(|c| c.purged && trusted(c)) {
        let seq = purged.entry(c.chain).or_default();
        *seq = (*seq).max(c.seq);
    }
    let mut known: std::collections::HashSet<(Uuid, u64, ChainHash, Option<String>)> =
        checkpoints.iter().map(|c| (c.chain, c.seq, c.hash, c.signature.clone())).collect();
    for anchor in anchors {
        let purged_away = purged.get(&anchor.chain).is_some_and(|seq| anchor.seq <= *seq);
        if !purged_away && known.insert((anchor.chain, anchor.seq, anchor.hash, anchor.signature.clone())) {
            checkpoints.push(anchor.clone());
        }
    }
    checkpoints
}

/// Reads an anchor file (`audit.checkpoint_anchor_path`: one `{"checkpoint": …}` line per
/// checkpoint, as the database sink appends them) for [`VerifyOptions::anchors`]. A line that
/// is not a checkpoint is an error naming its number.
pub fn read_anchors(path: &Path) -> std::io::Result<Vec<Checkpoint>> {
    let mut file = std::io::BufReader::new(open_regular(path)?);
    let mut anchors = Vec::new();
    let mut line = Vec::new();
    for index in 0.. {
        line.clear();
        if read_bounded_line(&mut file, &mut line, index + 1)? == 0 {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let anchor: CheckpointLine<Checkpoint> = serde_json::from_slice(&line).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "line {} is not a checkpoint ({e}): an anchor file holds only `{{\"checkpoint\": …}}` lines",
                    index + 1
                ),
            )
        })?;
        anchors.push(anchor.checkpoint);
    }
    Ok(anchors)
}

/// The longest line an export or anchor file may have; a stored event is far shorter (the
/// logger cuts what it stores to fit its columns).
const MAX_LINE: u64 = 64 * 1024 * 1024;

/// Opens `path` if it is a regular file: a FIFO blocks the open (and would give each pass of
/// [`verify_export`] other lines), and a device such as `/dev/zero` never ends.
fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a directory, FIFO or device): give the path of a file",
        ));
    }
    std::fs::File::open(path)
}

/// Reads line `number` (at most [`MAX_LINE`] bytes, newline included) into `line`; 0 at the
/// end of the file. Bytes, not text: a line that is not UTF-8 is for the JSON parser to name,
/// as any other line that is not what this tool wrote.
fn read_bounded_line(reader: &mut impl BufRead, line: &mut Vec<u8>, number: usize) -> std::io::Result<usize> {
    let read = std::io::Read::take(reader, MAX_LINE + 1).read_until(b'\n', line)?;
    if read as u64 > MAX_LINE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("line {number} is longer than {} MiB: not a line this tool wrote", MAX_LINE >> 20),
        ));
    }
    Ok(read)
}

/// How an export file and an anchor file hold a checkpoint: `{"checkpoint": …}` (`C`: the
/// checkpoint or a reference to it).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CheckpointLine<C> {
    pub(crate) checkpoint: C,
}

/// One line of an export file: an event (the [`AuditEvent`] JSON), a checkpoint or a dead
/// letter.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Checkpoint(CheckpointLine<Checkpoint>),
    DeadLetter { dead_letter: AuditEvent },
    Event(AuditEvent),
}

/// Writes the trail in `db` to `out` as JSON Lines: the events in chain order (each with its
/// `chain` link; unchained ones last, by id), read in keyset pages so that the time grows with
/// the rows (not with their square, as offset pages would), then `{"dead_letter": event}` and `{"checkpoint": …}`
/// lines. Returns the number of lines. The file verifies on its own ([`verify_export`]).
pub async fn export<C: ConnectionTrait>(
    db: &C,
    out: &mut dyn Write,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<u64, ExportError> {
    let mut lines = 0;
    let mut write = |out: &mut dyn Write, line: &Line| -> Result<(), ExportError> {
        serde_json::to_writer(&mut *out, line).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        lines += 1;
        Ok(())
    };
    each_row(db, from, to, |row| {
        let row = row.map_err(|Unreadable { id, error }| {
            ExportError::Invalid(format!("event {id} cannot be exported: a stored value does not read back: {error}"))
        })?;
        let id = row.id.clone();
        let event = AuditEvent::try_from(row)
            .map_err(|e| ExportError::Invalid(format!("event {id} cannot be exported: {e}")))?;
        write(out, &Line::Event(event))
    })
    .await?;
    // A letter that does not parse is left out; `verify` on the database names it.
    for event in read_dead_letters(db, &mut Vec::new()).await? {
        write(out, &Line::DeadLetter { dead_letter: event })?;
    }
    for model in checkpoint::Entity::find().all(db).await? {
        let id = model.id.clone();
        let checkpoint = Checkpoint::try_from(model)
            .map_err(|e| ExportError::Invalid(format!("checkpoint {id} cannot be exported: {e}")))?;
        write(out, &Line::Checkpoint(CheckpointLine { checkpoint }))?;
    }
    out.flush()?;
    Ok(lines)
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The database could not be read.
    #[error("cannot read the audit trail: {0}")]
    Database(#[from] DbErr),
    /// The file could not be written.
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    /// A stored row does not parse.
    #[error("{0}")]
    Invalid(String),
}

/// Verifies a JSON Lines export ([`export`], or the file sink's JSON output, which has no
/// checkpoints: every chain is then reported as not yet signed).
///
/// The file is read twice: first the checkpoints and dead letters, and where each chained
/// event's line starts; then the events. A line of a chain that comes after a later one of the
/// same chain is reported as [`Finding::Reordered`] (its line and the line it follows), and the
/// events are then checked in each chain's sequence order, so the content checks name what
/// was changed, not the shuffle.
pub fn verify_export(path: &Path, options: VerifyOptions) -> std::io::Result<VerifyReport> {
    use std::io::{Read, Seek, SeekFrom};

    let open = || open_regular(path).map(std::io::BufReader::new);
    let (mut checkpoints, mut dead_letters, mut invalid) = (Vec::new(), Vec::new(), Vec::new());
    // Where each chained event's line is: (chain, sequence number, line number, offset, length).
    let mut places: Vec<(Uuid, u64, usize, u64, usize)> = Vec::new();
    // Per chain, the highest sequence number so far and its line.
    let mut highest: HashMap<Uuid, (u64, usize)> = HashMap::new();
    let mut moved = Vec::new();
    let (mut reader, mut line, mut offset) = (open()?, Vec::new(), 0u64);
    for number in 1.. {
        line.clear();
        let read = read_bounded_line(&mut reader, &mut line, number)?;
        if read == 0 {
            break;
        }
        let start = offset;
        offset += read as u64;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Line>(&line) {
            Ok(Line::Checkpoint(CheckpointLine { checkpoint })) => checkpoints.push(checkpoint),
            Ok(Line::DeadLetter { dead_letter }) => dead_letters.push(dead_letter),
            Ok(Line::Event(event)) => {
                let Some(link) = event.chain else { continue };
                places.push((link.chain, link.seq, number, start, read));
                match highest.get(&link.chain) {
                    Some(&(seq, after)) if link.seq < seq => {
                        let detail = format!("is on line {number}, after #{seq} on line {after}");
                        moved.push(Finding::Reordered {
                            chain: link.chain,
                            seq: link.seq,
                            id: event.id.to_string(),
                            detail,
                        });
                    }
                    _ => {
                        highest.insert(link.chain, (link.seq, number));
                    }
                }
            }
            Err(e) => invalid.push((format!("line {number}"), e.to_string())),
        }
    }
    let mut verifier = Verifier::new(options, checkpoints, dead_letters);
    for (at, reason) in invalid {
        verifier.invalid(at, reason);
    }
    verifier.report.findings.extend(moved.iter().cloned());
    // Every event line again, in file order (the first pass bounded and counted them).
    let events = |visit: &mut dyn FnMut(AuditEvent)| -> std::io::Result<()> {
        let (mut reader, mut line) = (open()?, Vec::new());
        for number in 1.. {
            line.clear();
            if read_bounded_line(&mut reader, &mut line, number)? == 0 {
                return Ok(());
            }
            if let Ok(Line::Event(event)) = serde_json::from_slice::<Line>(&line) {
                visit(event);
            }
        }
        Ok(())
    };
    if moved.is_empty() {
        events(&mut |event| verifier.event(event))?;
        return Ok(verifier.finish());
    }
    // The events without a chain as they come, then each chain in sequence order (a number
    // that comes twice keeps its lines' order: the second is an inserted event).
    events(&mut |event| {
        if event.chain.is_none() {
            verifier.event(event);
        }
    })?;
    places.sort_unstable_by_key(|&(chain, seq, number, _, _)| (chain, seq, number));
    let mut file = open_regular(path)?;
    let mut bytes = Vec::new();
    for (_, _, _, start, length) in places {
        file.seek(SeekFrom::Start(start))?;
        bytes.resize(length, 0);
        file.read_exact(&mut bytes)?;
        if let Ok(Line::Event(event)) = serde_json::from_slice::<Line>(&bytes) {
            verifier.event(event);
        }
    }
    Ok(verifier.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditEventType;
    use crate::audit::chain::ChainWriter;
    use crate::audit::checkpoint::CheckpointKey;

    fn chain(n: usize) -> Vec<AuditEvent> {
        let mut writer = ChainWriter::new();
        let start = Utc::now() - chrono::Duration::days(1);
        (0..n)
            .map(|i| {
                let mut event = AuditEvent::new(AuditEventType::DataCreated)
                    .actor_id(i)
                    .at(start + chrono::Duration::seconds(i as i64));
                writer.link(&mut event);
                event
            })
            .collect()
    }

    fn signed(events: &[AuditEvent], seq: u64, previous_seq: u64) -> Checkpoint {
        let link = events[seq as usize - 1].chain.unwrap();
        let mut checkpoint = Checkpoint::new(link.chain, seq, link.hash, previous_seq);
        CheckpointKey::from_secret("unit").sign(&mut checkpoint);
        checkpoint
    }

    fn options() -> VerifyOptions {
        VerifyOptions { key: Some(CheckpointKey::from_secret("unit").verifying_key()), ..VerifyOptions::default() }
    }

    fn run(events: &[AuditEvent], checkpoints: Vec<Checkpoint>, dead: Vec<AuditEvent>) -> VerifyReport {
        let mut verifier = Verifier::new(options(), checkpoints, dead);
        for event in events {
            verifier.event(event.clone());
        }
        verifier.finish()
    }

    /// The marker the writer (key `unit`) publishes in `event`'s place.
    fn signed_marker(event: &AuditEvent) -> SetAside {
        let mut aside = SetAside {
            id: event.id.to_string(),
            timestamp: Some(event.timestamp),
            chain: event.chain,
            reason: "message size exceeds maximum allowed".into(),
            key_id: None,
            signature: None,
        };
        aside.sign(&CheckpointKey::from_secret("unit"));
        aside
    }

    /// Verifies `events` (signed at their end) with `aside` in the place of event #3.
    fn with_marker_at_3(events: &[AuditEvent], options: VerifyOptions, aside: SetAside) -> VerifyReport {
        let mut verifier = Verifier::new(options, vec![signed(events, events.len() as u64, 0)], Vec::new());
        for event in events {
            if event.chain.is_some_and(|link| link.seq == 3) {
                verifier.set_aside(aside.clone());
            } else {
                verifier.event(event.clone());
            }
        }
        verifier.finish()
    }

    /// A set-aside marker stands in its event's place: its link continues the chain; a marker
    /// whose link does not follow the event before it (forged, or for another position) is an
    /// inserted entry, and its content-less place still counts as taken.
    #[test]
    fn set_aside_markers_continue_the_chain_and_are_checked() {
        let events = chain(6);
        let marker = |event: &AuditEvent| signed_marker(event);
        let feed = |aside: SetAside| with_marker_at_3(&events, options(), aside);
        let report = feed(marker(&events[2]));
        assert!(report.intact(), "{:?}", report.findings);
        assert_eq!(report.events, 5);
        let chain = events[0].chain.unwrap().chain;
        let id = events[2].id.to_string();
        assert!(report.notices.iter().any(|n| matches!(n, Notice::SetAside { seq: 3, id: i, .. } if *i == id)));

        // A marker claiming #3 with another link: named, not taken as the event.
        let mut forged = marker(&events[2]);
        forged.chain = Some(ChainLink { prev: ChainHash([7; 32]), ..events[2].chain.unwrap() });
        forged.sign(&CheckpointKey::from_secret("unit"));
        let report = feed(forged);
        assert!(
            report
                .findings
                .iter()
                .any(|f| matches!(f, Finding::Inserted { seq: Some(3), chain: Some(c), .. } if *c == chain)),
            "{:?}",
            report.findings
        );
    }

    /// Whoever can write to the stream can delete an event and put a marker with the event's
    /// link in its place: with a verifying key, only the writer's signed marker explains the
    /// gap.
    #[test]
    fn a_set_aside_marker_not_signed_by_the_writer_does_not_explain_the_gap() {
        let events = chain(6);
        let link = events[2].chain.unwrap();
        let genuine = signed_marker(&events[2]);
        let feed = |options: VerifyOptions, aside: SetAside| with_marker_at_3(&events, options, aside);
        let unsigned = SetAside { key_id: None, signature: None, ..genuine.clone() };
        let mut other_key = genuine.clone();
        other_key.sign(&CheckpointKey::from_secret("the attacker's"));
        let edited = SetAside { reason: "refused for good".into(), ..genuine.clone() };
        for (case, aside, why) in [
            ("unsigned", unsigned.clone(), "no signature"),
            ("another key", other_key, "not trusted"),
            ("edited after signing", edited, "does not verify with the trusted key"),
        ] {
            let report = feed(options(), aside);
            let forged = report.findings.iter().find_map(|f| match f {
                Finding::ForgedSetAside { chain, seq: 3, id, reason } if *chain == link.chain && *id == genuine.id => {
                    Some(reason)
                }
                _ => None,
            });
            assert!(forged.is_some_and(|reason| reason.contains(why)), "{case}: {:?}", report.findings);
            assert!(
                report.findings.contains(&Finding::Deleted { chain: link.chain, first_seq: 3, last_seq: 3 }),
                "{case}: the event counts as missing: {:?}",
                report.findings
            );
            assert!(!report.notices.iter().any(|n| matches!(n, Notice::SetAside { .. })), "{case}");
        }
        // The writer's own marker explains it.
        let report = feed(options(), genuine);
        assert!(report.intact(), "{:?}", report.findings);
        // Without a key, a marker is taken and the report says its signature went unchecked.
        let report = feed(VerifyOptions::default(), unsigned);
        assert!(report.intact(), "{:?}", report.findings);
        assert!(report.notices.contains(&Notice::SetAsideNotChecked { count: 1 }), "{:?}", report.notices);
    }

    #[test]
    fn dead_letters_explain_their_gap() {
        let events = chain(10);
        let checkpoints = vec![signed(&events, 10, 0)];
        let (dead, stored): (Vec<AuditEvent>, Vec<AuditEvent>) =
            events.iter().cloned().partition(|e| matches!(e.chain, Some(ChainLink { seq: 4 | 10, .. })));
        let report = run(&stored, checkpoints.clone(), dead);
        assert!(report.intact(), "{:?}", report.findings);
        assert_eq!(report.events, 10);
        assert_eq!(report.notices.iter().filter(|n| matches!(n, Notice::DeadLettered { .. })).count(), 2);
        // Without them, the same trail shows both gaps.
        let report = run(&stored, checkpoints, Vec::new());
        let chain = events[0].chain.unwrap().chain;
        assert_eq!(
            report.findings,
            [
                Finding::Deleted { chain, first_seq: 4, last_seq: 4 },
                Finding::Deleted { chain, first_seq: 10, last_seq: 10 }
            ]
        );
    }

    /// Found by an attack on `audit verify`: one stored `seq` set to 10^15 made the verifier
    /// walk every missing number (it never finished), and `u64::MAX` overflowed (a panic).
    #[test]
    fn a_huge_sequence_number_is_reported_not_walked_or_overflowed() {
        let events = chain(5);
        let chain_id = events[0].chain.unwrap().chain;
        for huge in [1_000_000_000_000_000, u64::MAX] {
            let mut tampered = events.clone();
            tampered[4].chain.as_mut().unwrap().seq = huge;
            let checkpoints = vec![signed(&events, 4, 0)];
            let started = std::time::Instant::now();
            let report = run(&tampered, checkpoints, Vec::new());
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "walked the gap");
            assert!(
                report.findings.contains(&Finding::Deleted { chain: chain_id, first_seq: 5, last_seq: huge - 1 }),
                "{huge}: {:?}",
                report.findings
            );
        }
        // A forged checkpoint at `u64::MAX` past the last event.
        let mut forged = Checkpoint::new(chain_id, u64::MAX, events[4].chain.unwrap().hash, 5);
        CheckpointKey::from_secret("unit").sign(&mut forged);
        let report = run(&events, vec![signed(&events, 5, 0), forged], Vec::new());
        assert!(!report.intact(), "{:?}", report.findings);
    }

    #[test]
    fn a_purge_anchor_starts_the_chain_and_a_plain_checkpoint_does_not() {
        let events = chain(30);
        let chain_id = events[0].chain.unwrap().chain;
        let mut anchor = signed(&events, 10, 0);
        anchor.purged = true;
        CheckpointKey::from_secret("unit").sign(&mut anchor);
        let report = run(&events[10..], vec![anchor, signed(&events, 30, 10)], Vec::new());
        assert!(report.intact() && report.notices.is_empty(), "{report:?}");
        // The same prefix removed without a purge: deleted, whatever checkpoint is there.
        let report = run(&events[10..], vec![signed(&events, 10, 0), signed(&events, 30, 10)], Vec::new());
        assert_eq!(report.findings, [Finding::Deleted { chain: chain_id, first_seq: 1, last_seq: 10 }]);
    }

    /// The anchor file's copies stand in for checkpoints the trail lacks: a tail removed with
    /// its checkpoint shows as deleted; the copies of a purged prefix are left out.
    #[test]
    fn anchors_show_a_tail_removed_with_its_checkpoint_and_skip_a_purged_prefix() {
        let events = chain(30);
        let chain_id = events[0].chain.unwrap().chain;
        let anchors = vec![signed(&events, 10, 0), signed(&events, 20, 10), signed(&events, 30, 20)];
        let with_anchors = |events: &[AuditEvent], checkpoints: Vec<Checkpoint>| {
            let mut verifier =
                Verifier::new(VerifyOptions { anchors: anchors.clone(), ..options() }, checkpoints, Vec::new());
            for event in events {
                verifier.event(event.clone());
            }
            verifier.finish()
        };
        // Intact: the copies equal the stored checkpoints.
        let report = with_anchors(&events, anchors.clone());
        assert!(report.intact() && report.notices.is_empty(), "{report:?}");
        assert_eq!(report.checkpoints, 3, "the stored checkpoints are counted, not the copies");
        // #21-#30 and the checkpoint at #30 removed: without the copies a shorter, signed chain.
        let report = run(&events[..20], anchors[..2].to_vec(), Vec::new());
        assert!(report.intact() && report.notices.is_empty(), "{report:?}");
        let report = with_anchors(&events[..20], anchors[..2].to_vec());
        assert_eq!(report.findings, [Finding::Deleted { chain: chain_id, first_seq: 21, last_seq: 30 }]);
        // A retention purge up to #10: its anchor replaces the checkpoint at #10, whose copy is
        // left out.
        let mut purge = signed(&events, 10, 0);
        purge.purged = true;
        CheckpointKey::from_secret("unit").sign(&mut purge);
        let report = with_anchors(&events[10..], vec![purge.clone(), anchors[1].clone(), anchors[2].clone()]);
        assert!(report.intact() && report.notices.is_empty(), "{report:?}");
        // A purge anchor signed with another key is reported, and the trail is not intact.
        CheckpointKey::from_secret("not the writer's").sign(&mut purge);
        let report = with_anchors(&events[10..], vec![purge, anchors[1].clone(), anchors[2].clone()]);
        assert!(report.findings.iter().any(|f| matches!(f, Finding::ForgedCheckpoint { seq: 10, .. })), "{report:?}");
        assert!(!report.intact());
    }

    #[test]
    fn checkpoints_signed_before_a_key_rotation_verify_with_the_previous_key() {
        let events = chain(30);
        let (old, new) = (CheckpointKey::from_secret("unit"), CheckpointKey::from_secret("unit, rotated"));
        let mut rotated = signed(&events, 30, 20);
        new.sign(&mut rotated);
        let checkpoints = vec![signed(&events, 10, 0), signed(&events, 20, 10), rotated];
        let verify = |options: VerifyOptions| {
            let mut verifier = Verifier::new(options, checkpoints.clone(), Vec::new());
            for event in &events {
                verifier.event(event.clone());
            }
            verifier.finish()
        };
        let trusted = VerifyOptions {
            key: Some(new.verifying_key()),
            previous_keys: vec![old.verifying_key().into()],
            ..VerifyOptions::default()
        };
        let report = verify(trusted);
        assert!(report.intact() && report.notices.is_empty(), "{report:?}");
        // Without the previous key, the two older checkpoints are forged and the chain is
        // signed only from #30 on.
        let report = verify(VerifyOptions { key: Some(new.verifying_key()), ..VerifyOptions::default() });
        let forged: Vec<u64> = report
            .findings
            .iter()
            .filter_map(|f| match f {
                Finding::ForgedCheckpoint { seq, reason, .. } if reason.contains("not trusted") => Some(*seq),
                _ => None,
            })
            .collect();
        assert_eq!(forged, [10, 20], "{:?}", report.findings);
        // The previous key alone verifies what it signed, not what the new key signed.
        let report =
            verify(VerifyOptions { previous_keys: vec![old.verifying_key().into()], ..VerifyOptions::default() });
        assert!(matches!(&report.findings[..], [Finding::ForgedCheckpoint { seq: 30, .. }]), "{:?}", report.findings);
    }

    /// A previous key with its retirement time vouches only for the trail before it: a
    /// checkpoint it signed that claims a later time is forged, and so is one that claims an
    /// earlier time (backdated) but signs an event stamped after the retirement.
    #[test]
    fn a_retired_key_cannot_sign_the_trail_after_its_retirement() {
        let events = chain(30);
        let chain_id = events[0].chain.unwrap().chain;
        let (old, new) = (CheckpointKey::from_secret("unit"), CheckpointKey::from_secret("unit, rotated"));
        let retired_at = events[14].timestamp;
        let made_at = |checkpoint: &mut Checkpoint, at: DateTime<Utc>, key: &CheckpointKey| {
            checkpoint.created_at = at;
            key.sign(checkpoint);
        };
        let verify = |checkpoints: Vec<Checkpoint>| {
            let previous_keys = vec![TrustedKey { key: old.verifying_key(), retired_at: Some(retired_at) }];
            let options = VerifyOptions { key: Some(new.verifying_key()), previous_keys, ..VerifyOptions::default() };
            let mut verifier = Verifier::new(options, checkpoints, Vec::new());
            for event in &events {
                verifier.event(event.clone());
            }
            verifier.finish()
        };
        // As written: the old key up to #10, made before its retirement; the new key after.
        let mut first = signed(&events, 10, 0);
        made_at(&mut first, events[9].timestamp, &old);
        let mut second = signed(&events, 20, 10);
        made_at(&mut second, events[19].timestamp, &new);
        let mut third = signed(&events, 30, 20);
        made_at(&mut third, events[29].timestamp, &new);
        let report = verify(vec![first.clone(), second.clone(), third.clone()]);
        assert!(report.intact() && report.notices.is_empty(), "{report:?}");

        // The leaked old key signs #20 as made when it was made: after the retirement.
        let mut late = second.clone();
        made_at(&mut late, events[19].timestamp, &old);
        let report = verify(vec![first.clone(), late, third.clone()]);
        let forged: Vec<(u64, &str)> = report
            .findings
            .iter()
            .filter_map(|f| match f {
                Finding::ForgedCheckpoint { chain, seq, reason } if *chain == chain_id => Some((*seq, reason.as_str())),
                _ => None,
            })
            .collect();
        assert!(matches!(&forged[..], [(20, reason)] if reason.contains("was retired")), "{:?}", report.findings);

        // Backdated to before the retirement, it still signs event #20, stamped after it.
        let mut backdated = second.clone();
        made_at(&mut backdated, retired_at - chrono::Duration::seconds(1), &old);
        let report = verify(vec![first.clone(), backdated, third]);
        assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
        let Finding::ForgedCheckpoint { seq: 20, reason, .. } = &report.findings[0] else {
            panic!("{:?}", report.findings)
        };
        assert!(reason.contains("signs an event stamped") && reason.contains("retired at"), "{reason}");
    }

    #[test]
    fn a_time_range_verifies_from_its_first_event() {
        let events = chain(20);
        let from = events[5].timestamp;
        let options = VerifyOptions { from: Some(from), ..options() };
        let mut verifier = Verifier::new(options, vec![signed(&events, 20, 0)], Vec::new());
        for event in &events {
            verifier.event(event.clone());
        }
        let report = verifier.finish();
        assert!(report.intact(), "{:?}", report.findings);
        assert_eq!(report.events, 15);
    }
}
