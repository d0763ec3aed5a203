//! `check` (`security_check`): the scored checklist, `--fix` and `--format json`.

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use super::{CliError, EXIT_CHECK_FAILED, EXIT_OK, edit, parse_profile, resolve_config_path, resolve_profile};
use crate::config::{CheckReport, Loaded, Profile, SecurityConfig, Severity, Source};

/// Options of `check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The config file (default: $RAIL_SECURITY_CONFIG; without either, defaults and env only).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The profile to check: development, staging, production or your own (default:
    /// $RAIL_SECURITY_ENV, else development).
    #[arg(long, short, value_parser = parse_profile)]
    pub environment: Option<Profile>,
    /// Explain why each failed check matters and how to fix it.
    #[arg(long, short)]
    pub verbose: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Rewrite the config file where a fix is safe (comments and formatting are kept).
    #[arg(long)]
    pub fix: bool,
    /// With --fix: show the changes without writing them.
    #[arg(long, requires = "fix")]
    pub dry_run: bool,
}

/// Output format of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The ✓/✗ checklist.
    Text,
    /// The documented JSON object (see the module docs).
    Json,
}

struct AppliedFix {
    key: String,
    value: String,
    previous: Option<String>,
    overridden_by: Option<String>,
}

pub(super) fn run<T: SecurityConfig>(args: &CheckArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let profile = resolve_profile(args.environment.as_ref())?;
    let file = resolve_config_path(args.config.as_ref());
    let loaded = load::<T>(&profile, file.as_ref())?;
    let mut report = loaded.config.run_checks(&profile);

    let mut fixes = Vec::new();
    if args.fix {
        let path = file.clone().ok_or_else(|| {
            CliError::Message(
                "--fix needs a config file to rewrite: pass --config FILE or set RAIL_SECURITY_CONFIG (`setup` \
                 writes one)"
                    .into(),
            )
        })?;
        fixes = apply_fixes(&path, &report, &loaded, args.dry_run)?;
        if !args.dry_run && !fixes.is_empty() {
            report = load::<T>(&profile, Some(&path))?.config.run_checks(&profile);
        }
    }

    match args.format {
        Format::Json => write_json(out, &report, file.as_ref(), &fixes, args.dry_run)?,
        Format::Text => write_text(out, &report, file.as_ref(), &fixes, args)?,
    }
    Ok(if report.has_critical_failure() { EXIT_CHECK_FAILED } else { EXIT_OK })
}

fn load<T: SecurityConfig>(profile: &Profile, file: Option<&PathBuf>) -> Result<Loaded<T>, CliError> {
    let mut loader = T::loader().profile(profile.clone());
    if let Some(path) = file {
        loader = loader.file(path);
    }
    Ok(loader.load_with_origins()?)
}

fn apply_fixes<T>(
    path: &PathBuf,
    report: &CheckReport,
    loaded: &Loaded<T>,
    dry_run: bool,
) -> Result<Vec<AppliedFix>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| CliError::Config(crate::config::ConfigError::Io { path: path.clone(), source }.into()))?;
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| CliError::Message(format!("{}: {}", path.display(), e.message())))?;
    let mut applied = Vec::new();
    for check in report.checks.iter().filter(|c| !c.passed) {
        let Some(fix) = &check.fix else { continue };
        let previous = edit::set_dotted(&mut document, &fix.key, fix.value.clone())?;
        let overridden_by = match loaded.origins.get(&fix.key) {
            Some(Source::Env(var)) => Some(var.clone()),
            _ => None,
        };
        applied.push(AppliedFix {
            key: fix.key.clone(),
            value: fix.value.clone().decorated("", "").to_string(),
            previous,
            overridden_by,
        });
    }
    if !dry_run && !applied.is_empty() {
        edit::write_atomically(path, &document.to_string(), edit::Permissions::KeepExisting)?;
    }
    Ok(applied)
}

fn write_text(
    out: &mut dyn Write,
    report: &CheckReport,
    file: Option<&PathBuf>,
    fixes: &[AppliedFix],
    args: &CheckArgs,
) -> Result<(), CliError> {
    let title = format!(
        "Security Configuration Check (profile: {}, config: {})",
        report.profile,
        file.map_or_else(|| "none".to_owned(), |p| p.display().to_string())
    );
    writeln!(out, "{title}\n{}\n", "=".repeat(title.chars().count()))?;
    if !fixes.is_empty() {
        let verb = if args.dry_run { "Would fix" } else { "Fixed" };
        for fix in fixes {
            let was = fix.previous.as_deref().map(|p| format!(" (was {p})")).unwrap_or_else(|| " (added)".into());
            writeln!(out, "{verb}: {} = {}{was}", fix.key, fix.value)?;
            if let Some(var) = &fix.overridden_by {
                writeln!(out, "  note: {var} overrides this key; change or unset it too")?;
            }
        }
        writeln!(out)?;
    } else if args.fix {
        writeln!(out, "Nothing to fix automatically.\n")?;
    }
    for check in &report.checks {
        if check.passed {
            writeln!(out, "✓ {}", check.message)?;
            continue;
        }
        let tag = match check.severity {
            Severity::Critical => " [critical]",
            Severity::Warning => " [warning]",
            Severity::Info => "",
        };
        writeln!(out, "✗ {}{tag}", check.message)?;
        if args.verbose {
            writeln!(out, "    key: {}", check.id)?;
            if let Some(why) = &check.why {
                writeln!(out, "    why: {why}")?;
            }
            if let Some(how) = &check.recommendation {
                writeln!(out, "    fix: {how}{}", if check.fix.is_some() { " (safe: `--fix` does it)" } else { "" })?;
            }
        }
    }
    writeln!(out, "\nSecurity Score: {}/10", report.score())?;
    let failures = report.failures();
    if !failures.is_empty() {
        writeln!(out, "\nRecommendations:")?;
        for (i, check) in failures.iter().enumerate() {
            writeln!(out, "{}. {}", i + 1, check.recommendation.as_deref().unwrap_or(&check.message))?;
        }
    }
    let critical = failures.iter().filter(|c| c.severity == Severity::Critical).count();
    if critical > 0 {
        writeln!(out, "\n{critical} critical check(s) failed.")?;
    }
    Ok(())
}

fn write_json(
    out: &mut dyn Write,
    report: &CheckReport,
    file: Option<&PathBuf>,
    fixes: &[AppliedFix],
    dry_run: bool,
) -> Result<(), CliError> {
    let checks: Vec<_> = report
        .checks
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "passed": c.passed,
                "severity": c.severity,
                "message": c.message,
                "recommendation": c.recommendation,
                "why": c.why,
                "fixable": c.fix.is_some(),
            })
        })
        .collect();
    let recommendations: Vec<_> =
        report.failures().iter().map(|c| c.recommendation.clone().unwrap_or_else(|| c.message.clone())).collect();
    let fixes: Vec<_> = fixes
        .iter()
        .map(|f| json!({"key": f.key, "value": f.value, "previous": f.previous, "applied": !dry_run}))
        .collect();
    let document = json!({
        "schema_version": 1,
        "profile": report.profile.name(),
        "config_file": file.map(|p| p.display().to_string()),
        "score": report.score(),
        "max_score": 10,
        "passed": !report.has_critical_failure(),
        "checks": checks,
        "recommendations": recommendations,
        "fixes": fixes,
    });
    serde_json::to_writer_pretty(&mut *out, &document).map_err(|e| CliError::Output(e.into()))?;
    writeln!(out)?;
    Ok(())
}
