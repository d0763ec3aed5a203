//! Reads an audit stream written by `NatsSink` and verifies it: every message's `Nats-Msg-Id`
//! is the id in its body, its subject is `<prefix>.<event_type>`, its body is an audit event,
//! no event id appears twice, and each writer's hash chain is intact (no event changed,
//! missing, inserted or out of order; the stream has no checkpoints, so every chain is
//! reported as not yet signed). An event the server refused is not in the stream: the
//! set-aside marker the sink published in its place (`<prefix>.sink.set_aside`) carries its
//! link, and is reported as a notice. Exits 1 when a message or a chain fails a check.
//!
//! The optional fourth argument is the writers' verifying key (64 hex digits, as
//! `rail-security audit key` prints it): with it, a set-aside marker must carry the writer's
//! signature, so a marker put in the place of a deleted event is reported as forged.
//!
//! ```sh
//! cargo run -p rail-graphql-security --features nats --example nats_audit_consumer -- \
//!     nats://127.0.0.1:4222 AUDIT audit [VERIFYING_KEY]
//! ```

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use rail_graphql_security::audit::checkpoint;
use rail_graphql_security::audit::verify::{SetAside, Verifier, VerifyOptions};
use rail_graphql_security::audit::{
    AuditEvent, DEFAULT_NATS_STREAM, DEFAULT_NATS_SUBJECT_PREFIX, NATS_SET_ASIDE_SUBJECT_SUFFIX,
};

/// The body of a message on `<prefix>.sink.set_aside`.
#[derive(serde::Deserialize)]
struct Marker {
    set_aside: SetAside,
}

#[tokio::main]
async fn main() -> Result<(), async_nats::Error> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());
    let stream_name = args.next().unwrap_or_else(|| DEFAULT_NATS_STREAM.to_owned());
    let prefix = args.next().unwrap_or_else(|| DEFAULT_NATS_SUBJECT_PREFIX.to_owned());
    let key = args.next().map(|hex| checkpoint::parse_verifying_key(&hex)).transpose()?;

    let js = jetstream::new(async_nats::connect(url.as_str()).await?);
    let mut stream = js.get_stream(&stream_name).await?;
    let total = stream.info().await?.state.messages;
    // An ephemeral pull consumer from the first message; nothing to acknowledge.
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            deliver_policy: consumer::DeliverPolicy::All,
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await?;

    let (mut read, mut problems) = (0u64, 0u64);
    let mut seen = HashSet::new();
    let mut chains = Verifier::new(VerifyOptions { key, ..VerifyOptions::default() }, Vec::new(), Vec::new());
    while read < total {
        let mut batch = consumer.fetch().max_messages(1000).expires(Duration::from_secs(1)).messages().await?;
        let before = read;
        while let Some(message) = batch.next().await {
            let message = message?;
            read += 1;
            let message_id = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).map(|v| v.to_string());
            if message.subject.as_str() == format!("{prefix}.{NATS_SET_ASIDE_SUBJECT_SUFFIX}") {
                // The marker of an event the server refused: the chain goes on through it.
                let problem = match serde_json::from_slice::<Marker>(&message.payload) {
                    Err(e) => Some(format!("body is not a set-aside marker: {e}")),
                    Ok(Marker { set_aside }) if message_id != Some(format!("{}:set-aside", set_aside.id)) => {
                        Some(format!("Nats-Msg-Id {message_id:?} is not the marker's id"))
                    }
                    Ok(Marker { set_aside }) => {
                        chains.set_aside(set_aside);
                        None
                    }
                };
                if let Some(problem) = problem {
                    problems += 1;
                    eprintln!("message {read} ({}): {problem}", message.subject);
                }
                continue;
            }
            let problem = match serde_json::from_slice::<AuditEvent>(&message.payload) {
                Err(e) => Some(format!("body is not an audit event: {e}")),
                Ok(event) if message_id.as_deref() != Some(event.id.to_string().as_str()) => {
                    Some(format!("Nats-Msg-Id {message_id:?} is not the event id {}", event.id))
                }
                Ok(_) if !message.subject.starts_with(&format!("{prefix}.")) => {
                    Some(format!("subject {} is outside {prefix}.>", message.subject))
                }
                Ok(event) if !seen.insert(event.id) => Some(format!("event {} is in the stream twice", event.id)),
                Ok(event) => {
                    chains.event(event);
                    None
                }
            };
            if let Some(problem) = problem {
                problems += 1;
                eprintln!("message {read} ({}): {problem}", message.subject);
            }
        }
        if read == before {
            break;
        }
    }
    let report = chains.finish();
    for finding in &report.findings {
        eprintln!("chain: {finding}");
    }
    for notice in &report.notices {
        println!("chain: {notice}");
    }
    println!(
        "{stream_name}: {read} of {total} messages read, {} distinct events in {} chain(s), {problems} problems, {} chain finding(s)",
        seen.len(),
        report.chains,
        report.findings.len()
    );
    if problems > 0 || read < total || !report.intact() {
        std::process::exit(1);
    }
    Ok(())
}
