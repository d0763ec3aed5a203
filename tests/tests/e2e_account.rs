//! Issue 17: the account page's rules over real HTTP against the demo: the session cookie's
//! attributes, CSRF refusals, a fresh CSP nonce per response on the one inline script, hostile
//! text from the audit log escaped, the API token never handed to page scripts, the fixed list
//! of script operations, and the forms (TOTP enrolment with its QR image, backup codes shown
//! once, passkey rename and removal).

mod e2e;

use e2e::{Server, test_config};
use integration_tests::authenticator::SoftAuthenticator;
use integration_tests::{Backend, TestDb};
use reqwest::header;
use serde_json::{Value, json};

const HOSTILE_AGENT: &str = "<script>alert(1)</script>";
const ORIGIN: &str = "http://localhost:8000";

struct Page {
    server: Server,
    base: String,
    host: String,
    http: reqwest::Client,
}

impl Page {
    async fn start(t: &TestDb) -> Page {
        let server = Server::start(&test_config(&t.url), t.db.clone()).await;
        let base = server.url.trim_end_matches("/graphql").to_owned();
        let host = base.trim_start_matches("http://").to_owned();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Page { server, base, host, http }
    }

    async fn get(&self, cookie: Option<&str>) -> (header::HeaderMap, String) {
        let mut request = self.http.get(format!("{}/account", self.base));
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        (headers, response.text().await.unwrap())
    }

    /// A form post from this origin (or from `origin`).
    async fn action(&self, cookie: Option<&str>, origin: Option<&str>, form: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/account/action", self.base))
            .header(header::USER_AGENT, HOSTILE_AGENT)
            .form(form);
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    async fn api(&self, cookie: Option<&str>, body: Value) -> (Option<String>, Value) {
        let mut request = self
            .http
            .post(format!("{}/account/api", self.base))
            .header(header::ORIGIN, format!("http://{}", self.host))
            .json(&body);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let response = request.send().await.unwrap();
        let cookie = session_cookie(&response);
        (cookie, response.json().await.unwrap())
    }

    fn own_origin(&self) -> String {
        format!("http://{}", self.host)
    }

    async fn sign_in(&self) -> String {
        let response = self
            .action(
                None,
                Some(&self.own_origin()),
                &[("op", "login"), ("username", "demo"), ("password", demo::DEFAULT_DEMO_PASSWORD)],
            )
            .await;
        assert_eq!(response.status(), 303, "{:?}", response.text().await);
        session_cookie(&response).expect("a session cookie")
    }
}

/// `rail_account=<token>` from a response's `Set-Cookie`, checking its attributes.
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    let set = response.headers().get_all(header::SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        v.starts_with("rail_account=").then(|| v.to_owned())
    })?;
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/account"), "{set}");
    Some(set.split(';').next().unwrap().to_owned()).filter(|c| c != "rail_account=")
}

fn nonce(headers: &header::HeaderMap) -> String {
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let start = csp.find("script-src 'nonce-").expect("a script nonce") + "script-src 'nonce-".len();
    csp[start..].split('\'').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_keeps_the_dashboards_rules() {
    let t = TestDb::new(Backend::Sqlite).await.unwrap();
    let page = Page::start(&t).await;

    // Anonymous: the sign-in forms, a per-response nonce on the one script and style.
    let (headers, body) = page.get(None).await;
    assert!(body.contains("data-testid=\"sign-in\""), "{body}");
    let first = nonce(&headers);
    assert_eq!(body.matches("<script").count(), 1);
    assert!(body.contains(&format!("<script nonce=\"{first}\">")), "the script carries the nonce");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let (headers, _) = page.get(None).await;
    assert_ne!(nonce(&headers), first, "a fresh nonce per response");

    // CSRF: a form post without Origin, or from another site, is refused; nothing signs in.
    let form = [("op", "login"), ("username", "demo"), ("password", demo::DEFAULT_DEMO_PASSWORD)];
    for origin in [None, Some("http://evil.test"), Some("null")] {
        let response = page.action(None, origin, &form).await;
        assert_eq!(response.status(), 403, "origin {origin:?}");
        assert!(session_cookie(&response).is_none());
    }
    let api = page
        .http
        .post(format!("{}/account/api", page.base))
        .header(header::ORIGIN, "http://evil.test")
        .json(&json!({ "op": "begin-sign-in" }))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 403);

    // Signed in (with a hostile user agent, which the audit log records).
    let cookie = page.sign_in().await;
    page.server.demo.logger.flush().await.unwrap();
    let (_, body) = page.get(Some(&cookie)).await;
    assert!(body.contains("Signed in as <strong>demo</strong>"), "{body}");
    assert!(!body.contains(HOSTILE_AGENT), "the user agent is escaped");
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the event list shows it escaped");
    assert!(body.contains("login_success"));

    // The fixed list of script operations; no token is handed to the script.
    let (_, unknown) = page.api(Some(&cookie), json!({ "op": "mfaDevices" })).await;
    assert_eq!(unknown["ok"], false);
    let (_, anonymous) = page.api(None, json!({ "op": "begin-registration" })).await;
    assert_eq!(anonymous["code"], "UNAUTHENTICATED", "{anonymous}");
    let mut key = SoftAuthenticator::new();
    let (_, begun) = page.api(Some(&cookie), json!({ "op": "begin-registration" })).await;
    let credential = key.register(&begun["result"]["options"], ORIGIN).to_string();
    let ceremony = begun["result"]["ceremonyId"].clone();
    let (_, done) = page
        .api(
            Some(&cookie),
            json!({ "op": "finish-registration", "ceremonyId": ceremony, "credential": credential, "name": "Key" }),
        )
        .await;
    assert_eq!(done["result"]["backupCodes"].as_array().map(Vec::len), Some(10), "{done}");
    let (_, begun) = page.api(None, json!({ "op": "begin-sign-in" })).await;
    let assertion = key.authenticate(&begun["result"]["options"], ORIGIN).to_string();
    let (passkey_cookie, signed_in) = page
        .api(
            None,
            json!({ "op": "finish-sign-in", "ceremonyId": begun["result"]["ceremonyId"], "credential": assertion }),
        )
        .await;
    assert_eq!(signed_in["signedIn"], true, "{signed_in}");
    assert!(!signed_in.to_string().contains("eyJ"), "no token in the script's answer: {signed_in}");
    let passkey_cookie = passkey_cookie.expect("the session is the cookie");
    let (_, note) = page.api(Some(&passkey_cookie), json!({ "op": "secret-note" })).await;
    assert_eq!(note["result"], demo::schema::SECRET_NOTE);

    // The password alone now leads to the second factor, passed with the passkey.
    let pending = page.sign_in().await;
    let (_, body) = page.get(Some(&pending)).await;
    assert!(body.contains("data-testid=\"second-factor\"") && body.contains("id=\"passkey-verify\""), "{body}");
    assert!(body.contains("value=\"backup_code\""), "backup codes are offered too");
    let (_, begun) = page.api(Some(&pending), json!({ "op": "begin-authentication" })).await;
    let assertion = key.authenticate(&begun["result"]["options"], ORIGIN).to_string();
    let (verified_cookie, verified) = page
        .api(
            Some(&pending),
            json!({ "op": "verify", "ceremonyId": begun["result"]["ceremonyId"], "credential": assertion }),
        )
        .await;
    assert_eq!(verified["signedIn"], true, "{verified}");
    page.server.demo.logger.flush().await.unwrap();
    let (_, body) = page.get(verified_cookie.as_deref()).await;
    assert!(body.contains("Signed in as <strong>demo</strong>"), "{body}");
    assert!(body.contains("mfa_success (passkey)") && body.contains("mfa_enabled (passkey)"), "events name the method");

    // The forms: rename, TOTP enrolment (QR image and secret, once), backup codes, removal.
    let (_, body) = page.get(Some(&passkey_cookie)).await;
    let id = body.split("name=\"id\" value=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_owned();
    let own = page.own_origin();
    let renamed = page
        .action(Some(&passkey_cookie), Some(&own), &[("op", "passkey-rename"), ("id", &id), ("name", "<b>Work</b>")])
        .await;
    let renamed = renamed.text().await.unwrap();
    assert!(renamed.contains("&lt;b&gt;Work&lt;/b&gt;") && !renamed.contains("<b>Work</b>"), "escaped name");
    let totp = page.action(Some(&passkey_cookie), Some(&own), &[("op", "totp-setup")]).await;
    assert_eq!(totp.headers()[header::CACHE_CONTROL], "no-store");
    let totp = totp.text().await.unwrap();
    assert!(totp.contains("src=\"data:image/png;base64,"), "the QR code as an image");
    assert!(totp.contains("data-testid=\"totp-secret\""));
    let codes = page.action(Some(&passkey_cookie), Some(&own), &[("op", "backup-codes")]).await.text().await.unwrap();
    assert_eq!(codes.matches("<li><code>").count(), 10, "ten new codes shown once");
    let (_, again) = page.get(Some(&passkey_cookie)).await;
    assert!(!again.contains("<li><code>"), "and not again");
    let removed = page.action(Some(&passkey_cookie), Some(&own), &[("op", "passkey-remove"), ("id", &id)]).await;
    assert!(removed.text().await.unwrap().contains("Passkey removed."));

    // Sign out ends the session on the server too.
    let out = page.action(Some(&passkey_cookie), Some(&own), &[("op", "logout")]).await;
    assert_eq!(out.status(), 303);
    let (_, body) = page.get(Some(&passkey_cookie)).await;
    assert!(body.contains("data-testid=\"sign-in\""), "the revoked session is gone");
    t.cleanup().await;
}
