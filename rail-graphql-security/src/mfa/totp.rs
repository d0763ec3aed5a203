use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use qrcode::{Color, QrCode};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Totp};

use super::config::TotpAlgorithm;
use super::error::MfaError;

/// The most digits a code can have: HOTP truncates to 31 bits, and `10^10` does not fit the
/// `u32` totp-rs reduces them in.
const MAX_DIGITS: u8 = 9;

fn to_totp_rs(algorithm: TotpAlgorithm) -> Algorithm {
    match algorithm {
        TotpAlgorithm::Sha1 => Algorithm::SHA1,
        TotpAlgorithm::Sha256 => Algorithm::SHA256,
        TotpAlgorithm::Sha512 => Algorithm::SHA512,
    }
}

fn totp(algorithm: TotpAlgorithm, digits: usize, period: u64, secret: &[u8]) -> Totp {
    // `build_noncompliant`: the bounds are checked where the settings are read
    // (`MfaConfig::validate`), and RFC 6238's test vectors use secrets shorter than the
    // 128 bits `build` insists on. Out-of-range values are clamped, so no input panics.
    Builder::new()
        .with_algorithm(to_totp_rs(algorithm))
        .with_digits(u8::try_from(digits).unwrap_or(MAX_DIGITS).clamp(1, MAX_DIGITS))
        .with_skew(0)
        .with_step_duration(period.max(1))
        .with_secret(secret)
        .build_noncompliant()
}

/// The TOTP code of `secret` at `unix_time` (seconds). `digits` is at most 9 and `period` at
/// least 1; values outside are clamped.
///
/// ```
/// use rail_graphql_security::mfa::{TotpAlgorithm, totp_code_at};
/// // RFC 6238 Appendix B, SHA1, T = 59.
/// assert_eq!(totp_code_at(TotpAlgorithm::Sha1, 8, 30, b"12345678901234567890", 59), "94287082");
/// ```
pub fn totp_code_at(algorithm: TotpAlgorithm, digits: usize, period: u64, secret: &[u8], unix_time: u64) -> String {
    totp(algorithm, digits, period, secret).generate(unix_time).to_string()
}

/// The time step within `skew` steps of `unix_time` whose code is `code`, compared in
/// constant time; every candidate is computed so timing does not tell which step matched.
pub(crate) fn matching_step(
    algorithm: TotpAlgorithm,
    digits: usize,
    period: u64,
    skew: u8,
    secret: &[u8],
    code: &str,
    unix_time: u64,
) -> Option<u64> {
    let totp = totp(algorithm, digits, period, secret);
    let period = period.max(1);
    let current = unix_time / period;
    let mut found = None;
    for step in current.saturating_sub(u64::from(skew))..=current + u64::from(skew) {
        let candidate = totp.generate(step * period).to_string();
        if bool::from(candidate.as_bytes().ct_eq(code.as_bytes())) {
            found = Some(step);
        }
    }
    found
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `otpauth://totp/Issuer:account?secret=…&issuer=…` URI of the Key URI format, with the
/// secret in base32 without padding. Neither `issuer` nor `account` may contain `:`.
///
/// ```
/// use rail_graphql_security::mfa::{TotpAlgorithm, otpauth_uri};
/// let uri = otpauth_uri("ACME Co", "alice@example.com", "JBSWY3DPEHPK3PXP", TotpAlgorithm::Sha1, 6, 30)?;
/// assert_eq!(
///     uri,
///     "otpauth://totp/ACME%20Co:alice%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"
/// );
/// # Ok::<(), rail_graphql_security::mfa::MfaError>(())
/// ```
pub fn otpauth_uri(
    issuer: &str,
    account: &str,
    secret_base32: &str,
    algorithm: TotpAlgorithm,
    digits: usize,
    period: u64,
) -> Result<String, MfaError> {
    if issuer.is_empty() || issuer.contains(':') {
        return Err(MfaError::InvalidInput("the TOTP issuer must be non-empty and contain no ':'".to_owned()));
    }
    if account.is_empty() || account.contains(':') {
        return Err(MfaError::InvalidInput(
            "the TOTP account name must be non-empty and contain no ':' (use the user name or e-mail)".to_owned(),
        ));
    }
    let secret = secret_base32.trim_end_matches('=');
    Ok(format!(
        "otpauth://totp/{issuer_enc}:{account}?secret={secret}&issuer={issuer_enc}&algorithm={alg}&digits={digits}&period={period}",
        issuer_enc = percent_encode(issuer),
        account = percent_encode(account),
        alg = algorithm.uri_name(),
    ))
}

fn qr(data: &str) -> Result<QrCode, MfaError> {
    QrCode::new(data.as_bytes()).map_err(|e| MfaError::QrCode(e.to_string()))
}

/// The QR code of `data` as an SVG document.
pub fn qr_svg(data: &str) -> Result<String, MfaError> {
    Ok(qr(data)?.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build())
}

/// The QR code of `data` as a `data:image/png;base64,…` URL (the original `qr_code_url`):
/// 8 pixels per module, a 4-module quiet zone, 8-bit greyscale.
pub fn qr_png_data_url(data: &str) -> Result<String, MfaError> {
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let code = qr(data)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut png_bytes = Vec::new();
    {
        let side = u32::try_from(side).map_err(|_| MfaError::QrCode("image too large".to_owned()))?;
        let mut encoder = png::Encoder::new(&mut png_bytes, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| MfaError::QrCode(e.to_string()))?;
        writer.write_image_data(&pixels).map_err(|e| MfaError::QrCode(e.to_string()))?;
    }
    Ok(format!("data:image/png;base64,{}", STANDARD.encode(png_bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_colons_and_matches_steps() {
        assert!(otpauth_uri("a:b", "x", "AA", TotpAlgorithm::Sha1, 6, 30).is_err());
        assert!(otpauth_uri("a", "x:y", "AA", TotpAlgorithm::Sha1, 6, 30).is_err());
        let secret = b"12345678901234567890";
        let code = totp_code_at(TotpAlgorithm::Sha1, 6, 30, secret, 90);
        assert_eq!(matching_step(TotpAlgorithm::Sha1, 6, 30, 1, secret, &code, 100), Some(3));
        assert_eq!(matching_step(TotpAlgorithm::Sha1, 6, 30, 1, secret, &code, 130), Some(3));
        assert_eq!(matching_step(TotpAlgorithm::Sha1, 6, 30, 1, secret, &code, 150), None);
        assert_eq!(matching_step(TotpAlgorithm::Sha1, 6, 30, 0, secret, &code, 130), None);
    }
}
