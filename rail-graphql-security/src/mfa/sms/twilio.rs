use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::{SmsError, SmsProvider, check_status, http_client, unreachable};

/// Twilio's Messages API: `POST /2010-04-01/Accounts/{sid}/Messages.json`, form-encoded
/// `To`, `From`, `Body`, HTTP basic auth with the account SID and auth token.
pub struct TwilioSmsProvider {
    account_sid: String,
    auth_token: SecretString,
    from: String,
    base_url: String,
    client: reqwest::Client,
}

impl fmt::Debug for TwilioSmsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSmsProvider")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"[redacted]")
            .field("from", &self.from)
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl TwilioSmsProvider {
    /// `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`, `TWILIO_PHONE_NUMBER`.
    pub fn new(account_sid: impl Into<String>, auth_token: impl Into<String>, from: impl Into<String>) -> Self {
        TwilioSmsProvider {
            account_sid: account_sid.into(),
            auth_token: SecretString::from(auth_token.into()),
            from: from.into(),
            base_url: "https://api.twilio.com".to_owned(),
            client: http_client(),
        }
    }

    /// Sends to another base URL (a test server or a regional edge).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_owned();
        self
    }
}

#[async_trait::async_trait]
impl SmsProvider for TwilioSmsProvider {
    fn name(&self) -> &'static str {
        "twilio"
    }

    async fn send(&self, to: &str, body: &str) -> Result<(), SmsError> {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.base_url, self.account_sid);
        let response = self
            .client
            .post(url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .form(&[("To", to), ("From", self.from.as_str()), ("Body", body)])
            .send()
            .await
            .map_err(unreachable)?;
        check_status(response).await
    }
}
