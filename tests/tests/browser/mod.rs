//! A W3C WebDriver client for the browser tests: chromedriver driving Debian's headless
//! Chromium, the few endpoints the tests use over reqwest (which the suite already has; a client
//! crate would add a second HTTP stack), and the WebAuthn extension's virtual authenticator.
#![allow(dead_code, unreachable_pub, reason = "each test binary uses a different subset")]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The key under which WebDriver returns element references.
pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub fn binary(var: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default));
    path.is_file().then_some(path)
}

/// Kills chromedriver (and with it the browser it started) however the test ends.
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Session {
    http: reqwest::Client,
    url: String,
}

impl Session {
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| format!("chromedriver: {e}"))?;
        let status = response.status();
        let value: Value = response.json().await.map_err(|e| format!("chromedriver reply: {e}"))?;
        if status.is_success() { Ok(value["value"].clone()) } else { Err(format!("{path}: {status} {value}")) }
    }

    pub async fn get(&self, path: &str) -> Result<Value, String> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await.expect("navigate");
    }

    /// The element matching `css`, waiting up to 10 s for it to appear.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.post("/element", json!({ "using": "css selector", "value": css })).await {
                Ok(found) => {
                    return found[ELEMENT].as_str().unwrap_or_else(|| panic!("element reply {found}")).to_owned();
                }
                Err(error) if Instant::now() > deadline => panic!("no element {css}: {error}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.get(&format!("/element/{id}/text")).await.expect("text").as_str().unwrap_or_default().to_owned()
    }

    pub async fn attribute(&self, css: &str, name: &str) -> String {
        let id = self.find(css).await;
        let value = self.get(&format!("/element/{id}/attribute/{name}")).await.expect("attribute");
        value.as_str().unwrap_or_default().to_owned()
    }

    pub async fn number(&self, testid: &str) -> u64 {
        let text = self.text(&format!("[data-testid=\"{testid}\"]")).await;
        text.trim().parse().unwrap_or_else(|e| panic!("{testid} shows {text:?}: {e}"))
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/value"), json!({ "text": text })).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/click"), json!({})).await.expect("click");
    }

    pub async fn script(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] })).await.expect("script")
    }
}

pub async fn start_driver(chromium: &Path, chromedriver: &Path) -> (Driver, Session) {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
    let driver = Driver(child);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = http.get(format!("{base}/status")).send().await.ok();
        if let Some(response) = ready
            && response.json::<Value>().await.is_ok_and(|v| v["value"]["ready"] == true)
        {
            break;
        }
        assert!(Instant::now() < deadline, "chromedriver did not become ready on port {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let capabilities = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium.to_string_lossy(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1760", "--hide-scrollbars", "--force-device-scale-factor=1"],
        },
    } } });
    let created: Value = http
        .post(format!("{base}/session"))
        .json(&capabilities)
        .send()
        .await
        .expect("create session")
        .json()
        .await
        .expect("session reply");
    let id = created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {created}"));
    (driver, Session { http, url: format!("{base}/session/{id}") })
}

/// The Chromium and chromedriver binaries, or `None` after saying why the test is skipped
/// (a failure under `RAIL_TEST_REQUIRE_BACKENDS=1`, as in CI).
pub fn browser_binaries(test: &str) -> Option<(PathBuf, PathBuf)> {
    match (binary("CHROMIUM", "/usr/bin/chromium"), binary("CHROMEDRIVER", "/usr/bin/chromedriver")) {
        (Some(chromium), Some(chromedriver)) => Some((chromium, chromedriver)),
        _ => {
            let hint =
                "install them with `apt-get install -y chromium chromium-driver` (or set CHROMIUM / CHROMEDRIVER)";
            if std::env::var("RAIL_TEST_REQUIRE_BACKENDS").is_ok_and(|v| v == "1") {
                panic!("chromium or chromedriver is missing but RAIL_TEST_REQUIRE_BACKENDS=1: {hint}");
            }
            eprintln!("note: the Chromium {test} test was SKIPPED (it passes without running): {hint}");
            None
        }
    }
}

impl Session {
    /// A screenshot of the page, checked to be a PNG; written to the workspace path in
    /// `env_var` when that variable is set.
    pub async fn screenshot(&self, env_var: &str) -> Vec<u8> {
        let png = self.get("/screenshot").await.expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD.decode(png.as_str().expect("base64")).expect("png");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        if let Some(target) = std::env::var_os(env_var) {
            // `Path::join` keeps an absolute path as it is.
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(target);
            std::fs::write(&path, &png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        }
        png
    }

    /// Adds a virtual authenticator (WebAuthn WebDriver extension): CTAP2 over the internal
    /// transport, with resident keys and user verification that always succeeds. Returns its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        let options = json!({
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
            "hasUserVerification": true, "isUserVerified": true, "automaticPresenceSimulation": true,
        });
        let id = self.post("/webauthn/authenticator", options).await.expect("add a virtual authenticator");
        id.as_str().unwrap_or_else(|| panic!("authenticator id {id}")).to_owned()
    }

    /// The credentials a virtual authenticator holds.
    pub async fn credentials(&self, authenticator: &str) -> Vec<Value> {
        let found =
            self.get(&format!("/webauthn/authenticator/{authenticator}/credentials")).await.expect("credentials");
        found.as_array().cloned().unwrap_or_default()
    }

    /// The text of the element matching `css` once it equals `expected` (up to 10 s).
    pub async fn wait_for_text(&self, css: &str, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.text(css).await;
            if text.trim() == expected {
                return;
            }
            assert!(Instant::now() < deadline, "{css} shows {text:?}, not {expected:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Empties a text field.
    pub async fn clear(&self, css: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/clear"), json!({})).await.expect("clear");
    }
}
