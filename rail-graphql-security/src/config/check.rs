//! The checks `security_check` scores: findings, severities, the score and safe fixes.

use serde::Serialize;

use super::profile::Profile;

/// How bad a failed check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Should be fixed.
    Warning,
    /// Must be fixed: `check` exits with a failure.
    Critical,
}

impl Severity {
    /// The weight of a check of this severity in the score.
    pub fn weight(self) -> u32 {
        match self {
            Severity::Info => 1,
            Severity::Warning => 2,
            Severity::Critical => 3,
        }
    }
}

/// A change `check --fix` may make to the config file: set `key` to `value`.
#[derive(Debug, Clone)]
pub struct Fix {
    /// The dotted key in the file.
    pub key: String,
    /// The new value.
    pub value: toml_edit::Value,
}

/// The outcome of one check.
#[derive(Debug, Clone)]
pub struct Check {
    /// Stable identifier, e.g. `deployment.https_redirect`.
    pub id: String,
    /// Whether the config passes.
    pub passed: bool,
    /// The checklist line, e.g. "HTTPS is enforced" / "HTTPS is not enforced".
    pub message: String,
    /// How bad a failure is.
    pub severity: Severity,
    /// What to do when it fails.
    pub recommendation: Option<String>,
    /// Why it matters and how to fix it (`--verbose`).
    pub why: Option<String>,
    /// A safe automatic fix (`--fix`).
    pub fix: Option<Fix>,
}

impl Check {
    /// A check result with severity [`Severity::Warning`].
    pub fn new(id: impl Into<String>, passed: bool, message: impl Into<String>) -> Self {
        Check {
            id: id.into(),
            passed,
            message: message.into(),
            severity: Severity::Warning,
            recommendation: None,
            why: None,
            fix: None,
        }
    }

    /// Sets the severity of a failure.
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Sets the recommendation shown when the check fails.
    pub fn recommend(mut self, recommendation: impl Into<String>) -> Self {
        self.recommendation = Some(recommendation.into());
        self
    }

    /// Sets the explanation shown by `--verbose`.
    pub fn why(mut self, why: impl Into<String>) -> Self {
        self.why = Some(why.into());
        self
    }

    /// Offers a safe fix: set `key` (from [`Checklist::key`]) to `value`.
    pub fn fix(mut self, key: String, value: impl Into<toml_edit::Value>) -> Self {
        self.fix = Some(Fix { key, value: value.into() });
        self
    }
}

/// Collects check results while a config is walked; generated `check` methods and
/// `#[security(check = ..)]` functions push into it.
///
/// ```
/// use rail_graphql_security::config::{Check, Checklist, Profile, Severity};
///
/// fn check_workers(workers: &u32, checks: &mut Checklist) {
///     let severity = checks.production_severity();
///     checks.push(
///         Check::new(checks.key(""), *workers >= 2, format!("{workers} workers"))
///             .severity(severity)
///             .recommend("Run at least 2 workers"),
///     );
/// }
/// let mut checks = Checklist::new(Profile::Production);
/// checks.with_key("workers", |checks| check_workers(&1, checks));
/// let report = checks.finish();
/// assert_eq!(report.checks[0].id, "workers");
/// assert!(report.has_critical_failure());
/// ```
#[derive(Debug)]
pub struct Checklist {
    profile: Profile,
    path: Vec<String>,
    checks: Vec<Check>,
}

impl Checklist {
    /// An empty checklist for `profile`.
    pub fn new(profile: Profile) -> Self {
        Checklist { profile, path: Vec::new(), checks: Vec::new() }
    }

    /// The profile being checked.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// [`Severity::Critical`] in production, [`Severity::Warning`] in staging, else
    /// [`Severity::Info`]: for hardening that only matters once deployed.
    pub fn production_severity(&self) -> Severity {
        match self.profile {
            Profile::Production => Severity::Critical,
            Profile::Staging => Severity::Warning,
            _ => Severity::Info,
        }
    }

    /// The dotted key of `relative` below the current position (the config may be nested in a
    /// user's own); `""` is the current key itself.
    pub fn key(&self, relative: &str) -> String {
        let mut parts: Vec<&str> = self.path.iter().map(String::as_str).collect();
        if !relative.is_empty() {
            parts.push(relative);
        }
        parts.join(".")
    }

    /// Runs `f` with `key` appended to the current key path.
    pub fn with_key(&mut self, key: &str, f: impl FnOnce(&mut Self)) {
        self.path.push(key.to_owned());
        f(self);
        self.path.pop();
    }

    /// Adds a result.
    pub fn push(&mut self, check: Check) {
        self.checks.push(check);
    }

    /// The report.
    pub fn finish(self) -> CheckReport {
        CheckReport { profile: self.profile, checks: self.checks }
    }
}

/// All check results for a config and profile.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The profile checked.
    pub profile: Profile,
    /// The results, in check order.
    pub checks: Vec<Check>,
}

impl CheckReport {
    /// The score out of 10: passed weight over total weight (critical 3, warning 2, info 1),
    /// rounded down; a report with a failed critical check never scores 10.
    pub fn score(&self) -> u32 {
        let total: u32 = self.checks.iter().map(|c| c.severity.weight()).sum();
        if total == 0 {
            return 10;
        }
        let passed: u32 = self.checks.iter().filter(|c| c.passed).map(|c| c.severity.weight()).sum();
        let score = passed * 10 / total;
        if score == 10 && self.checks.iter().any(|c| !c.passed) { 9 } else { score }
    }

    /// Whether a critical check failed (the command then exits with 1).
    pub fn has_critical_failure(&self) -> bool {
        self.checks.iter().any(|c| !c.passed && c.severity == Severity::Critical)
    }

    /// The failed checks, most severe first.
    pub fn failures(&self) -> Vec<&Check> {
        let mut failed: Vec<&Check> = self.checks.iter().filter(|c| !c.passed).collect();
        failed.sort_by_key(|c| std::cmp::Reverse(c.severity));
        failed
    }
}
