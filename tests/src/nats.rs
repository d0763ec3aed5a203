//! NATS for the audit sink tests: the shared server (`RAIL_TEST_NATS_URL`, started by CI),
//! `nats-server` processes a test owns (to kill and restart), and a JetStream consumer that
//! reads a stream back.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;

const INSTALL_HINT: &str = "install it with `apt-get install -y nats-server` (or set NATS_SERVER to its path)";

fn required() -> bool {
    std::env::var("RAIL_TEST_REQUIRE_BACKENDS").is_ok_and(|v| v == "1")
}

/// The shared server's URL; `None` (the test prints why and passes) when
/// `RAIL_TEST_NATS_URL` is unset, a panic when it is unset and `RAIL_TEST_REQUIRE_BACKENDS=1`.
pub fn shared_nats_url(test: &str) -> Option<String> {
    match std::env::var("RAIL_TEST_NATS_URL") {
        Ok(url) => Some(url),
        Err(_) if required() => {
            panic!(
                "RAIL_TEST_NATS_URL is not set but RAIL_TEST_REQUIRE_BACKENDS=1: start `nats-server -js` and point it there"
            )
        }
        Err(_) => {
            eprintln!(
                "note: {test} was SKIPPED (it passes without running): set RAIL_TEST_NATS_URL to a `nats-server -js`"
            );
            None
        }
    }
}

/// The `nats-server` binary: `NATS_SERVER`, then `PATH`, then Debian's `/usr/sbin`.
pub fn nats_server_binary(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let candidates = std::env::var_os("NATS_SERVER")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::env::split_paths(&path).map(|d| d.join("nats-server")))
        .chain([PathBuf::from("/usr/sbin/nats-server")]);
    for candidate in candidates {
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    if required() {
        panic!("nats-server is missing but RAIL_TEST_REQUIRE_BACKENDS=1: {INSTALL_HINT}");
    }
    eprintln!("note: {test} was SKIPPED (it passes without running): {INSTALL_HINT}");
    None
}

/// A `nats-server -js` of one test's own, on its own port and store directory, which the test
/// can kill (SIGKILL) and restart with the same port and store.
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    port: u16,
    store: tempfile::TempDir,
    /// A config file passed with `-c` (its settings; the flags still set port and store).
    config: Option<PathBuf>,
    child: Option<Child>,
}

impl NatsServer {
    /// A server that is not running yet: a free port and an empty store.
    pub fn stopped(binary: PathBuf) -> NatsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        NatsServer { binary, port, store: tempfile::tempdir().unwrap(), config: None, child: None }
    }

    /// Starts a fresh server with these config-file settings (e.g. `max_payload: 4096`, which
    /// no command-line flag sets).
    pub async fn start_with_config(binary: PathBuf, settings: &str) -> NatsServer {
        let mut server = NatsServer::stopped(binary);
        let config = server.store.path().join("nats-server.conf");
        std::fs::write(&config, settings).unwrap();
        server.config = Some(config);
        server.run().await;
        server
    }

    /// Starts a fresh server.
    pub async fn start(binary: PathBuf) -> NatsServer {
        let mut server = NatsServer::stopped(binary);
        server.run().await;
        server
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the process (again) and waits until it accepts connections.
    pub async fn run(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let mut command = Command::new(&self.binary);
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        }
        let child = command
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "--store_dir"])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
        for _ in 0..200 {
            if let Ok(client) = async_nats::connect(self.url()).await {
                // JetStream answers once its store is recovered (raw: the client's typed
                // account info does not parse the reply of Debian's nats-server 2.9).
                if client.request("$JS.API.INFO", "".into()).await.is_ok() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nats-server on port {} did not come up within 10 s", self.port);
    }

    /// SIGKILL: no shutdown, no flush, whatever was in flight is cut.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One message as JetStream stored it.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// Its position in the stream.
    pub sequence: u64,
    /// The subject it was published on.
    pub subject: String,
    /// Its `Nats-Msg-Id` header.
    pub message_id: Option<String>,
    /// Its body, parsed.
    pub payload: serde_json::Value,
}

/// Every message of `stream`, in stream order, read the way a SIEM forwarder would: a
/// JetStream pull consumer fetching batches from the first message.
pub async fn read_stream(url: &str, stream: &str) -> Vec<StoredMessage> {
    let js = jetstream::new(async_nats::connect(url).await.unwrap());
    let mut stream = js.get_stream(stream).await.unwrap();
    let total = stream.info().await.unwrap().state.messages;
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            deliver_policy: consumer::DeliverPolicy::All,
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut read = Vec::new();
    let mut empty_fetches = 0;
    while (read.len() as u64) < total && empty_fetches < 20 {
        let mut batch =
            consumer.fetch().max_messages(1000).expires(Duration::from_millis(500)).messages().await.unwrap();
        let before = read.len();
        while let Some(message) = batch.next().await {
            let message = message.unwrap();
            read.push(StoredMessage {
                sequence: message.info().unwrap().stream_sequence,
                subject: message.subject.to_string(),
                message_id: message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).map(|v| v.to_string()),
                payload: serde_json::from_slice(&message.payload).unwrap(),
            });
        }
        empty_fetches = if read.len() == before { empty_fetches + 1 } else { 0 };
    }
    assert_eq!(read.len() as u64, total, "the consumer read every stored message");
    read
}

/// How many messages `stream` holds (0 while it does not exist or the server is down).
pub async fn stream_len(url: &str, stream: &str) -> u64 {
    let Ok(client) = async_nats::connect(url).await else { return 0 };
    let Ok(mut stream) = jetstream::new(client).get_stream(stream).await else { return 0 };
    stream.info().await.map(|info| info.state.messages).unwrap_or(0)
}

/// Deletes a test's stream from the shared server, so runs do not pile streams up there.
pub async fn delete_stream(url: &str, stream: &str) {
    let js = jetstream::new(async_nats::connect(url).await.unwrap());
    js.delete_stream(stream).await.unwrap();
}
