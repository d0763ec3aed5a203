//! One normalised form of a username, used wherever names are compared or counted.
//!
//! A database collation may be case- or accent-insensitive (MySQL's default `utf8mb4_0900_ai_ci`
//! finds `ADMIN` and `Ａｄｍｉｎ` for `admin`); if the login limiter counted the raw string, each
//! spelling would open its own bucket of attempts against the same account. [`normalize`] gives
//! the form the login limiter keys on and that applications compare and store names in.

use unicode_normalization::UnicodeNormalization;

/// The comparison form of a username: surrounding white space trimmed, then Unicode NFKC,
/// full case folding, and NFKC again (the `NFKC_Casefold`-style closure, so `ADMIN`, `Admin`,
/// `ａｄｍｉｎ` (full width) and `admın`-like compatibility forms of one name collapse; `ß`
/// folds to `ss`).
///
/// ```
/// use rail_graphql_security::username::normalize;
/// assert_eq!(normalize("  ADMIN "), "admin");
/// assert_eq!(normalize("ＡＤＭＩＮ"), "admin");
/// assert_eq!(normalize("Straße"), normalize("STRASSE"));
/// assert_eq!(normalize("e\u{301}"), normalize("\u{e9}"));
/// ```
pub fn normalize(username: &str) -> String {
    let composed: String = username.trim().nfkc().collect();
    let folded = caseless::default_case_fold_str(&composed);
    folded.nfkc().collect::<String>().trim().to_owned()
}

/// Whether two usernames are the same name in [`normalize`]'s form.
pub fn same(a: &str, b: &str) -> bool {
    normalize(a) == normalize(b)
}
