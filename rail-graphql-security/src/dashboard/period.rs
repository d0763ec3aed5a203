//! The period a dashboard page covers: a preset (`24h`, `7d`, …) or explicit `start`/`end`.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc};

/// A ready-made period ending now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// The last hour.
    LastHour,
    /// The last 24 hours (the default).
    LastDay,
    /// The last 7 days.
    LastWeek,
    /// The last 30 days.
    LastMonth,
    /// The last 90 days.
    LastQuarter,
}

impl Preset {
    /// Every preset, shortest first.
    pub const ALL: [Preset; 5] =
        [Preset::LastHour, Preset::LastDay, Preset::LastWeek, Preset::LastMonth, Preset::LastQuarter];

    /// The `preset` query value: `1h`, `24h`, `7d`, `30d`, `90d`.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::LastHour => "1h",
            Preset::LastDay => "24h",
            Preset::LastWeek => "7d",
            Preset::LastMonth => "30d",
            Preset::LastQuarter => "90d",
        }
    }

    /// How long the period is.
    pub fn duration(self) -> Duration {
        match self {
            Preset::LastHour => Duration::hours(1),
            Preset::LastDay => Duration::hours(24),
            Preset::LastWeek => Duration::days(7),
            Preset::LastMonth => Duration::days(30),
            Preset::LastQuarter => Duration::days(90),
        }
    }

    fn parse(value: &str) -> Result<Self, PeriodError> {
        Self::ALL.into_iter().find(|p| p.as_str() == value).ok_or_else(|| PeriodError::UnknownPreset(value.to_owned()))
    }
}

/// The period shown: `[start, end)` in UTC, and the preset it came from, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
    /// The preset, when the period is one.
    pub preset: Option<Preset>,
}

/// The period in the query string cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeriodError {
    /// Not one of the presets.
    #[error("unknown period preset `{0}`: use one of 1h, 24h, 7d, 30d, 90d")]
    UnknownPreset(String),
    /// A date that does not parse.
    #[error(
        "`{field}` is not a date: `{value}`; use RFC 3339 (2026-11-28T09:00:00Z), `YYYY-MM-DDTHH:MM` (UTC) or `YYYY-MM-DD`"
    )]
    BadDate {
        /// `start` or `end`.
        field: &'static str,
        /// What was given.
        value: String,
    },
    /// A date outside the years 1000 to 9999, the range every backend stores (the formats
    /// accept signed and longer years).
    #[error("`{field}` is out of range: `{value}`; use a year from 1000 to 9999")]
    OutOfRange {
        /// `start` or `end`.
        field: &'static str,
        /// What was given.
        value: String,
    },
    /// `end` is not after `start`.
    #[error("the period ends ({end}) before or when it starts ({start}); swap the two dates")]
    Inverted {
        /// The start given.
        start: DateTime<Utc>,
        /// The end given.
        end: DateTime<Utc>,
    },
}

impl Period {
    /// The period of a preset ending at `now`.
    pub fn preset(preset: Preset, now: DateTime<Utc>) -> Self {
        Period { start: now - preset.duration(), end: now, preset: Some(preset) }
    }

    /// The period of the query parameters `preset`, `start` and `end` (empty values count as
    /// absent). `start`/`end` win over `preset`; a missing `end` is `now`, a missing `start` is
    /// the preset's length (default 24 h) before the end.
    pub fn from_query(
        preset: Option<&str>,
        start: Option<&str>,
        end: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Self, PeriodError> {
        fn nonempty(v: Option<&str>) -> Option<&str> {
            v.map(str::trim).filter(|v| !v.is_empty())
        }
        let preset = nonempty(preset).map(Preset::parse).transpose()?;
        let start = nonempty(start).map(|v| parse_date("start", v)).transpose()?;
        let end = nonempty(end).map(|v| parse_date("end", v)).transpose()?;
        if start.is_none() && end.is_none() {
            return Ok(Self::preset(preset.unwrap_or(Preset::LastDay), now));
        }
        let end = end.unwrap_or(now);
        // Checked: chrono takes years up to ±262,143, and a preset's length subtracted from
        // the smallest overflowed (a panic in the request).
        let out_of_range = |field, date: DateTime<Utc>| PeriodError::OutOfRange { field, value: date.to_rfc3339() };
        let start = match start {
            Some(start) => start,
            None => end
                .checked_sub_signed(preset.unwrap_or(Preset::LastDay).duration())
                .ok_or_else(|| out_of_range("end", end))?,
        };
        for (field, date) in [("start", start), ("end", end)] {
            if !(1000..=9999).contains(&date.year()) {
                return Err(out_of_range(field, date));
            }
        }
        if end <= start {
            return Err(PeriodError::Inverted { start, end });
        }
        Ok(Period { start, end, preset: None })
    }
}

fn parse_date(field: &'static str, value: &str) -> Result<DateTime<Utc>, PeriodError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(value, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        && let Some(t) = day.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    Err(PeriodError::BadDate { field, value: value.chars().take(64).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-28T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn years_outside_1000_to_9999_are_refused_not_overflowed() {
        for (start, end) in [
            (None, Some("-262143-01-01")),
            (None, Some("+262142-12-31")),
            (Some("0999-12-31"), None),
            (Some("+10000-01-01"), None),
            (None, Some("1000-01-02")),
        ] {
            let error = Period::from_query(Some("90d"), start, end, now()).unwrap_err();
            assert!(matches!(error, PeriodError::OutOfRange { .. }), "{start:?} {end:?}: {error}");
            assert!(error.to_string().contains("use a year from 1000 to 9999"), "{error}");
        }
        let p = Period::from_query(Some("90d"), None, Some("1000-04-01"), now()).unwrap();
        assert_eq!((p.start.year(), p.end.year()), (1000, 1000));
    }

    #[test]
    fn default_is_the_last_day() {
        let p = Period::from_query(None, Some(""), None, now()).unwrap();
        assert_eq!((p.start, p.end, p.preset), (now() - Duration::hours(24), now(), Some(Preset::LastDay)));
    }

    #[test]
    fn explicit_dates_win_and_accept_the_usual_forms() {
        let p = Period::from_query(Some("7d"), Some("2026-11-01"), Some("2026-11-02T06:30"), now()).unwrap();
        assert_eq!(p.start, "2026-11-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(p.end, "2026-11-02T06:30:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(p.preset, None);
        let p = Period::from_query(Some("7d"), None, Some("2026-11-20T00:00:00+01:00"), now()).unwrap();
        assert_eq!(p.end - p.start, Duration::days(7));
    }

    #[test]
    fn bad_input_says_what_to_do() {
        let e = Period::from_query(Some("1y"), None, None, now()).unwrap_err();
        assert!(e.to_string().contains("use one of 1h, 24h"), "{e}");
        let e = Period::from_query(None, Some("yesterday"), None, now()).unwrap_err();
        assert!(e.to_string().contains("`start` is not a date"), "{e}");
        let e = Period::from_query(None, Some("2026-11-02"), Some("2026-11-01"), now()).unwrap_err();
        assert!(matches!(e, PeriodError::Inverted { .. }), "{e}");
    }
}
