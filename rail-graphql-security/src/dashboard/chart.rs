//! Failed vs. successful logins over time as an inline SVG bar chart, rendered on the server
//! from the report's hourly aggregates (no JavaScript).

use chrono::{DateTime, Duration, DurationRound, Utc};
use maud::{Markup, html};

use super::period::Period;
use crate::audit::HourlyBucket;

/// At most this many bars per series: enough detail, readable at any period length.
const MAX_BUCKETS: u64 = 96;
const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 10.0;

/// One bar pair of the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bucket {
    pub(crate) start: DateTime<Utc>,
    pub(crate) failed: u64,
    pub(crate) succeeded: u64,
}

/// Folds the hourly counts into at most [`MAX_BUCKETS`] equal buckets covering the period
/// (hours, or whole days for long periods); empty buckets are kept so time reads left to right.
pub(crate) fn buckets(period: &Period, hourly: &[HourlyBucket]) -> (Duration, Vec<Bucket>) {
    let hours = (period.end - period.start).num_minutes().max(1).unsigned_abs().div_ceil(60) + 1;
    let needed = hours.div_ceil(MAX_BUCKETS).max(1);
    // Widths that divide a day keep buckets aligned to midnight UTC; longer ones are whole days.
    let width = [1, 2, 3, 4, 6, 12, 24].into_iter().find(|w| *w >= needed).unwrap_or_else(|| needed.div_ceil(24) * 24);
    let align = Duration::hours(width.min(24) as i64);
    let origin = period.start.duration_trunc(align).unwrap_or(period.start);
    let count = ((period.end - origin).num_minutes().max(1).unsigned_abs().div_ceil(60)).div_ceil(width) as usize;
    let width = width as i64;
    let step = Duration::hours(width);
    let mut out: Vec<Bucket> =
        (0..count).map(|i| Bucket { start: origin + step * i as i32, failed: 0, succeeded: 0 }).collect();
    for hour in hourly {
        let index = ((hour.hour - origin).num_hours() / width) as usize;
        if let Some(bucket) = out.get_mut(index.min(count.saturating_sub(1))) {
            bucket.failed += hour.failed_logins;
            bucket.succeeded += hour.successful_logins;
        }
    }
    (step, out)
}

/// The chart, with the totals it shows as `data-` attributes for tests and scrapers.
pub(crate) fn login_chart(period: &Period, hourly: &[HourlyBucket]) -> Markup {
    let (step, buckets) = buckets(period, hourly);
    let failed_total: u64 = buckets.iter().map(|b| b.failed).sum();
    let succeeded_total: u64 = buckets.iter().map(|b| b.succeeded).sum();
    let max = buckets.iter().map(|b| b.failed.max(b.succeeded)).max().unwrap_or(0).max(1);
    let plot_width = WIDTH - LEFT - 4.0;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let slot = plot_width / buckets.len() as f64;
    let bar = (slot * 0.4).max(0.5);
    let y = |v: u64| TOP + plot_height * (1.0 - v as f64 / max as f64);
    let label_format = if step >= Duration::days(1) { "%m-%d" } else { "%m-%d %H:%M" };
    let label_every = buckets.len().div_ceil(6).max(1);
    let bucket_label = if step >= Duration::days(1) {
        format!("{} day(s)", step.num_days())
    } else {
        format!("{} hour(s)", step.num_hours())
    };
    html! {
        svg.chart role="img" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } data-testid="login-chart"
            data-failed-total=(failed_total) data-success-total=(succeeded_total)
            data-buckets=(buckets.len()) aria-label={ "Failed and successful logins per " (bucket_label) } {
            title { "Failed and successful logins per " (bucket_label) }
            @for tick in [0, max / 2, max] {
                line.grid x1=(LEFT) x2=(WIDTH - 4.0) y1=(fmt(y(tick))) y2=(fmt(y(tick))) {}
                text.axis x=(LEFT - 6.0) y=(fmt(y(tick) + 4.0)) text-anchor="end" { (tick) }
            }
            @for (i, b) in buckets.iter().enumerate() {
                @let x = LEFT + slot * i as f64 + slot * 0.1;
                @let when = b.start.format("%Y-%m-%d %H:%M UTC").to_string();
                rect.bar-failed x=(fmt(x)) y=(fmt(y(b.failed))) width=(fmt(bar))
                    height=(fmt(TOP + plot_height - y(b.failed))) {
                    title { (when) ": " (b.failed) " failed" }
                }
                rect.bar-success x=(fmt(x + bar)) y=(fmt(y(b.succeeded))) width=(fmt(bar))
                    height=(fmt(TOP + plot_height - y(b.succeeded))) {
                    title { (when) ": " (b.succeeded) " successful" }
                }
                @if i % label_every == 0 {
                    text.axis x=(fmt(x)) y=(fmt(HEIGHT - 6.0)) { (b.start.format(label_format)) }
                }
            }
        }
        p.legend {
            span.key-failed {} "Failed logins (" span data-testid="chart-failed-total" { (failed_total) } ")"
            span.key-success {} "Successful logins (" span data-testid="chart-success-total" { (succeeded_total) } ")"
            " · one bar per " (bucket_label)
        }
    }
}

/// Coordinates with one decimal: shorter markup, no visible difference.
fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(at: &str, failed: u64, succeeded: u64) -> HourlyBucket {
        HourlyBucket {
            hour: at.parse().unwrap(),
            failed_logins: failed,
            successful_logins: succeeded,
            total: failed + succeeded,
        }
    }

    #[test]
    fn a_day_is_hourly_and_keeps_every_count() {
        let end: DateTime<Utc> = "2026-11-28T12:30:00Z".parse().unwrap();
        let period = Period { start: end - Duration::hours(24), end, preset: None };
        let hourly = [hour("2026-11-27T12:00:00Z", 3, 1), hour("2026-11-28T12:00:00Z", 2, 5)];
        let (step, b) = buckets(&period, &hourly);
        assert_eq!(step, Duration::hours(1));
        assert_eq!(b.len(), 25);
        assert_eq!((b[0].failed, b[0].succeeded), (3, 1));
        assert_eq!((b[24].failed, b[24].succeeded), (2, 5));
    }

    #[test]
    fn a_quarter_is_daily_and_never_more_than_the_maximum() {
        let end: DateTime<Utc> = "2026-11-28T00:00:00Z".parse().unwrap();
        let period = Period { start: end - Duration::days(90), end, preset: None };
        let hourly = [hour("2026-09-01T05:00:00Z", 4, 0), hour("2026-11-27T23:00:00Z", 0, 9)];
        let (step, b) = buckets(&period, &hourly);
        assert_eq!(step, Duration::days(1));
        assert!(b.len() as u64 <= MAX_BUCKETS);
        assert_eq!(b.iter().map(|b| b.failed).sum::<u64>(), 4);
        assert_eq!(b.iter().map(|b| b.succeeded).sum::<u64>(), 9);
    }
}
