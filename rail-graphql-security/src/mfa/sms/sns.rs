use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{SmsError, SmsProvider, check_status, http_client, unreachable};

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The `Authorization` header of an AWS Signature Version 4 request whose signed headers are
/// `content-type`, `host` and `x-amz-date` (what SNS `Publish` sends). `query` is the
/// canonical (sorted, encoded) query string, `amz_date` the `x-amz-date` value.
#[expect(clippy::too_many_arguments, reason = "the inputs of the SigV4 algorithm")]
pub(crate) fn sigv4_authorization(
    method: &str,
    host: &str,
    path: &str,
    query: &str,
    content_type: &str,
    payload: &[u8],
    at: DateTime<Utc>,
    region: &str,
    service: &str,
    access_key_id: &str,
    secret_access_key: &str,
) -> String {
    let amz_date = at.format("%Y%m%dT%H%M%SZ").to_string();
    let date = at.format("%Y%m%d").to_string();
    let signed_headers = "content-type;host;x-amz-date";
    let canonical_request = format!(
        "{method}\n{path}\n{query}\ncontent-type:{content_type}\nhost:{host}\nx-amz-date:{amz_date}\n\n{signed_headers}\n{}",
        hex::encode(Sha256::digest(payload))
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical_request.as_bytes())));
    let k_date = hmac(format!("AWS4{secret_access_key}").as_bytes(), &date);
    let k_region = hmac(&k_date, region);
    let k_service = hmac(&k_region, service);
    let k_signing = hmac(&k_service, "aws4_request");
    let signature = hex::encode(hmac(&k_signing, &string_to_sign));
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    )
}

/// AWS SNS `Publish` to a phone number, signed with SigV4 (hmac/sha2, no AWS SDK).
pub struct SnsSmsProvider {
    access_key_id: String,
    secret_access_key: SecretString,
    region: String,
    endpoint: String,
    client: reqwest::Client,
}

impl fmt::Debug for SnsSmsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnsSmsProvider")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl SnsSmsProvider {
    /// SNS in `region` (e.g. `eu-west-1`) with these credentials.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        region: impl Into<String>,
    ) -> Self {
        let region = region.into();
        SnsSmsProvider {
            access_key_id: access_key_id.into(),
            secret_access_key: SecretString::from(secret_access_key.into()),
            endpoint: format!("https://sns.{region}.amazonaws.com"),
            region,
            client: http_client(),
        }
    }

    /// Sends to another endpoint (a test server or a VPC endpoint), e.g. `http://127.0.0.1:9000`.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into().trim_end_matches('/').to_owned();
        self
    }
}

#[async_trait::async_trait]
impl SmsProvider for SnsSmsProvider {
    fn name(&self) -> &'static str {
        "aws_sns"
    }

    async fn send(&self, to: &str, body: &str) -> Result<(), SmsError> {
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let payload = serde_urlencoded::to_string([
            ("Action", "Publish"),
            ("Message", body),
            ("PhoneNumber", to),
            ("Version", "2010-03-31"),
        ])
        .map_err(|e| SmsError::Unreachable(format!("cannot encode the request: {e}")))?;
        let host = self.endpoint.split_once("://").map_or(self.endpoint.as_str(), |(_, rest)| rest);
        let host = host.split('/').next().unwrap_or(host);
        let now = Utc::now();
        let authorization = sigv4_authorization(
            "POST",
            host,
            "/",
            "",
            content_type,
            payload.as_bytes(),
            now,
            &self.region,
            "sns",
            &self.access_key_id,
            self.secret_access_key.expose_secret(),
        );
        let response = self
            .client
            .post(format!("{}/", self.endpoint))
            .header("content-type", content_type)
            .header("x-amz-date", now.format("%Y%m%dT%H%M%SZ").to_string())
            .header("authorization", authorization)
            .body(payload)
            .send()
            .await
            .map_err(unreachable)?;
        check_status(response).await
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::sigv4_authorization;

    #[test]
    fn the_aws_documentation_example_signs_alike() {
        // The IAM ListUsers example of the AWS SigV4 documentation.
        let auth = sigv4_authorization(
            "GET",
            "iam.amazonaws.com",
            "/",
            "Action=ListUsers&Version=2010-05-08",
            "application/x-www-form-urlencoded; charset=utf-8",
            b"",
            Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0).unwrap(),
            "us-east-1",
            "iam",
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }
}
