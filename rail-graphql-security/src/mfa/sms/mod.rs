//! SMS delivery of one-time codes: the [`SmsProvider`] trait and its Twilio, AWS SNS and
//! development console implementations.

mod console;
#[cfg(feature = "sms")]
mod sns;
#[cfg(feature = "sms")]
mod twilio;

use std::fmt;

pub use self::console::ConsoleSmsProvider;
#[cfg(feature = "sms")]
#[cfg_attr(docsrs, doc(cfg(feature = "sms")))]
pub use self::sns::SnsSmsProvider;
#[cfg(feature = "sms")]
#[cfg_attr(docsrs, doc(cfg(feature = "sms")))]
pub use self::twilio::TwilioSmsProvider;

/// Why an SMS was not sent. Never contains the message (it holds a code).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmsError {
    /// The provider could not be reached.
    #[error("the SMS provider could not be reached: {0}")]
    Unreachable(String),
    /// The provider answered with an error.
    #[error("the SMS provider refused the message (HTTP {status}): {detail}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The provider's error text (truncated).
        detail: String,
    },
}

/// Sends a text message. Implementations must not log the body: it holds a one-time code.
#[async_trait::async_trait]
pub trait SmsProvider: Send + Sync + fmt::Debug {
    /// A short name for errors and audit events (`twilio`, `aws_sns`, `console`).
    fn name(&self) -> &'static str;
    /// True for providers that must not run in production (the console provider).
    fn is_development_only(&self) -> bool {
        false
    }
    /// Sends `body` to `to` (E.164).
    async fn send(&self, to: &str, body: &str) -> Result<(), SmsError>;
}

/// A shared provider (e.g. one the application also inspects) sends as the provider itself.
#[async_trait::async_trait]
impl<P: SmsProvider + ?Sized> SmsProvider for std::sync::Arc<P> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn is_development_only(&self) -> bool {
        (**self).is_development_only()
    }
    async fn send(&self, to: &str, body: &str) -> Result<(), SmsError> {
        (**self).send(to, body).await
    }
}

/// The HTTP client providers share: TLS via rustls, 10 s timeout.
#[cfg(feature = "sms")]
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Maps a transport error without the URL's query or anything sent.
#[cfg(feature = "sms")]
pub(crate) fn unreachable(e: reqwest::Error) -> SmsError {
    SmsError::Unreachable(e.without_url().to_string())
}

#[cfg(feature = "sms")]
pub(crate) async fn check_status(response: reqwest::Response) -> Result<(), SmsError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let detail: String = response.text().await.unwrap_or_default().chars().take(300).collect();
    Err(SmsError::Rejected { status: status.as_u16(), detail })
}
