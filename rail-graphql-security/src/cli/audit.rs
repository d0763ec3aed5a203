//! `audit verify`, `audit export` and `audit key`: the tamper-evident trail from the command
//! line (see [`crate::audit::verify`]).

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};

use super::{CliError, EXIT_CHECK_FAILED, EXIT_OK, Format};
use crate::audit::checkpoint::{CheckpointKey, parse_previous_keys, parse_verifying_key};
use crate::audit::mask::{redact_database_url, redact_url_in};
use crate::audit::verify::{self, VerifyOptions, VerifyReport};
use crate::config::standard::AuditSettings;

/// The variable naming the trusted verifying key when `--verifying-key` is not given.
pub const VERIFYING_KEY_ENV_VAR: &str = "RAIL_AUDIT_VERIFYING_KEY";

/// The `audit` commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the audit trail (the database, or an export with --export) for changed, deleted,
    /// inserted or reordered events, forged or missing checkpoints, and chains removed, cut
    /// short or rewritten behind another chain's witness. Exit code 0: intact; 1: tampering
    /// found; 2: usage or connection error.
    Verify(VerifyArgs),
    /// Write the trail as JSON Lines (events with their chain links, dead letters,
    /// checkpoints): a file that `audit verify --export` checks on its own.
    Export(ExportArgs),
    /// Print the verifying key of the configured `audit.checkpoint_signing_key`, to publish
    /// and to pass to `audit verify --verifying-key` where the secret is not available.
    Key(KeyArgs),
}

/// Options of `audit verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// The database (default: $DATABASE_URL, else the binary's own default).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Verify this JSON Lines export (from `audit export`) instead of the database.
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Only events at or after this time (RFC 3339, or a date: 2026-12-01).
    #[arg(long, value_parser = parse_time)]
    pub from: Option<DateTime<Utc>>,
    /// Only events before this time (RFC 3339, or a date).
    #[arg(long, value_parser = parse_time)]
    pub to: Option<DateTime<Utc>>,
    /// The trusted Ed25519 verifying key, 64 hex digits (default: $RAIL_AUDIT_VERIFYING_KEY,
    /// else the key of the configured audit.checkpoint_signing_key). Without one, checkpoint
    /// signatures are not checked.
    #[arg(long)]
    pub verifying_key: Option<String>,
    /// The verifying key of an earlier signing key, 64 hex digits, optionally `@` and the
    /// RFC 3339 time it was retired (repeat for several): after a key rotation, the
    /// checkpoints it signed (before its retirement) still verify (default: the configured
    /// audit.checkpoint_previous_keys).
    #[arg(long = "previous-key", value_name = "KEY[@TIME]")]
    pub previous_keys: Vec<String>,
    /// The anchor file: copies of the checkpoints kept outside the database
    /// (audit.checkpoint_anchor_path). A checkpoint it holds that the trail lacks is checked as
    /// if it were still there, so the newest events removed with their checkpoints show as
    /// deleted (default: the configured audit.checkpoint_anchor_path; a configured file that
    /// does not exist is reported as a notice, since there is none before the first checkpoint).
    #[arg(long, value_name = "FILE")]
    pub anchors: Option<PathBuf>,
    /// Exit with code 1 when events are not signed by any checkpoint (a chain without a
    /// checkpoint, events after a chain's last one, or events without a chain link dated before
    /// the chain began): for a trail whose writers have all stopped (each signs its head at
    /// shutdown) or an export, where such events can only have been added by someone else.
    #[arg(long)]
    pub require_signed: bool,
    /// Also check the hourly rollup that reports and the dashboard read against the events
    /// (every hour; the database only): a rollup row that does not count the events stored is
    /// reported as tampering.
    #[arg(long)]
    pub rollup: bool,
    /// Filled by the binary: `anchors` is the configured file, whose absence is a notice
    /// rather than an error (not a flag).
    #[arg(skip)]
    pub anchors_from_config: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Options of `audit export`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ExportArgs {
    /// The database (default: $DATABASE_URL, else the binary's own default).
    #[arg(long)]
    pub database_url: Option<String>,
    /// The file to write (default: standard output).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Only events at or after this time.
    #[arg(long, value_parser = parse_time)]
    pub from: Option<DateTime<Utc>>,
    /// Only events before this time.
    #[arg(long, value_parser = parse_time)]
    pub to: Option<DateTime<Utc>>,
}

/// Options of `audit key`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KeyArgs {
    /// Filled by the binary from the configuration (not a flag).
    #[arg(skip)]
    pub verifying_key: Option<String>,
}

impl AuditCommand {
    /// Fills what the flags left open from a binary's own configuration: its database URL and
    /// the verifying key of `audit.checkpoint_signing_key`. The `demo` and `rail-security`
    /// binaries call it, so `demo audit verify` checks the demo's configured database.
    pub fn with_defaults(mut self, audit: &AuditSettings, database_url: Option<&str>) -> Self {
        let key =
            audit.checkpoint_signing_key.as_ref().map(|s| CheckpointKey::from_secret(s.expose()).verifying_key_hex());
        match &mut self {
            AuditCommand::Verify(args) => {
                if args.database_url.is_none() {
                    args.database_url = database_url.map(str::to_owned);
                }
                if args.verifying_key.is_none() && std::env::var_os(VERIFYING_KEY_ENV_VAR).is_none() {
                    args.verifying_key = key;
                }
                if args.previous_keys.is_empty() {
                    args.previous_keys = audit.checkpoint_previous_keys.clone();
                }
                if args.anchors.is_none() && audit.checkpoint_anchor_path.is_some() {
                    args.anchors = audit.checkpoint_anchor_path.clone();
                    args.anchors_from_config = true;
                }
            }
            AuditCommand::Export(args) => {
                if args.database_url.is_none() {
                    args.database_url = database_url.map(str::to_owned);
                }
            }
            AuditCommand::Key(args) => args.verifying_key = key,
        }
        self
    }
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|date| date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
        .map_err(|_| format!("`{text}` is not a time: use RFC 3339 (2026-12-01T10:00:00Z) or a date (2026-12-01)"))
}

fn database_url(explicit: Option<&String>) -> String {
    explicit
        .cloned()
        .or_else(|| std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| super::DEFAULT_DATABASE_URL.to_owned())
}

pub(super) fn run(command: &AuditCommand, out: &mut dyn Write) -> Result<u8, CliError> {
    match command {
        AuditCommand::Verify(args) => run_verify(args, out),
        AuditCommand::Export(args) => run_export(args, out),
        AuditCommand::Key(args) => match &args.verifying_key {
            Some(key) => {
                writeln!(out, "{key}")?;
                Ok(EXIT_OK)
            }
            None => Err(CliError::Message(
                "no audit.checkpoint_signing_key is configured: set it (`setup` generates one) to sign checkpoints"
                    .to_owned(),
            )),
        },
    }
}

/// `--from` must come before `--to`: an empty range verifies nothing and would read "intact".
fn check_range(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<(), CliError> {
    match (from, to) {
        (Some(from), Some(to)) if from >= to => {
            Err(CliError::Message(format!("--from ({from}) is not before --to ({to}): swap the two, or leave one out")))
        }
        _ => Ok(()),
    }
}

fn run_verify(args: &VerifyArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    check_range(args.from, args.to)?;
    let key =
        args.verifying_key.clone().or_else(|| std::env::var(VERIFYING_KEY_ENV_VAR).ok().filter(|k| !k.is_empty()));
    let key = key.map(|k| parse_verifying_key(&k)).transpose().map_err(CliError::Message)?;
    let previous_keys =
        parse_previous_keys(&args.previous_keys).map_err(|e| CliError::Message(format!("--previous-key {e}")))?;
    let mut missing_anchors = None;
    let anchors = match &args.anchors {
        Some(path) => match verify::read_anchors(path) {
            Ok(anchors) => anchors,
            // The configured file: none yet before the first checkpoint. Reported, not fatal.
            Err(e) if args.anchors_from_config && e.kind() == std::io::ErrorKind::NotFound => {
                missing_anchors = Some(verify::Notice::AnchorFileMissing { path: path.display().to_string() });
                Vec::new()
            }
            Err(e) => return Err(CliError::Message(format!("cannot read the anchor file {}: {e}", path.display()))),
        },
        None => Vec::new(),
    };
    let options = VerifyOptions { key, previous_keys, from: args.from, to: args.to, anchors, rollup: args.rollup };
    let (source, mut report) = match &args.export {
        Some(path) => {
            let report = verify::verify_export(path, options)
                .map_err(|e| CliError::Message(format!("cannot read {}: {e}", path.display())))?;
            (path.display().to_string(), report)
        }
        None => {
            let url = database_url(args.database_url.as_ref());
            let label = redact_database_url(&url);
            let report = block_on(async {
                let db = connect(&url).await?;
                let report = verify::verify_database(&db, options).await.map_err(|e| {
                    CliError::Message(format!(
                        "cannot read the audit trail on {label}: {e}; run `setup` (or the migrations) first"
                    ))
                });
                let _ = db.close().await;
                report
            })?;
            (label, report)
        }
    };
    report.notices.extend(missing_anchors);
    match args.format {
        Format::Json => {
            let value = serde_json::json!({
                "schema_version": 1,
                "source": source,
                "intact": report.intact(),
                "unsigned_events": report.unsigned_events(),
                "events": report.events,
                "chains": report.chains,
                "checkpoints": report.checkpoints,
                "findings": report.findings.iter().map(|f| serde_json::json!({"message": f.to_string(), "detail": f})).collect::<Vec<_>>(),
                "notices": report.notices.iter().map(|n| serde_json::json!({"message": n.to_string(), "detail": n})).collect::<Vec<_>>(),
            });
            serde_json::to_writer_pretty(&mut *out, &value).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        Format::Text => write_text(&source, &report, out)?,
    }
    let unsigned_refused = args.require_signed && report.unsigned_events() > 0;
    Ok(if report.intact() && !unsigned_refused { EXIT_OK } else { EXIT_CHECK_FAILED })
}

fn write_text(source: &str, report: &VerifyReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "Audit trail of {}: {} event(s) in {} chain(s), {} checkpoint(s)",
        terminal_safe(source),
        report.events,
        report.chains,
        report.checkpoints
    )?;
    for finding in &report.findings {
        writeln!(out, "  ✗ {}", terminal_safe(&finding.to_string()))?;
    }
    for notice in &report.notices {
        writeln!(out, "  ! {}", terminal_safe(&notice.to_string()))?;
    }
    let unsigned = report.unsigned_events();
    if report.intact() && unsigned > 0 {
        writeln!(
            out,
            "✓ intact: no tampering found in what the checkpoints sign; {unsigned} event(s) are not signed yet, so \
             nothing proves who wrote them (--require-signed makes that exit code 1)"
        )
    } else if report.intact() {
        writeln!(out, "✓ intact: no tampering found")
    } else {
        writeln!(out, "✗ tampering found: {} finding(s)", report.findings.len())
    }
}

/// `text` with the characters a terminal acts on written as escapes (`\u{1b}`): control
/// characters (escape sequences could clear the screen, print a fake verdict, or hide the real
/// one) and the bidirectional-text controls (which reorder what is shown). The findings quote
/// stored values, which whoever tampered with the trail chose.
fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let acts = |c: char| {
        c.is_control()
            || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(acts) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut safe = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if acts(c) {
            safe.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            safe.push(c);
        }
    }
    std::borrow::Cow::Owned(safe)
}

fn run_export(args: &ExportArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    check_range(args.from, args.to)?;
    let url = database_url(args.database_url.as_ref());
    let label = redact_database_url(&url);
    block_on(async {
        let db = connect(&url).await?;
        let result = match &args.output {
            Some(path) => {
                let file =
                    std::fs::File::create(path).map_err(|source| CliError::Write { path: path.clone(), source })?;
                let mut writer = std::io::BufWriter::new(file);
                let lines = verify::export(&db, &mut writer, args.from, args.to).await;
                lines.map(|lines| (lines, Some(path)))
            }
            None => verify::export(&db, out, args.from, args.to).await.map(|lines| (lines, None)),
        };
        let _ = db.close().await;
        match result {
            Ok((lines, Some(path))) => {
                writeln!(out, "Wrote {lines} line(s) of the audit trail of {label} to {}", path.display())?;
                Ok(EXIT_OK)
            }
            Ok((_, None)) => Ok(EXIT_OK),
            Err(e) => Err(CliError::Message(format!("{e} ({label})"))),
        }
    })
}

async fn connect(url: &str) -> Result<sea_orm::DatabaseConnection, CliError> {
    let mut options = sea_orm::ConnectOptions::new(url);
    options
        .connect_timeout(std::time::Duration::from_secs(5))
        .acquire_timeout(std::time::Duration::from_secs(5))
        .sqlx_logging(false);
    sea_orm::Database::connect(options).await.map_err(|e| {
        CliError::Message(format!(
            "cannot connect to the database {}: {}; check DATABASE_URL or --database-url",
            redact_database_url(url),
            redact_url_in(&e.to_string(), url)
        ))
    })
}

fn block_on<T>(future: impl Future<Output = Result<T, CliError>>) -> Result<T, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Message(format!("cannot start the async runtime: {e}")))?
        .block_on(future)
}

#[cfg(test)]
mod tests {
    use super::terminal_safe;

    #[test]
    fn what_a_terminal_acts_on_is_escaped() {
        assert_eq!(terminal_safe("chain 7, event #3"), "chain 7, event #3");
        assert_eq!(terminal_safe("a\u{1b}[2Jb\u{7}c\nd"), "a\\u{1b}[2Jb\\u{7}c\\u{a}d");
        assert_eq!(terminal_safe("x\u{202e}y\u{9b}z"), "x\\u{202e}y\\u{9b}z");
    }
}
