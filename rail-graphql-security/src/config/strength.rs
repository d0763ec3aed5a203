//! Whether secret material looks random: one rule set for the stack build (production), the
//! `check` command and applications' own secrets (e.g. seeded passwords).

use std::collections::BTreeSet;

/// How to make a good secret, quoted by every refusal.
pub const GENERATE_HINT: &str = "generate one with `openssl rand -base64 48`";

/// Values documented as placeholders in examples (compared case-insensitively).
const PLACEHOLDERS: &[&str] = &[
    "changeme",
    "change-me",
    "change_me",
    "password",
    "secret",
    "your-secret-key",
    "your_secret_key",
    "secret-key",
    "secret_key",
    "default",
    "example",
    "test",
    "admin",
    "letmein",
];

/// Why a secret was refused: a one-line reason that never quotes the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {GENERATE_HINT}")]
pub struct WeakSecret {
    /// What is wrong (e.g. "repeats a short pattern").
    pub reason: String,
}

/// Refuses low-entropy material: a known placeholder, fewer than 8 distinct symbols (or
/// fewer than a quarter of its length, up to 16), a run of 8 or more identical symbols, an
/// arithmetic sequence of 8 or more symbols (`abcdefgh`, `12345678`, `acegikmo`), or a
/// pattern repeated (`abcabcabc`: one period seen again for at least 8 symbols and twice its
/// length). The thresholds are set so that random keys are not refused: for 64 random
/// alphanumeric or base64 symbols the chance of any of these stretches is below one in 10^10
/// (a run of 8 is about 60 / 62^7), so `setup`'s generated keys always pass. The value is
/// never part of the error.
///
/// ```
/// use rail_graphql_security::config::secret_strength;
/// assert!(secret_strength(&"a".repeat(48)).is_err());
/// assert!(secret_strength("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL").is_err());
/// assert!(secret_strength(&"k3Xq".repeat(12)).is_err());
/// assert!(secret_strength("q8Vd2LmT7xRb1NwZ4cHsaaaaaaaa9GkP0yFj6EaU3oIt5MnBv").is_err());
/// assert!(secret_strength("q8Vd2LmT7xRb1NwZ4cHs9GkP0yFj6EaU3oIt5MnBv+/eY=Wh").is_ok());
/// assert!(!secret_strength("aaaa").unwrap_err().to_string().contains("aaaa"));
/// ```
pub fn secret_strength(value: &str) -> Result<(), WeakSecret> {
    let weak = |reason: &str| Err(WeakSecret { reason: reason.to_owned() });
    let chars: Vec<char> = value.trim().chars().collect();
    if chars.is_empty() {
        return weak("is empty");
    }
    let lower = value.trim().to_lowercase();
    if PLACEHOLDERS.contains(&lower.as_str()) {
        return weak("is a documented placeholder");
    }
    let distinct = chars.iter().collect::<BTreeSet<_>>().len();
    let wanted = (chars.len() / 4).clamp(8, 16);
    if distinct < wanted {
        return weak(&format!("uses only {distinct} distinct symbols (at least {wanted} expected)"));
    }
    if longest_run(&chars, 1) >= STRETCH - 1 {
        return weak("repeats one symbol 8 or more times in a row");
    }
    if longest_sequence(&chars) >= STRETCH {
        return weak("contains a sequence like `abcdefgh` or `12345678`");
    }
    for period in 2..=chars.len() / 2 {
        // One period seen again for twice its length and at least `STRETCH` symbols (or the
        // whole value as repeats).
        let run = longest_run(&chars, period);
        if run >= (2 * period).max(STRETCH) || (run + period == chars.len() && chars.len() >= 2 * period) {
            return weak("repeats a short pattern");
        }
    }
    Ok(())
}

/// How long a run, sequence or repeated pattern must be to be refused: long enough that a
/// random key almost never holds one (see [`secret_strength`]).
const STRETCH: usize = 8;

/// The longest stretch of positions `i` with `chars[i] == chars[i + period]`.
fn longest_run(chars: &[char], period: usize) -> usize {
    let (mut best, mut current) = (0, 0);
    for i in period..chars.len() {
        if chars[i] == chars[i - period] {
            current += 1;
            best = best.max(current);
        } else {
            current = 0;
        }
    }
    best
}

/// The longest stretch of symbols with one constant, non-zero step (`abcde`: 5, `97531`: 5).
fn longest_sequence(chars: &[char]) -> usize {
    let (mut best, mut current, mut step) = (1, 1, 0i64);
    for pair in chars.windows(2) {
        let d = i64::from(u32::from(pair[1])) - i64::from(u32::from(pair[0]));
        if d != 0 && d.abs() <= 2 && d == step {
            current += 1;
        } else {
            current = if d != 0 && d.abs() <= 2 { 2 } else { 1 };
            step = d;
        }
        best = best.max(current);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_pass() {
        use base64::Engine;
        use rand::{RngCore, SeedableRng};
        // Seeded: the same 20,000 keys every run (no flaky test).
        let mut rng = rand::rngs::StdRng::seed_from_u64(14);
        for _ in 0..20_000 {
            let mut bytes = [0u8; 48];
            rng.fill_bytes(&mut bytes);
            let key = base64::engine::general_purpose::STANDARD.encode(bytes);
            assert!(secret_strength(&key).is_ok(), "a random key was refused");
        }
    }

    #[test]
    fn patterned_material_is_refused_with_a_reason() {
        for (value, reason) in [
            ("a".repeat(48), "distinct"),
            ("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL".to_owned(), "sequence"),
            ("Zyxwvutsrq0987654321-ZYXWVUTSRQ-qwertyQWERTY-mnop".to_owned(), "sequence"),
            ("k3Xq9!LmPa7Rz2Tw".repeat(3), "pattern"),
            ("9f8e7d6c5b4a3928-xxxxxxxxx-Qp1Lm2Nb3Vc4Xz5Ka6Sd7Fg8Hj".to_owned(), "in a row"),
            ("q8Vd2LmT7x-acegikmo-Rb1NwZ4cHs9GkP0yFj6EaU3oIt5MnB".to_owned(), "sequence"),
            ("CHANGEME".to_owned(), "placeholder"),
        ] {
            let err = secret_strength(&value).unwrap_err().to_string();
            assert!(err.contains(reason), "{err}");
            assert!(err.contains("openssl rand -base64 48"), "{err}");
            assert!(!err.contains(&value), "the value is never quoted");
        }
    }
}
