//! "Did you mean" suggestions for values the macros look up themselves (severities, MFA
//! methods, argument names). Unknown option names are darling's own errors, which suggest with
//! the same measure, so both kinds of suggestion agree.

/// The similarity above which a candidate is suggested: darling's threshold.
const THRESHOLD: f64 = 0.8;

/// `; did you mean `x`?` for the candidate most similar to `name` (Jaro-Winkler), or nothing
/// when none is close.
pub(crate) fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score > THRESHOLD)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| format!("; did you mean `{candidate}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_only_close_names() {
        assert_eq!(did_you_mean("hihg", ["low", "high"]), "; did you mean `high`?");
        assert_eq!(did_you_mean("usr", ["user", "ip", "user_and_ip", "global"]), "; did you mean `user`?");
        assert_eq!(did_you_mean("urgent", ["low", "high"]), "");
        assert_eq!(did_you_mean("x", []), "");
    }
}
