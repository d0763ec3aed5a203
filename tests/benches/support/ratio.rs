//! Interleaved ABBA rounds of a baseline and a candidate, and the ratio table a benchmark prints
//! at its end. On a shared machine whose load moves from one minute to the next, one variant
//! after the other moves the ratio; alternating short rounds (A B, B A, ...) and taking the
//! median of the per-round ratios does not.

/// One comparison: the medians of both sides and of the per-round ratios, and their scatter.
#[derive(Debug, Clone)]
pub(crate) struct Comparison {
    pub(crate) label: String,
    pub(crate) baseline_us: f64,
    pub(crate) candidate_us: f64,
    /// Median of the per-round ratios candidate ÷ baseline.
    pub(crate) ratio: f64,
    /// The 25th and 75th percentiles of the per-round ratios.
    pub(crate) ratio_iqr: (f64, f64),
    pub(crate) rounds: usize,
}

/// Runs `rounds` rounds, alternating which side goes first; each closure runs one batch and
/// returns its time per operation in µs.
pub(crate) fn interleave(
    label: impl Into<String>,
    rounds: usize,
    mut baseline: impl FnMut() -> f64,
    mut candidate: impl FnMut() -> f64,
) -> Comparison {
    let (mut base, mut cand, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds.max(1) {
        let (b, c) = if round % 2 == 0 {
            let b = baseline();
            (b, candidate())
        } else {
            let c = candidate();
            (baseline(), c)
        };
        base.push(b);
        cand.push(c);
        ratios.push(c / b);
    }
    ratios.sort_by(f64::total_cmp);
    let ratio_iqr = (percentile(&ratios, 0.25), percentile(&ratios, 0.75));
    Comparison {
        label: label.into(),
        baseline_us: median(base),
        candidate_us: median(cand),
        ratio: percentile(&ratios, 0.5),
        ratio_iqr,
        rounds: ratios.len(),
    }
}

/// The number of rounds: `RAIL_BENCH_ROUNDS` when set (a quick sanity run), else `default`.
pub(crate) fn rounds(default: usize) -> usize {
    std::env::var("RAIL_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    percentile(&values, 0.5)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Prints the comparisons as a Markdown table, with the target each ratio is held to.
pub(crate) fn print_table(title: &str, baseline: &str, candidate: &str, target: f64, rows: &[Comparison]) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| l.split(' ').next().map(str::to_owned));
    println!();
    println!("## {title}");
    println!(
        "({cores} cores, load average {}; ratio = {candidate} ÷ {baseline}, median of per-round ratios, IQR in brackets)",
        load.as_deref().unwrap_or("?")
    );
    println!();
    println!("| case | {baseline} | {candidate} | ratio | IQR | rounds | target |");
    println!("|---|---|---|---|---|---|---|");
    for c in rows {
        let verdict = if c.ratio <= target { "met" } else { "missed" };
        println!(
            "| {} | {:.1} µs | {:.1} µs | **{:.2}×** | {:.2}–{:.2}× | {} | ≤ {target:.2}× ({verdict}) |",
            c.label, c.baseline_us, c.candidate_us, c.ratio, c.ratio_iqr.0, c.ratio_iqr.1, c.rounds
        );
    }
}
