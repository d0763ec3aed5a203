use super::{SmsError, SmsProvider};

/// Development only: writes messages to standard output instead of sending them. A manager
/// with [`MfaConfig::production`](crate::mfa::MfaConfig::production) set refuses it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleSmsProvider;

#[async_trait::async_trait]
impl SmsProvider for ConsoleSmsProvider {
    fn name(&self) -> &'static str {
        "console"
    }
    fn is_development_only(&self) -> bool {
        true
    }
    async fn send(&self, to: &str, body: &str) -> Result<(), SmsError> {
        println!("[rail-graphql-security development SMS to {to}] {body}");
        Ok(())
    }
}
